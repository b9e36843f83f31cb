//! `show-qr`: a PSBT file as a looping animated QR code on the framebuffer.

use std::time::Duration;

use anyhow::{Context, Result};
use sluice_shared::qr_animation::{animation_texts, AnimationSettings};

use crate::cli::ShowQrArgs;
use crate::framebuffer::{self, Geometry, ScreenFrames};
use crate::sd;

pub fn run(args: &ShowQrArgs) -> Result<()> {
    let settings = AnimationSettings {
        frames_per_second: args.qr_fps,
        max_fragment_len: args.qr_fragment_len,
        ..AnimationSettings::default()
    };
    settings.check()?;
    let (psbt, version) = sd::read_psbt_file(&args.input)?;
    let bytes = sluice_shared::psbt_v2::encode(&psbt, &version)
        .with_context(|| format!("encoding {} for QR", args.input.display()))?;
    let texts = animation_texts(&bytes, settings.max_fragment_len);
    let geometry = Geometry::from_sysfs(&framebuffer::sysfs_dir_of(&args.framebuffer))?;
    let frames = ScreenFrames::new(&texts, geometry)?;
    println!(
        "Showing {} as {} QR frame(s) at {} frames a second, up to {} bytes each, on {} ({}x{}, {} bits a pixel, {} pixels a module).",
        args.input.display(),
        texts.len(),
        settings.frames_per_second,
        settings.max_fragment_len,
        args.framebuffer.display(),
        geometry.width,
        geometry.height,
        geometry.bits_per_pixel,
        frames.module_px
    );
    println!("Press any key to stop.");
    let interval = Duration::from_secs(1) / u32::from(settings.frames_per_second);
    let shown = framebuffer::show_until_key(&args.framebuffer, &frames, interval)?;
    println!("Stopped after {shown} frames; the screen is blank.");
    Ok(())
}

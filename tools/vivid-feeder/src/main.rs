//! `sluice-vivid-feeder`: a test tool, never part of the appliance image. It makes the
//! kernel's virtual video test driver (vivid) act as a camera pointed at a screen showing
//! Sluice's QR codes: it writes the frames of an animated PSBT code (or one limit command's
//! code) to vivid's video *output* node and turns on vivid's "Loop Video" control, which
//! copies what is output into what the *capture* node delivers. The signer then reads the
//! capture node as it would read a USB webcam (`sluice-signer sign --in-qr-camera`).
//!
//! Frames are degraded the way a phone or webcam sees a screen: turned by a few degrees,
//! slightly blurred, noisy, and a share of the fountain parts never shown at all (dropped
//! frames), so the fountain decoder must complete from the parts that do arrive. After the
//! first pass the codes come in a new order each pass, as the appliance's own screen shows
//! them (`qr_animation::pass_order`).
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use image::{GrayImage, Luma};
use linuxvideo::format::{Format, PixFormat, PixelFormat};
use linuxvideo::stream::WriteStream;
use linuxvideo::{BufType, CapabilityFlags, Device};
use sluice_shared::camera_frames::{CameraPixelFormat, FrameLayout};
use sluice_shared::qr_animation::{pass_order, prime_at_or_above};
use sluice_shared::ur_psbt::PsbtUrEncoder;

#[derive(Debug, Parser)]
#[command(
    name = "sluice-vivid-feeder",
    about = "Shows QR codes on vivid's looped video output (tests only)"
)]
struct Args {
    /// vivid's video output node (e.g. /dev/video1).
    #[arg(long)]
    output: PathBuf,
    /// vivid's video capture node, whose "Loop Video" control is turned on (e.g. /dev/video0).
    #[arg(long)]
    capture: PathBuf,
    /// A PSBT file (binary or base64), shown as an animated fountain code.
    #[arg(long, conflicts_with = "text_file", required_unless_present = "text_file")]
    psbt: Option<PathBuf>,
    /// A file whose first line is shown as one QR code (e.g. a limit command).
    #[arg(long)]
    text_file: Option<PathBuf>,
    /// Bytes of PSBT per fountain part.
    #[arg(long, default_value_t = 60)]
    fragment_len: usize,
    /// Leave out every Nth fountain part (0: none), as frames a camera misses.
    #[arg(long, default_value_t = 3)]
    drop_every: usize,
    /// Output frames each code is held for.
    #[arg(long, default_value_t = 5)]
    hold: usize,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 300)]
    seconds: u64,
}

/// How often the feeder says how far it got.
const REPORT_EVERY: Duration = Duration::from_secs(20);

/// Sets vivid's "Loop Video" on and its on-screen text off (the text would be drawn over
/// the looped picture) on the capture node.
fn loop_output_into_capture(capture: &Path) -> Result<()> {
    let mut device = Device::open(capture)
        .with_context(|| format!("opening vivid's capture node {}", capture.display()))?;
    let mut found_loop = false;
    let mut wanted = Vec::new();
    for control in device.controls() {
        let control = control.with_context(|| format!("listing the controls of {}", capture.display()))?;
        match control.name() {
            "Loop Video" => {
                found_loop = true;
                wanted.push((control.id(), 1));
            }
            // Menu: All, Counters Only, None.
            "OSD Text Mode" => wanted.push((control.id(), 2)),
            _ => {}
        }
    }
    if !found_loop {
        bail!(
            "{} has no \"Loop Video\" control: it is not a vivid capture node",
            capture.display()
        );
    }
    for (id, value) in wanted {
        device
            .write_control_raw(id, value)
            .with_context(|| format!("setting control {id:?} of {}", capture.display()))?;
    }
    Ok(())
}

/// The texts to show, one loop of them.
fn texts(args: &Args) -> Result<Vec<String>> {
    if let Some(path) = &args.text_file {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let line = text.lines().next().unwrap_or_default().trim().to_owned();
        if line.is_empty() {
            bail!("{} is empty", path.display());
        }
        return Ok(vec![line]);
    }
    let Some(path) = &args.psbt else {
        bail!("give --psbt or --text-file");
    };
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let (psbt, version) = sluice_shared::sd_card::parse_psbt_versioned(&bytes, &path.display().to_string())?;
    let bytes = sluice_shared::psbt_v2::encode(&psbt, &version)?;
    let mut encoder = PsbtUrEncoder::new(&bytes, args.fragment_len);
    if encoder.is_single_part() {
        return Ok(encoder.parts(1));
    }
    // Pure parts first, then mixed ones, less the dropped: as many codes as the signer's own
    // animations loop (a prime number; see `animation_texts`), shown in `pass_order`.
    let count = prime_at_or_above(2 * encoder.seq_len());
    let mut shown = Vec::with_capacity(count);
    let mut made = 0usize;
    while shown.len() < count {
        let part = encoder.next_part();
        made += 1;
        if args.drop_every == 0 || made % args.drop_every != 0 {
            shown.push(part);
        }
    }
    Ok(shown)
}

/// `picture` turned by `degrees` about its centre (bilinear), on white, in a canvas large
/// enough for the turned corners.
fn rotated(picture: &GrayImage, degrees: f32) -> GrayImage {
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (w, h) = (picture.width() as f32, picture.height() as f32);
    let side = ((w * cos.abs() + h * sin.abs()).max(w * sin.abs() + h * cos.abs())).ceil() as u32;
    let (cx, cy, c) = (w / 2.0, h / 2.0, side as f32 / 2.0);
    GrayImage::from_fn(side, side, |x, y| {
        let (dx, dy) = (x as f32 + 0.5 - c, y as f32 + 0.5 - c);
        let (sx, sy) = (cos * dx + sin * dy + cx - 0.5, -sin * dx + cos * dy + cy - 0.5);
        let sample = |px: f32, py: f32| -> f32 {
            if px < 0.0 || py < 0.0 || px >= w || py >= h {
                255.0
            } else {
                f32::from(picture.get_pixel(px as u32, py as u32)[0])
            }
        };
        let (x0, y0) = (sx.floor(), sy.floor());
        let (fx, fy) = (sx - x0, sy - y0);
        let top = sample(x0, y0) * (1.0 - fx) + sample(x0 + 1.0, y0) * fx;
        let bottom = sample(x0, y0 + 1.0) * (1.0 - fx) + sample(x0 + 1.0, y0 + 1.0) * fx;
        Luma([(top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8])
    })
}

/// A code as a camera sees a screen: turned a few degrees, blurred a little, with noise and
/// a grey-ish white.
fn degraded(text: &str, fit: u32, seed: u32) -> Result<GrayImage> {
    let modules = sluice_shared::qr::modules(text)?.0 as u32 + 2 * sluice_shared::qr::QUIET_ZONE;
    let module_px = (fit * 8 / 10 / modules).clamp(2, 8);
    let code = sluice_shared::qr::render_image(text, module_px)?;
    let degrees = if seed % 2 == 0 { 3.0 } else { -2.0 };
    let mut picture = image::imageops::blur(&rotated(&code, degrees), 0.7);
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    for px in picture.pixels_mut() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let noise = (state % 25) as i16 - 12;
        px.0[0] = (i16::from(px.0[0]) * 13 / 16 + 24 + noise).clamp(0, 255) as u8;
    }
    Ok(picture)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let texts = texts(&args)?;
    loop_output_into_capture(&args.capture)?;

    let device = Device::open(&args.output)
        .with_context(|| format!("opening vivid's output node {}", args.output.display()))?;
    let caps = device.capabilities()?.device_capabilities();
    if !caps.contains(CapabilityFlags::VIDEO_OUTPUT) || !caps.contains(CapabilityFlags::READWRITE) {
        bail!(
            "{} is not a video output node with write() I/O",
            args.output.display()
        );
    }
    let (width, height) = match device.format(BufType::VIDEO_OUTPUT)? {
        Format::VideoOutput(f) => (f.width(), f.height()),
        _ => bail!("{} reports no video output format", args.output.display()),
    };
    let yuyv = CameraPixelFormat::Yuyv;
    let output = device.video_output(PixFormat::new(
        width,
        height,
        PixelFormat::from_fourcc(yuyv.fourcc()),
    ))?;
    let settled = output.format();
    if settled.pixel_format().as_fourcc() != yuyv.fourcc() {
        bail!("{} does not take YUYV frames", args.output.display());
    }
    let layout = FrameLayout {
        format: yuyv,
        width: settled.width(),
        height: settled.height(),
        bytes_per_line: settled.bytes_per_line(),
    };
    let size = settled.size_image() as usize;
    let frames = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let picture = degraded(text, layout.width.min(layout.height), i as u32 + 1)?;
            let mut frame = layout.from_luma(&picture)?;
            frame.resize(size.max(frame.len()), 128);
            Ok(frame)
        })
        .collect::<Result<Vec<_>>>()?;
    // A blank (white) frame shows first, so the capture side starts on no code at all.
    let blank = {
        let mut frame = layout.from_luma(&GrayImage::from_pixel(1, 1, Luma([255])))?;
        frame.resize(size.max(frame.len()), 128);
        frame
    };
    println!(
        "vivid feeder: {} codes on {} ({}x{} YUYV, {} bytes a line, {size} bytes a frame, {:?}), looped into {}",
        frames.len(),
        args.output.display(),
        layout.width,
        layout.height,
        layout.bytes_per_line,
        output.format(),
        args.capture.display()
    );
    std::io::stdout().flush()?;
    // Streaming I/O (memory-mapped buffers): write() to vivid's output node fails with
    // EINVAL on Debian's 6.1 kernel.
    let mut stream = output.into_stream().context("starting the output stream")?;
    show(&mut stream, &blank)?;
    show(&mut stream, &blank)?;
    stream.stream_on().context("starting the output stream")?;
    let started = Instant::now();
    let stop = started + Duration::from_secs(args.seconds);
    let mut report = started + REPORT_EVERY;
    let (mut queued, mut codes_shown) = (0u64, 0u64);
    let mut pass = 0u64;
    while Instant::now() < stop {
        // In order, then a new order each pass, as the appliance's screen shows a loop:
        // the guest's scanner takes about the same time for every frame, and kept step
        // with a loop replayed in one order (12 different parts in 119 codes read over
        // 200 s).
        for i in pass_order(frames.len(), pass) {
            let frame = &frames[i];
            for _ in 0..args.hold.max(1) {
                show(&mut stream, frame)?;
                queued += 1;
            }
            codes_shown += 1;
            // How fast the picture really changes (in an emulator the output may crawl).
            if frames.len() > 1 && Instant::now() >= report {
                println!(
                    "vivid feeder: {codes_shown} codes shown, {queued} frames queued in {:.0?}",
                    started.elapsed()
                );
                std::io::stdout().flush()?;
                report += REPORT_EVERY;
            }
        }
        pass += 1;
    }
    Ok(())
}

/// Queues `frame` on the output node (cut to the buffer's size).
fn show(stream: &mut WriteStream, frame: &[u8]) -> Result<()> {
    stream
        .enqueue(|mut buf| {
            let n = frame.len().min(buf.len());
            buf[..n].copy_from_slice(&frame[..n]);
            Ok(())
        })
        .context("queueing a frame on the output node")
}

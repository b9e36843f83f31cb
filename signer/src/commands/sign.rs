//! `inspect` and `sign`: read a PSBT and print its review; for `sign`, then confirm,
//! unlock, and write what [`crate::pipeline`] signed. The decisions are all there.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use bitcoin::psbt::Psbt;
use sluice_shared::psbt_v2::PsbtVersion;

use crate::cli::{PsbtInput, SignArgs};
use crate::home::Home;
use crate::pipeline::{self, Decided, Rule};
use crate::review::{self, Decision};
use crate::state::State;
use crate::{keys, passphrase, qr_io, sd};
use sluice_shared::qr_animation::AnimationSettings;

/// The PSBT and the version it came in (0 or 2), which the signed PSBT is written in.
fn read_psbt(input: &PsbtInput) -> Result<(Psbt, PsbtVersion)> {
    Ok(match (&input.input, &input.in_qr_video, &input.in_qr_camera) {
        (Some(path), _, _) => sd::read_psbt_file(path)?,
        (None, Some(video), _) => qr_io::read_psbt_video(video)?,
        (None, None, Some(device)) => {
            qr_io::read_psbt_camera(device, crate::camera::ScanBounds::seconds(input.camera_seconds))?
        }
        (None, None, None) => qr_io::read_psbt_images(&input.in_qr)?,
    })
}

/// Reviews and prints; returns what the signer would decide.
fn review_and_print(state: &mut State, psbt: Psbt, wanted: Option<&str>) -> Result<Decided> {
    let decided = pipeline::decide(state, psbt, wanted)?;
    print!(
        "{}",
        review::render(
            decided.plan.review(),
            &decided.wallet.name,
            decided.wallet.descriptor.kind(),
            &decided.limits.limiter,
            &decided.decision
        )
    );
    Ok(decided)
}

pub fn inspect(home: &Home, input: &PsbtInput) -> Result<()> {
    home.require_initialized()?;
    let (psbt, _) = read_psbt(input)?;
    let mut state = State::open(&home.state())?;
    review_and_print(&mut state, psbt, input.wallet.as_deref())?;
    Ok(())
}

fn confirm() -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("refusing to sign without confirmation: there is no terminal to ask on; review with `inspect`, then pass --yes");
    }
    print!("Sign? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES"))
}

/// Where the signed PSBT goes, decided before anything is reserved.
enum Destination {
    File(PathBuf),
    Qr(PathBuf),
    Animation(PathBuf, AnimationSettings),
}

fn destination(args: &SignArgs) -> Result<Destination> {
    if let Some(path) = &args.out_qr_animation {
        let settings = AnimationSettings {
            frames_per_second: args.qr_fps,
            max_fragment_len: args.qr_fragment_len,
            ..AnimationSettings::default()
        };
        // Checked before anything is reserved or signed.
        settings.check()?;
        return Ok(Destination::Animation(path.clone(), settings));
    }
    match (&args.out_qr, &args.out, &args.psbt.input) {
        (Some(dir), _, _) => Ok(Destination::Qr(dir.clone())),
        (None, Some(path), _) => Ok(Destination::File(path.clone())),
        (None, None, Some(input)) => Ok(Destination::File(sd::default_signed_path(input))),
        (None, None, None) => bail!("give --out FILE or --out-qr DIR for the signed PSBT"),
    }
}

fn write_output(destination: &Destination, signed: &Psbt, version: &PsbtVersion) -> Result<String> {
    Ok(match destination {
        Destination::Qr(dir) => {
            let frames = qr_io::write_psbt_frames(dir, signed, version)?;
            println!(
                "Signed PSBT written as {} QR frame(s) in {}: show them to the online machine in order{}.",
                frames.len(),
                dir.display(),
                if frames.len() > 1 { ", looping" } else { "" }
            );
            dir.display().to_string()
        }
        Destination::Animation(path, settings) => {
            let frames = qr_io::write_psbt_animation(path, signed, version, settings)?;
            println!(
                "Signed PSBT written as an animated QR code of {frames} frame(s) at {} a second to {}: play it in a loop for the online machine's camera.",
                settings.frames_per_second,
                path.display()
            );
            path.display().to_string()
        }
        Destination::File(path) => {
            sd::write_psbt_file(path, signed, version)?;
            println!("Signed PSBT written to {}", path.display());
            path.display().to_string()
        }
    })
}

pub fn sign(home: &Home, passphrase_file: Option<&Path>, args: &SignArgs) -> Result<()> {
    home.require_initialized()?;
    let destination = destination(args)?;
    let (psbt, version) = read_psbt(&args.psbt)?;
    let mut state = State::open(&home.state())?;
    let Decided {
        wallet,
        plan,
        decision,
        ..
    } = review_and_print(&mut state, psbt, args.psbt.wallet.as_deref())?;
    if let Decision::Refused(reason) = decision {
        let txid = plan.review().txid().to_string();
        return Err(
            pipeline::refuse(&mut state, &txid, &wallet.name, Rule::Limits, reason.to_string())?.into(),
        );
    }
    if !args.yes && !confirm()? {
        bail!("not signed: the operator declined");
    }
    // Unlock before reserving, so a mistyped passphrase consumes no allowance.
    let keys = keys::unlock(home, &passphrase::read(passphrase_file, false)?)?;
    let signed = pipeline::reserve_and_sign(&mut state, &keys, plan)?;
    drop(keys);
    if !signed.newly_reserved {
        println!("This transaction was reserved before; signing it again consumes no further allowance.");
    }
    let written_to = match write_output(&destination, &signed.psbt, &version) {
        Ok(place) => place,
        Err(error) => {
            // The reservation stands (fail closed); signing the same PSBT again writes it
            // without consuming more allowance.
            pipeline::journal_output_failed(&mut state, &signed, &wallet.name, &format!("{error:#}"))?;
            return Err(error.context("signed, but the signed PSBT could not be written; sign the same PSBT again to write it (the allowance is not consumed twice)"));
        }
    };
    pipeline::journal_signed(&mut state, &signed, &wallet.name, &written_to)?;
    Ok(())
}

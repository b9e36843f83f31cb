//! Sluice's BC-UR fountain code against an independent implementation, @ngraveio/bc-ur
//! (npm, pinned in tools/bc-ur-interop/package-lock.json, run by tools/bc-ur-interop/
//! interop.js under Node): its parts, dropped and shuffled at random, complete Sluice's
//! decoder whenever they complete its own; Sluice's parts are the same text as its parts
//! and decode there byte for byte.
//!
//! Needs `tools/bc-ur-interop/install.sh` (npm ci) to have run; fails, never skips, when
//! Node or the package is missing (`.ci/run` installs it).
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use bitcoin::absolute::LockTime;
use bitcoin::Amount;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use sluice_shared::descriptor::Branch;
use sluice_shared::psbt_builder::{build_psbt, fake_coins};
use sluice_shared::ur_psbt::{PsbtPartDecoder, PsbtUrEncoder};

fn interop_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tools/bc-ur-interop"))
}

/// Runs interop.js with one JSON request.
fn ngraveio(request: &Value) -> Value {
    let dir = interop_dir();
    assert!(
        dir.join("node_modules/@ngraveio/bc-ur").is_dir(),
        "@ngraveio/bc-ur is not installed: run tools/bc-ur-interop/install.sh (npm ci) first"
    );
    let mut child = Command::new("node")
        .arg(dir.join("interop.js"))
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running node (Node.js 20 is needed for this test): {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "interop.js failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn ngraveio_parts(psbt: &[u8], max_fragment_len: usize, count: usize) -> Vec<String> {
    let answer = ngraveio(&json!({
        "op": "encode",
        "psbt_hex": hex::encode(psbt),
        "max_fragment_len": max_fragment_len,
        "count": count,
    }));
    serde_json::from_value(answer["parts"].clone()).unwrap()
}

/// For each case: `Some(psbt)` when @ngraveio/bc-ur's decoder completes on those parts
/// in that order.
fn ngraveio_decode(cases: &[Vec<String>]) -> Vec<Option<Vec<u8>>> {
    let answer = ngraveio(&json!({ "op": "decode", "cases": cases }));
    answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["complete"]
                .as_bool()
                .unwrap()
                .then(|| hex::decode(r["psbt_hex"].as_str().unwrap()).unwrap())
        })
        .collect()
}

/// Sluice's decoder on parts in order: the PSBT once complete. Every part must be
/// accepted (all come from one honest encoder).
fn sluice_decode(parts: &[String]) -> Option<Vec<u8>> {
    let mut decoder = PsbtPartDecoder::new();
    for part in parts {
        decoder.receive(part).unwrap();
    }
    decoder.psbt_bytes().ok()
}

/// The `ur` 0.5.2 crate's decoder, which Sluice used before: complete or not.
fn ur_crate_completes(parts: &[String]) -> bool {
    let mut decoder = ur::Decoder::default();
    for part in parts {
        if decoder.receive(&part.to_ascii_lowercase()).is_err() {
            return false;
        }
        if decoder.complete() {
            return true;
        }
    }
    false
}

fn big_psbt(inputs: u32) -> Vec<u8> {
    let fx = common::fixtures();
    let wallet = common::wallet(&fx, "wsh_2of3");
    let coins = fake_coins(&wallet, inputs, Amount::from_sat(100_000), 0).unwrap();
    let payee = wallet.script_pubkey(Branch::Receive, 9999).unwrap();
    build_psbt(
        &wallet,
        &coins,
        &[(payee, Amount::from_sat(50_000 * u64::from(inputs)))],
        Some((0, Amount::from_sat(40_000 * u64::from(inputs)))),
        LockTime::ZERO,
    )
    .unwrap()
    .serialize()
}

fn wpkh_psbt() -> Vec<u8> {
    let fx = common::fixtures();
    common::psbt(&fx, "wpkh_single", "unsigned_psbt").serialize()
}

/// Issue 13's smallest failing case: the `ur` crate said "incomplete" on parts 1, 2, 6
/// and 13 of the wpkh fixture PSBT at 200-byte fragments, which determine the message.
#[test]
fn parts_1_2_6_13_of_the_wpkh_psbt_complete() {
    let psbt = wpkh_psbt();
    let all = ngraveio_parts(&psbt, 200, 13);
    let chosen: Vec<String> = [1, 2, 6, 13].iter().map(|n| all[n - 1].clone()).collect();
    assert!(chosen[2].starts_with("ur:crypto-psbt/6-"), "{}", chosen[2]);

    assert_eq!(
        ngraveio_decode(std::slice::from_ref(&chosen)),
        vec![Some(psbt.clone())]
    );
    assert!(
        !ur_crate_completes(&chosen),
        "the ur crate's decoder was expected to fail here (issue 13)"
    );
    assert_eq!(sluice_decode(&chosen), Some(psbt.clone()));
    // Any order.
    let mut reversed = chosen.clone();
    reversed.reverse();
    assert_eq!(sluice_decode(&reversed), Some(psbt));
}

/// Sluice's encoder makes the same parts as @ngraveio/bc-ur's (pure and mixed), and
/// @ngraveio/bc-ur decodes them to the same bytes.
#[test]
fn sluice_parts_are_ngraveio_parts_and_decode_there() {
    for (psbt, max_fragment_len) in [(wpkh_psbt(), 200), (big_psbt(12), 200), (big_psbt(12), 57)] {
        let mut encoder = PsbtUrEncoder::new(&psbt, max_fragment_len);
        let count = 3 * encoder.seq_len();
        let ours = encoder.parts(count);
        let theirs = ngraveio_parts(&psbt, max_fragment_len, count);
        assert_eq!(
            ours.iter().map(|p| p.to_ascii_lowercase()).collect::<Vec<_>>(),
            theirs,
            "{} bytes at {max_fragment_len}-byte fragments",
            psbt.len()
        );
        let seq_len = encoder.seq_len();
        let pure_only = ours[..seq_len].to_vec();
        let mixed_only = ours[seq_len..].to_vec();
        let decoded = ngraveio_decode(&[pure_only, mixed_only.clone()]);
        assert_eq!(decoded[0], Some(psbt.clone()), "pure parts");
        if let Some(bytes) = &decoded[1] {
            assert_eq!(bytes, &psbt, "mixed parts");
        }
        if decoded[1].is_some() {
            assert_eq!(sluice_decode(&mixed_only), Some(psbt.clone()), "mixed parts");
        }
    }
}

/// Random subsets of @ngraveio/bc-ur's parts (a third dropped, shuffled or in order):
/// whenever its decoder completes, Sluice's does, with the same PSBT.
#[test]
fn random_drops_complete_whenever_ngraveio_completes() {
    const CASES: usize = 100;
    let mut rng = StdRng::seed_from_u64(13);
    // @ngraveio/bc-ur's decoder is slow on many fragments (a minute for 120 sets of a
    // 166-fragment message), so the largest PSBT runs at the larger fragment sizes only.
    let configs = [
        (wpkh_psbt(), 60usize),
        (wpkh_psbt(), 120),
        (wpkh_psbt(), 200),
        (big_psbt(6), 60),
        (big_psbt(6), 120),
        (big_psbt(6), 200),
        (big_psbt(20), 200),
    ];
    let mut report = Vec::new();
    for (psbt, max_fragment_len) in &configs {
        let (psbt, max_fragment_len) = (psbt, *max_fragment_len);
        {
            let seq_len = PsbtUrEncoder::new(psbt, max_fragment_len).seq_len();
            let parts = ngraveio_parts(psbt, max_fragment_len, 4 * seq_len + 4);
            let cases: Vec<Vec<String>> = (0..CASES)
                .map(|_| {
                    let shown = rng.gen_range(seq_len..=parts.len());
                    let mut case: Vec<String> = parts[..shown]
                        .iter()
                        .filter(|_| rng.gen_ratio(2, 3))
                        .cloned()
                        .collect();
                    if rng.gen_bool(0.5) {
                        case.shuffle(&mut rng);
                    }
                    case
                })
                .collect();
            let theirs = ngraveio_decode(&cases);
            let (mut both, mut only_ours, mut ur_crate) = (0, 0, 0);
            for (case, their_result) in cases.iter().zip(&theirs) {
                let ours = sluice_decode(case);
                if let Some(bytes) = &ours {
                    assert_eq!(bytes, psbt, "Sluice completed with the wrong bytes");
                }
                match (their_result, &ours) {
                    (Some(bytes), Some(_)) => {
                        assert_eq!(bytes, psbt);
                        both += 1;
                    }
                    (Some(_), None) => panic!(
                        "@ngraveio/bc-ur completed but Sluice did not ({} bytes, \
                         {max_fragment_len}-byte fragments, parts {:?})",
                        psbt.len(),
                        case.iter()
                            .map(|p| p.split('/').nth(1).unwrap_or_default().to_owned())
                            .collect::<Vec<_>>()
                    ),
                    (None, Some(_)) => only_ours += 1,
                    (None, None) => {}
                }
                if their_result.is_some() && ur_crate_completes(case) {
                    ur_crate += 1;
                }
            }
            report.push(format!(
                "{} bytes, {max_fragment_len}-byte fragments ({seq_len} fragments): both \
                 complete {both}/{CASES}, only Sluice {only_ours}, ur 0.5.2 {ur_crate}",
                psbt.len()
            ));
        }
    }
    eprintln!("{}", report.join("\n"));
}

/// A camera's video (scaled, turned, blurred, noisy, a third of the frames dropped) of an
/// animation of @ngraveio/bc-ur's parts: Sluice's video reader and decoder complete.
#[test]
fn a_camera_video_of_ngraveio_frames_completes_despite_dropped_frames() {
    use sluice_shared::qr_animation::{encode_apng, AnimationSettings};
    use sluice_shared::video_frames::frames;

    let psbt = big_psbt(6);
    let settings = AnimationSettings::default();
    let seq_len = PsbtUrEncoder::new(&psbt, settings.max_fragment_len).seq_len();
    let theirs: Vec<String> = ngraveio_parts(&psbt, settings.max_fragment_len, 2 * seq_len)
        .iter()
        .map(|p| p.to_ascii_uppercase())
        .collect();
    let loop_frames = frames(&encode_apng(&theirs, &settings).unwrap()).unwrap();
    let mut rng = StdRng::seed_from_u64(21);
    let (mut seen, mut dropped) = (Vec::new(), 0);
    for frame in loop_frames.iter().chain(&loop_frames) {
        if rng.gen_ratio(1, 3) {
            dropped += 1;
        } else {
            seen.push(common::camera::degrade(frame, &mut rng));
        }
    }
    let video = common::camera::y4m(&seen);
    let mut decoder = PsbtPartDecoder::new();
    for frame in frames(&video).unwrap() {
        for text in sluice_shared::qr_scan::scan(&frame).unwrap_or_default() {
            decoder.receive(&text).unwrap();
        }
        if decoder.is_complete() {
            break;
        }
    }
    assert!(dropped > 0);
    assert_eq!(
        decoder.psbt_bytes().unwrap(),
        psbt,
        "{dropped} of {} frames dropped",
        2 * loop_frames.len()
    );
}

//! How many frames of animated QR move a 100-input PSBT at the default settings, and how
//! many a camera may miss: a simulation of the fountain code (no rendering, no camera),
//! for docs/benchmarks.md.
//!
//! `cargo run --release -p sluice-shared --example qr_transfer [FIXTURES.json]`
#![allow(clippy::unwrap_used)] // a measurement tool: a panic is a failure report

use bitcoin::absolute::LockTime;
use bitcoin::Amount;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sluice_shared::descriptor::{Branch, WalletDescriptor};
use sluice_shared::psbt_builder::{build_psbt, fake_coins};
use sluice_shared::qr::{version_for, EcLevel};
use sluice_shared::qr_animation::{animation_texts, AnimationSettings};
use sluice_shared::ur_psbt::{PsbtPartDecoder, PsbtUrEncoder};

const TRIALS: usize = 200;

fn psbt(fixtures: &serde_json::Value, wallet: &str, inputs: u32) -> Vec<u8> {
    let w = &fixtures["wallets"][wallet];
    let wallet = WalletDescriptor::parse(
        w["descriptor_receive"].as_str().unwrap(),
        Some(w["descriptor_change"].as_str().unwrap()),
    )
    .unwrap();
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

/// Frames shown until the decoder completes, each missed with probability `drop`.
fn frames_until_complete(stream: &mut dyn FnMut(usize) -> String, drop: f64, rng: &mut StdRng) -> usize {
    let mut decoder = PsbtPartDecoder::new();
    for shown in 1.. {
        let text = stream(shown - 1);
        if !rng.gen_bool(drop) {
            decoder.receive(&text).unwrap();
            if decoder.is_complete() {
                return shown;
            }
        }
        assert!(shown < 1_000_000, "no completion");
    }
    unreachable!()
}

fn percentile(sorted: &[usize], p: f64) -> usize {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/fixtures/bitcoin-core/psbt_fixtures.json"
        )
        .to_owned()
    });
    let fixtures: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let settings = AnimationSettings::default();
    let fps = f64::from(settings.frames_per_second);
    println!(
        "settings: {} fps, {}-byte fragments; {TRIALS} trials per row; frames counted from the first shown",
        settings.frames_per_second, settings.max_fragment_len
    );
    for wallet in ["wpkh_single", "wsh_2of3"] {
        let bytes = psbt(&fixtures, wallet, 100);
        let texts = animation_texts(&bytes, settings.max_fragment_len);
        let seq_len = PsbtUrEncoder::new(&bytes, settings.max_fragment_len).seq_len();
        let version = version_for(&texts[0], EcLevel::M).unwrap();
        println!(
            "\n{wallet}, 100 inputs: {} bytes, {seq_len} fragments, QR version {version}; APNG loop {} frames ({:.1} s)",
            bytes.len(),
            texts.len(),
            texts.len() as f64 / fps
        );
        println!("| missed frames | stream | median frames (s) | 95th percentile frames (s) |");
        println!("|---|---|---|---|");
        for drop in [0.0, 0.1, 0.33, 0.5] {
            for stream_kind in ["APNG loop (pure + mixed)", "live (mixed without end)"] {
                let mut rng = StdRng::seed_from_u64(7);
                let mut counts: Vec<usize> = (0..TRIALS)
                    .map(|trial| {
                        let mut encoder = PsbtUrEncoder::new(&bytes, settings.max_fragment_len);
                        // Start anywhere in the loop, as a camera does.
                        let start = (trial * 7919) % texts.len();
                        let mut stream: Box<dyn FnMut(usize) -> String> = if stream_kind.starts_with("APNG") {
                            let texts = texts.clone();
                            Box::new(move |i| texts[(start + i) % texts.len()].clone())
                        } else {
                            for _ in 0..start {
                                encoder.next_part();
                            }
                            Box::new(move |_| encoder.next_part())
                        };
                        frames_until_complete(&mut stream, drop, &mut rng)
                    })
                    .collect();
                counts.sort_unstable();
                let (median, p95) = (percentile(&counts, 0.5), percentile(&counts, 0.95));
                println!(
                    "| {:.0} % | {stream_kind} | {median} ({:.1} s) | {p95} ({:.1} s) |",
                    drop * 100.0,
                    median as f64 / fps,
                    p95 as f64 / fps
                );
            }
        }
    }
}

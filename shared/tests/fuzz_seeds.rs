//! Replays the fuzz targets' seed corpus (`fuzz/seeds/`) on stable Rust, so CI runs the
//! same entry points `cargo fuzz` drives, and checks the corpus still holds inputs that
//! reach deep (valid commands, complete PSBTs, accepted PSBTs) for the fuzzer to mutate.
//!
//! `cargo test -p sluice-shared --test fuzz_seeds -- --ignored` regenerates the seeds this
//! file writes (`regenerate_seeds`).
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use std::path::{Path, PathBuf};
use std::str::FromStr;

use bitcoin::psbt::Psbt;
use bitcoin::Amount;
use sluice_shared::asset::Asset;
use sluice_shared::fuzz_entry::{self, FUZZ_NOW, FUZZ_SIGNER};
use sluice_shared::inspect::inspect_psbt;
use sluice_shared::limit_command::*;
use sluice_shared::limiter::RateLimit;
use sluice_shared::ur_psbt::PsbtPartDecoder;

fn seeds_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target)
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = seeds_dir(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "too few seeds in {}", dir.display());
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

#[test]
fn limit_command_seeds() {
    let mut valid = 0;
    for seed in seeds("limit_command_decode") {
        fuzz_entry::limit_command(&seed);
        let text = String::from_utf8_lossy(&seed);
        if verify(&text, fuzz_entry::fuzz_officers(), FUZZ_SIGNER, FUZZ_NOW).is_ok() {
            valid += 1;
        }
    }
    assert!(valid >= 2, "the corpus should hold commands that verify");
}

#[test]
fn ur_psbt_seeds() {
    let mut complete = 0;
    for seed in seeds("ur_psbt_decode") {
        fuzz_entry::ur_psbt(&seed);
        let mut decoder = PsbtPartDecoder::new();
        for line in String::from_utf8_lossy(&seed).lines() {
            let _ = decoder.receive(line);
        }
        complete += usize::from(decoder.psbt_bytes().is_ok());
    }
    assert!(complete >= 3, "the corpus should hold complete PSBTs");
}

#[test]
fn psbt_inspect_seeds() {
    let mut accepted = 0;
    for seed in seeds("psbt_inspect") {
        fuzz_entry::psbt_inspect(&seed);
        // And every truncation of it.
        for len in (0..seed.len()).step_by(7) {
            fuzz_entry::psbt_inspect(&seed[..len]);
        }
        if let Ok(psbt) = Psbt::deserialize(&seed) {
            let review = inspect_psbt(&psbt, fuzz_entry::fuzz_wallet(), &fuzz_entry::fuzz_policy());
            accepted += usize::from(review.is_ok());
        }
    }
    assert!(
        accepted >= 2,
        "the corpus should hold PSBTs the fixture wallet accepts"
    );
}

fn write_seed(target: &str, name: &str, data: &[u8]) {
    let dir = seeds_dir(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), data).unwrap();
}

#[test]
#[ignore = "writes fuzz/seeds/; run by hand to regenerate the corpus"]
fn regenerate_seeds() {
    let command = |action, not_after| {
        SignedLimitCommand::unsigned(LimitCommand {
            id: CommandId(*b"fuzz seed cmd id"),
            signer: FUZZ_SIGNER,
            asset: Asset::Btc,
            action,
            not_before: FUZZ_NOW - 86_400,
            not_after,
        })
    };
    let signed = |action, who: &[u8]| {
        let mut c = command(action, FUZZ_NOW + 86_400);
        for n in who {
            c.sign(&fuzz_entry::fuzz_officer(*n), [*n; 32]).unwrap();
        }
        c
    };
    let raise = LimitAction::RaiseTotal {
        amount: Amount::from_sat(1_000_000_000),
    };
    let rate = LimitAction::SetRate {
        rate: RateLimit {
            amount: Amount::from_sat(4_000_000),
            per: std::time::Duration::from_secs(60),
            burst: Amount::from_sat(100_000_000),
        },
    };
    let t = "limit_command_decode";
    let text = |c: SignedLimitCommand| c.encode_text().unwrap().into_bytes();
    write_seed(t, "raise_total_2of3.txt", &text(signed(raise, &[1, 2])));
    write_seed(t, "set_rate_2of3.txt", &text(signed(rate, &[3, 1])));
    write_seed(t, "pause_3of3.txt", &text(signed(LimitAction::Pause, &[1, 2, 3])));
    write_seed(t, "resume_1of3.txt", &text(signed(LimitAction::Resume, &[2])));
    write_seed(
        t,
        "raise_total_2of3.bin",
        &signed(raise, &[1, 2]).to_bytes().unwrap(),
    );
    write_seed(
        t,
        "unsigned.bin",
        &command(LimitAction::Pause, FUZZ_NOW).to_bytes().unwrap(),
    );

    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/bitcoin-core/psbt_fixtures.json"
    );
    let fx: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let w = &fx["wallets"]["wsh_2of3"];
    let psbt = |v: &serde_json::Value| Psbt::from_str(v.as_str().unwrap()).unwrap();
    let unsigned = psbt(&w["unsigned_psbt"]);
    write_seed("psbt_inspect", "wsh_2of3.psbt", &unsigned.serialize());
    write_seed(
        "psbt_inspect",
        "wsh_2of3_signed_by_a.psbt",
        &psbt(&w["partially_signed"]["A"]).serialize(),
    );
    write_seed(
        "psbt_inspect",
        "wsh_2of3_combined.psbt",
        &psbt(&w["combined_psbt"]).serialize(),
    );

    let t = "ur_psbt_decode";
    let parts = sluice_shared::ur_psbt::encode_parts(&unsigned.serialize(), 200);
    assert!(parts.len() > 1);
    write_seed(t, "multipart.txt", parts.join("\n").as_bytes());
    let single = sluice_shared::ur_psbt::encode_parts(&unsigned.serialize(), 4000);
    write_seed(t, "single_part.txt", single.join("\n").as_bytes());
    let mut shuffled = parts.clone();
    shuffled.reverse();
    shuffled.insert(1, parts[0].clone());
    write_seed(
        t,
        "multipart_reversed_with_duplicate.txt",
        shuffled.join("\n").as_bytes(),
    );
}

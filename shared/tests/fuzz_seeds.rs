//! Replays the fuzz seed corpus (`fuzz/seeds/TARGET/*`) through the fuzz targets' own
//! bodies on stable Rust, so CI exercises them without libFuzzer.
//!
//! `cargo test -p sluice-shared --test fuzz_seeds -- --ignored` regenerates the seeds.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod fuzz_bodies;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use bitcoin::psbt::Psbt;
use bitcoin::Amount;
use fuzz_bodies::*;
use sluice_shared::asset::Asset;
use sluice_shared::limit_command::*;
use sluice_shared::limiter::RateLimit;

fn seeds_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target)
}

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(seeds_dir(target))
        .unwrap_or_else(|e| panic!("fuzz/seeds/{target}: {e}"))
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert!(out.len() >= 3, "fuzz/seeds/{target} holds too few seeds");
    out
}

#[test]
fn limit_command_seeds_replay() {
    let mut verified = 0;
    for (name, data) in seeds("limit_command_decode") {
        limit_command_decode(&data);
        let text = String::from_utf8_lossy(&data);
        let officers = OfficerSet::new(
            (1..=3).map(|n| fuzz_officer(n).x_only_public_key().0).collect(),
            2,
        )
        .unwrap();
        if verify(&text, &officers, FUZZ_SIGNER, FUZZ_NOW).is_ok() {
            verified += 1;
        }
        println!("{name}: ok");
    }
    assert!(
        verified >= 2,
        "the corpus should hold valid commands for the fuzzer to mutate"
    );
}

#[test]
fn ur_psbt_seeds_replay() {
    let mut complete = 0;
    for (_, data) in seeds("ur_psbt_decode") {
        ur_psbt_decode(&data);
        let mut decoder = sluice_shared::ur_psbt::PsbtPartDecoder::new();
        for line in String::from_utf8_lossy(&data).lines() {
            let _ = decoder.receive(line);
        }
        if decoder.psbt_bytes().is_ok() {
            complete += 1;
        }
    }
    assert!(
        complete >= 3,
        "the corpus should hold complete PSBTs for the fuzzer to mutate"
    );
}

#[test]
fn psbt_inspect_seeds_replay() {
    let mut accepted = 0;
    for (_, data) in seeds("psbt_inspect") {
        psbt_inspect(&data);
        let psbt = Psbt::deserialize(&data);
        if let Ok(psbt) = psbt {
            let policy = sluice_shared::inspect::InspectionPolicy {
                network: bitcoin::Network::Regtest,
                max_fee: Amount::from_sat(100_000),
            };
            if sluice_shared::inspect::inspect_psbt(&psbt, fixture_wsh_wallet(), &policy).is_ok() {
                accepted += 1;
            }
        }
    }
    assert!(
        accepted >= 2,
        "the corpus should hold PSBTs the fixture wallet accepts"
    );
}

fn fixture_psbts() -> Vec<(&'static str, Psbt)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/bitcoin-core/psbt_fixtures.json"
    );
    let fx: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let w = &fx["wallets"]["wsh_2of3"];
    let get = |v: &serde_json::Value| Psbt::from_str(v.as_str().unwrap()).unwrap();
    vec![
        ("unsigned", get(&w["unsigned_psbt"])),
        ("signed_by_a", get(&w["partially_signed"]["A"])),
        ("combined", get(&w["combined_psbt"])),
    ]
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
            c.sign(&fuzz_officer(*n), [*n; 32]).unwrap();
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
    write_seed(
        t,
        "raise_total_2of3.txt",
        signed(raise, &[1, 2]).encode_text().unwrap().as_bytes(),
    );
    write_seed(
        t,
        "set_rate_2of3.txt",
        signed(rate, &[3, 1]).encode_text().unwrap().as_bytes(),
    );
    write_seed(
        t,
        "pause_3of3.txt",
        signed(LimitAction::Pause, &[1, 2, 3])
            .encode_text()
            .unwrap()
            .as_bytes(),
    );
    write_seed(
        t,
        "resume_1of3.txt",
        signed(LimitAction::Resume, &[2])
            .encode_text()
            .unwrap()
            .as_bytes(),
    );
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
    write_seed(
        t,
        "not_a_command.txt",
        b"UR:CRYPTO-PSBT/HDCXLKAHSSQZTPLRGYTOPRFMJYLKBSLYGYLTGWZSWZSPFE",
    );

    let psbts = fixture_psbts();
    for (name, psbt) in &psbts {
        write_seed(
            "psbt_inspect",
            &format!("wsh_2of3_{name}.psbt"),
            &psbt.serialize(),
        );
    }
    let unsigned = psbts[0].1.serialize();
    let t = "ur_psbt_decode";
    let parts = sluice_shared::ur_psbt::encode_parts(&unsigned, 200);
    assert!(parts.len() > 1);
    write_seed(t, "multipart.txt", parts.join("\n").as_bytes());
    let single = sluice_shared::ur_psbt::encode_parts(&unsigned, 4000);
    write_seed(t, "single_part.txt", single.join("\n").as_bytes());
    write_seed(t, "base64.txt", psbts[0].1.to_string().as_bytes());
    let mut shuffled = parts.clone();
    shuffled.reverse();
    shuffled.insert(1, parts[0].clone());
    write_seed(
        t,
        "multipart_reversed_with_duplicate.txt",
        shuffled.join("\n").as_bytes(),
    );
}

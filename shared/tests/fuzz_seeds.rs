//! Replays the fuzz targets' seed corpus (`fuzz/seeds/`) on stable Rust, so CI runs the
//! same entry points `cargo fuzz` drives.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use std::path::Path;

use sluice_shared::fuzz_entry;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

#[test]
fn limit_command_seeds() {
    for seed in seeds("limit_command_decode") {
        fuzz_entry::limit_command(&seed);
    }
}

#[test]
fn ur_psbt_seeds() {
    for seed in seeds("ur_psbt_decode") {
        fuzz_entry::ur_psbt(&seed);
    }
}

#[test]
fn psbt_inspect_seeds() {
    for seed in seeds("psbt_inspect") {
        fuzz_entry::psbt_inspect(&seed);
        // And every truncation of it.
        for len in (0..seed.len()).step_by(7) {
            fuzz_entry::psbt_inspect(&seed[..len]);
        }
    }
}

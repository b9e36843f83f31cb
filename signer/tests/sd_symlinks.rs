//! Writing to an SD card never follows a symlink someone planted there: an output
//! directory or an output file that is a symlink is refused, nothing is written through it.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

mod support;

use std::os::unix::fs::symlink;

use support::*;

fn signer_and_psbt(seed: u32) -> (TestSigner, std::path::PathBuf) {
    let fx = fixtures();
    let s = TestSigner::new();
    s.init_from_tprv(fx["keys"]["A"]["master_tprv"].as_str().unwrap(), &[]);
    let (r, c, wallet) = wpkh_wallet(&fx);
    s.register("hot", &r, &c);
    s.limits("1", "60", "1", "10");
    let path = s.path("w.psbt");
    write_psbt(
        &path,
        &make_psbt(&wallet, 1, btc("0.5"), btc("0.1"), btc("0.0001"), seed),
    );
    (s, path)
}

#[test]
fn an_output_directory_that_is_a_symlink_is_refused() {
    let (s, psbt) = signer_and_psbt(11);
    let victim = s.path("victim-dir");
    std::fs::create_dir(&victim).unwrap();
    let card = s.path("card");
    symlink(&victim, &card).unwrap();
    let err = s.fails(&[
        "sign",
        "--yes",
        "--in",
        psbt.to_str().unwrap(),
        "--out",
        card.join("w-signed.psbt").to_str().unwrap(),
    ]);
    assert!(err.contains("symlink"), "{err}");
    assert_eq!(std::fs::read_dir(&victim).unwrap().count(), 0);
}

#[test]
fn an_output_file_that_is_a_symlink_is_refused_and_left_alone() {
    let (s, psbt) = signer_and_psbt(12);
    let victim = s.path("victim.txt");
    std::fs::write(&victim, b"precious").unwrap();
    let out = s.path("w-signed.psbt");
    symlink(&victim, &out).unwrap();
    let err = s.fails(&[
        "sign",
        "--yes",
        "--in",
        psbt.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(err.contains("symlink"), "{err}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert!(out.symlink_metadata().unwrap().file_type().is_symlink());
}

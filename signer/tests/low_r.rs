//! Issue 14 item 3: every ECDSA signature the signer makes has a low R (its high bit
//! clear), as Bitcoin Core's and BDK's do, so a DER signature with its sighash byte takes
//! at most 71 bytes. Without grinding, half of all signatures need 72 bytes and a
//! 1,000-input transaction is about 0.2 % larger than Core's.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

mod support;

use bitcoin::psbt::Psbt;
use sluice_shared::descriptor::WalletDescriptor;
use support::*;

/// Signs a `inputs`-input PSBT of the fixture wallet `wallet` with fixture key A through
/// the real `sluice-signer sign` and returns the signed PSBT.
fn signed_by_a(wallet: &str, inputs: u32) -> Psbt {
    let fx = fixtures();
    let w = &fx["wallets"][wallet];
    let (r, c) = (
        w["descriptor_receive"].as_str().unwrap(),
        w["descriptor_change"].as_str().unwrap(),
    );
    let s = TestSigner::new();
    s.init_from_tprv(fx["keys"]["A"]["master_tprv"].as_str().unwrap(), &[]);
    s.register(wallet, r, c);
    s.limits("1", "60", "5", "10");
    let descriptor = WalletDescriptor::parse(r, Some(c)).unwrap();
    let psbt = make_psbt(&descriptor, inputs, btc("0.001"), btc("0.01"), btc("0.0005"), 14);
    let path = s.path("many.psbt");
    write_psbt(&path, &psbt);
    s.ok(&["sign", "--yes", "--in", path.to_str().unwrap()]);
    read_psbt(&s.path("many-signed.psbt"))
}

fn assert_every_signature_has_low_r(wallet: &str, psbt: &Psbt) {
    let mut count = 0;
    for (index, input) in psbt.inputs.iter().enumerate() {
        assert!(
            !input.partial_sigs.is_empty(),
            "{wallet}: input {index} is unsigned"
        );
        for sig in input.partial_sigs.values() {
            let r = &sig.signature.serialize_compact()[..32];
            assert!(
                r[0] & 0x80 == 0,
                "{wallet}: input {index} has a high R ({})",
                hex::encode(r)
            );
            let with_sighash = sig.to_vec().len();
            assert!(
                with_sighash <= 71,
                "{wallet}: input {index}'s signature takes {with_sighash} bytes"
            );
            count += 1;
        }
    }
    assert_eq!(count, psbt.inputs.len(), "{wallet}: one signature per input");
}

#[test]
fn every_wpkh_signature_has_a_low_r() {
    // 64 inputs: with ungrinded signatures the chance that all have a low R is 2^-64.
    let psbt = signed_by_a("wpkh_single", 64);
    assert_every_signature_has_low_r("wpkh", &psbt);
}

#[test]
fn every_wsh_multisig_signature_has_a_low_r() {
    let psbt = signed_by_a("wsh_2of3", 64);
    assert_every_signature_has_low_r("wsh 2-of-3", &psbt);
}

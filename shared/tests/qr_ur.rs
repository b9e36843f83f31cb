//! PSBTs through animated QR: encode as ur:crypto-psbt frames, render each to PNG,
//! read the images back in any order with repeats, and get the same bytes.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

mod common;

use bitcoin::absolute::LockTime;
use bitcoin::Amount;
use sluice_shared::descriptor::Branch;
use sluice_shared::inspect::{inspect_psbt, Refusal};
use sluice_shared::psbt_builder::{build_psbt, fake_coins};
use sluice_shared::qr::{decode_image_bytes, render_png, version_for, EcLevel};
use sluice_shared::ur_psbt::{encode_parts, PsbtPartDecoder, UrError, DEFAULT_MAX_FRAGMENT_LEN};

fn big_psbt(inputs: u32) -> Vec<u8> {
    let fx = common::fixtures();
    let wallet = common::wallet(&fx, "wsh_2of3");
    let coins = fake_coins(&wallet, inputs, Amount::from_sat(100_000), 0).unwrap();
    let payee = wallet.script_pubkey(Branch::Receive, 9999).unwrap();
    let psbt = build_psbt(
        &wallet,
        &coins,
        &[(payee, Amount::from_sat(50_000 * u64::from(inputs)))],
        Some((0, Amount::from_sat(40_000 * u64::from(inputs)))),
        LockTime::ZERO,
    )
    .unwrap();
    psbt.serialize()
}

#[test]
fn a_large_psbt_survives_animated_qr_in_any_order() {
    let bytes = big_psbt(20);
    let parts = encode_parts(&bytes, DEFAULT_MAX_FRAGMENT_LEN);
    assert!(parts.len() > 5, "{} parts", parts.len());
    for part in &parts {
        assert!(
            version_for(part, EcLevel::M).unwrap() <= 15,
            "frames stay webcam-sized"
        );
    }
    let images: Vec<Vec<u8>> = parts.iter().map(|p| render_png(p, 3).unwrap()).collect();
    // Reverse order, every frame twice, as a camera sees a looping animation.
    let mut decoder = PsbtPartDecoder::new();
    for img in images.iter().rev().chain(images.iter().rev()) {
        for text in decode_image_bytes(img).unwrap() {
            decoder.receive(&text).unwrap();
        }
    }
    assert!(decoder.is_complete());
    assert_eq!(decoder.psbt_bytes().unwrap(), bytes);
}

#[test]
fn incomplete_and_mixed_scans_are_reported() {
    let a = encode_parts(&big_psbt(10), DEFAULT_MAX_FRAGMENT_LEN);
    let b = encode_parts(&big_psbt(11), DEFAULT_MAX_FRAGMENT_LEN);
    let mut decoder = PsbtPartDecoder::new();
    decoder.receive(&a[0]).unwrap();
    assert!(matches!(decoder.psbt_bytes(), Err(UrError::Incomplete { .. })));
    assert!(
        decoder.receive(&b[1]).is_err(),
        "a frame of another PSBT is refused"
    );
    assert!(matches!(
        PsbtPartDecoder::new().receive("hello"),
        Err(UrError::NotPsbt(_))
    ));
    assert!(matches!(
        PsbtPartDecoder::new().receive("ur:bytes/iehsjyhspmwfwfia"),
        Err(UrError::NotPsbt(_))
    ));
}

#[test]
fn small_psbts_are_one_frame_and_base64_is_accepted() {
    let fx = common::fixtures();
    let text = fx["wallets"]["wpkh_single"]["unsigned_psbt"].as_str().unwrap();
    let bytes = common::psbt(&fx, "wpkh_single", "unsigned_psbt").serialize();
    let parts = encode_parts(&bytes, 2_000);
    assert_eq!(parts.len(), 1);
    assert!(parts[0].starts_with("UR:CRYPTO-PSBT/"));
    let mut d = PsbtPartDecoder::new();
    d.receive(&parts[0]).unwrap();
    assert_eq!(d.psbt_bytes().unwrap(), bytes);
    let mut d = PsbtPartDecoder::new();
    d.receive(text).unwrap();
    assert_eq!(d.psbt_bytes().unwrap(), bytes);
}

/// What Sparrow shows as QR for a segwit v0 wallet: a PSBT without `non_witness_utxo`,
/// as `ur:psbt` (the newer type name). The QR path reads it; inspection still refuses it
/// (the fee attack), and the refusal tells the operator what to do instead.
#[test]
fn a_sparrow_style_psbt_without_previous_transactions_is_read_but_refused() {
    let fx = common::fixtures();
    let mut psbt = common::psbt(&fx, "wpkh_single", "unsigned_psbt");
    for input in &mut psbt.inputs {
        input.non_witness_utxo = None;
    }
    let bytes = psbt.serialize();
    let mut decoder = PsbtPartDecoder::new();
    for part in encode_parts(&bytes, 100) {
        let renamed = part.replacen("UR:CRYPTO-PSBT/", "UR:PSBT/", 1);
        decoder.receive(&renamed).unwrap();
    }
    assert_eq!(decoder.psbt_bytes().unwrap(), bytes);

    let refusal = inspect_psbt(&psbt, &common::wallet(&fx, "wpkh_single"), &common::policy()).unwrap_err();
    assert_eq!(refusal, Refusal::MissingNonWitnessUtxo { index: 0 });
    let message = refusal.to_string();
    assert!(message.contains("Do not sign"), "{message}");
    assert!(
        message.contains("include the full previous transactions"),
        "{message}"
    );
}

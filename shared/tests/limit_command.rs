//! Limit commands: every bad command is refused with its reason; a 2-of-3 raise-total
//! fits a small QR code.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use std::time::Duration;

use bitcoin::secp256k1::{Keypair, Secp256k1, SecretKey};
use bitcoin::Amount;
use proptest::prelude::*;
use sluice_shared::asset::Asset;
use sluice_shared::identity::SignerId;
use sluice_shared::limit_command::*;
use sluice_shared::limiter::RateLimit;
use sluice_shared::qr::{version_for, EcLevel};

const NOW: i64 = 1_800_000_000;
const ME: SignerId = SignerId([7; 8]);

fn officer(n: u8) -> Keypair {
    Keypair::from_secret_key(&Secp256k1::new(), &SecretKey::from_slice(&[n; 32]).unwrap())
}

fn officers() -> OfficerSet {
    OfficerSet {
        keys: (1..=3).map(|n| officer(n).x_only_public_key().0).collect(),
        threshold: 2,
    }
}

fn command(action: LimitAction) -> SignedLimitCommand {
    SignedLimitCommand::unsigned(LimitCommand {
        id: CommandId([42; 16]),
        signer: ME,
        asset: Asset::Btc,
        action,
        not_before: NOW - 3600,
        not_after: NOW + 86_400,
    })
}

fn raise() -> LimitAction {
    LimitAction::RaiseTotal {
        amount: Amount::from_btc(10.0).unwrap(),
    }
}

fn signed_by(mut cmd: SignedLimitCommand, who: &[u8]) -> String {
    for n in who {
        cmd.sign(&officer(*n), [*n; 32]).unwrap();
    }
    cmd.encode_text().unwrap()
}

#[test]
fn a_two_of_three_command_verifies_and_round_trips() {
    for action in [
        raise(),
        LimitAction::SetRate {
            rate: RateLimit {
                amount: Amount::from_btc(0.04).unwrap(),
                per: Duration::from_secs(60),
                burst: Amount::from_btc(1.0).unwrap(),
            },
        },
        LimitAction::Pause,
        LimitAction::Resume,
    ] {
        let text = signed_by(command(action), &[1, 3]);
        let verified = verify(&text, &officers(), ME, NOW).unwrap();
        assert_eq!(verified.command().action, action);
        assert_eq!(verified.signed_by().len(), 2);
        assert_eq!(
            decode_text(&text.to_lowercase()).unwrap().encode_text().unwrap(),
            text
        );
    }
}

#[test]
fn a_two_of_three_raise_total_fits_qr_version_10_at_level_m() {
    let text = signed_by(command(raise()), &[1, 2]);
    let version = version_for(&text, EcLevel::M).unwrap();
    assert!(version <= 10, "version {version} for {} characters", text.len());
    assert!(text.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
    println!(
        "2-of-3 raise-total: {} characters, QR version {version}-M",
        text.len()
    );
}

#[test]
fn every_bad_command_is_refused_with_its_reason() {
    let good = signed_by(command(raise()), &[1, 2]);
    // Another signer's id.
    let other = SignerId([8; 8]);
    assert_eq!(
        verify(&good, &officers(), other, NOW).unwrap_err(),
        CommandError::WrongSigner {
            target: ME,
            me: other
        }
    );
    // Outside the window.
    assert!(matches!(
        verify(&good, &officers(), ME, NOW - 7200),
        Err(CommandError::NotYetValid { .. })
    ));
    assert!(matches!(
        verify(&good, &officers(), ME, NOW + 90_000),
        Err(CommandError::Expired { .. })
    ));
    // Fewer than M valid signatures.
    let one = signed_by(command(raise()), &[1]);
    assert_eq!(
        verify(&one, &officers(), ME, NOW).unwrap_err(),
        CommandError::BelowThreshold { valid: 1, needed: 2 }
    );
    let none = signed_by(command(raise()), &[]);
    assert_eq!(
        verify(&none, &officers(), ME, NOW).unwrap_err(),
        CommandError::BelowThreshold { valid: 0, needed: 2 }
    );
    // The same officer twice (the encoder refuses; craft the bytes by hand).
    let mut twice = command(raise());
    twice.sign(&officer(1), [1; 32]).unwrap();
    twice.signatures.push(twice.signatures[0]);
    let twice = twice.encode_text().unwrap();
    assert!(matches!(
        verify(&twice, &officers(), ME, NOW),
        Err(CommandError::DuplicateOfficer { .. })
    ));
    // An unknown officer key.
    let stranger = signed_by(command(raise()), &[1, 9]);
    assert!(matches!(
        verify(&stranger, &officers(), ME, NOW),
        Err(CommandError::UnknownOfficer { .. })
    ));
    // Not a command at all.
    assert_eq!(
        verify("hello", &officers(), ME, NOW).unwrap_err(),
        CommandError::NotACommand
    );
    assert!(matches!(
        verify("SLC1!!!", &officers(), ME, NOW),
        Err(CommandError::Malformed(_))
    ));
    assert!(matches!(
        verify("UR:CRYPTO-PSBT/AAA", &officers(), ME, NOW),
        Err(CommandError::NotACommand)
    ));
}

#[test]
fn any_edited_byte_is_refused() {
    let good = signed_by(command(raise()), &[1, 2]);
    let bytes = decode_text(&good).unwrap().to_bytes().unwrap();
    let unsigned_len = command(raise()).command.encode().unwrap().len();
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x80] {
            let mut edited = bytes.clone();
            edited[i] ^= flip;
            let text = text_from_bytes(&edited);
            let result = verify(&text, &officers(), ME, NOW);
            assert!(
                result.is_err(),
                "editing byte {i} (of {unsigned_len} unsigned) was accepted"
            );
        }
    }
}

#[test]
fn non_canonical_forms_are_refused() {
    let good = decode_text(&signed_by(command(raise()), &[1, 2]))
        .unwrap()
        .to_bytes()
        .unwrap();
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(SignedLimitCommand::from_bytes(&trailing).is_err());
    let mut version = good.clone();
    version[0] = 2;
    assert!(matches!(
        SignedLimitCommand::from_bytes(&version),
        Err(CommandError::Malformed(_))
    ));
    let mut window = command(raise());
    window.command.not_after = window.command.not_before - 1;
    assert!(window.encode_text().is_err());
    let mut twice = command(raise());
    twice.sign(&officer(1), [0; 32]).unwrap();
    assert!(matches!(
        twice.sign(&officer(1), [0; 32]),
        Err(CommandError::DuplicateOfficer { .. })
    ));
}

proptest! {
    #[test]
    fn decoding_arbitrary_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), text in ".{0,300}") {
        let _ = SignedLimitCommand::from_bytes(&bytes);
        let _ = verify(&text, &officers(), ME, NOW);
        let _ = verify(&text_from_bytes(&bytes), &officers(), ME, NOW);
    }
}

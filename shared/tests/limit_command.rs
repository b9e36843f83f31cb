//! Limit commands: every bad command decidable without the signer's records is refused
//! with its reason; good commands round-trip; a 2-of-3 raise-total fits a small QR code.
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
/// Offsets in the unsigned bytes (see the layout in the module documentation).
const AT_ASSET: usize = 25;
const AT_ACTION: usize = 26;

fn keypair_from_number(n: u64) -> Keypair {
    let mut secret = [0u8; 32];
    secret[24..].copy_from_slice(&n.to_be_bytes());
    Keypair::from_secret_key(&Secp256k1::new(), &SecretKey::from_slice(&secret).unwrap())
}

fn officer(n: u8) -> Keypair {
    keypair_from_number(u64::from(n) * 0x0101_0101)
}

fn officers() -> OfficerSet {
    OfficerSet::new((1..=3).map(|n| officer(n).x_only_public_key().0).collect(), 2).unwrap()
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
        amount: Amount::from_sat(1_000_000_000),
    }
}

fn set_rate() -> LimitAction {
    LimitAction::SetRate {
        rate: RateLimit {
            amount: Amount::from_sat(4_000_000),
            per: Duration::from_secs(60),
            burst: Amount::from_sat(100_000_000),
        },
    }
}

fn sign(mut cmd: SignedLimitCommand, who: &[u8]) -> SignedLimitCommand {
    for n in who {
        cmd.sign(&officer(*n), [*n; 32]).unwrap();
    }
    cmd
}

fn signed_text(cmd: SignedLimitCommand, who: &[u8]) -> String {
    sign(cmd, who).encode_text().unwrap()
}

fn refusal(text: &str) -> CommandError {
    verify(text, &officers(), ME, NOW).unwrap_err()
}

#[test]
fn a_two_of_three_command_verifies_and_round_trips() {
    for action in [raise(), set_rate(), LimitAction::Pause, LimitAction::Resume] {
        for who in [[1, 2], [3, 1], [2, 3]] {
            let text = signed_text(command(action), &who);
            let verified = verify(&text, &officers(), ME, NOW).unwrap();
            assert_eq!(verified.command(), &command(action).command);
            let expected: Vec<_> = who.iter().map(|n| officer(*n).x_only_public_key().0).collect();
            assert_eq!(verified.signed_by(), expected.as_slice());
            let decoded = decode_text(&text).unwrap();
            assert_eq!(decoded.encode_text().unwrap(), text);
            assert_eq!(
                SignedLimitCommand::from_bytes(&decoded.to_bytes().unwrap()).unwrap(),
                decoded
            );
        }
    }
}

#[test]
fn all_three_officers_may_sign() {
    let text = signed_text(command(raise()), &[1, 2, 3]);
    assert_eq!(verify(&text, &officers(), ME, NOW).unwrap().signed_by().len(), 3);
}

#[test]
fn scanner_whitespace_and_lower_case_are_tolerated() {
    let text = signed_text(command(raise()), &[1, 2]);
    let (head, tail) = text.split_at(100);
    let typed = format!("  {}\r\n{}\n", head.to_lowercase(), tail);
    assert!(verify(&typed, &officers(), ME, NOW).is_ok());
}

#[test]
fn a_two_of_three_raise_total_fits_qr_version_10_at_level_m() {
    let text = signed_text(command(raise()), &[1, 2]);
    let version = version_for(&text, EcLevel::M).unwrap();
    assert!(version <= 10, "version {version} for {} characters", text.len());
    assert!(text.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
    assert_eq!(text.len(), 292, "docs/limit-command-format.md states this length");
    assert_eq!(version, 10, "docs/limit-command-format.md states this version");
}

#[test]
fn the_window_is_inclusive() {
    let text = signed_text(command(raise()), &[1, 2]);
    let cmd = command(raise()).command;
    assert!(verify(&text, &officers(), ME, cmd.not_before).is_ok());
    assert!(verify(&text, &officers(), ME, cmd.not_after).is_ok());
    assert_eq!(
        verify(&text, &officers(), ME, cmd.not_before - 1).unwrap_err(),
        CommandError::NotYetValid {
            not_before: cmd.not_before,
            now: cmd.not_before - 1
        }
    );
    assert_eq!(
        verify(&text, &officers(), ME, cmd.not_after + 1).unwrap_err(),
        CommandError::Expired {
            not_after: cmd.not_after,
            now: cmd.not_after + 1
        }
    );
}

#[test]
fn another_signers_command_is_refused() {
    let good = signed_text(command(raise()), &[1, 2]);
    let other = SignerId([8; 8]);
    assert_eq!(
        verify(&good, &officers(), other, NOW).unwrap_err(),
        CommandError::WrongSigner {
            target: ME,
            me: other
        }
    );
}

#[test]
fn fewer_than_m_valid_signatures_are_refused() {
    assert_eq!(
        refusal(&signed_text(command(raise()), &[1])),
        CommandError::BelowThreshold { valid: 1, needed: 2 }
    );
    assert_eq!(
        refusal(&signed_text(command(raise()), &[])),
        CommandError::BelowThreshold { valid: 0, needed: 2 }
    );
    // A set with threshold 0 (never made by OfficerSet::new) accepts nothing.
    let zero = OfficerSet {
        keys: officers().keys,
        threshold: 0,
    };
    assert!(matches!(
        verify(&signed_text(command(raise()), &[1, 2]), &zero, ME, NOW),
        Err(CommandError::BelowThreshold { valid: 2, needed: 1 })
    ));
}

#[test]
fn the_same_officer_twice_is_refused() {
    // Exactly the same signature copied, and a second, different signature by the same
    // key (BIP340 with other aux randomness): the encoder refuses both, so craft them.
    let mut copied = sign(command(raise()), &[1]);
    copied.signatures.push(copied.signatures[0]);
    let mut resigned = sign(command(raise()), &[1]);
    let mut again = sign(command(raise()), &[]);
    again.sign(&officer(1), [99; 32]).unwrap();
    assert_ne!(again.signatures[0], resigned.signatures[0]);
    resigned.signatures.push(again.signatures[0]);
    for twice in [copied, resigned] {
        assert_eq!(
            refusal(&twice.encode_text().unwrap()),
            CommandError::DuplicateOfficer {
                fingerprint: twice.signatures[0].fingerprint_hex()
            }
        );
    }
    let mut cmd = sign(command(raise()), &[1]);
    assert!(matches!(
        cmd.sign(&officer(1), [5; 32]),
        Err(CommandError::DuplicateOfficer { .. })
    ));
}

#[test]
fn an_unknown_officer_is_refused() {
    let stranger = signed_text(command(raise()), &[1, 9]);
    assert_eq!(
        refusal(&stranger),
        CommandError::UnknownOfficer {
            fingerprint: hex::encode(officer_fingerprint(&officer(9).x_only_public_key().0))
        }
    );
}

#[test]
fn one_bad_signature_refuses_the_whole_command() {
    // Two good signatures would meet the threshold; the third, garbled, still refuses:
    // fail closed and let the officers look.
    let mut cmd = sign(command(raise()), &[1, 2, 3]);
    cmd.signatures[2].signature[10] ^= 1;
    assert_eq!(
        refusal(&cmd.encode_text().unwrap()),
        CommandError::InvalidSignature {
            fingerprint: cmd.signatures[2].fingerprint_hex()
        }
    );
    // A real signature lifted from another command does not transfer.
    let mut other = command(raise());
    other.command.id = CommandId([43; 16]);
    let lifted = sign(other, &[2]).signatures[0];
    let mut cmd = sign(command(raise()), &[1]);
    cmd.signatures.push(lifted);
    assert!(matches!(
        refusal(&cmd.encode_text().unwrap()),
        CommandError::InvalidSignature { .. }
    ));
}

/// Changes one field of a signed 2-of-3 command, keeps its signatures, re-encodes it
/// canonically and returns what `verify` (for signer `me`) says.
fn edit(change: impl Fn(&mut LimitCommand), me: SignerId) -> Result<VerifiedCommand, CommandError> {
    let mut cmd = sign(command(raise()), &[1, 2]);
    change(&mut cmd.command);
    verify(&cmd.encode_text().unwrap(), &officers(), me, NOW)
}

type FieldEdit = dyn Fn(&mut LimitCommand);

#[test]
fn editing_any_field_invalidates_the_signatures() {
    let edits: Vec<(&str, Box<FieldEdit>, SignerId)> = vec![
        ("id", Box::new(|c: &mut LimitCommand| c.id.0[15] ^= 1), ME),
        (
            "signer",
            Box::new(|c: &mut LimitCommand| c.signer = SignerId([9; 8])),
            SignerId([9; 8]),
        ),
        (
            "amount",
            Box::new(|c: &mut LimitCommand| {
                c.action = LimitAction::RaiseTotal {
                    amount: Amount::from_sat(100_000_000_000),
                }
            }),
            ME,
        ),
        (
            "action to pause",
            Box::new(|c: &mut LimitCommand| c.action = LimitAction::Pause),
            ME,
        ),
        (
            "action to set-rate",
            Box::new(|c: &mut LimitCommand| c.action = set_rate()),
            ME,
        ),
        (
            "not-before",
            Box::new(|c: &mut LimitCommand| c.not_before -= 1),
            ME,
        ),
        (
            "not-after",
            Box::new(|c: &mut LimitCommand| c.not_after += 86_400),
            ME,
        ),
    ];
    for (field, change, me) in edits {
        match edit(change, me) {
            Err(CommandError::InvalidSignature { .. }) => {}
            other => panic!("editing the {field} gave {other:?}"),
        }
    }
}

#[test]
fn editing_any_byte_or_bit_is_refused() {
    let good = sign(command(raise()), &[1, 2]).to_bytes().unwrap();
    for i in 0..good.len() {
        for flip in [0x01u8, 0x02, 0x10, 0x80] {
            let mut edited = good.clone();
            edited[i] ^= flip;
            assert!(
                verify(&text_from_bytes(&edited), &officers(), ME, NOW).is_err(),
                "flipping {flip:#x} in byte {i} was accepted"
            );
        }
    }
    // And the text itself: changing any one character.
    let text = text_from_bytes(&good);
    for i in TEXT_PREFIX.len()..text.len() {
        let mut edited = text.clone().into_bytes();
        edited[i] = if edited[i] == b'A' { b'B' } else { b'A' };
        let edited = String::from_utf8(edited).unwrap();
        assert!(verify(&edited, &officers(), ME, NOW).is_err(), "character {i}");
    }
}

#[test]
fn not_a_command_at_all_is_refused() {
    assert_eq!(refusal("hello"), CommandError::NotACommand);
    assert_eq!(refusal(""), CommandError::NotACommand);
    assert_eq!(refusal("UR:CRYPTO-PSBT/AAA"), CommandError::NotACommand);
    assert!(matches!(refusal("SLC1!!!"), CommandError::Malformed(_)));
    assert!(matches!(refusal("SLC1"), CommandError::Malformed(_)));
    assert!(matches!(
        refusal(&"SLC1A".repeat(2000)),
        CommandError::Malformed(_)
    ));
}

fn assert_malformed(bytes: &[u8], why: &str) {
    match SignedLimitCommand::from_bytes(bytes) {
        Err(CommandError::Malformed(_)) => {}
        other => panic!("{why}: {other:?}"),
    }
    assert!(
        matches!(refusal(&text_from_bytes(bytes)), CommandError::Malformed(_)),
        "{why} (as text)"
    );
}

#[test]
fn non_canonical_and_unknown_forms_are_refused() {
    let good = sign(command(raise()), &[1, 2]).to_bytes().unwrap();
    let unsigned_len = command(raise()).command.encode().unwrap().len();
    assert_eq!(unsigned_len, 43);

    let mut trailing = good.clone();
    trailing.push(0);
    assert_malformed(&trailing, "trailing byte");
    assert_malformed(&good[..good.len() - 1], "truncated signature");
    assert_malformed(&good[..unsigned_len], "no signature count");
    for version in [0u8, 2, 0xff] {
        let mut b = good.clone();
        b[0] = version;
        assert_malformed(&b, "unknown version");
    }
    for asset in [1u8, 0xff] {
        let mut b = good.clone();
        b[AT_ASSET] = asset;
        assert_malformed(&b, "unknown asset");
    }
    for action in [0u8, 5, 0xff] {
        let mut b = good.clone();
        b[AT_ACTION] = action;
        assert_malformed(&b, "unknown action");
    }
    // A signature count promising more signatures than present, or more than 16.
    let mut b = good.clone();
    b[unsigned_len] = 3;
    assert_malformed(&b, "count says 3, two present");
    let mut b = good[..unsigned_len].to_vec();
    b.push(17);
    b.extend(std::iter::repeat_n(0u8, 17 * 68));
    assert_malformed(&b, "17 signatures");

    // Fields outside their domain, hand-encoded.
    let amount_at = AT_ACTION + 1;
    let mut b = good.clone();
    b[amount_at..amount_at + 8].copy_from_slice(&(21_000_000 * 100_000_000u64 + 1).to_be_bytes());
    assert_malformed(&b, "above 21 million BTC");
    let mut b = good.clone();
    b[amount_at..amount_at + 8].copy_from_slice(&0u64.to_be_bytes());
    assert_malformed(&b, "zero raise-total");
    let window_at = amount_at + 8;
    let mut b = good.clone();
    b[window_at..window_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_malformed(&b, "not-after before not-before");

    let rate = sign(command(set_rate()), &[1, 2]).to_bytes().unwrap();
    let per_at = AT_ACTION + 1 + 8;
    let mut b = rate.clone();
    b[per_at..per_at + 4].copy_from_slice(&0u32.to_be_bytes());
    assert_malformed(&b, "rate period of zero");
    let mut b = rate.clone();
    b[per_at + 4..per_at + 12].copy_from_slice(&0u64.to_be_bytes());
    assert_malformed(&b, "zero burst");

    // Base32 with non-zero leftover bits would name the same bytes a second way. One
    // signature makes 112 bytes: 180 characters carrying 4 leftover bits.
    let one = sign(command(raise()), &[1]);
    let text = one.encode_text().unwrap();
    assert_eq!(
        refusal(&text),
        CommandError::BelowThreshold { valid: 1, needed: 2 }
    );
    let mut bumped = text.into_bytes();
    *bumped.last_mut().unwrap() += 1; // leftover bits are zero, so this sets one
    let bumped = String::from_utf8(bumped).unwrap();
    assert!(matches!(refusal(&bumped), CommandError::Malformed(_)));
}

#[test]
fn meaningless_commands_cannot_be_written() {
    let mut window = command(raise());
    window.command.not_after = window.command.not_before - 1;
    assert!(window.encode_text().is_err());
    let mut negative = command(raise());
    negative.command.not_before = -1;
    assert!(negative.command.encode().is_err());
    let zero = command(LimitAction::RaiseTotal { amount: Amount::ZERO });
    assert!(zero.command.signing_hash().is_err());
    let fractional = command(LimitAction::SetRate {
        rate: RateLimit {
            amount: Amount::from_sat(1),
            per: Duration::from_millis(1500),
            burst: Amount::from_sat(1),
        },
    });
    assert!(fractional.command.encode().is_err());
    let mut unsignable = command(LimitAction::Pause);
    unsignable.command.not_after = i64::from(u32::MAX) + 1;
    assert!(unsignable.sign(&officer(1), [0; 32]).is_err());
}

#[test]
fn officer_sets_are_checked() {
    let keys: Vec<_> = (1..=3).map(|n| officer(n).x_only_public_key().0).collect();
    assert!(OfficerSet::new(keys.clone(), 3).is_ok());
    assert!(matches!(
        OfficerSet::new(keys.clone(), 0),
        Err(OfficerSetError::BadThreshold { .. })
    ));
    assert!(matches!(
        OfficerSet::new(keys.clone(), 4),
        Err(OfficerSetError::BadThreshold { .. })
    ));
    let twice = vec![keys[0], keys[1], keys[0]];
    assert!(matches!(
        OfficerSet::new(twice, 2),
        Err(OfficerSetError::DuplicateKey { .. })
    ));
}

/// Secret keys 24925 and 69145 share the fingerprint 3e3925a5 (found by a birthday
/// search over small secrets): a collision can neither forge nor block a signature.
#[test]
fn colliding_fingerprints_neither_forge_nor_block() {
    let (a, b) = (keypair_from_number(24_925), keypair_from_number(69_145));
    let (ka, kb) = (a.x_only_public_key().0, b.x_only_public_key().0);
    assert_eq!(hex::encode(officer_fingerprint(&ka)), "3e3925a5");
    assert_eq!(officer_fingerprint(&ka), officer_fingerprint(&kb));
    assert!(matches!(
        OfficerSet::new(vec![ka, kb], 2),
        Err(OfficerSetError::FingerprintCollision { .. })
    ));
    // An unchecked set still counts each key once, whichever of the two signed.
    let unchecked = OfficerSet {
        keys: vec![ka, kb],
        threshold: 2,
    };
    let mut both = command(raise());
    both.sign(&a, [1; 32]).unwrap();
    // `sign` refuses a second signature with the same fingerprint; add it by hand.
    let mut by_b = command(raise());
    by_b.sign(&b, [2; 32]).unwrap();
    both.signatures.push(by_b.signatures[0]);
    let verified = verify(&both.encode_text().unwrap(), &unchecked, ME, NOW).unwrap();
    assert_eq!(verified.signed_by(), &[ka, kb]);
    // Officer A signing twice is still one officer.
    let mut twice = command(raise());
    twice.sign(&a, [1; 32]).unwrap();
    let mut again = command(raise());
    again.sign(&a, [3; 32]).unwrap();
    twice.signatures.push(again.signatures[0]);
    assert!(matches!(
        verify(&twice.encode_text().unwrap(), &unchecked, ME, NOW),
        Err(CommandError::DuplicateOfficer { .. })
    ));
}

#[test]
fn signatures_are_reported_for_inspection() {
    let mut cmd = sign(command(raise()), &[1, 2, 9]);
    cmd.signatures[1].signature[0] ^= 1;
    let keys: Vec<_> = (1..=3).map(|n| officer(n).x_only_public_key().0).collect();
    assert_eq!(
        cmd.check_signatures(&keys),
        vec![
            SignatureCheck::Valid(keys[0]),
            SignatureCheck::Invalid(keys[1]),
            SignatureCheck::UnknownKey
        ]
    );
}

#[test]
fn actions_read_in_plain_words() {
    let signer: SignerId = "0a1b2c3d4e5f6071".parse().unwrap();
    assert_eq!(
        raise().describe(signer, Asset::Btc),
        "Allow signer 0a1b2c3d4e5f6071 to sign 10 more BTC"
    );
    assert_eq!(
        set_rate().describe(signer, Asset::Btc),
        "Set signer 0a1b2c3d4e5f6071's BTC rate to 0.04 BTC per 60 seconds, burst 1 BTC"
    );
    assert_eq!(
        LimitAction::Pause.describe(signer, Asset::Btc),
        "Pause all BTC signing on signer 0a1b2c3d4e5f6071"
    );
}

fn any_action() -> impl Strategy<Value = LimitAction> {
    let sat = 1..=21_000_000 * 100_000_000u64;
    prop_oneof![
        sat.clone().prop_map(|s| LimitAction::RaiseTotal {
            amount: Amount::from_sat(s)
        }),
        (sat.clone(), 1..=315_360_000u64, sat).prop_map(|(a, per, b)| LimitAction::SetRate {
            rate: RateLimit {
                amount: Amount::from_sat(a),
                per: Duration::from_secs(per),
                burst: Amount::from_sat(b),
            }
        }),
        Just(LimitAction::Pause),
        Just(LimitAction::Resume),
    ]
}

proptest! {
    #[test]
    fn decoding_arbitrary_input_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        text in ".{0,300}",
    ) {
        let _ = SignedLimitCommand::from_bytes(&bytes);
        let _ = verify(&text, &officers(), ME, NOW);
        let _ = verify(&format!("{TEXT_PREFIX}{text}"), &officers(), ME, NOW);
        let _ = verify(&text_from_bytes(&bytes), &officers(), ME, NOW);
    }

    #[test]
    fn every_valid_command_round_trips(
        id in any::<[u8; 16]>(),
        signer in any::<[u8; 8]>(),
        action in any_action(),
        not_before in 0..=u32::MAX,
        length in 0..=u32::MAX,
    ) {
        let not_after = u64::from(not_before) + u64::from(length);
        prop_assume!(not_after <= u64::from(u32::MAX));
        let cmd = SignedLimitCommand::unsigned(LimitCommand {
            id: CommandId(id),
            signer: SignerId(signer),
            asset: Asset::Btc,
            action,
            not_before: i64::from(not_before),
            not_after: i64::try_from(not_after).unwrap(),
        });
        let text = cmd.encode_text().unwrap();
        prop_assert_eq!(decode_text(&text).unwrap(), cmd);
    }
}

/// The worked example in docs/limit-command-format.md: officers 1 and 2 (secret keys
/// `[1; 32]`, `[2; 32]`) sign with BIP340 auxiliary randomness `[0; 32]`.
#[test]
fn the_documented_test_vector_holds() {
    let secp = Secp256k1::new();
    let keys: Vec<Keypair> = (1..=3u8)
        .map(|n| Keypair::from_secret_key(&secp, &SecretKey::from_slice(&[n; 32]).unwrap()))
        .collect();
    let public: Vec<String> = keys.iter().map(|k| k.x_only_public_key().0.to_string()).collect();
    assert_eq!(
        public[0],
        "1b84c5567b126440995d3ed5aaba0565d71e1834604819ff9c17f5e9d5dd078f"
    );
    assert_eq!(
        public[1],
        "4d4b6cd1361032ca9bd2aeb9d900aa4d45d9ead80ac9423374c451a7254d0766"
    );
    assert_eq!(
        public[2],
        "531fe6068134503d2723133227c867ac8fa6c83c537e9a44c3c5bdbdcb1fe337"
    );
    let fingerprints: Vec<String> = keys
        .iter()
        .map(|k| hex::encode(officer_fingerprint(&k.x_only_public_key().0)))
        .collect();
    assert_eq!(fingerprints, ["1e949c48", "7150168b", "35e6b03d"]);

    let mut cmd = SignedLimitCommand::unsigned(LimitCommand {
        id: CommandId(
            hex::decode("000102030405060708090a0b0c0d0e0f")
                .unwrap()
                .try_into()
                .unwrap(),
        ),
        signer: "0a1b2c3d4e5f6071".parse().unwrap(),
        asset: Asset::Btc,
        action: raise(),
        not_before: 1_893_456_000,              // 2030-01-01T00:00:00Z
        not_after: 1_893_456_000 + 14 * 86_400, // 2030-01-15T00:00:00Z
    });
    assert_eq!(
        hex::encode(cmd.command.encode().unwrap()),
        "01000102030405060708090a0b0c0d0e0f0a1b2c3d4e5f60710001000000003b9aca0070dbd88070ee4d80"
    );
    assert_eq!(
        hex::encode(cmd.command.signing_hash().unwrap()),
        "e0d06cab11e17dea949d133406cbbb5e13d47e60775f841e9c9394cf62b325d3"
    );
    cmd.sign(&keys[0], [0; 32]).unwrap();
    cmd.sign(&keys[1], [0; 32]).unwrap();
    assert_eq!(
        hex::encode(cmd.signatures[0].signature),
        "3f06c9614a68767eb88caf3432de3f75f2fd483e7cfbfcf74afbf1f854b2b24b\
         6df615900db89b76829f5b6bca7d8a4b7a64d15eca727266622ff4476d9ce008"
    );
    assert_eq!(
        hex::encode(cmd.signatures[1].signature),
        "d616b65c46e1cf9a0aa91f902546d403e595972f5d3b9feead751f818994b8b9\
         3acdf7715621dafa22db98032a8cea41d4d519724e1192f444c6a3ac080f4379"
    );
    let text = cmd.encode_text().unwrap();
    assert_eq!(
        text,
        "SLC1AEAACAQDAQCQMBYIBEFAWDANBYHQUGZMHVHF6YDRAAAQAAAAAA5ZVSQAODN5RADQ5ZGYAAQ6SSOEQPYGZFQUU2\
         DWP24IZLZUGLPD65PS7VED47H37T3UV67R7BKLFMSLNX3BLEANXCNXNAU7LNV4U7MKJN5GJUK6ZJZHEZTCF72EO3M44\
         AEHCUAWRPLBNNS4I3Q47GQKVEPZAJKG2QB6LFMXF5OTXH7OVV2R7AMJSS4LSOWN65YVMIO27IRNXGADFKGOUQOU2UMX\
         ETQRSL2EJRVDVQEA6Q3Z"
    );
    let set = OfficerSet::new(keys.iter().map(|k| k.x_only_public_key().0).collect(), 2).unwrap();
    let me = "0a1b2c3d4e5f6071".parse().unwrap();
    assert!(verify(&text, &set, me, 1_893_456_000 + 86_400).is_ok());
}

/// The size table in docs/limit-command-format.md.
#[test]
fn qr_versions_match_the_format_document() {
    let expected = [
        (raise(), [(112, 184, 8), (180, 292, 10), (248, 401, 12)]),
        (set_rate(), [(124, 203, 8), (192, 312, 11), (260, 420, 13)]),
        (
            LimitAction::Pause,
            [(104, 171, 7), (172, 280, 10), (240, 388, 12)],
        ),
    ];
    for (action, rows) in expected {
        for (signatures, (bytes, chars, version)) in (1..=3u8).zip(rows) {
            let cmd = sign(command(action), &(1..=signatures).collect::<Vec<_>>());
            let text = cmd.encode_text().unwrap();
            assert_eq!(
                (
                    cmd.to_bytes().unwrap().len(),
                    text.len(),
                    version_for(&text, EcLevel::M).unwrap()
                ),
                (bytes, chars, version),
                "{action:?} with {signatures} signature(s)"
            );
        }
    }
}

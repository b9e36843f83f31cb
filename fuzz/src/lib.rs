//! The bodies of Sluice's fuzz targets: each takes arbitrary bytes, runs one decoder of
//! outside input, and asserts the invariants that must hold whatever the input. A panic
//! is a finding.
//!
//! Shared by the libFuzzer binaries in `fuzz_targets/` and by the stable replay test
//! `shared/tests/fuzz_seeds.rs` (which includes this file as a module), so CI runs the
//! exact same code over the seed corpus in `fuzz/seeds/`.
#![forbid(unsafe_code)]

use std::sync::OnceLock;

use bitcoin::secp256k1::{Keypair, Secp256k1, SecretKey};
use bitcoin::{Amount, Network};
use sluice_shared::descriptor::WalletDescriptor;
use sluice_shared::identity::SignerId;
use sluice_shared::inspect::{inspect_psbt, InspectionPolicy};
use sluice_shared::limit_command::{decode_text, text_from_bytes, verify, OfficerSet, SignedLimitCommand};
use sluice_shared::ur_psbt::PsbtPartDecoder;

/// The signer the limit-command target verifies for; seeds target it.
pub const FUZZ_SIGNER: SignerId = SignerId([7; 8]);
/// The time the limit-command target verifies at (2027-01-15); seeds are valid then.
pub const FUZZ_NOW: i64 = 1_800_000_000;

/// Officer `n` of the fuzzing officer set (secret key `[n; 32]`, n = 1, 2, 3).
pub fn fuzz_officer(n: u8) -> Keypair {
    let secret = SecretKey::from_slice(&[n; 32]).expect("1..=3 repeated is a valid secret key");
    Keypair::from_secret_key(&Secp256k1::signing_only(), &secret)
}

fn officers() -> &'static OfficerSet {
    static OFFICERS: OnceLock<OfficerSet> = OnceLock::new();
    OFFICERS.get_or_init(|| {
        let keys = (1..=3).map(|n| fuzz_officer(n).x_only_public_key().0).collect();
        OfficerSet::new(keys, 2).expect("three distinct keys, threshold 2")
    })
}

/// Limit commands: the bytes as a binary command, as command text, and wrapped in the
/// text form. Whatever decodes must re-encode to exactly what was read (one encoding per
/// command), and `verify` must never panic.
pub fn limit_command_decode(data: &[u8]) {
    if let Ok(command) = SignedLimitCommand::from_bytes(data) {
        let again = command.to_bytes().expect("a decoded command re-encodes");
        assert_eq!(again, data, "two byte strings for one command");
    }
    let wrapped = text_from_bytes(data);
    let _ = verify(&wrapped, officers(), FUZZ_SIGNER, FUZZ_NOW);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(command) = decode_text(text) {
            let canonical = command.encode_text().expect("a decoded command re-encodes");
            assert_eq!(decode_text(&canonical).as_ref(), Ok(&command));
        }
        if let Ok(verified) = verify(text, officers(), FUZZ_SIGNER, FUZZ_NOW) {
            assert!(verified.signed_by().len() >= officers().threshold);
            assert_eq!(verified.command().signer, FUZZ_SIGNER);
        }
    }
}

/// UR / base64 PSBT text: each line is one scanned part, fed to one decoder.
pub fn ur_psbt_decode(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut decoder = PsbtPartDecoder::new();
    for line in text.lines().take(64) {
        let _ = decoder.receive(line);
        if decoder.is_complete() {
            let _ = decoder.psbt_bytes();
            break;
        }
    }
    let _ = decoder.psbt_bytes();
}

/// The registered 2-of-3 `wsh(sortedmulti)` wallet of the Bitcoin Core fixtures
/// (shared/fixtures/bitcoin-core/psbt_fixtures.json, `wallets.wsh_2of3`).
pub fn fixture_wsh_wallet() -> &'static WalletDescriptor {
    const RECEIVE: &str = "wsh(sortedmulti(2,[1bbaa5fe/84h/1h/0h]tpubDDHx3CNs1F7LipoKW8ccMFNJsXJ6WYLFubNaCYLZtBX6G2GsQ7EJgbuecqwXfQtLKzxt2Kn8vJkxEWeQNto3deB7JCHdKHuRJMcYMDFABwi/0/*,[72408740/84h/1h/0h]tpubDDK8J3o2xAQqa14ubD5UW9ztUMRnpPKYNnCE6T8UChumFXApW4fX4ziePYbgH8kT63xpRviLH7ZNVzaZzAZ8nhwjzFVdT9mWdqZajmTCfv2/0/*,[3429876a/84h/1h/0h]tpubDCRy5oJLbB3etWH8sirNRUhtdp5GqhNPChRnpe8GMuze9NbgQeagn6icEf1moF2xpxiE2b5V5w2PQyBiifkjLQmfGfqbgSAXDbpegWj9V3s/0/*))#zyt2sv2m";
    const CHANGE: &str = "wsh(sortedmulti(2,[1bbaa5fe/84h/1h/0h]tpubDDHx3CNs1F7LipoKW8ccMFNJsXJ6WYLFubNaCYLZtBX6G2GsQ7EJgbuecqwXfQtLKzxt2Kn8vJkxEWeQNto3deB7JCHdKHuRJMcYMDFABwi/1/*,[72408740/84h/1h/0h]tpubDDK8J3o2xAQqa14ubD5UW9ztUMRnpPKYNnCE6T8UChumFXApW4fX4ziePYbgH8kT63xpRviLH7ZNVzaZzAZ8nhwjzFVdT9mWdqZajmTCfv2/1/*,[3429876a/84h/1h/0h]tpubDCRy5oJLbB3etWH8sirNRUhtdp5GqhNPChRnpe8GMuze9NbgQeagn6icEf1moF2xpxiE2b5V5w2PQyBiifkjLQmfGfqbgSAXDbpegWj9V3s/1/*))#s3h7nrtc";
    static WALLET: OnceLock<WalletDescriptor> = OnceLock::new();
    WALLET.get_or_init(|| {
        WalletDescriptor::parse(RECEIVE, Some(CHANGE)).expect("the fixture descriptor parses")
    })
}

/// PSBT bytes inspected for the fixture wallet: never a panic, and an accepted PSBT's
/// numbers add up (inputs = change + external + fee, outflow = external + fee, fee
/// within the cap).
pub fn psbt_inspect(data: &[u8]) {
    let Ok(psbt) = bitcoin::psbt::Psbt::deserialize(data) else {
        return;
    };
    let policy = InspectionPolicy {
        network: Network::Regtest,
        max_fee: Amount::from_sat(100_000),
    };
    if let Ok(review) = inspect_psbt(&psbt, fixture_wsh_wallet(), &policy) {
        assert_eq!(
            review.total_in(),
            review.total_change() + review.total_external() + review.fee
        );
        assert_eq!(review.outflow, review.total_external() + review.fee);
        assert!(review.fee <= policy.max_fee);
        assert_eq!(review.inputs.len(), psbt.inputs.len());
    }
}

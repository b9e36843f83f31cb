//! What the fuzz targets in `fuzz/` run, kept here so a normal test replays the seed
//! corpus on stable Rust in CI (`shared/tests/fuzz_seeds.rs`). Each function must never
//! panic, whatever the input.

use std::sync::OnceLock;

use bitcoin::psbt::Psbt;
use bitcoin::{Amount, Network};

use crate::descriptor::WalletDescriptor;
use crate::identity::SignerId;
use crate::inspect::{inspect_psbt, InspectionPolicy};
use crate::limit_command::{decode_text, verify, OfficerSet, SignedLimitCommand};
use crate::ur_psbt::PsbtPartDecoder;

/// Decodes as text and as bytes, round-trips what decodes, and verifies.
pub fn limit_command(data: &[u8]) {
    if let Ok(signed) = SignedLimitCommand::from_bytes(data) {
        // Canonical: what decodes re-encodes to the same bytes.
        assert_eq!(signed.to_bytes().ok().as_deref(), Some(data));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = decode_text(text);
        let officers = OfficerSet {
            keys: Vec::new(),
            threshold: 1,
        };
        let _ = verify(text, &officers, SignerId([0; 8]), 1_800_000_000);
    }
}

/// Feeds each line as a scanned QR text.
pub fn ur_psbt(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut decoder = PsbtPartDecoder::new();
    for line in text.lines().take(64) {
        let _ = decoder.receive(line);
    }
    let _ = decoder.psbt_bytes();
}

fn wallet() -> &'static WalletDescriptor {
    static WALLET: OnceLock<Option<WalletDescriptor>> = OnceLock::new();
    WALLET
        .get_or_init(|| {
            WalletDescriptor::parse(
                "wsh(sortedmulti(2,[1bbaa5fe/84h/1h/0h]tpubDDHx3CNs1F7LipoKW8ccMFNJsXJ6WYLFubNaCYLZtBX6G2GsQ7EJgbuecqwXfQtLKzxt2Kn8vJkxEWeQNto3deB7JCHdKHuRJMcYMDFABwi/<0;1>/*,[72408740/84h/1h/0h]tpubDDK8J3o2xAQqa14ubD5UW9ztUMRnpPKYNnCE6T8UChumFXApW4fX4ziePYbgH8kT63xpRviLH7ZNVzaZzAZ8nhwjzFVdT9mWdqZajmTCfv2/<0;1>/*,[3429876a/84h/1h/0h]tpubDCRy5oJLbB3etWH8sirNRUhtdp5GqhNPChRnpe8GMuze9NbgQeagn6icEf1moF2xpxiE2b5V5w2PQyBiifkjLQmfGfqbgSAXDbpegWj9V3s/<0;1>/*))",
                None,
            )
            .ok()
        })
        .as_ref()
        .expect("the fuzz wallet descriptor is valid")
}

/// Parses and inspects; an accepted PSBT's outflow never exceeds its inputs.
pub fn psbt_inspect(data: &[u8]) {
    let Ok(psbt) = Psbt::deserialize(data) else { return };
    let policy = InspectionPolicy {
        network: Network::Regtest,
        max_fee: Amount::from_sat(10_000_000),
    };
    if let Ok(review) = inspect_psbt(&psbt, wallet(), &policy) {
        assert!(review.outflow <= review.total_in());
    }
}

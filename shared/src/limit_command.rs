//! Signed limit commands: the paper QR codes with which M of N security officers raise
//! or change a signer's limits.
//!
//! Layout (version 1), all integers big-endian, every field fixed-width:
//! ```text
//! unsigned part (43 bytes for raise-total, 55 for set-rate, 35 for pause/resume):
//!   version u8 = 1 | id [16] | signer id [8] | asset u8 | action u8 | action fields
//!   | not_before u32 | not_after u32              (Unix seconds, UTC)
//!   action 1 raise-total: amount u64 (sat)
//!   action 2 set-rate:    amount u64 (sat) | per u32 (seconds) | burst u64 (sat)
//!   action 3 pause, 4 resume: nothing
//!   action 5 release (shadow only): see `release.rs`
//! signatures:
//!   count u8 (at most 16) | count × (officer fingerprint [4] | BIP340 signature [64])
//! ```
//! Each signature signs `tagged_hash("sluice/limit-command/v1", unsigned part)`; the
//! fingerprint is the first 4 bytes of `tagged_hash("sluice/officer-key", x-only key)`,
//! as [`crate::identity::officer_key_fingerprint`] prints it. The text form is `SLC1`
//! followed by RFC 4648 base32 (no padding) of the bytes: only upper-case letters and
//! digits, so a QR code uses its compact alphanumeric mode and a scanner that types it as
//! keystrokes cannot garble it. A 2-of-3 raise-total is 292 characters: QR version 10 at
//! level M.
//!
//! The unsigned part has exactly one encoding: fixed widths, no trailing bytes, strict
//! base32, and unknown versions, actions, assets, amounts above 21 million BTC, zero
//! raise-totals, invalid rates and windows that end before they begin are refused both
//! when writing and when reading.
//!
//! `docs/limit-command-format.md` is the full reference, including the verification order.

/// Also the TOTP secrets of `sluice-coordinator`'s `totp` module.
pub mod base32;
mod order;
mod release;
mod wire;

pub use self::order::{check_order, OrderedKind, OutOfOrder};
pub use self::release::{network_code, network_from_code, Release, ReleaseDestination, ReleasePurpose};

use bitcoin::secp256k1::schnorr::Signature;
use bitcoin::secp256k1::{Keypair, Message, Secp256k1, Verification, XOnlyPublicKey};
use bitcoin::Amount;

use crate::asset::Asset;
use crate::identity::{tagged_hash, SignerId};
use crate::limiter::RateLimit;

/// The text prefix of a version-1 command.
pub const TEXT_PREFIX: &str = "SLC1";
const VERSION: u8 = 1;
/// The BIP340-style tag of the hash officers sign.
pub const HASH_TAG: &str = "sluice/limit-command/v1";
/// No officer set needs more; bounds the work a hostile input can cause.
pub const MAX_SIGNATURES: usize = 16;
/// Longer text (whitespace included) is refused before any decoding work. The longest
/// valid command (set-rate, 16 signatures) is 1,835 characters.
pub const MAX_TEXT_LEN: usize = 8192;

/// A random 16-byte command id; a signer applies each id at most once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandId(pub [u8; 16]);

impl std::fmt::Display for CommandId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// What a command does to the target signer's limits for one asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitAction {
    /// Allow `amount` more total outflow.
    RaiseTotal {
        amount: Amount,
    },
    /// Replace refill rate and burst.
    SetRate {
        rate: RateLimit,
    },
    /// Stop all signing until `Resume`.
    Pause,
    Resume,
    /// The shadow spends one tagged deposit to one destination (see [`Release`]); a
    /// signer refuses it.
    Release {
        release: Release,
    },
}

impl LimitAction {
    /// The action in plain words, as printed on the sheet and shown before applying.
    pub fn describe(&self, signer: SignerId, asset: Asset) -> String {
        match self {
            LimitAction::RaiseTotal { amount } => format!(
                "Allow signer {signer} to sign {} more {asset}",
                plain_amount(*amount)
            ),
            LimitAction::SetRate { rate } => format!(
                "Set signer {signer}'s {asset} rate to {} {asset} per {} seconds, burst {} {asset}",
                plain_amount(rate.amount),
                rate.per.as_secs(),
                plain_amount(rate.burst)
            ),
            LimitAction::Pause => format!("Pause all {asset} signing on signer {signer}"),
            LimitAction::Resume => format!("Resume {asset} signing on signer {signer}"),
            LimitAction::Release { release } => format!("On shadow {signer}: {}", release.describe()),
        }
    }
}

/// An amount in whole coins without trailing zeros ("10", "0.04"), as people say it.
pub fn plain_amount(amount: Amount) -> String {
    let sat = amount.to_sat();
    let (whole, fraction) = (sat / 100_000_000, sat % 100_000_000);
    if fraction == 0 {
        return whole.to_string();
    }
    let digits = format!("{fraction:08}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// The unsigned content of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitCommand {
    pub id: CommandId,
    pub signer: SignerId,
    pub asset: Asset,
    pub action: LimitAction,
    /// Unix seconds; the command is valid from `not_before` to `not_after` inclusive.
    pub not_before: i64,
    pub not_after: i64,
}

impl LimitCommand {
    /// The canonical unsigned encoding that officers sign; refuses a command with a
    /// meaningless field (see the module documentation).
    pub fn encode(&self) -> Result<Vec<u8>, CommandError> {
        wire::encode_unsigned(self)
    }

    /// What each officer signs: `tagged_hash("sluice/limit-command/v1", encode())`.
    pub fn signing_hash(&self) -> Result<[u8; 32], CommandError> {
        Ok(tagged_hash(HASH_TAG, &self.encode()?))
    }

    /// The action in plain words.
    pub fn describe(&self) -> String {
        self.action.describe(self.signer, self.asset)
    }
}

/// The 4 bytes that name an officer key inside a command; printed as 8 hex digits by
/// [`crate::identity::officer_key_fingerprint`].
pub fn officer_fingerprint(key: &XOnlyPublicKey) -> [u8; 4] {
    let hash = tagged_hash("sluice/officer-key", &key.serialize());
    [hash[0], hash[1], hash[2], hash[3]]
}

/// One officer's signature, named by the officer key's fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfficerSignature {
    pub fingerprint: [u8; 4],
    pub signature: [u8; 64],
}

impl OfficerSignature {
    pub fn fingerprint_hex(&self) -> String {
        hex::encode(self.fingerprint)
    }
}

/// What one signature of a command amounts to against a list of known officer keys
/// (`limitctl inspect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    /// A valid BIP340 signature of this command by this known key.
    Valid(XOnlyPublicKey),
    /// The fingerprint names a known key but the signature does not verify: the command
    /// was altered after signing, or the signature is garbage.
    Invalid(XOnlyPublicKey),
    /// No known key has this fingerprint.
    UnknownKey,
}

/// A command with the officer signatures collected so far (not yet verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedLimitCommand {
    pub command: LimitCommand,
    pub signatures: Vec<OfficerSignature>,
}

impl SignedLimitCommand {
    pub fn unsigned(command: LimitCommand) -> SignedLimitCommand {
        SignedLimitCommand {
            command,
            signatures: Vec::new(),
        }
    }

    /// The bytes of the command with its signatures.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CommandError> {
        wire::encode_signed(self)
    }

    /// Reads the bytes of a command; refuses every non-canonical form.
    pub fn from_bytes(bytes: &[u8]) -> Result<SignedLimitCommand, CommandError> {
        wire::decode_signed(bytes)
    }

    /// The QR/text form: `SLC1` + base32.
    pub fn encode_text(&self) -> Result<String, CommandError> {
        Ok(text_from_bytes(&self.to_bytes()?))
    }

    /// Adds `keypair`'s signature (`aux` is fresh randomness for BIP340 signing). Refuses
    /// a second signature by the same officer, and a command that cannot be encoded.
    pub fn sign(&mut self, keypair: &Keypair, aux: [u8; 32]) -> Result<(), CommandError> {
        let fingerprint = officer_fingerprint(&keypair.x_only_public_key().0);
        if self.signatures.iter().any(|s| s.fingerprint == fingerprint) {
            return Err(CommandError::DuplicateOfficer {
                fingerprint: hex::encode(fingerprint),
            });
        }
        if self.signatures.len() >= MAX_SIGNATURES {
            return Err(CommandError::Malformed(format!(
                "a command holds at most {MAX_SIGNATURES} signatures"
            )));
        }
        let msg = Message::from_digest(self.command.signing_hash()?);
        let sig = crate::secp::signing().sign_schnorr_with_aux_rand(&msg, keypair, &aux);
        self.signatures.push(OfficerSignature {
            fingerprint,
            signature: sig.serialize(),
        });
        Ok(())
    }

    /// Whether `sig` is a valid signature of this command by `key` (and names `key`).
    pub fn signature_valid<C: Verification>(
        &self,
        secp: &Secp256k1<C>,
        sig: &OfficerSignature,
        key: &XOnlyPublicKey,
    ) -> bool {
        let Ok(hash) = self.command.signing_hash() else {
            return false;
        };
        let Ok(signature) = Signature::from_slice(&sig.signature) else {
            return false;
        };
        sig.fingerprint == officer_fingerprint(key)
            && secp
                .verify_schnorr(&signature, &Message::from_digest(hash), key)
                .is_ok()
    }

    /// Checks each signature against `known` keys, for display; deciding whether to
    /// apply a command is [`verify`]'s job alone.
    pub fn check_signatures(&self, known: &[XOnlyPublicKey]) -> Vec<SignatureCheck> {
        let secp = crate::secp::verification();
        self.signatures
            .iter()
            .map(|sig| {
                let mut candidates = known
                    .iter()
                    .filter(|k| officer_fingerprint(k) == sig.fingerprint)
                    .peekable();
                let Some(&first) = candidates.peek().copied() else {
                    return SignatureCheck::UnknownKey;
                };
                match candidates.find(|k| self.signature_valid(secp, sig, k)) {
                    Some(key) => SignatureCheck::Valid(*key),
                    None => SignatureCheck::Invalid(first),
                }
            })
            .collect()
    }
}

/// Wraps raw bytes in the text form without checking them: for tools and tests that
/// build commands byte by byte. [`decode_text`] checks everything.
pub fn text_from_bytes(bytes: &[u8]) -> String {
    format!("{TEXT_PREFIX}{}", base32::encode(bytes))
}

/// The officers a signer trusts, fixed at `sluice-signer init`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficerSet {
    pub keys: Vec<XOnlyPublicKey>,
    pub threshold: usize,
}

/// Why a set of officer keys cannot be a signer's officer set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfficerSetError {
    #[error(
        "the officer threshold must be between 1 and the number of officer keys ({keys}), not {threshold}"
    )]
    BadThreshold { threshold: usize, keys: usize },
    #[error("more than {MAX_SIGNATURES} officer keys")]
    TooManyKeys,
    #[error("officer key {fingerprint} is listed twice")]
    DuplicateKey { fingerprint: String },
    #[error("two officer keys share the fingerprint {fingerprint}: have one officer make a new key")]
    FingerprintCollision { fingerprint: String },
}

impl OfficerSet {
    /// A checked officer set: 1 ≤ threshold ≤ keys ≤ 16, keys and their fingerprints
    /// distinct (commands name officers by fingerprint).
    pub fn new(keys: Vec<XOnlyPublicKey>, threshold: usize) -> Result<OfficerSet, OfficerSetError> {
        if keys.len() > MAX_SIGNATURES {
            return Err(OfficerSetError::TooManyKeys);
        }
        if threshold == 0 || threshold > keys.len() {
            return Err(OfficerSetError::BadThreshold {
                threshold,
                keys: keys.len(),
            });
        }
        for (i, key) in keys.iter().enumerate() {
            let fingerprint = officer_fingerprint(key);
            for other in &keys[..i] {
                if other == key {
                    return Err(OfficerSetError::DuplicateKey {
                        fingerprint: hex::encode(fingerprint),
                    });
                }
                if officer_fingerprint(other) == fingerprint {
                    return Err(OfficerSetError::FingerprintCollision {
                        fingerprint: hex::encode(fingerprint),
                    });
                }
            }
        }
        Ok(OfficerSet { keys, threshold })
    }
}

/// A command that passed every check in [`verify`]; only `verify` can make one, so the
/// signer cannot apply an unchecked command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCommand {
    command: LimitCommand,
    signed_by: Vec<XOnlyPublicKey>,
}

impl VerifiedCommand {
    pub fn command(&self) -> &LimitCommand {
        &self.command
    }
    pub fn signed_by(&self) -> &[XOnlyPublicKey] {
        &self.signed_by
    }
}

/// Why a command is refused. Every variant says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("not a Sluice limit command (its text does not start with {TEXT_PREFIX})")]
    NotACommand,
    #[error("malformed limit command: {0}")]
    Malformed(String),
    #[error("this command is for signer {target}, not this signer ({me})")]
    WrongSigner { target: SignerId, me: SignerId },
    #[error("this command is not valid before {not_before} (Unix time); it is now {now}")]
    NotYetValid { not_before: i64, now: i64 },
    #[error("this command expired at {not_after} (Unix time); it is now {now}")]
    Expired { not_after: i64, now: i64 },
    #[error("signature by officer {fingerprint} appears twice")]
    DuplicateOfficer { fingerprint: String },
    #[error("signature by unknown officer key {fingerprint}: not one of this signer's officers")]
    UnknownOfficer { fingerprint: String },
    #[error("signature by officer {fingerprint} does not verify: the command was altered or signed wrongly")]
    InvalidSignature { fingerprint: String },
    #[error("only {valid} valid officer signatures; {needed} are needed")]
    BelowThreshold { valid: usize, needed: usize },
}

/// Reads a command from its QR/text form. Whitespace is ignored and letter case does not
/// matter (keyboard-wedge scanners may add line breaks or lower-case the text); the
/// bytes beneath must be canonical.
pub fn decode_text(text: &str) -> Result<SignedLimitCommand, CommandError> {
    if text.len() > MAX_TEXT_LEN {
        return Err(CommandError::Malformed(format!(
            "{} characters is longer than any limit command",
            text.len()
        )));
    }
    let compact: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let body = compact
        .strip_prefix(TEXT_PREFIX)
        .ok_or(CommandError::NotACommand)?;
    let bytes = base32::decode(body)
        .ok_or_else(|| CommandError::Malformed("not valid base32 after the SLC1 prefix".to_owned()))?;
    SignedLimitCommand::from_bytes(&bytes)
}

/// Checks a command for signer `me` at wall-clock time `now_unix` (seconds). Replay (an
/// id applied before) is the signer's check, against its own records.
///
/// Order: decode; target is `me`; `not_before ≤ now ≤ not_after`; then each signature in
/// turn must name a known officer, not repeat an officer, and verify — the first that
/// fails refuses the whole command (fail closed: an altered command has every signature
/// invalid, and a bad signature next to good ones means someone erred or tampered, so the
/// officers should look before anything is applied); finally the distinct valid
/// signatures must reach the threshold (a threshold of 0 accepts nothing).
pub fn verify(
    text: &str,
    officers: &OfficerSet,
    me: SignerId,
    now_unix: i64,
) -> Result<VerifiedCommand, CommandError> {
    let signed = decode_text(text)?;
    let command = &signed.command;
    if command.signer != me {
        return Err(CommandError::WrongSigner {
            target: command.signer,
            me,
        });
    }
    if now_unix < command.not_before {
        return Err(CommandError::NotYetValid {
            not_before: command.not_before,
            now: now_unix,
        });
    }
    if now_unix > command.not_after {
        return Err(CommandError::Expired {
            not_after: command.not_after,
            now: now_unix,
        });
    }
    let secp = crate::secp::verification();
    let mut signed_by: Vec<XOnlyPublicKey> = Vec::new();
    for (i, sig) in signed.signatures.iter().enumerate() {
        let fingerprint = sig.fingerprint_hex();
        // Normally one key per fingerprint; should two officers' keys collide (officer
        // sets from `OfficerSet::new` cannot), each is tried and the one that verifies
        // counts, so a collision can neither forge nor block a signature.
        let candidates: Vec<&XOnlyPublicKey> = officers
            .keys
            .iter()
            .filter(|k| officer_fingerprint(k) == sig.fingerprint)
            .collect();
        if candidates.is_empty() {
            return Err(CommandError::UnknownOfficer { fingerprint });
        }
        let repeated = signed.signatures[..i]
            .iter()
            .any(|s| s.fingerprint == sig.fingerprint);
        if repeated && candidates.len() == 1 {
            return Err(CommandError::DuplicateOfficer { fingerprint });
        }
        let key = candidates
            .into_iter()
            .find(|k| signed.signature_valid(secp, sig, k))
            .ok_or_else(|| CommandError::InvalidSignature {
                fingerprint: fingerprint.clone(),
            })?;
        if signed_by.contains(key) {
            return Err(CommandError::DuplicateOfficer { fingerprint });
        }
        signed_by.push(*key);
    }
    if officers.threshold == 0 || signed_by.len() < officers.threshold {
        return Err(CommandError::BelowThreshold {
            valid: signed_by.len(),
            needed: officers.threshold.max(1),
        });
    }
    Ok(VerifiedCommand {
        command: signed.command,
        signed_by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn fingerprint_bytes_match_the_printed_fingerprint() {
        let key =
            XOnlyPublicKey::from_str("F9308A019258C31049344F85F89D5229B531C845836F99B08601F113BCE036F9")
                .expect("BIP340 vector 0 key");
        assert_eq!(
            hex::encode(officer_fingerprint(&key)),
            crate::identity::officer_key_fingerprint(&key)
        );
    }

    #[test]
    fn amounts_read_as_people_say_them() {
        assert_eq!(plain_amount(Amount::from_sat(1_000_000_000)), "10");
        assert_eq!(plain_amount(Amount::from_sat(4_000_000)), "0.04");
        assert_eq!(plain_amount(Amount::from_sat(1)), "0.00000001");
        assert_eq!(plain_amount(Amount::from_sat(123_456_789)), "1.23456789");
        assert_eq!(plain_amount(Amount::ZERO), "0");
    }
}

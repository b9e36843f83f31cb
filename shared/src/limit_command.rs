//! Signed limit commands: the paper QR codes with which M of N security officers raise
//! or change a signer's limits.
//!
//! Layout (version 1), all integers big-endian:
//! ```text
//! unsigned part (43 bytes for raise-total):
//!   version u8 = 1 | id [16] | signer id [8] | asset u8 | action u8 | action fields
//!   | not_before u32 | not_after u32              (Unix seconds)
//!   action 1 raise-total: amount u64 (sat)
//!   action 2 set-rate:    amount u64 (sat) | per u32 (seconds) | burst u64 (sat)
//!   action 3 pause, 4 resume: nothing
//! signatures:
//!   count u8 | count × (officer fingerprint [4] | BIP340 signature [64])
//! ```
//! Each signature signs `tagged_hash("sluice/limit-command/v1", unsigned part)`. The text
//! form is `SLC1` followed by RFC 4648 base32 (no padding) of the bytes: only upper-case
//! letters and digits, so a QR code uses its compact alphanumeric mode and a scanner that
//! types it as keystrokes cannot garble it. Exactly one encoding is accepted per command:
//! no trailing bytes, no unknown versions, actions or assets.

use std::time::Duration;

use bitcoin::secp256k1::schnorr::Signature;
use bitcoin::secp256k1::{Keypair, Message, Secp256k1, Verification, XOnlyPublicKey};
use bitcoin::Amount;

use crate::asset::Asset;
use crate::identity::{officer_key_fingerprint, tagged_hash, SignerId};
use crate::limiter::RateLimit;

/// The text prefix of a version-1 command.
pub const TEXT_PREFIX: &str = "SLC1";
const VERSION: u8 = 1;
const HASH_TAG: &str = "sluice/limit-command/v1";
/// No officer set needs more; bounds the work a hostile input can cause.
pub const MAX_SIGNATURES: usize = 16;

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
}

impl LimitAction {
    /// The action in plain words, as printed on the sheet and shown before applying.
    pub fn describe(&self, signer: SignerId, asset: Asset) -> String {
        match self {
            LimitAction::RaiseTotal { amount } => {
                format!(
                    "Allow signer {signer} to sign {} more {asset}",
                    crate::asset::format_btc(*amount).trim_end_matches(" BTC")
                )
            }
            LimitAction::SetRate { rate } => format!(
                "Set signer {signer}'s {asset} rate to {} per {} s, burst {}",
                crate::asset::format_btc(rate.amount),
                rate.per.as_secs(),
                crate::asset::format_btc(rate.burst)
            ),
            LimitAction::Pause => format!("Pause all {asset} signing on signer {signer}"),
            LimitAction::Resume => format!("Resume {asset} signing on signer {signer}"),
        }
    }
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

/// A command with the officer signatures collected so far (not yet verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedLimitCommand {
    pub command: LimitCommand,
    pub signatures: Vec<OfficerSignature>,
}

/// The officers a signer trusts, fixed at `sluice-signer init`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficerSet {
    pub keys: Vec<XOnlyPublicKey>,
    pub threshold: usize,
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
    #[error("not a Sluice limit command")]
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

fn malformed(what: &str) -> CommandError {
    CommandError::Malformed(what.to_owned())
}

fn fingerprint_bytes(key: &XOnlyPublicKey) -> [u8; 4] {
    let mut out = [0u8; 4];
    if let Ok(bytes) = hex::decode(officer_key_fingerprint(key)) {
        out.copy_from_slice(&bytes[..4]);
    }
    out
}

fn u32_time(t: i64, what: &str) -> Result<u32, CommandError> {
    u32::try_from(t).map_err(|_| CommandError::Malformed(format!("{what} must be between 1970 and 2106")))
}

impl LimitCommand {
    /// The canonical unsigned encoding that officers sign.
    pub fn encode(&self) -> Result<Vec<u8>, CommandError> {
        if self.not_after < self.not_before {
            return Err(malformed("not-after is before not-before"));
        }
        let mut out = Vec::with_capacity(64);
        out.push(VERSION);
        out.extend_from_slice(&self.id.0);
        out.extend_from_slice(&self.signer.0);
        out.push(self.asset.code());
        match self.action {
            LimitAction::RaiseTotal { amount } => {
                out.push(1);
                out.extend_from_slice(&amount.to_sat().to_be_bytes());
            }
            LimitAction::SetRate { rate } => {
                out.push(2);
                let per = u32::try_from(rate.per.as_secs()).map_err(|_| malformed("rate period too long"))?;
                if rate.per != Duration::from_secs(u64::from(per)) || per == 0 {
                    return Err(malformed(
                        "the rate period must be a whole number of seconds, at least 1",
                    ));
                }
                out.extend_from_slice(&rate.amount.to_sat().to_be_bytes());
                out.extend_from_slice(&per.to_be_bytes());
                out.extend_from_slice(&rate.burst.to_sat().to_be_bytes());
            }
            LimitAction::Pause => out.push(3),
            LimitAction::Resume => out.push(4),
        }
        out.extend_from_slice(&u32_time(self.not_before, "not-before")?.to_be_bytes());
        out.extend_from_slice(&u32_time(self.not_after, "not-after")?.to_be_bytes());
        Ok(out)
    }

    /// What each officer signs.
    pub fn signing_hash(&self) -> Result<[u8; 32], CommandError> {
        Ok(tagged_hash(HASH_TAG, &self.encode()?))
    }
}

/// Reads big-endian fields from a byte slice, refusing to read past its end.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CommandError> {
        if self.bytes.len() < n {
            return Err(malformed("truncated"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], CommandError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, CommandError> {
        Ok(self.array::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32, CommandError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn amount(&mut self) -> Result<Amount, CommandError> {
        let sat = u64::from_be_bytes(self.array()?);
        let amount = Amount::from_sat(sat);
        if amount > Amount::MAX_MONEY {
            return Err(malformed("amount above 21 million BTC"));
        }
        Ok(amount)
    }
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
        if self.signatures.len() > MAX_SIGNATURES {
            return Err(malformed("too many signatures"));
        }
        let mut out = self.command.encode()?;
        out.push(u8::try_from(self.signatures.len()).map_err(|_| malformed("too many signatures"))?);
        for sig in &self.signatures {
            out.extend_from_slice(&sig.fingerprint);
            out.extend_from_slice(&sig.signature);
        }
        Ok(out)
    }

    /// The QR/text form: `SLC1` + base32.
    pub fn encode_text(&self) -> Result<String, CommandError> {
        Ok(text_from_bytes(&self.to_bytes()?))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<SignedLimitCommand, CommandError> {
        let mut r = Reader { bytes };
        let version = r.u8()?;
        if version != VERSION {
            return Err(CommandError::Malformed(format!(
                "unsupported command version {version}"
            )));
        }
        let id = CommandId(r.array()?);
        let signer = SignerId(r.array()?);
        let asset_code = r.u8()?;
        let asset = Asset::from_code(asset_code)
            .ok_or_else(|| CommandError::Malformed(format!("unknown asset code {asset_code}")))?;
        let action = match r.u8()? {
            1 => LimitAction::RaiseTotal { amount: r.amount()? },
            2 => {
                let amount = r.amount()?;
                let per = r.u32()?;
                let burst = r.amount()?;
                if per == 0 {
                    return Err(malformed("rate period of zero seconds"));
                }
                LimitAction::SetRate {
                    rate: RateLimit {
                        amount,
                        per: Duration::from_secs(u64::from(per)),
                        burst,
                    },
                }
            }
            3 => LimitAction::Pause,
            4 => LimitAction::Resume,
            other => return Err(CommandError::Malformed(format!("unknown action {other}"))),
        };
        let not_before = i64::from(r.u32()?);
        let not_after = i64::from(r.u32()?);
        if not_after < not_before {
            return Err(malformed("not-after is before not-before"));
        }
        let count = usize::from(r.u8()?);
        if count > MAX_SIGNATURES {
            return Err(malformed("too many signatures"));
        }
        let mut signatures = Vec::with_capacity(count);
        for _ in 0..count {
            signatures.push(OfficerSignature {
                fingerprint: r.array()?,
                signature: r.array()?,
            });
        }
        if !r.bytes.is_empty() {
            return Err(malformed("trailing bytes after the signatures"));
        }
        Ok(SignedLimitCommand {
            command: LimitCommand {
                id,
                signer,
                asset,
                action,
                not_before,
                not_after,
            },
            signatures,
        })
    }

    /// Adds `keypair`'s signature (`aux` is fresh randomness for BIP340 signing).
    pub fn sign(&mut self, keypair: &Keypair, aux: [u8; 32]) -> Result<(), CommandError> {
        let key = keypair.x_only_public_key().0;
        let fingerprint = fingerprint_bytes(&key);
        if self.signatures.iter().any(|s| s.fingerprint == fingerprint) {
            return Err(CommandError::DuplicateOfficer {
                fingerprint: hex::encode(fingerprint),
            });
        }
        let msg = Message::from_digest(self.command.signing_hash()?);
        let sig = Secp256k1::signing_only().sign_schnorr_with_aux_rand(&msg, keypair, &aux);
        self.signatures.push(OfficerSignature {
            fingerprint,
            signature: sig.serialize(),
        });
        Ok(())
    }

    /// Whether `sig` is a valid signature of this command by `key`.
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
        sig.fingerprint == fingerprint_bytes(key)
            && secp
                .verify_schnorr(&signature, &Message::from_digest(hash), key)
                .is_ok()
    }
}

/// The text form of command bytes, whatever they hold (tests and fuzzing build edited
/// commands with it; decoding decides whether they are valid).
pub fn text_from_bytes(bytes: &[u8]) -> String {
    format!("{TEXT_PREFIX}{}", base32::encode(bytes))
}

/// Reads a command from its QR/text form (whitespace ignored, any letter case).
pub fn decode_text(text: &str) -> Result<SignedLimitCommand, CommandError> {
    let compact: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let body = compact
        .strip_prefix(TEXT_PREFIX)
        .ok_or(CommandError::NotACommand)?;
    let bytes = base32::decode(body).ok_or_else(|| malformed("not valid base32"))?;
    SignedLimitCommand::from_bytes(&bytes)
}

/// Checks a command for signer `me` at wall-clock time `now_unix` (seconds): target,
/// validity window, then every signature (each must be by a distinct known officer and
/// verify; one bad signature refuses the whole command), then the threshold. Replay (an
/// id applied before) is the signer's check, against its own records.
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
    let secp = Secp256k1::verification_only();
    let mut signed_by: Vec<XOnlyPublicKey> = Vec::new();
    for sig in &signed.signatures {
        let fingerprint = sig.fingerprint_hex();
        let key = officers
            .keys
            .iter()
            .find(|k| fingerprint_bytes(k) == sig.fingerprint)
            .ok_or_else(|| CommandError::UnknownOfficer {
                fingerprint: fingerprint.clone(),
            })?;
        if signed_by.contains(key) {
            return Err(CommandError::DuplicateOfficer { fingerprint });
        }
        if !signed.signature_valid(&secp, sig, key) {
            return Err(CommandError::InvalidSignature { fingerprint });
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

/// RFC 4648 base32 without padding (upper-case alphabet A–Z, 2–7).
mod base32 {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

    pub fn encode(bytes: &[u8]) -> String {
        let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
        let (mut buffer, mut bits) = (0u32, 0u32);
        for &b in bytes {
            buffer = (buffer << 8) | u32::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
            }
        }
        if bits > 0 {
            out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
        }
        out
    }

    /// Decodes canonical unpadded base32: leftover bits must be zero, so each byte
    /// string has exactly one text form.
    pub fn decode(text: &str) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(text.len() * 5 / 8);
        let (mut buffer, mut bits) = (0u32, 0u32);
        for c in text.bytes() {
            let value = ALPHABET.iter().position(|&a| a == c)? as u32;
            buffer = (buffer << 5) | value;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                out.push(((buffer >> bits) & 0xff) as u8);
            }
            buffer &= (1 << bits) - 1;
        }
        if bits >= 5 || buffer != 0 {
            return None;
        }
        Some(out)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn rfc4648_vectors() {
            for (plain, encoded) in [
                ("", ""),
                ("f", "MY"),
                ("fo", "MZXQ"),
                ("foo", "MZXW6"),
                ("foob", "MZXW6YQ"),
                ("fooba", "MZXW6YTB"),
                ("foobar", "MZXW6YTBOI"),
            ] {
                assert_eq!(super::encode(plain.as_bytes()), encoded);
                assert_eq!(super::decode(encoded).unwrap(), plain.as_bytes());
            }
            assert!(super::decode("MZ").is_none(), "non-zero leftover bits");
            assert!(super::decode("M1").is_none());
        }
    }
}

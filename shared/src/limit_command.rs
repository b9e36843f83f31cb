//! Signed limit commands: the paper QR codes with which M of N security officers raise
//! or change a signer's limits.
//!
//! OWNER: helper "limitcmd" — implements this module (issue 3). The types and functions
//! below are what the signer uses; their signatures are fixed, everything else is yours.

use std::time::Duration;

use bitcoin::secp256k1::XOnlyPublicKey;
use bitcoin::Amount;

use crate::asset::Asset;
use crate::identity::SignerId;
use crate::limiter::RateLimit;

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

/// A command with the officer signatures collected so far (not yet verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedLimitCommand {
    pub command: LimitCommand,
    // Signature representation chosen by the implementer.
}

/// Reads a command from its QR/text form.
pub fn decode_text(text: &str) -> Result<SignedLimitCommand, CommandError> {
    let _ = text;
    todo!("limitcmd helper")
}

/// Checks a decoded command for signer `me` at wall-clock time `now_unix` (seconds).
/// Replay (an id applied before) is the signer's check, against its own records.
pub fn verify(
    text: &str,
    officers: &OfficerSet,
    me: SignerId,
    now_unix: i64,
) -> Result<VerifiedCommand, CommandError> {
    let _ = (text, officers, me, now_unix, Duration::ZERO);
    todo!("limitcmd helper")
}

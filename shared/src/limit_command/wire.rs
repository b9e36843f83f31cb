//! The binary layout of a limit command (see the module documentation of
//! [`crate::limit_command`] and `docs/limit-command-format.md`).
//!
//! Every field has a fixed width, so the only ways to write one command twice would be
//! trailing bytes or fields outside their domain; the reader refuses both.

use std::time::Duration;

use bitcoin::hashes::Hash;
use bitcoin::Amount;

use super::{
    network_code, network_from_code, CommandError, CommandId, LimitAction, LimitCommand, OfficerSignature,
    Release, ReleaseDestination, ReleasePurpose, SignedLimitCommand, MAX_SIGNATURES, VERSION,
};
use crate::asset::Asset;
use crate::identity::SignerId;
use crate::limiter::RateLimit;

const ACTION_RAISE_TOTAL: u8 = 1;
const ACTION_SET_RATE: u8 = 2;
const ACTION_PAUSE: u8 = 3;
const ACTION_RESUME: u8 = 4;
const ACTION_RELEASE: u8 = 5;

fn malformed(what: impl Into<String>) -> CommandError {
    CommandError::Malformed(what.into())
}

fn u32_time(t: i64, what: &str) -> Result<u32, CommandError> {
    u32::try_from(t).map_err(|_| malformed(format!("{what} must be between 1970 and 2106")))
}

/// The rules every command obeys, checked when writing and when reading, so that no
/// command with a meaningless field is ever signed or accepted.
pub(super) fn check_fields(command: &LimitCommand) -> Result<(), CommandError> {
    u32_time(command.not_before, "not-before")?;
    u32_time(command.not_after, "not-after")?;
    if command.not_after < command.not_before {
        return Err(malformed("not-after is before not-before"));
    }
    match command.action {
        LimitAction::RaiseTotal { amount } => {
            if amount == Amount::ZERO {
                return Err(malformed("raise-total of zero does nothing"));
            }
            if amount > Amount::MAX_MONEY {
                return Err(malformed("raise-total above 21 million BTC"));
            }
        }
        LimitAction::SetRate { rate } => {
            rate.validate().map_err(|e| malformed(format!("set-rate: {e}")))?;
            let whole_seconds = Duration::from_secs(rate.per.as_secs());
            if rate.per != whole_seconds || u32::try_from(rate.per.as_secs()).is_err() {
                return Err(malformed(
                    "the rate period must be a whole number of seconds that fits 32 bits",
                ));
            }
        }
        LimitAction::Pause | LimitAction::Resume => {}
        LimitAction::Release { release } => {
            if release.amount == Amount::ZERO || release.amount > Amount::MAX_MONEY {
                return Err(malformed("a release names a coin of 1 sat to 21 million BTC"));
            }
            if network_from_code(network_code(release.network)) != Some(release.network) {
                return Err(malformed("a release names an unknown network"));
            }
        }
    }
    Ok(())
}

pub(super) fn encode_unsigned(command: &LimitCommand) -> Result<Vec<u8>, CommandError> {
    check_fields(command)?;
    let mut out = Vec::with_capacity(56);
    out.push(VERSION);
    out.extend_from_slice(&command.id.0);
    out.extend_from_slice(&command.signer.0);
    out.push(command.asset.code());
    match command.action {
        LimitAction::RaiseTotal { amount } => {
            out.push(ACTION_RAISE_TOTAL);
            out.extend_from_slice(&amount.to_sat().to_be_bytes());
        }
        LimitAction::SetRate { rate } => {
            out.push(ACTION_SET_RATE);
            out.extend_from_slice(&rate.amount.to_sat().to_be_bytes());
            let per = u32::try_from(rate.per.as_secs()).map_err(|_| malformed("rate period too long"))?;
            out.extend_from_slice(&per.to_be_bytes());
            out.extend_from_slice(&rate.burst.to_sat().to_be_bytes());
        }
        LimitAction::Pause => out.push(ACTION_PAUSE),
        LimitAction::Resume => out.push(ACTION_RESUME),
        LimitAction::Release { release } => {
            out.push(ACTION_RELEASE);
            out.push(release.purpose.code());
            out.push(network_code(release.network));
            out.extend_from_slice(&release.outpoint.txid.to_byte_array());
            out.extend_from_slice(&release.outpoint.vout.to_be_bytes());
            out.extend_from_slice(&release.amount.to_sat().to_be_bytes());
            out.push(release.destination.kind());
            out.extend_from_slice(release.destination.hash());
        }
    }
    out.extend_from_slice(&u32_time(command.not_before, "not-before")?.to_be_bytes());
    out.extend_from_slice(&u32_time(command.not_after, "not-after")?.to_be_bytes());
    Ok(out)
}

pub(super) fn encode_signed(signed: &SignedLimitCommand) -> Result<Vec<u8>, CommandError> {
    if signed.signatures.len() > MAX_SIGNATURES {
        return Err(malformed(format!("more than {MAX_SIGNATURES} signatures")));
    }
    let mut out = encode_unsigned(&signed.command)?;
    // Cannot fail: MAX_SIGNATURES < 256.
    out.push(u8::try_from(signed.signatures.len()).map_err(|_| malformed("too many signatures"))?);
    for sig in &signed.signatures {
        out.extend_from_slice(&sig.fingerprint);
        out.extend_from_slice(&sig.signature);
    }
    Ok(out)
}

/// Reads big-endian fields from a byte slice, refusing to read past its end.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], CommandError> {
        if self.bytes.len() < n {
            return Err(malformed(format!("truncated in the {field}")));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N], CommandError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    fn u8(&mut self, field: &str) -> Result<u8, CommandError> {
        Ok(self.array::<1>(field)?[0])
    }

    fn u32(&mut self, field: &str) -> Result<u32, CommandError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    fn amount(&mut self, field: &str) -> Result<Amount, CommandError> {
        let amount = Amount::from_sat(u64::from_be_bytes(self.array(field)?));
        if amount > Amount::MAX_MONEY {
            return Err(malformed(format!("{field} above 21 million BTC")));
        }
        Ok(amount)
    }
}

pub(super) fn decode_signed(bytes: &[u8]) -> Result<SignedLimitCommand, CommandError> {
    let mut r = Reader { bytes };
    let version = r.u8("version")?;
    if version != VERSION {
        return Err(malformed(format!(
            "unsupported command version {version} (this software reads version {VERSION})"
        )));
    }
    let id = CommandId(r.array("command id")?);
    let signer = SignerId(r.array("signer id")?);
    let asset_code = r.u8("asset")?;
    let asset =
        Asset::from_code(asset_code).ok_or_else(|| malformed(format!("unknown asset code {asset_code}")))?;
    let action = match r.u8("action")? {
        ACTION_RAISE_TOTAL => LimitAction::RaiseTotal {
            amount: r.amount("raise-total amount")?,
        },
        ACTION_SET_RATE => {
            let amount = r.amount("rate amount")?;
            let per = r.u32("rate period")?;
            let burst = r.amount("burst")?;
            LimitAction::SetRate {
                rate: RateLimit {
                    amount,
                    per: Duration::from_secs(u64::from(per)),
                    burst,
                },
            }
        }
        ACTION_PAUSE => LimitAction::Pause,
        ACTION_RESUME => LimitAction::Resume,
        ACTION_RELEASE => {
            let purpose_code = r.u8("release purpose")?;
            let purpose = ReleasePurpose::from_code(purpose_code)
                .ok_or_else(|| malformed(format!("unknown release purpose {purpose_code}")))?;
            let network_byte = r.u8("release network")?;
            let network = network_from_code(network_byte)
                .ok_or_else(|| malformed(format!("unknown release network {network_byte}")))?;
            let txid = bitcoin::Txid::from_byte_array(r.array("release txid")?);
            let vout = r.u32("release vout")?;
            let amount = r.amount("release amount")?;
            let kind = r.u8("release destination kind")?;
            let len = ReleaseDestination::hash_len(kind)
                .ok_or_else(|| malformed(format!("unknown release destination kind {kind}")))?;
            let destination = ReleaseDestination::from_parts(kind, r.take(len, "release destination")?)
                .ok_or_else(|| malformed("release destination"))?;
            LimitAction::Release {
                release: Release {
                    purpose,
                    network,
                    outpoint: bitcoin::OutPoint { txid, vout },
                    amount,
                    destination,
                },
            }
        }
        other => return Err(malformed(format!("unknown action code {other}"))),
    };
    let not_before = i64::from(r.u32("not-before")?);
    let not_after = i64::from(r.u32("not-after")?);
    let command = LimitCommand {
        id,
        signer,
        asset,
        action,
        not_before,
        not_after,
    };
    check_fields(&command)?;
    let count = usize::from(r.u8("signature count")?);
    if count > MAX_SIGNATURES {
        return Err(malformed(format!(
            "{count} signatures; at most {MAX_SIGNATURES} are allowed"
        )));
    }
    let mut signatures = Vec::with_capacity(count);
    for _ in 0..count {
        signatures.push(OfficerSignature {
            fingerprint: r.array("signature's officer fingerprint")?,
            signature: r.array("signature")?,
        });
    }
    if !r.bytes.is_empty() {
        return Err(malformed(format!(
            "{} trailing bytes after the signatures",
            r.bytes.len()
        )));
    }
    Ok(SignedLimitCommand { command, signatures })
}

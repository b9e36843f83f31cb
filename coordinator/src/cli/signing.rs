//! `signer add|list|deactivate|activate` and `session export|import|bump|abandon|history`:
//! the signers the coordinator knows, carrying a signing session to an offline signer and
//! back (an SD-card file or QR codes), and stuck transactions (fee bump, abandon).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use sluice_shared::identity::SignerId;
use sluice_shared::ur_psbt::PsbtPartDecoder;
use sluice_shared::{qr, qr_scan, sd_card, ur_psbt};

use std::str::FromStr as _;

use bitcoin::psbt::Psbt;
use bitcoin::Amount;
use serde_json::json;
use sluice_shared::signer_api::{SignatureReceipt, SignedSession};

use super::output::{from_reply, print_json, print_sorted_json};
use super::proposals::propose;
use super::ApiSession;
use crate::api::messages::{
    SessionAbandon, SessionBump, SessionHistory, SessionList, SessionPsbt, SignerList,
};
use crate::service::{Change, SessionSummary};
use crate::staff_client::encode_component;
use crate::time::UnixTime;

/// No PSBT file or QR image a session needs comes near this.
const MAX_INPUT_FILE: u64 = 64 * 1024 * 1024;
/// Pixels per QR module in exported frames.
const MODULE_PX: u32 = 4;

#[derive(Debug, Subcommand)]
pub enum SignerCommand {
    /// Propose a signer, by what `sluice-signer id` prints (admin). Only registered,
    /// active signers can fetch sessions and post signatures.
    Add {
        #[arg(long)]
        name: String,
        /// The signer's identity key (x-only, hex).
        #[arg(long, value_name = "HEX")]
        identity_key: String,
        /// The signer's master key fingerprint (8 hex digits).
        #[arg(long, value_name = "FP")]
        fingerprint: String,
        /// Stealth mode: the signer's restricted-discovery key, the `descriptor:x25519:...`
        /// line `sluice-signer id` prints. Only signers with one can discover the signer
        /// API's onion service (`run api --onion`).
        #[arg(long, value_name = "LINE")]
        tor_key: Option<String>,
    },
    /// Propose setting or rotating a signer's restricted-discovery key (`--tor-key LINE`),
    /// or removing it (`--remove`). A running onion service follows within seconds.
    TorKey {
        #[arg(long, value_name = "SIGNER_ID")]
        id: SignerId,
        #[arg(long, value_name = "LINE", required_unless_present = "remove")]
        tor_key: Option<String>,
        #[arg(long, conflicts_with = "tor_key")]
        remove: bool,
    },
    List,
    /// Propose cutting a signer off (its requests are refused once approved).
    Deactivate {
        #[arg(long, value_name = "SIGNER_ID")]
        id: SignerId,
    },
    Activate {
        #[arg(long, value_name = "SIGNER_ID")]
        id: SignerId,
    },
}

#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Write a session's PSBT for an offline signer: a BIP174 file for an SD card
    /// (`--out NAME.psbt`) and/or QR frames (`--out-qr DIR`).
    Export {
        #[arg(long)]
        id: u64,
        #[arg(long, value_name = "FILE", required_unless_present = "out_qr")]
        out: Option<PathBuf>,
        #[arg(long, value_name = "DIR")]
        out_qr: Option<PathBuf>,
    },
    /// Read an offline signer's signed PSBT (`--in NAME-signed.psbt` or `--in-qr IMAGE...`)
    /// and store its signatures, each verified against the session's transaction.
    Import {
        #[arg(long)]
        id: u64,
        #[arg(
            long = "in",
            value_name = "FILE",
            conflicts_with = "in_qr",
            required_unless_present = "in_qr"
        )]
        input: Option<PathBuf>,
        #[arg(long, value_name = "IMAGE", num_args = 1..)]
        in_qr: Vec<PathBuf>,
    },
    /// Replace a stuck session's transaction by a fee bump (approver): a new session that
    /// spends exactly the same inputs and pays the same withdrawals, the higher fee taken
    /// from the change. The signers sign it like any session; whichever of the two
    /// confirms pays the withdrawals, once.
    Bump {
        #[arg(long)]
        id: u64,
        /// The replacement's fee rate in sat/vB; it must beat the current fee by at least
        /// 1 sat/vB of the transaction's size (Bitcoin Core's replacement rule).
        #[arg(long, value_name = "SAT_PER_VB")]
        fee_rate: u64,
    },
    /// Give a session (and its fee bumps) up (approver). Its withdrawals return to the
    /// queue only once a confirmed transaction outside the session spends its inputs; if
    /// the session's own transaction confirms first, they are paid and the abandon is moot.
    Abandon {
        #[arg(long)]
        id: u64,
        #[arg(long)]
        reason: String,
    },
    /// A session's own history: fee bumps, replacement, abandon (who, when, why).
    History {
        #[arg(long)]
        id: u64,
    },
    /// Signing sessions, newest first: the ids `session export` and `history` take.
    List {
        /// Only sessions in this status: open, signed, broadcast, confirmed, abandoned.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One session: its transaction, withdrawals, signatures and block.
    Show {
        #[arg(long)]
        id: u64,
    },
}

pub fn signer(s: &ApiSession, command: &SignerCommand, json: bool) -> Result<()> {
    let change = match command {
        SignerCommand::Add {
            name,
            identity_key,
            fingerprint,
            tor_key,
        } => Change::SignerAdd {
            name: name.clone(),
            identity_key: identity_key.clone(),
            fingerprint: fingerprint.clone(),
            tor_key: tor_key.clone(),
        },
        SignerCommand::TorKey { id, tor_key, .. } => Change::SignerSetTorKey {
            signer_id: id.to_string(),
            tor_key: tor_key.clone(),
        },
        SignerCommand::List => {
            let list: SignerList = from_reply(s.api.get("/v1/signers")?)?;
            if json {
                return print_sorted_json(&list.signers);
            }
            for signer in &list.signers {
                outln!(
                    "{}  {:<20} fingerprint {}  {}{}",
                    signer.id,
                    signer.name,
                    signer.master_fingerprint,
                    if signer.active { "active" } else { "deactivated" },
                    if signer.stealth { "  stealth" } else { "" }
                );
            }
            return Ok(());
        }
        SignerCommand::Deactivate { id } => Change::SignerSetActive {
            signer_id: id.to_string(),
            active: false,
        },
        SignerCommand::Activate { id } => Change::SignerSetActive {
            signer_id: id.to_string(),
            active: true,
        },
    };
    propose(&s.api, &change)
}

fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if size > MAX_INPUT_FILE {
        bail!(
            "{} is {size} bytes: too large for a PSBT or QR image",
            path.display()
        );
    }
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a pulled card or a
/// crash never leaves half a file under the final name.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temp =
        tempfile::NamedTempFile::new_in(dir).with_context(|| format!("writing into {}", dir.display()))?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

pub fn session(s: &ApiSession, command: &SessionCommand, json: bool) -> Result<()> {
    match command {
        SessionCommand::Export { id, out, out_qr } => {
            let exported: SessionPsbt = from_reply(s.api.get(&format!("/v1/sessions/{id}/psbt"))?)?;
            let status = &exported.status;
            if status != "open" {
                bail!("session {id} is {status}: only open sessions need signatures");
            }
            let psbt = Psbt::from_str(&exported.psbt)
                .context("the coordinator API sent a session PSBT that is not base64 BIP174")?;
            let bytes = psbt.serialize();
            if let Some(path) = out {
                write_atomic(path, &bytes)?;
                outln!(
                    "Session {id}: PSBT written to {} ({} bytes).",
                    path.display(),
                    bytes.len()
                );
            }
            if let Some(dir) = out_qr {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
                let frames = ur_psbt::frames_for(&bytes);
                for (i, text) in frames.iter().enumerate() {
                    let png = qr::render_png(text, MODULE_PX)?;
                    write_atomic(&dir.join(format!("session-{id}-frame-{:03}.png", i + 1)), &png)?;
                }
                outln!(
                    "Session {id}: {} QR frame(s) written to {}.",
                    frames.len(),
                    dir.display()
                );
            }
        }
        SessionCommand::Import { id, input, in_qr } => {
            let psbt = match input {
                Some(path) => sd_card::parse_psbt(&read_bounded(path)?, &path.display().to_string())?,
                None => {
                    let mut decoder = PsbtPartDecoder::new();
                    for path in in_qr {
                        let texts = qr_scan::scan_bytes(&read_bounded(path)?)
                            .with_context(|| format!("scanning {}", path.display()))?;
                        for text in texts {
                            decoder.receive(&text).with_context(|| {
                                format!("the QR code in {} is not part of a PSBT", path.display())
                            })?;
                        }
                    }
                    let bytes = decoder.psbt_bytes().context("the scanned QR codes")?;
                    sd_card::parse_psbt(&bytes, "the scanned QR codes")?
                }
            };
            let body = SignedSession {
                psbt: psbt.to_string(),
            };
            let receipt: SignatureReceipt = from_reply(s.api.post(
                &format!("/v1/sessions/{id}/signatures"),
                &serde_json::to_value(&body)?,
            )?)?;
            print_receipt(*id, &receipt)?;
        }
        SessionCommand::Bump { id, fee_rate } => {
            let bump: SessionBump = from_reply(s.api.post(
                &format!("/v1/sessions/{id}/bump"),
                &json!({ "fee_rate_sat_vb": fee_rate }),
            )?)?;
            outln!(
                "Session {}: fee bump of session {id} opened for signing: transaction {}, fee {} (was {}), change {}, about {} vB at {fee_rate} sat/vB.",
                bump.session_id,
                bump.txid,
                Amount::from_sat(bump.fee_sat),
                Amount::from_sat(bump.old_fee_sat),
                Amount::from_sat(bump.change_sat),
                bump.vsize
            );
        }
        SessionCommand::Abandon { id, reason } => {
            let abandon: SessionAbandon = from_reply(s.api.post(
                &format!("/v1/sessions/{id}/abandon"),
                &json!({ "reason": reason }),
            )?)?;
            let root = abandon.session_id;
            outln!(
                "Session {root} (and its fee bumps) is being abandoned: its withdrawals return to the queue once a confirmed transaction spends its inputs instead; its coins stay reserved until then."
            );
        }
        SessionCommand::List { status, limit } => {
            let mut path = format!("/v1/sessions?limit={limit}");
            if let Some(status) = status {
                path.push_str(&format!("&status={}", encode_component(status)));
            }
            let SessionList { sessions } = from_reply(s.api.get(&path)?)?;
            if json {
                print_json(&sessions)?;
            } else {
                for x in &sessions {
                    outln!(
                        "{:>6}  {:<10} {:<12} {} withdrawal(s)  {} signature(s)  txid {}",
                        x.id,
                        x.status,
                        x.wallet,
                        x.withdrawals.len(),
                        x.signatures,
                        x.txid
                    );
                }
            }
        }
        SessionCommand::Show { id } => {
            let x: SessionSummary = from_reply(s.api.get(&format!("/v1/sessions/{id}"))?)?;
            if json {
                print_json(&x)?;
            } else {
                outln!("session {}: {}", x.id, x.status);
                outln!("  wallet       {}", x.wallet);
                outln!("  txid         {}", x.txid);
                outln!("  network fee  {} sat", x.fee_sat);
                if let Some(change) = x.change_sat {
                    outln!("  change       {change} sat");
                }
                let ids: Vec<String> = x.withdrawals.iter().map(u64::to_string).collect();
                outln!("  withdrawals  {}", ids.join(", "));
                outln!(
                    "  signatures   {}{}",
                    x.signatures,
                    if x.signed_by.is_empty() {
                        String::new()
                    } else {
                        format!(" (from {})", x.signed_by.join(", "))
                    }
                );
                if let Some(height) = x.block_height {
                    outln!("  in block     {height}");
                }
                outln!(
                    "  created      {} by {}",
                    UnixTime::from_secs(x.created_at),
                    x.created_by
                );
            }
        }
        SessionCommand::History { id } => {
            let history: SessionHistory = from_reply(s.api.get(&format!("/v1/sessions/{id}/history"))?)?;
            if json {
                return print_sorted_json(&history.events);
            }
            for event in &history.events {
                outln!(
                    "{}  {:<18} {:<16} {}",
                    UnixTime::from_secs(event.recorded_at),
                    event.kind,
                    event.actor,
                    event.note
                );
            }
        }
    }
    Ok(())
}

fn print_receipt(id: u64, receipt: &SignatureReceipt) -> Result<()> {
    outln!(
        "Session {id}: {} new signature(s) stored, {} already known; {}.",
        receipt.stored,
        receipt.already_stored,
        if receipt.session_signed {
            "the session is fully signed"
        } else {
            "more signatures are needed"
        }
    );
    Ok(())
}

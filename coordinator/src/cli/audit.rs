//! `audit verify|head|show`: the tamper-evident audit log (`crate::audit`). These read the
//! database beside them and need no staff token: whoever can read the file can check it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use serde::Serialize;

use super::{open_database, output::print_json, Cli};
use crate::audit::{Entry, Head};
use crate::time::UnixTime;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every entry's link, hash and signature; exits 1 naming the first bad entry.
    Verify {
        /// A head exported earlier by `audit head` and kept elsewhere: also detects entries
        /// removed from the end, or a chain rewritten with the audit key.
        #[arg(long, value_name = "FILE")]
        head: Option<PathBuf>,
    },
    /// Print the newest entry's sequence number, hash and signature as JSON, to keep
    /// somewhere the coordinator's host cannot write (the chain itself is verified first).
    Head,
    /// The newest entries, newest first.
    Show {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Serialize)]
struct EntryView<'a> {
    seq: i64,
    kind: &'a str,
    recorded_at: Option<i64>,
    body: serde_json::Value,
    entry_hash: String,
}

pub fn audit(cli: &Cli, command: &AuditCommand) -> Result<ExitCode> {
    let mut coord = open_database(&cli.db, cli.network)?;
    match command {
        AuditCommand::Verify { head } => {
            let head = match head {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("reading the audit head {}", path.display()))?;
                    Some(Head::parse(&text)?)
                }
                None => None,
            };
            match coord.audit_verify(head.as_ref())? {
                Ok(chain) => {
                    if cli.json {
                        print_json(
                            &serde_json::json!({"ok": true, "entries": chain.entries, "head": chain.head}),
                        )?;
                    } else {
                        let newest = chain
                            .head
                            .map(|h| format!(", newest entry {} ({})", h.seq, h.entry_hash))
                            .unwrap_or_default();
                        outln!("audit log intact: {} entries{newest}", chain.entries);
                        if head.is_none() {
                            outln!("(without --head, entries cut off the end cannot be noticed)");
                        }
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(broken) => {
                    if cli.json {
                        print_json(&serde_json::json!({
                            "ok": false, "code": "audit_chain_broken",
                            "first_bad_entry": broken.seq(), "error": broken.to_string(),
                        }))?;
                    }
                    eprintln!("error [audit_chain_broken]: {broken}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        AuditCommand::Head => match coord.audit_verify(None)? {
            Ok(chain) => {
                let head = chain
                    .head
                    .context("the audit log has no entries yet: nothing to export")?;
                print_json(&head)?;
                Ok(ExitCode::SUCCESS)
            }
            Err(broken) => {
                eprintln!("error [audit_chain_broken]: {broken}; not exporting a head of a broken chain");
                Ok(ExitCode::FAILURE)
            }
        },
        AuditCommand::Show { limit } => {
            let entries = coord.audit_recent(*limit)?;
            if cli.json {
                let views = entries.iter().map(view).collect::<Vec<_>>();
                print_json(&views)?;
            } else {
                for e in &entries {
                    let at = e
                        .recorded_at
                        .map(|t| UnixTime::from_secs(t).to_string())
                        .unwrap_or_else(|| "-".into());
                    outln!("{:>7}  {:<20}  {:<24}  {}", e.seq, at, e.kind, e.body);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn view(e: &Entry) -> EntryView<'_> {
    EntryView {
        seq: e.seq,
        kind: &e.kind,
        recorded_at: e.recorded_at,
        body: serde_json::from_str(&e.body).unwrap_or(serde_json::Value::String(e.body.clone())),
        entry_hash: hex::encode(&e.entry_hash),
    }
}

//! The coordinator's audit heads, fetched and kept by the shadow (issue 12 item 4).
//!
//! The coordinator signs every audit entry with a key on its own host, so whoever holds
//! that host can cut entries off the end of the log, or rewrite it with the key, and its
//! own `audit verify` would still pass. A head kept somewhere the coordinator's host cannot
//! write catches both: the shadow fetches the verified head on every check, checks its
//! signature, and compares it with the newest head it kept:
//!
//! - a head numbered below the kept one: entries were removed (`audit_log_truncated`);
//! - the same number with another hash, or a longer log whose entry at the kept number
//!   has another hash: the log was rewritten (`audit_log_rewritten`);
//! - another signing key than the kept heads': the key was replaced (`audit_key_changed`).
//!
//! Only a head that passes is kept (appended to `audit_heads` in `shadow.sqlite`, never
//! updated or deleted), so after an alarm the kept head still describes the log as it
//! was; `sluice-shadow audit-head` prints it for `sluice-coordinator audit verify --head`.

use std::path::Path;

use anyhow::{Context, Result};
use hyper::StatusCode;
use rusqlite::{params, Connection, OptionalExtension};
use sluice_coordinator::audit::Head;

use crate::crosscheck::Alarm;
use crate::staff_client::{StaffApi, StaffApiError};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS audit_heads (
    seq INTEGER NOT NULL,
    entry_hash TEXT NOT NULL,
    signature TEXT NOT NULL,
    audit_key TEXT NOT NULL,
    fetched_at INTEGER NOT NULL,
    PRIMARY KEY (seq, entry_hash)
);
CREATE TRIGGER IF NOT EXISTS audit_heads_no_update BEFORE UPDATE ON audit_heads
    BEGIN SELECT RAISE(ABORT, 'kept audit heads are never changed'); END;
CREATE TRIGGER IF NOT EXISTS audit_heads_no_delete BEFORE DELETE ON audit_heads
    BEGIN SELECT RAISE(ABORT, 'kept audit heads are never deleted'); END;
"#;

/// The heads the shadow kept, in `shadow.sqlite` (made by `configure`).
#[derive(Debug)]
pub struct KeptHeads {
    conn: Connection,
}

impl KeptHeads {
    pub fn open(path: &Path) -> Result<KeptHeads> {
        if !path.exists() {
            anyhow::bail!(
                "{} is missing: the shadow's records (sweeps, kept audit heads) are gone; restore them from a backup",
                path.display()
            );
        }
        let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "wal")?;
        conn.pragma_update(None, "synchronous", "full")?;
        conn.execute_batch(SCHEMA)?;
        Ok(KeptHeads { conn })
    }

    /// The newest head kept (the highest number).
    pub fn newest(&self) -> Result<Option<Head>> {
        Ok(self
            .conn
            .query_row(
                "SELECT seq, entry_hash, signature, audit_key FROM audit_heads ORDER BY seq DESC, fetched_at DESC LIMIT 1",
                [],
                |r| {
                    Ok(Head {
                        seq: r.get(0)?,
                        entry_hash: r.get(1)?,
                        signature: r.get(2)?,
                        audit_key: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// Keeps `head` (once: the same head fetched again adds nothing).
    fn keep(&self, head: &Head, now: i64) -> Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO audit_heads (seq, entry_hash, signature, audit_key, fetched_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![head.seq, head.entry_hash, head.signature, head.audit_key, now],
        )?;
        Ok(())
    }
}

/// Whether `now` (the coordinator's current head) continues `kept`. `at_kept` is the
/// coordinator's entry at `kept.seq`, asked for only when `now` is further along. Every
/// head given has had its signature checked.
pub fn compare(kept: &Head, now: &Head, at_kept: Option<&Head>) -> Option<Alarm> {
    if now.audit_key != kept.audit_key {
        return Some(Alarm::AuditKeyChanged {
            kept_key: kept.audit_key.clone(),
            now_key: now.audit_key.clone(),
        });
    }
    if now.seq < kept.seq {
        return Some(Alarm::AuditLogTruncated {
            kept_seq: kept.seq,
            now_seq: now.seq,
        });
    }
    let same_entry = if now.seq == kept.seq {
        now.entry_hash == kept.entry_hash
    } else {
        at_kept.is_some_and(|e| e.seq == kept.seq && e.entry_hash == kept.entry_hash)
    };
    (!same_entry).then_some(Alarm::AuditLogRewritten { seq: kept.seq })
}

fn invalid(reason: impl std::fmt::Display) -> Alarm {
    Alarm::AuditHeadInvalid {
        reason: reason.to_string(),
    }
}

/// A head from the coordinator, its signature checked.
fn checked(head: Head) -> Result<Head, Alarm> {
    head.verify_signature()
        .map_err(|e| invalid(format!("entry {}: {e}", head.seq)))?;
    Ok(head)
}

/// One round: fetch the head, compare it with the newest kept one, keep it if it passes.
/// Returns the alarm, if any, and the head now kept (for the status).
pub async fn watch(staff: &StaffApi, kept: &KeptHeads, now_unix: i64) -> (Option<Alarm>, Option<Head>) {
    let newest = match kept.newest() {
        Ok(newest) => newest,
        Err(e) => return (Some(invalid(format!("reading the kept heads: {e:#}"))), None),
    };
    let now = match staff.audit_head().await {
        Ok(Some(head)) => head,
        Ok(None) => return (None, newest),
        Err(StaffApiError::Refused { status, body, .. }) if status == StatusCode::CONFLICT => {
            return (Some(Alarm::AuditChainBroken { reason: body }), newest)
        }
        Err(e) => {
            return (
                Some(Alarm::CheckFailed {
                    reason: e.to_string(),
                }),
                newest,
            )
        }
    };
    let now = match checked(now) {
        Ok(head) => head,
        Err(alarm) => return (Some(alarm), newest),
    };
    if let Some(kept_head) = &newest {
        let at_kept = if now.seq > kept_head.seq && now.audit_key == kept_head.audit_key {
            match staff.audit_entry(kept_head.seq).await.map_err(|e| e.to_string()) {
                Ok(entry) => match checked(entry) {
                    Ok(entry) => Some(entry),
                    Err(alarm) => return (Some(alarm), newest),
                },
                Err(reason) => return (Some(Alarm::CheckFailed { reason }), newest),
            }
        } else {
            None
        };
        if let Some(alarm) = compare(kept_head, &now, at_kept.as_ref()) {
            return (Some(alarm), newest);
        }
    }
    match kept.keep(&now, now_unix) {
        Ok(()) => (None, Some(now)),
        Err(e) => (Some(invalid(format!("keeping the head: {e:#}"))), newest),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failure report
    use super::*;

    fn head(seq: i64, hash: u8, key: u8) -> Head {
        Head {
            seq,
            entry_hash: hex_byte(hash),
            signature: "00".repeat(64),
            audit_key: hex_byte(key),
        }
    }

    fn hex_byte(b: u8) -> String {
        format!("{b:02x}").repeat(32)
    }

    #[test]
    fn a_log_that_grew_through_the_kept_head_passes() {
        let kept = head(10, 1, 7);
        assert_eq!(compare(&kept, &head(10, 1, 7), None), None);
        assert_eq!(compare(&kept, &head(15, 2, 7), Some(&head(10, 1, 7))), None);
    }

    #[test]
    fn entries_cut_off_the_end_are_noticed() {
        assert_eq!(
            compare(&head(10, 1, 7), &head(8, 3, 7), None),
            Some(Alarm::AuditLogTruncated {
                kept_seq: 10,
                now_seq: 8
            })
        );
    }

    #[test]
    fn a_rewritten_log_is_noticed_at_the_same_length_and_when_longer() {
        let kept = head(10, 1, 7);
        let rewritten = Some(Alarm::AuditLogRewritten { seq: 10 });
        assert_eq!(compare(&kept, &head(10, 2, 7), None), rewritten);
        // Cut and grown again past the kept head: the entry there is another one.
        assert_eq!(compare(&kept, &head(12, 4, 7), Some(&head(10, 9, 7))), rewritten);
        // No entry given for a longer log: never a pass.
        assert_eq!(compare(&kept, &head(12, 4, 7), None), rewritten);
    }

    #[test]
    fn another_audit_key_is_noticed() {
        assert!(matches!(
            compare(&head(10, 1, 7), &head(11, 1, 8), None),
            Some(Alarm::AuditKeyChanged { .. })
        ));
    }

    #[test]
    fn kept_heads_are_append_only_and_the_newest_is_the_highest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shadow.sqlite");
        std::fs::write(&path, b"").unwrap();
        let kept = KeptHeads::open(&path).unwrap();
        assert_eq!(kept.newest().unwrap(), None);
        kept.keep(&head(3, 1, 7), 100).unwrap();
        kept.keep(&head(5, 2, 7), 101).unwrap();
        kept.keep(&head(5, 2, 7), 102).unwrap();
        assert_eq!(kept.newest().unwrap(), Some(head(5, 2, 7)));
        assert!(kept.conn.execute("DELETE FROM audit_heads", []).is_err());
        assert!(kept.conn.execute("UPDATE audit_heads SET seq = 9", []).is_err());
    }
}

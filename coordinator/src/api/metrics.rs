//! `GET /metrics` in the Prometheus text exposition format (version 0.0.4): `# HELP` and
//! `# TYPE` before each metric's samples, label values escaped (`\\`, `\"`, `\n`).
//! Pure: a snapshot in, text out.

use std::fmt::Write as _;

use crate::service::OperationsSnapshot;

/// The Content-Type Prometheus expects for this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Text(String);

impl Text {
    fn metric(&mut self, name: &str, help: &str, samples: &[(Option<(&str, &str)>, u64)]) {
        // Writing to a String cannot fail.
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} gauge");
        for (label, value) in samples {
            match label {
                Some((key, v)) => {
                    let _ = writeln!(self.0, "{name}{{{key}=\"{}\"}} {value}", escape_label(v));
                }
                None => {
                    let _ = writeln!(self.0, "{name} {value}");
                }
            }
        }
    }
}

pub fn render(s: &OperationsSnapshot) -> String {
    let mut t = Text(String::new());
    let statuses: Vec<_> = s
        .withdrawals_by_status
        .iter()
        .map(|(status, n)| (Some(("status", status.as_str())), *n))
        .collect();
    t.metric(
        "sluice_withdrawals",
        "Withdrawals in each status (the queue depth per status).",
        &statuses,
    );
    let signers: Vec<_> = s
        .sessions_waiting_by_signer
        .iter()
        .map(|(name, n)| (Some(("signer", name.as_str())), *n))
        .collect();
    t.metric(
        "sluice_sessions_waiting",
        "Open signing sessions each active signer has not signed yet.",
        &signers,
    );
    if let Some((height, applied_at)) = s.last_block {
        t.metric(
            "sluice_chain_last_block_height",
            "Height of the last block the monitor applied.",
            &[(None, height)],
        );
        t.metric(
            "sluice_monitor_lag_seconds",
            "Seconds since the monitor last applied a block.",
            &[(
                None,
                u64::try_from(s.at.secs().saturating_sub(applied_at.secs())).unwrap_or(0),
            )],
        );
    }
    t.metric(
        "sluice_sender_unsent_sessions",
        "Fully signed sessions the sender has not broadcast yet.",
        &[(None, s.unsent_sessions)],
    );
    t.metric(
        "sluice_sender_lag_seconds",
        "Age of the oldest fully signed session not yet broadcast (0 when none).",
        &[(None, s.oldest_unsent_age_secs.unwrap_or(0))],
    );
    t.metric(
        "sluice_unconfirmed_broadcasts",
        "Broadcast transactions not yet in a block.",
        &[(None, s.unconfirmed_broadcasts)],
    );
    t.metric(
        "sluice_unconfirmed_oldest_seconds",
        "Seconds since the oldest unconfirmed transaction was last sent (0 when none).",
        &[(None, s.oldest_unconfirmed_age_secs.unwrap_or(0))],
    );
    t.metric(
        "sluice_audit_log_entries",
        "Entries in the tamper-evident audit log.",
        &[(None, s.audit_entries)],
    );
    let _ = writeln!(
        t.0,
        "# HELP sluice_signer_refusals_total Refusals online signers reported, by signer and reason (rate, exceeds_burst, total_spent, paused, invalid_rate, inspection)."
    );
    let _ = writeln!(t.0, "# TYPE sluice_signer_refusals_total counter");
    for (signer, reason, n) in &s.signer_refusals {
        let _ = writeln!(
            t.0,
            "sluice_signer_refusals_total{{signer=\"{}\",reason=\"{}\"}} {n}",
            escape_label(signer),
            escape_label(reason)
        );
    }
    let paused: Vec<_> = s
        .signers_paused
        .iter()
        .map(|(name, paused)| (Some(("signer", name.as_str())), u64::from(*paused)))
        .collect();
    t.metric(
        "sluice_signer_paused",
        "1 if the signer last reported being paused (and signed nothing since), else 0.",
        &paused,
    );
    t.0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failure report
    use std::collections::BTreeMap;

    use sluice_shared::api::WithdrawalStatus;

    use super::*;
    use crate::time::UnixTime;

    #[test]
    fn label_values_are_escaped() {
        let snapshot = OperationsSnapshot {
            at: UnixTime::from_secs(1_000),
            withdrawals_by_status: vec![(WithdrawalStatus::Approved, 3)],
            sessions_waiting_by_signer: BTreeMap::from([("a \"b\"\\\nc".to_owned(), 2)]),
            last_block: Some((120, UnixTime::from_secs(990))),
            unsent_sessions: 0,
            oldest_unsent_age_secs: None,
            unconfirmed_broadcasts: 1,
            oldest_unconfirmed_age_secs: Some(40),
            audit_entries: 7,
            signer_refusals: vec![("s1".into(), "total_spent".into(), 2)],
            signers_paused: vec![("s1".into(), true), ("s2".into(), false)],
        };
        let text = render(&snapshot);
        assert!(
            text.contains("sluice_withdrawals{status=\"approved\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("sluice_sessions_waiting{signer=\"a \\\"b\\\"\\\\\\nc\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("sluice_monitor_lag_seconds 10\n"), "{text}");
        assert!(text.contains("sluice_unconfirmed_oldest_seconds 40\n"), "{text}");
        assert!(
            text.contains("sluice_signer_refusals_total{signer=\"s1\",reason=\"total_spent\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("sluice_signer_paused{signer=\"s1\"} 1\n"), "{text}");
    }
}

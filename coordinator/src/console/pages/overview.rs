//! The dashboard, deposits and quarantine, and the audit log with its verification.

use maud::html;

use crate::console::layout::{alert, page, sats, when, Viewer};
use crate::db::signer_refusals::LatestRefusal;
use crate::rules::deposits::DepositStatus;
use crate::service::{Coordinator, ServiceError};
use crate::time::UnixTime;

/// Sent but unconfirmed this long is worth an operator's look.
const UNCONFIRMED_ALARM_SECS: u64 = 3 * 3600;
/// Fully signed but not sent this long: the sender is not running or cannot reach the node.
const UNSENT_ALARM_SECS: u64 = 10 * 60;

pub(super) fn dashboard(
    coord: &mut Coordinator,
    viewer: &Viewer<'_>,
    now: UnixTime,
) -> Result<String, ServiceError> {
    let snapshot = coord.operations_snapshot(now)?;
    // Signer details are an admin's read; everyone sees the active signers' backlog.
    let signers = match coord.list_signers(viewer.actor) {
        Ok(signers) => Some(signers),
        Err(ServiceError::Forbidden { .. }) => None,
        Err(e) => return Err(e),
    };
    let contacts = coord.signer_contacts()?;
    let refusals = coord.latest_signer_refusals()?;
    let paused = |name: &str| {
        snapshot
            .signers_paused
            .iter()
            .any(|(signer, paused)| signer == name && *paused)
    };
    let audit = coord.audit_verify(None)?;
    let mut alarms = Vec::new();
    if let Err(broken) = &audit {
        alarms.push(format!("The audit log does not verify: {broken}"));
    }
    if snapshot
        .oldest_unsent_age_secs
        .is_some_and(|age| age >= UNSENT_ALARM_SECS)
    {
        alarms.push(format!(
            "{} signed transaction(s) not sent for over {} minutes: is the sender running?",
            snapshot.unsent_sessions,
            UNSENT_ALARM_SECS / 60
        ));
    }
    if snapshot
        .oldest_unconfirmed_age_secs
        .is_some_and(|age| age >= UNCONFIRMED_ALARM_SECS)
    {
        alarms.push(format!(
            "{} sent transaction(s) unconfirmed for over {} hours: consider a fee bump",
            snapshot.unconfirmed_broadcasts,
            UNCONFIRMED_ALARM_SECS / 3600
        ));
    }
    Ok(page(
        viewer,
        "Dashboard",
        html! {
            h2 { "Alarms" }
            @if alarms.is_empty() { p #alarms.notice { "None." } }
            @for alarm in &alarms { (alert(alarm)) }
            h2 { "Withdrawal queue" }
            div.cards #queue {
                @for (status, n) in &snapshot.withdrawals_by_status {
                    a.card href={ "/withdrawals?status=" (status.as_str()) } {
                        div.n { (n) }
                        div { (status.as_str()) }
                    }
                }
            }
            h2 { "Chain" }
            p #chain-tip {
                @match snapshot.last_block {
                    Some((height, at)) => { "Tip applied by the monitor: block " (height) " at " (at) "." }
                    None => { "The monitor has applied no block yet." }
                }
                " Signed, not sent: " (snapshot.unsent_sessions) ". Sent, unconfirmed: " (snapshot.unconfirmed_broadcasts) "."
            }
            h2 { "Signers" }
            @match &signers {
                Some(signers) if signers.is_empty() => { p { "No signer registered." } }
                Some(signers) => {
                    table #signers {
                        tr { th { "Name" } th { "State" } th { "Last contact" } th { "Paused" } th { "Latest refusal" } th { "Sessions waiting for it" } th { "Fingerprint" } th { "Registered" } }
                        @for signer in signers {
                            tr {
                                td { (signer.name) }
                                td { @if signer.active { "active" } @else { "deactivated" } }
                                td {
                                    @match contacts.get(&signer.id.to_string()) {
                                        Some(at) => { (at) }
                                        None => { "never (offline signer, or not yet)" }
                                    }
                                }
                                (pause_cell(paused(&signer.name)))
                                (refusal_cell(refusals.iter().find(|r| r.signer_name == signer.name)))
                                td { (snapshot.sessions_waiting_by_signer.get(&signer.name).copied().unwrap_or(0)) }
                                td.mono { (signer.master_fingerprint) }
                                td { (signer.created_at) " by " (signer.created_by) }
                            }
                        }
                    }
                }
                None => {
                    table #signers {
                        tr { th { "Active signer" } th { "Paused" } th { "Latest refusal" } th { "Sessions waiting for it" } }
                        @for (name, waiting) in &snapshot.sessions_waiting_by_signer {
                            tr {
                                td { (name) }
                                (pause_cell(paused(name)))
                                (refusal_cell(refusals.iter().find(|r| &r.signer_name == name)))
                                td { (waiting) }
                            }
                        }
                    }
                }
            }
            p { "Last contact is an online signer's last authenticated request (to within 30 s). Online signers report each refusal (limits spent, paused, a transaction their inspection refused); a signer counts as paused when its latest report says so and it has signed nothing since. Offline signers report nothing." }
        },
    ))
}

fn pause_cell(paused: bool) -> maud::Markup {
    html! {
        td.paused {
            @if paused { span.status.paused { "paused" } } @else { "no" }
        }
    }
}

/// A signer's latest refusal: reason, detail, when, and what it held up.
fn refusal_cell(refusal: Option<&LatestRefusal>) -> maud::Markup {
    html! {
        td.refusal {
            @match refusal {
                None => { "none reported" }
                Some(r) => {
                    strong { (r.reason) } " at " (r.reported_at) ", session " (r.session_id)
                    @if !r.withdrawal_ids.is_empty() {
                        " (withdrawal"
                        @if r.withdrawal_ids.len() > 1 { "s" }
                        @for (i, id) in r.withdrawal_ids.iter().enumerate() {
                            @if i > 0 { "," }
                            " " a href={ "/withdrawals/" (id) } { (id) }
                        }
                        ")"
                    }
                    ": " (r.detail)
                }
            }
        }
    }
}

pub(super) fn deposits(
    coord: &mut Coordinator,
    viewer: &Viewer<'_>,
    status: Option<&str>,
) -> Result<String, ServiceError> {
    let status = status
        .map(|s| {
            s.parse::<DepositStatus>()
                .map_err(|e| ServiceError::Invalid(e.to_string()))
        })
        .transpose()?;
    let deposits = coord.deposits(viewer.actor, status, None, 200)?;
    Ok(page(
        viewer,
        "Deposits",
        html! {
            p.filters {
                "Show: " a href="/deposits" { "all" }
                @for s in DepositStatus::ALL {
                    a href={ "/deposits?status=" (s.as_str()) } { (s.as_str()) @if s == DepositStatus::Tagged { " (quarantine)" } }
                }
            }
            @if deposits.is_empty() { p { "No deposits." } } @else {
                table #deposits {
                    tr { th { "Id" } th { "Status" } th { "Customer" } th { "Amount" } th { "Confirmations" } th { "Seen" } }
                    @for d in &deposits {
                        tr {
                            td { a href={ "/deposits/" (d.deposit.id) } { (d.deposit.id) } }
                            td { span class={ "status " (d.deposit.status.as_str()) } { (d.deposit.status.as_str()) } }
                            td { (d.deposit.customer.as_deref().unwrap_or("(unassigned)")) }
                            td { (sats(d.deposit.amount)) }
                            td { (d.confirmations) }
                            td { (d.deposit.first_seen_at) }
                        }
                    }
                }
            }
        },
    ))
}

pub(super) fn deposit(coord: &mut Coordinator, viewer: &Viewer<'_>, id: u64) -> Result<String, ServiceError> {
    let d = coord.deposit(viewer.actor, id)?;
    Ok(page(
        viewer,
        &format!("Deposit {id}"),
        html! {
            table.facts {
                tr { th { "Status" } td { span class={ "status " (d.deposit.status.as_str()) } { (d.deposit.status.as_str()) } } }
                tr { th { "Outpoint" } td.mono { (d.deposit.outpoint) } }
                tr { th { "Address" } td.mono { (d.deposit.address) } }
                tr { th { "Wallet" } td { (d.deposit.wallet) " #" (d.deposit.index) } }
                tr { th { "Customer" } td { (d.deposit.customer.as_deref().unwrap_or("(unassigned)")) } }
                tr { th { "Amount" } td { (sats(d.deposit.amount)) } }
                tr { th { "Confirmations" } td { (d.confirmations) } }
            }
            h2 { "Quarantine tags" }
            @if d.tags.is_empty() { p { "None." } } @else {
                table {
                    tr { th { "Rule" } th { "Detail" } th { "By" } th { "When" } }
                    @for t in &d.tags { tr { td { (t.rule) } td { (t.detail) } td { (t.tagged_by) } td { (t.tagged_at) } } }
                }
            }
            h2 { "History" }
            table {
                tr { th { "When" } th { "What" } th { "Who" } th { "Note" } }
                @for e in &d.events { tr { td { (e.recorded_at) } td { (e.kind) } td { (e.actor) } td { (e.note) } } }
            }
        },
    ))
}

/// The newest entries shown.
const AUDIT_PAGE_ENTRIES: u32 = 100;

pub(super) fn audit(coord: &mut Coordinator, viewer: &Viewer<'_>) -> Result<String, ServiceError> {
    let verified = coord.audit_verify(None)?;
    let entries = coord.audit_recent(AUDIT_PAGE_ENTRIES)?;
    Ok(page(
        viewer,
        "Audit log",
        html! {
            @match &verified {
                Ok(chain) => {
                    p #audit-state.notice {
                        "Verified: " (chain.entries) " entries, each linked to the one before and signed by the audit key."
                        @if let Some(head) = &chain.head { " Head: entry " (head.seq) ", hash " span.mono { (head.entry_hash) } "." }
                    }
                    p { "To detect truncation too, compare with a head exported earlier (" code { "sluice-coordinator audit head" } ", kept off this machine): " code { "audit verify --head FILE" } "." }
                }
                Err(broken) => { p #audit-state.alert { "Broken: " (broken) } }
            }
            table #audit {
                tr { th { "#" } th { "When" } th { "Kind" } th { "Entry" } }
                @for e in &entries {
                    tr {
                        td { (e.seq) }
                        td { @if let Some(at) = e.recorded_at { (when(at)) } }
                        td { (e.kind) }
                        td.mono { (e.body) }
                    }
                }
            }
        },
    ))
}

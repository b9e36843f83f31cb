//! Withdrawals: the list (filter by status) and one withdrawal with its history,
//! approvals, M-of-N progress and the approve/reject forms.

use maud::html;
use sluice_shared::api::WithdrawalStatus;

use crate::console::layout::{csrf_field, page, sats, when, Viewer};
use crate::rules::policy::PolicyState;
use crate::service::{Coordinator, ServiceError, WithdrawalQuery};

pub(super) fn list(
    coord: &mut Coordinator,
    viewer: &Viewer<'_>,
    status: Option<&str>,
) -> Result<String, ServiceError> {
    let status = status
        .map(|s| {
            s.parse::<WithdrawalStatus>()
                .map_err(|e| ServiceError::Invalid(e.to_string()))
        })
        .transpose()?;
    let query = WithdrawalQuery {
        status,
        ..WithdrawalQuery::default()
    };
    let list = coord.list_withdrawals(viewer.actor, &query)?;
    Ok(page(
        viewer,
        "Withdrawals",
        html! {
            p.filters {
                "Show: " a href="/withdrawals" { "all" }
                @for s in WithdrawalStatus::ALL {
                    a href={ "/withdrawals?status=" (s.as_str()) } { (s.as_str()) }
                }
            }
            @if list.withdrawals.is_empty() {
                p { "No withdrawals" @if let Some(s) = status { " with status " (s.as_str()) } "." }
            } @else {
                table #withdrawals {
                    tr { th { "Id" } th { "Status" } th { "Customer" } th { "Amount" } th { "Destination" } th { "Requested by" } th { "Updated" } }
                    @for w in &list.withdrawals {
                        tr {
                            td { a href={ "/withdrawals/" (w.id) } { (w.id) } }
                            td { span class={ "status " (w.status.as_str()) } { (w.status.as_str()) } }
                            td { (w.customer_id) }
                            td { (sats(w.amount_sat)) }
                            td.mono { (w.destination) }
                            td { (w.requested_by) }
                            td { (when(w.updated_at)) }
                        }
                    }
                }
            }
        },
    ))
}

pub(super) fn detail(coord: &mut Coordinator, viewer: &Viewer<'_>, id: u64) -> Result<String, ServiceError> {
    let detail = coord.withdrawal(viewer.actor, id)?;
    let progress = coord.approval_progress(viewer.actor, id)?;
    let w = &detail.withdrawal;
    let session = match w.session_id {
        Some(session) => Some(coord.session_summary(viewer.actor, session)?),
        None => None,
    };
    let tip = coord.monitor_tip()?.map(|(height, _)| u64::from(height));
    let confirmations = |height: Option<u64>| match (height, tip) {
        (Some(height), Some(tip)) if tip >= height => tip - height + 1,
        _ => 0,
    };
    Ok(page(
        viewer,
        &format!("Withdrawal {id}"),
        html! {
            table.facts {
                tr { th { "Status" } td { span #status class={ "status " (w.status.as_str()) } { (w.status.as_str()) } } }
                tr { th { "Customer" } td { (w.customer_id) } }
                tr { th { "Wallet" } td { (w.wallet) } }
                tr { th { "Amount" } td { (sats(w.amount_sat)) } }
                tr { th { "Fee charged" } td { (sats(w.fee_sat)) } }
                tr { th { "Destination" } td.mono { (w.destination) } }
                tr { th { "Requested by" } td { (w.requested_by) " at " (when(w.created_at)) } }
                @if let Some(txid) = &w.txid {
                    tr { th { "Transaction" } td.mono #txid { (txid) } }
                }
                @if let Some(session) = &session {
                    tr { th { "Signing session" } td { (session.id) " (" (session.status) ")" } }
                    tr { th { "Signatures" } td { (session.signatures) " collected, from: " (session.signed_by.join(", ")) } }
                    tr { th { "Confirmations" } td #confirmations { (confirmations(session.block_height)) } }
                }
            }
            @if let Some((state, policy)) = &progress {
                h2 { "Approval" }
                p #progress {
                    @match state {
                        PolicyState::Pending { have, need } => { (have) " of " (need) " approvals (" (policy) ")" }
                        PolicyState::Satisfied(_) => { "Policy met (" (policy) ")" }
                        PolicyState::Unreachable(why) => { "Cannot be approved: " (why) }
                    }
                }
                form.inline method="post" action={ "/withdrawals/" (id) "/approve" } {
                    (csrf_field(viewer.csrf))
                    button #approve type="submit" { "Approve" }
                }
                form.inline method="post" action={ "/withdrawals/" (id) "/reject" } {
                    (csrf_field(viewer.csrf))
                    input #reason type="text" name="reason" placeholder="Reason (required)" required;
                    " "
                    button.danger #reject type="submit" { "Reject" }
                }
            }
            h2 { "Approvals" }
            @if detail.approvals.is_empty() { p { "None yet." } } @else {
                table #approvals {
                    tr { th { "By" } th { "How" } th { "When" } }
                    @for a in &detail.approvals {
                        tr {
                            td { (a.approver.as_deref().unwrap_or("automatic rule")) }
                            td { (a.method.as_str()) @if let Some(d) = &a.detail { " — " (d) } }
                            td { (when(a.approved_at)) }
                        }
                    }
                }
            }
            h2 { "History" }
            table #history {
                tr { th { "When" } th { "What" } th { "Who" } th { "Reason" } }
                @for e in &detail.history {
                    tr { td { (when(e.recorded_at)) } td { (e.kind.as_str()) } td { (e.actor) } td { (e.reason.as_deref().unwrap_or("")) } }
                }
            }
        },
    ))
}

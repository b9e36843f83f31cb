//! Proposals (four-eyes admin changes) and staff administration.

use maud::html;
use rand::rngs::OsRng;

use crate::console::http::Form;
use crate::console::layout::{csrf_field, notice, page, when, Viewer};
use crate::console::Outcome;
use crate::rules::roles::Role;
use crate::service::{Applied, Change, Coordinator, ServiceError};
use crate::time::UnixTime;

const PROPOSALS_SHOWN: u32 = 100;

pub(super) fn proposals(
    coord: &mut Coordinator,
    viewer: &Viewer<'_>,
    now: UnixTime,
    shown_once: Option<maud::Markup>,
) -> Result<String, ServiceError> {
    let proposals = coord.list_proposals(viewer.actor, PROPOSALS_SHOWN, now)?;
    Ok(page(
        viewer,
        "Proposals",
        html! {
            @if let Some(shown) = shown_once { (shown) }
            p { "Admin changes take two admins: one proposes, another approves. Propose staff changes on the " a href="/staff" { "staff page" } "." }
            @if proposals.is_empty() { p { "No proposals." } } @else {
                table #proposals {
                    tr { th { "Id" } th { "Change" } th { "Proposed by" } th { "Status" } th { "Decision" } }
                    @for p in &proposals {
                        tr id={ "proposal-" (p.id) } {
                            td { (p.id) }
                            td { (p.summary) }
                            td { (p.proposed_by) " at " (when(p.proposed_at)) }
                            td { span class={ "status " (p.status) } { (p.status) } }
                            td {
                                @if p.status == "pending" {
                                    form.inline method="post" action={ "/proposals/" (p.id) "/approve" } {
                                        (csrf_field(viewer.csrf))
                                        button.approve type="submit" { "Approve" }
                                    }
                                    form.inline method="post" action={ "/proposals/" (p.id) "/reject" } {
                                        (csrf_field(viewer.csrf))
                                        input type="text" name="reason" placeholder="Reason" required;
                                        " "
                                        button.danger type="submit" { "Reject" }
                                    }
                                } @else {
                                    (p.decided_by.as_deref().unwrap_or(""))
                                    @if let Some(reason) = &p.reason { ": " (reason) }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

pub(super) fn approve_proposal(
    coord: &mut Coordinator,
    viewer: &Viewer<'_>,
    id: u64,
    now: UnixTime,
) -> Result<Outcome, ServiceError> {
    let (_, applied) = coord.approve_proposal(viewer.actor, id, &mut OsRng, now)?;
    let shown = match &applied {
        // The enrollment secret goes to the approving admin, once, to hand over.
        Applied::Enrollment { staff, secret } => {
            let text = secret.reveal();
            html! {
                (notice(&format!("Proposal {id} applied. Hand this enrollment secret to {staff} over a safe channel; it is shown once, and they enroll at /enroll.")))
                p.secret #enrollment-secret { (text.as_str()) }
            }
        }
        _ => notice(&format!("Proposal {id} applied.")),
    };
    proposals(coord, viewer, now, Some(shown)).map(Outcome::Page)
}

pub(super) fn staff(coord: &mut Coordinator, viewer: &Viewer<'_>) -> Result<String, ServiceError> {
    let members = coord.list_staff(viewer.actor)?;
    Ok(page(
        viewer,
        "Staff",
        html! {
            table #staff {
                tr { th { "Name" } th { "Role" } th { "State" } th { "Added" } }
                @for m in &members {
                    tr {
                        td { (m.name) }
                        td { (m.role.as_str()) }
                        td { @if m.active { "active" } @else { "deactivated" } }
                        td { (m.created_at) @if let Some(by) = &m.created_by { " by " (by) } }
                    }
                }
            }
            h2 { "Propose a new staff member" }
            form.stack #add-staff method="post" action="/staff/add" {
                (csrf_field(viewer.csrf))
                label for="new-name" { "Name" }
                input #new-name type="text" name="name" required;
                label for="new-role" { "Role" }
                select #new-role name="role" {
                    @for role in ["requester", "approver", "admin", "compliance"] { option value=(role) { (role) } }
                }
                button #propose-add type="submit" { "Propose" }
            }
            h2 { "Propose deactivating a staff member" }
            form.stack #deactivate-staff method="post" action="/staff/deactivate" {
                (csrf_field(viewer.csrf))
                label for="deactivate-name" { "Name" }
                select #deactivate-name name="name" {
                    @for m in members.iter().filter(|m| m.active) { option value=(m.name) { (m.name) } }
                }
                button.danger #propose-deactivate type="submit" { "Propose deactivation" }
            }
        },
    ))
}

pub(super) fn propose_staff(
    coord: &mut Coordinator,
    viewer: &Viewer<'_>,
    form: &Form,
    now: UnixTime,
) -> Result<Outcome, ServiceError> {
    let role: Role = form
        .get("role")
        .parse()
        .map_err(|_| ServiceError::Invalid(format!("unknown role {:?}", form.get("role"))))?;
    let change = Change::StaffAdd {
        name: form.get("name").to_owned(),
        role,
    };
    coord.propose(viewer.actor, &change, &mut OsRng, now)?;
    Ok(Outcome::Redirect("/proposals".to_owned()))
}

pub(super) fn propose_deactivate(
    coord: &mut Coordinator,
    viewer: &Viewer<'_>,
    form: &Form,
    now: UnixTime,
) -> Result<Outcome, ServiceError> {
    let change = Change::StaffSetActive {
        name: form.get("name").to_owned(),
        active: false,
    };
    coord.propose(viewer.actor, &change, &mut OsRng, now)?;
    Ok(Outcome::Redirect("/proposals".to_owned()))
}

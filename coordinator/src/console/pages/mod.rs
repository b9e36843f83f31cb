//! The signed-in pages and actions. Each reads or changes state only through `service`
//! operations, as the viewer's `Actor`.

mod admin;
mod overview;
mod withdrawals;

use maud::html;

use super::http::Form;
use super::layout::{alert, page, Viewer};
use super::{Action, Outcome, View};
use crate::service::{Coordinator, ErrorKind, ServiceError};
use crate::time::UnixTime;

/// A refusal the viewer should read (a rule said no, or the input was wrong), shown
/// inside the usual frame; anything else (not signed in, internal) goes up.
fn refused(viewer: &Viewer<'_>, outcome: Result<Outcome, ServiceError>) -> Result<Outcome, ServiceError> {
    match outcome {
        Err(e) if !matches!(e.kind(), ErrorKind::Unauthenticated | ErrorKind::Internal) => {
            let body = page(
                viewer,
                "Refused",
                html! {
                    (alert(&e.to_string()))
                    p { a href="/" { "Back to the dashboard" } }
                },
            );
            Ok(Outcome::Refused(e.kind(), body))
        }
        other => other,
    }
}

pub(super) fn view(
    coord: &mut Coordinator,
    viewer: &Viewer<'_>,
    view: &View,
    now: UnixTime,
) -> Result<Outcome, ServiceError> {
    refused(viewer, render(coord, viewer, view, now).map(Outcome::Page))
}

fn render(
    coord: &mut Coordinator,
    viewer: &Viewer<'_>,
    view: &View,
    now: UnixTime,
) -> Result<String, ServiceError> {
    match view {
        View::Dashboard => overview::dashboard(coord, viewer, now),
        View::Withdrawals(status) => withdrawals::list(coord, viewer, status.as_deref()),
        View::Withdrawal(id) => withdrawals::detail(coord, viewer, *id),
        View::Proposals => admin::proposals(coord, viewer, now, None),
        View::Deposits(status) => overview::deposits(coord, viewer, status.as_deref()),
        View::Deposit(id) => overview::deposit(coord, viewer, *id),
        View::Audit => overview::audit(coord, viewer),
        View::Staff => admin::staff(coord, viewer),
    }
}

pub(super) fn act(
    coord: &mut Coordinator,
    viewer: &Viewer<'_>,
    action: &Action,
    form: Form,
    now: UnixTime,
) -> Result<Outcome, ServiceError> {
    refused(viewer, take(coord, viewer, action, form, now))
}

fn take(
    coord: &mut Coordinator,
    viewer: &Viewer<'_>,
    action: &Action,
    form: Form,
    now: UnixTime,
) -> Result<Outcome, ServiceError> {
    match action {
        // Handled before an actor is looked up.
        Action::SignOut => Ok(Outcome::Redirect("/sign-in".to_owned())),
        Action::Approve(id) => {
            coord.approve(viewer.actor, *id, now)?;
            Ok(Outcome::Redirect(format!("/withdrawals/{id}")))
        }
        Action::Reject(id) => {
            coord.reject(viewer.actor, *id, form.get("reason"), now)?;
            Ok(Outcome::Redirect(format!("/withdrawals/{id}")))
        }
        Action::ApproveProposal(id) => admin::approve_proposal(coord, viewer, *id, now),
        Action::RejectProposal(id) => {
            coord.reject_proposal(viewer.actor, *id, form.get("reason"), now)?;
            Ok(Outcome::Redirect("/proposals".to_owned()))
        }
        Action::ProposeStaff => admin::propose_staff(coord, viewer, &form, now),
        Action::ProposeDeactivate => admin::propose_deactivate(coord, viewer, &form, now),
    }
}

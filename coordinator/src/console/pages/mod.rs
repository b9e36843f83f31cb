//! The signed-in pages and actions. Each reads or changes state only through `service`
//! operations, as the viewer's `Actor`.

mod admin;
mod overview;
mod withdrawals;

use super::http::Form;
use super::layout::Viewer;
use super::{Action, Outcome, View};
use crate::service::{Coordinator, ServiceError};
use crate::time::UnixTime;

pub(super) fn view(
    coord: &mut Coordinator,
    viewer: &Viewer<'_>,
    view: &View,
    now: UnixTime,
) -> Result<String, ServiceError> {
    match view {
        View::Dashboard => overview::dashboard(coord, viewer, now),
        View::Withdrawals(status) => withdrawals::list(coord, viewer, status.as_deref()),
        View::Withdrawal(id) => withdrawals::detail(coord, viewer, *id, None),
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

//! `/v1/proposals` (admin) and `/v1/staff/enroll` (the holder of an enrollment secret):
//!
//! | method | path | who |
//! |---|---|---|
//! | GET | /v1/proposals[?limit=] | admin |
//! | POST | /v1/proposals (a `Change` as JSON, e.g. `{"change": "staff_add", "name": ..., "role": ...}`) | admin |
//! | GET | /v1/proposals/{id} | admin |
//! | POST | /v1/proposals/{id}/approve | admin, not the proposer |
//! | POST | /v1/proposals/{id}/reject (`{"reason": ...}`) | admin |
//! | POST | /v1/staff/enroll (`{"secret": ...}`), no bearer token | the secret's holder |

use hyper::StatusCode;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sluice_shared::api::RejectWithdrawal;

use super::{parse_json, Failure};
use crate::api::reply::{json, Reply};
use crate::service::{Actor, Applied, Change, Coordinator, CreatedWallet, EnrollmentSecret, Preview};
use crate::time::UnixTime;

/// `POST /v1/staff/enroll`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EnrollRequest {
    secret: String,
}

#[derive(Serialize)]
struct EnrollReply<'a> {
    staff: &'a str,
    token: &'a str,
}

/// What an approval produced, as JSON. An enrollment secret goes to the approving admin
/// (to hand over); the token it is exchanged for never passes through an admin.
fn applied_json(applied: &Applied) -> Value {
    match applied {
        Applied::Enrollment { staff, secret } => json!({
            "kind": "enrollment",
            "staff": staff,
            "enrollment_secret": secret.reveal().as_str(),
        }),
        Applied::Wallet(created) => wallet_json(created),
        Applied::Signer(id) => json!({"kind": "signer", "signer_id": id.to_string()}),
        Applied::Beneficiary(address) => json!({"kind": "beneficiary", "address": address}),
        Applied::Done => json!({"kind": "done"}),
    }
}

fn wallet_json(created: &CreatedWallet) -> Value {
    json!({
        "kind": "wallet",
        "name": created.name,
        "wallet_kind": created.kind,
        "wallet_id": created.wallet_id,
        "descriptor": created.multipath_descriptor,
        "receive_descriptor": created.receive_descriptor,
        "change_descriptor": created.change_descriptor,
    })
}

/// What a proposal will do once approved, as its dry run showed (never a secret).
fn preview_json(preview: &Preview) -> Value {
    match preview {
        Preview::Wallet(created) => wallet_json(created),
        Preview::Signer(id) => json!({"kind": "signer", "signer_id": id.to_string()}),
        Preview::Beneficiary(address) => json!({"kind": "beneficiary", "address": address}),
        Preview::Nothing => json!({"kind": "nothing"}),
    }
}

pub(super) fn list(
    coord: &mut Coordinator,
    actor: &Actor,
    limit: u32,
    now: UnixTime,
) -> Result<Reply, Failure> {
    let proposals = coord.list_proposals(actor, limit, now)?;
    Ok(json(StatusCode::OK, &json!({ "proposals": proposals })))
}

pub(super) fn create(
    coord: &mut Coordinator,
    actor: &Actor,
    body: &[u8],
    now: UnixTime,
) -> Result<Reply, Failure> {
    let change: Change = parse_json(body, None)?;
    let proposed = coord.propose(actor, &change, &mut OsRng, now)?;
    // The proposal's fields, and what it will do (`preview`).
    let mut reply = serde_json::to_value(&proposed.proposal)
        .map_err(|e| super::bad_request("internal", &format!("could not encode the proposal: {e}")))?;
    if let Value::Object(fields) = &mut reply {
        fields.insert("preview".into(), preview_json(&proposed.preview));
    }
    Ok(json(StatusCode::CREATED, &reply))
}

pub(super) fn get(coord: &mut Coordinator, actor: &Actor, id: u64, now: UnixTime) -> Result<Reply, Failure> {
    Ok(json(StatusCode::OK, &coord.proposal(actor, id, now)?))
}

pub(super) fn approve(
    coord: &mut Coordinator,
    actor: &Actor,
    id: u64,
    body: &[u8],
    now: UnixTime,
) -> Result<Reply, Failure> {
    let Empty {} = parse_json(body, Some(Empty {}))?;
    let (proposal, applied) = coord.approve_proposal(actor, id, &mut OsRng, now)?;
    Ok(json(
        StatusCode::OK,
        &json!({"proposal": proposal, "applied": applied_json(&applied)}),
    ))
}

pub(super) fn reject(
    coord: &mut Coordinator,
    actor: &Actor,
    id: u64,
    body: &[u8],
    now: UnixTime,
) -> Result<Reply, Failure> {
    let RejectWithdrawal { reason } = parse_json(body, None)?;
    Ok(json(
        StatusCode::OK,
        &coord.reject_proposal(actor, id, &reason, now)?,
    ))
}

/// The secret is the credential here: an unknown one is answered 401.
pub(super) fn enroll(
    coord: &mut Coordinator,
    request: &EnrollRequest,
    now: UnixTime,
) -> Result<Reply, Failure> {
    let secret = EnrollmentSecret::parse(&request.secret)
        .map_err(|e| super::bad_request("invalid_enrollment_secret", &e.to_string()))?;
    let (name, token) = coord.enroll(&secret, &mut OsRng, now)?;
    let text = token.reveal();
    Ok(json(
        StatusCode::OK,
        &EnrollReply {
            staff: &name,
            token: text.as_str(),
        },
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

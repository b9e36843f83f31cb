//! Staff, customers and the configuration as admins read it (changes that can move money
//! are proposals, `proposals`):
//!
//! | method | path | who |
//! |---|---|---|
//! | GET | /v1/staff | admin |
//! | GET | /v1/customers | admin |
//! | POST | /v1/customers (`{"customer_id": C}`): add an active customer | admin |
//! | POST | /v1/customers/suspend or /activate (`{"customer_id": C}`) | admin |
//! | GET | /v1/beneficiaries[?customer=C] | admin |
//! | GET | /v1/fees[?asset=BTC] | any staff |
//! | GET | /v1/risk | any staff |
//! | GET | /v1/admin-log[?limit=N] | admin |
//! | GET | /v1/webhook-deliveries[?limit=N] | any staff |
//! | POST | /v1/restore-release (`{"note": ...}`) | admin |

use hyper::StatusCode;
use sluice_shared::asset::Asset;

use super::{bad_request, no_query, parse_json, query_pairs, Failure};
use crate::api::messages::{
    AdminEventView, AdminLog, BeneficiaryList, BeneficiaryView, CustomerChanged, CustomerList,
    CustomerRequest, CustomerView, RestoreRelease, RestoreReleased, StaffList, StaffView, WebhookDeliveries,
};
use crate::api::reply::{json, Reply};
use crate::rules::fees::FeeSchedule;
use crate::rules::intake::CustomerStatus;
use crate::service::{Actor, Coordinator};
use crate::time::UnixTime;

/// The most entries one listing returns when the request names no limit.
const DEFAULT_LIMIT: u32 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AdminRoute {
    Staff,
    Customers,
    AddCustomer,
    SetCustomerStatus(CustomerStatus),
    Beneficiaries,
    Fees,
    Risk,
    AdminLog,
    WebhookDeliveries,
    RestoreRelease,
}

impl AdminRoute {
    /// Whether the request carries a JSON body (exhaustive: a new route must say).
    pub(super) fn has_body(self) -> bool {
        match self {
            AdminRoute::AddCustomer | AdminRoute::SetCustomerStatus(_) | AdminRoute::RestoreRelease => true,
            AdminRoute::Staff
            | AdminRoute::Customers
            | AdminRoute::Beneficiaries
            | AdminRoute::Fees
            | AdminRoute::Risk
            | AdminRoute::AdminLog
            | AdminRoute::WebhookDeliveries => false,
        }
    }
}

/// `?limit=N`, the only parameter of the log listings.
fn limit(query: Option<&str>) -> Result<u32, Failure> {
    let mut limit = DEFAULT_LIMIT;
    for (_, value) in query_pairs(query, &["limit"])? {
        limit = value
            .parse::<u32>()
            .map_err(|_| bad_request("invalid_query", "limit must be a whole number"))?;
    }
    Ok(limit)
}

pub(super) fn execute(
    coord: &mut Coordinator,
    actor: &Actor,
    route: AdminRoute,
    body: Result<bytes::Bytes, Failure>,
    query: Option<&str>,
    now: UnixTime,
) -> Result<Reply, Failure> {
    match route {
        AdminRoute::Staff => {
            no_query(query, "/v1/staff")?;
            let staff = coord.list_staff(actor)?.iter().map(StaffView::from).collect();
            Ok(json(StatusCode::OK, &StaffList { staff }))
        }
        AdminRoute::Customers => {
            no_query(query, "/v1/customers")?;
            let mut customers = Vec::new();
            for c in coord.list_customers(actor)? {
                let kyc = coord.customer_kyc(actor, &c.id)?;
                customers.push(CustomerView {
                    id: c.id,
                    status: c.status.as_str().to_owned(),
                    created_at: c.created_at.secs(),
                    kyc_standing: kyc.status.standing(now).as_str().to_owned(),
                });
            }
            Ok(json(StatusCode::OK, &CustomerList { customers }))
        }
        AdminRoute::AddCustomer => {
            let CustomerRequest { customer_id } = parse_json(&body?, None)?;
            coord.add_customer(actor, &customer_id, now)?;
            Ok(json(
                StatusCode::CREATED,
                &CustomerChanged {
                    customer_id,
                    status: CustomerStatus::Active.as_str().to_owned(),
                },
            ))
        }
        AdminRoute::SetCustomerStatus(status) => {
            let CustomerRequest { customer_id } = parse_json(&body?, None)?;
            coord.set_customer_status(actor, &customer_id, status, now)?;
            Ok(json(
                StatusCode::OK,
                &CustomerChanged {
                    customer_id,
                    status: status.as_str().to_owned(),
                },
            ))
        }
        AdminRoute::Beneficiaries => {
            let mut customer = None;
            for (_, value) in query_pairs(query, &["customer"])? {
                customer = Some(value);
            }
            let beneficiaries = coord
                .list_beneficiaries(actor, customer.as_deref())?
                .iter()
                .map(BeneficiaryView::from)
                .collect();
            Ok(json(StatusCode::OK, &BeneficiaryList { beneficiaries }))
        }
        AdminRoute::Fees => {
            let mut asset = Asset::Btc;
            for (_, value) in query_pairs(query, &["asset"])? {
                asset = value
                    .parse()
                    .map_err(|e| bad_request("invalid_query", &format!("asset: {e}")))?;
            }
            // Any staff member may read the fee customers are charged; the route has
            // authenticated the caller.
            let schedule = coord.fee_schedule(asset)?;
            Ok(json(StatusCode::OK, &fees_json(asset, schedule)))
        }
        AdminRoute::Risk => {
            no_query(query, "/v1/risk")?;
            Ok(json(StatusCode::OK, &coord.risk_settings(actor)?))
        }
        AdminRoute::AdminLog => {
            let events = coord
                .admin_log(actor, limit(query)?)?
                .iter()
                .map(AdminEventView::from)
                .collect();
            Ok(json(StatusCode::OK, &AdminLog { events }))
        }
        AdminRoute::WebhookDeliveries => {
            let deliveries = coord.webhook_deliveries(actor, limit(query)?)?;
            Ok(json(StatusCode::OK, &WebhookDeliveries { deliveries }))
        }
        AdminRoute::RestoreRelease => {
            let RestoreRelease { note } = parse_json(&body?, None)?;
            let released = coord.release_restore_hold(actor, &note, now)?;
            Ok(json(StatusCode::OK, &RestoreReleased { released }))
        }
    }
}

/// `GET /v1/fees`: the asset, its schedule (none: withdrawals are refused) and the
/// schedule in words.
fn fees_json(asset: Asset, schedule: Option<FeeSchedule>) -> serde_json::Value {
    serde_json::json!({
        "asset": asset.to_string(),
        "schedule": schedule.map(|f| match f {
            FeeSchedule::Flat(amount) => serde_json::json!({"kind": "flat", "flat_sat": amount.to_sat()}),
            FeeSchedule::Percent { basis_points } => {
                serde_json::json!({"kind": "percent", "basis_points": basis_points})
            }
        }),
        "description": schedule.map(|f| f.describe()),
    })
}

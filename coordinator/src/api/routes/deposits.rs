//! The deposit and compliance routes:
//!
//! | method | path | who |
//! |---|---|---|
//! | POST | /v1/deposit-addresses (`{"wallet": W, "customer_id": C}`) | requester |
//! | GET | /v1/deposit-addresses[?wallet=W&customer=C] | any staff (the shadow reads it) |
//! | GET | /v1/deposit-wallets | any staff |
//! | GET | /v1/deposits[?status=S&customer=C&limit=N] | any staff (the shadow reads it) |
//! | GET | /v1/deposits/{id} | any staff |
//! | GET | /v1/unconfirmed-deposits[?customer=C] | any staff (payments still in the mempool) |
//! | POST | /v1/deposits/{id}/tag (`{"reason": ...}`) | compliance |
//! | POST | /v1/kyc (`{"customer_id", "status", "verified_until"?, "note"}`) | compliance |
//! | GET | /v1/kyc?customer=C | any staff |
//! | POST | /v1/blocklist (`{"source": NAME, "entries": "one per line"}`) | compliance |
//! | POST | /v1/deposits/{id}/resolutions (`{"action", "destination", "reason"}`) | compliance |
//! | POST | /v1/resolutions/{id}/approve or /reject (`{"note": ...}`) | approver, not the proposer |
//! | GET | /v1/resolutions[?deposit=ID] | any staff (the shadow reads approved ones) |

use hyper::StatusCode;
use sluice_shared::deposit_api::{
    CustomerKyc, DecideResolution, DepositAddressList, DepositList, ImportBlocklist, IssueDepositAddress,
    KycEvent, ProposeResolution, Resolution, ResolutionList, SetKyc, TagDeposit, UnconfirmedDepositList,
};

use super::{bad_request, parse_json, query_pairs, Failure};
use crate::api::messages::{DepositWalletList, DepositWalletView};
use crate::api::reply::{json, Reply};
use crate::db::deposits::ResolutionRecord;
use crate::rules::deposits::DepositStatus;
use crate::service::{
    address_to_api, kyc_status_from_words, unconfirmed_to_api, Actor, Coordinator, ResolutionAction,
};
use crate::time::UnixTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DepositRoute {
    IssueAddress,
    ListAddresses,
    ListWallets,
    List,
    ListUnconfirmed,
    Get(u64),
    Tag(u64),
    SetKyc,
    GetKyc,
    ImportBlocklist,
    ProposeResolution(u64),
    DecideResolution { id: u64, approve: bool },
    ListResolutions,
}

impl DepositRoute {
    /// Whether the request carries a JSON body (exhaustive: a new route must say).
    pub(super) fn has_body(self) -> bool {
        match self {
            DepositRoute::IssueAddress
            | DepositRoute::Tag(_)
            | DepositRoute::SetKyc
            | DepositRoute::ImportBlocklist
            | DepositRoute::ProposeResolution(_)
            | DepositRoute::DecideResolution { .. } => true,
            DepositRoute::ListAddresses
            | DepositRoute::ListWallets
            | DepositRoute::List
            | DepositRoute::ListUnconfirmed
            | DepositRoute::Get(_)
            | DepositRoute::GetKyc
            | DepositRoute::ListResolutions => false,
        }
    }
}

fn find<'a>(pairs: &'a [(&str, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str())
}

pub(super) fn execute(
    coord: &mut Coordinator,
    actor: &Actor,
    route: DepositRoute,
    body: Result<bytes::Bytes, Failure>,
    query: Option<&str>,
    now: UnixTime,
) -> Result<Reply, Failure> {
    match route {
        DepositRoute::IssueAddress => {
            let IssueDepositAddress { wallet, customer_id } = parse_json(&body?, None)?;
            let issued = coord.issue_deposit_address(actor, &wallet, &customer_id, now)?;
            Ok(json(StatusCode::CREATED, &address_to_api(&issued)))
        }
        DepositRoute::ListAddresses => {
            let pairs = query_pairs(query, &["wallet", "customer"])?;
            let list = coord.deposit_addresses(actor, find(&pairs, "wallet"), find(&pairs, "customer"))?;
            Ok(json(
                StatusCode::OK,
                &DepositAddressList {
                    addresses: list.iter().map(address_to_api).collect(),
                },
            ))
        }
        DepositRoute::ListWallets => {
            query_pairs(query, &[])?;
            let wallets = coord
                .deposit_wallets(actor)?
                .into_iter()
                .map(|w| DepositWalletView {
                    wallet: w.wallet,
                    marked_by: w.marked_by,
                    marked_at: w.marked_at.secs(),
                })
                .collect();
            Ok(json(StatusCode::OK, &DepositWalletList { wallets }))
        }
        DepositRoute::List => {
            let pairs = query_pairs(query, &["status", "customer", "limit"])?;
            let status = find(&pairs, "status")
                .map(|s| s.parse::<DepositStatus>())
                .transpose()
                .map_err(|e| bad_request("invalid_query", &e))?;
            let limit = find(&pairs, "limit")
                .map(|l| l.parse::<u32>())
                .transpose()
                .map_err(|_| bad_request("invalid_query", "limit must be a whole number"))?
                .unwrap_or(100);
            let list = coord.deposits(actor, status, find(&pairs, "customer"), limit)?;
            Ok(json(
                StatusCode::OK,
                &DepositList {
                    deposits: list.iter().map(|d| d.to_api()).collect(),
                },
            ))
        }
        DepositRoute::ListUnconfirmed => {
            let pairs = query_pairs(query, &["customer"])?;
            let list = coord.unconfirmed_deposits(actor, find(&pairs, "customer"))?;
            Ok(json(
                StatusCode::OK,
                &UnconfirmedDepositList {
                    deposits: list.iter().map(unconfirmed_to_api).collect(),
                },
            ))
        }
        DepositRoute::Get(id) => Ok(json(StatusCode::OK, &coord.deposit(actor, id)?.to_api())),
        DepositRoute::Tag(id) => {
            let TagDeposit { reason } = parse_json(&body?, None)?;
            coord.tag_deposit(actor, id, &reason, now)?;
            Ok(json(StatusCode::OK, &coord.deposit(actor, id)?.to_api()))
        }
        DepositRoute::SetKyc => {
            let SetKyc {
                customer_id,
                status,
                verified_until,
                note,
            } = parse_json(&body?, None)?;
            let status = kyc_status_from_words(&status, verified_until.as_deref())?;
            coord.set_kyc(actor, &customer_id, status, &note, now)?;
            kyc_reply(coord, actor, &customer_id, now)
        }
        DepositRoute::GetKyc => {
            let pairs = query_pairs(query, &["customer"])?;
            let customer = find(&pairs, "customer")
                .ok_or_else(|| bad_request("invalid_query", "name the customer: ?customer=ID"))?;
            kyc_reply(coord, actor, customer, now)
        }
        DepositRoute::ProposeResolution(deposit) => {
            let ProposeResolution {
                action,
                destination,
                reason,
            } = parse_json(&body?, None)?;
            let action: ResolutionAction = action
                .parse()
                .map_err(|e: String| bad_request("invalid_request", &e))?;
            let record = coord.propose_resolution(actor, deposit, action, &destination, &reason, now)?;
            Ok(json(StatusCode::CREATED, &resolution_to_api(record)))
        }
        DepositRoute::DecideResolution { id, approve } => {
            let DecideResolution { note } = parse_json(&body?, None)?;
            let record = coord.decide_resolution(actor, id, approve, &note, now)?;
            Ok(json(StatusCode::OK, &resolution_to_api(record)))
        }
        DepositRoute::ListResolutions => {
            let pairs = query_pairs(query, &["deposit"])?;
            let deposit = find(&pairs, "deposit")
                .map(|d| d.parse::<u64>())
                .transpose()
                .map_err(|_| bad_request("invalid_query", "deposit must be a deposit id"))?;
            let list = coord.resolutions(actor, deposit)?;
            Ok(json(
                StatusCode::OK,
                &ResolutionList {
                    resolutions: list.into_iter().map(resolution_to_api).collect(),
                },
            ))
        }
        DepositRoute::ImportBlocklist => {
            let ImportBlocklist { source, entries } = parse_json(&body?, None)?;
            let outcome = coord.import_blocklist(actor, &entries, &source, now)?;
            Ok(json(
                StatusCode::OK,
                &serde_json::json!({
                    "added": outcome.added,
                    "already_listed": outcome.already_listed,
                    "active": outcome.active,
                }),
            ))
        }
    }
}

fn resolution_to_api(r: ResolutionRecord) -> Resolution {
    Resolution {
        id: r.id,
        deposit_id: r.deposit_id,
        action: r.action,
        destination: r.destination,
        reason: r.reason,
        proposed_by: r.proposed_by,
        proposed_at: r.proposed_at.secs(),
        status: r.status,
        decided_by: r.decided_by,
        decided_at: r.decided_at.map(UnixTime::secs),
        decision_note: r.decision_note,
    }
}

fn kyc_reply(
    coord: &mut Coordinator,
    actor: &Actor,
    customer: &str,
    now: UnixTime,
) -> Result<Reply, Failure> {
    let kyc = coord.customer_kyc(actor, customer)?;
    Ok(json(
        StatusCode::OK,
        &CustomerKyc {
            customer_id: kyc.customer,
            status: kyc.status.as_str().to_owned(),
            verified_until: kyc.status.until().map(UnixTime::secs),
            standing: kyc.status.standing(now).as_str().to_owned(),
            history: kyc
                .history
                .iter()
                .map(|e| KycEvent {
                    status: e.status.as_str().to_owned(),
                    verified_until: e.status.until().map(UnixTime::secs),
                    actor: e.actor.clone(),
                    note: e.note.clone(),
                    recorded_at: e.recorded_at.secs(),
                })
                .collect(),
        },
    ))
}

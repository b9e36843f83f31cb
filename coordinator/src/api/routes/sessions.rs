//! Signing sessions as staff see them, and carrying one to an offline signer and back:
//!
//! | method | path | who |
//! |---|---|---|
//! | GET | /v1/sessions[?status=S&limit=N] | any staff |
//! | GET | /v1/sessions/{id} | any staff |
//! | GET | /v1/sessions/{id}/psbt (`{"session_id", "status", "psbt": base64}`) | any staff |
//! | POST | /v1/sessions/{id}/signatures (`{"psbt": base64}`, an offline signer's signed PSBT) | any staff |
//! | POST | /v1/sessions/{id}/bump (`{"fee_rate_sat_vb": N}`) | approver |
//! | POST | /v1/sessions/{id}/abandon (`{"reason": ...}`) | approver |
//! | GET | /v1/sessions/{id}/history | any staff |

use std::str::FromStr as _;

use bitcoin::psbt::Psbt;
use hyper::StatusCode;
use serde::Deserialize;
use sluice_shared::api::RejectWithdrawal;
use sluice_shared::signer_api::SignedSession;

use super::{bad_request, parse_json, query_pairs, Failure};
use crate::api::messages::{
    SessionAbandon, SessionBump, SessionEventView, SessionHistory, SessionList, SessionPsbt,
};
use crate::api::reply::{json, Reply};
use crate::service::{Actor, Coordinator, Submitter};
use crate::time::UnixTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SessionRoute {
    List,
    Get(u64),
    Psbt(u64),
    Signatures(u64),
    Bump(u64),
    Abandon(u64),
    History(u64),
}

impl SessionRoute {
    /// Whether the request carries a JSON body (exhaustive: a new route must say).
    pub(super) fn has_body(self) -> bool {
        match self {
            SessionRoute::Signatures(_) | SessionRoute::Bump(_) | SessionRoute::Abandon(_) => true,
            SessionRoute::List | SessionRoute::Get(_) | SessionRoute::Psbt(_) | SessionRoute::History(_) => {
                false
            }
        }
    }
}

/// The body of `POST /v1/sessions/{id}/bump`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BumpSession {
    fee_rate_sat_vb: u64,
}

pub(super) fn execute(
    coord: &mut Coordinator,
    actor: &Actor,
    route: SessionRoute,
    body: Result<bytes::Bytes, Failure>,
    query: Option<&str>,
    now: UnixTime,
) -> Result<Reply, Failure> {
    match route {
        SessionRoute::List => {
            let (mut status, mut limit) = (None, 50);
            for (key, value) in query_pairs(query, &["status", "limit"])? {
                match key {
                    "status" => status = Some(value),
                    _ => {
                        limit = value
                            .parse::<u32>()
                            .map_err(|_| bad_request("invalid_query", "limit must be a whole number"))?
                    }
                }
            }
            let sessions = coord.list_sessions(actor, status.as_deref(), limit)?;
            Ok(json(StatusCode::OK, &SessionList { sessions }))
        }
        SessionRoute::Get(id) => Ok(json(StatusCode::OK, &coord.session_summary(actor, id)?)),
        SessionRoute::Psbt(id) => {
            let (status, psbt) = coord.session_psbt(actor, id)?;
            Ok(json(
                StatusCode::OK,
                &SessionPsbt {
                    session_id: id,
                    status,
                    psbt: psbt.to_string(),
                },
            ))
        }
        SessionRoute::Signatures(id) => {
            let SignedSession { psbt } = parse_json(&body?, None)?;
            let psbt = Psbt::from_str(psbt.trim()).map_err(|e| {
                bad_request(
                    "malformed_psbt",
                    &format!("psbt is not a base64 BIP174 PSBT: {e}"),
                )
            })?;
            let receipt = coord.submit_signatures(id, &psbt, Submitter::Import(actor), now)?;
            Ok(json(StatusCode::OK, &receipt))
        }
        SessionRoute::Bump(id) => {
            let BumpSession { fee_rate_sat_vb } = parse_json(&body?, None)?;
            let bump = coord.bump_session(actor, id, fee_rate_sat_vb, now)?;
            Ok(json(
                StatusCode::CREATED,
                &SessionBump {
                    session_id: bump.session_id,
                    replaces: bump.replaces,
                    root: bump.root,
                    txid: bump.txid.to_string(),
                    old_fee_sat: bump.old_fee.to_sat(),
                    fee_sat: bump.fee.to_sat(),
                    change_sat: bump.change.to_sat(),
                    vsize: bump.vsize,
                },
            ))
        }
        SessionRoute::Abandon(id) => {
            let RejectWithdrawal { reason } = parse_json(&body?, None)?;
            let root = coord.abandon_session(actor, id, &reason, now)?;
            Ok(json(
                StatusCode::OK,
                &SessionAbandon {
                    session_id: root,
                    abandon: "waiting".to_owned(),
                },
            ))
        }
        SessionRoute::History(id) => {
            let events = coord
                .session_events(actor, id)?
                .into_iter()
                .map(|e| SessionEventView {
                    session_id: e.session_id,
                    kind: e.kind,
                    actor: e.actor,
                    note: e.note,
                    recorded_at: e.recorded_at.secs(),
                })
                .collect();
            Ok(json(
                StatusCode::OK,
                &SessionHistory {
                    session_id: id,
                    events,
                },
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failure report
    use sluice_shared::api::MAX_BODY_BYTES;
    use sluice_shared::descriptor::WalletDescriptor;
    use sluice_shared::psbt_builder::sample_spend;
    use sluice_shared::signer_api::MAX_SIGNER_BODY_BYTES;

    use super::*;

    const A: &str = "[1bbaa5fe/84h/1h/0h]tpubDDHx3CNs1F7LipoKW8ccMFNJsXJ6WYLFubNaCYLZtBX6G2GsQ7EJgbuecqwXfQtLKzxt2Kn8vJkxEWeQNto3deB7JCHdKHuRJMcYMDFABwi";
    const B: &str = "[72408740/84h/1h/0h]tpubDDK8J3o2xAQqa14ubD5UW9ztUMRnpPKYNnCE6T8UChumFXApW4fX4ziePYbgH8kT63xpRviLH7ZNVzaZzAZ8nhwjzFVdT9mWdqZajmTCfv2";
    const C: &str = "[3429876a/84h/1h/0h]tpubDCRy5oJLbB3etWH8sirNRUhtdp5GqhNPChRnpe8GMuze9NbgQeagn6icEf1moF2xpxiE2b5V5w2PQyBiifkjLQmfGfqbgSAXDbpegWj9V3s";

    /// `session import` of a 1,000-input 2-of-3 PSBT (every input with its previous
    /// transaction and three key origins) fits the route's body limit with room for two
    /// signatures per input; the general MAX_BODY_BYTES would refuse it.
    #[test]
    fn a_thousand_input_signed_psbt_fits_the_import_body() {
        let wallet = WalletDescriptor::parse(
            &format!("wsh(sortedmulti(2,{A}/<0;1>/*,{B}/<0;1>/*,{C}/<0;1>/*))"),
            None,
        )
        .unwrap();
        let psbt = sample_spend(&wallet, 1_000, 7).unwrap();
        let body = serde_json::to_vec(&SignedSession {
            psbt: psbt.to_string(),
        })
        .unwrap();
        // Two partial signatures per input: key (34 bytes with its key-type prefix and
        // length), signature (up to 73), lengths; base64 adds a third.
        let signatures = 1_000 * 2 * (34 + 73 + 4) * 4 / 3;
        assert!(body.len() > MAX_BODY_BYTES, "{} bytes", body.len());
        assert!(
            body.len() + signatures < MAX_SIGNER_BODY_BYTES,
            "{} bytes + signatures",
            body.len()
        );
    }
}

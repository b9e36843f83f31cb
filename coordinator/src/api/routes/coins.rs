//! The balance and coin view:
//!
//! | method | path | who |
//! |---|---|---|
//! | GET | /v1/balances | any staff |
//! | GET | /v1/coins[?wallet=W&spent=true] | any staff |

use hyper::StatusCode;

use super::{bad_request, no_query, query_pairs, Failure};
use crate::api::reply::{json, Reply};
use crate::service::{Actor, Coordinator};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CoinRoute {
    Balances,
    Coins,
}

pub(super) fn execute(
    coord: &mut Coordinator,
    actor: &Actor,
    route: CoinRoute,
    query: Option<&str>,
) -> Result<Reply, Failure> {
    match route {
        CoinRoute::Balances => {
            no_query(query, "/v1/balances")?;
            Ok(json(StatusCode::OK, &coord.balances(actor)?))
        }
        CoinRoute::Coins => {
            let (mut wallet, mut spent) = (None, false);
            for (key, value) in query_pairs(query, &["wallet", "spent"])? {
                match (key, value.as_str()) {
                    ("wallet", _) => wallet = Some(value.clone()),
                    (_, "true") => spent = true,
                    (_, "false") => spent = false,
                    (_, other) => {
                        return Err(bad_request(
                            "invalid_query",
                            &format!("spent must be true or false, not {other:?}"),
                        ))
                    }
                }
            }
            Ok(json(
                StatusCode::OK,
                &coord.coins(actor, wallet.as_deref(), spent)?,
            ))
        }
    }
}

//! The balance and coin view:
//!
//! | method | path | who |
//! |---|---|---|
//! | GET | /v1/balances | any staff |
//! | GET | /v1/coins[?wallet=W&spent=true] | any staff |

use hyper::StatusCode;

use super::{bad_request, Failure};
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
            if query.is_some_and(|q| !q.is_empty()) {
                return Err(bad_request(
                    "invalid_query",
                    "/v1/balances takes no query parameters",
                ));
            }
            Ok(json(StatusCode::OK, &coord.balances(actor)?))
        }
        CoinRoute::Coins => {
            let (mut wallet, mut spent) = (None, false);
            for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
                match pair.split_once('=').unwrap_or((pair, "")) {
                    ("wallet", name) => wallet = Some(name.to_owned()),
                    ("spent", "true") => spent = true,
                    ("spent", "false") => spent = false,
                    (key, _) => {
                        return Err(bad_request(
                            "invalid_query",
                            &format!("unknown query parameter {key:?}: use wallet=NAME, spent=true|false"),
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

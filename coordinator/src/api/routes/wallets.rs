//! Wallets and signers as staff read them (creating and changing them are proposals):
//!
//! | method | path | who |
//! |---|---|---|
//! | GET | /v1/wallets | any staff |
//! | POST | /v1/receive-addresses (`{"wallet": W}`): derive and record the next one | admin |
//! | GET | /v1/signers | admin |

use hyper::StatusCode;

use super::{no_query, parse_json, Failure};
use crate::api::messages::{
    NewReceiveAddress, ReceiveAddress, SignerList, SignerView, WalletList, WalletView,
};
use crate::api::reply::{json, Reply};
use crate::service::{Actor, Coordinator};
use crate::time::UnixTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WalletRoute {
    List,
    ReceiveAddress,
    Signers,
}

impl WalletRoute {
    /// Whether the request carries a JSON body (exhaustive: a new route must say).
    pub(super) fn has_body(self) -> bool {
        match self {
            WalletRoute::ReceiveAddress => true,
            WalletRoute::List | WalletRoute::Signers => false,
        }
    }
}

pub(super) fn execute(
    coord: &mut Coordinator,
    actor: &Actor,
    route: WalletRoute,
    body: Result<bytes::Bytes, Failure>,
    query: Option<&str>,
    now: UnixTime,
) -> Result<Reply, Failure> {
    no_query(
        query,
        match route {
            WalletRoute::List => "/v1/wallets",
            WalletRoute::ReceiveAddress => "/v1/receive-addresses",
            WalletRoute::Signers => "/v1/signers",
        },
    )?;
    match route {
        WalletRoute::List => {
            let wallets = coord.list_wallets(actor)?.iter().map(WalletView::from).collect();
            Ok(json(StatusCode::OK, &WalletList { wallets }))
        }
        WalletRoute::ReceiveAddress => {
            let NewReceiveAddress { wallet } = parse_json(&body?, None)?;
            let (index, address) = coord.next_receive_address(actor, &wallet, now)?;
            Ok(json(
                StatusCode::CREATED,
                &ReceiveAddress {
                    wallet,
                    index,
                    address: address.to_string(),
                },
            ))
        }
        WalletRoute::Signers => {
            let signers = coord.list_signers(actor)?.iter().map(SignerView::from).collect();
            Ok(json(StatusCode::OK, &SignerList { signers }))
        }
    }
}

//! Before the sender or the monitor works with a node: is it the node we meant, and is it
//! ready? An operator's node may be on the wrong network, refuse our credentials, be
//! down, or still be downloading the chain. The first two are configuration mistakes
//! that retrying cannot fix: the coordinator refuses to start. The last two pass by
//! themselves: it waits and says why.

use bitcoin::Network;

use super::reply::{codes, RpcError};
use super::types::BlockchainInfo;

/// What the coordinator does about the node it was pointed at.
#[derive(Debug, Clone, PartialEq)]
pub enum Readiness {
    /// The right network, synced: start.
    Ready(BlockchainInfo),
    /// Not yet: ask again later. The text says why, for the log.
    Wait(String),
    /// Never with this configuration: stop and tell the operator.
    Refuse(NodeRefused),
}

/// A node the coordinator must not work with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NodeRefused {
    #[error("the chain node at {url} is on {node_chain} but this coordinator's database is for {expected}: point --chain-url at a {expected} node (a node on another network would make it follow the wrong coins)")]
    WrongNetwork {
        url: String,
        node_chain: String,
        expected: Network,
    },
    #[error("{0} (the coordinator does not start with credentials the node refuses)")]
    Access(RpcError),
    #[error("{0} (is --chain-url a Bitcoin Core JSON-RPC endpoint?)")]
    NotANode(RpcError),
}

/// Reads the answer to `getblockchaininfo` from the node at `url` for a coordinator on
/// `expected`. Pure, so every case is tested without a node.
pub fn assess(url: &str, answer: Result<BlockchainInfo, RpcError>, expected: Network) -> Readiness {
    let info = match answer {
        Ok(info) => info,
        Err(error) => return assess_error(error),
    };
    if info.network() != Some(expected) {
        return Readiness::Refuse(NodeRefused::WrongNetwork {
            url: url.to_owned(),
            node_chain: chain_name(&info.chain),
            expected,
        });
    }
    if info.initialblockdownload {
        return Readiness::Wait(format!(
            "the chain node at {url} is in initial block download ({} of {} blocks, {:.1}% verified); the coordinator starts when it has caught up",
            info.blocks,
            info.headers,
            info.verificationprogress * 100.0
        ));
    }
    Readiness::Ready(info)
}

fn assess_error(error: RpcError) -> Readiness {
    match &error {
        RpcError::Unauthorized { .. } => Readiness::Refuse(NodeRefused::Access(error)),
        // The cookie may not be written yet: bitcoind writes it once it listens.
        RpcError::Credentials { .. } => Readiness::Wait(error.to_string()),
        e if e.is_transient() => Readiness::Wait(match e.rpc_code() {
            Some(codes::IN_WARMUP) => format!("the chain node is starting: {e}"),
            _ => error.to_string(),
        }),
        _ => Readiness::Refuse(NodeRefused::NotANode(error)),
    }
}

/// Core's chain names as a person reads them.
fn chain_name(chain: &str) -> String {
    match chain {
        "main" => "mainnet (\"main\")".to_owned(),
        "test" => "testnet3 (\"test\")".to_owned(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(chain: &str, ibd: bool) -> BlockchainInfo {
        serde_json::from_value(serde_json::json!({
            "chain": chain,
            "blocks": 10,
            "headers": 900,
            "bestblockhash": "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
            "verificationprogress": 0.25,
            "initialblockdownload": ibd,
        }))
        .unwrap()
    }

    const URL: &str = "http://127.0.0.1:18443";

    #[test]
    fn the_right_synced_node_is_ready() {
        assert!(matches!(
            assess(URL, Ok(info("regtest", false)), Network::Regtest),
            Readiness::Ready(_)
        ));
        assert!(matches!(
            assess(URL, Ok(info("main", false)), Network::Bitcoin),
            Readiness::Ready(_)
        ));
    }

    #[test]
    fn a_node_on_another_network_is_refused() {
        for (chain, expected) in [
            ("main", Network::Regtest),
            ("regtest", Network::Bitcoin),
            ("test", Network::Testnet4),
            ("signet", Network::Testnet),
            ("somethingnew", Network::Regtest),
        ] {
            let Readiness::Refuse(refused) = assess(URL, Ok(info(chain, false)), expected) else {
                panic!("{chain} for {expected}");
            };
            let text = refused.to_string();
            assert!(
                text.contains(chain) && text.contains(&expected.to_string()),
                "{text}"
            );
        }
    }

    #[test]
    fn a_syncing_node_is_waited_for_and_the_reason_given() {
        let Readiness::Wait(reason) = assess(URL, Ok(info("regtest", true)), Network::Regtest) else {
            panic!("a node in IBD is not ready");
        };
        assert!(
            reason.contains("initial block download") && reason.contains("10 of 900"),
            "{reason}"
        );
    }

    #[test]
    fn errors_are_waited_for_or_refused_as_fits() {
        let unauthorized = RpcError::Unauthorized {
            url: URL.into(),
            method: "getblockchaininfo".into(),
            status: 401,
        };
        assert!(matches!(
            assess(URL, Err(unauthorized), Network::Regtest),
            Readiness::Refuse(NodeRefused::Access(_))
        ));
        let down = RpcError::Transport {
            url: URL.into(),
            method: "getblockchaininfo".into(),
            reason: "connection refused".into(),
        };
        assert!(matches!(
            assess(URL, Err(down), Network::Regtest),
            Readiness::Wait(_)
        ));
        let warmup = RpcError::Rpc {
            url: URL.into(),
            method: "getblockchaininfo".into(),
            code: codes::IN_WARMUP,
            message: "Loading block index...".into(),
        };
        assert!(
            matches!(assess(URL, Err(warmup), Network::Regtest), Readiness::Wait(r) if r.contains("starting"))
        );
        let not_core = RpcError::Rpc {
            url: URL.into(),
            method: "getblockchaininfo".into(),
            code: codes::METHOD_NOT_FOUND,
            message: "Method not found".into(),
        };
        assert!(matches!(
            assess(URL, Err(not_core), Network::Regtest),
            Readiness::Refuse(NodeRefused::NotANode(_))
        ));
    }
}

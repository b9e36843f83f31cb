//! The chain an in-process coordinator test runs against: simnet in this process, or a
//! real `bitcoind -regtest`, mining only when the test asks.

use bitcoin::secp256k1::Secp256k1;
use bitcoin::{Address, Network};
use serde_json::json;
use sluice_coordinator::chain::rpc_client::CoreRpcClient;
use sluice_coordinator::chain::RpcAuth;
use sluice_devnet::bitcoind::Bitcoind;
use sluice_simnet::SimnetHandle;

/// Simnet or Bitcoin Core.
pub enum TestChain {
    Simnet(SimnetHandle),
    Core(Box<Bitcoind>),
}

impl std::fmt::Debug for TestChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TestChain::Simnet(_) => "TestChain::Simnet",
            TestChain::Core(_) => "TestChain::Core",
        })
    }
}

impl TestChain {
    /// A JSON-RPC client for it.
    pub fn client(&self) -> CoreRpcClient {
        match self {
            TestChain::Simnet(simnet) => CoreRpcClient::new(&simnet.url, RpcAuth::None),
            TestChain::Core(node) => node.client(),
        }
    }

    /// Replaces the top `depth` blocks by a longer branch: simnet's own reorg (the new
    /// blocks hold only a coinbase, so the transactions wait in the mempool), or
    /// `invalidateblock` and mining on Core (which mines them again at once).
    pub async fn reorg(&self, depth: u32) {
        match self {
            TestChain::Simnet(_) => {
                let _: serde_json::Value = self
                    .client()
                    .call("simnet_reorg", json!([depth]))
                    .await
                    .expect("simnet_reorg");
            }
            TestChain::Core(node) => {
                node.reorg(depth).await.expect("a reorg on Core");
            }
        }
    }
}

/// A multi-threaded runtime, as the coordinator's database calls (`block_in_place`) need.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Runs `scenario` against a new simnet, in a new [`runtime`].
pub fn on_simnet<F: std::future::Future<Output = ()>>(scenario: impl FnOnce(TestChain) -> F) {
    runtime().block_on(async {
        let simnet = sluice_simnet::spawn(sluice_simnet::SimnetOptions::local())
            .await
            .expect("starting simnet");
        scenario(TestChain::Simnet(simnet)).await;
    });
}

/// Runs `scenario` against a new regtest Bitcoin Core node, in a new [`runtime`].
pub fn on_bitcoin_core<F: std::future::Future<Output = ()>>(scenario: impl FnOnce(TestChain) -> F) {
    runtime().block_on(async {
        let node = crate::bitcoind::start_bitcoind(&[]).await;
        scenario(TestChain::Core(Box::new(node))).await;
    });
}

/// A regtest address of a fixed key.
pub fn address_of(seed: u8) -> Address {
    let key = bitcoin::secp256k1::SecretKey::from_slice(&[seed; 32]).expect("a valid key");
    let public = bitcoin::CompressedPublicKey(key.public_key(&Secp256k1::new()));
    Address::p2wpkh(&public, Network::Regtest)
}

/// Mines `count` blocks (with the mempool) to an address nobody here spends from.
pub async fn mine(chain: &CoreRpcClient, count: u32) {
    chain
        .generate_to_address(count, &address_of(9))
        .await
        .expect("mining");
}

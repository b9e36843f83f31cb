//! Chain backends. The production backend is Bitcoin Core's JSON-RPC ([`CoreRpcClient`]);
//! simnet (`crate::simnet`) serves the same calls. Code that follows the chain or
//! broadcasts depends only on [`ChainBackend`].

pub mod auth;
pub mod backend;
pub mod readiness;
pub mod reply;
pub mod rpc_client;
pub mod types;

pub use auth::RpcAuth;
pub use backend::{AcceptTest, Broadcast, ChainBackend, ChainFuture, ChainTip, TxStatus};
pub use readiness::{NodeRefused, Readiness};
pub use reply::{codes, RpcError};
pub use rpc_client::CoreRpcClient;

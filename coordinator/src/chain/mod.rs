//! Chain backends. The production backend is Bitcoin Core's JSON-RPC ([`CoreRpcClient`]);
//! simnet (not built yet) will serve the same calls.

pub mod reply;
pub mod rpc_client;
pub mod types;

pub use reply::RpcError;
pub use rpc_client::{CoreRpcClient, RpcAuth};

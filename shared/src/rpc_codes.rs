//! Bitcoin Core's JSON-RPC error codes (`src/rpc/protocol.h`): the client branches on them
//! and simnet answers with them, so both take them from here.

/// General application error, e.g. a missing parameter.
pub const MISC_ERROR: i64 = -1;
/// A parameter of the wrong JSON type.
pub const TYPE_ERROR: i64 = -3;
/// Unknown transaction, block or address.
pub const INVALID_ADDRESS_OR_KEY: i64 = -5;
/// A parameter out of range, e.g. a height above the tip.
pub const INVALID_PARAMETER: i64 = -8;
/// Raw transaction or block hex that does not decode.
pub const DESERIALIZATION_ERROR: i64 = -22;
/// Missing or spent inputs, a fee over the caller's maximum.
pub const TRANSACTION_ERROR: i64 = -25;
/// Refused by the mempool: consensus or policy (double spend, bad script, low fee...).
pub const TRANSACTION_REJECTED: i64 = -26;
/// The transaction's outputs are already in the UTXO set: it is confirmed.
pub const TRANSACTION_ALREADY_IN_CHAIN: i64 = -27;
/// The node is still starting (loading blocks, verifying): ask again later.
pub const IN_WARMUP: i64 = -28;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const PARSE_ERROR: i64 = -32700;

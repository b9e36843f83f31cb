//! Chain backends: the Bitcoin Core JSON-RPC client (production) and simnet.
//!
//! OWNER: helper "chain".

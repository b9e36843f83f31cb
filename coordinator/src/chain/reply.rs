//! JSON-RPC replies as bitcoind sends them: `{"result", "error", "id"}` with HTTP 200 on
//! success, 500 for most RPC errors and 404 for an unknown method. Pure parsing, so every
//! reply shape is tested without a network.

use serde::de::DeserializeOwned;
use serde::Deserialize;

/// Why a call failed. RPC errors keep bitcoind's code so callers can act on them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    #[error("cannot reach the node at {url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("{method}: the node answered HTTP {status} without a JSON-RPC body: {preview}")]
    Http {
        method: String,
        status: u16,
        preview: String,
    },
    #[error("{method}: node error {code}: {message}")]
    Rpc {
        method: String,
        code: i64,
        message: String,
    },
    #[error("{method}: unexpected reply: {reason}")]
    Decode { method: String, reason: String },
}

/// bitcoind's error codes that callers branch on.
pub mod codes {
    pub const INVALID_PARAMETER: i64 = -8;
    pub const INVALID_ADDRESS_OR_KEY: i64 = -5;
    pub const VERIFY_REJECTED: i64 = -26;
    pub const VERIFY_ALREADY_IN_CHAIN: i64 = -27;
    pub const VERIFY_ERROR: i64 = -25;
    pub const METHOD_NOT_FOUND: i64 = -32601;
}

impl RpcError {
    fn code(&self) -> Option<i64> {
        match self {
            RpcError::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Unknown transaction or block (`-5`).
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(codes::INVALID_ADDRESS_OR_KEY)
    }

    /// The transaction is already confirmed (`-27`): broadcasting it again is done, not failed.
    pub fn is_already_in_chain(&self) -> bool {
        self.code() == Some(codes::VERIFY_ALREADY_IN_CHAIN)
    }

    /// A height beyond the tip (`-8`).
    pub fn is_out_of_range(&self) -> bool {
        self.code() == Some(codes::INVALID_PARAMETER)
    }

    pub fn is_method_not_found(&self) -> bool {
        self.code() == Some(codes::METHOD_NOT_FOUND)
    }

    /// A node that may answer if asked again (it was unreachable or gave no JSON-RPC).
    pub fn is_transient(&self) -> bool {
        matches!(self, RpcError::Transport { .. } | RpcError::Http { .. })
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    result: serde_json::Value,
    #[serde(default)]
    error: Option<ErrorObject>,
}

#[derive(Deserialize)]
struct ErrorObject {
    code: i64,
    message: String,
}

fn preview(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.chars().take(120).collect()
}

/// Turns an HTTP status and body into the typed result or an [`RpcError`].
pub fn parse_reply<T: DeserializeOwned>(method: &str, status: u16, body: &[u8]) -> Result<T, RpcError> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|_| RpcError::Http {
        method: method.to_owned(),
        status,
        preview: preview(body),
    })?;
    if let Some(error) = envelope.error {
        return Err(RpcError::Rpc {
            method: method.to_owned(),
            code: error.code,
            message: error.message,
        });
    }
    if status != 200 {
        return Err(RpcError::Http {
            method: method.to_owned(),
            status,
            preview: preview(body),
        });
    }
    serde_json::from_value(envelope.result).map_err(|e| RpcError::Decode {
        method: method.to_owned(),
        reason: e.to_string(),
    })
}

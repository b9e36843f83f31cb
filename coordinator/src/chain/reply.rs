//! JSON-RPC replies as bitcoind sends them: `{"result", "error", "id"}`, with HTTP 200 on
//! success, 500 for RPC errors, 404 for an unknown method and 400 for a malformed request,
//! each still carrying a JSON-RPC body. Pure parsing, so every reply shape is tested
//! without a network.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;

/// Why a call failed. Every variant names the node's URL (never its credentials) and the
/// method; errors the node itself reported keep bitcoind's code so callers can branch on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    #[error("{method} at {url}: cannot reach the node: {reason}")]
    Transport {
        url: String,
        method: String,
        reason: String,
    },
    #[error("{method} at {url}: no complete answer within {timeout:?}")]
    Timeout {
        url: String,
        method: String,
        timeout: Duration,
    },
    #[error("{method} at {url}: the node refused access (HTTP {status}); check the RPC user and password or the cookie file (401), or the node's rpcallowip (403)")]
    Unauthorized {
        url: String,
        method: String,
        status: u16,
    },
    #[error("{method} at {url}: {reason}")]
    Credentials {
        url: String,
        method: String,
        reason: String,
    },
    #[error("{method} at {url}: HTTP {status} without a JSON-RPC reply: {preview:?}")]
    Http {
        url: String,
        method: String,
        status: u16,
        preview: String,
    },
    /// An error the node reported (`{"error": {"code", "message"}}`).
    #[error("{method} at {url}: node error {code}: {message}")]
    Rpc {
        url: String,
        method: String,
        code: i64,
        message: String,
    },
    #[error("{method} at {url}: unexpected reply: {reason}")]
    Decode {
        url: String,
        method: String,
        reason: String,
    },
}

pub use sluice_shared::rpc_codes as codes;

impl RpcError {
    /// The node's error code, when the node reported the error.
    pub fn rpc_code(&self) -> Option<i64> {
        match self {
            RpcError::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The node's error message, when the node reported the error.
    pub fn rpc_message(&self) -> Option<&str> {
        match self {
            RpcError::Rpc { message, .. } => Some(message),
            _ => None,
        }
    }

    /// Unknown transaction or block (`-5`).
    pub fn is_not_found(&self) -> bool {
        self.rpc_code() == Some(codes::INVALID_ADDRESS_OR_KEY)
    }

    /// The transaction is already confirmed (`-27`): broadcasting it again is done, not failed.
    pub fn is_already_in_chain(&self) -> bool {
        self.rpc_code() == Some(codes::TRANSACTION_ALREADY_IN_CHAIN)
    }

    /// A parameter out of range (`-8`), e.g. a block height above the tip.
    pub fn is_out_of_range(&self) -> bool {
        self.rpc_code() == Some(codes::INVALID_PARAMETER)
    }

    pub fn is_method_not_found(&self) -> bool {
        self.rpc_code() == Some(codes::METHOD_NOT_FOUND)
    }

    /// The mempool refused the transaction (`-26`); the message is Core's reason, e.g.
    /// `insufficient fee, ...` or `mempool-script-verify-flag-failed (...)`.
    pub fn is_rejected(&self) -> bool {
        self.rpc_code() == Some(codes::TRANSACTION_REJECTED)
    }

    /// An input is unknown or already spent (`-25 bad-txns-inputs-missingorspent`): a
    /// conflicting transaction may have confirmed.
    pub fn is_missing_inputs(&self) -> bool {
        self.rpc_code() == Some(codes::TRANSACTION_ERROR)
            && self.rpc_message() == Some("bad-txns-inputs-missingorspent")
    }

    /// Worth asking again later: the node was unreachable, slow, starting up, or answered
    /// without JSON-RPC (a proxy in between, say).
    pub fn is_transient(&self) -> bool {
        match self {
            RpcError::Transport { .. } | RpcError::Timeout { .. } | RpcError::Http { .. } => true,
            RpcError::Rpc { code, .. } => *code == codes::IN_WARMUP,
            _ => false,
        }
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

/// Turns an HTTP status and body into the typed result or an [`RpcError`]. A JSON-RPC
/// error wins over the HTTP status: bitcoind sends its errors with 404 and 500.
pub fn parse_reply<T: DeserializeOwned>(
    url: &str,
    method: &str,
    status: u16,
    body: &[u8],
) -> Result<T, RpcError> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|_| RpcError::Http {
        url: url.to_owned(),
        method: method.to_owned(),
        status,
        preview: preview(body),
    })?;
    if let Some(error) = envelope.error {
        return Err(RpcError::Rpc {
            url: url.to_owned(),
            method: method.to_owned(),
            code: error.code,
            message: error.message,
        });
    }
    if status != 200 {
        return Err(RpcError::Http {
            url: url.to_owned(),
            method: method.to_owned(),
            status,
            preview: preview(body),
        });
    }
    serde_json::from_value(envelope.result).map_err(|e| RpcError::Decode {
        url: url.to_owned(),
        method: method.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://127.0.0.1:18443";

    #[test]
    fn an_error_body_wins_over_the_status() {
        let body = br#"{"result":null,"error":{"code":-8,"message":"Block height out of range"},"id":1}"#;
        let err = parse_reply::<u64>(URL, "getblockhash", 500, body).unwrap_err();
        assert!(err.is_out_of_range());
        assert_eq!(
            err.to_string(),
            "getblockhash at http://127.0.0.1:18443: node error -8: Block height out of range"
        );
    }

    #[test]
    fn a_success_status_with_a_wrong_type_is_a_decode_error() {
        let err =
            parse_reply::<u64>(URL, "getblockcount", 200, br#"{"result":"x","error":null}"#).unwrap_err();
        assert!(matches!(err, RpcError::Decode { .. }), "{err}");
        assert!(!err.is_transient());
    }

    #[test]
    fn a_non_json_body_is_an_http_error() {
        let err = parse_reply::<u64>(URL, "getblockcount", 502, b"<html>bad gateway</html>").unwrap_err();
        assert!(matches!(err, RpcError::Http { status: 502, .. }), "{err}");
        assert!(err.is_transient());
    }

    #[test]
    fn warmup_is_transient_and_missing_inputs_is_recognised() {
        let warm = parse_reply::<u64>(
            URL,
            "getblockcount",
            500,
            br#"{"result":null,"error":{"code":-28,"message":"Loading block index..."}}"#,
        )
        .unwrap_err();
        assert!(warm.is_transient());
        let missing = parse_reply::<u64>(
            URL,
            "sendrawtransaction",
            500,
            br#"{"result":null,"error":{"code":-25,"message":"bad-txns-inputs-missingorspent"}}"#,
        )
        .unwrap_err();
        assert!(missing.is_missing_inputs() && !missing.is_transient());
    }
}

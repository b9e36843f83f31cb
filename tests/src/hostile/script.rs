//! What the hostile coordinator serves and what it records: the file formats shared by
//! the `hostile-coordinator` binary and the tests that drive it.

use serde::{Deserialize, Serialize};
use sluice_shared::signer_api::SessionOffer;

/// The replies to `GET /v1/signer/sessions`, one per request, in order. After the last
/// step every further request gets an empty session list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    pub steps: Vec<Step>,
}

/// One reply to a session poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// A well-formed session list holding these offers (the real message type).
    Sessions(Vec<SessionOffer>),
    /// A 200 reply whose body is exactly this text (garbage JSON and the like).
    Raw { body: String },
    /// A 200 reply of this many bytes, larger than any signer should read.
    Oversized { bytes: usize },
    /// The reply served at an earlier step, byte for byte and with its original headers,
    /// as a network attacker who recorded it would send it to a later request.
    Replay { step: usize },
}

/// One request the hostile coordinator received, as a line of its record file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The `sluice-*` headers (the signer's request authentication).
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy UTF-8; signer bodies are JSON).
    pub body: String,
    /// For a session poll: the index of the step served, `None` past the script's end.
    pub served_step: Option<usize>,
}

impl RecordedRequest {
    pub fn is_poll(&self) -> bool {
        self.method == "GET" && self.path == "/v1/signer/sessions"
    }

    /// The session id of a `POST /v1/signer/sessions/{id}/signatures`.
    pub fn posted_session(&self) -> Option<u64> {
        posted_session(&self.method, &self.path)
    }
}

/// The session id if `method` and `path` are a `POST /v1/signer/sessions/{id}/signatures`.
pub fn posted_session(method: &str, path: &str) -> Option<u64> {
    if method != "POST" {
        return None;
    }
    path.strip_prefix("/v1/signer/sessions/")?
        .strip_suffix("/signatures")?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failure report
    use super::*;

    fn request(method: &str, path: &str) -> RecordedRequest {
        RecordedRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            headers: Vec::new(),
            body: String::new(),
            served_step: None,
        }
    }

    #[test]
    fn only_a_signature_post_names_a_session() {
        assert_eq!(
            request("POST", "/v1/signer/sessions/42/signatures").posted_session(),
            Some(42)
        );
        assert_eq!(
            request("GET", "/v1/signer/sessions/42/signatures").posted_session(),
            None
        );
        assert_eq!(
            request("POST", "/v1/signer/sessions/x/signatures").posted_session(),
            None
        );
        assert_eq!(request("POST", "/v1/signer/sessions").posted_session(), None);
        assert!(request("GET", "/v1/signer/sessions").is_poll());
    }

    #[test]
    fn a_script_survives_json() {
        let script = Script {
            steps: vec![
                Step::Raw { body: "{".to_owned() },
                Step::Oversized { bytes: 10 },
                Step::Replay { step: 0 },
            ],
        };
        let text = serde_json::to_string(&script).unwrap();
        assert_eq!(serde_json::from_str::<Script>(&text).unwrap(), script);
    }
}

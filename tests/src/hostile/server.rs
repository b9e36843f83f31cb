//! The hostile coordinator's HTTP server: it speaks the signer API
//! (`GET /v1/signer/sessions`, `POST /v1/signer/sessions/{id}/signatures`), answers each
//! poll with the next scripted step, and appends every request it receives to a record
//! file (one JSON line each) before answering it.

use std::convert::Infallible;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bitcoin::secp256k1::Secp256k1;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use sluice_shared::signer_api::{
    sign_reply, RequestAuth, SessionList, SignatureReceipt, COORDINATOR_SIGNATURE_HEADER,
    MAX_SIGNER_BODY_BYTES,
};
use tokio::net::TcpListener;

use super::script::{posted_session, RecordedRequest, Script, Step};

/// A reply as it went on the wire, kept so that a later step can replay it.
#[derive(Debug, Clone)]
struct Served {
    status: u16,
    headers: Vec<(String, String)>,
    body: Bytes,
}

/// What the server remembers between requests.
#[derive(Debug)]
struct Stage {
    script: Script,
    next_step: usize,
    /// What was sent for each step served so far.
    served: Vec<Served>,
    record: std::fs::File,
}

/// The parts of the request a reply may be bound to.
#[derive(Debug)]
struct RequestContext {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

/// Builds every reply the coordinator sends: the one place where a reply gets the
/// authentication the real coordinator gives it — a BIP340 signature by the coordinator
/// identity key over the request it answers (a compromised coordinator holds its keys,
/// so the hostile one signs its lies exactly as the honest one signs the truth).
fn reply(request: &RequestContext, status: u16, body: Vec<u8>) -> Served {
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    let header = |name: &'static str| {
        request
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    // A request whose authentication headers do not parse gets an unsigned reply, as the
    // real coordinator's refusal would be useless to sign for it.
    if let Ok(auth) = RequestAuth::from_headers(header) {
        let context = auth.reply_context(&request.method, &request.path);
        let signature = sign_reply(
            &Secp256k1::signing_only(),
            &super::coordinator_identity(),
            &context,
            status,
            &body,
            [0; 32],
        );
        headers.push((COORDINATOR_SIGNATURE_HEADER.to_owned(), signature));
    }
    Served {
        status,
        headers,
        body: Bytes::from(body),
    }
}

fn json_reply<T: serde::Serialize>(request: &RequestContext, status: u16, value: &T) -> Served {
    let body = serde_json::to_vec(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}").into_bytes());
    reply(request, status, body)
}

fn error_reply(request: &RequestContext, status: u16, message: &str) -> Served {
    json_reply(
        request,
        status,
        &serde_json::json!({ "error": { "code": "hostile", "message": message } }),
    )
}

/// A body that looks like the start of a session list and never ends.
fn oversized(bytes: usize) -> Vec<u8> {
    let mut body = b"{\"sessions\":[{\"id\":1,\"wallet\":\"".to_vec();
    body.resize(bytes.max(body.len()), b'a');
    body
}

impl Stage {
    fn answer_poll(&mut self, request: &RequestContext) -> (Served, Option<usize>) {
        let index = self.next_step;
        let Some(step) = self.script.steps.get(index).cloned() else {
            let empty = SessionList { sessions: Vec::new() };
            return (json_reply(request, 200, &empty), None);
        };
        self.next_step += 1;
        let served = match step {
            Step::Sessions(sessions) => json_reply(request, 200, &SessionList { sessions }),
            Step::Raw { body } => reply(request, 200, body.into_bytes()),
            Step::Oversized { bytes } => reply(request, 200, oversized(bytes)),
            Step::Replay { step } => match self.served.get(step) {
                Some(earlier) => earlier.clone(),
                None => error_reply(request, 500, "the script replays a step not yet served"),
            },
        };
        self.served.push(served.clone());
        (served, Some(index))
    }

    fn answer(&mut self, request: &RequestContext, body: &[u8]) -> (Served, Option<usize>) {
        if request.method == "GET" && request.path == "/v1/signer/sessions" {
            return self.answer_poll(request);
        }
        let posted = posted_session(&request.method, &request.path);
        match posted {
            Some(_) => {
                let stored = serde_json::from_slice::<serde_json::Value>(body)
                    .map(|_| 1)
                    .unwrap_or(0);
                let receipt = SignatureReceipt {
                    stored,
                    already_stored: 0,
                    session_signed: false,
                };
                (json_reply(request, 200, &receipt), None)
            }
            None => (error_reply(request, 404, "no such route"), None),
        }
    }

    fn record(&mut self, request: &RequestContext, body: &[u8], served_step: Option<usize>) {
        let line = RecordedRequest {
            method: request.method.clone(),
            path: request.path.clone(),
            headers: request.headers.clone(),
            body: String::from_utf8_lossy(body).into_owned(),
            served_step,
        };
        // The record is the test's evidence: a failure to write it must stop everything.
        let text = serde_json::to_string(&line).expect("a recorded request serializes");
        writeln!(self.record, "{text}").expect("the record file is writable");
        self.record.flush().expect("the record file is writable");
    }
}

async fn handle(stage: Arc<Mutex<Stage>>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let context = RequestContext {
        method: request.method().as_str().to_owned(),
        path: request
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        headers: request
            .headers()
            .iter()
            .filter(|(name, _)| name.as_str().starts_with("sluice-"))
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
    };
    let body = match Limited::new(request.into_body(), MAX_SIGNER_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) => Bytes::from(format!("<unreadable body: {e}>")),
    };
    let served = {
        let mut stage = stage.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Recorded before the answer leaves, so the test never sees an answer whose
        // request is not yet in the record.
        let (served, step) = stage.answer(&context, &body);
        stage.record(&context, &body, step);
        served
    };
    let mut response = Response::builder().status(served.status);
    for (name, value) in &served.headers {
        response = response.header(name, value);
    }
    response
        .body(Full::new(served.body))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::from_static(b"bad reply headers"))))
}

/// Serves `script` on `listener` until the process is killed, recording to `record`.
pub async fn serve(listener: TcpListener, script: Script, record: PathBuf) -> std::io::Result<()> {
    let record = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&record)?;
    let stage = Arc::new(Mutex::new(Stage {
        script,
        next_step: 0,
        served: Vec::new(),
        record,
    }));
    loop {
        let (stream, _) = listener.accept().await?;
        let stage = stage.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let stage = stage.clone();
                async move { Ok::<_, Infallible>(handle(stage, request).await) }
            });
            // A connection the signer drops mid-reply (an oversized body) ends here.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

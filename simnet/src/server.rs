//! simnet's HTTP server: JSON-RPC 1.0 over HTTP/1.1 POST as bitcoind serves it (status 200,
//! 500 for RPC errors, 404 for an unknown method, 401 with no body for bad credentials,
//! batches as arrays), an optional miner on an interval, and a clean shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bitcoin::base64::engine::general_purpose::STANDARD as BASE64;
use bitcoin::base64::Engine;
use bitcoin::{FeeRate, ScriptBuf};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::clock::unix_now;
use super::node::Node;
use super::rpc::{dispatch, RpcSettings};
use super::rules::Rejection;
use super::store::StoreError;
use sluice_shared::rpc_codes as codes;

/// Core's limit on a request body.
const MAX_REQUEST_BYTES: usize = 32 << 20;
/// Core makes a client with wrong credentials wait this long, against guessing.
const WRONG_CREDENTIALS_DELAY: Duration = Duration::from_millis(250);

/// How to run simnet.
#[derive(Debug, Clone)]
pub struct SimnetOptions {
    /// Where to listen; port 0 picks a free port. Keep it on loopback.
    pub listen: SocketAddr,
    /// Keep blocks and mempool in `DIR/simnet.sqlite` and replay them at start; `None`
    /// keeps everything in memory.
    pub data_dir: Option<PathBuf>,
    /// Mine a block (with the mempool) this often; `None` mines only on request.
    pub block_interval: Option<Duration>,
    /// Require HTTP Basic credentials (`-rpcuser`/`-rpcpassword`).
    pub credentials: Option<(String, SecretString)>,
    /// What `estimatesmartfee` answers; `None` answers as a fresh Core node does.
    pub fee_estimate: Option<FeeRate>,
    /// Who is paid by blocks simnet mines by itself (interval, `simnet_reorg`); `None`
    /// burns the coinbase to an `OP_RETURN` output.
    pub mine_to: Option<ScriptBuf>,
}

impl SimnetOptions {
    /// In memory, on `127.0.0.1` with a free port, mining on request, no credentials, a fee
    /// estimate of 1 sat/vB.
    pub fn local() -> SimnetOptions {
        SimnetOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: None,
            block_interval: None,
            credentials: None,
            fee_estimate: Some(FeeRate::from_sat_per_vb_u32(1)),
            mine_to: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimnetError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A running simnet. [`shutdown`](Self::shutdown) stops it and waits; dropping the handle
/// stops it too. The `stop` RPC also stops it ([`stopped`](Self::stopped) resolves).
#[derive(Debug)]
pub struct SimnetHandle {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub local_addr: SocketAddr,
    stop: Arc<watch::Sender<bool>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SimnetHandle {
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Resolves once something asked simnet to stop (the `stop` RPC or `shutdown`).
    pub async fn stopped(&self) {
        let mut watcher = self.stop.subscribe();
        let _ = watcher.wait_for(|stop| *stop).await;
    }
}

impl Drop for SimnetHandle {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

struct Shared {
    node: Mutex<Node>,
    settings: RpcSettings,
    /// SHA-256 of the expected `Authorization` header, so the secret itself is not kept
    /// and comparing leaks nothing useful.
    expected_auth: Option<[u8; 32]>,
    burn: ScriptBuf,
    stop: Arc<watch::Sender<bool>>,
}

/// Starts simnet in the current tokio runtime.
pub async fn spawn(options: SimnetOptions) -> Result<SimnetHandle, SimnetError> {
    let node = match &options.data_dir {
        // Replaying stored blocks is start-up work; it runs before anything is served.
        Some(dir) => Node::open(dir, unix_now())?,
        None => Node::in_memory(),
    };
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| SimnetError::Listen {
            addr: options.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| SimnetError::Listen {
        addr: options.listen,
        source,
    })?;
    let (stop, _) = watch::channel(false);
    let stop = Arc::new(stop);
    let expected_auth = options.credentials.as_ref().map(|(user, password)| {
        let header = format!(
            "Basic {}",
            BASE64.encode(format!("{user}:{}", password.expose_secret()))
        );
        Sha256::digest(header.as_bytes()).into()
    });
    let shared = Arc::new(Shared {
        node: Mutex::new(node),
        settings: RpcSettings {
            // sat/kwu × 4 = sat/kvB.
            fee_estimate_sat_per_kvb: options.fee_estimate.map(|r| r.to_sat_per_kwu() * 4),
        },
        expected_auth,
        burn: options
            .mine_to
            .clone()
            .unwrap_or_else(|| ScriptBuf::new_op_return([])),
        stop: stop.clone(),
    });
    let task = tokio::spawn(serve(listener, shared, options.block_interval));
    Ok(SimnetHandle {
        url: format!("http://{local_addr}"),
        local_addr,
        stop,
        task: Some(task),
    })
}

async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>, block_interval: Option<Duration>) {
    let mut stop = shared.stop.subscribe();
    let mut tasks = JoinSet::new();
    if let Some(interval) = block_interval {
        tasks.spawn(mine_every(shared.clone(), interval));
    }
    loop {
        if *stop.borrow() {
            break;
        }
        tokio::select! {
            changed = stop.changed() => if changed.is_err() { break },
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let shared = shared.clone();
                    tasks.spawn(async move {
                        let service = service_fn(move |req| answer(req, shared.clone()));
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                // e.g. out of file descriptors: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
        }
        // Reap finished connections so the set does not grow without bound.
        while tasks.try_join_next().is_some() {}
    }
    tasks.shutdown().await;
}

async fn mine_every(shared: Arc<Shared>, interval: Duration) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let shared = shared.clone();
        let mined = tokio::task::spawn_blocking(move || {
            let mut node = shared
                .node
                .lock()
                .map_err(|_| "simnet state is poisoned".to_owned())?;
            node.mine(1, &shared.burn, unix_now(), true)
                .map_err(|e| e.message())
        })
        .await;
        if let Ok(Err(reason)) = mined {
            tracing::warn!("simnet: interval mining failed: {reason}");
        }
    }
}

fn respond(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

async fn answer(
    req: Request<hyper::body::Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != hyper::Method::POST {
        return Ok(respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "JSONRPC server handles only POST requests".to_owned(),
        ));
    }
    if let Some(expected) = shared.expected_auth {
        let given = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .map(|v| <[u8; 32]>::from(Sha256::digest(v.as_bytes())));
        if given != Some(expected) {
            tokio::time::sleep(WRONG_CREDENTIALS_DELAY).await;
            let mut refused = respond(StatusCode::UNAUTHORIZED, String::new());
            refused.headers_mut().insert(
                "www-authenticate",
                hyper::header::HeaderValue::from_static("Basic realm=\"jsonrpc\""),
            );
            return Ok(refused);
        }
    }
    let body = match Limited::new(req.into_body(), MAX_REQUEST_BYTES).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            return Ok(error_reply(
                &Value::Null,
                &Rejection::new(codes::PARSE_ERROR, "Parse error"),
            ))
        }
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return Ok(error_reply(
            &Value::Null,
            &Rejection::new(codes::PARSE_ERROR, "Parse error"),
        ));
    };
    match request {
        Value::Array(batch) => {
            let mut replies = Vec::with_capacity(batch.len());
            for call in batch {
                let (id, result) = call_one(&call, &shared).await;
                replies.push(envelope(&id, result));
            }
            Ok(respond(StatusCode::OK, Value::Array(replies).to_string()))
        }
        Value::Object(_) => {
            let (id, result) = call_one(&request, &shared).await;
            Ok(match result {
                Ok(value) => respond(StatusCode::OK, envelope(&id, Ok(value)).to_string()),
                Err(rejection) => error_reply(&id, &rejection),
            })
        }
        _ => Ok(error_reply(
            &Value::Null,
            &Rejection::new(codes::PARSE_ERROR, "Top-level object parse error"),
        )),
    }
}

fn envelope(id: &Value, result: Result<Value, Rejection>) -> Value {
    match result {
        Ok(value) => json!({ "result": value, "error": null, "id": id }),
        Err(r) => json!({ "result": null, "error": { "code": r.code, "message": r.message() }, "id": id }),
    }
}

/// bitcoind's statuses for errors: 404 unknown method, 400 bad request, 500 the rest.
fn error_reply(id: &Value, rejection: &Rejection) -> Response<Full<Bytes>> {
    let status = match rejection.code {
        codes::METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
        codes::INVALID_REQUEST => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    respond(status, envelope(id, Err(rejection.clone())).to_string())
}

async fn call_one(call: &Value, shared: &Arc<Shared>) -> (Value, Result<Value, Rejection>) {
    let id = call.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = call.get("method").and_then(Value::as_str).map(str::to_owned) else {
        return (
            id,
            Err(Rejection::new(codes::INVALID_REQUEST, "Method must be a string")),
        );
    };
    let params = call.get("params").cloned().unwrap_or(Value::Null);
    let worker = shared.clone();
    let name = method.clone();
    // Validation runs Bitcoin Core's interpreter and mining grinds nonces: keep that off the
    // async workers.
    let result = tokio::task::spawn_blocking(move || {
        let mut node = worker
            .node
            .lock()
            .map_err(|_| Rejection::new(codes::MISC_ERROR, "simnet state is poisoned"))?;
        dispatch(
            &mut node,
            &worker.settings,
            &name,
            &params,
            unix_now(),
            &worker.burn,
        )
    })
    .await
    .unwrap_or_else(|_| Err(Rejection::new(codes::MISC_ERROR, "simnet failed while answering")));
    if method == "stop" && result.is_ok() {
        // Stop after this reply has had a moment to leave.
        let stop = shared.stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            stop.send_replace(true);
        });
    }
    (id, result)
}

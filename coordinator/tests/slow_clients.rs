#![allow(clippy::unwrap_used)] // tests: a panic is a failure report
//! Clients that hold a connection open without finishing their request (slow-loris), and
//! a signer request that is not authenticated, over real loopback TCP: the API reads no
//! body before the signer is authenticated, and cuts off a client that dribbles its
//! headers or its body. Bounds are generous (the server's own limits are 10 s for headers
//! and 20 s for a body): the tests assert that the connection ends, not how fast.

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::secp256k1::{Keypair, Secp256k1};
use bitcoin::Network;
use sluice_coordinator::api::{serve, CoordinatorPool};
use sluice_coordinator::identity::CoordinatorIdentity;
use sluice_coordinator::service::{AdminDesk, Change};
use sluice_coordinator::time::UnixTime;
use sluice_shared::signer_api::{sign_request, RequestParts, COORDINATOR_SIGNATURE_HEADER};
use tokio::sync::oneshot;

/// Far above the server's limits, far below a hung test.
const GENEROUS: Duration = Duration::from_secs(60);

struct Server {
    _dir: tempfile::TempDir,
    addr: SocketAddr,
    signer: Keypair,
    _stop: oneshot::Sender<()>,
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coordinator.sqlite");
    let now = UnixTime::from_secs(sluice_coordinator::clock::now().secs());
    let mut desk = AdminDesk::initialise(&path, Network::Regtest, ["root", "ops"], now).unwrap();
    let signer = Keypair::from_seckey_slice(&Secp256k1::new(), &[7; 32]).unwrap();
    let add_signer = Change::SignerAdd {
        name: "s1".into(),
        identity_key: signer.x_only_public_key().0.to_string(),
        fingerprint: "00000001".into(),
        tor_key: None,
    };
    desk.agree(add_signer).unwrap();
    drop(desk);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let identity = CoordinatorIdentity::generate(&mut rand::thread_rng());
    let pool = Arc::new(CoordinatorPool::open(path, Some(Network::Regtest), identity).unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, pool, async {
        let _ = stopped.await;
    }));
    Server {
        _dir: dir,
        addr,
        signer,
        _stop: stop,
    }
}

/// Writes `head`, then `dribble` one byte a second, while reading; returns what the
/// server sent before it closed the connection (None if it never did within GENEROUS).
async fn dribble(addr: SocketAddr, head: String, dribble: &'static [u8]) -> Option<String> {
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let started = Instant::now();
        let mut received = Vec::new();
        let mut buf = [0u8; 4096];
        let mut next = dribble.iter().cycle();
        while started.elapsed() < GENEROUS {
            match stream.read(&mut buf) {
                Ok(0) => return Some(String::from_utf8_lossy(&received).into_owned()),
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    // A second without news: one more byte. (A failed write means the
                    // server closed; the next read says so.)
                    let _ = stream.write_all(&[*next.next().unwrap()]);
                }
                Err(_) => return Some(String::from_utf8_lossy(&received).into_owned()),
            }
        }
        None
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_client_dribbling_its_headers_is_cut_off() {
    let server = start().await;
    let closed = dribble(
        server.addr,
        "GET /v1/withdrawals HTTP/1.1\r\nhost: x\r\nx-slow: ".to_owned(),
        b"a",
    )
    .await;
    assert!(
        closed.is_some(),
        "the server kept a dribbling client's connection open"
    );
}

#[tokio::test]
async fn an_unauthenticated_signer_request_is_refused_before_its_body_is_read() {
    let server = start().await;
    // Headers claiming 8 MB of body, signed by nobody the coordinator knows; no body sent.
    let head = format!(
        "POST /v1/signer/sessions/1/signatures HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: 8000000\r\nsluice-signer-id: {}\r\nsluice-timestamp: 1\r\n\
         sluice-nonce: {}\r\nsluice-body-sha256: {}\r\nsluice-signature: {}\r\n\r\n",
        "00".repeat(8),
        "00".repeat(16),
        "00".repeat(32),
        "00".repeat(64)
    );
    let reply = dribble(server.addr, head, b"{").await;
    let reply = reply.expect("the server waited for the body of an unauthenticated request");
    assert!(reply.starts_with("HTTP/1.1 401"), "{reply}");
    assert!(
        !reply.to_ascii_lowercase().contains(COORDINATOR_SIGNATURE_HEADER),
        "{reply}"
    );
}

#[tokio::test]
async fn an_authenticated_signer_dribbling_its_body_is_cut_off() {
    let server = start().await;
    let body = br#"{"psbt": "cHNidP8="}"#;
    let path = "/v1/signer/sessions/1/signatures";
    let auth = sign_request(
        &Secp256k1::new(),
        &server.signer,
        &RequestParts::new("POST", path, body),
        sluice_coordinator::clock::now().secs(),
        [9; 16],
        [0; 32],
    );
    // It declares far more body than it will send in the server's time limit.
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n"
    );
    for (name, value) in auth.header_values() {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let reply = dribble(server.addr, head, b" ").await;
    let reply = reply.expect("the server kept a dribbling body's connection open");
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    // The signer is authenticated: even the refusal is signed for it.
    assert!(
        reply.to_ascii_lowercase().contains(COORDINATOR_SIGNATURE_HEADER),
        "{reply}"
    );
}

#![allow(clippy::unwrap_used)] // tests: a panic is a failure report
//! Webhooks end to end: the real `sluice-coordinator run webhooks` process delivers the
//! outbox to a real receiver on loopback that refuses the first attempts (and the first
//! attempt of every event), is killed with SIGKILL mid-run and restarted: every event
//! arrives, every request's signature verifies, and a repeated event carries the same id
//! and the same body.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bitcoin::hashes::Hash;
use bitcoin::{Address, Amount, Network, ScriptBuf, WPubkeyHash};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sluice_coordinator::rules::fees::FeeSchedule;
use sluice_coordinator::rules::policy::ApprovalPolicy;
use sluice_coordinator::rules::risk::RiskSettings;
use sluice_coordinator::rules::roles::Role;
use sluice_coordinator::service::{Actor, AdminDesk, Change, Coordinator, NewWalletRequest};
use sluice_coordinator::time::UnixTime;
use sluice_coordinator::wallet_spec::WalletKindArg;
use sluice_coordinator::webhook::signature;
use sluice_shared::api::NewWithdrawal;
use sluice_shared::asset::Asset;

const SECRET: &str = "receiver-shared-secret-0123456789";
const NOW: UnixTime = UnixTime::from_secs(1_735_700_000);
const KEYS: [&str; 3] = [
    "[1bbaa5fe/84h/1h/0h]tpubDDHx3CNs1F7LipoKW8ccMFNJsXJ6WYLFubNaCYLZtBX6G2GsQ7EJgbuecqwXfQtLKzxt2Kn8vJkxEWeQNto3deB7JCHdKHuRJMcYMDFABwi",
    "[72408740/84h/1h/0h]tpubDDK8J3o2xAQqa14ubD5UW9ztUMRnpPKYNnCE6T8UChumFXApW4fX4ziePYbgH8kT63xpRviLH7ZNVzaZzAZ8nhwjzFVdT9mWdqZajmTCfv2",
    "[3429876a/84h/1h/0h]tpubDCRy5oJLbB3etWH8sirNRUhtdp5GqhNPChRnpe8GMuze9NbgQeagn6icEf1moF2xpxiE2b5V5w2PQyBiifkjLQmfGfqbgSAXDbpegWj9V3s",
];

fn address(seed: u8) -> String {
    let script = ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([seed; 20]));
    Address::from_script(&script, Network::Regtest)
        .unwrap()
        .to_string()
}

/// What the receiver saw: every request, and which event ids it accepted.
#[derive(Default)]
struct Received {
    requests: usize,
    /// event id -> every body received for it.
    bodies: BTreeMap<String, Vec<Vec<u8>>>,
    accepted: BTreeSet<String>,
    bad_signatures: Vec<String>,
}

/// A receiver on 127.0.0.1:0 that answers 503 to the first three requests and to the
/// first attempt of each event, 200 otherwise; it checks every signature.
async fn receiver(seen: Arc<Mutex<Received>>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let header = |name: &str| {
                            request
                                .headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_owned()
                        };
                        let (id, timestamp, sig) = (
                            header("sluice-event-id"),
                            header("sluice-timestamp"),
                            header("sluice-signature"),
                        );
                        let body = request.into_body().collect().await.unwrap().to_bytes().to_vec();
                        let mut seen = seen.lock().unwrap();
                        seen.requests += 1;
                        let expected = signature(SECRET.as_bytes(), timestamp.parse().unwrap_or(-1), &body);
                        if sig != expected {
                            seen.bad_signatures.push(id.clone());
                        }
                        let first_of_event = !seen.bodies.contains_key(&id);
                        seen.bodies.entry(id.clone()).or_default().push(body);
                        let status = if seen.requests <= 3 || first_of_event {
                            StatusCode::SERVICE_UNAVAILABLE
                        } else {
                            seen.accepted.insert(id);
                            StatusCode::OK
                        };
                        Ok::<_, std::convert::Infallible>(
                            Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::new()))
                                .unwrap(),
                        )
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

struct Setup {
    coord: Coordinator,
    requester: Actor,
    approvers: [Actor; 2],
}

fn setup(path: &Path) -> Setup {
    let mut desk = AdminDesk::initialise(path, Network::Regtest, ["root", "ops"], NOW).unwrap();
    let (requester, _) = desk.enroll_staff("backend", Role::Requester).unwrap();
    let (alice, _) = desk.enroll_staff("alice", Role::Approver).unwrap();
    let (bob, _) = desk.enroll_staff("bob", Role::Approver).unwrap();
    desk.add_verified_customer("c1").unwrap();
    for change in [
        Change::BeneficiaryAdd {
            customer_id: "c1".into(),
            address: address(1),
            label: "c1 main".into(),
        },
        Change::FeesSet {
            asset: Asset::Btc,
            schedule: FeeSchedule::Flat(Amount::from_sat(1_000)),
        },
        Change::WalletCreate(NewWalletRequest {
            name: "hot".into(),
            kind: WalletKindArg::WshSortedMulti,
            threshold: Some(2),
            keys: KEYS.iter().map(|k| k.to_string()).collect(),
            policy: ApprovalPolicy::Both {
                max_amount_sat: Amount::from_sat(10_000_000),
                registered_destination_only: true,
                approvers_required: 2,
            },
            daily_limit: Amount::from_int_btc(100),
        }),
        Change::RiskSettings {
            settings: RiskSettings::recommended(),
        },
    ] {
        desk.agree(change).unwrap();
    }
    Setup {
        coord: desk.coord,
        requester,
        approvers: [alice, bob],
    }
}

/// Requests `n` withdrawals and approves the flagged ones: status changes and flags.
fn make_events(s: &mut Setup, tag: &str, n: u64) {
    for i in 0..n {
        let request = NewWithdrawal {
            customer_id: "c1".into(),
            wallet: "hot".into(),
            destination: address(1),
            amount_sat: Amount::from_sat(100_000 + i),
        };
        let detail = s
            .coord
            .request_withdrawal(&s.requester, &format!("{tag}-{i}"), &request, NOW)
            .unwrap()
            .into_detail();
        if !detail.flags.is_empty() {
            let id = detail.withdrawal.id;
            s.coord.approve(&s.approvers[0], id, NOW).unwrap();
            s.coord.approve(&s.approvers[1], id, NOW).unwrap();
        }
    }
}

fn event_ids(coord: &Coordinator) -> BTreeSet<String> {
    let mut stmt = coord
        .connection()
        .prepare("SELECT event_id FROM webhook_events")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn start_service(db: &Path, url: &str, secret_file: &Path) -> Child {
    Command::new(common::BIN)
        .arg("--db")
        .arg(db)
        .args([
            "--network",
            "regtest",
            "run",
            "webhooks",
            "--webhook",
            url,
            "--webhook-secret-file",
        ])
        .arg(secret_file)
        .args(["--webhook-retry-ms", "20", "--interval-ms", "50"])
        .env_remove("SLUICE_TOKEN")
        .env_remove("SLUICE_DB")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_until(what: &str, seen: &Arc<Mutex<Received>>, done: impl Fn(&Received) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if done(&seen.lock().unwrap()) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_signed_at_least_once_across_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let db: PathBuf = dir.path().join("coordinator.sqlite");
    let secret_file = dir.path().join("webhook.secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    let mut s = setup(&db);
    make_events(&mut s, "first", 3);

    let seen = Arc::new(Mutex::new(Received::default()));
    let addr = receiver(seen.clone()).await;
    let url = format!("http://{addr}/hook");
    let mut service = start_service(&db, &url, &secret_file);
    wait_until("something was delivered", &seen, |r| !r.accepted.is_empty()).await;
    // SIGKILL mid-run: nothing in memory survives; the outbox and log do.
    service.kill().unwrap();
    service.wait().unwrap();

    make_events(&mut s, "second", 2);
    let expected = event_ids(&s.coord);
    assert!(expected.len() >= 10, "{expected:?}");
    let mut service = start_service(&db, &url, &secret_file);
    wait_until("every event was accepted", &seen, |r| {
        expected.is_subset(&r.accepted)
    })
    .await;
    // The receiver's 200 reaches the service a moment before the service records the
    // delivery: wait for the record, not only the receipt, before stopping it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.coord.webhook_undelivered(&url).unwrap() != 0 {
        assert!(
            Instant::now() < deadline,
            "timed out waiting until every delivery was recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    service.kill().unwrap();
    service.wait().unwrap();

    let seen = seen.lock().unwrap();
    assert!(seen.bad_signatures.is_empty(), "{:?}", seen.bad_signatures);
    for (id, bodies) in &seen.bodies {
        assert!(bodies.len() >= 2, "event {id} was refused once, so it came again");
        assert!(
            bodies.windows(2).all(|w| w[0] == w[1]),
            "event {id}: a retry changed the body"
        );
        let body: serde_json::Value = serde_json::from_slice(&bodies[0]).unwrap();
        assert_eq!(body["id"], id.as_str());
    }
    let kinds: BTreeSet<String> = seen
        .bodies
        .values()
        .map(|b| {
            serde_json::from_slice::<serde_json::Value>(&b[0]).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(
        kinds.contains("withdrawal.status") && kinds.contains("withdrawal.flagged"),
        "{kinds:?}"
    );
    drop(seen);

    // The delivery log shows the failures and the successes.
    assert_eq!(s.coord.webhook_undelivered(&url).unwrap(), 0);
    let out = common::run_cli(&db, None, &["--network", "regtest", "webhook", "deliveries"]);
    assert!(!out.status.success(), "the log needs a staff token");
    let log = s.coord.webhook_deliveries(&s.requester, 500).unwrap();
    assert!(log.iter().any(|d| !d.delivered && d.http_status == Some(503)));
    assert!(log.iter().filter(|d| d.delivered).count() >= expected.len());
}

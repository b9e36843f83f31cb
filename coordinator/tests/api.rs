#![allow(clippy::unwrap_used)] // tests: a panic is a failure report
//! The HTTP API over real loopback connections (port 0): authentication and roles, the
//! withdrawal life cycle, idempotency under concurrency, limits under concurrency, and
//! every error reply's status and code.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bitcoin::hashes::Hash;
use bitcoin::{Address, Amount, Network, ScriptBuf, WPubkeyHash};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use sluice_coordinator::api::{serve, CoordinatorPool};
use sluice_coordinator::identity::CoordinatorIdentity;
use sluice_coordinator::rules::deposits::{AddressPolicy, DepositSettings};
use sluice_coordinator::rules::fees::FeeSchedule;
use sluice_coordinator::rules::policy::ApprovalPolicy;
use sluice_coordinator::rules::roles::Role;
use sluice_coordinator::service::{AdminDesk, Change, NewWalletRequest};
use sluice_coordinator::time::UnixTime;
use sluice_coordinator::wallet_spec::WalletKindArg;
use sluice_shared::asset::Asset;
use tokio::sync::oneshot;

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

struct Server {
    _dir: tempfile::TempDir,
    db_path: PathBuf,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    client: Client<HttpConnector, Full<Bytes>>,
    requester: String,
    approvers: [String; 2],
    admin: String,
    admin2: String,
    /// Compliance: KYC, blocklist, tags.
    compliance: String,
    /// The shadow system's read-only token.
    shadow: String,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

/// A database with staff, customer c1 (beneficiary `address(1)`), a flat fee and wallet
/// "hot" (2 manual approvals, daily limit `wallet_limit`), served on 127.0.0.1:0.
async fn start(wallet_limit: Amount) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("coordinator.sqlite");
    let now = UnixTime::from_secs(1_735_700_000);
    let mut desk = AdminDesk::initialise(&path, Network::Regtest, ["root", "ops"], now).unwrap();
    let agree = |desk: &mut AdminDesk, change: Change| desk.agree(change).unwrap();
    let token = |desk: &mut AdminDesk, name: &str, role: Role| {
        let (_, token) = desk.enroll_staff(name, role).unwrap();
        token.reveal().to_string()
    };
    let requester = token(&mut desk, "backend", Role::Requester);
    let approvers = [
        token(&mut desk, "alice", Role::Approver),
        token(&mut desk, "bob", Role::Approver),
    ];
    desk.add_verified_customer("c1").unwrap();
    let compliance = token(&mut desk, "cora", Role::Compliance);
    let shadow = token(&mut desk, "watcher", Role::Shadow);
    desk.coord.add_customer(&desk.admin, "c2", now).unwrap();
    agree(
        &mut desk,
        Change::BeneficiaryAdd {
            customer_id: "c1".into(),
            address: address(1),
            label: "c1 main".into(),
        },
    );
    agree(
        &mut desk,
        Change::FeesSet {
            asset: Asset::Btc,
            schedule: FeeSchedule::Flat(Amount::from_sat(2_000)),
        },
    );
    agree(
        &mut desk,
        Change::WalletCreate(NewWalletRequest {
            name: "hot".into(),
            kind: WalletKindArg::WshSortedMulti,
            threshold: Some(2),
            keys: KEYS.iter().map(|k| k.to_string()).collect(),
            policy: ApprovalPolicy::Manual {
                approvers_required: 2,
            },
            daily_limit: wallet_limit,
        }),
    );
    // A deposit wallet (public keys only), new address per request, gap limit 2.
    agree(
        &mut desk,
        Change::WalletCreate(NewWalletRequest {
            name: "deposits".into(),
            kind: WalletKindArg::Wpkh,
            threshold: None,
            keys: vec![KEYS[0].to_string()],
            policy: ApprovalPolicy::Manual {
                approvers_required: 2,
            },
            daily_limit: Amount::ZERO,
        }),
    );
    agree(
        &mut desk,
        Change::DepositWallet {
            wallet: "deposits".into(),
            settings: DepositSettings {
                address_policy: AddressPolicy::PerRequest,
                gap_limit: 2,
                credit_confirmations: 3,
                tag_above_sat: None,
            },
        },
    );
    let AdminDesk {
        coord,
        admin_token,
        second_token,
        ..
    } = desk;
    drop(coord);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let identity = CoordinatorIdentity::generate(&mut rand::thread_rng());
    let pool = Arc::new(CoordinatorPool::open(path.clone(), Some(Network::Regtest), identity).unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, pool, async {
        let _ = stopped.await;
    }));
    Server {
        _dir: dir,
        db_path: path,
        addr,
        stop: Some(stop),
        task: Some(task),
        client: Client::builder(TokioExecutor::new()).build_http(),
        requester,
        approvers,
        admin: admin_token.reveal().to_string(),
        admin2: second_token.reveal().to_string(),
        compliance,
        shadow,
    }
}

impl Server {
    /// A GET without a token; returns status, Content-Type and the body as text.
    async fn get_text(&self, path: &str) -> (StatusCode, String, String) {
        let request = Request::builder()
            .uri(format!("http://{}{path}", self.addr))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = self.client.request(request).await.unwrap();
        let status = response.status();
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, content_type, String::from_utf8(bytes.to_vec()).unwrap())
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Reply {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let has_body = body.is_some();
        if has_body
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            builder = builder.header("content-type", "application/json");
        }
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .unwrap();
        let response = self.client.request(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn withdraw(&self, key: &str, amount_sat: u64) -> Reply {
        let body = json!({"customer_id": "c1", "wallet": "hot", "destination": address(1), "amount_sat": amount_sat});
        self.call(
            Method::POST,
            "/v1/withdrawals",
            Some(&self.requester),
            &[("idempotency-key", key)],
            Some(body.to_string()),
        )
        .await
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

fn code(reply: &Reply) -> &str {
    reply.body["error"]["code"].as_str().unwrap_or("<no error code>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawal_from_request_to_approved() {
    let server = start(Amount::from_sat(100_000_000)).await;
    let created = server.withdraw("order-1", 1_000_000).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let id = created.body["withdrawal"]["id"].as_u64().unwrap();
    assert_eq!(
        created.headers["location"],
        format!("/v1/withdrawals/{id}").as_str()
    );
    assert_eq!(created.headers["idempotent-replayed"], "false");
    assert_eq!(created.body["withdrawal"]["status"], "pending_approval");
    assert_eq!(created.body["withdrawal"]["fee_sat"], 2_000);
    assert_eq!(created.body["withdrawal"]["requested_by"], "backend");

    let first = server
        .call(
            Method::POST,
            &format!("/v1/withdrawals/{id}/approve"),
            Some(&server.approvers[0]),
            &[],
            None,
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert_eq!(first.body["withdrawal"]["status"], "pending_approval");
    let second = server
        .call(
            Method::POST,
            &format!("/v1/withdrawals/{id}/approve"),
            Some(&server.approvers[1]),
            &[],
            Some("{}".into()),
        )
        .await;
    assert_eq!(second.status, StatusCode::OK, "{:?}", second.body);
    assert_eq!(second.body["withdrawal"]["status"], "approved");

    let shown = server
        .call(
            Method::GET,
            &format!("/v1/withdrawals/{id}"),
            Some(&server.requester),
            &[],
            None,
        )
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    let kinds: Vec<&str> = shown.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["requested", "approval_recorded", "approval_recorded", "approved"]
    );
    assert_eq!(shown.body["approvals"][0]["approver"], "alice");
    assert_eq!(shown.body["approvals"][1]["method"], "manual");

    let listed = server
        .call(
            Method::GET,
            "/v1/withdrawals?status=approved&limit=10",
            Some(&server.admin),
            &[],
            None,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body["withdrawals"].as_array().unwrap().len(), 1);
    let pending = server
        .call(
            Method::GET,
            "/v1/withdrawals?status=pending_approval",
            Some(&server.admin),
            &[],
            None,
        )
        .await;
    assert!(pending.body["withdrawals"].as_array().unwrap().is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_and_roles() {
    let server = start(Amount::from_sat(100_000_000)).await;
    let none = server.call(Method::GET, "/v1/withdrawals", None, &[], None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&none), "unauthenticated");
    assert_eq!(none.headers["www-authenticate"], "Bearer");
    let wrong = format!("sluice_{}", "ab".repeat(32));
    let bad = server
        .call(Method::GET, "/v1/withdrawals", Some(&wrong), &[], None)
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    let malformed = server
        .call(Method::GET, "/v1/withdrawals", Some("hunter2"), &[], None)
        .await;
    assert_eq!(malformed.status, StatusCode::UNAUTHORIZED);
    // Authentication comes first: a bad body from a stranger still gets 401.
    let stranger = server
        .call(
            Method::POST,
            "/v1/withdrawals",
            Some(&wrong),
            &[],
            Some("{not json".into()),
        )
        .await;
    assert_eq!(stranger.status, StatusCode::UNAUTHORIZED);

    let id = server.withdraw("k", 1_000_000).await.body["withdrawal"]["id"]
        .as_u64()
        .unwrap();
    for token in [&server.requester, &server.admin] {
        let reply = server
            .call(
                Method::POST,
                &format!("/v1/withdrawals/{id}/approve"),
                Some(token),
                &[],
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{:?}", reply.body);
        assert_eq!(code(&reply), "forbidden");
    }
    let body = json!({"customer_id": "c1", "wallet": "hot", "destination": address(1), "amount_sat": 5000});
    let reply = server
        .call(
            Method::POST,
            "/v1/withdrawals",
            Some(&server.approvers[0]),
            &[("idempotency-key", "x")],
            Some(body.to_string()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let approve_twice = {
        server
            .call(
                Method::POST,
                &format!("/v1/withdrawals/{id}/approve"),
                Some(&server.approvers[0]),
                &[],
                None,
            )
            .await;
        server
            .call(
                Method::POST,
                &format!("/v1/withdrawals/{id}/approve"),
                Some(&server.approvers[0]),
                &[],
                None,
            )
            .await
    };
    assert_eq!(approve_twice.status, StatusCode::CONFLICT);
    assert_eq!(code(&approve_twice), "already_approved");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_over_http() {
    let server = start(Amount::from_sat(100_000_000)).await;
    let created = server.withdraw("order-9", 1_000_000).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let replay = server.withdraw("order-9", 1_000_000).await;
    assert_eq!(replay.status, StatusCode::OK);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(replay.body, created.body);
    let conflict = server.withdraw("order-9", 1_000_001).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert_eq!(code(&conflict), "idempotency_conflict");
    let missing = server
        .call(
            Method::POST,
            "/v1/withdrawals",
            Some(&server.requester),
            &[],
            Some(
                json!({"customer_id": "c1", "wallet": "hot", "destination": address(1), "amount_sat": 5000})
                    .to_string(),
            ),
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&missing), "missing_idempotency_key");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_create_one_withdrawal() {
    let server = Arc::new(start(Amount::from_sat(100_000_000)).await);
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            server.withdraw("same-key", 1_000_000).await
        }));
    }
    let mut created = 0;
    let mut ids = std::collections::BTreeSet::new();
    for task in tasks {
        let reply = task.await.unwrap();
        assert!(
            reply.status == StatusCode::CREATED || reply.status == StatusCode::OK,
            "{:?}",
            reply.body
        );
        created += usize::from(reply.status == StatusCode::CREATED);
        ids.insert(reply.body["withdrawal"]["id"].as_u64().unwrap());
    }
    assert_eq!(created, 1);
    assert_eq!(ids.len(), 1);
    Arc::try_unwrap(server).ok().unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_never_exceed_the_daily_limit() {
    // Room for exactly three withdrawals of 1,000,000 sat.
    let server = Arc::new(start(Amount::from_sat(3_500_000)).await);
    let mut tasks = Vec::new();
    for i in 0..10 {
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            server.withdraw(&format!("k{i}"), 1_000_000).await
        }));
    }
    let mut created = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        match reply.status {
            StatusCode::CREATED => created += 1,
            StatusCode::UNPROCESSABLE_ENTITY => assert_eq!(code(&reply), "wallet_daily_limit"),
            other => panic!("unexpected {other}: {:?}", reply.body),
        }
    }
    assert_eq!(created, 3);
    Arc::try_unwrap(server).ok().unwrap().stop().await;
}

/// Group commit: requests arriving together share one write transaction. Each is answered
/// only once committed (the answer's withdrawal is already visible to another connection),
/// a refused one records nothing and costs the others nothing, and repeated keys within
/// a group make one withdrawal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_intake_commits_each_acknowledged_request_once() {
    let server = Arc::new(start(Amount::from_sat(100_000_000)).await);
    let mut tasks = Vec::new();
    for i in 0..60u64 {
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            // Every fifth is refused (below the dust limit); every seventh repeats key k0.
            let (key, amount) = match i {
                _ if i % 5 == 4 => (format!("refused-{i}"), 100),
                _ if i % 7 == 6 => ("k0".to_owned(), 1_000_000),
                _ => (format!("k{i}"), 1_000_000 + i),
            };
            let reply = server.withdraw(&key, amount).await;
            // Acknowledged means committed: another connection sees it at once.
            let db = rusqlite::Connection::open(&server.db_path).unwrap();
            let stored: Option<i64> = db
                .query_row(
                    "SELECT id FROM withdrawals WHERE idempotency_key = ?1",
                    [&key],
                    |r| r.get(0),
                )
                .ok();
            (key, reply, stored)
        }));
    }
    let mut created = std::collections::BTreeMap::new();
    let mut k0_ids = std::collections::BTreeSet::new();
    for task in tasks {
        let (key, reply, stored) = task.await.unwrap();
        match reply.status {
            StatusCode::CREATED | StatusCode::OK => {
                let id = reply.body["withdrawal"]["id"].as_u64().unwrap();
                assert_eq!(
                    stored,
                    Some(i64::try_from(id).unwrap()),
                    "{key} acknowledged before its commit"
                );
                if reply.status == StatusCode::CREATED {
                    assert!(created.insert(key.clone(), id).is_none(), "{key} created twice");
                }
                if key == "k0" {
                    k0_ids.insert(id);
                }
            }
            StatusCode::UNPROCESSABLE_ENTITY => {
                assert!(key.starts_with("refused-"), "{key}: {:?}", reply.body);
                assert_eq!(stored, None, "refused {key} left a row");
            }
            other => panic!("unexpected {other} for {key}: {:?}", reply.body),
        }
    }
    // One withdrawal per request that was neither refused nor a repeat of k0 (made by i = 0).
    let repeats = (0..60u64).filter(|i| i % 5 != 4 && i % 7 == 6).count();
    assert_eq!(created.len(), 60 - 12 - repeats);
    assert_eq!(k0_ids.len(), 1, "key k0 made more than one withdrawal");
    let db = rusqlite::Connection::open(&server.db_path).unwrap();
    let rows: i64 = db
        .query_row("SELECT COUNT(*) FROM withdrawals", [], |r| r.get(0))
        .unwrap();
    assert_eq!(usize::try_from(rows).unwrap(), created.len());
    Arc::try_unwrap(server).ok().unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_clear_errors() {
    let server = start(Amount::from_sat(100_000_000)).await;
    let token = server.requester.clone();
    let post = |body: String, headers: Vec<(&'static str, &'static str)>| {
        let token = token.clone();
        let server = &server;
        async move {
            let mut all = vec![("idempotency-key", "k-bad")];
            all.extend(headers);
            server
                .call(Method::POST, "/v1/withdrawals", Some(&token), &all, Some(body))
                .await
        }
    };
    let extra = json!({"customer_id": "c1", "wallet": "hot", "destination": address(1), "amount_sat": 5000, "priority": "high"});
    let reply = post(extra.to_string(), vec![]).await;
    assert_eq!(
        (reply.status, code(&reply)),
        (StatusCode::BAD_REQUEST, "invalid_json")
    );
    assert!(reply.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("priority"));

    let reply = post("{\"customer_id\": 5}".into(), vec![]).await;
    assert_eq!(
        (reply.status, code(&reply)),
        (StatusCode::BAD_REQUEST, "invalid_json")
    );

    let reply = post("{}".into(), vec![("content-type", "text/plain")]).await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let huge = format!("{{\"customer_id\": \"{}\"}}", "x".repeat(20_000));
    let reply = post(huge, vec![]).await;
    assert_eq!(
        (reply.status, code(&reply)),
        (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
    );

    let mainnet = json!({"customer_id": "c1", "wallet": "hot", "destination": "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "amount_sat": 5000});
    let reply = post(mainnet.to_string(), vec![]).await;
    assert_eq!(
        (reply.status, code(&reply)),
        (StatusCode::UNPROCESSABLE_ENTITY, "wrong_network")
    );
    assert!(reply.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("regtest"));

    let dust = json!({"customer_id": "c1", "wallet": "hot", "destination": address(1), "amount_sat": 10});
    let reply = post(dust.to_string(), vec![]).await;
    assert_eq!(
        (reply.status, code(&reply)),
        (StatusCode::UNPROCESSABLE_ENTITY, "below_dust")
    );

    let stranger =
        json!({"customer_id": "c1", "wallet": "hot", "destination": address(2), "amount_sat": 5000});
    let reply = post(stranger.to_string(), vec![]).await;
    assert_eq!(
        (reply.status, code(&reply)),
        (StatusCode::UNPROCESSABLE_ENTITY, "not_a_beneficiary")
    );

    let t = Some(server.approvers[0].as_str());
    let reply = server
        .call(Method::GET, "/v1/withdrawals/999", t, &[], None)
        .await;
    assert_eq!((reply.status, code(&reply)), (StatusCode::NOT_FOUND, "not_found"));
    let reply = server.call(Method::GET, "/v1/nothing", t, &[], None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = server
        .call(Method::DELETE, "/v1/withdrawals/1", t, &[], None)
        .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.headers["allow"], "GET");
    let reply = server
        .call(Method::GET, "/v1/withdrawals?order=asc", t, &[], None)
        .await;
    assert_eq!(
        (reply.status, code(&reply)),
        (StatusCode::BAD_REQUEST, "invalid_query")
    );
    let reply = server
        .call(
            Method::POST,
            "/v1/withdrawals/999/reject",
            t,
            &[],
            Some("{\"reason\": \"x\"}".into()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = server
        .call(
            Method::POST,
            "/v1/withdrawals/1/reject",
            t,
            &[],
            Some("{}".into()),
        )
        .await;
    assert_eq!(
        (reply.status, code(&reply)),
        (StatusCode::BAD_REQUEST, "invalid_json")
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejection_over_http() {
    let server = start(Amount::from_sat(100_000_000)).await;
    let id = server.withdraw("k", 1_000_000).await.body["withdrawal"]["id"]
        .as_u64()
        .unwrap();
    let reply = server
        .call(
            Method::POST,
            &format!("/v1/withdrawals/{id}/reject"),
            Some(&server.approvers[1]),
            &[],
            Some(json!({"reason": "beneficiary under review"}).to_string()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.body["withdrawal"]["status"], "rejected");
    let last = reply.body["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["reason"], "beneficiary under review");
    assert_eq!(last["actor"], "bob");
    let again = server
        .call(
            Method::POST,
            &format!("/v1/withdrawals/{id}/approve"),
            Some(&server.approvers[0]),
            &[],
            None,
        )
        .await;
    assert_eq!(
        (again.status, code(&again)),
        (StatusCode::CONFLICT, "not_pending")
    );
    server.stop().await;
}

/// Four eyes over HTTP: one admin's token alone proposes but cannot apply; the second
/// admin applies; the new staff member alone collects their token with the enrollment
/// secret; non-admins get 403, strangers 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_admin_alone_cannot_apply_a_proposal_over_http() {
    let server = start(Amount::from_sat(100_000_000)).await;
    let post = |path: String, token: Option<String>, body: Option<String>| {
        let server = &server;
        async move {
            server
                .call(Method::POST, &path, token.as_deref(), &[], body)
                .await
        }
    };
    let admin = Some(server.admin.clone());
    let admin2 = Some(server.admin2.clone());

    // Strangers and non-admins.
    let change = json!({"change": "staff_add", "name": "eve", "role": "approver"}).to_string();
    let stranger = post("/v1/proposals".into(), None, Some(change.clone())).await;
    assert_eq!(stranger.status, StatusCode::UNAUTHORIZED);
    let approver = post(
        "/v1/proposals".into(),
        Some(server.approvers[0].clone()),
        Some(change.clone()),
    )
    .await;
    assert_eq!(approver.status, StatusCode::FORBIDDEN, "{:?}", approver.body);

    // Every kind of change: proposed by one admin, refused to the same admin.
    let changes = [
        change.clone(),
        json!({"change": "staff_rotate_token", "name": "alice"}).to_string(),
        json!({"change": "beneficiary_add", "customer_id": "c1", "address": address(9), "label": "x"}).to_string(),
        json!({"change": "fees_set", "asset": "BTC", "schedule": {"type": "flat", "flat_sat": 0}}).to_string(),
        json!({"change": "customer_daily_limit", "customer_id": "c1", "asset": "BTC", "daily_limit_sat": 2_100_000_000_000_000u64}).to_string(),
        json!({"change": "wallet_daily_limit", "wallet": "hot", "daily_limit_sat": 2_100_000_000_000_000u64}).to_string(),
        json!({"change": "wallet_policy", "wallet": "hot", "policy": {"type": "auto", "max_amount_sat": 2_100_000_000_000_000u64, "registered_destination_only": false}}).to_string(),
    ];
    let mut ids = Vec::new();
    for body in changes {
        let created = post("/v1/proposals".into(), admin.clone(), Some(body.clone())).await;
        assert_eq!(created.status, StatusCode::CREATED, "{body}: {:?}", created.body);
        assert_eq!(created.body["status"], "pending");
        let id = created.body["id"].as_u64().unwrap();
        let own = post(format!("/v1/proposals/{id}/approve"), admin.clone(), None).await;
        assert_eq!(own.status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(code(&own), "own_proposal");
        ids.push(id);
    }
    // Nothing took effect: the wallet still needs two approvers, alice's token works.
    let w = server.withdraw("after", 1_000_000).await;
    assert_eq!(w.body["withdrawal"]["status"], "pending_approval", "{:?}", w.body);
    let wid = w.body["withdrawal"]["id"].as_u64().unwrap();
    let by_alice = post(
        format!("/v1/withdrawals/{wid}/approve"),
        Some(server.approvers[0].clone()),
        None,
    )
    .await;
    assert_eq!(by_alice.status, StatusCode::OK, "{:?}", by_alice.body);

    // The second admin applies the staff proposal and gets an enrollment secret, not a token.
    let applied = post(format!("/v1/proposals/{}/approve", ids[0]), admin2.clone(), None).await;
    assert_eq!(applied.status, StatusCode::OK, "{:?}", applied.body);
    assert_eq!(applied.body["proposal"]["status"], "applied");
    assert_eq!(applied.body["applied"]["kind"], "enrollment");
    let secret = applied.body["applied"]["enrollment_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(secret.starts_with("sluice-enroll_"));
    let not_a_token = server
        .call(Method::GET, "/v1/withdrawals", Some(&secret), &[], None)
        .await;
    assert_eq!(not_a_token.status, StatusCode::UNAUTHORIZED);
    let again = post(format!("/v1/proposals/{}/approve", ids[0]), admin2.clone(), None).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(code(&again), "proposal_not_pending");

    // eve enrolls without a bearer token; the secret works once.
    let enroll_body = json!({ "secret": secret }).to_string();
    let enrolled = post("/v1/staff/enroll".into(), None, Some(enroll_body.clone())).await;
    assert_eq!(enrolled.status, StatusCode::OK, "{:?}", enrolled.body);
    assert_eq!(enrolled.body["staff"], "eve");
    let eve = enrolled.body["token"].as_str().unwrap().to_owned();
    let listed = server
        .call(Method::GET, "/v1/withdrawals", Some(&eve), &[], None)
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    let reused = post("/v1/staff/enroll".into(), None, Some(enroll_body)).await;
    assert_eq!(reused.status, StatusCode::CONFLICT);
    assert_eq!(code(&reused), "enrollment_used");
    let unknown = post(
        "/v1/staff/enroll".into(),
        None,
        Some(json!({"secret": format!("sluice-enroll_{}", "0".repeat(64))}).to_string()),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);

    // Reject, list and show.
    let rejected = post(
        format!("/v1/proposals/{}/reject", ids[1]),
        admin2.clone(),
        Some(json!({"reason": "not needed"}).to_string()),
    )
    .await;
    assert_eq!(rejected.status, StatusCode::OK, "{:?}", rejected.body);
    assert_eq!(rejected.body["status"], "rejected");
    let shown = server
        .call(
            Method::GET,
            &format!("/v1/proposals/{}", ids[2]),
            admin2.as_deref(),
            &[],
            None,
        )
        .await;
    assert_eq!(shown.body["change"]["change"], "beneficiary_add");
    assert_eq!(shown.body["proposed_by"], "root");
    let all = server
        .call(
            Method::GET,
            "/v1/proposals?limit=100",
            admin.as_deref(),
            &[],
            None,
        )
        .await;
    // The set-up's eleven (staff, the compliance officer, the shadow's token,
    // beneficiary, fee, the wallets, the deposit wallet mark) and these.
    assert_eq!(all.body["proposals"].as_array().unwrap().len(), 11 + ids.len());
    let unknown_field = post(
        "/v1/proposals".into(),
        admin,
        Some(json!({"change": "fees_set", "asset": "BTC", "schedule": {"type": "flat", "flat_sat": 0}, "force": true}).to_string()),
    )
    .await;
    assert_eq!(unknown_field.status, StatusCode::BAD_REQUEST);
    server.stop().await;
}

/// Stuck transactions over HTTP: bump and abandon are for approvers (403 otherwise), an
/// unknown session is 404 (its history too), a malformed body is 400. (The bump and abandon themselves: the service tests and
/// `tests/tests/stuck_transactions.rs`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_bump_and_abandon_over_http() {
    let server = start(Amount::from_sat(100_000_000)).await;
    let bump = |token: &str, body: Value| {
        let token = token.to_owned();
        let server = &server;
        async move {
            server
                .call(
                    Method::POST,
                    "/v1/sessions/7/bump",
                    Some(&token),
                    &[],
                    Some(body.to_string()),
                )
                .await
        }
    };
    let reply = bump(&server.requester, json!({"fee_rate_sat_vb": 20})).await;
    assert_eq!((reply.status, code(&reply)), (StatusCode::FORBIDDEN, "forbidden"));
    let reply = bump(&server.approvers[0], json!({"fee_rate_sat_vb": 20})).await;
    assert_eq!((reply.status, code(&reply)), (StatusCode::NOT_FOUND, "not_found"));
    let reply = bump(&server.approvers[0], json!({"fee_rate": 20})).await;
    assert_eq!(
        (reply.status, code(&reply)),
        (StatusCode::BAD_REQUEST, "invalid_json")
    );
    let reply = server
        .call(
            Method::POST,
            "/v1/sessions/7/abandon",
            Some(&server.requester),
            &[],
            Some(json!({"reason": "stuck"}).to_string()),
        )
        .await;
    assert_eq!((reply.status, code(&reply)), (StatusCode::FORBIDDEN, "forbidden"));
    let reply = server
        .call(
            Method::POST,
            "/v1/sessions/7/abandon",
            Some(&server.approvers[1]),
            &[],
            Some(json!({"reason": "stuck"}).to_string()),
        )
        .await;
    assert_eq!((reply.status, code(&reply)), (StatusCode::NOT_FOUND, "not_found"));
    let reply = server
        .call(
            Method::GET,
            "/v1/sessions/7/history",
            Some(&server.requester),
            &[],
            None,
        )
        .await;
    assert_eq!((reply.status, code(&reply)), (StatusCode::NOT_FOUND, "not_found"));
    server.stop().await;
}

/// Deposits and compliance over HTTP: the requester issues addresses (within the gap
/// limit), anyone reads the address list and ledger (what the shadow reads), only
/// compliance sets KYC, and a withdrawal for an unverified customer is refused with its
/// own code.
#[tokio::test]
async fn deposit_addresses_kyc_and_the_ledger_over_http() {
    let server = start(Amount::from_sat(10_000_000_000)).await;
    let issue = |token: String, customer: &str| {
        let body = json!({"wallet": "deposits", "customer_id": customer}).to_string();
        let server = &server;
        async move {
            server
                .call(
                    Method::POST,
                    "/v1/deposit-addresses",
                    Some(&token),
                    &[],
                    Some(body),
                )
                .await
        }
    };
    let first = issue(server.requester.clone(), "c1").await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    assert_eq!(first.body["derivation_index"], 0);
    assert_eq!(first.body["customer_id"], "c1");
    let second = issue(server.requester.clone(), "c1").await;
    assert_eq!(second.body["derivation_index"], 1);
    let gap = issue(server.requester.clone(), "c2").await;
    assert_eq!(gap.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", gap.body);
    assert_eq!(code(&gap), "gap_limit");
    let by_admin = issue(server.admin.clone(), "c1").await;
    assert_eq!(by_admin.status, StatusCode::FORBIDDEN);

    let listed = server
        .call(
            Method::GET,
            "/v1/deposit-addresses?customer=c1",
            Some(&server.compliance),
            &[],
            None,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    let addresses = listed.body["addresses"].as_array().unwrap();
    assert_eq!(addresses.len(), 2);
    assert_eq!(addresses[0]["address"], first.body["address"]);
    let ledger = server
        .call(
            Method::GET,
            "/v1/deposits?status=pending",
            Some(&server.approvers[0]),
            &[],
            None,
        )
        .await;
    assert_eq!(ledger.status, StatusCode::OK);
    assert_eq!(ledger.body["deposits"], json!([]));
    // Payments still in the mempool: their own list (the monitor fills it; none here).
    let unconfirmed = server
        .call(
            Method::GET,
            "/v1/unconfirmed-deposits?customer=c1",
            Some(&server.approvers[0]),
            &[],
            None,
        )
        .await;
    assert_eq!(unconfirmed.status, StatusCode::OK);
    assert_eq!(unconfirmed.body["deposits"], json!([]));
    let bad_query = server
        .call(
            Method::GET,
            "/v1/unconfirmed-deposits?status=pending",
            Some(&server.approvers[0]),
            &[],
            None,
        )
        .await;
    assert_eq!(bad_query.status, StatusCode::BAD_REQUEST);
    let bad_status = server
        .call(
            Method::GET,
            "/v1/deposits?status=spent",
            Some(&server.admin),
            &[],
            None,
        )
        .await;
    assert_eq!(bad_status.status, StatusCode::BAD_REQUEST);

    // c2 starts unverified: withdrawals refused; only compliance verifies.
    let set = |token: String, body: Value| {
        let server = &server;
        async move {
            server
                .call(Method::POST, "/v1/kyc", Some(&token), &[], Some(body.to_string()))
                .await
        }
    };
    let verify = json!({"customer_id": "c2", "status": "verified", "verified_until": "2099-12-31", "note": "passport"});
    let by_requester = set(server.requester.clone(), verify.clone()).await;
    assert_eq!(by_requester.status, StatusCode::FORBIDDEN);
    assert_eq!(code(&by_requester), "forbidden");
    server
        .call(
            Method::POST,
            "/v1/proposals",
            Some(&server.admin),
            &[],
            Some(json!({"change": "beneficiary_add", "customer_id": "c2", "address": address(2), "label": "c2"}).to_string()),
        )
        .await;
    let proposals = server
        .call(
            Method::GET,
            "/v1/proposals?limit=1",
            Some(&server.admin),
            &[],
            None,
        )
        .await;
    let id = proposals.body["proposals"][0]["id"].as_u64().unwrap();
    let approved = server
        .call(
            Method::POST,
            &format!("/v1/proposals/{id}/approve"),
            Some(&server.admin2),
            &[],
            None,
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{:?}", approved.body);
    let request =
        json!({"customer_id": "c2", "wallet": "hot", "destination": address(2), "amount_sat": 50_000});
    let refused = server
        .call(
            Method::POST,
            "/v1/withdrawals",
            Some(&server.requester),
            &[("idempotency-key", "kyc-1")],
            Some(request.to_string()),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        refused.body
    );
    assert_eq!(code(&refused), "customer_not_verified");
    let verified = set(server.compliance.clone(), verify).await;
    assert_eq!(verified.status, StatusCode::OK, "{:?}", verified.body);
    assert_eq!(verified.body["standing"], "verified");
    assert_eq!(verified.body["history"][0]["actor"], "cora");
    let accepted = server
        .call(
            Method::POST,
            "/v1/withdrawals",
            Some(&server.requester),
            &[("idempotency-key", "kyc-2")],
            Some(request.to_string()),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{:?}", accepted.body);

    // A deposit wallet never pays a withdrawal.
    let from_deposits =
        json!({"customer_id": "c1", "wallet": "deposits", "destination": address(1), "amount_sat": 50_000});
    let refused = server
        .call(
            Method::POST,
            "/v1/withdrawals",
            Some(&server.requester),
            &[("idempotency-key", "dep-1")],
            Some(from_deposits.to_string()),
        )
        .await;
    assert_eq!(code(&refused), "deposit_wallet");

    // Resolutions: only of a deposit that exists (and is tagged); none yet.
    let missing = server
        .call(
            Method::POST,
            "/v1/deposits/999/resolutions",
            Some(&server.compliance),
            &[],
            Some(json!({"action": "return_to_owner", "destination": address(3), "reason": "r"}).to_string()),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{:?}", missing.body);
    let none = server
        .call(
            Method::GET,
            "/v1/resolutions",
            Some(&server.approvers[0]),
            &[],
            None,
        )
        .await;
    assert_eq!(none.body["resolutions"], json!([]));
    server.stop().await;
}

/// Parses the Prometheus text exposition format strictly enough to catch a malformed
/// line: every sample's metric has `# HELP` and `# TYPE gauge` (or `counter`, for a
/// `_total`) before it, names and label
/// names are valid, label values are quoted, values are numbers. Returns
/// `(name{labels}, value)` for each sample.
fn parse_prometheus(text: &str) -> Vec<(String, f64)> {
    fn valid_name(name: &str) -> bool {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }
    let mut helped = std::collections::HashSet::new();
    let mut typed = std::collections::HashSet::new();
    let mut samples = Vec::new();
    assert!(text.ends_with('\n'), "the exposition ends with a line feed");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap();
            assert!(valid_name(name) && !help.is_empty(), "{line}");
            assert!(helped.insert(name.to_owned()), "HELP twice for {name}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            let expected = if name.ends_with("_total") {
                "counter"
            } else {
                "gauge"
            };
            assert_eq!(kind, expected, "{line}");
            assert!(typed.insert(name.to_owned()), "TYPE twice for {name}");
        } else {
            assert!(
                !line.starts_with('#') && !line.is_empty(),
                "unexpected line {line:?}"
            );
            let (series, value) = line.rsplit_once(' ').unwrap();
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line:?}"));
            let name = series.split('{').next().unwrap();
            assert!(valid_name(name), "{line}");
            assert!(
                helped.contains(name) && typed.contains(name),
                "{name} sampled before HELP/TYPE"
            );
            if let Some(labels) = series.strip_prefix(name) {
                if !labels.is_empty() {
                    let inner = labels
                        .strip_prefix('{')
                        .and_then(|l| l.strip_suffix('}'))
                        .unwrap();
                    for pair in inner.split("\",").filter(|p| !p.is_empty()) {
                        let (key, value) = pair.split_once('=').unwrap();
                        assert!(valid_name(key) && value.starts_with('"'), "{line}");
                    }
                }
            }
            samples.push((series.to_owned(), value));
        }
    }
    samples
}

#[tokio::test]
async fn healthz_and_metrics() {
    let server = start(Amount::from_sat(100_000_000)).await;
    let (status, _, body) = server.get_text("/healthz").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok\n"));

    let created = server.withdraw("order-metrics", 1_000_000).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let (status, content_type, text) = server.get_text("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let samples = parse_prometheus(&text);
    let value = |series: &str| {
        samples
            .iter()
            .find(|(s, _)| s == series)
            .unwrap_or_else(|| panic!("no {series} in {text}"))
            .1
    };
    assert_eq!(value(r#"sluice_withdrawals{status="pending_approval"}"#), 1.0);
    assert_eq!(value(r#"sluice_withdrawals{status="confirmed"}"#), 0.0);
    assert_eq!(value("sluice_sender_unsent_sessions"), 0.0);
    assert!(value("sluice_audit_log_entries") > 0.0);

    let wrong = server.call(Method::POST, "/metrics", None, &[], None).await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    server.stop().await;
}

/// The shadow's token reads the deposit ledger and the issued addresses, and every other
/// request, each POST and every other read, is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shadow_token_only_reads_the_deposit_ledger() {
    let server = start(Amount::from_sat(100_000_000)).await;
    let issued = server
        .call(
            Method::POST,
            "/v1/deposit-addresses",
            Some(&server.requester),
            &[],
            Some(json!({"wallet": "deposits", "customer_id": "c1"}).to_string()),
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{:?}", issued.body);
    let withdrawal = server.withdraw("k", 1_000_000).await.body["withdrawal"]["id"]
        .as_u64()
        .unwrap();

    for path in [
        "/v1/deposits",
        "/v1/deposits?status=credited",
        "/v1/deposit-addresses",
        "/v1/deposit-addresses?wallet=deposits",
    ] {
        let reply = server
            .call(Method::GET, path, Some(&server.shadow), &[], None)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {:?}", reply.body);
    }
    let addresses = server
        .call(
            Method::GET,
            "/v1/deposit-addresses",
            Some(&server.shadow),
            &[],
            None,
        )
        .await;
    assert_eq!(addresses.body["addresses"][0]["address"], issued.body["address"]);
    let head = server
        .call(Method::GET, "/v1/audit/head", Some(&server.shadow), &[], None)
        .await;
    assert_eq!(head.status, StatusCode::OK, "{:?}", head.body);
    assert!(head.body["seq"].as_i64().unwrap() > 0, "{:?}", head.body);
    assert_eq!(head.body["entry_hash"].as_str().unwrap().len(), 64);
    let missing = server
        .call(Method::GET, "/v1/deposits/99", Some(&server.shadow), &[], None)
        .await;
    assert_eq!(
        missing.status,
        StatusCode::NOT_FOUND,
        "a ledger read, refused only for want of the deposit"
    );

    let reads = [
        "/v1/withdrawals".to_owned(),
        format!("/v1/withdrawals/{withdrawal}"),
        "/v1/proposals".to_owned(),
        "/v1/proposals/1".to_owned(),
        "/v1/sessions/1/history".to_owned(),
        "/v1/kyc?customer=c1".to_owned(),
        "/v1/resolutions".to_owned(),
    ];
    for path in &reads {
        let reply = server
            .call(Method::GET, path, Some(&server.shadow), &[], None)
            .await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "GET {path}: {:?}",
            reply.body
        );
        assert_eq!(code(&reply), "forbidden");
    }
    let writes = [
        (
            "/v1/withdrawals",
            json!({"customer_id": "c1", "wallet": "hot", "destination": address(1), "amount_sat": 5000}),
        ),
        (&*format!("/v1/withdrawals/{withdrawal}/approve"), json!({})),
        (
            &*format!("/v1/withdrawals/{withdrawal}/reject"),
            json!({"reason": "no"}),
        ),
        (
            &*format!("/v1/withdrawals/{withdrawal}/cancel"),
            json!({"reason": "no"}),
        ),
        (
            "/v1/proposals",
            json!({"change": "fees_set", "asset": "BTC", "schedule": {"type": "flat", "flat_sat": 0}}),
        ),
        ("/v1/proposals/1/approve", json!({})),
        ("/v1/proposals/1/reject", json!({"reason": "no"})),
        ("/v1/sessions/1/bump", json!({"fee_rate_sat_vb": 5})),
        ("/v1/sessions/1/abandon", json!({"reason": "no"})),
        (
            "/v1/deposit-addresses",
            json!({"wallet": "deposits", "customer_id": "c1"}),
        ),
        ("/v1/deposits/1/tag", json!({"reason": "no"})),
        (
            "/v1/deposits/1/resolutions",
            json!({"action": "return_to_owner", "destination": address(2), "reason": "no"}),
        ),
        ("/v1/resolutions/1/approve", json!({"note": "no"})),
        ("/v1/resolutions/1/reject", json!({"note": "no"})),
        (
            "/v1/kyc",
            json!({"customer_id": "c2", "status": "verified", "note": "no"}),
        ),
        ("/v1/blocklist", json!({"source": "x", "entries": address(3)})),
    ];
    for (path, body) in writes {
        let reply = server
            .call(
                Method::POST,
                path,
                Some(&server.shadow),
                &[("idempotency-key", "shadow")],
                Some(body.to_string()),
            )
            .await;
        assert!(
            reply.status == StatusCode::FORBIDDEN || reply.status == StatusCode::NOT_FOUND,
            "POST {path}: {} {:?}",
            reply.status,
            reply.body
        );
        assert_ne!(
            reply.status,
            StatusCode::NOT_FOUND,
            "POST {path} must be refused for the role, not the id: {:?}",
            reply.body
        );
    }
    // Nothing changed: still one address, one withdrawal pending approval.
    let addresses = server
        .call(
            Method::GET,
            "/v1/deposit-addresses",
            Some(&server.admin),
            &[],
            None,
        )
        .await;
    assert_eq!(addresses.body["addresses"].as_array().unwrap().len(), 1);
    server.stop().await;
}

/// Risk flags over HTTP: two admins turn them on through a proposal, the wallet approves
/// automatically, and a first withdrawal to a destination still waits for people, with
/// its flag and reason in the reply and its history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn risk_flags_over_http() {
    let server = start(Amount::from_sat(100_000_000)).await;
    let post = |path: String, token: &str, body: Option<String>| {
        let server = &server;
        let token = token.to_owned();
        async move { server.call(Method::POST, &path, Some(&token), &[], body).await }
    };
    let changes = [
        json!({"change": "wallet_policy", "wallet": "hot", "policy": {"type": "auto", "max_amount_sat": 10_000_000, "registered_destination_only": true}}),
        json!({"change": "risk_settings", "settings": {"new_beneficiary": true, "large_amount_multiple": null,
            "history_size": 20, "min_history": 3, "velocity_window_secs": 3600, "velocity_max_count": null,
            "velocity_max_amount": null, "shared_destination": true}}),
    ];
    for change in changes {
        let created = post("/v1/proposals".into(), &server.admin, Some(change.to_string())).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let id = created.body["id"].as_u64().unwrap();
        let approved = post(format!("/v1/proposals/{id}/approve"), &server.admin2, None).await;
        assert_eq!(approved.status, StatusCode::OK, "{:?}", approved.body);
    }

    let first = server.withdraw("first", 1_000_000).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    assert_eq!(first.body["withdrawal"]["status"], "pending_approval");
    assert_eq!(first.body["flags"][0]["kind"], "new_beneficiary");
    let reason = first.body["flags"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("first withdrawal"), "{reason}");
    let note = first.body["history"][0]["reason"].as_str().unwrap();
    assert!(note.contains("manual approval required"), "{note}");
    let id = first.body["withdrawal"]["id"].as_u64().unwrap();
    let approved = post(
        format!("/v1/withdrawals/{id}/approve"),
        &server.approvers[0],
        None,
    )
    .await;
    assert_eq!(
        approved.body["withdrawal"]["status"], "approved",
        "{:?}",
        approved.body
    );

    let second = server.withdraw("second", 1_000_000).await;
    assert_eq!(
        second.body["withdrawal"]["status"], "approved",
        "{:?}",
        second.body
    );
    assert_eq!(second.body["flags"], json!([]));
    server.stop().await;
}

/// The balance and coin view over HTTP (no coins yet: zeros, an empty list), and its
/// query checks.
#[tokio::test]
async fn balances_and_coins_over_http() {
    let server = start(Amount::from_sat(100_000_000)).await;
    let get = |path: &'static str| server.call(Method::GET, path, Some(&server.requester), &[], None);
    let balances = get("/v1/balances").await;
    assert_eq!(balances.status, StatusCode::OK, "{:?}", balances.body);
    let hot = balances.body["wallets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["wallet"] == "hot")
        .unwrap()
        .clone();
    assert_eq!(hot["spendable_sat"], 0);
    assert_eq!(hot["coins"], 0);
    let coins = get("/v1/coins?wallet=hot&spent=true").await;
    assert_eq!(coins.status, StatusCode::OK, "{:?}", coins.body);
    assert_eq!(coins.body["coins"], json!([]));
    let unknown = get("/v1/coins?wallet=nope").await;
    assert_eq!(code(&unknown), "unknown_wallet");
    let bad = get("/v1/coins?colour=red").await;
    assert_eq!(code(&bad), "invalid_query");
    let anonymous = server.call(Method::GET, "/v1/balances", None, &[], None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

#![allow(clippy::unwrap_used)] // tests: a panic is a failure report
//! The web console in a real browser: headless Chromium driven through chromedriver
//! (WebDriver, `fantoccini`). Enrollment with the QR page, sign-in with TOTP computed
//! from the enrolled secret, a withdrawal above the automatic ceiling approved by two
//! approvers in two browser sessions, a rejection, a four-eyes staff change, the audit
//! page and sign-out. Every page is screenshotted to `target/console-screenshots/`, and
//! the browser's log is read after each page: any CSP violation or console error fails
//! the test.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Missing,
//! the test fails with what to install: it never skips.
//!
//! Why fantoccini: a small async WebDriver client on tokio and hyper 1, which this crate
//! already uses; thirtyfour brings reqwest and a larger tree for nothing needed here.
//! TLS is off (`default-features = false`): chromedriver listens on loopback HTTP.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{Keypair, Secp256k1};
use bitcoin::{Address, Amount, Network, ScriptBuf, WPubkeyHash};
use bytes::Bytes;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rand::rngs::OsRng;
use serde_json::{json, Value};
use sluice_coordinator::api::{serve, serve_console, CoordinatorPool};
use sluice_coordinator::clock;
use sluice_coordinator::db::utxos::ObservedCoin;
use sluice_coordinator::identity::CoordinatorIdentity;
use sluice_coordinator::rules::fees::FeeSchedule;
use sluice_coordinator::rules::policy::ApprovalPolicy;
use sluice_coordinator::rules::roles::Role;
use sluice_coordinator::service::{
    AdminDesk, Applied, BatchOutcome, Change, Coordinator, EnrollmentSecret, NewWalletRequest, Password,
    ProcessorConfig,
};
use sluice_coordinator::totp::{code_at, TotpParams, TotpSecret};
use sluice_coordinator::wallet_spec::WalletKindArg;
use sluice_shared::api::NewWithdrawal;
use sluice_shared::asset::Asset;
use sluice_shared::descriptor::{Branch, WalletDescriptor};
use sluice_shared::limit_command::base32;
use sluice_shared::psbt_builder::fake_funding_tx;
use sluice_shared::signer_api::{sign_request, RefusalReport, RequestParts};
use tokio::sync::oneshot;
use zeroize::Zeroizing;

const KEYS: [&str; 3] = [
    "[1bbaa5fe/84h/1h/0h]tpubDDHx3CNs1F7LipoKW8ccMFNJsXJ6WYLFubNaCYLZtBX6G2GsQ7EJgbuecqwXfQtLKzxt2Kn8vJkxEWeQNto3deB7JCHdKHuRJMcYMDFABwi",
    "[72408740/84h/1h/0h]tpubDDK8J3o2xAQqa14ubD5UW9ztUMRnpPKYNnCE6T8UChumFXApW4fX4ziePYbgH8kT63xpRviLH7ZNVzaZzAZ8nhwjzFVdT9mWdqZajmTCfv2",
    "[3429876a/84h/1h/0h]tpubDCRy5oJLbB3etWH8sirNRUhtdp5GqhNPChRnpe8GMuze9NbgQeagn6icEf1moF2xpxiE2b5V5w2PQyBiifkjLQmfGfqbgSAXDbpegWj9V3s",
];
const PASSWORD: &str = "correct horse battery staple";
/// The whole browser scenario must finish within this.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(240);
/// chromedriver must answer /status within this after starting.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(30);

fn address(seed: u8) -> String {
    let script = ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([seed; 20]));
    Address::from_script(&script, Network::Regtest)
        .unwrap()
        .to_string()
}

/// Where screenshots go: `target/console-screenshots/`.
fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A program from the environment variable `var`, else from `PATH`; a missing one fails
/// the test with what to install.
fn program(var: &str, names: &[&str]) -> PathBuf {
    if let Some(path) = std::env::var_os(var) {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "{} not found (looked for {names:?} in PATH, or set {var}): install Debian's browser \
         for the console tests with `apt-get install -y chromium chromium-driver` (.ci/run does)",
        names[0]
    );
}

/// chromedriver on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_driver() -> Driver {
    let chromedriver = program("SLUICE_CHROMEDRIVER", &["chromedriver"]);
    let port = free_port();
    let child = Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", chromedriver.display()));
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}/"),
    };
    let client =
        hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let deadline = tokio::time::Instant::now() + DRIVER_START_TIMEOUT;
    loop {
        let status = Request::get(format!("{}status", driver.url))
            .body(Full::new(Bytes::new()))
            .unwrap();
        if let Ok(Ok(reply)) = tokio::time::timeout(Duration::from_secs(2), client.request(status)).await {
            if reply.status() == StatusCode::OK {
                return driver;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "chromedriver did not answer on {} within {DRIVER_START_TIMEOUT:?}",
            driver.url
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `POST /session/{id}/se/log {"type": "browser"}`: the browser console's entries since
/// the last call (chromedriver's log endpoint).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({"type": "browser"}).to_string()))
    }
}

/// One person's browser (its own profile: its own cookies).
struct Browser {
    client: Client,
    who: &'static str,
    console: String,
    pages: u32,
}

impl Browser {
    async fn open(driver: &Driver, who: &'static str, console: SocketAddr) -> Browser {
        let chromium = program("SLUICE_CHROMIUM", &["chromium", "chromium-browser"]);
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1200,900", "--no-first-run", "--disable-extensions"],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
            "timeouts": {"pageLoad": 30000, "script": 10000, "implicit": 0},
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| panic!("starting headless chromium for {who}: {e}"));
        Browser {
            client,
            who,
            console: format!("http://{console}"),
            pages: 0,
        }
    }

    async fn goto(&mut self, path: &str, shot: &str) {
        self.client
            .goto(&format!("{}{path}", self.console))
            .await
            .unwrap();
        self.checked(shot).await;
    }

    /// Screenshots the page and fails on any CSP violation or console error so far.
    async fn checked(&mut self, shot: &str) {
        self.pages += 1;
        let png = self.client.screenshot().await.unwrap();
        let file = screenshot_dir().join(format!("{}-{:02}-{shot}.png", self.who, self.pages));
        std::fs::write(&file, png).unwrap();
        let log = self.client.issue_cmd(BrowserLog).await.unwrap();
        let problems: Vec<String> = log
            .as_array()
            .into_iter()
            .flatten()
            .filter(|entry| {
                let level = entry["level"].as_str().unwrap_or("");
                let message = entry["message"].as_str().unwrap_or("");
                // A refusal page is answered 4xx on purpose, which the browser logs.
                let expected_refusal =
                    shot.ends_with("-refused") && message.contains("the server responded with a status of 4");
                (level == "SEVERE" || level == "WARNING" || message.contains("Content Security Policy"))
                    && !expected_refusal
            })
            .map(|entry| entry.to_string())
            .collect();
        assert!(
            problems.is_empty(),
            "{} at {shot} ({}): the browser reported {problems:#?}",
            self.who,
            file.display()
        );
    }

    async fn fill(&self, css: &str, text: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .send_keys(text)
            .await
            .unwrap();
    }

    async fn click(&mut self, css: &str, shot: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        self.checked(shot).await;
    }

    async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{}: no {css} on the page: {e}", self.who))
            .text()
            .await
            .unwrap()
    }

    async fn sign_in(&mut self, name: &str, totp: &TotpSecret) {
        self.goto("/sign-in", "sign-in").await;
        self.fill("#name", name).await;
        self.fill("#password", PASSWORD).await;
        let code = code_at(totp, &TotpParams::STANDARD, clock::now()).unwrap();
        self.fill("#code", &code).await;
        self.click("#sign-in", "dashboard").await;
        assert_eq!(self.text("main h1").await, "Dashboard", "{name} signed in");
    }

    async fn session_cookie(&self) -> String {
        let cookies = self.client.get_all_cookies().await.unwrap();
        let cookie = cookies.iter().find(|c| c.name() == "sluice_session").unwrap();
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");
        cookie.value().to_owned()
    }

    async fn close(self) {
        self.client.close().await.unwrap();
    }
}

/// Staff, a customer with a beneficiary, and wallet "hot": automatic approval up to
/// 100 000 sat, two approvers above. Returns the database, the enrollment secret of `ann`
/// (she enrolls in the browser) and the console TOTP secrets of those enrolled here.
struct World {
    _dir: tempfile::TempDir,
    db: PathBuf,
    ann_secret: EnrollmentSecret,
    totp: Vec<(&'static str, TotpSecret)>,
    withdrawals: [u64; 3],
    /// Wallet "hot"'s multipath descriptor, to give it a coin.
    descriptor: String,
    /// The online signer "s1" (KEYS[0]'s fingerprint): its identity key.
    signer: Keypair,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("coordinator.sqlite");
    let now = clock::now();
    let mut desk = AdminDesk::initialise(&db, Network::Regtest, ["root", "ops"], now).unwrap();
    let secret_for = |desk: &mut AdminDesk, name: &str, role: Role| {
        desk.agree(Change::StaffAdd {
            name: name.to_owned(),
            role,
        })
        .unwrap()
        .into_enrollment_secret()
        .unwrap()
    };
    let ann_secret = secret_for(&mut desk, "ann", Role::Approver);
    let mut totp = Vec::new();
    for (name, role) in [
        ("amy", Role::Approver),
        ("carol", Role::Admin),
        ("dave", Role::Admin),
    ] {
        let secret = secret_for(&mut desk, name, role);
        let password = Password::new(Zeroizing::new(PASSWORD.to_owned()));
        let enrolled = desk
            .coord
            .enroll_for_console(&secret, &password, &mut OsRng, now)
            .unwrap();
        totp.push((name, enrolled.totp));
    }
    let (backend, _) = desk.enroll_staff("backend", Role::Requester).unwrap();
    desk.add_verified_customer("c1").unwrap();
    desk.agree(Change::BeneficiaryAdd {
        customer_id: "c1".into(),
        address: address(1),
        label: "c1 main".into(),
    })
    .unwrap();
    desk.agree(Change::FeesSet {
        asset: Asset::Btc,
        schedule: FeeSchedule::Flat(Amount::from_sat(2_000)),
    })
    .unwrap();
    let signer = Keypair::from_seckey_slice(&Secp256k1::new(), &[7; 32]).unwrap();
    desk.agree(Change::SignerAdd {
        name: "s1".into(),
        identity_key: signer.x_only_public_key().0.to_string(),
        fingerprint: "1bbaa5fe".into(),
        tor_key: None,
    })
    .unwrap();
    let Applied::Wallet(wallet) = desk
        .agree(Change::WalletCreate(NewWalletRequest {
            name: "hot".into(),
            kind: WalletKindArg::WshSortedMulti,
            threshold: Some(2),
            keys: KEYS.iter().map(|k| k.to_string()).collect(),
            policy: ApprovalPolicy::Both {
                max_amount_sat: Amount::from_sat(100_000),
                registered_destination_only: true,
                approvers_required: 2,
            },
            daily_limit: Amount::from_sat(100_000_000),
        }))
        .unwrap()
    else {
        panic!("wallet create yields the wallet")
    };
    let mut withdraw = |key: &str, sat: u64| {
        let request = NewWithdrawal {
            customer_id: "c1".into(),
            wallet: "hot".into(),
            destination: address(1),
            amount_sat: Amount::from_sat(sat),
        };
        desk.coord
            .request_withdrawal(&backend, key, &request, now)
            .unwrap()
            .into_detail()
            .withdrawal
            .id
    };
    let withdrawals = [
        withdraw("above-ceiling", 500_000),
        withdraw("to-reject", 600_000),
        withdraw("automatic", 50_000),
    ];
    World {
        _dir: dir,
        db,
        ann_secret,
        totp,
        withdrawals,
        descriptor: wallet.multipath_descriptor,
        signer,
    }
}

/// The processor batches the approved withdrawals into a session (wallet "hot" gets a
/// coin first), and signer "s1" reports through the real signer API that it is paused:
/// what an online signer whose officers paused it does. Returns the session id.
async fn signer_reports_paused(world: &World, pool: Arc<CoordinatorPool>) -> u64 {
    let now = clock::now();
    let mut coord = Coordinator::open(&world.db, Some(Network::Regtest)).unwrap();
    let descriptor = WalletDescriptor::parse(&world.descriptor, None).unwrap();
    let script = descriptor.script_pubkey(Branch::Receive, 0).unwrap();
    let prev_tx = fake_funding_tx(script, &[Amount::from_sat(10_000_000)], 0);
    coord
        .record_coin(
            &ObservedCoin {
                wallet: "hot",
                prev_tx: &prev_tx,
                vout: 0,
                branch: Branch::Receive,
                index: 0,
                block_height: Some(101),
            },
            now,
        )
        .unwrap();
    let config = ProcessorConfig {
        sat_per_vbyte: 2,
        max_batch: 10,
        max_inputs: 10,
        max_fee: Amount::from_sat(100_000),
        instance: "console-test".into(),
    };
    let BatchOutcome::Batched(batch) = coord.batch_wallet("hot", &config, now).unwrap() else {
        panic!("expected a batch")
    };
    drop(coord);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, pool, async {
        let _ = stopped.await;
    }));
    let path = format!("/v1/signer/sessions/{}/refusals", batch.session_id);
    let body = serde_json::to_vec(&RefusalReport {
        reason: "paused".into(),
        detail: "paused by its officers until further notice".into(),
    })
    .unwrap();
    let auth = sign_request(
        &Secp256k1::new(),
        &world.signer,
        &RequestParts::new("POST", &path, &body),
        now.secs(),
        rand::random(),
        [0; 32],
    );
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(format!("http://{api}{path}"))
        .header("content-type", "application/json");
    for (name, value) in auth.header_values() {
        request = request.header(name, value);
    }
    let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let reply = http
        .request(request.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = reply.status();
    let text = reply.into_body().collect().await.unwrap().to_bytes();
    assert!(
        status.is_success(),
        "{status}: {}",
        String::from_utf8_lossy(&text)
    );
    // No idle keep-alive connection left for the server to wait on.
    drop(http);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    batch.session_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_browser() {
    tokio::time::timeout(SCENARIO_TIMEOUT, scenario())
        .await
        .unwrap_or_else(|_| panic!("the browser scenario did not finish within {SCENARIO_TIMEOUT:?}"));
}

async fn scenario() {
    let world = world();
    let totp_of = |name: &str| &world.totp.iter().find(|(n, _)| *n == name).unwrap().1;
    let [big, doomed, small] = world.withdrawals;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let console = listener.local_addr().unwrap();
    let identity = CoordinatorIdentity::generate(&mut rand::thread_rng());
    let pool = Arc::new(CoordinatorPool::open(world.db.clone(), Some(Network::Regtest), identity).unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve_console(listener, None, pool.clone(), async {
        let _ = stopped.await;
    }));
    let driver = start_driver().await;

    // Ann enrolls in the browser: the QR page, then sign-in with a code from its secret.
    let mut ann = Browser::open(&driver, "ann", console).await;
    ann.goto("/", "redirected-to-sign-in").await;
    assert_eq!(ann.text("main h1").await, "Sign in");
    ann.goto("/enroll", "enroll").await;
    ann.fill("#secret", &world.ann_secret.reveal()).await;
    ann.fill("#password", PASSWORD).await;
    ann.fill("#password2", PASSWORD).await;
    ann.click("#enroll", "enrolled-qr").await;
    let qr = ann.client.find(Locator::Css("img.qr")).await.unwrap();
    assert!(qr
        .attr("src")
        .await
        .unwrap()
        .unwrap()
        .starts_with("data:image/svg+xml;base64,"));
    let ann_totp = TotpSecret::from_bytes(&base32::decode(&ann.text("#totp-secret").await).unwrap());
    // A wrong code is refused without saying which part was wrong.
    ann.goto("/sign-in", "sign-in").await;
    ann.fill("#name", "ann").await;
    ann.fill("#password", PASSWORD).await;
    ann.fill("#code", "000000").await;
    ann.click("#sign-in", "sign-in-refused").await;
    assert!(ann
        .text(".alert")
        .await
        .contains("wrong name, password or one-time code"));
    ann.sign_in("ann", &ann_totp).await;
    assert!(ann.text("#queue").await.contains("pending_approval"));

    // The withdrawal above the ceiling: approver one of two in this browser...
    ann.goto("/withdrawals?status=pending_approval", "withdrawals-pending")
        .await;
    assert!(ann.text("#withdrawals").await.contains("500,000 sat"));
    ann.goto(&format!("/withdrawals/{big}"), "withdrawal-pending")
        .await;
    assert!(ann.text("#progress").await.starts_with("0 of 2 approvals"));
    ann.click("#approve", "withdrawal-one-approval").await;
    assert!(ann.text("#progress").await.starts_with("1 of 2 approvals"));
    // ...who cannot count twice: the service refuses, the page says why.
    ann.click("#approve", "withdrawal-approve-twice-refused").await;
    assert!(
        ann.text(".alert").await.contains("already approved"),
        "{}",
        ann.text(".alert").await
    );

    // ...and approver two in a second browser session.
    let mut amy = Browser::open(&driver, "amy", console).await;
    amy.sign_in("amy", totp_of("amy")).await;
    amy.goto(&format!("/withdrawals/{big}"), "withdrawal-second-approver")
        .await;
    amy.click("#approve", "withdrawal-approved").await;
    assert_eq!(amy.text("#status").await, "approved");
    assert!(amy.text("#approvals").await.contains("ann"));
    assert!(amy.text("#approvals").await.contains("amy"));
    // The automatic rule approved the small one at intake.
    amy.goto(&format!("/withdrawals/{small}"), "withdrawal-automatic")
        .await;
    assert_eq!(amy.text("#status").await, "approved");

    // A rejection, with its reason in the history.
    amy.goto(&format!("/withdrawals/{doomed}"), "withdrawal-to-reject")
        .await;
    amy.fill(
        "#reason",
        "destination not confirmed by the customer <b>twice</b>",
    )
    .await;
    amy.click("#reject", "withdrawal-rejected").await;
    assert_eq!(amy.text("#status").await, "rejected");
    // Shown as text, never as markup.
    assert!(amy.text("#history").await.contains("<b>twice</b>"));

    // CSRF: the session cookie alone does not make a POST.
    let cookie = ann.session_cookie().await;
    let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let forged = Request::builder()
        .method(Method::POST)
        .uri(format!("http://{console}/withdrawals/{small}/reject"))
        .header("cookie", format!("sluice_session={cookie}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from("reason=forged")))
        .unwrap();
    let reply = http.request(forged).await.unwrap();
    assert_eq!(reply.status(), StatusCode::FORBIDDEN);
    let csp = reply.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let body = reply.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("security token"));

    // Four eyes: carol proposes a new approver, cannot approve her own proposal; dave does.
    let mut carol = Browser::open(&driver, "carol", console).await;
    carol.sign_in("carol", totp_of("carol")).await;
    carol.goto("/staff", "staff").await;
    carol.fill("#new-name", "newbie").await;
    carol
        .client
        .find(Locator::Css("#new-role"))
        .await
        .unwrap()
        .select_by_value("approver")
        .await
        .unwrap();
    carol.click("#propose-add", "proposal-pending").await;
    assert!(carol.text("#proposals").await.contains("newbie"));
    carol
        .click("#proposals button.approve", "proposal-own-refused")
        .await;
    assert!(
        carol.text(".alert").await.contains("another admin"),
        "{}",
        carol.text(".alert").await
    );
    let mut dave = Browser::open(&driver, "dave", console).await;
    dave.sign_in("dave", totp_of("dave")).await;
    dave.goto("/proposals", "proposals").await;
    dave.click("#proposals button.approve", "proposal-applied").await;
    assert!(dave
        .text("#enrollment-secret")
        .await
        .starts_with("sluice-enroll_"));
    assert!(dave.text("#proposals").await.contains("applied"));

    // The audit page verifies the chain and shows who did what.
    dave.goto("/audit", "audit").await;
    assert!(dave.text("#audit-state").await.starts_with("Verified:"));
    let audit = dave.text("#audit").await;
    for expected in ["console sign-in", "\"approver\":\"ann\"", "withdrawal_status"] {
        assert!(audit.contains(expected), "audit page lacks {expected}");
    }
    dave.goto("/deposits", "deposits").await;

    // A signer's refusal and pause state reach the dashboard: reported through the signer
    // API, shown with the session and the withdrawals it holds up.
    let session = signer_reports_paused(&world, pool.clone()).await;
    dave.goto("/", "dashboard-signer-paused").await;
    let signers = dave.text("#signers").await;
    assert!(signers.contains("s1"), "{signers}");
    assert!(
        signers.contains("paused at ") && signers.contains(&format!("session {session}")),
        "{signers}"
    );
    assert!(signers.contains("paused by its officers"), "{signers}");
    assert!(signers.contains(&big.to_string()), "{signers}");
    let paused_cell = dave.text("#signers td.paused").await;
    assert_eq!(paused_cell, "paused", "{signers}");

    // Sign-out ends the session on the server: the old cookie no longer works.
    ann.click("form.signout button", "signed-out").await;
    assert_eq!(ann.text("main h1").await, "Sign in");
    let replayed = Request::get(format!("http://{console}/"))
        .header("cookie", format!("sluice_session={cookie}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let reply = http.request(replayed).await.unwrap();
    assert_eq!(reply.status(), StatusCode::SEE_OTHER);
    assert_eq!(reply.headers()["location"], "/sign-in");

    for browser in [ann, amy, carol, dave] {
        browser.close().await;
    }
    drop(driver);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// Over TLS (rustls from PEM files) the console answers, and its cookies are `Secure`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_over_tls_sets_secure_cookies() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;

    let world = world();
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = world._dir.path().join("console.crt");
    let key = world._dir.path().join("console.key");
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
    let acceptor =
        sluice_coordinator::console::acceptor(&sluice_coordinator::console::TlsFiles { cert, key }).unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let console = listener.local_addr().unwrap();
    let identity = CoordinatorIdentity::generate(&mut rand::thread_rng());
    let pool = Arc::new(CoordinatorPool::open(world.db.clone(), Some(Network::Regtest), identity).unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve_console(listener, Some(acceptor), pool, async {
        let _ = stopped.await;
    }));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(made.cert.der().clone()).unwrap();
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(console).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(b"GET /sign-in HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), tls.read_to_end(&mut reply))
        .await
        .unwrap()
        .unwrap();
    let reply = String::from_utf8_lossy(&reply).to_ascii_lowercase();
    assert!(reply.starts_with("http/1.1 200"), "{reply}");
    assert!(
        reply.contains("set-cookie: sluice_pre=") && reply.contains("httponly; samesite=strict; secure"),
        "{reply}"
    );
    assert!(reply.contains("content-security-policy: default-src 'none'"));

    // A plain-HTTP client gets nothing from the TLS listener.
    let mut plain = tokio::net::TcpStream::connect(console).await.unwrap();
    plain
        .write_all(b"GET /sign-in HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), plain.read_to_end(&mut answer)).await;
    assert!(!String::from_utf8_lossy(&answer).contains("HTTP/1.1 200"));

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// `run api --console-listen` refuses plain HTTP off loopback before serving anything.
#[test]
fn plain_http_off_loopback_is_refused_at_start() {
    let world = world();
    let output = Command::new(env!("CARGO_BIN_EXE_sluice-coordinator"))
        .arg("--db")
        .arg(&world.db)
        .args([
            "run",
            "api",
            "--listen",
            "127.0.0.1:0",
            "--console-listen",
            "0.0.0.0:0",
        ])
        .env_remove("SLUICE_TOKEN")
        .env_remove("SLUICE_DB")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("plain HTTP is allowed only on a loopback address"),
        "{stderr}"
    );
}

/// Without a session every page sends the browser to sign-in; the sign-in form only
/// works with the pre-session cookie it set (no login CSRF from another site).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_out_requests_and_login_csrf_are_refused() {
    let world = world();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let console = listener.local_addr().unwrap();
    let identity = CoordinatorIdentity::generate(&mut rand::thread_rng());
    let pool = Arc::new(CoordinatorPool::open(world.db.clone(), Some(Network::Regtest), identity).unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve_console(listener, None, pool, async {
        let _ = stopped.await;
    }));
    let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let send = |method: Method, path: &str, cookie: Option<String>, body: &str| {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("http://{console}{path}"))
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(cookie) = cookie {
            builder = builder.header("cookie", cookie);
        }
        http.request(builder.body(Full::new(Bytes::from(body.to_owned()))).unwrap())
    };

    for path in ["/", "/withdrawals", "/audit", "/staff"] {
        let reply = send(Method::GET, path, None, "").await.unwrap();
        assert_eq!(reply.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(reply.headers()["location"], "/sign-in");
    }
    // A garbage session cookie is no session either.
    let reply = send(Method::GET, "/", Some("sluice_session=00".to_owned()), "")
        .await
        .unwrap();
    assert_eq!(reply.headers()["location"], "/sign-in");

    let amy = &world.totp.iter().find(|(n, _)| *n == "amy").unwrap().1;
    let form = |code: &str| {
        format!(
            "pre=abc&name=amy&password={}&code={code}",
            PASSWORD.replace(' ', "+")
        )
    };
    // Posted from elsewhere: no (or another) pre-session cookie. Refused before any check,
    // so the right code is not used up.
    let code = code_at(amy, &TotpParams::STANDARD, clock::now()).unwrap();
    for cookie in [None, Some("sluice_pre=abd".to_owned())] {
        let reply = send(Method::POST, "/sign-in", cookie, &form(&code))
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::UNAUTHORIZED);
        assert!(reply
            .headers()
            .get("set-cookie")
            .is_some_and(|c| !c.to_str().unwrap().starts_with("sluice_session")));
        let body = reply.into_body().collect().await.unwrap().to_bytes();
        assert!(String::from_utf8_lossy(&body).contains("came from another site"));
    }
    // With the matching cookie the same code signs in.
    let reply = send(
        Method::POST,
        "/sign-in",
        Some("sluice_pre=abc".to_owned()),
        &form(&code),
    )
    .await
    .unwrap();
    assert_eq!(reply.status(), StatusCode::SEE_OTHER);
    let cookies: Vec<&str> = reply
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("sluice_session=") && c.ends_with("; Path=/; HttpOnly; SameSite=Strict")),
        "{cookies:?}"
    );

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

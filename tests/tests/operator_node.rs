//! The coordinator against an operator's own, already running Bitcoin Core node: a real
//! `bitcoind -regtest`, and `sluice-coordinator run` pointed at it with `--chain-url` and
//! a cookie file or a user and password. A node for another network and wrong credentials
//! stop the coordinator at once with a message; an unreachable node and a node still in
//! initial block download are waited for, and the log says so.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use sluice_e2e::binaries::binary;
use sluice_e2e::bitcoind::{start_bitcoind, Bitcoind};
use sluice_e2e::test_chain::runtime;

/// A coordinator database for `network`.
fn database(dir: &Path, network: &str) -> PathBuf {
    let db = dir.join("coordinator.sqlite");
    let out = Command::new(binary("sluice-coordinator"))
        .arg("--db")
        .arg(&db)
        .args(["--network", network, "init", "--admin", "admin", "--admin", "ops"])
        .env_remove("SLUICE_DB")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    db
}

/// `sluice-coordinator run COMPONENT ARGS`, its output in `dir/run.log`; killed on drop.
struct Running {
    child: Child,
    log: PathBuf,
}

impl Running {
    fn start(db: &Path, component: &str, args: &[&str]) -> Running {
        let log = db.with_file_name(format!("run-{component}.log"));
        let out = File::create(&log).unwrap();
        let child = Command::new(binary("sluice-coordinator"))
            .arg("--db")
            .arg(db)
            .args([
                "run",
                component,
                "--listen",
                "127.0.0.1:0",
                "--interval-ms",
                "100",
            ])
            .args(args)
            .env_remove("SLUICE_DB")
            .env_remove("SLUICE_CHAIN_URL")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        Running { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `text`; fails if the process exits first.
    fn wait_for(&mut self, text: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.log().contains(text) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("exited ({status}) before logging {text:?}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "no {text:?} within {within:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to exit by itself.
    fn wait_for_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running after {within:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A node past initial block download (one block mined now ends it).
fn synced_node(rt: &tokio::runtime::Runtime) -> Bitcoind {
    let node = rt.block_on(start_bitcoind(&[]));
    rt.block_on(node.mine(1)).unwrap();
    node
}

fn cookie_args(node: &Bitcoind) -> Vec<String> {
    vec![
        "--chain-url".into(),
        node.url().into(),
        "--rpc-cookie-file".into(),
        node.cookie_file().display().to_string(),
    ]
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn a_node_on_another_network_is_refused_at_start() {
    let rt = runtime();
    let node = synced_node(&rt);
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), "testnet");
    for component in ["sender", "monitor", "all"] {
        let mut run = Running::start(&db, component, &strs(&cookie_args(&node)));
        let status = run.wait_for_exit(Duration::from_secs(30));
        assert!(!status.success(), "run {component} must refuse a regtest node");
        let log = run.log();
        assert!(
            log.contains("regtest") && log.contains("testnet") && log.contains("network"),
            "run {component}: {log}"
        );
    }
}

#[test]
fn wrong_credentials_are_refused_at_start() {
    let rt = runtime();
    let node = synced_node(&rt);
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), "regtest");
    let password = dir.path().join("rpc-password");
    std::fs::write(&password, "not-the-password\n").unwrap();
    let wrong_user_pass = [
        "--chain-url",
        node.url(),
        "--rpc-user",
        "operator",
        "--rpc-password-file",
        password.to_str().unwrap(),
    ];
    let in_url = node.url().replace("http://", "http://operator:wrong@");
    let wrong_in_url = ["--chain-url", in_url.as_str()];
    for args in [&wrong_user_pass[..], &wrong_in_url[..]] {
        let mut run = Running::start(&db, "monitor", args);
        let status = run.wait_for_exit(Duration::from_secs(30));
        assert!(!status.success());
        let log = run.log();
        assert!(log.contains("refused access"), "{log}");
        assert!(
            !log.contains("not-the-password") && !log.contains("wrong@"),
            "{log}"
        );
    }
}

/// Core's `-rpcauth=USER:SALT$HMAC-SHA256(SALT, PASSWORD)` (what `share/rpcauth` prints).
fn rpcauth(user: &str, password: &str) -> String {
    use bitcoin::hashes::{hmac, sha256, Hash, HashEngine};
    let salt = "5f1b2e3c4d5a69788796a5b4c3d2e1f0";
    let mut engine = hmac::HmacEngine::<sha256::Hash>::new(salt.as_bytes());
    engine.input(password.as_bytes());
    let mac = hmac::Hmac::<sha256::Hash>::from_engine(engine);
    format!("-rpcauth={user}:{salt}${}", hex::encode(mac.to_byte_array()))
}

#[test]
fn the_right_user_and_password_work() {
    let rt = runtime();
    let node = rt.block_on(start_bitcoind(&[&rpcauth("operator", "s3cret-pw")]));
    rt.block_on(node.mine(1)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), "regtest");
    let password = dir.path().join("rpc-password");
    std::fs::write(&password, "s3cret-pw\n").unwrap();
    let mut run = Running::start(
        &db,
        "monitor",
        &[
            "--chain-url",
            node.url(),
            "--rpc-user",
            "operator",
            "--rpc-password-file",
            password.to_str().unwrap(),
        ],
    );
    run.wait_for("sluice-coordinator monitor", Duration::from_secs(30));
    assert!(!run.log().contains("s3cret-pw"));
}

#[test]
fn an_unreachable_node_is_retried_and_the_log_says_so() {
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), "regtest");
    let url = format!("http://127.0.0.1:{port}");
    for component in ["sender", "monitor"] {
        let mut run = Running::start(&db, component, &["--chain-url", &url]);
        run.wait_for("cannot reach", Duration::from_secs(30));
        run.wait_for("retrying in", Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            run.child.try_wait().unwrap().is_none(),
            "run {component} must keep trying"
        );
    }
}

#[test]
fn a_node_in_initial_block_download_is_waited_for() {
    let rt = runtime();
    // A fresh regtest node is in initial block download until a block with a recent
    // timestamp arrives.
    let node = rt.block_on(start_bitcoind(&[]));
    let info = rt.block_on(node.client().get_blockchain_info()).unwrap();
    assert!(info.initialblockdownload, "a fresh regtest node should be in IBD");
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), "regtest");
    let mut run = Running::start(&db, "monitor", &strs(&cookie_args(&node)));
    run.wait_for("initial block download", Duration::from_secs(30));
    assert!(
        !run.log().contains("sluice-coordinator monitor"),
        "the monitor must not start on a syncing node:\n{}",
        run.log()
    );
    rt.block_on(node.mine(1)).unwrap();
    run.wait_for("sluice-coordinator monitor", Duration::from_secs(60));
}

#![allow(clippy::unwrap_used)] // tests: a panic is a failure report
//! `sluice-coordinator run --config FILE` as an operator starts it: every option from the
//! TOML file (the database path relative to the file), then `/healthz` and `/metrics` of
//! the API it started.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_sluice-coordinator");

fn get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

#[test]
fn run_takes_its_options_from_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("coordinator.sqlite");
    let init = Command::new(BIN)
        .arg("--db")
        .arg(&db)
        .args([
            "--network",
            "regtest",
            "init",
            "--admin",
            "root",
            "--admin",
            "ops",
        ])
        .env_remove("SLUICE_DB")
        .output()
        .unwrap();
    assert!(init.status.success());
    let config = dir.path().join("coordinator.toml");
    std::fs::write(
        &config,
        "component = \"api\"\ndb = \"coordinator.sqlite\"\nnetwork = \"regtest\"\nlisten = \"127.0.0.1:0\"\n",
    )
    .unwrap();

    // Started from elsewhere, with nothing but the file: the default database path would
    // not exist there.
    let elsewhere = tempfile::tempdir().unwrap();
    let log = dir.path().join("api.log");
    let mut child = Command::new(BIN)
        .arg("run")
        .arg("--config")
        .arg(&config)
        .current_dir(elsewhere.path())
        .env_remove("SLUICE_DB")
        .env_remove("SLUICE_TOKEN")
        .env_remove("SLUICE_CHAIN_URL")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().rsplit("http://").next().unwrap().to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "{line}");

    assert_eq!(get(&addr, "/healthz"), (200, "ok\n".to_owned()));
    let (status, metrics) = get(&addr, "/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("sluice_withdrawals{status=\"pending_approval\"} 0\n"),
        "{metrics}"
    );

    let stopped = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(stopped.success());
    assert!(child.wait().unwrap().success());
    // Its log went to a file: plain text, no terminal colour codes.
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("stopping: finishing requests in flight"),
        "{logged}"
    );
    assert!(
        !logged.contains('\u{1b}'),
        "ANSI escapes in a redirected log: {logged:?}"
    );

    // A flag wins over the file: a network that does not match the database is refused.
    let out = Command::new(BIN)
        .args(["--network", "bitcoin", "run", "--config"])
        .arg(&config)
        .env_remove("SLUICE_DB")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--network says bitcoin"), "{err}");
}

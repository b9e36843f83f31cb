#![allow(clippy::unwrap_used)] // tests: a panic is a failure report
//! The `sluice-coordinator` binary as an operator uses it: set up staff, a customer, a
//! wallet from signers' keys; request, approve and reject withdrawals with each person's
//! token; run the API as a process and stop it with SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

mod common;
use common::BIN;

const KEYS: [&str; 3] = [
    "[1bbaa5fe/84h/1h/0h]tpubDDHx3CNs1F7LipoKW8ccMFNJsXJ6WYLFubNaCYLZtBX6G2GsQ7EJgbuecqwXfQtLKzxt2Kn8vJkxEWeQNto3deB7JCHdKHuRJMcYMDFABwi",
    "[72408740/84h/1h/0h]tpubDDK8J3o2xAQqa14ubD5UW9ztUMRnpPKYNnCE6T8UChumFXApW4fX4ziePYbgH8kT63xpRviLH7ZNVzaZzAZ8nhwjzFVdT9mWdqZajmTCfv2",
    "[3429876a/84h/1h/0h]tpubDCRy5oJLbB3etWH8sirNRUhtdp5GqhNPChRnpe8GMuze9NbgQeagn6icEf1moF2xpxiE2b5V5w2PQyBiifkjLQmfGfqbgSAXDbpegWj9V3s",
];

/// A coordinator home; its staff commands go to its own `run api` process.
struct Desk(common::CliHome);

impl std::ops::Deref for Desk {
    type Target = common::CliHome;
    fn deref(&self) -> &common::CliHome {
        &self.0
    }
}

impl Desk {
    fn new() -> Desk {
        Desk(common::CliHome::new())
    }

    /// Runs the binary as the holder of `token` (None: no token at all).
    fn run(&self, token: Option<&str>, args: &[&str]) -> Output {
        self.0.run(token, args)
    }

    /// Runs and expects success; returns stdout.
    fn ok(&self, token: Option<&str>, args: &[&str]) -> String {
        let out = self.run(token, args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and expects failure; returns stderr.
    fn fails(&self, token: Option<&str>, args: &[&str]) -> String {
        let out = self.run(token, args);
        assert!(
            !out.status.success(),
            "{args:?} should have failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    fn json(&self, token: &str, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(Some(token), &all)).unwrap()
    }
}

fn last_line(text: &str) -> String {
    text.lines().last().unwrap().trim().to_owned()
}

/// The `sluice-enroll_` secrets a command printed, in order.
fn secrets(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("sluice-enroll_"))
        .map(str::to_owned)
        .collect()
}

/// The proposal a command recorded ("Proposal N recorded: ...").
fn proposal_id(text: &str) -> String {
    text.lines()
        .find_map(|l| {
            l.strip_prefix("Proposal ")?
                .split_once(" recorded")
                .map(|(id, _)| id.to_owned())
        })
        .unwrap_or_else(|| panic!("no proposal in {text}"))
}

/// The holder of `secret` collects their token.
fn enroll(desk: &Desk, secret: &str) -> String {
    let token = last_line(&desk.ok(None, &["staff", "enroll", "--secret", secret]));
    assert!(token.starts_with("sluice_"), "{token}");
    token
}

/// `proposer` runs a configuration command (a proposal), `approver` approves it; returns
/// the approval's output.
fn agree(desk: &Desk, proposer: &str, approver: &str, args: &[&str]) -> String {
    let proposed = desk.ok(Some(proposer), args);
    desk.ok(Some(approver), &["proposal", "approve", &proposal_id(&proposed)])
}

/// A new staff member, proposed by one admin, approved by the other, enrolled by themself.
fn add_staff(desk: &Desk, admins: (&str, &str), name: &str, role: &str) -> String {
    let approved = agree(
        desk,
        admins.0,
        admins.1,
        &["staff", "add", "--name", name, "--role", role],
    );
    let secret = secrets(&approved);
    assert_eq!(secret.len(), 1, "{approved}");
    enroll(desk, &secret[0])
}

/// init (admins root and ops), staff, customer, fees and wallet "hot" (2 of 3, automatic up
/// to 0.01 BTC, else 2 approvers), every change proposed by root and approved by ops.
/// Returns (admin, requester, approver1, approver2, beneficiary address, second admin).
fn set_up(desk: &Desk) -> (String, String, String, String, String, String) {
    let init = desk.ok(
        None,
        &[
            "--network",
            "regtest",
            "init",
            "--admin",
            "root",
            "--admin",
            "ops",
        ],
    );
    let init_secrets = secrets(&init);
    assert_eq!(init_secrets.len(), 2, "{init}");
    let admin = enroll(desk, &init_secrets[0]);
    let ops = enroll(desk, &init_secrets[1]);
    let admins = (admin.as_str(), ops.as_str());
    let a = Some(admin.as_str());
    let requester = add_staff(desk, admins, "backend", "requester");
    let alice = add_staff(desk, admins, "alice", "approver");
    let bob = add_staff(desk, admins, "bob", "approver");
    let customer = desk.ok(a, &["customer", "add", "--id", "c1", "--daily-limit", "2"]);
    desk.ok(Some(&ops), &["proposal", "approve", &proposal_id(&customer)]);
    // A new customer starts unverified: compliance verifies them before they withdraw.
    let cora = add_staff(desk, admins, "cora", "compliance");
    let verified = desk.ok(
        Some(&cora),
        &[
            "kyc",
            "set",
            "--customer",
            "c1",
            "--status",
            "verified",
            "--note",
            "passport checked",
        ],
    );
    assert!(verified.contains("verified (no expiry)"), "{verified}");
    agree(desk, &admin, &ops, &["fees", "set", "--flat", "0.0001"]);
    let created = agree(
        desk,
        &admin,
        &ops,
        &[
            "wallet",
            "create",
            "--name",
            "hot",
            "--kind",
            "wsh-sortedmulti",
            "--threshold",
            "2",
            "--key",
            KEYS[0],
            "--key",
            KEYS[1],
            "--key",
            KEYS[2],
            "--daily-limit",
            "10",
            "--approval",
            "both",
            "--auto-max",
            "0.01",
            "--approvers",
            "2",
        ],
    );
    let descriptor = last_line(&created);
    assert!(
        descriptor.starts_with("wsh(sortedmulti(2,[1bbaa5fe/84h/1h/0h]") && descriptor.contains("/<0;1>/*")
    );
    assert!(created.contains("sluice-signer wallet register --name hot --descriptor"));
    // A wallet receive address doubles as the customer's registered destination here.
    let address = last_line(&desk.ok(a, &["wallet", "address", "--name", "hot"]));
    assert!(address.starts_with("bcrt1q"), "{address}");
    let second = last_line(&desk.ok(a, &["wallet", "address", "--name", "hot"]));
    assert_ne!(address, second, "every call hands out a new address");
    agree(
        desk,
        &admin,
        &ops,
        &[
            "beneficiary",
            "add",
            "--customer",
            "c1",
            "--address",
            &address,
            "--label",
            "main",
        ],
    );
    (admin, requester, alice, bob, address, ops)
}

#[test]
fn staff_request_approve_and_reject_with_their_own_tokens() {
    let desk = Desk::new();
    let (admin, requester, alice, bob, address, _ops) = set_up(&desk);
    let withdraw = |key: &str, amount: &str| {
        desk.json(
            &requester,
            &[
                "withdraw",
                "--customer",
                "c1",
                "--wallet",
                "hot",
                "--to",
                &address,
                "--amount",
                amount,
                "--idempotency-key",
                key,
            ],
        )
    };
    let big = withdraw("order-1", "0.5");
    assert_eq!(big["withdrawal"]["status"], "pending_approval");
    assert_eq!(big["withdrawal"]["fee_sat"], 10_000);
    let id = big["withdrawal"]["id"].as_u64().unwrap().to_string();

    // The same request again is the same withdrawal; a different one with the key is refused.
    assert_eq!(withdraw("order-1", "0.5"), big);
    let err = desk.fails(
        Some(&requester),
        &[
            "withdraw",
            "--customer",
            "c1",
            "--wallet",
            "hot",
            "--to",
            &address,
            "--amount",
            "0.6",
            "--idempotency-key",
            "order-1",
        ],
    );
    assert!(err.contains("already used for a different request"), "{err}");

    let err = desk.fails(Some(&requester), &["approve", &id]);
    assert!(err.contains("role requester"), "{err}");
    let err = desk.fails(Some(&admin), &["approve", &id]);
    assert!(err.contains("role admin"), "{err}");
    assert_eq!(
        desk.json(&alice, &["approve", &id])["withdrawal"]["status"],
        "pending_approval"
    );
    let err = desk.fails(Some(&alice), &["approve", &id]);
    assert!(err.contains("already approved"), "{err}");
    let approved = desk.json(&bob, &["approve", &id]);
    assert_eq!(approved["withdrawal"]["status"], "approved");

    let small = withdraw("order-2", "0.01");
    assert_eq!(
        small["withdrawal"]["status"], "approved",
        "under the automatic ceiling"
    );
    assert_eq!(small["approvals"][0]["method"], "auto-rule");

    let third = withdraw("order-3", "0.2");
    let third_id = third["withdrawal"]["id"].as_u64().unwrap().to_string();
    let rejected = desk.json(
        &alice,
        &["reject", &third_id, "--reason", "customer asked to cancel"],
    );
    assert_eq!(rejected["withdrawal"]["status"], "rejected");

    let shown = desk.ok(Some(&requester), &["show", &id]);
    for expected in [
        "withdrawal 1: approved",
        "approval_recorded  alice",
        "approval_recorded  bob",
        "policy met",
    ] {
        assert!(shown.contains(expected), "missing {expected:?} in\n{shown}");
    }
    let listed = desk.json(&alice, &["list", "--status", "approved"]);
    assert_eq!(listed["withdrawals"].as_array().unwrap().len(), 2);
    let text = desk.ok(Some(&alice), &["list"]);
    assert_eq!(text.lines().count(), 3);

    let err = desk.fails(
        Some(&requester),
        &[
            "withdraw",
            "--customer",
            "c1",
            "--wallet",
            "hot",
            "--to",
            &address,
            "--amount",
            "1.6",
            "--idempotency-key",
            "order-4",
        ],
    );
    assert!(err.contains("daily limit"), "{err}");
    let log = desk.ok(Some(&admin), &["log"]);
    assert!(
        log.contains("wallet create") && log.contains("beneficiary add"),
        "{log}"
    );
}

#[test]
fn refusals_are_explained() {
    let desk = Desk::new();
    let err = desk.fails(None, &["audit", "verify"]);
    assert!(err.contains("not an initialised coordinator database"), "{err}");
    assert!(!desk.db.exists(), "a failed command creates no database");
    let err = desk.fails(None, &["list"]);
    assert!(err.contains("SLUICE_TOKEN"), "{err}");
    assert!(!desk.db.exists(), "a staff command creates no database");
    let err = desk.fails(None, &["init", "--admin", "root"]);
    assert!(err.contains("--network"), "{err}");

    let (admin, requester, _, _, _, ops) = set_up(&desk);
    let err = desk.fails(None, &["list"]);
    assert!(err.contains("SLUICE_TOKEN"), "{err}");
    let err = desk.fails(Some("sluice_00"), &["list"]);
    assert!(err.contains("64 hex digits"), "{err}");
    let err = desk.fails(Some(&format!("sluice_{}", "0".repeat(64))), &["list"]);
    assert!(err.contains("not authenticated"), "{err}");
    // Host-local commands check --network against the database.
    let err = desk.fails(None, &["--network", "bitcoin", "audit", "verify"]);
    assert!(err.contains("is for regtest"), "{err}");
    let err = desk.fails(None, &["--network", "regtest", "init", "--admin", "again"]);
    assert!(err.contains("two admins"), "{err}");
    let err = desk.fails(
        None,
        &[
            "--network",
            "regtest",
            "init",
            "--admin",
            "again",
            "--admin",
            "more",
        ],
    );
    assert!(err.contains("already initialised"), "{err}");
    let err = desk.fails(
        Some(&requester),
        &[
            "withdraw",
            "--customer",
            "c1",
            "--wallet",
            "hot",
            "--to",
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
            "--amount",
            "0.1",
            "--idempotency-key",
            "k",
        ],
    );
    assert!(
        err.contains("mainnet address") && err.contains("regtest"),
        "{err}"
    );
    let err = desk.fails(
        Some(&admin),
        &[
            "wallet",
            "create",
            "--name",
            "w2",
            "--kind",
            "wpkh",
            "--key",
            KEYS[0],
            "--daily-limit",
            "1",
            "--approval",
            "manual",
        ],
    );
    assert!(err.contains("--approvers"), "{err}");
    agree(&desk, &admin, &ops, &["staff", "deactivate", "--name", "backend"]);
    let err = desk.fails(Some(&requester), &["list"]);
    assert!(err.contains("not authenticated"), "{err}");

    // Token from a file works the same way.
    let file = desk.db.with_file_name("admin.token");
    std::fs::write(&file, format!("{admin}\n")).unwrap();
    let out = desk.ok(
        None,
        &["--token-file", file.to_str().unwrap(), "customer", "list"],
    );
    assert!(out.contains("c1"), "{out}");
    assert!(out.contains("KYC verified"), "{out}");
}

#[test]
fn chain_components_need_the_chain_node() {
    let desk = Desk::new();
    set_up(&desk);
    for component in ["sender", "monitor", "all"] {
        let out = desk.run(None, &["run", component]);
        assert!(!out.status.success(), "run {component}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--chain-url"), "{err}");
    }
}

fn http_get(addr: &str, path: &str, token: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[test]
fn the_api_runs_as_a_process_and_stops_on_sigterm() {
    let desk = Desk::new();
    let (_admin, requester, alice, _bob, address, _ops) = set_up(&desk);
    desk.ok(
        Some(&requester),
        &[
            "withdraw",
            "--customer",
            "c1",
            "--wallet",
            "hot",
            "--to",
            &address,
            "--amount",
            "0.5",
            "--idempotency-key",
            "k1",
        ],
    );
    let mut api = common::ApiProcess::start(&desk.db);
    let addr = api.addr.clone();
    let (status, body) = http_get(&addr, "/v1/withdrawals/1", &alice);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["withdrawal"]["status"], "pending_approval");
    // The CLI and the API share the database: an approval by CLI shows over HTTP at once.
    desk.ok(Some(&alice), &["approve", "1"]);
    let (_, body) = http_get(&addr, "/v1/withdrawals/1", &requester);
    assert_eq!(body["approvals"][0]["approver"], "alice");

    let stopped = Command::new("kill")
        .arg("-TERM")
        .arg(api.child().id().to_string())
        .status()
        .unwrap();
    assert!(stopped.success());
    let exit = api.child().wait().unwrap();
    assert!(exit.success(), "SIGTERM is a clean stop: {exit:?}");
}

/// Every money-moving change one admin makes alone, with their own token; none may take
/// effect, and no output may be a working token of someone else.
#[test]
fn one_admin_alone_changes_nothing_that_moves_money() {
    let desk = Desk::new();
    let out = desk.ok(
        None,
        &[
            "--network",
            "regtest",
            "init",
            "--admin",
            "root",
            "--admin",
            "ops",
        ],
    );
    let admin = enroll(&desk, &secrets(&out)[0]);
    let a = Some(admin.as_str());
    desk.ok(a, &["customer", "add", "--id", "c1"]);
    let address = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
    let attempts: Vec<Vec<&str>> = vec![
        vec!["staff", "add", "--name", "eve", "--role", "approver"],
        vec!["staff", "add", "--name", "mallory", "--role", "admin"],
        vec![
            "beneficiary",
            "add",
            "--customer",
            "c1",
            "--address",
            address,
            "--label",
            "x",
        ],
        vec!["fees", "set", "--flat", "0"],
        vec!["limits", "set", "--customer", "c1", "--daily", "21000000"],
        vec![
            "wallet",
            "create",
            "--name",
            "hot",
            "--kind",
            "wpkh",
            "--key",
            KEYS[0],
            "--daily-limit",
            "21000000",
            "--approval",
            "auto",
            "--auto-max",
            "21000000",
        ],
        vec![
            "wallet",
            "set-policy",
            "--name",
            "hot",
            "--approval",
            "auto",
            "--auto-max",
            "100",
        ],
        vec!["limits", "set", "--wallet", "hot", "--daily", "21000000"],
        vec![
            "signer",
            "add",
            "--name",
            "s1",
            "--identity-key",
            "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
            "--fingerprint",
            "1bbaa5fe",
        ],
    ];
    let mut printed = String::new();
    for args in &attempts {
        let run = desk.run(a, args);
        let out = String::from_utf8_lossy(&run.stdout).into_owned();
        // The same admin's approval of their own proposal is refused.
        if run.status.success() {
            let err = desk.fails(a, &["proposal", "approve", &proposal_id(&out)]);
            assert!(err.contains("you proposed this change"), "{err}");
        }
        printed.push_str(&out);
    }
    let listed = desk.ok(a, &["proposal", "list"]);
    assert!(listed.contains("pending"), "{listed}");
    let staff = desk.ok(a, &["staff", "list"]);
    assert!(!staff.contains("eve") && !staff.contains("mallory"), "{staff}");
    let beneficiaries = desk.ok(a, &["beneficiary", "list", "--customer", "c1"]);
    assert!(!beneficiaries.contains(address), "{beneficiaries}");
    let fees = desk.ok(a, &["fees", "show"]);
    assert!(fees.contains("No BTC fee schedule"), "{fees}");
    let wallets = desk.ok(a, &["wallet", "list"]);
    assert!(!wallets.contains("hot"), "{wallets}");
    let signers = desk.ok(a, &["signer", "list"]);
    assert!(!signers.contains("s1"), "{signers}");
    for word in printed.split_whitespace().filter(|w| w.starts_with("sluice_")) {
        let out = desk.run(Some(word), &["list"]);
        assert!(!out.status.success(), "the admin saw a working token: {word}");
    }
}

#[test]
fn the_database_and_its_directory_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("coordinator-home");
    let db = home.join("coordinator.sqlite");
    let out = Command::new(BIN)
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
        .env_remove("SLUICE_TOKEN")
        .env_remove("SLUICE_DB")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&home), 0o700, "the home directory");
    assert_eq!(mode(&db), 0o600, "the database");
    // The write-ahead log and shared-memory files exist while the database is open.
    let open = sluice_coordinator::service::Coordinator::open(&db, None).unwrap();
    for suffix in ["-wal", "-shm"] {
        let side = db.with_file_name(format!("coordinator.sqlite{suffix}"));
        assert_eq!(mode(&side), 0o600, "{}", side.display());
    }
    drop(open);
}

/// Deposits and compliance from the command line: a deposit wallet is a proposal; the
/// requester issues addresses (JSON lists them with their index) up to the gap limit;
/// compliance imports a blocklist (a bad file changes nothing) and sets KYC; a customer
/// not verified cannot withdraw.
#[test]
fn deposit_addresses_kyc_and_blocklist_from_the_command_line() {
    let desk = Desk::new();
    let (admin, requester, _, _, address, ops) = set_up(&desk);
    let admins = (admin.as_str(), ops.as_str());
    agree(
        &desk,
        &admin,
        &ops,
        &[
            "wallet",
            "create",
            "--name",
            "deposits",
            "--kind",
            "wpkh",
            "--key",
            KEYS[1],
            "--daily-limit",
            "0",
            "--approval",
            "manual",
            "--approvers",
            "2",
        ],
    );
    let proposed = desk.ok(
        Some(&admin),
        &[
            "deposit",
            "wallet",
            "--wallet",
            "deposits",
            "--gap-limit",
            "1",
            "--credit-confirmations",
            "2",
        ],
    );
    assert!(proposed.contains("deposit wallet"), "{proposed}");
    let issued_before = desk.fails(Some(&requester), &["deposit", "address", "--customer", "c1"]);
    assert!(issued_before.contains("no deposit wallet"), "{issued_before}");
    desk.ok(Some(&ops), &["proposal", "approve", &proposal_id(&proposed)]);

    let issued = desk.ok(Some(&requester), &["deposit", "address", "--customer", "c1"]);
    assert!(issued.starts_with("bcrt1q"), "{issued}");
    let gap = desk.fails(Some(&requester), &["deposit", "address", "--customer", "c1"]);
    assert!(gap.contains("gap limit reached"), "{gap}");
    let listed = desk.json(&admin, &["deposit", "addresses"]);
    assert_eq!(listed["addresses"][0]["derivation_index"], 0);
    assert_eq!(listed["addresses"][0]["address"], issued.lines().next().unwrap());

    let cora = add_staff(&desk, admins, "cora2", "compliance");
    let bad = desk.dir.path().join("bad.txt");
    std::fs::write(&bad, "not-an-entry\n").unwrap();
    let refused = desk.fails(Some(&cora), &["blocklist", "import", bad.to_str().unwrap()]);
    assert!(refused.contains("line 1"), "{refused}");
    let good = desk.dir.path().join("case.txt");
    std::fs::write(&good, format!("# case 17\n{}:0\n", "ab".repeat(32))).unwrap();
    let imported = desk.ok(Some(&cora), &["blocklist", "import", good.to_str().unwrap()]);
    assert!(imported.contains("1 entr(y/ies) added"), "{imported}");
    let not_compliance = desk.fails(Some(&requester), &["blocklist", "import", good.to_str().unwrap()]);
    assert!(not_compliance.contains("role requester"), "{not_compliance}");

    desk.ok(
        Some(&cora),
        &[
            "kyc",
            "set",
            "--customer",
            "c1",
            "--status",
            "revoked",
            "--note",
            "sanctions hit",
        ],
    );
    let refused = desk.fails(
        Some(&requester),
        &[
            "withdraw",
            "--customer",
            "c1",
            "--wallet",
            "hot",
            "--to",
            &address,
            "--amount",
            "0.001",
            "--idempotency-key",
            "k-kyc",
        ],
    );
    assert!(refused.contains("not KYC-verified (status revoked)"), "{refused}");
}

/// Staff commands are API requests: they work with no database file in reach, and with
/// the API down they fail saying so, never falling back to the database.
#[test]
fn staff_commands_use_the_api_and_never_the_database() {
    let desk = Desk::new();
    let (admin, ..) = set_up(&desk);
    let api = desk.api_url();
    let missing = desk.dir.path().join("nowhere").join("none.sqlite");
    let out = common::run_cli_api(&missing, &api, Some(&admin), &["--json", "proposal", "list"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let proposals: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!proposals.as_array().unwrap().is_empty());
    let out = common::run_cli_api(&missing, &api, Some(&admin), &["list"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Every staff read and action, daily and admin, with no database in reach; each
    // prints what it printed when it read the database itself.
    let reads: [&[&str]; 19] = [
        &["wallet", "list"],
        &["wallet", "balance"],
        &["coin", "list", "--wallet", "hot", "--spent"],
        &["signer", "list"],
        &["session", "list", "--status", "open"],
        &["deposit", "list"],
        &["deposit", "addresses"],
        &["deposit", "unconfirmed"],
        &["deposit", "resolutions"],
        &["kyc", "show", "--customer", "c1"],
        &["staff", "list"],
        &["customer", "list"],
        &["beneficiary", "list", "--customer", "c1"],
        &["fees", "show"],
        &["risk", "show"],
        &["log", "--limit", "5"],
        &["webhook", "deliveries"],
        &["wallet", "address", "--name", "hot"],
        &["customer", "add", "--id", "c 9/&?"],
    ];
    for args in reads {
        let out = common::run_cli_api(&missing, &api, Some(&admin), args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let customers = desk.ok(Some(&admin), &["customer", "list"]);
    assert!(
        customers.contains("c 9/&?"),
        "names travel percent-encoded: {customers}"
    );
    let fee = desk.ok(Some(&admin), &["fees", "show"]);
    assert_eq!(fee, "BTC withdrawal fee: flat 0.0001 BTC.\n");
    let kyc = desk.ok(Some(&admin), &["kyc", "show", "--customer", "c1"]);
    assert!(kyc.starts_with("Customer c1: KYC "), "{kyc}");
    let missing_session =
        common::run_cli_api(&missing, &api, Some(&admin), &["session", "show", "--id", "9"]);
    assert!(String::from_utf8_lossy(&missing_session.stderr).starts_with("error [not_found]"));
    // restore-release is an admin's API call too (nothing held here).
    let out = common::run_cli_api(
        &missing,
        &api,
        Some(&admin),
        &["restore-release", "--note", "n/a"],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "No restore hold: nothing to release.\n"
    );
    assert!(!missing.exists() && !missing.parent().unwrap().exists());

    // The API down (nothing listens at common::NO_API): a clear refusal, nothing done.
    let out = common::run_cli(&desk.db, Some(&admin), &["show", "1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "error [unreachable]: cannot reach the coordinator API at {}",
            common::NO_API
        )) && err.contains("start `sluice-coordinator run api` or set --api/SLUICE_API"),
        "{err}"
    );
    let out = common::run_cli(&desk.db, Some(&admin), &["--json", "approve", "1"]);
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["error"]["code"], "unreachable");
}

/// Every command that prints data prints JSON with --json (tools parse it, not the text).
#[test]
fn data_commands_print_json() {
    let desk = Desk::new();
    let (admin, _requester, _alice, _bob, address, _ops) = set_up(&desk);
    let staff = desk.json(&admin, &["staff", "list"]);
    assert!(staff
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["name"] == "alice" && m["role"] == "approver" && m["active"] == true));
    let customers = desk.json(&admin, &["customer", "list"]);
    assert_eq!(customers[0]["id"], "c1");
    let beneficiaries = desk.json(&admin, &["beneficiary", "list", "--customer", "c1"]);
    assert_eq!(beneficiaries[0]["address"], address.as_str());
    // Without --customer: every customer's.
    let all = desk.json(&admin, &["beneficiary", "list"]);
    assert_eq!(all, beneficiaries, "c1 is the only customer with one");
    let balances = desk.json(&admin, &["wallet", "balance"]);
    assert_eq!(balances["wallets"][0]["wallet"], "hot");
    assert_eq!(balances["wallets"][0]["spendable_sat"], 0);
    let coins = desk.json(&admin, &["coin", "list", "--wallet", "hot"]);
    assert_eq!(coins["coins"], serde_json::json!([]));
    let risk = desk.json(&admin, &["risk", "show"]);
    assert_eq!(risk["new_beneficiary"], false);
    let fees = desk.json(&admin, &["fees", "show"]);
    assert_eq!(fees["schedule"]["kind"], "flat");
    assert_eq!(fees["schedule"]["flat_sat"], 10_000);
    let log = desk.json(&admin, &["log", "--limit", "3"]);
    assert_eq!(log.as_array().unwrap().len(), 3);
    let wallets = desk.json(&admin, &["wallet", "list"]);
    assert_eq!(wallets[0]["name"], "hot");
    assert!(wallets[0]["receive_descriptor"]
        .as_str()
        .unwrap()
        .starts_with("wsh("));
    let address = desk.json(&admin, &["wallet", "address", "--name", "hot"]);
    assert_eq!(address["wallet"], "hot");
    assert!(desk.json(&admin, &["signer", "list"]).is_array());
    let identity = desk.json(&admin, &["identity", "show"]);
    assert_eq!(identity["public_key"].as_str().unwrap().len(), 64);
    let audit = desk.json(&admin, &["audit", "show", "--limit", "5"]);
    assert_eq!(audit.as_array().unwrap().len(), 5);
}

/// A failure names its code, as the API does, so scripts can branch on it; with --json
/// the API's error envelope also goes to stdout.
#[test]
fn errors_carry_their_code() {
    let desk = Desk::new();
    let (admin, ..) = set_up(&desk);
    let err = desk.fails(Some(&admin), &["show", "999"]);
    assert!(
        err.starts_with("error [not_found]: withdrawal 999 not found"),
        "{err}"
    );
    let out = desk.run(Some(&admin), &["--json", "show", "999"]);
    assert!(!out.status.success());
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    let err = desk.fails(Some(&admin), &["approve", "1"]);
    assert!(err.starts_with("error [forbidden]"), "{err}");
}

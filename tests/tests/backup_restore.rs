//! Backup and restore with the real binaries on simnet: the coordinator's services and two
//! online signers pay withdrawals; a backup is taken while they run and more withdrawals
//! arrive; the services stop and the home is destroyed; the backup is restored into a new
//! home and the services restart on it. The restored processor is held until an approver
//! has cancelled what the chain shows was already paid after the backup and an admin has
//! released it; then every withdrawal reaches `confirmed` or is accounted for, and the
//! chain itself pays each withdrawal exactly once. On simnet and on a real Bitcoin Core node.
//!
//! Open question (2026-12-02): run side by side with each other on a loaded 2-core machine,
//! each variant was once seen to stall with two sessions the backup held as `broadcast`
//! never confirming within 120 s after the restore; alone (five runs) they always pass.
//! They run one at a time until that is understood. On simnet and on a real Bitcoin Core node.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bitcoin::hashes::Hash;
use bitcoin::{Address, Amount, Network, ScriptBuf, WPubkeyHash};
use rusqlite::Connection;
use sluice_coordinator::rules::roles::Role;
use sluice_coordinator::service::{AdminDesk, Coordinator};
use sluice_coordinator::time::UnixTime;
use sluice_devnet::chain::{fund, ChainChoice, ChainNode};
use sluice_devnet::processes::Component;
use sluice_e2e::binaries::binary;
use sluice_e2e::hot_wallet::{set_up_hot_wallet, two_signers_and_a_cold_key};
use sluice_e2e::signer::Signer;
use sluice_shared::api::NewWithdrawal;

const PASSPHRASE: &str = "Backup passphrase 2026, kept apart!";

fn count(db: &Path, sql: &str) -> i64 {
    let conn = Connection::open(db).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn coordinator(db: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(binary("sluice-coordinator"));
    command
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("SLUICE_DB")
        .env_remove("SLUICE_TOKEN")
        .env_remove("SLUICE_CHAIN_URL");
    command
}

fn ok(mut command: Command) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `run all` on `db` and the two online signers dialing it; and the API's URL (staff
/// commands call it).
fn start(
    dir: &Path,
    db: &Path,
    chain: &ChainNode,
    signers: &[Signer],
    tag: &str,
) -> (Vec<Component>, String) {
    let mut command = coordinator(
        db,
        &[
            "run",
            "all",
            "--listen",
            "127.0.0.1:0",
            "--chain-url",
            chain.url(),
        ],
    );
    if let Some(cookie) = chain.cookie_file() {
        command.arg("--rpc-cookie-file").arg(cookie);
    }
    command.args([
        "--resend-seconds",
        "2",
        "--interval-ms",
        "200",
        "--max-batch",
        "2",
    ]);
    let mut services = Component::start("coordinator", command, dir.join(format!("run-{tag}.log"))).unwrap();
    let line = services
        .wait_for_line("sluice-coordinator api listening on ", Duration::from_secs(30))
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_owned();
    let mut all = vec![services];
    for (i, s) in signers.iter().enumerate() {
        let mut command = Command::new(binary("sluice-signer"));
        command
            .arg("--home")
            .arg(&s.home)
            .arg("--passphrase-file")
            .arg(&s.passphrase)
            .args(["online", "--coordinator", &url, "--poll-seconds", "1"]);
        all.push(Component::start("signer", command, dir.join(format!("signer-{i}-{tag}.log"))).unwrap());
    }
    (all, url)
}

fn wait_for(db: &Path, components: &mut [Component], what: &str, done: impl Fn(&Path) -> bool) {
    let start = Instant::now();
    while !done(db) {
        for c in components.iter_mut() {
            assert!(
                c.running(),
                "a process stopped while waiting for {what}:\n{}",
                c.log_tail(30)
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{what} did not happen within 120 s ({}):\n{}",
            states(db),
            components[0].log_tail(40)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Each withdrawal's and session's status, for a failure message.
fn states(db: &Path) -> String {
    let conn = Connection::open(db).unwrap();
    let mut out = String::new();
    for sql in [
        "SELECT 'w' || id || ':' || status FROM withdrawals ORDER BY id",
        "SELECT 's' || id || ':' || status FROM signing_sessions ORDER BY id",
        "SELECT 'b' || session_id || ':' || COALESCE(block_height, 'mempool') FROM broadcasts ORDER BY session_id",
    ] {
        let mut stmt = conn.prepare(sql).unwrap();
        let rows: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
        out.push_str(&rows.join(" "));
        out.push_str("; ");
    }
    out
}

/// Every output on the chain paying `script`, by value (every block from genesis).
async fn outputs_to(chain: &ChainNode, script: &ScriptBuf) -> Vec<Amount> {
    let client = chain.client();
    let tip = client.get_block_count().await.unwrap();
    let mut values = Vec::new();
    for height in 0..=tip {
        let block = client
            .get_block(&client.get_block_hash(height).await.unwrap())
            .await
            .unwrap();
        for output in block.txdata.iter().flat_map(|tx| &tx.output) {
            if output.script_pubkey == *script {
                values.push(output.value);
            }
        }
    }
    values
}

#[test]
fn a_home_restored_from_a_backup_taken_mid_run_pays_every_withdrawal_once() {
    restored_home_pays_every_withdrawal_once(&ChainChoice::Simnet);
}

/// The same on a real Bitcoin Core node; the exactly-once check reads Core's chain.
#[test]
fn on_bitcoin_core_a_home_restored_from_a_backup_taken_mid_run_pays_every_withdrawal_once() {
    restored_home_pays_every_withdrawal_once(&ChainChoice::Core {
        bitcoind_dir: sluice_e2e::bitcoind::bitcoind_dir(),
        consistency_checks: true,
    });
}

/// One at a time: two of these side by side on a loaded machine were seen to stall (see
/// the module comment).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn restored_home_pays_every_withdrawal_once(choice: &ChainChoice) {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let chain = runtime
        .block_on(ChainNode::start(choice, Duration::from_millis(500)))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (signers, keys) = two_signers_and_a_cold_key(dir.path());
    let home = dir.path().join("home");
    let db = home.join("coordinator.sqlite");
    let now = UnixTime::from_secs(1_790_000_000);
    let mut desk = AdminDesk::initialise(&db, Network::Regtest, ["root", "ops"], now).unwrap();
    let admin_token = desk.admin_token.reveal().to_string();
    let (requester, _) = desk.enroll_staff("backend", Role::Requester).unwrap();
    let (_, approver_token) = desk.enroll_staff("alice", Role::Approver).unwrap();
    let approver_token = approver_token.reveal().to_string();
    let destination = Address::from_script(
        &ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([7; 20])),
        Network::Regtest,
    )
    .unwrap();
    set_up_hot_wallet(&mut desk, &signers, keys, &destination.to_string());
    let addresses: Vec<Address> = (0..6)
        .map(|_| {
            desk.coord
                .next_receive_address(&desk.admin, "hot", now)
                .unwrap()
                .1
        })
        .collect();
    runtime
        .block_on(fund(&chain.client(), &addresses, Amount::ONE_BTC))
        .unwrap();
    drop(desk);
    let identity = ok(coordinator(&db, &["identity", "create"]));
    for s in &signers {
        s.ok(&["coordinator", "trust", identity.lines().last().unwrap().trim()]);
    }
    // Distinct amounts: each withdrawal is recognisable on the chain.
    let amounts: Vec<Amount> = (0..8u64)
        .map(|i| Amount::from_sat(10_000_000 + i * 1_000))
        .collect();
    let request = |coord: &mut Coordinator, i: usize| {
        let request = NewWithdrawal {
            customer_id: "c1".into(),
            wallet: "hot".into(),
            destination: destination.to_string(),
            amount_sat: amounts[i],
        };
        coord
            .request_withdrawal(&requester, &format!("w{i}"), &request, now)
            .unwrap();
    };
    {
        let mut coord = Coordinator::open(&db, None).unwrap();
        for i in 0..4 {
            request(&mut coord, i);
        }
    }

    let (mut running, _) = start(dir.path(), &db, &chain, &signers, "before");
    wait_for(&db, &mut running, "a first confirmation", |db| {
        count(db, "SELECT COUNT(*) FROM withdrawals WHERE status = 'confirmed'") >= 1
    });
    // Mid-run: more withdrawals arrive, and the backup is taken while everything runs.
    {
        let mut coord = Coordinator::open(&db, None).unwrap();
        for i in 4..8 {
            request(&mut coord, i);
        }
    }
    let secret = dir.path().join("backup.passphrase");
    std::fs::write(&secret, format!("{PASSPHRASE}\n")).unwrap();
    let backup = dir.path().join("coordinator.sluice-backup");
    let confirmed_at_backup = count(&db, "SELECT COUNT(*) FROM withdrawals WHERE status = 'confirmed'");
    ok(coordinator(
        &db,
        &[
            "backup",
            "--out",
            backup.to_str().unwrap(),
            "--passphrase-file",
            secret.to_str().unwrap(),
        ],
    ));
    // Work goes on a moment after the backup, then the machine is lost.
    std::thread::sleep(Duration::from_secs(2));
    for c in &mut running {
        c.kill();
    }
    std::fs::remove_dir_all(&home).unwrap();

    let new_home = dir.path().join("restored");
    ok(coordinator(
        &db,
        &[
            "restore",
            "--in",
            backup.to_str().unwrap(),
            "--home",
            new_home.to_str().unwrap(),
            "--passphrase-file",
            secret.to_str().unwrap(),
        ],
    ));
    let restored: PathBuf = new_home.join("sluice-coordinator.sqlite");
    let (mut running, api_url) = start(dir.path(), &restored, &chain, &signers, "after");
    // The monitor catches up with the chain (every transaction the old services sent is
    // mined within a few blocks); the processor is held meanwhile.
    std::thread::sleep(Duration::from_secs(4));
    let tip = runtime.block_on(chain.client().get_block_count()).unwrap();
    wait_for(&restored, &mut running, "the monitor at the tip", |db| {
        count(db, "SELECT COALESCE(MAX(height), 0) FROM chain_blocks") >= i64::from(tip)
    });
    // Reconcile: an approved withdrawal whose amount the chain already paid was paid by a
    // transaction the restored coordinator never knew: cancel it.
    let paid = runtime.block_on(outputs_to(&chain, &destination.script_pubkey()));
    let approved: Vec<(i64, i64)> = {
        let conn = Connection::open(&restored).unwrap();
        let mut stmt = conn
            .prepare("SELECT id, amount_sat FROM withdrawals WHERE status = 'approved'")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let approver_file = dir.path().join("alice.token");
    std::fs::write(&approver_file, &approver_token).unwrap();
    let mut cancelled = Vec::new();
    for (id, sat) in approved {
        if paid.contains(&Amount::from_sat(u64::try_from(sat).unwrap())) {
            let mut command = coordinator(
                &restored,
                &[
                    "cancel",
                    &id.to_string(),
                    "--reason",
                    "paid after the backup (reconciled)",
                ],
            );
            command
                .arg("--token-file")
                .arg(&approver_file)
                .arg("--api")
                .arg(&api_url);
            ok(command);
            cancelled.push(id);
        }
    }
    let admin_file = dir.path().join("root.token");
    std::fs::write(&admin_file, &admin_token).unwrap();
    let mut release = coordinator(
        &restored,
        &["restore-release", "--note", "reconciled with the chain"],
    );
    release
        .arg("--token-file")
        .arg(&admin_file)
        .arg("--api")
        .arg(&api_url);
    ok(release);

    wait_for(
        &restored,
        &mut running,
        "every withdrawal confirmed or reconciled",
        |db| {
            count(
                db,
                "SELECT COUNT(*) FROM withdrawals WHERE status NOT IN ('confirmed', 'failed')",
            ) == 0
        },
    );
    // Give the chain a few blocks, then check it: every amount paid exactly once.
    std::thread::sleep(Duration::from_secs(2));
    let mut paid = runtime.block_on(outputs_to(&chain, &destination.script_pubkey()));
    paid.sort();
    assert_eq!(
        paid, amounts,
        "each withdrawal paid exactly once (cancelled after restore: {cancelled:?})"
    );
    eprintln!(
        "confirmed around the backup: {confirmed_at_backup}; paid after it by the lost coordinator and cancelled on reconciling: {cancelled:?}"
    );
    for c in &mut running {
        c.kill();
    }
}

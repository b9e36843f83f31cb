#![allow(clippy::unwrap_used)] // tests: a panic is a failure report
//! Two `sluice-coordinator run processor` processes on one database, one of them killed
//! with SIGKILL mid-run: every approved withdrawal ends up in exactly one signing session,
//! no coin is spent by two sessions, and nothing is lost.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bitcoin::hashes::Hash;
use bitcoin::psbt::Psbt;
use bitcoin::{Address, Amount, Network, OutPoint, ScriptBuf, WPubkeyHash};
use rusqlite::Connection;
use sluice_coordinator::db::utxos::ObservedCoin;
use sluice_coordinator::rules::fees::FeeSchedule;
use sluice_coordinator::rules::policy::ApprovalPolicy;
use sluice_coordinator::rules::roles::Role;
use sluice_coordinator::service::{Actor, AdminDesk, Applied, Change, Coordinator, NewWalletRequest};
use sluice_coordinator::time::UnixTime;
use sluice_coordinator::wallet_spec::WalletKindArg;
use sluice_shared::api::NewWithdrawal;
use sluice_shared::asset::Asset;
use sluice_shared::descriptor::{Branch, WalletDescriptor};
use sluice_shared::psbt_builder::fake_funding_tx;

const BIN: &str = env!("CARGO_BIN_EXE_sluice-coordinator");
const WITHDRAWALS: usize = 300;
const COINS: u32 = 120;
const KEYS: [&str; 3] = [
    "[1bbaa5fe/84h/1h/0h]tpubDDHx3CNs1F7LipoKW8ccMFNJsXJ6WYLFubNaCYLZtBX6G2GsQ7EJgbuecqwXfQtLKzxt2Kn8vJkxEWeQNto3deB7JCHdKHuRJMcYMDFABwi",
    "[72408740/84h/1h/0h]tpubDDK8J3o2xAQqa14ubD5UW9ztUMRnpPKYNnCE6T8UChumFXApW4fX4ziePYbgH8kT63xpRviLH7ZNVzaZzAZ8nhwjzFVdT9mWdqZajmTCfv2",
    "[3429876a/84h/1h/0h]tpubDCRy5oJLbB3etWH8sirNRUhtdp5GqhNPChRnpe8GMuze9NbgQeagn6icEf1moF2xpxiE2b5V5w2PQyBiifkjLQmfGfqbgSAXDbpegWj9V3s",
];

/// Requests withdrawals of 0.01 BTC on wallet "hot", which approves them at once.
struct Queue {
    coord: Coordinator,
    requester: Actor,
    destination: String,
    requested: usize,
}

impl Queue {
    fn request(&mut self, n: usize) {
        let now = UnixTime::from_secs(1_735_700_000);
        for _ in 0..n {
            let request = NewWithdrawal {
                customer_id: "c1".into(),
                wallet: "hot".into(),
                destination: self.destination.clone(),
                amount_sat: Amount::from_sat(1_000_000),
            };
            let key = format!("w{}", self.requested);
            self.coord
                .request_withdrawal(&self.requester, &key, &request, now)
                .unwrap();
            self.requested += 1;
        }
    }
}

/// A database with wallet "hot" (automatic approval) and `COINS` confirmed coins of
/// 0.1 BTC, and the queue to request withdrawals from it.
fn prepare(path: &Path) -> Queue {
    let now = UnixTime::from_secs(1_735_700_000);
    let mut desk = AdminDesk::initialise(path, Network::Regtest, ["root", "ops"], now).unwrap();
    let agree = |desk: &mut AdminDesk, change: Change| desk.agree(change).unwrap();
    let (requester, _) = desk.enroll_staff("backend", Role::Requester).unwrap();
    desk.add_verified_customer("c1").unwrap();
    let destination = {
        let script = ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([1; 20]));
        Address::from_script(&script, Network::Regtest)
            .unwrap()
            .to_string()
    };
    agree(
        &mut desk,
        Change::BeneficiaryAdd {
            customer_id: "c1".into(),
            address: destination.clone(),
            label: "main".into(),
        },
    );
    agree(
        &mut desk,
        Change::FeesSet {
            asset: Asset::Btc,
            schedule: FeeSchedule::Flat(Amount::ZERO),
        },
    );
    let Applied::Wallet(created) = agree(
        &mut desk,
        Change::WalletCreate(NewWalletRequest {
            name: "hot".into(),
            kind: WalletKindArg::WshSortedMulti,
            threshold: Some(2),
            keys: KEYS.iter().map(|k| k.to_string()).collect(),
            policy: ApprovalPolicy::Auto {
                max_amount_sat: Amount::from_sat(100_000_000),
                registered_destination_only: true,
            },
            daily_limit: Amount::from_sat(100_000_000_000),
        }),
    ) else {
        panic!("wallet create yields the wallet")
    };
    let descriptor = WalletDescriptor::parse(&created.multipath_descriptor, None).unwrap();
    for index in 0..COINS {
        let script = descriptor.script_pubkey(Branch::Receive, index).unwrap();
        let prev_tx = fake_funding_tx(script, &[Amount::from_sat(10_000_000)], index);
        let coin = ObservedCoin {
            wallet: "hot",
            prev_tx: &prev_tx,
            vout: 0,
            branch: Branch::Receive,
            index,
            block_height: Some(101),
        };
        desk.coord.record_coin(&coin, now).unwrap();
    }
    Queue {
        coord: desk.coord,
        requester,
        destination,
        requested: 0,
    }
}

/// A processor process, returned once it has opened the database and said it is running.
fn processor(path: &Path, instance: &str) -> Child {
    let mut child = Command::new(BIN)
        .arg("--db")
        .arg(path)
        .args([
            "run",
            "processor",
            "--max-batch",
            "3",
            "--interval-ms",
            "10",
            "--fee-rate",
            "3",
        ])
        .args(["--instance", instance])
        .env_remove("SLUICE_DB")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains("running"), "{instance} did not start: {line:?}");
    // Keep reading, so that a later line never meets a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    child
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} failed");
}

/// Stops `child` (SIGSTOP) at a moment it holds no write transaction, proven by taking
/// the write lock on `gate` while it is stopped; returns with that lock held. Quick while
/// the processor is idle, as it then spends nearly all its time asleep.
fn stop_outside_a_write(child: &Child, gate: &Connection) {
    let start = Instant::now();
    loop {
        signal(child, "STOP");
        if gate.execute_batch("BEGIN IMMEDIATE").is_ok() {
            return;
        }
        signal(child, "CONT");
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "never caught the processor outside a write transaction"
        );
        std::thread::sleep(Duration::from_millis(3));
    }
}

/// Polls `sql` until it counts at least `at_least`, at most `limit`.
fn wait_for(conn: &Connection, sql: &str, at_least: i64, limit: Duration) {
    let start = Instant::now();
    while count(conn, sql) < at_least {
        assert!(
            start.elapsed() < limit,
            "waited {limit:?} for {sql} to reach {at_least}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Polls until no withdrawal is approved, at most `limit`.
fn wait_until_drained(conn: &Connection, limit: Duration) {
    let start = Instant::now();
    while count(conn, "SELECT COUNT(*) FROM withdrawals WHERE status = 'approved'") > 0 {
        assert!(
            start.elapsed() < limit,
            "processors did not drain the queue in {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn terminate(mut child: Child) {
    signal(&child, "TERM");
    let status = child.wait().unwrap();
    assert!(status.success(), "processor did not stop cleanly: {status:?}");
}

#[test]
fn two_processors_and_a_crash_never_batch_a_withdrawal_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("coordinator.sqlite");
    let mut queue = prepare(&path);
    let conn = Connection::open(&path).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    let gate = Connection::open(&path).unwrap();

    // Both start on an empty queue. Each first batches alone (the other stopped outside a
    // write), so both have certainly done work whatever the scheduler favours.
    let mut a = processor(&path, "processor-a");
    let b = processor(&path, "processor-b");
    let sessions_by =
        |instance: &str| format!("SELECT COUNT(*) FROM signing_sessions WHERE created_by = '{instance}'");
    let limit = Duration::from_secs(60);
    for stopped in [&a, &b] {
        stop_outside_a_write(stopped, &gate);
        gate.execute_batch("COMMIT").unwrap();
        queue.request(1);
        wait_until_drained(&conn, limit);
        signal(stopped, "CONT");
    }
    assert_eq!(count(&conn, &sessions_by("processor-a")), 1);
    assert_eq!(count(&conn, &sessions_by("processor-b")), 1);
    // Then both at once on the rest, and one killed without warning mid-run.
    queue.request(WITHDRAWALS - 2);
    wait_for(&conn, "SELECT COUNT(*) FROM signing_sessions", 30, limit);
    a.kill().unwrap();
    a.wait().unwrap();
    wait_until_drained(&conn, Duration::from_secs(60));
    terminate(b);

    // Every withdrawal is in exactly one session, and is waiting for signers.
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM withdrawals WHERE status = 'signing'"),
        WITHDRAWALS as i64
    );
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM session_withdrawals"),
        WITHDRAWALS as i64
    );
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(DISTINCT withdrawal_id) FROM session_withdrawals"
        ),
        WITHDRAWALS as i64
    );
    // Each put into a session exactly once in its history.
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM withdrawal_events WHERE kind = 'signing'"
        ),
        WITHDRAWALS as i64
    );

    // No coin is an input of two sessions, and each session spends exactly the coins
    // reserved for it.
    let mut stmt = conn.prepare("SELECT id, psbt FROM signing_sessions").unwrap();
    let sessions: Vec<(i64, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut spent: BTreeMap<OutPoint, i64> = BTreeMap::new();
    for (id, psbt) in &sessions {
        let psbt: Psbt = psbt.parse().unwrap();
        for input in &psbt.unsigned_tx.input {
            assert!(
                spent.insert(input.previous_output, *id).is_none(),
                "{} spent twice",
                input.previous_output
            );
        }
    }
    let mut stmt = conn
        .prepare("SELECT txid, vout, reserved_by_session FROM utxos WHERE reserved_by_session IS NOT NULL")
        .unwrap();
    let reserved: BTreeMap<OutPoint, i64> = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?, r.get::<_, i64>(2)?))
        })
        .unwrap()
        .map(|row| {
            let (txid, vout, session) = row.unwrap();
            (
                OutPoint {
                    txid: txid.parse().unwrap(),
                    vout,
                },
                session,
            )
        })
        .collect();
    assert_eq!(spent, reserved);
    let instances: BTreeSet<String> = conn
        .prepare("SELECT DISTINCT created_by FROM signing_sessions")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(instances.contains("processor-b"), "{instances:?}");
    let by_instance: Vec<(String, i64)> = conn
        .prepare("SELECT created_by, COUNT(*) FROM signing_sessions GROUP BY created_by")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    eprintln!("sessions per processor: {by_instance:?}");
}

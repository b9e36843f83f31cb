#![allow(clippy::unwrap_used)] // tests: a panic is a failure report
//! Two `sluice-coordinator run processor` processes on one database, one of them killed
//! with SIGKILL mid-run: every approved withdrawal ends up in exactly one signing session,
//! no coin is spent by two sessions, and nothing is lost.

use std::collections::{BTreeMap, BTreeSet};
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
use sluice_coordinator::service::{Applied, Change, Coordinator, NewWalletRequest};
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

/// A database with wallet "hot" (automatic approval), `COINS` confirmed coins of 0.1 BTC
/// and `WITHDRAWALS` approved withdrawals of 0.01 BTC.
fn prepare(path: &Path) {
    let now = UnixTime::from_secs(1_735_700_000);
    let mut rng = rand::thread_rng();
    let (mut coord, secrets) =
        Coordinator::initialise(path, Network::Regtest, ["root", "ops"], &mut rng, now).unwrap();
    let [root, ops] = secrets.map(|secret| {
        let (_, token) = coord.enroll(&secret, &mut rng, now).unwrap();
        coord.authenticate(&token).unwrap()
    });
    let mut agree = |coord: &mut Coordinator, change: Change| {
        coord
            .propose_and_approve(&root, &ops, &change, &mut rng, now)
            .unwrap()
    };
    let secret = agree(
        &mut coord,
        Change::StaffAdd {
            name: "backend".into(),
            role: Role::Requester,
        },
    )
    .into_enrollment_secret()
    .unwrap();
    let (_, requester) = coord.enroll(&secret, &mut rand::thread_rng(), now).unwrap();
    let requester = coord.authenticate(&requester).unwrap();
    coord.add_customer(&root, "c1", now).unwrap();
    let destination = {
        let script = ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([1; 20]));
        Address::from_script(&script, Network::Regtest)
            .unwrap()
            .to_string()
    };
    agree(
        &mut coord,
        Change::BeneficiaryAdd {
            customer_id: "c1".into(),
            address: destination.clone(),
            label: "main".into(),
        },
    );
    agree(
        &mut coord,
        Change::FeesSet {
            asset: Asset::Btc,
            schedule: FeeSchedule::Flat(Amount::ZERO),
        },
    );
    let Applied::Wallet(created) = agree(
        &mut coord,
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
        coord.record_coin(&coin, now).unwrap();
    }
    for i in 0..WITHDRAWALS {
        let request = NewWithdrawal {
            customer_id: "c1".into(),
            wallet: "hot".into(),
            destination: destination.clone(),
            amount_sat: Amount::from_sat(1_000_000),
        };
        coord
            .request_withdrawal(&requester, &format!("w{i}"), &request, now)
            .unwrap();
    }
}

fn processor(path: &Path, instance: &str) -> Child {
    Command::new(BIN)
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
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
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
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "processor did not stop cleanly: {status:?}");
}

#[test]
fn two_processors_and_a_crash_never_batch_a_withdrawal_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("coordinator.sqlite");
    prepare(&path);
    let conn = Connection::open(&path).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();

    let mut a = processor(&path, "processor-a");
    let b = processor(&path, "processor-b");
    // Let both work at once for a while, then kill one without warning.
    let both_busy = "SELECT COUNT(DISTINCT created_by) FROM signing_sessions";
    let start = Instant::now();
    let sessions = "SELECT COUNT(*) FROM signing_sessions";
    while (count(&conn, both_busy) < 2 || count(&conn, sessions) < 40)
        && start.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        count(&conn, both_busy),
        2,
        "both processors should have batched something"
    );
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
    // Each batched exactly once in its history.
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM withdrawal_events WHERE kind = 'batched'"
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

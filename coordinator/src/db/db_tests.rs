use bitcoin::Network;
use rusqlite::params;
use tempfile::TempDir;

use super::*;
use crate::time::UnixTime;
use sluice_shared::api::WithdrawalStatus;

const NOW: UnixTime = UnixTime::from_secs(1_700_000_000);

fn fresh() -> (TempDir, PathBuf, Database) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coord.sqlite");
    let (db, ()) = Database::initialise(&path, Network::Regtest, |tx| {
        staff::insert(
            tx,
            "root",
            crate::rules::roles::Role::Admin,
            &"a".repeat(64),
            NOW,
            None,
        )
    })
    .unwrap();
    (dir, path, db)
}

/// A customer, a wallet and one pending withdrawal (id 1) requested by "rita".
fn seed(db: &Database) {
    let c = db.connection();
    c.execute_batch(&format!(
        "INSERT INTO staff VALUES ('rita', 'requester', '{}', 1, 0, 'root');
         INSERT INTO staff VALUES ('alice', 'approver', '{}', 1, 0, 'root');
         INSERT INTO customers (id, status, created_at) VALUES ('c1', 'active', 0);
         INSERT INTO wallets (name, wallet_id, kind, receive_descriptor, change_descriptor, approval_policy,
             daily_limit_sat, created_at) VALUES ('hot', 'id', 'wpkh', 'r', 'c', '{{}}', 1000, 0);
         INSERT INTO withdrawals (idempotency_key, request_hash, customer_id, wallet, asset, destination,
             amount_sat, fee_sat, status, requested_by, created_at, updated_at)
             VALUES ('k1', 'h', 'c1', 'hot', 'BTC', 'addr', 500, 0, 'pending_approval', 'rita', 0, 0);
         INSERT INTO withdrawal_events (withdrawal_id, kind, actor, recorded_at) VALUES (1, 'requested', 'rita', 0);",
        "b".repeat(64),
        "c".repeat(64)
    ))
    .unwrap();
}

fn refused(db: &Database, sql: &str, why: &str) {
    let err = db.connection().execute_batch(sql).unwrap_err().to_string();
    assert!(err.contains(why), "{sql}: expected {why:?}, got {err:?}");
}

#[test]
fn initialise_then_open_with_pragmas() {
    let (_dir, path, db) = fresh();
    assert_eq!(db.network(), Network::Regtest);
    drop(db);
    let db = Database::open(&path, None).unwrap();
    let c = db.connection();
    let mode: String = c.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    let fk: i64 = c.pragma_query_value(None, "foreign_keys", |r| r.get(0)).unwrap();
    assert_eq!(fk, 1);
    let version: i64 = c.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(version, schema::MIGRATIONS.len() as i64);
    assert!(Database::open(&path, Some(Network::Regtest)).is_ok());
}

#[test]
fn refuses_another_network_a_second_init_and_a_missing_file() {
    let (dir, path, _db) = fresh();
    let err = Database::open(&path, Some(Network::Bitcoin)).unwrap_err();
    assert!(matches!(err, DbError::NetworkMismatch { .. }), "{err}");
    let err = Database::initialise(&path, Network::Regtest, |_| Ok(())).unwrap_err();
    assert!(matches!(err, DbError::AlreadyInitialised(_)), "{err}");
    let err = Database::open(&dir.path().join("nope.sqlite"), None).unwrap_err();
    assert!(matches!(err, DbError::NotInitialised(_)), "{err}");
    assert!(
        !dir.path().join("nope.sqlite").exists(),
        "open never creates a database"
    );
}

#[test]
fn a_failed_setup_leaves_the_database_uninitialised() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coord.sqlite");
    let err = Database::initialise(&path, Network::Regtest, |_| -> Result<(), DbError> {
        Err(DbError::Corrupt("setup failed".into()))
    })
    .unwrap_err();
    assert!(matches!(err, DbError::Corrupt(_)));
    assert!(matches!(
        Database::open(&path, None),
        Err(DbError::NotInitialised(_))
    ));
    assert!(Database::initialise(&path, Network::Regtest, |_| Ok(())).is_ok());
}

#[test]
fn refuses_a_database_from_a_newer_binary() {
    let (_dir, path, db) = fresh();
    db.connection()
        .pragma_update(None, "user_version", schema::MIGRATIONS.len() as i64 + 1)
        .unwrap();
    drop(db);
    let err = Database::open(&path, None).unwrap_err();
    assert!(matches!(err, DbError::NewerSchema { .. }), "{err}");
    assert!(err.to_string().contains("upgrade"), "{err}");
}

#[test]
fn nothing_financial_is_deleted() {
    let (_dir, _path, db) = fresh();
    seed(&db);
    for table in ["staff", "customers", "wallets", "withdrawals"] {
        refused(&db, &format!("DELETE FROM {table}"), "never deleted");
    }
    refused(&db, "DELETE FROM withdrawal_events", "append-only");
    refused(
        &db,
        "UPDATE withdrawal_events SET actor = 'mallory'",
        "append-only",
    );
    db.connection()
        .execute(
            "INSERT INTO approvals (withdrawal_id, approver, method, approved_at) VALUES (1, 'alice', 'manual', 0)",
            [],
        )
        .unwrap();
    refused(&db, "UPDATE approvals SET approver = 'rita'", "append-only");
    refused(&db, "DELETE FROM approvals", "append-only");
}

#[test]
fn request_fields_never_change() {
    let (_dir, _path, db) = fresh();
    seed(&db);
    for set in [
        "amount_sat = 1",
        "destination = 'x'",
        "fee_sat = 1",
        "requested_by = 'alice'",
        "wallet = 'hot'",
    ] {
        refused(&db, &format!("UPDATE withdrawals SET {set}"), "never change");
    }
}

#[test]
fn approved_only_with_an_approval_on_record() {
    let (_dir, _path, db) = fresh();
    seed(&db);
    refused(
        &db,
        "UPDATE withdrawals SET status = 'approved'",
        "approval on record",
    );
    refused(&db, "UPDATE withdrawals SET status = 'batched'", "not allowed");
    refused(
        &db,
        "INSERT INTO withdrawals (idempotency_key, request_hash, customer_id, wallet, asset, destination,
             amount_sat, fee_sat, status, requested_by, created_at, updated_at)
             VALUES ('k2', 'h', 'c1', 'hot', 'BTC', 'addr', 500, 0, 'approved', 'rita', 0, 0)",
        "starts pending",
    );
    let c = db.connection();
    c.execute(
        "INSERT INTO approvals (withdrawal_id, approver, method, approved_at) VALUES (1, 'alice', 'manual', 0)",
        [],
    )
    .unwrap();
    withdrawals::set_status(
        c,
        1,
        WithdrawalStatus::PendingApproval,
        WithdrawalStatus::Approved,
        NOW,
    )
    .unwrap();
    refused(
        &db,
        "UPDATE withdrawals SET status = 'pending_approval'",
        "not allowed",
    );
    refused(&db, "UPDATE withdrawals SET status = 'confirmed'", "not allowed");
}

#[test]
fn approvals_are_distinct_and_well_formed() {
    let (_dir, _path, db) = fresh();
    seed(&db);
    let c = db.connection();
    let insert = |approver: Option<&str>, method: &str| {
        c.execute(
            "INSERT INTO approvals (withdrawal_id, approver, method, approved_at) VALUES (1, ?1, ?2, 0)",
            params![approver, method],
        )
    };
    insert(Some("alice"), "manual").unwrap();
    assert!(
        insert(Some("alice"), "manual").is_err(),
        "one approval per approver"
    );
    assert!(
        insert(None, "manual").is_err(),
        "a manual approval names its approver"
    );
    assert!(insert(Some("alice"), "auto-rule").is_err(), "the rule is nobody");
    assert!(
        insert(Some("nobody"), "manual").is_err(),
        "approver must be staff"
    );
    insert(None, "auto-rule").unwrap();
    assert!(insert(None, "auto-rule").is_err(), "one automatic approval");
}

#[test]
fn addresses_are_never_reused() {
    let (_dir, _path, db) = fresh();
    seed(&db);
    let c = db.connection();
    use sluice_shared::descriptor::Branch;
    assert_eq!(wallets::take_next_index(c, "hot", Branch::Receive).unwrap(), 0);
    assert_eq!(wallets::take_next_index(c, "hot", Branch::Receive).unwrap(), 1);
    assert_eq!(wallets::take_next_index(c, "hot", Branch::Change).unwrap(), 0);
    refused(&db, "UPDATE wallets SET next_receive_index = 0", "only grow");
    refused(
        &db,
        "UPDATE wallets SET receive_descriptor = 'evil'",
        "never change",
    );
}

#[test]
fn daily_sums_skip_rejected_and_failed_and_other_days() {
    let (_dir, _path, db) = fresh();
    seed(&db);
    let c = db.connection();
    c.execute_batch(
        "INSERT INTO withdrawals (idempotency_key, request_hash, customer_id, wallet, asset, destination,
             amount_sat, fee_sat, status, requested_by, created_at, updated_at)
             VALUES ('k2', 'h', 'c1', 'hot', 'BTC', 'addr', 300, 0, 'pending_approval', 'rita', 86399, 0),
                    ('k3', 'h', 'c1', 'hot', 'BTC', 'addr', 7000, 0, 'pending_approval', 'rita', 86400, 0),
                    ('k4', 'h', 'c1', 'hot', 'BTC', 'addr', 9000, 0, 'pending_approval', 'rita', 10, 0);
         INSERT INTO approvals (withdrawal_id, approver, method, approved_at) VALUES (4, 'alice', 'manual', 0);
         UPDATE withdrawals SET status = 'rejected' WHERE id = 4;",
    )
    .unwrap();
    let day0 = UnixTime::from_secs(5);
    assert_eq!(
        withdrawals::sum_for_wallet(c, "hot", day0).unwrap(),
        Amount::from_sat(800)
    );
    assert_eq!(
        withdrawals::sum_for_customer(c, "c1", "BTC", day0).unwrap(),
        Amount::from_sat(800)
    );
    // The last second of the day counts for that day.
    assert_eq!(
        withdrawals::sum_for_wallet(c, "hot", UnixTime::from_secs(86_399)).unwrap(),
        Amount::from_sat(800)
    );
    let day1 = UnixTime::from_secs(86_400);
    assert_eq!(
        withdrawals::sum_for_wallet(c, "hot", day1).unwrap(),
        Amount::from_sat(7000)
    );
    assert_eq!(
        withdrawals::sum_for_customer(c, "c2", "BTC", day0).unwrap(),
        Amount::ZERO
    );
    assert_eq!(
        withdrawals::sum_for_customer(c, "c1", "ETH", day0).unwrap(),
        Amount::ZERO
    );
    // An approved withdrawal that fails no longer counts either.
    c.execute_batch(
        "INSERT INTO approvals (withdrawal_id, approver, method, approved_at) VALUES (1, 'alice', 'manual', 0);
         UPDATE withdrawals SET status = 'approved' WHERE id = 1;",
    )
    .unwrap();
    assert_eq!(
        withdrawals::sum_for_wallet(c, "hot", day0).unwrap(),
        Amount::from_sat(800)
    );
    c.execute_batch("UPDATE withdrawals SET status = 'failed' WHERE id = 1;")
        .unwrap();
    assert_eq!(
        withdrawals::sum_for_wallet(c, "hot", day0).unwrap(),
        Amount::from_sat(300)
    );
    assert_eq!(
        withdrawals::sum_for_customer(c, "c1", "BTC", day0).unwrap(),
        Amount::from_sat(300)
    );
}

/// The risk facts read in ranges of their indexes: the customer's own withdrawals to a
/// destination are skipped when looking for other customers there (on both sides of the
/// customer in the index), and a rejected request is no earlier withdrawal.
#[test]
fn risk_facts_find_other_customers_on_both_sides_and_skip_rejected() {
    let (_dir, _path, db) = fresh();
    seed(&db);
    let c = db.connection();
    c.execute_batch(
        "INSERT INTO customers (id, status, created_at) VALUES ('a0', 'active', 0), ('z9', 'active', 0);
         INSERT INTO withdrawals (idempotency_key, request_hash, customer_id, wallet, asset, destination,
             amount_sat, fee_sat, status, requested_by, created_at, updated_at)
             VALUES ('k2', 'h', 'c1', 'hot', 'BTC', 'addr', 300, 0, 'pending_approval', 'rita', 0, 0),
                    ('k3', 'h', 'c1', 'hot', 'BTC', 'other', 300, 0, 'pending_approval', 'rita', 0, 0),
                    ('k4', 'h', 'a0', 'hot', 'BTC', 'shared', 300, 0, 'pending_approval', 'rita', 0, 0),
                    ('k5', 'h', 'z9', 'hot', 'BTC', 'shared', 300, 0, 'pending_approval', 'rita', 0, 0),
                    ('k6', 'h', 'c1', 'hot', 'BTC', 'shared', 300, 0, 'pending_approval', 'rita', 0, 0);
         INSERT INTO approvals (withdrawal_id, approver, method, approved_at) VALUES (3, 'alice', 'manual', 0);
         UPDATE withdrawals SET status = 'rejected' WHERE id = 3;",
    )
    .unwrap();
    assert!(risk::earlier_to_destination(c, "c1", "addr").unwrap());
    assert!(
        !risk::earlier_to_destination(c, "c1", "other").unwrap(),
        "only a rejected one"
    );
    assert!(!risk::earlier_to_destination(c, "a0", "addr").unwrap());
    assert_eq!(
        risk::other_customers(c, "c1", "addr").unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(risk::other_customers(c, "c1", "shared").unwrap(), ["a0", "z9"]);
    assert_eq!(risk::other_customers(c, "a0", "shared").unwrap(), ["c1", "z9"]);
    assert_eq!(risk::other_customers(c, "z9", "shared").unwrap(), ["a0", "c1"]);
    // The risk indexes hold `rejected`, which follows the status (migration 21).
    let marked: Vec<i64> = c
        .prepare("SELECT id FROM withdrawals WHERE rejected = 1")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(marked, [3]);
    refused(
        &db,
        "UPDATE withdrawals SET rejected = 1 WHERE id = 1",
        "rejected exactly when",
    );
    refused(
        &db,
        "UPDATE withdrawals SET rejected = 0 WHERE id = 3",
        "rejected exactly when",
    );
}

/// Migration 21 marks the withdrawals already rejected.
#[test]
fn the_rejected_column_migration_marks_existing_rejections() {
    let conn = database_before_migration(20);
    conn.execute_batch(
        "INSERT INTO withdrawals (idempotency_key, request_hash, customer_id, wallet, asset, destination,
             amount_sat, fee_sat, status, requested_by, created_at, updated_at)
             VALUES ('k1', 'h', 'c1', 'hot', 'BTC', 'addr', 500, 0, 'pending_approval', 'rita', 10, 10),
                    ('k2', 'h', 'c1', 'hot', 'BTC', 'addr', 300, 0, 'pending_approval', 'rita', 20, 20);
         UPDATE withdrawals SET status = 'rejected' WHERE id = 2;",
    )
    .unwrap();
    conn.execute_batch(schema::MIGRATIONS[20]).unwrap();
    let rejected: Vec<(i64, i64)> = conn
        .prepare("SELECT id, rejected FROM withdrawals ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rejected, [(1, 0), (2, 1)]);
}

/// The running daily totals equal the sums over the withdrawals themselves (the query
/// intake ran before migration 17), whatever requests, days and endings came before.
#[test]
fn daily_totals_equal_the_sums_over_the_withdrawals() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let mut runner = TestRunner::new(Config {
        cases: 24,
        ..Config::default()
    });
    // (customer, wallet, amount, second of three days, ending: 0 pending, 1 approved,
    // 2 rejected, 3 approved then failed)
    let requests = proptest::collection::vec(
        (0..3usize, 0..2usize, 1..1_000_000i64, 0..3 * 86_400i64, 0..4u8),
        0..40,
    );
    runner
        .run(&requests, |requests| {
            let (_dir, _path, db) = fresh();
            seed(&db);
            let c = db.connection();
            c.execute_batch(
                "INSERT INTO customers (id, status, created_at) VALUES ('c0', 'active', 0), ('c2', 'active', 0);
                 INSERT INTO wallets (name, wallet_id, kind, receive_descriptor, change_descriptor, approval_policy,
                     daily_limit_sat, created_at) VALUES ('cold', 'id2', 'wpkh', 'r2', 'c2', '{}', 1000, 0);",
            )
            .unwrap();
            for (i, (customer, wallet, amount, at, ending)) in requests.iter().enumerate() {
                let wallet = ["hot", "cold"][*wallet];
                c.execute(
                    "INSERT INTO withdrawals (idempotency_key, request_hash, customer_id, wallet, asset, destination,
                         amount_sat, fee_sat, status, requested_by, created_at, updated_at)
                         VALUES (?1, 'h', ?2, ?3, 'BTC', 'addr', ?4, 0, 'pending_approval', 'rita', ?5, ?5)",
                    params![format!("p{i}"), format!("c{customer}"), wallet, amount, at],
                )
                .unwrap();
                let id = c.last_insert_rowid();
                if matches!(ending, 1 | 3) {
                    c.execute(
                        "INSERT INTO approvals (withdrawal_id, approver, method, approved_at) VALUES (?1, 'alice', 'manual', 0)",
                        [id],
                    )
                    .unwrap();
                    c.execute("UPDATE withdrawals SET status = 'approved' WHERE id = ?1", [id])
                        .unwrap();
                }
                let end = match ending {
                    2 => Some("rejected"),
                    3 => Some("failed"),
                    _ => None,
                };
                if let Some(end) = end {
                    c.execute("UPDATE withdrawals SET status = ?2 WHERE id = ?1", params![id, end])
                        .unwrap();
                }
            }
            for day in 0..3i64 {
                let on = UnixTime::from_secs(day * 86_400 + 7);
                let (start, end) = (day * 86_400, (day + 1) * 86_400);
                for customer in ["c0", "c1", "c2"] {
                    let summed: i64 = c
                        .query_row(
                            "SELECT COALESCE(SUM(amount_sat), 0) FROM withdrawals WHERE customer_id = ?1 AND asset = 'BTC'
                             AND created_at >= ?2 AND created_at < ?3 AND status NOT IN ('rejected', 'failed')",
                            params![customer, start, end],
                            |r| r.get(0),
                        )
                        .unwrap();
                    let total = withdrawals::sum_for_customer(c, customer, "BTC", on).unwrap();
                    prop_assert_eq!(total.to_sat(), u64::try_from(summed).unwrap());
                }
                for wallet in ["hot", "cold"] {
                    let summed: i64 = c
                        .query_row(
                            "SELECT COALESCE(SUM(amount_sat), 0) FROM withdrawals WHERE wallet = ?1
                             AND created_at >= ?2 AND created_at < ?3 AND status NOT IN ('rejected', 'failed')",
                            params![wallet, start, end],
                            |r| r.get(0),
                        )
                        .unwrap();
                    let total = withdrawals::sum_for_wallet(c, wallet, on).unwrap();
                    prop_assert_eq!(total.to_sat(), u64::try_from(summed).unwrap());
                }
            }
            Ok(())
        })
        .unwrap();
}

/// Another program's connection to the file (no coordinator functions) cannot lower a
/// daily total, and dropping the guard that stops it is refused at the next open.
#[test]
fn daily_totals_are_written_only_by_the_coordinator() {
    let (_dir, path, db) = fresh();
    seed(&db);
    drop(db);
    let outsider = Connection::open(&path).unwrap();
    for sql in [
        "UPDATE daily_outflow SET amount_sat = 0",
        "INSERT INTO daily_outflow VALUES ('wallet', 'hot', 0, 'BTC', 0)",
    ] {
        let err = outsider.execute_batch(sql).unwrap_err().to_string();
        assert!(err.contains("sluice_coordinator_write"), "{sql}: {err}");
    }
    let err = outsider
        .execute_batch("DELETE FROM daily_outflow")
        .unwrap_err()
        .to_string();
    assert!(err.contains("never deleted"), "{err}");
    outsider
        .execute_batch("DROP TRIGGER outflow_written_by_the_coordinator_update")
        .unwrap();
    drop(outsider);
    let err = Database::open(&path, None).unwrap_err();
    assert!(
        matches!(&err, DbError::SchemaAltered(m) if m.contains("outflow_written_by_the_coordinator_update")),
        "{err}"
    );
}

/// Intake runs these for every request: each must be one lookup or read its index alone,
/// not look up every withdrawal of the day (or of the destination) in the table, or a
/// request's cost grows with the withdrawals before it (migration 17).
#[test]
fn intake_queries_read_only_their_index() {
    let (_dir, _path, db) = fresh();
    let c = db.connection();
    for (sql, index) in [
        (
            withdrawals::DAILY_OUTFLOW,
            "daily_outflow USING PRIMARY KEY (scope=? AND name=? AND day=?)",
        ),
        (
            risk::VELOCITY_WINDOW,
            "USING COVERING INDEX withdrawals_by_customer_time (customer_id=? AND created_at>?)",
        ),
        (
            risk::EARLIER_TO_DESTINATION,
            "USING COVERING INDEX withdrawals_by_destination (destination=? AND customer_id=? AND rejected=?)",
        ),
        (
            risk::RECENT_AMOUNTS,
            "USING INDEX withdrawals_by_customer_recent (customer_id=?)",
        ),
    ] {
        let mut plan = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let mut rows = plan.raw_query();
        let mut details = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            details.push(row.get::<_, String>(3).unwrap());
        }
        assert!(
            details.iter().any(|d| d.contains(index)),
            "{sql}: plan {details:?}"
        );
        assert!(
            !details.iter().any(|d| d.contains("TEMP B-TREE")),
            "{sql} sorts: plan {details:?}"
        );
    }
    // Skips the customer's own withdrawals to the destination (it sorts only the few
    // beneficiaries registered at the address).
    let mut plan = c
        .prepare(&format!("EXPLAIN QUERY PLAN {}", risk::OTHER_CUSTOMERS))
        .unwrap();
    let mut rows = plan.raw_query();
    let mut details = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        details.push(row.get::<_, String>(3).unwrap());
    }
    for range in [
        "(destination=? AND customer_id<?)",
        "(destination=? AND customer_id>?)",
    ] {
        let search = format!("SEARCH withdrawals USING COVERING INDEX withdrawals_by_destination {range}");
        assert!(details.contains(&search), "no {search}: plan {details:?}");
    }
}

#[test]
fn an_older_database_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(schema::MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute("INSERT INTO meta (key, value) VALUES ('network', 'regtest')", [])
            .unwrap();
    }
    let db = Database::open(&path, Some(Network::Regtest)).unwrap();
    let version: i64 = db
        .connection()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, schema::MIGRATIONS.len() as i64);
    let coins: i64 = db
        .connection()
        .query_row("SELECT COUNT(*) FROM utxos", [], |r| r.get(0))
        .unwrap();
    assert_eq!(coins, 0);
}

/// A database on the schema of the first `applied` migrations, with a requester (rita),
/// an approver (alice), customer c1 and wallet "hot", and stand-ins for the SQL functions
/// the earlier migrations' triggers call (their values do not matter to a migration test).
fn database_before_migration(applied: usize) -> rusqlite::Connection {
    use rusqlite::functions::FunctionFlags;
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.create_scalar_function("sluice_audit_hash", 5, FunctionFlags::SQLITE_UTF8, |_| {
        Ok(vec![0u8; 32])
    })
    .unwrap();
    conn.create_scalar_function("sluice_audit_sign", 1, FunctionFlags::SQLITE_UTF8, |_| {
        Ok(vec![0u8; 64])
    })
    .unwrap();
    conn.create_scalar_function("sluice_coordinator_write", 0, FunctionFlags::SQLITE_UTF8, |_| {
        Ok(1)
    })
    .unwrap();
    for sql in &schema::MIGRATIONS[..applied] {
        conn.execute_batch(sql).unwrap();
    }
    conn.execute_batch(&format!(
        "INSERT INTO staff (name, role, token_hash, active, created_at) VALUES ('rita', 'requester', '{}', 1, 0);
         INSERT INTO staff (name, role, token_hash, active, created_at) VALUES ('alice', 'approver', '{}', 1, 0);
         INSERT INTO customers (id, status, created_at) VALUES ('c1', 'active', 0);
         INSERT INTO wallets (name, wallet_id, kind, receive_descriptor, change_descriptor, approval_policy,
             daily_limit_sat, created_at) VALUES ('hot', 'id', 'wpkh', 'r', 'c', '{{}}', 1000, 0);",
        "b".repeat(64),
        "c".repeat(64)
    ))
    .unwrap();
    conn
}

/// Migration 17 starts the daily totals from the withdrawals already recorded.
#[test]
fn the_daily_totals_migration_counts_existing_withdrawals() {
    let conn = database_before_migration(16);
    conn.execute_batch(
        "INSERT INTO withdrawals (idempotency_key, request_hash, customer_id, wallet, asset, destination,
             amount_sat, fee_sat, status, requested_by, created_at, updated_at)
             VALUES ('k1', 'h', 'c1', 'hot', 'BTC', 'addr', 500, 0, 'pending_approval', 'rita', 10, 10),
                    ('k2', 'h', 'c1', 'hot', 'BTC', 'addr', 300, 0, 'pending_approval', 'rita', 86399, 86399),
                    ('k3', 'h', 'c1', 'hot', 'BTC', 'addr', 7000, 0, 'pending_approval', 'rita', 86400, 86400),
                    ('k4', 'h', 'c1', 'hot', 'BTC', 'addr', 9000, 0, 'pending_approval', 'rita', 20, 20);
         UPDATE withdrawals SET status = 'rejected' WHERE id = 4;",
    )
    .unwrap();
    conn.execute_batch(schema::MIGRATIONS[16]).unwrap();
    let mut totals = conn
        .prepare("SELECT scope, name, day, amount_sat FROM daily_outflow ORDER BY scope, day")
        .unwrap();
    let totals: Vec<(String, String, i64, i64)> = totals
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        totals,
        [
            ("customer".into(), "c1".into(), 0, 800),
            ("customer".into(), "c1".into(), 1, 7000),
            ("wallet".into(), "hot".into(), 0, 800),
            ("wallet".into(), "hot".into(), 1, 7000),
        ]
    );
}

#[test]
fn signers_and_partial_signatures_are_append_only() {
    use bitcoin::secp256k1::{Keypair, Message, Secp256k1};
    let (_dir, _path, db) = fresh();
    seed(&db);
    let c = db.connection();
    let secp = Secp256k1::new();
    let keypair = Keypair::from_seckey_slice(&secp, &[7; 32]).unwrap();
    let (identity, _) = keypair.x_only_public_key();
    let fp = bitcoin::bip32::Fingerprint::from([1, 2, 3, 4]);
    let id = signers::insert(c, &identity, fp, "signer-a", "root", NOW).unwrap();
    let found = signers::find(c, &id).unwrap().unwrap();
    assert_eq!(found.identity_key, identity);
    assert_eq!(found.master_fingerprint, fp);
    assert_eq!(signers::find_by_fingerprint(c, fp).unwrap().unwrap().id, id);
    assert!(found.active);
    assert!(
        signers::insert(c, &identity, fp, "again", "root", NOW).is_err(),
        "same key twice"
    );
    assert!(signers::set_active(c, &id, false).unwrap());
    assert!(!signers::find(c, &id).unwrap().unwrap().active);
    refused(&db, "DELETE FROM signers", "never deleted");
    refused(
        &db,
        "UPDATE signers SET identity_key = 'x'",
        "identity never changes",
    );

    c.execute_batch(
        "INSERT INTO signing_sessions (wallet, unsigned_txid, psbt, fee_sat, status, created_by, created_at, updated_at)
         VALUES ('hot', 'txid', 'psbt', 10, 'open', 'p', 0, 0);",
    )
    .unwrap();
    let message = Message::from_digest([3; 32]);
    let sig = |seed: u8| {
        bitcoin::ecdsa::Signature::sighash_all(secp.sign_ecdsa(
            &message,
            &bitcoin::secp256k1::SecretKey::from_slice(&[seed; 32]).unwrap(),
        ))
    };
    let stored = signatures::StoredSignature {
        input_index: 0,
        pubkey: bitcoin::PublicKey::new(keypair.public_key()),
        signature: sig(7),
        signer: Some(id),
    };
    assert_eq!(
        signatures::insert(c, 1, &stored, NOW).unwrap(),
        signatures::Inserted::New
    );
    assert_eq!(
        signatures::insert(c, 1, &stored, NOW).unwrap(),
        signatures::Inserted::AlreadyStored
    );
    let different = signatures::StoredSignature {
        signature: sig(8),
        ..stored.clone()
    };
    assert!(signatures::insert(c, 1, &different, NOW).is_err());
    assert_eq!(signatures::for_session(c, 1).unwrap(), vec![stored]);
    refused(&db, "DELETE FROM partial_signatures", "never deleted");
    refused(
        &db,
        "UPDATE partial_signatures SET signature = 'x'",
        "never changed",
    );

    assert!(sessions::transition(c, 1, "open", "signed", NOW).unwrap());
    assert!(
        !sessions::transition(c, 1, "open", "signed", NOW).unwrap(),
        "second claim loses"
    );
    assert_eq!(sessions::ids_with_status(c, "signed").unwrap(), vec![1]);
}

/// The trigger `withdrawals_status_edges` and `rules::status::can_transition` allow the
/// same edges: every pair of statuses, tried against the database with only the edge
/// trigger in place (the approval and release triggers guard other facts and are tested
/// on their own).
#[test]
fn the_status_trigger_and_the_rules_agree_on_every_edge() {
    use crate::rules::status::can_transition;
    let (_dir, _path, db) = fresh();
    seed(&db);
    let c = db.connection();
    let edges: String = c
        .query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'withdrawals_status_edges'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    c.execute_batch(
        "DROP TRIGGER withdrawals_approved_needs_approval; DROP TRIGGER withdrawals_return_needs_release;",
    )
    .unwrap();
    for from in WithdrawalStatus::ALL {
        for to in WithdrawalStatus::ALL {
            if from == to {
                continue;
            }
            c.execute_batch("DROP TRIGGER withdrawals_status_edges").unwrap();
            c.execute("UPDATE withdrawals SET status = ?1 WHERE id = 1", [from.as_str()])
                .unwrap();
            c.execute_batch(&edges).unwrap();
            let allowed = c
                .execute("UPDATE withdrawals SET status = ?1 WHERE id = 1", [to.as_str()])
                .is_ok();
            assert_eq!(
                allowed,
                can_transition(from, to),
                "{from} -> {to}: the trigger says {allowed}"
            );
        }
    }
}

/// Schema 8 rebuilds `staff` (for the compliance role) under tables that reference it,
/// and gives existing customers a KYC status: nothing is lost, foreign keys hold and are
/// enforced again afterwards, and existing customers are verified with a history row.
#[test]
fn the_deposits_migration_keeps_staff_and_verifies_existing_customers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v7.sqlite");
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        let tx = conn.transaction().unwrap();
        for sql in &schema::MIGRATIONS[..7] {
            tx.execute_batch(sql).unwrap();
        }
        tx.pragma_update(None, "user_version", 7).unwrap();
        tx.commit().unwrap();
        conn.execute_batch(&format!(
            "INSERT INTO meta (key, value) VALUES ('network', 'regtest');
             INSERT INTO staff VALUES ('root', 'admin', '{}', 1, 0, NULL);
             INSERT INTO staff VALUES ('rita', 'requester', '{}', 1, 0, 'root');
             INSERT INTO customers (id, status, created_at) VALUES ('c1', 'active', 0);
             INSERT INTO admin_events (actor, action, subject, details, recorded_at)
                 VALUES ('root', 'customer add', 'c1', '{{}}', 0);",
            "a".repeat(64),
            "b".repeat(64)
        ))
        .unwrap();
    }
    let db = Database::open(&path, Some(Network::Regtest)).unwrap();
    let c = db.connection();
    let rita = staff::find(c, "rita").unwrap().unwrap();
    assert_eq!(rita.created_by.as_deref(), Some("root"));
    let (status, until): (String, Option<i64>) = c
        .query_row(
            "SELECT kyc_status, kyc_verified_until FROM customers WHERE id = 'c1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((status.as_str(), until), ("verified", None));
    let history: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM customer_kyc_events WHERE customer_id = 'c1' AND actor = 'migration'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(history, 1);
    let fk: i64 = c.pragma_query_value(None, "foreign_keys", |r| r.get(0)).unwrap();
    assert_eq!(fk, 1);
    refused(
        &db,
        "INSERT INTO staff VALUES ('x', 'admin', 'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', 1, 0, 'nobody')",
        "FOREIGN KEY",
    );
    refused(&db, "DELETE FROM staff WHERE name = 'rita'", "never deleted");
    c.execute(
        "INSERT INTO staff VALUES ('cora', 'compliance', ?1, 1, 0, 'root')",
        ["d".repeat(64)],
    )
    .unwrap();
    refused(
        &db,
        &format!(
            "INSERT INTO staff VALUES ('eve', 'root', '{}', 1, 0, 'root')",
            "e".repeat(64)
        ),
        "CHECK",
    );
    let new_customer: String = {
        c.execute(
            "INSERT INTO customers (id, status, created_at) VALUES ('c2', 'active', 0)",
            [],
        )
        .unwrap();
        c.query_row("SELECT kyc_status FROM customers WHERE id = 'c2'", [], |r| {
            r.get(0)
        })
        .unwrap()
    };
    assert_eq!(new_customer, "unverified");
}

#[test]
fn the_shadow_role_is_admitted_and_staff_keep_their_audit_triggers() {
    let (_dir, path, db) = fresh();
    seed(&db);
    let c = db.connection();
    c.execute_batch(&format!(
        "INSERT INTO staff VALUES ('watcher', 'shadow', '{}', 1, 0, 'root');",
        "d".repeat(64)
    ))
    .unwrap();
    refused(
        &db,
        &format!(
            "INSERT INTO staff VALUES ('eve', 'superuser', '{}', 1, 0, 'root');",
            "e".repeat(64)
        ),
        "CHECK constraint failed",
    );
    refused(&db, "DELETE FROM staff WHERE name = 'watcher'", "never deleted");
    let audited: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE kind = 'staff_added' AND json_extract(body, '$.role') = 'shadow'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(audited, 1, "the rebuilt staff table still writes the audit log");
    drop(db);
    // Reopening checks that the triggers are exactly those of a fresh database.
    Database::open(&path, Some(Network::Regtest)).unwrap();
}

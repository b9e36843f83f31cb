#![allow(clippy::unwrap_used)] // tests: a panic is a failure report
//! The audit log against an attacker with the database file: each test changes the file
//! directly (rusqlite, guards lifted and put back exactly as they were, as an attacker who
//! read the schema would) and `sluice-coordinator audit verify` must name the first entry
//! that no longer checks out.

use std::path::{Path, PathBuf};
use std::process::Output;

use rusqlite::Connection;
use sluice_coordinator::audit::{entry_hash, AuditKey};

mod common;

struct Desk {
    home: common::CliHome,
    /// The two admins' tokens.
    tokens: Vec<String>,
}

impl Desk {
    /// A coordinator with some history: init (two admins), both enroll, one adds a
    /// customer and proposes a staff member, the other approves it.
    fn new() -> Desk {
        let mut desk = Desk {
            home: common::CliHome::new(),
            tokens: Vec::new(),
        };
        let init = desk.ok(&[
            "--network",
            "regtest",
            "init",
            "--admin",
            "root",
            "--admin",
            "ops",
        ]);
        let secrets: Vec<&str> = init
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("sluice-enroll_"))
            .collect();
        let tokens: Vec<String> = secrets
            .iter()
            .map(|s| {
                desk.ok(&["staff", "enroll", "--secret", s])
                    .lines()
                    .last()
                    .unwrap()
                    .trim()
                    .to_owned()
            })
            .collect();
        desk.ok_as(&tokens[0], &["customer", "add", "--id", "c1"]);
        let proposed = desk.ok_as(
            &tokens[0],
            &["staff", "add", "--name", "alice", "--role", "approver"],
        );
        let id = proposed
            .lines()
            .find_map(|l| {
                l.strip_prefix("Proposal ")?
                    .split_once(" recorded")
                    .map(|(id, _)| id.to_owned())
            })
            .unwrap();
        desk.ok_as(&tokens[1], &["proposal", "approve", &id]);
        desk.tokens = tokens;
        desk
    }

    fn run(&self, token: Option<&str>, args: &[&str]) -> Output {
        self.home.run(token, args)
    }

    fn ok(&self, args: &[&str]) -> String {
        self.ok_token(None, args)
    }

    fn ok_as(&self, token: &str, args: &[&str]) -> String {
        self.ok_token(Some(token), args)
    }

    fn ok_token(&self, token: Option<&str>, args: &[&str]) -> String {
        let out = self.run(token, args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `audit verify` (with a head file) must fail; returns stderr.
    fn verify_fails(&self, head: Option<&Path>) -> String {
        let mut args = vec!["audit", "verify"];
        let head_arg;
        if let Some(head) = head {
            head_arg = head.display().to_string();
            args.extend(["--head", &head_arg]);
        }
        let out = self.run(None, &args);
        assert!(
            !out.status.success(),
            "verify should have failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    fn entries(&self) -> i64 {
        self.attacker()
            .query_row("SELECT COUNT(*) FROM audit_log", [], |r| r.get(0))
            .unwrap()
    }

    fn export_head(&self) -> PathBuf {
        let path = self.home.dir.path().join("head.json");
        std::fs::write(&path, self.ok(&["audit", "head"])).unwrap();
        path
    }

    fn attacker(&self) -> Connection {
        Connection::open(&self.home.db).unwrap()
    }

    /// Drops the audit log's own guards, runs `edit`, and recreates them word for word.
    fn tamper(&self, edit: impl FnOnce(&Connection)) {
        let conn = self.attacker();
        let guards: Vec<(String, String)> = conn
            .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(guards.len(), 3);
        for (name, _) in &guards {
            conn.execute_batch(&format!("DROP TRIGGER {name}")).unwrap();
        }
        edit(&conn);
        for (_, sql) in &guards {
            conn.execute_batch(sql).unwrap();
        }
    }
}

fn column<T: rusqlite::types::FromSql>(conn: &Connection, column: &str, seq: i64) -> T {
    conn.query_row(
        &format!("SELECT {column} FROM audit_log WHERE seq = ?1"),
        [seq],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn every_change_is_an_entry_and_an_untouched_log_verifies() {
    let desk = Desk::new();
    let n = desk.entries();
    // 2 staff added, 2 enrollments (admin log + token replaced each), the proposal, its
    // decision, the customer and the admin log of both.
    assert!(n >= 8, "only {n} entries");
    let kinds: Vec<String> = desk
        .attacker()
        .prepare("SELECT kind FROM audit_log ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for kind in [
        "staff_added",
        "staff_changed",
        "admin_event",
        "proposal",
        "proposal_decided",
        "customer_added",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} entry in {kinds:?}");
    }
    let out = desk.ok(&["audit", "verify"]);
    assert!(out.contains(&format!("audit log intact: {n} entries")), "{out}");
    let head: serde_json::Value = serde_json::from_str(&desk.ok(&["audit", "head"])).unwrap();
    assert_eq!(head["seq"], n);
    let json: serde_json::Value =
        serde_json::from_str(&desk.ok(&["--json", "audit", "show", "--limit", "2"])).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[0]["seq"], n);

    // The key is private, and a head exported earlier still verifies as the log grows.
    let key = AuditKey::path_for(&desk.home.db);
    assert_eq!(sluice_fsutil::mode_of(&key).unwrap(), 0o600);
    let head = desk.export_head();
    desk.ok_as(&desk.tokens[0], &["customer", "add", "--id", "c2"]);
    assert!(desk.entries() > n);
    desk.ok(&["audit", "verify", "--head", head.to_str().unwrap()]);
}

#[test]
fn a_flipped_byte_names_its_entry() {
    let desk = Desk::new();
    desk.tamper(|conn| {
        let mut body: Vec<u8> = column::<String>(conn, "body", 3).into_bytes();
        body[2] ^= 0x01;
        conn.execute(
            "UPDATE audit_log SET body = ?1 WHERE seq = 3",
            rusqlite::params![String::from_utf8(body).unwrap()],
        )
        .unwrap();
    });
    let err = desk.verify_fails(None);
    assert!(
        err.contains("audit entry 3: its content does not match its hash"),
        "{err}"
    );
}

#[test]
fn a_deleted_entry_is_noticed_at_the_next_one() {
    let desk = Desk::new();
    desk.tamper(|conn| {
        conn.execute("DELETE FROM audit_log WHERE seq = 3", []).unwrap();
    });
    let err = desk.verify_fails(None);
    assert!(err.contains("audit entry 4: expected sequence number 3"), "{err}");

    // Renumbering the rest to close the gap breaks the link instead.
    let desk = Desk::new();
    desk.tamper(|conn| {
        conn.execute("DELETE FROM audit_log WHERE seq = 3", []).unwrap();
        conn.execute("UPDATE audit_log SET seq = seq + 1000 WHERE seq > 3", [])
            .unwrap();
        conn.execute("UPDATE audit_log SET seq = seq - 1001 WHERE seq > 1000", [])
            .unwrap();
    });
    let err = desk.verify_fails(None);
    assert!(err.contains("audit entry 3: it does not follow entry 2"), "{err}");
}

#[test]
fn an_inserted_entry_fails_its_signature() {
    // A forger who knows the format links and hashes the entry correctly, but signs with
    // a key of their own.
    let desk = Desk::new();
    let forger = AuditKey::generate(&mut rand::thread_rng());
    desk.tamper(|conn| {
        conn.execute("UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 3", [])
            .unwrap();
        conn.execute("UPDATE audit_log SET seq = seq - 999 WHERE seq > 1000", [])
            .unwrap();
        let prev: Vec<u8> = column(conn, "entry_hash", 2);
        let body = r#"{"actor":"root","action":"staff add","subject":"mallory"}"#;
        let hash = entry_hash(3, &prev, Some(1_800_000_000), "admin_event", body);
        conn.execute(
            "INSERT INTO audit_log (seq, kind, body, recorded_at, prev_hash, entry_hash, signature) \
             VALUES (3, 'admin_event', ?1, 1800000000, ?2, ?3, ?4)",
            rusqlite::params![body, prev, hash.to_vec(), forger.sign(&hash).to_vec()],
        )
        .unwrap();
    });
    let err = desk.verify_fails(None);
    assert!(err.contains("audit entry 3: its signature is not valid"), "{err}");
}

#[test]
fn reordered_entries_break_the_link() {
    let desk = Desk::new();
    desk.tamper(|conn| {
        conn.execute("UPDATE audit_log SET seq = 1000 WHERE seq = 2", [])
            .unwrap();
        conn.execute("UPDATE audit_log SET seq = 2 WHERE seq = 3", [])
            .unwrap();
        conn.execute("UPDATE audit_log SET seq = 3 WHERE seq = 1000", [])
            .unwrap();
    });
    let err = desk.verify_fails(None);
    assert!(err.contains("audit entry 2: it does not follow entry 1"), "{err}");
}

#[test]
fn each_transaction_is_signed_once_on_its_newest_entry() {
    let desk = Desk::new();
    let n = desk.entries();
    let conn = desk.attacker();
    let signed: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE signature IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // Enrolling writes the admin log and the staff change in one transaction, and so on.
    assert!(
        signed < n,
        "{signed} of {n} entries signed: not once per transaction"
    );
    assert!(
        column::<Option<Vec<u8>>>(&conn, "signature", n).is_some(),
        "the newest entry is unsigned"
    );

    // An entry appended without the key, linked and hashed as the format says, is refused:
    // it is the newest, and it has no signature.
    desk.tamper(|conn| {
        let prev: Vec<u8> = column(conn, "entry_hash", n);
        let body = r#"{"actor":"root","action":"staff add","subject":"mallory"}"#;
        let hash = entry_hash(n + 1, &prev, Some(1_800_000_000), "admin_event", body);
        conn.execute(
            "INSERT INTO audit_log (seq, kind, body, recorded_at, prev_hash, entry_hash) \
             VALUES (?1, 'admin_event', ?2, 1800000000, ?3, ?4)",
            rusqlite::params![n + 1, body, prev, hash.to_vec()],
        )
        .unwrap();
    });
    let err = desk.verify_fails(None);
    assert!(
        err.contains(&format!(
            "audit entry {} is the newest and has no signature",
            n + 1
        )),
        "{err}"
    );
    // And the coordinator writes nothing after it: its signature on the next entry would
    // cover the outsider's entry through the link.
    // The API says so with its own code (a 500: the reason is in the coordinator's log).
    let out = desk.run(Some(&desk.tokens[0]), &["customer", "add", "--id", "c9"]);
    assert!(
        !out.status.success(),
        "a write after an unsigned entry was let through"
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("database_tampered"), "{said}");
    assert_eq!(
        desk.entries(),
        n + 1,
        "the coordinator wrote after the unsigned entry"
    );
    let err = desk.verify_fails(None);
    assert!(
        err.contains(&format!("audit entry {} is the newest", n + 1)),
        "{err}"
    );
}

#[test]
fn truncation_is_caught_only_with_an_exported_head() {
    let desk = Desk::new();
    let head = desk.export_head();
    let n = desk.entries();
    // Cut back to the end of an earlier transaction (its newest entry is signed).
    let cut: i64 = desk
        .attacker()
        .query_row(
            "SELECT MAX(seq) FROM audit_log WHERE seq < ?1 AND signature IS NOT NULL",
            [n],
            |r| r.get(0),
        )
        .unwrap();
    desk.tamper(|conn| {
        conn.execute("DELETE FROM audit_log WHERE seq > ?1", [cut])
            .unwrap();
    });
    // Without the head a shorter chain is a valid chain: say so.
    let out = desk.ok(&["audit", "verify"]);
    assert!(out.contains("cannot be noticed"), "{out}");
    let err = desk.verify_fails(Some(&head));
    assert!(
        err.contains(&format!("the audit log ends at entry {cut}")) && err.contains("truncated"),
        "{err}"
    );
    // A tampered head is refused, not trusted: its hash is signed, and the hash covers
    // the sequence number.
    let original = std::fs::read_to_string(&head).unwrap();
    let moved = original.replace(&format!("\"seq\": {n}"), "\"seq\": 1");
    assert_ne!(moved, original);
    std::fs::write(&head, moved).unwrap();
    let err = desk.verify_fails(Some(&head));
    assert!(
        err.contains("audit entry 1 is not the entry of the exported head"),
        "{err}"
    );
    let value: serde_json::Value = serde_json::from_str(&original).unwrap();
    let hash = value["entry_hash"].as_str().unwrap();
    let other = format!("{}{}", if hash.starts_with('0') { "1" } else { "0" }, &hash[1..]);
    std::fs::write(&head, original.replace(hash, &other)).unwrap();
    let err = desk.verify_fails(Some(&head));
    assert!(err.contains("the head's signature is not valid"), "{err}");
}

#[test]
fn the_database_refuses_writes_without_the_audit_key_and_foreign_triggers() {
    let desk = Desk::new();
    // A plain connection (no audit functions) cannot change a recorded table...
    let err = desk
        .attacker()
        .execute("UPDATE customers SET status = 'suspended' WHERE id = 'c1'", [])
        .unwrap_err();
    assert!(err.to_string().contains("sluice_audit"), "{err}");
    // ...and a trigger planted to run inside the coordinator's writes stops it opening.
    desk.attacker()
        .execute_batch("CREATE TRIGGER planted AFTER INSERT ON staff BEGIN SELECT 1; END;")
        .unwrap();
    let out = desk.run(None, &["audit", "verify"]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("\"planted\" is not one the coordinator's migrations made"),
        "{err}"
    );
    desk.attacker().execute_batch("DROP TRIGGER planted").unwrap();
    desk.ok(&["audit", "verify"]);

    // A missing audit key is not silently replaced while entries exist.
    std::fs::remove_file(AuditKey::path_for(&desk.home.db)).unwrap();
    let out = desk.run(None, &["audit", "verify"]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("the audit key is missing"), "{err}");
}

#[test]
fn a_trigger_planted_while_the_coordinator_runs_stops_its_next_write() {
    use sluice_coordinator::service::{ApiToken, Coordinator};
    use sluice_coordinator::time::UnixTime;

    let desk = Desk::new();
    let mut coord = Coordinator::open(&desk.home.db, None).unwrap();
    let actor = coord
        .authenticate(&ApiToken::parse(&desk.tokens[0]).unwrap())
        .unwrap();
    coord
        .add_customer(&actor, "before", UnixTime::from_secs(1_800_000_000))
        .unwrap();
    // While this connection stays open, the attacker plants a trigger that would make the
    // coordinator's next write add (and sign) an admin event nobody made.
    desk.attacker()
        .execute_batch(
            "CREATE TRIGGER planted AFTER INSERT ON customers BEGIN \
             INSERT INTO admin_events (actor, action, subject, details, recorded_at) \
             VALUES ('ops', 'staff add', 'mallory', '{}', NEW.created_at); END;",
        )
        .unwrap();
    let err = coord
        .add_customer(&actor, "after", UnixTime::from_secs(1_800_000_001))
        .unwrap_err();
    assert_eq!(err.code(), "database_tampered");
    assert!(
        err.to_string()
            .contains("\"planted\" is not one the coordinator's migrations made"),
        "{err}"
    );
    let forged: i64 = desk
        .attacker()
        .query_row(
            "SELECT COUNT(*) FROM audit_log WHERE body LIKE '%mallory%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(forged, 0);
}

#![allow(clippy::unwrap_used)] // tests: a panic is a failure report
//! `backup` and `restore` through the real binary: a backup taken while another process
//! keeps writing withdrawals restores into a new home that opens, verifies its audit log
//! and holds what was committed before the backup; a wrong passphrase, a flipped byte and
//! an occupied home are refused with a clear error and write nothing.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bitcoin::hashes::Hash;
use bitcoin::{Address, Amount, Network, ScriptBuf, WPubkeyHash};
use sluice_coordinator::identity::CoordinatorIdentity;
use sluice_coordinator::rules::fees::FeeSchedule;
use sluice_coordinator::rules::policy::ApprovalPolicy;
use sluice_coordinator::rules::roles::Role;
use sluice_coordinator::service::{AdminDesk, Change, Coordinator, NewWalletRequest};
use sluice_coordinator::time::UnixTime;
use sluice_coordinator::wallet_spec::WalletKindArg;
use sluice_shared::api::NewWithdrawal;
use sluice_shared::asset::Asset;

const NOW: UnixTime = UnixTime::from_secs(1_735_700_000);
const PASSPHRASE: &str = "Backup passphrase 2026, kept apart!";

fn address(seed: u8) -> String {
    let script = ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([seed; 20]));
    Address::from_script(&script, Network::Regtest)
        .unwrap()
        .to_string()
}

fn count(db: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn error_of(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "expected a refusal");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_backup_taken_while_writing_restores_into_a_new_home_and_damage_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("home/coordinator.sqlite");
    let mut desk = AdminDesk::initialise(&db, Network::Regtest, ["root", "ops"], NOW).unwrap();
    CoordinatorIdentity::create(&CoordinatorIdentity::path_for(&db), &mut rand::thread_rng()).unwrap();
    let (requester, _) = desk.enroll_staff("backend", Role::Requester).unwrap();
    desk.add_verified_customer("c1").unwrap();
    for change in [
        Change::BeneficiaryAdd {
            customer_id: "c1".into(),
            address: address(1),
            label: "c1".into(),
        },
        Change::FeesSet {
            asset: Asset::Btc,
            schedule: FeeSchedule::Flat(Amount::from_sat(1_000)),
        },
        Change::WalletCreate(NewWalletRequest {
            name: "hot".into(),
            kind: WalletKindArg::Wpkh,
            threshold: None,
            keys: vec!["[1bbaa5fe/84h/1h/0h]tpubDDHx3CNs1F7LipoKW8ccMFNJsXJ6WYLFubNaCYLZtBX6G2GsQ7EJgbuecqwXfQtLKzxt2Kn8vJkxEWeQNto3deB7JCHdKHuRJMcYMDFABwi".into()],
            policy: ApprovalPolicy::Manual { approvers_required: 1 },
            daily_limit: Amount::from_int_btc(1_000),
        }),
    ] {
        desk.agree(change).unwrap();
    }
    let admin_token = desk.admin_token.reveal().to_string();
    drop(desk);

    // Another connection keeps committing withdrawals while the backup runs.
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let (db, writing) = (db.clone(), writing.clone());
        std::thread::spawn(move || {
            let mut coord = Coordinator::open(&db, None).unwrap();
            let mut n = 0u64;
            while writing.load(Ordering::Relaxed) || n < 20 {
                let request = NewWithdrawal {
                    customer_id: "c1".into(),
                    wallet: "hot".into(),
                    destination: address(1),
                    amount_sat: Amount::from_sat(10_000 + n),
                };
                coord
                    .request_withdrawal(&requester, &format!("w-{n}"), &request, NOW)
                    .unwrap();
                n += 1;
            }
            n
        })
    };
    while count(&db, "withdrawals") < 10 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let secret = dir.path().join("passphrase");
    std::fs::write(&secret, format!("{PASSPHRASE}\n")).unwrap();
    let backup = dir.path().join("coordinator.backup");
    let out = common::run_cli(
        &db,
        None,
        &[
            "backup",
            "--out",
            backup.to_str().unwrap(),
            "--passphrase-file",
            secret.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    writing.store(false, Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(written >= 20);
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Never over an existing file.
    let again = common::run_cli(
        &db,
        None,
        &[
            "backup",
            "--out",
            backup.to_str().unwrap(),
            "--passphrase-file",
            secret.to_str().unwrap(),
        ],
    );
    assert!(error_of(&again).contains("already exists"));

    let restore = |home: &Path, backup: &Path, passphrase: &Path| {
        common::run_cli(
            &db,
            None,
            &[
                "restore",
                "--in",
                backup.to_str().unwrap(),
                "--home",
                home.to_str().unwrap(),
                "--passphrase-file",
                passphrase.to_str().unwrap(),
            ],
        )
    };
    // A wrong passphrase: refused, nothing written.
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "Not the passphrase 2026!\n").unwrap();
    let home = dir.path().join("restored");
    let err = error_of(&restore(&home, &backup, &wrong));
    assert!(
        err.contains("wrong passphrase") && err.contains("nothing was written"),
        "{err}"
    );
    assert!(!home.exists(), "nothing may be written");
    // One flipped byte of the ciphertext: refused, nothing written.
    let mut sealed: serde_json::Value = serde_json::from_slice(&std::fs::read(&backup).unwrap()).unwrap();
    let mut hex = sealed["ciphertext"].as_str().unwrap().to_owned();
    let flipped = if hex.as_bytes()[100] == b'0' { "1" } else { "0" };
    hex.replace_range(100..101, flipped);
    sealed["ciphertext"] = hex.into();
    let damaged = dir.path().join("damaged.backup");
    std::fs::write(&damaged, sealed.to_string()).unwrap();
    let err = error_of(&restore(&home, &damaged, &secret));
    assert!(err.contains("nothing was written"), "{err}");
    assert!(!home.exists());

    // The real one: checked, written, usable.
    let out = restore(&home, &backup, &secret);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let restored = home.join("sluice-coordinator.sqlite");
    let rows = count(&restored, "withdrawals");
    assert!(rows >= 10 && rows <= i64::try_from(written).unwrap(), "{rows}");
    let mut coord = Coordinator::open(&restored, Some(Network::Regtest)).unwrap();
    assert!(coord.audit_verify(None).unwrap().is_ok());
    assert_eq!(
        CoordinatorIdentity::load(&CoordinatorIdentity::path_for(&restored))
            .unwrap()
            .public_key(),
        CoordinatorIdentity::load(&CoordinatorIdentity::path_for(&db))
            .unwrap()
            .public_key()
    );
    // The restored processor is held until an admin has reconciled with the chain.
    assert!(coord.restore_hold().unwrap().is_some());
    // An admin's action, through the restored coordinator's API like every staff command.
    let api = common::ApiProcess::start(&restored);
    let held = common::run_cli_api(
        &restored,
        &api.url,
        Some(&admin_token),
        &["restore-release", "--note", "checked W-1..W-20 on chain"],
    );
    assert!(held.status.success(), "{}", String::from_utf8_lossy(&held.stderr));
    assert!(coord.restore_hold().unwrap().is_none());
    drop(api);
    let verify = common::run_cli(&restored, None, &["audit", "verify"]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    // Never over a home in use.
    let err = error_of(&restore(&home, &backup, &secret));
    assert!(err.contains("already exists"), "{err}");
}

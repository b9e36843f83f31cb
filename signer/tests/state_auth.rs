//! Issue 8 item 3: the signer's state is authenticated with a key from the sealed seed,
//! and checked against rollback with the anchor beside it. Someone with the files but
//! without the passphrase who puts an old state back, deletes an applied-command row or
//! edits a total gets a signer that refuses to sign and says why; `limits init` needs
//! the passphrase.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

mod support;

use sluice_shared::limit_command::LimitAction;
use support::*;

fn signer() -> (TestSigner, sluice_shared::descriptor::WalletDescriptor, String) {
    let fx = fixtures();
    let s = TestSigner::new();
    let extra = officer_args();
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    s.init_from_tprv(fx["keys"]["A"]["master_tprv"].as_str().unwrap(), &extra);
    let (r, c, d) = wpkh_wallet(&fx);
    s.register("hot", &r, &c);
    s.limits("1", "1", "1", "0.3");
    let id = s.ok(&["id"]).lines().last().unwrap().to_owned();
    (s, d, id)
}

fn psbt(
    s: &TestSigner,
    wallet: &sluice_shared::descriptor::WalletDescriptor,
    name: &str,
    salt: u32,
) -> String {
    let path = s.path(name);
    write_psbt(
        &path,
        &make_psbt(wallet, 1, btc("1"), btc("0.0999"), btc("0.0001"), salt),
    );
    path.to_str().unwrap().to_owned()
}

fn db(s: &TestSigner) -> std::path::PathBuf {
    s.home().join("state.sqlite")
}

#[test]
fn an_old_state_file_put_back_is_refused() {
    let (s, wallet, _) = signer();
    let first = psbt(&s, &wallet, "a.psbt", 1);
    s.ok(&["sign", "--yes", "--in", &first]);
    let old = s.path("old.sqlite");
    std::fs::copy(db(&s), &old).unwrap();
    let second = psbt(&s, &wallet, "b.psbt", 2);
    s.ok(&["sign", "--yes", "--in", &second]);
    // 0.2 of 0.3 spent. The thief puts the state from after the first signing back:
    // 0.2 would be free again.
    std::fs::copy(&old, db(&s)).unwrap();
    let third = psbt(&s, &wallet, "c.psbt", 3);
    let err = s.fails(&["sign", "--yes", "--in", &third]);
    assert!(err.contains("ROLLED BACK"), "{err}");
    assert!(!s.path("c-signed.psbt").exists());
}

#[test]
fn a_deleted_applied_command_row_cannot_be_replayed() {
    let (s, _, id) = signer();
    let officers = officers();
    let raise = limit_command(
        &id,
        LimitAction::RaiseTotal { amount: btc("0.1") },
        7,
        &[&officers[0], &officers[1]],
    );
    s.ok(&["limits", "apply", "--text", &raise]);
    {
        let conn = rusqlite::Connection::open(db(&s)).unwrap();
        conn.execute("DELETE FROM applied_commands", []).unwrap();
    }
    let err = s.fails(&["limits", "apply", "--text", &raise]);
    assert!(err.contains("fails its authentication"), "{err}");
    assert!(
        s.ok(&["limits", "show"]).contains("0.4 BTC"),
        "the raise counted twice"
    );
}

#[test]
fn an_edited_total_makes_the_signer_refuse_to_sign() {
    let (s, wallet, _) = signer();
    {
        let conn = rusqlite::Connection::open(db(&s)).unwrap();
        let text: String = conn
            .query_row("SELECT state FROM limiters", [], |r| r.get(0))
            .unwrap();
        let mut limiter: serde_json::Value = serde_json::from_str(&text).unwrap();
        limiter["total_remaining"] = serde_json::json!(1_000_000_000u64);
        conn.execute("UPDATE limiters SET state = ?1", [limiter.to_string()])
            .unwrap();
    }
    let p = psbt(&s, &wallet, "e.psbt", 4);
    let err = s.fails(&["sign", "--yes", "--in", &p]);
    assert!(err.contains("fails its authentication"), "{err}");
    assert!(!s.path("e-signed.psbt").exists());
}

#[test]
fn a_missing_anchor_or_limits_init_without_the_passphrase_is_refused() {
    let (s, wallet, _) = signer();
    std::fs::remove_file(s.home().join("state.anchor")).unwrap();
    let p = psbt(&s, &wallet, "m.psbt", 5);
    let err = s.fails(&["sign", "--yes", "--in", &p]);
    assert!(err.contains("anchor"), "{err}");

    let other = TestSigner::new();
    other.init_from_tprv(fixtures()["keys"]["A"]["master_tprv"].as_str().unwrap(), &[]);
    std::fs::write(other.path("pass"), "not the passphrase\n").unwrap();
    let err = other.fails(&[
        "limits",
        "init",
        "--rate",
        "1",
        "--per-seconds",
        "1",
        "--burst",
        "1",
        "--total",
        "100",
    ]);
    assert!(err.contains("wrong passphrase"), "{err}");
}

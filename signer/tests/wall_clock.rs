//! The bucket refills only by monotonic time that passes while the machine runs.
//!
//! - A wall-clock jump forward refills nothing: the signer runs under libfaketime a year in
//!   the future, as a spoofed time server or a reset appliance clock would make it, both
//!   with the monotonic clock left alone (what NTP spoofing does) and with libfaketime's
//!   defaults (which also offset `clock_gettime(CLOCK_MONOTONIC)` through libc; the signer
//!   reads it with a direct system call, so that changes nothing either).
//! - The signer persists its monotonic anchor (boot id + time since boot) with the limits,
//!   and a reading from another boot credits nothing: no credit for downtime. The
//!   limiter's unit tests show the rule; this shows the binary stores and applies it.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

mod support;

use std::process::Command;

use sluice_shared::asset::Asset;
use support::*;

fn faketime_available() -> bool {
    Command::new("faketime")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// A signer whose bucket is nearly empty: 0.0001 BTC per hour, burst 0.02, 0.015 spent.
fn signer_with_a_drained_bucket() -> (TestSigner, sluice_shared::descriptor::WalletDescriptor) {
    let fx = fixtures();
    let s = TestSigner::new();
    s.init_from_tprv(fx["keys"]["A"]["master_tprv"].as_str().unwrap(), &[]);
    let (r, c, wallet) = wpkh_wallet(&fx);
    s.register("hot", &r, &c);
    // A year of wall-clock time at this rate would refill the bucket many times over.
    s.limits("0.0001", "3600", "0.02", "1");
    let first = s.path("first.psbt");
    write_psbt(
        &first,
        &make_psbt(&wallet, 1, btc("0.1"), btc("0.0149"), btc("0.0001"), 1),
    );
    s.ok(&["sign", "--yes", "--in", first.to_str().unwrap()]);
    (s, wallet)
}

#[test]
fn a_year_forward_on_the_wall_clock_refills_nothing() {
    if !faketime_available() {
        // CI installs it (.ci/run); a developer machine may not have it.
        assert!(
            std::env::var_os("CI").is_none(),
            "faketime is required in CI: apt-get install faketime"
        );
        eprintln!("skipping: `faketime` is not installed (apt-get install faketime)");
        return;
    }
    for (salt, fake_monotonic) in [(2u32, false), (3, true)] {
        let (s, wallet) = signer_with_a_drained_bucket();
        let second = s.path("second.psbt");
        write_psbt(
            &second,
            &make_psbt(&wallet, 1, btc("0.1"), btc("0.0149"), btc("0.0001"), salt),
        );
        let under_faketime = |args: &[&str]| {
            let mut cmd = Command::new("faketime");
            if !fake_monotonic {
                cmd.env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
            }
            cmd.args(["-f", "+365d"]).arg(BIN);
            cmd.arg("--home")
                .arg(s.home())
                .arg("--passphrase-file")
                .arg(s.path("pass"))
                .args(args)
                .stdin(std::process::Stdio::null());
            cmd.output().unwrap()
        };
        let out = under_faketime(&["sign", "--yes", "--in", second.to_str().unwrap()]);
        assert!(
            !out.status.success(),
            "signed after a wall-clock jump (fake monotonic: {fake_monotonic}):\n{}",
            text(&out.stdout)
        );
        assert!(text(&out.stderr).contains("rate limit"), "{}", text(&out.stderr));
        assert!(!s.path("second-signed.psbt").exists());

        let shown = text(&under_faketime(&["limits", "show"]).stdout);
        let bucket = amount_after(&shown, "Bucket now");
        assert!(
            bucket < btc("0.0051"),
            "bucket refilled to {bucket} by a wall-clock jump (fake monotonic: {fake_monotonic})"
        );

        // The jump really happened: the refusal's journal entry is dated a year ahead.
        let entries = s.state().journal_entries().unwrap();
        let last = entries.last().unwrap();
        assert_eq!(last.event, "refused");
        let before = entries[entries.len() - 2].recorded_at;
        assert!(
            last.recorded_at - before > 300 * 24 * 3600,
            "faketime did not move the wall clock"
        );
    }
}

/// Rewrites the stored limiter's monotonic anchor, as a reboot (a new boot id) or a
/// long-running boot (an earlier reading) would leave it.
fn set_anchor(s: &TestSigner, boot_id: Option<&str>, since_boot_secs: u64) {
    let db = rusqlite::Connection::open(s.home().join("state.sqlite")).unwrap();
    let text: String = db
        .query_row("SELECT state FROM limiters WHERE asset = 'BTC'", [], |r| r.get(0))
        .unwrap();
    let mut state: serde_json::Value = serde_json::from_str(&text).unwrap();
    if let Some(id) = boot_id {
        state["anchor"]["boot_id"] = id.into();
    }
    state["anchor"]["since_boot"] = serde_json::json!({ "secs": since_boot_secs, "nanos": 0 });
    db.execute(
        "UPDATE limiters SET state = ?1 WHERE asset = 'BTC'",
        [state.to_string()],
    )
    .unwrap();
}

#[test]
fn the_anchor_is_persisted_and_a_reading_from_another_boot_credits_nothing() {
    let (s, _) = signer_with_a_drained_bucket();
    let limits = s.state().limits(Asset::Btc).unwrap().unwrap();
    let anchor = limits.limiter.anchor().clone();
    let stored_level = limits.limiter.status().bucket_available;
    match std::fs::read_to_string("/proc/sys/kernel/random/boot_id") {
        Ok(id) => assert_eq!(anchor.boot_id, id.trim(), "the anchor names this boot"),
        Err(_) => assert!(anchor.boot_id.starts_with("unknown-")),
    }
    assert!(!anchor.since_boot.is_zero());
    let drained = amount_after(&s.ok(&["limits", "show"]), "Bucket now");
    assert!(drained < btc("0.0051"), "{drained}");

    // Same boot, anchored at boot time: the whole uptime is monotonic time the signer
    // machine ran, and refills (up to the burst). Only meaningful if uptime is long enough.
    set_anchor(&s, None, 0);
    let refilled = amount_after(&s.ok(&["limits", "show"]), "Bucket now");
    if anchor.since_boot.as_secs() > 3600 {
        assert!(refilled > drained, "{refilled} after an hour of uptime");
    }

    // Anchored in an earlier boot, whatever the times: nothing is credited.
    set_anchor(&s, Some("an-earlier-boot"), 0);
    let after_reboot = amount_after(&s.ok(&["limits", "show"]), "Bucket now");
    assert_eq!(
        after_reboot, stored_level,
        "a reboot credited {after_reboot} - {stored_level}"
    );
}

//! A wall-clock jump forward refills nothing: the signer is run under libfaketime one
//! year in the future (as a spoofed time server or a reset appliance clock would make
//! it), and the rate bucket stays empty; only monotonic time refills it.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

mod support;

use std::process::Command;

use support::*;

fn faketime_available() -> bool {
    Command::new("faketime")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
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
    let fx = fixtures();
    let s = TestSigner::new();
    s.init_from_tprv(fx["keys"]["A"]["master_tprv"].as_str().unwrap(), &[]);
    let (r, c, wallet) = wpkh_wallet(&fx);
    s.register("hot", &r, &c);
    // 0.0001 BTC per hour: a year of wall-clock time would refill far more than the burst.
    s.limits("0.0001", "3600", "0.02", "1");
    let first = s.path("first.psbt");
    write_psbt(
        &first,
        &make_psbt(&wallet, 1, btc("0.1"), btc("0.0149"), btc("0.0001"), 1),
    );
    s.ok(&["sign", "--yes", "--in", first.to_str().unwrap()]);

    let second = s.path("second.psbt");
    write_psbt(
        &second,
        &make_psbt(&wallet, 1, btc("0.1"), btc("0.0149"), btc("0.0001"), 2),
    );
    let under_faketime = |args: &[&str]| {
        let mut cmd = Command::new("faketime");
        // As NTP spoofing would: the wall clock moves, the monotonic clock does not.
        cmd.env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            .arg("+365 days")
            .arg(BIN);
        cmd.arg("--home")
            .arg(s.home())
            .arg("--passphrase-file")
            .arg(s.path("pass"))
            .args(args);
        cmd.output().unwrap()
    };
    let out = under_faketime(&["sign", "--yes", "--in", second.to_str().unwrap()]);
    assert!(
        !out.status.success(),
        "signed after a wall-clock jump:\n{}",
        text(&out.stdout)
    );
    assert!(text(&out.stderr).contains("rate limit"), "{}", text(&out.stderr));
    assert!(!s.path("second-signed.psbt").exists());

    let shown = text(&under_faketime(&["limits", "show"]).stdout);
    let bucket = amount_after(&shown, "Bucket now");
    assert!(
        bucket < btc("0.0051"),
        "bucket refilled to {bucket} by a wall-clock jump"
    );

    // The jump really happened: the refusal's journal entry carries a date a year ahead.
    let state = s.state();
    let entries = state.journal_entries().unwrap();
    let last = entries.last().unwrap();
    assert_eq!(last.event, "refused");
    let before = entries[entries.len() - 2].recorded_at;
    assert!(
        last.recorded_at - before > 300 * 24 * 3600,
        "faketime did not move the wall clock"
    );
}

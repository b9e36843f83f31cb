//! The `sluice-shadow` binary's refusals before it is set up. (Also makes `cargo test
//! --workspace` build the binary, which the end-to-end tests in `tests/` run.)
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use std::process::Command;

fn shadow(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sluice-shadow"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("SLUICE_SHADOW_HOME")
        .output()
        .unwrap()
}

#[test]
fn an_empty_home_is_refused_with_what_to_run_first() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("shadow");
    for command in [&["show"][..], &["id"], &["limits", "show"]] {
        let out = shadow(&home, command);
        assert!(!out.status.success(), "{command:?} succeeded on an empty home");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("sluice-shadow --home") && stderr.contains("init --network"),
            "{command:?}: {stderr}"
        );
    }
}

#[test]
fn run_needs_its_node_and_the_coordinator() {
    let dir = tempfile::tempdir().unwrap();
    let out = shadow(dir.path(), &["run", "--once"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for flag in ["--node", "--coordinator", "--token-file"] {
        assert!(stderr.contains(flag), "{stderr}");
    }
}

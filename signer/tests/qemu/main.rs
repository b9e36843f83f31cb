//! The tests that boot the appliance under qemu (software emulation, no KVM): the air gap
//! and the signing path from its SD card (`appliance`), and a V4L2 camera as its QR input
//! (`camera`). One test binary, so that the harness runs them side by side: each emulator
//! keeps one core busy for minutes, and in separate binaries they would run one after the
//! other.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

#[path = "../support/mod.rs"]
mod support;

mod appliance;
mod camera;

use std::process::Command;

use sluice_shared::limit_command::LimitAction;
use support::{btc, limit_command, officer_args, officers, text, TestSigner};

/// Fails naming the Debian package when `tool` is not on the PATH.
fn require_tool(tool: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is missing: the qemu tests need it (Debian: apt-get install {package}; .ci/run installs it)"
    );
}

/// The tools every qemu test needs: the emulator and the FAT tools for its SD card.
fn require_qemu_tools() {
    for (tool, package) in [
        ("qemu-system-x86_64", "qemu-system-x86"),
        ("mkfs.vfat", "dosfstools"),
        ("mcopy", "mtools"),
    ] {
        require_tool(tool, package);
    }
}

/// The id of the signer the appliance becomes from `tprv` (the same seed restored on the
/// host), and the officers' signed command raising its total to 1 BTC.
fn signer_id_and_raise(tprv: &str) -> (String, String) {
    let host = TestSigner::new();
    host.init_from_tprv(
        tprv,
        &officer_args().iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let signer_id = host.ok(&["id"]).lines().last().unwrap().trim().to_owned();
    let officers = officers();
    let raise = limit_command(
        &signer_id,
        LimitAction::RaiseTotal { amount: btc("1") },
        1,
        &[&officers[0], &officers[2]],
    );
    (signer_id, raise)
}

/// Runs `cmd`, failing with its output when it fails.
fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

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

use support::text;

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

//! Drives the real `limitctl` binary in temporary homes, as officers would.
#![allow(dead_code)] // each test file uses part of this

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::str::FromStr;

use bitcoin::secp256k1::XOnlyPublicKey;
use tempfile::TempDir;

pub const SIGNER: &str = "0a1b2c3d4e5f6071";

pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            ok: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    #[track_caller]
    pub fn success(self) -> Run {
        assert!(self.ok, "limitctl failed:\n{}\n{}", self.stdout, self.stderr);
        self
    }

    #[track_caller]
    pub fn failure(self) -> Run {
        assert!(!self.ok, "limitctl unexpectedly succeeded:\n{}", self.stdout);
        self
    }
}

/// Runs limitctl with `args` in `dir`, stdin closed (no terminal), HOME pointed away.
pub fn limitctl(dir: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_limitctl"))
        .args(args)
        .current_dir(dir)
        .env("HOME", dir.join("no-home"))
        .env_remove("LIMITCTL_HOME")
        .stdin(Stdio::null())
        .output()
        .expect("limitctl runs");
    Run::from(output)
}

/// One officer: a home with a key sealed under a passphrase file.
pub struct Officer {
    pub home: PathBuf,
    pub passphrase_file: PathBuf,
    pub key: XOnlyPublicKey,
    pub fingerprint: String,
}

impl Officer {
    pub fn args<'a>(&'a self, rest: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "--home",
            self.home.to_str().expect("utf-8 path"),
            "--passphrase-file",
            self.passphrase_file.to_str().expect("utf-8 path"),
        ];
        args.extend_from_slice(rest);
        args
    }
}

/// The last line: `keygen` and `pubkey` end with the bare public key, for scripts.
pub fn last_line(output: &str) -> &str {
    output.lines().last().unwrap_or_default().trim()
}

pub fn field(output: &str, label: &str) -> String {
    output
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in:\n{output}"))
        .trim()
        .to_owned()
}

/// Makes officer `name` in `dir` with `limitctl keygen --dangerous-weak-kdf`.
pub fn officer(dir: &Path, name: &str) -> Officer {
    let passphrase_file = dir.join(format!("{name}.pass"));
    std::fs::write(&passphrase_file, format!("passphrase of {name}\n")).expect("write");
    let home = dir.join(name);
    let mut officer = Officer {
        home,
        passphrase_file,
        key: XOnlyPublicKey::from_str("F9308A019258C31049344F85F89D5229B531C845836F99B08601F113BCE036F9")
            .expect("placeholder"),
        fingerprint: String::new(),
    };
    let out = limitctl(dir, &officer.args(&["keygen", "--dangerous-weak-kdf"])).success();
    officer.key = XOnlyPublicKey::from_str(last_line(&out.stdout)).expect("hex key");
    officer.fingerprint = field(&out.stdout, "Fingerprint:");
    officer
}

/// A temporary directory with three officers.
pub fn three_officers() -> (TempDir, Vec<Officer>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let officers = ["alice", "bob", "carol"]
        .iter()
        .map(|name| officer(dir.path(), name))
        .collect();
    (dir, officers)
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

//! Driving a real `sluice-signer` home from tests: one-shot commands, and an online
//! signer process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use anyhow::{bail, Context, Result};
use sluice_shared::journal::JournalEntry;

use crate::binaries::binary;

/// A signer's home directory and the file holding its passphrase.
#[derive(Debug, Clone)]
pub struct Signer {
    pub home: PathBuf,
    pub passphrase: PathBuf,
}

impl Signer {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(binary("sluice-signer"));
        command
            .arg("--home")
            .arg(&self.home)
            .arg("--passphrase-file")
            .arg(&self.passphrase)
            .args(args)
            .stdin(Stdio::null());
        command
    }

    /// Runs `sluice-signer ARGS` to its end.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .output()
            .unwrap_or_else(|e| panic!("starting sluice-signer {args:?}: {e}"))
    }

    /// Runs and insists on success; stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "sluice-signer {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs and insists on failure; stdout and stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !out.status.success(),
            "sluice-signer {args:?} should fail: {text}"
        );
        text
    }

    /// `journal verify` passes, and `journal show --json`'s entries.
    pub fn verified_journal(&self) -> Vec<JournalEntry> {
        self.ok(&["journal", "verify"]);
        serde_json::from_str(&self.ok(&["journal", "show", "--json"]))
            .expect("`journal show --json` prints the entries as JSON")
    }

    /// What `limits show` prints, but for the bucket level (it refills with time).
    pub fn limits(&self) -> String {
        self.ok(&["limits", "show"])
            .lines()
            .filter(|l| !l.starts_with("Bucket now"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Starts `sluice-signer online` against `coordinator`, polling every `poll_seconds`,
    /// its output in `log`.
    pub fn start_online(&self, coordinator: &str, poll_seconds: &str, log: &Path) -> Result<OnlineSigner> {
        let child = self
            .command(&[
                "online",
                "--coordinator",
                coordinator,
                "--poll-seconds",
                poll_seconds,
            ])
            .stdout(std::fs::File::create(log)?)
            .stderr(std::fs::File::create(log.with_extension("err"))?)
            .spawn()
            .context("starting sluice-signer online")?;
        Ok(OnlineSigner {
            child,
            log: log.to_path_buf(),
        })
    }
}

/// A running `sluice-signer online`; killed when dropped.
#[derive(Debug)]
pub struct OnlineSigner {
    child: Child,
    log: PathBuf,
}

impl OnlineSigner {
    /// Fails if the process has exited (an online signer runs until killed).
    pub fn alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("the online signer exited ({status}):\n{}", self.output());
        }
        Ok(())
    }

    /// What it printed so far (stdout, then stderr).
    pub fn output(&self) -> String {
        let out = std::fs::read_to_string(&self.log).unwrap_or_default();
        let err = std::fs::read_to_string(self.log.with_extension("err")).unwrap_or_default();
        format!("{out}{err}")
    }

    /// Stops it, returning what it printed.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.output()
    }
}

impl Drop for OnlineSigner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

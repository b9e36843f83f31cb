//! The system's components as child processes: each with its own log file, stopped
//! (SIGKILL, then reaped) when its handle is dropped so no process outlives the devnet.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// How to start `sluice-coordinator` and `sluice-signer`.
#[derive(Debug, Clone)]
pub struct Programs {
    coordinator: Vec<OsString>,
    signer: Vec<OsString>,
    shadow: Vec<OsString>,
}

impl Programs {
    /// This executable in its multi-call role (`sluice-devnet coordinator ...`,
    /// `sluice-devnet signer ...`): the same code as the two binaries, so `cargo run -p
    /// sluice-devnet` needs nothing else built.
    pub fn this_executable() -> Result<Programs> {
        let exe = std::env::current_exe().context("finding the sluice-devnet executable")?;
        Ok(Programs::multi_call(&exe))
    }

    /// A `sluice-devnet` executable at `exe`, in its multi-call role.
    pub fn multi_call(exe: &Path) -> Programs {
        Programs {
            coordinator: vec![exe.into(), "coordinator".into()],
            signer: vec![exe.into(), "signer".into()],
            shadow: vec![exe.into(), "shadow".into()],
        }
    }

    /// `sluice-coordinator` and `sluice-signer` from `dir` (e.g. `target/debug`).
    pub fn binaries_in(dir: &Path) -> Result<Programs> {
        let coordinator = dir.join("sluice-coordinator");
        let signer = dir.join("sluice-signer");
        let shadow = dir.join("sluice-shadow");
        for path in [&coordinator, &signer, &shadow] {
            if !path.exists() {
                bail!("{} is not built (cargo build --workspace)", path.display());
            }
        }
        Ok(Programs {
            coordinator: vec![coordinator.into()],
            signer: vec![signer.into()],
            shadow: vec![shadow.into()],
        })
    }

    pub fn coordinator(&self) -> Command {
        command(&self.coordinator)
    }

    pub fn signer(&self) -> Command {
        command(&self.signer)
    }

    pub fn shadow(&self) -> Command {
        command(&self.shadow)
    }
}

fn command(argv: &[OsString]) -> Command {
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]);
    command.stdin(Stdio::null());
    // The components log at info; a caller's RUST_LOG still wins.
    if std::env::var_os("RUST_LOG").is_none() {
        command.env("RUST_LOG", "info");
    }
    command
}

/// Runs a setup step to completion and returns its standard output; a failure carries
/// the step's own error message.
pub fn run_step(mut command: Command, what: &str) -> Result<String> {
    let output = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("starting {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A running component.
#[derive(Debug)]
pub struct Component {
    pub name: String,
    pub log: PathBuf,
    /// Where this run's output starts in the log (a restarted component appends).
    log_start: usize,
    child: Child,
}

impl Component {
    /// Starts `command` with standard output and error appended to `log`.
    pub fn start(name: &str, mut command: Command, log: PathBuf) -> Result<Component> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("opening {}", log.display()))?;
        let err = out.try_clone().context("duplicating a log file handle")?;
        let log_start = usize::try_from(out.metadata().map(|m| m.len()).unwrap_or(0)).unwrap_or(0);
        let child = command
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Component {
            name: name.to_owned(),
            log,
            log_start,
            child,
        })
    }

    /// Waits for a log line starting with `prefix` and returns the rest of it. Fails if
    /// the process exits or `timeout` passes first, quoting the end of its log.
    pub fn wait_for_line(&mut self, prefix: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.own_log();
            if let Some(line) = text.lines().find_map(|l| l.strip_prefix(prefix)) {
                return Ok(line.trim().to_owned());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited ({status}) before it was ready:\n{}",
                    self.name,
                    tail(&text, 15)
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "{} was not ready after {timeout:?}:\n{}",
                    self.name,
                    tail(&text, 15)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for a log line containing `needle` and returns it (like `wait_for_line`).
    pub fn wait_for_text(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.own_log();
            if let Some(line) = text.lines().find(|l| l.contains(needle)) {
                return Ok(line.trim().to_owned());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("{} exited ({status}):\n{}", self.name, tail(&text, 15));
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not print {needle:?} within {timeout:?}:\n{}",
                    self.name,
                    tail(&text, 15)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// This run's part of the log.
    fn own_log(&self) -> String {
        let bytes = std::fs::read(&self.log).unwrap_or_default();
        String::from_utf8_lossy(bytes.get(self.log_start..).unwrap_or_default()).into_owned()
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.own_log(), lines)
    }

    /// Stops it at once (SIGKILL), as a crash or power loss would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Component {
    fn drop(&mut self) {
        self.kill();
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

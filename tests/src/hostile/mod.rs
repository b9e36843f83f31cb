//! The hostile-coordinator suite's fake coordinator ([`server`], run as the
//! `hostile-coordinator` binary), its script and record formats ([`script`]), and the
//! test side's handle on the running process.

pub mod script;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub use self::script::{RecordedRequest, Script, Step};
pub use self::server::serve;

/// The hostile coordinator's identity key, fixed so the test side can make the signer
/// trust it (`sluice-signer coordinator trust`): a compromised coordinator holds the real
/// coordinator's key, so its replies carry valid signatures.
pub fn coordinator_identity() -> bitcoin::secp256k1::Keypair {
    let secp = bitcoin::secp256k1::Secp256k1::new();
    bitcoin::secp256k1::Keypair::from_seckey_slice(&secp, &[0x42; 32]).expect("0x42.. is a valid secret key")
}

/// How long any wait on the fake coordinator or the signer may take.
pub const WAIT: Duration = Duration::from_secs(60);

/// A running `hostile-coordinator` process; killed when dropped.
#[derive(Debug)]
pub struct HostileCoordinator {
    child: Child,
    pub url: String,
    record: PathBuf,
    steps: usize,
}

impl HostileCoordinator {
    /// Starts `binary` serving `script`, with its files in `dir`.
    pub fn start(binary: &Path, dir: &Path, script: &Script) -> Result<HostileCoordinator> {
        let script_file = dir.join("hostile-script.json");
        let record = dir.join("hostile-record.jsonl");
        let log = dir.join("hostile-coordinator.log");
        std::fs::write(&script_file, serde_json::to_vec(script)?)?;
        let mut child = Command::new(binary)
            .arg("--script")
            .arg(&script_file)
            .arg("--record")
            .arg(&record)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log)?)
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(url) = text
                .lines()
                .find_map(|l| l.strip_prefix("hostile-coordinator listening on "))
            {
                return Ok(HostileCoordinator {
                    child,
                    url: url.trim().to_owned(),
                    record,
                    steps: script.steps.len(),
                });
            }
            if let Some(status) = child.try_wait()? {
                bail!("the hostile coordinator exited at start: {status}");
            }
            if start.elapsed() > WAIT {
                let _ = child.kill();
                bail!("the hostile coordinator did not start within {WAIT:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Result<Vec<RecordedRequest>> {
        let text = match std::fs::read_to_string(&self.record) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e.into()),
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).context("a record line"))
            .collect()
    }

    /// Waits until the signer has polled again after the last scripted step: since an
    /// online signer answers every session of a reply before it polls again, everything
    /// scripted has then been acted on. `alive` is checked between reads.
    pub fn wait_until_script_done(&self, mut alive: impl FnMut() -> Result<()>) -> Result<()> {
        let start = Instant::now();
        loop {
            let polls = self.requests()?.iter().filter(|r| r.is_poll()).count();
            if polls > self.steps {
                return Ok(());
            }
            alive()?;
            if start.elapsed() > WAIT {
                bail!(
                    "the signer polled {polls} times in {WAIT:?}; the script has {} steps",
                    self.steps
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The `POST .../signatures` requests for `session`.
    pub fn posts_for(&self, session: u64) -> Result<Vec<RecordedRequest>> {
        Ok(self
            .requests()?
            .into_iter()
            .filter(|r| r.posted_session() == Some(session))
            .collect())
    }
}

impl Drop for HostileCoordinator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

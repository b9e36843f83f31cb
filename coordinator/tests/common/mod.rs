//! Shared by the coordinator's integration tests that drive the real binary.
#![allow(dead_code)] // each test file uses a part

use std::cell::RefCell;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The built `sluice-coordinator`.
pub const BIN: &str = env!("CARGO_BIN_EXE_sluice-coordinator");

/// Where no API listens: host-local commands get it so that none can reach a stray
/// coordinator on the default port.
pub const NO_API: &str = "http://127.0.0.1:9";

/// Runs `sluice-coordinator --db DB ARGS` as the holder of `token` (None: no token at all),
/// with neither `SLUICE_TOKEN`, `SLUICE_DB` nor `SLUICE_API` inherited from the test's
/// environment. Staff commands go to `NO_API`: use [`run_cli_api`] or [`Desk`] for them.
pub fn run_cli(db: &Path, token: Option<&str>, args: &[&str]) -> Output {
    run_cli_api(db, NO_API, token, args)
}

/// As [`run_cli`], with staff commands sent to the API at `api`.
pub fn run_cli_api(db: &Path, api: &str, token: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command
        .arg("--db")
        .arg(db)
        .arg("--api")
        .arg(api)
        .args(args)
        .env_remove("SLUICE_TOKEN")
        .env_remove("SLUICE_DB")
        .env_remove("SLUICE_API");
    if let Some(token) = token {
        command.env("SLUICE_TOKEN", token);
    }
    command.output().expect("running sluice-coordinator")
}

/// A `sluice-coordinator run api` process on a free loopback port, stopped on drop.
pub struct ApiProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// `127.0.0.1:PORT`
    pub addr: String,
}

impl ApiProcess {
    /// Starts the API on `db` and returns once it listens.
    pub fn start(db: &Path) -> ApiProcess {
        let mut child = Command::new(BIN)
            .arg("--db")
            .arg(db)
            .args(["run", "api", "--listen", "127.0.0.1:0"])
            .env_remove("SLUICE_TOKEN")
            .env_remove("SLUICE_DB")
            .env_remove("SLUICE_API")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting sluice-coordinator run api");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("reading the API's first line");
        let Some(addr) = line.trim().rsplit_once("http://").map(|(_, a)| a.to_owned()) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("run api did not say where it listens: {line:?}");
        };
        // Keep reading, so that a later line never meets a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        ApiProcess {
            child,
            url: format!("http://{addr}"),
            addr,
        }
    }

    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for ApiProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A coordinator home for CLI tests: the database in a temporary directory, and the API
/// started on it (once the database exists) for the staff commands.
pub struct CliHome {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    api: RefCell<Option<ApiProcess>>,
}

impl CliHome {
    pub fn new() -> CliHome {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let db = dir.path().join("coordinator.sqlite");
        CliHome {
            dir,
            db,
            api: RefCell::new(None),
        }
    }

    /// The API's URL, starting it if needed (the database must exist).
    pub fn api_url(&self) -> String {
        let mut api = self.api.borrow_mut();
        api.get_or_insert_with(|| ApiProcess::start(&self.db)).url.clone()
    }

    /// Runs the binary as the holder of `token`; staff commands go to this home's API
    /// (started once the database exists).
    pub fn run(&self, token: Option<&str>, args: &[&str]) -> Output {
        if self.db.exists() {
            run_cli_api(&self.db, &self.api_url(), token, args)
        } else {
            run_cli(&self.db, token, args)
        }
    }
}

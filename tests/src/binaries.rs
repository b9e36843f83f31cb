//! The workspace's binaries, built by `cargo test --workspace` next to the test executables.

use std::path::{Path, PathBuf};

/// `target/<profile>/NAME`, found from the running test executable
/// (`target/<profile>/deps/TEST-HASH`).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executables live in target/PROFILE/deps");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run the tests with `cargo test --workspace`",
        path.display()
    );
    path
}

/// `sluice-coordinator --db DB run api` on a port the OS picks, killed when dropped.
#[derive(Debug)]
pub struct CoordinatorApi {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl CoordinatorApi {
    /// Starts it (its stdout goes to `api.log` beside the database) and waits, at most
    /// 30 s, until it says where it listens.
    pub fn start(db: &Path) -> CoordinatorApi {
        let log = db.with_file_name("api.log");
        let mut child = std::process::Command::new(binary("sluice-coordinator"))
            .arg("--db")
            .arg(db)
            .args(["run", "api", "--listen", "127.0.0.1:0"])
            .env_remove("SLUICE_DB")
            .stdout(std::fs::File::create(&log).expect("the api's log file"))
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting sluice-coordinator run api");
        let start = std::time::Instant::now();
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(url) = text
                .lines()
                .find_map(|l| l.strip_prefix("sluice-coordinator api listening on "))
            {
                return CoordinatorApi {
                    child,
                    url: url.trim().to_owned(),
                };
            }
            assert!(
                child.try_wait().expect("the api process").is_none(),
                "the API exited: {text}"
            );
            assert!(
                start.elapsed() < std::time::Duration::from_secs(30),
                "the API did not start within 30 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for CoordinatorApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

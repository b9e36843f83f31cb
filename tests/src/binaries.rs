//! The workspace's binaries, built by `cargo test --workspace` next to the test executables.

use std::path::PathBuf;

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

//! A fake coordinator for the hostile-coordinator suite (`tests/tests/hostile_*.rs`): it
//! speaks the signer API on 127.0.0.1 (a port the OS picks), serves the scripted replies
//! of `--script FILE` (a [`sluice_e2e::hostile::Script`] as JSON), appends every request
//! it receives to `--record FILE`, and prints `hostile-coordinator listening on URL`.
//! It runs until killed.
#![forbid(unsafe_code)]

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use sluice_e2e::hostile::{serve, Script};

fn arguments() -> Result<(PathBuf, PathBuf)> {
    let mut script = None;
    let mut record = None;
    let mut args = std::env::args_os().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().map(PathBuf::from);
        match flag.to_str() {
            Some("--script") => script = value,
            Some("--record") => record = value,
            _ => bail!("usage: hostile-coordinator --script FILE --record FILE"),
        }
    }
    match (script, record) {
        (Some(script), Some(record)) => Ok((script, record)),
        _ => bail!("usage: hostile-coordinator --script FILE --record FILE"),
    }
}

fn main() -> Result<()> {
    let (script_path, record) = arguments()?;
    let text = std::fs::read_to_string(&script_path)
        .with_context(|| format!("reading the script {}", script_path.display()))?;
    let script: Script = serde_json::from_str(&text)
        .with_context(|| format!("the script {} is not a hostile::Script", script_path.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!(
            "hostile-coordinator listening on http://{}",
            listener.local_addr()?
        );
        serve(listener, script, record).await?;
        Ok(())
    })
}

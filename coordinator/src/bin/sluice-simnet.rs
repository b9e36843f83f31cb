//! `sluice-simnet`: the embedded regtest-like chain as its own process.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use sluice_coordinator::simnet::{spawn, SimnetOptions};

#[derive(Debug, Parser)]
#[command(
    name = "sluice-simnet",
    about = "A regtest-like chain speaking Bitcoin Core's JSON-RPC, for development and tests"
)]
struct Args {
    /// Address to listen on (loopback only is sensible; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:18443")]
    listen: SocketAddr,
    /// Mine a block this often, in milliseconds (default: only on request).
    #[arg(long)]
    block_interval_ms: Option<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let handle = spawn(SimnetOptions {
        listen: args.listen,
        block_interval: args.block_interval_ms.map(Duration::from_millis),
    })
    .await?;
    println!("simnet listening on {}", handle.url);
    tokio::signal::ctrl_c().await?;
    handle.shutdown();
    Ok(())
}

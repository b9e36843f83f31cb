//! `sluice-simnet`: the embedded regtest-like chain as its own process. Prints one line,
//! `simnet listening on http://127.0.0.1:PORT`, then serves until SIGINT, SIGTERM or the
//! `stop` RPC.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use bitcoin::{Address, FeeRate, Network};
use clap::Parser;
use secrecy::SecretString;
use sluice_simnet::{spawn, SimnetOptions};

#[derive(Debug, Parser)]
#[command(
    name = "sluice-simnet",
    about = "A regtest-like chain speaking Bitcoin Core's JSON-RPC, for development and tests",
    after_help = "RPC calls, answered as Bitcoin Core 30 (regtest, -txindex=1) answers them:\n  \
        getblockchaininfo getnetworkinfo getblockcount getbestblockhash getblockhash getblockheader\n  \
        getblock getrawtransaction sendrawtransaction testmempoolaccept getmempoolentry getrawmempool\n  \
        getmempoolinfo estimatesmartfee scantxoutset gettxout getchaintips getindexinfo ping stop\n\
        Regtest control: generatetoaddress N ADDRESS, invalidateblock HASH, reconsiderblock HASH.\n\
        simnet only: simnet_reorg DEPTH [NEW_BLOCKS] replaces the top DEPTH blocks by NEW_BLOCKS\n  \
        (default DEPTH+1) coinbase-only blocks; their transactions go back to the mempool."
)]
struct Args {
    /// Address to listen on; port 0 picks a free port. Keep it on loopback.
    #[arg(long, default_value = "127.0.0.1:18443")]
    listen: SocketAddr,
    /// Keep the chain and mempool in DIR/simnet.sqlite and replay them at start
    /// (default: in memory, gone when the process ends).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Also mine a block (with the mempool) every N milliseconds (default: only on request).
    #[arg(long, value_name = "N")]
    block_interval_ms: Option<u64>,
    /// Require this RPC user (with --rpc-password).
    #[arg(long, requires = "rpc_password")]
    rpc_user: Option<String>,
    /// The RPC password (or set SLUICE_SIMNET_RPC_PASSWORD, which `ps` does not show).
    #[arg(
        long,
        env = "SLUICE_SIMNET_RPC_PASSWORD",
        hide_env_values = true,
        requires = "rpc_user"
    )]
    rpc_password: Option<String>,
    /// What estimatesmartfee answers, in sat/vB; 0 answers as a fresh Core node
    /// ("Insufficient data or no feerate found").
    #[arg(long, value_name = "SAT_PER_VB", default_value_t = 1)]
    fee_estimate_sat_vb: u32,
    /// Pay the coinbase of blocks simnet mines by itself (interval, simnet_reorg) to this
    /// regtest address (default: burnt to an OP_RETURN output).
    #[arg(long, value_name = "ADDRESS")]
    mine_to: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let args = Args::parse();
    let mine_to = match &args.mine_to {
        Some(text) => Some(
            Address::from_str(text)
                .context("--mine-to is not an address")?
                .require_network(Network::Regtest)
                .context("--mine-to must be a regtest address (bcrt1...)")?
                .script_pubkey(),
        ),
        None => None,
    };
    let options = SimnetOptions {
        listen: args.listen,
        data_dir: args.data_dir,
        block_interval: args.block_interval_ms.map(Duration::from_millis),
        credentials: args.rpc_user.zip(args.rpc_password.map(SecretString::from)),
        fee_estimate: (args.fee_estimate_sat_vb > 0)
            .then(|| FeeRate::from_sat_per_vb_u32(args.fee_estimate_sat_vb)),
        mine_to,
    };
    let handle = spawn(options).await.context("cannot start simnet")?;
    println!("simnet listening on {}", handle.url);
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
        _ = handle.stopped() => {}
    }
    handle.shutdown().await;
    Ok(())
}

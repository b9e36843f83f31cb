//! `sluice-coordinator run COMPONENT`: the long-running services.
//!
//! Process layout: api, processor, sender and monitor each run as their own process (or
//! together with `all`), share nothing but the database, and can be stopped and restarted
//! independently. Work is claimed inside database transactions, so two copies of a
//! component can run for redundancy. Today only `api` exists; the others say so and exit
//! with status 3 rather than pretend to process withdrawals.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use bitcoin::Network;
use clap::ValueEnum;
use std::io::Write;

use crate::api::{self, CoordinatorPool};

/// Exit status of a component that is not built yet.
pub const NOT_IMPLEMENTED_EXIT: u8 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Component {
    /// The HTTP JSON API for staff and the exchange backend.
    Api,
    /// Batches approved withdrawals into PSBTs and opens signing sessions.
    Processor,
    /// Finalizes, verifies and broadcasts signed transactions.
    Sender,
    /// Follows the chain: confirmations, reorgs, the wallets' coins.
    Monitor,
    /// All of the above in one process.
    All,
}

impl Component {
    fn name(self) -> &'static str {
        match self {
            Component::Api => "api",
            Component::Processor => "processor",
            Component::Sender => "sender",
            Component::Monitor => "monitor",
            Component::All => "all",
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM ({e}); stop with Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("stopping: finishing requests in flight");
}

pub fn run(db: &Path, network: Option<Network>, component: Component, listen: &str) -> Result<ExitCode> {
    if component != Component::Api {
        eprintln!(
            "sluice-coordinator run {}: not implemented yet (the processor, sender and monitor are still being built). \
             `run api` serves the HTTP API.",
            component.name()
        );
        return Ok(ExitCode::from(NOT_IMPLEMENTED_EXIT));
    }
    init_logging();
    let listen: SocketAddr = listen
        .parse()
        .with_context(|| format!("--listen {listen:?} is not an address like 127.0.0.1:8080"))?;
    let pool = CoordinatorPool::open(db.to_owned(), network)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let local = listener.local_addr()?;
        // Tests and supervisors read this line to learn the port (with --listen ...:0).
        println!("sluice-coordinator api listening on http://{local}");
        std::io::stdout().flush()?;
        tracing::info!(network = %pool.network(), "api listening on {local}");
        api::serve(listener, Arc::new(pool), shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    })
}

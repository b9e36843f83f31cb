//! `sluice-coordinator run COMPONENT`: the long-running services.
//!
//! Process layout: api, processor, sender and monitor each run as their own process (or
//! together with `all`), share nothing but the database, and can be stopped and restarted
//! independently. Work is claimed inside database transactions, so two copies of a
//! component can run for redundancy. Today only `api` exists; the others say so and exit
//! with status 3 rather than pretend to process withdrawals. `api` and `processor` exist;
//! the sender and monitor (and so `all`) do not yet.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use bitcoin::Network;
use clap::ValueEnum;
use std::io::Write;

use crate::api::{self, CoordinatorPool};
use crate::clock;
use crate::service::{BatchOutcome, Coordinator, ProcessorConfig};

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

/// How `run` was asked to behave.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub listen: String,
    pub processor: ProcessorConfig,
    /// Pause between processor steps when there was nothing to do.
    pub interval: Duration,
}

pub fn run(
    db: &Path,
    network: Option<Network>,
    component: Component,
    options: &RunOptions,
) -> Result<ExitCode> {
    match component {
        Component::Api => run_api(db, network, &options.listen),
        Component::Processor => run_processor(db, network, options),
        Component::Sender | Component::Monitor | Component::All => {
            eprintln!(
                "sluice-coordinator run {}: not implemented yet (the sender and monitor are still being built). \
                 `run api` serves the HTTP API and `run processor` batches approved withdrawals.",
                component.name()
            );
            Ok(ExitCode::from(NOT_IMPLEMENTED_EXIT))
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn run_api(db: &Path, network: Option<Network>, listen: &str) -> Result<ExitCode> {
    init_logging();
    let listen: SocketAddr = listen
        .parse()
        .with_context(|| format!("--listen {listen:?} is not an address like 127.0.0.1:8080"))?;
    let pool = CoordinatorPool::open(db.to_owned(), network)?;
    runtime()?.block_on(async {
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

/// One pass over every wallet with approved withdrawals. Returns whether anything was
/// batched (then the next pass starts at once).
fn processor_pass(coord: &mut Coordinator, config: &ProcessorConfig) -> Result<bool> {
    let mut batched = false;
    for wallet in coord.wallets_with_approved_withdrawals()? {
        match coord.batch_wallet(&wallet, config, clock::now()) {
            Ok(BatchOutcome::Batched(b)) => {
                batched = true;
                tracing::info!(
                    "wallet {}: session {} ({}) pays {} withdrawal(s) from {} coin(s), fee {}",
                    b.wallet,
                    b.session_id,
                    b.txid,
                    b.withdrawals.len(),
                    b.inputs,
                    b.fee
                );
            }
            Ok(BatchOutcome::Waiting { waiting, reason }) => {
                tracing::warn!("wallet {wallet}: {waiting} approved withdrawal(s) wait: {reason}");
            }
            Ok(BatchOutcome::Idle) => {}
            // One wallet's trouble does not stop the others; the step rolled back whole.
            Err(e) => tracing::error!("wallet {wallet}: batching failed: {e}"),
        }
    }
    Ok(batched)
}

fn run_processor(db: &Path, network: Option<Network>, options: &RunOptions) -> Result<ExitCode> {
    init_logging();
    let mut coord = Coordinator::open(db, network)?;
    let config = options.processor.clone();
    let interval = options.interval;
    println!("sluice-coordinator processor {} running", config.instance);
    std::io::stdout().flush()?;
    runtime()?.block_on(async move {
        let shutdown = shutdown_signal();
        tokio::pin!(shutdown);
        loop {
            // Each pass is a few short transactions; run it off the async threads.
            let (returned, busy) = tokio::task::spawn_blocking({
                let config = config.clone();
                move || {
                    let busy = processor_pass(&mut coord, &config);
                    (coord, busy)
                }
            })
            .await
            .context("processor step panicked")?;
            coord = returned;
            let pause = match busy {
                Ok(true) => Duration::ZERO,
                Ok(false) => interval,
                Err(e) => {
                    tracing::error!("processor pass failed: {e:#}");
                    interval
                }
            };
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(pause) => {}
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

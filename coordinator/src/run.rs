//! `sluice-coordinator run COMPONENT`: the long-running services.
//!
//! Process layout: api, processor, sender and monitor each run as their own process (or
//! together with `all`), share nothing but the database, and can be stopped and restarted
//! independently. Work is claimed inside database transactions, so two copies of a
//! component can run for redundancy; `all` runs the four in one process. A component whose
//! chain node is down logs it and retries; none of them fails because another is stopped.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bitcoin::Network;
use clap::ValueEnum;
use std::io::Write;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::api::{self, CoordinatorPool};
use crate::chain::readiness::{assess, Readiness};
use crate::chain::types::BlockchainInfo;
use crate::chain::{Broadcast, ChainBackend, CoreRpcClient, RpcAuth};
use crate::clock;
use crate::identity::CoordinatorIdentity;
use crate::service::{
    mempool_pass, monitor_pass, BatchOutcome, Coordinator, MempoolWatch, MonitorSettings, PartialBatches,
    ProcessorConfig, SESSIONS_PER_COMMIT,
};
use crate::time::UnixTime;

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
    /// Delivers the webhook outbox to the configured endpoints.
    Webhooks,
    /// All of the above in one process (webhooks when endpoints are configured).
    All,
}

impl Component {
    fn name(self) -> &'static str {
        match self {
            Component::Api => "api",
            Component::Processor => "processor",
            Component::Sender => "sender",
            Component::Monitor => "monitor",
            Component::Webhooks => "webhooks",
            Component::All => "all",
        }
    }
}

/// Logs to stderr; colours only on a terminal, never into a redirected log file.
fn init_logging() {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
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
    /// Also publish the signer API as an onion service (stealth mode).
    pub onion: Option<OnionOptions>,
    /// Api: also serve the web console.
    pub console: Option<ConsoleOptions>,
    pub processor: ProcessorConfig,
    /// Pause between processor, sender and monitor passes when there was nothing to do.
    pub interval: Duration,
    /// Processor: how long approved withdrawals that do not fill a batch are held for
    /// more to come before a session pays them (zero: at once).
    pub batch_wait: Duration,
    /// The chain node (sender, monitor).
    pub chain: Option<ChainOptions>,
    /// Confirmations after which a withdrawal is `confirmed`.
    pub min_confirmations: u32,
    /// Send an unconfirmed transaction again after this long.
    pub resend_after: Duration,
    /// The monitor's first block when it has applied none.
    pub start_height: u32,
    /// Webhook receivers (`crate::webhook`).
    pub webhooks: Vec<crate::webhook::WebhookEndpoint>,
    /// The first webhook retry waits this long, doubling after each failure.
    pub webhook_retry: Duration,
}

/// Where and how `run api --console-listen` serves the web console.
#[derive(Debug, Clone)]
pub struct ConsoleOptions {
    pub listen: String,
    /// TLS certificate and key; `None` is plain HTTP, allowed on loopback only.
    pub tls: Option<crate::console::TlsFiles>,
}

/// How `run api --onion` publishes the signer API (see `crate::onion`).
#[derive(Debug, Clone)]
pub struct OnionOptions {
    /// A private test network's description; the public Tor network when absent.
    pub network_file: Option<std::path::PathBuf>,
    /// The passphrase that seals the onion identity key (its first line).
    pub passphrase_file: std::path::PathBuf,
}

/// Where the Bitcoin Core JSON-RPC (or simnet) is, and how to log in.
#[derive(Debug, Clone)]
pub struct ChainOptions {
    pub url: String,
    pub auth: RpcAuth,
}

impl ChainOptions {
    fn client(&self) -> CoreRpcClient {
        CoreRpcClient::new(&self.url, self.auth.clone())
    }
}

pub fn run(
    db: &Path,
    network: Option<Network>,
    component: Component,
    options: &RunOptions,
) -> Result<ExitCode> {
    init_logging();
    let needs_chain = matches!(component, Component::Sender | Component::Monitor | Component::All);
    if needs_chain && options.chain.is_none() {
        anyhow::bail!(
            "run {} needs the chain node: give --chain-url http://HOST:PORT (and --rpc-cookie-file or credentials in the URL)",
            component.name()
        );
    }
    if component == Component::Webhooks && options.webhooks.is_empty() {
        anyhow::bail!(
            "run webhooks needs at least one endpoint: --webhook URL with --webhook-secret-file FILE (or `webhook`/`webhook-secret-file` in --config)"
        );
    }
    // Open once up front so a missing or foreign database fails now, not in a loop.
    drop(Coordinator::open(db, network)?);
    // The console's address and TLS files too: refused before anything is served.
    let console = match &options.console {
        Some(console) if matches!(component, Component::Api | Component::All) => {
            Some(prepare_console(console)?)
        }
        _ => None,
    };
    runtime()?.block_on(async {
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop_tx.send(true);
        });
        let mut tasks = JoinSet::new();
        let wants = |c: Component| component == c || component == Component::All;
        if wants(Component::Api) {
            tasks.spawn(api_task(
                db.to_owned(),
                network,
                options.listen.clone(),
                options.onion.clone(),
                stop_rx.clone(),
            ));
            if let Some((listen, tls)) = console {
                tasks.spawn(console_task(db.to_owned(), network, listen, tls, stop_rx.clone()));
            }
        }
        if wants(Component::Processor) {
            tasks.spawn(processor_task(
                db.to_owned(),
                network,
                options.clone(),
                stop_rx.clone(),
            ));
        }
        if wants(Component::Sender) {
            tasks.spawn(sender_task(
                db.to_owned(),
                network,
                options.clone(),
                stop_rx.clone(),
            ));
        }
        if wants(Component::Monitor) {
            tasks.spawn(monitor_task(
                db.to_owned(),
                network,
                options.clone(),
                stop_rx.clone(),
            ));
        }
        if wants(Component::Webhooks) && !options.webhooks.is_empty() {
            let coord = Coordinator::open(db, network)?;
            let endpoints = options.webhooks.clone();
            let names: Vec<&str> = endpoints.iter().map(|e| e.url()).collect();
            announce(&format!(
                "sluice-coordinator webhooks running, {} endpoint(s): {}",
                endpoints.len(),
                names.join(", ")
            ))?;
            tasks.spawn(crate::webhook::run(
                coord,
                endpoints,
                options.webhook_retry,
                options.interval,
                stop_rx.clone(),
            ));
        }
        while let Some(finished) = tasks.join_next().await {
            match finished {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tasks.abort_all();
                    return Err(e);
                }
                Err(join) => {
                    tasks.abort_all();
                    anyhow::bail!("a component panicked: {join}");
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Completes when the shutdown flag is raised.
pub(crate) async fn stopped(mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// Sleeps for `pause`; returns true if asked to stop meanwhile.
pub(crate) async fn pause_or_stop(stop: &watch::Receiver<bool>, pause: Duration) -> bool {
    tokio::select! {
        () = stopped(stop.clone()) => true,
        () = tokio::time::sleep(pause) => false,
    }
}

fn announce(line: &str) -> Result<()> {
    // Tests and supervisors read these lines to know a component is up.
    println!("{line}");
    std::io::stdout().flush()?;
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

async fn api_task(
    db: std::path::PathBuf,
    network: Option<Network>,
    listen: String,
    onion: Option<OnionOptions>,
    stop: watch::Receiver<bool>,
) -> Result<()> {
    let listen: SocketAddr = listen
        .parse()
        .with_context(|| format!("--listen {listen:?} is not an address like 127.0.0.1:8080"))?;
    let identity_path = CoordinatorIdentity::path_for(&db);
    let identity = CoordinatorIdentity::load(&identity_path)?;
    let pool = CoordinatorPool::open(db.clone(), network, identity)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let local = listener.local_addr()?;
    announce(&format!("sluice-coordinator api listening on http://{local}"))?;
    tracing::info!(
        network = %pool.network(),
        identity = %pool.identity().public_key(),
        "api listening on {local}"
    );
    let pool = Arc::new(pool);
    match onion {
        None => api::serve(listener, pool, stopped(stop)).await?,
        Some(onion) => {
            let published = serve_onion(&db, pool.clone(), onion, stop.clone());
            // Either failing stops both (and the process): signers in stealth mode could
            // not reach a coordinator whose onion service is gone.
            let served = async {
                api::serve(listener, pool, stopped(stop))
                    .await
                    .context("serving the API")
            };
            tokio::try_join!(served, published)?;
        }
    }
    Ok(())
}

/// Checks `--console-listen` (plain HTTP only on loopback) and loads the TLS files.
fn prepare_console(options: &ConsoleOptions) -> Result<(SocketAddr, Option<tokio_rustls::TlsAcceptor>)> {
    let listen: SocketAddr = options.listen.parse().with_context(|| {
        format!(
            "--console-listen {:?} is not an address like 127.0.0.1:8443",
            options.listen
        )
    })?;
    crate::console::check_plain_allowed(listen, options.tls.is_some())?;
    let tls = options.tls.as_ref().map(crate::console::acceptor).transpose()?;
    Ok((listen, tls))
}

async fn console_task(
    db: std::path::PathBuf,
    network: Option<Network>,
    listen: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: watch::Receiver<bool>,
) -> Result<()> {
    let identity = CoordinatorIdentity::load(&CoordinatorIdentity::path_for(&db))?;
    let pool = Arc::new(CoordinatorPool::open(db, network, identity)?);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen} (console)"))?;
    let local = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    announce(&format!(
        "sluice-coordinator console listening on {scheme}://{local}"
    ))?;
    tracing::info!("console listening on {scheme}://{local}");
    api::serve_console(listener, tls, pool, stopped(stop))
        .await
        .context("serving the console")
}

#[cfg(feature = "tor")]
async fn serve_onion(
    db: &std::path::Path,
    pool: Arc<CoordinatorPool>,
    onion: OnionOptions,
    stop: watch::Receiver<bool>,
) -> Result<()> {
    crate::onion::serve_signer_api(db, pool, &onion, stop, announce).await
}

#[cfg(not(feature = "tor"))]
async fn serve_onion(
    _db: &std::path::Path,
    _pool: Arc<CoordinatorPool>,
    _onion: OnionOptions,
    _stop: watch::Receiver<bool>,
) -> Result<()> {
    anyhow::bail!("--onion: this sluice-coordinator was built without the `tor` feature (stealth mode); rebuild it with default features")
}

/// What one processor pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct PassOutcome {
    /// Sessions were opened: the next pass starts at once.
    batched: bool,
    /// Some wallet holds approved withdrawals that do not fill a batch
    /// ([`BatchOutcome::Filling`]).
    filling: bool,
}

/// One pass over every wallet with approved withdrawals: for each, as many sessions as its
/// approved withdrawals fill (up to `SESSIONS_PER_COMMIT`) in one commit, and a last one
/// for fewer than a batch when `partial` is `Open`.
fn processor_pass(
    coord: &mut Coordinator,
    config: &ProcessorConfig,
    partial: PartialBatches,
) -> Result<PassOutcome> {
    let mut outcome = PassOutcome::default();
    for wallet in coord.wallets_with_approved_withdrawals()? {
        let pass = match coord.batch_wallet_pass_with(&wallet, config, partial, clock::now()) {
            Ok(pass) => pass,
            // One wallet's trouble does not stop the others; the pass rolled back whole.
            Err(e) => {
                tracing::error!("wallet {wallet}: batching failed: {e}");
                continue;
            }
        };
        for b in &pass.opened {
            outcome.batched = true;
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
        match pass.then {
            Ok(BatchOutcome::Waiting { waiting, reason }) => {
                tracing::warn!("wallet {wallet}: {waiting} approved withdrawal(s) wait: {reason}");
            }
            Ok(BatchOutcome::Filling { .. }) => outcome.filling = true,
            Ok(BatchOutcome::Idle | BatchOutcome::Batched(_)) => {}
            // The failing session rolled back alone; those before it are open.
            Err(e) => tracing::error!("wallet {wallet}: batching failed: {e}"),
        }
    }
    Ok(outcome)
}

async fn processor_task(
    db: std::path::PathBuf,
    network: Option<Network>,
    options: RunOptions,
    stop: watch::Receiver<bool>,
) -> Result<()> {
    let mut coord = Coordinator::open(&db, network)?;
    let config = options.processor.clone();
    announce(&format!(
        "sluice-coordinator processor {} running",
        config.instance
    ))?;
    // Since when approved withdrawals have been held for a fuller batch.
    let mut filling_since: Option<Instant> = None;
    loop {
        let partial = match filling_since {
            _ if options.batch_wait.is_zero() => PartialBatches::Open,
            Some(since) if since.elapsed() >= options.batch_wait => PartialBatches::Open,
            _ => PartialBatches::Hold,
        };
        // Each pass is a few short transactions on the database.
        let pass = tokio::task::block_in_place(|| processor_pass(&mut coord, &config, partial));
        filling_since = match &pass {
            Ok(PassOutcome { filling: true, .. }) => Some(filling_since.unwrap_or_else(Instant::now)),
            _ => None,
        };
        let pause = match (&pass, filling_since) {
            (Ok(PassOutcome { batched: true, .. }), _) => Duration::ZERO,
            // Back when the wait is over, unless a full batch comes first.
            (Ok(_), Some(since)) => options
                .interval
                .min(options.batch_wait.saturating_sub(since.elapsed())),
            (Ok(_), None) => options.interval,
            (Err(e), _) => {
                tracing::error!("processor pass failed: {e:#}");
                options.interval
            }
        };
        if pause_or_stop(&stop, pause).await {
            return Ok(());
        }
    }
}

/// Sends `tx`; the node's error, if it does not have it now.
async fn send(chain: &CoreRpcClient, session: u64, tx: &bitcoin::Transaction) -> Option<String> {
    let txid = tx.compute_txid();
    match chain.broadcast(tx).await {
        Ok(Broadcast::InMempool(_)) => {
            tracing::info!(session, %txid, "transaction sent");
            None
        }
        Ok(Broadcast::AlreadyInChain(_)) => None,
        Err(e) if e.is_transient() => {
            tracing::warn!(session, %txid, "chain node unavailable, will resend: {e}");
            Some(e.to_string())
        }
        Err(e) => {
            // Rejected (e.g. an input already spent elsewhere): the transaction stays on
            // record and is retried; it is never replaced by another paying the same
            // withdrawals, so it can never pay twice.
            tracing::error!(session, %txid, "the node rejected the transaction: {e}");
            Some(e.to_string())
        }
    }
}

/// One sender pass: the signed sessions finalized and recorded (up to
/// `SESSIONS_PER_COMMIT` per commit) and sent, then the transactions due for resending;
/// every attempt noted, a group's in one commit.
async fn sender_pass(
    coord: &mut Coordinator,
    chain: &CoreRpcClient,
    options: &RunOptions,
    instance: &str,
) -> Result<bool> {
    let mut busy = false;
    let ready = tokio::task::block_in_place(|| coord.signed_sessions())?;
    for group in ready.chunks(SESSIONS_PER_COMMIT) {
        let finalized =
            tokio::task::block_in_place(|| coord.finalize_sessions(group, instance, clock::now()))?;
        let mut attempts = Vec::new();
        for (id, outcome) in finalized {
            match outcome {
                Ok(Some(final_tx)) => {
                    busy = true;
                    tracing::info!(session = id, txid = %final_tx.txid, "finalized; every input verified by Bitcoin Core's interpreter");
                    attempts.push((id, send(chain, id, &final_tx.tx).await));
                }
                Ok(None) => {}
                Err(e) => tracing::error!(session = id, "cannot finalize: {e}"),
            }
        }
        tokio::task::block_in_place(|| coord.note_sends(&attempts, clock::now()))?;
    }
    let resend_before = UnixTime::from_secs(
        clock::now().secs() - i64::try_from(options.resend_after.as_secs()).unwrap_or(i64::MAX),
    );
    let due = tokio::task::block_in_place(|| coord.transactions_to_send(resend_before))?;
    for group in due.chunks(SESSIONS_PER_COMMIT) {
        let mut attempts = Vec::new();
        for record in group {
            attempts.push((
                record.session_id,
                send(chain, record.session_id, &record.tx).await,
            ));
        }
        tokio::task::block_in_place(|| coord.note_sends(&attempts, clock::now()))?;
    }
    Ok(busy)
}

/// The two components that talk to the chain node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChainWork {
    Sender,
    Monitor,
}

impl ChainWork {
    fn name(self) -> &'static str {
        match self {
            ChainWork::Sender => "sender",
            ChainWork::Monitor => "monitor",
        }
    }
}

fn sender_task(
    db: std::path::PathBuf,
    network: Option<Network>,
    options: RunOptions,
    stop: watch::Receiver<bool>,
) -> impl std::future::Future<Output = Result<()>> {
    chain_task(ChainWork::Sender, db, network, options, stop)
}

fn monitor_task(
    db: std::path::PathBuf,
    network: Option<Network>,
    options: RunOptions,
    stop: watch::Receiver<bool>,
) -> impl std::future::Future<Output = Result<()>> {
    chain_task(ChainWork::Monitor, db, network, options, stop)
}

/// Waits until the node at `chain` is on `network` and past initial block download,
/// saying in the log why it waits; an unreachable node is retried with backoff. A node on
/// another network or one that refuses our credentials is an error: the process stops
/// with the reason. `None` when asked to stop meanwhile.
async fn wait_for_node(
    work: ChainWork,
    chain: &CoreRpcClient,
    network: Network,
    options: &RunOptions,
    stop: &watch::Receiver<bool>,
) -> Result<Option<BlockchainInfo>> {
    let mut backoff = options.interval.max(Duration::from_millis(100));
    let mut waited = false;
    loop {
        match assess(chain.url(), chain.get_blockchain_info().await, network) {
            Readiness::Ready(info) => {
                if waited {
                    tracing::info!("{}: the chain node is ready", work.name());
                }
                return Ok(Some(info));
            }
            Readiness::Refuse(refused) => {
                return Err(
                    anyhow::Error::new(refused).context(format!("the {} does not start", work.name()))
                );
            }
            Readiness::Wait(reason) => {
                waited = true;
                tracing::warn!(
                    "{}: waiting for the chain node (retrying in {backoff:?}): {reason}",
                    work.name()
                );
            }
        }
        if pause_or_stop(stop, backoff).await {
            return Ok(None);
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// Runs the sender or the monitor until stopped: a pass, then at once another if it did
/// something, else a pause; a failing pass (a dead node, say) is retried with backoff.
async fn chain_task(
    work: ChainWork,
    db: std::path::PathBuf,
    network: Option<Network>,
    options: RunOptions,
    stop: watch::Receiver<bool>,
) -> Result<()> {
    let mut coord = Coordinator::open(&db, network)?;
    let chain = options
        .chain
        .as_ref()
        .with_context(|| format!("the {} needs --chain-url", work.name()))?
        .client();
    let instance = format!("{}-{}", work.name(), std::process::id());
    let Some(node) = wait_for_node(work, &chain, coord.network(), &options, &stop).await? else {
        return Ok(());
    };
    announce(&format!(
        "sluice-coordinator {} {instance} running, chain {} ({} at height {})",
        work.name(),
        chain.url(),
        node.chain,
        node.blocks
    ))?;
    let monitor = MonitorSettings {
        min_confirmations: options.min_confirmations,
        start_height: options.start_height,
    };
    let mut mempool = MempoolWatch::default();
    let mut backoff = options.interval;
    loop {
        let outcome = match work {
            ChainWork::Sender => sender_pass(&mut coord, &chain, &options, &instance).await,
            ChainWork::Monitor => match monitor_pass(&mut coord, &chain, &monitor, &instance).await {
                Ok(pass) => {
                    // At the tip: bring the unconfirmed deposits in line with the mempool.
                    // Its failure leaves them as they were and does not hold blocks up.
                    if !pass.busy() {
                        if let Err(e) = mempool_pass(&mut coord, &chain, &mut mempool).await {
                            tracing::warn!("mempool pass failed (unconfirmed deposits not refreshed): {e:#}");
                        }
                    }
                    Ok(pass.busy())
                }
                Err(e) => Err(anyhow::Error::from(e)),
            },
        };
        let pause = match outcome {
            Ok(busy) => {
                backoff = options.interval;
                if busy {
                    Duration::ZERO
                } else {
                    options.interval
                }
            }
            Err(e) => {
                tracing::warn!("{} pass failed (retrying in {backoff:?}): {e:#}", work.name());
                let pause = backoff;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                pause
            }
        };
        if pause_or_stop(&stop, pause).await {
            return Ok(());
        }
    }
}

//! A real Bitcoin Core node for the devnet and the end-to-end tests: `bitcoind -regtest`
//! in its own data directory, RPC on a free port of 127.0.0.1 with cookie
//! authentication, no peers. It is killed (and its directory removed) when dropped.
//!
//! The binaries come from `scripts/build-bitcoind.sh`, which builds the Bitcoin Core
//! source pinned there into `~/.cache/sluice/bitcoin-core-VERSION/bin`.
//! `SLUICE_BITCOIND_DIR` names another directory holding `bitcoind`.

use std::fs::File;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bitcoin::secp256k1::{Keypair, Secp256k1};
use bitcoin::{Address, BlockHash, CompressedPublicKey, Network};
use sluice_coordinator::chain::{CoreRpcClient, RpcAuth, RpcError};

/// The variable naming the directory with `bitcoind` (default: [`default_dir`]).
pub const DIR_VARIABLE: &str = "SLUICE_BITCOIND_DIR";
/// What builds the node; kept in step with the version pinned there.
pub const BUILD_SCRIPT: &str = "scripts/build-bitcoind.sh";
const CORE_VERSION_DIR: &str = "bitcoin-core-0.4.1";
/// How long a fresh node may take to answer its first call.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// `$SLUICE_BITCOIND_DIR`, else where the build script puts the binaries:
/// `${SLUICE_CACHE:-$HOME/.cache/sluice}/bitcoin-core-0.4.1/bin`.
pub fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(DIR_VARIABLE).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("SLUICE_CACHE")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache")
                .join("sluice")
        });
    cache.join(CORE_VERSION_DIR).join("bin")
}

/// Where the -O2 build for speed comparisons is (`SLUICE_BITCOIND_OPT=2
/// scripts/build-bitcoind.sh`): `$SLUICE_BITCOIND_DIR` when set, else
/// `${SLUICE_CACHE:-$HOME/.cache/sluice}/bitcoin-core-0.4.1-O2/bin`. The tests' node is
/// built at -O0, which would flatter Sluice in a comparison.
pub fn benchmark_dir() -> PathBuf {
    if std::env::var_os(DIR_VARIABLE).is_some_and(|d| !d.is_empty()) {
        return default_dir();
    }
    let tests_node = default_dir();
    let cache = tests_node
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    cache.join(format!("{CORE_VERSION_DIR}-O2")).join("bin")
}

/// `dir/bitcoind`, or an error that says how to get it.
pub fn locate(dir: &Path) -> Result<PathBuf> {
    let bitcoind = dir.join("bitcoind");
    if !bitcoind.is_file() {
        bail!(
            "no bitcoind in {}: build it with `{BUILD_SCRIPT}` (once per machine; 10-20 minutes on two cores), or set {DIR_VARIABLE} to a directory holding bitcoind",
            dir.display()
        );
    }
    Ok(bitcoind)
}

/// A running `bitcoind -regtest`.
#[derive(Debug)]
pub struct Bitcoind {
    child: Child,
    /// Removed on drop.
    datadir: tempfile::TempDir,
    url: String,
    cookie: PathBuf,
    client: CoreRpcClient,
    /// Coinbases go to this key, which the node does not know (it has no wallet).
    miner: Keypair,
}

impl Bitcoind {
    /// Starts `bitcoind` from `bin_dir` and waits (bounded) until it answers RPC calls.
    /// `extra_args` are added to the command line (e.g. `-minrelaytxfee=...`).
    pub async fn start(bin_dir: &Path, extra_args: &[&str]) -> Result<Bitcoind> {
        let bitcoind = locate(bin_dir)?;
        // A port picked free can be taken before bitcoind binds it; try again then.
        let mut last_error = None;
        for _ in 0..3 {
            match Bitcoind::start_once(&bitcoind, extra_args).await {
                Ok(node) => return Ok(node),
                Err(e) if format!("{e:#}").contains("bind") => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow!("bitcoind did not start")))
    }

    async fn start_once(bitcoind: &Path, extra_args: &[&str]) -> Result<Bitcoind> {
        let datadir = tempfile::Builder::new()
            .prefix("sluice-bitcoind-")
            .tempdir()
            .context("creating bitcoind's data directory")?;
        let rpc_port = free_port()?;
        let output = File::create(datadir.path().join("bitcoind.out"))?;
        let mut command = Command::new(bitcoind);
        command
            .arg("-regtest")
            .arg(format!("-datadir={}", datadir.path().display()))
            .arg(format!("-rpcport={rpc_port}"))
            .args(["-rpcbind=127.0.0.1", "-rpcallowip=127.0.0.1"])
            // No peers: no listening socket (this version refuses -bind with -listen=0,
            // so none is given), no outbound connections, no seeds.
            .args(["-listen=0", "-connect=0", "-dnsseed=0", "-fixedseeds=0"])
            .args(["-server=1", "-printtoconsole=0", "-debug=0"])
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output);
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", bitcoind.display()))?;
        let url = format!("http://127.0.0.1:{rpc_port}");
        let cookie = datadir.path().join("regtest").join(".cookie");
        let client =
            CoreRpcClient::new(&url, RpcAuth::cookie_file(&cookie)).with_timeout(Duration::from_secs(60));
        let mut node = Bitcoind {
            child,
            datadir,
            url,
            cookie,
            client,
            miner: Keypair::new(&Secp256k1::new(), &mut rand::rngs::OsRng),
        };
        node.wait_until_ready().await?;
        Ok(node)
    }

    async fn wait_until_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "bitcoind exited ({status}) while starting:\n{}",
                    self.log_tail(15)
                );
            }
            let error = match self.client.get_blockchain_info().await {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            // Before the cookie exists the client cannot build its header; both that and
            // warm-up (-28) pass.
            let starting = error.is_transient() || matches!(error, RpcError::Credentials { .. });
            if !starting {
                return Err(error).context("bitcoind answered, but not as expected");
            }
            if Instant::now() > deadline {
                bail!(
                    "bitcoind did not answer RPC within {READY_WITHIN:?} ({error}):\n{}",
                    self.log_tail(15)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The `bitcoind` process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The cookie file the node writes at start (`--rpc-cookie-file`).
    pub fn cookie_file(&self) -> &Path {
        &self.cookie
    }

    /// A client logged in with the cookie.
    pub fn client(&self) -> CoreRpcClient {
        self.client.clone()
    }

    pub fn datadir(&self) -> &Path {
        self.datadir.path()
    }

    /// The end of the node's own log (`regtest/debug.log`, else what it printed).
    pub fn log_tail(&self, lines: usize) -> String {
        let debug_log = self.datadir.path().join("regtest").join("debug.log");
        let out = self.datadir.path().join("bitcoind.out");
        let text = std::fs::read_to_string(&debug_log).unwrap_or_default()
            + &std::fs::read_to_string(&out).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// An address of a key only this harness holds: where mined coins go.
    pub fn miner_address(&self) -> Address {
        Address::p2wpkh(&CompressedPublicKey(self.miner.public_key()), Network::Regtest)
    }

    /// The key behind [`miner_address`](Self::miner_address), to spend matured coinbases.
    pub fn miner_key(&self) -> &Keypair {
        &self.miner
    }

    /// Mines `count` blocks (with the mempool's transactions) paying the miner.
    pub async fn mine(&self, count: u32) -> Result<Vec<BlockHash>> {
        Ok(self
            .client
            .generate_to_address(count, &self.miner_address())
            .await?)
    }

    /// Replaces the top `depth` blocks with `depth + 1` new ones: `invalidateblock` on
    /// the lowest of them, then mining a longer branch. Their transactions return to the
    /// mempool and are mined again in the new blocks. Returns the blocks that left the
    /// chain.
    pub async fn reorg(&self, depth: u32) -> Result<Vec<BlockHash>> {
        let tip = self.client.get_block_count().await?;
        if depth == 0 || depth > tip {
            bail!("cannot replace {depth} of {tip} blocks");
        }
        let mut replaced = Vec::new();
        for height in tip + 1 - depth..=tip {
            replaced.push(self.client.get_block_hash(height).await?);
        }
        self.client.invalidate_block(&replaced[0]).await?;
        self.mine(depth + 1).await?;
        Ok(replaced)
    }
}

impl Drop for Bitcoind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port of 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

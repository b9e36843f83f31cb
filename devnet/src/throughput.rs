//! Throughput from approval to broadcast, with two online signers, on simnet or on a real
//! Bitcoin Core node: the numbers behind `docs/benchmarks.md` (`cargo bench -p
//! sluice-devnet`). Withdrawals are requested over the staff API as fast as a few
//! concurrent clients can; each is approved by the automatic rule at intake, so its
//! approval time is when its request returned. Its broadcast time is when the database
//! first shows it `broadcast`, polled every few milliseconds from a read-only connection.
//! Beside the times, the CPU time each process used during the run says where it went,
//! and the processes' memory says whether it stays bounded: peak resident set size, and
//! the coordinator's resident size when a quarter, half, three quarters and all of the
//! withdrawals were broadcast (a leak shows as growth from one quarter to the next).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bitcoin::Amount;
use serde_json::json;

use crate::api_client::StaffClient;
use crate::chain::ChainChoice;
use crate::processes::Programs;
use crate::scenario::{
    build_on, start_coordinator_with, start_signer_polling, wait_for_onion_service, Build, DevnetOptions,
    System,
};

/// One measured run.
#[derive(Debug, Clone)]
pub struct Throughput {
    /// "simnet" or "Bitcoin Core".
    pub chain: &'static str,
    pub batch: usize,
    pub withdrawals: usize,
    /// From the first approval to the last broadcast.
    pub elapsed: Duration,
    /// From the first approval to the last: intake's share of `elapsed` (the rest is the
    /// processor, the signers and the sender catching up), to tell which one limits.
    pub intake: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// CPU time used from the first request to the last broadcast.
    pub cpu: CpuUse,
    pub memory: MemoryUse,
    /// Requests the clients sent again after `503 busy` (the database held by another
    /// writer beyond the busy timeout).
    pub busy_retries: u64,
}

/// Memory of the coordinator and the signers over a run, from `/proc/PID/status`, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryUse {
    /// Peak resident set size (`VmHWM`) of `sluice-coordinator run all`.
    pub coordinator_peak_kib: u64,
    /// The larger of the two online signers' peaks.
    pub signer_peak_kib: u64,
    /// The coordinator's resident size (`VmRSS`) at 25, 50, 75 and 100 % broadcast.
    pub coordinator_rss_kib: [u64; 4],
}

/// A `/proc/PID/status` field in kB (`VmHWM`, `VmRSS`); zero if it cannot be read.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    sluice_fsutil::proc_status::status_kib(pid, field).unwrap_or(0)
}

/// CPU time (user + system) per process over a run, from `/proc/PID/stat`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuUse {
    /// `sluice-coordinator run all`: API, processor, sender, monitor.
    pub coordinator: Duration,
    /// Both online signers together.
    pub signers: Duration,
    /// `bitcoind`; `None` on simnet, which runs inside this process.
    pub node: Option<Duration>,
    /// This process: the load generator, the database poller, and simnet when it is the
    /// chain.
    pub this_process: Duration,
}

/// A process's CPU time so far (user + system, all threads); zero if it cannot be read.
fn cpu_time(pid: Option<u32>) -> Duration {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let Ok(stat) = std::fs::read_to_string(path) else {
        return Duration::ZERO;
    };
    // The fields after the command name (which may hold spaces) in parentheses: utime
    // and stime are the 14th and 15th of the line, in USER_HZ (100 per second on Linux).
    let Some((_, after_name)) = stat.rsplit_once(')') else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// The processes of one run whose CPU time is counted.
struct Processes {
    coordinator: u32,
    signers: [u32; 2],
    node: Option<u32>,
}

impl Processes {
    fn read(&self) -> CpuUse {
        CpuUse {
            coordinator: cpu_time(Some(self.coordinator)),
            signers: self.signers.iter().map(|pid| cpu_time(Some(*pid))).sum(),
            node: self.node.map(|pid| cpu_time(Some(pid))),
            this_process: cpu_time(None),
        }
    }
}

impl CpuUse {
    fn since(self, start: CpuUse) -> CpuUse {
        CpuUse {
            coordinator: self.coordinator.saturating_sub(start.coordinator),
            signers: self.signers.saturating_sub(start.signers),
            node: self
                .node
                .zip(start.node)
                .map(|(end, start)| end.saturating_sub(start)),
            this_process: self.this_process.saturating_sub(start.this_process),
        }
    }
}

impl Throughput {
    pub fn per_second(&self) -> f64 {
        self.withdrawals as f64 / self.elapsed.as_secs_f64()
    }
}

/// What each withdrawal pays: small, so a whole batch fits a few coins.
const AMOUNT: Amount = Amount::from_sat(30_000);

/// Coins funded for a run: one per session, so no session waits for the change of
/// another to confirm (the processor spends confirmed coins only), plus room.
fn coins(sessions: usize) -> usize {
    sessions + 5
}

/// Each coin pays a whole batch and its fee, with room; no larger, so that the
/// miner's one 50 BTC coinbase funds a coin per session at every batch size.
fn coin_value(batch: usize) -> Amount {
    let batch = u64::try_from(batch).unwrap_or(u64::MAX);
    Amount::from_sat(AMOUNT.to_sat() * batch * 6 / 5 + 1_000_000)
}

/// Waits until the coordinator has recorded `coins` confirmed coins it can spend.
async fn wait_for_coins(db: &rusqlite::Connection, coins: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let recorded: i64 = db.query_row(
            "SELECT COUNT(*) FROM utxos WHERE block_height IS NOT NULL AND spent_by_txid IS NULL",
            [],
            |r| r.get(0),
        )?;
        if usize::try_from(recorded)? >= coins {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the coordinator recorded {recorded} of the {coins} funded coins within 2 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Requests `count` withdrawals with the processor batching up to `batch` per
/// transaction on `chain`, and measures approval → broadcast.
pub async fn measure(
    programs: Programs,
    dir: PathBuf,
    chain: &ChainChoice,
    batch: usize,
    count: usize,
    tor_network: Option<PathBuf>,
) -> Result<Throughput> {
    let sessions = count.div_ceil(batch);
    let system = build_on(
        DevnetOptions {
            dir: dir.clone(),
            programs,
            withdrawals: count,
            deadline: Duration::from_secs(600),
            verbose: false,
            redundant: false,
            crash_and_restart: false,
            reorg: false,
            tor_network,
            tor_outage: None,
        },
        &Build {
            totals: ["1000", "1000", "1000"],
            coins: coins(sessions),
            coin_value: coin_value(batch),
            block_interval: Duration::from_secs(1),
            deposits: false,
        },
        chain,
    )
    .await?;
    let System {
        devnet,
        node,
        signers,
        backend_token,
        destinations,
        ..
    } = system;
    let (mut services, api) = start_coordinator_with(&devnet, node.url(), 0, batch, 10)?;
    // Stealth mode: the signers reach the coordinator only through its onion service.
    let signer_api = if devnet.options.tor_network.is_some() {
        wait_for_onion_service(&mut services)?.0
    } else {
        api.clone()
    };
    let online = [
        start_signer_polling(&devnet, &signers[0], &signer_api, "0.05")?,
        start_signer_polling(&devnet, &signers[1], &signer_api, "0.05")?,
    ];
    let processes = Processes {
        coordinator: services.pid(),
        signers: [online[0].pid(), online[1].pid()],
        node: node.pid(),
    };
    let backend = StaffClient::new(&api, &backend_token.reveal());

    let db = rusqlite::Connection::open_with_flags(
        dir.join("coordinator.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    db.busy_timeout(Duration::from_secs(5))?;
    // A treasury at work has its coins on record; the monitor's first pass over the
    // chain (a hundred blocks on a fresh node) is start-up, not what this measures.
    wait_for_coins(&db, coins(sessions)).await?;

    // Request with a few concurrent clients, as an exchange backend would (8;
    // `SLUICE_BENCH_CLIENTS` sets another number). Each waits for its reply before the
    // next request, so the clients also bound how many requests one group commit takes.
    let cpu_at_start = processes.read();
    let started = Instant::now();
    let clients: usize = std::env::var("SLUICE_BENCH_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..clients {
        let backend = backend.clone();
        let destinations = destinations.clone();
        tasks.spawn(async move {
            let mut approved = Vec::new();
            for i in (client..count).step_by(clients) {
                let (customer, destination) = &destinations[i % destinations.len()];
                let reply = backend
                    .post(
                        "/v1/withdrawals",
                        &json!({
                            "customer_id": customer,
                            "wallet": "treasury",
                            "destination": destination,
                            "amount_sat": AMOUNT.to_sat(),
                        }),
                        Some(&format!("bench-{i}")),
                    )
                    .await?;
                let at = Instant::now();
                if reply["withdrawal"]["status"] != "approved" {
                    bail!("withdrawal {i} was not approved at intake: {reply}");
                }
                let id = reply["withdrawal"]["id"].as_u64().context("withdrawal id")?;
                approved.push((id, at));
            }
            Ok::<_, anyhow::Error>(approved)
        });
    }
    let mut approved_at: HashMap<u64, Instant> = HashMap::new();
    let mut broadcast_at: HashMap<u64, Instant> = HashMap::new();
    let mut memory = MemoryUse::default();
    let mut quarters_seen = 0;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        while let Some(done) = tasks.try_join_next() {
            approved_at.extend(done??);
        }
        let mut stmt =
            db.prepare_cached("SELECT id FROM withdrawals WHERE status IN ('broadcast', 'confirmed')")?;
        let ids = stmt.query_map([], |r| r.get::<_, i64>(0))?;
        let now = Instant::now();
        for id in ids {
            let id = u64::try_from(id?)?;
            broadcast_at.entry(id).or_insert(now);
        }
        while quarters_seen < 4 && broadcast_at.len() * 4 >= count * (quarters_seen + 1) {
            memory.coordinator_rss_kib[quarters_seen] = status_kib(processes.coordinator, "VmRSS");
            quarters_seen += 1;
        }
        if tasks.is_empty() && broadcast_at.len() >= count {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "only {} of {count} withdrawals broadcast within 10 minutes; logs in {}",
                broadcast_at.len(),
                dir.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let cpu = processes.read().since(cpu_at_start);
    memory.coordinator_peak_kib = status_kib(processes.coordinator, "VmHWM");
    memory.signer_peak_kib = processes
        .signers
        .iter()
        .map(|pid| status_kib(*pid, "VmHWM"))
        .max()
        .unwrap_or(0);
    let mut latencies: Vec<Duration> = approved_at
        .iter()
        .map(|(id, at)| {
            broadcast_at
                .get(id)
                .map_or(Duration::ZERO, |b| b.saturating_duration_since(*at))
        })
        .collect();
    latencies.sort();
    let first = approved_at.values().min().copied().unwrap_or(started);
    let last = broadcast_at.values().max().copied().unwrap_or(started);
    let last_approval = approved_at.values().max().copied().unwrap_or(started);
    let quantile = |q: f64| {
        let index = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        latencies.get(index).copied().unwrap_or_default()
    };
    Ok(Throughput {
        chain: node.name(),
        batch,
        withdrawals: count,
        elapsed: last.saturating_duration_since(first),
        intake: last_approval.saturating_duration_since(first),
        p50: quantile(0.5),
        p99: quantile(0.99),
        max: latencies.last().copied().unwrap_or_default(),
        cpu,
        memory,
        busy_retries: backend.busy_retries(),
    })
}

//! The chaos run: the devnet's system with every coordinator component (api, processor,
//! sender, monitor) and every online signer as its own process, killed with SIGKILL and
//! restarted at random, and simnet reorgs at random, while withdrawals flow. When the
//! chaos stops, every withdrawal must reach `confirmed` within a bounded wait, and then:
//!
//! - the chain pays each destination exactly what was withdrawn to it (nothing twice,
//!   nothing missing);
//! - each online signer's own journal verifies (hash chain and head), the outflow it
//!   reserved stays within its configured total, and every transaction on the chain that
//!   pays a withdrawal was reserved by both online signers (the 2-of-3 needs both) for at
//!   least what it pays out.
//!
//! The schedule comes from a seeded RNG; the seed is printed first, so a failing run's
//! sequence of kills and reorgs can be replayed (timing, and so the interleaving with the
//! components' own work, still varies).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bitcoin::{Address, Amount, ScriptBuf};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use sluice_coordinator::chain::CoreRpcClient;
use sluice_shared::api::{Withdrawal, WithdrawalList, WithdrawalStatus};

use crate::api_client::StaffClient;
use crate::processes::{Component, Programs};
use crate::scenario::{
    build, check_paid_exactly_once, start_signer, Build, Devnet, DevnetOptions, SignerSetup, System, NETWORK,
    WALLET,
};

/// What to run.
#[derive(Debug, Clone)]
pub struct ChaosOptions {
    /// Databases, signer homes and every component's log.
    pub dir: PathBuf,
    pub programs: Programs,
    /// How long to kill, restart and reorg while withdrawals flow.
    pub chaos: Duration,
    /// How long the withdrawals may take to confirm once the chaos stops.
    pub settle: Duration,
    /// The RNG seed of the schedule (kills, downtimes, reorgs, amounts).
    pub seed: u64,
    /// Print each action.
    pub verbose: bool,
}

/// What a signer's journal shows at the end.
#[derive(Debug, Clone)]
pub struct SignerOutflow {
    pub name: String,
    pub journal_entries: usize,
    pub reservations: usize,
    /// Sum of the outflow of every `reserved` entry.
    pub reserved: Amount,
    /// The total from `limits-initialized`, plus every raise a limit command applied.
    pub total: Amount,
}

/// What happened.
#[derive(Debug, Clone)]
pub struct ChaosReport {
    pub seed: u64,
    pub chaos: Duration,
    /// SIGKILLs per process (`api`, `processor`, `sender`, `monitor`, `signer A`, ...).
    pub kills: BTreeMap<String, usize>,
    pub reorgs: usize,
    /// Requested, and all confirmed at the end.
    pub withdrawals: usize,
    /// From the end of the chaos until every withdrawal was confirmed.
    pub settled_in: Duration,
    pub signers: Vec<SignerOutflow>,
}

impl ChaosReport {
    pub fn total_kills(&self) -> usize {
        self.kills.values().sum()
    }
}

/// One process the chaos kills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Api,
    Processor,
    Sender,
    Monitor,
    /// Index into the online signers.
    Signer(usize),
}

/// The running processes and how to start each again.
struct Fleet<'a> {
    devnet: &'a Devnet,
    chain_url: String,
    /// `127.0.0.1:PORT`: a restarted API listens where the signers already dial.
    api_listen: String,
    api_url: String,
    signers: Vec<&'a SignerSetup>,
    running: Vec<(Part, Component)>,
}

impl<'a> Fleet<'a> {
    fn name(&self, part: Part) -> String {
        match part {
            Part::Api => "api".into(),
            Part::Processor => "processor".into(),
            Part::Sender => "sender".into(),
            Part::Monitor => "monitor".into(),
            Part::Signer(i) => format!("signer {}", self.signers[i].name),
        }
    }

    fn coordinator(&self, part: Part, args: &[&str]) -> Result<Component> {
        let name = self.name(part);
        let mut all = vec!["run", name.as_str()];
        all.extend(args);
        Component::start(
            &name,
            self.devnet.coordinator_command(None, &all),
            self.devnet.path(&format!("chaos-{name}.log")),
        )
    }

    /// Starts `part`; the API binds its port again (a few tries: the old socket may
    /// linger an instant after SIGKILL).
    fn start(&mut self, part: Part) -> Result<Component> {
        match part {
            Part::Api => {
                let mut last = None;
                for _ in 0..20 {
                    let listen = self.api_listen.clone();
                    let mut api = self.coordinator(part, &["--listen", &listen])?;
                    match api.wait_for_line("sluice-coordinator api listening on ", Duration::from_secs(30)) {
                        Ok(url) => {
                            self.api_listen = url.trim_start_matches("http://").to_owned();
                            self.api_url = url;
                            return Ok(api);
                        }
                        Err(e) => last = Some(e),
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
                Err(last.unwrap_or_else(|| anyhow!("the api did not start")))
            }
            Part::Processor => self.coordinator(
                part,
                &[
                    "--interval-ms",
                    "200",
                    "--max-batch",
                    "4",
                    "--max-inputs",
                    "50",
                    "--instance",
                    "processor-chaos",
                ],
            ),
            Part::Sender => {
                let chain = self.chain_url.clone();
                self.coordinator(
                    part,
                    &[
                        "--chain-url",
                        &chain,
                        "--interval-ms",
                        "200",
                        "--resend-seconds",
                        "5",
                    ],
                )
            }
            Part::Monitor => {
                let chain = self.chain_url.clone();
                self.coordinator(part, &["--chain-url", &chain, "--interval-ms", "200"])
            }
            Part::Signer(i) => start_signer(self.devnet, self.signers[i], &self.api_url),
        }
    }

    /// SIGKILL, `downtime`, start again.
    fn kill_and_restart(&mut self, index: usize, downtime: Duration) -> Result<()> {
        let part = self.running[index].0;
        self.running[index].1.kill();
        std::thread::sleep(downtime);
        self.running[index].1 = self.start(part)?;
        Ok(())
    }

    /// A component that stopped by itself is a finding.
    fn check_running(&mut self) -> Result<()> {
        for (_, component) in &mut self.running {
            if !component.running() {
                bail!(
                    "{} stopped by itself; its log ends:\n{}",
                    component.name,
                    component.log_tail(20)
                );
            }
        }
        Ok(())
    }
}

/// Requests withdrawals over the staff API; one that got no answer (the API was down) is
/// sent again with the same idempotency key until it is answered.
struct Feeder {
    client: StaffClient,
    destinations: Vec<(&'static str, String)>,
    seed: u64,
    /// The request not yet answered.
    pending: Option<(String, Value)>,
    accepted: BTreeSet<u64>,
    sent: usize,
}

impl Feeder {
    async fn feed(&mut self, rng: &mut StdRng) -> Result<()> {
        let (key, body) = match self.pending.take() {
            Some(pending) => pending,
            None => {
                let (customer, destination) = &self.destinations[self.sent % self.destinations.len()];
                self.sent += 1;
                let body = json!({
                    "customer_id": customer,
                    "wallet": WALLET,
                    "destination": destination,
                    "amount_sat": rng.gen_range(100_000u64..=2_000_000),
                });
                (format!("chaos-{}-{}", self.seed, self.sent), body)
            }
        };
        match self.client.post("/v1/withdrawals", &body, Some(&key)).await {
            Ok(reply) => {
                let id = reply["withdrawal"]["id"]
                    .as_u64()
                    .ok_or_else(|| anyhow!("the API answered a withdrawal request without an id: {reply}"))?;
                let status = reply["withdrawal"]["status"].as_str().unwrap_or("?");
                if status == "pending_approval" || status == "rejected" {
                    bail!(
                        "withdrawal {id} below the automatic ceiling was not approved at intake ({status})"
                    );
                }
                self.accepted.insert(id);
            }
            Err(_) => self.pending = Some((key, body)),
        }
        Ok(())
    }
}

/// Every withdrawal, newest first (the API pages by `before`).
async fn list_all(client: &StaffClient) -> Result<Vec<Withdrawal>> {
    let mut all: Vec<Withdrawal> = Vec::new();
    loop {
        let path = match all.last() {
            Some(last) => format!("/v1/withdrawals?limit=500&before={}", last.id),
            None => "/v1/withdrawals?limit=500".to_owned(),
        };
        let page: WithdrawalList =
            serde_json::from_value(client.get(&path).await?).context("reading the withdrawal list")?;
        if page.withdrawals.is_empty() {
            return Ok(all);
        }
        all.extend(page.withdrawals);
    }
}

/// Runs the chaos and checks the outcome. Every process it starts is stopped when it
/// returns.
pub async fn run(options: ChaosOptions) -> Result<ChaosReport> {
    let seed = options.seed;
    let mut rng = StdRng::seed_from_u64(seed);
    let System {
        devnet,
        node,
        chain,
        signers,
        backend_token,
        destinations,
        ..
    } = build(
        DevnetOptions {
            dir: options.dir.clone(),
            programs: options.programs.clone(),
            withdrawals: 0,
            deadline: options.chaos + options.settle,
            verbose: options.verbose,
            redundant: false,
            crash_and_restart: false,
            reorg: false,
            tor_network: None,
            tor_outage: None,
        },
        &Build {
            totals: ["30", "30", "30"],
            coins: 20,
            coin_value: Amount::from_int_btc(2),
            block_interval: Duration::from_secs(1),
            deposits: false,
        },
    )
    .await?;
    devnet.step(&format!(
        "6. Chaos for {:?} (seed {seed}): api, processor, sender, monitor and signers A and B as separate processes",
        options.chaos
    ));
    let online: Vec<&SignerSetup> = signers.iter().filter(|s| s.name != "C").collect();
    let mut fleet = Fleet {
        devnet: &devnet,
        chain_url: node.url().to_owned(),
        api_listen: "127.0.0.1:0".into(),
        api_url: String::new(),
        signers: online.clone(),
        running: Vec::new(),
    };
    let mut parts = vec![Part::Api, Part::Processor, Part::Sender, Part::Monitor];
    parts.extend((0..online.len()).map(Part::Signer));
    for part in &parts {
        let component = fleet.start(*part)?;
        fleet.running.push((*part, component));
    }
    devnet.say(&format!("all running; API at {}", fleet.api_url));
    let client = StaffClient::new(&fleet.api_url, &backend_token.reveal());
    let mut feeder = Feeder {
        client,
        destinations,
        seed,
        pending: None,
        accepted: BTreeSet::new(),
        sent: 0,
    };

    // Each process is killed once, in an order of the seed's choosing, before any is
    // picked at random, so even a short run kills every one; every sixth action is a reorg.
    let mut order: Vec<usize> = (0..fleet.running.len()).collect();
    order.shuffle(&mut rng);
    let mut kills: BTreeMap<String, usize> = BTreeMap::new();
    let mut reorgs = 0;
    let chaos_end = Instant::now() + options.chaos;
    let mut action = 0usize;
    while Instant::now() < chaos_end {
        for _ in 0..rng.gen_range(1..=2) {
            feeder.feed(&mut rng).await?;
        }
        action += 1;
        if action % 6 == 0 {
            let depth: u32 = rng.gen_range(1..=3);
            let replaced = node.reorg(depth).await.context("reorg")?;
            reorgs += 1;
            devnet.say(&format!("reorg: the top {replaced} block(s) replaced"));
        } else {
            let index = match order.pop() {
                Some(index) => index,
                None => rng.gen_range(0..fleet.running.len()),
            };
            let downtime = Duration::from_millis(rng.gen_range(0..1_500));
            let name = fleet.name(fleet.running[index].0);
            devnet.say(&format!("SIGKILL {name}; restart after {downtime:?}"));
            fleet.kill_and_restart(index, downtime)?;
            *kills.entry(name).or_default() += 1;
        }
        fleet.check_running()?;
        tokio::time::sleep(Duration::from_millis(rng.gen_range(200..1_200))).await;
    }

    devnet.step("7. The chaos stops: every withdrawal must confirm");
    let calm = Instant::now();
    let settle_end = calm + options.settle;
    while feeder.pending.is_some() {
        feeder.feed(&mut rng).await?;
        if Instant::now() > settle_end {
            bail!("the API did not take withdrawal requests again after the chaos");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let withdrawals = loop {
        let all = list_all(&feeder.client).await?;
        fleet.check_running()?;
        let unconfirmed: Vec<&Withdrawal> = all
            .iter()
            .filter(|w| w.status != WithdrawalStatus::Confirmed)
            .collect();
        if let Some(w) = unconfirmed
            .iter()
            .find(|w| matches!(w.status, WithdrawalStatus::Failed | WithdrawalStatus::Rejected))
        {
            bail!("withdrawal {} ended {}: see its history", w.id, w.status);
        }
        if unconfirmed.is_empty() {
            break all;
        }
        if Instant::now() > settle_end {
            bail!(
                "{} of {} withdrawals not confirmed {:?} after the chaos (seed {seed}; logs in {})",
                unconfirmed.len(),
                all.len(),
                options.settle,
                options.dir.display()
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let settled_in = calm.elapsed();
    let ids: BTreeSet<u64> = withdrawals.iter().map(|w| w.id).collect();
    if ids != feeder.accepted {
        bail!(
            "the coordinator lists {} withdrawals, the API accepted {}",
            ids.len(),
            feeder.accepted.len()
        );
    }
    devnet.say(&format!(
        "{} withdrawals confirmed {:.1} s after the chaos",
        withdrawals.len(),
        settled_in.as_secs_f64()
    ));

    check_paid_exactly_once(&chain, &withdrawals).await?;
    devnet.say("checked on the chain: every destination received exactly what was withdrawn to it, once");
    let journals: Vec<Journal> = online
        .iter()
        .map(|signer| read_journal(&devnet, signer))
        .collect::<Result<_>>()?;
    for journal in &journals {
        let o = &journal.outflow;
        if o.reserved > o.total {
            bail!(
                "signer {} reserved {} in total, above its configured total {}",
                o.name,
                o.reserved,
                o.total
            );
        }
        devnet.say(&format!(
            "signer {}: journal of {} entries verifies; {} reservations, {} reserved of {} allowed",
            o.name, o.journal_entries, o.reservations, o.reserved, o.total
        ));
    }
    check_chain_against_journals(&chain, &withdrawals, &journals).await?;
    devnet.say("checked: every paying transaction on the chain was reserved by both online signers");
    Ok(ChaosReport {
        seed,
        chaos: options.chaos,
        kills,
        reorgs,
        withdrawals: withdrawals.len(),
        settled_in,
        signers: journals.into_iter().map(|j| j.outflow).collect(),
    })
}

/// A signer's journal, read through its own CLI.
struct Journal {
    outflow: SignerOutflow,
    /// txid → outflow reserved for it.
    reserved: BTreeMap<String, Amount>,
}

/// `journal verify`, then the `reserved`, `limits-initialized` and `command-applied`
/// entries of `journal show`.
fn read_journal(devnet: &Devnet, signer: &SignerSetup) -> Result<Journal> {
    devnet
        .signer_step(&signer.home, &["journal", "verify"])
        .with_context(|| format!("signer {}'s journal does not verify", signer.name))?;
    let shown = devnet.signer_step(&signer.home, &["journal", "show"])?;
    let mut reserved = BTreeMap::new();
    let mut total = Amount::ZERO;
    let mut entries = 0;
    for line in shown.lines() {
        entries += 1;
        let mut words = line.split_whitespace();
        // seq, time, event, details (JSON to the end of the line).
        let event = words.nth(2).unwrap_or_default();
        let details: Value = line
            .find('{')
            .and_then(|at| serde_json::from_str(&line[at..]).ok())
            .unwrap_or(Value::Null);
        let sat = |field: &str| {
            details[field]
                .as_u64()
                .map(Amount::from_sat)
                .ok_or_else(|| anyhow!("signer {}: journal line without {field}: {line}", signer.name))
        };
        match event {
            "reserved" => {
                let txid = details["txid"].as_str().unwrap_or_default().to_owned();
                if reserved.insert(txid.clone(), sat("outflow_sat")?).is_some() {
                    bail!("signer {} reserved {txid} twice", signer.name);
                }
            }
            "limits-initialized" => total += sat("total_sat")?,
            "command-applied" => {
                let (before, after) = (
                    sat("total_remaining_before_sat")?,
                    sat("total_remaining_after_sat")?,
                );
                total += after.checked_sub(before).unwrap_or(Amount::ZERO);
            }
            _ => {}
        }
    }
    let sum = reserved.values().copied().sum();
    Ok(Journal {
        outflow: SignerOutflow {
            name: signer.name.to_owned(),
            journal_entries: entries,
            reservations: reserved.len(),
            reserved: sum,
            total,
        },
        reserved,
    })
}

/// Every transaction in the active chain that pays a withdrawal destination was reserved
/// by each online signer, for at least what it pays to the destinations.
async fn check_chain_against_journals(
    chain: &CoreRpcClient,
    withdrawals: &[Withdrawal],
    journals: &[Journal],
) -> Result<()> {
    let scripts: BTreeSet<ScriptBuf> = withdrawals
        .iter()
        .map(|w| {
            Ok(w.destination
                .parse::<Address<_>>()?
                .require_network(NETWORK)?
                .script_pubkey())
        })
        .collect::<Result<_>>()?;
    let tip = chain.get_block_count().await?;
    for height in 0..=tip {
        let block = chain.get_block(&chain.get_block_hash(height).await?).await?;
        for tx in &block.txdata {
            let paid: Amount = tx
                .output
                .iter()
                .filter(|o| scripts.contains(&o.script_pubkey))
                .map(|o| o.value)
                .sum();
            if paid == Amount::ZERO {
                continue;
            }
            let txid = tx.compute_txid().to_string();
            for journal in journals {
                match journal.reserved.get(&txid) {
                    Some(outflow) if *outflow >= paid => {}
                    Some(outflow) => bail!(
                        "transaction {txid} pays {paid} but signer {} reserved only {outflow}",
                        journal.outflow.name
                    ),
                    None => bail!(
                        "transaction {txid} at height {height} pays withdrawals but signer {} never reserved it",
                        journal.outflow.name
                    ),
                }
            }
        }
    }
    Ok(())
}

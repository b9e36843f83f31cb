//! The devnet scenario: a chain (simnet, or a real Bitcoin Core node), a coordinator with
//! its four services, a 2-of-3 wallet of three signers (two online, one cold) with outflow
//! limits, and a stream of withdrawals from request to confirmation. When a signer's total limit stops the flow, two security
//! officers sign a `raise-total` command and the signer applies it, as on paper.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bitcoin::hashes::{hash160, Hash};
use bitcoin::secp256k1::{Keypair, Secp256k1};
use bitcoin::{Address, Amount, Network, ScriptBuf, WPubkeyHash};
use rand::RngCore;
use serde_json::json;
use sluice_coordinator::chain::CoreRpcClient;
use sluice_coordinator::rules::fees::FeeSchedule;
use sluice_coordinator::rules::policy::ApprovalPolicy;
use sluice_coordinator::rules::roles::Role;
use sluice_coordinator::service::{AdminDesk, ApiToken, Applied, Change, NewWalletRequest};
use sluice_coordinator::time::UnixTime;
use sluice_coordinator::wallet_spec::WalletKindArg;
use sluice_shared::api::{Withdrawal, WithdrawalDetail, WithdrawalList, WithdrawalStatus};
use sluice_shared::asset::{format_btc, Asset};
use sluice_shared::identity::SignerId;
use sluice_shared::limit_command::{CommandId, LimitAction, LimitCommand, SignedLimitCommand};

use crate::api_client::StaffClient;
use crate::chain::{fund_many, ChainChoice, ChainNode};
use crate::processes::{run_step, Component, Programs};
use crate::tor_network::TorNetwork;

pub(crate) const NETWORK: Network = Network::Regtest;
pub(crate) const WALLET: &str = "treasury";
const ACCOUNT: &str = "84h/1h/0h";
/// Withdrawals above this need a person's approval; below it the rule approves them.
const AUTO_APPROVAL_CEILING: Amount = Amount::from_sat(50_000_000);

/// What to run.
#[derive(Debug, Clone)]
pub struct DevnetOptions {
    /// Everything lives here: databases, signer homes, logs.
    pub dir: PathBuf,
    pub programs: Programs,
    /// How many withdrawals to feed.
    pub withdrawals: usize,
    /// Give up if the withdrawals are not all confirmed by then.
    pub deadline: Duration,
    /// Print progress (the tests turn it off).
    pub verbose: bool,
    /// Run two full coordinator instances on the one database.
    pub redundant: bool,
    /// Kill coordinator instance 0 and signer A with SIGKILL while withdrawals are in
    /// flight, then restart them.
    pub crash_and_restart: bool,
    /// Once everything is confirmed, replace the top blocks (`simnet_reorg`, or
    /// `invalidateblock` and a longer branch on Core): the transactions there leave the
    /// chain and must confirm again.
    pub reorg: bool,
    /// Stealth mode: the coordinator publishes its signer API as an onion service on the
    /// private Tor network this file describes (`tor_network::TorNetwork::write_network_file`),
    /// and signers A and B reach it only through Tor.
    pub tor_network: Option<PathBuf>,
    /// Stealth mode's circuit breaker: stop this Tor network before the first withdrawal,
    /// check for [`TOR_OUTAGE`] that nothing gets signed, then start it again.
    pub tor_outage: Option<Arc<Mutex<TorNetwork>>>,
}

/// How long the Tor outage (`tor_outage`) holds once the withdrawals wait for signatures.
pub const TOR_OUTAGE: Duration = Duration::from_secs(15);

/// What happened.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub withdrawals: Vec<Withdrawal>,
    /// Whether a signer's total stopped the flow until a signed limit command raised it.
    pub waited_for_limit_command: bool,
    /// What the withdrawals waiting in `signing` showed as signer refusals just before
    /// the raise (`signer_id: reason`), as the online signers reported them.
    pub refusals_before_raise: Vec<String>,
    /// Withdrawals whose history shows a reorg sent them back to `broadcast`.
    pub reorged_and_confirmed_again: usize,
    pub elapsed: Duration,
    /// With `tor_outage`: how many withdrawals waited in `signing` through the outage
    /// (none was signed meanwhile, or the run fails).
    pub waited_out_tor_outage: usize,
}

pub(crate) struct Devnet {
    pub(crate) options: DevnetOptions,
    started: Instant,
    pub(crate) passphrase: PathBuf,
    /// How the coordinator logs in to the chain node, when it must.
    pub(crate) rpc_cookie_file: Option<PathBuf>,
}

/// One signer's home and what the coordinator needs to know about it.
pub(crate) struct SignerSetup {
    pub(crate) name: &'static str,
    pub(crate) home: PathBuf,
    key_expression: String,
    identity_key: String,
    fingerprint: String,
    signer_id: SignerId,
    /// Stealth mode: the restricted-discovery key line `sluice-signer id` prints.
    tor_key: Option<String>,
}

impl Devnet {
    pub(crate) fn say(&self, text: &str) {
        if self.options.verbose {
            println!("[{:>6.1}s] {text}", self.started.elapsed().as_secs_f64());
        }
    }

    pub(crate) fn step(&self, title: &str) {
        if self.options.verbose {
            println!("\n== {title}");
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.options.dir.join(name)
    }

    fn signer_command(&self, home: &Path, args: &[&str]) -> std::process::Command {
        let mut command = self.options.programs.signer();
        command
            .arg("--home")
            .arg(home)
            .arg("--passphrase-file")
            .arg(&self.passphrase)
            .args(args);
        command
    }

    pub(crate) fn signer_step(&self, home: &Path, args: &[&str]) -> Result<String> {
        run_step(
            self.signer_command(home, args),
            &format!("sluice-signer {}", args.join(" ")),
        )
    }

    pub(crate) fn coordinator_command(
        &self,
        token_file: Option<&Path>,
        args: &[&str],
    ) -> std::process::Command {
        let mut command = self.options.programs.coordinator();
        command.arg("--db").arg(self.path("coordinator.sqlite"));
        command.env_remove("SLUICE_DB").env_remove("SLUICE_TOKEN");
        if let Some(file) = token_file {
            command.arg("--token-file").arg(file);
        }
        command.args(args);
        command
    }
}

/// `sluice-coordinator run api` for the setup's staff commands (they are API requests),
/// on a free loopback port; stopped on drop.
struct SetupApi {
    child: std::process::Child,
    url: String,
}

impl SetupApi {
    fn start(devnet: &Devnet) -> Result<SetupApi> {
        use std::io::BufRead as _;
        let mut command = devnet.coordinator_command(None, &["run", "api", "--listen", "127.0.0.1:0"]);
        command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        let mut child = command
            .spawn()
            .context("starting sluice-coordinator run api for the setup")?;
        let stdout = child.stdout.take().context("run api's stdout")?;
        let mut stdout = std::io::BufReader::new(stdout);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let Some((_, addr)) = line.trim().rsplit_once("http://") else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("sluice-coordinator run api did not say where it listens: {line:?}");
        };
        let url = format!("http://{addr}");
        // Keep reading, so that a later line never meets a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Ok(SetupApi { child, url })
    }

    /// A staff command as the holder of `token_file`, sent to this API.
    fn command(&self, devnet: &Devnet, token_file: &Path, args: &[&str]) -> std::process::Command {
        let mut command = devnet.coordinator_command(Some(token_file), args);
        command.env_remove("SLUICE_API").arg("--api").arg(&self.url);
        command
    }
}

impl Drop for SetupApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A made-up customer's own address (a script nobody here holds keys for).
pub(crate) fn customer_address(name: &str) -> Result<Address> {
    let script = ScriptBuf::new_p2wpkh(&WPubkeyHash::from_raw_hash(hash160::Hash::hash(name.as_bytes())));
    Ok(Address::from_script(&script, NETWORK)?)
}

fn line_value<'a>(text: &'a str, label: &str) -> Result<&'a str> {
    text.lines()
        .find_map(|line| line.strip_prefix(label))
        .map(str::trim)
        .ok_or_else(|| anyhow!("no {label:?} line in:\n{text}"))
}

/// The system before its services start: chain, officers, signers with limits, the
/// coordinator's database with staff, customers and the wallet, and funded coins.
pub(crate) struct System {
    pub(crate) devnet: Devnet,
    pub(crate) node: ChainNode,
    pub(crate) chain: CoreRpcClient,
    pub(crate) officers: Vec<Keypair>,
    pub(crate) signers: Vec<SignerSetup>,
    pub(crate) backend_token: ApiToken,
    pub(crate) approver_token: ApiToken,
    pub(crate) destinations: Vec<(&'static str, String)>,
    /// The deposit wallet's shadow, when the plan asked for deposits.
    pub(crate) shadow: Option<crate::deposits::ShadowSetup>,
}

/// What `build` sets up.
pub(crate) struct Build {
    /// Each signer's total allowance, BTC (A, B, C).
    pub(crate) totals: [&'static str; 3],
    /// Coins funded to the wallet, and their value.
    pub(crate) coins: usize,
    pub(crate) coin_value: Amount,
    /// Let the chain mine a block every this often.
    pub(crate) block_interval: Duration,
    /// Also set up the deposit wallet and the shadow (the main job).
    pub(crate) deposits: bool,
}

/// `build` on simnet.
pub(crate) async fn build(options: DevnetOptions, plan: &Build) -> Result<System> {
    build_on(options, plan, &ChainChoice::Simnet).await
}

pub(crate) async fn build_on(
    options: DevnetOptions,
    plan: &Build,
    chain_choice: &ChainChoice,
) -> Result<System> {
    std::fs::create_dir_all(&options.dir).with_context(|| format!("creating {}", options.dir.display()))?;
    let passphrase = options.dir.join("passphrase");
    std::fs::write(&passphrase, "devnet passphrase\n")?;
    let mut devnet = Devnet {
        options,
        started: Instant::now(),
        passphrase,
        rpc_cookie_file: None,
    };
    let mut rng = rand::rngs::OsRng;
    match chain_choice {
        ChainChoice::Simnet => {
            devnet.step("1. The chain: simnet, a regtest-like chain speaking Bitcoin Core's JSON-RPC")
        }
        ChainChoice::Core { .. } => {
            devnet.step("1. The chain: Bitcoin Core (bitcoind -regtest), started for this run")
        }
    }
    let node = ChainNode::start(chain_choice, plan.block_interval).await?;
    let chain = node.client();
    devnet.rpc_cookie_file = node.cookie_file().map(Path::to_path_buf);
    devnet.say(&format!(
        "{} at {} mines a block every {:?}",
        node.name(),
        node.url(),
        plan.block_interval
    ));

    devnet.step("2. Security officers: three keys, any two sign a limit command");
    let secp = Secp256k1::new();
    let officers: Vec<Keypair> = (0..3).map(|_| Keypair::new(&secp, &mut rng)).collect();
    let officer_hex: Vec<String> = officers
        .iter()
        .map(|k| k.x_only_public_key().0.to_string())
        .collect();
    devnet.say("officer keys made (limitctl keygen does this on each officer's own machine)");

    devnet.step("3. Signers A and B (online) and C (cold), each with its own key and limits");
    let mut signers = Vec::new();
    for name in ["A", "B", "C"] {
        signers.push(set_up_signer(&devnet, name, &officer_hex)?);
    }

    devnet
        .step("4. The coordinator: staff, a customer, and the 2-of-3 wallet composed from the signers' keys");
    let db_path = devnet.path("coordinator.sqlite");
    let now = UnixTime::from_secs(unix_now());
    // Two admins: every change that can move money is proposed by one and approved by the
    // other; each staff member collects their own token with an enrollment secret.
    let mut desk = AdminDesk::initialise(&db_path, NETWORK, ["admin", "ops"], now)?;
    let admin_file = devnet.path("admin.token");
    std::fs::write(&admin_file, desk.admin_token.reveal().as_bytes())?;
    let ops_file = devnet.path("ops.token");
    std::fs::write(&ops_file, desk.second_token.reveal().as_bytes())?;
    let agree = |desk: &mut AdminDesk, change: Change| desk.agree(change);
    let (_, backend_token) = desk.enroll_staff("exchange-backend", Role::Requester)?;
    let (_, approver_token) = desk.enroll_staff("alice", Role::Approver)?;
    agree(
        &mut desk,
        Change::FeesSet {
            asset: Asset::Btc,
            schedule: FeeSchedule::Flat(Amount::from_sat(10_000)),
        },
    )?;
    let customers = ["customer-1", "customer-2", "customer-3"];
    let mut destinations = Vec::new();
    for customer in customers {
        desk.add_verified_customer(customer)?;
        let address = customer_address(customer)?.to_string();
        agree(
            &mut desk,
            Change::BeneficiaryAdd {
                customer_id: customer.into(),
                address: address.clone(),
                label: "own wallet".into(),
            },
        )?;
        destinations.push((customer, address));
    }
    let Applied::Wallet(created) = agree(
        &mut desk,
        Change::WalletCreate(NewWalletRequest {
            name: WALLET.into(),
            kind: WalletKindArg::WshSortedMulti,
            threshold: Some(2),
            keys: signers.iter().map(|s| s.key_expression.clone()).collect(),
            policy: ApprovalPolicy::Both {
                max_amount_sat: AUTO_APPROVAL_CEILING,
                registered_destination_only: true,
                approvers_required: 1,
            },
            daily_limit: Amount::from_int_btc(1_000),
        }),
    )?
    else {
        bail!("wallet create yielded no wallet");
    };
    devnet.say(&format!("wallet {WALLET}: {}", created.multipath_descriptor));
    devnet.say(&format!(
        "approval: automatic up to {} to registered beneficiaries, one approver above",
        format_btc(AUTO_APPROVAL_CEILING)
    ));
    // The API needs the coordinator's identity key; staff commands go through the API.
    let identity = run_step(
        devnet.coordinator_command(None, &["identity", "create"]),
        "sluice-coordinator identity create",
    )?;
    let setup_api = SetupApi::start(&devnet)?;
    for signer in &signers {
        // Through the CLI, as operators do: admin proposes, ops approves.
        let name = format!("signer-{}", signer.name);
        let mut add = vec![
            "signer",
            "add",
            "--name",
            &name,
            "--identity-key",
            &signer.identity_key,
            "--fingerprint",
            &signer.fingerprint,
        ];
        // Only the online signers dial the onion service: C (cold) gets no client key.
        if devnet.options.tor_network.is_some() && signer.name != "C" {
            let tor_key = signer.tor_key.as_deref().ok_or_else(|| {
                anyhow!("`sluice-signer id` printed no Tor client key: was it built without the tor feature?")
            })?;
            add.extend(["--tor-key", tor_key]);
        }
        let proposed = run_step(
            setup_api.command(&devnet, &admin_file, &add),
            "sluice-coordinator signer add",
        )?;
        let proposal = proposed
            .lines()
            .find_map(|l| {
                l.strip_prefix("Proposal ")?
                    .split_once(' ')
                    .map(|(id, _)| id.to_owned())
            })
            .ok_or_else(|| anyhow!("signer add printed no proposal: {proposed}"))?;
        run_step(
            setup_api.command(&devnet, &ops_file, &["proposal", "approve", &proposal]),
            "sluice-coordinator proposal approve",
        )?;
        devnet.signer_step(
            &signer.home,
            &[
                "wallet",
                "register",
                "--name",
                WALLET,
                "--descriptor",
                &created.multipath_descriptor,
            ],
        )?;
    }
    drop(setup_api);
    let coordinator_key = identity
        .lines()
        .last()
        .map(str::trim)
        .ok_or_else(|| anyhow!("sluice-coordinator identity create printed nothing"))?
        .to_owned();
    for signer in &signers {
        devnet.signer_step(&signer.home, &["coordinator", "trust", &coordinator_key])?;
    }
    devnet.say("each signer registered the wallet; the coordinator knows each signer's identity key");
    devnet.say(&format!(
        "each signer trusts coordinator key {coordinator_key}: it acts only on replies that key signed"
    ));
    // A spends at most 2.5 BTC before it needs a signed command; B has room for the run.
    for (signer, total) in signers.iter().zip(plan.totals) {
        let name = signer.name;
        devnet.signer_step(
            &signer.home,
            &[
                "limits",
                "init",
                "--asset",
                "BTC",
                "--rate",
                "10",
                "--per-seconds",
                "60",
                "--burst",
                "10",
                "--total",
                total,
            ],
        )?;
        devnet.say(&format!(
            "signer {name}: may sign 10 BTC per minute, {total} BTC in total"
        ));
    }

    let shadow = if plan.deposits {
        devnet.step("4b. The deposit wallet and the shadow: its key is the shadow's alone");
        let fingerprints: Vec<String> = signers.iter().map(|s| s.fingerprint.clone()).collect();
        let tip = chain.get_block_count().await?;
        Some(crate::deposits::set_up(
            &devnet,
            &mut desk,
            &officer_hex,
            &created.multipath_descriptor,
            &fingerprints,
            tip,
        )?)
    } else {
        None
    };

    devnet.step("5. Fund the wallet: a miner pays coins to its receive addresses");
    let mut addresses = Vec::new();
    for _ in 0..plan.coins {
        addresses.push(desk.coord.next_receive_address(&desk.admin, WALLET, now)?.1);
    }
    drop(desk);
    let funding = fund_many(&chain, &addresses, plan.coin_value).await?;
    devnet.say(&format!(
        "{} funding transaction(s) ({} coins of {}) confirmed, the first {}",
        funding.len(),
        plan.coins,
        format_btc(plan.coin_value),
        funding.first().map(ToString::to_string).unwrap_or_default()
    ));
    Ok(System {
        devnet,
        node,
        chain,
        officers,
        signers,
        backend_token,
        approver_token,
        destinations,
        shadow,
    })
}

/// Runs the whole scenario on simnet. Every process it starts is stopped when it returns.
pub async fn run(options: DevnetOptions) -> Result<Outcome> {
    run_on(options, &ChainChoice::Simnet).await
}

/// Runs the whole scenario on the chosen chain. Every process it starts (a `bitcoind`
/// too) is stopped when it returns.
pub async fn run_on(options: DevnetOptions, chain_choice: &ChainChoice) -> Result<Outcome> {
    let System {
        devnet,
        node,
        chain,
        officers,
        signers,
        backend_token,
        approver_token,
        destinations,
        shadow,
    } = build_on(
        options,
        &Build {
            // A spends at most 2.5 BTC before it needs a signed command; B has room.
            totals: ["2.5", "100", "100"],
            coins: 3,
            coin_value: Amount::from_int_btc(10),
            block_interval: Duration::from_secs(1),
            deposits: true,
        },
        chain_choice,
    )
    .await?;

    devnet.step("6. Start the coordinator's services and the online signers A and B (C stays cold)");
    let stealth = devnet.options.tor_network.is_some();
    if stealth && (devnet.options.redundant || devnet.options.crash_and_restart) {
        bail!("--tor runs one coordinator instance: it does not combine with --redundant or --crash-and-restart");
    }
    let instances = if devnet.options.redundant { 2 } else { 1 };
    let mut services = Vec::new();
    let mut apis = Vec::new();
    // Where the online signers dial: the API itself, or its onion service (stealth mode).
    let mut signer_apis = Vec::new();
    for index in 0..instances {
        let (mut component, api) = start_coordinator(&devnet, node.url(), index)?;
        devnet.say(&format!(
            "coordinator instance {index} (api, processor, sender, monitor) running; API at {api}"
        ));
        if stealth {
            let (onion, announcement) = wait_for_onion_service(&mut component)?;
            devnet.say(&format!("stealth mode: signer API published on {announcement}"));
            devnet.say("only signers A and B (their restricted-discovery keys) can discover it; the staff API stays on loopback");
            signer_apis.push(onion);
        } else {
            signer_apis.push(api.clone());
        }
        services.push(component);
        apis.push(api);
    }
    if instances > 1 {
        devnet.say("two full coordinator instances share one database: every service runs twice");
    }
    let mut online = Vec::new();
    for (i, signer) in signers.iter().filter(|s| s.name != "C").enumerate() {
        online.push(start_signer(
            &devnet,
            signer,
            &signer_apis[i % signer_apis.len()],
        )?);
    }
    if stealth {
        for (signer, component) in signers.iter().zip(online.iter_mut()) {
            let ready = component.wait_for_text("Tor ready in ", Duration::from_secs(180))?;
            devnet.say(&format!(
                "signer {}: {}",
                signer.name,
                ready.split_once("] ").map_or(ready.as_str(), |(_, rest)| rest)
            ));
        }
    }
    devnet.say("signers A and B dial out to the coordinator and poll for signing sessions");

    devnet.step("7. Withdrawals: the exchange backend requests, the policy approves, the system pays");
    let api = apis.last().cloned().unwrap_or_default();
    let backend = StaffClient::new(&api, &backend_token.reveal());
    let approver = StaffClient::new(&api, &approver_token.reveal());
    let mut crashed = false;
    let mut reorged = false;
    let amounts = withdrawal_amounts(devnet.options.withdrawals);
    let mut waited = false;
    let mut refusals_before_raise: Vec<String> = Vec::new();
    let mut last_counts = String::new();
    let mut last_change = Instant::now();
    let mut fed = 0;
    let deadline = Instant::now() + devnet.options.deadline;
    // The circuit breaker: with the Tor network down, withdrawals queue up but nothing is
    // signed; once it is back, signing resumes.
    let mut outage = devnet.options.tor_outage.clone();
    let mut outage_since: Option<Instant> = None;
    let mut waited_out_tor_outage = 0;
    if let Some(network) = &outage {
        devnet.step("Circuit breaker: the Tor network goes down before the withdrawals arrive");
        network
            .lock()
            .map_err(|_| anyhow!("the Tor network's lock is poisoned"))?
            .stop();
        devnet.say("every tor process of the private network stopped: no signer can reach the onion service");
    }
    loop {
        // Feed in waves of four, as requests arrive over time.
        if fed < amounts.len() {
            for amount in amounts.iter().skip(fed).take(4) {
                let (customer, destination) = &destinations[fed % destinations.len()];
                let reply = backend
                    .post(
                        "/v1/withdrawals",
                        &json!({
                            "customer_id": customer,
                            "wallet": WALLET,
                            "destination": destination,
                            "amount_sat": amount.to_sat(),
                        }),
                        Some(&format!("devnet-{fed}")),
                    )
                    .await?;
                let status = reply["withdrawal"]["status"].as_str().unwrap_or("?").to_owned();
                let id = reply["withdrawal"]["id"].as_u64().unwrap_or(0);
                devnet.say(&format!(
                    "withdrawal {id}: {} to {customer}: {status}",
                    format_btc(*amount)
                ));
                if status == "pending_approval" {
                    approver
                        .post(&format!("/v1/withdrawals/{id}/approve"), &json!({}), None)
                        .await?;
                    devnet.say(&format!(
                        "withdrawal {id} is above the automatic ceiling: approved by alice"
                    ));
                }
                fed += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let list: WithdrawalList = serde_json::from_value(backend.get("/v1/withdrawals?limit=500").await?)
            .context("reading the withdrawal list")?;
        if let Some(network) = outage.clone() {
            let beyond_signing = list.withdrawals.iter().any(|w| {
                !matches!(
                    w.status,
                    WithdrawalStatus::PendingApproval
                        | WithdrawalStatus::Approved
                        | WithdrawalStatus::Batched
                        | WithdrawalStatus::Signing
                )
            });
            if beyond_signing {
                bail!(
                    "a withdrawal got past `signing` while the Tor network was down: {}",
                    status_counts(&list.withdrawals)
                );
            }
            let all_signing = fed == amounts.len()
                && list
                    .withdrawals
                    .iter()
                    .all(|w| w.status == WithdrawalStatus::Signing);
            if all_signing && outage_since.is_none() {
                outage_since = Some(Instant::now());
                devnet.say(&format!(
                    "all {} withdrawals wait in `signing`; holding the outage for {} s",
                    list.withdrawals.len(),
                    TOR_OUTAGE.as_secs()
                ));
            }
            if outage_since.is_some_and(|since| since.elapsed() >= TOR_OUTAGE) {
                waited_out_tor_outage = list.withdrawals.len();
                devnet.say("nothing was signed during the outage; starting the Tor network again");
                let started = Instant::now();
                let restarted = tokio::task::spawn_blocking(move || {
                    network
                        .lock()
                        .map_err(|_| anyhow!("the Tor network's lock is poisoned"))?
                        .restart()
                })
                .await?;
                restarted?;
                devnet.say(&format!(
                    "the Tor network is back ({:.1} s until its consensus lists every relay); signers resume",
                    started.elapsed().as_secs_f64()
                ));
                outage = None;
                last_change = Instant::now();
            }
        }
        let counts = status_counts(&list.withdrawals);
        if counts != last_counts {
            devnet.say(&counts);
            last_counts = counts;
            last_change = Instant::now();
        }
        let all_confirmed = fed == amounts.len()
            && list
                .withdrawals
                .iter()
                .all(|w| w.status == WithdrawalStatus::Confirmed);
        if all_confirmed && devnet.options.reorg && !reorged {
            reorged = true;
            let replaced = node.reorg(3).await?;
            devnet.say(&format!(
                "reorg: {} replaced the top {replaced} blocks; their transactions are back in the mempool",
                node.name()
            ));
            last_change = Instant::now();
            continue;
        }
        if all_confirmed {
            let elapsed = devnet.started.elapsed();
            let mut reorged_and_confirmed_again = 0;
            for w in &list.withdrawals {
                let detail: WithdrawalDetail =
                    serde_json::from_value(backend.get(&format!("/v1/withdrawals/{}", w.id)).await?)?;
                if detail
                    .history
                    .iter()
                    .any(|e| e.reason.as_deref().is_some_and(|r| r.starts_with("reorg:")))
                {
                    reorged_and_confirmed_again += 1;
                }
            }
            if devnet.options.reorg {
                devnet.say(&format!(
                    "{reorged_and_confirmed_again} withdrawal(s) went back to broadcast in the reorg and confirmed again"
                ));
            }
            check_paid_exactly_once(&chain, &list.withdrawals).await?;
            devnet.say(
                "checked on the chain: every destination received exactly what was withdrawn to it, once",
            );
            if let Some(shadow) = &shadow {
                crate::deposits::take_deposits(
                    &devnet,
                    &chain,
                    node.url(),
                    &api,
                    &backend_token,
                    shadow,
                    &officers,
                )
                .await?;
            }
            print_summary(&devnet, &list.withdrawals, &signers)?;
            return Ok(Outcome {
                withdrawals: list.withdrawals,
                waited_for_limit_command: waited,
                refusals_before_raise: refusals_before_raise.clone(),
                reorged_and_confirmed_again,
                elapsed,
                waited_out_tor_outage,
            });
        }
        let waiting = list
            .withdrawals
            .iter()
            .any(|w| w.status == WithdrawalStatus::Signing);
        // Not in an outage run: there a stall after the restart is Tor recovering, not the limits.
        if !waited
            && waiting
            && devnet.options.tor_outage.is_none()
            && last_change.elapsed() > Duration::from_secs(6)
        {
            waited = true;
            for w in list
                .withdrawals
                .iter()
                .filter(|w| w.status == WithdrawalStatus::Signing)
            {
                let detail: WithdrawalDetail =
                    serde_json::from_value(backend.get(&format!("/v1/withdrawals/{}", w.id)).await?)?;
                for refusal in &detail.signer_refusals {
                    let seen = format!("{}: {}", refusal.signer_id, refusal.reason);
                    if !refusals_before_raise.contains(&seen) {
                        devnet.say(&format!(
                            "withdrawal {} shows signer {} refusing: {} ({})",
                            w.id, refusal.signer_id, refusal.reason, refusal.detail
                        ));
                        refusals_before_raise.push(seen);
                    }
                }
            }
            raise_total(&devnet, &signers[0], &officers)?;
            last_change = Instant::now();
        }
        let in_flight = list.withdrawals.iter().any(|w| {
            matches!(
                w.status,
                WithdrawalStatus::Signing | WithdrawalStatus::Signed | WithdrawalStatus::Broadcast
            )
        });
        if devnet.options.crash_and_restart && !crashed && in_flight {
            crashed = true;
            devnet.say("SIGKILL: coordinator instance 0 and signer A, mid-run");
            services[0].kill();
            online[0].kill();
            tokio::time::sleep(Duration::from_millis(500)).await;
            let (component, new_api) = start_coordinator(&devnet, node.url(), 0)?;
            services[0] = component;
            online[0] = start_signer(&devnet, &signers[0], &new_api)?;
            devnet.say(&format!(
                "restarted both (coordinator instance 0 now at {new_api})"
            ));
        }
        for component in services.iter_mut().chain(online.iter_mut()) {
            if !component.running() {
                bail!(
                    "{} stopped unexpectedly; its log ends:\n{}",
                    component.name,
                    component.log_tail(20)
                );
            }
        }
        if Instant::now() > deadline {
            bail!(
                "not all withdrawals confirmed within {:?} ({last_counts}); logs are in {}",
                devnet.options.deadline,
                devnet.options.dir.display()
            );
        }
    }
}

/// Reads every block of the chain and checks that each destination received exactly the
/// sum of the withdrawals to it: nothing paid twice, nothing missing.
pub(crate) async fn check_paid_exactly_once(chain: &CoreRpcClient, withdrawals: &[Withdrawal]) -> Result<()> {
    let mut expected: BTreeMap<String, Amount> = BTreeMap::new();
    for w in withdrawals {
        *expected.entry(w.destination.clone()).or_default() += w.amount_sat;
    }
    let scripts: BTreeMap<ScriptBuf, String> = expected
        .keys()
        .map(|a| {
            let address = a.parse::<Address<_>>()?.require_network(NETWORK)?;
            Ok((address.script_pubkey(), a.clone()))
        })
        .collect::<Result<_>>()?;
    let paid: BTreeMap<String, Amount> = crate::chain::paid_to(chain, scripts.keys())
        .await?
        .into_iter()
        .filter_map(|(script, amount)| Some((scripts.get(&script)?.clone(), amount)))
        .collect();
    if paid != expected {
        bail!("the chain does not pay what was withdrawn: expected {expected:?}, paid {paid:?}");
    }
    Ok(())
}

/// Starts `sluice-coordinator run all` (instance `index`) and waits for its API.
pub(crate) fn start_coordinator(
    devnet: &Devnet,
    chain_url: &str,
    index: usize,
) -> Result<(Component, String)> {
    start_coordinator_with(devnet, chain_url, index, 4, 200)
}

/// `start_coordinator` with the processor's batch size and the services' idle interval.
pub(crate) fn start_coordinator_with(
    devnet: &Devnet,
    chain_url: &str,
    index: usize,
    max_batch: usize,
    interval_ms: u64,
) -> Result<(Component, String)> {
    let mut command = devnet.coordinator_command(
        None,
        &[
            "run",
            "all",
            "--listen",
            "127.0.0.1:0",
            "--chain-url",
            chain_url,
            "--resend-seconds",
            "5",
            "--max-batch",
            &max_batch.to_string(),
            "--max-inputs",
            "50",
            "--interval-ms",
            &interval_ms.to_string(),
            "--instance",
            &format!("processor-{index}"),
        ],
    );
    if let Some(cookie) = &devnet.rpc_cookie_file {
        command.arg("--rpc-cookie-file").arg(cookie);
    }
    if let Some(network) = &devnet.options.tor_network {
        // The onion identity key is sealed under its own passphrase (a credential the
        // operator provides; here a file in the devnet's directory).
        let passphrase = devnet.path("coordinator.onion-passphrase");
        if !passphrase.exists() {
            sluice_fsutil::write_file(
                &passphrase,
                b"devnet onion passphrase\n",
                sluice_fsutil::Access::OwnerOnly,
                sluice_fsutil::Existing::Refuse,
            )?;
        }
        command
            .arg("--onion")
            .arg("--tor-network")
            .arg(network)
            .arg("--onion-passphrase-file")
            .arg(passphrase);
    }
    let mut component = Component::start(
        &format!("coordinator instance {index}"),
        command,
        devnet.path(&format!("coordinator-{index}.log")),
    )?;
    let api = component.wait_for_line("sluice-coordinator api listening on ", Duration::from_secs(30))?;
    Ok((component, api))
}

/// Stealth mode: waits until the coordinator has published its signer API as an onion
/// service and returns its address (`http://<56 characters>.onion`) and the announcement.
pub(crate) fn wait_for_onion_service(component: &mut Component) -> Result<(String, String)> {
    let line = component.wait_for_line(
        "sluice-coordinator signer api published on ",
        Duration::from_secs(180),
    )?;
    let address = line
        .split_whitespace()
        .next()
        .ok_or_else(|| anyhow!("the coordinator announced no onion address"))?
        .to_owned();
    Ok((address, line))
}

/// Starts `sluice-signer online` for `signer` against `api`.
pub(crate) fn start_signer(devnet: &Devnet, signer: &SignerSetup, api: &str) -> Result<Component> {
    start_signer_polling(devnet, signer, api, "1")
}

/// `start_signer` polling every `poll_seconds`.
pub(crate) fn start_signer_polling(
    devnet: &Devnet,
    signer: &SignerSetup,
    api: &str,
    poll_seconds: &str,
) -> Result<Component> {
    let mut command = devnet.signer_command(
        &signer.home,
        &["online", "--coordinator", api, "--poll-seconds", poll_seconds],
    );
    if let Some(network) = &devnet.options.tor_network {
        command.arg("--tor-network").arg(network);
    }
    Component::start(
        &format!("signer {}", signer.name),
        command,
        devnet.path(&format!("signer-{}.log", signer.name)),
    )
}

pub(crate) fn unix_now() -> i64 {
    sluice_coordinator::clock::now().secs()
}

/// Amounts between 0.2 and 0.45 BTC, and one above the automatic-approval ceiling.
fn withdrawal_amounts(count: usize) -> Vec<Amount> {
    (0..count)
        .map(|i| {
            if i == 2 {
                Amount::from_sat(60_000_000)
            } else {
                Amount::from_sat(20_000_000 + (i as u64 * 7_919_000) % 25_000_000)
            }
        })
        .collect()
}

fn status_counts(withdrawals: &[Withdrawal]) -> String {
    let mut counts: BTreeMap<usize, (&str, usize)> = BTreeMap::new();
    for w in withdrawals {
        let (rank, name) = match w.status {
            WithdrawalStatus::PendingApproval => (0, "pending approval"),
            WithdrawalStatus::Approved => (1, "approved"),
            WithdrawalStatus::Batched => (2, "batched"),
            WithdrawalStatus::Signing => (3, "signing"),
            WithdrawalStatus::Signed => (4, "signed"),
            WithdrawalStatus::Broadcast => (5, "broadcast"),
            WithdrawalStatus::Confirmed => (6, "confirmed"),
            WithdrawalStatus::Rejected => (7, "rejected"),
            WithdrawalStatus::Failed => (8, "failed"),
        };
        counts.entry(rank).or_insert((name, 0)).1 += 1;
    }
    counts
        .values()
        .map(|(name, n)| format!("{n} {name}"))
        .collect::<Vec<_>>()
        .join(" · ")
}

fn set_up_signer(devnet: &Devnet, name: &'static str, officer_keys: &[String]) -> Result<SignerSetup> {
    let home = devnet.path(&format!("signer-{name}"));
    let mut init = vec!["init", "--network", "regtest", "--dangerous-weak-kdf"];
    for key in officer_keys {
        init.extend(["--officer-key", key.as_str()]);
    }
    init.extend(["--officer-threshold", "2"]);
    devnet.signer_step(&home, &init)?;
    let xpub = devnet.signer_step(&home, &["xpub", "--path", ACCOUNT])?;
    let key_expression = xpub
        .lines()
        .last()
        .map(str::trim)
        .ok_or_else(|| anyhow!("sluice-signer xpub printed nothing"))?
        .to_owned();
    let id = devnet.signer_step(&home, &["id"])?;
    let identity_key = line_value(&id, "Identity key:")?.to_owned();
    let fingerprint = line_value(&id, "Master fingerprint:")?.to_owned();
    let tor_key = line_value(&id, "Tor client key:").ok().map(str::to_owned);
    let signer_id: SignerId = id
        .lines()
        .last()
        .unwrap_or_default()
        .parse()
        .context("the last line of `sluice-signer id`")?;
    devnet.say(&format!("signer {name}: id {signer_id}, key {key_expression}"));
    Ok(SignerSetup {
        name,
        home,
        key_expression,
        identity_key,
        fingerprint,
        signer_id,
        tor_key,
    })
}

/// Two officers sign "allow signer S to sign 5 more BTC"; the signer applies it as if
/// scanned from the paper sheet (`limits apply --text` is what a typing scanner sends).
fn raise_total(devnet: &Devnet, signer: &SignerSetup, officers: &[Keypair]) -> Result<()> {
    let limits = devnet.signer_step(&signer.home, &["limits", "show"])?;
    let remaining = line_value(&limits, "Total remaining")?;
    devnet.say(&format!(
        "progress stopped: signer {} has {remaining} of its total left, less than the next transaction pays out",
        signer.name
    ));
    devnet.say("the coordinator cannot change that; only a paper command signed by two officers can");
    let now = unix_now();
    let mut id = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut id);
    let mut command = SignedLimitCommand::unsigned(LimitCommand {
        id: CommandId(id),
        signer: signer.signer_id,
        asset: Asset::Btc,
        action: LimitAction::RaiseTotal {
            amount: Amount::from_int_btc(5),
        },
        not_before: now - 60,
        not_after: now + 3600,
    });
    for officer in &officers[..2] {
        let mut aux = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut aux);
        command.sign(officer, aux)?;
    }
    let text = command.encode_text()?;
    devnet.say(&format!("officers 1 and 2 sign: {}", command.command.describe()));
    let applied = devnet.signer_step(&signer.home, &["limits", "apply", "--text", &text])?;
    let line = applied
        .lines()
        .find(|l| l.starts_with("Applied"))
        .unwrap_or("limit command applied");
    devnet.say(&format!("signer {}: {}", signer.name, line.trim()));
    Ok(())
}

fn print_summary(devnet: &Devnet, withdrawals: &[Withdrawal], signers: &[SignerSetup]) -> Result<()> {
    if !devnet.options.verbose {
        return Ok(());
    }
    devnet.step("Summary");
    let total: Amount = withdrawals.iter().map(|w| w.amount_sat).sum();
    println!(
        "{} withdrawals, {}, all confirmed in {:.1} s",
        withdrawals.len(),
        format_btc(total),
        devnet.started.elapsed().as_secs_f64()
    );
    for w in withdrawals.iter().rev() {
        println!(
            "  #{:<3} {:>16}  {:<11} -> {}",
            w.id,
            format_btc(w.amount_sat),
            w.customer_id,
            w.destination
        );
    }
    for signer in signers {
        let limits = devnet.signer_step(&signer.home, &["limits", "show"])?;
        println!(
            "signer {}: spent {}, {} of its total left",
            signer.name,
            line_value(&limits, "Total spent")?,
            line_value(&limits, "Total remaining")?
        );
    }
    println!("Logs and state: {}", devnet.options.dir.display());
    Ok(())
}

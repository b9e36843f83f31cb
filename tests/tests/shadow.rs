//! The shadow (issue 11 item 6) as a real process, next to a real coordinator API process,
//! with one test body on both chain backends (simnet in this process, or a real
//! `bitcoind -regtest`): `sluice-shadow init` on the deposit wallet's seed and
//! `configure` with the deposit and treasury descriptors confirmed by fingerprint; the
//! coordinator's monitor credits deposits and the shadow's cross-check agrees; the
//! running shadow holds no listening socket; sweeps move only credited, untagged
//! deposits, within the shadow's limits, exactly once across a kill before broadcast;
//! the tagged deposit leaves only on an officer-signed release instruction, to the
//! owner, once (a replay and a release of a credited coin are refused; the limits
//! apply until the officers raise them) and nothing else moves; a reorg reverses a credit and the shadow agrees; a tampered coordinator database (a
//! fake credit, a swapped issued address, a hidden deposit) raises alarms, reported by
//! status file, exit status and webhook, and stops sweeps.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bitcoin::bip32::{DerivationPath, Xpriv, Xpub};
use bitcoin::secp256k1::Secp256k1;
use bitcoin::{Address, Amount, Network, OutPoint};
use serde_json::Value;
use sluice_coordinator::chain::ChainBackend;
use sluice_coordinator::rules::deposits::{AddressPolicy, DepositSettings};
use sluice_coordinator::rules::kyc::KycStatus;
use sluice_coordinator::rules::policy::ApprovalPolicy;
use sluice_coordinator::rules::roles::Role;
use sluice_coordinator::service::{
    monitor_pass, Actor, AdminDesk, Applied, Change, Coordinator, MonitorSettings, NewWalletRequest,
};
use sluice_coordinator::time::UnixTime;
use sluice_coordinator::wallet_spec::WalletKindArg;
use sluice_devnet::chain::fund;
use sluice_e2e::binaries::{binary, CoordinatorApi};
use sluice_e2e::test_chain::{mine, on_bitcoin_core, on_simnet, TestChain};
use sluice_shared::api::CoinState;
use sluice_shared::asset::Asset;
use sluice_shared::descriptor::{Branch, WalletDescriptor, SWEEP_INDEX_BASE};
use sluice_shared::limit_command::{
    CommandId, LimitAction, LimitCommand, Release, ReleaseDestination, ReleasePurpose, SignedLimitCommand,
};

const NOW: UnixTime = UnixTime::from_secs(1_735_700_000);
const CREDIT_AFTER: u32 = 2;

/// `wpkh` of master key `seed` at 84h/1h/0h: (master, key expression).
fn key(seed: u8) -> (Xpriv, String) {
    let secp = Secp256k1::new();
    let master = Xpriv::new_master(Network::Regtest, &[seed; 32]).unwrap();
    let account: DerivationPath = "m/84h/1h/0h".parse().unwrap();
    let xpub = Xpub::from_priv(&secp, &master.derive_priv(&secp, &account).unwrap());
    (master, format!("[{}/84h/1h/0h]{xpub}", master.fingerprint(&secp)))
}

struct World {
    coord: Coordinator,
    backend: Actor,
    deposit: WalletDescriptor,
    receive: String,
    change: String,
    shadow_token: String,
}

fn world(db: &Path) -> World {
    let mut desk = AdminDesk::initialise(db, Network::Regtest, ["root", "ops"], NOW).unwrap();
    let (backend, _) = desk.enroll_staff("backend", Role::Requester).unwrap();
    let (compliance, _) = desk.enroll_staff("cora", Role::Compliance).unwrap();
    let (_, shadow_token) = desk.enroll_staff("watcher", Role::Shadow).unwrap();
    for customer in ["c1", "c2", "c3"] {
        desk.coord.add_customer(&desk.admin, customer, NOW).unwrap();
    }
    for customer in ["c1", "c3"] {
        desk.coord
            .set_kyc(
                &compliance,
                customer,
                KycStatus::Verified { until: None },
                "checked",
                NOW,
            )
            .unwrap();
    }
    let Applied::Wallet(created) = desk
        .agree(Change::WalletCreate(NewWalletRequest {
            name: "deposits".into(),
            kind: WalletKindArg::Wpkh,
            threshold: None,
            keys: vec![key(43).1],
            policy: ApprovalPolicy::Manual {
                approvers_required: 2,
            },
            daily_limit: Amount::ZERO,
        }))
        .unwrap()
    else {
        panic!("wallet create yields the wallet")
    };
    // The treasury the shadow sweeps into is a wallet of the coordinator's (the shadow is
    // configured with the same key, confirmed by fingerprint, never told by the coordinator).
    desk.agree(Change::WalletCreate(NewWalletRequest {
        name: "treasury".into(),
        kind: WalletKindArg::Wpkh,
        threshold: None,
        keys: vec![key(44).1],
        policy: ApprovalPolicy::Manual {
            approvers_required: 2,
        },
        daily_limit: Amount::ZERO,
    }))
    .unwrap();
    desk.agree(Change::DepositWallet {
        wallet: "deposits".into(),
        settings: DepositSettings {
            address_policy: AddressPolicy::PerRequest,
            gap_limit: 5,
            credit_confirmations: CREDIT_AFTER,
            tag_above_sat: None,
        },
    })
    .unwrap();
    let deposit =
        WalletDescriptor::parse(&created.receive_descriptor, Some(&created.change_descriptor)).unwrap();
    World {
        coord: desk.coord,
        backend,
        deposit,
        receive: created.receive_descriptor,
        change: created.change_descriptor,
        shadow_token: shadow_token.reveal().to_string(),
    }
}

impl World {
    fn issue(&mut self, customer: &str) -> Address {
        let issued = self
            .coord
            .issue_deposit_address(&self.backend, "deposits", customer, NOW)
            .unwrap();
        issued.address.parse::<Address<_>>().unwrap().assume_checked()
    }

    fn status_of(&mut self, txid: bitcoin::Txid) -> String {
        self.coord
            .connection()
            .query_row(
                "SELECT status FROM deposits WHERE txid = ?1 ORDER BY vout LIMIT 1",
                [txid.to_string()],
                |r| r.get(0),
            )
            .unwrap()
    }
}

/// The shadow's home, passphrase and connection flags.
struct Shadow {
    home: PathBuf,
    passphrase: PathBuf,
    run_flags: Vec<String>,
}

impl Shadow {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(binary("sluice-shadow"));
        command
            .arg("--home")
            .arg(&self.home)
            .arg("--passphrase-file")
            .arg(&self.passphrase)
            .args(args)
            .env_remove("SLUICE_SHADOW_HOME");
        command
    }

    async fn run(&self, args: &[&str]) -> Output {
        let mut command = self.command(args);
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
    }

    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "sluice-shadow {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `release --text TEXT` with the connection flags.
    async fn release(&self, text: &str) -> Output {
        let mut args = vec!["release", "--text", text];
        args.extend(self.run_flags.iter().map(String::as_str));
        self.run(&without_webhook(&args)).await
    }

    /// `run --once` (with `extra`): exit code and the status file.
    async fn check(&self, extra: &[&str]) -> (Option<i32>, Value, String) {
        let mut args = vec!["run", "--once"];
        args.extend(self.run_flags.iter().map(String::as_str));
        args.extend_from_slice(extra);
        let out = self.run(&args).await;
        let status: Value =
            serde_json::from_slice(&std::fs::read(self.home.join("status.json")).unwrap()).unwrap();
        (
            out.status.code(),
            status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// `release` takes the connection flags but has no webhook to post.
fn without_webhook<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut skip = false;
    for arg in args {
        if skip {
            skip = false;
        } else if *arg == "--webhook" {
            skip = true;
        } else {
            out.push(*arg);
        }
    }
    out
}

/// The instructions' validity window is checked against the shadow's wall clock.
fn wall_clock_now() -> i64 {
    #[allow(clippy::disallowed_methods)] // tests: compared with what the shadow reads
    let now = std::time::SystemTime::now();
    now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn alarm_codes(status: &Value) -> Vec<String> {
    status["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["code"].as_str().unwrap().to_owned())
        .collect()
}

/// The process's sockets that accept connections: TCP in LISTEN, or UDP bound without a
/// peer. Read from /proc: its file descriptors' socket inodes, looked up in its network
/// namespace's tables.
fn listening_sockets(pid: u32) -> Vec<String> {
    let mut inodes = HashSet::new();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    for fd in fds.flatten() {
        if let Ok(target) = std::fs::read_link(fd.path()) {
            if let Some(inode) = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
            {
                inodes.insert(inode.to_owned());
            }
        }
    }
    let mut found = Vec::new();
    for table in ["tcp", "tcp6", "udp", "udp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 10 || !inodes.contains(cols[9]) {
                continue;
            }
            let accepting = if table.starts_with("tcp") {
                cols[3] == "0A"
            } else {
                cols[3] == "07"
            };
            if accepting {
                found.push(format!("{table} {line}"));
            }
        }
    }
    found
}

/// A one-shot HTTP sink for the webhook: the request bodies it received.
fn webhook_sink() -> (String, std::sync::mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/alarms", listener.local_addr().unwrap());
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = stream.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n");
                        let _ = send.send(body.to_owned());
                        break;
                    }
                }
            }
        }
    });
    (url, receive)
}

async fn pass(world: &mut World, chain: &dyn ChainBackend, settings: &MonitorSettings) {
    monitor_pass(&mut world.coord, chain, settings, "shadow-test")
        .await
        .unwrap_or_else(|e| panic!("monitor pass: {e}"));
}

/// What the chain's blocks spend from and pay to, from `from` to the tip.
async fn spends_of(
    chain: &sluice_coordinator::chain::CoreRpcClient,
    coin: OutPoint,
    from: u32,
) -> Vec<bitcoin::Transaction> {
    let tip = chain.get_block_count().await.unwrap();
    let mut found = Vec::new();
    for height in from..=tip {
        let hash = chain.get_block_hash(height).await.unwrap();
        for tx in chain.get_block(&hash).await.unwrap().txdata {
            if tx.input.iter().any(|i| i.previous_output == coin) {
                found.push(tx);
            }
        }
    }
    found
}

async fn shadow_watches(chain: TestChain) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("coordinator.sqlite");
    let mut world = world(&db);
    let client = chain.client();
    let (node_url, node_flags): (String, Vec<String>) = match &chain {
        TestChain::Simnet(simnet) => (simnet.url.clone(), vec![]),
        TestChain::Core(node) => (
            node.client().url().to_owned(),
            vec!["--node-cookie".into(), node.cookie_file().display().to_string()],
        ),
    };
    let identity = Command::new(binary("sluice-coordinator"))
        .arg("--db")
        .arg(&db)
        .args(["identity", "create"])
        .env_remove("SLUICE_DB")
        .output()
        .unwrap();
    assert!(identity.status.success(), "{identity:?}");
    let api = CoordinatorApi::start(&db);

    // Set up: the deposit wallet's seed, one officer key.
    let passphrase = dir.path().join("passphrase");
    std::fs::write(&passphrase, "correct horse battery staple shadow\n").unwrap();
    let xprv = dir.path().join("deposit.xprv");
    std::fs::write(&xprv, format!("{}\n", key(43).0)).unwrap();
    let token = dir.path().join("shadow.token");
    std::fs::write(&token, format!("{}\n", world.shadow_token)).unwrap();
    let officer = bitcoin::secp256k1::Keypair::from_seckey_slice(&Secp256k1::new(), &[7; 32]).unwrap();
    let (webhook, hooks) = webhook_sink();
    let mut run_flags = vec![
        "--node".to_owned(),
        node_url,
        "--coordinator".into(),
        api.url.clone(),
        "--token-file".into(),
        token.display().to_string(),
        "--webhook".into(),
        webhook,
    ];
    run_flags.extend(node_flags);
    let shadow = Shadow {
        home: dir.path().join("shadow"),
        passphrase,
        run_flags,
    };
    shadow
        .ok(&[
            "init",
            "--network",
            "regtest",
            "--from-xprv-file",
            xprv.to_str().unwrap(),
            "--officer-key",
            &officer.x_only_public_key().0.to_string(),
            "--officer-threshold",
            "1",
            "--dangerous-weak-kdf",
        ])
        .await;
    let (treasury_master, treasury_key) = key(44);
    let treasury = format!("wpkh({treasury_key}/<0;1>/*)");
    let deposit_fp = key(43).0.fingerprint(&Secp256k1::new()).to_string();
    let treasury_fp = treasury_master.fingerprint(&Secp256k1::new()).to_string();
    let start_height = client.get_block_count().await.unwrap();
    let configure = |deposit_fp: &str| {
        vec![
            "configure".to_owned(),
            "--deposit-descriptor".into(),
            world.receive.clone(),
            "--deposit-change-descriptor".into(),
            world.change.clone(),
            "--deposit-fingerprint".into(),
            deposit_fp.to_owned(),
            "--treasury-descriptor".into(),
            treasury.clone(),
            "--treasury-fingerprint".into(),
            treasury_fp.clone(),
            "--coordinator-wallet".into(),
            "deposits".into(),
            "--credit-confirmations".into(),
            CREDIT_AFTER.to_string(),
            "--scan-from-height".into(),
            start_height.to_string(),
        ]
    };
    // A fingerprint the operator did not confirm stops the setup.
    let wrong = configure("00000000");
    let out = shadow
        .run(&wrong.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("were confirmed"),
        "{out:?}"
    );
    let right = configure(&deposit_fp);
    let shown = shadow
        .ok(&right.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    let first = world
        .deposit
        .address(Branch::Receive, 0, Network::Regtest)
        .unwrap();
    assert!(shown.contains(&first.to_string()), "{shown}");
    // A copy of the home with the treasury swapped in its state is refused.
    let copy = dir.path().join("shadow-edited");
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(&shadow.home).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    let attacker = key(45).1;
    rusqlite::Connection::open(copy.join("state.sqlite"))
        .unwrap()
        .execute(
            "UPDATE wallets SET receive_descriptor = ?1, change_descriptor = ?2 WHERE name = 'treasury'",
            [format!("wpkh({attacker}/0/*)"), format!("wpkh({attacker}/1/*)")],
        )
        .unwrap();
    let edited = Shadow {
        home: copy,
        passphrase: shadow.passphrase.clone(),
        run_flags: vec![],
    };
    let out = edited.run(&["show"]).await;
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("differs from its journaled registration"),
        "{out:?}"
    );
    // The shadow's own limits: one 0.5 BTC deposit may leave, not two.
    shadow
        .ok(&[
            "limits",
            "init",
            "--rate",
            "10",
            "--per-seconds",
            "60",
            "--burst",
            "2",
            "--total",
            "0.6",
            "--max-fee",
            "0.001",
        ])
        .await;

    // Deposits: two for c1 (verified), one for c2 (unverified: tagged).
    let c1_first = world.issue("c1");
    let c1_second = world.issue("c1");
    let c2_address = world.issue("c2");
    let amount = Amount::from_sat(50_000_000);
    let funding = fund(
        &client,
        &[c1_first.clone(), c1_second.clone(), c2_address.clone()],
        amount,
    )
    .await
    .unwrap();
    let funded_at = client.get_block_count().await.unwrap();
    let settings = MonitorSettings {
        min_confirmations: 3,
        start_height: start_height + 1,
    };
    pass(&mut world, &client, &settings).await;
    let (code, status, log) = shadow.check(&[]).await;
    assert_eq!(code, Some(0), "pending deposits agree: {status} {log}");
    mine(&client, CREDIT_AFTER).await;
    pass(&mut world, &client, &settings).await;
    let (code, status, log) = shadow.check(&[]).await;
    assert_eq!(code, Some(0), "{status} {log}");
    assert_eq!(status["healthy"], true);
    assert_eq!(status["summary"]["confirmed_credits"], 2, "{status}");
    assert_eq!(status["summary"]["issued_addresses"], 3, "{status}");

    // Running, the shadow holds no listening socket (only outgoing connections).
    let mut running = shadow.command(
        &["run", "--interval-seconds", "1"]
            .into_iter()
            .chain(shadow.run_flags.iter().map(String::as_str))
            .collect::<Vec<_>>(),
    );
    let mut child = running
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    for _ in 0..20 {
        let listening = listening_sockets(pid);
        assert!(listening.is_empty(), "the shadow listens: {listening:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(child.try_wait().unwrap().is_none(), "the shadow kept running");
    child.kill().unwrap();
    child.wait().unwrap();

    // Sweep, killed after the signed transaction is recorded and before it is
    // broadcast; the restart broadcasts that same transaction.
    let out = shadow
        .run(
            &["run", "--once", "--sweep", "--dangerous-stop-after", "signed"]
                .into_iter()
                .chain(shadow.run_flags.iter().map(String::as_str))
                .collect::<Vec<_>>(),
        )
        .await;
    assert!(!out.status.success(), "the shadow died on purpose");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("dying here on purpose"),
        "{out:?}"
    );
    let (code, status, log) = shadow.check(&["--sweep"]).await;
    assert_eq!(code, Some(0), "{status} {log}");
    mine(&client, 1).await;
    pass(&mut world, &client, &settings).await;
    let (code, status, log) = shadow.check(&["--sweep"]).await;
    assert_eq!(code, Some(0), "{status} {log}");
    let sweeps = status["sweeps"].as_array().unwrap().clone();
    assert_eq!(
        sweeps.len(),
        1,
        "one sweep: the limits hold the second coin back: {status}"
    );
    assert_eq!(sweeps[0]["state"], "confirmed", "{status}");
    assert_eq!(
        status["summary"]["sweep"], "the shadow's limits allow no sweep now",
        "{status}"
    );
    let treasury_wallet = WalletDescriptor::parse(&treasury, None).unwrap();
    let destination = treasury_wallet
        .address(Branch::Receive, SWEEP_INDEX_BASE, Network::Regtest)
        .unwrap();
    assert_eq!(sweeps[0]["destination"], destination.to_string());
    // The coordinator's monitor saw the sweep pay the treasury's first reserved sweep
    // address: the swept coin is a spendable coin of its treasury wallet.
    let swept_coins: Vec<_> = world
        .coord
        .coins(&world.backend, Some("treasury"), false)
        .unwrap()
        .coins;
    assert_eq!(swept_coins.len(), 1, "{swept_coins:?}");
    assert_eq!(swept_coins[0].txid, sweeps[0]["txid"].as_str().unwrap());
    assert_eq!(swept_coins[0].vout, 0);
    assert_eq!(swept_coins[0].state, CoinState::Spendable, "{swept_coins:?}");
    assert_eq!(
        swept_coins[0].amount_sat.to_sat(),
        sweeps[0]["amount_sat"].as_u64().unwrap(),
        "{status}"
    );
    // On chain: each c1 coin spent at most once, exactly one of them by the sweep, to
    // the treasury; the tagged coin untouched.
    let mut swept = 0;
    for vout in 0..3u32 {
        let coin = OutPoint::new(funding, vout);
        let spends = spends_of(&client, coin, funded_at).await;
        assert!(spends.len() <= 1);
        if let Some(tx) = spends.first() {
            swept += 1;
            assert_eq!(tx.output.len(), 1);
            assert_eq!(tx.output[0].script_pubkey, destination.script_pubkey());
            assert_eq!(tx.compute_txid().to_string(), sweeps[0]["txid"].as_str().unwrap());
            let paid_to = &world
                .coord
                .connection()
                .query_row(
                    "SELECT status FROM deposits WHERE txid = ?1 AND vout = ?2",
                    rusqlite::params![funding.to_string(), vout],
                    |r| r.get::<_, String>(0),
                )
                .unwrap();
            assert_eq!(paid_to, "credited", "only a credited coin is swept");
        }
    }
    assert_eq!(swept, 1);
    let limits = shadow.ok(&["limits", "show"]).await;
    assert!(
        limits.contains("Total remaining  0.1 BTC"),
        "0.1 BTC of the total left: {limits}"
    );

    // The tagged deposit (c2's, vout 2) leaves only on the officers' release
    // instruction, to the owner, once; nothing else moves.
    let shadow_id = shadow.ok(&["id"]).await.lines().last().unwrap().trim().to_owned();
    let owner = sluice_e2e::test_chain::address_of(77);
    let tagged = OutPoint::new(funding, 2);
    let credited = OutPoint::new(funding, 1); // c1's coin the limits kept from the sweep
    let instruction = |coin: OutPoint, action_id: u8| {
        let now = wall_clock_now();
        let mut signed = SignedLimitCommand::unsigned(LimitCommand {
            id: CommandId([action_id; 16]),
            signer: shadow_id.parse().unwrap(),
            asset: Asset::Btc,
            action: LimitAction::Release {
                release: Release {
                    purpose: ReleasePurpose::ReturnToOwner,
                    network: Network::Regtest,
                    outpoint: coin,
                    amount,
                    destination: ReleaseDestination::from_script(&owner.script_pubkey()).unwrap(),
                },
            },
            not_before: now - 60,
            not_after: now + 3600,
        });
        signed.sign(&officer, [action_id; 32]).unwrap();
        signed.encode_text().unwrap()
    };
    let refused = |out: &Output, why: &str| {
        assert!(!out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(text.contains(why), "expected {why:?}: {text}");
    };
    // A credited coin is not the officers' to release through this path.
    let out = shadow.release(&instruction(credited, 1)).await;
    refused(&out, "does not list");
    // The shadow's limits hold (0.1 BTC of the total left) until the officers raise them.
    let out = shadow.release(&instruction(tagged, 2)).await;
    refused(&out, "limits refuse");
    let now = wall_clock_now();
    let mut raise = SignedLimitCommand::unsigned(LimitCommand {
        id: CommandId([3; 16]),
        signer: shadow_id.parse().unwrap(),
        asset: Asset::Btc,
        action: LimitAction::RaiseTotal { amount },
        not_before: now - 60,
        not_after: now + 3600,
    });
    raise.sign(&officer, [3; 32]).unwrap();
    shadow
        .ok(&["limits", "apply", "--text", &raise.encode_text().unwrap()])
        .await;
    let text = instruction(tagged, 4);
    let out = shadow.release(&text).await;
    assert!(out.status.success(), "{out:?}");
    mine(&client, 1).await;
    let out = shadow.release(&text).await;
    refused(&out, "already carried out");
    let spends = spends_of(&client, tagged, funded_at).await;
    assert_eq!(spends.len(), 1);
    assert_eq!(spends[0].input.len(), 1, "only the tagged coin");
    assert_eq!(spends[0].output.len(), 1);
    assert_eq!(spends[0].output[0].script_pubkey, owner.script_pubkey());
    assert!(
        spends_of(&client, OutPoint::new(funding, 1), funded_at)
            .await
            .is_empty(),
        "c1's other coin stays"
    );
    // A signer (not the shadow) never takes a release as a limit command.
    let out = shadow
        .run(&["limits", "apply", "--text", &instruction(tagged, 5)])
        .await;
    refused(&out, "sluice-shadow release");

    // A reorg takes a new credited deposit's blocks away: the coordinator reverses the
    // credit and the shadow agrees (no alarm), then both see it again.
    let c3_address = world.issue("c3");
    let c3_funding = fund(&client, std::slice::from_ref(&c3_address), amount)
        .await
        .unwrap();
    mine(&client, CREDIT_AFTER).await;
    pass(&mut world, &client, &settings).await;
    assert_eq!(world.status_of(c3_funding), "credited");
    let (code, status, log) = shadow.check(&[]).await;
    assert_eq!(code, Some(0), "{status} {log}");
    chain.reorg(CREDIT_AFTER + 1).await;
    pass(&mut world, &client, &settings).await;
    let history: i64 = world
        .coord
        .connection()
        .query_row(
            "SELECT COUNT(*) FROM deposit_events e JOIN deposits d ON d.id = e.deposit_id WHERE d.txid = ?1 AND e.kind = 'reversed'",
            [c3_funding.to_string()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(history, 1, "the credit was reversed");
    let (code, status, log) = shadow.check(&[]).await;
    assert_eq!(
        code,
        Some(0),
        "the shadow agrees with the reversal: {status} {log}"
    );
    for _ in 0..=CREDIT_AFTER {
        mine(&client, 1).await;
        pass(&mut world, &client, &settings).await;
    }
    assert_eq!(world.status_of(c3_funding), "credited");
    let (code, status, log) = shadow.check(&[]).await;
    assert_eq!(code, Some(0), "{status} {log}");
    let earlier_posts = hooks.try_iter().count();
    assert!(earlier_posts >= 1, "the first status was posted");

    // A tampered coordinator database. 1: a fake credit.
    let tamper = rusqlite::Connection::open(&db).unwrap();
    // The attacker has the database file, not the audit key: first the audit triggers of
    // the deposit tables go (their entries need the key), as `coordinator/tests/audit.rs`
    // shows the log then catches; here it is the shadow's turn.
    let audit_triggers: Vec<String> = tamper
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'audit_%' \
             AND tbl_name IN ('deposits', 'deposit_addresses', 'deposit_events', 'deposit_tags')",
        )
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert!(!audit_triggers.is_empty());
    for name in &audit_triggers {
        tamper.execute_batch(&format!("DROP TRIGGER {name}")).unwrap();
    }
    tamper
        .execute_batch(&format!(
            "INSERT INTO deposit_addresses (wallet, derivation_index, address, script_pubkey, customer_id, issued_by, issued_at)
                 VALUES ('deposits', 4, '{a4}', 'fake4', 'c1', 'backend', 0);
             INSERT INTO deposits (txid, vout, wallet, derivation_index, customer_id, amount_sat, block_height, block_hash, status, first_seen_at, updated_at)
                 VALUES ('{fake}', 0, 'deposits', 4, 'c1', 700000000, {h}, '{fake}', 'credited', 0, 0);",
            a4 = world.deposit.address(Branch::Receive, 4, Network::Regtest).unwrap(),
            fake = "ab".repeat(32),
            h = funded_at,
        ))
        .unwrap();
    let (code, status, _) = shadow.check(&["--sweep"]).await;
    assert_eq!(code, Some(3));
    assert_eq!(status["healthy"], false);
    assert_eq!(alarm_codes(&status), ["credit_not_on_chain"], "{status}");
    let posted: Value =
        serde_json::from_str(&hooks.recv_timeout(std::time::Duration::from_secs(30)).unwrap()).unwrap();
    assert_eq!(
        alarm_codes(&posted),
        ["credit_not_on_chain"],
        "the webhook got the alarm"
    );
    // No sweep while an alarm stands: c3's credited coin stays where it is.
    assert_eq!(
        status["summary"]["sweep"], "no sweep while an alarm stands",
        "{status}"
    );
    assert_eq!(
        status["sweeps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["kind"] == "sweep")
            .count(),
        1,
        "still only the first sweep: {status}"
    );

    // 2: an issued address swapped for another (the coordinator's own).
    let attacker = sluice_e2e::test_chain::address_of(66);
    tamper
        .execute_batch(&format!(
            "DROP TRIGGER deposit_addresses_no_update;
             UPDATE deposit_addresses SET address = '{attacker}' WHERE wallet = 'deposits' AND derivation_index = 1;"
        ))
        .unwrap();
    let (code, status, _) = shadow.check(&[]).await;
    assert_eq!(code, Some(3));
    let codes = alarm_codes(&status);
    assert!(codes.contains(&"substituted_address".to_owned()), "{status}");
    assert!(status.to_string().contains(&attacker.to_string()));

    // 3: a deposit hidden from the ledger.
    tamper
        .execute_batch(&format!(
            "PRAGMA foreign_keys = OFF;
             DROP TRIGGER deposits_no_delete;
             DELETE FROM deposits WHERE txid = '{c3_funding}';"
        ))
        .unwrap_or_else(|e| panic!("hiding: {e}"));
    let (code, status, log) = shadow.check(&[]).await;
    assert_eq!(code, Some(3));
    let codes = alarm_codes(&status);
    assert!(codes.contains(&"hidden_deposit".to_owned()), "{status} {log}");
    assert!(
        log.contains("ALARM hidden_deposit"),
        "a log line per alarm: {log}"
    );

    // 4: entries cut off the end of the audit log (no key needed for that; the chain that
    // is left still verifies on the coordinator's host). The shadow kept a head on every
    // check and notices; its kept head, exported, shows it on the coordinator's host too.
    let kept: Value = serde_json::from_str(&shadow.ok(&["audit-head"]).await).unwrap();
    let kept_seq = kept["seq"].as_i64().unwrap();
    assert!(kept_seq > 3, "the shadow kept a head: {kept}");
    // Back to the end of an earlier transaction (its newest entry signed): a cut in the
    // middle of one leaves an unsigned newest entry, which the coordinator itself reports.
    let cut: i64 = tamper
        .query_row(
            "SELECT MAX(seq) FROM audit_log WHERE seq < ?1 AND signature IS NOT NULL",
            [kept_seq],
            |r| r.get(0),
        )
        .unwrap();
    tamper
        .execute_batch(&format!(
            "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq > {cut};"
        ))
        .unwrap();
    let (code, status, _) = shadow.check(&[]).await;
    assert_eq!(code, Some(3));
    let truncated = status["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["code"] == "audit_log_truncated")
        .unwrap_or_else(|| panic!("the shadow notices the cut: {status}"));
    assert_eq!(truncated["kept_seq"], kept_seq, "{truncated}");
    assert_eq!(truncated["now_seq"], cut, "{truncated}");
    let again: Value = serde_json::from_str(&shadow.ok(&["audit-head"]).await).unwrap();
    assert_eq!(again, kept, "the kept head is not replaced by the shorter log's");
    // In the form `sluice-coordinator audit verify --head FILE` reads (on this database the
    // coordinator refuses to start at all: the tamper above dropped audit triggers).
    let exported = sluice_coordinator::audit::Head::parse(&kept.to_string()).unwrap();
    exported.verify_signature().unwrap();
    assert_eq!(exported.seq, kept_seq);
    drop(api);
}

#[test]
fn the_shadow_cross_checks_and_sweeps_on_simnet() {
    on_simnet(shadow_watches);
}

#[test]
fn the_shadow_cross_checks_and_sweeps_on_bitcoin_core() {
    on_bitcoin_core(shadow_watches);
}

//! The devnet's deposit side (issue 11 item 8): a deposit wallet whose only key is the
//! shadow's, three customer deposits (one from a blocklisted source, tagged on receive),
//! the shadow's cross-check and sweep to the treasury, and the tagged deposit returned to
//! its owner on an instruction two officers sign.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bitcoin::secp256k1::Keypair;
use bitcoin::{Address, Amount, Network, OutPoint};
use rand::RngCore;
use serde_json::{json, Value};
use sluice_coordinator::rules::deposits::{AddressPolicy, DepositSettings};
use sluice_coordinator::rules::policy::ApprovalPolicy;
use sluice_coordinator::rules::roles::Role;
use sluice_coordinator::service::{AdminDesk, ApiToken, Applied, Change, NewWalletRequest};
use sluice_coordinator::wallet_spec::WalletKindArg;
use sluice_shared::asset::{format_btc, Asset};
use sluice_shared::identity::SignerId;
use sluice_shared::limit_command::{
    CommandId, LimitAction, LimitCommand, Release, ReleaseDestination, ReleasePurpose, SignedLimitCommand,
};

use crate::api_client::StaffClient;
use crate::chain::{fund, mature_coin, pay_from};
use crate::processes::run_step;
use crate::scenario::Devnet;

/// The deposit wallet's name on the coordinator.
pub const DEPOSIT_WALLET: &str = "deposits";
const CREDIT_AFTER: u32 = 2;
const DEPOSIT: Amount = Amount::from_sat(50_000_000);

/// The shadow as set up.
#[derive(Debug)]
pub(crate) struct ShadowSetup {
    home: PathBuf,
    token_file: PathBuf,
    compliance_token: ApiToken,
    id: SignerId,
}

fn shadow_step(devnet: &Devnet, home: &Path, args: &[&str]) -> Result<String> {
    let mut command = devnet.options.programs.shadow();
    command
        .arg("--home")
        .arg(home)
        .arg("--passphrase-file")
        .arg(&devnet.passphrase)
        .args(args);
    run_step(command, &format!("sluice-shadow {}", args.first().unwrap_or(&"")))
}

/// The shadow's seed, the deposit wallet made from its key, the `shadow` and
/// `compliance` staff, and the shadow configured with the treasury wallet's descriptor.
pub(crate) fn set_up(
    devnet: &Devnet,
    desk: &mut AdminDesk,
    officer_hex: &[String],
    treasury: &str,
    treasury_fingerprints: &[String],
    scan_from_height: u32,
) -> Result<ShadowSetup> {
    let home = devnet.path("shadow");
    let mut init = vec!["init", "--network", "regtest", "--dangerous-weak-kdf"];
    for key in officer_hex {
        init.extend(["--officer-key", key.as_str()]);
    }
    init.extend(["--officer-threshold", "2"]);
    shadow_step(devnet, &home, &init)?;
    let xpub = shadow_step(devnet, &home, &["xpub", "--path", "84h/1h/0h"])?;
    let key = xpub
        .lines()
        .last()
        .map(str::trim)
        .ok_or_else(|| anyhow!("sluice-shadow xpub printed nothing"))?
        .to_owned();
    let id_text = shadow_step(devnet, &home, &["id"])?;
    let id: SignerId = id_text
        .lines()
        .last()
        .unwrap_or_default()
        .parse()
        .context("the last line of `sluice-shadow id`")?;
    let fingerprint = key
        .strip_prefix('[')
        .and_then(|k| k.split('/').next())
        .ok_or_else(|| anyhow!("no fingerprint in {key}"))?
        .to_owned();
    let Applied::Wallet(created) = desk.agree(Change::WalletCreate(NewWalletRequest {
        name: DEPOSIT_WALLET.into(),
        kind: WalletKindArg::Wpkh,
        threshold: None,
        keys: vec![key.clone()],
        policy: ApprovalPolicy::Manual {
            approvers_required: 2,
        },
        daily_limit: Amount::ZERO,
    }))?
    else {
        bail!("wallet create yielded no wallet");
    };
    desk.agree(Change::DepositWallet {
        wallet: DEPOSIT_WALLET.into(),
        settings: DepositSettings {
            address_policy: AddressPolicy::PerRequest,
            gap_limit: 10,
            credit_confirmations: CREDIT_AFTER,
            tag_above_sat: None,
        },
    })?;
    let (_, compliance_token) = desk.enroll_staff("cora", Role::Compliance)?;
    let (_, shadow_token) = desk.enroll_staff("shadow", Role::Shadow)?;
    let token_file = devnet.path("shadow.token");
    std::fs::write(&token_file, shadow_token.reveal().as_bytes())?;
    let mut configure = vec![
        "configure".to_owned(),
        "--deposit-descriptor".into(),
        created.receive_descriptor.clone(),
        "--deposit-change-descriptor".into(),
        created.change_descriptor.clone(),
        "--deposit-fingerprint".into(),
        fingerprint,
        "--treasury-descriptor".into(),
        treasury.to_owned(),
        "--coordinator-wallet".into(),
        DEPOSIT_WALLET.into(),
        "--credit-confirmations".into(),
        CREDIT_AFTER.to_string(),
        "--scan-from-height".into(),
        scan_from_height.to_string(),
    ];
    for fingerprint in treasury_fingerprints {
        configure.extend(["--treasury-fingerprint".to_owned(), fingerprint.clone()]);
    }
    shadow_step(
        devnet,
        &home,
        &configure.iter().map(String::as_str).collect::<Vec<_>>(),
    )?;
    shadow_step(
        devnet,
        &home,
        &[
            "limits",
            "init",
            "--rate",
            "10",
            "--per-seconds",
            "60",
            "--burst",
            "10",
            "--total",
            "5",
        ],
    )?;
    devnet.say(&format!(
        "the shadow (id {id}) holds the deposit wallet's only key {key}; its descriptors were confirmed by fingerprint"
    ));
    devnet.say("the coordinator issues deposit addresses from the public key alone and cannot spend them");
    Ok(ShadowSetup {
        home,
        token_file,
        compliance_token,
        id,
    })
}

/// `run --once --sweep` (or just `--once`): the status file after it.
fn shadow_check(devnet: &Devnet, shadow: &ShadowSetup, api: &str, node: &str, sweep: bool) -> Result<Value> {
    let mut args = vec![
        "run".to_owned(),
        "--once".into(),
        "--node".into(),
        node.to_owned(),
        "--coordinator".into(),
        api.to_owned(),
        "--token-file".into(),
        shadow.token_file.display().to_string(),
    ];
    if let Some(cookie) = &devnet.rpc_cookie_file {
        args.extend(["--node-cookie".to_owned(), cookie.display().to_string()]);
    }
    if sweep {
        args.push("--sweep".into());
    }
    let mut command = devnet.options.programs.shadow();
    command
        .arg("--home")
        .arg(&shadow.home)
        .arg("--passphrase-file")
        .arg(&devnet.passphrase)
        .args(&args);
    let output = command.output().context("starting sluice-shadow run")?;
    let status: Value = serde_json::from_slice(
        &std::fs::read(shadow.home.join("status.json")).context("the shadow's status file")?,
    )?;
    if !output.status.success() {
        bail!(
            "the shadow raised alarms: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(status)
}

fn deposit_statuses(ledger: &Value) -> Vec<(String, String)> {
    ledger["deposits"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter(|d| d["wallet"] == DEPOSIT_WALLET)
                .map(|d| {
                    (
                        format!("{}:{}", d["txid"].as_str().unwrap_or(""), d["vout"]),
                        d["status"].as_str().unwrap_or("?").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Three deposits, the shadow's cross-check and sweep, and the tagged one returned.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn take_deposits(
    devnet: &Devnet,
    chain: &sluice_coordinator::chain::CoreRpcClient,
    node_url: &str,
    api: &str,
    backend_token: &ApiToken,
    shadow: &ShadowSetup,
    officers: &[Keypair],
) -> Result<()> {
    devnet.step("8. Deposits: three customers pay in; one payment comes from a blocklisted source");
    let backend = StaffClient::new(api, &backend_token.reveal());
    let compliance = StaffClient::new(api, &shadow.compliance_token.reveal());
    let mut addresses = Vec::new();
    for customer in ["customer-1", "customer-2", "customer-3"] {
        let issued = backend
            .post(
                "/v1/deposit-addresses",
                &json!({"wallet": DEPOSIT_WALLET, "customer_id": customer}),
                None,
            )
            .await?;
        let address: Address = issued["address"]
            .as_str()
            .ok_or_else(|| anyhow!("no address in {issued}"))?
            .parse::<Address<_>>()?
            .require_network(Network::Regtest)?;
        devnet.say(&format!(
            "{customer} gets deposit address {address} (index {})",
            issued["derivation_index"]
        ));
        addresses.push(address);
    }
    let (tainted_key, tainted_coin) = mature_coin(chain).await?;
    let source = tainted_coin.0;
    compliance
        .post(
            "/v1/blocklist",
            &json!({"source": "case-2026-42.txt", "entries": format!("{source}  # seized\n")}),
            None,
        )
        .await?;
    devnet.say(&format!("compliance blocklists {source} (case 2026-42)"));
    let clean = fund(chain, &addresses[..2], DEPOSIT).await?;
    let tainted = pay_from(chain, &tainted_key, tainted_coin, &addresses[2..], DEPOSIT).await?;
    devnet.say(&format!(
        "customer-1 and customer-2 pay {} each ({clean}); customer-3's {} comes from the blocklisted coin ({tainted})",
        format_btc(DEPOSIT),
        format_btc(DEPOSIT)
    ));
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let ledger = backend.get("/v1/deposits").await?;
        let statuses = deposit_statuses(&ledger);
        let credited = statuses.iter().filter(|(_, s)| s == "credited").count();
        let tagged = statuses.iter().filter(|(_, s)| s == "tagged").count();
        if credited == 2 && tagged == 1 {
            devnet.say(&format!(
                "the coordinator's monitor credited 2 deposits after {CREDIT_AFTER} confirmations and tagged 1 (blocklist): quarantined, never credited"
            ));
            break;
        }
        if Instant::now() > deadline {
            bail!("the deposits were not credited and tagged in time: {statuses:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    devnet.step("9. The shadow: cross-checks the coordinator's ledger against its own node, then sweeps");
    let status = shadow_check(devnet, shadow, api, node_url, true)?;
    devnet.say(&format!(
        "cross-check at height {}: {} issued addresses derive from the deposit descriptor; {} ledger deposits match the chain; {} confirmed credits; no alarm",
        status["tip_height"],
        status["summary"]["issued_addresses"],
        status["summary"]["ledger_deposits"],
        status["summary"]["confirmed_credits"],
    ));
    let sweeps = status["sweeps"].as_array().cloned().unwrap_or_default();
    let sweep = sweeps
        .iter()
        .find(|s| s["kind"] == "sweep")
        .ok_or_else(|| anyhow!("the shadow swept nothing: {status}"))?;
    devnet.say(&format!(
        "sweep {}: {} sat (fee {} sat) of the two credited deposits to treasury address {} (derived from the treasury descriptor, not from the coordinator); the tagged deposit stays",
        sweep["txid"].as_str().unwrap_or("?"),
        sweep["amount_sat"],
        sweep["fee_sat"],
        sweep["destination"].as_str().unwrap_or("?")
    ));
    let sweep_txid = sweep["txid"].as_str().unwrap_or_default().to_owned();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let coins = backend
            .get(&format!("/v1/coins?wallet={}", crate::scenario::WALLET))
            .await?;
        let swept = coins["coins"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["txid"] == sweep_txid.as_str() && c["state"] == "spendable");
        if let Some(coin) = swept {
            devnet.say(&format!(
                "the coordinator's monitor sees the sweep as a spendable coin of wallet {} ({} sat at {sweep_txid}:{}): the treasury receive indexes from 2^30 are reserved for sweeps and watched",
                crate::scenario::WALLET,
                coin["amount_sat"],
                coin["vout"]
            ));
            break;
        }
        if Instant::now() > deadline {
            bail!("the coordinator never saw the sweep {sweep_txid} as a treasury coin: {coins}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    devnet.step("10. The tagged deposit goes back to its owner on an instruction two officers sign");
    let owner = crate::scenario::customer_address("customer-3 refund")?;
    let tainted_outpoint = OutPoint::new(tainted, 0);
    let now = crate::scenario::unix_now();
    let mut id = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut id);
    let mut instruction = SignedLimitCommand::unsigned(LimitCommand {
        id: CommandId(id),
        signer: shadow.id,
        asset: Asset::Btc,
        action: LimitAction::Release {
            release: Release {
                purpose: ReleasePurpose::ReturnToOwner,
                network: Network::Regtest,
                outpoint: tainted_outpoint,
                amount: DEPOSIT,
                destination: ReleaseDestination::from_script(&owner.script_pubkey())
                    .ok_or_else(|| anyhow!("the owner's address is not standard"))?,
            },
        },
        not_before: now - 60,
        not_after: now + 3600,
    });
    for officer in &officers[..2] {
        let mut aux = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut aux);
        instruction.sign(officer, aux)?;
    }
    devnet.say(&format!(
        "officers 1 and 2 sign: {}",
        instruction.command.describe()
    ));
    let mut release = vec![
        "release".to_owned(),
        "--text".into(),
        instruction.encode_text()?,
        "--node".into(),
        node_url.to_owned(),
        "--coordinator".into(),
        api.to_owned(),
        "--token-file".into(),
        shadow.token_file.display().to_string(),
    ];
    if let Some(cookie) = &devnet.rpc_cookie_file {
        release.extend(["--node-cookie".to_owned(), cookie.display().to_string()]);
    }
    let released = shadow_step(
        devnet,
        &shadow.home,
        &release.iter().map(String::as_str).collect::<Vec<_>>(),
    )?;
    devnet.say(&format!("shadow: {}", released.trim()));
    let replay = shadow_step(
        devnet,
        &shadow.home,
        &release.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    match replay {
        Err(e) if e.to_string().contains("already carried out") => {
            devnet.say("the same instruction scanned again is refused (a replay)")
        }
        other => bail!("a replayed release instruction was not refused: {other:?}"),
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let status = shadow_check(devnet, shadow, api, node_url, false)?;
    devnet.say(&format!(
        "cross-check at height {} still agrees: {} confirmed credits, no alarm",
        status["tip_height"], status["summary"]["confirmed_credits"]
    ));
    Ok(())
}

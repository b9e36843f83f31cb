//! `sluice-shadow run`: cross-check, report, and (with `--sweep`) sweep, once or in a loop.
//! Only outgoing connections: the node's JSON-RPC, the coordinator's staff API, the
//! webhook. The shadow never listens.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use secrecy::SecretString;
use sluice_coordinator::chain::{CoreRpcClient, RpcAuth};
use sluice_shared::descriptor::Branch;
use sluice_signer::home::Home;
use sluice_signer::keys::{self, KeyMaterial};
use sluice_signer::passphrase;
use sluice_signer::pipeline;
use sluice_signer::state::State;

use crate::audit_watch::{self, KeptHeads};
use crate::chain_scan::{self, ChainView};
use crate::cli::{ConnectionArgs, RunArgs};
use crate::crosscheck::{cross_check, Alarm, CheckRules, CheckSummary};
use crate::report::{self, Status};
use crate::settings::{self, Configured, DEPOSIT_WALLET};
use crate::spend::{self, DangerousStop};
use crate::staff_client::{StaffApi, LEDGER_LISTING_LIMIT};
use crate::sweeps::{self, PlannedSpend, SweepBook};

/// Exit status of `run --once` when an alarm was raised.
pub const ALARM_EXIT: u8 = 3;

/// What one cross-check saw, for the sweep that may follow it.
pub(crate) struct Checked {
    pub(crate) status: Status,
    pub(crate) view: Option<ChainView>,
    pub(crate) ledger: Vec<sluice_shared::deposit_api::Deposit>,
}

pub(crate) async fn check(
    configured: &Configured,
    node: &CoreRpcClient,
    staff: &StaffApi,
    heads: &KeptHeads,
) -> Checked {
    let now = sluice_signer::clock::unix_now();
    let failed = |reason: String| Checked {
        status: Status::new(
            now,
            None,
            &CheckSummary::default(),
            &[Alarm::CheckFailed { reason }],
        ),
        view: None,
        ledger: Vec::new(),
    };
    let s = &configured.settings;
    let issued = match staff.issued_addresses().await {
        Ok(issued) => issued,
        Err(e) => return failed(e.to_string()),
    };
    let ledger = match staff.ledger().await {
        Ok(ledger) => ledger,
        Err(e) => return failed(e.to_string()),
    };
    let highest = issued
        .iter()
        .filter(|a| a.wallet == s.coordinator_wallet)
        .map(|a| a.derivation_index)
        .chain(
            ledger
                .iter()
                .filter(|d| d.wallet == s.coordinator_wallet)
                .map(|d| d.derivation_index),
        )
        .max();
    let watch = highest
        .map_or(0, |h| h.saturating_add(1))
        .saturating_add(s.lookahead);
    let view = match chain_scan::scan(node, &configured.deposit, watch, s.scan_from_height).await {
        Ok(view) => view,
        Err(e) => return failed(e.to_string()),
    };
    let rules = CheckRules {
        network: configured.network,
        credit_confirmations: s.credit_confirmations,
        lag_blocks: s.lag_blocks,
    };
    let (summary, mut alarms) = cross_check(
        &configured.deposit,
        &s.coordinator_wallet,
        &rules,
        &issued,
        &ledger,
        &view.deposits(),
        LEDGER_LISTING_LIMIT,
    );
    let (audit_alarm, kept_head) = audit_watch::watch(staff, heads, now).await;
    alarms.extend(audit_alarm);
    let mut status = Status::new(now, Some(view.tip_height), &summary, &alarms);
    status.summary["audit_head_seq"] = kept_head.map(|h| h.seq).into();
    Checked {
        status,
        view: Some(view),
        ledger,
    }
}

/// The keys and state a sweeping shadow holds while it runs.
struct Sweeper {
    keys: KeyMaterial,
    state: State,
    book: SweepBook,
    fee_rate_sat_vb: u64,
    stop: Option<DangerousStop>,
}

impl Sweeper {
    /// Finishes what an earlier pass (or a killed process) left: signs planned spends,
    /// broadcasts signed ones, marks confirmed ones.
    async fn finish_outstanding(&mut self, node: &CoreRpcClient, view: &ChainView) -> Result<()> {
        for record in self.book.all()? {
            let spent_by_it = view
                .coins
                .iter()
                .any(|c| c.spent_by.map(|t| t.to_string()).as_deref() == Some(record.txid.as_str()));
            match record.state.as_str() {
                "confirmed" => {}
                _ if spent_by_it => self.book.set_state(&record.txid, "confirmed")?,
                "planned" => {
                    let tx = spend::sign(&mut self.state, &self.keys, &mut self.book, &record, self.stop)?;
                    spend::broadcast(node, &mut self.book, &record.txid, &tx).await?;
                }
                _ => {
                    if let Some(tx) = record.signed()? {
                        spend::broadcast(node, &mut self.book, &record.txid, &tx).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Sweeps what may be swept, as much as the limits allow now (the largest coins are
    /// left for later first).
    async fn sweep(
        &mut self,
        configured: &Configured,
        node: &CoreRpcClient,
        view: &ChainView,
        ledger: &[sluice_shared::deposit_api::Deposit],
    ) -> Result<Option<String>> {
        let book = &self.book;
        let mut coins = sweeps::sweepable(
            &view.coins,
            ledger,
            &configured.settings.coordinator_wallet,
            configured.settings.credit_confirmations,
            |o| book.is_swept(o).unwrap_or(true),
        );
        coins.sort_by_key(|c| (c.deposit.amount, c.deposit.outpoint));
        let index = self.book.next_treasury_index()?;
        let destination = configured
            .treasury
            .address(Branch::Receive, index, configured.network)
            .context("deriving the treasury address")?;
        while !coins.is_empty() {
            let Ok((psbt, amount, fee)) = sweeps::build_spend(
                &configured.deposit,
                &coins,
                destination.script_pubkey(),
                self.fee_rate_sat_vb,
            ) else {
                return Ok(Some("the sweepable coins do not cover the fee yet".into()));
            };
            let decided = pipeline::decide(&mut self.state, psbt.clone(), Some(DEPOSIT_WALLET))?;
            if !decided.decision.would_sign() {
                coins.pop();
                continue;
            }
            let plan = PlannedSpend {
                psbt,
                kind: "sweep",
                destination: destination.to_string(),
                amount,
                fee,
                treasury_index: Some(index),
                release_command: None,
            };
            self.book
                .record_planned(&plan, sluice_signer::clock::unix_now())?;
            let txid = plan.psbt.unsigned_tx.compute_txid().to_string();
            let record = self
                .book
                .all()?
                .into_iter()
                .find(|r| r.txid == txid)
                .context("the sweep just recorded")?;
            let tx = spend::sign(&mut self.state, &self.keys, &mut self.book, &record, self.stop)?;
            spend::broadcast(node, &mut self.book, &txid, &tx).await?;
            eprintln!("sluice-shadow: swept {amount} (fee {fee}) to treasury address {index} {destination} in {txid}");
            return Ok(None);
        }
        Ok(Some("the shadow's limits allow no sweep now".into()))
    }
}

fn read_token(path: &std::path::Path) -> Result<SecretString> {
    let line = sluice_fsutil::read_secret_line(path)
        .with_context(|| format!("reading the staff token from {}", path.display()))?;
    Ok(SecretString::from(line.as_str().to_owned()))
}

fn node_auth(args: &ConnectionArgs) -> Result<RpcAuth> {
    Ok(
        match (&args.node_cookie, &args.node_user, &args.node_password_file) {
            (Some(cookie), _, _) => RpcAuth::CookieFile(cookie.clone()),
            (None, Some(user), Some(file)) => RpcAuth::UserPass {
                user: user.clone(),
                password: SecretString::from(
                    sluice_fsutil::read_secret_line(file)
                        .with_context(|| format!("reading the node password from {}", file.display()))?
                        .as_str()
                        .to_owned(),
                ),
            },
            _ => RpcAuth::None,
        },
    )
}

/// The node and the coordinator, both dialled out to.
pub(crate) fn connect(args: &ConnectionArgs) -> Result<(CoreRpcClient, StaffApi)> {
    let node = CoreRpcClient::new(&args.node, node_auth(args)?);
    let staff = StaffApi::new(&args.coordinator, read_token(&args.token_file)?)?;
    Ok((node, staff))
}

pub fn run(home: &Home, passphrase_file: Option<&std::path::Path>, args: &RunArgs) -> Result<ExitCode> {
    let configured = settings::load(home)?;
    let (node, staff) = connect(&args.connection)?;
    let status_path = args
        .connection
        .status_file
        .clone()
        .unwrap_or_else(|| home.dir().join("status.json"));
    let heads = KeptHeads::open(&settings::shadow_db(home))?;
    let mut sweeper = if args.sweep {
        let keys = keys::unlock(home, &passphrase::read(passphrase_file, false)?)?;
        let mut state = State::open_keyed(&home.state(), keys.state_key())?;
        state.authenticate(keys.state_key())?;
        Some(Sweeper {
            keys,
            state,
            book: SweepBook::open(&settings::shadow_db(home))?,
            fee_rate_sat_vb: args.fee_rate_sat_vb,
            stop: args.dangerous_stop_after,
        })
    } else {
        None
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    eprintln!(
        "sluice-shadow: watching wallet {:?} via {} and {} (no listening socket)",
        configured.settings.coordinator_wallet, args.connection.node, args.connection.coordinator
    );
    loop {
        let previous = report::read_status(&status_path);
        let checked = runtime.block_on(check(&configured, &node, &staff, &heads));
        let mut status = checked.status;
        if let (Some(sweeper), Some(view)) = (sweeper.as_mut(), checked.view.as_ref()) {
            let outcome = runtime.block_on(async {
                sweeper.finish_outstanding(&node, view).await?;
                if status.healthy {
                    sweeper.sweep(&configured, &node, view, &checked.ledger).await
                } else {
                    Ok(Some("no sweep while an alarm stands".to_owned()))
                }
            });
            match outcome {
                Ok(Some(why)) => status.summary["sweep"] = why.into(),
                Ok(None) => {}
                Err(e) => {
                    eprintln!("sluice-shadow: sweep: {e:#}");
                    status.summary["sweep_error"] = format!("{e:#}").into();
                }
            }
            status.sweeps = sweeper.book.all()?.iter().map(|r| r.to_json()).collect();
        }
        let alarms: Vec<String> = status
            .alarms
            .iter()
            .map(|a| {
                format!(
                    "{}: {}",
                    a["code"].as_str().unwrap_or("?"),
                    a["message"].as_str().unwrap_or("")
                )
            })
            .collect();
        for alarm in &alarms {
            eprintln!("sluice-shadow ALARM {alarm}");
        }
        if alarms.is_empty() {
            eprintln!(
                "sluice-shadow: cross-check at height {} agrees: {}",
                status.tip_height.map_or("?".into(), |h| h.to_string()),
                status.summary
            );
        }
        report::write_status(&status_path, &status)?;
        if report::alarms_changed(previous.as_ref(), &status) {
            if let Some(url) = &args.connection.webhook {
                runtime.block_on(report::post_webhook(url, &status));
            }
        }
        if args.once {
            return Ok(if status.healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(ALARM_EXIT)
            });
        }
        std::thread::sleep(Duration::from_secs(args.interval_seconds.max(1)));
    }
}

//! `sluice-shadow release`: carries out an officer-signed release instruction (a limit
//! command with the release action): exactly the named tagged deposit, whole less the
//! fee, to exactly the named destination, once. The coordinator cannot spend the
//! deposit wallet, so this is the only way a tagged deposit leaves it.
//!
//! Refused, each journaled: an instruction that does not verify (officers, threshold,
//! target, window), one applied before (replay), another network's, a coin the chain
//! does not show unspent at a deposit address, a coin of another amount, a coin the
//! coordinator's ledger does not list as tagged, a spend the shadow's limits refuse.

use anyhow::{bail, Context, Result};
use serde_json::json;
use sluice_shared::limit_command::{verify, LimitAction};
use sluice_signer::home::Home;
use sluice_signer::state::{self, State};
use sluice_signer::{clock, keys, passphrase, pipeline};

use crate::cli::ReleaseArgs;
use crate::settings::{self, DEPOSIT_WALLET};
use crate::spend;
use crate::sweeps::{self, PlannedSpend, SweepBook};

fn refuse(state: &mut State, id: Option<&str>, reason: &str) -> Result<()> {
    let tx = state.begin()?;
    state::journal(
        &tx,
        "release-refused",
        json!({ "command_id": id, "reason": reason }),
    )?;
    tx.commit()?;
    bail!("release instruction refused: {reason}")
}

pub fn release(home: &Home, passphrase_file: Option<&std::path::Path>, args: &ReleaseArgs) -> Result<()> {
    let configured = settings::load(home)?;
    let text = sluice_signer::commands::command_text(&args.scan, args.text.as_deref())?;
    let keys = keys::unlock(home, &passphrase::read(passphrase_file, false)?)?;
    let me = keys.signer_id()?;
    let mut state = State::open_keyed(&home.state(), keys.state_key())?;
    state.authenticate(keys.state_key())?;
    let mut book = SweepBook::open(&settings::shadow_db(home))?;
    let verified = match verify(&text, keys.officers(), me, clock::unix_now()) {
        Ok(verified) => verified,
        Err(refusal) => return refuse(&mut state, None, &refusal.to_string()),
    };
    let command = verified.command().clone();
    let id = command.id.to_string();
    let LimitAction::Release { release } = command.action else {
        return refuse(
            &mut state,
            Some(&id),
            "this is a limit command, not a release instruction: apply it with `sluice-shadow limits apply`",
        );
    };
    let replayed = {
        let tx = state.begin()?;
        state::command_applied(&tx, &id)?
    };
    if replayed || book.release_applied(&id)? {
        return refuse(
            &mut state,
            Some(&id),
            &format!("instruction {id} was already carried out (a replay)"),
        );
    }
    if release.network != configured.network {
        return refuse(
            &mut state,
            Some(&id),
            &format!(
                "the instruction is for {}, this shadow for {}",
                release.network, configured.network
            ),
        );
    }
    let (node, staff) = crate::run::connect(&args.connection)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let heads = crate::audit_watch::KeptHeads::open(&settings::shadow_db(home))?;
    let checked = runtime.block_on(crate::run::check(&configured, &node, &staff, &heads));
    let Some(view) = checked.view else {
        bail!(
            "cannot look at the chain and the ledger now: {}; try again",
            checked
                .status
                .alarms
                .first()
                .map(|a| a["message"].to_string())
                .unwrap_or_default()
        );
    };
    let outpoint = release.outpoint;
    let Some(coin) = view.coins.iter().find(|c| c.deposit.outpoint == outpoint) else {
        return refuse(
            &mut state,
            Some(&id),
            &format!("the chain shows no confirmed deposit-wallet coin {outpoint}"),
        );
    };
    if coin.spent_by.is_some() || book.is_swept(&outpoint)? {
        return refuse(
            &mut state,
            Some(&id),
            &format!("coin {outpoint} is already spent"),
        );
    }
    if coin.deposit.amount != release.amount {
        return refuse(
            &mut state,
            Some(&id),
            &format!(
                "coin {outpoint} holds {}, the instruction names {}",
                coin.deposit.amount, release.amount
            ),
        );
    }
    let tagged = checked.ledger.iter().any(|d| {
        d.wallet == configured.settings.coordinator_wallet
            && d.txid == outpoint.txid.to_string()
            && d.vout == outpoint.vout
            && d.status == "tagged"
    });
    if !tagged {
        return refuse(
            &mut state,
            Some(&id),
            &format!("the coordinator's ledger does not list {outpoint} as tagged: only a tagged deposit is released"),
        );
    }
    let destination = release.destination.script_pubkey();
    let (psbt, amount, fee) =
        sweeps::build_spend(&configured.deposit, &[coin], destination, args.fee_rate_sat_vb)?;
    let decided = pipeline::decide(&mut state, psbt.clone(), Some(DEPOSIT_WALLET))?;
    if !decided.decision.would_sign() {
        return refuse(
            &mut state,
            Some(&id),
            &format!("the shadow's limits refuse it now: {:?}", decided.decision),
        );
    }
    let to = release.destination.address(release.network).map_or_else(
        || release.destination.script_pubkey().to_hex_string(),
        |a| a.to_string(),
    );
    let plan = PlannedSpend {
        psbt,
        kind: "release",
        destination: to.clone(),
        amount,
        fee,
        treasury_index: None,
        release_command: Some(id.clone()),
    };
    book.record_planned(&plan, clock::unix_now())?;
    let txid = plan.psbt.unsigned_tx.compute_txid().to_string();
    {
        let tx = state.begin()?;
        state::record_command(
            &tx,
            &id,
            &command.describe(),
            command.asset,
            None,
            command.not_before,
        )?;
        state::journal(
            &tx,
            "release-applied",
            json!({
                "command_id": id,
                "action": command.describe(),
                "signed_by": verified.signed_by().iter().map(sluice_shared::identity::officer_key_fingerprint).collect::<Vec<_>>(),
                "txid": txid,
            }),
        )?;
        tx.commit()?;
    }
    let record = book
        .all()?
        .into_iter()
        .find(|r| r.txid == txid)
        .context("the release just recorded")?;
    let tx = spend::sign(&mut state, &keys, &mut book, &record, None)?;
    runtime.block_on(spend::broadcast(&node, &mut book, &txid, &tx))?;
    println!(
        "Released {outpoint}: {amount} (fee {fee}) to {to} ({}) in {txid}",
        release.purpose.words()
    );
    Ok(())
}

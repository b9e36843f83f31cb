//! `inspect` and `sign`: review a PSBT; for `sign`, then confirm, reserve, sign, write.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use bitcoin::psbt::Psbt;
use serde_json::json;
use sluice_shared::asset::Asset;
use sluice_shared::inspect::{inspect_psbt, InspectionPolicy, PsbtReview};

use crate::cli::{PsbtInput, SignArgs};
use crate::home::Home;
use crate::review::{self, Decision};
use crate::signing::{self, SigningPlan};
use crate::state::{self, AssetLimits, RegisteredWallet, State, StateError};
use crate::{clock, keys, passphrase, qr_io, reservation, sd};

fn read_psbt(input: &PsbtInput) -> Result<Psbt> {
    Ok(match &input.input {
        Some(path) => sd::read_psbt_file(path)?,
        None => qr_io::read_psbt_images(&input.in_qr)?,
    })
}

/// The registered wallets whose keys the PSBT's inputs name (by master fingerprint),
/// those that derive the script of an input they are claimed for first: when every one
/// refuses, the first refusal is journaled, and the inputs' own wallet explains why
/// (another wallet holding the same key would only say "input 0 is not mine"). Only a
/// hint for which wallet to inspect against: inspection decides.
fn claimed_wallets<'a>(psbt: &Psbt, wallets: &'a [RegisteredWallet]) -> Vec<&'a RegisteredWallet> {
    let mut claimed = wallets_named_by_fingerprint(psbt, wallets);
    claimed.sort_by_key(|wallet| !derives_an_input(psbt, wallet));
    claimed
}

/// Whether some input's claim for `wallet` derives the script that input spends.
fn derives_an_input(psbt: &Psbt, wallet: &RegisteredWallet) -> bool {
    psbt.inputs.iter().any(|input| {
        let Some(spent) = &input.witness_utxo else {
            return false;
        };
        input
            .bip32_derivation
            .values()
            .chain(input.tap_key_origins.values().map(|(_, origin)| origin))
            .filter_map(|(fingerprint, path)| wallet.descriptor.match_derivation(*fingerprint, path))
            .any(|(branch, index)| {
                wallet
                    .descriptor
                    .script_pubkey(branch, index)
                    .is_ok_and(|script| script == spent.script_pubkey)
            })
    })
}

fn wallets_named_by_fingerprint<'a>(
    psbt: &Psbt,
    wallets: &'a [RegisteredWallet],
) -> Vec<&'a RegisteredWallet> {
    let fingerprints: Vec<_> = psbt
        .inputs
        .iter()
        .flat_map(|i| {
            i.bip32_derivation
                .values()
                .map(|(fp, _)| *fp)
                .chain(i.tap_key_origins.values().map(|(_, (fp, _))| *fp))
        })
        .collect();
    wallets
        .iter()
        .filter(|w| {
            w.descriptor
                .keys()
                .iter()
                .any(|k| fingerprints.contains(&k.fingerprint))
        })
        .collect()
}

/// Journals a refusal (its own transaction) and returns the error to show.
pub(crate) fn refuse(
    state: &mut State,
    txid: &str,
    wallet: &str,
    rule: &str,
    reason: String,
) -> Result<anyhow::Error> {
    let tx = state.begin()?;
    state::journal(
        &tx,
        "refused",
        json!({ "txid": txid, "wallet": wallet, "rule": rule, "reason": reason }),
    )?;
    tx.commit().map_err(StateError::from)?;
    Ok(anyhow::anyhow!("refused ({rule}): {reason}"))
}

/// Inspects against the chosen (or claimed) wallet and fixes the signing plan. A refusal
/// is journaled before it is returned.
fn check(
    state: &mut State,
    psbt: Psbt,
    wanted: Option<&str>,
    limits: &AssetLimits,
) -> Result<(RegisteredWallet, SigningPlan)> {
    let policy = InspectionPolicy {
        network: state.network()?,
        max_fee: limits.max_fee,
    };
    let wallets = state.wallets()?;
    let candidates: Vec<&RegisteredWallet> = match wanted {
        Some(name) => vec![wallets.iter().find(|w| w.name == name).with_context(|| {
            format!("no registered wallet named {name}: see `sluice-signer wallet list`")
        })?],
        None => claimed_wallets(&psbt, &wallets),
    };
    let txid = psbt.unsigned_tx.compute_txid().to_string();
    let mut first_refusal = None;
    let mut found: Option<(&RegisteredWallet, PsbtReview)> = None;
    for wallet in candidates {
        match inspect_psbt(&psbt, &wallet.descriptor, &policy) {
            Ok(review) => {
                found = Some((wallet, review));
                break;
            }
            Err(refusal) => {
                first_refusal.get_or_insert((wallet.name.clone(), refusal.to_string()));
            }
        }
    }
    let Some((wallet, review)) = found else {
        let (wallet, reason) = first_refusal.unwrap_or_else(|| {
            (
                String::new(),
                "its inputs name no registered wallet's keys".to_owned(),
            )
        });
        return Err(refuse(state, &txid, &wallet, "inspection", reason)?);
    };
    let own = state.own_fingerprint()?;
    match signing::plan(psbt, &wallet.name, &wallet.descriptor, review, own) {
        Ok(plan) => Ok((wallet.clone(), plan)),
        Err(refusal) => Err(refuse(
            state,
            &txid,
            &wallet.name,
            "signing",
            refusal.to_string(),
        )?),
    }
}

fn limits_now(state: &State) -> Result<AssetLimits> {
    let mut limits = state
        .limits(Asset::Btc)?
        .context("no limits for BTC: run `sluice-signer limits init` before inspecting or signing")?;
    limits.limiter.observe(clock::monotonic_now());
    Ok(limits)
}

/// Inspection, signing plan and the limits' verdict, with nothing printed or reserved.
/// Inspection and plan refusals are journaled; a limits refusal is the caller's to
/// journal (an online signer journals a repeated one only once).
pub(crate) fn decide(
    state: &mut State,
    psbt: Psbt,
    wanted: Option<&str>,
) -> Result<(RegisteredWallet, SigningPlan, Decision, AssetLimits)> {
    let limits = limits_now(state)?;
    let (wallet, plan) = check(state, psbt, wanted, &limits)?;
    let already = state.has_reservation(&plan.review().txid.to_string())?;
    let decision = Decision::for_limits(&limits.limiter, plan.review().outflow, already);
    Ok((wallet, plan, decision, limits))
}

/// Reviews and prints; returns what the signer would decide.
fn review_and_print(
    state: &mut State,
    psbt: Psbt,
    wanted: Option<&str>,
) -> Result<(RegisteredWallet, SigningPlan, Decision)> {
    let (wallet, plan, decision, limits) = decide(state, psbt, wanted)?;
    print!(
        "{}",
        review::render(
            plan.review(),
            &wallet.name,
            wallet.descriptor.kind(),
            &limits.limiter,
            &decision
        )
    );
    Ok((wallet, plan, decision))
}

/// A PSBT signed after its outflow was reserved.
pub(crate) struct Signed {
    pub psbt: Psbt,
    pub txid: String,
    pub outflow: bitcoin::Amount,
    pub newly_reserved: bool,
}

/// Reserves the plan's outflow durably, then signs. The keys must be this signer's.
pub(crate) fn reserve_and_sign(
    state: &mut State,
    keys: &keys::KeyMaterial,
    plan: SigningPlan,
) -> Result<Signed> {
    if keys.network() != state.network()? || keys.fingerprint() != state.own_fingerprint()? {
        bail!("the keystore and the state database belong to different signers: refusing to sign");
    }
    let reserved = reservation::reserve(state, plan)?;
    let newly_reserved = reserved.newly_reserved();
    let txid = reserved.review().txid.to_string();
    let outflow = reserved.review().outflow;
    let psbt = signing::sign(reserved, keys, &signing::signing_context())?;
    Ok(Signed {
        psbt,
        txid,
        outflow,
        newly_reserved,
    })
}

/// Journals a released signature.
pub(crate) fn journal_signed(
    state: &mut State,
    signed: &Signed,
    wallet: &str,
    written_to: &str,
) -> Result<()> {
    let tx = state.begin()?;
    state::journal(
        &tx,
        "signed",
        json!({ "txid": signed.txid, "wallet": wallet, "outflow_sat": signed.outflow.to_sat(), "written_to": written_to }),
    )?;
    tx.commit().map_err(StateError::from)?;
    Ok(())
}

pub fn inspect(home: &Home, input: &PsbtInput) -> Result<()> {
    home.require_initialized()?;
    let psbt = read_psbt(input)?;
    let mut state = State::open(&home.state())?;
    review_and_print(&mut state, psbt, input.wallet.as_deref())?;
    Ok(())
}

fn confirm() -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("refusing to sign without confirmation: there is no terminal to ask on; review with `inspect`, then pass --yes");
    }
    print!("Sign? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES"))
}

/// Where the signed PSBT goes, decided before anything is reserved.
enum Destination {
    File(PathBuf),
    Qr(PathBuf),
}

fn destination(args: &SignArgs) -> Result<Destination> {
    match (&args.out_qr, &args.out, &args.psbt.input) {
        (Some(dir), _, _) => Ok(Destination::Qr(dir.clone())),
        (None, Some(path), _) => Ok(Destination::File(path.clone())),
        (None, None, Some(input)) => Ok(Destination::File(sd::default_signed_path(input))),
        (None, None, None) => bail!("give --out FILE or --out-qr DIR for the signed PSBT"),
    }
}

fn write_output(destination: &Destination, signed: &Psbt) -> Result<String> {
    Ok(match destination {
        Destination::Qr(dir) => {
            let frames = qr_io::write_psbt_frames(dir, signed)?;
            println!(
                "Signed PSBT written as {} QR frame(s) in {}: show them to the online machine in order{}.",
                frames.len(),
                dir.display(),
                if frames.len() > 1 { ", looping" } else { "" }
            );
            dir.display().to_string()
        }
        Destination::File(path) => {
            sd::write_psbt_file(path, signed)?;
            println!("Signed PSBT written to {}", path.display());
            path.display().to_string()
        }
    })
}

pub fn sign(home: &Home, passphrase_file: Option<&Path>, args: &SignArgs) -> Result<()> {
    home.require_initialized()?;
    let destination = destination(args)?;
    let psbt = read_psbt(&args.psbt)?;
    let mut state = State::open(&home.state())?;
    let (wallet, plan, decision) = review_and_print(&mut state, psbt, args.psbt.wallet.as_deref())?;
    if let Decision::Refused(reason) = decision {
        let txid = plan.review().txid.to_string();
        return Err(refuse(&mut state, &txid, &wallet.name, "limits", reason)?);
    }
    if !args.yes && !confirm()? {
        bail!("not signed: the operator declined");
    }
    // Unlock before reserving, so a mistyped passphrase consumes no allowance.
    let keys = keys::unlock(home, &passphrase::read(passphrase_file, false)?)?;
    let signed = reserve_and_sign(&mut state, &keys, plan)?;
    drop(keys);
    if !signed.newly_reserved {
        println!("This transaction was reserved before; signing it again consumes no further allowance.");
    }
    let written_to = match write_output(&destination, &signed.psbt) {
        Ok(place) => place,
        Err(error) => {
            // The reservation stands (fail closed); signing the same PSBT again writes it
            // without consuming more allowance.
            let tx = state.begin()?;
            state::journal(
                &tx,
                "output-failed",
                json!({ "txid": signed.txid, "wallet": wallet.name, "error": format!("{error:#}") }),
            )?;
            tx.commit().map_err(StateError::from)?;
            return Err(error.context("signed, but the signed PSBT could not be written; sign the same PSBT again to write it (the allowance is not consumed twice)"));
        }
    };
    journal_signed(&mut state, &signed, &wallet.name, &written_to)
}

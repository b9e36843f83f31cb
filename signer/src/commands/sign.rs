//! `inspect` and `sign`: review a PSBT, then (for `sign`) confirm, reserve, sign, write.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use bitcoin::psbt::Psbt;
use serde_json::json;
use sluice_shared::asset::Asset;
use sluice_shared::inspect::{inspect_psbt, InspectionPolicy, PsbtReview};

use crate::cli::{PsbtInput, SignArgs};
use crate::home::Home;
use crate::state::{self, AssetLimits, RegisteredWallet, State};
use crate::{clock, keys, passphrase, psbt_io, reservation, review, signing};

fn read_psbt(input: &PsbtInput) -> Result<Psbt> {
    match &input.input {
        Some(path) => psbt_io::read_file(path),
        None => psbt_io::read_qr(&input.in_qr),
    }
}

/// The registered wallets the PSBT's inputs claim to spend from (by key fingerprint).
fn claimed_wallets<'a>(psbt: &Psbt, wallets: &'a [RegisteredWallet]) -> Vec<&'a RegisteredWallet> {
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

/// Finds the wallet and inspects; a refusal is journaled before it is returned.
fn inspect_against(
    state: &mut State,
    psbt: &Psbt,
    wanted: Option<&str>,
    limits: &AssetLimits,
) -> Result<(RegisteredWallet, PsbtReview)> {
    let policy = InspectionPolicy {
        network: state.network()?,
        max_fee: limits.max_fee,
    };
    let wallets = state.wallets()?;
    let candidates: Vec<&RegisteredWallet> = match wanted {
        Some(name) => vec![wallets
            .iter()
            .find(|w| w.name == name)
            .with_context(|| format!("no registered wallet named {name}"))?],
        None => claimed_wallets(psbt, &wallets),
    };
    let txid = psbt.unsigned_tx.compute_txid().to_string();
    let mut first_refusal = None;
    for wallet in &candidates {
        match inspect_psbt(psbt, &wallet.descriptor, &policy) {
            Ok(review) => return Ok(((*wallet).clone(), review)),
            Err(refusal) => {
                first_refusal.get_or_insert((wallet.name.clone(), refusal));
            }
        }
    }
    let (wallet, reason) = match first_refusal {
        Some((wallet, refusal)) => (wallet, refusal.to_string()),
        None => (
            String::new(),
            "its inputs spend from no registered wallet".to_owned(),
        ),
    };
    let tx = state.begin()?;
    state::journal(
        &tx,
        "refused",
        json!({ "txid": txid, "wallet": wallet, "rule": "inspection", "reason": reason }),
    )?;
    tx.commit()?;
    bail!("refused: {reason}")
}

fn limits_now(state: &State) -> Result<AssetLimits> {
    let mut limits = state
        .limits(Asset::Btc)?
        .context("no limits for BTC: run `sluice-signer limits init` before signing")?;
    limits.limiter.observe(clock::monotonic_now());
    Ok(limits)
}

/// A PSBT read, inspected against its wallet, and shown to the operator with the limits
/// as they stand now.
struct Reviewed {
    state: State,
    limits: AssetLimits,
    wallet: RegisteredWallet,
    review: PsbtReview,
    psbt: Psbt,
}

fn read_and_review(home: &Home, input: &PsbtInput) -> Result<Reviewed> {
    home.require_initialized()?;
    let psbt = read_psbt(input)?;
    let mut state = State::open(&home.state())?;
    let limits = limits_now(&state)?;
    let (wallet, review) = inspect_against(&mut state, &psbt, input.wallet.as_deref(), &limits)?;
    print!(
        "{}",
        review::render(
            &review,
            &wallet.name,
            wallet.descriptor.kind(),
            Some(&limits.limiter)
        )
    );
    Ok(Reviewed {
        state,
        limits,
        wallet,
        review,
        psbt,
    })
}

pub fn inspect(home: &Home, input: &PsbtInput) -> Result<()> {
    read_and_review(home, input).map(|_| ())
}

fn confirm() -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("refusing to sign without confirmation: there is no terminal to ask on; pass --yes");
    }
    print!("Sign? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES"))
}

/// Where the signed PSBT goes, decided before anything is reserved.
enum Destination {
    File(std::path::PathBuf),
    Qr(std::path::PathBuf),
}

fn destination(args: &SignArgs) -> Result<Destination> {
    match (&args.out_qr, &args.out, &args.psbt.input) {
        (Some(dir), _, _) => Ok(Destination::Qr(dir.clone())),
        (None, Some(path), _) => Ok(Destination::File(path.clone())),
        (None, None, Some(input)) => Ok(Destination::File(psbt_io::default_signed_path(input))),
        (None, None, None) => bail!("give --out FILE or --out-qr DIR for the signed PSBT"),
    }
}

pub fn sign(home: &Home, passphrase_file: Option<&Path>, args: &SignArgs) -> Result<()> {
    let destination = destination(args)?;
    let Reviewed {
        mut state,
        limits,
        wallet,
        review,
        psbt,
    } = read_and_review(home, &args.psbt)?;
    let already = state.has_reservation(&review.txid.to_string())?;
    let fits = already || limits.limiter.check(review.outflow).is_ok();
    if fits && !args.yes && !confirm()? {
        bail!("not signed: the operator declined");
    }
    // Unlock before reserving, so a mistyped passphrase consumes no allowance.
    let keys = keys::unlock(home, &passphrase::read(passphrase_file, false)?)?;
    if keys.network() != state.network()? {
        bail!("the keystore and the state database disagree about the network: refusing to sign");
    }
    let reserved = reservation::reserve(&mut state, &wallet.name, psbt, review)?;
    if !reserved.newly_reserved() {
        println!("This transaction was reserved before; signing it again consumes no further allowance.");
    }
    let txid = reserved.review().txid.to_string();
    let outflow = reserved.review().outflow;
    let signed = signing::sign(reserved, &keys, &signing::signing_context())?;
    let written_to = match destination {
        Destination::Qr(dir) => {
            let frames = psbt_io::write_qr(&dir, &signed)?;
            println!(
                "Signed PSBT written as {} QR frame(s) in {}",
                frames.len(),
                dir.display()
            );
            dir.display().to_string()
        }
        Destination::File(path) => {
            psbt_io::write_file(&path, &signed)?;
            println!("Signed PSBT written to {}", path.display());
            path.display().to_string()
        }
    };
    let tx = state.begin()?;
    state::journal(
        &tx,
        "signed",
        json!({ "txid": txid, "wallet": wallet.name, "outflow_sat": outflow.to_sat(), "written_to": written_to }),
    )?;
    tx.commit()?;
    Ok(())
}

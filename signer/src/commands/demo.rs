//! `demo`: the cold signer end to end, in a throwaway directory, through the real code
//! paths (each step is the command an operator would type, run by this same binary).
//!
//! The coins are made up (no chain is involved until the coordinator exists): the PSBTs
//! are built the way the coordinator builds them, spending transactions that exist only
//! in this run. A second signer (cosigner B) runs as a separate process so the 2-of-3
//! withdrawal can be finalized and checked with Bitcoin Core's script interpreter.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use bitcoin::absolute::LockTime;
use bitcoin::bip32::{DerivationPath, Xpriv, Xpub};
use bitcoin::hashes::{hash160, Hash};
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::{Keypair, Secp256k1};
use bitcoin::{Amount, Network, OutPoint, ScriptBuf, WPubkeyHash};
use clap::Parser;
use rand::RngCore;
use sluice_shared::descriptor::{Branch, WalletDescriptor};
use sluice_shared::finalize::{combine, finalize};
use sluice_shared::psbt_builder::{build_psbt, fake_funding_tx, SpendableCoin};
use sluice_shared::psbt_v2::PsbtVersion;

use crate::cli::Cli;
use crate::{keys, qr_io, sd};

const NETWORK: Network = Network::Regtest;
const ACCOUNT: &str = "84h/1h/0h";
/// Every demo withdrawal pays this fee.
const FEE: Amount = Amount::from_sat(2_000);

fn step(title: &str) {
    println!("\n======== {title}");
}

fn note(text: &str) {
    println!("  ({text})");
}

/// A random master key, as a cosigner's seed would give.
fn random_master() -> Result<Xpriv> {
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(seed.as_mut());
    Ok(Xpriv::new_master(NETWORK, seed.as_ref())?)
}

/// A payment to a made-up customer address.
fn customer_script(name: &str) -> ScriptBuf {
    let hash = hash160::Hash::hash(name.as_bytes());
    ScriptBuf::new_p2wpkh(&WPubkeyHash::from_raw_hash(hash))
}

/// A withdrawal PSBT paying `pay`, spending a made-up 1 BTC coin at receive index `n`.
fn withdrawal(wallet: &WalletDescriptor, n: u32, pay: Amount) -> Result<Psbt> {
    let coin_value = Amount::ONE_BTC;
    let prev_tx = fake_funding_tx(wallet.script_pubkey(Branch::Receive, n)?, &[coin_value], n);
    let coin = SpendableCoin {
        outpoint: OutPoint {
            txid: prev_tx.compute_txid(),
            vout: 0,
        },
        prev_tx,
        branch: Branch::Receive,
        index: n,
    };
    let change = coin_value
        .checked_sub(pay + FEE)
        .context("the demo pays less than its coin")?;
    Ok(build_psbt(
        wallet,
        &[coin],
        &[(customer_script(&format!("customer {n}")), pay)],
        Some((n, change)),
        LockTime::ZERO,
    )?)
}

struct Demo {
    dir: PathBuf,
}

impl Demo {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn global_args(&self, home: &str) -> Vec<String> {
        vec![
            "--home".to_owned(),
            self.path(home).display().to_string(),
            "--passphrase-file".to_owned(),
            self.path("passphrase").display().to_string(),
        ]
    }

    /// Runs one of our signer's commands in this process, showing it as typed.
    fn ours(&self, args: &[&str]) -> Result<()> {
        let shown: Vec<String> = args
            .iter()
            .map(|a| {
                let a = a.replace(&format!("{}/", self.dir.display()), "");
                if a.contains(|c: char| "()<>;*[] ".contains(c)) {
                    format!("'{a}'")
                } else {
                    a
                }
            })
            .collect();
        println!("\n$ sluice-signer {}", shown.join(" "));
        let mut argv = vec!["sluice-signer".to_owned()];
        argv.extend(self.global_args("signer"));
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        super::run(Cli::try_parse_from(argv)?)
    }

    /// Runs a command that must be refused, and shows the refusal.
    fn ours_refused(&self, args: &[&str], expect: &str) -> Result<()> {
        match self.ours(args) {
            Ok(()) => bail!("the demo expected a refusal ({expect}) but the signer signed"),
            Err(error) => {
                let text = format!("{error:#}");
                println!("error: {text}");
                if !text.contains(expect) {
                    bail!("the demo expected a refusal mentioning {expect:?}");
                }
                Ok(())
            }
        }
    }

    /// Runs a command of cosigner B's signer: another process, as on another machine.
    fn cosigner(&self, args: &[&str]) -> Result<String> {
        let exe = std::env::current_exe().context("finding this program to run cosigner B")?;
        let out = Command::new(exe)
            .args(self.global_args("cosigner-b"))
            .args(args)
            .output()
            .context("running cosigner B")?;
        if !out.status.success() {
            bail!(
                "cosigner B: {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

pub fn run(keep: bool) -> Result<()> {
    let temp = tempfile::Builder::new()
        .prefix("sluice-demo-")
        .tempdir()
        .context("making the demo directory")?;
    let demo = Demo {
        dir: temp.path().to_path_buf(),
    };
    println!("Sluice cold-signer demo, in {}", demo.dir.display());
    println!("DEMO ONLY: throwaway regtest keys, keystores sealed with --dangerous-weak-kdf, made-up coins.");
    println!("Every command runs with --home DIR/signer --passphrase-file DIR/passphrase.");
    std::fs::write(demo.path("passphrase"), "demo passphrase\n")?;
    let result = walk_through(&demo);
    if keep {
        let kept = temp.keep();
        println!("\nKept the demo directory: {}", kept.display());
    }
    result
}

fn walk_through(demo: &Demo) -> Result<()> {
    let secp = Secp256k1::new();
    step("1. Set up the signer (the seed words are shown once)");
    let officers: Vec<Keypair> = (0..3)
        .map(|_| Keypair::new(&secp, &mut rand::rngs::OsRng))
        .collect();
    note("three security officers' public keys; 2 of them must sign any limit command");
    let officer_hex: Vec<String> = officers
        .iter()
        .map(|k| k.x_only_public_key().0.to_string())
        .collect();
    let mut init = vec!["init", "--network", "regtest", "--dangerous-weak-kdf"];
    for key in &officer_hex {
        init.extend(["--officer-key", key.as_str()]);
    }
    init.extend(["--officer-threshold", "2"]);
    demo.ours(&init)?;
    demo.ours(&["xpub", "--path", ACCOUNT])?;

    step("2. Register a 2-of-3 wallet: this signer (A) and two cosigners, B and C");
    let account: DerivationPath = keys::parse_path(ACCOUNT)?;
    let ours = keys::unlock(
        &crate::home::Home::new(demo.path("signer")),
        &crate::passphrase::read(Some(&demo.path("passphrase")), false)?,
    )?
    .key_expression(&account)?;
    let b_master = random_master()?;
    std::fs::write(demo.path("cosigner-b.tprv"), b_master.to_string())?;
    let b_file = demo.path("cosigner-b.tprv").display().to_string();
    demo.cosigner(&[
        "init",
        "--network",
        "regtest",
        "--from-xprv-file",
        &b_file,
        "--dangerous-weak-kdf",
    ])?;
    let b_key = demo.cosigner(&["xpub", "--path", ACCOUNT])?.trim().to_owned();
    let c_master = random_master()?;
    let c_xpub = Xpub::from_priv(&secp, &c_master.derive_priv(&secp, &account)?);
    let c_key = format!("[{}/{ACCOUNT}]{c_xpub}", c_master.fingerprint(&secp));
    let descriptor = format!("wsh(sortedmulti(2,{ours}/<0;1>/*,{b_key}/<0;1>/*,{c_key}/<0;1>/*))");
    note("the coordinator composes this descriptor from the three exported xpubs");
    demo.ours(&[
        "wallet",
        "register",
        "--name",
        "vault",
        "--descriptor",
        &descriptor,
    ])?;
    demo.cosigner(&[
        "wallet",
        "register",
        "--name",
        "vault",
        "--descriptor",
        &descriptor,
    ])?;
    let wallet = WalletDescriptor::parse(&descriptor, None)?;

    step("3. Set the limits: 0.5 BTC burst refilling 0.01 BTC a minute, 0.6 BTC in total");
    demo.ours(&[
        "limits",
        "init",
        "--asset",
        "BTC",
        "--rate",
        "0.01",
        "--per-seconds",
        "60",
        "--burst",
        "0.5",
        "--total",
        "0.6",
        "--max-fee",
        "0.001",
    ])?;
    demo.cosigner(&[
        "limits",
        "init",
        "--rate",
        "1",
        "--per-seconds",
        "60",
        "--burst",
        "1",
        "--total",
        "10",
    ])?;

    step("4. Sign a withdrawal from an SD card: 0.3 BTC to a customer");
    let first = demo.path("withdrawal-1.psbt");
    sd::write_psbt_file(
        &first,
        &withdrawal(&wallet, 1, Amount::from_sat(30_000_000))?,
        &PsbtVersion::V0,
    )?;
    note("the coordinator wrote withdrawal-1.psbt onto the card");
    demo.ours(&["sign", "--in", &first.display().to_string(), "--yes"])?;
    let b_signed = demo.path("withdrawal-1-b.psbt").display().to_string();
    demo.cosigner(&[
        "sign",
        "--in",
        &first.display().to_string(),
        "--out",
        &b_signed,
        "--yes",
    ])?;
    note("cosigner B signed the same PSBT on its own machine");
    let signed = [
        sd::read_psbt_file(&demo.path("withdrawal-1-signed.psbt"))?.0,
        sd::read_psbt_file(Path::new(&b_signed))?.0,
    ];
    let tx = finalize(&combine(&signed)?)?;
    println!(
        "  2 of 3 signatures combined and finalized: transaction {} passes {}.",
        tx.compute_txid(),
        sluice_shared::consensus::SCRIPT_CHECKER
    );

    step("5. Sign by QR code: 0.15 BTC, the PSBT shown as QR frames and the signature returned the same way");
    let frames_in = qr_io::write_psbt_frames(
        &demo.path("qr-in"),
        &withdrawal(&wallet, 2, Amount::from_sat(15_000_000))?,
        &PsbtVersion::V0,
    )?;
    note(&format!(
        "the online machine shows {} QR frame(s); the signer's camera saved them as images",
        frames_in.len()
    ));
    let mut args = vec!["sign".to_owned(), "--yes".to_owned(), "--out-qr".to_owned()];
    args.push(demo.path("qr-out").display().to_string());
    args.push("--in-qr".to_owned());
    args.extend(frames_in.iter().map(|f| f.display().to_string()));
    demo.ours(&args.iter().map(String::as_str).collect::<Vec<_>>())?;
    let frames_out: Vec<PathBuf> = {
        let mut f: Vec<PathBuf> = std::fs::read_dir(demo.path("qr-out"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        f.sort();
        f
    };
    let (back, _) = qr_io::read_psbt_images(&frames_out)?;
    let signatures: usize = back.inputs.iter().map(|i| i.partial_sigs.len()).sum();
    note(&format!(
        "the online machine scanned the {} frame(s) back: a PSBT with {signatures} signature(s) of this signer",
        frames_out.len()
    ));

    step("6. A refusal by the rate limit: 0.1 BTC, but the bucket holds about 0.05 BTC");
    let third = demo.path("withdrawal-3.psbt");
    sd::write_psbt_file(
        &third,
        &withdrawal(&wallet, 3, Amount::from_sat(10_000_000))?,
        &PsbtVersion::V0,
    )?;
    demo.ours_refused(
        &["sign", "--in", &third.display().to_string(), "--yes"],
        "rate limit",
    )?;
    note("nothing was written: withdrawal-3-signed.psbt does not exist; the bucket refills with time");

    step("7. A refusal when the total is spent: 0.2 BTC, with about 0.15 BTC of the total left");
    let fourth = demo.path("withdrawal-4.psbt");
    sd::write_psbt_file(
        &fourth,
        &withdrawal(&wallet, 4, Amount::from_sat(20_000_000))?,
        &PsbtVersion::V0,
    )?;
    demo.ours_refused(
        &["sign", "--in", &fourth.display().to_string(), "--yes"],
        "signed limit command",
    )?;
    note(
        "only a raise-total command signed by 2 of the 3 officers (limitctl, then `limits apply`) lifts this",
    );

    step("8. The record");
    demo.ours(&["limits", "show"])?;
    demo.ours(&["journal", "verify"])?;
    if demo.path("withdrawal-3-signed.psbt").exists() || demo.path("withdrawal-4-signed.psbt").exists() {
        bail!("a refused withdrawal was written out");
    }
    println!("\nDone: two withdrawals signed (SD card and QR), two refused by the limits, every decision journaled.");
    Ok(())
}

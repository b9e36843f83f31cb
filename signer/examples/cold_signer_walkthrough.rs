//! The cold-signer walkthrough: the README's main job until the coordinator exists.
//!
//! Runs the real `sluice-signer` commands (the same library code the binary calls) in a
//! temporary directory: three signers make seeds, a 2-of-3 wallet is composed from their
//! xpubs and registered, limits are set, a withdrawal is signed from an SD-card file by
//! one signer and from animated QR frames by another, the two signatures finalize into a
//! transaction Bitcoin Core's interpreter accepts, and the limits then refuse: first the
//! rate, then the total ("a signed limit command is needed").
//!
//! The coins spent here are made up (no chain is involved yet): the PSBTs are built the
//! way the coordinator will build them, from transactions that exist only in this run.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a walkthrough: a panic is a failure report

use std::path::{Path, PathBuf};

use anyhow::Result;
use bitcoin::absolute::LockTime;
use bitcoin::{Amount, ScriptBuf};
use clap::Parser;
use sluice_shared::descriptor::WalletDescriptor;
use sluice_shared::finalize::{combine, finalize};
use sluice_shared::psbt_builder::{build_psbt, fake_coins};
use sluice_signer::cli::Cli;

struct Signer {
    home: PathBuf,
    pass: PathBuf,
}

impl Signer {
    fn run(&self, args: &[&str]) -> Result<()> {
        let mut argv = vec![
            "sluice-signer",
            "--home",
            self.home.to_str().unwrap(),
            "--passphrase-file",
            self.pass.to_str().unwrap(),
        ];
        argv.extend_from_slice(args);
        println!("\n$ sluice-signer {}", args.join(" "));
        sluice_signer::commands::run(Cli::parse_from(argv))
    }
}

fn step(title: &str) {
    println!("\n==== {title} ====");
}

fn xpub_of(signer: &Signer) -> String {
    // What `sluice-signer xpub --path 84h/1h/0h` prints, captured for composing the wallet.
    let keys = sluice_signer::keys::unlock(
        &sluice_signer::home::Home::new(&signer.home),
        &secrecy::SecretString::from(std::fs::read_to_string(&signer.pass).unwrap().trim().to_owned()),
    )
    .unwrap();
    let xpub = keys.xpub_at(&"m/84h/1h/0h".parse().unwrap()).unwrap();
    format!("[{}/84h/1h/0h]{}", keys.fingerprint(), xpub)
}

fn withdrawal(wallet: &WalletDescriptor, coin_value: Amount, pay: Amount, salt: u32, path: &Path) {
    let coins = fake_coins(wallet, 1, coin_value, salt).unwrap();
    let customer = ScriptBuf::from_hex("0014d85c2b71d0060b09c9886aeb815e50991dda124d").unwrap();
    let fee = Amount::from_sat(1_500);
    let psbt = build_psbt(
        wallet,
        &coins,
        &[(customer, pay)],
        Some((salt, coin_value - pay - fee)),
        LockTime::ZERO,
    )
    .unwrap();
    std::fs::write(path, psbt.serialize()).unwrap();
}

fn main() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let pass = dir.path().join("passphrase");
    std::fs::write(&pass, "walkthrough passphrase\n")?;
    let signers: Vec<Signer> = ["cold-a", "online-b", "online-c"]
        .iter()
        .map(|name| Signer {
            home: dir.path().join(name),
            pass: pass.clone(),
        })
        .collect();

    step("1. Three signers create their seeds (each shown once, to be written on paper)");
    for s in &signers {
        s.run(&["init", "--network", "regtest"])?;
    }

    step("2. The coordinator composes a 2-of-3 wallet from their xpubs; two signers register it");
    let keys: Vec<String> = signers.iter().map(xpub_of).collect();
    let descriptor = format!(
        "wsh(sortedmulti(2,{}/<0;1>/*,{}/<0;1>/*,{}/<0;1>/*))",
        keys[0], keys[1], keys[2]
    );
    let wallet = WalletDescriptor::parse(&descriptor, None)?;
    for s in &signers[..2] {
        s.run(&[
            "wallet",
            "register",
            "--name",
            "treasury",
            "--descriptor",
            &descriptor,
        ])?;
    }

    step("3. Each signer gets its own limits: 0.04 BTC per minute, burst 0.5 BTC, total 0.8 BTC");
    for s in &signers[..2] {
        s.run(&[
            "limits",
            "init",
            "--rate",
            "0.04",
            "--per-seconds",
            "60",
            "--burst",
            "0.5",
            "--total",
            "0.8",
        ])?;
    }

    step("4. A 0.3 BTC withdrawal arrives on an SD card as withdrawal-1.psbt; the cold signer reviews and signs");
    let sd = dir.path().join("sd-card");
    std::fs::create_dir_all(&sd)?;
    let w1 = sd.join("withdrawal-1.psbt");
    withdrawal(&wallet, Amount::from_btc(1.0)?, Amount::from_btc(0.3)?, 1, &w1);
    signers[0].run(&["sign", "--yes", "--in", w1.to_str().unwrap()])?;

    step("5. The second signer receives the same PSBT as animated QR frames and answers in QR");
    let frames_in = dir.path().join("qr-in");
    std::fs::create_dir_all(&frames_in)?;
    let psbt = bitcoin::psbt::Psbt::deserialize(&std::fs::read(&w1)?)?;
    let mut images = Vec::new();
    for (i, part) in sluice_shared::ur_psbt::encode_parts(&psbt.serialize(), 120)
        .iter()
        .enumerate()
    {
        let image = frames_in.join(format!("frame-{:03}.png", i + 1));
        std::fs::write(&image, sluice_shared::qr::render_png(part, 4)?)?;
        images.push(image.to_str().unwrap().to_owned());
    }
    println!(
        "(the coordinator showed {} QR frames; the camera captured them as PNG files)",
        images.len()
    );
    let frames_out = dir.path().join("qr-out");
    let mut args = vec![
        "sign",
        "--yes",
        "--out-qr",
        frames_out.to_str().unwrap(),
        "--in-qr",
    ];
    args.extend(images.iter().map(String::as_str));
    signers[1].run(&args)?;

    step("6. Two signatures of three: finalize and check every input with Bitcoin Core's interpreter");
    let from_sd = bitcoin::psbt::Psbt::deserialize(&std::fs::read(sd.join("withdrawal-1-signed.psbt"))?)?;
    let mut decoder = sluice_shared::ur_psbt::PsbtPartDecoder::new();
    let mut frames: Vec<_> = std::fs::read_dir(&frames_out)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    frames.sort();
    for frame in frames {
        for text in sluice_shared::qr::decode_image_bytes(&std::fs::read(frame)?)? {
            decoder.receive(&text)?;
        }
    }
    let from_qr = bitcoin::psbt::Psbt::deserialize(&decoder.psbt_bytes()?)?;
    let tx = finalize(&combine(&[from_sd, from_qr])?)?;
    println!(
        "Transaction {} is complete and valid ({} vbytes).",
        tx.compute_txid(),
        tx.vsize()
    );

    step("7. Another 0.3 BTC at once: the cold signer's rate bucket has only ~0.2 BTC left");
    let w2 = sd.join("withdrawal-2.psbt");
    withdrawal(&wallet, Amount::from_btc(1.0)?, Amount::from_btc(0.3)?, 2, &w2);
    if let Err(e) = signers[0].run(&["sign", "--yes", "--in", w2.to_str().unwrap()]) {
        println!("REFUSED (as it should be): {e:#}");
    }

    step("8. A 0.19 BTC withdrawal fits the bucket; then the 0.8 BTC total is nearly spent");
    let w3 = sd.join("withdrawal-3.psbt");
    withdrawal(&wallet, Amount::from_btc(1.0)?, Amount::from_btc(0.19)?, 3, &w3);
    signers[0].run(&["sign", "--yes", "--in", w3.to_str().unwrap()])?;
    signers[0].run(&["limits", "show"])?;
    let w4 = sd.join("withdrawal-4.psbt");
    withdrawal(&wallet, Amount::from_btc(1.0)?, Amount::from_btc(0.4)?, 4, &w4);
    println!("(even after the bucket refills, 0.4 BTC exceeds the remaining total)");
    if let Err(e) = signers[0].run(&["sign", "--yes", "--in", w4.to_str().unwrap()]) {
        println!("REFUSED (as it should be): {e:#}");
    }

    step("9. Every decision is in the hash-chained journal");
    signers[0].run(&["journal", "verify"])?;
    signers[0].run(&["journal", "show"])?;
    println!("\nWalkthrough complete. Next: docs/cold-wallet-operator-guide.md");
    Ok(())
}

//! Signing throughput: inspection + signing plan + signature for 1-, 10-, 100- and 1,000-input PSBTs of each
//! wallet kind, and the whole `sluice-signer sign` command on a 100-input PSBT
//! (process start, keystore unlock with the recommended Argon2id, inspection, durable
//! reservation, signing, atomic write). Results: docs/benchmarks.md.
#![allow(clippy::unwrap_used, missing_docs)] // benchmark: a panic is a failure report

use std::str::FromStr;
use std::time::Duration;

use bitcoin::absolute::LockTime;
use bitcoin::bip32::Xpriv;
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::Secp256k1;
use bitcoin::{Amount, Network, ScriptBuf};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sluice_shared::descriptor::WalletDescriptor;
use sluice_shared::inspect::{inspect_psbt, ChangeIndexBound, InspectionPolicy};
use sluice_shared::psbt_builder::{build_psbt, fake_coins};
use sluice_signer::signing;

const TPRV_A: &str = "tprv8ZgxMBicQKsPdjiV4AkC8QKCmSAPfkTGr7YiqpauMqHNgeQ15bdbNo7V5p6YPYGaTbTJCAyXV1yAAPBypoTfe9xLpwb8k9fbHftu3NdykuA";
const A: &str = "[1bbaa5fe/84h/1h/0h]tpubDDHx3CNs1F7LipoKW8ccMFNJsXJ6WYLFubNaCYLZtBX6G2GsQ7EJgbuecqwXfQtLKzxt2Kn8vJkxEWeQNto3deB7JCHdKHuRJMcYMDFABwi";
const B: &str = "[72408740/84h/1h/0h]tpubDDK8J3o2xAQqa14ubD5UW9ztUMRnpPKYNnCE6T8UChumFXApW4fX4ziePYbgH8kT63xpRviLH7ZNVzaZzAZ8nhwjzFVdT9mWdqZajmTCfv2";
const C: &str = "[3429876a/84h/1h/0h]tpubDCRy5oJLbB3etWH8sirNRUhtdp5GqhNPChRnpe8GMuze9NbgQeagn6icEf1moF2xpxiE2b5V5w2PQyBiifkjLQmfGfqbgSAXDbpegWj9V3s/<0;1>/*";

fn wallets() -> Vec<(&'static str, WalletDescriptor)> {
    vec![
        (
            "wpkh",
            WalletDescriptor::parse(&format!("wpkh({A}/<0;1>/*)"), None).unwrap(),
        ),
        (
            "wsh-2of3",
            WalletDescriptor::parse(&format!("wsh(sortedmulti(2,{A}/<0;1>/*,{B}/<0;1>/*,{C}))"), None)
                .unwrap(),
        ),
        (
            "tr",
            WalletDescriptor::parse(&format!("tr({A}/<0;1>/*)"), None).unwrap(),
        ),
    ]
}

fn psbt(wallet: &WalletDescriptor, inputs: u32, salt: u32) -> Psbt {
    let coins = fake_coins(wallet, inputs, Amount::from_sat(1_000_000), salt).unwrap();
    let total = Amount::from_sat(1_000_000 * u64::from(inputs));
    let outside = ScriptBuf::from_hex("0014000102030405060708090a0b0c0d0e0f10111213").unwrap();
    let fee = Amount::from_sat(200 * u64::from(inputs) + 200);
    build_psbt(
        wallet,
        &coins,
        &[(outside, total / 2)],
        Some((0, total / 2 - fee)),
        LockTime::ZERO,
    )
    .unwrap()
}

fn signing(c: &mut Criterion) {
    let key = Xpriv::from_str(TPRV_A).unwrap();
    let secp = Secp256k1::new();
    let fingerprint = key.fingerprint(&secp);
    let policy = InspectionPolicy {
        network: Network::Regtest,
        max_fee: Amount::from_btc(1.0).unwrap(),
        change_bound: ChangeIndexBound::with_default_gap(None),
    };
    let mut group = c.benchmark_group("inspect+sign");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    for (name, wallet) in wallets() {
        for inputs in [1u32, 10, 100, 1000] {
            let unsigned = psbt(&wallet, inputs, 1);
            group.throughput(Throughput::Elements(u64::from(inputs)));
            group.bench_function(format!("{name}/{inputs}-inputs"), |b| {
                b.iter_batched(
                    || unsigned.clone(),
                    |p| {
                        // What `sign` does in memory: inspection, the signing plan, the
                        // account keys for the planned paths, and the signatures.
                        let inspected = inspect_psbt(&p, &wallet, &policy).unwrap();
                        let plan = signing::plan(inspected, name, fingerprint).unwrap();
                        let keys = signing::AccountKeys::new(&key, plan.key_paths(), &secp).unwrap();
                        let mut p = plan.into_psbt();
                        signing::sign_inputs(&mut p, &keys, &secp).unwrap();
                        p
                    },
                    BatchSize::SmallInput,
                )
            });
        }
    }
    group.finish();
}

fn whole_command(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "benchmark passphrase\n").unwrap();
    std::fs::write(dir.path().join("a.tprv"), TPRV_A).unwrap();
    let bin = env!("CARGO_BIN_EXE_sluice-signer");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin)
            .arg("--home")
            .arg(&home)
            .arg("--passphrase-file")
            .arg(&pass)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let tprv = dir.path().join("a.tprv");
    run(&[
        "init",
        "--network",
        "regtest",
        "--from-xprv-file",
        tprv.to_str().unwrap(),
    ]); // recommended Argon2id
    let (_, wallet) = wallets().remove(1);
    run(&[
        "wallet",
        "register",
        "--name",
        "vault",
        "--descriptor",
        &wallet.receive().to_string(),
        "--change-descriptor",
        &wallet.change().to_string(),
    ]);
    run(&[
        "limits",
        "init",
        "--rate",
        "1000000",
        "--per-seconds",
        "1",
        "--burst",
        "1000000",
        "--total",
        "20000000",
    ]);
    let mut salt = 100;
    let mut group = c.benchmark_group("sign-command");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(1));
    group.bench_function("wsh-2of3/100-inputs", |b| {
        b.iter_batched(
            || {
                salt += 1;
                let path = dir.path().join(format!("b{salt}.psbt"));
                std::fs::write(&path, psbt(&wallet, 100, salt).serialize()).unwrap();
                path
            },
            |path| run(&["sign", "--yes", "--in", path.to_str().unwrap()]),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, signing, whole_command);
criterion_main!(benches);

//! The floor (one libsecp256k1 ECDSA signature, plain and low-R); signing throughput:
//! inspection + signing plan + signature for 1-, 10-, 100- and 1,000-input PSBTs of each
//! wallet kind, and the whole `sluice-signer sign` command on a 100-input PSBT
//! (process start, keystore unlock with the recommended Argon2id, inspection, durable
//! reservation, signing, atomic write), and that command's peak memory on 100- and
//! 1,000-input PSBTs. Results: docs/benchmarks.md.
#![allow(clippy::unwrap_used, missing_docs)] // benchmark: a panic is a failure report

use std::str::FromStr;
use std::time::Duration;

use bitcoin::bip32::Xpriv;
use bitcoin::hashes::Hash;
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::Secp256k1;
use bitcoin::{Amount, Network};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sluice_shared::derived_keys::DerivedKeys;
use sluice_shared::descriptor::WalletDescriptor;
use sluice_shared::inspect::{derive_claimed_keys, inspect_psbt, ChangeIndexBound, InspectionPolicy};
use sluice_shared::psbt_builder::sample_spend;
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
    sample_spend(wallet, inputs, salt).unwrap()
}

fn signing(c: &mut Criterion) {
    let key = Xpriv::from_str(TPRV_A).unwrap();
    let secp = Secp256k1::new();
    // One master key for all iterations, as an online signer holds it: its branch keys
    // are derived by the first iteration (a warm-up) and kept, so each figure is the
    // steady state of a running signer. The first PSBT of a process pays the hardened
    // derivation on top (the peer benchmark and the whole-command figures include it).
    let master = signing::MasterKey::new(key);
    let fingerprint = master.fingerprint();
    let policy = InspectionPolicy {
        network: Network::Regtest,
        max_fee: Amount::from_btc(1.0).unwrap(),
        change_bound: ChangeIndexBound::with_default_gap(None),
    };
    // Warm: the wallet's derived public keys are in the process's table (the warm-up
    // iteration puts them there), as a running online signer finds them after deriving
    // ahead between polls. Cold: the table is emptied before each iteration (untimed), as
    // in a one-shot `sign` command or for indexes never seen.
    // All cores: the cold case as `sign` runs it, the claimed keys derived and the
    // signatures made on every core this process may use; the other two groups use one.
    let table = DerivedKeys::global();
    let cores = signing::available_threads();
    for (group_name, cold, threads) in [
        ("inspect+sign", false, 1),
        ("inspect+sign-cold-keys", true, 1),
        ("inspect+sign-cold-keys-all-cores", true, cores),
    ] {
        let mut group = c.benchmark_group(group_name);
        group
            .sample_size(20)
            .measurement_time(Duration::from_secs(4))
            .warm_up_time(Duration::from_secs(1));
        for (name, wallet) in wallets() {
            if cold && name == "tr" {
                continue;
            }
            for inputs in [1u32, 10, 100, 1000] {
                if cold && inputs == 10 || threads > 1 && inputs == 1 {
                    continue;
                }
                let unsigned = variants(&wallet, inputs);
                let mut next = 0;
                group.throughput(Throughput::Elements(u64::from(inputs)));
                group.bench_function(format!("{name}/{inputs}-inputs"), |b| {
                    b.iter_batched(
                        || {
                            if cold {
                                table.clear();
                            }
                            next = (next + 1) % unsigned.len();
                            unsigned[next].clone()
                        },
                        |p| {
                            // What `sign` does in memory: inspection, the signing plan, the
                            // account keys for the planned paths (kept branch keys), and the
                            // signatures.
                            if threads > 1 {
                                derive_claimed_keys(&p, &wallet, threads);
                            }
                            let inspected = inspect_psbt(&p, &wallet, &policy).unwrap();
                            let plan = signing::plan(inspected, name, fingerprint).unwrap();
                            let keys = signing::AccountKeys::new(&master, plan.key_paths(), &secp).unwrap();
                            let mut p = plan.into_psbt();
                            signing::sign_inputs(&mut p, &keys, &secp, threads).unwrap();
                            p
                        },
                        // Cold: the table is emptied right before each timed iteration.
                        if cold {
                            BatchSize::PerIteration
                        } else {
                            BatchSize::SmallInput
                        },
                    )
                });
            }
        }
        group.finish();
    }
}

/// PSBTs of `inputs` inputs to sign in turn: a low-R signature takes one signing attempt
/// or several depending on the message, so a single PSBT signed over and over measures
/// its own luck (one 1-input PSBT took 40 µs, another 84). Sixteen different 1-input
/// PSBTs, four of 10 inputs, one of 100 or 1,000 (their inputs average it out).
fn variants(wallet: &WalletDescriptor, inputs: u32) -> Vec<Psbt> {
    let count = match inputs {
        1 => 16,
        10 => 4,
        _ => 1,
    };
    (1..=count).map(|salt| psbt(wallet, inputs, salt)).collect()
}

/// The floor the per-input figures compare with (issue 14 item 2): one ECDSA signature of
/// a 32-byte message with libsecp256k1, plain (RFC 6979 nonce) and low-R (grinded until R's
/// high bit is clear, as Sluice, Bitcoin Core and BDK sign: two attempts on average).
fn floor(c: &mut Criterion) {
    let secp = Secp256k1::new();
    let key = Xpriv::from_str(TPRV_A).unwrap().private_key;
    let mut group = c.benchmark_group("floor");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    let mut counter = 0u64;
    let mut message = || {
        counter += 1;
        let digest = bitcoin::hashes::sha256::Hash::hash(&counter.to_le_bytes());
        bitcoin::secp256k1::Message::from_digest(digest.to_byte_array())
    };
    group.bench_function("ecdsa-signature", |b| {
        b.iter_batched(&mut message, |m| secp.sign_ecdsa(&m, &key), BatchSize::SmallInput)
    });
    group.bench_function("ecdsa-low-r-signature", |b| {
        b.iter_batched(
            &mut message,
            |m| secp.sign_ecdsa_low_r(&m, &key),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// A signer home (regtest, recommended Argon2id, the wsh 2-of-3 wallet registered, high
/// limits) and the real binary to run in it.
struct SignerHome {
    dir: tempfile::TempDir,
    wallet: WalletDescriptor,
}

impl SignerHome {
    fn new() -> SignerHome {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pass"), "benchmark passphrase\n").unwrap();
        std::fs::write(dir.path().join("a.tprv"), TPRV_A).unwrap();
        let (_, wallet) = wallets().remove(1);
        let home = SignerHome { dir, wallet };
        let tprv = home.dir.path().join("a.tprv");
        home.run(&[
            "init",
            "--network",
            "regtest",
            "--from-xprv-file",
            tprv.to_str().unwrap(),
        ]); // recommended Argon2id
        home.run(&[
            "wallet",
            "register",
            "--name",
            "vault",
            "--descriptor",
            &home.wallet.receive().to_string(),
            "--change-descriptor",
            &home.wallet.change().to_string(),
        ]);
        home.run(&[
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
        home
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_sluice-signer"));
        command
            .arg("--home")
            .arg(self.dir.path().join("home"))
            .arg("--passphrase-file")
            .arg(self.dir.path().join("pass"))
            .args(args);
        command
    }

    fn run(&self, args: &[&str]) {
        let out = self.command(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A fresh PSBT of `inputs` inputs for the registered wallet, written to a file.
    fn psbt_file(&self, inputs: u32, salt: u32) -> std::path::PathBuf {
        let path = self.dir.path().join(format!("b{salt}.psbt"));
        std::fs::write(&path, psbt(&self.wallet, inputs, salt).serialize()).unwrap();
        path
    }
}

fn whole_command(c: &mut Criterion) {
    let home = SignerHome::new();
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
                home.psbt_file(100, salt)
            },
            |path| home.run(&["sign", "--yes", "--in", path.to_str().unwrap()]),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// Peak resident set size (`VmHWM`, KiB) of a running process; 0 once it is gone.
fn peak_rss_kib(pid: u32) -> u64 {
    sluice_fsutil::proc_status::status_kib(pid, "VmHWM").unwrap_or(0)
}

/// Peak memory of the whole `sluice-signer sign` on 100- and 1,000-input wsh 2-of-3 PSBTs,
/// five runs each: the high-water mark read from /proc every millisecond until the
/// process exits (a lower bound of the true peak by at most the last millisecond's
/// growth). Printed, not timed.
fn peak_memory(_c: &mut Criterion) {
    let home = SignerHome::new();
    let mut salt = 10_000;
    for inputs in [100, 1_000] {
        let mut peaks = Vec::new();
        for _ in 0..5 {
            salt += 1;
            let path = home.psbt_file(inputs, salt);
            let mut child = home
                .command(&["sign", "--yes", "--in", path.to_str().unwrap()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let mut peak = 0;
            while child.try_wait().unwrap().is_none() {
                peak = peak.max(peak_rss_kib(child.id()));
                std::thread::sleep(Duration::from_millis(1));
            }
            assert!(child.wait().unwrap().success(), "sign of {inputs} inputs failed");
            peaks.push(peak);
        }
        let mib: Vec<String> = peaks
            .iter()
            .map(|k| format!("{:.1}", *k as f64 / 1024.0))
            .collect();
        println!(
            "sign-command peak RSS, wsh-2of3/{inputs}-inputs ({} bytes of PSBT): {} MiB",
            std::fs::metadata(home.dir.path().join(format!("b{salt}.psbt")))
                .unwrap()
                .len(),
            mib.join(" / ")
        );
    }
}

criterion_group!(benches, floor, signing, whole_command, peak_memory);
criterion_main!(benches);

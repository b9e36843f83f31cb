//! `cargo bench -p sluice-devnet --bench peer_signing`: Sluice's signer against Bitcoin
//! Core on the same PSBTs (issue 14 item 5), so the lead is re-measured, not remembered.
//!
//! For wpkh, wsh 2-of-3 and tr wallets and 100- and 1,000-input PSBTs (the signer
//! benchmark's: `sluice_shared::psbt_builder` over made-up coins), one key's signatures:
//! - **Sluice**: what `sluice-signer sign` does in memory — inspection, signing plan,
//!   account keys, signatures (`sluice_signer::signing`), in this process, from a fresh
//!   master key and an empty table of derived public keys (a one-shot `sign`);
//! - **Core**: `descriptorprocesspsbt` on a `bitcoind -regtest` built at -O2
//!   (`SLUICE_BITCOIND_OPT=2 scripts/build-bitcoind.sh`, or `SLUICE_BITCOIND_DIR`), with the
//!   same private key in a descriptor ranged over exactly the indexes the PSBT spends; its
//!   time includes the RPC round trip (JSON, base64), which is how a user reaches it.
//!
//! Each pair runs interleaved (Sluice, Core, Sluice, ...) `RUNS` times; the report is the
//! median and range in microseconds per input, and Core's median over Sluice's. ECDSA
//! signatures must be identical (both sign RFC 6979 with low-R grinding through
//! libsecp256k1), which checks that both did the same work; BIP340 ones carry random aux
//! data, so for taproot the bench checks that Core signed every input. A missing -O2 node
//! stops the benchmark with the command that builds it.
#![allow(clippy::unwrap_used, clippy::print_stdout)] // a report printer

use std::str::FromStr;
use std::time::{Duration, Instant};

use bitcoin::bip32::Xpriv;
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::Secp256k1;
use bitcoin::{Amount, Network};
use serde_json::{json, Value};
use sluice_devnet::bitcoind::{benchmark_dir, locate, Bitcoind};
use sluice_shared::derived_keys::DerivedKeys;
use sluice_shared::descriptor::WalletDescriptor;
use sluice_shared::inspect::{inspect_psbt, ChangeIndexBound, InspectionPolicy};
use sluice_shared::psbt_builder::sample_spend;
use sluice_signer::signing;

const RUNS: usize = 5;
// The signer benchmark's keys: A's private key signs; B and C are cosigners.
const TPRV_A: &str = "tprv8ZgxMBicQKsPdjiV4AkC8QKCmSAPfkTGr7YiqpauMqHNgeQ15bdbNo7V5p6YPYGaTbTJCAyXV1yAAPBypoTfe9xLpwb8k9fbHftu3NdykuA";
const A: &str = "[1bbaa5fe/84h/1h/0h]tpubDDHx3CNs1F7LipoKW8ccMFNJsXJ6WYLFubNaCYLZtBX6G2GsQ7EJgbuecqwXfQtLKzxt2Kn8vJkxEWeQNto3deB7JCHdKHuRJMcYMDFABwi";
const B: &str = "[72408740/84h/1h/0h]tpubDDK8J3o2xAQqa14ubD5UW9ztUMRnpPKYNnCE6T8UChumFXApW4fX4ziePYbgH8kT63xpRviLH7ZNVzaZzAZ8nhwjzFVdT9mWdqZajmTCfv2";
const C: &str = "[3429876a/84h/1h/0h]tpubDCRy5oJLbB3etWH8sirNRUhtdp5GqhNPChRnpe8GMuze9NbgQeagn6icEf1moF2xpxiE2b5V5w2PQyBiifkjLQmfGfqbgSAXDbpegWj9V3s";

/// A wallet kind: Sluice's descriptor (public keys) and Core's receive descriptor with A's
/// private key.
struct Kind {
    name: &'static str,
    sluice: WalletDescriptor,
    core_receive: String,
}

fn kinds() -> Vec<Kind> {
    let a_private = format!("[1bbaa5fe/84h/1h/0h]{}", account_xprv());
    let kind = |name, sluice: String, core: String| Kind {
        name,
        sluice: WalletDescriptor::parse(&sluice, None).unwrap(),
        core_receive: core,
    };
    vec![
        kind(
            "wpkh",
            format!("wpkh({A}/<0;1>/*)"),
            format!("wpkh({a_private}/0/*)"),
        ),
        kind(
            "wsh-2of3",
            format!("wsh(sortedmulti(2,{A}/<0;1>/*,{B}/<0;1>/*,{C}/<0;1>/*))"),
            format!("wsh(sortedmulti(2,{a_private}/0/*,{B}/0/*,{C}/0/*))"),
        ),
        kind("tr", format!("tr({A}/<0;1>/*)"), format!("tr({a_private}/0/*)")),
    ]
}

/// A's account key (84h/1h/0h), as Core takes it inside a descriptor.
fn account_xprv() -> String {
    let secp = Secp256k1::new();
    let master = Xpriv::from_str(TPRV_A).unwrap();
    let path = bitcoin::bip32::DerivationPath::from_str("m/84h/1h/0h").unwrap();
    master.derive_priv(&secp, &path).unwrap().to_string()
}

fn psbt(wallet: &WalletDescriptor, inputs: u32, salt: u32) -> Psbt {
    sample_spend(wallet, inputs, salt).unwrap()
}

/// Sluice's in-memory signing of `unsigned`: the signed PSBT and the time it took.
fn sign_with_sluice(kind: &Kind, unsigned: &Psbt) -> (Psbt, Duration) {
    let secp = Secp256k1::new();
    let key = Xpriv::from_str(TPRV_A).unwrap();
    let fingerprint = key.fingerprint(&secp);
    let policy = InspectionPolicy {
        network: Network::Regtest,
        max_fee: Amount::from_btc(1.0).unwrap(),
        change_bound: ChangeIndexBound::with_default_gap(None),
    };
    // A fresh master key and no derived public keys kept: its branch keys and every
    // wallet key of inspection's ownership check are derived inside the timing, as for
    // the first PSBT a signer process signs (the cold signer's case), and as Core's
    // `descriptorprocesspsbt` derives its descriptor's keys on every call.
    let master = signing::MasterKey::new(key);
    DerivedKeys::global().clear();
    let started = Instant::now();
    let inspected = inspect_psbt(unsigned, &kind.sluice, &policy).unwrap();
    let plan = signing::plan(inspected, kind.name, fingerprint).unwrap();
    let keys = signing::AccountKeys::new(&master, plan.key_paths(), &secp).unwrap();
    let mut signed = plan.into_psbt();
    signing::sign_inputs(&mut signed, &keys, &secp, 1).unwrap();
    (signed, started.elapsed())
}

/// Core's `descriptorprocesspsbt` on `unsigned`: the signed PSBT and the call's time.
async fn sign_with_core(node: &Bitcoind, kind: &Kind, unsigned: &Psbt, inputs: u32) -> (Psbt, Duration) {
    let encoded = unsigned.to_string(); // base64
    let descriptors = json!([{ "desc": kind.core_receive, "range": [0, inputs - 1] }]);
    let started = Instant::now();
    let reply: Value = node
        .client()
        .call(
            "descriptorprocesspsbt",
            json!([encoded, descriptors, "ALL", true, false]),
        )
        .await
        .unwrap_or_else(|e| panic!("descriptorprocesspsbt ({} {inputs}): {e}", kind.name));
    let elapsed = started.elapsed();
    (Psbt::from_str(reply["psbt"].as_str().unwrap()).unwrap(), elapsed)
}

/// Both signed every input with A's key, and (ECDSA) with the same signatures.
fn check_same_work(kind: &Kind, sluice: &Psbt, core: &Psbt) {
    for (index, (ours, theirs)) in sluice.inputs.iter().zip(&core.inputs).enumerate() {
        if kind.name == "tr" {
            assert!(ours.tap_key_sig.is_some(), "Sluice did not sign input {index}");
            assert!(theirs.tap_key_sig.is_some(), "Core did not sign input {index}");
        } else {
            assert_eq!(ours.partial_sigs.len(), 1, "Sluice's signatures on input {index}");
            assert_eq!(
                ours.partial_sigs, theirs.partial_sigs,
                "{} input {index}: Sluice's and Core's signatures differ",
                kind.name
            );
        }
    }
}

/// Median and range of `samples`, in microseconds per input.
fn summary(samples: &mut [Duration], inputs: u32) -> (f64, f64, f64) {
    samples.sort();
    let per_input = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(inputs);
    (
        per_input(samples[samples.len() / 2]),
        per_input(samples[0]),
        per_input(samples[samples.len() - 1]),
    )
}

fn main() {
    let dir = benchmark_dir();
    if let Err(e) = locate(&dir) {
        panic!(
            "the peer benchmark compares with an -O2 Bitcoin Core: {e:#}. Build it with \
             `SLUICE_BITCOIND_OPT=2 scripts/build-bitcoind.sh`"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let node = runtime.block_on(Bitcoind::start(&dir, &[])).unwrap();
    println!("Core: {} (-O2 build, RPC over loopback)", dir.display());
    println!(
        "wallet | inputs | Sluice µs/input median (range) | Core µs/input median (range) | Core / Sluice"
    );
    println!("---|---|---|---|---");
    let mut salt = 1;
    for kind in kinds() {
        for inputs in [100u32, 1_000] {
            let mut ours = Vec::new();
            let mut theirs = Vec::new();
            for _ in 0..RUNS {
                salt += 1;
                let unsigned = psbt(&kind.sluice, inputs, salt);
                let (signed_ours, t_ours) = sign_with_sluice(&kind, &unsigned);
                let (signed_theirs, t_theirs) =
                    runtime.block_on(sign_with_core(&node, &kind, &unsigned, inputs));
                check_same_work(&kind, &signed_ours, &signed_theirs);
                ours.push(t_ours);
                theirs.push(t_theirs);
            }
            let (o, o_lo, o_hi) = summary(&mut ours, inputs);
            let (t, t_lo, t_hi) = summary(&mut theirs, inputs);
            println!(
                "{} | {inputs} | {o:.0} ({o_lo:.0}-{o_hi:.0}) | {t:.0} ({t_lo:.0}-{t_hi:.0}) | {:.1}×",
                kind.name,
                t / o
            );
        }
    }
}

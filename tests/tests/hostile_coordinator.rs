//! The hostile-coordinator suite: a fake coordinator process (`hostile-coordinator`)
//! speaking the real signer API serves crafted sessions to a real `sluice-signer online`,
//! one attack per session (docs/threat-model.md's table and issue 8). For every attack:
//! the signer refuses, no signature reaches the coordinator, the limits are unchanged, and
//! the refusal is in the signer's verified journal under the rule that refused it.
//!
//! Each test has its own signer home and fake coordinator; the signer polls every 50 ms
//! and every wait is bounded (`hostile::WAIT`).
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use std::str::FromStr;

use bitcoin::absolute::LockTime;
use bitcoin::bip32::{DerivationPath, Fingerprint, Xpriv};
use bitcoin::hashes::Hash;
use bitcoin::psbt::{Psbt, PsbtSighashType};
use bitcoin::secp256k1::{Keypair, Secp256k1, SecretKey};
use bitcoin::taproot::{LeafVersion, TapLeafHash};
use bitcoin::{
    Address, Amount, EcdsaSighashType, Network, OutPoint, ScriptBuf, TapSighashType, TxIn, WScriptHash,
};
use serde_json::Value;
use sluice_devnet::chain::fund;
use sluice_e2e::bitcoind::start_bitcoind;
use sluice_e2e::fixtures::{self, WALLETS};
use sluice_e2e::hostile::{self, HostileCoordinator, Script, Step};
use sluice_e2e::signer::Signer;
use sluice_shared::descriptor::{Branch, WalletDescriptor};
use sluice_shared::finalize::finalize;
use sluice_shared::journal::JournalEntry;
use sluice_shared::psbt_builder::{build_psbt, fake_coins, fake_funding_tx, SpendableCoin};
use sluice_shared::signer_api::{SessionOffer, SignedSession};

/// A signer restored from fixture key A, regtest, with fixture wallets registered under
/// their fixture names and limits of 10 BTC (fee cap 0.01 BTC).
struct Bench {
    dir: tempfile::TempDir,
    signer: Signer,
    fx: Value,
}

fn bench_with(wallets: &[&str], init_extra: &[String]) -> Bench {
    let fx = fixtures::fixtures();
    let dir = tempfile::tempdir().unwrap();
    let signer = Signer {
        home: dir.path().join("signer"),
        passphrase: dir.path().join("passphrase"),
    };
    std::fs::write(&signer.passphrase, "hostile suite passphrase\n").unwrap();
    let tprv = dir.path().join("a.tprv");
    std::fs::write(&tprv, fixtures::master_tprv(&fx, "A")).unwrap();
    let mut init = vec![
        "init",
        "--network",
        "regtest",
        "--from-xprv-file",
        tprv.to_str().unwrap(),
        "--dangerous-weak-kdf",
    ];
    init.extend(init_extra.iter().map(String::as_str));
    signer.ok(&init);
    let coordinator_key = hostile::coordinator_identity().x_only_public_key().0.to_string();
    signer.ok(&["coordinator", "trust", &coordinator_key]);
    for name in wallets {
        let (receive, change) = fixtures::descriptors(&fx, name);
        signer.ok(&[
            "wallet",
            "register",
            "--name",
            name,
            "--descriptor",
            &receive,
            "--change-descriptor",
            &change,
        ]);
    }
    signer.ok(&[
        "limits",
        "init",
        "--rate",
        "10",
        "--per-seconds",
        "60",
        "--burst",
        "10",
        "--total",
        "10",
    ]);
    Bench { dir, signer, fx }
}

/// All three fixture wallets (key A is in each).
fn bench() -> Bench {
    bench_with(&WALLETS, &[])
}

/// What the fake coordinator saw and the signer printed while the script ran.
struct Run {
    coordinator: HostileCoordinator,
    output: String,
}

impl Bench {
    /// Serves `script` to one online signer until it has acted on every step.
    fn run(&self, script: Script) -> Run {
        let binary = std::path::Path::new(env!("CARGO_BIN_EXE_hostile-coordinator"));
        let coordinator = HostileCoordinator::start(binary, self.dir.path(), &script).unwrap();
        let mut online = self
            .signer
            .start_online(&coordinator.url, "0.05", &self.dir.path().join("online.log"))
            .unwrap();
        let done = coordinator.wait_until_script_done(|| online.alive());
        let output = online.stop();
        if let Err(e) = done {
            panic!("{e:#}\nthe signer printed:\n{output}");
        }
        Run { coordinator, output }
    }
}

fn offer(id: u64, wallet: &str, psbt: &Psbt) -> SessionOffer {
    SessionOffer {
        id,
        wallet: wallet.to_owned(),
        psbt: psbt.to_string(),
    }
}

/// One crafted session and how the signer must refuse it.
struct Attack {
    what: String,
    session: u64,
    wallet: &'static str,
    psbt: Psbt,
    /// The journaled rule (`inspection`, `signing`, `decoding`).
    rule: &'static str,
    /// Words the journaled reason contains.
    reason: &'static str,
}

/// Core's PSBT for `wallet`, made a distinct transaction by `salt` (its lock time), then
/// tampered. The online signer remembers refusals by txid, so every attack gets its own.
fn tampered(fx: &Value, wallet: &str, salt: u32, tamper: impl FnOnce(&mut Psbt)) -> Psbt {
    let mut psbt = fixtures::unsigned_psbt(fx, wallet);
    psbt.unsigned_tx.lock_time = LockTime::from_height(salt).unwrap();
    tamper(&mut psbt);
    psbt
}

/// The index of the fixture PSBT's change output (the one with derivation claims).
fn change_vout(psbt: &Psbt) -> usize {
    psbt.outputs
        .iter()
        .position(|o| !o.bip32_derivation.is_empty() || !o.tap_key_origins.is_empty())
        .expect("the fixture PSBT pays change")
}

fn attacker_script() -> ScriptBuf {
    ScriptBuf::new_p2wsh(&WScriptHash::from_byte_array([0xaa; 32]))
}

/// Appends someone else's coin (with truthful previous outputs) as a last input.
fn add_foreign_input(psbt: &mut Psbt) {
    let stranger_tx = fake_funding_tx(attacker_script(), &[Amount::ONE_BTC], 99);
    psbt.unsigned_tx.input.push(TxIn {
        previous_output: OutPoint {
            txid: stranger_tx.compute_txid(),
            vout: 0,
        },
        ..TxIn::default()
    });
    psbt.inputs.push(bitcoin::psbt::Input {
        non_witness_utxo: Some(stranger_tx.clone()),
        witness_utxo: Some(stranger_tx.output[0].clone()),
        ..Default::default()
    });
}

/// The 2-of-3 change output rebuilt with cosigner C's key replaced by an attacker's, the
/// claims for A and B untouched and the attacker's key claimed at C's origin.
fn swap_cosigner_in_change(psbt: &mut Psbt) {
    let vout = change_vout(psbt);
    let c = Fingerprint::from_str("3429876a").unwrap();
    let secp = Secp256k1::new();
    let attacker = SecretKey::from_slice(&[7u8; 32]).unwrap().public_key(&secp);
    let output = &mut psbt.outputs[vout];
    let (c_key, c_origin) = output
        .bip32_derivation
        .iter()
        .find(|(_, (fingerprint, _))| *fingerprint == c)
        .map(|(key, origin)| (*key, origin.clone()))
        .unwrap();
    output.bip32_derivation.remove(&c_key);
    output.bip32_derivation.insert(attacker, c_origin);
    let mut keys: Vec<bitcoin::PublicKey> = output
        .bip32_derivation
        .keys()
        .map(|k| bitcoin::PublicKey::new(*k))
        .collect();
    keys.sort();
    let mut builder = bitcoin::blockdata::script::Builder::new().push_int(2);
    for key in &keys {
        builder = builder.push_key(key);
    }
    let witness_script = builder
        .push_int(3)
        .push_opcode(bitcoin::opcodes::all::OP_CHECKMULTISIG)
        .into_script();
    psbt.unsigned_tx.output[vout].script_pubkey = ScriptBuf::new_p2wsh(&witness_script.wscript_hash());
    output.witness_script = Some(witness_script);
}

/// Every attack on PSBT contents a compromised coordinator can make, each its own session.
fn content_attacks(fx: &Value) -> Vec<Attack> {
    let mut attacks = Vec::new();
    let mut add = |what: String,
                   wallet: &'static str,
                   rule: &'static str,
                   reason: &'static str,
                   tamper: Box<dyn FnOnce(&mut Psbt)>| {
        let session = attacks.len() as u64 + 1;
        let psbt = tampered(fx, wallet, 1000 + session as u32, tamper);
        attacks.push(Attack {
            what,
            session,
            wallet,
            psbt,
            rule,
            reason,
        });
    };

    // The fee lie (CVE-2020-14199) on segwit v0.
    for wallet in ["wpkh_single", "wsh_2of3"] {
        add(
            format!("{wallet}: input without non_witness_utxo"),
            wallet,
            "inspection",
            "without non_witness_utxo",
            Box::new(|p| p.inputs[0].non_witness_utxo = None),
        );
        add(
            format!("{wallet}: witness_utxo larger than non_witness_utxo's output"),
            wallet,
            "inspection",
            "witness_utxo disagrees with the output in non_witness_utxo",
            Box::new(|p| p.inputs[0].witness_utxo.as_mut().unwrap().value += Amount::from_int_btc(5)),
        );
        add(
            format!("{wallet}: non_witness_utxo edited to agree with a lie"),
            wallet,
            "inspection",
            "non_witness_utxo is not the transaction the input spends",
            Box::new(|p| {
                let lie = Amount::from_int_btc(5);
                p.inputs[0].witness_utxo.as_mut().unwrap().value += lie;
                let vout = p.unsigned_tx.input[0].previous_output.vout as usize;
                p.inputs[0].non_witness_utxo.as_mut().unwrap().output[vout].value += lie;
            }),
        );
    }
    for wallet in WALLETS {
        add(
            format!("{wallet}: foreign input"),
            wallet,
            "inspection",
            "is not the wallet's own",
            Box::new(add_foreign_input),
        );
        add(
            format!("{wallet}: change to a script not derived from the change branch"),
            wallet,
            "inspection",
            "claims to be change but its script does not derive from the wallet's change branch",
            Box::new(|p| {
                let vout = change_vout(p);
                p.unsigned_tx.output[vout].script_pubkey = attacker_script();
            }),
        );
        add(
            format!("{wallet}: a mainnet global xpub"),
            wallet,
            "inspection",
            "wrong network",
            Box::new(|p| {
                // BIP 84's account xpub (mainnet).
                let xpub = bitcoin::bip32::Xpub::from_str("xpub6CatWdiZiodmUeTDp8LT5or8nmbKNcuyvz7WyksVFkKB4RHwCD3XyuvPEbvqAQY3rAPshWcMLoP2fMFMKHPJ4ZeZXYVUhLv1VMrjPC7PW6V").unwrap();
                let origin = (
                    Fingerprint::from_str("73c5da0a").unwrap(),
                    DerivationPath::from_str("m/84h/0h/0h").unwrap(),
                );
                p.xpub.insert(xpub, origin);
            }),
        );
        add(
            format!("{wallet}: a fee above the cap (change cut by 0.02 BTC)"),
            wallet,
            "inspection",
            "above the configured cap",
            Box::new(|p| {
                let vout = change_vout(p);
                p.unsigned_tx.output[vout].value -= Amount::from_sat(2_000_000);
            }),
        );
    }
    add(
        "wsh_2of3: change with cosigner C's key swapped".to_owned(),
        "wsh_2of3",
        "inspection",
        "claims to be change but its script does not derive from the wallet's change branch",
        Box::new(swap_cosigner_in_change),
    );

    // Every sighash type but ALL / taproot DEFAULT.
    for ty in [
        EcdsaSighashType::None,
        EcdsaSighashType::Single,
        EcdsaSighashType::AllPlusAnyoneCanPay,
        EcdsaSighashType::NonePlusAnyoneCanPay,
        EcdsaSighashType::SinglePlusAnyoneCanPay,
    ] {
        for wallet in ["wpkh_single", "wsh_2of3"] {
            add(
                format!("{wallet}: sighash {ty}"),
                wallet,
                "inspection",
                "only ALL (or taproot DEFAULT) is signed",
                Box::new(move |p| p.inputs[0].sighash_type = Some(PsbtSighashType::from(ty))),
            );
        }
    }
    for ty in [
        TapSighashType::None,
        TapSighashType::Single,
        TapSighashType::AllPlusAnyoneCanPay,
        TapSighashType::NonePlusAnyoneCanPay,
        TapSighashType::SinglePlusAnyoneCanPay,
    ] {
        add(
            format!("tr_single: sighash {ty}"),
            "tr_single",
            "inspection",
            "only ALL (or taproot DEFAULT) is signed",
            Box::new(move |p| p.inputs[0].sighash_type = Some(PsbtSighashType::from(ty))),
        );
    }

    // Taproot: a tweak or script path of the coordinator's choosing.
    let leaf = ScriptBuf::from_hex("51").unwrap(); // OP_TRUE
    let leaf_hash = TapLeafHash::from_script(&leaf, LeafVersion::TapScript);
    add(
        "tr_single: a tap_merkle_root (a tweak the wallet does not have)".to_owned(),
        "tr_single",
        "inspection",
        "taproot script tree",
        Box::new(|p| p.inputs[0].tap_merkle_root = Some(Hash::from_byte_array([1; 32]))),
    );
    let script_leaf = leaf.clone();
    add(
        "tr_single: a tap script leaf".to_owned(),
        "tr_single",
        "inspection",
        "taproot script tree",
        Box::new(move |p| {
            let internal = p.inputs[0].tap_internal_key.unwrap();
            let control = bitcoin::taproot::ControlBlock {
                leaf_version: LeafVersion::TapScript,
                output_key_parity: bitcoin::secp256k1::Parity::Even,
                internal_key: internal,
                merkle_branch: bitcoin::taproot::TaprootMerkleBranch::default(),
            };
            p.inputs[0]
                .tap_scripts
                .insert(control, (script_leaf, LeafVersion::TapScript));
        }),
    );
    add(
        "tr_single: our key's origin claimed for a script leaf".to_owned(),
        "tr_single",
        "signing",
        "script-path",
        Box::new(move |p| {
            for (leaves, _) in p.inputs[0].tap_key_origins.values_mut() {
                leaves.push(leaf_hash);
            }
        }),
    );
    attacks
}

fn journaled_refusals<'a>(journal: &'a [JournalEntry], txid: &str) -> Vec<&'a JournalEntry> {
    journal
        .iter()
        .filter(|e| e.event == "refused" && e.details["txid"] == txid)
        .collect()
}

/// Serves `attacks` in one session list to a signer with `wallets` registered; what went
/// wrong, per attack.
fn refusal_failures(wallets: &[&str], attacks: &[&Attack]) -> Vec<String> {
    let wallet = wallets.join("+");
    let bench = bench_with(wallets, &[]);
    let limits_before = bench.signer.limits();
    let journal_before = bench.signer.verified_journal().len();
    let script = Script {
        steps: vec![Step::Sessions(
            attacks
                .iter()
                .map(|a| offer(a.session, a.wallet, &a.psbt))
                .collect(),
        )],
    };
    let run = bench.run(script);
    let mut failures = Vec::new();
    // Pausing itself after repeated refusals (issue 8 item 7) is the one change allowed.
    let but_paused = |limits: String| -> String {
        limits
            .lines()
            .filter(|l| !l.starts_with("Paused") && !l.starts_with("SELF-PAUSED"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let limits_after = bench.signer.limits();
    if but_paused(limits_after.clone()) != but_paused(limits_before.clone()) {
        failures.push(format!(
            "{wallet}: the limits moved:\n{limits_before}\n--\n{limits_after}"
        ));
    }
    if attacks.len() >= 3 && !limits_after.contains("Paused           yes") {
        failures.push(format!(
            "{wallet}: {} refusals did not pause the signer",
            attacks.len()
        ));
    }
    let journal = bench.signer.verified_journal();
    let new: Vec<JournalEntry> = journal[journal_before..]
        .iter()
        .filter(|e| e.event != "self-paused")
        .cloned()
        .collect();
    let new = new.as_slice();
    for attack in attacks {
        let txid = attack.psbt.unsigned_tx.compute_txid().to_string();
        if !run.coordinator.posts_for(attack.session).unwrap().is_empty() {
            failures.push(format!("{}: a signature was posted", attack.what));
        }
        match journaled_refusals(new, &txid).as_slice() {
            [entry] => {
                let reason = entry.details["reason"].as_str().unwrap_or_default();
                if entry.details["rule"] != attack.rule
                    || !reason.contains(attack.reason)
                    || entry.details["wallet"] != attack.wallet
                {
                    failures.push(format!(
                        "{}: journaled as {} ({reason}) for wallet {}; expected {} ({})",
                        attack.what,
                        entry.details["rule"],
                        entry.details["wallet"],
                        attack.rule,
                        attack.reason
                    ));
                }
            }
            other => failures.push(format!(
                "{}: {} refusal entries for {txid}",
                attack.what,
                other.len()
            )),
        }
    }
    if new.len() != attacks.len() {
        failures.push(format!(
            "{wallet}: {} new journal entries for {} attacks",
            new.len(),
            attacks.len()
        ));
    }
    if !failures.is_empty() {
        failures.push(format!("{wallet}: the signer printed:\n{}", run.output));
    }
    failures
}

#[test]
fn every_tampered_psbt_is_refused_unsigned_unspent_and_journaled() {
    let fx = fixtures::fixtures();
    let attacks = content_attacks(&fx);
    let failures: Vec<String> = WALLETS
        .iter()
        .flat_map(|wallet| {
            let group: Vec<&Attack> = attacks.iter().filter(|a| a.wallet == *wallet).collect();
            refusal_failures(&[wallet], &group)
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The same attacks against one signer holding all three wallets (its key is in each):
/// the journal must name the wallet the inputs belong to and the rule that refused, not
/// another wallet's "not mine".
#[test]
fn with_several_wallets_a_refusal_names_the_right_wallet_and_rule() {
    let fx = fixtures::fixtures();
    let attacks = content_attacks(&fx);
    let all: Vec<&Attack> = attacks.iter().collect();
    let failures = refusal_failures(&WALLETS, &all);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The control: the same bench signs Core's untouched PSBTs, so the refusals above are
/// the rules at work and not a broken setup.
#[test]
fn the_untouched_psbts_are_signed_and_posted() {
    let bench = bench();
    let offers: Vec<SessionOffer> = WALLETS
        .iter()
        .zip(1u64..)
        .map(|(wallet, id)| offer(id, wallet, &fixtures::unsigned_psbt(&bench.fx, wallet)))
        .collect();
    let run = bench.run(Script {
        steps: vec![Step::Sessions(offers)],
    });
    for (wallet, id) in WALLETS.iter().zip(1u64..) {
        let posts = run.coordinator.posts_for(id).unwrap();
        assert_eq!(posts.len(), 1, "{wallet}: {}", run.output);
        let body: SignedSession = serde_json::from_str(&posts[0].body).unwrap();
        let signed = Psbt::from_str(&body.psbt).unwrap();
        assert!(
            signed
                .inputs
                .iter()
                .all(|i| !i.partial_sigs.is_empty() || i.tap_key_sig.is_some()),
            "{wallet}: every input signed"
        );
    }
    let journal = bench.signer.verified_journal();
    assert_eq!(journal.iter().filter(|e| e.event == "signed").count(), 3);
}

/// The control on a real Bitcoin Core node: what the signer under attack does sign is
/// valid there. Fresh PSBTs of the three fixture wallets spend coins funded on Core (a
/// mined coinbase paid to each wallet's first receive address); the same bench signs them
/// untouched (fixture key B adds the 2-of-3's second signature), they finalize, Core's
/// `testmempoolaccept` allows them, and a block mines them. The attacks themselves are on
/// PSBT content the signer refuses before signing, so they need no chain.
#[test]
fn on_bitcoin_core_the_untouched_psbts_the_signer_signs_are_accepted_and_mined() {
    let bench = bench();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let node = runtime.block_on(start_bitcoind(&[]));
    let core = node.client();
    let wallets: Vec<WalletDescriptor> = WALLETS.iter().map(|w| fixtures::wallet(&bench.fx, w)).collect();
    let addresses: Vec<Address> = wallets
        .iter()
        .map(|w| {
            Address::from_script(&w.script_pubkey(Branch::Receive, 0).unwrap(), Network::Regtest).unwrap()
        })
        .collect();
    let funding_txid = runtime
        .block_on(fund(&core, &addresses, Amount::ONE_BTC))
        .unwrap();
    let tip = runtime.block_on(core.get_best_block_hash()).unwrap();
    let block = runtime.block_on(core.get_block(&tip)).unwrap();
    let funding_tx = block
        .txdata
        .iter()
        .find(|tx| tx.compute_txid() == funding_txid)
        .expect("the funding transaction is in the tip block")
        .clone();
    let fee = Amount::from_sat(2_000);
    let payment = Amount::from_sat(50_000_000);
    let offers: Vec<SessionOffer> = WALLETS
        .iter()
        .zip(&wallets)
        .zip(0u32..)
        .map(|((name, wallet), vout)| {
            let coin = SpendableCoin {
                outpoint: OutPoint::new(funding_txid, vout),
                prev_tx: funding_tx.clone(),
                branch: Branch::Receive,
                index: 0,
            };
            let psbt = build_psbt(
                wallet,
                &[coin],
                &[(attacker_script(), payment)],
                Some((0, Amount::ONE_BTC - payment - fee)),
                LockTime::ZERO,
            )
            .unwrap();
            offer(u64::from(vout) + 1, name, &psbt)
        })
        .collect();
    let run = bench.run(Script {
        steps: vec![Step::Sessions(offers)],
    });
    let secp = Secp256k1::new();
    let key_b = Xpriv::from_str(&fixtures::master_tprv(&bench.fx, "B")).unwrap();
    let mut transactions = Vec::new();
    for (wallet, id) in WALLETS.iter().zip(1u64..) {
        let posts = run.coordinator.posts_for(id).unwrap();
        assert_eq!(posts.len(), 1, "{wallet}: {}", run.output);
        let body: SignedSession = serde_json::from_str(&posts[0].body).unwrap();
        let mut signed = Psbt::from_str(&body.psbt).unwrap();
        if *wallet == "wsh_2of3" {
            signed.sign(&key_b, &secp).unwrap();
        }
        transactions.push(finalize(&signed).unwrap_or_else(|e| panic!("{wallet}: {e}")));
    }
    let verdicts = runtime.block_on(core.test_mempool_accept(&transactions)).unwrap();
    for (wallet, verdict) in WALLETS.iter().zip(&verdicts) {
        assert!(verdict.allowed, "{wallet}: Bitcoin Core refuses it: {verdict:?}");
    }
    for tx in &transactions {
        runtime.block_on(core.send_raw_transaction(tx)).unwrap();
    }
    let mined = runtime.block_on(node.mine(1)).unwrap();
    let block = runtime.block_on(core.get_block(&mined[0])).unwrap();
    for (wallet, tx) in WALLETS.iter().zip(&transactions) {
        assert!(
            block.txdata.iter().any(|t| t.compute_txid() == tx.compute_txid()),
            "{wallet}: not mined"
        );
    }
}

/// Replies that are not what the signer API promises: garbage JSON, a session whose PSBT
/// is not base64 or not a PSBT, unknown fields, a body larger than any signer reads. The
/// signer signs nothing, spends nothing, keeps running and journals each refused session
/// and each reply it could not read.
#[test]
fn garbage_and_oversized_replies_sign_nothing_and_are_journaled() {
    let bench = bench();
    let limits_before = bench.signer.limits();
    let journal_before = bench.signer.verified_journal().len();
    let garbage_offer = |id: u64, psbt: &str| {
        Step::Sessions(vec![SessionOffer {
            id,
            wallet: "wpkh_single".to_owned(),
            psbt: psbt.to_owned(),
        }])
    };
    let script = Script {
        steps: vec![
            Step::Raw {
                body: "this is not JSON".to_owned(),
            },
            Step::Raw {
                body: r#"{"sessions":[{"id":1,"wallet":"wpkh_single","psbt":"cHNidP8=","admin":true}]}"#
                    .to_owned(),
            },
            Step::Raw {
                body: r#"{"sessions":[{"id":-1,"wallet":7,"psbt":null}]}"#.to_owned(),
            },
            garbage_offer(2, "!!! not base64 !!!"),
            garbage_offer(3, "aGVsbG8sIEkgYW0gbm90IGEgUFNCVA=="), // "hello, I am not a PSBT"
            Step::Oversized {
                bytes: 64 * 1024 * 1024 + 1,
            },
        ],
    };
    let run = bench.run(script);
    assert!(
        run.coordinator
            .requests()
            .unwrap()
            .iter()
            .all(|r| r.method == "GET"),
        "nothing may be posted: {}",
        run.output
    );
    assert_eq!(bench.signer.limits(), limits_before, "the limits moved");
    let journal = bench.signer.verified_journal();
    let new = &journal[journal_before..];
    let refused_sessions: Vec<&JournalEntry> = new
        .iter()
        .filter(|e| e.event == "refused" && e.details["rule"] == "decoding")
        .collect();
    assert_eq!(
        refused_sessions.len(),
        2,
        "each undecodable PSBT journaled once: {new:#?}\n{}",
        run.output
    );
    for (entry, session) in refused_sessions.iter().zip([2, 3]) {
        assert_eq!(entry.details["session"], session, "{entry:?}");
    }
    let bad_replies = new
        .iter()
        .filter(|e| e.event == "coordinator-reply-refused")
        .count();
    assert_eq!(
        bad_replies, 3,
        "each unreadable session list journaled: {new:#?}\n{}",
        run.output
    );
}

/// Issue 8 item 1: the same txid twice with different taproot input amounts (taproot
/// amounts come from `witness_utxo`, unproven). The first version shows a fee of 0, the
/// second the true fee of 0.01 BTC. Whatever the signer does, it must never release a
/// signature for a version whose outflow it has not reserved.
fn taproot_repeat(lie_first: bool) {
    let bench = bench();
    let wallet = fixtures::wallet(&bench.fx, "tr_single");
    let coins = fake_coins(&wallet, 1, Amount::ONE_BTC, 7).unwrap();
    let outside = ScriptBuf::from_hex("0014000102030405060708090a0b0c0d0e0f10111213").unwrap();
    let payment = Amount::from_sat(50_000_000);
    let fee = Amount::from_sat(1_000_000); // exactly the fee cap
    let truth = build_psbt(
        &wallet,
        &coins,
        &[(outside, payment)],
        Some((0, Amount::ONE_BTC - payment - fee)),
        LockTime::ZERO,
    )
    .unwrap();
    let mut lie = truth.clone();
    lie.inputs[0].witness_utxo.as_mut().unwrap().value -= fee;
    assert_eq!(lie.unsigned_tx.compute_txid(), truth.unsigned_tx.compute_txid());
    let versions = if lie_first {
        [(1, &lie, payment), (2, &truth, payment + fee)]
    } else {
        [(1, &truth, payment + fee), (2, &lie, payment)]
    };
    let run = bench.run(Script {
        steps: versions
            .iter()
            .map(|(id, psbt, _)| Step::Sessions(vec![offer(*id, "tr_single", psbt)]))
            .collect(),
    });
    let limits = bench.signer.ok(&["limits", "show"]);
    let spent = limits
        .lines()
        .find_map(|l| l.strip_prefix("Total spent"))
        .unwrap()
        .trim()
        .trim_end_matches("BTC")
        .trim()
        .to_owned();
    let spent = Amount::from_str_in(&spent, bitcoin::Denomination::Bitcoin).unwrap();
    for (id, _, outflow) in versions {
        let posted = run.coordinator.posts_for(id).unwrap();
        if !posted.is_empty() {
            assert!(
                spent >= outflow,
                "session {id} was signed with an outflow of {outflow} but only {spent} is reserved\n{}",
                run.output
            );
        }
    }
    assert!(
        !run.coordinator.posts_for(1).unwrap().is_empty(),
        "the first version is honest enough to sign: {}",
        run.output
    );
    // Either the repeat was refused and journaled, or it reserved what it signed.
    let journal = bench.signer.verified_journal();
    let txid = truth.unsigned_tx.compute_txid().to_string();
    let second_signed = !run.coordinator.posts_for(2).unwrap().is_empty();
    if !second_signed {
        assert_eq!(journaled_refusals(&journal, &txid).len(), 1, "{journal:#?}");
    }
}

/// Issue 14 item 1: an online signer reserves all the sessions of a poll as one batch.
/// The same txid twice in ONE poll, the lowered amounts first: both pass the decision
/// (nothing is reserved yet), but within the batch the second is a repeat that claims
/// another outflow, refused and journaled; only the first is signed.
#[test]
fn the_same_txid_twice_in_one_poll_signs_only_the_first() {
    let bench = bench();
    let wallet = fixtures::wallet(&bench.fx, "tr_single");
    let coins = fake_coins(&wallet, 1, Amount::ONE_BTC, 7).unwrap();
    let outside = ScriptBuf::from_hex("0014000102030405060708090a0b0c0d0e0f10111213").unwrap();
    let payment = Amount::from_sat(50_000_000);
    let fee = Amount::from_sat(1_000_000);
    let truth = build_psbt(
        &wallet,
        &coins,
        &[(outside, payment)],
        Some((0, Amount::ONE_BTC - payment - fee)),
        LockTime::ZERO,
    )
    .unwrap();
    let mut lie = truth.clone();
    lie.inputs[0].witness_utxo.as_mut().unwrap().value -= fee;
    let run = bench.run(Script {
        steps: vec![Step::Sessions(vec![
            offer(1, "tr_single", &lie),
            offer(2, "tr_single", &truth),
        ])],
    });
    assert_eq!(run.coordinator.posts_for(1).unwrap().len(), 1, "{}", run.output);
    assert!(
        run.coordinator.posts_for(2).unwrap().is_empty(),
        "the true amounts were signed with only the lowered outflow reserved:\n{}",
        run.output
    );
    let journal = bench.signer.verified_journal();
    let txid = truth.unsigned_tx.compute_txid().to_string();
    let refusals = journaled_refusals(&journal, &txid);
    assert_eq!(refusals.len(), 1, "{journal:#?}");
    assert_eq!(refusals[0].details["rule"], "repeat", "{journal:#?}");
    assert_eq!(journal.iter().filter(|e| e.event == "signed").count(), 1);
}

/// Issue 14 item 1: sessions that each fit the limits but not together, in one poll. The
/// batch reserves them in order; the one the limits refuse after the others is not
/// signed, is journaled once under the rule `limits`, and is reported to the
/// coordinator, while the others are signed and posted.
#[test]
fn a_poll_beyond_the_limits_signs_what_fits_and_reports_the_rest() {
    let bench = bench(); // a total of 10 BTC
    let wallet = fixtures::wallet(&bench.fx, "wpkh_single");
    let outside = ScriptBuf::from_hex("0014000102030405060708090a0b0c0d0e0f10111213").unwrap();
    // 4 BTC each (3.99 paid out, 0.01 fee): two fit, the third does not.
    let psbt = |salt: u32| {
        let coins = fake_coins(&wallet, 1, Amount::from_sat(500_000_000), salt).unwrap();
        build_psbt(
            &wallet,
            &coins,
            &[(outside.clone(), Amount::from_sat(399_000_000))],
            Some((0, Amount::ONE_BTC)),
            LockTime::ZERO,
        )
        .unwrap()
    };
    let psbts = [psbt(1), psbt(2), psbt(3)];
    let offers: Vec<SessionOffer> = psbts
        .iter()
        .zip(1u64..)
        .map(|(psbt, id)| offer(id, "wpkh_single", psbt))
        .collect();
    // Offered on two polls: the second signs nothing new and journals nothing new.
    let run = bench.run(Script {
        steps: vec![Step::Sessions(offers.clone()), Step::Sessions(offers)],
    });
    for id in [1, 2] {
        assert_eq!(
            run.coordinator.posts_for(id).unwrap().len(),
            2,
            "session {id}: {}",
            run.output
        );
    }
    assert!(run.coordinator.posts_for(3).unwrap().is_empty(), "{}", run.output);
    assert!(
        run.coordinator
            .requests()
            .unwrap()
            .iter()
            .any(|r| r.method == "POST" && r.path == "/v1/signer/sessions/3/refusals"),
        "the refusal was not reported: {}",
        run.output
    );
    let journal = bench.signer.verified_journal();
    let refused = journaled_refusals(&journal, &psbts[2].unsigned_tx.compute_txid().to_string());
    assert_eq!(refused.len(), 1, "{journal:#?}");
    assert_eq!(refused[0].details["rule"], "limits", "{journal:#?}");
    assert_eq!(journal.iter().filter(|e| e.event == "signed").count(), 4);
    assert_eq!(
        journal.iter().filter(|e| e.event == "reserved").count(),
        2,
        "signing again reserves nothing: {journal:#?}"
    );
}

#[test]
fn taproot_repeat_with_lower_then_true_amounts_never_signs_an_unreserved_fee() {
    taproot_repeat(true);
}

#[test]
fn taproot_repeat_with_true_then_lower_amounts_never_signs_an_unreserved_fee() {
    taproot_repeat(false);
}

/// A network attacker replays a reply the coordinator sent to an earlier request. The
/// signer must act only on replies to its own requests: the offer is signed once.
#[test]
fn a_replayed_reply_is_not_acted_on() {
    let bench = bench();
    let psbt = fixtures::unsigned_psbt(&bench.fx, "wpkh_single");
    let run = bench.run(Script {
        steps: vec![
            Step::Sessions(vec![offer(1, "wpkh_single", &psbt)]),
            Step::Replay { step: 0 },
        ],
    });
    assert_eq!(
        run.coordinator.posts_for(1).unwrap().len(),
        1,
        "the replayed offer was signed again: {}",
        run.output
    );
}

/// Three security officers with fixed test keys; the signer trusts them 2 of 3.
fn officers() -> Vec<Keypair> {
    let secp = Secp256k1::new();
    (1u8..=3)
        .map(|i| Keypair::from_secret_key(&secp, &SecretKey::from_slice(&[i; 32]).unwrap()))
        .collect()
}

fn officer_args() -> Vec<String> {
    let mut args = Vec::new();
    for key in officers() {
        args.push("--officer-key".to_owned());
        args.push(key.x_only_public_key().0.to_string());
    }
    args.extend(["--officer-threshold".to_owned(), "2".to_owned()]);
    args
}

/// A limit command for `signer`, issued (valid from) at `issued` until 2096, signed by
/// officers 1 and 2, in its text form.
fn limit_command(
    signer: &str,
    action: sluice_shared::limit_command::LimitAction,
    id: u8,
    issued: i64,
) -> String {
    use sluice_shared::limit_command::{CommandId, LimitCommand, SignedLimitCommand};
    let mut signed = SignedLimitCommand::unsigned(LimitCommand {
        id: CommandId([id; 16]),
        signer: signer.parse().unwrap(),
        asset: sluice_shared::asset::Asset::Btc,
        action,
        not_before: issued,
        not_after: 4_000_000_000,
    });
    for (i, officer) in officers().iter().take(2).enumerate() {
        signed.sign(officer, [i as u8; 32]).unwrap();
    }
    signed.encode_text().unwrap()
}

/// Issue 8 item 6: officers issue a `resume`, then (later) a `pause`; whoever holds both
/// sheets applies the pause and then the older resume. The older command must not undo
/// the newer one. Not through the coordinator, but it is the same attacker's move.
#[test]
fn an_older_resume_does_not_undo_a_later_pause() {
    use sluice_shared::limit_command::LimitAction;
    let bench = bench_with(&["wpkh_single"], &officer_args());
    let signer_id = bench.signer.ok(&["id"]).lines().last().unwrap().trim().to_owned();
    // Issue times long past; every command stays valid until 2096.
    let issued = 1_790_000_000;
    let resume = limit_command(&signer_id, LimitAction::Resume, 1, issued);
    let pause = limit_command(&signer_id, LimitAction::Pause, 2, issued + 3600);

    bench.signer.ok(&["limits", "apply", "--text", &pause]);
    let paused = bench.signer.limits();
    assert!(paused.contains("Paused           yes"), "{paused}");
    let journal_before = bench.signer.verified_journal().len();
    let refusal = bench.signer.fails(&["limits", "apply", "--text", &resume]);
    assert!(refusal.contains("limit command refused"), "{refusal}");
    assert_eq!(bench.signer.limits(), paused, "the limits moved");
    let journal = bench.signer.verified_journal();
    assert!(
        journal[journal_before..]
            .iter()
            .any(|e| e.event == "command-refused"),
        "{journal:#?}"
    );

    // A resume issued after the pause does apply.
    let later = limit_command(&signer_id, LimitAction::Resume, 3, issued + 7200);
    bench.signer.ok(&["limits", "apply", "--text", &later]);
    assert!(bench.signer.limits().contains("Paused           no"));
}

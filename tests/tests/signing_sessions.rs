//! Signing sessions as signers see them, with the real binaries over the real API.
//!
//! A compromised coordinator: an attacker with the coordinator's database rewrites a
//! session's PSBT (dropping the trigger that forbids it) and serves it to an online
//! signer. The signer refuses every tampered PSBT, releases no signature and spends none
//! of its limits; the untouched PSBT is then signed. And an offline signer takes part in
//! a session through `session export` / `session import`, by SD card or QR: on made-up
//! coins, and to `confirmed` on simnet and on a real Bitcoin Core node with coins funded
//! on that chain.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bitcoin::hashes::Hash;
use bitcoin::psbt::Psbt;
use bitcoin::{Address, Amount, Network, OutPoint, ScriptBuf, TxIn, WPubkeyHash, WScriptHash};
use rusqlite::Connection;
use sluice_coordinator::db::utxos::ObservedCoin;
use sluice_coordinator::rules::roles::Role;
use sluice_coordinator::service::{AdminDesk, BatchOutcome, ProcessorConfig};
use sluice_coordinator::time::UnixTime;
use sluice_devnet::chain::{fund, paid_to, ChainChoice, ChainNode};
use sluice_devnet::processes::Component;
use sluice_e2e::binaries::{binary, CoordinatorApi};
use sluice_e2e::bitcoind::bitcoind_dir;
use sluice_e2e::hot_wallet::{line_value, set_up_hot_wallet, two_signers_and_a_cold_key};
use sluice_e2e::signer::Signer;
use sluice_shared::api::NewWithdrawal;
use sluice_shared::descriptor::{Branch, WalletDescriptor};
use sluice_shared::psbt_builder::fake_funding_tx;

fn count(db: &Path, sql: &str) -> i64 {
    let conn = Connection::open(db).unwrap();
    // The coordinator's services may be writing (on-chain tests): wait out their locks.
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// What an attacker with the database does: drop the guard, rewrite the session.
fn rewrite_session(db: &Path, psbt: &Psbt) {
    let conn = Connection::open(db).unwrap();
    conn.execute_batch("DROP TRIGGER IF EXISTS signing_sessions_psbt_fixed")
        .unwrap();
    conn.execute(
        "UPDATE signing_sessions SET psbt = ?1 WHERE id = 1",
        [psbt.to_string()],
    )
    .unwrap();
}

/// Two signers (A, B) of a 2-of-3 wallet registered on a coordinator database with two
/// coins of 1 BTC, and one withdrawal of 0.1 BTC (`w1`). With made-up coins the session
/// paying it (id 1) is built here; with coins funded on a chain, the coordinator's own
/// processor finds them and builds it.
struct Setup {
    dir: tempfile::TempDir,
    db: PathBuf,
    signers: Vec<Signer>,
    /// Session 1's PSBT, when `set_up` built it (made-up coins).
    original: Option<Psbt>,
    destination: Address,
}

/// Where the wallet's two coins come from.
enum Funding<'a> {
    /// Transactions that exist on no chain, recorded straight into the database.
    MadeUp,
    /// Paid on this chain by a mined coinbase (devnet's `fund`) to two receive addresses.
    OnChain(&'a tokio::runtime::Runtime, &'a ChainNode),
}

fn set_up() -> Setup {
    set_up_with(Funding::MadeUp)
}

fn set_up_with(funding: Funding<'_>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (signers, keys) = two_signers_and_a_cold_key(dir.path());
    let db = dir.path().join("coordinator.sqlite");
    let now = UnixTime::from_secs(1_790_000_000);
    let mut desk = AdminDesk::initialise(&db, Network::Regtest, ["root", "ops"], now).unwrap();
    std::fs::write(
        dir.path().join("root.token"),
        desk.admin_token.reveal().as_bytes(),
    )
    .unwrap();
    let (requester, _) = desk.enroll_staff("backend", Role::Requester).unwrap();
    let destination = Address::from_script(
        &ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([1; 20])),
        Network::Regtest,
    )
    .unwrap()
    .to_string();
    let created = set_up_hot_wallet(&mut desk, &signers, keys, &destination);
    let request = NewWithdrawal {
        customer_id: "c1".into(),
        wallet: "hot".into(),
        destination: destination.clone(),
        amount_sat: Amount::from_sat(10_000_000),
    };
    let original = match funding {
        Funding::MadeUp => {
            let descriptor = WalletDescriptor::parse(&created.multipath_descriptor, None).unwrap();
            for index in 0..2 {
                let script = descriptor.script_pubkey(Branch::Receive, index).unwrap();
                let prev_tx = fake_funding_tx(script, &[Amount::ONE_BTC], index);
                desk.coord
                    .record_coin(
                        &ObservedCoin {
                            wallet: "hot",
                            prev_tx: &prev_tx,
                            vout: 0,
                            branch: Branch::Receive,
                            index,
                            block_height: Some(101),
                        },
                        now,
                    )
                    .unwrap();
            }
            desk.coord
                .request_withdrawal(&requester, "w1", &request, now)
                .unwrap();
            let config = ProcessorConfig {
                sat_per_vbyte: 2,
                max_batch: 10,
                max_inputs: 10,
                max_fee: Amount::from_sat(100_000),
                instance: "test".into(),
            };
            assert!(matches!(
                desk.coord.batch_wallet("hot", &config, now).unwrap(),
                BatchOutcome::Batched(_)
            ));
            Some(desk.coord.session(1).unwrap().unwrap().psbt)
        }
        Funding::OnChain(runtime, chain) => {
            let addresses: Vec<Address> = (0..2)
                .map(|_| {
                    desk.coord
                        .next_receive_address(&desk.admin, "hot", now)
                        .unwrap()
                        .1
                })
                .collect();
            runtime
                .block_on(fund(&chain.client(), &addresses, Amount::ONE_BTC))
                .unwrap();
            desk.coord
                .request_withdrawal(&requester, "w1", &request, now)
                .unwrap();
            None
        }
    };
    drop(desk);
    // Each signer is given the coordinator's identity key at setup.
    let identity = Command::new(binary("sluice-coordinator"))
        .arg("--db")
        .arg(&db)
        .args(["identity", "create"])
        .env_remove("SLUICE_DB")
        .output()
        .unwrap();
    assert!(identity.status.success(), "{identity:?}");
    let identity = String::from_utf8_lossy(&identity.stdout).into_owned();
    let coordinator_key = identity.lines().last().unwrap().trim();
    for s in &signers {
        s.ok(&["coordinator", "trust", coordinator_key]);
    }

    Setup {
        dir,
        db,
        signers,
        original,
        destination: destination.parse::<Address<_>>().unwrap().assume_checked(),
    }
}

#[test]
fn tampered_sessions_get_refusals_and_no_signature() {
    let Setup {
        dir: _dir,
        db,
        signers,
        original,
        ..
    } = set_up();
    let original = original.unwrap();
    let api = CoordinatorApi::start(&db);
    let url = api.url.clone();
    let attacker = ScriptBuf::new_p2wsh(&WScriptHash::from_byte_array([0xaa; 32]));
    let change = original
        .outputs
        .iter()
        .position(|o| !o.bip32_derivation.is_empty())
        .expect("the session pays change");

    // 1. The change output now pays the attacker, still dressed as change.
    let mut swapped = original.clone();
    swapped.unsigned_tx.output[change].script_pubkey = attacker.clone();
    // 2. An input claims more than it holds (the segwit fee attack).
    let mut inflated = original.clone();
    let utxo = inflated.inputs[0].witness_utxo.as_mut().unwrap();
    utxo.value += Amount::from_int_btc(5);
    // 3. Someone else's coin slipped in among ours.
    let mut foreign = original.clone();
    let stranger_tx = fake_funding_tx(attacker.clone(), &[Amount::ONE_BTC], 99);
    foreign.unsigned_tx.input.push(TxIn {
        previous_output: OutPoint {
            txid: stranger_tx.compute_txid(),
            vout: 0,
        },
        ..TxIn::default()
    });
    let mut input = bitcoin::psbt::Input {
        non_witness_utxo: Some(stranger_tx.clone()),
        witness_utxo: Some(stranger_tx.output[0].clone()),
        ..Default::default()
    };
    input.witness_script = original.inputs[0].witness_script.clone();
    foreign.inputs.push(input);

    for (what, tampered, reason) in [
        (
            "swapped change address",
            swapped,
            "claims to be change but its script does not derive from the wallet's change branch",
        ),
        (
            "inflated input amount",
            inflated,
            "input 0: witness_utxo disagrees with the output in non_witness_utxo",
        ),
        ("foreign input", foreign, "input 1 is not the wallet's own"),
    ] {
        rewrite_session(&db, &tampered);
        let out = signers[0].ok(&["online", "--coordinator", &url, "--once"]);
        assert!(
            out.contains("refused (inspection)") && out.contains(reason),
            "{what}: the signer should refuse with {reason:?}: {out}"
        );
        assert_eq!(
            count(&db, "SELECT COUNT(*) FROM partial_signatures"),
            0,
            "{what}: no signature may reach the coordinator"
        );
        let limits = signers[0].ok(&["limits", "show"]);
        assert_eq!(
            line_value(&limits, "Total spent"),
            "0 BTC",
            "{what}: nothing spent"
        );
    }
    let journal = signers[0].ok(&["journal", "show"]);
    assert_eq!(journal.matches("refused").count(), 3, "{journal}");
    signers[0].ok(&["journal", "verify"]);

    // The untouched session is signed by both, and becomes fully signed.
    rewrite_session(&db, &original);
    for s in &signers {
        s.ok(&["online", "--coordinator", &url, "--once"]);
    }
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM signing_sessions WHERE status = 'signed'"
        ),
        1
    );
    drop(api);
}

/// An offline signer takes part through `session export` / `session import`: A signs from
/// an SD-card file, B from QR frames; the coordinator verifies both and the session is
/// fully signed.
#[test]
fn offline_signers_sign_a_session_by_sd_card_and_by_qr() {
    let Setup { dir, db, signers, .. } = set_up();
    sign_session_1_offline(dir.path(), &db, &signers);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM signing_sessions WHERE status = 'signed'"
        ),
        1
    );
}

/// Session 1 signed by A from an SD-card file and by B from QR frames, each imported
/// with `session import`; junk and repeated imports change nothing.
fn sign_session_1_offline(dir: &Path, db: &Path, signers: &[Signer]) {
    // Staff commands are API requests: an API of its own (beside any running services).
    let api = CoordinatorApi::start(db);
    let run_coordinator = |args: &[&str]| {
        Command::new(binary("sluice-coordinator"))
            .arg("--db")
            .arg(db)
            .arg("--token-file")
            .arg(dir.join("root.token"))
            .arg("--api")
            .arg(&api.url)
            .args(args)
            .env_remove("SLUICE_DB")
            .env_remove("SLUICE_TOKEN")
            .env_remove("SLUICE_API")
            .output()
            .unwrap()
    };
    let coordinator = |args: &[&str]| {
        let out = run_coordinator(args);
        assert!(
            out.status.success(),
            "sluice-coordinator {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let path = |name: &str| dir.join(name).display().to_string();
    // SD card: a BIP174 file out, the signed file back.
    coordinator(&["session", "export", "--id", "1", "--out", &path("session-1.psbt")]);
    signers[0].ok(&[
        "sign",
        "--in",
        &path("session-1.psbt"),
        "--out",
        &path("session-1-signed.psbt"),
        "--yes",
    ]);
    let out = coordinator(&[
        "session",
        "import",
        "--id",
        "1",
        "--in",
        &path("session-1-signed.psbt"),
    ]);
    assert!(
        out.contains("1 new signature(s)") && out.contains("more signatures are needed"),
        "{out}"
    );

    // A file that is not a PSBT, and the same signatures again, change nothing.
    std::fs::write(path("junk.psbt"), b"not a psbt").unwrap();
    let junk = run_coordinator(&["session", "import", "--id", "1", "--in", &path("junk.psbt")]);
    assert!(!junk.status.success());
    assert!(String::from_utf8_lossy(&junk.stderr).contains("not a valid PSBT"));
    let again = coordinator(&[
        "session",
        "import",
        "--id",
        "1",
        "--in",
        &path("session-1-signed.psbt"),
    ]);
    assert!(again.contains("0 new signature(s)"), "{again}");

    // QR: frames out, the signer reads them and answers with frames.
    coordinator(&["session", "export", "--id", "1", "--out-qr", &path("qr-out")]);
    let frames: Vec<String> = std::fs::read_dir(dir.join("qr-out"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    let mut sign = vec!["sign", "--yes", "--out-qr"];
    let qr_back = path("qr-back");
    sign.push(&qr_back);
    sign.push("--in-qr");
    sign.extend(frames.iter().map(String::as_str));
    signers[1].ok(&sign);
    let answers: Vec<String> = std::fs::read_dir(dir.join("qr-back"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    let mut import = vec!["session", "import", "--id", "1", "--in-qr"];
    import.extend(answers.iter().map(String::as_str));
    let out = coordinator(&import);
    assert!(out.contains("the session is fully signed"), "{out}");
}

/// The offline participant on a real chain: the wallet's coins are paid by a mined
/// coinbase, the coordinator's services (`run all`) find them and build the session, A and
/// B sign it offline (SD card, QR), and the sender and monitor take it to `confirmed`.
/// The chain itself (every block, read from the node) pays the destination exactly once.
fn offline_signers_complete_a_withdrawal_on(choice: &ChainChoice) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let chain = runtime
        .block_on(ChainNode::start(choice, Duration::from_secs(1)))
        .unwrap();
    let Setup {
        dir,
        db,
        signers,
        destination,
        ..
    } = set_up_with(Funding::OnChain(&runtime, &chain));
    let mut command = Command::new(binary("sluice-coordinator"));
    command
        .arg("--db")
        .arg(&db)
        .args([
            "run",
            "all",
            "--listen",
            "127.0.0.1:0",
            "--chain-url",
            chain.url(),
        ])
        .args(["--resend-seconds", "5", "--interval-ms", "200"])
        .env_remove("SLUICE_DB")
        .env_remove("SLUICE_CHAIN_URL");
    if let Some(cookie) = chain.cookie_file() {
        command.arg("--rpc-cookie-file").arg(cookie);
    }
    let mut services = Component::start(
        "sluice-coordinator run all",
        command,
        dir.path().join("run-all.log"),
    )
    .unwrap();
    services
        .wait_for_line("sluice-coordinator api listening on ", Duration::from_secs(30))
        .unwrap();
    wait_for(&db, &mut services, "the processor's session for w1", |db| {
        count(db, "SELECT COUNT(*) FROM signing_sessions WHERE id = 1") == 1
    });
    sign_session_1_offline(dir.path(), &db, &signers);
    wait_for(&db, &mut services, "w1 confirmed", |db| {
        count(
            db,
            "SELECT COUNT(*) FROM withdrawals WHERE idempotency_key = 'w1' AND status = 'confirmed'",
        ) == 1
    });
    let script = destination.script_pubkey();
    let paid = runtime.block_on(paid_to(&chain.client(), [&script])).unwrap();
    assert_eq!(
        paid.get(&script).copied(),
        Some(Amount::from_sat(10_000_000)),
        "the {} chain pays the destination exactly the withdrawal, once",
        chain.name()
    );
    services.kill();
}

/// Polls `done` on the database (bounded), failing if the services stop.
fn wait_for(db: &Path, services: &mut Component, what: &str, done: impl Fn(&Path) -> bool) {
    let start = Instant::now();
    while !done(db) {
        assert!(
            services.running(),
            "the coordinator stopped while waiting for {what}:\n{}",
            services.log_tail(30)
        );
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{what} did not happen within 120 s; the coordinator's log ends:\n{}",
            services.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn offline_signers_complete_a_withdrawal_on_simnet() {
    offline_signers_complete_a_withdrawal_on(&ChainChoice::Simnet);
}

#[test]
fn on_bitcoin_core_offline_signers_complete_a_withdrawal() {
    offline_signers_complete_a_withdrawal_on(&ChainChoice::Core {
        bitcoind_dir: bitcoind_dir(),
        consistency_checks: true,
    });
}

/// A signer acts only on replies signed by the coordinator key it was given at setup: one
/// set up with another coordinator's key refuses the real coordinator's replies, signs
/// nothing and journals the refusal; plain http to a non-loopback host is refused before
/// any connection.
#[test]
fn a_signer_refuses_replies_not_signed_by_its_coordinator() {
    let Setup {
        dir: _dir,
        db,
        signers,
        ..
    } = set_up();
    let api = CoordinatorApi::start(&db);
    let url = api.url.clone();
    let other = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
    signers[0].ok(&["coordinator", "trust", other, "--replace"]);
    let out = signers[0].run(&["online", "--coordinator", &url, "--once"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refused the reply") && err.contains("does not verify"),
        "{err}"
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM partial_signatures"), 0);
    let journal = signers[0].ok(&["journal", "show"]);
    assert!(journal.contains("reply-refused"), "{journal}");
    assert_eq!(
        line_value(&signers[0].ok(&["limits", "show"]), "Total spent"),
        "0 BTC"
    );

    let out = signers[1].run(&["online", "--coordinator", "http://10.0.0.1:9", "--once"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a loopback address"), "{err}");
    drop(api);
}

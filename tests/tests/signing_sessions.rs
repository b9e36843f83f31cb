//! Signing sessions as signers see them, with the real binaries over the real API.
//!
//! A compromised coordinator: an attacker with the coordinator's database rewrites a
//! session's PSBT (dropping the trigger that forbids it) and serves it to an online
//! signer. The signer refuses every tampered PSBT, releases no signature and spends none
//! of its limits; the untouched PSBT is then signed. And an offline signer takes part in
//! a session through `session export` / `session import`, by SD card or QR.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bitcoin::hashes::Hash;
use bitcoin::psbt::Psbt;
use bitcoin::{Address, Amount, Network, OutPoint, ScriptBuf, TxIn, WPubkeyHash, WScriptHash};
use rusqlite::Connection;
use sluice_coordinator::db::utxos::ObservedCoin;
use sluice_coordinator::rules::fees::FeeSchedule;
use sluice_coordinator::rules::policy::ApprovalPolicy;
use sluice_coordinator::rules::roles::Role;
use sluice_coordinator::service::{
    Applied, BatchOutcome, Change, Coordinator, NewWalletRequest, ProcessorConfig,
};
use sluice_coordinator::time::UnixTime;
use sluice_coordinator::wallet_spec::WalletKindArg;
use sluice_e2e::binaries::binary;
use sluice_e2e::signer::Signer;
use sluice_shared::api::NewWithdrawal;
use sluice_shared::asset::Asset;
use sluice_shared::descriptor::{Branch, WalletDescriptor};
use sluice_shared::psbt_builder::fake_funding_tx;

fn line_value(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap()
        .trim()
        .to_owned()
}

fn start_api(db: &Path) -> (Child, String) {
    let log = db.with_file_name("api.log");
    let mut child = Command::new(binary("sluice-coordinator"))
        .arg("--db")
        .arg(db)
        .args(["run", "api", "--listen", "127.0.0.1:0"])
        .env_remove("SLUICE_DB")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(url) = text
            .lines()
            .find_map(|l| l.strip_prefix("sluice-coordinator api listening on "))
        {
            return (child, url.trim().to_owned());
        }
        assert!(child.try_wait().unwrap().is_none(), "the API exited");
        assert!(start.elapsed() < Duration::from_secs(30), "the API did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn count(db: &Path, sql: &str) -> i64 {
    Connection::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
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
/// coins, and one signing session (id 1) paying one withdrawal.
struct Setup {
    dir: tempfile::TempDir,
    db: PathBuf,
    signers: Vec<Signer>,
    original: Psbt,
}

fn set_up() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let passphrase = dir.path().join("passphrase");
    std::fs::write(&passphrase, "test passphrase\n").unwrap();
    let signers: Vec<Signer> = ["a", "b"]
        .iter()
        .map(|n| Signer {
            home: dir.path().join(n),
            passphrase: passphrase.clone(),
        })
        .collect();
    let mut keys = Vec::new();
    for s in &signers {
        s.ok(&["init", "--network", "regtest", "--dangerous-weak-kdf"]);
        keys.push(s.ok(&["xpub", "--path", "84h/1h/0h"]).trim().to_owned());
    }
    // The third cosigner is cold and plays no part here.
    keys.push("[3429876a/84h/1h/0h]tpubDCRy5oJLbB3etWH8sirNRUhtdp5GqhNPChRnpe8GMuze9NbgQeagn6icEf1moF2xpxiE2b5V5w2PQyBiifkjLQmfGfqbgSAXDbpegWj9V3s".to_owned());

    let db = dir.path().join("coordinator.sqlite");
    let now = UnixTime::from_secs(1_790_000_000);
    let mut rng = rand::thread_rng();
    let (mut coord, secrets) =
        Coordinator::initialise(&db, Network::Regtest, ["root", "ops"], &mut rng, now).unwrap();
    let [token, ops_token] = secrets.map(|secret| coord.enroll(&secret, &mut rng, now).unwrap().1);
    let admin = coord.authenticate(&token).unwrap();
    let ops = coord.authenticate(&ops_token).unwrap();
    std::fs::write(dir.path().join("root.token"), token.reveal().as_bytes()).unwrap();
    let agree = |coord: &mut Coordinator, change: Change| {
        coord
            .propose_and_approve(&admin, &ops, &change, &mut rand::thread_rng(), now)
            .unwrap()
    };
    let secret = agree(
        &mut coord,
        Change::StaffAdd {
            name: "backend".into(),
            role: Role::Requester,
        },
    )
    .into_enrollment_secret()
    .unwrap();
    let (_, requester) = coord.enroll(&secret, &mut rng, now).unwrap();
    let requester = coord.authenticate(&requester).unwrap();
    coord.add_customer(&admin, "c1", now).unwrap();
    let destination = Address::from_script(
        &ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([1; 20])),
        Network::Regtest,
    )
    .unwrap()
    .to_string();
    agree(
        &mut coord,
        Change::BeneficiaryAdd {
            customer_id: "c1".into(),
            address: destination.clone(),
            label: "main".into(),
        },
    );
    agree(
        &mut coord,
        Change::FeesSet {
            asset: Asset::Btc,
            schedule: FeeSchedule::Flat(Amount::ZERO),
        },
    );
    let Applied::Wallet(created) = agree(
        &mut coord,
        Change::WalletCreate(NewWalletRequest {
            name: "hot".into(),
            kind: WalletKindArg::WshSortedMulti,
            threshold: Some(2),
            keys,
            policy: ApprovalPolicy::Auto {
                max_amount_sat: Amount::ONE_BTC,
                registered_destination_only: true,
            },
            daily_limit: Amount::from_int_btc(100),
        }),
    ) else {
        panic!("wallet create yields the wallet")
    };
    for (i, s) in signers.iter().enumerate() {
        let id = s.ok(&["id"]);
        agree(
            &mut coord,
            Change::SignerAdd {
                name: format!("signer-{i}"),
                identity_key: line_value(&id, "Identity key:"),
                fingerprint: line_value(&id, "Master fingerprint:"),
                tor_key: None,
            },
        );
        s.ok(&[
            "wallet",
            "register",
            "--name",
            "hot",
            "--descriptor",
            &created.multipath_descriptor,
        ]);
        s.ok(&[
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
    }
    let descriptor = WalletDescriptor::parse(&created.multipath_descriptor, None).unwrap();
    for index in 0..2 {
        let script = descriptor.script_pubkey(Branch::Receive, index).unwrap();
        let prev_tx = fake_funding_tx(script, &[Amount::ONE_BTC], index);
        coord
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
    let request = NewWithdrawal {
        customer_id: "c1".into(),
        wallet: "hot".into(),
        destination,
        amount_sat: Amount::from_sat(10_000_000),
    };
    coord.request_withdrawal(&requester, "w1", &request, now).unwrap();
    let config = ProcessorConfig {
        sat_per_vbyte: 2,
        max_batch: 10,
        max_inputs: 10,
        max_fee: Amount::from_sat(100_000),
        instance: "test".into(),
    };
    assert!(matches!(
        coord.batch_wallet("hot", &config, now).unwrap(),
        BatchOutcome::Batched(_)
    ));
    let original = coord.session(1).unwrap().unwrap().psbt;
    drop(coord);
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
    }
}

#[test]
fn tampered_sessions_get_refusals_and_no_signature() {
    let Setup {
        dir: _dir,
        db,
        signers,
        original,
    } = set_up();
    let (mut api, url) = start_api(&db);
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
    api.kill().unwrap();
    api.wait().unwrap();
}

/// An offline signer takes part through `session export` / `session import`: A signs from
/// an SD-card file, B from QR frames; the coordinator verifies both and the session is
/// fully signed.
#[test]
fn offline_signers_sign_a_session_by_sd_card_and_by_qr() {
    let Setup {
        dir,
        db,
        signers,
        original: _,
    } = set_up();
    let run_coordinator = |args: &[&str]| {
        Command::new(binary("sluice-coordinator"))
            .arg("--db")
            .arg(&db)
            .arg("--token-file")
            .arg(dir.path().join("root.token"))
            .args(args)
            .env_remove("SLUICE_DB")
            .env_remove("SLUICE_TOKEN")
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
    let path = |name: &str| dir.path().join(name).display().to_string();

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
    let frames: Vec<String> = std::fs::read_dir(dir.path().join("qr-out"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    let mut sign = vec!["sign", "--yes", "--out-qr"];
    let qr_back = path("qr-back");
    sign.push(&qr_back);
    sign.push("--in-qr");
    sign.extend(frames.iter().map(String::as_str));
    signers[1].ok(&sign);
    let answers: Vec<String> = std::fs::read_dir(dir.path().join("qr-back"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    let mut import = vec!["session", "import", "--id", "1", "--in-qr"];
    import.extend(answers.iter().map(String::as_str));
    let out = coordinator(&import);
    assert!(out.contains("the session is fully signed"), "{out}");
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM signing_sessions WHERE status = 'signed'"
        ),
        1
    );
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
        original: _,
    } = set_up();
    let (mut api, url) = start_api(&db);
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
    api.kill().unwrap();
    api.wait().unwrap();
}

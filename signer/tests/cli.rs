//! The cold-wallet operator's commands, run as a user would.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

mod support;

use bitcoin::Amount;
use support::*;

fn signer_with_wpkh_wallet() -> (TestSigner, sluice_shared::descriptor::WalletDescriptor) {
    let fx = fixtures();
    let s = TestSigner::new();
    s.init_from_tprv(fx["keys"]["A"]["master_tprv"].as_str().unwrap(), &[]);
    let (r, c, d) = wpkh_wallet(&fx);
    s.register("hot", &r, &c);
    (s, d)
}

#[test]
fn new_seed_is_shown_once_and_restores_the_same_keys() {
    let s = TestSigner::new();
    let out = s.ok(&["init", "--network", "regtest", "--dangerous-weak-kdf"]);
    let words: Vec<&str> = out
        .lines()
        .find(|l| l.split_whitespace().count() == 24)
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(words.len(), 24);
    let xpub = s.ok(&["xpub", "--path", "84h/1h/0h"]);
    assert!(xpub.starts_with('[') && xpub.contains("tpub"), "{xpub}");
    // The keystore on disk does not contain the words.
    let keystore = std::fs::read_to_string(s.home().join("keystore.json")).unwrap();
    assert!(!keystore.contains(words[0]) || !keystore.contains(words[1]));

    let restored = TestSigner::new();
    std::fs::write(restored.path("words"), words.join(" ")).unwrap();
    let words_file = restored.path("words");
    restored.ok(&[
        "init",
        "--network",
        "regtest",
        "--from-mnemonic-file",
        words_file.to_str().unwrap(),
        "--dangerous-weak-kdf",
    ]);
    assert_eq!(restored.ok(&["xpub", "--path", "84h/1h/0h"]), xpub);
    let id = s.ok(&["id"]);
    assert_eq!(id.lines().last().unwrap().len(), 16, "last line is the bare id");
    assert_eq!(restored.ok(&["id"]).lines().last(), id.lines().last());
}

#[test]
fn wrong_passphrase_and_missing_home_are_clear_errors() {
    let (s, _) = signer_with_wpkh_wallet();
    std::fs::write(s.path("pass"), "not the passphrase\n").unwrap();
    let err = s.fails(&["xpub", "--path", "84h/1h/0h"]);
    assert!(err.contains("wrong passphrase"), "{err}");
    let other = TestSigner::new();
    let err = other.fails(&["limits", "show"]);
    assert!(err.contains("init"), "{err}");
    let err = s.fails(&["init", "--network", "regtest", "--dangerous-weak-kdf"]);
    assert!(err.contains("refusing to overwrite"), "{err}");
}

#[test]
fn only_wallets_with_this_signers_key_are_registered() {
    let fx = fixtures();
    let s = TestSigner::new();
    s.init_from_tprv(fx["keys"]["C"]["master_tprv"].as_str().unwrap(), &[]);
    let (r, c, _) = wpkh_wallet(&fx); // signer A's wallet
    let err = s.fails(&[
        "wallet",
        "register",
        "--name",
        "x",
        "--descriptor",
        &r,
        "--change-descriptor",
        &c,
    ]);
    assert!(err.contains("does not contain this signer's key"), "{err}");
    // A wallet claiming C's fingerprint with someone else's xpub is refused too.
    let forged = r.replace("1bbaa5fe", "3429876a");
    let forged = forged.split('#').next().unwrap().to_owned();
    let forged_change = c
        .replace("1bbaa5fe", "3429876a")
        .split('#')
        .next()
        .unwrap()
        .to_owned();
    let err = s.fails(&[
        "wallet",
        "register",
        "--name",
        "x",
        "--descriptor",
        &forged,
        "--change-descriptor",
        &forged_change,
    ]);
    assert!(err.contains("is not this signer's"), "{err}");
    // The multisig that contains C registers.
    let w = &fx["wallets"]["wsh_2of3"];
    s.register(
        "vault",
        w["descriptor_receive"].as_str().unwrap(),
        w["descriptor_change"].as_str().unwrap(),
    );
    assert!(s.ok(&["wallet", "list"]).contains("vault"));
}

#[test]
fn limits_are_set_once_and_then_only_by_signed_commands() {
    let (s, _) = signer_with_wpkh_wallet();
    let err = s.fails(&["limits", "show"]);
    assert!(err.contains("limits init"), "{err}");
    s.limits("0.04", "60", "0.1", "1");
    let shown = s.ok(&["limits", "show"]);
    assert!(
        shown.contains("0.04 BTC per 60 s") && shown.contains("Total remaining  1 BTC"),
        "{shown}"
    );
    let err = s.fails(&[
        "limits",
        "init",
        "--rate",
        "5",
        "--per-seconds",
        "1",
        "--burst",
        "5",
        "--total",
        "100",
    ]);
    assert!(err.contains("signed limit commands"), "{err}");
}

#[test]
fn refused_psbts_write_nothing_and_say_why() {
    let (s, wallet) = signer_with_wpkh_wallet();
    s.limits("0.04", "60", "0.1", "1");
    // Fee above the default 0.01 BTC cap.
    let psbt = make_psbt(&wallet, 1, btc("0.5"), btc("0.1"), btc("0.02"), 1);
    let path = s.path("fee.psbt");
    write_psbt(&path, &psbt);
    let err = s.fails(&["sign", "--in", path.to_str().unwrap(), "--yes"]);
    assert!(err.contains("fee") && err.contains("cap"), "{err}");
    assert!(!s.path("fee-signed.psbt").exists());
    // Outflow above the burst.
    let psbt = make_psbt(&wallet, 1, btc("0.5"), btc("0.2"), btc("0.0001"), 2);
    let path = s.path("big.psbt");
    write_psbt(&path, &psbt);
    let err = s.fails(&["sign", "--in", path.to_str().unwrap(), "--yes"]);
    assert!(err.contains("burst"), "{err}");
    assert!(!s.path("big-signed.psbt").exists());
    // Not a PSBT at all.
    std::fs::write(s.path("junk.psbt"), b"psbt\xff\x00garbage").unwrap();
    let junk = s.path("junk.psbt");
    let err = s.fails(&["sign", "--in", junk.to_str().unwrap(), "--yes"]);
    assert!(err.contains("not a valid PSBT"), "{err}");
    // Without --yes and without a terminal: refuse to sign.
    let ok = make_psbt(&wallet, 1, btc("0.5"), btc("0.01"), btc("0.0001"), 3);
    let path = s.path("ok.psbt");
    write_psbt(&path, &ok);
    let err = s.fails(&["sign", "--in", path.to_str().unwrap()]);
    assert!(err.contains("--yes"), "{err}");
    assert!(!s.path("ok-signed.psbt").exists());
    let state = s.state();
    assert_eq!(
        state.reserved_total(sluice_shared::asset::Asset::Btc).unwrap(),
        Amount::ZERO
    );
    let journal = s.ok(&["journal", "show"]);
    assert_eq!(journal.matches("refused").count(), 2, "{journal}");
}

#[test]
fn signs_from_qr_images_to_qr_frames() {
    let (s, wallet) = signer_with_wpkh_wallet();
    s.limits("1", "60", "2", "10");
    let psbt = make_psbt(&wallet, 12, btc("0.1"), btc("0.5"), btc("0.0002"), 4);
    let frames_in = sluice_shared::ur_psbt::encode_parts(
        &psbt.serialize(),
        sluice_shared::ur_psbt::DEFAULT_MAX_FRAGMENT_LEN,
    );
    assert!(frames_in.len() > 1, "a multipart PSBT");
    let mut images = Vec::new();
    for (i, part) in frames_in.iter().enumerate().rev() {
        let path = s.path(&format!("in-{i}.png"));
        std::fs::write(&path, sluice_shared::qr::render_png(part, 3).unwrap()).unwrap();
        images.push(path.to_str().unwrap().to_owned());
    }
    let out_dir = s.path("out-frames");
    let mut args = vec!["sign", "--yes", "--out-qr", out_dir.to_str().unwrap(), "--in-qr"];
    args.extend(images.iter().map(String::as_str));
    let out = s.ok(&args);
    assert_eq!(amount_after(&out, "Outflow"), btc("0.5002"));
    // Read the signed PSBT back from the frames, as the online machine would.
    let mut decoder = sluice_shared::ur_psbt::PsbtPartDecoder::new();
    let mut frames: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    frames.sort();
    for frame in frames {
        for text in sluice_shared::qr::decode_image_bytes(&std::fs::read(frame).unwrap()).unwrap() {
            decoder.receive(&text).unwrap();
        }
    }
    let signed = bitcoin::psbt::Psbt::deserialize(&decoder.psbt_bytes().unwrap()).unwrap();
    assert_eq!(signed.unsigned_tx.compute_txid(), psbt.unsigned_tx.compute_txid());
    let tx = sluice_shared::finalize::finalize(&signed).unwrap();
    assert_eq!(tx.input.len(), 12);
}

/// A video of the coordinator's animation in (APNG), an animated QR code out at a set
/// frame rate and fragment size; bad settings are refused before anything is reserved.
#[test]
fn signs_from_a_qr_video_to_an_animated_qr_code() {
    use sluice_shared::qr_animation::{psbt_apng, AnimationSettings};
    let (s, wallet) = signer_with_wpkh_wallet();
    s.limits("1", "60", "2", "10");
    let psbt = make_psbt(&wallet, 12, btc("0.1"), btc("0.5"), btc("0.0002"), 6);
    let video = s.path("coordinator.png");
    std::fs::write(
        &video,
        psbt_apng(&psbt.serialize(), &AnimationSettings::default()).unwrap(),
    )
    .unwrap();
    let out = s.path("signed.png");
    let (video, out) = (video.to_str().unwrap(), out.to_str().unwrap());
    let err = s.fails(&[
        "sign",
        "--yes",
        "--in-qr-video",
        video,
        "--out-qr-animation",
        out,
        "--qr-fps",
        "60",
    ]);
    assert!(err.contains("frame rate 60"), "{err}");
    assert_eq!(
        s.state()
            .reserved_total(sluice_shared::asset::Asset::Btc)
            .unwrap(),
        Amount::ZERO
    );
    let printed = s.ok(&[
        "sign",
        "--yes",
        "--in-qr-video",
        video,
        "--out-qr-animation",
        out,
        "--qr-fps",
        "8",
        "--qr-fragment-len",
        "300",
    ]);
    assert!(printed.contains("at 8 a second"), "{printed}");
    let apng = std::fs::read(out).unwrap();
    let mut decoder = sluice_shared::ur_psbt::PsbtPartDecoder::new();
    for frame in sluice_shared::video_frames::frames(&apng).unwrap() {
        for text in sluice_shared::qr::decode_image(&frame).unwrap() {
            assert!(text.len() < 800, "300-byte fragments make short frames");
            decoder.receive(&text).unwrap();
        }
    }
    let signed = bitcoin::psbt::Psbt::deserialize(&decoder.psbt_bytes().unwrap()).unwrap();
    assert_eq!(signed.unsigned_tx.compute_txid(), psbt.unsigned_tx.compute_txid());
    sluice_shared::finalize::finalize(&signed).unwrap();
}

#[test]
fn the_same_transaction_signed_twice_is_reserved_once() {
    let (s, wallet) = signer_with_wpkh_wallet();
    s.limits("0.0001", "3600", "0.1", "1");
    let psbt = make_psbt(&wallet, 1, btc("0.5"), btc("0.06"), btc("0.0001"), 5);
    let path = s.path("again.psbt");
    write_psbt(&path, &psbt);
    s.ok(&["sign", "--in", path.to_str().unwrap(), "--yes"]);
    let out = s.ok(&["sign", "--in", path.to_str().unwrap(), "--yes"]);
    assert!(out.contains("reserved before"), "{out}");
    assert_eq!(
        s.state()
            .reserved_total(sluice_shared::asset::Asset::Btc)
            .unwrap(),
        btc("0.0601")
    );
}

#[test]
fn journal_verify_detects_edited_and_deleted_entries() {
    let (s, wallet) = signer_with_wpkh_wallet();
    s.limits("1", "60", "1", "10");
    let psbt = make_psbt(&wallet, 1, btc("0.5"), btc("0.1"), btc("0.0001"), 6);
    let path = s.path("j.psbt");
    write_psbt(&path, &psbt);
    s.ok(&["sign", "--in", path.to_str().unwrap(), "--yes"]);
    assert!(s.ok(&["journal", "verify"]).contains("Journal OK"));
    let db = s.home().join("state.sqlite");
    let backup = s.path("backup.sqlite");
    std::fs::copy(&db, &backup).unwrap();
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute(
            "UPDATE journal SET details = replace(details, '10000000', '99999999') WHERE event = 'reserved'",
            [],
        )
        .unwrap();
    }
    let err = s.fails(&["journal", "verify"]);
    assert!(err.contains("edited"), "{err}");
    std::fs::copy(&backup, &db).unwrap();
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute("DELETE FROM journal WHERE seq = 3", []).unwrap();
    }
    let err = s.fails(&["journal", "verify"]);
    assert!(err.contains("missing") || err.contains("deleted"), "{err}");
    std::fs::copy(&backup, &db).unwrap();
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute(
            "DELETE FROM journal WHERE seq = (SELECT MAX(seq) FROM journal)",
            [],
        )
        .unwrap();
    }
    let err = s.fails(&["journal", "verify"]);
    assert!(err.contains("deleted"), "{err}");
}

#[test]
fn a_wrong_passphrase_or_a_tampered_key_path_signs_and_reserves_nothing() {
    let (s, wallet) = signer_with_wpkh_wallet();
    s.limits("1", "60", "1", "10");
    let psbt = make_psbt(&wallet, 2, btc("0.5"), btc("0.1"), btc("0.0001"), 7);
    let path = s.path("w.psbt");
    write_psbt(&path, &psbt);
    std::fs::write(s.path("pass"), "not the passphrase\n").unwrap();
    let err = s.fails(&["sign", "--yes", "--in", path.to_str().unwrap()]);
    assert!(err.contains("wrong passphrase"), "{err}");
    std::fs::write(s.path("pass"), "test passphrase\n").unwrap();

    // The coordinator adds a second key path of this signer to input 1: the signer would
    // sign with a key the wallet does not use there. Inspection passes; the plan refuses.
    let mut tampered = psbt.clone();
    let (own_fp, _) = *tampered.inputs[1].bip32_derivation.values().next().unwrap();
    let stranger = bitcoin::secp256k1::PublicKey::from_secret_key(
        &bitcoin::secp256k1::Secp256k1::new(),
        &bitcoin::secp256k1::SecretKey::from_slice(&[3; 32]).unwrap(),
    );
    tampered.inputs[1]
        .bip32_derivation
        .insert(stranger, (own_fp, "m/84'/1'/0'/0/77".parse().unwrap()));
    let bad = s.path("bad.psbt");
    write_psbt(&bad, &tampered);
    let err = s.fails(&["sign", "--yes", "--in", bad.to_str().unwrap()]);
    assert!(
        err.contains("refused (signing): input 1") && err.contains("84'/1'/0'/0/77"),
        "{err}"
    );
    assert!(!s.path("w-signed.psbt").exists() && !s.path("bad-signed.psbt").exists());
    assert_eq!(s.state().reservation_count().unwrap(), 0);
    assert!(s.ok(&["journal", "show"]).contains("\"rule\":\"signing\""));
    // The untampered PSBT still signs.
    s.ok(&["sign", "--yes", "--in", path.to_str().unwrap()]);
    assert_eq!(s.state().reservation_count().unwrap(), 1);
}

#[test]
fn the_demo_runs_end_to_end() {
    let out = std::process::Command::new(BIN)
        .arg("demo")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    for expected in [
        "WRITE DOWN THESE 24 WORDS",
        "passes Bitcoin Core's script interpreter",
        "QR frame(s)",
        "REFUSED: rate limit",
        "a signed limit command (raise-total)",
        "Journal OK",
        "Done:",
    ] {
        assert!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
    }
}

#[test]
fn an_output_that_cannot_be_written_keeps_the_reservation_and_re_signing_is_free() {
    let (s, wallet) = signer_with_wpkh_wallet();
    s.limits("1", "60", "1", "10");
    let path = s.path("w.psbt");
    write_psbt(
        &path,
        &make_psbt(&wallet, 1, btc("0.5"), btc("0.1"), btc("0.0001"), 8),
    );
    let nowhere = s.path("no-such-card/w-signed.psbt");
    let err = s.fails(&[
        "sign",
        "--yes",
        "--in",
        path.to_str().unwrap(),
        "--out",
        nowhere.to_str().unwrap(),
    ]);
    assert!(err.contains("could not be written"), "{err}");
    assert_eq!(
        s.state()
            .reserved_total(sluice_shared::asset::Asset::Btc)
            .unwrap(),
        btc("0.1001")
    );
    assert!(s.ok(&["journal", "show"]).contains("output-failed"));
    let out = s.ok(&["sign", "--yes", "--in", path.to_str().unwrap()]);
    assert!(out.contains("reserved before"), "{out}");
    assert!(s.path("w-signed.psbt").exists());
    assert_eq!(
        s.state()
            .reserved_total(sluice_shared::asset::Asset::Btc)
            .unwrap(),
        btc("0.1001")
    );
    assert!(s.ok(&["journal", "verify"]).contains("Journal OK"));
}

//! The signer's side of signed paper limit commands: a spent total refuses with a message
//! that says a signed command is needed; a 2-of-3 raise-total (scanned from its QR code)
//! lets the signer sign again, only up to the new total; a replay is refused; a pause stops
//! every signature, even of a transaction reserved before, until a resume.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

mod support;

use sluice_shared::limit_command::LimitAction;
use support::*;

fn signer_with_officers() -> (TestSigner, sluice_shared::descriptor::WalletDescriptor, String) {
    let fx = fixtures();
    let s = TestSigner::new();
    let extra = officer_args();
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    s.init_from_tprv(fx["keys"]["A"]["master_tprv"].as_str().unwrap(), &extra);
    let (r, c, d) = wpkh_wallet(&fx);
    s.register("hot", &r, &c);
    let id = s.ok(&["id"]).lines().last().unwrap().to_owned();
    (s, d, id)
}

fn psbt_file(
    s: &TestSigner,
    wallet: &sluice_shared::descriptor::WalletDescriptor,
    name: &str,
    pay: &str,
    salt: u32,
) -> String {
    let path = s.path(name);
    write_psbt(
        &path,
        &make_psbt(wallet, 1, btc("1"), btc(pay), btc("0.0001"), salt),
    );
    path.to_str().unwrap().to_owned()
}

#[test]
fn a_spent_total_needs_a_signed_raise_and_signs_only_up_to_it() {
    let (s, wallet, id) = signer_with_officers();
    s.limits("1", "1", "1", "0.2");
    let first = psbt_file(&s, &wallet, "w1.psbt", "0.1499", 1);
    s.ok(&["sign", "--yes", "--in", &first]);
    // 0.15 spent, 0.05 left: a 0.1 withdrawal is refused, and the operator is told why.
    let second = psbt_file(&s, &wallet, "w2.psbt", "0.0999", 2);
    let err = s.fails(&["sign", "--yes", "--in", &second]);
    assert!(err.contains("a signed limit command"), "{err}");
    assert!(!s.path("w2-signed.psbt").exists());

    // Officers 1 and 3 sign "raise the total by 0.1"; the signer scans the printed code.
    let officers = officers();
    let raise = limit_command(
        &id,
        LimitAction::RaiseTotal { amount: btc("0.1") },
        7,
        &[&officers[0], &officers[2]],
    );
    let sheet = s.path("raise.png");
    std::fs::write(&sheet, sluice_shared::qr::render_png(&raise, 4).unwrap()).unwrap();
    let applied = s.ok(&["limits", "apply", "--scan", sheet.to_str().unwrap()]);
    assert!(applied.contains("Applied limit command"), "{applied}");
    assert_eq!(
        amount_after(&s.ok(&["limits", "show"]), "Total remaining"),
        btc("0.15")
    );

    s.ok(&["sign", "--yes", "--in", &second]);
    assert!(s.path("w2-signed.psbt").exists());
    // 0.05 left: 0.06 is refused again.
    let third = psbt_file(&s, &wallet, "w3.psbt", "0.0599", 3);
    let err = s.fails(&["sign", "--yes", "--in", &third]);
    assert!(err.contains("total allowance exhausted"), "{err}");

    // The same paper again is a replay, and changes nothing.
    let err = s.fails(&["limits", "apply", "--text", &raise]);
    assert!(err.contains("already applied"), "{err}");
    assert_eq!(
        amount_after(&s.ok(&["limits", "show"]), "Total remaining"),
        btc("0.05")
    );
    // One officer alone is not enough.
    let lone = limit_command(
        &id,
        LimitAction::RaiseTotal { amount: btc("5") },
        8,
        &[&officers[1]],
    );
    let err = s.fails(&["limits", "apply", "--text", &lone]);
    assert!(err.contains("limit command refused"), "{err}");
    assert_eq!(
        amount_after(&s.ok(&["limits", "show"]), "Total remaining"),
        btc("0.05")
    );
    assert!(s.ok(&["journal", "verify"]).contains("Journal OK"));
}

#[test]
fn a_pause_stops_every_signature_until_a_resume() {
    let (s, wallet, id) = signer_with_officers();
    s.limits("1", "1", "1", "10");
    let first = psbt_file(&s, &wallet, "p1.psbt", "0.1", 11);
    s.ok(&["sign", "--yes", "--in", &first]);
    let officers = officers();
    let pause = limit_command(&id, LimitAction::Pause, 20, &[&officers[0], &officers[1]]);
    s.ok(&["limits", "apply", "--text", &pause]);
    assert!(s.ok(&["limits", "show"]).contains("Paused           yes"));

    let second = psbt_file(&s, &wallet, "p2.psbt", "0.1", 12);
    let err = s.fails(&["sign", "--yes", "--in", &second]);
    assert!(err.contains("paused"), "{err}");
    // Not even the transaction signed before the pause is signed again.
    std::fs::remove_file(s.path("p1-signed.psbt")).unwrap();
    let err = s.fails(&["sign", "--yes", "--in", &first]);
    assert!(err.contains("paused"), "{err}");
    assert!(!s.path("p1-signed.psbt").exists() && !s.path("p2-signed.psbt").exists());
    let review = s.ok(&["inspect", "--in", &second]);
    assert!(review.contains("REFUSED: signing is paused"), "{review}");

    let resume = limit_command(&id, LimitAction::Resume, 21, &[&officers[1], &officers[2]]);
    s.ok(&["limits", "apply", "--text", &resume]);
    s.ok(&["sign", "--yes", "--in", &second]);
    s.ok(&["sign", "--yes", "--in", &first]);
    assert_eq!(
        s.state()
            .reserved_total(sluice_shared::asset::Asset::Btc)
            .unwrap(),
        btc("0.2002")
    );
}

#[test]
fn a_command_for_another_signer_or_without_officers_is_refused() {
    let (s, _, _) = signer_with_officers();
    s.limits("1", "1", "1", "1");
    let officers = officers();
    let other = limit_command(
        "0011223344556677",
        LimitAction::RaiseTotal { amount: btc("1") },
        30,
        &[&officers[0], &officers[1]],
    );
    let err = s.fails(&["limits", "apply", "--text", &other]);
    assert!(err.contains("not this signer"), "{err}");
    assert_eq!(
        amount_after(&s.ok(&["limits", "show"]), "Total remaining"),
        btc("1")
    );

    // A signer set up without officer keys can never have its limits raised.
    let fx = fixtures();
    let lonely = TestSigner::new();
    std::fs::write(
        lonely.path("seed.tprv"),
        fx["keys"]["B"]["master_tprv"].as_str().unwrap(),
    )
    .unwrap();
    let seed = lonely.path("seed.tprv");
    let out = lonely.ok(&[
        "init",
        "--network",
        "regtest",
        "--from-xprv-file",
        seed.to_str().unwrap(),
        "--dangerous-weak-kdf",
    ]);
    assert!(out.contains("no limit command can ever raise"), "{out}");
    lonely.limits("1", "1", "1", "1");
    let id = lonely.ok(&["id"]).lines().last().unwrap().to_owned();
    let raise = limit_command(
        &id,
        LimitAction::RaiseTotal { amount: btc("1") },
        31,
        &[&officers[0], &officers[1]],
    );
    let err = lonely.fails(&["limits", "apply", "--text", &raise]);
    assert!(err.contains("unknown officer"), "{err}");
}

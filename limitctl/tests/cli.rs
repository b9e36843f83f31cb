//! The officers' workflow through the real binary: keys, a command, two signatures, the
//! printed sheet scanned back and verified as a signer would; and every refusal.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

mod support;

use sluice_shared::identity::SignerId;
use sluice_shared::limit_command::{decode_text, verify, CommandError, LimitAction, OfficerSet};
use support::*;

fn now() -> i64 {
    // Tests may read the wall clock: they compare against what limitctl just wrote.
    #[allow(clippy::disallowed_methods)]
    let now = std::time::SystemTime::now();
    now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn officer_set(officers: &[Officer]) -> OfficerSet {
    OfficerSet::new(officers.iter().map(|o| o.key).collect(), 2).unwrap()
}

#[test]
fn two_of_three_officers_issue_a_command_that_scans_and_verifies() {
    let (dir, officers) = three_officers();
    let d = dir.path();
    // pubkey shows the same key keygen showed, from the sealed secret.
    let out = limitctl(d, &officers[1].args(&["pubkey"])).success();
    assert_eq!(last_line(&out.stdout), officers[1].key.to_string());
    assert_eq!(field(&out.stdout, "Fingerprint:"), officers[1].fingerprint);

    let out = limitctl(
        d,
        &[
            "new",
            "--signer",
            SIGNER,
            "--asset",
            "BTC",
            "--raise-total",
            "10",
            "--out",
            "cmd",
        ],
    )
    .success();
    assert!(out
        .stdout
        .contains("Allow signer 0a1b2c3d4e5f6071 to sign 10 more BTC"));
    let before = std::fs::read_to_string(d.join("cmd")).unwrap();
    assert!(before.starts_with("SLC1"));
    assert!(decode_text(&before).unwrap().signatures.is_empty());

    for o in [&officers[0], &officers[2]] {
        let out = limitctl(d, &o.args(&["sign", "cmd", "--yes"])).success();
        assert!(out.stdout.contains(&o.fingerprint));
    }
    let text = std::fs::read_to_string(d.join("cmd")).unwrap();
    let me: SignerId = SIGNER.parse().unwrap();
    let verified = verify(&text, &officer_set(&officers), me, now()).unwrap();
    assert_eq!(verified.signed_by(), &[officers[0].key, officers[2].key]);
    assert_eq!(
        verified.command().action,
        LimitAction::RaiseTotal {
            amount: bitcoin::Amount::from_sat(1_000_000_000)
        }
    );
    // Default window: now .. now + 30 days.
    let c = verified.command();
    assert!((c.not_before - now()).abs() < 600);
    assert_eq!(c.not_after - c.not_before, 30 * 86_400);

    let out = limitctl(d, &["print", "cmd", "--out", "sheet"]).success();
    assert!(out.stdout.contains("version 10-M"), "{}", out.stdout);
    for name in ["command.png", "command.svg", "command.pdf"] {
        assert!(
            d.join("sheet").join(name).metadata().unwrap().len() > 1000,
            "{name}"
        );
    }
    // The PNG scanned back with rqrr is exactly the command, and verifies.
    let png = std::fs::read(d.join("sheet/command.png")).unwrap();
    let scanned = sluice_shared::qr::decode_image_bytes(&png).unwrap();
    assert_eq!(scanned, vec![text.trim().to_owned()]);
    let from_paper = verify(&scanned[0], &officer_set(&officers), me, now()).unwrap();
    assert_eq!(from_paper, verified);

    // inspect reads the photo and checks each signature against the officers' keys.
    let keys: Vec<String> = officers.iter().map(|o| o.key.to_string()).collect();
    let out = limitctl(
        d,
        &[
            "inspect",
            "sheet/command.png",
            "--officer-key",
            &keys[0],
            "--officer-key",
            &keys[1],
            "--officer-key",
            &keys[2],
            "--threshold",
            "2",
        ],
    )
    .success();
    assert!(out
        .stdout
        .contains(&format!("officer {}: valid", officers[0].fingerprint)));
    assert!(out
        .stdout
        .contains(&format!("officer {}: valid", officers[2].fingerprint)));
    assert!(out.stdout.contains("ACCEPT"), "{}", out.stdout);
    assert!(out.stdout.contains(&verified.command().id.to_string()));
}

#[test]
fn every_action_can_be_issued() {
    let (dir, officers) = three_officers();
    let d = dir.path();
    let cases: [(&[&str], &str); 4] = [
        (
            &["--set-rate", "0.04", "--per-seconds", "60", "--burst", "1"],
            "rate to 0.04 BTC per 60 seconds, burst 1 BTC",
        ),
        (&["--pause"], "Pause all BTC signing"),
        (&["--resume"], "Resume BTC signing"),
        (
            &[
                "--release",
                "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b:1",
                "--release-amount",
                "0.5",
                "--release-to",
                "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
                "--release-purpose",
                "transfer-to-authority",
                "--network",
                "regtest",
            ],
            "Release deposit 4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b:1 (0.5 BTC) to bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080: transfer to the authority",
        ),
    ];
    for (i, (action, words)) in cases.iter().enumerate() {
        let out_file = format!("cmd{i}");
        let mut args = vec!["new", "--signer", SIGNER, "--asset", "btc", "--out", &out_file];
        args.extend_from_slice(action);
        args.extend_from_slice(&[
            "--not-before",
            "2030-01-01T00:00:00Z",
            "--not-after",
            "2030-01-02T00:00:00Z",
        ]);
        let out = limitctl(d, &args).success();
        assert!(out.stdout.contains(words), "{}", out.stdout);
        limitctl(d, &officers[1].args(&["sign", &out_file, "--yes"])).success();
        limitctl(d, &officers[2].args(&["sign", &out_file, "--yes"])).success();
        let text = std::fs::read_to_string(d.join(&out_file)).unwrap();
        let me = SIGNER.parse().unwrap();
        let at = 1_893_456_000 + 3600; // 2030-01-01T01:00:00Z
        let verified = verify(&text, &officer_set(&officers), me, at).unwrap();
        assert_eq!(verified.command().not_before, 1_893_456_000);
        assert_eq!(verified.command().not_after, 1_893_456_000 + 86_400);
        assert!(matches!(
            verify(&text, &officer_set(&officers), me, now()),
            Err(CommandError::NotYetValid { .. })
        ));
    }
}

#[test]
fn keys_are_never_overwritten_and_need_the_passphrase() {
    let (dir, officers) = three_officers();
    let d = dir.path();
    let sealed = std::fs::read(officers[0].home.join("officer-key.json")).unwrap();
    let out = limitctl(d, &officers[0].args(&["keygen", "--dangerous-weak-kdf"])).failure();
    assert!(out.stderr.contains("refusing to overwrite"), "{}", out.stderr);
    assert_eq!(
        std::fs::read(officers[0].home.join("officer-key.json")).unwrap(),
        sealed
    );
    let text = String::from_utf8(sealed).unwrap();
    assert!(text.contains("limitctl-officer-key"));
    assert!(
        !text.contains(&officers[0].key.to_string()),
        "the keystore holds no plain key"
    );

    std::fs::write(d.join("wrong"), "not the passphrase\n").unwrap();
    let home = officers[0].home.to_str().unwrap();
    let out = limitctl(d, &["--home", home, "--passphrase-file", "wrong", "pubkey"]).failure();
    assert!(out.stderr.contains("wrong passphrase"), "{}", out.stderr);
    // No passphrase file and no terminal: a clear error, not a hang.
    let out = limitctl(d, &["--home", home, "pubkey"]).failure();
    assert!(out.stderr.contains("--passphrase-file"), "{}", out.stderr);
    let out = limitctl(d, &["--home", "nowhere", "--passphrase-file", "wrong", "pubkey"]).failure();
    assert!(out.stderr.contains("limitctl keygen"), "{}", out.stderr);
}

#[test]
fn signing_refuses_twice_and_unconfirmed_and_warns_when_expired() {
    let (dir, officers) = three_officers();
    let d = dir.path();
    limitctl(
        d,
        &[
            "new",
            "--signer",
            SIGNER,
            "--asset",
            "BTC",
            "--raise-total",
            "1",
            "--out",
            "cmd",
        ],
    )
    .success();
    limitctl(d, &officers[0].args(&["sign", "cmd", "--yes"])).success();
    let once = std::fs::read_to_string(d.join("cmd")).unwrap();
    let out = limitctl(d, &officers[0].args(&["sign", "cmd", "--yes"])).failure();
    assert!(out.stderr.contains("already signed"), "{}", out.stderr);
    // Without --yes and without a terminal to confirm on, nothing is signed.
    let out = limitctl(d, &officers[1].args(&["sign", "cmd"])).failure();
    assert!(out.stderr.contains("--yes"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(d.join("cmd")).unwrap(), once);
    // No temporary files are left beside the command.
    let names: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(names.is_empty(), "{names:?}");

    // An expired command is signed with a warning: no signer will accept it.
    let mut old = decode_text(&once).unwrap();
    old.signatures.clear();
    old.command.not_before = 1_000_000_000;
    old.command.not_after = 1_000_000_100;
    std::fs::write(d.join("old"), old.encode_text().unwrap()).unwrap();
    let out = limitctl(d, &officers[1].args(&["sign", "old", "--yes"])).success();
    assert!(
        out.stderr.contains("WARNING") && out.stderr.contains("expired"),
        "{}",
        out.stderr
    );
}

#[test]
fn new_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: &[(&str, &str, &[&str], &str)] = &[
        ("xyz", "BTC", &["--raise-total", "10"], "signer id"),
        (SIGNER, "ETH", &["--raise-total", "10"], "unknown asset"),
        (SIGNER, "BTC", &["--raise-total", "ten"], "invalid BTC amount"),
        (SIGNER, "BTC", &["--raise-total", "21000001"], "21 million"),
        (SIGNER, "BTC", &["--raise-total", "0"], "does nothing"),
        (
            SIGNER,
            "BTC",
            &[
                "--pause",
                "--not-before",
                "2031-01-01T00:00:00Z",
                "--not-after",
                "2030-01-01T00:00:00Z",
            ],
            "before --not-before",
        ),
        (
            SIGNER,
            "BTC",
            &["--pause", "--not-after", "2030-01-01T00:00:00+02:00"],
            "only UTC",
        ),
        (
            SIGNER,
            "BTC",
            &["--pause", "--not-after", "next week"],
            "invalid time",
        ),
        (
            SIGNER,
            "BTC",
            &["--raise-total", "10", "--pause"],
            "cannot be used with",
        ),
        (SIGNER, "BTC", &[], "required"),
        (SIGNER, "BTC", &["--set-rate", "1"], "required"),
        (
            SIGNER,
            "BTC",
            &["--set-rate", "1", "--per-seconds", "0", "--burst", "1"],
            "period",
        ),
        (
            SIGNER,
            "BTC",
            &["--set-rate", "1", "--per-seconds", "60", "--burst", "0"],
            "burst",
        ),
    ];
    for (signer, asset, extra, message) in cases {
        let mut args = vec!["new", "--signer", signer, "--asset", asset, "--out", "x"];
        args.extend_from_slice(extra);
        let out = limitctl(d, &args).failure();
        assert!(out.stderr.contains(message), "{extra:?}: {}", out.stderr);
        assert!(!d.join("x").exists(), "{extra:?} wrote a file");
    }
    // An already expired window is allowed (nothing can use it) but warned about; so is a
    // date without a time (its midnight, UTC).
    let args = [
        "new",
        "--signer",
        SIGNER,
        "--pause",
        "--not-before",
        "2001-01-01",
        "--not-after",
        "2001-01-02",
        "--out",
        "old",
    ];
    let out = limitctl(d, &args).success();
    assert!(
        out.stderr.contains("WARNING") && out.stderr.contains("expired"),
        "{}",
        out.stderr
    );
    let old = decode_text(&std::fs::read_to_string(d.join("old")).unwrap()).unwrap();
    assert_eq!(
        (old.command.not_before, old.command.not_after),
        (978_307_200, 978_393_600)
    );
    assert_eq!(
        old.command.asset,
        sluice_shared::asset::Asset::Btc,
        "BTC is the default asset"
    );
    // An existing file is never overwritten.
    std::fs::write(d.join("taken"), "keep me").unwrap();
    let args = [
        "new", "--signer", SIGNER, "--asset", "BTC", "--pause", "--out", "taken",
    ];
    assert!(limitctl(d, &args)
        .failure()
        .stderr
        .contains("refusing to overwrite"));
    assert_eq!(std::fs::read_to_string(d.join("taken")).unwrap(), "keep me");
}

#[test]
fn inspect_shows_invalid_and_unknown_signatures() {
    let (dir, officers) = three_officers();
    let d = dir.path();
    limitctl(
        d,
        &[
            "new",
            "--signer",
            SIGNER,
            "--asset",
            "BTC",
            "--raise-total",
            "5",
            "--out",
            "cmd",
        ],
    )
    .success();
    limitctl(d, &officers[0].args(&["sign", "cmd", "--yes"])).success();
    limitctl(d, &officers[1].args(&["sign", "cmd", "--yes"])).success();
    // Someone raises the amount after signing.
    let mut edited = decode_text(&std::fs::read_to_string(d.join("cmd")).unwrap()).unwrap();
    edited.command.action = LimitAction::RaiseTotal {
        amount: bitcoin::Amount::from_sat(50 * 100_000_000),
    };
    std::fs::write(d.join("edited"), edited.encode_text().unwrap()).unwrap();
    let keys = [officers[0].key.to_string(), officers[2].key.to_string()];
    let out = limitctl(
        d,
        &[
            "inspect",
            "edited",
            "--officer-key",
            &keys[0],
            "--officer-key",
            &keys[1],
            "--threshold",
            "1",
        ],
    )
    .failure();
    assert!(out.stdout.contains("raise-total 50 BTC"), "{}", out.stdout);
    assert!(out
        .stdout
        .contains(&format!("officer {}: INVALID", officers[0].fingerprint)));
    assert!(out
        .stdout
        .contains(&format!("officer {}: unknown key", officers[1].fingerprint)));
    assert!(out.stderr.contains("REFUSE"), "{}", out.stderr);
    // Without keys, inspect still shows every field.
    let out = limitctl(d, &["inspect", "cmd"]).success();
    for needle in [
        "command id:",
        "signer id:      0a1b2c3d4e5f6071",
        "asset:          BTC",
        "valid from:",
        "valid until:",
        "not checked",
    ] {
        assert!(out.stdout.contains(needle), "{needle}: {}", out.stdout);
    }
    // Not a command, an unreadable image, a picture without a command.
    std::fs::write(d.join("junk"), "hello").unwrap();
    assert!(limitctl(d, &["inspect", "junk"])
        .failure()
        .stderr
        .contains("not a Sluice limit command"));
    std::fs::write(d.join("broken.png"), b"\x89PNG\r\n\x1a\nbroken").unwrap();
    assert!(limitctl(d, &["inspect", "broken.png"])
        .failure()
        .stderr
        .contains("scanning"));
    let blank = image::GrayImage::from_pixel(200, 200, image::Luma([255]));
    blank.save(d.join("blank.png")).unwrap();
    assert!(limitctl(d, &["inspect", "blank.png"])
        .failure()
        .stderr
        .contains("no QR code"));
    let other = sluice_shared::qr::render_png("UR:CRYPTO-PSBT/HDCX", 4).unwrap();
    std::fs::write(d.join("other.png"), other).unwrap();
    assert!(limitctl(d, &["inspect", "other.png"])
        .failure()
        .stderr
        .contains("none of them a limit command"));
}

#[test]
fn an_unsigned_command_is_not_printed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    limitctl(
        d,
        &[
            "new", "--signer", SIGNER, "--asset", "BTC", "--pause", "--out", "cmd",
        ],
    )
    .success();
    let out = limitctl(d, &["print", "cmd", "--out", "sheet"]).failure();
    assert!(out.stderr.contains("nobody has signed"), "{}", out.stderr);
    assert!(!d.join("sheet/command.png").exists());
}

//! Officers raise a signer's limits with a signed paper command: limitctl and
//! sluice-signer run as real processes, the printed sheet is scanned back from a degraded
//! "photo", and every bad command is refused without changing anything.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bitcoin::absolute::LockTime;
use bitcoin::{Amount, ScriptBuf};
use sluice_e2e::binaries::binary;
use sluice_e2e::degrade;
use sluice_shared::descriptor::WalletDescriptor;
use sluice_shared::psbt_builder::{build_psbt, fake_coins};

const TPRV_A: &str = "tprv8ZgxMBicQKsPdjiV4AkC8QKCmSAPfkTGr7YiqpauMqHNgeQ15bdbNo7V5p6YPYGaTbTJCAyXV1yAAPBypoTfe9xLpwb8k9fbHftu3NdykuA";
const WPKH_A: &str = "wpkh([1bbaa5fe/84h/1h/0h]tpubDDHx3CNs1F7LipoKW8ccMFNJsXJ6WYLFubNaCYLZtBX6G2GsQ7EJgbuecqwXfQtLKzxt2Kn8vJkxEWeQNto3deB7JCHdKHuRJMcYMDFABwi/<0;1>/*)";

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

struct World {
    dir: tempfile::TempDir,
    signer_id: String,
    wallet: WalletDescriptor,
    next_psbt: u32,
}

impl World {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn signer(&self, args: &[&str]) -> Output {
        Command::new(binary("sluice-signer"))
            .arg("--home")
            .arg(self.path("signer"))
            .arg("--passphrase-file")
            .arg(self.path("pass"))
            .args(args)
            .output()
            .unwrap()
    }

    fn officer(&self, n: usize, args: &[&str]) -> Output {
        officer(self.dir.path(), n, args)
    }

    fn ok(out: Output) -> String {
        assert!(out.status.success(), "{}", text(&out));
        text(&out)
    }

    /// Signs a fresh PSBT whose outflow is `pay` + 0.0001 BTC fee.
    fn sign(&mut self, pay: &str) -> Output {
        self.next_psbt += 1;
        let i = self.next_psbt;
        let coin_value = Amount::from_btc(1.0).unwrap();
        let pay = Amount::from_str_in(pay, bitcoin::Denomination::Bitcoin).unwrap();
        let fee = Amount::from_sat(10_000);
        let coins = fake_coins(&self.wallet, 1, coin_value, i).unwrap();
        let outside = ScriptBuf::from_hex("0014000102030405060708090a0b0c0d0e0f10111213").unwrap();
        let psbt = build_psbt(
            &self.wallet,
            &coins,
            &[(outside, pay)],
            Some((i, coin_value - pay - fee)),
            LockTime::ZERO,
        )
        .unwrap();
        let path = self.path(&format!("w{i}.psbt"));
        std::fs::write(&path, psbt.serialize()).unwrap();
        self.signer(&["sign", "--yes", "--in", path.to_str().unwrap()])
    }

    fn total_remaining(&self) -> String {
        let shown = World::ok(self.signer(&["limits", "show"]));
        shown
            .lines()
            .find(|l| l.starts_with("Total remaining"))
            .unwrap()
            .to_owned()
    }

    /// A command file made and signed by the given officers.
    fn command(&self, name: &str, signers: &[usize], new_args: &[&str]) -> PathBuf {
        let file = self.path(name);
        let mut args = vec!["new", "--out", file.to_str().unwrap()];
        args.extend_from_slice(new_args);
        World::ok(self.officer(1, &args));
        for n in signers {
            World::ok(self.officer(*n, &["sign", "--yes", file.to_str().unwrap()]));
        }
        file
    }

    /// A command file holds exactly the command's text (what its QR code holds).
    fn command_text(file: &Path) -> String {
        std::fs::read_to_string(file).unwrap().trim().to_owned()
    }
}

fn officer(dir: &Path, n: usize, args: &[&str]) -> Output {
    Command::new(binary("limitctl"))
        .arg("--home")
        .arg(dir.join(format!("officer{n}")))
        .arg("--passphrase-file")
        .arg(dir.join("pass"))
        .args(args)
        .output()
        .unwrap()
}

/// Four officers exist; the signer trusts officers 1–3 with a threshold of 2.
fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pass"), "e2e passphrase\n").unwrap();
    std::fs::write(dir.path().join("a.tprv"), TPRV_A).unwrap();
    let mut keys = Vec::new();
    for n in 1..=4 {
        World::ok(officer(dir.path(), n, &["keygen", "--dangerous-weak-kdf"]));
        let out = World::ok(officer(dir.path(), n, &["pubkey"]));
        keys.push(out.lines().last().unwrap().trim().to_owned());
    }
    let mut w = World {
        dir,
        signer_id: String::new(),
        wallet: WalletDescriptor::parse(WPKH_A, None).unwrap(),
        next_psbt: 0,
    };
    let tprv = w.path("a.tprv");
    World::ok(w.signer(&[
        "init",
        "--network",
        "regtest",
        "--from-xprv-file",
        tprv.to_str().unwrap(),
        "--dangerous-weak-kdf",
        "--officer-key",
        &keys[0],
        "--officer-key",
        &keys[1],
        "--officer-key",
        &keys[2],
        "--officer-threshold",
        "2",
    ]));
    World::ok(w.signer(&["wallet", "register", "--name", "hot", "--descriptor", WPKH_A]));
    World::ok(w.signer(&[
        "limits",
        "init",
        "--rate",
        "10",
        "--per-seconds",
        "1",
        "--burst",
        "1",
        "--total",
        "0.1",
    ]));
    w.signer_id = World::ok(w.signer(&["id"]))
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned();
    w
}

#[test]
fn a_spent_signer_signs_again_after_a_scanned_two_of_three_raise_total_and_only_up_to_it() {
    let mut w = world();
    World::ok(w.sign("0.06"));
    let refused = w.sign("0.06");
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("a signed limit command (raise-total)"),
        "{}",
        text(&refused)
    );

    let file = w.command(
        "raise.json",
        &[1, 3],
        &["--signer", &w.signer_id.clone(), "--raise-total", "0.1"],
    );
    let sheet = w.path("sheet");
    let printed = World::ok(w.officer(
        2,
        &["print", file.to_str().unwrap(), "--out", sheet.to_str().unwrap()],
    ));
    assert!(
        printed.contains("Allow signer") && printed.contains("to sign 0.1 more BTC"),
        "{printed}"
    );
    // The sheet, photographed: smaller, tilted, blurred, noisy, JPEG.
    let png = image::open(sheet.join("command.png")).unwrap().to_luma8();
    let photo = w.path("photo.jpg");
    std::fs::write(&photo, degrade::to_jpeg(&degrade::photo_like(&png, 7), 80)).unwrap();
    let applied = World::ok(w.signer(&["limits", "apply", "--scan", photo.to_str().unwrap()]));
    assert!(applied.contains("Applied limit command"), "{applied}");
    assert!(
        w.total_remaining().contains("0.1399 BTC"),
        "{}",
        w.total_remaining()
    );

    World::ok(w.sign("0.06"));
    World::ok(w.sign("0.06"));
    let over = w.sign("0.06"); // 0.0197 left
    assert!(
        !over.status.success() && text(&over).contains("total allowance exhausted"),
        "{}",
        text(&over)
    );

    let replay = w.signer(&["limits", "apply", "--scan", photo.to_str().unwrap()]);
    assert!(
        !replay.status.success() && text(&replay).contains("already applied"),
        "{}",
        text(&replay)
    );
    World::ok(w.signer(&["journal", "verify"]));
}

#[test]
fn every_bad_command_is_refused_and_changes_nothing() {
    let w = world();
    let me = w.signer_id.clone();
    let before = w.total_remaining();
    let refuse = |args: &[&str], expect: &str| {
        let out = w.signer(args);
        assert!(!out.status.success(), "accepted: {args:?}");
        assert!(
            text(&out).contains(expect),
            "{args:?}: expected {expect:?} in {}",
            text(&out)
        );
        assert_eq!(
            w.total_remaining(),
            before,
            "a refused command changed the limits"
        );
    };
    let as_text = |file: &Path| World::command_text(file);

    let other = w.command(
        "other.json",
        &[1, 2],
        &["--signer", "0011223344556677", "--raise-total", "5"],
    );
    refuse(
        &["limits", "apply", "--text", &as_text(&other)],
        "not this signer",
    );
    let expired = w.command(
        "expired.json",
        &[1, 2],
        &[
            "--signer",
            &me,
            "--raise-total",
            "5",
            "--not-before",
            "2020-01-01",
            "--not-after",
            "2020-01-02",
        ],
    );
    refuse(&["limits", "apply", "--text", &as_text(&expired)], "expired");
    let future = w.command(
        "future.json",
        &[1, 2],
        &[
            "--signer",
            &me,
            "--raise-total",
            "5",
            "--not-before",
            "2099-01-01",
        ],
    );
    refuse(
        &["limits", "apply", "--text", &as_text(&future)],
        "not valid before",
    );
    let one = w.command("one.json", &[2], &["--signer", &me, "--raise-total", "5"]);
    refuse(
        &["limits", "apply", "--text", &as_text(&one)],
        "only 1 valid officer signatures; 2 are needed",
    );
    let stranger = w.command("stranger.json", &[1, 4], &["--signer", &me, "--raise-total", "5"]);
    refuse(
        &["limits", "apply", "--text", &as_text(&stranger)],
        "unknown officer key",
    );

    let good = w.command("good.json", &[1, 2], &["--signer", &me, "--raise-total", "5"]);
    let mut edited = sluice_shared::limit_command::decode_text(&as_text(&good)).unwrap();
    edited.command.action = sluice_shared::limit_command::LimitAction::RaiseTotal {
        amount: Amount::from_btc(500.0).unwrap(),
    };
    refuse(
        &["limits", "apply", "--text", &edited.encode_text().unwrap()],
        "does not verify",
    );
    let mut twice = sluice_shared::limit_command::decode_text(&as_text(&good)).unwrap();
    twice.signatures[1] = twice.signatures[0];
    refuse(
        &["limits", "apply", "--text", &twice.encode_text().unwrap()],
        "appears twice",
    );

    refuse(
        &["limits", "apply", "--text", "hello"],
        "not a Sluice limit command",
    );
    let other_qr = w.path("other-qr.png");
    std::fs::write(&other_qr, sluice_shared::qr::render_png("hello", 4).unwrap()).unwrap();
    refuse(
        &["limits", "apply", "--scan", other_qr.to_str().unwrap()],
        "no limit command found",
    );
    let garbage = w.path("garbage.png");
    std::fs::write(&garbage, b"\x89PNG this is not an image").unwrap();
    refuse(
        &["limits", "apply", "--scan", garbage.to_str().unwrap()],
        "not a readable image",
    );

    // The good one still applies afterwards: the refusals consumed nothing.
    World::ok(w.signer(&["limits", "apply", "--text", &as_text(&good)]));
    assert!(w.total_remaining().contains("5.1 BTC"), "{}", w.total_remaining());
}

#[test]
fn pause_stops_all_signing_until_resume() {
    let mut w = world();
    let me = w.signer_id.clone();
    let pause = w.command("pause.json", &[2, 3], &["--signer", &me, "--pause"]);
    World::ok(w.signer(&["limits", "apply", "--text", &World::command_text(&pause)]));
    let refused = w.sign("0.01");
    assert!(
        !refused.status.success() && text(&refused).contains("paused"),
        "{}",
        text(&refused)
    );
    let resume = w.command("resume.json", &[1, 3], &["--signer", &me, "--resume"]);
    World::ok(w.signer(&["limits", "apply", "--text", &World::command_text(&resume)]));
    World::ok(w.sign("0.01"));
}

/// Issue 8 item 6: commands of one kind apply in the order the officers issued them
/// (`not_before`): an older `resume` scanned after a newer `pause`, or an older generous
/// `set-rate` scanned after a newer rate cut, is refused and changes nothing.
#[test]
fn an_older_resume_or_set_rate_cannot_undo_a_newer_pause_or_rate_cut() {
    let mut w = world();
    let me = w.signer_id.clone();
    let old_resume = w.command(
        "old-resume.json",
        &[1, 2],
        &[
            "--signer",
            &me,
            "--resume",
            "--not-before",
            "2026-01-01",
            "--not-after",
            "2099-01-01",
        ],
    );
    let old_rate = w.command(
        "old-rate.json",
        &[1, 2],
        &[
            "--signer",
            &me,
            "--set-rate",
            "10",
            "--per-seconds",
            "1",
            "--burst",
            "1",
            "--not-before",
            "2026-01-01",
            "--not-after",
            "2099-01-01",
        ],
    );
    let pause = w.command("pause.json", &[2, 3], &["--signer", &me, "--pause"]);
    World::ok(w.signer(&["limits", "apply", "--text", &World::command_text(&pause)]));
    let out = w.signer(&["limits", "apply", "--text", &World::command_text(&old_resume)]);
    assert!(
        !out.status.success() && text(&out).contains("older than"),
        "an older resume undid a newer pause: {}",
        text(&out)
    );
    let refused = w.sign("0.01");
    assert!(
        !refused.status.success() && text(&refused).contains("paused"),
        "{}",
        text(&refused)
    );

    let cut = w.command(
        "cut.json",
        &[1, 3],
        &[
            "--signer",
            &me,
            "--set-rate",
            "0.001",
            "--per-seconds",
            "3600",
            "--burst",
            "0.001",
        ],
    );
    World::ok(w.signer(&["limits", "apply", "--text", &World::command_text(&cut)]));
    let out = w.signer(&["limits", "apply", "--text", &World::command_text(&old_rate)]);
    assert!(
        !out.status.success() && text(&out).contains("older than"),
        "an older set-rate undid a newer rate cut: {}",
        text(&out)
    );
    let shown = World::ok(w.signer(&["limits", "show"]));
    assert!(shown.contains("0.001 BTC"), "{shown}");
    World::ok(w.signer(&["journal", "verify"]));
}

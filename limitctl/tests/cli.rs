//! limitctl as an officer runs it: keys, a command signed by two of three officers,
//! the printed sheet read back as rendered, and its PDF and SVG forms.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use std::path::Path;
use std::process::{Command, Output};

use bitcoin::secp256k1::XOnlyPublicKey;
use sluice_shared::identity::SignerId;
use sluice_shared::limit_command::{verify, OfficerSet};

const BIN: &str = env!("CARGO_BIN_EXE_limitctl");
const SIGNER: &str = "0a1b2c3d4e5f6071";

fn run(dir: &Path, officer: usize, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--home")
        .arg(dir.join(format!("officer{officer}")))
        .arg("--passphrase-file")
        .arg(dir.join("pass"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn err(out: Output) -> String {
    assert!(
        !out.status.success(),
        "should fail: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn setup() -> (tempfile::TempDir, Vec<XOnlyPublicKey>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pass"), "officer passphrase\n").unwrap();
    let keys = (1..=3)
        .map(|n| {
            ok(run(dir.path(), n, &["keygen", "--dangerous-weak-kdf"]));
            ok(run(dir.path(), n, &["pubkey"]))
                .lines()
                .last()
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        })
        .collect();
    (dir, keys)
}

#[test]
fn two_of_three_officers_issue_print_and_the_sheet_reads_back() {
    let (dir, keys) = setup();
    let d = dir.path();
    let cmd = d.join("raise.json");
    ok(run(
        d,
        1,
        &[
            "new",
            "--signer",
            SIGNER,
            "--raise-total",
            "10",
            "--out",
            cmd.to_str().unwrap(),
        ],
    ));
    let err_text = err(run(
        d,
        1,
        &[
            "print",
            cmd.to_str().unwrap(),
            "--out",
            d.join("x").to_str().unwrap(),
        ],
    ));
    assert!(err_text.contains("no signatures yet"), "{err_text}");
    ok(run(d, 1, &["sign", cmd.to_str().unwrap()]));
    let again = err(run(d, 1, &["sign", cmd.to_str().unwrap()]));
    assert!(again.contains("already signed"), "{again}");
    ok(run(d, 3, &["sign", cmd.to_str().unwrap()]));
    let sheet = d.join("sheet");
    let printed = ok(run(
        d,
        2,
        &["print", cmd.to_str().unwrap(), "--out", sheet.to_str().unwrap()],
    ));
    assert!(
        printed.contains("Allow signer 0a1b2c3d4e5f6071 to sign 10 more BTC"),
        "{printed}"
    );
    assert!(printed.contains("QR version 10-M"), "{printed}");

    // Read the PNG back as rendered and verify it as a signer would.
    let texts =
        sluice_shared::qr::decode_image_bytes(&std::fs::read(sheet.join("command.png")).unwrap()).unwrap();
    let officers = OfficerSet {
        keys: keys.clone(),
        threshold: 2,
    };
    let now = i64::try_from(std::time::UNIX_EPOCH.elapsed().unwrap().as_secs()).unwrap();
    let verified = verify(&texts[0], &officers, SIGNER.parse::<SignerId>().unwrap(), now).unwrap();
    assert_eq!(verified.signed_by(), &[keys[0], keys[2]]);

    // inspect, from the photo of the sheet and from the file.
    let shown = ok(run(
        d,
        2,
        &[
            "inspect",
            sheet.join("command.png").to_str().unwrap(),
            "--officer-key",
            &keys[0].to_string(),
        ],
    ));
    assert!(
        shown.contains(": valid") && shown.contains("unknown key"),
        "{shown}"
    );
    let shown = ok(run(d, 2, &["inspect", cmd.to_str().unwrap()]));
    assert_eq!(shown.matches(": valid").count(), 2, "{shown}");

    // The PDF: a header, objects, and a cross-reference table whose offsets are right.
    let pdf = std::fs::read(sheet.join("command.pdf")).unwrap();
    assert!(pdf.starts_with(b"%PDF-1.4\n") && pdf.ends_with(b"%%EOF\n"));
    let text = String::from_utf8(pdf.clone()).unwrap();
    let startxref: usize = text
        .rsplit("startxref\n")
        .next()
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(text[startxref..].starts_with("xref\n0 6\n"));
    for (n, line) in text[startxref..].lines().skip(3).take(5).enumerate() {
        let offset: usize = line[..10].parse().unwrap();
        assert!(
            text[offset..].starts_with(&format!("{} 0 obj", n + 1)),
            "object {} offset",
            n + 1
        );
    }
    assert!(text.contains("Allow signer 0a1b2c3d4e5f6071 to sign 10 more BTC"));
    let svg = std::fs::read_to_string(sheet.join("command.svg")).unwrap();
    assert!(
        svg.contains("<svg") && svg.matches("<rect").count() > 500 && svg.contains("to sign 10 more BTC")
    );
}

#[test]
fn bad_input_gets_clear_errors() {
    let (dir, _) = setup();
    let d = dir.path();
    let out = d.join("c.json");
    assert!(err(run(
        d,
        1,
        &[
            "new",
            "--signer",
            "nothex",
            "--raise-total",
            "1",
            "--out",
            out.to_str().unwrap()
        ]
    ))
    .contains("signer id"));
    assert!(err(run(
        d,
        1,
        &["new", "--signer", SIGNER, "--out", out.to_str().unwrap()]
    ))
    .contains("exactly one action"));
    assert!(err(run(
        d,
        1,
        &[
            "new",
            "--signer",
            SIGNER,
            "--raise-total",
            "1",
            "--not-before",
            "2030-01-02",
            "--not-after",
            "2030-01-01",
            "--out",
            out.to_str().unwrap()
        ]
    ))
    .contains("not-after is before not-before"));
    assert!(err(run(d, 1, &["keygen", "--dangerous-weak-kdf"])).contains("refusing to overwrite"));
    std::fs::write(d.join("pass"), "wrong\n").unwrap();
    ok(run(
        d,
        1,
        &[
            "new",
            "--signer",
            SIGNER,
            "--pause",
            "--out",
            out.to_str().unwrap(),
        ],
    ));
    assert!(err(run(d, 1, &["sign", out.to_str().unwrap()])).contains("wrong passphrase"));
    std::fs::write(d.join("junk.json"), "{ not json").unwrap();
    assert!(
        err(run(d, 1, &["inspect", d.join("junk.json").to_str().unwrap()]))
            .contains("not a limit command file")
    );
}

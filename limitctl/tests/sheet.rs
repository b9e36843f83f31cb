//! The printed sheet: the PNG scans back even when photographed badly, the PDF is a
//! well-formed PDF whose QR rectangles scan, and the SVG holds the QR code.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

mod support;

use std::path::Path;

use image::{GrayImage, Luma};
use sluice_e2e::degrade;
use sluice_shared::limit_command::{verify, OfficerSet, VerifiedCommand};
use support::*;
use tempfile::TempDir;

/// A 2-of-3 raise-total, printed; returns the directory, the command text and a check.
fn printed_sheet() -> (TempDir, String, OfficerSet) {
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
            "10",
            "--not-before",
            "2030-01-01T00:00:00Z",
            "--not-after",
            "2030-01-31T00:00:00Z",
            "--out",
            "cmd",
        ],
    )
    .success();
    limitctl(d, &officers[0].args(&["sign", "cmd", "--yes"])).success();
    limitctl(d, &officers[1].args(&["sign", "cmd", "--yes"])).success();
    limitctl(d, &["print", "cmd", "--out", "sheet"]).success();
    let text = std::fs::read_to_string(d.join("cmd")).unwrap().trim().to_owned();
    let set = OfficerSet::new(officers.iter().map(|o| o.key).collect(), 2).unwrap();
    (dir, text, set)
}

fn verify_at_window(text: &str, officers: &OfficerSet) -> VerifiedCommand {
    verify(text, officers, SIGNER.parse().unwrap(), 1_893_456_000 + 86_400).unwrap()
}

/// Paints `runs` of dark modules (x, y, length, in modules, quiet zone included) into an
/// image at `px` pixels per module, as a printer would, and reads it with rqrr.
fn scan_modules(runs: &[(usize, usize, usize)], full_width: usize, px: u32) -> Vec<String> {
    let side = full_width as u32 * px;
    let mut img = GrayImage::from_pixel(side, side, Luma([255]));
    for &(x, y, len) in runs {
        for py in y as u32 * px..(y as u32 + 1) * px {
            for px_x in x as u32 * px..(x + len) as u32 * px {
                img.put_pixel(px_x, py, Luma([0]));
            }
        }
    }
    sluice_shared::qr::decode_image(&img).unwrap()
}

fn attribute<'a>(tag: &'a str, name: &str) -> &'a str {
    let start = tag.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
    let len = tag[start..].find('"').unwrap();
    &tag[start..start + len]
}

#[test]
fn the_svg_contains_the_qr_code_and_the_words() {
    let (dir, text, officers) = printed_sheet();
    let svg = std::fs::read_to_string(dir.path().join("sheet/command.svg")).unwrap();
    assert!(svg.starts_with("<?xml"));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains(r#"width="105mm" height="148mm""#), "A6");
    assert!(svg.contains("Allow signer 0a1b2c3d4e5f6071 to sign 10 more BTC"));
    assert!(svg.contains("2030-01-01 00:00:00 UTC"));
    // The QR group: rebuild its modules from the rects and scan them.
    let group = &svg[svg.find(r#"<g id="qr""#).unwrap()..];
    let group = &group[..group.find("</g>").unwrap()];
    let mut tags = group.split('<').filter(|t| t.starts_with("rect"));
    let background = tags.next().unwrap();
    let full: usize = attribute(background, "width").parse().unwrap();
    let runs: Vec<_> = tags
        .map(|t| {
            assert_eq!(attribute(t, "height"), "1");
            (
                attribute(t, "x").parse().unwrap(),
                attribute(t, "y").parse().unwrap(),
                attribute(t, "width").parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(full, 57 + 8, "version 10 plus the quiet zone");
    let scanned = scan_modules(&runs, full, 6);
    assert_eq!(scanned, vec![text.clone()]);
    verify_at_window(&scanned[0], &officers);
}

/// The PDF's objects, found through its cross-reference table exactly as a reader would.
fn pdf_objects(pdf: &[u8]) -> Vec<(usize, String)> {
    let tail = String::from_utf8_lossy(&pdf[pdf.len() - 64..]).into_owned();
    assert!(tail.ends_with("%%EOF\n"), "{tail}");
    let startxref: usize = tail
        .split("startxref\n")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let table = String::from_utf8_lossy(&pdf[startxref..]).into_owned();
    let mut lines = table.split('\n');
    assert_eq!(lines.next(), Some("xref"), "startxref points at the xref table");
    let header: Vec<usize> = lines
        .next()
        .unwrap()
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(header[0], 0);
    let count = header[1];
    let entries_start = startxref + "xref\n".len() + format!("0 {count}\n").len();
    let mut objects = Vec::new();
    for i in 0..count {
        let entry = &pdf[entries_start + 20 * i..entries_start + 20 * (i + 1)];
        let entry = std::str::from_utf8(entry).unwrap();
        assert!(entry.ends_with(" \n"), "entry {i} is not 20 bytes: {entry:?}");
        if i == 0 {
            assert_eq!(entry, "0000000000 65535 f \n");
            continue;
        }
        assert!(entry.ends_with(" 00000 n \n"), "{entry:?}");
        let offset: usize = entry[..10].parse().unwrap();
        let object = String::from_utf8_lossy(&pdf[offset..]).into_owned();
        assert!(
            object.starts_with(&format!("{i} 0 obj\n")),
            "object {i} is not at {offset}"
        );
        let end = object.find("\nendobj\n").unwrap();
        objects.push((offset, object[..end].to_owned()));
    }
    let trailer = &table[table.find("trailer").unwrap()..];
    assert!(trailer.contains(&format!("/Size {count}")));
    assert!(trailer.contains("/Root 1 0 R"));
    objects
}

#[test]
fn the_pdf_is_well_formed_and_its_qr_scans() {
    let (dir, text, officers) = printed_sheet();
    let pdf = std::fs::read(dir.path().join("sheet/command.pdf")).unwrap();
    assert!(pdf.starts_with(b"%PDF-1.4\n"));
    let objects = pdf_objects(&pdf);
    assert_eq!(objects.len(), 6);
    assert!(objects[0].1.contains("/Type /Catalog /Pages 2 0 R"));
    assert!(
        objects[2].1.contains("/MediaBox [0 0 297.638 419.528]"),
        "A6 in points"
    );
    assert!(objects[3].1.contains("/BaseFont /Helvetica"));

    // The content stream's /Length is exact.
    let stream_object = &objects[4].1;
    let length: usize = stream_object
        .split("/Length ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let body_start = stream_object.find("stream\n").unwrap() + "stream\n".len();
    let body = &stream_object[body_start..];
    assert!(body[length..].starts_with("endstream"), "stream /Length is off");
    let content = &body[..length];

    assert!(content.contains("(Allow signer 0a1b2c3d4e5f6071 to sign 10 more BTC) Tj"));
    assert!(content.contains("(Valid from: 2030-01-01 00:00:00 UTC) Tj"));
    // QR: a module-space transform, then one `x y len 1 re` per run of dark modules.
    let qr = &content[content.find(" cm\n").unwrap() + 4..content.find("f Q").unwrap()];
    let runs: Vec<(usize, usize, usize)> = qr
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert_eq!((f[3], f[4]), ("1", "re"), "{l}");
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect();
    let scanned = scan_modules(&runs, 65, 6);
    assert_eq!(scanned, vec![text.clone()]);
    verify_at_window(&scanned[0], &officers);
}

/// A 2-of-3 raise-total with fixed keys, id and signing randomness, so the QR code and
/// therefore this test are the same on every run.
fn fixed_command(d: &Path) -> (String, OfficerSet) {
    use bitcoin::secp256k1::{Keypair, Secp256k1, SecretKey};
    use sluice_shared::limit_command::*;
    let keys: Vec<Keypair> = (1..=3u8)
        .map(|n| Keypair::from_secret_key(&Secp256k1::new(), &SecretKey::from_slice(&[n; 32]).unwrap()))
        .collect();
    let mut cmd = SignedLimitCommand::unsigned(LimitCommand {
        id: CommandId(*b"fixed command id"),
        signer: SIGNER.parse().unwrap(),
        asset: sluice_shared::asset::Asset::Btc,
        action: LimitAction::RaiseTotal {
            amount: bitcoin::Amount::from_sat(1_000_000_000),
        },
        not_before: 1_893_456_000,
        not_after: 1_893_456_000 + 30 * 86_400,
    });
    cmd.sign(&keys[0], [1; 32]).unwrap();
    cmd.sign(&keys[2], [3; 32]).unwrap();
    let text = cmd.encode_text().unwrap();
    std::fs::write(d.join("cmd"), format!("{text}\n")).unwrap();
    let set = OfficerSet::new(keys.iter().map(|k| k.x_only_public_key().0).collect(), 2).unwrap();
    (text, set)
}

#[test]
fn the_png_scans_back_as_rendered_and_as_a_poor_photo() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (text, officers) = fixed_command(d);
    limitctl(d, &["print", "cmd", "--out", "sheet"]).success();
    let png = std::fs::read(d.join("sheet/command.png")).unwrap();
    assert_eq!(
        sluice_shared::qr::decode_image_bytes(&png).unwrap(),
        vec![text.clone()]
    );

    let sheet = image::load_from_memory(&png).unwrap().to_luma8();
    // The end-to-end tests' phone photo, then harsher frames built from the same steps:
    // at 35 % a module is about 5 pixels, a webcam frame of the card at arm's length.
    let harsher = |factor: f32, degrees: f32, sigma: f32, noise: i16| {
        let img = degrade::rotate(&degrade::scale(&sheet, factor), degrees);
        degrade::to_jpeg(&degrade::add_noise(&degrade::blur(&img, sigma), noise, 11), 75)
    };
    let photos = [
        degrade::to_jpeg(&degrade::photo_like(&sheet, 7), 80),
        harsher(0.5, -4.0, 1.0, 15),
        harsher(0.35, -2.5, 0.8, 10),
        harsher(0.35, 4.0, 1.0, 15),
    ];
    for (i, jpeg) in photos.into_iter().enumerate() {
        let name = format!("photo{i}.jpg");
        std::fs::write(d.join(&name), &jpeg).unwrap();
        let scanned = sluice_shared::qr_scan::scan_bytes(&jpeg).unwrap();
        assert_eq!(scanned, vec![text.clone()], "{name}");
        verify_at_window(&scanned[0], &officers);
        // limitctl inspect reads the same photo and checks the signatures.
        let keys: Vec<String> = officers.keys.iter().map(|k| k.to_string()).collect();
        let out = limitctl(
            d,
            &[
                "inspect",
                &name,
                "--officer-key",
                &keys[0],
                "--officer-key",
                &keys[2],
            ],
        )
        .success();
        assert!(out.stdout.contains("raise-total 10 BTC"), "{}", out.stdout);
        assert_eq!(out.stdout.matches(": valid").count(), 2, "{}", out.stdout);
    }
}

#[test]
fn command_files_and_printed_sheets_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, _, _) = printed_sheet();
    let d = dir.path();
    for file in [
        "cmd",
        "sheet/command.png",
        "sheet/command.svg",
        "sheet/command.pdf",
    ] {
        let mode = std::fs::metadata(d.join(file)).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode, 0o600,
            "{file} is {mode:o}: as good as the paper, it must be 0600"
        );
    }
}

//! A minimal PDF 1.4 writer for one A6 sheet: vector QR modules and base-14 Helvetica text,
//! so nothing is embedded and any printer prints it sharp.

use std::fmt::Write;

/// A6 in PostScript points.
const PAGE_WIDTH: f64 = 297.64;
const PAGE_HEIGHT: f64 = 419.53;

fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '(' | ')' | '\\' => format!("\\{c}"),
            c if c.is_ascii() && !c.is_ascii_control() => c.to_string(),
            _ => "?".to_owned(),
        })
        .collect()
}

/// The PDF bytes.
pub fn a6_sheet(width: usize, dark: &[bool], lines: &[String]) -> Vec<u8> {
    let module = 220.0 / (width as f64 + 8.0);
    let side = module * (width as f64 + 8.0);
    let left = (PAGE_WIDTH - side) / 2.0 + 4.0 * module;
    let top = PAGE_HEIGHT - 24.0 - 4.0 * module;
    let mut content = String::from("0 g\n");
    for (i, is_dark) in dark.iter().enumerate() {
        if *is_dark {
            let x = left + (i % width) as f64 * module;
            let y = top - ((i / width) as f64 + 1.0) * module;
            let _ = writeln!(content, "{x:.3} {y:.3} {module:.3} {module:.3} re f");
        }
    }
    let mut y = PAGE_HEIGHT - 24.0 - side - 14.0;
    for (i, line) in lines.iter().enumerate() {
        let size = if i == 0 { 10 } else { 6 };
        let _ = writeln!(content, "BT /F1 {size} Tf 16 {y:.2} Td ({}) Tj ET", escape(line));
        y -= if i == 0 { 14.0 } else { 10.0 };
    }
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>"),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{content}endstream", content.len()),
    ];
    let mut out = String::from("%PDF-1.4\n");
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        let _ = write!(out, "{} 0 obj\n{body}\nendobj\n", i + 1);
    }
    let xref = out.len();
    let _ = write!(out, "xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        let _ = writeln!(out, "{offset:010} 00000 n ");
    }
    let _ = write!(
        out,
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    out.into_bytes()
}

//! The sheet as a one-page PDF 1.4 document (A6), written directly: the QR modules are
//! filled rectangles and the text uses the base-14 Helvetica font, which every PDF reader
//! has, so nothing is embedded and the file is a few kilobytes of plain text.
//!
//! Objects: 1 catalog, 2 page tree, 3 page, 4 font, 5 content stream, 6 document info.

use std::fmt::Write;

use super::layout::layout;
use super::{printable, Sheet, PAGE_HEIGHT_MM, PAGE_WIDTH_MM};

const PT_PER_MM: f64 = 72.0 / 25.4;

fn pt(mm: f64) -> f64 {
    mm * PT_PER_MM
}

/// A PDF literal string: ASCII only, with `\`, `(` and `)` escaped.
fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('(');
    for c in printable(text).chars() {
        if matches!(c, '\\' | '(' | ')') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push(')');
    out
}

fn content_stream(sheet: &Sheet) -> String {
    let layout = layout(sheet);
    let page_height = pt(PAGE_HEIGHT_MM);
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(s, "0 g");
    // Module space: x right, y down, one unit per module, origin at the quiet zone's
    // top-left corner.
    let module = pt(layout.module_mm);
    let _ = writeln!(
        s,
        "q {module:.4} 0 0 {:.4} {:.4} {:.4} cm",
        -module,
        pt(layout.qr_left_mm),
        page_height - pt(layout.qr_top_mm)
    );
    let quiet = sheet.qr.quiet_zone();
    for (x, y, len) in sheet.qr.dark_runs() {
        let _ = writeln!(s, "{} {} {len} 1 re", x + quiet, y + quiet);
    }
    let _ = writeln!(s, "f Q");
    for line in &layout.lines {
        let _ = writeln!(
            s,
            "BT /F1 {:.2} Tf {:.3} {:.3} Td {} Tj ET",
            pt(line.size_mm),
            pt(line.x_mm),
            page_height - pt(line.baseline_mm),
            literal(&line.text)
        );
    }
    s
}

pub fn render(sheet: &Sheet) -> Vec<u8> {
    let content = content_stream(sheet);
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {:.3} {:.3}] \
             /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
            pt(PAGE_WIDTH_MM),
            pt(PAGE_HEIGHT_MM)
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{content}endstream", content.len()),
        format!("<< /Title {} /Producer (limitctl) >>", literal(&sheet.headline)),
    ];
    // A comment of high bytes right after the header marks the file as binary for
    // transfer programs, as the PDF specification recommends.
    let mut out: Vec<u8> = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref_at = out.len();
    let mut xref = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        // Each entry is exactly 20 bytes: 10 digits, space, 5 digits, space, n, space, LF.
        let _ = writeln!(xref, "{offset:010} 00000 n ");
    }
    let _ = write!(
        xref,
        "trailer\n<< /Size {} /Root 1 0 R /Info 6 0 R >>\nstartxref\n{xref_at}\n%%EOF\n",
        objects.len() + 1
    );
    out.extend_from_slice(xref.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_escaped() {
        assert_eq!(literal(r"a(b)c\d"), r"(a\(b\)c\\d)");
        assert_eq!(literal("10 … BTC"), "(10 ? BTC)");
    }
}

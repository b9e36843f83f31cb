//! The sheet as a standalone SVG document, A6 in millimetres. The QR modules are integer
//! `<rect>`s inside one scaled group, so the code stays exact at any zoom.

use std::fmt::Write;

use super::layout::layout;
use super::{Sheet, PAGE_HEIGHT_MM, PAGE_WIDTH_MM};

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn render(sheet: &Sheet) -> String {
    let layout = layout(sheet);
    let mut svg = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(svg, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{PAGE_WIDTH_MM}mm" height="{PAGE_HEIGHT_MM}mm" viewBox="0 0 {PAGE_WIDTH_MM} {PAGE_HEIGHT_MM}">"#
    );
    let _ = writeln!(svg, "<title>{}</title>", escape(&sheet.headline));
    let _ = writeln!(
        svg,
        r#"<rect x="0" y="0" width="{PAGE_WIDTH_MM}" height="{PAGE_HEIGHT_MM}" fill="white"/>"#
    );
    let quiet = sheet.qr.quiet_zone();
    let _ = writeln!(
        svg,
        r#"<g id="qr" transform="translate({:.4} {:.4}) scale({:.6})" shape-rendering="crispEdges" fill="black">"#,
        layout.qr_left_mm, layout.qr_top_mm, layout.module_mm
    );
    let _ = writeln!(
        svg,
        r#"<rect x="0" y="0" width="{0}" height="{0}" fill="white"/>"#,
        sheet.qr.full_width()
    );
    for (x, y, len) in sheet.qr.dark_runs() {
        let _ = writeln!(
            svg,
            r#"<rect x="{}" y="{}" width="{len}" height="1"/>"#,
            x + quiet,
            y + quiet
        );
    }
    let _ = writeln!(svg, "</g>");
    for line in &layout.lines {
        let _ = writeln!(
            svg,
            r#"<text x="{:.3}" y="{:.3}" font-family="Helvetica, Arial, sans-serif" font-size="{}">{}</text>"#,
            line.x_mm,
            line.baseline_mm,
            line.size_mm,
            escape(&line.text)
        );
    }
    let _ = writeln!(svg, "</svg>");
    svg
}

//! The vector layout shared by the SVG and PDF sheets, in millimetres from the top-left
//! corner of the A6 page: where the QR code goes and where each line of Helvetica text
//! goes, wrapped and centred with Helvetica's real advance widths.

use super::{printable, text_width, wrap, Sheet, PAGE_HEIGHT_MM, PAGE_WIDTH_MM};

const MARGIN_MM: f64 = 7.0;
/// Side of the QR code including its quiet zone: about 80 mm scans easily from a webcam
/// at arm's length and leaves room for the text on A6.
const QR_SIDE_MM: f64 = 80.0;

/// One line of text, centred on the page at `baseline_mm` from the top.
#[derive(Debug, Clone, PartialEq)]
pub struct TextLine {
    pub text: String,
    pub size_mm: f64,
    pub baseline_mm: f64,
    pub x_mm: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Top-left corner of the QR code's quiet zone.
    pub qr_left_mm: f64,
    pub qr_top_mm: f64,
    /// Side of one module.
    pub module_mm: f64,
    pub lines: Vec<TextLine>,
}

fn push_centered(lines: &mut Vec<TextLine>, y: &mut f64, text: &str, size_mm: f64) {
    let usable = PAGE_WIDTH_MM - 2.0 * MARGIN_MM;
    for line in wrap(&printable(text), |s| text_width(s, size_mm) <= usable) {
        *y += size_mm;
        lines.push(TextLine {
            x_mm: (PAGE_WIDTH_MM - text_width(&line, size_mm)) / 2.0,
            text: line,
            size_mm,
            baseline_mm: *y,
        });
        *y += size_mm * 0.45;
    }
}

pub fn layout(sheet: &Sheet) -> Layout {
    let mut lines = Vec::new();
    let mut y = MARGIN_MM;
    push_centered(&mut lines, &mut y, &sheet.title, 5.0);
    let module_mm = QR_SIDE_MM / sheet.qr.full_width() as f64;
    let qr_top_mm = y + 1.0;
    y = qr_top_mm + QR_SIDE_MM + 1.0;
    push_centered(&mut lines, &mut y, &sheet.headline, 3.6);
    y += 1.5;
    for line in sheet.detail_lines() {
        push_centered(&mut lines, &mut y, &line, 2.8);
    }
    let footer_height = sheet.footer.len() as f64 * 2.4 * 1.45;
    let mut footer_y = (PAGE_HEIGHT_MM - MARGIN_MM - footer_height).max(y + 2.0);
    for line in &sheet.footer {
        push_centered(&mut lines, &mut footer_y, line, 2.4);
    }
    Layout {
        qr_left_mm: (PAGE_WIDTH_MM - QR_SIDE_MM) / 2.0,
        qr_top_mm,
        module_mm,
        lines,
    }
}

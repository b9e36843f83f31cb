//! The sheet as a 300 dpi PNG (1240 × 1748 pixels = A6), text drawn with the public-domain
//! 8×8 bitmap font (`font8x8`) so no font files are needed on the offline machine.

use font8x8::{UnicodeFonts, BASIC_FONTS};
use image::{GrayImage, Luma};

use super::{printable, wrap, Sheet};

pub const WIDTH_PX: u32 = 1240;
pub const HEIGHT_PX: u32 = 1748;
const MARGIN_PX: u32 = 60;
const BLACK: Luma<u8> = Luma([0]);
const WHITE: Luma<u8> = Luma([255]);

/// Draws `text` (ASCII; others become `?`) with its top-left corner at `(x, y)`, each
/// font pixel `scale` pixels square.
fn draw_text(img: &mut GrayImage, x: u32, y: u32, text: &str, scale: u32) {
    for (i, c) in printable(text).chars().enumerate() {
        let Some(glyph) = BASIC_FONTS.get(c) else {
            continue;
        };
        let left = x + (i as u32) * 8 * scale;
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8u32 {
                if bits & (1 << col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let (px, py) = (left + col * scale + dx, y + row as u32 * scale + dy);
                        if px < img.width() && py < img.height() {
                            img.put_pixel(px, py, BLACK);
                        }
                    }
                }
            }
        }
    }
}

fn text_width_px(text: &str, scale: u32) -> u32 {
    text.chars().count() as u32 * 8 * scale
}

/// Draws each wrapped line centred, starting at `y`; returns the y below the last line.
fn draw_centered(img: &mut GrayImage, y: u32, text: &str, scale: u32) -> u32 {
    let usable = WIDTH_PX - 2 * MARGIN_PX;
    let mut y = y;
    for line in wrap(text, |s| text_width_px(s, scale) <= usable) {
        let x = (WIDTH_PX - text_width_px(&line, scale).min(WIDTH_PX)) / 2;
        draw_text(img, x, y, &line, scale);
        y += 8 * scale + 4 * scale;
    }
    y
}

/// The sheet as a grey-scale image.
pub fn render(sheet: &Sheet) -> GrayImage {
    let mut img = GrayImage::from_pixel(WIDTH_PX, HEIGHT_PX, WHITE);
    let mut y = draw_centered(&mut img, MARGIN_PX, &sheet.title, 5);

    // The QR code: whole pixels per module (no resampling blur), at most 14: 77 mm for
    // version 10, large for a webcam and leaving room for the text.
    let full = sheet.qr.full_width() as u32;
    let module = ((WIDTH_PX - 2 * MARGIN_PX) / full).clamp(1, 14);
    let side = full * module;
    let (left, top) = ((WIDTH_PX - side) / 2, y + 10);
    let quiet = sheet.qr.quiet_zone() as u32;
    for my in 0..sheet.qr.width {
        for mx in 0..sheet.qr.width {
            if !sheet.qr.is_dark(mx, my) {
                continue;
            }
            let (x0, y0) = (
                left + (mx as u32 + quiet) * module,
                top + (my as u32 + quiet) * module,
            );
            for py in y0..y0 + module {
                for px in x0..x0 + module {
                    img.put_pixel(px, py, BLACK);
                }
            }
        }
    }
    y = top + side + 10;

    y = draw_centered(&mut img, y, &sheet.headline, 4) + 16;
    for line in sheet.detail_lines() {
        y = draw_centered(&mut img, y, &line, 3);
    }
    let mut footer_y = HEIGHT_PX - MARGIN_PX - (sheet.footer.len() as u32) * 24;
    footer_y = footer_y.max(y + 12);
    for line in &sheet.footer {
        footer_y = draw_centered(&mut img, footer_y, line, 2);
    }
    img
}

/// The sheet as PNG bytes.
pub fn render_png(sheet: &Sheet) -> Result<Vec<u8>, sluice_shared::qr::QrError> {
    sluice_shared::qr::encode_png(&render(sheet))
}

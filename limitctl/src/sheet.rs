//! The printable sheet of a limit command: the QR code and what it does in words, as PNG,
//! SVG and PDF (A6).

use anyhow::Result;
use image::{GrayImage, Luma};
use sluice_shared::identity::officer_key_fingerprint;
use sluice_shared::limit_command::SignedLimitCommand;
use sluice_shared::qr;

use crate::clock::format_utc;
use crate::pdf;

/// What the sheet says: a title, then lines of text under the QR code.
#[derive(Debug, Clone)]
pub struct Sheet {
    pub qr_text: String,
    pub lines: Vec<String>,
}

impl Sheet {
    pub fn new(
        command: &SignedLimitCommand,
        officers: &[bitcoin::secp256k1::XOnlyPublicKey],
    ) -> Result<Sheet> {
        let c = &command.command;
        let signers: Vec<String> = command
            .signatures
            .iter()
            .map(|s| {
                let fp = s.fingerprint_hex();
                match officers.iter().find(|k| officer_key_fingerprint(k) == fp) {
                    Some(_) => fp,
                    None => format!("{fp} (key not in this file)"),
                }
            })
            .collect();
        Ok(Sheet {
            qr_text: command.encode_text()?,
            lines: vec![
                "SLUICE LIMIT COMMAND".to_owned(),
                c.action.describe(c.signer, c.asset),
                format!("Signer id:  {}", c.signer),
                format!("Command id: {}", c.id),
                format!("Valid from: {}", format_utc(c.not_before)),
                format!("Valid to:   {}", format_utc(c.not_after)),
                format!(
                    "Signed by officers: {}",
                    if signers.is_empty() {
                        "nobody yet".to_owned()
                    } else {
                        signers.join(", ")
                    }
                ),
                "Apply: sluice-signer limits apply --scan PHOTO".to_owned(),
                "Single use. Keep sealed until needed.".to_owned(),
            ],
        })
    }

    /// PNG: the QR code (8 px per module) above the text (8x8 bitmap font, doubled).
    pub fn png(&self) -> Result<Vec<u8>> {
        const SCALE: u32 = 2;
        const LINE: u32 = 8 * SCALE + 10;
        let code = qr::render_image(&self.qr_text, 8)?;
        let text_width = self
            .lines
            .iter()
            .map(|l| l.chars().count() as u32 * 8 * SCALE)
            .max()
            .unwrap_or(0);
        let width = code.width().max(text_width + 64);
        let height = code.height() + 24 + LINE * self.lines.len() as u32 + 32;
        let mut img = GrayImage::from_pixel(width, height, Luma([255]));
        image::imageops::overlay(&mut img, &code, i64::from((width - code.width()) / 2), 0);
        for (i, line) in self.lines.iter().enumerate() {
            draw_text(&mut img, line, 32, code.height() + 24 + LINE * i as u32, SCALE);
        }
        Ok(qr::encode_png(&img)?)
    }

    /// SVG: the QR code as squares, then the text.
    pub fn svg(&self) -> Result<String> {
        let (width, dark) = qr::modules(&self.qr_text)?;
        let module = 6usize;
        let quiet = 4 * module;
        let qr_side = width * module + 2 * quiet;
        let page_width = qr_side.max(640);
        let offset = (page_width - qr_side) / 2 + quiet;
        let height = qr_side + 30 * self.lines.len() + 20;
        let mut out = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{page_width}\" height=\"{height}\" viewBox=\"0 0 {page_width} {height}\">\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n<g fill=\"#000\">\n"
        );
        for (i, is_dark) in dark.iter().enumerate() {
            if *is_dark {
                let (x, y) = (offset + (i % width) * module, quiet + (i / width) * module);
                out.push_str(&format!(
                    "<rect x=\"{x}\" y=\"{y}\" width=\"{module}\" height=\"{module}\"/>\n"
                ));
            }
        }
        out.push_str("</g>\n<g font-family=\"monospace\" font-size=\"16\" fill=\"#000\">\n");
        for (i, line) in self.lines.iter().enumerate() {
            out.push_str(&format!(
                "<text x=\"24\" y=\"{}\">{}</text>\n",
                qr_side + 30 * i + 10,
                xml_escape(line)
            ));
        }
        out.push_str("</g>\n</svg>\n");
        Ok(out)
    }

    /// PDF: one A6 page, the QR code as filled squares, the text in Helvetica.
    pub fn pdf(&self) -> Result<Vec<u8>> {
        let (width, dark) = qr::modules(&self.qr_text)?;
        Ok(pdf::a6_sheet(width, &dark, &self.lines))
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Draws `text` with the public-domain 8x8 bitmap font.
fn draw_text(img: &mut GrayImage, text: &str, x0: u32, y0: u32, scale: u32) {
    use font8x8::UnicodeFonts;
    for (i, ch) in text.chars().enumerate() {
        let glyph = font8x8::BASIC_FONTS
            .get(ch)
            .or_else(|| font8x8::BASIC_FONTS.get('?'))
            .unwrap_or([0; 8]);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8u32 {
                if bits & (1 << col) != 0 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            let x = x0 + (i as u32 * 8 + col) * scale + dx;
                            let y = y0 + row as u32 * scale + dy;
                            if x < img.width() && y < img.height() {
                                img.put_pixel(x, y, Luma([0]));
                            }
                        }
                    }
                }
            }
        }
    }
}

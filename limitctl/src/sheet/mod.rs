//! The printable sheet of a signed command: its QR code, what it does in plain words,
//! command id, signer id, validity window in UTC and the signing officers' fingerprints,
//! laid out for an A6 card (105 × 148 mm) as PNG, SVG and PDF.

mod helvetica;
mod layout;
pub mod pdf;
pub mod png;
pub mod svg;

use qrcode::{Color, QrCode};
use sluice_shared::limit_command::SignedLimitCommand;
use sluice_shared::qr::{EcLevel, QUIET_ZONE};

pub use helvetica::{printable, text_width};

use crate::utc::format_utc;

/// A6 portrait, in millimetres.
pub const PAGE_WIDTH_MM: f64 = 105.0;
pub const PAGE_HEIGHT_MM: f64 = 148.0;

/// Why a sheet could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SheetError {
    #[error("the command cannot be encoded: {0}")]
    Command(#[from] sluice_shared::limit_command::CommandError),
    #[error("the command does not fit a QR code")]
    TooLong,
    #[error("nobody has signed this command yet: have the officers run `limitctl sign` first")]
    Unsigned,
}

/// The QR code as a grid of modules (without quiet zone), dark = `true`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrModules {
    pub width: usize,
    pub version: i16,
    dark: Vec<bool>,
}

impl QrModules {
    /// The code for `text` at level M, as `sluice_shared::qr` renders it.
    pub fn for_text(text: &str) -> Result<QrModules, SheetError> {
        let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
            .map_err(|_| SheetError::TooLong)?;
        let version = match code.version() {
            qrcode::Version::Normal(v) | qrcode::Version::Micro(v) => v,
        };
        Ok(QrModules {
            width: code.width(),
            version,
            dark: code.to_colors().into_iter().map(|c| c == Color::Dark).collect(),
        })
    }

    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        x < self.width && y < self.width && self.dark[y * self.width + x]
    }

    /// The modules of the quiet zone on each side.
    pub fn quiet_zone(&self) -> usize {
        QUIET_ZONE as usize
    }

    /// Width including the quiet zone on both sides.
    pub fn full_width(&self) -> usize {
        self.width + 2 * self.quiet_zone()
    }

    /// Dark modules merged into horizontal runs `(x, y, length)`: fewer shapes in SVG and
    /// PDF, and no hairline gaps between neighbouring modules in viewers.
    pub fn dark_runs(&self) -> Vec<(usize, usize, usize)> {
        let mut runs = Vec::new();
        for y in 0..self.width {
            let mut x = 0;
            while x < self.width {
                if self.is_dark(x, y) {
                    let start = x;
                    while x < self.width && self.is_dark(x, y) {
                        x += 1;
                    }
                    runs.push((start, y, x - start));
                } else {
                    x += 1;
                }
            }
        }
        runs
    }
}

/// Everything printed on the sheet.
#[derive(Debug, Clone)]
pub struct Sheet {
    pub title: String,
    pub qr_text: String,
    pub qr: QrModules,
    /// The action in plain words: the line an officer or operator reads first.
    pub headline: String,
    /// `label: value` lines under the headline.
    pub details: Vec<(String, String)>,
    pub footer: Vec<String>,
}

impl Sheet {
    pub fn for_command(signed: &SignedLimitCommand) -> Result<Sheet, SheetError> {
        if signed.signatures.is_empty() {
            return Err(SheetError::Unsigned);
        }
        let qr_text = signed.encode_text()?;
        let qr = QrModules::for_text(&qr_text)?;
        let command = &signed.command;
        let officers: Vec<String> = signed.signatures.iter().map(|s| s.fingerprint_hex()).collect();
        let details = vec![
            ("Command id".to_owned(), command.id.to_string()),
            ("Signer id".to_owned(), command.signer.to_string()),
            ("Valid from".to_owned(), format_utc(command.not_before)),
            ("Valid until".to_owned(), format_utc(command.not_after)),
            (
                format!("Signed by {} officer(s)", officers.len()),
                officers.join(", "),
            ),
        ];
        Ok(Sheet {
            title: "SLUICE LIMIT COMMAND".to_owned(),
            headline: command.describe(),
            details,
            footer: vec![
                "Single use. Keep sealed until needed.".to_owned(),
                "Apply: sluice-signer limits apply --scan PHOTO".to_owned(),
                format!("QR version {}-M, {} characters", qr.version, qr_text.len()),
            ],
            qr_text,
            qr,
        })
    }

    /// The detail lines as printed: `label: value`.
    pub fn detail_lines(&self) -> Vec<String> {
        self.details
            .iter()
            .map(|(label, value)| format!("{label}: {value}"))
            .collect()
    }
}

/// Splits `text` into lines that satisfy `fits`, breaking at spaces (and inside a word
/// only when the word alone is too long).
pub fn wrap(text: &str, fits: impl Fn(&str) -> bool) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_owned()
        } else {
            format!("{line} {word}")
        };
        if fits(&candidate) {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        // The word alone: break it by characters if it still does not fit.
        for c in word.chars() {
            let mut next = line.clone();
            next.push(c);
            if !line.is_empty() && !fits(&next) {
                lines.push(std::mem::take(&mut line));
                line.push(c);
            } else {
                line = next;
            }
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_breaks_at_spaces_and_long_words() {
        let fits = |s: &str| s.len() <= 10;
        assert_eq!(wrap("one two three four", fits), ["one two", "three four"]);
        assert_eq!(wrap("abcdefghijklmnop x", fits), ["abcdefghij", "klmnop x"]);
        assert_eq!(wrap("", fits), Vec::<String>::new());
    }
}

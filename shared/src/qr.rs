//! QR codes as images: rendering text to PNG/SVG (`qrcode`) and reading every code found
//! in an image (`rqrr`), in memory. Files and cameras are the binaries' business.

use image::{GrayImage, ImageFormat, Luma};
use qrcode::{QrCode, Version};

/// Error-correction level M (15 %): what Sluice prints and shows.
pub use qrcode::EcLevel;

/// Modules of white border around a code, as the QR standard asks.
pub const QUIET_ZONE: u32 = 4;

/// Why a QR code could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    #[error("data too long for a QR code ({0} bytes)")]
    TooLong(usize),
    #[error("not a readable image: {0}")]
    Image(String),
    #[error("no QR code found in the image")]
    NoCode,
    #[error("a QR code was found but could not be decoded: {0}")]
    Undecodable(String),
}

fn code(text: &str) -> Result<QrCode, QrError> {
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).map_err(|_| QrError::TooLong(text.len()))
}

/// Renders `text` as a QR code at level M with a 4-module quiet zone, `module_px` pixels
/// per module. Text entirely in the QR alphanumeric set (e.g. upper-cased UR) is encoded
/// in the compact alphanumeric mode, which `qrcode` picks by itself.
pub fn render_image(text: &str, module_px: u32) -> Result<GrayImage, QrError> {
    let code = code(text)?;
    let width = u32::try_from(code.width()).map_err(|_| QrError::TooLong(text.len()))?;
    let px = module_px.max(1);
    let side = (width + 2 * QUIET_ZONE) * px;
    let mut img = GrayImage::from_pixel(side, side, Luma([255]));
    let colors = code.to_colors();
    for (i, color) in colors.iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (mx, my) = ((i as u32) % width, (i as u32) / width);
            for dy in 0..px {
                for dx in 0..px {
                    img.put_pixel(
                        (mx + QUIET_ZONE) * px + dx,
                        (my + QUIET_ZONE) * px + dy,
                        Luma([0]),
                    );
                }
            }
        }
    }
    Ok(img)
}

/// Encodes an image as PNG bytes.
pub fn encode_png(img: &GrayImage) -> Result<Vec<u8>, QrError> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png)
        .map_err(|e| QrError::Image(e.to_string()))?;
    Ok(out.into_inner())
}

/// The code's modules row by row (`true` = dark), without quiet zone, and its width.
pub fn modules(text: &str) -> Result<(usize, Vec<bool>), QrError> {
    let code = code(text)?;
    let dark = code
        .to_colors()
        .iter()
        .map(|c| *c == qrcode::Color::Dark)
        .collect();
    Ok((code.width(), dark))
}

/// [`render_image`] encoded as PNG bytes.
pub fn render_png(text: &str, module_px: u32) -> Result<Vec<u8>, QrError> {
    encode_png(&render_image(text, module_px)?)
}

/// The QR code as a standalone SVG document.
pub fn render_svg(text: &str) -> Result<String, QrError> {
    Ok(code(text)?
        .render::<qrcode::render::svg::Color>()
        .quiet_zone(true)
        .min_dimensions(256, 256)
        .build())
}

/// The QR version (1–40) `text` needs at `level`.
pub fn version_for(text: &str, level: EcLevel) -> Result<i16, QrError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), level)
        .map_err(|_| QrError::TooLong(text.len()))?;
    match code.version() {
        Version::Normal(v) => Ok(v),
        Version::Micro(v) => Ok(v),
    }
}

/// Every QR code found in the image, as text.
pub fn decode_image(image: &GrayImage) -> Result<Vec<String>, QrError> {
    let mut prepared = rqrr::PreparedImage::prepare(image.clone());
    let grids = prepared.detect_grids();
    if grids.is_empty() {
        return Err(QrError::NoCode);
    }
    let mut texts = Vec::with_capacity(grids.len());
    let mut last_error = None;
    for grid in grids {
        match grid.decode() {
            Ok((_, text)) => texts.push(text),
            Err(e) => last_error = Some(e.to_string()),
        }
    }
    if texts.is_empty() {
        return Err(QrError::Undecodable(last_error.unwrap_or_default()));
    }
    Ok(texts)
}

/// Decodes an encoded image file's bytes (PNG or JPEG) and reads its QR codes.
pub fn decode_image_bytes(bytes: &[u8]) -> Result<Vec<String>, QrError> {
    let img = image::load_from_memory(bytes).map_err(|e| QrError::Image(e.to_string()))?;
    decode_image(&img.to_luma8())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_reads_back() {
        let text = "UR:CRYPTO-PSBT/HDCXLKAHSSQZTPLRGYTOPRFMJYLKBSLYGYLTGWZSWZSPFE";
        let png = render_png(text, 4).unwrap();
        assert_eq!(decode_image_bytes(&png).unwrap(), vec![text.to_owned()]);
        assert!(render_svg(text).unwrap().contains("<svg"));
        assert!(matches!(
            decode_image_bytes(b"not an image"),
            Err(QrError::Image(_))
        ));
        let blank = GrayImage::from_pixel(100, 100, Luma([255]));
        assert_eq!(decode_image(&blank), Err(QrError::NoCode));
    }

    #[test]
    fn alphanumeric_text_uses_the_compact_mode() {
        // 300 alphanumeric characters fit version 10-M only in alphanumeric mode (byte
        // mode holds 213 characters there).
        let alnum = "A".repeat(300);
        assert!(version_for(&alnum, EcLevel::M).unwrap() <= 10);
        let bytes = "a".repeat(300);
        assert!(version_for(&bytes, EcLevel::M).unwrap() > 10);
    }
}

//! Reading QR codes from photos and webcam frames (a limit command's sheet, a PSBT
//! held up to the camera), in memory.
//!
//! `rqrr` (a port of quirc) finds a crisp code reliably, but on a photo-like image it
//! misses a version-10 code often enough to matter (its threshold follows brightness
//! along rows only, and noise can throw off how it sizes the grid). A phone's scanner copes by trying again on other frames; from one
//! image we try again on a few cleaned-up variants of it (a two-dimensional adaptive
//! threshold, a smoothed copy, other scales, a quarter turn) and keep the first that
//! reads. Each variant is the same picture, so nothing can be read that is not there; the
//! payload's own checks (a limit command's strict decoding and signatures, a PSBT's
//! inspection) decide what it means.
//!
//! Measured on photo-like copies of a printed version-10 limit-command sheet (scaled to
//! 30–50 %, rotated 1.5–4°, blurred, noisy, JPEG): `qr::decode_image` alone read 64 of
//! 120, [`scan`] 119 of 120.

use crate::qr::{decode_image, QrError};
use image::imageops::{self, FilterType};
use image::{GrayImage, Luma};

/// Binarises with a threshold that follows the local brightness in both directions: the
/// mean of a square window, scaled by `percent`.
pub fn adaptive_threshold(img: &GrayImage, window: u32, percent: u64) -> GrayImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let stride = w + 1;
    let mut integral = vec![0u64; stride * (h + 1)];
    for y in 0..h {
        let mut row = 0u64;
        for x in 0..w {
            row += u64::from(img.get_pixel(x as u32, y as u32)[0]);
            integral[(y + 1) * stride + x + 1] = integral[y * stride + x + 1] + row;
        }
    }
    let r = (window.max(2) / 2) as usize;
    let mut out = GrayImage::new(img.width(), img.height());
    for y in 0..h {
        for x in 0..w {
            let (x0, y0) = (x.saturating_sub(r), y.saturating_sub(r));
            let (x1, y1) = ((x + r + 1).min(w), (y + r + 1).min(h));
            let sum = integral[y1 * stride + x1] + integral[y0 * stride + x0]
                - integral[y0 * stride + x1]
                - integral[y1 * stride + x0];
            let count = ((x1 - x0) * (y1 - y0)) as u64;
            let value = u64::from(img.get_pixel(x as u32, y as u32)[0]) * 100 * count;
            let dark = value < sum * percent;
            out.put_pixel(x as u32, y as u32, Luma([if dark { 0 } else { 255 }]));
        }
    }
    out
}

fn scaled(img: &GrayImage, numerator: u32, denominator: u32) -> GrayImage {
    let (w, h) = (
        (img.width() * numerator / denominator).max(1),
        (img.height() * numerator / denominator).max(1),
    );
    imageops::resize(img, w, h, FilterType::Triangle)
}

/// The variants tried, in order, each made only if the ones before found nothing.
fn variant(img: &GrayImage, attempt: usize) -> Option<GrayImage> {
    let window = (img.width().min(img.height()) / 12).max(8);
    Some(match attempt {
        0 => img.clone(),
        1 => adaptive_threshold(img, window, 90),
        2 => adaptive_threshold(&imageops::blur(img, 1.0), window, 90),
        3 => adaptive_threshold(img, window / 2, 85),
        4 => imageops::rotate90(&adaptive_threshold(img, window, 90)),
        5 => scaled(img, 2, 3),
        6 => adaptive_threshold(&scaled(img, 3, 2), window * 3 / 2, 90),
        7 => imageops::rotate90(img),
        _ => return None,
    })
}

/// Every QR code found in a photo or scan, as text (see the module documentation).
pub fn scan(img: &GrayImage) -> Result<Vec<String>, QrError> {
    let mut first_error = None;
    let mut attempt = 0;
    while let Some(candidate) = variant(img, attempt) {
        match decode_image(&candidate) {
            Ok(texts) => return Ok(texts),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
        attempt += 1;
    }
    Err(first_error.unwrap_or(QrError::NoCode))
}

/// The first two attempts of [`scan`] only (the picture as it is, then the local-threshold
/// copy), for a live camera: it gives many frames a second, so a frame that needs more
/// cleaning up is better skipped for the next one than worked on (the full list costs
/// seconds a frame on a slow appliance, most of it on frames that hold no code at all).
pub fn scan_quick(img: &GrayImage) -> Result<Vec<String>, QrError> {
    let mut first_error = None;
    for attempt in 0..2 {
        let Some(candidate) = variant(img, attempt) else {
            break;
        };
        match decode_image(&candidate) {
            Ok(texts) => return Ok(texts),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or(QrError::NoCode))
}

/// [`scan`] of an encoded PNG or JPEG file.
pub fn scan_bytes(bytes: &[u8]) -> Result<Vec<String>, QrError> {
    let img = image::load_from_memory(bytes).map_err(|e| QrError::Image(e.to_string()))?;
    scan(&img.to_luma8())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_follows_local_brightness() {
        // Left half dim, right half bright, a darker square in each: both squares stay
        // dark and both backgrounds white, which one global threshold cannot do.
        let mut img = GrayImage::from_fn(200, 100, |x, _| Luma([if x < 100 { 90 } else { 230 }]));
        for y in 40..60 {
            for x in 40..60 {
                img.put_pixel(x, y, Luma([40]));
                img.put_pixel(x + 100, y, Luma([150]));
            }
        }
        let out = adaptive_threshold(&img, 30, 90);
        assert_eq!(out.get_pixel(50, 50)[0], 0);
        assert_eq!(out.get_pixel(150, 50)[0], 0);
        assert_eq!(out.get_pixel(10, 10)[0], 255);
        assert_eq!(out.get_pixel(190, 10)[0], 255);
    }

    #[test]
    fn nothing_is_found_in_a_blank_page() {
        let blank = GrayImage::from_pixel(120, 160, Luma([250]));
        assert_eq!(scan(&blank), Err(QrError::NoCode));
    }
}

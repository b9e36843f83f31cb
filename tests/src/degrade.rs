//! Making a rendered image look like what a camera sees: scaled down, slightly rotated,
//! blurred, noisy, JPEG-compressed. For tests that scan printed sheets.

use image::{imageops, GrayImage, Luma};
use rand::{Rng, SeedableRng};

pub fn scale(img: &GrayImage, factor: f32) -> GrayImage {
    let w = ((img.width() as f32) * factor).round().max(1.0) as u32;
    let h = ((img.height() as f32) * factor).round().max(1.0) as u32;
    imageops::resize(img, w, h, imageops::FilterType::Triangle)
}

/// Rotates by `degrees` about the centre with bilinear sampling; corners become white.
pub fn rotate(img: &GrayImage, degrees: f32) -> GrayImage {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cx, cy) = (w / 2.0, h / 2.0);
    let mut out = GrayImage::from_pixel(img.width(), img.height(), Luma([255]));
    for y in 0..img.height() {
        for x in 0..img.width() {
            let (dx, dy) = (x as f32 - cx, y as f32 - cy);
            let sx = cos * dx + sin * dy + cx;
            let sy = -sin * dx + cos * dy + cy;
            if sx < 0.0 || sy < 0.0 || sx >= w - 1.0 || sy >= h - 1.0 {
                continue;
            }
            let (x0, y0) = (sx.floor() as u32, sy.floor() as u32);
            let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
            let p = |xx: u32, yy: u32| f32::from(img.get_pixel(xx, yy)[0]);
            let top = p(x0, y0) * (1.0 - fx) + p(x0 + 1, y0) * fx;
            let bottom = p(x0, y0 + 1) * (1.0 - fx) + p(x0 + 1, y0 + 1) * fx;
            out.put_pixel(x, y, Luma([(top * (1.0 - fy) + bottom * fy).round() as u8]));
        }
    }
    out
}

pub fn blur(img: &GrayImage, sigma: f32) -> GrayImage {
    imageops::blur(img, sigma)
}

/// Adds uniform noise of ±`amplitude` grey levels, reproducibly from `seed`.
pub fn add_noise(img: &GrayImage, amplitude: i16, seed: u64) -> GrayImage {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = img.clone();
    for pixel in out.pixels_mut() {
        let v = i16::from(pixel[0]) + rng.gen_range(-amplitude..=amplitude);
        pixel[0] = v.clamp(0, 255) as u8;
    }
    out
}

/// A phone photo or webcam frame of a printed sheet: smaller, tilted 3°, soft, noisy.
pub fn photo_like(img: &GrayImage, seed: u64) -> GrayImage {
    add_noise(&blur(&rotate(&scale(img, 0.6), 3.0), 0.8), 20, seed)
}

/// JPEG bytes at `quality` (1–100), as a camera saves them.
pub fn to_jpeg(img: &GrayImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
    img.write_with_encoder(encoder)
        .expect("JPEG encoding of an in-memory image");
    out
}

//! Frames degraded the way a phone or webcam sees a screen: scaled down, turned a little,
//! blurred, noisy; and a YUV4MPEG2 writer to make a video of them.

use image::imageops;
use image::{GrayImage, Luma};
use rand::Rng;

/// `img` turned by `degrees` about its centre (bilinear, white where nothing maps).
pub fn rotate(img: &GrayImage, degrees: f64) -> GrayImage {
    let (w, h) = (img.width() as f64, img.height() as f64);
    let (sin, cos) = degrees.to_radians().sin_cos();
    GrayImage::from_fn(img.width(), img.height(), |x, y| {
        let (dx, dy) = (x as f64 - w / 2.0, y as f64 - h / 2.0);
        let (sx, sy) = (cos * dx + sin * dy + w / 2.0, -sin * dx + cos * dy + h / 2.0);
        let (x0, y0) = (sx.floor(), sy.floor());
        let (fx, fy) = (sx - x0, sy - y0);
        let at = |x: f64, y: f64| {
            if x < 0.0 || y < 0.0 || x >= w || y >= h {
                255.0
            } else {
                f64::from(img.get_pixel(x as u32, y as u32)[0])
            }
        };
        let v = at(x0, y0) * (1.0 - fx) * (1.0 - fy)
            + at(x0 + 1.0, y0) * fx * (1.0 - fy)
            + at(x0, y0 + 1.0) * (1.0 - fx) * fy
            + at(x0 + 1.0, y0 + 1.0) * fx * fy;
        Luma([v.round() as u8])
    })
}

/// A camera's view of a crisp frame: 80 % scale, turned 1–3°, blurred, ±24 noise, and
/// a grey screen (black at 30, white at 220).
pub fn degrade(img: &GrayImage, rng: &mut impl Rng) -> GrayImage {
    let scaled = imageops::resize(
        img,
        img.width() * 4 / 5,
        img.height() * 4 / 5,
        imageops::FilterType::Triangle,
    );
    let sign = if rng.gen_bool(0.5) { 1.0 } else { -1.0 };
    let turned = rotate(&scaled, sign * rng.gen_range(1.0..3.0));
    let mut blurred = imageops::blur(&turned, 0.7);
    for px in blurred.pixels_mut() {
        let screen = 30.0 + f64::from(px[0]) * 190.0 / 255.0;
        let noisy = screen + rng.gen_range(-24.0..24.0);
        px[0] = noisy.clamp(0.0, 255.0) as u8;
    }
    blurred
}

/// The frames as a YUV4MPEG2 (4:2:0) video at 5 frames a second, grey chroma.
pub fn y4m(frames: &[GrayImage]) -> Vec<u8> {
    let (w, h) = (frames[0].width(), frames[0].height());
    let mut out = format!("YUV4MPEG2 W{w} H{h} F5:1 Ip A1:1 C420jpeg\n").into_bytes();
    let chroma = 2 * (w.div_ceil(2) * h.div_ceil(2)) as usize;
    for frame in frames {
        out.extend_from_slice(b"FRAME\n");
        out.extend_from_slice(frame.as_raw());
        out.extend(std::iter::repeat_n(128u8, chroma));
    }
    out
}

//! A PSBT as an animated QR code: an APNG file (plays in browsers and image viewers,
//! loops forever) of BC-UR frames at a frame rate and fragment size the operator sets.
//!
//! The animation holds each pure fragment once and then as many mixed fountain parts (a
//! few more, to make the loop's length prime: see [`animation_texts`]), so a camera that
//! misses frames catches up from the mixed ones instead of waiting for the same frame to
//! come round again. In memory; writing the file is the binary's business.

use image::GrayImage;

use crate::qr::{render_image, QrError};
use crate::ur_psbt::{PsbtUrEncoder, DEFAULT_MAX_FRAGMENT_LEN};

/// Sparrow's pace: five frames a second.
pub const DEFAULT_FRAMES_PER_SECOND: u16 = 5;

/// The largest fragment offered: about 400 bytes is the most a phone or webcam reads
/// reliably from a screen at animation speed (a version-25 code).
pub const MAX_FRAGMENT_LEN: usize = 400;

/// The fastest frame rate offered; beyond it cameras (30 fps, exposure) blur frames.
pub const MAX_FRAMES_PER_SECOND: u16 = 15;

/// How an animation is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnimationSettings {
    pub frames_per_second: u16,
    /// Bytes of fountain fragment per frame (10..=[`MAX_FRAGMENT_LEN`]).
    pub max_fragment_len: usize,
    /// Pixels per QR module.
    pub module_px: u32,
}

impl Default for AnimationSettings {
    fn default() -> Self {
        Self {
            frames_per_second: DEFAULT_FRAMES_PER_SECOND,
            max_fragment_len: DEFAULT_MAX_FRAGMENT_LEN,
            module_px: 4,
        }
    }
}

/// Why an animation could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnimationError {
    #[error("frame rate {0} is not in 1..={MAX_FRAMES_PER_SECOND} frames a second")]
    FrameRate(u16),
    #[error("fragment size {0} is not in 10..={MAX_FRAGMENT_LEN} bytes")]
    FragmentLen(usize),
    #[error("rendering a frame: {0}")]
    Render(#[from] QrError),
    #[error("encoding the APNG: {0}")]
    Encode(String),
}

impl AnimationSettings {
    /// Refuses a frame rate or fragment size outside what cameras read.
    pub fn check(&self) -> Result<(), AnimationError> {
        if !(1..=MAX_FRAMES_PER_SECOND).contains(&self.frames_per_second) {
            return Err(AnimationError::FrameRate(self.frames_per_second));
        }
        if !(10..=MAX_FRAGMENT_LEN).contains(&self.max_fragment_len) {
            return Err(AnimationError::FragmentLen(self.max_fragment_len));
        }
        Ok(())
    }
}

/// The UR texts of one loop: a single part alone, or the pure fragments followed by mixed
/// fountain parts, as many or a few more: the loop's length is the first prime at or above
/// twice the fragment count.
///
/// A prime length, because a camera that decodes one frame in every `n` (it reads at a
/// fraction of the animation's pace, or is still busy with one frame while the next go by)
/// sees the same frames on every pass: with a loop of `L` frames it sees `L / gcd(n, L)`
/// of them. With `L` prime that is every frame for every `n` short of `L`; with `L` even,
/// a camera at half the pace would see only the even or only the odd frames, forever, and
/// those need not hold the whole PSBT.
pub fn animation_texts(psbt: &[u8], max_fragment_len: usize) -> Vec<String> {
    let mut encoder = PsbtUrEncoder::new(psbt, max_fragment_len);
    if encoder.is_single_part() {
        return encoder.parts(1);
    }
    let count = prime_at_or_above(2 * encoder.seq_len());
    encoder.parts(count)
}

/// The order in which a live display (the appliance's screen) shows a loop's `len` frames
/// on pass `pass`: in order on the first (the pure fragments first), then a different
/// shuffle each pass. A camera that decodes at a steady pace can keep step with a loop
/// replayed in one order, sampling it at the same few phases for ever (a period of a fifth
/// of the loop's duration reads five frames: no loop length prevents that); reshuffled,
/// each read is a fresh draw. An APNG file cannot do this: it loops as written.
pub fn pass_order(len: usize, pass: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    if pass == 0 {
        return order;
    }
    // xorshift64, seeded by the pass: no secret, only different from pass to pass.
    let mut state = pass.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for n in (1..len).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(n, (state % (n as u64 + 1)) as usize);
    }
    order
}

/// The least prime `>= n` (2 for `n <= 2`). Loops are at most a few thousand frames: trial
/// division is plenty.
pub fn prime_at_or_above(n: usize) -> usize {
    let is_prime = |m: usize| m >= 2 && (2..).take_while(|d| d * d <= m).all(|d| m % d != 0);
    (n.max(2)..).find(|m| is_prime(*m)).unwrap_or(n)
}

/// Every text rendered at the same size (codes centred on white), as a looping APNG.
pub fn encode_apng(texts: &[String], settings: &AnimationSettings) -> Result<Vec<u8>, AnimationError> {
    settings.check()?;
    let images = texts
        .iter()
        .map(|t| render_image(t, settings.module_px))
        .collect::<Result<Vec<GrayImage>, _>>()?;
    let side = images.iter().map(GrayImage::width).max().unwrap_or(1);
    let encode_error = |e: png::EncodingError| AnimationError::Encode(e.to_string());
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let frame_count =
        u32::try_from(images.len()).map_err(|_| AnimationError::Encode("too many frames".to_owned()))?;
    encoder
        .set_animated(frame_count.max(1), 0)
        .map_err(encode_error)?;
    encoder
        .set_frame_delay(1, settings.frames_per_second)
        .map_err(encode_error)?;
    let mut writer = encoder.write_header().map_err(encode_error)?;
    for img in &images {
        let mut canvas = GrayImage::from_pixel(side, side, image::Luma([255]));
        let offset = i64::from((side - img.width()) / 2);
        image::imageops::replace(&mut canvas, img, offset, offset);
        writer.write_image_data(canvas.as_raw()).map_err(encode_error)?;
    }
    writer.finish().map_err(encode_error)?;
    Ok(out)
}

/// [`animation_texts`] of `psbt` as an APNG.
pub fn psbt_apng(psbt: &[u8], settings: &AnimationSettings) -> Result<Vec<u8>, AnimationError> {
    settings.check()?;
    encode_apng(&animation_texts(psbt, settings.max_fragment_len), settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_pass_shows_every_frame_once_the_first_in_order_the_others_reshuffled() {
        for len in [0usize, 1, 2, 23, 229] {
            assert_eq!(pass_order(len, 0), (0..len).collect::<Vec<_>>());
            let passes: Vec<Vec<usize>> = (1..=6).map(|pass| pass_order(len, pass)).collect();
            for order in &passes {
                let mut sorted = order.clone();
                sorted.sort_unstable();
                assert_eq!(sorted, (0..len).collect::<Vec<_>>(), "a permutation of {len}");
            }
            if len >= 23 {
                for (a, b) in passes.iter().zip(&passes[1..]) {
                    assert_ne!(a, b, "consecutive passes differ");
                }
                assert_ne!(passes[0], pass_order(len, 0));
            }
        }
    }

    #[test]
    fn prime_at_or_above_is_the_least_prime_not_below() {
        for (n, prime) in [
            (0, 2),
            (1, 2),
            (2, 2),
            (3, 3),
            (4, 5),
            (22, 23),
            (24, 29),
            (90, 97),
            (97, 97),
        ] {
            assert_eq!(prime_at_or_above(n), prime, "{n}");
        }
    }
}

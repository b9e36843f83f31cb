//! Animated QR out and video in: a PSBT written as an APNG reads back frame by frame;
//! a camera's video of the animation (scaled, turned, blurred, noisy, a third of the
//! frames dropped) still completes the fountain decoder.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

mod common;

use bitcoin::absolute::LockTime;
use bitcoin::Amount;
use image::GrayImage;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sluice_shared::descriptor::Branch;
use sluice_shared::psbt_builder::{build_psbt, fake_coins};
use sluice_shared::qr::decode_image;
use sluice_shared::qr_animation::{
    animation_texts, prime_at_or_above, psbt_apng, AnimationError, AnimationSettings,
};
use sluice_shared::qr_scan::scan;
use sluice_shared::ur_psbt::{PsbtPartDecoder, PsbtUrEncoder};
use sluice_shared::video_frames::frames;

fn psbt(inputs: u32) -> Vec<u8> {
    let fx = common::fixtures();
    let wallet = common::wallet(&fx, "wsh_2of3");
    let coins = fake_coins(&wallet, inputs, Amount::from_sat(100_000), 0).unwrap();
    let payee = wallet.script_pubkey(Branch::Receive, 9999).unwrap();
    build_psbt(
        &wallet,
        &coins,
        &[(payee, Amount::from_sat(50_000 * u64::from(inputs)))],
        Some((0, Amount::from_sat(40_000 * u64::from(inputs)))),
        LockTime::ZERO,
    )
    .unwrap()
    .serialize()
}

#[test]
fn the_apng_holds_pure_then_mixed_frames_at_the_set_pace() {
    let bytes = psbt(6);
    let settings = AnimationSettings::default();
    assert_eq!(settings.frames_per_second, 5);
    assert!(settings.max_fragment_len <= 400);
    let apng = psbt_apng(&bytes, &settings).unwrap();

    let decoder = png::Decoder::new(std::io::Cursor::new(&apng));
    let reader = decoder.read_info().unwrap();
    let control = reader.info().frame_control.unwrap();
    assert_eq!(
        (control.delay_num, control.delay_den),
        (1, 5),
        "5 frames a second"
    );
    assert_eq!(
        reader.info().animation_control.unwrap().num_plays,
        0,
        "loops forever"
    );

    let texts = animation_texts(&bytes, settings.max_fragment_len);
    let seq_len = PsbtUrEncoder::new(&bytes, settings.max_fragment_len).seq_len();
    assert_eq!(
        texts.len(),
        prime_at_or_above(2 * seq_len),
        "each fragment once, then as many mixed parts or a few more, to a prime length"
    );
    let images = frames(&apng).unwrap();
    assert_eq!(images.len(), texts.len());
    for (image, text) in images.iter().zip(&texts) {
        assert_eq!(&decode_image(image).unwrap(), std::slice::from_ref(text));
    }
    // The mixed half alone is enough here, as it would be after a missed first pass.
    let mut decoder = PsbtPartDecoder::new();
    for text in &texts[seq_len..] {
        decoder.receive(text).unwrap();
    }
    assert_eq!(decoder.psbt_bytes().unwrap(), bytes);

    let fast = AnimationSettings {
        frames_per_second: 30,
        ..settings
    };
    assert_eq!(psbt_apng(&bytes, &fast), Err(AnimationError::FrameRate(30)));
    let big = AnimationSettings {
        max_fragment_len: 900,
        ..settings
    };
    assert_eq!(psbt_apng(&bytes, &big), Err(AnimationError::FragmentLen(900)));
}

/// Scans a video's frames in order until the PSBT is complete; the frames used.
pub fn scan_video(video: &[u8]) -> (Option<Vec<u8>>, usize) {
    let mut decoder = PsbtPartDecoder::new();
    for (n, frame) in frames(video).unwrap().iter().enumerate() {
        for text in scan(frame).unwrap_or_default() {
            decoder.receive(&text).unwrap();
        }
        if decoder.is_complete() {
            return (decoder.psbt_bytes().ok(), n + 1);
        }
    }
    (None, usize::MAX)
}

/// Two loops of the animation through a camera, each frame dropped with probability 1/3.
fn camera_video(loop_frames: &[GrayImage], rng: &mut StdRng) -> (Vec<u8>, usize) {
    let mut seen = Vec::new();
    let mut dropped = 0;
    for frame in loop_frames.iter().chain(loop_frames) {
        if rng.gen_ratio(1, 3) {
            dropped += 1;
        } else {
            seen.push(common::camera::degrade(frame, rng));
        }
    }
    (common::camera::y4m(&seen), dropped)
}

#[test]
fn a_camera_video_of_sluice_frames_completes_despite_dropped_frames() {
    let bytes = psbt(6);
    let apng = psbt_apng(&bytes, &AnimationSettings::default()).unwrap();
    let loop_frames = frames(&apng).unwrap();
    let mut rng = StdRng::seed_from_u64(0);
    let (video, dropped) = camera_video(&loop_frames, &mut rng);
    assert!(dropped > loop_frames.len() / 2, "{dropped} frames dropped");
    let (psbt, used) = scan_video(&video);
    assert_eq!(
        psbt,
        Some(bytes),
        "incomplete with {dropped} of {} frames dropped",
        2 * loop_frames.len()
    );
    eprintln!(
        "{used} camera frames read to complete; {dropped} of {} dropped",
        2 * loop_frames.len()
    );
}

/// A camera that decodes one frame in every `stride` of the loop (it reads at a fraction
/// of the animation's pace, or is busy decoding while the frames between go by) sees the
/// same frames on every pass. With a loop of 2 × seq_len frames, a camera at half the pace
/// saw only the even (or odd) frames forever, and those did not hold the whole PSBT; a
/// loop of a prime number of frames brings every frame round to it.
#[test]
fn a_camera_reading_every_nth_frame_completes_for_every_n_short_of_the_loop() {
    for (inputs, fragment_len) in [(1, 60), (1, 100), (2, 40), (3, 200), (6, 200), (6, 80)] {
        let bytes = psbt(inputs);
        let texts = animation_texts(&bytes, fragment_len);
        let frames = texts.len();
        assert!(frames > 1, "{inputs} inputs at {fragment_len} bytes is one code");
        for stride in 1..frames {
            for first in 0..frames {
                let mut decoder = PsbtPartDecoder::new();
                let mut read = 0;
                while !decoder.is_complete() && read < frames {
                    decoder.receive(&texts[(first + stride * read) % frames]).unwrap();
                    read += 1;
                }
                assert!(
                    decoder.is_complete(),
                    "{inputs} inputs, {fragment_len}-byte fragments: a loop of {frames} \
                     frames read every {stride} frames from frame {first} never completes"
                );
            }
        }
    }
}

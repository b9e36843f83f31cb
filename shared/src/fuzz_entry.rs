//! What the fuzz targets in `fuzz/` run, kept here so a normal test replays the seed
//! corpus on stable Rust in CI (`shared/tests/fuzz_seeds.rs`). Each function takes
//! arbitrary bytes, runs one decoder of outside input and asserts what must hold whatever
//! the input; a panic is a finding.

use std::sync::OnceLock;

use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::{Keypair, Secp256k1, SecretKey};
use bitcoin::{Amount, Network};

use crate::descriptor::WalletDescriptor;
use crate::identity::SignerId;
use crate::inspect::{inspect_psbt, ChangeIndexBound, InspectionPolicy};
use crate::limit_command::{decode_text, text_from_bytes, verify, OfficerSet, SignedLimitCommand};
use crate::ur_psbt::PsbtPartDecoder;

mod sd_card;
mod signer_api;
mod staff_api;

pub use self::sd_card::sd_card_psbt;
pub use self::signer_api::{fuzz_identity, signer_reply, signer_request, SIGNER_REQUEST_PATH};
pub use self::staff_api::staff_api_body;

/// The signer the limit-command target verifies for; the seeds target it, so mutations
/// reach the signature checks instead of stopping at "wrong signer".
pub const FUZZ_SIGNER: SignerId = SignerId([7; 8]);
/// The time the limit-command target verifies at (2027-01-15); the seeds are valid then.
pub const FUZZ_NOW: i64 = 1_800_000_000;

/// Officer `n` (1, 2 or 3) of the fuzzing officer set: secret key `[n; 32]`.
pub fn fuzz_officer(n: u8) -> Keypair {
    let secret = SecretKey::from_slice(&[n.clamp(1, 3); 32]).expect("1..=3 repeated is a valid key");
    Keypair::from_secret_key(&Secp256k1::signing_only(), &secret)
}

/// Officers 1–3, threshold 2.
pub fn fuzz_officers() -> &'static OfficerSet {
    static OFFICERS: OnceLock<OfficerSet> = OnceLock::new();
    OFFICERS.get_or_init(|| {
        let keys = (1..=3).map(|n| fuzz_officer(n).x_only_public_key().0).collect();
        OfficerSet::new(keys, 2).expect("three distinct keys, threshold 2")
    })
}

/// Limit commands, from the bytes as a binary command, as command text, and wrapped in
/// the text form: whatever decodes re-encodes to exactly what was read (one encoding per
/// command), and whatever `verify` accepts meets the threshold for the right signer.
pub fn limit_command(data: &[u8]) {
    if let Ok(signed) = SignedLimitCommand::from_bytes(data) {
        assert_eq!(
            signed.to_bytes().ok().as_deref(),
            Some(data),
            "two encodings of one command"
        );
    }
    let check = |text: &str| {
        if let Ok(verified) = verify(text, fuzz_officers(), FUZZ_SIGNER, FUZZ_NOW) {
            assert!(verified.signed_by().len() >= fuzz_officers().threshold);
            assert_eq!(verified.command().signer, FUZZ_SIGNER);
            let c = verified.command();
            assert!(c.not_before <= FUZZ_NOW && FUZZ_NOW <= c.not_after);
        }
    };
    check(&text_from_bytes(data));
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(signed) = decode_text(text) {
            let canonical = signed.encode_text().expect("a decoded command re-encodes");
            assert_eq!(decode_text(&canonical).as_ref(), Ok(&signed));
        }
        check(text);
    }
}

/// Feeds each line as a scanned QR text; a complete PSBT must come out whole.
pub fn ur_psbt(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut decoder = PsbtPartDecoder::new();
    for line in text.lines().take(64) {
        let _ = decoder.receive(line);
    }
    if decoder.is_complete() {
        let _ = decoder.psbt_bytes();
    }
    let _ = decoder.psbt_bytes();
}

/// Reads a video's frames (APNG or YUV4MPEG2); whatever the bytes, the frames stay
/// within the bounds.
pub fn video_frames(data: &[u8]) {
    use crate::video_frames::{frames, MAX_FRAMES, MAX_FRAME_PIXELS, MAX_TOTAL_PIXELS};
    if let Ok(frames) = frames(data) {
        assert!(frames.len() <= MAX_FRAMES + 1);
        let mut total = 0u64;
        for frame in &frames {
            let pixels = u64::from(frame.width()) * u64::from(frame.height());
            assert!(pixels <= MAX_FRAME_PIXELS);
            total += pixels;
        }
        assert!(total <= MAX_TOTAL_PIXELS);
    }
}

/// A camera's raw frame in a layout the driver claims: the first byte picks the format (even:
/// YUYV, odd: GREY), then width and height (u16 little-endian each, kept small so a run
/// stays quick) and the line length (u16); the rest is the frame. Whatever the driver
/// claims and delivers, reading gives a grey image of exactly the claimed size, or an error.
pub fn camera_frame(data: &[u8]) {
    use crate::camera_frames::{CameraPixelFormat, FrameLayout};
    let Some((head, frame)) = data.split_first_chunk::<7>() else {
        return;
    };
    let number = |at: usize| u32::from(u16::from_le_bytes([head[at], head[at + 1]]));
    let layout = FrameLayout {
        format: if head[0] % 2 == 0 {
            CameraPixelFormat::Yuyv
        } else {
            CameraPixelFormat::Grey
        },
        width: number(1) % 512,
        height: number(3) % 512,
        bytes_per_line: number(5),
    };
    if let Ok(image) = layout.to_luma(frame) {
        assert_eq!((image.width(), image.height()), (layout.width, layout.height));
        let back = layout
            .from_luma(&image)
            .expect("a readable layout can be written");
        assert_eq!(layout.to_luma(&back).expect("written frames read back"), image);
    }
}

/// The Bitcoin Core fixtures' 2-of-3 `wsh(sortedmulti)` wallet.
pub fn fuzz_wallet() -> &'static WalletDescriptor {
    static WALLET: OnceLock<Option<WalletDescriptor>> = OnceLock::new();
    WALLET
        .get_or_init(|| {
            WalletDescriptor::parse(
                "wsh(sortedmulti(2,[1bbaa5fe/84h/1h/0h]tpubDDHx3CNs1F7LipoKW8ccMFNJsXJ6WYLFubNaCYLZtBX6G2GsQ7EJgbuecqwXfQtLKzxt2Kn8vJkxEWeQNto3deB7JCHdKHuRJMcYMDFABwi/<0;1>/*,[72408740/84h/1h/0h]tpubDDK8J3o2xAQqa14ubD5UW9ztUMRnpPKYNnCE6T8UChumFXApW4fX4ziePYbgH8kT63xpRviLH7ZNVzaZzAZ8nhwjzFVdT9mWdqZajmTCfv2/<0;1>/*,[3429876a/84h/1h/0h]tpubDCRy5oJLbB3etWH8sirNRUhtdp5GqhNPChRnpe8GMuze9NbgQeagn6icEf1moF2xpxiE2b5V5w2PQyBiifkjLQmfGfqbgSAXDbpegWj9V3s/<0;1>/*))",
                None,
            )
            .ok()
        })
        .as_ref()
        .expect("the fuzz wallet descriptor is valid")
}

/// The policy the PSBT target inspects under.
pub fn fuzz_policy() -> InspectionPolicy {
    InspectionPolicy {
        network: Network::Regtest,
        max_fee: Amount::from_sat(10_000_000),
        change_bound: ChangeIndexBound::with_default_gap(None),
    }
}

/// Parses and inspects: see [`check_inspection`].
pub fn psbt_inspect(data: &[u8]) {
    let Ok(psbt) = Psbt::deserialize(data) else { return };
    check_inspection(&psbt);
}

/// Inspects `psbt` for the fuzz wallet: an accepted PSBT's numbers add up (inputs =
/// change + external + fee, outflow = external + fee, fee within the cap, every input
/// owned). Every target that reaches a PSBT ends here.
pub fn check_inspection(psbt: &Psbt) {
    let policy = fuzz_policy();
    if let Ok(inspected) = inspect_psbt(psbt, fuzz_wallet(), &policy) {
        let review = inspected.review();
        assert_eq!(
            review.total_in(),
            review.total_change() + review.total_external() + review.fee()
        );
        assert_eq!(review.outflow(), review.total_external() + review.fee());
        assert!(review.outflow() <= review.total_in());
        assert!(review.fee() <= policy.max_fee);
        assert_eq!(review.inputs().len(), psbt.inputs.len());
        assert_eq!(inspected.psbt(), psbt);
    }
}

/// A PSBT that parsed re-serializes into bytes that parse to the same PSBT.
pub fn check_psbt_round_trip(psbt: &Psbt) {
    let again = Psbt::deserialize(&psbt.serialize()).expect("a parsed PSBT re-parses");
    assert_eq!(&again, psbt, "a PSBT changed in a serialize round trip");
}

//! PSBTs as QR codes, for a signer with no USB port: photos or screenshots of BC-UR
//! `ur:crypto-psbt` codes in (any order, one or several codes per image), or a video of an
//! animated code (APNG or YUV4MPEG2); PNG frames out (`frame-001.png`, ...): a single code
//! when the PSBT fits one comfortably, multipart UR frames when it does not (what Sparrow,
//! Keystone and SeedSigner speak), or one looping animated PNG. A V4L2 camera is read
//! frame by frame the way a video is ([`read_psbt_camera`], frames from [`crate::camera`]).

use std::io;
use std::path::{Path, PathBuf};

use bitcoin::psbt::Psbt;
use sluice_fsutil::{write_file, Access, Existing, WriteError};
use sluice_shared::qr::{self, QrError};
use sluice_shared::qr_animation::{animation_texts, encode_apng, AnimationError, AnimationSettings};
use sluice_shared::ur_psbt::{PsbtPartDecoder, UrError};
use sluice_shared::video_frames::{self, VideoError};

use sluice_shared::psbt_v2::PsbtVersion;

use crate::camera::{self, CameraError, ScanBounds, ScanStop};
use crate::sd::SdError;

pub use sluice_shared::ur_psbt::MAX_SINGLE_CODE_VERSION;

/// Pixels per QR module in written frames.
const MODULE_PX: u32 = 4;

/// Largest image file accepted.
const MAX_IMAGE_FILE: u64 = 64 * 1024 * 1024;

/// Largest video file accepted (a minute of 640×480 YUV4MPEG2 at 5 fps is 14 MB).
const MAX_VIDEO_FILE: u64 = 512 * 1024 * 1024;

/// Why QR images could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum QrIoError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path} is {size} bytes: too large for a QR image")]
    TooLarge { path: String, size: u64 },
    #[error("scanning {path}: {source}")]
    Scan {
        path: String,
        #[source]
        source: QrError,
    },
    #[error("the QR code in {path} is not part of a PSBT: {source}")]
    NotPsbt {
        path: String,
        #[source]
        source: UrError,
    },
    #[error("the scanned QR codes do not hold a whole PSBT yet: {0}; scan the missing frames too")]
    Incomplete(#[source] UrError),
    #[error("the scanned QR codes: {0}")]
    Psbt(#[from] SdError),
    #[error("{dir} already holds QR frames (frame-*.png): choose an empty directory, so frames of two PSBTs never mix")]
    FramesExist { dir: String },
    #[error("rendering a QR frame: {0}")]
    Render(#[source] QrError),
    #[error("reading the video {path}: {source}")]
    Video {
        path: String,
        #[source]
        source: VideoError,
    },
    #[error("frame {frame} of {path} holds a QR code that is not part of this PSBT: {source}")]
    VideoNotPsbt {
        path: String,
        frame: usize,
        #[source]
        source: UrError,
    },
    #[error(transparent)]
    Camera(#[from] CameraError),
    #[error("a QR code seen by the camera {device} is not part of a PSBT: {source}")]
    CameraNotPsbt {
        device: String,
        #[source]
        source: UrError,
    },
    #[error("no whole PSBT from the camera {device} after {frames} frames ({codes} QR codes read, {parts} different parts, {fragments_known} of {fragments} fragments known): hold the code steady in view, with more light or closer, or allow more time (--camera-seconds)")]
    CameraIncomplete {
        device: String,
        frames: u64,
        codes: u64,
        parts: usize,
        fragments_known: usize,
        fragments: usize,
    },
    #[error("making the animated QR code: {0}")]
    Animation(#[from] AnimationError),
    #[error(transparent)]
    Write(#[from] WriteError),
}

fn read_image(path: &Path) -> Result<Vec<u8>, QrIoError> {
    read_bounded(path, MAX_IMAGE_FILE)
}

fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, QrIoError> {
    let read_error = |source| QrIoError::Read {
        path: path.display().to_string(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_error)?.len();
    if size > max {
        return Err(QrIoError::TooLarge {
            path: path.display().to_string(),
            size,
        });
    }
    std::fs::read(path).map_err(read_error)
}

/// Reads a PSBT (version 0 or 2) from QR images (frames in any order; duplicates are
/// ignored), and the version it is in.
pub fn read_psbt_images(images: &[PathBuf]) -> Result<(Psbt, PsbtVersion), QrIoError> {
    let mut decoder = PsbtPartDecoder::new();
    for path in images {
        let bytes = read_image(path)?;
        let texts = qr::decode_image_bytes(&bytes).map_err(|source| QrIoError::Scan {
            path: path.display().to_string(),
            source,
        })?;
        for text in texts {
            decoder.receive(&text).map_err(|source| QrIoError::NotPsbt {
                path: path.display().to_string(),
                source,
            })?;
        }
    }
    let bytes = decoder.psbt_bytes().map_err(QrIoError::Incomplete)?;
    let parsed = sluice_shared::sd_card::parse_psbt_versioned(&bytes, "the scanned QR codes")
        .map_err(SdError::from)?;
    Ok(parsed)
}

/// Reads a PSBT from a video of an animated QR code (APNG or YUV4MPEG2), frame by frame
/// until the PSBT is complete. Frames where no code reads are skipped, as a camera's
/// blurred frames are; a code that is not part of the PSBT is refused.
pub fn read_psbt_video(path: &Path) -> Result<(Psbt, PsbtVersion), QrIoError> {
    let bytes = read_bounded(path, MAX_VIDEO_FILE)?;
    let frames = video_frames::frames(&bytes).map_err(|source| QrIoError::Video {
        path: path.display().to_string(),
        source,
    })?;
    let mut decoder = PsbtPartDecoder::new();
    for (n, frame) in frames.iter().enumerate() {
        for text in sluice_shared::qr_scan::scan(frame).unwrap_or_default() {
            decoder.receive(&text).map_err(|source| QrIoError::VideoNotPsbt {
                path: path.display().to_string(),
                frame: n + 1,
                source,
            })?;
        }
        if decoder.is_complete() {
            break;
        }
    }
    let bytes = decoder.psbt_bytes().map_err(QrIoError::Incomplete)?;
    let parsed = sluice_shared::sd_card::parse_psbt_versioned(&bytes, &path.display().to_string())
        .map_err(SdError::from)?;
    Ok(parsed)
}

/// What the operator holding an animated code to the camera is told as it reads: a line
/// each time another tenth of the fragments is known (at most eleven lines, whatever the
/// PSBT's size), so a scan that stalls is seen to stall.
#[derive(Debug, Default)]
struct ScanProgress {
    /// Tenths of the fragments known at the last line, once a line was printed.
    tenths: Option<usize>,
}

impl ScanProgress {
    fn update(&mut self, (known, needed): (usize, usize)) -> Option<String> {
        if needed < 2 {
            return None;
        }
        let tenths = known * 10 / needed;
        if known == 0 || self.tenths.is_some_and(|last| tenths <= last) {
            return None;
        }
        self.tenths = Some(tenths);
        Some(format!("  {known} of {needed} fragments"))
    }
}

/// Reads a PSBT from a V4L2 camera showing an animated (or single) QR code, frame by frame
/// until the PSBT is complete or `bounds` pass. Frames where no code reads are skipped; a
/// code that is not part of the PSBT is refused.
pub fn read_psbt_camera(device: &Path, bounds: ScanBounds) -> Result<(Psbt, PsbtVersion), QrIoError> {
    let name = device.display().to_string();
    let mut decoder = PsbtPartDecoder::new();
    let mut progress = ScanProgress::default();
    let scanned = camera::scan_codes(device, bounds, |texts| {
        for text in texts {
            decoder
                .receive(&text)
                .map_err(|source| QrIoError::CameraNotPsbt {
                    device: name.clone(),
                    source,
                })?;
        }
        if let Some(line) = progress.update(decoder.fragments_known()) {
            eprintln!("{line}");
        }
        Ok(decoder.is_complete())
    });
    match scanned {
        Ok(tally) => eprintln!(
            "Read the PSBT from {} frames ({} QR codes, {} different parts).",
            tally.frames,
            tally.codes,
            decoder.distinct_parts()
        ),
        Err(ScanStop::Camera(e)) => return Err(e.into()),
        Err(ScanStop::Refused(e)) => return Err(e),
        Err(ScanStop::OutOfBounds(tally)) => {
            let (fragments_known, fragments) = decoder.fragments_known();
            return Err(QrIoError::CameraIncomplete {
                device: name,
                frames: tally.frames,
                codes: tally.codes,
                parts: decoder.distinct_parts(),
                fragments_known,
                fragments,
            });
        }
    }
    let bytes = decoder.psbt_bytes().map_err(QrIoError::Incomplete)?;
    let parsed = sluice_shared::sd_card::parse_psbt_versioned(&bytes, &name).map_err(SdError::from)?;
    Ok(parsed)
}

/// Writes `psbt` in PSBT `version` as one looping animated PNG at `path` (refused if the
/// file exists).
pub fn write_psbt_animation(
    path: &Path,
    psbt: &Psbt,
    version: &PsbtVersion,
    settings: &AnimationSettings,
) -> Result<usize, QrIoError> {
    settings.check()?;
    let bytes = sluice_shared::psbt_v2::encode(psbt, version).map_err(SdError::from)?;
    let texts = animation_texts(&bytes, settings.max_fragment_len);
    let apng = encode_apng(&texts, settings)?;
    write_file(path, &apng, Access::OwnerOnly, Existing::Refuse)?;
    Ok(texts.len())
}

/// The UR texts to show for `psbt` in PSBT `version`: one code when it fits, else
/// multipart fragments.
pub fn frames_for(psbt: &Psbt, version: &PsbtVersion) -> Result<Vec<String>, QrIoError> {
    let bytes = sluice_shared::psbt_v2::encode(psbt, version).map_err(SdError::from)?;
    Ok(sluice_shared::ur_psbt::frames_for(&bytes))
}

fn holds_frames(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("frame-") && name.ends_with(".png")
        })
    })
}

/// Writes `psbt` as QR PNG frames `frame-001.png`, ... into `dir` (created if needed,
/// refused if it already holds frames).
pub fn write_psbt_frames(dir: &Path, psbt: &Psbt, version: &PsbtVersion) -> Result<Vec<PathBuf>, QrIoError> {
    if holds_frames(dir) {
        return Err(QrIoError::FramesExist {
            dir: dir.display().to_string(),
        });
    }
    std::fs::create_dir_all(dir).map_err(|source| QrIoError::Read {
        path: dir.display().to_string(),
        source,
    })?;
    let frames = frames_for(psbt, version)?;
    let mut written = Vec::with_capacity(frames.len());
    for (i, text) in frames.iter().enumerate() {
        let png = qr::render_png(text, MODULE_PX).map_err(QrIoError::Render)?;
        let path = dir.join(format!("frame-{:03}.png", i + 1));
        write_file(&path, &png, Access::OwnerOnly, Existing::Replace)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::absolute::LockTime;
    use bitcoin::transaction::Version;
    use bitcoin::{Amount, ScriptBuf, Transaction, TxIn, TxOut};

    fn psbt_with_outputs(n: usize) -> Psbt {
        let tx = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn::default()],
            output: (0..n)
                .map(|i| TxOut {
                    value: Amount::from_sat(1000 + i as u64),
                    script_pubkey: ScriptBuf::from_bytes(
                        vec![0x00, 0x14].into_iter().chain([i as u8; 20]).collect(),
                    ),
                })
                .collect(),
        };
        Psbt::from_unsigned_tx(tx).unwrap()
    }

    #[test]
    fn scan_progress_says_each_further_tenth_once_and_nothing_for_one_code() {
        let mut progress = ScanProgress::default();
        let lines: Vec<String> = (0..=241)
            .chain([241, 241])
            .filter_map(|known| progress.update((known, 241)))
            .collect();
        assert_eq!(lines.len(), 11, "{lines:?}");
        assert_eq!(lines[0], "  1 of 241 fragments");
        assert_eq!(lines[10], "  241 of 241 fragments");
        let mut single = ScanProgress::default();
        assert_eq!(single.update((1, 1)), None);
        assert_eq!(single.update((0, 0)), None);
    }

    #[test]
    fn small_psbts_are_one_code_large_ones_animated_and_both_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let small = psbt_with_outputs(3);
        let frames = write_psbt_frames(&dir.path().join("small"), &small, &PsbtVersion::V0).unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(
            read_psbt_images(&frames).unwrap(),
            (small.clone(), PsbtVersion::V0)
        );

        let large = psbt_with_outputs(80);
        let mut frames = write_psbt_frames(&dir.path().join("large"), &large, &PsbtVersion::V0).unwrap();
        assert!(frames.len() > 1, "{} frames", frames.len());
        frames.reverse();
        assert_eq!(
            read_psbt_images(&frames).unwrap(),
            (large.clone(), PsbtVersion::V0)
        );

        let err = read_psbt_images(&frames[1..]).unwrap_err();
        assert!(matches!(err, QrIoError::Incomplete(_)), "{err}");
        let err = write_psbt_frames(&dir.path().join("large"), &large, &PsbtVersion::V0).unwrap_err();
        assert!(matches!(err, QrIoError::FramesExist { .. }), "{err}");
    }

    #[test]
    fn an_animation_reads_back_as_a_video() {
        let dir = tempfile::tempdir().unwrap();
        let large = psbt_with_outputs(80);
        let path = dir.path().join("signed.png");
        let settings = AnimationSettings::default();
        let frames = write_psbt_animation(&path, &large, &PsbtVersion::V0, &settings).unwrap();
        assert!(frames > 2, "{frames} frames");
        assert_eq!(read_psbt_video(&path).unwrap().0, large);
        let err = write_psbt_animation(&path, &large, &PsbtVersion::V0, &settings).unwrap_err();
        assert!(
            matches!(err, QrIoError::Write(_)),
            "an existing file is kept: {err}"
        );
        std::fs::write(dir.path().join("x.gif"), b"GIF89a").unwrap();
        let err = read_psbt_video(&dir.path().join("x.gif")).unwrap_err();
        assert!(err.to_string().contains("yuv4mpegpipe"), "{err}");
    }

    #[test]
    fn a_code_that_is_not_a_psbt_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.png");
        std::fs::write(&path, qr::render_png("HELLO WORLD", 4).unwrap()).unwrap();
        let err = read_psbt_images(&[path]).unwrap_err();
        assert!(matches!(err, QrIoError::NotPsbt { .. }), "{err}");
        assert!(err.to_string().contains("other.png"), "{err}");
    }
}

//! PSBTs as BC-UR `ur:crypto-psbt` text (also read: `ur:psbt`, the newer registry name),
//! single or animated multipart (fountain-coded, [`crate::fountain`]), what Sparrow,
//! Keystone and SeedSigner speak; plain base64 PSBT text is read too.
//!
//! The UR payload of a PSBT is a CBOR byte string (major type 2) holding the BIP174
//! bytes. Bytewords (the UR text alphabet with its CRC32) come from the `ur` crate; the
//! fountain code is ours.

use std::collections::BTreeSet;

use bitcoin::base64::engine::general_purpose::STANDARD as BASE64;
use bitcoin::base64::Engine;
use ur::bytewords::{self, Style};

use crate::fountain::{FountainDecoder, FountainEncoder, FountainError, Part};

/// The UR type Sluice writes for a PSBT.
pub const UR_TYPE: &str = "crypto-psbt";

/// The UR types read as a PSBT: the one wallets use today and the newer registry name.
pub const ACCEPTED_UR_TYPES: [&str; 2] = ["crypto-psbt", "psbt"];

/// Fragment length for animated QR frames: 200 bytes of fountain fragment make a frame
/// of about 450 alphanumeric characters, a version 13–14 code at level M, which a webcam
/// reads at arm's length (Sparrow shows up to about 400 bytes a frame).
pub const DEFAULT_MAX_FRAGMENT_LEN: usize = 200;

/// Why UR text could not be made into a PSBT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrError {
    #[error("not a ur:crypto-psbt or ur:psbt part, nor a base64 PSBT: {0}")]
    NotPsbt(String),
    #[error("invalid UR part: {0}")]
    Invalid(String),
    #[error("this part belongs to a different PSBT than the parts read before")]
    MixedMessages,
    #[error(transparent)]
    Fountain(#[from] FountainError),
    #[error("incomplete: {received} of {needed} parts read; scan the remaining frames")]
    Incomplete { received: usize, needed: usize },
}

/// The CBOR byte string holding `data`.
fn cbor_bytes(data: &[u8]) -> Vec<u8> {
    let len = data.len() as u64;
    let mut out = Vec::with_capacity(data.len() + 9);
    match len {
        0..=23 => out.push(0x40 | len as u8),
        24..=0xff => out.extend_from_slice(&[0x58, len as u8]),
        0x100..=0xffff => {
            out.push(0x59);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0x5a);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
        _ => {
            out.push(0x5b);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    out.extend_from_slice(data);
    out
}

/// The contents of a CBOR byte string, refusing anything else or trailing bytes.
fn from_cbor_bytes(cbor: &[u8]) -> Result<Vec<u8>, UrError> {
    let (&head, rest) = cbor
        .split_first()
        .ok_or_else(|| UrError::Invalid("empty payload".to_owned()))?;
    if head >> 5 != 2 {
        return Err(UrError::Invalid(
            "the payload is not a CBOR byte string".to_owned(),
        ));
    }
    let info = head & 0x1f;
    let (len, body) = match info {
        0..=23 => (u64::from(info), rest),
        24..=27 => {
            let n = 1usize << (info - 24);
            if rest.len() < n {
                return Err(UrError::Invalid("truncated CBOR length".to_owned()));
            }
            let (len_bytes, body) = rest.split_at(n);
            (
                len_bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
                body,
            )
        }
        _ => return Err(UrError::Invalid("indefinite or reserved CBOR length".to_owned())),
    };
    if body.len() as u64 != len {
        return Err(UrError::Invalid(format!(
            "CBOR says {len} bytes, {} present",
            body.len()
        )));
    }
    Ok(body.to_vec())
}

/// Makes the UR text parts of a PSBT: one `UR:CRYPTO-PSBT/...` part when its CBOR fits in
/// `max_fragment_len` bytes, otherwise `UR:CRYPTO-PSBT/N-M/...` fountain parts without
/// end, the `M` pure fragments first. Upper-case, so QR uses alphanumeric mode.
#[derive(Debug, Clone)]
pub struct PsbtUrEncoder {
    single: Option<String>,
    fountain: Option<FountainEncoder>,
}

impl PsbtUrEncoder {
    /// `max_fragment_len` below 10 is taken as 10.
    pub fn new(psbt: &[u8], max_fragment_len: usize) -> Self {
        let cbor = cbor_bytes(psbt);
        let max = max_fragment_len.max(crate::fountain::MIN_FRAGMENT_LEN);
        if cbor.len() <= max {
            let text = format!("ur:{UR_TYPE}/{}", bytewords::encode(&cbor, Style::Minimal));
            return Self {
                single: Some(text.to_ascii_uppercase()),
                fountain: None,
            };
        }
        Self {
            single: None,
            // The CBOR is never empty (it holds at least its own header).
            fountain: FountainEncoder::new(&cbor, max).ok(),
        }
    }

    /// How many parts alone suffice: 1 for a single part, else the fragment count.
    pub fn seq_len(&self) -> usize {
        self.fountain.as_ref().map_or(1, FountainEncoder::seq_len)
    }

    pub fn is_single_part(&self) -> bool {
        self.single.is_some()
    }

    /// The next part to show; a single part repeats itself.
    pub fn next_part(&mut self) -> String {
        match (&self.single, &mut self.fountain) {
            (Some(text), _) => text.clone(),
            (None, Some(fountain)) => {
                let part = fountain.next_part();
                let text = format!(
                    "ur:{UR_TYPE}/{}-{}/{}",
                    part.seq_num,
                    part.seq_len,
                    bytewords::encode(&part.to_cbor(), Style::Minimal)
                );
                text.to_ascii_uppercase()
            }
            (None, None) => String::new(),
        }
    }

    /// The next `count` parts.
    pub fn parts(&mut self, count: usize) -> Vec<String> {
        (0..count).map(|_| self.next_part()).collect()
    }
}

/// Encodes a PSBT (BIP174 bytes) as the UR text parts that alone suffice: one part when
/// the CBOR fits in `max_fragment_len` bytes, otherwise the pure fragments.
pub fn encode_parts(psbt: &[u8], max_fragment_len: usize) -> Vec<String> {
    let mut encoder = PsbtUrEncoder::new(psbt, max_fragment_len);
    let count = encoder.seq_len();
    encoder.parts(count)
}

/// A multipart UR's text split into its sequence numbers and CBOR payload.
struct MultipartText {
    seq_num: u32,
    seq_len: usize,
    cbor: Vec<u8>,
}

fn decode_bytewords(text: &str) -> Result<Vec<u8>, UrError> {
    bytewords::decode(text, Style::Minimal)
        .map_err(|e| UrError::Invalid(format!("bad bytewords ({e}); rescan the frame")))
}

fn parse_sequence(indices: &str) -> Result<(u32, usize), UrError> {
    let bad = || UrError::Invalid(format!("bad sequence \"{}\", expected N-M", preview(indices)));
    let (n, m) = indices.split_once('-').ok_or_else(bad)?;
    Ok((n.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?))
}

/// Collects UR parts (in any order, duplicates ignored) until a PSBT is complete.
#[derive(Default)]
pub struct PsbtPartDecoder {
    fountain: FountainDecoder,
    multipart_started: bool,
    whole: Option<Vec<u8>>,
    parts_seen: usize,
    /// Sequence numbers of the fountain parts accepted (a whole PSBT counts as part 0).
    distinct: BTreeSet<u32>,
}

impl std::fmt::Debug for PsbtPartDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PsbtPartDecoder")
            .field("parts_seen", &self.parts_seen)
            .field("distinct_parts", &self.distinct.len())
            .field("complete", &self.is_complete())
            .finish()
    }
}

impl PsbtPartDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one scanned text: a UR part, or a whole base64 PSBT.
    pub fn receive(&mut self, text: &str) -> Result<(), UrError> {
        let text = text.trim();
        let lower = text.to_ascii_lowercase();
        let Some(rest) = lower.strip_prefix("ur:") else {
            let bytes = BASE64.decode(text).map_err(|_| UrError::NotPsbt(preview(text)))?;
            if !bytes.starts_with(b"psbt\xff") {
                return Err(UrError::NotPsbt(preview(text)));
            }
            return self.set_whole(bytes);
        };
        let (ur_type, body) = rest.split_once('/').unwrap_or((rest, ""));
        if !ACCEPTED_UR_TYPES.contains(&ur_type) {
            return Err(UrError::NotPsbt(format!(
                "a ur:{}, not ur:{UR_TYPE}",
                preview(ur_type)
            )));
        }
        match body.split_once('/') {
            None => {
                let psbt = from_cbor_bytes(&decode_bytewords(body)?)?;
                self.set_whole(psbt)
            }
            Some((indices, payload)) => {
                let (seq_num, seq_len) = parse_sequence(indices)?;
                self.receive_multipart(MultipartText {
                    seq_num,
                    seq_len,
                    cbor: decode_bytewords(payload)?,
                })
            }
        }
    }

    fn receive_multipart(&mut self, text: MultipartText) -> Result<(), UrError> {
        if self.whole.is_some() && !self.multipart_started {
            return Err(UrError::MixedMessages);
        }
        let part = Part::from_cbor(&text.cbor)?;
        if (part.seq_num, part.seq_len) != (text.seq_num, text.seq_len) {
            return Err(UrError::Invalid(format!(
                "the text says part {}-{} but its payload says {}-{}",
                text.seq_num, text.seq_len, part.seq_num, part.seq_len
            )));
        }
        let was_complete = self.fountain.is_complete();
        self.fountain.receive(&part)?;
        self.multipart_started = true;
        self.parts_seen += 1;
        self.distinct.insert(part.seq_num);
        if !was_complete {
            if let Some(cbor) = self.fountain.message() {
                match from_cbor_bytes(cbor) {
                    Ok(psbt) => self.whole = Some(psbt),
                    Err(e) => {
                        *self = Self::default();
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    }

    fn set_whole(&mut self, bytes: Vec<u8>) -> Result<(), UrError> {
        match &self.whole {
            Some(existing) if existing != &bytes => Err(UrError::MixedMessages),
            None if self.multipart_started => Err(UrError::MixedMessages),
            _ => {
                self.whole = Some(bytes);
                self.parts_seen += 1;
                self.distinct.insert(0);
                Ok(())
            }
        }
    }

    pub fn is_complete(&self) -> bool {
        self.whole.is_some()
    }

    /// Parts accepted so far, repeats included.
    pub fn parts_seen(&self) -> usize {
        self.parts_seen
    }

    /// Different parts accepted so far (each sequence number once).
    pub fn distinct_parts(&self) -> usize {
        self.distinct.len()
    }

    /// How many fragments the parts so far determine, and how many the PSBT has (1 and 1
    /// for a single-part PSBT once read; 0 and 0 before anything is read).
    pub fn fragments_known(&self) -> (usize, usize) {
        if self.whole.is_some() {
            let all = self.fountain.seq_len().unwrap_or(1);
            return (all, all);
        }
        (
            self.fountain.independent_parts(),
            self.fountain.seq_len().unwrap_or(0),
        )
    }

    /// The PSBT's BIP174 bytes, once complete.
    pub fn psbt_bytes(&self) -> Result<Vec<u8>, UrError> {
        if let Some(bytes) = &self.whole {
            return Ok(bytes.clone());
        }
        Err(UrError::Incomplete {
            received: self.fountain.independent_parts(),
            needed: self.fountain.seq_len().unwrap_or(1),
        })
    }
}

fn preview(text: &str) -> String {
    let short: String = text.chars().take(24).collect();
    if text.chars().count() > 24 {
        format!("{short}…")
    } else {
        short
    }
}

/// The largest QR version shown as one code. A version-20 code (97 × 97 modules) at level
/// M still reads reliably from a screen through a webcam; bigger PSBTs are split.
pub const MAX_SINGLE_CODE_VERSION: i16 = 20;

/// The UR texts to show for a PSBT's BIP174 bytes: one when it fits a code of at most
/// [`MAX_SINGLE_CODE_VERSION`], else multipart fragments.
pub fn frames_for(psbt: &[u8]) -> Vec<String> {
    let whole = encode_parts(psbt, usize::MAX);
    let fits = whole.len() == 1
        && crate::qr::version_for(&whole[0], crate::qr::EcLevel::M)
            .is_ok_and(|v| v <= MAX_SINGLE_CODE_VERSION);
    if fits {
        whole
    } else {
        encode_parts(psbt, DEFAULT_MAX_FRAGMENT_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cbor_byte_strings_round_trip_at_every_length_class() {
        for len in [0usize, 23, 24, 255, 256, 65_535, 65_536] {
            let data = vec![7u8; len];
            assert_eq!(from_cbor_bytes(&cbor_bytes(&data)).unwrap(), data);
        }
        assert!(from_cbor_bytes(&[0x60]).is_err(), "a text string is not bytes");
        assert!(from_cbor_bytes(&[0x43, 1, 2]).is_err(), "truncated");
        assert!(from_cbor_bytes(&[0x41, 1, 2]).is_err(), "trailing bytes");
    }

    #[test]
    fn the_decoder_tells_repeats_from_different_parts_and_counts_what_is_known() {
        let mut encoder = PsbtUrEncoder::new(&[7u8; 500], 100);
        let seq_len = encoder.seq_len();
        let parts = encoder.parts(seq_len);
        let mut decoder = PsbtPartDecoder::new();
        assert_eq!(decoder.fragments_known(), (0, 0));
        for _ in 0..3 {
            decoder.receive(&parts[0]).unwrap();
        }
        decoder.receive(&parts[1]).unwrap();
        assert_eq!((decoder.parts_seen(), decoder.distinct_parts()), (4, 2));
        assert_eq!(decoder.fragments_known(), (2, seq_len));
        for part in &parts[2..] {
            decoder.receive(part).unwrap();
        }
        assert!(decoder.is_complete());
        assert_eq!(decoder.fragments_known(), (seq_len, seq_len));
        assert_eq!(decoder.distinct_parts(), seq_len);
    }
}

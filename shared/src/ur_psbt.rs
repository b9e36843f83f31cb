//! PSBTs as BC-UR `ur:crypto-psbt` text, single or animated multipart (fountain-coded),
//! what Sparrow, Keystone and SeedSigner speak; plain base64 PSBT text is read too.
//!
//! The UR payload of `crypto-psbt` is a CBOR byte string (major type 2) holding the
//! BIP174 bytes.

use bitcoin::base64::engine::general_purpose::STANDARD as BASE64;
use bitcoin::base64::Engine;

/// The UR type of a PSBT.
pub const UR_TYPE: &str = "crypto-psbt";

/// Fragment length for animated QR frames: 200 bytes of fountain fragment make a frame
/// of about 450 alphanumeric characters, a version 13–14 code at level M, which a webcam
/// reads at arm's length.
pub const DEFAULT_MAX_FRAGMENT_LEN: usize = 200;

/// Why UR text could not be made into a PSBT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrError {
    #[error("not a ur:crypto-psbt part or base64 PSBT: {0}")]
    NotPsbt(String),
    #[error("invalid UR part: {0}")]
    Invalid(String),
    #[error("this part belongs to a different PSBT than the parts read before")]
    MixedMessages,
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

/// Encodes a PSBT (BIP174 bytes) as UR text parts: one `ur:crypto-psbt/...` part when the
/// CBOR fits in `max_fragment_len` bytes, otherwise the `seq_len` pure fragments
/// `ur:crypto-psbt/N-M/...` that alone suffice to decode. Parts are upper-case so QR can
/// use alphanumeric mode.
pub fn encode_parts(psbt: &[u8], max_fragment_len: usize) -> Vec<String> {
    let cbor = cbor_bytes(psbt);
    let max = max_fragment_len.max(10);
    if cbor.len() <= max {
        return vec![ur::encode(&cbor, &ur::Type::Custom(UR_TYPE)).to_ascii_uppercase()];
    }
    let Ok(mut encoder) = ur::Encoder::new(&cbor, max, UR_TYPE) else {
        // Only an empty message or a zero fragment length fail, both excluded above.
        return Vec::new();
    };
    (0..encoder.fragment_count())
        .filter_map(|_| encoder.next_part().ok())
        .map(|part| part.to_ascii_uppercase())
        .collect()
}

/// Collects UR parts (in any order, duplicates ignored) until a PSBT is complete.
#[derive(Default)]
pub struct PsbtPartDecoder {
    multipart: Option<ur::Decoder>,
    whole: Option<Vec<u8>>,
    parts_seen: usize,
}

impl std::fmt::Debug for PsbtPartDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PsbtPartDecoder")
            .field("parts_seen", &self.parts_seen)
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
        if !lower.starts_with("ur:") {
            let bytes = BASE64.decode(text).map_err(|_| UrError::NotPsbt(preview(text)))?;
            if !bytes.starts_with(b"psbt\xff") {
                return Err(UrError::NotPsbt(preview(text)));
            }
            return self.set_whole(bytes);
        }
        let ur_type = lower
            .trim_start_matches("ur:")
            .split('/')
            .next()
            .unwrap_or_default();
        if ur_type != UR_TYPE {
            return Err(UrError::NotPsbt(format!("a ur:{ur_type}, not ur:{UR_TYPE}")));
        }
        let (kind, payload) = ur::decode(&lower).map_err(|e| UrError::Invalid(e.to_string()))?;
        match kind {
            ur::ur::Kind::SinglePart => {
                let psbt = from_cbor_bytes(&payload)?;
                self.set_whole(psbt)
            }
            ur::ur::Kind::MultiPart => {
                if self.whole.is_some() && self.multipart.is_none() {
                    return Err(UrError::MixedMessages);
                }
                let decoder = self.multipart.get_or_insert_with(ur::Decoder::default);
                decoder.receive(&lower).map_err(|e| match e {
                    ur::ur::Error::Fountain(ur::fountain::Error::InconsistentPart) => UrError::MixedMessages,
                    other => UrError::Invalid(other.to_string()),
                })?;
                self.parts_seen += 1;
                if decoder.complete() {
                    let cbor = decoder
                        .message()
                        .map_err(|e| UrError::Invalid(e.to_string()))?
                        .ok_or_else(|| UrError::Invalid("complete but no message".to_owned()))?;
                    self.whole = Some(from_cbor_bytes(&cbor)?);
                }
                Ok(())
            }
        }
    }

    fn set_whole(&mut self, bytes: Vec<u8>) -> Result<(), UrError> {
        match &self.whole {
            Some(existing) if existing != &bytes => Err(UrError::MixedMessages),
            _ if self.multipart.is_some() && self.whole.is_none() => Err(UrError::MixedMessages),
            _ => {
                self.whole = Some(bytes);
                self.parts_seen += 1;
                Ok(())
            }
        }
    }

    pub fn is_complete(&self) -> bool {
        self.whole.is_some()
    }

    /// The PSBT's BIP174 bytes, once complete.
    pub fn psbt_bytes(&self) -> Result<Vec<u8>, UrError> {
        if let Some(bytes) = &self.whole {
            return Ok(bytes.clone());
        }
        let (received, needed) = match &self.multipart {
            Some(d) => (d.resolved_fragment_count().unwrap_or(0), d.fragment_count()),
            None => (0, 1),
        };
        Err(UrError::Incomplete { received, needed })
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
}

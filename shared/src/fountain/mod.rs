//! BC-UR fountain codes (BCR-2020-005, "Uniform Resources", the fountain codes section),
//! written here from the specification: a message is cut into `seq_len` equal fragments;
//! parts `1..=seq_len` carry one fragment each, and every later part carries the XOR of a
//! pseudo-randomly chosen set of fragments ([`rng`]), so a reader that misses frames of a
//! looping animation catches up from the next ones instead of waiting a whole loop.
//!
//! The [`FountainDecoder`] completes whenever the parts received determine the message
//! (see its documentation); it validates every part against the first one and refuses,
//! without merging, any part that disagrees. Pure: bytes in, bytes out.

mod decoder;
mod encoder;
mod part;
mod rng;

pub use decoder::FountainDecoder;
pub use encoder::FountainEncoder;
pub use part::Part;

/// The longest message accepted from outside (4 MiB): far beyond any PSBT moved by QR
/// (a 100-input PSBT is tens of kilobytes), small enough that a forged part cannot make
/// the decoder reserve much memory.
pub const MAX_MESSAGE_LEN: usize = 4 * 1024 * 1024;

/// The most fragments accepted from outside: 8192 frames is over half an hour of
/// animation at 5 frames a second, and bounds the decoder's work per part.
pub const MAX_SEQ_LEN: usize = 8192;

/// The shortest fragment the encoder makes (the reference encoder's minimum).
pub const MIN_FRAGMENT_LEN: usize = 10;

/// Why a fountain part was refused or a message could not be assembled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FountainError {
    #[error("malformed fountain part (CBOR): {0}")]
    Cbor(String),
    #[error("malformed fountain part: {0}")]
    Malformed(String),
    #[error(
        "this part belongs to another message ({found}) than the parts read before \
         ({expected}); finish scanning one animation before starting the next"
    )]
    OtherMessage { expected: String, found: String },
    #[error(
        "part {seq_num} contradicts the parts read before (same message, different data): \
         a frame was misread or forged; the part was not used"
    )]
    Contradiction { seq_num: u32 },
    #[error(
        "the reassembled message does not match its checksum: the parts were not all \
         made from one message; the scan was reset, scan the animation again"
    )]
    Checksum,
    #[error("the message is empty: nothing to encode")]
    EmptyMessage,
}

/// CRC32 as the specification uses it (the ISO-HDLC polynomial, as zlib and PNG).
pub fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// The fragment length the reference encoder picks for a message: the smallest number
/// of equal fragments whose length is at most `max_fragment_len`, but never shorter
/// than [`MIN_FRAGMENT_LEN`] unless the message itself is.
pub fn fragment_len(message_len: usize, max_fragment_len: usize) -> usize {
    let max_count = (message_len / MIN_FRAGMENT_LEN).max(1);
    let mut len = message_len;
    for count in 1..=max_count {
        len = message_len.div_ceil(count);
        if len <= max_fragment_len {
            break;
        }
    }
    len.max(1)
}

//! Making fountain parts of a message: the `seq_len` pure fragments first, then, for as
//! long as the caller asks, mixed parts chosen as the specification says.

use super::rng::choose_fragments;
use super::{crc32, fragment_len, FountainError, Part};

/// Emits the parts of one message, `seq_num` 1, 2, ... without end.
#[derive(Debug, Clone)]
pub struct FountainEncoder {
    fragments: Vec<Vec<u8>>,
    message_len: usize,
    checksum: u32,
    next_seq_num: u32,
}

impl FountainEncoder {
    /// Cuts `message` into fragments of at most `max_fragment_len` bytes (at least 10,
    /// unless the message is shorter), the last padded with zeros.
    pub fn new(message: &[u8], max_fragment_len: usize) -> Result<Self, FountainError> {
        if message.is_empty() {
            return Err(FountainError::EmptyMessage);
        }
        let len = fragment_len(message.len(), max_fragment_len);
        let fragments = message
            .chunks(len)
            .map(|chunk| {
                let mut fragment = chunk.to_vec();
                fragment.resize(len, 0);
                fragment
            })
            .collect();
        Ok(Self {
            fragments,
            message_len: message.len(),
            checksum: crc32(message),
            next_seq_num: 1,
        })
    }

    /// How many fragments the message has: the parts that alone suffice.
    pub fn seq_len(&self) -> usize {
        self.fragments.len()
    }

    /// The next part: pure fragments first, mixed parts after.
    pub fn next_part(&mut self) -> Part {
        let seq_num = self.next_seq_num;
        self.next_seq_num = self.next_seq_num.saturating_add(1);
        let chosen = choose_fragments(seq_num, self.fragments.len(), self.checksum);
        let mut data = vec![0u8; self.fragments.first().map_or(0, Vec::len)];
        for index in chosen {
            for (d, f) in data.iter_mut().zip(&self.fragments[index]) {
                *d ^= f;
            }
        }
        Part {
            seq_num,
            seq_len: self.fragments.len(),
            message_len: self.message_len,
            checksum: self.checksum,
            data,
        }
    }
}

//! One fountain part and its CBOR form, `[seqNum, seqLen, messageLen, checksum, data]`
//! (BCR-2020-005), parsed strictly: a definite array of five items, unsigned integers in
//! range, a definite byte string, nothing after.

use super::FountainError;

/// One part of a fountain-coded message, as carried in a multipart UR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// 1-based; parts `1..=seq_len` are the fragments themselves, later ones mix several.
    pub seq_num: u32,
    /// How many fragments the message is cut into.
    pub seq_len: usize,
    /// The message's length in bytes (the last fragment is padded with zeros).
    pub message_len: usize,
    /// CRC32 (ISO-HDLC, as zlib) of the whole message.
    pub checksum: u32,
    /// One fragment's length of data: a fragment, or the XOR of several.
    pub data: Vec<u8>,
}

fn push_head(out: &mut Vec<u8>, major: u8, value: u64) {
    let major = major << 5;
    match value {
        0..=23 => out.push(major | value as u8),
        24..=0xff => out.extend_from_slice(&[major | 24, value as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend_from_slice(&(value as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(major | 26);
            out.extend_from_slice(&(value as u32).to_be_bytes());
        }
        _ => {
            out.push(major | 27);
            out.extend_from_slice(&value.to_be_bytes());
        }
    }
}

/// Reads CBOR item heads from a byte slice, refusing what a part never holds.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn head(&mut self, what: &str) -> Result<(u8, u64), FountainError> {
        let bad = |why: &str| FountainError::Cbor(format!("{what}: {why}"));
        let (&first, rest) = self.bytes.split_first().ok_or_else(|| bad("missing"))?;
        let (major, info) = (first >> 5, first & 0x1f);
        let (value, rest) = match info {
            0..=23 => (u64::from(info), rest),
            24..=27 => {
                let n = 1usize << (info - 24);
                if rest.len() < n {
                    return Err(bad("truncated"));
                }
                let (value, rest) = rest.split_at(n);
                (value.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)), rest)
            }
            _ => return Err(bad("indefinite or reserved length")),
        };
        self.bytes = rest;
        Ok((major, value))
    }

    fn uint(&mut self, what: &str, max: u64) -> Result<u64, FountainError> {
        match self.head(what)? {
            (0, value) if value <= max => Ok(value),
            (0, value) => Err(FountainError::Cbor(format!("{what} {value} is out of range"))),
            _ => Err(FountainError::Cbor(format!("{what} is not an unsigned integer"))),
        }
    }
}

impl Part {
    /// The part's CBOR encoding.
    pub fn to_cbor(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 24);
        out.push(0x85);
        push_head(&mut out, 0, u64::from(self.seq_num));
        push_head(&mut out, 0, self.seq_len as u64);
        push_head(&mut out, 0, self.message_len as u64);
        push_head(&mut out, 0, u64::from(self.checksum));
        push_head(&mut out, 2, self.data.len() as u64);
        out.extend_from_slice(&self.data);
        out
    }

    /// Parses a part's CBOR. Only the shape is checked here; whether the numbers agree
    /// with each other and with earlier parts is the decoder's business.
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, FountainError> {
        let mut reader = Reader { bytes };
        if reader.head("the part")? != (4, 5) {
            return Err(FountainError::Cbor(
                "the part is not an array of five items".to_owned(),
            ));
        }
        let u32_max = u64::from(u32::MAX);
        let seq_num = reader.uint("seqNum", u32_max)? as u32;
        let seq_len = reader.uint("seqLen", u32_max)? as usize;
        let message_len = reader.uint("messageLen", u32_max)? as usize;
        let checksum = reader.uint("checksum", u32_max)? as u32;
        let (major, len) = reader.head("the fragment")?;
        if major != 2 {
            return Err(FountainError::Cbor(
                "the fragment is not a byte string".to_owned(),
            ));
        }
        if reader.bytes.len() as u64 != len {
            return Err(FountainError::Cbor(format!(
                "the fragment says {len} bytes but {} follow",
                reader.bytes.len()
            )));
        }
        Ok(Self {
            seq_num,
            seq_len,
            message_len,
            checksum,
            data: reader.bytes.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_round_trip_and_malformed_cbor_is_named() {
        let part = Part {
            seq_num: 70_000,
            seq_len: 300,
            message_len: 60_000,
            checksum: 0xdead_beef,
            data: vec![9; 200],
        };
        assert_eq!(Part::from_cbor(&part.to_cbor()).unwrap(), part);

        let cbor = part.to_cbor();
        let mut trailing = cbor.clone();
        trailing.push(0);
        assert!(Part::from_cbor(&trailing).is_err(), "trailing bytes");
        assert!(Part::from_cbor(&cbor[..cbor.len() - 1]).is_err(), "truncated");
        let mut four = cbor.clone();
        four[0] = 0x84;
        assert!(Part::from_cbor(&four).is_err(), "four items");
        assert!(Part::from_cbor(&[]).is_err());
        // seqNum as a negative integer.
        let err = Part::from_cbor(&[0x85, 0x20]).unwrap_err();
        assert!(err.to_string().contains("seqNum"), "{err}");
        // seqLen beyond u32.
        let err = Part::from_cbor(&[0x85, 0x01, 0x1b, 1, 0, 0, 0, 0, 0, 0, 0]).unwrap_err();
        assert!(err.to_string().contains("seqLen"), "{err}");
    }
}

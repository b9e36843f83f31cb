//! Reassembling a fountain-coded message from parts in any order, with any missing.
//!
//! Each part is one equation over GF(2): the XOR of the fragments in its set equals its
//! data. The decoder keeps the equations in reduced row-echelon form, one row per
//! "pivot" fragment (the row's lowest index), no pivot appearing in any other row. A new
//! part is first reduced by the rows whose pivots it contains; what is left either
//! vanishes (a repeat: ignored if its data vanished too, refused as a contradiction if
//! not) or brings a new pivot, which is then eliminated from every other row.
//!
//! This is the peeling the specification describes, carried to its end: a known fragment
//! (a row of one index) is peeled out of every stored mixed part, a mixed part that
//! reduces to one fragment becomes a known one and is peeled out in turn, and mixed parts
//! reduce each other whenever one's set lies inside another's. Row reduction does all of
//! that and more, so the message is complete exactly when the parts received determine
//! it: when `seq_len` independent parts have arrived.

use super::rng::choose_fragments;
use super::{crc32, FountainError, Part, MAX_MESSAGE_LEN, MAX_SEQ_LEN};

/// What every part of one message agrees on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shape {
    seq_len: usize,
    message_len: usize,
    checksum: u32,
    fragment_len: usize,
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bytes in {} fragments of {}, checksum {:08x}",
            self.message_len, self.seq_len, self.fragment_len, self.checksum
        )
    }
}

/// A set of fragment indexes, as bits.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FragmentSet(Vec<u64>);

impl FragmentSet {
    fn new(seq_len: usize, indexes: &[usize]) -> Self {
        let mut words = vec![0u64; seq_len.div_ceil(64)];
        for i in indexes {
            words[i / 64] |= 1 << (i % 64);
        }
        Self(words)
    }

    fn contains(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }

    fn lowest(&self) -> Option<usize> {
        self.0
            .iter()
            .enumerate()
            .find(|(_, w)| **w != 0)
            .map(|(n, w)| n * 64 + w.trailing_zeros() as usize)
    }

    fn xor(&mut self, other: &Self) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a ^= b;
        }
    }
}

/// One reduced equation: the XOR of the fragments in `fragments` is `data`.
#[derive(Debug, Clone)]
struct Row {
    fragments: FragmentSet,
    data: Vec<u8>,
}

impl Row {
    fn reduce_by(&mut self, other: &Row) {
        self.fragments.xor(&other.fragments);
        for (a, b) in self.data.iter_mut().zip(&other.data) {
            *a ^= b;
        }
    }
}

/// Collects the fountain parts of one message until it is determined.
#[derive(Debug, Default)]
pub struct FountainDecoder {
    shape: Option<Shape>,
    /// `rows[p]` is the row whose pivot is fragment `p`.
    rows: Vec<Option<Row>>,
    rank: usize,
    parts_received: usize,
    message: Option<Vec<u8>>,
}

/// Checks what a part says about its message, on its own.
fn shape_of(part: &Part) -> Result<Shape, FountainError> {
    let bad = |why: String| Err(FountainError::Malformed(why));
    if part.seq_num == 0 {
        return bad("seqNum is 0; parts are numbered from 1".to_owned());
    }
    if part.seq_len == 0 || part.seq_len > MAX_SEQ_LEN {
        return bad(format!("seqLen {} is not in 1..={MAX_SEQ_LEN}", part.seq_len));
    }
    if part.message_len == 0 || part.message_len > MAX_MESSAGE_LEN {
        return bad(format!(
            "messageLen {} is not in 1..={MAX_MESSAGE_LEN}",
            part.message_len
        ));
    }
    let fragment_len = part.data.len();
    if fragment_len == 0 || part.message_len.div_ceil(fragment_len) != part.seq_len {
        return bad(format!(
            "{} fragments of {fragment_len} bytes cannot hold a message of {} bytes exactly",
            part.seq_len, part.message_len
        ));
    }
    Ok(Shape {
        seq_len: part.seq_len,
        message_len: part.message_len,
        checksum: part.checksum,
        fragment_len,
    })
}

impl FountainDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one part. A repeat is accepted and changes nothing; a malformed part, a
    /// part of another message, or one that contradicts the parts before is refused and
    /// leaves the decoder as it was. Parts after completion are checked the same way.
    pub fn receive(&mut self, part: &Part) -> Result<(), FountainError> {
        let shape = shape_of(part)?;
        match self.shape {
            Some(expected) if expected != shape => {
                return Err(FountainError::OtherMessage {
                    expected: expected.to_string(),
                    found: shape.to_string(),
                })
            }
            Some(_) => {}
            None => {
                self.shape = Some(shape);
                self.rows = vec![None; shape.seq_len];
            }
        }
        let indexes = choose_fragments(part.seq_num, shape.seq_len, shape.checksum);
        let mut row = Row {
            fragments: FragmentSet::new(shape.seq_len, &indexes),
            data: part.data.clone(),
        };
        // Reduce by the existing rows. Each row's other indexes lie above its pivot and
        // are no pivot, so one ascending pass clears every pivot from the new row.
        for p in 0..shape.seq_len {
            if row.fragments.contains(p) {
                if let Some(existing) = &self.rows[p] {
                    row.reduce_by(existing);
                }
            }
        }
        let Some(pivot) = row.fragments.lowest() else {
            if row.data.iter().any(|b| *b != 0) {
                return Err(FountainError::Contradiction {
                    seq_num: part.seq_num,
                });
            }
            self.parts_received += 1;
            return Ok(());
        };
        for existing in self.rows.iter_mut().flatten() {
            if existing.fragments.contains(pivot) {
                existing.reduce_by(&row);
            }
        }
        self.rows[pivot] = Some(row);
        self.rank += 1;
        self.parts_received += 1;
        if self.rank == shape.seq_len {
            self.assemble(shape)?;
        }
        Ok(())
    }

    /// With `seq_len` independent rows the echelon form is the identity: row `i` is
    /// fragment `i`.
    fn assemble(&mut self, shape: Shape) -> Result<(), FountainError> {
        let mut message = Vec::with_capacity(shape.seq_len * shape.fragment_len);
        for row in self.rows.iter().flatten() {
            message.extend_from_slice(&row.data);
        }
        let padding_is_zero = message[shape.message_len..].iter().all(|b| *b == 0);
        message.truncate(shape.message_len);
        if !padding_is_zero || crc32(&message) != shape.checksum {
            *self = Self::default();
            return Err(FountainError::Checksum);
        }
        self.message = Some(message);
        Ok(())
    }

    pub fn is_complete(&self) -> bool {
        self.message.is_some()
    }

    /// The message, once complete.
    pub fn message(&self) -> Option<&[u8]> {
        self.message.as_deref()
    }

    /// Independent parts received so far (each adds one fragment's worth of knowledge).
    pub fn independent_parts(&self) -> usize {
        self.rank
    }

    /// Parts accepted so far, repeats included.
    pub fn parts_received(&self) -> usize {
        self.parts_received
    }

    /// The fragments the message has, once a part has been read.
    pub fn seq_len(&self) -> Option<usize> {
        self.shape.map(|s| s.seq_len)
    }
}

#[cfg(test)]
mod tests {
    use super::super::FountainEncoder;
    use super::*;

    fn message(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 3) as u8).collect()
    }

    #[test]
    fn pure_parts_in_any_order_complete() {
        let msg = message(1000);
        let mut encoder = FountainEncoder::new(&msg, 100).unwrap();
        let mut parts: Vec<Part> = (0..encoder.seq_len()).map(|_| encoder.next_part()).collect();
        parts.reverse();
        let mut decoder = FountainDecoder::new();
        for part in &parts {
            assert!(!decoder.is_complete());
            decoder.receive(part).unwrap();
        }
        assert_eq!(decoder.message(), Some(&msg[..]));
    }

    #[test]
    fn mixed_parts_alone_complete_the_message() {
        let msg = message(777);
        let mut encoder = FountainEncoder::new(&msg, 60).unwrap();
        let seq_len = encoder.seq_len();
        for _ in 0..seq_len {
            encoder.next_part();
        }
        let mut decoder = FountainDecoder::new();
        let mut used = 0;
        while !decoder.is_complete() {
            decoder.receive(&encoder.next_part()).unwrap();
            used += 1;
            assert!(used < 10 * seq_len, "no completion after {used} mixed parts");
        }
        assert_eq!(decoder.message(), Some(&msg[..]));
    }

    #[test]
    fn a_contradicting_part_is_refused_and_not_merged() {
        let msg = message(300);
        let mut encoder = FountainEncoder::new(&msg, 100).unwrap();
        let first = encoder.next_part();
        let mut decoder = FountainDecoder::new();
        decoder.receive(&first).unwrap();
        decoder.receive(&first).unwrap();
        let mut forged = first.clone();
        forged.data[0] ^= 1;
        assert_eq!(
            decoder.receive(&forged),
            Err(FountainError::Contradiction { seq_num: 1 })
        );
        let mut other = encoder.next_part();
        other.checksum ^= 1;
        assert!(matches!(
            decoder.receive(&other),
            Err(FountainError::OtherMessage { .. })
        ));
        assert_eq!(decoder.independent_parts(), 1);
        decoder.receive(&encoder.next_part()).unwrap();
        decoder.receive(&encoder.next_part()).unwrap();
        assert_eq!(decoder.message(), Some(&msg[..]));
    }

    #[test]
    fn inconsistent_shapes_are_malformed() {
        let base = Part {
            seq_num: 1,
            seq_len: 3,
            message_len: 250,
            checksum: 1,
            data: vec![0; 100],
        };
        for (part, word) in [
            (
                Part {
                    seq_num: 0,
                    ..base.clone()
                },
                "seqNum",
            ),
            (
                Part {
                    seq_len: 0,
                    ..base.clone()
                },
                "seqLen",
            ),
            (
                Part {
                    seq_len: MAX_SEQ_LEN + 1,
                    ..base.clone()
                },
                "seqLen",
            ),
            (
                Part {
                    message_len: 0,
                    ..base.clone()
                },
                "messageLen",
            ),
            (
                Part {
                    seq_len: 4,
                    ..base.clone()
                },
                "cannot hold",
            ),
            (
                Part {
                    data: vec![],
                    ..base.clone()
                },
                "cannot hold",
            ),
        ] {
            let err = FountainDecoder::new().receive(&part).unwrap_err();
            assert!(err.to_string().contains(word), "{err}");
        }
    }

    #[test]
    fn a_message_that_fails_its_checksum_is_refused_and_the_scan_reset() {
        let msg = message(300);
        let mut encoder = FountainEncoder::new(&msg, 100).unwrap();
        let mut decoder = FountainDecoder::new();
        decoder.receive(&encoder.next_part()).unwrap();
        decoder.receive(&encoder.next_part()).unwrap();
        let mut last = encoder.next_part();
        last.data[0] ^= 1;
        assert_eq!(decoder.receive(&last), Err(FountainError::Checksum));
        assert!(!decoder.is_complete());
        assert_eq!(decoder.independent_parts(), 0);
    }
}

//! Which fragments a fountain part mixes: the BC-UR specification's deterministic choice
//! (BCR-2020-005, "Fountain codes"), which encoder and decoder must make identically.
//!
//! Parts `1..=seq_len` are the fragments themselves. For a later part, Xoshiro256** is
//! seeded with SHA-256 of `seq_num || checksum` (both big-endian `u32`), draws a degree
//! from the distribution `P(d) ∝ 1/d` with Vose's alias sampler, shuffles the fragment
//! indexes, and mixes the first `degree` of them. Every floating-point step follows the
//! reference implementation's order so the choice matches other wallets' bit for bit.

use sha2::{Digest, Sha256};

/// The Xoshiro256** generator of the specification, seeded from a 32-byte digest.
#[derive(Debug, Clone)]
struct Xoshiro256 {
    state: [u64; 4],
}

impl Xoshiro256 {
    fn from_digest(digest: &[u8; 32]) -> Self {
        let mut state = [0u64; 4];
        for (word, chunk) in state.iter_mut().zip(digest.chunks_exact(8)) {
            *word = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        }
        Self { state }
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.state;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)`, as the reference computes it: `next / (u64::MAX + 1)`.
    fn next_double(&mut self) -> f64 {
        self.next_u64() as f64 / (u64::MAX as f64 + 1.0)
    }

    /// Uniform in `low..=high`.
    fn next_int(&mut self, low: usize, high: usize) -> usize {
        (self.next_double() * (high - low + 1) as f64) as usize + low
    }
}

/// Vose's alias method over the given weights, built in the reference's order.
#[derive(Debug)]
struct AliasSampler {
    probs: Vec<f64>,
    aliases: Vec<usize>,
}

impl AliasSampler {
    fn new(weights: &[f64]) -> Self {
        let n = weights.len();
        let sum: f64 = weights.iter().sum();
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / sum).collect();
        let (mut small, mut large) = (Vec::new(), Vec::new());
        for (i, p) in scaled.iter().enumerate().rev() {
            if *p < 1.0 {
                small.push(i);
            } else {
                large.push(i);
            }
        }
        let mut probs = vec![0.0; n];
        let mut aliases = vec![0usize; n];
        while let (Some(&a), Some(&g)) = (small.last(), large.last()) {
            small.pop();
            large.pop();
            probs[a] = scaled[a];
            aliases[a] = g;
            scaled[g] += scaled[a] - 1.0;
            if scaled[g] < 1.0 {
                small.push(g);
            } else {
                large.push(g);
            }
        }
        for i in large.into_iter().chain(small) {
            probs[i] = 1.0;
        }
        Self { probs, aliases }
    }

    fn next(&self, rng: &mut Xoshiro256) -> usize {
        let r1 = rng.next_double();
        let r2 = rng.next_double();
        let i = ((self.probs.len() as f64 * r1) as usize).min(self.probs.len() - 1);
        if r2 < self.probs[i] {
            i
        } else {
            self.aliases[i]
        }
    }
}

/// The fragment indexes (0-based, ascending) that part `seq_num` of a message of
/// `seq_len` fragments with CRC32 `checksum` mixes. `seq_num` starts at 1; `seq_len` ≥ 1.
pub(super) fn choose_fragments(seq_num: u32, seq_len: usize, checksum: u32) -> Vec<usize> {
    if seq_num as usize <= seq_len {
        return vec![(seq_num as usize).saturating_sub(1)];
    }
    let mut seed = [0u8; 8];
    seed[..4].copy_from_slice(&seq_num.to_be_bytes());
    seed[4..].copy_from_slice(&checksum.to_be_bytes());
    let digest: [u8; 32] = Sha256::digest(seed).into();
    let mut rng = Xoshiro256::from_digest(&digest);

    let weights: Vec<f64> = (1..=seq_len).map(|d| 1.0 / d as f64).collect();
    let degree = AliasSampler::new(&weights).next(&mut rng) + 1;

    let mut remaining: Vec<usize> = (0..seq_len).collect();
    let mut chosen = Vec::with_capacity(degree);
    while chosen.len() < degree {
        let index = rng.next_int(0, remaining.len() - 1);
        chosen.push(remaining.remove(index));
    }
    chosen.sort_unstable();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's test vector: Xoshiro256** seeded with SHA-256("Wolf"), the first
    /// 100 outputs modulo 100 (bc-ur `test_rng_1`).
    #[test]
    fn xoshiro_matches_the_reference_vector() {
        let digest: [u8; 32] = Sha256::digest(b"Wolf").into();
        let mut rng = Xoshiro256::from_digest(&digest);
        let got: Vec<u64> = (0..100).map(|_| rng.next_u64() % 100).collect();
        let expected: [u64; 100] = [
            42, 81, 85, 8, 82, 84, 76, 73, 70, 88, 2, 74, 40, 48, 77, 54, 88, 7, 5, 88, 37, 25, 82, 13, 69,
            59, 30, 39, 11, 82, 19, 99, 45, 87, 30, 15, 32, 22, 89, 44, 92, 77, 29, 78, 4, 92, 44, 68, 92,
            69, 1, 42, 89, 50, 37, 84, 63, 34, 32, 3, 17, 62, 40, 98, 82, 89, 24, 43, 85, 39, 15, 3, 99, 29,
            20, 42, 27, 10, 85, 66, 50, 35, 69, 70, 70, 74, 30, 13, 72, 54, 11, 5, 70, 55, 91, 52, 10, 43,
            43, 52,
        ];
        assert_eq!(got, expected);
    }

    #[test]
    fn pure_parts_are_their_own_fragment_and_mixed_parts_stay_in_range() {
        assert_eq!(choose_fragments(1, 5, 0x1234), vec![0]);
        assert_eq!(choose_fragments(5, 5, 0x1234), vec![4]);
        for seq_num in 6..200 {
            let chosen = choose_fragments(seq_num, 5, 0xdead_beef);
            assert!(!chosen.is_empty() && chosen.len() <= 5);
            assert!(chosen.windows(2).all(|w| w[0] < w[1]));
            assert!(chosen.iter().all(|i| *i < 5));
        }
        assert_eq!(
            choose_fragments(2, 1, 7),
            vec![0],
            "one fragment: every part is it"
        );
    }
}

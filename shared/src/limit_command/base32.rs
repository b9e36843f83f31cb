//! RFC 4648 base32 without padding, upper-case alphabet `A–Z 2–7`: every character is in
//! the QR alphanumeric set, and decoding is strict so each byte string has one text form.

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = ((buffer << 8) | u32::from(b)) & 0xfff;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Decodes canonical unpadded base32 (upper case only). Refuses a length no byte string
/// encodes to and non-zero leftover bits, which would give one byte string two forms.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let value = ALPHABET.iter().position(|&a| a == c)? as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
        buffer &= (1 << bits) - 1;
    }
    if bits >= 5 || buffer != 0 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failure report

    use proptest::prelude::*;

    #[test]
    fn rfc4648_vectors() {
        // RFC 4648 section 10, with the padding removed.
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(super::encode(plain.as_bytes()), encoded);
            assert_eq!(super::decode(encoded).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn only_canonical_text_decodes() {
        assert!(super::decode("MZ").is_none(), "non-zero leftover bits");
        assert!(super::decode("M").is_none(), "impossible length");
        assert!(super::decode("MZX").is_none(), "impossible length");
        assert!(super::decode("my").is_none(), "lower case");
        assert!(super::decode("M1").is_none(), "outside the alphabet");
        assert!(super::decode("MY=").is_none(), "padding");
    }

    proptest! {
        #[test]
        fn round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            prop_assert_eq!(super::decode(&super::encode(&bytes)), Some(bytes));
        }

        #[test]
        fn decoding_is_one_to_one(text in "[A-Z2-7]{0,40}") {
            if let Some(bytes) = super::decode(&text) {
                prop_assert_eq!(super::encode(&bytes), text);
            }
        }
    }
}

//! Time-based one-time passwords (RFC 6238, over RFC 4226 HOTP), for staff sign-in's
//! second factor. Pure: the secret, the time and the last step used come in as values;
//! storing the secret and the last step is the caller's (one transaction with the
//! sign-in it decides).
//!
//! Not wired to sign-in yet: staff authenticate with API tokens today, and the password +
//! TOTP sign-in belongs to the web console (issue 12 items 1 and 2).

use bitcoin::hashes::{hmac, sha1, sha256, sha512, Hash, HashEngine};
use sluice_shared::limit_command::base32;
use zeroize::Zeroizing;

use crate::time::UnixTime;

/// The HMAC hash (RFC 6238 allows SHA-1, SHA-256 and SHA-512; authenticator apps mostly
/// support only SHA-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    /// As in an otpauth:// URI.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }
}

/// How codes are made: hash, digits (6 to 8) and time step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TotpParams {
    pub algorithm: Algorithm,
    digits: u32,
    step_secs: u64,
}

impl TotpParams {
    /// SHA-1, 6 digits, 30 s: what every authenticator app understands.
    pub const STANDARD: TotpParams = TotpParams {
        algorithm: Algorithm::Sha1,
        digits: 6,
        step_secs: 30,
    };

    /// `None` unless 6 <= digits <= 8 (fewer is guessable; the truncation gives 31 bits)
    /// and the step is at least one second.
    pub fn new(algorithm: Algorithm, digits: u32, step_secs: u64) -> Option<TotpParams> {
        ((6..=8).contains(&digits) && step_secs >= 1).then_some(TotpParams {
            algorithm,
            digits,
            step_secs,
        })
    }

    pub fn digits(&self) -> u32 {
        self.digits
    }

    pub fn step_secs(&self) -> u64 {
        self.step_secs
    }

    /// The time step `at` falls in (`None` before 1970).
    pub fn step_at(&self, at: UnixTime) -> Option<u64> {
        u64::try_from(at.secs()).ok().map(|secs| secs / self.step_secs)
    }
}

/// A shared TOTP secret. Zeroed on drop; `Debug` does not show it.
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

impl TotpSecret {
    pub fn from_bytes(bytes: &[u8]) -> TotpSecret {
        TotpSecret(Zeroizing::new(bytes.to_vec()))
    }

    /// A fresh 20-byte secret (RFC 4226 recommends 160 bits).
    pub fn generate(rng: &mut impl rand::RngCore) -> TotpSecret {
        let mut bytes = Zeroizing::new(vec![0u8; 20]);
        rng.fill_bytes(&mut bytes);
        TotpSecret(bytes)
    }

    pub fn expose_bytes(&self) -> &[u8] {
        &self.0
    }

    /// RFC 4648 base32 without padding, as authenticator apps take it.
    pub fn to_base32(&self) -> Zeroizing<String> {
        Zeroizing::new(base32::encode(&self.0))
    }
}

/// HMAC-`$hash` of `$message` under `$key`, as bytes.
macro_rules! hmac_bytes {
    ($hash:ty, $key:expr, $message:expr) => {{
        let mut engine = hmac::HmacEngine::<$hash>::new($key);
        engine.input($message);
        hmac::Hmac::<$hash>::from_engine(engine).to_byte_array().to_vec()
    }};
}

/// RFC 4226: the HOTP value for `counter`, `digits` long.
pub fn hotp(secret: &TotpSecret, counter: u64, algorithm: Algorithm, digits: u32) -> u32 {
    let message = counter.to_be_bytes();
    let mac = Zeroizing::new(match algorithm {
        Algorithm::Sha1 => hmac_bytes!(sha1::Hash, &secret.0, &message),
        Algorithm::Sha256 => hmac_bytes!(sha256::Hash, &secret.0, &message),
        Algorithm::Sha512 => hmac_bytes!(sha512::Hash, &secret.0, &message),
    });
    // Dynamic truncation: the low nibble of the last byte picks 4 bytes (always in range:
    // offset <= 15 and every MAC here is at least 20 bytes).
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let word =
        u32::from_be_bytes([mac[offset], mac[offset + 1], mac[offset + 2], mac[offset + 3]]) & 0x7fff_ffff;
    word % 10u32.pow(digits)
}

/// The code shown at `at`, zero-padded (`None` before 1970).
pub fn code_at(secret: &TotpSecret, params: &TotpParams, at: UnixTime) -> Option<String> {
    let step = params.step_at(at)?;
    Some(format_code(
        hotp(secret, step, params.algorithm, params.digits),
        params.digits,
    ))
}

fn format_code(value: u32, digits: u32) -> String {
    format!("{value:0width$}", width = digits as usize)
}

/// Why a code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotpRefusal {
    #[error("the one-time code must be {0} digits")]
    Malformed(u32),
    #[error("the one-time code is wrong or expired: use the code your authenticator shows now")]
    Wrong,
    #[error("this one-time code was already used: wait for the next one")]
    Replayed,
    #[error("the clock is before 1970: check the server's time")]
    Clock,
}

/// Checks `code` at `now`, accepting the previous, current and next step (clock drift and
/// typing time). `last_used_step` is the step of the last code this secret accepted: a
/// code from that step or an earlier one is refused even when correct, so a code seen
/// over someone's shoulder cannot be used again. On success returns the matched step,
/// which the caller stores as the new `last_used_step` in the same transaction.
pub fn verify(
    secret: &TotpSecret,
    params: &TotpParams,
    code: &str,
    now: UnixTime,
    last_used_step: Option<u64>,
) -> Result<u64, TotpRefusal> {
    if code.len() != params.digits as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TotpRefusal::Malformed(params.digits));
    }
    let current = params.step_at(now).ok_or(TotpRefusal::Clock)?;
    let mut matched = None;
    // Every candidate is computed and compared without an early exit.
    for step in [current.checked_sub(1), Some(current), current.checked_add(1)]
        .into_iter()
        .flatten()
    {
        let expected = format_code(hotp(secret, step, params.algorithm, params.digits), params.digits);
        if constant_time_eq(expected.as_bytes(), code.as_bytes()) && matched.is_none() {
            matched = Some(step);
        }
    }
    let step = matched.ok_or(TotpRefusal::Wrong)?;
    if last_used_step.is_some_and(|last| step <= last) {
        return Err(TotpRefusal::Replayed);
    }
    Ok(step)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `otpauth://totp/...` URI authenticator apps enroll from (shown as a QR code),
/// in the Key Uri Format: label `issuer:account`, with secret, issuer, algorithm, digits
/// and period parameters. It contains the secret: show it once, never log it.
pub fn otpauth_uri(
    secret: &TotpSecret,
    params: &TotpParams,
    issuer: &str,
    account: &str,
) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm={}&digits={}&period={}",
        percent_encode(issuer),
        percent_encode(account),
        secret.to_base32().as_str(),
        percent_encode(issuer),
        params.algorithm.name(),
        params.digits,
        params.step_secs
    ))
}

/// RFC 3986 percent-encoding of everything but the unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failure report
    use super::*;

    const SEED_SHA1: &[u8] = b"12345678901234567890";
    const SEED_SHA256: &[u8] = b"12345678901234567890123456789012";
    const SEED_SHA512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    /// RFC 6238 appendix B, verbatim: time, then the 8-digit codes for SHA-1, SHA-256,
    /// SHA-512 (step 30 s, T0 = 0).
    const RFC6238_VECTORS: &[(i64, &str, &str, &str)] = &[
        (59, "94287082", "46119246", "90693936"),
        (1111111109, "07081804", "68084774", "25091201"),
        (1111111111, "14050471", "67062674", "99943326"),
        (1234567890, "89005924", "91819424", "93441116"),
        (2000000000, "69279037", "90698825", "38618901"),
        (20000000000, "65353130", "77737706", "47863826"),
    ];

    #[test]
    fn rfc6238_appendix_b() {
        for &(time, sha1_code, sha256_code, sha512_code) in RFC6238_VECTORS {
            for (algorithm, seed, expected) in [
                (Algorithm::Sha1, SEED_SHA1, sha1_code),
                (Algorithm::Sha256, SEED_SHA256, sha256_code),
                (Algorithm::Sha512, SEED_SHA512, sha512_code),
            ] {
                let params = TotpParams::new(algorithm, 8, 30).unwrap();
                let secret = TotpSecret::from_bytes(seed);
                let at = UnixTime::from_secs(time);
                assert_eq!(
                    code_at(&secret, &params, at).unwrap(),
                    expected,
                    "{algorithm:?} at {time}"
                );
                assert!(verify(&secret, &params, expected, at, None).is_ok());
            }
        }
    }

    /// RFC 4226 appendix D: HOTP, SHA-1, 6 digits, counters 0 to 9.
    #[test]
    fn rfc4226_appendix_d() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        let secret = TotpSecret::from_bytes(SEED_SHA1);
        for (counter, code) in expected.into_iter().enumerate() {
            assert_eq!(hotp(&secret, counter as u64, Algorithm::Sha1, 6), code);
        }
    }

    #[test]
    fn six_digits_thirty_seconds_with_a_window_of_one_step() {
        let secret = TotpSecret::from_bytes(SEED_SHA1);
        let p = TotpParams::STANDARD;
        // T = 59 is step 1: HOTP counter 1 of RFC 4226.
        assert_eq!(code_at(&secret, &p, UnixTime::from_secs(59)).unwrap(), "287082");
        // Step 1's code is accepted during steps 0, 1 and 2, not 3.
        for (now, ok) in [(0, true), (45, true), (89, true), (90, false), (-1, false)] {
            let result = verify(&secret, &p, "287082", UnixTime::from_secs(now), None);
            assert_eq!(result.is_ok(), ok, "at {now}: {result:?}");
        }
        assert_eq!(
            verify(&secret, &p, "287082", UnixTime::from_secs(60), None),
            Ok(1)
        );
        assert_eq!(
            verify(&secret, &p, "287083", UnixTime::from_secs(59), None),
            Err(TotpRefusal::Wrong)
        );
        for bad in ["28708", "2870822", "28708a", " 287082", ""] {
            assert_eq!(
                verify(&secret, &p, bad, UnixTime::from_secs(59), None),
                Err(TotpRefusal::Malformed(6))
            );
        }
    }

    #[test]
    fn a_code_is_accepted_once() {
        let secret = TotpSecret::from_bytes(SEED_SHA1);
        let p = TotpParams::STANDARD;
        let now = UnixTime::from_secs(59);
        let step = verify(&secret, &p, "287082", now, None).unwrap();
        assert_eq!(
            verify(&secret, &p, "287082", now, Some(step)),
            Err(TotpRefusal::Replayed)
        );
        // Nor an older code still inside the window, once a newer one was used.
        let older = code_at(&secret, &p, UnixTime::from_secs(29)).unwrap();
        assert_eq!(
            verify(&secret, &p, &older, now, Some(step)),
            Err(TotpRefusal::Replayed)
        );
        // The next step's code is fine.
        let next = code_at(&secret, &p, UnixTime::from_secs(60)).unwrap();
        assert_eq!(
            verify(&secret, &p, &next, UnixTime::from_secs(60), Some(step)),
            Ok(2)
        );
    }

    #[test]
    fn params_outside_the_safe_range_are_refused() {
        assert!(TotpParams::new(Algorithm::Sha1, 5, 30).is_none());
        assert!(TotpParams::new(Algorithm::Sha1, 9, 30).is_none());
        assert!(TotpParams::new(Algorithm::Sha1, 6, 0).is_none());
    }

    #[test]
    fn otpauth_uri_in_key_uri_format() {
        let secret = TotpSecret::from_bytes(SEED_SHA1);
        let uri = otpauth_uri(&secret, &TotpParams::STANDARD, "Sluice Treasury", "alice@example");
        assert_eq!(
            uri.as_str(),
            "otpauth://totp/Sluice%20Treasury:alice%40example?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Sluice%20Treasury&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(format!("{secret:?}"), "TotpSecret(..)");
    }
}

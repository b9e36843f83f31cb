//! Keystore sealing as a user meets it: a file that opens only with the right passphrase,
//! for the right purpose, and fails cleanly when anything in it was changed.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use secrecy::SecretString;
use serde_json::Value;
use sluice_shared::keystore::{seal, KdfParams, KeystoreError, SealedSecret, FORMAT};

const PURPOSE: &str = "sluice-signer-seed";
const PASSPHRASE: &str = "correct horse battery staple";
const SECRET: &[u8] = b"000102030405060708090a0b0c0d0e0f seed bytes";

fn passphrase(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

fn weak_sealed() -> SealedSecret {
    seal(
        PURPOSE,
        SECRET,
        &passphrase(PASSPHRASE),
        KdfParams::DANGEROUS_WEAK_FOR_TESTS,
        [0x11; 16],
        [0x22; 24],
    )
    .unwrap()
}

fn open(sealed: &SealedSecret) -> Result<Vec<u8>, KeystoreError> {
    sealed
        .open(PURPOSE, &passphrase(PASSPHRASE))
        .map(|plain| plain.to_vec())
}

#[test]
fn round_trip_with_recommended_parameters_through_the_file_format() {
    let sealed = seal(
        PURPOSE,
        SECRET,
        &passphrase(PASSPHRASE),
        KdfParams::RECOMMENDED,
        [1; 16],
        [2; 24],
    )
    .unwrap();
    assert_eq!(sealed.format, FORMAT);
    assert_eq!(sealed.kdf, KdfParams::RECOMMENDED);
    let text = sealed.to_json();
    assert!(text.contains('\n'), "the file is pretty JSON");
    let back = SealedSecret::from_json(&text).unwrap();
    assert_eq!(back, sealed);
    assert_eq!(open(&back).unwrap(), SECRET);
}

#[test]
fn an_empty_secret_round_trips() {
    let sealed = seal(
        PURPOSE,
        b"",
        &passphrase(PASSPHRASE),
        KdfParams::DANGEROUS_WEAK_FOR_TESTS,
        [3; 16],
        [4; 24],
    )
    .unwrap();
    assert_eq!(open(&sealed).unwrap(), b"");
}

#[test]
fn wrong_passphrase_is_refused() {
    let sealed = weak_sealed();
    for wrong in [
        "",
        "correct horse battery stapl",
        "Correct horse battery staple",
        "correct horse battery staple\n",
    ] {
        assert_eq!(
            sealed.open(PURPOSE, &passphrase(wrong)),
            Err(KeystoreError::WrongPassphraseOrCorrupt),
            "{wrong:?}"
        );
    }
}

#[test]
fn wrong_purpose_is_refused_before_any_key_derivation() {
    let sealed = weak_sealed();
    assert_eq!(
        sealed.open("limitctl-officer-key", &passphrase(PASSPHRASE)),
        Err(KeystoreError::WrongPurpose {
            expected: "limitctl-officer-key".to_owned(),
            found: PURPOSE.to_owned()
        })
    );
    // Parameters no derivation would accept: the purpose check answers first.
    let mut unusable = sealed;
    unusable.kdf.memory_kib = 1;
    assert!(matches!(
        unusable.open("limitctl-officer-key", &passphrase(PASSPHRASE)),
        Err(KeystoreError::WrongPurpose { .. })
    ));
}

/// Every header field edited in the file on disk makes it fail to open.
#[test]
fn each_header_field_edited_in_the_file_fails_to_open() {
    let original: Value = serde_json::from_str(&weak_sealed().to_json()).unwrap();
    let edits = [
        ("/format", Value::from(2)),
        ("/purpose", Value::from("sluice-signer-seed2")),
        ("/kdf/memory_kib", Value::from(65)),
        ("/kdf/iterations", Value::from(2)),
        ("/kdf/parallelism", Value::from(2)),
        ("/salt", Value::from(hex::encode([0x12u8; 16]))),
        ("/nonce", Value::from(hex::encode([0x23u8; 24]))),
    ];
    for (field, value) in edits {
        let mut edited = original.clone();
        *edited.pointer_mut(field).unwrap() = value;
        assert_ne!(edited, original);
        let sealed = SealedSecret::from_json(&serde_json::to_string_pretty(&edited).unwrap()).unwrap();
        // Opened as whatever purpose the file now claims, so only the binding can refuse.
        let result = sealed.open(&sealed.purpose, &passphrase(PASSPHRASE));
        let expected = if field == "/format" {
            KeystoreError::UnsupportedFormat(2)
        } else {
            KeystoreError::WrongPassphraseOrCorrupt
        };
        assert_eq!(result, Err(expected), "editing {field}");
    }
}

#[test]
fn every_single_bit_flip_in_salt_nonce_or_ciphertext_fails_to_open() {
    let sealed = weak_sealed();
    for byte in 0..16 {
        for bit in 0..8 {
            let mut e = sealed.clone();
            e.salt[byte] ^= 1 << bit;
            assert_eq!(open(&e), Err(KeystoreError::WrongPassphraseOrCorrupt));
        }
    }
    for byte in 0..24 {
        for bit in 0..8 {
            let mut e = sealed.clone();
            e.nonce[byte] ^= 1 << bit;
            assert_eq!(open(&e), Err(KeystoreError::WrongPassphraseOrCorrupt));
        }
    }
    // Every bit of the body and of the Poly1305 tag at its end.
    for byte in 0..sealed.ciphertext.len() {
        for bit in 0..8 {
            let mut e = sealed.clone();
            e.ciphertext[byte] ^= 1 << bit;
            assert_eq!(
                open(&e),
                Err(KeystoreError::WrongPassphraseOrCorrupt),
                "byte {byte} bit {bit}"
            );
        }
    }
}

#[test]
fn truncated_or_extended_ciphertext_fails_to_open() {
    let sealed = weak_sealed();
    for len in 0..sealed.ciphertext.len() {
        let mut e = sealed.clone();
        e.ciphertext.truncate(len);
        assert_eq!(
            open(&e),
            Err(KeystoreError::WrongPassphraseOrCorrupt),
            "length {len}"
        );
    }
    let mut e = sealed;
    e.ciphertext.push(0);
    assert_eq!(open(&e), Err(KeystoreError::WrongPassphraseOrCorrupt));
}

#[test]
fn a_truncated_or_garbled_file_is_corrupt() {
    let text = weak_sealed().to_json();
    for len in 0..text.len() {
        assert!(
            matches!(
                SealedSecret::from_json(&text[..len]),
                Err(KeystoreError::Corrupt(_))
            ),
            "a file cut at {len} bytes was accepted"
        );
    }
    let original: Value = serde_json::from_str(&text).unwrap();
    for (field, bad) in [
        ("salt", Value::from("1111")),
        ("salt", Value::from("zz".repeat(16))),
        ("nonce", Value::from(hex::encode([0u8; 25]))),
        ("ciphertext", Value::from("abc")),
        ("kdf", Value::from(64)),
        ("format", Value::from(-1)),
    ] {
        let mut edited = original.clone();
        edited[field] = bad;
        assert!(
            matches!(
                SealedSecret::from_json(&edited.to_string()),
                Err(KeystoreError::Corrupt(_))
            ),
            "{field} = {}",
            edited[field]
        );
    }
    assert!(matches!(
        SealedSecret::from_json("not json"),
        Err(KeystoreError::Corrupt(_))
    ));
}

#[test]
fn too_weak_or_absurd_kdf_parameters_are_refused() {
    let weakest = KdfParams::DANGEROUS_WEAK_FOR_TESTS;
    let refused = [
        KdfParams {
            memory_kib: weakest.memory_kib - 1,
            ..weakest
        },
        KdfParams {
            iterations: 0,
            ..weakest
        },
        KdfParams {
            parallelism: 0,
            ..weakest
        },
        // More than 4 GiB: refused before anything is allocated.
        KdfParams {
            memory_kib: 4 * 1024 * 1024 + 1,
            ..weakest
        },
        KdfParams {
            memory_kib: u32::MAX,
            ..weakest
        },
        KdfParams {
            iterations: u32::MAX,
            ..weakest
        },
        KdfParams {
            parallelism: u32::MAX,
            ..weakest
        },
        // Argon2 needs 8 KiB per lane.
        KdfParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 16,
        },
    ];
    for kdf in refused {
        let sealed = seal(PURPOSE, SECRET, &passphrase(PASSPHRASE), kdf, [0; 16], [0; 24]);
        assert!(
            matches!(sealed, Err(KeystoreError::Kdf(_))),
            "{kdf:?} accepted for sealing"
        );
        let mut file = weak_sealed();
        file.kdf = kdf;
        assert!(
            matches!(open(&file), Err(KeystoreError::Kdf(_))),
            "{kdf:?} accepted for opening"
        );
    }
    let err = seal(
        PURPOSE,
        SECRET,
        &passphrase(PASSPHRASE),
        KdfParams {
            iterations: 0,
            ..weakest
        },
        [0; 16],
        [0; 24],
    )
    .unwrap_err();
    assert!(err.to_string().contains("weaker than the minimum"), "{err}");
}

#[test]
fn nonces_and_salts_change_the_ciphertext() {
    let a = weak_sealed();
    let b = seal(
        PURPOSE,
        SECRET,
        &passphrase(PASSPHRASE),
        KdfParams::DANGEROUS_WEAK_FOR_TESTS,
        [0x11; 16],
        [0x33; 24],
    )
    .unwrap();
    assert_ne!(a.ciphertext, b.ciphertext);
    assert_eq!(a.ciphertext.len(), SECRET.len() + 16);
    assert!(!a.ciphertext.windows(SECRET.len()).any(|w| w == SECRET));
}

/// A file written by this version must open in every later one, and the construction is
/// the documented one: this file, sealed once with the test inputs, is decrypted here
/// with the argon2 and chacha20poly1305 crates directly.
#[test]
fn format_1_is_stable_and_as_documented() {
    const FILE: &str = r#"{
  "format": 1,
  "purpose": "sluice-signer-seed",
  "kdf": {
    "memory_kib": 64,
    "iterations": 1,
    "parallelism": 1
  },
  "salt": "11111111111111111111111111111111",
  "nonce": "222222222222222222222222222222222222222222222222",
  "ciphertext": "7a692b2f567f9951ebef3714de3f6e263f2b6aa1260dec924c61b6690f725ffbc3dbf6bc4fa3524c2c8c40465eb3f96db006b9d8b2fbc235d45d3b"
}"#;
    let sealed = SealedSecret::from_json(FILE).unwrap();
    assert_eq!(open(&sealed).unwrap(), SECRET);
    assert_eq!(sealed, weak_sealed());
    assert_eq!(sealed.to_json(), FILE);

    use argon2::{Algorithm, Argon2, Params, Version};
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    let mut key = [0u8; 32];
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(64, 1, 1, Some(32)).unwrap(),
    )
    .hash_password_into(PASSPHRASE.as_bytes(), &[0x11; 16], &mut key)
    .unwrap();
    let mut aad = b"sluice-keystore".to_vec();
    aad.extend_from_slice(&1u32.to_be_bytes());
    aad.extend_from_slice(&(PURPOSE.len() as u32).to_be_bytes());
    aad.extend_from_slice(PURPOSE.as_bytes());
    for n in [64u32, 1, 1] {
        aad.extend_from_slice(&n.to_be_bytes());
    }
    aad.extend_from_slice(&[0x11; 16]);
    let plain = XChaCha20Poly1305::new(&key.into())
        .decrypt(
            XNonce::from_slice(&[0x22; 24]),
            Payload {
                msg: &sealed.ciphertext,
                aad: &aad,
            },
        )
        .unwrap();
    assert_eq!(plain, SECRET);
}

#[test]
fn errors_and_debug_output_never_contain_the_secret_or_passphrase() {
    let sealed = weak_sealed();
    let mut wrong_format = sealed.clone();
    wrong_format.format = 9;
    let mut weak = sealed.clone();
    weak.kdf.iterations = 0;
    let errors = [
        sealed
            .open(PURPOSE, &passphrase("not the passphrase"))
            .unwrap_err(),
        sealed.open("other", &passphrase(PASSPHRASE)).unwrap_err(),
        open(&wrong_format).unwrap_err(),
        open(&weak).unwrap_err(),
        SealedSecret::from_json("{\"format\": 1").unwrap_err(),
    ];
    let forbidden = [
        PASSPHRASE.to_owned(),
        "correct horse".to_owned(),
        String::from_utf8_lossy(SECRET).into_owned(),
        hex::encode(SECRET),
    ];
    let opened = open(&sealed).unwrap();
    let shown = [
        format!("{sealed:?}"),
        format!("{:?}", passphrase(PASSPHRASE)),
        format!("{:?}", sealed.open(PURPOSE, &passphrase(PASSPHRASE)).map(|_| ())),
    ];
    assert_eq!(opened, SECRET);
    for text in errors
        .iter()
        .flat_map(|e| [e.to_string(), format!("{e:?}")])
        .chain(shown)
    {
        for secret in &forbidden {
            assert!(!text.contains(secret.as_str()), "{text:?} shows a secret");
        }
    }
}

//! The test-only weak key derivation is for test networks only, and a new keystore needs
//! a passphrase of some strength: through the real `init`.
#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

mod support;

use support::*;

#[test]
fn the_weak_kdf_is_refused_outside_regtest_and_signet() {
    for network in ["bitcoin", "testnet", "testnet4"] {
        let s = TestSigner::new();
        let err = s.fails(&["init", "--network", network, "--dangerous-weak-kdf"]);
        assert!(err.contains("regtest or signet"), "{network}: {err}");
        assert!(!s.home().join("keystore.json").exists(), "{network}: no keystore");
    }
    for network in ["regtest", "signet"] {
        let s = TestSigner::new();
        s.ok(&["init", "--network", network, "--dangerous-weak-kdf"]);
    }
}

#[test]
fn a_weak_passphrase_is_refused_when_the_keystore_is_created() {
    for weak in [
        "short",
        "aaaaaaaaaaaaaaaa",
        "abcdefghijklm",
        "123456789012",
        "aaaaaaaaaaa1",
    ] {
        let s = TestSigner::new();
        std::fs::write(s.path("pass"), format!("{weak}\n")).unwrap();
        let err = s.fails(&["init", "--network", "regtest", "--dangerous-weak-kdf"]);
        assert!(err.contains("passphrase"), "{weak}: {err}");
        assert!(!s.home().join("keystore.json").exists(), "{weak}: no keystore");
    }
    for fine in ["test passphrase", "Tr0ub4dor&3x!", "correcthorsebatterystaple"] {
        let s = TestSigner::new();
        std::fs::write(s.path("pass"), format!("{fine}\n")).unwrap();
        s.ok(&["init", "--network", "regtest", "--dangerous-weak-kdf"]);
    }
}

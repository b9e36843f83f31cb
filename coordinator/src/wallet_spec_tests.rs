use serde_json::Value;
use sluice_shared::descriptor::{Branch, WalletKind};

use super::*;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/fixtures/bitcoin-core/psbt_fixtures.json"
);

fn fixtures() -> Value {
    serde_json::from_str(&std::fs::read_to_string(FIXTURES).unwrap()).unwrap()
}

/// `[origin]tpub` of fixture signer A, B or C, as `sluice-signer xpub` prints it.
fn key(f: &Value, who: &str) -> String {
    let k = &f["keys"][who];
    format!(
        "[{}]{}",
        k["origin"].as_str().unwrap(),
        k["account_tpub"].as_str().unwrap()
    )
}

fn core_wallet(f: &Value, name: &str) -> WalletDescriptor {
    let w = &f["wallets"][name];
    WalletDescriptor::parse(
        w["descriptor_receive"].as_str().unwrap(),
        Some(w["descriptor_change"].as_str().unwrap()),
    )
    .unwrap()
}

#[test]
fn composes_the_same_2_of_3_wallet_bitcoin_core_made() {
    let f = fixtures();
    let keys = [key(&f, "A"), key(&f, "B"), key(&f, "C")];
    let composed = compose(WalletKindArg::WshSortedMulti, Some(2), &keys, Network::Regtest).unwrap();
    let core = core_wallet(&f, "wsh_2of3");
    assert_eq!(composed.descriptor.wallet_id(), core.wallet_id());
    assert_eq!(
        composed.descriptor.kind(),
        WalletKind::WshSortedMulti {
            threshold: 2,
            keys: 3
        }
    );
    assert_eq!(composed.kind_label, "wsh-sortedmulti-2-of-3");
    for index in [0, 1, 7] {
        for branch in [Branch::Receive, Branch::Change] {
            assert_eq!(
                composed.descriptor.script_pubkey(branch, index).unwrap(),
                core.script_pubkey(branch, index).unwrap()
            );
        }
    }
    // What operators paste into each signer parses back to the same wallet.
    assert!(composed.multipath.contains("/<0;1>/*") && composed.multipath.contains('#'));
    assert!(
        !composed.multipath.contains('\''),
        "hardened steps are written h: {}",
        composed.multipath
    );
    // Written exactly as Bitcoin Core writes the same wallet, checksum included.
    let core_receive = f["wallets"]["wsh_2of3"]["descriptor_receive"].as_str().unwrap();
    assert_eq!(
        core_notation(composed.descriptor.receive()).unwrap(),
        core_receive
    );
    let again = WalletDescriptor::parse(&composed.multipath, None).unwrap();
    assert_eq!(again.wallet_id(), core.wallet_id());
    // Key order does not change a sortedmulti wallet's scripts.
    let shuffled = [key(&f, "C"), key(&f, "A"), key(&f, "B")];
    let other = compose(
        WalletKindArg::WshSortedMulti,
        Some(2),
        &shuffled,
        Network::Regtest,
    )
    .unwrap();
    assert_eq!(
        other.descriptor.script_pubkey(Branch::Receive, 3).unwrap(),
        core.script_pubkey(Branch::Receive, 3).unwrap()
    );
}

#[test]
fn composes_the_single_key_wallet_bitcoin_core_made() {
    let f = fixtures();
    let composed = compose(WalletKindArg::Wpkh, None, &[key(&f, "A")], Network::Regtest).unwrap();
    assert_eq!(
        composed.descriptor.wallet_id(),
        core_wallet(&f, "wpkh_single").wallet_id()
    );
    assert_eq!(composed.kind_label, "wpkh");
}

#[test]
fn refuses_keys_and_shapes_that_are_not_a_wallet() {
    let f = fixtures();
    let a = key(&f, "A");
    let b = key(&f, "B");
    let tpub_only = f["keys"]["A"]["account_tpub"].as_str().unwrap().to_owned();
    let cases: Vec<(WalletKindArg, Option<u32>, Vec<String>, &str)> = vec![
        (WalletKindArg::Wpkh, None, vec![tpub_only], "origin"),
        (
            WalletKindArg::Wpkh,
            None,
            vec![format!("{a}/0/*")],
            "without /0/*",
        ),
        (
            WalletKindArg::Wpkh,
            None,
            vec!["[1bbaa5fe/84h/1h/0h]nonsense".into()],
            "is not",
        ),
        (
            WalletKindArg::Wpkh,
            None,
            vec![a.clone(), b.clone()],
            "exactly one",
        ),
        (WalletKindArg::Wpkh, Some(2), vec![a.clone()], "exactly one"),
        (
            WalletKindArg::WshSortedMulti,
            None,
            vec![a.clone(), b.clone()],
            "--threshold",
        ),
        (
            WalletKindArg::WshSortedMulti,
            Some(3),
            vec![a.clone(), b.clone()],
            "--threshold",
        ),
        (
            WalletKindArg::WshSortedMulti,
            Some(0),
            vec![a.clone(), b.clone()],
            "--threshold",
        ),
        (
            WalletKindArg::WshSortedMulti,
            Some(1),
            vec![a.clone(), a.clone()],
            "twice",
        ),
    ];
    for (kind, m, keys, why) in cases {
        let err = compose(kind, m, &keys, Network::Regtest).unwrap_err();
        assert!(err.to_string().contains(why), "{keys:?}: {err}");
    }
}

#[test]
fn refuses_test_keys_on_mainnet() {
    let f = fixtures();
    let err = compose(WalletKindArg::Wpkh, None, &[key(&f, "A")], Network::Bitcoin).unwrap_err();
    assert!(
        matches!(
            err,
            WalletSpecError::Descriptor(DescriptorError::WrongNetwork { .. })
        ),
        "{err}"
    );
}

#[test]
fn kinds_parse() {
    assert_eq!("wpkh".parse::<WalletKindArg>().unwrap(), WalletKindArg::Wpkh);
    assert_eq!(
        "wsh-sortedmulti".parse::<WalletKindArg>().unwrap(),
        WalletKindArg::WshSortedMulti
    );
    assert!("tr".parse::<WalletKindArg>().is_err());
}

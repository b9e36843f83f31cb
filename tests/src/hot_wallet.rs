//! The set-up most withdrawal tests start from: two signer homes (A and B) and a cold third
//! key, composed on the coordinator into the 2-of-3 wallet "hot" that approves automatically
//! up to 1 BTC, for customer "c1" paying one registered beneficiary, without fees; each
//! signer is registered on the coordinator, knows the wallet and has 10 BTC of limits.

use std::path::Path;

use bitcoin::Amount;
use sluice_coordinator::rules::fees::FeeSchedule;
use sluice_coordinator::rules::policy::ApprovalPolicy;
use sluice_coordinator::service::{AdminDesk, Applied, Change, CreatedWallet, NewWalletRequest};
use sluice_coordinator::wallet_spec::WalletKindArg;
use sluice_shared::asset::Asset;

use crate::signer::Signer;

/// The cold cosigner's account key: it plays no part in online signing.
pub const COLD_KEY: &str = "[3429876a/84h/1h/0h]tpubDCRy5oJLbB3etWH8sirNRUhtdp5GqhNPChRnpe8GMuze9NbgQeagn6icEf1moF2xpxiE2b5V5w2PQyBiifkjLQmfGfqbgSAXDbpegWj9V3s";

/// The value after `label` on the line of `text` that starts with it.
///
/// # Panics
/// When no line starts with `label`.
pub fn line_value(text: &str, label: &str) -> String {
    match text.lines().find_map(|l| l.strip_prefix(label)) {
        Some(value) => value.trim().to_owned(),
        None => panic!("no line starts with {label:?} in:\n{text}"),
    }
}

/// Signers A and B in `dir/a` and `dir/b` (regtest, weak KDF for speed), and the three
/// account keys of the wallet: A's, B's and the cold one.
pub fn two_signers_and_a_cold_key(dir: &Path) -> (Vec<Signer>, Vec<String>) {
    let passphrase = dir.join("passphrase");
    if let Err(e) = std::fs::write(&passphrase, "test passphrase\n") {
        panic!("writing {}: {e}", passphrase.display());
    }
    let signers: Vec<Signer> = ["a", "b"]
        .iter()
        .map(|n| Signer {
            home: dir.join(n),
            passphrase: passphrase.clone(),
        })
        .collect();
    let mut keys = Vec::new();
    for s in &signers {
        s.ok(&["init", "--network", "regtest", "--dangerous-weak-kdf"]);
        keys.push(s.ok(&["xpub", "--path", "84h/1h/0h"]).trim().to_owned());
    }
    keys.push(COLD_KEY.to_owned());
    (signers, keys)
}

/// Customer "c1" with `destination` as its beneficiary, no fees, the wallet "hot" of
/// `keys`, and each of `signers` registered on both sides with its limits.
///
/// # Panics
/// When any step is refused: a test set-up that fails is a test failure.
pub fn set_up_hot_wallet(
    desk: &mut AdminDesk,
    signers: &[Signer],
    keys: Vec<String>,
    destination: &str,
) -> CreatedWallet {
    if let Err(e) = desk.add_verified_customer("c1") {
        panic!("adding customer c1: {e}");
    }
    let mut agree = |change: Change| match desk.agree(change) {
        Ok(applied) => applied,
        Err(e) => panic!("set-up change refused: {e}"),
    };
    agree(Change::BeneficiaryAdd {
        customer_id: "c1".into(),
        address: destination.to_owned(),
        label: "main".into(),
    });
    agree(Change::FeesSet {
        asset: Asset::Btc,
        schedule: FeeSchedule::Flat(Amount::ZERO),
    });
    let Applied::Wallet(created) = agree(Change::WalletCreate(NewWalletRequest {
        name: "hot".into(),
        kind: WalletKindArg::WshSortedMulti,
        threshold: Some(2),
        keys,
        policy: ApprovalPolicy::Auto {
            max_amount_sat: Amount::ONE_BTC,
            registered_destination_only: true,
        },
        daily_limit: Amount::from_int_btc(100),
    })) else {
        panic!("wallet create yields the wallet")
    };
    for (i, s) in signers.iter().enumerate() {
        let id = s.ok(&["id"]);
        agree(Change::SignerAdd {
            name: format!("signer-{i}"),
            identity_key: line_value(&id, "Identity key:"),
            fingerprint: line_value(&id, "Master fingerprint:"),
            tor_key: None,
        });
        s.ok(&[
            "wallet",
            "register",
            "--name",
            "hot",
            "--descriptor",
            &created.multipath_descriptor,
        ]);
        s.ok(&[
            "limits",
            "init",
            "--rate",
            "10",
            "--per-seconds",
            "60",
            "--burst",
            "10",
            "--total",
            "10",
        ]);
    }
    created
}

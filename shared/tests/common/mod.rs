//! Loading the Bitcoin Core fixtures (captured from a real Core 30 regtest node).
#![allow(dead_code)]

pub mod camera;

use std::str::FromStr;

use bitcoin::bip32::Xpriv;
use bitcoin::psbt::Psbt;
use bitcoin::{Amount, Denomination, Network};
use serde_json::Value;
use sluice_shared::descriptor::WalletDescriptor;
use sluice_shared::inspect::InspectionPolicy;

pub const WALLETS: [&str; 3] = ["wpkh_single", "wsh_2of3", "tr_single"];

pub fn fixtures() -> Value {
    let path = std::env::var("SLUICE_FIXTURES").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/fixtures/bitcoin-core/psbt_fixtures.json"
        )
        .to_owned()
    });
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixtures at {path}: {e}"));
    serde_json::from_str(&text).expect("fixtures are JSON")
}

pub fn wallet(fx: &Value, name: &str) -> WalletDescriptor {
    let w = &fx["wallets"][name];
    WalletDescriptor::parse(
        w["descriptor_receive"].as_str().expect("receive"),
        Some(w["descriptor_change"].as_str().expect("change")),
    )
    .expect("fixture descriptor parses")
}

pub fn psbt(fx: &Value, name: &str, field: &str) -> Psbt {
    Psbt::from_str(fx["wallets"][name][field].as_str().expect("psbt field")).expect("fixture PSBT parses")
}

pub fn btc(v: &Value) -> Amount {
    // JSON numbers like 1.045e-05: go through the decimal text Core would print.
    let f = v.as_f64().expect("number");
    Amount::from_str_in(&format!("{f:.8}"), Denomination::Bitcoin).expect("amount")
}

pub fn xpriv(fx: &Value, signer: &str) -> Xpriv {
    Xpriv::from_str(fx["keys"][signer]["master_tprv"].as_str().expect("tprv")).expect("tprv parses")
}

pub fn policy() -> InspectionPolicy {
    InspectionPolicy {
        network: Network::Regtest,
        max_fee: Amount::from_sat(100_000),
        change_bound: sluice_shared::inspect::ChangeIndexBound::with_default_gap(None),
    }
}

/// Which fixture keys sign each wallet in our tests.
pub fn signers(name: &str) -> &'static [&'static str] {
    match name {
        "wsh_2of3" => &["A", "B"],
        _ => &["A"],
    }
}

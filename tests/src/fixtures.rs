//! The Bitcoin Core fixtures (`../shared/fixtures/bitcoin-core/psbt_fixtures.json`,
//! captured from a real Core 30 regtest node): its wallets, keys and unsigned PSBTs.

use std::str::FromStr;

use bitcoin::psbt::Psbt;
use serde_json::Value;
use sluice_shared::descriptor::WalletDescriptor;

/// The fixture's wallets: single-key P2WPKH, a 2-of-3 P2WSH of keys A, B, C, and a
/// single-key taproot wallet. Key A belongs to all three.
pub const WALLETS: [&str; 3] = ["wpkh_single", "wsh_2of3", "tr_single"];

pub fn fixtures() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/bitcoin-core/psbt_fixtures.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("fixtures at {path}: {e}"));
    serde_json::from_str(&text).expect("the fixtures are JSON")
}

fn text<'a>(fx: &'a Value, wallet: &str, field: &str) -> &'a str {
    fx["wallets"][wallet][field]
        .as_str()
        .unwrap_or_else(|| panic!("fixture wallet {wallet} has no {field}"))
}

/// The receive and change descriptors of a fixture wallet, as text.
pub fn descriptors(fx: &Value, wallet: &str) -> (String, String) {
    (
        text(fx, wallet, "descriptor_receive").to_owned(),
        text(fx, wallet, "descriptor_change").to_owned(),
    )
}

pub fn wallet(fx: &Value, name: &str) -> WalletDescriptor {
    let (receive, change) = descriptors(fx, name);
    WalletDescriptor::parse(&receive, Some(&change)).expect("a fixture descriptor parses")
}

/// Core's unsigned PSBT for a fixture wallet.
pub fn unsigned_psbt(fx: &Value, wallet: &str) -> Psbt {
    Psbt::from_str(text(fx, wallet, "unsigned_psbt")).expect("a fixture PSBT parses")
}

/// A fixture key's master tprv ("A", "B" or "C").
pub fn master_tprv(fx: &Value, key: &str) -> String {
    fx["keys"][key]["master_tprv"]
        .as_str()
        .unwrap_or_else(|| panic!("fixture key {key} has no master_tprv"))
        .to_owned()
}

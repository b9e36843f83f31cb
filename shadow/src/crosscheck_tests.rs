#![allow(clippy::unwrap_used)] // tests: a panic is a failure report

use bitcoin::bip32::{DerivationPath, Xpriv, Xpub};
use bitcoin::secp256k1::Secp256k1;
use bitcoin::Txid;

use super::*;

fn descriptor() -> WalletDescriptor {
    let secp = Secp256k1::new();
    let master = Xpriv::new_master(Network::Regtest, &[43; 32]).unwrap();
    let account: DerivationPath = "m/84h/1h/0h".parse().unwrap();
    let xpub = Xpub::from_priv(&secp, &master.derive_priv(&secp, &account).unwrap());
    let text = format!("wpkh([{}/84h/1h/0h]{xpub}/<0;1>/*)", master.fingerprint(&secp));
    WalletDescriptor::parse(&text, None).unwrap()
}

const RULES: CheckRules = CheckRules {
    network: Network::Regtest,
    credit_confirmations: 3,
    lag_blocks: 1,
};

fn address(index: u32) -> String {
    descriptor()
        .address(Branch::Receive, index, Network::Regtest)
        .unwrap()
        .to_string()
}

fn issued(index: u32) -> DepositAddress {
    DepositAddress {
        wallet: "deposits".into(),
        derivation_index: index,
        address: address(index),
        customer_id: Some(format!("c{index}")),
        issued_by: Some("backend".into()),
        issued_at: 0,
    }
}

fn txid(n: u8) -> Txid {
    format!("{:064x}", n).parse().unwrap()
}

fn ledger(id: u64, n: u8, index: u32, sat: u64, status: &str) -> Deposit {
    Deposit {
        id,
        txid: txid(n).to_string(),
        vout: 0,
        wallet: "deposits".into(),
        derivation_index: index,
        address: address(index),
        customer_id: Some(format!("c{index}")),
        amount_sat: sat,
        status: status.into(),
        block_height: Some(100),
        block_hash: None,
        confirmations: 3,
        first_seen_at: 0,
        updated_at: 0,
        tags: vec![],
        history: vec![],
    }
}

fn chain(n: u8, index: u32, sat: u64, confirmations: u32) -> ChainDeposit {
    ChainDeposit {
        outpoint: OutPoint::new(txid(n), 0),
        index,
        amount: Amount::from_sat(sat),
        confirmations,
    }
}

fn check(issued: &[DepositAddress], ledger: &[Deposit], chain: &[ChainDeposit]) -> Vec<Alarm> {
    cross_check(&descriptor(), "deposits", &RULES, issued, ledger, chain, 1000).1
}

fn codes(alarms: &[Alarm]) -> Vec<&'static str> {
    alarms.iter().map(Alarm::code).collect()
}

#[test]
fn an_honest_coordinator_raises_nothing() {
    let (summary, alarms) = cross_check(
        &descriptor(),
        "deposits",
        &RULES,
        &[issued(0), issued(1), issued(2)],
        &[
            ledger(1, 1, 0, 50_000, "credited"),
            ledger(2, 2, 1, 70_000, "pending"),
            ledger(3, 3, 2, 90_000, "tagged"),
        ],
        &[
            chain(1, 0, 50_000, 5),
            chain(2, 1, 70_000, 1),
            chain(3, 2, 90_000, 9),
            // Just seen, not yet in the coordinator's ledger: within the lag.
            chain(4, 0, 10_000, 3),
            chain(5, 0, 10_000, 0),
        ],
        1000,
    );
    assert_eq!(alarms, vec![]);
    assert_eq!(summary.confirmed_credits, 1);
    assert_eq!(summary.issued_addresses, 3);
    assert_eq!(summary.chain_deposits, 4);
}

#[test]
fn a_substituted_issued_address_is_an_alarm() {
    let mut swapped = issued(1);
    swapped.address = address(7);
    let alarms = check(&[issued(0), swapped], &[], &[]);
    assert_eq!(codes(&alarms), ["substituted_address"]);
    assert!(alarms[0].to_string().contains(&address(7)), "{}", alarms[0]);
    // Another wallet's addresses are not the shadow's to judge.
    let mut other = issued(1);
    other.wallet = "other".into();
    other.address = address(9);
    assert_eq!(check(&[other], &[], &[]), vec![]);
}

#[test]
fn a_fake_credit_is_an_alarm() {
    let alarms = check(&[issued(0)], &[ledger(1, 1, 0, 50_000, "credited")], &[]);
    assert_eq!(codes(&alarms), ["credit_not_on_chain"]);
    // In the mempool only is not on chain either.
    let alarms = check(
        &[issued(0)],
        &[ledger(1, 1, 0, 50_000, "credited")],
        &[chain(1, 0, 50_000, 0)],
    );
    assert_eq!(codes(&alarms), ["credit_not_on_chain"]);
}

#[test]
fn an_early_credit_a_wrong_amount_and_a_withheld_credit_are_alarms() {
    let alarms = check(
        &[issued(0)],
        &[ledger(1, 1, 0, 50_000, "credited")],
        &[chain(1, 0, 50_000, 2)],
    );
    assert_eq!(codes(&alarms), ["credit_too_early"]);
    let alarms = check(
        &[issued(0)],
        &[ledger(1, 1, 0, 60_000, "credited")],
        &[chain(1, 0, 50_000, 5)],
    );
    assert_eq!(codes(&alarms), ["amount_mismatch"]);
    let alarms = check(
        &[issued(0)],
        &[ledger(1, 1, 0, 50_000, "reversed")],
        &[chain(1, 0, 50_000, 4)],
    );
    assert_eq!(codes(&alarms), ["not_credited"]);
    // One block of lag is allowed.
    let alarms = check(
        &[issued(0)],
        &[ledger(1, 1, 0, 50_000, "pending")],
        &[chain(1, 0, 50_000, 3)],
    );
    assert_eq!(alarms, vec![]);
}

#[test]
fn a_hidden_deposit_and_an_altered_ledger_address_are_alarms() {
    let alarms = check(&[issued(0)], &[], &[chain(1, 0, 50_000, 4)]);
    assert_eq!(codes(&alarms), ["hidden_deposit"]);
    let mut altered = ledger(1, 1, 0, 50_000, "credited");
    altered.address = address(5);
    let alarms = check(&[issued(0)], &[altered], &[chain(1, 0, 50_000, 4)]);
    assert_eq!(codes(&alarms), ["ledger_address_mismatch"]);
}

#[test]
fn a_full_listing_is_an_alarm() {
    let (_, alarms) = cross_check(
        &descriptor(),
        "deposits",
        &RULES,
        &[],
        &[ledger(1, 1, 0, 50_000, "pending")],
        &[],
        1,
    );
    assert_eq!(codes(&alarms), ["ledger_truncated"]);
}

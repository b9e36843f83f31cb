use bitcoin::secp256k1::{Secp256k1, SecretKey};
use bitcoin::{Sequence, Witness};

use super::*;

fn settings() -> DepositSettings {
    DepositSettings {
        address_policy: AddressPolicy::PerRequest,
        gap_limit: 3,
        credit_confirmations: 2,
        tag_above_sat: Some(Amount::from_sat(1_000_000)),
    }
}

fn key(seed: u8) -> CompressedPublicKey {
    let secret = SecretKey::from_slice(&[seed; 32]).unwrap();
    CompressedPublicKey(secret.public_key(&Secp256k1::new()))
}

fn p2wpkh_input(seed: u8, spent: OutPoint) -> TxIn {
    TxIn {
        previous_output: spent,
        script_sig: ScriptBuf::new(),
        sequence: Sequence::MAX,
        witness: Witness::from_slice(&[vec![0x30; 71], key(seed).to_bytes().to_vec()]),
    }
}

fn outpoint(byte: u8, vout: u32) -> OutPoint {
    OutPoint {
        txid: Txid::from_str(&format!("{byte:02x}").repeat(32)).unwrap(),
        vout,
    }
}

#[test]
fn the_gap_limit_refuses_the_next_address_once_reached() {
    assert!(check_gap("deposits", 2, 3).is_ok());
    let refused = check_gap("deposits", 3, 3).unwrap_err();
    assert_eq!(refused.code(), "gap_limit");
    assert!(refused.to_string().contains("3 issued address(es)"));
}

#[test]
fn settings_out_of_range_are_refused() {
    assert!(settings().validate().is_ok());
    for bad in [
        DepositSettings {
            gap_limit: 0,
            ..settings()
        },
        DepositSettings {
            gap_limit: MAX_GAP_LIMIT + 1,
            ..settings()
        },
        DepositSettings {
            credit_confirmations: 0,
            ..settings()
        },
        DepositSettings {
            tag_above_sat: Some(Amount::ZERO),
            ..settings()
        },
    ] {
        assert_eq!(bad.validate().unwrap_err().code(), "invalid_deposit_settings");
    }
}

#[test]
fn blocklist_files_parse_outpoints_txids_and_addresses_or_refuse_whole() {
    let address = Address::p2wpkh(&key(1), Network::Regtest).to_string();
    let text = format!(
        "# seized 2026-11\n{}  # exchange hack\n\n{}\n{address}\n",
        outpoint(0xaa, 1),
        outpoint(0xbb, 0).txid
    );
    let entries = parse_blocklist(&text, Network::Regtest).unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0].0, BlocklistEntry::Outpoint(outpoint(0xaa, 1)));
    assert_eq!(entries[0].1, "exchange hack");
    assert_eq!(entries[1].0.kind(), "txid");
    assert_eq!(entries[2].0, BlocklistEntry::Address(address));

    let refused = parse_blocklist("ok-not\n", Network::Regtest).unwrap_err();
    assert!(matches!(
        refused,
        DepositRefusal::BadBlocklistEntry { line: 1, .. }
    ));
    let mainnet = Address::p2wpkh(&key(1), Network::Bitcoin).to_string();
    assert!(parse_blocklist(&mainnet, Network::Regtest).is_err());
}

#[test]
fn a_p2wpkh_input_reveals_its_source_address() {
    let input = p2wpkh_input(7, outpoint(1, 0));
    assert_eq!(
        source_address(&input, Network::Regtest),
        Some(Address::p2wpkh(&key(7), Network::Regtest))
    );
    let taproot_like = TxIn {
        witness: Witness::from_slice(&[vec![1u8; 64]]),
        ..input
    };
    assert_eq!(source_address(&taproot_like, Network::Regtest), None);
}

#[test]
fn each_rule_tags_with_its_name_and_a_clean_deposit_is_not_tagged() {
    let clean_input = [p2wpkh_input(7, outpoint(1, 0))];
    let facts = DepositFacts {
        amount: Amount::from_sat(50_000),
        customer_kyc: Some(KycStanding::Verified),
        inputs: &clean_input,
        network: Network::Regtest,
    };
    let mut blocklist = Blocklist::default();
    assert!(tag_rules(&facts, &settings(), &blocklist).is_empty());

    blocklist.insert(BlocklistEntry::Outpoint(outpoint(1, 0)));
    let reasons = tag_rules(&facts, &settings(), &blocklist);
    assert_eq!(reasons.len(), 1);
    assert_eq!(reasons[0].rule, "blocklist");

    let mut by_txid = Blocklist::default();
    by_txid.insert(BlocklistEntry::Txid(outpoint(1, 5).txid));
    assert_eq!(tag_rules(&facts, &settings(), &by_txid)[0].rule, "blocklist");

    let mut by_address = Blocklist::default();
    by_address.insert(BlocklistEntry::Address(
        Address::p2wpkh(&key(7), Network::Regtest).to_string(),
    ));
    assert_eq!(tag_rules(&facts, &settings(), &by_address)[0].rule, "blocklist");

    let large = DepositFacts {
        amount: Amount::from_sat(1_000_001),
        ..facts
    };
    assert_eq!(
        tag_rules(&large, &settings(), &Blocklist::default())[0].rule,
        "amount_threshold"
    );
    let at_threshold = DepositFacts {
        amount: Amount::from_sat(1_000_000),
        ..facts
    };
    assert!(tag_rules(&at_threshold, &settings(), &Blocklist::default()).is_empty());

    for standing in [
        KycStanding::Unverified,
        KycStanding::Revoked,
        KycStanding::Expired {
            at: crate::time::UnixTime::from_secs(1),
        },
    ] {
        let unverified = DepositFacts {
            customer_kyc: Some(standing),
            ..facts
        };
        assert_eq!(
            tag_rules(&unverified, &settings(), &Blocklist::default())[0].rule,
            "kyc"
        );
    }
}

#[test]
fn confirmations_count_the_block_itself() {
    assert_eq!(confirmations(10, 10), 1);
    assert_eq!(confirmations(10, 12), 3);
    assert_eq!(confirmations(11, 10), 0);
}

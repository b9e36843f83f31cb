use bitcoin::hashes::Hash;
use bitcoin::{PubkeyHash, ScriptBuf, WPubkeyHash};

use super::*;
use crate::rules::kyc::KycStanding;

const MAINNET_BIP173: &str = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
const TESTNET_BIP173: &str = "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx";

fn regtest_wpkh() -> Address {
    let script = ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([7; 20]));
    Address::from_script(&script, Network::Regtest).unwrap()
}

fn regtest_p2pkh() -> Address {
    let script = ScriptBuf::new_p2pkh(&PubkeyHash::from_byte_array([9; 20]));
    Address::from_script(&script, Network::Regtest).unwrap()
}

const MANUAL_2: ApprovalPolicy = ApprovalPolicy::Manual {
    approvers_required: 2,
};

fn facts<'a>(destination: &'a Address, amount: Amount) -> IntakeFacts<'a> {
    IntakeFacts {
        customer_id: "cust-1",
        destination,
        amount,
        customer: Some(CustomerStatus::Active),
        customer_kyc: Some(KycStanding::Verified),
        beneficiary_active: Some(true),
        policy: &MANUAL_2,
        fee_schedule: Some(FeeSchedule::Flat(Amount::from_sat(1_000))),
        customer_daily_limit: Some(Amount::from_sat(1_000_000)),
        customer_used_today: Amount::ZERO,
        wallet_name: "hot",
        deposit_wallet: false,
        wallet_daily_limit: Amount::from_sat(5_000_000),
        wallet_used_today: Amount::ZERO,
        risk_flagged: false,
    }
}

#[test]
fn destination_must_parse_and_be_for_our_network() {
    let ours = regtest_wpkh();
    assert_eq!(
        parse_destination(&ours.to_string(), Network::Regtest).unwrap(),
        ours
    );
    // Upper-case bech32 is the same address; the canonical form is lower case.
    let upper = ours.to_string().to_uppercase();
    assert_eq!(
        parse_destination(&upper, Network::Regtest).unwrap().to_string(),
        ours.to_string()
    );

    let err = parse_destination(MAINNET_BIP173, Network::Regtest).unwrap_err();
    assert_eq!(err.code(), "wrong_network");
    assert!(err.to_string().contains("mainnet"), "{err}");
    assert!(err.to_string().contains("regtest"), "{err}");
    let err = parse_destination(TESTNET_BIP173, Network::Bitcoin).unwrap_err();
    assert_eq!(err.code(), "wrong_network");
    assert!(parse_destination(MAINNET_BIP173, Network::Bitcoin).is_ok());

    for junk in [
        "",
        "bc1",
        "not an address",
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5",
    ] {
        assert_eq!(
            parse_destination(junk, Network::Bitcoin).unwrap_err().code(),
            "invalid_address"
        );
    }
}

#[test]
fn accepts_a_good_request_with_its_fee_and_approval_path() {
    let dest = regtest_wpkh();
    let accepted = check_withdrawal(&facts(&dest, Amount::from_sat(100_000))).unwrap();
    assert_eq!(accepted.fee, Amount::from_sat(1_000));
    assert_eq!(
        accepted.approval,
        IntakeApproval::Manual {
            approvers_required: 2
        }
    );
}

#[test]
fn customer_must_exist_and_be_active() {
    let dest = regtest_wpkh();
    let mut f = facts(&dest, Amount::from_sat(100_000));
    f.customer = None;
    assert_eq!(check_withdrawal(&f).unwrap_err().code(), "unknown_customer");
    f.customer = Some(CustomerStatus::Suspended);
    assert_eq!(check_withdrawal(&f).unwrap_err().code(), "customer_suspended");
}

#[test]
fn destination_must_be_an_active_beneficiary() {
    let dest = regtest_wpkh();
    let mut f = facts(&dest, Amount::from_sat(100_000));
    f.beneficiary_active = None;
    assert_eq!(check_withdrawal(&f).unwrap_err().code(), "not_a_beneficiary");
    f.beneficiary_active = Some(false);
    assert_eq!(check_withdrawal(&f).unwrap_err().code(), "beneficiary_inactive");
}

#[test]
fn dust_depends_on_the_destination_script() {
    let wpkh = regtest_wpkh();
    assert_eq!(
        check_withdrawal(&facts(&wpkh, Amount::from_sat(293)))
            .unwrap_err()
            .code(),
        "below_dust"
    );
    assert!(check_withdrawal(&facts(&wpkh, Amount::from_sat(294))).is_ok());
    let p2pkh = regtest_p2pkh();
    assert_eq!(
        check_withdrawal(&facts(&p2pkh, Amount::from_sat(545)))
            .unwrap_err()
            .code(),
        "below_dust"
    );
    assert!(check_withdrawal(&facts(&p2pkh, Amount::from_sat(546))).is_ok());
    let too_much = Amount::from_sat(Amount::MAX_MONEY.to_sat() + 1);
    assert_eq!(
        check_withdrawal(&facts(&wpkh, too_much)).unwrap_err().code(),
        "invalid_amount"
    );
}

#[test]
fn a_fee_schedule_is_required() {
    let dest = regtest_wpkh();
    let mut f = facts(&dest, Amount::from_sat(100_000));
    f.fee_schedule = None;
    assert_eq!(check_withdrawal(&f).unwrap_err().code(), "no_fee_schedule");
    f.fee_schedule = Some(FeeSchedule::Percent { basis_points: 100 });
    assert_eq!(check_withdrawal(&f).unwrap().fee, Amount::from_sat(1_000));
}

#[test]
fn customer_daily_limit_counts_today_including_this_request() {
    let dest = regtest_wpkh();
    let mut f = facts(&dest, Amount::from_sat(400_000));
    f.customer_used_today = Amount::from_sat(600_000);
    assert!(check_withdrawal(&f).is_ok(), "exactly at the limit is allowed");
    f.amount = Amount::from_sat(400_001);
    let err = check_withdrawal(&f).unwrap_err();
    assert_eq!(err.code(), "customer_daily_limit");
    assert!(err.to_string().contains("cust-1"), "{err}");
    f.customer_daily_limit = None;
    assert!(
        check_withdrawal(&f).is_ok(),
        "no customer limit: only the wallet's applies"
    );
}

#[test]
fn wallet_daily_limit_applies_across_customers() {
    let dest = regtest_wpkh();
    let mut f = facts(&dest, Amount::from_sat(500_000));
    f.wallet_used_today = Amount::from_sat(4_500_001);
    assert_eq!(check_withdrawal(&f).unwrap_err().code(), "wallet_daily_limit");
    f.wallet_used_today = Amount::MAX_MONEY;
    let err = check_withdrawal(&f).unwrap_err();
    assert_eq!(err.code(), "wallet_daily_limit");
}

#[test]
fn an_auto_only_wallet_refuses_what_its_rule_does_not_cover() {
    let dest = regtest_wpkh();
    let auto = ApprovalPolicy::Auto {
        max_amount_sat: Amount::from_sat(200_000),
        registered_destination_only: true,
    };
    let mut f = facts(&dest, Amount::from_sat(200_000));
    f.policy = &auto;
    assert!(matches!(
        check_withdrawal(&f).unwrap().approval,
        IntakeApproval::Automatic { .. }
    ));
    f.amount = Amount::from_sat(200_001);
    assert_eq!(check_withdrawal(&f).unwrap_err().code(), "not_approvable");
}

#[test]
fn idempotency_keys() {
    assert!(check_idempotency_key("order-42/retry").is_ok());
    assert!(check_idempotency_key(&"k".repeat(128)).is_ok());
    for bad in ["", "has space", "tab\t", "ünïcode", &"k".repeat(129)] {
        assert_eq!(
            check_idempotency_key(bad).unwrap_err().code(),
            "invalid_idempotency_key"
        );
    }
}

#[test]
fn request_hash_separates_every_field() {
    let dest = regtest_wpkh();
    let base = request_hash("rita", "c1", "hot", &dest, Amount::from_sat(1000));
    assert_eq!(
        base,
        request_hash("rita", "c1", "hot", &dest, Amount::from_sat(1000))
    );
    assert_ne!(
        base,
        request_hash("rob", "c1", "hot", &dest, Amount::from_sat(1000))
    );
    assert_ne!(
        base,
        request_hash("rita", "c2", "hot", &dest, Amount::from_sat(1000))
    );
    assert_ne!(
        base,
        request_hash("rita", "c1", "cold", &dest, Amount::from_sat(1000))
    );
    assert_ne!(
        base,
        request_hash("rita", "c1", "hot", &regtest_p2pkh(), Amount::from_sat(1000))
    );
    assert_ne!(
        base,
        request_hash("rita", "c1", "hot", &dest, Amount::from_sat(1001))
    );
    // Moving a character across a field boundary changes the hash.
    assert_ne!(
        request_hash("ab", "c", "hot", &dest, Amount::from_sat(1)),
        request_hash("a", "bc", "hot", &dest, Amount::from_sat(1))
    );
}

#[test]
fn only_a_customer_verified_now_may_withdraw() {
    let destination = regtest_wpkh();
    let amount = Amount::from_sat(50_000);
    assert!(check_withdrawal(&facts(&destination, amount)).is_ok());
    for standing in [
        KycStanding::Unverified,
        KycStanding::Revoked,
        KycStanding::Expired {
            at: crate::time::UnixTime::from_secs(1_700_000_000),
        },
    ] {
        let refused = check_withdrawal(&IntakeFacts {
            customer_kyc: Some(standing),
            ..facts(&destination, amount)
        })
        .unwrap_err();
        assert_eq!(refused.code(), "customer_not_verified");
        assert!(refused.to_string().contains(standing.as_str()), "{refused}");
    }
}

#[test]
fn a_deposit_wallet_never_pays_a_withdrawal() {
    let destination = regtest_wpkh();
    let refused = check_withdrawal(&IntakeFacts {
        deposit_wallet: true,
        ..facts(&destination, Amount::from_sat(50_000))
    })
    .unwrap_err();
    assert_eq!(refused.code(), "deposit_wallet");
}

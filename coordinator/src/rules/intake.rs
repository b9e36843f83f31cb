//! Whether a withdrawal request may enter the system: destination valid for our network
//! and registered to an active customer, amount above dust, within the customer's and the
//! wallet's daily limits, a fee schedule to charge, and an approval path under the
//! wallet's policy. A refusal changes nothing and names the rule.

use std::str::FromStr;

use bitcoin::address::NetworkUnchecked;
use bitcoin::{Address, Amount, Network};
use sha2::{Digest, Sha256};
use sluice_shared::api::MAX_IDEMPOTENCY_KEY_LEN;
use sluice_shared::asset::format_btc;
use sluice_shared::network::network_name;

use super::fees::FeeSchedule;
use super::kyc::KycStanding;
use super::policy::{ApprovalPolicy, IntakeApproval};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerStatus {
    Active,
    Suspended,
}

impl CustomerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CustomerStatus::Active => "active",
            CustomerStatus::Suspended => "suspended",
        }
    }

    pub fn parse(s: &str) -> Option<CustomerStatus> {
        match s {
            "active" => Some(CustomerStatus::Active),
            "suspended" => Some(CustomerStatus::Suspended),
            _ => None,
        }
    }
}

/// Which daily limit a refusal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitScope {
    Customer,
    Wallet,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntakeRefusal {
    #[error("destination {input:?} is not a bitcoin address: {reason}")]
    InvalidAddress { input: String, reason: String },
    #[error("destination {address} is {found} address but this coordinator runs on {expected}")]
    WrongNetwork {
        address: String,
        expected: &'static str,
        found: String,
    },
    #[error("unknown customer {0:?}: an admin adds customers with `customer add`")]
    UnknownCustomer(String),
    #[error("customer {0:?} is suspended: no withdrawals until an admin reactivates them")]
    CustomerSuspended(String),
    #[error("customer {customer:?} is not KYC-verified (status {standing}): no withdrawals until compliance verifies them with `kyc set`")]
    CustomerNotVerified { customer: String, standing: String },
    #[error(
        "wallet {0:?} is a deposit wallet: only the shadow spends it; pay withdrawals from a treasury wallet"
    )]
    DepositWallet(String),
    #[error("{address} is not a registered beneficiary of customer {customer:?}: an admin registers it with `beneficiary add`")]
    NotABeneficiary { customer: String, address: String },
    #[error("beneficiary {address} of customer {customer:?} is deactivated")]
    BeneficiaryInactive { customer: String, address: String },
    #[error("amount {amount} is below the dust limit of {minimum} for this destination: the network would not relay it")]
    BelowDust { amount: String, minimum: String },
    #[error("amount {0} is more than all bitcoin")]
    AmountTooLarge(String),
    #[error("no fee schedule for {0}: an admin sets one with `fees set`")]
    NoFeeSchedule(String),
    #[error("{scope_name} daily limit: {requested} would bring today's (UTC) total to {would_be}, above the limit of {limit}")]
    DailyLimit {
        scope: LimitScope,
        scope_name: String,
        limit: String,
        would_be: String,
        requested: String,
    },
    #[error("the wallet's approval policy cannot approve this withdrawal: {0}")]
    NotApprovable(String),
    #[error(
        "idempotency key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} printable ASCII characters without spaces"
    )]
    InvalidIdempotencyKey,
}

impl IntakeRefusal {
    /// The stable code clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            IntakeRefusal::InvalidAddress { .. } => "invalid_address",
            IntakeRefusal::WrongNetwork { .. } => "wrong_network",
            IntakeRefusal::UnknownCustomer(_) => "unknown_customer",
            IntakeRefusal::CustomerSuspended(_) => "customer_suspended",
            IntakeRefusal::CustomerNotVerified { .. } => "customer_not_verified",
            IntakeRefusal::DepositWallet(_) => "deposit_wallet",
            IntakeRefusal::NotABeneficiary { .. } => "not_a_beneficiary",
            IntakeRefusal::BeneficiaryInactive { .. } => "beneficiary_inactive",
            IntakeRefusal::BelowDust { .. } => "below_dust",
            IntakeRefusal::AmountTooLarge(_) => "invalid_amount",
            IntakeRefusal::NoFeeSchedule(_) => "no_fee_schedule",
            IntakeRefusal::DailyLimit {
                scope: LimitScope::Customer,
                ..
            } => "customer_daily_limit",
            IntakeRefusal::DailyLimit {
                scope: LimitScope::Wallet,
                ..
            } => "wallet_daily_limit",
            IntakeRefusal::NotApprovable(_) => "not_approvable",
            IntakeRefusal::InvalidIdempotencyKey => "invalid_idempotency_key",
        }
    }
}

/// Parses a destination and checks it is for `network`. The returned address's `Display`
/// is the canonical form (lowercase bech32) used to match the beneficiary registry.
pub fn parse_destination(text: &str, network: Network) -> Result<Address, IntakeRefusal> {
    let unchecked =
        Address::<NetworkUnchecked>::from_str(text.trim()).map_err(|e| IntakeRefusal::InvalidAddress {
            input: text.to_owned(),
            reason: e.to_string(),
        })?;
    if unchecked.is_valid_for_network(network) {
        return Ok(unchecked.assume_checked());
    }
    let found = [
        Network::Bitcoin,
        Network::Testnet,
        Network::Signet,
        Network::Regtest,
    ]
    .into_iter()
    .find(|n| unchecked.is_valid_for_network(*n))
    .map(|n| match n {
        Network::Bitcoin => "a mainnet".to_owned(),
        Network::Regtest => "a regtest".to_owned(),
        _ => "a testnet/signet".to_owned(),
    })
    .unwrap_or_else(|| "another network's".to_owned());
    Err(IntakeRefusal::WrongNetwork {
        address: text.trim().to_owned(),
        expected: network_name(network),
        found,
    })
}

pub fn check_idempotency_key(key: &str) -> Result<(), IntakeRefusal> {
    let ok =
        !key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(IntakeRefusal::InvalidIdempotencyKey)
    }
}

/// A digest of who asked for what, so a retried request can be told from a different one
/// reusing its idempotency key. Fields are length-prefixed so no two requests collide.
pub fn request_hash(
    requester: &str,
    customer_id: &str,
    wallet: &str,
    destination: &Address,
    amount: Amount,
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"sluice/withdrawal-request/v1");
    let destination = destination.to_string();
    for field in [requester, customer_id, wallet, destination.as_str()] {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hasher.update(amount.to_sat().to_be_bytes());
    hex::encode(hasher.finalize())
}

/// What the database says about a request, gathered by the service in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct IntakeFacts<'a> {
    pub customer_id: &'a str,
    pub destination: &'a Address,
    pub amount: Amount,
    /// `None`: no such customer.
    pub customer: Option<CustomerStatus>,
    /// The customer's KYC standing now (`None`: no such customer).
    pub customer_kyc: Option<KycStanding>,
    /// `None`: not registered for this customer; `Some(active)` otherwise.
    pub beneficiary_active: Option<bool>,
    pub policy: &'a ApprovalPolicy,
    pub fee_schedule: Option<FeeSchedule>,
    /// `None`: no per-customer limit (the wallet's limit still applies).
    pub customer_daily_limit: Option<Amount>,
    /// Sum of the customer's withdrawals today that were not rejected or failed.
    pub customer_used_today: Amount,
    pub wallet_name: &'a str,
    /// A deposit wallet is spent only by the shadow, never by a withdrawal.
    pub deposit_wallet: bool,
    pub wallet_daily_limit: Amount,
    pub wallet_used_today: Amount,
    /// Risk flags were raised (`rules::risk`): no automatic approval.
    pub risk_flagged: bool,
}

/// A request that passed every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedWithdrawal {
    pub fee: Amount,
    pub approval: IntakeApproval,
}

fn check_daily(
    scope: LimitScope,
    scope_name: String,
    limit: Amount,
    used: Amount,
    amount: Amount,
) -> Result<(), IntakeRefusal> {
    match used.checked_add(amount) {
        Some(total) if total <= limit => Ok(()),
        total => Err(IntakeRefusal::DailyLimit {
            scope,
            scope_name,
            limit: format_btc(limit),
            would_be: total.map_or_else(|| "more than all bitcoin".to_owned(), format_btc),
            requested: format_btc(amount),
        }),
    }
}

/// Every intake rule, in the order an operator would look for the problem.
pub fn check_withdrawal(facts: &IntakeFacts<'_>) -> Result<AcceptedWithdrawal, IntakeRefusal> {
    let customer = facts.customer_id.to_owned();
    let address = facts.destination.to_string();
    match facts.customer {
        None => return Err(IntakeRefusal::UnknownCustomer(customer)),
        Some(CustomerStatus::Suspended) => return Err(IntakeRefusal::CustomerSuspended(customer)),
        Some(CustomerStatus::Active) => {}
    }
    if let Some(standing) = facts.customer_kyc.filter(|s| !s.is_verified()) {
        return Err(IntakeRefusal::CustomerNotVerified {
            customer,
            standing: standing.to_string(),
        });
    }
    if facts.deposit_wallet {
        return Err(IntakeRefusal::DepositWallet(facts.wallet_name.to_owned()));
    }
    match facts.beneficiary_active {
        None => return Err(IntakeRefusal::NotABeneficiary { customer, address }),
        Some(false) => return Err(IntakeRefusal::BeneficiaryInactive { customer, address }),
        Some(true) => {}
    }
    if facts.amount > Amount::MAX_MONEY {
        return Err(IntakeRefusal::AmountTooLarge(format_btc(facts.amount)));
    }
    let minimum = facts.destination.script_pubkey().minimal_non_dust();
    if facts.amount < minimum {
        return Err(IntakeRefusal::BelowDust {
            amount: format_btc(facts.amount),
            minimum: format_btc(minimum),
        });
    }
    let fee_schedule = facts
        .fee_schedule
        .ok_or_else(|| IntakeRefusal::NoFeeSchedule("BTC".to_owned()))?;
    if let Some(limit) = facts.customer_daily_limit {
        check_daily(
            LimitScope::Customer,
            format!("customer {:?}", facts.customer_id),
            limit,
            facts.customer_used_today,
            facts.amount,
        )?;
    }
    check_daily(
        LimitScope::Wallet,
        format!("wallet {:?}", facts.wallet_name),
        facts.wallet_daily_limit,
        facts.wallet_used_today,
        facts.amount,
    )?;
    let approval = facts
        .policy
        .at_intake(facts.amount, true, facts.risk_flagged)
        .map_err(IntakeRefusal::NotApprovable)?;
    Ok(AcceptedWithdrawal {
        fee: fee_schedule.fee_for(facts.amount),
        approval,
    })
}

#[cfg(test)]
#[path = "intake_tests.rs"]
mod tests;

//! Messages of the coordinator's HTTP JSON API (`/v1/...`), shared by the coordinator,
//! its clients and tests so both sides read the same shapes.
//!
//! Amounts travel as whole satoshis in fields named `..._sat`. Times are Unix seconds
//! (UTC). Request bodies refuse unknown fields, so a misspelt field is an error rather
//! than silently ignored.

use std::fmt;
use std::str::FromStr;

use bitcoin::Amount;
use serde::{Deserialize, Serialize};

/// The largest request body the coordinator reads, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Header carrying the client's idempotency key on `POST /v1/withdrawals`.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// The longest idempotency key accepted, in bytes.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// `POST /v1/withdrawals`: pay `amount_sat` from `wallet` to `destination`, a registered
/// beneficiary address of customer `customer_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWithdrawal {
    pub customer_id: String,
    pub wallet: String,
    pub destination: String,
    #[serde(with = "bitcoin::amount::serde::as_sat")]
    pub amount_sat: Amount,
}

/// `POST /v1/withdrawals/{id}/approve`: the body is an empty object (or no body at all).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveWithdrawal {}

/// `POST /v1/withdrawals/{id}/reject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectWithdrawal {
    /// Why, in words the requester and auditors will read.
    pub reason: String,
}

/// Where a withdrawal is in its life. The order is the normal path; `rejected` and
/// `failed` end it without payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawalStatus {
    /// Accepted at intake, waiting for the wallet's approval policy to be met.
    PendingApproval,
    /// Policy met: in the processing queue.
    Approved,
    /// Refused by an approver; never paid.
    Rejected,
    /// Taken into a transaction by the processor.
    Batched,
    /// Its transaction is waiting for signers.
    Signing,
    /// Enough signatures collected.
    Signed,
    /// Its transaction was sent to the network.
    Broadcast,
    /// Its transaction is in a block.
    Confirmed,
    /// Could not be paid; the history says why.
    Failed,
}

impl WithdrawalStatus {
    pub const ALL: [WithdrawalStatus; 9] = [
        WithdrawalStatus::PendingApproval,
        WithdrawalStatus::Approved,
        WithdrawalStatus::Rejected,
        WithdrawalStatus::Batched,
        WithdrawalStatus::Signing,
        WithdrawalStatus::Signed,
        WithdrawalStatus::Broadcast,
        WithdrawalStatus::Confirmed,
        WithdrawalStatus::Failed,
    ];

    /// The name used in JSON, in the database and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            WithdrawalStatus::PendingApproval => "pending_approval",
            WithdrawalStatus::Approved => "approved",
            WithdrawalStatus::Rejected => "rejected",
            WithdrawalStatus::Batched => "batched",
            WithdrawalStatus::Signing => "signing",
            WithdrawalStatus::Signed => "signed",
            WithdrawalStatus::Broadcast => "broadcast",
            WithdrawalStatus::Confirmed => "confirmed",
            WithdrawalStatus::Failed => "failed",
        }
    }

    /// Whether an approval policy was met at some point (the withdrawal entered the queue).
    pub fn is_past_approval(self) -> bool {
        !matches!(
            self,
            WithdrawalStatus::PendingApproval | WithdrawalStatus::Rejected
        )
    }
}

impl fmt::Display for WithdrawalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is not one of [`WithdrawalStatus::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown withdrawal status {0:?}: use pending_approval, approved, rejected, batched, signing, signed, broadcast, confirmed or failed")]
pub struct UnknownStatus(pub String);

impl FromStr for WithdrawalStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WithdrawalStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// What happened to a withdrawal, in its history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Requested,
    /// One approver approved; the policy may still need more.
    ApprovalRecorded,
    /// The policy is met: the withdrawal entered the queue.
    Approved,
    Rejected,
    Batched,
    Signing,
    Signed,
    Broadcast,
    Confirmed,
    Failed,
    /// A fee bump of the withdrawal's session was approved: a new session pays it from
    /// the same inputs (its status does not change).
    FeeBump,
    /// An approver asked to abandon the withdrawal's session.
    AbandonRequested,
    /// Back in the queue: a confirmed transaction outside its session's group spent the
    /// group's inputs, so nothing that paid it can confirm.
    Returned,
}

impl EventKind {
    pub const ALL: [EventKind; 13] = [
        EventKind::Requested,
        EventKind::ApprovalRecorded,
        EventKind::Approved,
        EventKind::Rejected,
        EventKind::Batched,
        EventKind::Signing,
        EventKind::Signed,
        EventKind::Broadcast,
        EventKind::Confirmed,
        EventKind::Failed,
        EventKind::FeeBump,
        EventKind::AbandonRequested,
        EventKind::Returned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Requested => "requested",
            EventKind::ApprovalRecorded => "approval_recorded",
            EventKind::Approved => "approved",
            EventKind::Rejected => "rejected",
            EventKind::Batched => "batched",
            EventKind::Signing => "signing",
            EventKind::Signed => "signed",
            EventKind::Broadcast => "broadcast",
            EventKind::Confirmed => "confirmed",
            EventKind::Failed => "failed",
            EventKind::FeeBump => "fee_bump",
            EventKind::AbandonRequested => "abandon_requested",
            EventKind::Returned => "returned",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|kind| kind.as_str() == s)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an approval was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalMethod {
    /// A person with the approver role approved it.
    Manual,
    /// The wallet's automatic rule approved it at intake.
    AutoRule,
}

impl ApprovalMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalMethod::Manual => "manual",
            ApprovalMethod::AutoRule => "auto-rule",
        }
    }

    pub fn parse(s: &str) -> Option<ApprovalMethod> {
        match s {
            "manual" => Some(ApprovalMethod::Manual),
            "auto-rule" => Some(ApprovalMethod::AutoRule),
            _ => None,
        }
    }
}

/// A withdrawal as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawal {
    pub id: u64,
    pub customer_id: String,
    pub wallet: String,
    pub asset: String,
    pub destination: String,
    /// What the destination receives.
    #[serde(with = "bitcoin::amount::serde::as_sat")]
    pub amount_sat: Amount,
    /// The custodian's fee charged to the customer on top of `amount_sat` (not the
    /// network fee, which the processor decides when it batches).
    #[serde(with = "bitcoin::amount::serde::as_sat")]
    pub fee_sat: Amount,
    pub status: WithdrawalStatus,
    pub requested_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// The signing session paying it, once batched (`session export ID`, `session show`):
    /// the one whose transaction confirmed, else the newest (a fee bump replaces one).
    #[serde(default)]
    pub session_id: Option<u64>,
    /// That session's transaction id (segwit: fixed before signing), to look up on chain.
    #[serde(default)]
    pub txid: Option<String>,
}

/// One approval of a withdrawal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// The approver's staff name; `None` for the automatic rule.
    pub approver: Option<String>,
    pub method: ApprovalMethod,
    pub approved_at: i64,
    /// For the automatic rule: which rule and why it applied.
    pub detail: Option<String>,
}

/// One entry of a withdrawal's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithdrawalEvent {
    pub kind: EventKind,
    /// A staff name, or `auto-rule`, `processor`, `sender`, `monitor`.
    pub actor: String,
    pub reason: Option<String>,
    pub recorded_at: i64,
}

/// `GET /v1/withdrawals/{id}` and the reply to every change of one withdrawal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithdrawalDetail {
    pub withdrawal: Withdrawal,
    pub approvals: Vec<Approval>,
    pub history: Vec<WithdrawalEvent>,
    /// Risk flags raised at intake; any flag sends the withdrawal to manual approval.
    #[serde(default)]
    pub flags: Vec<RiskFlag>,
    /// What each signer last reported refusing for this withdrawal's signing session
    /// (latest per signer), while it waits for signatures.
    #[serde(default)]
    pub signer_refusals: Vec<SignerRefusalReport>,
}

/// Which risk rule raised a flag at intake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskFlagKind {
    /// The customer's first withdrawal to this destination.
    NewBeneficiary,
    /// Far above the customer's usual amount (a multiple of the median of their last withdrawals).
    LargeAmount,
    /// Too many withdrawals, or too much, for this customer in a short window.
    Velocity,
    /// Another customer uses the same destination.
    SharedDestination,
}

impl RiskFlagKind {
    pub const ALL: [RiskFlagKind; 4] = [
        RiskFlagKind::NewBeneficiary,
        RiskFlagKind::LargeAmount,
        RiskFlagKind::Velocity,
        RiskFlagKind::SharedDestination,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RiskFlagKind::NewBeneficiary => "new_beneficiary",
            RiskFlagKind::LargeAmount => "large_amount",
            RiskFlagKind::Velocity => "velocity",
            RiskFlagKind::SharedDestination => "shared_destination",
        }
    }

    pub fn parse(s: &str) -> Option<RiskFlagKind> {
        RiskFlagKind::ALL.into_iter().find(|kind| kind.as_str() == s)
    }
}

impl fmt::Display for RiskFlagKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One risk flag on a withdrawal, with the reason in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskFlag {
    pub kind: RiskFlagKind,
    pub reason: String,
}

/// A signer's latest refusal to sign a session, as it reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignerRefusalReport {
    pub signer_id: String,
    pub session_id: u64,
    /// Stable: `rate`, `total_spent`, `paused` or `inspection`.
    pub reason: String,
    /// The signer's words.
    pub detail: String,
    pub reported_at: i64,
}

/// Where a wallet's coin stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoinState {
    /// Confirmed, free: coin selection may spend it.
    Spendable,
    /// Not in a block yet: never spent until it is.
    Unconfirmed,
    /// Held by a signing session's transaction.
    Reserved,
    /// Out of coin selection (a tagged deposit).
    Quarantined,
    /// Spent by a transaction in a block.
    Spent,
}

/// One coin of a wallet (`GET /v1/coins`, `coin list`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coin {
    pub wallet: String,
    pub txid: String,
    pub vout: u32,
    #[serde(with = "bitcoin::amount::serde::as_sat")]
    pub amount_sat: Amount,
    pub state: CoinState,
    pub block_height: Option<u32>,
    pub reserved_by_session: Option<u64>,
    pub spent_by_txid: Option<String>,
}

/// `GET /v1/coins[?wallet=W&spent=true]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoinList {
    pub coins: Vec<Coin>,
}

/// One wallet's balance by coin state (`GET /v1/balances`, `wallet balance`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletBalance {
    pub wallet: String,
    #[serde(with = "bitcoin::amount::serde::as_sat")]
    pub spendable_sat: Amount,
    #[serde(with = "bitcoin::amount::serde::as_sat")]
    pub unconfirmed_sat: Amount,
    #[serde(with = "bitcoin::amount::serde::as_sat")]
    pub reserved_sat: Amount,
    #[serde(with = "bitcoin::amount::serde::as_sat")]
    pub quarantined_sat: Amount,
    /// Coins not spent.
    pub coins: u64,
}

/// `GET /v1/balances`: every wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceList {
    pub wallets: Vec<WalletBalance>,
}

/// `GET /v1/withdrawals`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithdrawalList {
    pub withdrawals: Vec<Withdrawal>,
}

/// Every error reply: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable, machine-readable: clients branch on this, never on `message`.
    pub code: String,
    /// For people: what happened and what to do.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_events_round_trip() {
        for status in WithdrawalStatus::ALL {
            assert_eq!(status.as_str().parse::<WithdrawalStatus>(), Ok(status));
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
        }
        for method in [ApprovalMethod::Manual, ApprovalMethod::AutoRule] {
            assert_eq!(ApprovalMethod::parse(method.as_str()), Some(method));
            assert_eq!(
                serde_json::to_string(&method).unwrap(),
                format!("\"{}\"", method.as_str())
            );
        }
    }

    #[test]
    fn requests_refuse_unknown_fields() {
        let good = r#"{"customer_id":"c1","wallet":"hot","destination":"bcrt1q","amount_sat":1000}"#;
        let parsed: NewWithdrawal = serde_json::from_str(good).unwrap();
        assert_eq!(parsed.amount_sat, Amount::from_sat(1000));
        let extra =
            r#"{"customer_id":"c1","wallet":"hot","destination":"bcrt1q","amount_sat":1000,"fee_sat":0}"#;
        assert!(serde_json::from_str::<NewWithdrawal>(extra).is_err());
        assert!(serde_json::from_str::<ApproveWithdrawal>(r#"{"force":true}"#).is_err());
        assert!(serde_json::from_str::<RejectWithdrawal>(r#"{"reason":"x","by":"y"}"#).is_err());
    }

    #[test]
    fn amounts_travel_as_satoshis() {
        let body = serde_json::to_value(NewWithdrawal {
            customer_id: "c".into(),
            wallet: "w".into(),
            destination: "d".into(),
            amount_sat: Amount::from_btc(0.5).unwrap(),
        })
        .unwrap();
        assert_eq!(body["amount_sat"], 50_000_000);
        assert!(serde_json::from_str::<NewWithdrawal>(
            r#"{"customer_id":"c","wallet":"w","destination":"d","amount_sat":-1}"#
        )
        .is_err());
    }
}

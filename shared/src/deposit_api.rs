//! The staff API's deposit messages: the deposit ledger and the issued addresses, as the
//! coordinator serves them and the shadow (issue 11 item 6) reads them to cross-check
//! the chain, and the bodies of compliance's requests. Amounts are in satoshis, times
//! are Unix seconds.

use serde::{Deserialize, Serialize};

/// `POST /v1/deposit-addresses` (requester).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueDepositAddress {
    pub wallet: String,
    pub customer_id: String,
}

/// One deposit address: the shadow derives `address` itself from the deposit descriptor
/// at `derivation_index` (receive branch) and raises an alarm if they differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositAddress {
    pub wallet: String,
    pub derivation_index: u32,
    pub address: String,
    /// `None`: issued to no one (the monitor found a payment to it in the gap window).
    pub customer_id: Option<String>,
    pub issued_by: Option<String>,
    pub issued_at: i64,
}

/// `GET /v1/deposit-addresses[?wallet=W&customer=C]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositAddressList {
    pub addresses: Vec<DepositAddress>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositEvent {
    pub kind: String,
    pub actor: String,
    pub note: String,
    pub recorded_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositTag {
    /// `blocklist`, `amount_threshold`, `kyc`, `manual`.
    pub rule: String,
    pub detail: String,
    pub tagged_by: String,
    pub tagged_at: i64,
}

/// One deposit in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deposit {
    pub id: u64,
    pub txid: String,
    pub vout: u32,
    pub wallet: String,
    pub derivation_index: u32,
    pub address: String,
    pub customer_id: Option<String>,
    pub amount_sat: u64,
    /// `pending`, `credited`, `reversed`, `tagged` or `unassigned`.
    pub status: String,
    /// `None` while the deposit is in no block of the coordinator's active chain.
    pub block_height: Option<u32>,
    pub block_hash: Option<String>,
    /// With the monitor's applied tip.
    pub confirmations: u32,
    pub first_seen_at: i64,
    pub updated_at: i64,
    pub tags: Vec<DepositTag>,
    pub history: Vec<DepositEvent>,
}

/// `GET /v1/deposits[?status=S&customer=C&limit=N]`, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositList {
    pub deposits: Vec<Deposit>,
}

/// A payment to a deposit address in a transaction still in the node's mempool: shown as
/// pending, never credited, and gone from this list once the transaction is mined (then it
/// is in the ledger), replaced or evicted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnconfirmedDeposit {
    pub txid: String,
    pub vout: u32,
    pub wallet: String,
    pub derivation_index: u32,
    pub address: String,
    /// `None`: an address of the gap window issued to no one.
    pub customer_id: Option<String>,
    pub amount_sat: u64,
    pub first_seen_at: i64,
}

/// `GET /v1/unconfirmed-deposits[?customer=C]`, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnconfirmedDepositList {
    pub deposits: Vec<UnconfirmedDeposit>,
}

/// `POST /v1/deposits/{id}/tag` (compliance).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagDeposit {
    pub reason: String,
}

/// `POST /v1/kyc` (compliance). `status` is `verified`, `unverified` or `revoked`;
/// `verified_until` (`YYYY-MM-DD`, through that UTC day) only with `verified`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetKyc {
    pub customer_id: String,
    pub status: String,
    #[serde(default)]
    pub verified_until: Option<String>,
    pub note: String,
}

/// `POST /v1/blocklist` (compliance): the file's text, one entry per line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportBlocklist {
    pub source: String,
    pub entries: String,
}

/// `GET /v1/kyc?customer=C`: the status compliance recorded, what it means now
/// (`verified`, `unverified`, `expired`, `revoked`), and its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerKyc {
    pub customer_id: String,
    pub status: String,
    pub verified_until: Option<i64>,
    pub standing: String,
    pub history: Vec<KycEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KycEvent {
    pub status: String,
    pub verified_until: Option<i64>,
    pub actor: String,
    pub note: String,
    pub recorded_at: i64,
}

/// `POST /v1/deposits/{id}/resolutions` (compliance): `action` is `return_to_owner` or
/// `transfer_to_authority`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposeResolution {
    pub action: String,
    pub destination: String,
    pub reason: String,
}

/// `POST /v1/resolutions/{id}/approve` or `/reject` (approver, not the proposer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecideResolution {
    pub note: String,
}

/// A decision about a tagged deposit; `approved` ones are what the shadow may carry out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    pub id: u64,
    pub deposit_id: u64,
    pub action: String,
    pub destination: String,
    pub reason: String,
    pub proposed_by: String,
    pub proposed_at: i64,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub decision_note: Option<String>,
}

/// `GET /v1/resolutions[?deposit=ID]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolutionList {
    pub resolutions: Vec<Resolution>,
}

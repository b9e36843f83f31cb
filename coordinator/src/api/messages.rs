//! Request and reply bodies of the staff routes that only the coordinator's own CLI
//! calls (wallets, signers, sessions, staff, customers, configuration reads): the routes
//! serialise them, the CLI reads them back as the same types. Shapes other crates read
//! (withdrawals, deposits, coins) live in `sluice_shared::api` and `deposit_api`.
//!
//! Field names are those `--json` has always printed, so a script reading the CLI's output
//! reads the API's too.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::db::audit::AdminEvent;
use crate::db::customers::BeneficiaryRecord;
use crate::db::signers::SignerRecord;
use crate::db::staff::StaffRecord;
use crate::service::{SessionSummary, WalletSummary};

/// `GET /v1/wallets`: every wallet, with its descriptors and approval policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletList {
    pub wallets: Vec<WalletView>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletView {
    pub name: String,
    pub wallet_id: String,
    pub kind: String,
    pub receive_descriptor: String,
    pub change_descriptor: String,
    pub daily_limit_sat: u64,
    pub next_receive_index: u32,
    pub next_change_index: u32,
    /// The approval policy in words.
    pub policy: String,
    pub created_at: i64,
}

impl From<&WalletSummary> for WalletView {
    fn from(w: &WalletSummary) -> WalletView {
        let r = &w.record;
        WalletView {
            name: r.name.clone(),
            wallet_id: r.wallet_id.clone(),
            kind: r.kind.clone(),
            receive_descriptor: r.receive_descriptor.clone(),
            change_descriptor: r.change_descriptor.clone(),
            daily_limit_sat: r.daily_limit.to_sat(),
            next_receive_index: r.next_receive_index,
            next_change_index: r.next_change_index,
            policy: w.policy_description.clone(),
            created_at: r.created_at.secs(),
        }
    }
}

/// `POST /v1/receive-addresses`: derive and record a wallet's next receive address.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewReceiveAddress {
    pub wallet: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiveAddress {
    pub wallet: String,
    pub index: u32,
    pub address: String,
}

/// `GET /v1/deposit-wallets`: the wallets marked as deposit wallets.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepositWalletList {
    pub wallets: Vec<DepositWalletView>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepositWalletView {
    pub wallet: String,
    pub marked_by: String,
    pub marked_at: i64,
}

/// `GET /v1/signers`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerList {
    pub signers: Vec<SignerView>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerView {
    pub id: String,
    pub name: String,
    pub identity_key: String,
    pub master_fingerprint: String,
    pub active: bool,
    /// Whether it has a restricted-discovery key (never the key itself).
    pub stealth: bool,
    pub created_at: i64,
    pub created_by: String,
}

impl From<&SignerRecord> for SignerView {
    fn from(s: &SignerRecord) -> SignerView {
        SignerView {
            id: s.id.to_string(),
            name: s.name.clone(),
            identity_key: s.identity_key.to_string(),
            master_fingerprint: s.master_fingerprint.to_string(),
            active: s.active,
            stealth: s.tor_key.is_some(),
            created_at: s.created_at.secs(),
            created_by: s.created_by.clone(),
        }
    }
}

/// `GET /v1/sessions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionList {
    pub sessions: Vec<SessionSummary>,
}

/// `GET /v1/sessions/{id}/psbt`: the session's PSBT as stored, for an offline signer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionPsbt {
    pub session_id: u64,
    pub status: String,
    /// BIP174, base64.
    pub psbt: String,
}

/// `GET /v1/sessions/{id}/history`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionHistory {
    pub session_id: u64,
    pub events: Vec<SessionEventView>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionEventView {
    /// The session of the group the event is about (a fee bump's events name the bump).
    pub session_id: u64,
    pub kind: String,
    pub actor: String,
    pub note: String,
    pub recorded_at: i64,
}

/// `POST /v1/sessions/{id}/bump`'s reply: the replacement session.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionBump {
    pub session_id: u64,
    pub replaces: u64,
    pub root: u64,
    pub txid: String,
    pub old_fee_sat: u64,
    pub fee_sat: u64,
    pub change_sat: u64,
    pub vsize: u64,
}

/// `POST /v1/sessions/{id}/abandon`'s reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionAbandon {
    /// The first session of the group, which the abandon applies to.
    pub session_id: u64,
    pub abandon: String,
}

/// `GET /v1/staff`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffList {
    pub staff: Vec<StaffView>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffView {
    pub name: String,
    pub role: String,
    pub active: bool,
    pub created_at: i64,
    /// None for the admins `init` created.
    pub created_by: Option<String>,
}

impl From<&StaffRecord> for StaffView {
    fn from(m: &StaffRecord) -> StaffView {
        StaffView {
            name: m.name.clone(),
            role: m.role.as_str().to_owned(),
            active: m.active,
            created_at: m.created_at.secs(),
            created_by: m.created_by.clone(),
        }
    }
}

/// `GET /v1/customers`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerList {
    pub customers: Vec<CustomerView>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerView {
    pub id: String,
    /// active or suspended.
    pub status: String,
    pub created_at: i64,
    /// The KYC standing now: verified, unverified, expired or revoked.
    pub kyc_standing: String,
}

/// `POST /v1/customers`, `/v1/customers/suspend`, `/v1/customers/activate`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerRequest {
    pub customer_id: String,
}

/// The reply to a customer change: the customer as it now is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerChanged {
    pub customer_id: String,
    pub status: String,
}

/// `GET /v1/beneficiaries[?customer=C]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BeneficiaryList {
    pub beneficiaries: Vec<BeneficiaryView>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BeneficiaryView {
    pub customer_id: String,
    pub address: String,
    pub label: String,
    pub network: String,
    pub active: bool,
    pub created_at: i64,
}

impl From<&BeneficiaryRecord> for BeneficiaryView {
    fn from(b: &BeneficiaryRecord) -> BeneficiaryView {
        BeneficiaryView {
            customer_id: b.customer_id.clone(),
            address: b.address.clone(),
            label: b.label.clone(),
            network: b.network.clone(),
            active: b.active,
            created_at: b.created_at.secs(),
        }
    }
}

/// `GET /v1/admin-log[?limit=N]`: who changed which configuration, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminLog {
    pub events: Vec<AdminEventView>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminEventView {
    pub recorded_at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub details: Value,
}

impl From<&AdminEvent> for AdminEventView {
    fn from(e: &AdminEvent) -> AdminEventView {
        AdminEventView {
            recorded_at: e.recorded_at.secs(),
            actor: e.actor.clone(),
            action: e.action.clone(),
            subject: e.subject.clone(),
            details: e.details.clone(),
        }
    }
}

/// `GET /v1/webhook-deliveries[?limit=N]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookDeliveries {
    pub deliveries: Vec<crate::db::webhooks::Delivery>,
}

/// `POST /v1/restore-release`: let the processor batch again after a restore.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreRelease {
    /// What was checked against the chain, for the admin log.
    pub note: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreReleased {
    /// False when there was no restore hold to release.
    pub released: bool,
}

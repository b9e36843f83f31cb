//! Deposits, staff side: marking a wallet as a deposit wallet (a proposal), issuing
//! deposit addresses to customers within the gap limit, the deposit ledger and each
//! deposit's history (what the shadow reads over the API), and compliance's tools: KYC
//! status, the blocklist, manual tags. What the monitor records per block is in
//! `deposit_monitor.rs`.

use crate::db::cached::CachedSql;
use rusqlite::Connection;
use serde_json::json;

use super::changes::ChangeContext;
use super::wallets::descriptor_of;
use super::{check_name, require, require_current, Actor, Coordinator, ServiceError};
use crate::db::deposits::{
    self as rows, DepositAddressRecord, DepositEvent, DepositRecord, DepositTag, DepositWalletRecord,
};
use crate::db::kyc::{self, KycEvent};
use crate::db::{audit, customers, wallets, DbError};
use crate::rules::deposits::{
    check_gap, parse_blocklist, AddressPolicy, DepositRefusal, DepositSettings, DepositStatus,
};
use crate::rules::kyc::KycStatus;
use crate::rules::roles::Permission;
use crate::time::UnixTime;
use sluice_shared::deposit_api;
use sluice_shared::descriptor::Branch;

/// The most deposits one listing returns.
pub const MAX_DEPOSIT_LISTING: u32 = 1000;

/// A deposit with its history and why it is tagged.
#[derive(Debug, Clone)]
pub struct DepositDetail {
    pub deposit: DepositRecord,
    /// Confirmations with the monitor's applied tip (0 while not in a block).
    pub confirmations: u32,
    pub events: Vec<DepositEvent>,
    pub tags: Vec<DepositTag>,
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlocklistImport {
    pub added: u32,
    pub already_listed: u32,
    pub active: u32,
}

/// A customer's KYC status as compliance sees it.
#[derive(Debug, Clone)]
pub struct CustomerKyc {
    pub customer: String,
    pub status: KycStatus,
    pub history: Vec<KycEvent>,
}

impl Coordinator {
    /// Hands `customer` a deposit address of `wallet`: under the `per_customer` policy the
    /// one they already have (if any), otherwise the next index, refused once `gap_limit`
    /// issued addresses wait unused.
    pub fn issue_deposit_address(
        &mut self,
        actor: &Actor,
        wallet: &str,
        customer: &str,
        now: UnixTime,
    ) -> Result<DepositAddressRecord, ServiceError> {
        require(actor, Permission::IssueDepositAddress)?;
        let network = self.network();
        let tx = self.db.write()?;
        require_current(&tx, actor, Permission::IssueDepositAddress)?;
        let deposit_wallet = rows::find_wallet(&tx, wallet)?
            .ok_or_else(|| DepositRefusal::NotADepositWallet(wallet.to_owned()))?;
        if customers::find(&tx, customer)?.is_none() {
            return Err(ServiceError::NotFound(format!(
                "customer {customer:?} (an admin adds customers with `customer add`)"
            )));
        }
        let settings = deposit_wallet.settings;
        if settings.address_policy == AddressPolicy::PerCustomer {
            if let Some(existing) = rows::customer_address(&tx, wallet, customer)? {
                return Ok(existing);
            }
        }
        check_gap(wallet, rows::unused_issued(&tx, wallet)?, settings.gap_limit)?;
        let record =
            wallets::find(&tx, wallet)?.ok_or_else(|| ServiceError::UnknownWallet(wallet.to_owned()))?;
        let descriptor = descriptor_of(&record)?;
        // The monitor may have recorded a payment to an index nobody was given yet: skip it.
        let index = loop {
            let index = wallets::take_next_index(&tx, wallet, Branch::Receive)?;
            if rows::address_at(&tx, wallet, index)?.is_none() {
                break index;
            }
        };
        let address = descriptor
            .address(Branch::Receive, index, network)
            .map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let issued = DepositAddressRecord {
            wallet: wallet.to_owned(),
            index,
            address: address.to_string(),
            script_pubkey_hex: hex::encode(address.script_pubkey().as_bytes()),
            customer: Some(customer.to_owned()),
            issued_by: Some(actor.name().to_owned()),
            issued_at: now,
        };
        rows::insert_address(&tx, &issued)?;
        tx.commit()?;
        Ok(issued)
    }

    /// Issued (and found unassigned) deposit addresses with their derivation index.
    pub fn deposit_addresses(
        &mut self,
        actor: &Actor,
        wallet: Option<&str>,
        customer: Option<&str>,
    ) -> Result<Vec<DepositAddressRecord>, ServiceError> {
        require(actor, Permission::ReadDepositLedger)?;
        let tx = self.db.read()?;
        Ok(rows::list_addresses(&tx, wallet, customer)?)
    }

    pub fn deposit_wallets(&mut self, actor: &Actor) -> Result<Vec<DepositWalletRecord>, ServiceError> {
        require(actor, Permission::ReadWithdrawals)?;
        let tx = self.db.read()?;
        Ok(rows::list_wallets(&tx)?)
    }

    /// The deposit ledger, newest first.
    pub fn deposits(
        &mut self,
        actor: &Actor,
        status: Option<DepositStatus>,
        customer: Option<&str>,
        limit: u32,
    ) -> Result<Vec<DepositDetail>, ServiceError> {
        require(actor, Permission::ReadDepositLedger)?;
        let tx = self.db.read()?;
        let tip = crate::db::chain_blocks::tip(&tx)?.map(|(h, _)| h);
        rows::list(&tx, status, customer, limit.min(MAX_DEPOSIT_LISTING))?
            .into_iter()
            .map(|deposit| detail(&tx, deposit, tip))
            .collect()
    }

    pub fn deposit(&mut self, actor: &Actor, id: u64) -> Result<DepositDetail, ServiceError> {
        require(actor, Permission::ReadDepositLedger)?;
        let tx = self.db.read()?;
        let tip = crate::db::chain_blocks::tip(&tx)?.map(|(h, _)| h);
        let deposit = rows::find(&tx, id)?.ok_or_else(|| ServiceError::NotFound(format!("deposit {id}")))?;
        detail(&tx, deposit, tip)
    }

    /// Compliance sets a customer's KYC status, with a note for the history.
    pub fn set_kyc(
        &mut self,
        actor: &Actor,
        customer: &str,
        status: KycStatus,
        note: &str,
        now: UnixTime,
    ) -> Result<(), ServiceError> {
        require(actor, Permission::Compliance)?;
        check_name("note", note, 500)?;
        if let Some(until) = status.until() {
            if until <= now {
                return Err(ServiceError::Invalid(format!(
                    "a verification until {until} would already have run out: give a date in the future"
                )));
            }
        }
        let tx = self.db.write()?;
        require_current(&tx, actor, Permission::Compliance)?;
        if !kyc::set(&tx, customer, status, actor.name(), note, now)? {
            return Err(ServiceError::NotFound(format!("customer {customer:?}")));
        }
        audit::record(
            &tx,
            actor.name(),
            "kyc set",
            customer,
            &json!({
                "kyc_status": status.as_str(),
                "verified_until": status.until().map(|u| u.to_string()),
                "note": note,
            }),
            now,
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn customer_kyc(&mut self, actor: &Actor, customer: &str) -> Result<CustomerKyc, ServiceError> {
        require(actor, Permission::ReadWithdrawals)?;
        let tx = self.db.read()?;
        let status = kyc::status(&tx, customer)?
            .ok_or_else(|| ServiceError::NotFound(format!("customer {customer:?}")))?;
        Ok(CustomerKyc {
            customer: customer.to_owned(),
            status,
            history: kyc::history(&tx, customer)?,
        })
    }

    /// Compliance imports a blocklist file (`source` names it in the audit log). One bad
    /// line refuses the whole file; entries already listed are counted, not duplicated.
    pub fn import_blocklist(
        &mut self,
        actor: &Actor,
        text: &str,
        source: &str,
        now: UnixTime,
    ) -> Result<BlocklistImport, ServiceError> {
        require(actor, Permission::Compliance)?;
        let entries = parse_blocklist(text, self.network())?;
        let tx = self.db.write()?;
        require_current(&tx, actor, Permission::Compliance)?;
        let mut outcome = BlocklistImport {
            added: 0,
            already_listed: 0,
            active: 0,
        };
        for (entry, note) in &entries {
            let note = if note.is_empty() { source } else { note.as_str() };
            if rows::blocklist_add(&tx, entry, note, actor.name(), now)? {
                outcome.added += 1;
            } else {
                outcome.already_listed += 1;
            }
        }
        outcome.active = rows::blocklist_len(&tx)?;
        audit::record(
            &tx,
            actor.name(),
            "blocklist import",
            source,
            &json!({ "added": outcome.added, "already_listed": outcome.already_listed }),
            now,
        )?;
        tx.commit()?;
        Ok(outcome)
    }

    /// Compliance tags a deposit by hand: it is quarantined from now on. A credited
    /// deposit loses its credit (the history says so; the exchange debits the customer).
    pub fn tag_deposit(
        &mut self,
        actor: &Actor,
        id: u64,
        reason: &str,
        now: UnixTime,
    ) -> Result<(), ServiceError> {
        require(actor, Permission::Compliance)?;
        check_name("reason", reason, 500)?;
        let tx = self.db.write()?;
        require_current(&tx, actor, Permission::Compliance)?;
        let deposit = rows::find(&tx, id)?.ok_or_else(|| ServiceError::NotFound(format!("deposit {id}")))?;
        let note = match deposit.status {
            DepositStatus::Tagged => return Err(DepositRefusal::AlreadyTagged(id).into()),
            DepositStatus::Reversed => return Err(DepositRefusal::Reversed(id).into()),
            DepositStatus::Credited => {
                format!("tagged by {}: {reason}; its credit is withdrawn", actor.name())
            }
            DepositStatus::Pending | DepositStatus::Unassigned => {
                format!("tagged by {}: {reason}", actor.name())
            }
        };
        rows::insert_tag(&tx, id, "manual", reason, actor.name(), now)?;
        if !rows::transition(&tx, id, deposit.status, DepositStatus::Tagged, now)? {
            return Err(DbError::Corrupt(format!("deposit {id} changed under a write transaction")).into());
        }
        rows::insert_event(&tx, id, "tagged", actor.name(), &note, now)?;
        audit::record(
            &tx,
            actor.name(),
            "deposit tag",
            &deposit.outpoint.to_string(),
            &json!({ "deposit": id, "reason": reason, "was": deposit.status.as_str() }),
            now,
        )?;
        tx.commit()?;
        Ok(())
    }
}

fn detail(
    conn: &Connection,
    deposit: DepositRecord,
    tip: Option<u32>,
) -> Result<DepositDetail, ServiceError> {
    let confirmations = match (deposit.block, tip) {
        (Some((height, _)), Some(tip)) => crate::rules::deposits::confirmations(height, tip),
        _ => 0,
    };
    Ok(DepositDetail {
        events: rows::events(conn, deposit.id)?,
        tags: rows::tags(conn, deposit.id)?,
        confirmations,
        deposit,
    })
}

/// Marks a wallet as a deposit wallet or changes its settings (the approved
/// `deposit wallet` proposal). Only a wallet that never handed out an address, held a
/// coin or paid a withdrawal can become one: from then on its coins are the shadow's.
pub(super) fn deposit_wallet_set(
    conn: &Connection,
    ctx: &ChangeContext<'_>,
    wallet: &str,
    settings: &DepositSettings,
) -> Result<(), ServiceError> {
    settings.validate()?;
    let record =
        wallets::find(conn, wallet)?.ok_or_else(|| ServiceError::UnknownWallet(wallet.to_owned()))?;
    let existing = rows::find_wallet(conn, wallet)?;
    if existing.is_none() {
        let used: bool = conn.query_row_cached(
            "SELECT EXISTS (SELECT 1 FROM wallet_addresses WHERE wallet = ?1) \
             OR EXISTS (SELECT 1 FROM utxos WHERE wallet = ?1) \
             OR EXISTS (SELECT 1 FROM withdrawals WHERE wallet = ?1)",
            [wallet],
            |r| r.get(0),
        )?;
        if used {
            return Err(ServiceError::Conflict(format!(
                "wallet {wallet:?} already handed out addresses, held coins or paid withdrawals: the coordinator \
                 spends it, so it cannot become a deposit wallet. Create a new wallet from the shadow's keys"
            )));
        }
    }
    // The descriptor must still derive (public keys only: nothing to check about keys).
    descriptor_of(&record)?;
    rows::set_wallet(conn, wallet, settings, ctx.proposer, ctx.now)?;
    audit::record(
        conn,
        ctx.proposer,
        if existing.is_some() {
            "deposit wallet settings"
        } else {
            "deposit wallet mark"
        },
        wallet,
        &json!({
            "address_policy": settings.address_policy.as_str(),
            "gap_limit": settings.gap_limit,
            "credit_confirmations": settings.credit_confirmations,
            "tag_above_sat": settings.tag_above_sat.map(|a| a.to_sat()),
        }),
        ctx.now,
    )?;
    Ok(())
}

impl DepositDetail {
    /// The ledger entry as the staff API (and the shadow) sees it.
    pub fn to_api(&self) -> deposit_api::Deposit {
        let d = &self.deposit;
        deposit_api::Deposit {
            id: d.id,
            txid: d.outpoint.txid.to_string(),
            vout: d.outpoint.vout,
            wallet: d.wallet.clone(),
            derivation_index: d.index,
            address: d.address.clone(),
            customer_id: d.customer.clone(),
            amount_sat: d.amount.to_sat(),
            status: d.status.as_str().to_owned(),
            block_height: d.block.map(|(h, _)| h),
            block_hash: d.block.map(|(_, hash)| hash.to_string()),
            confirmations: self.confirmations,
            first_seen_at: d.first_seen_at.secs(),
            updated_at: d.updated_at.secs(),
            tags: self
                .tags
                .iter()
                .map(|t| deposit_api::DepositTag {
                    rule: t.rule.clone(),
                    detail: t.detail.clone(),
                    tagged_by: t.tagged_by.clone(),
                    tagged_at: t.tagged_at.secs(),
                })
                .collect(),
            history: self
                .events
                .iter()
                .map(|e| deposit_api::DepositEvent {
                    kind: e.kind.clone(),
                    actor: e.actor.clone(),
                    note: e.note.clone(),
                    recorded_at: e.recorded_at.secs(),
                })
                .collect(),
        }
    }
}

/// An issued address as the staff API (and the shadow) sees it.
pub fn address_to_api(record: &DepositAddressRecord) -> deposit_api::DepositAddress {
    deposit_api::DepositAddress {
        wallet: record.wallet.clone(),
        derivation_index: record.index,
        address: record.address.clone(),
        customer_id: record.customer.clone(),
        issued_by: record.issued_by.clone(),
        issued_at: record.issued_at.secs(),
    }
}

/// A KYC status from its words: `verified` (optionally until `YYYY-MM-DD`, through that
/// UTC day), `unverified` or `revoked`.
pub fn kyc_status_from_words(status: &str, until: Option<&str>) -> Result<KycStatus, ServiceError> {
    let until = until
        .map(|text| {
            UnixTime::end_of_utc_date(text)
                .ok_or_else(|| ServiceError::Invalid(format!("{text:?} is not a date: use YYYY-MM-DD")))
        })
        .transpose()?;
    match (status, until) {
        ("verified", until) => Ok(KycStatus::Verified { until }),
        ("unverified", None) => Ok(KycStatus::Unverified),
        ("revoked", None) => Ok(KycStatus::Revoked),
        ("unverified" | "revoked", Some(_)) => Err(ServiceError::Invalid(
            "a date goes only with status verified (verified until that date)".to_owned(),
        )),
        (other, _) => Err(ServiceError::Invalid(format!(
            "unknown KYC status {other:?}: use verified, unverified or revoked"
        ))),
    }
}

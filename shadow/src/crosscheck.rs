//! The cross-check itself, pure: what the coordinator says (issued addresses, the deposit
//! ledger) against what the shadow derives (addresses from the deposit descriptor it was
//! configured with) and what its own node shows (payments to those addresses). Takes
//! values, returns the alarms; no I/O, no clock.

use std::collections::BTreeMap;
use std::fmt;

use bitcoin::{Amount, Network, OutPoint};
use serde::Serialize;
use sluice_shared::deposit_api::{Deposit, DepositAddress};
use sluice_shared::descriptor::{Branch, WalletDescriptor};

/// A payment to a deposit address, as the shadow's own node shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainDeposit {
    pub outpoint: OutPoint,
    /// Receive index of the deposit descriptor whose address it pays.
    pub index: u32,
    pub amount: Amount,
    /// 0 while unconfirmed.
    pub confirmations: u32,
}

/// What the cross-check needs besides the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckRules {
    pub network: Network,
    /// Confirmations after which a deposit must be credited (the coordinator's setting,
    /// confirmed by the shadow operator at setup).
    pub credit_confirmations: u32,
    /// Blocks the coordinator's monitor may lag behind the shadow's node before a
    /// missing or uncredited deposit is an alarm.
    pub lag_blocks: u32,
}

/// One mismatch. Each is a reason to stop trusting the coordinator until a person looks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Alarm {
    /// The coordinator issued an address that is not the deposit descriptor's at the
    /// recorded index: a customer may be paying someone else.
    SubstitutedAddress {
        index: u32,
        issued: String,
        derived: String,
        customer: Option<String>,
    },
    /// A ledger entry names an address that is not the descriptor's at its index.
    LedgerAddressMismatch {
        deposit_id: u64,
        index: u32,
        recorded: String,
        derived: String,
    },
    /// The chain shows a confirmed payment to a deposit address that the ledger lacks.
    HiddenDeposit {
        outpoint: String,
        index: u32,
        amount_sat: u64,
        confirmations: u32,
    },
    /// The ledger and the chain disagree on a deposit's amount.
    AmountMismatch {
        deposit_id: u64,
        outpoint: String,
        ledger_sat: u64,
        chain_sat: u64,
    },
    /// The ledger credits a deposit the chain does not show confirmed (a fake credit).
    CreditNotOnChain {
        deposit_id: u64,
        outpoint: String,
        amount_sat: u64,
    },
    /// The ledger credits a deposit with fewer confirmations than crediting needs.
    CreditTooEarly {
        deposit_id: u64,
        outpoint: String,
        confirmations: u32,
        needed: u32,
    },
    /// The chain shows a deposit deep enough to be credited that the ledger leaves
    /// pending or reversed.
    NotCredited {
        deposit_id: u64,
        outpoint: String,
        status: String,
        confirmations: u32,
    },
    /// The ledger answer held as many entries as one listing can: the shadow cannot see
    /// all of it, so it cannot vouch for it.
    LedgerTruncated { entries: usize },
    /// The shadow could not ask (node or coordinator unreachable, or an answer it cannot
    /// read): nothing was checked.
    CheckFailed { reason: String },
    /// The coordinator refuses to give an audit head because its own check of the audit
    /// chain failed (an entry edited, deleted, inserted or reordered).
    AuditChainBroken { reason: String },
    /// The audit log now ends before a head the shadow kept: entries were cut off the end.
    AuditLogTruncated { kept_seq: i64, now_seq: i64 },
    /// The audit log no longer passes through a head the shadow kept (same number,
    /// different entry): it was rewritten from there on, which needs the audit key.
    AuditLogRewritten { seq: i64 },
    /// The audit head is signed by another key than the heads kept before.
    AuditKeyChanged { kept_key: String, now_key: String },
    /// An audit head from the coordinator that does not check out (bad signature,
    /// malformed).
    AuditHeadInvalid { reason: String },
}

impl Alarm {
    pub fn code(&self) -> &'static str {
        match self {
            Alarm::SubstitutedAddress { .. } => "substituted_address",
            Alarm::LedgerAddressMismatch { .. } => "ledger_address_mismatch",
            Alarm::HiddenDeposit { .. } => "hidden_deposit",
            Alarm::AmountMismatch { .. } => "amount_mismatch",
            Alarm::CreditNotOnChain { .. } => "credit_not_on_chain",
            Alarm::CreditTooEarly { .. } => "credit_too_early",
            Alarm::NotCredited { .. } => "not_credited",
            Alarm::LedgerTruncated { .. } => "ledger_truncated",
            Alarm::CheckFailed { .. } => "check_failed",
            Alarm::AuditChainBroken { .. } => "audit_chain_broken",
            Alarm::AuditLogTruncated { .. } => "audit_log_truncated",
            Alarm::AuditLogRewritten { .. } => "audit_log_rewritten",
            Alarm::AuditKeyChanged { .. } => "audit_key_changed",
            Alarm::AuditHeadInvalid { .. } => "audit_head_invalid",
        }
    }
}

impl fmt::Display for Alarm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Alarm::SubstitutedAddress {
                index,
                issued,
                derived,
                customer,
            } => write!(
                f,
                "the coordinator issued {issued} as deposit address {index} (customer {}), but the deposit descriptor gives {derived} there: stop issuing addresses, tell customers not to pay it, investigate the coordinator",
                customer.as_deref().unwrap_or("none")
            ),
            Alarm::LedgerAddressMismatch {
                deposit_id,
                index,
                recorded,
                derived,
            } => write!(
                f,
                "deposit {deposit_id} is recorded at {recorded} (index {index}), but the descriptor gives {derived}: the ledger was altered"
            ),
            Alarm::HiddenDeposit {
                outpoint,
                index,
                amount_sat,
                confirmations,
            } => write!(
                f,
                "{outpoint} pays {amount_sat} sat to deposit address {index} ({confirmations} confirmations), but the coordinator's ledger does not list it"
            ),
            Alarm::AmountMismatch {
                deposit_id,
                outpoint,
                ledger_sat,
                chain_sat,
            } => write!(
                f,
                "deposit {deposit_id} ({outpoint}) is {ledger_sat} sat in the ledger but {chain_sat} sat on chain"
            ),
            Alarm::CreditNotOnChain {
                deposit_id,
                outpoint,
                amount_sat,
            } => write!(
                f,
                "deposit {deposit_id} ({outpoint}, {amount_sat} sat) is credited, but the chain shows no confirmed payment to a deposit address there: a fake credit"
            ),
            Alarm::CreditTooEarly {
                deposit_id,
                outpoint,
                confirmations,
                needed,
            } => write!(
                f,
                "deposit {deposit_id} ({outpoint}) is credited with {confirmations} confirmations; crediting needs {needed}"
            ),
            Alarm::NotCredited {
                deposit_id,
                outpoint,
                status,
                confirmations,
            } => write!(
                f,
                "deposit {deposit_id} ({outpoint}) has {confirmations} confirmations but the ledger says {status}"
            ),
            Alarm::LedgerTruncated { entries } => write!(
                f,
                "the ledger answer held {entries} entries, as many as one listing gives: the shadow cannot see the rest"
            ),
            Alarm::CheckFailed { reason } => write!(f, "the cross-check could not run: {reason}"),
            Alarm::AuditChainBroken { reason } => write!(
                f,
                "the coordinator's audit log is broken ({reason}): someone changed the coordinator's database; investigate before trusting anything it says"
            ),
            Alarm::AuditLogTruncated { kept_seq, now_seq } => write!(
                f,
                "the coordinator's audit log ends at entry {now_seq}, but the shadow kept its head at entry {kept_seq}: entries were removed from the end; `sluice-shadow audit-head` exports the kept head for `sluice-coordinator audit verify --head`"
            ),
            Alarm::AuditLogRewritten { seq } => write!(
                f,
                "the coordinator's audit entry {seq} is not the one the shadow kept: the log was rewritten from there on (with the audit key); treat the coordinator's host as compromised"
            ),
            Alarm::AuditKeyChanged { kept_key, now_key } => write!(
                f,
                "the coordinator's audit head is signed by key {now_key}, but the heads the shadow kept are signed by {kept_key}: the audit key was replaced"
            ),
            Alarm::AuditHeadInvalid { reason } => {
                write!(f, "the coordinator sent an audit head that does not check out: {reason}")
            }
        }
    }
}

/// What a check found, besides the alarms: counts for the operator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckSummary {
    pub issued_addresses: usize,
    pub ledger_deposits: usize,
    pub chain_deposits: usize,
    /// Ledger deposits credited and confirmed as such on chain.
    pub confirmed_credits: usize,
}

/// Compares the coordinator's word with the descriptor and the chain.
///
/// `wallet` names the deposit wallet on the coordinator; entries of other wallets are
/// not the shadow's to judge. `listing_limit` is the most entries one ledger answer can
/// hold.
pub fn cross_check(
    descriptor: &WalletDescriptor,
    wallet: &str,
    rules: &CheckRules,
    issued: &[DepositAddress],
    ledger: &[Deposit],
    chain: &[ChainDeposit],
    listing_limit: usize,
) -> (CheckSummary, Vec<Alarm>) {
    let mut alarms = Vec::new();
    let derive = |index: u32| {
        descriptor
            .address(Branch::Receive, index, rules.network)
            .map(|a| a.to_string())
            .unwrap_or_else(|e| format!("<cannot derive: {e}>"))
    };
    let issued: Vec<&DepositAddress> = issued.iter().filter(|a| a.wallet == wallet).collect();
    for address in &issued {
        let derived = derive(address.derivation_index);
        if address.address != derived {
            alarms.push(Alarm::SubstitutedAddress {
                index: address.derivation_index,
                issued: address.address.clone(),
                derived,
                customer: address.customer_id.clone(),
            });
        }
    }
    if ledger.len() >= listing_limit {
        alarms.push(Alarm::LedgerTruncated {
            entries: ledger.len(),
        });
    }
    let ledger: Vec<&Deposit> = ledger.iter().filter(|d| d.wallet == wallet).collect();
    let on_chain: BTreeMap<String, &ChainDeposit> =
        chain.iter().map(|c| (c.outpoint.to_string(), c)).collect();
    let mut in_ledger = BTreeMap::new();
    let mut confirmed_credits = 0;
    for deposit in &ledger {
        let outpoint = format!("{}:{}", deposit.txid, deposit.vout);
        in_ledger.insert(outpoint.clone(), *deposit);
        let derived = derive(deposit.derivation_index);
        if deposit.address != derived {
            alarms.push(Alarm::LedgerAddressMismatch {
                deposit_id: deposit.id,
                index: deposit.derivation_index,
                recorded: deposit.address.clone(),
                derived,
            });
        }
        let seen = on_chain.get(&outpoint).filter(|c| c.confirmations > 0);
        if let Some(seen) = seen {
            if seen.amount.to_sat() != deposit.amount_sat {
                alarms.push(Alarm::AmountMismatch {
                    deposit_id: deposit.id,
                    outpoint: outpoint.clone(),
                    ledger_sat: deposit.amount_sat,
                    chain_sat: seen.amount.to_sat(),
                });
            }
        }
        match (deposit.status.as_str(), seen) {
            ("credited", None) => alarms.push(Alarm::CreditNotOnChain {
                deposit_id: deposit.id,
                outpoint,
                amount_sat: deposit.amount_sat,
            }),
            ("credited", Some(seen)) if seen.confirmations < rules.credit_confirmations => {
                alarms.push(Alarm::CreditTooEarly {
                    deposit_id: deposit.id,
                    outpoint,
                    confirmations: seen.confirmations,
                    needed: rules.credit_confirmations,
                })
            }
            ("credited", Some(_)) => confirmed_credits += 1,
            (status @ ("pending" | "reversed"), Some(seen))
                if seen.confirmations >= rules.credit_confirmations.saturating_add(rules.lag_blocks) =>
            {
                alarms.push(Alarm::NotCredited {
                    deposit_id: deposit.id,
                    outpoint,
                    status: status.to_owned(),
                    confirmations: seen.confirmations,
                })
            }
            _ => {}
        }
    }
    for seen in chain {
        let outpoint = seen.outpoint.to_string();
        if !in_ledger.contains_key(&outpoint)
            && seen.confirmations >= rules.credit_confirmations.max(1).saturating_add(rules.lag_blocks)
        {
            alarms.push(Alarm::HiddenDeposit {
                outpoint,
                index: seen.index,
                amount_sat: seen.amount.to_sat(),
                confirmations: seen.confirmations,
            });
        }
    }
    let summary = CheckSummary {
        issued_addresses: issued.len(),
        ledger_deposits: ledger.len(),
        chain_deposits: chain.iter().filter(|c| c.confirmations > 0).count(),
        confirmed_credits,
    };
    (summary, alarms)
}

#[cfg(test)]
#[path = "crosscheck_tests.rs"]
mod tests;

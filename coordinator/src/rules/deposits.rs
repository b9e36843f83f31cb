//! Deposit decisions as pure functions: a deposit wallet's settings, the gap limit on
//! issuing addresses, when a deposit is credited, and the tagging rules evaluated when a
//! deposit is first seen (blocklisted source, amount above the threshold, customer not
//! KYC-verified, address issued to no one). A tagged deposit is quarantined: never
//! credited, never the coordinator's to spend.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use bitcoin::address::NetworkUnchecked;
use bitcoin::{Address, Amount, CompressedPublicKey, Network, OutPoint, PublicKey, ScriptBuf, TxIn, Txid};
use serde::{Deserialize, Serialize};
use sluice_shared::asset::format_btc;

use super::kyc::KycStanding;

/// Largest gap limit and confirmation count a deposit wallet may be given.
pub const MAX_GAP_LIMIT: u32 = 1000;
pub const MAX_CREDIT_CONFIRMATIONS: u32 = 1000;

/// Whether a customer asking again gets a new address or the one they already have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressPolicy {
    PerRequest,
    PerCustomer,
}

impl AddressPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressPolicy::PerRequest => "per_request",
            AddressPolicy::PerCustomer => "per_customer",
        }
    }

    pub fn from_stored(text: &str) -> Option<AddressPolicy> {
        match text {
            "per_request" => Some(AddressPolicy::PerRequest),
            "per_customer" => Some(AddressPolicy::PerCustomer),
            _ => None,
        }
    }
}

impl FromStr for AddressPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AddressPolicy::from_stored(&s.replace('-', "_"))
            .ok_or_else(|| format!("unknown address policy {s:?}: use per-request or per-customer"))
    }
}

/// Where a deposit stands. `tagged` is quarantine and final here: only a resolution
/// (spent by the shadow) takes the coins away; nothing makes them creditable again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DepositStatus {
    /// In a block, fewer confirmations than the wallet credits at.
    Pending,
    /// Credited to the customer.
    Credited,
    /// Its block left the chain (a reorg): any credit is taken back.
    Reversed,
    /// Quarantined: never credited, never spent by the coordinator.
    Tagged,
    /// Paid to a deposit-wallet address issued to no one: nobody to credit.
    Unassigned,
}

impl DepositStatus {
    pub const ALL: [DepositStatus; 5] = [
        DepositStatus::Pending,
        DepositStatus::Credited,
        DepositStatus::Reversed,
        DepositStatus::Tagged,
        DepositStatus::Unassigned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DepositStatus::Pending => "pending",
            DepositStatus::Credited => "credited",
            DepositStatus::Reversed => "reversed",
            DepositStatus::Tagged => "tagged",
            DepositStatus::Unassigned => "unassigned",
        }
    }
}

impl FromStr for DepositStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DepositStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| {
                format!("unknown deposit status {s:?}: use pending, credited, reversed, tagged or unassigned")
            })
    }
}

impl fmt::Display for DepositStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a deposit wallet issues addresses and treats what arrives. Set through a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepositSettings {
    pub address_policy: AddressPolicy,
    /// Refuse to issue when this many issued addresses have received nothing yet; also
    /// how far past the last issued index the monitor looks for payments to addresses
    /// issued to no one.
    pub gap_limit: u32,
    /// Confirmations after which an untagged deposit is credited.
    pub credit_confirmations: u32,
    /// Deposits above this amount are tagged for review (`None`: no threshold).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "bitcoin::amount::serde::as_sat::opt"
    )]
    pub tag_above_sat: Option<Amount>,
}

impl DepositSettings {
    pub fn validate(&self) -> Result<(), DepositRefusal> {
        if !(1..=MAX_GAP_LIMIT).contains(&self.gap_limit) {
            return Err(DepositRefusal::BadSettings(format!(
                "gap limit {} is outside 1 to {MAX_GAP_LIMIT}",
                self.gap_limit
            )));
        }
        if !(1..=MAX_CREDIT_CONFIRMATIONS).contains(&self.credit_confirmations) {
            return Err(DepositRefusal::BadSettings(format!(
                "credit confirmations {} is outside 1 to {MAX_CREDIT_CONFIRMATIONS}",
                self.credit_confirmations
            )));
        }
        if self.tag_above_sat == Some(Amount::ZERO)
            || self.tag_above_sat.is_some_and(|a| a > Amount::MAX_MONEY)
        {
            return Err(DepositRefusal::BadSettings(
                "the tagging threshold must be above zero and at most all bitcoin".to_owned(),
            ));
        }
        Ok(())
    }

    pub fn describe(&self) -> String {
        format!(
            "addresses {}, gap limit {}, credit after {} confirmation(s), tag deposits above {}",
            match self.address_policy {
                AddressPolicy::PerRequest => "new per request",
                AddressPolicy::PerCustomer => "one per customer",
            },
            self.gap_limit,
            self.credit_confirmations,
            self.tag_above_sat
                .map(format_btc)
                .unwrap_or_else(|| "no threshold".to_owned())
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DepositRefusal {
    #[error("wallet {0:?} is not a deposit wallet: an admin marks one with `deposit wallet --wallet NAME` (a proposal)")]
    NotADepositWallet(String),
    #[error(
        "gap limit reached: wallet {wallet:?} has {unused} issued address(es) that received nothing yet \
         (limit {gap_limit}). Payments beyond the gap would be missed by wallets that rescan; wait for \
         deposits to arrive or have an admin raise the gap limit"
    )]
    GapLimit {
        wallet: String,
        unused: u32,
        gap_limit: u32,
    },
    #[error("invalid deposit wallet settings: {0}")]
    BadSettings(String),
    #[error("blocklist line {line}: {reason}")]
    BadBlocklistEntry { line: usize, reason: String },
    #[error("deposit {0} is already tagged")]
    AlreadyTagged(u64),
    #[error("deposit {0} was reversed by a reorg: there is nothing to tag until it is seen again")]
    Reversed(u64),
    #[error("deposit {0} is not tagged: only a tagged deposit gets a resolution")]
    NotTagged(u64),
}

impl DepositRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            DepositRefusal::NotADepositWallet(_) => "not_a_deposit_wallet",
            DepositRefusal::GapLimit { .. } => "gap_limit",
            DepositRefusal::BadSettings(_) => "invalid_deposit_settings",
            DepositRefusal::BadBlocklistEntry { .. } => "invalid_blocklist",
            DepositRefusal::AlreadyTagged(_) => "already_tagged",
            DepositRefusal::Reversed(_) => "deposit_reversed",
            DepositRefusal::NotTagged(_) => "not_tagged",
        }
    }
}

/// Issuing one more address is refused when `unused` issued addresses already wait.
pub fn check_gap(wallet: &str, unused: u32, gap_limit: u32) -> Result<(), DepositRefusal> {
    if unused >= gap_limit {
        return Err(DepositRefusal::GapLimit {
            wallet: wallet.to_owned(),
            unused,
            gap_limit,
        });
    }
    Ok(())
}

/// Confirmations of something in the block at `height` with the chain's tip at `tip`.
pub fn confirmations(height: u32, tip: u32) -> u32 {
    (tip + 1).saturating_sub(height)
}

/// One entry of the blocklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlocklistEntry {
    Outpoint(OutPoint),
    /// Every output of this transaction.
    Txid(Txid),
    /// Canonical form (lowercase bech32).
    Address(String),
}

impl BlocklistEntry {
    pub fn kind(&self) -> &'static str {
        match self {
            BlocklistEntry::Outpoint(_) => "outpoint",
            BlocklistEntry::Txid(_) => "txid",
            BlocklistEntry::Address(_) => "address",
        }
    }

    pub fn key(&self) -> String {
        match self {
            BlocklistEntry::Outpoint(o) => o.to_string(),
            BlocklistEntry::Txid(t) => t.to_string(),
            BlocklistEntry::Address(a) => a.clone(),
        }
    }

    /// `TXID:VOUT`, `TXID` or an address for `network`.
    pub fn parse(text: &str, network: Network) -> Result<BlocklistEntry, String> {
        if let Ok(outpoint) = OutPoint::from_str(text) {
            return Ok(BlocklistEntry::Outpoint(outpoint));
        }
        if text.len() == 64 {
            if let Ok(txid) = Txid::from_str(text) {
                return Ok(BlocklistEntry::Txid(txid));
            }
        }
        let address = Address::<NetworkUnchecked>::from_str(text)
            .map_err(|_| format!("{text:?} is neither TXID:VOUT, a TXID nor an address"))?;
        if !address.is_valid_for_network(network) {
            return Err(format!("address {text} is not for this coordinator's network"));
        }
        Ok(BlocklistEntry::Address(address.assume_checked().to_string()))
    }
}

/// An imported list: one entry per line, text after `#` is a comment, blank lines
/// ignored, `ENTRY  # note` keeps the note. Any bad line refuses the whole file.
pub fn parse_blocklist(
    text: &str,
    network: Network,
) -> Result<Vec<(BlocklistEntry, String)>, DepositRefusal> {
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let (entry, note) = match line.split_once('#') {
            Some((entry, note)) => (entry.trim(), note.trim()),
            None => (line.trim(), ""),
        };
        if entry.is_empty() {
            continue;
        }
        let parsed = BlocklistEntry::parse(entry, network)
            .map_err(|reason| DepositRefusal::BadBlocklistEntry { line: i + 1, reason })?;
        entries.push((parsed, note.to_owned()));
    }
    Ok(entries)
}

/// The active blocklist, for the monitor.
#[derive(Debug, Clone, Default)]
pub struct Blocklist {
    pub outpoints: HashSet<OutPoint>,
    pub txids: HashSet<Txid>,
    pub addresses: HashSet<String>,
}

impl Blocklist {
    pub fn insert(&mut self, entry: BlocklistEntry) {
        match entry {
            BlocklistEntry::Outpoint(o) => {
                self.outpoints.insert(o);
            }
            BlocklistEntry::Txid(t) => {
                self.txids.insert(t);
            }
            BlocklistEntry::Address(a) => {
                self.addresses.insert(a);
            }
        }
    }
}

/// The address an input spends from, when the input itself reveals it: P2WPKH (witness
/// `[signature, key]`), P2SH-P2WPKH and P2PKH (script `[signature, key]`). Other inputs
/// (taproot, multisig) name no address without their previous transaction; the
/// blocklist catches those by outpoint or txid.
pub fn source_address(input: &TxIn, network: Network) -> Option<Address> {
    let witness: Vec<&[u8]> = input.witness.iter().collect();
    let pushes: Vec<Vec<u8>> = input
        .script_sig
        .instructions()
        .map(|i| i.ok().and_then(|i| i.push_bytes().map(|p| p.as_bytes().to_vec())))
        .collect::<Option<Vec<_>>>()?;
    match (witness.as_slice(), pushes.as_slice()) {
        ([_, key], []) => {
            let key = CompressedPublicKey::from_slice(key).ok()?;
            Some(Address::p2wpkh(&key, network))
        }
        ([_, key], [redeem]) => {
            let key = CompressedPublicKey::from_slice(key).ok()?;
            let expected = ScriptBuf::new_p2wpkh(&key.wpubkey_hash());
            (expected.as_bytes() == redeem.as_slice()).then(|| Address::p2shwpkh(&key, network))
        }
        ([], [_, key]) => {
            let key = PublicKey::from_slice(key).ok()?;
            Some(Address::p2pkh(key, network))
        }
        _ => None,
    }
}

/// Why a deposit is tagged: the rule and what matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagReason {
    /// `blocklist`, `amount_threshold`, `kyc`, `unassigned` or `manual` (`deposit_tags.rule`).
    pub rule: &'static str,
    pub detail: String,
}

/// What the monitor knows about a deposit when it first sees it.
#[derive(Debug, Clone, Copy)]
pub struct DepositFacts<'a> {
    pub amount: Amount,
    /// The customer's KYC standing now; `None` when the address was issued to no one.
    pub customer_kyc: Option<KycStanding>,
    /// The deposit transaction's inputs.
    pub inputs: &'a [TxIn],
    pub network: Network,
}

/// The rules evaluated when a deposit is first seen. Empty: nothing matched.
pub fn tag_rules(
    facts: &DepositFacts<'_>,
    settings: &DepositSettings,
    blocklist: &Blocklist,
) -> Vec<TagReason> {
    let mut reasons = Vec::new();
    for input in facts.inputs {
        let spent = input.previous_output;
        if blocklist.outpoints.contains(&spent) {
            reasons.push(TagReason {
                rule: "blocklist",
                detail: format!("spends blocklisted outpoint {spent}"),
            });
        } else if blocklist.txids.contains(&spent.txid) {
            reasons.push(TagReason {
                rule: "blocklist",
                detail: format!(
                    "spends {spent}, an output of blocklisted transaction {}",
                    spent.txid
                ),
            });
        }
        if let Some(source) = source_address(input, facts.network) {
            let source = source.to_string();
            if blocklist.addresses.contains(&source) {
                reasons.push(TagReason {
                    rule: "blocklist",
                    detail: format!("spends from blocklisted address {source} ({spent})"),
                });
            }
        }
    }
    if let Some(threshold) = settings.tag_above_sat {
        if facts.amount > threshold {
            reasons.push(TagReason {
                rule: "amount_threshold",
                detail: format!(
                    "{} is above the review threshold of {}",
                    format_btc(facts.amount),
                    format_btc(threshold)
                ),
            });
        }
    }
    if let Some(standing) = facts.customer_kyc {
        if !standing.is_verified() {
            reasons.push(TagReason {
                rule: "kyc",
                detail: format!("the customer's KYC status is {standing}"),
            });
        }
    }
    reasons
}

impl fmt::Display for TagReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.rule, self.detail)
    }
}

#[cfg(test)]
#[path = "deposits_tests.rs"]
mod tests;

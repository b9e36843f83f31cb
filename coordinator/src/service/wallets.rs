//! Wallets: composing one from signers' keys, listing them, handing out receive addresses.

use bitcoin::{Address, Amount};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;

use sluice_shared::descriptor::{Branch, WalletDescriptor};

use super::changes::ChangeContext;
use super::{check_name, require, require_current, Actor, Coordinator, ServiceError};
use crate::db::wallets::{self, NewWallet, WalletRecord};
use crate::db::{audit, DbError};
use crate::rules::policy::ApprovalPolicy;
use crate::rules::roles::Permission;
use crate::time::UnixTime;
use crate::wallet_spec::{compose, core_notation, WalletKindArg};

/// `wallet create`: what an admin proposes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWalletRequest {
    pub name: String,
    #[serde(with = "kind_text")]
    pub kind: WalletKindArg,
    pub threshold: Option<u32>,
    /// `[fingerprint/path]xpub` of each signer.
    pub keys: Vec<String>,
    pub policy: ApprovalPolicy,
    #[serde(rename = "daily_limit_sat", with = "bitcoin::amount::serde::as_sat")]
    pub daily_limit: Amount,
}

/// `wpkh` or `wsh-sortedmulti`, as on the command line.
mod kind_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::wallet_spec::WalletKindArg;

    pub fn serialize<S: Serializer>(kind: &WalletKindArg, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(kind)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<WalletKindArg, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A wallet just created: the descriptors to register on each signer.
#[derive(Debug, Clone)]
pub struct CreatedWallet {
    pub name: String,
    pub wallet_id: String,
    pub kind: String,
    pub multipath_descriptor: String,
    pub receive_descriptor: String,
    pub change_descriptor: String,
}

/// A wallet as listed.
#[derive(Debug, Clone)]
pub struct WalletSummary {
    pub record: WalletRecord,
    pub policy_description: String,
}

/// The wallet's descriptors, parsed and checked again (the database is not trusted to
/// hold what we wrote).
pub(crate) fn descriptor_of(record: &WalletRecord) -> Result<Arc<WalletDescriptor>, ServiceError> {
    let descriptor = WalletDescriptor::parse_kept(&record.receive_descriptor, &record.change_descriptor)
        .map_err(|e| DbError::Corrupt(format!("wallet {} descriptor: {e}", record.name)))?;
    if descriptor.wallet_id() != record.wallet_id {
        return Err(
            DbError::Corrupt(format!("wallet {} descriptor does not match its id", record.name)).into(),
        );
    }
    Ok(descriptor)
}

impl Coordinator {
    pub fn list_wallets(&mut self, actor: &Actor) -> Result<Vec<WalletSummary>, ServiceError> {
        require(actor, Permission::ReadWithdrawals)?;
        let tx = self.db.read()?;
        Ok(wallets::list(&tx)?
            .into_iter()
            .map(|record| WalletSummary {
                policy_description: record.policy.describe(),
                record,
            })
            .collect())
    }

    /// Derives the wallet's next receive address, records it, and returns it with its
    /// index. Each call hands out a new address.
    pub fn next_receive_address(
        &mut self,
        actor: &Actor,
        wallet: &str,
        now: UnixTime,
    ) -> Result<(u32, Address), ServiceError> {
        require(actor, Permission::Administer)?;
        let network = self.network();
        let tx = self.db.write()?;
        require_current(&tx, actor, Permission::Administer)?;
        let record =
            wallets::find(&tx, wallet)?.ok_or_else(|| ServiceError::UnknownWallet(wallet.to_owned()))?;
        if crate::db::deposits::find_wallet(&tx, wallet)?.is_some() {
            return Err(ServiceError::Conflict(format!(
                "wallet {wallet:?} is a deposit wallet: its addresses are issued to customers with                  `deposit address --customer C`"
            )));
        }
        let descriptor = descriptor_of(&record)?;
        let index = wallets::take_next_index(&tx, wallet, Branch::Receive)?;
        let address = descriptor
            .address(Branch::Receive, index, network)
            .map_err(|e| ServiceError::Invalid(e.to_string()))?;
        wallets::insert_address(
            &tx,
            wallet,
            Branch::Receive,
            index,
            &address.to_string(),
            &hex::encode(address.script_pubkey().as_bytes()),
            now,
        )?;
        tx.commit()?;
        Ok((index, address))
    }
}

/// Composes and records a wallet (the approved `wallet create`).
pub(super) fn wallet_create(
    conn: &Connection,
    ctx: &ChangeContext<'_>,
    request: &NewWalletRequest,
) -> Result<CreatedWallet, ServiceError> {
    check_name("wallet name", &request.name, 64)?;
    request
        .policy
        .validate()
        .map_err(|e| ServiceError::Invalid(e.to_string()))?;
    let composed = compose(request.kind, request.threshold, &request.keys, ctx.network)?;
    let wallet_id = composed.descriptor.wallet_id();
    let receive = core_notation(composed.descriptor.receive())?;
    let change = core_notation(composed.descriptor.change())?;

    if wallets::find(conn, &request.name)?.is_some() {
        return Err(ServiceError::AlreadyExists(format!("wallet {:?}", request.name)));
    }
    // Two wallets over the same scripts would confuse coin tracking. sortedmulti
    // ignores key order, so compare scripts, not descriptor text.
    let first_script = composed
        .descriptor
        .script_pubkey(Branch::Receive, 0)
        .map_err(|e| ServiceError::Invalid(e.to_string()))?;
    for existing in wallets::list(conn)? {
        let same = existing.wallet_id == wallet_id
            || descriptor_of(&existing)?.script_pubkey(Branch::Receive, 0).ok() == Some(first_script.clone());
        if same {
            return Err(ServiceError::AlreadyExists(format!(
                "a wallet with these keys ({:?})",
                existing.name
            )));
        }
    }
    wallets::insert(
        conn,
        &NewWallet {
            name: &request.name,
            wallet_id: &wallet_id,
            kind: &composed.kind_label,
            receive_descriptor: &receive,
            change_descriptor: &change,
            policy: &request.policy,
            daily_limit: request.daily_limit,
        },
        ctx.now,
    )?;
    audit::record(
        conn,
        ctx.proposer,
        "wallet create",
        &request.name,
        &json!({
            "wallet_id": wallet_id,
            "descriptor": composed.multipath,
            "policy": request.policy.describe(),
            "daily_limit_sat": request.daily_limit.to_sat(),
        }),
        ctx.now,
    )?;
    Ok(CreatedWallet {
        name: request.name.clone(),
        wallet_id,
        kind: composed.kind_label,
        multipath_descriptor: composed.multipath,
        receive_descriptor: receive,
        change_descriptor: change,
    })
}

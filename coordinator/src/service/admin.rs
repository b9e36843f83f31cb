//! Configuration by admins: staff, customers, beneficiaries, fees, limits, wallet policy.
//! Customers are added and suspended by one admin (that moves no money); every change
//! that can move money is a `Change` applied here only when a second admin approves its
//! proposal (`proposals`). Every change is recorded in the admin log with who made it.

use std::path::Path;

use bitcoin::{Amount, Network};
use rand::{CryptoRng, RngCore};
use rusqlite::Connection;
use serde_json::json;
use sluice_shared::asset::{format_btc, Asset};
use sluice_shared::network::network_name;

use super::auth::{unusable_token_hash, EnrollmentSecret};
use super::changes::ChangeContext;
use super::enrollment::issue_enrollment;
use super::{check_name, require, require_current, Actor, Coordinator, ServiceError};
use crate::db::customers::{BeneficiaryRecord, CustomerRecord};
use crate::db::staff::StaffRecord;
use crate::db::{audit, customers, settings, staff, wallets, Database};
use crate::rules::fees::FeeSchedule;
use crate::rules::intake::{parse_destination, CustomerStatus};
use crate::rules::policy::ApprovalPolicy;
use crate::rules::roles::{Permission, Role};
use crate::time::UnixTime;

const MAX_NAME: usize = 64;
const MAX_CUSTOMER_ID: usize = 128;
const MAX_LABEL: usize = 200;
/// Every change needs two admins, so fewer than this many active ones would lock
/// configuration for good.
const MIN_ACTIVE_ADMINS: usize = 2;

impl Coordinator {
    /// Creates the database for `network` with its first two admins (every later change
    /// needs two), and returns each one's enrollment secret, to be handed to them: each
    /// exchanges theirs for a token nobody else sees (`staff enroll`). Fails if `path` is
    /// already initialised.
    pub fn initialise<R: RngCore + CryptoRng>(
        path: &Path,
        network: Network,
        admin_names: [&str; 2],
        rng: &mut R,
        now: UnixTime,
    ) -> Result<(Coordinator, [EnrollmentSecret; 2]), ServiceError> {
        for name in admin_names {
            check_name("staff name", name, MAX_NAME)?;
        }
        if admin_names[0] == admin_names[1] {
            return Err(ServiceError::Invalid(
                "init needs two different admins (every change needs a second admin's approval)".to_owned(),
            ));
        }
        let (db, secrets) = Database::initialise(path, network, |tx| {
            let mut enroll = |name: &str| -> Result<EnrollmentSecret, crate::db::DbError> {
                staff::insert(tx, name, Role::Admin, &unusable_token_hash(rng), now, None)?;
                issue_enrollment(tx, name, rng, now)
            };
            let secrets = [enroll(admin_names[0])?, enroll(admin_names[1])?];
            audit::record(
                tx,
                admin_names[0],
                "init",
                network_name(network),
                &json!({"first_admins": admin_names}),
                now,
            )?;
            Ok(secrets)
        })?;
        Ok((Coordinator { db }, secrets))
    }

    /// An in-memory coordinator with two admins holding these tokens, for tests.
    #[cfg(test)]
    pub(crate) fn in_memory(network: Network, admin_names: [&str; 2]) -> (Coordinator, [super::ApiToken; 2]) {
        let mut rng = rand::thread_rng();
        let tokens = [
            super::ApiToken::generate(&mut rng),
            super::ApiToken::generate(&mut rng),
        ];
        let now = UnixTime::from_secs(0);
        let (db, ()) = Database::in_memory(network, |tx| {
            for (name, token) in admin_names.iter().zip(&tokens) {
                staff::insert(tx, name, Role::Admin, &token.hash_hex(), now, None)?;
            }
            Ok::<(), crate::db::DbError>(())
        })
        .expect("in-memory database");
        (Coordinator { db }, tokens)
    }

    pub fn list_staff(&mut self, actor: &Actor) -> Result<Vec<StaffRecord>, ServiceError> {
        require(actor, Permission::Administer)?;
        let tx = self.db.read()?;
        Ok(staff::list(&tx)?)
    }

    pub fn add_customer(&mut self, actor: &Actor, id: &str, now: UnixTime) -> Result<(), ServiceError> {
        require(actor, Permission::Administer)?;
        check_name("customer id", id, MAX_CUSTOMER_ID)?;
        let tx = self.db.write()?;
        require_current(&tx, actor, Permission::Administer)?;
        if customers::find(&tx, id)?.is_some() {
            return Err(ServiceError::AlreadyExists(format!("customer {id:?}")));
        }
        customers::insert(&tx, id, now)?;
        audit::record(&tx, actor.name(), "customer add", id, &json!({}), now)?;
        tx.commit()?;
        Ok(())
    }

    /// Suspends or reactivates a customer. A suspended customer's withdrawals are refused
    /// at intake and cannot be approved while pending.
    pub fn set_customer_status(
        &mut self,
        actor: &Actor,
        id: &str,
        status: CustomerStatus,
        now: UnixTime,
    ) -> Result<(), ServiceError> {
        require(actor, Permission::Administer)?;
        let tx = self.db.write()?;
        require_current(&tx, actor, Permission::Administer)?;
        if !customers::set_status(&tx, id, status)? {
            return Err(ServiceError::NotFound(format!("customer {id:?}")));
        }
        let action = format!("customer {}", status.as_str());
        audit::record(&tx, actor.name(), &action, id, &json!({}), now)?;
        tx.commit()?;
        Ok(())
    }

    pub fn list_customers(&mut self, actor: &Actor) -> Result<Vec<CustomerRecord>, ServiceError> {
        require(actor, Permission::Administer)?;
        let tx = self.db.read()?;
        Ok(customers::list(&tx)?)
    }

    /// One customer's registered destinations, or every customer's (`None`).
    pub fn list_beneficiaries(
        &mut self,
        actor: &Actor,
        customer_id: Option<&str>,
    ) -> Result<Vec<BeneficiaryRecord>, ServiceError> {
        require(actor, Permission::Administer)?;
        let tx = self.db.read()?;
        Ok(customers::list_beneficiaries(&tx, customer_id)?)
    }

    pub fn fee_schedule(&mut self, asset: Asset) -> Result<Option<FeeSchedule>, ServiceError> {
        let tx = self.db.read()?;
        Ok(settings::fee_schedule(&tx, asset.ticker())?)
    }

    /// The newest admin-log entries.
    pub fn admin_log(&mut self, actor: &Actor, limit: u32) -> Result<Vec<audit::AdminEvent>, ServiceError> {
        require(actor, Permission::Administer)?;
        let tx = self.db.read()?;
        Ok(audit::recent(&tx, limit)?)
    }
}

/// Adds a staff member without a usable token and returns the enrollment secret they
/// exchange for one.
pub(super) fn staff_add<R: RngCore + CryptoRng>(
    conn: &Connection,
    ctx: &ChangeContext<'_>,
    name: &str,
    role: Role,
    rng: &mut R,
) -> Result<EnrollmentSecret, ServiceError> {
    check_name("staff name", name, MAX_NAME)?;
    if staff::find(conn, name)?.is_some() {
        return Err(ServiceError::AlreadyExists(format!("staff member {name:?}")));
    }
    staff::insert(
        conn,
        name,
        role,
        &unusable_token_hash(rng),
        ctx.now,
        Some(ctx.proposer),
    )?;
    let secret = issue_enrollment(conn, name, rng, ctx.now)?;
    audit::record(
        conn,
        ctx.proposer,
        "staff add",
        name,
        &json!({"role": role.as_str()}),
        ctx.now,
    )?;
    Ok(secret)
}

/// Revokes a staff member's token at once and returns the enrollment secret for a new one.
pub(super) fn staff_rotate_token<R: RngCore + CryptoRng>(
    conn: &Connection,
    ctx: &ChangeContext<'_>,
    name: &str,
    rng: &mut R,
) -> Result<EnrollmentSecret, ServiceError> {
    if !staff::set_token_hash(conn, name, &unusable_token_hash(rng))? {
        return Err(ServiceError::NotFound(format!("staff member {name:?}")));
    }
    let secret = issue_enrollment(conn, name, rng, ctx.now)?;
    audit::record(
        conn,
        ctx.proposer,
        "staff rotate-token",
        name,
        &json!({}),
        ctx.now,
    )?;
    Ok(secret)
}

/// Deactivates (or reactivates) a staff member. Two admins must stay active, so
/// configuration never becomes impossible.
pub(super) fn staff_set_active(
    conn: &Connection,
    ctx: &ChangeContext<'_>,
    name: &str,
    active: bool,
) -> Result<(), ServiceError> {
    let member =
        staff::find(conn, name)?.ok_or_else(|| ServiceError::NotFound(format!("staff member {name:?}")))?;
    if !active && member.role == Role::Admin && member.active {
        let other_admins = staff::list(conn)?
            .iter()
            .filter(|s| s.role == Role::Admin && s.active && s.name != name)
            .count();
        if other_admins < MIN_ACTIVE_ADMINS {
            return Err(ServiceError::Invalid(format!(
                "cannot deactivate admin {name:?}: fewer than {MIN_ACTIVE_ADMINS} active admins would remain, and every change needs two (the last active admins stay): add another admin first"
            )));
        }
    }
    staff::set_active(conn, name, active)?;
    let action = if active {
        "staff activate"
    } else {
        "staff deactivate"
    };
    audit::record(conn, ctx.proposer, action, name, &json!({}), ctx.now)?;
    Ok(())
}

/// Registers `address` (checked for this coordinator's network) as a destination of
/// customer `customer_id`. Returns the canonical address stored.
pub(super) fn beneficiary_add(
    conn: &Connection,
    ctx: &ChangeContext<'_>,
    customer_id: &str,
    address: &str,
    label: &str,
) -> Result<String, ServiceError> {
    check_name("beneficiary label", label, MAX_LABEL)?;
    let canonical = parse_destination(address, ctx.network)?.to_string();
    if customers::find(conn, customer_id)?.is_none() {
        return Err(ServiceError::NotFound(format!("customer {customer_id:?}")));
    }
    if customers::find_beneficiary(conn, customer_id, &canonical)?.is_some() {
        return Err(ServiceError::AlreadyExists(format!(
            "beneficiary {canonical} of customer {customer_id:?}"
        )));
    }
    customers::insert_beneficiary(
        conn,
        customer_id,
        &canonical,
        label,
        network_name(ctx.network),
        ctx.now,
    )?;
    audit::record(
        conn,
        ctx.proposer,
        "beneficiary add",
        customer_id,
        &json!({"address": canonical, "label": label}),
        ctx.now,
    )?;
    Ok(canonical)
}

pub(super) fn beneficiary_set_active(
    conn: &Connection,
    ctx: &ChangeContext<'_>,
    customer_id: &str,
    address: &str,
    active: bool,
) -> Result<(), ServiceError> {
    let canonical = parse_destination(address, ctx.network)?.to_string();
    if !customers::set_beneficiary_active(conn, customer_id, &canonical, active)? {
        return Err(ServiceError::NotFound(format!(
            "beneficiary {canonical} of customer {customer_id:?}"
        )));
    }
    let action = if active {
        "beneficiary activate"
    } else {
        "beneficiary deactivate"
    };
    audit::record(
        conn,
        ctx.proposer,
        action,
        customer_id,
        &json!({"address": canonical}),
        ctx.now,
    )?;
    Ok(())
}

pub(super) fn fees_set(
    conn: &Connection,
    ctx: &ChangeContext<'_>,
    asset: Asset,
    schedule: FeeSchedule,
) -> Result<(), ServiceError> {
    schedule
        .validate()
        .map_err(|e| ServiceError::Invalid(e.to_string()))?;
    settings::set_fee_schedule(conn, asset.ticker(), &schedule, ctx.now, ctx.proposer)?;
    audit::record(
        conn,
        ctx.proposer,
        "fees set",
        asset.ticker(),
        &json!({"schedule": schedule.describe()}),
        ctx.now,
    )?;
    Ok(())
}

pub(super) fn customer_daily_limit(
    conn: &Connection,
    ctx: &ChangeContext<'_>,
    customer_id: &str,
    asset: Asset,
    limit: Amount,
) -> Result<(), ServiceError> {
    if customers::find(conn, customer_id)?.is_none() {
        return Err(ServiceError::NotFound(format!("customer {customer_id:?}")));
    }
    settings::set_customer_daily_limit(conn, customer_id, asset.ticker(), limit, ctx.now, ctx.proposer)?;
    audit::record(
        conn,
        ctx.proposer,
        "limits set customer",
        customer_id,
        &json!({"asset": asset.ticker(), "daily": format_btc(limit)}),
        ctx.now,
    )?;
    Ok(())
}

pub(super) fn wallet_daily_limit(
    conn: &Connection,
    ctx: &ChangeContext<'_>,
    wallet: &str,
    limit: Amount,
) -> Result<(), ServiceError> {
    if !wallets::set_daily_limit(conn, wallet, limit)? {
        return Err(ServiceError::UnknownWallet(wallet.to_owned()));
    }
    audit::record(
        conn,
        ctx.proposer,
        "limits set wallet",
        wallet,
        &json!({"daily": format_btc(limit)}),
        ctx.now,
    )?;
    Ok(())
}

/// Replaces a wallet's approval policy. It applies to approvals from now on; a
/// withdrawal already approved stays approved.
pub(super) fn wallet_policy(
    conn: &Connection,
    ctx: &ChangeContext<'_>,
    wallet: &str,
    policy: &ApprovalPolicy,
) -> Result<(), ServiceError> {
    policy
        .validate()
        .map_err(|e| ServiceError::Invalid(e.to_string()))?;
    if !wallets::set_policy(conn, wallet, policy)? {
        return Err(ServiceError::UnknownWallet(wallet.to_owned()));
    }
    audit::record(
        conn,
        ctx.proposer,
        "wallet set-policy",
        wallet,
        &json!({"policy": policy.describe()}),
        ctx.now,
    )?;
    Ok(())
}

/// Replaces the risk settings; they apply to withdrawals requested from now on.
pub(super) fn risk_settings_set(
    conn: &Connection,
    ctx: &ChangeContext<'_>,
    settings: &crate::rules::risk::RiskSettings,
) -> Result<(), ServiceError> {
    settings
        .validate()
        .map_err(|e| ServiceError::Invalid(e.to_string()))?;
    crate::db::risk::set_settings(conn, settings, ctx.now, ctx.proposer)?;
    audit::record(
        conn,
        ctx.proposer,
        "risk set",
        "risk flags",
        &json!({"settings": settings.describe()}),
        ctx.now,
    )?;
    Ok(())
}

impl Coordinator {
    /// The risk flag rules in force (anyone who reads withdrawals).
    pub fn risk_settings(&mut self, actor: &Actor) -> Result<crate::rules::risk::RiskSettings, ServiceError> {
        require(actor, Permission::ReadWithdrawals)?;
        let tx = self.db.read()?;
        Ok(crate::db::risk::settings(&tx)?)
    }
}

impl Coordinator {
    /// Since when a restore holds the processor, if it does.
    pub fn restore_hold(&mut self) -> Result<Option<UnixTime>, ServiceError> {
        let tx = self.db.read()?;
        Ok(crate::db::restore_hold::held_since(&tx)?)
    }

    /// Releases the processor after a restore (admin), once the approved withdrawals were
    /// checked against the chain: recorded in the admin log with `note`.
    pub fn release_restore_hold(
        &mut self,
        actor: &Actor,
        note: &str,
        now: UnixTime,
    ) -> Result<bool, ServiceError> {
        require(actor, Permission::Administer)?;
        check_name("the release note", note, 500)?;
        let tx = self.db.write()?;
        require_current(&tx, actor, Permission::Administer)?;
        let released = crate::db::restore_hold::release(&tx)?;
        if released {
            audit::record(
                &tx,
                actor.name(),
                "restore release",
                "processor",
                &json!({ "note": note }),
                now,
            )?;
        }
        tx.commit()?;
        Ok(released)
    }
}

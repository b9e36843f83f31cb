//! Configuration by admins: staff, customers, beneficiaries, fees, limits, wallet policy.
//! Every change is recorded in the admin log with who made it.

use std::path::Path;

use bitcoin::{Amount, Network};
use rand::{CryptoRng, RngCore};
use serde_json::json;
use sluice_shared::asset::{format_btc, Asset};
use sluice_shared::network::network_name;

use super::{check_name, require, require_current, Actor, ApiToken, Coordinator, ServiceError};
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

impl Coordinator {
    /// Creates the database for `network` with its first admin, whose token is returned to
    /// be shown once. Fails if `path` is already initialised.
    pub fn initialise<R: RngCore + CryptoRng>(
        path: &Path,
        network: Network,
        admin_name: &str,
        rng: &mut R,
        now: UnixTime,
    ) -> Result<(Coordinator, ApiToken), ServiceError> {
        check_name("staff name", admin_name, MAX_NAME)?;
        let token = ApiToken::generate(rng);
        let (db, ()) = Database::initialise(path, network, |tx| {
            staff::insert(tx, admin_name, Role::Admin, &token.hash_hex(), now, None)?;
            audit::record(
                tx,
                admin_name,
                "init",
                network_name(network),
                &json!({"first_admin": admin_name}),
                now,
            )
        })?;
        Ok((Coordinator { db }, token))
    }

    /// An in-memory coordinator with a first admin, for tests.
    #[cfg(test)]
    pub(crate) fn in_memory(network: Network, admin_name: &str) -> (Coordinator, ApiToken) {
        let token = ApiToken::generate(&mut rand::thread_rng());
        let now = UnixTime::from_secs(0);
        let (db, ()) = Database::in_memory(network, |tx| {
            staff::insert(tx, admin_name, Role::Admin, &token.hash_hex(), now, None)
        })
        .expect("in-memory database");
        (Coordinator { db }, token)
    }

    /// Adds a staff member and returns their token, to be shown once.
    pub fn add_staff<R: RngCore + CryptoRng>(
        &mut self,
        actor: &Actor,
        name: &str,
        role: Role,
        rng: &mut R,
        now: UnixTime,
    ) -> Result<ApiToken, ServiceError> {
        require(actor, Permission::Administer)?;
        check_name("staff name", name, MAX_NAME)?;
        let token = ApiToken::generate(rng);
        let tx = self.db.write()?;
        require_current(&tx, actor, Permission::Administer)?;
        if staff::find(&tx, name)?.is_some() {
            return Err(ServiceError::AlreadyExists(format!("staff member {name:?}")));
        }
        staff::insert(&tx, name, role, &token.hash_hex(), now, Some(actor.name()))?;
        audit::record(
            &tx,
            actor.name(),
            "staff add",
            name,
            &json!({"role": role.as_str()}),
            now,
        )?;
        tx.commit()?;
        Ok(token)
    }

    /// Replaces a staff member's token; the old one stops working at once.
    pub fn rotate_staff_token<R: RngCore + CryptoRng>(
        &mut self,
        actor: &Actor,
        name: &str,
        rng: &mut R,
        now: UnixTime,
    ) -> Result<ApiToken, ServiceError> {
        require(actor, Permission::Administer)?;
        let token = ApiToken::generate(rng);
        let tx = self.db.write()?;
        require_current(&tx, actor, Permission::Administer)?;
        if !staff::set_token_hash(&tx, name, &token.hash_hex())? {
            return Err(ServiceError::NotFound(format!("staff member {name:?}")));
        }
        audit::record(&tx, actor.name(), "staff rotate-token", name, &json!({}), now)?;
        tx.commit()?;
        Ok(token)
    }

    /// Deactivates (or reactivates) a staff member. The last active admin cannot be
    /// deactivated, so configuration never becomes impossible.
    pub fn set_staff_active(
        &mut self,
        actor: &Actor,
        name: &str,
        active: bool,
        now: UnixTime,
    ) -> Result<(), ServiceError> {
        require(actor, Permission::Administer)?;
        let tx = self.db.write()?;
        require_current(&tx, actor, Permission::Administer)?;
        let member = staff::find(&tx, name)?
            .ok_or_else(|| ServiceError::NotFound(format!("staff member {name:?}")))?;
        if !active && member.role == Role::Admin {
            let other_admins = staff::list(&tx)?
                .iter()
                .filter(|s| s.role == Role::Admin && s.active && s.name != name)
                .count();
            if other_admins == 0 {
                return Err(ServiceError::Invalid(
                    "cannot deactivate the last active admin: add another admin first".to_owned(),
                ));
            }
        }
        staff::set_active(&tx, name, active)?;
        let action = if active {
            "staff activate"
        } else {
            "staff deactivate"
        };
        audit::record(&tx, actor.name(), action, name, &json!({}), now)?;
        tx.commit()?;
        Ok(())
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

    /// Registers `address` (checked for this coordinator's network) as a destination of
    /// customer `customer_id`. Returns the canonical address stored.
    pub fn add_beneficiary(
        &mut self,
        actor: &Actor,
        customer_id: &str,
        address: &str,
        label: &str,
        now: UnixTime,
    ) -> Result<String, ServiceError> {
        require(actor, Permission::Administer)?;
        check_name("beneficiary label", label, MAX_LABEL)?;
        let network = self.network();
        let canonical = parse_destination(address, network)?.to_string();
        let tx = self.db.write()?;
        require_current(&tx, actor, Permission::Administer)?;
        if customers::find(&tx, customer_id)?.is_none() {
            return Err(ServiceError::NotFound(format!("customer {customer_id:?}")));
        }
        if customers::find_beneficiary(&tx, customer_id, &canonical)?.is_some() {
            return Err(ServiceError::AlreadyExists(format!(
                "beneficiary {canonical} of customer {customer_id:?}"
            )));
        }
        customers::insert_beneficiary(&tx, customer_id, &canonical, label, network_name(network), now)?;
        audit::record(
            &tx,
            actor.name(),
            "beneficiary add",
            customer_id,
            &json!({"address": canonical, "label": label}),
            now,
        )?;
        tx.commit()?;
        Ok(canonical)
    }

    pub fn set_beneficiary_active(
        &mut self,
        actor: &Actor,
        customer_id: &str,
        address: &str,
        active: bool,
        now: UnixTime,
    ) -> Result<(), ServiceError> {
        require(actor, Permission::Administer)?;
        let canonical = parse_destination(address, self.network())?.to_string();
        let tx = self.db.write()?;
        require_current(&tx, actor, Permission::Administer)?;
        if !customers::set_beneficiary_active(&tx, customer_id, &canonical, active)? {
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
            &tx,
            actor.name(),
            action,
            customer_id,
            &json!({"address": canonical}),
            now,
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn list_beneficiaries(
        &mut self,
        actor: &Actor,
        customer_id: &str,
    ) -> Result<Vec<BeneficiaryRecord>, ServiceError> {
        require(actor, Permission::Administer)?;
        let tx = self.db.read()?;
        Ok(customers::list_beneficiaries(&tx, customer_id)?)
    }

    pub fn set_fee_schedule(
        &mut self,
        actor: &Actor,
        asset: Asset,
        schedule: FeeSchedule,
        now: UnixTime,
    ) -> Result<(), ServiceError> {
        require(actor, Permission::Administer)?;
        schedule
            .validate()
            .map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let tx = self.db.write()?;
        require_current(&tx, actor, Permission::Administer)?;
        settings::set_fee_schedule(&tx, asset.ticker(), &schedule, now, actor.name())?;
        audit::record(
            &tx,
            actor.name(),
            "fees set",
            asset.ticker(),
            &json!({"schedule": schedule.describe()}),
            now,
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn fee_schedule(&mut self, asset: Asset) -> Result<Option<FeeSchedule>, ServiceError> {
        let tx = self.db.read()?;
        Ok(settings::fee_schedule(&tx, asset.ticker())?)
    }

    pub fn set_customer_daily_limit(
        &mut self,
        actor: &Actor,
        customer_id: &str,
        asset: Asset,
        limit: Amount,
        now: UnixTime,
    ) -> Result<(), ServiceError> {
        require(actor, Permission::Administer)?;
        let tx = self.db.write()?;
        require_current(&tx, actor, Permission::Administer)?;
        if customers::find(&tx, customer_id)?.is_none() {
            return Err(ServiceError::NotFound(format!("customer {customer_id:?}")));
        }
        settings::set_customer_daily_limit(&tx, customer_id, asset.ticker(), limit, now, actor.name())?;
        audit::record(
            &tx,
            actor.name(),
            "limits set customer",
            customer_id,
            &json!({"asset": asset.ticker(), "daily": format_btc(limit)}),
            now,
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn set_wallet_daily_limit(
        &mut self,
        actor: &Actor,
        wallet: &str,
        limit: Amount,
        now: UnixTime,
    ) -> Result<(), ServiceError> {
        require(actor, Permission::Administer)?;
        let tx = self.db.write()?;
        require_current(&tx, actor, Permission::Administer)?;
        if !wallets::set_daily_limit(&tx, wallet, limit)? {
            return Err(ServiceError::UnknownWallet(wallet.to_owned()));
        }
        audit::record(
            &tx,
            actor.name(),
            "limits set wallet",
            wallet,
            &json!({"daily": format_btc(limit)}),
            now,
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Replaces a wallet's approval policy. It applies to approvals from now on; a
    /// withdrawal already approved stays approved.
    pub fn set_wallet_policy(
        &mut self,
        actor: &Actor,
        wallet: &str,
        policy: &ApprovalPolicy,
        now: UnixTime,
    ) -> Result<(), ServiceError> {
        require(actor, Permission::Administer)?;
        policy
            .validate()
            .map_err(|e| ServiceError::Invalid(e.to_string()))?;
        let tx = self.db.write()?;
        require_current(&tx, actor, Permission::Administer)?;
        if !wallets::set_policy(&tx, wallet, policy)? {
            return Err(ServiceError::UnknownWallet(wallet.to_owned()));
        }
        audit::record(
            &tx,
            actor.name(),
            "wallet set-policy",
            wallet,
            &json!({"policy": policy.describe()}),
            now,
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The newest admin-log entries.
    pub fn admin_log(&mut self, actor: &Actor, limit: u32) -> Result<Vec<audit::AdminEvent>, ServiceError> {
        require(actor, Permission::Administer)?;
        let tx = self.db.read()?;
        Ok(audit::recent(&tx, limit)?)
    }
}

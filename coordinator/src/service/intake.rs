//! `request_withdrawal`: idempotent intake. A retried request (same key, same request)
//! returns the withdrawal it created; the same key with a different request is refused;
//! a refused request records nothing, so fixing the problem and retrying works.

use bitcoin::Network;
use rusqlite::Connection;
use sluice_shared::api::{ApprovalMethod, EventKind, NewWithdrawal, WithdrawalDetail};
use sluice_shared::asset::Asset;

use super::approval::settle;
use super::queries::load_detail;
use super::{require, require_current, Actor, Coordinator, ServiceError};
use crate::db::withdrawals::{self, NewWithdrawalRow};
use crate::db::{customers, deposits, kyc, risk, settings, wallets};
use crate::rules::intake::{
    check_idempotency_key, check_withdrawal, parse_destination, request_hash, IntakeFacts,
};
use crate::rules::policy::IntakeApproval;
use crate::rules::risk::{self as risk_rules, RiskFacts};
use crate::rules::roles::Permission;
use crate::time::UnixTime;

/// What intake did with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intake {
    /// A new withdrawal was recorded.
    Created(WithdrawalDetail),
    /// The idempotency key was seen with this same request: nothing new was recorded.
    Existing(WithdrawalDetail),
}

impl Intake {
    pub fn detail(&self) -> &WithdrawalDetail {
        match self {
            Intake::Created(d) | Intake::Existing(d) => d,
        }
    }

    pub fn into_detail(self) -> WithdrawalDetail {
        match self {
            Intake::Created(d) | Intake::Existing(d) => d,
        }
    }
}

/// One request for [`Coordinator::request_withdrawals`], as it arrived.
#[derive(Debug, Clone)]
pub struct IntakeRequest {
    pub actor: Actor,
    pub idempotency_key: String,
    pub request: NewWithdrawal,
    /// When it arrived: its time in the withdrawal's history and the day its limits count.
    pub now: UnixTime,
}

impl Coordinator {
    pub fn request_withdrawal(
        &mut self,
        actor: &Actor,
        idempotency_key: &str,
        request: &NewWithdrawal,
        now: UnixTime,
    ) -> Result<Intake, ServiceError> {
        let network = self.network();
        let tx = self.db.write()?;
        let intake = record_request(&tx, network, actor, idempotency_key, request, now)?;
        tx.commit()?;
        Ok(intake)
    }

    /// Group commit: records several requests in one write transaction and one durable
    /// commit (one `fsync` instead of one per request). Each request runs in its own
    /// savepoint, in order, seeing the ones before it (limits, risk velocity, a repeated
    /// idempotency key), so the outcome of each is what it would be alone in that order.
    /// A refused request rolls back to its savepoint and records nothing; the others are
    /// unaffected. Nothing is durable, and so nothing may be acknowledged, before this
    /// returns `Ok`; an `Err` means the whole group was rolled back (or its commit failed:
    /// retrying with the same idempotency keys is then safe, as always).
    ///
    /// `gather` is called once the transaction holds the write turn and may append the
    /// requests that arrived meanwhile (the API's group commit); they are recorded too.
    pub fn request_withdrawals(
        &mut self,
        requests: &mut Vec<IntakeRequest>,
        gather: &mut dyn FnMut(&mut Vec<IntakeRequest>),
    ) -> Result<Vec<Result<Intake, ServiceError>>, ServiceError> {
        let network = self.network();
        let mut tx = self.db.write()?;
        gather(requests);
        let mut outcomes = Vec::with_capacity(requests.len());
        for r in requests.iter() {
            outcomes.push(crate::db::in_savepoint(
                &mut tx,
                |conn| record_request(conn, network, &r.actor, &r.idempotency_key, &r.request, r.now),
                Result::is_ok,
            )?);
        }
        tx.commit()?;
        Ok(outcomes)
    }
}

/// Intake of one request inside the caller's write transaction: checks it and records it
/// (or finds the withdrawal its idempotency key already made). The caller commits.
fn record_request(
    tx: &Connection,
    network: Network,
    actor: &Actor,
    idempotency_key: &str,
    request: &NewWithdrawal,
    now: UnixTime,
) -> Result<Intake, ServiceError> {
    require(actor, Permission::RequestWithdrawal)?;
    check_idempotency_key(idempotency_key)?;
    let destination = parse_destination(&request.destination, network)?;
    let hash = request_hash(
        actor.name(),
        &request.customer_id,
        &request.wallet,
        &destination,
        request.amount_sat,
    );
    let asset = Asset::Btc.ticker();
    let destination_text = destination.to_string();

    require_current(tx, actor, Permission::RequestWithdrawal)?;
    if let Some(existing) = withdrawals::find_by_idempotency_key(tx, idempotency_key)? {
        if existing.request_hash == hash {
            return Ok(Intake::Existing(load_detail(tx, existing.id)?));
        }
        return Err(ServiceError::IdempotencyConflict {
            key: idempotency_key.to_owned(),
            existing_id: existing.id,
        });
    }
    let wallet = wallets::find(tx, &request.wallet)?
        .ok_or_else(|| ServiceError::UnknownWallet(request.wallet.clone()))?;
    let customer = customers::find(tx, &request.customer_id)?;
    let beneficiary = customers::find_beneficiary(tx, &request.customer_id, &destination_text)?;
    let flags = risk_flags(
        tx,
        &request.customer_id,
        &destination_text,
        request.amount_sat,
        now,
    )?;
    let facts = IntakeFacts {
        customer_id: &request.customer_id,
        destination: &destination,
        amount: request.amount_sat,
        customer: customer.map(|c| c.status),
        customer_kyc: kyc::status(tx, &request.customer_id)?.map(|k| k.standing(now)),
        beneficiary_active: beneficiary.map(|b| b.active),
        policy: &wallet.policy,
        fee_schedule: settings::fee_schedule(tx, asset)?,
        customer_daily_limit: settings::customer_daily_limit(tx, &request.customer_id, asset)?,
        customer_used_today: withdrawals::sum_for_customer(tx, &request.customer_id, asset, now)?,
        wallet_name: &wallet.name,
        deposit_wallet: deposits::find_wallet(tx, &wallet.name)?.is_some(),
        wallet_daily_limit: wallet.daily_limit,
        wallet_used_today: withdrawals::sum_for_wallet(tx, &wallet.name, now)?,
        risk_flagged: !flags.is_empty(),
    };
    let accepted = check_withdrawal(&facts)?;

    let id = withdrawals::insert(
        tx,
        &NewWithdrawalRow {
            idempotency_key,
            request_hash: &hash,
            customer_id: &request.customer_id,
            wallet: &wallet.name,
            asset,
            destination: &destination_text,
            amount: request.amount_sat,
            fee: accepted.fee,
            requested_by: actor.name(),
        },
        now,
    )?;
    for flag in &flags {
        risk::insert_flag(tx, id, flag, now)?;
    }
    let flagged_note = (!flags.is_empty()).then(|| {
        let reasons: Vec<String> = flags
            .iter()
            .map(|f| format!("{}: {}", f.kind, f.reason))
            .collect();
        format!("risk-flagged, manual approval required: {}", reasons.join("; "))
    });
    withdrawals::insert_event(
        tx,
        id,
        EventKind::Requested,
        actor.name(),
        flagged_note.as_deref(),
        now,
    )?;
    match &accepted.approval {
        IntakeApproval::Automatic { detail } => {
            withdrawals::insert_approval(tx, id, None, ApprovalMethod::AutoRule, Some(detail), now)?;
            withdrawals::insert_event(
                tx,
                id,
                EventKind::ApprovalRecorded,
                "auto-rule",
                Some(detail),
                now,
            )?;
        }
        IntakeApproval::Manual { .. } => {}
    }
    settle(tx, id, now)?;
    Ok(Intake::Created(load_detail(tx, id)?))
}

/// The risk flags a request raises (`rules::risk`), from the facts in this transaction.
fn risk_flags(
    conn: &rusqlite::Connection,
    customer_id: &str,
    destination: &str,
    amount: bitcoin::Amount,
    now: UnixTime,
) -> Result<Vec<sluice_shared::api::RiskFlag>, ServiceError> {
    let settings = risk::settings(conn)?;
    // Each fact is read only for a rule that is on (a rule that is off never looks at its
    // fact, and every rule starts off): the reads walk the customer's history.
    let velocity = settings.velocity_max_count.is_some() || settings.velocity_max_amount.is_some();
    let (window_count, window_sum) = if velocity {
        let window_start = UnixTime::from_secs(
            now.secs()
                .saturating_sub(i64::from(settings.velocity_window_secs)),
        );
        risk::since(conn, customer_id, window_start)?
    } else {
        (0, bitcoin::Amount::ZERO)
    };
    let facts = RiskFacts {
        customer_id,
        amount,
        earlier_to_destination: !settings.new_beneficiary
            || risk::earlier_to_destination(conn, customer_id, destination)?,
        recent_amounts: match settings.large_amount_multiple {
            Some(_) => risk::recent_amounts(conn, customer_id, settings.history_size)?,
            None => Vec::new(),
        },
        window_count,
        window_sum,
        other_customers: if settings.shared_destination {
            risk::other_customers(conn, customer_id, destination)?
        } else {
            Vec::new()
        },
    };
    Ok(risk_rules::evaluate(&settings, &facts))
}

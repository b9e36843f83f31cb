//! The webhook outbox as the delivery service and staff see it (`crate::webhook` sends).

use super::{require, Actor, Coordinator, ServiceError};
use crate::db::webhooks::{self, Delivery, OutboxEvent};
use crate::rules::roles::Permission;

/// The most outbox events one delivery pass takes per endpoint.
pub const WEBHOOK_BATCH: u32 = 50;

impl Coordinator {
    /// Events due for delivery to `endpoint` at `now_ms` (the delivery service).
    pub fn webhook_due(&mut self, endpoint: &str, now_ms: i64) -> Result<Vec<OutboxEvent>, ServiceError> {
        let tx = self.db.read()?;
        Ok(webhooks::due(&tx, endpoint, now_ms, WEBHOOK_BATCH)?)
    }

    /// Logs one delivery attempt (the delivery service).
    pub fn record_webhook_attempt(&mut self, seq: i64, delivery: &Delivery) -> Result<(), ServiceError> {
        let tx = self.db.write()?;
        webhooks::record_attempt(&tx, seq, delivery)?;
        tx.commit()?;
        Ok(())
    }

    /// The newest delivery attempts, newest first (`webhook deliveries`).
    pub fn webhook_deliveries(&mut self, actor: &Actor, limit: u32) -> Result<Vec<Delivery>, ServiceError> {
        require(actor, Permission::ReadWithdrawals)?;
        let tx = self.db.read()?;
        Ok(webhooks::deliveries(&tx, limit)?)
    }

    /// How many events `endpoint` has not received yet.
    pub fn webhook_undelivered(&mut self, endpoint: &str) -> Result<u64, ServiceError> {
        let tx = self.db.read()?;
        Ok(webhooks::undelivered(&tx, endpoint)?)
    }
}

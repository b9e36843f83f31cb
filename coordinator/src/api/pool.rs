//! A few open `Coordinator`s (SQLite connections) reused across requests. Each request's
//! work runs on tokio's blocking pool with one connection taken from here.

use std::path::PathBuf;
use std::sync::Mutex;

use bitcoin::Network;

use super::group_commit::{GroupQueue, IntakeWrites, SignatureWrites};
use crate::identity::CoordinatorIdentity;
use crate::service::{Coordinator, ServiceError};

/// Idle connections kept for reuse; more are opened under load and closed afterwards.
const MAX_IDLE: usize = 8;

#[derive(Debug)]
pub struct CoordinatorPool {
    db_path: PathBuf,
    network: Network,
    idle: Mutex<Vec<Coordinator>>,
    nonces: super::NonceCache,
    identity: CoordinatorIdentity,
    intake: GroupQueue<IntakeWrites>,
    signatures: GroupQueue<SignatureWrites>,
}

impl CoordinatorPool {
    /// Opens one connection at once, so a missing or foreign database fails at start-up
    /// rather than on the first request. `identity` signs the replies to online signers.
    pub fn open(
        db_path: PathBuf,
        network: Option<Network>,
        identity: CoordinatorIdentity,
    ) -> Result<CoordinatorPool, ServiceError> {
        let first = Coordinator::open(&db_path, network)?;
        let intake = GroupQueue::start(db_path.clone(), first.network())?;
        let signatures = GroupQueue::start(db_path.clone(), first.network())?;
        Ok(CoordinatorPool {
            network: first.network(),
            db_path,
            idle: Mutex::new(vec![first]),
            nonces: super::NonceCache::default(),
            identity,
            intake,
            signatures,
        })
    }

    /// The coordinator's identity key, which signs every reply to an online signer.
    pub fn identity(&self) -> &CoordinatorIdentity {
        &self.identity
    }

    pub fn network(&self) -> Network {
        self.network
    }

    /// Withdrawal intake with group commit (`group_commit`).
    pub(crate) fn intake(&self) -> &GroupQueue<IntakeWrites> {
        &self.intake
    }

    /// Online signers' signatures with group commit (`group_commit`).
    pub(crate) fn signatures(&self) -> &GroupQueue<SignatureWrites> {
        &self.signatures
    }

    /// Signer request nonces seen by this API process.
    pub fn nonces(&self) -> &super::NonceCache {
        &self.nonces
    }

    /// Runs `work` with a connection (blocking: call from `spawn_blocking`).
    pub fn with<T, E: From<ServiceError>>(
        &self,
        work: impl FnOnce(&mut Coordinator) -> Result<T, E>,
    ) -> Result<T, E> {
        let taken = self.idle.lock().map(|mut idle| idle.pop()).unwrap_or(None);
        let mut coord = match taken {
            Some(coord) => coord,
            None => Coordinator::open(&self.db_path, Some(self.network))?,
        };
        let result = work(&mut coord);
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE {
                idle.push(coord);
            }
        }
        result
    }
}

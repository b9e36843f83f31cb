//! The coordinator's operations, shared by the HTTP API and the CLI so the same rules
//! apply whichever front end a person uses. Each operation authenticates an `Actor`,
//! opens one transaction, gathers facts, asks `rules` for a decision and records it.

mod admin;
mod approval;
mod audit;
mod auth;
mod changes;
mod coins;
mod deposit_monitor;
mod deposits;
mod desk;
mod enrollment;
mod intake;
mod mempool_deposits;
mod monitor;
mod monitor_pass;
mod operations;
mod processor;
mod proposals;
mod queries;
mod resolutions;
mod sender;
mod session_queries;
mod sign_in;
mod signer_reports;
mod signing;
mod stuck;
mod sweep_watch;
mod wallets;
mod webhooks;

#[cfg(test)]
mod stuck_tests;

#[cfg(test)]
mod deposit_tests;
#[cfg(test)]
mod proposal_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod risk_tests;
#[cfg(test)]
mod sign_in_tests;
#[cfg(test)]
mod tests;

use std::path::Path;

use bitcoin::Network;
use rusqlite::Connection;

pub use self::auth::{Actor, ApiToken, EnrollmentSecret, InvalidEnrollmentSecret, InvalidToken};
pub use self::changes::{Applied, Change, Preview};
pub use self::deposits::{
    address_to_api, kyc_status_from_words, BlocklistImport, CustomerKyc, DepositDetail, MAX_DEPOSIT_LISTING,
};
pub use self::desk::AdminDesk;
pub use self::enrollment::EnrollmentRefusal;
pub use self::intake::{Intake, IntakeRequest};
pub use self::mempool_deposits::{mempool_pass, unconfirmed_to_api, MempoolWatch};
pub use self::monitor::AppliedBlock;
pub use self::monitor_pass::{monitor_pass, MonitorError, MonitorPass, MonitorSettings};
pub use self::operations::OperationsSnapshot;
pub use self::processor::{
    BatchOutcome, BatchSummary, PartialBatches, ProcessorConfig, ProcessorPass, SESSIONS_PER_COMMIT,
};
pub use self::proposals::{Proposal, Proposed};
pub use self::queries::WithdrawalQuery;
pub use self::resolutions::ResolutionAction;
pub use self::sender::FinalTransaction;
pub use self::session_queries::{SessionSummary, SESSION_STATUSES};
pub use self::sign_in::{ConsoleEnrollment, ConsoleSessionId, Password, SignInRefusal, MIN_PASSWORD_CHARS};
pub use self::signing::{OnlineSignatures, SessionOffer, Submitter};
pub use self::stuck::BumpSummary;
pub use self::wallets::{CreatedWallet, NewWalletRequest, WalletSummary};
use crate::db::{self, Database, DbError};
use crate::rules::approval::ApprovalRefusal;
use crate::rules::deposits::DepositRefusal;
use crate::rules::fee_bump::BumpRefusal;
use crate::rules::intake::IntakeRefusal;
use crate::rules::proposals::ProposalRefusal;
use crate::rules::roles::{Permission, Role};
use crate::rules::signatures::SignatureRefusal;
use crate::wallet_spec::WalletSpecError;

/// The coordinator's state and operations over one database connection. Open one per
/// thread; SQLite serialises writers across connections and processes.
#[derive(Debug)]
pub struct Coordinator {
    db: Database,
}

/// What kind of failure an error is, for front ends choosing an HTTP status or exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No valid credentials.
    Unauthenticated,
    /// Valid credentials, not allowed.
    Forbidden,
    NotFound,
    /// Conflicts with the current state (already exists, already decided, key reused).
    Conflict,
    /// Well-formed but refused by a rule.
    Refused,
    /// Malformed input.
    BadRequest,
    /// Our fault or the database's: retry later or call an operator.
    Internal,
    /// Another writer held the database beyond the busy timeout: nothing was changed;
    /// retry (a withdrawal with the same idempotency key).
    Busy,
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("not authenticated: give a valid, active staff token (Authorization: Bearer TOKEN, --token or SLUICE_TOKEN)")]
    Unauthenticated,
    #[error("{name} has role {role}, which cannot {}", .needed.describe())]
    Forbidden {
        name: String,
        role: Role,
        needed: Permission,
    },
    #[error("{0} not found")]
    NotFound(String),
    #[error(transparent)]
    Intake(#[from] IntakeRefusal),
    #[error(transparent)]
    Approval(#[from] ApprovalRefusal),
    #[error(transparent)]
    Proposal(#[from] ProposalRefusal),
    #[error(transparent)]
    Enrollment(#[from] EnrollmentRefusal),
    #[error(transparent)]
    SignIn(#[from] SignInRefusal),
    #[error(transparent)]
    Deposit(#[from] DepositRefusal),
    #[error("idempotency key {key:?} was already used for a different request (withdrawal {existing_id}): use a new key for a new withdrawal")]
    IdempotencyConflict { key: String, existing_id: u64 },
    #[error("unknown wallet {0:?}: `wallet list` shows the wallets")]
    UnknownWallet(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0}")]
    Invalid(String),
    /// The state does not allow it now (e.g. bumping a confirmed session).
    #[error("{0}")]
    Conflict(String),
    #[error("fee bump refused: {0}")]
    Bump(#[from] BumpRefusal),
    #[error(transparent)]
    Wallet(#[from] WalletSpecError),
    #[error("signatures refused: {0}")]
    Signatures(#[from] SignatureRefusal),
    #[error(transparent)]
    Database(#[from] DbError),
}

impl ServiceError {
    /// The stable code clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::Unauthenticated => "unauthenticated",
            ServiceError::Forbidden { .. } => "forbidden",
            ServiceError::NotFound(_) => "not_found",
            ServiceError::Intake(refusal) => refusal.code(),
            ServiceError::Approval(refusal) => refusal.code(),
            ServiceError::Proposal(refusal) => refusal.code(),
            ServiceError::Enrollment(refusal) => refusal.code(),
            ServiceError::SignIn(refusal) => refusal.code(),
            ServiceError::Deposit(refusal) => refusal.code(),
            ServiceError::IdempotencyConflict { .. } => "idempotency_conflict",
            ServiceError::UnknownWallet(_) => "unknown_wallet",
            ServiceError::AlreadyExists(_) => "already_exists",
            ServiceError::Invalid(_) => "invalid_request",
            ServiceError::Conflict(_) => "conflict",
            ServiceError::Bump(_) => "bump_refused",
            ServiceError::Wallet(_) => "invalid_wallet",
            ServiceError::Signatures(_) => "signatures_refused",
            ServiceError::Database(e) if e.is_busy() => "busy",
            // Still an internal error (500, details only in the coordinator's log), but
            // one an operator must act on: `audit verify`, then restore from a backup.
            ServiceError::Database(DbError::AuditUnsigned { .. } | DbError::SchemaAltered(_)) => {
                "database_tampered"
            }
            ServiceError::Database(_) => "internal",
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            ServiceError::Unauthenticated => ErrorKind::Unauthenticated,
            ServiceError::Forbidden { .. } => ErrorKind::Forbidden,
            ServiceError::Approval(ApprovalRefusal::WrongRole(_) | ApprovalRefusal::OwnWithdrawal) => {
                ErrorKind::Forbidden
            }
            ServiceError::Proposal(ProposalRefusal::OwnProposal) => ErrorKind::Forbidden,
            ServiceError::Enrollment(EnrollmentRefusal::Unknown) => ErrorKind::Unauthenticated,
            ServiceError::SignIn(_) => ErrorKind::Unauthenticated,
            ServiceError::NotFound(_) => ErrorKind::NotFound,
            ServiceError::Approval(
                ApprovalRefusal::AlreadyApproved
                | ApprovalRefusal::NotPending(_)
                | ApprovalRefusal::NotCancellable(_),
            )
            | ServiceError::Proposal(ProposalRefusal::NotPending(_))
            | ServiceError::Enrollment(EnrollmentRefusal::AlreadyUsed | EnrollmentRefusal::Superseded(_))
            | ServiceError::IdempotencyConflict { .. }
            | ServiceError::AlreadyExists(_)
            | ServiceError::Conflict(_) => ErrorKind::Conflict,
            ServiceError::Intake(IntakeRefusal::InvalidIdempotencyKey)
            | ServiceError::Deposit(
                DepositRefusal::BadSettings(_) | DepositRefusal::BadBlocklistEntry { .. },
            )
            | ServiceError::Approval(ApprovalRefusal::BadReason)
            | ServiceError::Proposal(ProposalRefusal::BadReason)
            | ServiceError::Invalid(_) => ErrorKind::BadRequest,
            ServiceError::Intake(_)
            | ServiceError::Approval(_)
            | ServiceError::Proposal(_)
            | ServiceError::Enrollment(_)
            | ServiceError::Deposit(_)
            | ServiceError::UnknownWallet(_)
            | ServiceError::Wallet(_)
            | ServiceError::Bump(_)
            | ServiceError::Signatures(_) => ErrorKind::Refused,
            ServiceError::Database(e) if e.is_busy() => ErrorKind::Busy,
            ServiceError::Database(_) => ErrorKind::Internal,
        }
    }
}

impl From<rusqlite::Error> for ServiceError {
    fn from(e: rusqlite::Error) -> Self {
        ServiceError::Database(DbError::Sqlite(e))
    }
}

impl Coordinator {
    /// Opens an initialised database (see `Coordinator::initialise`).
    pub fn open(path: &Path, expected_network: Option<Network>) -> Result<Coordinator, ServiceError> {
        Ok(Coordinator {
            db: Database::open(path, expected_network)?,
        })
    }

    pub fn network(&self) -> Network {
        self.db.network()
    }

    /// For a connection that commits groups of small requests
    /// ([`Database::journal_statements_in_memory`]).
    pub(crate) fn journal_statements_in_memory(&self) -> Result<(), ServiceError> {
        Ok(self.db.journal_statements_in_memory()?)
    }

    /// The raw connection, for tests that inspect what was recorded.
    pub fn connection(&self) -> &Connection {
        self.db.connection()
    }

    /// Runs `change` on the raw connection in a write transaction and commits it, its
    /// audit entries signed as every commit signs them: for tests that set up a state
    /// directly. (A change made on `connection()` outside a transaction would leave its
    /// audit entries unsigned, and the coordinator refuses to write after those.)
    pub fn write_directly<T>(&mut self, change: impl FnOnce(&Connection) -> T) -> Result<T, ServiceError> {
        let tx = self.db.write()?;
        let value = change(&tx);
        tx.commit()?;
        Ok(value)
    }
}

/// Checks a name, id or label people will read: 1 to `max` characters, no control
/// characters, no leading or trailing spaces (they make two names look alike).
pub(crate) fn check_name(what: &str, text: &str, max: usize) -> Result<(), ServiceError> {
    let ok = !text.is_empty()
        && text.chars().count() <= max
        && !text.chars().any(char::is_control)
        && text.trim() == text;
    if ok {
        Ok(())
    } else {
        Err(ServiceError::Invalid(format!(
            "{what} must be 1 to {max} characters, without control characters or surrounding spaces"
        )))
    }
}

/// Fails unless the actor's role allows `permission`.
fn require(actor: &Actor, permission: Permission) -> Result<(), ServiceError> {
    if actor.role().allows(permission) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden {
            name: actor.name().to_owned(),
            role: actor.role(),
            needed: permission,
        })
    }
}

/// Inside a write transaction: the actor is still active with the same role (a token
/// revoked a moment ago stops working for every change from then on).
fn require_current(conn: &Connection, actor: &Actor, permission: Permission) -> Result<(), ServiceError> {
    require(actor, permission)?;
    match db::staff::find(conn, actor.name())? {
        Some(staff) if staff.active && staff.role == actor.role() => Ok(()),
        _ => Err(ServiceError::Unauthenticated),
    }
}

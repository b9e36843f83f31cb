//! The coordinator's decisions about money, as pure functions: they take values (facts
//! read from the database, the time, the actor) and return a decision or a refusal that
//! names the rule. No I/O here; `service` gathers the facts and records the outcome.

pub mod approval;
pub mod coin_selection;
pub mod deposits;
pub mod fee_bump;
pub mod fees;
pub mod intake;
pub mod kyc;
pub mod policy;
pub mod proposals;
pub mod risk;
pub mod roles;
pub mod sign_in;
pub mod signatures;
pub mod status;

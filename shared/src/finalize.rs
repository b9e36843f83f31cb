//! Combining partial signatures and finalizing PSBTs into transactions.
//!
//! OWNER: helper "psbt".

//! Building unsigned PSBTs for a wallet: full BIP32 origins on inputs and change,
//! `non_witness_utxo` on segwit v0 inputs. Used by the coordinator's processor and by
//! tests and benchmarks that need realistic PSBTs.
//!
//! OWNER: helper "psbt".

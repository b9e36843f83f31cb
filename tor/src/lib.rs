//! Stealth mode: online signers reach the coordinator only through a Tor onion service
//! with restricted discovery, both sides running arti in-process (no system Tor daemon).
//!
//! - [`network`]: which Tor network arti joins (the public one, or a private test network
//!   named by its authorities and relays) and where its state and cache live.
//! - [`keys`]: the coordinator's onion identity key and the signers' restricted-discovery
//!   (client authorization) keys, with the one-line public form the coordinator registers.
//! - [`service`]: the coordinator publishes its signer API as an onion service whose
//!   descriptor only the authorized signers can decrypt; the set changes without a restart.
//! - [`dial`]: the signer connects to `http://<56 chars>.onion`, through Tor only.
//!
//! Only the binaries that go online depend on this crate: the cold signer build does not.
#![forbid(unsafe_code)]

pub mod dial;
pub mod keys;
pub mod network;
pub mod service;

pub use dial::{OnionAddress, OnionDialer};
pub use keys::{DiscoveryKey, DiscoveryPublicKey, OnionIdentityKey};
pub use network::{ArtiDirs, FallbackRelay, NetworkConfig, TorClient};
pub use service::{AuthorizedSigner, SignerOnionService};

/// What went wrong in stealth mode.
#[derive(Debug, thiserror::Error)]
pub enum TorError {
    #[error("the Tor configuration is not usable: {0}")]
    Config(String),
    #[error("cannot prepare arti's directory {path}: {source}")]
    Dir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("arti could not join the Tor network within {seconds} s: {reason}. Check that this machine reaches the Tor network (or, for a private network, that its relays run)")]
    Bootstrap { seconds: u64, reason: String },
    #[error("{0:?} is not an onion service URL: give http://<56 characters>.onion (optionally :PORT)")]
    BadOnionUrl(String),
    #[error("{0:?} is not a restricted-discovery key: give the one line `sluice-signer tor-key` prints (descriptor:x25519:<52 base32 characters>)")]
    BadDiscoveryKey(String),
    #[error("the onion service {address} refused us: this signer's restricted-discovery key is not authorized there (not registered, or the signer was deactivated). Ask the coordinator's staff to register it with the line `sluice-signer tor-key` prints")]
    NotAuthorized { address: String },
    #[error("no onion service {address} is published on the Tor network: check the address given to --coordinator (and that the coordinator runs with --onion)")]
    NotFound { address: String },
    #[error("connecting to {address} through Tor did not finish within {seconds} s")]
    Timeout { address: String, seconds: u64 },
    #[error("connecting to {address} through Tor failed: {reason}")]
    Connect { address: String, reason: String },
    #[error("publishing the onion service failed: {0}")]
    Publish(String),
}

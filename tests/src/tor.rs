//! A private Tor network for the stealth-mode tests. The network itself (authorities,
//! relays, readiness) is `sluice_devnet::tor_network`, shared with `sluice-devnet --tor`;
//! this adds the tests' rule: missing `tor` is a failure that says how to install it, never
//! a skip.

pub use sluice_devnet::tor_network::TorNetwork;

/// Starts a private Tor network on 127.0.0.1; panics with what to do when `tor` is missing.
pub fn start_tor_network() -> TorNetwork {
    match TorNetwork::start() {
        Ok(network) => network,
        Err(e) => panic!("starting the private Tor network: {e:#}"),
    }
}

//! The private Tor network harness on its own: it starts, its consensus lists every relay,
//! it describes itself for arti, and every process is gone after drop.

use sluice_e2e::tor::start_tor_network;

#[test]
fn private_tor_network_starts_lists_every_relay_and_stops() {
    let network = start_tor_network();
    eprintln!(
        "private Tor network ready in {:.1} s ({} authorities, {} relays in all)",
        network.started_in().as_secs_f64(),
        network.authorities().len(),
        network.fallback_caches().len()
    );
    assert_eq!(network.authorities().len(), 3);
    assert_eq!(network.fallback_caches().len(), 5);
    for relay in network.fallback_caches() {
        assert_eq!(relay.rsa_identity.len(), 40, "{relay:?}");
        assert_eq!(relay.ed_identity.len(), 43, "{relay:?}");
    }
    if std::env::var_os("SLUICE_SHOW_CONSENSUS").is_some() {
        eprintln!("{}", network.consensus_text());
        std::thread::sleep(std::time::Duration::from_secs(40));
        eprintln!("{}", network.consensus_text());
    }
    let pids = network.pids();
    assert_eq!(pids.len(), 5);
    drop(network);
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "tor process {pid} outlived the network"
        );
    }
}

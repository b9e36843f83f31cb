//! Bitcoin networks as operators name them.

pub use bitcoin::Network;

/// The network name was not recognised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown network {0:?}: use bitcoin, testnet, testnet4, signet or regtest")]
pub struct UnknownNetwork(pub String);

/// Parses a network name. `mainnet` is accepted as another name for `bitcoin`.
pub fn parse_network(name: &str) -> Result<Network, UnknownNetwork> {
    match name.trim().to_ascii_lowercase().as_str() {
        "bitcoin" | "mainnet" | "main" => Ok(Network::Bitcoin),
        "testnet" | "testnet3" | "test" => Ok(Network::Testnet),
        "testnet4" => Ok(Network::Testnet4),
        "signet" => Ok(Network::Signet),
        "regtest" => Ok(Network::Regtest),
        _ => Err(UnknownNetwork(name.to_owned())),
    }
}

/// The canonical name used in files and on the command line.
pub fn network_name(network: Network) -> &'static str {
    match network {
        Network::Bitcoin => "bitcoin",
        Network::Testnet => "testnet",
        Network::Testnet4 => "testnet4",
        Network::Signet => "signet",
        Network::Regtest => "regtest",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for n in [
            Network::Bitcoin,
            Network::Testnet,
            Network::Testnet4,
            Network::Signet,
            Network::Regtest,
        ] {
            assert_eq!(parse_network(network_name(n)), Ok(n));
        }
        assert!(parse_network("litecoin").is_err());
    }
}

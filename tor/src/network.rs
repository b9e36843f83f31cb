//! Which Tor network arti joins, and where it keeps its state and cache.
//!
//! Production uses the public Tor network with arti's built-in authorities. Tests and the
//! devnet use a private network on 127.0.0.1 (`sluice_devnet::tor_network`), described by a
//! [`NetworkConfig::Private`] file: arti then needs the authorities' v3 identities, every
//! relay as a fallback cache, a subnet-family rule that does not lump every relay on
//! 127.0.0.1 into one family, and the onion-service time period C tor derives from the
//! voting interval (see the team note `tor-private-network.md`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arti_client::config::TorClientConfigBuilder;
use serde::{Deserialize, Serialize};

use crate::TorError;

/// arti with the tokio runtime.
pub type TorClient = arti_client::TorClient<tor_rtcompat::PreferredRuntime>;

/// How long joining the network may take before we give up with an error.
pub const BOOTSTRAP_WITHIN: Duration = Duration::from_secs(120);

/// The Tor network to join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "network", rename_all = "kebab-case", deny_unknown_fields)]
pub enum NetworkConfig {
    /// The public Tor network (arti's built-in authorities and fallbacks).
    Public,
    /// A private test network. Never use this outside tests: whoever runs its
    /// authorities decides what the network looks like.
    Private {
        /// The authorities' v3 identities (40 hex digits each).
        authorities: Vec<String>,
        /// Every relay arti may bootstrap from.
        fallback_caches: Vec<FallbackRelay>,
        /// The onion-service time period in minutes (24 × the voting interval in seconds
        /// / 60 under `TestingTorNetwork`).
        hsdir_interval_minutes: u32,
    },
}

/// A relay arti may fetch its first directory information from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackRelay {
    /// 40 hex digits (the relay's `DataDirectory/fingerprint`).
    pub rsa_identity: String,
    /// Unpadded base64 (`DataDirectory/fingerprint-ed25519`).
    pub ed_identity: String,
    /// `IP:PORT` of its ORPort.
    pub or_address: String,
}

impl NetworkConfig {
    /// Reads a network file written by the private network's harness.
    pub fn read(path: &Path) -> Result<NetworkConfig, TorError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| TorError::Config(format!("reading the Tor network file {}: {e}", path.display())))?;
        serde_json::from_str(&text).map_err(|e| {
            TorError::Config(format!(
                "{} is not a Tor network file ({e}); it names the authorities and relays of a private test network",
                path.display()
            ))
        })
    }

    /// Writes it for [`NetworkConfig::read`].
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// Where one arti instance keeps its state and cache (two separate directories, 0700).
#[derive(Debug, Clone)]
pub struct ArtiDirs {
    pub state: PathBuf,
    pub cache: PathBuf,
}

impl ArtiDirs {
    /// `DIR/state` and `DIR/cache`.
    pub fn under(dir: &Path) -> ArtiDirs {
        ArtiDirs {
            state: dir.join("state"),
            cache: dir.join("cache"),
        }
    }

    fn create(&self) -> Result<(), TorError> {
        for dir in [&self.state, &self.cache] {
            create_private_dir(dir)?;
        }
        Ok(())
    }
}

/// Creates `dir` (and missing parents) and makes it 0700.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), TorError> {
    use std::os::unix::fs::PermissionsExt;
    let failed = |source| TorError::Dir {
        path: dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(failed)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(failed)
}

/// arti's configuration for `network`, with its directories in `dirs` and keys held in
/// memory only (an ephemeral keystore: our keys live sealed in our own stores and are handed
/// to arti at start; nothing of them is written by arti).
pub fn client_config(
    network: &NetworkConfig,
    dirs: &ArtiDirs,
) -> Result<arti_client::TorClientConfig, TorError> {
    let path = |p: &Path| serde_json::json!({ "literal": p.display().to_string() });
    let mut config = serde_json::json!({
        "storage": {
            "state_dir": path(&dirs.state),
            "cache_dir": path(&dirs.cache),
            "keystore": { "primary": { "kind": "ephemeral" } },
        },
    });
    if let NetworkConfig::Private {
        authorities,
        fallback_caches,
        hsdir_interval_minutes,
    } = network
    {
        let fallbacks: Vec<_> = fallback_caches
            .iter()
            .map(|relay| {
                serde_json::json!({
                    "rsa_identity": relay.rsa_identity,
                    "ed_identity": relay.ed_identity,
                    "orports": [relay.or_address],
                })
            })
            .collect();
        config["tor_network"] = serde_json::json!({
            "authorities": { "v3idents": authorities },
            "fallback_caches": fallbacks,
        });
        // Every relay of the private network is on 127.0.0.1: without this arti counts
        // them all as one family and finds no path.
        config["path_rules"] = serde_json::json!({
            "ipv4_subnet_family_prefix": 33,
            "ipv6_subnet_family_prefix": 129,
        });
        config["override_net_params"] = private_network_params(*hsdir_interval_minutes);
    }
    let builder: TorClientConfigBuilder = serde_json::from_value(config)
        .map_err(|e| TorError::Config(format!("building arti's configuration: {e}")))?;
    builder
        .build()
        .map_err(|e| TorError::Config(format!("arti refused the configuration: {e}")))
}

/// The consensus parameters arti must override on a private network (`override_net_params`).
///
/// - `hsdir_interval`: the onion-service time period C tor derives from the voting interval
///   under `TestingTorNetwork`; with arti's default the two sides blind the service's key for
///   different periods and every HSDir answers 404.
/// - `cbtdisabled`: no learned circuit timeouts. After about 100 circuits arti replaces its
///   initial 60 s timeouts by ones learned from how long its circuits took to build, and
///   allows one round trip to an HSDir two thirds of the learned build timeout (4-hop
///   circuit; tor-hsclient's `descriptor_fetch_attempt`, no floor but cbtmintimeout's
///   10 ms). On 127.0.0.1 circuits build in milliseconds: the allowance came to about
///   50 ms, enough for a 404 but not for the descriptor, so once a client had retried long
///   enough while nothing was published, every download timed out ("Unable to download
///   hidden service descriptor") for as long as it ran. On the public network latency
///   comes from the path, as the estimator assumes; it keeps arti's defaults.
fn private_network_params(hsdir_interval_minutes: u32) -> serde_json::Value {
    serde_json::json!({
        "hsdir_interval": hsdir_interval_minutes,
        "cbtdisabled": 1,
    })
}

/// Starts arti and joins `network` (bounded by [`BOOTSTRAP_WITHIN`]). Must run inside a
/// tokio runtime.
pub async fn start_client(network: &NetworkConfig, dirs: &ArtiDirs) -> Result<Arc<TorClient>, TorError> {
    dirs.create()?;
    let config = client_config(network, dirs)?;
    match tokio::time::timeout(BOOTSTRAP_WITHIN, TorClient::create_bootstrapped(config)).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(TorError::Bootstrap {
            seconds: BOOTSTRAP_WITHIN.as_secs(),
            reason: arti_error(&e),
        }),
        Err(_) => Err(TorError::Bootstrap {
            seconds: BOOTSTRAP_WITHIN.as_secs(),
            reason: "timed out".to_owned(),
        }),
    }
}

/// An arti error with its causes, as one line.
pub(crate) fn arti_error(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_network_file_becomes_an_arti_configuration() {
        let network = NetworkConfig::Private {
            authorities: vec!["8656228E5C22DEC862A66790CDD6D4C44E46468E".to_owned()],
            fallback_caches: vec![FallbackRelay {
                rsa_identity: "5CDA7D31BDDA3CCB268ED3727B0317DC8CB9A758".to_owned(),
                ed_identity: "p7A3bLzS3E1ZqYB1i4b5a9cY3VJ5w0c8NNr1XkH4Z1E".to_owned(),
                or_address: "127.0.0.1:5000".to_owned(),
            }],
            hsdir_interval_minutes: 6,
        };
        let read_back: NetworkConfig =
            serde_json::from_str(&network.to_json()).expect("the file round-trips");
        assert_eq!(read_back, network);
        let dirs = ArtiDirs::under(Path::new("/nonexistent/arti"));
        client_config(&network, &dirs).expect("arti accepts the private network");
        client_config(&NetworkConfig::Public, &dirs).expect("arti accepts the public network");
    }

    #[test]
    fn a_bad_network_file_names_the_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("network.json");
        std::fs::write(&file, r#"{"network": "private", "authorities": "x"}"#).expect("write");
        let error = NetworkConfig::read(&file).unwrap_err().to_string();
        assert!(error.contains("is not a Tor network file"), "{error}");
    }
}

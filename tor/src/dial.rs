//! The signer's side: connections to the coordinator's onion service through arti, and
//! nothing else. There is no clearnet fallback and no DNS: an onion address is resolved
//! inside Tor, and arti is never asked for any other host.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use arti_client::{ErrorKind, HasKind, KeystoreSelector};
use tor_hscrypto::pk::HsId;

use crate::keys::DiscoveryKey;
use crate::network::{arti_error, TorClient};
use crate::TorError;

/// An onion service's HTTP address: `http://<56 characters>.onion[:PORT]`.
#[derive(Clone, PartialEq, Eq)]
pub struct OnionAddress {
    hs_id: HsId,
    host: String,
    port: u16,
}

impl OnionAddress {
    /// `<56 characters>.onion`.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether `url` names an onion service (the transport to use), valid or not.
    pub fn looks_like_onion(url: &str) -> bool {
        let url = url.trim().trim_end_matches('/');
        let host = url.strip_prefix("http://").unwrap_or(url);
        let host = host.rsplit_once(':').map_or(host, |(host, _port)| host);
        host.to_ascii_lowercase().ends_with(".onion")
    }
}

impl FromStr for OnionAddress {
    type Err = TorError;

    fn from_str(url: &str) -> Result<Self, TorError> {
        let bad = || TorError::BadOnionUrl(url.to_owned());
        let rest = url
            .trim()
            .trim_end_matches('/')
            .strip_prefix("http://")
            .ok_or_else(bad)?;
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (host, port.parse::<u16>().map_err(|_| bad())?),
            None => (rest, 80),
        };
        let host = host.to_ascii_lowercase();
        if port == 0 || host.len() != 56 + ".onion".len() || host.contains('/') {
            return Err(bad());
        }
        let hs_id = HsId::from_str(&host).map_err(|_| bad())?;
        Ok(OnionAddress { hs_id, host, port })
    }
}

impl fmt::Display for OnionAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}:{}", self.host, self.port)
    }
}

impl fmt::Debug for OnionAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OnionAddress({self})")
    }
}

/// Opens streams to one onion service with this signer's restricted-discovery key.
pub struct OnionDialer {
    client: Arc<TorClient>,
    address: OnionAddress,
    timeout: Duration,
}

impl fmt::Debug for OnionDialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnionDialer")
            .field("address", &self.address)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl OnionDialer {
    /// Hands `key` to arti (held in memory only: arti's keystore here is ephemeral) for
    /// `address`. Every [`OnionDialer::connect`] gives up after `timeout`.
    pub fn new(
        client: Arc<TorClient>,
        address: OnionAddress,
        key: &DiscoveryKey,
        timeout: Duration,
    ) -> Result<OnionDialer, TorError> {
        client
            .insert_service_discovery_key(KeystoreSelector::Primary, address.hs_id, key.secret())
            .map_err(|e| {
                TorError::Config(format!(
                    "giving arti the restricted-discovery key: {}",
                    arti_error(&e)
                ))
            })?;
        Ok(OnionDialer {
            client,
            address,
            timeout,
        })
    }

    pub fn address(&self) -> &OnionAddress {
        &self.address
    }

    /// A new stream to the service, within the timeout.
    pub async fn connect(&self) -> Result<arti_client::DataStream, TorError> {
        let address = self.address.host.clone();
        let target = (self.address.host.as_str(), self.address.port);
        match tokio::time::timeout(self.timeout, self.client.connect(target)).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(match e.kind() {
                ErrorKind::OnionServiceMissingClientAuth | ErrorKind::OnionServiceWrongClientAuth => {
                    TorError::NotAuthorized { address }
                }
                ErrorKind::OnionServiceNotFound => TorError::NotFound { address },
                _ => TorError::Connect {
                    address,
                    reason: arti_error(&e),
                },
            }),
            Err(_) => Err(TorError::Timeout {
                address,
                seconds: self.timeout.as_secs(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::OnionIdentityKey;

    #[test]
    fn onion_urls() {
        let host = OnionIdentityKey::from_bytes([3; 32]).onion_address();
        let address: OnionAddress = format!("http://{host}").parse().expect("plain");
        assert_eq!((address.host(), address.port()), (host.as_str(), 80));
        let address: OnionAddress = format!("http://{}:8080/", host.to_uppercase())
            .parse()
            .expect("port, upper case, slash");
        assert_eq!((address.host(), address.port()), (host.as_str(), 8080));
        assert!(OnionAddress::looks_like_onion(&format!("http://{host}:1")));
        assert!(!OnionAddress::looks_like_onion("http://127.0.0.1:8080"));
        let mut wrong_checksum = host.clone();
        wrong_checksum.replace_range(10..11, if &host[10..11] == "a" { "b" } else { "a" });
        for bad in [
            host.clone(),
            format!("https://{host}"),
            format!("http://{host}:0"),
            format!("http://{host}/v1"),
            format!("http://{wrong_checksum}"),
            "http://abc.onion".to_owned(),
            "http://127.0.0.1:80".to_owned(),
        ] {
            let error = bad.parse::<OnionAddress>().unwrap_err().to_string();
            assert!(error.contains("not an onion service URL"), "{bad}: {error}");
        }
    }
}

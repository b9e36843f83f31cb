//! The coordinator's signer API as an onion service with restricted discovery.
//!
//! The descriptor (which says how to reach the service) is encrypted to the
//! restricted-discovery keys of the registered, active signers only; anyone else, even with
//! the onion address, cannot find an introduction point. [`SignerOnionService::authorize`]
//! replaces the set while the service runs (arti republishes the descriptor). Restricted
//! discovery is a barrier against discovery and denial of service, not the authentication:
//! every signer request stays signed with the signer's identity key, checked above this.
//!
//! arti needs at least one authorized key to publish a restricted descriptor; with no
//! signer registered we authorize a throwaway key nobody holds, so the service stays closed.

use std::sync::Arc;

use futures::{Stream, StreamExt};
use tor_cell::relaycell::msg::Connected;
use tor_hsservice::status::State;
use tor_hsservice::{RunningOnionService, StreamRequest};

use crate::keys::{DiscoveryKey, DiscoveryPublicKey, OnionIdentityKey};
use crate::network::{arti_error, TorClient};
use crate::TorError;

/// arti's name for the service (its state lives under this name in arti's state dir).
const SERVICE_NICKNAME: &str = "sluice-signer-api";

/// A signer allowed to discover the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizedSigner {
    /// A name for the key: lowercase letters, digits, `-` and `_` (the signer id works).
    pub nickname: String,
    pub key: DiscoveryPublicKey,
}

/// The running onion service.
pub struct SignerOnionService {
    running: Arc<RunningOnionService>,
    address: String,
    authorized: std::sync::Mutex<Vec<AuthorizedSigner>>,
}

/// A connection a signer opened to the service.
pub type OnionStream = arti_client::DataStream;

impl std::fmt::Debug for SignerOnionService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignerOnionService")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl SignerOnionService {
    /// Publishes the service under `identity` for `signers`. The returned stream yields
    /// each connection a signer opens (any virtual port reaches the signer API).
    pub fn publish(
        client: &TorClient,
        identity: &OnionIdentityKey,
        signers: &[AuthorizedSigner],
    ) -> Result<
        (
            SignerOnionService,
            impl Stream<Item = StreamRequest> + Send + Unpin + 'static,
        ),
        TorError,
    > {
        let config = service_config(signers)?;
        let launched = client
            .launch_onion_service_with_hsid(config, identity.keypair())
            .map_err(|e| TorError::Publish(arti_error(&e)))?;
        let Some((running, requests)) = launched else {
            return Err(TorError::Publish(
                "arti skipped the service as disabled".to_owned(),
            ));
        };
        let streams = Box::pin(tor_hsservice::handle_rend_requests(requests));
        Ok((
            SignerOnionService {
                running,
                address: identity.onion_address(),
                authorized: std::sync::Mutex::new(signers.to_vec()),
            },
            streams,
        ))
    }

    /// Logs every change of arti's view of the service (state and problem) until the
    /// service is dropped. arti's state is advisory: on a small network whose consensus
    /// changes every few seconds (the private test network) it keeps falling back to
    /// "bootstrapping" while the descriptor is republished although signers reach the
    /// service, so nothing waits on it; the signers' first successful contact is the proof.
    pub fn log_status_changes(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut events = self.running.status_events();
        let address = self.address.clone();
        async move {
            let mut last = None;
            while let Some(status) = events.next().await {
                let now = (status.state(), format!("{:?}", status.current_problem()));
                if last.as_ref() == Some(&now) {
                    continue;
                }
                if now.0 == State::Broken {
                    tracing::warn!(%address, state = ?now.0, problem = %now.1, "onion service broken");
                } else {
                    tracing::info!(%address, state = ?now.0, problem = %now.1, "onion service state");
                }
                last = Some(now);
            }
        }
    }

    /// `<56 characters>.onion`.
    pub fn onion_address(&self) -> &str {
        &self.address
    }

    /// Replaces the authorized set (arti republishes the descriptor); does nothing when the
    /// set is unchanged. Returns whether it changed.
    ///
    /// A signer removed here cannot fetch a new descriptor, but one it fetched before
    /// stays usable until its introduction points rotate: the coordinator refuses a
    /// deactivated signer's requests by its identity key in any case.
    pub fn authorize(&self, signers: &[AuthorizedSigner]) -> Result<bool, TorError> {
        let mut current = self
            .authorized
            .lock()
            .map_err(|_| TorError::Publish("the authorized set's lock is poisoned".to_owned()))?;
        if current.as_slice() == signers {
            return Ok(false);
        }
        let config = service_config(signers)?;
        self.running
            .reconfigure(config, arti_client::config::Reconfigure::AllOrNothing)
            .map_err(|e| TorError::Publish(format!("updating the authorized signers: {e}")))?;
        *current = signers.to_vec();
        Ok(true)
    }
}

/// Accepts a signer's stream request; `None` when the signer went away meanwhile.
pub async fn accept(request: StreamRequest) -> Option<OnionStream> {
    match request.accept(Connected::new_empty()).await {
        Ok(stream) => Some(stream),
        Err(e) => {
            tracing::debug!("an onion-service stream closed before it was accepted: {e}");
            None
        }
    }
}

/// Adapts the stream of requests into accepted connections, in order.
pub fn accepted_streams(
    requests: impl Stream<Item = StreamRequest> + Send + Unpin + 'static,
) -> impl Stream<Item = OnionStream> + Send + Unpin + 'static {
    Box::pin(requests.filter_map(accept))
}

fn service_config(signers: &[AuthorizedSigner]) -> Result<tor_hsservice::OnionServiceConfig, TorError> {
    let mut keys = serde_json::Map::new();
    for signer in signers {
        if keys
            .insert(signer.nickname.clone(), signer.key.key().to_string().into())
            .is_some()
        {
            return Err(TorError::Config(format!(
                "two restricted-discovery keys are named {:?}",
                signer.nickname
            )));
        }
    }
    if keys.is_empty() {
        let nobody = DiscoveryKey::generate(&mut rand::rngs::OsRng).public_key();
        keys.insert("nobody".to_owned(), nobody.key().to_string().into());
    }
    let config = serde_json::json!({
        "nickname": SERVICE_NICKNAME,
        "restricted_discovery": { "enabled": true, "static_keys": keys },
    });
    let builder: tor_hsservice::config::OnionServiceConfigBuilder = serde_json::from_value(config)
        .map_err(|e| TorError::Config(format!("the onion service's configuration: {e}")))?;
    builder
        .build()
        .map_err(|e| TorError::Config(format!("arti refused the onion service's configuration: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_restricts_discovery_to_the_given_keys() {
        let signer = |name: &str, byte: u8| AuthorizedSigner {
            nickname: name.to_owned(),
            key: DiscoveryKey::from_bytes([byte; 32]).public_key(),
        };
        service_config(&[signer("0123456789abcdef", 1), signer("fedcba9876543210", 2)]).expect("two signers");
        service_config(&[]).expect("no signer: a throwaway key keeps it closed");
        let error = service_config(&[signer("Not A Nickname!", 1)]).unwrap_err();
        assert!(error.to_string().contains("onion service"), "{error}");
    }
}

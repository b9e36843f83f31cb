//! Stealth mode, the coordinator's side (`run api --onion`): the signer API published as
//! an arti onion service with restricted discovery, beside the ordinary listener.
//!
//! - The onion identity key lives in `<db>.onion-key` (hex, 0600, refused if anyone else
//!   may read it), created on first use, exactly like the coordinator's identity key
//!   beside it: the service starts unattended, so a passphrase would have to sit on the
//!   same disk, and the identity key there already matters more (it signs every reply).
//! - arti's state and cache live in `<db>.tor/` (0700); its keystore is in memory only.
//! - Only `/v1/signer/...` is served over the onion service ([`Surface::SignerOnly`]); the
//!   staff API stays on `--listen` alone.
//! - The authorized set is the restricted-discovery keys of the active signers, read from
//!   the database every [`AUTHORIZED_POLL`]: adding, deactivating or rotating a signer
//!   takes effect without a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use sluice_fsutil::{write_file, Access, Existing};
use sluice_tor::network::{start_client, ArtiDirs, NetworkConfig};
use sluice_tor::service::{accepted_streams, AuthorizedSigner, SignerOnionService};
use sluice_tor::{DiscoveryPublicKey, OnionIdentityKey};
use tokio::sync::watch;
use zeroize::Zeroizing;

use crate::api::{self, CoordinatorPool, Surface};
use crate::db::signers;

/// How often the authorized set is read from the database.
pub const AUTHORIZED_POLL: Duration = Duration::from_secs(2);

/// How `run api --onion` was asked to publish.
#[derive(Debug, Clone)]
pub struct OnionOptions {
    /// A private test network's description (`--tor-network FILE`); the public Tor
    /// network when absent.
    pub network_file: Option<PathBuf>,
}

/// `<db>.onion-key`.
pub fn key_path(db: &Path) -> PathBuf {
    db.with_extension("onion-key")
}

/// `<db>.tor`: arti's state and cache.
pub fn tor_dir(db: &Path) -> PathBuf {
    db.with_extension("tor")
}

/// Reads the onion identity key, creating it on first use.
pub fn load_or_create_key(path: &Path) -> Result<OnionIdentityKey> {
    let shown = path.display();
    match sluice_fsutil::mode_of(path) {
        Ok(mode) if mode & 0o077 != 0 => anyhow::bail!(
            "{shown} is readable by others (mode {mode:o}): the onion identity key must be 0600; run `chmod 600 {shown}`"
        ),
        Ok(_) => {
            let text = Zeroizing::new(
                std::fs::read_to_string(path).with_context(|| format!("reading {shown}"))?,
            );
            let bytes = Zeroizing::new(
                hex::decode(text.trim())
                    .ok()
                    .filter(|b| b.len() == 32)
                    .with_context(|| format!("{shown} does not hold an onion identity key (64 hex digits)"))?,
            );
            let mut seed = [0u8; 32];
            seed.copy_from_slice(&bytes);
            let key = OnionIdentityKey::from_bytes(seed);
            zeroize::Zeroize::zeroize(&mut seed);
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = OnionIdentityKey::generate(&mut rand::rngs::OsRng);
            let text = Zeroizing::new(format!("{}\n", hex::encode(key.secret_bytes())));
            sluice_fsutil::create_private_parent(path)?;
            write_file(path, text.as_bytes(), Access::OwnerOnly, Existing::Refuse)?;
            tracing::info!("created the onion identity key {shown}");
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("reading {shown}")),
    }
}

/// The active signers' restricted-discovery keys, as the onion service takes them.
fn authorized_signers(pool: &CoordinatorPool) -> Result<Vec<AuthorizedSigner>> {
    let keys = pool.with(|coord| {
        signers::active_tor_keys(coord.connection()).map_err(crate::service::ServiceError::from)
    })?;
    keys.into_iter()
        .map(|(id, key)| {
            let key: DiscoveryPublicKey = key.to_string().parse()?;
            Ok(AuthorizedSigner {
                nickname: id.to_string(),
                key,
            })
        })
        .collect()
}

/// Publishes the signer API and serves it until `stop`. `announce` receives the line
/// saying where it is published.
pub async fn serve_signer_api(
    db: &Path,
    pool: Arc<CoordinatorPool>,
    options: &OnionOptions,
    stop: watch::Receiver<bool>,
    announce: impl Fn(&str) -> Result<()>,
) -> Result<()> {
    let network = match &options.network_file {
        Some(file) => NetworkConfig::read(file)?,
        None => NetworkConfig::Public,
    };
    let key = load_or_create_key(&key_path(db))?;
    let started = std::time::Instant::now();
    let client = start_client(&network, &ArtiDirs::under(&tor_dir(db))).await?;
    let bootstrapped = started.elapsed();
    let initial = {
        let pool = pool.clone();
        tokio::task::spawn_blocking(move || authorized_signers(&pool)).await??
    };
    let (service, requests) = SignerOnionService::publish(&client, &key, &initial)?;
    let service = Arc::new(service);
    // arti now establishes introduction points and uploads the descriptor (about a second);
    // signers that try before that get "not found" and retry. Its state changes are logged.
    let status_log = tokio::spawn(service.log_status_changes());
    announce(&format!(
        "sluice-coordinator signer api published on http://{} ({} signer(s) authorized; Tor bootstrapped in {:.1} s)",
        service.onion_address(),
        initial.len(),
        bootstrapped.as_secs_f64(),
    ))?;
    let poller = tokio::spawn(follow_authorized_set(pool.clone(), service.clone(), stop.clone()));
    let served = api::serve_stream_of(
        accepted_streams(requests),
        pool,
        Surface::SignerOnly,
        crate::run::stopped(stop.clone()),
    )
    .await;
    poller.abort();
    status_log.abort();
    drop(service);
    drop(client);
    served.context("serving the signer API over the onion service")?;
    if !*stop.borrow() {
        anyhow::bail!("arti's onion service stopped handing us connections: stealth signers cannot reach this coordinator");
    }
    Ok(())
}

/// Re-reads the authorized set every [`AUTHORIZED_POLL`] and republishes on a change.
async fn follow_authorized_set(
    pool: Arc<CoordinatorPool>,
    service: Arc<SignerOnionService>,
    stop: watch::Receiver<bool>,
) {
    loop {
        if crate::run::pause_or_stop(&stop, AUTHORIZED_POLL).await {
            return;
        }
        let pool = pool.clone();
        let read = tokio::task::spawn_blocking(move || authorized_signers(&pool)).await;
        let signers = match read {
            Ok(Ok(signers)) => signers,
            Ok(Err(e)) => {
                tracing::warn!("reading the authorized signers: {e:#}; keeping the current set");
                continue;
            }
            Err(e) => {
                tracing::warn!("reading the authorized signers: {e}; keeping the current set");
                continue;
            }
        };
        match service.authorize(&signers) {
            Ok(true) => tracing::info!(
                signers = signers.len(),
                "the authorized signers changed: republishing the onion service's descriptor"
            ),
            Ok(false) => {}
            Err(e) => tracing::warn!("updating the onion service's authorized signers: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failure report
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn onion_key_is_created_once_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.sqlite");
        let path = key_path(&db);
        assert_eq!(path, dir.path().join("c.onion-key"));
        let created = load_or_create_key(&path).unwrap();
        assert_eq!(sluice_fsutil::mode_of(&path).unwrap(), 0o600);
        let loaded = load_or_create_key(&path).unwrap();
        assert_eq!(loaded.onion_address(), created.onion_address());
        assert!(!format!("{loaded:?}").contains(&hex::encode(created.secret_bytes())));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = load_or_create_key(&path).unwrap_err().to_string();
        assert!(error.contains("readable by others"), "{error}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "not hex\n").unwrap();
        let error = load_or_create_key(&path).unwrap_err().to_string();
        assert!(error.contains("does not hold an onion identity key"), "{error}");
    }
}

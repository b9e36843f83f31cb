//! Stealth mode, the coordinator's side (`run api --onion`): the signer API published as
//! an arti onion service with restricted discovery, beside the ordinary listener.
//!
//! - The onion identity key lives in `<db>.onion-key`, created on first use and sealed at
//!   rest (Argon2id + XChaCha20-Poly1305, the signer's keystore format, purpose
//!   [`KEY_PURPOSE`]) under the passphrase in `--onion-passphrase-file` (0600, refused if
//!   anyone else may read it). Whoever copies the file learns nothing of the key, so
//!   cannot impersonate the coordinator to stealth signers; the passphrase file belongs on
//!   a different medium (a systemd credential, a tmpfs filled at start).
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
use bitcoin::Network;
use secrecy::SecretString;
use sluice_fsutil::{write_file, Access, Existing};
use sluice_shared::keystore::{seal, KdfParams, KeystoreError, SealedSecret};
use sluice_shared::keystore_policy::{check_kdf, check_new_passphrase, is_test_network};
use sluice_tor::network::{start_client, ArtiDirs, NetworkConfig};
use sluice_tor::service::{accepted_streams, AuthorizedSigner, SignerOnionService};
use sluice_tor::{DiscoveryPublicKey, OnionIdentityKey};
use tokio::sync::watch;
use zeroize::Zeroizing;

use crate::api::{self, CoordinatorPool, Surface};
use crate::db::signers;
pub use crate::run::OnionOptions;

/// How often the authorized set is read from the database.
pub const AUTHORIZED_POLL: Duration = Duration::from_secs(2);

/// What the sealed onion key file says it holds (bound into its authentication tag).
pub const KEY_PURPOSE: &str = "sluice-coordinator onion identity key";

/// `<db>.onion-key`.
pub fn key_path(db: &Path) -> PathBuf {
    db.with_extension("onion-key")
}

/// `<db>.tor`: arti's state and cache.
pub fn tor_dir(db: &Path) -> PathBuf {
    db.with_extension("tor")
}

/// Opens the sealed onion identity key at `path` with `passphrase`, creating and sealing a
/// new one on first use (with key derivation fit for `network`).
pub fn load_or_create_key(
    path: &Path,
    passphrase: &SecretString,
    network: Network,
) -> Result<OnionIdentityKey> {
    let shown = path.display();
    match sluice_fsutil::mode_of(path) {
        Ok(mode) if mode & 0o077 != 0 => anyhow::bail!(
            "{shown} is readable by others (mode {mode:o}): the onion identity key must be 0600; run `chmod 600 {shown}`"
        ),
        Ok(_) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {shown}"))?;
            let sealed = SealedSecret::from_json(&text).map_err(|e| {
                anyhow::anyhow!("{shown} is not a sealed onion identity key ({e}); restore it from the backup")
            })?;
            check_kdf(&sealed.kdf, network).with_context(|| format!("opening {shown}"))?;
            let bytes = sealed.open(KEY_PURPOSE, passphrase).map_err(|e| match e {
                KeystoreError::WrongPassphraseOrCorrupt => anyhow::anyhow!(
                    "{shown}: wrong passphrase in --onion-passphrase-file, or the file was altered"
                ),
                other => anyhow::anyhow!("{shown}: {other}"),
            })?;
            let seed: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| anyhow::anyhow!("{shown} does not hold a 32-byte onion identity key"))?;
            let mut seed = Zeroizing::new(seed);
            let key = OnionIdentityKey::from_bytes(*seed);
            zeroize::Zeroize::zeroize(&mut *seed);
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            check_new_passphrase(passphrase).context("the onion key's passphrase")?;
            let kdf = if is_test_network(network) {
                KdfParams::DANGEROUS_WEAK_FOR_TESTS
            } else {
                KdfParams::RECOMMENDED
            };
            let key = OnionIdentityKey::generate(&mut rand::rngs::OsRng);
            let mut salt = [0u8; 16];
            let mut nonce = [0u8; 24];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
            let sealed = seal(KEY_PURPOSE, key.secret_bytes(), passphrase, kdf, salt, nonce)
                .map_err(|e| anyhow::anyhow!("sealing the onion identity key: {e}"))?;
            sluice_fsutil::create_private_parent(path)?;
            write_file(path, sealed.to_json().as_bytes(), Access::OwnerOnly, Existing::Refuse)?;
            tracing::info!("created the onion identity key {shown} (sealed under the passphrase)");
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("reading {shown}")),
    }
}

/// Reads the passphrase file (its first line).
fn read_passphrase(file: &Path) -> Result<SecretString> {
    let line = sluice_fsutil::read_secret_line(file).context("--onion-passphrase-file")?;
    Ok(SecretString::from(line.as_str().to_owned()))
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
    let passphrase = read_passphrase(&options.passphrase_file)?;
    let key = load_or_create_key(&key_path(db), &passphrase, pool.network())?;
    drop(passphrase);
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

    fn passphrase() -> SecretString {
        SecretString::from("onion key passphrase 1".to_owned())
    }

    #[test]
    fn onion_key_is_created_once_sealed_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.sqlite");
        let path = key_path(&db);
        assert_eq!(path, dir.path().join("c.onion-key"));
        let created = load_or_create_key(&path, &passphrase(), Network::Regtest).unwrap();
        assert_eq!(sluice_fsutil::mode_of(&path).unwrap(), 0o600);
        // Sealed: the file holds neither the key nor anything derived from it in clear.
        let on_disk = std::fs::read_to_string(&path).unwrap();
        assert!(!on_disk.contains(&hex::encode(created.secret_bytes())));
        assert!(on_disk.contains(KEY_PURPOSE), "{on_disk}");
        let loaded = load_or_create_key(&path, &passphrase(), Network::Regtest).unwrap();
        assert_eq!(loaded.onion_address(), created.onion_address());
        assert!(!format!("{loaded:?}").contains(&hex::encode(created.secret_bytes())));
        // A wrong passphrase, others' read access, or an altered file: refused, saying which.
        let wrong = SecretString::from("another passphrase 2".to_owned());
        let error = load_or_create_key(&path, &wrong, Network::Regtest)
            .unwrap_err()
            .to_string();
        assert!(error.contains("wrong passphrase"), "{error}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = load_or_create_key(&path, &passphrase(), Network::Regtest)
            .unwrap_err()
            .to_string();
        assert!(error.contains("readable by others"), "{error}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut altered: serde_json::Value = serde_json::from_str(&on_disk).unwrap();
        let hex_text = altered["ciphertext"].as_str().unwrap().to_owned();
        let flipped = if hex_text.starts_with('0') { "1" } else { "0" };
        altered["ciphertext"] = serde_json::json!(format!("{flipped}{}", &hex_text[1..]));
        std::fs::write(&path, altered.to_string()).unwrap();
        let error = load_or_create_key(&path, &passphrase(), Network::Regtest)
            .unwrap_err()
            .to_string();
        assert!(error.contains("altered"), "{error}");
        std::fs::write(&path, "0123abcd\n").unwrap();
        let error = load_or_create_key(&path, &passphrase(), Network::Regtest)
            .unwrap_err()
            .to_string();
        assert!(error.contains("not a sealed onion identity key"), "{error}");
    }

    #[test]
    fn a_new_onion_key_needs_a_real_passphrase_and_real_key_derivation_on_mainnet() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.onion-key");
        let short = SecretString::from("short".to_owned());
        let error = load_or_create_key(&path, &short, Network::Regtest).unwrap_err();
        assert!(format!("{error:#}").contains("shorter than 12"), "{error:#}");
        assert!(!path.exists());
        // A key sealed with test-strength derivation is refused on a real network.
        load_or_create_key(&path, &passphrase(), Network::Regtest).unwrap();
        let error = load_or_create_key(&path, &passphrase(), Network::Bitcoin).unwrap_err();
        assert!(format!("{error:#}").contains("bitcoin"), "{error:#}");
    }
}

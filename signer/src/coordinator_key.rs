//! The coordinator's identity key, stored in the signer's home at setup
//! (`sluice-signer coordinator trust KEY`, the key `sluice-coordinator identity show`
//! prints). Stored rather than passed to `online` each time, so an operator cannot forget
//! it or be talked into another one at a restart.

use std::str::FromStr;

use bitcoin::secp256k1::XOnlyPublicKey;
use sluice_fsutil::{write_file, Access, Existing, WriteError};

use crate::home::Home;

#[derive(Debug, thiserror::Error)]
pub enum CoordinatorKeyError {
    #[error("this signer has not been given its coordinator's key: run `sluice-signer --home {home} coordinator trust KEY` with the key `sluice-coordinator identity show` prints")]
    NotSet { home: String },
    #[error(
        "{0:?} is not a coordinator key: give the 64 hex digits `sluice-coordinator identity show` prints"
    )]
    Malformed(String),
    #[error("{path} does not hold a coordinator key: set it again with `sluice-signer coordinator trust KEY --replace`")]
    Corrupt { path: String },
    #[error("this signer already trusts coordinator {current}: give --replace to trust another one")]
    AlreadySet { current: XOnlyPublicKey },
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// Parses a coordinator key as printed by `sluice-coordinator identity show`.
pub fn parse(text: &str) -> Result<XOnlyPublicKey, CoordinatorKeyError> {
    let text = text.trim();
    if text.len() != 64 {
        return Err(CoordinatorKeyError::Malformed(text.to_owned()));
    }
    XOnlyPublicKey::from_str(text).map_err(|_| CoordinatorKeyError::Malformed(text.to_owned()))
}

/// The key this signer trusts.
pub fn load(home: &Home) -> Result<XOnlyPublicKey, CoordinatorKeyError> {
    let path = home.coordinator_key();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CoordinatorKeyError::NotSet {
                home: home.dir().display().to_string(),
            })
        }
        Err(source) => {
            return Err(CoordinatorKeyError::Read {
                path: path.display().to_string(),
                source,
            })
        }
    };
    parse(&text).map_err(|_| CoordinatorKeyError::Corrupt {
        path: path.display().to_string(),
    })
}

/// Stores `key` as the coordinator this signer trusts; `replace` allows changing it.
pub fn store(home: &Home, key: &XOnlyPublicKey, replace: bool) -> Result<(), CoordinatorKeyError> {
    let existing = if replace {
        Existing::Replace
    } else {
        if let Ok(current) = load(home) {
            return Err(CoordinatorKeyError::AlreadySet { current });
        }
        Existing::Refuse
    };
    write_file(
        &home.coordinator_key(),
        format!("{key}\n").as_bytes(),
        Access::OwnerOnly,
        existing,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failure report
    use super::*;

    const KEY: &str = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";

    #[test]
    fn set_once_then_only_replaced_on_purpose() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        assert!(matches!(load(&home), Err(CoordinatorKeyError::NotSet { .. })));
        let key = parse(KEY).unwrap();
        store(&home, &key, false).unwrap();
        assert_eq!(load(&home).unwrap(), key);
        assert_eq!(sluice_fsutil::mode_of(&home.coordinator_key()).unwrap(), 0o600);
        assert!(matches!(
            store(&home, &key, false),
            Err(CoordinatorKeyError::AlreadySet { .. })
        ));
        store(&home, &key, true).unwrap();
        let (longer, not_hex) = (format!("02{KEY}"), KEY.replace('7', "g"));
        for bad in ["", "02", longer.as_str(), not_hex.as_str()] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}

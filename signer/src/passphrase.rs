//! Where the keystore passphrase comes from: `--passphrase-file FILE`, or a prompt on the
//! terminal. Never from an argument or the environment (both leak to other users through
//! `ps` and `/proc`).

use std::io::{self, IsTerminal};
use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// Why no passphrase could be had. Never contains the passphrase.
#[derive(Debug, thiserror::Error)]
pub enum PassphraseError {
    #[error("reading passphrase file {path}: {source}")]
    File {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("passphrase file {path} is empty: its first line is the passphrase")]
    EmptyFile { path: String },
    #[error("no passphrase: give --passphrase-file FILE (there is no terminal to ask on)")]
    NoTerminal,
    #[error("reading the passphrase from the terminal: {0}")]
    Prompt(#[source] io::Error),
    #[error("the passphrase must not be empty")]
    Empty,
    #[error("the two passphrases do not match")]
    Mismatch,
}

/// Reads the passphrase: the file's first line, or a prompt when stdin is a terminal
/// (asked twice when `confirm`, for a new keystore).
pub fn read(file: Option<&Path>, confirm: bool) -> Result<SecretString, PassphraseError> {
    if let Some(path) = file {
        let line = sluice_fsutil::read_secret_line(path).map_err(|e| match e {
            sluice_fsutil::SecretFileError::Read { path, source } => PassphraseError::File { path, source },
            sluice_fsutil::SecretFileError::Empty { path } => PassphraseError::EmptyFile { path },
        })?;
        return Ok(SecretString::from(line.as_str().to_owned()));
    }
    if !io::stdin().is_terminal() {
        return Err(PassphraseError::NoTerminal);
    }
    let first = SecretString::from(
        rpassword::prompt_password("Keystore passphrase: ").map_err(PassphraseError::Prompt)?,
    );
    if first.expose_secret().is_empty() {
        return Err(PassphraseError::Empty);
    }
    if confirm {
        let again = Zeroizing::new(
            rpassword::prompt_password("Repeat passphrase: ").map_err(PassphraseError::Prompt)?,
        );
        if again.as_str() != first.expose_secret() {
            return Err(PassphraseError::Mismatch);
        }
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_of_the_file_is_the_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pass");
        std::fs::write(&path, "correct horse\r\nignored\n").unwrap();
        assert_eq!(read(Some(&path), true).unwrap().expose_secret(), "correct horse");
        std::fs::write(&path, "\nsecond line\n").unwrap();
        assert!(matches!(
            read(Some(&path), false),
            Err(PassphraseError::EmptyFile { .. })
        ));
        let missing = dir.path().join("missing");
        let err = read(Some(&missing), false).unwrap_err().to_string();
        assert!(err.contains("missing"), "{err}");
    }
}

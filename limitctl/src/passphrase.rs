//! Where the keystore passphrase comes from: `--passphrase-file FILE`, or a prompt on the
//! terminal. Never from an argument or the environment (both leak to other users).

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{bail, Context, Result};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// Reads the passphrase: the file's first line, or a prompt when interactive (asked twice
/// when `confirm`, i.e. when a new keystore is made).
pub fn read(file: Option<&Path>, confirm: bool) -> Result<SecretString> {
    if let Some(path) = file {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading passphrase file {}", path.display()))?,
        );
        let line = text.lines().next().unwrap_or_default();
        if line.is_empty() {
            bail!("passphrase file {} is empty", path.display());
        }
        return Ok(SecretString::from(line.to_owned()));
    }
    if !std::io::stdin().is_terminal() {
        bail!("no passphrase: give --passphrase-file FILE (there is no terminal to ask on)");
    }
    let first = SecretString::from(
        rpassword::prompt_password("Officer key passphrase: ").context("reading passphrase")?,
    );
    if first.expose_secret().is_empty() {
        bail!("the passphrase must not be empty");
    }
    if confirm {
        let again =
            Zeroizing::new(rpassword::prompt_password("Repeat passphrase: ").context("reading passphrase")?);
        if again.as_str() != first.expose_secret() {
            bail!("the passphrases do not match");
        }
    }
    Ok(first)
}

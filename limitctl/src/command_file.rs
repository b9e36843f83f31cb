//! The working file passed among officers while they collect signatures: the command's
//! text form plus the public keys of those who signed, so anyone can check them.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use bitcoin::secp256k1::XOnlyPublicKey;
use serde::{Deserialize, Serialize};
use sluice_shared::limit_command::{decode_text, SignedLimitCommand};
use sluice_signer::home::write_atomic;

const FORMAT: &str = "sluice-limit-command-file/1";

#[derive(Debug, Serialize, Deserialize)]
struct FileContents {
    format: String,
    command: String,
    /// Officer key fingerprint → x-only public key (hex), for each signature present.
    officers: BTreeMap<String, String>,
}

/// A command being signed, with the keys of its signers.
#[derive(Debug, Clone)]
pub struct CommandFile {
    pub command: SignedLimitCommand,
    pub officer_keys: Vec<XOnlyPublicKey>,
}

impl CommandFile {
    pub fn read(path: &Path) -> Result<CommandFile> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let contents: FileContents = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a limit command file", path.display()))?;
        if contents.format != FORMAT {
            bail!(
                "{} has format {:?}; this limitctl reads {FORMAT}",
                path.display(),
                contents.format
            );
        }
        let command =
            decode_text(&contents.command).with_context(|| format!("the command in {}", path.display()))?;
        let officer_keys = contents
            .officers
            .values()
            .map(|k| {
                XOnlyPublicKey::from_str(k)
                    .with_context(|| format!("officer key {k:?} in {}", path.display()))
            })
            .collect::<Result<_>>()?;
        Ok(CommandFile {
            command,
            officer_keys,
        })
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let officers = self
            .officer_keys
            .iter()
            .map(|k| (sluice_shared::identity::officer_key_fingerprint(k), k.to_string()))
            .collect();
        let contents = FileContents {
            format: FORMAT.to_owned(),
            command: self.command.encode_text()?,
            officers,
        };
        write_atomic(
            path,
            format!("{}\n", serde_json::to_string_pretty(&contents)?).as_bytes(),
        )?;
        Ok(())
    }
}

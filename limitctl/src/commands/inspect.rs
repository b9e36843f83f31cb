//! `inspect`: show a command from a file or a photo of its sheet, and check signatures.

use std::str::FromStr;

use anyhow::{bail, Context, Result};
use bitcoin::secp256k1::XOnlyPublicKey;
use sluice_shared::identity::officer_key_fingerprint;
use sluice_shared::limit_command::{verify, OfficerSet, SignatureCheck};

use crate::cli::InspectArgs;
use crate::command_file::{read_any, Source};

pub fn inspect(args: &InspectArgs) -> Result<()> {
    let keys = args
        .officer_keys
        .iter()
        .map(|hex| {
            XOnlyPublicKey::from_str(hex.trim())
                .with_context(|| format!("--officer-key {hex:?} is not a 32-byte x-only public key in hex"))
        })
        .collect::<Result<Vec<_>>>()?;
    let (signed, source) = read_any(&args.input)?;
    let now = crate::clock::unix_now();
    match source {
        Source::CommandFile => println!("Limit command file {}:", args.input.display()),
        Source::Image { codes_found } => println!(
            "Limit command scanned from {} ({codes_found} QR code(s) in the image):",
            args.input.display()
        ),
    }
    print!("{}", super::summary(&signed, now));
    println!("  signatures:     {}", signed.signatures.len());
    for (sig, check) in signed.signatures.iter().zip(signed.check_signatures(&keys)) {
        let verdict = match check {
            SignatureCheck::Valid(_) => "valid".to_owned(),
            SignatureCheck::Invalid(key) => {
                format!("INVALID (does not verify under key {key}: altered or signed wrongly)")
            }
            SignatureCheck::UnknownKey if keys.is_empty() => {
                "not checked (give --officer-key HEX for each officer)".to_owned()
            }
            SignatureCheck::UnknownKey => "unknown key (none of the --officer-key values)".to_owned(),
        };
        println!("    officer {}: {verdict}", sig.fingerprint_hex());
    }
    let Some(threshold) = args.threshold else {
        return Ok(());
    };
    let officers = OfficerSet::new(keys, threshold)?;
    let fingerprints: Vec<String> = officers.keys.iter().map(officer_key_fingerprint).collect();
    let text = signed.encode_text()?;
    match verify(&text, &officers, signed.command.signer, now) {
        Ok(verified) => {
            println!(
                "A signer trusting {} of [{}] would ACCEPT this command now ({} valid signatures), unless it applied this id before.",
                threshold,
                fingerprints.join(", "),
                verified.signed_by().len()
            );
            Ok(())
        }
        Err(refusal) => bail!(
            "a signer trusting {} of [{}] would REFUSE this command now: {refusal}",
            threshold,
            fingerprints.join(", ")
        ),
    }
}

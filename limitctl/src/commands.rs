//! What each `limitctl` command does.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bitcoin::secp256k1::{Secp256k1, XOnlyPublicKey};
use rand::RngCore;
use sluice_shared::asset::{parse_btc, Asset};
use sluice_shared::identity::{officer_key_fingerprint, SignerId};
use sluice_shared::keystore::KdfParams;
use sluice_shared::limit_command::{decode_text, CommandId, LimitAction, LimitCommand, SignedLimitCommand};
use sluice_shared::limiter::RateLimit;
use sluice_shared::qr;
use sluice_signer::passphrase;

use crate::cli::{Cli, Command, NewArgs};
use crate::clock::{format_utc, parse_time, unix_now};
use crate::command_file::CommandFile;
use crate::officer_key::{self, OfficerHome};
use crate::sheet::Sheet;

const DEFAULT_VALIDITY: i64 = 30 * 24 * 3600;

pub fn run(cli: Cli) -> Result<()> {
    let home = OfficerHome { dir: cli.home };
    let pass_file = cli.passphrase_file.as_deref();
    match cli.command {
        Command::Keygen { dangerous_weak_kdf } => keygen(&home, pass_file, dangerous_weak_kdf),
        Command::Pubkey => {
            let key = officer_key::public_key(&home)?;
            println!("Fingerprint: {}", officer_key_fingerprint(&key));
            println!("{key}");
            Ok(())
        }
        Command::New(args) => new(&args),
        Command::Sign { file } => sign(&home, pass_file, &file),
        Command::Print { file, out } => print(&file, &out),
        Command::Inspect { input, officer_keys } => inspect(&home, &input, &officer_keys),
    }
}

fn keygen(home: &OfficerHome, pass_file: Option<&Path>, weak: bool) -> Result<()> {
    let passphrase = passphrase::read(pass_file, true)?;
    let kdf = if weak {
        KdfParams::DANGEROUS_WEAK_FOR_TESTS
    } else {
        KdfParams::RECOMMENDED
    };
    let key = officer_key::generate(home, &passphrase, kdf)?;
    println!("Officer key created in {}.", home.dir.display());
    println!("Give this public key to the signer operators (sluice-signer init --officer-key):");
    println!("Fingerprint: {}", officer_key_fingerprint(&key));
    println!("{key}");
    Ok(())
}

fn action(args: &NewArgs) -> Result<LimitAction> {
    Ok(
        match (&args.raise_total, &args.set_rate, args.pause, args.resume) {
            (Some(amount), None, false, false) => LimitAction::RaiseTotal {
                amount: parse_btc(amount)?,
            },
            (None, Some(amount), false, false) => {
                let per = args.per_seconds.context("--set-rate needs --per-seconds")?;
                let burst = args.burst.as_deref().context("--set-rate needs --burst")?;
                let rate = RateLimit {
                    amount: parse_btc(amount)?,
                    per: Duration::from_secs(u64::from(per)),
                    burst: parse_btc(burst)?,
                };
                rate.validate()?;
                LimitAction::SetRate { rate }
            }
            (None, None, true, false) => LimitAction::Pause,
            (None, None, false, true) => LimitAction::Resume,
            _ => bail!("give exactly one action: --raise-total, --set-rate, --pause or --resume"),
        },
    )
}

fn new(args: &NewArgs) -> Result<()> {
    if args.out.exists() {
        bail!("{} already exists: refusing to overwrite it", args.out.display());
    }
    let signer = SignerId::from_str(&args.signer)?;
    let asset = Asset::from_str(&args.asset)?;
    let action = action(args)?;
    let not_before = match &args.not_before {
        Some(t) => parse_time(t)?,
        None => unix_now(),
    };
    let not_after = match &args.not_after {
        Some(t) => parse_time(t)?,
        None => not_before + DEFAULT_VALIDITY,
    };
    let mut id = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut id);
    let command = LimitCommand {
        id: CommandId(id),
        signer,
        asset,
        action,
        not_before,
        not_after,
    };
    let file = CommandFile {
        command: SignedLimitCommand::unsigned(command.clone()),
        officer_keys: Vec::new(),
    };
    file.command.encode_text()?; // validates the window and fields before writing
    file.write(&args.out)?;
    println!("{}", action.describe(signer, asset));
    println!(
        "Command {} valid {} to {}",
        command.id,
        format_utc(not_before),
        format_utc(not_after)
    );
    println!(
        "Written to {}; each officer now runs `limitctl sign {}`.",
        args.out.display(),
        args.out.display()
    );
    Ok(())
}

fn sign(home: &OfficerHome, pass_file: Option<&Path>, path: &Path) -> Result<()> {
    let mut file = CommandFile::read(path)?;
    let c = &file.command.command;
    println!("{}", c.action.describe(c.signer, c.asset));
    println!(
        "Command {} valid {} to {}",
        c.id,
        format_utc(c.not_before),
        format_utc(c.not_after)
    );
    let keypair = officer_key::unlock(home, &passphrase::read(pass_file, false)?)?;
    let mut aux = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut aux);
    file.command
        .sign(&keypair, aux)
        .with_context(|| "this officer has already signed this command")?;
    file.officer_keys.push(keypair.x_only_public_key().0);
    file.write(path)?;
    println!(
        "Signed as officer {}; {} signature(s) now.",
        officer_key_fingerprint(&keypair.x_only_public_key().0),
        file.command.signatures.len()
    );
    Ok(())
}

fn print(path: &Path, out: &Path) -> Result<()> {
    let file = CommandFile::read(path)?;
    if file.command.signatures.is_empty() {
        bail!(
            "{} has no signatures yet: officers sign it before it is printed",
            path.display()
        );
    }
    let sheet = Sheet::new(&file.command, &file.officer_keys)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    sluice_signer::home::write_atomic(&out.join("command.png"), &sheet.png()?)?;
    sluice_signer::home::write_atomic(&out.join("command.svg"), sheet.svg()?.as_bytes())?;
    sluice_signer::home::write_atomic(&out.join("command.pdf"), &sheet.pdf()?)?;
    let version = qr::version_for(&sheet.qr_text, qr::EcLevel::M)?;
    println!(
        "Sheet written to {} (command.png, command.svg, command.pdf); QR version {version}-M.",
        out.display()
    );
    for line in &sheet.lines {
        println!("  {line}");
    }
    Ok(())
}

/// Reads a command from a command file or an image of a sheet.
fn read_any(input: &Path) -> Result<(SignedLimitCommand, Vec<XOnlyPublicKey>)> {
    let bytes = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    if bytes.first() == Some(&b'{') {
        let file = CommandFile::read(input)?;
        return Ok((file.command, file.officer_keys));
    }
    let texts = qr::decode_image_bytes(&bytes).with_context(|| {
        format!(
            "{} is neither a command file nor a readable image",
            input.display()
        )
    })?;
    let text = texts
        .iter()
        .find(|t| {
            t.trim()
                .to_ascii_uppercase()
                .starts_with(sluice_shared::limit_command::TEXT_PREFIX)
        })
        .with_context(|| format!("no limit command among the QR codes in {}", input.display()))?;
    Ok((decode_text(text)?, Vec::new()))
}

fn inspect(home: &OfficerHome, input: &Path, extra_keys: &[String]) -> Result<()> {
    let (command, mut keys) = read_any(input)?;
    for k in extra_keys {
        keys.push(
            XOnlyPublicKey::from_str(k.trim())
                .with_context(|| format!("{k:?} is not an x-only public key"))?,
        );
    }
    if let Ok(own) = officer_key::public_key(home) {
        keys.push(own);
    }
    let c = &command.command;
    println!("{}", c.action.describe(c.signer, c.asset));
    println!("Signer id:  {}", c.signer);
    println!("Command id: {}", c.id);
    println!(
        "Valid:      {} to {}",
        format_utc(c.not_before),
        format_utc(c.not_after)
    );
    let now = unix_now();
    if now < c.not_before {
        println!("            (not valid yet)");
    } else if now > c.not_after {
        println!("            (EXPIRED)");
    }
    println!("Signatures: {}", command.signatures.len());
    let secp = Secp256k1::verification_only();
    for sig in &command.signatures {
        let fp = sig.fingerprint_hex();
        let verdict = match keys.iter().find(|k| officer_key_fingerprint(k) == fp) {
            None => "unknown key (give it with --officer-key to check)",
            Some(key) if command.signature_valid(&secp, sig, key) => "valid",
            Some(_) => "INVALID",
        };
        println!("  officer {fp}: {verdict}");
    }
    Ok(())
}

//! Driving the real `sluice-signer` binary from tests.
#![allow(dead_code, clippy::unwrap_used)] // tests: a panic is a failure report

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::str::FromStr;

use bitcoin::absolute::LockTime;
use bitcoin::psbt::Psbt;
use bitcoin::{Amount, Denomination, ScriptBuf};
use serde_json::Value;
use sluice_shared::descriptor::WalletDescriptor;
use sluice_shared::psbt_builder::{build_psbt, fake_coins};

pub const BIN: &str = env!("CARGO_BIN_EXE_sluice-signer");

pub fn fixtures() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/bitcoin-core/psbt_fixtures.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixtures beside the repo")).unwrap()
}

/// A signer home in a temporary directory, with a passphrase file.
pub struct TestSigner {
    pub dir: tempfile::TempDir,
}

impl TestSigner {
    pub fn new() -> TestSigner {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pass"), "test passphrase\n").unwrap();
        TestSigner { dir }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("--home")
            .arg(self.home())
            .arg("--passphrase-file")
            .arg(self.path("pass"))
            .args(args);
        cmd.stdin(std::process::Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs and insists on success, returning stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed:\n{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Runs and insists on failure, returning stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "{args:?} should have failed:\n{}",
            text(&out.stdout)
        );
        text(&out.stderr)
    }

    /// Initialises from a master tprv (weak KDF: tests only).
    pub fn init_from_tprv(&self, tprv: &str, extra: &[&str]) {
        std::fs::write(self.path("seed.tprv"), tprv).unwrap();
        let seed = self.path("seed.tprv");
        let mut args = vec![
            "init",
            "--network",
            "regtest",
            "--from-xprv-file",
            seed.to_str().unwrap(),
            "--dangerous-weak-kdf",
        ];
        args.extend_from_slice(extra);
        self.ok(&args);
    }

    pub fn register(&self, name: &str, receive: &str, change: &str) {
        self.ok(&[
            "wallet",
            "register",
            "--name",
            name,
            "--descriptor",
            receive,
            "--change-descriptor",
            change,
        ]);
    }

    pub fn limits(&self, rate: &str, per_seconds: &str, burst: &str, total: &str) {
        self.ok(&[
            "limits",
            "init",
            "--rate",
            rate,
            "--per-seconds",
            per_seconds,
            "--burst",
            burst,
            "--total",
            total,
        ]);
    }

    pub fn state(&self) -> sluice_signer::state::State {
        sluice_signer::state::State::open(&self.home().join("state.sqlite")).unwrap()
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The amount after `label` in review output ("Outflow     0.6000147 BTC").
pub fn amount_after(output: &str, label: &str) -> Amount {
    let line = output
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no {label} in:\n{output}"));
    let number = line[label.len()..].split_whitespace().next().unwrap();
    Amount::from_str_in(number, Denomination::Bitcoin).unwrap()
}

/// Fixture signer A's wpkh wallet, for tests that need many PSBTs.
pub fn wpkh_wallet(fx: &Value) -> (String, String, WalletDescriptor) {
    let w = &fx["wallets"]["wpkh_single"];
    let r = w["descriptor_receive"].as_str().unwrap().to_owned();
    let c = w["descriptor_change"].as_str().unwrap().to_owned();
    let d = WalletDescriptor::parse(&r, Some(&c)).unwrap();
    (r, c, d)
}

/// A PSBT spending `inputs` fake coins of `amount_each` from the wallet, paying
/// `payment` to an outside address, change to change/0 and `fee`.
pub fn make_psbt(
    wallet: &WalletDescriptor,
    inputs: u32,
    amount_each: Amount,
    payment: Amount,
    fee: Amount,
    salt: u32,
) -> Psbt {
    let coins = fake_coins(wallet, inputs, amount_each, salt).unwrap();
    let total = amount_each * u64::from(inputs);
    let change = total - payment - fee;
    let outside = ScriptBuf::from_hex("0014000102030405060708090a0b0c0d0e0f10111213").unwrap();
    build_psbt(
        wallet,
        &coins,
        &[(outside, payment)],
        Some((0, change)),
        LockTime::ZERO,
    )
    .unwrap()
}

pub fn write_psbt(path: &Path, psbt: &Psbt) {
    std::fs::write(path, psbt.serialize()).unwrap();
}

pub fn read_psbt(path: &Path) -> Psbt {
    Psbt::deserialize(&std::fs::read(path).unwrap()).unwrap()
}

pub fn btc(s: &str) -> Amount {
    Amount::from_str(&format!("{s} BTC")).unwrap()
}

/// Three security officers with fixed test keys.
pub fn officers() -> Vec<bitcoin::secp256k1::Keypair> {
    let secp = bitcoin::secp256k1::Secp256k1::new();
    (1u8..=3)
        .map(|i| {
            let secret = bitcoin::secp256k1::SecretKey::from_slice(&[i; 32]).unwrap();
            bitcoin::secp256k1::Keypair::from_secret_key(&secp, &secret)
        })
        .collect()
}

/// `--officer-key` arguments for the three test officers, threshold 2.
pub fn officer_args() -> Vec<String> {
    let mut args = Vec::new();
    for key in officers() {
        args.push("--officer-key".to_owned());
        args.push(key.x_only_public_key().0.to_string());
    }
    args.push("--officer-threshold".to_owned());
    args.push("2".to_owned());
    args
}

/// A limit command for `signer` (as printed by `id`), signed by the given officers,
/// valid from 1970 to 2096, in its QR text form.
pub fn limit_command(
    signer: &str,
    action: sluice_shared::limit_command::LimitAction,
    id: u8,
    signed_by: &[&bitcoin::secp256k1::Keypair],
) -> String {
    use sluice_shared::limit_command::{CommandId, LimitCommand, SignedLimitCommand};
    let command = LimitCommand {
        id: CommandId([id; 16]),
        signer: signer.parse().unwrap(),
        asset: sluice_shared::asset::Asset::Btc,
        action,
        not_before: 0,
        not_after: 4_000_000_000,
    };
    let mut signed = SignedLimitCommand::unsigned(command);
    for (i, officer) in signed_by.iter().enumerate() {
        signed.sign(officer, [i as u8; 32]).unwrap();
    }
    signed.encode_text().unwrap()
}

//! `run --config FILE`: every `run` option (and `--db`, `--network`) from a TOML file,
//! keys named as the flags without their dashes (`fee-rate = 5`, `chain-url = "..."`).
//! A flag or environment variable given to the command wins over the file; the file wins
//! over the built-in defaults. Relative paths in the file are relative to the file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::parser::ValueSource;
use clap::ArgMatches;
use clap::ValueEnum as _;
use serde::Deserialize;

use bitcoin::Network;

use super::{parse_network_arg, RunArgs};
use crate::run::Component;

/// The file's contents; unknown keys are refused (a typo must not silently fall back to a
/// default).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RunConfig {
    component: Option<String>,
    db: Option<PathBuf>,
    network: Option<String>,
    listen: Option<String>,
    onion: Option<bool>,
    tor_network: Option<PathBuf>,
    console_listen: Option<String>,
    console_cert: Option<PathBuf>,
    console_key: Option<PathBuf>,
    fee_rate: Option<u64>,
    max_batch: Option<usize>,
    max_inputs: Option<usize>,
    max_fee: Option<String>,
    interval_ms: Option<u64>,
    batch_wait_ms: Option<u64>,
    instance: Option<String>,
    chain_url: Option<String>,
    rpc_cookie_file: Option<PathBuf>,
    rpc_user: Option<String>,
    rpc_password_file: Option<PathBuf>,
    min_confirmations: Option<u32>,
    resend_seconds: Option<u64>,
    start_height: Option<u32>,
    webhook: Option<Vec<String>>,
    webhook_secret_file: Option<Vec<PathBuf>>,
    webhook_retry_ms: Option<u64>,
}

impl RunConfig {
    pub fn parse(text: &str) -> Result<RunConfig> {
        Ok(toml::from_str(text)?)
    }

    pub fn load(path: &Path) -> Result<RunConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the run configuration {}", path.display()))?;
        let mut config = RunConfig::parse(&text)
            .with_context(|| format!("in the run configuration {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let secret_files = config.webhook_secret_file.iter_mut().flatten();
        for file in [
            &mut config.db,
            &mut config.tor_network,
            &mut config.console_cert,
            &mut config.console_key,
            &mut config.rpc_cookie_file,
            &mut config.rpc_password_file,
        ]
        .into_iter()
        .flatten()
        .chain(secret_files)
        {
            if file.is_relative() {
                *file = base.join(&*file);
            }
        }
        Ok(config)
    }
}

/// The ids of the arguments the person gave (on the command line or through an
/// environment variable), as opposed to clap's defaults.
pub fn explicit_arguments(matches: &ArgMatches) -> BTreeSet<String> {
    let mut explicit = BTreeSet::new();
    let mut collect = |m: &ArgMatches| {
        for id in m.ids() {
            if matches!(
                m.value_source(id.as_str()),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            ) {
                explicit.insert(id.as_str().to_owned());
            }
        }
    };
    collect(matches);
    if let Some((_, sub)) = matches.subcommand() {
        collect(sub);
    }
    explicit
}

/// Fills from `config` every option of `cli` and `args` the person did not give.
pub fn apply(
    config: RunConfig,
    explicit: &BTreeSet<String>,
    db: &mut PathBuf,
    network: &mut Option<Network>,
    args: &mut RunArgs,
) -> Result<()> {
    let given = |id: &str| explicit.contains(id);
    macro_rules! fill {
        ($target:expr, $value:expr, $id:literal) => {
            if let Some(value) = $value {
                if !given($id) {
                    $target = value;
                }
            }
        };
    }
    macro_rules! fill_option {
        ($target:expr, $value:expr, $id:literal) => {
            if let Some(value) = $value {
                if !given($id) {
                    $target = Some(value);
                }
            }
        };
    }
    if let Some(text) = config.component {
        if args.component.is_none() {
            args.component = Some(Component::from_str(&text, true).map_err(|_| {
                anyhow::anyhow!(
                    "component {text:?} in the configuration: use api, processor, sender, monitor, webhooks or all"
                )
            })?);
        }
    }
    fill!(*db, config.db, "db");
    if let Some(text) = config.network {
        if !given("network") {
            *network = Some(parse_network_arg(&text).map_err(anyhow::Error::msg)?);
        }
    }
    fill!(args.listen, config.listen, "listen");
    fill!(args.onion, config.onion, "onion");
    fill_option!(args.tor_network, config.tor_network, "tor_network");
    fill_option!(args.console_listen, config.console_listen, "console_listen");
    fill_option!(args.console_cert, config.console_cert, "console_cert");
    fill_option!(args.console_key, config.console_key, "console_key");
    fill!(args.fee_rate, config.fee_rate, "fee_rate");
    fill!(args.max_batch, config.max_batch, "max_batch");
    fill!(args.max_inputs, config.max_inputs, "max_inputs");
    fill!(args.max_fee, config.max_fee, "max_fee");
    fill!(args.interval_ms, config.interval_ms, "interval_ms");
    fill!(args.batch_wait_ms, config.batch_wait_ms, "batch_wait_ms");
    fill_option!(args.instance, config.instance, "instance");
    fill_option!(args.chain_url, config.chain_url, "chain_url");
    // The RPC credentials are one choice: a flag for one kind replaces the file's other.
    let auth_given = given("rpc_cookie_file") || given("rpc_user") || given("rpc_password_file");
    if !auth_given {
        fill_option!(args.rpc_cookie_file, config.rpc_cookie_file, "rpc_cookie_file");
        fill_option!(args.rpc_user, config.rpc_user, "rpc_user");
        fill_option!(
            args.rpc_password_file,
            config.rpc_password_file,
            "rpc_password_file"
        );
    }
    fill!(
        args.min_confirmations,
        config.min_confirmations,
        "min_confirmations"
    );
    fill!(args.resend_seconds, config.resend_seconds, "resend_seconds");
    fill!(args.start_height, config.start_height, "start_height");
    // The endpoints are one list: URLs and secret files given as flags replace the file's.
    if !given("webhooks") && !given("webhook_secret_files") {
        fill!(args.webhooks, config.webhook, "webhooks");
        fill!(
            args.webhook_secret_files,
            config.webhook_secret_file,
            "webhook_secret_files"
        );
    }
    fill!(args.webhook_retry_ms, config.webhook_retry_ms, "webhook_retry_ms");

    // What clap checks for flags, checked again for the merged result.
    if args.rpc_cookie_file.is_some() && args.rpc_user.is_some() {
        bail!("give either rpc-cookie-file or rpc-user (with rpc-password-file), not both");
    }
    if args.rpc_user.is_some() != args.rpc_password_file.is_some() {
        bail!("rpc-user and rpc-password-file go together");
    }
    if args.console_cert.is_some() != args.console_key.is_some() {
        bail!("console-cert and console-key go together");
    }
    if args.console_cert.is_some() && args.console_listen.is_none() {
        bail!("console-cert and console-key need console-listen");
    }
    if args.tor_network.is_some() && !args.onion {
        bail!("tor-network needs onion = true");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failure report
    use clap::{CommandFactory as _, FromArgMatches as _};

    use super::*;
    use crate::cli::{Cli, Command};

    fn merged(file: &str, argv: &[&str]) -> Result<(Cli, RunArgs)> {
        let matches = Cli::command().try_get_matches_from(argv).unwrap();
        let explicit = explicit_arguments(&matches);
        let mut cli = Cli::from_arg_matches(&matches).unwrap();
        let Command::Run(args) = std::mem::replace(&mut cli.command, Command::Log { limit: 0 }) else {
            panic!("not run")
        };
        let mut args = *args;
        apply(
            RunConfig::parse(file)?,
            &explicit,
            &mut cli.db,
            &mut cli.network,
            &mut args,
        )?;
        Ok((cli, args))
    }

    const FILE: &str = r#"
        component = "all"
        db = "/var/lib/sluice/coordinator.sqlite"
        network = "regtest"
        listen = "127.0.0.1:9090"
        fee-rate = 7
        max-batch = 10
        max-fee = "0.002"
        chain-url = "http://127.0.0.1:18443"
        rpc-cookie-file = "/var/lib/bitcoind/regtest/.cookie"
        min-confirmations = 3
        start-height = 800000
    "#;

    #[test]
    fn the_file_fills_what_the_command_line_leaves_out() {
        let (cli, args) = merged(FILE, &["sluice-coordinator", "run", "--config", "x.toml"]).unwrap();
        assert_eq!(args.component, Some(Component::All));
        assert_eq!(cli.db, PathBuf::from("/var/lib/sluice/coordinator.sqlite"));
        assert_eq!(cli.network, Some(bitcoin::Network::Regtest));
        assert_eq!(
            (args.listen.as_str(), args.fee_rate, args.max_batch),
            ("127.0.0.1:9090", 7, 10)
        );
        assert_eq!(args.max_fee, "0.002");
        assert_eq!(args.max_inputs, 200, "not in the file: the default");
        assert_eq!(args.min_confirmations, 3);
        assert_eq!(args.start_height, 800_000);
        assert!(args.rpc_cookie_file.is_some());
        let options = args.options().unwrap();
        assert_eq!(options.processor.sat_per_vbyte, 7);
    }

    #[test]
    fn the_console_from_the_file() {
        let file = "component = \"api\"\nconsole-listen = \"10.0.0.5:8443\"\nconsole-cert = \"/etc/sluice/console.crt\"\nconsole-key = \"/etc/sluice/console.key\"\n";
        let (_, args) = merged(file, &["sluice-coordinator", "run", "--config", "x.toml"]).unwrap();
        let console = args.options().unwrap().console.unwrap();
        assert_eq!(console.listen, "10.0.0.5:8443");
        assert_eq!(
            console.tls,
            Some(crate::console::TlsFiles {
                cert: PathBuf::from("/etc/sluice/console.crt"),
                key: PathBuf::from("/etc/sluice/console.key"),
            })
        );
        let half = "component = \"api\"\nconsole-listen = \"127.0.0.1:8443\"\nconsole-cert = \"/c.crt\"\n";
        let refused = merged(half, &["sluice-coordinator", "run", "--config", "x.toml"]).unwrap_err();
        assert!(refused.to_string().contains("go together"), "{refused}");
    }

    #[test]
    fn flags_win_over_the_file() {
        let (cli, args) = merged(
            FILE,
            &[
                "sluice-coordinator",
                "--db",
                "/tmp/other.sqlite",
                "run",
                "api",
                "--config",
                "x.toml",
                "--fee-rate",
                "3",
                "--rpc-user",
                "sluice",
                "--rpc-password-file",
                "/etc/pw",
            ],
        )
        .unwrap();
        assert_eq!(args.component, Some(Component::Api));
        assert_eq!(cli.db, PathBuf::from("/tmp/other.sqlite"));
        assert_eq!(args.fee_rate, 3);
        assert_eq!(args.max_batch, 10, "still from the file");
        assert_eq!(
            args.rpc_cookie_file, None,
            "the flags chose user + password instead"
        );
        assert_eq!(args.rpc_user.as_deref(), Some("sluice"));
    }

    #[test]
    fn typos_and_bad_values_are_refused() {
        let err = merged("fee_rat = 5", &["sluice-coordinator", "run", "all"]).unwrap_err();
        assert!(format!("{err:#}").contains("unknown field"), "{err:#}");
        let err = merged(
            "component = \"everything\"",
            &["sluice-coordinator", "run", "--config", "x.toml"],
        )
        .unwrap_err();
        assert!(err.to_string().contains("use api, processor"), "{err}");
        let err = merged("fee-rate = \"fast\"", &["sluice-coordinator", "run", "all"]).unwrap_err();
        assert!(format!("{err:#}").contains("fee-rate"), "{err:#}");
        let err = merged(
            "rpc-cookie-file = \"/c\"\nrpc-user = \"u\"\nrpc-password-file = \"/p\"",
            &["sluice-coordinator", "run", "all"],
        )
        .unwrap_err();
        assert!(err.to_string().contains("not both"), "{err}");
    }

    #[test]
    fn webhooks_come_from_the_file_unless_given_as_flags() {
        let file = r#"
            webhook = ["http://127.0.0.1:9/a"]
            webhook-secret-file = ["/etc/sluice/a.secret"]
            webhook-retry-ms = 250
        "#;
        let (_, args) = merged(file, &["sluice-coordinator", "run", "webhooks"]).unwrap();
        assert_eq!(args.webhooks, ["http://127.0.0.1:9/a"]);
        assert_eq!(args.webhook_secret_files, [PathBuf::from("/etc/sluice/a.secret")]);
        assert_eq!(args.webhook_retry_ms, 250);
        let argv = [
            "sluice-coordinator",
            "run",
            "webhooks",
            "--webhook",
            "http://h/b",
            "--webhook-secret-file",
            "b",
        ];
        let (_, args) = merged(file, &argv).unwrap();
        assert_eq!(args.webhooks, ["http://h/b"]);
        assert_eq!(args.webhook_secret_files, [PathBuf::from("b")]);
    }
}

//! One module per group of commands; `run` dispatches.

mod coordinator;
mod demo;
mod journal;
mod limits;
mod setup;
mod show_qr;
mod sign;
mod wallet;

use anyhow::Result;

pub use self::limits::command_text;

use crate::cli::{Cli, Command, CoordinatorCommand, JournalCommand, LimitsCommand, WalletCommand};
use crate::home::Home;

pub fn run(cli: Cli) -> Result<()> {
    let home = Home::new(cli.home);
    let passphrase_file = cli.passphrase_file.as_deref();
    match cli.command {
        Command::Init(args) => setup::init(&home, passphrase_file, &args),
        Command::Id => setup::id(&home, passphrase_file),
        Command::Xpub { path } => setup::xpub(&home, passphrase_file, &path),
        Command::Wallet(WalletCommand::Register {
            name,
            descriptor,
            change_descriptor,
            change_gap,
        }) => wallet::register(
            &home,
            passphrase_file,
            &name,
            &descriptor,
            change_descriptor.as_deref(),
            change_gap,
        ),
        Command::Wallet(WalletCommand::List) => wallet::list(&home),
        Command::Limits(LimitsCommand::Init {
            asset,
            rate,
            per_seconds,
            burst,
            total,
            max_fee,
            pause_after_refusals,
            refusal_window_seconds,
        }) => limits::init(
            &home,
            passphrase_file,
            &limits::InitArgs {
                asset: &asset,
                rate: &rate,
                per_seconds,
                burst: &burst,
                total: &total,
                max_fee: &max_fee,
                self_pause: sluice_shared::self_pause::SelfPauseRule {
                    refusals: pause_after_refusals,
                    window: std::time::Duration::from_secs(refusal_window_seconds),
                },
            },
        ),
        Command::Limits(LimitsCommand::Show { asset }) => limits::show(&home, &asset),
        Command::Limits(LimitsCommand::Apply {
            scan,
            text,
            camera,
            camera_seconds,
        }) => {
            let source = match &camera {
                Some(device) => limits::CommandSource::Camera {
                    device,
                    bounds: crate::camera::ScanBounds::seconds(camera_seconds),
                },
                None => limits::CommandSource::Files {
                    scans: &scan,
                    text: text.as_deref(),
                },
            };
            limits::apply(&home, passphrase_file, source)
        }
        Command::Inspect(input) => sign::inspect(&home, &input),
        Command::Sign(args) => sign::sign(&home, passphrase_file, &args),
        Command::ShowQr(args) => show_qr::run(&args),
        Command::Journal(JournalCommand::Verify) => journal::verify(&home),
        Command::Journal(JournalCommand::Show { json }) => journal::show(&home, json),
        Command::Demo { keep } => demo::run(keep),
        Command::Coordinator(CoordinatorCommand::Trust { key, replace }) => {
            coordinator::trust(&home, &key, replace)
        }
        Command::Coordinator(CoordinatorCommand::Show) => coordinator::show(&home),
        #[cfg(feature = "online")]
        Command::Online {
            coordinator,
            poll_seconds,
            once,
            tor_network,
        } => {
            if !(0.05..=3600.0).contains(&poll_seconds) {
                anyhow::bail!("--poll-seconds must be between 0.05 and 3600");
            }
            let options = crate::online::OnlineOptions {
                poll: std::time::Duration::from_secs_f64(poll_seconds),
                once,
                tor_network,
            };
            crate::online::run(&home, passphrase_file, &coordinator, &options)
        }
    }
}

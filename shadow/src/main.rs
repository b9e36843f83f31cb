//! sluice-shadow: the independent deposit watcher and deposit-wallet sweeper.
//!
//! Not built yet: the design is in docs/architecture.md ("Shadow"). Until it is, the
//! binary says so and exits with an error rather than pretending to watch anything.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    eprintln!(
        "sluice-shadow is not implemented yet: deposits are not being watched. \
         See docs/architecture.md for its planned role."
    );
    std::process::ExitCode::from(2)
}

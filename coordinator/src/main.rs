//! sluice-coordinator: not built yet (issue "[3 of 3] Coordinator"). Until it is, the
//! binary says so and exits with an error rather than pretending to process withdrawals.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    eprintln!(
        "sluice-coordinator is not implemented yet: no withdrawals are processed. \
         The offline signer and limitctl work today; see README.md."
    );
    std::process::ExitCode::from(2)
}

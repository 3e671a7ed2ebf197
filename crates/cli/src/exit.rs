//! Exit codes and how failures are shown.

use std::process::ExitCode;

/// Everything worked.
pub const OK: u8 = 0;
/// An unexpected failure (I/O, a bug): the message says what.
pub const FAILURE: u8 = 1;
/// The command line was wrong (clap's own code).
pub const USAGE: u8 = 2;
/// An input file is malformed or inconsistent: workflow, profiles, artifact.
pub const INVALID_INPUT: u8 = 3;
/// The request is well formed but nothing satisfies it (no point meets the constraints).
pub const UNSATISFIABLE: u8 = 4;

/// Every exit code with its meaning, for `--help`.
pub const TABLE: &str = "Exit codes: 0 ok, 1 failure, 2 usage error, 3 invalid input file, 4 no point satisfies the request";

/// A failed command: the driver's error, whose kind decides the exit code.
pub use flowcompile_driver::Error as Failure;

/// Prints the failure to stderr and returns its exit code.
pub fn report(failure: Failure) -> ExitCode {
    let code = match failure {
        Failure::Spec(errors) => {
            eprintln!("{:?}", miette::Report::new(errors));
            INVALID_INPUT
        }
        Failure::Input(e) => {
            eprintln!("error: {e:#}");
            INVALID_INPUT
        }
        Failure::Unsatisfiable(e) => {
            eprintln!("error: {e:#}");
            UNSATISFIABLE
        }
        Failure::Other(e) => {
            eprintln!("error: {e:#}");
            FAILURE
        }
    };
    debug_assert!(code != OK && code != USAGE);
    ExitCode::from(code)
}

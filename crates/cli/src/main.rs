//! `flowcompile`: compile a structured LLM workflow into the Pareto set of its configurations.

mod cli;
mod commands;
mod exit;
mod observe;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    if let Err(usage) = args.check() {
        usage.exit();
    }
    observe::set_quiet(args.quiet);
    observe::init_logging();
    match commands::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => exit::report(failure),
    }
}

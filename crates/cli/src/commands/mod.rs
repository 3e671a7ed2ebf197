//! One module per subcommand; shared file loading.

mod compile;
mod eval;
mod exec;
mod run;
mod schema;
mod select;
mod serve;
mod show;
mod space;
mod zoo;

use std::path::Path;

use anyhow::Context;

use crate::cli::{Cli, Command, ZooCommand};
use crate::exit::Failure;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Space(args) => space::run(args),
        Command::Compile(args) => compile::run(args),
        Command::Show(args) => show::run(args),
        Command::Select(args) => select::run(args),
        Command::Run(args) => run::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Zoo(ZooCommand::Serve(args)) => zoo::serve(args),
    }
}

/// Reads a file as text; a missing or unreadable file is an input error naming it.
fn read(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {}", path.display()))
        .map_err(Failure::Input)
}

/// Reads and validates a workflow file.
fn load_workflow(path: &Path) -> Result<(flowcompile_ir::Workflow, String), Failure> {
    let text = read(path)?;
    let wf = flowcompile_spec::parse(&text, &path.display().to_string()).map_err(Failure::Spec)?;
    Ok((wf, text))
}

/// Reads an artifact (v1, or the prototype's v2).
fn load_artifact(path: &Path) -> Result<flowcompile_artifact::Artifact, Failure> {
    let text = read(path)?;
    flowcompile_artifact::parse_any(&text, &path.display().to_string())
        .map_err(|e| Failure::Input(e.into()))
}

/// Prints a value as pretty JSON on stdout.
fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).context("cannot serialise output")?;
    println!("{text}");
    Ok(())
}

//! One module per subcommand; shared file loading.

mod batch;
mod compile;
mod eval;
mod exec;
mod measure;
mod report;
mod route;
mod run;
mod schema;
mod select;
mod serve;
mod show;
mod space;
mod test;
mod truth;
mod utility;
mod zoo;

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::cli::{Cli, Command, RouteCommand, ZooCommand};
use crate::exit::Failure;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Space(args) => space::run(args),
        Command::Compile(args) => compile::run(args),
        Command::Induce(args) => measure::induce(args),
        Command::Profile(args) => measure::profile(args),
        Command::Show(args) => show::run(args),
        Command::Select(args) => select::run(args),
        Command::Run(args) => run::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Test(args) => test::run(args),
        Command::Report(args) => report::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Truth(args) => truth::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Zoo(ZooCommand::Serve(args)) => zoo::serve(args),
        Command::Route(RouteCommand::Build(args)) => route::build(args),
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

/// The workflow with its design space narrowed by `--models` / `--budgets`.
fn restrict(
    wf: flowcompile_ir::Workflow,
    path: &Path,
    filter: &crate::cli::SpaceFilter,
) -> Result<flowcompile_ir::Workflow, Failure> {
    if filter.models.is_empty() && filter.budgets.is_empty() {
        return Ok(wf);
    }
    wf.restrict(&filter.models, &filter.budgets).map_err(|e| {
        Failure::Input(anyhow::anyhow!(
            "{}: --models/--budgets: {e}",
            path.display()
        ))
    })
}

/// Profiles read from files, as `compile --profiles` and `report` read them.
struct ProfileFiles {
    table: flowcompile_profile::ProfileTable,
    throughput: Vec<flowcompile_profile::ThroughputRow>,
    /// The profiles' text then the throughput's: what the artifact's `profiles_sha256` digests.
    digest_input: Vec<u8>,
}

/// The table format a file's extension says (`.csv` or `.jsonl`).
fn format_of(path: &Path) -> Result<flowcompile_profile::Format, Failure> {
    flowcompile_profile::Format::from_path(&path.display().to_string()).ok_or_else(|| {
        Failure::Input(anyhow::anyhow!(
            "{}: unknown format: expected a .csv or .jsonl file",
            path.display()
        ))
    })
}

/// Reads and parses a profiles file and, when given, a throughput file.
fn load_profiles(profiles: &Path, throughput: Option<&Path>) -> Result<ProfileFiles, Failure> {
    let profiles_text = read(profiles)?;
    let table = flowcompile_profile::parse_profiles(
        &profiles_text,
        &profiles.display().to_string(),
        format_of(profiles)?,
    )
    .map_err(|e| Failure::Input(anyhow::anyhow!("{e}")))?;
    let mut digest_input = profiles_text.into_bytes();
    let throughput = match throughput {
        Some(path) => {
            let text = read(path)?;
            digest_input.extend_from_slice(text.as_bytes());
            flowcompile_profile::parse_throughput(
                &text,
                &path.display().to_string(),
                format_of(path)?,
            )
            .map_err(|e| Failure::Input(anyhow::anyhow!("{e}")))?
        }
        None => Vec::new(),
    };
    Ok(ProfileFiles {
        table,
        throughput,
        digest_input,
    })
}

/// Reads an artifact (v1, or the prototype's v2).
fn load_artifact(path: &Path) -> Result<flowcompile_artifact::Artifact, Failure> {
    let text = read(path)?;
    flowcompile_artifact::parse_any(&text, &path.display().to_string())
        .map_err(|e| Failure::Input(e.into()))
}

/// Prints a value as pretty JSON on stdout; a reader that went away (`| head`) is not an error.
fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).context("cannot serialise output")?;
    match writeln!(std::io::stdout().lock(), "{text}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::Other(
            anyhow::Error::new(e).context("cannot write to stdout"),
        )),
        _ => Ok(()),
    }
}

/// Writes through a temporary file and a rename, so an interrupted or failed write never leaves a
/// partial file (artifact, validation document) over a good one.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("cannot write {}", path.display()));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(Failure::Other)
}

//! One module per subcommand: flags in, a driver call, output out.

mod compile;
mod eval;
mod gateway;
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
mod zoo;

use std::io::Write;

use anyhow::Context;
use flowcompile_driver::load::Restriction;
use flowcompile_driver::load::{artifact as load_artifact, read};
use flowcompile_driver::measure::MeasureOptions;
use flowcompile_driver::models::ModelSource;

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
        Command::Gateway(args) => gateway::run(args),
        Command::Truth(args) => truth::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Completions(args) => {
            use clap::CommandFactory;
            clap_complete::generate(
                args.shell,
                &mut Cli::command(),
                "flowcompile",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Zoo(ZooCommand::Serve(args)) => zoo::serve(args),
        Command::Route(RouteCommand::Build(args)) => route::build(args),
    }
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

/// The driver's restriction from `--models` / `--budgets`.
fn restriction(filter: &crate::cli::SpaceFilter) -> Restriction {
    Restriction {
        models: filter.models.clone(),
        budgets: filter.budgets.clone(),
    }
}

/// The driver's measurement options from the measuring flags; `--data` is required by then.
fn measure_options(args: &crate::cli::MeasureArgs) -> Result<MeasureOptions, Failure> {
    let (calls, adaptive) = args.effort.sampling();
    let data = args.data.clone().ok_or_else(|| {
        Failure::Input(anyhow::anyhow!(
            "--data SPLIT is needed to measure the agents"
        ))
    })?;
    Ok(MeasureOptions {
        data,
        models: model_source(args.providers.as_ref(), args.zoo),
        store: args.store.clone(),
        limit: args.limit,
        reference: args.reference.clone(),
        reference_structure: args.reference_structure,
        min_score: args.min_score,
        judge: args.judge.clone(),
        judge_budget: args.judge_budget,
        calls_per_setting: args.calls_per_setting.unwrap_or(calls),
        adaptive: args.adaptive || adaptive,
        concurrency: args.concurrency,
        max_calls: args.max_calls,
        captured: args.captured.clone(),
    })
}

/// Where the models are, from `--providers` / `--zoo`.
fn model_source(providers: Option<&std::path::PathBuf>, zoo: bool) -> ModelSource {
    ModelSource {
        providers: providers.cloned(),
        zoo,
    }
}

/// The configuration the `run` / `eval` flags choose.
fn config_choice(args: &crate::cli::ExecArgs) -> flowcompile_driver::config::ConfigChoice {
    flowcompile_driver::config::ConfigChoice {
        artifact: args.artifact.clone(),
        point: args.point.clone(),
        prefer: args.prefer.clone(),
        structure: args.structure,
        all: args.all.clone(),
        set: args.set.clone(),
    }
}

/// With `--dry-run`: prints the measurement's plan (text, or JSON with `json`) and says to stop.
fn dry_run(
    workflow: &std::path::Path,
    args: &crate::cli::MeasureArgs,
    json: bool,
) -> Result<bool, Failure> {
    if !args.dry_run {
        return Ok(false);
    }
    let opts = measure_options(args)?;
    let wf = flowcompile_driver::load::workflow(workflow)?.workflow;
    let plan = flowcompile_driver::measure::dry_run(&wf, &opts)?;
    if json {
        print_json(&plan)?;
    } else {
        for line in plan.lines() {
            println!("{line}");
        }
        println!("dry run: no model was called");
    }
    Ok(true)
}

//! Command-line interface definition.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit;

/// flowcompile: an optimizing compiler for structured LLM workflows.
///
/// A workflow is a fixed graph of LLM sub-agents; each can run on several models with several
/// reasoning budgets, and some steps can be switched on or off. flowcompile composes per-agent
/// profiles with a structure-aware proxy and returns the exact Pareto set of configurations
/// (accuracy vs latency) as a versioned JSON artifact you can pick from at deployment.
///
/// Start here:
///   flowcompile space examples/hotpotqa/workflow.toml
///   flowcompile compile examples/hotpotqa/workflow.toml --profiles examples/hotpotqa/profiles.csv
///   flowcompile show hotpotqa.artifact.json --plot
///   flowcompile select hotpotqa.artifact.json --prefer high
#[derive(Debug, Parser)]
#[command(name = "flowcompile", version, after_help = exit::TABLE, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a workflow's design space: structures, slots and the number of configurations.
    Space(SpaceArgs),
    /// Compile a workflow and its profiles into the Pareto set of configurations (an artifact).
    Compile(CompileArgs),
    /// Print an artifact's frontier as a table, a plot or JSON.
    Show(ShowArgs),
    /// Pick one configuration from an artifact by preference or by limits.
    Select(SelectArgs),
    /// Run a workflow under one configuration on one input and print the answer and its trace.
    Run(RunArgs),
    /// Run a workflow under one configuration over a dataset split: accuracy, latency, tokens, cost.
    Eval(EvalArgs),
    /// Run every configuration of a small space on a split (in-process zoo): the true frontier.
    ///
    /// Runs each configuration on the first --limit items of the split against the zoo inside the
    /// process (synthetic models: "zoo (synthetic)"), measures accuracy (fraction correct) and latency
    /// (mean modelled seconds per item), and writes the true Pareto frontier (flowcompile.truth.v1) with
    /// the best uniform configuration (every agent on one model and budget, full structure). With
    /// --compare, an artifact compiled for the same restricted space is scored against the truth: the
    /// hypervolume ratio of its points at their measured metrics (reference point: accuracy 0, latency
    /// of the slowest configuration), and its speedup at matched accuracy over the best uniform one.
    ///
    ///   flowcompile compile examples/hotpotqa/workflow.toml -p examples/hotpotqa/profiles.csv \
    ///       --models qwen3-1.7b,qwen3-8b,qwen3-14b --budgets 100,1000 -o small.json
    ///   flowcompile truth examples/hotpotqa/workflow.toml --data ../shared/data/hotpotqa_validate.jsonl \
    ///       --models qwen3-1.7b,qwen3-8b,qwen3-14b --budgets 100,1000 --limit 100 --compare small.json
    #[command(verbatim_doc_comment)]
    Truth(TruthArgs),
    /// Print the JSON Schema of workflow files or artifacts.
    Schema(SchemaArgs),
    /// The model zoo: seeded synthetic LLMs behind a real OpenAI-compatible server.
    #[command(subcommand)]
    Zoo(ZooCommand),
}

#[derive(Debug, Subcommand)]
pub enum ZooCommand {
    /// Serve the zoo's models over the OpenAI API on loopback until Ctrl-C.
    ///
    /// Every reply is synthetic ("system_fingerprint": "zoo (synthetic)"). The zoo answers questions
    /// from the task files it is given (GSM8K, MATH, HotpotQA JSONL) with seeded correctness; other
    /// prompts get a plausible reply whose correctness is undefined.
    ///
    ///   flowcompile zoo serve --port 8000 --tasks ../shared/data/gsm8k_validate.jsonl
    Serve(ZooServeArgs),
}

#[derive(Debug, Args)]
pub struct ZooServeArgs {
    /// Port on 127.0.0.1 (0 picks a free one and prints it).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Zoo config (TOML: models, abilities, throughputs, roles); default: the embedded one.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Task file (JSONL with question or problem, and answer); repeatable.
    #[arg(long)]
    pub tasks: Vec<PathBuf>,
    /// Sleep modelled latency times this (0 instant, 1 real time); default: the config's.
    #[arg(long)]
    pub time_scale: Option<f64>,
}

#[derive(Debug, Args)]
pub struct SpaceArgs {
    /// Workflow file (TOML).
    pub workflow: PathBuf,
    /// List every structure with its knob values.
    #[arg(long)]
    pub structures: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
pub enum Execution {
    /// Parallel branches run concurrently: the slowest one counts.
    Parallel,
    /// Parallel branches run one after another (a batch-1 device, as the paper's prototype).
    Sequential,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
pub enum Latency {
    /// Profiled wall-clock seconds per call.
    Measured,
    /// input_tokens / prefill_tok_per_s + output_tokens / decode_tok_per_s (needs --throughput).
    Tokens,
}

/// Narrows a workflow's design space to some models and budgets (shared by compile and truth).
#[derive(Debug, Args)]
pub struct SpaceFilter {
    /// Keep only these models of the workflow's space, comma-separated (e.g. qwen3-0.6b,qwen3-14b).
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// Keep only these thinking budgets of the workflow's space, comma-separated (e.g. 100,1000).
    #[arg(long, value_delimiter = ',')]
    pub budgets: Vec<u32>,
}

#[derive(Debug, Args)]
pub struct CompileArgs {
    /// Workflow file (TOML).
    pub workflow: PathBuf,
    #[command(flatten)]
    pub space: SpaceFilter,
    /// Profiles: one row per (agent, model, budget) with accuracy, samples, latency_s, input_tokens,
    /// output_tokens; CSV with a header or JSONL.
    #[arg(long, short = 'p')]
    pub profiles: PathBuf,
    /// Per-model throughput (model, prefill_tok_per_s, decode_tok_per_s) for --latency tokens.
    #[arg(long)]
    pub throughput: Option<PathBuf>,
    /// How parallel branches' latencies combine; changing it needs no re-profiling.
    #[arg(long, value_enum, default_value = "parallel")]
    pub execution: Execution,
    /// Where per-agent latency comes from.
    #[arg(long, value_enum, default_value = "measured")]
    pub latency: Latency,
    /// Artifact to write (default: <workflow name>.artifact.json in the current directory).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Label the models behind the profiles (e.g. "zoo (synthetic)"); stored in the artifact.
    #[arg(long)]
    pub models_label: Option<String>,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Artifact (flowcompile.artifact.v1, or the prototype's flowcompile.compiled.v2).
    pub artifact: PathBuf,
    /// Draw the frontier (accuracy vs latency) in the terminal.
    #[arg(long)]
    pub plot: bool,
    /// Print the artifact as JSON (v2 files come out converted to v1).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SelectArgs {
    /// Artifact (flowcompile.artifact.v1, or the prototype's flowcompile.compiled.v2).
    pub artifact: PathBuf,
    /// Trade-off b in [0, 1] or a preset (low 0.01, medium 0.5, high 0.9, xhigh 0.999): maximises
    /// b*accuracy + (1-b)*(1 - latency/max latency). Default medium when no limit is given.
    #[arg(long)]
    pub prefer: Option<String>,
    /// Only points at least this accurate; alone, picks the fastest of them.
    #[arg(long)]
    pub min_accuracy: Option<f64>,
    /// Only points at most this slow (seconds); alone, picks the most accurate of them.
    #[arg(long)]
    pub max_latency: Option<f64>,
    /// Print the chosen point as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
pub enum SchemaKind {
    /// Workflow files.
    Workflow,
    /// Artifacts written by `compile`.
    Artifact,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which schema.
    #[arg(value_enum)]
    pub kind: SchemaKind,
}

/// Where models are and which configuration runs (shared by `run` and `eval`).
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Workflow file (TOML).
    pub workflow: PathBuf,
    /// Providers file: each model name of the workflow -> an OpenAI-compatible endpoint
    /// (examples/providers/zoo.toml, examples/providers/vllm.toml).
    #[arg(long)]
    pub providers: PathBuf,
    /// Answer every provider with the zoo (synthetic models) inside this process, no server and no
    /// key; the zoo knows the tasks of the input data. Each provider's `model` names a zoo model.
    #[arg(long)]
    pub zoo: bool,
    /// Take the configuration from this artifact (with --point or --prefer).
    #[arg(long)]
    pub artifact: Option<PathBuf>,
    /// Artifact point id (p0, p1, ...).
    #[arg(long, requires = "artifact")]
    pub point: Option<String>,
    /// Pick the artifact point by preference (low, medium, high, xhigh or 0..1).
    #[arg(long, requires = "artifact", conflicts_with = "point")]
    pub prefer: Option<String>,
    /// Structure index (see `flowcompile space --structures`); default: the largest structure.
    #[arg(long, conflicts_with = "artifact")]
    pub structure: Option<usize>,
    /// Every slot on this setting, MODEL@BUDGET (e.g. qwen3-8b@1000).
    #[arg(long, conflicts_with = "artifact")]
    pub all: Option<String>,
    /// One slot's setting, SLOT=MODEL@BUDGET; repeatable; overrides --all.
    #[arg(long = "set", conflicts_with = "artifact")]
    pub set: Vec<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub exec: ExecArgs,
    /// The input as a JSON object with the task's fields (e.g. '{"problem": "..."}').
    #[arg(long, conflicts_with = "data")]
    pub input: Option<String>,
    /// A dataset file (JSONL); with --line, runs that item.
    #[arg(long, requires = "line")]
    pub data: Option<PathBuf>,
    /// 1-based line of --data to run.
    #[arg(long)]
    pub line: Option<usize>,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub exec: ExecArgs,
    /// Dataset split (JSONL, one object per line with the task's fields and gold answer).
    #[arg(long)]
    pub data: PathBuf,
    /// Evaluate only the first N items.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Items run at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Store (SQLite) where results are kept so that a rerun skips finished items.
    #[arg(long, default_value = ".flowcompile/store.sqlite")]
    pub store: PathBuf,
}

/// Where `truth` reads and writes and which space it enumerates.
#[derive(Debug, Args)]
pub struct TruthArgs {
    /// Workflow file (TOML).
    pub workflow: PathBuf,
    /// Dataset split (JSONL with the task's fields and gold answer); every line must be an item.
    #[arg(long)]
    pub data: PathBuf,
    /// Providers file mapping the workflow's model names to zoo models (only `model` is used).
    #[arg(long, default_value = "examples/providers/zoo.toml")]
    pub providers: PathBuf,
    #[command(flatten)]
    pub space: SpaceFilter,
    /// Run on the first N items of the split only.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Refuse (exit 3) when the space has more configurations than this.
    #[arg(long, default_value_t = 20_000)]
    pub max_configs: u64,
    /// Artifact compiled for the same workflow and restricted space, to score against the truth.
    #[arg(long)]
    pub compare: Option<PathBuf>,
    /// Configurations measured at once (default: two per core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Truth document to write (default: <workflow name>.truth.json in the current directory).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Print the truth document as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

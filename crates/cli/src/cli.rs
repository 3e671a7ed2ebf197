//! Command-line interface definition.

use std::path::PathBuf;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use flowcompile_ir::{ExecutionModel, LatencyModel};
use flowcompile_proxy::ProxyKind;

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
///   flowcompile compile examples/math/workflow.toml --data examples/data/gsm8k_validate.jsonl --zoo
///   flowcompile compile examples/hotpotqa/workflow.toml --profiles examples/hotpotqa/profiles.csv
///   flowcompile show hotpotqa.artifact.json --plot
///   flowcompile select hotpotqa.artifact.json --prefer high
#[derive(Debug, Parser)]
#[command(
    name = "flowcompile",
    version,
    after_help = exit::TABLE,
    max_term_width = 100,
    verbatim_doc_comment
)]
pub struct Cli {
    /// No progress bars or progress lines, no notes: only results, warnings and errors.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a workflow's design space: structures, slots and the number of configurations
    ///
    ///   flowcompile space examples/hotpotqa/workflow.toml
    ///   flowcompile space examples/math/workflow.toml --json | jq .n_configs
    #[command(verbatim_doc_comment)]
    Space(SpaceArgs),
    /// Compile a workflow into the Pareto set of its configurations (an artifact)
    ///
    /// From profiles you have (--profiles FILE), or measured end to end (--data SPLIT with
    /// --providers FILE or --zoo): data induction on the split, profiling of every agent under
    /// every setting, then the search. Measurements are kept in the store (--store), so a rerun
    /// measures only what changed (an edited prompt re-profiles that agent only).
    ///
    ///   flowcompile compile examples/math/workflow.toml --data examples/data/gsm8k_validate.jsonl --zoo
    ///   flowcompile compile examples/math/workflow.toml --data val.jsonl --providers my-vllm.toml
    ///   flowcompile compile examples/hotpotqa/workflow.toml --profiles examples/hotpotqa/profiles.csv
    #[command(verbatim_doc_comment)]
    Compile(CompileArgs),
    /// Data induction: keep each agent's calls of passing reference runs as its examples
    ///
    /// Runs the reference configuration on a labelled split and stores, per agent, the calls of
    /// the runs whose final score passes (and, with --judge, that the judge rates correct).
    ///
    ///   flowcompile induce examples/math/workflow.toml --data examples/data/gsm8k_validate.jsonl --zoo
    ///   flowcompile induce examples/math/workflow.toml --data val.jsonl --providers p.toml --judge qwen3-14b
    #[command(verbatim_doc_comment)]
    Induce(InduceArgs),
    /// Data induction, then profiling: each agent alone on its examples under every setting
    ///
    ///   flowcompile profile examples/math/workflow.toml --data examples/data/gsm8k_validate.jsonl --zoo -o math.csv
    ///   flowcompile profile examples/math/workflow.toml --data val.jsonl --providers p.toml --adaptive
    #[command(verbatim_doc_comment)]
    Profile(ProfileArgs),
    /// Print an artifact's frontier as a table, a plot or JSON
    ///
    ///   flowcompile show math.artifact.json
    ///   flowcompile show math.artifact.json --plot
    ///   flowcompile show math.artifact.json --json | jq '.points[0]'
    #[command(verbatim_doc_comment)]
    Show(ShowArgs),
    /// Pick one configuration from an artifact by preference or by limits
    ///
    ///   flowcompile select math.artifact.json --prefer high
    ///   flowcompile select math.artifact.json --prefer 0.7 --json
    ///   flowcompile select math.artifact.json --min-accuracy 0.9
    ///   flowcompile select math.artifact.json --max-latency 5 --json | jq .id
    #[command(verbatim_doc_comment)]
    Select(SelectArgs),
    /// Run a workflow under one configuration on one input and print the answer and its trace
    ///
    ///   flowcompile run examples/math/workflow.toml --zoo --all qwen3-8b@400 \
    ///       --input '{"problem": "What is 2+3?", "answer": "5"}'
    ///   flowcompile run examples/math/workflow.toml --zoo --artifact math.artifact.json --prefer high \
    ///       --data examples/data/gsm8k_test.jsonl --line 1
    #[command(verbatim_doc_comment)]
    Run(RunArgs),
    /// Run one configuration over a dataset split: accuracy, latency, tokens, cost
    ///
    /// With --preferences, the expected utility of serving a held-out split to users whose
    /// preferences vary (the paper's heterogeneous-preference setting): each request gets a
    /// preference b from the distribution and is served three ways, by the compiled set (the artifact
    /// point b picks), by the best uniform configuration for b (the largest structure with every agent
    /// on one model and budget, chosen by predicted utility) and by the KNN router (--router, from
    /// `flowcompile route build`). A served request's utility is b*correct + (1-b)*(1 - latency /
    /// lat_max), lat_max the artifact's largest predicted latency; the table gives per strategy the
    /// expected utility, accuracy and mean latency, and the router's gain over the compiled set.
    /// Runs are stored like plain eval runs, so a rerun makes no new model call.
    ///
    ///   flowcompile eval examples/math/workflow.toml --zoo --providers examples/providers/zoo.toml \
    ///       --data examples/data/gsm8k_test.jsonl --all qwen3-8b@1000
    ///   flowcompile eval examples/math/workflow.toml --zoo --artifact math.json \
    ///       --router math.router.json --preferences uniform --data examples/data/gsm8k_test.jsonl --limit 200
    ///   flowcompile eval ... --preferences 0.1,0.5,0.9       # requests take these in turn
    #[command(verbatim_doc_comment)]
    Eval(EvalArgs),
    /// Run an artifact's points on held-out data: how faithful are its predictions
    ///
    /// Runs each chosen point of the artifact on every item of a held-out split (one progress bar over
    /// all (point, item) runs, --concurrency at once), then prints per point the predicted and measured
    /// accuracy and latency, and for both metrics over the points: Spearman rank correlation, pairwise
    /// order agreement, MAE and calibrated MAE (after the least-squares fit measured ~ a * predicted + b,
    /// as in the paper). Results are kept in the store under the same keys as `eval`, so a rerun (or a
    /// later `eval` of a point) makes no new model call.
    ///
    /// Measured latency is the server's modelled latency when every call reports one (the zoo does),
    /// else wall seconds, composed as the artifact's proxy composes it: the slowest branch with
    /// parallel execution, the sum of every call with sequential execution. Wall seconds include
    /// waiting for an endpoint's concurrency limit: lower --concurrency to measure unloaded latency.
    /// A run that fails (a model call error) is counted as failed and left out of accuracy and
    /// latency with a warning, never counted as wrong.
    ///
    ///   flowcompile compile examples/math/workflow.toml -p examples/math/profiles.csv -o math.json
    ///   flowcompile test examples/math/workflow.toml --artifact math.json --zoo \
    ///       --providers examples/providers/zoo.toml --data examples/data/gsm8k_test.jsonl \
    ///       --limit 100 --max-points 6 -o validation.json
    #[command(verbatim_doc_comment)]
    Test(TestArgs),
    /// Write an HTML report of an artifact: frontier, baselines, per-agent profiles, fidelity
    ///
    /// Writes one self-contained HTML page (inline CSS and SVG, no external assets) showing the
    /// predicted frontier, and with more inputs: uniform baselines and per-agent profiles (--workflow
    /// and --profiles, the files the artifact was compiled from), measured points and fidelity plots
    /// (--validation, from `flowcompile test`), the measured frontier (--truth, from `flowcompile truth`).
    ///
    ///   flowcompile compile examples/math/workflow.toml -p examples/math/profiles.csv -o math.json
    ///   flowcompile report math.json --workflow examples/math/workflow.toml \
    ///       --profiles examples/math/profiles.csv -o math.html --svg-dir plots/
    ///
    /// scripts/report-screenshot.sh renders the page to a PNG with headless chromium.
    #[command(verbatim_doc_comment)]
    Report(ReportArgs),
    /// Serve compiled workflows as models of an OpenAI-compatible chat API
    ///
    /// Runs until Ctrl-C or SIGTERM, then answers the requests in flight and exits.
    ///
    /// Each workflow (a --workflow file with the --artifact compiled for it, paired in order) is a model
    /// of POST /v1/chat/completions. The model name chooses the point of the frontier: `math` (medium
    /// preference), `math@fast`, `math@medium`, `math@high`, `math@xhigh`, `math@0.7` (a preference from
    /// 0 = fastest to 1 = most accurate) or `math@p3` (that point). The body fields `preference`,
    /// `min_accuracy` and `max_latency_s` (or the headers x-flowcompile-preference, -min-accuracy,
    /// -max-latency-s) choose too; when no point meets the limits the reply is 422 naming the nearest.
    ///
    /// The last user message is the workflow's input: its text fills the task's first field (`problem`
    /// for examples/math), or, when it is a JSON object, it gives the task's fields by name. The reply is
    /// a chat completion whose "flowcompile" object and x-flowcompile-* headers say which point ran, its
    /// settings and predicted and measured figures. With "stream": true the final agent's reply streams
    /// as reasoning_content while the model produces it, then the answer as content. System messages
    /// and sampling parameters are ignored (the workflow has its own prompts and settings).
    /// Also POST /v1/completions (the prompt is the input), GET /v1/models, GET /health and
    /// GET /metrics (Prometheus text format).
    ///
    ///   flowcompile compile examples/math/workflow.toml -p examples/math/profiles.csv -o math.json
    ///   flowcompile serve --workflow examples/math/workflow.toml --artifact math.json \
    ///       --providers examples/providers/zoo.toml --port 8080 \
    ///       --zoo --tasks examples/data/gsm8k_validate.jsonl
    ///   curl -s localhost:8080/v1/chat/completions -H 'content-type: application/json' \
    ///       -d '{"model": "math@high", "messages": [{"role": "user", "content": "What is 12 * 7?"}]}'
    #[command(verbatim_doc_comment)]
    Serve(ServeArgs),
    /// An OpenAI-compatible gateway for an application you already have: pass-through, or each
    /// agent's calls routed by a compiled point
    ///
    /// Runs until Ctrl-C or SIGTERM, then answers the calls in flight and exits. Point the app's
    /// OpenAI client at http://HOST:PORT/v1 (chat completions streamed and not, completions,
    /// embeddings, models). A call that names no agent goes unchanged to the providers-file model
    /// its `model` names, with that provider's key: the app never holds a provider key.
    ///
    /// With --shape (the workflow TOML: its agents and graph) and --artifact (compiled for it), a
    /// chat call names its agent by the header x-flowcompile-agent (or a `model` equal to an agent's
    /// name) and its run by x-flowcompile-run. A run's point is chosen at its first call, by the
    /// header x-flowcompile-point (p3) or x-flowcompile-preference (fast, medium, high, xhigh or 0..1),
    /// else by --preset, and kept for the run; each agent call goes to the (model, budget) the point
    /// sets for that agent, the budget applied by the provider's budget mode. Replies carry
    /// x-flowcompile-point, x-flowcompile-agent-model and x-flowcompile-agent-budget.
    /// GET /flowcompile/plan?run=RUN says which agents the run's point calls, how often and on what.
    /// A call to an agent the point switches off is answered under the agent's reference setting and
    /// counted in flowcompile_gateway_structure_drift_total. GET /metrics (Prometheus) and GET /health
    /// stay open; with --token-env every other path needs `Authorization: Bearer TOKEN`. One log line
    /// per call on stderr (agent, run, point, model, status, latency_ms).
    ///
    ///   flowcompile gateway --providers examples/providers/zoo.toml --port 8090
    ///   export GATEWAY_TOKEN=$(openssl rand -hex 16)
    ///   flowcompile gateway --providers examples/providers/zoo.toml --token-env GATEWAY_TOKEN \
    ///       --shape examples/math/workflow.toml --artifact math.json --preset high
    ///   curl -s localhost:8090/v1/chat/completions -H "authorization: Bearer $GATEWAY_TOKEN" \
    ///       -H 'x-flowcompile-agent: generate_solver' -H 'x-flowcompile-run: item-17' \
    ///       -H 'content-type: application/json' \
    ///       -d '{"model": "generate_solver", "messages": [{"role": "user", "content": "What is 12 * 7?"}]}'
    ///   curl -s 'localhost:8090/flowcompile/plan?run=item-17' -H "authorization: Bearer $GATEWAY_TOKEN"
    ///
    /// With --capture instead of --artifact, every agent call goes to the agent's reference setting
    /// (--reference, default the induction's: each agent's last model at its largest budget) and
    /// is written to --store per (run, agent, call index): request messages and sampling
    /// parameters (no header, no key), reply, usage and latency. The shape may leave out prompts.
    ///
    ///   flowcompile gateway --providers examples/providers/zoo.toml --shape app-shape.toml \
    ///       --capture --store capture.sqlite --reference qwen3-8b@1000
    ///   flowcompile compile app-shape.toml --captured capture.sqlite \
    ///       --data examples/data/gsm8k_validate.jsonl --providers examples/providers/zoo.toml -o app.json
    #[command(verbatim_doc_comment)]
    Gateway(GatewayArgs),
    /// Run every configuration of a small space on a split (in-process zoo): the true frontier
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
    ///   flowcompile truth examples/hotpotqa/workflow.toml --data examples/data/hotpotqa_validate.jsonl \
    ///       --models qwen3-1.7b,qwen3-8b,qwen3-14b --budgets 100,1000 --limit 100 --compare small.json
    #[command(verbatim_doc_comment)]
    Truth(TruthArgs),
    /// Print the JSON Schema of a file format: workflow, artifact, validation, truth or router
    ///
    ///   flowcompile schema workflow > workflow.schema.json
    ///   flowcompile schema artifact | jq '.properties | keys'
    #[command(verbatim_doc_comment)]
    Schema(SchemaArgs),
    /// Print a shell completion script
    ///
    ///   flowcompile completions bash > ~/.local/share/bash-completion/completions/flowcompile
    ///   flowcompile completions zsh > "${fpath[1]}/_flowcompile"
    ///   flowcompile completions fish > ~/.config/fish/completions/flowcompile.fish
    #[command(verbatim_doc_comment)]
    Completions(CompletionsArgs),
    /// The model zoo: seeded synthetic LLMs behind a real OpenAI-compatible server.
    #[command(subcommand)]
    Zoo(ZooCommand),
    /// KNN routing: per-query frontiers from the profiles of the nearest validation queries.
    #[command(subcommand)]
    Route(RouteCommand),
}

#[derive(Debug, Subcommand)]
pub enum RouteCommand {
    /// Build a router file (flowcompile.router.v1) for a compiled workflow.
    ///
    /// Measures like `compile --data` (the same flags, so with the same store and flags nothing is
    /// measured again), groups every profiling call by the validation item it came from (per item,
    /// agent and setting: mean score and latency), embeds each item's text fields through an
    /// OpenAI-compatible /v1/embeddings endpoint (--embed-model; with --zoo, the zoo's deterministic
    /// hashed bag of words) and writes the items' embeddings and profiles, each agent's global
    /// profile, k and the artifact's execution model. At request time a query is embedded with the
    /// same model, its k nearest items (cosine) are averaged per agent and setting (a cell an item has
    /// no call for takes the agent's global profile), the exact frontier is re-composed and the
    /// request's preference picks a point. Items without any profiling call are left out.
    ///
    ///   flowcompile compile examples/math/workflow.toml --zoo \
    ///       --data examples/data/gsm8k_validate.jsonl -o math.json
    ///   flowcompile route build examples/math/workflow.toml --artifact math.json \
    ///       --data examples/data/gsm8k_validate.jsonl --zoo -o math.router.json
    ///   flowcompile route build wf.toml --artifact a.json --data val.jsonl --providers p.toml \
    ///       --embed-model text-embedding-3-small --k 20
    #[command(verbatim_doc_comment)]
    Build(RouteBuildArgs),
}

/// Arguments of `flowcompile route build`.
#[derive(Debug, Args)]
pub struct RouteBuildArgs {
    /// Workflow file (TOML) the artifact was compiled from.
    pub workflow: PathBuf,
    /// The compiled artifact: the router uses its execution model (it must use measured latency).
    #[arg(long)]
    pub artifact: PathBuf,
    #[command(flatten)]
    pub measure: MeasureArgs,
    /// Embedding model name, served at /v1/embeddings by its provider (the providers file must list
    /// it). With --zoo the default is the zoo's `zoo-embed`.
    #[arg(long)]
    pub embed_model: Option<String>,
    /// Nearest validation items each query's frontier is composed from.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub k: u64,
    /// Shrink each item's own mean towards the agent's global profile by this many pseudo-calls:
    /// (n * own + N * global) / (n + N) for an item cell of n calls. 0 (the paper) takes the items'
    /// means as they are; profiling makes one or two calls per item and setting, so a few damp noise.
    #[arg(long, default_value_t = 0.0)]
    pub prior_calls: f64,
    /// Router file to write (default: .flowcompile/<workflow name>.router.json).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ZooCommand {
    /// Serve the zoo's models over the OpenAI API on loopback until Ctrl-C or SIGTERM.
    ///
    /// Every reply is synthetic ("system_fingerprint": "zoo (synthetic)"). The zoo answers questions
    /// from the task files it is given (GSM8K, MATH, HotpotQA JSONL) with seeded correctness; other
    /// prompts get a plausible reply whose correctness is undefined.
    ///
    ///   flowcompile zoo serve --port 8000 --tasks examples/data/gsm8k_validate.jsonl
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

/// The `--execution` values, with their help, parsed into the one execution-model enum.
fn execution_values() -> impl TypedValueParser<Value = ExecutionModel> {
    PossibleValuesParser::new(
        ExecutionModel::ALL.map(|e| PossibleValue::new(e.name()).help(e.help())),
    )
    .try_map(|s| s.parse::<ExecutionModel>())
}

/// The `--proxy` values, with their help.
fn proxy_values() -> impl TypedValueParser<Value = ProxyKind> {
    PossibleValuesParser::new([
        PossibleValue::new("dependent").help(
            "composed per validation item as measured (votes by how often candidates agree), then corrected for selection (needs --data)",
        ),
        PossibleValue::new("independent").help("the paper's proxy: candidates fail independently"),
    ])
    .map(|s| match s.as_str() {
        "independent" => ProxyKind::Independent,
        _ => ProxyKind::Dependent,
    })
}

/// The `--latency` values, with their help, parsed into the one latency-model enum.
fn latency_values() -> impl TypedValueParser<Value = LatencyModel> {
    PossibleValuesParser::new(
        LatencyModel::ALL.map(|l| PossibleValue::new(l.name()).help(l.help())),
    )
    .try_map(|s| s.parse::<LatencyModel>())
}

/// A `--prefer` value: a preset of `flowcompile_select::PRESETS` (or an alias) or a number in [0, 1].
fn preference_value(text: &str) -> Result<f64, String> {
    flowcompile_select::Preference::parse(text)
        .map(flowcompile_select::Preference::value)
        .map_err(|e| e.to_string())
}

/// A number from 0 to 1 (an accuracy).
fn unit_value(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("expected a number from 0 to 1, got '{text}'")),
    }
}

/// A `--confidence` value, in [0.5, 1).
fn confidence_value(text: &str) -> Result<f64, String> {
    let c = text
        .trim()
        .parse::<f64>()
        .map_err(|_| format!("expected a number from 0.5 up to 1, got '{text}'"))?;
    flowcompile_select::Confidence::new(c)
        .map(flowcompile_select::Confidence::value)
        .map_err(|e| e.to_string())
}

/// A finite number of seconds >= 0.
fn seconds_value(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("expected a number of seconds >= 0, got '{text}'")),
    }
}

/// Measurement effort presets (`--effort`).
#[derive(Copy, Clone, Debug, ValueEnum)]
pub enum Effort {
    /// 25 calls per setting, adaptive.
    Light,
    /// 100 calls per setting.
    Medium,
    /// 300 calls per setting.
    Heavy,
}

impl Effort {
    /// Calls per setting and whether profiling is adaptive.
    pub fn sampling(self) -> (usize, bool) {
        match self {
            Effort::Light => (25, true),
            Effort::Medium => (100, false),
            Effort::Heavy => (300, false),
        }
    }
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
    /// output_tokens; CSV with a header or JSONL. Or measure them with --data instead.
    #[arg(
        long,
        short = 'p',
        required_unless_present = "data",
        conflicts_with = "data"
    )]
    pub profiles: Option<PathBuf>,
    #[command(flatten)]
    pub measure: MeasureArgs,
    /// With --data: compile without the settings that have no successful profiling call (instead
    /// of refusing to treat them as measured).
    #[arg(long, requires = "data")]
    pub drop_unprofiled: bool,
    /// With --data: also write the measured profiles (CSV, the --profiles format) here, and the
    /// fitted throughput next to it (<name>.throughput.csv).
    #[arg(long, requires = "data")]
    pub export_profiles: Option<PathBuf>,
    /// Per-model throughput (model, prefill_tok_per_s, decode_tok_per_s) for --latency tokens
    /// (with --data it is fitted from the profiling calls).
    #[arg(long, conflicts_with = "data")]
    pub throughput: Option<PathBuf>,
    /// How parallel branches' latencies combine; changing it needs no re-profiling.
    #[arg(long, value_parser = execution_values(), default_value = "parallel")]
    pub execution: ExecutionModel,
    /// Where per-agent latency comes from.
    #[arg(long, value_parser = latency_values(), default_value = "measured")]
    pub latency: LatencyModel,
    /// How the points are predicted. dependent: the search composes any-of candidates with the
    /// dependence of their failures measured on the validation items, then each point found is
    /// composed again item by item (a vote by how often its candidates agree) and lowered by its
    /// selection optimism (the whole selection rerun on resampled items). independent: the paper's
    /// proxy, candidates failing independently. Profile files hold averages only, so with
    /// --profiles both are the independent proxy.
    #[arg(long, value_parser = proxy_values(), default_value = "dependent")]
    pub proxy: ProxyKind,
    /// With --data: after compiling, run N points spread along the frontier end to end on the
    /// validation split (the store reuses runs), print predicted against measured, and drop from
    /// the artifact the points another verified point beats in measurement.
    #[arg(long, value_name = "N", requires = "data")]
    pub verify: Option<u64>,
    /// Artifact to write (default: .flowcompile/<workflow name>.artifact.json).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Label the models behind the profiles (e.g. "zoo (synthetic)"); stored in the artifact.
    /// With --zoo it is "zoo (synthetic)".
    #[arg(long)]
    pub models_label: Option<String>,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
}

/// How the pipeline measures: data, models, store, reference, sampling (shared by `induce`,
/// `profile` and `compile --data`).
#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("models_at").args(["providers", "zoo"]).multiple(true)))]
pub struct MeasureArgs {
    /// Labelled validation split (JSONL: the task's fields and the gold answer) to induce the
    /// agents' examples from and profile them on; needs --providers FILE or --zoo.
    #[arg(long, requires = "models_at")]
    pub data: Option<PathBuf>,
    /// Providers file: each model name of the workflow -> an OpenAI-compatible endpoint.
    /// With --zoo and no providers file, the built-in mapping (qwen3-0.6b..qwen3-14b -> zoo models).
    #[arg(long)]
    pub providers: Option<PathBuf>,
    /// Run every model on the zoo (seeded synthetic models) inside this process; results are
    /// labelled "zoo (synthetic)".
    #[arg(long)]
    pub zoo: bool,
    /// SQLite store of every measurement: a rerun reuses what it has.
    #[arg(long, default_value = ".flowcompile/store.sqlite")]
    pub store: PathBuf,
    /// Use only the first N items of --data.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Reference setting of every agent for data induction, MODEL@BUDGET; default: each agent's
    /// last model at its largest budget (the paper: the largest model).
    #[arg(long)]
    pub reference: Option<String>,
    /// Reference structure (see `flowcompile space --structures`); default: the largest.
    #[arg(long)]
    pub reference_structure: Option<usize>,
    /// A reference run is kept when its final score is at least this.
    #[arg(long, default_value_t = 0.5)]
    pub min_score: f64,
    /// Model that judges each call of a kept run; only calls it rates correct become examples.
    #[arg(long)]
    pub judge: Option<String>,
    /// Thinking budget of judge calls.
    #[arg(long, default_value_t = 1000)]
    pub judge_budget: u32,
    /// Calls per (agent, model, budget): that many examples, repeated with fresh samples when an
    /// agent has fewer (the prototype's min_samples_per_agent). Default: from --effort (100).
    #[arg(long)]
    pub calls_per_setting: Option<usize>,
    /// Adaptive profiling: stop sampling a setting once another setting of the same agent beats it
    /// on accuracy and latency beyond two standard errors (checked every 10 calls from the 20th);
    /// reports the calls saved. On with --effort light.
    #[arg(long)]
    pub adaptive: bool,
    /// How much to measure: light (25 calls per setting, adaptive: about a fifth of the calls,
    /// wider error on each agent's accuracy), medium (100 calls per setting, the default), heavy
    /// (300 calls per setting: three times the calls, half the standard error).
    #[arg(long, value_enum, default_value = "medium")]
    pub effort: Effort,
    /// Model calls (or reference runs) in flight at once; each endpoint's own limit applies too.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Print the plan (calls per stage, estimated tokens, cost where the providers have prices)
    /// and exit without calling any model.
    #[arg(long)]
    pub dry_run: bool,
    /// Refuse to start a measurement of more model calls than this.
    #[arg(long, value_name = "N")]
    pub max_calls: Option<u64>,
    /// Induce from the calls `flowcompile gateway --capture` wrote to this store (a run's id is
    /// its --data item's id) instead of running the reference; profiling replays each captured
    /// request's messages under every setting. The workflow may be a shape (no prompts).
    #[arg(long, value_name = "STORE", requires = "data", conflicts_with_all = ["dry_run", "judge", "reference", "reference_structure"])]
    pub captured: Option<PathBuf>,
}

impl Cli {
    /// Usage errors clap's attributes cannot state: `induce` and `profile` measure, so they need
    /// `--data` (the flag is optional in the measuring flags they share with `compile`, which can
    /// read `--profiles` instead). Exits with clap's usage code, 2.
    pub fn check(&self) -> Result<(), clap::Error> {
        let (name, measure) = match &self.command {
            Command::Induce(a) => ("induce", &a.measure),
            Command::Profile(a) => ("profile", &a.measure),
            _ => return Ok(()),
        };
        if measure.data.is_some() {
            return Ok(());
        }
        let mut cli = <Cli as clap::CommandFactory>::command();
        cli.build();
        let mut command = cli.find_subcommand(name).cloned().unwrap_or(cli);
        Err(command.error(
            clap::error::ErrorKind::MissingRequiredArgument,
            format!(
                "`{name}` measures the agents on a labelled split: give --data SPLIT with \
                 --providers FILE or --zoo; with profiles you already have, run \
                 `flowcompile compile WORKFLOW --profiles FILE` instead"
            ),
        ))
    }
}

#[derive(Debug, Args)]
pub struct InduceArgs {
    /// Workflow file (TOML).
    pub workflow: PathBuf,
    #[command(flatten)]
    pub measure: MeasureArgs,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// Workflow file (TOML).
    pub workflow: PathBuf,
    #[command(flatten)]
    pub measure: MeasureArgs,
    /// Write the profiles (CSV, the format `compile --profiles` reads) here, and the fitted
    /// throughput next to it (<name>.throughput.csv).
    #[arg(long, short = 'o')]
    pub export: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Artifact (flowcompile.artifact.v2 or v1, or the prototype's flowcompile.compiled.v2).
    pub artifact: PathBuf,
    /// Draw the frontier (accuracy vs latency) in the terminal.
    #[arg(long)]
    pub plot: bool,
    /// Print the artifact as JSON (prototype files come out converted to flowcompile.artifact.v1).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SelectArgs {
    /// Artifact (flowcompile.artifact.v2 or v1, or the prototype's flowcompile.compiled.v2).
    pub artifact: PathBuf,
    /// Trade-off b in [0, 1] or a preset (fast or low: the fastest point, medium 0.5, high 0.9,
    /// xhigh: the most accurate point): maximises b*accuracy + (1-b)*(1 - latency/max latency).
    /// Default medium when no limit is given.
    #[arg(long, value_parser = preference_value)]
    pub prefer: Option<f64>,
    /// Only points at least this accurate (0 to 1); alone, picks the fastest of them.
    #[arg(long, value_parser = unit_value)]
    pub min_accuracy: Option<f64>,
    /// Only points at most this slow (seconds, >= 0); alone, picks the most accurate of them.
    #[arg(long, value_parser = seconds_value)]
    pub max_latency: Option<f64>,
    /// How sure the pick must be, from 0.5 up to (not including) 1: each point is judged by the
    /// one-sided bounds of its 90% intervals at this level (accuracy's lower bound against
    /// --min-accuracy, latency's upper bound against --max-latency and in the preference); 0.5 is
    /// the prediction itself. Needs a flowcompile.artifact.v2 artifact with intervals.
    #[arg(long, value_parser = confidence_value)]
    pub confidence: Option<f64>,
    /// Print the chosen point as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Inputs and outputs of `flowcompile report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Artifact (flowcompile.artifact.v2 or v1, or the prototype's flowcompile.compiled.v2).
    pub artifact: PathBuf,
    /// Workflow file the artifact was compiled from (with --profiles: baselines, agent profiles).
    #[arg(long, requires = "profiles")]
    pub workflow: Option<PathBuf>,
    /// Profiles the artifact was compiled from (CSV or JSONL).
    #[arg(long, short = 'p', requires = "workflow")]
    pub profiles: Option<PathBuf>,
    /// Per-model throughput, when the artifact was compiled with --latency tokens.
    #[arg(long, requires = "profiles")]
    pub throughput: Option<PathBuf>,
    /// Held-out validation (flowcompile.validation.v1, written by `flowcompile test`).
    #[arg(long)]
    pub validation: Option<PathBuf>,
    /// Measured ground truth (flowcompile.truth.v1, written by `flowcompile truth`).
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// HTML file to write (default: .flowcompile/<workflow name>.report.html).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Also write each plot as DIR/<name>.svg (created if missing).
    #[arg(long, value_name = "DIR")]
    pub svg_dir: Option<PathBuf>,
    /// Print what was written as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
pub enum SchemaKind {
    /// Workflow files.
    Workflow,
    /// Artifacts written by `compile`.
    Artifact,
    /// Validation documents written by `test`.
    Validation,
    /// Truth reports written by `truth`.
    Truth,
    /// Router files written by `route build`.
    Router,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which schema.
    #[arg(value_enum)]
    pub kind: SchemaKind,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Where models are and which configuration runs (shared by `run` and `eval`).
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Workflow file (TOML).
    pub workflow: PathBuf,
    /// Providers file: each model name of the workflow -> an OpenAI-compatible endpoint
    /// (examples/providers/zoo.toml, examples/providers/vllm.toml). With --zoo and no providers
    /// file, the built-in mapping (qwen3-0.6b..qwen3-14b -> zoo models).
    #[arg(long, required_unless_present = "zoo")]
    pub providers: Option<PathBuf>,
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
    /// Expected utility over a distribution of preferences: `uniform` (b uniform on [0, 1],
    /// stratified and assigned to requests by a seeded shuffle), `uniform:SEED`, or a list of values
    /// or presets (`0.1,0.5,0.9`, `low,high`) that requests take in turn. Needs --artifact and --router.
    #[arg(long, requires_all = ["artifact", "router"], conflicts_with_all = ["point", "prefer"])]
    pub preferences: Option<String>,
    /// Router file (from `flowcompile route build`) serving the router strategy of --preferences.
    #[arg(long, requires = "preferences")]
    pub router: Option<PathBuf>,
}

/// Arguments of `flowcompile test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Workflow file (TOML) the artifact was compiled from.
    pub workflow: PathBuf,
    /// Artifact whose points to run (flowcompile.artifact.v2 or v1, or the prototype's v2).
    #[arg(long)]
    pub artifact: PathBuf,
    /// Held-out split (JSONL, one object per line with the task's fields and gold answer).
    #[arg(long)]
    pub data: PathBuf,
    /// Providers file: each model name of the workflow -> an OpenAI-compatible endpoint. With
    /// --zoo and no providers file, the built-in mapping (qwen3-0.6b..qwen3-14b -> zoo models).
    #[arg(long, required_unless_present = "zoo")]
    pub providers: Option<PathBuf>,
    /// Answer every provider with the zoo (synthetic models) inside this process.
    #[arg(long)]
    pub zoo: bool,
    /// Only these points, comma-separated ids (e.g. p0,p3).
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["all_points", "max_points"])]
    pub points: Vec<String>,
    /// Every point of the artifact (the default).
    #[arg(long, conflicts_with = "max_points")]
    pub all_points: bool,
    /// At most N points, spread evenly along the frontier (always the fastest and the most accurate).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_points: Option<u64>,
    /// Run only the first N items of the split.
    #[arg(long)]
    pub limit: Option<usize>,
    /// (point, item) runs at once, over all points.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Store (SQLite) where results are kept so that a rerun skips finished runs.
    #[arg(long, default_value = ".flowcompile/store.sqlite")]
    pub store: PathBuf,
    /// Print the validation document (flowcompile.validation.v1) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also write the validation document to this file (atomically).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

/// Where `serve` finds its workflows and models, and its limits.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Workflow file (TOML); repeatable, paired in order with --artifact.
    #[arg(long = "workflow", required = true)]
    pub workflows: Vec<PathBuf>,
    /// Artifact compiled for the --workflow at the same position; repeatable.
    #[arg(long = "artifact", required = true)]
    pub artifacts: Vec<PathBuf>,
    /// Providers file: each model name the points use -> an OpenAI-compatible endpoint
    /// (examples/providers/zoo.toml, examples/providers/vllm.toml). With --zoo and no providers
    /// file, the built-in mapping (qwen3-0.6b..qwen3-14b -> zoo models).
    #[arg(long, required_unless_present = "zoo")]
    pub providers: Option<PathBuf>,
    /// Answer every provider with the zoo (synthetic models) inside this process.
    #[arg(long)]
    pub zoo: bool,
    /// Task file (JSONL) the embedded zoo knows, so that its answers to those questions have
    /// seeded correctness (e.g. examples/data/gsm8k_validate.jsonl).
    #[arg(long, requires = "zoo")]
    pub tasks: Option<PathBuf>,
    /// Address to listen on (127.0.0.1 = this machine only).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Port (0 picks a free one; the address is printed on the first line).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Name of the environment variable holding the bearer token every /v1 request must send
    /// (`Authorization: Bearer TOKEN`); without it the API is open. /health and /metrics stay open.
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,
    /// Largest request body in bytes (larger ones get 413).
    #[arg(long, default_value_t = 1 << 20)]
    pub max_body_bytes: usize,
    /// Longest a workflow may run for one request, seconds (then 504); at most 86400.
    #[arg(long, default_value_t = 300.0)]
    pub timeout_s: f64,
    /// Router file (from `flowcompile route build`) of a served workflow (matched by its workflow
    /// name); repeatable. Requests to that workflow that do not name a point are routed per query:
    /// the input is embedded with the router's embedding model and the request's preference or
    /// limits pick a point of the frontier re-composed from the nearest validation queries. The
    /// reply's `flowcompile.point` is then `knn` and `flowcompile.selected_by.routed` says how.
    #[arg(long = "router", value_name = "FILE")]
    pub routers: Vec<PathBuf>,
}

/// Where `gateway` sends calls, what it deploys or captures, and its limits.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("agent_mode").args(["artifact", "capture"])))]
pub struct GatewayArgs {
    /// Providers file: each model name -> an OpenAI-compatible endpoint and its key variable
    /// (examples/providers/zoo.toml, examples/providers/vllm.toml).
    #[arg(long)]
    pub providers: PathBuf,
    /// Shape file: the workflow TOML whose agents and graph the application follows (agents may
    /// leave out `prompt`: the application owns the prompts). Needs --artifact or --capture.
    #[arg(long, requires = "agent_mode")]
    pub shape: Option<PathBuf>,
    /// Artifact compiled for the --shape: each run's agent calls go to its point's settings.
    #[arg(long, requires = "shape")]
    pub artifact: Option<PathBuf>,
    /// Capture: every agent call goes to the agent's reference setting and is written to --store
    /// (request messages, reply, usage, latency per run, agent and call). Calls must send
    /// x-flowcompile-run (the labelled item's id).
    #[arg(long, requires_all = ["shape", "store"])]
    pub capture: bool,
    /// SQLite store captured calls are written to (with --capture).
    #[arg(long, requires = "capture")]
    pub store: Option<PathBuf>,
    /// The reference setting of every agent, MODEL@BUDGET: what capture runs every agent under,
    /// and what a deployment answers an agent its point switches off with (default: each agent's
    /// last model at its largest budget, in the shape's largest structure).
    #[arg(long, value_name = "MODEL@BUDGET", requires = "shape")]
    pub reference: Option<String>,
    /// The point of runs that name none (x-flowcompile-point or x-flowcompile-preference): a preset
    /// (fast, medium, high, xhigh) or a weight from 0 (fastest) to 1 (most accurate).
    #[arg(long, default_value = "medium", requires = "artifact")]
    pub preset: String,
    /// Address to listen on (127.0.0.1 = this machine only).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Port (0 picks a free one; the address is printed on the first line).
    #[arg(long, default_value_t = 8090)]
    pub port: u16,
    /// Name of the environment variable holding the bearer token apps send
    /// (`Authorization: Bearer TOKEN`); without it the gateway is open. /health and /metrics stay open.
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,
    /// Largest request body in bytes (larger ones get 413).
    #[arg(long, default_value_t = 16 << 20)]
    pub max_body_bytes: usize,
    /// Most runs whose point is remembered (the least recently used one is forgotten first).
    #[arg(long, default_value_t = 100_000)]
    pub max_runs: usize,
    /// Seconds a run's point is remembered after its last call.
    #[arg(long, default_value_t = 3600)]
    pub run_ttl_s: u64,
}

/// Where `truth` reads and writes and which space it enumerates.
#[derive(Debug, Args)]
pub struct TruthArgs {
    /// Workflow file (TOML).
    pub workflow: PathBuf,
    /// Dataset split (JSONL with the task's fields and gold answer); every line must be an item.
    #[arg(long)]
    pub data: PathBuf,
    /// Providers file mapping the workflow's model names to zoo models (only `model` is used);
    /// default: the built-in mapping (qwen3-0.6b..qwen3-14b -> zoo models).
    #[arg(long)]
    pub providers: Option<PathBuf>,
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
    /// Truth document to write (default: .flowcompile/<workflow name>.truth.json).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Print the truth document as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

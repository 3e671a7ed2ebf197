//! `flowcompile induce`, `flowcompile profile`, and the measuring half of `compile --data`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use flowcompile_ir::Workflow;
use flowcompile_pipeline::{
    keys, read_split, Adaptive, InduceOptions, InduceReport, Pipeline, PipelineError,
    ProfileOptions, ProfileReport,
};
use flowcompile_profile::{write_csv, write_throughput_csv, ProfileRow, ThroughputRow};
use flowcompile_runner::Runner;

use crate::config;
use crate::load;
use crate::models::{ModelSource, Models};
use crate::{Error, Observer, Result};

/// How the agents are measured: the labelled split, the models, the store, the reference
/// configuration, the judge and the sampling (`induce`, `profile` and `compile --data`).
#[derive(Clone, Debug)]
pub struct MeasureOptions {
    /// The labelled validation split (JSONL).
    pub data: PathBuf,
    /// Where the models are.
    pub models: ModelSource,
    /// The SQLite store of every call.
    pub store: PathBuf,
    /// Use only the split's first items.
    pub limit: Option<usize>,
    /// `MODEL@BUDGET` of every slot of the reference (default: each agent's last model at its
    /// largest budget).
    pub reference: Option<String>,
    /// The reference's structure (default: the largest).
    pub reference_structure: Option<usize>,
    /// The lowest final score of a reference run whose calls are kept.
    pub min_score: f64,
    /// A judge model that must rate each kept call correct.
    pub judge: Option<String>,
    /// The judge's thinking budget.
    pub judge_budget: u32,
    /// Profiling calls per (agent, setting).
    pub calls_per_setting: usize,
    /// Stop profiling a setting once another beats it with confidence.
    pub adaptive: bool,
    /// Calls in flight at once.
    pub concurrency: usize,
    /// Refuse to start when the plan has more calls than this.
    pub max_calls: Option<u64>,
    /// A store of calls captured by `flowcompile gateway --capture`: induction reads them instead
    /// of running the reference, and profiling replays their messages as captured.
    pub captured: Option<PathBuf>,
}

/// Characters per token in the estimate (English text and code average about four).
const CHARS_PER_TOKEN: f64 = 4.0;

/// Answer tokens a call adds to its thinking budget in the estimate.
const ANSWER_TOKENS: f64 = 64.0;

/// One stage of a measurement plan.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StagePlan {
    /// `induce` or `profile`.
    pub stage: &'static str,
    /// Model calls at most (calls already in the store are reused and not repeated).
    pub calls: u64,
    /// Estimated prompt tokens.
    pub prompt_tokens: f64,
    /// Estimated completion tokens (thinking budgets spent in full, plus the answer).
    pub completion_tokens: f64,
    /// Estimated cost in US dollars, when every model's provider has prices.
    pub cost_usd: Option<f64>,
}

/// What a measurement will run, said before any call (as DSPy's cost estimate does): calls per
/// stage, tokens and, where the providers have prices, cost. Upper bounds: the store and
/// `--adaptive` only ever make fewer calls.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Plan {
    /// Induction, then profiling.
    pub stages: Vec<StagePlan>,
    /// Calls of both stages.
    pub total_calls: u64,
}

impl Plan {
    /// The plan as lines for people.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "plan: at most {} model calls (calls already in the store are reused)",
            crate::count(self.total_calls)
        )];
        for s in &self.stages {
            out.push(format!(
                "  {:<8} {:>9} calls, ~{:.1}M prompt + ~{:.1}M completion tokens{}",
                s.stage,
                crate::count(s.calls),
                s.prompt_tokens / 1e6,
                s.completion_tokens / 1e6,
                s.cost_usd
                    .map(|c| format!(", ~${c:.2}"))
                    .unwrap_or_default()
            ));
        }
        out
    }
}

/// The plan of a measurement without making it (`--dry-run`): reads the split and the providers.
pub fn dry_run(wf: &Workflow, opts: &MeasureOptions) -> Result<Plan> {
    let data_text = load::read(&opts.data)?;
    let mut items = read_split(
        &data_text,
        &opts.data.display().to_string(),
        &wf.task.answer,
        &wf.task.fields,
    )
    .map_err(|e| Error::Input(e.into()))?;
    if let Some(limit) = opts.limit {
        items.truncate(limit);
    }
    let models = Models::open(&opts.models, None)?;
    plan(wf, &items, opts, &models)
}

/// The plan of measuring `wf` on `items` with `opts`, from the workflow, the split and the
/// providers alone (no call is made).
pub fn plan(
    wf: &Workflow,
    items: &[serde_json::Value],
    opts: &MeasureOptions,
    models: &Models,
) -> Result<Plan> {
    let space = wf
        .design_space()
        .map_err(|e| Error::Input(anyhow::anyhow!("{e}")))?;
    let (reference, _, _) = config::reference(
        wf,
        &space,
        opts.reference_structure,
        opts.reference.as_deref(),
    )?;
    let item_chars = if items.is_empty() {
        0.0
    } else {
        items
            .iter()
            .map(|i| i.to_string().len() as f64)
            .sum::<f64>()
            / items.len() as f64
    };
    let prompt_tokens = |agent: &flowcompile_ir::Agent| {
        (agent.prompt.as_ref().map_or(0, String::len) as f64 + item_chars) / CHARS_PER_TOKEN
    };
    let cost = |model: &str, prompt: f64, completion: f64| {
        models
            .providers
            .get(model)
            .and_then(|p| p.cost_usd(prompt as u64, completion as u64))
    };
    let mut induce = StagePlan {
        stage: "induce",
        calls: 0,
        prompt_tokens: 0.0,
        completion_tokens: 0.0,
        cost_usd: Some(0.0),
    };
    let mut calls_per_item = Vec::new();
    space.structures[reference.structure]
        .expr
        .for_each_call(&mut |slot, agent| calls_per_item.push((slot, agent)));
    for (slot, agent) in calls_per_item {
        let Some(setting) = reference.setting(slot) else {
            continue;
        };
        let n = items.len() as f64;
        let (p, c) = (
            n * prompt_tokens(wf.agent(agent)),
            n * (f64::from(setting.budget_tokens) + ANSWER_TOKENS),
        );
        induce.calls += items.len() as u64;
        induce.prompt_tokens += p;
        induce.completion_tokens += c;
        induce.cost_usd = induce
            .cost_usd
            .zip(cost(&setting.model, p, c))
            .map(|(a, b)| a + b);
    }
    let mut profile = StagePlan {
        stage: "profile",
        calls: 0,
        prompt_tokens: 0.0,
        completion_tokens: 0.0,
        cost_usd: Some(0.0),
    };
    let n = opts.calls_per_setting as f64;
    for agent in &wf.agents {
        for setting in &agent.settings {
            let (p, c) = (
                n * prompt_tokens(agent),
                n * (f64::from(setting.budget_tokens) + ANSWER_TOKENS),
            );
            profile.calls += opts.calls_per_setting as u64;
            profile.prompt_tokens += p;
            profile.completion_tokens += c;
            profile.cost_usd = profile
                .cost_usd
                .zip(cost(&setting.model, p, c))
                .map(|(a, b)| a + b);
        }
    }
    let total_calls = induce.calls + profile.calls;
    Ok(Plan {
        stages: vec![induce, profile],
        total_calls,
    })
}

/// Everything a measurement produced.
pub struct Measured {
    /// The induction.
    pub induce: InduceReport,
    /// The profiling, unless only induction ran.
    pub profile: Option<ProfileReport>,
    /// "zoo (synthetic)" for zoo runs.
    pub models_label: Option<String>,
    /// Wall seconds of induction and of profiling.
    pub induce_s: f64,
    /// Wall seconds of profiling (0 when it did not run).
    pub profile_s: f64,
}

/// Runs data induction and, unless `induce_only`, profiling, printing what they did to stderr.
pub fn measure(
    wf: &Workflow,
    args: &MeasureOptions,
    induce_only: bool,
    observer: &dyn Observer,
) -> Result<Measured> {
    let data = &args.data;
    let data_text = load::read(data)?;
    let mut items = read_split(
        &data_text,
        &data.display().to_string(),
        &wf.task.answer,
        &wf.task.fields,
    )
    .map_err(|e| Error::Input(e.into()))?;
    if let Some(limit) = args.limit {
        items.truncate(limit);
    }
    let used_text: String = items.iter().map(|i| format!("{i}\n")).collect();
    let data_name = load::file_name(data);
    load::keep_program_runs(&args.store)?;
    if let Some(captured) = &args.captured {
        return measure_captured(
            wf,
            args,
            captured,
            &items,
            &used_text,
            induce_only,
            observer,
        );
    }
    let runtime = crate::models::runtime()?;
    runtime.block_on(async {
        let models = Models::open(&args.models, Some((&data_name, &data_text)))?;
        let providers = models.providers.clone();
        let runner = Runner::new(wf.clone(), models.client()?).map_err(|e| Error::Input(e.into()))?;
        let (reference, reference_text, reference_models) = config::reference(
            wf,
            runner.space(),
            args.reference_structure,
            args.reference.as_deref(),
        )?;
        models.check_names(
            reference_models.iter().chain(args.judge.iter()).chain(
                wf.agents
                    .iter()
                    .flat_map(|a| a.settings.iter().map(|s| &s.model)),
            ),
        )?;
        let plan = plan(wf, &items, args, &models)?;
        for line in plan.lines() {
            observer.note(&line);
        }
        if let Some(max) = args.max_calls {
            if plan.total_calls > max {
                return Err(Error::Input(anyhow::anyhow!(
                    "the plan has {} model calls, more than --max-calls {max}: lower --calls-per-setting or --limit, choose --effort light, or narrow the space with --models/--budgets",
                    crate::count(plan.total_calls)
                )));
            }
        }
        let key = keys::induction_key(
            wf,
            &used_text,
            &reference_text,
            &reference_models,
            args.judge.as_deref(),
            args.min_score,
            &providers,
        );
        let pipeline = Pipeline::new(runner, &args.store);
        observer.note(&format!(
            "induce: {} on {} ({} items) under the reference {reference_text}{}",
            wf.name,
            data.display(),
            items.len(),
            args.judge
                .as_deref()
                .map(|j| format!(", judged by {j}"))
                .unwrap_or_default()
        ));
        let started = Instant::now();
        let opts = InduceOptions {
            reference,
            reference_text,
            min_score: args.min_score,
            judge: args.judge.clone(),
            judge_budget: args.judge_budget,
            concurrency: args.concurrency,
        };
        let induce = pipeline
            .induce(&items, &key, &opts, observer)
            .await
            .map_err(pipeline_failure)?;
        let induce_s = started.elapsed().as_secs_f64();
        print_induce(observer, &induce, induce_s, args.calls_per_setting, false);
        profile(&pipeline, induce, induce_s, models.label(), args, induce_only, observer).await
    })
}

/// Profiling after an induction under `induce.key` (unless `induce_only`), printing what it did.
async fn profile(
    pipeline: &Pipeline,
    induce: InduceReport,
    induce_s: f64,
    models_label: Option<String>,
    args: &MeasureOptions,
    induce_only: bool,
    observer: &dyn Observer,
) -> Result<Measured> {
    if induce_only {
        return Ok(Measured {
            induce,
            profile: None,
            models_label,
            induce_s,
            profile_s: 0.0,
        });
    }
    let started = Instant::now();
    let popts = ProfileOptions {
        calls_per_setting: args.calls_per_setting,
        concurrency: args.concurrency,
        adaptive: args.adaptive.then(Adaptive::default),
    };
    let profile = pipeline
        .profile(&induce.key, &popts, observer)
        .await
        .map_err(pipeline_failure)?;
    let profile_s = started.elapsed().as_secs_f64();
    print_profile(observer, &profile, profile_s);
    Ok(Measured {
        induce,
        profile: Some(profile),
        models_label,
        induce_s,
        profile_s,
    })
}

/// Induction from the calls captured in `captured` (no reference run), then profiling that
/// replays each captured request under every setting.
fn measure_captured(
    wf: &Workflow,
    args: &MeasureOptions,
    captured: &Path,
    items: &[serde_json::Value],
    used_text: &str,
    induce_only: bool,
    observer: &dyn Observer,
) -> Result<Measured> {
    if !captured.is_file() {
        return Err(Error::Input(anyhow::anyhow!(
            "--captured {}: no such file (expected the --store of `flowcompile gateway --capture`)",
            captured.display()
        )));
    }
    let calls = flowcompile_store::Store::open(captured)
        .and_then(|s| s.captured_calls())
        .map_err(|e| Error::Input(e.into()))?;
    if calls.is_empty() {
        return Err(Error::Input(anyhow::anyhow!(
            "--captured {}: no captured calls (table captured_calls is empty)",
            captured.display()
        )));
    }
    let data_text = load::read(&args.data)?;
    let data_name = load::file_name(&args.data);
    let runtime = crate::models::runtime()?;
    runtime.block_on(async {
        let models = Models::open(&args.models, Some((&data_name, &data_text)))?;
        models.check_names(
            wf.agents
                .iter()
                .flat_map(|a| a.settings.iter().map(|s| &s.model)),
        )?;
        let runner =
            Runner::for_replay(wf.clone(), models.client()?).map_err(|e| Error::Input(e.into()))?;
        let key = keys::capture_key(wf, used_text, &calls, args.min_score);
        let runs: std::collections::BTreeSet<&str> = calls.iter().map(|c| c.run.as_str()).collect();
        observer.note(&format!(
            "induce: {} from {} ({} captured calls of {} runs) over {}",
            wf.name,
            captured.display(),
            calls.len(),
            runs.len(),
            args.data.display()
        ));
        let pipeline = Pipeline::new(runner, &args.store);
        let started = Instant::now();
        let induce = pipeline
            .induce_captured(
                &calls,
                items,
                &args.data.display().to_string(),
                &key,
                args.min_score,
            )
            .await
            .map_err(pipeline_failure)?;
        let induce_s = started.elapsed().as_secs_f64();
        print_induce(observer, &induce, induce_s, args.calls_per_setting, true);
        profile(
            &pipeline,
            induce,
            induce_s,
            models.label(),
            args,
            induce_only,
            observer,
        )
        .await
    })
}

/// Maps pipeline errors to exit codes: bad data is invalid input, the rest a failure.
fn pipeline_failure(e: PipelineError) -> Error {
    match e {
        PipelineError::BadData { .. }
        | PipelineError::Unlabelled { .. }
        | PipelineError::EmptyData { .. }
        | PipelineError::CaptureMismatch { .. }
        | PipelineError::UnknownRun { .. }
        | PipelineError::RunReused { .. }
        | PipelineError::Run(_) => Error::Input(e.into()),
        other => Error::Other(other.into()),
    }
}

/// The induction's summary lines.
fn print_induce(
    observer: &dyn Observer,
    r: &InduceReport,
    secs: f64,
    calls_per_setting: usize,
    captured: bool,
) {
    if captured {
        observer.note(&format!(
            "induce: {} captured runs: {} passed, {} left out without a final answer; captured score {:.3}; {:.1} s",
            r.items, r.items_kept, r.items_failed, r.reference_score, secs
        ));
    } else {
        observer.note(&format!(
            "induce: {} items ({} run now, {} from the store): {} passed, {} failed; reference score {:.3}; {:.1} s",
            r.items,
            r.items_run_now,
            r.items - r.items_run_now,
            r.items_kept,
            r.items_failed,
            r.reference_score,
            secs
        ));
    }
    for a in &r.agents {
        let mut line = format!("  {:<20} {:>5} examples", a.agent, a.examples);
        if a.rejected_by_judge > 0 {
            line.push_str(&format!(
                " ({} of {} calls rejected by the judge)",
                a.rejected_by_judge, a.calls_in_kept_traces
            ));
        }
        if a.examples < calls_per_setting {
            line.push_str(&format!(
                "; fewer than {calls_per_setting}: repeated with fresh samples up to {calls_per_setting} calls per setting"
            ));
        }
        observer.note(&line);
    }
}

/// The profiling's summary lines.
fn print_profile(observer: &dyn Observer, r: &ProfileReport, secs: f64) {
    let run: usize = r.agents.iter().map(|a| a.calls_run_now).sum();
    let reused: usize = r.agents.iter().map(|a| a.calls_reused).sum();
    let failed: usize = r.agents.iter().map(|a| a.calls_failed_now).sum();
    let saved: usize = r.agents.iter().map(|a| a.calls_saved).sum();
    observer.note(&format!(
        "profile: {run} calls run ({:.0}/s), {reused} reused from the store, {failed} failed{}; {:.1} s",
        run as f64 / secs.max(1e-9),
        if saved > 0 {
            format!(", {saved} saved by adaptive sampling")
        } else {
            String::new()
        },
        secs
    ));
    for a in &r.agents {
        let mut line = format!(
            "  {:<20} {} settings x {} calls: {} run, {} reused",
            a.agent, a.settings, a.calls_per_setting, a.calls_run_now, a.calls_reused
        );
        if a.settings_dropped > 0 {
            line.push_str(&format!(
                ", {} settings dropped early ({} calls saved)",
                a.settings_dropped, a.calls_saved
            ));
        }
        observer.note(&line);
    }
    for t in &r.throughput {
        observer.note(&format!(
            "  throughput {:<14} prefill {:>8.0} tok/s, decode {:>6.1} tok/s (fit on {} calls, R^2 {:.3})",
            t.model, t.prefill_tok_per_s, t.decode_tok_per_s, t.calls, t.r2
        ));
    }
    for n in &r.throughput_notes {
        observer.note(&format!("  throughput: no fit for {n}"));
    }
    if !r.unprofiled.is_empty() {
        observer.note(&format!(
            "  {} settings have no successful call (unprofiled, not accuracy 0)",
            r.unprofiled.len()
        ));
    }
}

/// Writes the profiles (CSV) to `path` and the throughput beside them.
pub fn export(path: &Path, rows: &[ProfileRow], throughput: &[ThroughputRow]) -> Result<()> {
    load::write_atomically(path, write_csv(rows).as_bytes())?;
    load::write_atomically(
        &throughput_path(path),
        write_throughput_csv(throughput).as_bytes(),
    )
}

/// `<dir>/<stem>.throughput.csv` beside a profiles file.
pub fn throughput_path(profiles: &Path) -> std::path::PathBuf {
    let stem = profiles
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "profiles".into());
    profiles.with_file_name(format!("{stem}.throughput.csv"))
}

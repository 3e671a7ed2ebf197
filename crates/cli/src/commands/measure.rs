//! `flowcompile induce`, `flowcompile profile`, and the measuring half of `compile --data`.

use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, Context};
use flowcompile_ir::{DesignSpace, SlotId, Workflow};
use flowcompile_pipeline::{
    keys, read_split, Adaptive, InduceOptions, InduceReport, Pipeline, PipelineError,
    ProfileOptions, ProfileReport, Progress,
};
use flowcompile_profile::{ProfileRow, ThroughputRow};
use flowcompile_runner::{Config, Runner};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use super::exec;
use crate::cli::{InduceArgs, MeasureArgs, ProfileArgs};
use crate::exit::Failure;

/// What the models behind zoo measurements are called everywhere they are reported.
pub const ZOO_LABEL: &str = "zoo (synthetic)";

/// A progress bar on stderr (hidden for `--json`).
struct Bar {
    bar: ProgressBar,
    hidden: bool,
}

impl Bar {
    fn new(hidden: bool) -> Bar {
        Bar {
            bar: ProgressBar::hidden(),
            hidden,
        }
    }
}

impl Progress for Bar {
    fn begin(&self, stage: &str, total: u64) {
        if self.hidden {
            return;
        }
        self.bar.set_draw_target(ProgressDrawTarget::stderr());
        self.bar.reset();
        self.bar.set_length(total);
        let unit = if stage == "induce" { "items" } else { "calls" };
        self.bar.set_style(
            ProgressStyle::with_template(&format!(
                "{stage:>8} {{pos}}/{{len}} {unit} [{{bar:30}}] {{elapsed}} eta {{eta}} {{per_sec}}"
            ))
            .expect("a valid template")
            .progress_chars("=> "),
        );
    }

    fn advance(&self, n: u64) {
        self.bar.inc(n);
    }

    fn end(&self) {
        self.bar.finish_and_clear();
    }
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

/// The reference configuration and its text: the chosen structure, every slot on `--reference`
/// or its agent's last model at its largest budget.
fn reference(
    args: &MeasureArgs,
    wf: &Workflow,
    space: &DesignSpace,
) -> Result<(Config, String, Vec<String>), Failure> {
    let structure = args
        .reference_structure
        .unwrap_or(space.largest_structure());
    let all = args
        .reference
        .as_deref()
        .map(|r| exec::parse_setting(r, "--reference"))
        .transpose()?;
    let mut settings = Vec::new();
    for (i, slot) in space.slots.iter().enumerate() {
        let agent = wf.agent(slot.agent);
        let setting = match &all {
            Some(s) => s.clone(),
            None => {
                let last_model = agent.settings.last().map(|s| s.model.clone());
                agent
                    .settings
                    .iter()
                    .filter(|s| Some(&s.model) == last_model.as_ref())
                    .max_by_key(|s| s.budget_tokens)
                    .cloned()
                    .ok_or_else(|| {
                        Failure::Input(anyhow!("agent '{}' has no settings", agent.name))
                    })?
            }
        };
        settings.push((SlotId(i as u32), setting));
    }
    let mut models: Vec<String> = settings.iter().map(|(_, s)| s.model.clone()).collect();
    models.sort();
    models.dedup();
    let config = Config::new(space, structure, settings)
        .map_err(|e| Failure::Input(anyhow!("reference configuration: {e}")))?;
    let text = format!("s{structure} {}", exec::config_text(&config, space));
    Ok((config, text, models))
}

/// Runs data induction and, unless `induce_only`, profiling, printing what they did to stderr.
pub fn measure(
    wf: &Workflow,
    args: &MeasureArgs,
    induce_only: bool,
    quiet: bool,
) -> Result<Measured, Failure> {
    let data = args
        .data
        .as_ref()
        .ok_or_else(|| Failure::Input(anyhow!("--data SPLIT is needed to measure the agents")))?;
    let data_text = super::read(data)?;
    let mut items = read_split(
        &data_text,
        &data.display().to_string(),
        &wf.task.answer,
        &wf.task.fields,
    )
    .map_err(|e| Failure::Input(e.into()))?;
    if let Some(limit) = args.limit {
        items.truncate(limit);
    }
    let used_text: String = items.iter().map(|i| format!("{i}\n")).collect();
    let data_name = data
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    ensure_parent(&args.store)?;
    let runtime = exec::runtime()?;
    runtime.block_on(async {
        let zoo = match args.zoo {
            true => Some(exec::embedded_zoo(Some((&data_name, &data_text)))?),
            false => None,
        };
        let (providers, _) = exec::providers(args.providers.as_deref(), args.zoo)?;
        let runner = Runner::new(wf, exec::client(providers.clone(), zoo)?)
            .map_err(|e| Failure::Input(e.into()))?;
        let (reference, reference_text, reference_models) = reference(args, wf, runner.space())?;
        for m in reference_models.iter().chain(args.judge.iter()).chain(
            wf.agents
                .iter()
                .flat_map(|a| a.settings.iter().map(|s| &s.model)),
        ) {
            if providers.get(m).is_none() {
                let known: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
                return Err(Failure::Input(anyhow!(
                    "model '{m}' has no endpoint in the providers; they list: {}",
                    known.join(", ")
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
        let bar = Bar::new(quiet);
        if !quiet {
            eprintln!(
                "induce: {} on {} ({} items) under the reference {reference_text}{}",
                wf.name,
                data.display(),
                items.len(),
                args.judge
                    .as_deref()
                    .map(|j| format!(", judged by {j}"))
                    .unwrap_or_default()
            );
        }
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
            .induce(&items, &key, &opts, &bar)
            .await
            .map_err(pipeline_failure)?;
        let induce_s = started.elapsed().as_secs_f64();
        if !quiet {
            print_induce(&induce, induce_s, args.calls_per_setting);
        }
        if induce_only {
            return Ok(Measured {
                induce,
                profile: None,
                models_label: args.zoo.then(|| ZOO_LABEL.to_string()),
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
            .profile(&key, &popts, &bar)
            .await
            .map_err(pipeline_failure)?;
        let profile_s = started.elapsed().as_secs_f64();
        if !quiet {
            print_profile(&profile, profile_s);
        }
        Ok(Measured {
            induce,
            profile: Some(profile),
            models_label: args.zoo.then(|| ZOO_LABEL.to_string()),
            induce_s,
            profile_s,
        })
    })
}

/// Maps pipeline errors to exit codes: bad data is invalid input, the rest a failure.
fn pipeline_failure(e: PipelineError) -> Failure {
    match e {
        PipelineError::BadData { .. }
        | PipelineError::Unlabelled { .. }
        | PipelineError::EmptyData { .. }
        | PipelineError::Run(_) => Failure::Input(e.into()),
        other => Failure::Other(other.into()),
    }
}

/// Creates the store's directory.
fn ensure_parent(path: &Path) -> Result<(), Failure> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the store directory {}", dir.display()))?;
    }
    Ok(())
}

fn print_induce(r: &InduceReport, secs: f64, calls_per_setting: usize) {
    eprintln!(
        "induce: {} items ({} run now, {} from the store): {} passed, {} failed; reference score {:.3}; {:.1} s",
        r.items,
        r.items_run_now,
        r.items - r.items_run_now,
        r.items_kept,
        r.items_failed,
        r.reference_score,
        secs
    );
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
        eprintln!("{line}");
    }
}

fn print_profile(r: &ProfileReport, secs: f64) {
    let run: usize = r.agents.iter().map(|a| a.calls_run_now).sum();
    let reused: usize = r.agents.iter().map(|a| a.calls_reused).sum();
    let failed: usize = r.agents.iter().map(|a| a.calls_failed_now).sum();
    let saved: usize = r.agents.iter().map(|a| a.calls_saved).sum();
    eprintln!(
        "profile: {run} calls run ({:.0}/s), {reused} reused from the store, {failed} failed{}; {:.1} s",
        run as f64 / secs.max(1e-9),
        if saved > 0 {
            format!(", {saved} saved by adaptive sampling")
        } else {
            String::new()
        },
        secs
    );
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
        eprintln!("{line}");
    }
    for t in &r.throughput {
        eprintln!(
            "  throughput {:<14} prefill {:>8.0} tok/s, decode {:>6.1} tok/s (fit on {} calls, R^2 {:.3})",
            t.model, t.prefill_tok_per_s, t.decode_tok_per_s, t.calls, t.r2
        );
    }
    for n in &r.throughput_notes {
        eprintln!("  throughput: no fit for {n}");
    }
    if !r.unprofiled.is_empty() {
        eprintln!(
            "  {} settings have no successful call (unprofiled, not accuracy 0)",
            r.unprofiled.len()
        );
    }
}

/// The profile rows as CSV, the `--profiles` format.
pub fn profiles_csv(rows: &[ProfileRow]) -> Result<Vec<u8>, Failure> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "agent",
        "model",
        "budget",
        "accuracy",
        "samples",
        "latency_s",
        "input_tokens",
        "output_tokens",
    ])
    .map_err(csv_failure)?;
    for r in rows {
        w.write_record([
            r.agent.clone(),
            r.model.clone(),
            r.budget_tokens.to_string(),
            r.accuracy.to_string(),
            r.samples.to_string(),
            r.latency_s.to_string(),
            r.input_tokens.to_string(),
            r.output_tokens.to_string(),
        ])
        .map_err(csv_failure)?;
    }
    w.into_inner()
        .map_err(|e| Failure::Other(anyhow!("cannot write csv: {e}")))
}

/// The throughput rows as CSV, the `--throughput` format.
pub fn throughput_csv(rows: &[ThroughputRow]) -> Result<Vec<u8>, Failure> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["model", "prefill_tok_per_s", "decode_tok_per_s"])
        .map_err(csv_failure)?;
    for r in rows {
        w.write_record([
            r.model.clone(),
            r.prefill_tok_per_s.to_string(),
            r.decode_tok_per_s.to_string(),
        ])
        .map_err(csv_failure)?;
    }
    w.into_inner()
        .map_err(|e| Failure::Other(anyhow!("cannot write csv: {e}")))
}

fn csv_failure(e: csv::Error) -> Failure {
    Failure::Other(anyhow!("cannot write csv: {e}"))
}

/// Writes the profiles (CSV) to `path` and the throughput beside them.
pub fn export(
    path: &Path,
    rows: &[ProfileRow],
    throughput: &[ThroughputRow],
) -> Result<(), Failure> {
    super::write_atomically(path, &profiles_csv(rows)?)?;
    super::write_atomically(&throughput_path(path), &throughput_csv(throughput)?)
}

/// `<dir>/<stem>.throughput.csv` beside a profiles file.
pub fn throughput_path(profiles: &Path) -> std::path::PathBuf {
    let stem = profiles
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "profiles".into());
    profiles.with_file_name(format!("{stem}.throughput.csv"))
}

/// `flowcompile induce`.
pub fn induce(args: InduceArgs) -> Result<(), Failure> {
    let (wf, _) = super::load_workflow(&args.workflow)?;
    let m = measure(&wf, &args.measure, true, args.json)?;
    if args.json {
        return super::print_json(&json!({
            "workflow": wf.name,
            "models_label": m.models_label,
            "induce": m.induce,
            "induce_s": m.induce_s,
        }));
    }
    println!(
        "induced {} examples for {} agents in {} (key {})",
        m.induce.agents.iter().map(|a| a.examples).sum::<usize>(),
        m.induce.agents.len(),
        args.measure.store.display(),
        m.induce.key
    );
    Ok(())
}

/// `flowcompile profile`.
pub fn profile(args: ProfileArgs) -> Result<(), Failure> {
    let (wf, _) = super::load_workflow(&args.workflow)?;
    let m = measure(&wf, &args.measure, false, args.json)?;
    let report = m.profile.as_ref().expect("profiling ran");
    let throughput: Vec<ThroughputRow> = report.throughput.iter().map(|t| t.row()).collect();
    if let Some(path) = &args.export {
        export(path, &report.rows, &throughput)?;
    }
    if args.json {
        return super::print_json(&json!({
            "workflow": wf.name,
            "models_label": m.models_label,
            "induce": m.induce,
            "profile": report,
            "induce_s": m.induce_s,
            "profile_s": m.profile_s,
        }));
    }
    println!(
        "profiled {} settings of {} agents ({} unprofiled)",
        report.rows.len(),
        report.agents.len(),
        report.unprofiled.len()
    );
    if let Some(path) = &args.export {
        println!(
            "wrote {} and {}",
            path.display(),
            throughput_path(path).display()
        );
    }
    Ok(())
}

//! The eval pass: (configuration, item) runs through the runner into the store, each under its
//! run key (`flowcompile_pipeline::keys::run_key`, the store's one key scheme), so that a rerun
//! skips every pair already finished. `eval`, `test` and `eval --preferences` share it.

use std::time::{SystemTime, UNIX_EPOCH};

use flowcompile_ir::{Config, DesignSpace};
use flowcompile_runner::{RunResult, Runner};
use flowcompile_store::{EvalRow, Store};
use futures::StreamExt;
use serde_json::{json, Value};

use crate::config::run_config_text;
use crate::load::WorkflowFile;
use crate::models::Models;
use crate::{Error, Observer, Result};

/// The run key of `config` on the split `data_name` with `models`.
pub fn run_key(
    wf: &WorkflowFile,
    config: &Config,
    space: &DesignSpace,
    data_name: &str,
    models: &Models,
) -> String {
    flowcompile_pipeline::keys::run_key(
        &wf.text,
        &run_config_text(config, space),
        data_name,
        &models.key,
    )
}

/// One (configuration, item) run to make.
pub struct Job<'a> {
    /// Its run key.
    pub run_key: &'a str,
    /// The configuration.
    pub config: &'a Config,
    /// The item.
    pub item: &'a Value,
}

/// Which of `jobs` have no stored result yet.
pub fn pending<'a>(store: &Store, jobs: Vec<Job<'a>>) -> Result<Vec<Job<'a>>> {
    let mut done: std::collections::HashMap<&str, std::collections::HashSet<String>> =
        Default::default();
    let mut out = Vec::new();
    for job in jobs {
        if !done.contains_key(job.run_key) {
            let ids = store
                .eval_done(job.run_key)
                .map_err(|e| Error::Other(e.into()))?;
            done.insert(job.run_key, ids);
        }
        if !done[job.run_key].contains(&flowcompile_runner::item_id(job.item)) {
            out.push(job);
        }
    }
    Ok(out)
}

/// Runs `jobs`, at most `concurrency` at once, recording each result in the store as it finishes
/// (one transaction per item, so an interrupted run keeps what finished), as the progress of
/// `stage`, calling `on_result` with each result; failed runs are counted in the status.
pub async fn run_jobs(
    runner: &Runner,
    store: &Store,
    jobs: &[Job<'_>],
    concurrency: usize,
    stage: &str,
    observer: &dyn Observer,
    mut on_result: impl FnMut(&RunResult),
) -> Result<()> {
    observer.begin(stage, jobs.len() as u64);
    let mut n_failed = 0usize;
    let mut stream = futures::stream::iter(
        jobs.iter()
            .map(|job| async move { (job, runner.run(job.config, job.item).await) }),
    )
    .buffer_unordered(concurrency.max(1));
    while let Some((job, result)) = stream.next().await {
        store
            .record_eval(&row(job.run_key, &result))
            .map_err(|e| Error::Other(e.into()))?;
        if result.answer.is_err() {
            n_failed += 1;
            observer.status(&format!("{n_failed} failed"));
        }
        on_result(&result);
        observer.advance(1);
    }
    observer.end();
    Ok(())
}

/// The stored form of a run.
fn row(run_key: &str, result: &RunResult) -> EvalRow {
    let (answer, error) = match &result.answer {
        Ok(a) => (a.clone(), None),
        Err(e) => (String::new(), Some(e.to_string())),
    };
    let score = result.score.as_ref();
    EvalRow {
        run_key: run_key.to_string(),
        item_id: result.item_id.clone(),
        answer,
        score: score.map_or(0.0, |s| s.value),
        correct: score.is_some_and(|s| s.correct),
        latency_s: result.latency_s,
        modelled_latency_s: result.modelled_latency_s,
        prompt_tokens: result.calls.iter().map(|c| c.prompt_tokens).sum(),
        completion_tokens: result.calls.iter().map(|c| c.completion_tokens).sum(),
        cost_usd: result.calls.iter().map(|c| c.cost_usd).sum(),
        error,
        trace_json: serde_json::to_string(&json!({"calls": result.calls, "tools": result.tools}))
            .unwrap_or_default(),
        created_at_unix_s: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
    }
}

/// The stored rows of `run_key` for `items`, in the items' order (an item not stored is missing).
pub fn rows_for(store: &Store, run_key: &str, items: &[Value]) -> Result<Vec<EvalRow>> {
    let mut by_id: std::collections::HashMap<String, EvalRow> = store
        .eval_rows(run_key)
        .map_err(|e| Error::Other(e.into()))?
        .into_iter()
        .map(|r| (r.item_id.clone(), r))
        .collect();
    Ok(items
        .iter()
        .filter_map(|item| by_id.remove(&flowcompile_runner::item_id(item)))
        .collect())
}

/// What `eval` runs: one configuration over a split.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// The workflow file.
    pub workflow: std::path::PathBuf,
    /// The configuration.
    pub choice: crate::config::ConfigChoice,
    /// The split (JSONL, labelled).
    pub data: std::path::PathBuf,
    /// Use only the split's first items.
    pub limit: Option<usize>,
    /// Where the models are.
    pub models: crate::models::ModelSource,
    /// Runs in flight at once.
    pub concurrency: usize,
    /// The store of runs.
    pub store: std::path::PathBuf,
}

/// What an eval measured.
pub struct Evaluated {
    /// The workflow's name.
    pub workflow: String,
    /// The configuration, described.
    pub config: String,
    /// Its stored rows, in item order.
    pub rows: Vec<EvalRow>,
    /// Lines of the split that were not items.
    pub n_bad: usize,
}

/// The eval pass: one configuration over a split, resumable through the store; a failed item is
/// a warning (no wrong answer) and left in the rows with its error.
pub fn eval(args: &EvalOptions, observer: &dyn Observer) -> Result<Evaluated> {
    let wf_file = crate::load::workflow(&args.workflow)?;
    let wf = &wf_file.workflow;
    let data = crate::load::dataset(&args.data, &wf.task.answer, args.limit, observer)?;
    let store = crate::load::store(&args.store)?;
    let runtime = crate::models::runtime()?;
    runtime.block_on(async {
        let models = Models::open(&args.models, Some((&data.name, &data.zoo_tasks)))?;
        let runner =
            Runner::new(wf.clone(), models.client()?).map_err(|e| Error::Input(e.into()))?;
        let (config, what) = crate::config::choose(&args.choice, wf, runner.space())?;
        let run_key = run_key(&wf_file, &config, runner.space(), &data.name, &models);
        let jobs = data
            .items
            .iter()
            .map(|item| Job {
                run_key: &run_key,
                config: &config,
                item,
            })
            .collect();
        let pending = pending(&store, jobs)?;
        observer.note(&format!(
            "{} on {} ({} items, {} already in {}) under {what}",
            wf.name,
            args.data.display(),
            data.items.len(),
            data.items.len() - pending.len(),
            args.store.display()
        ));
        let (mut n_correct_now, mut n_now) = (0usize, 0usize);
        run_jobs(
            &runner,
            &store,
            &pending,
            args.concurrency,
            "eval",
            observer,
            |result| {
                n_now += 1;
                // A failed item (server down, prompt past the model's context...) is no wrong answer: say which.
                if let Err(e) = &result.answer {
                    observer.warn(&format!("warning: item {}: failed: {e}", result.item_id));
                }
                n_correct_now += usize::from(result.score.as_ref().is_some_and(|s| s.correct));
                observer.status(&format!(
                    "accuracy so far {:.3}",
                    n_correct_now as f64 / n_now as f64
                ));
            },
        )
        .await?;
        Ok(Evaluated {
            workflow: wf.name.clone(),
            config: what,
            rows: rows_for(&store, &run_key, &data.items)?,
            n_bad: data.n_bad,
        })
    })
}

/// The one input of `run`.
#[derive(Clone, Debug)]
pub enum Input {
    /// A JSON object with the task's fields.
    Json(String),
    /// Line `line` (1-based) of a JSONL split.
    Line {
        /// The split.
        path: std::path::PathBuf,
        /// The line number.
        line: usize,
    },
}

/// What a single run produced.
pub struct RanOne {
    /// The workflow's name.
    pub workflow: String,
    /// The configuration, described.
    pub config: String,
    /// The run, with its trace.
    pub result: RunResult,
}

/// Runs one configuration on one input (not stored: a look at one trace).
pub fn run_one(
    workflow: &std::path::Path,
    choice: &crate::config::ConfigChoice,
    input: &Input,
    models: &crate::models::ModelSource,
) -> Result<RanOne> {
    use anyhow::anyhow;
    let wf = crate::load::workflow(workflow)?.workflow;
    let (item, data) = match input {
        Input::Json(text) => {
            let item: Value = serde_json::from_str(text)
                .map_err(|e| Error::Input(anyhow!("--input is not JSON: {e}")))?;
            (item, None)
        }
        Input::Line { path, line } => {
            let line = *line;
            let text = crate::load::read(path)?;
            let raw = text
                .lines()
                .nth(line.saturating_sub(1))
                .filter(|_| line > 0)
                .ok_or_else(|| Error::Input(anyhow!("{} has no line {line}", path.display())))?;
            let item: Value = serde_json::from_str(raw).map_err(|e| {
                Error::Input(anyhow!("{}:{line}: not a JSON object: {e}", path.display()))
            })?;
            (item, Some((crate::load::file_name(path), text)))
        }
    };
    if !item.is_object() {
        return Err(Error::Input(anyhow!(
            "the input must be a JSON object with the task's fields ({})",
            wf.task.fields.join(", ")
        )));
    }
    let tasks = match &data {
        Some((name, text)) => (name.clone(), text.clone()),
        None => ("input.jsonl".to_string(), format!("{item}\n")),
    };
    let runtime = crate::models::runtime()?;
    runtime.block_on(async {
        let models = Models::open(models, Some((tasks.0.as_str(), tasks.1.as_str())))?;
        let space = wf
            .design_space()
            .map_err(|e| Error::Input(anyhow!("{e}")))?;
        let (config, what) = crate::config::choose(choice, &wf, &space)?;
        models.check_config(&config, &space)?;
        let runner =
            Runner::new(wf.clone(), models.client()?).map_err(|e| Error::Input(e.into()))?;
        let result = runner.run(&config, &item).await;
        Ok(RanOne {
            workflow: wf.name.clone(),
            config: what,
            result,
        })
    })
}

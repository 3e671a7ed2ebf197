//! What `eval` and `test` share: dataset items, the run key that names stored results, and running
//! (configuration, item) pairs through the runner into the store under one progress bar, so that a
//! rerun skips every pair already finished.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context};
use flowcompile_artifact::sha256_hex;
use flowcompile_runner::{Config, RunResult, Runner};
use flowcompile_store::{EvalRow, Store};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};

use crate::exit::Failure;

/// A dataset split's items, read and checked.
pub struct Dataset {
    /// The items to run (after `--limit`), in file order.
    pub items: Vec<Value>,
    /// Every good line, as JSONL: what an embedded zoo learns the tasks from.
    pub zoo_tasks: String,
    /// The file name, part of the run key (so moving the file keeps its results).
    pub name: String,
    /// Lines skipped because they are not items.
    pub n_bad: usize,
}

/// Reads a JSONL split: objects with the gold answer field. A bad line is reported on stderr and
/// counted, and the rest still runs; a split with no item at all is an input error.
pub fn load_dataset(
    path: &Path,
    answer_field: &str,
    limit: Option<usize>,
) -> Result<Dataset, Failure> {
    let text = super::read(path)?;
    let mut items = Vec::new();
    let mut n_bad = 0;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let why = match serde_json::from_str::<Value>(line) {
            Ok(v) if v.get(answer_field).is_some() => {
                items.push(v);
                continue;
            }
            Ok(v) if v.is_object() => format!("no '{answer_field}' field (the gold answer)"),
            Ok(_) => "not a JSON object".into(),
            Err(e) => format!("not JSON: {e}"),
        };
        n_bad += 1;
        eprintln!("warning: {}:{}: skipped: {why}", path.display(), i + 1);
    }
    let zoo_tasks: String = items.iter().map(|item| format!("{item}\n")).collect();
    if let Some(limit) = limit {
        items.truncate(limit);
    }
    if items.is_empty() {
        return Err(Failure::Input(anyhow!(
            "{}: no item to run ({n_bad} bad lines; each line must be a JSON object with the '{answer_field}' field)",
            path.display()
        )));
    }
    Ok(Dataset {
        items,
        zoo_tasks,
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        n_bad,
    })
}

/// Opens the store, creating its directory.
pub fn open_store(path: &Path) -> Result<Store, Failure> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    Store::open(path).map_err(|e| Failure::Other(e.into()))
}

/// The key stored results of one configuration live under: a digest of what they depend on (the
/// workflow text, the configuration, the split's name and the providers; an embedded zoo counts as
/// `embedded zoo`, whatever its port). `eval` and `test` share it, so each reuses the other's runs.
pub fn run_key(spec_text: &str, config_text: &str, data_name: &str, providers_key: &str) -> String {
    sha256_hex(
        format!("{spec_text}\u{0}{config_text}\u{0}{data_name}\u{0}{providers_key}").as_bytes(),
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

/// A progress bar on stderr over `len` runs (hidden when `hidden`, for JSON output).
pub fn progress_bar(len: usize, hidden: bool, unit: &str) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {{pos}}/{{len}} {unit} [{{bar:30}}] {{elapsed}} eta {{eta}} {{msg}}"
        ))
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar
}

/// Which of `jobs` have no stored result yet.
pub fn pending<'a>(store: &Store, jobs: Vec<Job<'a>>) -> Result<Vec<Job<'a>>, Failure> {
    let mut done: std::collections::HashMap<&str, std::collections::HashSet<String>> =
        Default::default();
    let mut out = Vec::new();
    for job in jobs {
        if !done.contains_key(job.run_key) {
            let ids = store
                .eval_done(job.run_key)
                .map_err(|e| Failure::Other(e.into()))?;
            done.insert(job.run_key, ids);
        }
        if !done[job.run_key].contains(&flowcompile_runner::item_id(job.item)) {
            out.push(job);
        }
    }
    Ok(out)
}

/// Runs `jobs`, at most `concurrency` at once, recording each result in the store as it finishes
/// (one transaction per item, so an interrupted run keeps what finished), advancing `bar` and
/// calling `on_result` with the result.
pub async fn run_jobs(
    runner: &Runner<'_>,
    store: &Store,
    jobs: &[Job<'_>],
    concurrency: usize,
    bar: &ProgressBar,
    mut on_result: impl FnMut(&RunResult),
) -> Result<(), Failure> {
    let mut stream = futures::stream::iter(
        jobs.iter()
            .map(|job| async move { (job, runner.run(job.config, job.item).await) }),
    )
    .buffer_unordered(concurrency.max(1));
    while let Some((job, result)) = stream.next().await {
        store
            .record_eval(&row(job.run_key, &result))
            .map_err(|e| Failure::Other(e.into()))?;
        on_result(&result);
        bar.inc(1);
    }
    bar.finish_and_clear();
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
pub fn rows_for(store: &Store, run_key: &str, items: &[Value]) -> Result<Vec<EvalRow>, Failure> {
    let mut by_id: std::collections::HashMap<String, EvalRow> = store
        .eval_rows(run_key)
        .map_err(|e| Failure::Other(e.into()))?
        .into_iter()
        .map(|r| (r.item_id.clone(), r))
        .collect();
    Ok(items
        .iter()
        .filter_map(|item| by_id.remove(&flowcompile_runner::item_id(item)))
        .collect())
}

//! The validate pass (`flowcompile test`): held-out validation of an artifact's frontier points.
//!
//! Each chosen point runs end to end on every item of the split through the runner (resumable
//! through the store, under the same run keys as `eval`); the measured accuracy and latency are set
//! against the artifact's predictions with the statistics of flowcompile-validate, and where the
//! artifact has intervals, their coverage ([`flowcompile_validate::Coverage`]: the artifact's 90%
//! population interval widened by this split's own sampling noise).
//!
//! Measured latency matches the artifact's proxy. With parallel execution it is the critical path
//! the runner measures (the slowest parallel branch counts); with sequential execution (a batch-1
//! device running branches one after another) it is the sum over every call and tool of the item,
//! since a sequential run would take each call's time in turn. The runner always runs branches
//! concurrently, so for sequential artifacts the sum is of calls measured concurrently: exact for
//! modelled latencies (the zoo's do not depend on load), an approximation for wall seconds.

use std::path::PathBuf;

use anyhow::anyhow;
use flowcompile_artifact::{sha256_hex, Artifact, Point};
use flowcompile_ir::{Config, Workflow};
use flowcompile_runner::Runner;
use flowcompile_store::EvalRow;
use flowcompile_validate::{
    spread, ExecutionModel, Fidelity, ItemOutcome, LatencySource, Measured, Metrics,
    PointValidation, Runs, Validation, ValidationFormat,
};
use serde::Deserialize;

use crate::models::{ModelSource, Models, ZOO_LABEL};
use crate::{load, runs, Error, Observer, Result};

/// What to validate, on what, with which models.
#[derive(Clone, Debug)]
pub struct TestOptions {
    /// The workflow file.
    pub workflow: PathBuf,
    /// The artifact whose points run.
    pub artifact: PathBuf,
    /// The held-out split.
    pub data: PathBuf,
    /// Where the models are.
    pub models: ModelSource,
    /// Points by id; empty means `max_points` spread along the frontier, or all.
    pub points: Vec<String>,
    /// At most this many points, spread along the frontier.
    pub max_points: Option<u64>,
    /// Use only the split's first items.
    pub limit: Option<usize>,
    /// Runs in flight at once.
    pub concurrency: usize,
    /// The store of runs.
    pub store: PathBuf,
}

/// What a validation produced: the document and each chosen point's stored rows.
pub struct Tested {
    /// The artifact the points came from.
    pub artifact: Artifact,
    /// The `flowcompile.validation.v1` document.
    pub doc: Validation,
    /// Each chosen point's stored rows, in item order.
    pub rows: Vec<Vec<EvalRow>>,
}

/// Runs each chosen point on every item of the split (resumable through the store, under the
/// same run keys as `eval`) and sets what it measured against the artifact's predictions.
pub fn test(args: &TestOptions, observer: &dyn Observer) -> Result<Tested> {
    let wf_file = load::workflow(&args.workflow)?;
    let wf = &wf_file.workflow;
    let artifact_text = load::read(&args.artifact)?;
    let artifact = load::artifact_text(&artifact_text, &args.artifact)?;
    load::check_artifact_workflow(&artifact, &args.artifact, &wf_file)?;
    if let Some(digest) = &artifact.provenance.spec_sha256 {
        if *digest != sha256_hex(wf_file.text.as_bytes()) {
            observer.warn(&format!(
                "warning: {} changed since {} was compiled; its predictions may be stale",
                args.workflow.display(),
                args.artifact.display()
            ));
        }
    }
    if let Some(note) = load::predates_intervals(&artifact, &args.artifact) {
        observer.note(&note);
    }
    let chosen = choose_points(args, &artifact)?;
    let data = load::dataset(&args.data, &wf.task.answer, args.limit, observer)?;
    let store = load::store(&args.store)?;
    let runtime = crate::models::runtime()?;
    let measured = runtime.block_on(async {
        let models = Models::open(&args.models, Some((&data.name, &data.zoo_tasks)))?;
        let space = wf
            .design_space()
            .map_err(|e| Error::Input(anyhow!("{}: {e}", args.workflow.display())))?;
        let mut configs: Vec<Config> = Vec::with_capacity(chosen.len());
        for point in &chosen {
            let config = point.config(&space).map_err(|e| {
                Error::Input(anyhow!("{} {}: {e}", args.artifact.display(), point.id))
            })?;
            models.check_config(&config, &space)?;
            configs.push(config);
        }
        let run_keys: Vec<String> = configs
            .iter()
            .map(|c| runs::run_key(&wf_file, c, &space, &data.name, &models))
            .collect();
        let runner =
            Runner::new(wf.clone(), models.client()?).map_err(|e| Error::Input(e.into()))?;
        let jobs = configs
            .iter()
            .zip(&run_keys)
            .flat_map(|(config, run_key)| {
                data.items.iter().map(move |item| runs::Job {
                    run_key,
                    config,
                    item,
                })
            })
            .collect();
        let pending = runs::pending(&store, jobs)?;
        let total = chosen.len() * data.items.len();
        observer.note(&format!(
            "testing {} points of {} on {} items of {} ({} of {total} runs already in {})",
            chosen.len(),
            args.artifact.display(),
            data.items.len(),
            args.data.display(),
            total - pending.len(),
            args.store.display()
        ));
        runs::run_jobs(
            &runner,
            &store,
            &pending,
            args.concurrency,
            "test",
            observer,
            |_| {},
        )
        .await?;
        let rows = run_keys
            .iter()
            .map(|key| runs::rows_for(&store, key, &data.items))
            .collect::<Result<Vec<_>>>()?;
        Ok::<_, Error>((rows, pending.len()))
    })?;
    let (rows, n_new) = measured;
    let runs = Measurements {
        rows: &rows,
        n_items: data.items.len(),
        n_new,
    };
    let doc = validation(
        args,
        wf,
        &artifact,
        artifact_text.as_bytes(),
        &chosen,
        &runs,
    )?;
    for (point, point_rows) in doc.points.iter().zip(&rows) {
        if point.measured.n_failed > 0 {
            let first = point_rows
                .iter()
                .find_map(|r| r.error.as_deref())
                .unwrap_or("unknown error");
            observer.warn(&format!(
                "warning: {}: {} of {} runs failed and are left out of accuracy and latency; first error: {first}",
                point.id, point.measured.n_failed, point.measured.n
            ));
        }
    }
    Ok(Tested {
        artifact,
        doc,
        rows,
    })
}

/// The points `--points`, `--max-points` or (by default) `--all-points` choose, in artifact order.
fn choose_points<'a>(args: &TestOptions, artifact: &'a Artifact) -> Result<Vec<&'a Point>> {
    if !args.points.is_empty() {
        let mut chosen: Vec<&Point> = Vec::new();
        for id in &args.points {
            let point = artifact
                .points
                .iter()
                .find(|p| &p.id == id)
                .ok_or_else(|| {
                    Error::Input(anyhow!(
                        "{} has no point '{id}' (it has p0..p{})",
                        args.artifact.display(),
                        artifact.points.len().saturating_sub(1)
                    ))
                })?;
            if !chosen.iter().any(|p| p.id == point.id) {
                chosen.push(point);
            }
        }
        chosen.sort_by_key(|p| artifact.points.iter().position(|q| q.id == p.id));
        return Ok(chosen);
    }
    let k = args
        .max_points
        .map_or(artifact.points.len(), |k| k as usize);
    Ok(spread(artifact.points.len(), k)
        .into_iter()
        .map(|i| &artifact.points[i])
        .collect())
}

/// The part of a stored trace the latency composition reads.
#[derive(Deserialize)]
pub struct Trace {
    /// The model calls it made.
    pub calls: Vec<TraceCall>,
    /// The tools it ran.
    pub tools: Vec<TraceTool>,
}

/// One call of a stored trace: its wall and modelled seconds.
#[derive(Deserialize)]
pub struct TraceCall {
    latency_s: f64,
    /// The server's modelled seconds, when it reported them.
    pub modelled_latency_s: Option<f64>,
}

/// One tool run of a stored trace.
#[derive(Deserialize)]
pub struct TraceTool {
    tool: String,
    latency_s: f64,
}

/// Reads the trace stored with a run.
pub fn trace(row: &EvalRow) -> Result<Trace> {
    serde_json::from_str(&row.trace_json).map_err(|e| {
        Error::Other(anyhow!(
            "the stored trace of item '{}' is unreadable: {e}",
            row.item_id
        ))
    })
}

/// One item's measured latency under `execution` from `source`.
pub fn item_latency(
    row: &EvalRow,
    trace: &Trace,
    wf: &Workflow,
    source: LatencySource,
    execution: ExecutionModel,
) -> f64 {
    match (execution, source) {
        (ExecutionModel::Parallel, LatencySource::Modelled) => row.modelled_latency_s,
        (ExecutionModel::Parallel, LatencySource::Wall) => row.latency_s,
        (ExecutionModel::Sequential, _) => {
            let calls: f64 = trace
                .calls
                .iter()
                .map(|c| match source {
                    LatencySource::Modelled => c.modelled_latency_s.unwrap_or(c.latency_s),
                    LatencySource::Wall => c.latency_s,
                })
                .sum();
            // Tools count as the proxy counts them: their declared latency when modelled.
            let tools: f64 = trace
                .tools
                .iter()
                .map(|t| match source {
                    LatencySource::Modelled => wf
                        .tools
                        .iter()
                        .find(|d| d.name == t.tool)
                        .map_or(t.latency_s, |d| d.latency_s),
                    LatencySource::Wall => t.latency_s,
                })
                .sum();
            calls + tools
        }
    }
}

/// What running the chosen points gave.
struct Measurements<'a> {
    /// Each chosen point's stored rows, in item order.
    rows: &'a [Vec<EvalRow>],
    /// Items each point ran on.
    n_items: usize,
    /// Runs made by this invocation (the rest came from the store).
    n_new: usize,
}

/// Builds the validation document from each point's stored rows.
fn validation(
    args: &TestOptions,
    wf: &Workflow,
    artifact: &Artifact,
    artifact_bytes: &[u8],
    chosen: &[&Point],
    runs: &Measurements,
) -> Result<Validation> {
    let rows = runs.rows;
    let traces: Vec<Vec<Trace>> = rows
        .iter()
        .map(|r| r.iter().map(trace).collect::<Result<Vec<_>>>())
        .collect::<Result<_, _>>()?;
    // Modelled only when there is a successful run and every call of every successful run
    // reported the server's latency.
    let mut successful = rows
        .iter()
        .flatten()
        .zip(traces.iter().flatten())
        .filter(|(row, _)| row.error.is_none())
        .peekable();
    let any_successful = successful.peek().is_some();
    let all_modelled =
        successful.all(|(_, t)| t.calls.iter().all(|c| c.modelled_latency_s.is_some()));
    let source = match any_successful && all_modelled {
        true => LatencySource::Modelled,
        false => LatencySource::Wall,
    };
    let execution = artifact.proxy.execution;
    let points: Vec<PointValidation> = chosen
        .iter()
        .zip(rows.iter().zip(&traces))
        .map(|(point, (point_rows, point_traces))| {
            let items: Vec<ItemOutcome> = point_rows
                .iter()
                .zip(point_traces)
                .map(|(row, t)| ItemOutcome {
                    correct: row.error.is_none().then_some(row.correct),
                    latency_s: item_latency(row, t, wf, source, execution),
                    tokens: row.prompt_tokens + row.completion_tokens,
                    cost_usd: row.cost_usd,
                })
                .collect();
            PointValidation {
                id: point.id.clone(),
                structure: point.structure.index,
                predicted: Metrics {
                    accuracy: point.predicted.accuracy,
                    latency_s: point.predicted.latency_s,
                    accuracy_interval: point.predicted.accuracy_interval,
                    latency_interval_s: point.predicted.latency_interval_s,
                },
                measured: Measured::from_items(&items),
            }
        })
        .collect();
    let n_rows: usize = rows.iter().map(Vec::len).sum();
    let failed = rows.iter().flatten().filter(|r| r.error.is_some()).count();
    Ok(Validation {
        format: ValidationFormat::V1,
        workflow: wf.name.clone(),
        artifact_sha256: sha256_hex(artifact_bytes),
        data: args
            .data
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        n_items: runs.n_items,
        // The zoo is the only server that reports modelled latencies (`x-zoo-latency-s`).
        models_label: (args.models.zoo || source == LatencySource::Modelled)
            .then(|| ZOO_LABEL.to_string()),
        latency_source: source,
        execution,
        fidelity: Fidelity::compute(&points),
        points,
        runs: Runs {
            total: n_rows,
            reused: n_rows.saturating_sub(runs.n_new),
            new: runs.n_new,
            failed,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowcompile_runner::{CallRecord, ToolRecord};

    use crate::testing::math;

    fn call(site: usize, latency_s: f64, modelled_latency_s: Option<f64>) -> CallRecord {
        CallRecord {
            site,
            sample: 0,
            seed: 0,
            agent: "generate_solver".into(),
            slot: "generate_solver".into(),
            model: "qwen3-4b".into(),
            budget_tokens: 10,
            prompt_hash: String::new(),
            prompt_chars: 0,
            output: String::new(),
            parsed: String::new(),
            parse_ok: true,
            prompt_tokens: 0,
            completion_tokens: 0,
            latency_s,
            modelled_latency_s,
            cost_usd: None,
            error: None,
            inputs: serde_json::Map::new(),
        }
    }

    fn tool(site: usize, name: &str, latency_s: f64) -> ToolRecord {
        ToolRecord {
            site,
            sample: 0,
            tool: name.into(),
            kind: "run_python",
            output: String::new(),
            ok: true,
            latency_s,
        }
    }

    /// A stored row as `batch` writes it: the trace is the runner's records serialised.
    fn row(calls: &[CallRecord], tools: &[ToolRecord]) -> EvalRow {
        EvalRow {
            run_key: "k".into(),
            item_id: "i".into(),
            answer: "1".into(),
            score: 1.0,
            correct: true,
            latency_s: 0.9,
            modelled_latency_s: 3.05,
            prompt_tokens: 0,
            completion_tokens: 0,
            cost_usd: None,
            error: None,
            trace_json: serde_json::json!({"calls": calls, "tools": tools}).to_string(),
            created_at_unix_s: 0,
        }
    }

    #[test]
    fn latency_composes_as_the_artifact_predicts() {
        let wf = math();
        // Two parallel calls (modelled 1 s and 3 s) then the program tool (declared 0.05 s).
        let r = row(
            &[call(0, 0.2, Some(1.0)), call(1, 0.4, Some(3.0))],
            &[tool(2, "run_program", 0.3)],
        );
        let t = trace(&r).unwrap();
        let at = |s, e| item_latency(&r, &t, &wf, s, e);
        // Parallel: what the runner measured along the critical path.
        assert_eq!(at(LatencySource::Modelled, ExecutionModel::Parallel), 3.05);
        assert_eq!(at(LatencySource::Wall, ExecutionModel::Parallel), 0.9);
        // Sequential: every call and tool, tools at their declared latency when modelled.
        assert!((at(LatencySource::Modelled, ExecutionModel::Sequential) - 4.05).abs() < 1e-12);
        assert!((at(LatencySource::Wall, ExecutionModel::Sequential) - 0.9).abs() < 1e-12);
    }

    #[test]
    fn a_call_without_a_modelled_latency_counts_its_wall_time() {
        let wf = math();
        let r = row(&[call(0, 0.5, None), call(1, 0.4, Some(2.0))], &[]);
        let t = trace(&r).unwrap();
        let seq = item_latency(
            &r,
            &t,
            &wf,
            LatencySource::Modelled,
            ExecutionModel::Sequential,
        );
        assert!((seq - 2.5).abs() < 1e-12);
    }

    #[test]
    fn an_unreadable_trace_is_an_error_naming_the_item() {
        let mut r = row(&[], &[]);
        r.trace_json = "{".into();
        let Err(Error::Other(e)) = trace(&r) else {
            panic!("expected an error")
        };
        assert!(e.to_string().contains("item 'i'"), "{e}");
    }
}

//! `flowcompile test`: held-out validation of an artifact's frontier points.
//!
//! Each chosen point runs end to end on every item of the split through the runner (resumable
//! through the store, under the same run keys as `eval`); the measured accuracy and latency are set
//! against the artifact's predictions with the statistics of flowcompile-validate.
//!
//! Measured latency matches the artifact's proxy. With parallel execution it is the critical path
//! the runner measures (the slowest parallel branch counts); with sequential execution (a batch-1
//! device running branches one after another) it is the sum over every call and tool of the item,
//! since a sequential run would take each call's time in turn. The runner always runs branches
//! concurrently, so for sequential artifacts the sum is of calls measured concurrently: exact for
//! modelled latencies (the zoo's do not depend on load), an approximation for wall seconds.

use anyhow::anyhow;
use flowcompile_artifact::{sha256_hex, Artifact, Point};
use flowcompile_ir::Workflow;
use flowcompile_runner::{Config, Runner};
use flowcompile_store::EvalRow;
use flowcompile_validate::{
    spread, ExecutionModel, Fidelity, ItemOutcome, LatencySource, Measured, MetricFidelity,
    Metrics, PointValidation, Runs, Validation, ValidationFormat,
};
use serde::Deserialize;

use super::{batch, exec};
use crate::cli::TestArgs;
use crate::exit::Failure;

/// The label of measurements made on the zoo's synthetic models.
const ZOO_LABEL: &str = "zoo (synthetic)";

pub fn run(args: TestArgs) -> Result<(), Failure> {
    let (wf, spec_text) = super::load_workflow(&args.workflow)?;
    let artifact_text = super::read(&args.artifact)?;
    let artifact =
        flowcompile_artifact::parse_any(&artifact_text, &args.artifact.display().to_string())
            .map_err(|e| Failure::Input(e.into()))?;
    if artifact.workflow != wf.name {
        return Err(Failure::Input(anyhow!(
            "{} was compiled for workflow '{}', not '{}' ({})",
            args.artifact.display(),
            artifact.workflow,
            wf.name,
            args.workflow.display()
        )));
    }
    if let Some(digest) = &artifact.provenance.spec_sha256 {
        if *digest != sha256_hex(spec_text.as_bytes()) {
            eprintln!(
                "warning: {} changed since {} was compiled; its predictions may be stale",
                args.workflow.display(),
                args.artifact.display()
            );
        }
    }
    let chosen = choose_points(&args, &artifact)?;
    let data = batch::load_dataset(&args.data, &wf.task.answer, args.limit)?;
    let store = batch::open_store(&args.store)?;
    let runtime = exec::runtime()?;
    let measured = runtime.block_on(async {
        let zoo = match args.zoo {
            true => Some(exec::embedded_zoo(Some((&data.name, &data.zoo_tasks)))?),
            false => None,
        };
        let (providers, providers_text) = exec::providers(args.providers.as_deref(), args.zoo)?;
        let space = wf
            .design_space()
            .map_err(|e| Failure::Input(anyhow!("{}: {e}", args.workflow.display())))?;
        let mut configs: Vec<Config> = Vec::with_capacity(chosen.len());
        for point in &chosen {
            let config = point.config(&space).map_err(|e| {
                Failure::Input(anyhow!("{} {}: {e}", args.artifact.display(), point.id))
            })?;
            exec::check_models(&config, &space, &providers, args.providers.as_deref())?;
            configs.push(config);
        }
        let providers_key = exec::providers_key(args.zoo, providers_text);
        let run_keys: Vec<String> = configs
            .iter()
            .map(|c| {
                batch::run_key(
                    &spec_text,
                    &exec::run_config_text(c, &space),
                    &data.name,
                    &providers_key,
                )
            })
            .collect();
        let runner = Runner::new(&wf, exec::client(providers, zoo)?)
            .map_err(|e| Failure::Input(e.into()))?;
        let jobs = configs
            .iter()
            .zip(&run_keys)
            .flat_map(|(config, run_key)| {
                data.items.iter().map(move |item| batch::Job {
                    run_key,
                    config,
                    item,
                })
            })
            .collect();
        let pending = batch::pending(&store, jobs)?;
        let total = chosen.len() * data.items.len();
        if !args.json {
            eprintln!(
                "testing {} points of {} on {} items of {} ({} of {total} runs already in {})",
                chosen.len(),
                args.artifact.display(),
                data.items.len(),
                args.data.display(),
                total - pending.len(),
                args.store.display()
            );
        }
        let bar = batch::progress_bar(pending.len(), args.json, "runs");
        let mut n_failed_now = 0usize;
        batch::run_jobs(
            &runner,
            &store,
            &pending,
            args.concurrency,
            &bar,
            |result| {
                if result.answer.is_err() {
                    n_failed_now += 1;
                    bar.set_message(format!("{n_failed_now} failed"));
                }
            },
        )
        .await?;
        let rows = run_keys
            .iter()
            .map(|key| batch::rows_for(&store, key, &data.items))
            .collect::<Result<Vec<_>, _>>()?;
        Ok::<_, Failure>((rows, pending.len()))
    })?;
    let (rows, n_new) = measured;
    let runs = Measurements {
        rows: &rows,
        n_items: data.items.len(),
        n_new,
    };
    let doc = validation(
        &args,
        &wf,
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
            eprintln!(
                "warning: {}: {} of {} runs failed and are left out of accuracy and latency; first error: {first}",
                point.id, point.measured.n_failed, point.measured.n
            );
        }
    }
    if let Some(out) = &args.output {
        let text = serde_json::to_string_pretty(&doc)
            .map_err(|e| Failure::Other(anyhow!("cannot serialise the validation: {e}")))?;
        super::write_atomically(out, format!("{text}\n").as_bytes())?;
    }
    if args.json {
        super::print_json(&doc)?;
    } else {
        print_text(&args, &artifact, &doc);
    }
    if doc.runs.failed == doc.runs.total {
        return Err(Failure::Other(anyhow!(
            "every run failed, so nothing was measured (see the warnings above)"
        )));
    }
    Ok(())
}

/// The points `--points`, `--max-points` or (by default) `--all-points` choose, in artifact order.
fn choose_points<'a>(args: &TestArgs, artifact: &'a Artifact) -> Result<Vec<&'a Point>, Failure> {
    if !args.points.is_empty() {
        let mut chosen: Vec<&Point> = Vec::new();
        for id in &args.points {
            let point = artifact
                .points
                .iter()
                .find(|p| &p.id == id)
                .ok_or_else(|| {
                    Failure::Input(anyhow!(
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
pub(super) struct Trace {
    pub(super) calls: Vec<TraceCall>,
    tools: Vec<TraceTool>,
}

#[derive(Deserialize)]
pub(super) struct TraceCall {
    latency_s: f64,
    pub(super) modelled_latency_s: Option<f64>,
}

#[derive(Deserialize)]
pub(super) struct TraceTool {
    tool: String,
    latency_s: f64,
}

pub(super) fn trace(row: &EvalRow) -> Result<Trace, Failure> {
    serde_json::from_str(&row.trace_json).map_err(|e| {
        Failure::Other(anyhow!(
            "the stored trace of item '{}' is unreadable: {e}",
            row.item_id
        ))
    })
}

/// One item's measured latency under `execution` from `source`.
pub(super) fn item_latency(
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
    args: &TestArgs,
    wf: &Workflow,
    artifact: &Artifact,
    artifact_bytes: &[u8],
    chosen: &[&Point],
    runs: &Measurements,
) -> Result<Validation, Failure> {
    let rows = runs.rows;
    let traces: Vec<Vec<Trace>> = rows
        .iter()
        .map(|r| r.iter().map(trace).collect::<Result<Vec<_>, _>>())
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
        models_label: (args.zoo || source == LatencySource::Modelled)
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

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

fn print_text(args: &TestArgs, artifact: &Artifact, doc: &Validation) {
    let label = doc
        .models_label
        .as_deref()
        .map(|l| format!(" [{l}]"))
        .unwrap_or_default();
    println!(
        "{}{label}: {} points of {} on {} items of {} ({} runs: {} from the store, {} new, {} failed)",
        doc.workflow,
        doc.points.len(),
        args.artifact.display(),
        doc.n_items,
        doc.data,
        doc.runs.total,
        doc.runs.reused,
        doc.runs.new,
        doc.runs.failed
    );
    println!(
        "latency measured: {} per item, {} execution as the artifact's proxy ({:?} latency) predicts",
        match doc.latency_source {
            LatencySource::Modelled => "the server's modelled seconds",
            LatencySource::Wall => "wall seconds",
        },
        match doc.execution {
            ExecutionModel::Parallel => "parallel (slowest branch)",
            ExecutionModel::Sequential => "sequential (every call summed)",
        },
        artifact.proxy.latency
    );
    println!();
    println!(
        "{:<6} {:>9} {:>12} {:>12} {:>12} {:>12} {:>10} {:>6} {:>7}",
        "point",
        "structure",
        "pred acc",
        "meas acc",
        "pred lat s",
        "meas lat s",
        "p95 lat s",
        "n",
        "failed"
    );
    for p in &doc.points {
        println!(
            "{:<6} {:>9} {:>12.4} {:>12} {:>12.3} {:>12} {:>10} {:>6} {:>7}",
            p.id,
            format!("s{}", p.structure),
            p.predicted.accuracy,
            opt(p.measured.accuracy, 4),
            p.predicted.latency_s,
            opt(p.measured.latency_s, 3),
            opt(p.measured.latency_p95_s, 3),
            p.measured.n,
            p.measured.n_failed
        );
    }
    println!();
    println!(
        "{:<9} {:>9} {:>9} {:>9} {:>10}  affine fit (measured = a * predicted + b)",
        "fidelity", "spearman", "pairwise", "mae", "mae (cal)"
    );
    for (name, f) in [
        ("accuracy", &doc.fidelity.accuracy),
        ("latency", &doc.fidelity.latency),
    ] {
        println!(
            "{:<9} {:>9} {:>9} {:>9} {:>10}  {}",
            name,
            opt(f.spearman, 3),
            opt(f.pairwise_agreement, 3),
            opt(f.mae, 4),
            opt(f.mae_calibrated, 4),
            f.affine.map_or_else(
                || "-".into(),
                |a| format!("a = {:.3}, b = {:.3}", a.slope, a.intercept)
            )
        );
    }
    for (name, f) in [
        ("accuracy", &doc.fidelity.accuracy),
        ("latency", &doc.fidelity.latency),
    ] {
        print_undefined(name, f);
    }
    println!(
        "(pairwise: {} accuracy and {} latency pairs counted; pairs tied in the measurement are left out, pairs tied only in the prediction count 1/2)",
        doc.fidelity.accuracy.n_pairs, doc.fidelity.latency.n_pairs
    );
    if let Some(out) = &args.output {
        println!("wrote {}", out.display());
    }
}

fn print_undefined(name: &str, f: &MetricFidelity) {
    for (key, why) in &f.undefined {
        println!("note: {name} {key} is undefined: {why}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowcompile_runner::{CallRecord, ToolRecord};

    fn math() -> Workflow {
        flowcompile_spec::parse(
            include_str!("../../../../examples/math/workflow.toml"),
            "math.toml",
        )
        .unwrap()
    }

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
        let Err(Failure::Other(e)) = trace(&r) else {
            panic!("expected an error")
        };
        assert!(e.to_string().contains("item 'i'"), "{e}");
    }
}

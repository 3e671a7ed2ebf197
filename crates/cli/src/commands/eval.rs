//! `flowcompile eval`: one configuration over a dataset split, resumable through the store.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context};
use flowcompile_artifact::sha256_hex;
use flowcompile_runner::Runner;
use flowcompile_store::{EvalRow, Store};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};

use super::exec;
use crate::cli::EvalArgs;
use crate::exit::Failure;

/// A dataset line that is not an item: reported and counted, the rest still runs.
struct BadLine {
    line: usize,
    why: String,
}

/// Reads the items of a JSONL split: objects with the gold answer field.
fn items(text: &str, answer_field: &str) -> (Vec<(usize, Value)>, Vec<BadLine>) {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(v) if v.get(answer_field).is_some() => good.push((i + 1, v)),
            Ok(v) if v.is_object() => bad.push(BadLine {
                line: i + 1,
                why: format!("no '{answer_field}' field (the gold answer)"),
            }),
            Ok(_) => bad.push(BadLine {
                line: i + 1,
                why: "not a JSON object".into(),
            }),
            Err(e) => bad.push(BadLine {
                line: i + 1,
                why: format!("not JSON: {e}"),
            }),
        }
    }
    (good, bad)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[idx]
}

pub fn run(args: EvalArgs) -> Result<(), Failure> {
    let (wf, spec_text) = super::load_workflow(&args.exec.workflow)?;
    let data_text = super::read(&args.data)?;
    let (mut todo, bad) = items(&data_text, &wf.task.answer);
    // The embedded zoo learns the tasks from the good lines only.
    let zoo_tasks: String = todo.iter().map(|(_, item)| format!("{item}\n")).collect();
    if let Some(limit) = args.limit {
        todo.truncate(limit);
    }
    for b in &bad {
        eprintln!(
            "warning: {}:{}: skipped: {}",
            args.data.display(),
            b.line,
            b.why
        );
    }
    if todo.is_empty() {
        return Err(Failure::Input(anyhow!(
            "{}: no item to evaluate ({} bad lines)",
            args.data.display(),
            bad.len()
        )));
    }
    if let Some(dir) = args.store.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let store = Store::open(&args.store).map_err(|e| Failure::Other(e.into()))?;
    let data_name = args
        .data
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let runtime = exec::runtime()?;
    runtime.block_on(async {
        let zoo_url = match args.exec.zoo {
            true => Some(exec::embedded_zoo(Some((&data_name, &zoo_tasks))).await?),
            false => None,
        };
        let (providers, providers_text) =
            exec::providers(&args.exec.providers, zoo_url.as_deref())?;
        let runner =
            Runner::new(&wf, exec::client(providers)?).map_err(|e| Failure::Input(e.into()))?;
        let (config, what) = exec::config(&args.exec, &wf, runner.space())?;
        // The run key names what the results depend on; the embedded zoo's port does not count.
        let providers_key = if args.exec.zoo {
            "embedded zoo".to_string()
        } else {
            providers_text
        };
        let run_key = sha256_hex(
            format!(
                "{spec_text}\u{0}{}\u{0}{data_name}\u{0}{providers_key}",
                exec::config_text(&config, runner.space())
            )
            .as_bytes(),
        );
        let done = store
            .eval_done(&run_key)
            .map_err(|e| Failure::Other(e.into()))?;
        let pending: Vec<&(usize, Value)> = todo
            .iter()
            .filter(|(_, item)| !done.contains(&flowcompile_runner::item_id(item)))
            .collect();
        let bar = if args.exec.json {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::with_draw_target(
                Some(pending.len() as u64),
                ProgressDrawTarget::stderr(),
            );
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {pos}/{len} items [{bar:30}] {elapsed} eta {eta} {msg}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar
        };
        if !args.exec.json {
            eprintln!(
                "{} on {} ({} items, {} already in {}) under {what}",
                wf.name,
                args.data.display(),
                todo.len(),
                todo.len() - pending.len(),
                args.store.display()
            );
        }
        let mut stream =
            futures::stream::iter(pending.iter().map(|(_, item)| runner.run(&config, item)))
                .buffer_unordered(args.concurrency.max(1));
        let mut n_correct_now = 0usize;
        let mut n_now = 0usize;
        while let Some(result) = stream.next().await {
            n_now += 1;
            let (answer, error) = match &result.answer {
                Ok(a) => (a.clone(), None),
                Err(e) => (String::new(), Some(e.to_string())),
            };
            // A failed item (server down, prompt past the model's context...) is no wrong answer: say which.
            if let Some(e) = &error {
                bar.suspend(|| eprintln!("warning: item {}: failed: {e}", result.item_id));
            }
            let score = result.score.as_ref();
            n_correct_now += usize::from(score.is_some_and(|s| s.correct));
            let row = EvalRow {
                run_key: run_key.clone(),
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
                trace_json: serde_json::to_string(
                    &json!({"calls": result.calls, "tools": result.tools}),
                )
                .unwrap_or_default(),
                created_at_unix_s: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64),
            };
            store
                .record_eval(&row)
                .map_err(|e| Failure::Other(e.into()))?;
            bar.set_message(format!(
                "accuracy so far {:.3}",
                n_correct_now as f64 / n_now as f64
            ));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let ids: std::collections::HashSet<String> = todo
            .iter()
            .map(|(_, item)| flowcompile_runner::item_id(item))
            .collect();
        let rows: Vec<EvalRow> = store
            .eval_rows(&run_key)
            .map_err(|e| Failure::Other(e.into()))?
            .into_iter()
            .filter(|r| ids.contains(&r.item_id))
            .collect();
        report(&args, &wf.name, &what, &rows, bad.len())
    })
}

fn report(
    args: &EvalArgs,
    workflow: &str,
    what: &str,
    rows: &[EvalRow],
    n_bad: usize,
) -> Result<(), Failure> {
    let n = rows.len();
    let n_failed = rows.iter().filter(|r| r.error.is_some()).count();
    let accuracy = rows.iter().filter(|r| r.correct).count() as f64 / n.max(1) as f64;
    let mut wall: Vec<f64> = rows.iter().map(|r| r.latency_s).collect();
    let mut modelled: Vec<f64> = rows.iter().map(|r| r.modelled_latency_s).collect();
    wall.sort_by(f64::total_cmp);
    modelled.sort_by(f64::total_cmp);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let tokens: u64 = rows
        .iter()
        .map(|r| r.prompt_tokens + r.completion_tokens)
        .sum();
    let cost: Option<f64> = rows.iter().map(|r| r.cost_usd).sum();
    if args.exec.json {
        return super::print_json(&json!({
            "workflow": workflow,
            "config": what,
            "data": args.data.display().to_string(),
            "n_items": n,
            "n_failed": n_failed,
            "n_bad_lines": n_bad,
            "accuracy": accuracy,
            "latency_s": {"mean": mean(&wall), "p50": percentile(&wall, 0.5), "p95": percentile(&wall, 0.95)},
            "modelled_latency_s": {"mean": mean(&modelled), "p50": percentile(&modelled, 0.5), "p95": percentile(&modelled, 0.95)},
            "tokens": tokens,
            "cost_usd": cost,
            "failures": rows
                .iter()
                .filter_map(|r| r.error.as_ref().map(|e| json!({"item": r.item_id, "error": e})))
                .collect::<Vec<_>>(),
        }));
    }
    println!("{workflow} on {} under {what}", args.data.display());
    println!("items      {n} ({n_failed} failed runs, {n_bad} bad lines skipped)");
    println!("accuracy   {accuracy:.4}");
    println!(
        "latency    mean {:.3} s, p50 {:.3} s, p95 {:.3} s (wall)",
        mean(&wall),
        percentile(&wall, 0.5),
        percentile(&wall, 0.95)
    );
    println!(
        "           mean {:.3} s, p50 {:.3} s, p95 {:.3} s (modelled by the server, when it reports it)",
        mean(&modelled),
        percentile(&modelled, 0.5),
        percentile(&modelled, 0.95)
    );
    println!(
        "tokens     {tokens} ({:.0} per item)",
        tokens as f64 / n.max(1) as f64
    );
    if let Some(c) = cost {
        println!("cost       ${c:.4}");
    }
    for r in rows {
        if let Some(e) = &r.error {
            println!("failed     item {}: {e}", r.item_id);
        }
    }
    Ok(())
}

//! `flowcompile eval`: one configuration over a dataset split, resumable through the store.

use flowcompile_runner::Runner;
use flowcompile_store::EvalRow;
use serde_json::json;

use super::{batch, exec};
use crate::cli::EvalArgs;
use crate::exit::Failure;

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[idx]
}

pub fn run(args: EvalArgs) -> Result<(), Failure> {
    if args.preferences.is_some() {
        return super::utility::run(args);
    }
    let (wf, spec_text) = super::load_workflow(&args.exec.workflow)?;
    let data = batch::load_dataset(&args.data, &wf.task.answer, args.limit)?;
    let store = batch::open_store(&args.store)?;
    let runtime = exec::runtime()?;
    runtime.block_on(async {
        let zoo = match args.exec.zoo {
            true => Some(exec::embedded_zoo(Some((&data.name, &data.zoo_tasks)))?),
            false => None,
        };
        let (providers, providers_text) =
            exec::providers(args.exec.providers.as_deref(), args.exec.zoo)?;
        let runner = Runner::new(&wf, exec::client(providers, zoo)?)
            .map_err(|e| Failure::Input(e.into()))?;
        let (config, what) = exec::config(&args.exec, &wf, runner.space())?;
        let run_key = batch::run_key(
            &spec_text,
            &exec::run_config_text(&config, runner.space()),
            &data.name,
            &exec::providers_key(args.exec.zoo, providers_text),
        );
        let jobs = data
            .items
            .iter()
            .map(|item| batch::Job {
                run_key: &run_key,
                config: &config,
                item,
            })
            .collect();
        let pending = batch::pending(&store, jobs)?;
        let bar = batch::progress_bar(pending.len(), args.exec.json, "items");
        if !args.exec.json {
            eprintln!(
                "{} on {} ({} items, {} already in {}) under {what}",
                wf.name,
                args.data.display(),
                data.items.len(),
                data.items.len() - pending.len(),
                args.store.display()
            );
        }
        let (mut n_correct_now, mut n_now) = (0usize, 0usize);
        batch::run_jobs(
            &runner,
            &store,
            &pending,
            args.concurrency,
            &bar,
            |result| {
                n_now += 1;
                // A failed item (server down, prompt past the model's context...) is no wrong answer: say which.
                if let Err(e) = &result.answer {
                    bar.suspend(|| eprintln!("warning: item {}: failed: {e}", result.item_id));
                }
                n_correct_now += usize::from(result.score.as_ref().is_some_and(|s| s.correct));
                bar.set_message(format!(
                    "accuracy so far {:.3}",
                    n_correct_now as f64 / n_now as f64
                ));
            },
        )
        .await?;
        let rows = batch::rows_for(&store, &run_key, &data.items)?;
        report(&args, &wf.name, &what, &rows, data.n_bad)
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

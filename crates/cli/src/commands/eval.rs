//! `flowcompile eval`: one configuration over a dataset split, resumable through the store.

use flowcompile_driver::runs::{eval, EvalOptions};
use flowcompile_driver::utility::{expected_utility, UtilityOptions};
use flowcompile_store::EvalRow;
use serde_json::json;

use crate::cli::EvalArgs;
use crate::exit::Failure;
use crate::observe::Stderr;

/// The `q` quantile of sorted values (nearest rank); none of no values.
fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    Some(sorted[(last as f64 * q).round() as usize])
}

pub fn run(args: EvalArgs) -> Result<(), Failure> {
    if args.preferences.is_some() {
        return utility(args);
    }
    let opts = EvalOptions {
        workflow: args.exec.workflow.clone(),
        choice: super::config_choice(&args.exec),
        data: args.data.clone(),
        limit: args.limit,
        models: super::model_source(args.exec.providers.as_ref(), args.exec.zoo),
        concurrency: args.concurrency,
        store: args.store.clone(),
    };
    let e = eval(&opts, &Stderr::new(args.exec.json))?;
    report(&args, &e.workflow, &e.config, &e.rows, e.n_bad)
}

/// `eval --preferences`: the expected-utility study, printed.
fn utility(args: EvalArgs) -> Result<(), Failure> {
    let (Some(artifact), Some(router), Some(preferences)) =
        (&args.exec.artifact, &args.router, &args.preferences)
    else {
        return Err(Failure::Input(anyhow::anyhow!(
            "--preferences needs --artifact and --router"
        )));
    };
    let opts = UtilityOptions {
        workflow: args.exec.workflow.clone(),
        artifact: artifact.clone(),
        router: router.clone(),
        preferences: preferences.clone(),
        data: args.data.clone(),
        limit: args.limit,
        models: super::model_source(args.exec.providers.as_ref(), args.exec.zoo),
        concurrency: args.concurrency,
        store: args.store.clone(),
    };
    let u = expected_utility(&opts, &Stderr::new(args.exec.json))?;
    let nothing = u.strategies.iter().all(|t| t.failed == t.requests);
    let result = print_utility(&args, preferences, &u);
    if nothing {
        return Err(Failure::Other(anyhow::anyhow!(
            "every run failed, so no utility was measured (see the warnings above)"
        )));
    }
    result
}

/// Prints the expected-utility study (text or JSON); means over no successful run are undefined.
fn print_utility(
    args: &EvalArgs,
    preferences: &str,
    u: &flowcompile_driver::utility::UtilityReport,
) -> Result<(), Failure> {
    let (gain, ci) = u.router_gain;
    let compiled = u.strategies[0].expected_utility;
    if args.exec.json {
        return super::print_json(&json!({
            "workflow": u.workflow,
            "data": args.data.display().to_string(),
            "preferences": preferences,
            "lat_max_s": u.lat_max,
            "router": {"k": u.router_k, "embed_model": u.embed_model, "items": u.router_items},
            "strategies": u.strategies,
            "router_gain": {"mean": gain, "ci95": ci, "paired_requests": u.paired_requests, "relative": gain / compiled},
        }));
    }
    println!(
        "{} on {}: expected utility b*correct + (1-b)*(1 - latency/{:.3} s), preferences {preferences}",
        u.workflow,
        args.data.display(),
        u.lat_max
    );
    println!(
        "(lat_max is the artifact's largest predicted latency; latency measured per request as `flowcompile test` does)"
    );
    println!(
        "{:<18} {:>8} {:>6} {:>9} {:>9} {:>12} {:>10} {:>8}",
        "strategy",
        "requests",
        "failed",
        "utility",
        "accuracy",
        "latency (s)",
        "predicted",
        "configs"
    );
    for t in &u.strategies {
        let label = if t.strategy == "knn router" {
            format!("knn router (k={})", u.router_k)
        } else {
            t.strategy.to_string()
        };
        println!(
            "{label:<18} {:>8} {:>6} {:>9.4} {:>9.4} {:>12.3} {:>10.4} {:>8}",
            t.requests,
            t.failed,
            t.expected_utility,
            t.accuracy,
            t.mean_latency_s,
            t.predicted_utility,
            t.configurations
        );
    }
    println!(
        "router gain over the compiled set: {gain:+.4} expected utility ({:+.2}%), 95% interval +/- {ci:.4} over {} paired requests",
        100.0 * gain / compiled,
        u.paired_requests
    );
    Ok(())
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
    // Statistics are over successful runs: a failed run (endpoint down, prompt past the context)
    // is no wrong answer, and over zero successful runs a mean is undefined.
    let ok: Vec<&EvalRow> = rows.iter().filter(|r| r.error.is_none()).collect();
    let accuracy =
        (!ok.is_empty()).then(|| ok.iter().filter(|r| r.correct).count() as f64 / ok.len() as f64);
    let mut wall: Vec<f64> = ok.iter().map(|r| r.latency_s).collect();
    let mut modelled: Vec<f64> = ok.iter().map(|r| r.modelled_latency_s).collect();
    wall.sort_by(f64::total_cmp);
    modelled.sort_by(f64::total_cmp);
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let tokens: u64 = ok
        .iter()
        .map(|r| r.prompt_tokens + r.completion_tokens)
        .sum();
    let cost: Option<f64> = ok.iter().map(|r| r.cost_usd).sum();
    let nothing = || {
        Failure::Other(anyhow::anyhow!(
            "every run failed ({n_failed} of {n}), so nothing was measured (see the failures above)"
        ))
    };
    if args.exec.json {
        super::print_json(&json!({
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
        }))?;
        return if ok.is_empty() {
            Err(nothing())
        } else {
            Ok(())
        };
    }
    println!("{workflow} on {} under {what}", args.data.display());
    println!("items      {n} ({n_failed} failed runs, {n_bad} bad lines skipped)");
    let Some(accuracy) = accuracy else {
        println!("accuracy   undefined: no run succeeded");
        for r in rows {
            if let Some(e) = &r.error {
                println!("failed     item {}: {e}", r.item_id);
            }
        }
        return Err(nothing());
    };
    let secs = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"));
    println!(
        "accuracy   {accuracy:.4} (over {} successful runs)",
        ok.len()
    );
    println!(
        "latency    mean {} s, p50 {} s, p95 {} s (wall)",
        secs(mean(&wall)),
        secs(percentile(&wall, 0.5)),
        secs(percentile(&wall, 0.95))
    );
    println!(
        "           mean {} s, p50 {} s, p95 {} s (modelled by the server, when it reports it)",
        secs(mean(&modelled)),
        secs(percentile(&modelled, 0.5)),
        secs(percentile(&modelled, 0.95))
    );
    println!(
        "tokens     {tokens} ({:.0} per successful item)",
        tokens as f64 / ok.len() as f64
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

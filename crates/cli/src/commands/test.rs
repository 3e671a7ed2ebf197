//! `flowcompile test`: held-out validation of an artifact's frontier points (the driver's validate
//! pass), printed.

use anyhow::anyhow;
use flowcompile_artifact::Artifact;
use flowcompile_driver::validate::{test, TestOptions};
use flowcompile_validate::{ExecutionModel, LatencySource, MetricFidelity, Validation};

use crate::cli::TestArgs;
use crate::exit::Failure;
use crate::observe::Stderr;

pub fn run(args: TestArgs) -> Result<(), Failure> {
    let opts = TestOptions {
        workflow: args.workflow.clone(),
        artifact: args.artifact.clone(),
        data: args.data.clone(),
        models: super::model_source(args.providers.as_ref(), args.zoo),
        points: args.points.clone(),
        max_points: args.max_points,
        limit: args.limit,
        concurrency: args.concurrency,
        store: args.store.clone(),
    };
    let tested = test(&opts, &Stderr::new(args.json))?;
    let doc = &tested.doc;
    if let Some(out) = &args.output {
        let text = serde_json::to_string_pretty(doc)
            .map_err(|e| Failure::Other(anyhow!("cannot serialise the validation: {e}")))?;
        flowcompile_driver::load::write_atomically(out, format!("{text}\n").as_bytes())?;
    }
    if args.json {
        super::print_json(doc)?;
    } else {
        print_text(&args, &tested.artifact, doc);
    }
    if doc.runs.failed == doc.runs.total {
        return Err(Failure::Other(anyhow!(
            "every run failed, so nothing was measured (see the warnings above)"
        )));
    }
    Ok(())
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
        "latency measured: {} per item, {} execution as the artifact's proxy ({} latency) predicts",
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
    let cell = |i: Option<[f64; 2]>, digits: usize| {
        i.map_or_else(
            || "-".into(),
            |[lo, hi]| format!("[{lo:.digits$}, {hi:.digits$}]"),
        )
    };
    println!(
        "{:<6} {:>9} {:>9} {:>17} {:>9} {:>10} {:>21} {:>10} {:>9} {:>5} {:>6}",
        "point",
        "structure",
        "pred acc",
        "90% interval",
        "meas acc",
        "pred lat s",
        "90% interval",
        "meas lat s",
        "p95 lat s",
        "n",
        "failed"
    );
    for p in &doc.points {
        println!(
            "{:<6} {:>9} {:>9.4} {:>17} {:>9} {:>10.3} {:>21} {:>10} {:>9} {:>5} {:>6}",
            p.id,
            format!("s{}", p.structure),
            p.predicted.accuracy,
            cell(p.predicted.accuracy_interval, 4),
            opt(p.measured.accuracy, 4),
            p.predicted.latency_s,
            cell(p.predicted.latency_interval_s, 3),
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
    for (name, f) in [
        ("accuracy", &doc.fidelity.accuracy),
        ("latency", &doc.fidelity.latency),
    ] {
        if let Some(c) = &f.coverage {
            println!(
                "interval coverage, {name}: {} of {} measured inside the 90% interval widened by this split's sampling noise ({:.0}%); {} inside the artifact's interval as it is ({:.0}%)",
                c.inside,
                c.n_points,
                100.0 * c.coverage,
                c.inside_population,
                100.0 * c.coverage_population
            );
        }
    }
    if let Some(out) = &args.output {
        println!("wrote {}", out.display());
    }
}

fn print_undefined(name: &str, f: &MetricFidelity) {
    for (key, why) in &f.undefined {
        println!("note: {name} {key} is undefined: {why}");
    }
}

//! `flowcompile compile`: workflow + profiles -> exact Pareto set -> artifact.

use flowcompile_artifact::SpaceSummary;
use flowcompile_driver::compile::{compile, CompileOptions, ProfileSource, Verified};
use serde_json::json;

use crate::cli::CompileArgs;
use crate::exit::Failure;
use crate::observe::Stderr;
use crate::output;

pub fn run(args: CompileArgs) -> Result<(), Failure> {
    if args.profiles.is_none() && super::dry_run(&args.workflow, &args.measure, args.json)? {
        return Ok(());
    }
    let profiles = match &args.profiles {
        Some(path) => ProfileSource::Files {
            profiles: path.clone(),
            throughput: args.throughput.clone(),
        },
        None => ProfileSource::Measure {
            options: Box::new(super::measure_options(&args.measure)?),
            drop_unprofiled: args.drop_unprofiled,
            export_profiles: args.export_profiles.clone(),
        },
    };
    let opts = CompileOptions {
        workflow: args.workflow.clone(),
        restrict: super::restriction(&args.space),
        profiles,
        execution: args.execution,
        latency: args.latency,
        proxy: args.proxy,
        verify: args.verify,
        output: args.output.clone(),
        models_label: args.models_label.clone(),
    };
    let c = compile(&opts, &Stderr::new(args.json))?;
    let n_configs = c.space.n_configs();
    let n_pruned = c.space.n_configs_with(&c.frontier.kept_per_slot);
    if args.json {
        return super::print_json(&json!({
            "artifact": c.output.display().to_string(),
            "workflow": c.workflow.name,
            "n_structures": c.space.structures.len(),
            "n_configs": SpaceSummary::count_text(n_configs),
            "n_configs_after_pruning": SpaceSummary::count_text(n_pruned),
            "n_points": c.artifact.points.len(),
            "n_unused_profile_rows": c.n_unused_profile_rows,
            "search_s": c.timings.search_s,
            "timings": c.timings,
            "models_label": c.models_label,
            "measured": c.measured.as_ref().map(|m| json!({
                "induce": m.induce,
                "profile": m.profile,
                "induce_s": m.induce_s,
                "profile_s": m.profile_s,
            })),
            "verified": c.verified.as_ref().map(|v| json!({
                "validation": v.doc,
                "dropped": v.dropped,
            })),
        }));
    }
    println!(
        "compiled {}: {} structures, {} configurations ({} after pruning), {} Pareto points in {:.3} ms",
        c.workflow.name,
        c.space.structures.len(),
        n_configs,
        n_pruned,
        c.artifact.points.len(),
        c.timings.search_s * 1e3
    );
    if c.n_unused_profile_rows > 0 {
        println!(
            "note: {} profile rows matched no setting of this workflow and were not used",
            c.n_unused_profile_rows
        );
    }
    println!("{}", output::table(&c.artifact.points));
    if let Some(v) = &c.verified {
        print_verified(v);
    }
    println!("wrote {}", c.output.display());
    Ok(())
}

/// `--verify`: each verified point, predicted against measured, and what was dropped.
fn print_verified(v: &Verified) {
    let d = &v.doc;
    println!(
        "verified {} points end to end on {} validation items of {} ({} runs: {} from the store):",
        d.points.len(),
        d.n_items,
        d.data,
        d.runs.total,
        d.runs.reused
    );
    println!(
        "{:<6} {:>10} {:>10} {:>12} {:>12}  kept",
        "point", "pred acc", "meas acc", "pred lat s", "meas lat s"
    );
    let opt =
        |x: Option<f64>, digits: usize| x.map_or_else(|| "-".into(), |x| format!("{x:.digits$}"));
    for p in &d.points {
        let kept = if v.dropped.contains(&p.id) {
            "dropped: a verified point measured better"
        } else {
            "yes"
        };
        println!(
            "{:<6} {:>10.4} {:>10} {:>12.3} {:>12}  {kept}",
            p.id,
            p.predicted.accuracy,
            opt(p.measured.accuracy, 4),
            p.predicted.latency_s,
            opt(p.measured.latency_s, 3),
        );
    }
    if let Some(mae) = d.fidelity.accuracy.mae {
        println!("accuracy raw MAE over these points: {mae:.4}");
    }
}

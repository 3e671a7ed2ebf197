//! `flowcompile truth`: every configuration of a small space through the in-process zoo, the true
//! frontier, and the comparison of a compiled artifact with it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::anyhow;
use flowcompile_client::Client;
use flowcompile_truth::{
    configurations, count_within, describe, locate, measure_all, MeasureOptions, SpaceOut, Table,
    TruthError, TruthPoint, TruthReport,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use super::exec;
use crate::cli::TruthArgs;
use crate::exit::Failure;

/// The items of a split: every non-empty line must be a JSON object with the gold answer field.
fn items(text: &str, path: &Path, answer_field: &str) -> Result<Vec<Value>, Failure> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{}:{}", path.display(), i + 1);
        let value: Value = serde_json::from_str(line)
            .map_err(|e| Failure::Input(anyhow!("{}: not JSON: {e}", at())))?;
        if !value.is_object() {
            return Err(Failure::Input(anyhow!("{}: not a JSON object", at())));
        }
        if value.get(answer_field).is_none() {
            return Err(Failure::Input(anyhow!(
                "{}: no '{answer_field}' field (the gold answer)",
                at()
            )));
        }
        out.push(value);
    }
    Ok(out)
}

fn study_error(e: TruthError) -> Failure {
    match e {
        TruthError::TooManyConfigs { .. } | TruthError::NoItems | TruthError::Artifact { .. } => {
            Failure::Input(e.into())
        }
        _ => Failure::Other(e.into()),
    }
}

pub fn run(args: TruthArgs) -> Result<(), Failure> {
    let (wf, _) = super::load_workflow(&args.workflow)?;
    let wf = super::restrict(wf, &args.workflow, &args.space)?;
    let space = wf
        .design_space()
        .map_err(|e| Failure::Input(anyhow!("{}: {e}", args.workflow.display())))?;
    let n_configs = count_within(&space, args.max_configs).map_err(|e| {
        Failure::Input(anyhow!(
            "{}: {e} (--max-configs {})",
            args.workflow.display(),
            args.max_configs
        ))
    })?;
    let data_text = super::read(&args.data)?;
    let mut all_items = items(&data_text, &args.data, &wf.task.answer)?;
    if all_items.is_empty() {
        return Err(Failure::Input(anyhow!(
            "{}: no item to run on",
            args.data.display()
        )));
    }
    match args.limit {
        Some(0) => return Err(Failure::Input(anyhow!("--limit must be at least 1"))),
        Some(limit) => all_items.truncate(limit),
        None => {}
    }
    let (providers, _) = exec::providers(args.providers.as_deref(), true)?;
    for agent in &wf.agents {
        if let Some(s) = agent
            .settings
            .iter()
            .find(|s| providers.get(&s.model).is_none())
        {
            return Err(Failure::Input(anyhow!(
                "model '{}' (agent {}) has no entry in {}",
                s.model,
                agent.name,
                args.providers.as_deref().map_or_else(
                    || "the built-in zoo providers".into(),
                    |p| p.display().to_string()
                )
            )));
        }
    }
    let data_name = args
        .data
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let zoo = exec::embedded_zoo(Some((&data_name, &data_text)))?;
    let client = Client::with_zoo(providers, zoo);
    let configs = Arc::new(configurations(&wf, &space));
    debug_assert_eq!(configs.len(), n_configs);
    let compare = match &args.compare {
        Some(path) => {
            let artifact = super::load_artifact(path)?;
            let name = path.display().to_string();
            let located = locate(&wf, &space, &configs, &artifact, &name).map_err(study_error)?;
            Some((artifact, name, located))
        }
        None => None,
    };
    let n_items = all_items.len();
    let wf = Arc::new(wf);
    let mut options = MeasureOptions::default();
    if let Some(w) = args.workers {
        options.workers = w.max(1);
    }

    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        eprintln!(
            "{}: {} configurations x {} items of {} through the in-process zoo (synthetic), {} workers",
            wf.name,
            configs.len(),
            n_items,
            args.data.display(),
            options.workers
        );
        let bar =
            ProgressBar::with_draw_target(Some(configs.len() as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {pos}/{len} configurations [{bar:30}] {elapsed} eta {eta}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar
    };
    let started = Instant::now();
    let runtime = exec::runtime()?;
    let ticker = bar.clone();
    let measured = runtime
        .block_on(measure_all(
            wf.clone(),
            client,
            Arc::new(all_items),
            configs.clone(),
            options,
            Arc::new(move |n| ticker.inc(n as u64)),
        ))
        .map_err(study_error)?;
    bar.finish_and_clear();
    let wall_s = started.elapsed().as_secs_f64();

    let table = Table {
        wf: &wf,
        space: &space,
        configs: &configs,
        measured: &measured,
    };
    let mut report = table.report(
        &data_name,
        n_items,
        SpaceOut {
            models: args.space.models.clone(),
            budgets: args.space.budgets.clone(),
            n_structures: space.structures.len(),
        },
    );
    if let Some((artifact, name, located)) = &compare {
        report.comparison = Some(table.compare(artifact, name, located));
    }
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.truth.json", wf.name)));
    let json = serde_json::to_string_pretty(&report).map_err(|e| Failure::Other(e.into()))?;
    super::write_atomically(&out, format!("{json}\n").as_bytes())?;
    if args.json {
        println!("{json}");
        return Ok(());
    }
    print_report(&report, &table, wall_s, &out);
    Ok(())
}

fn point_line(p: &TruthPoint, table: &Table<'_>) -> String {
    format!(
        "{:>9.4} {:>11.3}  s{:<3} {}",
        p.accuracy,
        p.latency_s,
        p.structure,
        describe(&table.configs[p.config], table.space)
    )
}

fn print_report(report: &TruthReport, table: &Table<'_>, wall_s: f64, out: &Path) {
    println!(
        "{} [zoo (synthetic)]: {} configurations x {} items measured in {:.1} s ({:.0} configurations/s)",
        report.workflow,
        report.n_configs,
        report.n_items,
        wall_s,
        report.n_configs as f64 / wall_s.max(1e-9)
    );
    println!(
        "true frontier: {} points, hypervolume {:.4} (reference: accuracy 0, latency {:.3} s = the slowest configuration)",
        report.frontier.len(),
        report.hypervolume,
        report.reference_point.latency_s
    );
    println!(
        "{:>9} {:>11}  {:<4} settings",
        "accuracy", "latency_s", "str"
    );
    for p in &report.frontier {
        println!("{}", point_line(p, table));
    }
    match &report.best_uniform {
        Some(u) => println!("best uniform (full structure):\n{}", point_line(u, table)),
        None => println!("best uniform: none (the agents share no setting on the full structure)"),
    }
    if let Some(c) = &report.comparison {
        println!(
            "compared with {}: {} points, {} on the true frontier",
            c.artifact, c.n_points, c.n_points_on_true_frontier
        );
        println!(
            "hypervolume ratio {:.4} (compiled points at their measured metrics {:.4} / true frontier {:.4})",
            c.hypervolume_ratio, c.hypervolume_compiled, c.hypervolume_true
        );
        match (c.speedup_at_matched_accuracy, &c.matched_point) {
            (Some(s), Some(id)) => {
                let p = c.points.iter().find(|p| &p.id == id);
                println!(
                    "speedup at matched accuracy over the best uniform configuration: {s:.2}x ({id}: measured accuracy {:.4}, latency {:.3} s)",
                    p.map_or(f64::NAN, |p| p.measured.accuracy),
                    p.map_or(f64::NAN, |p| p.measured.latency_s)
                );
            }
            _ => println!(
                "speedup at matched accuracy: none (no compiled point is measured as accurate as the best uniform configuration)"
            ),
        }
        if let Some(s) = c.true_speedup_at_matched_accuracy {
            println!("  (the true frontier reaches {s:.2}x)");
        }
    }
    println!("wrote {}", out.display());
}

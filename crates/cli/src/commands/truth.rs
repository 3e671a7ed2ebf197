//! `flowcompile truth`: every configuration of a small space through the in-process zoo, the true
//! frontier, and the comparison of a compiled artifact with it.

use std::path::Path;

use flowcompile_driver::truth::{truth, TruthOptions};
use flowcompile_truth::{describe, Table, TruthPoint, TruthReport};

use crate::cli::TruthArgs;
use crate::exit::Failure;
use crate::observe::Stderr;

pub fn run(args: TruthArgs) -> Result<(), Failure> {
    let opts = TruthOptions {
        workflow: args.workflow.clone(),
        data: args.data.clone(),
        providers: args.providers.clone(),
        restrict: super::restriction(&args.space),
        limit: args.limit,
        max_configs: args.max_configs,
        compare: args.compare.clone(),
        workers: args.workers,
        output: args.output.clone(),
    };
    let t = truth(&opts, &Stderr::new(args.json))?;
    if args.json {
        println!("{}", t.json);
        return Ok(());
    }
    print_report(&t.report, &t.table(), t.wall_s, &t.output);
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

//! `flowcompile induce` and `flowcompile profile`: the driver's measuring pass alone.

use flowcompile_driver::measure::{export, measure, throughput_path};
use flowcompile_driver::{load, Error};
use flowcompile_profile::ThroughputRow;
use serde_json::json;

use crate::cli::{InduceArgs, ProfileArgs};
use crate::exit::Failure;
use crate::observe::Stderr;

/// `flowcompile induce`.
pub fn induce(args: InduceArgs) -> Result<(), Failure> {
    if super::dry_run(&args.workflow, &args.measure, args.json)? {
        return Ok(());
    }
    let wf = load::workflow(&args.workflow)?.workflow;
    let m = measure(
        &wf,
        &super::measure_options(&args.measure)?,
        true,
        &Stderr::new(args.json),
    )?;
    if args.json {
        return super::print_json(&json!({
            "workflow": wf.name,
            "models_label": m.models_label,
            "induce": m.induce,
            "induce_s": m.induce_s,
        }));
    }
    println!(
        "induced {} examples for {} agents in {} (key {})",
        m.induce.agents.iter().map(|a| a.examples).sum::<usize>(),
        m.induce.agents.len(),
        args.measure.store.display(),
        m.induce.key
    );
    Ok(())
}

/// `flowcompile profile`.
pub fn profile(args: ProfileArgs) -> Result<(), Failure> {
    if super::dry_run(&args.workflow, &args.measure, args.json)? {
        return Ok(());
    }
    let wf = load::workflow(&args.workflow)?.workflow;
    let m = measure(
        &wf,
        &super::measure_options(&args.measure)?,
        false,
        &Stderr::new(args.json),
    )?;
    let Some(report) = m.profile.as_ref() else {
        return Err(Error::Other(anyhow::anyhow!("profiling did not run")));
    };
    let throughput: Vec<ThroughputRow> = report.throughput.iter().map(|t| t.row()).collect();
    if let Some(path) = &args.export {
        export(path, &report.rows, &throughput)?;
    }
    if args.json {
        return super::print_json(&json!({
            "workflow": wf.name,
            "models_label": m.models_label,
            "induce": m.induce,
            "profile": report,
            "induce_s": m.induce_s,
            "profile_s": m.profile_s,
        }));
    }
    println!(
        "profiled {} settings of {} agents ({} unprofiled)",
        report.rows.len(),
        report.agents.len(),
        report.unprofiled.len()
    );
    if let Some(path) = &args.export {
        println!(
            "wrote {} and {}",
            path.display(),
            throughput_path(path).display()
        );
    }
    Ok(())
}

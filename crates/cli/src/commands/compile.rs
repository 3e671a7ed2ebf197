//! `flowcompile compile`: workflow + profiles -> exact Pareto set -> artifact.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::anyhow;
use flowcompile_artifact::{
    sha256_hex, Artifact, ArtifactFormat, LatencyModel, Point, Predicted, Provenance, ProxyModel,
    SlotSummary, SpaceSummary,
};
use flowcompile_ir::Workflow;
use flowcompile_pipeline::PipelineError;
use flowcompile_profile::{resolve, ProfileTable, ThroughputRow};
use flowcompile_search::{pareto, Problem};
use serde_json::{json, Value};

use super::measure;

use crate::cli::CompileArgs;
use crate::exit::Failure;
use crate::output;

/// Where the profiles came from.
struct Source {
    table: ProfileTable,
    throughput: Vec<ThroughputRow>,
    /// Bytes the profiles digest is taken of (the files, or the measured profiles as CSV).
    digest_input: Vec<u8>,
    models_label: Option<String>,
    /// The measurement's reports, for `--json`.
    measured: Option<Value>,
}

/// Reads `--profiles` (and `--throughput`).
fn from_files(args: &CompileArgs, profiles: &Path) -> Result<Source, Failure> {
    let files = super::load_profiles(profiles, args.throughput.as_deref())?;
    if args.latency == LatencyModel::Tokens && args.throughput.is_none() {
        return Err(Failure::Input(anyhow!("--latency tokens needs --throughput FILE with each model's prefill and decode tokens/s")));
    }
    Ok(Source {
        table: files.table,
        throughput: files.throughput,
        digest_input: files.digest_input,
        models_label: args.models_label.clone(),
        measured: None,
    })
}

/// Measures the profiles (`--data`): induction and profiling through the store. Settings without a
/// successful call are refused, or with `--drop-unprofiled` removed from `wf`.
fn from_measurement(args: &CompileArgs, wf: &mut Workflow) -> Result<Source, Failure> {
    let m = measure::measure(wf, &args.measure, false, args.json)?;
    let report = m.profile.expect("profiling ran");
    if !report.unprofiled.is_empty() {
        if !args.drop_unprofiled {
            return Err(Failure::Other(
                PipelineError::Unprofiled {
                    settings: report.unprofiled,
                }
                .into(),
            ));
        }
        for u in &report.unprofiled {
            if let Some(agent) = wf.agents.iter_mut().find(|a| a.name == u.agent) {
                agent
                    .settings
                    .retain(|s| !(s.model == u.model && s.budget_tokens == u.budget_tokens));
            }
        }
        if !args.json {
            eprintln!(
                "note: compiling without {} unprofiled settings (--drop-unprofiled)",
                report.unprofiled.len()
            );
        }
        if let Some(a) = wf.agents.iter().find(|a| a.settings.is_empty()) {
            return Err(Failure::Other(anyhow!(
                "agent '{}' has no profiled setting left; check its models' endpoints and rerun",
                a.name
            )));
        }
    }
    let throughput: Vec<ThroughputRow> = report.throughput.iter().map(|t| t.row()).collect();
    let source = format!("profiling in {}", args.measure.store.display());
    let table = ProfileTable::from_rows(&source, report.rows.clone())
        .map_err(|e| Failure::Other(anyhow!("{e}")))?;
    let mut digest_input = measure::profiles_csv(&report.rows)?;
    digest_input.extend(measure::throughput_csv(&throughput)?);
    if let Some(path) = &args.export_profiles {
        measure::export(path, &report.rows, &throughput)?;
    }
    Ok(Source {
        table,
        throughput,
        digest_input,
        models_label: args.models_label.clone().or(m.models_label),
        measured: Some(json!({
            "induce": m.induce,
            "profile": report,
            "induce_s": m.induce_s,
            "profile_s": m.profile_s,
        })),
    })
}

pub fn run(args: CompileArgs) -> Result<(), Failure> {
    let (wf, spec_text) = super::load_workflow(&args.workflow)?;
    let mut wf = super::restrict(wf, &args.workflow, &args.space)?;
    let Source {
        table,
        throughput,
        digest_input,
        models_label,
        measured,
    } = match &args.profiles {
        Some(path) => from_files(&args, path)?,
        None => from_measurement(&args, &mut wf)?,
    };
    let space = wf
        .design_space()
        .map_err(|e| Failure::Input(anyhow!("{}: {e}", args.workflow.display())))?;
    let latency = args.latency;
    let resolved =
        resolve(&wf, &table, &throughput, latency).map_err(|e| Failure::Input(anyhow!("{e}")))?;
    let metrics: Vec<_> = space
        .slots
        .iter()
        .map(|s| resolved.metrics(s.agent).to_vec())
        .collect();
    let exec = args.execution;
    let started = Instant::now();
    let problem = Problem::new(&space, &wf.tools, &metrics, exec);
    let frontier = pareto(&problem);
    let search_s = started.elapsed().as_secs_f64();

    let points = frontier
        .points
        .iter()
        .map(|p| {
            let predicted = Predicted {
                accuracy: p.metrics.accuracy,
                latency_s: p.metrics.latency_s,
            };
            Point::from_search(&wf, &space, p.structure, &p.settings, predicted)
        })
        .collect();
    let mut artifact = Artifact {
        format: ArtifactFormat::V1,
        workflow: wf.name.clone(),
        provenance: Provenance {
            tool: "flowcompile".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            spec_sha256: Some(sha256_hex(spec_text.as_bytes())),
            profiles_sha256: Some(sha256_hex(&digest_input)),
            models_label: models_label.clone(),
            imported_from: None,
        },
        proxy: ProxyModel {
            execution: exec,
            latency,
        },
        space: Some(SpaceSummary {
            n_structures: space.structures.len() as u64,
            n_configs: SpaceSummary::count_text(space.n_configs()),
            n_configs_after_pruning: SpaceSummary::count_text(
                space.n_configs_with(&frontier.kept_per_slot),
            ),
            slots: space
                .slots
                .iter()
                .zip(&frontier.kept_per_slot)
                .map(|(s, kept)| SlotSummary {
                    name: s.name.clone(),
                    agent: wf.agent(s.agent).name.clone(),
                    settings_total: wf.agent(s.agent).settings.len() as u32,
                    settings_kept: *kept as u32,
                })
                .collect(),
        }),
        points,
    };
    artifact.sort_points();
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.artifact.json", wf.name)));
    super::write_atomically(&out, artifact.to_json_pretty().as_bytes())?;

    if args.json {
        return super::print_json(&json!({
            "artifact": out.display().to_string(),
            "workflow": wf.name,
            "n_structures": space.structures.len(),
            "n_configs": SpaceSummary::count_text(space.n_configs()),
            "n_configs_after_pruning": SpaceSummary::count_text(space.n_configs_with(&frontier.kept_per_slot)),
            "n_points": artifact.points.len(),
            "n_unused_profile_rows": resolved.n_unused_rows,
            "search_s": search_s,
            "models_label": models_label,
            "measured": measured,
        }));
    }
    println!(
        "compiled {}: {} structures, {} configurations ({} after pruning), {} Pareto points in {:.3} ms",
        wf.name,
        space.structures.len(),
        space.n_configs(),
        space.n_configs_with(&frontier.kept_per_slot),
        artifact.points.len(),
        search_s * 1e3
    );
    if resolved.n_unused_rows > 0 {
        println!(
            "note: {} profile rows matched no setting of this workflow and were not used",
            resolved.n_unused_rows
        );
    }
    println!("{}", output::table(&artifact.points));
    println!("wrote {}", out.display());
    Ok(())
}

//! The compile driver: workflow and profiles (read, or measured) to the exact Pareto set, as an
//! artifact. One entry point, [`compile`], runs the passes in order and times each.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::anyhow;
use flowcompile_artifact::{
    sha256_hex, Artifact, ArtifactFormat, Point, Predicted, Provenance, ProxyModel,
    SelectionCorrection, SlotSummary, SpaceSummary,
};
use flowcompile_ir::{DesignSpace, ExecutionModel, LatencyModel, Workflow};
use flowcompile_pipeline::{item_profiles, ItemProfiles, PipelineError};
use flowcompile_profile::{resolve, ProfileTable, ThroughputRow};
use flowcompile_proxy::{Dependence, ProxyKind};
use flowcompile_search::{pareto, Frontier, Problem};

use crate::dependence::FailurePairs;
use crate::itemwise::{self, Agreement};
use crate::load::{self, Restriction};
use crate::measure::{self, MeasureOptions, Measured};
use crate::optimism::{self, Selection};
use crate::uncertainty;
use crate::{Error, Observer, Result};

/// Where the profiles come from.
#[derive(Clone, Debug)]
pub enum ProfileSource {
    /// Profile files (`--profiles`, and `--throughput` for token latency).
    Files {
        /// The profiles (CSV or JSONL).
        profiles: PathBuf,
        /// Per-model prefill and decode throughput.
        throughput: Option<PathBuf>,
    },
    /// Measured by data induction and profiling (`--data`).
    Measure {
        /// How to measure.
        options: Box<MeasureOptions>,
        /// Compile without settings that have no successful call instead of refusing.
        drop_unprofiled: bool,
        /// Also write the measured profiles (CSV) here and the throughput beside them.
        export_profiles: Option<PathBuf>,
    },
}

/// Everything a compilation needs.
#[derive(Clone, Debug)]
pub struct CompileOptions {
    /// The workflow file.
    pub workflow: PathBuf,
    /// The models and budgets to keep.
    pub restrict: Restriction,
    /// The profiles.
    pub profiles: ProfileSource,
    /// How parallel branches' latencies compose.
    pub execution: ExecutionModel,
    /// Where per-agent latency comes from.
    pub latency: LatencyModel,
    /// How any-of candidates compose: with their measured dependence (the default) or as the
    /// paper's independent proxy.
    pub proxy: ProxyKind,
    /// `--verify N`: after writing the artifact, run N points spread along the frontier end to end
    /// on the validation split (runs the store has are reused), and drop from the artifact the
    /// points another verified point beats in measurement. Needs measured profiles.
    pub verify: Option<u64>,
    /// The artifact to write (default `<workflow name>.artifact.json`).
    pub output: Option<PathBuf>,
    /// The label of the models behind the profiles, stored in the artifact.
    pub models_label: Option<String>,
}

/// Wall seconds of each pass that ran.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Timings {
    /// Reading and validating the workflow (and restricting it).
    pub load_s: f64,
    /// Data induction (0 when profiles were read).
    pub induce_s: f64,
    /// Profiling, or reading the profile files.
    pub profile_s: f64,
    /// Resolving per-setting metrics.
    pub resolve_s: f64,
    /// Pruning and the exact search (and the item-wise re-prediction of its points).
    pub search_s: f64,
    /// The selection-optimism correction: the selection run again on resampled items.
    pub selection_s: f64,
    /// The bootstrap of the points' intervals.
    pub intervals_s: f64,
    /// Writing the artifact.
    pub write_s: f64,
}

/// What a compilation produced.
pub struct Compiled {
    /// The workflow as compiled (restricted, without dropped settings).
    pub workflow: Workflow,
    /// Its design space.
    pub space: DesignSpace,
    /// The search's frontier (and what pruning kept).
    pub frontier: Frontier,
    /// The artifact written.
    pub artifact: Artifact,
    /// Where it was written.
    pub output: PathBuf,
    /// Profile rows that matched no setting of the workflow.
    pub n_unused_profile_rows: usize,
    /// The measurement, when the profiles were measured.
    pub measured: Option<Measured>,
    /// The label stored in the artifact.
    pub models_label: Option<String>,
    /// Wall seconds per pass.
    pub timings: Timings,
    /// What `--verify` measured, and the points it dropped.
    pub verified: Option<Verified>,
}

/// The end-to-end check of a compile (`--verify`).
#[derive(Clone, Debug)]
pub struct Verified {
    /// The verified points, predicted against measured on the validation split.
    pub doc: flowcompile_validate::Validation,
    /// Ids of the points dropped from the artifact: another verified point measured at least as
    /// accurate and at least as fast, one of them strictly.
    pub dropped: Vec<String>,
}

/// Profiles ready to resolve.
struct Profiles {
    table: ProfileTable,
    throughput: Vec<ThroughputRow>,
    /// Bytes the profiles digest is taken of (the files, or the measured profiles as CSV).
    digest_input: Vec<u8>,
    measured: Option<Measured>,
    /// The profiling calls grouped by validation item (`None` from profile files, which hold
    /// averages only): what the dependence and the intervals are measured from.
    per_item: Option<ItemProfiles>,
    /// How the voters' profiled inputs agreed (`None` from profile files).
    agreement: Option<Agreement>,
}

/// Runs the passes: load, restrict, profiles (read or measured), resolve, search, write.
pub fn compile(opts: &CompileOptions, observer: &dyn Observer) -> Result<Compiled> {
    let mut timings = Timings::default();
    let started = Instant::now();
    let file = load::workflow(&opts.workflow)?;
    let mut wf = load::restrict(file.workflow, &opts.workflow, &opts.restrict)?;
    timings.load_s = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let profiles = match &opts.profiles {
        ProfileSource::Files {
            profiles,
            throughput,
        } => from_files(opts, profiles, throughput.as_deref())?,
        ProfileSource::Measure {
            options,
            drop_unprofiled,
            export_profiles,
        } => from_measurement(
            &mut wf,
            options,
            *drop_unprofiled,
            export_profiles.as_deref(),
            observer,
        )?,
    };
    match &profiles.measured {
        Some(m) => {
            timings.induce_s = m.induce_s;
            timings.profile_s = m.profile_s;
        }
        None => timings.profile_s = started.elapsed().as_secs_f64(),
    }

    let started = Instant::now();
    let space = wf
        .design_space()
        .map_err(|e| Error::Input(anyhow!("{}: {e}", opts.workflow.display())))?;
    let resolved = resolve(&wf, &profiles.table, &profiles.throughput, opts.latency)
        .map_err(|e| Error::Input(anyhow!("{e}")))?;
    if !resolved.unknown_agents.is_empty() {
        observer.warn(&format!(
            "warning: the profiles have rows for agents {} does not have: {} (another workflow's profiles, or a renamed agent?); they are not used",
            wf.name,
            resolved.unknown_agents.join(", ")
        ));
    }
    let metrics: Vec<_> = space
        .slots
        .iter()
        .map(|s| resolved.metrics(s.agent).to_vec())
        .collect();
    timings.resolve_s = started.elapsed().as_secs_f64();

    let failure_pairs = profiles
        .per_item
        .as_ref()
        .map(|items| FailurePairs::new(&wf, items));
    let measured_dependence = failure_pairs.as_ref().and_then(|p| p.estimate(None));
    let dependence = match (opts.proxy, measured_dependence) {
        (ProxyKind::Independent, _) => Dependence::INDEPENDENT,
        (ProxyKind::Dependent, Some(d)) => {
            observer.note(&format!(
                "note: any-of candidates fail together with dependence {:.2} (0 independent, 1 always together), measured per validation item",
                d.any_of
            ));
            d
        }
        (ProxyKind::Dependent, None) => {
            observer.note("note: no per-item measurements of answer agents (profile files hold averages only): any-of candidates compose as independent, as --proxy independent does");
            Dependence::INDEPENDENT
        }
    };
    let started = Instant::now();
    let problem =
        Problem::new(&space, &wf.tools, &metrics, opts.execution).with_dependence(dependence);
    let mut frontier = pareto(&problem);
    let resampled_dependence = failure_pairs
        .as_ref()
        .filter(|_| opts.proxy == ProxyKind::Dependent && measured_dependence.is_some())
        .map(|pairs| (pairs, dependence));
    let mut itemwise = match (opts.proxy, &profiles.per_item, &profiles.agreement) {
        (ProxyKind::Dependent, Some(items), Some(agreement)) => {
            let r = itemwise::repredict(&wf, &space, &mut frontier, items, agreement);
            observer.note(&format!(
                "note: {} of the search's {} points predicted again item by item on the validation items (votes by how often their candidates agree); {} matched or beaten by another dropped",
                r.n_repredicted,
                r.per_item.len() + r.n_dropped,
                r.n_dropped
            ));
            Some(r)
        }
        _ => None,
    };
    timings.search_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let proxy = uncertainty::Proxy {
        wf: &wf,
        space: &space,
        metrics: &metrics,
        execution: opts.execution,
        dependence: resampled_dependence,
    };
    let selection = match (&mut itemwise, &profiles.per_item, &profiles.agreement) {
        (Some(r), Some(items), Some(agreement)) if r.n_repredicted > 0 => {
            let sel = Selection {
                proxy: &proxy,
                items,
                agreement,
            };
            let c = optimism::correct(&sel, &mut frontier, &mut r.per_item);
            let shifts: Vec<f64> = c.optimism.iter().flatten().copied().collect();
            if !shifts.is_empty() {
                let (lo, hi) = shifts
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                        (lo.min(x), hi.max(x))
                    });
                observer.note(&format!(
                    "note: accuracies lowered by {lo:.3} to {hi:.3} for selection on the items they are predicted from ({} resamples of the whole selection); {} then matched or beaten by a faster point dropped",
                    optimism::RESAMPLES,
                    c.n_dropped
                ));
            }
            Some(c)
        }
        _ => None,
    };
    timings.selection_s = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let models_label = opts.models_label.clone().or_else(|| {
        profiles
            .measured
            .as_ref()
            .and_then(|m| m.models_label.clone())
    });
    let (intervals, method) = match &profiles.per_item {
        Some(items) => {
            let (mut intervals, method) =
                uncertainty::intervals(&proxy, &frontier, items, observer);
            if let Some(r) = &itemwise {
                uncertainty::itemwise_accuracy(&mut intervals, &frontier, &r.per_item);
            }
            (intervals, Some(method))
        }
        None => {
            observer.note("note: the points have no intervals: profile files hold averages only, and intervals are measured from the profiling calls of each validation item (compile with --data)");
            (Vec::new(), None)
        }
    };
    timings.intervals_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let optimism = selection.as_ref().map(|c| c.optimism.as_slice());
    let artifact = artifact(
        &wf,
        &space,
        &frontier,
        &intervals,
        optimism.unwrap_or(&[]),
        Provenance {
            tool: "flowcompile".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            spec_sha256: Some(sha256_hex(file.text.as_bytes())),
            profiles_sha256: Some(sha256_hex(&profiles.digest_input)),
            models_label: models_label.clone(),
            imported_from: None,
        },
        ProxyModel {
            execution: opts.execution,
            latency: opts.latency,
            dependence: dependence.any_of,
            intervals: method,
            selection: selection.as_ref().map(|_| SelectionCorrection {
                resamples: optimism::RESAMPLES,
                seed: optimism::SEED,
            }),
        },
    );
    let output = opts
        .output
        .clone()
        .unwrap_or_else(|| load::default_output(&wf.name, "artifact.json"));
    load::write_atomically(&output, artifact.to_json_pretty().as_bytes())?;
    timings.write_s = started.elapsed().as_secs_f64();
    let mut artifact = artifact;
    let verified = match (opts.verify, &opts.profiles) {
        (None, _) => None,
        (Some(n), ProfileSource::Measure { options, .. }) => {
            let v = verify(opts, options, &output, n, observer)?;
            artifact.points.retain(|p| !v.dropped.contains(&p.id));
            artifact.sort_points();
            uncertainty::widen(&mut artifact, &v.doc);
            load::write_atomically(&output, artifact.to_json_pretty().as_bytes())?;
            Some(v)
        }
        (Some(_), ProfileSource::Files { .. }) => {
            return Err(Error::Input(anyhow!(
                "--verify runs points on the validation split: give --data (and --providers or --zoo), not --profiles"
            )))
        }
    };

    Ok(Compiled {
        workflow: wf,
        space,
        frontier,
        artifact,
        output,
        n_unused_profile_rows: resolved.n_unused_rows,
        measured: profiles.measured,
        models_label,
        timings,
        verified,
    })
}

/// Runs `n` points of the artifact at `output` on the validation split and finds the ones that
/// measure dominated by another verified point.
fn verify(
    opts: &CompileOptions,
    measure: &MeasureOptions,
    output: &Path,
    n: u64,
    observer: &dyn Observer,
) -> Result<Verified> {
    let tested = crate::validate::test(
        &crate::validate::TestOptions {
            workflow: opts.workflow.clone(),
            artifact: output.to_path_buf(),
            data: measure.data.clone(),
            models: measure.models.clone(),
            points: Vec::new(),
            max_points: Some(n),
            limit: measure.limit,
            concurrency: measure.concurrency,
            store: measure.store.clone(),
        },
        observer,
    )?;
    let measured: Vec<(&str, f64, f64)> = tested
        .doc
        .points
        .iter()
        .filter_map(|p| Some((p.id.as_str(), p.measured.accuracy?, p.measured.latency_s?)))
        .collect();
    let dropped = measured
        .iter()
        .filter(|(id, acc, lat)| {
            measured
                .iter()
                .any(|(other, a, l)| other != id && a >= acc && l <= lat && (a > acc || l < lat))
        })
        .map(|(id, ..)| id.to_string())
        .collect();
    Ok(Verified {
        doc: tested.doc,
        dropped,
    })
}

/// Reads `--profiles` (and `--throughput`).
fn from_files(
    opts: &CompileOptions,
    profiles: &Path,
    throughput: Option<&Path>,
) -> Result<Profiles> {
    let files = load::profiles(profiles, throughput)?;
    if opts.latency == LatencyModel::Tokens && throughput.is_none() {
        return Err(Error::Input(anyhow!("--latency tokens needs --throughput FILE with each model's prefill and decode tokens/s")));
    }
    Ok(Profiles {
        table: files.table,
        throughput: files.throughput,
        digest_input: files.digest_input,
        measured: None,
        per_item: None,
        agreement: None,
    })
}

/// Measures the profiles: induction and profiling through the store. Settings without a successful
/// call are refused, or with `drop_unprofiled` removed from `wf`.
fn from_measurement(
    wf: &mut Workflow,
    options: &MeasureOptions,
    drop_unprofiled: bool,
    export_profiles: Option<&Path>,
    observer: &dyn Observer,
) -> Result<Profiles> {
    let m = measure::measure(wf, options, false, observer)?;
    let Some(report) = &m.profile else {
        return Err(Error::Other(anyhow!("profiling did not run")));
    };
    if !report.unprofiled.is_empty() {
        if !drop_unprofiled {
            return Err(Error::Other(
                PipelineError::Unprofiled {
                    settings: report.unprofiled.clone(),
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
        observer.note(&format!(
            "note: compiling without {} unprofiled settings (--drop-unprofiled)",
            report.unprofiled.len()
        ));
        if let Some(a) = wf.agents.iter().find(|a| a.settings.is_empty()) {
            return Err(Error::Other(anyhow!(
                "agent '{}' has no profiled setting left; check its models' endpoints and rerun",
                a.name
            )));
        }
    }
    let throughput: Vec<ThroughputRow> = report.throughput.iter().map(|t| t.row()).collect();
    let source = format!("profiling in {}", options.store.display());
    let table = ProfileTable::from_rows(&source, report.rows.clone())
        .map_err(|e| Error::Other(anyhow!("{e}")))?;
    let mut digest_input = flowcompile_profile::write_csv(&report.rows).into_bytes();
    digest_input.extend(flowcompile_profile::write_throughput_csv(&throughput).into_bytes());
    if let Some(path) = export_profiles {
        measure::export(path, &report.rows, &throughput)?;
    }
    let (per_item, agreement) = per_item_profiles(wf, options, &m.induce.key, report)?;
    Ok(Profiles {
        table,
        throughput,
        digest_input,
        per_item: Some(per_item),
        agreement: Some(agreement),
        measured: Some(m),
    })
}

/// The profiling calls in the store, grouped by validation item, and how the voters' profiled
/// inputs agreed.
fn per_item_profiles(
    wf: &Workflow,
    options: &MeasureOptions,
    induction_key: &str,
    report: &flowcompile_pipeline::ProfileReport,
) -> Result<(ItemProfiles, Agreement)> {
    let keys: Vec<String> = report.agents.iter().map(|a| a.prompt_key.clone()).collect();
    let store =
        flowcompile_store::Store::open(&options.store).map_err(|e| Error::Other(e.into()))?;
    let items = item_profiles(&store, wf, &keys).map_err(|e| Error::Other(e.into()))?;
    let capture = match &options.captured {
        Some(path) => {
            Some(flowcompile_store::Store::open(path).map_err(|e| Error::Other(e.into()))?)
        }
        None => None,
    };
    let agreement = Agreement::read(&store, wf, induction_key, capture.as_ref())
        .map_err(|e| Error::Other(e.into()))?;
    Ok((items, agreement))
}

/// The artifact of a search: its points (with the intervals of the frontier's points, in its
/// order) sorted and numbered, and the space summary.
fn artifact(
    wf: &Workflow,
    space: &DesignSpace,
    frontier: &Frontier,
    intervals: &[uncertainty::PointIntervals],
    optimism: &[Option<f64>],
    provenance: Provenance,
    proxy: ProxyModel,
) -> Artifact {
    let points = frontier
        .points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let interval = intervals.get(i).copied().unwrap_or_default();
            let predicted = Predicted {
                accuracy_interval: interval.accuracy,
                latency_interval_s: interval.latency_s,
                selection_optimism: optimism.get(i).copied().flatten(),
                ..Predicted::new(p.metrics.accuracy, p.metrics.latency_s)
            };
            Point::from_search(wf, space, p.structure, &p.settings, predicted)
        })
        .collect();
    let mut artifact = Artifact {
        format: ArtifactFormat::V2,
        workflow: wf.name.clone(),
        provenance,
        proxy,
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
    artifact
}

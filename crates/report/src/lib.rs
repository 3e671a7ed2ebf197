//! The compile report: what an artifact says, drawn and tabulated for people.
//!
//! [`render`] takes an [`Artifact`] and, optionally, the workflow with its profiles
//! ([`ProfileInputs`]), a held-out [`Validation`] (`flowcompile.validation.v1`) and a measured
//! [`Truth`] (`flowcompile.truth.v1`), and returns a [`Report`]: SVG plots as text ([`Plot`]) and
//! one self-contained HTML page (inline CSS and SVG, no external assets, readable without
//! JavaScript). The plots are drawn by a small SVG writer of this crate:
//! - the predicted frontier (accuracy vs latency, a step line, every point named by its tooltip),
//!   the points the selection presets serve and the knee marked and labelled, the measured points
//!   where validated (labelled, joined to their predictions), the measured truth frontier, and the
//!   uniform baselines: every "all agents on one model and budget" configuration of the largest
//!   structure, predicted by the proxy the artifact was compiled with;
//! - per-agent profiles: accuracy vs latency per (model, budget), one small multiple per agent,
//!   models as coloured series joined in budget order;
//! - fidelity scatter plots: predicted vs measured accuracy and latency (log axes), with y = x and
//!   Spearman's rank correlation in the title.
//!
//! Accuracy axes are fitted to the data (and say so when they do not reach 0 or 1), visible labels
//! never overlap, and the points table folds when it is long.
//!
//! Inputs that do not belong together (another workflow, a validated id the artifact lacks, profiles
//! missing a setting) are errors naming the file and field; digests that differ from the artifact's
//! provenance are shown as warnings in the page. The crate does no I/O, and the same inputs give the
//! same bytes.
//!
//! ```
//! use flowcompile_artifact::import_v2;
//! use flowcompile_report::{render, Inputs};
//!
//! let text = r#"{"schema_version": "flowcompile.compiled.v2", "configs": [
//!   {"config_id": "a", "structure_id": 0, "agents": {"solver": {"model": "m", "budget": 10}},
//!    "metrics": {"expected_accuracy": 0.4, "expected_latency": 1.0}},
//!   {"config_id": "b", "structure_id": 0, "agents": {"solver": {"model": "m", "budget": 90}},
//!    "metrics": {"expected_accuracy": 0.7, "expected_latency": 3.0}}]}"#;
//! let artifact = import_v2(text, "compiled.json").unwrap();
//! let report = render(&Inputs::new(&artifact, "compiled.json")).unwrap();
//! assert!(report.html.starts_with("<!DOCTYPE html>"));
//! assert_eq!(report.plots[0].name, "frontier");
//! assert_eq!(report.plots[0].svg.matches("class=\"marker frontier\"").count(), 2);
//! ```
#![deny(missing_docs)]

mod baseline;
mod chart;
mod docs;
mod error;
mod html;
mod marks;
mod plots;
mod stats;

use std::collections::HashMap;

use flowcompile_artifact::{Artifact, LatencyModel};
use flowcompile_ir::Workflow;
use flowcompile_profile::{resolve, ProfileTable, Resolved, ThroughputRow};

pub use baseline::{uniform_baselines, Baseline};
pub use docs::{
    Affine, Fidelity, FidelityStats, Measured, Metrics, Truth, TruthPoint, TruthSetting,
    ValidatedPoint, Validation, TRUTH_FORMAT, VALIDATION_FORMAT,
};
pub use error::ReportError;
pub use stats::spearman;

/// Everything a report is made from. Only the artifact is required.
#[derive(Clone, Debug)]
pub struct Inputs<'a> {
    /// The compiled artifact.
    pub artifact: &'a Artifact,
    /// The artifact's file name, shown in the page.
    pub artifact_source: &'a str,
    /// Hex SHA-256 of the artifact file, checked against the validation's `artifact_sha256`.
    pub artifact_sha256: Option<&'a str>,
    /// The workflow and profiles it was compiled from: per-agent plots and uniform baselines.
    pub profiles: Option<ProfileInputs<'a>>,
    /// Held-out measurements of artifact points, and the document's file name.
    pub validation: Option<(&'a Validation, &'a str)>,
    /// The measured ground truth of the space, and the document's file name.
    pub truth: Option<(&'a Truth, &'a str)>,
}

impl<'a> Inputs<'a> {
    /// Inputs with only the artifact.
    pub fn new(artifact: &'a Artifact, artifact_source: &'a str) -> Inputs<'a> {
        Inputs {
            artifact,
            artifact_source,
            artifact_sha256: None,
            profiles: None,
            validation: None,
            truth: None,
        }
    }
}

/// The workflow and the profiles an artifact was compiled from.
#[derive(Clone, Debug)]
pub struct ProfileInputs<'a> {
    /// The workflow.
    pub workflow: &'a Workflow,
    /// The workflow file's name, shown in messages.
    pub workflow_source: &'a str,
    /// The profile table.
    pub table: &'a ProfileTable,
    /// Per-model throughput; needed when the artifact's latency model is `tokens`.
    pub throughput: &'a [ThroughputRow],
    /// Hex SHA-256 of the workflow file, checked against the artifact's provenance.
    pub spec_sha256: Option<&'a str>,
    /// Hex SHA-256 of the profiles text followed by the throughput text (as `compile` digests them),
    /// checked against the artifact's provenance.
    pub profiles_sha256: Option<&'a str>,
}

/// A finished report.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The self-contained HTML page.
    pub html: String,
    /// Each plot as a standalone SVG document, in page order.
    pub plots: Vec<Plot>,
    /// Inconsistencies worth a reader's attention (also shown at the top of the page).
    pub warnings: Vec<String>,
}

/// One plot.
#[derive(Clone, Debug, PartialEq)]
pub struct Plot {
    /// File stem: `frontier`, `profiles`, `fidelity-accuracy`, `fidelity-latency`.
    pub name: String,
    /// What it shows.
    pub title: String,
    /// The SVG document.
    pub svg: String,
}

/// What the page and plots are drawn from, after checking the inputs against each other.
pub(crate) struct Model<'a> {
    pub inputs: &'a Inputs<'a>,
    pub resolved: Option<Resolved>,
    pub baselines: Vec<Baseline>,
    /// The structure the baselines use, with its knob values, when there are profiles.
    pub baseline_structure: Option<(usize, String)>,
    /// Per artifact point index, its validated measurement.
    pub measured: HashMap<usize, &'a ValidatedPoint>,
    /// Models in a stable order (workflow's settings order, then artifact order), for colours.
    pub models: Vec<String>,
    /// The points the presets serve, and the knee.
    pub marks: marks::Marks,
    pub warnings: Vec<String>,
}

impl Model<'_> {
    /// The colour of a model, the same in every plot.
    pub fn model_color(&self, model: &str) -> &'static str {
        const MODEL_COLORS: [&str; 8] = [
            "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#bab0ac",
        ];
        let i = self.models.iter().position(|m| m == model).unwrap_or(0);
        MODEL_COLORS[i % MODEL_COLORS.len()]
    }
}

/// Builds the report. Errors when an input belongs to another workflow, a validated point is not in
/// the artifact, or the profiles miss a setting of the workflow.
pub fn render(inputs: &Inputs) -> Result<Report, ReportError> {
    let model = check(inputs)?;
    let plots = plots::all(&model);
    let html = html::page(&model, &plots);
    Ok(Report {
        html,
        plots,
        warnings: model.warnings.clone(),
    })
}

fn check<'a>(inputs: &'a Inputs<'a>) -> Result<Model<'a>, ReportError> {
    let artifact = inputs.artifact;
    let mut warnings = Vec::new();
    let same_workflow = |file: &str, found: &str| {
        if found == artifact.workflow {
            Ok(())
        } else {
            Err(ReportError::WorkflowMismatch {
                file: file.into(),
                expected: artifact.workflow.clone(),
                found: found.into(),
            })
        }
    };
    let mut models: Vec<String> = Vec::new();
    let mut add_model = |m: &str| {
        if !models.iter().any(|x| x == m) {
            models.push(m.to_string());
        }
    };

    let (mut resolved, mut baselines, mut baseline_structure) = (None, Vec::new(), None);
    if let Some(p) = &inputs.profiles {
        same_workflow(p.workflow_source, &p.workflow.name)?;
        let digest_check = |what: &str, given: Option<&str>, recorded: &Option<String>| {
            match (given, recorded) {
                (Some(g), Some(r)) if g != r => Some(format!(
                    "the {what} given (sha256 {}) is not the one the artifact was compiled from (sha256 {}): baselines and profiles may not match the frontier",
                    short(g),
                    short(r)
                )),
                _ => None,
            }
        };
        warnings.extend(digest_check(
            "workflow file",
            p.spec_sha256,
            &artifact.provenance.spec_sha256,
        ));
        warnings.extend(digest_check(
            "profiles",
            p.profiles_sha256,
            &artifact.provenance.profiles_sha256,
        ));
        let latency = artifact.proxy.latency;
        if latency == LatencyModel::Tokens && p.throughput.is_empty() {
            return Err(ReportError::ThroughputNeeded);
        }
        let exec = artifact.proxy.execution;
        let space = p.workflow.design_space()?;
        let r = resolve(p.workflow, p.table, p.throughput, latency)?;
        if !r.unknown_agents.is_empty() {
            warnings.push(format!(
                "the profiles have rows for agents the workflow does not have: {}",
                r.unknown_agents.join(", ")
            ));
        }
        let dep = flowcompile_proxy::Dependence::new(artifact.proxy.dependence);
        baselines = uniform_baselines(p.workflow, &space, &r, exec, dep);
        let s = space.largest_structure();
        let knobs = space.structures[s]
            .knobs
            .iter()
            .map(|k| format!("{}={}", p.workflow.node(k.node).name, k.value))
            .collect::<Vec<_>>()
            .join(", ");
        baseline_structure = Some((s, knobs));
        for agent in &p.workflow.agents {
            agent.settings.iter().for_each(|s| add_model(&s.model));
        }
        resolved = Some(r);
    }
    for point in &artifact.points {
        point.settings.values().for_each(|s| add_model(&s.model));
    }

    let mut measured = HashMap::new();
    if let Some((v, source)) = inputs.validation {
        same_workflow(source, &v.workflow)?;
        if let (Some(given), Some(recorded)) = (inputs.artifact_sha256, &v.artifact_sha256) {
            if given != recorded {
                warnings.push(format!(
                    "{source} was measured on another artifact (sha256 {}) than {} (sha256 {}): its predictions may not be this artifact's",
                    short(recorded),
                    inputs.artifact_source,
                    short(given)
                ));
            }
        }
        for (index, vp) in v.points.iter().enumerate() {
            let Some(i) = artifact.points.iter().position(|p| p.id == vp.id) else {
                return Err(ReportError::UnknownPoint {
                    file: source.into(),
                    index,
                    id: vp.id.clone(),
                    last: artifact.points.len() - 1,
                });
            };
            let predicted = artifact.points[i].predicted;
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0);
            if !close(predicted.accuracy, vp.predicted.accuracy)
                || !close(predicted.latency_s, vp.predicted.latency_s)
            {
                warnings.push(format!(
                    "{source}: points[{index}] ({}) predicts accuracy {:.4}, latency {:.3} s but the artifact's {} predicts {:.4}, {:.3} s",
                    vp.id,
                    vp.predicted.accuracy,
                    vp.predicted.latency_s,
                    vp.id,
                    predicted.accuracy,
                    predicted.latency_s
                ));
            }
            if vp.measured.is_some() {
                measured.insert(i, vp);
            }
        }
        let n_unmeasured = v.points.iter().filter(|p| p.measured.is_none()).count();
        if n_unmeasured > 0 {
            warnings.push(format!(
                "{source}: {n_unmeasured} of {} points have no measurement (measured is null)",
                v.points.len()
            ));
        }
        if let (Some(a), Some(b)) = (&artifact.provenance.models_label, &v.models_label) {
            if a != b {
                warnings.push(format!(
                    "the artifact's models are labelled '{a}' but {source} measured '{b}'"
                ));
            }
        }
    }
    if let Some((t, source)) = inputs.truth {
        same_workflow(source, &t.workflow)?;
    }
    Ok(Model {
        inputs,
        resolved,
        baselines,
        baseline_structure,
        measured,
        models,
        marks: marks::Marks::of(&artifact.points),
        warnings,
    })
}

/// The first 12 hex digits of a digest, for display.
pub(crate) fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

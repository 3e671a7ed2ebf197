//! The `flowcompile.truth.v1` document and the comparison of a compiled artifact with the truth.

use std::collections::HashMap;

use flowcompile_artifact::{Artifact, Predicted};
use flowcompile_ir::{DesignSpace, Setting, Workflow};
use flowcompile_runner::Config;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::measure::Measured;
use crate::pareto::{frontier, hypervolume, speedup_at_matched_accuracy, Measure};
use crate::space::describe;
use crate::TruthError;

/// Format marker of truth documents.
pub const FORMAT: &str = "flowcompile.truth.v1";

/// A slot's setting in a truth document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SettingOut {
    /// Model name.
    pub model: String,
    /// Thinking-token budget.
    pub budget_tokens: u32,
}

/// One measured configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TruthPoint {
    /// Index of the configuration in the study's canonical enumeration.
    pub config: usize,
    /// Structure index (canonical order of the design space).
    pub structure: usize,
    /// Knob values of the structure, by knob node name.
    pub knobs: IndexMap<String, u32>,
    /// Setting of each slot the structure calls, by slot name.
    pub settings: IndexMap<String, SettingOut>,
    /// Fraction of items answered correctly.
    pub accuracy: f64,
    /// Mean modelled seconds per item.
    pub latency_s: f64,
    /// Mean score (e.g. F1) per item.
    pub mean_score: f64,
    /// Mean prompt plus completion tokens per item.
    pub tokens_mean: f64,
}

/// The space the study enumerated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SpaceOut {
    /// Models kept (empty: every model of the workflow).
    pub models: Vec<String>,
    /// Budgets kept (empty: every budget of the workflow).
    pub budgets: Vec<u32>,
    /// Number of structures.
    pub n_structures: usize,
}

/// The hypervolume reference point: accuracy 0 and the largest measured latency of the space.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Reference {
    /// Accuracy of the reference point (0).
    pub accuracy: f64,
    /// Latency of the reference point: the slowest configuration's measured latency.
    pub latency_s: f64,
}

/// A compiled point, predicted by the proxy and measured by the study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ComparedPoint {
    /// The artifact's point id.
    pub id: String,
    /// Index of its configuration in the study's enumeration.
    pub config: usize,
    /// What the artifact predicted.
    pub predicted: Predicted,
    /// What the study measured.
    pub measured: Measure,
    /// Whether the configuration is on the true frontier.
    pub on_true_frontier: bool,
}

/// How a compiled frontier fares against the truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Comparison {
    /// The artifact file.
    pub artifact: String,
    /// Points in the artifact.
    pub n_points: usize,
    /// Of those, how many are configurations of the true frontier.
    pub n_points_on_true_frontier: usize,
    /// Hypervolume of the compiled points at their measured metrics.
    pub hypervolume_compiled: f64,
    /// Hypervolume of the true frontier.
    pub hypervolume_true: f64,
    /// `hypervolume_compiled / hypervolume_true`, in [0, 1].
    pub hypervolume_ratio: f64,
    /// Best uniform latency / latency of the fastest compiled point measured at least as accurate;
    /// `null` when no compiled point is.
    pub speedup_at_matched_accuracy: Option<f64>,
    /// The compiled point behind the speedup.
    pub matched_point: Option<String>,
    /// The same speedup for the true frontier (the best any compiler could report on this space).
    pub true_speedup_at_matched_accuracy: Option<f64>,
    /// Every compiled point, predicted and measured, in artifact order.
    pub points: Vec<ComparedPoint>,
}

/// The JSON Schema of [`TruthReport`] (`flowcompile schema truth`).
pub fn json_schema() -> serde_json::Value {
    schemars::schema_for!(TruthReport).to_value()
}

/// A `flowcompile.truth.v1` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TruthReport {
    /// Always [`FORMAT`].
    pub format: String,
    /// Workflow name.
    pub workflow: String,
    /// What answered the calls (the in-process zoo: "zoo (synthetic)").
    pub models_label: Option<String>,
    /// The dataset split (file name).
    pub data: String,
    /// Configurations measured (all of the space).
    pub n_configs: usize,
    /// Items each configuration ran on.
    pub n_items: usize,
    /// The space.
    pub space: SpaceOut,
    /// The hypervolume reference point.
    pub reference_point: Reference,
    /// Hypervolume of the true frontier.
    pub hypervolume: f64,
    /// The true measured Pareto frontier, fastest first.
    pub frontier: Vec<TruthPoint>,
    /// The most accurate uniform configuration (every slot on one setting) of the largest structure
    /// (`DesignSpace::largest_structure`); ties to the faster, then the earlier.
    pub best_uniform: Option<TruthPoint>,
    /// The comparison with a compiled artifact, when one was given.
    pub comparison: Option<Comparison>,
}

/// The enumerated configurations and their measurements, and what the documents need to name them.
pub struct Table<'a> {
    /// The (restricted) workflow.
    pub wf: &'a Workflow,
    /// Its design space.
    pub space: &'a DesignSpace,
    /// Every configuration, in canonical order.
    pub configs: &'a [Config],
    /// One measurement per configuration.
    pub measured: &'a [Measured],
}

impl Table<'_> {
    fn measures(&self) -> Vec<Measure> {
        self.measured.iter().map(|m| m.measure).collect()
    }

    /// The reference point: accuracy 0, the slowest measured latency.
    pub fn reference(&self) -> Reference {
        Reference {
            accuracy: 0.0,
            latency_s: self
                .measured
                .iter()
                .map(|m| m.measure.latency_s)
                .fold(0.0, f64::max),
        }
    }

    fn reference_measure(&self) -> Measure {
        let r = self.reference();
        Measure {
            accuracy: r.accuracy,
            latency_s: r.latency_s,
        }
    }

    /// Indices of the true frontier, fastest first.
    pub fn frontier(&self) -> Vec<usize> {
        frontier(&self.measures())
    }

    /// Index of the best uniform configuration of the largest structure, if the space has one.
    pub fn best_uniform(&self) -> Option<usize> {
        if self.space.structures.is_empty() {
            return None;
        }
        let full = self.space.largest_structure();
        self.configs
            .iter()
            .enumerate()
            .filter(|(_, c)| c.structure == full && uniform(c).is_some())
            .map(|(i, _)| i)
            .min_by(|&a, &b| {
                let (p, q) = (&self.measured[a].measure, &self.measured[b].measure);
                q.accuracy
                    .total_cmp(&p.accuracy)
                    .then(p.latency_s.total_cmp(&q.latency_s))
                    .then(a.cmp(&b))
            })
    }

    /// Configuration `index` as a document point.
    pub fn point(&self, index: usize) -> TruthPoint {
        let config = &self.configs[index];
        let structure = &self.space.structures[config.structure];
        let m = &self.measured[index];
        TruthPoint {
            config: index,
            structure: config.structure,
            knobs: structure
                .knobs
                .iter()
                .map(|k| (self.wf.node(k.node).name.clone(), k.value))
                .collect(),
            settings: structure
                .slots
                .iter()
                .filter_map(|s| {
                    let setting = config.setting(*s)?;
                    Some((
                        self.space.slots[s.0 as usize].name.clone(),
                        SettingOut {
                            model: setting.model.clone(),
                            budget_tokens: setting.budget_tokens,
                        },
                    ))
                })
                .collect(),
            accuracy: m.measure.accuracy,
            latency_s: m.measure.latency_s,
            mean_score: m.mean_score,
            tokens_mean: m.tokens_mean,
        }
    }

    /// The document (without a comparison) for a study of `n_items` items of `data` over `space`.
    pub fn report(&self, data: &str, n_items: usize, space: SpaceOut) -> TruthReport {
        let front = self.frontier();
        let front_measures: Vec<Measure> =
            front.iter().map(|&i| self.measured[i].measure).collect();
        TruthReport {
            format: FORMAT.into(),
            workflow: self.wf.name.clone(),
            models_label: Some(flowcompile_zoo::LABEL.into()),
            data: data.into(),
            n_configs: self.configs.len(),
            n_items,
            space,
            reference_point: self.reference(),
            hypervolume: hypervolume(&front_measures, self.reference_measure()),
            frontier: front.iter().map(|&i| self.point(i)).collect(),
            best_uniform: self.best_uniform().map(|i| self.point(i)),
            comparison: None,
        }
    }

    /// Compares the compiled points (located by [`locate`]) at their measured metrics with the true
    /// frontier: hypervolume ratio and speedup at matched accuracy over the best uniform configuration.
    pub fn compare(&self, artifact: &Artifact, name: &str, located: &[usize]) -> Comparison {
        let front = self.frontier();
        let points: Vec<ComparedPoint> = artifact
            .points
            .iter()
            .zip(located)
            .map(|(p, &i)| ComparedPoint {
                id: p.id.clone(),
                config: i,
                predicted: p.predicted,
                measured: self.measured[i].measure,
                on_true_frontier: front.contains(&i),
            })
            .collect();
        let reference = self.reference_measure();
        let compiled: Vec<Measure> = points.iter().map(|p| p.measured).collect();
        let truth: Vec<Measure> = front.iter().map(|&i| self.measured[i].measure).collect();
        let (hv_compiled, hv_true) = (
            hypervolume(&compiled, reference),
            hypervolume(&truth, reference),
        );
        let uniform = self.best_uniform().map(|i| self.measured[i].measure);
        let matched = uniform.and_then(|u| speedup_at_matched_accuracy(u, &compiled));
        Comparison {
            artifact: name.into(),
            n_points: points.len(),
            n_points_on_true_frontier: points.iter().filter(|p| p.on_true_frontier).count(),
            hypervolume_compiled: hv_compiled,
            hypervolume_true: hv_true,
            hypervolume_ratio: if hv_true > 0.0 {
                hv_compiled / hv_true
            } else {
                0.0
            },
            speedup_at_matched_accuracy: matched.map(|(_, s)| s),
            matched_point: matched.map(|(i, _)| points[i].id.clone()),
            true_speedup_at_matched_accuracy: uniform
                .and_then(|u| speedup_at_matched_accuracy(u, &truth))
                .map(|(_, s)| s),
            points,
        }
    }
}

/// The index in `configs` of each point of `artifact`, found by structure and settings; the artifact
/// must be for workflow `wf` and every point a configuration of `configs` (an error names the first
/// that is not). Cheap: call it before measuring, so that a mismatched artifact fails at once.
pub fn locate(
    wf: &Workflow,
    space: &DesignSpace,
    configs: &[Config],
    artifact: &Artifact,
    name: &str,
) -> Result<Vec<usize>, TruthError> {
    if artifact.workflow != wf.name {
        return Err(TruthError::Artifact {
            artifact: name.into(),
            message: format!(
                "it was compiled for workflow `{}`, not `{}`",
                artifact.workflow, wf.name
            ),
        });
    }
    let index: HashMap<(usize, &[Option<Setting>]), usize> = configs
        .iter()
        .enumerate()
        .map(|(i, c)| ((c.structure, c.settings.as_slice()), i))
        .collect();
    artifact
        .points
        .iter()
        .map(|p| {
            let not_here = |why: String| TruthError::Artifact {
                artifact: name.into(),
                message: format!(
                    "point {} is not a configuration of the measured space: {why}; compile with the same --models and --budgets",
                    p.id
                ),
            };
            let config =
                p.config(space).map_err(|e| not_here(e.to_string()))?;
            index
                .get(&(config.structure, config.settings.as_slice()))
                .copied()
                .ok_or_else(|| {
                    not_here(format!(
                        "structure {} with {}",
                        config.structure,
                        describe(&config, space)
                    ))
                })
        })
        .collect()
}

/// The one setting every called slot of `config` has, if they all have the same.
fn uniform(config: &Config) -> Option<&Setting> {
    let mut set = config.settings.iter().flatten();
    let first = set.next()?;
    set.all(|s| s == first).then_some(first)
}

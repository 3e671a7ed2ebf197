//! The serde types of `flowcompile.artifact.v2` (and of v1, which is v2 without intervals): what a
//! compilation produced and how.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use flowcompile_ir::{
    Config, ConfigCount, ConfigError, DesignSpace, ExecutionModel, LatencyModel, Setting, SlotId,
    Workflow,
};

/// The format marker of the first artifact version, which predates intervals.
pub const FORMAT_V1: &str = "flowcompile.artifact.v1";

/// The format marker of the current artifact version: v1 plus 90% intervals on the predictions.
pub const FORMAT_V2: &str = "flowcompile.artifact.v2";

/// The two-sided level of every interval a v2 artifact stores: 0.9, a 90% interval (5% below, 5%
/// above). `proxy.intervals.level` records it; other levels are refused on reading.
pub const INTERVAL_LEVEL: f64 = 0.9;

/// The format marker of the research prototype's output, which [`crate::import_v2`] reads.
pub const FORMAT_PROTOTYPE_V2: &str = "flowcompile.compiled.v2";

/// A compiled workflow: the predicted accuracy/latency frontier, each point a full configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "flowcompile artifact v2")]
pub struct Artifact {
    /// Format marker: `flowcompile.artifact.v2`, or `flowcompile.artifact.v1` for an artifact that
    /// predates intervals (read, never written).
    pub format: ArtifactFormat,
    /// Name of the compiled workflow (the served model name).
    pub workflow: String,
    /// What produced the artifact, from which inputs.
    pub provenance: Provenance,
    /// How the proxy predicted the points.
    pub proxy: ProxyModel,
    /// Size of the design space searched; absent for an imported artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space: Option<SpaceSummary>,
    /// The points, by predicted latency ascending then accuracy descending, with ids `p0`, `p1`...
    #[schemars(length(min = 1))]
    pub points: Vec<Point>,
}

/// The format marker; one variant per supported version.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ArtifactFormat {
    /// `flowcompile.artifact.v1`: no intervals (compiled before they existed, or imported).
    #[serde(rename = "flowcompile.artifact.v1")]
    V1,
    /// `flowcompile.artifact.v2`: predictions may carry 90% intervals ([`Intervals`]).
    #[default]
    #[serde(rename = "flowcompile.artifact.v2")]
    V2,
}

impl ArtifactFormat {
    /// The marker as written in the `format` field.
    pub fn marker(self) -> &'static str {
        match self {
            ArtifactFormat::V1 => FORMAT_V1,
            ArtifactFormat::V2 => FORMAT_V2,
        }
    }
}

/// What produced an artifact, and digests of its inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The tool, `flowcompile`.
    pub tool: String,
    /// The tool's version.
    pub tool_version: String,
    /// Hex SHA-256 of the workflow spec file; absent for an imported artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^[0-9a-f]{64}$"))]
    pub spec_sha256: Option<String>,
    /// Hex SHA-256 of the profiles file; absent for an imported artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^[0-9a-f]{64}$"))]
    pub profiles_sha256: Option<String>,
    /// Where the models' profiles came from when not real models (e.g. `zoo (synthetic)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models_label: Option<String>,
    /// The file this artifact was imported from (a prototype `flowcompile.compiled.v2` output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_from: Option<String>,
}

/// The proxy's execution and latency model.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxyModel {
    /// How parallel branches' latencies compose.
    pub execution: ExecutionModel,
    /// Where agent latencies came from.
    pub latency: LatencyModel,
    /// How any-of candidates' failures co-occur, from 0 (independent: the paper's proxy, and what
    /// artifacts without the field mean) to 1 (comonotone); see `flowcompile_proxy::Dependence`.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub dependence: f64,
    /// How the points' intervals were made; absent when no point has one (a v1 artifact, or
    /// profiles read from files, which hold averages only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intervals: Option<Intervals>,
    /// How the points' accuracies were corrected for their selection on the items they were
    /// predicted from; absent when they were not (profiles read from files, `--proxy independent`,
    /// artifacts before the correction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<SelectionCorrection>,
}

/// The selection-optimism correction of an artifact's accuracies: the validation items resampled
/// with replacement, the whole selection (profiles, exact search, item-wise prediction) run again on
/// each resample, and each point lowered by the mean of how much the resample's pick at its latency
/// was more accurate on the resample than on the original items (the optimism bootstrap).
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectionCorrection {
    /// Resamples of the selection.
    #[schemars(range(min = 1))]
    pub resamples: u32,
    /// Seed of the resampling (the same inputs and seed give the same correction, bit for bit).
    pub seed: u64,
}

/// How the intervals of an artifact's points were made, and what they promise.
///
/// Each interval is a 90% interval ([`INTERVAL_LEVEL`]) for the point's *population* figure: the
/// accuracy (or mean latency) the proxy would predict from profiles measured on unlimited
/// validation items. It carries the sampling noise of the validation items the profiles were
/// measured on (and, after `compile --verify`, the proxy's own error measured end to end), not the
/// noise of the sample a later measurement uses: `flowcompile test` widens it by its own sample's
/// binomial noise before it counts coverage.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Intervals {
    /// Two-sided level of every interval: always 0.9 ([`INTERVAL_LEVEL`]).
    #[schemars(range(min = 0.9, max = 0.9))]
    pub level: f64,
    /// How they were computed.
    pub method: IntervalMethod,
    /// Bootstrap resamples.
    #[schemars(range(min = 1))]
    pub resamples: u32,
    /// Seed of the resampling (the same inputs and seed give the same intervals, bit for bit).
    pub seed: u64,
    /// When `compile --verify` widened the accuracy intervals: the root mean square of the
    /// verified points' measured minus predicted accuracy, added in quadrature at the interval's
    /// level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub verified_accuracy_rms: Option<f64>,
    /// When `compile --verify` widened the latency intervals: the root mean square of the verified
    /// points' measured over predicted latency minus 1, added in quadrature (relative to each
    /// point's predicted latency) at the interval's level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub verified_latency_rel_rms: Option<f64>,
}

/// How an artifact's intervals were computed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum IntervalMethod {
    /// Validation items resampled with replacement; per resample, every agent's (model, budget)
    /// accuracy and latency and the any-of dependence are measured again from the resampled items'
    /// profiling calls and each point is predicted again by the same proxy; the interval is the
    /// resamples' 5th to 95th percentile, shifted to the point's prediction and made to contain it.
    #[serde(rename = "bootstrap-items")]
    BootstrapItems,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// Size of the design space before and after dominance pruning.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpaceSummary {
    /// Number of valid structures.
    pub n_structures: u64,
    /// Number of configurations: exact digits, or `~1.2e57` when too large to count exactly.
    #[schemars(pattern(r"^([0-9]+|~[0-9.eE+-]+)$"))]
    pub n_configs: String,
    /// Number of configurations after pruning dominated settings, spelled like `n_configs`.
    #[schemars(pattern(r"^([0-9]+|~[0-9.eE+-]+)$"))]
    pub n_configs_after_pruning: String,
    /// Each slot (what receives one setting) with its settings before and after pruning.
    pub slots: Vec<SlotSummary>,
}

impl SpaceSummary {
    /// A configuration count as the artifact spells it: exact digits without separators, or `~1.2e57`.
    pub fn count_text(count: ConfigCount) -> String {
        match count {
            ConfigCount::Exact(n) => n.to_string(),
            ConfigCount::Approx(x) => format!("~{x:.1e}"),
        }
    }
}

/// One slot of the design space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotSummary {
    /// Slot name: the agent's name, or `agent#k` for its k-th call site.
    pub name: String,
    /// The agent called there.
    pub agent: String,
    /// Settings the space allows.
    pub settings_total: u32,
    /// Settings left after pruning dominated ones.
    pub settings_kept: u32,
}

/// One configuration on the frontier and its predicted metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Point {
    /// `p<i>` where i is the point's position in the artifact.
    #[schemars(pattern(r"^p(0|[1-9][0-9]*)$"))]
    pub id: String,
    /// The structure (choice of the structure knobs).
    pub structure: PointStructure,
    /// Setting of each slot the structure calls, by slot name.
    pub settings: IndexMap<String, PointSetting>,
    /// What the proxy predicts for this configuration.
    pub predicted: Predicted,
    /// Ids in the file this point was imported from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// A structure of the design space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PointStructure {
    /// Index into the design space's structures (canonical order).
    pub index: u32,
    /// Value of each knob the structure visits, by knob node name (1/0 for an optional step, the count
    /// for a repeat or retry).
    pub knobs: IndexMap<String, u32>,
}

/// The (model, budget) setting of one slot.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PointSetting {
    /// Model name.
    pub model: String,
    /// Thinking-token budget (key `budget`).
    #[serde(rename = "budget")]
    pub budget_tokens: u32,
}

/// Predicted workflow accuracy and latency, with their 90% intervals when the artifact has them.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Predicted {
    /// Probability that the workflow's answer is correct, in [0, 1].
    #[schemars(range(min = 0.0, max = 1.0))]
    pub accuracy: f64,
    /// Expected seconds per query.
    #[schemars(range(min = 0.0))]
    pub latency_s: f64,
    /// 90% interval `[lo, hi]` of the accuracy (see [`Intervals`]): 0 <= lo <= accuracy <= hi <= 1.
    /// Absent in a v1 artifact, and where a setting the point uses was measured on too few
    /// validation items for one (compile warns, naming the agent, setting and count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_interval: Option<[f64; 2]>,
    /// 90% interval `[lo, hi]` of the latency, seconds: 0 <= lo <= latency_s <= hi. Absent as
    /// `accuracy_interval` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_interval_s: Option<[f64; 2]>,
    /// How much `accuracy` (and its interval) was lowered for the point's selection on the items it
    /// was predicted from (see [`SelectionCorrection`]); absent when it was not corrected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection_optimism: Option<f64>,
}

impl Predicted {
    /// A prediction without intervals.
    pub fn new(accuracy: f64, latency_s: f64) -> Predicted {
        Predicted {
            accuracy,
            latency_s,
            accuracy_interval: None,
            latency_interval_s: None,
            selection_optimism: None,
        }
    }
}

/// The ids an imported point had in its source file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    /// The source's `config_id`.
    pub config_id: String,
    /// The source's `structure_id`, as written.
    pub structure_id: String,
}

impl Point {
    /// The point of a search result: structure `structure` of `space` with, per slot, an index into
    /// its agent's settings, and its predicted metrics (`id` is set by [`Artifact::sort_points`]).
    pub fn from_search(
        wf: &Workflow,
        space: &DesignSpace,
        structure: usize,
        settings: &[(SlotId, u32)],
        predicted: Predicted,
    ) -> Point {
        Point {
            id: String::new(),
            structure: PointStructure {
                index: structure as u32,
                knobs: space.structures[structure]
                    .knobs
                    .iter()
                    .map(|k| (wf.node(k.node).name.clone(), k.value))
                    .collect(),
            },
            settings: settings
                .iter()
                .map(|(slot, setting)| {
                    let slot = &space.slots[slot.0 as usize];
                    let s = &wf.agent(slot.agent).settings[*setting as usize];
                    (
                        slot.name.clone(),
                        PointSetting {
                            model: s.model.clone(),
                            budget_tokens: s.budget_tokens,
                        },
                    )
                })
                .collect(),
            predicted,
            origin: None,
        }
    }

    /// The configuration this point names in `space`: `structure.index` and settings by slot name.
    pub fn config(&self, space: &DesignSpace) -> Result<Config, ConfigError> {
        let mut resolved = Vec::with_capacity(self.settings.len());
        for (name, s) in &self.settings {
            let slot = space
                .slots
                .iter()
                .position(|sl| &sl.name == name)
                .ok_or_else(|| ConfigError::UnknownSlot { slot: name.clone() })?;
            resolved.push((
                SlotId(slot as u32),
                Setting::new(s.model.clone(), s.budget_tokens),
            ));
        }
        Config::new(space, self.structure.index as usize, resolved)
    }
}

impl Artifact {
    /// Sorts the points by predicted latency ascending, then accuracy descending (stable otherwise),
    /// and renumbers their ids `p0`, `p1`... in that order.
    pub fn sort_points(&mut self) {
        // Equal values (0.0 and -0.0 included) compare equal, as in `validate`; NaN takes the total order.
        let cmp = |x: f64, y: f64| x.partial_cmp(&y).unwrap_or_else(|| x.total_cmp(&y));
        self.points.sort_by(|a, b| {
            cmp(a.predicted.latency_s, b.predicted.latency_s)
                .then(cmp(b.predicted.accuracy, a.predicted.accuracy))
        });
        for (i, p) in self.points.iter_mut().enumerate() {
            p.id = format!("p{i}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowcompile_ir::{Agent, AgentId, Count, NodeKind};

    fn space() -> (Workflow, DesignSpace) {
        let settings = vec![Setting::new("small", 10), Setting::new("big", 100)];
        let mut wf = Workflow::new("w", vec![Agent::new("gen", settings)]);
        let gen = wf.add_node("gen", NodeKind::Agent(AgentId(0)));
        wf.root = wf.add_node(
            "gens",
            NodeKind::Repeat {
                body: gen,
                count: Count::new(1, 2),
            },
        );
        let space = wf.design_space().unwrap();
        (wf, space)
    }

    #[test]
    fn a_point_names_its_configuration_by_slot_names() {
        let (wf, space) = space();
        let predicted = Predicted::new(0.5, 1.0);
        let point = Point::from_search(&wf, &space, 0, &[(SlotId(0), 0)], predicted);
        assert_eq!(point.structure.knobs["gens"], 1);
        assert_eq!(point.settings["gen"].model, "small");
        let c = point.config(&space).unwrap();
        assert_eq!(
            (c.structure, c.setting(SlotId(0)).unwrap().budget_tokens),
            (0, 10)
        );
        let mut bad = point.clone();
        bad.settings
            .insert("nope".into(), bad.settings["gen"].clone());
        assert_eq!(
            bad.config(&space).unwrap_err(),
            ConfigError::UnknownSlot {
                slot: "nope".into()
            }
        );
    }

    #[test]
    fn counts_are_spelled_exactly_or_approximately() {
        assert_eq!(
            SpaceSummary::count_text(ConfigCount::Exact(1_043_280)),
            "1043280"
        );
        assert_eq!(
            SpaceSummary::count_text(ConfigCount::Approx(1.234e57)),
            "~1.2e57"
        );
    }
}

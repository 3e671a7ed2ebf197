//! What a reply says about its run: the `flowcompile` extension object and the response headers.

use super::{
    MEASURED_LATENCY_HEADER, POINT_HEADER, PREDICTED_ACCURACY_HEADER, PREDICTED_LATENCY_HEADER,
    STRUCTURE_HEADER, WORKFLOW_HEADER,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use flowcompile_artifact::{Point, PointSetting, PointStructure, Predicted};
use flowcompile_runner::{CallRecord, ToolRecord};
use indexmap::IndexMap;
use serde::Serialize;

/// The flowcompile extension object of a chat completion (`"flowcompile": {...}`): which point ran,
/// why, what it predicts and what the run measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunInfo {
    /// Workflow (model) name.
    pub workflow: String,
    /// Point id in the artifact.
    pub point: String,
    /// The point's structure: index and knob values.
    pub structure: PointStructure,
    /// Model and thinking budget per slot.
    pub settings: IndexMap<String, PointSetting>,
    /// How the point was chosen.
    pub selected_by: Selection,
    /// The compiler's prediction for the point, with its 90% intervals when the artifact has them.
    pub predicted: Predicted,
    /// What this run measured.
    pub measured: Measured,
    /// Which models answered (e.g. `zoo (synthetic)`), when known.
    pub models_label: Option<String>,
    /// Every model call and tool run, when the request asked for the trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<Trace>,
}

/// How a request chose its point.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Selection {
    /// Preference weight b in [0, 1], when one decided.
    pub preference: Option<f64>,
    /// Accuracy floor asked for.
    pub min_accuracy: Option<f64>,
    /// Latency ceiling asked for, seconds.
    pub max_latency_s: Option<f64>,
    /// Confidence asked for: the limits were checked on the bounds of the points' intervals at
    /// this level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// Point id named by the model suffix (`math@p3`).
    pub point: Option<String>,
    /// When the KNN router chose the configuration: how.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routed: Option<RoutedBy>,
}

/// How the KNN router chose a request's configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoutedBy {
    /// Nearest validation queries averaged.
    pub k: usize,
    /// Their ids, most similar first.
    pub neighbours: Vec<String>,
    /// Cosine similarity of the nearest one (absent for an input without words).
    pub nearest_similarity: Option<f32>,
    /// Share of (agent, setting, neighbour) cells that fell back to the global profile.
    pub fallback_share: f64,
    /// Points on the query's frontier.
    pub frontier_points: usize,
}

/// Measurements of one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Measured {
    /// Wall seconds of the workflow run.
    pub latency_s: f64,
    /// Modelled seconds along the critical path (the server's modelled latency, wall when absent).
    pub modelled_latency_s: f64,
    /// Model calls made.
    pub calls: usize,
    /// Tool runs.
    pub tools: usize,
}

/// The calls and tool runs of one request, in site order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trace {
    /// Model calls.
    pub calls: Vec<CallRecord>,
    /// Tool runs.
    pub tools: Vec<ToolRecord>,
}

/// A chat completion with the flowcompile extension.
#[derive(Serialize)]
pub(super) struct Reply<T> {
    #[serde(flatten)]
    pub(super) base: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) flowcompile: Option<RunInfo>,
}

/// Header carrying the 90% interval of the point's predicted accuracy, `lo,hi`, when it has one.
pub(super) const PREDICTED_ACCURACY_INTERVAL_HEADER: &str =
    "x-flowcompile-predicted-accuracy-interval";

/// Header carrying the 90% interval of the point's predicted latency, `lo,hi` seconds, when it has
/// one.
pub(super) const PREDICTED_LATENCY_INTERVAL_HEADER: &str =
    "x-flowcompile-predicted-latency-interval-s";

/// The response headers naming the point and its figures.
pub(super) fn info_headers(info: &RunInfo) -> HeaderMap {
    let mut h = headers(
        &info.workflow,
        &info.point,
        info.structure.index,
        &info.predicted,
    );
    if let Ok(v) = HeaderValue::from_str(&info.measured.latency_s.to_string()) {
        h.insert(HeaderName::from_static(MEASURED_LATENCY_HEADER), v);
    }
    h
}

/// The headers of a reply that starts before its run ends: [`info_headers`] without what the run
/// measured (the last streamed chunk has it).
pub(super) fn point_headers(workflow: &str, point: &Point) -> HeaderMap {
    headers(workflow, &point.id, point.structure.index, &point.predicted)
}

fn headers(workflow: &str, point: &str, structure: u32, predicted: &Predicted) -> HeaderMap {
    let mut h = HeaderMap::new();
    let values = [
        (WORKFLOW_HEADER, workflow.to_string()),
        (POINT_HEADER, point.to_string()),
        (STRUCTURE_HEADER, structure.to_string()),
        (PREDICTED_ACCURACY_HEADER, predicted.accuracy.to_string()),
        (PREDICTED_LATENCY_HEADER, predicted.latency_s.to_string()),
    ];
    let intervals = [
        (
            PREDICTED_ACCURACY_INTERVAL_HEADER,
            predicted.accuracy_interval,
        ),
        (
            PREDICTED_LATENCY_INTERVAL_HEADER,
            predicted.latency_interval_s,
        ),
    ];
    let intervals = intervals
        .into_iter()
        .filter_map(|(name, i)| i.map(|[lo, hi]| (name, format!("{lo},{hi}"))));
    for (name, value) in values.into_iter().chain(intervals) {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(HeaderName::from_static(name), v);
        }
    }
    h
}

//! flowcompile's versioned artifact: the compiled frontier of a workflow, as JSON bytes in and out.
//!
//! An [`Artifact`] (format `flowcompile.artifact.v2`) holds the workflow name, its [`Provenance`]
//! (tool version, digests of the spec and profiles), the [`ProxyModel`] that predicted the metrics
//! (with [`Intervals`]: how the intervals were made), a [`SpaceSummary`] of the design space, and
//! the frontier [`Point`]s sorted by predicted latency: each a structure, a (model, budget)
//! [`PointSetting`] per slot and the [`Predicted`] accuracy and latency with their 90% intervals.
//! A `flowcompile.artifact.v1` file (the same without intervals) still reads, as
//! [`ArtifactFormat::V1`]; imported prototype files are v1 too, having no intervals.
//! [`Artifact::to_json_pretty`] and [`Artifact::from_json`] convert it to and from text, checking
//! its invariants; [`import_v2`] reads the research prototype's `flowcompile.compiled.v2`
//! output and [`parse_any`] reads either. [`json_schema`] is the schema shipped as
//! `schemas/artifact.schema.json`; [`sha256_hex`] makes the provenance digests.
//!
//! The crate does no I/O.
//!
//! ```
//! use flowcompile_artifact::*;
//!
//! let text = r#"{"schema_version": "flowcompile.compiled.v2", "configs": [
//!   {"config_id": "cfg_0000", "structure_id": 0,
//!    "agents": {"answer_generate": {"model": "Qwen3-0.6B", "budget": 10}},
//!    "metrics": {"expected_accuracy": 0.41, "expected_latency": 0.8}}]}"#;
//! let artifact = import_v2(text, "compiled.json").unwrap();
//! assert_eq!(artifact.points[0].id, "p0");
//! let back = Artifact::from_json(&artifact.to_json_pretty(), "artifact.json").unwrap();
//! assert_eq!(back, artifact);
//! ```
#![deny(missing_docs)]

mod error;
mod import;
mod json;
mod model;

pub use error::{ArtifactError, SUPPORTED_FORMATS};
/// The proxy's execution and latency models, one definition for every crate (`flowcompile_ir`).
pub use flowcompile_ir::{ExecutionModel, LatencyModel};
pub use import::import_v2;
pub use json::{json_schema, parse_any, sha256_hex};
pub use model::{
    Artifact, ArtifactFormat, IntervalMethod, Intervals, Origin, Point, PointSetting,
    PointStructure, Predicted, Provenance, ProxyModel, SelectionCorrection, SlotSummary,
    SpaceSummary, FORMAT_PROTOTYPE_V2, FORMAT_V1, FORMAT_V2, INTERVAL_LEVEL,
};

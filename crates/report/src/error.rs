//! Why a report cannot be made.

use flowcompile_profile::ProfileErrors;

/// A report input that is malformed or does not belong with the others.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// A document is not valid JSON.
    #[error("{file}:{line}:{column}: {message}")]
    Json {
        /// The document.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A document is JSON but a field is missing or wrong.
    #[error("{file}: {path}: {message}")]
    Document {
        /// The document.
        file: String,
        /// JSON path of the field (`points[2].measured.accuracy`).
        path: String,
        /// What was expected and found.
        message: String,
    },
    /// An input belongs to another workflow than the artifact.
    #[error("{file}: workflow '{found}' does not match the artifact's workflow '{expected}'")]
    WorkflowMismatch {
        /// The input.
        file: String,
        /// The artifact's workflow.
        expected: String,
        /// The input's workflow.
        found: String,
    },
    /// A validated point id is not in the artifact.
    #[error(
        "{file}: points[{index}].id: '{id}' is not a point of the artifact (it has p0..p{last})"
    )]
    UnknownPoint {
        /// The validation document.
        file: String,
        /// Position in its points.
        index: usize,
        /// The unknown id.
        id: String,
        /// The artifact's last point index.
        last: usize,
    },
    /// The profiles do not cover the workflow's space (or lack throughput for token latency).
    #[error("{0}")]
    Profiles(#[from] ProfileErrors),
    /// The artifact's proxy used token-based latency but no throughput table was given.
    #[error("the artifact predicts latency from tokens: the per-model throughput table (--throughput) is needed for the baselines")]
    ThroughputNeeded,
    /// The workflow has no valid structure.
    #[error("{0}")]
    Space(#[from] flowcompile_ir::SpaceError),
}

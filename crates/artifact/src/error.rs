//! Errors of reading an artifact or importing a prototype file.

/// The formats this crate reads, as error messages list them.
pub const SUPPORTED_FORMATS: &str =
    "flowcompile.artifact.v2, flowcompile.artifact.v1, and flowcompile.compiled.v2 (the prototype's output) through import";

/// Why an artifact or a prototype file cannot be read.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// The text is not JSON.
    #[error("{file}:{line}:{column}: invalid JSON: {message}")]
    Json {
        /// File name (or other label) of the input.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser found wrong.
        message: String,
    },
    /// The top level is not a JSON object.
    #[error("{file}: expected a JSON object at the top level, found {found}")]
    NotAnObject {
        /// File name of the input.
        file: String,
        /// The JSON kind found.
        found: &'static str,
    },
    /// No format marker.
    #[error("{file}: no 'format' field saying what this file is; supported formats: {SUPPORTED_FORMATS}")]
    MissingFormat {
        /// File name of the input.
        file: String,
    },
    /// A format marker this operation does not read.
    #[error("{file}: unsupported format '{found}'; supported formats: {SUPPORTED_FORMATS}")]
    UnsupportedFormat {
        /// File name of the input.
        file: String,
        /// The marker found.
        found: String,
    },
    /// JSON that does not match the artifact's schema.
    #[error("{file}:{line}:{column}: at '{path}': {message}")]
    Schema {
        /// File name of the input.
        file: String,
        /// Path of the offending value (e.g. `points[3].predicted.accuracy`).
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// Well-typed content that breaks an invariant (point order, ids, ranges, digests).
    #[error("{file}: {location}: {message}")]
    Invalid {
        /// File name of the input.
        file: String,
        /// Where (e.g. `points[3]`).
        location: String,
        /// What is wrong.
        message: String,
    },
    /// A prototype config without its predicted metrics.
    #[error("{file}: configs[{index}]: missing '{field}' (a number in 'metrics')")]
    MissingMetrics {
        /// File name of the input.
        file: String,
        /// Index of the config in `configs`.
        index: usize,
        /// The missing metric (`expected_accuracy` or `expected_latency`).
        field: &'static str,
    },
}

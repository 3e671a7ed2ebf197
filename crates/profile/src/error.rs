//! Errors of parsing, validating and resolving profiles; all of them are collected, not just the first.

use std::fmt;

/// One problem in a profiles or throughput file, or a setting the workflow needs that no row covers.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// The text is not valid CSV or a JSONL line is not valid JSON.
    #[error("{file}:{line}: {message}")]
    Malformed {
        /// File name (or other label) of the input.
        file: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A CSV file without a header row.
    #[error("{file}: no header row; the first line must name the columns {expected}")]
    NoHeader {
        /// File name of the input.
        file: String,
        /// The columns, comma-separated.
        expected: String,
    },
    /// A column the header lacks.
    #[error("{file}:{line}: missing column '{column}' in the header (the columns are {expected})")]
    MissingColumn {
        /// File name of the input.
        file: String,
        /// Line of the header.
        line: usize,
        /// The missing column.
        column: String,
        /// The columns, comma-separated.
        expected: String,
    },
    /// A column the format does not know.
    #[error("{file}:{line}: unknown column '{column}' in the header (the columns are {expected})")]
    ExtraColumn {
        /// File name of the input.
        file: String,
        /// Line of the header.
        line: usize,
        /// The unknown column.
        column: String,
        /// The columns, comma-separated.
        expected: String,
    },
    /// A column named twice in the header.
    #[error("{file}:{line}: column '{column}' appears twice in the header")]
    DuplicateColumn {
        /// File name of the input.
        file: String,
        /// Line of the header.
        line: usize,
        /// The repeated column.
        column: String,
    },
    /// A CSV row with more or fewer fields than the header.
    #[error("{file}:{line}: expected {expected} values (one per header column), found {found}")]
    FieldCount {
        /// File name of the input.
        file: String,
        /// Line of the row.
        line: usize,
        /// Fields in the row.
        found: usize,
        /// Fields in the header.
        expected: usize,
    },
    /// A field absent from a JSONL object, or an empty CSV cell.
    #[error("{file}:{line}: field '{field}' is missing or empty")]
    MissingField {
        /// File name of the input.
        file: String,
        /// 1-based line.
        line: usize,
        /// The field.
        field: String,
    },
    /// A JSONL object with a field the format does not know.
    #[error("{file}:{line}: unknown field '{field}' (the fields are {expected})")]
    ExtraField {
        /// File name of the input.
        file: String,
        /// 1-based line.
        line: usize,
        /// The unknown field.
        field: String,
        /// The fields, comma-separated.
        expected: String,
    },
    /// A value of the wrong type or outside its range (not a number, NaN, negative, accuracy > 1...).
    #[error("{file}:{line}: field '{field}': expected {expected}, found {found}")]
    InvalidValue {
        /// File name of the input.
        file: String,
        /// 1-based line.
        line: usize,
        /// The field.
        field: String,
        /// What the field must hold.
        expected: &'static str,
        /// The value as written.
        found: String,
    },
    /// Two profile rows for the same (agent, model, budget).
    #[error("{file}:{line}: duplicate row for agent '{agent}', model '{model}', budget {budget} (first at line {first_line})")]
    DuplicateRow {
        /// File name of the input.
        file: String,
        /// Line of the second row.
        line: usize,
        /// Line of the first row.
        first_line: usize,
        /// Agent name.
        agent: String,
        /// Model name.
        model: String,
        /// Thinking-token budget.
        budget: u32,
    },
    /// Two throughput rows for the same model.
    #[error(
        "{file}:{line}: duplicate throughput for model '{model}' (first at line {first_line})"
    )]
    DuplicateModel {
        /// File name of the input.
        file: String,
        /// Line of the second row.
        line: usize,
        /// Line of the first row.
        first_line: usize,
        /// Model name.
        model: String,
    },
    /// A setting of the design space that no profile row covers.
    #[error("{file}: no row for agent '{agent}', model '{model}', budget {budget} (needed by the design space)")]
    MissingRow {
        /// File name of the profiles.
        file: String,
        /// Agent name.
        agent: String,
        /// Model name.
        model: String,
        /// Thinking-token budget.
        budget: u32,
    },
    /// Token-based latency needs a model's throughput and the table has none.
    #[error(
        "no throughput for model '{model}' (token-based latency needs it for agent '{agent}')"
    )]
    MissingThroughput {
        /// Model name.
        model: String,
        /// First agent whose settings use the model.
        agent: String,
    },
    /// Token-based latency overflowed (a throughput so small that tokens over it are infinite).
    #[error("latency of agent '{agent}', model '{model}', budget {budget} is not finite: the model's throughput is too small")]
    NonFiniteLatency {
        /// Agent name.
        agent: String,
        /// Model name.
        model: String,
        /// Thinking-token budget.
        budget: u32,
    },
    /// A throughput row that is not a positive finite number of tokens per second.
    #[error("throughput of model '{model}': expected positive finite tokens per second, found prefill {prefill_tok_per_s}, decode {decode_tok_per_s}")]
    InvalidThroughput {
        /// Model name.
        model: String,
        /// Prefill tokens per second as given.
        prefill_tok_per_s: f64,
        /// Decode tokens per second as given.
        decode_tok_per_s: f64,
    },
}

impl ProfileError {
    /// The 1-based line the problem is on, for problems located in an input file.
    pub fn line(&self) -> Option<usize> {
        match self {
            ProfileError::Malformed { line, .. }
            | ProfileError::MissingColumn { line, .. }
            | ProfileError::ExtraColumn { line, .. }
            | ProfileError::DuplicateColumn { line, .. }
            | ProfileError::FieldCount { line, .. }
            | ProfileError::MissingField { line, .. }
            | ProfileError::ExtraField { line, .. }
            | ProfileError::InvalidValue { line, .. }
            | ProfileError::DuplicateRow { line, .. }
            | ProfileError::DuplicateModel { line, .. } => Some(*line),
            ProfileError::NoHeader { .. }
            | ProfileError::MissingRow { .. }
            | ProfileError::MissingThroughput { .. }
            | ProfileError::NonFiniteLatency { .. }
            | ProfileError::InvalidThroughput { .. } => None,
        }
    }
}

/// Every problem found in one operation, in input order; displays one per line.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileErrors {
    /// The problems, at least one.
    pub errors: Vec<ProfileError>,
}

impl ProfileErrors {
    /// The problems, in input order.
    pub fn errors(&self) -> &[ProfileError] {
        &self.errors
    }

    /// Number of problems.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Whether there are no problems (never true for a returned error).
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Ok(value)` when `errors` is empty, else the errors ordered by line (stably).
    pub(crate) fn check<T>(mut errors: Vec<ProfileError>, value: T) -> Result<T, ProfileErrors> {
        errors.sort_by_key(|e| e.line().unwrap_or(0));
        if errors.is_empty() {
            Ok(value)
        } else {
            Err(ProfileErrors { errors })
        }
    }
}

impl fmt::Display for ProfileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ProfileErrors {}

impl IntoIterator for ProfileErrors {
    type Item = ProfileError;
    type IntoIter = std::vec::IntoIter<ProfileError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

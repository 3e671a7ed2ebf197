//! How a prediction is composed: the execution model of parallel branches and the source of each
//! agent's latency. One enum per idea, used by the proxy, the artifact, the validation document and
//! every front end (flag values, artifact fields and document fields are the same lowercase names).

use std::fmt;
use std::str::FromStr;

/// How the latencies of parallel branches combine.
#[derive(
    Copy,
    Clone,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[schemars(rename = "Execution")]
#[serde(rename_all = "lowercase")]
pub enum ExecutionModel {
    /// Branches run concurrently (a serving stack with batching): the slowest branch counts.
    #[default]
    Parallel,
    /// Branches run one after another (a batch-1 device, the paper's prototype): latencies add up.
    Sequential,
}

/// Where per-agent latencies come from.
#[derive(
    Copy,
    Clone,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum LatencyModel {
    /// The profiled mean wall-clock seconds per call (`latency_s`).
    #[default]
    Measured,
    /// `input_tokens / prefill_tok_per_s + output_tokens / decode_tok_per_s` of the model.
    Tokens,
}

impl ExecutionModel {
    /// Every value, in the order front ends list them.
    pub const ALL: [ExecutionModel; 2] = [ExecutionModel::Parallel, ExecutionModel::Sequential];

    /// The name used on the command line, in artifacts and in documents.
    pub fn name(self) -> &'static str {
        match self {
            ExecutionModel::Parallel => "parallel",
            ExecutionModel::Sequential => "sequential",
        }
    }

    /// A one-line description for help texts.
    pub fn help(self) -> &'static str {
        match self {
            ExecutionModel::Parallel => "Parallel branches run concurrently: the slowest one counts",
            ExecutionModel::Sequential => {
                "Parallel branches run one after another (a batch-1 device, as the paper's prototype)"
            }
        }
    }
}

impl LatencyModel {
    /// Every value, in the order front ends list them.
    pub const ALL: [LatencyModel; 2] = [LatencyModel::Measured, LatencyModel::Tokens];

    /// The name used on the command line, in artifacts and in documents.
    pub fn name(self) -> &'static str {
        match self {
            LatencyModel::Measured => "measured",
            LatencyModel::Tokens => "tokens",
        }
    }

    /// A one-line description for help texts.
    pub fn help(self) -> &'static str {
        match self {
            LatencyModel::Measured => "Profiled wall-clock seconds per call",
            LatencyModel::Tokens => {
                "input_tokens / prefill_tok_per_s + output_tokens / decode_tok_per_s (needs --throughput)"
            }
        }
    }
}

/// A name that is not one of the enum's values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} '{input}': expected {expected}")]
#[non_exhaustive]
pub struct UnknownName {
    /// What was being named (`execution model`, `latency model`).
    pub what: &'static str,
    /// The text given.
    pub input: String,
    /// The accepted names.
    pub expected: String,
}

macro_rules! named {
    ($ty:ident, $what:literal) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownName;

            fn from_str(s: &str) -> Result<$ty, UnknownName> {
                $ty::ALL
                    .into_iter()
                    .find(|v| v.name().eq_ignore_ascii_case(s.trim()))
                    .ok_or_else(|| UnknownName {
                        what: $what,
                        input: s.to_string(),
                        expected: $ty::ALL.map(|v| v.name()).join(" or "),
                    })
            }
        }
    };
}

named!(ExecutionModel, "execution model");
named!(LatencyModel, "latency model");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_serde() {
        for e in ExecutionModel::ALL {
            assert_eq!(e.name().parse::<ExecutionModel>(), Ok(e));
            assert_eq!(
                serde_json::to_string(&e).unwrap(),
                format!("\"{}\"", e.name())
            );
        }
        for l in LatencyModel::ALL {
            assert_eq!(l.to_string().parse::<LatencyModel>(), Ok(l));
            assert_eq!(
                serde_json::from_str::<LatencyModel>(&format!("\"{l}\"")).unwrap(),
                l
            );
        }
        assert_eq!(
            "batch".parse::<ExecutionModel>().unwrap_err().to_string(),
            "unknown execution model 'batch': expected parallel or sequential"
        );
    }
}

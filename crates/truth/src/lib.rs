//! Ground truth for the compiler: run every configuration of a small design space end to end and
//! measure the true Pareto frontier, so that a compiled frontier can be scored against it.
//!
//! The study ([`configurations`], [`measure_all`]) runs each configuration of a (restricted, see
//! `flowcompile_ir::Workflow::restrict`) design space on every item of a split through a
//! [`flowcompile_client::Client`] (in practice the in-process zoo, `Client::with_zoo`), and records its
//! accuracy (fraction correct) and latency (mean modelled seconds along the critical path). [`Table`]
//! turns the measurements into a [`TruthReport`] (`flowcompile.truth.v1`): the true frontier, the best
//! uniform configuration, and with an artifact, a [`Comparison`]:
//!
//! - **hypervolume ratio**: the area the compiled points dominate, each at its *measured* metrics, over
//!   the area the true frontier dominates, both against the reference point (accuracy 0, latency of the
//!   slowest configuration of the space); 1 means the compiled frontier is as good as the truth;
//! - **speedup at matched accuracy**: the latency of the best uniform configuration (every slot on one
//!   (model, budget) setting, on the full structure: every knob at its largest value, as the paper's
//!   Qwen3-14B full workflow) over the latency of the fastest compiled point measured at least as
//!   accurate; `None` when no compiled point is.
//!
//! **Invariant:** the results depend only on the workflow, the items, the models and the restriction:
//! configurations are enumerated in canonical order, each one's items are aggregated in item order, and
//! frontier ties go to the earlier configuration, whatever the number of workers or the scheduling.
//!
//! ```
//! use flowcompile_truth::{frontier, hypervolume, Measure};
//! let m = |accuracy, latency_s| Measure { accuracy, latency_s };
//! let points = [m(0.5, 1.0), m(0.4, 2.0), m(0.8, 3.0)];
//! assert_eq!(frontier(&points), vec![0, 2]);
//! // [1, 3) at 0.5 plus [3, 4] at 0.8
//! assert!((hypervolume(&points, m(0.0, 4.0)) - 1.8).abs() < 1e-12);
//! ```
#![deny(missing_docs)]

mod measure;
mod pareto;
mod report;
mod space;

pub use measure::{measure_all, MeasureOptions, Measured, Progress};
pub use pareto::{frontier, hypervolume, speedup_at_matched_accuracy, Measure};
pub use report::{
    json_schema, locate, ComparedPoint, Comparison, Reference, SettingOut, SpaceOut, Table,
    TruthPoint, TruthReport, FORMAT,
};
pub use space::{configurations, count_within, describe};

/// Why a study cannot run or compare.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TruthError {
    /// The space is larger than the limit.
    #[error("the space has {count} configurations, more than the limit of {max}; narrow it (fewer models or budgets) or raise the limit")]
    TooManyConfigs {
        /// The number of configurations.
        count: String,
        /// The limit.
        max: u64,
    },
    /// There is no item to run on.
    #[error("no item to run on")]
    NoItems,
    /// The workflow cannot be run.
    #[error("{message}")]
    Workflow {
        /// What is wrong.
        message: String,
    },
    /// A run failed; the study stops rather than count it as wrong.
    #[error("structure {structure} with {config}, item `{item}`: {message}")]
    RunFailed {
        /// The configuration, `slot=model@budget ...`.
        config: String,
        /// Its structure index.
        structure: usize,
        /// The item id.
        item: String,
        /// The runner's error.
        message: String,
    },
    /// The artifact to compare does not fit the study.
    #[error("{artifact}: {message}")]
    Artifact {
        /// The artifact file.
        artifact: String,
        /// What does not fit.
        message: String,
    },
}

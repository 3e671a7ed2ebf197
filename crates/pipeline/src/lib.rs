//! The compile pipeline's measuring passes, between the workflow and the search:
//!
//! 1. **Data induction** ([`Pipeline::induce`]): run the workflow under a strong reference
//!    configuration on a labelled split; keep every call of the runs whose final score passes
//!    (optionally only the calls a judge model rates correct) as that agent's pseudo ground truth.
//! 2. **Profiling** ([`Pipeline::profile`]): run each agent alone on its induced examples under every
//!    (model, budget) setting, score each output against the reference output ([`AgentScorer`]), and
//!    summarise per setting into profile rows the proxy reads; fit each model's token throughput
//!    for token-based latency. An adaptive mode stops sampling settings that are clearly dominated.
//!
//!    With a capture ([`Pipeline::induce_captured`]), induction reads an application's agent calls
//!    captured by `flowcompile gateway --capture` instead of running the reference, and profiling
//!    replays each captured request's messages as captured.
//! 3. **Per-query profiles** ([`item_profiles`]): the same profiling calls grouped by the validation
//!    item they came from, for the KNN router.
//!
//! Everything is recorded in the SQLite store ([`flowcompile_store`]) as it happens, under keys
//! ([`keys`]) that change exactly when what a measurement depends on changes: a killed run resumes
//! without losing or repeating a finished call, and editing one agent's prompt re-profiles only that
//! agent. Model calls go through [`flowcompile_runner::Runner`] and so through any
//! OpenAI-compatible server or the zoo.
#![deny(missing_docs)]

mod captured;
mod data;
mod error;
mod induce;
mod items;
pub mod keys;
mod profile;
mod progress;
mod score;
mod writer;

use std::path::{Path, PathBuf};

use flowcompile_ir::Workflow;
use flowcompile_runner::Runner;

pub use captured::CAPTURED_MESSAGES;
pub use data::{parse_split, read_split, BadLine, Split};
pub use error::{PipelineError, Unprofiled};
pub use induce::{
    answers_to_gold, votes, votes_among_answers, AgentExamples, InduceOptions, InduceReport,
    JUDGE_AGENT,
};
pub use items::{item_profiles, ItemProfiles, SettingStats};
pub use profile::{Adaptive, AgentProfile, ProfileOptions, ProfileReport, ThroughputFit};
pub use progress::{Progress, Silent};
pub use score::AgentScorer;

/// A workflow, the runner that calls its models, and the store its measurements go to.
pub struct Pipeline {
    runner: Runner,
    store_path: PathBuf,
}

impl Pipeline {
    /// A pipeline for `runner`'s workflow recording into the store at `store_path` (created and
    /// migrated on first use).
    pub fn new(runner: Runner, store_path: impl AsRef<Path>) -> Pipeline {
        Pipeline {
            runner,
            store_path: store_path.as_ref().to_path_buf(),
        }
    }

    /// The runner, for end-to-end runs of the same workflow.
    pub fn runner(&self) -> &Runner {
        &self.runner
    }

    /// The workflow being measured.
    fn wf(&self) -> &Workflow {
        self.runner.workflow()
    }
}

/// Locks `m`; a panic elsewhere while holding it leaves data that is still consistent here
/// (every update is a single insert or add), so a poisoned lock is taken over.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Seconds since the Unix epoch (0 if the clock is before it).
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

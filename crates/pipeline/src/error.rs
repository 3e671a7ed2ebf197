//! What can stop a pipeline pass, each naming what to look at and what to do.

use std::fmt::Write as _;

use flowcompile_runner::RunError;
use flowcompile_store::StoreError;

use crate::data::BadLine;

/// A setting of an agent that has no successful measurement.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Unprofiled {
    /// Agent name.
    pub agent: String,
    /// Model of the setting.
    pub model: String,
    /// Budget of the setting, tokens.
    pub budget_tokens: u32,
    /// Failed calls recorded for it.
    pub n_errors: u64,
    /// One of the failures, as recorded.
    pub example_error: Option<String>,
}

/// Why a pipeline pass stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The store could not be read or written (disk full, read-only path, locked...).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The workflow cannot run (a template that does not render, a configuration outside the space).
    #[error(transparent)]
    Run(#[from] RunError),
    /// Dataset lines that are not items.
    #[error("{}", bad_lines(file, lines))]
    BadData {
        /// The dataset file.
        file: String,
        /// Every bad line.
        lines: Vec<BadLine>,
    },
    /// A split whose items carry no gold answer.
    #[error("{file}: no item has the gold answer field `{answer_field}`; data induction and profiling need a labelled split (validation data, not an unlabelled test set)")]
    Unlabelled {
        /// The dataset file.
        file: String,
        /// The task's answer field.
        answer_field: String,
    },
    /// A split without items.
    #[error("{file}: no items (expected one JSON object per line)")]
    EmptyData {
        /// The dataset file.
        file: String,
    },
    /// No reference run passed, so nothing can be induced.
    #[error("data induction kept no trace: none of the {items} reference runs scored at least {min_score} ({failed} failed with an error{first_error}); use a stronger reference configuration (--reference), check the providers, or lower --min-score")]
    NothingKept {
        /// Items run.
        items: usize,
        /// Items whose run failed with an error.
        failed: usize,
        /// The score a kept trace needs.
        min_score: f64,
        /// One failure, prefixed for the message.
        first_error: String,
    },
    /// Agents of the space without any induced example.
    #[error("no induced examples for agent(s) {}: the reference configuration never called them on a passing trace{}; run induction on more items, pick a reference structure that calls them (--reference-structure), or drop the judge", agents.join(", "), judge_note(*judged))]
    NoExamples {
        /// The agents.
        agents: Vec<String>,
        /// Whether a judge filtered the calls.
        judged: bool,
    },
    /// The capture's agents and the shape's differ.
    #[error(
        "the capture does not fit the shape: {}",
        capture_mismatch(captured_only, shape_only)
    )]
    CaptureMismatch {
        /// Agents in the capture that the shape lacks.
        captured_only: Vec<String>,
        /// Agents of the shape that never appear in the capture.
        shape_only: Vec<String>,
    },
    /// A captured run whose id is no item of the labelled split.
    #[error("captured run `{run}` is no item of {split}: a run's id (x-flowcompile-run) must be the id of its labelled item")]
    UnknownRun {
        /// The run id.
        run: String,
        /// The split file.
        split: String,
    },
    /// A captured run with more calls of an agent than a run of the shape makes.
    #[error("captured run `{run}` has {calls} successful calls of agent `{agent}`, more than the {most} any structure of the shape makes: was the run id reused for another input? Give each run (x-flowcompile-run) its own id")]
    RunReused {
        /// The run id.
        run: String,
        /// The agent.
        agent: String,
        /// Its successful calls in the run.
        calls: usize,
        /// The most calls of the agent any structure makes.
        most: usize,
    },
    /// Settings with no successful measurement, which compile refuses to treat as measured.
    #[error("{}", unprofiled_message(settings))]
    Unprofiled {
        /// Every unmeasured setting.
        settings: Vec<Unprofiled>,
    },
}

fn capture_mismatch(captured_only: &[String], shape_only: &[String]) -> String {
    let mut parts = Vec::new();
    if !captured_only.is_empty() {
        parts.push(format!(
            "captured agent(s) {} are not in the shape",
            captured_only.join(", ")
        ));
    }
    if !shape_only.is_empty() {
        parts.push(format!(
            "the shape's agent(s) {} never appear in the capture",
            shape_only.join(", ")
        ));
    }
    parts.join("; ")
}

fn judge_note(judged: bool) -> &'static str {
    if judged {
        " or the judge rejected every call"
    } else {
        ""
    }
}

fn bad_lines(source: &str, lines: &[BadLine]) -> String {
    let mut out = format!("{source}: {} bad line(s):", lines.len());
    for l in lines.iter().take(20) {
        let _ = write!(out, "\n  {source}:{}: {}", l.line, l.why);
    }
    if lines.len() > 20 {
        let _ = write!(out, "\n  ... and {} more", lines.len() - 20);
    }
    out
}

fn unprofiled_message(settings: &[Unprofiled]) -> String {
    let mut out = format!(
        "{} setting(s) have no successful profiling call, so their accuracy is unknown (not 0):",
        settings.len()
    );
    for s in settings.iter().take(20) {
        let _ = write!(
            out,
            "\n  {} {}@{}: {} failed call(s)",
            s.agent, s.model, s.budget_tokens, s.n_errors
        );
        if let Some(e) = &s.example_error {
            let _ = write!(out, ", e.g. {e}");
        }
    }
    if settings.len() > 20 {
        let _ = write!(out, "\n  ... and {} more", settings.len() - 20);
    }
    out.push_str("\nrerun to retry the failed calls (finished ones are kept), or pass --drop-unprofiled to compile without these settings");
    out
}

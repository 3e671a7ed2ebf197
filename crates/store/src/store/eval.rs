//! End-to-end evaluation results (`eval_results`): one row per (run key, item).

use std::collections::HashSet;

use rusqlite::params;

use super::Store;
use crate::error::Result;

/// One item of an end-to-end evaluation run (`eval_results`), keyed by (run key, item id).
///
/// The run key is a hash the caller makes of everything that determines the run's outcome: the
/// workflow spec, the configuration, the dataset and the providers. Same key, same run: a rerun
/// skips the items [`Store::eval_done`] reports (those that ran without error) and runs failed ones
/// again, replacing their record.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalRow {
    /// The caller's hash of (workflow spec, configuration, dataset, providers).
    pub run_key: String,
    /// The dataset item's id.
    pub item_id: String,
    /// The workflow's final answer.
    pub answer: String,
    /// The answer's score against the label.
    pub score: f64,
    /// Whether the answer counts as correct.
    pub correct: bool,
    /// Measured wall-clock latency, seconds.
    pub latency_s: f64,
    /// Latency under the token-based model, seconds.
    pub modelled_latency_s: f64,
    /// Prompt tokens over all calls of the item.
    pub prompt_tokens: u64,
    /// Completion tokens over all calls of the item.
    pub completion_tokens: u64,
    /// Cost in US dollars, when the providers price their calls.
    pub cost_usd: Option<f64>,
    /// The failure that ended the item, if any.
    pub error: Option<String>,
    /// The execution trace, serialised by the caller.
    pub trace_json: String,
    /// When the item finished, Unix seconds, given by the caller (the store has no clock).
    pub created_at_unix_s: i64,
}

impl Store {
    /// Records one evaluated item; returns `false`, writing nothing, when the item already has a
    /// successful record for that run key (the first success wins). A failed record (with an error)
    /// is replaced, so that a rerun after a transient failure (an endpoint down) measures the item.
    pub fn record_eval(&self, row: &EvalRow) -> Result<bool> {
        self.finite(
            "eval_results",
            || format!("({}, {})", row.run_key, row.item_id),
            &[
                ("score", Some(row.score)),
                ("latency_s", Some(row.latency_s)),
                ("modelled_latency_s", Some(row.modelled_latency_s)),
                ("cost_usd", row.cost_usd),
            ],
        )?;
        self.write("record an evaluation", |tx| {
            let inserted = tx.execute(
                "INSERT INTO eval_results (run_key, item_id, answer, score, correct, \
                 latency_s, modelled_latency_s, prompt_tokens, completion_tokens, cost_usd, error, \
                 trace_json, created_at_unix_s) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
                 ON CONFLICT (run_key, item_id) DO UPDATE SET answer = excluded.answer, \
                 score = excluded.score, correct = excluded.correct, latency_s = excluded.latency_s, \
                 modelled_latency_s = excluded.modelled_latency_s, \
                 prompt_tokens = excluded.prompt_tokens, \
                 completion_tokens = excluded.completion_tokens, cost_usd = excluded.cost_usd, \
                 error = excluded.error, trace_json = excluded.trace_json, \
                 created_at_unix_s = excluded.created_at_unix_s \
                 WHERE eval_results.error IS NOT NULL",
                params![
                    row.run_key,
                    row.item_id,
                    row.answer,
                    row.score,
                    row.correct,
                    row.latency_s,
                    row.modelled_latency_s,
                    row.prompt_tokens,
                    row.completion_tokens,
                    row.cost_usd,
                    row.error,
                    row.trace_json,
                    row.created_at_unix_s,
                ],
            )?;
            Ok(inserted == 1)
        })
    }

    /// The ids of the items recorded for `run_key` that ran without error: finished, not to be run
    /// again (a failed item is not finished).
    pub fn eval_done(&self, run_key: &str) -> Result<HashSet<String>> {
        let op = "read finished evaluations";
        let mut stmt = self
            .conn
            .prepare_cached("SELECT item_id FROM eval_results WHERE run_key = ?1 AND error IS NULL")
            .map_err(|e| self.err(op, e))?;
        let ids = stmt
            .query_map([run_key], |row| row.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(op, e))?;
        Ok(ids)
    }

    /// Every recorded item of `run_key`, by item id.
    pub fn eval_rows(&self, run_key: &str) -> Result<Vec<EvalRow>> {
        let op = "read evaluations";
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT run_key, item_id, answer, score, correct, latency_s, modelled_latency_s, \
                 prompt_tokens, completion_tokens, cost_usd, error, trace_json, created_at_unix_s \
                 FROM eval_results WHERE run_key = ?1 ORDER BY item_id",
            )
            .map_err(|e| self.err(op, e))?;
        let rows = stmt
            .query_map([run_key], |row| {
                Ok(EvalRow {
                    run_key: row.get(0)?,
                    item_id: row.get(1)?,
                    answer: row.get(2)?,
                    score: row.get(3)?,
                    correct: row.get(4)?,
                    latency_s: row.get(5)?,
                    modelled_latency_s: row.get(6)?,
                    prompt_tokens: row.get(7)?,
                    completion_tokens: row.get(8)?,
                    cost_usd: row.get(9)?,
                    error: row.get(10)?,
                    trace_json: row.get(11)?,
                    created_at_unix_s: row.get(12)?,
                })
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(op, e))?;
        Ok(rows)
    }
}

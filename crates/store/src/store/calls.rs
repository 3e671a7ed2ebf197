//! Profiling calls (`calls`): writes that replace failed attempts, reads, and the per-setting
//! aggregate.

use std::collections::HashSet;

use rusqlite::{params, Connection};

use super::Store;
use crate::error::Result;

/// A new key is inserted; a key recorded as failed is replaced by the new attempt; a key recorded
/// as finished is kept as it was.
const INSERT_CALL: &str = "INSERT INTO calls (agent, prompt_key, model, budget, \
     input_id, sample, output, score, latency_s, prompt_tokens, completion_tokens, \
     reasoning_tokens, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
     ON CONFLICT (agent, prompt_key, model, budget, input_id, sample) DO UPDATE SET \
     output = excluded.output, score = excluded.score, latency_s = excluded.latency_s, \
     prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens, \
     reasoning_tokens = excluded.reasoning_tokens, error = excluded.error \
     WHERE calls.error IS NOT NULL";

/// One profiling call (`calls`), unique on (agent, prompt key, model, budget, input id, sample).
#[derive(Debug, Clone, PartialEq)]
pub struct CallRow {
    /// The agent called.
    pub agent: String,
    /// The caller's hash of the agent's prompt template: a changed prompt profiles afresh.
    pub prompt_key: String,
    /// The model of the setting.
    pub model: String,
    /// The thinking budget of the setting, tokens.
    pub budget_tokens: u32,
    /// The induced input's id.
    pub input_id: String,
    /// The sample index, for repeated calls on one input.
    pub sample: u32,
    /// The agent's output.
    pub output: String,
    /// The output's score against the reference; `None` when unscored.
    pub score: Option<f64>,
    /// Wall-clock latency, seconds.
    pub latency_s: f64,
    /// Prompt (input) tokens.
    pub prompt_tokens: u64,
    /// Completion (output) tokens, reasoning included.
    pub completion_tokens: u64,
    /// Reasoning tokens, when the provider reports them.
    pub reasoning_tokens: Option<u64>,
    /// The failure of the call, if any. A failed call is recorded (and counted by [`Aggregate`]) but
    /// not finished: a resumed run tries it again, and a success replaces the failure.
    pub error: Option<String>,
}

/// Per-setting summary of an agent's profiling calls, computed in SQL by [`Store::aggregate`].
///
/// Failed calls are left out of every mean and counted in `n_errors`; a setting whose every call
/// failed has `samples == 0` and must be treated as unprofiled, never as accuracy 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// The model of the setting.
    pub model: String,
    /// The thinking budget of the setting, tokens.
    pub budget_tokens: u32,
    /// Number of successful calls.
    pub samples: u64,
    /// Mean score of the successful scored calls; `None` when there is none.
    pub accuracy: Option<f64>,
    /// Mean latency of the successful calls, seconds (0 when `samples == 0`).
    pub latency_s: f64,
    /// Mean prompt tokens of the successful calls (0 when `samples == 0`).
    pub input_tokens: f64,
    /// Mean completion tokens of the successful calls (0 when `samples == 0`).
    pub output_tokens: f64,
    /// Number of failed calls.
    pub n_errors: u64,
}

impl Store {
    fn check_call(&self, row: &CallRow) -> Result<()> {
        self.finite(
            "calls",
            || {
                format!(
                    "({}, {}, {}, {}, {}, {})",
                    row.agent,
                    row.prompt_key,
                    row.model,
                    row.budget_tokens,
                    row.input_id,
                    row.sample
                )
            },
            &[("score", row.score), ("latency_s", Some(row.latency_s))],
        )
    }

    /// Records one profiling call; returns `false`, writing nothing, when its key is already
    /// recorded as finished, so a resumed run never duplicates a measurement. A key recorded as
    /// failed is overwritten by the new attempt (returns `true`).
    pub fn record_call(&self, row: &CallRow) -> Result<bool> {
        self.check_call(row)?;
        self.write("record a call", |tx| insert_call(tx, row))
    }

    /// Records a batch of profiling calls in one transaction (the fast path); returns how many
    /// were written. Keys finished already are skipped, failed ones overwritten (as
    /// [`Store::record_call`]); on error nothing of the batch is written.
    pub fn record_calls(&self, rows: &[CallRow]) -> Result<usize> {
        rows.iter().try_for_each(|row| self.check_call(row))?;
        self.write("record calls", |tx| {
            let mut n_new = 0;
            for row in rows {
                n_new += usize::from(insert_call(tx, row)?);
            }
            Ok(n_new)
        })
    }

    /// The (input id, sample) pairs already finished (recorded without an error) for one setting of
    /// one agent prompt: what a resumed run skips.
    pub fn calls_done(
        &self,
        agent: &str,
        prompt_key: &str,
        model: &str,
        budget_tokens: u32,
    ) -> Result<HashSet<(String, u32)>> {
        let op = "read finished calls";
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT input_id, sample FROM calls WHERE agent = ?1 AND prompt_key = ?2 \
                 AND model = ?3 AND budget = ?4 AND error IS NULL",
            )
            .map_err(|e| self.err(op, e))?;
        let done = stmt
            .query_map(params![agent, prompt_key, model, budget_tokens], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(op, e))?;
        Ok(done)
    }

    /// Every recorded call of one agent prompt, by (model, budget, input id, sample).
    pub fn call_rows(&self, agent: &str, prompt_key: &str) -> Result<Vec<CallRow>> {
        let op = "read calls";
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT agent, prompt_key, model, budget, input_id, sample, output, score, \
                 latency_s, prompt_tokens, completion_tokens, reasoning_tokens, error \
                 FROM calls WHERE agent = ?1 AND prompt_key = ?2 \
                 ORDER BY model, budget, input_id, sample",
            )
            .map_err(|e| self.err(op, e))?;
        let rows = stmt
            .query_map([agent, prompt_key], |row| {
                Ok(CallRow {
                    agent: row.get(0)?,
                    prompt_key: row.get(1)?,
                    model: row.get(2)?,
                    budget_tokens: row.get(3)?,
                    input_id: row.get(4)?,
                    sample: row.get(5)?,
                    output: row.get(6)?,
                    score: row.get(7)?,
                    latency_s: row.get(8)?,
                    prompt_tokens: row.get(9)?,
                    completion_tokens: row.get(10)?,
                    reasoning_tokens: row.get(11)?,
                    error: row.get(12)?,
                })
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(op, e))?;
        Ok(rows)
    }

    /// Per-setting summary of one agent prompt's calls, by (model, budget); see [`Aggregate`].
    pub fn aggregate(&self, agent: &str, prompt_key: &str) -> Result<Vec<Aggregate>> {
        let op = "aggregate calls";
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT model, budget, \
                   SUM(error IS NULL), \
                   AVG(CASE WHEN error IS NULL THEN score END), \
                   COALESCE(AVG(CASE WHEN error IS NULL THEN latency_s END), 0.0), \
                   COALESCE(AVG(CASE WHEN error IS NULL THEN prompt_tokens END), 0.0), \
                   COALESCE(AVG(CASE WHEN error IS NULL THEN completion_tokens END), 0.0), \
                   SUM(error IS NOT NULL) \
                 FROM calls WHERE agent = ?1 AND prompt_key = ?2 \
                 GROUP BY model, budget ORDER BY model, budget",
            )
            .map_err(|e| self.err(op, e))?;
        let rows = stmt
            .query_map([agent, prompt_key], |row| {
                Ok(Aggregate {
                    model: row.get(0)?,
                    budget_tokens: row.get(1)?,
                    samples: row.get(2)?,
                    accuracy: row.get(3)?,
                    latency_s: row.get(4)?,
                    input_tokens: row.get(5)?,
                    output_tokens: row.get(6)?,
                    n_errors: row.get(7)?,
                })
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(op, e))?;
        Ok(rows)
    }
}

fn insert_call(conn: &Connection, row: &CallRow) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare_cached(INSERT_CALL)?;
    let inserted = stmt.execute(params![
        row.agent,
        row.prompt_key,
        row.model,
        row.budget_tokens,
        row.input_id,
        row.sample,
        row.output,
        row.score,
        row.latency_s,
        row.prompt_tokens,
        row.completion_tokens,
        row.reasoning_tokens,
        row.error,
    ])?;
    Ok(inserted == 1)
}

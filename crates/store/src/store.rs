//! The [`Store`]: opening, migrating, and the typed reads and writes of each table.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{
    params, Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior,
};

use crate::error::{Result, StoreError};
use crate::schema::{MIGRATIONS, SCHEMA_VERSION};

/// How long a write waits for another process holding the write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

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

const INSERT_INDUCED: &str = "INSERT OR IGNORE INTO induced (agent, input_id, inputs_json, \
     reference_output) VALUES (?1, ?2, ?3, ?4)";

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

/// One induced pseudo-ground-truth example of an agent (`induced`), unique on (agent, input id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InducedRow {
    /// The agent the example is for.
    pub agent: String,
    /// The example's id, stable across runs.
    pub input_id: String,
    /// The agent's inputs, serialised by the caller.
    pub inputs_json: String,
    /// The reference model's output the agent is scored against.
    pub reference_output: String,
}

/// A saved artifact (`artifacts`): compiled frontiers and other named JSON documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRow {
    /// The artifact's name; several versions may share it.
    pub name: String,
    /// When it was made, Unix seconds, given by the caller.
    pub created_at_unix_s: i64,
    /// The document, serialised by the caller.
    pub json: String,
}

/// The project's SQLite store: one file, WAL mode, schema migrated on open, every write one
/// transaction.
///
/// A killed process loses no committed write and leaves no partial one. `Store` is `Send`; share
/// it between threads behind a mutex, or open the file once per thread or process (SQLite's
/// locking and the busy timeout serialise the writers).
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens the store at `path`, creating it if absent, and migrates it to [`SCHEMA_VERSION`].
    ///
    /// A file with a newer schema than this code knows is refused ([`StoreError::TooNew`]).
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            Connection::open_with_flags(&path, flags).map_err(|source| StoreError::Open {
                path: path.clone(),
                source,
            })?;
        let store = Store { conn, path };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's schema version (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64> {
        self.conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|e| self.err("read the schema version", e))
    }

    fn err(&self, operation: &'static str, source: rusqlite::Error) -> StoreError {
        StoreError::from_sqlite(self.path.clone(), operation, source)
    }

    fn configure(&self) -> Result<()> {
        self.conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| self.err("set the busy timeout", e))?;
        let mode: String = self
            .conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(|e| self.err("enable write-ahead logging", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::NoWal {
                path: self.path.clone(),
                mode,
            });
        }
        // In WAL mode NORMAL never loses a committed transaction to a killed process; a power
        // loss may drop the last few, never corrupt the file.
        self.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| self.err("set synchronous mode", e))?;
        self.conn
            .pragma_update(None, "foreign_keys", true)
            .map_err(|e| self.err("enable foreign keys", e))
    }

    fn check_version(&self, found: i64) -> Result<usize> {
        match usize::try_from(found) {
            Ok(version) if found <= SCHEMA_VERSION => Ok(version),
            _ => Err(StoreError::TooNew {
                path: self.path.clone(),
                found,
                supported: SCHEMA_VERSION,
            }),
        }
    }

    fn migrate(&self) -> Result<()> {
        if self.check_version(self.schema_version()?)? == MIGRATIONS.len() {
            return Ok(());
        }
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(|e| self.err("begin migration", e))?;
        // Another process may have migrated between the check and the lock.
        let found = self.check_version(self.schema_version()?)?;
        for (idx, step) in MIGRATIONS.iter().enumerate().skip(found) {
            let version = idx as i64 + 1;
            let migrate_err = |source| match self.err("migrate", source) {
                StoreError::Sqlite { source, .. } | StoreError::Open { source, .. } => {
                    StoreError::Migrate {
                        path: self.path.clone(),
                        version,
                        source,
                    }
                }
                other => other,
            };
            tx.execute_batch(step).map_err(migrate_err)?;
            tx.pragma_update(None, "user_version", version)
                .map_err(migrate_err)?;
        }
        tx.commit().map_err(|e| self.err("commit migration", e))
    }

    /// Runs `f` in one IMMEDIATE transaction: all of its writes land, or none.
    fn write<T>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(|e| self.err(operation, e))?;
        let value = f(&tx).map_err(|e| self.err(operation, e))?;
        tx.commit().map_err(|e| self.err(operation, e))?;
        Ok(value)
    }

    fn finite(
        &self,
        table: &'static str,
        key: impl FnOnce() -> String,
        fields: &[(&'static str, Option<f64>)],
    ) -> Result<()> {
        match fields
            .iter()
            .find(|(_, value)| value.is_some_and(|v| !v.is_finite()))
        {
            Some(&(field, Some(value))) => Err(StoreError::NonFinite {
                path: self.path.clone(),
                table,
                key: key(),
                field,
                value,
            }),
            _ => Ok(()),
        }
    }

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

    /// Records induced examples in one transaction; returns how many were new. An example whose
    /// (agent, input id) exists is kept as it was.
    pub fn record_induced(&self, rows: &[InducedRow]) -> Result<usize> {
        self.write("record induced examples", |tx| {
            let mut stmt = tx.prepare_cached(INSERT_INDUCED)?;
            let mut n_new = 0;
            for row in rows {
                n_new += stmt.execute(params![
                    row.agent,
                    row.input_id,
                    row.inputs_json,
                    row.reference_output
                ])?;
            }
            Ok(n_new)
        })
    }

    /// The induced examples of `agent`, by input id.
    pub fn induced(&self, agent: &str) -> Result<Vec<InducedRow>> {
        let op = "read induced examples";
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT agent, input_id, inputs_json, reference_output FROM induced \
                 WHERE agent = ?1 ORDER BY input_id",
            )
            .map_err(|e| self.err(op, e))?;
        let rows = stmt
            .query_map([agent], |row| {
                Ok(InducedRow {
                    agent: row.get(0)?,
                    input_id: row.get(1)?,
                    inputs_json: row.get(2)?,
                    reference_output: row.get(3)?,
                })
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(op, e))?;
        Ok(rows)
    }

    /// Saves an artifact version.
    pub fn save_artifact(&self, row: &ArtifactRow) -> Result<()> {
        self.write("save an artifact", |tx| {
            tx.execute(
                "INSERT INTO artifacts (name, created_at_unix_s, json) VALUES (?1, ?2, ?3)",
                params![row.name, row.created_at_unix_s, row.json],
            )
            .map(drop)
        })
    }

    /// The newest artifact named `name` (latest time; among equal times, the last saved).
    pub fn latest_artifact(&self, name: &str) -> Result<Option<ArtifactRow>> {
        self.conn
            .query_row(
                "SELECT name, created_at_unix_s, json FROM artifacts WHERE name = ?1 \
                 ORDER BY created_at_unix_s DESC, id DESC LIMIT 1",
                [name],
                |row| {
                    Ok(ArtifactRow {
                        name: row.get(0)?,
                        created_at_unix_s: row.get(1)?,
                        json: row.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err("read the latest artifact", e))
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

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!(
                "flowcompile-store-unit-{}-{name}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn open(&self) -> Store {
            Store::open(self.0.join("store.sqlite")).unwrap()
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn call(model: &str, budget_tokens: u32, input_id: &str, score: f64, error: bool) -> CallRow {
        CallRow {
            agent: "solver".into(),
            prompt_key: "p1".into(),
            model: model.into(),
            budget_tokens,
            input_id: input_id.into(),
            sample: 0,
            output: format!("out {input_id}"),
            score: Some(score),
            latency_s: score + 1.0,
            prompt_tokens: 100,
            completion_tokens: 10 * u64::from(budget_tokens),
            reasoning_tokens: None,
            error: error.then(|| "timeout".to_string()),
        }
    }

    fn eval(item_id: &str, answer: &str) -> EvalRow {
        EvalRow {
            run_key: "run1".into(),
            item_id: item_id.into(),
            answer: answer.into(),
            score: 1.0,
            correct: true,
            latency_s: 2.5,
            modelled_latency_s: 2.0,
            prompt_tokens: 300,
            completion_tokens: 400,
            cost_usd: None,
            error: None,
            trace_json: "{}".into(),
            created_at_unix_s: 1_700_000_000,
        }
    }

    #[test]
    fn aggregate_excludes_errors_and_reports_failed_settings_as_unprofiled() {
        let dir = TempDir::new("aggregate");
        let store = dir.open();
        let rows = [
            call("a", 10, "x", 1.0, false),
            call("a", 10, "y", 0.0, false),
            call("a", 10, "z", 1.0, true),
            call("b", 5, "x", 1.0, true),
            call("b", 5, "y", 1.0, true),
        ];
        assert_eq!(store.record_calls(&rows).unwrap(), 5);
        let summary = store.aggregate("solver", "p1").unwrap();
        assert_eq!(
            summary,
            [
                Aggregate {
                    model: "a".into(),
                    budget_tokens: 10,
                    samples: 2,
                    accuracy: Some(0.5),
                    latency_s: 1.5,
                    input_tokens: 100.0,
                    output_tokens: 100.0,
                    n_errors: 1,
                },
                Aggregate {
                    model: "b".into(),
                    budget_tokens: 5,
                    samples: 0,
                    accuracy: None,
                    latency_s: 0.0,
                    input_tokens: 0.0,
                    output_tokens: 0.0,
                    n_errors: 2,
                },
            ]
        );
        assert!(store
            .aggregate("solver", "other prompt")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn calls_round_trip_and_duplicates_are_ignored() {
        let dir = TempDir::new("calls");
        let store = dir.open();
        let mut first = call("a", 10, "x", 1.0, false);
        first.reasoning_tokens = Some(7);
        assert!(store.record_call(&first).unwrap());
        let mut changed = first.clone();
        changed.output = "something else".into();
        assert!(!store.record_call(&changed).unwrap());
        assert_eq!(
            store
                .record_calls(&[first.clone(), call("a", 10, "y", 0.0, false)])
                .unwrap(),
            1
        );
        let rows = store.call_rows("solver", "p1").unwrap();
        assert_eq!(rows, [first, call("a", 10, "y", 0.0, false)]);
        let done = store.calls_done("solver", "p1", "a", 10).unwrap();
        assert_eq!(
            done,
            HashSet::from([("x".to_string(), 0), ("y".to_string(), 0)])
        );
        assert!(store
            .calls_done("solver", "p1", "a", 11)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn failed_calls_are_not_finished_and_a_success_replaces_them() {
        let dir = TempDir::new("retry");
        let store = dir.open();
        let failed = call("a", 10, "x", 0.0, true);
        assert!(store.record_call(&failed).unwrap());
        assert!(store
            .calls_done("solver", "p1", "a", 10)
            .unwrap()
            .is_empty());
        assert_eq!(store.aggregate("solver", "p1").unwrap()[0].n_errors, 1);
        let ok = call("a", 10, "x", 1.0, false);
        assert!(store.record_call(&ok).unwrap());
        assert_eq!(
            store.call_rows("solver", "p1").unwrap(),
            std::slice::from_ref(&ok)
        );
        assert!(
            !store.record_call(&failed).unwrap(),
            "a finished call stays"
        );
        assert_eq!(store.call_rows("solver", "p1").unwrap(), [ok]);
        assert_eq!(
            store.calls_done("solver", "p1", "a", 10).unwrap(),
            HashSet::from([("x".to_string(), 0)])
        );
    }

    #[test]
    fn non_finite_numbers_are_refused_and_nothing_of_the_batch_is_written() {
        let dir = TempDir::new("nonfinite");
        let store = dir.open();
        let mut bad = call("a", 10, "y", 1.0, false);
        bad.latency_s = f64::NAN;
        let err = store
            .record_calls(&[call("a", 10, "x", 1.0, false), bad])
            .unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(
                err,
                StoreError::NonFinite {
                    field: "latency_s",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            message.contains("store.sqlite") && message.contains("(solver, p1, a, 10, y, 0)"),
            "{message}"
        );
        assert!(store.call_rows("solver", "p1").unwrap().is_empty());
        let mut bad_eval = eval("i1", "4");
        bad_eval.cost_usd = Some(f64::INFINITY);
        assert!(matches!(
            store.record_eval(&bad_eval),
            Err(StoreError::NonFinite {
                field: "cost_usd",
                ..
            })
        ));
    }

    #[test]
    fn a_full_disk_is_a_clear_error_and_the_batch_is_absent() {
        let dir = TempDir::new("full");
        let store = dir.open();
        let page_count: i64 = store
            .conn
            .pragma_query_value(None, "page_count", |row| row.get(0))
            .unwrap();
        store
            .conn
            .pragma_update(None, "max_page_count", page_count + 2)
            .unwrap();
        let big: Vec<CallRow> = (0..200)
            .map(|i| {
                let mut row = call("a", 10, &format!("in{i}"), 1.0, false);
                row.output = "x".repeat(1000);
                row
            })
            .collect();
        let err = store.record_calls(&big).unwrap_err();
        assert!(matches!(err, StoreError::DiskFull { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains("store.sqlite") && message.contains("disk full"),
            "{message}"
        );
        assert!(store.call_rows("solver", "p1").unwrap().is_empty());
    }

    #[test]
    fn a_read_only_store_is_a_clear_error() {
        let dir = TempDir::new("read-only");
        drop(dir.open());
        let path = dir.0.join("store.sqlite");
        let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let store = Store { conn, path };
        let err = store
            .record_call(&call("a", 10, "x", 1.0, false))
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::ReadOnly {
                    operation: "record a call",
                    ..
                }
            ),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(message.contains("store.sqlite is read-only"), "{message}");
    }

    #[test]
    fn evaluations_resume_by_item() {
        let dir = TempDir::new("eval");
        let store = dir.open();
        let mut failed = eval("i2", "");
        failed.error = Some("model unreachable".into());
        failed.cost_usd = Some(0.25);
        failed.correct = false;
        assert!(store.record_eval(&eval("i1", "4")).unwrap());
        assert!(store.record_eval(&failed).unwrap());
        assert!(!store.record_eval(&eval("i1", "5")).unwrap());
        // The failed item is recorded but not finished: a rerun runs it again.
        assert_eq!(
            store.eval_done("run1").unwrap(),
            HashSet::from(["i1".into()])
        );
        assert_eq!(
            store.eval_rows("run1").unwrap(),
            [eval("i1", "4"), failed.clone()]
        );
        assert!(store.eval_done("run2").unwrap().is_empty());
        // A failure again replaces the failure; then a success replaces it and stays.
        let mut failed_again = failed.clone();
        failed_again.error = Some("timeout".into());
        assert!(store.record_eval(&failed_again).unwrap());
        assert_eq!(store.eval_rows("run1").unwrap()[1], failed_again);
        assert!(store.record_eval(&eval("i2", "7")).unwrap());
        assert!(!store.record_eval(&failed).unwrap());
        assert_eq!(
            store.eval_rows("run1").unwrap(),
            [eval("i1", "4"), eval("i2", "7")]
        );
        assert_eq!(
            store.eval_done("run1").unwrap(),
            HashSet::from(["i1".into(), "i2".into()])
        );
    }

    #[test]
    fn induced_examples_keep_the_first_version() {
        let dir = TempDir::new("induced");
        let store = dir.open();
        let example = |agent: &str, input_id: &str, reference: &str| InducedRow {
            agent: agent.into(),
            input_id: input_id.into(),
            inputs_json: r#"{"question":"2+2"}"#.into(),
            reference_output: reference.into(),
        };
        let rows = [
            example("solver", "b", "4"),
            example("solver", "a", "5"),
            example("other", "a", "6"),
        ];
        assert_eq!(store.record_induced(&rows).unwrap(), 3);
        assert_eq!(
            store
                .record_induced(&[example("solver", "a", "changed")])
                .unwrap(),
            0
        );
        assert_eq!(
            store.induced("solver").unwrap(),
            [example("solver", "a", "5"), example("solver", "b", "4")]
        );
    }

    #[test]
    fn latest_artifact_is_the_newest_then_the_last_saved() {
        let dir = TempDir::new("artifacts");
        let store = dir.open();
        let artifact = |created_at_unix_s: i64, json: &str| ArtifactRow {
            name: "math".into(),
            created_at_unix_s,
            json: json.into(),
        };
        assert_eq!(store.latest_artifact("math").unwrap(), None);
        for row in [
            artifact(20, "b"),
            artifact(30, "c"),
            artifact(10, "a"),
            artifact(30, "d"),
        ] {
            store.save_artifact(&row).unwrap();
        }
        assert_eq!(
            store.latest_artifact("math").unwrap(),
            Some(artifact(30, "d"))
        );
        assert_eq!(store.latest_artifact("hotpotqa").unwrap(), None);
    }
}

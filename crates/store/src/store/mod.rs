//! The [`Store`]: opening, configuring and migrating the file, and the transaction and checks every
//! write goes through; the typed rows, reads and writes of each table are in its submodule (`eval`,
//! `calls`, `induced`, `artifacts`, `programs`, `captured`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::error::{Result, StoreError};
use crate::schema::{MIGRATIONS, SCHEMA_VERSION};

/// How long a write waits for another process holding the write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

mod artifacts;
mod calls;
mod captured;
mod eval;
mod induced;
mod programs;

pub use artifacts::ArtifactRow;
pub use calls::{Aggregate, CallRow};
pub use captured::CapturedCallRow;
pub use eval::EvalRow;
pub use induced::InducedRow;
pub use programs::ProgramRunRow;

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
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

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

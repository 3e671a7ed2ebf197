//! Program runs (`program_runs`): what a program printed, recorded once per key.

use rusqlite::{params, OptionalExtension};

use super::Store;
use crate::error::Result;

/// One finished run of a program (`program_runs`), unique on its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramRunRow {
    /// The caller's hash of everything the output depends on (program, input, sandbox).
    pub key: String,
    /// Standard output.
    pub stdout: String,
    /// `None` on success, else why the run failed.
    pub error: Option<String>,
    /// The program's exit code.
    pub exit_code: i32,
}

impl Store {
    /// Records a program run; returns whether it was new. A run whose key exists is kept as it
    /// was.
    pub fn record_program_run(&self, row: &ProgramRunRow) -> Result<bool> {
        self.write("record a program run", |tx| {
            tx.execute(
                "INSERT OR IGNORE INTO program_runs (key, stdout, error, exit_code) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![row.key, row.stdout, row.error, row.exit_code],
            )
            .map(|n| n == 1)
        })
    }

    /// The run recorded under `key`, if any.
    pub fn program_run(&self, key: &str) -> Result<Option<ProgramRunRow>> {
        self.conn
            .prepare_cached("SELECT key, stdout, error, exit_code FROM program_runs WHERE key = ?1")
            .and_then(|mut stmt| {
                stmt.query_row([key], |row| {
                    Ok(ProgramRunRow {
                        key: row.get(0)?,
                        stdout: row.get(1)?,
                        error: row.get(2)?,
                        exit_code: row.get(3)?,
                    })
                })
                .optional()
            })
            .map_err(|e| self.err("read a program run", e))
    }

    /// How many program runs are recorded.
    pub fn program_runs(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM program_runs", [], |row| row.get(0))
            .map_err(|e| self.err("count program runs", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_run_is_recorded_once_and_read_back() {
        let dir =
            std::env::temp_dir().join(format!("flowcompile-store-programs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(dir.join("s.sqlite")).unwrap();
        let row = ProgramRunRow {
            key: "k1".into(),
            stdout: "42".into(),
            error: None,
            exit_code: 0,
        };
        assert!(store.record_program_run(&row).unwrap());
        let other = ProgramRunRow {
            stdout: "changed".into(),
            ..row.clone()
        };
        assert!(
            !store.record_program_run(&other).unwrap(),
            "the first run is kept"
        );
        assert_eq!(store.program_run("k1").unwrap(), Some(row));
        assert_eq!(store.program_run("k2").unwrap(), None);
        assert_eq!(store.program_runs().unwrap(), 1);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

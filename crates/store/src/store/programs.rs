//! Program runs (`program_runs`): what a program printed, by its SHA-256, so that scoring the same
//! program again (in this run or a resumed one) does not run it again.

use rusqlite::params;

use super::Store;
use crate::error::Result;

/// What one program printed when it ran successfully (`program_runs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramRun {
    /// Lowercase hex SHA-256 of the program text.
    pub program_sha256: String,
    /// Its standard output, as the caller keeps it.
    pub stdout: String,
}

impl Store {
    /// Records program runs in one transaction; a program already recorded keeps its first run.
    /// Returns how many were new.
    pub fn record_program_runs(&self, runs: &[ProgramRun]) -> Result<usize> {
        self.write("record program runs", |tx| {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO program_runs (program_sha256, stdout) VALUES (?1, ?2) \
                 ON CONFLICT (program_sha256) DO NOTHING",
            )?;
            let mut n_new = 0;
            for run in runs {
                n_new += stmt.execute(params![run.program_sha256, run.stdout])?;
            }
            Ok(n_new)
        })
    }

    /// Every recorded program run, in one query.
    pub fn program_runs(&self) -> Result<Vec<ProgramRun>> {
        let op = "read program runs";
        let mut stmt = self
            .conn
            .prepare_cached("SELECT program_sha256, stdout FROM program_runs")
            .map_err(|e| self.err(op, e))?;
        let runs = stmt
            .query_map([], |row| {
                Ok(ProgramRun {
                    program_sha256: row.get(0)?,
                    stdout: row.get(1)?,
                })
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(op, e))?;
        Ok(runs)
    }
}

//! Induced examples (`induced`): per agent, the first version of each input is kept.

use rusqlite::params;

use super::Store;
use crate::error::Result;

const INSERT_INDUCED: &str = "INSERT OR IGNORE INTO induced (agent, input_id, inputs_json, \
     reference_output) VALUES (?1, ?2, ?3, ?4)";

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

impl Store {
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
}

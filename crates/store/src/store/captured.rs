//! Captured agent calls (`captured_calls`): what an application's agents sent through the gateway
//! and what they got back, per (run, agent, call index).

use rusqlite::params;

use super::Store;
use crate::error::Result;

/// One captured agent call (`captured_calls`), unique on (run, agent, call index).
#[derive(Debug, Clone, PartialEq)]
pub struct CapturedCallRow {
    /// The run (one run of the workflow on one input; the labelled item's id).
    pub run: String,
    /// The agent that made the call.
    pub agent: String,
    /// The call's index among the run's calls of the agent, from 0, in the order they were
    /// written; [`Store::record_captured_call`] gives it.
    pub call_index: u32,
    /// The model the call went to.
    pub model: String,
    /// Its thinking budget, tokens.
    pub budget_tokens: u32,
    /// The request as captured (messages and sampling parameters; no header, no key), as JSON.
    pub request_json: String,
    /// The answer (empty when the call failed).
    pub reply: String,
    /// The thinking, when the model thought and the server said.
    pub reasoning: Option<String>,
    /// Prompt tokens, when the server reported usage.
    pub prompt_tokens: Option<u64>,
    /// Completion tokens (thinking included), when the server reported usage.
    pub completion_tokens: Option<u64>,
    /// Wall seconds the call took.
    pub latency_s: f64,
    /// `None` on success, else why the call failed (the provider's secrets redacted).
    pub error: Option<String>,
    /// When the call was written, Unix seconds (given by the caller).
    pub created_at_unix_s: i64,
}

const COLUMNS: &str = "run, agent, call_index, model, budget, request_json, reply, reasoning, \
     prompt_tokens, completion_tokens, latency_s, error, created_at_unix_s";

impl Store {
    /// Records a captured call under the next call index of its (run, agent), ignoring
    /// `row.call_index`, and returns the index given. One transaction: concurrent writers of one
    /// run get distinct indices.
    pub fn record_captured_call(&self, row: &CapturedCallRow) -> Result<u32> {
        self.finite(
            "captured_calls",
            || format!("run {} agent {}", row.run, row.agent),
            &[("latency_s", Some(row.latency_s))],
        )?;
        self.write("record a captured call", |tx| {
            let index: u32 = tx.query_row(
                "SELECT COALESCE(MAX(call_index) + 1, 0) FROM captured_calls \
                 WHERE run = ?1 AND agent = ?2",
                params![row.run, row.agent],
                |r| r.get(0),
            )?;
            tx.execute(
                &format!(
                    "INSERT INTO captured_calls ({COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
                ),
                params![
                    row.run,
                    row.agent,
                    index,
                    row.model,
                    row.budget_tokens,
                    row.request_json,
                    row.reply,
                    row.reasoning,
                    row.prompt_tokens,
                    row.completion_tokens,
                    row.latency_s,
                    row.error,
                    row.created_at_unix_s
                ],
            )?;
            Ok(index)
        })
    }

    /// Every captured call, by run, agent and call index.
    pub fn captured_calls(&self) -> Result<Vec<CapturedCallRow>> {
        let op = "read captured calls";
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM captured_calls ORDER BY run, agent, call_index"
            ))
            .map_err(|e| self.err(op, e))?;
        let rows = stmt
            .query_map([], |row| {
                Ok(CapturedCallRow {
                    run: row.get(0)?,
                    agent: row.get(1)?,
                    call_index: row.get(2)?,
                    model: row.get(3)?,
                    budget_tokens: row.get(4)?,
                    request_json: row.get(5)?,
                    reply: row.get(6)?,
                    reasoning: row.get(7)?,
                    prompt_tokens: row.get(8)?,
                    completion_tokens: row.get(9)?,
                    latency_s: row.get(10)?,
                    error: row.get(11)?,
                    created_at_unix_s: row.get(12)?,
                })
            })
            .map_err(|e| self.err(op, e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(op, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(run: &str, agent: &str, reply: &str) -> CapturedCallRow {
        CapturedCallRow {
            run: run.into(),
            agent: agent.into(),
            call_index: 99,
            model: "big".into(),
            budget_tokens: 200,
            request_json: r#"{"messages":[]}"#.into(),
            reply: reply.into(),
            reasoning: None,
            prompt_tokens: Some(10),
            completion_tokens: Some(20),
            latency_s: 0.5,
            error: None,
            created_at_unix_s: 7,
        }
    }

    #[test]
    fn calls_get_the_next_index_of_their_run_and_agent() {
        let dir =
            std::env::temp_dir().join(format!("flowcompile-store-captured-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(dir.join("s.sqlite")).unwrap();
        assert_eq!(
            store
                .record_captured_call(&row("r1", "solver", "a"))
                .unwrap(),
            0
        );
        assert_eq!(
            store
                .record_captured_call(&row("r1", "solver", "b"))
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .record_captured_call(&row("r1", "judge", "c"))
                .unwrap(),
            0
        );
        assert_eq!(
            store
                .record_captured_call(&row("r2", "solver", "d"))
                .unwrap(),
            0
        );
        let all = store.captured_calls().unwrap();
        let keys: Vec<(&str, &str, u32, &str)> = all
            .iter()
            .map(|r| {
                (
                    r.run.as_str(),
                    r.agent.as_str(),
                    r.call_index,
                    r.reply.as_str(),
                )
            })
            .collect();
        assert_eq!(
            keys,
            [
                ("r1", "judge", 0, "c"),
                ("r1", "solver", 0, "a"),
                ("r1", "solver", 1, "b"),
                ("r2", "solver", 0, "d")
            ]
        );
        assert_eq!(all[0].prompt_tokens, Some(10));
        let mut bad = row("r3", "solver", "e");
        bad.latency_s = f64::NAN;
        assert!(store.record_captured_call(&bad).is_err());
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

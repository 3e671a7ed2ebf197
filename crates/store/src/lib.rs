//! The embedded SQLite store where flowcompile keeps what it measures, so that an interrupted run
//! resumes and a rerun never repeats finished work.
//!
//! [`Store`] is one SQLite file per project, opened in WAL mode with a busy timeout and foreign
//! keys on; its schema is versioned with `PRAGMA user_version` and migrated forward on open (a
//! file newer than this code is refused with [`StoreError::TooNew`]). Every write is one
//! transaction, so a process killed at any moment leaves each write fully present or absent.
//!
//! Its tables, each with typed rows (text and JSON columns are strings the caller serialises):
//! - `eval_results` ([`EvalRow`]): end-to-end evaluations, keyed by (run key, item id);
//! - `calls` ([`CallRow`]): every profiling call, unique on (agent, prompt key, model, budget,
//!   input id, sample), summarised per setting by [`Store::aggregate`] into [`Aggregate`]s;
//! - `induced` ([`InducedRow`]): per-agent pseudo-ground-truth examples;
//! - `artifacts` ([`ArtifactRow`]): compiled artifacts and other named documents;
//! - `program_runs` ([`ProgramRunRow`]): what a program written by a model printed, keyed by the
//!   caller's hash of the program, its input and the sandbox it ran in, so it runs once;
//! - `captured_calls` ([`CapturedCallRow`]): an application's agent calls captured by the gateway,
//!   keyed by (run, agent, call index), the index given by the store in the order calls are written.
//!
//! The store has no clock: times are given by the caller.
//!
//! ```
//! use flowcompile_store::{CallRow, Store};
//!
//! let dir = std::env::temp_dir().join(format!("flowcompile-store-doctest-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let store = Store::open(dir.join("project.sqlite"))?;
//! let call = CallRow {
//!     agent: "solver".into(),
//!     prompt_key: "p1".into(),
//!     model: "qwen3-4b".into(),
//!     budget_tokens: 200,
//!     input_id: "q17".into(),
//!     sample: 0,
//!     output: "42".into(),
//!     score: Some(1.0),
//!     latency_s: 0.8,
//!     prompt_tokens: 120,
//!     completion_tokens: 230,
//!     reasoning_tokens: Some(200),
//!     error: None,
//! };
//! assert!(store.record_call(&call)?);
//! assert!(!store.record_call(&call)?, "a resumed run never duplicates a call");
//! let done = store.calls_done("solver", "p1", "qwen3-4b", 200)?;
//! assert!(done.contains(&("q17".to_string(), 0)));
//! let summary = store.aggregate("solver", "p1")?;
//! assert_eq!((summary[0].samples, summary[0].accuracy), (1, Some(1.0)));
//! drop(store);
//! std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod error;
mod schema;
mod store;

pub use error::{Result, StoreError};
pub use schema::SCHEMA_VERSION;
pub use store::{
    Aggregate, ArtifactRow, CallRow, CapturedCallRow, EvalRow, InducedRow, ProgramRunRow, Store,
};

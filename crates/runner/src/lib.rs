//! The workflow executor: runs one configuration of a workflow on one dataset item.
//!
//! A [`Config`] picks a structure of the workflow's design space and a (model, budget) setting per
//! slot; build it from a search point ([`Config::from_point`]) or an artifact point
//! (`flowcompile_artifact::Point::config`). A [`Runner`] walks the structure's concrete expression: a
//! sequence passes each step's output on as `input`; any-of and all-of run their branches
//! concurrently and pass on the list (a call after them reads it as `candidates`, its first element as
//! `input`); a conditional draws a branch by weight from a seeded hash; a retry runs its fixer while the
//! last test failed and attempts remain, with `input` = the last solution and `feedback` = the test
//! report. Prompts are minijinja templates over the item's fields plus `input`, `candidates` and
//! `feedback`, with strict undefined variables. Each model call goes through
//! [`flowcompile_client::Client`] with the agent's name and a seed distinct per item, site and sample.
//!
//! Replies go through the agent's output parser ([`parse_output`]); tools ([`tools`]) extract answers,
//! run Python (confined: a cleared environment, a temporary directory, resource limits and, where the kernel allows, new namespaces; see [`tools`]), run tests, pick the final solution and select paragraphs.
//! The final answer is scored ([`score`], [`score_text`]) and the [`RunResult`] carries the trace:
//! every [`CallRecord`] and [`ToolRecord`], wall and modelled latency, tokens. A failed call fails the
//! item with a [`RunError`], never an empty answer.
//!
//! ```
//! use flowcompile_ir::{OutputParser, Scorer};
//! use flowcompile_runner::{parse_output, score_text, tools::extract_answer};
//!
//! let reply = "48 / 2 = 24 in May, so \\boxed{72} in all.";
//! assert_eq!(parse_output(&OutputParser::Boxed, reply), Ok("72".to_string()));
//! assert_eq!(extract_answer("She sold 72 clips."), "72");
//! let s = score_text(Scorer::ExactNumber, "72", "#### 72").unwrap();
//! assert!(s.correct);
//! ```
#![deny(missing_docs)]

mod exec;
mod parse;
mod score;
pub mod tools;

pub use exec::{item_id, CallRecord, RunError, RunResult, Runner, ToolRecord};
/// The configuration the runner runs: defined in `flowcompile_ir`, one type for every crate.
pub use flowcompile_ir::{Config, ConfigError};
pub use parse::{last_boxed, last_code_block, last_tag, parse_output};
pub use score::{f1, last_number, normalize_answer, normalize_math, score, score_text, Score};

//! Profiles of a workflow's sub-agents: what each agent achieves under each (model, budget) setting.
//!
//! A profiles file has one row per (agent, model, budget) with the columns of [`PROFILE_COLUMNS`]
//! (`agent, model, budget, accuracy, samples, latency_s, input_tokens, output_tokens`), as CSV with a
//! header row in any column order, or as JSONL. [`parse_profiles`] turns it into a [`ProfileTable`]
//! of validated [`ProfileRow`]s; [`parse_throughput`] reads the per-model [`ThroughputRow`]s that
//! token-based latency needs. [`resolve`] then gives, for every setting of every agent a
//! [`flowcompile_ir::Workflow`] calls, the [`Metrics`] the proxy composes. [`write_csv`] and
//! [`write_jsonl`] write rows back.
//!
//! Every function is pure (text in, values out) and reports all problems at once in a
//! [`ProfileErrors`], each naming the input and line.
//!
//! ```
//! use flowcompile_ir::{Agent, AgentId, NodeKind, Setting, Workflow};
//! use flowcompile_profile::*;
//!
//! let text = "agent,model,budget,accuracy,samples,latency_s,input_tokens,output_tokens\n\
//!             solver,qwen3-8b,100,0.82,200,3.5,900,400\n\
//!             solver,qwen3-8b,1000,0.9,200,12.0,900,1300\n";
//! let table = parse_profiles(text, "profiles.csv", Format::Csv).unwrap();
//!
//! let settings = vec![Setting::new("qwen3-8b", 100), Setting::new("qwen3-8b", 1000)];
//! let mut wf = Workflow::new("demo", vec![Agent::new("solver", settings)]);
//! wf.root = wf.add_node("solver", NodeKind::Agent(AgentId(0)));
//!
//! let resolved = resolve(&wf, &table, &[], LatencyModel::Measured).unwrap();
//! assert_eq!(resolved.metrics(AgentId(0))[1], Metrics { accuracy: 0.9, latency_s: 12.0 });
//! assert_eq!(resolved.n_unused_rows, 0);
//! ```
#![deny(missing_docs)]

mod error;
mod read;
mod resolve;
mod table;
mod write;

pub use error::{ProfileError, ProfileErrors};
pub use flowcompile_ir::LatencyModel;
pub use read::Format;
pub use resolve::{resolve, Metrics, Resolved};
pub use table::{
    parse_profiles, parse_throughput, ProfileEntry, ProfileRow, ProfileTable, ThroughputRow,
    PROFILE_COLUMNS, THROUGHPUT_COLUMNS,
};
pub use write::{write_csv, write_jsonl, write_throughput_csv};

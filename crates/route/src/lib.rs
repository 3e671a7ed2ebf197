//! KNN routing over a compiled workflow, as in the FlowCompile paper: embed the query, take the `k`
//! nearest validation queries (cosine similarity), average their own per-agent profiles, re-compose
//! the exact frontier from them ([`flowcompile_search::pareto`], under the artifact's execution
//! model) and pick a point by the request's preference or limits ([`flowcompile_select::select`]).
//!
//! A neighbour with no profiling call for some (agent, setting) contributes that agent's **global**
//! profile there (the mean over every profiling call, what compile used), so a query whose
//! neighbours carry no information gets the static frontier back. Profiling runs each agent on a
//! sample of induced examples, so an item usually has calls for some agents only.
//!
//! The crate is pure: no I/O. [`RouterFile`] (`flowcompile.router.v1`) is text in, text out; the
//! CLI builds it from the store (`flowcompile route build`) and embeds queries through an
//! OpenAI-compatible `/v1/embeddings` endpoint.
//!
//! ```
//! use flowcompile_ir::*;
//! use flowcompile_route::*;
//! let agent = Agent::new("solver", vec![Setting::new("small", 10), Setting::new("large", 10)]);
//! let mut wf = Workflow::new("demo", vec![agent]);
//! wf.root = wf.add_node("solver", NodeKind::Agent(AgentId(0)));
//! let global = |model: &str, accuracy| GlobalSetting { model: model.into(), budget_tokens: 10, accuracy, latency_s: if model == "small" { 1.0 } else { 5.0 } };
//! // One item on which the small model is as good as the large one.
//! let easy = RouterItem { id: "easy".into(), embedding: vec![1.0, 0.0], profile: vec![
//!     ItemCell { agent: 0, setting: 0, accuracy: 1.0, latency_s: 1.0, calls: 1 },
//!     ItemCell { agent: 0, setting: 1, accuracy: 1.0, latency_s: 5.0, calls: 1 },
//! ] };
//! let file = RouterFile {
//!     format: FORMAT_V1.into(), workflow: "demo".into(), spec_sha256: None, artifact_sha256: None,
//!     execution: flowcompile_artifact::ExecutionModel::Parallel, k: 1, prior_calls: 0.0, embed_model: "e".into(), dims: 2,
//!     models_label: None,
//!     agents: vec![RouterAgent { name: "solver".into(), settings: vec![global("small", 0.5), global("large", 0.9)] }],
//!     items: vec![easy],
//! };
//! let router = Router::new(&wf, file, "router.json")?;
//! let high = flowcompile_select::Request { preference: Some(0.9), ..Default::default() };
//! let routed = router.route(&[0.9, 0.1], &high)?;
//! assert_eq!(routed.settings, vec![(SlotId(0), 0)], "the easy neighbour makes the small model enough");
//! # Ok::<(), RouteError>(())
//! ```
#![deny(missing_docs)]

mod error;
mod file;
mod router;

pub use error::RouteError;
pub use file::{
    json_schema, GlobalSetting, ItemCell, RouterAgent, RouterFile, RouterItem, FORMAT_V1,
};
pub use router::{Neighbour, QueryFrontier, Routed, Router};

/// The text a workflow input is embedded from, for router files and queries alike: the task's
/// fields that are strings or numbers, in field order, one per line (lists such as HotpotQA
/// paragraphs are left out).
pub fn query_text(item: &serde_json::Value, fields: &[String]) -> String {
    fields
        .iter()
        .filter_map(|f| match item.get(f) {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(v @ serde_json::Value::Number(_)) => Some(v.to_string()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests;

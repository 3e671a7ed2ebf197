//! flowcompile's compiled-workflow server: compiled workflows behind an OpenAI-compatible API.
//!
//! (The zoo's HTTP server is `flowcompile_zoo::http`, behind the zoo crate's `http` feature.)
//!
//! [`serve_workflows`] serves compiled workflows ([`ServedWorkflow`]: a workflow, its artifact and a
//! model client): each workflow is a model of `POST /v1/chat/completions`, and each request picks its
//! point of the frontier by model suffix (`math@fast`, `math@high`, `math@0.7`, `math@p3`) or by the
//! `preference`, `min_accuracy` and `max_latency_s` body fields (or `x-flowcompile-*` headers). The
//! last user message is the workflow's input: its text fills the task's first field, or, when it is a
//! JSON object, it gives the fields by name. The reply is a chat completion with the usage summed over
//! the workflow's calls and a `flowcompile` object ([`RunInfo`]). Streamed, the final agent's reply
//! goes out as `reasoning_content` deltas as the model produces it, then the answer as `content`.
//! `POST /v1/completions` answers the same models with the prompt as the input. Also
//! `GET /v1/models`, `GET /health` and `GET /metrics` (Prometheus text format). [`WorkflowServeOptions`]
//! sets the body limit, the per-request timeout and an optional bearer token.
#![deny(missing_docs)]

mod error;
mod metrics;
mod workflow;

pub use error::ApiError;
pub use workflow::{
    serve_workflows, workflow_router, Measured, RoutedBy, RunInfo, Selection, ServeError,
    ServedWorkflow, Trace, WorkflowServeOptions, MAX_LATENCY_HEADER, MEASURED_LATENCY_HEADER,
    MIN_ACCURACY_HEADER, POINT_HEADER, PREDICTED_ACCURACY_HEADER, PREDICTED_LATENCY_HEADER,
    PREFERENCE_HEADER, PRESETS, STRUCTURE_HEADER, WORKFLOW_HEADER,
};

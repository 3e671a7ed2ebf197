//! flowcompile's HTTP servers: the model zoo, and compiled workflows, behind an OpenAI-compatible API.
//!
//! [`serve_zoo`] serves a [`flowcompile_zoo::Zoo`] on a listener until a shutdown future resolves:
//! `POST /v1/chat/completions` and `POST /v1/completions` (plain or streamed as server-sent events),
//! `GET /v1/models`, `POST /v1/embeddings` and `GET /health`, as the OpenAI API defines them (the
//! zoo's own additions: the `x-flowcompile-agent` request header naming the agent, whose role the
//! zoo's config gives, and the modelled latency in the `x-zoo-latency-s` response header). [`zoo_router`] gives the same endpoints as an [`axum::Router`] to mount
//! elsewhere; [`ZooServeOptions`] sets the latency time scale and the request body limit. Client mistakes
//! get a 4xx status and the OpenAI error body (see [`ApiError`]).
//!
//! [`serve_workflows`] serves compiled workflows ([`ServedWorkflow`]: a workflow, its artifact and a
//! model client): each workflow is a model of `POST /v1/chat/completions`, and each request picks its
//! point of the frontier by model suffix (`math@fast`, `math@high`, `math@0.7`, `math@p3`) or by the
//! `preference`, `min_accuracy` and `max_latency_s` body fields (or `x-flowcompile-*` headers). The
//! last user message is the workflow's input: its text fills the task's first field, or, when it is a
//! JSON object, it gives the fields by name. The reply is a chat completion (or its SSE stream) with
//! the usage summed over the workflow's calls and a `flowcompile` object ([`RunInfo`]); also
//! `GET /v1/models`, `GET /health` and `GET /metrics` (Prometheus text format). [`WorkflowServeOptions`]
//! sets the body limit, the per-request timeout and an optional bearer token.
//!
//! ```no_run
//! use std::sync::Arc;
//! use flowcompile_server::{serve_zoo, ZooServeOptions};
//! use flowcompile_zoo::{Zoo, ZooConfig};
//! # async fn run() -> std::io::Result<()> {
//! let zoo = Arc::new(Zoo::new(ZooConfig::default(), vec![]).expect("valid default config"));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! println!("zoo at http://{}/v1", listener.local_addr()?);
//! serve_zoo(listener, zoo, ZooServeOptions::default(), async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! # }
//! ```
#![deny(missing_docs)]

mod error;
mod metrics;
mod workflow;
mod zoo;

pub use error::ApiError;
pub use flowcompile_zoo;
pub use workflow::{
    serve_workflows, workflow_router, Measured, RunInfo, Selection, ServeError, ServedWorkflow,
    Trace, WorkflowServeOptions, MAX_LATENCY_HEADER, MEASURED_LATENCY_HEADER, MIN_ACCURACY_HEADER,
    POINT_HEADER, PREDICTED_ACCURACY_HEADER, PREDICTED_LATENCY_HEADER, PREFERENCE_HEADER, PRESETS,
    STRUCTURE_HEADER, WORKFLOW_HEADER,
};
pub use zoo::{serve_zoo, zoo_router, ZooServeOptions, AGENT_HEADER, LATENCY_HEADER};

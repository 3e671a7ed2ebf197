//! flowcompile's HTTP server: the model zoo behind an OpenAI-compatible API.
//!
//! [`serve_zoo`] serves a [`flowcompile_zoo::Zoo`] on a listener until a shutdown future resolves:
//! `POST /v1/chat/completions` and `POST /v1/completions` (plain or streamed as server-sent events),
//! `GET /v1/models`, `POST /v1/embeddings` and `GET /health`, following the wire contract of
//! `notes/zoo-protocol.md`. [`zoo_router`] gives the same endpoints as an [`axum::Router`] to mount
//! elsewhere; [`ZooServeOptions`] sets the latency time scale and the request body limit. Client mistakes
//! get a 4xx status and the OpenAI error body (see [`ApiError`]).
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
mod zoo;

pub use error::ApiError;
pub use flowcompile_zoo;
pub use zoo::{serve_zoo, zoo_router, ZooServeOptions, AGENT_HEADER, LATENCY_HEADER};

//! Serde wire types of the OpenAI-compatible HTTP API, as vLLM, SGLang, llama.cpp and OpenAI speak it.
//!
//! The principal types are the request and response bodies of each endpoint:
//! [`ChatCompletionRequest`] / [`ChatCompletionResponse`] / [`ChatCompletionChunk`] (`/v1/chat/completions`),
//! [`CompletionRequest`] / [`CompletionResponse`] / [`CompletionChunk`] (`/v1/completions`),
//! [`ModelList`] (`/v1/models`), [`EmbeddingRequest`] / [`EmbeddingResponse`] (`/v1/embeddings`) and the
//! error body [`ErrorResponse`]. Shared pieces are [`Usage`], [`Stop`] and [`StreamOptions`].
//!
//! With the `axum` feature, `ApiError` (a status and an [`ErrorResponse`] as an axum response) and the
//! request-body and fallback helpers give every OpenAI-compatible server here the same error replies;
//! the default build is serde only.
//!
//! Real servers differ in what they send, so every response field a server may omit is an `Option` or has a
//! serde default: parsing never fails on a valid OpenAI-shaped body. Request types keep fields they do not
//! know in an `extra` map (`#[serde(flatten)]`) so that nothing a caller sets is lost, and serialise only
//! the fields that are set.
//!
//! ```
//! use flowcompile_openai::*;
//! let mut req = ChatCompletionRequest::new("zoo-8b", vec![ChatMessage::user("What is 2 + 2?")]);
//! req.max_tokens = Some(64);
//! req.seed = Some(3);
//! let json = serde_json::to_string(&req).unwrap();
//! assert_eq!(json, r#"{"model":"zoo-8b","messages":[{"role":"user","content":"What is 2 + 2?"}],"max_tokens":64,"seed":3}"#);
//!
//! let body = r#"{"choices":[{"message":{"role":"assistant","content":"4"},"finish_reason":"stop"}]}"#;
//! let resp: ChatCompletionResponse = serde_json::from_str(body).unwrap();
//! assert_eq!(resp.choices[0].message.content.as_deref(), Some("4"));
//! assert!(resp.usage.is_none());
//! ```
#![deny(missing_docs)]

#[cfg(feature = "axum")]
mod api_error;
mod auth;
mod chat;
mod common;
mod completions;
mod embeddings;
mod error;
mod models;

#[cfg(feature = "axum")]
pub use api_error::{parse_json, unknown_path, wrong_method, ApiError};
pub use auth::bearer_matches;
pub use chat::{
    AssistantMessage, ChatChoice, ChatChunkChoice, ChatCompletionChunk, ChatCompletionRequest,
    ChatCompletionResponse, ChatDelta, ChatMessage, ContentPart, MessageContent,
};
pub use common::{CompletionTokensDetails, Stop, StreamOptions, Usage, STREAM_DONE};
pub use completions::{
    CompletionChoice, CompletionChunk, CompletionRequest, CompletionResponse, Prompt,
};
pub use embeddings::{
    Embedding, EmbeddingInput, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage,
};
pub use error::{ErrorBody, ErrorResponse};
pub use models::{Model, ModelList};

/// A JSON object, used for unknown request fields and free-form extras.
pub type Map = serde_json::Map<String, serde_json::Value>;

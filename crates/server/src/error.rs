//! Errors of the HTTP endpoints, rendered as OpenAI error bodies: the replies `flowcompile_openai`
//! shares with the zoo's server (its `axum` feature).

pub use flowcompile_openai::{parse_json, unknown_path, wrong_method, ApiError};

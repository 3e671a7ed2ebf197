//! The model zoo: a family of deterministic synthetic LLMs for demos, CI and ground-truth studies.
//!
//! A [`Zoo`] is built from a [`ZooConfig`] (the embedded default, `zoo.toml`, has five Qwen3-shaped
//! models `zoo-0.6b` ... `zoo-14b`) and [`TaskSet`]s read from JSONL text. It answers in two ways:
//! - in process, fast ([`Zoo::respond`] with a [`ZooRequest`], returning a [`ZooReply`]): millions of
//!   calls per second for exhaustive ground truth;
//! - at the text level ([`Zoo::chat`], [`Zoo::complete`] with [`GenOptions`], returning a [`TextReply`]):
//!   what the `http` module (feature `http`) serves over the OpenAI-compatible HTTP API, with Qwen3-style
//!   `<think>` blocks so that client-side budget forcing works for real;
//! - per OpenAI request ([`Zoo::serve_chat`], [`Zoo::serve_completion`], [`Zoo::serve_embeddings`]):
//!   the request checks and option mapping that the HTTP server and the client's in-process transport
//!   share, so both give the same replies for the same request body.
//!
//! With the `http` feature, module `http` serves a zoo over the OpenAI-compatible HTTP API (axum,
//! tokio; `flowcompile zoo serve`). Without it, the default, the crate is pure: no I/O, no clock, no
//! environment. Every reply is a function of the config, the
//! tasks and the request, and everything made from it says "zoo (synthetic)" ([`LABEL`], sent as every reply's
//! [`SYSTEM_FINGERPRINT`]).
//!
//! # Behaviour model
//! - **Difficulty.** Task d (logits) = dataset offset + `level_step` x (level - 3) + `spread` x z, z a
//!   seeded standard normal per task. Shared difficulty correlates the errors of all agents and models.
//! - **Need and budget.** A model needs n = `need_tokens` x `need_scale` x exp(`need_growth` x d)
//!   thinking tokens; with budget b it thinks min(b, n) tokens and has effective ability
//!   eff = ability + g x ln(1 + min(b, n) / b0).
//! - **Roles** (agent name -> role in the config, default solve): solve is right with
//!   P = sigmoid(eff - d), else it gives one of the task's few popular wrong answers (so wrong votes can
//!   coincide); refine keeps a right input with sigmoid(eff - d + refine_keep) and fixes a wrong one with
//!   sigmoid(eff - d - refine_delta); select picks a present right candidate with a probability growing
//!   with ability and with how many candidates agree on it, else the majority; format preserves its input
//!   with sigmoid(eff - d + format_keep); judge is right with sigmoid(eff - d + judge_bonus). Without
//!   inputs every role but judge solves.
//! - **Determinism.** Every draw hashes (seed, model, thinking tokens, role, task, agent, inputs,
//!   sample): the same call gives the same reply, distinct samples (or agents) are independent. A runner
//!   that calls one agent several times in one run passes distinct samples.
//! - **Usage and time.** A token is a whitespace-separated word. Latency = ttft + prompt / prefill +
//!   completion / decode.
//!
//! ```
//! use flowcompile_zoo::*;
//! let tasks = TaskSet::from_jsonl("gsm8k_demo.jsonl", r#"{"question": "What is 6 times 7?", "answer": "42"}"#)?;
//! let zoo = Zoo::new(ZooConfig::default(), vec![tasks])?;
//! let task = zoo.find_task("Please solve: what is 6 times 7?");
//! let req = ZooRequest {
//!     model: zoo.model_id("zoo-14b").unwrap(),
//!     agent: "solver",
//!     role: Role::Solve,
//!     task,
//!     inputs: &[],
//!     budget_tokens: 1000,
//!     sample: 0,
//! };
//! let reply = zoo.respond(&req)?;
//! assert_eq!(reply.correct, Some(reply.answer == "42"));
//! assert_eq!(zoo.respond(&req)?, reply);
//!
//! let chat = zoo.chat("zoo-14b", Some("solver"), &[flowcompile_openai::ChatMessage::user("What is 6 times 7?")], &GenOptions::default())?;
//! assert!(chat.text.starts_with("<think>\n"));
//! assert_eq!(chat.task, task);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod answer;
mod api;
mod config;
mod embed;
mod hash;
#[cfg(feature = "http")]
pub mod http;
mod index;
mod tasks;
mod text;
mod zoo;

pub use api::{RequestError, Served, MAX_CHOICES};
pub use config::{
    BehaviourParams, ConfigError, DatasetParams, DifficultyParams, ModelSpec, Role, ZooConfig,
    DEFAULT_CONFIG_TOML,
};
pub use embed::EMBED_DIMS;
pub use tasks::{Task, TaskError, TaskSet};
pub use text::{FinishReason, GenOptions, TextReply, FORCING_PHRASE, LABEL, SYSTEM_FINGERPRINT};
pub use zoo::{ModelId, TaskId, Zoo, ZooError, ZooReply, ZooRequest};

//! How flowcompile reaches models: an async client of OpenAI-compatible HTTP servers (vLLM, SGLang,
//! Ollama, llama.cpp server, LiteLLM, OpenAI, and flowcompile's own zoo).
//!
//! [`Providers`] is the providers config (TOML): for each model name a workflow uses, the endpoint
//! (`base_url`, key variable, server model id), the API (`chat` or `completions`), how reasoning budgets
//! are applied ([`BudgetMode`]), the prompt template for completions ([`ChatTemplate`]), the endpoint's
//! concurrency, timeout, retries, prices and extra headers. [`Client::call`] sends a [`CallRequest`] and
//! returns a [`CallOutcome`]: the answer without the thinking, token usage, wall latency, time to first
//! token when streamed, the server's modelled latency (`x-zoo-latency-s`), attempts and cost. Failures that
//! survive the retries come back as a [`ClientError`], never as an empty answer. [`Client::embed`] calls
//! `/v1/embeddings`.
//!
//! # Budget modes and servers
//!
//! | `budget` | what is sent | servers |
//! |---|---|---|
//! | `forcing` | `/v1/completions` on the prompt rendered with `chat_template`, `max_tokens` = budget; a thinking without `</think>` gets [`EARLY_STOP`] appended and a second request (`max_tokens` = answer tokens) for the answer | any server with `/v1/completions`: vLLM, SGLang, llama.cpp server, Ollama, LiteLLM to those, the zoo |
//! | `reasoning_effort` | chat with `reasoning_effort` = `low` (budget <= 1024), `medium` (<= 4096) or `high`, no token cap | OpenAI reasoning models, vLLM, SGLang, the zoo |
//! | `max_tokens` | `max_tokens` = budget + answer tokens (thinking that overruns leaves no answer) | every server |
//! | `none` | `chat_template_kwargs = {"enable_thinking": false}` (chat) or Qwen3's empty think block (completions); the budget is ignored | vLLM, SGLang and the zoo for chat; any server for completions with `qwen3` |
//!
//! A provider's `stop` sequences go with every request; with `api = "completions"`, `chat_template = "plain"`
//! and `stop = ["\n"]`, a base model (no chat tuning) answers a few-shot prompt in one line.
//!
//! Forcing sums the usage and latency of its two requests; the answer is what follows `</think>`. The
//! early-stop text is the FlowCompile paper's, after Qwen3's budget forcing; the client puts a newline before
//! it when the cut thinking does not end in whitespace.
//!
//! # Transports
//!
//! [`Client::new`] POSTs JSON bodies to each provider's `base_url`. `Client::with_zoo` (cargo feature
//! `zoo`, off by default so that production builds link no zoo) answers every provider from a
//! `flowcompile_zoo::Zoo` in this process: the same typed request bodies (budget mode,
//! chat template, forcing's two requests, seed, agent name) go to the zoo's request logic that its HTTP
//! server also uses, without serialising anything, and come back with the same text, usage and modelled
//! latency as over loopback HTTP (tested); only wall latencies differ. Limits and retries apply alike;
//! timeouts and the provider's key and headers only matter over HTTP. `cargo bench -p
//! flowcompile-client` measures calls/s of both transports in one run.
//!
//! # Limits, retries, secrets
//!
//! Entries with the same `base_url` share one concurrency limit (a permit is held during each attempt, not
//! while backing off). Attempts are retried with exponential backoff and jitter ([`RetryPolicy`]) on 429,
//! 5xx, timeouts, connection errors, unreadable bodies and replies without choices, honouring
//! `Retry-After`; other 4xx are not retried. Keys are read from the environment variable `api_key_env`
//! names and sent as a bearer token. The key, every `headers` value and the user-info of `base_url`
//! (`http://user:secret@host/v1`) are secrets: [`Provider::redact`] takes them out of every server
//! message, network error and stream error before it becomes a [`ClientError`] or a log line (a body
//! echoing them is redacted before it is cut to 200 characters), URLs are shown as
//! `http://***@host/v1` ([`redact_userinfo`]) in errors, logs and `Debug`, and a providers file whose
//! syntax error would quote a header value has it redacted.
//!
//! ```
//! use flowcompile_client::{BudgetMode, ChatTemplate, Client, Providers, reasoning_effort, split_thinking};
//! use flowcompile_openai::ChatMessage;
//!
//! let toml = r#"
//!     [models."zoo-8b"]
//!     base_url = "http://127.0.0.1:8000/v1"
//!     budget = "forcing"
//!     chat_template = "qwen3"
//! "#;
//! let providers = Providers::from_toml_str(toml, "providers.toml")?;
//! let zoo = providers.get("zoo-8b").unwrap();
//! assert_eq!((zoo.budget, zoo.concurrency), (BudgetMode::Forcing, 8));
//! let prompt = ChatTemplate::Qwen3.render(&[ChatMessage::user("2 + 2?")], true)?;
//! assert_eq!(prompt, "<|im_start|>user\n2 + 2?<|im_end|>\n<|im_start|>assistant\n");
//! assert_eq!(reasoning_effort(2000), "medium");
//! assert_eq!(split_thinking("<think>\nadd\n</think>\n\n4").answer, "4");
//! let client = Client::new(providers)?;
//! assert!(client.providers().get("zoo-8b").is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod budget;
mod client;
mod config;
#[cfg(feature = "zoo")]
mod inproc;
mod redact;
mod retry;
mod sse;
mod template;
mod think;

pub use budget::reasoning_effort;
pub use client::{
    CallOutcome, CallRequest, Client, ClientError, Delta, DeltaSink, Embeddings, Failure,
    TokenUsage, AGENT_HEADER, MODELLED_LATENCY_HEADER,
};
pub use config::{
    Api, ApiKey, BudgetMode, ConfigError, Provider, Providers, DEFAULT_CONCURRENCY,
    DEFAULT_MAX_RETRIES, DEFAULT_MAX_TOKENS, DEFAULT_TIMEOUT_S,
};
pub use redact::{redact_userinfo, REDACTED, REDACTED_USERINFO};
pub use retry::RetryPolicy;
pub use template::ChatTemplate;
pub use think::{split_thinking, Split, EARLY_STOP, THINK_CLOSE, THINK_OPEN};

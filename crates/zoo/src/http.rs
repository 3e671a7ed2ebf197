//! The zoo's HTTP server (feature `http`): the OpenAI-compatible API in front of a [`Zoo`].
//!
//! [`serve_zoo`] serves a zoo on a listener until a shutdown future resolves:
//! `POST /v1/chat/completions` and `POST /v1/completions` (plain or streamed as server-sent events),
//! `GET /v1/models`, `POST /v1/embeddings` and `GET /health`, as the OpenAI API defines them (the
//! zoo's own additions: the [`AGENT_HEADER`] request header naming the agent, whose role the zoo's
//! config gives, and the modelled latency in the [`LATENCY_HEADER`] response header). [`zoo_router`]
//! gives the same endpoints as an [`axum::Router`] to mount elsewhere; [`ZooServeOptions`] sets the
//! latency time scale and the request body limit. The request logic is the zoo's ([`Zoo::serve_chat`]
//! and friends); this module adds HTTP, SSE pacing and the time-scaled sleep. Client mistakes get a
//! 4xx status and the OpenAI error body ([`flowcompile_openai::ApiError`]).
//!
//! ```no_run
//! use std::sync::Arc;
//! use flowcompile_zoo::http::{serve_zoo, ZooServeOptions};
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

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use flowcompile_openai::{
    AssistantMessage, ChatChoice, ChatChunkChoice, ChatCompletionChunk, ChatCompletionRequest,
    ChatCompletionResponse, ChatDelta, CompletionChoice, CompletionChunk, CompletionRequest,
    CompletionResponse, EmbeddingRequest, EmbeddingResponse, Model, ModelList, Usage, STREAM_DONE,
};
use futures::StreamExt;
use serde::Serialize;

use flowcompile_openai::{parse_json, unknown_path, wrong_method, ApiError};

use crate::{RequestError, Served, TextReply, Zoo, ZooError, SYSTEM_FINGERPRINT};

/// Request header naming the calling agent; the zoo maps it to a role (real servers ignore it).
pub const AGENT_HEADER: &str = "x-flowcompile-agent";

/// Response header with the modelled latency of the reply in seconds (before time scaling).
pub const LATENCY_HEADER: &str = "x-zoo-latency-s";

/// Words per streamed chunk.
const WORDS_PER_CHUNK: u64 = 16;

/// How the zoo server behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZooServeOptions {
    /// The server sleeps modelled latency times this (0 = reply at once, 1 = real time).
    pub time_scale: f64,
    /// Largest accepted request body in bytes; larger ones get 413.
    pub body_limit_bytes: usize,
}

impl Default for ZooServeOptions {
    /// Instant replies, 4 MiB body limit.
    fn default() -> Self {
        ZooServeOptions {
            time_scale: 0.0,
            body_limit_bytes: 4 << 20,
        }
    }
}

#[derive(Clone)]
struct AppState {
    zoo: Arc<Zoo>,
    opts: ZooServeOptions,
    next_id: Arc<AtomicU64>,
}

impl AppState {
    fn id(&self, prefix: &str) -> String {
        format!(
            "{prefix}-zoo-{}",
            self.next_id.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Sleeps `modelled_s` seconds times the time scale.
    async fn sleep(&self, modelled_s: f64) {
        sleep_scaled(modelled_s, self.opts.time_scale).await;
    }
}

async fn sleep_scaled(modelled_s: f64, time_scale: f64) {
    let s = modelled_s * time_scale;
    if s > 0.0 && s.is_finite() {
        tokio::time::sleep(Duration::from_secs_f64(s)).await;
    }
}

/// The zoo endpoints as a router (state included), for [`serve_zoo`] or to mount in a larger app.
pub fn zoo_router(zoo: Arc<Zoo>, opts: ZooServeOptions) -> Router {
    let state = AppState {
        zoo,
        opts,
        next_id: Arc::new(AtomicU64::new(0)),
    };
    Router::new()
        .route("/health", get(health))
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route("/v1/embeddings", post(embeddings))
        .fallback(unknown_path)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(opts.body_limit_bytes))
        .with_state(state)
}

/// Serves `zoo` on `listener` until `shutdown` resolves, then finishes the requests in flight and
/// returns. Fails at once when `opts.time_scale` is negative or not finite.
pub async fn serve_zoo(
    listener: tokio::net::TcpListener,
    zoo: Arc<Zoo>,
    opts: ZooServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if !(opts.time_scale.is_finite() && opts.time_scale >= 0.0) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "time_scale must be a finite number >= 0, got {}",
                opts.time_scale
            ),
        ));
    }
    axum::serve(listener, zoo_router(zoo, opts))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "system_fingerprint": SYSTEM_FINGERPRINT }))
}

async fn models(State(st): State<AppState>) -> Json<ModelList> {
    Json(ModelList::new(
        st.zoo.model_names().map(|m| Model::new(m, "zoo")).collect(),
    ))
}

async fn embeddings(
    State(st): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<EmbeddingResponse>, ApiError> {
    let req: EmbeddingRequest = read_body(&st, body)?;
    Ok(Json(st.zoo.serve_embeddings(&req).map_err(request_error)?))
}

async fn chat(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let req: ChatCompletionRequest = read_body(&st, body)?;
    let agent = agent_of(&headers)?;
    let served = st.zoo.serve_chat(&req, agent).map_err(request_error)?;
    let replies = &served.replies;

    let id = st.id("chatcmpl");
    let created = now();
    let usage = served.usage();
    let header = latency_header(&served);
    let model = req.model.clone();
    if req.is_stream() {
        let chunk = |choices: Vec<ChatChunkChoice>, usage: Option<Usage>| ChatCompletionChunk {
            id: id.clone(),
            object: "chat.completion.chunk".into(),
            created,
            model: model.clone(),
            choices,
            usage,
            system_fingerprint: Some(SYSTEM_FINGERPRINT.into()),
        };
        let mut events: Vec<(f64, Event)> = (0..replies.len())
            .map(|i| {
                let delta = ChatDelta {
                    role: Some("assistant".into()),
                    content: Some(String::new()),
                    ..Default::default()
                };
                let c = ChatChunkChoice {
                    index: i as u32,
                    delta,
                    finish_reason: None,
                };
                (0.0, data(&chunk(vec![c], None)))
            })
            .collect();
        for (delay, step) in plan(replies, served.decode_tok_s) {
            let (index, delta, finish_reason) = match step {
                Step::Text(i, text) => (
                    i,
                    ChatDelta {
                        content: Some(text),
                        ..Default::default()
                    },
                    None,
                ),
                Step::Finish(i, reason) => (i, ChatDelta::default(), Some(reason.to_owned())),
            };
            let c = ChatChunkChoice {
                index,
                delta,
                finish_reason,
            };
            events.push((delay, data(&chunk(vec![c], None))));
        }
        if req.stream_options.as_ref().and_then(|o| o.include_usage) == Some(true) {
            events.push((0.0, data(&chunk(Vec::new(), Some(usage)))));
        }
        return Ok(sse(
            events,
            served.first_token_s(),
            st.opts.time_scale,
            header,
        ));
    }
    let choices = replies
        .iter()
        .enumerate()
        .map(|(i, r)| ChatChoice {
            index: i as u32,
            message: AssistantMessage {
                role: "assistant".into(),
                content: Some(r.text.clone()),
                ..Default::default()
            },
            finish_reason: Some(r.finish_reason.as_str().into()),
        })
        .collect();
    st.sleep(served.latency_s()).await;
    let body = ChatCompletionResponse {
        id,
        object: "chat.completion".into(),
        created,
        model,
        choices,
        usage: Some(usage),
        system_fingerprint: Some(SYSTEM_FINGERPRINT.into()),
    };
    Ok(([(LATENCY_HEADER, header)], Json(body)).into_response())
}

async fn completions(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let req: CompletionRequest = read_body(&st, body)?;
    let agent = agent_of(&headers)?;
    let served = st
        .zoo
        .serve_completion(&req, agent)
        .map_err(request_error)?;
    let replies = &served.replies;

    let id = st.id("cmpl");
    let created = now();
    let usage = served.usage();
    let header = latency_header(&served);
    let model = req.model.clone();
    let chunk = |choices: Vec<CompletionChoice>, usage: Option<Usage>| CompletionChunk {
        id: id.clone(),
        object: "text_completion".into(),
        created,
        model: model.clone(),
        choices,
        usage,
        system_fingerprint: Some(SYSTEM_FINGERPRINT.into()),
    };
    if req.is_stream() {
        let mut events: Vec<(f64, Event)> = plan(replies, served.decode_tok_s)
            .into_iter()
            .map(|(delay, step)| {
                let (index, text, finish_reason) = match step {
                    Step::Text(i, text) => (i, text, None),
                    Step::Finish(i, reason) => (i, String::new(), Some(reason.to_owned())),
                };
                let c = CompletionChoice {
                    index,
                    text,
                    finish_reason,
                    logprobs: None,
                };
                (delay, data(&chunk(vec![c], None)))
            })
            .collect();
        if req.include_usage() {
            events.push((0.0, data(&chunk(Vec::new(), Some(usage)))));
        }
        return Ok(sse(
            events,
            served.first_token_s(),
            st.opts.time_scale,
            header,
        ));
    }
    let choices = replies
        .iter()
        .enumerate()
        .map(|(i, r)| CompletionChoice {
            index: i as u32,
            text: r.text.clone(),
            finish_reason: Some(r.finish_reason.as_str().into()),
            logprobs: None,
        })
        .collect();
    st.sleep(served.latency_s()).await;
    let body = CompletionResponse {
        object: "text_completion".into(),
        ..chunk(choices, Some(usage))
    };
    Ok(([(LATENCY_HEADER, header)], Json(body)).into_response())
}

fn read_body<T: serde::de::DeserializeOwned>(
    st: &AppState,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|r| ApiError::from_body_rejection(r, st.opts.body_limit_bytes))?;
    parse_json(&bytes)
}

/// The HTTP error of a refused request: 400 with the parameter, 404 for an unknown model, else 500.
fn request_error(e: RequestError) -> ApiError {
    let message = e.to_string();
    match e {
        RequestError::Invalid { param, .. } => ApiError::bad_request(message, param),
        RequestError::Zoo(ZooError::UnknownModel { .. }) => {
            ApiError::not_found(message, Some("model"), "model_not_found")
        }
        _ => ApiError {
            status: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            body: flowcompile_openai::ErrorBody {
                message,
                kind: Some("internal_error".into()),
                param: None,
                code: None,
            },
        },
    }
}

fn agent_of(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    headers
        .get(AGENT_HEADER)
        .map(|v| {
            v.to_str().map_err(|_| {
                ApiError::bad_request(
                    format!("header `{AGENT_HEADER}` must be visible ASCII"),
                    None,
                )
            })
        })
        .transpose()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn latency_header(served: &Served) -> HeaderValue {
    HeaderValue::from_str(&served.latency_s().to_string()).unwrap_or(HeaderValue::from_static("0"))
}

/// One streamed step of one choice.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// Text added to choice `0`.
    Text(u32, String),
    /// Choice `0` ends with this finish reason.
    Finish(u32, &'static str),
}

/// The streamed steps of all choices with the modelled seconds before each: the choices advance side by
/// side, one chunk of up to `WORDS_PER_CHUNK` words each per round, a round taking its longest chunk's
/// decode time.
fn plan(replies: &[TextReply], decode_tok_s: f64) -> Vec<(f64, Step)> {
    let pieces: Vec<Vec<(&str, u64)>> = replies.iter().map(|r| split(&r.text)).collect();
    let rounds = pieces.iter().map(Vec::len).max().unwrap_or(0);
    let mut steps = Vec::new();
    for round in 0..rounds {
        let words = pieces
            .iter()
            .filter_map(|p| p.get(round).map(|&(_, w)| w))
            .max()
            .unwrap_or(0);
        let mut delay = words as f64 / decode_tok_s;
        for (i, p) in pieces.iter().enumerate() {
            if let Some(&(text, _)) = p.get(round) {
                steps.push((delay, Step::Text(i as u32, text.to_owned())));
                delay = 0.0;
            }
        }
    }
    for (i, r) in replies.iter().enumerate() {
        steps.push((0.0, Step::Finish(i as u32, r.finish_reason.as_str())));
    }
    steps
}

/// Splits `text` into consecutive pieces of up to `WORDS_PER_CHUNK` words that concatenate back to it.
fn split(text: &str) -> Vec<(&str, u64)> {
    let mut out = Vec::new();
    let (mut start, mut words, mut in_word) = (0, 0, false);
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if in_word {
                words += 1;
                if words == WORDS_PER_CHUNK {
                    out.push((&text[start..i], words));
                    (start, words) = (i, 0);
                }
            }
            in_word = false;
        } else {
            in_word = true;
        }
    }
    if start < text.len() {
        out.push((&text[start..], words + u64::from(in_word)));
    }
    out
}

fn data<T: Serialize>(chunk: &T) -> Event {
    Event::default()
        .data(serde_json::to_string(chunk).expect("wire chunks are plain serde structs"))
}

/// An SSE response: waits `first_token_s` (scaled), then sends each event after its scaled delay,
/// then `[DONE]`.
fn sse(
    events: Vec<(f64, Event)>,
    first_token_s: f64,
    time_scale: f64,
    latency: HeaderValue,
) -> Response {
    let mut events = events;
    if let Some(first) = events.first_mut() {
        first.0 += first_token_s;
    }
    events.push((0.0, Event::default().data(STREAM_DONE)));
    let stream = futures::stream::iter(events).then(move |(delay, event)| async move {
        sleep_scaled(delay, time_scale).await;
        Ok::<_, Infallible>(event)
    });
    ([(LATENCY_HEADER, latency)], Sse::new(stream)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FinishReason, Role};

    fn reply(text: &str, finish: FinishReason) -> TextReply {
        TextReply {
            text: text.into(),
            finish_reason: finish,
            answer: None,
            correct: None,
            task: None,
            role: Role::Solve,
            prompt_tokens: 1,
            completion_tokens: text.split_whitespace().count() as u64,
            reasoning_tokens: 0,
            first_token_s: 0.5,
            latency_s: 1.0,
        }
    }

    #[test]
    fn split_pieces_concatenate_back_and_respect_the_chunk_size() {
        let words: Vec<String> = (0..40).map(|i| format!("w{i}")).collect();
        let text = format!("<think>\n{}\n</think>\n\n\\boxed{{1}}.", words.join(" "));
        let pieces = split(&text);
        assert_eq!(pieces.iter().map(|p| p.0).collect::<String>(), text);
        assert!(pieces.iter().all(|p| p.1 <= WORDS_PER_CHUNK));
        assert_eq!(pieces.iter().map(|p| p.1).sum::<u64>(), 43);
        assert!(split("").is_empty());
        assert_eq!(split("  a "), vec![("  a ", 1)]);
    }

    #[test]
    fn plan_interleaves_choices_and_spends_the_decode_time_once_per_round() {
        let long = (0..20).map(|i| i.to_string()).collect::<Vec<_>>().join(" ");
        let replies = [
            reply(&long, FinishReason::Length),
            reply("a b", FinishReason::Stop),
        ];
        let steps = plan(&replies, 8.0);
        let texts: Vec<&Step> = steps.iter().map(|(_, s)| s).collect();
        assert!(matches!(texts[0], Step::Text(0, _)) && matches!(texts[1], Step::Text(1, _)));
        assert_eq!(steps[0].0, 2.0, "16 words at 8 tok/s");
        assert_eq!(steps[1].0, 0.0);
        assert_eq!(steps[2].0, 0.5, "the second round has 4 words");
        assert_eq!(steps[3].1, Step::Finish(0, "length"));
        assert_eq!(steps[4].1, Step::Finish(1, "stop"));
        let total: f64 = steps.iter().map(|s| s.0).sum();
        assert_eq!(total, 20.0 / 8.0);
    }
}

//! Compiled workflows behind an OpenAI-compatible chat API: each workflow is a model, each request
//! picks its point of the workflow's frontier.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use flowcompile_artifact::Point;
use flowcompile_client::Delta;
use flowcompile_ir::Config;
use flowcompile_openai::{
    AssistantMessage, ChatChoice, ChatChunkChoice, ChatCompletionChunk, ChatCompletionRequest,
    ChatCompletionResponse, ChatDelta, ChatMessage, CompletionChoice, CompletionChunk,
    CompletionRequest, CompletionResponse, ErrorBody, Model, ModelList, Usage, STREAM_DONE,
};
use flowcompile_runner::{RunError, RunResult};
use serde::Serialize;
use serde_json::Value;

use crate::error::{parse_json, unknown_path, wrong_method, ApiError};
use crate::metrics::Metrics;

/// Response header: the workflow that ran.
pub const WORKFLOW_HEADER: &str = "x-flowcompile-workflow";
/// Response header: the id of the point that ran (`p0`, `p1`, ...).
pub const POINT_HEADER: &str = "x-flowcompile-point";
/// Response header: the structure index of the point that ran.
pub const STRUCTURE_HEADER: &str = "x-flowcompile-structure";
/// Response header: the point's predicted accuracy.
pub const PREDICTED_ACCURACY_HEADER: &str = "x-flowcompile-predicted-accuracy";
/// Response header: the point's predicted latency in seconds.
pub const PREDICTED_LATENCY_HEADER: &str = "x-flowcompile-predicted-latency-s";
/// Response header: wall seconds the workflow took to run.
pub const MEASURED_LATENCY_HEADER: &str = "x-flowcompile-latency-s";
/// Request header alternative to the `preference` body field.
pub const PREFERENCE_HEADER: &str = "x-flowcompile-preference";
/// Request header alternative to the `min_accuracy` body field.
pub const MIN_ACCURACY_HEADER: &str = "x-flowcompile-min-accuracy";
/// Request header alternative to the `max_latency_s` body field.
pub const MAX_LATENCY_HEADER: &str = "x-flowcompile-max-latency-s";

/// The named presets of a workflow's model name (`math@fast`, ...): the one table `select` has,
/// which the CLI's `--prefer` reads too (`low` is an alias of `fast`).
pub use flowcompile_select::PRESETS;

mod info;
mod params;
mod served;

use info::{info_headers, point_headers, Reply};
pub use info::{Measured, RoutedBy, RunInfo, Selection, Trace};
use params::{choose, find_workflow, route, task_item, wants_trace};
pub use served::{ServeError, ServedWorkflow, WorkflowServeOptions};

struct AppState {
    workflows: Vec<ServedWorkflow>,
    by_name: HashMap<String, usize>,
    opts: WorkflowServeOptions,
    metrics: Metrics,
    next_id: AtomicU64,
}

/// The workflow endpoints as a router: `POST /v1/chat/completions`, `GET /v1/models` (both behind
/// the token when one is set), `GET /health` and `GET /metrics` (Prometheus text format).
pub fn workflow_router(
    workflows: Vec<ServedWorkflow>,
    opts: WorkflowServeOptions,
) -> Result<Router, ServeError> {
    if workflows.is_empty() {
        return Err(ServeError::Empty);
    }
    let mut by_name = HashMap::new();
    for (i, w) in workflows.iter().enumerate() {
        if by_name.insert(w.name.clone(), i).is_some() {
            return Err(ServeError::DuplicateName {
                name: w.name.clone(),
            });
        }
    }
    let metrics = Metrics::new(workflows.iter().map(|w| w.name.as_str()));
    let body_limit = opts.body_limit_bytes;
    let state = Arc::new(AppState {
        workflows,
        by_name,
        opts,
        metrics,
        next_id: AtomicU64::new(0),
    });
    let api = Router::new()
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize));
    Ok(Router::new()
        .merge(api)
        .route("/health", get(health))
        .route("/metrics", get(metrics_text))
        .fallback(unknown_path)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state))
}

/// Serves `workflows` on `listener` until `shutdown` resolves, then finishes the requests in flight
/// and returns. Fails at once when there is nothing to serve or two workflows share a name.
pub async fn serve_workflows(
    listener: tokio::net::TcpListener,
    workflows: Vec<ServedWorkflow>,
    opts: WorkflowServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = workflow_router(workflows, opts)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    // Replies go out at once rather than waiting on Nagle's algorithm for the client's ACK.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

type Shared = Arc<AppState>;

async fn authorize(State(st): State<Shared>, req: Request, next: Next) -> Response {
    let Some(token) = &st.opts.token else {
        return next.run(req).await;
    };
    let sent = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let message = match flowcompile_openai::bearer_matches(sent, token) {
        None => "missing bearer token: send the header `Authorization: Bearer <token>`",
        Some(true) => return next.run(req).await,
        Some(false) => "invalid bearer token",
    };
    if matches!(req.uri().path(), "/v1/chat/completions" | "/v1/completions") {
        st.metrics.record("", "", 401, 0.0);
    }
    let mut response = ApiError {
        status: StatusCode::UNAUTHORIZED,
        body: ErrorBody {
            message: message.into(),
            kind: Some("invalid_request_error".into()),
            param: None,
            code: Some("invalid_api_key".into()),
        },
    }
    .into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

async fn health(State(st): State<Shared>) -> Json<Value> {
    Json(serde_json::json!({
        "status": "ok",
        "workflows": st.workflows.iter().map(|w| w.name.as_str()).collect::<Vec<_>>(),
    }))
}

async fn metrics_text(State(st): State<Shared>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        st.metrics.render(),
    )
        .into_response()
}

async fn models(State(st): State<Shared>) -> Json<ModelList> {
    let mut list = Vec::new();
    for w in &st.workflows {
        list.push(Model::new(w.name.clone(), "flowcompile"));
        for (preset, _) in PRESETS {
            list.push(Model::new(format!("{}@{preset}", w.name), "flowcompile"));
        }
    }
    Json(ModelList::new(list))
}

/// What a request ended as, for the metrics.
struct Outcome {
    workflow: String,
    point: String,
}

async fn chat(
    State(st): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    respond(st, headers, body, Api::Chat).await
}

async fn completions(
    State(st): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    respond(st, headers, body, Api::Completions).await
}

/// Which OpenAI endpoint a request came to: the reply takes its shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    /// `/v1/chat/completions`.
    Chat,
    /// `/v1/completions`: the prompt is the one user message; the reply is `text_completion`.
    Completions,
}

async fn respond(
    st: Shared,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    api: Api,
) -> Response {
    let started = Instant::now();
    let _in_flight = st.metrics.start();
    let mut outcome = Outcome {
        workflow: String::new(),
        point: String::new(),
    };
    let response = match answer(&st, &headers, body, api, &mut outcome).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    let latency_s = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    st.metrics
        .record(&outcome.workflow, &outcome.point, status, latency_s);
    tracing::info!(
        workflow = %outcome.workflow,
        point = %outcome.point,
        status,
        latency_s = format_args!("{latency_s:.3}"),
        "request"
    );
    response
}

async fn answer(
    st: &Shared,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    api: Api,
    outcome: &mut Outcome,
) -> Result<Response, ApiError> {
    let bytes = body.map_err(|r| ApiError::from_body_rejection(r, st.opts.body_limit_bytes))?;
    let req: ChatCompletionRequest = match api {
        Api::Chat => parse_json(&bytes)?,
        Api::Completions => as_chat(parse_json(&bytes)?)?,
    };
    let (served, suffix) = find_workflow(st, &req.model)?;
    outcome.workflow = served.name.clone();
    if req.n.is_some_and(|n| n != 1) {
        return Err(ApiError::bad_request(
            "only `n` = 1 is supported: a workflow gives one answer per request",
            Some("n"),
        ));
    }
    let item = task_item(&served.name, &served.fields, &req)?;
    let trace = wants_trace(&req.extra, headers)?;
    let (index, mut selection) = choose(served, suffix, &req.extra, headers)?;
    let routed = match (&served.knn, &selection.point) {
        (Some(knn), None) => Some(route(st, served, knn, &item, &mut selection).await?),
        _ => None,
    };
    let (point, config) = match &routed {
        Some((p, c)) => (p, c),
        None => (&served.points[index], &served.configs[index]),
    };
    outcome.point = point.id.clone();

    let prefix = match api {
        Api::Chat => "chatcmpl",
        Api::Completions => "cmpl",
    };
    let chunks = Chunks {
        api,
        id: format!(
            "{prefix}-flowcompile-{}",
            st.next_id.fetch_add(1, Ordering::Relaxed)
        ),
        created: now(),
        model: req.model.clone(),
        include_usage: req.include_usage(),
    };
    let ran = Ran {
        point: point.clone(),
        selection,
        trace,
    };
    if req.is_stream() && api == Api::Chat {
        let workflow = st.by_name[&served.name];
        return stream(st.clone(), workflow, config.clone(), item, ran, chunks).await;
    }
    let run = timed(
        st,
        served,
        &ran.point,
        served.runner.run_unscored(config, &item),
    )
    .await?;
    let (text, info, usage) = finished(st, served, ran, run)?;
    if req.is_stream() {
        // A completion has no thinking field: its stream is the answer, once the run ends.
        let headers = info_headers(&info);
        let body = futures::stream::iter(
            chunks
                .ending(text, info, usage)
                .into_iter()
                .map(Ok::<_, Infallible>),
        );
        return Ok((headers, Sse::new(body)).into_response());
    }
    if api == Api::Completions {
        let body = CompletionResponse {
            id: chunks.id,
            object: "text_completion".into(),
            created: chunks.created,
            model: chunks.model,
            choices: vec![CompletionChoice {
                index: 0,
                text,
                finish_reason: Some("stop".into()),
                logprobs: None,
            }],
            usage: Some(usage),
            system_fingerprint: None,
        };
        let reply = Reply {
            base: body,
            flowcompile: Some(info.clone()),
        };
        return Ok((info_headers(&info), Json(reply)).into_response());
    }
    let body = ChatCompletionResponse {
        id: chunks.id,
        object: "chat.completion".into(),
        created: chunks.created,
        model: chunks.model,
        choices: vec![ChatChoice {
            index: 0,
            message: AssistantMessage {
                role: "assistant".into(),
                content: Some(text),
                ..Default::default()
            },
            finish_reason: Some("stop".into()),
        }],
        usage: Some(usage),
        system_fingerprint: None,
    };
    Ok((
        info_headers(&info),
        Json(Reply {
            base: body,
            flowcompile: Some(info),
        }),
    )
        .into_response())
}

/// The point a request runs and what it asked to see of the run.
struct Ran {
    point: Point,
    selection: Selection,
    trace: bool,
}

/// Runs `run` under the request timeout: 504 naming the point when it does not finish.
async fn timed(
    st: &AppState,
    served: &ServedWorkflow,
    point: &Point,
    run: impl Future<Output = RunResult>,
) -> Result<RunResult, ApiError> {
    tokio::time::timeout(st.opts.request_timeout, run)
        .await
        .map_err(|_| {
            error(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                format!(
                    "workflow `{}` point {} did not finish within the request timeout of {} s",
                    served.name,
                    point.id,
                    st.opts.request_timeout.as_secs_f64()
                ),
            )
        })
}

/// A finished run's answer, its `flowcompile` info and its token usage, or the error it ended in.
fn finished(
    st: &AppState,
    served: &ServedWorkflow,
    ran: Ran,
    run: RunResult,
) -> Result<(String, RunInfo, Usage), ApiError> {
    let text = match run.answer {
        Ok(text) => text,
        Err(e) => return Err(run_error(st, served, e)),
    };
    let prompt_tokens: u64 = run.calls.iter().map(|c| c.prompt_tokens).sum();
    let completion_tokens: u64 = run.calls.iter().map(|c| c.completion_tokens).sum();
    let info = RunInfo {
        workflow: served.name.clone(),
        point: ran.point.id.clone(),
        structure: ran.point.structure.clone(),
        settings: ran.point.settings.clone(),
        selected_by: ran.selection,
        predicted: ran.point.predicted,
        measured: Measured {
            latency_s: run.latency_s,
            modelled_latency_s: run.modelled_latency_s,
            calls: run.calls.len(),
            tools: run.tools.len(),
        },
        models_label: served.models_label.clone(),
        trace: ran.trace.then_some(Trace {
            calls: run.calls,
            tools: run.tools,
        }),
    };
    Ok((text, info, Usage::new(prompt_tokens, completion_tokens)))
}

/// A `/v1/completions` request as the chat request the workflow reads: its prompt becomes the one
/// user message. A batch of prompts is refused (a workflow answers one input per request).
fn as_chat(req: CompletionRequest) -> Result<ChatCompletionRequest, ApiError> {
    let prompt = match req.prompt.as_slice() {
        [one] => one.clone(),
        many => {
            return Err(ApiError::bad_request(
                format!(
                    "`prompt` must be one string: a workflow answers one input per request, got {}",
                    many.len()
                ),
                Some("prompt"),
            ))
        }
    };
    if req.n.is_some_and(|n| n != 1) {
        return Err(ApiError::bad_request(
            "only `n` = 1 is supported: a workflow gives one answer per request",
            Some("n"),
        ));
    }
    let mut chat = ChatCompletionRequest::new(req.model, vec![ChatMessage::user(prompt)]);
    chat.stream = req.stream;
    chat.stream_options = req.stream_options;
    chat.extra = req.extra;
    Ok(chat)
}

/// The chunks of one streamed reply.
struct Chunks {
    api: Api,
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
}

impl Chunks {
    fn chunk(&self, delta: ChatDelta, finish: Option<&str>) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.created,
            model: self.model.clone(),
            choices: vec![ChatChunkChoice {
                index: 0,
                delta,
                finish_reason: finish.map(str::to_owned),
            }],
            usage: None,
            system_fingerprint: None,
        }
    }

    fn event(&self, delta: ChatDelta, finish: Option<&str>, info: Option<RunInfo>) -> Event {
        match self.api {
            Api::Chat => event(&Reply {
                base: self.chunk(delta, finish),
                flowcompile: info,
            }),
            Api::Completions => event(&Reply {
                base: CompletionChunk {
                    id: self.id.clone(),
                    object: "text_completion".into(),
                    created: self.created,
                    model: self.model.clone(),
                    choices: vec![CompletionChoice {
                        index: 0,
                        text: delta.content.unwrap_or_default(),
                        finish_reason: finish.map(str::to_owned),
                        logprobs: None,
                    }],
                    usage: None,
                    system_fingerprint: None,
                },
                flowcompile: info,
            }),
        }
    }

    /// The first chunk: the assistant's role.
    fn role(&self) -> Event {
        let delta = ChatDelta {
            role: Some("assistant".into()),
            content: Some(String::new()),
            ..Default::default()
        };
        self.event(delta, None, None)
    }

    /// A piece of the final agent's reply, as thinking: the answer is what the workflow makes of it.
    fn thinking(&self, delta: Delta) -> Event {
        let (Delta::Text(text) | Delta::Reasoning(text)) = delta;
        let delta = ChatDelta {
            reasoning_content: Some(text),
            ..Default::default()
        };
        self.event(delta, None, None)
    }

    /// The last chunks: the answer, the finish with the run's info, the usage if asked, `[DONE]`.
    fn ending(&self, text: String, info: RunInfo, usage: Usage) -> Vec<Event> {
        let content = ChatDelta {
            content: Some(text),
            ..Default::default()
        };
        let mut events = vec![
            self.event(content, None, None),
            self.event(ChatDelta::default(), Some("stop"), Some(info)),
        ];
        if self.include_usage {
            let usage_chunk = ChatCompletionChunk {
                object: match self.api {
                    Api::Chat => "chat.completion.chunk".into(),
                    Api::Completions => "text_completion".into(),
                },
                choices: Vec::new(),
                usage: Some(usage),
                ..self.chunk(ChatDelta::default(), None)
            };
            events.push(event(&Reply {
                base: usage_chunk,
                flowcompile: None,
            }));
        }
        events.push(Event::default().data(STREAM_DONE));
        events
    }
}

/// How a streamed run started: its final agent began to reply (the stream is live), or the run
/// ended first (its reply, or its error as a status, is known before any byte goes out).
enum Start {
    Live,
    Ended(Box<Result<(String, RunInfo, Usage), ApiError>>),
}

/// Streams a run: the final agent's reply goes out as `reasoning_content` as the model produces it,
/// then the workflow's answer as `content` and the run's info on the last chunk. A run that fails
/// before the first token answers with an error status as unstreamed requests do; one that fails
/// after it ends the stream with an OpenAI error event. The headers of a live stream carry the
/// point and its predictions but not the measured latency, which is on the last chunk.
async fn stream(
    st: Shared,
    workflow: usize,
    config: Config,
    item: Value,
    ran: Ran,
    chunks: Chunks,
) -> Result<Response, ApiError> {
    let (events, rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
    let (start, started) = tokio::sync::oneshot::channel::<Start>();
    let point = ran.point.clone();
    let ending = Chunks {
        id: chunks.id.clone(),
        model: chunks.model.clone(),
        ..chunks
    };
    let task_st = st.clone();
    tokio::spawn(async move {
        let st = task_st;
        let served = &st.workflows[workflow];
        let (sink, mut deltas) = tokio::sync::mpsc::unbounded_channel();
        let timed_point = ran.point.clone();
        let run = timed(
            &st,
            served,
            &timed_point,
            served.runner.run_streaming(&config, &item, sink),
        );
        tokio::pin!(run);
        let mut start = Some(start);
        let ended = loop {
            tokio::select! {
                biased;
                Some(delta) = deltas.recv() => {
                    if let Some(start) = start.take() {
                        if start.send(Start::Live).is_err() || events.send(chunks.role()).is_err() {
                            return;
                        }
                    }
                    if events.send(chunks.thinking(delta)).is_err() {
                        // The client left: dropping the run cancels its calls.
                        return;
                    }
                }
                ended = &mut run => break ended,
            }
        };
        let ended = ended.and_then(|run| finished(&st, served, ran, run));
        let mut rest = std::iter::from_fn(|| deltas.try_recv().ok()).peekable();
        if let Some(start) = start {
            // Text sent in the poll that ended the run still makes the stream live: a failure
            // after it is the stream's, not the status's.
            if rest.peek().is_none() {
                let _ = start.send(Start::Ended(Box::new(ended)));
                return;
            }
            if start.send(Start::Live).is_err() || events.send(chunks.role()).is_err() {
                return;
            }
        }
        for delta in rest {
            let _ = events.send(chunks.thinking(delta));
        }
        let out = match ended {
            Ok((text, info, usage)) => chunks.ending(text, info, usage),
            Err(e) => vec![
                event(&serde_json::json!({ "error": e.body })),
                Event::default().data(STREAM_DONE),
            ],
        };
        for e in out {
            let _ = events.send(e);
        }
    });
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    match started.await {
        Ok(Start::Live) => {
            let headers = point_headers(&st.workflows[workflow].name, &point);
            Ok((headers, Sse::new(body)).into_response())
        }
        Ok(Start::Ended(ended)) => {
            let (text, info, usage) = (*ended)?;
            let headers = info_headers(&info);
            let mut events = vec![ending.role()];
            events.extend(ending.ending(text, info, usage));
            let body = futures::stream::iter(events.into_iter().map(Ok::<_, Infallible>));
            Ok((headers, Sse::new(body)).into_response())
        }
        Err(_) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "workflow_error",
            "the workflow's run ended without a reply".into(),
        )),
    }
}

fn event<T: Serialize>(chunk: &T) -> Event {
    Event::default()
        .data(serde_json::to_string(chunk).expect("wire chunks are plain serde structs"))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn error(status: StatusCode, code: &str, message: String) -> ApiError {
    let kind = if status.is_client_error() {
        "invalid_request_error"
    } else {
        "server_error"
    };
    ApiError {
        status,
        body: ErrorBody {
            message,
            kind: Some(kind.into()),
            param: None,
            code: Some(code.into()),
        },
    }
}

/// The reply for a failed run: 502 when a model call failed (without the upstream's URL or text,
/// which are logged), 400 when the input lacks what a prompt
/// reads, 500 otherwise.
fn run_error(st: &AppState, served: &ServedWorkflow, e: RunError) -> ApiError {
    match e {
        RunError::Call { ref agent, .. } => {
            st.metrics.upstream_error(&served.name);
            // The upstream's URL and reply stay in the server's log: the caller learns which agent
            // failed, not where the models are or what they said.
            tracing::warn!(workflow = %served.name, error = %e, "model call failed");
            error(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                format!(
                    "workflow `{}`: a model call of agent `{agent}` failed; the server's log has the details",
                    served.name
                ),
            )
        }
        RunError::UndefinedVariable { .. }
        | RunError::MissingField { .. }
        | RunError::NotAnObject { .. } => ApiError::bad_request(
            format!("workflow `{}`: the input does not fit: {e}", served.name),
            Some("messages"),
        ),
        other => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "workflow_error",
            format!("workflow `{}`: {other}", served.name),
        ),
    }
}

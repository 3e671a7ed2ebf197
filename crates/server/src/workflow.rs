//! Compiled workflows behind an OpenAI-compatible chat API: each workflow is a model, each request
//! picks its point of the workflow's frontier.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use flowcompile_artifact::{Artifact, Point, PointSetting, PointStructure, Predicted};
use flowcompile_client::Client;
use flowcompile_ir::Workflow;
use flowcompile_openai::{
    AssistantMessage, ChatChoice, ChatChunkChoice, ChatCompletionChunk, ChatCompletionRequest,
    ChatCompletionResponse, ChatDelta, ErrorBody, Model, ModelList, Usage, STREAM_DONE,
};
use flowcompile_route::Router as KnnRouter;
use flowcompile_runner::{CallRecord, Config, ConfigError, RunError, Runner, ToolRecord};
use flowcompile_select::{select, Preference, Request as Choice};
use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Map, Value};

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

/// Why a compiled workflow cannot be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The artifact was compiled for another workflow.
    #[error("the artifact was compiled for workflow `{compiled}`, not `{workflow}`")]
    WorkflowMismatch {
        /// The workflow file's name.
        workflow: String,
        /// The artifact's workflow name.
        compiled: String,
    },
    /// The artifact has no points.
    #[error("the artifact of workflow `{workflow}` has no points")]
    NoPoints {
        /// Workflow name.
        workflow: String,
    },
    /// A point does not fit the workflow's design space.
    #[error("workflow `{workflow}`, point {point}: {source}")]
    Point {
        /// Workflow name.
        workflow: String,
        /// Point id.
        point: String,
        /// Why.
        source: ConfigError,
    },
    /// A point uses a model the providers do not list.
    #[error("workflow `{workflow}`, point {point}: model `{model}` (slot `{slot}`) has no endpoint in the providers; they list: {known}")]
    UnknownModel {
        /// Workflow name.
        workflow: String,
        /// Point id.
        point: String,
        /// Slot name.
        slot: String,
        /// The model.
        model: String,
        /// The providers' model names, comma-separated.
        known: String,
    },
    /// The workflow's design space cannot be built.
    #[error(transparent)]
    Runner(#[from] RunError),
    /// A served name is empty or contains `@`.
    #[error("invalid model name `{name}`: expected a non-empty name without `@` or whitespace")]
    BadName {
        /// The name.
        name: String,
    },
    /// Two workflows are served under one name.
    #[error("two workflows are served as `{name}`")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// Nothing to serve.
    #[error("no workflow to serve")]
    Empty,
}

/// One compiled workflow ready to serve: the workflow, its artifact's points resolved into
/// configurations, and the client its model calls go through.
pub struct ServedWorkflow {
    name: String,
    runner: Runner<'static>,
    fields: Vec<String>,
    points: Vec<Point>,
    configs: Vec<Config>,
    models_label: Option<String>,
    knn: Option<Knn>,
}

/// Per-query routing: the KNN router and where query embeddings come from.
struct Knn {
    router: KnnRouter,
    client: Client,
    model: String,
}

impl fmt::Debug for ServedWorkflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServedWorkflow")
            .field("name", &self.name)
            .field("points", &self.points.len())
            .field("models_label", &self.models_label)
            .finish_non_exhaustive()
    }
}

impl ServedWorkflow {
    /// Checks that `artifact` belongs to `wf`, that every point fits the design space and that the
    /// client has an endpoint for every model a point uses. The workflow is borrowed for the life of
    /// the process (a server's workflows never change; `Box::leak` a parsed one). The model name is
    /// the workflow's name and the models label the artifact's, until changed.
    pub fn new(
        wf: &'static Workflow,
        artifact: Artifact,
        client: Client,
    ) -> Result<ServedWorkflow, ServeError> {
        if artifact.workflow != wf.name {
            return Err(ServeError::WorkflowMismatch {
                workflow: wf.name.clone(),
                compiled: artifact.workflow,
            });
        }
        if artifact.points.is_empty() {
            return Err(ServeError::NoPoints {
                workflow: wf.name.clone(),
            });
        }
        let providers = client.providers().clone();
        let runner = Runner::new(wf, client)?;
        let mut configs = Vec::with_capacity(artifact.points.len());
        for p in &artifact.points {
            let config = p
                .config(runner.space())
                .map_err(|source| ServeError::Point {
                    workflow: wf.name.clone(),
                    point: p.id.clone(),
                    source,
                })?;
            if let Some((slot, s)) = p
                .settings
                .iter()
                .find(|(_, s)| providers.get(&s.model).is_none())
            {
                return Err(ServeError::UnknownModel {
                    workflow: wf.name.clone(),
                    point: p.id.clone(),
                    slot: slot.clone(),
                    model: s.model.clone(),
                    known: providers
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            configs.push(config);
        }
        let name = wf.name.clone();
        check_name(&name)?;
        Ok(ServedWorkflow {
            name,
            runner,
            fields: wf.task.fields.clone(),
            models_label: artifact.provenance.models_label.clone(),
            points: artifact.points,
            configs,
            knn: None,
        })
    }

    /// Routes every request that does not name a point through the KNN router
    /// (`flowcompile_route`): the request's input text is embedded with `embed_model` through
    /// `embed_client`'s `/v1/embeddings`, and its preference or limits pick a point of the frontier
    /// re-composed from the nearest validation queries' profiles. The router must have been built
    /// for this workflow (`flowcompile_route::Router::new` checks it against the workflow).
    pub fn with_router(
        mut self,
        router: KnnRouter,
        embed_client: Client,
        embed_model: impl Into<String>,
    ) -> ServedWorkflow {
        self.knn = Some(Knn {
            router,
            client: embed_client,
            model: embed_model.into(),
        });
        self
    }

    /// Serves the workflow as model `name` instead of the workflow's name.
    pub fn with_name(mut self, name: impl Into<String>) -> Result<ServedWorkflow, ServeError> {
        let name = name.into();
        check_name(&name)?;
        self.name = name;
        Ok(self)
    }

    /// Says which models answer (e.g. `zoo (synthetic)`) in every response, instead of the
    /// artifact's label.
    pub fn with_models_label(mut self, label: Option<String>) -> ServedWorkflow {
        self.models_label = label;
        self
    }

    /// The model name clients call.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The artifact's points, in artifact order.
    pub fn points(&self) -> &[Point] {
        &self.points
    }
}

fn check_name(name: &str) -> Result<(), ServeError> {
    if name.is_empty() || name.contains('@') || name.chars().any(char::is_whitespace) {
        return Err(ServeError::BadName {
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// Limits and access control of the workflow server.
#[derive(Clone, PartialEq)]
pub struct WorkflowServeOptions {
    /// Largest accepted request body in bytes; larger ones get 413.
    pub body_limit_bytes: usize,
    /// Longest a workflow may run for one request; past it the request gets 504.
    pub request_timeout: Duration,
    /// Bearer token every `/v1/...` request must send (`Authorization: Bearer TOKEN`); `None` = open.
    pub token: Option<String>,
}

impl fmt::Debug for WorkflowServeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkflowServeOptions")
            .field("body_limit_bytes", &self.body_limit_bytes)
            .field("request_timeout", &self.request_timeout)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Default for WorkflowServeOptions {
    /// 1 MiB bodies, 300 s per request, no token.
    fn default() -> Self {
        WorkflowServeOptions {
            body_limit_bytes: 1 << 20,
            request_timeout: Duration::from_secs(300),
            token: None,
        }
    }
}

/// The flowcompile extension object of a chat completion (`"flowcompile": {...}`): which point ran,
/// why, what it predicts and what the run measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunInfo {
    /// Workflow (model) name.
    pub workflow: String,
    /// Point id in the artifact.
    pub point: String,
    /// The point's structure: index and knob values.
    pub structure: PointStructure,
    /// Model and thinking budget per slot.
    pub settings: IndexMap<String, PointSetting>,
    /// How the point was chosen.
    pub selected_by: Selection,
    /// The compiler's prediction for the point.
    pub predicted: Predicted,
    /// What this run measured.
    pub measured: Measured,
    /// Which models answered (e.g. `zoo (synthetic)`), when known.
    pub models_label: Option<String>,
    /// Every model call and tool run, when the request asked for the trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<Trace>,
}

/// How a request chose its point.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Selection {
    /// Preference weight b in [0, 1], when one decided.
    pub preference: Option<f64>,
    /// Accuracy floor asked for.
    pub min_accuracy: Option<f64>,
    /// Latency ceiling asked for, seconds.
    pub max_latency_s: Option<f64>,
    /// Point id named by the model suffix (`math@p3`).
    pub point: Option<String>,
    /// When the KNN router chose the configuration: how.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routed: Option<RoutedBy>,
}

/// How the KNN router chose a request's configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoutedBy {
    /// Nearest validation queries averaged.
    pub k: usize,
    /// Their ids, most similar first.
    pub neighbours: Vec<String>,
    /// Cosine similarity of the nearest one (absent for an input without words).
    pub nearest_similarity: Option<f32>,
    /// Share of (agent, setting, neighbour) cells that fell back to the global profile.
    pub fallback_share: f64,
    /// Points on the query's frontier.
    pub frontier_points: usize,
}

/// Measurements of one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Measured {
    /// Wall seconds of the workflow run.
    pub latency_s: f64,
    /// Modelled seconds along the critical path (the server's modelled latency, wall when absent).
    pub modelled_latency_s: f64,
    /// Model calls made.
    pub calls: usize,
    /// Tool runs.
    pub tools: usize,
}

/// The calls and tool runs of one request, in site order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trace {
    /// Model calls.
    pub calls: Vec<CallRecord>,
    /// Tool runs.
    pub tools: Vec<ToolRecord>,
}

/// A chat completion with the flowcompile extension.
#[derive(Serialize)]
struct Reply<T> {
    #[serde(flatten)]
    base: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    flowcompile: Option<RunInfo>,
}

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
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    let message = match sent {
        None => "missing bearer token: send the header `Authorization: Bearer <token>`",
        Some(s) if equal_in_constant_time(s.trim().as_bytes(), token.as_bytes()) => {
            return next.run(req).await;
        }
        Some(_) => "invalid bearer token",
    };
    if req.uri().path() == "/v1/chat/completions" {
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

/// Compares two byte strings in time that depends on their lengths only.
fn equal_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
    let started = Instant::now();
    let _in_flight = st.metrics.start();
    let mut outcome = Outcome {
        workflow: String::new(),
        point: String::new(),
    };
    let response = match answer(&st, &headers, body, &mut outcome).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    st.metrics.record(
        &outcome.workflow,
        &outcome.point,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

async fn answer(
    st: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    outcome: &mut Outcome,
) -> Result<Response, ApiError> {
    let bytes = body.map_err(|r| ApiError::from_body_rejection(r, st.opts.body_limit_bytes))?;
    let req: ChatCompletionRequest = parse_json(&bytes)?;
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

    let run = tokio::time::timeout(
        st.opts.request_timeout,
        served.runner.run_unscored(config, &item),
    )
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
    })?;
    let text = match run.answer {
        Ok(text) => text,
        Err(e) => return Err(run_error(st, served, e)),
    };
    let prompt_tokens: u64 = run.calls.iter().map(|c| c.prompt_tokens).sum();
    let completion_tokens: u64 = run.calls.iter().map(|c| c.completion_tokens).sum();
    let info = RunInfo {
        workflow: served.name.clone(),
        point: point.id.clone(),
        structure: point.structure.clone(),
        settings: point.settings.clone(),
        selected_by: selection,
        predicted: point.predicted,
        measured: Measured {
            latency_s: run.latency_s,
            modelled_latency_s: run.modelled_latency_s,
            calls: run.calls.len(),
            tools: run.tools.len(),
        },
        models_label: served.models_label.clone(),
        trace: trace.then_some(Trace {
            calls: run.calls,
            tools: run.tools,
        }),
    };
    let headers = info_headers(&info);
    let id = format!(
        "chatcmpl-flowcompile-{}",
        st.next_id.fetch_add(1, Ordering::Relaxed)
    );
    let created = now();
    let usage = Usage::new(prompt_tokens, completion_tokens);
    if req.is_stream() {
        let chunk = |delta: ChatDelta, finish: Option<&str>| ChatCompletionChunk {
            id: id.clone(),
            object: "chat.completion.chunk".into(),
            created,
            model: req.model.clone(),
            choices: vec![ChatChunkChoice {
                index: 0,
                delta,
                finish_reason: finish.map(str::to_owned),
            }],
            usage: None,
            system_fingerprint: None,
        };
        let role = chunk(
            ChatDelta {
                role: Some("assistant".into()),
                content: Some(String::new()),
                ..Default::default()
            },
            None,
        );
        let content = chunk(
            ChatDelta {
                content: Some(text),
                ..Default::default()
            },
            None,
        );
        let last = chunk(ChatDelta::default(), Some("stop"));
        let mut events = vec![
            event(&Reply {
                base: role,
                flowcompile: None,
            }),
            event(&Reply {
                base: content,
                flowcompile: None,
            }),
            event(&Reply {
                base: last,
                flowcompile: Some(info),
            }),
        ];
        if req.include_usage() {
            let usage_chunk = ChatCompletionChunk {
                choices: Vec::new(),
                usage: Some(usage),
                ..chunk(ChatDelta::default(), None)
            };
            events.push(event(&Reply {
                base: usage_chunk,
                flowcompile: None,
            }));
        }
        events.push(Event::default().data(STREAM_DONE));
        let stream = futures::stream::iter(events.into_iter().map(Ok::<_, Infallible>));
        return Ok((headers, Sse::new(stream)).into_response());
    }
    let body = ChatCompletionResponse {
        id,
        object: "chat.completion".into(),
        created,
        model: req.model.clone(),
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
        headers,
        Json(Reply {
            base: body,
            flowcompile: Some(info),
        }),
    )
        .into_response())
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

/// The response headers naming the point and its figures.
fn info_headers(info: &RunInfo) -> HeaderMap {
    let mut h = HeaderMap::new();
    let values = [
        (WORKFLOW_HEADER, info.workflow.clone()),
        (POINT_HEADER, info.point.clone()),
        (STRUCTURE_HEADER, info.structure.index.to_string()),
        (
            PREDICTED_ACCURACY_HEADER,
            info.predicted.accuracy.to_string(),
        ),
        (
            PREDICTED_LATENCY_HEADER,
            info.predicted.latency_s.to_string(),
        ),
        (MEASURED_LATENCY_HEADER, info.measured.latency_s.to_string()),
    ];
    for (name, value) in values {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(HeaderName::from_static(name), v);
        }
    }
    h
}

/// The workflow a model name calls and the suffix after `@`, or 404 naming the served models.
fn find_workflow<'a>(
    st: &'a AppState,
    model: &'a str,
) -> Result<(&'a ServedWorkflow, Option<&'a str>), ApiError> {
    let (name, suffix) = match model.split_once('@') {
        Some((n, s)) => (n, Some(s)),
        None => (model, None),
    };
    match st.by_name.get(name) {
        Some(&i) => Ok((&st.workflows[i], suffix)),
        None => {
            let names: Vec<&str> = st.workflows.iter().map(|w| w.name.as_str()).collect();
            Err(ApiError::not_found(
                format!(
                    "model `{model}` does not exist: this server serves {} (add @fast, @medium, @high, @xhigh, @0..1 or @POINT_ID to choose the trade-off)",
                    names.join(", ")
                ),
                Some("model"),
                "model_not_found",
            ))
        }
    }
}

/// A number in the request body or a header, by parameter name.
fn number_param(
    extra: &Map<String, Value>,
    headers: &HeaderMap,
    param: &str,
    header: &str,
) -> Result<Option<f64>, ApiError> {
    let from_body = match extra.get(param) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64(),
        Some(other) => {
            return Err(ApiError::bad_request(
                format!("`{param}` must be a number, got {other}"),
                Some(param),
            ))
        }
    };
    let from_header = header_text(headers, header)?
        .map(|t| {
            t.trim().parse::<f64>().map_err(|_| {
                ApiError::bad_request(
                    format!("header `{header}` must be a number, got `{t}`"),
                    Some(param),
                )
            })
        })
        .transpose()?;
    match (from_body, from_header) {
        (Some(_), Some(_)) => Err(given_twice(param, header)),
        (b, h) => Ok(b.or(h)),
    }
}

fn given_twice(param: &str, header: &str) -> ApiError {
    ApiError::bad_request(
        format!("`{param}` is given both in the body and as header `{header}`: give it once"),
        Some(param),
    )
}

fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ApiError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str().map_err(|_| {
                ApiError::bad_request(format!("header `{name}` must be visible ASCII"), None)
            })
        })
        .transpose()
}

/// The preference from the body (`"preference": "high"` or `0.7`) or its header, as text.
fn preference_param(
    extra: &Map<String, Value>,
    headers: &HeaderMap,
) -> Result<Option<String>, ApiError> {
    let from_body = match extra.get("preference") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            return Err(ApiError::bad_request(
                format!("`preference` must be a preset name or a number from 0 to 1, got {other}"),
                Some("preference"),
            ))
        }
    };
    let from_header = header_text(headers, PREFERENCE_HEADER)?.map(str::to_owned);
    match (from_body, from_header) {
        (Some(_), Some(_)) => Err(given_twice("preference", PREFERENCE_HEADER)),
        (b, h) => Ok(b.or(h)),
    }
}

fn parse_preference(text: &str, param: &str) -> Result<f64, ApiError> {
    Preference::parse(text)
        .map(Preference::value)
        .map_err(|e| ApiError::bad_request(e.to_string(), Some(param)))
}

/// Chooses the point: by the model suffix (preset, number or point id), by `preference`,
/// `min_accuracy` and `max_latency_s` (body or headers), or the medium preference.
fn choose(
    served: &ServedWorkflow,
    suffix: Option<&str>,
    extra: &Map<String, Value>,
    headers: &HeaderMap,
) -> Result<(usize, Selection), ApiError> {
    let preference = preference_param(extra, headers)?;
    let min_accuracy = number_param(extra, headers, "min_accuracy", MIN_ACCURACY_HEADER)?;
    let max_latency_s = number_param(extra, headers, "max_latency_s", MAX_LATENCY_HEADER)?;
    // The limits are checked as the CLI checks them, by the one validation of `select`.
    Choice::new(None, min_accuracy, max_latency_s)
        .map_err(|e| ApiError::bad_request(e.to_string(), Some(e.param.name())))?;
    let suffix_preference = match suffix {
        None => None,
        Some(s) => {
            if let Some(i) = served.points.iter().position(|p| p.id == s) {
                if preference.is_some() || min_accuracy.is_some() || max_latency_s.is_some() {
                    return Err(ApiError::bad_request(
                        format!(
                            "model `{}@{s}` names a point, which leaves nothing to choose: drop `preference`, `min_accuracy` and `max_latency_s`, or call `{}`",
                            served.name, served.name
                        ),
                        Some("model"),
                    ));
                }
                let selection = Selection {
                    point: Some(s.to_owned()),
                    ..Selection::default()
                };
                return Ok((i, selection));
            }
            if Preference::preset(s).is_none() && s.trim().parse::<f64>().is_err() {
                return Err(ApiError::not_found(
                    format!(
                        "model `{}@{s}` does not exist: after `@` give fast, medium, high, xhigh, a preference from 0 to 1, or a point id ({}..{})",
                        served.name,
                        served.points[0].id,
                        served.points[served.points.len() - 1].id
                    ),
                    Some("model"),
                    "model_not_found",
                ));
            }
            Some(parse_preference(s, "model")?)
        }
    };
    let preference = match (suffix_preference, preference) {
        (Some(_), Some(p)) => {
            return Err(ApiError::bad_request(
                format!(
                "the preference is given twice: by the model suffix `@{}` and as `{p}`; give one",
                suffix.unwrap_or_default()
            ),
                Some("preference"),
            ))
        }
        (Some(b), None) => Some(b),
        (None, Some(p)) => Some(parse_preference(&p, "preference")?),
        (None, None) => None,
    };
    let request = Choice::new(preference, min_accuracy, max_latency_s)
        .map_err(|e| ApiError::bad_request(e.to_string(), Some(e.param.name())))?;
    let index = select(&served.points, &request).map_err(|e| {
        error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_feasible_point",
            format!("workflow `{}`: {e}", served.name),
        )
    })?;
    Ok((
        index,
        Selection {
            preference: request.preference,
            min_accuracy,
            max_latency_s,
            point: None,
            routed: None,
        },
    ))
}

/// Routes one request through the KNN router: embeds its input, picks by the same preference and
/// limits `choose` read, and returns the routed point and its configuration.
async fn route(
    st: &AppState,
    served: &ServedWorkflow,
    knn: &Knn,
    item: &Value,
    selection: &mut Selection,
) -> Result<(Point, Config), ApiError> {
    let text = flowcompile_route::query_text(item, &served.fields);
    let embedded = knn.client.embed(&knn.model, &[text]).await.map_err(|e| {
        st.metrics.upstream_error(&served.name);
        error(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            format!(
                "workflow `{}`: embedding the input with `{}` for the router failed: {e}",
                served.name, knn.model
            ),
        )
    })?;
    let query = embedded.vectors.into_iter().next().ok_or_else(|| {
        st.metrics.upstream_error(&served.name);
        error(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            format!(
                "workflow `{}`: the embedding endpoint of `{}` returned no vector",
                served.name, knn.model
            ),
        )
    })?;
    let request = Choice {
        preference: selection.preference,
        min_accuracy: selection.min_accuracy,
        max_latency_s: selection.max_latency_s,
    };
    let routed = knn.router.route(&query, &request).map_err(|e| match e {
        flowcompile_route::RouteError::Unsatisfiable(e) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_feasible_point",
            format!("workflow `{}` (routed): {e}", served.name),
        ),
        other => {
            st.metrics.upstream_error(&served.name);
            error(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                format!("workflow `{}`: routing failed: {other}", served.name),
            )
        }
    })?;
    let config = Config::from_point(
        served.runner.workflow(),
        served.runner.space(),
        routed.structure,
        &routed.settings,
    )
    .map_err(|e| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "workflow_error",
            format!("workflow `{}`: the routed configuration: {e}", served.name),
        )
    })?;
    selection.routed = Some(RoutedBy {
        k: knn.router.k(),
        neighbours: routed.neighbours.iter().map(|n| n.id.clone()).collect(),
        nearest_similarity: routed.neighbours.first().map(|n| n.similarity),
        fallback_share: if routed.cells == 0 {
            1.0
        } else {
            routed.fallbacks as f64 / routed.cells as f64
        },
        frontier_points: routed.frontier_len,
    });
    Ok((routed.point, config))
}

/// Whether the request asks for the trace (`"flowcompile_trace": true` or header
/// `x-flowcompile-trace: 1`).
fn wants_trace(extra: &Map<String, Value>, headers: &HeaderMap) -> Result<bool, ApiError> {
    let body = match extra.get("flowcompile_trace") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(ApiError::bad_request(
                format!("`flowcompile_trace` must be true or false, got {other}"),
                Some("flowcompile_trace"),
            ))
        }
    };
    let header = match header_text(headers, "x-flowcompile-trace")? {
        None => false,
        Some(t) => matches!(t.trim(), "1" | "true"),
    };
    Ok(body || header)
}

/// The task item from the last user message: its text is the first task field, or, when it is a JSON
/// object, it gives the fields by name.
fn task_item(
    workflow: &str,
    task_fields: &[String],
    req: &ChatCompletionRequest,
) -> Result<Value, ApiError> {
    let message = req
        .messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .ok_or_else(|| {
            ApiError::bad_request(
                "`messages` has no user message: the last one is the workflow's input",
                Some("messages"),
            )
        })?;
    let text = message.text();
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(
            "the last user message is empty",
            Some("messages"),
        ));
    }
    let fields = task_fields.join(", ");
    if let Ok(Value::Object(item)) = serde_json::from_str::<Value>(text.trim()) {
        let missing: Vec<&str> = task_fields
            .iter()
            .filter(|f| !item.contains_key(*f))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::bad_request(
                format!(
                    "the last user message is a JSON object without the field(s) {} of workflow `{}` (it takes: {fields})",
                    missing.join(", "),
                    workflow
                ),
                Some("messages"),
            ));
        }
        return Ok(Value::Object(item));
    }
    match task_fields {
        [first] => Ok(serde_json::json!({ first: text })),
        [] => Ok(Value::Object(Map::new())),
        _ => Err(ApiError::bad_request(
            format!(
                "workflow `{}` takes the fields {fields}: send the last user message as a JSON object with them",
                workflow
            ),
            Some("messages"),
        )),
    }
}

/// The reply for a failed run: 502 when a model call failed, 400 when the input lacks what a prompt
/// reads, 500 otherwise.
fn run_error(st: &AppState, served: &ServedWorkflow, e: RunError) -> ApiError {
    match e {
        RunError::Call { .. } => {
            st.metrics.upstream_error(&served.name);
            error(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                format!("workflow `{}`: a model call failed: {e}", served.name),
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

#[cfg(test)]
mod tests {
    use super::*;
    use flowcompile_openai::ChatMessage;

    fn request(messages: Vec<ChatMessage>) -> ChatCompletionRequest {
        ChatCompletionRequest::new("w", messages)
    }

    fn fields(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_last_user_message_fills_the_first_field() {
        let req = request(vec![
            ChatMessage::system("be brief"),
            ChatMessage::user("first question"),
            ChatMessage::assistant("an answer"),
            ChatMessage::user("What is 6 * 7?"),
        ]);
        let item = task_item("math", &fields(&["problem"]), &req).unwrap();
        assert_eq!(item, serde_json::json!({"problem": "What is 6 * 7?"}));
        let parts: ChatMessage = serde_json::from_value(serde_json::json!({
            "role": "user",
            "content": [{"type": "text", "text": "What is"}, {"type": "text", "text": "6 * 7?"}],
        }))
        .unwrap();
        let item = task_item("math", &fields(&["problem"]), &request(vec![parts])).unwrap();
        assert_eq!(item["problem"], "What is\n6 * 7?");
    }

    #[test]
    fn a_json_object_message_gives_the_fields_by_name() {
        let text = r#"{"question": "Who?", "context": [["Title", ["A sentence."]]], "id": "q7"}"#;
        let req = request(vec![ChatMessage::user(text)]);
        let two = fields(&["question", "context"]);
        let item = task_item("hotpotqa", &two, &req).unwrap();
        assert_eq!(item["context"][0][0], "Title");
        assert_eq!(item["id"], "q7");

        let missing = request(vec![ChatMessage::user(r#"{"question": "Who?"}"#)]);
        let e = task_item("hotpotqa", &two, &missing).unwrap_err();
        assert_eq!(
            e.body.message,
            "the last user message is a JSON object without the field(s) context of workflow `hotpotqa` (it takes: question, context)"
        );
        let plain = request(vec![ChatMessage::user("Who?")]);
        let e = task_item("hotpotqa", &two, &plain).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e
            .body
            .message
            .contains("send the last user message as a JSON object"));
        let braces = request(vec![ChatMessage::user("{1, 2} has how many elements?")]);
        let item = task_item("math", &fields(&["problem"]), &braces).unwrap();
        assert_eq!(item["problem"], "{1, 2} has how many elements?");
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(equal_in_constant_time(b"sk-abc", b"sk-abc"));
        assert!(!equal_in_constant_time(b"sk-abc", b"sk-abd"));
        assert!(!equal_in_constant_time(b"sk-ab", b"sk-abc"));
        assert!(!equal_in_constant_time(b"", b"sk"));
    }
}

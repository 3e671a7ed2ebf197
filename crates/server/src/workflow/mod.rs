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
use flowcompile_openai::{
    AssistantMessage, ChatChoice, ChatChunkChoice, ChatCompletionChunk, ChatCompletionRequest,
    ChatCompletionResponse, ChatDelta, ErrorBody, Model, ModelList, Usage, STREAM_DONE,
};
use flowcompile_runner::RunError;
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

use info::{info_headers, Reply};
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(equal_in_constant_time(b"sk-abc", b"sk-abc"));
        assert!(!equal_in_constant_time(b"sk-abc", b"sk-abd"));
        assert!(!equal_in_constant_time(b"sk-ab", b"sk-abc"));
        assert!(!equal_in_constant_time(b"", b"sk"));
    }
}

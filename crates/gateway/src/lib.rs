//! The gateway of issue 12: an OpenAI-compatible HTTP server in front of a providers file that
//! routes each agent's calls by a compiled point.
//!
//! [`gateway_router`] answers `POST /v1/chat/completions`, `/v1/completions` and `/v1/embeddings`
//! and `GET /v1/models`, plus `GET /flowcompile/plan`, `GET /health` and `GET /metrics`
//! (Prometheus text format: calls by agent, point and status, latency histograms, structure drift,
//! upstream errors).
//!
//! - **Pass-through.** A call that names no agent goes to the provider its `model` names (the body's
//!   `model` rewritten to the provider's server model id, the provider's key and headers added;
//!   streamed replies forwarded chunk by chunk). An unknown model is a 400 naming the known ones.
//! - **Agent calls.** With [`Agents`] (a shape's agents and a [`Deployment`] of an artifact compiled
//!   for it), a chat call names its agent by the header `x-flowcompile-agent` or by a `model` equal to
//!   an agent's name, and its run by `x-flowcompile-run`. The run's point is chosen at its first call
//!   (header `x-flowcompile-point`, an id such as `p3`, or `x-flowcompile-preference`, a preset or a
//!   weight as `flowcompile serve` reads them, else the gateway's default) and kept for the run
//!   ([`RunLimits`] bounds how many runs are kept and for how long). The call goes through
//!   [`flowcompile_client::Client::call`] to the (model, budget) the point sets for the agent, the
//!   budget applied by the provider's budget mode exactly as flowcompile's runner applies it; the
//!   reply is a chat completion, or an SSE stream (the model's text as `reasoning_content` deltas
//!   as it arrives, then the answer as `content`, as `flowcompile serve` streams), with the headers
//!   `x-flowcompile-point`, `x-flowcompile-agent-model` and `x-flowcompile-agent-budget`. A call to an
//!   agent the point switches off is answered under the agent's reference setting, counted in
//!   `flowcompile_gateway_structure_drift_total` and logged. An unknown agent is a 400 naming the
//!   known ones. `GET /flowcompile/plan?run=RUN` says what the run's point does to every agent.
//!
//! Apps authenticate with the gateway's own bearer token ([`GatewayOptions::token`]); provider keys
//! are only ever sent upstream, and an upstream failure is a 502 in the OpenAI error shape without
//! the upstream's URL or key. Every call logs one `tracing` line (target `flowcompile_gateway`):
//! agent, run, point, model, status, latency_ms.
#![deny(missing_docs)]

mod agent;
mod metrics;
mod plan;
mod runs;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use flowcompile_client::{Client, Providers};
use flowcompile_ir::Workflow;
use flowcompile_select::{select, Preference, Request as Choice};
use flowcompile_store::Store;
use serde_json::{json, Value};

pub use plan::{AgentPlan, DeployError, Deployment, PointPlan, Reference};
pub use runs::RunLimits;

use metrics::Metrics;
use runs::Runs;

/// Request header: the agent making a call.
pub const AGENT_HEADER: &str = "x-flowcompile-agent";
/// Request header: the run (one run of the workflow on one input) a call belongs to.
pub const RUN_HEADER: &str = "x-flowcompile-run";
/// Request header: the point a run takes (`p3`); reply header: the point a call ran under.
pub const POINT_HEADER: &str = "x-flowcompile-point";
/// Request header: the preference (a preset or a weight in [0, 1]) a run's point is chosen by.
pub const PREFERENCE_HEADER: &str = "x-flowcompile-preference";
/// Reply header: the model the agent's call went to.
pub const AGENT_MODEL_HEADER: &str = "x-flowcompile-agent-model";
/// Reply header: the thinking budget (tokens) the agent's call ran with.
pub const AGENT_BUDGET_HEADER: &str = "x-flowcompile-agent-budget";

/// Limits and authentication of the gateway.
#[derive(Clone, Debug)]
pub struct GatewayOptions {
    /// The bearer token every `/v1` and `/flowcompile` request must send; `None` leaves them open.
    /// `/health` and `/metrics` stay open.
    pub token: Option<String>,
    /// How many runs are remembered and for how long.
    pub runs: RunLimits,
    /// Largest request body, bytes (larger ones get 413).
    pub body_limit_bytes: usize,
}

impl Default for GatewayOptions {
    /// No token, the default [`RunLimits`], 16 MiB bodies.
    fn default() -> GatewayOptions {
        GatewayOptions {
            token: None,
            runs: RunLimits::default(),
            body_limit_bytes: 16 << 20,
        }
    }
}

/// The agents of a shape and where their calls go.
#[derive(Debug)]
pub struct Agents {
    names: Vec<String>,
    reference: Reference,
    mode: Mode,
}

#[derive(Debug)]
enum Mode {
    /// Each run's calls go to its point's settings.
    Deploy {
        deployment: Deployment,
        default_point: usize,
    },
    /// Every call goes to its agent's reference setting and is written to the store.
    Capture { store: Arc<Mutex<Store>> },
}

/// Why a default preference picks no point.
#[derive(Debug, thiserror::Error)]
#[error("the default preference picks no point: {0}")]
pub struct NoDefaultPoint(#[from] flowcompile_select::NoFeasible);

impl Agents {
    /// Agent calls routed by `deployment`; a run that names no point gets the one `default` picks,
    /// and an agent a point switches off runs under its `reference` setting.
    pub fn deploy(
        deployment: Deployment,
        reference: Reference,
        default: Preference,
    ) -> Result<Agents, NoDefaultPoint> {
        let request = Choice {
            preference: Some(default.value()),
            min_accuracy: None,
            max_latency_s: None,
        };
        let default_point = select(&deployment.points, &request)?;
        Ok(Agents {
            names: deployment.agent_names.clone(),
            reference,
            mode: Mode::Deploy {
                deployment,
                default_point,
            },
        })
    }

    /// Capture: every call of an agent of `wf` goes to the agent's `reference` setting, and its
    /// request (messages and sampling parameters), reply, usage and latency are written to
    /// `store` per (run, agent, call index) before the reply is sent. Calls must name their run.
    pub fn capture(wf: &Workflow, reference: Reference, store: Store) -> Agents {
        Agents {
            names: wf.agents.iter().map(|a| a.name.clone()).collect(),
            reference,
            mode: Mode::Capture {
                store: Arc::new(Mutex::new(store)),
            },
        }
    }

    /// The point runs get when they name none: an artifact point's id, or `reference` when
    /// capturing.
    pub fn default_point(&self) -> &str {
        match &self.mode {
            Mode::Deploy {
                deployment,
                default_point,
            } => &deployment.points[*default_point].point.id,
            Mode::Capture { .. } => REFERENCE_POINT,
        }
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|a| a == name)
    }
}

/// The point label of captured calls, which all run under the reference configuration.
pub const REFERENCE_POINT: &str = "reference";

struct Gateway {
    providers: Providers,
    http: reqwest::Client,
    client: Client,
    agents: Option<Agents>,
    runs: Runs,
    metrics: Metrics,
    opts: GatewayOptions,
}

type Shared = Arc<Gateway>;

/// The gateway's routes: pass-through to `providers`, and agent calls routed by `agents` when given
/// (through `client`, which must be a client of the same providers).
pub fn gateway_router(
    providers: Providers,
    client: Client,
    agents: Option<Agents>,
    opts: GatewayOptions,
) -> Router {
    let names: Vec<&str> = agents
        .iter()
        .flat_map(|a| a.names.iter().map(String::as_str))
        .collect();
    let metrics = Metrics::new(names);
    let body_limit = opts.body_limit_bytes;
    let state = Arc::new(Gateway {
        providers,
        http: reqwest::Client::new(),
        client,
        runs: Runs::new(opts.runs),
        agents,
        metrics,
        opts,
    });
    let api = Router::new()
        .route(
            "/v1/chat/completions",
            post(|s, h, b| call(s, h, b, "chat/completions")),
        )
        .route(
            "/v1/completions",
            post(|s, h, b| call(s, h, b, "completions")),
        )
        .route(
            "/v1/embeddings",
            post(|s, h, b| call(s, h, b, "embeddings")),
        )
        .route("/v1/models", get(models))
        .route("/flowcompile/plan", get(plan_endpoint))
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize));
    Router::new()
        .merge(api)
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/metrics", get(metrics_text))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "no such path: the gateway serves /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models, /flowcompile/plan, /health and /metrics".into(),
            )
        })
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` resolves, then finishes the calls in flight.
pub async fn serve_gateway(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

pub(crate) fn error(status: StatusCode, kind: &str, message: String) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": null}});
    (status, Json(body)).into_response()
}

/// A refused call: its status and the message of its OpenAI error body.
#[derive(Debug)]
pub(crate) struct Reject {
    status: StatusCode,
    message: String,
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        let kind = if self.status.is_client_error() {
            "invalid_request_error"
        } else {
            "server_error"
        };
        error(self.status, kind, self.message)
    }
}

pub(crate) fn bad_request(message: String) -> Reject {
    Reject {
        status: StatusCode::BAD_REQUEST,
        message,
    }
}

async fn authorize(State(gw): State<Shared>, req: Request, next: Next) -> Response {
    let Some(token) = &gw.opts.token else {
        return next.run(req).await;
    };
    let sent = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let message = match flowcompile_openai::bearer_matches(sent, token) {
        None => "missing bearer token: send the header `Authorization: Bearer <token>` with the gateway's token",
        Some(true) => return next.run(req).await,
        Some(false) => "invalid bearer token: send the gateway's token, not a provider key",
    };
    gw.metrics.record("", "", 401, 0.0);
    tracing::info!(
        target: "flowcompile_gateway",
        agent = "",
        run = "",
        point = "",
        model = "",
        status = 401,
        latency_ms = 0,
        "call"
    );
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        "invalid_request_error",
        message.into(),
    );
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

async fn metrics_text(State(gw): State<Shared>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        gw.metrics.render(),
    )
        .into_response()
}

async fn models(State(gw): State<Shared>) -> Json<Value> {
    let mut data: Vec<Value> = gw
        .providers
        .iter()
        .map(|p| json!({"id": p.name, "object": "model", "owned_by": "flowcompile"}))
        .collect();
    if let Some(agents) = &gw.agents {
        data.extend(
            agents
                .names
                .iter()
                .map(|a| json!({"id": a, "object": "model", "owned_by": "flowcompile-agent"})),
        );
    }
    Json(json!({"object": "list", "data": data}))
}

/// What a call ended as, for the metrics and the access log.
#[derive(Default)]
pub(crate) struct Outcome {
    pub(crate) agent: String,
    pub(crate) run: String,
    pub(crate) point: String,
    pub(crate) model: String,
}

async fn call(
    State(gw): State<Shared>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    path: &'static str,
) -> Response {
    let started = Instant::now();
    let _in_flight = gw.metrics.start();
    let mut outcome = Outcome::default();
    let response = answer(&gw, &headers, body, path, &mut outcome).await;
    let latency = started.elapsed();
    let status = response.status().as_u16();
    gw.metrics.record(
        &outcome.agent,
        &outcome.point,
        status,
        latency.as_secs_f64(),
    );
    tracing::info!(
        target: "flowcompile_gateway",
        agent = %outcome.agent,
        run = %outcome.run,
        point = %outcome.point,
        model = %outcome.model,
        status,
        latency_ms = format_args!("{:.3}", latency.as_secs_f64() * 1e3),
        "call"
    );
    response
}

/// A header's text, or a 400 naming it when it is not visible ASCII.
pub(crate) fn header_text<'h>(
    headers: &'h HeaderMap,
    name: &str,
) -> Result<Option<&'h str>, Reject> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map(str::trim)
                .map_err(|_| bad_request(format!("header `{name}` must be visible ASCII")))
        })
        .transpose()
}

async fn answer(
    gw: &Shared,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    path: &'static str,
    outcome: &mut Outcome,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                format!(
                    "the body is larger than the gateway's limit of {} bytes",
                    gw.opts.body_limit_bytes
                ),
            )
        }
        Err(r) => return bad_request(format!("body: {}", r.body_text())).into_response(),
    };
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("body: {e}")).into_response(),
    };
    let model = value
        .get("model")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let named = match header_text(headers, AGENT_HEADER) {
        Ok(n) => n.map(str::to_owned),
        Err(r) => return r.into_response(),
    };
    outcome.run = match header_text(headers, RUN_HEADER) {
        Ok(r) => r.unwrap_or_default().to_owned(),
        Err(r) => return r.into_response(),
    };
    let agent = match (&gw.agents, named) {
        (None, Some(agent)) => {
            outcome.agent = agent.clone();
            return bad_request(format!(
                "agent `{agent}`: this gateway has no shape, so it takes no agent calls; start it with --shape and --artifact, or drop the header `{AGENT_HEADER}`"
            )).into_response();
        }
        (None, None) => None,
        (Some(agents), Some(agent)) => match agents.index(&agent) {
            Some(i) => Some((agents, i)),
            None => {
                outcome.agent = agent.clone();
                return bad_request(format!(
                    "unknown agent `{agent}`; the shape's agents are: {}",
                    agents.names.join(", ")
                ))
                .into_response();
            }
        },
        (Some(agents), None) => model
            .as_deref()
            .and_then(|m| agents.index(m))
            .map(|i| (agents, i)),
    };
    match agent {
        Some((agents, i)) => {
            outcome.agent = agents.names[i].clone();
            if path != "chat/completions" {
                return bad_request(format!(
                    "agent `{}`: agent calls go to /v1/chat/completions, not /v1/{path}",
                    outcome.agent
                ))
                .into_response();
            }
            agent::chat(gw, agents, i, headers, &body, outcome).await
        }
        None => {
            let Some(model) = model else {
                return bad_request("body: field `model` is missing".into()).into_response();
            };
            outcome.model = model.clone();
            forward(gw, value, &model, path).await
        }
    }
}

async fn forward(gw: &Gateway, mut value: Value, model: &str, path: &'static str) -> Response {
    let Some(provider) = gw.providers.get(model) else {
        let known: Vec<&str> = gw.providers.iter().map(|p| p.name.as_str()).collect();
        return bad_request(format!(
            "unknown model `{model}`; known models: {}",
            known.join(", ")
        ))
        .into_response();
    };
    value["model"] = Value::String(provider.model.clone());
    let mut req = gw
        .http
        .post(format!("{}/{path}", provider.base_url))
        .json(&value);
    if let Some(key) = &provider.api_key {
        req = req.bearer_auth(key.expose());
    }
    for (name, v) in &provider.headers {
        req = req.header(name, v);
    }
    match req.send().await {
        Ok(reply) => {
            let status =
                StatusCode::from_u16(reply.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let kind = reply
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/json")
                .to_owned();
            let body = if status.is_success() {
                Body::from_stream(reply.bytes_stream())
            } else {
                // An error body may echo the key (or part of it): it is read whole and redacted.
                if status.is_server_error() {
                    gw.metrics.upstream_error("");
                }
                let text = reply.text().await.unwrap_or_default();
                Body::from(provider.redact(&text))
            };
            let mut response = Response::new(body);
            *response.status_mut() = status;
            if let Ok(kind) = kind.parse() {
                response.headers_mut().insert(header::CONTENT_TYPE, kind);
            }
            response
        }
        Err(e) => {
            gw.metrics.upstream_error("");
            let message = provider.redact(&e.without_url().to_string());
            tracing::warn!(target: "flowcompile_gateway", model, error = %message, "upstream failed");
            error(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                format!("model `{model}`: {message}"),
            )
        }
    }
}

/// The query of `GET /flowcompile/plan`.
#[derive(serde::Deserialize)]
struct PlanQuery {
    run: Option<String>,
}

async fn plan_endpoint(
    State(gw): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<PlanQuery>,
) -> Response {
    let Some(agents) = &gw.agents else {
        return error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "this gateway has no shape: start it with --shape and --artifact (or --capture) to get plans".into(),
        );
    };
    let per_agent = |plans: &[AgentPlan]| -> serde_json::Map<String, Value> {
        agents
            .names
            .iter()
            .zip(plans)
            .map(|(name, a)| (name.clone(), serde_json::to_value(a).unwrap_or(Value::Null)))
            .collect()
    };
    let Mode::Deploy { deployment, .. } = &agents.mode else {
        return Json(json!({
            "run": q.run,
            "point": REFERENCE_POINT,
            "structure": agents.reference.structure,
            "predicted": null,
            "agents": per_agent(&agents.reference.agents),
        }))
        .into_response();
    };
    let point = match &q.run {
        Some(run) => gw
            .runs
            .visit(run, None, Instant::now(), || agents.choose(&headers))
            .map(|s| s.point),
        None => agents.choose(&headers),
    };
    let point = match point {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let plan = &deployment.points[point];
    Json(json!({
        "run": q.run,
        "point": plan.point.id,
        "structure": plan.point.structure,
        "predicted": plan.point.predicted,
        "agents": per_agent(&plan.agents),
    }))
    .into_response()
}

impl Agents {
    /// The point a new run takes: `x-flowcompile-point`, else `x-flowcompile-preference`, else the
    /// default; a 400 naming what is wrong otherwise.
    pub(crate) fn choose(&self, headers: &HeaderMap) -> Result<usize, Reject> {
        let Mode::Deploy {
            deployment,
            default_point,
        } = &self.mode
        else {
            return Ok(0);
        };
        let points = &deployment.points;
        let id = header_text(headers, POINT_HEADER)?;
        let preference = header_text(headers, PREFERENCE_HEADER)?;
        match (id, preference) {
            (Some(_), Some(_)) => Err(bad_request(format!(
                "both `{POINT_HEADER}` and `{PREFERENCE_HEADER}` are given: a point leaves nothing to prefer; give one"
            ))),
            (Some(id), None) => deployment.point_index(id).ok_or_else(|| {
                bad_request(format!(
                    "header `{POINT_HEADER}`: unknown point `{}`; the artifact has {}..{}",
                    excerpt(id),
                    points[0].point.id,
                    points[points.len() - 1].point.id
                ))
            }),
            (None, Some(text)) => {
                let b = Preference::parse(text).map_err(|_| {
                    bad_request(format!(
                        "header `{PREFERENCE_HEADER}`: `{}` is not a preference: give {} or a number from 0 to 1",
                        excerpt(text),
                        flowcompile_select::presets_text()
                    ))
                })?;
                let request = Choice {
                    preference: Some(b.value()),
                    min_accuracy: None,
                    max_latency_s: None,
                };
                select(points, &request).map_err(|e| Reject {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    message: e.to_string(),
                })
            }
            (None, None) => Ok(*default_point),
        }
    }
}

/// `text` as an error message repeats it: whole when short, else its start and its length.
pub(crate) fn excerpt(text: &str) -> String {
    const MAX: usize = 80;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX / 2;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &text[..end], text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_in_messages() {
        assert_eq!(excerpt("p3"), "p3");
        let long = "x".repeat(500);
        assert_eq!(excerpt(&long), format!("{}... (500 bytes)", "x".repeat(40)));
    }
}

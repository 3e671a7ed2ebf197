//! The gateway: an OpenAI-compatible HTTP server in front of a providers file (issue 12, first step).
//!
//! [`gateway_router`] answers `POST /v1/chat/completions`, `/v1/completions` and `/v1/embeddings` by
//! passing each call through to the provider its `model` names (the body's `model` rewritten to the
//! provider's server model id, its key and headers added; streamed replies forwarded chunk by chunk),
//! and `GET /v1/models` with the providers' names. Calls naming an agent (`x-flowcompile-agent`) are
//! refused with 400: shapes, capture and deployment are not built yet. An unknown model gets 400
//! naming the known ones; an upstream failure gets 502 with the OpenAI error shape, without the
//! upstream's URL or key.
#![deny(missing_docs)]

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use flowcompile_client::Providers;
use serde_json::{json, Value};

/// The header that names a call's agent.
pub const AGENT_HEADER: &str = "x-flowcompile-agent";

struct Gateway {
    providers: Providers,
    http: reqwest::Client,
}

/// The gateway's routes over `providers`.
pub fn gateway_router(providers: Providers) -> Router {
    let state = Arc::new(Gateway {
        providers,
        http: reqwest::Client::new(),
    });
    Router::new()
        .route(
            "/v1/chat/completions",
            post(|s, h, b| forward(s, h, b, "chat/completions")),
        )
        .route(
            "/v1/completions",
            post(|s, h, b| forward(s, h, b, "completions")),
        )
        .route(
            "/v1/embeddings",
            post(|s, h, b| forward(s, h, b, "embeddings")),
        )
        .route("/v1/models", get(models))
        .with_state(state)
}

fn error(status: StatusCode, kind: &str, message: String) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": null}});
    (status, Json(body)).into_response()
}

async fn models(State(gw): State<Arc<Gateway>>) -> Json<Value> {
    let data: Vec<Value> = gw
        .providers
        .iter()
        .map(|p| json!({"id": p.name, "object": "model", "owned_by": "flowcompile"}))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

async fn forward(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Bytes,
    path: &'static str,
) -> Response {
    if let Some(agent) = headers.get(AGENT_HEADER) {
        let agent = String::from_utf8_lossy(agent.as_bytes()).into_owned();
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            format!("agent `{agent}`: agent calls need a shape file, which the gateway does not take yet"),
        );
    }
    let mut value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                format!("body: {e}"),
            );
        }
    };
    let Some(model) = value
        .get("model")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "body: field `model` is missing".into(),
        );
    };
    let Some(provider) = gw.providers.get(&model) else {
        let known: Vec<&str> = gw.providers.iter().map(|p| p.name.as_str()).collect();
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            format!(
                "unknown model `{model}`; known models: {}",
                known.join(", ")
            ),
        );
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
            let mut response = Response::new(Body::from_stream(reply.bytes_stream()));
            *response.status_mut() = status;
            if let Ok(kind) = kind.parse() {
                response
                    .headers_mut()
                    .insert(axum::http::header::CONTENT_TYPE, kind);
            }
            response
        }
        Err(e) => {
            let message = provider.redact(&e.without_url().to_string());
            error(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                format!("model `{model}`: {message}"),
            )
        }
    }
}

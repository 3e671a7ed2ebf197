//! A scripted OpenAI-shaped HTTP server: each request gets the next scripted reply (the last one repeats),
//! and every request is recorded with its headers and JSON body.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use flowcompile_client::{Client, Providers, RetryPolicy};
use flowcompile_testsupport::Loopback;
use futures::StreamExt;
use serde_json::{json, Value};

/// What the server does with one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A JSON body with a status and extra headers.
    Json {
        status: u16,
        body: Value,
        headers: Vec<(&'static str, String)>,
    },
    /// A raw text body.
    Text { status: u16, body: &'static str },
    /// Wait, then answer with a JSON body (to count requests in flight).
    Slow { delay: Duration, body: Value },
    /// Never answer.
    Hang,
    /// Server-sent events `data: {event}`, the first after `first_delay`; `[DONE]` ends it when `done`.
    Stream {
        first_delay: Duration,
        events: Vec<Value>,
        done: bool,
    },
}

impl Reply {
    pub fn ok(body: Value) -> Reply {
        Reply::Json {
            status: 200,
            body,
            headers: Vec::new(),
        }
    }

    pub fn status(status: u16, message: &str) -> Reply {
        Reply::Json {
            status,
            body: json!({ "error": { "message": message, "type": "test_error", "param": null, "code": null } }),
            headers: Vec::new(),
        }
    }
}

/// A chat reply with `content` and usage.
pub fn chat_body(content: &str, finish: &str, prompt: u64, completion: u64) -> Value {
    json!({
        "id": "c1", "object": "chat.completion", "created": 0, "model": "server-model",
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": content }, "finish_reason": finish }],
        "usage": { "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion }
    })
}

/// A completions reply with `text` and usage (no reasoning breakdown, as vLLM's completions send).
pub fn completion_body(text: &str, finish: &str, prompt: u64, completion: u64) -> Value {
    json!({
        "id": "t1", "object": "text_completion", "created": 0, "model": "server-model",
        "choices": [{ "index": 0, "text": text, "finish_reason": finish, "logprobs": null }],
        "usage": { "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion }
    })
}

/// One request the server saw.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Default)]
pub struct MockState {
    script: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<Recorded>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// A running mock server.
pub struct Mock {
    server: Loopback,
    state: Arc<MockState>,
}

impl Mock {
    /// Starts a server on 127.0.0.1:0 that answers with `script`.
    pub async fn start(script: Vec<Reply>) -> Mock {
        assert!(!script.is_empty());
        let state = Arc::new(MockState {
            script: Mutex::new(script.into()),
            ..Default::default()
        });
        let app = Router::new().fallback(handle).with_state(state.clone());
        let server = Loopback::router(app).await;
        Mock { server, state }
    }

    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }
}

async fn handle(
    State(state): State<Arc<MockState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    state.requests.lock().unwrap().push(Recorded {
        path: uri.path().to_string(),
        headers,
        body,
    });
    let reply = {
        let mut script = state.script.lock().unwrap();
        if script.len() > 1 {
            script.pop_front().unwrap()
        } else {
            script[0].clone()
        }
    };
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let response = respond(reply).await;
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    response
}

fn json_response(status: u16, body: &Value, headers: &[(&'static str, String)]) -> Response {
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", "application/json");
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    builder.body(Body::from(body.to_string())).unwrap()
}

async fn respond(reply: Reply) -> Response {
    match reply {
        Reply::Json {
            status,
            body,
            headers,
        } => json_response(status, &body, &headers),
        Reply::Text { status, body } => Response::builder()
            .status(StatusCode::from_u16(status).unwrap())
            .header("content-type", "text/html")
            .body(Body::from(body))
            .unwrap(),
        Reply::Slow { delay, body } => {
            tokio::time::sleep(delay).await;
            json_response(200, &body, &[])
        }
        Reply::Hang => std::future::pending().await,
        Reply::Stream {
            first_delay,
            events,
            done,
        } => {
            let mut frames: Vec<String> = events.iter().map(|e| format!("data: {e}\n\n")).collect();
            if done {
                frames.push("data: [DONE]\n\n".to_string());
            }
            let stream = futures::stream::iter(frames.into_iter().enumerate()).then(
                move |(i, frame)| async move {
                    if i == 0 {
                        tokio::time::sleep(first_delay).await;
                    }
                    Ok::<_, Infallible>(frame)
                },
            );
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "text/event-stream")
                .body(Body::from_stream(stream))
                .unwrap()
        }
    }
}

/// Providers from TOML text with keys looked up in `env`.
pub fn providers(toml: &str, env: &[(&str, &str)]) -> Providers {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Providers::from_toml_str_with_env(toml, "test-providers.toml", &|var| {
        env.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone())
    })
    .unwrap()
}

/// A client with millisecond backoff so that retry tests are fast.
pub fn fast_client(providers: Providers) -> Client {
    Client::new(providers)
        .unwrap()
        .with_retry_policy(RetryPolicy {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            max_retry_after: Duration::from_secs(2),
        })
}

//! Secrets never leave the client: a server that echoes every header it was sent (the key, the
//! provider's `headers` values, the `Basic` credentials of a `base_url` with user-info) in its error
//! body, its plain-text body or a stream's error event; what the error, its `Debug` and the log
//! lines show has none of them.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use flowcompile_client::{CallRequest, ClientError, Providers};
use flowcompile_openai::ChatMessage;
use flowcompile_testsupport::Loopback;
use serde_json::json;

use crate::mock::fast_client;

const HEADER_SECRET: &str = "hv-0123456789-header-secret";
const KEY_SECRET: &str = "sk-0123456789-key-secret";
const PASSWORD: &str = "pw-0123456789-url-secret";
const KEY_VAR: &str = "FLOWCOMPILE_CLIENT_TEST_ECHO_KEY";

/// Every header value the request carried, joined.
fn echoed(headers: &HeaderMap) -> String {
    headers
        .iter()
        .map(|(name, value)| format!("{name}={}", value.to_str().unwrap_or("?")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A server whose every reply echoes the request's headers: as an OpenAI error body (`/json`),
/// as plain text after 190 characters so that a 200-character cut would split a secret
/// (`/text`), or as a stream's error event (`/stream`).
async fn echo_server() -> Loopback {
    let json_reply = |headers: HeaderMap| async move {
        let body =
            json!({ "error": { "message": format!("bad request from {}", echoed(&headers)) } });
        Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let text_reply = |headers: HeaderMap| async move {
        let x_api_key = headers["x-api-key"].to_str().unwrap().to_string();
        Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .header("content-type", "text/plain")
            .body(Body::from(format!(
                "{}{x_api_key} and more",
                "x".repeat(190)
            )))
            .unwrap()
    };
    let stream_reply = |headers: HeaderMap| async move {
        let event = json!({ "error": { "message": format!("upstream saw {}", echoed(&headers)) } });
        Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "text/event-stream")
            .body(Body::from(format!("data: {event}\n\n")))
            .unwrap()
    };
    let app = Router::new()
        .route("/json/v1/chat/completions", post(json_reply))
        .route("/text/v1/chat/completions", post(text_reply))
        .route("/stream/v1/chat/completions", post(stream_reply));
    Loopback::router(app).await
}

/// A provider on `base_url` with the key, an `x-api-key` header and no retries.
fn providers(base_url: &str) -> Providers {
    std::env::set_var(KEY_VAR, KEY_SECRET);
    let toml = format!(
        "[models.m]\nbase_url = \"{base_url}\"\napi_key_env = \"{KEY_VAR}\"\nmax_retries = 0\ntimeout_s = 5\n\
         headers = {{ \"x-api-key\" = \"{HEADER_SECRET}\" }}\n"
    );
    Providers::from_toml_str(&toml, "providers.toml").unwrap()
}

/// The secrets, and the first characters of each (what a cut through one would leave).
fn assert_no_secret(text: &str) {
    for secret in [HEADER_SECRET, KEY_SECRET, PASSWORD] {
        assert!(!text.contains(&secret[..10]), "{secret} shown in: {text}");
    }
}

/// Log lines written while a test runs on this thread.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn failed_call(base_url: &str, stream: bool) -> (ClientError, String) {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let client = fast_client(providers(base_url));
    let request = CallRequest::new("m", vec![ChatMessage::user("hi")], 0).stream(stream);
    let err = client.call(request).await.unwrap_err();
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    (err, logs)
}

#[tokio::test]
async fn echoed_headers_key_and_url_password_never_show_in_errors_or_logs() {
    let server = echo_server().await;
    let with_password = server
        .origin()
        .replacen("http://", &format!("http://user:{PASSWORD}@"), 1);
    for (path, stream, what) in [
        ("json", false, "http status 500: bad request from"),
        ("text", false, "http status 502: xxxx"),
        ("stream", true, "stream failed: error event: upstream saw"),
    ] {
        let (err, logs) = failed_call(&format!("{with_password}/{path}/v1"), stream).await;
        let shown = format!("{err} {err:?}");
        assert!(shown.contains(what), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(
            shown.contains(&format!("POST http://***@{}", &server.origin()[7..])),
            "{shown}"
        );
        assert_no_secret(&shown);
        assert!(logs.contains("request failed"), "no log line: {logs}");
        assert_no_secret(&logs);
    }
}

#[tokio::test]
async fn a_connection_error_hides_the_url_password() {
    let port = flowcompile_testsupport::free_port();
    let (err, logs) = failed_call(
        &format!("http://user:{PASSWORD}@127.0.0.1:{port}/v1"),
        false,
    )
    .await;
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("connection failed"), "{shown}");
    assert!(shown.contains("http://***@127.0.0.1"), "{shown}");
    assert_no_secret(&shown);
    assert_no_secret(&logs);
}

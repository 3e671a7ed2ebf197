//! One request over a transport: typed bodies, endpoints, retries with backoff under the endpoint's
//! concurrency limit, status and body checks, and parsing a non-streamed reply.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use flowcompile_openai::{
    ChatCompletionRequest, ChatCompletionResponse, CompletionRequest, CompletionResponse,
    EmbeddingRequest, EmbeddingResponse, ErrorResponse, Usage,
};
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};

use super::stream::read_stream;
use super::types::{ClientError, Delta, DeltaSink, Failure, AGENT_HEADER, MODELLED_LATENCY_HEADER};
use super::{Client, Transport};
use crate::config::Provider;
#[cfg(feature = "zoo")]
use crate::inproc;
use crate::redact::redact_userinfo;
use crate::retry::parse_retry_after;

/// A request body, typed: what a transport sends (HTTP) or serves directly (in-process zoo).
#[derive(Clone, Copy)]
pub(crate) enum Body<'a> {
    /// `/v1/chat/completions`.
    Chat(&'a ChatCompletionRequest),
    /// `/v1/completions`.
    Completions(&'a CompletionRequest),
    /// `/v1/embeddings`.
    Embeddings(&'a EmbeddingRequest),
}

impl Body<'_> {
    fn endpoint(self) -> Endpoint {
        match self {
            Body::Chat(_) => Endpoint::Chat,
            Body::Completions(_) => Endpoint::Completions,
            Body::Embeddings(_) => Endpoint::Embeddings,
        }
    }

    fn to_json(self) -> Result<Vec<u8>, serde_json::Error> {
        match self {
            Body::Chat(b) => serde_json::to_vec(b),
            Body::Completions(b) => serde_json::to_vec(b),
            Body::Embeddings(b) => serde_json::to_vec(b),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Chat,
    Completions,
    Embeddings,
}

impl Endpoint {
    pub(crate) fn path(self) -> &'static str {
        match self {
            Endpoint::Chat => "chat/completions",
            Endpoint::Completions => "completions",
            Endpoint::Embeddings => "embeddings",
        }
    }
}

/// One successful request's reply and measurements.
#[derive(Debug, Default)]
pub(crate) struct Exchange {
    pub(crate) text: String,
    pub(crate) reasoning: Option<String>,
    pub(crate) finish_reason: Option<String>,
    pub(crate) usage: Option<Usage>,
    pub(crate) server_model: String,
    pub(crate) embeddings: Option<EmbeddingResponse>,
    pub(crate) latency_s: f64,
    pub(crate) ttft_s: Option<f64>,
    pub(crate) modelled_latency_s: Option<f64>,
    pub(crate) attempts: u32,
}

pub(super) struct AttemptError {
    failure: Failure,
    retry_after: Option<Duration>,
}

impl From<Failure> for AttemptError {
    fn from(failure: Failure) -> Self {
        AttemptError {
            failure,
            retry_after: None,
        }
    }
}

/// A reqwest error and its causes, without the URL (the caller names it once).
pub(super) fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Whether a request streams its reply, and where its text goes as it arrives.
pub(crate) struct Streamed<'a> {
    stream: bool,
    sink: Option<&'a DeltaSink>,
    sent: AtomicBool,
}

impl<'a> Streamed<'a> {
    /// Streams when `stream` (or when there is a sink), sending text to `sink`.
    pub(crate) fn new(stream: bool, sink: Option<&'a DeltaSink>) -> Streamed<'a> {
        Streamed {
            stream: stream || sink.is_some(),
            sink,
            sent: AtomicBool::new(false),
        }
    }

    /// Sends `delta` to the sink, if any (a sink whose receiver is gone is ignored).
    pub(crate) fn send(&self, delta: Delta) {
        if let Some(sink) = self.sink {
            self.sent.store(true, Ordering::Relaxed);
            let _ = sink.send(delta);
        }
    }

    /// Sends a reply that arrived whole (the in-process zoo): its thinking, then its text.
    #[cfg(feature = "zoo")]
    fn send_whole(&self, ex: &Exchange) {
        if let Some(reasoning) = ex.reasoning.as_ref().filter(|r| !r.is_empty()) {
            self.send(Delta::Reasoning(reasoning.clone()));
        }
        if !ex.text.is_empty() {
            self.send(Delta::Text(ex.text.clone()));
        }
    }

    /// Whether any text went to the sink.
    fn sent(&self) -> bool {
        self.sent.load(Ordering::Relaxed)
    }
}

impl Client {
    /// Sends one request with retries, holding an endpoint permit during each attempt only.
    pub(super) async fn post(
        &self,
        provider: &Provider,
        body: Body<'_>,
        agent: Option<&str>,
        streamed: Streamed<'_>,
    ) -> Result<Exchange, ClientError> {
        let endpoint = body.endpoint();
        let (url, json) = match &self.shared.transport {
            Transport::Http(_) => {
                let json = body.to_json().map_err(|e| ClientError::InvalidRequest {
                    model: provider.name.clone(),
                    message: format!("cannot serialise the request body: {e}"),
                })?;
                (
                    format!("{}/{}", provider.base_url, endpoint.path()),
                    Bytes::from(json),
                )
            }
            #[cfg(feature = "zoo")]
            Transport::Zoo(_) => (inproc::url(endpoint), Bytes::new()),
        };
        let build = |http: &reqwest::Client| {
            let mut request = http
                .post(&url)
                .header(CONTENT_TYPE, "application/json")
                .body(json.clone());
            if let Some(key) = &provider.api_key {
                request = request.bearer_auth(key.expose());
            }
            for (name, value) in &provider.headers {
                request = request.header(name.as_str(), value.as_str());
            }
            if let Some(agent) = agent {
                request = request.header(AGENT_HEADER, agent);
            }
            request
        };
        let shown_url = redact_userinfo(&url);
        let max_attempts = provider.max_retries.saturating_add(1);
        let timeout = Duration::from_secs_f64(provider.timeout_s);
        let limit = self.shared.limits.get(&provider.base_url);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let permit = match limit {
                Some(s) => s.acquire().await.ok(),
                None => None,
            };
            let started = Instant::now();
            let result = match &self.shared.transport {
                Transport::Http(http) => tokio::time::timeout(
                    timeout,
                    self.attempt(provider, build(http), endpoint, &streamed, started),
                )
                .await
                .unwrap_or_else(|_| {
                    Err(AttemptError::from(Failure::Timeout {
                        timeout_s: provider.timeout_s,
                    }))
                }),
                #[cfg(feature = "zoo")]
                Transport::Zoo(zoo) => inproc::attempt(zoo, body, agent, streamed.stream, started)
                    .inspect(|ex| streamed.send_whole(ex))
                    .map_err(AttemptError::from),
            };
            drop(permit);
            match result {
                Ok(mut ex) => {
                    ex.latency_s = started.elapsed().as_secs_f64();
                    ex.attempts = attempt;
                    tracing::debug!(model = %provider.name, url = %shown_url, attempt, latency_s = ex.latency_s, "request done");
                    return Ok(ex);
                }
                Err(AttemptError {
                    failure,
                    retry_after,
                }) => {
                    let failure = failure.map_text(|text| provider.redact(text));
                    // Text already sent cannot be taken back: a retry would send it twice.
                    if !failure.is_retryable() || attempt >= max_attempts || streamed.sent() {
                        tracing::warn!(model = %provider.name, url = %shown_url, attempt, error = %failure, "request failed");
                        return Err(ClientError::Request {
                            model: provider.name.clone(),
                            url: shown_url,
                            attempts: attempt,
                            failure,
                        });
                    }
                    let delay =
                        self.retry
                            .delay(attempt - 1, retry_after, self.shared.jitter.next_unit());
                    tracing::warn!(
                        model = %provider.name, url = %shown_url, attempt, error = %failure,
                        delay_s = delay.as_secs_f64(), "request failed, retrying"
                    );
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// One attempt: send `request`, check the status, read and parse the body.
    async fn attempt(
        &self,
        provider: &Provider,
        request: reqwest::RequestBuilder,
        endpoint: Endpoint,
        streamed: &Streamed<'_>,
        started: Instant,
    ) -> Result<Exchange, AttemptError> {
        let response = request
            .send()
            .await
            .map_err(|e| Failure::Connection(describe(e)))?;
        let status = response.status();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let modelled_latency_s =
            header(MODELLED_LATENCY_HEADER).and_then(|v| v.trim().parse::<f64>().ok());
        if !status.is_success() {
            let retry_after =
                header(RETRY_AFTER.as_str()).and_then(|v| parse_retry_after(&v, SystemTime::now()));
            let text = response.text().await.unwrap_or_default();
            // Redacted before it is cut, so that a cut cannot leave part of a secret.
            let message = match ErrorResponse::parse_lenient(&text) {
                Some(body) => provider.redact(&body.message),
                None => provider.redact(&text).chars().take(200).collect(),
            };
            return Err(AttemptError {
                failure: Failure::Status {
                    status: status.as_u16(),
                    message,
                },
                retry_after,
            });
        }
        let mut ex = if streamed.stream {
            read_stream(response, endpoint, started, streamed).await?
        } else {
            let bytes = response
                .bytes()
                .await
                .map_err(|e| Failure::Body(describe(e)))?;
            parse_body(&bytes, endpoint)?
        };
        ex.modelled_latency_s = modelled_latency_s;
        Ok(ex)
    }
}

pub(super) fn invalid_json(e: serde_json::Error) -> Failure {
    Failure::Body(format!("invalid JSON: {e}"))
}

/// Parses a non-streamed body of `endpoint`.
pub(super) fn parse_body(bytes: &[u8], endpoint: Endpoint) -> Result<Exchange, Failure> {
    match endpoint {
        Endpoint::Chat => {
            let resp: ChatCompletionResponse =
                serde_json::from_slice(bytes).map_err(invalid_json)?;
            let choice = resp
                .choices
                .into_iter()
                .min_by_key(|c| c.index)
                .ok_or(Failure::NoChoices)?;
            Ok(Exchange {
                reasoning: choice.message.reasoning_text().map(str::to_string),
                text: choice.message.content.unwrap_or_default(),
                finish_reason: choice.finish_reason,
                usage: resp.usage,
                server_model: resp.model,
                ..Default::default()
            })
        }
        Endpoint::Completions => {
            let resp: CompletionResponse = serde_json::from_slice(bytes).map_err(invalid_json)?;
            let choice = resp
                .choices
                .into_iter()
                .min_by_key(|c| c.index)
                .ok_or(Failure::NoChoices)?;
            Ok(Exchange {
                text: choice.text,
                finish_reason: choice.finish_reason,
                usage: resp.usage,
                server_model: resp.model,
                ..Default::default()
            })
        }
        Endpoint::Embeddings => {
            let resp: EmbeddingResponse = serde_json::from_slice(bytes).map_err(invalid_json)?;
            if resp.data.is_empty() {
                return Err(Failure::NoChoices);
            }
            Ok(Exchange {
                server_model: resp.model.clone(),
                embeddings: Some(resp),
                ..Default::default()
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_without_choices_or_json_fail() {
        assert!(matches!(
            parse_body(b"{\"choices\":[]}", Endpoint::Chat),
            Err(Failure::NoChoices)
        ));
        assert!(matches!(
            parse_body(b"{}", Endpoint::Completions),
            Err(Failure::NoChoices)
        ));
        assert!(matches!(
            parse_body(b"<html>", Endpoint::Chat),
            Err(Failure::Body(_))
        ));
        assert!(matches!(
            parse_body(b"{\"data\":[]}", Endpoint::Embeddings),
            Err(Failure::NoChoices)
        ));
        let ex = parse_body(
            br#"{"model":"m","choices":[{"index":1,"text":"b"},{"index":0,"text":"a","finish_reason":"stop"}]}"#,
            Endpoint::Completions,
        )
        .unwrap();
        assert_eq!(
            (ex.text.as_str(), ex.finish_reason.as_deref()),
            ("a", Some("stop"))
        );
    }
}

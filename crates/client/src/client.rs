//! The HTTP client: one call = one or two requests, each retried, limited per endpoint and measured.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use flowcompile_openai::{
    ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse, ChatMessage,
    CompletionChunk, CompletionRequest, CompletionResponse, EmbeddingInput, EmbeddingRequest,
    EmbeddingResponse, ErrorResponse, Usage, STREAM_DONE,
};
use flowcompile_zoo::Zoo;
use futures::StreamExt;
use reqwest::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use tokio::sync::Semaphore;

use crate::budget::{chat_request, completion_request, forcing_step, Common, ForcingStep};
use crate::config::{Api, BudgetMode, Provider, Providers};
use crate::inproc;
use crate::retry::{parse_retry_after, Jitter, RetryPolicy};
use crate::sse::SseParser;
use crate::think::{split_thinking, THINK_CLOSE, THINK_OPEN};

/// Request header naming the workflow agent that makes a call (the zoo maps it to a role).
pub const AGENT_HEADER: &str = "x-flowcompile-agent";
/// Response header with the zoo's modelled latency in seconds.
pub const MODELLED_LATENCY_HEADER: &str = "x-zoo-latency-s";

/// One model call: the conversation, the thinking budget and how to send it.
#[derive(Debug, Clone)]
pub struct CallRequest<'a> {
    /// Workflow model name, looked up in the [`Providers`].
    pub model: &'a str,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Thinking tokens allowed, applied as the provider's [`BudgetMode`] says.
    pub budget_tokens: u32,
    /// Answer tokens allowed after the thinking; the provider's `max_tokens` when `None`.
    pub max_answer_tokens: Option<u32>,
    /// Sampling seed (the zoo's sample index).
    pub seed: Option<u64>,
    /// Workflow agent making the call, sent as [`AGENT_HEADER`].
    pub agent: Option<String>,
    /// Stream the reply (measures time to first token).
    pub stream: bool,
}

impl<'a> CallRequest<'a> {
    /// A non-streamed call of `model` on `messages` with `budget_tokens` of thinking.
    pub fn new(model: &'a str, messages: Vec<ChatMessage>, budget_tokens: u32) -> Self {
        CallRequest {
            model,
            messages,
            budget_tokens,
            max_answer_tokens: None,
            seed: None,
            agent: None,
            stream: false,
        }
    }

    /// Sets the sampling seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Sets the agent name sent in [`AGENT_HEADER`].
    pub fn agent(mut self, agent: impl Into<String>) -> Self {
        self.agent = Some(agent.into());
        self
    }

    /// Streams the reply when `stream` is true.
    pub fn stream(mut self, stream: bool) -> Self {
        self.stream = stream;
        self
    }

    /// Caps the answer tokens.
    pub fn max_answer_tokens(mut self, tokens: u32) -> Self {
        self.max_answer_tokens = Some(tokens);
        self
    }
}

/// Token counts of a call, summed over its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenUsage {
    /// Prompt tokens (a forced answer request reads the prompt and the thinking again).
    pub prompt_tokens: u64,
    /// Generated tokens, thinking included.
    pub completion_tokens: u64,
    /// Thinking tokens, when the server reported them or the client could tell (forced thinking).
    pub reasoning_tokens: Option<u64>,
}

/// What a call produced and what it cost.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CallOutcome {
    /// The answer, without the thinking; empty only when the model gave none (see `finish_reason`).
    pub text: String,
    /// The thinking, when the model thought.
    pub reasoning: Option<String>,
    /// Token counts; `None` when the server reported no usage.
    pub usage: Option<TokenUsage>,
    /// Seconds the successful requests took, summed (send to last byte; no queueing, no failed attempts).
    pub latency_s: f64,
    /// Seconds from the call to its outcome: queueing for the endpoint, retries and backoff included.
    pub total_s: f64,
    /// Seconds from sending to the first generated text, when streamed.
    pub ttft_s: Option<f64>,
    /// The server's modelled latency (`x-zoo-latency-s`), summed over requests, when every one sent it.
    pub modelled_latency_s: Option<f64>,
    /// HTTP attempts made, over all requests of the call.
    pub attempts: u32,
    /// Whether budget forcing cut the thinking short with the early-stop text.
    pub forced: bool,
    /// Cost from the provider's prices, when prices and usage are known.
    pub cost_usd: Option<f64>,
    /// Why the last request stopped (`stop`, `length`, ...), as the server said.
    pub finish_reason: Option<String>,
    /// The model id the server reported.
    pub server_model: String,
}

/// Vectors from `/v1/embeddings`, one per input text.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Embeddings {
    /// One vector per input, in input order.
    pub vectors: Vec<Vec<f32>>,
    /// Tokens read, when the server reported them.
    pub prompt_tokens: Option<u64>,
    /// Seconds the successful request took.
    pub latency_s: f64,
    /// HTTP attempts made.
    pub attempts: u32,
}

/// Why one HTTP attempt failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// The server answered with an error status.
    #[error("http status {status}: {message}")]
    Status {
        /// The status code.
        status: u16,
        /// The server's error message (keys redacted).
        message: String,
    },
    /// No complete reply within the provider's `timeout_s`.
    #[error("no complete reply within {timeout_s} s")]
    Timeout {
        /// The timeout, seconds.
        timeout_s: f64,
    },
    /// Connecting or sending failed.
    #[error("connection failed: {0}")]
    Connection(String),
    /// The body could not be read or is not the expected JSON.
    #[error("unreadable response body: {0}")]
    Body(String),
    /// A successful reply without any choice.
    #[error("the reply has no choices")]
    NoChoices,
    /// A stream broke off or carried an error event.
    #[error("stream failed: {0}")]
    Stream(String),
}

impl Failure {
    /// Whether another attempt may succeed: 429, 5xx, timeouts, connection, body and stream failures.
    pub fn is_retryable(&self) -> bool {
        match self {
            Failure::Status { status, .. } => *status == 429 || *status >= 500,
            _ => true,
        }
    }
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The model name is not in the providers config.
    #[error("model `{model}` is not in the providers config")]
    UnknownModel {
        /// The name asked for.
        model: String,
    },
    /// A request failed for good: not retryable, or retries exhausted.
    #[error("model `{model}`: POST {url} failed after {attempts} attempt(s): {failure}")]
    Request {
        /// Workflow model name.
        model: String,
        /// The endpoint URL.
        url: String,
        /// Attempts made for this request.
        attempts: u32,
        /// What the last attempt ran into.
        failure: Failure,
    },
    /// The call cannot be sent as asked (e.g. an agent name that is not a valid header value).
    #[error("model `{model}`: invalid request: {message}")]
    InvalidRequest {
        /// Workflow model name.
        model: String,
        /// What is wrong.
        message: String,
    },
    /// The provider's chat template failed on these messages.
    #[error("model `{model}`: cannot render chat template `{template}`: {message}")]
    Template {
        /// Workflow model name.
        model: String,
        /// Template name.
        template: &'static str,
        /// The template engine's message.
        message: String,
    },
    /// The HTTP client could not be set up.
    #[error("cannot build the http client: {message}")]
    Init {
        /// The underlying error.
        message: String,
    },
}

impl ClientError {
    /// The failure of the last attempt, for request failures.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            ClientError::Request { failure, .. } => Some(failure),
            _ => None,
        }
    }

    /// Attempts made before giving up (0 when nothing was sent).
    pub fn attempts(&self) -> u32 {
        match self {
            ClientError::Request { attempts, .. } => *attempts,
            _ => 0,
        }
    }
}

/// Async client of OpenAI-compatible servers; cheap to clone (clones share limits and connections).
///
/// [`Client::new`] sends requests over HTTP; [`Client::with_zoo`] hands the same request bodies to an
/// in-process [`Zoo`] instead (see the crate docs, "Transports").
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
    retry: RetryPolicy,
}

struct Shared {
    transport: Transport,
    providers: Providers,
    limits: HashMap<String, Arc<Semaphore>>,
    jitter: Jitter,
}

/// How request bodies reach a model server.
enum Transport {
    /// POSTed as JSON to the provider's `base_url`.
    Http(reqwest::Client),
    /// Handed, unserialised, to a zoo in this process (every provider's `model` is a zoo model).
    Zoo(Arc<Zoo>),
}

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

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let limits: Vec<(&str, usize)> = self
            .shared
            .limits
            .iter()
            .map(|(url, s)| (url.as_str(), s.available_permits()))
            .collect();
        let transport = match self.shared.transport {
            Transport::Http(_) => "http",
            Transport::Zoo(_) => "in-process zoo",
        };
        f.debug_struct("Client")
            .field("transport", &transport)
            .field("providers", &self.shared.providers)
            .field("free_permits", &limits)
            .field("retry", &self.retry)
            .finish()
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

struct AttemptError {
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
fn describe(e: reqwest::Error) -> String {
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

/// What a request generated, for counting thinking tokens a server does not report.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Generated {
    /// Thinking, an answer, or both: unknown split.
    Mixed,
    /// Only thinking (a thinking cut by the budget).
    AllThinking,
    /// Only an answer (thinking off, or the answer request of budget forcing).
    AnswerOnly,
}

/// A reply split into answer and thinking, with the request it came from.
struct Reply {
    last: Exchange,
    text: String,
    reasoning: Option<String>,
    forced: bool,
}

impl Reply {
    /// The reply of one request whose text holds the thinking, if any, then the answer.
    fn split(last: Exchange) -> Reply {
        let split = split_thinking(&last.text);
        let text = split.answer.to_string();
        let reasoning = last
            .reasoning
            .clone()
            .or(split.reasoning.map(str::to_string));
        Reply {
            last,
            text,
            reasoning,
            forced: false,
        }
    }
}

/// Sums the requests of one call.
#[derive(Default)]
struct Tally {
    usage: Option<TokenUsage>,
    usage_missing: bool,
    latency_s: f64,
    ttft_s: Option<f64>,
    modelled_latency_s: Option<f64>,
    modelled_missing: bool,
    attempts: u32,
    n_requests: u32,
}

impl Tally {
    /// Adds a request; `kind` tells the thinking tokens when the server does not report them.
    fn add(&mut self, ex: &Exchange, kind: Generated) {
        if self.n_requests == 0 {
            self.ttft_s = ex.ttft_s;
        }
        self.n_requests += 1;
        self.latency_s += ex.latency_s;
        self.attempts += ex.attempts;
        match ex.modelled_latency_s {
            Some(s) if !self.modelled_missing => *self.modelled_latency_s.get_or_insert(0.0) += s,
            _ => {
                self.modelled_missing = true;
                self.modelled_latency_s = None;
            }
        }
        let Some(usage) = &ex.usage else {
            self.usage_missing = true;
            self.usage = None;
            return;
        };
        if self.usage_missing {
            return;
        }
        let reasoning = usage.reasoning_tokens().or(match kind {
            Generated::Mixed => None,
            Generated::AllThinking => Some(usage.completion_tokens),
            Generated::AnswerOnly => Some(0),
        });
        let total = self.usage.get_or_insert(TokenUsage {
            reasoning_tokens: Some(0),
            ..Default::default()
        });
        total.prompt_tokens += usage.prompt_tokens;
        total.completion_tokens += usage.completion_tokens;
        total.reasoning_tokens = total.reasoning_tokens.zip(reasoning).map(|(a, b)| a + b);
    }
}

impl Client {
    /// A client for `providers` over HTTP with the default [`RetryPolicy`].
    pub fn new(providers: Providers) -> Result<Client, ClientError> {
        let http = reqwest::Client::builder()
            .build()
            .map_err(|e| ClientError::Init {
                message: describe(e),
            })?;
        Ok(Client::build(providers, Transport::Http(http)))
    }

    /// A client whose every provider is answered by `zoo` in this process: each provider's `model` names
    /// a zoo model and its `base_url` is not contacted (it still groups the concurrency limits). Budget
    /// modes, templates, seeds, the agent name, usage and the modelled latency work as over HTTP: the
    /// request bodies are the same, served by the zoo's shared request logic without being serialised.
    pub fn with_zoo(providers: Providers, zoo: Arc<Zoo>) -> Client {
        Client::build(providers, Transport::Zoo(zoo))
    }

    fn build(providers: Providers, transport: Transport) -> Client {
        let mut limits = HashMap::new();
        for p in providers.iter() {
            limits
                .entry(p.base_url.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(p.concurrency)));
        }
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Client {
            shared: Arc::new(Shared {
                transport,
                providers,
                limits,
                jitter: Jitter::new(seed),
            }),
            retry: RetryPolicy::default(),
        }
    }

    /// Whether calls are answered by an in-process zoo ([`Client::with_zoo`]) rather than over HTTP.
    pub fn is_in_process(&self) -> bool {
        matches!(self.shared.transport, Transport::Zoo(_))
    }

    /// The same client with another retry policy.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Client {
        self.retry = retry;
        self
    }

    /// The providers this client calls.
    pub fn providers(&self) -> &Providers {
        &self.shared.providers
    }

    fn provider(&self, model: &str) -> Result<&Provider, ClientError> {
        self.shared
            .providers
            .get(model)
            .ok_or_else(|| ClientError::UnknownModel {
                model: model.to_string(),
            })
    }

    /// Calls `req.model` and returns its answer with usage, timings and cost; budgets are applied as the
    /// provider's [`BudgetMode`] says. Failures after retries are errors, never an empty answer.
    pub async fn call(&self, req: CallRequest<'_>) -> Result<CallOutcome, ClientError> {
        let started = Instant::now();
        let provider = self.provider(req.model)?;
        if let Some(agent) = &req.agent {
            HeaderValue::from_str(agent).map_err(|_| ClientError::InvalidRequest {
                model: provider.name.clone(),
                message: format!("agent name {agent:?} is not a valid header value"),
            })?;
        }
        let answer_tokens = req.max_answer_tokens.unwrap_or(provider.max_tokens);
        let mut tally = Tally::default();
        let reply = match (provider.api, provider.budget) {
            (Api::Chat, mode) => {
                let common = Common {
                    seed: req.seed,
                    stream: req.stream,
                };
                let body = chat_request(
                    provider,
                    req.messages,
                    mode,
                    req.budget_tokens,
                    answer_tokens,
                    common,
                );
                let ex = self
                    .post(
                        provider,
                        Body::Chat(&body),
                        req.agent.as_deref(),
                        req.stream,
                    )
                    .await?;
                tally.add(
                    &ex,
                    if mode == BudgetMode::None {
                        Generated::AnswerOnly
                    } else {
                        Generated::Mixed
                    },
                );
                Reply::split(ex)
            }
            (Api::Completions, BudgetMode::Forcing) => {
                self.forcing(provider, &req, answer_tokens, &mut tally)
                    .await?
            }
            (Api::Completions, mode) => {
                let enable_thinking = mode != BudgetMode::None;
                let prompt = self.render(provider, &req.messages, enable_thinking)?;
                let max_tokens = match mode {
                    BudgetMode::None => answer_tokens,
                    _ => req.budget_tokens.saturating_add(answer_tokens),
                };
                let ex = self.complete(provider, prompt, max_tokens, &req).await?;
                tally.add(
                    &ex,
                    if enable_thinking {
                        Generated::Mixed
                    } else {
                        Generated::AnswerOnly
                    },
                );
                Reply::split(ex)
            }
        };
        let cost_usd = tally
            .usage
            .and_then(|u| provider.cost_usd(u.prompt_tokens, u.completion_tokens));
        Ok(CallOutcome {
            text: reply.text,
            reasoning: reply.reasoning,
            usage: tally.usage,
            latency_s: tally.latency_s,
            total_s: started.elapsed().as_secs_f64(),
            ttft_s: tally.ttft_s,
            modelled_latency_s: tally.modelled_latency_s,
            attempts: tally.attempts,
            forced: reply.forced,
            cost_usd,
            finish_reason: reply.last.finish_reason,
            server_model: reply.last.server_model,
        })
    }

    /// Budget forcing: think with `max_tokens` = budget, then, when the thinking did not close (or the
    /// answer was cut), ask for the answer after `</think>` with `max_tokens` = answer tokens.
    async fn forcing(
        &self,
        provider: &Provider,
        req: &CallRequest<'_>,
        answer_tokens: u32,
        tally: &mut Tally,
    ) -> Result<Reply, ClientError> {
        let prompt = self.render(provider, &req.messages, true)?;
        if req.budget_tokens == 0 {
            let prompt = format!("{prompt}{THINK_OPEN}\n\n{THINK_CLOSE}\n\n");
            let ex = self.complete(provider, prompt, answer_tokens, req).await?;
            tally.add(&ex, Generated::AnswerOnly);
            return Ok(Reply::split(ex));
        }
        let think = self
            .complete(provider, prompt.clone(), req.budget_tokens, req)
            .await?;
        match forcing_step(&prompt, &think.text, think.finish_reason.as_deref()) {
            ForcingStep::Done => {
                tally.add(&think, Generated::Mixed);
                Ok(Reply::split(think))
            }
            ForcingStep::Answer { prompt, forced } => {
                tally.add(
                    &think,
                    if forced {
                        Generated::AllThinking
                    } else {
                        Generated::Mixed
                    },
                );
                tracing::debug!(model = %provider.name, forced, "budget forcing: asking for the answer");
                let reasoning = split_thinking(&think.text).reasoning.map(str::to_string);
                let ex = self.complete(provider, prompt, answer_tokens, req).await?;
                tally.add(&ex, Generated::AnswerOnly);
                Ok(Reply {
                    text: ex.text.trim().to_string(),
                    last: ex,
                    reasoning,
                    forced,
                })
            }
        }
    }

    /// One `/v1/completions` request for `prompt`.
    async fn complete(
        &self,
        provider: &Provider,
        prompt: String,
        max_tokens: u32,
        req: &CallRequest<'_>,
    ) -> Result<Exchange, ClientError> {
        let common = Common {
            seed: req.seed,
            stream: req.stream,
        };
        let body = completion_request(provider, prompt, max_tokens, common);
        self.post(
            provider,
            Body::Completions(&body),
            req.agent.as_deref(),
            req.stream,
        )
        .await
    }

    /// Embeds `texts` with `model` through `/v1/embeddings`.
    pub async fn embed(&self, model: &str, texts: &[String]) -> Result<Embeddings, ClientError> {
        let provider = self.provider(model)?;
        let body = EmbeddingRequest {
            model: provider.model.clone(),
            input: EmbeddingInput::Many(texts.to_vec()),
            ..Default::default()
        };
        let ex = self
            .post(provider, Body::Embeddings(&body), None, false)
            .await?;
        let mut response = ex.embeddings.unwrap_or_default();
        response.data.sort_by_key(|e| e.index);
        Ok(Embeddings {
            vectors: response.data.into_iter().map(|e| e.embedding).collect(),
            prompt_tokens: response.usage.map(|u| u.prompt_tokens),
            latency_s: ex.latency_s,
            attempts: ex.attempts,
        })
    }

    fn render(
        &self,
        provider: &Provider,
        messages: &[ChatMessage],
        enable_thinking: bool,
    ) -> Result<String, ClientError> {
        let template = provider
            .chat_template
            .ok_or_else(|| ClientError::InvalidRequest {
                model: provider.name.clone(),
                message: "api = \"completions\" without a chat_template".into(),
            })?;
        template
            .render(messages, enable_thinking)
            .map_err(|e| ClientError::Template {
                model: provider.name.clone(),
                template: template.name(),
                message: e.to_string(),
            })
    }

    /// Sends one request with retries, holding an endpoint permit during each attempt only.
    async fn post(
        &self,
        provider: &Provider,
        body: Body<'_>,
        agent: Option<&str>,
        stream: bool,
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
                    self.attempt(provider, build(http), endpoint, stream, started),
                )
                .await
                .unwrap_or_else(|_| {
                    Err(AttemptError::from(Failure::Timeout {
                        timeout_s: provider.timeout_s,
                    }))
                }),
                Transport::Zoo(zoo) => {
                    inproc::attempt(zoo, body, agent, stream, started).map_err(AttemptError::from)
                }
            };
            drop(permit);
            match result {
                Ok(mut ex) => {
                    ex.latency_s = started.elapsed().as_secs_f64();
                    ex.attempts = attempt;
                    tracing::debug!(model = %provider.name, url = %url, attempt, latency_s = ex.latency_s, "request done");
                    return Ok(ex);
                }
                Err(AttemptError {
                    failure,
                    retry_after,
                }) => {
                    if !failure.is_retryable() || attempt >= max_attempts {
                        tracing::warn!(model = %provider.name, url = %url, attempt, error = %failure, "request failed");
                        return Err(ClientError::Request {
                            model: provider.name.clone(),
                            url,
                            attempts: attempt,
                            failure,
                        });
                    }
                    let delay =
                        self.retry
                            .delay(attempt - 1, retry_after, self.shared.jitter.next_unit());
                    tracing::warn!(
                        model = %provider.name, url = %url, attempt, error = %failure,
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
        stream: bool,
        started: Instant,
    ) -> Result<Exchange, AttemptError> {
        let response = request
            .send()
            .await
            .map_err(|e| Failure::Connection(self.redact(provider, describe(e))))?;
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
            let message = match ErrorResponse::parse_lenient(&text) {
                Some(body) => body.message,
                None => text.chars().take(200).collect(),
            };
            return Err(AttemptError {
                failure: Failure::Status {
                    status: status.as_u16(),
                    message: self.redact(provider, message),
                },
                retry_after,
            });
        }
        let mut ex = if stream {
            read_stream(response, endpoint, started).await?
        } else {
            let bytes = response
                .bytes()
                .await
                .map_err(|e| Failure::Body(self.redact(provider, describe(e))))?;
            parse_body(&bytes, endpoint)?
        };
        ex.modelled_latency_s = modelled_latency_s;
        Ok(ex)
    }

    /// Replaces the provider's key in a message the server or the network stack produced.
    fn redact(&self, provider: &Provider, message: String) -> String {
        match &provider.api_key {
            Some(key) if !key.expose().is_empty() && message.contains(key.expose()) => {
                message.replace(key.expose(), "<redacted>")
            }
            _ => message,
        }
    }
}

fn invalid_json(e: serde_json::Error) -> Failure {
    Failure::Body(format!("invalid JSON: {e}"))
}

/// Parses a non-streamed body of `endpoint`.
fn parse_body(bytes: &[u8], endpoint: Endpoint) -> Result<Exchange, Failure> {
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

/// Accumulates a streamed reply.
#[derive(Default)]
struct StreamState {
    ex: Exchange,
    reasoning: String,
    saw_choice: bool,
    done: bool,
}

impl StreamState {
    fn event(&mut self, data: &str, endpoint: Endpoint, started: Instant) -> Result<(), Failure> {
        if data.trim() == STREAM_DONE {
            self.done = true;
            return Ok(());
        }
        let value: serde_json::Value = serde_json::from_str(data).map_err(invalid_json)?;
        if let Some(error) = value.get("error") {
            let message =
                ErrorResponse::parse_lenient(data).map_or_else(|| error.to_string(), |b| b.message);
            return Err(Failure::Stream(format!("error event: {message}")));
        }
        let mut got_text = false;
        let (usage, model) = match endpoint {
            Endpoint::Chat => {
                let chunk: ChatCompletionChunk =
                    serde_json::from_value(value).map_err(invalid_json)?;
                for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
                    self.saw_choice = true;
                    let delta = choice.delta;
                    if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                        self.ex.text.push_str(&text);
                        got_text = true;
                    }
                    if let Some(text) = delta
                        .reasoning_content
                        .or(delta.reasoning)
                        .filter(|t| !t.is_empty())
                    {
                        self.reasoning.push_str(&text);
                        got_text = true;
                    }
                    if choice.finish_reason.is_some() {
                        self.ex.finish_reason = choice.finish_reason;
                    }
                }
                (chunk.usage, chunk.model)
            }
            Endpoint::Completions | Endpoint::Embeddings => {
                let chunk: CompletionChunk = serde_json::from_value(value).map_err(invalid_json)?;
                for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
                    self.saw_choice = true;
                    if !choice.text.is_empty() {
                        self.ex.text.push_str(&choice.text);
                        got_text = true;
                    }
                    if choice.finish_reason.is_some() {
                        self.ex.finish_reason = choice.finish_reason;
                    }
                }
                (chunk.usage, chunk.model)
            }
        };
        if got_text && self.ex.ttft_s.is_none() {
            self.ex.ttft_s = Some(started.elapsed().as_secs_f64());
        }
        if usage.is_some() {
            self.ex.usage = usage;
        }
        if self.ex.server_model.is_empty() {
            self.ex.server_model = model;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Exchange, Failure> {
        if !self.saw_choice {
            return Err(if self.done {
                Failure::NoChoices
            } else {
                Failure::Stream("the stream ended before any choice".into())
            });
        }
        if !self.done && self.ex.finish_reason.is_none() {
            return Err(Failure::Stream(
                "the stream ended before its finish_reason and [DONE]".into(),
            ));
        }
        if !self.reasoning.is_empty() {
            self.ex.reasoning = Some(self.reasoning);
        }
        Ok(self.ex)
    }
}

/// Reads a streamed reply of `endpoint` to its end.
async fn read_stream(
    response: reqwest::Response,
    endpoint: Endpoint,
    started: Instant,
) -> Result<Exchange, Failure> {
    let mut parser = SseParser::default();
    let mut state = StreamState::default();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| Failure::Stream(describe(e)))?;
        for data in parser.push(&chunk) {
            state.event(&data, endpoint, started)?;
        }
        if state.done {
            break;
        }
    }
    if let Some(data) = parser.finish() {
        state.event(&data, endpoint, started)?;
    }
    state.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_stream(
        endpoint: Endpoint,
        events: &[&str],
        expected: Result<(&str, Option<&str>, Option<&str>), Failure>,
    ) {
        let mut state = StreamState::default();
        let started = Instant::now();
        let mut result = Ok(());
        for e in events {
            result = result.and_then(|()| state.event(e, endpoint, started));
        }
        let got = result.and_then(|()| state.finish());
        match (got, expected) {
            (Ok(ex), Ok((text, reasoning, finish))) => {
                assert_eq!(ex.text, text);
                assert_eq!(ex.reasoning.as_deref(), reasoning);
                assert_eq!(ex.finish_reason.as_deref(), finish);
                assert!(ex.ttft_s.is_some() == (!text.is_empty() || reasoning.is_some()));
            }
            (Err(got), Err(expected)) => assert_eq!(got, expected),
            (got, expected) => panic!("got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn chat_stream_accumulates_text_reasoning_and_usage() {
        check_stream(
            Endpoint::Chat,
            &[
                r#"{"model":"m","choices":[{"index":0,"delta":{"role":"assistant"}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"reasoning_content":"hmm"}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"content":"4"}},{"index":1,"delta":{"content":"x"}}]}"#,
                r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
                r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#,
                "[DONE]",
            ],
            Ok(("4", Some("hmm"), Some("stop"))),
        );
    }

    #[test]
    fn completion_stream_without_done_but_finished_is_accepted() {
        check_stream(
            Endpoint::Completions,
            &[
                r#"{"choices":[{"index":0,"text":"<think>\na"}]}"#,
                r#"{"choices":[{"index":0,"text":" b","finish_reason":"length"}]}"#,
            ],
            Ok(("<think>\na b", None, Some("length"))),
        );
    }

    #[test]
    fn broken_streams_fail() {
        check_stream(
            Endpoint::Chat,
            &[r#"{"choices":[{"index":0,"delta":{"content":"4"}}]}"#],
            Err(Failure::Stream(
                "the stream ended before its finish_reason and [DONE]".into(),
            )),
        );
        check_stream(Endpoint::Chat, &["[DONE]"], Err(Failure::NoChoices));
        check_stream(
            Endpoint::Chat,
            &[r#"{"error":{"message":"overloaded","type":"server_error"}}"#],
            Err(Failure::Stream("error event: overloaded".into())),
        );
        let broken = check_stream_err(Endpoint::Completions, "{\"choices\": [");
        assert!(matches!(broken, Failure::Body(m) if m.starts_with("invalid JSON")));
    }

    fn check_stream_err(endpoint: Endpoint, event: &str) -> Failure {
        let mut state = StreamState::default();
        match state.event(event, endpoint, Instant::now()) {
            Err(f) => f,
            Ok(()) => panic!("event {event:?} was accepted"),
        }
    }

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

    #[test]
    fn retryable_failures() {
        let status = |status| Failure::Status {
            status,
            message: String::new(),
        };
        assert!(status(429).is_retryable());
        assert!(status(500).is_retryable());
        assert!(status(503).is_retryable());
        assert!(!status(400).is_retryable());
        assert!(!status(401).is_retryable());
        assert!(!status(404).is_retryable());
        assert!(Failure::Timeout { timeout_s: 1.0 }.is_retryable());
        assert!(Failure::NoChoices.is_retryable());
        assert!(Failure::Body("x".into()).is_retryable());
    }

    #[test]
    fn tally_sums_forced_thinking_and_answer() {
        let usage = |p, c| Some(Usage::new(p, c));
        let think = Exchange {
            usage: usage(10, 50),
            latency_s: 1.0,
            ttft_s: Some(0.1),
            modelled_latency_s: Some(2.0),
            attempts: 2,
            ..Default::default()
        };
        let answer = Exchange {
            usage: usage(70, 8),
            latency_s: 0.5,
            ttft_s: Some(0.2),
            modelled_latency_s: Some(0.5),
            attempts: 1,
            ..Default::default()
        };
        let mut tally = Tally::default();
        tally.add(&think, Generated::AllThinking);
        tally.add(&answer, Generated::AnswerOnly);
        assert_eq!(
            tally.usage,
            Some(TokenUsage {
                prompt_tokens: 80,
                completion_tokens: 58,
                reasoning_tokens: Some(50)
            })
        );
        assert_eq!(
            (
                tally.latency_s,
                tally.ttft_s,
                tally.modelled_latency_s,
                tally.attempts
            ),
            (1.5, Some(0.1), Some(2.5), 3)
        );
        let mut partial = Tally::default();
        partial.add(
            &Exchange {
                usage: usage(1, 1),
                ..Default::default()
            },
            Generated::Mixed,
        );
        partial.add(&answer, Generated::AnswerOnly);
        assert_eq!(partial.usage.unwrap().reasoning_tokens, None);
        assert_eq!(partial.modelled_latency_s, None);
    }
}

//! The client: one call = one or two requests (budget modes, forcing's second request), each retried,
//! limited per endpoint and measured. `types` holds the public request, outcome and error types,
//! `http` one request with retries over a transport, `stream` streamed replies, `tally` the sums.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use flowcompile_openai::{ChatMessage, EmbeddingInput, EmbeddingRequest};
#[cfg(feature = "zoo")]
use flowcompile_zoo::Zoo;
use reqwest::header::HeaderValue;
use tokio::sync::Semaphore;

use crate::budget::{chat_request, completion_request, forcing_step, Common, ForcingStep};
use crate::config::{Api, BudgetMode, Provider, Providers};
use crate::retry::{Jitter, RetryPolicy};
use crate::think::{split_thinking, THINK_CLOSE, THINK_OPEN};

mod http;
mod stream;
mod tally;
mod types;

use http::describe;
#[cfg(feature = "zoo")]
pub(crate) use http::Endpoint;
pub(crate) use http::{Body, Exchange, Streamed};
use tally::{Generated, Reply, Tally};
pub use types::{
    CallOutcome, CallRequest, ClientError, Delta, DeltaSink, Embeddings, Failure, TokenUsage,
    AGENT_HEADER, MODELLED_LATENCY_HEADER,
};

/// Async client of OpenAI-compatible servers; cheap to clone (clones share limits and connections).
///
/// [`Client::new`] sends requests over HTTP; `Client::with_zoo` (feature `zoo`) hands the same request
/// bodies to an in-process zoo instead (see the crate docs, "Transports").
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
    #[cfg(feature = "zoo")]
    Zoo(Arc<Zoo>),
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
            #[cfg(feature = "zoo")]
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
    #[cfg(feature = "zoo")]
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

    /// Whether calls are answered by an in-process zoo (`Client::with_zoo`, feature `zoo`) rather than
    /// over HTTP.
    pub fn is_in_process(&self) -> bool {
        match self.shared.transport {
            Transport::Http(_) => false,
            #[cfg(feature = "zoo")]
            Transport::Zoo(_) => true,
        }
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
                        Streamed::new(req.stream, req.deltas.as_ref()),
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
                let ex = self
                    .complete(provider, prompt, max_tokens, &req, req.deltas.as_ref())
                    .await?;
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
            let ex = self
                .complete(provider, prompt, answer_tokens, req, req.deltas.as_ref())
                .await?;
            tally.add(&ex, Generated::AnswerOnly);
            return Ok(Reply::split(ex));
        }
        let think = self
            .complete(provider, prompt.clone(), req.budget_tokens, req, None)
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
                let ex = self
                    .complete(provider, prompt, answer_tokens, req, req.deltas.as_ref())
                    .await?;
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
        deltas: Option<&DeltaSink>,
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
            Streamed::new(req.stream, deltas),
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
            .post(
                provider,
                Body::Embeddings(&body),
                None,
                Streamed::new(false, None),
            )
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
}

//! The public types of a call: the request, its outcome and usage, embeddings, and the errors.

use flowcompile_openai::ChatMessage;

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
    /// Where the reply's text goes as it arrives ([`CallRequest::deltas`]).
    pub deltas: Option<DeltaSink>,
}

/// A piece of a reply as the model produces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delta {
    /// Answer text.
    Text(String),
    /// Thinking the server sent apart from the answer (`reasoning_content`).
    Reasoning(String),
}

/// Receives a call's [`Delta`]s as they arrive.
pub type DeltaSink = tokio::sync::mpsc::UnboundedSender<Delta>;

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
            deltas: None,
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

    /// Streams the reply and sends its text to `sink` as it arrives: everything the model
    /// generates, in order (with budget forcing, the thinking request's text, then the answer's).
    /// A request that failed after sending text is not retried (the text is out).
    pub fn deltas(mut self, sink: DeltaSink) -> Self {
        self.stream = true;
        self.deltas = Some(sink);
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
        /// The server's error message (the provider's secrets redacted, see [`crate::Provider::redact`]).
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

    /// The same failure with its free text (a server's message, a network or stream error) passed
    /// through `f`: how secrets are taken out before a failure is logged or returned.
    pub(crate) fn map_text(self, f: impl Fn(&str) -> String) -> Failure {
        match self {
            Failure::Status { status, message } => Failure::Status {
                status,
                message: f(&message),
            },
            Failure::Connection(text) => Failure::Connection(f(&text)),
            Failure::Body(text) => Failure::Body(f(&text)),
            Failure::Stream(text) => Failure::Stream(f(&text)),
            Failure::Timeout { .. } | Failure::NoChoices => self,
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
        /// The endpoint URL, its user-info shown as `***`.
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

//! OpenAI-shaped requests in, zoo generations out: the request logic every transport shares.
//!
//! The HTTP server (`flowcompile-server`) and the client's in-process transport (`flowcompile-client`)
//! both map a parsed request body to [`Zoo::chat`] / [`Zoo::complete`] through these functions, so a
//! request gets the same replies, usage, modelled latency and refusals over either transport. What is
//! left to a transport is only how the bytes move (HTTP bodies, headers, SSE, sleeping the latency).

use flowcompile_openai::{
    ChatCompletionRequest, CompletionRequest, CompletionTokensDetails, Embedding, EmbeddingRequest,
    EmbeddingResponse, EmbeddingUsage, Usage,
};

use crate::text::{GenOptions, TextReply};
use crate::zoo::{Zoo, ZooError};

/// Largest `n` (choices per prompt) a request may ask for.
pub const MAX_CHOICES: u32 = 16;

/// Why the zoo refuses a request: a client mistake (HTTP 400) or an error of the zoo itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// A parameter is out of range (HTTP 400, `invalid_request_error`).
    #[error("{message}")]
    Invalid {
        /// What is wrong, naming the parameter.
        message: String,
        /// The offending request parameter, when there is one.
        param: Option<&'static str>,
    },
    /// The zoo cannot serve it: an unknown model (HTTP 404) or an internal error (HTTP 500).
    #[error(transparent)]
    Zoo(#[from] ZooError),
}

impl RequestError {
    fn invalid(message: String, param: &'static str) -> RequestError {
        RequestError::Invalid {
            message,
            param: Some(param),
        }
    }

    /// The HTTP status a server answers this with: 400, 404 (unknown model) or 500.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::Invalid { .. } => 400,
            RequestError::Zoo(ZooError::UnknownModel { .. }) => 404,
            RequestError::Zoo(_) => 500,
        }
    }
}

/// The generations of one request: one [`TextReply`] per choice (per prompt, then per sample).
#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    /// The choices, in `index` order.
    pub replies: Vec<TextReply>,
    /// Prompt tokens of the request (each prompt counted once, not once per choice).
    pub prompt_tokens: u64,
    /// Decode throughput of the model, tokens/s (paces streamed chunks).
    pub decode_tok_s: f64,
}

impl Served {
    /// The `usage` of the reply: prompt tokens, completion tokens of all choices, and their thinking
    /// tokens as `completion_tokens_details.reasoning_tokens`.
    pub fn usage(&self) -> Usage {
        let completion: u64 = self.replies.iter().map(|r| r.completion_tokens).sum();
        let reasoning: u64 = self.replies.iter().map(|r| r.reasoning_tokens).sum();
        Usage {
            completion_tokens_details: Some(CompletionTokensDetails {
                reasoning_tokens: Some(reasoning),
            }),
            ..Usage::new(self.prompt_tokens, completion)
        }
    }

    /// Modelled latency of the reply, seconds: the choices are generated side by side, so the slowest.
    pub fn latency_s(&self) -> f64 {
        self.replies.iter().map(|r| r.latency_s).fold(0.0, f64::max)
    }

    /// Modelled time to the first token, seconds (the slowest choice's).
    pub fn first_token_s(&self) -> f64 {
        self.replies
            .iter()
            .map(|r| r.first_token_s)
            .fold(0.0, f64::max)
    }
}

fn check_n(n: Option<u32>) -> Result<u32, RequestError> {
    match n.unwrap_or(1) {
        n @ 1..=MAX_CHOICES => Ok(n),
        n => Err(RequestError::invalid(
            format!("`n` must be between 1 and {MAX_CHOICES}, got {n}"),
            "n",
        )),
    }
}

fn check_max_tokens(limit: Option<u64>, param: &'static str) -> Result<Option<u64>, RequestError> {
    match limit {
        Some(0) => Err(RequestError::invalid(
            format!("`{param}` must be at least 1"),
            param,
        )),
        other => Ok(other),
    }
}

impl Zoo {
    fn decode_rate(&self, model: &str) -> Result<f64, ZooError> {
        let id = self.require_model(model)?;
        Ok(self.config().models[id.index()].decode_tok_s)
    }

    /// Serves a `/v1/chat/completions` request from `agent` (the `x-flowcompile-agent` header): checks
    /// the model, `messages`, `n` and the token limit, maps `enable_thinking = false` and
    /// `reasoning_effort` to a thinking budget, and generates `n` choices with samples `seed`, `seed + 1`...
    pub fn serve_chat(
        &self,
        req: &ChatCompletionRequest,
        agent: Option<&str>,
    ) -> Result<Served, RequestError> {
        let decode_tok_s = self.decode_rate(&req.model)?;
        if req.messages.is_empty() {
            return Err(RequestError::invalid(
                "`messages` must not be empty".into(),
                "messages",
            ));
        }
        let n = check_n(req.n)?;
        let limit_param = if req.max_completion_tokens.is_some() {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        let max_tokens = check_max_tokens(req.token_limit(), limit_param)?;
        let thinking_budget = if req.enable_thinking() == Some(false) {
            Some(0)
        } else {
            match req.reasoning_effort.as_deref() {
                None => None,
                Some(e) => Some(GenOptions::effort_budget(e).ok_or_else(|| {
                    RequestError::invalid(
                        format!("`reasoning_effort` must be low, medium or high, got `{e}`"),
                        "reasoning_effort",
                    )
                })?),
            }
        };
        let stop: Vec<String> = req
            .stop
            .as_ref()
            .map(|s| s.as_slice().to_vec())
            .unwrap_or_default();
        let seed = req.seed.unwrap_or(0);
        let replies = (0..u64::from(n))
            .map(|i| {
                let opts = GenOptions {
                    sample: seed.wrapping_add(i),
                    max_tokens,
                    thinking_budget,
                    stop: stop.clone(),
                };
                self.chat(&req.model, agent, &req.messages, &opts)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let prompt_tokens = replies[0].prompt_tokens;
        Ok(Served {
            replies,
            prompt_tokens,
            decode_tok_s,
        })
    }

    /// Serves a `/v1/completions` request from `agent`: checks the model, `prompt`, `n` and
    /// `max_tokens`, and generates `n` choices per prompt (prompts in order, samples `seed`, `seed + 1`...).
    pub fn serve_completion(
        &self,
        req: &CompletionRequest,
        agent: Option<&str>,
    ) -> Result<Served, RequestError> {
        let decode_tok_s = self.decode_rate(&req.model)?;
        let prompts = req.prompt.as_slice();
        if prompts.is_empty() {
            return Err(RequestError::invalid(
                "`prompt` must not be an empty list".into(),
                "prompt",
            ));
        }
        let n = check_n(req.n)?;
        let max_tokens = check_max_tokens(req.max_tokens, "max_tokens")?;
        let stop: Vec<String> = req
            .stop
            .as_ref()
            .map(|s| s.as_slice().to_vec())
            .unwrap_or_default();
        let seed = req.seed.unwrap_or(0);
        let mut replies = Vec::with_capacity(prompts.len() * n as usize);
        let mut prompt_tokens = 0;
        for prompt in prompts {
            for i in 0..u64::from(n) {
                let opts = GenOptions {
                    sample: seed.wrapping_add(i),
                    max_tokens,
                    thinking_budget: None,
                    stop: stop.clone(),
                };
                let reply = self.complete(&req.model, agent, prompt, &opts)?;
                if i == 0 {
                    prompt_tokens += reply.prompt_tokens;
                }
                replies.push(reply);
            }
        }
        Ok(Served {
            replies,
            prompt_tokens,
            decode_tok_s,
        })
    }

    /// Serves a `/v1/embeddings` request: one [`Zoo::embed`] vector per input, tokens = words.
    pub fn serve_embeddings(
        &self,
        req: &EmbeddingRequest,
    ) -> Result<EmbeddingResponse, RequestError> {
        let inputs = req.input.as_slice();
        if inputs.is_empty() {
            return Err(RequestError::invalid(
                "`input` must not be an empty list".into(),
                "input",
            ));
        }
        let tokens: u64 = inputs
            .iter()
            .map(|s| s.split_whitespace().count() as u64)
            .sum();
        Ok(EmbeddingResponse {
            object: "list".into(),
            data: inputs
                .iter()
                .enumerate()
                .map(|(i, text)| Embedding {
                    object: "embedding".into(),
                    index: i as u32,
                    embedding: Zoo::embed(text),
                })
                .collect(),
            model: req.model.clone(),
            usage: Some(EmbeddingUsage {
                prompt_tokens: tokens,
                total_tokens: tokens,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ZooConfig;
    use flowcompile_openai::ChatMessage;

    fn zoo() -> Zoo {
        Zoo::new(ZooConfig::default(), Vec::new()).unwrap()
    }

    #[test]
    fn options_are_checked() {
        assert_eq!(check_n(None).unwrap(), 1);
        assert!(matches!(
            check_n(Some(0)).unwrap_err(),
            RequestError::Invalid {
                param: Some("n"),
                ..
            }
        ));
        assert!(check_n(Some(MAX_CHOICES + 1)).is_err());
        assert_eq!(
            check_max_tokens(Some(0), "max_tokens")
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(check_max_tokens(Some(5), "max_tokens").unwrap(), Some(5));
    }

    #[test]
    fn refusals_carry_their_status() {
        let zoo = zoo();
        let unknown = ChatCompletionRequest::new("gpt-x", vec![ChatMessage::user("hi")]);
        assert_eq!(zoo.serve_chat(&unknown, None).unwrap_err().status(), 404);
        let empty = ChatCompletionRequest::new("zoo-8b", Vec::new());
        assert_eq!(
            zoo.serve_chat(&empty, None).unwrap_err().to_string(),
            "`messages` must not be empty"
        );
        let mut effort = ChatCompletionRequest::new("zoo-8b", vec![ChatMessage::user("hi")]);
        effort.reasoning_effort = Some("max".into());
        assert!(matches!(
            zoo.serve_chat(&effort, None).unwrap_err(),
            RequestError::Invalid {
                param: Some("reasoning_effort"),
                ..
            }
        ));
    }

    #[test]
    fn choices_are_samples_and_usage_sums_them() {
        let zoo = zoo();
        let mut req = CompletionRequest::new("zoo-4b", "What is 6 times 7?");
        req.n = Some(3);
        req.seed = Some(5);
        let served = zoo.serve_completion(&req, Some("solver")).unwrap();
        assert_eq!(served.replies.len(), 3);
        let single = |sample| {
            zoo.complete(
                "zoo-4b",
                Some("solver"),
                "What is 6 times 7?",
                &GenOptions {
                    sample,
                    ..Default::default()
                },
            )
            .unwrap()
        };
        assert_eq!(served.replies[2], single(7));
        let usage = served.usage();
        assert_eq!(usage.prompt_tokens, served.replies[0].prompt_tokens);
        assert_eq!(
            usage.completion_tokens,
            served
                .replies
                .iter()
                .map(|r| r.completion_tokens)
                .sum::<u64>()
        );
        assert_eq!(
            served.latency_s(),
            served
                .replies
                .iter()
                .map(|r| r.latency_s)
                .fold(0.0, f64::max)
        );
    }
}

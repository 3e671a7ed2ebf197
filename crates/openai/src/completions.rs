//! `/v1/completions`: raw-prompt request, response and streaming chunk.

use serde::{Deserialize, Serialize};

use crate::common::{Stop, StreamOptions, Usage};
use crate::Map;

/// Body of `POST /v1/completions`.
///
/// Fields the caller leaves `None` are not serialised; unknown fields of a received body land in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionRequest {
    /// Model id, as listed by `/v1/models`.
    pub model: String,
    /// The raw prompt text (a chat template already applied by the caller, if any).
    pub prompt: Prompt,
    /// Cap on generated tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Sampling seed; the zoo uses it as the sample index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Stream the reply as server-sent events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Options of a streamed reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Number of choices per prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Echo the prompt before the completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo: Option<bool>,
    /// Fields this crate does not model, kept as sent.
    #[serde(flatten)]
    pub extra: Map,
}

impl CompletionRequest {
    /// A request for `model` with a single text `prompt` and nothing else set.
    pub fn new(model: impl Into<String>, prompt: impl Into<String>) -> Self {
        CompletionRequest {
            model: model.into(),
            prompt: Prompt::One(prompt.into()),
            ..Default::default()
        }
    }

    /// Whether the caller asked for a stream.
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// Whether a streamed reply must end with a usage chunk.
    pub fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }
}

/// A completion prompt: one string or a batch of strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Prompt {
    /// A single prompt.
    One(String),
    /// A batch of prompts, one choice (or `n`) each.
    Many(Vec<String>),
}

impl Default for Prompt {
    fn default() -> Self {
        Prompt::One(String::new())
    }
}

impl Prompt {
    /// The prompts as a slice, whichever form was sent.
    pub fn as_slice(&self) -> &[String] {
        match self {
            Prompt::One(s) => std::slice::from_ref(s),
            Prompt::Many(v) => v,
        }
    }
}

/// Body of a non-streamed `/v1/completions` reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionResponse {
    /// Reply id.
    #[serde(default)]
    pub id: String,
    /// Always `text_completion`.
    #[serde(default)]
    pub object: String,
    /// Unix time of creation, seconds.
    #[serde(default)]
    pub created: u64,
    /// Model that answered.
    #[serde(default)]
    pub model: String,
    /// The generated choices (in a stream: the text added by this chunk).
    #[serde(default)]
    pub choices: Vec<CompletionChoice>,
    /// Token counts, when the server reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Backend configuration fingerprint; the zoo sends `zoo (synthetic)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
}

/// One server-sent event of a streamed `/v1/completions` reply: the same shape as the full reply, each
/// choice's `text` holding only what the chunk adds.
pub type CompletionChunk = CompletionResponse;

/// One choice of a completion reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionChoice {
    /// Position among the choices.
    #[serde(default)]
    pub index: u32,
    /// The generated text.
    #[serde(default)]
    pub text: String,
    /// `stop` or `length`; null while unknown.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Token log-probabilities when requested, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips_single_and_batch_prompts() {
        let mut req = CompletionRequest::new("m", "<|im_start|>user\nhi<|im_end|>\n");
        req.max_tokens = Some(5);
        req.seed = Some(7);
        req.stop = Some(Stop::One("</s>".into()));
        req.echo = Some(false);
        let text = serde_json::to_string(&req).unwrap();
        assert_eq!(
            serde_json::from_str::<CompletionRequest>(&text).unwrap(),
            req
        );
        assert!(
            text.starts_with(r#"{"model":"m","prompt":"<|im_start|>"#),
            "{text}"
        );

        let batch: CompletionRequest = serde_json::from_str(
            r#"{"model":"m","prompt":["a","b"],"best_of":2,"stream":true,
                "stream_options":{"include_usage":true}}"#,
        )
        .unwrap();
        assert_eq!(batch.prompt.as_slice(), ["a".to_string(), "b".to_string()]);
        assert_eq!(batch.extra["best_of"], 2);
        assert!(batch.is_stream() && batch.include_usage());
    }

    #[test]
    fn request_with_token_prompt_is_an_error_not_a_panic() {
        assert!(
            serde_json::from_str::<CompletionRequest>(r#"{"model":"m","prompt":[1,2]}"#).is_err()
        );
    }

    #[test]
    fn response_and_chunks_parse_server_bodies() {
        let body = r#"{"id":"cmpl-1","object":"text_completion","created":1,"model":"m",
            "choices":[{"index":0,"text":" 4","logprobs":null,"finish_reason":"length","stop_reason":null,"prompt_logprobs":null}],
            "usage":{"prompt_tokens":3,"total_tokens":4,"completion_tokens":1}}"#;
        let resp: CompletionResponse = serde_json::from_str(body).unwrap();
        assert_eq!(resp.choices[0].text, " 4");
        assert_eq!(resp.choices[0].finish_reason.as_deref(), Some("length"));
        let back: CompletionResponse =
            serde_json::from_str(&serde_json::to_string(&resp).unwrap()).unwrap();
        assert_eq!(back, resp);
        let chunk: CompletionChunk =
            serde_json::from_str(r#"{"choices":[{"text":"x","index":0,"finish_reason":null}]}"#)
                .unwrap();
        assert_eq!(chunk.choices[0].text, "x");
        assert!(chunk.usage.is_none());
    }
}

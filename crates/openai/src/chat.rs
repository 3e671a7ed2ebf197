//! `/v1/chat/completions`: request, response and streaming chunk.

use serde::{Deserialize, Serialize};

use crate::common::{Stop, StreamOptions, Usage};
use crate::Map;

/// Body of `POST /v1/chat/completions`.
///
/// Fields the caller leaves `None` are not serialised; unknown fields of a received body land in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionRequest {
    /// Model id, as listed by `/v1/models`.
    pub model: String,
    /// The conversation so far.
    pub messages: Vec<ChatMessage>,
    /// Cap on generated tokens, thinking included (legacy name, still what vLLM and llama.cpp read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    /// Cap on generated tokens, thinking included (current OpenAI name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u64>,
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
    /// Number of choices to generate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Thinking effort of reasoning models: `"low"`, `"medium"` or `"high"` (servers may accept more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    /// Arguments to the chat template (vLLM, SGLang), e.g. `{"enable_thinking": false}` for Qwen3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_template_kwargs: Option<serde_json::Value>,
    /// Fields this crate does not model, kept as sent.
    #[serde(flatten)]
    pub extra: Map,
}

impl ChatCompletionRequest {
    /// A request for `model` with `messages` and nothing else set.
    pub fn new(model: impl Into<String>, messages: Vec<ChatMessage>) -> Self {
        ChatCompletionRequest {
            model: model.into(),
            messages,
            ..Default::default()
        }
    }

    /// The effective token cap: `max_completion_tokens` when set, else `max_tokens`.
    pub fn token_limit(&self) -> Option<u64> {
        self.max_completion_tokens.or(self.max_tokens)
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

    /// `chat_template_kwargs.enable_thinking` when it is set to a boolean.
    pub fn enable_thinking(&self) -> Option<bool> {
        self.chat_template_kwargs
            .as_ref()?
            .get("enable_thinking")?
            .as_bool()
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant`, `tool` or `developer`.
    pub role: String,
    /// The text, or a list of content parts; absent or null for some assistant messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<MessageContent>,
    /// Optional participant name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Fields this crate does not model (tool calls, ids), kept as sent.
    #[serde(flatten)]
    pub extra: Map,
}

impl ChatMessage {
    /// A message with `role` and text `content`.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.into(),
            content: Some(MessageContent::Text(content.into())),
            ..Default::default()
        }
    }

    /// A `system` message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }

    /// A `user` message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }

    /// An `assistant` message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }

    /// The message's text: the string content, or its text parts joined by newlines; empty when absent.
    pub fn text(&self) -> String {
        match &self.content {
            None => String::new(),
            Some(c) => c.text(),
        }
    }
}

/// Content of a message: a plain string or a list of typed parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    /// Plain text.
    Text(String),
    /// Typed parts (`{"type":"text","text":...}`, images, ...).
    Parts(Vec<ContentPart>),
}

impl MessageContent {
    /// The text: the string, or the text parts joined by newlines.
    pub fn text(&self) -> String {
        match self {
            MessageContent::Text(s) => s.clone(),
            MessageContent::Parts(parts) => parts
                .iter()
                .filter_map(|p| p.text.as_deref())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// One typed part of a message's content.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContentPart {
    /// Part type, e.g. `text` or `image_url`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The text of a `text` part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Other fields of the part (`image_url`, ...), kept as sent.
    #[serde(flatten)]
    pub extra: Map,
}

/// Body of a non-streamed `/v1/chat/completions` reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionResponse {
    /// Reply id.
    #[serde(default)]
    pub id: String,
    /// Always `chat.completion`.
    #[serde(default)]
    pub object: String,
    /// Unix time of creation, seconds.
    #[serde(default)]
    pub created: u64,
    /// Model that answered.
    #[serde(default)]
    pub model: String,
    /// The generated choices.
    #[serde(default)]
    pub choices: Vec<ChatChoice>,
    /// Token counts, when the server reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Backend configuration fingerprint; the zoo sends `zoo (synthetic)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
}

/// One choice of a chat reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatChoice {
    /// Position among the choices.
    #[serde(default)]
    pub index: u32,
    /// The generated message.
    #[serde(default)]
    pub message: AssistantMessage,
    /// `stop`, `length`, `tool_calls`, ...; null while unknown.
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// The message a chat reply carries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AssistantMessage {
    /// Usually `assistant`.
    #[serde(default)]
    pub role: String,
    /// The answer text (may hold `<think>...</think>` when the server does not split reasoning out).
    #[serde(default)]
    pub content: Option<String>,
    /// Thinking split out by a reasoning parser (vLLM, SGLang, DeepSeek).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Thinking under the newer field name some servers use instead of `reasoning_content`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
}

impl AssistantMessage {
    /// The split-out thinking under either field name.
    pub fn reasoning_text(&self) -> Option<&str> {
        self.reasoning_content
            .as_deref()
            .or(self.reasoning.as_deref())
    }
}

/// One server-sent event of a streamed chat reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionChunk {
    /// Reply id, the same for every chunk of a stream.
    #[serde(default)]
    pub id: String,
    /// Always `chat.completion.chunk`.
    #[serde(default)]
    pub object: String,
    /// Unix time of creation, seconds.
    #[serde(default)]
    pub created: u64,
    /// Model that answers.
    #[serde(default)]
    pub model: String,
    /// Deltas, one per choice; empty in the final usage chunk.
    #[serde(default)]
    pub choices: Vec<ChatChunkChoice>,
    /// Token counts: only in the last chunk, when `stream_options.include_usage` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Backend configuration fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
}

/// One choice's delta within a chunk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatChunkChoice {
    /// Position among the choices.
    #[serde(default)]
    pub index: u32,
    /// What this chunk adds.
    #[serde(default)]
    pub delta: ChatDelta,
    /// Set on the choice's last chunk.
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// Text added by one chunk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatDelta {
    /// Sent in the first chunk only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Answer text added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Thinking text added (reasoning parser on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Thinking text added, under the newer field name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::DeserializeOwned;

    #[track_caller]
    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) {
        let text = serde_json::to_string(value).unwrap();
        let back: T = serde_json::from_str(&text).unwrap();
        assert_eq!(&back, value, "round trip through {text}");
    }

    #[test]
    fn request_round_trips_with_every_field_and_extras() {
        let mut req = ChatCompletionRequest::new(
            "m",
            vec![ChatMessage::system("be brief"), ChatMessage::user("hi")],
        );
        req.max_tokens = Some(10);
        req.max_completion_tokens = Some(20);
        req.temperature = Some(0.7);
        req.top_p = Some(0.9);
        req.seed = Some(u64::MAX);
        req.stream = Some(true);
        req.stream_options = Some(StreamOptions {
            include_usage: Some(true),
            ..Default::default()
        });
        req.stop = Some(Stop::Many(vec!["x".into()]));
        req.n = Some(2);
        req.reasoning_effort = Some("low".into());
        req.chat_template_kwargs = Some(serde_json::json!({"enable_thinking": false}));
        req.extra.insert("top_k".into(), serde_json::json!(20));
        round_trip(&req);
        assert_eq!(req.token_limit(), Some(20));
        assert!(req.is_stream() && req.include_usage());
        assert_eq!(req.enable_thinking(), Some(false));
        let value = serde_json::to_value(&req).unwrap();
        assert_eq!(value["top_k"], 20);
    }

    #[test]
    fn request_keeps_unknown_fields_and_part_content() {
        let body = r#"{"model":"m","messages":[
            {"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"u"}},{"type":"text","text":"b"}]},
            {"role":"assistant","content":null,"tool_calls":[{"id":"1"}]}],
            "logprobs":true,"temperature":0}"#;
        let req: ChatCompletionRequest = serde_json::from_str(body).unwrap();
        assert_eq!(req.messages[0].text(), "a\nb");
        assert_eq!(req.messages[1].text(), "");
        assert!(req.messages[1].extra.contains_key("tool_calls"));
        assert_eq!(req.extra["logprobs"], true);
        assert_eq!(req.temperature, Some(0.0));
        assert_eq!(req.token_limit(), None);
        assert!(!req.is_stream());
        round_trip(&req);
    }

    #[test]
    fn request_without_model_is_an_error() {
        let err = serde_json::from_str::<ChatCompletionRequest>(r#"{"messages":[]}"#).unwrap_err();
        assert!(err.to_string().contains("model"), "{err}");
    }

    #[test]
    fn response_parses_vllm_and_minimal_bodies() {
        let vllm = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"Qwen/Qwen3-8B",
            "choices":[{"index":0,"message":{"role":"assistant","reasoning_content":"hmm","content":"\\boxed{4}","tool_calls":[]},
            "logprobs":null,"finish_reason":"stop","stop_reason":null}],
            "usage":{"prompt_tokens":10,"total_tokens":30,"completion_tokens":20,"prompt_tokens_details":null},
            "prompt_logprobs":null}"#;
        let resp: ChatCompletionResponse = serde_json::from_str(vllm).unwrap();
        assert_eq!(resp.choices[0].message.reasoning_text(), Some("hmm"));
        assert_eq!(resp.choices[0].finish_reason.as_deref(), Some("stop"));
        assert_eq!(resp.usage.as_ref().unwrap().completion_tokens, 20);
        assert_eq!(resp.usage.as_ref().unwrap().reasoning_tokens(), None);
        round_trip(&resp);

        let minimal: ChatCompletionResponse = serde_json::from_str(
            r#"{"choices":[{"message":{"content":null},"finish_reason":null}]}"#,
        )
        .unwrap();
        assert_eq!(minimal.choices[0].message.content, None);
        let empty: ChatCompletionResponse = serde_json::from_str("{}").unwrap();
        assert!(empty.choices.is_empty());
    }

    #[test]
    fn newer_reasoning_field_is_read() {
        let m: AssistantMessage =
            serde_json::from_str(r#"{"role":"assistant","content":"x","reasoning":"r"}"#).unwrap();
        assert_eq!(m.reasoning_text(), Some("r"));
    }

    #[test]
    fn chunks_parse_deltas_and_usage_only_chunk() {
        let first = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m",
            "choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}"#;
        let c: ChatCompletionChunk = serde_json::from_str(first).unwrap();
        assert_eq!(c.choices[0].delta.role.as_deref(), Some("assistant"));
        assert!(c.usage.is_none());
        let last = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],
            "usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"completion_tokens_details":{"reasoning_tokens":1}}}"#;
        let c: ChatCompletionChunk = serde_json::from_str(last).unwrap();
        assert!(c.choices.is_empty());
        assert_eq!(c.usage.as_ref().unwrap().reasoning_tokens(), Some(1));
        round_trip(&c);
        let llama = r#"{"choices":[{"delta":{"reasoning_content":"th"},"index":0,"finish_reason":null}],"created":1,"id":"x","model":"gguf","object":"chat.completion.chunk"}"#;
        let c: ChatCompletionChunk = serde_json::from_str(llama).unwrap();
        assert_eq!(c.choices[0].delta.reasoning_content.as_deref(), Some("th"));
    }
}

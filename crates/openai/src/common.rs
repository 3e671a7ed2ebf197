//! Pieces shared by several endpoints: token usage, stop sequences, stream options.

use serde::{Deserialize, Serialize};

use crate::Map;

/// The payload of the last server-sent event of a stream (`data: [DONE]`).
pub const STREAM_DONE: &str = "[DONE]";

/// Token counts of one request, as reported in `usage`.
///
/// Servers omit fields they do not count, so each count defaults to 0.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens of the prompt (all messages after templating).
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Tokens generated, thinking included.
    #[serde(default)]
    pub completion_tokens: u64,
    /// `prompt_tokens + completion_tokens`.
    #[serde(default)]
    pub total_tokens: u64,
    /// Breakdown of the completion tokens, when the server reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
}

impl Usage {
    /// Usage with the total computed from the two parts and no breakdown.
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            completion_tokens_details: None,
        }
    }

    /// The reasoning (thinking) tokens when the server reported them.
    pub fn reasoning_tokens(&self) -> Option<u64> {
        self.completion_tokens_details
            .as_ref()
            .and_then(|d| d.reasoning_tokens)
    }
}

/// Breakdown of `usage.completion_tokens`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletionTokensDetails {
    /// Tokens spent thinking (inside `<think>` or in `reasoning_content`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
}

/// Stop sequences: one string or a list of strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    /// A single stop sequence.
    One(String),
    /// Several stop sequences.
    Many(Vec<String>),
}

impl Stop {
    /// The stop sequences as a slice, whichever form was sent.
    pub fn as_slice(&self) -> &[String] {
        match self {
            Stop::One(s) => std::slice::from_ref(s),
            Stop::Many(v) => v,
        }
    }
}

/// Options of a streamed request (`stream_options`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamOptions {
    /// When true, the stream ends with a chunk that carries `usage` and no choices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
    /// Fields this crate does not model, kept as sent.
    #[serde(flatten)]
    pub extra: Map,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_parses_sparse_and_full_bodies() {
        let u: Usage = serde_json::from_str("{}").unwrap();
        assert_eq!(u, Usage::default());
        let u: Usage = serde_json::from_str(
            r#"{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8,
                "completion_tokens_details":{"reasoning_tokens":2,"audio_tokens":0},
                "prompt_tokens_details":null}"#,
        )
        .unwrap();
        assert_eq!(u.reasoning_tokens(), Some(2));
        assert_eq!(u.total_tokens, 8);
        let back: Usage = serde_json::from_str(&serde_json::to_string(&u).unwrap()).unwrap();
        assert_eq!(back, u);
    }

    #[test]
    fn stop_accepts_string_or_list() {
        let one: Stop = serde_json::from_str(r#""\n""#).unwrap();
        assert_eq!(one.as_slice(), ["\n".to_string()]);
        let many: Stop = serde_json::from_str(r#"["a","b"]"#).unwrap();
        assert_eq!(many.as_slice().len(), 2);
        assert_eq!(serde_json::to_string(&many).unwrap(), r#"["a","b"]"#);
    }
}

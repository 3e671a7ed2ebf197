//! `/v1/embeddings`: request and response.

use serde::{Deserialize, Serialize};

use crate::Map;

/// Body of `POST /v1/embeddings`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingRequest {
    /// Model id.
    pub model: String,
    /// The text or texts to embed.
    pub input: EmbeddingInput,
    /// `float` (default) or `base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
    /// Requested vector length, where the model supports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    /// Fields this crate does not model, kept as sent.
    #[serde(flatten)]
    pub extra: Map,
}

/// Embedding input: one string or a list of strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    /// A single text.
    One(String),
    /// Several texts, one vector each.
    Many(Vec<String>),
}

impl Default for EmbeddingInput {
    fn default() -> Self {
        EmbeddingInput::One(String::new())
    }
}

impl EmbeddingInput {
    /// The texts as a slice, whichever form was sent.
    pub fn as_slice(&self) -> &[String] {
        match self {
            EmbeddingInput::One(s) => std::slice::from_ref(s),
            EmbeddingInput::Many(v) => v,
        }
    }
}

/// Body of a `/v1/embeddings` reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingResponse {
    /// Always `list`.
    #[serde(default)]
    pub object: String,
    /// One vector per input, in input order.
    #[serde(default)]
    pub data: Vec<Embedding>,
    /// Model that embedded.
    #[serde(default)]
    pub model: String,
    /// Token counts, when reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<EmbeddingUsage>,
}

/// One embedding vector.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    /// Always `embedding`.
    #[serde(default)]
    pub object: String,
    /// Position of the input it embeds.
    #[serde(default)]
    pub index: u32,
    /// The vector.
    #[serde(default)]
    pub embedding: Vec<f32>,
}

/// Token counts of an embedding request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddingUsage {
    /// Tokens of all inputs.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Same as `prompt_tokens`.
    #[serde(default)]
    pub total_tokens: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_accepts_string_or_list_and_round_trips() {
        let one: EmbeddingRequest = serde_json::from_str(r#"{"model":"m","input":"hi"}"#).unwrap();
        assert_eq!(one.input.as_slice(), ["hi".to_string()]);
        let many: EmbeddingRequest = serde_json::from_str(
            r#"{"model":"m","input":["a","b"],"encoding_format":"float","user":"u"}"#,
        )
        .unwrap();
        assert_eq!(many.input.as_slice().len(), 2);
        assert_eq!(many.extra["user"], "u");
        let text = serde_json::to_string(&many).unwrap();
        assert_eq!(
            serde_json::from_str::<EmbeddingRequest>(&text).unwrap(),
            many
        );
    }

    #[test]
    fn response_round_trips_and_parses_without_usage() {
        let resp = EmbeddingResponse {
            object: "list".into(),
            data: vec![Embedding {
                object: "embedding".into(),
                index: 0,
                embedding: vec![0.6, 0.8],
            }],
            model: "m".into(),
            usage: Some(EmbeddingUsage {
                prompt_tokens: 2,
                total_tokens: 2,
            }),
        };
        let text = serde_json::to_string(&resp).unwrap();
        assert_eq!(
            serde_json::from_str::<EmbeddingResponse>(&text).unwrap(),
            resp
        );
        let bare: EmbeddingResponse =
            serde_json::from_str(r#"{"data":[{"embedding":[1.0],"index":0}]}"#).unwrap();
        assert_eq!(bare.data[0].embedding, vec![1.0]);
    }
}

//! The error body `{"error": {"message", "type", "param", "code"}}`.

use serde::{Deserialize, Serialize};

/// Body of an error reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorBody,
}

/// What went wrong.
///
/// `code` is a string at OpenAI and a number at vLLM, so it is kept as a JSON value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// Error class, e.g. `invalid_request_error`, `not_found_error`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The request parameter at fault, if any.
    #[serde(default)]
    pub param: Option<String>,
    /// Machine-readable code (string or number), if any.
    #[serde(default)]
    pub code: Option<serde_json::Value>,
}

impl ErrorResponse {
    /// An error of class `kind` with `message`, no param and no code.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorResponse {
            error: ErrorBody {
                message: message.into(),
                kind: Some(kind.into()),
                param: None,
                code: None,
            },
        }
    }

    /// Reads an error body leniently: the OpenAI shape, `{"error": "text"}`, vLLM's older
    /// `{"object": "error", "message": ...}` and FastAPI's `{"detail": ...}`; `None` for anything else.
    pub fn parse_lenient(body: &str) -> Option<ErrorBody> {
        if let Ok(e) = serde_json::from_str::<ErrorResponse>(body) {
            return Some(e.error);
        }
        let value: serde_json::Value = serde_json::from_str(body).ok()?;
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let message = value
            .get("error")
            .or_else(|| value.get("message"))
            .or_else(|| value.get("detail"))
            .map(text)?;
        Some(ErrorBody {
            message,
            kind: value
                .get("type")
                .and_then(|t| t.as_str())
                .map(str::to_owned),
            param: None,
            code: value.get("code").cloned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_round_trips_with_type_field_name() {
        let mut e = ErrorResponse::new("invalid_request_error", "bad json");
        e.error.param = Some("messages".into());
        e.error.code = Some(serde_json::json!("bad_json"));
        let text = serde_json::to_string(&e).unwrap();
        assert!(text.contains(r#""type":"invalid_request_error""#), "{text}");
        assert_eq!(serde_json::from_str::<ErrorResponse>(&text).unwrap(), e);
    }

    #[test]
    fn lenient_parse_reads_common_server_shapes() {
        let openai = r#"{"error":{"message":"no such model","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#;
        assert_eq!(
            ErrorResponse::parse_lenient(openai).unwrap().message,
            "no such model"
        );
        let vllm_num =
            r#"{"error":{"message":"m","type":"BadRequestError","param":null,"code":400}}"#;
        assert_eq!(
            ErrorResponse::parse_lenient(vllm_num).unwrap().code,
            Some(serde_json::json!(400))
        );
        let old_vllm =
            r#"{"object":"error","message":"too long","type":"BadRequestError","code":400}"#;
        let e = ErrorResponse::parse_lenient(old_vllm).unwrap();
        assert_eq!(
            (e.message.as_str(), e.kind.as_deref()),
            ("too long", Some("BadRequestError"))
        );
        assert_eq!(
            ErrorResponse::parse_lenient(r#"{"error":"plain"}"#)
                .unwrap()
                .message,
            "plain"
        );
        assert_eq!(
            ErrorResponse::parse_lenient(r#"{"detail":"Not Found"}"#)
                .unwrap()
                .message,
            "Not Found"
        );
        assert!(ErrorResponse::parse_lenient("<html>502</html>").is_none());
        assert!(ErrorResponse::parse_lenient(r#"{"ok":true}"#).is_none());
    }
}

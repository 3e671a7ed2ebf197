//! Error replies of OpenAI-compatible axum endpoints (feature `axum`), rendered as OpenAI error bodies:
//! shared by the zoo's server and the compiled-workflow server so both answer mistakes alike.

use crate::{ErrorBody, ErrorResponse};
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// An error reply: an HTTP status and the OpenAI error body `{"error": {message, type, param, code}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status (4xx for client mistakes).
    pub status: StatusCode,
    /// The error body.
    pub body: ErrorBody,
}

impl ApiError {
    /// A 400 `invalid_request_error` about request parameter `param` (if any).
    pub fn bad_request(message: impl Into<String>, param: Option<&str>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            body: ErrorBody {
                message: message.into(),
                kind: Some("invalid_request_error".into()),
                param: param.map(str::to_owned),
                code: None,
            },
        }
    }

    /// A 404 `not_found_error` with machine-readable `code`.
    pub fn not_found(message: impl Into<String>, param: Option<&str>, code: &str) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            body: ErrorBody {
                message: message.into(),
                kind: Some("not_found_error".into()),
                param: param.map(str::to_owned),
                code: Some(code.into()),
            },
        }
    }

    /// The error for a request body that could not be read (too large: 413).
    pub fn from_body_rejection(rejection: BytesRejection, limit: usize) -> Self {
        let status = rejection.status();
        let (message, code) = if status == StatusCode::PAYLOAD_TOO_LARGE {
            (
                format!("request body exceeds the limit of {limit} bytes"),
                "request_too_large",
            )
        } else {
            (
                format!("cannot read the request body: {}", rejection.body_text()),
                "bad_body",
            )
        };
        ApiError {
            status,
            body: ErrorBody {
                message,
                kind: Some("invalid_request_error".into()),
                param: None,
                code: Some(code.into()),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorResponse { error: self.body })).into_response()
    }
}

/// Parses a JSON request body into `T`, a 400 naming the problem otherwise.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let what = if e.is_syntax() || e.is_eof() {
            "malformed JSON"
        } else {
            "invalid request"
        };
        ApiError::bad_request(format!("{what}: {e}"), None)
    })
}

/// 404 for paths the server does not serve (an axum router's fallback).
pub async fn unknown_path(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(
        format!("no endpoint at {}", uri.path()),
        None,
        "unknown_path",
    )
}

/// 405 for a known path with the wrong method (an axum router's method-not-allowed fallback).
pub async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        body: ErrorBody {
            message: format!("method {method} is not allowed on {}", uri.path()),
            kind: Some("invalid_request_error".into()),
            param: None,
            code: Some("method_not_allowed".into()),
        },
    }
}

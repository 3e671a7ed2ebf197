//! Reading a streamed (server-sent events) reply into one exchange.

use std::time::Instant;

use flowcompile_openai::{ChatCompletionChunk, CompletionChunk, ErrorResponse, STREAM_DONE};
use futures::StreamExt;

use super::http::{describe, invalid_json, Endpoint, Exchange, Streamed};
use super::types::Delta;
use super::types::Failure;
use crate::sse::SseParser;

/// Accumulates a streamed reply.
#[derive(Default)]
pub(super) struct StreamState {
    ex: Exchange,
    reasoning: String,
    saw_choice: bool,
    done: bool,
}

impl StreamState {
    fn event(
        &mut self,
        data: &str,
        endpoint: Endpoint,
        started: Instant,
        streamed: Option<&Streamed<'_>>,
    ) -> Result<(), Failure> {
        let send = |delta: Delta| {
            if let Some(s) = streamed {
                s.send(delta);
            }
        };
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
                        send(Delta::Text(text));
                        got_text = true;
                    }
                    if let Some(text) = delta
                        .reasoning_content
                        .or(delta.reasoning)
                        .filter(|t| !t.is_empty())
                    {
                        self.reasoning.push_str(&text);
                        send(Delta::Reasoning(text));
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
                        send(Delta::Text(choice.text));
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
pub(super) async fn read_stream(
    response: reqwest::Response,
    endpoint: Endpoint,
    started: Instant,
    streamed: &Streamed<'_>,
) -> Result<Exchange, Failure> {
    let mut parser = SseParser::default();
    let mut state = StreamState::default();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| Failure::Stream(describe(e)))?;
        for data in parser.push(&chunk) {
            state.event(&data, endpoint, started, Some(streamed))?;
        }
        if state.done {
            break;
        }
    }
    if let Some(data) = parser.finish() {
        state.event(&data, endpoint, started, Some(streamed))?;
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
            result = result.and_then(|()| state.event(e, endpoint, started, None));
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
        match state.event(event, endpoint, Instant::now(), None) {
            Err(f) => f,
            Ok(()) => panic!("event {event:?} was accepted"),
        }
    }
}

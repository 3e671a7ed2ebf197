//! How a reasoning budget becomes request fields, per [`BudgetMode`], and the steps of budget forcing.

use flowcompile_openai::{
    ChatCompletionRequest, ChatMessage, CompletionRequest, Stop, StreamOptions,
};

use crate::config::{BudgetMode, Provider};
use crate::think::{split_thinking, EARLY_STOP, THINK_CLOSE};

/// The `reasoning_effort` for a budget: up to 1024 tokens `low`, up to 4096 `medium`, else `high`.
pub fn reasoning_effort(budget_tokens: u32) -> &'static str {
    match budget_tokens {
        0..=1024 => "low",
        1025..=4096 => "medium",
        _ => "high",
    }
}

/// Fields every generation request shares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Common {
    pub(crate) seed: Option<u64>,
    pub(crate) stream: bool,
}

fn stream_fields(stream: bool) -> (Option<bool>, Option<StreamOptions>) {
    if stream {
        let options = StreamOptions {
            include_usage: Some(true),
            ..Default::default()
        };
        (Some(true), Some(options))
    } else {
        (None, None)
    }
}

/// The provider's stop sequences as a request field (absent when it has none).
fn stop(provider: &Provider) -> Option<Stop> {
    (!provider.stop.is_empty()).then(|| Stop::Many(provider.stop.clone()))
}

/// The `/v1/chat/completions` body for `mode`. The config never pairs chat with [`BudgetMode::Forcing`]
/// (forcing renders its own prompt for completions); it would get a plain `max_tokens` cap here.
pub(crate) fn chat_request(
    provider: &Provider,
    messages: Vec<ChatMessage>,
    mode: BudgetMode,
    budget_tokens: u32,
    answer_tokens: u32,
    common: Common,
) -> ChatCompletionRequest {
    let mut req = ChatCompletionRequest::new(provider.model.clone(), messages);
    req.seed = common.seed;
    req.stop = stop(provider);
    (req.stream, req.stream_options) = stream_fields(common.stream);
    match mode {
        BudgetMode::ReasoningEffort => {
            req.reasoning_effort = Some(reasoning_effort(budget_tokens).to_string())
        }
        BudgetMode::MaxTokens | BudgetMode::Forcing => {
            req.max_tokens = Some(u64::from(budget_tokens) + u64::from(answer_tokens))
        }
        BudgetMode::None => {
            req.max_tokens = Some(u64::from(answer_tokens));
            req.chat_template_kwargs = Some(serde_json::json!({ "enable_thinking": false }));
        }
    }
    req
}

/// A `/v1/completions` body for a rendered `prompt`.
pub(crate) fn completion_request(
    provider: &Provider,
    prompt: String,
    max_tokens: u32,
    common: Common,
) -> CompletionRequest {
    let mut req = CompletionRequest::new(provider.model.clone(), prompt);
    req.max_tokens = Some(u64::from(max_tokens));
    req.seed = common.seed;
    req.stop = stop(provider);
    (req.stream, req.stream_options) = stream_fields(common.stream);
    req
}

/// What budget forcing does after the thinking call returned `thinking_text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ForcingStep {
    /// The thinking closed and the answer finished within the budget.
    Done,
    /// Ask for the answer with this prompt (which ends right after `</think>`).
    Answer {
        /// The continued prompt.
        prompt: String,
        /// Whether the early-stop text was forced (the thinking hit the budget).
        forced: bool,
    },
}

/// The step after the thinking call: a thinking that never closed gets [`EARLY_STOP`] appended (after a
/// newline when the text does not end in whitespace); a closed thinking whose answer was cut by the budget
/// gets the answer asked again right after `</think>`; otherwise the first reply is the result.
///
/// A reply that never opened `<think>` is taken as the answer: the model does not think.
pub(crate) fn forcing_step(
    prompt: &str,
    thinking_text: &str,
    finish_reason: Option<&str>,
) -> ForcingStep {
    let split = split_thinking(thinking_text);
    if split.unclosed {
        let sep = if thinking_text.ends_with(char::is_whitespace) {
            ""
        } else {
            "\n"
        };
        return ForcingStep::Answer {
            prompt: format!("{prompt}{thinking_text}{sep}{EARLY_STOP}"),
            forced: true,
        };
    }
    match thinking_text.find(THINK_CLOSE) {
        Some(close) if finish_reason == Some("length") => ForcingStep::Answer {
            prompt: format!(
                "{prompt}{}\n\n",
                &thinking_text[..close + THINK_CLOSE.len()]
            ),
            forced: false,
        },
        _ => ForcingStep::Done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Providers;

    fn provider(budget: &str) -> Provider {
        let text = format!(
            "[models.m]\nbase_url = \"http://127.0.0.1:1/v1\"\nmodel = \"server-m\"\nbudget = \"{budget}\"\n{}",
            if budget == "forcing" { "chat_template = \"qwen3\"\n" } else { "" }
        );
        Providers::from_toml_str_with_env(&text, "p.toml", &|_| None)
            .unwrap()
            .get("m")
            .unwrap()
            .clone()
    }

    #[test]
    fn effort_thresholds() {
        for (budget, effort) in [
            (0, "low"),
            (1024, "low"),
            (1025, "medium"),
            (4096, "medium"),
            (4097, "high"),
        ] {
            assert_eq!(reasoning_effort(budget), effort, "budget {budget}");
        }
    }

    #[track_caller]
    fn check_chat(mode: &str, stream: bool, expected: serde_json::Value) {
        let p = provider(mode);
        let common = Common {
            seed: Some(7),
            stream,
        };
        let req = chat_request(
            &p,
            vec![ChatMessage::user("q")],
            p.budget,
            3000,
            100,
            common,
        );
        assert_eq!(serde_json::to_value(&req).unwrap(), expected);
    }

    #[test]
    fn chat_bodies_per_mode() {
        let messages = serde_json::json!([{ "role": "user", "content": "q" }]);
        check_chat(
            "reasoning_effort",
            false,
            serde_json::json!({ "model": "server-m", "messages": messages, "seed": 7, "reasoning_effort": "medium" }),
        );
        check_chat(
            "max_tokens",
            true,
            serde_json::json!({ "model": "server-m", "messages": messages, "max_tokens": 3100, "seed": 7,
                                "stream": true, "stream_options": { "include_usage": true } }),
        );
        check_chat(
            "none",
            false,
            serde_json::json!({ "model": "server-m", "messages": messages, "max_tokens": 100, "seed": 7,
                                "chat_template_kwargs": { "enable_thinking": false } }),
        );
    }

    #[test]
    fn completion_body() {
        let p = provider("forcing");
        let req = completion_request(
            &p,
            "P".into(),
            50,
            Common {
                seed: None,
                stream: false,
            },
        );
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            serde_json::json!({ "model": "server-m", "prompt": "P", "max_tokens": 50 })
        );
    }

    #[test]
    fn stop_sequences_go_into_both_bodies() {
        let text = "[models.m]\nbase_url = \"http://127.0.0.1:1/v1\"\napi = \"completions\"\nchat_template = \"plain\"\nstop = [\"\\n\", \"User:\"]\n";
        let p = Providers::from_toml_str_with_env(text, "p.toml", &|_| None).unwrap();
        let p = p.get("m").unwrap();
        let common = Common {
            seed: None,
            stream: false,
        };
        let completion = completion_request(p, "P".into(), 9, common);
        assert_eq!(
            serde_json::to_value(&completion).unwrap(),
            serde_json::json!({ "model": "m", "prompt": "P", "max_tokens": 9, "stop": ["\n", "User:"] })
        );
        let chat = chat_request(p, vec![ChatMessage::user("q")], p.budget, 8, 1, common);
        let chat = serde_json::to_value(&chat).unwrap();
        assert_eq!(chat["stop"], serde_json::json!(["\n", "User:"]));
        assert_eq!(chat["max_tokens"], 9);
    }

    #[track_caller]
    fn check_step(thinking: &str, finish: Option<&str>, expected: ForcingStep) {
        assert_eq!(forcing_step("P:", thinking, finish), expected);
    }

    #[test]
    fn forcing_steps() {
        check_step(
            "<think>\na b",
            Some("length"),
            ForcingStep::Answer {
                prompt: format!("P:<think>\na b\n{EARLY_STOP}"),
                forced: true,
            },
        );
        check_step(
            "<think>\na b ",
            Some("stop"),
            ForcingStep::Answer {
                prompt: format!("P:<think>\na b {EARLY_STOP}"),
                forced: true,
            },
        );
        check_step(
            "<think>\na b\n</think>\n\nThe ans",
            Some("length"),
            ForcingStep::Answer {
                prompt: "P:<think>\na b\n</think>\n\n".into(),
                forced: false,
            },
        );
        check_step("<think>\na\n</think>\n\n4", Some("stop"), ForcingStep::Done);
        check_step("no thinking here", Some("length"), ForcingStep::Done);
    }
}

//! Splitting a Qwen3-style completion into its thinking and its answer.

/// Text forced after a thinking that ran out of budget (FlowCompile paper, after Qwen3's budget forcing).
pub const EARLY_STOP: &str = "Considering the limited time by the user, I have to give the solution based on the thinking directly now.\n</think>\n\n";

/// Opening marker of a thinking block.
pub const THINK_OPEN: &str = "<think>";
/// Closing marker of a thinking block.
pub const THINK_CLOSE: &str = "</think>";

/// A completion split at its `</think>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split<'a> {
    /// The thinking without its markers, trimmed; `None` when the text has no thinking block.
    pub reasoning: Option<&'a str>,
    /// What follows `</think>`, trimmed; empty when the thinking never closed.
    pub answer: &'a str,
    /// Whether a thinking block was opened and not closed (the model stopped while thinking).
    pub unclosed: bool,
}

/// Splits `text` at the first `</think>`: before it (less a leading `<think>`) is the reasoning, after it
/// the answer. A leading `<think>` without a close is all reasoning; text without markers is all answer.
pub fn split_thinking(text: &str) -> Split<'_> {
    if let Some(close) = text.find(THINK_CLOSE) {
        Split {
            reasoning: Some(without_open(&text[..close]).trim()),
            answer: text[close + THINK_CLOSE.len()..].trim(),
            unclosed: false,
        }
    } else if let Some(rest) = text.trim_start().strip_prefix(THINK_OPEN) {
        Split {
            reasoning: Some(rest.trim()),
            answer: "",
            unclosed: true,
        }
    } else {
        Split {
            reasoning: None,
            answer: text.trim(),
            unclosed: false,
        }
    }
}

/// `s` without leading whitespace and a leading `<think>`.
fn without_open(s: &str) -> &str {
    let t = s.trim_start();
    t.strip_prefix(THINK_OPEN).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, reasoning: Option<&str>, answer: &str, unclosed: bool) {
        let split = split_thinking(text);
        assert_eq!(
            split,
            Split {
                reasoning,
                answer,
                unclosed
            },
            "splitting {text:?}"
        );
    }

    #[test]
    fn splits_closed_unclosed_and_plain_text() {
        check(
            "<think>\na b c\n</think>\n\nThe answer is \\boxed{4}.",
            Some("a b c"),
            "The answer is \\boxed{4}.",
            false,
        );
        check("  <think>\n\n</think>\n\n4\n", Some(""), "4", false);
        check("a b c\n</think>\n\n4", Some("a b c"), "4", false);
        check("<think>\na b c", Some("a b c"), "", true);
        check(
            "<think>\na </think> b </think> c",
            Some("a"),
            "b </think> c",
            false,
        );
        check("  just 4 \n", None, "just 4", false);
        check("", None, "", false);
    }

    #[test]
    fn early_stop_text_is_the_papers() {
        assert!(EARLY_STOP
            .starts_with("Considering the limited time by the user, I have to give the solution"));
        assert!(EARLY_STOP.ends_with("directly now.\n</think>\n\n"));
        assert_eq!(
            split_thinking(&format!("<think>\nx y{EARLY_STOP}4")).answer,
            "4"
        );
    }
}

//! Sums the requests of one call (usage, latency, attempts) and splits a reply into thinking and answer.

use super::http::Exchange;
use super::types::TokenUsage;
use crate::think::split_thinking;

/// What a request generated, for counting thinking tokens a server does not report.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Generated {
    /// Thinking, an answer, or both: unknown split.
    Mixed,
    /// Only thinking (a thinking cut by the budget).
    AllThinking,
    /// Only an answer (thinking off, or the answer request of budget forcing).
    AnswerOnly,
}

/// A reply split into answer and thinking, with the request it came from.
pub(super) struct Reply {
    pub(super) last: Exchange,
    pub(super) text: String,
    pub(super) reasoning: Option<String>,
    pub(super) forced: bool,
}

impl Reply {
    /// The reply of one request whose text holds the thinking, if any, then the answer.
    pub(super) fn split(last: Exchange) -> Reply {
        let split = split_thinking(&last.text);
        let text = split.answer.to_string();
        let reasoning = last
            .reasoning
            .clone()
            .or(split.reasoning.map(str::to_string));
        Reply {
            last,
            text,
            reasoning,
            forced: false,
        }
    }
}

/// Sums the requests of one call.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) usage: Option<TokenUsage>,
    pub(super) usage_missing: bool,
    pub(super) latency_s: f64,
    pub(super) ttft_s: Option<f64>,
    pub(super) modelled_latency_s: Option<f64>,
    pub(super) modelled_missing: bool,
    pub(super) attempts: u32,
    pub(super) n_requests: u32,
}

impl Tally {
    /// Adds a request; `kind` tells the thinking tokens when the server does not report them.
    pub(super) fn add(&mut self, ex: &Exchange, kind: Generated) {
        if self.n_requests == 0 {
            self.ttft_s = ex.ttft_s;
        }
        self.n_requests += 1;
        self.latency_s += ex.latency_s;
        self.attempts += ex.attempts;
        match ex.modelled_latency_s {
            Some(s) if !self.modelled_missing => *self.modelled_latency_s.get_or_insert(0.0) += s,
            _ => {
                self.modelled_missing = true;
                self.modelled_latency_s = None;
            }
        }
        let Some(usage) = &ex.usage else {
            self.usage_missing = true;
            self.usage = None;
            return;
        };
        if self.usage_missing {
            return;
        }
        let reasoning = usage.reasoning_tokens().or(match kind {
            Generated::Mixed => None,
            Generated::AllThinking => Some(usage.completion_tokens),
            Generated::AnswerOnly => Some(0),
        });
        let total = self.usage.get_or_insert(TokenUsage {
            reasoning_tokens: Some(0),
            ..Default::default()
        });
        total.prompt_tokens += usage.prompt_tokens;
        total.completion_tokens += usage.completion_tokens;
        total.reasoning_tokens = total.reasoning_tokens.zip(reasoning).map(|(a, b)| a + b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowcompile_openai::Usage;

    #[test]
    pub(super) fn tally_sums_forced_thinking_and_answer() {
        let usage = |p, c| Some(Usage::new(p, c));
        let think = Exchange {
            usage: usage(10, 50),
            latency_s: 1.0,
            ttft_s: Some(0.1),
            modelled_latency_s: Some(2.0),
            attempts: 2,
            ..Default::default()
        };
        let answer = Exchange {
            usage: usage(70, 8),
            latency_s: 0.5,
            ttft_s: Some(0.2),
            modelled_latency_s: Some(0.5),
            attempts: 1,
            ..Default::default()
        };
        let mut tally = Tally::default();
        tally.add(&think, Generated::AllThinking);
        tally.add(&answer, Generated::AnswerOnly);
        assert_eq!(
            tally.usage,
            Some(TokenUsage {
                prompt_tokens: 80,
                completion_tokens: 58,
                reasoning_tokens: Some(50)
            })
        );
        assert_eq!(
            (
                tally.latency_s,
                tally.ttft_s,
                tally.modelled_latency_s,
                tally.attempts
            ),
            (1.5, Some(0.1), Some(2.5), 3)
        );
        let mut partial = Tally::default();
        partial.add(
            &Exchange {
                usage: usage(1, 1),
                ..Default::default()
            },
            Generated::Mixed,
        );
        partial.add(&answer, Generated::AnswerOnly);
        assert_eq!(partial.usage.unwrap().reasoning_tokens, None);
        assert_eq!(partial.modelled_latency_s, None);
    }
}

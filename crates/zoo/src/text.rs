//! The text-level entry points: chat messages or raw prompts in, Qwen3-style replies out.

use flowcompile_openai::ChatMessage;

use crate::answer::{answer_key, candidates, end_of_word, final_answer, final_verdict, word_count};
use crate::config::Role;
use crate::hash::{self, combine};
use crate::zoo::{TaskId, Zoo, ZooError};

/// The sentence a client appends to force an answer once the thinking budget is spent (budget forcing);
/// in a `/v1/completions` prompt it is not counted as thinking.
pub const FORCING_PHRASE: &str =
    "Considering the limited time by the user, I have to give the solution based on the thinking directly now.";

/// A prompt asking for this fence gets its answer as a Python program printing it (a `program` agent).
const PYTHON_FENCE: &str = "```python";

/// `answer` as a Python literal: a number as written, anything else as a string (JSON string
/// escapes are valid Python).
fn python_literal(answer: &str) -> String {
    let t = answer.trim();
    let numeric = !t.is_empty()
        && t.parse::<f64>().is_ok_and(f64::is_finite)
        && t.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | 'e' | 'E' | '+'));
    if numeric {
        t.to_string()
    } else {
        serde_json::Value::String(t.to_string()).to_string()
    }
}

/// What the zoo's models are called wherever their results go (artifacts' and reports' models
/// label, served replies): everything made from the zoo says it is synthetic.
pub const LABEL: &str = "zoo (synthetic)";

/// The `system_fingerprint` of every zoo reply: the zoo's [`LABEL`].
pub const SYSTEM_FINGERPRINT: &str = LABEL;

const ASSISTANT_MARKER: &str = "<|im_start|>assistant";
const FILL_TAG: u64 = 0x6669_6c6c;

const SENTENCES: [&str; 6] = [
    "Working through the problem step by step gives the result.",
    "Checking each quantity carefully leads to this.",
    "Combining the given facts yields the result.",
    "After verifying the computation, the result follows.",
    "Putting the pieces together settles it.",
    "Reasoning it through once more confirms it.",
];

const VOCAB: [&str; 48] = [
    "let", "me", "think", "about", "this", "first", "so", "we", "have", "the", "numbers", "then",
    "check", "again", "wait", "maybe", "compute", "step", "next", "value", "total", "each", "part",
    "means", "that", "gives", "hmm", "right", "consider", "case", "now", "add", "subtract",
    "multiply", "divide", "result", "question", "asks", "for", "which", "is", "it", "careful",
    "recheck", "okay", "and", "if", "known",
];

/// The lead sentence of a reply (a short piece of "reasoning" before the answer).
pub(crate) fn sentence(key: u64) -> &'static str {
    SENTENCES[(combine(key, 4) % SENTENCES.len() as u64) as usize]
}

/// Generation options of a text-level call (what the request body asks for).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenOptions {
    /// Sample index (the request's `seed`): same request and sample, same reply.
    pub sample: u64,
    /// Cut the completion (thinking included) at this many tokens, finish reason `length`.
    pub max_tokens: Option<u64>,
    /// Thinking budget: `None` thinks as much as needed, `Some(0)` disables thinking (no `<think>`).
    pub thinking_budget: Option<u64>,
    /// Stop sequences: the completion ends before the first one, finish reason `stop`.
    pub stop: Vec<String>,
}

impl GenOptions {
    /// The thinking budget of a `reasoning_effort` value: low 512, medium 2048, high 8192 tokens.
    pub fn effort_budget(effort: &str) -> Option<u64> {
        match effort {
            "low" => Some(512),
            "medium" => Some(2048),
            "high" => Some(8192),
            _ => None,
        }
    }
}

/// Why a completion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// It finished its answer or hit a stop sequence.
    Stop,
    /// It was cut at `max_tokens`.
    Length,
}

impl FinishReason {
    /// The OpenAI `finish_reason` string.
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
        }
    }
}

/// A text-level reply: what goes on the wire plus what the zoo knows about it.
#[derive(Debug, Clone, PartialEq)]
pub struct TextReply {
    /// The generated text (chat: the message content; completions: the continuation of the prompt).
    pub text: String,
    /// Why generation ended.
    pub finish_reason: FinishReason,
    /// The final answer in the text (the verdict for a judge); `None` when cut before it.
    pub answer: Option<String>,
    /// Whether the answer is right; `None` when the task is unknown.
    pub correct: Option<bool>,
    /// The recognised task.
    pub task: Option<TaskId>,
    /// The role the agent played.
    pub role: Role,
    /// Prompt tokens (words of the prompt).
    pub prompt_tokens: u64,
    /// Completion tokens (words of `text`, tags included).
    pub completion_tokens: u64,
    /// Thinking words in `text`.
    pub reasoning_tokens: u64,
    /// Modelled time to the first token: ttft + prompt / prefill, seconds.
    pub first_token_s: f64,
    /// Modelled total latency: first token + completion / decode, seconds.
    pub latency_s: f64,
}

/// How a completion starts, read from the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nothing generated yet; thinking budget as in [`GenOptions::thinking_budget`].
    Fresh(Option<u64>),
    /// The prompt ends inside `<think>` after `done` thinking words: continue thinking.
    Continue(u64),
    /// The prompt closed `</think>` after `done` thinking words: answer at once.
    AnswerNow(u64),
}

impl Zoo {
    /// A chat completion: `messages` as sent to `/v1/chat/completions`, the agent from the
    /// `x-flowcompile-agent` header. The reply is `<think>\n{thinking}\n</think>\n\n{answer text}`, or
    /// only the answer text with thinking disabled.
    pub fn chat(
        &self,
        model: &str,
        agent: Option<&str>,
        messages: &[ChatMessage],
        opts: &GenOptions,
    ) -> Result<TextReply, ZooError> {
        let prompt = messages
            .iter()
            .map(ChatMessage::text)
            .collect::<Vec<_>>()
            .join("\n\n");
        let tokens = word_count(&prompt);
        self.generate(
            model,
            agent,
            &prompt,
            tokens,
            Mode::Fresh(opts.thinking_budget),
            opts,
        )
    }

    /// A raw completion of `prompt` (a chat template already rendered, e.g. Qwen's). Thinking already in
    /// the prompt after the last `<|im_start|>assistant` (or anywhere without template markers) counts:
    /// an open `<think>` is continued up to the need, a closed one makes the model answer at once with
    /// the thinking words in the prompt as its budget (budget forcing).
    pub fn complete(
        &self,
        model: &str,
        agent: Option<&str>,
        prompt: &str,
        opts: &GenOptions,
    ) -> Result<TextReply, ZooError> {
        let marker = prompt.rfind(ASSISTANT_MARKER);
        let from = marker.map_or(0, |i| i + ASSISTANT_MARKER.len());
        let (region_end, mode) = match prompt[from..].find("<think>") {
            Some(t) => {
                let open = from + t;
                let after = open + "<think>".len();
                let mode = match prompt[after..].find("</think>") {
                    Some(c) => Mode::AnswerNow(thinking_words(&prompt[after..after + c])),
                    None => Mode::Continue(word_count(&prompt[after..])),
                };
                (marker.unwrap_or(open), mode)
            }
            None => (
                marker.unwrap_or(prompt.len()),
                Mode::Fresh(opts.thinking_budget),
            ),
        };
        self.generate(
            model,
            agent,
            &prompt[..region_end],
            word_count(prompt),
            mode,
            opts,
        )
    }

    fn generate(
        &self,
        model: &str,
        agent: Option<&str>,
        region: &str,
        prompt_tokens: u64,
        mode: Mode,
        opts: &GenOptions,
    ) -> Result<TextReply, ZooError> {
        let model_id = self.require_model(model)?;
        let entry = self.model_entry(model_id);
        let agent = agent.unwrap_or("");
        let role = self.role_of(agent);
        let (task, view, cand_region) = match self.find_task_end(region) {
            Some((id, end)) => (Some(id), self.view(id, model_id)?, &region[end..]),
            None => (None, self.unknown_view(hash::bytes(region), entry), region),
        };
        let cands: Vec<&str> = candidates(cand_region)
            .into_iter()
            .map(|(_, a)| a)
            .collect();
        let keys: Vec<u64> = cands.iter().map(|c| answer_key(c)).collect();
        let budget = match mode {
            Mode::Fresh(b) => b.unwrap_or(u64::MAX),
            Mode::Continue(_) => u64::MAX,
            Mode::AnswerNow(done) => done,
        };
        let d = self.decide(
            entry,
            hash::bytes(agent),
            role,
            &view,
            &cands,
            &keys,
            budget,
            opts.sample,
        );

        let lead = sentence(d.key);
        let as_program = role != Role::Judge && region.contains(PYTHON_FENCE);
        let answer_text = if role == Role::Judge {
            format!("{lead} The verdict is <verdict>{}</verdict>", d.answer)
        } else if as_program {
            format!(
                "{lead}\n{PYTHON_FENCE}\nprint({})\n```",
                python_literal(&d.answer)
            )
        } else if region.contains("<answer>") {
            format!("{lead} The final answer is <answer>{}</answer>", d.answer)
        } else {
            format!("{lead} The final answer is \\boxed{{{}}}.", d.answer)
        };
        let fill_key = [view.key, entry.name_hash, opts.sample]
            .into_iter()
            .fold(self.config().seed ^ FILL_TAG, combine);
        let mut text = String::new();
        match mode {
            Mode::Fresh(Some(0)) | Mode::AnswerNow(_) => {}
            Mode::Fresh(_) => {
                text.push_str("<think>\n");
                push_filler(&mut text, fill_key, 0, d.thinking);
                text.push_str("\n</think>\n\n");
            }
            Mode::Continue(done) => {
                if d.thinking > done {
                    text.push(' ');
                    push_filler(&mut text, fill_key, done, d.thinking);
                }
                text.push_str("\n</think>\n\n");
            }
        }
        text.push_str(&answer_text);

        let mut finish = FinishReason::Stop;
        let mut cut = opts
            .stop
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| text.find(s.as_str()))
            .min()
            .unwrap_or(text.len());
        if let Some(max) = opts.max_tokens {
            if word_count(&text[..cut]) > max {
                cut = end_of_word(&text, max);
                finish = FinishReason::Length;
            }
        }
        text.truncate(cut);

        let thinking_part = match mode {
            Mode::Fresh(Some(0)) | Mode::AnswerNow(_) => "",
            Mode::Fresh(_) => text.get("<think>".len()..).unwrap_or(""),
            Mode::Continue(_) => &text,
        };
        let reasoning_tokens = word_count(thinking_part.split("</think>").next().unwrap_or(""));
        let answer = if role == Role::Judge {
            final_verdict(&text).map(str::to_owned)
        } else if as_program {
            text.ends_with("\n```").then(|| d.answer.to_string())
        } else {
            final_answer(&text).map(str::to_owned)
        };
        let correct = match (&answer, task) {
            (Some(_), _) => d.correct,
            (None, Some(_)) => Some(false),
            (None, None) => None,
        };
        let completion_tokens = word_count(&text);
        let first_token_s = entry.ttft_s + prompt_tokens as f64 / entry.prefill_tok_s;
        Ok(TextReply {
            text,
            finish_reason: finish,
            answer,
            correct,
            task,
            role,
            prompt_tokens,
            completion_tokens,
            reasoning_tokens,
            first_token_s,
            latency_s: first_token_s + completion_tokens as f64 / entry.decode_tok_s,
        })
    }
}

/// Thinking words of a closed thought, not counting a trailing [`FORCING_PHRASE`].
fn thinking_words(thought: &str) -> u64 {
    let t = thought.trim_end();
    word_count(t.strip_suffix(FORCING_PHRASE).unwrap_or(t))
}

/// Appends thinking words `from..to` (word i depends only on `key` and i, so a continuation matches).
fn push_filler(out: &mut String, key: u64, from: u64, to: u64) {
    out.reserve(((to - from) * 7) as usize);
    for i in from..to {
        if i > from {
            out.push(' ');
        }
        out.push_str(VOCAB[(combine(key, i) % VOCAB.len() as u64) as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::word_count;
    use crate::{TaskSet, ZooConfig, ZooRequest};

    const Q: &str = "Tom has 12 apples and eats 5 of them. How many apples are left?";

    fn zoo() -> Zoo {
        let line = format!(r#"{{"question": "{Q}", "answer": "7", "level": 4}}"#);
        Zoo::new(
            ZooConfig::default(),
            vec![TaskSet::from_jsonl("gsm8k_t.jsonl", &line).unwrap()],
        )
        .unwrap()
    }

    fn user(text: &str) -> Vec<ChatMessage> {
        vec![
            ChatMessage::system("You are a careful solver."),
            ChatMessage::user(text),
        ]
    }

    fn opts(sample: u64) -> GenOptions {
        GenOptions {
            sample,
            ..Default::default()
        }
    }

    fn qwen(user_text: &str, assistant: &str) -> String {
        format!("<|im_start|>user\n{user_text}<|im_end|>\n<|im_start|>assistant\n{assistant}")
    }

    #[test]
    fn chat_reply_thinks_the_need_then_answers_like_respond() {
        let zoo = zoo();
        let m = zoo.model_id("zoo-4b").unwrap();
        let task = zoo.find_task(Q).unwrap();
        let need = zoo.need_tokens(task, m).unwrap();
        for sample in 0..20 {
            let r = zoo
                .chat(
                    "zoo-4b",
                    Some("solver"),
                    &user(&format!("Solve: {Q}")),
                    &opts(sample),
                )
                .unwrap();
            assert!(
                r.text.starts_with("<think>\n") && r.text.contains("\n</think>\n\n"),
                "{}",
                r.text
            );
            assert_eq!(r.reasoning_tokens, need);
            assert_eq!(r.finish_reason, FinishReason::Stop);
            assert_eq!(r.task, Some(task));
            let inproc = zoo
                .respond(&ZooRequest {
                    model: m,
                    agent: "solver",
                    role: Role::Solve,
                    task: Some(task),
                    inputs: &[],
                    budget_tokens: u64::MAX,
                    sample,
                })
                .unwrap();
            assert_eq!(r.answer.as_deref(), Some(inproc.answer.as_ref()));
            assert_eq!(r.correct, inproc.correct);
            assert_eq!(
                r.completion_tokens,
                inproc.thinking_tokens + inproc.output_tokens
            );
            assert_eq!(r.completion_tokens, word_count(&r.text));
            let spec = &zoo.config().models[1 + 1];
            let want = spec.ttft_s
                + r.prompt_tokens as f64 / spec.prefill_tok_s
                + r.completion_tokens as f64 / spec.decode_tok_s;
            assert!((r.latency_s - want).abs() < 1e-12);
            assert!(
                r.text.ends_with(&format!("\\boxed{{{}}}.", inproc.answer)),
                "{}",
                r.text
            );
        }
    }

    #[test]
    fn thinking_can_be_disabled_or_capped_and_the_format_follows_the_prompt() {
        let zoo = zoo();
        let off = GenOptions {
            thinking_budget: Some(0),
            ..opts(0)
        };
        let r = zoo.chat("zoo-8b", None, &user(Q), &off).unwrap();
        assert!(!r.text.contains("<think>"), "{}", r.text);
        assert_eq!(r.reasoning_tokens, 0);
        let capped = GenOptions {
            thinking_budget: GenOptions::effort_budget("low"),
            ..opts(0)
        };
        let task = zoo.find_task(Q).unwrap();
        let need = zoo
            .need_tokens(task, zoo.model_id("zoo-0.6b").unwrap())
            .unwrap();
        let r = zoo.chat("zoo-0.6b", None, &user(Q), &capped).unwrap();
        assert_eq!(r.reasoning_tokens, need.min(512));
        let r = zoo
            .chat(
                "zoo-8b",
                None,
                &user(&format!("{Q}\nReply as <answer>N</answer>.")),
                &opts(0),
            )
            .unwrap();
        let ans = r.answer.clone().unwrap();
        assert!(
            r.text.ends_with(&format!("<answer>{ans}</answer>")),
            "{}",
            r.text
        );
        assert_eq!(GenOptions::effort_budget("extreme"), None);
    }

    #[test]
    fn max_tokens_and_stop_cut_the_completion() {
        let zoo = zoo();
        let cut = GenOptions {
            max_tokens: Some(10),
            ..opts(0)
        };
        let r = zoo.chat("zoo-8b", None, &user(Q), &cut).unwrap();
        assert_eq!(
            (r.finish_reason, r.completion_tokens, r.reasoning_tokens),
            (FinishReason::Length, 10, 9)
        );
        assert_eq!((r.answer.as_deref(), r.correct), (None, Some(false)));
        let stop = GenOptions {
            stop: vec!["</think>".into()],
            ..opts(0)
        };
        let r = zoo.chat("zoo-8b", None, &user(Q), &stop).unwrap();
        assert_eq!(r.finish_reason, FinishReason::Stop);
        assert!(
            !r.text.contains("</think>") && r.answer.is_none(),
            "{}",
            r.text
        );
        let loose = GenOptions {
            max_tokens: Some(100_000),
            stop: vec![String::new()],
            ..opts(0)
        };
        let r = zoo.chat("zoo-8b", None, &user(Q), &loose).unwrap();
        assert_eq!(r.finish_reason, FinishReason::Stop);
        assert!(r.answer.is_some());
        let zero = GenOptions {
            max_tokens: Some(0),
            ..opts(0)
        };
        let r = zoo.chat("zoo-8b", None, &user(Q), &zero).unwrap();
        assert_eq!(
            (r.text.as_str(), r.completion_tokens, r.finish_reason),
            ("", 0, FinishReason::Length)
        );
    }

    #[test]
    fn a_prompt_asking_for_python_gets_a_program_printing_the_answer() {
        let zoo = zoo();
        let prompt = format!("Write a program. Reply with one ```python code block.\nProblem: {Q}");
        for s in 0..5 {
            let r = zoo
                .chat("zoo-14b", Some("programmer"), &user(&prompt), &opts(s))
                .unwrap();
            let answer = r.answer.clone().unwrap();
            assert!(
                r.text
                    .ends_with(&format!("```python\nprint({answer})\n```")),
                "{}",
                r.text
            );
            assert_eq!(r.correct, Some(answer == "7"));
        }
        assert_eq!(python_literal("-12.5"), "-12.5");
        assert_eq!(python_literal("\\frac{1}{2}"), "\"\\\\frac{1}{2}\"");
        assert_eq!(python_literal("say \"hi\""), "\"say \\\"hi\\\"\"");
    }

    #[test]
    fn candidates_after_the_question_feed_select_refine_and_judge() {
        let zoo = zoo();
        let prompt = format!("Example: \\boxed{{99}}\nQuestion: {Q}\nSolution A: ... \\boxed{{7}}\nSolution B: ... \\boxed{{8}}\nSolution C: so <answer>7</answer>");
        for s in 0..10 {
            let r = zoo
                .chat("zoo-14b", Some("sc_ensemble"), &user(&prompt), &opts(s))
                .unwrap();
            assert_eq!(r.role, Role::Select);
            let a = r.answer.unwrap();
            assert!(
                a == "7" || a == "8",
                "only candidates after the question: {a}"
            );
            let j = zoo
                .chat("zoo-14b", Some("judge"), &user(&prompt), &opts(s))
                .unwrap();
            let v = j.answer.unwrap();
            assert!(j.text.ends_with(&format!("<verdict>{v}</verdict>")));
            assert_eq!(
                j.correct,
                Some(v == "correct"),
                "the last candidate (7) is right"
            );
        }
    }

    #[test]
    fn completion_budget_forcing_round_trip() {
        let zoo = zoo();
        let m = zoo.model_id("zoo-1.7b").unwrap();
        let task = zoo.find_task(Q).unwrap();
        let need = zoo.need_tokens(task, m).unwrap();
        let prompt = qwen(Q, "");
        let budget = 40;
        assert!(need > budget + 10);
        for sample in 0..10 {
            let first = GenOptions {
                max_tokens: Some(budget),
                ..opts(sample)
            };
            let a = zoo
                .complete("zoo-1.7b", Some("solver"), &prompt, &first)
                .unwrap();
            assert_eq!(
                (a.finish_reason, a.completion_tokens),
                (FinishReason::Length, budget)
            );
            assert!(a.text.starts_with("<think>\n"));
            let forced = format!("{prompt}{}\n{FORCING_PHRASE}\n</think>\n\n", a.text);
            let b = zoo
                .complete("zoo-1.7b", Some("solver"), &forced, &opts(sample))
                .unwrap();
            assert_eq!(
                (b.finish_reason, b.reasoning_tokens),
                (FinishReason::Stop, 0)
            );
            assert!(!b.text.contains("think"), "{}", b.text);
            let inproc = zoo
                .respond(&ZooRequest {
                    model: m,
                    agent: "solver",
                    role: Role::Solve,
                    task: Some(task),
                    inputs: &[],
                    budget_tokens: budget - 1,
                    sample,
                })
                .unwrap();
            assert_eq!(
                b.answer.as_deref(),
                Some(inproc.answer.as_ref()),
                "budget = thinking words in the prompt"
            );
            assert_eq!(b.correct, inproc.correct);
        }
    }

    #[test]
    fn an_open_think_is_continued_exactly() {
        let zoo = zoo();
        let prompt = qwen(Q, "");
        let full = zoo.complete("zoo-4b", None, &prompt, &opts(3)).unwrap();
        let cut = zoo
            .complete(
                "zoo-4b",
                None,
                &prompt,
                &GenOptions {
                    max_tokens: Some(25),
                    ..opts(3)
                },
            )
            .unwrap();
        let rest = zoo
            .complete("zoo-4b", None, &format!("{prompt}{}", cut.text), &opts(3))
            .unwrap();
        assert_eq!(format!("{}{}", cut.text, rest.text), full.text);
        assert_eq!(
            cut.reasoning_tokens + rest.reasoning_tokens,
            full.reasoning_tokens
        );
        assert_eq!(rest.answer, full.answer);
        let bare = zoo
            .complete(
                "zoo-4b",
                None,
                &format!("{Q}\n<think>\nsome thoughts\n</think>\n\n"),
                &opts(3),
            )
            .unwrap();
        assert_eq!((bare.reasoning_tokens, bare.task.is_some()), (0, true));
        assert!(bare.answer.is_some());
    }

    #[test]
    fn unknown_prompts_and_models() {
        let zoo = zoo();
        let a = zoo
            .chat("zoo-4b", None, &user("Tell me a joke."), &opts(0))
            .unwrap();
        assert_eq!((a.task, a.correct), (None, None));
        assert!(a.answer.is_some());
        assert_eq!(
            a,
            zoo.chat("zoo-4b", None, &user("Tell me a joke."), &opts(0))
                .unwrap()
        );
        let err = zoo.complete("llama", None, "hi", &opts(0)).unwrap_err();
        assert!(
            err.to_string().starts_with("unknown model `llama`"),
            "{err}"
        );
    }
}

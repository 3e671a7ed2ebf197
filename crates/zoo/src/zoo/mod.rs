//! The zoo itself: tasks with their difficulty and popular wrong answers, models, and the in-process
//! entry point [`Zoo::respond`].

use std::borrow::Cow;

use crate::answer::{answer_key, word_count, wrong_answers};
use crate::config::{ConfigError, Role, ZooConfig};
use crate::hash::{self, combine, normal};
use crate::index::QuestionIndex;
use crate::tasks::{Task, TaskSet};

mod decide;

pub(crate) use decide::{Known, TaskView};

const DIFFICULTY_TAG: u64 = 0x6469_6666;
const WRONG_TAG: u64 = 0x0077_726f_6e67;
const UNKNOWN_TAG: u64 = 0x756e_6b6e;

/// Identifies a task of one [`Zoo`] (an index in load order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(u32);

impl TaskId {
    /// The task's position in load order (file by file, line by line).
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Identifies a model of one [`Zoo`] (an index in the config's model list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelId(u32);

impl ModelId {
    /// The model's position in the config's model list.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A request the zoo cannot serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ZooError {
    /// No model has this name.
    #[error("unknown model `{model}`; the zoo serves {known}")]
    UnknownModel {
        /// The requested name.
        model: String,
        /// The served names, comma-separated.
        known: String,
    },
    /// A [`ModelId`] from another zoo.
    #[error("model id {0} is out of range for this zoo")]
    ModelIdOutOfRange(usize),
    /// A [`TaskId`] from another zoo.
    #[error("task id {0} is out of range for this zoo")]
    TaskIdOutOfRange(usize),
}

/// One in-process call: what a workflow's agent asks of a model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZooRequest<'a> {
    /// The model.
    pub model: ModelId,
    /// The agent's name: part of every draw, so two agents with the same role answer independently.
    pub agent: &'a str,
    /// What the agent does with its inputs.
    pub role: Role,
    /// The task, or `None` for a prompt the zoo does not know (correctness is then undefined).
    pub task: Option<TaskId>,
    /// Candidate answers given to the agent (for refine, select, format, judge).
    pub inputs: &'a [&'a str],
    /// Thinking budget in tokens (0 = no thinking, `u64::MAX` = as much as the model needs).
    pub budget_tokens: u64,
    /// Sample index: distinct samples are independent draws, the same sample gives the same reply.
    pub sample: u64,
}

/// The zoo's reply to a [`ZooRequest`].
#[derive(Debug, Clone, PartialEq)]
pub struct ZooReply<'a> {
    /// The final answer (`correct` / `incorrect` for a judge); borrowed from the zoo or the inputs.
    pub answer: Cow<'a, str>,
    /// Whether the answer is right (for a judge: whether the verdict is); `None` for an unknown task.
    pub correct: Option<bool>,
    /// Thinking tokens spent: min(budget, need).
    pub thinking_tokens: u64,
    /// Other completion tokens: the answer text and the two `<think>` tags when thinking.
    pub output_tokens: u64,
    /// Estimated prompt tokens (see `behaviour.prompt_overhead_tokens` in the config).
    pub prompt_tokens: u64,
    /// Modelled latency: ttft + prompt / prefill + completion / decode, seconds.
    pub latency_s: f64,
}

pub(crate) struct ModelEntry {
    pub name_hash: u64,
    pub ability: f64,
    pub need_tokens: f64,
    pub prefill_tok_s: f64,
    pub decode_tok_s: f64,
    pub ttft_s: f64,
}

struct TaskEntry {
    task: Task,
    key: u64,
    difficulty: f64,
    /// The seeded standard normal in `difficulty`.
    z: f64,
    gold_key: u64,
    wrong: Vec<String>,
    prompt_words: u64,
}
/// A family of deterministic synthetic LLMs over a set of known tasks.
///
/// Built once from a [`ZooConfig`] and [`TaskSet`]s; every method is a pure function of them and its
/// arguments, and `&self` methods can be called from many threads at once.
pub struct Zoo {
    config: ZooConfig,
    models: Vec<ModelEntry>,
    tasks: Vec<TaskEntry>,
    /// Thinking tokens needed, `[task * n_models + model]`.
    needs: Vec<u64>,
    index: QuestionIndex,
    wrong_cdf: Vec<f64>,
}

impl std::fmt::Debug for Zoo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Zoo")
            .field("seed", &self.config.seed)
            .field("models", &self.model_names().collect::<Vec<_>>())
            .field("n_tasks", &self.tasks.len())
            .finish()
    }
}

impl Zoo {
    /// Builds a zoo: validates `config`, derives each task's difficulty, thinking need per model and
    /// popular wrong answers, and indexes the questions.
    pub fn new(config: ZooConfig, task_sets: Vec<TaskSet>) -> Result<Zoo, ConfigError> {
        config.validate("config")?;
        let models: Vec<ModelEntry> = config
            .models
            .iter()
            .map(|m| ModelEntry {
                name_hash: hash::bytes(&m.name),
                ability: m.ability,
                need_tokens: m.need_tokens as f64,
                prefill_tok_s: m.prefill_tok_s,
                decode_tok_s: m.decode_tok_s,
                ttft_s: m.ttft_s,
            })
            .collect();
        let total: f64 = config.behaviour.wrong_weights.iter().sum();
        let wrong_cdf = config
            .behaviour
            .wrong_weights
            .iter()
            .scan(0.0, |acc, w| {
                *acc += w / total;
                Some(*acc)
            })
            .collect();
        let mut zoo = Zoo {
            models,
            tasks: Vec::new(),
            needs: Vec::new(),
            index: QuestionIndex::default(),
            wrong_cdf,
            config,
        };
        for set in task_sets {
            let (offset, need_scale) = match zoo.config.dataset_for(&set.name) {
                Some((_, d)) => (d.difficulty, d.need_scale),
                None => (0.0, 1.0),
            };
            for task in set.tasks {
                zoo.add_task(task, offset, need_scale);
            }
        }
        Ok(zoo)
    }

    fn add_task(&mut self, task: Task, offset: f64, need_scale: f64) {
        let c = &self.config;
        let key = combine(c.seed, hash::bytes(&task.question));
        let level = f64::from(task.level.unwrap_or(3)) - 3.0;
        let z = normal(combine(key, DIFFICULTY_TAG));
        let difficulty = offset + c.difficulty.level_step * level + c.difficulty.spread * z;
        let need_factor = need_scale * (c.difficulty.need_growth * difficulty).exp();
        for m in &self.models {
            self.needs
                .push(need_for(m.need_tokens * need_factor, c.max_need_tokens));
        }
        let titles: Vec<String> = task.context.iter().map(|(t, _)| t.clone()).collect();
        let wrong = wrong_answers(
            &task.answer,
            &titles,
            c.behaviour.wrong_weights.len(),
            combine(key, WRONG_TAG),
        );
        let context_words: u64 = task
            .context
            .iter()
            .map(|(t, ss)| word_count(t) + ss.iter().map(|s| word_count(s)).sum::<u64>())
            .sum();
        self.index.push(&task.question);
        self.tasks.push(TaskEntry {
            key,
            difficulty,
            z,
            gold_key: answer_key(&task.answer),
            wrong,
            prompt_words: word_count(&task.question) + context_words,
            task,
        });
    }

    /// The configuration in use.
    pub fn config(&self) -> &ZooConfig {
        &self.config
    }

    /// The model with this name.
    pub fn model_id(&self, name: &str) -> Option<ModelId> {
        self.config
            .models
            .iter()
            .position(|m| m.name == name)
            .map(|i| ModelId(i as u32))
    }

    /// The model with this name, or an error listing the served names.
    pub fn require_model(&self, name: &str) -> Result<ModelId, ZooError> {
        self.model_id(name).ok_or_else(|| ZooError::UnknownModel {
            model: name.to_owned(),
            known: self.model_names().collect::<Vec<_>>().join(", "),
        })
    }

    /// The served model names, in config order.
    pub fn model_names(&self) -> impl Iterator<Item = &str> {
        self.config.models.iter().map(|m| m.name.as_str())
    }

    /// The role an agent plays (config `roles`, default solve).
    pub fn role_of(&self, agent: &str) -> Role {
        self.config.role_of(agent)
    }

    /// Number of known tasks.
    pub fn n_tasks(&self) -> usize {
        self.tasks.len()
    }

    /// Every task id, in load order.
    pub fn task_ids(&self) -> impl Iterator<Item = TaskId> {
        (0..self.tasks.len() as u32).map(TaskId)
    }

    /// A known task.
    pub fn task(&self, id: TaskId) -> Option<&Task> {
        self.tasks.get(id.index()).map(|t| &t.task)
    }

    /// A task's difficulty d in logits (solve succeeds with sigmoid(eff - d)).
    pub fn difficulty(&self, id: TaskId) -> Option<f64> {
        self.tasks.get(id.index()).map(|t| t.difficulty)
    }

    /// The thinking tokens `model` needs for task `id`; more budget than this does not help.
    pub fn need_tokens(&self, id: TaskId, model: ModelId) -> Option<u64> {
        if model.index() >= self.models.len() {
            return None;
        }
        self.needs
            .get(id.index() * self.models.len() + model.index())
            .copied()
    }

    /// The task's popular wrong answers, most popular first.
    pub fn wrong_answers(&self, id: TaskId) -> Option<&[String]> {
        self.tasks.get(id.index()).map(|t| t.wrong.as_slice())
    }

    /// Grades `answer` against the task's gold answer with the zoo's normalisation
    /// (case, spacing, `$`, trailing periods and number formatting ignored).
    pub fn is_correct(&self, id: TaskId, answer: &str) -> Option<bool> {
        self.tasks
            .get(id.index())
            .map(|t| answer_key(answer) == t.gold_key)
    }

    /// The known task whose question occurs in `text` (the last one when several do).
    pub fn find_task(&self, text: &str) -> Option<TaskId> {
        self.index.find(text).map(|f| TaskId(f.idx))
    }

    pub(crate) fn find_task_end(&self, text: &str) -> Option<(TaskId, usize)> {
        self.index.find(text).map(|f| (TaskId(f.idx), f.end))
    }

    /// The in-process entry point: one call of `req.model` as agent `req.agent`, fast (no text).
    pub fn respond<'a>(&'a self, req: &ZooRequest<'a>) -> Result<ZooReply<'a>, ZooError> {
        let model = self
            .models
            .get(req.model.index())
            .ok_or(ZooError::ModelIdOutOfRange(req.model.index()))?;
        let view = match req.task {
            Some(id) => self.view(id, req.model)?,
            None => self.unknown_view(0, model),
        };
        let mut keys = [0u64; 16];
        let input_keys: Cow<'_, [u64]> = if req.inputs.len() <= keys.len() {
            for (k, s) in keys.iter_mut().zip(req.inputs) {
                *k = answer_key(s);
            }
            Cow::Borrowed(&keys[..req.inputs.len()])
        } else {
            Cow::Owned(req.inputs.iter().map(|s| answer_key(s)).collect())
        };
        let d = self.decide(
            model,
            hash::bytes(req.agent),
            req.role,
            &view,
            req.inputs,
            &input_keys,
            req.budget_tokens,
            req.sample,
        );
        let b = &self.config.behaviour;
        let tags = if d.thinking > 0 { 2 } else { 0 };
        let output_tokens = tags + self.answer_words(req.role, d.key, &d.answer);
        let prompt_tokens = b.prompt_overhead_tokens
            + view.prompt_words
            + req
                .inputs
                .iter()
                .map(|s| word_count(s) + b.input_overhead_tokens)
                .sum::<u64>();
        let latency_s = model.ttft_s
            + prompt_tokens as f64 / model.prefill_tok_s
            + (d.thinking + output_tokens) as f64 / model.decode_tok_s;
        Ok(ZooReply {
            answer: d.answer,
            correct: d.correct,
            thinking_tokens: d.thinking,
            output_tokens,
            prompt_tokens,
            latency_s,
        })
    }

    pub(crate) fn model_entry(&self, id: ModelId) -> &ModelEntry {
        &self.models[id.index()]
    }

    pub(crate) fn view(&self, id: TaskId, model: ModelId) -> Result<TaskView<'_>, ZooError> {
        let t = self
            .tasks
            .get(id.index())
            .ok_or(ZooError::TaskIdOutOfRange(id.index()))?;
        Ok(TaskView {
            key: t.key,
            difficulty: t.difficulty,
            z: t.z,
            need: self.needs[id.index() * self.models.len() + model.index()],
            prompt_words: t.prompt_words,
            known: Some(Known {
                gold: &t.task.answer,
                gold_key: t.gold_key,
                wrong: &t.wrong,
            }),
        })
    }

    /// A view of an unknown prompt identified by `prompt_hash`: a seeded difficulty of level 3.
    pub(crate) fn unknown_view(&self, prompt_hash: u64, model: &ModelEntry) -> TaskView<'static> {
        let c = &self.config;
        let key = combine(combine(c.seed, UNKNOWN_TAG), prompt_hash);
        let z = normal(combine(key, DIFFICULTY_TAG));
        let difficulty = c.difficulty.spread * z;
        let need_factor = (c.difficulty.need_growth * difficulty).exp();
        TaskView {
            key,
            difficulty,
            z,
            need: need_for(model.need_tokens * need_factor, c.max_need_tokens),
            prompt_words: 0,
            known: None,
        }
    }

    /// Words of the answer text [`crate::text`] renders for `answer` (same count for both formats).
    pub(crate) fn answer_words(&self, role: Role, key: u64, answer: &str) -> u64 {
        let lead = crate::text::sentence(key);
        word_count(lead) + 4 + word_count(answer).max(1) - u64::from(role == Role::Judge)
    }
}

fn need_for(raw: f64, max: u64) -> u64 {
    (raw.round() as u64).clamp(1, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TASKS: &str = concat!(
        r#"{"question": "A farmer has 17 sheep and buys 5 more. How many sheep now?", "answer": "22", "level": 1}"#,
        "\n",
        r#"{"question": "Compute the number of ways to tile a 3 by 8 board with dominoes.", "answer": "153", "level": 5}"#,
        "\n",
        r#"{"question": "Which river flows through the capital of Austria?", "answer": "Danube", "context": [["Danube", ["The Danube flows through Vienna."]], ["Rhine", ["x"]], ["Vienna", ["y"]]]}"#,
    );

    fn zoo() -> Zoo {
        Zoo::new(
            ZooConfig::default(),
            vec![TaskSet::from_jsonl("gsm8k_unit.jsonl", TASKS).unwrap()],
        )
        .unwrap()
    }

    fn req<'a>(
        zoo: &Zoo,
        model: &str,
        role: Role,
        task: u32,
        inputs: &'a [&'a str],
        budget: u64,
        sample: u64,
    ) -> ZooRequest<'a> {
        ZooRequest {
            model: zoo.model_id(model).unwrap(),
            agent: "agent",
            role,
            task: Some(TaskId(task)),
            inputs,
            budget_tokens: budget,
            sample,
        }
    }

    /// Fraction of `n` samples whose reply is correct.
    fn rate(zoo: &Zoo, r: ZooRequest<'_>, n: u64) -> f64 {
        (0..n)
            .filter(|&s| zoo.respond(&ZooRequest { sample: s, ..r }).unwrap().correct == Some(true))
            .count() as f64
            / n as f64
    }

    #[test]
    fn replies_are_deterministic_and_samples_independent() {
        let zoo = zoo();
        let r = req(&zoo, "zoo-1.7b", Role::Solve, 1, &[], 500, 3);
        assert_eq!(zoo.respond(&r).unwrap(), zoo.respond(&r).unwrap());
        let answers: std::collections::BTreeSet<String> = (0..200)
            .map(|s| {
                zoo.respond(&ZooRequest { sample: s, ..r })
                    .unwrap()
                    .answer
                    .into_owned()
            })
            .collect();
        assert!(answers.len() >= 2, "samples differ: {answers:?}");
        assert!(
            answers.len() <= 1 + zoo.config().behaviour.wrong_weights.len(),
            "wrong answers come from a small set: {answers:?}"
        );
        let other_agent = (0..200)
            .filter(|&s| {
                let a = zoo.respond(&ZooRequest { sample: s, ..r }).unwrap();
                let b = zoo
                    .respond(&ZooRequest {
                        sample: s,
                        agent: "other",
                        ..r
                    })
                    .unwrap();
                a.answer != b.answer
            })
            .count();
        assert!(other_agent > 0, "agents draw independently");
    }

    #[test]
    fn budget_past_the_need_changes_nothing_and_below_it_costs_accuracy() {
        let zoo = zoo();
        let m = zoo.model_id("zoo-4b").unwrap();
        let need = zoo.need_tokens(TaskId(1), m).unwrap();
        assert!(need > 1 && need <= zoo.config().max_need_tokens);
        let full = req(&zoo, "zoo-4b", Role::Solve, 1, &[], need, 9);
        let more = ZooRequest {
            budget_tokens: u64::MAX,
            ..full
        };
        assert_eq!(zoo.respond(&full).unwrap(), zoo.respond(&more).unwrap());
        assert_eq!(zoo.respond(&more).unwrap().thinking_tokens, need);
        let low = rate(
            &zoo,
            ZooRequest {
                budget_tokens: 0,
                ..full
            },
            4000,
        );
        let high = rate(&zoo, full, 4000);
        assert!(low + 0.03 < high, "thinking helps: {low} vs {high}");
    }

    #[test]
    fn bigger_models_are_better_and_slower() {
        let zoo = zoo();
        let names: Vec<&str> = zoo.model_names().collect();
        let rates: Vec<f64> = names
            .iter()
            .map(|m| rate(&zoo, req(&zoo, m, Role::Solve, 1, &[], u64::MAX, 0), 3000))
            .collect();
        assert!(rates.windows(2).all(|w| w[0] < w[1]), "{rates:?}");
        let lat: Vec<f64> = names
            .iter()
            .map(|m| {
                zoo.respond(&req(&zoo, m, Role::Solve, 0, &[], 100, 0))
                    .unwrap()
                    .latency_s
            })
            .collect();
        assert!(lat.windows(2).all(|w| w[0] < w[1]), "{lat:?}");
    }

    #[test]
    fn usage_and_latency_follow_the_model() {
        let zoo = zoo();
        let r = req(&zoo, "zoo-8b", Role::Refine, 0, &["22", "23"], 50, 1);
        let reply = zoo.respond(&r).unwrap();
        assert_eq!(reply.thinking_tokens, 50);
        let spec = &zoo.config().models[3];
        let b = &zoo.config().behaviour;
        let question_words = 13;
        assert_eq!(
            reply.prompt_tokens,
            b.prompt_overhead_tokens + question_words + 2 * (1 + b.input_overhead_tokens)
        );
        let expected = spec.ttft_s
            + reply.prompt_tokens as f64 / spec.prefill_tok_s
            + (reply.thinking_tokens + reply.output_tokens) as f64 / spec.decode_tok_s;
        assert!((reply.latency_s - expected).abs() < 1e-12);
        let no_think = zoo
            .respond(&ZooRequest {
                budget_tokens: 0,
                ..r
            })
            .unwrap();
        assert_eq!(no_think.thinking_tokens, 0);
        assert!(no_think.output_tokens >= 6);
    }

    #[test]
    fn roles_transform_their_inputs() {
        let zoo = zoo();
        let wrong = zoo.wrong_answers(TaskId(1)).unwrap().to_vec();
        let (w0, w1) = (wrong[0].as_str(), wrong[1].as_str());
        let m = "zoo-8b";
        let n = 2000;
        let keep = rate(&zoo, req(&zoo, m, Role::Refine, 1, &["153"], 1000, 0), n);
        let fix = rate(&zoo, req(&zoo, m, Role::Refine, 1, &[w0], 1000, 0), n);
        let solve = rate(&zoo, req(&zoo, m, Role::Solve, 1, &[], 1000, 0), n);
        assert!(
            keep > solve && solve > fix,
            "refine: keep {keep}, solve {solve}, fix {fix}"
        );

        let maj = rate(
            &zoo,
            req(&zoo, m, Role::Select, 1, &["153", w0, "153"], 1000, 0),
            n,
        );
        let minority = rate(
            &zoo,
            req(&zoo, m, Role::Select, 1, &[w0, "153", w0], 1000, 0),
            n,
        );
        let lone = rate(
            &zoo,
            req(&zoo, m, Role::Select, 1, &[w0, "153", w1], 1000, 0),
            n,
        );
        assert!(
            maj > lone && lone > minority,
            "select: {maj} {lone} {minority}"
        );
        let no_right = [w1, w0, w0];
        let none = zoo
            .respond(&req(&zoo, m, Role::Select, 1, &no_right, 1000, 5))
            .unwrap();
        assert_eq!(
            (none.answer.as_ref(), none.correct),
            (w0, Some(false)),
            "majority without a right candidate"
        );
        let all = rate(
            &zoo,
            req(&zoo, m, Role::Select, 1, &["153", "153"], 1000, 0),
            200,
        );
        assert_eq!(all, 1.0, "unanimous right candidates are kept");

        let fmt = rate(&zoo, req(&zoo, m, Role::Format, 1, &["153"], 1000, 0), n);
        assert!(fmt > keep.min(0.9), "format preserves: {fmt}");
        let fmt_wrong = rate(&zoo, req(&zoo, m, Role::Format, 1, &[w0], 1000, 0), n);
        assert_eq!(fmt_wrong, 0.0);

        let judge_right = rate(&zoo, req(&zoo, m, Role::Judge, 1, &["153"], 1000, 0), n);
        let judge_wrong = rate(&zoo, req(&zoo, m, Role::Judge, 1, &[w0], 1000, 0), n);
        assert!(
            judge_right > solve && judge_wrong > solve,
            "judge: {judge_right} {judge_wrong}"
        );
        let v = zoo
            .respond(&req(&zoo, m, Role::Judge, 1, &["153"], 1000, 0))
            .unwrap();
        assert!(v.answer == "correct" || v.answer == "incorrect");
        assert_eq!(v.correct, Some(v.answer == "correct"));
    }

    #[test]
    fn roles_without_inputs_solve_and_inputs_compare_normalised() {
        let zoo = zoo();
        for role in [Role::Refine, Role::Select, Role::Format] {
            let a = zoo
                .respond(&req(&zoo, "zoo-4b", role, 0, &[], 100, 2))
                .unwrap();
            assert_eq!(
                a.correct,
                Some(zoo.is_correct(TaskId(0), &a.answer).unwrap())
            );
        }
        let r = zoo
            .respond(&req(
                &zoo,
                "zoo-14b",
                Role::Format,
                0,
                &[" $22.00 "],
                1000,
                0,
            ))
            .unwrap();
        assert_eq!((r.answer.as_ref(), r.correct), (" $22.00 ", Some(true)));
    }

    #[test]
    fn context_entities_are_the_popular_wrong_answers() {
        let zoo = zoo();
        let wrong = zoo.wrong_answers(TaskId(2)).unwrap();
        assert!(
            wrong.iter().any(|w| w == "Rhine" || w == "Vienna"),
            "{wrong:?}"
        );
        assert!(!wrong.iter().any(|w| w == "Danube"));
    }

    #[test]
    fn unknown_tasks_get_plausible_replies_of_undefined_correctness() {
        let zoo = zoo();
        let r = ZooRequest {
            task: None,
            ..req(&zoo, "zoo-4b", Role::Solve, 0, &[], 100, 0)
        };
        let a = zoo.respond(&r).unwrap();
        assert_eq!(a.correct, None);
        assert!(a.answer.parse::<u32>().is_ok(), "{}", a.answer);
        let sel = zoo
            .respond(&ZooRequest {
                role: Role::Select,
                inputs: &["x", "y", "y"],
                ..r
            })
            .unwrap();
        assert_eq!((sel.answer.as_ref(), sel.correct), ("y", None));
    }

    #[test]
    fn foreign_ids_are_errors_not_panics() {
        let zoo = zoo();
        let r = req(&zoo, "zoo-4b", Role::Solve, 0, &[], 100, 0);
        let err = zoo
            .respond(&ZooRequest {
                task: Some(TaskId(99)),
                ..r
            })
            .unwrap_err();
        assert_eq!(err.to_string(), "task id 99 is out of range for this zoo");
        let err = zoo
            .respond(&ZooRequest {
                model: ModelId(7),
                ..r
            })
            .unwrap_err();
        assert_eq!(err.to_string(), "model id 7 is out of range for this zoo");
        assert_eq!(zoo.need_tokens(TaskId(0), ModelId(7)), None);
        let err = zoo.require_model("gpt-5").unwrap_err().to_string();
        assert!(
            err.contains("unknown model `gpt-5`") && err.contains("zoo-0.6b, zoo-1.7b"),
            "{err}"
        );
    }

    /// `difficulty.shared` moves two samples' errors on the same tasks from correlated (1, the
    /// default) to independent (0): the phi coefficient of their correctness over 400 tasks.
    #[test]
    fn shared_difficulty_sets_how_errors_co_occur() {
        let lines: String = (0..400)
            .map(|i| {
                format!(
                    "{{\"question\": \"What is {i} plus {}?\", \"answer\": \"{}\"}}\n",
                    i + 1,
                    2 * i + 1
                )
            })
            .collect();
        let phi = |shared: f64| {
            let mut config = ZooConfig::default();
            config.difficulty.shared = shared;
            let zoo = Zoo::new(
                config,
                vec![TaskSet::from_jsonl("gsm8k_phi.jsonl", &lines).unwrap()],
            )
            .unwrap();
            let right = |task: u32, sample: u64| {
                let r = zoo.respond(&req(&zoo, "zoo-4b", Role::Solve, task, &[], 1000, sample));
                f64::from(u8::from(r.unwrap().correct == Some(true)))
            };
            let pairs: Vec<(f64, f64)> = (0..400).map(|t| (right(t, 0), right(t, 1))).collect();
            let n = pairs.len() as f64;
            let (ma, mb) = (
                pairs.iter().map(|p| p.0).sum::<f64>() / n,
                pairs.iter().map(|p| p.1).sum::<f64>() / n,
            );
            let cov = pairs.iter().map(|(a, b)| (a - ma) * (b - mb)).sum::<f64>() / n;
            cov / (ma * (1.0 - ma) * mb * (1.0 - mb)).sqrt()
        };
        let (together, apart) = (phi(1.0), phi(0.0));
        assert!(together > 0.4, "{together}");
        assert!(apart.abs() < 0.15, "{apart}");
        let mut bad = ZooConfig::default();
        bad.difficulty.shared = 1.5;
        assert!(bad
            .validate("zoo.toml")
            .unwrap_err()
            .to_string()
            .contains("difficulty.shared"));
    }

    #[test]
    fn many_inputs_take_the_slow_path_with_the_same_semantics() {
        let zoo = zoo();
        let mut inputs = vec!["1"; 20];
        inputs.push("153");
        let r = zoo
            .respond(&req(&zoo, "zoo-14b", Role::Select, 1, &inputs, 1000, 0))
            .unwrap();
        assert!(r.answer == "1" || r.answer == "153");
        assert_eq!(r.correct, Some(r.answer == "153"));
    }

    #[test]
    fn dataset_offsets_and_need_scales_apply_by_file_name() {
        let line = r#"{"question": "What is seven plus eight?", "answer": "15"}"#;
        let a = Zoo::new(
            ZooConfig::default(),
            vec![TaskSet::from_jsonl("gsm8k_a.jsonl", line).unwrap()],
        )
        .unwrap();
        let b = Zoo::new(
            ZooConfig::default(),
            vec![TaskSet::from_jsonl("dir/math500_b.jsonl", line).unwrap()],
        )
        .unwrap();
        let (da, db) = (
            a.difficulty(TaskId(0)).unwrap(),
            b.difficulty(TaskId(0)).unwrap(),
        );
        assert!((db - da - 1.0).abs() < 1e-9, "{da} {db}");
        let m = a.model_id("zoo-8b").unwrap();
        assert!(b.need_tokens(TaskId(0), m).unwrap() > 3 * a.need_tokens(TaskId(0), m).unwrap());
        let seeded = ZooConfig {
            seed: 1,
            ..ZooConfig::default()
        };
        let c = Zoo::new(
            seeded,
            vec![TaskSet::from_jsonl("gsm8k_a.jsonl", line).unwrap()],
        )
        .unwrap();
        assert_ne!(
            c.difficulty(TaskId(0)),
            a.difficulty(TaskId(0)),
            "the seed changes the zoo"
        );
        let bad = ZooConfig {
            b0: -1.0,
            ..ZooConfig::default()
        };
        assert!(Zoo::new(bad, vec![])
            .unwrap_err()
            .to_string()
            .contains("`b0`"));
    }
}

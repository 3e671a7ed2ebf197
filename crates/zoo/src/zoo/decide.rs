//! The draw behind every reply: per role, whether the answer is right and which answer it is, from the
//! model's effective ability, the task's difficulty and the inputs' answers (see the crate docs,
//! "Behaviour model").

use std::borrow::Cow;

use super::{ModelEntry, Zoo};
use crate::config::Role;
use crate::hash::{combine, draw, normal, sigmoid};

/// Tags the per-call draw of the difficulty's unshared part.
const PRIVATE_DIFFICULTY_TAG: u64 = 0x7072_6976;

/// What the decision needs to know about a task, known or not.
pub(crate) struct TaskView<'a> {
    pub key: u64,
    pub difficulty: f64,
    /// The seeded standard normal in `difficulty`, which `difficulty.shared` splits per call.
    pub z: f64,
    pub need: u64,
    pub prompt_words: u64,
    pub known: Option<Known<'a>>,
}

pub(crate) struct Known<'a> {
    pub gold: &'a str,
    pub gold_key: u64,
    pub wrong: &'a [String],
}

/// The outcome of one draw, before rendering.
pub(crate) struct Decision<'a> {
    pub answer: Cow<'a, str>,
    pub correct: Option<bool>,
    pub thinking: u64,
    pub key: u64,
}

impl Zoo {
    /// The core draw shared by the in-process and text paths.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn decide<'a>(
        &'a self,
        model: &ModelEntry,
        agent_hash: u64,
        role: Role,
        view: &TaskView<'a>,
        inputs: &[&'a str],
        input_keys: &[u64],
        budget: u64,
        sample: u64,
    ) -> Decision<'a> {
        let c = &self.config;
        let thinking = budget.min(view.need);
        let eff = model.ability + c.g * (thinking as f64 / c.b0).ln_1p();
        let inputs_hash = input_keys
            .iter()
            .fold(inputs.len() as u64, |h, &k| combine(h, k));
        let key = [
            model.name_hash,
            thinking,
            role as u64,
            view.key,
            agent_hash,
            inputs_hash,
            sample,
        ]
        .into_iter()
        .fold(c.seed, combine);
        let shared = c.difficulty.shared;
        let difficulty = if shared < 1.0 {
            // z(call) = sqrt(s) z(task) + sqrt(1 - s) z(private): still standard normal per call.
            let private = normal(combine(key, PRIVATE_DIFFICULTY_TAG));
            let z = shared.sqrt() * view.z + (1.0 - shared).sqrt() * private;
            view.difficulty + c.difficulty.spread * (z - view.z)
        } else {
            view.difficulty
        };
        let base = eff - difficulty;
        let u = draw(key, 1);
        let b = &c.behaviour;
        // Without inputs every role but the judge answers from scratch.
        let acts_as = if inputs.is_empty() && role != Role::Judge {
            Role::Solve
        } else {
            role
        };
        let (answer, correct): (Cow<'a, str>, Option<bool>) = match (acts_as, &view.known) {
            (Role::Judge, known) => {
                let verdict_right = match (known, input_keys.last()) {
                    (Some(k), Some(&cand)) => {
                        let truth = cand == k.gold_key;
                        let right = u < sigmoid(base + b.judge_bonus);
                        Some((truth == right, right))
                    }
                    _ => None,
                };
                let says_correct = verdict_right.map_or(u < 0.5, |(v, _)| v);
                let text = if says_correct { "correct" } else { "incorrect" };
                (Cow::Borrowed(text), verdict_right.map(|(_, r)| r))
            }
            (Role::Solve, known) => match known {
                Some(k) if u < sigmoid(base) => (Cow::Borrowed(k.gold), Some(true)),
                Some(k) => (self.wrong_pick(k, key), Some(false)),
                None => (Cow::Owned((2 + combine(key, 3) % 998).to_string()), None),
            },
            (Role::Refine, known) => {
                let (i, _) = groups(input_keys).majority();
                let cand = Cow::Borrowed(inputs[i]);
                match known {
                    Some(k) if input_keys[i] == k.gold_key => {
                        if u < sigmoid(base + b.refine_keep) {
                            (cand, Some(true))
                        } else {
                            (self.wrong_pick(k, key), Some(false))
                        }
                    }
                    Some(k) if u < sigmoid(base - b.refine_delta) => {
                        (Cow::Borrowed(k.gold), Some(true))
                    }
                    Some(_) => (cand, Some(false)),
                    None => (cand, None),
                }
            }
            (Role::Format, known) => {
                let last = inputs.len() - 1;
                let cand = Cow::Borrowed(inputs[last]);
                match known {
                    Some(k) if u < sigmoid(base + b.format_keep) => {
                        (cand, Some(input_keys[last] == k.gold_key))
                    }
                    Some(k) => (self.wrong_pick(k, key), Some(false)),
                    None => (cand, None),
                }
            }
            (Role::Select, known) => {
                let gs = groups(input_keys);
                match known {
                    Some(k) => match gs.find(k.gold_key) {
                        Some((gold_i, n_right)) => {
                            let wrong = gs.largest_except(k.gold_key);
                            let n_wrong = wrong.map_or(0, |(_, n)| n);
                            let p = sigmoid(
                                base + b.select_bonus
                                    + b.select_agree * (n_right as f64 - n_wrong as f64),
                            );
                            match wrong {
                                Some((wrong_i, _)) if u >= p => {
                                    (Cow::Borrowed(inputs[wrong_i]), Some(false))
                                }
                                _ => (Cow::Borrowed(inputs[gold_i]), Some(true)),
                            }
                        }
                        None => (Cow::Borrowed(inputs[gs.majority().0]), Some(false)),
                    },
                    None => (Cow::Borrowed(inputs[gs.majority().0]), None),
                }
            }
        };
        Decision {
            answer,
            correct,
            thinking,
            key,
        }
    }

    fn wrong_pick<'a>(&'a self, k: &Known<'a>, key: u64) -> Cow<'a, str> {
        let u = draw(key, 2);
        let i = self
            .wrong_cdf
            .iter()
            .position(|&c| u < c)
            .unwrap_or(self.wrong_cdf.len() - 1);
        Cow::Borrowed(&k.wrong[i.min(k.wrong.len() - 1)])
    }
}

/// Inputs grouped by answer key: (key, first input index, count), in order of first appearance.
struct Groups(Vec<(u64, usize, usize)>);

fn groups(keys: &[u64]) -> Groups {
    let mut out: Vec<(u64, usize, usize)> = Vec::with_capacity(keys.len());
    for (i, &k) in keys.iter().enumerate() {
        match out.iter_mut().find(|g| g.0 == k) {
            Some(g) => g.2 += 1,
            None => out.push((k, i, 1)),
        }
    }
    Groups(out)
}

impl Groups {
    /// (first index, count) of the largest group, the earliest on ties.
    fn majority(&self) -> (usize, usize) {
        self.0.iter().fold(
            (0, 0),
            |best, g| if g.2 > best.1 { (g.1, g.2) } else { best },
        )
    }

    fn find(&self, key: u64) -> Option<(usize, usize)> {
        self.0.iter().find(|g| g.0 == key).map(|g| (g.1, g.2))
    }

    fn largest_except(&self, key: u64) -> Option<(usize, usize)> {
        self.0.iter().filter(|g| g.0 != key).fold(
            None,
            |best: Option<(usize, usize)>, g| match best {
                Some(b) if b.1 >= g.2 => Some(b),
                _ => Some((g.1, g.2)),
            },
        )
    }
}

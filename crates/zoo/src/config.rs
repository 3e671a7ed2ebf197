//! The zoo's configuration: models, behaviour parameters, roles (TOML, documented in `zoo.toml`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

/// The embedded default configuration (`crates/zoo/zoo.toml`), with a comment on every field.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../zoo.toml");

/// Largest accepted `max_need_tokens`: replies spell out every thinking token, so this bounds their size.
const MAX_NEED_LIMIT: u64 = 1 << 20;

/// What an agent does with its inputs; chosen per agent name by [`ZooConfig::roles`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Answers the task from scratch.
    Solve,
    /// Improves the candidate answer it is given.
    Refine,
    /// Picks one of several candidate answers (self-consistency ensemble).
    Select,
    /// Rewrites the candidate answer into the requested format.
    Format,
    /// Says whether the candidate answer is correct.
    Judge,
}

impl Role {
    /// Every role, in declaration order.
    pub const ALL: [Role; 5] = [
        Role::Solve,
        Role::Refine,
        Role::Select,
        Role::Format,
        Role::Judge,
    ];

    /// The lowercase name used in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Solve => "solve",
            Role::Refine => "refine",
            Role::Select => "select",
            Role::Format => "format",
            Role::Judge => "judge",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("unknown role `{s}`, expected solve, refine, select, format or judge")
            })
    }
}

/// The zoo's configuration; see `zoo.toml` for the meaning of every field.
///
/// Fields are public so that code can adjust a parsed config (e.g. its seed); [`crate::Zoo::new`]
/// validates it again.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZooConfig {
    /// Master seed of every draw.
    pub seed: u64,
    /// Default latency multiplier for the server (0 = instant, 1 = real time).
    pub time_scale: f64,
    /// Gain of the thinking budget in `eff = ability + g * ln(1 + b / b0)`.
    pub g: f64,
    /// Budget scale (tokens) in the same formula.
    pub b0: f64,
    /// Upper bound on the thinking tokens any model needs.
    pub max_need_tokens: u64,
    /// How task difficulty and thinking need are derived.
    pub difficulty: DifficultyParams,
    /// Parameters of the roles and of token estimates.
    pub behaviour: BehaviourParams,
    /// Per-dataset adjustments keyed by task-file name prefix.
    #[serde(default)]
    pub datasets: BTreeMap<String, DatasetParams>,
    /// The models, in listing order.
    pub models: Vec<ModelSpec>,
    /// Agent name -> role; unlisted agents solve.
    #[serde(default)]
    pub roles: BTreeMap<String, Role>,
}

/// Parameters of task difficulty.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DifficultyParams {
    /// Logits of difficulty per level above 3.
    pub level_step: f64,
    /// Standard deviation (logits) of the seeded per-task part.
    pub spread: f64,
    /// Need multiplies by `exp(need_growth * d)`.
    pub need_growth: f64,
    /// Share of the seeded part's variance that every call of a task sees alike, in [0, 1]: 1 (the
    /// default) makes a task equally hard for every agent, model and sample, so their errors are
    /// correlated; 0 gives each call its own draw, so errors are independent given the task's level.
    #[serde(default = "fully_shared")]
    pub shared: f64,
}

fn fully_shared() -> f64 {
    1.0
}

/// Parameters of the roles and of in-process token estimates.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BehaviourParams {
    /// Popularity of each task's wrong answers, most popular first.
    pub wrong_weights: Vec<f64>,
    /// Logit bonus for keeping a correct input when refining.
    pub refine_keep: f64,
    /// Logit penalty for fixing a wrong input when refining.
    pub refine_delta: f64,
    /// Logit bonus for picking a present correct candidate.
    pub select_bonus: f64,
    /// Logits per correct candidate beyond the largest wrong group.
    pub select_agree: f64,
    /// Logit bonus for preserving the answer when formatting.
    pub format_keep: f64,
    /// Logit bonus for a right verdict when judging.
    pub judge_bonus: f64,
    /// In-process prompt estimate: fixed tokens per call.
    pub prompt_overhead_tokens: u64,
    /// In-process prompt estimate: extra tokens per input answer.
    pub input_overhead_tokens: u64,
}

/// Adjustments for the tasks of one dataset.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetParams {
    /// Added to the difficulty of every task.
    #[serde(default)]
    pub difficulty: f64,
    /// Multiplies the thinking every task needs.
    #[serde(default = "one")]
    pub need_scale: f64,
}

fn one() -> f64 {
    1.0
}

/// One synthetic model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Model id clients send.
    pub name: String,
    /// Base ability, logits.
    pub ability: f64,
    /// Thinking tokens a task of difficulty 0 needs.
    pub need_tokens: u64,
    /// Prompt throughput, tokens per second.
    pub prefill_tok_s: f64,
    /// Generation throughput, tokens per second.
    pub decode_tok_s: f64,
    /// Fixed time to first token, seconds.
    pub ttft_s: f64,
}

/// A configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The text is not TOML of the expected shape (the message names the field and position).
    #[error("{path}: {message}")]
    Toml {
        /// File the text came from.
        path: String,
        /// The TOML parser's message.
        message: String,
    },
    /// A field has a value outside its domain.
    #[error("{path}: field `{field}`: {reason}")]
    Invalid {
        /// File the text came from.
        path: String,
        /// Dotted field name, e.g. `models[2].decode_tok_s`.
        field: String,
        /// What is wrong with the value.
        reason: String,
    },
}

impl Default for ZooConfig {
    /// The embedded default configuration ([`DEFAULT_CONFIG_TOML`]).
    fn default() -> Self {
        // The embedded file is checked by this crate's tests, so parsing it cannot fail at run time.
        ZooConfig::from_toml_str(DEFAULT_CONFIG_TOML, "zoo.toml (embedded)")
            .expect("the embedded zoo.toml is valid")
    }
}

impl ZooConfig {
    /// Parses and validates a configuration; `path` names the source in errors.
    pub fn from_toml_str(text: &str, path: &str) -> Result<ZooConfig, ConfigError> {
        let config: ZooConfig = toml::from_str(text).map_err(|e| ConfigError::Toml {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    /// Checks every value's domain; `path` names the source in errors.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let bad = |field: String, reason: &str| ConfigError::Invalid {
            path: path.to_owned(),
            field,
            reason: reason.to_owned(),
        };
        let finite = |field: &str, v: f64| {
            if v.is_finite() {
                Ok(())
            } else {
                Err(bad(field.to_owned(), "must be a finite number"))
            }
        };
        let non_negative = |field: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(bad(field.to_owned(), "must be a finite number >= 0"))
            }
        };
        let positive = |field: String, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(bad(field, "must be a finite number > 0"))
            }
        };
        non_negative("time_scale", self.time_scale)?;
        non_negative("g", self.g)?;
        positive("b0".into(), self.b0)?;
        if !(1..=MAX_NEED_LIMIT).contains(&self.max_need_tokens) {
            return Err(bad(
                "max_need_tokens".into(),
                &format!("must be between 1 and {MAX_NEED_LIMIT}"),
            ));
        }
        finite("difficulty.level_step", self.difficulty.level_step)?;
        non_negative("difficulty.spread", self.difficulty.spread)?;
        finite("difficulty.need_growth", self.difficulty.need_growth)?;
        if !(0.0..=1.0).contains(&self.difficulty.shared) {
            return Err(bad(
                "difficulty.shared".into(),
                "must be a number from 0 to 1",
            ));
        }
        let b = &self.behaviour;
        if b.wrong_weights.is_empty() {
            return Err(bad(
                "behaviour.wrong_weights".into(),
                "must list at least one weight",
            ));
        }
        for (i, &w) in b.wrong_weights.iter().enumerate() {
            positive(format!("behaviour.wrong_weights[{i}]"), w)?;
        }
        for (field, v) in [
            ("behaviour.refine_keep", b.refine_keep),
            ("behaviour.refine_delta", b.refine_delta),
            ("behaviour.select_bonus", b.select_bonus),
            ("behaviour.select_agree", b.select_agree),
            ("behaviour.format_keep", b.format_keep),
            ("behaviour.judge_bonus", b.judge_bonus),
        ] {
            finite(field, v)?;
        }
        for (name, d) in &self.datasets {
            finite(&format!("datasets.{name}.difficulty"), d.difficulty)?;
            positive(format!("datasets.{name}.need_scale"), d.need_scale)?;
        }
        if self.models.is_empty() {
            return Err(bad("models".into(), "must list at least one model"));
        }
        for (i, m) in self.models.iter().enumerate() {
            let field = |f: &str| format!("models[{i}].{f}");
            if m.name.trim().is_empty() {
                return Err(bad(field("name"), "must not be empty"));
            }
            if self.models[..i].iter().any(|o| o.name == m.name) {
                return Err(bad(
                    field("name"),
                    &format!("duplicate model name `{}`", m.name),
                ));
            }
            finite(&field("ability"), m.ability)?;
            if m.need_tokens == 0 {
                return Err(bad(field("need_tokens"), "must be at least 1"));
            }
            positive(field("prefill_tok_s"), m.prefill_tok_s)?;
            positive(field("decode_tok_s"), m.decode_tok_s)?;
            non_negative(&field("ttft_s"), m.ttft_s)?;
        }
        Ok(())
    }

    /// The role of an agent: its entry in `roles`, else [`Role::Solve`].
    pub fn role_of(&self, agent: &str) -> Role {
        self.roles.get(agent).copied().unwrap_or(Role::Solve)
    }

    /// The dataset adjustments for a task file: the longest `datasets` key its file name starts with.
    pub fn dataset_for(&self, file: &str) -> Option<(&str, &DatasetParams)> {
        let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
        self.datasets
            .iter()
            .filter(|(k, _)| base.starts_with(k.as_str()))
            .max_by_key(|(k, _)| k.len())
            .map(|(k, d)| (k.as_str(), d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_err(edit: impl Fn(&str) -> String, want: &str) {
        let text = edit(DEFAULT_CONFIG_TOML);
        let err = ZooConfig::from_toml_str(&text, "my.toml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("my.toml: "), "{err}");
        assert!(err.contains(want), "`{err}` should contain `{want}`");
    }

    #[test]
    fn embedded_default_parses_with_five_models() {
        let c = ZooConfig::default();
        let names: Vec<&str> = c.models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            ["zoo-0.6b", "zoo-1.7b", "zoo-4b", "zoo-8b", "zoo-14b"]
        );
        assert!(c.models.windows(2).all(|w| w[0].ability < w[1].ability));
        assert!(c
            .models
            .windows(2)
            .all(|w| w[0].decode_tok_s > w[1].decode_tok_s));
        assert_eq!(c.role_of("sc_ensemble"), Role::Select);
        assert_eq!(c.role_of("someone"), Role::Solve);
        assert_eq!(c.time_scale, 0.0);
    }

    #[test]
    fn malformed_configs_name_the_field() {
        check_err(|t| t.replace("seed = 0", ""), "missing field `seed`");
        check_err(
            |t| t.replace("g = 0.6", "g = 0.6\ngain = 1"),
            "unknown field `gain`",
        );
        check_err(
            |t| t.replace("b0 = 200.0", "b0 = 0.0"),
            "field `b0`: must be a finite number > 0",
        );
        check_err(
            |t| t.replace("max_need_tokens = 32768", "max_need_tokens = 1000000000"),
            "field `max_need_tokens`: must be between 1 and",
        );
        check_err(
            |t| t.replacen("decode_tok_s = 75.0", "decode_tok_s = -1.0", 1),
            "field `models[3].decode_tok_s`",
        );
        check_err(
            |t| t.replace("name = \"zoo-4b\"", "name = \"zoo-8b\""),
            "duplicate model name `zoo-8b`",
        );
        check_err(
            |t| t.replace("judge = \"judge\"", "judge = \"referee\""),
            "unknown variant `referee`",
        );
        check_err(
            |t| t.replace("[0.55, 0.3, 0.15]", "[]"),
            "field `behaviour.wrong_weights`",
        );
        check_err(
            |t| t.replace("need_scale = 3.0", "need_scale = 0.0"),
            "field `datasets.math500.need_scale`",
        );
        check_err(
            |t| t.replace("time_scale = 0.0", "time_scale = \"fast\""),
            "time_scale",
        );
        check_err(|_| "seed = ".to_owned(), "my.toml: ");
    }

    #[test]
    fn dataset_lookup_uses_longest_prefix_of_the_file_name() {
        let mut c = ZooConfig::default();
        c.datasets.insert(
            "math".into(),
            DatasetParams {
                difficulty: 9.0,
                need_scale: 1.0,
            },
        );
        assert_eq!(
            c.dataset_for("../data/math500_test.jsonl").unwrap().0,
            "math500"
        );
        assert_eq!(c.dataset_for("math_other.jsonl").unwrap().0, "math");
        assert_eq!(c.dataset_for("C:\\d\\gsm8k_x.jsonl").unwrap().0, "gsm8k");
        assert!(c.dataset_for("mine.jsonl").is_none());
    }

    #[test]
    fn roles_parse_and_print() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
            assert_eq!(r.to_string(), r.as_str());
        }
        assert!("boss".parse::<Role>().unwrap_err().contains("boss"));
    }
}

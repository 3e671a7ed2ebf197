//! The providers config: which server answers for each model name a workflow uses, and how.

use std::fmt;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use reqwest::header::{HeaderName, HeaderValue};
use serde::Deserialize;

use crate::redact::{redact_values, userinfo_parts};
use crate::template::ChatTemplate;

/// Concurrency of an endpoint whose entries do not set `concurrency`.
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Per-attempt timeout when `timeout_s` is not set (reasoning models can think for minutes).
pub const DEFAULT_TIMEOUT_S: f64 = 600.0;
/// Retries after the first attempt when `max_retries` is not set.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// Answer tokens when neither the call nor the config says (`max_tokens`).
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

/// Which OpenAI endpoint a provider is called through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    /// `/v1/chat/completions`: the server applies its chat template.
    Chat,
    /// `/v1/completions`: the client renders the prompt with [`Provider::chat_template`] (base models, forcing).
    Completions,
}

/// How a call's reasoning budget (thinking tokens) is applied on a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetMode {
    /// Client-side budget forcing over `/v1/completions` (works on any OpenAI-compatible server).
    Forcing,
    /// `reasoning_effort` low / medium / high chosen from the budget (OpenAI reasoning models, vLLM, SGLang).
    ReasoningEffort,
    /// `max_tokens` = budget + answer tokens: thinking that runs over the budget leaves no answer.
    MaxTokens,
    /// Thinking off (`chat_template_kwargs.enable_thinking = false`); the budget is ignored.
    None,
}

/// An API key read from the environment; its `Debug` never shows the value and it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key value.
    pub(crate) fn new(value: impl Into<String>) -> Self {
        ApiKey(value.into())
    }

    /// The key, for the `Authorization` header and for redacting server messages only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// One model name's endpoint: where to send its calls and how to apply budgets, limits and prices.
#[derive(Clone)]
#[non_exhaustive]
pub struct Provider {
    /// The model name workflows use (the key of `[models.NAME]`).
    pub name: String,
    /// Base URL including the API prefix, without a trailing slash, e.g. `http://127.0.0.1:8000/v1`.
    pub base_url: String,
    /// Name of the environment variable the key was read from (never the key).
    pub api_key_env: Option<String>,
    /// The key, when `api_key_env` is set.
    pub api_key: Option<ApiKey>,
    /// The model id the server knows (defaults to [`Provider::name`]).
    pub model: String,
    /// Endpoint used for calls.
    pub api: Api,
    /// How budgets are applied.
    pub budget: BudgetMode,
    /// Prompt template for `api = "completions"`.
    pub chat_template: Option<ChatTemplate>,
    /// Requests in flight at once on this endpoint, shared by every entry with the same `base_url`.
    pub concurrency: usize,
    /// Timeout of one attempt, seconds (streamed bodies included).
    pub timeout_s: f64,
    /// Retries after the first attempt on 429, 5xx, timeouts, connection errors and broken bodies.
    pub max_retries: u32,
    /// Price of a million prompt tokens, US dollars.
    pub price_in_per_mtok: Option<f64>,
    /// Price of a million completion tokens (thinking included), US dollars.
    pub price_out_per_mtok: Option<f64>,
    /// Answer tokens when a call does not say.
    pub max_tokens: u32,
    /// Extra request headers (values may be secret: `Debug` shows names only).
    pub headers: IndexMap<String, String>,
    /// Stop sequences sent with every request (`stop`), e.g. `["\n"]` for a base model's one-line answers.
    pub stop: Vec<String>,
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .field("base_url", &self.display_url())
            .field("api_key_env", &self.api_key_env)
            .field("api_key", &self.api_key)
            .field("model", &self.model)
            .field("api", &self.api)
            .field("budget", &self.budget)
            .field("chat_template", &self.chat_template)
            .field("concurrency", &self.concurrency)
            .field("timeout_s", &self.timeout_s)
            .field("max_retries", &self.max_retries)
            .field("price_in_per_mtok", &self.price_in_per_mtok)
            .field("price_out_per_mtok", &self.price_out_per_mtok)
            .field("max_tokens", &self.max_tokens)
            .field("header_names", &self.headers.keys().collect::<Vec<_>>())
            .field("stop", &self.stop)
            .finish()
    }
}

impl Provider {
    /// Cost in US dollars of the given token counts, when at least one price is set.
    pub fn cost_usd(&self, prompt_tokens: u64, completion_tokens: u64) -> Option<f64> {
        if self.price_in_per_mtok.is_none() && self.price_out_per_mtok.is_none() {
            return None;
        }
        let cost_in = self.price_in_per_mtok.unwrap_or(0.0) * prompt_tokens as f64;
        let cost_out = self.price_out_per_mtok.unwrap_or(0.0) * completion_tokens as f64;
        Some((cost_in + cost_out) / 1e6)
    }
}

/// Every model name's [`Provider`], in file order.
///
/// The file has one `[models.NAME]` table per workflow model name and an optional `[defaults]` table
/// whose keys apply to every model that does not set them (all keys but `model`). Unknown keys are errors.
///
/// ```
/// let toml = r#"
/// [defaults]
/// base_url = "http://127.0.0.1:8000/v1"  # required, here or per model
/// concurrency = 8                         # requests in flight per base_url (default 8)
///
/// [models."qwen3-8b"]
/// model = "Qwen/Qwen3-8B"          # the server's id (default: the name)
/// api = "completions"              # "chat" (default) | "completions" (default with forcing)
/// budget = "forcing"               # "forcing" | "reasoning_effort" | "max_tokens" (default) | "none"
/// chat_template = "qwen3"          # "qwen3" | "chatml" | "plain"; required with api = "completions"
/// max_tokens = 1024                # answer tokens when a call does not say (default 1024)
///
/// [models.o4-mini]
/// base_url = "https://api.openai.com/v1"
/// api_key_env = "OPENAI_API_KEY"   # the variable's NAME; unset or empty is an error
/// budget = "reasoning_effort"
/// timeout_s = 300                  # per attempt (default 600)
/// max_retries = 5                  # after the first attempt (default 3)
/// price_in_per_mtok = 1.1          # US dollars per million tokens
/// price_out_per_mtok = 4.4
/// headers = { "OpenAI-Organization" = "org-123" }
///
/// [models.gemma3]
/// base_url = "http://127.0.0.1:8090/v1"
/// api = "completions"              # a base model: the prompt is rendered by the client
/// chat_template = "plain"
/// stop = ["\n"]                    # stop sequences (at most 4; not with budget = "forcing")
/// "#;
/// let env = |var: &str| (var == "OPENAI_API_KEY").then(|| "sk-example".to_string());
/// let providers = flowcompile_client::Providers::from_toml_str_with_env(toml, "providers.toml", &env)?;
/// assert_eq!(providers.get("qwen3-8b").unwrap().model, "Qwen/Qwen3-8B");
/// assert_eq!(providers.get("o4-mini").unwrap().concurrency, 8);
/// # Ok::<(), flowcompile_client::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Providers {
    models: IndexMap<String, Provider>,
}

/// Why a providers config could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read providers config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not valid TOML or does not have the expected shape (unknown keys, wrong types).
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending text.
        line: usize,
        /// 1-based column of the offending text.
        column: usize,
        /// What is wrong, naming the key.
        message: String,
    },
    /// A value is out of range or contradicts another.
    #[error("{path}: `{key}`: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Dotted key, e.g. `models."zoo-8b".concurrency`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// `api_key_env` names a variable that is unset or empty.
    #[error("{path}: `{key}`: environment variable `{var}` is not set or empty")]
    MissingKey {
        /// The file.
        path: PathBuf,
        /// Dotted key of the `api_key_env` setting.
        key: String,
        /// The variable's name.
        var: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    defaults: RawEntry,
    #[serde(default)]
    models: IndexMap<String, RawEntry>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    base_url: Option<String>,
    api_key_env: Option<String>,
    model: Option<String>,
    api: Option<Api>,
    budget: Option<BudgetMode>,
    chat_template: Option<ChatTemplate>,
    concurrency: Option<usize>,
    timeout_s: Option<f64>,
    max_retries: Option<u32>,
    price_in_per_mtok: Option<f64>,
    price_out_per_mtok: Option<f64>,
    max_tokens: Option<u32>,
    headers: Option<IndexMap<String, String>>,
    stop: Option<Vec<String>>,
}

/// A dotted key with the model name quoted when it is not a bare TOML key.
fn model_key(name: &str, field: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare {
        format!("models.{name}.{field}")
    } else {
        format!("models.{name:?}.{field}")
    }
}

/// Every string under a `headers` key (and every `base_url`'s user-info parts) of a TOML text that
/// parses as TOML, whatever its shape: what a syntax error must not quote.
fn header_values(text: &str) -> Vec<String> {
    fn strings(value: &toml::Value, out: &mut Vec<String>) {
        match value {
            toml::Value::String(s) => out.push(s.clone()),
            toml::Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
            toml::Value::Table(t) => t.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    fn walk(table: &toml::Table, out: &mut Vec<String>) {
        for (key, value) in table {
            match (key.as_str(), value) {
                ("headers", v) => strings(v, out),
                ("base_url", toml::Value::String(url)) => out.extend(userinfo_parts(url)),
                (_, toml::Value::Table(t)) => walk(t, out),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    if let Ok(table) = text.parse::<toml::Table>() {
        walk(&table, &mut out);
    }
    out
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.chars().count(), |i| before[i + 1..].chars().count())
        + 1;
    (line, column)
}

struct Checker<'a> {
    path: &'a Path,
}

impl Checker<'_> {
    fn invalid(&self, key: String, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            key,
            message: message.into(),
        }
    }

    fn base_url(&self, key: String, raw: &str) -> Result<String, ConfigError> {
        let url = reqwest::Url::parse(raw)
            .map_err(|e| self.invalid(key.clone(), format!("not a URL ({e})")))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(self.invalid(key, "the scheme must be http or https"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(self.invalid(key, "must not have a query or fragment"));
        }
        Ok(url.as_str().trim_end_matches('/').to_string())
    }

    fn non_negative(&self, key: String, value: Option<f64>) -> Result<Option<f64>, ConfigError> {
        match value {
            Some(v) if !(v.is_finite() && v >= 0.0) => {
                Err(self.invalid(key, "must be a finite number >= 0"))
            }
            _ => Ok(value),
        }
    }
}

impl Providers {
    /// Reads and validates the providers config at `path`, reading keys from the process environment.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text, path)
    }

    /// Parses config `text` (`path` names it in errors), reading keys from the process environment.
    pub fn from_toml_str(text: &str, path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        Self::from_toml_str_with_env(text, path, &|var| std::env::var(var).ok())
    }

    /// Parses config `text` like [`Providers::from_toml_str`], looking key variables up with `env`.
    pub fn from_toml_str_with_env(
        text: &str,
        path: impl AsRef<Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let (line, column) = line_column(text, e.span().map_or(0, |s| s.start));
            ConfigError::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message: redact_values(e.message().trim_end(), header_values(text)),
            }
        })?;
        let check = Checker { path };
        if raw.defaults.model.is_some() {
            return Err(check.invalid(
                "defaults.model".into(),
                "the server's model id is per model: set it under [models.NAME]",
            ));
        }
        if raw.models.is_empty() {
            return Err(check.invalid("models".into(), "no models are configured"));
        }
        let mut models = IndexMap::new();
        for (name, entry) in &raw.models {
            let provider = Self::entry(&check, name, entry, &raw.defaults, env)?;
            models.insert(name.clone(), provider);
        }
        Self::share_concurrency(&check, &raw, &mut models)?;
        Ok(Providers { models })
    }

    fn entry(
        check: &Checker<'_>,
        name: &str,
        entry: &RawEntry,
        defaults: &RawEntry,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Provider, ConfigError> {
        let key = |field: &str| model_key(name, field);
        let base_url = match entry.base_url.as_deref() {
            Some(url) => check.base_url(key("base_url"), url)?,
            None => match defaults.base_url.as_deref() {
                Some(url) => check.base_url("defaults.base_url".into(), url)?,
                None => {
                    return Err(check.invalid(key("base_url"), "missing (and no defaults.base_url)"))
                }
            },
        };
        let (api_key_env, api_key) = match (&entry.api_key_env, &defaults.api_key_env) {
            (Some(var), _) => (
                Some(var.clone()),
                Some(Self::key(check, key("api_key_env"), var, env)?),
            ),
            (None, Some(var)) => (
                Some(var.clone()),
                Some(Self::key(check, "defaults.api_key_env".into(), var, env)?),
            ),
            (None, None) => (None, None),
        };
        let model = entry.model.clone().unwrap_or_else(|| name.to_string());
        if model.is_empty() {
            return Err(check.invalid(key("model"), "must not be empty"));
        }
        let budget = entry
            .budget
            .or(defaults.budget)
            .unwrap_or(BudgetMode::MaxTokens);
        let default_api = if budget == BudgetMode::Forcing {
            Api::Completions
        } else {
            Api::Chat
        };
        let api = entry.api.or(defaults.api).unwrap_or(default_api);
        match (api, budget) {
            (Api::Chat, BudgetMode::Forcing) => return Err(check.invalid(
                key("budget"),
                "budget = \"forcing\" renders the prompt itself and needs api = \"completions\"",
            )),
            (Api::Completions, BudgetMode::ReasoningEffort) => return Err(check.invalid(
                key("budget"),
                "budget = \"reasoning_effort\" is a chat API parameter and needs api = \"chat\"",
            )),
            _ => {}
        }
        let chat_template = entry.chat_template.or(defaults.chat_template);
        match api {
            Api::Completions if chat_template.is_none() => return Err(check.invalid(
                key("chat_template"),
                "api = \"completions\" needs a chat_template (\"qwen3\", \"chatml\" or \"plain\")",
            )),
            Api::Chat if entry.chat_template.is_some() => {
                return Err(check.invalid(
                    key("chat_template"),
                    "only used with api = \"completions\" (chat servers apply their own template)",
                ))
            }
            _ => {}
        }
        let concurrency = entry
            .concurrency
            .or(defaults.concurrency)
            .unwrap_or(DEFAULT_CONCURRENCY);
        if concurrency == 0 {
            return Err(check.invalid(key("concurrency"), "must be at least 1"));
        }
        let timeout_s = entry
            .timeout_s
            .or(defaults.timeout_s)
            .unwrap_or(DEFAULT_TIMEOUT_S);
        if !(timeout_s.is_finite() && timeout_s > 0.0) {
            return Err(check.invalid(key("timeout_s"), "must be a finite number of seconds > 0"));
        }
        let max_tokens = entry
            .max_tokens
            .or(defaults.max_tokens)
            .unwrap_or(DEFAULT_MAX_TOKENS);
        if max_tokens == 0 {
            return Err(check.invalid(key("max_tokens"), "must be at least 1"));
        }
        let price_in_per_mtok = check.non_negative(
            key("price_in_per_mtok"),
            entry.price_in_per_mtok.or(defaults.price_in_per_mtok),
        )?;
        let price_out_per_mtok = check.non_negative(
            key("price_out_per_mtok"),
            entry.price_out_per_mtok.or(defaults.price_out_per_mtok),
        )?;
        let mut headers = defaults.headers.clone().unwrap_or_default();
        headers.extend(entry.headers.clone().unwrap_or_default());
        for (header, value) in &headers {
            let header_key = format!("{}.{header}", key("headers"));
            let parsed = HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| check.invalid(header_key.clone(), "not a valid HTTP header name"))?;
            if HeaderValue::from_str(value).is_err() {
                return Err(check.invalid(header_key, "not a valid HTTP header value"));
            }
            if parsed == reqwest::header::AUTHORIZATION && api_key.is_some() {
                return Err(check.invalid(
                    header_key,
                    "conflicts with api_key_env, which sets Authorization",
                ));
            }
        }
        let stop = entry
            .stop
            .clone()
            .or_else(|| defaults.stop.clone())
            .unwrap_or_default();
        if stop.len() > 4 {
            return Err(check.invalid(key("stop"), "at most 4 stop sequences (the OpenAI limit)"));
        }
        if stop.iter().any(String::is_empty) {
            return Err(check.invalid(key("stop"), "a stop sequence must not be empty"));
        }
        if !stop.is_empty() && budget == BudgetMode::Forcing {
            return Err(check.invalid(
                key("stop"),
                "not with budget = \"forcing\": a stop sequence would cut the thinking short",
            ));
        }
        Ok(Provider {
            name: name.to_string(),
            base_url,
            api_key_env,
            api_key,
            model,
            api,
            budget,
            chat_template,
            concurrency,
            timeout_s,
            max_retries: entry
                .max_retries
                .or(defaults.max_retries)
                .unwrap_or(DEFAULT_MAX_RETRIES),
            price_in_per_mtok,
            price_out_per_mtok,
            max_tokens,
            headers,
            stop,
        })
    }

    fn key(
        check: &Checker<'_>,
        key: String,
        var: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ApiKey, ConfigError> {
        if var.is_empty() {
            return Err(check.invalid(key, "must name an environment variable"));
        }
        match env(var) {
            Some(value) if !value.is_empty() => Ok(ApiKey::new(value)),
            _ => Err(ConfigError::MissingKey {
                path: check.path.to_path_buf(),
                key,
                var: var.to_string(),
            }),
        }
    }

    /// Entries with the same base URL share one limit: explicit values must agree; else the default applies.
    fn share_concurrency(
        check: &Checker<'_>,
        raw: &RawFile,
        models: &mut IndexMap<String, Provider>,
    ) -> Result<(), ConfigError> {
        let mut explicit: IndexMap<String, (String, usize)> = IndexMap::new();
        for (name, provider) in models.iter() {
            let Some(n) = raw.models[name].concurrency.or(raw.defaults.concurrency) else {
                continue;
            };
            match explicit.get(&provider.base_url) {
                Some((other, m)) if *m != n => {
                    return Err(check.invalid(
                        model_key(name, "concurrency"),
                        format!(
                            "{n} differs from {m} set for model `{other}` on the same base_url {}",
                            provider.display_url()
                        ),
                    ))
                }
                Some(_) => {}
                None => {
                    explicit.insert(provider.base_url.clone(), (name.clone(), n));
                }
            }
        }
        for provider in models.values_mut() {
            if let Some((_, n)) = explicit.get(&provider.base_url) {
                provider.concurrency = *n;
            }
        }
        Ok(())
    }

    /// The provider of a workflow model name.
    pub fn get(&self, name: &str) -> Option<&Provider> {
        self.models.get(name)
    }

    /// Every provider, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Provider> {
        self.models.values()
    }

    /// Number of model names configured.
    pub fn len(&self) -> usize {
        self.models.len()
    }

    /// Whether no model is configured (never true for a loaded config).
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_VALUE: &str = "sk-test-0123456789-secret";

    fn env(var: &str) -> Option<String> {
        match var {
            "ZOO_KEY" => Some(KEY_VALUE.to_string()),
            "EMPTY_KEY" => Some(String::new()),
            _ => None,
        }
    }

    fn parse(text: &str) -> Result<Providers, ConfigError> {
        Providers::from_toml_str_with_env(text, "providers.toml", &env)
    }

    #[track_caller]
    fn check_err(text: &str, expected: &str) {
        let err = parse(text).expect_err("config should be rejected");
        let msg = err.to_string();
        assert!(msg.contains(expected), "error `{msg}` lacks `{expected}`");
        assert!(
            msg.starts_with("providers.toml"),
            "error `{msg}` does not name the file"
        );
        assert!(!msg.contains(KEY_VALUE));
    }

    #[test]
    fn full_entry_and_defaults() {
        let p = parse(
            r#"
            [defaults]
            base_url = "http://127.0.0.1:8000/v1/"
            concurrency = 4
            price_in_per_mtok = 0.5

            [models."zoo-0.6b"]
            budget = "forcing"
            chat_template = "qwen3"
            max_tokens = 256

            [models.gpt]
            base_url = "https://api.example.invalid/v1"
            api_key_env = "ZOO_KEY"
            model = "gpt-x"
            budget = "reasoning_effort"
            concurrency = 2
            timeout_s = 30
            max_retries = 5
            price_out_per_mtok = 2.0
            headers = { "x-team" = "a" }
            "#,
        )
        .unwrap();
        assert_eq!(p.len(), 2);
        let zoo = p.get("zoo-0.6b").unwrap();
        assert_eq!(zoo.base_url, "http://127.0.0.1:8000/v1");
        assert_eq!(zoo.model, "zoo-0.6b");
        assert_eq!(zoo.api, Api::Completions);
        assert_eq!(zoo.budget, BudgetMode::Forcing);
        assert_eq!(zoo.chat_template, Some(ChatTemplate::Qwen3));
        assert_eq!(zoo.concurrency, 4);
        assert_eq!(zoo.max_tokens, 256);
        assert_eq!(zoo.timeout_s, DEFAULT_TIMEOUT_S);
        assert!(zoo.api_key.is_none());
        let gpt = p.get("gpt").unwrap();
        assert_eq!(gpt.model, "gpt-x");
        assert_eq!(gpt.api, Api::Chat);
        assert_eq!(gpt.concurrency, 2);
        assert_eq!(gpt.max_retries, 5);
        assert_eq!(gpt.api_key.as_ref().unwrap().expose(), KEY_VALUE);
        assert_eq!(gpt.headers["x-team"], "a");
        assert!(gpt.stop.is_empty());
        let cost = gpt.cost_usd(1_000_000, 500_000).unwrap();
        assert!((cost - (0.5 + 1.0)).abs() < 1e-12);
        assert_eq!(
            p.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["zoo-0.6b", "gpt"]
        );
    }

    #[test]
    fn unknown_keys_are_named_with_their_line() {
        check_err(
            "[models.a]\nbase_url = \"http://x/v1\"\nconcurency = 3\n",
            "providers.toml:3:1: unknown field `concurency`",
        );
        check_err(
            "colour = 1\n[models.a]\nbase_url = \"http://x/v1\"\n",
            "unknown field `colour`",
        );
        check_err(
            "[models.a]\nbase_url = \"http://x/v1\"\nbudget = \"lots\"\n",
            "unknown variant `lots`",
        );
        check_err("[models.a]\nbase_url = 3\n", "providers.toml:2:");
        check_err("[models.a\n", "providers.toml:1:");
    }

    #[test]
    fn invalid_values_name_the_key() {
        check_err("", "`models`: no models");
        check_err("[models.a]\n", "`models.a.base_url`: missing");
        check_err(
            "[models.a]\nbase_url = \"ftp://x\"\n",
            "`models.a.base_url`: the scheme",
        );
        check_err(
            "[models.a]\nbase_url = \"not a url\"\n",
            "`models.a.base_url`: not a URL",
        );
        check_err(
            "[models.\"zoo-0.6b\"]\nbase_url = \"http://x/v1\"\nconcurrency = 0\n",
            "`models.\"zoo-0.6b\".concurrency`: must be at least 1",
        );
        check_err(
            "[models.a]\nbase_url = \"http://x/v1\"\ntimeout_s = -1\n",
            "`models.a.timeout_s`",
        );
        check_err(
            "[models.a]\nbase_url = \"http://x/v1\"\nmax_tokens = 0\n",
            "`models.a.max_tokens`",
        );
        check_err(
            "[models.a]\nbase_url = \"http://x/v1\"\nprice_in_per_mtok = -2\n",
            "`models.a.price_in_per_mtok`",
        );
        check_err(
            "[models.a]\nbase_url = \"http://x/v1\"\nbudget = \"forcing\"\n",
            "`models.a.chat_template`: api = \"completions\" needs",
        );
        check_err(
            "[models.a]\nbase_url = \"http://x/v1\"\napi = \"chat\"\nbudget = \"forcing\"\n",
            "`models.a.budget`",
        );
        check_err(
            "[models.a]\nbase_url = \"http://x/v1\"\napi = \"completions\"\nchat_template = \"chatml\"\nbudget = \"reasoning_effort\"\n",
            "needs api = \"chat\"",
        );
        check_err(
            "[models.a]\nbase_url = \"http://x/v1\"\nchat_template = \"qwen3\"\n",
            "`models.a.chat_template`: only used",
        );
        check_err(
            "[models.a]\nbase_url = \"http://x/v1\"\nheaders = { \"bad header\" = \"v\" }\n",
            "`models.a.headers.bad header`",
        );
        check_err(
            "[defaults]\nmodel = \"m\"\n[models.a]\nbase_url = \"http://x/v1\"\n",
            "`defaults.model`",
        );
        check_err(
            "[models.a]\nbase_url = \"http://x/v1\"\nstop = [\"a\", \"b\", \"c\", \"d\", \"e\"]\n",
            "`models.a.stop`: at most 4",
        );
        check_err(
            "[models.a]\nbase_url = \"http://x/v1\"\nstop = [\"\"]\n",
            "`models.a.stop`: a stop sequence must not be empty",
        );
        check_err(
            "[models.a]\nbase_url = \"http://x/v1\"\nbudget = \"forcing\"\nchat_template = \"qwen3\"\nstop = [\"x\"]\n",
            "`models.a.stop`: not with budget = \"forcing\"",
        );
    }

    #[test]
    fn shared_base_url_shares_one_concurrency() {
        let p = parse(
            "[models.a]\nbase_url = \"http://x/v1\"\nconcurrency = 3\n[models.b]\nbase_url = \"http://x/v1/\"\n",
        )
        .unwrap();
        assert_eq!(p.get("a").unwrap().concurrency, 3);
        assert_eq!(p.get("b").unwrap().concurrency, 3);
        check_err(
            "[models.a]\nbase_url = \"http://x/v1\"\nconcurrency = 3\n[models.b]\nbase_url = \"http://x/v1\"\nconcurrency = 5\n",
            "`models.b.concurrency`: 5 differs from 3 set for model `a`",
        );
    }

    #[test]
    fn missing_key_names_the_variable_only() {
        check_err(
            "[models.a]\nbase_url = \"http://x/v1\"\napi_key_env = \"NOPE_KEY\"\n",
            "`models.a.api_key_env`: environment variable `NOPE_KEY` is not set",
        );
        check_err(
            "[models.a]\nbase_url = \"http://x/v1\"\napi_key_env = \"EMPTY_KEY\"\n",
            "`EMPTY_KEY` is not set or empty",
        );
    }

    #[test]
    fn debug_never_shows_the_key_or_header_values() {
        let p = parse(
            "[models.a]\nbase_url = \"http://x/v1\"\napi_key_env = \"ZOO_KEY\"\nheaders = { \"x-secret\" = \"hv-123\" }\n",
        )
        .unwrap();
        let debug = format!("{p:?} {:#?}", p.get("a").unwrap());
        assert!(!debug.contains(KEY_VALUE), "{debug}");
        assert!(!debug.contains("hv-123"), "{debug}");
        assert!(
            debug.contains("ZOO_KEY") && debug.contains("x-secret") && debug.contains("<redacted>")
        );
    }

    #[test]
    fn header_values_and_url_userinfo_never_show_in_errors_or_debug() {
        let shapes = [
            "[models.a]\nbase_url = \"http://x/v1\"\nheaders = \"hv-secret-1\"\n",
            "[defaults.headers]\nx-api-key = [\"hv-secret-1\"]\n[models.a]\nbase_url = \"http://x/v1\"\n",
        ];
        for text in shapes {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.starts_with("providers.toml:"), "{err}");
            assert!(!err.contains("hv-secret-1"), "{err}");
        }
        let err = parse(
            "[models.a]\nbase_url = \"http://u:pw-secret-2@x/v1\"\nconcurrency = 3\n[models.b]\nbase_url = \"http://u:pw-secret-2@x/v1\"\nconcurrency = 5\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("base_url http://***@x/v1"), "{err}");
        assert!(!err.contains("pw-secret-2"), "{err}");
        let p = parse("[models.a]\nbase_url = \"http://u:pw-secret-2@x/v1\"\n").unwrap();
        assert_eq!(p.get("a").unwrap().base_url, "http://u:pw-secret-2@x/v1");
        let debug = format!("{p:?}");
        assert!(
            debug.contains("http://***@x/v1") && !debug.contains("pw-secret-2"),
            "{debug}"
        );
    }

    #[test]
    fn line_column_counts_from_one() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("é\nx", 1), (1, 1));
    }
}

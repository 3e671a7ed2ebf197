//! The router file, `flowcompile.router.v1`: what a KNN router needs, in one JSON document.

use flowcompile_artifact::ExecutionModel;
use serde::{Deserialize, Serialize};

use crate::error::RouteError;

/// The format tag of router files this crate writes and reads.
pub const FORMAT_V1: &str = "flowcompile.router.v1";

/// The JSON Schema of [`RouterFile`] (`flowcompile schema router`).
pub fn json_schema() -> serde_json::Value {
    schemars::schema_for!(RouterFile).to_value()
}

/// A router file: the workflow and proxy settings it was built for, the embedding model, `k`, each
/// agent's global profile and each validation item's embedding and own profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RouterFile {
    /// Always [`FORMAT_V1`].
    pub format: String,
    /// The workflow's name.
    pub workflow: String,
    /// SHA-256 of the workflow file the profiles were measured with, when known.
    pub spec_sha256: Option<String>,
    /// SHA-256 of the artifact whose proxy settings the router uses, when known.
    pub artifact_sha256: Option<String>,
    /// How parallel branches' latencies combine (the artifact's execution model).
    pub execution: ExecutionModel,
    /// Nearest validation items a query's frontier is composed from.
    pub k: usize,
    /// Pseudo-calls of the global profile each item's own mean is shrunk with: an item cell with
    /// n calls counts as (n * own + prior_calls * global) / (n + prior_calls). 0 uses the items' own
    /// means as they are (the paper); more damps items measured on one or two calls.
    pub prior_calls: f64,
    /// The `/v1/embeddings` model name queries must be embedded with.
    pub embed_model: String,
    /// Length of every embedding.
    pub dims: usize,
    /// What the models behind the profiles are (e.g. "zoo (synthetic)").
    pub models_label: Option<String>,
    /// The workflow's agents in order, each with its global profile per setting.
    pub agents: Vec<RouterAgent>,
    /// The validation items, in id order.
    pub items: Vec<RouterItem>,
}

/// One agent and its global profile (every profiling call, as compile used it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RouterAgent {
    /// Agent name.
    pub name: String,
    /// Its settings, in the workflow's order.
    pub settings: Vec<GlobalSetting>,
}

/// One setting of an agent with its global mean accuracy and latency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GlobalSetting {
    /// Model name.
    pub model: String,
    /// Thinking budget, tokens.
    pub budget_tokens: u32,
    /// Mean score over all profiling calls.
    pub accuracy: f64,
    /// Mean latency over all profiling calls, seconds.
    pub latency_s: f64,
}

/// One validation item: its embedding and its own measurements.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RouterItem {
    /// The item's id (as the runner names items).
    pub id: String,
    /// Its text's embedding (any scale: the router normalises).
    pub embedding: Vec<f32>,
    /// Its measured (agent, setting) cells; cells not listed fall back to the global profile.
    pub profile: Vec<ItemCell>,
}

/// The mean of one agent's calls under one setting on one item.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ItemCell {
    /// Index into [`RouterFile::agents`].
    pub agent: usize,
    /// Index into that agent's settings.
    pub setting: usize,
    /// Mean score of the item's calls.
    pub accuracy: f64,
    /// Mean latency of the item's calls, seconds.
    pub latency_s: f64,
    /// Calls averaged.
    pub calls: u32,
}

impl RouterFile {
    /// Reads a router file from `text` (read from `source`, named in errors) and checks it: the
    /// format tag, `k` and `dims` at least 1, every embedding `dims` long and finite, every accuracy
    /// in [0, 1], every latency finite and non-negative, every cell's indices in range.
    pub fn parse(text: &str, source: &str) -> Result<RouterFile, RouteError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| RouteError::Json {
                file: source.to_string(),
                message: e.to_string(),
            })?;
        match value.get("format").and_then(|f| f.as_str()) {
            Some(FORMAT_V1) => {}
            other => {
                return Err(field(
                    source,
                    "format",
                    format!(
                        "expected \"{FORMAT_V1}\", found {}",
                        other.map_or("nothing".to_string(), |f| format!("\"{f}\""))
                    ),
                ))
            }
        }
        let file: RouterFile = serde_json::from_value(value).map_err(|e| RouteError::Json {
            file: source.to_string(),
            message: e.to_string(),
        })?;
        file.check(source)?;
        Ok(file)
    }

    /// The file as compact JSON with a final newline (embeddings make pretty printing large).
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string(self).expect("a router file serialises");
        text.push('\n');
        text
    }

    fn check(&self, source: &str) -> Result<(), RouteError> {
        if self.k == 0 {
            return Err(field(source, "k", "expected at least 1".into()));
        }
        if !(self.prior_calls.is_finite() && self.prior_calls >= 0.0) {
            return Err(field(
                source,
                "prior_calls",
                format!("expected a finite number >= 0, found {}", self.prior_calls),
            ));
        }
        if self.dims == 0 {
            return Err(field(source, "dims", "expected at least 1".into()));
        }
        if self.agents.is_empty() {
            return Err(field(
                source,
                "agents",
                "expected at least one agent".into(),
            ));
        }
        for (a, agent) in self.agents.iter().enumerate() {
            for (s, g) in agent.settings.iter().enumerate() {
                let at = format!("agents[{a}].settings[{s}]");
                check_metrics(source, &at, g.accuracy, g.latency_s)?;
            }
        }
        if self.items.is_empty() {
            return Err(field(
                source,
                "items",
                "expected at least one validation item".into(),
            ));
        }
        for (i, item) in self.items.iter().enumerate() {
            if item.embedding.len() != self.dims {
                return Err(field(
                    source,
                    &format!("items[{i}].embedding"),
                    format!(
                        "expected {} numbers (dims), found {}",
                        self.dims,
                        item.embedding.len()
                    ),
                ));
            }
            if let Some(j) = item.embedding.iter().position(|x| !x.is_finite()) {
                return Err(field(
                    source,
                    &format!("items[{i}].embedding[{j}]"),
                    "expected a finite number".into(),
                ));
            }
            for (c, cell) in item.profile.iter().enumerate() {
                let at = format!("items[{i}].profile[{c}]");
                let Some(agent) = self.agents.get(cell.agent) else {
                    return Err(field(
                        source,
                        &format!("{at}.agent"),
                        format!(
                            "expected an agent index below {}, found {}",
                            self.agents.len(),
                            cell.agent
                        ),
                    ));
                };
                if cell.setting >= agent.settings.len() {
                    return Err(field(
                        source,
                        &format!("{at}.setting"),
                        format!(
                            "expected a setting index of agent '{}' below {}, found {}",
                            agent.name,
                            agent.settings.len(),
                            cell.setting
                        ),
                    ));
                }
                check_metrics(source, &at, cell.accuracy, cell.latency_s)?;
            }
        }
        Ok(())
    }
}

fn check_metrics(source: &str, at: &str, accuracy: f64, latency_s: f64) -> Result<(), RouteError> {
    if !(0.0..=1.0).contains(&accuracy) {
        return Err(field(
            source,
            &format!("{at}.accuracy"),
            format!("expected a number in [0, 1], found {accuracy}"),
        ));
    }
    if !(latency_s.is_finite() && latency_s >= 0.0) {
        return Err(field(
            source,
            &format!("{at}.latency_s"),
            format!("expected a finite number of seconds >= 0, found {latency_s}"),
        ));
    }
    Ok(())
}

fn field(source: &str, field: &str, expected: String) -> RouteError {
    RouteError::Field {
        file: source.to_string(),
        field: field.to_string(),
        expected,
    }
}

//! What a run returns: the answer's outcome ([`RunResult`]), the trace of every model call and tool run
//! ([`CallRecord`], [`ToolRecord`]), and why a run failed ([`RunError`]).

use flowcompile_client::ClientError;
use flowcompile_ir::{ConfigError, SpaceError};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::score::Score;

/// Why running a workflow on an item failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The workflow's design space cannot be built.
    #[error("workflow `{workflow}`: {source}")]
    Space {
        /// Workflow name.
        workflow: String,
        /// Why.
        source: SpaceError,
    },
    /// Agents without a prompt: the workflow is a shape file, whose application owns the prompts.
    #[error("workflow `{workflow}`: agent(s) {agents} have no `prompt`: this is a shape file, whose application owns the prompts; flowcompile's runner cannot run it: give each agent a `prompt`, or put `flowcompile gateway --shape` in front of the application")]
    NoPrompt {
        /// Workflow name.
        workflow: String,
        /// The agents without a prompt, comma-separated.
        agents: String,
    },
    /// The configuration does not fit the design space.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The dataset item is not a JSON object.
    #[error("item `{item}`: not a json object")]
    NotAnObject {
        /// Item id.
        item: String,
    },
    /// The item lacks a field the workflow needs.
    #[error("item `{item}`: no field `{field}`")]
    MissingField {
        /// Item id.
        item: String,
        /// The field.
        field: String,
    },
    /// A template reads a variable that is neither an item field nor a runner variable.
    #[error("agent `{agent}`: the {template} template uses undefined variable `{variable}` (item `{item}` has fields: {fields})")]
    UndefinedVariable {
        /// Agent name.
        agent: String,
        /// `prompt` or `system`.
        template: &'static str,
        /// The variable.
        variable: String,
        /// Item id.
        item: String,
        /// The item's fields, comma-separated.
        fields: String,
    },
    /// A template does not parse or fails to render.
    #[error("agent `{agent}`: cannot render the {template} template: {message}")]
    Template {
        /// Agent name.
        agent: String,
        /// `prompt` or `system`.
        template: &'static str,
        /// The template engine's message.
        message: String,
    },
    /// A model call failed after the client's retries.
    #[error("agent `{agent}` (slot `{slot}`): {source}")]
    Call {
        /// Agent name.
        agent: String,
        /// Slot name.
        slot: String,
        /// The client's error.
        source: Box<ClientError>,
    },
}

/// One model call in a trace.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CallRecord {
    /// Call site: position of the call in the structure (pre-order over calls, tools and conditionals).
    pub site: usize,
    /// Sample index: 0, or the retry attempt for calls inside a retry's fixer.
    pub sample: u64,
    /// Seed sent to the model (hash of item id, site and sample).
    pub seed: u64,
    /// Agent name.
    pub agent: String,
    /// Slot name.
    pub slot: String,
    /// Model name.
    pub model: String,
    /// Thinking budget, tokens.
    pub budget_tokens: u32,
    /// xxh3 of the rendered system and user prompts, hex.
    pub prompt_hash: String,
    /// Characters of the rendered prompts.
    pub prompt_chars: usize,
    /// The model's answer text (thinking removed); empty when the call failed.
    pub output: String,
    /// The parsed output value (the trimmed text when parsing failed).
    pub parsed: String,
    /// Whether the output parser found its form.
    pub parse_ok: bool,
    /// Prompt tokens, when reported.
    pub prompt_tokens: u64,
    /// Completion tokens (thinking included), when reported.
    pub completion_tokens: u64,
    /// Wall seconds of the call, queueing and retries included.
    pub latency_s: f64,
    /// The server's modelled latency, when it sent one.
    pub modelled_latency_s: Option<f64>,
    /// Cost from the provider's prices, when known.
    pub cost_usd: Option<f64>,
    /// The error, when the call failed.
    pub error: Option<String>,
    /// The template variables the prompt was rendered from (the item's fields plus `input`,
    /// `candidates`, `feedback` and `context`): what data induction keeps to replay the call alone.
    /// Left out of serialised traces, which would otherwise repeat the item in every call.
    #[serde(skip)]
    pub inputs: Map<String, Value>,
}

/// One tool run in a trace.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolRecord {
    /// Position in the structure (same numbering as [`CallRecord::site`]).
    pub site: usize,
    /// Sample index (the retry attempt inside a fixer).
    pub sample: u64,
    /// Tool name.
    pub tool: String,
    /// Tool kind, as in workflow files.
    pub kind: &'static str,
    /// What the tool produced (or why it was skipped).
    pub output: String,
    /// Whether it succeeded (program ran, tests passed, selection applied).
    pub ok: bool,
    /// Wall seconds.
    pub latency_s: f64,
}

/// What running one configuration on one item gave.
#[derive(Debug)]
pub struct RunResult {
    /// Item id (its `id`, `_id`, `unique_id`, `task_id` or `question_id` field, else a hash of the item).
    pub item_id: String,
    /// Structure index.
    pub structure: usize,
    /// The final answer, or why the run failed (a failed call fails the item).
    pub answer: Result<String, RunError>,
    /// The answer's score; `None` when the run failed or was not scored ([`Runner::run_unscored`]).
    pub score: Option<Score>,
    /// Wall seconds of the run, scoring excluded.
    pub latency_s: f64,
    /// Modelled seconds along the critical path: calls by the server's modelled latency (wall when
    /// absent), tools by their declared latency, sums along sequences, maxima over parallel branches.
    pub modelled_latency_s: f64,
    /// Every model call, in site order.
    pub calls: Vec<CallRecord>,
    /// Every tool run, in site order.
    pub tools: Vec<ToolRecord>,
    /// Prompt plus completion tokens over all calls.
    pub tokens: u64,
}

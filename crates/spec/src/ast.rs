//! The located syntax of a workflow file: what TOML deserialises into, spans kept for diagnostics.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

/// A workflow file: metadata, the task, the design space, agents, tools and the graph.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowFile {
    /// Workflow name; also the model name a compiled workflow is served under.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// One-line description.
    #[serde(default)]
    pub description: Option<String>,
    /// Dataset fields the prompts use and how answers are scored.
    #[serde(default)]
    pub task: Option<TaskSpec>,
    /// Models and budgets every agent may use unless it says otherwise.
    pub space: SpaceSpec,
    /// LLM sub-agents by name, in the order configurations list them.
    #[serde(default)]
    #[schemars(with = "std::collections::BTreeMap<String, AgentSpec>")]
    pub agents: IndexMap<Spanned<String>, Spanned<AgentSpec>>,
    /// Deterministic tools by name.
    #[serde(default)]
    #[schemars(with = "std::collections::BTreeMap<String, ToolSpec>")]
    pub tools: IndexMap<Spanned<String>, Spanned<ToolSpec>>,
    /// The workflow graph.
    pub graph: GraphSpec,
}

/// The dataset fields prompts read and the scorer of final answers.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Dataset fields available to prompts as template variables (default `["question"]`).
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// Dataset field with the gold answer (default `answer`).
    #[serde(default)]
    pub answer: Option<String>,
    /// `exact_number`, `math_equiv`, `f1`, `exact_match` or `tests` (default `exact_match`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub scorer: Option<Spanned<String>>,
}

/// The global design space: every agent may run on each model with each budget.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpaceSpec {
    /// Model names (as in the providers file and the profiles).
    #[schemars(with = "Vec<String>")]
    pub models: Spanned<Vec<Spanned<String>>>,
    /// Thinking-token budgets (0 = no thinking).
    #[schemars(with = "Vec<u32>")]
    pub budgets: Spanned<Vec<u32>>,
    /// Whether all call sites of one agent share one setting (default true, as in the paper).
    #[serde(default)]
    pub share_settings: Option<bool>,
}

/// An LLM sub-agent.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    /// What it does for the zoo: `solve`, `refine`, `select`, `format`, `judge` (default `solve`).
    #[serde(default)]
    pub role: Option<String>,
    /// System prompt template.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub system: Option<Spanned<String>>,
    /// User prompt template (minijinja): dataset fields, `input`, `candidates`, `feedback`. A shape
    /// file (for `flowcompile gateway --shape`, whose application owns the prompts) may leave it
    /// out; flowcompile's own runner cannot run an agent without one.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub prompt: Option<Spanned<String>>,
    /// Output parser: `raw`, `boxed`, `tag:NAME`, `code` or `code:LANG` (default `raw`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub output: Option<Spanned<String>>,
    /// Models this agent may use instead of the global list.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub models: Option<Spanned<Vec<Spanned<String>>>>,
    /// Budgets this agent may use instead of the global list.
    #[serde(default)]
    #[schemars(with = "Option<Vec<u32>>")]
    pub budgets: Option<Spanned<Vec<u32>>>,
    /// Pin the model, the budget or both.
    #[serde(default)]
    #[schemars(with = "Option<LockSpec>")]
    pub lock: Option<Spanned<LockSpec>>,
}

/// A lock pins an agent's model and/or budget.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LockSpec {
    /// The only model allowed.
    #[serde(default)]
    pub model: Option<String>,
    /// The only budget allowed.
    #[serde(default)]
    pub budget: Option<u32>,
}

/// A deterministic tool.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolSpec {
    /// `extract_answer`, `run_python`, `python_tests`, `select_final` or `select_paragraphs`.
    #[schemars(with = "String")]
    pub kind: Spanned<String>,
    /// Latency the proxy charges for the tool, in seconds (default 0).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub latency_s: Option<Spanned<f64>>,
}

/// The graph: named nodes and the entry node.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GraphSpec {
    /// Entry: a node, agent or tool name.
    #[schemars(with = "String")]
    pub root: Spanned<String>,
    /// Named nodes; each has exactly one construct key.
    #[serde(default)]
    #[schemars(with = "std::collections::BTreeMap<String, NodeSpec>")]
    pub nodes: IndexMap<Spanned<String>, Spanned<NodeSpec>>,
}

/// A count: a fixed number or an inclusive `[min, max]` range (a structure knob).
#[derive(Debug, Clone, Copy, JsonSchema)]
#[serde(untagged)]
pub enum CountSpec {
    /// A fixed count.
    Fixed(u32),
    /// An inclusive range.
    Range([u32; 2]),
}

/// What a count must be, in every error about one.
const COUNT_EXPECTED: &str = "a whole number (0 or more), or a range [min, max] of two";

impl<'de> Deserialize<'de> for CountSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<CountSpec, D::Error> {
        struct Visitor;
        fn whole<E: serde::de::Error>(v: i64) -> Result<u32, E> {
            u32::try_from(v).map_err(|_| E::custom(format!("count {v}: expected {COUNT_EXPECTED}")))
        }
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = CountSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(COUNT_EXPECTED)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<CountSpec, E> {
                whole(v).map(CountSpec::Fixed)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<CountSpec, E> {
                whole(i64::try_from(v).unwrap_or(i64::MAX)).map(CountSpec::Fixed)
            }
            fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<CountSpec, E> {
                Err(E::custom(format!("count {v}: expected {COUNT_EXPECTED}")))
            }
            fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<CountSpec, E> {
                Err(E::custom(format!("count {v}: expected {COUNT_EXPECTED}")))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<CountSpec, A::Error> {
                use serde::de::Error;
                let mut bounds = Vec::new();
                // Each bound is read as a count itself, so that any number says what is expected.
                while let Some(bound) = seq.next_element::<CountSpec>()? {
                    match bound {
                        CountSpec::Fixed(n) => bounds.push(n),
                        CountSpec::Range(_) => {
                            return Err(A::Error::custom(format!(
                                "a count range holds numbers, not ranges: expected {COUNT_EXPECTED}"
                            )))
                        }
                    }
                }
                match bounds[..] {
                    [min, max] => Ok(CountSpec::Range([min, max])),
                    _ => Err(A::Error::custom(format!(
                        "a count range has {} numbers: expected {COUNT_EXPECTED}",
                        bounds.len()
                    ))),
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// One branch of a conditional.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BranchSpec {
    /// The node, agent or tool taken.
    #[schemars(with = "String")]
    pub node: Spanned<String>,
    /// Probability of the branch; a conditional's weights sum to 1.
    #[schemars(with = "f64")]
    pub weight: Spanned<f64>,
}

/// A graph node: exactly one of `seq`, `any_of`, `all_of`, `cond`, `repeat`, `optional`, `vote`, `retry`.
/// Names refer to nodes, agents (a call) or tools (a run).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Steps in order, each receiving the previous one's output as `input`.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub seq: Option<Vec<Spanned<String>>>,
    /// Parallel candidates; success when any succeeds.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub any_of: Option<Vec<Spanned<String>>>,
    /// Parallel steps that must all succeed.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub all_of: Option<Vec<Spanned<String>>>,
    /// Branches with probabilities.
    #[serde(default)]
    #[schemars(with = "Option<Vec<BranchSpec>>")]
    pub cond: Option<Vec<Spanned<BranchSpec>>>,
    /// Parallel copies of a knob-free node; with `count`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub repeat: Option<Spanned<String>>,
    /// How many copies for `repeat` (a range makes it a knob).
    #[serde(default)]
    #[schemars(with = "Option<CountSpec>")]
    pub count: Option<Spanned<CountSpec>>,
    /// A step the compiler may switch off.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub optional: Option<Spanned<String>>,
    /// The agent that votes over the candidates of `over`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub vote: Option<Spanned<String>>,
    /// The candidates of a `vote`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub over: Option<Spanned<String>>,
    /// Fewest candidates for the vote to run (default 2); with fewer, the candidate passes through.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub min_inputs: Option<Spanned<u32>>,
    /// What each retry runs after a failure; with `body` and `attempts`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub retry: Option<Spanned<String>>,
    /// The first attempt of a `retry`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub body: Option<Spanned<String>>,
    /// Most retries (a range makes it a knob).
    #[serde(default)]
    #[schemars(with = "Option<CountSpec>")]
    pub attempts: Option<Spanned<CountSpec>>,
}

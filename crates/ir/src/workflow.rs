//! The workflow graph: agents, tools, nodes and the design space each agent allows.

use std::fmt;

/// Index of an agent in [`Workflow::agents`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgentId(pub u32);

/// Index of a tool in [`Workflow::tools`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ToolId(pub u32);

/// Index of a node in [`Workflow::nodes`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

/// Index of a slot in [`crate::DesignSpace::slots`]: the unit that receives one setting.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotId(pub u32);

/// One way to run an agent: a model name and a reasoning budget in thinking tokens.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Setting {
    /// Model name as the providers file and the profiles know it.
    pub model: String,
    /// Thinking-token budget (0 means no thinking).
    pub budget_tokens: u32,
}

impl Setting {
    /// A setting of `model` with `budget_tokens` thinking tokens.
    pub fn new(model: impl Into<String>, budget_tokens: u32) -> Setting {
        Setting {
            model: model.into(),
            budget_tokens,
        }
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.model, self.budget_tokens)
    }
}

/// How a workflow's final answer is scored against the gold answer.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scorer {
    /// Numeric exact match of the final number (GSM8K).
    ExactNumber,
    /// Mathematical answer equivalence after normalisation (MATH).
    MathEquiv,
    /// Token-level F1 (HotpotQA); an item counts as correct when F1 > 0.5.
    F1,
    /// Normalised exact string match.
    ExactMatch,
    /// The program passes its tests (code).
    Tests,
}

impl Scorer {
    /// The name used in workflow files.
    pub fn name(self) -> &'static str {
        match self {
            Scorer::ExactNumber => "exact_number",
            Scorer::MathEquiv => "math_equiv",
            Scorer::F1 => "f1",
            Scorer::ExactMatch => "exact_match",
            Scorer::Tests => "tests",
        }
    }

    /// Every scorer, in the order the docs list them.
    pub const ALL: [Scorer; 5] = [
        Scorer::ExactNumber,
        Scorer::MathEquiv,
        Scorer::F1,
        Scorer::ExactMatch,
        Scorer::Tests,
    ];
}

/// What the workflow is run on: the dataset fields prompts may use and how answers are scored.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    /// Dataset fields the prompts read (e.g. `question`, `context`).
    pub fields: Vec<String>,
    /// Dataset field holding the gold answer.
    pub answer: String,
    /// How the final answer is scored.
    pub scorer: Scorer,
}

impl Default for Task {
    fn default() -> Task {
        Task {
            fields: vec!["question".into()],
            answer: "answer".into(),
            scorer: Scorer::ExactMatch,
        }
    }
}

/// How an agent's reply is turned into its output value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutputParser {
    /// The whole reply, trimmed.
    Raw,
    /// The last `\boxed{...}` in the reply.
    Boxed,
    /// The text inside the last `<tag>...</tag>`.
    Tag(String),
    /// The last fenced code block, optionally of one language.
    CodeBlock(Option<String>),
}

/// An LLM sub-agent: a prompt, an output parser and the settings it may run under.
#[derive(Clone, Debug, PartialEq)]
pub struct Agent {
    /// Unique name, as in the workflow file and the profiles.
    pub name: String,
    /// What the agent does (`solve`, `refine`, `select`, `format`, `judge`...), used by the zoo.
    pub role: String,
    /// Optional system prompt (a template).
    pub system: Option<String>,
    /// User prompt template; `None` in a shape file, whose application owns the prompts (such a
    /// workflow can be compiled from captured calls, but flowcompile's runner refuses it).
    pub prompt: Option<String>,
    /// How the reply becomes the agent's output.
    pub output: OutputParser,
    /// The settings the design space allows for this agent, in file order.
    pub settings: Vec<Setting>,
}

impl Agent {
    /// An agent with a raw-output empty prompt and the given settings (handy in tests and examples).
    pub fn new(name: impl Into<String>, settings: Vec<Setting>) -> Agent {
        Agent {
            name: name.into(),
            role: "solve".into(),
            system: None,
            prompt: Some(String::new()),
            output: OutputParser::Raw,
            settings,
        }
    }
}

/// What a deterministic tool does when the executor runs it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ToolKind {
    /// Extract the final answer from a solution (boxed answer, else last number).
    ExtractAnswer,
    /// Run the Python program in the input and pass on its output.
    RunPython,
    /// Run the candidate program against the task's tests; fails the step when they fail.
    PythonTests,
    /// Pick the final solution among the attempts (the last one that passed, else the last).
    SelectFinal,
    /// Keep the context paragraphs that share the most words with the question.
    SelectParagraphs,
}

impl ToolKind {
    /// The name used in workflow files.
    pub fn name(self) -> &'static str {
        match self {
            ToolKind::ExtractAnswer => "extract_answer",
            ToolKind::RunPython => "run_python",
            ToolKind::PythonTests => "python_tests",
            ToolKind::SelectFinal => "select_final",
            ToolKind::SelectParagraphs => "select_paragraphs",
        }
    }

    /// Every tool kind, in the order the docs list them.
    pub const ALL: [ToolKind; 5] = [
        ToolKind::ExtractAnswer,
        ToolKind::RunPython,
        ToolKind::PythonTests,
        ToolKind::SelectFinal,
        ToolKind::SelectParagraphs,
    ];
}

/// A deterministic step: it passes accuracy through and costs a fixed latency in the proxy.
#[derive(Clone, Debug, PartialEq)]
pub struct Tool {
    /// Unique name.
    pub name: String,
    /// What it does.
    pub kind: ToolKind,
    /// Latency the proxy charges for it, in seconds.
    pub latency_s: f64,
}

/// An inclusive range of counts; a structure knob when `min < max`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Count {
    /// Smallest value.
    pub min: u32,
    /// Largest value.
    pub max: u32,
}

impl Count {
    /// The range `min..=max`.
    pub fn new(min: u32, max: u32) -> Count {
        Count { min, max }
    }

    /// A fixed count.
    pub fn exactly(n: u32) -> Count {
        Count { min: n, max: n }
    }

    /// Whether the count is a choice the compiler makes.
    pub fn is_knob(self) -> bool {
        self.min < self.max
    }
}

/// One branch of a conditional: a node taken with a probability.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Branch {
    /// Probability that this branch is taken (the weights of a conditional sum to 1).
    pub weight: f64,
    /// The branch.
    pub node: NodeId,
}

/// A construct of the workflow graph.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// A call of an agent (one call site).
    Agent(AgentId),
    /// A run of a deterministic tool.
    Tool(ToolId),
    /// Steps in order, each receiving the previous one's output.
    Seq(Vec<NodeId>),
    /// Parallel candidates; success when any one succeeds (they feed a vote or a selector).
    AnyOf(Vec<NodeId>),
    /// Parallel steps that must all succeed.
    AllOf(Vec<NodeId>),
    /// Exactly one branch runs, with the given probabilities.
    Cond(Vec<Branch>),
    /// `count` parallel copies of `body` (a structure knob when the count is a range).
    Repeat {
        /// The repeated node; it must contain no structure knob.
        body: NodeId,
        /// How many copies.
        count: Count,
    },
    /// A step the compiler may switch off (a structure knob).
    Optional(NodeId),
    /// A self-consistency vote by an agent over the candidates `over` produces; it runs only when
    /// there are at least `min_inputs` candidates, else the single candidate passes through.
    Vote {
        /// The agent call that votes (an [`NodeKind::Agent`] node).
        ensemble: NodeId,
        /// The node producing the candidates.
        over: NodeId,
        /// Fewest candidates for the vote to run.
        min_inputs: u32,
    },
    /// Run `body`; on failure run `fixer`, up to `attempts` times, stopping on success.
    Retry {
        /// The first attempt.
        body: NodeId,
        /// What each retry runs.
        fixer: NodeId,
        /// How many retries at most (a structure knob when a range).
        attempts: Count,
    },
}

/// A named node of the workflow graph.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Name in the workflow file (agent and tool call sites are named after what they call).
    pub name: String,
    /// The construct.
    pub kind: NodeKind,
}

/// A validated workflow: agents, tools and an acyclic graph of nodes rooted at [`Workflow::root`].
#[derive(Clone, Debug, PartialEq)]
pub struct Workflow {
    /// Workflow name (the served model name).
    pub name: String,
    /// One-line description.
    pub description: Option<String>,
    /// Dataset fields and scoring.
    pub task: Task,
    /// Agents, indexed by [`AgentId`].
    pub agents: Vec<Agent>,
    /// Tools, indexed by [`ToolId`].
    pub tools: Vec<Tool>,
    /// Graph nodes, indexed by [`NodeId`].
    pub nodes: Vec<Node>,
    /// Entry node.
    pub root: NodeId,
    /// Whether all call sites of one agent share one setting (the paper) or each site has its own.
    pub share_settings: bool,
}

impl Workflow {
    /// A workflow with these agents, no tools and an empty graph; add nodes and set `root`.
    pub fn new(name: impl Into<String>, agents: Vec<Agent>) -> Workflow {
        Workflow {
            name: name.into(),
            description: None,
            task: Task::default(),
            agents,
            tools: Vec::new(),
            nodes: Vec::new(),
            root: NodeId(0),
            share_settings: true,
        }
    }

    /// Appends a node and returns its id.
    pub fn add_node(&mut self, name: impl Into<String>, kind: NodeKind) -> NodeId {
        self.nodes.push(Node {
            name: name.into(),
            kind,
        });
        NodeId(self.nodes.len() as u32 - 1)
    }

    /// The node with this id.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0 as usize]
    }

    /// The agent with this id.
    pub fn agent(&self, id: AgentId) -> &Agent {
        &self.agents[id.0 as usize]
    }

    /// The tool with this id.
    pub fn tool(&self, id: ToolId) -> &Tool {
        &self.tools[id.0 as usize]
    }

    /// The agent with this name.
    pub fn agent_by_name(&self, name: &str) -> Option<AgentId> {
        self.agents
            .iter()
            .position(|a| a.name == name)
            .map(|i| AgentId(i as u32))
    }

    /// The node with this name, if any.
    pub fn node_by_name(&self, name: &str) -> Option<NodeId> {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .map(|i| NodeId(i as u32))
    }

    /// The direct children of a node, in order.
    pub fn children(&self, id: NodeId) -> Vec<NodeId> {
        match &self.node(id).kind {
            NodeKind::Agent(_) | NodeKind::Tool(_) => Vec::new(),
            NodeKind::Seq(c) | NodeKind::AnyOf(c) | NodeKind::AllOf(c) => c.clone(),
            NodeKind::Cond(b) => b.iter().map(|b| b.node).collect(),
            NodeKind::Repeat { body, .. } | NodeKind::Optional(body) => vec![*body],
            NodeKind::Vote { ensemble, over, .. } => vec![*over, *ensemble],
            NodeKind::Retry { body, fixer, .. } => vec![*body, *fixer],
        }
    }

    /// Whether a node is a structure knob (a choice the compiler makes).
    pub fn is_knob(&self, id: NodeId) -> bool {
        match &self.node(id).kind {
            NodeKind::Optional(_) => true,
            NodeKind::Repeat { count, .. } => count.is_knob(),
            NodeKind::Retry { attempts, .. } => attempts.is_knob(),
            _ => false,
        }
    }

    /// Whether a node or anything below it is a structure knob.
    pub fn contains_knob(&self, id: NodeId) -> bool {
        self.is_knob(id) || self.children(id).into_iter().any(|c| self.contains_knob(c))
    }
}

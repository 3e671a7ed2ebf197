//! Lowering: located syntax -> validated IR, every problem collected with its span.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use flowcompile_ir::{
    Agent, AgentId, Branch, Count, NodeId, NodeKind, OutputParser, Scorer, Setting, SpaceError,
    Task, Tool, ToolId, ToolKind, Workflow,
};
use toml::Spanned;

use crate::ast::{AgentSpec, CountSpec, NodeSpec, WorkflowFile};
use crate::error::SpecError;
use crate::BUILTIN_VARIABLES;

const CONSTRUCTS: &str = "seq, any_of, all_of, cond, repeat, optional, vote or retry";

/// What a name in the graph refers to.
#[derive(Copy, Clone, Debug)]
enum Target {
    Node(usize),
    Agent(AgentId),
    Tool(ToolId),
}

struct Lowerer<'f> {
    file: &'f WorkflowFile,
    errors: Vec<SpecError>,
    names: HashMap<&'f str, Target>,
    wf: Workflow,
    /// IR id of each named node once lowered.
    lowered: Vec<Option<NodeId>>,
    /// Span of each IR node's defining text, for errors found after lowering.
    node_spans: Vec<Range<usize>>,
}

pub(crate) fn lower(file: &WorkflowFile) -> Result<Workflow, Vec<SpecError>> {
    let mut l = Lowerer {
        file,
        errors: Vec::new(),
        names: HashMap::new(),
        wf: Workflow::new(file.name.get_ref().clone(), Vec::new()),
        lowered: vec![None; file.graph.nodes.len()],
        node_spans: Vec::new(),
    };
    l.header();
    l.agents();
    l.tools();
    l.declare_nodes();
    l.check_nodes();
    l.check_cycles();
    if l.errors.is_empty() {
        l.check_depth();
    }
    if l.errors.is_empty() {
        l.check_votes();
    }
    l.check_reachable();
    if !l.errors.is_empty() {
        return Err(l.errors);
    }
    let root = l.reference(&file.graph.root);
    l.wf.root = root;
    {
        if let Err(e) = l.wf.design_space() {
            let span = match &e {
                SpaceError::KnobInRepeat { node } => l.span_of_node_name(node),
                _ => file.graph.root.span(),
            };
            l.errors.push(SpecError::new(e.to_string(), span));
        }
    }
    if l.errors.is_empty() {
        Ok(l.wf)
    } else {
        Err(l.errors)
    }
}

/// The largest repeat count or retry attempts a workflow may ask for: each count is one structure,
/// and each copy a call site, so larger counts grow the design space past what can be listed.
pub const MAX_COUNT: u32 = 256;

/// The deepest nesting of graph nodes (a node inside a node...) a workflow may have: every pass
/// walks the graph, and a bounded depth keeps every walk within its stack.
pub const MAX_DEPTH: usize = 64;

fn count(spec: &Spanned<CountSpec>, what: &str, errors: &mut Vec<SpecError>) -> Count {
    let max = match *spec.get_ref() {
        CountSpec::Fixed(n) | CountSpec::Range([_, n]) => n,
    };
    if max > MAX_COUNT {
        errors.push(SpecError::new(
            format!("{what} {max} is above the limit of {MAX_COUNT}: expected at most {MAX_COUNT} copies or attempts"),
            spec.span(),
        ));
        return Count::exactly(0);
    }
    match *spec.get_ref() {
        CountSpec::Fixed(n) => Count::exactly(n),
        CountSpec::Range([min, max]) => {
            if min > max {
                errors.push(SpecError::new(
                    format!(
                        "{what} range [{min}, {max}] is empty: expected [min, max] with min <= max"
                    ),
                    spec.span(),
                ));
            }
            Count::new(min, max)
        }
    }
}

fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    candidates
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!("did you mean '{c}'?"))
}

impl<'f> Lowerer<'f> {
    fn err(&mut self, message: impl Into<String>, span: Range<usize>) {
        self.errors.push(SpecError::new(message, span));
    }

    fn header(&mut self) {
        let f = self.file;
        if f.name.get_ref().trim().is_empty() {
            self.err("workflow name is empty", f.name.span());
        }
        self.wf.description = f.description.clone();
        self.wf.share_settings = f.space.share_settings.unwrap_or(true);
        let mut task = Task::default();
        if let Some(t) = &f.task {
            if let Some(fields) = &t.fields {
                task.fields = fields.clone();
            }
            if let Some(answer) = &t.answer {
                task.answer = answer.clone();
            }
            if let Some(s) = &t.scorer {
                match Scorer::ALL.iter().find(|k| k.name() == s.get_ref()) {
                    Some(k) => task.scorer = *k,
                    None => {
                        let known: Vec<_> = Scorer::ALL.iter().map(|k| k.name()).collect();
                        self.err(
                            format!(
                                "unknown scorer '{}': expected one of {}",
                                s.get_ref(),
                                known.join(", ")
                            ),
                            s.span(),
                        );
                    }
                }
            }
        }
        self.wf.task = task;
        let models = &f.space.models;
        if models.get_ref().is_empty() {
            self.err(
                "space.models is empty: expected at least one model name",
                models.span(),
            );
        }
        let mut seen = HashSet::new();
        for m in models.get_ref() {
            if !seen.insert(m.get_ref()) {
                self.err(format!("model '{}' is listed twice", m.get_ref()), m.span());
            }
        }
        self.check_budgets(&f.space.budgets, "space.budgets");
    }

    fn check_budgets(&mut self, budgets: &Spanned<Vec<u32>>, what: &str) {
        if budgets.get_ref().is_empty() {
            self.err(
                format!("{what} is empty: expected at least one budget"),
                budgets.span(),
            );
        }
        let mut seen = HashSet::new();
        for b in budgets.get_ref() {
            if !seen.insert(*b) {
                self.err(
                    format!("budget {b} is listed twice in {what}"),
                    budgets.span(),
                );
            }
        }
    }

    fn agents(&mut self) {
        let f = self.file;
        for (i, (name, spec)) in f.agents.iter().enumerate() {
            let id = AgentId(i as u32);
            self.declare(name, Target::Agent(id));
            let agent = self.agent(name.get_ref(), spec.get_ref());
            self.wf.agents.push(agent);
        }
    }

    fn agent(&mut self, name: &str, spec: &AgentSpec) -> Agent {
        let f = self.file;
        let output = match &spec.output {
            None => OutputParser::Raw,
            Some(o) => match parse_output(o.get_ref()) {
                Some(p) => p,
                None => {
                    self.err(
                        format!(
                            "unknown output parser '{}': expected raw, boxed, tag:NAME, code or code:LANG",
                            o.get_ref()
                        ),
                        o.span(),
                    );
                    OutputParser::Raw
                }
            },
        };
        if let Some(prompt) = &spec.prompt {
            self.check_template(name, prompt);
        }
        if let Some(system) = &spec.system {
            self.check_template(name, system);
        }
        let global: Vec<&Spanned<String>> = f.space.models.get_ref().iter().collect();
        let models: Vec<&Spanned<String>> = match &spec.models {
            Some(m) => {
                if m.get_ref().is_empty() {
                    self.err(format!("agents.{name}.models is empty"), m.span());
                }
                m.get_ref().iter().collect()
            }
            None => global,
        };
        let budgets = match &spec.budgets {
            Some(b) => {
                self.check_budgets(b, &format!("agents.{name}.budgets"));
                b.get_ref().clone()
            }
            None => f.space.budgets.get_ref().clone(),
        };
        let mut settings: Vec<Setting> = models
            .iter()
            .flat_map(|m| {
                budgets
                    .iter()
                    .map(|b| Setting::new(m.get_ref().clone(), *b))
            })
            .collect();
        if let Some(lock) = &spec.lock {
            let l = lock.get_ref();
            if let Some(m) = &l.model {
                if !models.iter().any(|x| x.get_ref() == m) {
                    let known: Vec<&str> = models.iter().map(|x| x.get_ref().as_str()).collect();
                    self.err(
                        format!(
                            "lock of agent '{name}' names unknown model '{m}': expected one of {}",
                            known.join(", ")
                        ),
                        lock.span(),
                    );
                }
                settings.retain(|s| &s.model == m);
            }
            if let Some(b) = l.budget {
                if !budgets.contains(&b) {
                    self.err(
                        format!(
                            "lock of agent '{name}' names budget {b}, which is not in its budgets"
                        ),
                        lock.span(),
                    );
                }
                settings.retain(|s| s.budget_tokens == b);
            }
        }
        Agent {
            name: name.to_string(),
            role: spec.role.clone().unwrap_or_else(|| "solve".into()),
            system: spec.system.as_ref().map(|s| s.get_ref().clone()),
            prompt: spec.prompt.as_ref().map(|p| p.get_ref().clone()),
            output,
            settings,
        }
    }

    fn check_template(&mut self, agent: &str, text: &Spanned<String>) {
        let env = minijinja::Environment::new();
        match env.template_from_str(text.get_ref()) {
            Err(e) => self.err(
                format!(
                    "prompt of agent '{agent}' is not a valid template: {}",
                    e.detail().unwrap_or("syntax error")
                ),
                text.span(),
            ),
            Ok(t) => {
                let known: Vec<&str> = self
                    .wf
                    .task
                    .fields
                    .iter()
                    .map(String::as_str)
                    .chain(BUILTIN_VARIABLES)
                    .collect();
                let mut unknown: Vec<String> = t
                    .undeclared_variables(false)
                    .into_iter()
                    .filter(|v| !known.contains(&v.as_str()))
                    .collect();
                unknown.sort();
                for v in unknown {
                    self.errors.push(
                        SpecError::new(
                            format!("prompt of agent '{agent}' uses undefined variable '{v}'"),
                            text.span(),
                        )
                        .with_help(format!("known variables: {}", known.join(", "))),
                    );
                }
            }
        }
    }

    fn tools(&mut self) {
        let f = self.file;
        for (i, (name, spec)) in f.tools.iter().enumerate() {
            self.declare(name, Target::Tool(ToolId(i as u32)));
            let spec = spec.get_ref();
            let kind = match ToolKind::ALL
                .iter()
                .find(|k| k.name() == spec.kind.get_ref())
            {
                Some(k) => *k,
                None => {
                    let known: Vec<_> = ToolKind::ALL.iter().map(|k| k.name()).collect();
                    self.err(
                        format!(
                            "unknown tool kind '{}': expected one of {}",
                            spec.kind.get_ref(),
                            known.join(", ")
                        ),
                        spec.kind.span(),
                    );
                    ToolKind::ExtractAnswer
                }
            };
            let latency_s = match &spec.latency_s {
                Some(l) if !l.get_ref().is_finite() || *l.get_ref() < 0.0 => {
                    self.err(
                        format!(
                            "latency_s of tool '{}' is {}: expected a finite number >= 0",
                            name.get_ref(),
                            l.get_ref()
                        ),
                        l.span(),
                    );
                    0.0
                }
                Some(l) => *l.get_ref(),
                None => 0.0,
            };
            self.wf.tools.push(Tool {
                name: name.get_ref().clone(),
                kind,
                latency_s,
            });
        }
    }

    fn declare(&mut self, name: &'f Spanned<String>, target: Target) {
        if name.get_ref().trim().is_empty() {
            self.err("empty name", name.span());
            return;
        }
        if self.names.insert(name.get_ref(), target).is_some() {
            self.errors.push(
                SpecError::new(
                    format!("name '{}' is defined twice", name.get_ref()),
                    name.span(),
                )
                .with_help("agents, tools and graph nodes share one namespace"),
            );
        }
    }

    fn declare_nodes(&mut self) {
        for (i, (name, _)) in self.file.graph.nodes.iter().enumerate() {
            self.declare(name, Target::Node(i));
        }
    }

    fn resolve(&mut self, name: &Spanned<String>) -> Option<Target> {
        match self.names.get(name.get_ref().as_str()) {
            Some(t) => Some(*t),
            None => {
                let help = suggest(name.get_ref(), self.names.keys().copied());
                let mut e = SpecError::new(
                    format!(
                        "unknown name '{}': not a node, agent or tool",
                        name.get_ref()
                    ),
                    name.span(),
                );
                e.help = help;
                self.errors.push(e);
                None
            }
        }
    }

    /// Checks each node's shape and that its references resolve.
    fn check_nodes(&mut self) {
        let file = self.file;
        for (name, spec) in &file.graph.nodes {
            let s = spec.get_ref();
            let set: Vec<&str> = [
                ("seq", s.seq.is_some()),
                ("any_of", s.any_of.is_some()),
                ("all_of", s.all_of.is_some()),
                ("cond", s.cond.is_some()),
                ("repeat", s.repeat.is_some()),
                ("optional", s.optional.is_some()),
                ("vote", s.vote.is_some()),
                ("retry", s.retry.is_some()),
            ]
            .into_iter()
            .filter_map(|(k, on)| on.then_some(k))
            .collect();
            let n = name.get_ref();
            match set.len() {
                0 => self.err(
                    format!("node '{n}' has no construct: expected one of {CONSTRUCTS}"),
                    spec.span(),
                ),
                1 => {}
                _ => self.err(
                    format!(
                        "node '{n}' has {}: expected exactly one construct",
                        set.join(" and ")
                    ),
                    spec.span(),
                ),
            }
            let misplaced = [
                ("count", s.count.is_some(), "repeat"),
                ("over", s.over.is_some(), "vote"),
                ("min_inputs", s.min_inputs.is_some(), "vote"),
                ("body", s.body.is_some(), "retry"),
                ("attempts", s.attempts.is_some(), "retry"),
            ];
            for (key, present, owner) in misplaced {
                if present && !set.contains(&owner) {
                    self.err(
                        format!("'{key}' of node '{n}' belongs to a {owner} node"),
                        spec.span(),
                    );
                }
            }
            for (key, list) in [
                ("seq", &s.seq),
                ("any_of", &s.any_of),
                ("all_of", &s.all_of),
            ] {
                if let Some(list) = list {
                    if list.is_empty() {
                        self.err(format!("{key} of node '{n}' is empty"), spec.span());
                    }
                    for r in list {
                        self.resolve(r);
                    }
                }
            }
            if let Some(branches) = &s.cond {
                self.check_cond(n, spec.span(), branches);
            }
            if let Some(r) = &s.repeat {
                self.resolve(r);
                match &s.count {
                    None => self.err(
                        format!("repeat node '{n}' needs a count: a number or [min, max]"),
                        spec.span(),
                    ),
                    Some(c) => {
                        count(c, "count", &mut self.errors);
                    }
                }
            }
            if let Some(r) = &s.optional {
                self.resolve(r);
            }
            if let Some(v) = &s.vote {
                if let Some(t) = self.resolve(v) {
                    if !matches!(t, Target::Agent(_)) {
                        self.err(
                            format!(
                                "vote of node '{n}' must name an agent, '{}' is not one",
                                v.get_ref()
                            ),
                            v.span(),
                        );
                    }
                }
                match &s.over {
                    None => self.err(
                        format!("vote node '{n}' needs 'over': the node producing the candidates"),
                        spec.span(),
                    ),
                    Some(o) => {
                        self.resolve(o);
                    }
                }
                if let Some(m) = &s.min_inputs {
                    if *m.get_ref() == 0 {
                        self.err("min_inputs is 0: expected at least 1", m.span());
                    }
                }
            }
            if let Some(r) = &s.retry {
                self.resolve(r);
                match &s.body {
                    None => self.err(
                        format!("retry node '{n}' needs 'body': the first attempt"),
                        spec.span(),
                    ),
                    Some(b) => {
                        self.resolve(b);
                    }
                }
                match &s.attempts {
                    None => self.err(
                        format!("retry node '{n}' needs 'attempts': a number or [min, max]"),
                        spec.span(),
                    ),
                    Some(a) => {
                        count(a, "attempts", &mut self.errors);
                    }
                }
            }
        }
        let root = &file.graph.root;
        self.resolve(root);
    }

    fn check_cond(
        &mut self,
        n: &str,
        span: Range<usize>,
        branches: &[Spanned<crate::ast::BranchSpec>],
    ) {
        if branches.is_empty() {
            self.err(format!("cond of node '{n}' has no branch"), span);
            return;
        }
        let mut total = 0.0;
        for b in branches {
            let b = b.get_ref();
            self.resolve(&b.node);
            let w = *b.weight.get_ref();
            if !w.is_finite() || !(0.0..=1.0).contains(&w) {
                self.err(
                    format!("branch weight {w} is not a probability: expected a number in [0, 1]"),
                    b.weight.span(),
                );
            }
            total += w;
        }
        if (total - 1.0).abs() > 1e-6 {
            self.err(
                format!("branch weights of node '{n}' sum to {total}: expected 1"),
                span,
            );
        }
    }

    /// Names a node refers to, in order.
    fn refs(spec: &NodeSpec) -> Vec<&Spanned<String>> {
        let mut out = Vec::new();
        for list in [&spec.seq, &spec.any_of, &spec.all_of]
            .into_iter()
            .flatten()
        {
            out.extend(list.iter());
        }
        if let Some(b) = &spec.cond {
            out.extend(b.iter().map(|b| &b.get_ref().node));
        }
        out.extend(spec.repeat.iter());
        out.extend(spec.optional.iter());
        out.extend(spec.over.iter());
        out.extend(spec.vote.iter());
        out.extend(spec.body.iter());
        out.extend(spec.retry.iter());
        out
    }

    /// Refuses a graph nested deeper than [`MAX_DEPTH`] below the root (the graph is acyclic by
    /// now), naming the node where the limit is crossed. Iterative, so any depth is checked.
    fn check_depth(&mut self) {
        let nodes: Vec<_> = self.file.graph.nodes.iter().collect();
        let child_nodes = |i: usize| -> Vec<usize> {
            Self::refs(nodes[i].1.get_ref())
                .into_iter()
                .filter_map(|r| match self.names.get(r.get_ref().as_str()) {
                    Some(Target::Node(c)) => Some(*c),
                    _ => None,
                })
                .collect()
        };
        // Height of each node (1 for a node of calls only), in post-order.
        let mut height = vec![0usize; nodes.len()];
        for start in 0..nodes.len() {
            let mut stack = vec![(start, false)];
            while let Some((n, expanded)) = stack.pop() {
                if height[n] > 0 {
                    continue;
                }
                let children = child_nodes(n);
                if expanded {
                    height[n] = 1 + children.iter().map(|&c| height[c]).max().unwrap_or(0);
                } else {
                    stack.push((n, true));
                    stack.extend(
                        children
                            .into_iter()
                            .filter(|&c| height[c] == 0)
                            .map(|c| (c, false)),
                    );
                }
            }
        }
        let Some(Target::Node(root)) = self
            .names
            .get(self.file.graph.root.get_ref().as_str())
            .copied()
        else {
            return;
        };
        if height[root] <= MAX_DEPTH {
            return;
        }
        // Follow the deepest path from the root to the first node past the limit.
        let mut at = root;
        for _ in 0..MAX_DEPTH {
            at = child_nodes(at)
                .into_iter()
                .max_by_key(|&c| height[c])
                .expect("a node deeper than 1 has a child node");
        }
        let (name, _) = nodes[at];
        self.err(
            format!(
                "the graph nests {} nodes deep below '{}', past the limit of {MAX_DEPTH}: node '{}' is at depth {}; flatten the chain (a seq takes many steps)",
                height[root],
                self.file.graph.root.get_ref(),
                name.get_ref(),
                MAX_DEPTH + 1
            ),
            name.span(),
        );
    }

    /// The most candidates a name can produce in any structure: one per call, the sum over an
    /// any_of or all_of, the count times the body's for a repeat, one for any other node.
    /// Saturating; the graph is acyclic and at most [`MAX_DEPTH`] deep by now.
    fn max_outputs(&self, name: &str) -> u64 {
        let Some(Target::Node(i)) = self.names.get(name).copied() else {
            return 1;
        };
        let spec = self.file.graph.nodes[i].get_ref();
        let sum = |list: &Vec<Spanned<String>>| {
            list.iter()
                .map(|n| self.max_outputs(n.get_ref()))
                .fold(0u64, u64::saturating_add)
        };
        if let Some(list) = spec.any_of.as_ref().or(spec.all_of.as_ref()) {
            return sum(list);
        }
        if let Some(body) = &spec.repeat {
            let n = match spec.count.as_ref().map(|c| *c.get_ref()) {
                Some(CountSpec::Fixed(n) | CountSpec::Range([_, n])) => u64::from(n),
                None => 1,
            };
            return n.saturating_mul(self.max_outputs(body.get_ref()));
        }
        if let Some(body) = &spec.optional {
            return self.max_outputs(body.get_ref());
        }
        1
    }

    /// Refuses a vote whose `min_inputs` no structure can meet (the vote would silently never run).
    fn check_votes(&mut self) {
        for (name, spec) in &self.file.graph.nodes {
            let spec = spec.get_ref();
            let (Some(over), Some(m)) = (&spec.over, &spec.min_inputs) else {
                continue;
            };
            let most = self.max_outputs(over.get_ref());
            if u64::from(*m.get_ref()) > most {
                self.err(
                    format!(
                        "vote node '{}': min_inputs {} is more than '{}' can ever produce ({most} candidates at most), so the vote would never run: expected at most {most}",
                        name.get_ref(),
                        m.get_ref(),
                        over.get_ref()
                    ),
                    m.span(),
                );
            }
        }
    }

    fn check_cycles(&mut self) {
        let nodes: Vec<_> = self.file.graph.nodes.iter().collect();
        // 0 = unvisited, 1 = on the stack, 2 = done.
        let mut state = vec![0u8; nodes.len()];
        let mut reported = HashSet::new();
        for start in 0..nodes.len() {
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            if state[start] != 0 {
                continue;
            }
            state[start] = 1;
            while let Some((node, next)) = stack.pop() {
                let refs = Self::refs(nodes[node].1.get_ref());
                if next == refs.len() {
                    state[node] = 2;
                    continue;
                }
                stack.push((node, next + 1));
                let Some(Target::Node(child)) =
                    self.names.get(refs[next].get_ref().as_str()).copied()
                else {
                    continue;
                };
                match state[child] {
                    0 => {
                        state[child] = 1;
                        stack.push((child, 0));
                    }
                    1 => {
                        let from = stack.iter().position(|(n, _)| *n == child).unwrap_or(0);
                        let mut path: Vec<&str> = stack[from..]
                            .iter()
                            .map(|(n, _)| nodes[*n].0.get_ref().as_str())
                            .collect();
                        path.push(nodes[child].0.get_ref());
                        let mut key: Vec<&str> = path.clone();
                        key.sort();
                        if reported.insert(key.join(",")) {
                            self.err(
                                format!("cycle in the graph: {}", path.join(" -> ")),
                                refs[next].span(),
                            );
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn span_of_node_name(&self, name: &str) -> Range<usize> {
        self.wf
            .nodes
            .iter()
            .position(|n| n.name == name)
            .map(|i| self.node_spans[i].clone())
            .unwrap_or_else(|| self.file.graph.root.span())
    }

    fn add(&mut self, name: &str, kind: NodeKind, span: Range<usize>) -> NodeId {
        self.node_spans.push(span);
        self.wf.add_node(name, kind)
    }

    /// Lowers a reference: a call site for an agent or tool, the (shared) lowered node otherwise.
    fn reference(&mut self, name: &Spanned<String>) -> NodeId {
        let target = self.names[name.get_ref().as_str()];
        match target {
            Target::Agent(a) => self.add(name.get_ref(), NodeKind::Agent(a), name.span()),
            Target::Tool(t) => self.add(name.get_ref(), NodeKind::Tool(t), name.span()),
            Target::Node(i) => self.node(i),
        }
    }

    fn node(&mut self, i: usize) -> NodeId {
        if let Some(id) = self.lowered[i] {
            return id;
        }
        let (name, spec) = self.file.graph.nodes.get_index(i).expect("declared node");
        let s = spec.get_ref();
        let list = |l: &mut Self, v: &[Spanned<String>]| {
            v.iter().map(|r| l.reference(r)).collect::<Vec<_>>()
        };
        let kind = if let Some(v) = &s.seq {
            NodeKind::Seq(list(self, v))
        } else if let Some(v) = &s.any_of {
            NodeKind::AnyOf(list(self, v))
        } else if let Some(v) = &s.all_of {
            NodeKind::AllOf(list(self, v))
        } else if let Some(b) = &s.cond {
            NodeKind::Cond(
                b.iter()
                    .map(|b| Branch {
                        weight: *b.get_ref().weight.get_ref(),
                        node: self.reference(&b.get_ref().node),
                    })
                    .collect(),
            )
        } else if let Some(r) = &s.repeat {
            let body = self.reference(r);
            let count = count(s.count.as_ref().expect("checked"), "count", &mut Vec::new());
            NodeKind::Repeat { body, count }
        } else if let Some(r) = &s.optional {
            NodeKind::Optional(self.reference(r))
        } else if let Some(v) = &s.vote {
            let over = self.reference(s.over.as_ref().expect("checked"));
            let ensemble = self.reference(v);
            let min_inputs = s.min_inputs.as_ref().map(|m| *m.get_ref()).unwrap_or(2);
            NodeKind::Vote {
                ensemble,
                over,
                min_inputs,
            }
        } else {
            let body = self.reference(s.body.as_ref().expect("checked"));
            let fixer = self.reference(s.retry.as_ref().expect("checked"));
            let attempts = count(
                s.attempts.as_ref().expect("checked"),
                "attempts",
                &mut Vec::new(),
            );
            NodeKind::Retry {
                body,
                fixer,
                attempts,
            }
        };
        let id = self.add(name.get_ref(), kind, name.span());
        self.lowered[i] = Some(id);
        id
    }

    /// Every node, agent and tool must be reachable from the root: an unused one is usually a typo.
    fn check_reachable(&mut self) {
        let file = self.file;
        let mut seen_nodes = vec![false; file.graph.nodes.len()];
        let mut seen_agents = vec![false; file.agents.len()];
        let mut seen_tools = vec![false; file.tools.len()];
        let mut stack = vec![&file.graph.root];
        while let Some(name) = stack.pop() {
            match self.names.get(name.get_ref().as_str()) {
                Some(Target::Agent(a)) => seen_agents[a.0 as usize] = true,
                Some(Target::Tool(t)) => seen_tools[t.0 as usize] = true,
                Some(Target::Node(i)) if !seen_nodes[*i] => {
                    seen_nodes[*i] = true;
                    stack.extend(Self::refs(file.graph.nodes[*i].get_ref()));
                }
                _ => {}
            }
        }
        let unused = |seen: &[bool], names: Vec<&'f Spanned<String>>, what: &str| {
            names
                .into_iter()
                .zip(seen)
                .filter(|(_, s)| !**s)
                .map(|(n, _)| {
                    SpecError::new(
                        format!(
                            "{what} '{}' {}",
                            n.get_ref(),
                            match what {
                                "node" => "is not reachable from graph.root",
                                "agent" => "is never called by the graph",
                                _ => "is never run by the graph",
                            }
                        ),
                        n.span(),
                    )
                })
                .collect::<Vec<_>>()
        };
        let mut errors = unused(&seen_nodes, file.graph.nodes.keys().collect(), "node");
        errors.extend(unused(&seen_agents, file.agents.keys().collect(), "agent"));
        errors.extend(unused(&seen_tools, file.tools.keys().collect(), "tool"));
        self.errors.extend(errors);
    }
}

fn parse_output(s: &str) -> Option<OutputParser> {
    match s {
        "raw" => Some(OutputParser::Raw),
        "boxed" => Some(OutputParser::Boxed),
        "code" => Some(OutputParser::CodeBlock(None)),
        _ => {
            if let Some(tag) = s.strip_prefix("tag:").filter(|t| !t.is_empty()) {
                Some(OutputParser::Tag(tag.to_string()))
            } else {
                s.strip_prefix("code:")
                    .filter(|l| !l.is_empty())
                    .map(|l| OutputParser::CodeBlock(Some(l.to_string())))
            }
        }
    }
}

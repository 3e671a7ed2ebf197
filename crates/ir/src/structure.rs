//! Structure enumeration: every valid assignment of the structure knobs, as a concrete expression.

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::workflow::{AgentId, NodeId, NodeKind, SlotId, ToolId, Workflow};

/// Most structures a design space may have; beyond this the workflow has too many knobs to list.
pub const MAX_STRUCTURES: usize = 1_000_000;

/// What receives one setting in a configuration: an agent (shared settings) or one call site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Display name: the agent's name, or `agent#k` for its k-th call site.
    pub name: String,
    /// The agent called there.
    pub agent: AgentId,
}

/// The value a structure gives one knob.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct KnobValue {
    /// The knob node (optional, repeat or retry).
    pub node: NodeId,
    /// Present (1) or absent (0) for an optional step; the count for a repeat or retry.
    pub value: u32,
}

/// A knob-free workflow over slots: what the proxy evaluates and the search optimises.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A call of an agent at a slot.
    Call {
        /// The slot whose setting the call runs under.
        slot: SlotId,
        /// The agent called.
        agent: AgentId,
    },
    /// A deterministic tool.
    Tool(ToolId),
    /// Steps in order; an empty sequence does nothing (accuracy 1, latency 0).
    Seq(Vec<Expr>),
    /// Parallel candidates, success when any succeeds (at least two).
    AnyOf(Vec<Expr>),
    /// Parallel steps that must all succeed (at least two).
    AllOf(Vec<Expr>),
    /// One branch runs, with these probabilities.
    Cond(Vec<(f64, Expr)>),
    /// A first attempt, then up to `attempts` (>= 1) runs of the fixer until success.
    Retry {
        /// The first attempt.
        body: Box<Expr>,
        /// What each retry runs.
        fixer: Box<Expr>,
        /// Most retries.
        attempts: u32,
    },
}

impl Expr {
    fn any_of(mut list: Vec<Expr>) -> Expr {
        if list.len() == 1 {
            list.pop().expect("one element")
        } else {
            Expr::AnyOf(list)
        }
    }

    /// Visits every call in evaluation order.
    pub fn for_each_call(&self, f: &mut impl FnMut(SlotId, AgentId)) {
        match self {
            Expr::Call { slot, agent } => f(*slot, *agent),
            Expr::Tool(_) => {}
            Expr::Seq(v) | Expr::AnyOf(v) | Expr::AllOf(v) => {
                v.iter().for_each(|e| e.for_each_call(f))
            }
            Expr::Cond(b) => b.iter().for_each(|(_, e)| e.for_each_call(f)),
            Expr::Retry { body, fixer, .. } => {
                body.for_each_call(f);
                fixer.for_each_call(f);
            }
        }
    }

    /// Visits every call a run may make, in evaluation order: as [`Expr::for_each_call`], but a
    /// retry's fixer once per attempt.
    pub fn for_each_possible_call(&self, f: &mut impl FnMut(SlotId, AgentId)) {
        match self {
            Expr::Call { slot, agent } => f(*slot, *agent),
            Expr::Tool(_) => {}
            Expr::Seq(v) | Expr::AnyOf(v) | Expr::AllOf(v) => {
                v.iter().for_each(|e| e.for_each_possible_call(f))
            }
            Expr::Cond(b) => b.iter().for_each(|(_, e)| e.for_each_possible_call(f)),
            Expr::Retry {
                body,
                fixer,
                attempts,
            } => {
                body.for_each_possible_call(f);
                for _ in 0..*attempts {
                    fixer.for_each_possible_call(f);
                }
            }
        }
    }

    fn encode(&self, out: &mut Vec<u64>) {
        let list = |tag: u64, v: &[Expr], out: &mut Vec<u64>| {
            out.extend([tag, v.len() as u64]);
            v.iter().for_each(|e| e.encode(out));
        };
        match self {
            Expr::Call { slot, agent } => out.extend([0, slot.0 as u64, agent.0 as u64]),
            Expr::Tool(t) => out.extend([1, t.0 as u64]),
            Expr::Seq(v) => list(2, v, out),
            Expr::AnyOf(v) => list(3, v, out),
            Expr::AllOf(v) => list(4, v, out),
            Expr::Cond(b) => {
                out.extend([5, b.len() as u64]);
                for (w, e) in b {
                    out.push(w.to_bits());
                    e.encode(out);
                }
            }
            Expr::Retry {
                body,
                fixer,
                attempts,
            } => {
                out.extend([6, *attempts as u64]);
                body.encode(out);
                fixer.encode(out);
            }
        }
    }
}

/// One valid structure: the knob values it was made from and the concrete expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Structure {
    /// Values of the knobs this structure visits (knobs inside an absent step are not listed).
    pub knobs: Vec<KnobValue>,
    /// The concrete workflow.
    pub expr: Expr,
    /// The distinct slots the structure calls, ascending.
    pub slots: Vec<SlotId>,
}

/// Number of configurations of a design space: exact while it fits in a `u128`.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum ConfigCount {
    /// The exact count.
    Exact(u128),
    /// Too many to count exactly; an approximation.
    Approx(f64),
}

impl ConfigCount {
    /// The exact count, if it fits.
    pub fn exact(self) -> Option<u128> {
        match self {
            ConfigCount::Exact(n) => Some(n),
            ConfigCount::Approx(_) => None,
        }
    }

    /// The count as a float (exact up to 2^53).
    pub fn as_f64(self) -> f64 {
        match self {
            ConfigCount::Exact(n) => n as f64,
            ConfigCount::Approx(x) => x,
        }
    }
}

impl fmt::Display for ConfigCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigCount::Exact(n) => {
                let digits = n.to_string();
                for (i, c) in digits.chars().enumerate() {
                    if i > 0 && (digits.len() - i) % 3 == 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{c}")?;
                }
                Ok(())
            }
            ConfigCount::Approx(x) => write!(f, "~{x:.3e}"),
        }
    }
}

/// Why a workflow's design space cannot be built.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum SpaceError {
    /// Every combination of knob values leaves a vote or any-of without candidates.
    #[error("no valid structure: every choice of the structure knobs leaves a vote or any_of without candidates (check the counts under '{root}')")]
    NoValidStructure {
        /// The root node's name.
        root: String,
    },
    /// The knobs multiply to more structures than can be listed.
    #[error("the structure knobs allow more than {limit} structures; fix some counts")]
    TooManyStructures {
        /// The limit.
        limit: usize,
    },
    /// A repeated node contains a structure knob (copies would each choose it independently).
    #[error("node '{node}' is repeated but contains a structure knob; repeat a knob-free node")]
    KnobInRepeat {
        /// The repeat node's name.
        node: String,
    },
}

/// The design space of a workflow: its slots and every valid structure.
#[derive(Clone, Debug, PartialEq)]
pub struct DesignSpace {
    /// Slots in canonical order (agents in file order, or call sites in graph order).
    pub slots: Vec<Slot>,
    /// Valid structures in canonical order (knob values ascending, earlier knobs varying slowest).
    pub structures: Vec<Structure>,
    /// Number of settings each slot may take.
    pub settings_per_slot: Vec<usize>,
}

impl DesignSpace {
    /// The structure with the most agent calls, the last of equals (knobs at their maximum come
    /// last): what baselines, reference configurations and default runs use. Every front end and
    /// study calls this one definition.
    pub fn largest_structure(&self) -> usize {
        let calls = |i: usize| {
            let mut n = 0usize;
            self.structures[i].expr.for_each_call(&mut |_, _| n += 1);
            n
        };
        (0..self.structures.len())
            .max_by_key(|&i| calls(i))
            .unwrap_or(0)
    }

    /// Number of configurations: for each structure, the product of its slots' setting counts.
    pub fn n_configs(&self) -> ConfigCount {
        self.n_configs_with(&self.settings_per_slot)
    }

    /// Number of configurations if slot `i` had `sizes[i]` settings (e.g. after pruning).
    pub fn n_configs_with(&self, sizes: &[usize]) -> ConfigCount {
        let mut exact: Option<u128> = Some(0);
        let mut approx = 0f64;
        for s in &self.structures {
            let mut prod: Option<u128> = Some(1);
            let mut fprod = 1f64;
            for slot in &s.slots {
                let n = sizes[slot.0 as usize];
                prod = prod.and_then(|p| p.checked_mul(n as u128));
                fprod *= n as f64;
            }
            exact = exact.zip(prod).and_then(|(a, b)| a.checked_add(b));
            approx += fprod;
        }
        match exact {
            Some(n) => ConfigCount::Exact(n),
            None => ConfigCount::Approx(approx),
        }
    }
}

/// What expanding a node yields in one variant.
#[derive(Clone, Debug)]
enum Out {
    /// The step is switched off.
    Absent,
    /// One value.
    One(Expr),
    /// A list of candidates (from a repeat or an any-of).
    List(Vec<Expr>),
}

impl Out {
    fn into_expr(self) -> Option<Expr> {
        match self {
            Out::Absent => None,
            Out::One(e) => Some(e),
            Out::List(l) if l.is_empty() => None,
            Out::List(l) => Some(Expr::any_of(l)),
        }
    }
}

#[derive(Clone, Debug)]
struct Variant {
    knobs: Vec<KnobValue>,
    out: Out,
}

struct Expander<'w> {
    wf: &'w Workflow,
    site_slots: HashMap<Vec<u32>, SlotId>,
}

impl Workflow {
    /// Enumerates the slots and every valid structure of this workflow.
    pub fn design_space(&self) -> Result<DesignSpace, SpaceError> {
        for (i, node) in self.nodes.iter().enumerate() {
            if let NodeKind::Repeat { body, .. } = node.kind {
                if self.contains_knob(body) {
                    return Err(SpaceError::KnobInRepeat {
                        node: self.nodes[i].name.clone(),
                    });
                }
            }
        }
        let mut sites = Vec::new();
        self.collect_sites(self.root, &mut Vec::new(), &mut sites);
        let (slots, site_slots) = self.assign_slots(&sites);
        let expander = Expander {
            wf: self,
            site_slots,
        };
        let variants = expander.expand(self.root, &mut Vec::new())?;
        let mut seen = HashSet::new();
        let mut structures = Vec::new();
        for v in variants {
            let Some(expr) = v.out.into_expr() else {
                continue;
            };
            let mut key = Vec::new();
            expr.encode(&mut key);
            if !seen.insert(key) {
                continue;
            }
            let mut used = Vec::new();
            expr.for_each_call(&mut |slot, _| used.push(slot));
            used.sort();
            used.dedup();
            structures.push(Structure {
                knobs: v.knobs,
                expr,
                slots: used,
            });
        }
        if structures.is_empty() {
            return Err(SpaceError::NoValidStructure {
                root: self.node(self.root).name.clone(),
            });
        }
        let settings_per_slot = slots
            .iter()
            .map(|s| self.agent(s.agent).settings.len())
            .collect();
        Ok(DesignSpace {
            slots,
            structures,
            settings_per_slot,
        })
    }

    /// Every call site of the largest expansion (all optional steps on, counts at their maximum),
    /// as (path, agent) in depth-first order. Paths are child positions and repeat copy indices.
    fn collect_sites(&self, id: NodeId, path: &mut Vec<u32>, out: &mut Vec<(Vec<u32>, AgentId)>) {
        let visit = |i: u32, child: NodeId, path: &mut Vec<u32>, out: &mut Vec<_>| {
            path.push(i);
            self.collect_sites(child, path, out);
            path.pop();
        };
        match &self.node(id).kind {
            NodeKind::Agent(a) => out.push((path.clone(), *a)),
            NodeKind::Tool(_) => {}
            NodeKind::Repeat { body, count } => {
                for copy in 0..count.max {
                    visit(copy, *body, path, out);
                }
            }
            NodeKind::Retry {
                body,
                fixer,
                attempts,
            } => {
                visit(0, *body, path, out);
                if attempts.max > 0 {
                    visit(1, *fixer, path, out);
                }
            }
            _ => {
                for (i, child) in self.children(id).into_iter().enumerate() {
                    visit(i as u32, child, path, out);
                }
            }
        }
    }

    fn assign_slots(
        &self,
        sites: &[(Vec<u32>, AgentId)],
    ) -> (Vec<Slot>, HashMap<Vec<u32>, SlotId>) {
        let mut site_slots = HashMap::new();
        if self.share_settings {
            let slots = self
                .agents
                .iter()
                .enumerate()
                .map(|(i, a)| Slot {
                    name: a.name.clone(),
                    agent: AgentId(i as u32),
                })
                .collect();
            for (path, agent) in sites {
                site_slots.insert(path.clone(), SlotId(agent.0));
            }
            return (slots, site_slots);
        }
        let mut per_agent = vec![0usize; self.agents.len()];
        for (_, a) in sites {
            per_agent[a.0 as usize] += 1;
        }
        let mut seen = vec![0usize; self.agents.len()];
        let mut slots = Vec::new();
        for (path, agent) in sites {
            let name = &self.agent(*agent).name;
            let k = &mut seen[agent.0 as usize];
            *k += 1;
            let name = if per_agent[agent.0 as usize] == 1 {
                name.clone()
            } else {
                format!("{name}#{k}")
            };
            site_slots.insert(path.clone(), SlotId(slots.len() as u32));
            slots.push(Slot {
                name,
                agent: *agent,
            });
        }
        (slots, site_slots)
    }
}

/// One combination of children's variants: the knob values and each child's output.
type Combination = (Vec<KnobValue>, Vec<Out>);

/// Cartesian product of the children's variants, the first child varying slowest.
fn product(children: Vec<Vec<Variant>>) -> Result<Vec<Combination>, SpaceError> {
    let mut acc: Vec<Combination> = vec![(Vec::new(), Vec::new())];
    for variants in children {
        if acc.len().saturating_mul(variants.len()) > MAX_STRUCTURES {
            return Err(SpaceError::TooManyStructures {
                limit: MAX_STRUCTURES,
            });
        }
        let mut next = Vec::with_capacity(acc.len() * variants.len());
        for (knobs, outs) in &acc {
            for v in &variants {
                let mut k = knobs.clone();
                k.extend_from_slice(&v.knobs);
                let mut o = outs.clone();
                o.push(v.out.clone());
                next.push((k, o));
            }
        }
        acc = next;
    }
    Ok(acc)
}

impl Expander<'_> {
    fn child(&self, i: u32, id: NodeId, path: &mut Vec<u32>) -> Result<Vec<Variant>, SpaceError> {
        path.push(i);
        let v = self.expand(id, path);
        path.pop();
        v
    }

    fn children(
        &self,
        ids: &[NodeId],
        path: &mut Vec<u32>,
    ) -> Result<Vec<Vec<Variant>>, SpaceError> {
        ids.iter()
            .enumerate()
            .map(|(i, c)| self.child(i as u32, *c, path))
            .collect()
    }

    fn expand(&self, id: NodeId, path: &mut Vec<u32>) -> Result<Vec<Variant>, SpaceError> {
        let one = |out| {
            vec![Variant {
                knobs: Vec::new(),
                out,
            }]
        };
        let knob = |value: u32| KnobValue { node: id, value };
        Ok(match &self.wf.node(id).kind {
            NodeKind::Agent(agent) => one(Out::One(Expr::Call {
                slot: self.site_slots[path.as_slice()],
                agent: *agent,
            })),
            NodeKind::Tool(t) => one(Out::One(Expr::Tool(*t))),
            NodeKind::Seq(ids) | NodeKind::AllOf(ids) => {
                let seq = matches!(self.wf.node(id).kind, NodeKind::Seq(_));
                product(self.children(ids, path)?)?
                    .into_iter()
                    .map(|(knobs, outs)| {
                        let mut items = Vec::new();
                        for o in outs {
                            match o {
                                Out::List(l) if !seq => items.extend(l),
                                o => items.extend(o.into_expr()),
                            }
                        }
                        let out = match items.len() {
                            0 => Out::Absent,
                            1 => Out::One(items.pop().expect("one item")),
                            _ if seq => Out::One(Expr::Seq(items)),
                            _ => Out::One(Expr::AllOf(items)),
                        };
                        Variant { knobs, out }
                    })
                    .collect()
            }
            NodeKind::AnyOf(ids) => product(self.children(ids, path)?)?
                .into_iter()
                .filter_map(|(knobs, outs)| {
                    let mut items = Vec::new();
                    for o in outs {
                        match o {
                            Out::Absent => {}
                            Out::One(e) => items.push(e),
                            Out::List(l) => items.extend(l),
                        }
                    }
                    (!items.is_empty()).then_some(Variant {
                        knobs,
                        out: Out::List(items),
                    })
                })
                .collect(),
            NodeKind::Cond(branches) => {
                let ids: Vec<NodeId> = branches.iter().map(|b| b.node).collect();
                product(self.children(&ids, path)?)?
                    .into_iter()
                    .map(|(knobs, outs)| {
                        let arms = branches
                            .iter()
                            .zip(outs)
                            .map(|(b, o)| {
                                (b.weight, o.into_expr().unwrap_or(Expr::Seq(Vec::new())))
                            })
                            .collect();
                        Variant {
                            knobs,
                            out: Out::One(Expr::Cond(arms)),
                        }
                    })
                    .collect()
            }
            NodeKind::Repeat { body, count } => {
                let mut variants = Vec::new();
                for n in count.min..=count.max {
                    let mut copies = Vec::new();
                    for copy in 0..n {
                        for v in self.child(copy, *body, path)? {
                            copies.extend(v.out.into_expr());
                        }
                    }
                    let knobs = if count.is_knob() {
                        vec![knob(n)]
                    } else {
                        Vec::new()
                    };
                    let out = if copies.is_empty() {
                        Out::Absent
                    } else {
                        Out::List(copies)
                    };
                    variants.push(Variant { knobs, out });
                }
                variants
            }
            NodeKind::Optional(body) => {
                let mut variants = vec![Variant {
                    knobs: vec![knob(0)],
                    out: Out::Absent,
                }];
                for v in self.child(0, *body, path)? {
                    let mut knobs = vec![knob(1)];
                    knobs.extend(v.knobs);
                    variants.push(Variant { knobs, out: v.out });
                }
                variants
            }
            NodeKind::Vote {
                ensemble,
                over,
                min_inputs,
            } => {
                let voter = self.child(1, *ensemble, path)?;
                let voter = voter
                    .into_iter()
                    .next()
                    .and_then(|v| v.out.into_expr())
                    .expect("a vote's ensemble is an agent call");
                self.child(0, *over, path)?
                    .into_iter()
                    .filter_map(|v| {
                        let candidates = match v.out {
                            Out::Absent => Vec::new(),
                            Out::One(e) => vec![e],
                            Out::List(l) => l,
                        };
                        if candidates.is_empty() {
                            return None;
                        }
                        let n = candidates.len() as u32;
                        let cands = Expr::any_of(candidates);
                        let out = if n >= *min_inputs {
                            Expr::Seq(vec![cands, voter.clone()])
                        } else {
                            cands
                        };
                        Some(Variant {
                            knobs: v.knobs,
                            out: Out::One(out),
                        })
                    })
                    .collect()
            }
            NodeKind::Retry {
                body,
                fixer,
                attempts,
            } => {
                let bodies = self.child(0, *body, path)?;
                let fixers = if attempts.max > 0 {
                    self.child(1, *fixer, path)?
                } else {
                    Vec::new()
                };
                let mut variants = Vec::new();
                for k in attempts.min..=attempts.max {
                    let head = if attempts.is_knob() {
                        vec![knob(k)]
                    } else {
                        Vec::new()
                    };
                    for b in &bodies {
                        if k == 0 {
                            let mut knobs = head.clone();
                            knobs.extend_from_slice(&b.knobs);
                            variants.push(Variant {
                                knobs,
                                out: b.out.clone(),
                            });
                            continue;
                        }
                        for f in &fixers {
                            let mut knobs = head.clone();
                            knobs.extend_from_slice(&b.knobs);
                            knobs.extend_from_slice(&f.knobs);
                            let body = b.out.clone().into_expr().unwrap_or(Expr::Seq(Vec::new()));
                            let fixer = f.out.clone().into_expr().unwrap_or(Expr::Seq(Vec::new()));
                            variants.push(Variant {
                                knobs,
                                out: Out::One(Expr::Retry {
                                    body: Box::new(body),
                                    fixer: Box::new(fixer),
                                    attempts: k,
                                }),
                            });
                        }
                    }
                }
                variants
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::{Agent, Count, Setting, Tool, ToolKind};

    fn settings(n: u32) -> Vec<Setting> {
        (0..n).map(|b| Setting::new("m", b)).collect()
    }

    #[test]
    fn possible_calls_count_a_retrys_fixer_once_per_attempt() {
        let call = |a: u32| Expr::Call {
            slot: SlotId(a),
            agent: AgentId(a),
        };
        let expr = Expr::Seq(vec![
            call(0),
            Expr::Retry {
                body: Box::new(call(1)),
                fixer: Box::new(call(2)),
                attempts: 3,
            },
        ]);
        let (mut once, mut possible) = (Vec::new(), Vec::new());
        expr.for_each_call(&mut |_, a| once.push(a.0));
        expr.for_each_possible_call(&mut |_, a| possible.push(a.0));
        assert_eq!(once, [0, 1, 2]);
        assert_eq!(possible, [0, 1, 2, 2, 2]);
    }

    fn agents(names: &[&str], n: u32) -> Vec<Agent> {
        names.iter().map(|a| Agent::new(*a, settings(n))).collect()
    }

    /// The paper's hotpotqa workflow: answer_generate x1..3 -> vote (>= 2) -> optional format.
    fn hotpotqa(share: bool) -> Workflow {
        let mut wf = Workflow::new("hotpotqa", agents(&["gen", "ens", "fmt"], 80));
        wf.share_settings = share;
        let gen = wf.add_node("gen", NodeKind::Agent(AgentId(0)));
        let gens = wf.add_node(
            "gens",
            NodeKind::Repeat {
                body: gen,
                count: Count::new(1, 3),
            },
        );
        let ens = wf.add_node("ens", NodeKind::Agent(AgentId(1)));
        let vote = wf.add_node(
            "vote",
            NodeKind::Vote {
                ensemble: ens,
                over: gens,
                min_inputs: 2,
            },
        );
        let fmt = wf.add_node("fmt", NodeKind::Agent(AgentId(2)));
        let opt = wf.add_node("opt", NodeKind::Optional(fmt));
        wf.root = wf.add_node("root", NodeKind::Seq(vec![vote, opt]));
        wf
    }

    #[test]
    fn hotpotqa_has_six_structures_and_the_papers_config_count() {
        let space = hotpotqa(true).design_space().unwrap();
        assert_eq!(space.structures.len(), 6);
        assert_eq!(space.n_configs().exact(), Some(1_043_280));
        assert_eq!(space.n_configs().to_string(), "1,043,280");
    }

    #[test]
    fn unshared_settings_give_each_call_site_a_slot() {
        let space = hotpotqa(false).design_space().unwrap();
        let names: Vec<&str> = space.slots.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["gen#1", "gen#2", "gen#3", "ens", "fmt"]);
        // n=1: 80 (+fmt 80^2); n=2: 80^3 (+80^4); n=3: 80^4 (+80^5)
        let n = 80u128;
        let want = n + n * n + n.pow(3) + n.pow(4) + n.pow(4) + n.pow(5);
        assert_eq!(space.n_configs().exact(), Some(want));
    }

    #[test]
    fn math_has_seventeen_structures() {
        let names = ["programmer", "refine", "detailed", "generate", "ens"];
        let mut wf = Workflow::new("math", agents(&names, 2));
        wf.tools.push(Tool {
            name: "extract".into(),
            kind: ToolKind::ExtractAnswer,
            latency_s: 0.0,
        });
        let prog = wf.add_node("programmer", NodeKind::Agent(AgentId(0)));
        let maybe_prog = wf.add_node("maybe_prog", NodeKind::Optional(prog));
        let refine = wf.add_node("refine", NodeKind::Agent(AgentId(1)));
        let branch = wf.add_node("branch", NodeKind::Seq(vec![maybe_prog, refine]));
        let opt_branch = wf.add_node("opt_branch", NodeKind::Optional(branch));
        let detailed = wf.add_node("detailed", NodeKind::Agent(AgentId(2)));
        let opt_detailed = wf.add_node("opt_detailed", NodeKind::Optional(detailed));
        let gen = wf.add_node("generate", NodeKind::Agent(AgentId(3)));
        let gens = wf.add_node(
            "gens",
            NodeKind::Repeat {
                body: gen,
                count: Count::new(0, 2),
            },
        );
        let cands = wf.add_node(
            "cands",
            NodeKind::AnyOf(vec![opt_branch, opt_detailed, gens]),
        );
        let ens = wf.add_node("ens", NodeKind::Agent(AgentId(4)));
        let vote = wf.add_node(
            "vote",
            NodeKind::Vote {
                ensemble: ens,
                over: cands,
                min_inputs: 2,
            },
        );
        let extract = wf.add_node("extract", NodeKind::Tool(ToolId(0)));
        wf.root = wf.add_node("root", NodeKind::Seq(vec![vote, extract]));
        let space = wf.design_space().unwrap();
        assert_eq!(space.structures.len(), 17);
        // The first structure is the smallest: one generator, no vote.
        let first = &space.structures[0];
        assert_eq!(first.slots, vec![SlotId(3)]);
    }

    #[test]
    fn code_has_twelve_structures_and_retry_zero_drops_the_fixer() {
        let mut wf = Workflow::new("code", agents(&["gen", "ens", "reflect"], 3));
        wf.tools.push(Tool {
            name: "test".into(),
            kind: ToolKind::PythonTests,
            latency_s: 0.5,
        });
        let gen = wf.add_node("gen", NodeKind::Agent(AgentId(0)));
        let gens = wf.add_node(
            "gens",
            NodeKind::Repeat {
                body: gen,
                count: Count::new(1, 3),
            },
        );
        let ens = wf.add_node("ens", NodeKind::Agent(AgentId(1)));
        let vote = wf.add_node(
            "vote",
            NodeKind::Vote {
                ensemble: ens,
                over: gens,
                min_inputs: 2,
            },
        );
        let test = wf.add_node("test", NodeKind::Tool(ToolId(0)));
        let first = wf.add_node("first", NodeKind::Seq(vec![vote, test]));
        let reflect = wf.add_node("reflect", NodeKind::Agent(AgentId(2)));
        let test2 = wf.add_node("test", NodeKind::Tool(ToolId(0)));
        let fix = wf.add_node("fix", NodeKind::Seq(vec![reflect, test2]));
        wf.root = wf.add_node(
            "loop",
            NodeKind::Retry {
                body: first,
                fixer: fix,
                attempts: Count::new(0, 3),
            },
        );
        let space = wf.design_space().unwrap();
        assert_eq!(space.structures.len(), 12);
        assert_eq!(space.structures[0].slots, vec![SlotId(0)]);
        assert!(space.structures[3].slots.contains(&SlotId(2)));
        // k = 0: 3 + 9 + 9 configurations; k = 1..3 multiply them by the 3 settings of reflect.
        assert_eq!(space.n_configs().exact(), Some(21 + 3 * (3 * 21)));
    }

    #[test]
    fn a_vote_over_nothing_is_no_valid_structure() {
        let mut wf = Workflow::new("empty", agents(&["gen", "ens"], 1));
        let gen = wf.add_node("gen", NodeKind::Agent(AgentId(0)));
        let gens = wf.add_node(
            "gens",
            NodeKind::Repeat {
                body: gen,
                count: Count::exactly(0),
            },
        );
        let ens = wf.add_node("ens", NodeKind::Agent(AgentId(1)));
        wf.root = wf.add_node(
            "vote",
            NodeKind::Vote {
                ensemble: ens,
                over: gens,
                min_inputs: 2,
            },
        );
        assert_eq!(
            wf.design_space().unwrap_err(),
            SpaceError::NoValidStructure {
                root: "vote".into()
            }
        );
    }

    #[test]
    fn repeating_a_knob_is_refused() {
        let mut wf = Workflow::new("bad", agents(&["gen"], 1));
        let gen = wf.add_node("gen", NodeKind::Agent(AgentId(0)));
        let opt = wf.add_node("opt", NodeKind::Optional(gen));
        wf.root = wf.add_node(
            "rep",
            NodeKind::Repeat {
                body: opt,
                count: Count::new(1, 2),
            },
        );
        assert_eq!(
            wf.design_space().unwrap_err(),
            SpaceError::KnobInRepeat { node: "rep".into() }
        );
    }

    #[test]
    fn config_count_overflow_is_approximate() {
        let mut wf = Workflow::new("big", Vec::new());
        let mut calls = Vec::new();
        for i in 0..30 {
            wf.agents.push(Agent::new(format!("a{i}"), settings(80)));
            calls.push(wf.add_node(format!("a{i}"), NodeKind::Agent(AgentId(i))));
        }
        wf.root = wf.add_node("root", NodeKind::Seq(calls));
        let n = wf.design_space().unwrap().n_configs();
        assert_eq!(n.exact(), None);
        assert!((n.as_f64() / 80f64.powi(30) - 1.0).abs() < 1e-9);
    }
}

//! A structure prepared for the search: where each slot is enumerated, and the canonical slot order;
//! and the structures' plans merged into one graph where equal subtrees are one node.

use std::collections::{BTreeSet, HashMap};

use flowcompile_ir::{Expr, SlotId, Tool};

/// What a plan node computes.
#[derive(Debug)]
pub(crate) enum Kind {
    /// A call: its slot is bound here or above.
    Call(SlotId),
    /// A tool with its latency.
    Tool(f64),
    Seq(Vec<Plan>),
    AllOf(Vec<Plan>),
    AnyOf(Vec<Plan>),
    Cond(Vec<(f64, Plan)>),
    Retry(Box<Plan>, Box<Plan>, u32),
}

/// A node of the prepared tree.
#[derive(Debug)]
pub(crate) struct Plan {
    pub kind: Kind,
    /// Slots whose setting is enumerated at this node (ascending): the slots called from two or more
    /// of its children, or a call's own slot, unless an ancestor already binds them.
    pub bind: Vec<SlotId>,
    /// Whether some node strictly below binds a slot; when not, the node evaluates to one point once
    /// its own bound slots are fixed.
    pub open_below: bool,
}

fn slots_in(expr: &Expr) -> BTreeSet<SlotId> {
    let mut out = BTreeSet::new();
    expr.for_each_call(&mut |s, _| {
        out.insert(s);
    });
    out
}

impl Plan {
    /// Prepares a structure's expression.
    pub fn new(expr: &Expr, tools: &[Tool]) -> Plan {
        Plan::build(expr, tools, &BTreeSet::new())
    }

    fn build(expr: &Expr, tools: &[Tool], bound_above: &BTreeSet<SlotId>) -> Plan {
        let children: Vec<&Expr> = match expr {
            Expr::Call { .. } | Expr::Tool(_) => Vec::new(),
            Expr::Seq(v) | Expr::AllOf(v) | Expr::AnyOf(v) => v.iter().collect(),
            Expr::Cond(arms) => arms.iter().map(|(_, e)| e).collect(),
            Expr::Retry { body, fixer, .. } => vec![body, fixer],
        };
        let bind: Vec<SlotId> = match expr {
            Expr::Call { slot, .. } => {
                if bound_above.contains(slot) {
                    Vec::new()
                } else {
                    vec![*slot]
                }
            }
            _ => {
                let mut seen = BTreeSet::new();
                let mut shared = BTreeSet::new();
                for c in &children {
                    for s in slots_in(c) {
                        if !seen.insert(s) {
                            shared.insert(s);
                        }
                    }
                }
                shared.difference(bound_above).copied().collect()
            }
        };
        let mut below = bound_above.clone();
        below.extend(bind.iter().copied());
        let sub = |e: &Expr| Plan::build(e, tools, &below);
        let kind = match expr {
            Expr::Call { slot, .. } => Kind::Call(*slot),
            Expr::Tool(t) => Kind::Tool(tools[t.0 as usize].latency_s),
            Expr::Seq(v) => Kind::Seq(v.iter().map(sub).collect()),
            Expr::AllOf(v) => Kind::AllOf(v.iter().map(sub).collect()),
            Expr::AnyOf(v) => Kind::AnyOf(v.iter().map(sub).collect()),
            Expr::Cond(arms) => Kind::Cond(arms.iter().map(|(w, e)| (*w, sub(e))).collect()),
            Expr::Retry {
                body,
                fixer,
                attempts,
            } => Kind::Retry(Box::new(sub(body)), Box::new(sub(fixer)), *attempts),
        };
        let open_below = match &kind {
            Kind::Call(_) | Kind::Tool(_) => false,
            Kind::Seq(v) | Kind::AllOf(v) | Kind::AnyOf(v) => v.iter().any(Plan::is_open),
            Kind::Cond(arms) => arms.iter().any(|(_, p)| p.is_open()),
            Kind::Retry(b, f, _) => b.is_open() || f.is_open(),
        };
        Plan {
            kind,
            bind,
            open_below,
        }
    }

    /// Whether this node or one below binds a slot (so it has more than one partial configuration).
    pub fn is_open(&self) -> bool {
        !self.bind.is_empty() || self.open_below
    }

    /// Slots in canonical order: this node's bound slots, then each child's, depth first.
    pub fn slot_order(&self, out: &mut Vec<SlotId>) {
        out.extend_from_slice(&self.bind);
        match &self.kind {
            Kind::Call(_) | Kind::Tool(_) => {}
            Kind::Seq(v) | Kind::AllOf(v) | Kind::AnyOf(v) => {
                v.iter().for_each(|p| p.slot_order(out))
            }
            Kind::Cond(arms) => arms.iter().for_each(|(_, p)| p.slot_order(out)),
            Kind::Retry(b, f, _) => {
                b.slot_order(out);
                f.slot_order(out);
            }
        }
    }
}

/// What a node of the merged graph computes, without its children: nodes of one operation, one number
/// of children, the same bound slots and the same openness fold alike and can be solved together.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    /// A call of a slot.
    Call(SlotId),
    /// A tool, by the bits of its latency.
    Tool(u64),
    Seq,
    AllOf,
    AnyOf,
    /// A conditional, by the bits of its branch weights.
    Cond(Vec<u64>),
    /// A retry with this many attempts (children: body, fixer).
    Retry(u32),
}

/// A node of the merged graph.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Node {
    pub op: Op,
    /// Indices of the children in the graph, in evaluation order.
    pub children: Vec<u32>,
    /// As [`Plan::bind`].
    pub bind: Vec<SlotId>,
    /// As [`Plan::open_below`].
    pub open_below: bool,
}

impl Node {
    /// Whether the node has more than one partial configuration (as [`Plan::is_open`]).
    pub fn is_open(&self) -> bool {
        !self.bind.is_empty() || self.open_below
    }

    /// Everything but the children: nodes with equal keys fold alike.
    pub fn class_key(&self) -> (&Op, usize, &[SlotId], bool) {
        (&self.op, self.children.len(), &self.bind, self.open_below)
    }
}

/// The plans of several structures as one graph: a subtree that occurs in several structures (or
/// several times in one) with the same bound slots is stored once.
#[derive(Debug, Default)]
pub(crate) struct Graph {
    pub nodes: Vec<Node>,
    index: HashMap<Node, u32>,
}

impl Graph {
    /// Adds a plan's nodes and returns the index of its root.
    pub fn add(&mut self, plan: &Plan) -> u32 {
        let (op, children): (Op, Vec<u32>) = match &plan.kind {
            Kind::Call(slot) => (Op::Call(*slot), Vec::new()),
            Kind::Tool(latency_s) => (Op::Tool(latency_s.to_bits()), Vec::new()),
            Kind::Seq(v) => (Op::Seq, v.iter().map(|p| self.add(p)).collect()),
            Kind::AllOf(v) => (Op::AllOf, v.iter().map(|p| self.add(p)).collect()),
            Kind::AnyOf(v) => (Op::AnyOf, v.iter().map(|p| self.add(p)).collect()),
            Kind::Cond(arms) => (
                Op::Cond(arms.iter().map(|(w, _)| w.to_bits()).collect()),
                arms.iter().map(|(_, p)| self.add(p)).collect(),
            ),
            Kind::Retry(b, f, k) => (Op::Retry(*k), vec![self.add(b), self.add(f)]),
        };
        let node = Node {
            op,
            children,
            bind: plan.bind.clone(),
            open_below: plan.open_below,
        };
        if let Some(&i) = self.index.get(&node) {
            return i;
        }
        let i = self.nodes.len() as u32;
        self.index.insert(node.clone(), i);
        self.nodes.push(node);
        i
    }
}

#[cfg(test)]
mod tests {
    use flowcompile_ir::AgentId;

    use super::*;

    fn call(s: u32) -> Expr {
        Expr::Call {
            slot: SlotId(s),
            agent: AgentId(s),
        }
    }

    #[test]
    fn equal_subtrees_of_different_structures_are_one_node() {
        let a = Expr::Seq(vec![Expr::AnyOf(vec![call(0), call(1)]), call(2)]);
        let b = Expr::Seq(vec![Expr::AnyOf(vec![call(0), call(1)]), call(3)]);
        let mut graph = Graph::default();
        let ra = graph.add(&Plan::new(&a, &[]));
        let rb = graph.add(&Plan::new(&b, &[]));
        assert_ne!(ra, rb);
        let (na, nb) = (&graph.nodes[ra as usize], &graph.nodes[rb as usize]);
        assert_eq!(na.children[0], nb.children[0]);
        assert_eq!(na.class_key(), nb.class_key());
        // calls 0, 1, 2, 3, the any-of, two roots
        assert_eq!(graph.nodes.len(), 7);
        assert_eq!(graph.add(&Plan::new(&a, &[])), ra);
    }

    #[test]
    fn a_subtree_under_a_bound_slot_is_another_node() {
        // Slot 0 is called twice in `shared`, so its calls are bound at the root and the any-of
        // below is closed; alone, the any-of binds slot 0 at its call.
        let any = Expr::AnyOf(vec![call(0), call(1)]);
        let shared = Expr::Seq(vec![any.clone(), call(0)]);
        let mut graph = Graph::default();
        let alone = graph.add(&Plan::new(&any, &[]));
        let root = graph.add(&Plan::new(&shared, &[]));
        let inner = graph.nodes[root as usize].children[0];
        assert_ne!(alone, inner);
        assert_eq!(graph.nodes[root as usize].bind, vec![SlotId(0)]);
        assert!(graph.nodes[alone as usize].open_below);
        assert!(
            graph.nodes[inner as usize].open_below,
            "slot 1 is still bound below"
        );
        assert_ne!(
            graph.nodes[alone as usize].class_key(),
            graph.nodes[root as usize].class_key()
        );
    }
}

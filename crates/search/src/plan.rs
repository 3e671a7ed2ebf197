//! A structure prepared for the search: where each slot is enumerated, and the canonical slot order.

use std::collections::BTreeSet;

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

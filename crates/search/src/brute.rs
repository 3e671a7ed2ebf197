//! Exhaustive enumeration: the definition the fast search is proven against.

use std::cmp::Ordering;

use flowcompile_ir::SlotId;
use flowcompile_proxy::{evaluate, fold, Metrics};

use crate::plan::{Kind, Plan};
use crate::{final_filter, Point, Problem};

/// One entry of a configuration's trace: a node's predicted value, or the rank of a bound slot.
#[derive(Copy, Clone, Debug)]
enum Item {
    Value(Metrics),
    Rank(u32),
}

/// Tie-rule order of two traces of the same structure: the first differing entry decides; a value
/// with higher accuracy, then lower latency, comes first; a smaller rank comes first.
fn cmp_traces(a: &[Item], b: &[Item]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = match (x, y) {
            (Item::Value(x), Item::Value(y)) => y
                .accuracy
                .total_cmp(&x.accuracy)
                .then(x.latency_s.total_cmp(&y.latency_s)),
            (Item::Rank(x), Item::Rank(y)) => x.cmp(y),
            _ => unreachable!("traces of one structure have one shape"),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// Writes a configuration's trace: the evaluation tree in pre-order, each node's value, and at each
/// node that joins a shared slot, that slot's rank right after the node's value.
struct Tracer<'p> {
    problem: &'p Problem<'p>,
    ranks: &'p [u32],
    out: Vec<Item>,
}

impl Tracer<'_> {
    fn placeholder(&mut self) -> usize {
        self.out.push(Item::Rank(u32::MAX));
        self.out.len() - 1
    }

    fn eval(&self, plan: &Plan) -> Metrics {
        let mut scratch = Tracer {
            problem: self.problem,
            ranks: self.ranks,
            out: Vec::new(),
        };
        scratch.inner(plan)
    }

    /// A node as a child: a fixed subtree is one value, an open one its full trace.
    fn node(&mut self, plan: &Plan) -> Metrics {
        if !plan.is_open() {
            let v = self.eval(plan);
            self.out.push(Item::Value(v));
            return v;
        }
        if plan.bind.is_empty() {
            return self.inner(plan);
        }
        let at = self.placeholder();
        for s in &plan.bind {
            self.out.push(Item::Rank(self.ranks[s.0 as usize]));
        }
        let v = if plan.open_below {
            self.inner(plan)
        } else {
            let v = self.eval(plan);
            self.out.push(Item::Value(v));
            v
        };
        self.out[at] = Item::Value(v);
        v
    }

    /// A left fold over children `c_1..c_K`: `n_1 = start(c_1)` (when `map_first`, else `n_1 = c_1`
    /// is no node of its own), `n_k = step(k, n_{k-1}, c_k)`; traced as
    /// `[n_K, n_{K-1}, ..., c_1.., c_2.., ...]`. A fixed child adds no entries of its own.
    fn fold(
        &mut self,
        children: &[&Plan],
        start: &dyn Fn(Metrics) -> Metrics,
        step: &dyn Fn(usize, Metrics, Metrics) -> Metrics,
        map_first: bool,
    ) -> Metrics {
        let n_children = children.len();
        if n_children == 0 {
            self.out.push(Item::Value(fold::IDENTITY));
            return fold::IDENTITY;
        }
        let n_nodes = n_children - 1 + usize::from(map_first);
        let first = self.out.len();
        for _ in 0..n_nodes {
            self.placeholder();
        }
        // Node n_k (1-based k) sits at `first + n_children - k`.
        let mut state = self.node(children[0]);
        if map_first {
            state = start(state);
            self.out[first + n_children - 1] = Item::Value(state);
        }
        for (k, c) in children.iter().enumerate().skip(1) {
            let m = if c.is_open() {
                self.node(c)
            } else {
                self.eval(c)
            };
            state = step(k, state, m);
            self.out[first + n_children - k - 1] = Item::Value(state);
        }
        state
    }

    fn inner(&mut self, plan: &Plan) -> Metrics {
        let (exec, dep) = (self.problem.exec, self.problem.dep);
        match &plan.kind {
            Kind::Call(slot) => {
                let v = self
                    .problem
                    .metrics_at_rank(*slot, self.ranks[slot.0 as usize]);
                self.out.push(Item::Value(v));
                v
            }
            Kind::Tool(latency_s) => {
                let v = Metrics {
                    accuracy: 1.0,
                    latency_s: *latency_s,
                };
                self.out.push(Item::Value(v));
                v
            }
            Kind::Seq(v) => self.fold(
                &v.iter().collect::<Vec<_>>(),
                &|m| m,
                &|_, a, b| fold::seq(a, b),
                true,
            ),
            Kind::AllOf(v) => self.fold(
                &v.iter().collect::<Vec<_>>(),
                &|m| m,
                &|_, a, b| fold::all_of(a, b, exec),
                true,
            ),
            Kind::AnyOf(v) => {
                let at = self.placeholder();
                let q = self.fold(
                    &v.iter().collect::<Vec<_>>(),
                    &fold::any_of_start,
                    &|_, a, b| fold::any_of_step(a, b, exec, dep),
                    true,
                );
                let v = fold::any_of_finish(q);
                self.out[at] = Item::Value(v);
                v
            }
            Kind::Cond(arms) => {
                let children: Vec<&Plan> = arms.iter().map(|(_, p)| p).collect();
                let weights: Vec<f64> = arms.iter().map(|(w, _)| *w).collect();
                let w0 = weights.first().copied().unwrap_or(0.0);
                self.fold(
                    &children,
                    &|m| fold::cond_start(w0, m),
                    &|k, s, m| fold::cond_step(s, weights[k], m),
                    true,
                )
            }
            Kind::Retry(body, fixer, attempts) => {
                let k = *attempts;
                self.fold(
                    &[body, fixer],
                    &|m| m,
                    &|_, b, f| fold::retry(b, f, k),
                    false,
                )
            }
        }
    }
}

/// Evaluates every configuration of every structure with [`flowcompile_proxy::evaluate`] and keeps the
/// Pareto set under the crate's tie rule. Time grows with the size of the space: for tests and benches.
pub fn brute_force(problem: &Problem) -> Vec<Point> {
    let n_slots = problem.space.slots.len();
    let mut all = Vec::new();
    for (idx, structure) in problem.space.structures.iter().enumerate() {
        let plan = Plan::new(&structure.expr, problem.tools);
        let mut order = Vec::new();
        plan.slot_order(&mut order);
        let sizes: Vec<usize> = order
            .iter()
            .map(|s| problem.metrics[s.0 as usize].len())
            .collect();
        let mut ranks = vec![0u32; order.len()];
        let mut by_slot = vec![0u32; n_slots];
        let mut candidates = Vec::new();
        'configs: loop {
            for (s, r) in order.iter().zip(&ranks) {
                by_slot[s.0 as usize] = *r;
            }
            let m = evaluate(
                &structure.expr,
                &|s: SlotId| problem.metrics_at_rank(s, by_slot[s.0 as usize]),
                problem.tools,
                problem.exec,
                problem.dep,
            );
            let mut tracer = Tracer {
                problem,
                ranks: &by_slot,
                out: Vec::new(),
            };
            let traced = tracer.node(&plan);
            assert_eq!(
                (traced.accuracy.to_bits(), traced.latency_s.to_bits()),
                (m.accuracy.to_bits(), m.latency_s.to_bits())
            );
            candidates.push((m, tracer.out, ranks.clone()));
            let mut k = ranks.len();
            loop {
                if k == 0 {
                    break 'configs;
                }
                k -= 1;
                ranks[k] += 1;
                if (ranks[k] as usize) < sizes[k] {
                    break;
                }
                ranks[k] = 0;
            }
        }
        candidates.sort_by(|(a, ta, _), (b, tb, _)| {
            a.latency_s
                .total_cmp(&b.latency_s)
                .then(b.accuracy.total_cmp(&a.accuracy))
                .then_with(|| cmp_traces(ta, tb))
        });
        for (m, ranks) in final_filter(candidates.into_iter().map(|(m, _, r)| (m, r)).collect()) {
            all.push((m, (idx, ranks)));
        }
    }
    final_filter(all)
        .into_iter()
        .map(|(metrics, (structure, ranks))| {
            let plan = Plan::new(&problem.space.structures[structure].expr, problem.tools);
            let mut order = Vec::new();
            plan.slot_order(&mut order);
            problem.point(structure, order.into_iter().zip(ranks), metrics)
        })
        .collect()
}

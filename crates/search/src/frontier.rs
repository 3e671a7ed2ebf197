//! The exact search: per-slot pruning, partial frontiers per structure, then a merge.

use flowcompile_ir::SlotId;
use flowcompile_proxy::{fold, ExecutionModel, Metrics};

use crate::plan::{Kind, Plan};
use crate::{final_filter, Frontier, Problem};

/// The Pareto set of one plan node's partial configurations, in preference order (accuracy
/// descending), with the setting ranks of the node's slots (canonical slot order) flattened `width`
/// at a time.
struct Front {
    metrics: Vec<Metrics>,
    ranks: Vec<u32>,
    width: usize,
}

impl Front {
    fn single(m: Metrics) -> Front {
        Front {
            metrics: vec![m],
            ranks: Vec::new(),
            width: 0,
        }
    }

    fn ranks(&self, i: usize) -> &[u32] {
        &self.ranks[i * self.width..(i + 1) * self.width]
    }

    /// Applies a monotone map (a unary node of the evaluation tree) and filters again: distinct
    /// values may become equal or comparable.
    fn map(self, f: impl Fn(Metrics) -> Metrics) -> Front {
        let candidates = self
            .metrics
            .iter()
            .enumerate()
            .map(|(i, m)| (f(*m), i))
            .collect();
        let kept = pareto_filter(candidates);
        let mut out = Front {
            metrics: Vec::with_capacity(kept.len()),
            ranks: Vec::with_capacity(kept.len() * self.width),
            width: self.width,
        };
        for (m, i) in kept {
            out.metrics.push(m);
            out.ranks.extend_from_slice(self.ranks(i));
        }
        out
    }
}

/// The strict Pareto set of candidates given in tie-rule order among equal values: sorted by accuracy
/// descending then latency ascending (stable, so equal values keep their given order), a candidate
/// is kept when it is strictly faster than every candidate before it. The result is in preference
/// order: the order of the node's values under the tie rule.
fn pareto_filter<T>(mut candidates: Vec<(Metrics, T)>) -> Vec<(Metrics, T)> {
    candidates.sort_by(|(a, _), (b, _)| {
        b.accuracy
            .total_cmp(&a.accuracy)
            .then(a.latency_s.total_cmp(&b.latency_s))
    });
    let mut best = f64::INFINITY;
    candidates.retain(|(m, _)| {
        let keep = m.latency_s < best;
        if keep {
            best = m.latency_s;
        }
        keep
    });
    candidates
}

/// All pairs of `a` and `b` combined by `op`, filtered; equal values keep the pair order, which is
/// the tie rule's order since both inputs are in preference order.
fn combine(a: &Front, b: &Front, op: impl Fn(Metrics, Metrics) -> Metrics) -> Front {
    let pairs = (0..a.metrics.len())
        .flat_map(|i| (0..b.metrics.len()).map(move |j| (i, j)))
        .map(|(i, j)| (op(a.metrics[i], b.metrics[j]), (i, j)))
        .collect();
    let kept = pareto_filter(pairs);
    let width = a.width + b.width;
    let mut out = Front {
        metrics: Vec::with_capacity(kept.len()),
        ranks: Vec::with_capacity(kept.len() * width),
        width,
    };
    for (m, (i, j)) in kept {
        out.metrics.push(m);
        out.ranks.extend_from_slice(a.ranks(i));
        out.ranks.extend_from_slice(b.ranks(j));
    }
    out
}

struct Solver<'p> {
    problem: &'p Problem<'p>,
    /// Kept setting ranks per slot.
    kept_ranks: Vec<Vec<u32>>,
    /// Rank fixed for each slot by the node that binds it.
    fixed: Vec<u32>,
}

impl Solver<'_> {
    fn solve(&mut self, plan: &Plan) -> Front {
        if plan.bind.is_empty() {
            return self.solve_inner(plan);
        }
        let lists: Vec<Vec<u32>> = plan
            .bind
            .iter()
            .map(|s| self.kept_ranks[s.0 as usize].clone())
            .collect();
        let mut odometer = vec![0usize; lists.len()];
        let mut parts: Vec<(Vec<u32>, Front)> = Vec::new();
        'combos: loop {
            let prefix: Vec<u32> = odometer.iter().zip(&lists).map(|(&i, l)| l[i]).collect();
            for (s, r) in plan.bind.iter().zip(&prefix) {
                self.fixed[s.0 as usize] = *r;
            }
            let inner = if plan.open_below {
                self.solve_inner(plan)
            } else {
                Front::single(self.eval_fixed(plan))
            };
            parts.push((prefix, inner));
            // Advance the odometer, last slot fastest, so equal values keep the bound ranks' order.
            let mut k = lists.len();
            loop {
                if k == 0 {
                    break 'combos;
                }
                k -= 1;
                odometer[k] += 1;
                if odometer[k] < lists[k].len() {
                    break;
                }
                odometer[k] = 0;
            }
        }
        let candidates = parts.iter().enumerate().flat_map(|(p, (_, front))| {
            front
                .metrics
                .iter()
                .enumerate()
                .map(move |(i, m)| (*m, (p, i)))
        });
        let kept = pareto_filter(candidates.collect());
        let width = plan.bind.len() + parts[0].1.width;
        let mut out = Front {
            metrics: Vec::with_capacity(kept.len()),
            ranks: Vec::with_capacity(kept.len() * width),
            width,
        };
        for (m, (p, i)) in kept {
            out.metrics.push(m);
            out.ranks.extend_from_slice(&parts[p].0);
            out.ranks.extend_from_slice(parts[p].1.ranks(i));
        }
        out
    }

    /// The one point of a node whose slots are all fixed, folded exactly as
    /// [`flowcompile_proxy::evaluate`] folds it.
    fn eval_fixed(&self, plan: &Plan) -> Metrics {
        let exec = self.problem.exec;
        let fold_all =
            |items: &[Plan],
             start: &dyn Fn(Metrics) -> Metrics,
             step: &dyn Fn(Metrics, Metrics) -> Metrics| match items.split_first() {
                None => fold::IDENTITY,
                Some((first, rest)) => rest.iter().fold(start(self.eval_fixed(first)), |s, c| {
                    step(s, self.eval_fixed(c))
                }),
            };
        match &plan.kind {
            Kind::Call(slot) => self
                .problem
                .metrics_at_rank(*slot, self.fixed[slot.0 as usize]),
            Kind::Tool(latency_s) => Metrics {
                accuracy: 1.0,
                latency_s: *latency_s,
            },
            Kind::Seq(v) => fold_all(v, &|m| m, &fold::seq),
            Kind::AllOf(v) => fold_all(v, &|m| m, &|a, b| fold::all_of(a, b, exec)),
            Kind::AnyOf(v) => fold::any_of_finish(fold_all(v, &fold::any_of_start, &|a, b| {
                fold::any_of_step(a, b, exec)
            })),
            Kind::Cond(arms) => match arms.split_first() {
                None => fold::IDENTITY,
                Some(((w0, first), rest)) => rest.iter().fold(
                    fold::cond_start(*w0, self.eval_fixed(first)),
                    |s, (w, c)| fold::cond_step(s, *w, self.eval_fixed(c)),
                ),
            },
            Kind::Retry(b, f, k) => fold::retry(self.eval_fixed(b), self.eval_fixed(f), *k),
        }
    }

    /// Extends `state` by one more child: a fixed child is a unary map, a frontier is combined.
    fn step(
        &mut self,
        state: Front,
        child: &Plan,
        op: impl Fn(Metrics, Metrics) -> Metrics,
    ) -> Front {
        if child.is_open() {
            let next = self.solve(child);
            combine(&state, &next, op)
        } else {
            let m = self.eval_fixed(child);
            state.map(|s| op(s, m))
        }
    }

    fn first(&mut self, child: &Plan) -> Front {
        if child.is_open() {
            self.solve(child)
        } else {
            Front::single(self.eval_fixed(child))
        }
    }

    fn fold_children(
        &mut self,
        children: &[Plan],
        start: impl Fn(Metrics) -> Metrics,
        step: impl Fn(Metrics, Metrics) -> Metrics,
    ) -> Front {
        match children.split_first() {
            None => Front::single(fold::IDENTITY),
            Some((first, rest)) => {
                let mut state = self.first(first).map(start);
                for c in rest {
                    state = self.step(state, c, &step);
                }
                state
            }
        }
    }

    fn solve_inner(&mut self, plan: &Plan) -> Front {
        let exec: ExecutionModel = self.problem.exec;
        match &plan.kind {
            Kind::Call(slot) => Front::single(
                self.problem
                    .metrics_at_rank(*slot, self.fixed[slot.0 as usize]),
            ),
            Kind::Tool(latency_s) => Front::single(Metrics {
                accuracy: 1.0,
                latency_s: *latency_s,
            }),
            Kind::Seq(children) => self.fold_children(children, |m| m, fold::seq),
            Kind::AllOf(children) => {
                self.fold_children(children, |m| m, |a, b| fold::all_of(a, b, exec))
            }
            Kind::AnyOf(children) => self
                .fold_children(children, fold::any_of_start, |a, b| {
                    fold::any_of_step(a, b, exec)
                })
                .map(fold::any_of_finish),
            Kind::Cond(arms) => match arms.split_first() {
                None => Front::single(fold::IDENTITY),
                Some(((w0, first), rest)) => {
                    let w0 = *w0;
                    let mut state = self.first(first).map(|m| fold::cond_start(w0, m));
                    for (w, c) in rest {
                        let w = *w;
                        state = self.step(state, c, |s, m| fold::cond_step(s, w, m));
                    }
                    state
                }
            },
            Kind::Retry(body, fixer, attempts) => {
                let k = *attempts;
                let b = self.first(body);
                self.step(b, fixer, |b, f| fold::retry(b, f, k))
            }
        }
    }
}

/// The exact Pareto frontier of the problem's design space (see the crate docs for the tie rule).
pub fn pareto(problem: &Problem) -> Frontier {
    let n_slots = problem.space.slots.len();
    let kept_ranks: Vec<Vec<u32>> = (0..n_slots)
        .map(|s| problem.kept_ranks(SlotId(s as u32)))
        .collect();
    let kept_per_slot = kept_ranks.iter().map(Vec::len).collect();
    let mut solver = Solver {
        problem,
        kept_ranks,
        fixed: vec![0; n_slots],
    };
    let mut candidates = Vec::new();
    let mut orders = Vec::with_capacity(problem.space.structures.len());
    for (idx, structure) in problem.space.structures.iter().enumerate() {
        let plan = Plan::new(&structure.expr, problem.tools);
        let mut order = Vec::new();
        plan.slot_order(&mut order);
        let front = solver.solve(&plan);
        for i in 0..front.metrics.len() {
            candidates.push((front.metrics[i], (idx, front.ranks(i).to_vec())));
        }
        orders.push(order);
    }
    let points = final_filter(candidates)
        .into_iter()
        .map(|(metrics, (structure, ranks))| {
            problem.point(structure, &orders[structure], &ranks, metrics)
        })
        .collect();
    Frontier {
        points,
        kept_per_slot,
    }
}

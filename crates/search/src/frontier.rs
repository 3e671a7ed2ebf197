//! The exact search: per-slot pruning, then one bottom-up build over every structure at once.

use std::collections::HashMap;
use std::rc::Rc;

use flowcompile_ir::SlotId;
use flowcompile_proxy::{fold, Metrics};

use crate::pairs::{pair_filter, Grid};
use crate::plan::{Graph, Node, Op, Plan};
use crate::{final_filter, Frontier, Problem};

/// Partial configurations of one or more alternatives of a node that every later step treats alike,
/// in preference order (accuracy descending, then latency ascending, then tag ascending).
#[derive(Clone, Debug, Default)]
pub(crate) struct Front {
    pub metrics: Vec<Metrics>,
    /// The alternative each point is a configuration of: an index into the alternatives solved
    /// together. A smaller tag is the smaller structure index in every completion, so wins ties.
    pub tags: Vec<u32>,
    /// Point `i` fixes the setting ranks `ranks[starts[i]..starts[i + 1]]`.
    starts: Vec<u32>,
    ranks: Vec<(SlotId, u32)>,
}

impl Front {
    fn single(m: Metrics, tag: u32) -> Front {
        Front {
            metrics: vec![m],
            tags: vec![tag],
            starts: vec![0, 0],
            ranks: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.metrics.len()
    }

    pub fn ranks(&self, i: usize) -> &[(SlotId, u32)] {
        &self.ranks[self.starts[i] as usize..self.starts[i + 1] as usize]
    }

    /// A front of the kept candidates, each point's ranks written by `ranks_of`.
    fn build<T>(
        kept: Vec<Candidate<T>>,
        mut ranks_of: impl FnMut(&T, &mut Vec<(SlotId, u32)>),
    ) -> Front {
        let mut out = Front {
            metrics: Vec::with_capacity(kept.len()),
            tags: Vec::with_capacity(kept.len()),
            starts: Vec::with_capacity(kept.len() + 1),
            ranks: Vec::new(),
        };
        out.starts.push(0);
        for (m, tag, source) in kept {
            out.metrics.push(m);
            out.tags.push(tag);
            ranks_of(&source, &mut out.ranks);
            out.starts.push(out.ranks.len() as u32);
        }
        out
    }

    /// Applies a monotone map (a unary node of the evaluation tree) and filters again: distinct
    /// values may become equal or comparable.
    fn map(&self, n_tags: usize, f: impl Fn(Metrics) -> Metrics) -> Front {
        let candidates = (0..self.len())
            .map(|i| (f(self.metrics[i]), self.tags[i], i))
            .collect();
        Front::build(pareto_filter(candidates, n_tags), |&i, out| {
            out.extend_from_slice(self.ranks(i))
        })
    }
}

/// A candidate point: its value, its tag, and where its ranks come from.
pub(crate) type Candidate<T> = (Metrics, u32, T);

/// Prefix minima over tags (a Fenwick tree): the lowest latency kept so far among tags `0..=t`.
struct PrefixMin(Vec<f64>);

impl PrefixMin {
    fn new(n_tags: usize) -> PrefixMin {
        PrefixMin(vec![f64::INFINITY; n_tags + 1])
    }

    fn get(&self, tag: u32) -> f64 {
        let mut i = tag as usize + 1;
        let mut best = f64::INFINITY;
        while i > 0 {
            if self.0[i] < best {
                best = self.0[i];
            }
            i &= i - 1;
        }
        best
    }

    fn lower(&mut self, tag: u32, latency_s: f64) {
        let mut i = tag as usize + 1;
        while i < self.0.len() {
            if latency_s < self.0[i] {
                self.0[i] = latency_s;
            }
            i += i & i.wrapping_neg();
        }
    }
}

/// The candidates that no candidate of a smaller or equal tag weakly dominates (the first of equal
/// ones given with one tag), in preference order. Sorted by accuracy descending, latency ascending,
/// tag ascending (stable, so equal values of one tag keep their given order), a candidate is kept
/// when it is strictly faster than every kept candidate before it whose tag is not larger.
///
/// Within one tag this is the strict Pareto set, the given order deciding among equal values: the
/// tie rule's order, since candidates are given in preference order of their parts. Across tags a
/// candidate is dropped only for one of a smaller tag, which every completion keeps at least as good
/// and earlier in structure order; one dominated only by larger tags is kept, as monotone but
/// rounded arithmetic may make them equal later, and then the smaller structure index wins.
pub(crate) fn pareto_filter<T: Ord>(
    mut candidates: Vec<Candidate<T>>,
    n_tags: usize,
) -> Vec<Candidate<T>> {
    candidates.sort_unstable_by(|(a, ta, sa), (b, tb, sb)| {
        b.accuracy
            .total_cmp(&a.accuracy)
            .then(a.latency_s.total_cmp(&b.latency_s))
            .then(ta.cmp(tb))
            .then(sa.cmp(sb))
    });
    if n_tags <= 1 {
        let mut best = f64::INFINITY;
        candidates.retain(|(m, _, _)| {
            let keep = m.latency_s < best;
            if keep {
                best = m.latency_s;
            }
            keep
        });
    } else {
        let mut best = PrefixMin::new(n_tags);
        candidates.retain(|(m, tag, _)| {
            let keep = m.latency_s < best.get(*tag);
            if keep {
                best.lower(*tag, m.latency_s);
            }
            keep
        });
    }
    candidates
}

/// Whether a fold maps its first child before the second (any-of and conditional do).
fn has_start(op: &Op) -> bool {
    matches!(op, Op::AnyOf | Op::Cond(_))
}

struct Solver<'p> {
    problem: &'p Problem<'p>,
    graph: &'p Graph,
    /// Kept setting ranks per slot.
    kept_ranks: Vec<Vec<u32>>,
    /// Rank fixed for each slot by the node that binds it.
    fixed: Vec<u32>,
}

impl Solver<'_> {
    fn node(&self, n: u32) -> &Node {
        &self.graph.nodes[n as usize]
    }

    /// The fold's first state from its first child's value.
    fn start(&self, op: &Op, m: Metrics) -> Metrics {
        match op {
            Op::AnyOf => fold::any_of_start(m),
            Op::Cond(weights) => fold::cond_start(f64::from_bits(weights[0]), m),
            _ => m,
        }
    }

    /// The fold's state after child `k` (`k >= 1`) of value `m`.
    fn step(&self, op: &Op, k: usize, state: Metrics, m: Metrics) -> Metrics {
        let exec = self.problem.exec;
        match op {
            Op::Seq => fold::seq(state, m),
            Op::AllOf => fold::all_of(state, m, exec),
            Op::AnyOf => fold::any_of_step(state, m, exec, self.problem.dep),
            Op::Cond(weights) => fold::cond_step(state, f64::from_bits(weights[k]), m),
            Op::Retry(attempts) => fold::retry(state, m, *attempts),
            Op::Call(_) | Op::Tool(_) => unreachable!("calls and tools have no children"),
        }
    }

    /// The one point of a node whose slots are all fixed, folded exactly as
    /// [`flowcompile_proxy::evaluate`] folds it.
    fn eval_fixed(&self, n: u32) -> Metrics {
        let node = self.node(n);
        match &node.op {
            Op::Call(slot) => self
                .problem
                .metrics_at_rank(*slot, self.fixed[slot.0 as usize]),
            Op::Tool(bits) => Metrics {
                accuracy: 1.0,
                latency_s: f64::from_bits(*bits),
            },
            op => match node.children.split_first() {
                None => fold::IDENTITY,
                Some((&first, rest)) => {
                    let mut state = self.eval_fixed(first);
                    if has_start(op) {
                        state = self.start(op, state);
                    }
                    for (k, &c) in rest.iter().enumerate() {
                        state = self.step(op, k + 1, state, self.eval_fixed(c));
                    }
                    if *op == Op::AnyOf {
                        fold::any_of_finish(state)
                    } else {
                        state
                    }
                }
            },
        }
    }

    /// The merged front of alternatives (nodes) that every later step treats alike: the same
    /// completions follow each, so a point may be dropped for another alternative's point that is at
    /// least as good and earlier in `items` (the order of structure indices in every completion).
    /// Tags index `items`.
    fn group(&mut self, items: &[u32]) -> Front {
        match items {
            [] => Front::default(),
            [one] if !self.node(*one).is_open() => Front::single(self.eval_fixed(*one), 0),
            [one] => self.class(&[*one]),
            _ => {
                // Alternatives that fold alike are solved together; a repeated one adds nothing
                // (its first occurrence wins every tie).
                let graph = self.graph;
                let mut classes: Vec<(Vec<u32>, Vec<u32>)> = Vec::new();
                let mut class_of = HashMap::new();
                let mut seen = std::collections::HashSet::new();
                for (tag, &n) in items.iter().enumerate() {
                    if !seen.insert(n) {
                        continue;
                    }
                    let c = *class_of
                        .entry(graph.nodes[n as usize].class_key())
                        .or_insert_with(|| {
                            classes.push((Vec::new(), Vec::new()));
                            classes.len() - 1
                        });
                    classes[c].0.push(n);
                    classes[c].1.push(tag as u32);
                }
                let fronts: Vec<(Front, Vec<u32>)> = classes
                    .into_iter()
                    .map(|(nodes, tags)| (self.class(&nodes), tags))
                    .collect();
                if let [(front, tags)] = fronts.as_slice() {
                    let mut front = front.clone();
                    front.tags.iter_mut().for_each(|t| *t = tags[*t as usize]);
                    return front;
                }
                let candidates = fronts
                    .iter()
                    .enumerate()
                    .flat_map(|(c, (front, tags))| {
                        (0..front.len())
                            .map(move |i| (front.metrics[i], tags[front.tags[i] as usize], (c, i)))
                    })
                    .collect();
                Front::build(pareto_filter(candidates, items.len()), |&(c, i), out| {
                    out.extend_from_slice(fronts[c].0.ranks(i))
                })
            }
        }
    }

    /// Alternatives of one class (see [`Node::class_key`]), all distinct: each combination of the
    /// slots the class binds, then the fold. Tags index `items`.
    fn class(&mut self, items: &[u32]) -> Front {
        let graph = self.graph;
        let node = &graph.nodes[items[0] as usize];
        if node.bind.is_empty() {
            return self.inner(items);
        }
        let lists: Vec<Vec<u32>> = node
            .bind
            .iter()
            .map(|s| self.kept_ranks[s.0 as usize].clone())
            .collect();
        let mut odometer = vec![0usize; lists.len()];
        let mut parts: Vec<(Vec<(SlotId, u32)>, Front)> = Vec::new();
        'combos: loop {
            let prefix: Vec<(SlotId, u32)> = node
                .bind
                .iter()
                .zip(odometer.iter().zip(&lists))
                .map(|(&s, (&i, l))| (s, l[i]))
                .collect();
            for &(s, r) in &prefix {
                self.fixed[s.0 as usize] = r;
            }
            let inner = if node.open_below {
                self.inner(items)
            } else {
                let mut front = Front::default();
                front.starts.push(0);
                for (tag, &n) in items.iter().enumerate() {
                    front.metrics.push(self.eval_fixed(n));
                    front.tags.push(tag as u32);
                    front.starts.push(0);
                }
                front
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
        let candidates = parts
            .iter()
            .enumerate()
            .flat_map(|(p, (_, front))| {
                (0..front.len()).map(move |i| (front.metrics[i], front.tags[i], (p, i)))
            })
            .collect();
        Front::build(pareto_filter(candidates, items.len()), |&(p, i), out| {
            out.extend_from_slice(&parts[p].0);
            out.extend_from_slice(parts[p].1.ranks(i));
        })
    }

    /// A class with its bound slots fixed: a call or tool (one alternative), or the fold.
    fn inner(&mut self, items: &[u32]) -> Front {
        let graph = self.graph;
        let node = &graph.nodes[items[0] as usize];
        match &node.op {
            Op::Call(_) | Op::Tool(_) => Front::single(self.eval_fixed(items[0]), 0),
            _ if node.children.is_empty() => Front::single(fold::IDENTITY, 0),
            op => {
                let members: Vec<u32> = (0..items.len() as u32).collect();
                let state = self.level(items, node.children.len(), &members, &mut HashMap::new());
                if *op == Op::AnyOf {
                    state.map(items.len(), fold::any_of_finish)
                } else {
                    Rc::unwrap_or_clone(state)
                }
            }
        }
    }

    /// The fold's state after its first `k` children, for the alternatives `members` (indices into
    /// `items`, ascending) whose children from `k` on are the same nodes: they complete alike, so one
    /// front holds them all. Tags index `members`.
    ///
    /// The alternatives are split by their child `k - 1`; those whose earlier children are the same
    /// list share one state for `k - 1` (computed once, in `memo`), and their children `k - 1` are
    /// solved as one [`Solver::group`] when they come in the same order after every prefix.
    fn level(
        &mut self,
        items: &[u32],
        k: usize,
        members: &[u32],
        memo: &mut HashMap<Vec<u32>, Rc<Front>>,
    ) -> Rc<Front> {
        let graph = self.graph;
        let child = |m: u32, c: usize| graph.nodes[items[m as usize] as usize].children[c];
        let key: Vec<u32> = std::iter::once(k as u32)
            .chain(
                members
                    .iter()
                    .flat_map(|&m| (0..k).map(move |c| child(m, c))),
            )
            .collect();
        if let Some(front) = memo.get(&key) {
            return Rc::clone(front);
        }
        let op = &graph.nodes[items[0] as usize].op;
        let n_tags = members.len();
        let front = if k == 1 {
            let firsts: Vec<u32> = members.iter().map(|&m| child(m, 0)).collect();
            let front = self.group(&firsts);
            if has_start(op) {
                front.map(n_tags, |m| self.start(op, m))
            } else {
                front
            }
        } else {
            // Child k - 1 of each member, and the members (positions in `members`) having it.
            let mut by_child: Vec<(u32, Vec<u32>)> = Vec::new();
            let mut index = HashMap::new();
            for (pos, &m) in members.iter().enumerate() {
                let c = child(m, k - 1);
                let at = *index.entry(c).or_insert_with(|| {
                    by_child.push((c, Vec::new()));
                    by_child.len() - 1
                });
                by_child[at].1.push(pos as u32);
            }
            let lefts: Vec<Rc<Front>> = by_child
                .iter()
                .map(|(_, positions)| {
                    let sub: Vec<u32> = positions.iter().map(|&p| members[p as usize]).collect();
                    self.level(items, k - 1, &sub, memo)
                })
                .collect();
            // Children sharing a left state, solved together when their order agrees.
            let mut sets: Vec<Vec<usize>> = Vec::new();
            let mut shared: Vec<usize> = (0..by_child.len()).collect();
            while let Some(&first) = shared.first() {
                let (mut same, rest): (Vec<usize>, Vec<usize>) = shared
                    .iter()
                    .partition(|&&b| Rc::ptr_eq(&lefts[b], &lefts[first]));
                shared = rest;
                same.sort_by_key(|&b| by_child[b].1[0]);
                let agree = same.windows(2).all(|w| {
                    let (x, y) = (&by_child[w[0]].1, &by_child[w[1]].1);
                    x.iter().zip(y).all(|(a, b)| a < b)
                });
                if agree {
                    sets.push(same);
                } else {
                    sets.extend(same.into_iter().map(|b| vec![b]));
                }
            }
            let rights: Vec<Front> = sets
                .iter()
                .map(|set| {
                    let children: Vec<u32> = set.iter().map(|&b| by_child[b].0).collect();
                    self.group(&children)
                })
                .collect();
            let by_child = &by_child;
            let grids: Vec<Grid> = sets
                .iter()
                .zip(&rights)
                .map(|(set, right)| {
                    let prefixes = by_child[set[0]].1.len();
                    Grid {
                        left: &lefts[set[0]],
                        right,
                        tags: (0..prefixes)
                            .flat_map(|a| set.iter().map(move |&b| by_child[b].1[a]))
                            .collect(),
                        right_tags: set.len(),
                    }
                })
                .collect();
            let kept = pair_filter(&grids, &|a, b| self.step(op, k - 1, a, b), n_tags);
            Front::build(kept, |&(g, i, j), out| {
                out.extend_from_slice(grids[g as usize].left.ranks(i as usize));
                out.extend_from_slice(grids[g as usize].right.ranks(j as usize));
            })
        };
        let front = Rc::new(front);
        memo.insert(key, Rc::clone(&front));
        front
    }
}

/// The exact Pareto frontier of the problem's design space (see the crate docs for the tie rule).
pub fn pareto(problem: &Problem) -> Frontier {
    let n_slots = problem.space.slots.len();
    let kept_ranks: Vec<Vec<u32>> = (0..n_slots)
        .map(|s| problem.kept_ranks(SlotId(s as u32)))
        .collect();
    let kept_per_slot = kept_ranks.iter().map(Vec::len).collect();
    let mut graph = Graph::default();
    let roots: Vec<u32> = problem
        .space
        .structures
        .iter()
        .map(|s| graph.add(&Plan::new(&s.expr, problem.tools)))
        .collect();
    let mut solver = Solver {
        problem,
        graph: &graph,
        kept_ranks,
        fixed: vec![0; n_slots],
    };
    let front = solver.group(&roots);
    let mut order: Vec<usize> = (0..front.len()).collect();
    order.sort_by_key(|&i| front.tags[i]);
    let candidates = order.into_iter().map(|i| (front.metrics[i], i)).collect();
    let points = final_filter(candidates)
        .into_iter()
        .map(|(metrics, i)| {
            problem.point(
                front.tags[i] as usize,
                front.ranks(i).iter().copied(),
                metrics,
            )
        })
        .collect();
    Frontier {
        points,
        kept_per_slot,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small deterministic generator (xorshift).
    pub(crate) struct Rng(pub u64);

    impl Rng {
        /// Uniform in `[0, 1)`.
        pub(crate) fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// A front of random points with `n_tags` tags, values on a grid of `1 / grain`; each tag's
    /// points are `shift` better (more accurate and faster) than the previous tag's.
    pub(crate) fn front_of(
        rng: &mut Rng,
        n: usize,
        n_tags: usize,
        grain: f64,
        shift: f64,
    ) -> Front {
        let candidates = (0..n as u32)
            .map(|i| {
                let tag = (rng.next() * n_tags as f64) as u32;
                let a = rng.next();
                let m = Metrics {
                    accuracy: ((a + shift * tag as f64) * grain).round() / grain,
                    latency_s: ((a + 0.02 * rng.next() - shift * tag as f64 + 1.0) * grain).round()
                        / grain,
                };
                (m, tag, i)
            })
            .collect();
        Front::build(pareto_filter(candidates, n_tags), |_, _| {})
    }

    fn m(accuracy: f64, latency_s: f64) -> Metrics {
        Metrics {
            accuracy,
            latency_s,
        }
    }

    #[test]
    fn a_point_is_dropped_only_for_one_of_a_tag_not_larger() {
        let kept = pareto_filter(
            vec![
                (m(0.9, 5.0), 1, 'a'),
                (m(0.5, 6.0), 0, 'b'), // dominated by a tag-1 point only: kept
                (m(0.5, 7.0), 1, 'c'), // dominated by 'a', its own tag
                (m(0.4, 8.0), 0, 'd'), // dominated by 'b'
                (m(0.3, 1.0), 1, 'f'),
                (m(0.3, 1.0), 0, 'g'), // equal to 'f', smaller tag: 'f' goes
            ],
            2,
        );
        let order: Vec<char> = kept.iter().map(|c| c.2).collect();
        assert_eq!(order, ['a', 'b', 'g']);
    }

    #[test]
    fn equal_points_of_one_tag_keep_the_first_given() {
        let kept = pareto_filter(
            vec![
                (m(0.5, 1.0), 0, 3u32),
                (m(0.5, 1.0), 0, 1),
                (m(0.7, 2.0), 0, 2),
            ],
            1,
        );
        let order: Vec<u32> = kept.iter().map(|c| c.2).collect();
        assert_eq!(order, [2, 1]);
    }

    #[test]
    fn many_tags_agree_with_checking_every_pair() {
        let mut rng = Rng(11);
        for n_tags in [1usize, 2, 5, 64] {
            let candidates: Vec<Candidate<u32>> = (0..400u32)
                .map(|i| {
                    let p = m((rng.next() * 8.0).round(), (rng.next() * 8.0).round());
                    (p, (rng.next() * n_tags as f64) as u32, i)
                })
                .collect();
            let kept: Vec<u32> = pareto_filter(candidates.clone(), n_tags)
                .iter()
                .map(|c| c.2)
                .collect();
            let beaten = |(p, t, i): &Candidate<u32>| {
                candidates.iter().any(|(q, u, j)| {
                    let weakly = q.accuracy >= p.accuracy && q.latency_s <= p.latency_s;
                    let strictly = q.accuracy > p.accuracy || q.latency_s < p.latency_s;
                    weakly && u <= t && (strictly || u < t || j < i)
                })
            };
            let mut want: Vec<u32> = candidates
                .iter()
                .filter(|c| !beaten(c))
                .map(|c| c.2)
                .collect();
            let mut got = kept.clone();
            want.sort();
            got.sort();
            assert_eq!(got, want, "{n_tags} tags");
        }
    }
}

//! Design-space exploration: the exact Pareto set of workflow configurations under the proxy.
//!
//! [`pareto`] returns exactly what [`brute_force`] returns (every configuration evaluated, then
//! filtered, structure by structure), bit for bit, without enumerating the space:
//! 1. **Per-slot pruning.** Each slot's settings are ranked best first (higher accuracy, then lower
//!    latency, then file order); a setting weakly dominated by an earlier one is dropped. The proxy is
//!    monotone, so swapping in the dominating setting never makes a configuration worse.
//! 2. **Partial frontiers.** A node's frontier is built from its children's frontiers with the
//!    proxy's own [`flowcompile_proxy::fold`] operations, in the order
//!    [`flowcompile_proxy::evaluate`] applies them, and filtered. A slot called from several places
//!    (an agent whose call sites share a setting) is enumerated at the lowest node containing all its
//!    calls, so subtrees stay independent.
//! 3. **All structures in one build.** The structures' plans form one graph in which a subtree that
//!    several structures contain (with the same bound slots) is one node, solved once. Alternatives
//!    that everything after them treats alike are solved as one front whose points carry a tag, the
//!    alternative's rank in structure order: the structures themselves at the root; within a fold
//!    over children `c_1..c_n`, the state after `c_1..c_k` of all structures that agree on
//!    `c_(k+1)..c_n`, built once from the shared state after `c_1..c_(k-1)` and the alternatives for
//!    `c_k` together. Six stages in sequence, each with one optional step, are 64 structures but six
//!    fold steps over two alternatives each. In such a front a point is dropped only for one of the
//!    same or a smaller tag that is at least as good: a point dominated only by a larger tag is kept,
//!    because rounded arithmetic may make both equal later, and then the smaller structure index wins.
//! 4. **Pair filtering.** A fold step pairs every point of the state with every point of the child.
//!    Along one tag the points of a front form an antichain, so a run of consecutive points bounds a
//!    block of pairs (the step of the run's best accuracy with its best latency, the proxy being
//!    monotone); a block is skipped when a pair of a coarser grid (every fourth point of each
//!    antichain, filtered the same way, recursively), of a tag not larger, is strictly more accurate
//!    than the bound and not slower. The pairs skipped are ones the filter would drop.
//!
//! **Tie rule.** A configuration is on the frontier when no other is at least as accurate and at least
//! as fast with one strictly better. Among configurations with exactly the same predicted (accuracy,
//! latency), one is kept: the one of the smallest structure index; within a structure, the one whose
//! intermediate predictions are better first, comparing the structure's evaluation tree top-down in
//! pre-order (at each node its predicted value, higher accuracy then lower latency first, then the
//! best-first rank of each slot the node joins); the first difference decides. Preferring better
//! sub-results is what makes pruning exact: a partial configuration weakly dominated by another is
//! never preferred to it, whatever completes both, so within one structure every partial frontier is
//! a plain Pareto set (across structures, see 3). Exactness rests on the proxy's monotonicity, which
//! holds for what profiles give (accuracy in [0, 1], latency >= 0).
//!
//! ```
//! use flowcompile_ir::*;
//! use flowcompile_proxy::{Dependence, ExecutionModel, Metrics};
//! let agent = Agent::new("solver", vec![Setting::new("small", 0), Setting::new("large", 0)]);
//! let mut wf = Workflow::new("demo", vec![agent]);
//! wf.root = wf.add_node("solver", NodeKind::Agent(AgentId(0)));
//! let space = wf.design_space().unwrap();
//! let metrics = vec![vec![
//!     Metrics { accuracy: 0.6, latency_s: 1.0 },
//!     Metrics { accuracy: 0.9, latency_s: 4.0 },
//! ]];
//! let problem = flowcompile_search::Problem::new(&space, &wf.tools, &metrics, ExecutionModel::Parallel);
//! let frontier = flowcompile_search::pareto(&problem);
//! assert_eq!(frontier.points.len(), 2);
//! assert_eq!(frontier.points, flowcompile_search::brute_force(&problem));
//! ```
#![deny(missing_docs)]

mod brute;
mod frontier;
mod pairs;
mod plan;

use flowcompile_ir::{DesignSpace, SlotId, Tool};
use flowcompile_proxy::{Dependence, ExecutionModel, Metrics};

pub use brute::brute_force;
pub use frontier::pareto;

/// A search problem: a design space, the tools' latencies and each slot's metrics per setting.
#[derive(Debug)]
pub struct Problem<'a> {
    /// The structures and slots.
    pub space: &'a DesignSpace,
    /// Tools of the workflow (their latency counts).
    pub tools: &'a [Tool],
    /// `metrics[slot][setting]`: the slot's metrics under each of its agent's settings.
    pub metrics: &'a [Vec<Metrics>],
    /// How parallel branches' latencies combine.
    pub exec: ExecutionModel,
    /// How any-of candidates' failures co-occur (independent unless [`Problem::with_dependence`]).
    pub dep: Dependence,
    /// Per slot, setting indices best first (accuracy desc, latency asc, index asc).
    ranked: Vec<Vec<u32>>,
}

impl<'a> Problem<'a> {
    /// Prepares a problem; `metrics[slot]` must have one entry per setting of the slot's agent.
    pub fn new(
        space: &'a DesignSpace,
        tools: &'a [Tool],
        metrics: &'a [Vec<Metrics>],
        exec: ExecutionModel,
    ) -> Problem<'a> {
        assert_eq!(
            metrics.len(),
            space.slots.len(),
            "one metrics list per slot"
        );
        let ranked = metrics
            .iter()
            .map(|ms| {
                let mut idx: Vec<u32> = (0..ms.len() as u32).collect();
                idx.sort_by(|&a, &b| {
                    let (x, y) = (ms[a as usize], ms[b as usize]);
                    y.accuracy
                        .total_cmp(&x.accuracy)
                        .then(x.latency_s.total_cmp(&y.latency_s))
                        .then(a.cmp(&b))
                });
                idx
            })
            .collect();
        Problem {
            space,
            tools,
            metrics,
            exec,
            dep: Dependence::INDEPENDENT,
            ranked,
        }
    }

    /// The same problem composed with dependence `dep` between any-of candidates' failures.
    pub fn with_dependence(mut self, dep: Dependence) -> Problem<'a> {
        self.dep = dep;
        self
    }

    /// The settings of a slot that no other setting of it weakly dominates, best first.
    pub fn kept_settings(&self, slot: SlotId) -> Vec<u32> {
        self.kept_ranks(slot)
            .into_iter()
            .map(|r| self.rank_to_setting(slot, r))
            .collect()
    }

    /// Ranks of the kept settings: ranked by accuracy descending, a setting survives only if it is
    /// strictly faster than every setting ranked before it (which are all at least as accurate).
    fn kept_ranks(&self, slot: SlotId) -> Vec<u32> {
        let ms = &self.metrics[slot.0 as usize];
        let mut kept = Vec::new();
        let mut best_latency = f64::INFINITY;
        for (rank, &i) in self.ranked[slot.0 as usize].iter().enumerate() {
            let l = ms[i as usize].latency_s;
            if l < best_latency {
                best_latency = l;
                kept.push(rank as u32);
            }
        }
        kept
    }

    fn rank_to_setting(&self, slot: SlotId, rank: u32) -> u32 {
        self.ranked[slot.0 as usize][rank as usize]
    }

    /// The frontier point of `structure` whose slots have these setting ranks.
    fn point(
        &self,
        structure: usize,
        ranks: impl IntoIterator<Item = (SlotId, u32)>,
        metrics: Metrics,
    ) -> Point {
        let mut settings: Vec<(SlotId, u32)> = ranks
            .into_iter()
            .map(|(slot, rank)| (slot, self.rank_to_setting(slot, rank)))
            .collect();
        settings.sort();
        Point {
            structure,
            settings,
            metrics,
        }
    }

    fn metrics_at_rank(&self, slot: SlotId, rank: u32) -> Metrics {
        self.metrics[slot.0 as usize][self.rank_to_setting(slot, rank) as usize]
    }
}

/// One configuration on the frontier.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Index into [`DesignSpace::structures`].
    pub structure: usize,
    /// Setting index (into the slot's agent's settings) of each slot the structure calls, slots
    /// ascending.
    pub settings: Vec<(SlotId, u32)>,
    /// Predicted accuracy and latency.
    pub metrics: Metrics,
}

/// The result of a search: frontier points by latency ascending, and what pruning kept.
#[derive(Clone, Debug, PartialEq)]
pub struct Frontier {
    /// Pareto-optimal configurations, fastest first (accuracy strictly increases along the list).
    pub points: Vec<Point>,
    /// Settings kept per slot after dominance pruning.
    pub kept_per_slot: Vec<usize>,
}

/// The final filter over candidates given in tie-rule order: sorts by latency (stable), keeps a
/// point when it is strictly more accurate than every faster-or-equal point before it.
fn final_filter<T>(mut candidates: Vec<(Metrics, T)>) -> Vec<(Metrics, T)> {
    // Stable: among equal (latency, accuracy) the one given first stays first.
    candidates.sort_by(|(a, _), (b, _)| {
        a.latency_s
            .total_cmp(&b.latency_s)
            .then(b.accuracy.total_cmp(&a.accuracy))
    });
    let mut best = f64::NEG_INFINITY;
    candidates.retain(|(m, _)| {
        let keep = m.accuracy > best;
        if keep {
            best = m.accuracy;
        }
        keep
    });
    candidates
}

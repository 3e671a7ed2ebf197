//! The structure-aware proxy: predicts a workflow configuration's accuracy and latency by composing
//! its sub-agents' profiled [`Metrics`] along the workflow's structure.
//!
//! | construct | accuracy | latency ([`ExecutionModel::Parallel`]) | latency ([`ExecutionModel::Sequential`]) |
//! |---|---|---|---|
//! | sequence | prod p | sum t | sum t |
//! | any-of | 1 - F, F = fold of (1 - p) by f(a, b) = (1 - r) a b + r min(a, b) | max t | sum t |
//! | all-of | prod p | max t | sum t |
//! | conditional | sum w p | sum w t | sum w t |
//! | retry, k attempts | 1 - (1 - p0) r^k, r = 1 - pf | t0 + (1 - p0)(1 + r + ... + r^(k-1)) tf | same |
//!
//! `r` is the [`Dependence`] of candidates' failures: 0 is the paper's independent composition
//! (F = prod(1 - p)), 1 the comonotone one (candidates fail on the same items: F = min(1 - p)). It is
//! estimated from measured calls (how often two answer agents fail on the same validation item,
//! against what independence and comonotonicity would give); see [`Dependence::estimate`].
//!
//! These are the rules the search composes with. The driver's default proxy then predicts the
//! points found again item by item, votes by their candidates' agreement
//! (`flowcompile_driver::itemwise`); `--proxy independent` keeps this table's numbers at `r = 0`.
//!
//! Every rule is monotone: a better (more accurate or faster) sub-agent never makes the workflow worse.
//! The search relies on this to prune, and on the [`fold`] primitives being the only arithmetic: the
//! search composes partial results with the same operations in the same order as [`evaluate`], so its
//! predictions are bit-identical to evaluating each configuration directly.
//!
//! ```
//! use flowcompile_ir::{AgentId, Expr, SlotId};
//! use flowcompile_profile::Metrics;
//! use flowcompile_proxy::{evaluate, Dependence, ExecutionModel};
//! let call = |s| Expr::Call { slot: SlotId(s), agent: AgentId(s) };
//! let two_solvers_then_vote = Expr::Seq(vec![Expr::AnyOf(vec![call(0), call(1)]), call(2)]);
//! let profile = [
//!     Metrics { accuracy: 0.5, latency_s: 2.0 },
//!     Metrics { accuracy: 0.5, latency_s: 3.0 },
//!     Metrics { accuracy: 0.9, latency_s: 1.0 },
//! ];
//! let m = evaluate(&two_solvers_then_vote, &|s: SlotId| profile[s.0 as usize], &[], ExecutionModel::Parallel, Dependence::INDEPENDENT);
//! assert_eq!(m.accuracy, 0.75 * 0.9);
//! assert_eq!(m.latency_s, 3.0 + 1.0);
//! ```
#![deny(missing_docs)]

pub use flowcompile_ir::ExecutionModel;
use flowcompile_ir::{Expr, SlotId, Tool};
pub use flowcompile_profile::Metrics;

/// How strongly the failures of any-of candidates co-occur, in [0, 1]: 0 independent (the paper's
/// proxy), 1 comonotone (whenever a weaker candidate fails the stronger ones fail too).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dependence {
    /// The mixing weight `r` of the any-of rule.
    pub any_of: f64,
}

impl Dependence {
    /// Independent failures: the paper's composition.
    pub const INDEPENDENT: Dependence = Dependence { any_of: 0.0 };

    /// A dependence of `r`, clamped into [0, 1] (NaN is independence).
    pub fn new(r: f64) -> Dependence {
        Dependence {
            any_of: if r.is_nan() { 0.0 } else { r.clamp(0.0, 1.0) },
        }
    }

    /// Estimates `r` from pairs of failure-rate columns measured on the same items: for each pair
    /// `(a, b)` (per item, the fraction of calls that failed), the excess of the measured joint
    /// failure `mean(a b)` over independence `mean(a) mean(b)`, divided by the largest excess
    /// possible, `min(mean(a), mean(b)) - mean(a) mean(b)`; pairs are pooled by summing both
    /// (a ratio of sums, so pairs with more room weigh more). `None` when no pair has room (every
    /// candidate always right or always wrong), so the caller can say why it fell back.
    pub fn estimate<A: AsRef<[f64]>>(
        pairs: impl IntoIterator<Item = (A, A)>,
    ) -> Option<Dependence> {
        let mut sums = CoFailure::default();
        for (a, b) in pairs {
            let (a, b) = (a.as_ref(), b.as_ref());
            sums.add_pair(a.iter().zip(b).map(|(x, y)| (*x, *y, 1.0)));
        }
        sums.dependence()
    }
}

/// The sums [`Dependence::estimate`] is the ratio of, pooled pair by pair with a weight per item
/// (a bootstrap resample weighs an item by how often it was drawn; weights of 1 are the plain
/// estimate).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CoFailure {
    /// Sum over pairs of the joint failure rate's excess over independence.
    pub excess: f64,
    /// Sum over pairs of the largest excess possible.
    pub room: f64,
}

impl CoFailure {
    /// Adds one pair: its shared items' `(failure rate under a, failure rate under b, weight)`,
    /// every mean weighted. A pair whose weights sum to 0 adds nothing.
    pub fn add_pair(&mut self, items: impl IntoIterator<Item = (f64, f64, f64)>) {
        let (mut w, mut sa, mut sb, mut sab) = (0.0, 0.0, 0.0, 0.0);
        for (a, b, weight) in items {
            w += weight;
            sa += weight * a;
            sb += weight * b;
            sab += weight * (a * b);
        }
        if w > 0.0 {
            let (fa, fb, joint) = (sa / w, sb / w, sab / w);
            self.excess += joint - fa * fb;
            self.room += fa.min(fb) - fa * fb;
        }
    }

    /// Adds every pair of `columns` (failure rates on the same items, `columns[x][k]` on item k,
    /// item k weighted by `weights[k]`): what [`CoFailure::add_pair`] of each pair adds, up to
    /// rounding, in time linear in the columns (sums of products pooled per item, the minima from
    /// the sorted means) instead of quadratic.
    pub fn add_all_pairs(&mut self, columns: &[Vec<f64>], weights: &[f64]) {
        let w: f64 = weights.iter().sum();
        if w <= 0.0 || columns.len() < 2 {
            return;
        }
        // Sum over pairs x < y of the joint rate: per item ((sum f)^2 - sum f^2) / 2.
        let mut joint = 0.0;
        for (k, weight) in weights.iter().enumerate() {
            let (mut sum, mut squares) = (0.0, 0.0);
            for c in columns {
                sum += c[k];
                squares += c[k] * c[k];
            }
            joint += weight * (sum * sum - squares) / 2.0;
        }
        let mut means: Vec<f64> = columns
            .iter()
            .map(|c| c.iter().zip(weights).map(|(f, w)| w * f).sum::<f64>() / w)
            .collect();
        let (sum, squares) = means
            .iter()
            .fold((0.0, 0.0), |(s, q), m| (s + m, q + m * m));
        let products = (sum * sum - squares) / 2.0;
        means.sort_by(f64::total_cmp);
        let n = means.len();
        let minima: f64 = means
            .iter()
            .enumerate()
            .map(|(r, m)| m * (n - 1 - r) as f64)
            .sum();
        self.excess += joint / w - products;
        self.room += minima - products;
    }

    /// The pooled dependence, `excess / room`; `None` when no pair has room (every candidate
    /// always right or always wrong).
    pub fn dependence(&self) -> Option<Dependence> {
        (self.room > 1e-12).then(|| Dependence::new(self.excess / self.room))
    }
}

/// Which composition the proxy uses for any-of candidates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProxyKind {
    /// Candidates' failures co-occur as measured ([`Dependence::estimate`]); the default.
    #[default]
    Dependent,
    /// The paper's proxy: candidates fail independently.
    Independent,
}

impl ProxyKind {
    /// The flag value: `dependent` or `independent`.
    pub fn name(self) -> &'static str {
        match self {
            ProxyKind::Dependent => "dependent",
            ProxyKind::Independent => "independent",
        }
    }
}

/// The composition primitives. Partial states keep "larger accuracy is better, smaller latency is
/// better" so that dominance can be checked on them directly.
pub mod fold {
    use super::{Dependence, ExecutionModel, Metrics};

    /// What an empty sequence or a switched-off step contributes.
    pub const IDENTITY: Metrics = Metrics {
        accuracy: 1.0,
        latency_s: 0.0,
    };

    fn parallel(a: f64, b: f64, exec: ExecutionModel) -> f64 {
        match exec {
            ExecutionModel::Parallel => a.max(b),
            ExecutionModel::Sequential => a + b,
        }
    }

    /// Sequence: accuracies multiply, latencies add.
    pub fn seq(a: Metrics, b: Metrics) -> Metrics {
        Metrics {
            accuracy: a.accuracy * b.accuracy,
            latency_s: a.latency_s + b.latency_s,
        }
    }

    /// All-of: accuracies multiply, latencies combine by the execution model.
    pub fn all_of(a: Metrics, b: Metrics, exec: ExecutionModel) -> Metrics {
        Metrics {
            accuracy: a.accuracy * b.accuracy,
            latency_s: parallel(a.latency_s, b.latency_s, exec),
        }
    }

    /// Any-of, first candidate: the state holds minus the probability that every candidate fails.
    pub fn any_of_start(m: Metrics) -> Metrics {
        Metrics {
            accuracy: -(1.0 - m.accuracy),
            latency_s: m.latency_s,
        }
    }

    /// Any-of, one more candidate: the probability that all so far and this one fail, mixed between
    /// independence (the product) and comonotonicity (the minimum) by `dep`.
    pub fn any_of_step(
        state: Metrics,
        m: Metrics,
        exec: ExecutionModel,
        dep: Dependence,
    ) -> Metrics {
        let (all, this) = (-state.accuracy, 1.0 - m.accuracy);
        let r = dep.any_of;
        Metrics {
            accuracy: -((1.0 - r) * (all * this) + r * all.min(this)),
            latency_s: parallel(state.latency_s, m.latency_s, exec),
        }
    }

    /// Any-of, done: success is one minus the probability that every candidate fails.
    pub fn any_of_finish(state: Metrics) -> Metrics {
        Metrics {
            accuracy: 1.0 - (-state.accuracy),
            latency_s: state.latency_s,
        }
    }

    /// Conditional, first branch taken with probability `w`.
    pub fn cond_start(w: f64, m: Metrics) -> Metrics {
        Metrics {
            accuracy: w * m.accuracy,
            latency_s: w * m.latency_s,
        }
    }

    /// Conditional, one more branch.
    pub fn cond_step(state: Metrics, w: f64, m: Metrics) -> Metrics {
        Metrics {
            accuracy: state.accuracy + w * m.accuracy,
            latency_s: state.latency_s + w * m.latency_s,
        }
    }

    /// Bounded retry: a first attempt (`body`), then up to `attempts` runs of `fixer`, stopping on
    /// success. Accuracy `1 - (1-p0) r^k`; latency `t0 + (1-p0) (1 + r + ... + r^(k-1)) tf`, the
    /// expected number of fixer runs times its latency, with `r = 1 - pf`.
    pub fn retry(body: Metrics, fixer: Metrics, attempts: u32) -> Metrics {
        let r = 1.0 - fixer.accuracy;
        let mut r_k = 1.0;
        let mut expected_runs = 0.0;
        for _ in 0..attempts {
            expected_runs += r_k;
            r_k *= r;
        }
        let fail = 1.0 - body.accuracy;
        Metrics {
            accuracy: 1.0 - fail * r_k,
            latency_s: body.latency_s + fail * expected_runs * fixer.latency_s,
        }
    }
}

/// Predicts the metrics of a concrete structure given each slot's metrics under its setting.
pub fn evaluate(
    expr: &Expr,
    slot: &dyn Fn(SlotId) -> Metrics,
    tools: &[Tool],
    exec: ExecutionModel,
    dep: Dependence,
) -> Metrics {
    let eval = |e: &Expr| evaluate(e, slot, tools, exec, dep);
    match expr {
        Expr::Call { slot: s, .. } => slot(*s),
        Expr::Tool(t) => Metrics {
            accuracy: 1.0,
            latency_s: tools[t.0 as usize].latency_s,
        },
        Expr::Seq(items) => match items.split_first() {
            None => fold::IDENTITY,
            Some((first, rest)) => rest.iter().fold(eval(first), |s, e| fold::seq(s, eval(e))),
        },
        Expr::AllOf(items) => match items.split_first() {
            None => fold::IDENTITY,
            Some((first, rest)) => rest
                .iter()
                .fold(eval(first), |s, e| fold::all_of(s, eval(e), exec)),
        },
        Expr::AnyOf(items) => match items.split_first() {
            None => fold::IDENTITY,
            Some((first, rest)) => {
                fold::any_of_finish(rest.iter().fold(fold::any_of_start(eval(first)), |s, e| {
                    fold::any_of_step(s, eval(e), exec, dep)
                }))
            }
        },
        Expr::Cond(arms) => match arms.split_first() {
            None => fold::IDENTITY,
            Some(((w, first), rest)) => rest
                .iter()
                .fold(fold::cond_start(*w, eval(first)), |s, (w, e)| {
                    fold::cond_step(s, *w, eval(e))
                }),
        },
        Expr::Retry {
            body,
            fixer,
            attempts,
        } => fold::retry(eval(body), eval(fixer), *attempts),
    }
}

#[cfg(test)]
mod tests;

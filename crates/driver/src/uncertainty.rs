//! 90% intervals of the frontier's predictions: a bootstrap over validation items.
//!
//! Profiling keys every call by the validation item its example came from
//! ([`flowcompile_pipeline::item_profiles`]). One resample draws as many items as there are, with
//! replacement ([`RESAMPLES`] times, from a fixed [`SEED`], so the same store gives the same
//! intervals bit for bit). Each item then weighs as often as it was drawn, and from the weighted
//! calls the resample measures again every (agent, model, budget) accuracy and latency the
//! frontier's points use, and the any-of dependence ([`FailurePairs`]). Each frontier point is
//! predicted again by the same proxy ([`flowcompile_proxy::evaluate`]) from them; its interval runs
//! from the resamples' 5th to their 95th percentile.
//!
//! A resample moves each setting's figures from the compile's own ones: its accuracy by the
//! resample's change (clamped into [0, 1]), its latency by the resample's ratio (so token-based
//! latency moves as the measured one does). All weights 1 gives back the compile's figures, so
//! the resamples spread around each point's prediction, and the interval is made to contain it.
//!
//! What the interval promises: it is for the point's *population* figure (what the proxy would
//! predict from profiles measured on unlimited items of the validation distribution). It carries
//! the profiles' sampling noise, not the proxy's own error (which `--verify` measures end to end
//! and [`widen`] adds) nor the noise of a later measurement's sample (`flowcompile test` adds its
//! own binomial noise before it counts coverage).
//!
//! A setting measured on fewer than [`MIN_ITEMS`] items is too thin to resample: the points using
//! it get no interval (omitted, never a NaN or a made-up width), with a warning naming the agent,
//! the setting and the count.

use std::collections::BTreeMap;

use flowcompile_artifact::{Artifact, IntervalMethod, Intervals, INTERVAL_LEVEL};
use flowcompile_ir::{DesignSpace, ExecutionModel, Workflow};
use flowcompile_pipeline::ItemProfiles;
use flowcompile_proxy::{evaluate, Dependence, Metrics};
use flowcompile_search::Frontier;
use flowcompile_validate::Validation;

use crate::dependence::FailurePairs;
use crate::Observer;

/// Bootstrap resamples per compile.
pub const RESAMPLES: u32 = 200;

/// Seed of the resampling.
pub const SEED: u64 = 11;

/// Fewest validation items a setting must have calls on for the points using it to get an interval.
pub const MIN_ITEMS: usize = 10;

/// The 90% intervals of one point: accuracy and latency, each `[lo, hi]` around the prediction.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PointIntervals {
    /// Accuracy interval, within [0, 1].
    pub accuracy: Option<[f64; 2]>,
    /// Latency interval, seconds, >= 0.
    pub latency_s: Option<[f64; 2]>,
}

/// What the bootstrap needs besides the frontier and the per-item profiles: the space and the
/// metrics the search composed, and how it composed them.
pub struct Proxy<'a> {
    /// The workflow compiled.
    pub wf: &'a Workflow,
    /// Its design space.
    pub space: &'a DesignSpace,
    /// Per slot, per setting of its agent: the metrics the search used.
    pub metrics: &'a [Vec<Metrics>],
    /// How parallel branches' latencies compose.
    pub execution: ExecutionModel,
    /// The pairs the any-of dependence was measured from and the dependence the search used;
    /// `None` for the independent proxy, which keeps it at 0 in every resample instead of
    /// measuring it again. A resample whose pairs have no room to measure it keeps the search's.
    pub dependence: Option<(&'a FailurePairs, Dependence)>,
}

/// One (agent, setting)'s calls by item: (item index, score sum, latency sum, calls).
pub(crate) type Cells = Vec<(usize, f64, f64, f64)>;

/// The intervals of every frontier point (in the frontier's order), and how they were made.
pub fn intervals(
    proxy: &Proxy,
    frontier: &Frontier,
    per_item: &ItemProfiles,
    observer: &dyn Observer,
) -> (Vec<PointIntervals>, Intervals) {
    let method = Intervals {
        level: INTERVAL_LEVEL,
        method: IntervalMethod::BootstrapItems,
        resamples: RESAMPLES,
        seed: SEED,
        verified_accuracy_rms: None,
        verified_latency_rel_rms: None,
    };
    let (wf, space) = (proxy.wf, proxy.space);
    // The (agent, setting) pairs the points use, with their calls by item.
    let mut cells: BTreeMap<(usize, usize), Cells> = BTreeMap::new();
    for p in &frontier.points {
        for &(slot, j) in &p.settings {
            let a = space.slots[slot.0 as usize].agent.0 as usize;
            cells.entry((a, j as usize)).or_insert_with(|| {
                per_item
                    .items
                    .values()
                    .enumerate()
                    .filter_map(|(item, per_agent)| {
                        let s = per_agent.get(a)?.get(j as usize).copied().flatten()?;
                        let n = f64::from(s.calls);
                        Some((item, s.accuracy * n, s.latency_s * n, n))
                    })
                    .collect()
            });
        }
    }
    let thin: Vec<(usize, usize)> = cells
        .iter()
        .filter(|(_, c)| c.len() < MIN_ITEMS)
        .map(|(k, _)| *k)
        .collect();
    let uses = |p: &flowcompile_search::Point, key: (usize, usize)| {
        p.settings
            .iter()
            .any(|&(slot, j)| (space.slots[slot.0 as usize].agent.0 as usize, j as usize) == key)
    };
    for &(a, j) in &thin {
        let setting = &wf.agents[a].settings[j];
        let n_points = frontier.points.iter().filter(|p| uses(p, (a, j))).count();
        observer.warn(&format!(
            "warning: agent '{}' at {}@{} has profiling calls on {} validation items, fewer than the {MIN_ITEMS} an interval needs: the {n_points} points using it have no interval",
            wf.agents[a].name,
            setting.model,
            setting.budget_tokens,
            cells[&(a, j)].len()
        ));
    }
    let eligible: Vec<usize> = (0..frontier.points.len())
        .filter(|&i| !thin.iter().any(|&k| uses(&frontier.points[i], k)))
        .collect();
    let mut out = vec![PointIntervals::default(); frontier.points.len()];
    if eligible.is_empty() {
        return (out, method);
    }
    let centre: BTreeMap<(usize, usize), (f64, f64)> = cells
        .iter()
        .map(|(k, c)| (*k, weighted(c, None).unwrap_or((0.0, 0.0))))
        .collect();
    let n_items = per_item.items.len();
    let mut rng = SplitMix(SEED);
    let mut samples: Vec<(Vec<f64>, Vec<f64>)> =
        vec![(Vec::new(), Vec::new()); frontier.points.len()];
    let mut weights = vec![0.0; n_items];
    for _ in 0..RESAMPLES {
        weights.iter_mut().for_each(|w| *w = 0.0);
        for _ in 0..n_items {
            weights[rng.below(n_items)] += 1.0;
        }
        let moved: BTreeMap<(usize, usize), (f64, f64)> = cells
            .iter()
            .map(|(k, c)| {
                let (acc, lat) = centre[k];
                let (acc_b, lat_b) = weighted(c, Some(&weights)).unwrap_or((acc, lat));
                let ratio = if lat > 0.0 { lat_b / lat } else { 1.0 };
                (*k, (acc_b - acc, ratio))
            })
            .collect();
        let dep = match proxy.dependence {
            None => Dependence::INDEPENDENT,
            Some((pairs, d)) => pairs.estimate(Some(&weights)).unwrap_or(d),
        };
        for &i in &eligible {
            let p = &frontier.points[i];
            let slot_metrics = |slot: flowcompile_ir::SlotId| {
                let j = p
                    .settings
                    .iter()
                    .find(|(s, _)| *s == slot)
                    .map_or(0, |(_, j)| *j as usize);
                let m = proxy.metrics[slot.0 as usize][j];
                let a = space.slots[slot.0 as usize].agent.0 as usize;
                let (shift, ratio) = moved[&(a, j)];
                Metrics {
                    accuracy: (m.accuracy + shift).clamp(0.0, 1.0),
                    latency_s: m.latency_s * ratio,
                }
            };
            let m = evaluate(
                &space.structures[p.structure].expr,
                &slot_metrics,
                &wf.tools,
                proxy.execution,
                dep,
            );
            samples[i].0.push(m.accuracy);
            samples[i].1.push(m.latency_s);
        }
    }
    for &i in &eligible {
        let p = &frontier.points[i].metrics;
        let (acc, lat) = &mut samples[i];
        out[i] = PointIntervals {
            accuracy: around(acc, p.accuracy).map(|[lo, hi]| [lo.max(0.0), hi.min(1.0)]),
            latency_s: around(lat, p.latency_s).map(|[lo, hi]| [lo.max(0.0), hi]),
        };
    }
    (out, method)
}

/// Replaces the accuracy interval of every point predicted item-wise ([`crate::itemwise`]:
/// `per_item[i]` holds point `i`'s per-item successes) by a bootstrap of the mean of those
/// successes over the items (the same resample count and seed), around the point's prediction. A
/// point that had no interval (a thin setting) keeps none. The interval is widened to at least the
/// Wilson score interval of the mean over that many items, so a point right (or wrong) on every
/// item still gets the width its item count leaves, not a bootstrap's zero. The voter's rates by
/// agreement are not resampled, so these intervals err narrow by their noise.
pub fn itemwise_accuracy(
    intervals: &mut [PointIntervals],
    frontier: &Frontier,
    per_item: &[Option<Vec<f64>>],
) {
    let mut rng = SplitMix(SEED);
    for ((interval, p), values) in intervals.iter_mut().zip(&frontier.points).zip(per_item) {
        let (Some(values), Some(_)) = (values, interval.accuracy) else {
            continue;
        };
        let n = values.len();
        let mut means: Vec<f64> = (0..RESAMPLES)
            .map(|_| (0..n).map(|_| values[rng.below(n)]).sum::<f64>() / n as f64)
            .collect();
        let [w_lo, w_hi] = wilson(p.metrics.accuracy, n);
        interval.accuracy = around(&mut means, p.metrics.accuracy)
            .map(|[lo, hi]| [lo.min(w_lo).max(0.0), hi.max(w_hi).min(1.0)]);
    }
}

/// The two-sided Wilson score interval at [`INTERVAL_LEVEL`] of a proportion `p` measured on `n`
/// items.
fn wilson(p: f64, n: usize) -> [f64; 2] {
    let n = n as f64;
    let z = flowcompile_select::normal_quantile(0.5 + INTERVAL_LEVEL / 2.0);
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    [centre - half, centre + half]
}

/// The weighted mean score and latency of one setting's calls (each item weighted by
/// `weights[item]`, all 1 without weights); `None` when no weighted call is left.
pub(crate) fn weighted(cells: &Cells, weights: Option<&[f64]>) -> Option<(f64, f64)> {
    let (mut score, mut latency, mut calls) = (0.0, 0.0, 0.0);
    for &(item, s, l, n) in cells {
        let w = weights.map_or(1.0, |w| w[item]);
        score += w * s;
        latency += w * l;
        calls += w * n;
    }
    (calls > 0.0).then(|| (score / calls, latency / calls))
}

/// The resamples' 5th and 95th percentiles, widened to contain `value`; `None` when a resample
/// or the value is not finite.
fn around(samples: &mut [f64], value: f64) -> Option<[f64; 2]> {
    if !value.is_finite() || samples.is_empty() || samples.iter().any(|x| !x.is_finite()) {
        return None;
    }
    samples.sort_by(f64::total_cmp);
    let tail = (1.0 - INTERVAL_LEVEL) / 2.0;
    let lo = quantile(samples, tail).min(value);
    let hi = quantile(samples, 1.0 - tail).max(value);
    Some([lo, hi])
}

/// The `q` quantile of sorted values, interpolating linearly between order statistics.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let at = (sorted.len() - 1) as f64 * q;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo as f64)
}

/// The splitmix64 generator: a fixed, portable sequence from a seed.
pub(crate) struct SplitMix(pub(crate) u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A draw from 0..n (n > 0), by the multiply-shift map of a 64-bit word.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

/// Widens the intervals of `artifact` by the error `compile --verify` measured end to end: the
/// root mean square of the verified points' accuracy residuals (measured minus predicted), and of
/// their relative latency residuals (measured over predicted, minus 1), each added in quadrature
/// to both sides of every interval at the interval's level (`z = 1.645` times the RMS; for latency,
/// times the point's predicted latency). The RMS includes the validation sample's own binomial
/// noise, so the widening errs wide. Records both in `proxy.intervals`; does nothing when the
/// artifact has no intervals or no verified point was measured.
pub fn widen(artifact: &mut Artifact, verified: &Validation) {
    let Some(intervals) = artifact.proxy.intervals.as_mut() else {
        return;
    };
    let rms = |residuals: Vec<f64>| {
        (!residuals.is_empty())
            .then(|| (residuals.iter().map(|r| r * r).sum::<f64>() / residuals.len() as f64).sqrt())
    };
    let acc = rms(verified
        .points
        .iter()
        .filter_map(|p| Some(p.measured.accuracy? - p.predicted.accuracy))
        .collect());
    let lat = rms(verified
        .points
        .iter()
        .filter(|p| p.predicted.latency_s > 0.0)
        .filter_map(|p| Some(p.measured.latency_s? / p.predicted.latency_s - 1.0))
        .collect());
    intervals.verified_accuracy_rms = acc;
    intervals.verified_latency_rel_rms = lat;
    let z = flowcompile_select::normal_quantile(0.5 + INTERVAL_LEVEL / 2.0);
    let grow = |value: f64, [lo, hi]: [f64; 2], extra: f64| {
        let side = |d: f64| (d * d + extra * extra).sqrt();
        [value - side(value - lo), value + side(hi - value)]
    };
    for p in &mut artifact.points {
        let pred = &mut p.predicted;
        if let (Some(rms), Some(i)) = (acc, pred.accuracy_interval) {
            let [lo, hi] = grow(pred.accuracy, i, z * rms);
            pred.accuracy_interval = Some([lo.max(0.0), hi.min(1.0)]);
        }
        if let (Some(rms), Some(i)) = (lat, pred.latency_interval_s) {
            let [lo, hi] = grow(pred.latency_s, i, z * rms * pred.latency_s);
            pred.latency_interval_s = Some([lo.max(0.0), hi]);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use flowcompile_pipeline::SettingStats;
    use flowcompile_search::{pareto, Problem};

    use super::*;

    /// Keeps the warnings.
    #[derive(Default)]
    struct Warnings(Mutex<Vec<String>>);

    impl flowcompile_pipeline::Progress for Warnings {
        fn begin(&self, _: &str, _: u64) {}
        fn advance(&self, _: u64) {}
        fn end(&self) {}
    }

    impl Observer for Warnings {
        fn note(&self, _: &str) {}
        fn warn(&self, line: &str) {
            self.0.lock().unwrap().push(line.to_string());
        }
    }

    /// The math workflow, per-item profiles of `n` items in which setting j of agent a succeeds
    /// on item i by a fixed pattern (stronger settings more often), and the metrics those give.
    fn setup(n: usize, measured: impl Fn(usize, usize, usize) -> bool) -> (Workflow, ItemProfiles) {
        let wf = crate::testing::math();
        let per_item = crate::testing::item_profiles(&wf, n, |a, j, i| {
            let hard = (i * 31 + a * 7) % 100;
            measured(a, j, i).then(|| SettingStats {
                accuracy: if hard < 40 + j { 1.0 } else { 0.0 },
                latency_s: 1.0 + j as f64 + (i % 3) as f64,
                calls: 1,
            })
        });
        (wf, per_item)
    }

    /// The intervals of the frontier the per-item means give, under the independent proxy.
    fn run(wf: &Workflow, per_item: &ItemProfiles) -> (Frontier, Vec<PointIntervals>, Vec<String>) {
        let space = wf.design_space().unwrap();
        let means: Vec<Vec<Metrics>> = (0..wf.agents.len())
            .map(|a| {
                (0..wf.agents[a].settings.len())
                    .map(|j| {
                        let cells: Vec<SettingStats> =
                            per_item.items.values().filter_map(|s| s[a][j]).collect();
                        let n = cells.len().max(1) as f64;
                        Metrics {
                            accuracy: cells.iter().map(|c| c.accuracy).sum::<f64>() / n,
                            latency_s: cells.iter().map(|c| c.latency_s).sum::<f64>() / n,
                        }
                    })
                    .collect()
            })
            .collect();
        let metrics: Vec<Vec<Metrics>> = space
            .slots
            .iter()
            .map(|s| means[s.agent.0 as usize].clone())
            .collect();
        let frontier = pareto(&Problem::new(
            &space,
            &wf.tools,
            &metrics,
            ExecutionModel::Parallel,
        ));
        let proxy = Proxy {
            wf,
            space: &space,
            metrics: &metrics,
            execution: ExecutionModel::Parallel,
            dependence: None,
        };
        let warnings = Warnings::default();
        let (out, method) = intervals(&proxy, &frontier, per_item, &warnings);
        assert_eq!(
            (method.resamples, method.level),
            (RESAMPLES, INTERVAL_LEVEL)
        );
        (frontier, out, warnings.0.into_inner().unwrap())
    }

    #[test]
    fn every_point_gets_an_interval_around_its_prediction() {
        let (wf, per_item) = setup(60, |_, _, _| true);
        let (frontier, out, warnings) = run(&wf, &per_item);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(frontier.points.len() > 3);
        let mut wide = 0;
        for (p, i) in frontier.points.iter().zip(&out) {
            let [lo, hi] = i.accuracy.unwrap();
            assert!(0.0 <= lo && lo <= p.metrics.accuracy && p.metrics.accuracy <= hi && hi <= 1.0);
            let [lo_t, hi_t] = i.latency_s.unwrap();
            assert!(0.0 <= lo_t && lo_t <= p.metrics.latency_s && p.metrics.latency_s <= hi_t);
            wide += usize::from(hi - lo > 0.02);
        }
        // 60 items leave real sampling noise: most intervals are a few points wide.
        assert!(wide * 2 > out.len(), "{wide} of {}", out.len());
        // Deterministic: the same inputs give the same intervals.
        assert_eq!(run(&wf, &per_item).1, out);
    }

    #[test]
    fn a_thin_setting_warns_and_its_points_get_no_interval() {
        let (wf, full) = setup(60, |_, _, _| true);
        let space = wf.design_space().unwrap();
        let agent_of = |s: flowcompile_ir::SlotId| space.slots[s.0 as usize].agent.0 as usize;
        let (frontier, _, _) = run(&wf, &full);
        // A setting the frontier uses, measured on 4 items only; the first that stays on it.
        let used: Vec<(usize, usize)> = frontier
            .points
            .iter()
            .flat_map(|p| p.settings.iter().map(|&(s, j)| (agent_of(s), j as usize)))
            .collect();
        let mut checked = false;
        for (a0, j0) in used {
            let (_, per_item) = setup(60, |a, j, i| !(a == a0 && j == j0 && i >= 4));
            let (frontier, out, warnings) = run(&wf, &per_item);
            let uses = |p: &flowcompile_search::Point| {
                p.settings
                    .iter()
                    .any(|&(s, j)| (agent_of(s), j as usize) == (a0, j0))
            };
            let n_using = frontier.points.iter().filter(|p| uses(p)).count();
            if n_using == 0 {
                continue;
            }
            let thin = &wf.agents[a0].settings[j0];
            assert_eq!(
                warnings,
                [format!(
                    "warning: agent '{}' at {}@{} has profiling calls on 4 validation items, fewer than the 10 an interval needs: the {n_using} points using it have no interval",
                    wf.agents[a0].name, thin.model, thin.budget_tokens
                )]
            );
            for (p, i) in frontier.points.iter().zip(&out) {
                assert_eq!(i.accuracy.is_none(), uses(p));
                assert_eq!(i.latency_s.is_none(), uses(p));
            }
            checked = true;
            break;
        }
        assert!(checked, "no thinned setting stayed on the frontier");
    }

    #[test]
    fn splitmix_draws_are_fixed_and_in_range() {
        let mut a = SplitMix(SEED);
        let mut b = SplitMix(SEED);
        let draws: Vec<usize> = (0..1000).map(|_| a.below(7)).collect();
        assert!(draws.iter().all(|&d| d < 7));
        assert_eq!(draws, (0..1000).map(|_| b.below(7)).collect::<Vec<_>>());
        // Every value turns up, each near 1/7 of the time.
        for v in 0..7 {
            let n = draws.iter().filter(|&&d| d == v).count();
            assert!((100..190).contains(&n), "{v}: {n}");
        }
    }

    #[test]
    fn percentiles_contain_the_value() {
        let mut xs: Vec<f64> = (0..=100).rev().map(f64::from).collect();
        let near = |got: Option<[f64; 2]>, want: [f64; 2]| {
            let [lo, hi] = got.unwrap();
            assert!(
                (lo - want[0]).abs() < 1e-9 && (hi - want[1]).abs() < 1e-9,
                "{lo} {hi}"
            );
        };
        near(around(&mut xs, 50.0), [5.0, 95.0]);
        near(around(&mut xs, 99.0), [5.0, 99.0]);
        near(around(&mut xs, 1.0), [1.0, 95.0]);
        let mut bad = vec![1.0, f64::NAN];
        assert_eq!(around(&mut bad, 1.0), None);
        assert_eq!(around(&mut [], 1.0), None);
    }

    #[test]
    fn weighted_means_count_items_by_weight() {
        let cells: Cells = vec![(0, 2.0, 4.0, 2.0), (1, 0.0, 6.0, 1.0)];
        assert_eq!(weighted(&cells, None), Some((2.0 / 3.0, 10.0 / 3.0)));
        assert_eq!(weighted(&cells, Some(&[0.0, 3.0])), Some((0.0, 6.0)));
        assert_eq!(weighted(&cells, Some(&[0.0, 0.0])), None);
    }
}

//! Selection optimism: how much the frontier's item-wise accuracies overstate what its points
//! measure on new items, because the search picked them on the items they are predicted from.
//!
//! Among many configurations, the one that did best on the validation items did best partly by
//! chance, so its mean over those same items is biased up (the winner's curse): the more settings
//! compete for a point and the fewer the items, the more. The correction is the optimism bootstrap
//! (Efron 1983; Harrell, Lee and Mark 1996), with the whole selection as the fitted model:
//! 1. Draw as many validation items as there are, with replacement ([`RESAMPLES`] times, from a
//!    fixed [`SEED`]: the same store gives the same correction, bit for bit).
//! 2. Select again on the resample: every (agent, setting)'s accuracy and latency and the any-of
//!    dependence measured from the resampled items' calls (as [`crate::uncertainty`] does), the
//!    exact search, then the item-wise re-prediction ([`ItemModel`]) under the resample's weights,
//!    keeping the points whose accuracy rises with latency.
//! 3. For each point of the shipped frontier, the resample's pick at its latency is the most
//!    accurate point of the resample's frontier no slower than it: what a user with that latency
//!    budget would deploy had the validation items been the resample. The pick's accuracy on the
//!    resample less its accuracy on the original items is what selection added.
//!
//! A point's optimism is the mean over the resamples that had a pick at its latency; it is
//! subtracted from the point's accuracy (clamped into [0, 1]), and the per-item successes its
//! interval is bootstrapped from move with it. Points that then match or fall below a faster point
//! leave the frontier. Only points predicted item-wise are corrected; a point that kept its scalar
//! prediction keeps it.

use std::collections::{BTreeMap, HashMap};

use flowcompile_ir::SlotId;
use flowcompile_pipeline::ItemProfiles;
use flowcompile_proxy::{evaluate, Dependence, Metrics};
use flowcompile_search::{pareto, Frontier, Point, Problem};

use crate::itemwise::{keep_rising, Agreement, ItemModel};
use crate::uncertainty::{weighted, Cells, Proxy, SplitMix};

/// Resamples of the selection per compile.
pub const RESAMPLES: u32 = 60;

/// Seed of the resampling.
pub const SEED: u64 = 23;

/// What selecting again needs: the proxy the search composed with, and the per-item profiles and
/// the voters' agreement the item-wise pass read.
pub struct Selection<'a> {
    /// The workflow, space and metrics the search used, and how it composed them.
    pub proxy: &'a Proxy<'a>,
    /// The profiling calls by validation item.
    pub items: &'a ItemProfiles,
    /// How the voters' profiled inputs agreed.
    pub agreement: &'a Agreement,
}

/// What the correction did.
#[derive(Clone, Debug, PartialEq)]
pub struct Corrected {
    /// Per point kept (in the frontier's new order): the accuracy subtracted, `None` for a point
    /// not corrected.
    pub optimism: Vec<Option<f64>>,
    /// How many points left the frontier once corrected.
    pub n_dropped: usize,
}

/// Subtracts each item-wise point's selection optimism (see the module docs) from its accuracy
/// and from its per-item successes (`per_item`, aligned with `frontier.points`), then drops the
/// points another faster point now matches or beats.
pub fn correct(
    sel: &Selection,
    frontier: &mut Frontier,
    per_item: &mut Vec<Option<Vec<f64>>>,
) -> Corrected {
    let sums = optimism_sums(sel, frontier, per_item);
    let points = std::mem::take(&mut frontier.points);
    let values = std::mem::take(per_item);
    let before = points.len();
    let scored = points
        .into_iter()
        .zip(values)
        .zip(sums)
        .map(|((mut p, values), (sum, n))| {
            let shift = (n > 0 && values.is_some()).then(|| sum / n as f64);
            let values = match (values, shift) {
                (Some(v), Some(d)) => {
                    let corrected = (p.metrics.accuracy - d).clamp(0.0, 1.0);
                    let moved = corrected - p.metrics.accuracy;
                    p.metrics.accuracy = corrected;
                    Some(v.into_iter().map(|x| x + moved).collect())
                }
                (v, _) => v,
            };
            (p, (values, shift))
        });
    let mut kept = Vec::new();
    keep_rising(&mut frontier.points, &mut kept, scored);
    let (values, optimism): (Vec<_>, Vec<_>) = kept.into_iter().unzip();
    *per_item = values;
    Corrected {
        n_dropped: before - frontier.points.len(),
        optimism,
    }
}

/// Per frontier point: the sum of its resamples' optimism and how many resamples had a pick at
/// its latency (0 for a point not predicted item-wise).
fn optimism_sums(
    sel: &Selection,
    frontier: &Frontier,
    per_item: &[Option<Vec<f64>>],
) -> Vec<(f64, usize)> {
    let mut sums = vec![(0.0, 0usize); frontier.points.len()];
    if per_item.iter().all(Option::is_none) {
        return sums;
    }
    let (wf, space) = (sel.proxy.wf, sel.proxy.space);
    let cells: BTreeMap<(usize, usize), Cells> = space
        .slots
        .iter()
        .flat_map(|s| {
            let a = s.agent.0 as usize;
            (0..wf.agents[a].settings.len()).map(move |j| (a, j))
        })
        .map(|(a, j)| {
            let cell = sel
                .items
                .items
                .values()
                .enumerate()
                .filter_map(|(item, per_agent)| {
                    let s = per_agent.get(a)?.get(j).copied().flatten()?;
                    let n = f64::from(s.calls);
                    Some((item, s.accuracy * n, s.latency_s * n, n))
                })
                .collect();
            ((a, j), cell)
        })
        .collect();
    let centre: BTreeMap<(usize, usize), Option<(f64, f64)>> =
        cells.iter().map(|(k, c)| (*k, weighted(c, None))).collect();
    let original = ItemModel::new(wf, space, sel.items, sel.agreement, None);
    let search_dep = sel
        .proxy
        .dependence
        .map_or(Dependence::INDEPENDENT, |(_, d)| d);
    // A point's accuracy on the original items: item-wise where it can be, else the scalar proxy's.
    let mut on_original: HashMap<(usize, Vec<(SlotId, u32)>), f64> = HashMap::new();
    let mut original_accuracy = |p: &Point| {
        *on_original
            .entry((p.structure, p.settings.clone()))
            .or_insert_with(|| {
                original
                    .accuracy(p, None)
                    .unwrap_or_else(|| scalar(sel, sel.proxy.metrics, p, search_dep).accuracy)
            })
    };
    let n_items = sel.items.items.len();
    let mut rng = SplitMix(SEED);
    let mut weights = vec![0.0; n_items];
    for _ in 0..RESAMPLES {
        weights.iter_mut().for_each(|w| *w = 0.0);
        for _ in 0..n_items {
            weights[rng.below(n_items)] += 1.0;
        }
        let metrics: Vec<Vec<Metrics>> = space
            .slots
            .iter()
            .zip(sel.proxy.metrics)
            .map(|(slot, ms)| {
                let a = slot.agent.0 as usize;
                ms.iter()
                    .enumerate()
                    .map(|(j, m)| {
                        let (Some((acc, lat)), Some((acc_b, lat_b))) =
                            (centre[&(a, j)], weighted(&cells[&(a, j)], Some(&weights)))
                        else {
                            return *m;
                        };
                        Metrics {
                            accuracy: (m.accuracy + acc_b - acc).clamp(0.0, 1.0),
                            latency_s: if lat > 0.0 {
                                m.latency_s * lat_b / lat
                            } else {
                                m.latency_s
                            },
                        }
                    })
                    .collect()
            })
            .collect();
        let dep = match sel.proxy.dependence {
            None => Dependence::INDEPENDENT,
            Some((pairs, d)) => pairs.estimate(Some(&weights)).unwrap_or(d),
        };
        let problem =
            Problem::new(space, &wf.tools, &metrics, sel.proxy.execution).with_dependence(dep);
        let resampled = ItemModel::new(wf, space, sel.items, sel.agreement, Some(&weights));
        // The resample's frontier as it would ship: (latency, accuracy on the resample, on the
        // original items), fastest first, accuracy rising.
        let mut picks: Vec<(f64, f64, f64)> = Vec::new();
        let mut best = f64::NEG_INFINITY;
        for p in pareto(&problem).points {
            let apparent = resampled
                .accuracy(&p, Some(&weights))
                .unwrap_or(p.metrics.accuracy);
            if apparent > best {
                best = apparent;
                picks.push((p.metrics.latency_s, apparent, original_accuracy(&p)));
            }
        }
        for ((q, values), sum) in frontier.points.iter().zip(per_item).zip(&mut sums) {
            if values.is_none() {
                continue;
            }
            if let Some(&(_, apparent, truth)) =
                picks.iter().rev().find(|(l, ..)| *l <= q.metrics.latency_s)
            {
                sum.0 += apparent - truth;
                sum.1 += 1;
            }
        }
    }
    sums
}

/// The scalar proxy's prediction of `p` from `metrics`.
fn scalar(sel: &Selection, metrics: &[Vec<Metrics>], p: &Point, dep: Dependence) -> Metrics {
    let slot_metrics = |slot: SlotId| {
        let j = p
            .settings
            .iter()
            .find(|(s, _)| *s == slot)
            .map_or(0, |(_, j)| *j as usize);
        metrics[slot.0 as usize][j]
    };
    evaluate(
        &sel.proxy.space.structures[p.structure].expr,
        &slot_metrics,
        &sel.proxy.wf.tools,
        sel.proxy.execution,
        dep,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowcompile_ir::{ExecutionModel, Workflow};
    use flowcompile_pipeline::SettingStats;

    /// One solver on `n_models` models, as fast as each other, on 40 items.
    fn workflow(n_models: usize) -> Workflow {
        let models: Vec<String> = (0..n_models).map(|m| format!("\"m{m}\"")).collect();
        let text = format!(
            r#"
name = "s"
[task]
fields = ["q"]
answer = "a"
scorer = "exact_match"
[space]
models = [{}]
budgets = [0]
[agents.solver]
prompt = "{{{{ q }}}}"
[graph]
root = "solvers"
[graph.nodes.solvers]
repeat = "solver"
count = 1
"#,
            models.join(", ")
        );
        flowcompile_spec::parse(&text, "s.toml").unwrap()
    }

    /// Every model right on each item with probability 0.5, independently (a fixed pseudo-random
    /// draw): the models are equally good, and the best of them on these items is best by chance.
    fn coin_flips(wf: &Workflow, n_items: usize) -> ItemProfiles {
        let mut rng = SplitMix(5);
        let n_models = wf.agents[0].settings.len();
        let items = (0..n_items)
            .map(|i| {
                let row = (0..n_models)
                    .map(|_| {
                        Some(SettingStats {
                            accuracy: f64::from(u8::from(rng.below(2) == 1)),
                            latency_s: 1.0,
                            calls: 1,
                        })
                    })
                    .collect();
                (format!("i{i:03}"), vec![row])
            })
            .collect();
        ItemProfiles {
            agents: vec!["solver".into()],
            items,
        }
    }

    /// Compiles the way `compile` does: metrics from the items, search, item-wise, correction.
    fn corrected(n_models: usize) -> (f64, f64, Corrected) {
        let wf = workflow(n_models);
        let space = wf.design_space().unwrap();
        let items = coin_flips(&wf, 40);
        let agreement = Agreement::default();
        let metrics: Vec<Vec<Metrics>> = vec![(0..n_models)
            .map(|j| {
                let right: f64 = items
                    .items
                    .values()
                    .map(|row| row[0][j].unwrap().accuracy)
                    .sum();
                Metrics {
                    accuracy: right / items.items.len() as f64,
                    latency_s: 1.0,
                }
            })
            .collect()];
        let problem = Problem::new(&space, &wf.tools, &metrics, ExecutionModel::Parallel);
        let mut frontier = pareto(&problem);
        let mut r = crate::itemwise::repredict(&wf, &space, &mut frontier, &items, &agreement);
        assert_eq!(frontier.points.len(), 1);
        let apparent = frontier.points[0].metrics.accuracy;
        let proxy = Proxy {
            wf: &wf,
            space: &space,
            metrics: &metrics,
            execution: ExecutionModel::Parallel,
            dependence: None,
        };
        let sel = Selection {
            proxy: &proxy,
            items: &items,
            agreement: &agreement,
        };
        let c = correct(&sel, &mut frontier, &mut r.per_item);
        let after = frontier.points[0].metrics.accuracy;
        let values = r.per_item[0].as_ref().unwrap();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        assert!(
            (mean - after).abs() < 1e-12,
            "per-item successes move with the point"
        );
        (apparent, after, c)
    }

    /// The best of twelve equal models looks better than 0.5 on the items it was picked on; the
    /// correction brings it most of the way back.
    #[test]
    fn the_best_of_many_equal_models_is_lowered_towards_what_they_all_are() {
        let (apparent, after, c) = corrected(12);
        assert!(apparent > 0.6, "the winner's curse: {apparent}");
        let d = c.optimism[0].unwrap();
        assert!(d > 0.03, "optimism {d}");
        assert!((apparent - d - after).abs() < 1e-12);
        assert!(
            (after - 0.5).abs() < (apparent - 0.5).abs() / 2.0,
            "{apparent} -> {after}"
        );
    }

    /// With one model there is nothing to pick among: the correction is noise around 0.
    #[test]
    fn a_single_choice_is_not_corrected_beyond_noise() {
        let (apparent, after, c) = corrected(1);
        assert!(c.optimism[0].unwrap().abs() < 0.02, "{c:?}");
        assert!((apparent - after).abs() < 0.02);
    }
}

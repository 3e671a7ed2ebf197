//! The dependence of any-of candidates' failures, estimated from the profiling calls of the agents
//! whose output is an answer ([`answers_to_gold`]), grouped by validation item.

use std::collections::BTreeMap;

use flowcompile_ir::Workflow;
use flowcompile_pipeline::{answers_to_gold, ItemProfiles};
use flowcompile_proxy::{CoFailure, Dependence};

/// Fewest items two settings must share for their co-failures to count.
const MIN_SHARED_ITEMS: usize = 10;

/// The pairs of (answer agent, setting) columns measured on at least [`MIN_SHARED_ITEMS`] shared
/// items, kept so that their pooled dependence ([`Dependence::estimate`]) can be made with the
/// items weighted (a bootstrap resample of the validation items) as well as plainly.
///
/// Columns measured on the same items (profiling samples the same items for every agent, so
/// usually all of them) form one group, whose pairs are pooled at once
/// ([`CoFailure::add_all_pairs`]); pairs across groups are pooled one by one over their shared
/// items.
pub struct FailurePairs {
    /// Per group: its items (indices into `ItemProfiles::items`) and each column's failure rates
    /// on them.
    groups: Vec<(Vec<usize>, Vec<Vec<f64>>)>,
    /// Pairs of columns of different groups: their shared items' (item index, failure rate under
    /// the first column, under the second).
    across: Vec<Vec<(usize, f64, f64)>>,
}

impl FailurePairs {
    /// The columns of `profiles`' answer agents, grouped, and the pairs across groups.
    pub fn new(wf: &Workflow, profiles: &ItemProfiles) -> FailurePairs {
        // One column per (answer agent, setting): item index -> failure rate on it.
        let mut columns: Vec<BTreeMap<usize, f64>> = Vec::new();
        for (a, name) in profiles.agents.iter().enumerate() {
            let Some(i) = wf.agents.iter().position(|x| &x.name == name) else {
                continue;
            };
            if !answers_to_gold(wf, i) {
                continue;
            }
            for j in 0..wf.agents[i].settings.len() {
                let column: BTreeMap<usize, f64> = profiles
                    .items
                    .values()
                    .enumerate()
                    .filter_map(|(item, per_agent)| {
                        let stats = per_agent.get(a)?.get(j).copied().flatten()?;
                        Some((item, 1.0 - stats.accuracy))
                    })
                    .collect();
                if column.len() >= MIN_SHARED_ITEMS {
                    columns.push(column);
                }
            }
        }
        let mut by_items: BTreeMap<Vec<usize>, Vec<usize>> = BTreeMap::new();
        for (c, column) in columns.iter().enumerate() {
            by_items
                .entry(column.keys().copied().collect())
                .or_default()
                .push(c);
        }
        let members: Vec<Vec<usize>> = by_items.values().cloned().collect();
        let groups = by_items
            .into_iter()
            .map(|(items, cs)| {
                let rates = cs
                    .iter()
                    .map(|&c| columns[c].values().copied().collect())
                    .collect();
                (items, rates)
            })
            .collect();
        let mut across = Vec::new();
        for g in 0..members.len() {
            for h in g + 1..members.len() {
                for &x in &members[g] {
                    for &y in &members[h] {
                        let shared: Vec<(usize, f64, f64)> = columns[x]
                            .iter()
                            .filter_map(|(item, fa)| {
                                columns[y].get(item).map(|fb| (*item, *fa, *fb))
                            })
                            .collect();
                        if shared.len() >= MIN_SHARED_ITEMS {
                            across.push(shared);
                        }
                    }
                }
            }
        }
        FailurePairs { groups, across }
    }

    /// The pooled dependence, each item weighted by `weights[item]` (all 1 without weights);
    /// `None` when there is no pair or no pair has room to differ from independence.
    pub fn estimate(&self, weights: Option<&[f64]>) -> Option<Dependence> {
        let weight = |item: usize| weights.map_or(1.0, |w| w[item]);
        let mut sums = CoFailure::default();
        for (items, rates) in &self.groups {
            let w: Vec<f64> = items.iter().map(|&i| weight(i)).collect();
            sums.add_all_pairs(rates, &w);
        }
        for pair in &self.across {
            sums.add_pair(pair.iter().map(|&(i, a, b)| (a, b, weight(i))));
        }
        sums.dependence()
    }
}

#[cfg(test)]
mod tests {
    use flowcompile_pipeline::SettingStats;

    use super::*;

    use crate::testing::{item_profiles, math};

    /// Per-item profiles where every answer agent's setting fails on item i when `fails(agent,
    /// setting, i)`; `skip(setting, i)` leaves a cell unmeasured.
    fn profiles(
        wf: &Workflow,
        n: usize,
        fails: impl Fn(usize, usize, usize) -> bool,
        skip: impl Fn(usize, usize) -> bool,
    ) -> ItemProfiles {
        item_profiles(wf, n, |a, j, i| {
            (!skip(j, i)).then(|| SettingStats {
                accuracy: if fails(a, j, i) { 0.0 } else { 1.0 },
                latency_s: 1.0,
                calls: 1,
            })
        })
    }

    /// The estimate pair by pair, as `Dependence::estimate` pools it.
    fn pairwise(wf: &Workflow, p: &ItemProfiles) -> Option<Dependence> {
        let mut columns: Vec<BTreeMap<&str, f64>> = Vec::new();
        for (a, _) in wf.agents.iter().enumerate() {
            if !answers_to_gold(wf, a) {
                continue;
            }
            for j in 0..wf.agents[a].settings.len() {
                let c: BTreeMap<&str, f64> = p
                    .items
                    .iter()
                    .filter_map(|(id, s)| Some((id.as_str(), 1.0 - s[a][j]?.accuracy)))
                    .collect();
                if c.len() >= MIN_SHARED_ITEMS {
                    columns.push(c);
                }
            }
        }
        let mut pairs = Vec::new();
        for x in 0..columns.len() {
            for y in x + 1..columns.len() {
                let (a, b): (Vec<f64>, Vec<f64>) = columns[x]
                    .iter()
                    .filter_map(|(i, fa)| columns[y].get(i).map(|fb| (*fa, *fb)))
                    .unzip();
                if a.len() >= MIN_SHARED_ITEMS {
                    pairs.push((a, b));
                }
            }
        }
        Dependence::estimate(pairs)
    }

    #[test]
    fn grouped_pooling_equals_pair_by_pair_pooling() {
        let wf = math();
        // Failures shared through an item difficulty, plus setting-specific ones; odd settings
        // skip some items, so there are groups and pairs across them.
        let fails = |a: usize, j: usize, i: usize| {
            (i * 7 + j) % 11 < 3 + (a + j) % 4 || i.is_multiple_of(5)
        };
        let skip = |j: usize, i: usize| j % 2 == 1 && i.is_multiple_of(9);
        let p = profiles(&wf, 40, fails, skip);
        let pairs = FailurePairs::new(&wf, &p);
        assert!(pairs.groups.len() >= 2 && !pairs.across.is_empty());
        let grouped = pairs.estimate(None).unwrap().any_of;
        let plain = pairwise(&wf, &p).unwrap().any_of;
        assert!((grouped - plain).abs() < 1e-9, "{grouped} vs {plain}");
        assert!(grouped > 0.0 && grouped < 1.0, "{grouped}");
        // Weights of 1 are no weights; other weights move the estimate.
        let ones = vec![1.0; 40];
        assert_eq!(pairs.estimate(Some(&ones)), pairs.estimate(None));
        let w: Vec<f64> = (0..40).map(|i| (i % 3) as f64).collect();
        assert_ne!(pairs.estimate(Some(&w)), pairs.estimate(None));
    }
}

//! The dependence of any-of candidates' failures, estimated from the profiling calls of the agents
//! whose output is an answer ([`answers_to_gold`]), grouped by validation item.

use std::collections::BTreeMap;

use flowcompile_ir::Workflow;
use flowcompile_pipeline::{answers_to_gold, ItemProfiles};
use flowcompile_proxy::Dependence;

/// Fewest items two settings must share for their co-failures to count.
const MIN_SHARED_ITEMS: usize = 10;

/// Pools every pair of (answer agent, setting) columns measured on at least [`MIN_SHARED_ITEMS`]
/// shared items into one dependence ([`Dependence::estimate`]); `None` when there is no such pair
/// or no pair has room to differ from independence.
pub fn estimate(wf: &Workflow, profiles: &ItemProfiles) -> Option<Dependence> {
    // One column per (answer agent, setting): item -> failure rate on it.
    let mut columns: Vec<BTreeMap<&str, f64>> = Vec::new();
    for (a, name) in profiles.agents.iter().enumerate() {
        let Some(i) = wf.agents.iter().position(|x| &x.name == name) else {
            continue;
        };
        if !answers_to_gold(wf, i) {
            continue;
        }
        let n_settings = wf.agents[i].settings.len();
        for j in 0..n_settings {
            let column: BTreeMap<&str, f64> = profiles
                .items
                .iter()
                .filter_map(|(item, per_agent)| {
                    let stats = per_agent.get(a)?.get(j).copied().flatten()?;
                    Some((item.as_str(), 1.0 - stats.accuracy))
                })
                .collect();
            if column.len() >= MIN_SHARED_ITEMS {
                columns.push(column);
            }
        }
    }
    let pairs = (0..columns.len()).flat_map(|x| (x + 1..columns.len()).map(move |y| (x, y)));
    let aligned = pairs.filter_map(|(x, y)| {
        let (a, b): (Vec<f64>, Vec<f64>) = columns[x]
            .iter()
            .filter_map(|(item, fa)| columns[y].get(item).map(|fb| (*fa, *fb)))
            .unzip();
        (a.len() >= MIN_SHARED_ITEMS).then_some((a, b))
    });
    Dependence::estimate(aligned)
}

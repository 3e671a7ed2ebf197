//! Per-query profiles: the profiling calls of each agent, grouped by the validation item their
//! induced example came from, summarised per (model, budget). The KNN router re-composes the
//! frontier from the profiles of a query's nearest validation items.
//!
//! A profiling call's `input_id` is `{item_id}#{site}.{sample}` (see data induction), so an item's
//! calls are those whose input id, cut at its last `#`, is the item's id.

use std::collections::{BTreeMap, HashMap};

use flowcompile_ir::Workflow;
use flowcompile_store::{Store, StoreError};
use serde::{Deserialize, Serialize};

/// The mean score and latency of one agent's successful calls under one setting on one item.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SettingStats {
    /// Mean score in [0, 1] (the profiling scorer against the reference output).
    pub accuracy: f64,
    /// Mean latency, seconds (the server's modelled latency when it reports one, as profiling stores).
    pub latency_s: f64,
    /// Successful calls averaged.
    pub calls: u32,
}

/// Per validation item, per agent (workflow order), per setting (the agent's settings order): the
/// stats of that item's calls, `None` where the item has no successful call for the setting.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemProfiles {
    /// Agent names, in workflow order.
    pub agents: Vec<String>,
    /// Item id -> `[agent][setting]` stats, items in id order.
    pub items: BTreeMap<String, Vec<Vec<Option<SettingStats>>>>,
}

impl ItemProfiles {
    /// The item an input id `{item_id}#{site}.{sample}` belongs to (the whole id when it has no `#`).
    pub fn item_of(input_id: &str) -> &str {
        input_id.rsplit_once('#').map_or(input_id, |(item, _)| item)
    }
}

/// Reads the per-item profiles of `wf`'s agents from `store`, for the prompt keys the agents'
/// calls are stored under (`prompt_keys[i]` for `wf.agents[i]`, as profiling reports them in
/// `AgentProfile::prompt_key`).
///
/// Only successful, scored calls count; failed calls are left out (never scored as wrong). Calls of
/// settings the workflow no longer allows are ignored. An item appears when at least one agent has a
/// call on it.
pub fn item_profiles(
    store: &Store,
    wf: &Workflow,
    prompt_keys: &[String],
) -> Result<ItemProfiles, StoreError> {
    // Per item, per agent, per setting: score sum, latency sum, calls.
    type Sums = Vec<Vec<(f64, f64, u32)>>;
    let mut sums: BTreeMap<String, Sums> = BTreeMap::new();
    let shape: Vec<usize> = wf.agents.iter().map(|a| a.settings.len()).collect();
    for (i, (agent, key)) in wf.agents.iter().zip(prompt_keys).enumerate() {
        let index: HashMap<(&str, u32), usize> = agent
            .settings
            .iter()
            .enumerate()
            .map(|(j, s)| ((s.model.as_str(), s.budget_tokens), j))
            .collect();
        for row in store.call_rows(&agent.name, key)? {
            let (None, Some(score), Some(&j)) = (
                &row.error,
                row.score,
                index.get(&(row.model.as_str(), row.budget_tokens)),
            ) else {
                continue;
            };
            let item = sums
                .entry(ItemProfiles::item_of(&row.input_id).to_string())
                .or_insert_with(|| shape.iter().map(|&n| vec![(0.0, 0.0, 0); n]).collect());
            let cell = &mut item[i][j];
            cell.0 += score;
            cell.1 += row.latency_s;
            cell.2 += 1;
        }
    }
    let items = sums
        .into_iter()
        .map(|(id, per_agent)| {
            let stats = per_agent
                .into_iter()
                .map(|settings| {
                    settings
                        .into_iter()
                        .map(|(score, latency, n)| {
                            (n > 0).then(|| SettingStats {
                                accuracy: score / f64::from(n),
                                latency_s: latency / f64::from(n),
                                calls: n,
                            })
                        })
                        .collect()
                })
                .collect();
            (id, stats)
        })
        .collect();
    Ok(ItemProfiles {
        agents: wf.agents.iter().map(|a| a.name.clone()).collect(),
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowcompile_ir::{Agent, Setting};
    use flowcompile_store::CallRow;

    fn call(agent: &str, model: &str, input: &str, sample: u32, score: Option<f64>) -> CallRow {
        CallRow {
            agent: agent.into(),
            prompt_key: "k".into(),
            model: model.into(),
            budget_tokens: 10,
            input_id: input.into(),
            sample,
            output: String::new(),
            score,
            latency_s: 1.0 + f64::from(sample),
            prompt_tokens: 1,
            completion_tokens: 1,
            reasoning_tokens: None,
            error: score.is_none().then(|| "boom".to_string()),
        }
    }

    #[test]
    fn calls_group_by_item_agent_and_setting() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("s.sqlite")).unwrap();
        store
            .record_calls(&[
                call("a", "m1", "q#1#0.0", 0, Some(1.0)),
                call("a", "m1", "q#1#1.0", 1, Some(0.0)),
                call("a", "m2", "q#1#0.0", 0, None),
                call("a", "gone", "q#1#0.0", 0, Some(1.0)),
                call("b", "m1", "r#0.0", 0, Some(1.0)),
            ])
            .unwrap();
        let wf = Workflow::new(
            "w",
            vec![
                Agent::new("a", vec![Setting::new("m1", 10), Setting::new("m2", 10)]),
                Agent::new("b", vec![Setting::new("m1", 10)]),
            ],
        );
        let p = item_profiles(&store, &wf, &["k".into(), "k".into()]).unwrap();
        assert_eq!(p.agents, ["a", "b"]);
        assert_eq!(p.items.keys().collect::<Vec<_>>(), ["q#1", "r"]);
        let q = &p.items["q#1"];
        assert_eq!(
            q[0][0],
            Some(SettingStats {
                accuracy: 0.5,
                latency_s: 1.5,
                calls: 2
            })
        );
        assert_eq!(q[0][1], None, "a failed call is not a measurement");
        assert_eq!(q[1][0], None);
        assert_eq!(p.items["r"][1][0].map(|s| s.calls), Some(1));
        let other_key = item_profiles(&store, &wf, &["x".into(), "x".into()]).unwrap();
        assert!(other_key.items.is_empty());
    }
}

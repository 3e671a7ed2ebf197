//! Fixtures shared by the driver's unit tests.

use flowcompile_ir::Workflow;
use flowcompile_pipeline::{ItemProfiles, SettingStats};

/// The math example workflow.
pub fn math() -> Workflow {
    flowcompile_spec::parse(
        include_str!("../../../examples/math/workflow.toml"),
        "math.toml",
    )
    .unwrap()
}

/// Per-item profiles of `n` items (ids `item000`...) for every agent and setting of `wf`:
/// `cell(agent, setting, item)` gives each cell, `None` for an unmeasured one.
pub fn item_profiles(
    wf: &Workflow,
    n: usize,
    cell: impl Fn(usize, usize, usize) -> Option<SettingStats>,
) -> ItemProfiles {
    let items = (0..n)
        .map(|i| {
            let per_agent = wf
                .agents
                .iter()
                .enumerate()
                .map(|(a, agent)| (0..agent.settings.len()).map(|j| cell(a, j, i)).collect())
                .collect();
            (format!("item{i:03}"), per_agent)
        })
        .collect();
    ItemProfiles {
        agents: wf.agents.iter().map(|a| a.name.clone()).collect(),
        items,
    }
}

//! Every configuration of a design space, in canonical order.

use flowcompile_ir::{DesignSpace, SlotId, Workflow};
use flowcompile_runner::Config;

use crate::TruthError;

/// The number of configurations of `space`, or [`TruthError::TooManyConfigs`] when it exceeds `max`.
pub fn count_within(space: &DesignSpace, max: u64) -> Result<usize, TruthError> {
    let n = space.n_configs();
    match n.exact().and_then(|n| u64::try_from(n).ok()) {
        Some(n) if n <= max => Ok(n as usize),
        _ => Err(TruthError::TooManyConfigs {
            count: n.to_string(),
            max,
        }),
    }
}

/// Every configuration of `space`: structures in canonical order, then, within a structure, the
/// settings of its slots as an odometer (the first slot varies slowest, settings in file order).
pub fn configurations(wf: &Workflow, space: &DesignSpace) -> Vec<Config> {
    let mut out = Vec::new();
    for (index, structure) in space.structures.iter().enumerate() {
        let sizes: Vec<usize> = structure
            .slots
            .iter()
            .map(|s| space.settings_per_slot[s.0 as usize])
            .collect();
        if sizes.contains(&0) {
            continue;
        }
        let mut digits = vec![0usize; sizes.len()];
        loop {
            let mut settings = vec![None; space.slots.len()];
            for (slot, &d) in structure.slots.iter().zip(&digits) {
                let agent = space.slots[slot.0 as usize].agent;
                settings[slot.0 as usize] = Some(wf.agent(agent).settings[d].clone());
            }
            out.push(Config {
                structure: index,
                settings,
            });
            let Some(pos) = (0..digits.len()).rev().find(|&k| digits[k] + 1 < sizes[k]) else {
                break;
            };
            digits[pos] += 1;
            digits[pos + 1..].iter_mut().for_each(|d| *d = 0);
        }
    }
    out
}

/// `slot=model@budget` for each slot the configuration sets, in slot order.
pub fn describe(config: &Config, space: &DesignSpace) -> String {
    space.structures[config.structure]
        .slots
        .iter()
        .filter_map(|s: &SlotId| {
            config
                .setting(*s)
                .map(|set| format!("{}={set}", space.slots[s.0 as usize].name))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowcompile_ir::{Agent, AgentId, Count, NodeKind, Setting};

    fn wf() -> Workflow {
        let settings = vec![
            Setting::new("a", 1),
            Setting::new("a", 2),
            Setting::new("b", 1),
        ];
        let mut wf = Workflow::new(
            "w",
            vec![
                Agent::new("gen", settings.clone()),
                Agent::new("fmt", settings[..2].to_vec()),
            ],
        );
        let gen = wf.add_node("gen", NodeKind::Agent(AgentId(0)));
        let gens = wf.add_node(
            "gens",
            NodeKind::Repeat {
                body: gen,
                count: Count::new(1, 2),
            },
        );
        let fmt = wf.add_node("fmt", NodeKind::Agent(AgentId(1)));
        let opt = wf.add_node("opt", NodeKind::Optional(fmt));
        wf.root = wf.add_node("root", NodeKind::Seq(vec![gens, opt]));
        wf
    }

    #[test]
    fn enumerates_every_configuration_once_in_canonical_order() {
        let wf = wf();
        let space = wf.design_space().unwrap();
        let configs = configurations(&wf, &space);
        assert_eq!(configs.len() as u128, space.n_configs().exact().unwrap());
        assert_eq!(configs.len(), 3 + 6 + 3 + 6);
        for (i, a) in configs.iter().enumerate() {
            assert!(configs[i + 1..].iter().all(|b| b != a));
            for slot in &space.structures[a.structure].slots {
                assert!(a.setting(*slot).is_some());
            }
        }
        assert!(configs.windows(2).all(|w| w[0].structure <= w[1].structure));
        let with_fmt = configs
            .iter()
            .find(|c| space.structures[c.structure].slots.len() == 2)
            .unwrap();
        assert_eq!(describe(with_fmt, &space), "gen=a@1 fmt=a@1");
        let next = &configs[configs.iter().position(|c| c == with_fmt).unwrap() + 1];
        assert_eq!(describe(next, &space), "gen=a@1 fmt=a@2");
    }

    #[test]
    fn the_limit_is_checked_before_anything_runs() {
        let wf = wf();
        let space = wf.design_space().unwrap();
        assert_eq!(count_within(&space, 18).unwrap(), 18);
        let err = count_within(&space, 17).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the space has 18 configurations, more than the limit of 17; narrow it (fewer models or budgets) or raise the limit"
        );
    }
}

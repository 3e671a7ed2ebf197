//! Uniform baselines: the largest structure with every agent on one (model, budget), predicted by
//! the same proxy the artifact was compiled with. This is what a practitioner runs without a
//! compiler ("everything on the big model"); the frontier should dominate every one of them.

use flowcompile_ir::{DesignSpace, SlotId, Workflow};
use flowcompile_profile::{Metrics, Resolved};
use flowcompile_proxy::{evaluate, Dependence, ExecutionModel};

/// One uniform configuration and its prediction.
#[derive(Clone, Debug, PartialEq)]
pub struct Baseline {
    /// The model every agent runs.
    pub model: String,
    /// The budget every agent runs with.
    pub budget_tokens: u32,
    /// The structure index (the largest structure).
    pub structure: usize,
    /// Predicted accuracy and latency.
    pub predicted: Metrics,
}

/// Every setting allowed for all slots of the largest structure, in the first slot's agent's
/// settings order, each evaluated with the proxy.
pub fn uniform_baselines(
    wf: &Workflow,
    space: &DesignSpace,
    resolved: &Resolved,
    exec: ExecutionModel,
    dep: Dependence,
) -> Vec<Baseline> {
    let structure = space.largest_structure();
    let s = &space.structures[structure];
    let agents: Vec<_> = s
        .slots
        .iter()
        .map(|slot| space.slots[slot.0 as usize].agent)
        .collect();
    let Some(first) = agents.first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for setting in &wf.agent(*first).settings {
        // Index of this setting in each slot's agent, if every agent allows it.
        let per_slot: Option<Vec<usize>> = agents
            .iter()
            .map(|a| wf.agent(*a).settings.iter().position(|x| x == setting))
            .collect();
        let Some(per_slot) = per_slot else { continue };
        let metric_of = |slot: SlotId| {
            let k = s
                .slots
                .iter()
                .position(|x| *x == slot)
                .expect("the structure calls the slot");
            resolved.metrics(agents[k])[per_slot[k]]
        };
        let predicted = evaluate(&s.expr, &metric_of, &wf.tools, exec, dep);
        out.push(Baseline {
            model: setting.model.clone(),
            budget_tokens: setting.budget_tokens,
            structure,
            predicted,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowcompile_profile::{parse_profiles, resolve, Format, LatencyModel};

    const WORKFLOW: &str = r#"
name = "two"
[task]
fields = ["q"]
answer = "a"
scorer = "exact_match"
[space]
models = ["small", "big"]
budgets = [10, 100]
[agents.solver]
prompt = "{{ q }}"
[agents.checker]
prompt = "{{ q }}"
models = ["big"]
[graph]
root = "flow"
[graph.nodes.flow]
seq = ["solver", "maybe_check"]
[graph.nodes.maybe_check]
optional = "checker"
"#;

    const PROFILES: &str =
        "agent,model,budget,accuracy,samples,latency_s,input_tokens,output_tokens
solver,small,10,0.5,10,1,1,1
solver,small,100,0.6,10,2,1,1
solver,big,10,0.7,10,3,1,1
solver,big,100,0.8,10,4,1,1
checker,big,10,0.9,10,0.5,1,1
checker,big,100,0.95,10,1,1,1
";

    #[test]
    fn baselines_use_the_largest_structure_and_shared_settings_only() {
        let wf = flowcompile_spec::parse(WORKFLOW, "two.toml").unwrap();
        let space = wf.design_space().unwrap();
        let table = parse_profiles(PROFILES, "p.csv", Format::Csv).unwrap();
        let resolved = resolve(&wf, &table, &[], LatencyModel::Measured).unwrap();
        assert_eq!(space.largest_structure(), 1);
        let b = uniform_baselines(
            &wf,
            &space,
            &resolved,
            ExecutionModel::Parallel,
            Dependence::INDEPENDENT,
        );
        // The checker only runs "big", so only the big settings are uniform.
        let names: Vec<_> = b
            .iter()
            .map(|b| format!("{}@{}", b.model, b.budget_tokens))
            .collect();
        assert_eq!(names, ["big@10", "big@100"]);
        assert_eq!(b[0].predicted.accuracy, 0.7 * 0.9);
        assert_eq!(b[0].predicted.latency_s, 3.0 + 0.5);
        assert_eq!(b[1].predicted.accuracy, 0.8 * 0.95);
    }
}

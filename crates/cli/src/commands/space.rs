//! `flowcompile space`: the design space of a workflow.

use serde_json::json;

use crate::cli::SpaceArgs;
use crate::exit::Failure;

pub fn run(args: SpaceArgs) -> Result<(), Failure> {
    let wf = flowcompile_driver::load::workflow(&args.workflow)?.workflow;
    let space = wf
        .design_space()
        .map_err(|e| Failure::Input(anyhow::anyhow!("{}: {e}", args.workflow.display())))?;
    let knobs = |s: &flowcompile_ir::Structure| -> Vec<(String, u32)> {
        s.knobs
            .iter()
            .map(|k| (wf.node(k.node).name.clone(), k.value))
            .collect()
    };
    if args.json {
        let structures: Vec<_> = space
            .structures
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let slots: Vec<&str> = s.slots.iter().map(|x| space.slots[x.0 as usize].name.as_str()).collect();
                json!({"index": i, "knobs": knobs(s).into_iter().collect::<indexmap::IndexMap<_, _>>(), "slots": slots})
            })
            .collect();
        let slots: Vec<_> = space
            .slots
            .iter()
            .zip(&space.settings_per_slot)
            .map(|(s, n)| json!({"name": s.name, "agent": wf.agent(s.agent).name, "settings": n}))
            .collect();
        return super::print_json(&json!({
            "workflow": wf.name,
            "n_structures": space.structures.len(),
            "n_configs": space.n_configs().exact().map(|n| n.to_string()).unwrap_or_else(|| space.n_configs().to_string()),
            "slots": slots,
            "structures": structures,
        }));
    }
    println!("workflow      {}", wf.name);
    println!("structures    {}", space.structures.len());
    println!("configurations {}", space.n_configs());
    println!("settings per slot:");
    for (slot, n) in space.slots.iter().zip(&space.settings_per_slot) {
        println!("  {:<24} {n}", slot.name);
    }
    if args.structures {
        println!("structures:");
        for (i, s) in space.structures.iter().enumerate() {
            let k: Vec<String> = knobs(s)
                .into_iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect();
            let slots: Vec<&str> = s
                .slots
                .iter()
                .map(|x| space.slots[x.0 as usize].name.as_str())
                .collect();
            println!("  s{i:<4} [{}]  calls {}", k.join(" "), slots.join(", "));
        }
    }
    Ok(())
}

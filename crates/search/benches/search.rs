//! Search speed on the paper's example spaces and a synthetic 30-agent graph.
//!
//! Run with `cargo bench -p flowcompile-search`. Prints, per space, the median time of the exact
//! search over many runs, the brute-force enumeration of the same space measured in this run where it
//! is feasible, and the ratio to the research prototype's numpy enumeration as the issue measured it
//! on this kind of machine (12 ms hotpotqa, 23 ms code, 268 ms math, 0.84 s hotpotqa unpruned).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use flowcompile_ir::{Agent, AgentId, DesignSpace, NodeKind, Setting, Workflow};
use flowcompile_profile::{parse_profiles, resolve, Format, LatencyModel};
use flowcompile_proxy::{ExecutionModel, Metrics};
use flowcompile_search::{brute_force, pareto, Problem};

fn example(name: &str) -> (Workflow, DesignSpace, Vec<Vec<Metrics>>) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    let text = std::fs::read_to_string(dir.join("workflow.toml")).unwrap();
    let wf = flowcompile_spec::parse(&text, name).unwrap();
    let profiles = std::fs::read_to_string(dir.join("profiles.csv")).unwrap();
    let table = parse_profiles(&profiles, "profiles.csv", Format::Csv).unwrap();
    let resolved = resolve(&wf, &table, &[], LatencyModel::Measured).unwrap();
    let space = wf.design_space().unwrap();
    let metrics = space
        .slots
        .iter()
        .map(|s| resolved.metrics(s.agent).to_vec())
        .collect();
    (wf, space, metrics)
}

/// Six stages in sequence, each a vote over four solvers (one of them optional when `knobs`): 30
/// agents, 64 structures (1 without knobs), 80 settings per agent.
fn synthetic30(knobs: bool) -> (Workflow, DesignSpace, Vec<Vec<Metrics>>) {
    let settings: Vec<Setting> = (0..80)
        .map(|i| Setting::new(format!("m{}", i / 16), i % 16))
        .collect();
    let mut wf = Workflow::new("synthetic30", Vec::new());
    let mut stages = Vec::new();
    for stage in 0..6 {
        let mut solvers = Vec::new();
        for k in 0..4 {
            wf.agents
                .push(Agent::new(format!("s{stage}_{k}"), settings.clone()));
            let call = wf.add_node("call", NodeKind::Agent(AgentId(wf.agents.len() as u32 - 1)));
            solvers.push(if knobs && k == 3 {
                wf.add_node("opt", NodeKind::Optional(call))
            } else {
                call
            });
        }
        let over = wf.add_node("cands", NodeKind::AnyOf(solvers));
        wf.agents
            .push(Agent::new(format!("vote{stage}"), settings.clone()));
        let ensemble = wf.add_node("vote", NodeKind::Agent(AgentId(wf.agents.len() as u32 - 1)));
        stages.push(wf.add_node(
            "stage",
            NodeKind::Vote {
                ensemble,
                over,
                min_inputs: 2,
            },
        ));
    }
    wf.root = wf.add_node("root", NodeKind::Seq(stages));
    let space = wf.design_space().unwrap();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let metrics = space
        .slots
        .iter()
        .map(|_| {
            (0..80)
                .map(|i| {
                    let (model, budget) = ((i / 16) as f64, (i % 16) as f64);
                    let accuracy =
                        (0.3 + 0.12 * model + 0.02 * budget.sqrt() + 0.05 * next()).min(0.99);
                    let latency_s = (1.0 + model) * (0.5 + 0.1 * budget) * (0.9 + 0.2 * next());
                    Metrics {
                        accuracy: (accuracy * 100.0).round() / 100.0,
                        latency_s,
                    }
                })
                .collect()
        })
        .collect();
    (wf, space, metrics)
}

/// Median wall time of `f` over enough runs to fill about `budget`.
fn time(budget: Duration, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    f();
    let once = start.elapsed().max(Duration::from_nanos(1));
    let runs = (budget.as_secs_f64() / once.as_secs_f64()).clamp(3.0, 2000.0) as usize;
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    samples.sort();
    samples[runs / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.4} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // `cargo bench -p flowcompile-search -- math` runs only the spaces whose name contains a filter.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    println!(
        "{:<18} {:>14} {:>10} {:>10} {:>14} {:>16} {:>12} {:>12}",
        "space",
        "configs",
        "pruned",
        "frontier",
        "exact search",
        "brute force",
        "vs brute",
        "vs numpy"
    );
    let spaces = [
        ("hotpotqa", Some(12.0)),
        ("code", Some(23.0)),
        ("math", Some(268.0)),
        ("synthetic30-fixed", None),
        ("synthetic30-knobs", None),
    ];
    for (name, numpy_ms) in spaces {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let (wf, space, metrics) = match name {
            "synthetic30-fixed" => synthetic30(false),
            "synthetic30-knobs" => synthetic30(true),
            _ => example(name),
        };
        let problem = Problem::new(&space, &wf.tools, &metrics, ExecutionModel::Sequential);
        let frontier = pareto(&problem);
        let fast = time(Duration::from_secs(2), || {
            black_box(pareto(black_box(&problem)));
        });
        let n_configs = space.n_configs();
        let brute = (n_configs.as_f64() <= 2e6).then(|| {
            let slow = brute_force(&problem);
            assert_eq!(
                slow, frontier.points,
                "{name}: search differs from brute force"
            );
            time(Duration::from_secs(3), || {
                black_box(brute_force(black_box(&problem)));
            })
        });
        let pruned = space.n_configs_with(&frontier.kept_per_slot);
        println!(
            "{:<18} {:>14} {:>10} {:>10} {:>14} {:>16} {:>12} {:>12}",
            name,
            n_configs.to_string(),
            pruned.to_string(),
            frontier.points.len(),
            ms(fast),
            brute.map(ms).unwrap_or_else(|| "infeasible".into()),
            brute
                .map(|b| format!("{:.0}x", b.as_secs_f64() / fast.as_secs_f64()))
                .unwrap_or_else(|| "-".into()),
            numpy_ms
                .map(|n| format!("{:.0}x", n / 1e3 / fast.as_secs_f64()))
                .unwrap_or_else(|| "-".into()),
        );
        if name == "hotpotqa" {
            println!(
                "{:<12} whole unpruned space: exact search {} vs numpy 840 ms: {:.0}x",
                "",
                ms(fast),
                0.84 / fast.as_secs_f64()
            );
        }
    }
}

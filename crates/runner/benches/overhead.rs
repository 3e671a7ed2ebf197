//! Executor overhead: wall time of a workflow run minus the time its model calls take on the critical
//! path, against the zoo server on loopback at time_scale 0.
//!
//! Run with `cargo bench -p flowcompile-runner`. The math workflow's structure with a detailed solver,
//! two generators and the vote (no Python tool, so only model calls are on the path): the detailed
//! solver and the generators run in parallel, then the vote. Overhead = run wall time - (slowest
//! candidate call + vote call). Prints p50, p99 and max over the runs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use flowcompile_client::{Client, Providers};
use flowcompile_ir::Setting;
use flowcompile_runner::{Config, Runner};
use flowcompile_testsupport::ZooServer;
use flowcompile_zoo::http::ZooServeOptions;
use flowcompile_zoo::{TaskSet, Zoo, ZooConfig};

const RUNS: usize = 400;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let spec = std::fs::read_to_string(root.join("examples/math/workflow.toml")).unwrap();
    let wf = flowcompile_spec::parse(&spec, "math").unwrap();
    let data = std::fs::read_to_string(root.join("examples/data/gsm8k_validate.jsonl")).unwrap();
    let items: Vec<serde_json::Value> = data
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let zoo = Zoo::new(ZooConfig::default(), vec![TaskSet::from_jsonl("gsm8k_validate.jsonl", &data).unwrap()]).unwrap();
        let server = ZooServer::start(Arc::new(zoo), ZooServeOptions::default()).await;
        let url = server.base_url();
        let providers = Providers::from_toml_str(
            &format!("[models.\"qwen3-8b\"]\nbase_url = \"{url}\"\nmodel = \"zoo-8b\"\nbudget = \"max_tokens\"\nmax_tokens = 64\n"),
            "providers.toml",
        )
        .unwrap();
        let runner = Runner::new(wf.clone(), Client::new(providers).unwrap()).unwrap();
        let space = runner.space();
        let names = |i: usize| -> Vec<&str> { space.structures[i].slots.iter().map(|s| space.slots[s.0 as usize].name.as_str()).collect() };
        let structure = (0..space.structures.len())
            .find(|&i| {
                names(i) == ["detailed_solver", "generate_solver", "sc_ensemble"]
                    && space.structures[i].knobs.iter().any(|k| wf.node(k.node).name == "generators" && k.value == 2)
            })
            .expect("the detailed + 2 generators + vote structure");
        let config = Config::uniform(space, structure, &Setting::new("qwen3-8b", 0)).unwrap();
        let mut overheads = Vec::with_capacity(RUNS);
        for i in 0..RUNS {
            let item = &items[i % items.len()];
            let started = Instant::now();
            let result = runner.run(&config, item).await;
            let wall = started.elapsed().as_secs_f64();
            assert!(result.answer.is_ok(), "{:?}", result.answer);
            let (candidates, vote): (Vec<_>, Vec<_>) = result.calls.iter().partition(|c| c.agent != "sc_ensemble");
            let slowest = candidates.iter().map(|c| c.latency_s).fold(0.0, f64::max);
            let path = slowest + vote.iter().map(|c| c.latency_s).sum::<f64>();
            overheads.push((wall - path).max(0.0));
        }
        overheads.sort_by(f64::total_cmp);
        let q = |p: f64| overheads[((overheads.len() - 1) as f64 * p) as usize] * 1e3;
        println!("executor overhead over {RUNS} runs of math (detailed + 2 generators + vote), zoo at time_scale 0:");
        println!("  p50 {:.3} ms   p99 {:.3} ms   max {:.3} ms   (target: p99 < 1 ms)", q(0.5), q(0.99), q(1.0));
    });
}

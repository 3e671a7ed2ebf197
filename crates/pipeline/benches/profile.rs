//! Profiling throughput: calls per second against the zoo server on loopback at time_scale 0,
//! where only the configured concurrency limits the rate (no model time, so what is measured is
//! the client, executor, scorer and store).
//!
//! Run with `cargo bench -p flowcompile-pipeline`. The math workflow restricted to 2 models x 3
//! budgets, induced once on 40 GSM8K items; then a fresh store is profiled at each concurrency
//! (5 agents x 6 settings x 100 calls = 3,000 calls per run) and the calls/s printed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use flowcompile_client::{Client, Providers};
use flowcompile_pipeline::{keys, InduceOptions, Pipeline, ProfileOptions, Silent};
use flowcompile_runner::{Config, Runner};
use flowcompile_testsupport::ZooServer;
use flowcompile_zoo::http::ZooServeOptions;
use flowcompile_zoo::{TaskSet, Zoo, ZooConfig};

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let spec = std::fs::read_to_string(root.join("examples/math/workflow.toml"))
        .unwrap()
        .lines()
        .map(|l| match l {
            l if l.starts_with("models = ") => {
                "models = [\"qwen3-0.6b\", \"qwen3-8b\"]".to_string()
            }
            l if l.starts_with("budgets = ") => "budgets = [10, 1000, 4000]".to_string(),
            l => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let wf = flowcompile_spec::parse(&spec, "math").unwrap();
    let data = std::fs::read_to_string(root.join("examples/data/gsm8k_validate.jsonl")).unwrap();
    let items: Vec<serde_json::Value> = data
        .lines()
        .take(40)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let dir =
        std::env::temp_dir().join(format!("flowcompile-profile-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let zoo = Zoo::new(
            ZooConfig::default(),
            vec![TaskSet::from_jsonl("gsm8k_validate.jsonl", &data).unwrap()],
        )
        .unwrap();
        let server = ZooServer::start(Arc::new(zoo), ZooServeOptions::default()).await;
        let url = server.base_url();
        println!("profiling throughput, math (2 models x 3 budgets, 3,000 calls per run), zoo on loopback at time_scale 0:");
        for concurrency in [16usize, 64, 256] {
            let providers = Providers::from_toml_str(
                &format!(
                    "[defaults]\nbase_url = \"{url}\"\nbudget = \"forcing\"\nchat_template = \"qwen3\"\nconcurrency = {concurrency}\n\
                     [models.\"qwen3-0.6b\"]\nmodel = \"zoo-0.6b\"\n[models.\"qwen3-8b\"]\nmodel = \"zoo-8b\"\n"
                ),
                "providers.toml",
            )
            .unwrap();
            let runner = Runner::new(wf.clone(), Client::new(providers.clone()).unwrap()).unwrap();
            let space = runner.space();
            let reference = Config::uniform(
                space,
                space.structures.len() - 1,
                &flowcompile_ir::Setting::new("qwen3-8b", 4000),
            )
            .unwrap();
            let key = keys::induction_key(&wf, &data, "bench", &["qwen3-8b".into()], None, 0.5, &providers);
            let store = dir.join(format!("c{concurrency}.sqlite"));
            let pipeline = Pipeline::new(runner, &store);
            let opts = InduceOptions {
                reference,
                reference_text: "bench".into(),
                min_score: 0.5,
                judge: None,
                judge_budget: 0,
                concurrency,
            };
            pipeline.induce(&items, &key, &opts, &Silent).await.unwrap();
            let popts = ProfileOptions {
                calls_per_setting: 100,
                concurrency,
                adaptive: None,
            };
            let started = Instant::now();
            let report = pipeline.profile(&key, &popts, &Silent).await.unwrap();
            let secs = started.elapsed().as_secs_f64();
            let calls: usize = report.agents.iter().map(|a| a.calls_run_now).sum();
            assert_eq!(calls, 3000);
            println!(
                "  concurrency {concurrency:>4}: {calls} calls in {secs:.2} s = {:>6.0} calls/s",
                calls as f64 / secs
            );
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
}

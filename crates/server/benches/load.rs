//! Serving overhead and load: `flowcompile serve`'s server in front of the zoo server, both in this
//! process on loopback, the zoo at time_scale 0.
//!
//! Run with `cargo bench -p flowcompile-server --bench load`. The served point is the math workflow's
//! structure with a detailed solver, two generators and the vote (no Python tool, so only model calls
//! are on the path), every slot on qwen3-8b (the zoo's zoo-8b, 64 answer tokens at most).
//!
//! 1. Overhead: 1,000 sequential requests (after 100 to warm up) asking for the trace. Overhead over
//!    the model calls = the client's wall time of the HTTP request, to the last byte of the reply,
//!    minus the slowest candidate call and the vote call (their wall times as the runner measured
//!    them); "serve only" = client wall minus the runner's wall time. A `GET /health` round trip is
//!    the baseline of one HTTP hop.
//! 2. Load: 10,000 requests at concurrency 256 (after 500 to warm up) from a reqwest load generator in
//!    the same process; prints requests/s, latency percentiles and the number of errors.
//!
//! Both run twice: on a current-thread tokio runtime (every task on one thread: the cost of the
//! serving path itself) and on the multi-thread runtime `flowcompile serve` uses (tasks hop between
//! the worker threads; on a machine busier than its cores, a hop waits for the OS to run the other
//! thread, which shows in the tail). The figures are wall times and depend on what else runs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use flowcompile_artifact::Artifact;
use flowcompile_client::{Client, Providers};
use flowcompile_ir::Workflow;
use flowcompile_server::{serve_workflows, ServedWorkflow, WorkflowServeOptions};
use flowcompile_testsupport::{Loopback, ZooServer};
use flowcompile_zoo::http::ZooServeOptions;
use flowcompile_zoo::{TaskSet, Zoo, ZooConfig};
use futures::StreamExt;
use serde_json::{json, Value};

const OVERHEAD_RUNS: usize = 1000;
const OVERHEAD_WARMUP: usize = 100;
const LOAD_REQUESTS: usize = 10_000;
const WARMUP_REQUESTS: usize = 500;
const CONCURRENCY: usize = 256;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let spec = std::fs::read_to_string(root.join("examples/math/workflow.toml")).unwrap();
    let wf = flowcompile_spec::parse(&spec, "math").unwrap();
    let data = std::fs::read_to_string(root.join("examples/data/gsm8k_validate.jsonl")).unwrap();
    let problems: Vec<String> = data
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["problem"].as_str().unwrap().to_string()
        })
        .collect();
    let space = wf.design_space().unwrap();
    let structure = (0..space.structures.len())
        .find(|&i| {
            let s = &space.structures[i];
            let names: Vec<&str> = s
                .slots
                .iter()
                .map(|id| space.slots[id.0 as usize].name.as_str())
                .collect();
            names == ["detailed_solver", "generate_solver", "sc_ensemble"]
                && s.knobs
                    .iter()
                    .any(|k| wf.node(k.node).name == "generators" && k.value == 2)
        })
        .expect("the detailed + 2 generators + vote structure");
    let setting = json!({"model": "qwen3-8b", "budget": 0});
    let artifact: Artifact = serde_json::from_value(json!({
        "format": "flowcompile.artifact.v1",
        "workflow": "math",
        "provenance": {"tool": "flowcompile", "tool_version": "bench", "models_label": "zoo (synthetic)"},
        "proxy": {"execution": "parallel", "latency": "measured"},
        "points": [{
            "id": "p0",
            "structure": {"index": structure, "knobs": {}},
            "settings": {"detailed_solver": setting, "generate_solver": setting, "sc_ensemble": setting},
            "predicted": {"accuracy": 0.9, "latency_s": 3.0},
        }],
    }))
    .unwrap();

    for multi_thread in [false, true] {
        let mut builder = match multi_thread {
            false => tokio::runtime::Builder::new_current_thread(),
            true => tokio::runtime::Builder::new_multi_thread(),
        };
        let runtime = builder.enable_all().build().unwrap();
        println!(
            "== {} tokio runtime (the load generator, serve and the zoo share it) ==",
            if multi_thread {
                "multi-thread"
            } else {
                "current-thread"
            }
        );
        runtime.block_on(measure(&wf, &data, &problems, artifact.clone()));
    }
}

/// Starts the zoo and the server on the current runtime, then measures the overhead and the load.
async fn measure(wf: &Workflow, data: &str, problems: &[String], artifact: Artifact) {
    {
        let zoo = Zoo::new(
            ZooConfig::default(),
            vec![TaskSet::from_jsonl("gsm8k_validate.jsonl", data).unwrap()],
        )
        .unwrap();
        let zoo_server = ZooServer::start(Arc::new(zoo), ZooServeOptions::default()).await;
        let zoo_url = zoo_server.base_url();
        let providers = Providers::from_toml_str(
            &format!("[models.\"qwen3-8b\"]\nbase_url = \"{zoo_url}\"\nmodel = \"zoo-8b\"\nbudget = \"max_tokens\"\nmax_tokens = 64\nconcurrency = 1024\n"),
            "providers.toml",
        )
        .unwrap();
        let served =
            ServedWorkflow::new(wf.clone(), artifact, Client::new(providers).unwrap()).unwrap();
        let server = Loopback::serve(move |listener, shutdown| {
            serve_workflows(
                listener,
                vec![served],
                WorkflowServeOptions::default(),
                shutdown.wait(),
            )
        })
        .await;
        let url = format!("{}/v1/chat/completions", server.origin());
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(CONCURRENCY)
            .build()
            .unwrap();
        let body = |i: usize, trace: bool| {
            json!({
                "model": "math@p0",
                "messages": [{"role": "user", "content": problems[i % problems.len()]}],
                "flowcompile_trace": trace,
            })
        };

        for i in 0..OVERHEAD_WARMUP {
            let resp = http.post(&url).json(&body(i, true)).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            resp.bytes().await.unwrap();
        }
        let health = url.replace("/v1/chat/completions", "/health");
        let mut round_trips = Vec::with_capacity(OVERHEAD_RUNS);
        for _ in 0..OVERHEAD_RUNS {
            let started = Instant::now();
            let resp = http.get(&health).send().await.unwrap();
            resp.bytes().await.unwrap();
            round_trips.push(started.elapsed().as_secs_f64());
        }
        round_trips.sort_by(f64::total_cmp);
        println!(
            "  baseline GET /health round trip: p50 {:.3} ms   p99 {:.3} ms   over 1 ms: {}",
            percentile(&round_trips, 0.5) * 1e3,
            percentile(&round_trips, 0.99) * 1e3,
            round_trips.iter().filter(|&&t| t > 1e-3).count()
        );
        let mut over_calls = Vec::with_capacity(OVERHEAD_RUNS);
        let mut serve_only = Vec::with_capacity(OVERHEAD_RUNS);
        for i in 0..OVERHEAD_RUNS {
            let started = Instant::now();
            let resp = http.post(&url).json(&body(i, true)).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            let bytes = resp.bytes().await.unwrap();
            let wall = started.elapsed().as_secs_f64();
            let reply: Value = serde_json::from_slice(&bytes).unwrap();
            let info = &reply["flowcompile"];
            let calls = info["trace"]["calls"].as_array().unwrap();
            assert_eq!(calls.len(), 4);
            let latency = |c: &&Value| c["latency_s"].as_f64().unwrap();
            let (vote, candidates): (Vec<&Value>, Vec<&Value>) =
                calls.iter().partition(|c| c["agent"] == "sc_ensemble");
            let path = candidates.iter().map(latency).fold(0.0, f64::max)
                + vote.iter().map(latency).sum::<f64>();
            over_calls.push((wall - path).max(0.0));
            serve_only.push((wall - info["measured"]["latency_s"].as_f64().unwrap()).max(0.0));
        }
        for v in [&mut over_calls, &mut serve_only] {
            v.sort_by(f64::total_cmp);
        }
        let ms = |v: &[f64], p: f64| percentile(v, p) * 1e3;
        println!(
            "serve overhead over {OVERHEAD_RUNS} sequential requests of math (detailed + 2 generators + vote on zoo-8b), zoo at time_scale 0:"
        );
        println!(
            "  over the model calls (client wall - critical path of calls): p50 {:.3} ms   p99 {:.3} ms   max {:.3} ms   (target: p99 < 1 ms)",
            ms(&over_calls, 0.5),
            ms(&over_calls, 0.99),
            ms(&over_calls, 1.0)
        );
        println!(
            "  serve only (client wall - the runner's wall):                p50 {:.3} ms   p99 {:.3} ms   max {:.3} ms",
            ms(&serve_only, 0.5),
            ms(&serve_only, 0.99),
            ms(&serve_only, 1.0)
        );
        println!(
            "  runs with overhead over 1 ms: {} of {OVERHEAD_RUNS}",
            over_calls.iter().filter(|&&t| t > 1e-3).count()
        );

        let run = |n: usize, offset: usize| {
            let http = http.clone();
            let url = url.clone();
            let bodies: Vec<Value> = (0..n).map(|i| body(offset + i, false)).collect();
            async move {
                let started = Instant::now();
                let results: Vec<(bool, f64)> = futures::stream::iter(bodies)
                    .map(|b| {
                        let http = http.clone();
                        let url = url.clone();
                        async move {
                            let t = Instant::now();
                            let ok = match http.post(&url).json(&b).send().await {
                                Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                                Err(_) => false,
                            };
                            (ok, t.elapsed().as_secs_f64())
                        }
                    })
                    .buffer_unordered(CONCURRENCY)
                    .collect()
                    .await;
                (results, started.elapsed().as_secs_f64())
            }
        };
        let (warm, _) = run(WARMUP_REQUESTS, 0).await;
        assert!(warm.iter().all(|(ok, _)| *ok), "warm-up requests failed");
        let (results, seconds) = run(LOAD_REQUESTS, WARMUP_REQUESTS).await;
        let errors = results.iter().filter(|(ok, _)| !ok).count();
        let mut latencies: Vec<f64> = results.iter().map(|(_, t)| *t).collect();
        latencies.sort_by(f64::total_cmp);
        println!(
            "load: {LOAD_REQUESTS} requests at concurrency {CONCURRENCY} on {} cores: {:.0} requests/s ({seconds:.2} s), {errors} errors; latency p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            LOAD_REQUESTS as f64 / seconds,
            percentile(&latencies, 0.5) * 1e3,
            percentile(&latencies, 0.99) * 1e3,
            percentile(&latencies, 1.0) * 1e3
        );
        let metrics = http
            .get(url.replace("/v1/chat/completions", "/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let served_ok = metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix(
                    "flowcompile_requests_total{workflow=\"math\",point=\"p0\",status=\"200\"} ",
                )
            })
            .unwrap_or("0");
        println!("  the server counted {served_ok} answered requests (overhead runs and warm-up included)");
        assert_eq!(errors, 0, "requests failed under load");
    }
}

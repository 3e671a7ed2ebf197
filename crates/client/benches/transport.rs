//! Calls per second through the client: the in-process zoo transport vs the zoo server on loopback HTTP.
//!
//! Run with `cargo bench -p flowcompile-client`. Both transports run the same calls in one process (GSM8K
//! validation questions, budget forcing over `/v1/completions` with the qwen3 template, budgets 50, 200
//! and 1000, 64 calls in flight on a multi-threaded runtime, the server at time_scale 0); the bench
//! checks that both give the same answers, then prints calls/s of each and the ratio.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use flowcompile_client::{CallRequest, Client, Providers};
use flowcompile_openai::ChatMessage;
use flowcompile_testsupport::ZooServer;
use flowcompile_zoo::http::ZooServeOptions;
use flowcompile_zoo::{TaskSet, Zoo, ZooConfig};
use futures::StreamExt;

const CALLS: usize = 3000;
const IN_FLIGHT: usize = 64;
const BUDGETS: [u32; 3] = [50, 200, 1000];

/// Runs the workload through `client`; returns calls/s and the answers in call order.
async fn workload(client: &Client, questions: &[String]) -> (f64, Vec<String>) {
    let started = Instant::now();
    let calls = (0..CALLS).map(|i| {
        let client = client.clone();
        let question = questions[i % questions.len()].clone();
        tokio::spawn(async move {
            let messages = vec![ChatMessage::user(question)];
            let budget = BUDGETS[i % BUDGETS.len()];
            let request = CallRequest::new("qwen3-8b", messages, budget)
                .seed(i as u64)
                .agent("generate_solver");
            client.call(request).await.expect("zoo call").text
        })
    });
    let answers: Vec<String> = futures::stream::iter(calls)
        .buffered(IN_FLIGHT)
        .map(|r| r.expect("task"))
        .collect()
        .await;
    (CALLS as f64 / started.elapsed().as_secs_f64(), answers)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let data = std::fs::read_to_string(root.join("examples/data/gsm8k_validate.jsonl"))
        .expect("examples/data/gsm8k_validate.jsonl next to the checkout");
    let questions: Vec<String> = data
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            v["problem"].as_str().expect("a problem").to_string()
        })
        .collect();
    let tasks = TaskSet::from_jsonl("gsm8k_validate.jsonl", &data).expect("tasks");
    let zoo = Arc::new(Zoo::new(ZooConfig::default(), vec![tasks]).expect("zoo"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let server = ZooServer::start(zoo.clone(), ZooServeOptions::default()).await;
        let url = server.base_url();
        let providers = || {
            Providers::from_toml_str(
                &format!(
                    "[models.\"qwen3-8b\"]\nbase_url = \"{url}\"\nmodel = \"zoo-8b\"\nbudget = \"forcing\"\nchat_template = \"qwen3\"\nconcurrency = {IN_FLIGHT}\n"
                ),
                "providers.toml",
            )
            .expect("providers")
        };
        let http = Client::new(providers()).expect("client");
        let local = Client::with_zoo(providers(), zoo.clone());
        workload(&http, &questions[..8]).await;
        let (http_rate, http_answers) = workload(&http, &questions).await;
        let (local_rate, local_answers) = workload(&local, &questions).await;
        assert_eq!(http_answers, local_answers, "the transports must agree");
        println!(
            "client calls/s over {CALLS} forcing calls (zoo-8b, budgets {BUDGETS:?}, {IN_FLIGHT} in flight, {} threads):",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        println!("  loopback HTTP  {http_rate:>10.0} calls/s");
        println!("  in-process     {local_rate:>10.0} calls/s");
        println!("  ratio          {:>10.1}x", local_rate / http_rate);
    });
}

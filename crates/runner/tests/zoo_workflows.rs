//! The example workflows (math, code) run end to end against the zoo server on loopback.

use std::path::PathBuf;
use std::sync::Arc;

use flowcompile_client::{Client, Providers};
use flowcompile_ir::{Expr, Setting, Workflow};
use flowcompile_runner::{Config, RunError, Runner};
use flowcompile_testsupport::ZooServer;
use flowcompile_zoo::http::ZooServeOptions;
use flowcompile_zoo::{TaskSet, Zoo, ZooConfig};
use serde_json::Value;

const N_ITEMS: usize = 20;

fn data_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/gsm8k_validate.jsonl")
}

fn example(name: &str) -> Workflow {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../examples/{name}/workflow.toml"));
    let text = std::fs::read_to_string(&path).unwrap();
    flowcompile_spec::parse(&text, &format!("examples/{name}/workflow.toml")).unwrap()
}

fn workflow() -> Workflow {
    example("math")
}

fn items() -> Vec<Value> {
    std::fs::read_to_string(data_path())
        .unwrap()
        .lines()
        .take(N_ITEMS)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn start_zoo() -> ZooServer {
    let text = std::fs::read_to_string(data_path()).unwrap();
    let tasks = TaskSet::from_jsonl("gsm8k_validate.jsonl", &text).unwrap();
    let zoo = Arc::new(Zoo::new(ZooConfig::default(), vec![tasks]).unwrap());
    ZooServer::start(zoo, ZooServeOptions::default()).await
}

fn client(base: &str) -> Client {
    let mut toml = format!(
        "[defaults]\nbase_url = \"{base}\"\napi = \"completions\"\nbudget = \"forcing\"\nchat_template = \"qwen3\"\nmax_retries = 0\ntimeout_s = 10\n"
    );
    for size in ["0.6b", "1.7b", "4b", "8b", "14b"] {
        toml.push_str(&format!(
            "[models.\"qwen3-{size}\"]\nmodel = \"zoo-{size}\"\n"
        ));
    }
    Client::new(Providers::from_toml_str(&toml, "providers.toml").unwrap()).unwrap()
}

fn n_calls(e: &Expr) -> usize {
    let mut n = 0;
    e.for_each_call(&mut |_, _| n += 1);
    n
}

/// Runs `config` on every item; returns (accuracy, calls per item).
async fn accuracy(runner: &Runner, config: &Config, items: &[Value]) -> (f64, Vec<usize>) {
    let runs = futures::future::join_all(items.iter().map(|it| runner.run(config, it))).await;
    let mut correct = 0;
    let mut calls = Vec::new();
    for r in runs {
        let answer = r
            .answer
            .as_ref()
            .unwrap_or_else(|e| panic!("item {}: {e}", r.item_id));
        assert!(!answer.is_empty(), "item {}", r.item_id);
        assert!(r.modelled_latency_s > 0.0 && r.tokens > 0);
        assert!(r
            .calls
            .iter()
            .all(|c| c.error.is_none() && c.modelled_latency_s.is_some()));
        correct += usize::from(r.score.unwrap().correct);
        calls.push(r.calls.len());
    }
    (correct as f64 / items.len() as f64, calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn largest_structure_on_14b_beats_one_small_generator() {
    let zoo = start_zoo().await;
    let wf = workflow();
    let runner = Runner::new(wf.clone(), client(zoo.base_url())).unwrap();
    let space = runner.space();
    let largest = (0..space.structures.len())
        .max_by_key(|&i| n_calls(&space.structures[i].expr))
        .unwrap();
    let n_largest = n_calls(&space.structures[largest].expr);
    // programmer, refine_solver, detailed_solver, 2 x generate_solver, sc_ensemble.
    assert_eq!(n_largest, 6);
    let items = items();
    assert_eq!(items.len(), N_ITEMS);

    let big = Config::uniform(space, largest, &Setting::new("qwen3-14b", 1000)).unwrap();
    let (acc_big, calls_big) = accuracy(&runner, &big, &items).await;
    assert!(calls_big.iter().all(|&n| n == 6), "{calls_big:?}");

    // Structure 0 is a single generator and the answer extraction.
    assert_eq!(n_calls(&space.structures[0].expr), 1);
    let small = Config::uniform(space, 0, &Setting::new("qwen3-0.6b", 10)).unwrap();
    let (acc_small, calls_small) = accuracy(&runner, &small, &items).await;
    assert!(calls_small.iter().all(|&n| n == 1), "{calls_small:?}");
    assert!(
        acc_big > acc_small,
        "14b largest {acc_big} vs 0.6b single {acc_small}"
    );

    // One traced run of the largest structure: every agent appears, the vote saw the candidates,
    // the tools ran, and the same item and config give the same answer.
    let r = runner.run(&big, &items[0]).await;
    let agents: Vec<&str> = r.calls.iter().map(|c| c.agent.as_str()).collect();
    for a in [
        "programmer",
        "refine_solver",
        "detailed_solver",
        "generate_solver",
        "sc_ensemble",
    ] {
        assert!(agents.contains(&a), "{agents:?}");
    }
    assert_eq!(agents.last(), Some(&"sc_ensemble"));
    let seeds: std::collections::HashSet<u64> = r.calls.iter().map(|c| c.seed).collect();
    assert_eq!(seeds.len(), 6);
    let tools: Vec<&str> = r.tools.iter().map(|t| t.tool.as_str()).collect();
    assert_eq!(tools, ["run_program", "extract_answer"]);
    let again = runner.run(&big, &items[0]).await;
    assert_eq!(r.answer.as_ref().unwrap(), again.answer.as_ref().unwrap());
    // Parallel branches: the modelled latency is below the sum of the calls' modelled latencies.
    let sum: f64 = r.calls.iter().filter_map(|c| c.modelled_latency_s).sum();
    assert!(
        r.modelled_latency_s < sum,
        "{} vs {sum}",
        r.modelled_latency_s
    );
    eprintln!(
        "gsm8k x {N_ITEMS}: largest structure on qwen3-14b@1000 {acc_big:.2}, single generator on qwen3-0.6b@10 {acc_small:.2}"
    );

    zoo.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_undefined_template_variable_names_the_agent_and_variable() {
    let wf = workflow();
    let runner = Runner::new(wf.clone(), client("http://127.0.0.1:9/v1")).unwrap();
    let config = Config::uniform(runner.space(), 0, &Setting::new("qwen3-0.6b", 10)).unwrap();
    let item = serde_json::json!({"question": "What is 6 times 7?", "answer": "42"});
    let r = runner.run(&config, &item).await;
    let err = r.answer.unwrap_err();
    assert!(
        matches!(&err, RunError::UndefinedVariable { agent, variable, .. } if agent == "generate_solver" && variable == "problem"),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("`generate_solver`") && msg.contains("`problem`"),
        "{msg}"
    );
    assert!(r.calls.is_empty() && r.score.is_none());
}

#[tokio::test]
async fn a_failed_call_fails_the_item_and_is_traced() {
    let wf = workflow();
    // Nothing listens on the discard port: the connection is refused and not retried.
    let runner = Runner::new(wf.clone(), client("http://127.0.0.1:9/v1")).unwrap();
    let config = Config::uniform(runner.space(), 0, &Setting::new("qwen3-0.6b", 10)).unwrap();
    let item = serde_json::json!({"problem": "What is 6 times 7?", "answer": "42"});
    let r = runner.run(&config, &item).await;
    let err = r.answer.unwrap_err();
    assert!(
        matches!(err, RunError::Call { ref agent, .. } if agent == "generate_solver"),
        "{err}"
    );
    assert_eq!(r.calls.len(), 1);
    assert!(r.calls[0].error.is_some());
    assert!(r.score.is_none() && r.tools.is_empty());
}

#[tokio::test]
async fn an_item_without_the_gold_field_is_refused_before_any_call() {
    let wf = workflow();
    let runner = Runner::new(wf.clone(), client("http://127.0.0.1:9/v1")).unwrap();
    let config = Config::uniform(runner.space(), 0, &Setting::new("qwen3-0.6b", 10)).unwrap();
    let r = runner
        .run(&config, &serde_json::json!({"problem": "1 + 1?"}))
        .await;
    assert_eq!(
        r.answer.unwrap_err().to_string(),
        format!("item `{}`: no field `answer`", r.item_id)
    );
    assert!(r.calls.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_retries_run_the_fixer_until_the_attempts_are_spent() {
    let zoo = start_zoo().await;
    let wf = example("code");
    let runner = Runner::new(wf.clone(), client(zoo.base_url())).unwrap();
    let space = runner.space();
    // Three generators, the vote, and three rounds of reflection.
    let largest = (0..space.structures.len())
        .find(|&i| {
            let e = &space.structures[i].expr;
            n_calls(e) == 5 && format!("{e:?}").contains("attempts: 3")
        })
        .unwrap();
    let config = Config::uniform(space, largest, &Setting::new("qwen3-8b", 200)).unwrap();
    let item = serde_json::json!({
        "question": "Read two integers and print their sum.",
        "starter_code": "",
        "tests": [{"input": "1 2\n", "output": "3"}, {"input": "5 6\n", "output": "11"}]
    });
    let r = runner.run(&config, &item).await;
    // The zoo answers in prose, not code: every test fails, so all three retries run.
    let answer = r.answer.as_ref().unwrap();
    let agents: Vec<&str> = r.calls.iter().map(|c| c.agent.as_str()).collect();
    assert_eq!(
        agents,
        [
            "code_generate",
            "code_generate",
            "code_generate",
            "sc_ensemble",
            "reflection_test",
            "reflection_test",
            "reflection_test"
        ]
    );
    let samples: Vec<u64> = r.calls[4..].iter().map(|c| c.sample).collect();
    assert_eq!(samples, [1, 2, 3]);
    let tools: Vec<(&str, bool)> = r.tools.iter().map(|t| (t.tool.as_str(), t.ok)).collect();
    assert_eq!(
        tools,
        [
            ("test", false),
            ("test", false),
            ("test", false),
            ("test", false),
            ("select_final_solution", true)
        ]
    );
    assert!(
        r.tools[0]
            .output
            .starts_with("failed: input:\n1 2\nexpected:\n3"),
        "{}",
        r.tools[0].output
    );
    // No attempt passed: the final pick is the last solution, and it fails the tests scorer.
    assert_eq!(answer, &r.calls[6].parsed);
    assert!(!r.score.unwrap().correct);

    zoo.shutdown().await.unwrap();
}

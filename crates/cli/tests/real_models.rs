//! `flowcompile run` and `flowcompile eval` against real small models: SmolLM2-135M-Instruct (chat) and
//! Gemma 3 270M (a base model, through completions) served by llama.cpp. Runs when
//! `FLOWCOMPILE_LLAMA_URL` names the server's base URL (`scripts/real-models/setup.sh`, then
//! `export FLOWCOMPILE_LLAMA_URL=$(scripts/real-models/serve.sh)`); otherwise each test says how to run it
//! and returns. The test of a server that is not running needs no model and always runs.

use flowcompile_testsupport::free_port;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

use serde_json::Value;

mod common;
use common::{calls, check, n_calls, path, root};

const MODELS: [&str; 2] = ["smollm2", "gemma3"];

fn hotpotqa() -> String {
    path("examples/data/hotpotqa_validate.jsonl")
}

/// The tests take turns: llama-cpp-python's server swaps its two models in and out of one process, and
/// requests for both from tests running side by side crashed it (a segfault in ggml).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The server's base URL and this test's turn at it, or `None` after saying why the test does not run.
fn llama_url() -> Option<(String, MutexGuard<'static, ()>)> {
    match std::env::var("FLOWCOMPILE_LLAMA_URL") {
        Ok(url) if !url.is_empty() => {
            let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
            Some((url.trim_end_matches('/').to_string(), turn))
        }
        _ => {
            eprintln!(
                "not run: set FLOWCOMPILE_LLAMA_URL to a llama.cpp server with smollm2 and gemma3 \
                 (scripts/real-models/setup.sh; export FLOWCOMPILE_LLAMA_URL=$(scripts/real-models/serve.sh))"
            );
            None
        }
    }
}

/// Writes examples/providers/llama.toml into `dir` with its base URL replaced by `url`.
fn providers(dir: &Path, url: &str) -> String {
    let text = std::fs::read_to_string(root().join("examples/providers/llama.toml")).unwrap();
    assert!(text.contains("http://127.0.0.1:8090/v1"));
    let file = dir.join("providers.toml");
    std::fs::write(&file, text.replace("http://127.0.0.1:8090/v1", url)).unwrap();
    file.display().to_string()
}

fn flowcompile(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flowcompile"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn run_answers_through_both_real_models() {
    let Some((url, _turn)) = llama_url() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let providers = providers(dir.path(), &url);
    let wf = path("examples/hotpotqa-small/workflow.toml");
    let data = hotpotqa();
    for model in MODELS {
        let setting = format!("{model}@16");
        let out = flowcompile(
            dir.path(),
            &[
                "run",
                &wf,
                "--providers",
                &providers,
                "--data",
                &data,
                "--line",
                "1",
                "--structure",
                "0",
                "--all",
                &setting,
                "--json",
            ],
        );
        let (stdout, _) = check(&out, 0);
        let v: Value = serde_json::from_str(&stdout).unwrap();
        let answer = v["result"]["answer"]
            .as_str()
            .unwrap_or_else(|| panic!("{v}"));
        assert!(!answer.trim().is_empty(), "{model}: empty answer: {v}");
        let calls = v["calls"].as_array().unwrap();
        assert_eq!(calls.len(), 1, "{v}");
        let call = &calls[0];
        assert_eq!(call["model"], model);
        assert!(call["error"].is_null(), "{v}");
        let prompt_tokens = call["prompt_tokens"].as_u64().unwrap();
        let completion_tokens = call["completion_tokens"].as_u64().unwrap();
        // The two selected paragraphs and the few-shot examples are a few hundred tokens.
        assert!(prompt_tokens > 100, "{model}: {v}");
        // The cap is the budget plus one answer token (examples/providers/llama.toml).
        assert!((1..=17).contains(&completion_tokens), "{model}: {v}");
        assert_eq!(v["tools"][0]["kind"], "select_paragraphs", "{v}");
        assert!(v["latency_s"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn eval_runs_five_items_on_each_real_model() {
    let Some((url, _turn)) = llama_url() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let providers = providers(dir.path(), &url);
    let wf = path("examples/hotpotqa-small/workflow.toml");
    let data = hotpotqa();
    for model in MODELS {
        let setting = format!("{model}@16");
        let args = [
            "eval",
            &wf,
            "--providers",
            &providers,
            "--data",
            &data,
            "--limit",
            "5",
            "--structure",
            "0",
            "--all",
            &setting,
            "--concurrency",
            "1",
            "--json",
        ];
        let (stdout, _) = check(&flowcompile(dir.path(), &args), 0);
        let v: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(v["n_items"], 5, "{v}");
        assert_eq!(v["n_failed"], 0, "{v}");
        let tokens = v["tokens"].as_u64().unwrap();
        assert!(tokens > 5 * 100, "{model}: {v}");
        assert!(v["latency_s"]["mean"].as_f64().unwrap() > 0.0, "{v}");
        let accuracy = v["accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&accuracy), "{v}");
        // A rerun finds the five items in the store and reports the same figures.
        let (again, _) = check(&flowcompile(dir.path(), &args), 0);
        let again: Value = serde_json::from_str(&again).unwrap();
        assert_eq!(again["tokens"], v["tokens"]);
        assert_eq!(again["accuracy"], v["accuracy"]);
    }
}

#[test]
fn a_prompt_longer_than_the_context_fails_its_item_not_the_others() {
    let Some((url, _turn)) = llama_url() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let providers = providers(dir.path(), &url);
    let first = std::fs::read_to_string(hotpotqa())
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    // Two paragraphs (both kept by the selection tool) of ~6,000 words each: far past n_ctx (4096).
    let long = "the film won the award for costume design ".repeat(1500);
    let huge = serde_json::json!({
        "_id": "too-long",
        "question": "Which film won the award for costume design?",
        "answer": "none",
        "context": [["Film one", [long.clone()]], ["Film two", [long]]],
    });
    std::fs::write(dir.path().join("items.jsonl"), format!("{first}\n{huge}\n")).unwrap();
    let wf = path("examples/hotpotqa-small/workflow.toml");
    for model in MODELS {
        let setting = format!("{model}@4");
        let (stdout, stderr) = check(
            &flowcompile(
                dir.path(),
                &[
                    "eval",
                    &wf,
                    "--providers",
                    &providers,
                    "--data",
                    "items.jsonl",
                    "--structure",
                    "0",
                    "--all",
                    &setting,
                    "--concurrency",
                    "1",
                    "--json",
                ],
            ),
            0,
        );
        let v: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(v["n_items"], 2, "{v}");
        assert_eq!(v["n_failed"], 1, "{model}: {v}");
        let failure = &v["failures"][0];
        assert_eq!(failure["item"], "too-long", "{v}");
        let error = failure["error"].as_str().unwrap();
        assert!(
            error.contains("400") && error.contains("context"),
            "{model}: the error should be the server's context-length reply: {error}"
        );
        assert!(
            stderr.contains("too-long") && stderr.contains("context"),
            "{model}: the failed item is reported: {stderr}"
        );
    }
}

#[test]
fn a_server_that_is_not_running_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/v1");
    let providers = providers(dir.path(), &url);
    let wf = path("examples/hotpotqa-small/workflow.toml");
    let data = hotpotqa();
    let out = flowcompile(
        dir.path(),
        &[
            "run",
            &wf,
            "--providers",
            &providers,
            "--data",
            &data,
            "--line",
            "1",
            "--structure",
            "0",
            "--all",
            "smollm2@4",
        ],
    );
    let (stdout, stderr) = check(&out, 1);
    let text = format!("{stdout}{stderr}");
    assert!(
        text.contains(&format!("{url}/chat/completions")) && text.contains("connection failed"),
        "{text}"
    );
}

#[test]
fn profiling_killed_mid_way_against_llama_cpp_resumes_without_repeating_a_call() {
    let Some((url, _turn)) = llama_url() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let providers = providers(dir.path(), &url);
    let wf = path("examples/hotpotqa-small/workflow.toml");
    let data = hotpotqa();
    let store = dir.path().join("s.sqlite");
    let args = [
        "profile",
        &wf,
        "--providers",
        &providers,
        "--data",
        &data,
        "--limit",
        "4",
        "--min-score",
        "0",
        "--calls-per-setting",
        "2",
        "--concurrency",
        "1",
        "--store",
        "s.sqlite",
        "--json",
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowcompile"))
        .args(args)
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while n_calls(&store) < 6 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "profiling finished before it could be killed"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(300),
            "no profiling call reached the store in 300 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL, mid-way through profiling
    child.wait().unwrap();
    let at_kill = calls(&store);

    let (stdout, _) = check(&flowcompile(dir.path(), &args), 0);
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let sum = |report: &Value, field: &str| -> usize {
        report["profile"]["agents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a[field].as_u64().unwrap() as usize)
            .sum()
    };
    let after = calls(&store);
    assert!(
        at_kill.len() >= 6 && at_kill.len() < after.len(),
        "killed mid-way: {} calls at the kill, {} after the resume",
        at_kill.len(),
        after.len()
    );
    assert!(
        sum(&report, "calls_reused") >= at_kill.len(),
        "the resumed run reused {} calls of the {} finished at the kill",
        sum(&report, "calls_reused"),
        at_kill.len()
    );
    assert_eq!(
        sum(&report, "calls_reused") + sum(&report, "calls_run_now"),
        after.len()
    );
    // The calls finished before the kill are in the store as they were: none was asked again.
    let kept: Vec<&String> = at_kill.iter().filter(|c| !after.contains(c)).collect();
    assert!(kept.is_empty(), "calls changed by the resume: {kept:#?}");
    // A third run finds everything in the store and calls the server for nothing.
    let (stdout, _) = check(&flowcompile(dir.path(), &args), 0);
    let again: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(sum(&again, "calls_run_now"), 0, "{again}");
    assert_eq!(calls(&store), after);
}

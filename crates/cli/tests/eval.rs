//! `flowcompile run` and `flowcompile eval` against the zoo: embedded, and as a separate server.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

mod common;
use common::{check, path, root, run};

fn gsm8k() -> String {
    root()
        .join("examples/data/gsm8k_validate.jsonl")
        .display()
        .to_string()
}

fn eval_json(dir: &Path, extra: &[&str]) -> (serde_json::Value, String) {
    let wf = path("examples/math/workflow.toml");
    let providers = path("examples/providers/zoo.toml");
    let data = gsm8k();
    let mut args = vec![
        "eval",
        wf.as_str(),
        "--providers",
        providers.as_str(),
        "--data",
        data.as_str(),
        "--json",
    ];
    args.extend_from_slice(extra);
    let (stdout, stderr) = check(&run(dir, &args), 0);
    (serde_json::from_str(&stdout).unwrap(), stderr)
}

#[test]
fn eval_on_the_embedded_zoo_resumes_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let big = ["--zoo", "--limit", "12", "--all", "qwen3-14b@1000"];
    let (first, _) = eval_json(dir.path(), &big);
    assert_eq!(first["n_items"], 12);
    let (small, _) = eval_json(
        dir.path(),
        &[
            "--zoo",
            "--limit",
            "12",
            "--all",
            "qwen3-0.6b@10",
            "--structure",
            "0",
        ],
    );
    assert!(
        first["accuracy"].as_f64().unwrap() > small["accuracy"].as_f64().unwrap(),
        "14b with the full workflow must beat one 0.6b call: {first} vs {small}"
    );
    // A rerun finds every item in the store: same numbers, no model call needed.
    let (again, _) = eval_json(dir.path(), &big);
    assert_eq!(again["accuracy"], first["accuracy"]);
    assert_eq!(again["tokens"], first["tokens"]);
    assert!(dir.path().join(".flowcompile/store.sqlite").exists());
}

#[test]
fn bad_dataset_lines_are_reported_counted_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = std::fs::read_to_string(gsm8k())
        .unwrap()
        .lines()
        .take(3)
        .map(String::from)
        .collect();
    let text = format!(
        "{}\nnot json\n{{\"problem\": \"no answer here\"}}\n{}\n",
        lines[0], lines[1]
    );
    std::fs::write(dir.path().join("mixed.jsonl"), text).unwrap();
    let wf = path("examples/math/workflow.toml");
    let providers = path("examples/providers/zoo.toml");
    let out = run(
        dir.path(),
        &[
            "eval",
            &wf,
            "--providers",
            &providers,
            "--zoo",
            "--data",
            "mixed.jsonl",
            "--all",
            "qwen3-8b@400",
            "--json",
        ],
    );
    let (stdout, stderr) = check(&out, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["n_items"], 2);
    assert_eq!(v["n_bad_lines"], 2);
    assert!(
        stderr.contains("mixed.jsonl:2") && stderr.contains("mixed.jsonl:3"),
        "{stderr}"
    );
}

#[test]
fn run_prints_the_answer_and_trace_for_an_artifact_point() {
    let dir = tempfile::tempdir().unwrap();
    let wf = path("examples/math/workflow.toml");
    let profiles = path("examples/math/profiles.csv");
    check(
        &run(
            dir.path(),
            &["compile", &wf, "--profiles", &profiles, "-o", "math.json"],
        ),
        0,
    );
    let providers = path("examples/providers/zoo.toml");
    let data = gsm8k();
    let out = run(
        dir.path(),
        &[
            "run",
            &wf,
            "--providers",
            &providers,
            "--zoo",
            "--data",
            &data,
            "--line",
            "1",
            "--artifact",
            "math.json",
            "--prefer",
            "high",
        ],
    );
    let (stdout, _) = check(&out, 0);
    assert!(
        stdout.contains("answer: ") && stdout.contains("call  "),
        "{stdout}"
    );
    assert!(stdout.contains("math.json p"), "{stdout}");
}

#[test]
fn configuration_mistakes_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let wf = path("examples/math/workflow.toml");
    let providers = path("examples/providers/zoo.toml");
    let input = r#"{"problem": "1+1?", "answer": "2"}"#;
    let cases: [(&[&str], &str); 4] = [
        (&[], "choose a configuration"),
        (
            &["--all", "gpt-9@10"],
            "model 'gpt-9' (slot programmer) has no endpoint",
        ),
        (&["--all", "qwen3-8b"], "MODEL@BUDGET"),
        (
            &["--all", "qwen3-8b@10", "--set", "voter=qwen3-8b@10"],
            "unknown slot 'voter'",
        ),
    ];
    for (extra, want) in cases {
        let mut args = vec![
            "run",
            wf.as_str(),
            "--providers",
            providers.as_str(),
            "--zoo",
            "--input",
            input,
        ];
        args.extend_from_slice(extra);
        let (_, stderr) = check(&run(dir.path(), &args), 3);
        assert!(stderr.contains(want), "{extra:?}: {stderr}");
    }
}

#[test]
fn a_missing_key_variable_is_named_and_its_value_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("providers.toml"),
        "[models.\"qwen3-8b\"]\nbase_url = \"http://127.0.0.1:9/v1\"\napi_key_env = \"FLOWCOMPILE_TEST_UNSET_KEY\"\n",
    )
    .unwrap();
    let wf = path("examples/math/workflow.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_flowcompile"))
        .args([
            "run",
            &wf,
            "--providers",
            "providers.toml",
            "--input",
            r#"{"problem": "1+1?", "answer": "2"}"#,
            "--all",
            "qwen3-8b@10",
        ])
        .current_dir(dir.path())
        .env_remove("FLOWCOMPILE_TEST_UNSET_KEY")
        .output()
        .unwrap();
    let (_, stderr) = check(&out, 3);
    assert!(stderr.contains("FLOWCOMPILE_TEST_UNSET_KEY"), "{stderr}");
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn eval_against_a_separate_zoo_server_through_a_providers_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowcompile"))
        .args(["zoo", "serve", "--port", "0", "--tasks", &gsm8k()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _server = Server(child);
    let url = line
        .split("http://")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let providers = std::fs::read_to_string(root().join("examples/providers/zoo.toml"))
        .unwrap()
        .replace("http://127.0.0.1:8000/v1", &format!("http://{url}"));
    std::fs::write(dir.path().join("providers.toml"), providers).unwrap();
    let wf = path("examples/math/workflow.toml");
    let data = gsm8k();
    let out = run(
        dir.path(),
        &[
            "eval",
            &wf,
            "--providers",
            "providers.toml",
            "--data",
            &data,
            "--limit",
            "5",
            "--all",
            "qwen3-4b@400",
        ],
    );
    let (stdout, _) = check(&out, 0);
    assert!(
        stdout.contains("accuracy") && stdout.contains("items      5"),
        "{stdout}"
    );
}

#[test]
fn an_eval_where_every_run_failed_has_no_accuracy_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on: every call is refused at once, and is not retried.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let providers = std::fs::read_to_string(root().join("examples/providers/zoo.toml"))
        .unwrap()
        .replace(
            "http://127.0.0.1:8000/v1",
            &format!("http://127.0.0.1:{port}/v1"),
        )
        .replace("timeout_s = 60", "timeout_s = 5\nmax_retries = 0");
    std::fs::write(dir.path().join("providers.toml"), providers).unwrap();
    let wf = path("examples/math/workflow.toml");
    let data = gsm8k();
    let args = [
        "eval",
        &wf,
        "--providers",
        "providers.toml",
        "--data",
        &data,
        "--limit",
        "2",
        "--all",
        "qwen3-4b@400",
    ];
    let (stdout, stderr) = check(&run(dir.path(), &args), 1);
    assert!(
        stdout.contains("accuracy   undefined: no run succeeded"),
        "{stdout}"
    );
    assert!(
        stderr.contains("every run failed (2 of 2), so nothing was measured"),
        "{stderr}"
    );
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let (stdout, _) = check(&run(dir.path(), &json_args), 1);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(v["accuracy"].is_null(), "{v}");
    assert_eq!(v["n_failed"], 2);
}

//! `flowcompile gateway` as a process on a free loopback port in front of the zoo's HTTP server,
//! called with curl: the gateway's own token, pass-through, agent calls routed by a compiled math
//! artifact, the plan, metrics, one access-log line per call, and no provider key anywhere.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use flowcompile_testsupport::ZooServer;
use flowcompile_zoo::http::ZooServeOptions;
use flowcompile_zoo::{TaskSet, Zoo, ZooConfig};
use serde_json::Value;

mod common;
use common::path;

const TOKEN_VAR: &str = "FLOWCOMPILE_TEST_GATEWAY_TOKEN";
const TOKEN: &str = "gw-token-cli-test-5e1a";
const KEY_VAR: &str = "FLOWCOMPILE_TEST_PROVIDER_KEY";
const KEY: &str = "sk-provider-secret-cli-77d0";

/// The zoo's HTTP server in a runtime of its own, kept for the test's length.
fn zoo() -> (tokio::runtime::Runtime, ZooServer) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let text = std::fs::read_to_string(path("examples/data/gsm8k_validate.jsonl")).unwrap();
    let tasks = TaskSet::from_jsonl("gsm8k_validate.jsonl", &text).unwrap();
    let zoo = Arc::new(Zoo::new(ZooConfig::default(), vec![tasks]).unwrap());
    let server = rt.block_on(ZooServer::start(zoo, ZooServeOptions::default()));
    (rt, server)
}

/// The example providers (forcing over completions, Qwen3 template) pointed at `base_url`, with
/// a key read from [`KEY_VAR`].
fn providers(dir: &Path, base_url: &str) -> String {
    let text = std::fs::read_to_string(path("examples/providers/zoo.toml"))
        .unwrap()
        .replace("http://127.0.0.1:8000/v1", base_url)
        .replace(
            "[defaults]\n",
            &format!("[defaults]\napi_key_env = \"{KEY_VAR}\"\n"),
        );
    let file = dir.join("providers.toml");
    std::fs::write(&file, text).unwrap();
    file.display().to_string()
}

fn compile(dir: &Path) -> String {
    let out = dir.join("math.json").display().to_string();
    let run = Command::new(env!("CARGO_BIN_EXE_flowcompile"))
        .args([
            "compile",
            &path("examples/math/workflow.toml"),
            "--profiles",
        ])
        .arg(path("examples/math/profiles.csv"))
        .args(["-o", &out])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    out
}

/// A running `flowcompile gateway`, stopped with SIGTERM.
struct Gateway {
    child: Option<Child>,
    origin: String,
}

impl Gateway {
    fn start(args: &[&str]) -> Gateway {
        let mut child = Command::new(env!("CARGO_BIN_EXE_flowcompile"))
            .arg("gateway")
            .args(args)
            .args(["--port", "0", "--token-env", TOKEN_VAR])
            .env(TOKEN_VAR, TOKEN)
            .env(KEY_VAR, KEY)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("gateway on http://127.0.0.1:"), "{line}");
        let origin = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap()
            .trim_end_matches(',')
            .trim_end_matches("/v1")
            .to_string();
        Gateway {
            child: Some(child),
            origin,
        }
    }

    fn terminate(mut self) -> String {
        let child = self.child.take().unwrap();
        let kill = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs curl; returns (HTTP status, response headers lowercased, body).
fn curl(args: &[&str]) -> (u16, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let headers = dir.path().join("headers.txt");
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "60", "-D"])
        .arg(&headers)
        .args(["-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl is installed");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (
        status.parse().unwrap(),
        std::fs::read_to_string(headers).unwrap().to_lowercase(),
        body.to_string(),
    )
}

fn header<'h>(headers: &'h str, name: &str) -> &'h str {
    headers
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in {headers}"))
        .trim()
}

fn body(model: &str) -> String {
    serde_json::json!({"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "What is 12 * 7?"}]})
        .to_string()
}

#[test]
fn the_gateway_routes_agent_calls_by_the_artifact_and_keeps_provider_keys_to_itself() {
    let (_rt, zoo) = zoo();
    let dir = tempfile::tempdir().unwrap();
    let providers = providers(dir.path(), zoo.base_url());
    let artifact = compile(dir.path());
    let gw = Gateway::start(&[
        "--providers",
        &providers,
        "--shape",
        &path("examples/math/workflow.toml"),
        "--artifact",
        &artifact,
        "--preset",
        "fast",
    ]);
    let chat = format!("{}/v1/chat/completions", gw.origin);
    let auth = format!("authorization: Bearer {TOKEN}");
    let json = "content-type: application/json";

    let (status, _, text) = curl(&[&chat, "-H", json, "-d", &body("qwen3-8b")]);
    assert_eq!(status, 401, "{text}");
    let provider_auth = format!("authorization: Bearer {KEY}");
    let (status, _, _) = curl(&[
        &chat,
        "-H",
        json,
        "-H",
        &provider_auth,
        "-d",
        &body("qwen3-8b"),
    ]);
    assert_eq!(status, 401, "a provider key is not the gateway's token");

    // Pass-through: a providers-file model, no agent.
    let (status, _, text) = curl(&[&chat, "-H", json, "-H", &auth, "-d", &body("qwen3-8b")]);
    assert_eq!(status, 200, "{text}");
    let reply: Value = serde_json::from_str(&text).unwrap();
    assert!(reply["choices"][0]["text"].is_null());
    assert!(!text.contains(KEY));

    // An agent call of run r1 at the most accurate point; the plan agrees with its headers.
    let (status, headers, text) = curl(&[
        &chat,
        "-H",
        json,
        "-H",
        &auth,
        "-H",
        "x-flowcompile-agent: generate_solver",
        "-H",
        "x-flowcompile-run: r1",
        "-H",
        "x-flowcompile-preference: xhigh",
        "-d",
        &body("generate_solver"),
    ]);
    assert_eq!(status, 200, "{text}");
    let point = header(&headers, "x-flowcompile-point").to_string();
    let model = header(&headers, "x-flowcompile-agent-model").to_string();
    let budget = header(&headers, "x-flowcompile-agent-budget").to_string();
    let (status, _, text) = curl(&[
        &format!("{}/flowcompile/plan?run=r1", gw.origin),
        "-H",
        &auth,
    ]);
    assert_eq!(status, 200, "{text}");
    let plan: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(plan["point"], point.as_str());
    let solver = &plan["agents"]["generate_solver"];
    if solver["enabled"] == true {
        assert_eq!(solver["model"], model.as_str());
        assert_eq!(solver["budget"].to_string(), budget);
    }
    for agent in [
        "programmer",
        "refine_solver",
        "detailed_solver",
        "generate_solver",
        "sc_ensemble",
    ] {
        assert!(plan["agents"][agent]["samples"].is_u64(), "{plan}");
    }
    // The default (fast) point differs from the most accurate one.
    let (_, _, text) = curl(&[&format!("{}/flowcompile/plan", gw.origin), "-H", &auth]);
    let fast: Value = serde_json::from_str(&text).unwrap();
    assert_ne!(fast["point"], plan["point"], "{fast}");

    let (status, _, text) = curl(&[
        &chat,
        "-H",
        json,
        "-H",
        &auth,
        "-H",
        "x-flowcompile-agent: planner",
        "-d",
        &body("x"),
    ]);
    assert_eq!(status, 400);
    assert!(
        text.contains("planner") && text.contains("sc_ensemble"),
        "{text}"
    );

    let (status, _, metrics) = curl(&[&format!("{}/metrics", gw.origin)]);
    assert_eq!(status, 200);
    assert!(
        metrics.contains(&format!(
            "flowcompile_gateway_calls_total{{agent=\"generate_solver\",point=\"{point}\",status=\"200\"}} 1"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("flowcompile_gateway_calls_total{agent=\"\",point=\"\",status=\"401\"} 2"),
        "{metrics}"
    );

    // The official openai Python client, as an application uses it (when .ci/run installed it).
    let python_calls = match std::env::var("FLOWCOMPILE_OPENAI_PYTHON") {
        Err(_) => {
            eprintln!(
                "not run: the openai Python client part; set FLOWCOMPILE_OPENAI_PYTHON to a python with `openai` installed (.ci/run does)"
            );
            0
        }
        Ok(python) => {
            let out = Command::new(&python)
                .arg(common::root().join("crates/cli/tests/gateway_openai.py"))
                .arg(format!("{}/v1", gw.origin))
                .env(TOKEN_VAR, TOKEN)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "openai client run failed:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let summary: Value =
                serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
            // Preference xhigh, as the first curl run: the same point and model.
            assert_eq!(summary["point"], point.as_str(), "{summary}");
            assert_eq!(summary["model"], model.as_str(), "{summary}");
            2
        }
    };

    let log = gw.terminate();
    assert!(!log.contains(KEY) && !log.contains(TOKEN), "{log}");
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" call ") || l.ends_with(" call"))
        .collect();
    let routed = lines
        .iter()
        .find(|l| l.contains("agent=generate_solver") && l.contains("run=r1"))
        .unwrap_or_else(|| panic!("no access-log line of the agent call in\n{log}"));
    for field in [
        format!("point={point}"),
        format!("model={model}"),
        "status=200".to_string(),
        "latency_ms=".to_string(),
    ] {
        assert!(routed.contains(&field), "{field} missing from {routed}");
    }
    // 2 refused, 1 pass-through, 1 agent call, 1 unknown agent (and the Python client's two
    // calls): one line each.
    assert_eq!(lines.len(), 5 + python_calls, "{log}");
}

#[test]
fn bad_gateway_inputs_name_the_flag_or_file() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_flowcompile"))
            .arg("gateway")
            .args(args)
            .env_remove(TOKEN_VAR)
            .output()
            .unwrap()
    };
    let providers = providers(dir.path(), "http://127.0.0.1:9/v1");
    let out = run(&["--providers", &providers, "--token-env", TOKEN_VAR]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains(TOKEN_VAR));
    let out = run(&[
        "--providers",
        &providers,
        "--shape",
        &path("examples/math/workflow.toml"),
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--shape without --artifact is a usage error"
    );
    let other = dir.path().join("other.json");
    let artifact = compile(dir.path());
    std::fs::write(
        &other,
        std::fs::read_to_string(&artifact)
            .unwrap()
            .replace("\"workflow\": \"math\"", "\"workflow\": \"hotpotqa\""),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flowcompile"))
        .args([
            "gateway",
            "--providers",
            &providers,
            "--shape",
            &path("examples/math/workflow.toml"),
            "--artifact",
        ])
        .arg(&other)
        .env(KEY_VAR, KEY)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("other.json") && err.contains("hotpotqa"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_flowcompile"))
        .args(["gateway", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("flowcompile gateway --providers") && help.contains("/flowcompile/plan"),
        "{help}"
    );
}

/// examples/math/workflow.toml without its prompts: the application owns them.
fn bare_shape(dir: &Path) -> String {
    let text = std::fs::read_to_string(path("examples/math/workflow.toml")).unwrap();
    let mut out = String::new();
    let mut in_prompt = false;
    for line in text.lines() {
        if line.starts_with("prompt = '''") {
            in_prompt = !line.ends_with("'''") || line == "prompt = '''";
            continue;
        }
        if in_prompt {
            in_prompt = !line.ends_with("'''");
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    assert!(!out.contains("prompt"), "{out}");
    let file = dir.join("shape.toml");
    std::fs::write(&file, out).unwrap();
    file.display().to_string()
}

#[test]
fn capture_writes_each_agent_call_at_the_reference_without_secrets() {
    let (_rt, zoo) = zoo();
    let dir = tempfile::tempdir().unwrap();
    let providers = providers(dir.path(), zoo.base_url());
    let shape = bare_shape(dir.path());
    let store = dir.path().join("capture.sqlite").display().to_string();
    let gw = Gateway::start(&[
        "--providers",
        &providers,
        "--shape",
        &shape,
        "--capture",
        "--store",
        &store,
        "--reference",
        "qwen3-4b@200",
    ]);
    let chat = format!("{}/v1/chat/completions", gw.origin);
    let auth = format!("authorization: Bearer {TOKEN}");
    for (agent, run) in [
        ("generate_solver", "q1"),
        ("generate_solver", "q1"),
        ("sc_ensemble", "q1"),
    ] {
        let (status, headers, text) = curl(&[
            &chat,
            "-H",
            "content-type: application/json",
            "-H",
            &auth,
            "-H",
            &format!("x-flowcompile-run: {run}"),
            "-d",
            &body(agent),
        ]);
        assert_eq!(status, 200, "{text}");
        assert_eq!(header(&headers, "x-flowcompile-agent-model"), "qwen3-4b");
        assert_eq!(header(&headers, "x-flowcompile-agent-budget"), "200");
        assert_eq!(header(&headers, "x-flowcompile-point"), "reference");
    }
    let log = gw.terminate();
    assert!(!log.contains(KEY), "{log}");
    let rows = flowcompile_store::Store::open(&store)
        .unwrap()
        .captured_calls()
        .unwrap();
    let keys: Vec<(&str, &str, u32)> = rows
        .iter()
        .map(|r| (r.run.as_str(), r.agent.as_str(), r.call_index))
        .collect();
    assert_eq!(
        keys,
        [
            ("q1", "generate_solver", 0),
            ("q1", "generate_solver", 1),
            ("q1", "sc_ensemble", 0)
        ]
    );
    assert!(rows
        .iter()
        .all(|r| r.error.is_none() && !r.reply.is_empty()));
    let bytes = std::fs::read(&store).unwrap();
    let wal = std::fs::read(format!("{store}-wal")).unwrap_or_default();
    for secret in [KEY, TOKEN] {
        let found = |b: &[u8]| b.windows(secret.len()).any(|w| w == secret.as_bytes());
        assert!(!found(&bytes) && !found(&wal), "{secret} is in the store");
    }

    // flowcompile's runner refuses the shape, naming why.
    let out = Command::new(env!("CARGO_BIN_EXE_flowcompile"))
        .args([
            "run",
            &shape,
            "--zoo",
            "--all",
            "qwen3-4b@200",
            "--input",
            "{\"problem\": \"1 + 1?\", \"answer\": \"2\"}",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("shape file") && err.contains("refine_solver"),
        "{err}"
    );
}

/// What the math application would send one agent for `problem` (its own prompts).
fn app_message(agent: &str, problem: &str, candidates: &[String]) -> String {
    match agent {
        "programmer" => {
            format!("Write a Python 3 program that prints the answer.\n\nProblem: {problem}")
        }
        "sc_ensemble" => {
            let mut text = format!(
                "Pick the answer most solutions agree on, in \\boxed{{}}.\n\nProblem: {problem}\n"
            );
            for (i, c) in candidates.iter().enumerate() {
                text.push_str(&format!("Solution {} answer: \\boxed{{{c}}}\n", i + 1));
            }
            text
        }
        _ => format!(
            "Solve step by step and put the final answer in \\boxed{{}}.\n\nProblem: {problem}"
        ),
    }
}

#[test]
fn a_capture_compiles_into_an_artifact_by_replaying_its_requests() {
    let (_rt, zoo) = zoo();
    let dir = tempfile::tempdir().unwrap();
    let providers = providers(dir.path(), zoo.base_url());
    let shape = bare_shape(dir.path());
    let capture = dir.path().join("capture.sqlite").display().to_string();
    let gw = Gateway::start(&[
        "--providers",
        &providers,
        "--shape",
        &shape,
        "--capture",
        "--store",
        &capture,
        "--reference",
        "qwen3-14b@1000",
    ]);
    let chat = format!("{}/v1/chat/completions", gw.origin);
    let auth = format!("authorization: Bearer {TOKEN}");
    let data = path("examples/data/gsm8k_validate.jsonl");
    let text = std::fs::read_to_string(&data).unwrap();
    // Eight finished runs, and a ninth that stops before the vote (no final answer).
    for (n, line) in text.lines().take(9).enumerate() {
        let item: Value = serde_json::from_str(line).unwrap();
        let run = item["unique_id"].as_str().unwrap().to_string();
        let problem = item["problem"].as_str().unwrap();
        let mut candidates = Vec::new();
        let agents: &[&str] = if n < 8 {
            &[
                "programmer",
                "refine_solver",
                "detailed_solver",
                "generate_solver",
                "generate_solver",
                "sc_ensemble",
            ]
        } else {
            &["generate_solver"]
        };
        for &agent in agents {
            let body = serde_json::json!({
                "model": agent,
                "messages": [{"role": "user", "content": app_message(agent, problem, &candidates)}],
            })
            .to_string();
            let (status, _, reply) = curl(&[
                &chat,
                "-H",
                "content-type: application/json",
                "-H",
                &auth,
                "-H",
                &format!("x-flowcompile-run: {run}"),
                "-d",
                &body,
            ]);
            assert_eq!(status, 200, "{reply}");
            let reply: Value = serde_json::from_str(&reply).unwrap();
            let content = reply["choices"][0]["message"]["content"]
                .as_str()
                .unwrap_or_default();
            if agent != "programmer" {
                candidates.push(
                    flowcompile_runner::last_boxed(content)
                        .unwrap_or_default()
                        .to_string(),
                );
            }
        }
    }
    gw.terminate();

    let out = dir.path().join("app.json").display().to_string();
    let store = dir.path().join("store.sqlite").display().to_string();
    let compile = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_flowcompile"))
            .args(["compile", &shape, "--captured", &capture, "--data", &data])
            .args(["--providers", &providers, "--store", &store, "-o", &out])
            .args([
                "--models",
                "qwen3-1.7b,qwen3-8b",
                "--budgets",
                "10,200",
                "--calls-per-setting",
                "6",
            ])
            .args(extra)
            .env(KEY_VAR, KEY)
            .output()
            .unwrap()
    };
    let run = compile(&[]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{err}");
    assert!(err.contains("49 captured calls of 9 runs"), "{err}");
    assert!(
        err.contains("9 captured runs: 8 passed, 1 left out"),
        "{err}"
    );
    let artifact: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(artifact["workflow"], "math");
    assert!(!artifact["points"].as_array().unwrap().is_empty());
    // The replays are profiling calls in the store, under every setting.
    let conn = rusqlite::Connection::open(&store).unwrap();
    let settings: i64 = conn
        .query_row(
            "SELECT COUNT(DISTINCT model || budget) FROM calls WHERE agent = 'generate_solver'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(settings, 4);
    // A rerun reuses every call.
    let again = compile(&[]);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        again.status.success() && err.contains(" 0 calls run"),
        "{err}"
    );

    // A run id reused for another input: two votes in one run, where the shape makes one.
    let reused = dir.path().join("reused.sqlite");
    std::fs::copy(&capture, &reused).unwrap();
    let first_run = text.lines().next().map(|l| {
        let v: Value = serde_json::from_str(l).unwrap();
        v["unique_id"].as_str().unwrap().to_string()
    });
    rusqlite::Connection::open(&reused)
        .unwrap()
        .execute(
            "INSERT INTO captured_calls SELECT run, agent, call_index + 1, model, budget, request_json, reply, reasoning, prompt_tokens, completion_tokens, latency_s, error, created_at_unix_s FROM captured_calls WHERE run = ?1 AND agent = 'sc_ensemble'",
            [first_run.clone().unwrap()],
        )
        .unwrap();
    let bad = Command::new(env!("CARGO_BIN_EXE_flowcompile"))
        .args(["compile", &shape, "--captured"])
        .arg(&reused)
        .args([
            "--data",
            &data,
            "--providers",
            &providers,
            "--store",
            &store,
            "-o",
            &out,
        ])
        .env(KEY_VAR, KEY)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&first_run.unwrap())
            && err.contains("2 successful calls of agent `sc_ensemble`")
            && err.contains("reused"),
        "{err}"
    );

    // A shape that lacks a captured agent, and a split that lacks a run, are named.
    let fewer = std::fs::read_to_string(&shape).unwrap().replace(
        "[agents.programmer]\nrole = \"program\"\noutput = \"code:python\"\n",
        "",
    );
    let fewer = fewer.replace("[graph.nodes.maybe_program]\noptional = \"program\"\n\n[graph.nodes.program]\nseq = [\"programmer\", \"run_program\"]\n", "[graph.nodes.maybe_program]\noptional = \"run_program\"\n");
    let fewer_path = dir.path().join("fewer.toml");
    std::fs::write(&fewer_path, fewer).unwrap();
    let bad = Command::new(env!("CARGO_BIN_EXE_flowcompile"))
        .arg("compile")
        .arg(&fewer_path)
        .args([
            "--captured",
            &capture,
            "--data",
            &data,
            "--providers",
            &providers,
            "--store",
            &store,
            "-o",
            &out,
        ])
        .env(KEY_VAR, KEY)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(3), "{err}");
    assert!(
        err.contains("programmer") && err.contains("not in the shape"),
        "{err}"
    );
    let one = dir.path().join("one.jsonl");
    std::fs::write(&one, format!("{}\n", text.lines().next().unwrap())).unwrap();
    let bad = Command::new(env!("CARGO_BIN_EXE_flowcompile"))
        .args(["compile", &shape, "--captured", &capture, "--data"])
        .arg(&one)
        .args(["--providers", &providers, "--store", &store, "-o", &out])
        .env(KEY_VAR, KEY)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(3), "{err}");
    assert!(
        err.contains("captured run") && err.contains("one.jsonl"),
        "{err}"
    );
}

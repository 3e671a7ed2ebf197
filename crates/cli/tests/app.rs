//! A third-party application through `flowcompile gateway`: the LangGraph + langchain-openai math
//! app of examples/apps/math_langgraph, run on 5 GSM8K test items against a deploy gateway (an
//! artifact compiled from the example profiles) in front of the zoo's HTTP server. It runs when
//! `FLOWCOMPILE_APP_PYTHON` names a Python with the app's requirements installed (`.ci/run` makes
//! that virtualenv with scripts/app-venv.sh); otherwise it says it did not run and why.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowcompile_testsupport::ZooServer;
use flowcompile_zoo::http::ZooServeOptions;
use flowcompile_zoo::{TaskSet, Zoo, ZooConfig};
use serde_json::Value;

mod common;
use common::{path, root};

const TOKEN_VAR: &str = "FLOWCOMPILE_TEST_APP_GATEWAY_TOKEN";
const TOKEN: &str = "gw-token-app-test-3b7e";
const ITEMS: usize = 5;

/// The zoo's HTTP server (instant replies) answering the GSM8K test items, in a runtime of its own.
fn zoo() -> (tokio::runtime::Runtime, ZooServer) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let text = std::fs::read_to_string(path("examples/data/gsm8k_test.jsonl")).unwrap();
    let tasks = TaskSet::from_jsonl("gsm8k_test.jsonl", &text).unwrap();
    let zoo = Arc::new(Zoo::new(ZooConfig::default(), vec![tasks]).unwrap());
    let server = rt.block_on(ZooServer::start(zoo, ZooServeOptions::default()));
    (rt, server)
}

/// The example providers pointed at `base_url`.
fn providers(dir: &Path, base_url: &str) -> String {
    let text = std::fs::read_to_string(path("examples/providers/zoo.toml"))
        .unwrap()
        .replace("http://127.0.0.1:8000/v1", base_url);
    let file = dir.join("providers.toml");
    std::fs::write(&file, text).unwrap();
    file.display().to_string()
}

/// The README's artifact: the math workflow compiled from the example profiles.
fn compile(dir: &Path) -> String {
    let out = dir.join("math.json").display().to_string();
    let wf = path("examples/math/workflow.toml");
    let profiles = path("examples/math/profiles.csv");
    let run = common::run(dir, &["compile", &wf, "--profiles", &profiles, "-o", &out]);
    common::check(&run, 0);
    out
}

/// A running `flowcompile gateway` with its own token, stopped with SIGTERM.
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

    /// SIGTERM; asserts a clean exit and returns the access log (stderr).
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

/// GET `url` with curl (the gateway's token sent); returns the body.
fn get(url: &str) -> String {
    let auth = format!("authorization: Bearer {TOKEN}");
    let out = Command::new("curl")
        .args(["-sS", "--fail", "--max-time", "30", "-H", &auth, url])
        .output()
        .expect("curl is installed");
    assert!(
        out.status.success(),
        "GET {url} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The sum of a Prometheus counter's samples per value of its `agent` label.
fn per_agent(metrics: &str, counter: &str) -> BTreeMap<String, u64> {
    let mut sums = BTreeMap::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix(&format!("{counter}{{")) else {
            continue;
        };
        let Some(agent) = rest
            .strip_prefix("agent=\"")
            .and_then(|r| r.split('"').next())
        else {
            continue;
        };
        let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        *sums.entry(agent.to_string()).or_insert(0) += value as u64;
    }
    sums
}

#[test]
fn the_langgraph_app_runs_through_a_deploy_gateway_at_its_points() {
    let python = match std::env::var("FLOWCOMPILE_APP_PYTHON") {
        Ok(p) => p,
        Err(_) => {
            eprintln!(
                "not run: the LangGraph app test; set FLOWCOMPILE_APP_PYTHON to a python with examples/apps/math_langgraph/requirements.txt installed (.ci/run does: FLOWCOMPILE_APP_PYTHON=$(scripts/app-venv.sh))"
            );
            return;
        }
    };
    let started = Instant::now();
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
        // Weight 0.3: in this artifact a point with the refiner, the detailed solver, two
        // generic samples and the vote (the most agents a run of the app calls).
        "--preset",
        "0.3",
    ]);
    // The default point's plan: which agents a run calls and how often.
    let plan: Value =
        serde_json::from_str(&get(&format!("{}/flowcompile/plan", gw.origin))).unwrap();
    let point = plan["point"].as_str().unwrap().to_string();
    let samples = |agent: &str| plan["agents"][agent]["samples"].as_u64().unwrap_or(0);

    let results = dir.path().join("results.jsonl");
    let out = Command::new(&python)
        .arg(root().join("examples/apps/math_langgraph/app.py"))
        .args(["--data", &path("examples/data/gsm8k_test.jsonl")])
        .args([
            "--limit",
            &ITEMS.to_string(),
            "--concurrency",
            "5",
            "--json",
        ])
        .args(["--base-url", &format!("{}/v1", gw.origin)])
        .args(["--api-key-env", TOKEN_VAR])
        .arg("--out")
        .arg(&results)
        .env(TOKEN_VAR, TOKEN)
        .env_remove("OPENAI_BASE_URL")
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "the app failed:\n{stdout}\n{stderr}"
    );
    let summary: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["items"], ITEMS as u64, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    let rows = std::fs::read_to_string(&results).unwrap();
    let answered = rows
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["answer"].is_string())
        .count();
    assert_eq!(answered, ITEMS, "{rows}");

    // The gateway counted the app's agent calls, all at the run's point; the app followed the
    // plan (no call to an agent the point switches off).
    let metrics = get(&format!("{}/metrics", gw.origin));
    let calls = per_agent(&metrics, "flowcompile_gateway_calls_total");
    let drift = per_agent(&metrics, "flowcompile_gateway_structure_drift_total");
    assert!(drift.values().all(|&n| n == 0), "{metrics}");
    for agent in ["refine_solver", "detailed_solver", "generate_solver"] {
        assert_eq!(
            calls.get(agent).copied().unwrap_or(0),
            ITEMS as u64 * samples(agent),
            "{agent} at {point}: {plan}\n{metrics}"
        );
    }
    // The programmer runs only with the refiner; the vote only over two candidates or more.
    assert!(calls.get("programmer").copied().unwrap_or(0) <= ITEMS as u64 * samples("programmer"));
    assert!(calls.get("sc_ensemble").copied().unwrap_or(0) <= ITEMS as u64);
    let total: u64 = calls
        .iter()
        .filter(|(agent, _)| !agent.is_empty())
        .map(|(_, n)| n)
        .sum();
    assert!(total >= ITEMS as u64, "{metrics}");
    assert!(
        metrics.contains(&format!("point=\"{point}\",status=\"200\"")),
        "{metrics}"
    );

    let log = gw.terminate();
    assert!(!log.contains(TOKEN), "{log}");
    let routed = log
        .lines()
        .filter(|l| l.contains(" call ") && l.contains(&format!("point={point} ")))
        .count() as u64;
    assert_eq!(routed, total, "{log}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

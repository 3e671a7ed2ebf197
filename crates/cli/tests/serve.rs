//! `flowcompile serve` as a process on a free loopback port, backed by the embedded zoo, called by
//! clients nobody here wrote: `curl` (plain and streaming) and the official `openai` Python package.
//! The Python part runs when `FLOWCOMPILE_OPENAI_PYTHON` names a Python with `openai` installed
//! (`.ci/run` makes that virtualenv); otherwise it says it did not run and why.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

mod common;
use common::{path, root};

const TOKEN_VAR: &str = "FLOWCOMPILE_TEST_SERVE_TOKEN";
const TOKEN: &str = "sk-serve-cli-test-19c2";

fn gsm8k() -> String {
    path("examples/data/gsm8k_validate.jsonl")
}

fn flowcompile(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flowcompile"))
        .current_dir(dir)
        .args(args)
        .env(TOKEN_VAR, TOKEN)
        .output()
        .unwrap()
}

/// Compiles the README's example artifact into `dir/math.json`.
fn compile(dir: &Path) -> String {
    let out = dir.join("math.json").display().to_string();
    let wf = path("examples/math/workflow.toml");
    let profiles = path("examples/math/profiles.csv");
    let run = flowcompile(dir, &["compile", &wf, "--profiles", &profiles, "-o", &out]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    out
}

/// A running `flowcompile serve`, stopped with SIGTERM.
struct Serve {
    child: Option<Child>,
    base: String,
}

impl Serve {
    fn start(dir: &Path, artifact: &str) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_flowcompile"))
            .current_dir(dir)
            .args(["serve", "--workflow"])
            .arg(path("examples/math/workflow.toml"))
            .args(["--artifact", artifact, "--providers"])
            .arg(path("examples/providers/zoo.toml"))
            .args(["--zoo", "--tasks"])
            .arg(gsm8k())
            .args(["--port", "0", "--token-env", TOKEN_VAR])
            .env(TOKEN_VAR, TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.starts_with(
                "serving math (24 points; @fast, @medium, @high, @xhigh) on http://127.0.0.1:"
            ) && line.contains("zoo (synthetic)"),
            "{line}"
        );
        assert!(!line.contains(TOKEN));
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap()
            .trim_end_matches(';')
            .to_string();
        Serve {
            child: Some(child),
            base,
        }
    }

    /// Sends SIGTERM and returns the exit status and stderr.
    fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let child = self.child.take().unwrap();
        let kill = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let out = child.wait_with_output().unwrap();
        (out.status, String::from_utf8_lossy(&out.stderr).to_string())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn first_problem() -> String {
    let text = std::fs::read_to_string(gsm8k()).unwrap();
    let line: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    line["problem"].as_str().unwrap().to_string()
}

/// Runs curl; returns (HTTP status, response headers, body).
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

fn chat_body(model: &str, problem: &str, stream: bool) -> String {
    serde_json::json!({
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": problem}],
    })
    .to_string()
}

fn header<'h>(headers: &'h str, name: &str) -> &'h str {
    headers
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in {headers}"))
        .trim()
}

#[test]
fn serve_answers_curl_and_the_openai_python_client_with_points_by_preference() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = compile(dir.path());
    let server = Serve::start(dir.path(), &artifact);
    let url = format!("{}/chat/completions", server.base);
    let auth = format!("Authorization: Bearer {TOKEN}");
    let problem = first_problem();

    let mut points = Vec::new();
    for model in ["math@fast", "math@high"] {
        let body = chat_body(model, &problem, false);
        let (status, headers, text) = curl(&[
            &url,
            "-H",
            "content-type: application/json",
            "-H",
            &auth,
            "-d",
            &body,
        ]);
        assert_eq!(status, 200, "{text}");
        let reply: Value = serde_json::from_str(&text).unwrap();
        let info = &reply["flowcompile"];
        assert_eq!(header(&headers, "x-flowcompile-point"), info["point"]);
        assert!(!reply["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .is_empty());
        assert!(reply["usage"]["total_tokens"].as_u64().unwrap() > 0);
        points.push((
            info["point"].as_str().unwrap().to_string(),
            info["predicted"]["accuracy"].as_f64().unwrap(),
        ));
    }
    assert_ne!(points[0].0, points[1].0, "{points:?}");
    assert!(points[0].1 < points[1].1, "{points:?}");

    let body = chat_body("math@high", &problem, true);
    let (status, headers, text) = curl(&[
        "-N",
        &url,
        "-H",
        "content-type: application/json",
        "-H",
        &auth,
        "-d",
        &body,
    ]);
    assert_eq!(status, 200, "{text}");
    assert!(header(&headers, "content-type").starts_with("text/event-stream"));
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(data.last(), Some(&"[DONE]"), "{text}");
    let last: Value = serde_json::from_str(data[data.len() - 2]).unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["flowcompile"]["point"], points[1].0.as_str());

    let body = chat_body("math@fast", &problem, false);
    let (status, _, text) = curl(&[&url, "-H", "content-type: application/json", "-d", &body]);
    assert_eq!(status, 401, "{text}");
    let (status, _, text) = curl(&[
        &url,
        "-H",
        "content-type: application/json",
        "-H",
        &auth,
        "-d",
        "{\"model\": ",
    ]);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("malformed JSON"), "{text}");
    let metrics_url = server.base.replace("/v1", "/metrics");
    let (status, _, metrics) = curl(&[&metrics_url]);
    assert_eq!(status, 200);
    assert!(metrics.contains(&format!(
        "flowcompile_requests_total{{workflow=\"math\",point=\"{}\",status=\"200\"}} 1",
        points[0].0
    )));

    match std::env::var("FLOWCOMPILE_OPENAI_PYTHON") {
        Err(_) => eprintln!(
            "not run: the openai Python client part; set FLOWCOMPILE_OPENAI_PYTHON to a python with `openai` installed (.ci/run does: pip install openai prometheus-client)"
        ),
        Ok(python) => {
            let out = Command::new(&python)
                .arg(root().join("crates/cli/tests/serve_openai.py"))
                .arg(&server.base)
                .arg(&problem)
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
            assert_eq!(summary["points"]["math@fast"], points[0].0.as_str());
            assert_eq!(summary["points"]["math@high"], points[1].0.as_str());
            assert_eq!(
                summary["errors"]["unknown_model"],
                serde_json::json!([404, "model_not_found"])
            );
            assert_eq!(summary["errors"]["unsatisfiable"][0], 422);
            assert!(summary["errors"]["unsatisfiable"][1]
                .as_str()
                .unwrap()
                .contains("nearest: "));
            assert_eq!(
                summary["errors"]["out_of_range"],
                serde_json::json!([400, "model"])
            );
            assert_eq!(
                summary["errors"]["wrong_token"],
                serde_json::json!([401, "invalid_api_key"])
            );
            eprintln!("openai {} client: {summary}", summary["openai_version"]);
        }
    }

    let (status, stderr) = server.terminate();
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(
        stderr.contains("stopped: the requests in flight were answered"),
        "{stderr}"
    );
    assert!(!stderr.contains(TOKEN));
}

#[test]
fn serve_refuses_bad_setups_with_input_errors() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = compile(dir.path());
    let wf = path("examples/math/workflow.toml");
    let hotpot = path("examples/hotpotqa/workflow.toml");
    let providers = path("examples/providers/zoo.toml");
    let cases: [(Vec<&str>, &str); 6] = [
        (
            vec![
                "serve",
                "--workflow",
                &wf,
                "--workflow",
                &wf,
                "--artifact",
                &artifact,
                "--providers",
                &providers,
            ],
            "2 --workflow and 1 --artifact given",
        ),
        (
            vec![
                "serve",
                "--workflow",
                &hotpot,
                "--artifact",
                &artifact,
                "--providers",
                &providers,
            ],
            "the artifact was compiled for workflow `math`, not `hotpotqa`",
        ),
        (
            vec![
                "serve",
                "--workflow",
                &wf,
                "--artifact",
                &artifact,
                "--providers",
                &providers,
                "--token-env",
                "FLOWCOMPILE_TEST_UNSET_VAR",
            ],
            "the environment variable FLOWCOMPILE_TEST_UNSET_VAR is not set or empty",
        ),
        (
            vec![
                "serve",
                "--workflow",
                &wf,
                "--artifact",
                &artifact,
                "--providers",
                &providers,
                "--timeout-s",
                "0",
            ],
            "--timeout-s 0.0: expected a number of seconds above 0 and at most 86400",
        ),
        (
            vec![
                "serve",
                "--workflow",
                &wf,
                "--artifact",
                &artifact,
                "--providers",
                &providers,
                "--timeout-s",
                "1e300",
            ],
            "--timeout-s 1e300: expected a number of seconds above 0 and at most 86400",
        ),
        (
            vec![
                "serve",
                "--workflow",
                &wf,
                "--artifact",
                &artifact,
                "--providers",
                &providers,
                "--max-body-bytes",
                "0",
            ],
            "--max-body-bytes 0: expected a number of bytes above 0",
        ),
    ];
    for (args, says) in cases {
        let out = flowcompile(dir.path(), &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let help = flowcompile(dir.path(), &["serve", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("math@fast") && help.contains("curl -s localhost:8080/v1/chat/completions")
    );
}

//! `flowcompile test`: held-out validation of a compiled artifact against the zoo.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

mod common;
use common::{check, path, root, run};

fn gsm8k_test() -> String {
    root()
        .join("examples/data/gsm8k_test.jsonl")
        .display()
        .to_string()
}

/// Compiles the example math workflow from its profiles into `dir/math.json`.
fn compile_math(dir: &Path) {
    let wf = path("examples/math/workflow.toml");
    let profiles = path("examples/math/profiles.csv");
    check(
        &run(
            dir,
            &["compile", &wf, "--profiles", &profiles, "-o", "math.json"],
        ),
        0,
    );
}

/// `flowcompile test` of the math workflow with `extra` flags.
fn test_math(dir: &Path, providers: &str, data: &str, extra: &[&str]) -> Output {
    let wf = path("examples/math/workflow.toml");
    let mut args = vec![
        "test",
        wf.as_str(),
        "--artifact",
        "math.json",
        "--providers",
        providers,
        "--data",
        data,
    ];
    args.extend_from_slice(extra);
    run(dir, &args)
}

#[track_caller]
fn in_range(v: &Value, lo: f64, hi: f64) -> f64 {
    let x = v
        .as_f64()
        .unwrap_or_else(|| panic!("{v} is not a finite number"));
    assert!(
        x.is_finite() && (lo..=hi).contains(&x),
        "{x} not in [{lo}, {hi}]"
    );
    x
}

#[test]
fn test_measures_points_on_the_zoo_and_reuses_the_store() {
    let dir = tempfile::tempdir().unwrap();
    compile_math(dir.path());
    let providers = path("examples/providers/zoo.toml");
    let data = gsm8k_test();
    let flags = [
        "--zoo",
        "--limit",
        "20",
        "--max-points",
        "4",
        "--json",
        "-o",
        "validation.json",
    ];
    let (stdout, _) = check(&test_math(dir.path(), &providers, &data, &flags), 0);
    // The document parses strictly into the validation types (unknown keys are refused).
    let typed: flowcompile_validate::Validation = serde_json::from_str(&stdout).unwrap();
    assert_eq!(typed.points.len(), 4);
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["format"], "flowcompile.validation.v1");
    assert_eq!(doc["workflow"], "math");
    assert_eq!(doc["data"], "gsm8k_test.jsonl");
    assert_eq!(doc["n_items"], 20);
    assert_eq!(doc["models_label"], "zoo (synthetic)");
    assert_eq!(doc["latency_source"], "modelled");
    assert_eq!(doc["execution"], "parallel");
    assert_eq!(doc["artifact_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(
        doc["runs"],
        serde_json::json!({"total": 80, "reused": 0, "new": 80, "failed": 0})
    );
    // Four points spread along the 24-point frontier: both ends and two between, in order.
    let artifact: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("math.json")).unwrap())
            .unwrap();
    let n_frontier = artifact["points"].as_array().unwrap().len();
    let points = doc["points"].as_array().unwrap();
    let ids: Vec<&str> = points.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 4);
    assert_eq!(ids[0], "p0");
    assert_eq!(ids[3], format!("p{}", n_frontier - 1));
    for p in points {
        let id = p["id"].as_str().unwrap();
        let in_artifact = artifact["points"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == id)
            .unwrap();
        assert_eq!(
            p["predicted"]["accuracy"],
            in_artifact["predicted"]["accuracy"]
        );
        assert_eq!(
            p["predicted"]["latency_s"],
            in_artifact["predicted"]["latency_s"]
        );
        assert_eq!(p["structure"], in_artifact["structure"]["index"]);
        let m = &p["measured"];
        assert_eq!(
            (m["n"].as_u64(), m["n_failed"].as_u64()),
            (Some(20), Some(0))
        );
        in_range(&m["accuracy"], 0.0, 1.0);
        let mean = in_range(&m["latency_s"], 0.0, 1e4);
        let p50 = in_range(&m["latency_p50_s"], 0.0, 1e4);
        let p95 = in_range(&m["latency_p95_s"], p50, 1e4);
        assert!(mean > 0.0 && p95 >= p50, "{m}");
        in_range(&m["tokens_mean"], 1.0, 1e6);
    }
    // The zoo makes the fastest point a single small call and the slowest a long-thinking one.
    let lat = |i: usize| points[i]["measured"]["latency_s"].as_f64().unwrap();
    assert!(lat(3) > lat(0), "{stdout}");
    for metric in ["accuracy", "latency"] {
        let f = &doc["fidelity"][metric];
        assert_eq!(f["n_points"], 4);
        in_range(&f["spearman"], -1.0, 1.0);
        in_range(&f["pairwise_agreement"], 0.0, 1.0);
        in_range(&f["mae"], 0.0, 1e4);
        in_range(&f["mae_calibrated"], 0.0, 1e4);
        in_range(&f["affine"]["slope"], -1e6, 1e6);
        in_range(&f["affine"]["intercept"], -1e6, 1e6);
        assert!(f["n_pairs"].as_u64().unwrap() <= 6);
    }
    // The file written with -o is the printed document.
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("validation.json")).unwrap())
            .unwrap();
    assert_eq!(written, doc);

    // A rerun finds every (point, item) run in the store: no model call, the same measurements.
    let (stdout, _) = check(&test_math(dir.path(), &providers, &data, &flags), 0);
    let again: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        again["runs"],
        serde_json::json!({"total": 80, "reused": 80, "new": 0, "failed": 0})
    );
    assert_eq!(again["points"], doc["points"]);
    assert_eq!(again["fidelity"], doc["fidelity"]);

    // `eval` of one of those points shares the store's results with `test`.
    let wf = path("examples/math/workflow.toml");
    let out = run(
        dir.path(),
        &[
            "eval",
            &wf,
            "--providers",
            &providers,
            "--zoo",
            "--data",
            &data,
            "--limit",
            "20",
            "--artifact",
            "math.json",
            "--point",
            ids[1],
        ],
    );
    let (_, stderr) = check(&out, 0);
    assert!(stderr.contains("(20 items, 20 already in"), "{stderr}");

    // The same points under a sequential proxy: the same stored runs, each item's calls summed, so
    // a structure with parallel branches measures slower and a single-path one the same.
    let sequential = std::fs::read_to_string(dir.path().join("math.json"))
        .unwrap()
        .replace(
            "\"execution\": \"parallel\"",
            "\"execution\": \"sequential\"",
        );
    assert!(sequential.contains("\"sequential\""));
    std::fs::write(dir.path().join("math.json"), sequential).unwrap();
    let (stdout, _) = check(&test_math(dir.path(), &providers, &data, &flags), 0);
    let seq: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(seq["execution"], "sequential");
    assert_eq!(seq["runs"]["new"], 0);
    let space: Value = serde_json::from_str(
        &check(
            &run(dir.path(), &["space", &wf, "--structures", "--json"]),
            0,
        )
        .0,
    )
    .unwrap();
    let mut n_parallel = 0;
    for (p, s) in doc["points"]
        .as_array()
        .unwrap()
        .iter()
        .zip(seq["points"].as_array().unwrap())
    {
        let par_lat = p["measured"]["latency_s"].as_f64().unwrap();
        let seq_lat = s["measured"]["latency_s"].as_f64().unwrap();
        let structure = &space["structures"][p["structure"].as_u64().unwrap() as usize];
        if structure_has_parallel_calls(structure) {
            n_parallel += 1;
            assert!(seq_lat > par_lat + 1e-9, "{p} vs {s}");
        } else {
            assert!((seq_lat - par_lat).abs() < 1e-9, "{p} vs {s}");
        }
    }
    assert!(
        n_parallel > 0,
        "no point with parallel branches among {ids:?}"
    );
}

#[test]
fn the_text_report_names_points_and_the_fidelity_table() {
    let dir = tempfile::tempdir().unwrap();
    compile_math(dir.path());
    let providers = path("examples/providers/zoo.toml");
    let out = test_math(
        dir.path(),
        &providers,
        &gsm8k_test(),
        &["--zoo", "--limit", "5", "--points", "p2,p0"],
    );
    let (stdout, _) = check(&out, 0);
    assert!(
        stdout.contains("latency measured: the server's modelled seconds"),
        "{stdout}"
    );
    let p0 = stdout.find("\np0 ").expect("a p0 row");
    let p2 = stdout.find("\np2 ").expect("a p2 row");
    assert!(p0 < p2, "points come in artifact order:\n{stdout}");
    assert!(
        stdout.contains("\naccuracy ") && stdout.contains("\nlatency "),
        "{stdout}"
    );
    assert!(
        stdout.contains("spearman") && stdout.contains("mae (cal)"),
        "{stdout}"
    );
}

#[test]
fn a_workflow_edited_since_compiling_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    compile_math(dir.path());
    let edited = format!(
        "{}\n# edited after compiling\n",
        std::fs::read_to_string(root().join("examples/math/workflow.toml")).unwrap()
    );
    std::fs::write(dir.path().join("math.toml"), edited).unwrap();
    let providers = path("examples/providers/zoo.toml");
    let data = gsm8k_test();
    let out = run(
        dir.path(),
        &[
            "test",
            "math.toml",
            "--artifact",
            "math.json",
            "--providers",
            &providers,
            "--data",
            &data,
            "--zoo",
            "--limit",
            "2",
            "--points",
            "p0",
        ],
    );
    let (_, stderr) = check(&out, 0);
    assert!(
        stderr.contains("warning: math.toml changed since math.json was compiled"),
        "{stderr}"
    );
}

#[test]
fn bad_input_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    compile_math(dir.path());
    let providers = path("examples/providers/zoo.toml");
    let data = gsm8k_test();

    // An artifact of another workflow.
    let hotpot = path("examples/hotpotqa/workflow.toml");
    let hotpot_profiles = path("examples/hotpotqa/profiles.csv");
    check(
        &run(
            dir.path(),
            &[
                "compile",
                &hotpot,
                "--profiles",
                &hotpot_profiles,
                "-o",
                "hotpotqa.json",
            ],
        ),
        0,
    );
    let wf = path("examples/math/workflow.toml");
    let out = run(
        dir.path(),
        &[
            "test",
            &wf,
            "--artifact",
            "hotpotqa.json",
            "--providers",
            &providers,
            "--data",
            &data,
            "--zoo",
        ],
    );
    let (_, stderr) = check(&out, 3);
    assert!(
        stderr.contains("hotpotqa.json was compiled for workflow 'hotpotqa', not 'math'"),
        "{stderr}"
    );

    // An unknown point id.
    let out = test_math(
        dir.path(),
        &providers,
        &data,
        &["--zoo", "--points", "p0,p99"],
    );
    let (_, stderr) = check(&out, 3);
    assert!(
        stderr.contains("math.json has no point 'p99' (it has p0..p"),
        "{stderr}"
    );

    // A split without the gold answer field.
    let lines: String = std::fs::read_to_string(&data)
        .unwrap()
        .lines()
        .take(3)
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("answer");
            format!("{v}\n")
        })
        .collect();
    std::fs::write(dir.path().join("unlabelled.jsonl"), lines).unwrap();
    let out = test_math(dir.path(), &providers, "unlabelled.jsonl", &["--zoo"]);
    let (_, stderr) = check(&out, 3);
    assert!(
        stderr.contains("unlabelled.jsonl:1: skipped: no 'answer' field (the gold answer)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("unlabelled.jsonl: no item to run (3 bad lines"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    // Zero points is a usage error.
    let out = test_math(
        dir.path(),
        &providers,
        &data,
        &["--zoo", "--max-points", "0"],
    );
    check(&out, 2);
}

/// Whether a math structure (as `flowcompile space --structures --json` lists it) runs calls in
/// parallel: the vote runs only on two or more candidates, which the solvers produce concurrently.
fn structure_has_parallel_calls(structure: &Value) -> bool {
    structure["slots"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == "sc_ensemble")
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `flowcompile zoo serve` on `port` (0: any) and returns it with its `host:port/v1`.
fn serve_zoo(port: u16) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowcompile"))
        .args([
            "zoo",
            "serve",
            "--port",
            &port.to_string(),
            "--tasks",
            &gsm8k_test(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split("http://")
        .nth(1)
        .unwrap_or_else(|| panic!("no url in {line:?}"))
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    (Server(child), url)
}

#[test]
fn failed_runs_are_counted_left_out_and_retried_by_a_rerun() {
    let dir = tempfile::tempdir().unwrap();
    compile_math(dir.path());
    let (_server, url) = serve_zoo(0);
    // qwen3-14b gets an endpoint of its own on a free port where nothing listens yet.
    let port = flowcompile_testsupport::free_port();
    let providers = std::fs::read_to_string(root().join("examples/providers/zoo.toml"))
        .unwrap()
        .replace("http://127.0.0.1:8000/v1", &format!("http://{url}"))
        .replace(
            "model = \"zoo-14b\"",
            &format!(
                "model = \"zoo-14b\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\nmax_retries = 0"
            ),
        );
    std::fs::write(dir.path().join("providers.toml"), providers).unwrap();
    let artifact: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("math.json")).unwrap())
            .unwrap();
    let uses_14b = |p: &Value| {
        p["settings"]
            .as_object()
            .unwrap()
            .values()
            .any(|s| s["model"] == "qwen3-14b")
    };
    let points = artifact["points"].as_array().unwrap();
    let broken = points.iter().find(|p| uses_14b(p)).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let working: Vec<String> = points
        .iter()
        .filter(|p| !uses_14b(p))
        .take(2)
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    let chosen = format!("{},{},{broken}", working[0], working[1]);
    let flags = ["--limit", "3", "--points", &chosen, "--json"];
    let (stdout, stderr) = check(
        &test_math(dir.path(), "providers.toml", &gsm8k_test(), &flags),
        0,
    );
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        doc["runs"],
        serde_json::json!({"total": 9, "reused": 0, "new": 9, "failed": 3})
    );
    // Served by a separate zoo: its modelled latencies say what the models are.
    assert_eq!(doc["models_label"], "zoo (synthetic)");
    let measured = |doc: &Value| {
        doc["points"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == broken.as_str())
            .unwrap()["measured"]
            .clone()
    };
    let m = measured(&doc);
    assert_eq!(
        (m["n"].as_u64(), m["n_failed"].as_u64()),
        (Some(3), Some(3))
    );
    assert!(m["accuracy"].is_null() && m["latency_s"].is_null(), "{m}");
    assert!(
        stderr.contains(&format!("warning: {broken}: 3 of 3 runs failed"))
            && stderr.contains("qwen3-14b"),
        "{stderr}"
    );
    // Fidelity is over the two measured points only.
    assert_eq!(doc["fidelity"]["accuracy"]["n_points"], 2);
    assert_eq!(doc["fidelity"]["latency"]["n_points"], 2);

    // The endpoint comes up: a rerun runs the failed items again, and only those.
    let (_second, second_url) = serve_zoo(port);
    assert!(second_url.contains(&format!(":{port}/")), "{second_url}");
    let (stdout, _) = check(
        &test_math(dir.path(), "providers.toml", &gsm8k_test(), &flags),
        0,
    );
    let again: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        again["runs"],
        serde_json::json!({"total": 9, "reused": 6, "new": 3, "failed": 0})
    );
    let m = measured(&again);
    assert_eq!(m["n_failed"], 0);
    in_range(&m["accuracy"], 0.0, 1.0);
    assert_eq!(again["fidelity"]["accuracy"]["n_points"], 3);
}

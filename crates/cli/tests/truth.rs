//! `flowcompile truth`: the true frontier of a small hotpotqa space and a compiled artifact scored
//! against it.

use std::path::Path;
use std::process::Output;

mod common;
use common::{check, path, run};

/// `truth` on hotpotqa with the example zoo providers and the given extra arguments.
fn truth(dir: &Path, extra: &[&str]) -> Output {
    let (wf, data, providers) = (
        path("examples/hotpotqa/workflow.toml"),
        path("examples/data/hotpotqa_validate.jsonl"),
        path("examples/providers/zoo.toml"),
    );
    let mut args = vec!["truth", &wf, "--data", &data, "--providers", &providers];
    args.extend_from_slice(extra);
    run(dir, &args)
}

fn compile(dir: &Path, budgets: &str, out: &str) {
    let (wf, profiles) = (
        path("examples/hotpotqa/workflow.toml"),
        path("examples/hotpotqa/profiles.csv"),
    );
    check(
        &run(
            dir,
            &[
                "compile",
                &wf,
                "-p",
                &profiles,
                "--models",
                "qwen3-1.7b,qwen3-14b",
                "--budgets",
                budgets,
                "-o",
                out,
            ],
        ),
        0,
    );
}

#[test]
fn a_space_over_the_limit_is_refused_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let out = truth(
        dir.path(),
        &[
            "--models",
            "qwen3-0.6b,qwen3-14b",
            "--budgets",
            "10,100",
            "--max-configs",
            "179",
        ],
    );
    let (_, stderr) = check(&out, 3);
    assert!(
        stderr.contains("the space has 180 configurations, more than the limit of 179"),
        "{stderr}"
    );
    assert!(!dir.path().join(".flowcompile/hotpotqa.truth.json").exists());
    let (_, stderr) = check(&truth(dir.path(), &["--budgets", "10,123"]), 3);
    assert!(
        stderr.contains("budget 123 is not in the design space"),
        "{stderr}"
    );
}

#[test]
fn a_compiled_artifact_is_scored_against_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    compile(dir.path(), "100", "small.json");
    let (stdout, _) = check(
        &truth(
            dir.path(),
            &[
                "--models",
                "qwen3-1.7b,qwen3-14b",
                "--budgets",
                "100",
                "--limit",
                "6",
                "--compare",
                "small.json",
                "--json",
                "-o",
                "truth.json",
            ],
        ),
        0,
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("truth.json")).unwrap())
            .unwrap();
    assert_eq!(doc, written);
    assert_eq!(doc["format"], "flowcompile.truth.v1");
    assert_eq!(doc["models_label"], "zoo (synthetic)");
    assert_eq!(
        (doc["n_configs"].as_u64(), doc["n_items"].as_u64()),
        (Some(30), Some(6))
    );
    let frontier = doc["frontier"].as_array().unwrap();
    assert!(!frontier.is_empty());
    for w in frontier.windows(2) {
        assert!(w[0]["latency_s"].as_f64() < w[1]["latency_s"].as_f64());
        assert!(w[0]["accuracy"].as_f64() < w[1]["accuracy"].as_f64());
    }
    let uniform = &doc["best_uniform"];
    assert_eq!(uniform["structure"], 5);
    let c = &doc["comparison"];
    let ratio = c["hypervolume_ratio"].as_f64().unwrap();
    assert!(ratio > 0.0 && ratio <= 1.0 + 1e-12, "{c}");
    let (hv_c, hv_t) = (
        c["hypervolume_compiled"].as_f64().unwrap(),
        c["hypervolume_true"].as_f64().unwrap(),
    );
    assert!((hv_c / hv_t - ratio).abs() < 1e-12);
    assert_eq!(hv_t, doc["hypervolume"].as_f64().unwrap());
    let points = c["points"].as_array().unwrap();
    let artifact: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("small.json")).unwrap())
            .unwrap();
    assert_eq!(points.len(), artifact["points"].as_array().unwrap().len());
    if let Some(speedup) = c["speedup_at_matched_accuracy"].as_f64() {
        let id = c["matched_point"].as_str().unwrap();
        let p = points.iter().find(|p| p["id"] == id).unwrap();
        assert!(p["measured"]["accuracy"].as_f64() >= uniform["accuracy"].as_f64());
        let expected =
            uniform["latency_s"].as_f64().unwrap() / p["measured"]["latency_s"].as_f64().unwrap();
        assert!((speedup - expected).abs() < 1e-9 * expected);
    } else {
        assert!(c["matched_point"].is_null());
        assert!(points
            .iter()
            .all(|p| p["measured"]["accuracy"].as_f64() < uniform["accuracy"].as_f64()));
    }

    // An artifact of another space fails before anything runs.
    compile(dir.path(), "100,1000", "wider.json");
    let (_, stderr) = check(
        &truth(
            dir.path(),
            &[
                "--models",
                "qwen3-1.7b,qwen3-14b",
                "--budgets",
                "100",
                "--compare",
                "wider.json",
            ],
        ),
        3,
    );
    assert!(
        stderr.contains("is not a configuration of the measured space"),
        "{stderr}"
    );
}

//! The `flowcompile` binary as a user runs it: commands, outputs, exit codes, error messages.

use std::path::{Path, PathBuf};

mod common;
use common::{check, root, run};

fn example(name: &str, file: &str) -> String {
    root()
        .join("examples")
        .join(name)
        .join(file)
        .display()
        .to_string()
}

fn compile_hotpotqa(dir: &Path) -> PathBuf {
    let wf = example("hotpotqa", "workflow.toml");
    let profiles = example("hotpotqa", "profiles.csv");
    let (stdout, _) = check(
        &run(
            dir,
            &["compile", &wf, "--profiles", &profiles, "-o", "a.json"],
        ),
        0,
    );
    assert!(stdout.contains("1,043,280 configurations"), "{stdout}");
    dir.join("a.json")
}

#[test]
fn space_prints_the_papers_hotpotqa_count() {
    let dir = tempfile::tempdir().unwrap();
    let (stdout, _) = check(
        &run(
            dir.path(),
            &["space", &example("hotpotqa", "workflow.toml"), "--json"],
        ),
        0,
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["n_configs"], "1043280");
    assert_eq!(v["n_structures"], 6);
}

#[test]
fn compile_show_select_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = compile_hotpotqa(dir.path());
    let a = artifact.display().to_string();
    let (stdout, _) = check(&run(dir.path(), &["show", &a, "--json"]), 0);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let points = v["points"].as_array().unwrap();
    assert!(points.len() >= 5, "{} points", points.len());
    assert_eq!(v["format"], "flowcompile.artifact.v2");
    let (plot, _) = check(&run(dir.path(), &["show", &a, "--plot"]), 0);
    assert!(plot.contains("latency (s)") && plot.contains('*'));

    let pick = |args: &[&str]| -> serde_json::Value {
        let mut full = vec!["select", a.as_str(), "--json"];
        full.extend_from_slice(args);
        let (stdout, _) = check(&run(dir.path(), &full), 0);
        serde_json::from_str(&stdout).unwrap()
    };
    let fast = pick(&["--prefer", "low"]);
    let high = pick(&["--prefer", "high"]);
    assert_eq!(fast["id"], points[0]["id"], "low picks the fastest point");
    assert!(high["predicted"]["accuracy"].as_f64() > fast["predicted"]["accuracy"].as_f64());
    let limited = pick(&["--max-latency", "5"]);
    assert!(limited["predicted"]["latency_s"].as_f64().unwrap() <= 5.0);
    let good = pick(&["--min-accuracy", "0.8"]);
    assert!(good["predicted"]["accuracy"].as_f64().unwrap() >= 0.8);
}

#[test]
fn impossible_constraints_exit_4_and_name_the_nearest_points() {
    let dir = tempfile::tempdir().unwrap();
    let a = compile_hotpotqa(dir.path()).display().to_string();
    let (_, stderr) = check(
        &run(
            dir.path(),
            &[
                "select",
                &a,
                "--min-accuracy",
                "0.999",
                "--max-latency",
                "1",
            ],
        ),
        4,
    );
    assert!(stderr.contains("nearest"), "{stderr}");
}

#[test]
fn a_bad_workflow_exits_3_with_a_located_diagnostic() {
    let dir = tempfile::tempdir().unwrap();
    let bad = root()
        .join("fuzz/corpus/workflow/cycle.toml")
        .display()
        .to_string();
    let (_, stderr) = check(&run(dir.path(), &["space", &bad]), 3);
    assert!(
        stderr.contains("cycle in the graph: x -> y -> x"),
        "{stderr}"
    );
    assert!(stderr.contains("cycle.toml"), "{stderr}");
}

#[test]
fn a_profile_missing_a_setting_exits_3_and_keeps_the_old_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = compile_hotpotqa(dir.path());
    let before = std::fs::read(&artifact).unwrap();
    let full = std::fs::read_to_string(example("hotpotqa", "profiles.csv")).unwrap();
    let cut: String = full
        .lines()
        .filter(|l| !l.starts_with("sc_ensemble,qwen3-4b,300,"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.path().join("cut.csv"), cut).unwrap();
    let wf = example("hotpotqa", "workflow.toml");
    let (_, stderr) = check(
        &run(
            dir.path(),
            &["compile", &wf, "--profiles", "cut.csv", "-o", "a.json"],
        ),
        3,
    );
    assert!(
        stderr.contains("sc_ensemble") && stderr.contains("qwen3-4b") && stderr.contains("300"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&artifact).unwrap(),
        before,
        "a failed compile must not touch the artifact"
    );
}

#[test]
fn a_malformed_profile_line_is_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read_to_string(example("hotpotqa", "profiles.csv")).unwrap();
    let mut lines: Vec<String> = full.lines().map(String::from).collect();
    lines[5] = lines[5].replacen(",100,", ",abc,", 1);
    std::fs::write(dir.path().join("bad.csv"), lines.join("\n")).unwrap();
    let wf = example("hotpotqa", "workflow.toml");
    let (_, stderr) = check(
        &run(dir.path(), &["compile", &wf, "--profiles", "bad.csv"]),
        3,
    );
    assert!(stderr.contains("bad.csv:6"), "{stderr}");
}

#[test]
fn every_example_compiles_under_both_execution_models_and_latency_sources() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["hotpotqa", "math", "code"] {
        for exec in ["parallel", "sequential"] {
            for latency in ["measured", "tokens"] {
                let out = run(
                    dir.path(),
                    &[
                        "compile",
                        &example(name, "workflow.toml"),
                        "--profiles",
                        &example(name, "profiles.csv"),
                        "--throughput",
                        &example(name, "throughput.csv"),
                        "--execution",
                        exec,
                        "--latency",
                        latency,
                        "--json",
                        "-o",
                        "x.json",
                    ],
                );
                let (stdout, _) = check(&out, 0);
                let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
                assert!(
                    v["n_points"].as_u64().unwrap() >= 2,
                    "{name} {exec} {latency}: {stdout}"
                );
            }
        }
    }
}

#[test]
fn the_prototypes_v2_files_can_be_shown_and_selected_from() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = root().join("crates/artifact/tests/fixtures");
    let v2 = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a v2 fixture");
    let v2 = v2.display().to_string();
    let (stdout, _) = check(&run(dir.path(), &["show", &v2]), 0);
    assert!(stdout.contains("imported from"), "{stdout}");
    check(&run(dir.path(), &["select", &v2, "--prefer", "medium"]), 0);
}

#[test]
fn schemas_are_printed_as_json() {
    let dir = tempfile::tempdir().unwrap();
    for kind in ["workflow", "artifact", "validation", "truth", "router"] {
        let (stdout, _) = check(&run(dir.path(), &["schema", kind]), 0);
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert!(
            v.get("properties").is_some() || v.get("$defs").is_some(),
            "{kind}"
        );
    }
}

#[test]
fn bad_selection_flags_are_usage_errors_and_fast_is_the_fastest_point() {
    let dir = tempfile::tempdir().unwrap();
    let a = compile_hotpotqa(dir.path()).display().to_string();
    // A flag value out of its range is a usage error (2) naming what is accepted.
    let (_, stderr) = check(&run(dir.path(), &["select", &a, "--prefer", "fastest"]), 2);
    assert!(
        stderr.contains("fast or low") && stderr.contains("xhigh"),
        "{stderr}"
    );
    check(&run(dir.path(), &["select", &a, "--prefer", "2"]), 2);
    check(
        &run(dir.path(), &["select", &a, "--min-accuracy", "1.01"]),
        2,
    );
    check(&run(dir.path(), &["select", &a, "--max-latency", "-1"]), 2);
    // `fast` (and `low`) pick the minimum-latency point, p0 (points are sorted by latency).
    for preset in ["fast", "low"] {
        let (stdout, _) = check(
            &run(dir.path(), &["select", &a, "--prefer", preset, "--json"]),
            0,
        );
        let p: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(p["id"], "p0", "{preset}");
    }
}

#[test]
fn profile_rows_of_agents_the_workflow_lacks_are_named_in_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut profiles = std::fs::read_to_string(example("math", "profiles.csv")).unwrap();
    profiles.push_str("renamed_solver,qwen3-8b,400,0.9,10,1.0,100,100\n");
    profiles.push_str("renamed_solver,qwen3-8b,800,0.9,10,1.5,100,200\n");
    std::fs::write(dir.path().join("p.csv"), profiles).unwrap();
    let wf = example("math", "workflow.toml");
    let (_, stderr) = check(
        &run(
            dir.path(),
            &["compile", &wf, "--profiles", "p.csv", "-o", "a.json"],
        ),
        0,
    );
    assert!(
        stderr.contains("the profiles have rows for agents math does not have: renamed_solver"),
        "{stderr}"
    );
}

#[test]
fn a_graph_at_the_depth_limit_compiles_and_one_past_it_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let chain = |depth: usize| {
        let mut text = String::from(
            "name = \"deep\"\n[space]\nmodels = [\"m\"]\nbudgets = [0]\n[agents.a]\nprompt = \"{{ question }}\"\n[graph]\nroot = \"n0\"\n",
        );
        for i in 0..depth {
            let next = if i + 1 == depth {
                "a".to_string()
            } else {
                format!("n{}", i + 1)
            };
            text.push_str(&format!("[graph.nodes.n{i}]\nseq = [\"{next}\"]\n"));
        }
        text
    };
    let limit = flowcompile_spec::MAX_DEPTH;
    std::fs::write(dir.path().join("ok.toml"), chain(limit)).unwrap();
    std::fs::write(dir.path().join("deep.toml"), chain(10_000)).unwrap();
    std::fs::write(
        dir.path().join("p.csv"),
        "agent,model,budget,accuracy,samples,latency_s,input_tokens,output_tokens\na,m,0,0.5,10,1.0,10,10\n",
    )
    .unwrap();
    let compile = ["compile", "ok.toml", "--profiles", "p.csv", "-o", "ok.json"];
    check(&run(dir.path(), &compile), 0);
    for cmd in [
        &["space", "deep.toml"][..],
        &["compile", "deep.toml", "--profiles", "p.csv"],
    ] {
        let (_, stderr) = check(&run(dir.path(), cmd), 3);
        assert!(
            stderr.contains(&format!("past the limit of {limit}")),
            "{stderr}"
        );
    }
}

#[test]
fn measuring_without_saying_where_the_models_are_is_a_usage_error_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let wf = example("math", "workflow.toml");
    let data = root().join("examples/data/gsm8k_validate.jsonl");
    let (_, stderr) = check(
        &run(
            dir.path(),
            &["compile", &wf, "--data", &data.display().to_string()],
        ),
        2,
    );
    assert!(
        stderr.contains("--providers") && stderr.contains("--zoo"),
        "{stderr}"
    );
}

#[test]
fn induce_and_profile_without_data_are_usage_errors_naming_the_alternatives() {
    let dir = tempfile::tempdir().unwrap();
    let wf = example("math", "workflow.toml");
    for command in ["induce", "profile"] {
        let (_, stderr) = check(&run(dir.path(), &[command, &wf, "--zoo"]), 2);
        for named in ["--data", "--providers", "--zoo", "--profiles"] {
            assert!(stderr.contains(named), "{command}: {stderr}");
        }
        assert!(stderr.contains("Usage: flowcompile"), "{command}: {stderr}");
    }
}

#[test]
fn completions_are_printed_for_each_shell() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let (stdout, _) = check(&run(dir.path(), &["completions", shell]), 0);
        assert!(
            stdout.contains("compile") && stdout.contains("--profiles"),
            "{shell}: {stdout}"
        );
    }
}

#[test]
fn progress_goes_to_a_log_as_lines_and_quiet_silences_notes() {
    let dir = tempfile::tempdir().unwrap();
    let wf = example("math", "workflow.toml");
    let data = root().join("examples/data/gsm8k_validate.jsonl");
    let data = data.display().to_string();
    let args = [
        "induce", &wf, "--data", &data, "--zoo", "--limit", "4", "--store", "s.sqlite",
    ];
    let (_, stderr) = check(&run(dir.path(), &args), 0);
    assert!(stderr.contains("induce: math on"), "{stderr}");
    let mut quiet = args.to_vec();
    quiet.push("-q");
    let (stdout, stderr) = check(&run(dir.path(), &quiet), 0);
    assert!(stderr.is_empty(), "{stderr}");
    assert!(stdout.contains("induced"), "{stdout}");
}

#[test]
fn the_plan_is_told_before_any_call_and_dry_run_and_max_calls_hold_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let wf = example("math", "workflow.toml");
    let data = root().join("examples/data/gsm8k_validate.jsonl");
    let data = data.display().to_string();
    let base = [
        "compile", &wf, "--data", &data, "--zoo", "--store", "s.sqlite",
    ];
    let mut dry = base.to_vec();
    dry.push("--dry-run");
    let (stdout, _) = check(&run(dir.path(), &dry), 0);
    // 5 agents x 75 settings x 100 calls, and 264 reference runs of 6 calls.
    assert!(stdout.contains("profile     37,500 calls"), "{stdout}");
    assert!(stdout.contains("induce       1,584 calls"), "{stdout}");
    assert!(stdout.contains("dry run: no model was called"), "{stdout}");
    assert!(
        !dir.path().join("s.sqlite").exists(),
        "a dry run opens no store"
    );
    let mut light = dry.clone();
    light.extend(["--effort", "light", "--json"]);
    let (stdout, _) = check(&run(dir.path(), &light), 0);
    let plan: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(plan["stages"][1]["calls"], 5 * 75 * 25);
    let mut capped = base.to_vec();
    capped.extend(["--max-calls", "1000"]);
    let (_, stderr) = check(&run(dir.path(), &capped), 3);
    assert!(
        stderr.contains("the plan has 39,084 model calls, more than --max-calls 1000"),
        "{stderr}"
    );
}

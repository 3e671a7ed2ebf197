//! `flowcompile route build` and `flowcompile eval --preferences` end to end on the zoo: a small
//! compile of the math workflow, its router, and the expected utility of the three strategies.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

mod common;
use common::{check, path, run};

/// The measuring flags compile and route build share (so route build measures nothing again).
fn measure_flags(validate: &str) -> Vec<String> {
    [
        "--data",
        validate,
        "--zoo",
        "--limit",
        "20",
        "--calls-per-setting",
        "4",
        "--store",
        "s.sqlite",
    ]
    .map(String::from)
    .to_vec()
}

fn args<'a>(head: &[&'a str], tail: &'a [String]) -> Vec<&'a str> {
    head.iter()
        .copied()
        .chain(tail.iter().map(String::as_str))
        .collect()
}

#[test]
fn route_build_then_expected_utility_of_three_strategies() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let wf = path("examples/math/workflow.toml");
    let validate = path("examples/data/gsm8k_validate.jsonl");
    let test = path("examples/data/gsm8k_test.jsonl");
    let flags = measure_flags(&validate);
    check(&run(d, &args(&["compile", &wf, "-o", "a.json"], &flags)), 0);
    let (stdout, stderr) = check(
        &run(
            d,
            &args(
                &[
                    "route",
                    "build",
                    &wf,
                    "--artifact",
                    "a.json",
                    "--k",
                    "5",
                    "-o",
                    "r.json",
                ],
                &flags,
            ),
        ),
        0,
    );
    assert!(
        stdout.contains("256-dimension embeddings from 'zoo-embed', k = 5"),
        "{stdout}"
    );
    assert!(
        stderr.contains("0 run,"),
        "route build reuses compile's calls: {stderr}"
    );
    let router: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("r.json")).unwrap()).unwrap();
    assert_eq!(router["format"], "flowcompile.router.v1");
    let n_items = router["items"].as_array().unwrap().len();
    assert!((1..=20).contains(&n_items), "{n_items}");

    let eval = [
        "eval",
        wf.as_str(),
        "--zoo",
        "--artifact",
        "a.json",
        "--router",
        "r.json",
        "--preferences",
        "uniform",
        "--data",
        test.as_str(),
        "--limit",
        "20",
        "--store",
        "s.sqlite",
    ];
    let (stdout, _) = check(&run(d, &eval), 0);
    for name in ["compiled set", "best uniform", "knn router (k=5)"] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{stdout}"));
        let numbers: Vec<f64> = line[name.len()..]
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        assert_eq!(numbers.len(), 7, "{line}");
        assert!(numbers.iter().all(|x| x.is_finite()), "{line}");
        assert_eq!(numbers[0], 20.0, "20 requests: {line}");
        assert!((0.0..=1.0).contains(&numbers[3]), "accuracy: {line}");
    }
    assert!(
        stdout.contains("router gain over the compiled set: "),
        "{stdout}"
    );

    // A rerun makes no new run, and --json carries the same table.
    let mut json_args = eval.to_vec();
    json_args.push("--json");
    let (stdout, _) = check(&run(d, &json_args), 0);
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let strategies = doc["strategies"].as_array().unwrap();
    assert_eq!(strategies.len(), 3);
    for s in strategies {
        assert!(s["expected_utility"].as_f64().unwrap().is_finite(), "{s}");
    }
    assert!(doc["router_gain"]["mean"].as_f64().unwrap().is_finite());
    let (_, stderr) = check(&run(d, &eval), 0);
    assert!(stderr.contains("distinct runs"), "{stderr}");
    let (distinct, reused) = runs_line(&stderr);
    assert_eq!(distinct, reused, "a rerun reuses every run: {stderr}");

    // A broken router file is refused, naming the file and field.
    let mut bad = router.clone();
    bad["items"][0]["embedding"] = serde_json::json!([0.5]);
    std::fs::write(d.join("bad.json"), bad.to_string()).unwrap();
    let mut bad_args = eval.to_vec();
    bad_args[6] = "bad.json";
    let (_, stderr) = check(&run(d, &bad_args), 3);
    assert!(
        stderr
            .contains("bad.json: field `items[0].embedding`: expected 256 numbers (dims), found 1"),
        "{stderr}"
    );
    let (_, stderr) = check(
        &run(
            d,
            &[
                "eval",
                &wf,
                "--zoo",
                "--artifact",
                "a.json",
                "--router",
                "r.json",
                "--preferences",
                "0.5,2",
                "--data",
                &test,
            ],
        ),
        3,
    );
    assert!(stderr.contains("--preferences '0.5,2'"), "{stderr}");

    // Routers of workflows not served, and route build without an embedding model, are refused.
    let mut other = router.clone();
    other["workflow"] = "other".into();
    std::fs::write(d.join("other.json"), other.to_string()).unwrap();
    let (_, stderr) = check(
        &run(
            d,
            &[
                "serve",
                "--workflow",
                &wf,
                "--artifact",
                "a.json",
                "--router",
                "other.json",
                "--zoo",
            ],
        ),
        3,
    );
    assert!(
        stderr.contains("other.json: field `workflow`: built for workflow 'other', which is not served (serving: math)"),
        "{stderr}"
    );
    let (_, stderr) = check(
        &run(
            d,
            &[
                "route",
                "build",
                &wf,
                "--artifact",
                "a.json",
                "--data",
                &validate,
                "--providers",
                &path("examples/providers/zoo.toml"),
            ],
        ),
        3,
    );
    assert!(
        stderr.contains("--embed-model NAME is needed with --providers"),
        "{stderr}"
    );

    serve_routes_requests_that_name_no_point(d, &wf, &test);
}

/// `flowcompile serve --router`: requests by preference are routed (point `knn`, how in
/// `selected_by.routed`), a request naming a point is not.
fn serve_routes_requests_that_name_no_point(d: &Path, wf: &str, test: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowcompile"))
        .current_dir(d)
        .args([
            "serve",
            "--workflow",
            wf,
            "--artifact",
            "a.json",
            "--router",
            "r.json",
        ])
        .args(["--zoo", "--tasks", test, "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line}"))
        .trim_end_matches(';')
        .to_string();
    let problem: Value = serde_json::from_str(
        std::fs::read_to_string(test)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let ask = |model: &str| -> Value {
        let body = serde_json::json!({
            "model": model,
            "messages": [{"role": "user", "content": problem["problem"]}],
        });
        let out = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "60",
                "-H",
                "content-type: application/json",
                "-d",
            ])
            .arg(body.to_string())
            .arg(format!("{base}/chat/completions"))
            .output()
            .expect("curl is installed");
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
    };
    for model in ["math@fast", "math@high"] {
        let reply = ask(model);
        let info = &reply["flowcompile"];
        assert_eq!(info["point"], "knn", "{reply}");
        let routed = &info["selected_by"]["routed"];
        assert_eq!(routed["k"], 5, "{reply}");
        // Every agent profiles the same items, 4 of them (--calls-per-setting 4): 4 neighbours are
        // all there are for k = 5.
        assert_eq!(routed["neighbours"].as_array().unwrap().len(), 4, "{reply}");
        assert!(info["predicted"]["accuracy"].as_f64().unwrap() > 0.0);
        assert!(reply["choices"][0]["message"]["content"].is_string());
    }
    let fixed = ask("math@p0");
    assert_eq!(fixed["flowcompile"]["point"], "p0", "{fixed}");
    assert!(fixed["flowcompile"]["selected_by"].get("routed").is_none());
    let _ = child.kill();
    let _ = child.wait();
}

/// (distinct runs, already stored) from eval's "... N distinct runs, M already in ..." line.
fn runs_line(stderr: &str) -> (usize, usize) {
    let line = stderr
        .lines()
        .find(|l| l.contains("distinct runs"))
        .unwrap();
    let before = |marker: &str| -> usize {
        let head = &line[..line.find(marker).unwrap()];
        head.rsplit(|c: char| !c.is_ascii_digit())
            .find(|s| !s.is_empty())
            .unwrap()
            .parse()
            .unwrap()
    };
    (before(" distinct runs"), before(" already in"))
}

//! 90% intervals end to end on the zoo: compile writes them, show, select --confidence and test
//! use them; a v1 artifact still reads, without them; too few items warn and write no NaN.

use serde_json::Value;

mod common;
use common::{check, compile_small, path, run, small_math};

fn interval(p: &Value, key: &str) -> Option<[f64; 2]> {
    let i = p["predicted"].get(key)?.as_array()?;
    Some([i[0].as_f64()?, i[1].as_f64()?])
}

#[test]
fn compiled_points_carry_intervals_that_select_and_test_use() {
    let dir = tempfile::tempdir().unwrap();
    let (wf, data) = small_math(dir.path(), 40);
    check(&compile_small(dir.path(), &wf, &data, &["-o", "a.json"]), 0);
    let text = std::fs::read_to_string(dir.path().join("a.json")).unwrap();
    let a: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(a["format"], "flowcompile.artifact.v2");
    assert_eq!(a["proxy"]["intervals"]["method"], "bootstrap-items");
    assert_eq!(a["proxy"]["intervals"]["level"], 0.9);
    let points = a["points"].as_array().unwrap();
    assert!(points.len() >= 3, "{} points", points.len());
    let mut wide = 0;
    for p in points {
        let acc = p["predicted"]["accuracy"].as_f64().unwrap();
        let lat = p["predicted"]["latency_s"].as_f64().unwrap();
        let [lo, hi] = interval(p, "accuracy_interval").expect("an accuracy interval");
        assert!(0.0 <= lo && lo <= acc && acc <= hi && hi <= 1.0, "{p}");
        let [lo_t, hi_t] = interval(p, "latency_interval_s").expect("a latency interval");
        assert!(0.0 <= lo_t && lo_t <= lat && lat <= hi_t, "{p}");
        wide += usize::from(hi - lo > 0.01);
    }
    // 40 items leave sampling noise: intervals have width.
    assert!(wide > 0, "{text}");

    let (table, _) = check(&run(dir.path(), &["show", "a.json"]), 0);
    assert!(table.contains("90% interval"), "{table}");

    // The lower bound at confidence 0.9, as select computes it from the stored interval.
    let reach = 1.281_551_565_544_600_4 / 1.644_853_626_951_472_2;
    let acc = |p: &Value| p["predicted"]["accuracy"].as_f64().unwrap();
    let bound =
        |p: &Value| acc(p) - reach * (acc(p) - interval(p, "accuracy_interval").unwrap()[0]);
    // A floor the fastest point reaching it meets only in prediction, and a slower point meets
    // at confidence 0.9.
    let (k, j) = (0..points.len())
        .find_map(|k| {
            let j = (k + 1..points.len()).find(|&j| bound(&points[j]) >= acc(&points[k]))?;
            (bound(&points[k]) < acc(&points[k])).then_some((k, j))
        })
        .expect("a floor that needs a slower point");
    let floor = acc(&points[k]).to_string();
    let pick = |extra: &[&str]| -> Value {
        let mut args = vec!["select", "a.json", "--min-accuracy", &floor, "--json"];
        args.extend_from_slice(extra);
        let (stdout, _) = check(&run(dir.path(), &args), 0);
        serde_json::from_str(&stdout).unwrap()
    };
    assert_eq!(pick(&[])["id"], points[k]["id"]);
    let sure = pick(&["--confidence", "0.9"]);
    assert_eq!(sure["id"], points[j]["id"]);
    assert!(sure["predicted"]["latency_s"].as_f64() > points[k]["predicted"]["latency_s"].as_f64());
    // Nothing clears a floor above every lower bound.
    let (_, stderr) = check(
        &run(
            dir.path(),
            &[
                "select",
                "a.json",
                "--min-accuracy",
                "0.999",
                "--confidence",
                "0.95",
            ],
        ),
        4,
    );
    assert!(stderr.contains("at confidence 0.95"), "{stderr}");

    let (stdout, _) = check(
        &run(
            dir.path(),
            &[
                "test",
                &wf,
                "--artifact",
                "a.json",
                "--zoo",
                "--data",
                &data,
                "--store",
                "s.sqlite",
                "--max-points",
                "4",
                "--json",
            ],
        ),
        0,
    );
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    let coverage = &doc["fidelity"]["accuracy"]["coverage"];
    assert_eq!(coverage["n_points"], 4, "{}", doc["fidelity"]);
    let (inside, inside_as_is) = (
        coverage["inside"].as_u64().unwrap(),
        coverage["inside_population"].as_u64().unwrap(),
    );
    // Widening by the split's own noise never loses a point.
    assert!(inside >= inside_as_is && inside <= 4, "{coverage}");
    assert!(doc["points"][0]["predicted"]["accuracy_interval"].is_array());
    assert!(doc["fidelity"]["latency"]["coverage"]["n_points"] == 4);
}

#[test]
fn a_v1_artifact_reads_without_intervals_and_refuses_a_confidence() {
    let dir = tempfile::tempdir().unwrap();
    let wf = path("examples/hotpotqa/workflow.toml");
    let profiles = path("examples/hotpotqa/profiles.csv");
    let (_, stderr) = check(
        &run(
            dir.path(),
            &["compile", &wf, "--profiles", &profiles, "-o", "v2.json"],
        ),
        0,
    );
    assert!(stderr.contains("the points have no intervals"), "{stderr}");
    let text = std::fs::read_to_string(dir.path().join("v2.json")).unwrap();
    assert!(!text.contains("interval"), "{text}");
    std::fs::write(
        dir.path().join("v1.json"),
        text.replace("flowcompile.artifact.v2", "flowcompile.artifact.v1"),
    )
    .unwrap();
    let (table, stderr) = check(&run(dir.path(), &["show", "v1.json"]), 0);
    assert_eq!(stderr.matches("predates intervals").count(), 1, "{stderr}");
    assert!(
        table.contains("accuracy") && !table.contains("interval"),
        "{table}"
    );
    let (_, stderr) = check(&run(dir.path(), &["show", "v2.json"]), 0);
    assert!(!stderr.contains("predates"), "{stderr}");
    let confident = |file: &str| {
        run(
            dir.path(),
            &[
                "select",
                file,
                "--min-accuracy",
                "0.5",
                "--confidence",
                "0.9",
            ],
        )
    };
    let (_, stderr) = check(&confident("v1.json"), 3);
    assert!(
        stderr.contains("flowcompile.artifact.v1 artifact, which predates them"),
        "{stderr}"
    );
    let (_, stderr) = check(&confident("v2.json"), 3);
    assert!(stderr.contains("compiled from profile files"), "{stderr}");
    // Without a confidence both still select.
    check(
        &run(dir.path(), &["select", "v1.json", "--min-accuracy", "0.5"]),
        0,
    );
}

#[test]
fn too_few_items_warn_and_write_no_nan() {
    let dir = tempfile::tempdir().unwrap();
    let (wf, data) = small_math(dir.path(), 6);
    let (_, stderr) = check(&compile_small(dir.path(), &wf, &data, &["-o", "a.json"]), 0);
    let warning = stderr
        .lines()
        .find(|l| l.contains("validation items, fewer than the 10 an interval needs"))
        .unwrap_or_else(|| panic!("no warning: {stderr}"));
    // It names the agent, the setting and the count.
    assert!(warning.starts_with("warning: agent '"), "{warning}");
    assert!(
        warning.contains("@") && warning.contains("calls on "),
        "{warning}"
    );
    let text = std::fs::read_to_string(dir.path().join("a.json")).unwrap();
    // serde_json writes a NaN as null: neither appears.
    assert!(!text.contains("NaN") && !text.contains("null"), "{text}");
    assert!(!text.contains("accuracy_interval"), "{text}");
    // It still reads, and says nothing is known at a confidence.
    check(&run(dir.path(), &["show", "a.json"]), 0);
    let (_, stderr) = check(
        &run(
            dir.path(),
            &[
                "select",
                "a.json",
                "--min-accuracy",
                "0.1",
                "--confidence",
                "0.9",
            ],
        ),
        4,
    );
    assert!(stderr.contains("at confidence 0.9"), "{stderr}");
}

//! `render` on a small workflow: determinism, well-formed SVG, escaping, and the checks between inputs.

use flowcompile_artifact::Artifact;
use flowcompile_profile::{parse_profiles, Format, ProfileTable};
use flowcompile_report::{render, Inputs, ProfileInputs, ReportError, Validation};

const WORKFLOW: &str = r#"
name = "two"
description = "solve <then> check & \"vote\""
[task]
fields = ["q"]
answer = "a"
scorer = "exact_match"
[space]
models = ["small", "big"]
budgets = [10, 100]
[agents.solver]
prompt = "{{ q }}"
[agents.checker]
prompt = "{{ q }}"
[graph]
root = "flow"
[graph.nodes.flow]
seq = ["solver", "maybe_check"]
[graph.nodes.maybe_check]
optional = "checker"
"#;

const PROFILES: &str = "agent,model,budget,accuracy,samples,latency_s,input_tokens,output_tokens
solver,small,10,0.5,10,1,1,1
solver,small,100,0.6,10,2,1,1
solver,big,10,0.7,10,3,1,1
solver,big,100,0.8,10,4,1,1
checker,small,10,0.8,10,0.2,1,1
checker,small,100,0.85,10,0.4,1,1
checker,big,10,0.9,10,0.5,1,1
checker,big,100,0.95,10,1,1,1
";

/// FIXTURE: a hand-written artifact of the workflow above (three frontier points; the numbers are
/// the proxy's for these settings: products of accuracies, sums of latencies).
fn artifact(latency: &str) -> Artifact {
    let text = format!(
        r#"{{"format": "flowcompile.artifact.v1", "workflow": "two",
        "provenance": {{"tool": "flowcompile", "tool_version": "0.1.0"}},
        "proxy": {{"execution": "parallel", "latency": "{latency}"}},
        "points": [
          {{"id": "p0", "structure": {{"index": 0, "knobs": {{"maybe_check": 0}}}},
            "settings": {{"solver": {{"model": "small", "budget": 10}}}},
            "predicted": {{"accuracy": 0.5, "latency_s": 1.0}}}},
          {{"id": "p1", "structure": {{"index": 0, "knobs": {{"maybe_check": 0}}}},
            "settings": {{"solver": {{"model": "big", "budget": 10}}}},
            "predicted": {{"accuracy": 0.7, "latency_s": 3.0}}}},
          {{"id": "p2", "structure": {{"index": 0, "knobs": {{"maybe_check": 0}}}},
            "settings": {{"solver": {{"model": "big", "budget": 100}}}},
            "predicted": {{"accuracy": 0.8, "latency_s": 4.0}}}}]}}"#
    );
    Artifact::from_json(&text, "two.json").unwrap()
}

/// FIXTURE: measurements of p0 and p2 (invented numbers).
fn validation(predicted_p2_accuracy: f64, sha: &str) -> Validation {
    let text = format!(
        r#"{{"format": "flowcompile.validation.v1", "workflow": "two", "artifact_sha256": "{sha}",
        "n_items": 50, "points": [
          {{"id": "p0", "predicted": {{"accuracy": 0.5, "latency_s": 1.0}},
            "measured": {{"accuracy": 0.46, "latency_s": 1.1}}}},
          {{"id": "p2", "predicted": {{"accuracy": {predicted_p2_accuracy}, "latency_s": 4.0}},
            "measured": {{"accuracy": 0.82, "latency_s": 3.7}}}}]}}"#
    );
    Validation::from_json(&text, "v.json").unwrap()
}

fn table() -> ProfileTable {
    parse_profiles(PROFILES, "p.csv", Format::Csv).unwrap()
}

#[test]
fn the_same_inputs_give_the_same_well_formed_report() {
    let wf = flowcompile_spec::parse(WORKFLOW, "two.toml").unwrap();
    let (a, t, v) = (artifact("measured"), table(), validation(0.8, "aa"));
    let inputs = Inputs {
        artifact_sha256: Some("aa"),
        profiles: Some(ProfileInputs {
            workflow: &wf,
            workflow_source: "two.toml",
            table: &t,
            throughput: &[],
            spec_sha256: None,
            profiles_sha256: None,
        }),
        validation: Some((&v, "v.json")),
        ..Inputs::new(&a, "two.json")
    };
    let first = render(&inputs).unwrap();
    assert_eq!(first, render(&inputs).unwrap());
    assert!(first.warnings.is_empty(), "{:?}", first.warnings);
    for plot in &first.plots {
        let doc =
            roxmltree::Document::parse(&plot.svg).unwrap_or_else(|e| panic!("{}: {e}", plot.name));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
    }
    // Uniform baselines: both agents on one of the 4 settings, checker switched on.
    let frontier = &first.plots[0].svg;
    assert_eq!(frontier.matches("class=\"marker baseline\"").count(), 4);
    assert!(frontier.contains("every agent on big@100 (structure s1)"));
    assert!(frontier.contains("predicted accuracy 0.7600, latency 5.000 s"));
    // Text from the inputs is escaped.
    assert!(first
        .html
        .contains("solve &lt;then&gt; check &amp; &quot;vote&quot;"));
    assert!(!first.html.contains("<then>"));
}

#[test]
fn mismatched_predictions_and_digests_are_warnings() {
    let a = artifact("measured");
    let v = validation(0.75, "bb");
    let inputs = Inputs {
        artifact_sha256: Some("aa"),
        validation: Some((&v, "v.json")),
        ..Inputs::new(&a, "two.json")
    };
    let report = render(&inputs).unwrap();
    assert_eq!(report.warnings.len(), 2, "{:?}", report.warnings);
    assert!(report.warnings[0].contains("was measured on another artifact"));
    assert!(report.warnings[1].starts_with("v.json: points[1] (p2) predicts accuracy 0.7500"));
    assert_eq!(report.html.matches("<li>").count(), 2);
}

#[test]
fn token_latency_needs_the_throughput_table() {
    let wf = flowcompile_spec::parse(WORKFLOW, "two.toml").unwrap();
    let (a, t) = (artifact("tokens"), table());
    let inputs = Inputs {
        profiles: Some(ProfileInputs {
            workflow: &wf,
            workflow_source: "two.toml",
            table: &t,
            throughput: &[],
            spec_sha256: None,
            profiles_sha256: None,
        }),
        ..Inputs::new(&a, "two.json")
    };
    assert!(matches!(
        render(&inputs),
        Err(ReportError::ThroughputNeeded)
    ));
}

#[test]
fn profiles_missing_a_setting_are_an_error_naming_it() {
    let wf = flowcompile_spec::parse(WORKFLOW, "two.toml").unwrap();
    let a = artifact("measured");
    let cut: String = PROFILES
        .lines()
        .filter(|l| !l.starts_with("checker,big,100"))
        .map(|l| format!("{l}\n"))
        .collect();
    let t = parse_profiles(&cut, "cut.csv", Format::Csv).unwrap();
    let inputs = Inputs {
        profiles: Some(ProfileInputs {
            workflow: &wf,
            workflow_source: "two.toml",
            table: &t,
            throughput: &[],
            spec_sha256: None,
            profiles_sha256: None,
        }),
        ..Inputs::new(&a, "two.json")
    };
    let e = render(&inputs).unwrap_err().to_string();
    assert!(
        e.contains("cut.csv") && e.contains("checker") && e.contains("100"),
        "{e}"
    );
}

#[test]
fn an_artifact_alone_gives_the_frontier_and_the_table() {
    let a = artifact("measured");
    let report = render(&Inputs::new(&a, "two.json")).unwrap();
    let names: Vec<_> = report.plots.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["frontier"]);
    assert!(!report.html.contains("id=\"baselines\""));
    assert!(!report.html.contains("id=\"profiles\""));
    assert_eq!(report.html.matches("<tr data-id=").count(), 3);
}

#[test]
fn one_point_and_one_measurement_still_draw() {
    let a = Artifact::from_json(
        r#"{"format": "flowcompile.artifact.v1", "workflow": "two",
        "provenance": {"tool": "flowcompile", "tool_version": "0.1.0"},
        "proxy": {"execution": "parallel", "latency": "measured"},
        "points": [{"id": "p0", "structure": {"index": 0, "knobs": {}},
                    "settings": {"solver": {"model": "small", "budget": 10}},
                    "predicted": {"accuracy": 1.0, "latency_s": 0.0}}]}"#,
        "one.json",
    )
    .unwrap();
    let v = Validation::from_json(
        r#"{"format": "flowcompile.validation.v1", "workflow": "two", "points": [
          {"id": "p0", "predicted": {"accuracy": 1.0, "latency_s": 0.0},
           "measured": {"accuracy": 1.0, "latency_s": 0.0}}]}"#,
        "v.json",
    )
    .unwrap();
    let inputs = Inputs {
        validation: Some((&v, "v.json")),
        ..Inputs::new(&a, "one.json")
    };
    let report = render(&inputs).unwrap();
    assert_eq!(report.plots.len(), 3);
    for plot in &report.plots {
        let doc = roxmltree::Document::parse(&plot.svg).unwrap();
        // No NaN or infinite coordinate reaches the drawing.
        for n in doc.descendants() {
            for attr in n.attributes() {
                let v = attr.value();
                assert!(
                    !v.contains("NaN") && !v.contains("inf"),
                    "{}: {attr:?}",
                    plot.name
                );
            }
        }
    }
    assert!(report.plots[1]
        .title
        .contains("Spearman ρ undefined (n = 1)"));
}

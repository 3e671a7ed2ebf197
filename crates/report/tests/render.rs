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

#[test]
fn points_with_intervals_get_error_bars_and_points_without_get_none() {
    let v1 = artifact("measured");
    let text = serde_json::to_string(&v1).unwrap().replace(
        "\"latency_s\":3.0",
        "\"latency_s\":3.0,\"accuracy_interval\":[0.6,0.78],\"latency_interval_s\":[2.5,3.5]",
    );
    let text = text
        .replace("flowcompile.artifact.v1", "flowcompile.artifact.v2")
        .replace(
            "\"latency\":\"measured\"",
            "\"latency\":\"measured\",\"intervals\":{\"level\":0.9,\"method\":\"bootstrap-items\",\"resamples\":200,\"seed\":1}",
        );
    let v2 = Artifact::from_json(&text, "two.json").unwrap();
    assert_eq!(v2.points[1].predicted.accuracy_interval, Some([0.6, 0.78]));
    let bars = |a: &Artifact| {
        let report = render(&Inputs::new(a, "two.json")).unwrap();
        let svg = report.plots[0].svg.clone();
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let lines: Vec<[f64; 4]> = doc
            .descendants()
            .filter(|n| has_class(n, "interval") && has_class(n, "links"))
            .flat_map(|g| g.children().filter(|n| n.has_tag_name("line")))
            .map(|n| [num(&n, "x1"), num(&n, "y1"), num(&n, "x2"), num(&n, "y2")])
            .collect();
        (lines, svg.contains("90% intervals"))
    };
    let (lines, legend) = bars(&v1);
    assert!(lines.is_empty() && !legend);
    let (lines, legend) = bars(&v2);
    assert!(legend);
    assert_eq!(lines.len(), 2, "p1's accuracy and latency bars: {lines:?}");
    // The accuracy bar is vertical (higher accuracy is up), the latency one horizontal, and they
    // cross at the point.
    let [ax1, ay1, ax2, ay2] = lines[0];
    assert!(ax1 == ax2 && ay1 > ay2, "{lines:?}");
    let [lx1, ly1, lx2, ly2] = lines[1];
    assert!(ly1 == ly2 && lx1 < lx2, "{lines:?}");
    assert!(
        lx1 < ax1 && ax1 < lx2 && ay2 < ly1 && ly1 < ay1,
        "{lines:?}"
    );
}

fn has_class(n: &roxmltree::Node, class: &str) -> bool {
    n.attribute("class")
        .is_some_and(|c| c.split_whitespace().any(|x| x == class))
}

fn num(n: &roxmltree::Node, attr: &str) -> f64 {
    n.attribute(attr).unwrap().parse().unwrap()
}

fn marker_ids(doc: &roxmltree::Document, class: &str) -> Vec<String> {
    doc.descendants()
        .filter(|n| has_class(n, "marker") && has_class(n, class))
        .map(|n| n.attribute("data-id").unwrap().to_string())
        .collect()
}

/// (left, top, right, bottom) of every `class` rect.
fn boxes(doc: &roxmltree::Document, class: &str) -> Vec<(f64, f64, f64, f64)> {
    doc.descendants()
        .filter(|n| n.has_tag_name("rect") && has_class(n, class))
        .map(|n| {
            let (x, y) = (num(&n, "x"), num(&n, "y"));
            (x, y, x + num(&n, "width"), y + num(&n, "height"))
        })
        .collect()
}

/// An axis's ticks as (value, pixel position), in drawing order.
fn ticks(doc: &roxmltree::Document, axis: &str) -> Vec<(f64, f64)> {
    let g = doc.descendants().find(|n| has_class(n, axis)).unwrap();
    g.descendants()
        .filter(|n| n.has_tag_name("text") && has_class(n, "tick"))
        .map(|n| {
            let v: f64 = n.text().unwrap().parse().unwrap();
            (v, num(&n, if axis == "x-axis" { "x" } else { "y" }))
        })
        .collect()
}

fn axis_labels(doc: &roxmltree::Document) -> Vec<String> {
    doc.descendants()
        .filter(|n| n.has_tag_name("text") && has_class(n, "axis-label"))
        .map(|n| n.text().unwrap().to_string())
        .collect()
}

#[test]
fn the_three_point_frontier_marks_the_points_its_presets_serve() {
    let a = artifact("measured");
    let report = render(&Inputs::new(&a, "two.json")).unwrap();
    let doc = roxmltree::Document::parse(&report.plots[0].svg).unwrap();
    // lat_max 4: medium scores p0 0.625, p1 0.475, p2 0.4; high p0 0.525, p1 0.655, p2 0.72.
    assert_eq!(marker_ids(&doc, "preset"), ["p0", "p2"]);
    let labels: Vec<&str> = doc
        .descendants()
        .filter(|n| has_class(n, "point-label"))
        .map(|n| n.text().unwrap())
        .collect();
    assert_eq!(labels, ["p0 fast, medium", "p2 high, xhigh"]);
    // p1 is below the chord from p0 to p2 in (log latency, accuracy): no knee.
    assert!(marker_ids(&doc, "knee").is_empty());
    for (preset, id) in [
        ("fast", "p0"),
        ("medium", "p0"),
        ("high", "p2"),
        ("xhigh", "p2"),
    ] {
        assert!(
            report.html.contains(&format!(
                "<tr data-point=\"{id}\"><td class=\"mono\">two@{preset}</td>"
            )),
            "{preset}"
        );
    }
}

/// FIXTURE: 60 frontier points on a concave curve (accuracy 0.6 to 0.95, latency 1 s to 94 s),
/// every fifth one measured a little off its prediction.
fn sixty() -> (Artifact, Validation) {
    let pred = |i: usize| {
        let acc = 0.6 + 0.35 * (1.0 - (-(i as f64) / 12.0).exp()) / (1.0 - (-59.0f64 / 12.0).exp());
        (acc, 1.08f64.powi(i as i32))
    };
    let points: Vec<String> = (0..60)
        .map(|i| {
            let (acc, lat) = pred(i);
            format!(
                r#"{{"id": "p{i}", "structure": {{"index": 0, "knobs": {{}}}},
                "settings": {{"solver": {{"model": "small", "budget": {i}}}}},
                "predicted": {{"accuracy": {acc}, "latency_s": {lat}}}}}"#
            )
        })
        .collect();
    let a = Artifact::from_json(
        &format!(
            r#"{{"format": "flowcompile.artifact.v1", "workflow": "two",
            "provenance": {{"tool": "flowcompile", "tool_version": "0.1.0"}},
            "proxy": {{"execution": "parallel", "latency": "measured"}}, "points": [{}]}}"#,
            points.join(",")
        ),
        "sixty.json",
    )
    .unwrap();
    let measured: Vec<String> = (0..60)
        .step_by(5)
        .map(|i| {
            let (acc, lat) = pred(i);
            format!(
                r#"{{"id": "p{i}", "predicted": {{"accuracy": {acc}, "latency_s": {lat}}},
                "measured": {{"accuracy": {}, "latency_s": {}}}}}"#,
                acc - 0.02,
                lat * 1.1
            )
        })
        .collect();
    let v = Validation::from_json(
        &format!(
            r#"{{"format": "flowcompile.validation.v1", "workflow": "two", "points": [{}]}}"#,
            measured.join(",")
        ),
        "v.json",
    )
    .unwrap();
    (a, v)
}

#[test]
fn sixty_points_get_marks_non_overlapping_labels_fitted_and_log_axes_and_a_folded_table() {
    let (a, v) = sixty();
    let inputs = Inputs {
        validation: Some((&v, "v.json")),
        ..Inputs::new(&a, "sixty.json")
    };
    let report = render(&inputs).unwrap();
    let frontier = roxmltree::Document::parse(&report.plots[0].svg).unwrap();

    // The preset rings sit on the points `select` picks (the rule CLI and server use).
    let mut expected: Vec<String> = flowcompile_select::PRESETS
        .iter()
        .map(|(_, b)| {
            let r = flowcompile_select::Request::new(Some(b.value()), None, None).unwrap();
            a.points[flowcompile_select::select(&a.points, &r).unwrap()]
                .id
                .clone()
        })
        .collect();
    expected.dedup();
    assert_eq!(expected.len(), 4, "{expected:?}");
    assert_eq!(marker_ids(&frontier, "preset"), expected);
    // The knee, worked out here: the largest excess of scaled accuracy over scaled log latency.
    let (first, last) = (&a.points[0].predicted, &a.points[59].predicted);
    let excess = |i: usize| {
        let p = &a.points[i].predicted;
        (p.accuracy - first.accuracy) / (last.accuracy - first.accuracy)
            - (p.latency_s / first.latency_s).ln() / (last.latency_s / first.latency_s).ln()
    };
    let knee = (0..60)
        .max_by(|&i, &j| excess(i).total_cmp(&excess(j)))
        .unwrap();
    assert!(excess(knee) > 0.1 && (5..55).contains(&knee), "p{knee}");
    assert_eq!(marker_ids(&frontier, "knee"), [format!("p{knee}")]);

    // Visible labels: the marked points and the 12 measured diamonds, every one placed, none
    // overlapping another, all inside the plot area.
    let marked = expected.len() + usize::from(!expected.contains(&format!("p{knee}")));
    let labels = boxes(&frontier, "label-box");
    assert_eq!(labels.len(), marked + 12);
    let area = boxes(&frontier, "plot-area")[0];
    for (i, b) in labels.iter().enumerate() {
        assert!(
            b.0 >= area.0 && b.1 >= area.1 && b.2 <= area.2 && b.3 <= area.3,
            "{b:?}"
        );
        for c in &labels[..i] {
            let apart = b.2 <= c.0 || c.2 <= b.0 || b.3 <= c.1 || c.3 <= b.1;
            assert!(apart, "label boxes {b:?} and {c:?} overlap");
        }
    }

    // The accuracy axis is fitted: it holds every accuracy drawn and is tighter than [0, 1].
    let y = ticks(&frontier, "y-axis");
    let ((v0, p0), (v1, p1)) = (y[0], y[y.len() - 1]);
    let value_at = |px: f64| v0 + (px - (p0 - 4.0)) * (v1 - v0) / (p1 - p0);
    let (lo, hi) = (value_at(area.3), value_at(area.1));
    let accuracies = a.points.iter().map(|p| p.predicted.accuracy).chain(
        v.points
            .iter()
            .map(|p| p.measured.as_ref().unwrap().accuracy),
    );
    for acc in accuracies {
        assert!(lo <= acc && acc <= hi, "{acc} outside [{lo}, {hi}]");
    }
    assert!(lo >= 0.4 && hi <= 1.0 + 1e-9, "[{lo}, {hi}]");
    assert!(
        axis_labels(&frontier)[1].starts_with("accuracy (axis from 0."),
        "{:?}",
        axis_labels(&frontier)
    );

    // The latency fidelity plot: both axes log, ticks increasing and spaced by log value, every
    // point inside the plot area.
    let latency = report.plots.iter().find(|p| p.name == "fidelity-latency");
    let doc = roxmltree::Document::parse(&latency.unwrap().svg).unwrap();
    assert!(axis_labels(&doc).iter().all(|l| l.ends_with("(log scale)")));
    for axis in ["x-axis", "y-axis"] {
        let t = ticks(&doc, axis);
        assert!(t.len() >= 4, "{t:?}");
        let per_decade = (t[1].1 - t[0].1) / (t[1].0 / t[0].0).log10();
        for w in t.windows(2) {
            assert!(w[1].0 > w[0].0, "{axis}: {t:?}");
            let step = (w[1].1 - w[0].1) / (w[1].0 / w[0].0).log10();
            assert!((step - per_decade).abs() < 0.5, "{axis} not log: {t:?}");
        }
    }
    let area = boxes(&doc, "plot-area")[0];
    let dots: Vec<_> = doc
        .descendants()
        .filter(|n| has_class(n, "marker") && has_class(n, "fidelity"))
        .collect();
    assert_eq!(dots.len(), 12);
    for d in dots {
        let (x, y) = (num(&d, "cx"), num(&d, "cy"));
        assert!(x > area.0 && x < area.2 && y > area.1 && y < area.3);
    }

    // The points table folds, its size in the summary; the preset table stays visible.
    assert!(report
        .html
        .contains("<details>\n<summary>Table of the 60 points (click to show)</summary>"));
    assert_eq!(report.html.matches("<tr data-id=").count(), 60);
    assert_eq!(report.html.matches("<tr data-point=").count(), 4 + 1);
}

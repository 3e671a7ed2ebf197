//! `flowcompile report` end to end: the math example compiled, reported with a hand-made validation
//! and truth fixture, every SVG parsed as XML and checked against the artifact; with
//! FLOWCOMPILE_CHROMIUM set, the page is rendered by headless Chromium (scripts/report-screenshot.sh)
//! and the PNG checked for the plots' colours.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

mod common;
use common::{check, root, run};

fn example(file: &str) -> String {
    root()
        .join("examples/math")
        .join(file)
        .display()
        .to_string()
}

/// Compiles the math example into dir/math.json and returns the artifact as JSON.
fn compile_math(dir: &Path) -> Value {
    let args = [
        "compile",
        &example("workflow.toml"),
        "--profiles",
        &example("profiles.csv"),
        "--models-label",
        "zoo (synthetic)",
        "-o",
        "math.json",
    ];
    check(&run(dir, &args), 0);
    serde_json::from_str(&std::fs::read_to_string(dir.join("math.json")).unwrap()).unwrap()
}

/// FIXTURE: a hand-made validation document for three artifact points. The measured numbers are
/// invented (not a run of `flowcompile test`); they only have to be valid and distinct.
fn validation_fixture(artifact: &Value) -> Value {
    let hand_measured = [("p2", 0.51, 1.9), ("p8", 0.74, 2.7), ("p14", 0.77, 5.2)];
    let points: Vec<Value> = hand_measured
        .iter()
        .map(|(id, acc, lat)| {
            let p = artifact["points"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["id"] == *id)
                .unwrap();
            json!({"id": id, "structure": p["structure"]["index"], "predicted": p["predicted"],
                   "measured": {"accuracy": acc, "latency_s": lat, "n": 200, "n_failed": 0,
                                "latency_p50_s": lat, "latency_p95_s": lat * 1.5,
                                "tokens_mean": 900.0, "cost_usd": null}})
        })
        .collect();
    json!({
        "format": "flowcompile.validation.v1", "workflow": "math", "artifact_sha256": null,
        "data": "gsm8k_test.jsonl", "n_items": 200, "models_label": "zoo (synthetic)",
        "latency_source": "modelled", "points": points,
        "fidelity": {"accuracy": {"spearman": 1.0, "pairwise_agreement": 1.0, "mae": 0.03,
                                  "mae_calibrated": 0.01, "affine": {"slope": 1.0, "intercept": -0.03}},
                     "latency": {"spearman": 1.0, "pairwise_agreement": 1.0, "mae": 0.5,
                                 "mae_calibrated": 0.2, "affine": {"slope": 1.1, "intercept": 0.1}}}
    })
}

/// FIXTURE: a hand-made ground-truth document (invented numbers).
fn truth_fixture() -> Value {
    json!({
        "format": "flowcompile.truth.v1", "workflow": "math", "n_configs": 1200, "n_items": 200,
        "frontier": [
            {"structure": 2, "settings": {"detailed_solver": {"model": "qwen3-0.6b", "budget_tokens": 10}},
             "accuracy": 0.31, "latency_s": 1.2},
            {"structure": 0, "settings": {"generate_solver": {"model": "qwen3-14b", "budget_tokens": 200}},
             "accuracy": 0.86, "latency_s": 9.8}],
        "best_uniform": {"structure": 16, "settings": {}, "accuracy": 0.9, "latency_s": 100.0},
        "comparison": {"hypervolume_ratio": 0.97, "speedup_at_matched_accuracy": 5.1}
    })
}

fn write_json(dir: &Path, name: &str, v: &Value) -> String {
    std::fs::write(dir.join(name), serde_json::to_string_pretty(v).unwrap()).unwrap();
    name.to_string()
}

/// Every `<svg ...>...</svg>` of an HTML page.
fn inline_svgs(html: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<svg ") {
        let end = rest[start..].find("</svg>").expect("a closed svg") + start + "</svg>".len();
        out.push(&rest[start..end]);
        rest = &rest[end..];
    }
    out
}

fn has_class(n: &roxmltree::Node, class: &str) -> bool {
    n.attribute("class")
        .is_some_and(|c| c.split_whitespace().any(|x| x == class))
}

fn markers<'a>(doc: &'a roxmltree::Document, class: &str) -> Vec<roxmltree::Node<'a, 'a>> {
    doc.descendants()
        .filter(|n| has_class(n, "marker") && has_class(n, class))
        .collect()
}

fn texts(doc: &roxmltree::Document, class: &str) -> Vec<String> {
    doc.descendants()
        .filter(|n| n.has_tag_name("text") && has_class(n, class))
        .map(|n| n.text().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn report_draws_every_point_baseline_profile_and_measurement() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let artifact = compile_math(d);
    let n_points = artifact["points"].as_array().unwrap().len();
    let validation = write_json(d, "validation.json", &validation_fixture(&artifact));
    let truth = write_json(d, "truth.json", &truth_fixture());
    let args = [
        "report",
        "math.json",
        "--workflow",
        &example("workflow.toml"),
        "--profiles",
        &example("profiles.csv"),
        "--validation",
        &validation,
        "--truth",
        &truth,
        "-o",
        "report.html",
        "--svg-dir",
        "plots",
        "--json",
    ];
    let (stdout, stderr) = check(&run(d, &args), 0);
    assert!(!stderr.contains("warning"), "{stderr}");
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    let names: Vec<&str> = summary["plots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "frontier",
            "profiles",
            "fidelity-accuracy",
            "fidelity-latency"
        ]
    );

    let html = std::fs::read_to_string(d.join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    for external in ["src=\"http", "href=\"http", "<link ", "@import", "url(http"] {
        assert!(!html.contains(external), "external asset: {external}");
    }
    assert!(html.contains("<div class=\"models-label\">models: zoo (synthetic)</div>"));
    assert!(html.contains("4,906,417,725 configurations"));
    assert_eq!(html.matches("<tr data-id=\"p").count(), n_points);
    assert!(html.contains("hypervolume ratio"));

    // The page inlines the same SVGs it wrote to --svg-dir, and each is well-formed XML.
    let inline = inline_svgs(&html);
    assert_eq!(inline.len(), 4);
    let mut svgs = HashMap::new();
    for name in &names {
        let file = std::fs::read_to_string(d.join("plots").join(format!("{name}.svg"))).unwrap();
        assert!(
            inline.contains(&file.trim_end()),
            "{name}.svg is not in the page"
        );
        svgs.insert(*name, file);
    }
    let parse = |name: &str| {
        roxmltree::Document::parse(&svgs[name]).unwrap_or_else(|e| panic!("{name}.svg: {e}"))
    };

    // Frontier: one labelled marker with a tooltip per point, placed in latency/accuracy order.
    let frontier = parse("frontier");
    let points = markers(&frontier, "frontier");
    assert_eq!(points.len(), n_points);
    let mut previous: Option<(f64, f64, f64)> = None;
    for (i, m) in points.iter().enumerate() {
        assert_eq!(m.attribute("data-id"), Some(format!("p{i}").as_str()));
        let tooltip = m.first_element_child().unwrap();
        assert!(tooltip.has_tag_name("title"));
        assert!(tooltip
            .text()
            .unwrap()
            .starts_with(&format!("p{i} (structure s")));
        let (x, y) = (
            m.attribute("cx").unwrap().parse::<f64>().unwrap(),
            m.attribute("cy").unwrap().parse::<f64>().unwrap(),
        );
        let acc = artifact["points"][i]["predicted"]["accuracy"]
            .as_f64()
            .unwrap();
        if let Some((px, py, pacc)) = previous {
            assert!(x >= px, "p{i} is left of p{}", i - 1);
            // SVG y grows downwards: more accurate is higher up.
            assert_eq!(y < py, acc > pacc, "p{i} at y {y}, p{} at {py}", i - 1);
        }
        previous = Some((x, y, acc));
    }
    // Every point has its tooltip (above); visible labels only on the points the presets serve
    // (the ones `flowcompile select --prefer NAME` returns), the knee and the measured diamonds.
    let labels = texts(&frontier, "point-label");
    let rings: Vec<&str> = markers(&frontier, "preset")
        .iter()
        .map(|m| m.attribute("data-id").unwrap())
        .collect();
    for preset in ["fast", "medium", "high", "xhigh"] {
        let (stdout, _) = check(
            &run(d, &["select", "math.json", "--prefer", preset, "--json"]),
            0,
        );
        let chosen: Value = serde_json::from_str(&stdout).unwrap();
        let id = chosen["id"].as_str().unwrap();
        assert!(
            rings.contains(&id),
            "{preset}: {id} not ringed in {rings:?}"
        );
        assert!(
            labels
                .iter()
                .any(|l| l.starts_with(&format!("{id} ")) && l.contains(preset)),
            "{preset}: {id} not in {labels:?}"
        );
        assert!(
            html.contains(&format!(
                "<tr data-point=\"{id}\"><td class=\"mono\">math@{preset}</td>"
            )),
            "{preset}: no presets row for {id}"
        );
    }
    let knee = markers(&frontier, "knee");
    assert_eq!(knee.len(), 1);
    for id in ["p2", "p8", "p14"] {
        assert!(
            labels.iter().any(|l| l == id),
            "measured {id} not in {labels:?}"
        );
    }
    let mut marked = rings.clone();
    marked.extend(knee.iter().map(|m| m.attribute("data-id").unwrap()));
    marked.sort_unstable();
    marked.dedup();
    assert_eq!(labels.len(), marked.len() + 3, "{labels:?}");
    let axis = texts(&frontier, "axis-label");
    assert_eq!(axis[0], "latency per query (s) (log scale)");
    assert!(axis[1].starts_with("accuracy (axis from 0."), "{axis:?}");
    assert!(
        frontier
            .descendants()
            .filter(|n| has_class(n, "tick"))
            .count()
            >= 8
    );
    // 5 models x 15 budgets of the largest structure; 3 measured points with their links.
    assert_eq!(markers(&frontier, "baseline").len(), 75);
    assert_eq!(markers(&frontier, "measured").len(), 3);
    assert_eq!(markers(&frontier, "truth").len(), 2);
    let legend = texts(&frontier, "legend-text");
    for entry in [
        "predicted frontier",
        "measured (held-out, 200 items)",
        "uniform qwen3-14b",
        "measured frontier (truth, 200 items)",
    ] {
        assert!(
            legend.iter().any(|l| l == entry),
            "{entry} not in {legend:?}"
        );
    }

    // Profiles: one small multiple per agent, every (model, budget) of its space drawn.
    let profiles = parse("profiles");
    let titles = texts(&profiles, "chart-title");
    assert_eq!(
        titles,
        [
            "programmer",
            "refine_solver",
            "detailed_solver",
            "generate_solver",
            "sc_ensemble"
        ]
    );
    assert_eq!(markers(&profiles, "profile").len(), 5 * 75);
    assert!(!markers(&profiles, "used").is_empty());

    // Fidelity: the three measured points against y = x, Spearman in the title.
    for name in ["fidelity-accuracy", "fidelity-latency"] {
        let doc = parse(name);
        assert_eq!(markers(&doc, "fidelity").len(), 3);
        assert_eq!(
            doc.descendants()
                .filter(|n| has_class(n, "identity"))
                .count(),
            1
        );
        let title = &texts(&doc, "chart-title")[0];
        assert!(title.contains("Spearman ρ = 1.00 (n = 3)"), "{title}");
    }

    if let Ok(browser) = std::env::var("FLOWCOMPILE_CHROMIUM") {
        screenshot_shows_the_plots(d, &browser);
        headers_sort_the_points_table(d, &browser, &html, n_points);
    } else {
        eprintln!("FLOWCOMPILE_CHROMIUM is not set: the page was not rendered in a browser");
    }
}

/// Renders the page with headless Chromium and checks that the frontier's and the measurements'
/// colours are on screen (so the inline SVG was drawn, not just the text).
fn screenshot_shows_the_plots(dir: &Path, browser: &str) {
    let script = root().join("scripts/report-screenshot.sh");
    let out = Command::new("bash")
        .arg(&script)
        .args(["report.html", "shot.png", "1200x1300"])
        .env("FLOWCOMPILE_CHROMIUM", browser)
        .current_dir(dir)
        .output()
        .unwrap();
    check(&out, 0);
    let bytes = std::fs::read(dir.join("shot.png")).unwrap();
    assert!(bytes.len() > 20_000, "a {}-byte screenshot", bytes.len());
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1200, 1300));
    let channels = info.color_type.samples();
    assert!(channels >= 3, "{:?}", info.color_type);
    let near = |px: &[u8], rgb: (u8, u8, u8)| {
        px[0].abs_diff(rgb.0) < 12 && px[1].abs_diff(rgb.1) < 12 && px[2].abs_diff(rgb.2) < 12
    };
    let count = |rgb| {
        buf[..info.buffer_size()]
            .chunks(channels)
            .filter(|px| near(px, rgb))
            .count()
    };
    let frontier = count((0x1f, 0x3b, 0x73));
    let measured = count((0xd6, 0x27, 0x28));
    let models_badge = count((0xff, 0xf1, 0xd6));
    assert!(frontier > 500, "{frontier} frontier-coloured pixels");
    assert!(measured > 50, "{measured} measurement-coloured pixels");
    assert!(models_badge > 500, "{models_badge} badge pixels");
}

/// Clicks the "predicted accuracy" header twice in headless Chromium (ascending, then descending)
/// and reads the rows' order back from the DOM.
fn headers_sort_the_points_table(dir: &Path, browser: &str, html: &str, n_points: usize) {
    let click = "<script>var th = document.querySelectorAll('#points-table th')[2]; th.click(); th.click();</script></body>";
    std::fs::write(dir.join("sorted.html"), html.replace("</body>", click)).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", dir.join("sorted.html").display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let table = &dom[dom
        .find("id=\"points-table\"")
        .expect("the table is in the DOM")..];
    let order: Vec<&str> = table
        .split("<tr data-id=\"")
        .skip(1)
        .map(|row| &row[..row.find('"').unwrap()])
        .collect();
    let expected: Vec<String> = (0..n_points).rev().map(|i| format!("p{i}")).collect();
    assert_eq!(order, expected, "points by predicted accuracy, descending");
}

#[test]
fn report_inputs_that_do_not_belong_together_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let artifact = compile_math(d);

    let mut unknown = validation_fixture(&artifact);
    unknown["points"][1]["id"] = json!("p99");
    let file = write_json(d, "unknown.json", &unknown);
    let (_, stderr) = check(&run(d, &["report", "math.json", "--validation", &file]), 3);
    assert!(
        stderr.contains("unknown.json: points[1].id: 'p99' is not a point of the artifact"),
        "{stderr}"
    );

    let mut other = validation_fixture(&artifact);
    other["workflow"] = json!("hotpotqa");
    let file = write_json(d, "other.json", &other);
    let (_, stderr) = check(&run(d, &["report", "math.json", "--validation", &file]), 3);
    assert!(
        stderr.contains(
            "other.json: workflow 'hotpotqa' does not match the artifact's workflow 'math'"
        ),
        "{stderr}"
    );

    let mut bad = validation_fixture(&artifact);
    bad["points"][0]["measured"]["accuracy"] = json!(1.5);
    let file = write_json(d, "bad.json", &bad);
    let (_, stderr) = check(&run(d, &["report", "math.json", "--validation", &file]), 3);
    assert!(
        stderr.contains(
            "bad.json: points[0].measured.accuracy: expected a number in [0, 1], found 1.5"
        ),
        "{stderr}"
    );

    let file = write_json(
        d,
        "truth.json",
        &json!({"format": "flowcompile.truth.v1", "workflow": "math"}),
    );
    let (_, stderr) = check(&run(d, &["report", "math.json", "--truth", &file]), 3);
    assert!(
        stderr.contains("truth.json: top level: missing field `frontier`"),
        "{stderr}"
    );

    // --profiles needs --workflow (a usage error), and both must be what the artifact came from.
    check(
        &run(
            d,
            &[
                "report",
                "math.json",
                "--profiles",
                &example("profiles.csv"),
            ],
        ),
        2,
    );
    let hotpotqa = root().join("examples/hotpotqa");
    let (_, stderr) = check(
        &run(
            d,
            &[
                "report",
                "math.json",
                "--workflow",
                &hotpotqa.join("workflow.toml").display().to_string(),
                "--profiles",
                &hotpotqa.join("profiles.csv").display().to_string(),
            ],
        ),
        3,
    );
    assert!(
        stderr.contains("does not match the artifact's workflow 'math'"),
        "{stderr}"
    );
    assert!(!d.join(".flowcompile/math.report.html").exists());
}

#[test]
fn report_warns_when_the_profiles_are_not_the_compiled_ones() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    compile_math(d);
    // Same rows, one accuracy changed: valid profiles, but not the ones compiled.
    let text = std::fs::read_to_string(example("profiles.csv")).unwrap();
    let changed = text.replacen(",0.14,", ",0.15,", 1);
    assert_ne!(changed, text);
    std::fs::write(d.join("changed.csv"), changed).unwrap();
    let args = [
        "report",
        "math.json",
        "--workflow",
        &example("workflow.toml"),
        "--profiles",
        "changed.csv",
    ];
    let (stdout, stderr) = check(&run(d, &args), 0);
    assert!(
        stderr.contains("warning: the profiles given (sha256 ")
            && stderr.contains("is not the one the artifact was compiled from"),
        "{stderr}"
    );
    assert!(
        stdout.contains("wrote .flowcompile/math.report.html"),
        "{stdout}"
    );
    let html = std::fs::read_to_string(d.join(".flowcompile/math.report.html")).unwrap();
    assert!(html.contains("class=\"warnings\""));
}

#[test]
fn the_report_takes_the_narrowed_profiles_a_restricted_measured_compile_exported() {
    let dir = tempfile::tempdir().unwrap();
    let data = root().join("examples/data/gsm8k_validate.jsonl");
    let compile = [
        "compile",
        &example("workflow.toml"),
        "--data",
        &data.display().to_string(),
        "--zoo",
        "--limit",
        "12",
        "--calls-per-setting",
        "4",
        "--models",
        "qwen3-0.6b,qwen3-8b",
        "--budgets",
        "10,400",
        "--store",
        "store.sqlite",
        "--export-profiles",
        "measured.csv",
        "-o",
        "narrow.json",
    ];
    check(&run(dir.path(), &compile), 0);
    let report = [
        "report",
        "narrow.json",
        "--workflow",
        &example("workflow.toml"),
        "--profiles",
        "measured.csv",
        "--throughput",
        "measured.throughput.csv",
        "-o",
        "narrow.html",
    ];
    let (_, stderr) = check(&run(dir.path(), &report), 0);
    assert!(!stderr.contains("no row"), "{stderr}");
    let page = std::fs::read_to_string(dir.path().join("narrow.html")).unwrap();
    assert!(
        page.contains("qwen3-8b"),
        "the profiles plot names the models"
    );
}

//! The report's plots, built from the checked inputs.

use std::collections::HashSet;
use std::fmt::Write;

use flowcompile_artifact::Point;

use crate::chart::{legend_entry, open_svg, Chart, Datum, Line, Links, Segment, Series, Shape};
use crate::{spearman, Model, Plot};

/// Colour of the predicted frontier.
pub(crate) const FRONTIER: &str = "#1f3b73";
/// Colour of held-out measurements.
pub(crate) const MEASURED: &str = "#d62728";
/// Colour of the measured truth frontier.
pub(crate) const TRUTH: &str = "#555555";

/// Every plot the inputs allow, in page order.
pub(crate) fn all(m: &Model) -> Vec<Plot> {
    let mut out = vec![frontier(m)];
    if m.resolved.is_some() {
        out.push(profiles(m));
    }
    if !m.measured.is_empty() {
        out.extend(fidelity(m));
    }
    out
}

/// One line per slot: `slot: model@budget`.
pub(crate) fn settings_text(p: &Point) -> String {
    p.settings
        .iter()
        .map(|(slot, s)| format!("{slot}: {}@{}", s.model, s.budget_tokens))
        .collect::<Vec<_>>()
        .join("\n")
}

fn point_tooltip(p: &Point) -> String {
    let intervals = match (
        p.predicted.accuracy_interval,
        p.predicted.latency_interval_s,
    ) {
        (Some([a, b]), Some([c, d])) => {
            format!(" (90%: accuracy [{a:.4}, {b:.4}], latency [{c:.3}, {d:.3}] s)")
        }
        _ => String::new(),
    };
    format!(
        "{} (structure s{}): predicted accuracy {:.4}, latency {:.3} s{intervals}\n{}",
        p.id,
        p.structure.index,
        p.predicted.accuracy,
        p.predicted.latency_s,
        settings_text(p)
    )
}

/// Error bars of the points' 90% intervals: a vertical bar for accuracy, a horizontal one for
/// latency (none for an artifact without intervals, and then no legend entry).
fn interval_bars(a: &flowcompile_artifact::Artifact) -> Links {
    let mut segments = Vec::new();
    for p in &a.points {
        let (x, y) = (p.predicted.latency_s, p.predicted.accuracy);
        if let Some([lo, hi]) = p.predicted.accuracy_interval {
            segments.push(Segment {
                from: (x, lo),
                to: (x, hi),
                tooltip: format!("{}: 90% interval of accuracy [{lo:.4}, {hi:.4}]", p.id),
            });
        }
        if let Some([lo, hi]) = p.predicted.latency_interval_s {
            segments.push(Segment {
                from: (lo, y),
                to: (hi, y),
                tooltip: format!("{}: 90% interval of latency [{lo:.3}, {hi:.3}] s", p.id),
            });
        }
    }
    Links {
        name: "90% intervals".into(),
        class: "interval".into(),
        color: FRONTIER.into(),
        dashed: false,
        segments,
    }
}

fn frontier(m: &Model) -> Plot {
    let a = m.inputs.artifact;
    let title = format!("{}: accuracy vs latency", a.workflow);
    let mut chart = Chart::new(&title, "latency per query (s)", "accuracy");
    chart.x_log_above_ratio = Some(20.0);
    chart.y_bounds = Some((0.0, 1.0));

    // Uniform baselines, one series per model in budget order.
    let mut by_model: Vec<(String, Vec<&crate::Baseline>)> = Vec::new();
    for b in &m.baselines {
        match by_model.iter_mut().find(|(model, _)| *model == b.model) {
            Some((_, list)) => list.push(b),
            None => by_model.push((b.model.clone(), vec![b])),
        }
    }
    for (model, mut list) in by_model {
        list.sort_by_key(|b| b.budget_tokens);
        let mut s = Series::new(
            format!("uniform {model}"),
            "baseline",
            m.model_color(&model),
            Line::Straight,
            Shape::Square,
        );
        s.filled = false;
        s.size = 3.5;
        s.dashed = true;
        s.data = list
            .iter()
            .map(|b| Datum {
                x: b.predicted.latency_s,
                y: b.predicted.accuracy,
                id: format!("{}@{}", b.model, b.budget_tokens),
                label: None,
                tooltip: format!(
                    "uniform baseline: every agent on {}@{} (structure s{})\npredicted accuracy {:.4}, latency {:.3} s",
                    b.model, b.budget_tokens, b.structure, b.predicted.accuracy, b.predicted.latency_s
                ),
            })
            .collect();
        chart.series.push(s);
    }

    if let Some((t, _)) = m.inputs.truth {
        let mut s = Series::new(
            match t.n_items {
                Some(n) => format!("measured frontier (truth, {n} items)"),
                None => "measured frontier (truth)".into(),
            },
            "truth",
            TRUTH,
            Line::Step,
            Shape::Triangle,
        );
        s.dashed = true;
        s.filled = false;
        let mut pts: Vec<_> = t.frontier.iter().collect();
        pts.sort_by(|a, b| a.latency_s.total_cmp(&b.latency_s));
        s.data = pts
            .iter()
            .enumerate()
            .map(|(i, p)| Datum {
                x: p.latency_s,
                y: p.accuracy,
                id: format!("t{i}"),
                label: None,
                tooltip: truth_tooltip("truth frontier", p),
            })
            .collect();
        chart.series.push(s);
        if let Some(b) = &t.best_uniform {
            let mut s = Series::new(
                "best uniform (truth)",
                "truth-uniform",
                TRUTH,
                Line::None,
                Shape::Star,
            );
            s.data = vec![Datum {
                x: b.latency_s,
                y: b.accuracy,
                id: "best-uniform".into(),
                label: None,
                tooltip: truth_tooltip("best uniform configuration (measured)", b),
            }];
            chart.series.push(s);
        }
    }

    let mut s = Series::new(
        "predicted frontier",
        "frontier",
        FRONTIER,
        Line::Step,
        Shape::Circle,
    );
    if a.points.len() > 100 {
        s.size = 2.5;
    }
    s.data = a
        .points
        .iter()
        .map(|p| Datum {
            x: p.predicted.latency_s,
            y: p.predicted.accuracy,
            id: p.id.clone(),
            label: None,
            tooltip: point_tooltip(p),
        })
        .collect();
    chart.series.push(s);
    chart.links.push(interval_bars(a));
    chart.series.extend(mark_series(m));

    if !m.measured.is_empty() {
        let mut indices: Vec<usize> = m.measured.keys().copied().collect();
        indices.sort_unstable();
        let mut links = Links {
            name: "prediction to measurement".into(),
            class: "measured-link".into(),
            color: MEASURED.into(),
            dashed: true,
            segments: Vec::new(),
        };
        let label = match m.inputs.validation.and_then(|(v, _)| v.n_items) {
            Some(n) => format!("measured (held-out, {n} items)"),
            None => "measured (held-out)".into(),
        };
        let mut s = Series::new(label, "measured", MEASURED, Line::None, Shape::Diamond);
        for i in indices {
            let p = &a.points[i];
            let meas = m.measured[&i]
                .measured
                .as_ref()
                .expect("only measured points are kept");
            let tip = format!(
                "{} measured: accuracy {:.4}, latency {:.3} s (predicted {:.4}, {:.3} s){}",
                p.id,
                meas.accuracy,
                meas.latency_s,
                p.predicted.accuracy,
                p.predicted.latency_s,
                meas.n.map(|n| format!(", {n} items")).unwrap_or_default()
            );
            links.segments.push(Segment {
                from: (p.predicted.latency_s, p.predicted.accuracy),
                to: (meas.latency_s, meas.accuracy),
                tooltip: tip.clone(),
            });
            s.data.push(Datum {
                x: meas.latency_s,
                y: meas.accuracy,
                id: p.id.clone(),
                label: Some(p.id.clone()),
                tooltip: tip,
            });
        }
        chart.links.push(links);
        chart.series.push(s);
    }
    Plot {
        name: "frontier".into(),
        svg: chart.to_svg(960.0, 540.0, "frontier"),
        title,
    }
}

/// Colour of the preset and knee marks.
pub(crate) const MARK: &str = "#111111";

/// The rings around the points the presets serve and the square around the knee, each marked
/// point labelled once with its id and what it is marked as (`p7 medium, knee`).
fn mark_series(m: &Model) -> Vec<Series> {
    let a = m.inputs.artifact;
    let marks = &m.marks;
    let datum = |i: usize, label: bool, what: String| {
        let p = &a.points[i];
        Datum {
            x: p.predicted.latency_s,
            y: p.predicted.accuracy,
            id: p.id.clone(),
            label: label.then(|| format!("{} {}", p.id, marks.names(i).join(", "))),
            tooltip: format!("{}: {what}\n{}", p.id, point_tooltip(p)),
        }
    };
    let mut presets = Series::new("preset point", "preset", MARK, Line::None, Shape::Circle);
    presets.filled = false;
    presets.size = 7.5;
    presets.label_first = true;
    let mut knee = Series::new(
        "knee: farthest above chord",
        "knee",
        MARK,
        Line::None,
        Shape::Square,
    );
    knee.filled = false;
    knee.size = 10.0;
    knee.label_first = true;
    for i in marks.points() {
        let names: Vec<String> = marks
            .presets
            .iter()
            .filter(|&&(_, _, p)| p == i)
            .map(|(name, b, _)| {
                format!(
                    "{name} (preference {}: select --prefer {name}, {}@{name})",
                    b.value(),
                    a.workflow
                )
            })
            .collect();
        if !names.is_empty() {
            presets
                .data
                .push(datum(i, true, format!("served by {}", names.join(", "))));
        }
        if marks.knee == Some(i) {
            knee.data.push(datum(
                i,
                names.is_empty(),
                "the knee: farthest above the chord from the fastest to the most accurate point, \
                 with log latency (linear if a latency is 0) and accuracy each scaled to [0, 1]"
                    .into(),
            ));
        }
    }
    [presets, knee]
        .into_iter()
        .filter(|s| !s.data.is_empty())
        .collect()
}

fn truth_tooltip(what: &str, p: &crate::TruthPoint) -> String {
    let mut t = format!(
        "{what}{}: accuracy {:.4}, latency {:.3} s",
        p.structure
            .map(|s| format!(" (structure s{s})"))
            .unwrap_or_default(),
        p.accuracy,
        p.latency_s
    );
    for (slot, s) in &p.settings {
        let _ = write!(t, "\n{slot}: {}@{}", s.model, s.budget_tokens);
    }
    t
}

/// Per-agent profiles as a grid of small multiples with one shared legend.
fn profiles(m: &Model) -> Plot {
    let p = m.inputs.profiles.as_ref().expect("profiles are given");
    let resolved = m.resolved.as_ref().expect("profiles are resolved");
    let wf = p.workflow;
    // (agent, model, budget) settings some frontier point uses, via the slots' agents.
    let space_slots: Vec<(String, String)> = match wf.design_space() {
        Ok(space) => space
            .slots
            .iter()
            .map(|s| (s.name.clone(), wf.agent(s.agent).name.clone()))
            .collect(),
        Err(_) => Vec::new(),
    };
    let mut used: HashSet<(String, String, u32)> = HashSet::new();
    for point in &m.inputs.artifact.points {
        for (slot, s) in &point.settings {
            if let Some((_, agent)) = space_slots.iter().find(|(name, _)| name == slot) {
                used.insert((agent.clone(), s.model.clone(), s.budget_tokens));
            }
        }
    }
    let mut charts = Vec::new();
    for (i, agent) in wf.agents.iter().enumerate() {
        let metrics = resolved.metrics(flowcompile_ir::AgentId(i as u32));
        if metrics.is_empty() {
            continue;
        }
        let mut chart = Chart::new(&agent.name, "latency per call (s)", "accuracy");
        chart.legend = false;
        chart.x_log_above_ratio = Some(30.0);
        chart.y_bounds = Some((0.0, 1.0));
        let mut ring = Series::new("", "used", "#222", Line::None, Shape::Circle);
        ring.filled = false;
        ring.size = 7.0;
        let mut models: Vec<&str> = Vec::new();
        for s in &agent.settings {
            if !models.contains(&s.model.as_str()) {
                models.push(&s.model);
            }
        }
        for model in models {
            let mut idx: Vec<usize> = (0..agent.settings.len())
                .filter(|&k| agent.settings[k].model == model)
                .collect();
            idx.sort_by_key(|&k| agent.settings[k].budget_tokens);
            let mut s = Series::new(
                model,
                "profile",
                m.model_color(model),
                Line::Straight,
                Shape::Circle,
            );
            s.size = 3.0;
            for k in idx {
                let setting = &agent.settings[k];
                let met = metrics[k];
                let samples = p
                    .table
                    .get(&agent.name, model, setting.budget_tokens)
                    .map(|e| format!(", {} samples (line {})", e.row.samples, e.line))
                    .unwrap_or_default();
                let is_used =
                    used.contains(&(agent.name.clone(), model.to_string(), setting.budget_tokens));
                let tooltip = format!(
                    "{}: {}@{}\naccuracy {:.4}, latency {:.3} s{samples}{}",
                    agent.name,
                    model,
                    setting.budget_tokens,
                    met.accuracy,
                    met.latency_s,
                    if is_used {
                        "\nused by a frontier point"
                    } else {
                        ""
                    }
                );
                let id = format!("{}/{}@{}", agent.name, model, setting.budget_tokens);
                if is_used {
                    ring.data.push(Datum {
                        x: met.latency_s,
                        y: met.accuracy,
                        id: id.clone(),
                        label: None,
                        tooltip: tooltip.clone(),
                    });
                }
                s.data.push(Datum {
                    x: met.latency_s,
                    y: met.accuracy,
                    id,
                    label: None,
                    tooltip,
                });
            }
            chart.series.push(s);
        }
        chart.series.push(ring);
        charts.push(chart);
    }

    let title = format!("{}: per-agent profiles", wf.name);
    let cols = charts.len().clamp(1, 3);
    let rows = charts.len().div_ceil(cols).max(1);
    let (cell_w, cell_h) = (320.0, 250.0);
    let legend_h = 28.0;
    let width = cols as f64 * cell_w;
    let height = legend_h + rows as f64 * cell_h;
    let mut svg = String::new();
    open_svg(&mut svg, width, height, &title);
    svg.push_str(r#"<g class="legend">"#);
    let mut x = 8.0;
    let mut models: Vec<&str> = Vec::new();
    for agent in &wf.agents {
        for s in &agent.settings {
            if !models.contains(&s.model.as_str()) {
                models.push(&s.model);
            }
        }
    }
    for model in models {
        let look = Series::new(
            model,
            "profile",
            m.model_color(model),
            Line::Straight,
            Shape::Circle,
        );
        legend_entry(&mut svg, x, 14.0, &look);
        x += 44.0 + model.chars().count() as f64 * 6.6;
    }
    let mut ring = Series::new(
        "used by a frontier point",
        "used",
        "#222",
        Line::None,
        Shape::Circle,
    );
    ring.filled = false;
    legend_entry(&mut svg, x, 14.0, &ring);
    svg.push_str("</g>");
    for (i, chart) in charts.iter().enumerate() {
        let (c, r) = (i % cols, i / cols);
        chart.render(
            &mut svg,
            c as f64 * cell_w,
            legend_h + r as f64 * cell_h,
            cell_w,
            cell_h,
            &format!("agent-{i}"),
        );
    }
    svg.push_str("</svg>\n");
    Plot {
        name: "profiles".into(),
        title,
        svg,
    }
}

/// Predicted vs measured accuracy, and latency, for the validated points.
fn fidelity(m: &Model) -> Vec<Plot> {
    let a = m.inputs.artifact;
    let mut indices: Vec<usize> = m.measured.keys().copied().collect();
    indices.sort_unstable();
    // Per validated point: its id, then (predicted, measured) accuracy and latency.
    let rows: Vec<(&str, [(f64, f64); 2])> = indices
        .iter()
        .map(|&i| {
            let v = m.measured[&i];
            let meas = v.measured.as_ref().expect("only measured points are kept");
            (
                a.points[i].id.as_str(),
                [
                    (v.predicted.accuracy, meas.accuracy),
                    (v.predicted.latency_s, meas.latency_s),
                ],
            )
        })
        .collect();
    let latency_note = match m
        .inputs
        .validation
        .and_then(|(v, _)| v.latency_source.as_deref())
    {
        Some(s) => format!(", {s}"),
        None => String::new(),
    };
    let panels = [
        ("fidelity-accuracy", "accuracy", String::new()),
        ("fidelity-latency", "latency", format!(" (s{latency_note})")),
    ];
    panels
        .iter()
        .enumerate()
        .map(|(k, (name, metric, unit))| {
            let pred: Vec<f64> = rows.iter().map(|r| r.1[k].0).collect();
            let meas: Vec<f64> = rows.iter().map(|r| r.1[k].1).collect();
            let rho = match spearman(&pred, &meas) {
                Some(r) => format!("Spearman \u{3c1} = {r:.2}"),
                None => "Spearman \u{3c1} undefined".into(),
            };
            let title = format!("{metric}: {rho} (n = {})", rows.len());
            let mut chart = Chart::new(
                &title,
                &format!("predicted {metric}{unit}"),
                &format!("measured {metric}{unit}"),
            );
            chart.identity = true;
            chart.legend = false;
            if k == 0 {
                chart.y_bounds = Some((0.0, 1.0));
            } else {
                // Latencies span orders of magnitude along a frontier: both axes log (linear only
                // when a latency is 0 or all are equal).
                chart.x_log_above_ratio = Some(1.0);
            }
            let mut s = Series::new("", "fidelity", MEASURED, Line::None, Shape::Circle);
            s.data = rows
                .iter()
                .map(|(id, values)| Datum {
                    x: values[k].0,
                    y: values[k].1,
                    id: id.to_string(),
                    label: Some(id.to_string()),
                    tooltip: format!(
                        "{id}: predicted {metric} {:.4}, measured {:.4}",
                        values[k].0, values[k].1
                    ),
                })
                .collect();
            chart.series.push(s);
            Plot {
                name: name.to_string(),
                svg: chart.to_svg(470.0, 420.0, name),
                title,
            }
        })
        .collect()
}

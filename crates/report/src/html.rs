//! The self-contained HTML page: header, plots and tables, with inline CSS and SVG.

use std::fmt::Write;

use flowcompile_artifact::LatencyModel;
use serde_json::Value;

use crate::chart::esc;
use crate::plots::settings_text;
use crate::{short, Baseline, Model, Plot};

const CSS: &str = "
:root{--ink:#1d2330;--muted:#5b6475;--line:#d9dde5;--accent:#1f3b73;--warn:#8a4b00}
*{box-sizing:border-box}
body{margin:0;background:#f4f5f8;color:var(--ink);font:14px/1.45 system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif}
main{max-width:1080px;margin:0 auto;padding:24px 20px 48px}
header{background:#fff;border:1px solid var(--line);border-radius:8px;padding:18px 22px;margin-bottom:18px}
h1{margin:0 0 4px;font-size:26px}
h1 .sub{font-weight:400;color:var(--muted);font-size:18px}
h2{font-size:18px;margin:0 0 8px}
.models-label{display:inline-block;margin:6px 0 8px;padding:4px 12px;border-radius:14px;background:#fff1d6;color:#7a4100;border:1px solid #f0c36d;font-weight:700;font-size:15px}
.desc{color:var(--muted);margin:2px 0 10px}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:3px 16px;margin:10px 0 0}
.facts dt{color:var(--muted)}
.facts dd{margin:0}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.warnings{margin:12px 0 0;padding:10px 14px;background:#fff7e6;border:1px solid #f0c36d;border-radius:6px;color:var(--warn)}
.warnings ul{margin:4px 0 0;padding-left:18px}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 20px;margin-bottom:18px}
section p.caption{color:var(--muted);margin:0 0 10px}
figure{margin:0}
figure svg{width:100%;height:auto;display:block}
.pair{display:flex;flex-wrap:wrap;gap:12px}
.pair figure{flex:1 1 420px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
th{background:#eef1f6;position:sticky;top:0}
table.sortable th{cursor:pointer}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tbody tr:nth-child(even){background:#fafbfc}
td.settings{white-space:pre}
.knobs{display:block;color:var(--muted);font-size:12px}
.marks{display:block;color:var(--accent);font-size:12px;font-weight:600}
#presets{margin-top:10px}
.bad{color:#b00020;font-weight:600}
summary{cursor:pointer;color:var(--accent);margin:4px 0 8px}
footer{color:var(--muted);font-size:12px;text-align:center}
";

/// Sorts a table by a clicked header; the page reads fine without it.
const SORT_JS: &str = "document.querySelectorAll('table.sortable th').forEach(function(th){th.addEventListener('click',function(){var i=th.cellIndex,tb=th.closest('table').tBodies[0],rows=Array.prototype.slice.call(tb.rows),asc=th.dataset.dir!=='asc';th.dataset.dir=asc?'asc':'desc';rows.sort(function(a,b){var x=a.cells[i].dataset.v,y=b.cells[i].dataset.v,nx=parseFloat(x),ny=parseFloat(y),c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:String(x).localeCompare(String(y));return asc?c:-c;});rows.forEach(function(r){tb.appendChild(r);});});});";

/// The whole page.
pub(crate) fn page(m: &Model, plots: &[Plot]) -> String {
    let a = m.inputs.artifact;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{} - flowcompile report</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        esc(&a.workflow)
    );
    header(&mut out, m);
    let plot = |name: &str| plots.iter().find(|p| p.name == name);

    out.push_str("<section id=\"frontier\">\n<h2>Frontier</h2>\n");
    let _ = writeln!(
        out,
        "<p class=\"caption\">{}</p>",
        esc(&frontier_caption(m))
    );
    if let Some(p) = plot("frontier") {
        figure(&mut out, p);
    }
    presets_table(&mut out, m);
    out.push_str("</section>\n");

    if !m.measured.is_empty() {
        fidelity(&mut out, m, plots);
    }
    if !m.baselines.is_empty() {
        baselines(&mut out, m);
    }
    if let Some(p) = plot("profiles") {
        out.push_str("<section id=\"profiles\">\n<h2>Per-agent profiles</h2>\n");
        out.push_str("<p class=\"caption\">Accuracy and latency of each agent under each (model, budget) setting of its space, as the proxy used them; each model's settings are joined in increasing budget order; a ring marks a setting some frontier point uses. Hover a point for its values.</p>\n");
        figure(&mut out, p);
        out.push_str("</section>\n");
    }
    points_table(&mut out, m);
    if let Some((t, source)) = m.inputs.truth {
        truth(&mut out, t, source);
    }
    let _ = write!(
        out,
        "<footer>made by {} {} from {}; the same inputs give the same page</footer>\n</main>\n<script>{SORT_JS}</script>\n</body>\n</html>\n",
        esc(&a.provenance.tool),
        esc(&a.provenance.tool_version),
        esc(m.inputs.artifact_source)
    );
    out
}

fn figure(out: &mut String, p: &Plot) {
    let _ = write!(
        out,
        "<figure id=\"plot-{}\">\n{}</figure>\n",
        esc(&p.name),
        p.svg
    );
}

/// `4906417725` as `4,906,417,725`; an approximate count (`~1.2e57`) as it is.
fn count(text: &str) -> String {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return text.to_string();
    }
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i > 0 && (text.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn header(out: &mut String, m: &Model) {
    let a = m.inputs.artifact;
    let _ = writeln!(
        out,
        "<header>\n<h1>{} <span class=\"sub\">compiled workflow report</span></h1>",
        esc(&a.workflow)
    );
    let mut labels: Vec<&str> = a
        .provenance
        .models_label
        .iter()
        .map(String::as_str)
        .collect();
    if let Some(l) = m
        .inputs
        .validation
        .and_then(|(v, _)| v.models_label.as_deref())
    {
        if !labels.contains(&l) {
            labels.push(l);
        }
    }
    for l in labels {
        let _ = writeln!(out, "<div class=\"models-label\">models: {}</div>", esc(l));
    }
    if let Some(desc) = m
        .inputs
        .profiles
        .as_ref()
        .and_then(|p| p.workflow.description.as_deref())
    {
        let _ = writeln!(out, "<p class=\"desc\">{}</p>", esc(desc));
    }
    out.push_str("<dl class=\"facts\">\n");
    let mut fact = |k: &str, v: String| {
        let _ = writeln!(out, "<dt>{}</dt><dd>{v}</dd>", esc(k));
    };
    fact(
        "artifact",
        format!("<code>{}</code>", esc(m.inputs.artifact_source)),
    );
    if let Some(s) = &a.space {
        fact(
            "design space",
            format!(
                "{} structures, {} configurations; {} after pruning dominated settings",
                s.n_structures,
                esc(&count(&s.n_configs)),
                esc(&count(&s.n_configs_after_pruning))
            ),
        );
        let kept: Vec<String> = s
            .slots
            .iter()
            .map(|x| format!("{} {}/{}", esc(&x.name), x.settings_kept, x.settings_total))
            .collect();
        fact("settings kept per slot", kept.join(", "));
    }
    fact("frontier", format!("{} Pareto points", a.points.len()));
    fact(
        "proxy",
        format!(
            "{} execution, {} latency",
            a.proxy.execution,
            match a.proxy.latency {
                LatencyModel::Measured => "measured",
                LatencyModel::Tokens => "token-based",
            }
        ),
    );
    let digest = |d: &Option<String>| match d {
        Some(d) => format!("<code title=\"{}\">sha256 {}</code>", esc(d), esc(short(d))),
        None => "not recorded".into(),
    };
    fact("workflow file", digest(&a.provenance.spec_sha256));
    fact("profiles", digest(&a.provenance.profiles_sha256));
    if let Some(from) = &a.provenance.imported_from {
        fact("imported from", format!("<code>{}</code>", esc(from)));
    }
    fact(
        "tool",
        format!(
            "{} {}",
            esc(&a.provenance.tool),
            esc(&a.provenance.tool_version)
        ),
    );
    if let Some((v, source)) = m.inputs.validation {
        let mut text = format!(
            "<code>{}</code>: {} points measured",
            esc(source),
            m.measured.len()
        );
        if let Some(d) = &v.data {
            let _ = write!(text, " on <code>{}</code>", esc(d));
        }
        if let Some(n) = v.n_items {
            let _ = write!(text, " ({n} items)");
        }
        fact("validation", text);
    }
    if let Some((t, source)) = m.inputs.truth {
        let mut text = format!(
            "<code>{}</code>: {} frontier points",
            esc(source),
            t.frontier.len()
        );
        if let Some(n) = &t.n_configs {
            let _ = write!(
                text,
                " out of {} configurations measured",
                esc(&value_text(n))
            );
        }
        if let Some(n) = t.n_items {
            let _ = write!(text, " on {n} items");
        }
        fact("ground truth", text);
    }
    out.push_str("</dl>\n");
    if !m.warnings.is_empty() {
        out.push_str("<div class=\"warnings\"><strong>Check these inputs:</strong><ul>\n");
        for w in &m.warnings {
            let _ = writeln!(out, "<li>{}</li>", esc(w));
        }
        out.push_str("</ul></div>\n");
    }
    out.push_str("</header>\n");
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => count(s),
        Value::Number(n) => match n.as_u64() {
            Some(u) => count(&u.to_string()),
            None => format!("{:.4}", n.as_f64().unwrap_or(f64::NAN)),
        },
        other => other.to_string(),
    }
}

/// The fastest frontier point at least as accurate as `acc`.
fn fastest_at_least<'p>(m: &'p Model, acc: f64) -> Option<&'p flowcompile_artifact::Point> {
    m.inputs
        .artifact
        .points
        .iter()
        .filter(|p| p.predicted.accuracy >= acc)
        .min_by(|a, b| a.predicted.latency_s.total_cmp(&b.predicted.latency_s))
}

fn frontier_caption(m: &Model) -> String {
    let a = m.inputs.artifact;
    let mut text = format!(
        "The {} predicted Pareto points (a step line: the best accuracy reachable within a latency); hover a point for its settings.",
        a.points.len()
    );
    if !m.marks.presets.is_empty() {
        text.push_str(" Rings: the points the presets serve (flowcompile select --prefer NAME, WORKFLOW@NAME in serve; the table below).");
    }
    if m.marks.knee.is_some() {
        text.push_str(" Square: the knee, the point farthest above the chord from the fastest to the most accurate point, log latency and accuracy each scaled to [0, 1]: past it, each factor of latency buys less accuracy.");
    }
    if let Some((s, knobs)) = &m.baseline_structure {
        if !m.baselines.is_empty() {
            let _ = write!(
                text,
                " Hollow squares: uniform baselines, structure s{s} ({knobs}) with every agent on one model and budget, predicted by the same proxy."
            );
        }
    }
    if let Some(best) = best_baseline(&m.baselines) {
        if let Some(p) = fastest_at_least(m, best.predicted.accuracy) {
            let _ = write!(
                text,
                " The most accurate baseline, {}@{} ({:.3}, {:.2} s), is matched by {} at {:.2} s ({:.1}x faster).",
                best.model,
                best.budget_tokens,
                best.predicted.accuracy,
                best.predicted.latency_s,
                p.id,
                p.predicted.latency_s,
                best.predicted.latency_s / p.predicted.latency_s.max(f64::MIN_POSITIVE)
            );
        }
    }
    if !m.measured.is_empty() {
        text.push_str(
            " Red diamonds: held-out measurements, labelled and joined to their predictions.",
        );
    }
    if m.inputs.truth.is_some() {
        text.push_str(" Dashed grey: the measured (ground-truth) frontier.");
    }
    text
}

fn best_baseline(b: &[Baseline]) -> Option<&Baseline> {
    b.iter().max_by(|x, y| {
        x.predicted
            .accuracy
            .total_cmp(&y.predicted.accuracy)
            .then(y.predicted.latency_s.total_cmp(&x.predicted.latency_s))
    })
}

fn num_cell(v: f64, decimals: usize) -> String {
    format!("<td class=\"num\" data-v=\"{v}\">{v:.decimals$}</td>")
}

fn text_cell(v: &str, class: &str) -> String {
    format!("<td class=\"{class}\" data-v=\"{0}\">{0}</td>", esc(v))
}

fn baselines(out: &mut String, m: &Model) {
    out.push_str("<section id=\"baselines\">\n<h2>Uniform baselines</h2>\n");
    let mut speedups: Vec<f64> = m
        .baselines
        .iter()
        .filter_map(|b| {
            fastest_at_least(m, b.predicted.accuracy)
                .map(|p| b.predicted.latency_s / p.predicted.latency_s.max(f64::MIN_POSITIVE))
        })
        .collect();
    speedups.sort_by(f64::total_cmp);
    let _ = write!(
        out,
        "<p class=\"caption\">{} configurations with every agent of the largest structure on one model and budget, predicted by the artifact's proxy. For each, the fastest frontier point at least as accurate",
        m.baselines.len()
    );
    if let (Some(lo), Some(hi)) = (speedups.first(), speedups.last()) {
        let _ = write!(
            out,
            " is {lo:.1}x to {hi:.1}x faster (median {:.1}x)",
            speedups[speedups.len() / 2]
        );
    }
    if speedups.len() < m.baselines.len() {
        let _ = write!(
            out,
            "; <span class=\"bad\">{} baselines are more accurate than every frontier point: the artifact does not come from these profiles</span>",
            m.baselines.len() - speedups.len()
        );
    }
    out.push_str(".</p>\n<details>\n<summary>Table of the baselines</summary>\n");
    out.push_str("<table class=\"sortable\">\n<thead><tr><th>setting</th><th class=\"num\">predicted accuracy</th><th class=\"num\">predicted latency (s)</th><th>fastest point as accurate</th><th class=\"num\">its latency (s)</th><th class=\"num\">speedup</th></tr></thead>\n<tbody>\n");
    for b in &m.baselines {
        let _ = write!(
            out,
            "<tr>{}{}{}",
            text_cell(&format!("{}@{}", b.model, b.budget_tokens), "mono"),
            num_cell(b.predicted.accuracy, 4),
            num_cell(b.predicted.latency_s, 3)
        );
        match fastest_at_least(m, b.predicted.accuracy) {
            Some(p) => {
                let speedup = b.predicted.latency_s / p.predicted.latency_s.max(f64::MIN_POSITIVE);
                let _ = write!(
                    out,
                    "{}{}{}",
                    text_cell(&p.id, "mono"),
                    num_cell(p.predicted.latency_s, 3),
                    num_cell(speedup, 2)
                );
            }
            None => out.push_str(
                "<td class=\"bad\" colspan=\"3\" data-v=\"\">no frontier point is as accurate: the artifact does not come from these profiles</td>",
            ),
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</details>\n</section>\n");
}

/// The point each preset serves, and the knee: one row each.
fn presets_table(out: &mut String, m: &Model) {
    let a = m.inputs.artifact;
    if m.marks.presets.is_empty() {
        return;
    }
    out.push_str("<table id=\"presets\">\n<thead><tr><th>preset</th><th class=\"num\">preference</th><th>point</th><th class=\"num\">predicted accuracy</th><th class=\"num\">predicted latency (s)</th><th>settings (slot: model@budget)</th></tr></thead>\n<tbody>\n");
    let rows = m
        .marks
        .presets
        .iter()
        .map(|&(name, b, i)| (format!("{}@{name}", a.workflow), Some(b.value()), i))
        .chain(m.marks.knee.map(|i| ("knee".to_string(), None, i)));
    for (name, b, i) in rows {
        let p = &a.points[i];
        let _ = writeln!(
            out,
            "<tr data-point=\"{}\"><td class=\"mono\">{}</td><td class=\"num\">{}</td><td class=\"mono\">{}</td>{}{}{}</tr>",
            esc(&p.id),
            esc(&name),
            b.map(|b| b.to_string()).unwrap_or_else(|| "-".into()),
            esc(&p.id),
            num_cell(p.predicted.accuracy, 4),
            num_cell(p.predicted.latency_s, 3),
            text_cell(&settings_text(p), "settings mono")
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

fn fidelity(out: &mut String, m: &Model, plots: &[Plot]) {
    let (v, source) = m
        .inputs
        .validation
        .expect("measured points come from a validation");
    out.push_str("<section id=\"fidelity\">\n<h2>Fidelity on held-out data</h2>\n");
    let _ = writeln!(
        out,
        "<p class=\"caption\">Predicted vs measured for the {} validated points of <code>{}</code>; points on the dashed line were predicted exactly. Ranking matters most: a high Spearman ρ means the frontier's order holds.{}</p>",
        m.measured.len(),
        esc(source),
        match v.latency_source.as_deref() {
            Some("modelled") => " Measured latency is the server's modelled latency.",
            Some("wall") => " Measured latency is wall-clock time.",
            _ => "",
        }
    );
    out.push_str("<div class=\"pair\">\n");
    for p in plots.iter().filter(|p| p.name.starts_with("fidelity-")) {
        figure(out, p);
    }
    out.push_str("</div>\n");
    if let Some(f) = &v.fidelity {
        out.push_str("<table>\n<thead><tr><th>metric</th><th class=\"num\">Spearman</th><th class=\"num\">pairwise agreement</th><th class=\"num\">MAE</th><th class=\"num\">MAE calibrated</th><th class=\"num\">affine fit</th></tr></thead>\n<tbody>\n");
        for (name, stats) in [("accuracy", &f.accuracy), ("latency", &f.latency)] {
            let Some(s) = stats else { continue };
            let opt = |x: Option<f64>| match x {
                Some(x) => num_cell(x, 3),
                None => "<td class=\"num\">-</td>".into(),
            };
            let affine = match s.affine {
                Some(a) => format!(
                    "<td class=\"num\">measured = {:.3} x predicted {} {:.3}</td>",
                    a.slope,
                    if a.intercept < 0.0 { "-" } else { "+" },
                    a.intercept.abs()
                ),
                None => "<td class=\"num\">-</td>".into(),
            };
            let _ = writeln!(
                out,
                "<tr><td>{name}</td>{}{}{}{}{affine}</tr>",
                opt(s.spearman),
                opt(s.pairwise_agreement),
                opt(s.mae),
                opt(s.mae_calibrated)
            );
        }
        out.push_str("</tbody>\n</table>\n");
    }
    out.push_str("</section>\n");
}

fn points_table(out: &mut String, m: &Model) {
    let a = m.inputs.artifact;
    let validated = !m.measured.is_empty();
    out.push_str("<section id=\"points\">\n<h2>Points</h2>\n<p class=\"caption\">Every configuration on the frontier with its structure and the setting of each slot, and under its id the presets it serves (click a header to sort).</p>\n");
    // A long table starts folded, so the plots above stay in view.
    let folded = a.points.len() > FOLD_ABOVE;
    let _ = writeln!(
        out,
        "<details{}>\n<summary>Table of the {} points{}</summary>",
        if folded { "" } else { " open" },
        a.points.len(),
        if folded { " (click to show)" } else { "" }
    );
    out.push_str("<table class=\"sortable\" id=\"points-table\">\n<thead><tr><th>id</th><th>structure</th><th class=\"num\">predicted accuracy</th><th class=\"num\">predicted latency (s)</th>");
    if validated {
        out.push_str(
            "<th class=\"num\">measured accuracy</th><th class=\"num\">measured latency (s)</th>",
        );
    }
    out.push_str("<th>settings (slot: model@budget)</th></tr></thead>\n<tbody>\n");
    for (i, p) in a.points.iter().enumerate() {
        let knobs = p
            .structure
            .knobs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let marks = m.marks.names(i).join(", ");
        let _ = write!(
            out,
            "<tr data-id=\"{}\"><td class=\"mono\" data-v=\"{}\">{}<span class=\"marks\">{}</span></td><td data-v=\"{}\">s{}<span class=\"knobs\">{}</span></td>{}{}",
            esc(&p.id),
            esc(&p.id),
            esc(&p.id),
            esc(&marks),
            p.structure.index,
            p.structure.index,
            esc(&knobs),
            num_cell(p.predicted.accuracy, 4),
            num_cell(p.predicted.latency_s, 3)
        );
        if validated {
            match m.measured.get(&i).and_then(|v| v.measured.as_ref()) {
                Some(meas) => {
                    let _ = write!(
                        out,
                        "{}{}",
                        num_cell(meas.accuracy, 4),
                        num_cell(meas.latency_s, 3)
                    );
                }
                None => out.push_str(
                    "<td class=\"num\" data-v=\"\">-</td><td class=\"num\" data-v=\"\">-</td>",
                ),
            }
        }
        let _ = writeln!(
            out,
            "{}</tr>",
            text_cell(&settings_text(p), "settings mono")
        );
    }
    out.push_str("</tbody>\n</table>\n</details>\n</section>\n");
}

/// Tables of more rows than this start folded.
const FOLD_ABOVE: usize = 20;

fn truth(out: &mut String, t: &crate::Truth, source: &str) {
    let Some(c) = &t.comparison else { return };
    if c.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<section id=\"truth\">\n<h2>Against the measured ground truth</h2>\n<p class=\"caption\">As <code>{}</code> reports it.</p>\n<table>\n<tbody>",
        esc(source)
    );
    for (k, v) in c {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td></tr>",
            esc(&k.replace('_', " ")),
            esc(&value_text(v))
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_get_separators() {
        assert_eq!(count("4906417725"), "4,906,417,725");
        assert_eq!(count("725"), "725");
        assert_eq!(count("~1.2e57"), "~1.2e57");
    }
}

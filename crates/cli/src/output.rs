//! Text rendering: frontier tables, one point, a terminal plot.

use flowcompile_artifact::{Artifact, Point};

pub use flowcompile_driver::{count, digits};

/// Seconds for people: `850 ms`, `4.2 s`, `63 s`, `4 min 10 s`, `2 h 05 min`.
pub fn duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "?".into();
    }
    if secs < 1.0 {
        return format!("{:.0} ms", secs * 1e3);
    }
    if secs < 10.0 {
        return format!("{secs:.1} s");
    }
    let s = secs.round() as u64;
    match s {
        0..=99 => format!("{s} s"),
        100..=3599 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

/// One line about an artifact: what, from where, how big.
pub fn header(a: &Artifact) {
    let label = a
        .provenance
        .models_label
        .as_deref()
        .map(|l| format!(" [{l}]"))
        .unwrap_or_default();
    println!(
        "{}{label}: {} Pareto points (proxy: {} execution, {} latency)",
        a.workflow,
        a.points.len(),
        a.proxy.execution,
        a.proxy.latency
    );
    if let Some(s) = &a.space {
        println!(
            "space: {} structures, {} configurations, {} after pruning",
            count(s.n_structures),
            digits(&s.n_configs),
            digits(&s.n_configs_after_pruning)
        );
    }
    if let Some(sel) = &a.proxy.selection {
        let shifts: Vec<f64> = a
            .points
            .iter()
            .filter_map(|p| p.predicted.selection_optimism)
            .collect();
        if let (Some(lo), Some(hi)) = (
            shifts.iter().copied().reduce(f64::min),
            shifts.iter().copied().reduce(f64::max),
        ) {
            println!(
                "accuracy: corrected for selection on the validation items (optimism bootstrap, {} resamples): {} points lowered by {lo:.3} to {hi:.3}",
                sel.resamples,
                shifts.len()
            );
        }
    }
    if let Some(from) = &a.provenance.imported_from {
        println!("imported from {from}");
    }
}

fn settings(p: &Point) -> String {
    p.settings
        .iter()
        .map(|(slot, s)| format!("{slot}={}@{}", s.model, s.budget_tokens))
        .collect::<Vec<_>>()
        .join(" ")
}

fn knobs(p: &Point) -> String {
    p.structure
        .knobs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// An interval as a table cell: `[0.812, 0.901]`, `-` when absent.
pub fn interval(i: Option<[f64; 2]>, digits: usize) -> String {
    i.map_or_else(
        || "-".into(),
        |[lo, hi]| format!("[{lo:.digits$}, {hi:.digits$}]"),
    )
}

/// The frontier as an aligned table, fastest first; with the 90% intervals when a point has them.
pub fn table(points: &[Point]) -> String {
    let intervals = points.iter().any(|p| {
        p.predicted.accuracy_interval.is_some() || p.predicted.latency_interval_s.is_some()
    });
    let mut out = if intervals {
        format!(
            "{:<6} {:>9} {:>17} {:>11} {:>21}  {:<28} {}\n",
            "point",
            "accuracy",
            "90% interval",
            "latency_s",
            "90% interval",
            "structure",
            "settings"
        )
    } else {
        format!(
            "{:<6} {:>9} {:>11}  {:<28} {}\n",
            "point", "accuracy", "latency_s", "structure", "settings"
        )
    };
    for p in points {
        let structure = format!("s{} {}", p.structure.index, knobs(p));
        let line = if intervals {
            format!(
                "{:<6} {:>9.4} {:>17} {:>11.3} {:>21}  {:<28} {}\n",
                p.id,
                p.predicted.accuracy,
                interval(p.predicted.accuracy_interval, 4),
                p.predicted.latency_s,
                interval(p.predicted.latency_interval_s, 3),
                structure,
                settings(p)
            )
        } else {
            format!(
                "{:<6} {:>9.4} {:>11.3}  {:<28} {}\n",
                p.id,
                p.predicted.accuracy,
                p.predicted.latency_s,
                structure,
                settings(p)
            )
        };
        out.push_str(&line);
    }
    out.pop();
    out
}

/// One point, as `select` prints it.
pub fn point(p: &Point) -> String {
    let within = |i: Option<[f64; 2]>, digits: usize| {
        i.map_or_else(String::new, |_| {
            format!(" (90% interval {})", interval(i, digits))
        })
    };
    format!(
        "{}: accuracy {:.4}{}, latency {:.3} s{}\nstructure s{} {}\nsettings {}",
        p.id,
        p.predicted.accuracy,
        within(p.predicted.accuracy_interval, 4),
        p.predicted.latency_s,
        within(p.predicted.latency_interval_s, 3),
        p.structure.index,
        knobs(p),
        settings(p)
    )
}

/// A scatter plot of the frontier in a `width` x `height` character grid.
pub fn plot(points: &[Point], width: usize, height: usize) -> String {
    if points.is_empty() {
        return String::new();
    }
    let (lat_min, lat_max) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.predicted.latency_s), hi.max(p.predicted.latency_s))
        });
    let (acc_min, acc_max) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.predicted.accuracy), hi.max(p.predicted.accuracy))
        });
    let scale = |v: f64, lo: f64, hi: f64, n: usize| -> usize {
        if hi > lo {
            (((v - lo) / (hi - lo)) * (n - 1) as f64).round() as usize
        } else {
            0
        }
    };
    let mut grid = vec![vec![' '; width]; height];
    for p in points {
        let x = scale(p.predicted.latency_s, lat_min, lat_max, width);
        let y = height - 1 - scale(p.predicted.accuracy, acc_min, acc_max, height);
        grid[y][x] = '*';
    }
    let mut out = String::from("accuracy\n");
    for (i, row) in grid.iter().enumerate() {
        let label = match i {
            0 => format!("{acc_max:>7.3}"),
            _ if i == height - 1 => format!("{acc_min:>7.3}"),
            _ => " ".repeat(7),
        };
        out.push_str(&format!("{label} |{}\n", row.iter().collect::<String>()));
    }
    out.push_str(&format!("{} +{}\n", " ".repeat(7), "-".repeat(width)));
    out.push_str(&format!(
        "{} {lat_min:<10.3}{:>w$.3}  latency (s)",
        " ".repeat(7),
        lat_max,
        w = width - 10
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(0.25), "250 ms");
        assert_eq!(duration(4.21), "4.2 s");
        assert_eq!(duration(63.4), "63 s");
        assert_eq!(duration(250.0), "4 min 10 s");
        assert_eq!(duration(7500.0), "2 h 05 min");
        assert_eq!(duration(f64::NAN), "?");
    }
}

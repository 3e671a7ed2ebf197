//! The gateway's metrics in the Prometheus text exposition format (0.0.4), rendered by hand as the
//! workflow server's are (`crates/server/src/metrics.rs`: same buckets, same escaping).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

/// Upper bounds (seconds) of the call latency histogram buckets; `+Inf` is implied.
const BUCKETS_S: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

#[derive(Clone, Debug, Default)]
struct Histogram {
    buckets: [u64; BUCKETS_S.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(i) = BUCKETS_S.iter().position(|&b| seconds <= b) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += seconds;
    }
}

#[derive(Clone, Debug, Default)]
struct Counters {
    /// (agent, point, status) -> calls.
    calls: BTreeMap<(String, String, u16), u64>,
    /// (agent, point) -> latency of the calls that got an answer or an upstream error.
    latency: BTreeMap<(String, String), Histogram>,
    /// agent -> calls to an agent the run's point switches off.
    drift: BTreeMap<String, u64>,
    /// agent -> calls whose upstream failed.
    upstream_errors: BTreeMap<String, u64>,
}

/// Counters of the gateway's calls.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    counters: Mutex<Counters>,
    in_flight: AtomicI64,
}

/// Decrements the in-flight gauge when the call ends, however it ends.
pub(crate) struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Metrics with zero drift counters for `agents`, so the series exist from the start.
    pub(crate) fn new<'a>(agents: impl IntoIterator<Item = &'a str>) -> Metrics {
        let m = Metrics::default();
        m.lock().drift = agents.into_iter().map(|a| (a.to_owned(), 0)).collect();
        m
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a call as in flight until the guard drops.
    pub(crate) fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// Records a finished call (empty labels: no agent or no point) and its latency.
    pub(crate) fn record(&self, agent: &str, point: &str, status: u16, seconds: f64) {
        let mut c = self.lock();
        *c.calls
            .entry((agent.to_owned(), point.to_owned(), status))
            .or_default() += 1;
        c.latency
            .entry((agent.to_owned(), point.to_owned()))
            .or_default()
            .observe(seconds);
    }

    /// Counts a call to an agent its run's point switches off.
    pub(crate) fn drift(&self, agent: &str) {
        *self.lock().drift.entry(agent.to_owned()).or_default() += 1;
    }

    /// Counts a call whose upstream failed.
    pub(crate) fn upstream_error(&self, agent: &str) {
        *self
            .lock()
            .upstream_errors
            .entry(agent.to_owned())
            .or_default() += 1;
    }

    /// The Prometheus text exposition of every metric.
    pub(crate) fn render(&self) -> String {
        let c = self.lock().clone();
        let mut out = String::new();
        let o = &mut out;
        header(
            o,
            "flowcompile_gateway_calls_total",
            "counter",
            "Calls by agent, point and HTTP status (empty agent: a pass-through call; empty point: no deployment).",
        );
        for ((a, p, s), n) in &c.calls {
            let _ = writeln!(
                o,
                "flowcompile_gateway_calls_total{{agent=\"{}\",point=\"{}\",status=\"{s}\"}} {n}",
                escape(a),
                escape(p)
            );
        }
        header(
            o,
            "flowcompile_gateway_call_duration_seconds",
            "histogram",
            "Wall seconds from call to reply headers, by agent and point.",
        );
        for ((a, p), h) in &c.latency {
            let labels = format!("agent=\"{}\",point=\"{}\"", escape(a), escape(p));
            let mut cumulative = 0;
            for (bound, n) in BUCKETS_S.iter().zip(h.buckets) {
                cumulative += n;
                let _ = writeln!(
                    o,
                    "flowcompile_gateway_call_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                o,
                "flowcompile_gateway_call_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                o,
                "flowcompile_gateway_call_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                o,
                "flowcompile_gateway_call_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        header(
            o,
            "flowcompile_gateway_structure_drift_total",
            "counter",
            "Calls to an agent that the run's point switches off, by agent.",
        );
        for (a, n) in &c.drift {
            let _ = writeln!(
                o,
                "flowcompile_gateway_structure_drift_total{{agent=\"{}\"}} {n}",
                escape(a)
            );
        }
        header(
            o,
            "flowcompile_gateway_upstream_errors_total",
            "counter",
            "Calls whose upstream failed (after the client's retries for agent calls), by agent.",
        );
        for (a, n) in &c.upstream_errors {
            let _ = writeln!(
                o,
                "flowcompile_gateway_upstream_errors_total{{agent=\"{}\"}} {n}",
                escape(a)
            );
        }
        header(
            o,
            "flowcompile_gateway_calls_in_flight",
            "gauge",
            "Calls being answered.",
        );
        let _ = writeln!(
            o,
            "flowcompile_gateway_calls_in_flight {}",
            self.in_flight.load(Ordering::Relaxed)
        );
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value escaped as the text format wants: backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_histograms_and_drift_render() {
        let m = Metrics::new(["solver", "vote"]);
        m.record("solver", "p1", 200, 0.003);
        m.record("solver", "p1", 200, 0.2);
        m.record("", "", 400, 0.0);
        m.drift("vote");
        m.upstream_error("solver");
        let text = m.render();
        for line in [
            "flowcompile_gateway_calls_total{agent=\"solver\",point=\"p1\",status=\"200\"} 2",
            "flowcompile_gateway_calls_total{agent=\"\",point=\"\",status=\"400\"} 1",
            "flowcompile_gateway_call_duration_seconds_bucket{agent=\"solver\",point=\"p1\",le=\"0.001\"} 0",
            "flowcompile_gateway_call_duration_seconds_bucket{agent=\"solver\",point=\"p1\",le=\"0.005\"} 1",
            "flowcompile_gateway_call_duration_seconds_bucket{agent=\"solver\",point=\"p1\",le=\"+Inf\"} 2",
            "flowcompile_gateway_structure_drift_total{agent=\"vote\"} 1",
            "flowcompile_gateway_structure_drift_total{agent=\"solver\"} 0",
            "flowcompile_gateway_upstream_errors_total{agent=\"solver\"} 1",
            "flowcompile_gateway_calls_in_flight 0",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        let _guard = m.start();
        assert!(m.render().contains("flowcompile_gateway_calls_in_flight 1"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}

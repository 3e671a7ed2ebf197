//! Request metrics of the workflow server, rendered in the Prometheus text exposition format (0.0.4).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

/// Upper bounds (seconds) of the request latency histogram buckets; `+Inf` is implied.
pub(crate) const BUCKETS_S: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

#[derive(Clone, Debug, Default)]
struct Histogram {
    /// Observations per bucket (not cumulative), one per bound of [`BUCKETS_S`].
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

/// (workflow, point) labels; empty strings when the request never reached a workflow or a point.
type Key = (String, String);

#[derive(Clone, Debug, Default)]
struct Counters {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<Key, Histogram>,
    upstream_errors: BTreeMap<String, u64>,
}

/// Counters and histograms of the chat endpoint; cheap to update from many requests at once.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    counters: Mutex<Counters>,
    in_flight: AtomicI64,
}

/// Decrements the in-flight gauge when the request ends, however it ends.
pub(crate) struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Metrics with a zero upstream-error counter for each served workflow, so the series exist.
    pub(crate) fn new<'a>(workflows: impl IntoIterator<Item = &'a str>) -> Metrics {
        let m = Metrics::default();
        m.lock().upstream_errors = workflows.into_iter().map(|w| (w.to_owned(), 0)).collect();
        m
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a request as in flight until the guard drops.
    pub(crate) fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// Records a finished request: its status and, when it reached a point, its latency.
    pub(crate) fn record(&self, workflow: &str, point: &str, status: u16, seconds: f64) {
        let mut c = self.lock();
        *c.requests
            .entry((workflow.to_owned(), point.to_owned(), status))
            .or_default() += 1;
        if !point.is_empty() {
            c.latency
                .entry((workflow.to_owned(), point.to_owned()))
                .or_default()
                .observe(seconds);
        }
    }

    /// Counts a model call that failed after the client's retries.
    pub(crate) fn upstream_error(&self, workflow: &str) {
        *self
            .lock()
            .upstream_errors
            .entry(workflow.to_owned())
            .or_default() += 1;
    }

    /// The Prometheus text exposition of every metric.
    pub(crate) fn render(&self) -> String {
        let c = self.lock().clone();
        let mut out = String::new();
        let o = &mut out;
        header(
            o,
            "flowcompile_requests_total",
            "counter",
            "Chat completion requests by workflow, point and HTTP status (empty labels: the request named no served workflow or point).",
        );
        for ((w, p, s), n) in &c.requests {
            let _ = writeln!(
                o,
                "flowcompile_requests_total{{workflow=\"{}\",point=\"{}\",status=\"{s}\"}} {n}",
                escape(w),
                escape(p)
            );
        }
        header(
            o,
            "flowcompile_request_duration_seconds",
            "histogram",
            "Wall seconds from request to response of the requests that reached a point.",
        );
        for ((w, p), h) in &c.latency {
            let labels = format!("workflow=\"{}\",point=\"{}\"", escape(w), escape(p));
            let mut cumulative = 0;
            for (bound, n) in BUCKETS_S.iter().zip(h.buckets) {
                cumulative += n;
                let _ = writeln!(
                    o,
                    "flowcompile_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                o,
                "flowcompile_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                o,
                "flowcompile_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                o,
                "flowcompile_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        header(
            o,
            "flowcompile_upstream_errors_total",
            "counter",
            "Model calls that failed after the client's retries, by workflow.",
        );
        for (w, n) in &c.upstream_errors {
            let _ = writeln!(
                o,
                "flowcompile_upstream_errors_total{{workflow=\"{}\"}} {n}",
                escape(w)
            );
        }
        header(
            o,
            "flowcompile_requests_in_flight",
            "gauge",
            "Chat completion requests being served.",
        );
        let _ = writeln!(
            o,
            "flowcompile_requests_in_flight {}",
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
    fn histograms_are_cumulative_and_counts_add_up() {
        let m = Metrics::new(["math"]);
        m.record("math", "p1", 200, 0.003);
        m.record("math", "p1", 200, 0.2);
        m.record("math", "p1", 502, 400.0);
        m.record("", "", 404, 0.0);
        m.upstream_error("math");
        let text = m.render();
        assert!(text.contains(
            "flowcompile_requests_total{workflow=\"math\",point=\"p1\",status=\"200\"} 2"
        ));
        assert!(
            text.contains("flowcompile_requests_total{workflow=\"\",point=\"\",status=\"404\"} 1")
        );
        assert!(text.contains(
            "flowcompile_request_duration_seconds_bucket{workflow=\"math\",point=\"p1\",le=\"0.001\"} 0"
        ));
        assert!(text.contains(
            "flowcompile_request_duration_seconds_bucket{workflow=\"math\",point=\"p1\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "flowcompile_request_duration_seconds_bucket{workflow=\"math\",point=\"p1\",le=\"300\"} 2"
        ));
        assert!(text.contains(
            "flowcompile_request_duration_seconds_bucket{workflow=\"math\",point=\"p1\",le=\"+Inf\"} 3"
        ));
        assert!(text.contains("flowcompile_upstream_errors_total{workflow=\"math\"} 1"));
        assert!(!text.contains("workflow=\"\",point=\"\",le="));
        let _guard = m.start();
        assert!(m.render().contains("flowcompile_requests_in_flight 1"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}

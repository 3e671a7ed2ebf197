//! Gateway overhead: the gateway in front of the zoo server, both in this process on loopback, the
//! zoo at time_scale 0 (replies at once), called with reqwest.
//!
//! Run with `cargo bench -p flowcompile-gateway --bench overhead`. 1,000 pairs of calls (after 100
//! to warm up), each pair one call straight to the zoo and the same call through the gateway, in
//! alternating order; the overhead of a call is its wall time through the gateway minus the direct
//! one of its pair. Non-streamed calls are timed to the last byte; streamed ones to the first
//! event (time to first token). Figures are wall times and depend on what else runs.

use std::sync::Arc;
use std::time::Instant;

use flowcompile_client::{Client, Providers};
use flowcompile_gateway::{gateway_router, GatewayOptions};
use flowcompile_testsupport::{Loopback, ZooServer};
use flowcompile_zoo::http::ZooServeOptions;
use flowcompile_zoo::{Zoo, ZooConfig};
use futures::StreamExt;
use serde_json::json;

const RUNS: usize = 1000;
const WARMUP: usize = 100;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

/// Wall milliseconds of one call: to the last byte, or to the first chunk when `stream`.
async fn timed(http: &reqwest::Client, url: &str, body: &serde_json::Value, stream: bool) -> f64 {
    let started = Instant::now();
    let reply = http
        .post(url)
        .json(body)
        .send()
        .await
        .expect("the call is answered");
    assert!(reply.status().is_success(), "status {}", reply.status());
    if stream {
        let mut chunks = reply.bytes_stream();
        let first = chunks
            .next()
            .await
            .expect("a first chunk")
            .expect("a readable chunk");
        assert!(!first.is_empty());
        let ms = started.elapsed().as_secs_f64() * 1e3;
        while chunks.next().await.is_some() {}
        ms
    } else {
        reply.bytes().await.expect("a readable body");
        started.elapsed().as_secs_f64() * 1e3
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let zoo = Arc::new(Zoo::new(ZooConfig::default(), vec![]).expect("the default zoo"));
        let upstream = ZooServer::start(zoo, ZooServeOptions::default()).await;
        let toml = format!(
            "[models.\"zoo-8b\"]\nbase_url = \"{}\"\nbudget = \"max_tokens\"\n",
            upstream.base_url()
        );
        let providers = Providers::from_toml_str(&toml, "providers.toml").expect("providers");
        let client = Client::new(providers.clone()).expect("a client");
        let gateway = Loopback::router(gateway_router(
            providers,
            client,
            None,
            GatewayOptions::default(),
        ))
        .await;
        let http = reqwest::Client::new();
        let direct = format!("{}/chat/completions", upstream.base_url());
        let via = format!("{}/chat/completions", gateway.base_url());
        for stream in [false, true] {
            let mut overhead = Vec::with_capacity(RUNS);
            let (mut direct_ms, mut via_ms) = (Vec::new(), Vec::new());
            for i in 0..RUNS + WARMUP {
                let body = json!({
                    "model": "zoo-8b",
                    "messages": [{"role": "user", "content": format!("What is {i} + 2?")}],
                    "max_tokens": 64,
                    "stream": stream,
                });
                let (d, v) = if i % 2 == 0 {
                    let d = timed(&http, &direct, &body, stream).await;
                    (d, timed(&http, &via, &body, stream).await)
                } else {
                    let v = timed(&http, &via, &body, stream).await;
                    (timed(&http, &direct, &body, stream).await, v)
                };
                if i >= WARMUP {
                    overhead.push(v - d);
                    direct_ms.push(d);
                    via_ms.push(v);
                }
            }
            for v in [&mut overhead, &mut direct_ms, &mut via_ms] {
                v.sort_by(f64::total_cmp);
            }
            let what = if stream {
                "streamed, to the first chunk"
            } else {
                "non-streamed, to the last byte"
            };
            println!("pass-through chat, {what} ({RUNS} pairs):");
            println!(
                "  direct  p50 {:.3} ms  p99 {:.3} ms",
                percentile(&direct_ms, 0.5),
                percentile(&direct_ms, 0.99)
            );
            println!(
                "  gateway p50 {:.3} ms  p99 {:.3} ms",
                percentile(&via_ms, 0.5),
                percentile(&via_ms, 0.99)
            );
            println!(
                "  overhead (gateway - direct, per pair) p50 {:.3} ms  p99 {:.3} ms",
                percentile(&overhead, 0.5),
                percentile(&overhead, 0.99)
            );
        }
    });
}

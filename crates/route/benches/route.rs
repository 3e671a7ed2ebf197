//! Routing speed per query on the math workflow (17 structures, 5 agents x 75 settings).
//!
//! Run with `cargo bench -p flowcompile-route`. The router holds 264 validation items (GSM8K's
//! validation split size) with 256-dimension embeddings (the zoo's) and per-item profiles drawn
//! around the example profiles, each item measured on about a third of the (agent, setting) cells.
//! Prints the median and p99 microseconds of: the k-nearest search alone, and a whole route (search,
//! averaging, exact frontier, selection), for several k.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use flowcompile_artifact::ExecutionModel;
use flowcompile_route::{
    GlobalSetting, ItemCell, Router, RouterAgent, RouterFile, RouterItem, FORMAT_V1,
};
use flowcompile_select::Request;

/// A small deterministic generator (xorshift64*), so every run routes the same queries.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn profiles(dir: &Path) -> Vec<(String, String, u32, f64, f64)> {
    let text = std::fs::read_to_string(dir.join("profiles.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].to_string(),
                f[1].to_string(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
                f[5].parse().unwrap(),
            )
        })
        .collect()
}

fn stats(mut micros: Vec<f64>) -> (f64, f64) {
    micros.sort_by(f64::total_cmp);
    let at = |q: f64| micros[((micros.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/math");
    let text = std::fs::read_to_string(dir.join("workflow.toml")).unwrap();
    let wf = flowcompile_spec::parse(&text, "math").unwrap();
    let rows = profiles(&dir);
    let agents: Vec<RouterAgent> = wf
        .agents
        .iter()
        .map(|a| RouterAgent {
            name: a.name.clone(),
            settings: a
                .settings
                .iter()
                .map(|s| {
                    let r = rows
                        .iter()
                        .find(|r| r.0 == a.name && r.1 == s.model && r.2 == s.budget_tokens)
                        .expect("the example profiles cover the math space");
                    GlobalSetting {
                        model: s.model.clone(),
                        budget_tokens: s.budget_tokens,
                        accuracy: r.3,
                        latency_s: r.4,
                    }
                })
                .collect(),
        })
        .collect();
    let dims = 256;
    let mut rng = Rng(0x5eed);
    let items: Vec<RouterItem> = (0..264)
        .map(|i| {
            let embedding = (0..dims).map(|_| rng.next() as f32 - 0.5).collect();
            let mut profile = Vec::new();
            for (a, agent) in agents.iter().enumerate() {
                for (s, g) in agent.settings.iter().enumerate() {
                    if rng.next() < 0.33 {
                        profile.push(ItemCell {
                            agent: a,
                            setting: s,
                            accuracy: (g.accuracy + 0.3 * (rng.next() - 0.5)).clamp(0.0, 1.0),
                            latency_s: g.latency_s * (0.7 + 0.6 * rng.next()),
                            calls: 1,
                        });
                    }
                }
            }
            RouterItem {
                id: format!("item-{i}"),
                embedding,
                profile,
            }
        })
        .collect();
    let queries: Vec<Vec<f32>> = (0..200)
        .map(|_| (0..dims).map(|_| rng.next() as f32 - 0.5).collect())
        .collect();
    println!("route: math workflow, 264 items, {dims} dims, 200 queries, one core");
    for k in [1, 5, 10, 25] {
        let file = RouterFile {
            format: FORMAT_V1.into(),
            workflow: wf.name.clone(),
            spec_sha256: None,
            artifact_sha256: None,
            execution: ExecutionModel::Parallel,
            k,
            prior_calls: 0.0,
            embed_model: "bench".into(),
            dims,
            models_label: None,
            agents: agents.clone(),
            items: items.clone(),
        };
        let router = Router::new(&wf, file, "bench").unwrap();
        let mut knn = Vec::new();
        let mut route = Vec::new();
        let mut points = 0;
        for round in 0..5 {
            for (i, q) in queries.iter().enumerate() {
                let t = Instant::now();
                black_box(router.neighbours(black_box(q)).unwrap());
                knn.push(t.elapsed().as_secs_f64() * 1e6);
                let b = (i as f64 + 0.5) / queries.len() as f64;
                let request = Request {
                    preference: Some(b),
                    ..Request::default()
                };
                let t = Instant::now();
                let r = black_box(router.route(black_box(q), &request).unwrap());
                route.push(t.elapsed().as_secs_f64() * 1e6);
                if round == 0 {
                    points += r.frontier_len;
                }
            }
        }
        let (knn50, knn99) = stats(knn);
        let (r50, r99) = stats(route);
        println!(
            "  k={k:<3} nearest items: median {knn50:>7.1} us, p99 {knn99:>7.1} us | whole route: median {r50:>8.1} us, p99 {r99:>8.1} us ({:.1} frontier points on average)",
            points as f64 / queries.len() as f64
        );
    }
}

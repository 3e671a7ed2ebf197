//! Search speed on the paper's example spaces and a synthetic 30-agent graph.
//!
//! Run with `cargo bench -p flowcompile-search`. Prints, per space, the median time of the exact
//! search over many runs and, measured in the same run on the same inputs: our brute-force
//! enumeration where it is feasible, and the research prototype's method in numpy
//! (`benches/numpy_enumerate.py`: per-agent pruning, then every configuration enumerated with
//! vectorised composition, then the Pareto set, whose size it checks against ours) when `python3`
//! can import numpy; the numpy columns are skipped, with the reason, when it cannot, and for spaces
//! too large to enumerate (the synthetic graphs), with their size.

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use flowcompile_ir::{
    Agent, AgentId, ConfigCount, DesignSpace, Expr, NodeKind, Setting, Tool, Workflow,
};
use flowcompile_profile::{parse_profiles, resolve, Format, LatencyModel};
use flowcompile_proxy::{Dependence, ExecutionModel, Metrics};
use flowcompile_search::{brute_force, pareto, Problem};

fn example(name: &str) -> (Workflow, DesignSpace, Vec<Vec<Metrics>>) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    let text = std::fs::read_to_string(dir.join("workflow.toml")).unwrap();
    let wf = flowcompile_spec::parse(&text, name).unwrap();
    let profiles = std::fs::read_to_string(dir.join("profiles.csv")).unwrap();
    let table = parse_profiles(&profiles, "profiles.csv", Format::Csv).unwrap();
    let resolved = resolve(&wf, &table, &[], LatencyModel::Measured).unwrap();
    let space = wf.design_space().unwrap();
    let metrics = space
        .slots
        .iter()
        .map(|s| resolved.metrics(s.agent).to_vec())
        .collect();
    (wf, space, metrics)
}

/// Six stages in sequence, each a vote over four solvers (one of them optional when `knobs`): 30
/// agents, 64 structures (1 without knobs), 80 settings per agent.
fn synthetic30(knobs: bool) -> (Workflow, DesignSpace, Vec<Vec<Metrics>>) {
    let settings: Vec<Setting> = (0..80)
        .map(|i| Setting::new(format!("m{}", i / 16), i % 16))
        .collect();
    let mut wf = Workflow::new("synthetic30", Vec::new());
    let mut stages = Vec::new();
    for stage in 0..6 {
        let mut solvers = Vec::new();
        for k in 0..4 {
            wf.agents
                .push(Agent::new(format!("s{stage}_{k}"), settings.clone()));
            let call = wf.add_node("call", NodeKind::Agent(AgentId(wf.agents.len() as u32 - 1)));
            solvers.push(if knobs && k == 3 {
                wf.add_node("opt", NodeKind::Optional(call))
            } else {
                call
            });
        }
        let over = wf.add_node("cands", NodeKind::AnyOf(solvers));
        wf.agents
            .push(Agent::new(format!("vote{stage}"), settings.clone()));
        let ensemble = wf.add_node("vote", NodeKind::Agent(AgentId(wf.agents.len() as u32 - 1)));
        stages.push(wf.add_node(
            "stage",
            NodeKind::Vote {
                ensemble,
                over,
                min_inputs: 2,
            },
        ));
    }
    wf.root = wf.add_node("root", NodeKind::Seq(stages));
    let space = wf.design_space().unwrap();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let metrics = space
        .slots
        .iter()
        .map(|_| {
            (0..80)
                .map(|i| {
                    let (model, budget) = ((i / 16) as f64, (i % 16) as f64);
                    let accuracy =
                        (0.3 + 0.12 * model + 0.02 * budget.sqrt() + 0.05 * next()).min(0.99);
                    let latency_s = (1.0 + model) * (0.5 + 0.1 * budget) * (0.9 + 0.2 * next());
                    Metrics {
                        accuracy: (accuracy * 100.0).round() / 100.0,
                        latency_s,
                    }
                })
                .collect()
        })
        .collect();
    (wf, space, metrics)
}

/// Median wall time of `f` over enough runs to fill about `budget`.
fn time(budget: Duration, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    f();
    let once = start.elapsed().max(Duration::from_nanos(1));
    let runs = (budget.as_secs_f64() / once.as_secs_f64()).clamp(3.0, 2000.0) as usize;
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    samples.sort();
    samples[runs / 2]
}

/// A count as the table prints it: exact with thousands separators up to 1e15, else `~1.234e44`.
fn count(n: ConfigCount) -> String {
    if n.as_f64() > 1e15 {
        format!("~{:.3e}", n.as_f64())
    } else {
        n.to_string()
    }
}

fn ms(d: Duration) -> String {
    format!("{:.4} ms", d.as_secs_f64() * 1e3)
}

/// An expression as the numpy harness reads it: nested JSON lists.
fn expr_json(e: &Expr, tools: &[Tool], out: &mut String) {
    let list = |name: &str, items: &[Expr], out: &mut String| {
        write!(out, "[\"{name}\", [").unwrap();
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            expr_json(item, tools, out);
        }
        out.push_str("]]");
    };
    match e {
        Expr::Call { slot, .. } => write!(out, "[\"call\", {}]", slot.0).unwrap(),
        Expr::Tool(t) => write!(out, "[\"tool\", {:?}]", tools[t.0 as usize].latency_s).unwrap(),
        Expr::Seq(v) => list("seq", v, out),
        Expr::AllOf(v) => list("all_of", v, out),
        Expr::AnyOf(v) => list("any_of", v, out),
        Expr::Cond(arms) => {
            out.push_str("[\"cond\", [");
            for (i, (w, arm)) in arms.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write!(out, "[{w:?}, ").unwrap();
                expr_json(arm, tools, out);
                out.push(']');
            }
            out.push_str("]]");
        }
        Expr::Retry {
            body,
            fixer,
            attempts,
        } => {
            out.push_str("[\"retry\", ");
            expr_json(body, tools, out);
            out.push_str(", ");
            expr_json(fixer, tools, out);
            write!(out, ", {attempts}]").unwrap();
        }
    }
}

/// One space for the numpy harness: slots' metrics, structures, our frontier's size.
struct ForNumpy<'a> {
    name: &'a str,
    space: &'a DesignSpace,
    tools: &'a [Tool],
    metrics: &'a [Vec<Metrics>],
    exec: ExecutionModel,
    frontier: usize,
    unpruned: bool,
}

fn spaces_json(spaces: &[ForNumpy]) -> String {
    let mut out = String::from("[");
    for (i, s) in spaces.iter().enumerate() {
        if i > 0 {
            out.push_str(",\n");
        }
        let exec = match s.exec {
            ExecutionModel::Parallel => "parallel",
            ExecutionModel::Sequential => "sequential",
        };
        write!(
            out,
            "{{\"name\": \"{}\", \"exec\": \"{exec}\", \"frontier\": {}, \"unpruned\": {}, \"slots\": [",
            s.name, s.frontier, s.unpruned
        )
        .unwrap();
        for (k, ms) in s.metrics.iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            out.push('[');
            for (j, m) in ms.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                write!(out, "[{:?}, {:?}]", m.accuracy, m.latency_s).unwrap();
            }
            out.push(']');
        }
        out.push_str("], \"structures\": [");
        for (k, st) in s.space.structures.iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            expr_json(&st.expr, s.tools, &mut out);
        }
        out.push_str("]}");
    }
    out.push(']');
    out
}

/// The numpy harness's times per space (pruned, and unpruned where asked), or why it did not run.
type NumpyTimes = Vec<(String, f64, Option<f64>)>;

fn run_numpy(spaces: &[ForNumpy]) -> Result<NumpyTimes, String> {
    let probe = Command::new("python3")
        .args(["-c", "import numpy"])
        .output()
        .map_err(|e| format!("python3 could not be run ({e})"))?;
    if !probe.status.success() {
        let err = String::from_utf8_lossy(&probe.stderr);
        let last = err.lines().last().unwrap_or("").trim().to_string();
        return Err(format!("python3 cannot import numpy ({last})"));
    }
    let path = std::env::temp_dir().join(format!(
        "flowcompile-search-bench-{}.json",
        std::process::id()
    ));
    std::fs::write(&path, spaces_json(spaces))
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/numpy_enumerate.py");
    let run = Command::new("python3").arg(&script).arg(&path).output();
    let _ = std::fs::remove_file(&path);
    let run = run.map_err(|e| format!("python3 could not be run ({e})"))?;
    if !run.status.success() {
        panic!(
            "the numpy harness failed: {}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    let text = String::from_utf8_lossy(&run.stdout);
    let mut times = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [name, pruned_ms, pruned_n, full_ms, full_n] = f[..] else {
            panic!("unexpected numpy harness output: {line}");
        };
        let want = spaces
            .iter()
            .find(|s| s.name == name)
            .expect("a space we sent")
            .frontier;
        assert_eq!(
            pruned_n.parse::<usize>().unwrap(),
            want,
            "{name}: numpy frontier size"
        );
        if full_n != "-" {
            assert_eq!(
                full_n.parse::<usize>().unwrap(),
                want,
                "{name}: numpy frontier size, unpruned"
            );
        }
        times.push((
            name.to_string(),
            pruned_ms.parse::<f64>().unwrap(),
            full_ms.parse::<f64>().ok(),
        ));
    }
    Ok(times)
}

/// Spaces whose unpruned enumeration numpy also times (up to this many configurations).
const NUMPY_UNPRUNED_MAX: f64 = 5e6;
/// Spaces numpy enumerates at all (up to this many configurations after pruning): it holds every
/// configuration's predictions in memory.
const NUMPY_PRUNED_MAX: f64 = 1e8;
/// Spaces our brute force enumerates (up to this many configurations).
const BRUTE_MAX: f64 = 2e6;
/// The execution model of every space in the bench.
const EXEC: ExecutionModel = ExecutionModel::Sequential;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // `cargo bench -p flowcompile-search -- math` runs only the spaces whose name contains a filter.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let names = [
        "hotpotqa",
        "code",
        "math",
        "synthetic30-fixed",
        "synthetic30-knobs",
    ];
    let mut rows = Vec::new();
    for name in names {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let (wf, space, metrics) = match name {
            "synthetic30-fixed" => synthetic30(false),
            "synthetic30-knobs" => synthetic30(true),
            _ => example(name),
        };
        let problem = Problem::new(&space, &wf.tools, &metrics, EXEC);
        let frontier = pareto(&problem);
        let fast = time(Duration::from_secs(2), || {
            black_box(pareto(black_box(&problem)));
        });
        let n_configs = space.n_configs();
        let brute = (n_configs.as_f64() <= BRUTE_MAX).then(|| {
            let slow = brute_force(&problem);
            assert_eq!(
                slow, frontier.points,
                "{name}: search differs from brute force"
            );
            time(Duration::from_secs(3), || {
                black_box(brute_force(black_box(&problem)));
            })
        });
        let pruned = space.n_configs_with(&frontier.kept_per_slot);
        rows.push((name, wf, space, metrics, frontier, fast, brute, pruned));
    }
    let for_numpy: Vec<ForNumpy> = rows
        .iter()
        .filter(|r| r.7.as_f64() <= NUMPY_PRUNED_MAX)
        .map(|(name, wf, space, metrics, frontier, ..)| ForNumpy {
            name,
            space,
            tools: &wf.tools,
            metrics,
            exec: EXEC,
            frontier: frontier.points.len(),
            unpruned: space.n_configs().as_f64() <= NUMPY_UNPRUNED_MAX,
        })
        .collect();
    let numpy = if for_numpy.is_empty() {
        Ok(Vec::new())
    } else {
        run_numpy(&for_numpy)
    };
    println!(
        "{:<18} {:>14} {:>10} {:>10} {:>14} {:>16} {:>10} {:>14} {:>10}",
        "space",
        "configs",
        "pruned",
        "frontier",
        "exact search",
        "brute force",
        "vs brute",
        "numpy",
        "vs numpy"
    );
    let mut unpruned_lines = Vec::new();
    for (name, _, space, _, frontier, fast, brute, pruned) in &rows {
        let ratio = |other_s: f64| format!("{:.0}x", other_s / fast.as_secs_f64());
        let np = numpy
            .as_ref()
            .ok()
            .and_then(|t| t.iter().find(|(n, ..)| n == name));
        match np {
            Some((_, _, Some(full_ms))) => unpruned_lines.push(format!(
                "{name}: numpy without the per-agent pruning ({} configurations): {full_ms:.4} ms, {} vs the exact search",
                space.n_configs(),
                ratio(full_ms / 1e3)
            )),
            Some((_, _, None)) => unpruned_lines.push(format!(
                "{name}: numpy without the per-agent pruning not run ({} configurations)",
                space.n_configs()
            )),
            None if numpy.is_ok() => unpruned_lines.push(format!(
                "{name}: numpy not run ({} configurations after pruning, over {NUMPY_PRUNED_MAX:e})",
                count(*pruned)
            )),
            None => {}
        }
        println!(
            "{:<18} {:>14} {:>10} {:>10} {:>14} {:>16} {:>10} {:>14} {:>10}",
            name,
            count(space.n_configs()),
            count(*pruned),
            frontier.points.len(),
            ms(*fast),
            brute.map(ms).unwrap_or_else(|| "infeasible".into()),
            brute
                .map(|b| ratio(b.as_secs_f64()))
                .unwrap_or_else(|| "-".into()),
            np.map(|(_, p, _)| format!("{p:.4} ms"))
                .unwrap_or_else(|| "-".into()),
            np.map(|(_, p, _)| ratio(p / 1e3))
                .unwrap_or_else(|| "-".into()),
        );
    }
    for line in unpruned_lines {
        println!("{line}");
    }
    if let Err(why) = numpy {
        println!("numpy columns skipped: {why}");
    }
    // The dependence-aware proxy (any-of failures mixed towards comonotone, r as measured on the
    // GSM8K zoo): the same search, its time against the independent proxy's in this run.
    let dep = Dependence::new(DEPENDENCE);
    println!();
    println!(
        "{:<18} {:>10} {:>14} {:>14} {:>16}",
        "dependent proxy", "frontier", "exact search", "vs independent", "brute force"
    );
    for (name, wf, space, metrics, _, fast, brute, _) in &rows {
        let problem = Problem::new(space, &wf.tools, metrics, EXEC).with_dependence(dep);
        let frontier = pareto(&problem);
        let t = time(Duration::from_secs(2), || {
            black_box(pareto(black_box(&problem)));
        });
        let checked = if brute.is_some() {
            assert_eq!(
                brute_force(&problem),
                frontier.points,
                "{name}: dependent search differs from brute force"
            );
            "equal"
        } else {
            "infeasible"
        };
        println!(
            "{:<18} {:>10} {:>14} {:>13.2}x {:>16}",
            name,
            frontier.points.len(),
            ms(t),
            t.as_secs_f64() / fast.as_secs_f64(),
            checked
        );
    }
}

/// The any-of dependence of the second table: what `compile --data --zoo` measures on GSM8K.
const DEPENDENCE: f64 = 0.69;

//! Helpers the CLI's integration tests share: where the checkout is, and running the binary.
// Each test crate uses a subset of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A path under the repository root, as text for arguments.
pub fn path(rel: &str) -> String {
    root().join(rel).display().to_string()
}

/// Runs `flowcompile` with `args` in `dir`.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flowcompile"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

/// Asserts the exit code (showing both streams when it differs) and returns stdout and stderr.
#[track_caller]
pub fn check(out: &Output, code: i32) -> (String, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr)
}

/// Every profiling call in a store, in key order, as text. The `programmer` agent's score is left
/// out: it comes from running the program in a Python subprocess under a wall-clock timeout, which
/// a loaded machine can hit in one run and not the other.
pub fn calls(store: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(store).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT agent, prompt_key, model, budget, input_id, sample, output, score, latency_s, \
             prompt_tokens, completion_tokens, error FROM calls \
             ORDER BY agent, prompt_key, model, budget, input_id, sample",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok(format!(
            "{}|{}|{}|{}|{}|{}|{}|{:?}|{}|{}|{}|{:?}",
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, String>(6)?,
            if r.get::<_, String>(0)? == "programmer" {
                None
            } else {
                r.get::<_, Option<f64>>(7)?
            },
            r.get::<_, f64>(8)?,
            r.get::<_, i64>(9)?,
            r.get::<_, i64>(10)?,
            r.get::<_, Option<String>>(11)?,
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// How many profiling calls a store holds (0 when it cannot be read yet).
pub fn n_calls(store: &Path) -> i64 {
    rusqlite::Connection::open(store)
        .and_then(|c| c.query_row("SELECT COUNT(*) FROM calls", [], |r| r.get(0)))
        .unwrap_or(0)
}

/// The math workflow restricted to 2 models x 3 budgets (6 settings per agent), and the first
/// `n` GSM8K validation items, written into `dir`.
pub fn small_math(dir: &Path, n: usize) -> (String, String) {
    let text = std::fs::read_to_string(root().join("examples/math/workflow.toml")).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with("models = ") {
            out.push_str("models = [\"qwen3-0.6b\", \"qwen3-8b\"]\n");
        } else if line.starts_with("budgets = ") {
            out.push_str("budgets = [10, 1000, 4000]\n");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    let wf = dir.join("math.toml");
    std::fs::write(&wf, out).unwrap();
    let data = std::fs::read_to_string(root().join("examples/data/gsm8k_validate.jsonl")).unwrap();
    let items: String = data.lines().take(n).map(|l| format!("{l}\n")).collect();
    let split = dir.join("val.jsonl");
    std::fs::write(&split, items).unwrap();
    (wf.display().to_string(), split.display().to_string())
}

/// `compile WF --data DATA --zoo` into the store `s.sqlite`, 20 calls per setting, then `extra`.
pub fn compile_small(dir: &Path, wf: &str, data: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "compile",
        wf,
        "--data",
        data,
        "--zoo",
        "--store",
        "s.sqlite",
        "--calls-per-setting",
        "20",
    ];
    args.extend_from_slice(extra);
    run(dir, &args)
}

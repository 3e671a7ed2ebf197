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

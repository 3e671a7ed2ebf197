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

//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

use flowcompile_store::CallRow;

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "flowcompile-store-it-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A call of agent `solver`, prompt `p1`, whose every field derives from its key.
pub fn call(model: &str, budget_tokens: u32, input_id: &str, sample: u32) -> CallRow {
    let seed = input_id.len() as u64 + u64::from(sample) + u64::from(budget_tokens);
    CallRow {
        agent: "solver".into(),
        prompt_key: "p1".into(),
        model: model.into(),
        budget_tokens,
        input_id: input_id.into(),
        sample,
        output: format!("{model}/{budget_tokens}/{input_id}/{sample}"),
        score: (!seed.is_multiple_of(3)).then_some((seed % 2) as f64),
        latency_s: seed as f64 / 8.0,
        prompt_tokens: 100 + seed,
        completion_tokens: 2 * seed,
        reasoning_tokens: Some(seed),
        error: seed.is_multiple_of(7).then(|| format!("error {seed}")),
    }
}

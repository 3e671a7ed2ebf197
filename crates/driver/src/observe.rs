//! How the passes report what they do without knowing about terminals: progress of long stages,
//! and the lines a person watching would want (what runs, what was reused, warnings).

pub use flowcompile_pipeline::Progress;

/// Receives a pass's progress and its log lines; the CLI draws bars and prints to stderr, tests
/// and `--json` runs stay silent ([`Quiet`]).
pub trait Observer: Progress {
    /// A line saying what a pass is about to do or did (`induce: 264 items ...`).
    fn note(&self, line: &str);
    /// Something the user should know that does not stop the pass (`warning: ...`).
    fn warn(&self, line: &str);
    /// A short status shown beside the current stage's progress (`3 failed`).
    fn status(&self, _text: &str) {}
}

/// An observer that shows nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Quiet;

impl Progress for Quiet {
    fn begin(&self, _stage: &str, _total: u64) {}
    fn advance(&self, _n: u64) {}
    fn end(&self) {}
}

impl Observer for Quiet {
    fn note(&self, _line: &str) {}
    fn warn(&self, _line: &str) {}
}

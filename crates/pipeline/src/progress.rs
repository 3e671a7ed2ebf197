//! How a long pass reports progress without knowing about terminals.

/// Receives a pass's progress: the CLI draws a bar, tests stay silent.
pub trait Progress: Send + Sync {
    /// A stage starts with `total` units of work (calls or items).
    fn begin(&self, stage: &str, total: u64);
    /// `n` more units are done.
    fn advance(&self, n: u64);
    /// The stage is over.
    fn end(&self);
}

/// Progress that goes nowhere.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Progress for Silent {
    fn begin(&self, _stage: &str, _total: u64) {}
    fn advance(&self, _n: u64) {}
    fn end(&self) {}
}

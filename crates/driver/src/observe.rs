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

/// A whole number with thousands separators: `37,500`.
pub fn count(n: u64) -> String {
    digits(&n.to_string())
}

/// Thousands separators in a run of digits (`4906417725` -> `4,906,417,725`); other text (`~1.2e57`)
/// as it is.
pub fn digits(text: &str) -> String {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + text.len() / 3);
    for (i, c) in text.chars().enumerate() {
        if i > 0 && (text.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_have_thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(39_084), "39,084");
        assert_eq!(digits("4906417725"), "4,906,417,725");
        assert_eq!(digits("~1.2e57"), "~1.2e57");
    }
}

//! The CLI's observer of the driver's passes: a progress bar and log lines on stderr, or nothing
//! for `--json`.

use flowcompile_driver::{Observer, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Progress bars and log lines on stderr (silent when `quiet`).
pub struct Stderr {
    bar: ProgressBar,
    quiet: bool,
}

impl Stderr {
    /// An observer that prints unless `quiet`.
    pub fn new(quiet: bool) -> Stderr {
        Stderr {
            bar: ProgressBar::hidden(),
            quiet,
        }
    }
}

/// What a stage counts.
fn unit(stage: &str) -> &'static str {
    match stage {
        "induce" | "eval" => "items",
        "profile" => "calls",
        _ => "runs",
    }
}

impl Progress for Stderr {
    fn begin(&self, stage: &str, total: u64) {
        if self.quiet {
            return;
        }
        self.bar.set_draw_target(ProgressDrawTarget::stderr());
        self.bar.reset();
        self.bar.set_length(total);
        self.bar.set_message("");
        self.bar.set_style(
            ProgressStyle::with_template(&format!(
                "{stage:>8} {{pos}}/{{len}} {} [{{bar:30}}] {{elapsed}} eta {{eta}} {{per_sec}} {{msg}}",
                unit(stage)
            ))
            .expect("a valid template")
            .progress_chars("=> "),
        );
    }

    fn advance(&self, n: u64) {
        self.bar.inc(n);
    }

    fn end(&self) {
        self.bar.finish_and_clear();
    }
}

impl Observer for Stderr {
    fn note(&self, line: &str) {
        if !self.quiet {
            self.bar.suspend(|| eprintln!("{line}"));
        }
    }

    fn warn(&self, line: &str) {
        self.bar.suspend(|| eprintln!("{line}"));
    }

    fn status(&self, text: &str) {
        self.bar.set_message(text.to_string());
    }
}

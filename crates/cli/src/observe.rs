//! The CLI's observer of the driver's passes: on a terminal, a progress bar and log lines on
//! stderr; elsewhere (CI, a log file), a progress line every few seconds; nothing but warnings for
//! `--json` or `-q`.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use flowcompile_driver::{Observer, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output::{count, duration};

/// `-q/--quiet`: progress and notes off for the whole process.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Silences progress and notes (warnings and errors still print).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Sends the library crates' `tracing` events to stderr: `RUST_LOG` filters them (as
/// `RUST_LOG=flowcompile_client=debug`); by default warnings, and `serve`'s one line per request.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,flowcompile_server=info,flowcompile_gateway=info")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// How often a progress line is logged when stderr is not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// The stage being counted.
struct Stage {
    name: String,
    total: u64,
    done: u64,
    started: Instant,
    last_line: Instant,
    status: String,
}

impl Stage {
    /// `profile 1,200/37,500 calls (1,907/s, eta 19 s)`.
    fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64();
        let rate = self.done as f64 / secs.max(1e-9);
        let eta = if self.done > 0 && self.done < self.total {
            format!(", eta {}", duration((self.total - self.done) as f64 / rate))
        } else {
            String::new()
        };
        let status = if self.status.is_empty() {
            String::new()
        } else {
            format!("; {}", self.status)
        };
        format!(
            "{:>8} {}/{} {} ({}/s{eta}) after {}{status}",
            self.name,
            count(self.done),
            count(self.total),
            unit(&self.name),
            count(rate.round() as u64),
            duration(secs)
        )
    }
}

/// Progress bars and log lines on stderr (silent when `quiet`).
pub struct Stderr {
    bar: ProgressBar,
    quiet: bool,
    terminal: bool,
    stage: Mutex<Option<Stage>>,
}

impl Stderr {
    /// An observer that shows progress unless `quiet` (`--json`) or `-q`.
    pub fn new(quiet: bool) -> Stderr {
        Stderr {
            bar: ProgressBar::hidden(),
            quiet: quiet || QUIET.load(Ordering::Relaxed),
            terminal: std::io::stderr().is_terminal(),
            stage: Mutex::new(None),
        }
    }

    fn with_stage(&self, f: impl FnOnce(&mut Stage)) {
        if let Some(stage) = self
            .stage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            f(stage);
        }
    }
}

/// What a stage counts.
fn unit(stage: &str) -> &'static str {
    match stage {
        "induce" | "eval" => "items",
        "profile" => "calls",
        "truth" => "configurations",
        _ => "runs",
    }
}

impl Progress for Stderr {
    fn begin(&self, stage: &str, total: u64) {
        let now = Instant::now();
        *self.stage.lock().unwrap_or_else(|e| e.into_inner()) = Some(Stage {
            name: stage.to_string(),
            total,
            done: 0,
            started: now,
            last_line: now,
            status: String::new(),
        });
        if self.quiet || !self.terminal || total == 0 {
            return;
        }
        self.bar.set_draw_target(ProgressDrawTarget::stderr());
        self.bar.reset();
        self.bar.set_length(total);
        self.bar.set_message("");
        self.bar.set_style(
            ProgressStyle::with_template(&format!(
                "{stage:>8} {{pos}}/{{len}} {} [{{bar:30}}] {{elapsed}} {{msg}}",
                unit(stage)
            ))
            .expect("a valid template")
            .progress_chars("=> "),
        );
    }

    fn advance(&self, n: u64) {
        self.bar.inc(n);
        let (quiet, terminal) = (self.quiet, self.terminal);
        let bar = &self.bar;
        self.with_stage(|s| {
            s.done += n;
            if quiet {
                return;
            }
            if terminal {
                let secs = s.started.elapsed().as_secs_f64();
                if secs > 1.0 && s.done < s.total {
                    let rate = s.done as f64 / secs;
                    let eta = duration((s.total - s.done) as f64 / rate);
                    let status = if s.status.is_empty() {
                        String::new()
                    } else {
                        format!(", {}", s.status)
                    };
                    bar.set_message(format!("{}/s, eta {eta}{status}", count(rate as u64)));
                }
            } else if s.last_line.elapsed() >= LOG_EVERY {
                s.last_line = Instant::now();
                eprintln!("{}", s.line());
            }
        });
    }

    fn end(&self) {
        self.bar.finish_and_clear();
        if !self.quiet && !self.terminal {
            self.with_stage(|s| {
                if s.total > 0 && s.started.elapsed() >= LOG_EVERY {
                    eprintln!("{}", s.line());
                }
            });
        }
        *self.stage.lock().unwrap_or_else(|e| e.into_inner()) = None;
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
        self.with_stage(|s| s.status = text.to_string());
        if self.terminal {
            self.bar.set_message(text.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logged_progress_line_has_counts_rate_and_eta_for_people() {
        let started = Instant::now() - Duration::from_secs(10);
        let stage = Stage {
            name: "profile".into(),
            total: 37_500,
            done: 12_000,
            started,
            last_line: started,
            status: "3 failed".into(),
        };
        let line = stage.line();
        assert!(
            line.starts_with(
                " profile 12,000/37,500 calls (1,200/s, eta 21 s) after 10 s; 3 failed"
            ),
            "{line}"
        );
    }
}

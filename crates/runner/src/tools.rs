//! Deterministic tools: answer extraction, Python execution, tests, final pick, paragraph selection.
//!
//! Python programs run as `python3 -I -c <program>` in a confined subprocess ([`sandbox`]: empty
//! environment, fresh temporary directory, CPU, memory, file-size and process limits, its own process
//! group, and where `unshare` allows it no network, its own PID namespace and a read-only file
//! system) with a [`PYTHON_TIMEOUT`], and are killed with everything they started when it expires. At
//! most one program per core runs at once (the others wait their turn before their clock starts), so
//! a burst of programs from concurrent runs does not turn CPU contention into timeouts. The same
//! program on the same input runs once ([`ProgramRuns`]: in memory, and in the store once one is
//! given), since what it prints is taken to depend on nothing else. The
//! confinement is not a security boundary (see [`sandbox`]): run untrusted model output inside a
//! container as well.

use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

use crate::parse::last_boxed;
use crate::score::last_number_str;

mod programs;
pub mod sandbox;

pub use programs::ProgramRuns;

/// Longest a Python program may run.
pub const PYTHON_TIMEOUT: Duration = Duration::from_secs(5);

/// The final answer in a solution: the last `\boxed{}` content; else, in prose (a word of two or
/// more letters that is not a LaTeX command), the last number; else the text itself, trimmed. An
/// answer already extracted (`x \in [-2,7]`, `\frac{3}{4}`, `3/4`, an agent's parsed output) passes
/// unchanged: taking its last number would turn `[-2,7]` into `-27`.
pub fn extract_answer(text: &str) -> String {
    if let Some(b) = last_boxed(text) {
        return b.to_string();
    }
    if is_prose(text) {
        if let Some(n) = last_number_str(text) {
            return n;
        }
    }
    text.trim().to_string()
}

/// Whether `text` has a word of two or more ASCII letters not led by a backslash.
fn is_prose(text: &str) -> bool {
    let (mut prev, mut run, mut command) = (' ', 0, false);
    for c in text.chars() {
        if c.is_ascii_alphabetic() {
            if run == 0 {
                command = prev == '\\';
            }
            run += 1;
        } else {
            if run >= 2 && !command {
                return true;
            }
            run = 0;
        }
        prev = c;
    }
    run >= 2 && !command
}

/// What a Python run gave: stdout, or why it failed.
#[derive(Clone, Debug, PartialEq)]
pub struct PythonRun {
    /// Standard output, trimmed.
    pub stdout: String,
    /// `None` on success, else the error text: the exit status or signal (with the limit it points
    /// to) and the last line of stderr, the timeout, or why the program could not start.
    pub error: Option<String>,
}

/// The process's program runs: every [`run_python`] goes through it.
pub fn program_runs() -> &'static ProgramRuns {
    static RUNS: OnceLock<ProgramRuns> = OnceLock::new();
    RUNS.get_or_init(|| ProgramRuns::new(PYTHON_TIMEOUT))
}

/// Runs `program` confined ([`sandbox`]) with `python3 -I -c`, feeding `stdin`, killed with every
/// process it started after [`PYTHON_TIMEOUT`] (counted from its start, once a slot is free); the
/// same program on the same input runs once per process, or once per store given to
/// [`program_runs`] ([`ProgramRuns::keep_in`]).
pub async fn run_python(program: &str, stdin: &str) -> PythonRun {
    program_runs().run(program, stdin).await
}

/// One stdin -> stdout test case.
#[derive(Clone, Debug, PartialEq)]
pub struct TestCase {
    /// Standard input.
    pub input: String,
    /// Expected standard output.
    pub output: String,
}

/// Reads a `tests` field: a list (or a JSON string holding a list) of `{input, output}` objects.
pub fn test_cases(tests: &Value) -> Option<Vec<TestCase>> {
    let parsed;
    let list = match tests {
        Value::String(s) => {
            parsed = serde_json::from_str::<Value>(s).ok()?;
            parsed.as_array()?
        }
        Value::Array(a) => a,
        _ => return None,
    };
    list.iter()
        .map(|t| {
            let text = |k: &str| match t.get(k)? {
                Value::String(s) => Some(s.clone()),
                v => Some(v.to_string()),
            };
            Some(TestCase {
                input: text("input")?,
                output: text("output")?,
            })
        })
        .collect()
}

/// The outcome of running a program against test cases.
#[derive(Clone, Debug, PartialEq)]
pub struct TestReport {
    /// Cases whose output matched.
    pub passed: usize,
    /// Cases run.
    pub total: usize,
    /// `passed`, or `failed` with the first failure (input, expected, got or error).
    pub feedback: String,
}

impl TestReport {
    /// Whether every case passed (and there was at least one).
    pub fn all_passed(&self) -> bool {
        self.total > 0 && self.passed == self.total
    }
}

fn same_output(got: &str, want: &str) -> bool {
    let lines =
        |s: &str| -> Vec<String> { s.trim().lines().map(|l| l.trim_end().to_string()).collect() };
    lines(got) == lines(want)
}

/// Runs `program` on every case (stdin -> stdout, lines compared without trailing spaces).
pub async fn run_tests(program: &str, cases: &[TestCase]) -> TestReport {
    let runs = futures::future::join_all(cases.iter().map(|c| run_python(program, &c.input))).await;
    let mut passed = 0;
    let mut first_failure = None;
    for (case, run) in cases.iter().zip(runs) {
        let ok = run.error.is_none() && same_output(&run.stdout, &case.output);
        if ok {
            passed += 1;
        } else if first_failure.is_none() {
            let got = match run.error {
                Some(e) => format!("error: {e}"),
                None => format!("output:\n{}", run.stdout),
            };
            first_failure = Some(format!(
                "failed: input:\n{}\nexpected:\n{}\ngot {got}",
                case.input.trim_end(),
                case.output.trim_end()
            ));
        }
    }
    let feedback = match first_failure {
        Some(f) => f,
        None if cases.is_empty() => "failed: no tests".to_string(),
        None => "passed".to_string(),
    };
    TestReport {
        passed,
        total: cases.len(),
        feedback,
    }
}

fn words(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
        .map(str::to_lowercase)
        .collect()
}

/// Keeps the `keep` paragraphs of a HotpotQA `context` (a list of `[title, [sentences...]]`) that
/// share the most words with `question`, in their original order; `None` when the shape differs.
pub fn select_paragraphs(context: &Value, question: &str, keep: usize) -> Option<Value> {
    let paragraphs = context.as_array()?;
    let q = words(question);
    let mut scored = Vec::new();
    for (i, p) in paragraphs.iter().enumerate() {
        let pair = p.as_array()?;
        let title = pair.first()?.as_str()?;
        let mut text = title.to_string();
        for s in pair.get(1)?.as_array()? {
            text.push(' ');
            text.push_str(s.as_str()?);
        }
        let overlap = words(&text).intersection(&q).count();
        scored.push((overlap, i));
    }
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut kept: Vec<usize> = scored.iter().take(keep).map(|(_, i)| *i).collect();
    kept.sort();
    Some(Value::Array(
        kept.into_iter().map(|i| paragraphs[i].clone()).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extract_answer_prefers_boxed_then_last_number() {
        assert_eq!(
            extract_answer("so \\boxed{\\frac{3}{4}} is it"),
            "\\frac{3}{4}"
        );
        assert_eq!(extract_answer("2 apples and 1,200 pears"), "1200");
        assert_eq!(extract_answer("She sold 72 clips."), "72");
        assert_eq!(extract_answer("5\\text{ cm}"), "5");
        assert_eq!(extract_answer("  Paris "), "Paris");
        // Answers already extracted pass unchanged: no last number taken out of them.
        assert_eq!(extract_answer("x \\in [-2,7]"), "x \\in [-2,7]");
        assert_eq!(extract_answer("\\frac{3}{4}"), "\\frac{3}{4}");
        assert_eq!(extract_answer(" 3/4 "), "3/4");
        assert_eq!(extract_answer("(-\\infty, 3)"), "(-\\infty, 3)");
        assert_eq!(extract_answer("1,200"), "1,200");
    }

    #[tokio::test]
    async fn python_runs_reads_stdin_and_reports_errors() {
        let ok = run_python("print(sum(map(int, input().split())))", "2 40\n").await;
        assert_eq!(
            ok,
            PythonRun {
                stdout: "42".into(),
                error: None
            }
        );
        let bad = run_python("raise ValueError('boom')", "").await;
        assert!(bad.error.unwrap().contains("ValueError: boom"));
    }

    #[tokio::test]
    async fn tests_pass_and_fail_with_the_first_failure() {
        let cases = test_cases(&json!([
            {"input": "1 2\n", "output": "3\n"},
            {"input": "5 5\n", "output": "10"}
        ]))
        .unwrap();
        let good = run_tests("a, b = map(int, input().split())\nprint(a + b)", &cases).await;
        assert!(good.all_passed());
        assert_eq!(good.feedback, "passed");
        let bad = run_tests("a, b = map(int, input().split())\nprint(a * b)", &cases).await;
        assert_eq!((bad.passed, bad.total), (0, 2));
        assert!(bad
            .feedback
            .starts_with("failed: input:\n1 2\nexpected:\n3\ngot output:\n2"));
        let as_string = json!("[{\"input\": \"\", \"output\": \"1\"}]");
        assert_eq!(test_cases(&as_string).unwrap().len(), 1);
        assert!(test_cases(&json!(3)).is_none());
    }

    #[test]
    fn paragraphs_sharing_question_words_are_kept_in_order() {
        let context = json!([
            ["Corinne Jorry", ["A French costume designer."]],
            [
                "Danilo Donati",
                ["Danilo Donati won the Academy Award for Costume Design."]
            ],
            ["Weather", ["It rained."]],
            [
                "Romeo and Juliet (1968 film)",
                ["A romance film; Danilo Donati won an Academy Award."]
            ]
        ]);
        let q =
            "What is the genre of the film for which Danilo Donati first won the Academy Award?";
        let kept = select_paragraphs(&context, q, 2).unwrap();
        let titles: Vec<&str> = kept
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[0].as_str().unwrap())
            .collect();
        assert_eq!(titles, ["Danilo Donati", "Romeo and Juliet (1968 film)"]);
        assert!(select_paragraphs(&json!("text"), q, 2).is_none());
    }
}

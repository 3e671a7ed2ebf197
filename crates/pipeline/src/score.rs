//! How one agent's output is scored against its induced reference output.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use flowcompile_ir::{Agent, OutputParser, Scorer};
use flowcompile_runner::tools::run_python;
use flowcompile_runner::{score, score_text};
use flowcompile_store::ProgramRun;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

/// What a program printed, or why it failed, once it has run.
type Printed = OnceCell<Result<String, String>>;

/// Scores agent outputs against reference outputs with the task's scorer, as the prototype does:
/// answers (boxed, tagged, raw) are compared with the scorer; programs of a `tests` task run the
/// item's tests; other programs are run (Python, 5 s timeout) and their printed outputs compared.
///
/// Program runs are cached by the program's SHA-256, since profiling meets the same program many
/// times: [`AgentScorer::with_program_runs`] starts the cache from what the store recorded, and
/// [`AgentScorer::take_new_runs`] hands over the successful runs made since, for the store. A failed
/// run is not handed over, so a later run tries the program again (like a failed call).
#[derive(Debug)]
pub struct AgentScorer {
    scorer: Scorer,
    answer_field: String,
    programs: Mutex<HashMap<String, Arc<Printed>>>,
    new_runs: Mutex<Vec<ProgramRun>>,
    runs: AtomicUsize,
}

impl AgentScorer {
    /// A scorer for a task scored by `scorer` whose gold answer is the item field `answer_field`.
    pub fn new(scorer: Scorer, answer_field: &str) -> AgentScorer {
        AgentScorer {
            scorer,
            answer_field: answer_field.to_string(),
            programs: Mutex::new(HashMap::new()),
            new_runs: Mutex::new(Vec::new()),
            runs: AtomicUsize::new(0),
        }
    }

    /// The same scorer, knowing what the programs of `runs` print (read from the store once).
    pub fn with_program_runs(self, runs: Vec<ProgramRun>) -> AgentScorer {
        let known = runs.into_iter().map(|run| {
            let cell = OnceCell::new_with(Some(Ok(run.stdout)));
            (run.program_sha256, Arc::new(cell))
        });
        crate::lock(&self.programs).extend(known);
        self
    }

    /// Programs this scorer has run (successfully or not); programs it knew are not counted.
    pub fn programs_run(&self) -> usize {
        self.runs.load(Ordering::Relaxed)
    }

    /// The successful program runs made since the last call, to record in the store.
    pub fn take_new_runs(&self) -> Vec<ProgramRun> {
        std::mem::take(&mut *crate::lock(&self.new_runs))
    }

    /// The score in [0, 1] of `agent`'s parsed `output` on the example with template variables
    /// `inputs`, whose reference output is `reference`.
    pub async fn score(
        &self,
        agent: &Agent,
        output: &str,
        reference: &str,
        inputs: &Map<String, Value>,
    ) -> f64 {
        match (&agent.output, self.scorer) {
            (OutputParser::CodeBlock(_), Scorer::Tests) => {
                let gold = inputs.get(&self.answer_field).unwrap_or(&Value::Null);
                score(Scorer::Tests, output, gold).await.value
            }
            (OutputParser::CodeBlock(_), scorer) => {
                match (self.printed(output).await, self.printed(reference).await) {
                    (Ok(mine), Ok(theirs)) => {
                        score_text(scorer, &mine, &theirs).map_or(0.0, |s| s.value)
                    }
                    // A program that fails is wrong, and a reference that fails leaves nothing
                    // to compare with: two failures are not a match.
                    _ => 0.0,
                }
            }
            (_, Scorer::Tests) => {
                score_text(Scorer::ExactMatch, output, reference).map_or(0.0, |s| s.value)
            }
            (_, scorer) => score_text(scorer, output, reference).map_or(0.0, |s| s.value),
        }
    }

    /// What `program` prints, or why it failed; run once per distinct program.
    async fn printed(&self, program: &str) -> Result<String, String> {
        let sha = program_sha256(program);
        let cell = crate::lock(&self.programs)
            .entry(sha.clone())
            .or_insert_with(|| Arc::new(OnceCell::new()))
            .clone();
        cell.get_or_init(|| async {
            self.runs.fetch_add(1, Ordering::Relaxed);
            let run = run_python(program, "").await;
            match run.error {
                None => {
                    let stdout = run.stdout.trim().to_string();
                    crate::lock(&self.new_runs).push(ProgramRun {
                        program_sha256: sha,
                        stdout: stdout.clone(),
                    });
                    Ok(stdout)
                }
                Some(e) => Err(e),
            }
        })
        .await
        .clone()
    }
}

/// The key a program's run is cached and stored under: the lowercase hex SHA-256 of its text.
fn program_sha256(program: &str) -> String {
    Sha256::digest(program.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowcompile_ir::Setting;

    fn agent(output: OutputParser) -> Agent {
        let mut a = Agent::new("a", vec![Setting::new("m", 1)]);
        a.output = output;
        a
    }

    #[tokio::test]
    async fn answers_compare_with_the_task_scorer() {
        let s = AgentScorer::new(Scorer::MathEquiv, "answer");
        let boxed = agent(OutputParser::Boxed);
        let none = Map::new();
        assert_eq!(s.score(&boxed, "\\frac{1}{2}", "0.5", &none).await, 1.0);
        assert_eq!(s.score(&boxed, "3", "4", &none).await, 0.0);
        let f1 = AgentScorer::new(Scorer::F1, "answer");
        let v = f1
            .score(&agent(OutputParser::Raw), "red fox jumps", "red fox", &none)
            .await;
        assert!(v > 0.7 && v < 1.0, "{v}");
    }

    #[tokio::test]
    async fn programs_are_compared_by_what_they_print() {
        let s = AgentScorer::new(Scorer::ExactNumber, "answer");
        let code = agent(OutputParser::CodeBlock(Some("python".into())));
        let none = Map::new();
        assert_eq!(
            s.score(&code, "print(6 * 7)", "print(42)", &none).await,
            1.0
        );
        assert_eq!(s.score(&code, "print(41)", "print(42)", &none).await, 0.0);
        assert_eq!(
            s.score(&code, "raise SystemExit(3)", "print(42)", &none)
                .await,
            0.0
        );
        assert_eq!(
            s.programs.lock().unwrap().len(),
            4,
            "each distinct program ran once"
        );
        let mut new_runs: Vec<String> = s.take_new_runs().into_iter().map(|r| r.stdout).collect();
        new_runs.sort();
        assert_eq!(
            new_runs,
            ["41", "42", "42"],
            "only successful runs are handed over"
        );
        assert!(s.take_new_runs().is_empty());
    }

    #[tokio::test]
    async fn known_program_runs_are_not_run_again() {
        let sha = program_sha256("raise SystemExit(3)");
        let s =
            AgentScorer::new(Scorer::ExactNumber, "answer").with_program_runs(vec![ProgramRun {
                program_sha256: sha,
                stdout: "42".into(),
            }]);
        let code = agent(OutputParser::CodeBlock(Some("python".into())));
        // The program would fail if it ran; the store says it printed 42.
        assert_eq!(
            s.score(&code, "raise SystemExit(3)", "print(42)", &Map::new())
                .await,
            1.0
        );
        let new_runs: Vec<String> = s.take_new_runs().into_iter().map(|r| r.stdout).collect();
        assert_eq!(new_runs, ["42"], "only the reference ran");
        assert_eq!(s.programs_run(), 1);
    }
}

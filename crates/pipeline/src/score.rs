//! How one agent's output is scored against its induced reference output.

use flowcompile_ir::{Agent, OutputParser, Scorer};
use flowcompile_runner::tools::run_python;
use flowcompile_runner::{score, score_text};
use serde_json::{Map, Value};

/// Scores agent outputs against reference outputs with the task's scorer, as the prototype does:
/// answers (boxed, tagged, raw) are compared with the scorer; programs of a `tests` task run the
/// item's tests; other programs are run (Python, 5 s timeout) and their printed outputs compared.
///
/// Profiling meets the same program many times: each distinct one runs once
/// ([`run_python`] keeps program runs).
#[derive(Debug)]
pub struct AgentScorer {
    scorer: Scorer,
    answer_field: String,
}

impl AgentScorer {
    /// A scorer for a task scored by `scorer` whose gold answer is the item field `answer_field`.
    pub fn new(scorer: Scorer, answer_field: &str) -> AgentScorer {
        AgentScorer {
            scorer,
            answer_field: answer_field.to_string(),
        }
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

    /// What `program` prints, or why it failed.
    async fn printed(&self, program: &str) -> Result<String, String> {
        let run = run_python(program, "").await;
        match run.error {
            None => Ok(run.stdout.trim().to_string()),
            Some(e) => Err(e),
        }
    }
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
    }
}

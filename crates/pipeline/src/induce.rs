//! Data induction: run the reference configuration on a labelled split, keep the calls of passing
//! runs (optionally those a judge rates correct) as each agent's pseudo ground truth.
//!
//! Agents whose output is an answer (see [`answers_to_gold`]) are the exception: their calls are
//! kept from every completed run, passing or not, with the item's gold answer as the reference, so
//! that profiling measures them on the task's whole distribution rather than on the items the
//! reference configuration happened to solve, and against the truth rather than the reference.
//! A vote's ensemble that picks among answers ([`votes_among_answers`]) is kept, with the gold
//! answer as the reference, from every completed run in which at least one of its candidates was
//! right (and from passing runs): its accuracy is that of picking a right candidate when there is
//! one, measured whether or not the reference's own pick was right.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Mutex;

use flowcompile_client::CallRequest;
use flowcompile_ir::{AgentId, NodeId, NodeKind, OutputParser, Scorer, Workflow};
use flowcompile_openai::ChatMessage;
use flowcompile_runner::{item_id, CallRecord, Config, RunResult};
use flowcompile_store::{EvalRow, InducedRow, Store};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::PipelineError;
use crate::progress::Progress;
use crate::{lock, unix_now, Pipeline};

/// The agent name judge calls carry (the zoo's default config gives it the judge role).
pub const JUDGE_AGENT: &str = "judge";

/// Mixed into a judged call's seed, so the judge's draws are independent of the call's own.
const JUDGE_SALT: u64 = 0x6a75_6467;

/// How to induce.
#[derive(Clone, Debug)]
pub struct InduceOptions {
    /// The reference configuration (the paper: its largest model on the full workflow).
    pub reference: Config,
    /// The reference as text (`s16 all=qwen3-14b@16000`), part of the induction key.
    pub reference_text: String,
    /// A kept trace's final score is at least this (the prototype: 0.5).
    pub min_score: f64,
    /// A model that judges each kept call (its setting's budget is `judge_budget`); `None`: no judge.
    pub judge: Option<String>,
    /// Thinking budget of judge calls.
    pub judge_budget: u32,
    /// Items run at once.
    pub concurrency: usize,
}

/// Examples induced for one agent.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentExamples {
    /// Agent name.
    pub agent: String,
    /// Its successful calls in passing traces.
    pub calls_in_kept_traces: usize,
    /// Of those, the ones the judge did not rate correct.
    pub rejected_by_judge: usize,
    /// Examples stored (distinct inputs).
    pub examples: usize,
}

/// What an induction did.
#[derive(Clone, Debug, Serialize)]
pub struct InduceReport {
    /// The induction key: profiling reads the examples stored under it.
    pub key: String,
    /// Items in the split.
    pub items: usize,
    /// Items run by this invocation (the others were in the store).
    pub items_run_now: usize,
    /// Items whose reference run passed.
    pub items_kept: usize,
    /// Items whose reference run failed with an error (never counted as kept).
    pub items_failed: usize,
    /// Mean final score of the reference over the items that ran without error.
    pub reference_score: f64,
    /// Per agent, in workflow order.
    pub agents: Vec<AgentExamples>,
}

/// What the store keeps per induced item, in the eval row's trace column.
#[derive(Serialize, Deserialize)]
struct ItemTrace {
    /// Per agent: calls in the (passing) trace, and how many the judge rejected.
    counts: BTreeMap<String, (usize, usize)>,
    calls: Value,
}

impl Pipeline {
    /// The store key of `agent`'s examples under induction `key`.
    pub fn examples_key(key: &str, agent: &str) -> String {
        format!("{key}/{agent}")
    }

    /// Runs data induction on `items`, skipping items the store has for this induction key.
    ///
    /// Examples are written before the item is marked done, so a run killed at any point resumes
    /// without losing one. Fails when no trace passes or an agent gets no example.
    pub async fn induce(
        &self,
        items: &[Value],
        key: &str,
        opts: &InduceOptions,
        progress: &dyn Progress,
    ) -> Result<InduceReport, PipelineError> {
        let run_key = format!("induce/{key}");
        let store = Mutex::new(Store::open(&self.store_path)?);
        let done = lock(&store).eval_done(&run_key)?;
        let todo: Vec<&Value> = items
            .iter()
            .filter(|it| !done.contains(&item_id(it)))
            .collect();
        progress.begin("induce", todo.len() as u64);
        let mut results = futures::stream::iter(todo.iter().map(|item| async move {
            let run = self.runner.run(&opts.reference, item).await;
            let verdicts = self.judge_calls(&run, item, opts).await;
            (run, verdicts, *item)
        }))
        .buffer_unordered(opts.concurrency.max(1));
        let mut first_error = None;
        while let Some((run, verdicts, item)) = results.next().await {
            self.record_item(&lock(&store), item, &run, verdicts, key, opts)?;
            if let (Err(e), None) = (&run.answer, &first_error) {
                first_error = Some(e.to_string());
            }
            progress.advance(1);
        }
        progress.end();
        drop(results);

        let store = store.into_inner().unwrap_or_else(|e| e.into_inner());
        let rows = store.eval_rows(&run_key)?;
        let wanted: HashSet<String> = items.iter().map(item_id).collect();
        let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        let (mut kept, mut failed, mut score_sum, mut scored) = (0, 0, 0.0, 0);
        for row in rows.iter().filter(|r| wanted.contains(&r.item_id)) {
            if row.error.is_some() {
                failed += 1;
                first_error.get_or_insert_with(|| row.error.clone().unwrap_or_default());
                continue;
            }
            scored += 1;
            score_sum += row.score;
            if row.score >= opts.min_score {
                kept += 1;
                if let Ok(t) = serde_json::from_str::<ItemTrace>(&row.trace_json) {
                    for (agent, (n, rejected)) in t.counts {
                        let c = counts.entry(agent).or_default();
                        c.0 += n;
                        c.1 += rejected;
                    }
                }
            }
        }
        if kept == 0 {
            return Err(PipelineError::NothingKept {
                items: wanted.len(),
                failed,
                min_score: opts.min_score,
                first_error: first_error
                    .map(|e| format!("; e.g. {e}"))
                    .unwrap_or_default(),
            });
        }
        let mut agents = Vec::new();
        let mut missing = Vec::new();
        for agent in &self.wf().agents {
            let examples = store.induced(&Self::examples_key(key, &agent.name))?.len();
            let (n, rejected) = counts.get(&agent.name).copied().unwrap_or_default();
            if examples == 0 {
                missing.push(agent.name.clone());
            }
            agents.push(AgentExamples {
                agent: agent.name.clone(),
                calls_in_kept_traces: n,
                rejected_by_judge: rejected,
                examples,
            });
        }
        if !missing.is_empty() {
            return Err(PipelineError::NoExamples {
                agents: missing,
                judged: opts.judge.is_some(),
            });
        }
        Ok(InduceReport {
            key: key.to_string(),
            items: wanted.len(),
            items_run_now: todo.len(),
            items_kept: kept,
            items_failed: failed,
            reference_score: if scored == 0 {
                0.0
            } else {
                score_sum / scored as f64
            },
            agents,
        })
    }

    /// The judge's verdict on each successful call of a passing run (`None` when there is no
    /// judge, the run did not pass, or the call's output is a program, which is judged by running).
    async fn judge_calls(
        &self,
        run: &RunResult,
        item: &Value,
        opts: &InduceOptions,
    ) -> Vec<Option<bool>> {
        let passed = run.score.is_some_and(|s| s.value >= opts.min_score);
        let Some(judge) = opts.judge.as_deref().filter(|_| passed) else {
            return vec![None; run.calls.len()];
        };
        let question = judge_question(item, &self.wf().task.fields);
        let mut verdicts = Vec::with_capacity(run.calls.len());
        for call in &run.calls {
            let program = self
                .wf()
                .agents
                .iter()
                .find(|a| a.name == call.agent)
                .is_some_and(|a| matches!(a.output, OutputParser::CodeBlock(_)));
            if call.error.is_some() || program {
                verdicts.push(None);
                continue;
            }
            let prompt = format!(
                "You are checking one step of a larger solution. Decide whether the proposed answer to the question below is correct.\n\n{question}\n\nProposed answer: \\boxed{{{}}}\n\nReply with <verdict>correct</verdict> or <verdict>incorrect</verdict>.",
                call.parsed
            );
            let req = CallRequest::new(judge, vec![ChatMessage::user(prompt)], opts.judge_budget)
                .seed(call.seed ^ JUDGE_SALT)
                .agent(JUDGE_AGENT);
            let verdict = match self.runner.client().call(req).await {
                Ok(out) => flowcompile_runner::last_tag(&out.text, "verdict")
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("correct")),
                Err(_) => false,
            };
            verdicts.push(Some(verdict));
        }
        verdicts
    }

    /// Stores one item's induced examples, then its result (so a crash in between re-runs it).
    fn record_item(
        &self,
        store: &Store,
        item: &Value,
        run: &RunResult,
        verdicts: Vec<Option<bool>>,
        key: &str,
        opts: &InduceOptions,
    ) -> Result<(), PipelineError> {
        let score = run.score.map_or(0.0, |s| s.value);
        let passed = run.answer.is_ok() && score >= opts.min_score;
        let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        let mut rows = Vec::new();
        let gold = item
            .get(&self.wf().task.answer)
            .filter(|_| run.answer.is_ok())
            .map(gold_text);
        // Per agent (by name): scored against the gold answer, or a vote's ensemble picking answers.
        let wf = self.wf();
        let kinds: BTreeMap<&str, (bool, bool)> = (0..wf.agents.len())
            .map(|i| {
                let gives = gives_answer(wf, i);
                let ensemble = is_ensemble(wf, i);
                (
                    wf.agents[i].name.as_str(),
                    (gives && !ensemble, gives && ensemble),
                )
            })
            .collect();
        for (call, verdict) in run.calls.iter().zip(verdicts) {
            if call.error.is_some() {
                continue;
            }
            let (to_gold, picks) = kinds.get(call.agent.as_str()).copied().unwrap_or_default();
            if let (Some(gold), true) = (&gold, to_gold) {
                let mut row = induced_row(key, &run.item_id, call);
                row.reference_output = gold.clone();
                rows.push(row);
                continue;
            }
            if let (Some(gold), true) = (&gold, picks) {
                if passed || some_candidate_right(self.wf().task.scorer, call, gold) {
                    let mut row = induced_row(key, &run.item_id, call);
                    row.reference_output = gold.clone();
                    rows.push(row);
                }
                continue;
            }
            if !passed {
                continue;
            }
            let c = counts.entry(call.agent.clone()).or_default();
            c.0 += 1;
            if verdict == Some(false) {
                c.1 += 1;
                continue;
            }
            rows.push(induced_row(key, &run.item_id, call));
        }
        store.record_induced(&rows)?;
        let trace = ItemTrace {
            counts,
            calls: serde_json::to_value(&run.calls).unwrap_or(Value::Null),
        };
        store.record_eval(&EvalRow {
            run_key: format!("induce/{key}"),
            item_id: run.item_id.clone(),
            answer: run.answer.as_ref().map(Clone::clone).unwrap_or_default(),
            score,
            correct: run.score.is_some_and(|s| s.correct),
            latency_s: run.latency_s,
            modelled_latency_s: run.modelled_latency_s,
            prompt_tokens: run.calls.iter().map(|c| c.prompt_tokens).sum(),
            completion_tokens: run.calls.iter().map(|c| c.completion_tokens).sum(),
            cost_usd: None,
            error: run.answer.as_ref().err().map(ToString::to_string),
            trace_json: serde_json::to_string(&trace).unwrap_or_else(|_| "{}".into()),
            created_at_unix_s: unix_now(),
        })?;
        Ok(())
    }
}

/// Whether `wf.agents[agent]`'s output is an answer to the task, scored against the gold answer:
/// its parser extracts an answer (`boxed` or a tag), or its raw text is the workflow's final answer
/// in some structure (the last call, or a candidate a final vote picks among); the task's scorer
/// compares answers (not a test suite); and it is not a vote's ensemble (see
/// [`votes_among_answers`]).
pub fn answers_to_gold(wf: &Workflow, agent: usize) -> bool {
    gives_answer(wf, agent) && !is_ensemble(wf, agent)
}

/// Whether `wf.agents[agent]` is a vote's ensemble whose output is an answer scored against the
/// gold one: its accuracy is that of picking a right candidate, measured on the inputs that have
/// one.
pub fn votes_among_answers(wf: &Workflow, agent: usize) -> bool {
    gives_answer(wf, agent) && is_ensemble(wf, agent)
}

/// An answer under a scorer that compares answers: an answer parser (`boxed` or a tag), or raw
/// text that is the workflow's final answer in some structure (the last call of the structure, or
/// a candidate of a vote whose ensemble is) and so is scored as one.
fn gives_answer(wf: &Workflow, agent: usize) -> bool {
    if wf.task.scorer == Scorer::Tests {
        return false;
    }
    match wf.agents[agent].output {
        OutputParser::Boxed | OutputParser::Tag(_) => true,
        OutputParser::Raw => final_answer_agents(wf).contains(&agent),
        _ => false,
    }
}

/// The agents whose output is the final answer of some structure: the last call of a structure,
/// and when that is a vote's ensemble, the agents the vote is over.
fn final_answer_agents(wf: &Workflow) -> HashSet<usize> {
    let Ok(space) = wf.design_space() else {
        return HashSet::new();
    };
    let mut out = HashSet::new();
    for s in &space.structures {
        let mut last = None;
        s.expr.for_each_call(&mut |_, a| last = Some(a.0 as usize));
        out.extend(last);
    }
    for (voter, over) in votes(wf) {
        if out.contains(&voter) {
            out.extend(over);
        }
    }
    out
}

/// Every vote: its ensemble agent and the agents under the node it votes over.
pub fn votes(wf: &Workflow) -> Vec<(usize, BTreeSet<usize>)> {
    fn under(wf: &Workflow, node: NodeId, out: &mut BTreeSet<usize>) {
        if let NodeKind::Agent(AgentId(a)) = wf.node(node).kind {
            out.insert(a as usize);
        }
        for child in wf.children(node) {
            under(wf, child, out);
        }
    }
    wf.nodes
        .iter()
        .filter_map(|n| match n.kind {
            NodeKind::Vote { ensemble, over, .. } => match wf.node(ensemble).kind {
                NodeKind::Agent(AgentId(a)) => {
                    let mut agents = BTreeSet::new();
                    under(wf, over, &mut agents);
                    Some((a as usize, agents))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Whether the agent is the ensemble of some vote node.
fn is_ensemble(wf: &Workflow, agent: usize) -> bool {
    votes(wf).iter().any(|(voter, _)| *voter == agent)
}

/// Whether one of a vote call's `candidates` inputs is right against `gold` by `scorer`.
fn some_candidate_right(scorer: Scorer, call: &CallRecord, gold: &str) -> bool {
    let Some(Value::Array(candidates)) = call.inputs.get("candidates") else {
        return false;
    };
    candidates.iter().any(|c| {
        c.as_str()
            .and_then(|c| flowcompile_runner::score_text(scorer, c, gold))
            .is_some_and(|s| s.correct)
    })
}

/// The gold answer as reference text: a string as it is, anything else as JSON.
pub(crate) fn gold_text(gold: &Value) -> String {
    match gold {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One kept call as an example: its inputs replay it, its parsed output is the reference.
fn induced_row(key: &str, item: &str, call: &CallRecord) -> InducedRow {
    InducedRow {
        agent: Pipeline::examples_key(key, &call.agent),
        input_id: format!("{item}#{}.{}", call.site, call.sample),
        inputs_json: Value::Object(call.inputs.clone()).to_string(),
        reference_output: call.parsed.clone(),
    }
}

/// The item's text fields as the judge sees them (lists such as paragraphs left out).
fn judge_question(item: &Value, fields: &[String]) -> String {
    fields
        .iter()
        .filter_map(|f| match item.get(f) {
            Some(Value::String(s)) => Some(format!("{f}: {s}")),
            Some(v @ Value::Number(_)) => Some(format!("{f}: {v}")),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Raw text is an answer where it is the final answer: the last call, or what a final vote
    /// picks among; a raw step earlier in the pipeline is not.
    #[test]
    fn raw_text_answers_to_gold_where_it_is_the_final_answer() {
        let text = r#"
name = "r"
[task]
fields = ["q"]
answer = "a"
scorer = "f1"
[space]
models = ["m"]
budgets = [0]
[agents.plan]
prompt = "{{ q }}"
output = "raw"
[agents.solve]
prompt = "{{ q }}"
output = "raw"
[agents.pick]
prompt = "{% for c in candidates %}{{ c }}{% endfor %}"
output = "raw"
[agents.format]
prompt = "{{ q }}"
output = "raw"
[graph]
root = "pipeline"
[graph.nodes.pipeline]
seq = ["plan", "vote", "fmt"]
[graph.nodes.vote]
vote = "pick"
over = "solvers"
min_inputs = 2
[graph.nodes.solvers]
repeat = "solve"
count = [1, 2]
[graph.nodes.fmt]
optional = "format"
"#;
        let wf = flowcompile_spec::parse(text, "r.toml").unwrap();
        let at = |name: &str| wf.agents.iter().position(|a| a.name == name).unwrap();
        assert!(!answers_to_gold(&wf, at("plan")));
        assert!(answers_to_gold(&wf, at("solve")));
        assert!(answers_to_gold(&wf, at("format")));
        assert!(!answers_to_gold(&wf, at("pick")));
        assert!(votes_among_answers(&wf, at("pick")));
        let mut tests = wf.clone();
        tests.task.scorer = Scorer::Tests;
        assert!(!answers_to_gold(&tests, at("solve")));
    }

    #[test]
    fn the_judge_sees_text_fields_only() {
        let item = json!({"question": "Who?", "context": [["t", ["s"]]], "n": 3});
        let q = judge_question(&item, &["question".into(), "context".into(), "n".into()]);
        assert_eq!(q, "question: Who?\nn: 3");
    }
}

//! Data induction from a capture: an application's agent calls, captured by `flowcompile gateway
//! --capture` at their reference settings, become the agents' examples, as the reference runs of
//! [`Pipeline::induce`] would.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use flowcompile_openai::ChatMessage;
use flowcompile_runner::{item_id, parse_output, score};
use flowcompile_store::{CapturedCallRow, InducedRow, Store};
use serde_json::{Map, Value};

use crate::error::PipelineError;
use crate::induce::{answers_to_gold, gold_text, votes_among_answers, AgentExamples, InduceReport};
use crate::Pipeline;

/// The template variable under which a captured example keeps its request's messages; profiling
/// replays them as captured instead of rendering the agent's prompt.
pub const CAPTURED_MESSAGES: &str = "flowcompile_captured_messages";

/// The captured messages of an example's inputs, if it is a captured call.
pub(crate) fn captured_messages(inputs: &Map<String, Value>) -> Option<Vec<ChatMessage>> {
    serde_json::from_value(inputs.get(CAPTURED_MESSAGES)?.clone()).ok()
}

impl Pipeline {
    /// Induces the agents' examples from `calls` (a capture) over the labelled `items` (a run's id
    /// is its item's id), under induction `key`: each run's final answer (the last successful
    /// call of the agent the reference structure calls last, parsed by its parser) is scored
    /// against the gold answer with the task's scorer; every successful call of a run that
    /// scores at least `min_score` becomes an example of its agent, its captured reply the
    /// reference output, and the calls of answer agents ([`answers_to_gold`]) of every finished
    /// run become examples labelled with the gold answer, as do a vote's ensemble's
    /// ([`votes_among_answers`]) in every run where an answer agent's reply was right. A run without a final answer is left
    /// out and counted in `items_failed`. `split` names the items' file in errors.
    ///
    /// Fails when the capture's agents and the shape's differ (naming both sides), when a run is
    /// no item of the split, when a run has more successful calls of an agent than any structure
    /// of the shape makes (a run id reused for another input), or when nothing is kept.
    pub async fn induce_captured(
        &self,
        calls: &[CapturedCallRow],
        items: &[Value],
        split: &str,
        key: &str,
        min_score: f64,
    ) -> Result<InduceReport, PipelineError> {
        let wf = self.wf();
        let names: BTreeSet<&str> = wf.agents.iter().map(|a| a.name.as_str()).collect();
        let captured: BTreeSet<&str> = calls.iter().map(|c| c.agent.as_str()).collect();
        let captured_only: Vec<String> =
            captured.difference(&names).map(|s| s.to_string()).collect();
        let shape_only: Vec<String> = wf
            .agents
            .iter()
            .filter(|a| !captured.contains(a.name.as_str()))
            .map(|a| a.name.clone())
            .collect();
        if !captured_only.is_empty() || !shape_only.is_empty() {
            return Err(PipelineError::CaptureMismatch {
                captured_only,
                shape_only,
            });
        }
        let by_id: HashMap<String, &Value> = items.iter().map(|it| (item_id(it), it)).collect();
        let mut runs: BTreeMap<&str, Vec<&CapturedCallRow>> = BTreeMap::new();
        for c in calls {
            runs.entry(c.run.as_str()).or_default().push(c);
        }
        if let Some(run) = runs.keys().find(|r| !by_id.contains_key(**r)) {
            return Err(PipelineError::UnknownRun {
                run: run.to_string(),
                split: split.to_string(),
            });
        }
        let space = self.runner.space();
        let structure = space.largest_structure();
        let mut last = None;
        let mut most = vec![0usize; wf.agents.len()];
        for s in &space.structures {
            let mut n = vec![0usize; wf.agents.len()];
            s.expr
                .for_each_possible_call(&mut |_, agent| n[agent.0 as usize] += 1);
            for (m, k) in most.iter_mut().zip(n) {
                *m = (*m).max(k);
            }
        }
        space.structures[structure]
            .expr
            .for_each_call(&mut |_, agent| last = Some(agent.0 as usize));
        let final_agent = last.unwrap_or(wf.agents.len().saturating_sub(1));
        let final_name = wf.agents[final_agent].name.as_str();

        let (mut kept, mut unfinished, mut score_sum) = (0, 0, 0.0);
        let mut rows = Vec::new();
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for (run, run_calls) in &runs {
            for (a, agent) in wf.agents.iter().enumerate() {
                let calls = run_calls
                    .iter()
                    .filter(|c| c.agent == agent.name && c.error.is_none())
                    .count();
                if calls > most[a] {
                    return Err(PipelineError::RunReused {
                        run: run.to_string(),
                        agent: agent.name.clone(),
                        calls,
                        most: most[a],
                    });
                }
            }
            let item = by_id[*run];
            let gold = item.get(&wf.task.answer).map(gold_text);
            let answer = run_calls
                .iter()
                .filter(|c| c.agent == final_name && c.error.is_none())
                .max_by_key(|c| c.call_index);
            let (Some(answer), Some(gold)) = (answer, gold) else {
                unfinished += 1;
                continue;
            };
            let parsed = parse_output(&wf.agents[final_agent].output, &answer.reply)
                .unwrap_or_else(|raw| raw);
            let gold_value = item.get(&wf.task.answer).cloned().unwrap_or(Value::Null);
            let value = score(wf.task.scorer, &parsed, &gold_value).await.value;
            score_sum += value;
            let passed = value >= min_score;
            kept += usize::from(passed);
            let mut fields = Map::new();
            for f in wf.task.fields.iter().chain([&wf.task.answer]) {
                if let Some(v) = item.get(f) {
                    fields.insert(f.clone(), v.clone());
                }
            }
            // Whether one of the run's answers was right: a vote's ensemble is kept from a failed
            // run when it had a right answer to pick.
            let mut some_right = false;
            for c in run_calls.iter().filter(|c| c.error.is_none()) {
                let Some(a) = wf.agents.iter().position(|a| a.name == c.agent) else {
                    continue;
                };
                if answers_to_gold(wf, a) {
                    let answer =
                        parse_output(&wf.agents[a].output, &c.reply).unwrap_or_else(|raw| raw);
                    if score(wf.task.scorer, &answer, &gold_value).await.correct {
                        some_right = true;
                        break;
                    }
                }
            }
            for c in run_calls.iter().filter(|c| c.error.is_none()) {
                let Some(a) = wf.agents.iter().position(|a| a.name == c.agent) else {
                    continue;
                };
                let picks = votes_among_answers(wf, a) && (passed || some_right);
                let to_gold = answers_to_gold(wf, a) || picks;
                if !passed && !to_gold {
                    continue;
                }
                let Ok(request) = serde_json::from_str::<Value>(&c.request_json) else {
                    continue;
                };
                let Some(messages) = request.get("messages").filter(|m| m.is_array()) else {
                    continue;
                };
                let mut inputs = fields.clone();
                inputs.insert(CAPTURED_MESSAGES.into(), messages.clone());
                let reference = if to_gold {
                    gold.clone()
                } else {
                    parse_output(&wf.agents[a].output, &c.reply).unwrap_or_else(|raw| raw)
                };
                *counts.entry(c.agent.clone()).or_default() += 1;
                rows.push(InducedRow {
                    agent: Self::examples_key(key, &c.agent),
                    input_id: format!("{run}#{}.{}", c.agent, c.call_index),
                    inputs_json: Value::Object(inputs).to_string(),
                    reference_output: reference,
                });
            }
        }
        let finished = runs.len() - unfinished;
        if kept == 0 {
            return Err(PipelineError::NothingKept {
                items: runs.len(),
                failed: unfinished,
                min_score,
                first_error: String::new(),
            });
        }
        let store = Store::open(&self.store_path)?;
        store.record_induced(&rows)?;
        let mut agents = Vec::new();
        let mut missing = Vec::new();
        for agent in &wf.agents {
            let examples = store.induced(&Self::examples_key(key, &agent.name))?.len();
            if examples == 0 {
                missing.push(agent.name.clone());
            }
            agents.push(AgentExamples {
                agent: agent.name.clone(),
                calls_in_kept_traces: counts.get(&agent.name).copied().unwrap_or_default(),
                rejected_by_judge: 0,
                examples,
            });
        }
        if !missing.is_empty() {
            return Err(PipelineError::NoExamples {
                agents: missing,
                judged: false,
            });
        }
        Ok(InduceReport {
            key: key.to_string(),
            items: runs.len(),
            items_run_now: 0,
            items_kept: kept,
            items_failed: unfinished,
            reference_score: if finished == 0 {
                0.0
            } else {
                score_sum / finished as f64
            },
            agents,
        })
    }
}

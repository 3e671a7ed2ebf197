//! One item's run: the walk over the configuration's expression (sequences, branches run
//! concurrently, conditionals, votes, retries), each model call and tool run recorded in the trace.

use std::sync::Mutex;
use std::time::Instant;

use flowcompile_client::DeltaSink;
use flowcompile_ir::{Expr, SlotId, ToolKind};
use futures::future::{join_all, BoxFuture};
use serde_json::{Map, Value};

use crate::tools::{extract_answer, run_python, run_tests, select_paragraphs, test_cases};
use flowcompile_ir::{Config, ConfigError};

use super::{n_sites, seed, CallRecord, Flow, RunError, Runner, ToolRecord, Val};

/// Paragraphs `select_paragraphs` keeps.
const PARAGRAPHS_KEPT: usize = 2;

type Trace = (Vec<CallRecord>, Vec<ToolRecord>);

/// One run of one item: shared by the concurrent branches.
pub(super) struct ItemRun<'r> {
    pub(super) runner: &'r Runner,
    pub(super) config: &'r Config,
    pub(super) item_id: String,
    pub(super) trace: Mutex<Trace>,
    /// The site whose reply streams, and where it goes ([`Runner::run_streaming`]).
    pub(super) stream_to: Option<(usize, DeltaSink)>,
}

impl ItemRun<'_> {
    /// Runs the item; with `scored`, also returns its gold answer (required then).
    pub(super) async fn execute(
        &self,
        item: &Value,
        scored: bool,
    ) -> Result<(String, Option<Value>, f64), RunError> {
        let fields = item.as_object().ok_or_else(|| RunError::NotAnObject {
            item: self.item_id.clone(),
        })?;
        let answer_field = &self.runner.wf.task.answer;
        let gold =
            match scored {
                true => Some(fields.get(answer_field).cloned().ok_or_else(|| {
                    RunError::MissingField {
                        item: self.item_id.clone(),
                        field: answer_field.clone(),
                    }
                })?),
                false => None,
            };
        let structure = self
            .runner
            .space
            .structures
            .get(self.config.structure)
            .ok_or(ConfigError::StructureOutOfRange {
                index: self.config.structure,
                n_structures: self.runner.space.structures.len(),
            })?;
        let (flow, modelled) = self
            .exec(&structure.expr, fields, Flow::default(), 0, 0)
            .await?;
        Ok((flow.value.first().to_string(), gold, modelled))
    }

    fn record_call(&self, record: CallRecord) {
        self.trace
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .push(record);
    }

    fn record_tool(&self, record: ToolRecord) {
        self.trace
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .push(record);
    }

    /// Runs `expr` on `flow`: returns the new flow and the modelled latency of its critical path.
    fn exec<'a>(
        &'a self,
        expr: &'a Expr,
        item: &'a Map<String, Value>,
        flow: Flow,
        site: usize,
        sample: u64,
    ) -> BoxFuture<'a, Result<(Flow, f64), RunError>> {
        Box::pin(async move {
            match expr {
                Expr::Call { slot, agent } => {
                    self.call(*slot, agent.0 as usize, item, flow, site, sample)
                        .await
                }
                Expr::Tool(t) => Ok(self.tool(t.0 as usize, item, flow, site, sample).await),
                Expr::Seq(steps) => {
                    let mut flow = flow;
                    let mut total = 0.0;
                    let mut at = site;
                    for step in steps {
                        let (next, t) = self.exec(step, item, flow, at, sample).await?;
                        flow = next;
                        total += t;
                        at += n_sites(step);
                    }
                    Ok((flow, total))
                }
                Expr::AnyOf(branches) | Expr::AllOf(branches) => {
                    let mut at = site;
                    let futures = branches.iter().map(|b| {
                        let start = at;
                        at += n_sites(b);
                        self.exec(b, item, flow.clone(), start, sample)
                    });
                    let results = join_all(futures.collect::<Vec<_>>()).await;
                    let mut items = Vec::new();
                    let mut attempts = flow.attempts.clone();
                    let mut longest = 0f64;
                    for r in results {
                        let (f, t) = r?;
                        longest = longest.max(t);
                        attempts.extend(f.attempts.into_iter().skip(flow.attempts.len()));
                        match f.value {
                            Val::Empty => {}
                            Val::One(s) => items.push(s),
                            Val::List(l) => items.extend(l),
                        }
                    }
                    let merged = Flow {
                        value: Val::List(items),
                        feedback: None,
                        passed: None,
                        attempts,
                        context: flow.context,
                    };
                    Ok((merged, longest))
                }
                Expr::Cond(branches) => {
                    let total: f64 = branches.iter().map(|(w, _)| w.max(0.0)).sum();
                    let u = (seed(&self.item_id, site, sample, "cond") >> 11) as f64
                        / (1u64 << 53) as f64
                        * total;
                    let mut starts = Vec::with_capacity(branches.len());
                    let mut at = site + 1;
                    for (_, e) in branches {
                        starts.push(at);
                        at += n_sites(e);
                    }
                    let mut acc = 0.0;
                    let chosen = branches
                        .iter()
                        .position(|(w, _)| {
                            acc += w.max(0.0);
                            u < acc
                        })
                        .unwrap_or(branches.len().saturating_sub(1));
                    match branches.get(chosen) {
                        Some((_, e)) => self.exec(e, item, flow, starts[chosen], sample).await,
                        None => Ok((flow, 0.0)),
                    }
                }
                Expr::Retry {
                    body,
                    fixer,
                    attempts,
                } => {
                    let (mut flow, mut total) = self.exec(body, item, flow, site, sample).await?;
                    let fixer_site = site + n_sites(body);
                    let mut k = 0u64;
                    while k < u64::from(*attempts) && flow.passed == Some(false) {
                        k += 1;
                        let mut next = flow.clone();
                        next.value = Val::One(flow.value.first().to_string());
                        let (f, t) = self
                            .exec(fixer, item, next, fixer_site, sample * 1000 + k)
                            .await?;
                        flow = f;
                        total += t;
                    }
                    Ok((flow, total))
                }
            }
        })
    }

    async fn call(
        &self,
        slot: SlotId,
        agent_idx: usize,
        item: &Map<String, Value>,
        flow: Flow,
        site: usize,
        sample: u64,
    ) -> Result<(Flow, f64), RunError> {
        let runner = self.runner;
        let slot_name = runner
            .space
            .slots
            .get(slot.0 as usize)
            .map_or_else(|| format!("#{}", slot.0), |s| s.name.clone());
        let setting = self
            .config
            .setting(slot)
            .ok_or_else(|| ConfigError::MissingSetting {
                slot: slot_name.clone(),
                structure: self.config.structure,
            })?;
        let mut ctx = item.clone();
        ctx.insert("input".into(), Value::String(flow.value.first().into()));
        ctx.insert(
            "candidates".into(),
            Value::Array(
                flow.value
                    .candidates()
                    .into_iter()
                    .map(Value::String)
                    .collect(),
            ),
        );
        ctx.insert(
            "feedback".into(),
            Value::String(flow.feedback.clone().unwrap_or_default()),
        );
        if let Some(c) = &flow.context {
            ctx.insert("context".into(), c.clone());
        }
        let (record, outcome) = runner
            .invoke(
                agent_idx,
                slot_name.clone(),
                setting,
                ctx,
                &self.item_id,
                item,
                (site, sample),
                self.stream_to
                    .as_ref()
                    .filter(|(at, _)| *at == site && sample == 0)
                    .map(|(_, sink)| sink.clone()),
            )
            .await?;
        let parsed = record.parsed.clone();
        self.record_call(record);
        match outcome {
            Err(source) => Err(RunError::Call {
                agent: runner.wf.agents[agent_idx].name.clone(),
                slot: slot_name,
                source: Box::new(source),
            }),
            Ok(modelled) => Ok((
                Flow {
                    value: Val::One(parsed),
                    ..flow
                },
                modelled,
            )),
        }
    }

    async fn tool(
        &self,
        tool_idx: usize,
        item: &Map<String, Value>,
        mut flow: Flow,
        site: usize,
        sample: u64,
    ) -> (Flow, f64) {
        let tool = &self.runner.wf.tools[tool_idx];
        let started = Instant::now();
        let input = flow.value.first().to_string();
        let (output, ok) = match tool.kind {
            ToolKind::ExtractAnswer => {
                let a = extract_answer(&input);
                flow.value = Val::One(a.clone());
                (a, true)
            }
            ToolKind::RunPython => {
                let run = run_python(&input, "").await;
                let (out, ok) = match run.error {
                    None => (run.stdout, true),
                    Some(e) => (format!("error: {e}"), false),
                };
                flow.value = Val::One(out.clone());
                (out, ok)
            }
            ToolKind::PythonTests => match item.get("tests").and_then(test_cases) {
                Some(cases) => {
                    let report = run_tests(&input, &cases).await;
                    let passed = report.all_passed();
                    flow.value = Val::One(input.clone());
                    flow.passed = Some(passed);
                    flow.feedback = Some(report.feedback.clone());
                    flow.attempts.push((input, passed));
                    (report.feedback, passed)
                }
                None => {
                    flow.value = Val::One(input);
                    flow.passed = None;
                    (
                        "skipped: the item has no readable `tests` field".to_string(),
                        false,
                    )
                }
            },
            ToolKind::SelectFinal => {
                let pick = flow
                    .attempts
                    .iter()
                    .rev()
                    .find(|(_, passed)| *passed)
                    .or(flow.attempts.last())
                    .map_or(input, |(s, _)| s.clone());
                flow.value = Val::One(pick.clone());
                (pick, true)
            }
            ToolKind::SelectParagraphs => {
                let context = flow.context.as_ref().or_else(|| item.get("context"));
                let question = item.get("question").and_then(Value::as_str).unwrap_or("");
                match context.and_then(|c| select_paragraphs(c, question, PARAGRAPHS_KEPT)) {
                    Some(kept) => {
                        let out = kept.to_string();
                        flow.context = Some(kept);
                        (out, true)
                    }
                    None => (
                        "skipped: no `context` list of [title, sentences] paragraphs".to_string(),
                        false,
                    ),
                }
            }
            _ => (
                format!("skipped: tool kind `{}` is not supported", tool.kind.name()),
                false,
            ),
        };
        self.record_tool(ToolRecord {
            site,
            sample,
            tool: tool.name.clone(),
            kind: tool.kind.name(),
            output,
            ok,
            latency_s: started.elapsed().as_secs_f64(),
        });
        (flow, tool.latency_s)
    }
}

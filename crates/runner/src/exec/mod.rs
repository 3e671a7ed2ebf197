//! The executor: runs one configuration of a workflow on one dataset item and records a trace.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use flowcompile_client::{CallRequest, Client, ClientError, DeltaSink};
use flowcompile_ir::{AgentId, DesignSpace, Expr, Setting, Workflow};
use flowcompile_openai::ChatMessage;
use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value};
use xxhash_rust::xxh3::xxh3_64;

use crate::parse::parse_output;
use crate::score::score;
use flowcompile_ir::Config;

mod item;
mod record;

use item::ItemRun;
pub use record::{CallRecord, RunError, RunResult, ToolRecord};

/// Runs configurations of one workflow through a model client.
pub struct Runner {
    wf: Arc<Workflow>,
    space: DesignSpace,
    client: Client,
}

/// The value flowing between steps.
#[derive(Clone, Debug, Default)]
enum Val {
    #[default]
    Empty,
    One(String),
    List(Vec<String>),
}

impl Val {
    fn first(&self) -> &str {
        match self {
            Val::Empty => "",
            Val::One(s) => s,
            Val::List(l) => l.first().map_or("", String::as_str),
        }
    }

    fn candidates(&self) -> Vec<String> {
        match self {
            Val::Empty => Vec::new(),
            Val::One(s) => vec![s.clone()],
            Val::List(l) => l.clone(),
        }
    }
}

/// The state passed from step to step.
#[derive(Clone, Debug, Default)]
struct Flow {
    value: Val,
    feedback: Option<String>,
    passed: Option<bool>,
    attempts: Vec<(String, bool)>,
    context: Option<Value>,
}

/// The site of the call whose reply becomes the answer of `expr` (numbered from `site`): the last
/// call of a sequence (tools after it may still transform its reply), the one branch of a
/// single-branch any-of or all-of. `None` where the answer's call is only known at run time
/// (several branches, a conditional, a retry) or no call gives it.
fn final_call_site(expr: &Expr, site: usize) -> Option<usize> {
    match expr {
        Expr::Call { .. } => Some(site),
        Expr::Tool(_) => None,
        Expr::Seq(steps) => {
            let mut at = site + n_sites(expr);
            for step in steps.iter().rev() {
                at -= n_sites(step);
                if has_call(step) {
                    return final_call_site(step, at);
                }
            }
            None
        }
        Expr::AnyOf(v) | Expr::AllOf(v) if v.len() == 1 => final_call_site(&v[0], site),
        Expr::AnyOf(_) | Expr::AllOf(_) | Expr::Cond(_) | Expr::Retry { .. } => None,
    }
}

/// Whether `expr` calls a model anywhere.
fn has_call(expr: &Expr) -> bool {
    match expr {
        Expr::Call { .. } => true,
        Expr::Tool(_) => false,
        Expr::Seq(v) | Expr::AnyOf(v) | Expr::AllOf(v) => v.iter().any(has_call),
        Expr::Cond(b) => b.iter().any(|(_, e)| has_call(e)),
        Expr::Retry { body, fixer, .. } => has_call(body) || has_call(fixer),
    }
}

/// Sites (calls, tools and conditionals) in `expr`, the numbering of [`CallRecord::site`].
fn n_sites(expr: &Expr) -> usize {
    match expr {
        Expr::Call { .. } | Expr::Tool(_) => 1,
        Expr::Seq(v) | Expr::AnyOf(v) | Expr::AllOf(v) => v.iter().map(n_sites).sum(),
        Expr::Cond(b) => 1 + b.iter().map(|(_, e)| n_sites(e)).sum::<usize>(),
        Expr::Retry { body, fixer, .. } => n_sites(body) + n_sites(fixer),
    }
}

/// An item's id: its `id`, `_id`, `unique_id`, `task_id` or `question_id` field (string or number),
/// else the xxh3 of its JSON text in hex; seeds and stored results are keyed by it.
pub fn item_id(item: &Value) -> String {
    for key in ["id", "_id", "unique_id", "task_id", "question_id"] {
        match item.get(key) {
            Some(Value::String(s)) => return s.clone(),
            Some(Value::Number(n)) => return n.to_string(),
            _ => {}
        }
    }
    format!("{:016x}", xxh3_64(item.to_string().as_bytes()))
}

fn seed(item_id: &str, site: usize, sample: u64, salt: &str) -> u64 {
    xxh3_64(format!("{item_id}\u{0}{site}\u{0}{sample}\u{0}{salt}").as_bytes())
}

impl Runner {
    /// A runner of `wf` calling models through `client`; builds the design space, and refuses a
    /// shape (an agent without a prompt) with [`RunError::NoPrompt`]. The runner
    /// shares the workflow (an `Arc`), so a server can hold it for as long as it serves.
    pub fn new(wf: impl Into<Arc<Workflow>>, client: Client) -> Result<Runner, RunError> {
        let wf = wf.into();
        let missing: Vec<&str> = wf
            .agents
            .iter()
            .filter(|a| a.prompt.is_none())
            .map(|a| a.name.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(RunError::NoPrompt {
                workflow: wf.name.clone(),
                agents: missing.join(", "),
            });
        }
        Runner::for_replay(wf, client)
    }

    /// A runner of `wf` that also takes a shape (agents without a prompt), for replaying
    /// captured calls with [`Runner::call_messages`]; running a prompt-less agent any other way
    /// fails with [`RunError::NoPrompt`].
    pub fn for_replay(wf: impl Into<Arc<Workflow>>, client: Client) -> Result<Runner, RunError> {
        let wf = wf.into();
        let space = wf.design_space().map_err(|source| RunError::Space {
            workflow: wf.name.clone(),
            source,
        })?;
        Ok(Runner { wf, space, client })
    }

    /// The workflow this runner runs.
    pub fn workflow(&self) -> &Workflow {
        &self.wf
    }

    /// The model client calls go through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The workflow's design space (structures and slots) configurations index into.
    pub fn space(&self) -> &DesignSpace {
        &self.space
    }

    /// Runs `config` on `item` (a JSON object with the task's fields and gold answer) and scores it.
    pub async fn run(&self, config: &Config, item: &Value) -> RunResult {
        self.run_item(config, item, true).await
    }

    /// Runs `config` on `item` without scoring it: the item needs the task's fields but no gold
    /// answer, and [`RunResult::score`] is `None`. For serving, where no answer is known.
    pub async fn run_unscored(&self, config: &Config, item: &Value) -> RunResult {
        self.run_item(config, item, false).await
    }

    /// Runs `config` on `item` unscored, as [`Runner::run_unscored`], and streams the reply of the
    /// call that gives the answer to `sink` as the model produces it: the final agent's text before
    /// the workflow's parsers and tools turn it into the answer. Nothing is sent when that call is
    /// only known at run time (several branches, a conditional, a retry). For serving streamed.
    pub async fn run_streaming(&self, config: &Config, item: &Value, sink: DeltaSink) -> RunResult {
        self.run_item_with(config, item, false, Some(sink)).await
    }

    async fn run_item(&self, config: &Config, item: &Value, scored: bool) -> RunResult {
        self.run_item_with(config, item, scored, None).await
    }

    async fn run_item_with(
        &self,
        config: &Config,
        item: &Value,
        scored: bool,
        sink: Option<DeltaSink>,
    ) -> RunResult {
        let id = item_id(item);
        let started = Instant::now();
        let stream_to = sink.and_then(|sink| {
            let expr = &self.space.structures.get(config.structure)?.expr;
            Some((final_call_site(expr, 0)?, sink))
        });
        let item_run = ItemRun {
            runner: self,
            config,
            item_id: id.clone(),
            trace: Mutex::new((Vec::new(), Vec::new())),
            stream_to,
        };
        let outcome = item_run.execute(item, scored).await;
        let latency_s = started.elapsed().as_secs_f64();
        let (mut calls, mut tools) = item_run
            .trace
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        calls.sort_by_key(|c| (c.site, c.sample));
        tools.sort_by_key(|t| (t.site, t.sample));
        let tokens = calls
            .iter()
            .map(|c| c.prompt_tokens + c.completion_tokens)
            .sum();
        let (answer, score, modelled_latency_s) = match outcome {
            Ok((answer, gold, modelled)) => {
                let s = match gold {
                    Some(gold) => Some(score(self.wf.task.scorer, &answer, &gold).await),
                    None => None,
                };
                (Ok(answer), s, modelled)
            }
            Err(e) => (Err(e), None, 0.0),
        };
        RunResult {
            item_id: id,
            structure: config.structure,
            answer,
            score,
            latency_s,
            modelled_latency_s,
            calls,
            tools,
            tokens,
        }
    }
}

impl Runner {
    /// Calls `agent` alone on `inputs` (template variables, as in [`CallRecord::inputs`]) under
    /// `setting`: what profiling does with each induced example. `key` names the example (seeds
    /// derive from it and `sample`). A failed model call comes back as a record with `error` set; a
    /// template that cannot render is an error, since it fails under every setting alike.
    pub async fn call_agent(
        &self,
        agent: AgentId,
        setting: &Setting,
        inputs: &Map<String, Value>,
        key: &str,
        sample: u64,
    ) -> Result<CallRecord, RunError> {
        let idx = agent.0 as usize;
        let name = self.wf.agents[idx].name.clone();
        let (record, _) = self
            .invoke(
                idx,
                name,
                setting,
                inputs.clone(),
                key,
                inputs,
                (0, sample),
                None,
            )
            .await?;
        Ok(record)
    }

    /// Renders the agent's prompts over `ctx`, calls its model and parses the reply: the record of the
    /// call and, on success, its modelled latency (wall when the server reports none).
    #[allow(clippy::too_many_arguments)]
    async fn invoke(
        &self,
        agent_idx: usize,
        slot_name: String,
        setting: &Setting,
        ctx: Map<String, Value>,
        item_id: &str,
        fields: &Map<String, Value>,
        (site, sample): (usize, u64),
        deltas: Option<DeltaSink>,
    ) -> Result<(CallRecord, Result<f64, ClientError>), RunError> {
        let agent = &self.wf.agents[agent_idx];
        let mut messages = Vec::new();
        let mut all_text = String::new();
        if let Some(system) = &agent.system {
            let text = render(&agent.name, "system", system, &ctx, item_id, fields)?;
            all_text.push_str(&text);
            all_text.push('\u{0}');
            messages.push(ChatMessage::system(text));
        }
        let template = agent.prompt.as_deref().ok_or_else(|| RunError::NoPrompt {
            workflow: self.wf.name.clone(),
            agents: agent.name.clone(),
        })?;
        let prompt = render(&agent.name, "prompt", template, &ctx, item_id, fields)?;
        all_text.push_str(&prompt);
        messages.push(ChatMessage::user(prompt));
        Ok(self
            .send(
                agent_idx,
                slot_name,
                setting,
                messages,
                &all_text,
                ctx,
                item_id,
                (site, sample),
                deltas,
            )
            .await)
    }

    /// Calls `agent` on `messages` as given (a captured request: no template is rendered) under
    /// `setting`, and parses the reply with the agent's parser: what profiling does with a
    /// captured call. `key` names the example (the seed derives from it and `sample`). A failed
    /// model call comes back as a record with `error` set.
    pub async fn call_messages(
        &self,
        agent: AgentId,
        setting: &Setting,
        messages: Vec<ChatMessage>,
        key: &str,
        sample: u64,
    ) -> CallRecord {
        let idx = agent.0 as usize;
        let name = self.wf.agents[idx].name.clone();
        let all_text: String = messages
            .iter()
            .map(|m| m.text())
            .collect::<Vec<_>>()
            .join("\u{0}");
        self.send(
            idx,
            name,
            setting,
            messages,
            &all_text,
            Map::new(),
            key,
            (0, sample),
            None,
        )
        .await
        .0
    }

    /// Calls the agent's model on `messages` (its text deltas to `deltas` when given) and parses
    /// the reply: the record of the call and, on success, its modelled latency (wall when the
    /// server reports none).
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        agent_idx: usize,
        slot_name: String,
        setting: &Setting,
        messages: Vec<ChatMessage>,
        all_text: &str,
        ctx: Map<String, Value>,
        item_id: &str,
        (site, sample): (usize, u64),
        deltas: Option<DeltaSink>,
    ) -> (CallRecord, Result<f64, ClientError>) {
        let agent = &self.wf.agents[agent_idx];
        let call_seed = seed(item_id, site, sample, "call");
        let started = Instant::now();
        let mut request = CallRequest::new(&setting.model, messages, setting.budget_tokens)
            .seed(call_seed)
            .agent(agent.name.clone());
        if let Some(sink) = deltas {
            request = request.deltas(sink);
        }
        let result = self.client.call(request).await;
        let mut record = CallRecord {
            site,
            sample,
            seed: call_seed,
            agent: agent.name.clone(),
            slot: slot_name,
            model: setting.model.clone(),
            budget_tokens: setting.budget_tokens,
            prompt_hash: format!("{:016x}", xxh3_64(all_text.as_bytes())),
            prompt_chars: all_text.chars().count(),
            output: String::new(),
            parsed: String::new(),
            parse_ok: false,
            prompt_tokens: 0,
            completion_tokens: 0,
            latency_s: started.elapsed().as_secs_f64(),
            modelled_latency_s: None,
            cost_usd: None,
            error: None,
            inputs: ctx,
        };
        match result {
            Err(source) => {
                record.error = Some(source.to_string());
                (record, Err(source))
            }
            Ok(outcome) => {
                let (parsed, parse_ok) = match parse_output(&agent.output, &outcome.text) {
                    Ok(p) => (p, true),
                    Err(raw) => (raw, false),
                };
                let modelled = outcome.modelled_latency_s.unwrap_or(outcome.latency_s);
                if let Some(u) = outcome.usage {
                    record.prompt_tokens = u.prompt_tokens;
                    record.completion_tokens = u.completion_tokens;
                }
                record.output = outcome.text;
                record.parsed = parsed;
                record.parse_ok = parse_ok;
                record.modelled_latency_s = outcome.modelled_latency_s;
                record.cost_usd = outcome.cost_usd;
                (record, Ok(modelled))
            }
        }
    }
}

/// Renders one of `agent`'s templates over `ctx`, strict about undefined variables (`fields` lists
/// the item's fields for the message).
fn render(
    agent: &str,
    template: &'static str,
    source: &str,
    ctx: &Map<String, Value>,
    item_id: &str,
    fields: &Map<String, Value>,
) -> Result<String, RunError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let error = |e: minijinja::Error| RunError::Template {
        agent: agent.to_string(),
        template,
        message: e.to_string(),
    };
    let tmpl = env.template_from_str(source).map_err(error)?;
    let mut undeclared: Vec<String> = tmpl
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !ctx.contains_key(v))
        .collect();
    undeclared.sort();
    if let Some(variable) = undeclared.into_iter().next() {
        return Err(RunError::UndefinedVariable {
            agent: agent.to_string(),
            template,
            variable,
            item: item_id.to_string(),
            fields: fields.keys().cloned().collect::<Vec<_>>().join(", "),
        });
    }
    Ok(tmpl
        .render(minijinja::Value::from_serialize(ctx))
        .map_err(error)?
        .trim()
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowcompile_ir::{AgentId, ToolId};
    use flowcompile_ir::{SlotId, ToolKind};

    #[test]
    fn sites_number_calls_tools_and_conditionals() {
        let call = |s: u32| Expr::Call {
            slot: SlotId(s),
            agent: AgentId(0),
        };
        let e = Expr::Seq(vec![
            Expr::AnyOf(vec![call(0), call(1)]),
            Expr::Cond(vec![(0.5, call(2)), (0.5, Expr::Tool(ToolId(0)))]),
            Expr::Retry {
                body: Box::new(call(3)),
                fixer: Box::new(Expr::Seq(vec![call(4), Expr::Tool(ToolId(0))])),
                attempts: 2,
            },
        ]);
        assert_eq!(n_sites(&e), 8);
    }

    #[test]
    fn the_answer_streams_from_the_last_call_when_it_is_known_before_the_run() {
        let call = |s: u32| Expr::Call {
            slot: SlotId(s),
            agent: AgentId(0),
        };
        let tool = || Expr::Tool(ToolId(0));
        // vote(solver, solver) -> voter -> extract: the voter (site 2) answers, the tool after it
        // only transforms its reply.
        let vote = Expr::Seq(vec![Expr::AnyOf(vec![call(0), call(1)]), call(2), tool()]);
        assert_eq!(final_call_site(&vote, 0), Some(2));
        assert_eq!(final_call_site(&vote, 10), Some(12));
        // One solver left of the vote: it answers.
        let single = Expr::Seq(vec![Expr::AnyOf(vec![call(0)]), tool()]);
        assert_eq!(final_call_site(&single, 0), Some(0));
        // A nested sequence ending in a tool-only step: the call before it.
        let nested = Expr::Seq(vec![tool(), Expr::Seq(vec![call(0), tool()]), tool()]);
        assert_eq!(final_call_site(&nested, 0), Some(1));
        // Known only at run time: several branches, a conditional, a retry; or no call at all.
        assert_eq!(
            final_call_site(&Expr::AnyOf(vec![call(0), call(1)]), 0),
            None
        );
        let cond = Expr::Cond(vec![(0.5, call(0)), (0.5, call(1))]);
        assert_eq!(final_call_site(&cond, 0), None);
        let retry = Expr::Retry {
            body: Box::new(call(0)),
            fixer: Box::new(call(1)),
            attempts: 1,
        };
        assert_eq!(final_call_site(&Expr::Seq(vec![retry, tool()]), 0), None);
        assert_eq!(final_call_site(&Expr::Seq(vec![tool(), tool()]), 0), None);
    }

    #[test]
    fn seeds_differ_by_item_site_and_sample() {
        let a = seed("item", 0, 0, "call");
        assert_ne!(a, seed("item", 1, 0, "call"));
        assert_ne!(a, seed("item", 0, 1, "call"));
        assert_ne!(a, seed("other", 0, 0, "call"));
        assert_eq!(a, seed("item", 0, 0, "call"));
    }

    #[test]
    fn item_ids_come_from_id_fields_or_a_hash() {
        assert_eq!(item_id(&serde_json::json!({"_id": "5ab4"})), "5ab4");
        assert_eq!(item_id(&serde_json::json!({"id": 7})), "7");
        let h = item_id(&serde_json::json!({"problem": "1+1"}));
        assert_eq!(h.len(), 16);
        assert_ne!(h, item_id(&serde_json::json!({"problem": "1+2"})));
    }

    #[test]
    fn undefined_template_variables_are_named() {
        let item = serde_json::json!({"problem": "2+2"});
        let item = item.as_object().unwrap();
        let mut ctx = item.clone();
        ctx.insert("input".into(), Value::String(String::new()));
        let tmpl = |source: &str| render("a", "prompt", source, &ctx, "i", item);
        assert_eq!(
            tmpl("Q: {{ problem }}{% if input %}!{% endif %}").unwrap(),
            "Q: 2+2"
        );
        assert_eq!(
            tmpl("{% for c in [1] %}{{ loop.index }}{{ c }}{% endfor %}").unwrap(),
            "11"
        );
        let err = tmpl("Q: {{ question }}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "agent `a`: the prompt template uses undefined variable `question` (item `i` has fields: problem)"
        );
        let attr = tmpl("{{ problem.nope }}").unwrap_err();
        assert!(matches!(attr, RunError::Template { .. }), "{attr}");
    }

    fn offline_client() -> Client {
        let toml = "[models.m]\nbase_url = \"http://127.0.0.1:9/v1\"";
        Client::new(flowcompile_client::Providers::from_toml_str(toml, "providers.toml").unwrap())
            .unwrap()
    }

    #[tokio::test]
    async fn conditionals_draw_branches_by_weight_from_the_item_seed() {
        use flowcompile_ir::{Branch, NodeKind, Tool};
        let mut wf = Workflow::new("cond", Vec::new());
        for (name, kind) in [
            ("extract", ToolKind::ExtractAnswer),
            ("pick", ToolKind::SelectFinal),
        ] {
            wf.tools.push(Tool {
                name: name.into(),
                kind,
                latency_s: 0.25,
            });
        }
        let a = wf.add_node("extract", NodeKind::Tool(ToolId(0)));
        let b = wf.add_node("pick", NodeKind::Tool(ToolId(1)));
        let branches = |wa: f64| {
            vec![
                Branch {
                    weight: wa,
                    node: a,
                },
                Branch {
                    weight: 1.0 - wa,
                    node: b,
                },
            ]
        };
        wf.root = wf.add_node("c", NodeKind::Cond(branches(0.5)));
        let runner = Runner::new(wf.clone(), offline_client()).unwrap();
        let config = Config::new(runner.space(), 0, []).unwrap();
        let mut picked = std::collections::HashMap::new();
        for i in 0..40 {
            let item = serde_json::json!({"id": i, "answer": ""});
            let r = runner.run(&config, &item).await;
            assert_eq!(r.modelled_latency_s, 0.25);
            assert_eq!(r.tools.len(), 1);
            let again = runner.run(&config, &item).await;
            assert_eq!(again.tools[0].tool, r.tools[0].tool);
            *picked.entry(r.tools[0].tool.clone()).or_insert(0) += 1;
        }
        assert!(
            picked["extract"] >= 10 && picked["pick"] >= 10,
            "{picked:?}"
        );
        wf.nodes[wf.root.0 as usize].kind = NodeKind::Cond(branches(1.0));
        let runner = Runner::new(wf.clone(), offline_client()).unwrap();
        for i in 0..10 {
            let r = runner
                .run(&config, &serde_json::json!({"id": i, "answer": ""}))
                .await;
            assert_eq!((r.tools[0].tool.as_str(), r.tools[0].site), ("extract", 1));
        }
    }
}

//! Agent calls: the run's point, the agent's setting under it, the call through the client (the
//! budget applied by the provider's budget mode, as the runner's calls are), and the reply.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use flowcompile_client::{CallOutcome, CallRequest, ClientError, Delta};
use flowcompile_ir::Setting;
use flowcompile_openai::{
    AssistantMessage, ChatChoice, ChatChunkChoice, ChatCompletionChunk, ChatCompletionRequest,
    ChatCompletionResponse, ChatDelta, Usage, STREAM_DONE,
};
use flowcompile_store::{CapturedCallRow, Store};
use serde_json::json;

use crate::{
    bad_request, error, Agents, Gateway, Mode, Outcome, Shared, AGENT_BUDGET_HEADER,
    AGENT_MODEL_HEADER, POINT_HEADER, REFERENCE_POINT, RUN_HEADER,
};

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Answers a chat call of agent `agent` under its run's point.
pub(crate) async fn chat(
    gw: &Shared,
    agents: &Agents,
    agent: usize,
    headers: &HeaderMap,
    body: &[u8],
    outcome: &mut Outcome,
) -> Response {
    let req: ChatCompletionRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return bad_request(format!("body: not a chat completion request: {e}")).into_response()
        }
    };
    if req.n.is_some_and(|n| n != 1) {
        return bad_request(format!(
            "agent `{}`: only `n` = 1 is supported; make one call per sample",
            outcome.agent
        ))
        .into_response();
    }
    let capture = match &agents.mode {
        Mode::Capture { store } => Some(store),
        Mode::Deploy { .. } => None,
    };
    if capture.is_some() && outcome.run.is_empty() {
        return bad_request(format!(
            "agent `{}`: a captured call must name its run with the header `{RUN_HEADER}` (the labelled item's id)",
            outcome.agent
        ))
        .into_response();
    }
    let seen = if outcome.run.is_empty() {
        agents
            .choose(headers)
            .map(|point| crate::runs::Seen { point, call: 0 })
    } else {
        gw.runs
            .visit(&outcome.run, Some(agent), Instant::now(), || {
                agents.choose(headers)
            })
    };
    let seen = match seen {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let agent_plan = match &agents.mode {
        Mode::Deploy { deployment, .. } => {
            let plan = &deployment.points[seen.point];
            outcome.point = plan.point.id.clone();
            &plan.agents[agent]
        }
        Mode::Capture { .. } => {
            outcome.point = REFERENCE_POINT.to_owned();
            &agents.reference.agents[agent]
        }
    };
    if !agent_plan.enabled {
        gw.metrics.drift(&outcome.agent);
        tracing::warn!(
            target: "flowcompile_gateway",
            agent = %outcome.agent,
            run = %outcome.run,
            point = %outcome.point,
            "structure drift: the run's point switches this agent off; answered under its reference setting"
        );
    }
    let setting = agent_plan.setting(seen.call);
    outcome.model = setting.model.clone();
    let finish = Finish {
        store: capture.cloned(),
        agent: outcome.agent.clone(),
        run: outcome.run.clone(),
        setting,
        req,
    };
    let reply = if finish.req.is_stream() {
        stream(gw, finish).await
    } else {
        let result = gw.client.call(finish.call()).await;
        match finished(gw, &finish, result).await {
            Ok(o) => Chunks::new(&finish.req).completion(o),
            Err(f) => f.into_response(),
        }
    };
    let setting = agent_plan.setting(seen.call);
    with_headers(reply, &outcome.point, &setting)
}

/// What a call needs after the model answered: where to write it, and what it was.
struct Finish {
    store: Option<Arc<Mutex<Store>>>,
    agent: String,
    run: String,
    setting: Setting,
    req: ChatCompletionRequest,
}

impl Finish {
    /// The client call: the messages as sent, under the setting's model and budget (applied by
    /// the provider's budget mode), the app's seed and token limit.
    fn call(&self) -> CallRequest<'_> {
        let mut call = CallRequest::new(
            &self.setting.model,
            self.req.messages.clone(),
            self.setting.budget_tokens,
        )
        .agent(self.agent.clone());
        if let Some(seed) = self.req.seed {
            call = call.seed(seed);
        }
        if let Some(limit) = self.req.token_limit() {
            call = call.max_answer_tokens(u32::try_from(limit).unwrap_or(u32::MAX));
        }
        call
    }
}

/// A failed agent call as the app sees it: a status and an OpenAI error message.
struct Failed {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl Failed {
    fn into_response(self) -> Response {
        error(self.status, self.kind, self.message)
    }

    fn event(&self) -> Event {
        let body = json!({"error": {"message": self.message, "type": self.kind, "param": null, "code": null}});
        Event::default().data(body.to_string())
    }
}

/// Writes a captured call (when capturing) and turns a client failure into what the app sees.
async fn finished(
    gw: &Gateway,
    f: &Finish,
    result: Result<CallOutcome, ClientError>,
) -> Result<CallOutcome, Failed> {
    if let Some(store) = &f.store {
        let row = captured_row(&f.req, &f.run, &f.agent, &f.setting, &result);
        if let Err(e) = write(store, row).await {
            tracing::error!(target: "flowcompile_gateway", agent = %f.agent, run = %f.run, error = %e, "capture failed");
            return Err(Failed {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                kind: "server_error",
                message: format!(
                    "agent `{}`: the call could not be written to the capture store; the gateway's log has the details",
                    f.agent
                ),
            });
        }
    }
    result.map_err(|e| {
        gw.metrics.upstream_error(&f.agent);
        // The client's error has the provider's secrets redacted; its URL stays in the log.
        tracing::warn!(target: "flowcompile_gateway", agent = %f.agent, error = %e, "agent call failed");
        Failed {
            status: StatusCode::BAD_GATEWAY,
            kind: "upstream_error",
            message: format!(
                "agent `{}`: model `{}` failed: {}",
                f.agent,
                f.setting.model,
                failure_text(&e)
            ),
        }
    })
}

/// Whether a stream went live (its first delta arrived) or ended before, with its whole reply.
enum Start {
    Live,
    Ended(Response),
}

/// Streams an agent call: the model's text goes out as `reasoning_content` deltas as it arrives
/// (budget forcing's raw thinking included), then the answer (without the thinking) as `content`,
/// the finish chunk, the usage when asked and `[DONE]`. A call that fails before its first delta
/// answers with an error status as unstreamed calls do; one that fails after ends the stream with
/// an OpenAI error event.
async fn stream(gw: &Shared, f: Finish) -> Response {
    let (events, rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
    let (start, started) = tokio::sync::oneshot::channel::<Start>();
    let gw = Arc::clone(gw);
    tokio::spawn(async move {
        let chunks = Chunks::new(&f.req);
        let (sink, mut deltas) = tokio::sync::mpsc::unbounded_channel::<Delta>();
        let call = gw.client.call(f.call().deltas(sink));
        tokio::pin!(call);
        let mut start = Some(start);
        let result = loop {
            tokio::select! {
                biased;
                Some(delta) = deltas.recv() => {
                    if let Some(start) = start.take() {
                        if start.send(Start::Live).is_err() || events.send(chunks.role()).is_err() {
                            return;
                        }
                    }
                    if events.send(chunks.thinking(delta)).is_err() {
                        // The app left: dropping the call cancels it.
                        return;
                    }
                }
                result = &mut call => break result,
            }
        };
        let rest: Vec<Delta> = std::iter::from_fn(|| deltas.try_recv().ok()).collect();
        let ended = finished(&gw, &f, result).await;
        if let Some(start) = start {
            if rest.is_empty() {
                let whole = match ended {
                    Ok(o) => chunks.whole_stream(o),
                    Err(e) => e.into_response(),
                };
                let _ = start.send(Start::Ended(whole));
                return;
            }
            if start.send(Start::Live).is_err() || events.send(chunks.role()).is_err() {
                return;
            }
        }
        for delta in rest {
            let _ = events.send(chunks.thinking(delta));
        }
        let out = match ended {
            Ok(o) => chunks.ending(o),
            Err(e) => vec![e.event(), Event::default().data(STREAM_DONE)],
        };
        for e in out {
            let _ = events.send(e);
        }
    });
    match started.await {
        Ok(Start::Live) => {
            let body = futures::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
            });
            Sse::new(body).into_response()
        }
        Ok(Start::Ended(whole)) => whole,
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the agent call ended without a reply".into(),
        ),
    }
}

/// What the caller may learn of a failed call: the last attempt's failure (secrets redacted),
/// never the endpoint's URL.
fn failure_text(e: &ClientError) -> String {
    e.failure()
        .map_or_else(|| "the call failed".to_owned(), ToString::to_string)
}

/// The store row of a captured call: the request's messages and sampling parameters (never a
/// header or key), the reply or the failure, usage and latency.
fn captured_row(
    req: &ChatCompletionRequest,
    run: &str,
    agent: &str,
    setting: &Setting,
    result: &Result<CallOutcome, ClientError>,
) -> CapturedCallRow {
    let request = json!({
        "messages": req.messages,
        "max_tokens": req.token_limit(),
        "temperature": req.temperature,
        "top_p": req.top_p,
        "seed": req.seed,
    });
    let (reply, reasoning, usage, latency_s, error) = match result {
        Ok(o) => (
            o.text.clone(),
            o.reasoning.clone(),
            o.usage,
            o.latency_s,
            None,
        ),
        Err(e) => (String::new(), None, None, 0.0, Some(failure_text(e))),
    };
    CapturedCallRow {
        run: run.to_owned(),
        agent: agent.to_owned(),
        call_index: 0,
        model: setting.model.clone(),
        budget_tokens: setting.budget_tokens,
        request_json: request.to_string(),
        reply,
        reasoning,
        prompt_tokens: usage.map(|u| u.prompt_tokens),
        completion_tokens: usage.map(|u| u.completion_tokens),
        latency_s,
        error,
        created_at_unix_s: i64::try_from(now()).unwrap_or(i64::MAX),
    }
}

/// Writes `row` on a blocking thread; returns the call index the store gave it.
async fn write(store: &Arc<Mutex<Store>>, row: CapturedCallRow) -> Result<u32, String> {
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || {
        let store = store.lock().unwrap_or_else(|e| e.into_inner());
        store.record_captured_call(&row).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| format!("the writer thread failed: {e}"))?
}

fn with_headers(mut response: Response, point: &str, setting: &Setting) -> Response {
    let h = response.headers_mut();
    for (name, value) in [
        (POINT_HEADER, point.to_owned()),
        (AGENT_MODEL_HEADER, setting.model.clone()),
        (AGENT_BUDGET_HEADER, setting.budget_tokens.to_string()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(HeaderName::from_static(name), v);
        }
    }
    response
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The chunks of one reply: its id, creation time and model name.
struct Chunks {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
}

impl Chunks {
    fn new(req: &ChatCompletionRequest) -> Chunks {
        Chunks {
            id: format!(
                "chatcmpl-gateway-{}",
                NEXT_ID.fetch_add(1, Ordering::Relaxed)
            ),
            created: now(),
            model: req.model.clone(),
            include_usage: req.include_usage(),
        }
    }

    fn chunk(&self, delta: ChatDelta, finish: Option<String>) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".into(),
            created: self.created,
            model: self.model.clone(),
            choices: vec![ChatChunkChoice {
                index: 0,
                delta,
                finish_reason: finish,
            }],
            usage: None,
            system_fingerprint: None,
        }
    }

    fn event(chunk: &ChatCompletionChunk) -> Event {
        Event::default()
            .data(serde_json::to_string(chunk).expect("wire chunks are plain serde structs"))
    }

    /// The first chunk: the assistant's role.
    fn role(&self) -> Event {
        Self::event(&self.chunk(
            ChatDelta {
                role: Some("assistant".into()),
                content: Some(String::new()),
                ..Default::default()
            },
            None,
        ))
    }

    /// A delta of the model's text as it arrives, as `reasoning_content`.
    fn thinking(&self, delta: Delta) -> Event {
        let (Delta::Text(text) | Delta::Reasoning(text)) = delta;
        Self::event(&self.chunk(
            ChatDelta {
                reasoning_content: Some(text),
                ..Default::default()
            },
            None,
        ))
    }

    /// The last chunks: the answer as `content`, the finish reason, the usage when asked, `[DONE]`.
    fn ending(&self, o: CallOutcome) -> Vec<Event> {
        let usage = o
            .usage
            .map(|u| Usage::new(u.prompt_tokens, u.completion_tokens));
        let finish = o.finish_reason.clone().unwrap_or_else(|| "stop".into());
        let mut events = vec![
            Self::event(&self.chunk(
                ChatDelta {
                    content: Some(o.text),
                    ..Default::default()
                },
                None,
            )),
            Self::event(&self.chunk(ChatDelta::default(), Some(finish))),
        ];
        if self.include_usage {
            events.push(Self::event(&ChatCompletionChunk {
                choices: Vec::new(),
                usage,
                ..self.chunk(ChatDelta::default(), None)
            }));
        }
        events.push(Event::default().data(STREAM_DONE));
        events
    }

    /// A whole stream at once: for a call that ended before any delta arrived.
    fn whole_stream(&self, o: CallOutcome) -> Response {
        let mut events = vec![self.role()];
        if let Some(reasoning) = o.reasoning.clone() {
            events.push(self.thinking(Delta::Reasoning(reasoning)));
        }
        events.extend(self.ending(o));
        Sse::new(futures::stream::iter(
            events.into_iter().map(Ok::<_, Infallible>),
        ))
        .into_response()
    }

    /// The chat completion of an unstreamed call.
    fn completion(&self, o: CallOutcome) -> Response {
        let usage = o
            .usage
            .map(|u| Usage::new(u.prompt_tokens, u.completion_tokens));
        let body = ChatCompletionResponse {
            id: self.id.clone(),
            object: "chat.completion".into(),
            created: self.created,
            model: self.model.clone(),
            choices: vec![ChatChoice {
                index: 0,
                message: AssistantMessage {
                    role: "assistant".into(),
                    content: Some(o.text),
                    reasoning_content: o.reasoning,
                    reasoning: None,
                },
                finish_reason: Some(o.finish_reason.unwrap_or_else(|| "stop".into())),
            }],
            usage,
            system_fingerprint: None,
        };
        Json(body).into_response()
    }
}

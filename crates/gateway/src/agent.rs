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
use flowcompile_client::{CallOutcome, CallRequest, ClientError};
use flowcompile_ir::Setting;
use flowcompile_openai::{
    AssistantMessage, ChatChoice, ChatChunkChoice, ChatCompletionChunk, ChatCompletionRequest,
    ChatCompletionResponse, ChatDelta, Usage, STREAM_DONE,
};
use flowcompile_store::{CapturedCallRow, Store};
use serde_json::json;

use crate::{
    bad_request, error, Agents, Gateway, Mode, Outcome, AGENT_BUDGET_HEADER, AGENT_MODEL_HEADER,
    POINT_HEADER, REFERENCE_POINT, RUN_HEADER,
};

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Answers a chat call of agent `agent` under its run's point.
pub(crate) async fn chat(
    gw: &Gateway,
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
    let stream = req.is_stream();
    let mut call = CallRequest::new(&setting.model, req.messages.clone(), setting.budget_tokens)
        .agent(outcome.agent.clone());
    if let Some(seed) = req.seed {
        call = call.seed(seed);
    }
    if let Some(limit) = req.token_limit() {
        call = call.max_answer_tokens(u32::try_from(limit).unwrap_or(u32::MAX));
    }
    let result = gw.client.call(call).await;
    if let Some(store) = capture {
        let row = captured_row(&req, outcome, &setting, &result);
        if let Err(e) = write(store, row).await {
            tracing::error!(target: "flowcompile_gateway", agent = %outcome.agent, run = %outcome.run, error = %e, "capture failed");
            return with_headers(
                error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    format!(
                        "agent `{}`: the call could not be written to the capture store; the gateway's log has the details",
                        outcome.agent
                    ),
                ),
                &outcome.point,
                &setting,
            );
        }
    }
    let reply = match result {
        Ok(o) => reply(&req, o, stream),
        Err(e) => {
            gw.metrics.upstream_error(&outcome.agent);
            // The client's error has the provider's secrets redacted; its URL stays in the log.
            tracing::warn!(target: "flowcompile_gateway", agent = %outcome.agent, error = %e, "agent call failed");
            error(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                format!(
                    "agent `{}`: model `{}` failed: {}",
                    outcome.agent,
                    setting.model,
                    failure_text(&e)
                ),
            )
        }
    };
    with_headers(reply, &outcome.point, &setting)
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
    outcome: &Outcome,
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
        run: outcome.run.clone(),
        agent: outcome.agent.clone(),
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

/// The chat completion (or its SSE stream: a role chunk, the answer in one chunk, the finish
/// chunk, the usage chunk when asked, `[DONE]`) of an agent call's outcome.
fn reply(req: &ChatCompletionRequest, o: CallOutcome, stream: bool) -> Response {
    let id = format!(
        "chatcmpl-gateway-{}",
        NEXT_ID.fetch_add(1, Ordering::Relaxed)
    );
    let created = now();
    let usage = o
        .usage
        .map(|u| Usage::new(u.prompt_tokens, u.completion_tokens));
    let finish = o.finish_reason.clone().unwrap_or_else(|| "stop".into());
    if !stream {
        let body = ChatCompletionResponse {
            id,
            object: "chat.completion".into(),
            created,
            model: req.model.clone(),
            choices: vec![ChatChoice {
                index: 0,
                message: AssistantMessage {
                    role: "assistant".into(),
                    content: Some(o.text),
                    reasoning_content: o.reasoning,
                    reasoning: None,
                },
                finish_reason: Some(finish),
            }],
            usage,
            system_fingerprint: None,
        };
        return Json(body).into_response();
    }
    let chunk = |delta: ChatDelta, finish: Option<String>| ChatCompletionChunk {
        id: id.clone(),
        object: "chat.completion.chunk".into(),
        created,
        model: req.model.clone(),
        choices: vec![ChatChunkChoice {
            index: 0,
            delta,
            finish_reason: finish,
        }],
        usage: None,
        system_fingerprint: None,
    };
    let mut chunks = vec![
        chunk(
            ChatDelta {
                role: Some("assistant".into()),
                content: Some(String::new()),
                ..Default::default()
            },
            None,
        ),
        chunk(
            ChatDelta {
                content: Some(o.text),
                reasoning_content: o.reasoning,
                ..Default::default()
            },
            None,
        ),
        chunk(ChatDelta::default(), Some(finish)),
    ];
    if req.include_usage() {
        chunks.push(ChatCompletionChunk {
            choices: Vec::new(),
            usage,
            ..chunk(ChatDelta::default(), None)
        });
    }
    let mut events: Vec<Event> = chunks
        .iter()
        .map(|c| {
            Event::default()
                .data(serde_json::to_string(c).expect("wire chunks are plain serde structs"))
        })
        .collect();
    events.push(Event::default().data(STREAM_DONE));
    Sse::new(futures::stream::iter(
        events.into_iter().map(Ok::<_, Infallible>),
    ))
    .into_response()
}

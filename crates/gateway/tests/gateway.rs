//! The gateway on loopback in front of the zoo on loopback, called with reqwest: pass-through,
//! token auth, metrics, and agent calls routed by a deployment.

use std::sync::Arc;

use flowcompile_artifact::{Artifact, ArtifactFormat, Point, Predicted, Provenance, ProxyModel};
use flowcompile_client::{CallRequest, Client, Providers};
use flowcompile_gateway::{gateway_router, Agents, Deployment, GatewayOptions, Reference};
use flowcompile_ir::{
    Config, DesignSpace, ExecutionModel, LatencyModel, Setting, SlotId, Workflow,
};
use flowcompile_openai::ChatMessage;
use flowcompile_select::Preference;
use flowcompile_store::Store;
use flowcompile_testsupport::{Loopback, ZooServer};
use flowcompile_zoo::http::ZooServeOptions;
use flowcompile_zoo::{Zoo, ZooConfig};
use serde_json::{json, Value};

/// Two solvers at most and an optional checker: 4 structures.
const SHAPE: &str = r#"
name = "demo"
[task]
fields = ["question"]
[space]
models = ["small", "big"]
budgets = [0, 200]
[agents.solver]
prompt = "{{ question }}"
output = "boxed"
[agents.checker]
prompt = "Check {{ input }}"
[graph]
root = "flow"
[graph.nodes.flow]
seq = ["solvers", "maybe_check"]
[graph.nodes.solvers]
repeat = "solver"
count = [1, 2]
[graph.nodes.maybe_check]
optional = "checker"
"#;

fn providers(upstream: &ZooServer) -> Providers {
    let toml = format!(
        "[defaults]\nbase_url = \"{}\"\nbudget = \"max_tokens\"\n[models.\"zoo-8b\"]\n[models.small]\nmodel = \"zoo-1.7b\"\n[models.big]\nmodel = \"zoo-8b\"\n",
        upstream.base_url()
    );
    Providers::from_toml_str(&toml, "providers.toml").unwrap()
}

async fn upstream() -> ZooServer {
    let zoo = Arc::new(Zoo::new(ZooConfig::default(), vec![]).unwrap());
    ZooServer::start(zoo, ZooServeOptions::default()).await
}

async fn start_with(
    upstream: &ZooServer,
    agents: Option<Agents>,
    opts: GatewayOptions,
) -> Loopback {
    let providers = providers(upstream);
    let client = Client::new(providers.clone()).unwrap();
    Loopback::router(gateway_router(providers, client, agents, opts)).await
}

async fn start() -> (ZooServer, Loopback) {
    let upstream = upstream().await;
    let gateway = start_with(&upstream, None, GatewayOptions::default()).await;
    (upstream, gateway)
}

fn chat(stream: bool) -> Value {
    json!({"model": "zoo-8b", "messages": [{"role": "user", "content": "2 + 2?"}], "max_tokens": 64, "stream": stream})
}

#[tokio::test]
async fn chat_passes_through_as_the_upstream_answers() {
    let (upstream, gateway) = start().await;
    let http = reqwest::Client::new();
    let direct: Value = http
        .post(format!("{}/chat/completions", upstream.base_url()))
        .json(&chat(false))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reply = http
        .post(format!("{}/chat/completions", gateway.base_url()))
        .json(&chat(false))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let via: Value = reply.json().await.unwrap();
    assert_eq!(
        via["choices"][0]["message"]["content"],
        direct["choices"][0]["message"]["content"]
    );
}

#[tokio::test]
async fn streamed_chat_passes_through_as_server_sent_events() {
    let (_upstream, gateway) = start().await;
    let reply = reqwest::Client::new()
        .post(format!("{}/chat/completions", gateway.base_url()))
        .json(&chat(true))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert!(reply.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let text = reply.text().await.unwrap();
    assert!(
        text.contains("data: ") && text.trim_end().ends_with("data: [DONE]"),
        "{text}"
    );
}

#[tokio::test]
async fn models_lists_the_providers_and_unknown_models_are_named() {
    let (_upstream, gateway) = start().await;
    let http = reqwest::Client::new();
    let models: Value = http
        .get(format!("{}/models", gateway.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], "zoo-8b");
    let mut body = chat(false);
    body["model"] = json!("gpt-9");
    let reply = http
        .post(format!("{}/chat/completions", gateway.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 400);
    let err: Value = reply.json().await.unwrap();
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("gpt-9") && message.contains("zoo-8b"),
        "{message}"
    );
}

#[tokio::test]
async fn the_gateway_token_is_required_and_metrics_count_calls() {
    let upstream = upstream().await;
    let opts = GatewayOptions {
        token: Some("gw-secret".into()),
        ..GatewayOptions::default()
    };
    let gateway = start_with(&upstream, None, opts).await;
    let http = reqwest::Client::new();
    let url = format!("{}/chat/completions", gateway.base_url());
    let missing = http.post(&url).json(&chat(false)).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    let wrong = http
        .post(&url)
        .bearer_auth("sk-provider")
        .json(&chat(false))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let ok = http
        .post(&url)
        .bearer_auth("gw-secret")
        .json(&chat(false))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    // /metrics is open.
    let text = http
        .get(format!("{}/metrics", gateway.origin()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("flowcompile_gateway_calls_total{agent=\"\",point=\"\",status=\"401\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("flowcompile_gateway_calls_total{agent=\"\",point=\"\",status=\"200\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_provider_key_never_reaches_the_reply_of_a_failed_upstream() {
    let toml = "[models.m]\nbase_url = \"http://user:pw-secret@127.0.0.1:1/v1\"\napi_key_env = \"GW_TEST_KEY\"\n";
    let env = |v: &str| (v == "GW_TEST_KEY").then(|| "sk-very-secret".to_string());
    let providers = Providers::from_toml_str_with_env(toml, "p.toml", &env).unwrap();
    let client = Client::new(providers.clone()).unwrap();
    let gateway = Loopback::router(gateway_router(
        providers,
        client,
        None,
        GatewayOptions::default(),
    ))
    .await;
    let mut body = chat(false);
    body["model"] = json!("m");
    let reply = reqwest::Client::new()
        .post(format!("{}/chat/completions", gateway.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 502);
    let text = reply.text().await.unwrap();
    assert!(text.contains("upstream_error"), "{text}");
    for secret in ["sk-very-secret", "pw-secret", "127.0.0.1:1"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

/// The shape, its design space, and an artifact of two points: p0 the smallest structure (one
/// solver, no checker) on `small@0`, p1 the largest (two solvers and the checker) on `big@200`.
fn deployment(upstream: &ZooServer) -> (Reference, Deployment) {
    let wf = flowcompile_spec::parse(SHAPE, "shape.toml").unwrap();
    let space: DesignSpace = wf.design_space().unwrap();
    let setting = |model: &str| {
        let s = &wf.agents[0].settings;
        s.iter()
            .position(|x| {
                x.model == model && x.budget_tokens == if model == "big" { 200 } else { 0 }
            })
            .unwrap() as u32
    };
    let smallest = (0..space.structures.len())
        .min_by_key(|&i| {
            space.structures[i].slots.len() * 10
                + space.structures[i]
                    .knobs
                    .iter()
                    .map(|k| k.value as usize)
                    .sum::<usize>()
        })
        .unwrap();
    let largest = space.largest_structure();
    let point = |structure: usize, model: &str, acc: f64, lat: f64| {
        let settings: Vec<(SlotId, u32)> = space.structures[structure]
            .slots
            .iter()
            .map(|s| (*s, setting(model)))
            .collect();
        Point::from_search(&wf, &space, structure, &settings, Predicted::new(acc, lat))
    };
    let mut artifact = Artifact {
        format: ArtifactFormat::V1,
        workflow: "demo".into(),
        provenance: Provenance {
            tool: "test".into(),
            tool_version: "0".into(),
            spec_sha256: None,
            profiles_sha256: None,
            models_label: None,
            imported_from: None,
        },
        proxy: ProxyModel {
            execution: ExecutionModel::Parallel,
            latency: LatencyModel::Measured,
            dependence: 0.0,
            intervals: None,
            selection: None,
        },
        space: None,
        points: vec![
            point(smallest, "small", 0.5, 1.0),
            point(largest, "big", 0.9, 5.0),
        ],
    };
    artifact.sort_points();
    let reference = reference(&wf, &space, upstream);
    let d = Deployment::new(&wf, &space, &artifact, &reference, &providers(upstream)).unwrap();
    (reference, d)
}

/// Every agent on `big@200` in the largest structure.
fn reference(wf: &Workflow, space: &DesignSpace, upstream: &ZooServer) -> Reference {
    let config =
        Config::uniform(space, space.largest_structure(), &Setting::new("big", 200)).unwrap();
    Reference::new(wf, space, &config, &providers(upstream)).unwrap()
}

async fn deployed(upstream: &ZooServer, default: Preference) -> Loopback {
    let (reference, d) = deployment(upstream);
    let agents = Agents::deploy(d, reference, default).unwrap();
    start_with(upstream, Some(agents), GatewayOptions::default()).await
}

fn agent_call(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "What is 6 * 7?"}]})
}

#[tokio::test]
async fn an_agent_call_goes_to_the_setting_of_its_runs_point() {
    let upstream = upstream().await;
    let gateway = deployed(&upstream, Preference::FAST).await;
    let http = reqwest::Client::new();
    let url = format!("{}/chat/completions", gateway.base_url());
    // The run's first call picks p1 by preference; later calls keep it whatever they send.
    let first = http
        .post(&url)
        .header("x-flowcompile-agent", "solver")
        .header("x-flowcompile-run", "item-1")
        .header("x-flowcompile-preference", "xhigh")
        .json(&agent_call("anything"))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["x-flowcompile-point"], "p1");
    assert_eq!(first.headers()["x-flowcompile-agent-model"], "big");
    assert_eq!(first.headers()["x-flowcompile-agent-budget"], "200");
    let via: Value = first.json().await.unwrap();
    // The same call through flowcompile's client, budget applied by the provider's mode.
    let client = Client::new(providers(&upstream)).unwrap();
    let direct = client
        .call(
            CallRequest::new("big", vec![ChatMessage::user("What is 6 * 7?")], 200).agent("solver"),
        )
        .await
        .unwrap();
    assert_eq!(via["choices"][0]["message"]["content"], json!(direct.text));
    assert_eq!(
        via["usage"]["completion_tokens"],
        json!(direct.usage.unwrap().completion_tokens)
    );

    // `model` naming an agent names it too; the run keeps p1 despite a point header.
    let later = http
        .post(&url)
        .header("x-flowcompile-run", "item-1")
        .header("x-flowcompile-point", "p0")
        .json(&agent_call("checker"))
        .send()
        .await
        .unwrap();
    assert_eq!(later.status(), 200);
    assert_eq!(later.headers()["x-flowcompile-point"], "p1");
    // Another run without headers gets the default (fast: p0, on small@0).
    let other = http
        .post(&url)
        .header("x-flowcompile-run", "item-2")
        .json(&agent_call("solver"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.headers()["x-flowcompile-point"], "p0");
    assert_eq!(other.headers()["x-flowcompile-agent-model"], "small");
    assert_eq!(other.headers()["x-flowcompile-agent-budget"], "0");
}

#[tokio::test]
async fn a_switched_off_agent_is_answered_and_counted_as_drift() {
    let upstream = upstream().await;
    let gateway = deployed(&upstream, Preference::FAST).await;
    let http = reqwest::Client::new();
    let reply = http
        .post(format!("{}/chat/completions", gateway.base_url()))
        .header("x-flowcompile-agent", "checker")
        .header("x-flowcompile-run", "r")
        .json(&agent_call("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.headers()["x-flowcompile-point"], "p0");
    // The reference setting.
    assert_eq!(reply.headers()["x-flowcompile-agent-model"], "big");
    let text = http
        .get(format!("{}/metrics", gateway.origin()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("flowcompile_gateway_structure_drift_total{agent=\"checker\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("flowcompile_gateway_structure_drift_total{agent=\"solver\"} 0"),
        "{text}"
    );
    assert!(
        text.contains(
            "flowcompile_gateway_calls_total{agent=\"checker\",point=\"p0\",status=\"200\"} 1"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn unknown_agents_points_and_preferences_are_400_naming_what_exists() {
    let upstream = upstream().await;
    let gateway = deployed(&upstream, Preference::MEDIUM).await;
    let http = reqwest::Client::new();
    let url = format!("{}/chat/completions", gateway.base_url());
    let message = |reply: Value| reply["error"]["message"].as_str().unwrap().to_owned();
    let r = http
        .post(&url)
        .header("x-flowcompile-agent", "planner")
        .json(&agent_call("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let m = message(r.json().await.unwrap());
    assert!(
        m.contains("planner") && m.contains("solver, checker"),
        "{m}"
    );
    let r = http
        .post(&url)
        .header("x-flowcompile-point", "p9")
        .json(&agent_call("solver"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let m = message(r.json().await.unwrap());
    assert!(m.contains("p9") && m.contains("p0..p1"), "{m}");
    let r = http
        .post(&url)
        .header("x-flowcompile-preference", "turbo")
        .json(&agent_call("solver"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(message(r.json().await.unwrap()).contains("turbo"));
}

#[tokio::test]
async fn the_plan_says_which_agents_run_how_often_and_on_what() {
    let upstream = upstream().await;
    let gateway = deployed(&upstream, Preference::FAST).await;
    let http = reqwest::Client::new();
    let plan: Value = http
        .get(format!("{}/flowcompile/plan?run=r7", gateway.origin()))
        .header("x-flowcompile-point", "p1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(plan["run"], "r7");
    assert_eq!(plan["point"], "p1");
    assert_eq!(plan["predicted"]["accuracy"], 0.9);
    assert_eq!(
        plan["agents"]["solver"],
        json!({"enabled": true, "samples": 2, "model": "big", "budget": 200})
    );
    assert_eq!(plan["agents"]["checker"]["enabled"], true);
    // The plan fixed the run's point: its calls run under p1.
    let reply = http
        .post(format!("{}/chat/completions", gateway.base_url()))
        .header("x-flowcompile-run", "r7")
        .json(&agent_call("solver"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.headers()["x-flowcompile-point"], "p1");
    let fast: Value = http
        .get(format!("{}/flowcompile/plan", gateway.origin()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fast["run"], Value::Null);
    assert_eq!(fast["point"], "p0");
    assert_eq!(
        fast["agents"]["checker"],
        json!({"enabled": false, "samples": 0, "model": "big", "budget": 200})
    );
    assert_eq!(fast["agents"]["solver"]["samples"], 1);
}

#[tokio::test]
async fn a_streamed_agent_call_is_an_sse_stream_with_the_routing_headers() {
    let upstream = upstream().await;
    let gateway = deployed(&upstream, Preference::FAST).await;
    let mut body = agent_call("solver");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let reply = reqwest::Client::new()
        .post(format!("{}/chat/completions", gateway.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.headers()["x-flowcompile-agent-model"], "small");
    let text = reply.text().await.unwrap();
    assert!(
        text.contains("\"usage\"") && text.trim_end().ends_with("data: [DONE]"),
        "{text}"
    );
    // The model's text arrived delta by delta, before the answer as content.
    let chunks: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let deltas = chunks
        .iter()
        .filter(|c| c["choices"][0]["delta"]["reasoning_content"].is_string())
        .count();
    assert!(deltas >= 2, "{text}");
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    let whole: Value = reqwest::Client::new()
        .post(format!("{}/chat/completions", gateway.base_url()))
        .json(&agent_call("solver"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json!(content), whole["choices"][0]["message"]["content"]);
}

#[tokio::test]
async fn a_streamed_agent_call_that_fails_before_its_first_token_is_a_502() {
    let upstream = upstream().await;
    let (reference, d) = deployment(&upstream);
    let agents = Agents::deploy(d, reference, Preference::FAST).unwrap();
    // The same model names, on a port nothing listens on.
    let dead = Providers::from_toml_str(
        "[defaults]\nbase_url = \"http://127.0.0.1:1/v1\"\nmax_retries = 0\n[models.small]\n[models.big]\n",
        "dead.toml",
    )
    .unwrap();
    let client = Client::new(dead.clone()).unwrap();
    let gateway = Loopback::router(gateway_router(
        dead,
        client,
        Some(agents),
        GatewayOptions::default(),
    ))
    .await;
    let mut body = agent_call("solver");
    body["stream"] = json!(true);
    let reply = reqwest::Client::new()
        .post(format!("{}/chat/completions", gateway.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 502);
    assert_eq!(reply.headers()["x-flowcompile-agent-model"], "small");
    let text = reply.text().await.unwrap();
    assert!(
        text.contains("upstream_error") && !text.contains("127.0.0.1:1"),
        "{text}"
    );
}

/// The shape without prompts: the application owns them.
const BARE_SHAPE: &str = r#"
name = "demo"
[space]
models = ["small", "big"]
budgets = [0, 200]
[agents.solver]
[agents.checker]
[graph]
root = "flow"
[graph.nodes.flow]
seq = ["solvers", "maybe_check"]
[graph.nodes.solvers]
repeat = "solver"
count = [1, 2]
[graph.nodes.maybe_check]
optional = "checker"
"#;

#[tokio::test]
async fn capture_sends_every_call_to_the_reference_and_writes_it_per_run_agent_and_call() {
    let upstream = upstream().await;
    let wf = flowcompile_spec::parse(BARE_SHAPE, "shape.toml").unwrap();
    let space = wf.design_space().unwrap();
    let dir = std::env::temp_dir().join(format!(
        "flowcompile-gateway-capture-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("capture.sqlite");
    let _ = std::fs::remove_file(&path);
    let agents = Agents::capture(
        &wf,
        reference(&wf, &space, &upstream),
        Store::open(&path).unwrap(),
    );
    let opts = GatewayOptions {
        token: Some("gw-capture-token".into()),
        ..GatewayOptions::default()
    };
    let gateway = start_with(&upstream, Some(agents), opts).await;
    let http = reqwest::Client::new();
    let url = format!("{}/chat/completions", gateway.base_url());
    let send = |agent: &str, run: Option<&str>| {
        let mut req = http
            .post(&url)
            .bearer_auth("gw-capture-token")
            .header("x-flowcompile-agent", agent)
            .json(&agent_call(agent));
        if let Some(run) = run {
            req = req.header("x-flowcompile-run", run);
        }
        req.send()
    };
    for (agent, run) in [
        ("solver", "q1"),
        ("solver", "q1"),
        ("checker", "q1"),
        ("solver", "q2"),
    ] {
        let reply = send(agent, Some(run)).await.unwrap();
        assert_eq!(reply.status(), 200);
        assert_eq!(reply.headers()["x-flowcompile-point"], "reference");
        assert_eq!(reply.headers()["x-flowcompile-agent-model"], "big");
        assert_eq!(reply.headers()["x-flowcompile-agent-budget"], "200");
    }
    let no_run = send("solver", None).await.unwrap();
    assert_eq!(no_run.status(), 400);
    assert!(no_run.text().await.unwrap().contains("x-flowcompile-run"));
    let plan: Value = http
        .get(format!("{}/flowcompile/plan?run=q1", gateway.origin()))
        .bearer_auth("gw-capture-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(plan["point"], "reference");
    assert_eq!(plan["agents"]["solver"]["samples"], 2);
    drop(gateway);

    let rows = Store::open(&path).unwrap().captured_calls().unwrap();
    let keys: Vec<(&str, &str, u32)> = rows
        .iter()
        .map(|r| (r.run.as_str(), r.agent.as_str(), r.call_index))
        .collect();
    assert_eq!(
        keys,
        [
            ("q1", "checker", 0),
            ("q1", "solver", 0),
            ("q1", "solver", 1),
            ("q2", "solver", 0)
        ]
    );
    let first = &rows[1];
    assert_eq!((first.model.as_str(), first.budget_tokens), ("big", 200));
    assert!(!first.reply.is_empty() && first.error.is_none());
    assert!(first.completion_tokens.unwrap() > 0 && first.latency_s > 0.0);
    let request: Value = serde_json::from_str(&first.request_json).unwrap();
    assert_eq!(request["messages"][0]["content"], "What is 6 * 7?");
    for row in &rows {
        assert!(
            !row.request_json.contains("gw-capture-token"),
            "{}",
            row.request_json
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn an_upstream_error_echoing_the_key_is_redacted() {
    // An upstream that refuses the key and quotes it back, as some providers do.
    let echo = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(|headers: axum::http::HeaderMap| async move {
            let sent = headers["authorization"].to_str().unwrap().to_owned();
            (
                axum::http::StatusCode::UNAUTHORIZED,
                format!("{{\"error\": {{\"message\": \"Incorrect API key provided: {sent}\"}}}}"),
            )
        }),
    );
    let upstream = Loopback::router(echo).await;
    let toml = format!(
        "[models.m]\nbase_url = \"{}\"\napi_key_env = \"GW_ECHO_KEY\"\n",
        upstream.base_url()
    );
    let env = |v: &str| (v == "GW_ECHO_KEY").then(|| "sk-echoed-secret-42".to_string());
    let providers = Providers::from_toml_str_with_env(&toml, "p.toml", &env).unwrap();
    let client = Client::new(providers.clone()).unwrap();
    let gateway = Loopback::router(gateway_router(
        providers,
        client,
        None,
        GatewayOptions::default(),
    ))
    .await;
    let mut body = chat(false);
    body["model"] = json!("m");
    let reply = reqwest::Client::new()
        .post(format!("{}/chat/completions", gateway.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 401);
    let text = reply.text().await.unwrap();
    assert!(text.contains("Incorrect API key provided"), "{text}");
    assert!(!text.contains("sk-echoed-secret-42"), "{text}");
}

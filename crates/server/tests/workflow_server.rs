//! The workflow server on loopback in front of the zoo server on loopback, called over HTTP with
//! reqwest: point choice, replies, streaming, every kind of bad input, the token, metrics, timeouts,
//! upstream failures and graceful shutdown.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use flowcompile_artifact::Artifact;
use flowcompile_client::{Client, Providers};
use flowcompile_ir::Workflow;
use flowcompile_server::{
    serve_workflows, ServeError, ServedWorkflow, WorkflowServeOptions, POINT_HEADER,
    PREDICTED_ACCURACY_HEADER,
};
use flowcompile_testsupport::{Loopback, ZooServer};
use flowcompile_zoo::http::ZooServeOptions;
use flowcompile_zoo::{TaskSet, Zoo, ZooConfig};
use serde_json::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The math example workflow.
fn math() -> Workflow {
    let text = std::fs::read_to_string(root().join("examples/math/workflow.toml")).unwrap();
    flowcompile_spec::parse(&text, "math").unwrap()
}

fn gsm8k() -> String {
    std::fs::read_to_string(root().join("examples/data/gsm8k_validate.jsonl")).unwrap()
}

fn first_problem() -> String {
    let line: Value = serde_json::from_str(gsm8k().lines().next().unwrap()).unwrap();
    line["problem"].as_str().unwrap().to_string()
}

/// The index of the math structure with these knob values.
fn structure(wf: &Workflow, knobs: &[(&str, u32)]) -> usize {
    let space = wf.design_space().unwrap();
    space
        .structures
        .iter()
        .position(|s| {
            knobs.iter().all(|(name, value)| {
                s.knobs
                    .iter()
                    .any(|k| wf.node(k.node).name == *name && k.value == *value)
            })
        })
        .unwrap()
}

/// A three-point artifact of the math workflow: a fast detailed solver, one strong generator, and
/// the full ensemble with a vote.
fn artifact(wf: &Workflow) -> Artifact {
    let detailed = structure(
        wf,
        &[("refine_branch", 0), ("detailed", 1), ("generators", 0)],
    );
    let generator = structure(
        wf,
        &[("refine_branch", 0), ("detailed", 0), ("generators", 1)],
    );
    let ensemble = structure(
        wf,
        &[
            ("refine_branch", 1),
            ("maybe_program", 0),
            ("detailed", 1),
            ("generators", 2),
        ],
    );
    let setting = |m: &str, b: u32| json!({"model": m, "budget": b});
    // p1's accuracy interval is wide: at confidence 0.9 its lower bound is below 0.5.
    let point = |id: &str, s: usize, settings: Value, acc: f64, lat: f64, lo: f64| {
        json!({"id": id, "structure": {"index": s, "knobs": {}}, "settings": settings,
               "predicted": {"accuracy": acc, "latency_s": lat,
                             "accuracy_interval": [lo, (acc + 0.02f64).min(1.0)],
                             "latency_interval_s": [lat * 0.9, lat * 1.1]}})
    };
    let doc = json!({
        "format": "flowcompile.artifact.v2",
        "workflow": "math",
        "provenance": {"tool": "flowcompile", "tool_version": "test", "models_label": "zoo (synthetic)"},
        "proxy": {"execution": "parallel", "latency": "measured",
                  "intervals": {"level": 0.9, "method": "bootstrap-items", "resamples": 200, "seed": 11}},
        "points": [
            point("p0", detailed, json!({"detailed_solver": setting("qwen3-0.6b", 10)}), 0.34, 1.0, 0.3),
            point("p1", generator, json!({"generate_solver": setting("qwen3-14b", 200)}), 0.88, 9.0, 0.3),
            point("p2", ensemble, json!({
                "refine_solver": setting("qwen3-4b", 10),
                "detailed_solver": setting("qwen3-4b", 10),
                "generate_solver": setting("qwen3-4b", 10),
                "sc_ensemble": setting("qwen3-14b", 10),
            }), 0.95, 12.0, 0.9),
        ],
    });
    serde_json::from_value(doc).unwrap()
}

fn providers(base_url: &str) -> Providers {
    let mut toml = format!(
        "[defaults]\nbase_url = \"{base_url}\"\nbudget = \"max_tokens\"\nmax_retries = 0\nconcurrency = 32\n"
    );
    for size in ["0.6b", "1.7b", "4b", "8b", "14b"] {
        toml.push_str(&format!(
            "[models.\"qwen3-{size}\"]\nmodel = \"zoo-{size}\"\n"
        ));
    }
    Providers::from_toml_str(&toml, "providers.toml").unwrap()
}

async fn start_zoo(time_scale: f64) -> ZooServer {
    let tasks = TaskSet::from_jsonl("gsm8k_validate.jsonl", &gsm8k()).unwrap();
    let zoo = Zoo::new(ZooConfig::default(), vec![tasks]).unwrap();
    let opts = ZooServeOptions {
        time_scale,
        ..ZooServeOptions::default()
    };
    ZooServer::start(Arc::new(zoo), opts).await
}

struct Server {
    base: String,
    server: Loopback,
    http: reqwest::Client,
}

impl Server {
    async fn start(models_url: &str, opts: WorkflowServeOptions) -> Server {
        let wf = math();
        let client = Client::new(providers(models_url)).unwrap();
        let served = ServedWorkflow::new(wf.clone(), artifact(&wf), client).unwrap();
        let server = Loopback::serve(move |listener, shutdown| {
            serve_workflows(listener, vec![served], opts, shutdown.wait())
        })
        .await;
        Server {
            base: server.origin().to_owned(),
            server,
            http: reqwest::Client::new(),
        }
    }

    async fn chat(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/chat/completions", self.base))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    async fn shutdown(self) {
        self.server.shutdown().await.unwrap();
    }
}

fn ask(model: &str, content: &str) -> Value {
    json!({"model": model, "messages": [
        {"role": "system", "content": "ignored: the workflow has its own prompts"},
        {"role": "user", "content": content},
    ]})
}

/// Checks the OpenAI error shape and returns the body.
async fn error_of(resp: reqwest::Response, status: u16) -> Value {
    assert_eq!(resp.status().as_u16(), status);
    let body: Value = resp.json().await.unwrap();
    let e = &body["error"];
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(e["type"].is_string(), "{body}");
    assert!(
        e.as_object().unwrap().contains_key("param") && e.as_object().unwrap().contains_key("code"),
        "{body}"
    );
    body
}

#[tokio::test]
async fn presets_suffixes_fields_and_headers_choose_the_point() {
    let zoo = start_zoo(0.0).await;
    let server = Server::start(zoo.base_url(), WorkflowServeOptions::default()).await;
    let problem = first_problem();

    let fast = server.chat(&ask("math@fast", &problem)).await;
    assert_eq!(fast.status(), 200);
    assert_eq!(fast.headers()[POINT_HEADER], "p0");
    assert_eq!(fast.headers()[PREDICTED_ACCURACY_HEADER], "0.34");
    let fast: Value = fast.json().await.unwrap();
    assert_eq!(fast["object"], "chat.completion");
    assert_eq!(fast["model"], "math@fast");
    let answer = fast["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(!answer.is_empty());
    assert_eq!(fast["choices"][0]["finish_reason"], "stop");
    let info = &fast["flowcompile"];
    assert_eq!(info["point"], "p0");
    assert_eq!(info["workflow"], "math");
    assert_eq!(info["settings"]["detailed_solver"]["model"], "qwen3-0.6b");
    // `fast` is the preset of weight 0: the minimum-latency point.
    assert_eq!(info["selected_by"]["preference"], 0.0);
    assert_eq!(info["models_label"], "zoo (synthetic)");
    assert_eq!(info["measured"]["calls"], 1);
    assert!(info["measured"]["latency_s"].as_f64().unwrap() > 0.0);
    assert!(fast["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    assert!(fast["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    assert!(info.get("trace").is_none());

    let high: Value = server
        .chat(&ask("math@high", &problem))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(high["flowcompile"]["point"], "p2");
    assert_eq!(
        high["flowcompile"]["measured"]["calls"], 5,
        "refine, detailed, two generators and the vote: {high}"
    );
    let xhigh: Value = server
        .chat(&ask("math@xhigh", &problem))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(xhigh["flowcompile"]["point"], "p2");

    let cases: [(Value, &str); 8] = [
        (ask("math@p1", &problem), "p1"),
        (ask("math@0.0", &problem), "p0"),
        (ask("math", &problem), "p0"),
        (
            json!({"model": "math", "min_accuracy": 0.5, "messages": [{"role": "user", "content": problem}]}),
            "p1",
        ),
        (
            json!({"model": "math", "min_accuracy": 0.5, "confidence": 0.9, "messages": [{"role": "user", "content": problem}]}),
            "p2",
        ),
        (
            json!({"model": "math", "max_latency_s": 10, "messages": [{"role": "user", "content": problem}]}),
            "p1",
        ),
        (
            json!({"model": "math", "preference": 1, "messages": [{"role": "user", "content": problem}]}),
            "p2",
        ),
        (
            json!({"model": "math", "preference": "low", "messages": [{"role": "user", "content": problem}]}),
            "p0",
        ),
    ];
    for (body, point) in cases {
        let resp = server.chat(&body).await;
        assert_eq!(resp.status(), 200, "{body}");
        assert_eq!(resp.headers()[POINT_HEADER], point, "{body}");
    }
    let by_header = server
        .http
        .post(format!("{}/v1/chat/completions", server.base))
        .header("x-flowcompile-preference", "xhigh")
        .header("x-flowcompile-max-latency-s", "9.5")
        .json(&ask("math", &problem))
        .send()
        .await
        .unwrap();
    assert_eq!(by_header.headers()[POINT_HEADER], "p1");
    assert_eq!(
        by_header.headers()["x-flowcompile-predicted-accuracy-interval"],
        "0.3,0.9"
    );
    let sure = server
        .http
        .post(format!("{}/v1/chat/completions", server.base))
        .header("x-flowcompile-confidence", "0.9")
        .header("x-flowcompile-min-accuracy", "0.5")
        .json(&ask("math", &problem))
        .send()
        .await
        .unwrap();
    assert_eq!(sure.headers()[POINT_HEADER], "p2");
    assert_eq!(
        sure.headers()["x-flowcompile-predicted-latency-interval-s"],
        format!("{},{}", 12.0 * 0.9, 12.0 * 1.1)
    );
    let sure: Value = sure.json().await.unwrap();
    assert_eq!(
        sure["flowcompile"]["predicted"]["accuracy_interval"],
        json!([0.9, 0.97])
    );
    assert_eq!(sure["flowcompile"]["selected_by"]["confidence"], 0.9);

    let fields = json!({"problem": problem, "id": "q1"}).to_string();
    let mut traced = ask("math@p1", &fields);
    traced["flowcompile_trace"] = json!(true);
    let traced: Value = server.chat(&traced).await.json().await.unwrap();
    let calls = traced["flowcompile"]["trace"]["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["model"], "qwen3-14b");
    assert_eq!(calls[0]["budget_tokens"], 200);

    let models: Value = server.get("/v1/models").await.json().await.unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "math",
            "math@fast",
            "math@medium",
            "math@high",
            "math@xhigh"
        ]
    );
    let health: Value = server.get("/health").await.json().await.unwrap();
    assert_eq!(health, json!({"status": "ok", "workflows": ["math"]}));
    server.shutdown().await;
}

#[tokio::test]
async fn the_same_input_gets_the_same_answer() {
    let zoo = start_zoo(0.0).await;
    let server = Server::start(zoo.base_url(), WorkflowServeOptions::default()).await;
    let problem = first_problem();
    let mut answers = Vec::new();
    for _ in 0..2 {
        let r: Value = server
            .chat(&ask("math@high", &problem))
            .await
            .json()
            .await
            .unwrap();
        answers.push(r["choices"][0]["message"]["content"].clone());
    }
    assert_eq!(answers[0], answers[1]);
    server.shutdown().await;
}

#[tokio::test]
async fn streams_role_thinking_content_final_usage_and_done() {
    let zoo = start_zoo(0.0).await;
    let server = Server::start(zoo.base_url(), WorkflowServeOptions::default()).await;
    let mut body = ask("math@fast", &first_problem());
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    body["flowcompile_trace"] = json!(true);
    let resp = server.chat(&body).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    assert_eq!(resp.headers()[POINT_HEADER], "p0");
    let text = resp.text().await.unwrap();
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(data.last(), Some(&"[DONE]"), "{text}");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(
        chunks.len() >= 5,
        "role, thinking, answer, stop, usage: {text}"
    );
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk" && c["id"] == chunks[0]["id"]));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let n = chunks.len();
    // The final agent's reply, as it was produced, then the workflow's answer made of it.
    let thinking: String = chunks[1..n - 3]
        .iter()
        .map(|c| {
            c["choices"][0]["delta"]["reasoning_content"]
                .as_str()
                .unwrap()
        })
        .collect();
    let answer = chunks[n - 3]["choices"][0]["delta"]["content"]
        .as_str()
        .unwrap();
    assert!(!answer.is_empty());
    assert_eq!(chunks[n - 2]["choices"][0]["finish_reason"], "stop");
    let info = &chunks[n - 2]["flowcompile"];
    assert_eq!(info["point"], "p0");
    let calls = info["trace"]["calls"].as_array().unwrap();
    let last = calls.last().unwrap();
    // The reply as sent, thinking included; the recorded output is its answer part.
    let output = last["output"].as_str().unwrap().trim();
    assert!(!output.is_empty() && thinking.contains(output), "{text}");
    assert!(thinking.contains(answer), "{answer} in {thinking}");
    assert_eq!(chunks[n - 1]["choices"], json!([]));
    assert!(chunks[n - 1]["usage"]["total_tokens"].as_u64().unwrap() > 0);

    body["stream_options"] = json!({"include_usage": false});
    let text = server.chat(&body).await.text().await.unwrap();
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert!(!data.iter().any(|d| d.contains("\"usage\"")), "{text}");
    server.shutdown().await;
}

#[tokio::test]
async fn the_final_agents_tokens_go_out_as_the_model_produces_them() {
    let zoo = start_zoo(0.2).await;
    let server = Server::start(zoo.base_url(), WorkflowServeOptions::default()).await;
    let mut body = ask("math", &first_problem());
    body["stream"] = json!(true);
    body["preference"] = json!(0.5);
    body["flowcompile_trace"] = json!(true);
    let started = std::time::Instant::now();
    let resp = server.chat(&body).await;
    assert_eq!(resp.status(), 200);
    assert!(resp
        .headers()
        .get(flowcompile_server::MEASURED_LATENCY_HEADER)
        .is_none());
    let mut stream = resp.bytes_stream();
    let mut seen = String::new();
    let (mut first_thinking, mut answer) = (None, None);
    while let Some(bytes) = futures::StreamExt::next(&mut stream).await {
        seen.push_str(std::str::from_utf8(&bytes.unwrap()).unwrap());
        let at = started.elapsed().as_secs_f64();
        if first_thinking.is_none() && seen.contains("reasoning_content") {
            first_thinking = Some(at);
        }
        if answer.is_none() && seen.contains("\"finish_reason\":\"stop\"") {
            answer = Some(at);
        }
    }
    let (first, end) = (first_thinking.unwrap(), answer.unwrap());
    let last_call: Value = seen
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find_map(|c| {
            c["flowcompile"]["trace"]["calls"]
                .as_array()?
                .last()
                .cloned()
        })
        .unwrap();
    // Buffered, the first token would come with the answer; streamed, it comes while the final
    // call is still producing the rest of its reply.
    let final_call_s = last_call["latency_s"].as_f64().unwrap();
    assert!(
        end - first > 0.3 * final_call_s,
        "first token at {first:.3} s, answer at {end:.3} s, final call {final_call_s:.3} s"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn completions_answer_a_prompt_as_the_chat_endpoint_answers_its_message() {
    let zoo = start_zoo(0.0).await;
    let server = Server::start(zoo.base_url(), WorkflowServeOptions::default()).await;
    let problem = first_problem();
    let post = |body: Value| {
        server
            .http
            .post(format!("{}/v1/completions", server.base))
            .json(&body)
            .send()
    };
    let chat: Value = server
        .chat(&ask("math@high", &problem))
        .await
        .json()
        .await
        .unwrap();
    let resp = post(json!({"model": "math@high", "prompt": problem, "temperature": 0.3}))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()[POINT_HEADER],
        chat["flowcompile"]["point"].as_str().unwrap()
    );
    let done: Value = resp.json().await.unwrap();
    assert_eq!(done["object"], "text_completion");
    assert!(done["id"].as_str().unwrap().starts_with("cmpl-"));
    assert_eq!(
        done["choices"][0]["text"], chat["choices"][0]["message"]["content"],
        "the same input, the same point and seeds: the same answer"
    );
    assert_eq!(done["choices"][0]["finish_reason"], "stop");
    assert!(done["usage"]["total_tokens"].as_u64().unwrap() > 0);

    let text = post(
        json!({"model": "math@high", "prompt": [problem.clone()], "stream": true,
                           "stream_options": {"include_usage": true}}),
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(data.last(), Some(&"[DONE]"), "{text}");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(chunks.len(), 3, "answer, stop with info, usage: {text}");
    assert_eq!(chunks[0]["object"], "text_completion");
    assert_eq!(chunks[0]["choices"][0]["text"], done["choices"][0]["text"]);
    assert_eq!(chunks[1]["choices"][0]["finish_reason"], "stop");
    assert!(chunks[1]["flowcompile"]["point"].is_string());
    assert!(chunks[2]["usage"]["total_tokens"].as_u64().unwrap() > 0);

    let batch = post(json!({"model": "math", "prompt": ["a", "b"]}))
        .await
        .unwrap();
    let body = error_of(batch, 400).await;
    assert_eq!(body["error"]["param"], "prompt");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("one string"));
    server.shutdown().await;
}

#[tokio::test]
async fn client_mistakes_get_openai_errors_and_never_500() {
    let zoo = start_zoo(0.0).await;
    let opts = WorkflowServeOptions {
        body_limit_bytes: 4096,
        ..WorkflowServeOptions::default()
    };
    let server = Server::start(zoo.base_url(), opts).await;
    let user = |extra: Value| {
        let mut b =
            json!({"model": "math", "messages": [{"role": "user", "content": "What is 2 + 2?"}]});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            user(json!({"model": "nope"})),
            404,
            "this server serves math",
        ),
        (user(json!({"model": "math@turbo"})), 404, "p0..p2"),
        (user(json!({"model": "math@p9"})), 404, "p0..p2"),
        (
            user(json!({"model": "math@1.5"})),
            400,
            "invalid preference '1.5'",
        ),
        (
            user(json!({"preference": 2})),
            400,
            "invalid preference '2'",
        ),
        (
            user(json!({"preference": "max"})),
            400,
            "invalid preference 'max'",
        ),
        (
            user(json!({"preference": [1]})),
            400,
            "`preference` must be",
        ),
        (
            user(json!({"min_accuracy": 1.5})),
            400,
            "`min_accuracy` must be a number from 0 to 1",
        ),
        (
            user(json!({"min_accuracy": "high"})),
            400,
            "`min_accuracy` must be a number",
        ),
        (
            user(json!({"max_latency_s": -1})),
            400,
            "`max_latency_s` must be a finite number of seconds >= 0, got -1",
        ),
        (
            user(json!({"min_accuracy": 0.95, "max_latency_s": 2})),
            422,
            "no point has accuracy >= 0.95 and latency <= 2s; nearest: p2",
        ),
        (
            user(json!({"min_accuracy": 0.99})),
            422,
            "no point has accuracy >= 0.99",
        ),
        (
            user(json!({"confidence": 1})),
            400,
            "`confidence` must be a number from 0.5",
        ),
        (
            user(json!({"min_accuracy": 0.94, "confidence": 0.9})),
            422,
            "at confidence 0.9 (each point's accuracy is its lower bound",
        ),
        (
            user(json!({"model": "math@p1", "confidence": 0.9})),
            400,
            "names a point",
        ),
        (
            user(json!({"model": "math@high", "preference": 0.2})),
            400,
            "the preference is given twice",
        ),
        (
            user(json!({"model": "math@p1", "min_accuracy": 0.2})),
            400,
            "names a point",
        ),
        (user(json!({"n": 3})), 400, "only `n` = 1"),
        (
            user(json!({"flowcompile_trace": "yes"})),
            400,
            "`flowcompile_trace` must be true or false",
        ),
        (
            json!({"model": "math", "messages": []}),
            400,
            "no user message",
        ),
        (
            json!({"model": "math", "messages": [{"role": "user", "content": "  "}]}),
            400,
            "empty",
        ),
        (json!({"model": "math"}), 400, "missing field `messages`"),
        (json!({"messages": []}), 400, "missing field `model`"),
        (
            json!({"model": "math", "messages": [{"role": "user", "content": "{\"question\": \"2+2?\"}"}]}),
            400,
            "without the field(s) problem",
        ),
    ];
    for (body, status, says) in cases {
        let resp = server.chat(&body).await;
        let got = error_of(resp, status).await;
        let message = got["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
    }

    let raw = |body: &'static str| {
        server
            .http
            .post(format!("{}/v1/chat/completions", server.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let malformed = error_of(raw("{\"model\": \"math\",").await.unwrap(), 400).await;
    assert!(malformed["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("malformed JSON"));
    let big = format!(
        "{{\"model\": \"math\", \"messages\": [{{\"role\": \"user\", \"content\": \"{}\"}}]}}",
        "x".repeat(8000)
    );
    let too_big = server
        .http
        .post(format!("{}/v1/chat/completions", server.base))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    let body = error_of(too_big, 413).await;
    assert_eq!(body["error"]["code"], "request_too_large");
    let twice = server
        .http
        .post(format!("{}/v1/chat/completions", server.base))
        .header("x-flowcompile-min-accuracy", "0.5")
        .json(&user(json!({"min_accuracy": 0.5})))
        .send()
        .await
        .unwrap();
    error_of(twice, 400).await;
    let bad_header = server
        .http
        .post(format!("{}/v1/chat/completions", server.base))
        .header("x-flowcompile-max-latency-s", "soon")
        .json(&user(json!({})))
        .send()
        .await
        .unwrap();
    error_of(bad_header, 400).await;
    error_of(server.get("/v1/chat/completions").await, 405).await;
    error_of(server.get("/v2/models").await, 404).await;
    server.shutdown().await;
}

#[tokio::test]
async fn the_token_guards_the_api_but_not_health_or_metrics() {
    let zoo = start_zoo(0.0).await;
    let secret = "sk-serve-test-7f3a";
    let opts = WorkflowServeOptions {
        token: Some(secret.into()),
        ..WorkflowServeOptions::default()
    };
    assert!(!format!("{opts:?}").contains(secret));
    let server = Server::start(zoo.base_url(), opts).await;
    let body = ask("math@fast", "What is 2 + 2?");
    let missing = error_of(server.chat(&body).await, 401).await;
    assert_eq!(missing["error"]["code"], "invalid_api_key");
    let post = |token: &str| {
        server
            .http
            .post(format!("{}/v1/chat/completions", server.base))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let wrong = post("sk-wrong").await.unwrap();
    assert_eq!(wrong.headers()["www-authenticate"], "Bearer");
    let wrong = error_of(wrong, 401).await;
    assert!(!wrong.to_string().contains(secret));
    assert_eq!(post(secret).await.unwrap().status(), 200);
    error_of(server.get("/v1/models").await, 401).await;
    assert_eq!(server.get("/health").await.status(), 200);
    let metrics = server.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("flowcompile_requests_total{workflow=\"\",point=\"\",status=\"401\"} 2")
    );
    assert!(!metrics.contains(secret));
    server.shutdown().await;
}

#[tokio::test]
async fn metrics_count_requests_latencies_and_upstream_errors() {
    let zoo = start_zoo(0.0).await;
    let server = Server::start(zoo.base_url(), WorkflowServeOptions::default()).await;
    for _ in 0..3 {
        assert_eq!(
            server
                .chat(&ask("math@fast", "What is 3 + 4?"))
                .await
                .status(),
            200
        );
    }
    assert_eq!(
        server
            .chat(&ask("math@p1", "What is 3 + 4?"))
            .await
            .status(),
        200
    );
    assert_eq!(server.chat(&ask("nope", "x")).await.status(), 404);
    let resp = server.get("/metrics").await;
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = resp.text().await.unwrap();
    for line in [
        "flowcompile_requests_total{workflow=\"math\",point=\"p0\",status=\"200\"} 3",
        "flowcompile_requests_total{workflow=\"math\",point=\"p1\",status=\"200\"} 1",
        "flowcompile_requests_total{workflow=\"\",point=\"\",status=\"404\"} 1",
        "flowcompile_request_duration_seconds_bucket{workflow=\"math\",point=\"p0\",le=\"+Inf\"} 3",
        "flowcompile_request_duration_seconds_count{workflow=\"math\",point=\"p1\"} 1",
        "flowcompile_upstream_errors_total{workflow=\"math\"} 0",
        "flowcompile_requests_in_flight 0",
        "# TYPE flowcompile_request_duration_seconds histogram",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
    }
    server.shutdown().await;

    let dead = Server::start("http://127.0.0.1:9/v1", WorkflowServeOptions::default()).await;
    let failed = error_of(dead.chat(&ask("math@fast", "What is 3 + 4?")).await, 502).await;
    assert_eq!(failed["error"]["code"], "upstream_error");
    assert!(failed["error"]["message"]
        .as_str()
        .unwrap()
        .contains("detailed_solver"));
    let text = dead.get("/metrics").await.text().await.unwrap();
    assert!(text.contains("flowcompile_upstream_errors_total{workflow=\"math\"} 1"));
    assert!(text
        .contains("flowcompile_requests_total{workflow=\"math\",point=\"p0\",status=\"502\"} 1"));
    dead.shutdown().await;
}

#[tokio::test]
async fn a_slow_run_times_out_with_504() {
    let zoo = start_zoo(5.0).await;
    let opts = WorkflowServeOptions {
        request_timeout: Duration::from_millis(100),
        ..WorkflowServeOptions::default()
    };
    let server = Server::start(zoo.base_url(), opts).await;
    let body = error_of(server.chat(&ask("math@fast", "What is 3 + 4?")).await, 504).await;
    assert_eq!(body["error"]["code"], "timeout");
    assert!(body["error"]["message"].as_str().unwrap().contains("0.1 s"));
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_finishes_the_requests_in_flight() {
    let zoo = start_zoo(5.0).await;
    let server = Server::start(zoo.base_url(), WorkflowServeOptions::default()).await;
    let http = server.http.clone();
    let url = format!("{}/v1/chat/completions", server.base);
    let in_flight = tokio::spawn(async move {
        http.post(url)
            .json(&ask("math@fast", "What is 3 + 4?"))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let base = server.base.clone();
    server.shutdown().await;
    let resp = in_flight.await.unwrap().unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["flowcompile"]["measured"]["latency_s"]
            .as_f64()
            .unwrap()
            > 0.15,
        "the request was in flight when the shutdown began: {body}"
    );
    assert!(reqwest::get(format!("{base}/health")).await.is_err());
}

#[tokio::test]
async fn artifacts_that_do_not_fit_are_refused_at_startup() {
    let wf = math();
    let client = || Client::new(providers("http://127.0.0.1:9/v1")).unwrap();
    let mut other = artifact(&wf);
    other.workflow = "hotpotqa".into();
    let e = ServedWorkflow::new(wf.clone(), other, client()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the artifact was compiled for workflow `hotpotqa`, not `math`"
    );
    let mut unknown_slot = artifact(&wf);
    let s = unknown_slot.points[0].settings["detailed_solver"].clone();
    unknown_slot.points[0].settings.insert("critic".into(), s);
    let e = ServedWorkflow::new(wf.clone(), unknown_slot, client()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "workflow `math`, point p0: unknown slot `critic`"
    );
    let mut unknown_model = artifact(&wf);
    unknown_model.points[1].settings["generate_solver"].model = "gpt-9".into();
    let e = ServedWorkflow::new(wf.clone(), unknown_model, client()).unwrap_err();
    assert!(
        e.to_string().starts_with(
            "workflow `math`, point p1: model `gpt-9` (slot `generate_solver`) has no endpoint"
        ),
        "{e}"
    );
    let mut empty = artifact(&wf);
    empty.points.clear();
    assert!(matches!(
        ServedWorkflow::new(wf.clone(), empty, client()),
        Err(ServeError::NoPoints { .. })
    ));
    let served = ServedWorkflow::new(wf.clone(), artifact(&wf), client()).unwrap();
    assert!(matches!(
        served.with_name("math@2"),
        Err(ServeError::BadName { .. })
    ));
    let a = ServedWorkflow::new(wf.clone(), artifact(&wf), client()).unwrap();
    let b = ServedWorkflow::new(wf.clone(), artifact(&wf), client()).unwrap();
    assert!(matches!(
        flowcompile_server::workflow_router(vec![a, b], WorkflowServeOptions::default()),
        Err(ServeError::DuplicateName { .. })
    ));
}

#[tokio::test]
async fn a_failed_model_call_tells_the_caller_neither_the_upstream_url_nor_its_reply() {
    let upstream = Loopback::router(axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(|| async {
            (
                axum::http::StatusCode::BAD_REQUEST,
                "internal note: key sk-upstream-secret rejected by billing",
            )
        }),
    ))
    .await;
    let server = Server::start(&upstream.base_url(), WorkflowServeOptions::default()).await;
    let failed = error_of(server.chat(&ask("math@fast", "What is 3 + 4?")).await, 502).await;
    let message = failed["error"]["message"].as_str().unwrap();
    assert_eq!(failed["error"]["code"], "upstream_error");
    assert!(message.contains("agent `"), "{message}");
    assert!(!message.contains("sk-upstream-secret"), "{message}");
    assert!(!message.contains(upstream.origin()), "{message}");
    assert!(!message.contains("127.0.0.1"), "{message}");
    // Streamed, a failure before the first token is the same status.
    let mut body = ask("math@fast", "What is 3 + 4?");
    body["stream"] = json!(true);
    let failed = error_of(server.chat(&body).await, 502).await;
    assert_eq!(failed["error"]["code"], "upstream_error");
    server.shutdown().await;
    upstream.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_stream_that_fails_after_its_first_token_ends_with_an_error_event() {
    let upstream = Loopback::router(axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(|| async {
            let chunk = json!({"id": "x", "object": "chat.completion.chunk", "created": 0,
                "model": "m", "choices": [{"index": 0, "delta": {"content": "partial"},
                "finish_reason": null}]});
            let failure = json!({"error": {"message": "sk-upstream-secret overloaded",
                "type": "server_error", "param": null, "code": null}});
            let body = format!("data: {chunk}\n\ndata: {failure}\n\n");
            ([("content-type", "text/event-stream")], body)
        }),
    ))
    .await;
    let server = Server::start(&upstream.base_url(), WorkflowServeOptions::default()).await;
    let mut body = ask("math@fast", "What is 3 + 4?");
    body["stream"] = json!(true);
    let resp = server.chat(&body).await;
    assert_eq!(resp.status(), 200, "the stream had started");
    let text = resp.text().await.unwrap();
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert!(
        data[1].contains("\"reasoning_content\":\"partial\""),
        "{text}"
    );
    let last: Value = serde_json::from_str(data[data.len() - 2]).unwrap();
    assert_eq!(last["error"]["code"], "upstream_error", "{text}");
    assert_eq!(data.last(), Some(&"[DONE]"));
    assert!(!text.contains("sk-upstream-secret"), "{text}");
    assert!(!text.contains(upstream.origin()), "{text}");
    server.shutdown().await;
    upstream.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_huge_bad_header_value_is_not_echoed_back_whole() {
    let zoo = start_zoo(0.0).await;
    let server = Server::start(zoo.base_url(), WorkflowServeOptions::default()).await;
    let huge = "9".repeat(30_000) + &"x".repeat(30_000);
    let resp = server
        .http
        .post(format!("{}/v1/chat/completions", server.base))
        .header("x-flowcompile-min-accuracy", &huge)
        .json(&ask("math", "What is 3 + 4?"))
        .send()
        .await
        .unwrap();
    let body = error_of(resp, 400).await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.len() < 400, "{} bytes", message.len());
    assert!(message.contains("(60000 bytes)"), "{message}");
    let resp = server
        .chat(&json!({"model": huge, "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    let body = error_of(resp, 404).await;
    assert!(body["error"]["message"].as_str().unwrap().len() < 400);
    server.shutdown().await;
}

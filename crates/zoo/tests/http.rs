//! The zoo server on loopback, called over HTTP with reqwest.

use std::sync::Arc;
use std::time::Instant;

use flowcompile_openai::{
    ChatCompletionChunk, ChatCompletionResponse, CompletionChunk, CompletionResponse,
    EmbeddingResponse, ErrorResponse, ModelList,
};
use flowcompile_testsupport::ZooServer;
use flowcompile_zoo::http::{serve_zoo, ZooServeOptions, AGENT_HEADER, LATENCY_HEADER};
use flowcompile_zoo::{GenOptions, Role, TaskSet, Zoo, ZooConfig, ZooRequest, FORCING_PHRASE};
use serde_json::{json, Value};

const Q: &str = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?";

fn zoo() -> Arc<Zoo> {
    let line = json!({"question": Q, "answer": "72", "level": 2}).to_string();
    let tasks = TaskSet::from_jsonl("gsm8k_server.jsonl", &line).unwrap();
    Arc::new(Zoo::new(ZooConfig::default(), vec![tasks]).unwrap())
}

struct Server {
    base: String,
    server: ZooServer,
    zoo: Arc<Zoo>,
}

impl Server {
    async fn start(opts: ZooServeOptions) -> Server {
        let server = ZooServer::start(zoo(), opts).await;
        Server {
            base: server.origin().to_owned(),
            zoo: server.zoo().clone(),
            server,
        }
    }

    async fn post(&self, path: &str, agent: Option<&str>, body: &Value) -> reqwest::Response {
        let mut req = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .json(body);
        if let Some(a) = agent {
            req = req.header(AGENT_HEADER, a);
        }
        req.send().await.unwrap()
    }

    async fn shutdown(self) {
        self.server.shutdown().await.unwrap();
    }
}

fn chat_body(seed: u64) -> Value {
    json!({
        "model": "zoo-8b",
        "messages": [{"role": "system", "content": "Solve it."}, {"role": "user", "content": Q}],
        "seed": seed,
        "temperature": 0.7,
    })
}

fn latency_of(resp: &reqwest::Response) -> f64 {
    resp.headers()[LATENCY_HEADER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The `data:` payloads of an SSE body.
fn sse_data(body: &str) -> Vec<&str> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect()
}

async fn error_of(resp: reqwest::Response, status: u16) -> ErrorResponse {
    assert_eq!(resp.status().as_u16(), status);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn health_and_models() {
    let s = Server::start(ZooServeOptions::default()).await;
    let health: Value = reqwest::get(format!("{}/health", s.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let models: ModelList = reqwest::get(format!("{}/v1/models", s.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = models.data.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["zoo-0.6b", "zoo-1.7b", "zoo-4b", "zoo-8b", "zoo-14b"]);
    s.shutdown().await;
}

#[tokio::test]
async fn chat_reply_matches_the_zoo_and_carries_usage_and_latency() {
    let s = Server::start(ZooServeOptions::default()).await;
    let resp = s
        .post(
            "/v1/chat/completions",
            Some("generate_solver"),
            &chat_body(4),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let latency = latency_of(&resp);
    let body: ChatCompletionResponse = resp.json().await.unwrap();
    assert_eq!(body.model, "zoo-8b");
    assert_eq!(body.object, "chat.completion");
    assert_eq!(body.system_fingerprint.as_deref(), Some("zoo (synthetic)"));
    let content = body.choices[0].message.content.clone().unwrap();
    assert!(content.starts_with("<think>\n"), "{content}");

    let messages = chat_body(4)["messages"].clone();
    let messages: Vec<flowcompile_openai::ChatMessage> = serde_json::from_value(messages).unwrap();
    let want = s
        .zoo
        .chat(
            "zoo-8b",
            Some("generate_solver"),
            &messages,
            &GenOptions {
                sample: 4,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(content, want.text);
    assert_eq!(latency, want.latency_s);
    let usage = body.usage.unwrap();
    assert_eq!(
        (usage.completion_tokens, usage.reasoning_tokens()),
        (want.completion_tokens, Some(want.reasoning_tokens))
    );
    assert_eq!(
        usage.total_tokens,
        usage.prompt_tokens + usage.completion_tokens
    );
    assert_eq!(body.choices[0].finish_reason.as_deref(), Some("stop"));
    s.shutdown().await;
}

#[tokio::test]
async fn same_seed_same_reply_and_seeds_are_samples() {
    let s = Server::start(ZooServeOptions::default()).await;
    let content = |b: ChatCompletionResponse| b.choices[0].message.content.clone().unwrap();
    let a = content(
        s.post("/v1/chat/completions", None, &chat_body(1))
            .await
            .json()
            .await
            .unwrap(),
    );
    let b = content(
        s.post("/v1/chat/completions", None, &chat_body(1))
            .await
            .json()
            .await
            .unwrap(),
    );
    assert_eq!(a, b);
    let mut distinct = std::collections::BTreeSet::new();
    for seed in 0..8 {
        distinct.insert(content(
            s.post("/v1/chat/completions", None, &chat_body(seed))
                .await
                .json()
                .await
                .unwrap(),
        ));
    }
    assert!(distinct.len() > 1, "different seeds give different samples");

    let mut body = chat_body(1);
    body["n"] = json!(3);
    let multi: ChatCompletionResponse = s
        .post("/v1/chat/completions", None, &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(multi.choices.len(), 3);
    assert_eq!(
        multi.choices[0].message.content.as_deref(),
        Some(a.as_str()),
        "choice i uses seed + i"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn streamed_chat_equals_the_plain_reply_and_ends_with_usage_and_done() {
    let s = Server::start(ZooServeOptions::default()).await;
    let plain: ChatCompletionResponse = s
        .post("/v1/chat/completions", None, &chat_body(2))
        .await
        .json()
        .await
        .unwrap();
    let mut body = chat_body(2);
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let resp = s.post("/v1/chat/completions", None, &body).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    assert!(latency_of(&resp) > 0.0);
    let text = resp.text().await.unwrap();
    let data = sse_data(&text);
    assert_eq!(*data.last().unwrap(), "[DONE]");
    let chunks: Vec<ChatCompletionChunk> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(
        chunks[0].choices[0].delta.role.as_deref(),
        Some("assistant")
    );
    let content: String = chunks
        .iter()
        .flat_map(|c| &c.choices)
        .filter_map(|c| c.delta.content.as_deref())
        .collect();
    assert_eq!(content, plain.choices[0].message.content.clone().unwrap());
    assert!(chunks.len() > 4, "streamed in several chunks");
    let finish: Vec<&str> = chunks
        .iter()
        .flat_map(|c| &c.choices)
        .filter_map(|c| c.finish_reason.as_deref())
        .collect();
    assert_eq!(finish, ["stop"]);
    let last = chunks.last().unwrap();
    assert!(last.choices.is_empty());
    assert_eq!(last.usage, plain.usage);
    s.shutdown().await;
}

#[tokio::test]
async fn thinking_switches_and_limits_follow_the_contract() {
    let s = Server::start(ZooServeOptions::default()).await;
    let content = |b: &ChatCompletionResponse| b.choices[0].message.content.clone().unwrap();

    let mut off = chat_body(0);
    off["chat_template_kwargs"] = json!({"enable_thinking": false});
    let r: ChatCompletionResponse = s
        .post("/v1/chat/completions", None, &off)
        .await
        .json()
        .await
        .unwrap();
    assert!(!content(&r).contains("<think>"));
    assert_eq!(r.usage.unwrap().reasoning_tokens(), Some(0));

    let mut low = chat_body(0);
    low["model"] = json!("zoo-0.6b");
    low["reasoning_effort"] = json!("low");
    let r: ChatCompletionResponse = s
        .post("/v1/chat/completions", None, &low)
        .await
        .json()
        .await
        .unwrap();
    assert!(r.usage.unwrap().reasoning_tokens().unwrap() <= 512);

    let mut cut = chat_body(0);
    cut["max_completion_tokens"] = json!(7);
    let r: ChatCompletionResponse = s
        .post("/v1/chat/completions", None, &cut)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r.choices[0].finish_reason.as_deref(), Some("length"));
    assert_eq!(r.usage.as_ref().unwrap().completion_tokens, 7);
    assert_eq!(content(&r).split_whitespace().count(), 7);
    s.shutdown().await;
}

#[tokio::test]
async fn agent_header_selects_the_role() {
    let s = Server::start(ZooServeOptions::default()).await;
    assert_eq!(s.zoo.role_of("sc_ensemble"), Role::Select);
    let prompt = format!("{Q}\nCandidate 1: \\boxed{{72}}\nCandidate 2: \\boxed{{96}}\nCandidate 3: \\boxed{{72}}\nPick the best; answer in <answer></answer>.");
    for seed in 0..5 {
        let body = json!({"model": "zoo-14b", "messages": [{"role": "user", "content": prompt}], "seed": seed});
        let r: ChatCompletionResponse = s
            .post("/v1/chat/completions", Some("sc_ensemble"), &body)
            .await
            .json()
            .await
            .unwrap();
        let c = r.choices[0].message.content.clone().unwrap();
        assert!(
            c.ends_with("<answer>72</answer>") || c.ends_with("<answer>96</answer>"),
            "{c}"
        );
    }
    s.shutdown().await;
}

#[tokio::test]
async fn budget_forcing_round_trip_via_completions() {
    let s = Server::start(ZooServeOptions::default()).await;
    let prompt = format!("<|im_start|>user\n{Q}<|im_end|>\n<|im_start|>assistant\n");
    let budget = 30u64;
    let first = s
        .post(
            "/v1/completions",
            Some("solver"),
            &json!({"model": "zoo-1.7b", "prompt": prompt, "max_tokens": budget, "seed": 5}),
        )
        .await;
    let first: CompletionResponse = first.json().await.unwrap();
    assert_eq!(first.object, "text_completion");
    assert_eq!(first.choices[0].finish_reason.as_deref(), Some("length"));
    let thought = &first.choices[0].text;
    assert!(
        thought.starts_with("<think>\n") && !thought.contains("</think>"),
        "{thought}"
    );
    assert_eq!(first.usage.unwrap().completion_tokens, budget);

    let forced = format!("{prompt}{thought}\n{FORCING_PHRASE}\n</think>\n\n");
    let second = s
        .post(
            "/v1/completions",
            Some("solver"),
            &json!({"model": "zoo-1.7b", "prompt": forced, "max_tokens": 200, "seed": 5}),
        )
        .await;
    let second: CompletionResponse = second.json().await.unwrap();
    let answer_text = &second.choices[0].text;
    assert_eq!(second.choices[0].finish_reason.as_deref(), Some("stop"));
    assert!(
        !answer_text.contains("think") && answer_text.contains("\\boxed{"),
        "{answer_text}"
    );
    assert_eq!(second.usage.unwrap().reasoning_tokens(), Some(0));

    let zoo = &s.zoo;
    let req = ZooRequest {
        model: zoo.model_id("zoo-1.7b").unwrap(),
        agent: "solver",
        role: Role::Solve,
        task: zoo.find_task(Q),
        inputs: &[],
        budget_tokens: budget - 1,
        sample: 5,
    };
    let inproc = zoo.respond(&req).unwrap();
    assert!(
        answer_text.ends_with(&format!("\\boxed{{{}}}.", inproc.answer)),
        "{answer_text} vs {}",
        inproc.answer
    );
    s.shutdown().await;
}

#[tokio::test]
async fn streamed_completions_equal_plain_ones_for_a_batch_of_prompts() {
    let s = Server::start(ZooServeOptions::default()).await;
    let body = json!({"model": "zoo-4b", "prompt": [Q, "Say hello."], "seed": 9, "n": 2});
    let plain: CompletionResponse = s
        .post("/v1/completions", None, &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(plain.choices.len(), 4);
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let text = s
        .post("/v1/completions", None, &streamed)
        .await
        .text()
        .await
        .unwrap();
    let data = sse_data(&text);
    assert_eq!(*data.last().unwrap(), "[DONE]");
    let chunks: Vec<CompletionChunk> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(
        chunks.iter().all(|c| c.usage.is_none()),
        "no usage chunk unless asked"
    );
    for (i, choice) in plain.choices.iter().enumerate() {
        let joined: String = chunks
            .iter()
            .flat_map(|c| &c.choices)
            .filter(|c| c.index as usize == i)
            .map(|c| c.text.as_str())
            .collect();
        assert_eq!(joined, choice.text, "choice {i}");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn embeddings_are_normalised_and_deterministic() {
    let s = Server::start(ZooServeOptions::default()).await;
    let body = json!({"model": "zoo-embed", "input": [Q, "something else entirely"]});
    let a: EmbeddingResponse = s
        .post("/v1/embeddings", None, &body)
        .await
        .json()
        .await
        .unwrap();
    let b: EmbeddingResponse = s
        .post("/v1/embeddings", None, &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(a.data.len(), 2);
    for e in &a.data {
        assert_eq!(e.embedding.len(), 256);
        let norm: f32 = e.embedding.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-4);
    }
    assert_eq!(a.data[0].embedding, Zoo::embed(Q));
    s.shutdown().await;
}

#[tokio::test]
async fn client_mistakes_get_4xx_and_the_openai_error_body() {
    let opts = ZooServeOptions {
        body_limit_bytes: 4096,
        ..Default::default()
    };
    let s = Server::start(opts).await;
    let client = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", s.base);

    let raw = client
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let e = error_of(raw, 400).await;
    assert!(
        e.error.message.starts_with("malformed JSON"),
        "{}",
        e.error.message
    );
    assert_eq!(e.error.kind.as_deref(), Some("invalid_request_error"));

    let e = error_of(
        s.post("/v1/chat/completions", None, &json!({"messages": []}))
            .await,
        400,
    )
    .await;
    assert!(
        e.error.message.contains("missing field `model`"),
        "{}",
        e.error.message
    );

    let mut unknown = chat_body(0);
    unknown["model"] = json!("gpt-4o");
    let e = error_of(s.post("/v1/chat/completions", None, &unknown).await, 404).await;
    assert_eq!(e.error.code, Some(json!("model_not_found")));
    assert_eq!(e.error.param.as_deref(), Some("model"));
    let e = error_of(
        s.post(
            "/v1/completions",
            None,
            &json!({"model": "nope", "prompt": "x"}),
        )
        .await,
        404,
    )
    .await;
    assert!(e.error.message.contains("unknown model `nope`"));

    let big =
        json!({"model": "zoo-8b", "messages": [{"role": "user", "content": "x".repeat(10_000)}]});
    let e = error_of(s.post("/v1/chat/completions", None, &big).await, 413).await;
    assert_eq!(e.error.code, Some(json!("request_too_large")));

    for (field, value, param) in [
        ("reasoning_effort", json!("extreme"), "reasoning_effort"),
        ("n", json!(0), "n"),
        ("max_tokens", json!(0), "max_tokens"),
        ("messages", json!([]), "messages"),
    ] {
        let mut body = chat_body(0);
        body[field] = value;
        let e = error_of(s.post("/v1/chat/completions", None, &body).await, 400).await;
        assert_eq!(e.error.param.as_deref(), Some(param));
    }
    let e = error_of(
        s.post("/v1/embeddings", None, &json!({"model": "m", "input": []}))
            .await,
        400,
    )
    .await;
    assert_eq!(e.error.param.as_deref(), Some("input"));

    let e = error_of(
        client
            .get(format!("{}/v1/nothing", s.base))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    assert!(e.error.message.contains("/v1/nothing"));
    let e = error_of(client.get(&url).send().await.unwrap(), 405).await;
    assert!(e.error.message.contains("GET"));
    s.shutdown().await;
}

#[tokio::test]
async fn the_server_sleeps_the_scaled_latency() {
    let time_scale = 0.01;
    let s = Server::start(ZooServeOptions {
        time_scale,
        ..Default::default()
    })
    .await;
    let mut body = chat_body(0);
    body["model"] = json!("zoo-14b");
    let start = Instant::now();
    let resp = s.post("/v1/chat/completions", None, &body).await;
    let elapsed = start.elapsed().as_secs_f64();
    let modelled = latency_of(&resp);
    assert!(
        elapsed >= modelled * time_scale,
        "{elapsed} < {modelled} x {time_scale}"
    );
    body["stream"] = json!(true);
    let start = Instant::now();
    s.post("/v1/chat/completions", None, &body)
        .await
        .text()
        .await
        .unwrap();
    let elapsed = start.elapsed().as_secs_f64();
    assert!(
        elapsed >= modelled * time_scale * 0.99,
        "streamed: {elapsed} < {modelled} x {time_scale}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn invalid_time_scale_is_refused() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let opts = ZooServeOptions {
        time_scale: -1.0,
        ..Default::default()
    };
    let err = serve_zoo(listener, zoo(), opts, async {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("time_scale"), "{err}");
}

//! Round trips against the real zoo server (`flowcompile_zoo::http`) on 127.0.0.1.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::{self, Next};
use flowcompile_client::{CallOutcome, CallRequest, Client, Providers};
use flowcompile_openai::ChatMessage;
use flowcompile_testsupport::{Loopback, ZooServer};
use flowcompile_zoo::http::{zoo_router, ZooServeOptions};
use flowcompile_zoo::{Role, TaskSet, Zoo, ZooConfig, ZooRequest};

const TASKS: &str = r#"{"id": "t1", "question": "Tom has 17 apples and buys 25 more. How many apples does he have now?", "answer": "42"}
{"id": "t2", "question": "A train travels 60 miles per hour for 3 hours. How far does it go?", "answer": "180"}
"#;
pub(crate) const MODEL: &str = "zoo-0.6b";

pub(crate) fn new_zoo() -> Arc<Zoo> {
    let tasks = TaskSet::from_jsonl("gsm8k_test.jsonl", TASKS).unwrap();
    Arc::new(Zoo::new(ZooConfig::default(), vec![tasks]).unwrap())
}

fn options(time_scale: f64) -> ZooServeOptions {
    ZooServeOptions {
        time_scale,
        ..Default::default()
    }
}

/// Starts the zoo server on 127.0.0.1:0 with `time_scale` (it stops when dropped).
pub(crate) async fn start_zoo(time_scale: f64) -> ZooServer {
    ZooServer::start(new_zoo(), options(time_scale)).await
}

/// Providers with one workflow model name per budget mode, all on `MODEL`.
pub(crate) fn providers(base_url: &str) -> Providers {
    let mut toml = format!(
        "[defaults]\nbase_url = \"{base_url}\"\nmax_tokens = 200\nprice_in_per_mtok = 0.1\nprice_out_per_mtok = 0.4\n"
    );
    for (name, settings) in [
        ("forcing", "budget = \"forcing\"\nchat_template = \"qwen3\""),
        ("effort", "budget = \"reasoning_effort\""),
        ("capped", "budget = \"max_tokens\""),
        ("off", "budget = \"none\""),
        (
            "capped-raw",
            "api = \"completions\"\nbudget = \"max_tokens\"\nchat_template = \"chatml\"",
        ),
        (
            "off-raw",
            "api = \"completions\"\nbudget = \"none\"\nchat_template = \"qwen3\"",
        ),
    ] {
        toml.push_str(&format!(
            "[models.{name}]\nmodel = \"{MODEL}\"\n{settings}\n"
        ));
    }
    Providers::from_toml_str_with_env(&toml, "zoo-providers.toml", &|_| None).unwrap()
}

/// An HTTP client of [`providers`].
fn client(base_url: &str) -> Client {
    Client::new(providers(base_url)).unwrap()
}

pub(crate) fn question(task: usize) -> Vec<ChatMessage> {
    let q = TASKS.lines().nth(task).unwrap();
    let q: serde_json::Value = serde_json::from_str(q).unwrap();
    vec![
        ChatMessage::system("Solve the problem. Put the final answer in \\boxed{}."),
        ChatMessage::user(q["question"].as_str().unwrap()),
    ]
}

/// The `\boxed{...}` answer of a reply.
fn boxed(text: &str) -> &str {
    let start = text
        .rfind("\\boxed{")
        .map(|i| i + "\\boxed{".len())
        .expect("a boxed answer");
    &text[start..start + text[start..].find('}').unwrap()]
}

fn words(text: Option<&str>) -> u64 {
    text.map_or(0, |t| t.split_whitespace().count() as u64)
}

#[track_caller]
fn check_common(out: &CallOutcome) {
    assert_eq!(out.server_model, MODEL);
    assert!(
        !out.text.is_empty() && !out.text.contains("<think>") && !out.text.contains("</think>"),
        "{out:?}"
    );
    assert!(out.modelled_latency_s.unwrap() > 0.0);
    let usage = out.usage.unwrap();
    assert!(usage.prompt_tokens > 0 && usage.completion_tokens > 0);
    let expected_cost =
        (usage.prompt_tokens as f64 * 0.1 + usage.completion_tokens as f64 * 0.4) / 1e6;
    assert!((out.cost_usd.unwrap() - expected_cost).abs() < 1e-12);
    assert_eq!(out.attempts, 1 + u32::from(out.forced));
}

#[tokio::test]
async fn every_budget_mode_round_trips() {
    let server = start_zoo(0.0).await;
    let client = client(server.base_url());
    let call = |model: &'static str, budget: u32| {
        let client = client.clone();
        async move {
            let out = client
                .call(
                    CallRequest::new(model, question(0), budget)
                        .seed(3)
                        .agent("generate_solver"),
                )
                .await
                .unwrap();
            check_common(&out);
            out
        }
    };
    let full = call("capped", 100_000).await;
    let need = full.usage.unwrap().reasoning_tokens.unwrap();
    assert!(need > 300, "zoo-0.6b needs {need} thinking tokens");
    assert_eq!(words(full.reasoning.as_deref()), need);
    assert_eq!(full.finish_reason.as_deref(), Some("stop"));

    let cut = client
        .call(CallRequest::new("capped", question(0), 50).seed(3))
        .await
        .unwrap();
    assert_eq!(cut.finish_reason.as_deref(), Some("length"));
    assert_eq!(
        cut.text, "",
        "max_tokens = 50 + 200 answer tokens ends inside the thinking"
    );
    assert_eq!(cut.usage.unwrap().reasoning_tokens, Some(249));
    let raw = call("capped-raw", 100_000).await;
    assert_eq!(raw.usage.unwrap().reasoning_tokens, Some(need));

    for model in ["off", "off-raw"] {
        let off = call(model, 4000).await;
        assert_eq!(off.reasoning, None, "{model}");
        assert_eq!(off.usage.unwrap().reasoning_tokens, Some(0), "{model}");
    }

    let low = call("effort", 100).await;
    assert_eq!(low.usage.unwrap().reasoning_tokens, Some(need.min(512)));

    let forced = call("forcing", 100).await;
    assert!(forced.forced);
    let thought = forced.usage.unwrap().reasoning_tokens.unwrap();
    assert_eq!(thought, 99, "max_tokens 100 = <think> + 99 thinking tokens");
    assert_eq!(words(forced.reasoning.as_deref()), thought);
    assert!(thought < need);

    let streamed = client
        .call(
            CallRequest::new("forcing", question(0), 100)
                .seed(3)
                .agent("generate_solver")
                .stream(true),
        )
        .await
        .unwrap();
    assert!(streamed.forced && streamed.ttft_s.is_some());
    assert_eq!(
        (&streamed.text, &streamed.reasoning, streamed.usage),
        (&forced.text, &forced.reasoning, forced.usage)
    );

    let roomy = call("forcing", 100_000).await;
    assert!(!roomy.forced);
    assert_eq!(roomy.usage.unwrap().reasoning_tokens, Some(need));
    assert_eq!(roomy.text, full.text);
}

#[tokio::test]
async fn forcing_answers_with_the_effective_budget() {
    let server = start_zoo(0.0).await;
    let client = client(server.base_url());
    let model = server.zoo().model_id(MODEL).unwrap();
    let task = server.zoo().find_task(&question(1)[1].text()).unwrap();
    let budget = 60;
    let mut n_differ = 0;
    for seed in 0..8 {
        let out = client
            .call(CallRequest::new("forcing", question(1), budget).seed(seed))
            .await
            .unwrap();
        assert!(out.forced);
        let effective = out.usage.unwrap().reasoning_tokens.unwrap();
        let request = ZooRequest {
            model,
            agent: "",
            role: Role::Solve,
            task: Some(task),
            inputs: &[],
            budget_tokens: effective,
            sample: seed,
        };
        let expected = server.zoo().respond(&request).unwrap();
        assert_eq!(expected.thinking_tokens, effective);
        assert_eq!(boxed(&out.text), expected.answer, "seed {seed}");
        let other = server
            .zoo()
            .respond(&ZooRequest {
                budget_tokens: effective + 1,
                ..request
            })
            .unwrap();
        n_differ += usize::from(other.answer != expected.answer);
    }
    assert!(
        n_differ > 0,
        "the answers must depend on the budget for this check to mean anything"
    );
}

#[tokio::test]
async fn streaming_records_time_to_first_token() {
    let server = start_zoo(1.0).await;
    let client = client(server.base_url());
    for model in ["off", "off-raw"] {
        let out = client
            .call(CallRequest::new(model, question(0), 0).stream(true))
            .await
            .unwrap();
        check_common(&out);
        let ttft = out.ttft_s.unwrap();
        let zoo_ttft = 0.02;
        assert!(
            ttft >= zoo_ttft && ttft < out.latency_s,
            "{model}: ttft {ttft}, latency {}",
            out.latency_s
        );
        assert!(
            out.latency_s >= 0.9 * out.modelled_latency_s.unwrap(),
            "{out:?}"
        );
    }
    let plain = client
        .call(CallRequest::new("off", question(0), 0))
        .await
        .unwrap();
    let streamed = client
        .call(CallRequest::new("off", question(0), 0).stream(true))
        .await
        .unwrap();
    assert_eq!((plain.text, plain.usage), (streamed.text, streamed.usage));
}

#[tokio::test]
async fn concurrency_limit_holds_against_the_zoo() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let (now, max) = (in_flight.clone(), max_in_flight.clone());
    let counting = middleware::from_fn(move |req: Request, next: Next| {
        let (now, max) = (now.clone(), max.clone());
        async move {
            max.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
            let response = next.run(req).await;
            now.fetch_sub(1, Ordering::SeqCst);
            response
        }
    });
    let app = zoo_router(new_zoo(), options(1.5)).layer(counting);
    let server = Loopback::router(app).await;
    let base_url = server.base_url();

    let toml = format!(
        "[models.m]\nbase_url = \"{base_url}\"\nmodel = \"{MODEL}\"\nbudget = \"none\"\nconcurrency = 2\n"
    );
    let client =
        Client::new(Providers::from_toml_str_with_env(&toml, "p.toml", &|_| None).unwrap())
            .unwrap();
    let calls = (0..8).map(|seed| {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .call(CallRequest::new("m", question(0), 0).seed(seed))
                .await
        })
    });
    for result in futures::future::join_all(calls).await {
        let out = result.unwrap().unwrap();
        assert!(out.latency_s >= out.modelled_latency_s.unwrap(), "{out:?}");
    }
    assert_eq!(max_in_flight.load(Ordering::SeqCst), 2);
    assert_eq!(in_flight.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn embeddings_are_unit_vectors() {
    let server = start_zoo(0.0).await;
    let client = client(server.base_url());
    let texts = vec![
        "how many apples".to_string(),
        "how far does the train go".to_string(),
    ];
    let out = client.embed("off", &texts).await.unwrap();
    assert_eq!(out.vectors.len(), 2);
    for v in &out.vectors {
        assert_eq!(v.len(), 256);
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    }
    assert_eq!(out.prompt_tokens, Some(9));
}

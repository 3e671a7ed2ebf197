//! Faults and exact requests, against the scripted mock server.

use std::time::{Duration, Instant};

use flowcompile_client::{
    BudgetMode, CallRequest, ClientError, Delta, Failure, TokenUsage, AGENT_HEADER, EARLY_STOP,
};
use flowcompile_openai::ChatMessage;
use serde_json::json;

use crate::mock::{chat_body, completion_body, fast_client, providers, Mock, Reply};

fn chat_toml(base_url: &str, extra: &str) -> String {
    format!("[models.m]\nbase_url = \"{base_url}\"\nmodel = \"server-m\"\nmax_retries = 2\ntimeout_s = 5\n{extra}")
}

fn question() -> Vec<ChatMessage> {
    vec![ChatMessage::user("What is 2 + 2?")]
}

#[track_caller]
fn expect_failure(
    result: Result<flowcompile_client::CallOutcome, ClientError>,
    attempts: u32,
) -> Failure {
    match result {
        Err(ClientError::Request {
            attempts: a,
            failure,
            url,
            ..
        }) => {
            assert_eq!(a, attempts, "attempts of {failure:?}");
            assert!(url.ends_with("/v1/chat/completions"), "{url}");
            failure
        }
        other => panic!("expected a request failure, got {other:?}"),
    }
}

#[tokio::test]
async fn server_error_then_success_is_retried() {
    let mock = Mock::start(vec![
        Reply::status(500, "boom"),
        Reply::status(503, "busy"),
        Reply::ok(chat_body(
            "<think>\nadd\n</think>\n\nThe answer is 4.",
            "stop",
            12,
            9,
        )),
    ])
    .await;
    let client = fast_client(providers(&chat_toml(&mock.base_url(), ""), &[]));
    let out = client
        .call(CallRequest::new("m", question(), 100))
        .await
        .unwrap();
    assert_eq!(out.attempts, 3);
    assert_eq!(out.text, "The answer is 4.");
    assert_eq!(out.reasoning.as_deref(), Some("add"));
    assert_eq!(out.finish_reason.as_deref(), Some("stop"));
    assert_eq!(out.server_model, "server-model");
    assert_eq!(
        out.usage,
        Some(TokenUsage {
            prompt_tokens: 12,
            completion_tokens: 9,
            reasoning_tokens: None
        })
    );
    assert!(out.latency_s > 0.0 && out.total_s >= out.latency_s);
    assert_eq!(out.ttft_s, None);
    assert_eq!(mock.requests().len(), 3);
}

#[tokio::test]
async fn too_many_requests_honours_retry_after() {
    let mock = Mock::start(vec![
        Reply::Json {
            status: 429,
            body: json!({ "error": { "message": "slow down" } }),
            headers: vec![("retry-after", "0.3".into())],
        },
        Reply::ok(chat_body("4", "stop", 1, 1)),
    ])
    .await;
    let client = fast_client(providers(&chat_toml(&mock.base_url(), ""), &[]));
    let start = Instant::now();
    let out = client
        .call(CallRequest::new("m", question(), 0))
        .await
        .unwrap();
    let waited = start.elapsed();
    assert_eq!(out.attempts, 2);
    assert!(
        waited >= Duration::from_millis(300),
        "waited only {waited:?}"
    );
    assert!(out.total_s >= 0.3 && out.latency_s < 0.3, "{out:?}");
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let mock = Mock::start(vec![Reply::status(400, "messages must not be empty")]).await;
    let client = fast_client(providers(&chat_toml(&mock.base_url(), ""), &[]));
    let failure = expect_failure(client.call(CallRequest::new("m", question(), 0)).await, 1);
    assert_eq!(
        failure,
        Failure::Status {
            status: 400,
            message: "messages must not be empty".into()
        }
    );
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn non_json_bodies_are_retried_then_fail() {
    let mock = Mock::start(vec![Reply::Text {
        status: 200,
        body: "<html>oops</html>",
    }])
    .await;
    let client = fast_client(providers(&chat_toml(&mock.base_url(), ""), &[]));
    let failure = expect_failure(client.call(CallRequest::new("m", question(), 0)).await, 3);
    assert!(
        matches!(&failure, Failure::Body(m) if m.starts_with("invalid JSON")),
        "{failure:?}"
    );
    assert_eq!(mock.requests().len(), 3);
}

#[tokio::test]
async fn a_reply_without_choices_is_an_error_not_an_empty_answer() {
    let mock = Mock::start(vec![Reply::ok(json!({ "id": "x", "choices": [] }))]).await;
    let client = fast_client(providers(&chat_toml(&mock.base_url(), ""), &[]));
    let err = client
        .call(CallRequest::new("m", question(), 0))
        .await
        .unwrap_err();
    assert_eq!(err.failure(), Some(&Failure::NoChoices));
    assert_eq!(err.attempts(), 3);
    assert!(
        err.to_string()
            .contains("failed after 3 attempt(s): the reply has no choices"),
        "{err}"
    );
}

#[tokio::test]
async fn no_choices_then_choices_succeeds() {
    let mock = Mock::start(vec![
        Reply::ok(json!({ "choices": [] })),
        Reply::ok(chat_body("4", "stop", 1, 1)),
    ])
    .await;
    let client = fast_client(providers(&chat_toml(&mock.base_url(), ""), &[]));
    let out = client
        .call(CallRequest::new("m", question(), 0))
        .await
        .unwrap();
    assert_eq!((out.text.as_str(), out.attempts), ("4", 2));
}

#[tokio::test]
async fn a_hanging_server_times_out_per_attempt() {
    let mock = Mock::start(vec![Reply::Hang]).await;
    let toml = format!(
        "[models.m]\nbase_url = \"{}\"\nmax_retries = 1\ntimeout_s = 0.2\n",
        mock.base_url()
    );
    let client = fast_client(providers(&toml, &[]));
    let start = Instant::now();
    let failure = expect_failure(client.call(CallRequest::new("m", question(), 0)).await, 2);
    let elapsed = start.elapsed();
    assert_eq!(failure, Failure::Timeout { timeout_s: 0.2 });
    assert!(
        elapsed >= Duration::from_millis(400) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn connection_refused_is_retried_then_fails() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = fast_client(providers(&chat_toml(&format!("http://{addr}/v1"), ""), &[]));
    let failure = expect_failure(client.call(CallRequest::new("m", question(), 0)).await, 3);
    assert!(matches!(failure, Failure::Connection(_)), "{failure:?}");
}

#[tokio::test]
async fn unknown_models_and_bad_agent_names_are_rejected_before_sending() {
    let mock = Mock::start(vec![Reply::ok(chat_body("4", "stop", 1, 1))]).await;
    let client = fast_client(providers(&chat_toml(&mock.base_url(), ""), &[]));
    let err = client
        .call(CallRequest::new("nope", question(), 0))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ClientError::UnknownModel {
            model: "nope".into()
        }
    );
    let err = client
        .call(CallRequest::new("m", question(), 0).agent("a\nb"))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::InvalidRequest { .. }), "{err:?}");
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn request_carries_key_agent_seed_headers_and_budget_fields() {
    let mock = Mock::start(vec![Reply::Json {
        status: 200,
        body: chat_body("4", "stop", 5, 3),
        headers: vec![("x-zoo-latency-s", "1.25".into())],
    }])
    .await;
    let toml = chat_toml(
        &mock.base_url(),
        "api_key_env = \"TEST_KEY\"\nbudget = \"max_tokens\"\nmax_tokens = 64\nheaders = { \"x-team\" = \"blue\" }\nprice_in_per_mtok = 1.0\nprice_out_per_mtok = 4.0\n",
    );
    let client = fast_client(providers(&toml, &[("TEST_KEY", "sk-abc")]));
    let out = client
        .call(
            CallRequest::new("m", question(), 500)
                .seed(9)
                .agent("solver"),
        )
        .await
        .unwrap();
    assert_eq!(out.modelled_latency_s, Some(1.25));
    assert!((out.cost_usd.unwrap() - (5.0 * 1.0 + 3.0 * 4.0) / 1e6).abs() < 1e-15);
    let req = &mock.requests()[0];
    assert_eq!(req.path, "/v1/chat/completions");
    assert_eq!(req.headers["authorization"], "Bearer sk-abc");
    assert_eq!(req.headers[AGENT_HEADER], "solver");
    assert_eq!(req.headers["x-team"], "blue");
    assert_eq!(
        req.body,
        json!({ "model": "server-m", "messages": [{ "role": "user", "content": "What is 2 + 2?" }],
                "max_tokens": 564, "seed": 9 })
    );
}

#[tokio::test]
async fn reasoning_effort_and_no_thinking_bodies() {
    let mock = Mock::start(vec![Reply::ok(chat_body("4", "stop", 1, 1))]).await;
    let toml = format!(
        "[models.effort]\nbase_url = \"{0}\"\nbudget = \"reasoning_effort\"\n\
         [models.off]\nbase_url = \"{0}\"\nbudget = \"none\"\nmax_tokens = 32\n",
        mock.base_url()
    );
    let client = fast_client(providers(&toml, &[]));
    client
        .call(CallRequest::new("effort", question(), 8000))
        .await
        .unwrap();
    let off = client
        .call(CallRequest::new("off", question(), 8000))
        .await
        .unwrap();
    assert_eq!(off.usage.unwrap().reasoning_tokens, Some(0));
    let requests = mock.requests();
    assert_eq!(requests[0].body["reasoning_effort"], "high");
    assert!(requests[0].body.get("max_tokens").is_none());
    assert_eq!(
        requests[1].body["chat_template_kwargs"],
        json!({ "enable_thinking": false })
    );
    assert_eq!(requests[1].body["max_tokens"], 32);
}

#[tokio::test]
async fn forcing_appends_the_early_stop_text_and_sums_both_requests() {
    let mock = Mock::start(vec![
        Reply::Json {
            status: 200,
            body: completion_body("<think>\nstep one step two", "length", 20, 6),
            headers: vec![("x-zoo-latency-s", "0.5".into())],
        },
        Reply::Json {
            status: 200,
            body: completion_body("The answer is \\boxed{4}.", "stop", 40, 7),
            headers: vec![("x-zoo-latency-s", "0.25".into())],
        },
    ])
    .await;
    let toml = format!(
        "[models.q]\nbase_url = \"{}\"\nbudget = \"forcing\"\nchat_template = \"qwen3\"\nmax_tokens = 50\nprice_out_per_mtok = 1.0\n",
        mock.base_url()
    );
    let client = fast_client(providers(&toml, &[]));
    let out = client
        .call(CallRequest::new("q", question(), 6).seed(1))
        .await
        .unwrap();
    assert!(out.forced);
    assert_eq!(out.text, "The answer is \\boxed{4}.");
    assert_eq!(out.reasoning.as_deref(), Some("step one step two"));
    assert_eq!(
        out.usage,
        Some(TokenUsage {
            prompt_tokens: 60,
            completion_tokens: 13,
            reasoning_tokens: Some(6)
        })
    );
    assert_eq!(out.modelled_latency_s, Some(0.75));
    assert_eq!(out.attempts, 2);
    assert!((out.cost_usd.unwrap() - 13e-6).abs() < 1e-15);
    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    let prompt = "<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n";
    assert_eq!(requests[0].path, "/v1/completions");
    assert_eq!(
        requests[0].body,
        json!({ "model": "q", "prompt": prompt, "max_tokens": 6, "seed": 1 })
    );
    assert_eq!(
        requests[1].body,
        json!({ "model": "q", "prompt": format!("{prompt}<think>\nstep one step two\n{EARLY_STOP}"),
                "max_tokens": 50, "seed": 1 })
    );
}

#[tokio::test]
async fn forcing_keeps_a_thinking_that_closed_within_the_budget() {
    let mock = Mock::start(vec![Reply::ok(completion_body(
        "<think>\nshort\n</think>\n\n4",
        "stop",
        20,
        5,
    ))])
    .await;
    let toml = format!(
        "[models.q]\nbase_url = \"{}\"\nbudget = \"forcing\"\nchat_template = \"chatml\"\n",
        mock.base_url()
    );
    let client = fast_client(providers(&toml, &[]));
    let out = client
        .call(CallRequest::new("q", question(), 1000))
        .await
        .unwrap();
    assert!(!out.forced);
    assert_eq!(
        (out.text.as_str(), out.reasoning.as_deref()),
        ("4", Some("short"))
    );
    assert_eq!(mock.requests().len(), 1);
    let zero = client
        .call(CallRequest::new("q", question(), 0))
        .await
        .unwrap();
    assert_eq!(zero.usage.unwrap().reasoning_tokens, Some(0));
    let prompt = mock.requests()[1].body["prompt"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        prompt.ends_with("<|im_start|>assistant\n<think>\n\n</think>\n\n"),
        "{prompt:?}"
    );
}

fn chat_chunk(delta: serde_json::Value, finish: Option<&str>) -> serde_json::Value {
    json!({ "model": "server-model", "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] })
}

#[tokio::test]
async fn streaming_records_time_to_first_token_and_usage() {
    let events = vec![
        chat_chunk(json!({ "role": "assistant" }), None),
        chat_chunk(json!({ "content": "<think>\nhm\n</think>\n\n" }), None),
        chat_chunk(json!({ "content": "4" }), None),
        chat_chunk(json!({}), Some("stop")),
        json!({ "choices": [], "usage": { "prompt_tokens": 4, "completion_tokens": 6,
                "completion_tokens_details": { "reasoning_tokens": 3 } } }),
    ];
    let mock = Mock::start(vec![Reply::Stream {
        first_delay: Duration::from_millis(150),
        events,
        done: true,
    }])
    .await;
    let client = fast_client(providers(&chat_toml(&mock.base_url(), ""), &[]));
    let out = client
        .call(CallRequest::new("m", question(), 0).stream(true))
        .await
        .unwrap();
    assert_eq!(
        (out.text.as_str(), out.reasoning.as_deref()),
        ("4", Some("hm"))
    );
    let ttft = out.ttft_s.unwrap();
    assert!(
        ttft >= 0.15 && ttft <= out.latency_s,
        "ttft {ttft} latency {}",
        out.latency_s
    );
    assert_eq!(
        out.usage,
        Some(TokenUsage {
            prompt_tokens: 4,
            completion_tokens: 6,
            reasoning_tokens: Some(3)
        })
    );
    let body = &mock.requests()[0].body;
    assert_eq!(
        (&body["stream"], &body["stream_options"]),
        (&json!(true), &json!({ "include_usage": true }))
    );
}

#[tokio::test]
async fn a_stream_that_breaks_off_is_retried() {
    let mock = Mock::start(vec![
        Reply::Stream {
            first_delay: Duration::ZERO,
            events: vec![chat_chunk(json!({ "content": "4" }), None)],
            done: false,
        },
        Reply::Stream {
            first_delay: Duration::ZERO,
            events: vec![chat_chunk(json!({ "content": "5" }), Some("stop"))],
            done: true,
        },
    ])
    .await;
    let client = fast_client(providers(&chat_toml(&mock.base_url(), ""), &[]));
    let out = client
        .call(CallRequest::new("m", question(), 0).stream(true))
        .await
        .unwrap();
    assert_eq!((out.text.as_str(), out.attempts, out.usage), ("5", 2, None));
}

#[tokio::test]
async fn a_delta_sink_gets_the_reply_piece_by_piece_as_it_streams() {
    let events = vec![
        chat_chunk(json!({ "role": "assistant" }), None),
        chat_chunk(json!({ "reasoning_content": "hm" }), None),
        chat_chunk(json!({ "content": "4" }), None),
        chat_chunk(json!({ "content": "2" }), Some("stop")),
    ];
    let mock = Mock::start(vec![Reply::Stream {
        first_delay: Duration::ZERO,
        events,
        done: true,
    }])
    .await;
    let client = fast_client(providers(&chat_toml(&mock.base_url(), ""), &[]));
    let (sink, mut deltas) = tokio::sync::mpsc::unbounded_channel();
    let out = client
        .call(CallRequest::new("m", question(), 0).deltas(sink))
        .await
        .unwrap();
    assert_eq!(out.text, "42");
    let mut got = Vec::new();
    while let Ok(d) = deltas.try_recv() {
        got.push(d);
    }
    assert_eq!(
        got,
        vec![
            Delta::Reasoning("hm".into()),
            Delta::Text("4".into()),
            Delta::Text("2".into())
        ]
    );
    assert_eq!(mock.requests()[0].body["stream"], json!(true));
}

#[tokio::test]
async fn a_stream_that_breaks_off_after_its_text_went_out_is_not_retried() {
    let broken = || Reply::Stream {
        first_delay: Duration::ZERO,
        events: vec![chat_chunk(json!({ "content": "4" }), None)],
        done: false,
    };
    let whole = || Reply::Stream {
        first_delay: Duration::ZERO,
        events: vec![chat_chunk(json!({ "content": "5" }), Some("stop"))],
        done: true,
    };
    let mock = Mock::start(vec![broken(), whole()]).await;
    let client = fast_client(providers(&chat_toml(&mock.base_url(), ""), &[]));
    let (sink, mut deltas) = tokio::sync::mpsc::unbounded_channel();
    let err = client
        .call(CallRequest::new("m", question(), 0).deltas(sink))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Request { .. }), "{err}");
    assert_eq!(
        mock.requests().len(),
        1,
        "a retry would send the text twice"
    );
    assert_eq!(deltas.try_recv().unwrap(), Delta::Text("4".into()));
    assert!(deltas.try_recv().is_err());
}

#[tokio::test]
async fn concurrency_is_limited_per_base_url() {
    let mock = Mock::start(vec![Reply::Slow {
        delay: Duration::from_millis(100),
        body: chat_body("4", "stop", 1, 1),
    }])
    .await;
    let toml = format!(
        "[models.a]\nbase_url = \"{0}\"\nconcurrency = 3\n[models.b]\nbase_url = \"{0}/\"\n",
        mock.base_url()
    );
    let client = fast_client(providers(&toml, &[]));
    let calls = (0..12).map(|i| {
        let client = client.clone();
        tokio::spawn(async move {
            let model = if i % 2 == 0 { "a" } else { "b" };
            client.call(CallRequest::new(model, question(), 0)).await
        })
    });
    for result in futures::future::join_all(calls).await {
        assert_eq!(result.unwrap().unwrap().text, "4");
    }
    assert_eq!(mock.requests().len(), 12);
    assert_eq!(mock.max_in_flight(), 3);
}

#[tokio::test]
async fn embeddings_come_back_in_input_order() {
    let mock = Mock::start(vec![Reply::ok(json!({
        "object": "list", "model": "emb",
        "data": [ { "object": "embedding", "index": 1, "embedding": [0.0, 1.0] },
                  { "object": "embedding", "index": 0, "embedding": [1.0, 0.0] } ],
        "usage": { "prompt_tokens": 4, "total_tokens": 4 }
    }))])
    .await;
    let client = fast_client(providers(&chat_toml(&mock.base_url(), ""), &[]));
    let out = client
        .embed("m", &["a b".to_string(), "c d".to_string()])
        .await
        .unwrap();
    assert_eq!(out.vectors, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
    assert_eq!(out.prompt_tokens, Some(4));
    let req = &mock.requests()[0];
    assert_eq!(req.path, "/v1/embeddings");
    assert_eq!(
        req.body,
        json!({ "model": "server-m", "input": ["a b", "c d"] })
    );
}

#[tokio::test]
async fn the_key_never_shows_in_debug_display_or_errors() {
    const SECRET: &str = "sk-fake-flowcompile-0123456789abcdef";
    const VAR: &str = "FLOWCOMPILE_CLIENT_TEST_FAKE_KEY";
    std::env::set_var(VAR, SECRET);
    let mock = Mock::start(vec![Reply::status(
        401,
        &format!("Incorrect API key provided: {SECRET}"),
    )])
    .await;
    let toml = chat_toml(
        &mock.base_url(),
        &format!("api_key_env = \"{VAR}\"\nbudget = \"max_tokens\"\n"),
    );
    let providers = flowcompile_client::Providers::from_toml_str(&toml, "providers.toml").unwrap();
    assert_eq!(providers.get("m").unwrap().budget, BudgetMode::MaxTokens);
    let client = fast_client(providers.clone());
    let err = client
        .call(CallRequest::new("m", question(), 0))
        .await
        .unwrap_err();
    assert_eq!(err.attempts(), 1);
    assert_eq!(
        mock.requests()[0].headers["authorization"],
        format!("Bearer {SECRET}")
    );
    let missing = flowcompile_client::Providers::from_toml_str(
        &toml.replace(VAR, "FLOWCOMPILE_CLIENT_TEST_UNSET_KEY"),
        "providers.toml",
    )
    .unwrap_err();
    let shown = [
        format!("{providers:?}"),
        format!("{providers:#?}"),
        format!("{client:?}"),
        format!("{err}"),
        format!("{err:?}"),
        format!("{missing} {missing:?}"),
    ];
    for text in &shown {
        assert!(!text.contains(SECRET), "key printed in {text}");
    }
    assert!(
        shown[3].contains("Incorrect API key provided: <redacted>"),
        "{}",
        shown[3]
    );
    assert!(
        shown[5].contains("FLOWCOMPILE_CLIENT_TEST_UNSET_KEY"),
        "{}",
        shown[5]
    );
}

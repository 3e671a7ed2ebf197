//! The gateway on loopback in front of the zoo on loopback, called with reqwest.

use std::sync::Arc;

use flowcompile_client::Providers;
use flowcompile_gateway::gateway_router;
use flowcompile_testsupport::{Loopback, ZooServer};
use flowcompile_zoo::http::ZooServeOptions;
use flowcompile_zoo::{Zoo, ZooConfig};
use serde_json::{json, Value};

async fn start() -> (ZooServer, Loopback) {
    let zoo = Arc::new(Zoo::new(ZooConfig::default(), vec![]).unwrap());
    let upstream = ZooServer::start(zoo, ZooServeOptions::default()).await;
    let toml = format!(
        "[models.\"zoo-8b\"]\nbase_url = \"{}\"\nbudget = \"max_tokens\"\n",
        upstream.base_url()
    );
    let providers = Providers::from_toml_str(&toml, "providers.toml").unwrap();
    let gateway = Loopback::router(gateway_router(providers)).await;
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

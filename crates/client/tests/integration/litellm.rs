//! Compatibility through a real third-party OpenAI-compatible server: LiteLLM's proxy (from PyPI) in
//! front of the zoo. Runs when `FLOWCOMPILE_LITELLM` names the `litellm` executable (`.ci/run` installs
//! it into a virtualenv and sets it); otherwise the test says how to run it and returns.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flowcompile_client::{CallRequest, Client, Providers};
use flowcompile_openai::ChatMessage;
use flowcompile_testsupport::{free_port, ZooServer};
use flowcompile_zoo::http::ZooServeOptions;
use flowcompile_zoo::{TaskSet, Zoo, ZooConfig};

const QUESTION: &str = "Tom has 17 apples and buys 25 more. How many apples does he have now?";

struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn ask(base_url: &str, budget: &str) -> flowcompile_client::CallOutcome {
    let toml = format!(
        "[models.\"zoo-8b\"]\nbase_url = \"{base_url}\"\napi_key_env = \"FLOWCOMPILE_TEST_LITELLM_KEY\"\n{budget}\nmax_tokens = 300\n"
    );
    let client = Client::new(Providers::from_toml_str(&toml, "providers.toml").unwrap()).unwrap();
    let message = ChatMessage::user(format!("Answer in \\boxed{{}}.\n{QUESTION}"));
    client
        .call(CallRequest::new("zoo-8b", vec![message], 400).seed(7))
        .await
        .unwrap()
}

#[tokio::test]
async fn the_client_works_through_litellms_proxy() {
    let Ok(litellm) = std::env::var("FLOWCOMPILE_LITELLM") else {
        eprintln!("not run: set FLOWCOMPILE_LITELLM to a litellm executable (pip install 'litellm[proxy]')");
        return;
    };
    // Safety of set_var: this is the only test in the binary reading this variable.
    std::env::set_var("FLOWCOMPILE_TEST_LITELLM_KEY", "sk-flowcompile-test");
    let tasks = TaskSet::from_jsonl(
        "gsm8k_test.jsonl",
        &format!("{{\"question\": \"{QUESTION}\", \"answer\": \"42\"}}\n"),
    )
    .unwrap();
    let zoo = std::sync::Arc::new(Zoo::new(ZooConfig::default(), vec![tasks]).unwrap());
    let server = ZooServer::start(zoo, ZooServeOptions::default()).await;
    let zoo_url = server.base_url();

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("litellm.yaml");
    std::fs::write(
        &config,
        format!(
            "model_list:\n  - model_name: zoo-8b\n    litellm_params:\n      model: openai/zoo-8b\n      api_base: {zoo_url}\n      api_key: none\ngeneral_settings:\n  master_key: sk-flowcompile-test\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let _proxy = Proxy(
        Command::new(&litellm)
            .args([
                "--config",
                &config.display().to_string(),
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("litellm starts"),
    );
    let proxy_url = format!("http://127.0.0.1:{port}/v1");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "litellm did not start listening in 180 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    for budget in ["budget = \"max_tokens\"", "budget = \"reasoning_effort\""] {
        let direct = ask(zoo_url, budget).await;
        let proxied = ask(&proxy_url, budget).await;
        assert!(!proxied.text.is_empty(), "{budget}: {proxied:?}");
        assert_eq!(
            proxied.text, direct.text,
            "{budget}: the proxy must pass the request through unchanged"
        );
        let usage = proxied.usage.expect("litellm reports usage");
        assert!(usage.completion_tokens > 0);
    }
}

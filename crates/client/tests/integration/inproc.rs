//! The in-process zoo transport gives what the zoo server on loopback gives, call for call.

use flowcompile_client::{CallOutcome, CallRequest, Client, ClientError, Failure, Providers};
use flowcompile_openai::ChatMessage;

use super::zoo::{new_zoo, providers, question, start_zoo, MODEL};

/// Everything but the wall-clock measurements, which differ between transports.
fn comparable(out: &CallOutcome) -> impl PartialEq + std::fmt::Debug + '_ {
    (
        &out.text,
        &out.reasoning,
        out.usage,
        out.modelled_latency_s,
        out.attempts,
        out.forced,
        out.cost_usd,
        &out.finish_reason,
        &out.server_model,
        out.ttft_s.is_some(),
    )
}

#[tokio::test]
async fn every_budget_mode_matches_the_http_zoo() {
    let server = start_zoo(0.0).await;
    let http = Client::new(providers(server.base_url())).unwrap();
    let local = Client::with_zoo(providers(server.base_url()), server.zoo().clone());
    assert!(local.is_in_process() && !http.is_in_process());
    let mut n_forced = 0;
    for model in [
        "forcing",
        "effort",
        "capped",
        "off",
        "capped-raw",
        "off-raw",
    ] {
        for budget in [0, 50, 100, 2000, 100_000] {
            for (seed, stream) in [(0, false), (3, false), (3, true)] {
                let request = || {
                    CallRequest::new(model, question(seed as usize % 2), budget)
                        .seed(seed)
                        .agent("generate_solver")
                        .stream(stream)
                };
                let over_http = http.call(request()).await.unwrap();
                let in_process = local.call(request()).await.unwrap();
                assert_eq!(
                    comparable(&in_process),
                    comparable(&over_http),
                    "{model} budget {budget} seed {seed} stream {stream}"
                );
                n_forced += usize::from(in_process.forced);
            }
        }
    }
    assert!(n_forced > 0, "forcing must have cut some thinking short");
    let texts = vec!["how many apples".to_string(), "a train".to_string()];
    let (a, b) = (
        http.embed("off", &texts).await.unwrap(),
        local.embed("off", &texts).await.unwrap(),
    );
    assert_eq!((a.vectors, a.prompt_tokens), (b.vectors, b.prompt_tokens));
}

#[tokio::test]
async fn refusals_match_the_http_zoo() {
    let server = start_zoo(0.0).await;
    let toml = format!(
        "[models.ghost]\nbase_url = \"{}\"\nmodel = \"zoo-99b\"\nmax_retries = 0\n[models.m]\nbase_url = \"{}\"\nmodel = \"{MODEL}\"\nmax_retries = 0\n",
        server.base_url(), server.base_url()
    );
    let providers = || Providers::from_toml_str_with_env(&toml, "p.toml", &|_| None).unwrap();
    let http = Client::new(providers()).unwrap();
    let local = Client::with_zoo(providers(), new_zoo());
    let failure = |e: ClientError| e.failure().cloned().unwrap();
    let ask = |model| CallRequest::new(model, vec![ChatMessage::user("hi")], 10);
    let (a, b) = (
        http.call(ask("ghost")).await.unwrap_err(),
        local.call(ask("ghost")).await.unwrap_err(),
    );
    assert!(matches!(
        failure(b.clone()),
        Failure::Status { status: 404, .. }
    ));
    assert_eq!(failure(a), failure(b.clone()));
    assert!(
        b.to_string().contains("zoo:in-process/v1/chat/completions"),
        "{b}"
    );
    let (a, b) = (
        http.call(ask("m").agent("solvér")).await.unwrap_err(),
        local.call(ask("m").agent("solvér")).await.unwrap_err(),
    );
    assert!(matches!(
        failure(b.clone()),
        Failure::Status { status: 400, .. }
    ));
    assert_eq!(failure(a), failure(b));
    assert!(local.call(ask("nope")).await.is_err());
}

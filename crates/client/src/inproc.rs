//! The in-process transport: request bodies served by a [`Zoo`] in this process, no HTTP.
//!
//! Each attempt hands the typed body to the zoo's shared request logic ([`Zoo::serve_chat`],
//! [`Zoo::serve_completion`], [`Zoo::serve_embeddings`], the same functions the zoo's HTTP server calls)
//! and reads choice 0 as [`crate::Client`] reads a parsed HTTP reply: text, finish reason, usage with
//! thinking tokens, the model id, and the modelled latency the server would send in its header. A
//! refusal becomes the [`Failure::Status`] the server would answer with (400, 404 or 500, same message).

use std::time::Instant;

use flowcompile_zoo::{RequestError, Served, Zoo};

use crate::client::{Body, Endpoint, Exchange, Failure, AGENT_HEADER};

/// What errors name as the endpoint of an in-process call.
pub(crate) fn url(endpoint: Endpoint) -> String {
    format!("zoo:in-process/v1/{}", endpoint.path())
}

/// Whether the agent name is a header value the zoo server accepts (visible ASCII or tab).
fn is_visible_ascii(text: &str) -> bool {
    text.bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

fn refused(e: RequestError) -> Failure {
    Failure::Status {
        status: e.status(),
        message: e.to_string(),
    }
}

/// Choice 0 of `served` as an exchange.
fn exchange(served: Served, model: &str) -> Result<Exchange, Failure> {
    let usage = served.usage();
    let modelled_latency_s = served.latency_s();
    let first = served
        .replies
        .into_iter()
        .next()
        .ok_or(Failure::NoChoices)?;
    Ok(Exchange {
        finish_reason: Some(first.finish_reason.as_str().to_string()),
        text: first.text,
        usage: Some(usage),
        server_model: model.to_string(),
        modelled_latency_s: Some(modelled_latency_s),
        ..Default::default()
    })
}

/// One attempt of `body` from `agent` against `zoo`. A streamed call gets its time to first token as
/// the wall time to the whole reply (the text arrives at once).
pub(crate) fn attempt(
    zoo: &Zoo,
    body: Body<'_>,
    agent: Option<&str>,
    stream: bool,
    started: Instant,
) -> Result<Exchange, Failure> {
    if agent.is_some_and(|a| !is_visible_ascii(a)) {
        return Err(Failure::Status {
            status: 400,
            message: format!("header `{AGENT_HEADER}` must be visible ASCII"),
        });
    }
    let ex = match body {
        Body::Chat(req) => exchange(zoo.serve_chat(req, agent).map_err(refused)?, &req.model)?,
        Body::Completions(req) => exchange(
            zoo.serve_completion(req, agent).map_err(refused)?,
            &req.model,
        )?,
        Body::Embeddings(req) => {
            let response = zoo.serve_embeddings(req).map_err(refused)?;
            Exchange {
                server_model: response.model.clone(),
                embeddings: Some(response),
                ..Default::default()
            }
        }
    };
    let ttft_s = (stream && !ex.text.is_empty()).then(|| started.elapsed().as_secs_f64());
    Ok(Exchange { ttft_s, ..ex })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_names_follow_header_rules() {
        assert!(is_visible_ascii("generate_solver\t#2"));
        assert!(!is_visible_ascii("solvér"));
        assert!(!is_visible_ascii("a\nb"));
    }
}

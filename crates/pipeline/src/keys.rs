//! The keys that decide what the store already has: change what a measurement depends on and the
//! key changes, so that (and only that) is measured again.

use flowcompile_client::{Api, BudgetMode, Providers};
use flowcompile_ir::{Agent, OutputParser, Workflow};
use sha2::{Digest, Sha256};

/// First 16 hex digits of the SHA-256 of `parts`, each length-prefixed (so part boundaries count).
pub fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// How end-to-end runs are scored, in their keys: runs stored under an older version are run again
/// (2: `extract_answer` keeps an answer it used to cut to its last number, `[-2,7]` to `-27`).
pub const RUNS_VERSION: &str = "runs-v2";

/// The key the stored end-to-end runs of one configuration live under (`eval`, `test`, `eval
/// --preferences`): the full SHA-256 of what they depend on, the workflow text, the configuration
/// (`s<structure> slot=model@budget ...`), the split's file name (so moving the file keeps its
/// results) and the providers (an embedded zoo counts as `embedded zoo`, whatever its port), after
/// a version of how runs are scored ([`RUNS_VERSION`]).
pub fn run_key(spec_text: &str, config_text: &str, data_name: &str, providers_key: &str) -> String {
    Sha256::digest(
        format!(
            "{RUNS_VERSION}\u{0}{spec_text}\u{0}{config_text}\u{0}{data_name}\u{0}{providers_key}"
        )
        .as_bytes(),
    )
    .iter()
    .map(|b| format!("{b:02x}"))
    .collect()
}

/// What a model name's replies depend on, without where it is served: the server's model id, the
/// endpoint kind, how budgets are applied, the prompt template and the default answer tokens.
///
/// The base URL is left out on purpose: a zoo started on a fresh port, or the same vLLM model moved
/// to another host, gives the same measurements. A name with no provider fingerprints as `?`.
pub fn model_fingerprint(providers: &Providers, model: &str) -> String {
    match providers.get(model) {
        None => format!("{model}=?"),
        Some(p) => format!(
            "{model}={}|{}|{}|{:?}|{}",
            p.model,
            match p.api {
                Api::Chat => "chat",
                Api::Completions => "completions",
            },
            match p.budget {
                BudgetMode::Forcing => "forcing",
                BudgetMode::ReasoningEffort => "reasoning_effort",
                BudgetMode::MaxTokens => "max_tokens",
                BudgetMode::None => "none",
            },
            p.chat_template.map(|t| t.name()),
            p.max_tokens
        ),
    }
}

fn parser_text(p: &OutputParser) -> String {
    match p {
        OutputParser::Raw => "raw".into(),
        OutputParser::Boxed => "boxed".into(),
        OutputParser::Tag(t) => format!("tag:{t}"),
        OutputParser::CodeBlock(l) => format!("code:{}", l.as_deref().unwrap_or("")),
        other => format!("{other:?}"),
    }
}

/// The key of one agent's profiling calls: its prompts, role and parser, the induced data it runs
/// on, and the endpoints of the models it may use. Editing one agent's prompt re-profiles only it.
pub fn prompt_key(agent: &Agent, induction_key: &str, providers: &Providers) -> String {
    let mut models: Vec<&str> = agent.settings.iter().map(|s| s.model.as_str()).collect();
    models.sort_unstable();
    models.dedup();
    let fingerprints: Vec<String> = models
        .iter()
        .map(|m| model_fingerprint(providers, m))
        .collect();
    let parser = parser_text(&agent.output);
    let mut parts = vec![
        "prompt-key-v1",
        induction_key,
        agent.name.as_str(),
        agent.role.as_str(),
        agent.system.as_deref().unwrap_or(""),
        agent.prompt.as_deref().unwrap_or(""),
        parser.as_str(),
    ];
    parts.extend(fingerprints.iter().map(String::as_str));
    digest(&parts)
}

/// The key of one data induction: workflow name, the split's content, the reference
/// configuration, its models' endpoints, the judge and the score threshold.
///
/// Prompts are left out: an edited prompt keeps the induced examples (the inputs an agent sees in
/// a good run) and is handled by [`prompt_key`].
pub fn induction_key(
    wf: &Workflow,
    data_text: &str,
    reference: &str,
    reference_models: &[String],
    judge: Option<&str>,
    min_score: f64,
    providers: &Providers,
) -> String {
    let data = digest(&[data_text]);
    let min_score = min_score.to_string();
    let mut fingerprints: Vec<String> = reference_models
        .iter()
        .map(|m| model_fingerprint(providers, m))
        .collect();
    if let Some(j) = judge {
        fingerprints.push(format!("judge:{}", model_fingerprint(providers, j)));
    }
    fingerprints.sort();
    let mut parts = vec![
        // v3: a vote's ensemble is also induced from failed runs with a right candidate, raw text
        // that is a final answer is labelled with the gold one, and `extract_answer` keeps
        // answers it used to cut to their last number.
        "induction-key-v3",
        wf.name.as_str(),
        data.as_str(),
        reference,
        judge.unwrap_or(""),
        min_score.as_str(),
    ];
    parts.extend(fingerprints.iter().map(String::as_str));
    digest(&parts)
}

/// The key of one induction from a capture: workflow name, the split's content, every captured
/// call (run, agent, index, model, budget, request and reply, error) and the score threshold. A
/// capture that grows or changes gets a new key; the same capture resumes.
pub fn capture_key(
    wf: &Workflow,
    data_text: &str,
    calls: &[flowcompile_store::CapturedCallRow],
    min_score: f64,
) -> String {
    let data = digest(&[data_text]);
    let rows: Vec<String> = calls
        .iter()
        .map(|c| {
            digest(&[
                &c.run,
                &c.agent,
                &c.call_index.to_string(),
                &c.model,
                &c.budget_tokens.to_string(),
                &c.request_json,
                &c.reply,
                c.error.as_deref().unwrap_or(""),
            ])
        })
        .collect();
    let min_score = min_score.to_string();
    let mut parts = vec![
        // v2: a vote's ensemble is also kept from failed runs with a right answer.
        "capture-key-v2",
        wf.name.as_str(),
        data.as_str(),
        min_score.as_str(),
    ];
    parts.extend(rows.iter().map(String::as_str));
    digest(&parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowcompile_ir::Setting;

    fn providers(model_id: &str, url: &str) -> Providers {
        let text = format!("[models.m]\nbase_url = \"{url}\"\nmodel = \"{model_id}\"\n");
        Providers::from_toml_str(&text, "p.toml").unwrap()
    }

    #[test]
    fn digests_separate_parts() {
        assert_ne!(digest(&["ab", "c"]), digest(&["a", "bc"]));
        assert_eq!(digest(&["x"]).len(), 16);
    }

    #[test]
    fn prompt_keys_follow_prompts_and_models_not_urls() {
        let mut agent = Agent::new("solver", vec![Setting::new("m", 10)]);
        agent.prompt = Some("Solve {{ q }}".into());
        let p = providers("zoo-8b", "http://127.0.0.1:1/v1");
        let k = prompt_key(&agent, "ind", &p);
        assert_eq!(
            k,
            prompt_key(&agent, "ind", &providers("zoo-8b", "http://10.0.0.2:9/v1"))
        );
        assert_ne!(
            k,
            prompt_key(
                &agent,
                "ind",
                &providers("zoo-14b", "http://127.0.0.1:1/v1")
            )
        );
        assert_ne!(k, prompt_key(&agent, "other", &p));
        let mut edited = agent.clone();
        edited.prompt = Some("Solve carefully {{ q }}".into());
        assert_ne!(k, prompt_key(&edited, "ind", &p));
        let mut parser = agent.clone();
        parser.output = OutputParser::Boxed;
        assert_ne!(k, prompt_key(&parser, "ind", &p));
    }
}

//! Profiling: each agent alone on its induced examples under every (model, budget) setting, scored
//! against the reference output; resumable, with an adaptive mode that stops sampling settings that
//! are clearly dominated.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use flowcompile_ir::{AgentId, Setting};
use flowcompile_profile::{ProfileRow, ThroughputRow};
use flowcompile_runner::tools::program_runs;
use flowcompile_store::{CallRow, InducedRow, Store};
use futures::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value};
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{PipelineError, Unprofiled};
use crate::keys::prompt_key;
use crate::progress::Progress;
use crate::score::AgentScorer;
use crate::writer::Writer;
use crate::{lock, ItemProfiles, Pipeline};

/// How to profile.
#[derive(Clone, Debug)]
pub struct ProfileOptions {
    /// Calls per setting: at most this many induced examples, and agents with fewer examples are
    /// topped up to it by repeating them with fresh samples (the prototype's `min_samples_per_agent`).
    pub calls_per_setting: usize,
    /// Calls in flight at once (the providers' per-endpoint limits apply too).
    pub concurrency: usize,
    /// Stop sampling clearly dominated settings; `None`: the full grid.
    pub adaptive: Option<Adaptive>,
}

/// Adaptive profiling: calls run in rounds; after each round a setting is dropped when another
/// setting of the same agent beats it with confidence on both accuracy and latency.
#[derive(Clone, Copy, Debug)]
pub struct Adaptive {
    /// Calls per setting per round.
    pub round: usize,
    /// Width of the confidence bounds, in standard errors (2: about 95% each side).
    pub z: f64,
    /// Calls a setting gets before it can be dropped.
    pub min_calls: usize,
}

impl Default for Adaptive {
    fn default() -> Adaptive {
        Adaptive {
            round: 10,
            z: 2.0,
            min_calls: 20,
        }
    }
}

/// What profiling did for one agent.
#[derive(Clone, Debug, Serialize)]
pub struct AgentProfile {
    /// Agent name.
    pub agent: String,
    /// The key its calls are stored under.
    pub prompt_key: String,
    /// Distinct induced examples used.
    pub examples: usize,
    /// Calls per setting planned (examples, repeated with fresh samples when fewer than asked).
    pub calls_per_setting: usize,
    /// Settings profiled.
    pub settings: usize,
    /// Calls made by this invocation.
    pub calls_run_now: usize,
    /// Calls found in the store.
    pub calls_reused: usize,
    /// Calls made by this invocation that failed.
    pub calls_failed_now: usize,
    /// Planned calls not made because their setting was clearly dominated (adaptive mode).
    pub calls_saved: usize,
    /// Settings dropped early (adaptive mode).
    pub settings_dropped: usize,
}

/// A fitted token-based latency model of one model: latency = prompt / prefill + completion / decode.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThroughputFit {
    /// Model name.
    pub model: String,
    /// Prompt tokens per second.
    pub prefill_tok_per_s: f64,
    /// Completion tokens per second.
    pub decode_tok_per_s: f64,
    /// Calls the fit used.
    pub calls: u64,
    /// Coefficient of determination of the fit over those calls.
    pub r2: f64,
}

impl ThroughputFit {
    /// As a throughput row of the profile tables.
    pub fn row(&self) -> ThroughputRow {
        ThroughputRow {
            model: self.model.clone(),
            prefill_tok_per_s: self.prefill_tok_per_s,
            decode_tok_per_s: self.decode_tok_per_s,
        }
    }
}

/// What a profiling pass measured.
#[derive(Clone, Debug, Serialize)]
pub struct ProfileReport {
    /// Per agent, in workflow order.
    pub agents: Vec<AgentProfile>,
    /// One row per measured (agent, model, budget), in workflow and setting order.
    pub rows: Vec<ProfileRow>,
    /// Settings without a successful call: unknown, never accuracy 0.
    pub unprofiled: Vec<Unprofiled>,
    /// Per model, the token-based latency fit from every successful call.
    pub throughput: Vec<ThroughputFit>,
    /// Models whose calls cannot fit a token-based latency model, and why.
    pub throughput_notes: Vec<String>,
    /// Programs run by this invocation to score outputs (a program whose output the store had
    /// is not run again).
    pub programs_run_now: usize,
}

/// Running sums of one setting's successful calls.
#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    n: f64,
    score: f64,
    score2: f64,
    latency: f64,
    latency2: f64,
}

impl Stats {
    fn add(&mut self, score: f64, latency: f64) {
        self.n += 1.0;
        self.score += score;
        self.score2 += score * score;
        self.latency += latency;
        self.latency2 += latency * latency;
    }

    /// Mean and standard error of a sum and sum of squares.
    fn mean_se(&self, sum: f64, sum2: f64) -> (f64, f64) {
        let mean = sum / self.n;
        let var = (sum2 / self.n - mean * mean).max(0.0);
        (mean, (var / self.n).sqrt())
    }

    /// Whether `self` beats `other` on both accuracy and latency beyond `z` standard errors.
    fn clearly_dominates(&self, other: &Stats, z: f64) -> bool {
        if self.n < 2.0 || other.n < 2.0 {
            return false;
        }
        let (a, a_se) = self.mean_se(self.score, self.score2);
        let (b, b_se) = other.mean_se(other.score, other.score2);
        let (la, la_se) = self.mean_se(self.latency, self.latency2);
        let (lb, lb_se) = other.mean_se(other.latency, other.latency2);
        a - z * a_se > b + z * b_se && la + z * la_se < lb - z * lb_se
    }
}

/// Least-squares sums of latency = x1 / prefill + x2 / decode over one model's calls.
#[derive(Clone, Copy, Debug, Default)]
struct Fit {
    n: u64,
    x11: f64,
    x12: f64,
    x22: f64,
    x1y: f64,
    x2y: f64,
    yy: f64,
    y: f64,
}

impl Fit {
    fn add(&mut self, prompt: f64, completion: f64, latency: f64) {
        self.n += 1;
        self.x11 += prompt * prompt;
        self.x12 += prompt * completion;
        self.x22 += completion * completion;
        self.x1y += prompt * latency;
        self.x2y += completion * latency;
        self.yy += latency * latency;
        self.y += latency;
    }

    /// Seconds per prompt token and per completion token, both positive, or why not.
    fn solve(&self) -> Result<(f64, f64, f64), String> {
        if self.n < 3 {
            return Err(format!("{} successful call(s); need at least 3", self.n));
        }
        let det = self.x11 * self.x22 - self.x12 * self.x12;
        if det.abs() <= 1e-12 * self.x11.max(1.0) * self.x22.max(1.0) {
            return Err("prompt and completion token counts do not vary independently".into());
        }
        let a = (self.x1y * self.x22 - self.x2y * self.x12) / det;
        let b = (self.x2y * self.x11 - self.x1y * self.x12) / det;
        if !(a > 0.0 && b > 0.0) {
            return Err(format!(
                "the least-squares fit gives non-positive per-token times ({a:.3e} s/prompt token, {b:.3e} s/completion token)"
            ));
        }
        let sse = self.yy - 2.0 * (a * self.x1y + b * self.x2y)
            + a * a * self.x11
            + 2.0 * a * b * self.x12
            + b * b * self.x22;
        let mean = self.y / self.n as f64;
        let sst = self.yy - self.n as f64 * mean * mean;
        let r2 = if sst > 0.0 { 1.0 - sse / sst } else { 1.0 };
        Ok((a, b, r2))
    }
}

/// One setting's successful-call stats, prompt and completion token sums, failures and one error.
type Tally = (Stats, f64, f64, u64, Option<String>);

/// One planned call: agent, setting, example, sample.
#[derive(Clone, Copy, Debug)]
struct Job {
    agent: usize,
    setting: usize,
    example: usize,
    sample: u32,
}

/// One agent's plan.
struct Plan {
    key: String,
    examples: Vec<(String, Map<String, Value>, String)>,
    /// (example index, sample) per call, in order.
    calls: Vec<(usize, u32)>,
    /// Per setting, the (example index, sample) calls the store has finished.
    done: Vec<HashSet<(usize, u32)>>,
}

impl Pipeline {
    /// Profiles every agent of the workflow on the examples induced under `induction_key`.
    ///
    /// Calls the store has finished are reused; failed ones are tried again. Calls are written as
    /// they finish, so a killed run loses nothing finished.
    pub async fn profile(
        &self,
        induction_key: &str,
        opts: &ProfileOptions,
        progress: &dyn Progress,
    ) -> Result<ProfileReport, PipelineError> {
        let store = Store::open(&self.store_path)?;
        let providers = self.runner.client().providers();
        let mut plans = Vec::new();
        for agent in &self.wf().agents {
            let key = prompt_key(agent, induction_key, providers);
            let mut rows = store.induced(&Self::examples_key(induction_key, &agent.name))?;
            if rows.is_empty() {
                return Err(PipelineError::NoExamples {
                    agents: vec![agent.name.clone()],
                    judged: false,
                });
            }
            sample_by_item(&mut rows);
            rows.truncate(opts.calls_per_setting.max(1));
            let examples = rows
                .into_iter()
                .map(|r: InducedRow| {
                    let inputs = match serde_json::from_str(&r.inputs_json) {
                        Ok(Value::Object(m)) => m,
                        _ => Map::new(),
                    };
                    (r.input_id, inputs, r.reference_output)
                })
                .collect::<Vec<_>>();
            let n = examples.len();
            let calls = (0..opts.calls_per_setting.max(n))
                .map(|k| (k % n, (k / n) as u32))
                .collect();
            let index: HashMap<&str, usize> = examples
                .iter()
                .enumerate()
                .map(|(e, x)| (x.0.as_str(), e))
                .collect();
            let mut done = Vec::with_capacity(agent.settings.len());
            for s in &agent.settings {
                let finished = store.calls_done(&agent.name, &key, &s.model, s.budget_tokens)?;
                done.push(
                    finished
                        .iter()
                        .filter_map(|(id, k)| index.get(id.as_str()).map(|&e| (e, *k)))
                        .collect(),
                );
            }
            plans.push(Plan {
                key,
                examples,
                calls,
                done,
            });
        }
        drop(store);

        let total: usize = plans
            .iter()
            .zip(&self.wf().agents)
            .map(|(p, a)| p.calls.len() * a.settings.len())
            .sum();
        let mut reused = vec![0usize; plans.len()];
        for (i, p) in plans.iter().enumerate() {
            for done in &p.done {
                reused[i] += p.calls.iter().filter(|c| done.contains(c)).count();
            }
        }
        let stats: Mutex<HashMap<(usize, usize), Stats>> = Mutex::new(HashMap::new());
        // Cached calls count towards adaptive decisions too.
        if opts.adaptive.is_some() {
            let store = Store::open(&self.store_path)?;
            let mut st = lock(&stats);
            for (i, (p, agent)) in plans.iter().zip(&self.wf().agents).enumerate() {
                let index: HashMap<(&str, u32), usize> = agent
                    .settings
                    .iter()
                    .enumerate()
                    .map(|(j, s)| ((s.model.as_str(), s.budget_tokens), j))
                    .collect();
                for row in store.call_rows(&agent.name, &p.key)? {
                    if let (None, Some(score), Some(&j)) = (
                        &row.error,
                        row.score,
                        index.get(&(row.model.as_str(), row.budget_tokens)),
                    ) {
                        st.entry((i, j)).or_default().add(score, row.latency_s);
                    }
                }
            }
        }

        progress.begin("profile", (total - reused.iter().sum::<usize>()) as u64);
        let writer = Writer::start(&self.store_path)?;
        let writer_failed = AtomicBool::new(false);
        let scorer = AgentScorer::new(self.wf().task.scorer, &self.wf().task.answer);
        let launched_before = program_runs().launched();
        let mut active: Vec<Vec<bool>> = self
            .wf()
            .agents
            .iter()
            .map(|a| vec![true; a.settings.len()])
            .collect();
        let mut run_now = vec![0usize; plans.len()];
        let mut failed_now = vec![0usize; plans.len()];
        let mut saved = vec![0usize; plans.len()];
        let longest = plans.iter().map(|p| p.calls.len()).max().unwrap_or(0);
        let round = opts.adaptive.map_or(longest, |a| a.round.max(1));
        let mut start = 0;
        let mut template_error = None;
        while start < longest && template_error.is_none() {
            let end = (start + round).min(longest);
            let mut jobs = Vec::new();
            for (i, p) in plans.iter().enumerate() {
                for (s, on) in active[i].iter().enumerate() {
                    if !on {
                        continue;
                    }
                    for &(e, k) in p.calls.get(start..end.min(p.calls.len())).unwrap_or(&[]) {
                        if !p.done[s].contains(&(e, k)) {
                            jobs.push(Job {
                                agent: i,
                                setting: s,
                                example: e,
                                sample: k,
                            });
                        }
                    }
                }
            }
            // A seeded shuffle: consecutive calls rarely share a prompt, so a server's prefix cache
            // (llama.cpp keeps the last prompt) does not make profiled latency look faster than
            // serving is; the order is the same on every run.
            jobs.sort_by_key(|j| {
                let key = format!(
                    "{}\u{0}{}\u{0}{}\u{0}{}",
                    j.agent, j.setting, j.example, j.sample
                );
                xxh3_64(key.as_bytes())
            });
            let mut results = futures::stream::iter(jobs.into_iter().map(|job| {
                let plans = &plans;
                let scorer = &scorer;
                async move {
                    let agent = &self.wf().agents[job.agent];
                    let setting: &Setting = &agent.settings[job.setting];
                    let (input_id, inputs, reference) = &plans[job.agent].examples[job.example];
                    let record = match crate::captured::captured_messages(inputs) {
                        // A captured call is replayed with its messages as captured.
                        Some(messages) => {
                            self.runner
                                .call_messages(
                                    AgentId(job.agent as u32),
                                    setting,
                                    messages,
                                    input_id,
                                    u64::from(job.sample),
                                )
                                .await
                        }
                        None => {
                            self.runner
                                .call_agent(
                                    AgentId(job.agent as u32),
                                    setting,
                                    inputs,
                                    input_id,
                                    u64::from(job.sample),
                                )
                                .await?
                        }
                    };
                    let score = match &record.error {
                        Some(_) => None,
                        None => Some(scorer.score(agent, &record.parsed, reference, inputs).await),
                    };
                    Ok::<_, PipelineError>((job, record, score))
                }
            }))
            .buffer_unordered(opts.concurrency.max(1));
            while let Some(result) = results.next().await {
                let (job, record, score) = match result {
                    Ok(r) => r,
                    Err(e) => {
                        template_error = Some(e);
                        break;
                    }
                };
                let agent = &self.wf().agents[job.agent];
                let latency = record.modelled_latency_s.unwrap_or(record.latency_s);
                run_now[job.agent] += 1;
                if record.error.is_some() {
                    failed_now[job.agent] += 1;
                } else if let Some(s) = score {
                    lock(&stats)
                        .entry((job.agent, job.setting))
                        .or_default()
                        .add(s, latency);
                }
                let row = CallRow {
                    agent: agent.name.clone(),
                    prompt_key: plans[job.agent].key.clone(),
                    model: record.model,
                    budget_tokens: record.budget_tokens,
                    input_id: plans[job.agent].examples[job.example].0.clone(),
                    sample: job.sample,
                    output: record.output,
                    score,
                    latency_s: latency,
                    prompt_tokens: record.prompt_tokens,
                    completion_tokens: record.completion_tokens,
                    reasoning_tokens: None,
                    error: record.error,
                };
                if !writer.send(row) {
                    writer_failed.store(true, Ordering::Relaxed);
                    break;
                }
                progress.advance(1);
            }
            drop(results);
            if writer_failed.load(Ordering::Relaxed) {
                break;
            }
            if let Some(a) = opts.adaptive {
                let st = lock(&stats);
                for (i, p) in plans.iter().enumerate() {
                    if end < a.min_calls || end >= p.calls.len() {
                        continue;
                    }
                    let n = active[i].len();
                    let drop_now: Vec<usize> = (0..n)
                        .filter(|&s| active[i][s])
                        .filter(|&s| {
                            let Some(mine) = st.get(&(i, s)) else {
                                return false;
                            };
                            (0..n).any(|t| {
                                t != s
                                    && active[i][t]
                                    && st
                                        .get(&(i, t))
                                        .is_some_and(|o| o.clearly_dominates(mine, a.z))
                            })
                        })
                        .collect();
                    for s in drop_now {
                        active[i][s] = false;
                        saved[i] += p.calls.len() - end;
                        progress.advance(
                            p.calls[end..]
                                .iter()
                                .filter(|c| !p.done[s].contains(c))
                                .count() as u64,
                        );
                    }
                }
            }
            start = end;
        }
        progress.end();
        writer.finish()?;
        if let Some(e) = template_error {
            return Err(e);
        }

        let store = Store::open(&self.store_path)?;
        let mut rows = Vec::new();
        let mut unprofiled = Vec::new();
        let mut fits: HashMap<String, Fit> = HashMap::new();
        let mut agents = Vec::new();
        for (i, (p, agent)) in plans.iter().zip(&self.wf().agents).enumerate() {
            let allowed: HashSet<(usize, u32)> = p.calls.iter().copied().collect();
            let ids: HashMap<&str, usize> = p
                .examples
                .iter()
                .enumerate()
                .map(|(e, x)| (x.0.as_str(), e))
                .collect();
            let mut per_setting: HashMap<(String, u32), Tally> = HashMap::new();
            for row in store.call_rows(&agent.name, &p.key)? {
                let Some(&e) = ids.get(row.input_id.as_str()) else {
                    continue;
                };
                if !allowed.contains(&(e, row.sample)) {
                    continue;
                }
                let entry = per_setting
                    .entry((row.model.clone(), row.budget_tokens))
                    .or_default();
                match (&row.error, row.score) {
                    (None, Some(score)) => {
                        entry.0.add(score, row.latency_s);
                        entry.1 += row.prompt_tokens as f64;
                        entry.2 += row.completion_tokens as f64;
                        fits.entry(row.model.clone()).or_default().add(
                            row.prompt_tokens as f64,
                            row.completion_tokens as f64,
                            row.latency_s,
                        );
                    }
                    _ => {
                        entry.3 += 1;
                        if entry.4.is_none() {
                            entry.4 = row.error.clone();
                        }
                    }
                }
            }
            for s in &agent.settings {
                match per_setting.get(&(s.model.clone(), s.budget_tokens)) {
                    Some((st, tin, tout, _, _)) if st.n > 0.0 => rows.push(ProfileRow {
                        agent: agent.name.clone(),
                        model: s.model.clone(),
                        budget_tokens: s.budget_tokens,
                        accuracy: st.score / st.n,
                        samples: st.n as u32,
                        latency_s: st.latency / st.n,
                        input_tokens: tin / st.n,
                        output_tokens: tout / st.n,
                    }),
                    other => unprofiled.push(Unprofiled {
                        agent: agent.name.clone(),
                        model: s.model.clone(),
                        budget_tokens: s.budget_tokens,
                        n_errors: other.map_or(0, |o| o.3),
                        example_error: other.and_then(|o| o.4.clone()),
                    }),
                }
            }
            agents.push(AgentProfile {
                agent: agent.name.clone(),
                prompt_key: p.key.clone(),
                examples: p.examples.len(),
                calls_per_setting: p.calls.len(),
                settings: agent.settings.len(),
                calls_run_now: run_now[i],
                calls_reused: reused[i],
                calls_failed_now: failed_now[i],
                calls_saved: saved[i],
                settings_dropped: active[i].iter().filter(|a| !**a).count(),
            });
        }
        let mut models: Vec<&String> = fits.keys().collect();
        models.sort();
        let mut throughput = Vec::new();
        let mut throughput_notes = Vec::new();
        for m in models {
            match fits[m].solve() {
                Ok((a, b, r2)) => throughput.push(ThroughputFit {
                    model: m.clone(),
                    prefill_tok_per_s: 1.0 / a,
                    decode_tok_per_s: 1.0 / b,
                    calls: fits[m].n,
                    r2,
                }),
                Err(why) => throughput_notes.push(format!("{m}: {why}")),
            }
        }
        Ok(ProfileReport {
            agents,
            rows,
            unprofiled,
            throughput,
            throughput_notes,
            programs_run_now: (program_runs().launched() - launched_before) as usize,
        })
    }
}

/// Orders examples for sampling so that every agent samples the same validation items: by the
/// item's hash, one example per item first (an agent called twice per item, such as a repeated
/// solver, takes its second call of an item only after the first calls of all items). Agents'
/// profiles then share items, which is what measuring how their errors co-occur needs.
fn sample_by_item(rows: &mut Vec<InducedRow>) {
    rows.sort_by(|a, b| a.input_id.cmp(&b.input_id));
    let mut calls_of_item: HashMap<String, u32> = HashMap::new();
    let mut keyed: Vec<((u32, u64, String), InducedRow)> = rows
        .drain(..)
        .map(|r| {
            let item = ItemProfiles::item_of(&r.input_id).to_string();
            let round = calls_of_item.entry(item.clone()).or_default();
            let key = (*round, xxh3_64(item.as_bytes()), r.input_id.clone());
            *round += 1;
            (key, r)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    rows.extend(keyed.into_iter().map(|(_, r)| r));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dominance_needs_both_bounds_to_separate() {
        let mut good = Stats::default();
        let mut bad = Stats::default();
        for i in 0..50 {
            good.add(
                if i % 10 == 0 { 0.0 } else { 1.0 },
                1.0 + 0.01 * (i % 3) as f64,
            );
            bad.add(
                if i % 2 == 0 { 0.0 } else { 1.0 },
                5.0 + 0.01 * (i % 3) as f64,
            );
        }
        assert!(good.clearly_dominates(&bad, 2.0));
        assert!(!bad.clearly_dominates(&good, 2.0));
        let mut slow_but_better = Stats::default();
        for _ in 0..50 {
            slow_but_better.add(1.0, 9.0);
        }
        assert!(!good.clearly_dominates(&slow_but_better, 2.0));
        let mut few = Stats::default();
        few.add(0.0, 9.0);
        assert!(
            !good.clearly_dominates(&few, 2.0),
            "one sample is never clear"
        );
    }

    #[test]
    fn throughput_fit_recovers_known_rates() {
        let mut f = Fit::default();
        for (p, c) in [(100.0, 10.0), (300.0, 50.0), (200.0, 200.0), (50.0, 400.0)] {
            f.add(p, c, p / 2000.0 + c / 40.0);
        }
        let (a, b, r2) = f.solve().unwrap();
        assert!((1.0 / a - 2000.0).abs() < 1e-6 && (1.0 / b - 40.0).abs() < 1e-9);
        assert!((r2 - 1.0).abs() < 1e-9);
        let mut flat = Fit::default();
        for _ in 0..5 {
            flat.add(100.0, 10.0, 1.0);
        }
        assert!(flat.solve().unwrap_err().contains("vary independently"));
    }
}

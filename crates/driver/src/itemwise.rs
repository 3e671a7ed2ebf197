//! Item-wise accuracy: the frontier's points predicted again item by item on the validation
//! items, where a vote sees how often its candidates agree.
//!
//! The search composes each (agent, setting)'s mean accuracy; a vote is then P(some candidate is
//! right) times the voter's profiled accuracy. That accuracy is measured on the inputs the
//! reference configuration gave the voter, nearly all unanimous, and weak candidates disagree far
//! more often: on disagreement a voter is much weaker than its mean says, so the scalar rule
//! overrates votes among weak candidates (the fast end of a frontier).
//!
//! Profiling keys every call by its validation item ([`ItemProfiles`]), so each point can be
//! composed per item from the measured success of each of its settings on that item, and averaged:
//! items carry their own difficulty, so agents that fail on the same items are composed as they
//! measured, with no dependence parameter. Within an item the rules are the proxy's (sequence and
//! all-of multiply, any-of is one minus the product of failures, conditionals weigh, retries
//! repeat), except a vote: with `P(k)` the probability that `k` of its `n` candidates are right
//! (their per-item successes, independent given the item), its success is
//! `P(n) v_all + P(0 < k < n) v_mixed + P(0) v_none`, where `v_*` is the voter setting's measured
//! accuracy on the profiled inputs whose candidates were all right, mixed, or all wrong
//! ([`Agreement`], candidates scored against the item's gold answer by the task's scorer). A class
//! with no profiled input falls back to the scalar rule's assumption (the setting's mean for
//! `v_all` and `v_mixed`, 0 for `v_none`).
//!
//! Only the accuracy changes; the latency stays the proxy's. The search is exact for the scalar
//! composition; this pass re-predicts the points it found and drops those another point now
//! matches or beats, so the shipped frontier is the item-wise one among the search's points.

use std::collections::{BTreeMap, BTreeSet};

use flowcompile_ir::{DesignSpace, Expr, SlotId, Workflow};
use flowcompile_pipeline::{ItemProfiles, SettingStats};
use flowcompile_search::{Frontier, Point};
use flowcompile_store::{Store, StoreError};
use serde_json::Value;

/// Fewest validation items on which every call of a point was measured for the point to be
/// predicted item-wise (fewer keep the scalar prediction).
pub const MIN_ITEMS: usize = 10;

/// How the candidates of each voter's profiled inputs agreed: per voter agent, per validation item,
/// the class of the candidates the reference gave it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Agreement {
    by_voter: BTreeMap<usize, BTreeMap<String, Class>>,
}

/// Whether a voter's candidates were all right, some right, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    All,
    Mixed,
    None,
}

impl Agreement {
    /// Reads the voters' induced inputs under `induction_key` from `store` and scores each input's
    /// candidates against its item's gold answer. An input whose candidates the scorer cannot judge
    /// without running code (unit-test scorers) is left out. Inputs induced from a capture
    /// (`captured`: the store `flowcompile gateway --capture` wrote) hold the voter's messages, not
    /// its candidates: there the candidates are the run's captured replies of the answer agents the
    /// vote is over, read with their agents' parsers.
    pub fn read(
        store: &Store,
        wf: &Workflow,
        induction_key: &str,
        captured: Option<&Store>,
    ) -> Result<Agreement, StoreError> {
        let mut replies: BTreeMap<(String, usize), Vec<String>> = BTreeMap::new();
        if let Some(capture) = captured {
            for row in capture.captured_calls()? {
                if row.error.is_some() {
                    continue;
                }
                if let Some(a) = wf.agents.iter().position(|a| a.name == row.agent) {
                    replies.entry((row.run, a)).or_default().push(row.reply);
                }
            }
        }
        let mut by_voter = BTreeMap::new();
        for (voter, over) in flowcompile_pipeline::votes(wf) {
            let answerers: Vec<usize> = over
                .into_iter()
                .filter(|&a| flowcompile_pipeline::answers_to_gold(wf, a))
                .collect();
            let agent = &wf.agents[voter];
            let rows = store.induced(&flowcompile_pipeline::Pipeline::examples_key(
                induction_key,
                &agent.name,
            ))?;
            let mut classes = BTreeMap::new();
            for row in rows {
                let Ok(Value::Object(inputs)) = serde_json::from_str::<Value>(&row.inputs_json)
                else {
                    continue;
                };
                let gold = match inputs.get(&wf.task.answer) {
                    Some(Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                    None => continue,
                };
                let run = ItemProfiles::item_of(&row.input_id);
                let candidates: Vec<String> = match inputs.get("candidates") {
                    Some(Value::Array(c)) => c
                        .iter()
                        .filter_map(|c| c.as_str().map(str::to_string))
                        .collect(),
                    _ => answerers
                        .iter()
                        .flat_map(|&a| {
                            let parser = &wf.agents[a].output;
                            replies
                                .get(&(run.to_string(), a))
                                .into_iter()
                                .flatten()
                                .filter_map(|r| flowcompile_runner::parse_output(parser, r).ok())
                        })
                        .collect(),
                };
                let right: Option<Vec<bool>> = candidates
                    .iter()
                    .map(|c| {
                        flowcompile_runner::score_text(wf.task.scorer, c, &gold).map(|s| s.correct)
                    })
                    .collect();
                let Some(right) = right.filter(|r| !r.is_empty()) else {
                    continue;
                };
                let class = match right.iter().filter(|r| **r).count() {
                    0 => Class::None,
                    k if k == right.len() => Class::All,
                    _ => Class::Mixed,
                };
                classes.insert(ItemProfiles::item_of(&row.input_id).to_string(), class);
            }
            by_voter.insert(voter, classes);
        }
        Ok(Agreement { by_voter })
    }

    /// How many profiled inputs of `voter` fell in each class: (all right, mixed, none right).
    pub fn counts(&self, voter: usize) -> (usize, usize, usize) {
        let mut n = (0, 0, 0);
        for c in self
            .by_voter
            .get(&voter)
            .into_iter()
            .flat_map(|m| m.values())
        {
            match c {
                Class::All => n.0 += 1,
                Class::Mixed => n.1 += 1,
                Class::None => n.2 += 1,
            }
        }
        n
    }
}

/// The agents that vote: the ensemble of every vote node.
fn voters(wf: &Workflow) -> BTreeSet<usize> {
    flowcompile_pipeline::votes(wf)
        .into_iter()
        .map(|(voter, _)| voter)
        .collect()
}

/// A voter setting's measured accuracy by the class of its inputs.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Rates {
    all: f64,
    mixed: f64,
    none: f64,
}

/// The item-wise predictions of a frontier.
#[derive(Clone, Debug, PartialEq)]
pub struct Repredicted {
    /// Per point kept (in the frontier's new order): its per-item successes, `None` for a point
    /// that kept its scalar prediction.
    pub per_item: Vec<Option<Vec<f64>>>,
    /// How many points were predicted item-wise.
    pub n_repredicted: usize,
    /// How many points were dropped because another point matched or beat them item-wise.
    pub n_dropped: usize,
}

/// Points composed per validation item from per-item profiles, with the voters' rates by
/// agreement measured under optional item weights (a bootstrap resample's draw counts).
pub struct ItemModel<'a> {
    space: &'a DesignSpace,
    rows: Vec<&'a Vec<Vec<Option<SettingStats>>>>,
    eval: Eval,
}

impl<'a> ItemModel<'a> {
    /// The model of `items`: `weights[i]` weighs the `i`-th item (in id order) in the voters'
    /// rates, all 1 without weights.
    pub fn new(
        wf: &Workflow,
        space: &'a DesignSpace,
        items: &'a ItemProfiles,
        agreement: &Agreement,
        weights: Option<&[f64]>,
    ) -> ItemModel<'a> {
        let rows: Vec<&Vec<Vec<Option<SettingStats>>>> = items.items.values().collect();
        let mut rates = BTreeMap::new();
        for (&voter, classes) in &agreement.by_voter {
            for j in 0..wf.agents[voter].settings.len() {
                let mut sums = [(0.0, 0.0); 3];
                let mut overall = (0.0, 0.0);
                for (i, (id, row)) in items.items.iter().enumerate() {
                    let Some(s) = row.get(voter).and_then(|r| r.get(j)).copied().flatten() else {
                        continue;
                    };
                    let w = weights.map_or(1.0, |w| w[i]);
                    overall.0 += w * s.accuracy;
                    overall.1 += w;
                    let k = match classes.get(id.as_str()) {
                        Some(Class::All) => 0,
                        Some(Class::Mixed) => 1,
                        Some(Class::None) => 2,
                        None => continue,
                    };
                    sums[k].0 += w * s.accuracy;
                    sums[k].1 += w;
                }
                if overall.1 == 0.0 {
                    continue;
                }
                let mean = overall.0 / overall.1;
                let rate =
                    |(s, n): (f64, f64), fallback: f64| if n > 0.0 { s / n } else { fallback };
                rates.insert(
                    (voter, j),
                    Rates {
                        all: rate(sums[0], mean),
                        mixed: rate(sums[1], mean),
                        none: rate(sums[2], 0.0),
                    },
                );
            }
        }
        ItemModel {
            space,
            rows,
            eval: Eval {
                voters: voters(wf),
                rates,
            },
        }
    }

    /// The point's success on each item where every call it makes was measured, as (item index,
    /// success); `None` when that is fewer than [`MIN_ITEMS`] items.
    pub fn successes(&self, p: &Point) -> Option<Vec<(usize, f64)>> {
        let expr = &self.space.structures[p.structure].expr;
        let setting = |slot: SlotId| {
            p.settings
                .iter()
                .find(|(s, _)| *s == slot)
                .map_or(0, |(_, j)| *j as usize)
        };
        let values: Vec<(usize, f64)> = self
            .rows
            .iter()
            .enumerate()
            .filter_map(|(i, row)| Some((i, self.eval.success(expr, row, &setting)?)))
            .collect();
        (values.len() >= MIN_ITEMS).then_some(values)
    }

    /// The point's item-wise accuracy: the mean of its successes, each item weighted by
    /// `weights[item]` (all 1 without weights); `None` as for [`ItemModel::successes`], or when
    /// no weight is left on its items.
    pub fn accuracy(&self, p: &Point, weights: Option<&[f64]>) -> Option<f64> {
        let (mut sum, mut n) = (0.0, 0.0);
        for (i, v) in self.successes(p)? {
            let w = weights.map_or(1.0, |w| w[i]);
            sum += w * v;
            n += w;
        }
        (n > 0.0).then(|| sum / n)
    }
}

/// Predicts every point of `frontier` again item-wise (see the module docs), then drops the points
/// another point now matches or beats: the frontier stays fastest first with strictly rising
/// accuracy.
pub fn repredict(
    wf: &Workflow,
    space: &DesignSpace,
    frontier: &mut Frontier,
    items: &ItemProfiles,
    agreement: &Agreement,
) -> Repredicted {
    let model = ItemModel::new(wf, space, items, agreement, None);
    let mut scored: Vec<(Point, Option<Vec<f64>>)> = Vec::with_capacity(frontier.points.len());
    let mut n_repredicted = 0;
    for mut p in frontier.points.drain(..) {
        let Some(values) = model.successes(&p) else {
            scored.push((p, None));
            continue;
        };
        let values: Vec<f64> = values.into_iter().map(|(_, v)| v).collect();
        n_repredicted += 1;
        p.metrics.accuracy = values.iter().sum::<f64>() / values.len() as f64;
        scored.push((p, Some(values)));
    }
    let before = scored.len();
    let mut per_item = Vec::new();
    keep_rising(&mut frontier.points, &mut per_item, scored);
    Repredicted {
        n_dropped: before - frontier.points.len(),
        per_item,
        n_repredicted,
    }
}

/// Moves `scored` (fastest first) into `points` and `per_item`, keeping a point only when it is
/// strictly more accurate than every faster point kept.
pub(crate) fn keep_rising<T>(
    points: &mut Vec<Point>,
    per_item: &mut Vec<T>,
    scored: impl IntoIterator<Item = (Point, T)>,
) {
    let mut best = f64::NEG_INFINITY;
    for (p, values) in scored {
        if p.metrics.accuracy > best {
            best = p.metrics.accuracy;
            points.push(p);
            per_item.push(values);
        }
    }
}

/// The per-item composition.
struct Eval {
    voters: BTreeSet<usize>,
    rates: BTreeMap<(usize, usize), Rates>,
}

impl Eval {
    /// The probability that `expr` succeeds on one item (`row`: per agent, per setting, the item's
    /// measured stats); `None` when a call's setting was not measured on the item.
    fn success(
        &self,
        expr: &Expr,
        row: &[Vec<Option<SettingStats>>],
        setting: &dyn Fn(SlotId) -> usize,
    ) -> Option<f64> {
        let each = |v: &[Expr]| -> Option<Vec<f64>> {
            v.iter().map(|e| self.success(e, row, setting)).collect()
        };
        match expr {
            Expr::Call { slot, agent } => {
                let s = row.get(agent.0 as usize)?.get(setting(*slot))?.as_ref()?;
                Some(s.accuracy)
            }
            Expr::Tool(_) => Some(1.0),
            Expr::Seq(steps) => {
                let mut p = 1.0;
                let mut k = 0;
                while k < steps.len() {
                    match (&steps[k], steps.get(k + 1)) {
                        (Expr::AnyOf(candidates), Some(Expr::Call { slot, agent }))
                            if candidates.len() >= 2
                                && self.voters.contains(&(agent.0 as usize)) =>
                        {
                            let q = each(candidates)?;
                            let voter = (agent.0 as usize, setting(*slot));
                            let voted = row.get(voter.0)?.get(voter.1)?.as_ref()?.accuracy;
                            p *= match self.rates.get(&voter) {
                                Some(r) => vote(&q, r),
                                None => any_of(&q) * voted,
                            };
                            k += 2;
                        }
                        (step, _) => {
                            p *= self.success(step, row, setting)?;
                            k += 1;
                        }
                    }
                }
                Some(p)
            }
            Expr::AllOf(v) => Some(each(v)?.iter().product()),
            Expr::AnyOf(v) => Some(any_of(&each(v)?)),
            Expr::Cond(arms) => {
                let mut p = 0.0;
                for (w, e) in arms {
                    p += w * self.success(e, row, setting)?;
                }
                Some(p)
            }
            Expr::Retry {
                body,
                fixer,
                attempts,
            } => {
                let p0 = self.success(body, row, setting)?;
                let pf = self.success(fixer, row, setting)?;
                Some(1.0 - (1.0 - p0) * (1.0 - pf).powi(*attempts as i32))
            }
        }
    }
}

/// One minus the product of the candidates' failures.
fn any_of(q: &[f64]) -> f64 {
    1.0 - q.iter().map(|x| 1.0 - x).product::<f64>()
}

/// A vote's success from its candidates' successes `q` and the voter's rates by agreement.
fn vote(q: &[f64], r: &Rates) -> f64 {
    let n = q.len();
    // P(k right), k = 0..=n: the Poisson binomial distribution of independent successes.
    let mut dist = vec![0.0; n + 1];
    dist[0] = 1.0;
    for (i, &x) in q.iter().enumerate() {
        for k in (0..=i + 1).rev() {
            let stay = dist[k] * (1.0 - x);
            let up = if k > 0 { dist[k - 1] * x } else { 0.0 };
            dist[k] = stay + up;
        }
    }
    let mixed: f64 = dist[1..n].iter().sum();
    dist[n] * r.all + mixed * r.mixed + dist[0] * r.none
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowcompile_ir::AgentId;
    use flowcompile_proxy::Metrics;

    const WORKFLOW: &str = r#"
name = "v"
[task]
fields = ["q"]
answer = "a"
scorer = "exact_match"
[space]
models = ["small", "big"]
budgets = [10]
share_settings = false
[agents.solver]
prompt = "{{ q }}"
[agents.voter]
prompt = "{% for c in candidates %}{{ c }} {% endfor %}"
[graph]
root = "vote"
[graph.nodes.vote]
vote = "voter"
over = "cands"
min_inputs = 2
[graph.nodes.cands]
repeat = "solver"
count = [1, 2]
"#;

    fn calls(e: &Expr, out: &mut Vec<(SlotId, AgentId)>) {
        match e {
            Expr::Call { slot, agent } => out.push((*slot, *agent)),
            Expr::Tool(_) => {}
            Expr::Seq(v) | Expr::AnyOf(v) | Expr::AllOf(v) => v.iter().for_each(|e| calls(e, out)),
            Expr::Cond(b) => b.iter().for_each(|(_, e)| calls(e, out)),
            Expr::Retry { body, fixer, .. } => {
                calls(body, out);
                calls(fixer, out);
            }
        }
    }

    /// Two solvers that fail on the same items, under a voter that is right on unanimous inputs
    /// and wrong on mixed ones: the vote is worth what the stronger solver alone is not, and the
    /// item-wise pass drops it.
    #[test]
    fn a_vote_among_solvers_that_disagree_is_predicted_by_its_voter_on_disagreement() {
        let wf = flowcompile_spec::parse(WORKFLOW, "v.toml").unwrap();
        let space = wf.design_space().unwrap();
        let agent = |name: &str| wf.agents.iter().position(|a| a.name == name).unwrap();
        let (solver, voter) = (agent("solver"), agent("voter"));
        let (small, big) = (0usize, 1usize);
        assert_eq!(wf.agents[solver].settings[big].model, "big");
        let stats = |right: bool| {
            Some(SettingStats {
                accuracy: f64::from(u8::from(right)),
                latency_s: 1.0,
                calls: 1,
            })
        };
        let mut items = ItemProfiles {
            agents: wf.agents.iter().map(|a| a.name.clone()).collect(),
            items: BTreeMap::new(),
        };
        let mut classes = BTreeMap::new();
        for i in 0..20 {
            let mut row = vec![vec![None; 2]; wf.agents.len()];
            // small is right on items 0..10, big on 0..16: they fail together on 16..20.
            row[solver][small] = stats(i < 10);
            row[solver][big] = stats(i < 16);
            // The voter was profiled on inputs unanimous on 0..14 and mixed on 14..20.
            row[voter][small] = stats(i < 14);
            row[voter][big] = stats(i < 14);
            let id = format!("i{i:02}");
            classes.insert(id.clone(), if i < 14 { Class::All } else { Class::Mixed });
            items.items.insert(id, row);
        }
        let agreement = Agreement {
            by_voter: BTreeMap::from([(voter, classes)]),
        };
        assert_eq!(agreement.counts(voter), (14, 6, 0));
        let structure = |n: usize| {
            space
                .structures
                .iter()
                .position(|s| {
                    let mut c = Vec::new();
                    calls(&s.expr, &mut c);
                    c.iter().filter(|(_, a)| a.0 as usize == solver).count() == n
                })
                .unwrap()
        };
        let point =
            |s: usize, pick: &dyn Fn(usize, usize) -> u32, accuracy: f64, latency_s: f64| {
                let mut c = Vec::new();
                calls(&space.structures[s].expr, &mut c);
                let settings = c
                    .iter()
                    .enumerate()
                    .map(|(k, (slot, a))| (*slot, pick(k, a.0 as usize)))
                    .collect();
                Point {
                    structure: s,
                    settings,
                    metrics: Metrics {
                        accuracy,
                        latency_s,
                    },
                }
            };
        // The scalar search's view: big alone 0.8; the vote of small and big under the small voter
        // P(any) = 1 - 0.5 * 0.2 = 0.9 times the voter's mean 0.7.
        let alone = point(structure(1), &|_, _| big as u32, 0.8, 1.0);
        let vote = point(
            structure(2),
            &|k, a| {
                if a == solver && k == 1 {
                    big as u32
                } else {
                    small as u32
                }
            },
            0.9 * 0.7,
            2.0,
        );
        let mut frontier = Frontier {
            points: vec![
                alone.clone(),
                Point {
                    metrics: Metrics {
                        accuracy: 0.85,
                        ..vote.metrics
                    },
                    ..vote.clone()
                },
            ],
            kept_per_slot: Vec::new(),
        };
        let r = repredict(&wf, &space, &mut frontier, &items, &agreement);
        assert_eq!(r.n_repredicted, 2);
        // Item-wise the vote is right only where both solvers are (10 of 20 items): 0.5, below big
        // alone (16 of 20), so it leaves the frontier.
        assert_eq!(r.n_dropped, 1);
        assert_eq!(frontier.points.len(), 1);
        assert_eq!(frontier.points[0].structure, alone.structure);
        assert_eq!(frontier.points[0].metrics.accuracy, 0.8);
        let kept = r.per_item[0].as_ref().unwrap();
        assert_eq!(kept.len(), 20);
        assert_eq!(kept.iter().filter(|v| **v == 1.0).count(), 16);
        let mut only_vote = Frontier {
            points: vec![vote],
            kept_per_slot: Vec::new(),
        };
        repredict(&wf, &space, &mut only_vote, &items, &agreement);
        assert_eq!(only_vote.points[0].metrics.accuracy, 0.5);
    }

    /// On the capture path a voter's induced input holds its messages, not its candidates: the
    /// classes come from the same run's captured replies of the solver, parsed and scored against
    /// the item's gold answer; a run whose solver calls failed is left out.
    #[test]
    fn a_captured_vote_is_classed_by_the_runs_captured_answers() {
        let text = WORKFLOW.replace(
            "[agents.solver]\nprompt = \"{{ q }}\"",
            "[agents.solver]\nprompt = \"{{ q }}\"\noutput = \"boxed\"",
        );
        let wf = flowcompile_spec::parse(&text, "v.toml").unwrap();
        let solver = wf.agents.iter().position(|a| a.name == "solver").unwrap();
        assert!(flowcompile_pipeline::answers_to_gold(&wf, solver));
        let dir = std::env::temp_dir().join(format!("fc-agreement-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(dir.join("store.sqlite")).unwrap();
        let capture = Store::open(dir.join("capture.sqlite")).unwrap();
        let key = flowcompile_pipeline::Pipeline::examples_key("ind", "voter");
        let induced: Vec<flowcompile_store::InducedRow> = ["r1", "r2", "r3", "r4"]
            .iter()
            .map(|run| flowcompile_store::InducedRow {
                agent: key.clone(),
                input_id: format!("{run}#0.0"),
                inputs_json: serde_json::json!({
                    "a": "4",
                    "messages": [{"role": "user", "content": "which is right?"}],
                })
                .to_string(),
                reference_output: "4".into(),
            })
            .collect();
        store.record_induced(&induced).unwrap();
        let call = |run: &str, agent: &str, reply: &str, error: Option<&str>| {
            capture
                .record_captured_call(&flowcompile_store::CapturedCallRow {
                    run: run.into(),
                    agent: agent.into(),
                    call_index: 0,
                    model: "small".into(),
                    budget_tokens: 10,
                    request_json: "{}".into(),
                    reply: reply.into(),
                    reasoning: None,
                    prompt_tokens: None,
                    completion_tokens: None,
                    latency_s: 0.1,
                    error: error.map(str::to_string),
                    created_at_unix_s: 0,
                })
                .unwrap();
        };
        // r1 unanimous and right, r2 split, r3 unanimous and wrong, r4 only failed calls.
        for (run, replies) in [("r1", ["4", "4"]), ("r2", ["4", "5"]), ("r3", ["5", "6"])] {
            for r in replies {
                call(run, "solver", &format!("so \\boxed{{{r}}}"), None);
            }
            call(run, "voter", "4", None);
        }
        call("r4", "solver", "", Some("upstream 502"));
        let agreement = Agreement::read(&store, &wf, "ind", Some(&capture)).unwrap();
        let voter = wf.agents.iter().position(|a| a.name == "voter").unwrap();
        assert_eq!(agreement.counts(voter), (1, 1, 1));
        assert_eq!(agreement.by_voter[&voter]["r2"], Class::Mixed);
        assert!(!agreement.by_voter[&voter].contains_key("r4"));
        // Without the capture the same inputs have no candidates to class.
        let blind = Agreement::read(&store, &wf, "ind", None).unwrap();
        assert_eq!(blind.counts(voter), (0, 0, 0));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_poisson_binomial_weighs_each_agreement_class() {
        let r = Rates {
            all: 1.0,
            mixed: 0.5,
            none: 0.0,
        };
        // Two candidates right with 0.5 each: all right 0.25, mixed 0.5, none 0.25.
        assert!((vote(&[0.5, 0.5], &r) - (0.25 + 0.25)).abs() < 1e-12);
        // Certain candidates: the class is known.
        assert_eq!(vote(&[1.0, 1.0, 1.0], &r), 1.0);
        assert_eq!(vote(&[1.0, 0.0, 1.0], &r), 0.5);
        assert_eq!(vote(&[0.0, 0.0], &r), 0.0);
        // A voter as good on disagreement as on agreement is the scalar rule: any-of times it.
        let flat = Rates {
            all: 0.8,
            mixed: 0.8,
            none: 0.0,
        };
        let q = [0.3, 0.6, 0.9];
        assert!((vote(&q, &flat) - any_of(&q) * 0.8).abs() < 1e-12);
    }
}

//! Resolving a workflow's settings against a profile table: the (accuracy, latency) of every setting.

use std::collections::HashMap;

use flowcompile_ir::{AgentId, LatencyModel, NodeId, NodeKind, Workflow};

use crate::error::{ProfileError, ProfileErrors};
use crate::table::{ProfileTable, ThroughputRow};

/// What the proxy composes for one agent under one setting: accuracy in [0, 1] and seconds per call.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Metrics {
    /// Probability that the call's output is correct.
    pub accuracy: f64,
    /// Seconds per call.
    pub latency_s: f64,
}

/// The metrics of every setting of every agent the workflow calls, ready for the proxy and search.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    /// Per agent (indexed by [`AgentId`]), one entry per `wf.agents[i].settings[j]`, in that order;
    /// empty for an agent the workflow's graph never calls.
    pub per_agent: Vec<Vec<Metrics>>,
    /// Rows used by no setting of the workflow (other agents' rows, or settings outside the space).
    pub n_unused_rows: usize,
    /// Agents that rows name but the workflow does not have, in first-row order (a renamed agent
    /// or another workflow's profiles: worth a warning, never silent).
    pub unknown_agents: Vec<String>,
}

impl Resolved {
    /// The metrics of `agent`'s settings, aligned with its `settings`; empty for an agent never called.
    ///
    /// Panics if `agent` is not an agent of the resolved workflow.
    pub fn metrics(&self, agent: AgentId) -> &[Metrics] {
        &self.per_agent[agent.0 as usize]
    }
}

/// Looks up every setting of every agent the workflow calls in `table`, with latency from `latency`.
///
/// Reports every setting without a row and, for [`LatencyModel::Tokens`], every model without a
/// positive throughput in `throughput` (the first row of a model counts).
pub fn resolve(
    wf: &Workflow,
    table: &ProfileTable,
    throughput: &[ThroughputRow],
    latency: LatencyModel,
) -> Result<Resolved, ProfileErrors> {
    let called = called_agents(wf);
    let mut speeds: HashMap<&str, &ThroughputRow> = HashMap::new();
    for row in throughput {
        speeds.entry(row.model.as_str()).or_insert(row);
    }
    let mut errors = Vec::new();
    let mut reported_models: Vec<&str> = Vec::new();
    let mut used = vec![false; table.len()];
    let mut per_agent = Vec::with_capacity(wf.agents.len());
    for (agent, is_called) in wf.agents.iter().zip(&called) {
        if !is_called {
            per_agent.push(Vec::new());
            continue;
        }
        let mut metrics = Vec::with_capacity(agent.settings.len());
        for setting in &agent.settings {
            let Some(pos) = table.position(&agent.name, &setting.model, setting.budget_tokens)
            else {
                errors.push(ProfileError::MissingRow {
                    file: table.source().into(),
                    agent: agent.name.clone(),
                    model: setting.model.clone(),
                    budget: setting.budget_tokens,
                });
                continue;
            };
            used[pos] = true;
            let row = &table.entries()[pos].row;
            let latency_s = match latency {
                LatencyModel::Measured => row.latency_s,
                LatencyModel::Tokens => {
                    let speed = speeds.get(setting.model.as_str());
                    let valid = speed.filter(|s| {
                        let ok = |x: f64| x.is_finite() && x > 0.0;
                        ok(s.prefill_tok_per_s) && ok(s.decode_tok_per_s)
                    });
                    match valid {
                        Some(s) => {
                            row.input_tokens / s.prefill_tok_per_s
                                + row.output_tokens / s.decode_tok_per_s
                        }
                        None => {
                            if !reported_models.contains(&setting.model.as_str()) {
                                reported_models.push(&setting.model);
                                errors.push(match speed {
                                    Some(s) => ProfileError::InvalidThroughput {
                                        model: s.model.clone(),
                                        prefill_tok_per_s: s.prefill_tok_per_s,
                                        decode_tok_per_s: s.decode_tok_per_s,
                                    },
                                    None => ProfileError::MissingThroughput {
                                        model: setting.model.clone(),
                                        agent: agent.name.clone(),
                                    },
                                });
                            }
                            continue;
                        }
                    }
                }
            };
            if !latency_s.is_finite() {
                errors.push(ProfileError::NonFiniteLatency {
                    agent: agent.name.clone(),
                    model: setting.model.clone(),
                    budget: setting.budget_tokens,
                });
                continue;
            }
            metrics.push(Metrics {
                accuracy: row.accuracy,
                latency_s,
            });
        }
        per_agent.push(metrics);
    }
    let n_unused_rows = used.iter().filter(|u| !**u).count();
    let mut unknown_agents: Vec<String> = Vec::new();
    for entry in table.entries() {
        let name = &entry.row.agent;
        if !wf.agents.iter().any(|a| &a.name == name) && !unknown_agents.contains(name) {
            unknown_agents.push(name.clone());
        }
    }
    ProfileErrors::check(
        errors,
        Resolved {
            per_agent,
            n_unused_rows,
            unknown_agents,
        },
    )
}

/// Which agents some call site reachable from the root may run (a repeat of at most 0 copies and
/// the fixer of a retry of at most 0 attempts never run).
fn called_agents(wf: &Workflow) -> Vec<bool> {
    let mut called = vec![false; wf.agents.len()];
    let mut seen = vec![false; wf.nodes.len()];
    let mut stack = vec![wf.root];
    while let Some(NodeId(id)) = stack.pop() {
        let Some(node) = wf.nodes.get(id as usize) else {
            continue;
        };
        if std::mem::replace(&mut seen[id as usize], true) {
            continue;
        }
        match &node.kind {
            NodeKind::Agent(AgentId(a)) => {
                if let Some(c) = called.get_mut(*a as usize) {
                    *c = true;
                }
            }
            NodeKind::Repeat { count, .. } if count.max == 0 => {}
            NodeKind::Retry { body, attempts, .. } if attempts.max == 0 => stack.push(*body),
            _ => stack.extend(wf.children(NodeId(id))),
        }
    }
    called
}

#[cfg(test)]
mod tests {
    use flowcompile_ir::{Agent, Count, Setting};

    use super::*;
    use crate::table::{parse_profiles, ProfileRow};
    use crate::Format;

    fn row(agent: &str, model: &str, budget: u32, accuracy: f64) -> ProfileRow {
        ProfileRow {
            agent: agent.into(),
            model: model.into(),
            budget_tokens: budget,
            accuracy,
            samples: 10,
            latency_s: 2.0,
            input_tokens: 1000.0,
            output_tokens: 100.0,
        }
    }

    /// `gen` x1..2 then `fmt`; `unused` is declared but never called.
    fn workflow() -> Workflow {
        let settings = vec![Setting::new("big", 10), Setting::new("small", 10)];
        let agents = vec![
            Agent::new("gen", settings.clone()),
            Agent::new("fmt", vec![Setting::new("small", 0)]),
            Agent::new("unused", settings),
        ];
        let mut wf = Workflow::new("w", agents);
        let gen = wf.add_node("gen", NodeKind::Agent(AgentId(0)));
        let gens = wf.add_node(
            "gens",
            NodeKind::Repeat {
                body: gen,
                count: Count::new(1, 2),
            },
        );
        let fmt = wf.add_node("fmt", NodeKind::Agent(AgentId(1)));
        wf.root = wf.add_node("root", NodeKind::Seq(vec![gens, fmt]));
        wf
    }

    fn table(rows: Vec<ProfileRow>) -> ProfileTable {
        ProfileTable::from_rows("p.csv", rows).unwrap()
    }

    fn full_table() -> ProfileTable {
        table(vec![
            row("fmt", "small", 0, 0.99),
            row("gen", "small", 10, 0.6),
            row("gen", "big", 10, 0.8),
            row("other_workflow_agent", "big", 10, 0.1),
            row("gen", "big", 999, 0.8),
        ])
    }

    #[test]
    fn measured_metrics_align_with_settings() {
        let r = resolve(&workflow(), &full_table(), &[], LatencyModel::Measured).unwrap();
        let acc: Vec<f64> = r.metrics(AgentId(0)).iter().map(|m| m.accuracy).collect();
        assert_eq!(acc, [0.8, 0.6]);
        assert_eq!(
            r.metrics(AgentId(1)),
            [Metrics {
                accuracy: 0.99,
                latency_s: 2.0
            }]
        );
        assert!(r.metrics(AgentId(2)).is_empty());
        assert_eq!(r.n_unused_rows, 2);
        assert_eq!(r.unknown_agents, ["other_workflow_agent"]);
    }

    #[test]
    fn token_latency_uses_the_model_throughput() {
        let speeds = [
            ThroughputRow {
                model: "big".into(),
                prefill_tok_per_s: 1000.0,
                decode_tok_per_s: 10.0,
            },
            ThroughputRow {
                model: "small".into(),
                prefill_tok_per_s: 2000.0,
                decode_tok_per_s: 100.0,
            },
        ];
        let r = resolve(&workflow(), &full_table(), &speeds, LatencyModel::Tokens).unwrap();
        let lat: Vec<f64> = r.metrics(AgentId(0)).iter().map(|m| m.latency_s).collect();
        assert_eq!(lat, [1.0 + 10.0, 0.5 + 1.0]);
    }

    #[test]
    fn every_missing_row_is_reported() {
        let t = table(vec![row("gen", "small", 10, 0.6)]);
        let errs = resolve(&workflow(), &t, &[], LatencyModel::Measured).unwrap_err();
        let got: Vec<String> = errs.errors().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            got,
            [
                "p.csv: no row for agent 'gen', model 'big', budget 10 (needed by the design space)",
                "p.csv: no row for agent 'fmt', model 'small', budget 0 (needed by the design space)",
            ]
        );
    }

    #[test]
    fn missing_throughput_is_reported_once_per_model() {
        let speeds = [ThroughputRow {
            model: "big".into(),
            prefill_tok_per_s: 1.0,
            decode_tok_per_s: 1.0,
        }];
        let errs = resolve(&workflow(), &full_table(), &speeds, LatencyModel::Tokens).unwrap_err();
        assert_eq!(
            errs.to_string(),
            "no throughput for model 'small' (token-based latency needs it for agent 'gen')"
        );
    }

    #[test]
    fn invalid_throughput_rows_are_reported() {
        let speeds = [
            ThroughputRow {
                model: "big".into(),
                prefill_tok_per_s: 0.0,
                decode_tok_per_s: 1.0,
            },
            ThroughputRow {
                model: "small".into(),
                prefill_tok_per_s: 1.0,
                decode_tok_per_s: f64::NAN,
            },
        ];
        let errs = resolve(&workflow(), &full_table(), &speeds, LatencyModel::Tokens).unwrap_err();
        let got: Vec<String> = errs.errors().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            got,
            [
                "throughput of model 'big': expected positive finite tokens per second, found prefill 0, decode 1",
                "throughput of model 'small': expected positive finite tokens per second, found prefill 1, decode NaN",
            ]
        );
    }

    #[test]
    fn overflowing_token_latency_is_reported() {
        let tiny = |model: &str| ThroughputRow {
            model: model.into(),
            prefill_tok_per_s: 5e-324,
            decode_tok_per_s: 1.0,
        };
        let errs = resolve(
            &workflow(),
            &full_table(),
            &[tiny("big"), tiny("small")],
            LatencyModel::Tokens,
        )
        .unwrap_err();
        assert_eq!(errs.len(), 3);
        assert_eq!(
            errs.errors()[0].to_string(),
            "latency of agent 'gen', model 'big', budget 10 is not finite: the model's throughput is too small"
        );
        assert_eq!(errs.errors()[0].line(), None);
    }

    #[test]
    fn measured_latency_needs_no_throughput() {
        assert!(resolve(&workflow(), &full_table(), &[], LatencyModel::Measured).is_ok());
    }

    #[test]
    fn agents_behind_zero_counts_are_not_needed() {
        let mut wf = workflow();
        let fixer = wf.add_node("fix", NodeKind::Agent(AgentId(2)));
        let body = wf.root;
        wf.root = wf.add_node(
            "loop",
            NodeKind::Retry {
                body,
                fixer,
                attempts: Count::exactly(0),
            },
        );
        let r = resolve(&wf, &full_table(), &[], LatencyModel::Measured).unwrap();
        assert!(r.metrics(AgentId(2)).is_empty());
        wf.nodes.last_mut().unwrap().kind = NodeKind::Retry {
            body,
            fixer,
            attempts: Count::new(0, 1),
        };
        let errs = resolve(&wf, &full_table(), &[], LatencyModel::Measured).unwrap_err();
        assert_eq!(errs.len(), 2);
        let none = wf.add_node(
            "none",
            NodeKind::Repeat {
                body: fixer,
                count: Count::exactly(0),
            },
        );
        wf.root = wf.add_node("root2", NodeKind::Seq(vec![body, none]));
        assert!(resolve(&wf, &full_table(), &[], LatencyModel::Measured).is_ok());
    }

    #[test]
    fn a_parsed_table_resolves() {
        let text = "agent,model,budget,accuracy,samples,latency_s,input_tokens,output_tokens\n\
                    gen,big,10,0.8,5,3,1,1\ngen,small,10,0.5,5,1,1,1\nfmt,small,0,1,5,0.1,1,1\n";
        let t = parse_profiles(text, "p.csv", Format::Csv).unwrap();
        let r = resolve(&workflow(), &t, &[], LatencyModel::Measured).unwrap();
        assert_eq!(
            r.per_agent[0][0],
            Metrics {
                accuracy: 0.8,
                latency_s: 3.0
            }
        );
        assert_eq!(r.n_unused_rows, 0);
        assert_eq!(LatencyModel::default().name(), "measured");
        assert_eq!(LatencyModel::Tokens.name(), "tokens");
    }
}

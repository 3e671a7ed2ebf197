//! What a point of an artifact does to each agent of the shape: whether it runs, how many calls a
//! run makes, and the (model, budget) of each call, read from the point's structure in the design
//! space (`flowcompile_ir::Expr`) and its settings per slot.

use flowcompile_artifact::{Artifact, Point, PointStructure};
use flowcompile_client::Providers;
use flowcompile_ir::{Config, DesignSpace, Setting, SlotId, Workflow};
use serde::Serialize;

/// Why a deployment cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    /// The artifact was compiled for another workflow.
    #[error("the artifact was compiled for workflow `{compiled}`, not the shape's `{shape}`")]
    WorkflowMismatch {
        /// The shape's workflow name.
        shape: String,
        /// The artifact's workflow name.
        compiled: String,
    },
    /// The artifact has no points.
    #[error("the artifact has no points")]
    NoPoints,
    /// A point does not fit the shape's design space.
    #[error("point {point}: {source}")]
    Point {
        /// Point id.
        point: String,
        /// Why.
        source: flowcompile_ir::ConfigError,
    },
    /// A point or a reference setting uses a model the providers file does not list.
    #[error("{place}: model `{model}` has no endpoint in the providers file; it lists: {known}")]
    UnknownModel {
        /// Where the model is used (`point p3, agent solver` or `reference of agent solver`).
        place: String,
        /// The model.
        model: String,
        /// The providers' model names, comma-separated.
        known: String,
    },
    /// The reference configuration gives an agent no setting.
    #[error("the reference configuration gives agent `{agent}` no setting")]
    NoReference {
        /// The agent.
        agent: String,
    },
}

/// One agent under one point: what the plan endpoint reports and where its calls go.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentPlan {
    /// Whether the point's structure calls the agent at all.
    pub enabled: bool,
    /// Calls of the agent one run makes at most (copies of a repeat, candidates of a vote, a retry's
    /// fixer once per attempt); 0 when switched off.
    pub samples: u32,
    /// The model of the agent's first call (its reference model when switched off).
    pub model: String,
    /// The thinking budget of the agent's first call, in tokens.
    pub budget: u32,
    /// The setting of each call in evaluation order (one per call site when sites have their own
    /// settings); empty when switched off.
    #[serde(skip)]
    pub calls: Vec<Setting>,
}

impl AgentPlan {
    /// The setting the `index`-th call of a run (from 0) goes to: that call site's, the last site's
    /// past the end, the reference's when the agent is switched off.
    pub fn setting(&self, index: u32) -> Setting {
        match self.calls.get(index as usize).or(self.calls.last()) {
            Some(s) => s.clone(),
            None => Setting::new(self.model.clone(), self.budget),
        }
    }
}

/// A point of the artifact and the plan of every agent of the shape under it, in agent order.
#[derive(Clone, Debug)]
pub struct PointPlan {
    /// The artifact's point.
    pub point: Point,
    /// One plan per agent of the shape, indexed like `Workflow::agents`.
    pub agents: Vec<AgentPlan>,
}

/// The plans of every point of an artifact compiled for a shape.
#[derive(Clone, Debug)]
pub struct Deployment {
    /// Agent names in the shape's order.
    pub agent_names: Vec<String>,
    /// One plan per artifact point, in the artifact's order (fastest first).
    pub points: Vec<PointPlan>,
}

fn check_model(providers: &Providers, model: &str, place: String) -> Result<(), DeployError> {
    if providers.get(model).is_some() {
        return Ok(());
    }
    let known: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
    Err(DeployError::UnknownModel {
        place,
        model: model.to_owned(),
        known: known.join(", "),
    })
}

/// The plan of every agent under `config`: the agents its structure calls with each call's
/// setting; the others switched off, answered under `fallback` (one setting per agent).
fn agent_plans(
    wf: &Workflow,
    space: &DesignSpace,
    config: &Config,
    fallback: &[Setting],
    providers: &Providers,
    place: &str,
) -> Result<Vec<AgentPlan>, DeployError> {
    let mut sites = Vec::new();
    space.structures[config.structure]
        .expr
        .for_each_possible_call(&mut |slot, agent| sites.push((agent.0 as usize, slot.0 as usize)));
    let mut agents: Vec<AgentPlan> = fallback
        .iter()
        .map(|s| AgentPlan {
            enabled: false,
            samples: 0,
            model: s.model.clone(),
            budget: s.budget_tokens,
            calls: Vec::new(),
        })
        .collect();
    for (agent, slot) in sites {
        let Some(setting) = config.setting(SlotId(slot as u32)) else {
            continue;
        };
        check_model(
            providers,
            &setting.model,
            format!("{place}, agent {}", wf.agents[agent].name),
        )?;
        let plan = &mut agents[agent];
        if !plan.enabled {
            plan.enabled = true;
            plan.model = setting.model.clone();
            plan.budget = setting.budget_tokens;
        }
        plan.samples += 1;
        plan.calls.push(setting.clone());
    }
    Ok(agents)
}

/// The reference configuration of a shape (the induction's: by default its largest structure,
/// each agent on its last model at its largest budget): what capture runs every agent under, and
/// what a deployment answers a switched-off agent with.
#[derive(Clone, Debug)]
pub struct Reference {
    /// Each agent's setting (its first slot's), in agent order.
    pub settings: Vec<Setting>,
    /// The reference structure's index and knob values.
    pub structure: PointStructure,
    /// Every agent's plan under the reference.
    pub agents: Vec<AgentPlan>,
}

impl Reference {
    /// The reference `config` of `wf` over `space`; every model it uses must be in `providers`.
    pub fn new(
        wf: &Workflow,
        space: &DesignSpace,
        config: &Config,
        providers: &Providers,
    ) -> Result<Reference, DeployError> {
        let mut per_agent: Vec<Option<Setting>> = vec![None; wf.agents.len()];
        for (slot, setting) in space.slots.iter().zip(&config.settings) {
            let entry = &mut per_agent[slot.agent.0 as usize];
            if entry.is_none() {
                entry.clone_from(setting);
            }
        }
        let mut settings = Vec::with_capacity(per_agent.len());
        for (s, agent) in per_agent.into_iter().zip(&wf.agents) {
            let s = s.ok_or_else(|| DeployError::NoReference {
                agent: agent.name.clone(),
            })?;
            check_model(
                providers,
                &s.model,
                format!("reference of agent {}", agent.name),
            )?;
            settings.push(s);
        }
        let agents = agent_plans(wf, space, config, &settings, providers, "reference")?;
        let structure = PointStructure {
            index: config.structure as u32,
            knobs: space.structures[config.structure]
                .knobs
                .iter()
                .map(|k| (wf.node(k.node).name.clone(), k.value))
                .collect(),
        };
        Ok(Reference {
            settings,
            structure,
            agents,
        })
    }
}

impl Deployment {
    /// The plans of `artifact`'s points over `wf` (the shape) and its design space; an agent a
    /// point switches off is answered under its `reference` setting. Every model a point uses must
    /// be in `providers`.
    pub fn new(
        wf: &Workflow,
        space: &DesignSpace,
        artifact: &Artifact,
        reference: &Reference,
        providers: &Providers,
    ) -> Result<Deployment, DeployError> {
        if artifact.workflow != wf.name {
            return Err(DeployError::WorkflowMismatch {
                shape: wf.name.clone(),
                compiled: artifact.workflow.clone(),
            });
        }
        if artifact.points.is_empty() {
            return Err(DeployError::NoPoints);
        }
        let mut points = Vec::with_capacity(artifact.points.len());
        for point in &artifact.points {
            let config = point.config(space).map_err(|source| DeployError::Point {
                point: point.id.clone(),
                source,
            })?;
            let agents = agent_plans(
                wf,
                space,
                &config,
                &reference.settings,
                providers,
                &format!("point {}", point.id),
            )?;
            points.push(PointPlan {
                point: point.clone(),
                agents,
            });
        }
        Ok(Deployment {
            agent_names: wf.agents.iter().map(|a| a.name.clone()).collect(),
            points,
        })
    }

    /// The index of the point with id `id`.
    pub fn point_index(&self, id: &str) -> Option<usize> {
        self.points.iter().position(|p| p.point.id == id)
    }
}

/// A point plan is selected by its point's predictions and named by its id.
impl flowcompile_select::Candidate for PointPlan {
    fn accuracy(&self) -> f64 {
        self.point.predicted.accuracy
    }

    fn latency_s(&self) -> f64 {
        self.point.predicted.latency_s
    }

    fn id(&self, _index: usize) -> String {
        self.point.id.clone()
    }
}

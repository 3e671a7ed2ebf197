//! The validated intermediate representation (IR) of a structured LLM workflow.
//!
//! A [`Workflow`] is what the `spec` crate lowers a workflow file into: agents (LLM sub-agents with a
//! prompt, an output parser and the (model, budget) [`Setting`]s the design space allows), deterministic
//! tools, and a graph of [`Node`]s built from sequence, parallel any-of / all-of, conditional, bounded
//! retry, self-consistency vote and the structure knobs (repeat a call 0..n times, an optional step).
//!
//! [`Workflow::design_space`] enumerates every valid [`Structure`] (one value per visited knob) as a
//! concrete, knob-free [`Expr`] tree over [`SlotId`]s: a slot is what gets one setting in a
//! configuration (an agent when call sites share a setting, as in the paper; a call site otherwise).
//! A [`Config`] is one point of that space: a structure and a setting per slot it calls.
//! [`ExecutionModel`] and [`LatencyModel`] say how predictions compose; every crate uses these two.
//!
//! ```
//! use flowcompile_ir::*;
//! let agent = Agent::new("solver", vec![Setting::new("m", 10), Setting::new("m", 100)]);
//! let mut wf = Workflow::new("demo", vec![agent]);
//! let leaf = wf.add_node("solver", NodeKind::Agent(AgentId(0)));
//! let rep = wf.add_node("solvers", NodeKind::Repeat { body: leaf, count: Count::new(1, 3) });
//! wf.root = rep;
//! let space = wf.design_space().unwrap();
//! assert_eq!(space.structures.len(), 3);
//! assert_eq!(space.n_configs().exact(), Some(6));
//! ```
#![deny(missing_docs)]

mod config;
pub mod json;
mod model;
mod restrict;
mod structure;
mod workflow;

pub use config::{Config, ConfigError};
pub use model::{ExecutionModel, LatencyModel, UnknownName};
pub use restrict::RestrictError;
pub use structure::{ConfigCount, DesignSpace, Expr, KnobValue, Slot, SpaceError, Structure};
pub use workflow::{
    Agent, AgentId, Branch, Count, Node, NodeId, NodeKind, OutputParser, Scorer, Setting, SlotId,
    Task, Tool, ToolId, ToolKind, Workflow,
};

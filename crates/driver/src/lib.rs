//! The flowcompile driver: the one library entry point that runs the compiler's passes, as
//! rust-analyzer's `ide` crate is the API its front ends call and cranelift's `Context::compile`
//! runs its passes with timings. The CLI, the server and every study call it; a CLI command is
//! flags in, a driver call, output out.
//!
//! The passes, in order, each in its module:
//!
//! | pass | module | does |
//! |---|---|---|
//! | load | [`load`] | workflow, profiles, artifacts and splits from files, every error located |
//! | restrict | [`load::restrict`] | narrows the design space to some models and budgets |
//! | measure | [`measure`] | data induction and profiling through the store (`flowcompile_pipeline`) |
//! | resolve, search, write | [`compile`] | per-setting metrics, the exact Pareto set, the artifact |
//! | item-wise | [`itemwise`] | the frontier's points composed again per validation item, votes by agreement |
//! | selection | [`optimism`] | each point's selection optimism, by the whole selection rerun on resampled items |
//! | intervals | [`uncertainty`] | 90% intervals of the points' predictions, by a bootstrap over validation items |
//! | eval | [`runs`] | end-to-end runs of configurations, resumable under one run-key scheme |
//! | validate | [`validate`] | a compiled frontier against held-out runs (`flowcompile test`) |
//! | route | [`route`] | the KNN router file from per-item profiles (`flowcompile route build`) |
//! | truth | [`truth`] | every configuration of a small space measured: the true frontier (`flowcompile truth`) |
//! | utility | [`utility`] | expected utility of the compiled set, uniform and routed (`eval --preferences`) |
//!
//! [`models`] says where the models are (providers file or the embedded zoo), [`config`] names
//! configurations (an artifact point, `MODEL@BUDGET` settings, the induction's reference).
//! Progress and log lines go to an [`Observer`]; failures are an [`Error`] of a kind each front end
//! maps to its own codes.
//!
//! ```no_run
//! use flowcompile_driver::compile::{compile, CompileOptions, ProfileSource};
//! use flowcompile_driver::Quiet;
//!
//! let opts = CompileOptions {
//!     workflow: "examples/math/workflow.toml".into(),
//!     restrict: Default::default(),
//!     profiles: ProfileSource::Files {
//!         profiles: "examples/math/profiles.csv".into(),
//!         throughput: None,
//!     },
//!     execution: Default::default(),
//!     latency: Default::default(),
//!     proxy: Default::default(),
//!     verify: None,
//!     output: Some("math.artifact.json".into()),
//!     models_label: None,
//! };
//! let compiled = compile(&opts, &Quiet).unwrap_or_else(|_| panic!("compile failed"));
//! println!("{} points in {:.3} s", compiled.artifact.points.len(), compiled.timings.search_s);
//! ```
#![deny(missing_docs)]

pub mod compile;
pub mod config;
mod dependence;
mod error;
pub mod itemwise;
pub mod load;
pub mod measure;
pub mod models;
mod observe;
pub mod optimism;
pub mod route;
pub mod runs;
#[cfg(test)]
mod testing;
pub mod truth;
pub mod uncertainty;
pub mod utility;
pub mod validate;

pub use error::{Error, Result};
pub use observe::{count, digits, Observer, Progress, Quiet};

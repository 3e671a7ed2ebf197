//! How faithful a compiled frontier is: predicted vs measured metrics of its points.
//!
//! `flowcompile test` runs frontier points of an artifact end to end on held-out data; this crate
//! turns the results into the `flowcompile.validation.v1` document ([`Validation`]). The statistics
//! in [`stats`] are written out here because they are the product: [`stats::spearman`] (rank
//! correlation, average ranks for ties), [`stats::pairwise_agreement`] (fraction of point pairs
//! ordered as measured), [`stats::mae`] and [`stats::mae_calibrated`] (the paper's MAE after a
//! least-squares affine fit, which judges order and spacing rather than scale). A statistic that
//! has no meaning for the points (fewer than 2, a constant side) is `None` with an [`Undefined`]
//! reason, never NaN. [`Coverage`] counts how often measurements fall inside the artifact's 90%
//! intervals (widened by the test sample's own noise). [`Measured::from_items`] summarises one
//! point's runs (failed runs are counted, never scored as wrong), [`spread`] picks points evenly
//! along a frontier, and [`json_schema`] is the document's schema, shipped as
//! `schemas/validation.schema.json`.
//!
//! The crate does no I/O.
//!
//! ```
//! use flowcompile_validate::{stats, MetricFidelity, Undefined};
//!
//! let predicted = [0.60, 0.70, 0.80, 0.90];
//! let measured = [0.55, 0.70, 0.65, 0.85];
//! assert_eq!(stats::spearman(&predicted, &measured)?, 0.8);
//! let f = MetricFidelity::compute(&predicted, &measured);
//! assert_eq!(f.pairwise_agreement, Some(5.0 / 6.0));
//! assert!(f.mae_calibrated.unwrap() < f.mae.unwrap());
//! assert_eq!(stats::spearman(&[0.5], &[0.4]), Err(Undefined::TooFewPoints { needed: 2, got: 1 }));
//! # Ok::<(), Undefined>(())
//! ```
#![deny(missing_docs)]

mod doc;
pub mod stats;

pub use doc::{
    json_schema, spread, Coverage, Fidelity, ItemOutcome, LatencySource, Measured, MetricFidelity,
    Metrics, PointValidation, Runs, Validation, ValidationFormat, FORMAT_V1, INTERVAL_LEVEL,
};
/// How parallel branches' latencies compose, in a measurement as in the proxy (`flowcompile_ir`).
pub use flowcompile_ir::ExecutionModel;
pub use stats::{Affine, PairwiseAgreement, Undefined};

//! Startup: checking an artifact against its workflow and the models, and the server's options.

use std::fmt;
use std::time::Duration;

use flowcompile_artifact::{Artifact, Point};
use flowcompile_client::Client;
use flowcompile_ir::Workflow;
use flowcompile_route::Router as KnnRouter;
use flowcompile_runner::{Config, ConfigError, RunError, Runner};

/// Why a compiled workflow cannot be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The artifact was compiled for another workflow.
    #[error("the artifact was compiled for workflow `{compiled}`, not `{workflow}`")]
    WorkflowMismatch {
        /// The workflow file's name.
        workflow: String,
        /// The artifact's workflow name.
        compiled: String,
    },
    /// The artifact has no points.
    #[error("the artifact of workflow `{workflow}` has no points")]
    NoPoints {
        /// Workflow name.
        workflow: String,
    },
    /// A point does not fit the workflow's design space.
    #[error("workflow `{workflow}`, point {point}: {source}")]
    Point {
        /// Workflow name.
        workflow: String,
        /// Point id.
        point: String,
        /// Why.
        source: ConfigError,
    },
    /// A point uses a model the providers do not list.
    #[error("workflow `{workflow}`, point {point}: model `{model}` (slot `{slot}`) has no endpoint in the providers; they list: {known}")]
    UnknownModel {
        /// Workflow name.
        workflow: String,
        /// Point id.
        point: String,
        /// Slot name.
        slot: String,
        /// The model.
        model: String,
        /// The providers' model names, comma-separated.
        known: String,
    },
    /// The workflow's design space cannot be built.
    #[error(transparent)]
    Runner(#[from] RunError),
    /// A served name is empty or contains `@`.
    #[error("invalid model name `{name}`: expected a non-empty name without `@` or whitespace")]
    BadName {
        /// The name.
        name: String,
    },
    /// Two workflows are served under one name.
    #[error("two workflows are served as `{name}`")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// Nothing to serve.
    #[error("no workflow to serve")]
    Empty,
}

/// One compiled workflow ready to serve: the workflow, its artifact's points resolved into
/// configurations, and the client its model calls go through.
pub struct ServedWorkflow {
    pub(super) name: String,
    pub(super) runner: Runner,
    pub(super) fields: Vec<String>,
    pub(super) points: Vec<Point>,
    pub(super) configs: Vec<Config>,
    pub(super) models_label: Option<String>,
    pub(super) knn: Option<Knn>,
}

/// Per-query routing: the KNN router and where query embeddings come from.
pub(super) struct Knn {
    pub(super) router: KnnRouter,
    pub(super) client: Client,
    pub(super) model: String,
}

impl fmt::Debug for ServedWorkflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServedWorkflow")
            .field("name", &self.name)
            .field("points", &self.points.len())
            .field("models_label", &self.models_label)
            .finish_non_exhaustive()
    }
}

impl ServedWorkflow {
    /// The workflow served.
    pub fn workflow(&self) -> &Workflow {
        self.runner.workflow()
    }

    /// Checks that `artifact` belongs to `wf`, that every point fits the design space and that the
    /// client has an endpoint for every model a point uses. The served workflow owns `wf`. The model name is
    /// the workflow's name and the models label the artifact's, until changed.
    pub fn new(
        wf: Workflow,
        artifact: Artifact,
        client: Client,
    ) -> Result<ServedWorkflow, ServeError> {
        if artifact.workflow != wf.name {
            return Err(ServeError::WorkflowMismatch {
                workflow: wf.name.clone(),
                compiled: artifact.workflow,
            });
        }
        if artifact.points.is_empty() {
            return Err(ServeError::NoPoints {
                workflow: wf.name.clone(),
            });
        }
        let providers = client.providers().clone();
        let runner = Runner::new(wf, client)?;
        let wf = runner.workflow();
        let mut configs = Vec::with_capacity(artifact.points.len());
        for p in &artifact.points {
            let config = p
                .config(runner.space())
                .map_err(|source| ServeError::Point {
                    workflow: wf.name.clone(),
                    point: p.id.clone(),
                    source,
                })?;
            if let Some((slot, s)) = p
                .settings
                .iter()
                .find(|(_, s)| providers.get(&s.model).is_none())
            {
                return Err(ServeError::UnknownModel {
                    workflow: wf.name.clone(),
                    point: p.id.clone(),
                    slot: slot.clone(),
                    model: s.model.clone(),
                    known: providers
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            configs.push(config);
        }
        let name = wf.name.clone();
        check_name(&name)?;
        let fields = wf.task.fields.clone();
        Ok(ServedWorkflow {
            name,
            runner,
            fields,
            models_label: artifact.provenance.models_label.clone(),
            points: artifact.points,
            configs,
            knn: None,
        })
    }

    /// Routes every request that does not name a point through the KNN router
    /// (`flowcompile_route`): the request's input text is embedded with `embed_model` through
    /// `embed_client`'s `/v1/embeddings`, and its preference or limits pick a point of the frontier
    /// re-composed from the nearest validation queries' profiles. The router must have been built
    /// for this workflow (`flowcompile_route::Router::new` checks it against the workflow).
    pub fn with_router(
        mut self,
        router: KnnRouter,
        embed_client: Client,
        embed_model: impl Into<String>,
    ) -> ServedWorkflow {
        self.knn = Some(Knn {
            router,
            client: embed_client,
            model: embed_model.into(),
        });
        self
    }

    /// Serves the workflow as model `name` instead of the workflow's name.
    pub fn with_name(mut self, name: impl Into<String>) -> Result<ServedWorkflow, ServeError> {
        let name = name.into();
        check_name(&name)?;
        self.name = name;
        Ok(self)
    }

    /// Says which models answer (e.g. `zoo (synthetic)`) in every response, instead of the
    /// artifact's label.
    pub fn with_models_label(mut self, label: Option<String>) -> ServedWorkflow {
        self.models_label = label;
        self
    }

    /// The model name clients call.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The artifact's points, in artifact order.
    pub fn points(&self) -> &[Point] {
        &self.points
    }
}

fn check_name(name: &str) -> Result<(), ServeError> {
    if name.is_empty() || name.contains('@') || name.chars().any(char::is_whitespace) {
        return Err(ServeError::BadName {
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// Limits and access control of the workflow server.
#[derive(Clone, PartialEq)]
pub struct WorkflowServeOptions {
    /// Largest accepted request body in bytes; larger ones get 413.
    pub body_limit_bytes: usize,
    /// Longest a workflow may run for one request; past it the request gets 504.
    pub request_timeout: Duration,
    /// Bearer token every `/v1/...` request must send (`Authorization: Bearer TOKEN`); `None` = open.
    pub token: Option<String>,
}

impl fmt::Debug for WorkflowServeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkflowServeOptions")
            .field("body_limit_bytes", &self.body_limit_bytes)
            .field("request_timeout", &self.request_timeout)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Default for WorkflowServeOptions {
    /// 1 MiB bodies, 300 s per request, no token.
    fn default() -> Self {
        WorkflowServeOptions {
            body_limit_bytes: 1 << 20,
            request_timeout: Duration::from_secs(300),
            token: None,
        }
    }
}

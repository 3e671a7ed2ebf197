//! The router: nearest validation items by cosine similarity, their profiles averaged per agent and
//! setting, the frontier re-composed by the exact search, a point picked by the request.

use flowcompile_artifact::{Point, PointSetting, PointStructure, Predicted};
use flowcompile_ir::{DesignSpace, SlotId, Tool, Workflow};
use flowcompile_proxy::{ExecutionModel, Metrics};
use flowcompile_search::{pareto, Frontier, Problem};
use flowcompile_select::{select_scaled, Candidate, Request};

use crate::error::RouteError;
use crate::file::RouterFile;

/// A validation item chosen as a neighbour of a query.
#[derive(Clone, Debug, PartialEq)]
pub struct Neighbour {
    /// The item's id.
    pub id: String,
    /// Cosine similarity to the query, in [-1, 1].
    pub similarity: f32,
}

/// A query's frontier: the exact Pareto set under its neighbours' profiles.
#[derive(Clone, Debug)]
pub struct QueryFrontier {
    /// The frontier, points sorted by predicted latency.
    pub frontier: Frontier,
    /// The nearest items, most similar first (empty when the query embedding is all zeros).
    pub neighbours: Vec<Neighbour>,
    /// (agent, setting, neighbour) cells taken from the agent's global profile because the
    /// neighbour had no call there, out of `cells`.
    pub fallbacks: usize,
    /// (agent, setting, neighbour) cells averaged in all.
    pub cells: usize,
}

/// The configuration routed for one query.
#[derive(Clone, Debug)]
pub struct Routed {
    /// Structure index in the workflow's design space.
    pub structure: usize,
    /// Per slot of the structure, an index into the slot's agent's settings.
    pub settings: Vec<(SlotId, u32)>,
    /// The point's accuracy and latency predicted from the neighbours' profiles.
    pub predicted: Metrics,
    /// The chosen point's position on the query's frontier, and the frontier's size.
    pub index: usize,
    /// Points on the query's frontier.
    pub frontier_len: usize,
    /// The neighbours and fallback counts the frontier came from.
    pub neighbours: Vec<Neighbour>,
    /// Cells that fell back to the global profile, out of `cells`.
    pub fallbacks: usize,
    /// Cells averaged in all.
    pub cells: usize,
    /// The configuration as an artifact point (id `knn`): structure with its knob values, settings
    /// by slot name, the prediction from the neighbours' profiles; what a server reports and runs.
    pub point: Point,
}

/// A KNN router over one workflow, built from a [`RouterFile`]; routing is pure computation.
#[derive(Clone, Debug)]
pub struct Router {
    space: DesignSpace,
    tools: Vec<Tool>,
    exec: ExecutionModel,
    k: usize,
    dims: usize,
    /// Agent index of each slot.
    slot_agent: Vec<usize>,
    /// Per agent, per setting: the global profile.
    global: Vec<Vec<Metrics>>,
    /// Offset of each agent's first setting in a flat (agent, setting) cell index.
    offsets: Vec<usize>,
    n_cells: usize,
    ids: Vec<String>,
    /// Item embeddings, L2-normalised (zero vectors stay zero), `dims` per item.
    embeddings: Vec<f32>,
    /// Per item, its measured cells as (flat cell index, metrics), sorted by cell.
    cells: Vec<Vec<(usize, Metrics)>>,
    /// The largest predicted latency of the static frontier (global profiles): the fixed latency
    /// scale of preference utilities.
    lat_max: f64,
    /// Slot names, for routed points.
    slot_names: Vec<String>,
    /// Per structure, its knobs' node names and values.
    knobs: Vec<Vec<(String, u32)>>,
    /// Per agent, its settings (model, budget).
    settings: Vec<Vec<(String, u32)>>,
}

/// A point of a query's frontier as a selection candidate, named `q{index}` in errors.
struct QueryPoint<'a>(&'a Metrics);

impl Candidate for QueryPoint<'_> {
    fn accuracy(&self) -> f64 {
        self.0.accuracy
    }
    fn latency_s(&self) -> f64 {
        self.0.latency_s
    }
    fn id(&self, index: usize) -> String {
        format!("q{index}")
    }
}

fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

impl Router {
    /// Builds the router for `wf` from `file` (read from `source`, named in errors).
    ///
    /// The file must have been built for this workflow: same name, the same agents in the same
    /// order, each with the same settings in the same order.
    pub fn new(wf: &Workflow, file: RouterFile, source: &str) -> Result<Router, RouteError> {
        let bad = |field: String, expected: String| RouteError::Field {
            file: source.to_string(),
            field,
            expected,
        };
        if file.workflow != wf.name {
            return Err(bad(
                "workflow".into(),
                format!("built for workflow '{}', not '{}'", file.workflow, wf.name),
            ));
        }
        if file.agents.len() != wf.agents.len() {
            return Err(bad(
                "agents".into(),
                format!(
                    "expected the workflow's {} agents, found {}",
                    wf.agents.len(),
                    file.agents.len()
                ),
            ));
        }
        for (a, (fa, wa)) in file.agents.iter().zip(&wf.agents).enumerate() {
            if fa.name != wa.name {
                return Err(bad(
                    format!("agents[{a}].name"),
                    format!("expected '{}', found '{}'", wa.name, fa.name),
                ));
            }
            let same = fa.settings.len() == wa.settings.len()
                && fa
                    .settings
                    .iter()
                    .zip(&wa.settings)
                    .all(|(f, w)| f.model == w.model && f.budget_tokens == w.budget_tokens);
            if !same {
                return Err(bad(
                    format!("agents[{a}].settings"),
                    format!(
                        "expected the {} settings agent '{}' has in the workflow, in order; rebuild the router",
                        wa.settings.len(),
                        wa.name
                    ),
                ));
            }
        }
        let space = wf
            .design_space()
            .map_err(|e| bad("workflow".into(), e.to_string()))?;
        let global: Vec<Vec<Metrics>> = file
            .agents
            .iter()
            .map(|a| {
                a.settings
                    .iter()
                    .map(|s| Metrics {
                        accuracy: s.accuracy,
                        latency_s: s.latency_s,
                    })
                    .collect()
            })
            .collect();
        let mut offsets = Vec::with_capacity(global.len());
        let mut n_cells = 0;
        for g in &global {
            offsets.push(n_cells);
            n_cells += g.len();
        }
        let mut embeddings = Vec::with_capacity(file.items.len() * file.dims);
        let mut ids = Vec::with_capacity(file.items.len());
        let mut cells = Vec::with_capacity(file.items.len());
        let m = file.prior_calls;
        for item in file.items {
            let mut e = item.embedding;
            normalise(&mut e);
            embeddings.extend_from_slice(&e);
            let mut c: Vec<(usize, Metrics)> = item
                .profile
                .iter()
                .map(|c| {
                    let g = global[c.agent][c.setting];
                    let n = f64::from(c.calls);
                    let shrink = |own: f64, prior: f64| match n + m > 0.0 {
                        true => (n * own + m * prior) / (n + m),
                        false => prior,
                    };
                    (
                        offsets[c.agent] + c.setting,
                        Metrics {
                            accuracy: shrink(c.accuracy, g.accuracy),
                            latency_s: shrink(c.latency_s, g.latency_s),
                        },
                    )
                })
                .collect();
            c.sort_by_key(|&(i, _)| i);
            c.dedup_by_key(|&mut (i, _)| i);
            cells.push(c);
            ids.push(item.id);
        }
        let knobs = space
            .structures
            .iter()
            .map(|s| {
                s.knobs
                    .iter()
                    .map(|k| (wf.node(k.node).name.clone(), k.value))
                    .collect()
            })
            .collect();
        let settings = wf
            .agents
            .iter()
            .map(|a| {
                a.settings
                    .iter()
                    .map(|s| (s.model.clone(), s.budget_tokens))
                    .collect()
            })
            .collect();
        let mut router = Router {
            slot_names: space.slots.iter().map(|s| s.name.clone()).collect(),
            knobs,
            settings,
            slot_agent: space.slots.iter().map(|s| s.agent.0 as usize).collect(),
            space,
            tools: wf.tools.clone(),
            exec: file.execution,
            k: file.k,
            dims: file.dims,
            global,
            offsets,
            n_cells,
            ids,
            embeddings,
            cells,
            lat_max: 0.0,
        };
        router.lat_max = router
            .compose(&router.global)
            .points
            .iter()
            .map(|p| p.metrics.latency_s)
            .filter(|l| l.is_finite())
            .fold(0.0, f64::max);
        Ok(router)
    }

    /// The exact frontier under per-agent metrics.
    fn compose(&self, per_agent: &[Vec<Metrics>]) -> Frontier {
        let per_slot: Vec<Vec<Metrics>> = self
            .slot_agent
            .iter()
            .map(|&a| per_agent[a].clone())
            .collect();
        pareto(&Problem::new(
            &self.space,
            &self.tools,
            &per_slot,
            self.exec,
        ))
    }

    /// The largest predicted latency of the static frontier (every agent on its global profile):
    /// the latency scale preferences are weighed on, the same for every query (and the artifact's
    /// largest latency when the artifact was compiled from the same profiles).
    pub fn lat_max(&self) -> f64 {
        self.lat_max
    }

    /// Neighbours a query's frontier is composed from.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Length of the embeddings queries must have.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Validation items the router holds.
    pub fn n_items(&self) -> usize {
        self.ids.len()
    }

    /// The design space points' structures and slots refer to.
    pub fn space(&self) -> &DesignSpace {
        &self.space
    }

    /// The `k` items most similar to `query` by cosine similarity, most similar first (ties to the
    /// earlier item); none when the query is all zeros (nothing to compare).
    pub fn neighbours(&self, query: &[f32]) -> Result<Vec<(usize, f32)>, RouteError> {
        if query.len() != self.dims {
            return Err(RouteError::QueryDims {
                expected: self.dims,
                found: query.len(),
            });
        }
        if let Some(index) = query.iter().position(|x| !x.is_finite()) {
            return Err(RouteError::QueryNotFinite { index });
        }
        let norm = query.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm == 0.0 {
            return Ok(Vec::new());
        }
        let mut sims: Vec<(usize, f32)> = self
            .embeddings
            .chunks_exact(self.dims)
            .enumerate()
            .map(|(i, e)| {
                (
                    i,
                    e.iter().zip(query).map(|(a, b)| a * b).sum::<f32>() / norm,
                )
            })
            .collect();
        let order = |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        let k = self.k.min(sims.len());
        if k < sims.len() {
            sims.select_nth_unstable_by(k, order);
            sims.truncate(k);
        }
        sims.sort_unstable_by(order);
        Ok(sims)
    }

    /// Per agent, per setting: the mean over `neighbours` of each one's own measurement, or the
    /// agent's global profile where the neighbour has none; the global profile when there are no
    /// neighbours. Returns the metrics and how many cells fell back.
    pub fn metrics(&self, neighbours: &[usize]) -> (Vec<Vec<Metrics>>, usize) {
        if neighbours.is_empty() {
            return (self.global.clone(), 0);
        }
        let mut acc = vec![0.0; self.n_cells];
        let mut lat = vec![0.0; self.n_cells];
        let mut measured = vec![0u32; self.n_cells];
        for &n in neighbours {
            for &(c, m) in &self.cells[n] {
                acc[c] += m.accuracy;
                lat[c] += m.latency_s;
                measured[c] += 1;
            }
        }
        let k = neighbours.len() as u32;
        let mut fallbacks = 0;
        let metrics = self
            .global
            .iter()
            .zip(&self.offsets)
            .map(|(g, &off)| {
                g.iter()
                    .enumerate()
                    .map(|(s, gm)| {
                        let c = off + s;
                        let missing = k - measured[c];
                        fallbacks += missing as usize;
                        let n = f64::from(k);
                        Metrics {
                            accuracy: (acc[c] + f64::from(missing) * gm.accuracy) / n,
                            latency_s: (lat[c] + f64::from(missing) * gm.latency_s) / n,
                        }
                    })
                    .collect()
            })
            .collect();
        (metrics, fallbacks)
    }

    /// The exact frontier of the workflow under `query`'s neighbours' profiles.
    pub fn frontier(&self, query: &[f32]) -> Result<QueryFrontier, RouteError> {
        let near = self.neighbours(query)?;
        let idx: Vec<usize> = near.iter().map(|&(i, _)| i).collect();
        let (per_agent, fallbacks) = self.metrics(&idx);
        Ok(QueryFrontier {
            frontier: self.compose(&per_agent),
            neighbours: near
                .into_iter()
                .map(|(i, similarity)| Neighbour {
                    id: self.ids[i].clone(),
                    similarity,
                })
                .collect(),
            fallbacks,
            cells: idx.len() * self.n_cells,
        })
    }

    /// Routes one query: its frontier, then the point `request` picks among the frontier's metrics,
    /// as [`flowcompile_select::select`] picks from an artifact (by limits, or by preference with
    /// latency normalised by [`Router::lat_max`], the static frontier's scale, so that a preference
    /// weighs speed the same for every query).
    pub fn route(&self, query: &[f32], request: &Request) -> Result<Routed, RouteError> {
        let q = self.frontier(query)?;
        let candidates: Vec<QueryPoint> = q
            .frontier
            .points
            .iter()
            .map(|p| QueryPoint(&p.metrics))
            .collect();
        let index = select_scaled(&candidates, request, self.lat_max)?;
        let p = &q.frontier.points[index];
        let point = Point {
            id: "knn".into(),
            structure: PointStructure {
                index: p.structure as u32,
                knobs: self.knobs[p.structure].iter().cloned().collect(),
            },
            settings: p
                .settings
                .iter()
                .map(|&(slot, s)| {
                    let (model, budget_tokens) =
                        &self.settings[self.slot_agent[slot.0 as usize]][s as usize];
                    (
                        self.slot_names[slot.0 as usize].clone(),
                        PointSetting {
                            model: model.clone(),
                            budget_tokens: *budget_tokens,
                        },
                    )
                })
                .collect(),
            predicted: Predicted::new(p.metrics.accuracy, p.metrics.latency_s),
            origin: None,
        };
        Ok(Routed {
            point,
            structure: p.structure,
            settings: p.settings.clone(),
            predicted: p.metrics,
            index,
            frontier_len: candidates.len(),
            neighbours: q.neighbours,
            fallbacks: q.fallbacks,
            cells: q.cells,
        })
    }
}

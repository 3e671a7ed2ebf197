//! Filtering the pairs of two fronts without looking at most of them.
//!
//! A fold step combines every point of its left front (the state so far) with every point of its
//! right front (the next child), and keeps what [`pareto_filter`] keeps. Most pairs are dominated.
//! Each front, split by tag, is a list of antichains (accuracy and latency both decrease along one),
//! so consecutive points of an antichain bound a block of pairs: the step of the block's best
//! accuracy with its best latency is at least as good as every pair in it, the proxy being monotone.
//! A coarser grid (every [`STRIDE`]-th point of each antichain, filtered the same way, recursively)
//! gives pairs that are surely there; a block is skipped when one of them, of a tag not larger, is
//! strictly more accurate than the block's bound and not slower. A skipped pair would be dropped by
//! that one (or by what drops it), so the filter of what is left is the filter of all pairs.

use std::collections::BTreeMap;
use std::ops::Bound;

use flowcompile_proxy::Metrics;

use crate::frontier::{pareto_filter, Candidate, Front};

/// Below this many pairs, all are filtered directly.
const DIRECT: usize = 1 << 12;
/// The coarser grid takes every `STRIDE`-th point of each antichain.
const STRIDE: usize = 4;
/// Points of a left antichain per block.
const ROWS: usize = 8;
/// Points of a right antichain per block.
const COLS: usize = 4;

/// Every pair of a left and a right front, with the tag of each pair.
pub(crate) struct Grid<'a> {
    pub left: &'a Front,
    pub right: &'a Front,
    /// Tag of a pair: `tags[left tag * right_tags + right tag]`.
    pub tags: Vec<u32>,
    pub right_tags: usize,
}

impl Grid<'_> {
    fn tag(&self, i: u32, j: u32) -> u32 {
        let (a, b) = (self.left.tags[i as usize], self.right.tags[j as usize]);
        self.tags[a as usize * self.right_tags + b as usize]
    }
}

/// A front's points split into antichains.
type Chains = Vec<Vec<u32>>;

/// A pair: the grid, the left point and the right point.
pub(crate) type Pair = (u32, u32, u32);

/// What [`pareto_filter`] keeps of all pairs of the grids combined by `step`, pairs given grid by
/// grid, left point by left point (`n_tags` tags in all).
pub(crate) fn pair_filter(
    grids: &[Grid],
    step: &dyn Fn(Metrics, Metrics) -> Metrics,
    n_tags: usize,
) -> Vec<Candidate<Pair>> {
    let rows: Vec<Vec<u32>> = grids
        .iter()
        .map(|g| (0..g.left.len() as u32).collect())
        .collect();
    let cols: Vec<Vec<u32>> = grids
        .iter()
        .map(|g| (0..g.right.len() as u32).collect())
        .collect();
    filter_sub(grids, &rows, &cols, step, n_tags)
}

/// Indices of `points` (of `front`, in its order) split by tag, each antichain in front order.
fn antichains(front: &Front, points: &[u32]) -> Chains {
    let mut by_tag: Vec<(u32, u32)> = points
        .iter()
        .map(|&i| (front.tags[i as usize], i))
        .collect();
    by_tag.sort();
    by_tag
        .chunk_by(|a, b| a.0 == b.0)
        .map(|run| run.iter().map(|&(_, i)| i).collect())
        .collect()
}

/// Every `STRIDE`-th point of each antichain, in front order; and a mark on each of them.
fn coarser(chains: &[Vec<u32>], len: usize) -> (Vec<u32>, Vec<bool>) {
    let mut marked = vec![false; len];
    for chain in chains {
        for &i in chain.iter().step_by(STRIDE) {
            marked[i as usize] = true;
        }
    }
    let points = (0..len as u32).filter(|&i| marked[i as usize]).collect();
    (points, marked)
}

/// The order of `total_cmp` as an unsigned key.
fn key(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

/// Points inserted so far, by accuracy: enough to tell whether one of them is strictly more
/// accurate than a given point and not slower.
#[derive(Default)]
struct Staircase(BTreeMap<u64, f64>);

impl Staircase {
    fn insert(&mut self, m: Metrics) {
        let k = key(m.accuracy);
        if let Some((_, &l)) = self.0.range(k..).next() {
            if l <= m.latency_s {
                return;
            }
        }
        let dominated: Vec<u64> = self
            .0
            .range(..k)
            .rev()
            .take_while(|(_, &l)| l >= m.latency_s)
            .map(|(&k, _)| k)
            .collect();
        for k in dominated {
            self.0.remove(&k);
        }
        self.0.insert(k, m.latency_s);
    }

    /// Whether a point inserted is strictly more accurate than `m` and at most as slow.
    fn beats(&self, m: Metrics) -> bool {
        if m.accuracy.is_nan() || m.latency_s.is_nan() {
            return false;
        }
        // Numerically above: past both zeros when `m` is a zero.
        let floor = key(if m.accuracy == 0.0 { 0.0 } else { m.accuracy });
        self.0
            .range((Bound::Excluded(floor), Bound::Unbounded))
            .next()
            .is_some_and(|(_, &l)| l <= m.latency_s)
    }
}

/// The pair `(i, j)` of grid `g`.
fn pair(
    grids: &[Grid],
    step: &dyn Fn(Metrics, Metrics) -> Metrics,
    g: usize,
    i: u32,
    j: u32,
) -> Candidate<Pair> {
    let grid = &grids[g];
    let m = step(
        grid.left.metrics[i as usize],
        grid.right.metrics[j as usize],
    );
    (m, grid.tag(i, j), (g as u32, i, j))
}

/// Every pair of the given rows and columns, filtered.
fn filter_sub_direct(
    grids: &[Grid],
    rows: &[Vec<u32>],
    cols: &[Vec<u32>],
    step: &dyn Fn(Metrics, Metrics) -> Metrics,
    n_tags: usize,
) -> Vec<Candidate<Pair>> {
    let mut candidates = Vec::new();
    for (g, (r, c)) in rows.iter().zip(cols).enumerate() {
        for &i in r {
            candidates.extend(c.iter().map(|&j| pair(grids, step, g, i, j)));
        }
    }
    pareto_filter(candidates, n_tags)
}

/// What [`pareto_filter`] keeps of the pairs of the given rows and columns of each grid.
fn filter_sub(
    grids: &[Grid],
    rows: &[Vec<u32>],
    cols: &[Vec<u32>],
    step: &dyn Fn(Metrics, Metrics) -> Metrics,
    n_tags: usize,
) -> Vec<Candidate<Pair>> {
    let total: usize = rows.iter().zip(cols).map(|(r, c)| r.len() * c.len()).sum();
    if total <= DIRECT {
        return filter_sub_direct(grids, rows, cols, step, n_tags);
    }
    let chains: Vec<(Chains, Chains)> = grids
        .iter()
        .enumerate()
        .map(|(g, grid)| {
            (
                antichains(grid.left, &rows[g]),
                antichains(grid.right, &cols[g]),
            )
        })
        .collect();
    let mut sub_rows = Vec::new();
    let mut sub_cols = Vec::new();
    let mut marks = Vec::new();
    let mut blocks = Vec::new();
    for (g, (grid, (row_chains, col_chains))) in grids.iter().zip(&chains).enumerate() {
        let (r, row_marks) = coarser(row_chains, grid.left.len());
        let (c, col_marks) = coarser(col_chains, grid.right.len());
        sub_rows.push(r);
        sub_cols.push(c);
        marks.push((row_marks, col_marks));
        for rs in row_chains.iter().flat_map(|chain| chain.chunks(ROWS)) {
            let (first, last) = (rs[0] as usize, rs[rs.len() - 1] as usize);
            let best_left = Metrics {
                accuracy: grid.left.metrics[first].accuracy,
                latency_s: grid.left.metrics[last].latency_s,
            };
            for cs in col_chains.iter().flat_map(|chain| chain.chunks(COLS)) {
                let (first, last) = (cs[0] as usize, cs[cs.len() - 1] as usize);
                let best_right = Metrics {
                    accuracy: grid.right.metrics[first].accuracy,
                    latency_s: grid.right.metrics[last].latency_s,
                };
                let bound = step(best_left, best_right);
                blocks.push((grid.tag(rs[0], cs[0]), bound, g, rs, cs));
            }
        }
    }
    let sub_total: usize = sub_rows
        .iter()
        .zip(&sub_cols)
        .map(|(r, c)| r.len() * c.len())
        .sum();
    if sub_total * 2 > total {
        // Antichains too short to thin: no coarser grid to learn from.
        return filter_sub_direct(grids, rows, cols, step, n_tags);
    }
    let coarse = filter_sub(grids, &sub_rows, &sub_cols, step, n_tags);
    // Blocks by tag, each tested against the coarse pairs of tags up to its own.
    blocks.sort_by_key(|b| b.0);
    let mut by_tag: Vec<usize> = (0..coarse.len()).collect();
    by_tag.sort_by_key(|&c| coarse[c].1);
    let mut known = Staircase::default();
    let mut next = 0;
    let mut candidates: Vec<Candidate<Pair>> = coarse.clone();
    for (tag, bound, g, rs, cs) in blocks {
        while next < by_tag.len() && coarse[by_tag[next]].1 <= tag {
            known.insert(coarse[by_tag[next]].0);
            next += 1;
        }
        if known.beats(bound) {
            continue;
        }
        let (row_marks, col_marks) = &marks[g];
        for &i in rs {
            for &j in cs {
                if !(row_marks[i as usize] && col_marks[j as usize]) {
                    candidates.push(pair(grids, step, g, i, j));
                }
            }
        }
    }
    pareto_filter(candidates, n_tags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontier::tests::{front_of, Rng};

    fn all_pairs(
        grids: &[Grid],
        step: &dyn Fn(Metrics, Metrics) -> Metrics,
    ) -> Vec<Candidate<Pair>> {
        let mut candidates = Vec::new();
        for (g, grid) in grids.iter().enumerate() {
            for i in 0..grid.left.len() as u32 {
                for j in 0..grid.right.len() as u32 {
                    let m = step(
                        grid.left.metrics[i as usize],
                        grid.right.metrics[j as usize],
                    );
                    candidates.push((m, grid.tag(i, j), (g as u32, i, j)));
                }
            }
        }
        candidates
    }

    fn bits(c: &[Candidate<Pair>]) -> Vec<(u64, u64, u32, Pair)> {
        c.iter()
            .map(|(m, t, p)| (m.accuracy.to_bits(), m.latency_s.to_bits(), *t, *p))
            .collect()
    }

    #[test]
    fn skipping_blocks_keeps_what_filtering_every_pair_keeps() {
        let mut rng = Rng(7);
        for round in 0..16 {
            // Coarse values make ties; fine ones make long fronts.
            let grain = if round % 2 == 0 { 256.0 } else { 1e6 };
            let (left_tags, right_tags) = (1 + round % 3, 1 + round % 2);
            // Later tags better, worse or alike: points dominated only by other tags are kept.
            let shift = [0.05, -0.05, 0.0][(round / 3) % 3];
            let left = front_of(&mut rng, 1500 + round * 20, left_tags, grain, shift);
            let right = front_of(&mut rng, 300 + round, right_tags, grain, -shift);
            let tags = (0..left_tags * right_tags).map(|t| t as u32).collect();
            let grids = [Grid {
                left: &left,
                right: &right,
                tags,
                right_tags,
            }];
            let n_tags = left_tags * right_tags;
            let step = |a: Metrics, b: Metrics| flowcompile_proxy::fold::seq(a, b);
            let fast = pair_filter(&grids, &step, n_tags);
            let slow = pareto_filter(all_pairs(&grids, &step), n_tags);
            assert!(
                left.len() * right.len() > 2 * DIRECT,
                "the blocks are used: {} x {}",
                left.len(),
                right.len()
            );
            assert_eq!(bits(&fast), bits(&slow), "round {round}");
        }
    }

    #[test]
    fn a_staircase_beats_only_strictly_more_accurate_points_not_slower() {
        let mut s = Staircase::default();
        let m = |accuracy, latency_s| Metrics {
            accuracy,
            latency_s,
        };
        s.insert(m(0.5, 2.0));
        s.insert(m(0.8, 5.0));
        s.insert(m(0.4, 3.0)); // dominated: ignored
        assert!(s.beats(m(0.45, 2.0)));
        assert!(!s.beats(m(0.5, 2.0)), "equal is not strictly more accurate");
        assert!(!s.beats(m(0.45, 1.9)));
        assert!(s.beats(m(0.7, 5.0)));
        assert!(!s.beats(m(0.9, 9.0)));
        s.insert(m(0.0, 0.5));
        assert!(!s.beats(m(-0.0, 0.5)), "the zeros are one accuracy");
        assert!(!s.beats(m(f64::NAN, 9.0)));
    }
}

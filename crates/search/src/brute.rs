//! Exhaustive enumeration: the definition the fast search is proven against.

use flowcompile_ir::SlotId;
use flowcompile_proxy::evaluate;

use crate::plan::canonical_slot_order;
use crate::{final_filter, Point, Problem};

/// Evaluates every configuration of every structure with [`flowcompile_proxy::evaluate`] and keeps the
/// Pareto set under the crate's tie rule. Time grows with the size of the space: for tests and benches.
pub fn brute_force(problem: &Problem) -> Vec<Point> {
    let n_slots = problem.space.slots.len();
    let mut all = Vec::new();
    for (idx, structure) in problem.space.structures.iter().enumerate() {
        let order = canonical_slot_order(&structure.expr, problem.tools);
        let sizes: Vec<usize> = order
            .iter()
            .map(|s| problem.metrics[s.0 as usize].len())
            .collect();
        let mut ranks = vec![0u32; order.len()];
        let mut assignment = vec![0u32; n_slots];
        let mut candidates = Vec::new();
        'configs: loop {
            for (s, r) in order.iter().zip(&ranks) {
                assignment[s.0 as usize] = *r;
            }
            let m = evaluate(
                &structure.expr,
                &|s: SlotId| problem.metrics_at_rank(s, assignment[s.0 as usize]),
                problem.tools,
                problem.exec,
            );
            candidates.push((m, ranks.clone()));
            let mut k = ranks.len();
            loop {
                if k == 0 {
                    break 'configs;
                }
                k -= 1;
                ranks[k] += 1;
                if (ranks[k] as usize) < sizes[k] {
                    break;
                }
                ranks[k] = 0;
            }
        }
        for (m, ranks) in final_filter(candidates) {
            all.push((m, (idx, ranks)));
        }
    }
    final_filter(all)
        .into_iter()
        .map(|(metrics, (structure, ranks))| {
            let order =
                canonical_slot_order(&problem.space.structures[structure].expr, problem.tools);
            let mut settings: Vec<(SlotId, u32)> = order
                .into_iter()
                .zip(ranks)
                .map(|(slot, rank)| (slot, problem.rank_to_setting(slot, rank)))
                .collect();
            settings.sort();
            Point {
                structure,
                settings,
                metrics,
            }
        })
        .collect()
}

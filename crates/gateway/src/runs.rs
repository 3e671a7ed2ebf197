//! The runs the gateway has seen: each run's point (chosen at its first call) and its calls per
//! agent, in a map bounded in size (least recently used run evicted) and in age (idle runs expire).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many runs the gateway remembers and for how long.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RunLimits {
    /// Most runs kept; a new run past it evicts the least recently used one.
    pub capacity: usize,
    /// A run idle this long is forgotten (its next call starts it afresh).
    pub ttl: Duration,
}

impl Default for RunLimits {
    /// 100,000 runs, idle for at most an hour.
    fn default() -> RunLimits {
        RunLimits {
            capacity: 100_000,
            ttl: Duration::from_secs(3600),
        }
    }
}

struct Entry {
    point: usize,
    last: Instant,
    calls: HashMap<usize, u32>,
}

/// The bounded map of runs.
pub(crate) struct Runs {
    limits: RunLimits,
    map: Mutex<HashMap<String, Entry>>,
}

/// A run's point and which call of an agent this is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Seen {
    /// Index of the run's point.
    pub(crate) point: usize,
    /// The call's index among the run's calls of the agent, from 0.
    pub(crate) call: u32,
}

impl Runs {
    pub(crate) fn new(limits: RunLimits) -> Runs {
        Runs {
            limits,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The run's point, chosen by `choose` when the run is new (or expired), and, when `agent` is
    /// given, the index of this call among the run's calls of that agent (counted).
    pub(crate) fn visit<E>(
        &self,
        run: &str,
        agent: Option<usize>,
        now: Instant,
        choose: impl FnOnce() -> Result<usize, E>,
    ) -> Result<Seen, E> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let ttl = self.limits.ttl;
        let fresh = map
            .get(run)
            .is_some_and(|e| now.saturating_duration_since(e.last) < ttl);
        if !fresh {
            let point = choose()?;
            map.remove(run);
            if map.len() >= self.limits.capacity.max(1) {
                map.retain(|_, e| now.saturating_duration_since(e.last) < ttl);
            }
            if map.len() >= self.limits.capacity.max(1) {
                let oldest = map
                    .iter()
                    .min_by_key(|(_, e)| e.last)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    map.remove(&k);
                }
            }
            map.insert(
                run.to_owned(),
                Entry {
                    point,
                    last: now,
                    calls: HashMap::new(),
                },
            );
        }
        let entry = map
            .get_mut(run)
            .expect("the run was just inserted or found");
        entry.last = now;
        let call = match agent {
            None => 0,
            Some(a) => {
                let n = entry.calls.entry(a).or_default();
                let call = *n;
                *n += 1;
                call
            }
        };
        Ok(Seen {
            point: entry.point,
            call,
        })
    }

    /// Runs remembered now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(i: usize) -> impl FnOnce() -> Result<usize, ()> {
        move || Ok(i)
    }

    #[test]
    fn a_run_keeps_its_point_and_counts_calls_per_agent() {
        let runs = Runs::new(RunLimits::default());
        let t = Instant::now();
        assert_eq!(
            runs.visit("r", Some(0), t, ok(3)),
            Ok(Seen { point: 3, call: 0 })
        );
        assert_eq!(
            runs.visit("r", Some(0), t, ok(5)),
            Ok(Seen { point: 3, call: 1 })
        );
        assert_eq!(
            runs.visit("r", Some(1), t, ok(5)),
            Ok(Seen { point: 3, call: 0 })
        );
        assert_eq!(
            runs.visit("r", None, t, ok(5)),
            Ok(Seen { point: 3, call: 0 })
        );
        assert_eq!(
            runs.visit("s", Some(0), t, ok(1)),
            Ok(Seen { point: 1, call: 0 })
        );
    }

    #[test]
    fn the_least_recently_used_run_goes_first_and_idle_runs_expire() {
        let limits = RunLimits {
            capacity: 2,
            ttl: Duration::from_secs(10),
        };
        let runs = Runs::new(limits);
        let t = Instant::now();
        runs.visit("a", None, t, ok(1)).unwrap();
        runs.visit("b", None, t + Duration::from_secs(1), ok(2))
            .unwrap();
        runs.visit("a", None, t + Duration::from_secs(2), ok(9))
            .unwrap();
        runs.visit("c", None, t + Duration::from_secs(3), ok(3))
            .unwrap();
        assert_eq!(runs.len(), 2);
        // `b` was the least recently used: it starts afresh; `a` kept its point.
        assert_eq!(
            runs.visit("a", None, t + Duration::from_secs(4), ok(9))
                .unwrap()
                .point,
            1
        );
        assert_eq!(
            runs.visit("b", None, t + Duration::from_secs(5), ok(7))
                .unwrap()
                .point,
            7
        );
        // Idle past the TTL: chosen again.
        assert_eq!(
            runs.visit("b", None, t + Duration::from_secs(20), ok(8))
                .unwrap()
                .point,
            8
        );
    }

    #[test]
    fn a_failed_choice_remembers_nothing() {
        let runs = Runs::new(RunLimits::default());
        assert_eq!(
            runs.visit("r", None, Instant::now(), || Err::<usize, _>("bad")),
            Err("bad")
        );
        assert_eq!(runs.len(), 0);
    }
}

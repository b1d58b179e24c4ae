//! What happened to the objects a churn scenario lost.
//!
//! A lost object is the end of a story: its holders crashed one after the
//! other faster than the ring copied it elsewhere. The final report only
//! counts such objects; with `ICN_SIM_LOSSLOG=1` in the environment,
//! `icn-sim` also prints, for each one, how many live copies it had after
//! each simulated second, and when the nodes that follow its key on the ring
//! joined and crashed. That is how a loss is told apart from an artefact of
//! the schedule (crashes that cluster on the ring) or a bug (copies that never
//! come back after one crash).

use std::collections::HashMap;

use icn_core::node::Time;
use icn_core::RingId;

use crate::scenario::copies;
use crate::sim::Sim;

/// Copy counts of the watched keys over time, and the churn schedule.
#[derive(Debug)]
pub struct LossLog {
    keys: Vec<RingId>,
    counts: HashMap<RingId, Vec<(Time, usize)>>,
    churn: Vec<(Time, &'static str, RingId)>,
}

impl LossLog {
    /// A log of `keys` if `ICN_SIM_LOSSLOG` is set, else `None`.
    pub fn from_env(keys: Vec<RingId>) -> Option<LossLog> {
        std::env::var_os("ICN_SIM_LOSSLOG").map(|_| LossLog {
            keys,
            counts: HashMap::new(),
            churn: Vec::new(),
        })
    }

    /// Records each key's live copies where they changed since last time.
    pub fn observe(&mut self, sim: &Sim) {
        let now = copies(sim);
        for k in &self.keys {
            let n = now.get(k).copied().unwrap_or(0);
            let h = self.counts.entry(*k).or_default();
            if h.last().map(|x| x.1) != Some(n) {
                h.push((sim.now, n));
            }
        }
    }

    /// Node `id` was started (`"join"`) or crashed (`"crash"`) at `at`.
    pub fn churn(&mut self, at: Time, what: &'static str, id: RingId) {
        self.churn.push((at, what, id));
    }

    /// Prints the story of every watched key without a live copy.
    pub fn print(&self, sim: &Sim) {
        let now = copies(sim);
        let mut ids: Vec<RingId> = self.churn.iter().map(|x| x.2).collect();
        ids.extend(
            sim.alive()
                .iter()
                .filter_map(|i| sim.node(*i).map(|n| n.id())),
        );
        ids.sort_unstable();
        ids.dedup();
        for k in self.keys.iter().filter(|k| !now.contains_key(k)) {
            eprintln!(
                "lost {k:?}; live copies from time (ms): {:?}",
                self.counts.get(k)
            );
            let first = ids.iter().position(|x| x >= k).unwrap_or(0);
            for j in 0..8.min(ids.len()) {
                let id = ids[(first + j) % ids.len()];
                let events: Vec<_> = self
                    .churn
                    .iter()
                    .filter(|x| x.2 == id)
                    .map(|x| (x.0, x.1))
                    .collect();
                eprintln!("  node {id:?}: {events:?}");
            }
        }
    }
}

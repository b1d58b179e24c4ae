//! Zave's ring invariants, checked over the simulator's global view.
//!
//! From "Reasoning about identifier spaces: how to make Chord correct": with
//! `best(n)` the first live member in `n`'s successor list,
//! * **at least one ring**: following `best` from any member reaches a cycle;
//! * **at most one ring**: there is exactly one such cycle;
//! * **ordered ring**: going round the cycle visits its members in id order,
//!   wrapping exactly once;
//! * **connected appendages**: every member not on the ring reaches it;
//! * **ordered successor lists**: every successor list is strictly ordered
//!   clockwise from its owner.
//!
//! [`check_stable`] additionally asks that the ring holds every member and that
//! each member's successor and predecessor are its true neighbours by id.

use std::collections::{HashMap, HashSet};

use icn_core::RingId;

use crate::sim::Sim;

/// The members: running nodes that have joined.
fn members(sim: &Sim) -> Vec<RingId> {
    sim.alive()
        .into_iter()
        .filter_map(|i| sim.node(i))
        .filter(|n| n.is_joined())
        .map(|n| n.id())
        .collect()
}

fn best_successor(sim: &Sim, id: &RingId, live: &HashSet<RingId>) -> Option<RingId> {
    let n = sim.node(sim.index_of(id)?)?;
    n.successors().iter().find(|s| live.contains(s)).copied()
}

/// Checks Zave's five invariants; the error says which one failed and where.
pub fn check(sim: &Sim) -> Result<(), String> {
    let members = members(sim);
    if members.len() < 2 {
        return Ok(());
    }
    let live: HashSet<RingId> = members.iter().copied().collect();
    let mut next = HashMap::new();
    for m in &members {
        let n = sim.node(sim.index_of(m).unwrap()).unwrap();
        let d: Vec<RingId> = n.successors().iter().map(|s| m.distance_to(*s)).collect();
        if d.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!(
                "ordered successor lists: {m:?} has {:?}",
                n.successors()
            ));
        }
        match best_successor(sim, m, &live) {
            Some(s) => next.insert(*m, s),
            None => {
                return Err(format!(
                    "connected appendages: member {m:?} has no live successor"
                ))
            }
        };
    }
    // Find cycles of the functional graph `next`.
    let mut on_cycle: HashSet<RingId> = HashSet::new();
    let mut cycles = 0;
    let mut done: HashSet<RingId> = HashSet::new();
    for start in &members {
        let mut path = Vec::new();
        let mut seen_here = HashMap::new();
        let mut cur = *start;
        while !done.contains(&cur) {
            if let Some(&pos) = seen_here.get(&cur) {
                cycles += 1;
                on_cycle.extend(path[pos..].iter().copied());
                break;
            }
            seen_here.insert(cur, path.len());
            path.push(cur);
            cur = next[&cur];
        }
        done.extend(path);
    }
    if cycles == 0 {
        return Err("at least one ring: no cycle".into());
    }
    if cycles > 1 {
        return Err(format!("at most one ring: {cycles} rings"));
    }
    let mut ring: Vec<RingId> = on_cycle.iter().copied().collect();
    ring.sort();
    for (i, n) in ring.iter().enumerate() {
        let want = ring[(i + 1) % ring.len()];
        if next[n] != want {
            return Err(format!(
                "ordered ring: after {n:?} comes {:?}, not {want:?}",
                next[n]
            ));
        }
    }
    Ok(())
}

/// [`check`], plus: the ring holds every member, and every member's first
/// successor and predecessor are its neighbours by id.
pub fn check_stable(sim: &Sim) -> Result<(), String> {
    check(sim)?;
    let mut ids = members(sim);
    if ids.len() < 2 {
        return Ok(());
    }
    ids.sort();
    let unjoined = sim.alive().len() - ids.len();
    if unjoined > 0 {
        return Err(format!("{unjoined} running nodes have not joined"));
    }
    for (i, id) in ids.iter().enumerate() {
        let n = sim.node(sim.index_of(id).unwrap()).unwrap();
        let succ = ids[(i + 1) % ids.len()];
        let pred = ids[(i + ids.len() - 1) % ids.len()];
        if n.successors().first() != Some(&succ) {
            return Err(format!(
                "{id:?}: successor {:?}, should be {succ:?}",
                n.successors().first()
            ));
        }
        if n.predecessor() != Some(pred) {
            return Err(format!(
                "{id:?}: predecessor {:?}, should be {pred:?}",
                n.predecessor()
            ));
        }
    }
    Ok(())
}

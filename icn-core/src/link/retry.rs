//! When to offer a failed DataChannel again.
//!
//! Signals are sent once (spec/ring.md): a lost offer or answer makes a
//! DataChannel set-up fail, and a link the gateway relays meanwhile would
//! stay on that relay for good, and go down with the gateway. So a relayed
//! link whose set-up failed is offered again after [`RETRY_FIRST_MS`],
//! doubled per failure, at most [`RETRY_MAX`] times. The browser and the
//! native drivers both keep one [`OfferRetries`]; time is an input (ms on
//! the driver's clock), as everywhere in the core.

use crate::vecmap::VecMap;

use crate::id::RingId;

/// Wait before the first new offer, ms.
pub const RETRY_FIRST_MS: u64 = 2_000;
/// Most new offers per link (then the relay carries it while it lasts).
pub const RETRY_MAX: u32 = 5;

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// When to offer again; `None` while an offer is under way.
    at: Option<u64>,
    /// Set-ups that failed so far.
    failed: u32,
}

/// The schedule of new offers, by peer.
#[derive(Debug, Default)]
pub struct OfferRetries {
    entries: VecMap<RingId, Entry>,
}

impl OfferRetries {
    /// An empty schedule.
    pub fn new() -> OfferRetries {
        OfferRetries::default()
    }

    /// The set-up of a DataChannel to `peer`, whose link a relay carries,
    /// failed at `now`: offer again later, unless it failed too often.
    pub fn handle_failed(&mut self, now: u64, peer: RingId) {
        let failed = self.entries.get(&peer).map_or(0, |e| e.failed) + 1;
        if failed > RETRY_MAX {
            self.entries.remove(&peer);
            return;
        }
        let at = now.saturating_add(RETRY_FIRST_MS << (failed - 1));
        self.entries.insert(
            peer,
            Entry {
                at: Some(at),
                failed,
            },
        );
    }

    /// The DataChannel to `peer` opened, or its link is gone: nothing to do.
    pub fn forget(&mut self, peer: &RingId) {
        self.entries.remove(peer);
    }

    /// Keeps only the peers for which `keep` holds (links still relayed).
    pub fn retain(&mut self, keep: impl Fn(&RingId) -> bool) {
        self.entries.retain(|p, _| keep(p));
    }

    /// The peers due for a new offer at `now`. Each is then under way: not
    /// due again until its set-up fails again ([`Self::handle_failed`]).
    pub fn poll_due(&mut self, now: u64) -> Vec<RingId> {
        let mut due = Vec::new();
        for (p, e) in self.entries.iter_mut() {
            if e.at.is_some_and(|at| at <= now) {
                e.at = None;
                due.push(*p);
            }
        }
        due.sort_unstable();
        due
    }

    /// When the next offer is due, if any is scheduled.
    pub fn next_due(&self) -> Option<u64> {
        self.entries.values().filter_map(|e| e.at).min()
    }

    /// Whether `peer` has an entry.
    pub fn contains(&self, peer: &RingId) -> bool {
        self.entries.contains_key(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_again_after_doubling_waits_then_gives_up() {
        let p = RingId([7; 32]);
        let mut r = OfferRetries::new();
        let mut now = 1_000;
        let mut waits = Vec::new();
        for _ in 0..RETRY_MAX {
            r.handle_failed(now, p);
            let at = r.next_due().unwrap();
            waits.push(at - now);
            assert!(r.poll_due(at - 1).is_empty());
            assert_eq!(r.poll_due(at), vec![p]);
            // Under way: not due again, whatever the time.
            assert!(r.poll_due(at + 1_000_000).is_empty());
            assert_eq!(r.next_due(), None);
            now = at + 300;
        }
        assert_eq!(waits, vec![2_000, 4_000, 8_000, 16_000, 32_000]);
        r.handle_failed(now, p);
        assert!(!r.contains(&p), "gave up after {RETRY_MAX} offers");
    }

    #[test]
    fn forgets_opened_and_no_longer_relayed_links() {
        let (a, b) = (RingId([1; 32]), RingId([2; 32]));
        let mut r = OfferRetries::new();
        r.handle_failed(0, a);
        r.handle_failed(0, b);
        r.forget(&a);
        assert!(!r.contains(&a));
        r.retain(|p| *p != b);
        assert!(!r.contains(&b));
        assert!(r.poll_due(u64::MAX).is_empty());
    }
}

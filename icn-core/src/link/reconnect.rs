//! When a peer connects to a gateway again.
//!
//! A peer whose gateway connection ends stays in the ring over its
//! DataChannels, but the ring needs its gateways: newcomers join through
//! them, HTTP readers reach the ring through them, and a gateway that
//! restarted finds the ring its peers still form only when they connect to
//! it again (spec/ring.md, "Merging rings"). So a peer without a gateway
//! connection keeps trying one, the next of its gateway URLs each time,
//! presenting the certificate it holds so that it keeps its ring position
//! (spec/bootstrap.md, "Joining again elsewhere"):
//!
//! - while it is a member or still linked, [`FIRST_MS`] after the loss, then
//!   twice as long after each failure, up to [`MAX_WAIT_MS`], for as long as
//!   it runs: a gateway down for an hour costs a peer 120 tries;
//! - while it is *stranded* (no member, no link: only a gateway can bring
//!   it back), every [`STRANDED_MS`], and after [`MAX_STRANDED_FAILURES`]
//!   failures in a row it gives up.
//!
//! Both drivers keep one [`Reconnect`]; time is an input, as everywhere in
//! the core.

/// First try after the connection ended, ms.
pub const FIRST_MS: u64 = 1_000;
/// Longest wait between tries of a peer in the ring, ms.
pub const MAX_WAIT_MS: u64 = 30_000;
/// Wait between tries of a stranded peer, ms.
pub const STRANDED_MS: u64 = 2_000;
/// Failed tries in a row after which a stranded peer gives up.
pub const MAX_STRANDED_FAILURES: u32 = 60;

/// The schedule of tries; see the module documentation.
#[derive(Debug, Default, Clone)]
pub struct Reconnect {
    /// Whether a try is due at `from + wait` (not while connected, nor
    /// while a try is under way).
    waiting: bool,
    /// When the current wait began.
    from: u64,
    /// The current wait.
    wait: u64,
    /// Failures in a row while stranded.
    stranded_failures: u32,
    gave_up: bool,
}

impl Reconnect {
    /// A schedule for a peer that is connected.
    pub fn new() -> Reconnect {
        Reconnect::default()
    }

    /// The gateway connection ended at `now`.
    pub fn handle_lost(&mut self, now: u64) {
        self.waiting = true;
        self.from = now;
        self.wait = FIRST_MS;
    }

    /// A try succeeded: connected again.
    pub fn handle_connected(&mut self) {
        *self = Reconnect::default();
    }

    /// A try failed at `now`; `stranded` as [`Reconnect::poll_try`] had it.
    pub fn handle_failed(&mut self, now: u64, stranded: bool) {
        self.from = now;
        self.waiting = true;
        if stranded {
            self.stranded_failures += 1;
            self.wait = STRANDED_MS;
            if self.stranded_failures >= MAX_STRANDED_FAILURES {
                self.gave_up = true;
                self.waiting = false;
            }
        } else {
            self.stranded_failures = 0;
            self.wait = (self.wait * 2).clamp(FIRST_MS, MAX_WAIT_MS);
        }
    }

    /// Whether to start a try at `now`; `stranded` is the node's
    /// `is_cut_off()`: a stranded peer waits no longer than [`STRANDED_MS`].
    /// Once it says yes, it says no until the outcome is handled.
    pub fn poll_try(&mut self, now: u64, stranded: bool) -> bool {
        let wait = if stranded {
            self.wait.min(STRANDED_MS)
        } else {
            self.wait
        };
        if self.waiting && now >= self.from.saturating_add(wait) {
            self.waiting = false;
            return true;
        }
        false
    }

    /// The earliest time [`Reconnect::poll_try`] may say yes.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.waiting
            .then(|| self.from.saturating_add(self.wait.min(STRANDED_MS)))
    }

    /// Whether a stranded peer stopped trying.
    pub fn gave_up(&self) -> bool {
        self.gave_up
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The times at which tries start, each failing, until `until`.
    fn tries(r: &mut Reconnect, until: u64, stranded: bool) -> Vec<u64> {
        let mut at = Vec::new();
        let mut t = 0;
        while t <= until {
            if r.poll_try(t, stranded) {
                at.push(t);
                r.handle_failed(t, stranded);
            }
            t += 100;
        }
        at
    }

    #[test]
    fn a_member_tries_with_doubling_waits_for_ever() {
        let mut r = Reconnect::new();
        assert!(!r.poll_try(0, false), "connected: nothing to do");
        r.handle_lost(0);
        let at = tries(&mut r, 100_000, false);
        assert_eq!(
            at,
            vec![1_000, 3_000, 7_000, 15_000, 31_000, 61_000, 91_000]
        );
        assert!(!r.gave_up());
        r.handle_connected();
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn a_stranded_peer_tries_every_two_seconds_then_gives_up() {
        let mut r = Reconnect::new();
        r.handle_lost(0);
        let at = tries(&mut r, 10_000, true);
        assert_eq!(at, vec![1_000, 3_000, 5_000, 7_000, 9_000]);
        let all = tries(&mut r, 1_000_000, true);
        assert_eq!(at.len() + all.len(), MAX_STRANDED_FAILURES as usize);
        assert!(r.gave_up());
    }

    #[test]
    fn a_member_that_becomes_stranded_waits_no_longer_than_two_seconds() {
        let mut r = Reconnect::new();
        r.handle_lost(0);
        // Tries as a member until its waits are long...
        assert_eq!(
            tries(&mut r, 20_000, false),
            vec![1_000, 3_000, 7_000, 15_000]
        );
        // ...then loses its last link at 20 s: the next try is no later
        // than 2 s after the last failure's wait began.
        let next = (20_000..40_000)
            .step_by(100)
            .find(|t| r.poll_try(*t, true))
            .unwrap();
        assert!(next <= 22_000, "tried at {next}");
    }
}

//! How long to wait for the answer to a routed request before asking again.
//!
//! A request routed to a node that crashed or left a moment ago is lost on
//! the way, and only a new attempt, over another first hop once the ring has
//! noticed, gets an answer. With one fixed timeout for every request, that
//! second attempt came 3 s later on a loopback ring whose answers take a
//! millisecond, and on a slow network a fixed timeout short enough to help
//! would fire before honest answers arrive.
//!
//! So each node measures the round trips of its own requests and waits as
//! TCP does (RFC 6298): a smoothed round trip plus four times its mean
//! deviation. Three changes suit the ring:
//! - the wait is at least twice the smoothed round trip, at least 1.25 times
//!   the slowest recent round trip (a peak that fades by a sixteenth with
//!   each later sample), and at least [`MIN_WAIT_MS`]:
//!   routes differ in length (one hop or eight), so round trips spread more
//!   than on one TCP path, and a live but long route must not be asked twice;
//! - each kind of request has an estimator of its own (ring lookups,
//!   objects, blocks): lookups for fingers mostly end near the asking node,
//!   and their shorter round trips made one get in six be sent twice in the
//!   simulator's churn run; a block answer carries up to 256 KiB, and its
//!   time is the transfer's;
//! - until a kind has a measurement, it waits the configured request
//!   timeout, as every request did before.
//!
//! Only answers to a first attempt are measured (Karn's rule): an answer to
//! a repeated request cannot say which attempt it answers.

use super::Time;

/// Shortest wait before a request is sent again, in ms.
pub(crate) const MIN_WAIT_MS: u64 = 250;

/// Longest round trip taken as it is (35 years), so that no sum or product
/// here overflows.
const MAX_SAMPLE_MS: u64 = 1 << 40;

/// Smoothed round trip and its mean deviation, in ms scaled by 8 so that
/// the 1/8 and 1/4 gains of RFC 6298 keep their precision in integers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Rtt {
    srtt8: u64,
    rttvar8: u64,
    /// The slowest recent round trip, ms: each sample either raises it or
    /// lowers it by a sixteenth.
    peak: u64,
    measured: bool,
}

impl Rtt {
    /// Takes one measured round trip, in ms.
    pub(crate) fn handle_sample(&mut self, ms: Time) {
        let ms = ms.min(MAX_SAMPLE_MS);
        self.peak = ms.max(self.peak - self.peak / 16);
        let r8 = ms * 8;
        if self.measured {
            let dev = self.srtt8.abs_diff(r8);
            self.rttvar8 = self.rttvar8 - self.rttvar8 / 4 + dev / 4;
            self.srtt8 = self.srtt8 - self.srtt8 / 8 + r8 / 8;
        } else {
            self.srtt8 = r8;
            self.rttvar8 = r8 / 2;
            self.measured = true;
        }
    }

    /// The wait before the first attempt is presumed lost, between
    /// [`MIN_WAIT_MS`] and `ceiling` (the configured request timeout, which
    /// is also the wait before any measurement).
    pub(crate) fn wait(&self, ceiling: Time) -> Time {
        if !self.measured {
            return ceiling;
        }
        let srtt = self.srtt8 / 8;
        let spread = (self.rttvar8 / 2).max(srtt); // 4 * rttvar, at least srtt
        (srtt + spread)
            .max(self.peak + self.peak / 4)
            .clamp(MIN_WAIT_MS, ceiling.max(MIN_WAIT_MS))
    }
}

/// How long attempt `n` (from 1) of a request waits for its answer: the
/// wait `rtt` measured (`timeout` for a kind that is not measured), doubled
/// for each attempt before, and never more than the fixed schedule waited
/// (`n` timeouts, at most 4).
pub(crate) fn attempt_wait(rtt: Option<&Rtt>, timeout: Time, n: u32) -> Time {
    let t = timeout.min(MAX_SAMPLE_MS);
    let n = n.clamp(1, 16);
    let fixed = t * u64::from(n.min(4));
    match rtt {
        Some(r) => (r.wait(t) << (n - 1)).min(fixed),
        None => fixed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn before_any_measurement_the_configured_timeout_holds() {
        assert_eq!(Rtt::default().wait(3000), 3000);
    }

    #[test]
    fn a_fast_path_waits_the_floor_and_a_slow_one_longer() {
        let mut fast = Rtt::default();
        for _ in 0..20 {
            fast.handle_sample(2);
        }
        assert_eq!(fast.wait(3000), MIN_WAIT_MS);
        let mut slow = Rtt::default();
        for ms in [400, 420, 380, 410, 390] {
            slow.handle_sample(ms);
        }
        let w = slow.wait(3000);
        assert!((760..3000).contains(&w), "about twice 400 ms: {w}");
    }

    #[test]
    fn one_long_route_among_short_ones_sets_the_wait() {
        let mut r = Rtt::default();
        for _ in 0..15 {
            r.handle_sample(50);
        }
        r.handle_sample(400);
        assert_eq!(r.wait(3000), 500, "1.25 times the slowest recent one");
        for _ in 0..16 {
            r.handle_sample(50);
        }
        assert_eq!(r.wait(3000), MIN_WAIT_MS, "the long one has faded");
    }

    #[test]
    fn a_path_that_slows_down_is_followed() {
        let mut r = Rtt::default();
        for _ in 0..20 {
            r.handle_sample(10);
        }
        for _ in 0..20 {
            r.handle_sample(1000);
        }
        let w = r.wait(3000);
        assert!((1700..3000).contains(&w), "about twice 1 s: {w}");
        for _ in 0..5 {
            r.handle_sample(5000);
        }
        assert_eq!(r.wait(3000), 3000, "capped at the configured timeout");
        for _ in 0..40 {
            r.handle_sample(200);
        }
        let w = r.wait(3000);
        assert!((400..1000).contains(&w), "wait {w}");
    }

    proptest! {
        /// Whatever the samples, the wait stays within its bounds and is at
        /// least twice the smoothed round trip (below the ceiling).
        #[test]
        fn the_wait_is_bounded(samples in proptest::collection::vec(0u64..100_000, 1..50),
                               ceiling in 0u64..20_000) {
            let mut r = Rtt::default();
            for s in samples {
                r.handle_sample(s);
            }
            let w = r.wait(ceiling);
            prop_assert!(w >= MIN_WAIT_MS);
            prop_assert!(w <= ceiling.max(MIN_WAIT_MS));
            let cap = ceiling.max(MIN_WAIT_MS);
            prop_assert!(w >= (2 * (r.srtt8 / 8)).min(cap));
            prop_assert!(w >= (r.peak + r.peak / 4).min(cap));
        }

        /// Huge samples saturate instead of overflowing.
        #[test]
        fn huge_samples_do_not_overflow(s in any::<u64>()) {
            let mut r = Rtt::default();
            r.handle_sample(s);
            r.handle_sample(s);
            prop_assert_eq!(r.wait(3000), 3000);
        }
    }
}

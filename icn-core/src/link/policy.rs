//! What the browser and native drivers decide alike about their links:
//! what waits while a DataChannel is set up, and when a link counts as dead
//! by its ICE state.
//!
//! Each driver once had its own answer (the native one queued up to 1 MiB
//! per peer being dialled while the browser dropped; the native one took
//! ICE `disconnected` for death while the browser waited for `failed`), so
//! the same ring behaved differently depending on who ran it. The answers
//! live here once; the drivers feed them their runtime's events.
//!
//! * **Waiting.** A message for a peer whose only carrier is a DataChannel
//!   still being set up waits for it, up to [`MAX_WAITING_BYTES`] per peer
//!   (more is dropped, and the node notices by its timeouts as for any lost
//!   message); it goes out when the channel opens and is dropped if the
//!   set-up fails.
//! * **Death.** ICE `failed` and `closed` end a link at once. `disconnected`
//!   is often transient (a few consent checks lost to a burst, a Wi-Fi
//!   hand-over) and ICE recovers by itself, so it ends a link only after
//!   [`DISCONNECTED_GRACE_MS`] without recovering. Chromium itself reports
//!   `failed` only after about 30 s, far longer than the ring waits for a
//!   probe, so the grace is the policy, not the browser's timer.

use crate::id::RingId;
use crate::vecmap::VecMap;

/// Bytes of ring messages held per peer while its DataChannel is set up.
pub const MAX_WAITING_BYTES: usize = 1024 * 1024;
/// Peers with messages held at once (a driver sets up at most this many
/// DataChannels at a time anyway).
pub const MAX_WAITING_PEERS: usize = 64;
/// How long a link may stay ICE-`disconnected` before it counts as dead.
pub const DISCONNECTED_GRACE_MS: u64 = 5_000;

/// Ring messages held for peers whose only carrier is a DataChannel still
/// being set up.
#[derive(Debug, Default)]
pub struct Waiting {
    peers: VecMap<RingId, (usize, Vec<Vec<u8>>)>,
}

impl Waiting {
    /// Nothing held.
    pub fn new() -> Waiting {
        Waiting::default()
    }

    /// Holds `bytes` for `peer`; `false` if a bound refused it (dropped).
    pub fn push(&mut self, peer: RingId, bytes: Vec<u8>) -> bool {
        if self.peers.get(&peer).is_none() && self.peers.len() >= MAX_WAITING_PEERS {
            return false;
        }
        let (size, held) = self.peers.get_or_insert_with(peer, Default::default);
        if *size + bytes.len() > MAX_WAITING_BYTES {
            return false;
        }
        *size += bytes.len();
        held.push(bytes);
        true
    }

    /// The messages held for `peer`, in order (its channel opened).
    pub fn take(&mut self, peer: &RingId) -> Vec<Vec<u8>> {
        self.peers.remove(peer).map(|(_, m)| m).unwrap_or_default()
    }

    /// Drops what is held for `peer` (its set-up failed, or it hung up).
    pub fn forget(&mut self, peer: &RingId) {
        self.peers.remove(peer);
    }

    /// Bytes held for `peer`.
    pub fn held(&self, peer: &RingId) -> usize {
        self.peers.get(peer).map_or(0, |(s, _)| *s)
    }
}

/// An ICE connection state, as `RTCPeerConnection.iceConnectionState` and
/// str0m name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IceState {
    /// Gathering or waiting for the remote description.
    New,
    /// Checking candidate pairs.
    Checking,
    /// A pair works.
    Connected,
    /// Checks are over and a pair works.
    Completed,
    /// Consent checks stopped getting answers.
    Disconnected,
    /// ICE gave up.
    Failed,
    /// The connection was closed.
    Closed,
}

/// Whether one link is dead by its ICE state ([`DISCONNECTED_GRACE_MS`]).
#[derive(Debug, Default, Clone)]
pub struct IceWatch {
    disconnected_since: Option<u64>,
    dead: bool,
}

impl IceWatch {
    /// A link whose ICE state has not been reported yet.
    pub fn new() -> IceWatch {
        IceWatch::default()
    }

    /// The link's ICE state changed at `now` (ms); returns whether it is
    /// dead from now on.
    pub fn handle_state(&mut self, now: u64, state: IceState) -> bool {
        match state {
            IceState::Failed | IceState::Closed => self.dead = true,
            IceState::Disconnected => {
                self.disconnected_since.get_or_insert(now);
            }
            _ => self.disconnected_since = None,
        }
        self.poll_dead(now)
    }

    /// Whether the link is dead at `now`.
    pub fn poll_dead(&mut self, now: u64) -> bool {
        if let Some(since) = self.disconnected_since {
            if now.saturating_sub(since) >= DISCONNECTED_GRACE_MS {
                self.dead = true;
            }
        }
        self.dead
    }

    /// When [`IceWatch::poll_dead`] may next change its answer.
    pub fn deadline(&self) -> Option<u64> {
        match self.dead {
            true => None,
            false => self.disconnected_since.map(|s| s + DISCONNECTED_GRACE_MS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(b: u8) -> RingId {
        RingId([b; 32])
    }

    #[test]
    fn waiting_holds_in_order_within_its_bounds() {
        let mut w = Waiting::new();
        assert!(w.push(id(1), vec![1; 10]));
        assert!(w.push(id(1), vec![2; 20]));
        assert_eq!(w.held(&id(1)), 30);
        assert!(
            !w.push(id(1), vec![0; MAX_WAITING_BYTES]),
            "over the bytes bound"
        );
        assert_eq!(w.take(&id(1)), vec![vec![1; 10], vec![2; 20]]);
        assert!(w.take(&id(1)).is_empty(), "taken once");
        for p in 0..MAX_WAITING_PEERS as u8 {
            assert!(w.push(id(p), vec![p]));
        }
        assert!(!w.push(id(200), vec![0]), "over the peers bound");
        assert!(w.push(id(0), vec![9]), "a peer already held takes more");
        w.forget(&id(0));
        assert_eq!(w.held(&id(0)), 0);
        assert!(w.push(id(200), vec![0]), "room again");
    }

    #[test]
    fn disconnected_is_death_only_after_the_grace() {
        let mut w = IceWatch::new();
        assert!(!w.handle_state(0, IceState::Checking));
        assert!(!w.handle_state(100, IceState::Connected));
        assert!(!w.handle_state(1_000, IceState::Disconnected));
        assert_eq!(w.deadline(), Some(1_000 + DISCONNECTED_GRACE_MS));
        assert!(!w.poll_dead(1_000 + DISCONNECTED_GRACE_MS - 1));
        // Recovered in time: the clock starts over at the next disconnect.
        assert!(!w.handle_state(3_000, IceState::Connected));
        assert_eq!(w.deadline(), None);
        assert!(!w.handle_state(10_000, IceState::Disconnected));
        assert!(
            !w.handle_state(11_000, IceState::Disconnected),
            "a repeat keeps the start"
        );
        assert!(w.poll_dead(10_000 + DISCONNECTED_GRACE_MS));
        assert!(
            w.handle_state(20_000, IceState::Connected),
            "dead stays dead"
        );
        let mut f = IceWatch::new();
        assert!(f.handle_state(5, IceState::Failed));
        assert!(IceWatch::new().handle_state(5, IceState::Closed));
    }
}

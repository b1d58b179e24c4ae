//! The gateways a ring trusts.
//!
//! Every node certificate is signed by a gateway; peers accept signals and
//! link authentications only from nodes certified by a gateway they trust.
//! A gateway's list is explicit: its own key, the keys its operator named
//! with `--trust-gateway` (gateways allowed to join through it), and the
//! list of the gateway it joined through (`--join`), which that gateway
//! announces in a `Trust` frame. Peers receive the list in the same frame
//! after their `Welcome`, and again when it grows. It is shown in
//! `/api/ring`.

use std::sync::Mutex;

use icn_core::bootstrap::trusted_keys;
#[cfg(test)]
use icn_core::bootstrap::MAX_TRUSTED;

/// A gateway's trust list (its own key first).
pub struct TrustList {
    own: [u8; 32],
    configured: Vec<[u8; 32]>,
    keys: Mutex<Vec<[u8; 32]>>,
}

impl TrustList {
    /// The list of the gateway with key `own`, trusting `configured` too.
    pub fn new(own: [u8; 32], configured: Vec<[u8; 32]>) -> TrustList {
        TrustList {
            own,
            keys: Mutex::new(trusted_keys(own, &configured)),
            configured,
        }
    }

    /// The keys, own first.
    pub fn keys(&self) -> Vec<[u8; 32]> {
        self.keys
            .lock()
            .map(|k| k.clone())
            .unwrap_or_else(|_| vec![self.own])
    }

    /// Whether `key` belongs to a gateway allowed to join through this one.
    pub fn may_join(&self, key: &[u8; 32]) -> bool {
        *key != self.own && self.configured.contains(key)
    }

    /// Adds what the upstream gateway announced; true if the list grew.
    pub fn merge(&self, announced: &[[u8; 32]]) -> bool {
        let Ok(mut keys) = self.keys.lock() else {
            return false;
        };
        let before = keys.len();
        let known_then_announced: Vec<[u8; 32]> = keys.iter().chain(announced).copied().collect();
        *keys = trusted_keys(self.own, &known_then_announced);
        keys.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_key_first_and_merges_without_duplicates() {
        let t = TrustList::new([1; 32], vec![[2; 32], [1; 32]]);
        assert_eq!(t.keys(), vec![[1; 32], [2; 32]]);
        assert!(t.may_join(&[2; 32]));
        assert!(!t.may_join(&[1; 32]));
        assert!(!t.may_join(&[3; 32]));
        assert!(t.merge(&[[3; 32], [2; 32]]));
        assert!(!t.merge(&[[3; 32]]));
        assert_eq!(t.keys(), vec![[1; 32], [2; 32], [3; 32]]);
        // Learned keys are trusted, not allowed to join through us.
        assert!(!t.may_join(&[3; 32]));
    }

    #[test]
    fn the_list_is_bounded() {
        let t = TrustList::new([0; 32], Vec::new());
        let many: Vec<[u8; 32]> = (1..=200u8).map(|i| [i; 32]).collect();
        t.merge(&many);
        assert_eq!(t.keys().len(), MAX_TRUSTED);
    }
}

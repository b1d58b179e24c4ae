//! Positions on the 256-bit Chord ring and circular interval arithmetic.
//!
//! Names, blocks and nodes all live on one identifier circle of size 2^256. A
//! [`RingId`] is a big-endian 256-bit unsigned number; arithmetic wraps modulo
//! 2^256. Chord's correctness rests entirely on a handful of interval tests
//! (`x ∈ (a, b)` and `x ∈ (a, b]` going clockwise), so they live here, once,
//! with property tests, and every other module uses them.

use core::fmt;
use core::str::FromStr;

use crate::hash::{parse_hex32, to_hex, Hash, HashError};

/// A point on the identifier circle.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(align(8))]
pub struct RingId(pub [u8; 32]);

impl RingId {
    /// Number of bits in a ring id (and fingers in a full finger table).
    pub const BITS: u32 = 256;
    /// The point 0.
    pub const ZERO: RingId = RingId([0; 32]);
    /// The point 2^256 - 1.
    pub const MAX: RingId = RingId([0xff; 32]);

    /// The ring id with the same bytes as a hash (blocks live at their hash).
    pub fn from_hash(h: Hash) -> RingId {
        RingId(h.0)
    }

    /// `self + other` modulo 2^256.
    pub fn wrapping_add(self, other: RingId) -> RingId {
        let mut out = [0u8; 32];
        let mut carry = 0u16;
        for i in (0..32).rev() {
            let s = u16::from(self.0[i]) + u16::from(other.0[i]) + carry;
            out[i] = s as u8;
            carry = s >> 8;
        }
        RingId(out)
    }

    /// `self - other` modulo 2^256.
    pub fn wrapping_sub(self, other: RingId) -> RingId {
        let mut out = [0u8; 32];
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let mut d = i16::from(self.0[i]) - i16::from(other.0[i]) - borrow;
            borrow = 0;
            if d < 0 {
                d += 256;
                borrow = 1;
            }
            out[i] = d as u8;
        }
        RingId(out)
    }

    /// 2^k for `k < 256`.
    pub fn pow2(k: u32) -> RingId {
        assert!(k < Self::BITS, "2^{k} is outside the ring");
        let mut out = [0u8; 32];
        out[31 - (k / 8) as usize] = 1 << (k % 8);
        RingId(out)
    }

    /// The start of finger `k`: `self + 2^k`.
    pub fn finger_start(self, k: u32) -> RingId {
        self.wrapping_add(Self::pow2(k))
    }

    /// Clockwise distance from `self` to `to`: `to - self` modulo 2^256.
    pub fn distance_to(self, to: RingId) -> RingId {
        to.wrapping_sub(self)
    }

    /// Sorts `ids` clockwise from this id. (One shared instance: every sort
    /// with its own closure is another copy of the sort in the wasm bundle.)
    pub fn sort_clockwise(self, ids: &mut [RingId]) {
        ids.sort_unstable_by_key(|n| self.distance_to(*n));
    }

    /// Half the value, rounded down.
    pub fn half(self) -> RingId {
        let mut out = [0u8; 32];
        let mut carry = 0u8;
        for (o, b) in out.iter_mut().zip(self.0) {
            *o = (b >> 1) | carry;
            carry = b << 7;
        }
        RingId(out)
    }

    /// The point halfway clockwise from `a` to `b` (for `a == b`, opposite `a`).
    pub fn midpoint(a: RingId, b: RingId) -> RingId {
        let d = a.distance_to(b);
        if d == RingId::ZERO {
            a.wrapping_add(RingId::pow2(255))
        } else {
            a.wrapping_add(d.half())
        }
    }

    /// `self ∈ (a, b)` going clockwise; for `a == b` that is every point but `a`.
    pub fn in_open(self, a: RingId, b: RingId) -> bool {
        match a.cmp(&b) {
            core::cmp::Ordering::Less => a < self && self < b,
            core::cmp::Ordering::Greater => self > a || self < b,
            core::cmp::Ordering::Equal => self != a,
        }
    }

    /// `self ∈ (a, b]` going clockwise; for `a == b` that is the whole ring.
    pub fn in_half_open(self, a: RingId, b: RingId) -> bool {
        self == b || self.in_open(a, b)
    }

    /// Number of leading zero bits (256 for zero).
    pub fn leading_zeros(&self) -> u32 {
        match self.0.iter().position(|b| *b != 0) {
            Some(i) => i as u32 * 8 + self.0[i].leading_zeros(),
            None => 256,
        }
    }

    /// The first 8 bytes as a number: a short, sortable summary for logs.
    pub fn prefix_u64(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[..8]);
        u64::from_be_bytes(b)
    }

    /// The id as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }
}

impl FromStr for RingId {
    type Err = HashError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex32(s).map(RingId)
    }
}

impl fmt::Display for RingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for RingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RingId({:016x}..)", self.prefix_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(v: u128) -> RingId {
        let mut b = [0u8; 32];
        b[16..].copy_from_slice(&v.to_be_bytes());
        RingId(b)
    }

    fn any_id() -> impl Strategy<Value = RingId> {
        // Mix uniformly random ids with ids near 0, near the top and equal
        // neighbours, where wrap-around bugs hide.
        prop_oneof![
            any::<[u8; 32]>().prop_map(RingId),
            (0u8..4).prop_map(|v| id(u128::from(v))),
            (0u8..4).prop_map(|v| RingId::MAX.wrapping_sub(id(u128::from(v)))),
        ]
    }

    #[test]
    fn arithmetic_wraps() {
        assert_eq!(RingId::MAX.wrapping_add(id(1)), RingId::ZERO);
        assert_eq!(RingId::ZERO.wrapping_sub(id(1)), RingId::MAX);
        assert_eq!(RingId::pow2(0), id(1));
        assert_eq!(RingId::pow2(100), id(1 << 100));
        assert_eq!(RingId::pow2(255).0[0], 0x80);
        assert_eq!(id(10).distance_to(id(3)), RingId::ZERO.wrapping_sub(id(7)));
        assert_eq!(RingId::midpoint(id(10), id(20)), id(15));
        assert_eq!(RingId::midpoint(id(5), id(5)), id(5).finger_start(255));
    }

    #[test]
    fn intervals_on_small_values() {
        assert!(id(5).in_open(id(1), id(10)));
        assert!(!id(1).in_open(id(1), id(10)));
        assert!(!id(10).in_open(id(1), id(10)));
        assert!(id(10).in_half_open(id(1), id(10)));
        // Wrapping interval (10, 1): everything above 10 and 0.
        assert!(id(0).in_open(id(10), id(1)));
        assert!(RingId::MAX.in_open(id(10), id(1)));
        assert!(!id(5).in_open(id(10), id(1)));
        // Degenerate intervals.
        assert!(id(3).in_open(id(7), id(7)));
        assert!(!id(7).in_open(id(7), id(7)));
        assert!(id(7).in_half_open(id(7), id(7)));
    }

    proptest! {
        #[test]
        fn add_sub_inverse(a in any_id(), b in any_id()) {
            prop_assert_eq!(a.wrapping_add(b).wrapping_sub(b), a);
            prop_assert_eq!(a.wrapping_add(a.distance_to(b)), b);
        }

        /// The interval tests agree with a definition by clockwise distance.
        #[test]
        fn intervals_match_distance_model(x in any_id(), a in any_id(), b in any_id()) {
            let dx = a.distance_to(x);
            let db = a.distance_to(b);
            let open = if a == b { x != a } else { dx != RingId::ZERO && dx < db };
            prop_assert_eq!(x.in_open(a, b), open);
            prop_assert_eq!(x.in_half_open(a, b), open || x == b);
        }

        /// Every point other than a and b lies in exactly one of (a,b) and (b,a).
        #[test]
        fn intervals_partition_the_ring(x in any_id(), a in any_id(), b in any_id()) {
            prop_assume!(a != b && x != a && x != b);
            prop_assert!(x.in_open(a, b) ^ x.in_open(b, a));
        }

        #[test]
        fn midpoint_lies_between(a in any_id(), b in any_id()) {
            let m = RingId::midpoint(a, b);
            prop_assert!(m.in_half_open(a, b) || a.distance_to(b) == id(1) || a == b);
            let d = a.distance_to(b);
            if a != b {
                prop_assert!(a.distance_to(m) <= d);
            }
        }
    }
}

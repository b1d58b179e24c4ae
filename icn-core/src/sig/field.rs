//! Just enough arithmetic mod 2^255 - 19 to tell whether 32 bytes are an
//! ed25519 public key, for builds that leave signatures to the browser.
//!
//! WebCrypto verifies a signature, but spec/objects.md also asks whether a
//! key is a curve point (a bad publisher id is a bad *name*, not a bad
//! signature) and refuses small-order keys, which WebCrypto accepts. This
//! module answers both without a curve library: a point check is one
//! exponentiation, and the small-order encodings are a fixed list. It is
//! written for size, not speed (16 limbs of 16 bits, plain loops); the one
//! exponentiation takes a fraction of a millisecond.

/// A field element: `sum(l[i] * 2^(16 i))`, limbs kept non-negative.
type Fe = [i64; 16];

/// `4p` in limbs, added before subtracting so that no limb goes negative.
const FOUR_P: Fe = {
    let mut l = [0x3fffc; 16];
    l[0] = 0x3ffb4;
    l[15] = 0x1fffc;
    l
};

/// The curve constant `d = -121665 / 121666`, little-endian.
const D: [u8; 32] = [
    0xa3, 0x78, 0x59, 0x13, 0xca, 0x4d, 0xeb, 0x75, 0xab, 0xd8, 0x41, 0x41, 0x4d, 0x0a, 0x70, 0x00,
    0x98, 0xe8, 0x79, 0x77, 0x79, 0x40, 0xc7, 0x8c, 0x73, 0xfe, 0x6f, 0x2b, 0xee, 0x6c, 0x03, 0x52,
];

fn load(b: &[u8; 32]) -> Fe {
    let mut f = [0; 16];
    for (i, l) in f.iter_mut().enumerate() {
        *l = i64::from(b[2 * i]) | i64::from(b[2 * i + 1]) << 8;
    }
    f[15] &= 0x7fff; // the sign bit of x is not part of y
    f
}

/// Moves each limb's excess into the next; past the top, `2^256 = 38`.
fn carry(f: &mut Fe) {
    for i in 0..16 {
        let c = f[i] >> 16;
        f[i] &= 0xffff;
        if i == 15 {
            f[0] += 38 * c;
        } else {
            f[i + 1] += c;
        }
    }
}

fn add(a: &Fe, b: &Fe) -> Fe {
    let mut o = *a;
    for i in 0..16 {
        o[i] += b[i];
    }
    carry(&mut o);
    o
}

fn sub(a: &Fe, b: &Fe) -> Fe {
    let mut o = *a;
    for i in 0..16 {
        o[i] += FOUR_P[i] - b[i];
    }
    carry(&mut o);
    o
}

fn mul(a: &Fe, b: &Fe) -> Fe {
    let mut t = [0i64; 31];
    for i in 0..16 {
        for j in 0..16 {
            t[i + j] += a[i] * b[j];
        }
    }
    let mut o = [0; 16];
    for i in 0..16 {
        o[i] = t[i] + if i < 15 { 38 * t[i + 16] } else { 0 };
    }
    carry(&mut o);
    carry(&mut o);
    o
}

/// The unique bytes of `f mod p`.
fn to_bytes(f: &Fe) -> [u8; 32] {
    let mut t = *f;
    carry(&mut t);
    // Fold bit 255 and above back in (2^255 = 19) until below 2^255...
    for _ in 0..2 {
        let high = t[15] >> 15;
        t[15] &= 0x7fff;
        t[0] += 19 * high;
        carry(&mut t);
    }
    // ...then subtract p once if t >= p, that is if t + 19 reaches 2^255.
    let mut u = t;
    u[0] += 19;
    carry(&mut u);
    if u[15] >> 15 == 1 {
        u[15] &= 0x7fff;
        t = u;
    }
    let mut b = [0; 32];
    for i in 0..16 {
        b[2 * i] = t[i] as u8;
        b[2 * i + 1] = (t[i] >> 8) as u8;
    }
    b
}

/// `x^(2^252 - 3)`: bits 251 to 2 and bit 0 of the exponent are set.
fn pow_p58(x: &Fe) -> Fe {
    let mut r = *x;
    for bit in (0..251).rev() {
        r = mul(&r, &r);
        if bit != 1 {
            r = mul(&r, x);
        }
    }
    r
}

/// Whether `bytes` decode to a point on the curve, the way
/// `ed25519_dalek::VerifyingKey::from_bytes` decides it: `y` is read modulo
/// `p` (the top bit is the sign of `x`), and the point exists when
/// `x^2 = (y^2 - 1) / (d y^2 + 1)` has a root.
pub(crate) fn is_point(bytes: &[u8; 32]) -> bool {
    let y = load(bytes);
    let mut one = [0; 16];
    one[0] = 1;
    let yy = mul(&y, &y);
    let u = sub(&yy, &one);
    let v = add(&mul(&yy, &load(&D)), &one);
    // A root candidate x = u v^3 (u v^7)^((p-5)/8); u/v is a square exactly
    // when v x^2 is u or -u.
    let v3 = mul(&mul(&v, &v), &v);
    let x = mul(&mul(&u, &v3), &pow_p58(&mul(&u, &mul(&v3, &mul(&v3, &v)))));
    let vxx = to_bytes(&mul(&v, &mul(&x, &x)));
    vxx == to_bytes(&u) || vxx == to_bytes(&sub(&[0; 16], &u))
}

/// The `y` of every point of order 1, 2, 4 or 8, with the top (sign) bit
/// cleared, including the non-canonical `p` and `p + 1` (the same `y` as 0
/// and 1). These keys and `R` values let anyone forge signatures, and
/// RFC 8032 verification (WebCrypto's) does not refuse them.
const SMALL_ORDER: [[u8; 32]; 7] = {
    let mut list = [[0; 32]; 7];
    // 0 (order 4) stays all zeros; 1 is the identity.
    list[1][0] = 1;
    list[2] = [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ];
    list[3] = [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ];
    // p - 1 (order 2), p and p + 1.
    let mut k = 4;
    while k < 7 {
        let mut i = 1;
        while i < 31 {
            list[k][i] = 0xff;
            i += 1;
        }
        list[k][0] = 0xe8 + k as u8; // 0xec, 0xed, 0xee
        list[k][31] = 0x7f;
        k += 1;
    }
    list
};

/// Whether the point encoded by `bytes` has small order (see [`SMALL_ORDER`]).
pub(crate) fn is_small_order(bytes: &[u8; 32]) -> bool {
    let mut y = *bytes;
    y[31] &= 0x7f;
    SMALL_ORDER.contains(&y)
}

/// Whether the scalar `s` (little-endian) is below the group order
/// `L = 2^252 + 27742317777372353535851937790883648493`.
pub(crate) fn is_canonical_scalar(s: &[u8; 32]) -> bool {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    // Compare from the most significant byte.
    s.iter().rev().cmp(L.iter().rev()) == core::cmp::Ordering::Less
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::EIGHT_TORSION;
    use curve25519_dalek::edwards::CompressedEdwardsY;
    use ed25519_dalek::{SigningKey, VerifyingKey};
    use proptest::prelude::*;

    fn dalek_is_point(b: &[u8; 32]) -> bool {
        VerifyingKey::from_bytes(b).is_ok()
    }

    #[test]
    fn edge_encodings_agree_with_dalek() {
        let mut cases: Vec<[u8; 32]> = SMALL_ORDER.to_vec();
        for v in [0u8, 1, 2, 3, 18, 19, 20, 0xfe, 0xff] {
            let mut b = [0xff; 32];
            b[0] = 0xed_u8.wrapping_add(v); // p + v for small v, some wrap
            b[31] = 0x7f;
            cases.push(b);
            let mut small = [0; 32];
            small[0] = v;
            cases.push(small);
        }
        cases.push([0xff; 32]);
        for mut b in cases {
            for sign in [0, 0x80] {
                b[31] = b[31] & 0x7f | sign;
                assert_eq!(is_point(&b), dalek_is_point(&b), "{b:02x?}");
            }
        }
    }

    #[test]
    fn the_list_is_exactly_the_small_order_points() {
        for p in EIGHT_TORSION {
            assert!(is_small_order(&p.compress().to_bytes()), "{p:?}");
        }
        for y in SMALL_ORDER {
            for sign in [0, 0x80] {
                let mut b = y;
                b[31] |= sign;
                if let Some(p) = CompressedEdwardsY(b).decompress() {
                    assert!(p.is_small_order(), "{b:02x?}");
                }
            }
        }
    }

    #[test]
    fn scalar_bound_is_the_group_order() {
        let l = curve25519_dalek::Scalar::ZERO - curve25519_dalek::Scalar::ONE;
        let mut below = l.to_bytes(); // L - 1
        assert!(is_canonical_scalar(&below));
        below[0] += 1; // L
        assert!(!is_canonical_scalar(&below));
        assert!(!is_canonical_scalar(&[0xff; 32]));
        assert!(is_canonical_scalar(&[0; 32]));
    }

    proptest! {
        #[test]
        fn point_check_agrees_with_dalek(b in any::<[u8; 32]>()) {
            prop_assert_eq!(is_point(&b), dalek_is_point(&b));
        }

        #[test]
        fn real_keys_are_points_of_large_order(seed in any::<[u8; 32]>()) {
            let key = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
            prop_assert!(is_point(&key));
            prop_assert!(!is_small_order(&key));
        }
    }
}

//! Seeded hashing: every random draw of the zoo is a pure function of its inputs.

use xxhash_rust::xxh3::xxh3_64;

/// The splitmix64 finaliser: a bijective avalanche of one word.
pub(crate) const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Folds `v` into the running hash `h` (order-sensitive).
pub(crate) const fn combine(h: u64, v: u64) -> u64 {
    mix(h ^ mix(v.wrapping_add(0x9e37_79b9_7f4a_7c15)))
}

/// Hash of a byte string.
pub(crate) fn bytes(s: &str) -> u64 {
    xxh3_64(s.as_bytes())
}

/// A uniform draw in [0, 1) from a hash.
pub(crate) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The `k`-th uniform draw in [0, 1) under `key`.
pub(crate) fn draw(key: u64, k: u64) -> f64 {
    unit(combine(key, k))
}

/// A standard normal draw under `key` (Box-Muller on two hashed uniforms).
pub(crate) fn normal(key: u64) -> f64 {
    let u1 = 1.0 - draw(key, 0x6e6f_726d_0001);
    let u2 = draw(key, 0x6e6f_726d_0002);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The logistic function.
pub(crate) fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_uniform_and_normals_standard() {
        let n = 20_000u64;
        let mean_u = (0..n).map(|i| draw(7, i)).sum::<f64>() / n as f64;
        assert!((mean_u - 0.5).abs() < 0.01, "{mean_u}");
        let zs: Vec<f64> = (0..n).map(|i| normal(combine(3, i))).collect();
        let mean = zs.iter().sum::<f64>() / n as f64;
        let var = zs.iter().map(|z| (z - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
        assert!(zs.iter().all(|z| z.is_finite()));
    }

    #[test]
    fn combine_is_order_sensitive() {
        assert_ne!(combine(combine(0, 1), 2), combine(combine(0, 2), 1));
        assert_eq!(combine(5, 9), combine(5, 9));
    }
}

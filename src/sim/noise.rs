//! Counter-based randomness: a value for any (seed, tag, index) without walking a stream.
//!
//! The load models must answer "what did meter M draw at time t?" in any order: the
//! simulator walks time then meters, `inject` walks a real dump row by row in whatever
//! order the file has, and tests evaluate single instants. A stateful generator would tie
//! every value to the order of the calls before it. Hashing the coordinates instead gives
//! the same number for the same question, always. Per-meter *parameters* are still drawn
//! once from a seeded `Xoshiro256PlusPlus` (see [`super::fleet`]); only the time-indexed
//! noise comes from here. Nothing here is cryptographic.

/// Mixes one 64-bit word (the SplitMix64 finaliser: full avalanche, cheap).
#[inline]
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A well-mixed hash of a seed, a component tag and an index (e.g. a day or a step).
#[inline]
pub fn hash3(seed: u64, tag: u64, index: i64) -> u64 {
    mix(mix(seed ^ tag.rotate_left(32)) ^ index as u64)
}

/// A uniform number in `[0, 1)` for the given coordinates.
#[inline]
pub fn uniform(seed: u64, tag: u64, index: i64) -> f64 {
    // The top 53 bits fill an f64 mantissa exactly.
    (hash3(seed, tag, index) >> 11) as f64 / (1u64 << 53) as f64
}

/// A standard normal number for the given coordinates (Box–Muller on two hashes).
#[inline]
pub fn gauss(seed: u64, tag: u64, index: i64) -> f64 {
    let u1 = uniform(seed, tag, index).max(1e-12);
    let u2 = uniform(seed, tag ^ 0x5555_5555, index);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Smooth noise: standard normal values at knots `knot_s` seconds apart, interpolated
/// linearly, so neighbouring instants are correlated (slow drifts rather than static).
pub fn smooth_gauss(seed: u64, tag: u64, t: f64, knot_s: f64) -> f64 {
    let x = t / knot_s;
    let k = x.floor();
    let f = x - k;
    let a = gauss(seed, tag, k as i64);
    let b = gauss(seed, tag, k as i64 + 1);
    a + (b - a) * f
}

/// Seconds of `[a, b)` that fall inside `[lo, hi)`.
#[inline]
pub fn overlap_s(a: i64, b: i64, lo: i64, hi: i64) -> i64 {
    (b.min(hi) - a.max(lo)).max(0)
}

/// Seconds of `[a, b)` during which a square wave of period `period_s`, high for the first
/// `duty` share of each period and shifted by `phase_s`, is high. This is how a cycling
/// compressor looks when averaged over a meter interval: exact at any resolution.
pub fn square_on_s(a: f64, b: f64, period_s: f64, duty: f64, phase_s: f64) -> f64 {
    let duty = duty.clamp(0.0, 1.0);
    // Cumulative on-time from the wave's origin up to x.
    let on_until = |x: f64| {
        let x = x - phase_s;
        let n = (x / period_s).floor();
        n * duty * period_s + (x - n * period_s).min(duty * period_s)
    };
    (on_until(b) - on_until(a)).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_coordinates_give_the_same_number() {
        assert_eq!(uniform(7, 1, 42), uniform(7, 1, 42));
        assert_ne!(uniform(7, 1, 42), uniform(7, 1, 43));
        assert_ne!(uniform(7, 1, 42), uniform(8, 1, 42));
    }

    #[test]
    fn gaussian_noise_has_zero_mean_and_unit_spread() {
        let xs: Vec<f64> = (0..20_000).map(|i| gauss(3, 9, i)).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "var {var}");
    }

    fn check_square(a: f64, b: f64, expected: f64) {
        assert!((square_on_s(a, b, 600.0, 0.5, 0.0) - expected).abs() < 1e-9);
    }

    #[test]
    fn a_square_wave_is_on_for_its_duty_share() {
        check_square(0.0, 600.0, 300.0);
        check_square(0.0, 300.0, 300.0);
        check_square(300.0, 600.0, 0.0);
        check_square(150.0, 1950.0, 900.0);
    }

    #[test]
    fn overlap_counts_only_shared_seconds() {
        assert_eq!(overlap_s(0, 100, 50, 200), 50);
        assert_eq!(overlap_s(0, 100, 100, 200), 0);
        assert_eq!(overlap_s(10, 20, 0, 100), 10);
    }
}

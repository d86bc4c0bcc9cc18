//! Order statistics on one meter's hours and blocks: quantiles by selection, by one radix
//! sort of `f32` order keys, and read from ordered sets, all giving the same numbers bit
//! for bit (tested). The hot path of scoring: `shape` sorts every window once.

/// The finite values of a stretch of hours in ascending order (by `f64::total_cmp`),
/// for reading several quantiles after one sort.
///
/// Kept as `f32` order keys: every `f32` converts exactly to `f64` and the conversion
/// keeps the total order, so each quantile equals [`quantile`] of the values as `f64`.
pub(super) struct SortedHours {
    keys: Vec<u32>,
}

impl SortedHours {
    pub(super) fn of(w: &[f32]) -> SortedHours {
        let mut keys = Vec::with_capacity(w.len());
        keys.extend(w.iter().filter(|v| v.is_finite()).map(|&v| order_key(v)));
        radix_sort(&mut keys);
        SortedHours { keys }
    }

    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(super) fn get(&self, i: usize) -> f64 {
        from_order_key(self.keys[i]) as f64
    }

    /// The same number as [`quantile`] of the values: the `lo`-th smallest, interpolated
    /// towards the next one.
    pub(super) fn quantile(&self, q: f64) -> f64 {
        let n = self.keys.len();
        if n == 0 {
            return f64::NAN;
        }
        let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
        let lo = pos as usize; // pos ≥ 0: truncation is floor, without a libm call
        let a = self.get(lo);
        if lo + 1 < n && pos > lo as f64 {
            let b = self.get(lo + 1);
            a + (b - a) * (pos - lo as f64)
        } else {
            a
        }
    }

    /// How many values are `>= t`. The values are sorted, and for finite values `v < t`
    /// holds for a prefix of them, so this is a binary search.
    pub(super) fn count_at_least(&self, t: f64) -> usize {
        self.keys.len()
            - self
                .keys
                .partition_point(|&k| (from_order_key(k) as f64) < t)
    }
}

/// Sorts `keys` ascending: a least-significant-digit radix sort by bytes, skipping the
/// bytes all keys share (the sign and most of the exponent, for one meter's hours). The
/// same result as `sort_unstable` (integers have one sorted order), in a few passes
/// instead of a comparison sort's n log n steps.
pub(super) fn radix_sort(keys: &mut Vec<u32>) {
    let n = keys.len();
    if n < 64 {
        keys.sort_unstable();
        return;
    }
    let mut counts = [[0u32; 256]; 4];
    for &k in keys.iter() {
        for (d, c) in counts.iter_mut().enumerate() {
            c[((k >> (8 * d)) & 0xff) as usize] += 1;
        }
    }
    let mut from = std::mem::take(keys);
    let mut to = vec![0u32; n];
    for (d, c) in counts.iter_mut().enumerate() {
        let shift = 8 * d;
        if c[((from[0] >> shift) & 0xff) as usize] as usize == n {
            continue; // every key has this byte: the pass would not move anything
        }
        let mut next = 0u32;
        for slot in c.iter_mut() {
            let here = *slot;
            *slot = next;
            next += here;
        }
        for &k in &from {
            let b = ((k >> shift) & 0xff) as usize;
            to[c[b] as usize] = k;
            c[b] += 1;
        }
        std::mem::swap(&mut from, &mut to);
    }
    *keys = from;
}

/// An unsigned key in the order of `f32::total_cmp`.
pub(super) fn order_key(v: f32) -> u32 {
    // Negative: all bits flipped; positive: the sign bit set.
    let bits = v.to_bits();
    bits ^ (((bits as i32 >> 31) as u32) | 0x8000_0000)
}

/// The `f32` of an [`order_key`].
pub(super) fn from_order_key(k: u32) -> f32 {
    f32::from_bits(k ^ (((!k as i32 >> 31) as u32) | 0x8000_0000))
}

/// The `q` quantile (0..1) of `v` by linear interpolation; reorders `v`.
pub fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = pos as usize; // pos ≥ 0: truncation is floor, without a libm call
    let n = v.len();
    let (_, &mut a, rest) = v.select_nth_unstable_by(lo, |x, y| x.total_cmp(y));
    if lo + 1 < n && pos > lo as f64 {
        let b = rest.iter().copied().fold(f64::INFINITY, f64::min);
        a + (b - a) * (pos - lo as f64)
    } else {
        a
    }
}

/// The second-smallest of at least two values by `f64::total_cmp`: what sorting them
/// and taking the second would give, without the sort.
pub(super) fn second_smallest(v: &[f64]) -> f64 {
    let (mut first, mut second) = if v[1].total_cmp(&v[0]).is_lt() {
        (v[1], v[0])
    } else {
        (v[0], v[1])
    };
    for &x in &v[2..] {
        if x.total_cmp(&first).is_lt() {
            second = first;
            first = x;
        } else if x.total_cmp(&second).is_lt() {
            second = x;
        }
    }
    second
}

pub(super) fn insert_sorted(v: &mut Vec<f64>, x: f64) {
    let i = v.partition_point(|&y| y < x);
    v.insert(i, x);
}

/// [`sorted_quantile`] at 0.5 in integer steps: `0.5 × (n − 1)` is exact in floating
/// point, so its floor is `(n − 1) / 2` and its fraction 0 or ½, and the result is the
/// same number.
pub(super) fn sorted_median(v: &[f64]) -> f64 {
    median_of_ordered(v.len(), |i| v[i])
}

pub(super) fn sorted_quantile(v: &[f64], q: f64) -> f64 {
    quantile_of_ordered(v.len(), q, |i| v[i])
}

/// [`sorted_median`] of `n` values given by their order (`nth(i)` is the `i`-th smallest).
#[inline]
pub(super) fn median_of_ordered(n: usize, nth: impl Fn(usize) -> f64) -> f64 {
    if n == 0 {
        return f64::NAN;
    }
    let lo = (n - 1) / 2;
    let frac = if (n - 1) % 2 == 1 { 0.5 } else { 0.0 };
    let hi = (lo + 1).min(n - 1);
    let (a, b) = (nth(lo), nth(hi));
    a + (b - a) * frac
}

/// [`sorted_quantile`] of `n` values given by their order (`nth(i)` is the `i`-th smallest).
#[inline]
pub(super) fn quantile_of_ordered(n: usize, q: f64, nth: impl Fn(usize) -> f64) -> f64 {
    if n == 0 {
        return f64::NAN;
    }
    let pos = q * (n - 1) as f64;
    let lo = pos as usize; // pos ≥ 0: truncation is floor, without a libm call
    let hi = (lo + 1).min(n - 1);
    let (a, b) = (nth(lo), nth(hi));
    a + (b - a) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::features::fixtures::*;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    #[test]
    fn quantiles_read_after_one_sort_equal_quantiles_by_selection() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(6);
        for round in 0..2_000 {
            let n = if round % 100 == 0 {
                700
            } else {
                rng.gen_range(0..40)
            };
            let w = awkward_hours(&mut rng, n);
            let sorted = SortedHours::of(&w);
            let mut vals: Vec<f64> = w
                .iter()
                .filter(|v| v.is_finite())
                .map(|&v| v as f64)
                .collect();
            for q in [0.0, 0.1, 0.2, 0.25, 0.4, 0.5, 0.6, 0.75, 0.98, 1.0] {
                let (got, want) = (sorted.quantile(q), quantile(&mut vals, q));
                assert!(
                    got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                    "q {q} of {w:?}: {got} vs {want}"
                );
                let t = 0.75 * want;
                let count = vals.iter().filter(|&&v| v >= t).count();
                assert_eq!(sorted.count_at_least(t), count, "≥ {t} in {w:?}");
            }
        }
    }

    #[test]
    fn radix_sort_sorts_like_sort_unstable() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(8);
        for round in 0..500 {
            let n = rng.gen_range(0..3_000);
            let mut keys: Vec<u32> = match round % 3 {
                // Keys of hours: shared high bytes, the case the skipped passes are for.
                0 => awkward_hours(&mut rng, n)
                    .into_iter()
                    .filter(|v| v.is_finite())
                    .map(order_key)
                    .collect(),
                1 => (0..n).map(|_| rng.gen()).collect(),
                _ => (0..n).map(|_| rng.gen_range(0..4)).collect(),
            };
            let mut want = keys.clone();
            want.sort_unstable();
            radix_sort(&mut keys);
            assert_eq!(keys, want);
        }
    }

    #[test]
    fn order_keys_follow_total_cmp() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
        let w = awkward_hours(&mut rng, 5_000);
        for pair in w.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            assert_eq!(order_key(a).cmp(&order_key(b)), a.total_cmp(&b), "{a} {b}");
            assert_eq!(from_order_key(order_key(a)).to_bits(), a.to_bits());
        }
    }

    #[test]
    fn the_integer_median_is_the_interpolated_one() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(10);
        for n in 0..300 {
            let mut v: Vec<f64> = awkward_hours(&mut rng, n)
                .into_iter()
                .filter(|x| x.is_finite())
                .map(|x| x as f64)
                .collect();
            v.sort_by(|a, b| a.total_cmp(b));
            let (got, want) = (sorted_median(&v), sorted_quantile(&v, 0.5));
            assert!(got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()));
        }
    }

    #[test]
    fn second_smallest_is_the_second_after_sorting() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let pool = [
            f64::NAN,
            -f64::NAN,
            -0.0,
            0.0,
            1.0,
            -1.0,
            2.5,
            f64::INFINITY,
        ];
        for _ in 0..20_000 {
            let n = rng.gen_range(2..=6);
            let mut v: Vec<f64> = (0..n)
                .map(|_| {
                    if rng.gen_bool(0.5) {
                        pool[rng.gen_range(0..pool.len())]
                    } else {
                        rng.gen_range(-3.0..3.0)
                    }
                })
                .collect();
            let got = second_smallest(&v);
            v.sort_by(|a, b| a.total_cmp(b));
            assert_eq!(got.to_bits(), v[1].to_bits(), "{v:?}");
        }
    }

    #[test]
    fn quantile_interpolates() {
        let check = |v: &[f64], q: f64, want: f64| {
            assert!((quantile(&mut v.to_vec(), q) - want).abs() < 1e-12)
        };
        check(&[3.0, 1.0, 2.0], 0.5, 2.0);
        check(&[1.0, 2.0], 0.5, 1.5);
        check(&[5.0], 0.9, 5.0);
        check(&[4.0, 1.0, 3.0, 2.0], 0.0, 1.0);
        check(&[4.0, 1.0, 3.0, 2.0], 1.0, 4.0);
    }
}

//! The window cut into 6-hour blocks, the unit the onset search and the floor test read:
//! each block is summarised by its second-lowest valid hour, and blocks fall into four
//! "slots" of the UTC day.

use super::stats::{from_order_key, order_key};

/// Onset detection works on 6-hour blocks (four "slots" of the UTC day).
pub(super) const BLOCK_H: i64 = 6;
pub(super) const SLOTS: usize = 4;

/// The first block of a window and every block's value ([`block_values`]). Blocks are
/// aligned to the absolute 6-hour grid so every driver cuts the same blocks.
pub(super) fn window_blocks(start: i64, w: &[f32]) -> Blocks {
    let first = start.div_euclid(BLOCK_H);
    let last_block = (start + w.len() as i64 - 1).div_euclid(BLOCK_H);
    let n_blocks = (last_block - first + 1).max(0) as usize;
    Blocks {
        first,
        values: block_values(start, w, first, n_blocks),
    }
}

/// A window cut into 6-hour blocks: the first block's index and every block's value.
pub(super) struct Blocks {
    pub(super) first: i64,
    pub(super) values: Vec<f64>,
}

/// Each 6-hour block's second-lowest valid hour (NaN under four valid hours), so one
/// restart hour does not hide the block.
#[inline(never)]
pub(super) fn block_values(start: i64, w: &[f32], first_block: i64, n_blocks: usize) -> Vec<f64> {
    let mut block_val = vec![f64::NAN; n_blocks];
    for (b, slot_val) in block_val.iter_mut().enumerate() {
        // The block's hours that lie inside the window.
        let h0 = (first_block + b as i64) * BLOCK_H;
        let from = (h0 - start).max(0) as usize;
        let to = ((h0 + BLOCK_H - start) as usize).min(w.len());
        // The second-lowest by `total_cmp`, kept as order keys (every finite key is below
        // `u32::MAX`).
        // A gap counts as `u32::MAX`, which never displaces a valid hour.
        let (mut lowest, mut second, mut n) = (u32::MAX, u32::MAX, 0);
        for &v in &w[from..to] {
            let finite = v.is_finite();
            let k = if finite { order_key(v) } else { u32::MAX };
            n += usize::from(finite);
            second = second.min(k.max(lowest));
            lowest = lowest.min(k);
        }
        if n >= 4 {
            *slot_val = from_order_key(second) as f64;
        }
    }
    block_val
}

/// Up to one value per slot of the day.
#[derive(Default)]
pub(super) struct SlotValues {
    v: [f64; SLOTS],
    n: usize,
}

impl SlotValues {
    pub(super) fn push(&mut self, x: f64) {
        self.v[self.n] = x;
        self.n += 1;
    }

    pub(super) fn len(&self) -> usize {
        self.n
    }

    pub(super) fn as_slice(&self) -> &[f64] {
        &self.v[..self.n]
    }

    /// The values in ascending order (by `f64::total_cmp`).
    pub(super) fn sorted(&mut self) -> &[f64] {
        self.v[..self.n].sort_by(|a, b| a.total_cmp(b));
        &self.v[..self.n]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::features::fixtures::*;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    #[test]
    fn block_values_are_the_second_lowest_valid_hour_of_each_block() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        for _ in 0..1_000 {
            let n = rng.gen_range(1..120i64);
            let start = 480_000 + rng.gen_range(0..BLOCK_H);
            let w = awkward_hours(&mut rng, n as usize);
            let first_block = start.div_euclid(BLOCK_H);
            let n_blocks = ((start + n - 1).div_euclid(BLOCK_H) - first_block + 1) as usize;
            let got = block_values(start, &w, first_block, n_blocks);
            for (b, got) in got.into_iter().enumerate() {
                let h0 = (first_block + b as i64) * BLOCK_H;
                let mut valid: Vec<f64> = (h0..h0 + BLOCK_H)
                    .filter(|&h| h >= start && h < start + n)
                    .map(|h| w[(h - start) as usize])
                    .filter(|v| v.is_finite())
                    .map(|v| v as f64)
                    .collect();
                valid.sort_by(|a, b| a.total_cmp(b));
                let want = if valid.len() >= 4 { valid[1] } else { f64::NAN };
                assert!(
                    got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                    "block {b} of {w:?} from {start}: {got} vs {want}"
                );
            }
        }
    }
}

//! The fleet: every meter seen in a run, keyed by id, with its series under construction.
//!
//! Readers call [`Fleet::push`] once per reading with a borrowed id, so a known meter
//! costs one hash lookup and no allocation; a reader that meets the same ids again and
//! again looks each up once ([`Fleet::index_of`]) and pushes by index
//! ([`Fleet::push_at`]). The fleet owns id interning and per-meter unit consistency; it
//! knows nothing about files, topics or scoring.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::series::{HourlySeries, PushError, SeriesBuilder, Unit};

/// A meter's identifier as the utility writes it (e.g. `MAC000034`, `786`, `T-0412`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MeterId(pub Arc<str>);

impl MeterId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A map keyed by `MeterId` is looked up by `&str` (the derived `Hash` and `Eq` are the
/// text's own).
impl std::borrow::Borrow<str> for MeterId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for MeterId {
    fn from(s: &str) -> Self {
        MeterId(Arc::from(s))
    }
}

impl fmt::Display for MeterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a reading was refused by the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FleetError {
    /// The series refused it (duplicate minute, absurd timestamp).
    Series(PushError),
    /// The meter reported in one unit before and another now.
    UnitChanged,
}

/// One meter's state while readings stream in.
#[derive(Debug, Clone)]
pub struct MeterSlot {
    /// The meter's id.
    pub id: MeterId,
    /// The unit of every value pushed for this meter.
    pub unit: Unit,
    /// The hour bins.
    pub builder: SeriesBuilder,
    /// Readings accepted.
    pub n_readings: u64,
}

/// All meters of a run.
#[derive(Debug, Default)]
pub struct Fleet {
    index: HashMap<Box<str>, u32>,
    meters: Vec<MeterSlot>,
}

impl Fleet {
    /// An empty fleet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of meters seen.
    pub fn len(&self) -> usize {
        self.meters.len()
    }

    /// True when no meter has been seen.
    pub fn is_empty(&self) -> bool {
        self.meters.is_empty()
    }

    /// Adds one reading; allocates only the first time a meter id is seen.
    #[inline]
    pub fn push(&mut self, meter: &str, ts: i64, value: f32, unit: Unit) -> Result<(), FleetError> {
        let i = self.index_of(meter, unit);
        self.push_at(i, ts, value, unit)
    }

    /// The index of `meter` in [`Fleet::meters`], adding it (with `unit` as its unit) if it
    /// is new. `index_of` then [`Fleet::push_at`] is exactly [`Fleet::push`]; a reader that
    /// meets the same id many times can look it up once and keep the index, which never
    /// changes (meters are only ever added at the end).
    #[inline]
    pub fn index_of(&mut self, meter: &str, unit: Unit) -> usize {
        match self.index.get(meter) {
            Some(&i) => i as usize,
            None => {
                let i = self.meters.len();
                self.index.insert(meter.into(), i as u32);
                self.meters.push(MeterSlot {
                    id: MeterId::from(meter),
                    unit,
                    builder: SeriesBuilder::new(),
                    n_readings: 0,
                });
                i
            }
        }
    }

    /// Adds one reading to the meter at `index` (from [`Fleet::index_of`]).
    ///
    /// # Panics
    /// If no meter has that index.
    #[inline]
    pub fn push_at(
        &mut self,
        index: usize,
        ts: i64,
        value: f32,
        unit: Unit,
    ) -> Result<(), FleetError> {
        let slot = &mut self.meters[index];
        if slot.unit != unit {
            return Err(FleetError::UnitChanged);
        }
        slot.builder.push(ts, value).map_err(FleetError::Series)?;
        slot.n_readings += 1;
        Ok(())
    }

    /// Starts loading the hour bin a reading at `ts` of the meter at `index` would go to
    /// (see [`SeriesBuilder::prefetch`]); a reader calls it a few readings ahead.
    #[inline]
    pub fn prefetch(&self, index: usize, ts: i64) {
        if let Some(slot) = self.meters.get(index) {
            slot.builder.prefetch(ts);
        }
    }

    /// The meters in the order first seen.
    pub fn meters(&self) -> &[MeterSlot] {
        &self.meters
    }

    /// The hour index one past the latest reading of any meter.
    pub fn end_hour(&self) -> Option<i64> {
        self.meters
            .iter()
            .filter_map(|m| m.builder.last_hour())
            .max()
            .map(|h| h + 1)
    }

    /// Finishes every meter's series, in the order first seen.
    pub fn finish(&self) -> Vec<(MeterId, HourlySeries)> {
        self.meters
            .iter()
            .map(|m| (m.id.clone(), m.builder.finish(m.unit)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaved_meters_are_kept_apart() {
        let mut f = Fleet::new();
        for h in 0..3 {
            f.push("a", h * 3600, 1.0, Unit::Kwh).unwrap();
            f.push("b", h * 3600, 2.0, Unit::Kwh).unwrap();
        }
        let s = f.finish();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].1.kw, vec![1.0; 3]);
        assert_eq!(s[1].1.kw, vec![2.0; 3]);
        assert_eq!(f.end_hour(), Some(3));
    }

    #[test]
    fn a_meter_switching_units_is_refused() {
        let mut f = Fleet::new();
        f.push("a", 0, 1.0, Unit::Kwh).unwrap();
        assert_eq!(
            f.push("a", 3600, 1.0, Unit::Kw),
            Err(FleetError::UnitChanged)
        );
    }
}

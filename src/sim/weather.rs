//! A seeded outdoor temperature model shared by every load that cares about weather.
//!
//! Temperature = annual sine (coldest in mid-January) + daily sine (coldest before dawn,
//! warmest mid-afternoon) + a day-to-day weather anomaly that follows an AR(1) process,
//! so cold and warm spells last several days as real ones do. The defaults are a mild
//! maritime climate (London/Dublin-like: ~5 °C in January, ~17 °C in July). Heating,
//! heat pumps, storage heaters, cold stores and the miners' temperature ripple all read
//! the same [`Weather`], so a cold spell shows up in all of them at once.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Seconds in a day.
pub const DAY_S: i64 = 86_400;

/// Day-to-day persistence of the weather anomaly (AR(1) coefficient per day).
const ANOMALY_PHI: f64 = 0.8;
/// Standard deviation of the stationary anomaly, °C.
const ANOMALY_SD_C: f64 = 3.0;

/// The outdoor temperature over a span of days, fixed by a seed.
#[derive(Debug, Clone)]
pub struct Weather {
    /// Annual mean temperature, °C.
    pub mean_c: f64,
    /// Half the summer–winter difference, °C.
    pub annual_amplitude_c: f64,
    /// Half the afternoon–dawn difference, °C.
    pub daily_amplitude_c: f64,
    /// Local time offset from UTC, seconds (the daily cycle follows the sun, not UTC).
    pub tz_offset_s: i32,
    first_day: i64,
    anomaly_c: Vec<f64>,
}

impl Weather {
    /// Weather for the days `[first_day, first_day + n_days)` (unix day numbers), with a
    /// maritime climate. Instants outside the span use the nearest day's anomaly.
    pub fn new(seed: u64, first_day: i64, n_days: usize, tz_offset_s: i32) -> Self {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x7E3A_11CE);
        // Start the AR(1) in its stationary distribution so the first days are not special.
        let innovation_sd = ANOMALY_SD_C * (1.0 - ANOMALY_PHI * ANOMALY_PHI).sqrt();
        let mut a = ANOMALY_SD_C * standard_normal(&mut rng);
        let mut anomaly_c = Vec::with_capacity(n_days.max(1));
        for _ in 0..n_days.max(1) {
            anomaly_c.push(a);
            a = ANOMALY_PHI * a + innovation_sd * standard_normal(&mut rng);
        }
        Weather {
            mean_c: 10.5,
            annual_amplitude_c: 6.5,
            daily_amplitude_c: 3.5,
            tz_offset_s,
            first_day,
            anomaly_c,
        }
    }

    /// Weather covering the instants `[from_unix, to_unix)` with a margin of a day.
    pub fn covering(seed: u64, from_unix: i64, to_unix: i64, tz_offset_s: i32) -> Self {
        let first = from_unix.div_euclid(DAY_S) - 1;
        let last = to_unix.div_euclid(DAY_S) + 1;
        Weather::new(seed, first, (last - first + 1) as usize, tz_offset_s)
    }

    /// The weather anomaly of a day, °C (clamped to the span).
    fn anomaly(&self, day: i64) -> f64 {
        let i = (day - self.first_day).clamp(0, self.anomaly_c.len() as i64 - 1);
        self.anomaly_c[i as usize]
    }

    /// Seasonal mean for a local day, °C (no weather, no daily cycle).
    fn seasonal_c(&self, local_day: i64) -> f64 {
        // Day of year from the unix day (1970-01-01 is day of year 0); coldest near 15 January.
        let doy = (local_day as f64).rem_euclid(365.2425);
        self.mean_c
            - self.annual_amplitude_c * (std::f64::consts::TAU * (doy - 15.0) / 365.2425).cos()
    }

    /// The outdoor temperature at an instant, °C.
    pub fn temp_c(&self, t_unix: i64) -> f64 {
        let local = t_unix + self.tz_offset_s as i64;
        let day = local.div_euclid(DAY_S);
        let hour = local.rem_euclid(DAY_S) as f64 / 3600.0;
        // The anomaly is pinned at each local noon and interpolated between, so weather
        // changes gradually instead of stepping at midnight.
        let x = hour / 24.0 - 0.5;
        let (d0, f) = if x >= 0.0 {
            (day, x)
        } else {
            (day - 1, 1.0 + x)
        };
        let anomaly = self.anomaly(d0) * (1.0 - f) + self.anomaly(d0 + 1) * f;
        // Warmest at 15:00 local, coldest twelve hours later (close enough to dawn).
        let daily = self.daily_amplitude_c * (std::f64::consts::TAU * (hour - 15.0) / 24.0).cos();
        self.seasonal_c(day) + anomaly + daily
    }

    /// The mean temperature of a local day, °C (what a storage-heater controller forecasts).
    pub fn daily_mean_c(&self, local_day: i64) -> f64 {
        self.seasonal_c(local_day) + self.anomaly(local_day)
    }
}

/// A standard normal draw from a seeded generator (Box–Muller; rand 0.8 has no normal
/// distribution without the `rand_distr` crate, which the project does not depend on).
pub fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.gen::<f64>().max(1e-12);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_temp(w: &Weather, from_day: i64, n_days: i64) -> f64 {
        let n = n_days * 24;
        (0..n)
            .map(|h| w.temp_c(from_day * DAY_S + h * 3600))
            .sum::<f64>()
            / n as f64
    }

    #[test]
    fn winter_is_colder_than_summer() {
        // 2024-01-01 is unix day 19723.
        let w = Weather::new(1, 19_723, 366, 0);
        let jan = mean_temp(&w, 19_723, 31);
        let jul = mean_temp(&w, 19_723 + 182, 31);
        assert!(jan < 8.0 && jul > 13.0, "jan {jan:.1} jul {jul:.1}");
    }

    #[test]
    fn afternoons_are_warmer_than_nights() {
        let w = Weather::new(2, 19_723, 60, 0);
        let day = |h: i64| {
            (0..60)
                .map(|d| w.temp_c((19_723 + d) * DAY_S + h * 3600))
                .sum::<f64>()
                / 60.0
        };
        assert!(day(15) > day(4) + 5.0);
    }

    #[test]
    fn the_same_seed_gives_the_same_weather() {
        let a = Weather::new(5, 100, 30, 0);
        let b = Weather::new(5, 100, 30, 0);
        let c = Weather::new(6, 100, 30, 0);
        assert_eq!(a.temp_c(100 * DAY_S + 7_777), b.temp_c(100 * DAY_S + 7_777));
        assert_ne!(a.temp_c(100 * DAY_S + 7_777), c.temp_c(100 * DAY_S + 7_777));
    }
}

//! The legitimate loads: households and the confounders a mining detector must not flag.
//!
//! Each premises is a [`BaseLoad`]: its parameters are drawn once from a seeded generator
//! ([`BaseLoad::draw`]), and [`base_kw`] then gives its average draw over any interval as
//! a pure function of time and outdoor temperature (randomness from [`super::noise`]), so
//! any interval can be asked for in any order. Shapes follow UK/Irish figures: a home
//! averages roughly 0.3–1.2 kW, sits at 0.1–0.5 kW at night and peaks at 1.5–4 kW in the
//! evening. The confounders are built to look like what they are: heat pumps and storage
//! heaters are high in winter and follow the temperature, EV charging comes in nightly
//! blocks, cold stores cycle, server rooms are flat (and labelled `datacentre`, for the
//! registry to explain), bakeries work at night, offices on weekdays. Mining is not here;
//! see [`super::mining`].

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::noise::{gauss, overlap_s, smooth_gauss, square_on_s, uniform};
use super::weather::{Weather, DAY_S};

/// What a meter is, as written in the labels' `kind` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An ordinary home (some with electric heating or an away week).
    Household,
    /// A home with a heat pump.
    HeatPump,
    /// A home charging an electric car at night.
    Ev,
    /// A home with Economy-7 night storage heaters.
    StorageHeater,
    /// A cold store or refrigerated warehouse.
    ColdStore,
    /// A server room or telecom site (flat by nature; registered as a data centre).
    ServerRoom,
    /// A bakery (production at night and early morning).
    Bakery,
    /// A shop open around the clock.
    #[serde(rename = "shop_24h")]
    Shop24h,
    /// An office or school (weekday daytime).
    Office,
    /// An empty home (fridge only).
    EmptyHome,
    /// A home with one old S9 rig.
    MinerHomeS9,
    /// A home with 2–10 S19-class rigs.
    MinerHome,
    /// A shophouse or workshop with 10–300 rigs on top of a small business.
    MinerShophouse,
    /// A farm of thousands of rigs (megawatts).
    MinerFarm,
    /// A declared, licensed mining site (the registry allows it).
    MinerLicensed,
    /// A real household series from a dump (`inject`), left clean.
    RealHome,
    /// A real business series from a dump (`inject`), left clean.
    RealBusiness,
}

impl Kind {
    /// The label text, e.g. `heat_pump`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Household => "household",
            Kind::HeatPump => "heat_pump",
            Kind::Ev => "ev",
            Kind::StorageHeater => "storage_heater",
            Kind::ColdStore => "cold_store",
            Kind::ServerRoom => "server_room",
            Kind::Bakery => "bakery",
            Kind::Shop24h => "shop_24h",
            Kind::Office => "office",
            Kind::EmptyHome => "empty_home",
            Kind::MinerHomeS9 => "miner_home_s9",
            Kind::MinerHome => "miner_home",
            Kind::MinerShophouse => "miner_shophouse",
            Kind::MinerFarm => "miner_farm",
            Kind::MinerLicensed => "miner_licensed",
            Kind::RealHome => "real_home",
            Kind::RealBusiness => "real_business",
        }
    }

    /// The tariff class such premises are connected under.
    pub fn class(self) -> Class {
        match self {
            Kind::Household
            | Kind::HeatPump
            | Kind::Ev
            | Kind::StorageHeater
            | Kind::EmptyHome
            | Kind::MinerHomeS9
            | Kind::MinerHome
            | Kind::RealHome => Class::Residential,
            Kind::ServerRoom => Class::Datacentre,
            _ => Class::Commercial,
        }
    }

    /// Whether meters of this kind carry mining load.
    pub fn is_mining(self) -> bool {
        matches!(
            self,
            Kind::MinerHomeS9
                | Kind::MinerHome
                | Kind::MinerShophouse
                | Kind::MinerFarm
                | Kind::MinerLicensed
        )
    }
}

/// Tariff class of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// A domestic connection.
    Residential,
    /// A business connection.
    Commercial,
    /// A registered data centre / server room / telecom site.
    Datacentre,
}

impl Class {
    /// The label text.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Residential => "residential",
            Class::Commercial => "commercial",
            Class::Datacentre => "datacentre",
        }
    }
}

/// A home's everyday rhythm and its optional big appliances.
#[derive(Debug, Clone, PartialEq)]
pub struct Home {
    /// Night-time base load (fridge, standby), kW.
    pub base_kw: f64,
    /// Height of the breakfast bump above base, kW.
    pub morning_kw: f64,
    /// Height of the evening peak above base, kW.
    pub evening_kw: f64,
    /// Weekday wake-up hour, local.
    pub wake_h: f64,
    /// Centre of the evening peak, local hour.
    pub evening_h: f64,
    /// Lighting after dark, kW.
    pub lighting_kw: f64,
    /// Spread of the multiplicative noise on the active load (log-normal sigma).
    pub noise: f64,
    /// Resistive electric heating: kW per °C below 16 °C, in occupied hours.
    pub heating_kw_per_c: Option<f64>,
    /// Heat pump: (electrical kW per °C below 18 °C, compressor cycle minutes).
    pub heat_pump: Option<(f64, f64)>,
    /// EV charging: (charger kW, probability of charging on a given night).
    pub ev: Option<(f64, f64)>,
    /// Storage heaters: total element kW charged in the Economy-7 night block.
    pub storage_kw: Option<f64>,
    /// An away period: (first unix day, number of days) with only the fridge running.
    pub away: Option<(i64, i64)>,
}

/// A business's size and opening pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Business {
    /// Characteristic size, kW (peak for offices and bakeries, rating for cold stores,
    /// level for server rooms, mean for shops).
    pub scale_kw: f64,
    /// Share of `scale_kw` drawn when closed.
    pub base_share: f64,
    /// Opening hours, local `[open, close)`.
    pub open_h: (f64, f64),
    /// Whether it works at weekends.
    pub weekends: bool,
    /// Number of compressors (cold stores, shop refrigeration).
    pub n_compressors: u32,
    /// Spread of the multiplicative noise (log-normal sigma).
    pub noise: f64,
}

/// The legitimate load of one premises.
#[derive(Debug, Clone, PartialEq)]
pub enum BaseLoad {
    /// A lived-in home (households, heat pumps, EVs, storage heaters, miners' homes).
    Home(Home),
    /// An empty home: a fridge cycling and some standby.
    EmptyHome {
        /// Average draw, kW (0.05–0.1).
        mean_kw: f64,
    },
    /// A cold store: base plus cycling compressors, 24/7, busier when warm.
    ColdStore(Business),
    /// A server room: flat, with a little cooling that follows the temperature.
    ServerRoom(Business),
    /// A bakery: ovens at night and early morning, a shop by day.
    Bakery(Business),
    /// A 24/7 shop: refrigeration and lighting, busier in the day.
    Shop24h(Business),
    /// An office, school, workshop or warehouse: open on weekdays (some on Saturdays too).
    Office(Business),
}

impl BaseLoad {
    /// Draws the premises of the given kind. Miner kinds get the premises they hide in:
    /// a home, a shophouse/workshop, or a warehouse for a farm. `first_day`/`n_days` bound
    /// the span (for away weeks).
    pub fn draw(rng: &mut impl Rng, kind: Kind, first_day: i64, n_days: i64) -> BaseLoad {
        match kind {
            Kind::Household | Kind::MinerHomeS9 | Kind::MinerHome | Kind::RealHome => {
                let mut home = draw_home(rng);
                // One home in ten heats with resistive heaters; one in five has an away week.
                if rng.gen_bool(0.1) {
                    home.heating_kw_per_c = Some(rng.gen_range(0.06..0.16));
                }
                if kind == Kind::Household && rng.gen_bool(0.2) && n_days > 14 {
                    home.away = Some((
                        first_day + rng.gen_range(0..n_days - 7),
                        rng.gen_range(4..11),
                    ));
                }
                BaseLoad::Home(home)
            }
            Kind::HeatPump => BaseLoad::Home(Home {
                heat_pump: Some((rng.gen_range(0.05..0.12), rng.gen_range(12.0..30.0))),
                ..draw_home(rng)
            }),
            Kind::Ev => BaseLoad::Home(Home {
                ev: Some((
                    if rng.gen_bool(0.8) { 7.2 } else { 3.6 },
                    rng.gen_range(0.3..0.8),
                )),
                ..draw_home(rng)
            }),
            Kind::StorageHeater => BaseLoad::Home(Home {
                storage_kw: Some(rng.gen_range(3.0..7.5)),
                ..draw_home(rng)
            }),
            Kind::EmptyHome => BaseLoad::EmptyHome {
                mean_kw: rng.gen_range(0.05..0.1),
            },
            Kind::ColdStore => BaseLoad::ColdStore(Business {
                scale_kw: rng.gen_range(20.0..200.0),
                base_share: rng.gen_range(0.25..0.4),
                open_h: (6.0, 18.0),
                weekends: rng.gen_bool(0.5),
                n_compressors: rng.gen_range(2..5),
                noise: 0.04,
            }),
            Kind::ServerRoom => BaseLoad::ServerRoom(Business {
                scale_kw: rng.gen_range(5.0..50.0),
                base_share: 1.0,
                open_h: (0.0, 24.0),
                weekends: true,
                n_compressors: 0,
                noise: 0.01,
            }),
            Kind::Bakery => BaseLoad::Bakery(Business {
                scale_kw: rng.gen_range(15.0..60.0),
                base_share: rng.gen_range(0.08..0.15),
                open_h: (rng.gen_range(1.5..3.5), rng.gen_range(8.0..10.0)),
                weekends: true,
                n_compressors: 1,
                noise: 0.08,
            }),
            Kind::Shop24h => BaseLoad::Shop24h(Business {
                scale_kw: rng.gen_range(10.0..40.0),
                base_share: rng.gen_range(0.55..0.7),
                open_h: (7.0, 23.0),
                weekends: true,
                n_compressors: rng.gen_range(2..4),
                noise: 0.05,
            }),
            Kind::Office => BaseLoad::Office(Business {
                scale_kw: rng.gen_range(10.0..150.0),
                base_share: rng.gen_range(0.15..0.3),
                open_h: if rng.gen_bool(0.3) {
                    (7.5, 16.0)
                } else {
                    (7.5, 18.5)
                },
                weekends: false,
                n_compressors: 0,
                noise: 0.06,
            }),
            // The shophouse: a small workshop or shop open six days a week.
            Kind::MinerShophouse => BaseLoad::Office(Business {
                scale_kw: rng.gen_range(4.0..20.0),
                base_share: rng.gen_range(0.1..0.25),
                open_h: (8.0, 19.0),
                weekends: true,
                n_compressors: 0,
                noise: 0.1,
            }),
            // A farm hides in a warehouse or old factory with its own modest load.
            Kind::MinerFarm | Kind::MinerLicensed | Kind::RealBusiness => {
                BaseLoad::Office(Business {
                    scale_kw: rng.gen_range(20.0..80.0),
                    base_share: rng.gen_range(0.2..0.4),
                    open_h: (7.0, 17.0),
                    weekends: false,
                    n_compressors: 0,
                    noise: 0.06,
                })
            }
        }
    }

    /// A short tag for the labels' `variant` column (e.g. `electric_heating`, `school`).
    pub fn variant(&self) -> String {
        match self {
            BaseLoad::Home(h) => {
                let mut tags = Vec::new();
                if h.heating_kw_per_c.is_some() {
                    tags.push("electric_heating");
                }
                if h.away.is_some() {
                    tags.push("away");
                }
                tags.join("+")
            }
            BaseLoad::Office(b) if b.open_h.1 <= 16.0 => "school".into(),
            _ => String::new(),
        }
    }

    /// A rough peak draw, kW, for sizing the contracted capacity in a registry.
    pub fn peak_kw(&self) -> f64 {
        match self {
            BaseLoad::Home(h) => {
                h.base_kw
                    + h.evening_kw
                    + 3.0
                    + h.ev.map_or(0.0, |e| e.0)
                    + h.storage_kw.unwrap_or(0.0)
                    + h.heat_pump.map_or(0.0, |p| p.0 * 22.0)
            }
            BaseLoad::EmptyHome { .. } => 1.0,
            BaseLoad::ServerRoom(b) => b.scale_kw * 1.1,
            BaseLoad::Shop24h(b) => b.scale_kw * 1.4,
            BaseLoad::ColdStore(b) | BaseLoad::Bakery(b) | BaseLoad::Office(b) => b.scale_kw * 1.2,
        }
    }
}

/// The everyday part of any lived-in home.
fn draw_home(rng: &mut impl Rng) -> Home {
    Home {
        base_kw: rng.gen_range(0.08..0.3),
        morning_kw: rng.gen_range(0.2..0.7),
        evening_kw: rng.gen_range(0.8..2.3),
        wake_h: rng.gen_range(6.0..8.0),
        evening_h: rng.gen_range(18.0..20.0),
        lighting_kw: rng.gen_range(0.05..0.2),
        noise: rng.gen_range(0.2..0.4),
        heating_kw_per_c: None,
        heat_pump: None,
        ev: None,
        storage_kw: None,
        away: None,
    }
}

// Tags that keep each noise component's draws independent of the others.
const T_DAY: u64 = 100;
const T_ACTIVE: u64 = 101;
const T_KETTLE: u64 = 102;
const T_OVEN: u64 = 103;
const T_EV: u64 = 104;
const T_BASE: u64 = 105;
const T_HEAT: u64 = 106;
const T_BUSY: u64 = 107;
const T_PHASE: u64 = 108;

/// The average legitimate draw of a premises over `[t_unix, t_unix + interval_s)`, kW.
///
/// `seed` is the meter's own noise seed; `weather` gives the outdoor temperature and
/// carries the local time offset used for daily rhythms.
pub fn base_kw(load: &BaseLoad, seed: u64, t_unix: i64, interval_s: i64, weather: &Weather) -> f64 {
    let interval_s = interval_s.max(1);
    let mid = t_unix + interval_s / 2;
    let temp_c = weather.temp_c(mid);
    let at = Instant::new(mid, weather.tz_offset_s);
    let step = t_unix.div_euclid(interval_s);
    let kw = match load {
        BaseLoad::Home(h) => home_kw(h, seed, t_unix, interval_s, &at, temp_c, weather),
        BaseLoad::EmptyHome { mean_kw } => {
            // A fridge compressor (about 2.5× the mean) cycling on a 40-minute period.
            let on = square_on_s(
                t_unix as f64,
                (t_unix + interval_s) as f64,
                2400.0,
                0.35,
                (seed % 2400) as f64,
            );
            0.35 * mean_kw + 0.65 * mean_kw / 0.35 * on / interval_s as f64
        }
        BaseLoad::ColdStore(b) => {
            // Compressors run harder when it is warm outside and when doors open by day.
            let busy = if at.open(b) { 0.12 } else { 0.0 };
            let duty = (0.45 + 0.02 * (temp_c - 10.0) + busy).clamp(0.25, 0.95);
            let per = b.scale_kw * (1.0 - b.base_share) / b.n_compressors as f64;
            let mut kw = b.scale_kw * b.base_share;
            for c in 0..b.n_compressors as u64 {
                let period = 1200.0 + 1800.0 * uniform(seed, T_PHASE, c as i64);
                let phase = period * uniform(seed, T_PHASE + 1, c as i64);
                kw +=
                    per * square_on_s(
                        t_unix as f64,
                        (t_unix + interval_s) as f64,
                        period,
                        duty,
                        phase,
                    ) / interval_s as f64;
            }
            kw
        }
        BaseLoad::ServerRoom(b) => {
            // IT load is flat; cooling adds a little on warm afternoons.
            b.scale_kw
                * (1.0
                    + 0.008 * (temp_c - 10.0)
                    + 0.01 * smooth_gauss(seed, T_BASE, mid as f64, 6.0 * 3600.0))
        }
        BaseLoad::Bakery(b) => {
            let working = at.weekday != 6 && at.within(b.open_h.0, b.open_h.1);
            let shop = at.weekday != 6 && at.within(b.open_h.1, 18.0);
            let ovens = if working {
                0.7 + 0.3 * uniform(seed, T_BUSY, step)
            } else {
                0.0
            };
            b.scale_kw
                * (b.base_share + ovens * (1.0 - b.base_share) + if shop { 0.15 } else { 0.0 })
        }
        BaseLoad::Shop24h(b) => {
            let on = square_on_s(
                t_unix as f64,
                (t_unix + interval_s) as f64,
                1800.0,
                0.6,
                (seed % 1800) as f64,
            );
            let refrigeration = b.base_share * (0.7 + 0.5 * on / interval_s as f64);
            let trading = if at.within(b.open_h.0, b.open_h.1) {
                0.35
            } else {
                0.1
            };
            b.scale_kw * (refrigeration + trading)
        }
        BaseLoad::Office(b) => {
            let open = at.open(b);
            // Ramp up and down over an hour at each end of the day, not a hard step.
            let ramp = if open {
                ((at.hour - b.open_h.0).min(b.open_h.1 - at.hour) + 0.5).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let heating = if open {
                0.15 * ((12.0 - temp_c) / 10.0).clamp(0.0, 1.0)
            } else {
                0.0
            };
            b.scale_kw * (b.base_share + (1.0 - b.base_share - 0.15) * ramp + heating)
        }
    };
    let sigma = match load {
        BaseLoad::Home(_) | BaseLoad::EmptyHome { .. } => 0.03,
        BaseLoad::ColdStore(b)
        | BaseLoad::ServerRoom(b)
        | BaseLoad::Bakery(b)
        | BaseLoad::Shop24h(b)
        | BaseLoad::Office(b) => b.noise,
    };
    (kw * (sigma * gauss(seed, T_BASE, step)).exp()).max(0.0)
}

/// Local calendar facts about an instant.
struct Instant {
    /// Local unix day.
    day: i64,
    /// Local hour of day with fraction.
    hour: f64,
    /// 0 = Monday … 6 = Sunday.
    weekday: i64,
}

impl Instant {
    fn new(t_unix: i64, tz_offset_s: i32) -> Self {
        let local = t_unix + tz_offset_s as i64;
        let day = local.div_euclid(DAY_S);
        // 1970-01-01 was a Thursday.
        Instant {
            day,
            hour: local.rem_euclid(DAY_S) as f64 / 3600.0,
            weekday: (day + 3).rem_euclid(7),
        }
    }

    fn weekend(&self) -> bool {
        self.weekday >= 5
    }

    fn within(&self, from_h: f64, to_h: f64) -> bool {
        self.hour >= from_h && self.hour < to_h
    }

    fn open(&self, b: &Business) -> bool {
        (b.weekends || !self.weekend()) && self.within(b.open_h.0, b.open_h.1)
    }
}

/// A bell-shaped bump centred on `centre_h` with spread `width_h`.
fn bump(hour: f64, centre_h: f64, width_h: f64) -> f64 {
    (-0.5 * ((hour - centre_h) / width_h).powi(2)).exp()
}

/// Local sunset hour on a unix day (London-like latitude: ~16:00 in December, ~21:00 in June).
fn sunset_h(day: i64) -> f64 {
    let doy = (day as f64).rem_euclid(365.2425);
    18.6 - 2.6 * (std::f64::consts::TAU * (doy + 10.0) / 365.2425).cos()
}

/// A lived-in home's draw over one interval.
fn home_kw(
    h: &Home,
    seed: u64,
    t: i64,
    interval_s: i64,
    at: &Instant,
    temp_c: f64,
    weather: &Weather,
) -> f64 {
    let (a, b) = (t, t + interval_s);
    let step = t.div_euclid(interval_s);
    // The fridge and standby run whether anyone is in or not.
    let base = h.base_kw * (1.0 + 0.1 * smooth_gauss(seed, T_BASE, t as f64, 3.0 * 3600.0));
    if let Some((first, n)) = h.away {
        if at.day >= first && at.day < first + n {
            return base * 0.6;
        }
    }
    // The day's rhythm shifts a little from day to day, and later at weekends.
    let jitter = 0.5 * gauss(seed, T_DAY, at.day);
    let wake = h.wake_h + jitter + if at.weekend() { 1.5 } else { 0.0 };
    let morning =
        h.morning_kw * bump(at.hour, wake + 0.8, 0.8) * if at.weekend() { 0.8 } else { 1.0 };
    let daytime = h.evening_kw * if at.weekend() { 0.3 } else { 0.1 } * (bump(at.hour, 13.0, 2.5));
    let evening = h.evening_kw
        * bump(at.hour, h.evening_h + 0.5 * jitter, 1.5)
        * if at.weekend() { 0.85 } else { 1.0 };
    let sunset = sunset_h(at.day);
    let dark_and_awake = (at.hour >= sunset && at.hour < 23.5)
        || (at.hour >= wake && at.hour < 8.5 && sunset < 17.5);
    let lighting = if dark_and_awake { h.lighting_kw } else { 0.0 };
    // Winter lifts everything a little (more cooking, kettles, tumble drying).
    let season = 1.0 + 0.2 * ((12.0 - temp_c) / 10.0).clamp(-0.5, 1.0);
    let active = (morning + daytime + evening + lighting)
        * season
        * (h.noise * gauss(seed, T_ACTIVE, step) - h.noise * h.noise / 2.0).exp();

    // Kettles: a 2.8 kW burst of three minutes, likelier when people are up and about.
    let p_kettle =
        (0.35 * (bump(at.hour, wake + 0.5, 1.0) + bump(at.hour, 17.0, 3.0)) * interval_s as f64
            / 1800.0)
            .min(0.9);
    let kettle = if uniform(seed, T_KETTLE, step) < p_kettle {
        2.8 * 180.0_f64.min(interval_s as f64) / interval_s as f64
    } else {
        0.0
    };
    // The oven on about one evening in three: 2 kW for 45–90 minutes.
    let day = at.day;
    let oven = if uniform(seed, T_OVEN, day) < 0.35 {
        let start = day * DAY_S - weather.tz_offset_s as i64
            + (17.0 * 3600.0 + 7200.0 * uniform(seed, T_OVEN + 1, day)) as i64;
        let dur = (2700.0 + 2700.0 * uniform(seed, T_OVEN + 2, day)) as i64;
        2.0 * overlap_s(a, b, start, start + dur) as f64 / interval_s as f64
    } else {
        0.0
    };

    // Resistive heating in the occupied hours of cold days.
    let occupied = at.within(wake, wake + 2.0)
        || at.within(16.5, 22.5)
        || (at.weekend() && at.within(wake, 22.5));
    let heating = match h.heating_kw_per_c {
        Some(k) if occupied => {
            k * (16.0 - temp_c).max(0.0) * (1.0 + 0.15 * gauss(seed, T_HEAT, step)).max(0.0)
        }
        _ => 0.0,
    };
    // A heat pump runs most of the day in winter, cycling when demand is below its rating.
    let heat_pump = match h.heat_pump {
        Some((k, cycle_min)) => {
            let demand = k * (18.0 - temp_c).max(0.0) * if at.within(0.0, 5.0) { 0.7 } else { 1.0 };
            let rated = k * 20.0;
            let duty = demand / rated;
            let period = cycle_min * 60.0;
            let on = square_on_s(a as f64, b as f64, period, duty, (seed % 997) as f64 * 7.0);
            // Hot water once a day, an hour at full power in the early morning.
            let dhw_start = day * DAY_S - weather.tz_offset_s as i64 + 4 * 3600;
            rated * on / interval_s as f64
                + 0.5 * rated * overlap_s(a, b, dhw_start, dhw_start + 3600) as f64
                    / interval_s as f64
        }
        None => 0.0,
    };
    // EV charging: a full-power block of 2–5 hours from late evening on some nights.
    let ev = match h.ev {
        Some((kw, p_night)) => {
            let mut sum_s = 0;
            for d in [day - 1, day] {
                if uniform(seed, T_EV, d) < p_night {
                    let start = d * DAY_S - weather.tz_offset_s as i64
                        + (22.0 * 3600.0 + 3.0 * 3600.0 * uniform(seed, T_EV + 1, d)) as i64;
                    let dur = (2.0 * 3600.0 + 3.0 * 3600.0 * uniform(seed, T_EV + 2, d)) as i64;
                    sum_s += overlap_s(a, b, start, start + dur);
                }
            }
            kw * sum_s as f64 / interval_s as f64
        }
        None => 0.0,
    };
    // Storage heaters charge in the Economy-7 block (00:30–07:30 local) when the day ahead
    // is forecast cold, for longer the colder it is; the block ends at 07:30.
    let storage = match h.storage_kw {
        Some(kw) => {
            let forecast = weather.daily_mean_c(day);
            let hours = ((15.0 - forecast) / 10.0 * 7.0).clamp(0.0, 7.0);
            let end = day * DAY_S - weather.tz_offset_s as i64 + 7 * 3600 + 1800;
            let start = end - (hours * 3600.0) as i64;
            kw * overlap_s(a, b, start, end) as f64 / interval_s as f64
        }
        None => 0.0,
    };
    base + active + kettle + oven + heating + heat_pump + ev + storage
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_xoshiro::Xoshiro256PlusPlus;

    const JAN_2024: i64 = 19_723;

    /// The mean draw, kW, of a freshly drawn premises of `kind` over `days` from January 2024,
    /// with its variant tags.
    fn mean_kw(kind: Kind, seed: u64, days: i64) -> (f64, String) {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let load = BaseLoad::draw(&mut rng, kind, JAN_2024, days);
        let w = Weather::new(seed, JAN_2024, days as usize, 0);
        let n = days * 48;
        let mean = (0..n)
            .map(|i| base_kw(&load, seed, (JAN_2024 * DAY_S) + i * 1800, 1800, &w))
            .sum::<f64>()
            / n as f64;
        (mean, load.variant())
    }

    #[test]
    fn households_average_under_a_kilowatt_in_january_and_heated_ones_more() {
        let means: Vec<(f64, String)> = (0..40).map(|s| mean_kw(Kind::Household, s, 28)).collect();
        let unheated: Vec<f64> = means
            .iter()
            .filter(|m| !m.1.contains("heating"))
            .map(|m| m.0)
            .collect();
        let avg = unheated.iter().sum::<f64>() / unheated.len() as f64;
        assert!(
            unheated.iter().all(|&m| (0.2..1.3).contains(&m)),
            "{means:?}"
        );
        assert!((0.4..0.9).contains(&avg), "fleet average {avg}");
        assert!(
            means
                .iter()
                .filter(|m| m.1.contains("heating"))
                .all(|m| m.0 > 0.7 && m.0 < 2.5),
            "{means:?}"
        );
    }

    #[test]
    fn an_empty_home_draws_about_a_fridge() {
        let (m, _) = mean_kw(Kind::EmptyHome, 3, 7);
        assert!((0.04..0.11).contains(&m), "{m}");
    }

    #[test]
    fn heat_pumps_use_more_in_winter_than_in_summer() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(4);
        let load = BaseLoad::draw(&mut rng, Kind::HeatPump, JAN_2024, 366);
        let w = Weather::new(4, JAN_2024, 366, 0);
        let month = |d0: i64| {
            (0..30 * 48)
                .map(|i| base_kw(&load, 4, (JAN_2024 + d0) * DAY_S + i * 1800, 1800, &w))
                .sum::<f64>()
        };
        assert!(month(0) > 2.0 * month(190));
    }

    #[test]
    fn an_office_is_busier_on_weekday_afternoons_than_at_night() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let load = BaseLoad::draw(&mut rng, Kind::Office, JAN_2024, 14);
        let w = Weather::new(5, JAN_2024, 14, 0);
        // 2024-01-03 is a Wednesday.
        let at = |h: i64| base_kw(&load, 5, (JAN_2024 + 2) * DAY_S + h * 3600, 3600, &w);
        assert!(at(14) > 2.0 * at(2));
    }

    #[test]
    fn a_server_room_is_flat() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(6);
        let load = BaseLoad::draw(&mut rng, Kind::ServerRoom, JAN_2024, 14);
        let w = Weather::new(6, JAN_2024, 14, 0);
        let xs: Vec<f64> = (0..14 * 48)
            .map(|i| base_kw(&load, 6, JAN_2024 * DAY_S + i * 1800, 1800, &w))
            .collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let max = xs.iter().cloned().fold(0.0, f64::max);
        assert!(mean / max > 0.9, "load factor {}", mean / max);
    }

    #[test]
    fn ev_charging_comes_in_night_blocks_of_several_kilowatts() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let load = BaseLoad::draw(&mut rng, Kind::Ev, JAN_2024, 14);
        let w = Weather::new(7, JAN_2024, 14, 0);
        let night_max = (0..14 * 48)
            .filter(|i| (i % 48) < 10)
            .map(|i| base_kw(&load, 7, JAN_2024 * DAY_S + i * 1800, 1800, &w))
            .fold(0.0, f64::max);
        assert!(night_max > 3.4, "{night_max}");
    }

    #[test]
    fn every_kind_reads_back_from_its_label() {
        for kind in [
            Kind::Household,
            Kind::Shop24h,
            Kind::MinerHomeS9,
            Kind::RealBusiness,
        ] {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
    }
}

//! The alert rule: when a change in a meter's verdict is worth telling someone, and what
//! the message says. The daemon decides its alerts here and `flatline eval` replays its
//! "alerts a daemon would raise" through the same [`AlertBook`], so the two cannot measure
//! different rules.
//!
//! A meter is alerted once when it becomes suspect, again when the suspicion changes
//! *materially*, and once when it clears — never on every reading. "Materially" means the
//! estimated rig count moved by more than [`MATERIAL_RIGS_CHANGE`] (relative, with a floor
//! of one rig) or the score moved to another [`score_band`]. The daemon makes the book's
//! memory survive restarts by folding the alerts it wrote to `alerts.jsonl` back in with
//! [`AlertBook::record`] at start-up: an alert in the file is never sent again.
//!
//! With a confirmation span (`detector.confirm_hours`), a meter becomes suspect only once
//! its verdicts have said "flagged" for that many hours of event time: a step that the
//! next day's readings explain away (a cold snap, a return from holiday) is never alerted.
//! The wait is kept in memory only: after a restart it starts again at the next flagged
//! verdict.
//!
//! **Gaps in data.** A verdict with too little data (`InsufficientData`) says nothing
//! either way, so it neither raises, changes nor clears an alert, and it does not break a
//! confirmation wait. Nor does it count towards one: only the hours between two
//! consecutive flagged verdicts with no gap verdict between them are counted, because
//! across a gap nobody saw the flag hold. (Counting the gap would let a meter that was
//! flagged once, then silent for the confirmation span, be alerted on its next flag;
//! resetting on it would let any outage restart the wait of a meter that has been flagged
//! for days.)
//!
//! Pure: no IO. Reading `alerts.jsonl` back is the daemon's ([`crate::daemon::sink`]).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::core::verdict::{hour_to_datetime, Assessment, Status};

/// Relative change in estimated rigs that counts as material (25%).
pub const MATERIAL_RIGS_CHANGE: f64 = 0.25;

/// What kind of alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The meter became suspect: a new episode.
    Suspect,
    /// Still suspect, but the estimate changed materially.
    Changed,
    /// No longer suspect: the episode ended.
    Cleared,
}

impl AlertKind {
    /// The kind as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Suspect => "suspect",
            AlertKind::Changed => "changed",
            AlertKind::Cleared => "cleared",
        }
    }
}

/// One alert, as published on `flatline/alerts/<meter_id>` and appended to `alerts.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// What happened.
    pub kind: AlertKind,
    /// The meter.
    pub meter_id: String,
    /// Episode number of this meter (1 for its first suspicion), stable across restarts.
    pub episode: u64,
    /// Score in [0, 1].
    pub score: f64,
    /// Verdict status.
    pub status: Status,
    /// Mean kW over the episode.
    pub level_kw: f64,
    /// Flat kW beyond the meter's usual load.
    pub excess_kw: f64,
    /// Estimated S19-class rigs.
    pub est_rigs: f64,
    /// Unexplained energy per day, kWh.
    pub excess_kwh_per_day: f64,
    /// Start of the episode (RFC 3339).
    pub since: String,
    /// The hour (event time) the verdict is as of (RFC 3339).
    pub as_of: String,
    /// Plain-language reasons, strongest first.
    pub reasons: Vec<String>,
    /// Path of the PNG evidence report, if one was drawn.
    pub report_path: Option<String>,
}

/// What the book remembers about a meter's last alert.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Last {
    kind: AlertKind,
    episode: u64,
    est_rigs: f64,
    score: f64,
}

/// How far the score must move from the last alerted score for a band change to count.
pub const MATERIAL_SCORE_CHANGE: f64 = 0.05;

/// Score bands: a move from one band to another (by at least [`MATERIAL_SCORE_CHANGE`]) is
/// a material change.
pub fn score_band(score: f64) -> u8 {
    match score {
        s if s >= 0.9 => 3,
        s if s >= 0.75 => 2,
        s if s >= 0.5 => 1,
        _ => 0,
    }
}

/// The last alert of every meter that ever had one, and the rule for the next.
#[derive(Debug, Clone, Default)]
pub struct AlertBook {
    last: HashMap<String, Last>,
    /// Hours a flag must hold before a new episode is alerted (0: at once).
    confirm_h: i64,
    /// Meters flagged but not yet confirmed, and how long their flag has held.
    pending: HashMap<String, Pending>,
}

/// A flag waiting out the confirmation span.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Pending {
    /// Hours the flag has held so far (gaps excluded).
    held_h: i64,
    /// Window end of the last flagged verdict.
    last_flag_hour: i64,
    /// A gap verdict came after the last flagged one: the hours up to the next flag do not
    /// count.
    after_gap: bool,
}

/// One verdict as the alert rule sees it: the daemon's from an [`Assessment`], `eval`'s
/// from whichever method it measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Signal {
    /// The hour (window end) the verdict is as of.
    pub hour: i64,
    /// Flagged as suspect.
    pub flagged: bool,
    /// Too little data to say anything (a gap).
    pub insufficient: bool,
    /// Score in [0, 1].
    pub score: f64,
    /// Estimated S19-class rigs.
    pub est_rigs: f64,
}

impl Signal {
    /// The signal of a verdict.
    pub fn of(a: &Assessment) -> Signal {
        Signal {
            hour: a.window_end_hour,
            flagged: a.flagged,
            insufficient: a.status == Status::InsufficientData,
            score: a.score,
            est_rigs: a.est_rigs,
        }
    }
}

/// What the rule decided for one signal: the kind of alert and its episode number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// What happened.
    pub kind: AlertKind,
    /// Episode number of the meter (1 for its first suspicion).
    pub episode: u64,
}

impl AlertBook {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same book, alerting a new episode only once its flag has held `hours` hours.
    pub fn with_confirmation(mut self, hours: i64) -> Self {
        self.confirm_h = hours.max(0);
        self
    }

    /// Meters flagged and waiting out the confirmation span.
    pub fn n_pending(&self) -> usize {
        self.pending.len()
    }

    /// Number of meters currently in a suspect episode.
    pub fn n_open(&self) -> usize {
        self.last
            .values()
            .filter(|l| l.kind != AlertKind::Cleared)
            .count()
    }

    /// Remembers an alert that was sent (or found in the file).
    pub fn record(&mut self, alert: &Alert) {
        let decision = Decision {
            kind: alert.kind,
            episode: alert.episode,
        };
        self.record_decision(&alert.meter_id, decision, alert.score, alert.est_rigs);
    }

    fn record_decision(&mut self, meter: &str, d: Decision, score: f64, est_rigs: f64) {
        self.pending.remove(meter);
        let last = Last {
            kind: d.kind,
            episode: d.episode,
            est_rigs,
            score,
        };
        self.last.insert(meter.to_string(), last);
    }

    /// Decides on a signal and records the decision at once: a replay of a meter's
    /// verdicts (as `eval` does) with no sink in between that could fail.
    pub fn step(&mut self, meter: &str, s: Signal) -> Option<Decision> {
        let d = self.next(meter, s)?;
        self.record_decision(meter, d, s.score, s.est_rigs);
        Some(d)
    }

    /// The alert a new assessment calls for, if any. Does not record it: the caller records
    /// once the alert is on its way, so the decision and the memory cannot diverge. (It
    /// does note the start of an unconfirmed flag, see [`AlertBook::with_confirmation`].)
    pub fn decide(&mut self, a: &Assessment) -> Option<Alert> {
        let Decision { kind, episode } = self.next(a.meter_id.as_str(), Signal::of(a))?;
        Some(Alert {
            kind,
            meter_id: a.meter_id.to_string(),
            episode,
            score: a.score,
            status: a.status,
            level_kw: a.level_kw,
            excess_kw: a.excess_kw,
            est_rigs: a.est_rigs,
            excess_kwh_per_day: a.excess_kwh_per_day,
            since: hour_to_datetime(a.since_hour).to_rfc3339(),
            as_of: hour_to_datetime(a.window_end_hour).to_rfc3339(),
            reasons: a.reasons.clone(),
            report_path: None,
        })
    }

    /// The rule itself: the decision a signal calls for, given the book's memory. Notes the
    /// confirmation wait; records nothing else.
    fn next(&mut self, meter: &str, s: Signal) -> Option<Decision> {
        let last = self.last.get(meter).copied();
        let open = last.filter(|l| l.kind != AlertKind::Cleared);
        if s.insufficient {
            // Too little data says nothing either way (see the module docs, Gaps in data).
            if let Some(p) = self.pending.get_mut(meter) {
                p.after_gap = true;
            }
            return None;
        }
        let (kind, episode) = match (open, s.flagged) {
            (None, true) => {
                if self.confirm_h > 0 && !self.held_long_enough(meter, s.hour) {
                    return None;
                }
                (AlertKind::Suspect, last.map_or(1, |l| l.episode + 1))
            }
            (None, false) => {
                self.pending.remove(meter);
                return None;
            }
            (Some(l), false) => (AlertKind::Cleared, l.episode),
            (Some(l), true) => {
                let floor = l.est_rigs.abs().max(1.0);
                let rigs_moved = (s.est_rigs - l.est_rigs).abs() > MATERIAL_RIGS_CHANGE * floor;
                // A band change counts only with a real move of the score, so a score
                // wobbling around a band edge (0.91, 0.89, 0.90) does not re-alert.
                let band_moved = score_band(s.score) != score_band(l.score)
                    && (s.score - l.score).abs() >= MATERIAL_SCORE_CHANGE;
                if !rigs_moved && !band_moved {
                    return None;
                }
                (AlertKind::Changed, l.episode)
            }
        };
        Some(Decision { kind, episode })
    }

    /// Notes a flagged verdict at `hour` of a meter with no open episode, and says whether
    /// its flag has now held for the confirmation span.
    fn held_long_enough(&mut self, meter: &str, hour: i64) -> bool {
        let p = self.pending.entry(meter.to_string()).or_insert(Pending {
            held_h: 0,
            last_flag_hour: hour,
            after_gap: false,
        });
        if !p.after_gap {
            p.held_h += (hour - p.last_flag_hour).max(0);
        }
        p.last_flag_hour = p.last_flag_hour.max(hour);
        p.after_gap = false;
        p.held_h >= self.confirm_h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::MeterId;

    fn assessment(flagged: bool, status: Status, score: f64, est_rigs: f64) -> Assessment {
        Assessment {
            meter_id: MeterId::from("m"),
            score,
            flagged,
            status,
            level_kw: 1.0,
            excess_kw: est_rigs * 3.25,
            est_rigs,
            excess_kwh_per_day: 0.0,
            since_hour: 0,
            onset_found: false,
            window_start_hour: 0,
            window_end_hour: 10,
            peer_group: String::new(),
            peer_level_kw: 0.0,
            cluster: 0,
            reasons: vec![],
            notes: vec![],
            features: vec![],
        }
    }

    #[test]
    fn with_confirmation_a_flag_is_alerted_only_once_it_has_held() {
        let at = |flagged: bool, hour: i64| {
            let mut a = assessment(
                flagged,
                if flagged {
                    Status::Suspect
                } else {
                    Status::Clear
                },
                0.8,
                5.0,
            );
            a.window_end_hour = hour;
            a
        };
        let mut book = AlertBook::new().with_confirmation(12);
        let run = |book: &mut AlertBook, flagged, hour| {
            let alert = book.decide(&at(flagged, hour));
            if let Some(a) = &alert {
                book.record(a);
            }
            alert.map(|a| a.kind)
        };
        // Flagged at 10 and 16, then cleared by the data at 22: never alerted.
        assert_eq!(run(&mut book, true, 10), None);
        assert_eq!(book.n_pending(), 1);
        assert_eq!(run(&mut book, true, 16), None);
        assert_eq!(run(&mut book, false, 22), None);
        assert_eq!(book.n_pending(), 0);
        // A new run from 28: a gap in the data neither confirms nor breaks it. The hours
        // from 28 across the gap to 39 do not count (nobody saw the flag hold), the ones
        // from 39 on do: it is alerted at 51, twelve counted hours later, and not again.
        assert_eq!(run(&mut book, true, 28), None);
        let gap = {
            let mut a = at(false, 34);
            a.status = Status::InsufficientData;
            a
        };
        assert_eq!(book.decide(&gap).map(|a| a.kind), None);
        assert_eq!(book.n_pending(), 1);
        assert_eq!(run(&mut book, true, 39), None);
        assert_eq!(run(&mut book, true, 40), None);
        assert_eq!(run(&mut book, true, 50), None);
        assert_eq!(run(&mut book, true, 51), Some(AlertKind::Suspect));
        assert_eq!(book.n_pending(), 0);
        assert_eq!(run(&mut book, true, 57), None);
        // Clearing is not delayed.
        assert_eq!(run(&mut book, false, 58), Some(AlertKind::Cleared));
        // Without confirmation the first flag is alerted at once (the default).
        let mut now = AlertBook::new();
        assert_eq!(run(&mut now, true, 10), Some(AlertKind::Suspect));
    }

    /// Feeds a sequence of (flagged, score, rigs) verdicts and returns the alert kinds sent.
    fn check(verdicts: &[(bool, f64, f64)], expected: &[Option<AlertKind>]) {
        let mut book = AlertBook::new();
        let got: Vec<Option<AlertKind>> = verdicts
            .iter()
            .map(|&(flagged, score, rigs)| {
                let status = if flagged {
                    Status::Suspect
                } else {
                    Status::Clear
                };
                let alert = book.decide(&assessment(flagged, status, score, rigs));
                if let Some(a) = &alert {
                    book.record(a);
                }
                alert.map(|a| a.kind)
            })
            .collect();
        assert_eq!(got, expected);
    }

    use AlertKind::*;

    #[test]
    fn a_meter_that_stays_suspect_is_alerted_once() {
        check(
            &[(true, 0.8, 10.0), (true, 0.8, 10.5), (true, 0.85, 9.0)],
            &[Some(Suspect), None, None],
        );
    }

    #[test]
    fn a_clear_meter_is_never_alerted() {
        check(&[(false, 0.1, 0.0), (false, 0.2, 0.0)], &[None, None]);
    }

    #[test]
    fn a_material_change_in_rigs_is_alerted() {
        check(
            &[(true, 0.8, 10.0), (true, 0.8, 13.0), (true, 0.8, 13.0)],
            &[Some(Suspect), Some(Changed), None],
        );
    }

    #[test]
    fn a_score_wobbling_around_a_band_edge_is_not_realerted() {
        check(
            &[
                (true, 0.88, 2.0),
                (true, 0.91, 2.0),
                (true, 0.89, 2.0),
                (true, 0.92, 2.0),
            ],
            &[Some(Suspect), None, None, None],
        );
    }

    #[test]
    fn a_change_of_score_band_is_alerted() {
        check(
            &[(true, 0.6, 2.0), (true, 0.95, 2.0)],
            &[Some(Suspect), Some(Changed)],
        );
    }

    #[test]
    fn clearing_ends_the_episode_and_the_next_suspicion_is_a_new_one() {
        let mut book = AlertBook::new();
        for (flagged, status) in [
            (true, Status::Suspect),
            (false, Status::Clear),
            (true, Status::Suspect),
        ] {
            if let Some(a) = book.decide(&assessment(flagged, status, 0.8, 5.0)) {
                book.record(&a);
            }
        }
        assert_eq!(book.last["m"].episode, 2);
    }

    #[test]
    fn missing_data_neither_raises_nor_clears() {
        let mut book = AlertBook::new();
        let a = book
            .decide(&assessment(true, Status::Suspect, 0.8, 5.0))
            .unwrap();
        book.record(&a);
        assert_eq!(
            book.decide(&assessment(false, Status::InsufficientData, 0.0, 0.0)),
            None
        );
    }
}

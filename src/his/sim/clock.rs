//! The simulator's clock: the real clock shifted by an offset, so a test can
//! start on a chosen day and move time forward (`POST /sim/clock`).

use crate::domain::{cst, to_cst, Instant};
use chrono::{NaiveDate, TimeZone, Utc};
use std::sync::atomic::{AtomicI64, Ordering};

/// The furthest `/sim/clock` may move the clock in one call (ten years).
pub const MAX_ADVANCE_SECS: i64 = 10 * 366 * 86_400;

#[derive(Debug)]
pub struct SimClock {
    offset_secs: AtomicI64,
}

impl SimClock {
    /// `today = Some(d)`: the clock reads day `d`; `start = Some(t)`: at time
    /// of day `t` now (else at the real time of day).
    pub fn new(today: Option<NaiveDate>, start: Option<chrono::NaiveTime>) -> SimClock {
        let real = to_cst(Utc::now());
        let mut offset = today.map_or(0, |d| (d - real.date_naive()).num_days() * 86_400);
        if let Some(t) = start {
            offset += (t - real.time()).num_seconds();
        }
        SimClock {
            offset_secs: AtomicI64::new(offset),
        }
    }

    /// Now, in China Standard Time, whole seconds.
    pub fn now(&self) -> Instant {
        let offset = chrono::Duration::seconds(self.offset_secs.load(Ordering::SeqCst));
        to_cst(Utc::now() + offset)
    }

    pub fn advance(&self, secs: i64) {
        self.offset_secs.fetch_add(secs, Ordering::SeqCst);
    }
}

/// Unix seconds of an instant.
pub fn unix(t: Instant) -> i64 {
    t.timestamp()
}

/// The CST instant of unix seconds (out-of-range values clamp to the epoch).
pub fn from_unix(secs: i64) -> Instant {
    to_cst(chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default())
}

/// The CST instant of a date and wall-clock time.
pub fn at(date: NaiveDate, hour: u32, minute: u32) -> Instant {
    let naive = date
        .and_hms_opt(hour, minute, 0)
        .unwrap_or_else(|| date.and_hms_opt(0, 0, 0).expect("midnight exists"));
    cst()
        .from_local_datetime(&naive)
        .single()
        .expect("a fixed offset has no gaps")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_on_the_given_day_and_advances() {
        let d = NaiveDate::from_ymd_opt(2030, 2, 1).unwrap();
        let c = SimClock::new(Some(d), None);
        let t0 = c.now();
        assert_eq!(t0.date_naive(), d);
        assert_eq!(t0.offset().local_minus_utc(), 8 * 3600);
        assert_eq!(t0.timestamp_subsec_nanos(), 0);
        c.advance(86_400);
        let t1 = c.now();
        assert!((t1 - t0).num_seconds() >= 86_400);
        assert_eq!(t1.date_naive(), d.succ_opt().unwrap());
        assert_eq!(from_unix(unix(t1)), t1);
        assert_eq!(at(d, 8, 30).to_rfc3339(), "2030-02-01T08:30:00+08:00");
    }
}

//! China Standard Time (UTC+8, no daylight saving) and clock times.

use chrono::{DateTime, FixedOffset, NaiveTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// An instant as the protocol writes it: RFC 3339 with the `+08:00` offset.
pub type Instant = DateTime<FixedOffset>;

pub fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("valid offset")
}

/// Convert any instant to China Standard Time, dropping sub-second precision.
pub fn to_cst(t: DateTime<Utc>) -> Instant {
    let t = t.with_timezone(&cst());
    t - chrono::Duration::nanoseconds(i64::from(chrono::Timelike::nanosecond(&t)))
}

/// A wall-clock time of day, `HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClockTime(NaiveTime);

impl ClockTime {
    pub fn new(hour: u32, minute: u32) -> Option<ClockTime> {
        NaiveTime::from_hms_opt(hour, minute, 0).map(ClockTime)
    }
    pub fn time(self) -> NaiveTime {
        self.0
    }
}

impl From<NaiveTime> for ClockTime {
    fn from(t: NaiveTime) -> Self {
        ClockTime(t.with_second(0).unwrap_or(t))
    }
}

use chrono::Timelike;

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0.hour(), self.0.minute())
    }
}

impl FromStr for ClockTime {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 5 {
            return Err(format!("expected HH:MM, got {s:?}"));
        }
        NaiveTime::parse_from_str(s, "%H:%M")
            .map(ClockTime)
            .map_err(|_| format!("expected HH:MM, got {s:?}"))
    }
}

impl schemars::JsonSchema for ClockTime {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ClockTime".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$",
            "description": "Wall-clock time of day in China Standard Time, HH:MM.",
            "example": "08:30"
        })
    }
}

impl Serialize for ClockTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_time_is_hh_mm() {
        let t: ClockTime = "08:30".parse().unwrap();
        assert_eq!(t.to_string(), "08:30");
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"08:30\"");
        assert!("8:30".parse::<ClockTime>().is_err());
        assert!("24:00".parse::<ClockTime>().is_err());
        assert!(serde_json::from_str::<ClockTime>("\"08:30:00\"").is_err());
    }

    #[test]
    fn instants_are_written_in_cst() {
        let utc = DateTime::parse_from_rfc3339("2026-11-23T00:30:00.123Z")
            .unwrap()
            .with_timezone(&Utc);
        let t = to_cst(utc);
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2026-11-23T08:30:00+08:00\""
        );
    }
}

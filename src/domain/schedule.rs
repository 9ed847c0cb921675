//! Departments, doctors, schedules, timed slots and holds (号源, 排班, 锁号).

use super::{ClockTime, Instant, Money};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Where something is: building, floor, room, and a sentence for the slip.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    pub building: String,
    pub floor: i32,
    pub room: String,
    pub description_zh: String,
    pub description_en: String,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Department {
    pub department_id: String,
    pub name_zh: String,
    pub name_en: String,
    pub location: Location,
}

#[derive(
    schemars::JsonSchema,
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum DoctorTitle {
    /// 主任医师
    Chief,
    /// 副主任医师
    AssociateChief,
    /// 主治医师
    Attending,
    /// 住院医师 (普通门诊)
    Resident,
}

impl DoctorTitle {
    pub fn zh(self) -> &'static str {
        match self {
            DoctorTitle::Chief => "主任医师",
            DoctorTitle::AssociateChief => "副主任医师",
            DoctorTitle::Attending => "主治医师",
            DoctorTitle::Resident => "住院医师",
        }
    }
    pub fn en(self) -> &'static str {
        match self {
            DoctorTitle::Chief => "Chief Physician",
            DoctorTitle::AssociateChief => "Associate Chief Physician",
            DoctorTitle::Attending => "Attending Physician",
            DoctorTitle::Resident => "Resident Physician",
        }
    }
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Doctor {
    pub doctor_id: String,
    pub name: String,
    pub title: DoctorTitle,
    pub title_zh: String,
    pub specialty_zh: String,
    pub specialty_en: String,
}

#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Session {
    Morning,
    Afternoon,
}

/// One doctor's session on one day, with its fee and places.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub schedule_id: String,
    pub department_id: String,
    pub doctor: Doctor,
    pub date: NaiveDate,
    pub session: Session,
    pub start: ClockTime,
    pub end: ClockTime,
    pub fee_fen: Money,
    pub capacity: u32,
    /// Places open to everyone.
    pub remaining: u32,
    /// Places reserved for referrals from primary care (R2).
    pub referral_quota: u32,
    pub referral_remaining: u32,
    pub location: Location,
}

/// A timed window within a session (分时段, R2).
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slot {
    pub slot_id: String,
    pub schedule_id: String,
    pub date: NaiveDate,
    pub start: ClockTime,
    pub end: ClockTime,
    pub capacity: u32,
    pub remaining: u32,
    pub referral_remaining: u32,
}

impl Slot {
    pub fn is_full(&self, referral: bool) -> bool {
        self.remaining == 0 && (!referral || self.referral_remaining == 0)
    }
}

#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    Held,
    Released,
    Expired,
    Used,
}

/// A slot reserved briefly while the patient pays (锁号).
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hold {
    pub hold_id: String,
    pub slot_id: String,
    pub patient_id: String,
    pub status: HoldStatus,
    pub fee_fen: Money,
    pub expires_at: Instant,
}

impl Hold {
    /// Still usable at `now`.
    pub fn is_live(&self, now: Instant) -> bool {
        self.status == HoldStatus::Held && now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_dies_at_its_expiry() {
        let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap();
        let hold = Hold {
            hold_id: "H1".into(),
            slot_id: "S1".into(),
            patient_id: "P1".into(),
            status: HoldStatus::Held,
            fee_fen: Money::from_fen(1000),
            expires_at: t("2026-11-23T09:05:00+08:00"),
        };
        assert!(hold.is_live(t("2026-11-23T09:04:59+08:00")));
        assert!(!hold.is_live(t("2026-11-23T09:05:00+08:00")));
        assert!(!Hold {
            status: HoldStatus::Released,
            ..hold
        }
        .is_live(t("2026-11-23T09:00:00+08:00")));
    }

    #[test]
    fn referral_places_count_only_for_referrals() {
        let slot = Slot {
            slot_id: "S".into(),
            schedule_id: "C".into(),
            date: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            start: ClockTime::new(8, 0).unwrap(),
            end: ClockTime::new(8, 15).unwrap(),
            capacity: 4,
            remaining: 0,
            referral_remaining: 1,
        };
        assert!(slot.is_full(false));
        assert!(!slot.is_full(true));
    }
}

//! Appointments: same-day registrations (挂号) and bookings (预约).

use super::{ClockTime, Instant, Location, Money, PaymentRef};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentKind {
    /// 挂号: same-day.
    Registration,
    /// 预约: a future day.
    Booking,
}

#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    Booked,
    CheckedIn,
    Cancelled,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Appointment {
    pub appointment_id: String,
    pub patient_id: String,
    pub kind: AppointmentKind,
    pub status: AppointmentStatus,
    pub schedule_id: String,
    pub slot_id: String,
    pub department_id: String,
    pub department_name_zh: String,
    pub department_name_en: String,
    pub doctor_name: String,
    pub doctor_title_zh: String,
    pub date: NaiveDate,
    pub start: ClockTime,
    pub end: ClockTime,
    pub fee_fen: Money,
    pub fee_paid: bool,
    /// Given at registration or check-in.
    pub queue_number: Option<u32>,
    pub location: Location,
    pub payment: Option<PaymentRef>,
    /// What HIS owes back after cancelling a paid appointment.
    pub refund_due_fen: Money,
}

impl Appointment {
    /// What the patient still has to pay to check in.
    pub fn amount_owed(&self) -> Money {
        if self.fee_paid || self.status == AppointmentStatus::Cancelled {
            Money::ZERO
        } else {
            self.fee_fen
        }
    }

    /// Can be checked in on `today`.
    pub fn can_check_in(&self, today: NaiveDate) -> bool {
        self.status == AppointmentStatus::Booked && self.date == today
    }
}

/// Where a patient stands in the queue of today's doctor's session.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueState {
    /// Booked for today, not checked in yet: no number, not in the queue.
    NotCheckedIn,
    /// Checked in, not called yet.
    Waiting,
    /// Called: with the doctor now.
    Called,
    /// Seen: the consultation is over.
    Seen,
}

/// A patient's place in the queue of their appointment's session, today
/// (`GET /v1/appointments/{appointment_id}/queue`, R8, R13).
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueStatus {
    pub appointment_id: String,
    pub state: QueueState,
    /// The patient's number; null until checked in.
    pub queue_number: Option<u32>,
    /// The last number called in this room (being seen, or the last one
    /// seen); null while nobody has been called yet, e.g. before the session.
    pub now_serving: Option<u32>,
    /// Checked-in patients before this one still waiting to be called (not
    /// checked in: every checked-in patient still waiting).
    pub ahead: u32,
    /// Minutes until the patient is called (not checked in: if checked in
    /// now); 0 once called; null after being seen or when HIS cannot say.
    pub estimated_wait_min: Option<u32>,
    /// The consulting room.
    pub location: Location,
    pub doctor_name: String,
    pub department_name_zh: String,
    pub department_name_en: String,
    /// When HIS worked this out.
    pub as_of: Instant,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn appt(status: AppointmentStatus, fee_paid: bool) -> Appointment {
        Appointment {
            appointment_id: "A1".into(),
            patient_id: "P1".into(),
            kind: AppointmentKind::Booking,
            status,
            schedule_id: "C1".into(),
            slot_id: "S1".into(),
            department_id: "D1".into(),
            department_name_zh: "眼科".into(),
            department_name_en: "Ophthalmology".into(),
            doctor_name: "王明".into(),
            doctor_title_zh: "主治医师".into(),
            date: NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
            start: ClockTime::new(9, 0).unwrap(),
            end: ClockTime::new(9, 15).unwrap(),
            fee_fen: Money::from_fen(1500),
            fee_paid,
            queue_number: None,
            location: Location {
                building: "门诊楼".into(),
                floor: 3,
                room: "305".into(),
                description_zh: "门诊楼3楼305诊室".into(),
                description_en: "Outpatient building, floor 3, room 305".into(),
            },
            payment: None,
            refund_due_fen: Money::ZERO,
        }
    }

    #[test]
    fn owes_the_fee_only_while_unpaid_and_not_cancelled() {
        assert_eq!(
            appt(AppointmentStatus::Booked, false).amount_owed(),
            Money::from_fen(1500)
        );
        assert_eq!(
            appt(AppointmentStatus::Booked, true).amount_owed(),
            Money::ZERO
        );
        assert_eq!(
            appt(AppointmentStatus::Cancelled, false).amount_owed(),
            Money::ZERO
        );
    }

    #[test]
    fn checks_in_only_on_its_day_and_only_once() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        assert!(appt(AppointmentStatus::Booked, false).can_check_in(day));
        assert!(!appt(AppointmentStatus::Booked, false).can_check_in(day.pred_opt().unwrap()));
        assert!(!appt(AppointmentStatus::CheckedIn, true).can_check_in(day));
        assert!(!appt(AppointmentStatus::Cancelled, true).can_check_in(day));
    }

    #[test]
    fn serializes_as_the_protocol_writes_it() {
        let v = serde_json::to_value(appt(AppointmentStatus::CheckedIn, true)).unwrap();
        assert_eq!(v["status"], "checked_in");
        assert_eq!(v["kind"], "booking");
        assert_eq!(v["date"], "2026-11-24");
        assert_eq!(v["start"], "09:00");
        assert_eq!(v["fee_fen"], 1500);
        assert!(v["queue_number"].is_null());
    }

    #[test]
    fn a_queue_position_serializes_as_the_protocol_writes_it() {
        let a = appt(AppointmentStatus::CheckedIn, true);
        let q = QueueStatus {
            appointment_id: a.appointment_id,
            state: QueueState::NotCheckedIn,
            queue_number: None,
            now_serving: Some(3),
            ahead: 2,
            estimated_wait_min: Some(45),
            location: a.location,
            doctor_name: a.doctor_name,
            department_name_zh: a.department_name_zh,
            department_name_en: a.department_name_en,
            as_of: chrono::DateTime::parse_from_rfc3339("2026-11-24T08:30:00+08:00").unwrap(),
        };
        let v = serde_json::to_value(&q).unwrap();
        assert_eq!(v["state"], "not_checked_in");
        assert!(v["queue_number"].is_null());
        assert_eq!(v["now_serving"], 3);
        assert_eq!(v["as_of"], "2026-11-24T08:30:00+08:00");
        assert_eq!(serde_json::from_value::<QueueStatus>(v).unwrap(), q);
    }
}

//! Appointments: same-day registrations (挂号) and bookings (预约).

use super::{ClockTime, Location, Money, PaymentRef};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentKind {
    /// 挂号: same-day.
    Registration,
    /// 预约: a future day.
    Booking,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    Booked,
    CheckedIn,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

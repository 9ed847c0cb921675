//! The HIS gateway protocol's JSON bodies, shared by the HTTP client and the
//! simulator. `docs/his-gateway.openapi.yaml` describes exactly these shapes;
//! a change here is a protocol change and must be made there too.
//!
//! Conventions: amounts are integer fen (`*_fen`), dates `YYYY-MM-DD`, clock
//! times `HH:MM`, instants RFC 3339 with the `+08:00` offset. Enumerations are
//! lower snake case strings.

use crate::domain::*;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Header names of the protocol.
pub mod header {
    pub const HOSPITAL_ID: &str = "X-Hospital-Id";
    pub const KIOSK_ID: &str = "X-Kiosk-Id";
    pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
    pub const REQUEST_ID: &str = "X-Request-Id";
}

/// The one error envelope every non-2xx answer carries.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message_zh: String,
    pub message_en: String,
    pub retryable: bool,
}

#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// 400: the request is malformed or a field is invalid.
    BadRequest,
    /// 401: missing or wrong bearer token.
    Unauthorized,
    /// 403: the hospital or kiosk id is not known to this gateway.
    Forbidden,
    /// 404: the resource does not exist.
    NotFound,
    /// 404: no patient for this card.
    PatientNotFound,
    /// 409: the patient is already enrolled.
    AlreadyEnrolled,
    /// 409: no slot left (or none left in the requested quota).
    SlotFull,
    /// 409: the hold has expired or was released.
    HoldExpired,
    /// 409: the object is not in a state that allows this operation.
    InvalidState,
    /// 409: the paid amount does not equal the amount due.
    AmountMismatch,
    /// 409: an Idempotency-Key was reused with a different request.
    IdempotencyKeyReused,
    /// 500: unexpected gateway or HIS failure.
    Internal,
    /// 503: the HIS behind the gateway is unavailable.
    Unavailable,
}

impl ErrorCode {
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound | ErrorCode::PatientNotFound => 404,
            ErrorCode::AlreadyEnrolled
            | ErrorCode::SlotFull
            | ErrorCode::HoldExpired
            | ErrorCode::InvalidState
            | ErrorCode::AmountMismatch
            | ErrorCode::IdempotencyKeyReused => 409,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
        }
    }
}

// ---------------------------------------------------------------- requests

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupPatientRequest {
    pub card_kind: CardKind,
    pub card_no: String,
}

/// Enrolment (建档, R1). The full ID number and phone travel only here.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    pub name: String,
    pub id_number: String,
    pub phone: String,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    pub slot_id: String,
    pub patient_id: String,
    /// Take the place from the referral quota.
    pub referral: bool,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub hold_id: String,
    pub patient_id: String,
    /// Absent for a booking paid later at check-in.
    pub payment: Option<PaymentRef>,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckInRequest {
    /// Required when the fee is not yet paid.
    pub payment: Option<PaymentRef>,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    pub reason: String,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreSettleRequest {
    pub patient_id: String,
    pub bill_ids: Vec<String>,
    /// Settle through insurance (insurance card or e-voucher presented).
    pub use_insurance: bool,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettleRequest {
    pub presettle_id: String,
    pub patient_id: String,
    pub payment: PaymentRef,
}

// ------------------------------------------------------------------ lists

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepartmentList {
    pub departments: Vec<Department>,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleList {
    pub schedules: Vec<Schedule>,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotList {
    pub slots: Vec<Slot>,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppointmentList {
    pub appointments: Vec<Appointment>,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillList {
    pub bills: Vec<Bill>,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportList {
    pub reports: Vec<Report>,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceList {
    pub items: Vec<PriceItem>,
    /// Matches before paging.
    pub total: u32,
}

// ----------------------------------------------------------------- ledger

#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerKind {
    Registration,
    Booking,
    CheckIn,
    Cancel,
    Settlement,
}

/// One money movement HIS posted for this kiosk (for reconciliation).
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerEntry {
    pub idempotency_key: String,
    pub kind: LedgerKind,
    /// appointment_id or settlement_id
    pub reference_id: String,
    pub patient_id: String,
    /// Collected (positive) or owed back (negative) through a payment channel.
    pub amount_fen: Money,
    pub channel: PayChannel,
    pub trade_no: Option<String>,
    pub at: Instant,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ledger {
    pub date: NaiveDate,
    pub kiosk_id: String,
    pub entries: Vec<LedgerEntry>,
    pub total_fen: Money,
}

// -------------------------------------------------------- idempotency, ping

/// What the gateway remembers of a keyed write (`GET /v1/idempotency/{key}`),
/// used to resolve an ambiguous outcome without repeating the write.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdempotencyRecord {
    pub idempotency_key: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub body: serde_json::Value,
    pub created_at: Instant,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ping {
    pub hospital_id: String,
    pub hospital_name: String,
    /// The gateway's clock and business date.
    pub now: Instant,
    pub today: NaiveDate,
    pub protocol_version: String,
}

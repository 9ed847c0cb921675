//! The HIS port: the protocol's wire types and operation table, the
//! [`HisGateway`] trait the rest of the kiosk uses, its HTTP client
//! [`HttpHis`], and the HIS simulator.

mod client;
mod error;
pub mod openapi;
pub mod ops;
pub mod sim;
pub mod wire;

pub use client::{HttpHis, HttpHisConfig, HttpHisSetupError};
pub use error::{HisError, HisErrorKind};

use crate::domain::*;
use async_trait::async_trait;
use chrono::NaiveDate;
use std::fmt;
use wire::*;

/// The key of one side effect toward HIS, reused on every retry of it.
/// 1 to 128 characters of `[A-Za-z0-9._:-]`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an idempotency key is 1-128 characters of A-Z a-z 0-9 . _ : -, got {0:?}")]
pub struct BadIdempotencyKey(pub String);

impl IdempotencyKey {
    pub fn new(s: impl Into<String>) -> Result<Self, BadIdempotencyKey> {
        let s = s.into();
        let ok = (1..=128).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if ok {
            Ok(IdempotencyKey(s))
        } else {
            Err(BadIdempotencyKey(s))
        }
    }

    /// `K01-20261123-000017-hold`: kiosk, business date, sequence, step.
    pub fn for_step(
        kiosk_id: &str,
        date: NaiveDate,
        seq: u64,
        step: &str,
    ) -> Result<Self, BadIdempotencyKey> {
        IdempotencyKey::new(format!(
            "{kiosk_id}-{}-{seq:06}-{step}",
            date.format("%Y%m%d")
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdempotencyKey({})", self.0)
    }
}

/// Which bills to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillFilter {
    Unpaid,
    Paid,
    All,
}

impl BillFilter {
    pub fn as_str(self) -> &'static str {
        match self {
            BillFilter::Unpaid => "unpaid",
            BillFilter::Paid => "paid",
            BillFilter::All => "all",
        }
    }
}

/// A price-list search (R9): by name, English name, code or pinyin initials.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceQuery {
    pub q: Option<String>,
    pub category: Option<ItemCategory>,
    pub offset: u32,
    pub limit: Option<u32>,
}

/// Everything the kiosk asks of the hospital. One method per protocol
/// operation; writes take the idempotency key of their side effect.
#[async_trait]
pub trait HisGateway: Send + Sync {
    async fn ping(&self) -> Result<Ping, HisError>;
    async fn lookup_patient(&self, card_kind: CardKind, card_no: &str)
        -> Result<Patient, HisError>;
    async fn enroll(
        &self,
        key: &IdempotencyKey,
        name: &str,
        id: &IdNumber,
        phone: &Phone,
    ) -> Result<Patient, HisError>;
    async fn departments(&self) -> Result<Vec<Department>, HisError>;
    async fn schedules(
        &self,
        department_id: &str,
        date: NaiveDate,
    ) -> Result<Vec<Schedule>, HisError>;
    async fn slots(&self, schedule_id: &str) -> Result<Vec<Slot>, HisError>;
    async fn hold(&self, key: &IdempotencyKey, req: &HoldRequest) -> Result<Hold, HisError>;
    async fn get_hold(&self, hold_id: &str) -> Result<Hold, HisError>;
    async fn release_hold(&self, key: &IdempotencyKey, hold_id: &str) -> Result<Hold, HisError>;
    /// Register (same day) or book (a later day) on a hold.
    async fn register(
        &self,
        key: &IdempotencyKey,
        req: &RegisterRequest,
    ) -> Result<Appointment, HisError>;
    async fn appointments(
        &self,
        patient_id: &str,
        date: Option<NaiveDate>,
    ) -> Result<Vec<Appointment>, HisError>;
    async fn check_in(
        &self,
        key: &IdempotencyKey,
        appointment_id: &str,
        payment: Option<PaymentRef>,
    ) -> Result<Appointment, HisError>;
    async fn cancel(
        &self,
        key: &IdempotencyKey,
        appointment_id: &str,
        reason: &str,
    ) -> Result<Appointment, HisError>;
    /// The patient's place in the queue of a checked-in (or booked) appointment
    /// today. A cancelled appointment, or one on another day, is
    /// `INVALID_STATE`; an unknown one `NOT_FOUND`.
    async fn queue(&self, appointment_id: &str) -> Result<QueueStatus, HisError>;
    async fn bills(&self, patient_id: &str, filter: BillFilter) -> Result<Vec<Bill>, HisError>;
    async fn pre_settle(
        &self,
        key: &IdempotencyKey,
        req: &PreSettleRequest,
    ) -> Result<PreSettlement, HisError>;
    async fn settle(
        &self,
        key: &IdempotencyKey,
        req: &SettleRequest,
    ) -> Result<Settlement, HisError>;
    async fn reports(&self, patient_id: &str) -> Result<Vec<Report>, HisError>;
    /// The report as PDF bytes.
    async fn report_document(&self, report_id: &str) -> Result<Vec<u8>, HisError>;
    async fn mark_report_printed(
        &self,
        key: &IdempotencyKey,
        report_id: &str,
    ) -> Result<Report, HisError>;
    async fn prices(&self, query: &PriceQuery) -> Result<PriceList, HisError>;
    async fn ledger(&self, date: NaiveDate) -> Result<Ledger, HisError>;
    /// What HIS remembers of a keyed write; `None` if it never saw the key.
    async fn idempotency_record(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, HisError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_validated() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(
            IdempotencyKey::for_step("K01", d, 17, "hold")
                .unwrap()
                .as_str(),
            "K01-20261123-000017-hold"
        );
        assert!(IdempotencyKey::new("").is_err());
        assert!(IdempotencyKey::new("a b").is_err());
        assert!(IdempotencyKey::new("x".repeat(129)).is_err());
        assert!(IdempotencyKey::new("K01:2026.11_23-1").is_ok());
    }
}

//! The payment port: the verbs every Chinese channel shares (QR order,
//! scanned-code micropay, query, close, reverse, refund, day bill), the
//! [`PaymentGateway`] trait the rest of the kiosk uses, its HTTP client
//! [`HttpPay`] for the hospital payment platform (`docs/payment-gateway.md`),
//! and the payment simulator.
//!
//! Orders are named by the kiosk's `out_trade_no`, the transaction's
//! idempotency key: sending the same order again returns the same order,
//! a different one under the same number is refused (`OUT_TRADE_NO_USED`).
//! Every exchange is signed both ways with the kiosk's key ([`sign`]).

pub mod bill;
mod client;
mod code;
mod error;
pub mod notify;
pub mod ops;
pub mod order;
pub mod sign;
pub mod sim;
pub mod wire;

pub use bill::{BillRow, BillRowStatus, DayBill};
pub use client::{HttpPay, HttpPayConfig, HttpPaySetupError};
pub use code::{
    channel_of_code, mask_code, BadNumber, BadPaymentCode, OutRefundNo, OutTradeNo, PaymentCode,
};
pub use error::{PayError, PayErrorKind};
pub use notify::{NotifyError, NotifyVerifier, Verified};
pub use sign::KioskKey;
pub use wire::{ErrorCode, Order, OrderKind, OrderStatus, Ping, QrOrder, Refund, RefundStatus};

use crate::domain::{Money, PayChannel};
use async_trait::async_trait;
use chrono::NaiveDate;
use url::Url;

/// A QR order: the patient scans the kiosk's screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrOrderRequest {
    pub out_trade_no: OutTradeNo,
    pub channel: PayChannel,
    pub amount: Money,
    /// Shown in the patient's payment app, 1-127 characters.
    pub description: String,
    pub notify_url: Option<Url>,
}

/// A micropay: the kiosk scanned the patient's payment code. The channel is
/// the code's ([`PaymentCode::channel`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MicropayRequest {
    pub out_trade_no: OutTradeNo,
    pub code: PaymentCode,
    pub amount: Money,
    pub description: String,
    pub notify_url: Option<Url>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub out_trade_no: OutTradeNo,
    /// The refund's own idempotency key.
    pub out_refund_no: OutRefundNo,
    pub amount: Money,
    pub reason: String,
}

/// What a micropay answered when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MicropayOutcome {
    /// Collected.
    Paid(Order),
    /// The payer must confirm on their phone (password, large amount): query
    /// every ~5 s; if not paid within ~45 s, reverse.
    UserPaying(Order),
}

impl MicropayOutcome {
    pub fn order(&self) -> &Order {
        match self {
            MicropayOutcome::Paid(o) | MicropayOutcome::UserPaying(o) => o,
        }
    }
}

/// What a reverse (冲正/撤销) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReverseOutcome {
    /// It was not paid: closed or revoked, nothing collected.
    Closed(Order),
    /// It was paid: the remaining amount is refunded.
    Refunded(Order),
    /// Nothing done yet: call reverse again shortly (WeChat `recall=Y`).
    Recall(Order),
}

impl ReverseOutcome {
    pub fn order(&self) -> &Order {
        match self {
            ReverseOutcome::Closed(o) | ReverseOutcome::Refunded(o) | ReverseOutcome::Recall(o) => {
                o
            }
        }
    }
}

/// Everything the kiosk asks of the payment platform.
///
/// A write that fails with [`PayError::outcome_unknown`] may have moved
/// money: find out with [`PaymentGateway::query_order`] (or
/// [`PaymentGateway::query_refund`]) under the same number, never guess.
#[async_trait]
pub trait PaymentGateway: Send + Sync {
    /// The platform's clock and date; also proves the kiosk key is right.
    async fn ping(&self) -> Result<Ping, PayError>;
    /// Create (or get again) a QR order: the URL to draw and its expiry (2 h).
    async fn create_qr_order(&self, req: &QrOrderRequest) -> Result<QrOrder, PayError>;
    /// Charge a scanned payment code.
    async fn micropay(&self, req: &MicropayRequest) -> Result<MicropayOutcome, PayError>;
    async fn query_order(&self, out_trade_no: &OutTradeNo) -> Result<Order, PayError>;
    /// Close an unpaid QR order (when the patient leaves or pays otherwise).
    async fn close_order(&self, out_trade_no: &OutTradeNo) -> Result<Order, PayError>;
    /// Undo an order whatever its state: closes it if unpaid, refunds it if paid.
    async fn reverse_order(&self, out_trade_no: &OutTradeNo) -> Result<ReverseOutcome, PayError>;
    /// Refund part or all of a paid order.
    async fn refund(&self, req: &RefundRequest) -> Result<Refund, PayError>;
    async fn query_refund(&self, out_refund_no: &OutRefundNo) -> Result<Refund, PayError>;
    /// The channel's bill of a day (available from 10:00 the next day).
    async fn day_bill(&self, date: NaiveDate) -> Result<DayBill, PayError>;
}

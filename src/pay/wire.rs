//! The payment platform protocol's JSON bodies, shared by the HTTP client and
//! the simulator. `docs/payment-gateway.openapi.yaml` describes exactly these
//! shapes; a change here is a protocol change and must be made there too.
//!
//! Conventions as in the HIS protocol: amounts are integer fen (`*_fen`),
//! dates `YYYY-MM-DD`, instants RFC 3339 with the `+08:00` offset,
//! enumerations lower snake case strings (error codes upper snake case).

use crate::domain::{Instant, Money, PayChannel};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Header names of the protocol (see [`super::sign`]).
pub mod header {
    pub const KIOSK_ID: &str = "X-Kiosk-Id";
    pub const TIMESTAMP: &str = "X-Timestamp";
    pub const NONCE: &str = "X-Nonce";
    pub const SIGNATURE: &str = "X-Signature";
}

pub const PROTOCOL_VERSION: &str = "1.0";

/// The one error envelope every non-2xx answer carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message_zh: String,
    pub message_en: String,
    pub retryable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// 400: the request is malformed or a field is invalid.
    BadRequest,
    /// 400: the payment code is not one the platform recognises.
    PaymentCodeInvalid,
    /// 401: unknown kiosk, missing or wrong signature, stale timestamp, replayed nonce.
    Unauthorized,
    /// 402: the payer's balance does not cover the amount.
    InsufficientFunds,
    /// 402: the payment code has expired; the patient must refresh it.
    PaymentCodeExpired,
    /// 402: the payer or the channel declined the payment.
    PaymentDeclined,
    /// 404: no order with this out_trade_no for this kiosk.
    OrderNotFound,
    /// 404: no refund with this out_refund_no for this kiosk.
    RefundNotFound,
    /// 409: the out_trade_no was used with a different request.
    OutTradeNoUsed,
    /// 409: the out_refund_no was used with a different request.
    OutRefundNoUsed,
    /// 409: the order is paid (it cannot be closed; reverse or refund it).
    OrderPaid,
    /// 409: the order is closed, revoked or failed: nothing can be paid on it.
    OrderClosed,
    /// 409: the order is not paid (nothing to refund).
    OrderNotPaid,
    /// 409: the refund is more than what is left to refund.
    RefundExceedsAmount,
    /// 409: the operation does not apply to this kind of order.
    InvalidState,
    /// 409: the day's bill is not ready yet (available from 10:00 the next day).
    BillNotReady,
    /// 500: unexpected platform or channel failure. For a write the outcome is
    /// unknown: query, never guess.
    SystemError,
    /// 503: the platform or the channel is unavailable.
    Unavailable,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 18] = [
        ErrorCode::BadRequest,
        ErrorCode::PaymentCodeInvalid,
        ErrorCode::Unauthorized,
        ErrorCode::InsufficientFunds,
        ErrorCode::PaymentCodeExpired,
        ErrorCode::PaymentDeclined,
        ErrorCode::OrderNotFound,
        ErrorCode::RefundNotFound,
        ErrorCode::OutTradeNoUsed,
        ErrorCode::OutRefundNoUsed,
        ErrorCode::OrderPaid,
        ErrorCode::OrderClosed,
        ErrorCode::OrderNotPaid,
        ErrorCode::RefundExceedsAmount,
        ErrorCode::InvalidState,
        ErrorCode::BillNotReady,
        ErrorCode::SystemError,
        ErrorCode::Unavailable,
    ];

    pub fn http_status(self) -> u16 {
        use ErrorCode::*;
        match self {
            BadRequest | PaymentCodeInvalid => 400,
            Unauthorized => 401,
            InsufficientFunds | PaymentCodeExpired | PaymentDeclined => 402,
            OrderNotFound | RefundNotFound => 404,
            OutTradeNoUsed | OutRefundNoUsed | OrderPaid | OrderClosed | OrderNotPaid
            | RefundExceedsAmount | InvalidState | BillNotReady => 409,
            SystemError => 500,
            Unavailable => 503,
        }
    }

    /// The same request may succeed later.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::SystemError | ErrorCode::Unavailable | ErrorCode::BillNotReady
        )
    }

    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            BadRequest => "BAD_REQUEST",
            PaymentCodeInvalid => "PAYMENT_CODE_INVALID",
            Unauthorized => "UNAUTHORIZED",
            InsufficientFunds => "INSUFFICIENT_FUNDS",
            PaymentCodeExpired => "PAYMENT_CODE_EXPIRED",
            PaymentDeclined => "PAYMENT_DECLINED",
            OrderNotFound => "ORDER_NOT_FOUND",
            RefundNotFound => "REFUND_NOT_FOUND",
            OutTradeNoUsed => "OUT_TRADE_NO_USED",
            OutRefundNoUsed => "OUT_REFUND_NO_USED",
            OrderPaid => "ORDER_PAID",
            OrderClosed => "ORDER_CLOSED",
            OrderNotPaid => "ORDER_NOT_PAID",
            RefundExceedsAmount => "REFUND_EXCEEDS_AMOUNT",
            InvalidState => "INVALID_STATE",
            BillNotReady => "BILL_NOT_READY",
            SystemError => "SYSTEM_ERROR",
            Unavailable => "UNAVAILABLE",
        }
    }

    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

// ---------------------------------------------------------------- requests

/// `POST /v1/orders/qr`: an order the patient pays by scanning the kiosk's QR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateQrOrderRequest {
    pub out_trade_no: String,
    pub channel: PayChannel,
    pub amount_fen: Money,
    /// What the patient sees in their payment app (商品描述), 1-127 characters.
    pub description: String,
    /// Where the platform POSTs the signed `order.paid` notification.
    pub notify_url: Option<String>,
}

/// `POST /v1/orders/micropay`: charge the payment code the kiosk scanned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MicropayRequest {
    pub out_trade_no: String,
    /// The payment code (付款码), digits only. Never logged in full.
    pub auth_code: String,
    pub amount_fen: Money,
    pub description: String,
    pub notify_url: Option<String>,
}

/// `POST /v1/refunds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRefundRequest {
    pub out_trade_no: String,
    /// The kiosk's refund number, the refund's idempotency key.
    pub out_refund_no: String,
    pub amount_fen: Money,
    pub reason: String,
}

// --------------------------------------------------------------- answers

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    /// The patient scans the kiosk's QR (WeChat Native, Alipay precreate).
    Qr,
    /// The kiosk scans the patient's payment code (付款码).
    Micropay,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// A QR order waiting to be paid.
    NotPaid,
    /// A micropay waiting for the payer to confirm on their phone.
    UserPaying,
    /// Collected (possibly partly refunded: see `refunded_fen`).
    Paid,
    /// Collected and wholly returned (refund or reverse).
    Refunded,
    /// An unpaid QR order closed by the kiosk or expired.
    Closed,
    /// An unpaid micropay reversed by the kiosk or revoked by the channel.
    Revoked,
    /// The payment failed (funds, expired code, declined): nothing collected.
    Failed,
}

impl OrderStatus {
    /// Nothing collected and nothing ever will be on this order.
    pub fn is_dead(self) -> bool {
        matches!(
            self,
            OrderStatus::Closed | OrderStatus::Revoked | OrderStatus::Failed
        )
    }
    /// Still waiting for the payer.
    pub fn is_pending(self) -> bool {
        matches!(self, OrderStatus::NotPaid | OrderStatus::UserPaying)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::NotPaid => "not_paid",
            OrderStatus::UserPaying => "user_paying",
            OrderStatus::Paid => "paid",
            OrderStatus::Refunded => "refunded",
            OrderStatus::Closed => "closed",
            OrderStatus::Revoked => "revoked",
            OrderStatus::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<OrderStatus> {
        [
            OrderStatus::NotPaid,
            OrderStatus::UserPaying,
            OrderStatus::Paid,
            OrderStatus::Refunded,
            OrderStatus::Closed,
            OrderStatus::Revoked,
            OrderStatus::Failed,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// An order as the platform knows it (`GET /v1/orders/{out_trade_no}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    pub out_trade_no: String,
    pub kind: OrderKind,
    pub channel: PayChannel,
    pub amount_fen: Money,
    pub description: String,
    pub status: OrderStatus,
    /// The channel's own number (微信订单号), once paid.
    pub transaction_id: Option<String>,
    pub paid_at: Option<Instant>,
    pub refunded_fen: Money,
    pub created_at: Instant,
    /// QR: when the QR stops working (2 h). Micropay: when an unconfirmed
    /// payment is revoked by the channel (45 s).
    pub expires_at: Instant,
    /// Why a `failed` order failed.
    pub failure: Option<ErrorCode>,
    /// The payment code, masked (`13************0002`), for micropay orders.
    pub auth_code_masked: Option<String>,
}

/// The answer to `createQrOrder`: what to draw and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QrOrder {
    /// The text to encode in the QR shown on screen.
    pub code_url: String,
    pub expires_at: Instant,
    pub order: Order,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MicropayResult {
    Paid,
    /// WeChat USERPAYING, Alipay 10003: query every ~5 s, reverse after ~45 s.
    UserPaying,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MicropayAnswer {
    pub result: MicropayResult,
    pub order: Order,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReverseAction {
    /// It was not paid: closed (QR) or revoked (micropay). Nothing collected.
    Closed,
    /// It was paid: the whole remaining amount is refunded.
    Refunded,
    /// Nothing done yet: call reverse again (WeChat `recall=Y`).
    Recall,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReverseAnswer {
    pub action: ReverseAction,
    pub order: Order,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Accepted, money on its way back (query it later).
    Processing,
    /// The money is back with the payer.
    Success,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refund {
    pub out_refund_no: String,
    pub out_trade_no: String,
    /// The channel's refund number (微信退款单号).
    pub refund_id: String,
    pub amount_fen: Money,
    pub reason: String,
    pub status: RefundStatus,
    pub created_at: Instant,
    pub succeeded_at: Option<Instant>,
    /// The order after this refund.
    pub order_status: OrderStatus,
    pub order_refunded_fen: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ping {
    pub platform: String,
    pub kiosk_id: String,
    /// The platform's clock and business date.
    pub now: Instant,
    pub today: NaiveDate,
    pub protocol_version: String,
}

// ---------------------------------------------------------- notifications

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    #[serde(rename = "order.paid")]
    OrderPaid,
}

/// The body the platform POSTs to an order's `notify_url` when it is paid.
/// Delivered at least once, possibly more: dedupe by `out_trade_no`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notification {
    /// The same on every delivery of one event.
    pub notify_id: String,
    pub event_type: NotifyEvent,
    pub kiosk_id: String,
    pub out_trade_no: String,
    pub channel: PayChannel,
    pub amount_fen: Money,
    pub transaction_id: String,
    pub paid_at: Instant,
}

/// What the receiver answers (HTTP 200) to stop further deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyAck {
    pub code: String,
}

impl NotifyAck {
    pub fn success() -> Self {
        NotifyAck {
            code: "SUCCESS".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_serialize_as_their_names() {
        for c in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
            assert!((400..600).contains(&c.http_status()));
        }
    }

    #[test]
    fn wire_names() {
        assert_eq!(
            serde_json::to_string(&NotifyEvent::OrderPaid).unwrap(),
            "\"order.paid\""
        );
        assert_eq!(
            serde_json::to_string(&OrderStatus::UserPaying).unwrap(),
            "\"user_paying\""
        );
        assert_eq!(
            OrderStatus::parse("user_paying"),
            Some(OrderStatus::UserPaying)
        );
        assert!(serde_json::from_str::<NotifyAck>(r#"{"code":"SUCCESS","x":1}"#).is_err());
    }
}

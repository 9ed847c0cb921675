//! Every payment failure as one typed error: what kind it is (for code to
//! match), what to tell the patient (zh/en), what to tell a technician, and
//! whether money may have moved ([`PayError::outcome_unknown`]).

use super::code::BadPaymentCode;
use super::ops::Operation;
use super::wire::ErrorCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayErrorKind {
    /// No answer within the operation's timeout.
    Timeout,
    /// The platform could not be reached (refused, DNS, TLS handshake).
    Unreachable,
    /// The connection broke after the request was sent.
    ConnectionLost,
    /// A signed 2xx whose body is not what the protocol says.
    Malformed,
    /// The reply is unsigned, its signature does not verify, it is stale, or
    /// it answers another request. Its content is not trusted at all.
    BadSignature,
    /// The platform answered with the error envelope.
    Rejected(ErrorCode),
    /// A status the protocol does not define, or a non-2xx without the envelope.
    Protocol(u16),
    /// The kiosk built a request the client refuses to send.
    InvalidRequest,
    /// The scanned payment code belongs to no channel: nothing was sent.
    BadPaymentCode(BadPaymentCode),
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("payment {op}: {detail}", op = .op.id())]
pub struct PayError {
    pub kind: PayErrorKind,
    pub op: Operation,
    /// For the technician and the log: what happened, without a full payment code.
    pub detail: String,
    /// From the platform's envelope, when it sent one.
    pub platform_message: Option<(String, String)>,
}

impl PayError {
    pub fn new(op: Operation, kind: PayErrorKind, detail: impl Into<String>) -> Self {
        PayError {
            kind,
            op,
            detail: detail.into(),
            platform_message: None,
        }
    }

    pub(crate) fn bad_code(e: BadPaymentCode, masked: &str) -> Self {
        PayError::new(
            Operation::Micropay,
            PayErrorKind::BadPaymentCode(e),
            format!("scanned code {masked:?} refused before sending: {e}"),
        )
    }

    pub fn code(&self) -> Option<ErrorCode> {
        match self.kind {
            PayErrorKind::Rejected(c) => Some(c),
            _ => None,
        }
    }

    /// Worth trying again with the same out_trade_no / out_refund_no.
    pub fn is_transient(&self) -> bool {
        match &self.kind {
            PayErrorKind::Timeout
            | PayErrorKind::Unreachable
            | PayErrorKind::ConnectionLost
            | PayErrorKind::Malformed
            | PayErrorKind::BadSignature => true,
            // A bill not ready now will not be ready in a few milliseconds either.
            PayErrorKind::Rejected(c) => c.retryable() && *c != ErrorCode::BillNotReady,
            PayErrorKind::Protocol(s) => matches!(s, 429 | 500 | 502 | 503 | 504),
            PayErrorKind::InvalidRequest | PayErrorKind::BadPaymentCode(_) => false,
        }
    }

    /// For a write (create, micropay, close, reverse, refund): the platform
    /// may or may not have done it, money may have moved. Resolve by querying
    /// the same out_trade_no / out_refund_no, never by guessing.
    pub fn outcome_unknown(&self) -> bool {
        if !self.op.is_write() {
            return false;
        }
        match &self.kind {
            PayErrorKind::Timeout
            | PayErrorKind::ConnectionLost
            | PayErrorKind::Malformed
            | PayErrorKind::BadSignature
            | PayErrorKind::Protocol(_) => true,
            // SYSTEMERROR-style answers do not say whether the channel charged.
            // A 401 is unsigned by protocol, so it cannot be trusted either.
            PayErrorKind::Rejected(c) => matches!(
                c,
                ErrorCode::SystemError | ErrorCode::Unavailable | ErrorCode::Unauthorized
            ),
            PayErrorKind::Unreachable
            | PayErrorKind::InvalidRequest
            | PayErrorKind::BadPaymentCode(_) => false,
        }
    }

    /// What the patient reads: plain, in both languages, no codes.
    pub fn patient_message(&self) -> (&'static str, &'static str) {
        use ErrorCode as C;
        const BUSY: (&str, &str) = (
            "支付系统暂时无法连接，请稍后再试或到人工窗口缴费。",
            "The payment system cannot be reached right now. Please try again shortly or pay at a staffed window.",
        );
        const CHECKING: (&str, &str) = (
            "正在确认支付结果，请勿重复付款，请稍候。",
            "We are confirming your payment. Please do not pay again, and wait a moment.",
        );
        const STAFF: (&str, &str) = (
            "自助机暂时无法收款，请到人工窗口缴费。",
            "This kiosk cannot take payments right now. Please pay at a staffed window.",
        );
        if self.outcome_unknown() {
            return CHECKING;
        }
        match &self.kind {
            PayErrorKind::Timeout | PayErrorKind::Unreachable | PayErrorKind::ConnectionLost => {
                BUSY
            }
            PayErrorKind::Malformed
            | PayErrorKind::BadSignature
            | PayErrorKind::Protocol(_)
            | PayErrorKind::InvalidRequest => STAFF,
            PayErrorKind::BadPaymentCode(_) => (
                "无法识别该付款码，请打开微信、支付宝、云闪付或钱包的付款码后重新扫描。",
                "This is not a payment code we accept. Please open the payment code in WeChat, Alipay, UnionPay or your wallet and scan again.",
            ),
            PayErrorKind::Rejected(code) => match code {
                C::PaymentCodeInvalid => (
                    "付款码无效，请刷新付款码后重新扫描。",
                    "The payment code is not valid. Please refresh it and scan again.",
                ),
                C::PaymentCodeExpired => (
                    "付款码已过期，请刷新付款码后重新扫描。",
                    "The payment code has expired. Please refresh it and scan again.",
                ),
                C::InsufficientFunds => (
                    "余额不足，请更换付款方式后重试。",
                    "Insufficient balance. Please use another payment method and try again.",
                ),
                C::PaymentDeclined => (
                    "支付未成功，请更换付款方式后重试。",
                    "The payment did not go through. Please try another payment method.",
                ),
                C::OrderClosed => (
                    "本次支付已超时关闭，请重新发起缴费。",
                    "This payment has timed out and was closed. Please start again.",
                ),
                C::OrderPaid => (
                    "该笔订单已支付，请勿重复付款。",
                    "This order is already paid. Please do not pay again.",
                ),
                C::SystemError | C::Unavailable | C::BillNotReady => BUSY,
                C::BadRequest
                | C::Unauthorized
                | C::OrderNotFound
                | C::RefundNotFound
                | C::OutTradeNoUsed
                | C::OutRefundNoUsed
                | C::OrderNotPaid
                | C::RefundExceedsAmount
                | C::InvalidState => STAFF,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_without_a_trustworthy_answer_has_an_unknown_outcome() {
        for kind in [
            PayErrorKind::Timeout,
            PayErrorKind::ConnectionLost,
            PayErrorKind::Malformed,
            PayErrorKind::BadSignature,
            PayErrorKind::Rejected(ErrorCode::SystemError),
        ] {
            let e = PayError::new(Operation::Micropay, kind.clone(), "x");
            assert!(e.outcome_unknown(), "{kind:?}");
            assert!(e.patient_message().0.contains("请勿重复付款"));
            // The same failure on a read moves no money.
            let r = PayError::new(Operation::QueryOrder, kind.clone(), "x");
            assert!(!r.outcome_unknown(), "{kind:?}");
        }
        for kind in [
            PayErrorKind::Unreachable,
            PayErrorKind::Rejected(ErrorCode::InsufficientFunds),
            PayErrorKind::Rejected(ErrorCode::OutTradeNoUsed),
            PayErrorKind::InvalidRequest,
        ] {
            let e = PayError::new(Operation::CreateQrOrder, kind.clone(), "x");
            assert!(!e.outcome_unknown(), "{kind:?}");
        }
        let funds = PayError::new(
            Operation::Micropay,
            PayErrorKind::Rejected(ErrorCode::InsufficientFunds),
            "402",
        );
        assert!(!funds.is_transient());
        assert!(funds.patient_message().0.contains("余额不足"));
        assert_eq!(funds.code(), Some(ErrorCode::InsufficientFunds));
        assert_eq!(funds.to_string(), "payment micropay: 402");
    }
}

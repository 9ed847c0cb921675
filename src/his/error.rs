//! Every HIS failure as one typed error: what kind it is (for code to match),
//! what to tell the patient (zh/en), and what to tell a technician.

use super::ops::Operation;
use super::wire::ErrorCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HisErrorKind {
    /// No answer within the operation's timeout.
    Timeout,
    /// The gateway could not be reached (refused, DNS, TLS handshake).
    Unreachable,
    /// The connection broke after the request was sent.
    ConnectionLost,
    /// A 2xx whose body is not what the protocol says.
    Malformed,
    /// The gateway answered with the error envelope.
    Rejected(ErrorCode),
    /// A status the protocol does not define, or a non-2xx without the envelope.
    Protocol(u16),
    /// The kiosk built a request the client refuses to send (bad key, bad argument).
    InvalidRequest,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("HIS {op}: {detail}", op = .op.id())]
pub struct HisError {
    pub kind: HisErrorKind,
    pub op: Operation,
    /// For the technician and the log: what happened, without patient data.
    pub detail: String,
    /// From the gateway's envelope, when it sent one.
    pub gateway_message: Option<(String, String)>,
}

impl HisError {
    pub fn new(op: Operation, kind: HisErrorKind, detail: impl Into<String>) -> Self {
        HisError {
            kind,
            op,
            detail: detail.into(),
            gateway_message: None,
        }
    }

    pub fn code(&self) -> Option<ErrorCode> {
        match self.kind {
            HisErrorKind::Rejected(c) => Some(c),
            _ => None,
        }
    }

    /// Worth trying again (for reads, or writes with the same key).
    pub fn is_transient(&self) -> bool {
        match &self.kind {
            HisErrorKind::Timeout
            | HisErrorKind::Unreachable
            | HisErrorKind::ConnectionLost
            | HisErrorKind::Malformed => true,
            HisErrorKind::Rejected(c) => matches!(c, ErrorCode::Internal | ErrorCode::Unavailable),
            HisErrorKind::Protocol(s) => matches!(s, 429 | 500 | 502 | 503 | 504),
            HisErrorKind::InvalidRequest => false,
        }
    }

    /// For a write: HIS may or may not have done it. Resolve by asking with the
    /// same Idempotency-Key, never by guessing.
    pub fn outcome_unknown(&self) -> bool {
        self.op.is_write()
            && matches!(
                self.kind,
                HisErrorKind::Timeout | HisErrorKind::ConnectionLost | HisErrorKind::Malformed
            )
    }

    /// What the patient reads: plain, in both languages, no codes.
    pub fn patient_message(&self) -> (&'static str, &'static str) {
        use ErrorCode as C;
        match &self.kind {
            HisErrorKind::Timeout | HisErrorKind::Unreachable | HisErrorKind::ConnectionLost => (
                "医院系统暂时无法连接，请稍后再试或到人工窗口办理。",
                "The hospital system cannot be reached right now. Please try again shortly or go to a staffed window.",
            ),
            HisErrorKind::Malformed | HisErrorKind::Protocol(_) | HisErrorKind::InvalidRequest => (
                "医院系统返回异常，请到人工窗口办理。",
                "The hospital system gave an unexpected answer. Please go to a staffed window.",
            ),
            HisErrorKind::Rejected(code) => match code {
                C::PatientNotFound => (
                    "未找到您的就诊信息，请先建档。",
                    "We could not find your patient record. Please enroll first.",
                ),
                C::AlreadyEnrolled => ("您已建档，请直接刷卡使用。", "You are already enrolled. Please use your card."),
                C::SlotFull => (
                    "该时段号源已满，请选择其他时段。",
                    "This time slot is full. Please choose another one.",
                ),
                C::HoldExpired => (
                    "号源保留已超时，请重新选择。",
                    "The reservation timed out. Please choose a slot again.",
                ),
                C::InvalidState => (
                    "当前无法办理此业务，请到人工窗口咨询。",
                    "This cannot be done now. Please ask at a staffed window.",
                ),
                C::AmountMismatch => (
                    "金额与医院记录不一致，请到人工窗口办理。",
                    "The amount does not match the hospital's record. Please go to a staffed window.",
                ),
                C::NotFound => ("未找到相关记录。", "No matching record was found."),
                C::Internal | C::Unavailable => (
                    "医院系统繁忙，请稍后再试。",
                    "The hospital system is busy. Please try again shortly.",
                ),
                C::BadRequest | C::Unauthorized | C::Forbidden | C::IdempotencyKeyReused => (
                    "自助机暂时无法办理，请到人工窗口办理。",
                    "This kiosk cannot do this right now. Please go to a staffed window.",
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_writes_can_have_an_unknown_outcome() {
        let t = HisError::new(
            Operation::Settle,
            HisErrorKind::Timeout,
            "no answer in 20 s",
        );
        assert!(t.outcome_unknown());
        assert!(t.is_transient());
        let r = HisError::new(Operation::ListSlots, HisErrorKind::Timeout, "no answer");
        assert!(!r.outcome_unknown());
        let full = HisError::new(
            Operation::CreateHold,
            HisErrorKind::Rejected(ErrorCode::SlotFull),
            "409",
        );
        assert!(!full.outcome_unknown());
        assert!(!full.is_transient());
        assert_eq!(full.code(), Some(ErrorCode::SlotFull));
        assert!(full.patient_message().0.contains("已满"));
        assert_eq!(full.to_string(), "HIS createHold: 409");
    }
}

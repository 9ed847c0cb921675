//! Fault injection (`/sim/faults`): make the next N calls of an operation
//! slow, silent, failing, garbled or badly signed.

use crate::pay::ops::Operation;
use crate::pay::wire::ErrorCode;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Wait `delay_ms`, then answer normally.
    Latency,
    /// Never answer, and do nothing (the client times out).
    Timeout,
    /// Answer `status` with the error envelope (`code`, or the status's usual
    /// code), signed, without doing anything. A status with no usual code and
    /// no `code` gets an unsigned plain-text body, like a proxy's error page.
    Error,
    /// Do it, then answer a signed 2xx whose body is not the protocol's.
    Malformed,
    /// Do it, then never answer (the client times out; the write happened).
    LostResponse,
    /// Do it, then answer with a body changed after signing (a tampered reply).
    BadSignature,
    /// Do it, then answer without the signature headers.
    Unsigned,
}

fn one() -> Option<u32> {
    Some(1)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// An operationId, or `*` for every operation.
    pub operation: String,
    pub kind: FaultKind,
    #[serde(default)]
    pub delay_ms: u64,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub code: Option<ErrorCode>,
    /// How many calls it affects; absent means 1, `null` means until cleared.
    #[serde(default = "one")]
    pub times: Option<u32>,
}

impl Fault {
    pub fn validate(&self) -> Result<(), String> {
        if self.operation != "*" && Operation::from_id(&self.operation).is_none() {
            return Err(format!("unknown operation {:?}", self.operation));
        }
        if self.times == Some(0) {
            return Err("times must be at least 1 (or null for always)".into());
        }
        if let Some(s) = self.status {
            if !(400..=599).contains(&s) {
                return Err(format!("status {s} is not an error status"));
            }
        }
        Ok(())
    }

    /// The envelope code of an `error` fault, if it answers with one.
    pub fn error_code(&self) -> Option<ErrorCode> {
        if let Some(c) = self.code {
            return Some(c);
        }
        match self.status.unwrap_or(500) {
            400 => Some(ErrorCode::BadRequest),
            401 => Some(ErrorCode::Unauthorized),
            402 => Some(ErrorCode::PaymentDeclined),
            404 => Some(ErrorCode::OrderNotFound),
            409 => Some(ErrorCode::InvalidState),
            500 => Some(ErrorCode::SystemError),
            503 => Some(ErrorCode::Unavailable),
            _ => None,
        }
    }

    pub fn error_status(&self) -> u16 {
        self.status
            .or(self.code.map(ErrorCode::http_status))
            .unwrap_or(500)
    }
}

/// The table of injected faults (shared with the other simulator).
pub type FaultTable = crate::sim_faults::FaultTable<Fault>;

impl crate::sim_faults::FaultRule for Fault {
    fn operation(&self) -> &str {
        &self.operation
    }
    fn times_mut(&mut self) -> &mut Option<u32> {
        &mut self.times
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_used_up_in_order() {
        let mut t = FaultTable::default();
        let f: Fault =
            serde_json::from_str(r#"{"operation":"micropay","kind":"lost_response"}"#).unwrap();
        assert_eq!(f.times, Some(1));
        f.validate().unwrap();
        t.add(f);
        let always: Fault =
            serde_json::from_str(r#"{"operation":"*","kind":"error","status":503,"times":null}"#)
                .unwrap();
        assert_eq!(always.times, None);
        assert_eq!(always.error_code(), Some(ErrorCode::Unavailable));
        t.add(always);
        assert_eq!(
            t.take(Operation::QueryOrder.id()).unwrap().kind,
            FaultKind::Error
        );
        assert_eq!(
            t.take(Operation::Micropay.id()).unwrap().kind,
            FaultKind::LostResponse
        );
        assert_eq!(
            t.take(Operation::Micropay.id()).unwrap().kind,
            FaultKind::Error
        );
        assert_eq!(t.list().len(), 1);
        t.clear();
        assert!(t.take(Operation::Micropay.id()).is_none());

        let bad: Fault = serde_json::from_str(r#"{"operation":"nope","kind":"timeout"}"#).unwrap();
        assert!(bad.validate().is_err());
        assert!(serde_json::from_str::<Fault>(r#"{"operation":"ping","kind":"x"}"#).is_err());
        let proxy: Fault =
            serde_json::from_str(r#"{"operation":"ping","kind":"error","status":502}"#).unwrap();
        assert_eq!(proxy.error_code(), None);
        assert_eq!(proxy.error_status(), 502);
    }
}

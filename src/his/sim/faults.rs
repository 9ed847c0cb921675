//! Fault injection (`/sim/faults`): make the next calls of an operation
//! slow, silent, failing, garbled, or done without an answer.

use crate::his::ops::Operation;
use crate::his::wire::ErrorCode;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Wait `delay_ms`, then answer normally.
    Latency,
    /// Never answer, and do nothing (the client times out).
    Timeout,
    /// Answer `status` (500, 502 or 503; default 503) with the error
    /// envelope, without doing anything.
    Error,
    /// Answer 200 with a body that is not JSON, without doing anything.
    Malformed,
    /// Do it (and commit it), then never answer: the ambiguous case.
    LostResponse,
    /// Refuse for good with the envelope of `code` (default `invalid_state`),
    /// without doing anything: HIS says no (a closed clinic, a changed fee).
    Reject,
}

fn one() -> Option<u32> {
    Some(1)
}

/// One injected fault. `times` absent means once; `null` means until cleared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// An operationId from the operation table, or `*` for every operation.
    pub operation: String,
    pub kind: FaultKind,
    #[serde(default)]
    pub delay_ms: u64,
    #[serde(default)]
    pub status: Option<u16>,
    /// For `reject`: the error code to answer.
    #[serde(default)]
    pub code: Option<ErrorCode>,
    #[serde(default = "one")]
    pub times: Option<u32>,
}

/// At most an hour of latency.
const MAX_DELAY_MS: u64 = 3_600_000;

impl Fault {
    pub fn validate(&self) -> Result<(), String> {
        if self.operation != "*" && Operation::from_id(&self.operation).is_none() {
            return Err(format!("unknown operation {:?}", self.operation));
        }
        if self.times == Some(0) {
            return Err("times must be at least 1 (or null for until cleared)".into());
        }
        if let Some(s) = self.status {
            if !matches!(s, 500 | 502 | 503) {
                return Err(format!(
                    "status {s}: an error fault answers 500, 502 or 503"
                ));
            }
        }
        if let Some(c) = self.code {
            if self.kind != FaultKind::Reject {
                return Err("code is only for a reject fault".into());
            }
            if matches!(c, ErrorCode::Internal | ErrorCode::Unavailable) {
                return Err(format!("{c:?} is not a refusal; use an error fault"));
            }
        }
        if self.delay_ms > MAX_DELAY_MS {
            return Err(format!("delay_ms is at most {MAX_DELAY_MS}"));
        }
        Ok(())
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

    fn fault(op: &str, kind: FaultKind, times: Option<u32>) -> Fault {
        Fault {
            operation: op.into(),
            kind,
            delay_ms: 0,
            status: None,
            code: None,
            times,
        }
    }

    #[test]
    fn faults_are_used_up_in_order() {
        let mut t = FaultTable::default();
        t.add(fault("ping", FaultKind::Error, Some(2)));
        t.add(fault("*", FaultKind::Latency, None));
        assert_eq!(t.take(Operation::Ping.id()).unwrap().kind, FaultKind::Error);
        assert_eq!(t.take(Operation::Ping.id()).unwrap().kind, FaultKind::Error);
        assert_eq!(
            t.take(Operation::Ping.id()).unwrap().kind,
            FaultKind::Latency
        );
        assert_eq!(
            t.take(Operation::Settle.id()).unwrap().kind,
            FaultKind::Latency
        );
        assert_eq!(t.list().len(), 1);
        t.clear();
        assert!(t.take(Operation::Ping.id()).is_none());
    }

    #[test]
    fn bad_faults_are_refused() {
        assert!(fault("nope", FaultKind::Error, None).validate().is_err());
        assert!(fault("ping", FaultKind::Error, Some(0)).validate().is_err());
        let mut f = fault("settle", FaultKind::Error, None);
        f.status = Some(404);
        assert!(f.validate().is_err());
        f.status = Some(502);
        assert!(f.validate().is_ok());
        let parsed: Fault =
            serde_json::from_str(r#"{"operation":"ping","kind":"lost_response"}"#).unwrap();
        assert_eq!(parsed.times, Some(1));
        let forever: Fault =
            serde_json::from_str(r#"{"operation":"*","kind":"timeout","times":null}"#).unwrap();
        assert_eq!(forever.times, None);
        assert!(serde_json::from_str::<Fault>(r#"{"operation":"*","kind":"x"}"#).is_err());
    }
}

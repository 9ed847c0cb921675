//! Receiving the platform's `order.paid` notifications. They repeat (retries
//! for ~24 h, and duplicates), so the receiver verifies the signature and
//! freshness, checks the amount against its own record, and acts once per
//! out_trade_no. A notification is a hint: the journal still confirms with
//! a query before moving a transaction on.

use super::sign::{self, KioskKey};
use super::wire::{header, Notification, NotifyAck};
use crate::domain::Money;
use std::collections::HashSet;
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    #[error("notification without {0}")]
    Unsigned(&'static str),
    #[error("notification timestamp {0} is more than 5 minutes off")]
    Stale(i64),
    #[error("notification signature does not verify")]
    BadSignature,
    #[error("notification body is not the protocol's: {0}")]
    Malformed(String),
    #[error("notification for kiosk {0}, not this one")]
    WrongKiosk(String),
    #[error("notification for unknown order {0}")]
    UnknownOrder(String),
    #[error("notification for {out_trade_no} says {notified}, the order is {expected}")]
    AmountMismatch {
        out_trade_no: String,
        expected: Money,
        notified: Money,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// First time this order is notified paid: act on it.
    New(Notification),
    /// Seen before: acknowledge, do nothing.
    Duplicate(Notification),
}

impl Verified {
    pub fn notification(&self) -> &Notification {
        match self {
            Verified::New(n) | Verified::Duplicate(n) => n,
        }
    }
}

/// Verifies and dedupes notifications for one kiosk.
pub struct NotifyVerifier {
    kiosk_id: String,
    key: KioskKey,
    seen: Mutex<HashSet<String>>,
}

impl NotifyVerifier {
    pub fn new(kiosk_id: impl Into<String>, key: KioskKey) -> Self {
        NotifyVerifier {
            kiosk_id: kiosk_id.into(),
            key,
            seen: Mutex::new(HashSet::new()),
        }
    }

    /// Verify one delivery. `headers` is what arrived (X-Timestamp, X-Nonce,
    /// X-Signature), `now` unix seconds, `expected_amount` the kiosk's own
    /// amount for an out_trade_no (None if it does not know the order).
    /// Answer the platform with [`NotifyVerifier::ack_body`] and HTTP 200
    /// when this returns `Ok`, and with a non-2xx otherwise.
    pub fn verify(
        &self,
        headers: &axum::http::HeaderMap,
        body: &[u8],
        now: i64,
        expected_amount: impl FnOnce(&str) -> Option<Money>,
    ) -> Result<Verified, NotifyError> {
        let get = |name: &'static str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or(NotifyError::Unsigned(name))
        };
        let ts_s = get(header::TIMESTAMP)?;
        let nonce = get(header::NONCE)?;
        let sig = get(header::SIGNATURE)?;
        let ts = sign::parse_timestamp(ts_s).ok_or(NotifyError::Unsigned(header::TIMESTAMP))?;
        if !sign::valid_nonce(nonce) {
            return Err(NotifyError::Unsigned(header::NONCE));
        }
        if !self.key.verify(&sign::notify_message(ts, nonce, body), sig) {
            return Err(NotifyError::BadSignature);
        }
        // Checked after the signature so a forged timestamp is not reported as stale.
        if !sign::fresh(ts, now) {
            return Err(NotifyError::Stale(ts));
        }
        let n: Notification =
            serde_json::from_slice(body).map_err(|e| NotifyError::Malformed(e.to_string()))?;
        if n.kiosk_id != self.kiosk_id {
            return Err(NotifyError::WrongKiosk(n.kiosk_id));
        }
        let expected = expected_amount(&n.out_trade_no)
            .ok_or_else(|| NotifyError::UnknownOrder(n.out_trade_no.clone()))?;
        if expected != n.amount_fen {
            return Err(NotifyError::AmountMismatch {
                out_trade_no: n.out_trade_no,
                expected,
                notified: n.amount_fen,
            });
        }
        let fresh = self
            .seen
            .lock()
            .expect("notify dedupe lock")
            .insert(n.out_trade_no.clone());
        Ok(if fresh {
            Verified::New(n)
        } else {
            Verified::Duplicate(n)
        })
    }

    /// The body that stops further deliveries.
    pub fn ack_body() -> Vec<u8> {
        serde_json::to_vec(&NotifyAck::success()).expect("serializable")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{cst, PayChannel};
    use crate::pay::wire::NotifyEvent;
    use axum::http::{HeaderMap, HeaderValue};
    use chrono::TimeZone;

    const NOW: i64 = 1_795_400_000;

    fn body(amount: i64) -> Vec<u8> {
        serde_json::to_vec(&Notification {
            notify_id: "N1".into(),
            event_type: NotifyEvent::OrderPaid,
            kiosk_id: "K01".into(),
            out_trade_no: "K0120261123000001".into(),
            channel: PayChannel::Alipay,
            amount_fen: Money::from_fen(amount),
            transaction_id: "2026112322001".into(),
            paid_at: cst().with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap(),
        })
        .unwrap()
    }

    fn signed(key: &KioskKey, ts: i64, body: &[u8]) -> HeaderMap {
        let nonce = sign::new_nonce();
        let mut h = HeaderMap::new();
        h.insert(
            header::TIMESTAMP,
            HeaderValue::from_str(&ts.to_string()).unwrap(),
        );
        h.insert(header::NONCE, HeaderValue::from_str(&nonce).unwrap());
        let sig = key.sign(&sign::notify_message(ts, &nonce, body));
        h.insert(header::SIGNATURE, HeaderValue::from_str(&sig).unwrap());
        h
    }

    #[test]
    fn verifies_checks_the_amount_and_dedupes() {
        let key = KioskKey::demo();
        let v = NotifyVerifier::new("K01", key.clone());
        let amount = |_: &str| Some(Money::from_fen(1250));
        let b = body(1250);
        let first = v.verify(&signed(&key, NOW, &b), &b, NOW, amount).unwrap();
        assert!(matches!(first, Verified::New(_)));
        // The retry comes with a new nonce and timestamp: still a duplicate.
        let again = v
            .verify(&signed(&key, NOW + 15, &b), &b, NOW + 16, amount)
            .unwrap();
        assert!(matches!(again, Verified::Duplicate(_)));
        assert_eq!(again.notification().out_trade_no, "K0120261123000001");

        let wrong = body(1);
        assert_eq!(
            NotifyVerifier::new("K01", key.clone()).verify(
                &signed(&key, NOW, &wrong),
                &wrong,
                NOW,
                amount
            ),
            Err(NotifyError::AmountMismatch {
                out_trade_no: "K0120261123000001".into(),
                expected: Money::from_fen(1250),
                notified: Money::from_fen(1),
            })
        );
        assert!(matches!(
            v.verify(&signed(&key, NOW, &b), &b, NOW, |_| None),
            Err(NotifyError::UnknownOrder(_))
        ));
    }

    #[test]
    fn refuses_forged_stale_unsigned_and_foreign() {
        let key = KioskKey::demo();
        let v = NotifyVerifier::new("K01", key.clone());
        let amount = |_: &str| Some(Money::from_fen(1250));
        let b = body(1250);
        // Tampered body (the amount raised after signing).
        let h = signed(&key, NOW, &b);
        let tampered = body(125000);
        assert_eq!(
            v.verify(&h, &tampered, NOW, |_| Some(Money::from_fen(125000))),
            Err(NotifyError::BadSignature)
        );
        // Another kiosk's key.
        let other = KioskKey::from_hex(&"22".repeat(32)).unwrap();
        assert_eq!(
            v.verify(&signed(&other, NOW, &b), &b, NOW, amount),
            Err(NotifyError::BadSignature)
        );
        assert_eq!(
            v.verify(&signed(&key, NOW - 301, &b), &b, NOW, amount),
            Err(NotifyError::Stale(NOW - 301))
        );
        assert_eq!(
            v.verify(&HeaderMap::new(), &b, NOW, amount),
            Err(NotifyError::Unsigned(header::TIMESTAMP))
        );
        // A response signature is not a notification signature.
        let mut h = signed(&key, NOW, &b);
        let nonce = h.get(header::NONCE).unwrap().to_str().unwrap().to_string();
        let resp_sig = key.sign(&sign::response_message(200, NOW, &nonce, &b));
        h.insert(header::SIGNATURE, HeaderValue::from_str(&resp_sig).unwrap());
        assert_eq!(
            v.verify(&h, &b, NOW, amount),
            Err(NotifyError::BadSignature)
        );
        let v2 = NotifyVerifier::new("K02", key.clone());
        assert_eq!(
            v2.verify(&signed(&key, NOW, &b), &b, NOW, amount),
            Err(NotifyError::WrongKiosk("K01".into()))
        );
        assert_eq!(NotifyVerifier::ack_body(), br#"{"code":"SUCCESS"}"#);
    }
}

//! Message signing between a kiosk and the payment platform: HMAC-SHA256
//! with the kiosk's own key, base64 (standard alphabet, padded).
//!
//! | message      | signed text                                      |
//! |--------------|--------------------------------------------------|
//! | request      | `METHOD\nPATH_AND_QUERY\nTIMESTAMP\nNONCE\nBODY` |
//! | response     | `STATUS\nTIMESTAMP\nNONCE\nBODY`                 |
//! | notification | `NOTIFY\nTIMESTAMP\nNONCE\nBODY`                 |
//!
//! TIMESTAMP is unix seconds in decimal, NONCE 16-64 characters of
//! `[A-Za-z0-9]`, BODY the exact bytes sent (empty for none). A response
//! carries the nonce of the request it answers, so an old answer cannot be
//! replayed to a new request. Both sides reject a timestamp more than
//! [`MAX_SKEW_SECS`] away from their own clock.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

type HmacSha256 = Hmac<Sha256>;

/// Five minutes, as WeChat Pay v3.
pub const MAX_SKEW_SECS: i64 = 300;

/// The demo kiosk's key, shared by the simulator's default table and the
/// demo configuration. Hex of the 32 ASCII bytes `K01 demo key - not a secret!!!!!`.
pub const DEMO_KIOSK_ID: &str = "K01";
pub const DEMO_KIOSK_KEY_HEX: &str =
    "4b30312064656d6f206b6579202d206e6f742061207365637265742121212121";

/// A kiosk's signing key: at least 16 bytes, written as hex in config.
#[derive(Clone, PartialEq, Eq)]
pub struct KioskKey(Vec<u8>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a kiosk key is hex of at least 16 bytes (32 hex digits)")]
pub struct BadKioskKey;

impl KioskKey {
    pub fn from_hex(s: &str) -> Result<KioskKey, BadKioskKey> {
        let bytes = hex::decode(s.trim()).map_err(|_| BadKioskKey)?;
        if bytes.len() < 16 {
            return Err(BadKioskKey);
        }
        Ok(KioskKey(bytes))
    }

    pub fn demo() -> KioskKey {
        KioskKey::from_hex(DEMO_KIOSK_KEY_HEX).expect("valid demo key")
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length")
    }

    /// base64(HMAC-SHA256(key, message)).
    pub fn sign(&self, message: &[u8]) -> String {
        use base64::Engine as _;
        let mut mac = self.mac();
        mac.update(message);
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }

    /// Constant-time check of a base64 signature.
    pub fn verify(&self, message: &[u8], signature_b64: &str) -> bool {
        use base64::Engine as _;
        let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(signature_b64.trim()) else {
            return false;
        };
        let mut mac = self.mac();
        mac.update(message);
        mac.verify_slice(&sig).is_ok()
    }
}

impl fmt::Debug for KioskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KioskKey({} bytes)", self.0.len())
    }
}

/// Parse `KIOSK=HEXKEY` (the simulator's `--kiosk-key` argument).
pub fn parse_kiosk_key_arg(s: &str) -> Result<(String, KioskKey), String> {
    let (id, key) = s
        .split_once('=')
        .ok_or_else(|| format!("expected KIOSK_ID=HEXKEY, got {s:?}"))?;
    if id.is_empty() {
        return Err("empty kiosk id".into());
    }
    let key = KioskKey::from_hex(key).map_err(|e| format!("kiosk {id}: {e}"))?;
    Ok((id.to_string(), key))
}

fn join(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(p);
    }
    out
}

pub fn request_message(
    method: &str,
    path_and_query: &str,
    timestamp: i64,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    join(&[
        method.as_bytes(),
        path_and_query.as_bytes(),
        timestamp.to_string().as_bytes(),
        nonce.as_bytes(),
        body,
    ])
}

pub fn response_message(status: u16, timestamp: i64, nonce: &str, body: &[u8]) -> Vec<u8> {
    join(&[
        status.to_string().as_bytes(),
        timestamp.to_string().as_bytes(),
        nonce.as_bytes(),
        body,
    ])
}

pub fn notify_message(timestamp: i64, nonce: &str, body: &[u8]) -> Vec<u8> {
    join(&[
        b"NOTIFY",
        timestamp.to_string().as_bytes(),
        nonce.as_bytes(),
        body,
    ])
}

pub fn valid_nonce(s: &str) -> bool {
    (16..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The timestamp is within [`MAX_SKEW_SECS`] of `now` (both unix seconds).
pub fn fresh(timestamp: i64, now: i64) -> bool {
    (timestamp - now).abs() <= MAX_SKEW_SECS
}

/// Parse an `X-Timestamp` value: unix seconds, digits only.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// 32 hex characters, unique within the process and unpredictable enough
/// for a nonce or a simulator token (not for keys).
pub fn new_nonce() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    // RandomState is seeded from the OS once per thread; two hashers give 128 bits.
    let mut out = String::with_capacity(32);
    for salt in [0x9e37_79b9_7f4a_7c15u64, 0xc2b2_ae3d_27d4_eb4f] {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(salt);
        h.write_u64(seq);
        h.write_u64(nanos);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// Nonces seen in the last window, per sender: a second use is a replay.
#[derive(Debug, Default)]
pub struct NonceCache {
    seen: HashMap<(String, String), i64>,
    order: VecDeque<(i64, String, String)>,
}

impl NonceCache {
    /// Record the nonce; `false` if it was already used within the window.
    pub fn check_and_insert(&mut self, sender: &str, nonce: &str, now: i64) -> bool {
        while let Some((t, _, _)) = self.order.front() {
            if now - *t <= 2 * MAX_SKEW_SECS {
                break;
            }
            let (_, s, n) = self.order.pop_front().expect("front exists");
            self.seen.remove(&(s, n));
        }
        let k = (sender.to_string(), nonce.to_string());
        if self.seen.contains_key(&k) {
            return false;
        }
        self.seen.insert(k, now);
        self.order
            .push_back((now, sender.to_string(), nonce.to_string()));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_the_documented_example() {
        // The worked example in docs/payment-gateway.md, which must show these values.
        let doc = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/payment-gateway.md"
        ))
        .unwrap();
        let key = KioskKey::demo();
        let nonce = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
        let body = r#"{"out_trade_no":"K0120261123000017","auth_code":"134567890123450001","amount_fen":2550,"description":"挂号费 内科","notify_url":null}"#;
        let msg = request_message(
            "POST",
            "/v1/orders/micropay",
            1795396400,
            nonce,
            body.as_bytes(),
        );
        assert!(String::from_utf8(msg.clone()).unwrap().starts_with(
            "POST\n/v1/orders/micropay\n1795396400\n0f1e2d3c4b5a69788796a5b4c3d2e1f0\n{"
        ));
        let sig = key.sign(&msg);
        assert_eq!(sig, "ox81VKM+dm3tVjZtx+GeR4W44HaDXYVswi0FImpB1Cc=");
        assert!(key.verify(&msg, &sig));
        for shown in [DEMO_KIOSK_KEY_HEX, body, sig.as_str()] {
            assert!(doc.contains(shown), "the doc does not show {shown}");
        }

        let reply = r#"{"result":"paid","order":{"out_trade_no":"K0120261123000017","kind":"micropay","channel":"wechat","amount_fen":2550,"description":"挂号费 内科","status":"paid","transaction_id":"4200002026112300000000000001","paid_at":"2026-11-23T09:13:20+08:00","refunded_fen":0,"created_at":"2026-11-23T09:13:20+08:00","expires_at":"2026-11-23T09:14:05+08:00","failure":null,"auth_code_masked":"13************0001"}}"#;
        let rsig = key.sign(&response_message(200, 1795396401, nonce, reply.as_bytes()));
        assert_eq!(rsig, "oSdQVrwSkFXG3SU64+QTICNt6Ag5kQSHY12yO0osZ1Y=");
        assert!(doc.contains(reply) && doc.contains(rsig.as_str()));
        // The reply body is what the protocol says.
        let parsed: crate::pay::wire::MicropayAnswer = serde_json::from_str(reply).unwrap();
        assert_eq!(serde_json::to_string(&parsed).unwrap(), reply);

        // One changed byte anywhere fails.
        let mut tampered = msg.clone();
        *tampered.last_mut().unwrap() = b']';
        assert!(!key.verify(&tampered, &sig));
        assert!(!key.verify(&msg, "not base64!"));
        assert!(!key.verify(&msg, ""));
        // Another kiosk's key fails.
        let other = KioskKey::from_hex(&"11".repeat(32)).unwrap();
        assert!(!other.verify(&msg, &sig));
    }

    #[test]
    fn the_three_messages_are_distinct() {
        let key = KioskKey::demo();
        let r = response_message(200, 1, "n", b"{}");
        let n = notify_message(1, "n", b"{}");
        assert_eq!(r, b"200\n1\nn\n{}");
        assert_eq!(n, b"NOTIFY\n1\nn\n{}");
        assert_ne!(key.sign(&r), key.sign(&n));
    }

    #[test]
    fn keys_nonces_and_timestamps_are_checked() {
        assert!(KioskKey::from_hex("abcd").is_err());
        assert!(KioskKey::from_hex("zz".repeat(16).as_str()).is_err());
        assert_eq!(
            format!("{:?}", KioskKey::demo()),
            "KioskKey(32 bytes)",
            "never prints the key"
        );
        let (id, k) = parse_kiosk_key_arg(&format!("K07={}", "ab".repeat(16))).unwrap();
        assert_eq!(id, "K07");
        assert_eq!(k, KioskKey::from_hex(&"ab".repeat(16)).unwrap());
        assert!(parse_kiosk_key_arg("K07").is_err());
        assert!(parse_kiosk_key_arg("=abab").is_err());

        let a = new_nonce();
        assert!(valid_nonce(&a), "{a}");
        assert_ne!(a, new_nonce());
        assert!(!valid_nonce("short"));
        assert!(!valid_nonce("0123456789abcdef-"));

        assert!(fresh(1000, 1300) && fresh(1300, 1000));
        assert!(!fresh(1000, 1301));
        assert_eq!(parse_timestamp("1795400000"), Some(1795400000));
        assert_eq!(parse_timestamp("-5"), None);
        assert_eq!(parse_timestamp("1e9"), None);
    }

    #[test]
    fn a_nonce_is_accepted_once_per_sender_within_the_window() {
        let mut c = NonceCache::default();
        assert!(c.check_and_insert("K01", "n1", 1000));
        assert!(!c.check_and_insert("K01", "n1", 1100));
        assert!(c.check_and_insert("K02", "n1", 1100));
        // Long after the window it is forgotten (and a timestamp that old is stale anyway).
        assert!(c.check_and_insert("K01", "n1", 1000 + 2 * MAX_SKEW_SECS + 1));
    }
}

//! Payment codes (付款码) the kiosk scans from a patient's phone, and the
//! kiosk's own order and refund numbers. Pure: checked before any request.
//!
//! | channel  | first two digits | length   |
//! |----------|------------------|----------|
//! | WeChat   | 10-15            | 18       |
//! | Alipay   | 25-30            | 16-24    |
//! | UnionPay | 62               | 16-20 (19 typical) |
//! | wallet   | 88 (this project's choice for the local wallet, 甬易-style) | 18 |

use super::error::PayError;
use crate::domain::PayChannel;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadPaymentCode {
    #[error("empty payment code")]
    Empty,
    #[error("a payment code is digits only")]
    NotDigits,
    #[error("no payment channel uses this prefix")]
    UnknownPrefix,
    #[error("a {channel:?} payment code cannot have {len} digits")]
    WrongLength { channel: PayChannel, len: usize },
}

/// Which channel a scanned payment code belongs to. `code` is the scanned
/// text without surrounding whitespace.
pub fn channel_of_code(code: &str) -> Result<PayChannel, BadPaymentCode> {
    if code.is_empty() {
        return Err(BadPaymentCode::Empty);
    }
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BadPaymentCode::NotDigits);
    }
    if code.len() < 2 {
        return Err(BadPaymentCode::UnknownPrefix);
    }
    let prefix: u8 = code[..2].parse().expect("two digits");
    let (channel, lengths) = match prefix {
        10..=15 => (PayChannel::Wechat, 18..=18),
        25..=30 => (PayChannel::Alipay, 16..=24),
        62 => (PayChannel::Unionpay, 16..=20),
        88 => (PayChannel::Wallet, 18..=18),
        _ => return Err(BadPaymentCode::UnknownPrefix),
    };
    if !lengths.contains(&code.len()) {
        return Err(BadPaymentCode::WrongLength {
            channel,
            len: code.len(),
        });
    }
    Ok(channel)
}

/// `13************0002`: the first two and last four digits. The last four
/// are the simulator's behaviour selector, useful in logs; the rest never
/// appear in a log, a journal or a slip.
pub fn mask_code(code: &str) -> String {
    let n = code.chars().count();
    if n <= 6 {
        return "*".repeat(n);
    }
    let head: String = code.chars().take(2).collect();
    let tail: String = code.chars().skip(n - 4).collect();
    format!("{head}{}{tail}", "*".repeat(n - 6))
}

/// Mask every standalone run of 16-24 digits in free text (a payment code
/// that slipped into an error message or a body snippet). Order numbers
/// (`K0120261123000017`: not standalone) and 28-digit channel numbers stay.
pub fn mask_codes_in(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let alnum = |k: usize| b[k].is_ascii_alphanumeric();
        let standalone = (i == 0 || !alnum(i - 1)) && (j == b.len() || !alnum(j));
        if standalone && (16..=24).contains(&(j - i)) {
            out.push_str(&s[last..i]);
            out.push_str(&mask_code(&s[i..j]));
            last = j;
        }
        i = j;
    }
    out.push_str(&s[last..]);
    out
}

/// A payment code known to belong to a channel. Prints masked.
#[derive(Clone, PartialEq, Eq)]
pub struct PaymentCode {
    digits: String,
    channel: PayChannel,
}

impl PaymentCode {
    /// Check a scanned code (trailing CR/LF from the scanner is ignored).
    /// The error carries the patient's message.
    pub fn parse(scanned: &str) -> Result<PaymentCode, PayError> {
        let digits = scanned.trim();
        match channel_of_code(digits) {
            Ok(channel) => Ok(PaymentCode {
                digits: digits.to_string(),
                channel,
            }),
            Err(e) => Err(PayError::bad_code(e, &mask_code(digits))),
        }
    }

    pub fn channel(&self) -> PayChannel {
        self.channel
    }

    /// The full code, for the request body only.
    pub fn expose(&self) -> &str {
        &self.digits
    }

    pub fn masked(&self) -> String {
        mask_code(&self.digits)
    }
}

impl fmt::Debug for PaymentCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PaymentCode({:?}, {})", self.channel, self.masked())
    }
}

impl fmt::Display for PaymentCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

fn valid_number(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The kiosk's order number toward the channel, the transaction's
/// idempotency key: 1-32 characters of `[A-Za-z0-9_-]`, reused on every retry.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutTradeNo(String);

/// The kiosk's refund number: 1-64 characters of `[A-Za-z0-9_-]`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutRefundNo(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} is 1-{max} characters of A-Z a-z 0-9 _ -, got {value:?}")]
pub struct BadNumber {
    pub what: &'static str,
    pub max: usize,
    pub value: String,
}

macro_rules! number_type {
    ($t:ident, $what:literal, $max:literal) => {
        impl $t {
            pub const MAX_LEN: usize = $max;
            pub fn new(s: impl Into<String>) -> Result<Self, BadNumber> {
                let s = s.into();
                if valid_number(&s, $max) {
                    Ok($t(s))
                } else {
                    Err(BadNumber {
                        what: $what,
                        max: $max,
                        value: s,
                    })
                }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($t), self.0)
            }
        }
    };
}

number_type!(OutTradeNo, "an out_trade_no", 32);
number_type!(OutRefundNo, "an out_refund_no", 64);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pay::PayErrorKind;

    #[test]
    fn prefixes_map_to_channels() {
        let ok = [
            ("134567890123456789", PayChannel::Wechat),
            ("104567890123456789", PayChannel::Wechat),
            ("154567890123456789", PayChannel::Wechat),
            ("284567890123456789", PayChannel::Alipay),
            ("2545678901234567", PayChannel::Alipay),
            ("304567890123456789012345", PayChannel::Alipay),
            ("6234567890123456789", PayChannel::Unionpay),
            ("62345678901234567890", PayChannel::Unionpay),
            ("884567890123456789", PayChannel::Wallet),
        ];
        for (code, ch) in ok {
            assert_eq!(channel_of_code(code), Ok(ch), "{code}");
        }
        let bad = [
            ("", BadPaymentCode::Empty),
            ("13456789012345678a", BadPaymentCode::NotDigits),
            ("1345 67890123456789", BadPaymentCode::NotDigits),
            ("1", BadPaymentCode::UnknownPrefix),
            ("094567890123456789", BadPaymentCode::UnknownPrefix),
            ("164567890123456789", BadPaymentCode::UnknownPrefix),
            ("244567890123456789", BadPaymentCode::UnknownPrefix),
            ("314567890123456789", BadPaymentCode::UnknownPrefix),
            ("614567890123456789", BadPaymentCode::UnknownPrefix),
            ("874567890123456789", BadPaymentCode::UnknownPrefix),
            // A resident ID number is not a payment code.
            ("330203199001011234", BadPaymentCode::UnknownPrefix),
            (
                "13456789012345678",
                BadPaymentCode::WrongLength {
                    channel: PayChannel::Wechat,
                    len: 17,
                },
            ),
            (
                "1345678901234567890",
                BadPaymentCode::WrongLength {
                    channel: PayChannel::Wechat,
                    len: 19,
                },
            ),
            (
                "284567890123456",
                BadPaymentCode::WrongLength {
                    channel: PayChannel::Alipay,
                    len: 15,
                },
            ),
            (
                "2845678901234567890123456",
                BadPaymentCode::WrongLength {
                    channel: PayChannel::Alipay,
                    len: 25,
                },
            ),
            (
                "623456789012345678901",
                BadPaymentCode::WrongLength {
                    channel: PayChannel::Unionpay,
                    len: 21,
                },
            ),
            (
                "8845678901234567",
                BadPaymentCode::WrongLength {
                    channel: PayChannel::Wallet,
                    len: 16,
                },
            ),
        ];
        for (code, e) in bad {
            assert_eq!(channel_of_code(code), Err(e), "{code:?}");
        }
    }

    #[test]
    fn parsed_codes_print_masked_and_errors_speak_to_the_patient() {
        let c = PaymentCode::parse("134567890123450002\r\n").unwrap();
        assert_eq!(c.channel(), PayChannel::Wechat);
        assert_eq!(c.expose(), "134567890123450002");
        assert_eq!(c.to_string(), "13************0002");
        assert_eq!(format!("{c:?}"), "PaymentCode(Wechat, 13************0002)");
        assert!(!format!("{c:?}").contains("4567890"));

        let e = PaymentCode::parse("994567890123450001").unwrap_err();
        assert_eq!(
            e.kind,
            PayErrorKind::BadPaymentCode(BadPaymentCode::UnknownPrefix)
        );
        assert!(!e.outcome_unknown() && !e.is_transient());
        let (zh, en) = e.patient_message();
        assert!(
            zh.contains("付款码") && en.contains("payment code"),
            "{zh} {en}"
        );
        assert!(!e.detail.contains("4567890"), "{}", e.detail);
        assert_eq!(mask_code("12345"), "*****");
        assert_eq!(
            mask_codes_in(r#"{"auth_code":"134567890123450002","amount_fen":2550}"#),
            r#"{"auth_code":"13************0002","amount_fen":2550}"#
        );
        let kept = "order K0120261123000017, transaction 4200002026112300000000000001";
        assert_eq!(mask_codes_in(kept), kept);
    }

    #[test]
    fn order_numbers_are_checked() {
        assert!(OutTradeNo::new("K0120261123000001").is_ok());
        assert!(OutTradeNo::new("a-b_C9").is_ok());
        assert!(OutTradeNo::new("x".repeat(32)).is_ok());
        assert!(OutTradeNo::new("x".repeat(33)).is_err());
        assert!(OutTradeNo::new("").is_err());
        assert!(OutTradeNo::new("K01.2").is_err());
        assert!(OutTradeNo::new("订单1").is_err());
        assert!(OutRefundNo::new("r".repeat(64)).is_ok());
        assert!(OutRefundNo::new("r".repeat(65)).is_err());
    }
}

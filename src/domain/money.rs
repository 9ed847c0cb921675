//! Money as integer fen (1 yuan = 100 fen). Never a float.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount of money in fen. Negative amounts are allowed (refunds, deltas);
/// arithmetic is checked so an overflow is an error, never a wrap.
#[derive(
    schemars::JsonSchema,
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
)]
#[serde(transparent)]
#[schemars(description = "An amount in fen (1 yuan = 100 fen), an integer.")]
pub struct Money(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount overflow")]
    Overflow,
    #[error("not an amount in yuan with at most two decimals: {0:?}")]
    Parse(String),
}

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_fen(fen: i64) -> Self {
        Money(fen)
    }

    pub const fn fen(self) -> i64 {
        self.0
    }

    pub fn from_yuan(yuan: i64) -> Result<Self, MoneyError> {
        yuan.checked_mul(100).map(Money).ok_or(MoneyError::Overflow)
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.0
            .checked_add(other.0)
            .map(Money)
            .ok_or(MoneyError::Overflow)
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.0
            .checked_sub(other.0)
            .map(Money)
            .ok_or(MoneyError::Overflow)
    }

    pub fn checked_mul(self, n: i64) -> Result<Money, MoneyError> {
        self.0.checked_mul(n).map(Money).ok_or(MoneyError::Overflow)
    }

    /// Sum of amounts; an overflow anywhere is an error.
    pub fn sum<I: IntoIterator<Item = Money>>(items: I) -> Result<Money, MoneyError> {
        items.into_iter().try_fold(Money::ZERO, Money::checked_add)
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Parse `"12.5"`, `"12.50"`, `"¥12.50"` or `"12"` (yuan) exactly, without floats.
    pub fn parse_yuan(s: &str) -> Result<Money, MoneyError> {
        let err = || MoneyError::Parse(s.to_string());
        let t = s.trim().trim_start_matches('¥');
        let (neg, t) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let (int, frac) = match t.split_once('.') {
            Some((i, f)) => (i, f),
            None => (t, ""),
        };
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        if frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let yuan: i64 = int.parse().map_err(|_| err())?;
        let mut fen_part: i64 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| err())?
        };
        if frac.len() == 1 {
            fen_part *= 10;
        }
        let v = yuan
            .checked_mul(100)
            .and_then(|v| v.checked_add(fen_part))
            .ok_or(MoneyError::Overflow)?;
        Ok(Money(if neg { -v } else { v }))
    }

    /// `12.50` without the currency sign (for slips and CSV).
    pub fn yuan_string(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl fmt::Display for Money {
    /// `¥12.50`, `-¥3.00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}¥{}.{:02}", abs / 100, abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_yuan_with_two_decimals() {
        assert_eq!(Money::from_fen(1250).to_string(), "¥12.50");
        assert_eq!(Money::from_fen(5).to_string(), "¥0.05");
        assert_eq!(Money::from_fen(0).to_string(), "¥0.00");
        assert_eq!(Money::from_fen(-300).to_string(), "-¥3.00");
        assert_eq!(
            Money::from_fen(i64::MIN).yuan_string(),
            "-92233720368547758.08"
        );
    }

    #[test]
    fn arithmetic_is_checked() {
        let a = Money::from_fen(i64::MAX);
        assert_eq!(a.checked_add(Money::from_fen(1)), Err(MoneyError::Overflow));
        assert_eq!(
            Money::from_fen(i64::MIN).checked_sub(Money::from_fen(1)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::from_fen(3).checked_mul(i64::MAX),
            Err(MoneyError::Overflow)
        );
        assert_eq!(Money::from_yuan(i64::MAX), Err(MoneyError::Overflow));
        assert_eq!(
            Money::from_fen(150).checked_add(Money::from_fen(250)),
            Ok(Money::from_fen(400))
        );
        assert_eq!(
            Money::sum([Money::from_fen(1), Money::from_fen(2), Money::from_fen(3)]),
            Ok(Money::from_fen(6))
        );
        assert_eq!(Money::sum([a, a]), Err(MoneyError::Overflow));
    }

    #[test]
    fn parses_yuan_exactly() {
        assert_eq!(Money::parse_yuan("12.5"), Ok(Money::from_fen(1250)));
        assert_eq!(Money::parse_yuan("¥12.50"), Ok(Money::from_fen(1250)));
        assert_eq!(Money::parse_yuan("0.07"), Ok(Money::from_fen(7)));
        assert_eq!(Money::parse_yuan("-3"), Ok(Money::from_fen(-300)));
        assert!(Money::parse_yuan("1.234").is_err());
        assert!(Money::parse_yuan("abc").is_err());
        assert!(Money::parse_yuan(".5").is_err());
        assert!(Money::parse_yuan("1e3").is_err());
        assert_eq!(
            Money::parse_yuan("99999999999999999999"),
            Err(MoneyError::Parse("99999999999999999999".into()))
        );
    }

    #[test]
    fn serializes_as_integer_fen() {
        assert_eq!(
            serde_json::to_string(&Money::from_fen(1250)).unwrap(),
            "1250"
        );
        assert_eq!(
            serde_json::from_str::<Money>("42").unwrap(),
            Money::from_fen(42)
        );
        assert!(serde_json::from_str::<Money>("4.2").is_err());
    }
}

//! The 18-digit resident identity number (GB 11643-1999).

use chrono::{Datelike, NaiveDate};
use std::fmt;

/// A validated 18-character resident ID number. Its `Debug` and `Display`
/// print only the masked form, so it cannot leak into a log by accident;
/// [`IdNumber::expose`] gives the full number to the few places that must
/// send it (enrolment toward HIS).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    #[error("an ID number has 18 characters, this one has {0}")]
    Length(usize),
    #[error("characters 1-17 must be digits and the last a digit or X (position {0})")]
    Character(usize),
    #[error("unknown region code {0}")]
    Region(String),
    #[error("the birth date {0} does not exist")]
    BirthDate(String),
    #[error("the birth date {0} is in the future")]
    FutureBirthDate(String),
    #[error("the check digit is {found}, it should be {expected}")]
    CheckDigit { expected: char, found: char },
}

/// Province-level codes of GB/T 2260 (the first two digits of a region code).
const PROVINCES: &[u8] = &[
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83,
];

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

impl IdNumber {
    /// ISO 7064 MOD 11-2 check character of the first 17 digits.
    pub fn check_digit(first17: &str) -> Option<char> {
        let b = first17.as_bytes();
        if b.len() != 17 || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let sum: u32 = b
            .iter()
            .zip(WEIGHTS)
            .map(|(d, w)| u32::from(d - b'0') * w)
            .sum();
        Some(CHECK[(sum % 11) as usize])
    }

    /// Validate against every rule; `today` (China Standard Time) bounds the birth date.
    pub fn parse(s: &str, today: NaiveDate) -> Result<IdNumber, IdNumberError> {
        let s = s.trim();
        let n = s.chars().count();
        if n != 18 {
            return Err(IdNumberError::Length(n));
        }
        let upper = s.to_ascii_uppercase();
        let b = upper.as_bytes();
        for (i, c) in b.iter().enumerate() {
            let ok = c.is_ascii_digit() || (i == 17 && *c == b'X');
            if !ok {
                return Err(IdNumberError::Character(i + 1));
            }
        }
        let province: u8 = upper[0..2].parse().unwrap_or(0);
        if !PROVINCES.contains(&province) || &upper[2..6] == "0000" {
            return Err(IdNumberError::Region(upper[0..6].to_string()));
        }
        let birth = &upper[6..14];
        let date = NaiveDate::parse_from_str(birth, "%Y%m%d")
            .ok()
            .filter(|d| d.year() >= 1850)
            .ok_or_else(|| IdNumberError::BirthDate(birth.to_string()))?;
        if date > today {
            return Err(IdNumberError::FutureBirthDate(birth.to_string()));
        }
        let expected = IdNumber::check_digit(&upper[..17]).unwrap_or('?');
        let found = b[17] as char;
        if expected != found {
            return Err(IdNumberError::CheckDigit { expected, found });
        }
        Ok(IdNumber(upper))
    }

    /// `3302**********1234`: the first four and the last four characters kept.
    pub fn masked(&self) -> String {
        mask_id_str(&self.0)
    }

    pub fn birth_date(&self) -> NaiveDate {
        NaiveDate::parse_from_str(&self.0[6..14], "%Y%m%d").expect("validated at parse")
    }

    /// Odd 17th digit: male; even: female.
    pub fn is_male(&self) -> bool {
        (self.0.as_bytes()[16] - b'0') % 2 == 1
    }

    /// Age in whole years on `today`.
    pub fn age_on(&self, today: NaiveDate) -> u32 {
        today.years_since(self.birth_date()).unwrap_or(0)
    }

    /// The full number. Only for sending to HIS; never log or display it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Mask any ID-like string: keep the first four and the last four characters.
pub fn mask_id_str(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..4].iter().collect();
    out.push_str(&"*".repeat(chars.len() - 8));
    out.extend(&chars[chars.len() - 4..]);
    out
}

impl fmt::Display for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    #[test]
    fn accepts_published_vectors() {
        // The GB 11643 worked example (lower-case x accepted) and another known-good number.
        let id = IdNumber::parse("11010519491231002x", today()).unwrap();
        assert_eq!(id.expose(), "11010519491231002X");
        assert_eq!(
            id.birth_date(),
            NaiveDate::from_ymd_opt(1949, 12, 31).unwrap()
        );
        assert!(!id.is_male());
        assert_eq!(id.age_on(today()), 76);
        IdNumber::parse("440524188001010014", today()).unwrap();
    }

    #[test]
    fn check_digit_is_mod_11_2() {
        assert_eq!(IdNumber::check_digit("11010519491231002"), Some('X'));
        assert_eq!(IdNumber::check_digit("44052418800101001"), Some('4'));
        assert_eq!(IdNumber::check_digit("1101051949123100"), None);
        assert_eq!(IdNumber::check_digit("1101051949123100A"), None);
    }

    #[test]
    fn says_which_rule_failed() {
        let t = today();
        assert_eq!(
            IdNumber::parse("110105194912310021", t),
            Err(IdNumberError::CheckDigit {
                expected: 'X',
                found: '1'
            })
        );
        assert_eq!(
            IdNumber::parse("1101051949123100", t),
            Err(IdNumberError::Length(16))
        );
        assert_eq!(
            IdNumber::parse("11010519491231002X1", t),
            Err(IdNumberError::Length(19))
        );
        assert_eq!(
            IdNumber::parse("1101051949123100X2", t),
            Err(IdNumberError::Character(17))
        );
        assert_eq!(
            IdNumber::parse("11010519491231002Ａ", t),
            Err(IdNumberError::Character(18))
        );
        // Region 99 does not exist; neither does a province without a city code.
        assert_eq!(
            IdNumber::parse("990105194912310021", t),
            Err(IdNumberError::Region("990105".into()))
        );
        assert_eq!(
            IdNumber::parse("110000194912310021", t),
            Err(IdNumberError::Region("110000".into()))
        );
        // 30 February.
        let mut s = String::from("11010519490230001");
        s.push(IdNumber::check_digit(&s).unwrap());
        assert_eq!(
            IdNumber::parse(&s, t),
            Err(IdNumberError::BirthDate("19490230".into()))
        );
        // Born tomorrow.
        let mut s = String::from("11010520261124001");
        s.push(IdNumber::check_digit(&s).unwrap());
        assert_eq!(
            IdNumber::parse(&s, t),
            Err(IdNumberError::FutureBirthDate("20261124".into()))
        );
        // Born today is fine.
        let mut s = String::from("11010520261123001");
        s.push(IdNumber::check_digit(&s).unwrap());
        assert!(IdNumber::parse(&s, t).is_ok());
    }

    #[test]
    fn never_prints_the_full_number() {
        let id = IdNumber::parse("11010519491231002X", today()).unwrap();
        assert_eq!(id.masked(), "1101**********002X");
        assert_eq!(id.to_string(), "1101**********002X");
        assert_eq!(format!("{id:?}"), "IdNumber(1101**********002X)");
        assert_eq!(mask_id_str("330203199001011234"), "3302**********1234");
    }
}

//! Patients, their cards, and the masking of personal data for display.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How a patient identified themselves at the kiosk.
#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardKind {
    /// 2nd-generation resident ID card; the card number is the ID number.
    IdCard,
    /// Resident health card (居民健康卡); the card number equals the ID number.
    HealthCard,
    /// Social security / insurance card; the card number is the SSN.
    InsuranceCard,
    /// The hospital's own patient card.
    HospitalCard,
    /// Electronic health card QR code (电子健康卡): 64 hex characters, `:`, a digit.
    QrHealthCode,
    /// Insurance electronic voucher QR code (医保电子凭证): 28 characters from `424`.
    InsuranceEvoucher,
}

#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Male,
    Female,
    Unknown,
}

#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InsuranceType {
    /// 城镇职工医保
    Employee,
    /// 城乡居民医保
    Resident,
    /// self-paying (no insurance)
    None,
}

/// A patient as HIS knows them. HIS sends the ID number and phone masked.
#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patient {
    pub patient_id: String,
    pub name: String,
    pub sex: Sex,
    pub birth_date: NaiveDate,
    pub id_number_masked: String,
    pub phone_masked: Option<String>,
    pub insurance: InsuranceType,
    /// Priority group (三优先, R12), e.g. 计生特扶 families.
    pub priority: bool,
}

impl Patient {
    pub fn name_masked(&self) -> String {
        mask_name(&self.name)
    }
}

/// Mask a name for screens and slips: `张三` -> `张*`, `张小三` -> `张*三`,
/// `欧阳小明` -> `欧阳**`. Compound surnames keep two characters.
pub fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.trim().chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => "*".into(),
        2 => format!("{}*", chars[0]),
        3 => format!("{}*{}", chars[0], chars[2]),
        n => {
            let keep = if is_compound_surname(&chars[..2]) {
                2
            } else {
                1
            };
            let mut s: String = chars[..keep].iter().collect();
            if keep == 2 {
                s.push_str(&"*".repeat(n - 2));
            } else {
                s.push_str(&"*".repeat(n - 2));
                s.push(chars[n - 1]);
            }
            s
        }
    }
}

const COMPOUND_SURNAMES: &[&str] = &[
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒",
    "令狐", "夏侯", "独孤", "端木", "西门", "南宫", "轩辕", "呼延", "澹台", "百里", "东郭", "闻人",
];

fn is_compound_surname(first_two: &[char]) -> bool {
    let s: String = first_two.iter().collect();
    COMPOUND_SURNAMES.contains(&s.as_str())
}

/// A mainland China mobile number: 11 digits, `1[3-9]xxxxxxxxx`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("a mobile number has 11 digits, this one has {0}")]
    Length(usize),
    #[error("a mobile number has only digits")]
    NotDigits,
    #[error("a mainland mobile number starts with 13 to 19")]
    Prefix,
}

impl Phone {
    /// Accepts spaces, dashes and a `+86`/`86` prefix.
    pub fn parse(s: &str) -> Result<Phone, PhoneError> {
        let mut digits: String = s.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if let Some(rest) = digits.strip_prefix("+86") {
            digits = rest.to_string();
        } else if digits.len() == 13 && digits.starts_with("86") {
            digits = digits[2..].to_string();
        }
        if !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(PhoneError::NotDigits);
        }
        if digits.len() != 11 {
            return Err(PhoneError::Length(digits.len()));
        }
        let b = digits.as_bytes();
        if b[0] != b'1' || !(b'3'..=b'9').contains(&b[1]) {
            return Err(PhoneError::Prefix);
        }
        Ok(Phone(digits))
    }

    /// `138****5678`
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }

    /// The full number, only for sending to HIS.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_names() {
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("张小三"), "张*三");
        assert_eq!(mask_name("欧阳小明"), "欧阳**");
        assert_eq!(mask_name("欧阳明"), "欧*明");
        assert_eq!(mask_name("爱新觉罗溥仪"), "爱****仪");
        assert_eq!(mask_name("李"), "*");
        assert_eq!(mask_name(""), "");
        assert_eq!(mask_name("John Smith"), "J********h");
    }

    #[test]
    fn validates_mobile_numbers() {
        let p = Phone::parse("138 1234 5678").unwrap();
        assert_eq!(p.expose(), "13812345678");
        assert_eq!(p.masked(), "138****5678");
        assert_eq!(format!("{p:?}"), "Phone(138****5678)");
        assert_eq!(
            Phone::parse("+86 13812345678").unwrap().expose(),
            "13812345678"
        );
        assert_eq!(
            Phone::parse("8613812345678").unwrap().expose(),
            "13812345678"
        );
        assert_eq!(Phone::parse("12812345678"), Err(PhoneError::Prefix));
        assert_eq!(Phone::parse("23812345678"), Err(PhoneError::Prefix));
        assert_eq!(Phone::parse("1381234567"), Err(PhoneError::Length(10)));
        assert_eq!(Phone::parse("1381234567a"), Err(PhoneError::NotDigits));
        assert_eq!(Phone::parse("010-12345678"), Err(PhoneError::Prefix));
    }
}

//! Health / insurance card reader over PC/SC: the resident health card
//! (居民健康卡) and the social security card (社会保障卡) a patient presents
//! for real-name registration.
//!
//! - [`layout`]: where each card keeps the holder's identity (files, tags,
//!   codings); [`apdu`]: the ISO 7816-4 codec.
//! - [`read::read_sequence`]: the one read sequence, written against
//!   [`CardTransport`], used by every reader.
//! - [`PcscReader`]: the real reader (pcscd); [`SimReader`]: in-process, for
//!   the demo when pcscd is absent.
//! - [`SimCard`]: the card side, pure; [`VpcdCard`]: that card behind the
//!   vpcd virtual reader, so tests drive the real PC/SC stack.
//!
//! A real health card keeps the holder's name and details (EF06) behind
//! authentication with a health card PSAM, which a kiosk usually lacks: the
//! reader then returns the card number with sex and birth date taken from
//! the ID number and no name, and the kiosk asks HIS for the rest. The
//! simulator behaves the same unless told otherwise
//! ([`SimCard::open_secured_files`]).

pub mod apdu;
pub mod layout;
pub mod pcsc_reader;
pub mod read;
pub mod sim;
pub mod vpcd;

pub use pcsc_reader::PcscReader;
pub use read::{read_sequence, CardTransport};
pub use sim::{SimCard, SimReader};
pub use vpcd::{VpcdCard, VPCD_DEFAULT_ADDR};

use crate::Health;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Which card family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardKind {
    /// 居民健康卡
    Health,
    /// 社会保障卡 (insurance card)
    Insurance,
}

/// GB/T 2261.1 sex code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// `0`: not known (also: the card did not say).
    NotKnown,
    /// `1`
    Male,
    /// `2`
    Female,
    /// `9`: not stated.
    NotStated,
}

impl Sex {
    pub fn code(self) -> u8 {
        match self {
            Sex::NotKnown => 0,
            Sex::Male => 1,
            Sex::Female => 2,
            Sex::NotStated => 9,
        }
    }

    pub fn from_code(code: u8) -> Option<Sex> {
        match code {
            0 => Some(Sex::NotKnown),
            1 => Some(Sex::Male),
            2 => Some(Sex::Female),
            9 => Some(Sex::NotStated),
            _ => None,
        }
    }
}

/// What a card says about its holder.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCard {
    pub kind: CardKind,
    /// Health card: 18 characters, the holder's ID number. Insurance card:
    /// the 9-character card number printed on it.
    pub card_number: String,
    /// `None` when the card keeps it behind PSAM authentication.
    pub name: Option<String>,
    pub sex: Sex,
    /// GB 3304 two-digit code (`01` Han); `None` when not readable.
    pub nation: Option<String>,
    /// `YYYYMMDD`; `None` when neither the card nor the ID number gives it.
    pub birth_date: Option<String>,
    /// 18 characters, 17 digits then a digit or `X` (not checksum-verified
    /// here: the domain layer owns GB 11643).
    pub id_number: String,
    /// Health card: issuer name. Insurance card: the issuing area's
    /// 6-digit code (统筹区编码), the card names no issuer in words.
    pub issuer: String,
    /// `YYYYMMDD`
    pub issued: Option<String>,
    /// `YYYYMMDD`; health cards keep it behind PSAM authentication.
    pub expiry: Option<String>,
}

impl fmt::Debug for HealthCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Personal data: Debug (and so logs) shows masked values only.
        f.debug_struct("HealthCard")
            .field("kind", &self.kind)
            .field("card_number", &mask_middle(&self.card_number))
            .field("name", &self.name.as_deref().map(mask_name))
            .field("id_number", &mask_middle(&self.id_number))
            .field("expiry", &self.expiry)
            .finish_non_exhaustive()
    }
}

fn mask_middle(s: &str) -> String {
    let n = s.chars().count();
    s.chars()
        .enumerate()
        .map(|(i, c)| if i >= 4 && i + 4 < n { '*' } else { c })
        .collect()
}

fn mask_name(s: &str) -> String {
    let n = s.chars().count();
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 0 || (n > 2 && i + 1 == n) {
                c
            } else {
                '*'
            }
        })
        .collect()
}

impl HealthCard {
    /// What a kiosk without a health card PSAM reads from this card: for a
    /// health card, no name, nation or expiry, and sex and birth date from
    /// the ID number; an insurance card gives everything.
    pub fn as_read_without_psam(&self) -> HealthCard {
        match self.kind {
            CardKind::Insurance => self.clone(),
            CardKind::Health => {
                let (birth_date, sex) = from_id_number(&self.card_number);
                HealthCard {
                    name: None,
                    nation: None,
                    expiry: None,
                    birth_date,
                    sex,
                    id_number: self.card_number.clone(),
                    ..self.clone()
                }
            }
        }
    }
}

/// Birth date (`YYYYMMDD`, positions 7–14) and sex (17th digit odd: male)
/// that an 18-character ID number encodes.
pub fn from_id_number(id: &str) -> (Option<String>, Sex) {
    if !is_id_number(id) {
        return (None, Sex::NotKnown);
    }
    let birth = Some(id[6..14].to_string()).filter(|d| layout::is_date(d));
    let sex = match id.as_bytes()[16] - b'0' {
        d if d % 2 == 1 => Sex::Male,
        _ => Sex::Female,
    };
    (birth, sex)
}

/// 18 characters: 17 digits and a digit or `X`. Length and charset only.
pub fn is_id_number(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 18
        && b[..17].iter().all(u8::is_ascii_digit)
        && (b[17].is_ascii_digit() || b[17] == b'X')
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HealthCardError {
    /// pcscd is not running or not reachable.
    #[error("PC/SC service not available: {0}")]
    NoService(String),
    #[error("card reader not found: {0}")]
    NoReader(String),
    #[error("no card in the reader")]
    NoCard,
    /// Pulled out (or reset by someone else) in the middle of the read.
    #[error("card removed during the read")]
    CardRemoved,
    /// Neither a health card nor a social security application.
    #[error("not a health or social security card")]
    UnsupportedCard,
    /// The card refused a command.
    #[error("{command}: card answered {sw1:02X}{sw2:02X}")]
    Status {
        command: &'static str,
        sw1: u8,
        sw2: u8,
    },
    #[error("malformed card data: {0}")]
    Malformed(String),
    #[error("card transport: {0}")]
    Transport(String),
    #[error("timed out")]
    Timeout,
}

/// Driver `none`: no health card reader.
#[derive(Debug, Clone, Copy)]
pub struct NoHealthCardReader;

impl HealthCardReader for NoHealthCardReader {
    fn health(&self) -> Health {
        Health::Fault("未配置健康卡读卡器 no health card reader configured".into())
    }
    fn read_card(&self, timeout: Duration) -> Result<Option<HealthCard>, HealthCardError> {
        std::thread::sleep(timeout.min(Duration::from_millis(200)));
        Err(HealthCardError::NoReader("none configured".into()))
    }
}

/// A health / insurance card reader, real or simulated.
pub trait HealthCardReader: Send + Sync {
    fn health(&self) -> Health;
    /// Wait up to `timeout` for a card and read it. `Ok(None)`: no card was
    /// presented in time. A card already in the reader is read at once.
    fn read_card(&self, timeout: Duration) -> Result<Option<HealthCard>, HealthCardError>;
}

/// Cards for the demo and tests: what each card holds (a health card
/// reader without PSAM sees [`HealthCard::as_read_without_psam`] of it).
/// ID numbers carry valid GB 11643 check digits.
pub fn demo_cards() -> Vec<HealthCard> {
    vec![
        HealthCard {
            kind: CardKind::Health,
            card_number: "330203198503152317".into(),
            name: Some("张晓明".into()),
            sex: Sex::Male,
            nation: Some("01".into()),
            birth_date: Some("19850315".into()),
            id_number: "330203198503152317".into(),
            issuer: "宁波市卫生健康委员会".into(),
            issued: Some("20190612".into()),
            expiry: Some("20290611".into()),
        },
        HealthCard {
            kind: CardKind::Insurance,
            card_number: "B03251876".into(),
            name: Some("李秀英".into()),
            sex: Sex::Female,
            nation: Some("01".into()),
            birth_date: Some("19520708".into()),
            id_number: "330205195207084021".into(),
            issuer: "330200".into(),
            issued: Some("20200301".into()),
            expiry: Some("20300301".into()),
        },
        HealthCard {
            kind: CardKind::Health,
            card_number: "33010620150920004X".into(),
            name: Some("马璐".into()),
            sex: Sex::Female,
            nation: Some("03".into()),
            birth_date: Some("20150920".into()),
            id_number: "33010620150920004X".into(),
            issuer: "杭州市卫生健康委员会".into(),
            issued: Some("20210105".into()),
            expiry: Some("20310104".into()),
        },
    ]
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// GB 11643 check character of the first 17 digits.
    pub(crate) fn gb11643_check(first17: &str) -> char {
        const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
        let sum: u32 = first17
            .chars()
            .zip(W)
            .map(|(c, w)| c.to_digit(10).unwrap() * w)
            .sum();
        b"10X98765432"[(sum % 11) as usize] as char
    }

    #[test]
    fn check_digit_helper_matches_the_published_example() {
        // GB 11643-1999 appendix example.
        assert_eq!(gb11643_check("11010519491231002"), 'X');
    }

    #[test]
    fn demo_cards_are_consistent() {
        let cards = demo_cards();
        assert!(cards.len() >= 2);
        assert!(cards.iter().any(|c| c.kind == CardKind::Health));
        assert!(cards.iter().any(|c| c.kind == CardKind::Insurance));
        for c in &cards {
            assert!(is_id_number(&c.id_number), "{c:?}");
            assert_eq!(
                c.id_number.chars().last().unwrap(),
                gb11643_check(&c.id_number[..17]),
                "{c:?}"
            );
            let (birth, sex) = from_id_number(&c.id_number);
            assert_eq!((birth, sex), (c.birth_date.clone(), c.sex), "{c:?}");
            if c.kind == CardKind::Health {
                assert_eq!(c.card_number, c.id_number);
                assert_eq!(c.as_read_without_psam().name, None);
            } else {
                assert_eq!(c.card_number.len(), 9);
                assert_eq!(&c.as_read_without_psam(), c);
            }
        }
    }

    #[test]
    fn debug_masks_personal_data() {
        let c = &demo_cards()[0];
        let s = format!("{c:?}");
        assert!(!s.contains("330203198503152317"), "{s}");
        assert!(s.contains("3302**********2317"), "{s}");
        assert!(s.contains("张*明"), "{s}");
        assert_eq!(mask_name("张三"), "张*");
    }

    #[test]
    fn id_number_charset_and_derived_fields() {
        assert!(is_id_number("33010620150920004X"));
        assert!(!is_id_number("33010620150920002x"));
        assert!(!is_id_number("3301062015092000"));
        assert!(!is_id_number("3301062015092000２X"));
        assert_eq!(
            from_id_number("330203198503152317"),
            (Some("19850315".into()), Sex::Male)
        );
        assert_eq!(from_id_number("G12345678"), (None, Sex::NotKnown));
        assert_eq!(
            from_id_number("330203198513152318"),
            (None, Sex::Male),
            "month 13 is no date"
        );
    }
}

//! The read sequence, written once against [`CardTransport`]: PC/SC, the
//! in-process simulator and test scripts all go through it.
//!
//! 1. `SELECT` the social security application by name; if the card has it,
//!    read SSSE/EF05 and EF06 (all readable without authentication).
//! 2. Otherwise `SELECT` DF `DDF1`, then EF05 (card number, issuer, issue
//!    date: readable without authentication). Try EF06 and EF08: a card that
//!    answers `6982` (security status not satisfied: no PSAM authentication)
//!    leaves name, nation and expiry unknown, and sex and birth date come
//!    from the ID number.
//!
//! Records are read by identifier (`READ RECORD`, `P2 = 00`, `P1 = tag`)
//! with the exact length as Le, as field reader code does; `61xx` and `6Cxx`
//! answers of T=0 cards are followed.

use super::apdu::{self, sw, Command, Response};
use super::layout::{self, health, insurance, Field};
use super::{from_id_number, is_id_number, CardKind, HealthCard, HealthCardError, Sex};

/// Sends one command APDU and returns the response APDU (data and status
/// word). Errors are link failures, not card status words.
pub trait CardTransport {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, HealthCardError>;
}

impl<T: CardTransport + ?Sized> CardTransport for &mut T {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, HealthCardError> {
        (**self).transmit(apdu)
    }
}

/// A card that keeps answering `61xx` must not keep us here.
const MAX_GET_RESPONSE: usize = 16;

/// One command, following `61xx` with GET RESPONSE and `6Cxx` with the same
/// command at the length the card asked for.
pub fn exchange(t: &mut dyn CardTransport, cmd: &Command) -> Result<Response, HealthCardError> {
    let mut r = transmit(t, cmd)?;
    if r.sw1 == sw::SW1_WRONG_LE {
        let le = if r.sw2 == 0 {
            apdu::MAX_LE
        } else {
            usize::from(r.sw2)
        };
        let again = cmd
            .with_le(le)
            .map_err(|e| HealthCardError::Malformed(e.to_string()))?;
        r = transmit(t, &again)?;
    }
    let mut data = std::mem::take(&mut r.data);
    let mut rounds = 0;
    while r.sw1 == sw::SW1_BYTES_REMAINING {
        rounds += 1;
        if rounds > MAX_GET_RESPONSE {
            return Err(HealthCardError::Malformed(
                "card keeps answering 61xx".into(),
            ));
        }
        let le = if r.sw2 == 0 {
            apdu::MAX_LE
        } else {
            usize::from(r.sw2)
        };
        let get = apdu::get_response(le).map_err(|e| HealthCardError::Malformed(e.to_string()))?;
        r = transmit(t, &get)?;
        data.append(&mut r.data);
    }
    r.data = data;
    Ok(r)
}

fn transmit(t: &mut dyn CardTransport, cmd: &Command) -> Result<Response, HealthCardError> {
    let raw = t.transmit(&cmd.encode())?;
    Response::parse(&raw).map_err(|e| HealthCardError::Malformed(e.to_string()))
}

fn status(command: &'static str, r: &Response) -> HealthCardError {
    HealthCardError::Status {
        command,
        sw1: r.sw1,
        sw2: r.sw2,
    }
}

fn is_locked(e: &HealthCardError) -> bool {
    matches!(
        e,
        HealthCardError::Status {
            sw1: 0x69,
            sw2: 0x82,
            ..
        }
    )
}

fn select_fid(t: &mut dyn CardTransport, fid: u16) -> Result<Response, HealthCardError> {
    exchange(t, &apdu::select_fid(fid))
}

/// The value of `field` in the current EF.
fn read_field(t: &mut dyn CardTransport, field: &Field) -> Result<Vec<u8>, HealthCardError> {
    let cmd = apdu::read_record_by_tag(field.tag, field.len + 2)
        .map_err(|e| HealthCardError::Malformed(e.to_string()))?;
    let r = exchange(t, &cmd)?;
    if !r.is_ok() {
        return Err(status(field.name, &r));
    }
    Ok(layout::record_value(field, &r.data)?.to_vec())
}

/// Like [`read_field`], `None` when the card has no such record (`6A83`).
fn read_optional(
    t: &mut dyn CardTransport,
    field: &Field,
) -> Result<Option<Vec<u8>>, HealthCardError> {
    match read_field(t, field) {
        Ok(v) => Ok(Some(v)),
        Err(HealthCardError::Status {
            sw1: 0x6A,
            sw2: 0x83,
            ..
        }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn text(t: &mut dyn CardTransport, field: &Field) -> Result<String, HealthCardError> {
    layout::decode_an(field, &read_field(t, field)?)
}

fn date(t: &mut dyn CardTransport, field: &Field) -> Result<Option<String>, HealthCardError> {
    match read_optional(t, field)? {
        None => Ok(None),
        // An all-F date is an unwritten one.
        Some(b) if b.iter().all(|&x| x == 0xFF) => Ok(None),
        Some(b) => layout::decode_date(field, &b).map(Some),
    }
}

fn id_number(field: &Field, s: String) -> Result<String, HealthCardError> {
    let s = s.replace('x', "X");
    if is_id_number(&s) {
        Ok(s)
    } else {
        Err(HealthCardError::Malformed(format!(
            "{}: not 17 digits and a check character ({} characters)",
            field.name,
            s.chars().count()
        )))
    }
}

fn sex_of(field: &Field, b: &[u8]) -> Result<Sex, HealthCardError> {
    // Card makers write the code as a binary byte, an ASCII digit or BCD.
    let code = match b {
        [x @ 0..=9] => *x,
        [x @ b'0'..=b'9'] => x - b'0',
        [x] if x & 0x0F == 0x0F => x >> 4,
        _ => 0xFF,
    };
    Sex::from_code(code).ok_or_else(|| {
        HealthCardError::Malformed(format!("{}: unknown code {}", field.name, apdu::hex(b)))
    })
}

fn nation_of(field: &Field, b: &[u8]) -> Result<Option<String>, HealthCardError> {
    let d = layout::decode_cn(field, b)?;
    Ok(Some(d).filter(|d| !d.is_empty()))
}

/// Read whichever supported card is in the reader.
pub fn read_sequence(t: &mut dyn CardTransport) -> Result<HealthCard, HealthCardError> {
    let cmd = apdu::select_name(insurance::SSSE)
        .map_err(|e| HealthCardError::Malformed(e.to_string()))?;
    if exchange(t, &cmd)?.is_ok() {
        return read_insurance(t);
    }
    if !select_fid(t, health::DDF1)?.is_ok() {
        return Err(HealthCardError::UnsupportedCard);
    }
    // Transport cards have a DDF1 too; a health card has EF05 in it.
    if !select_fid(t, health::EF05)?.is_ok() {
        return Err(HealthCardError::UnsupportedCard);
    }
    read_health(t)
}

fn read_insurance(t: &mut dyn CardTransport) -> Result<HealthCard, HealthCardError> {
    use insurance::*;
    let r = select_fid(t, EF05)?;
    if !r.is_ok() {
        return Err(status("select SSSE/EF05", &r));
    }
    let ksbm = read_field(t, &KSBM)?;
    // The area code is BCD, so its hex is its digits; anything else still
    // names the issuer well enough for a technician.
    let area = match ksbm.get(..3) {
        Some(a) => apdu::hex(a),
        None => {
            return Err(HealthCardError::Malformed(format!(
                "{}: {} bytes",
                KSBM.name,
                ksbm.len()
            )))
        }
    };
    let issued = date(t, &FKRQ)?;
    let expiry = date(t, &KYXQ)?;
    let card_number = text(t, &KH)?;
    if card_number.is_empty() {
        return Err(HealthCardError::Malformed(format!("{}: empty", KH.name)));
    }

    let r = select_fid(t, EF06)?;
    if !r.is_ok() {
        return Err(status("select SSSE/EF06", &r));
    }
    let id = id_number(&SHBZHM, text(t, &SHBZHM)?)?;
    let name = Some(text(t, &XM)?).filter(|n| !n.is_empty());
    let sex = sex_of(&XB, &read_field(t, &XB)?)?;
    let nation = match read_optional(t, &MZ)? {
        Some(b) => nation_of(&MZ, &b)?,
        None => None,
    };
    let birth_date = date(t, &CSRQ)?.or_else(|| from_id_number(&id).0);
    Ok(HealthCard {
        kind: CardKind::Insurance,
        card_number,
        name,
        sex,
        nation,
        birth_date,
        id_number: id,
        issuer: area,
        issued,
        expiry,
    })
}

/// DDF1/EF05 is selected.
fn read_health(t: &mut dyn CardTransport) -> Result<HealthCard, HealthCardError> {
    use health::*;
    let card_number = id_number(&KH, text(t, &KH)?)?;
    let issuer = text(t, &FKJGMC)?;
    let issued = date(t, &FKSJ)?;

    let (derived_birth, derived_sex) = from_id_number(&card_number);
    let mut card = HealthCard {
        kind: CardKind::Health,
        card_number: card_number.clone(),
        name: None,
        sex: derived_sex,
        nation: None,
        birth_date: derived_birth,
        id_number: card_number,
        issuer,
        issued,
        expiry: None,
    };

    match read_holder(t) {
        Ok(holder) => {
            card.name = holder.name;
            card.sex = holder.sex;
            card.nation = holder.nation;
            card.birth_date = holder.birth_date.or(card.birth_date);
            card.id_number = holder.id_number;
        }
        Err(e) if is_locked(&e) => {}
        Err(e) => return Err(e),
    }

    let r = select_fid(t, EF08)?;
    if r.is_ok() {
        match date(t, &KYXQ) {
            Ok(expiry) => card.expiry = expiry,
            Err(e) if is_locked(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(card)
}

struct Holder {
    name: Option<String>,
    sex: Sex,
    nation: Option<String>,
    birth_date: Option<String>,
    id_number: String,
}

/// DDF1/EF06; `Status 6982` when the card wants PSAM authentication first.
fn read_holder(t: &mut dyn CardTransport) -> Result<Holder, HealthCardError> {
    use health::*;
    let r = select_fid(t, EF06)?;
    if !r.is_ok() {
        return Err(status("select DDF1/EF06", &r));
    }
    let name = Some(text(t, &XM)?).filter(|n| !n.is_empty());
    let sex = sex_of(&XB, &read_field(t, &XB)?)?;
    let nation = nation_of(&MZ, &read_field(t, &MZ)?)?;
    let birth_date = date(t, &CSRQ)?;
    let id_number = id_number(&SFZH, text(t, &SFZH)?)?;
    Ok(Holder {
        name,
        sex,
        nation,
        birth_date,
        id_number,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Answers from a script and records what was sent.
    struct Script {
        answers: VecDeque<Vec<u8>>,
        sent: Vec<String>,
    }

    impl CardTransport for Script {
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, HealthCardError> {
            self.sent.push(apdu::hex(apdu));
            self.answers
                .pop_front()
                .ok_or_else(|| HealthCardError::Transport("script ended".into()))
        }
    }

    fn script(answers: &[&[u8]]) -> Script {
        Script {
            answers: answers.iter().map(|a| a.to_vec()).collect(),
            sent: Vec::new(),
        }
    }

    #[test]
    fn follows_get_response_and_wrong_le() {
        let mut s = script(&[&[0x61, 0x03], &[1, 2, 3, 0x90, 0x00]]);
        let r = exchange(&mut s, &apdu::select_fid(0xDDF1)).unwrap();
        assert_eq!((r.sw(), r.data), (0x9000, vec![1, 2, 3]));
        assert_eq!(s.sent, ["00A4000002DDF1", "00C0000003"]);

        let mut s = script(&[&[0x6C, 0x05], &[8, 3, b'a', b'b', b'c', 0x90, 0x00]]);
        let r = exchange(&mut s, &apdu::read_record_by_tag(8, 20).unwrap()).unwrap();
        assert_eq!(r.data.len(), 5);
        assert_eq!(s.sent, ["00B2080014", "00B2080005"]);
    }

    #[test]
    fn a_card_answering_61xx_forever_is_an_error() {
        let endless: Vec<&[u8]> = vec![&[0x61, 0x01]; 40];
        let mut s = script(&endless);
        assert!(matches!(
            exchange(&mut s, &apdu::select_fid(0xDDF1)),
            Err(HealthCardError::Malformed(_))
        ));
    }

    #[test]
    fn short_or_garbage_responses_are_typed_errors() {
        let mut s = script(&[&[0x90]]);
        assert!(matches!(
            read_sequence(&mut s),
            Err(HealthCardError::Malformed(_))
        ));
        let mut s = script(&[]);
        assert!(matches!(
            read_sequence(&mut s),
            Err(HealthCardError::Transport(_))
        ));
        // Neither application.
        let mut s = script(&[&[0x6A, 0x82], &[0x6A, 0x82]]);
        assert_eq!(read_sequence(&mut s), Err(HealthCardError::UnsupportedCard));
        // DDF1 without EF05 (a transport card).
        let mut s = script(&[&[0x6A, 0x82], &[0x90, 0x00], &[0x6A, 0x82]]);
        assert_eq!(read_sequence(&mut s), Err(HealthCardError::UnsupportedCard));
    }

    #[test]
    fn sex_codes_in_every_coding_seen() {
        let f = &health::XB;
        assert_eq!(sex_of(f, &[0x01]).unwrap(), Sex::Male);
        assert_eq!(sex_of(f, b"2").unwrap(), Sex::Female);
        assert_eq!(sex_of(f, &[0x9F]).unwrap(), Sex::NotStated);
        assert!(sex_of(f, &[0x05]).is_err());
        assert!(sex_of(f, &[]).is_err());
    }
}

//! The card side, pure: a health or social security card built from a
//! [`HealthCard`], answering APDUs with the status words a real card uses;
//! and [`SimReader`], which reads such a card in-process through the same
//! read sequence as the real reader.
//!
//! Modelled: MF → DF (by FID or DF name) → record or transparent EFs;
//! SELECT (`P1` 00, 02, 04), READ RECORD (by number or by identifier, current
//! EF or short EF identifier), READ BINARY (offset or SFI), and the access
//! rule that matters to a kiosk: the health card's EF06/EF07/EF08 answer
//! `6982` until a PSAM has authenticated the terminal. Not modelled: PSAM
//! cryptography, writing, logical channels, secure messaging.

use super::apdu::{hex, ins, sw, Command, Response, MAX_LE};
use super::layout::{self, health, insurance, Field};
use super::read::{read_sequence, CardTransport};
use super::{CardKind, HealthCard, HealthCardError, HealthCardReader};
use crate::Health;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

const MF: u16 = 0x3F00;

#[derive(Debug, Clone)]
enum Body {
    Records(Vec<Vec<u8>>),
    Binary(Vec<u8>),
}

#[derive(Debug, Clone)]
struct Ef {
    fid: u16,
    /// Readable only after PSAM authentication.
    secured: bool,
    body: Body,
}

impl Ef {
    /// Short EF identifier: the low 5 bits of the FID (EF05 → 5).
    fn sfi(&self) -> u8 {
        (self.fid & 0x1F) as u8
    }
}

#[derive(Debug, Clone)]
struct Df {
    fid: Option<u16>,
    name: Option<&'static [u8]>,
    efs: Vec<Ef>,
}

/// A simulated contact CPU card.
#[derive(Debug, Clone)]
pub struct SimCard {
    kind: CardKind,
    atr: Vec<u8>,
    dfs: Vec<Df>,
    /// `None`: the MF.
    current_df: Option<usize>,
    current_ef: Option<usize>,
    secured_open: bool,
}

/// ATR offering T=0 and T=1 with `historical` bytes (at most 15), TCK
/// computed.
fn atr(historical: &[u8]) -> Vec<u8> {
    let k = historical.len().min(15);
    // TS direct convention; T0: TD1 follows, k historical bytes;
    // TD1: TD2 follows, T=0; TD2: T=1, nothing follows.
    let mut a = vec![0x3B, 0x80 | k as u8, 0x80, 0x01];
    a.extend_from_slice(&historical[..k]);
    let tck = a[1..].iter().fold(0, |x, b| x ^ b);
    a.push(tck);
    a
}

fn an(field: &Field, text: &str) -> Vec<u8> {
    layout::record(field, &layout::encode_an(field, text))
}

/// A `cn` record; unwritten (all `F`) when the value is absent or not digits.
fn cn(field: &Field, digits: Option<&str>) -> Vec<u8> {
    let value = digits
        .and_then(|d| layout::encode_cn(field, d).ok())
        .unwrap_or_else(|| vec![0xFF; field.len]);
    layout::record(field, &value)
}

fn b(field: &Field, value: &[u8]) -> Vec<u8> {
    let mut v = value.to_vec();
    v.resize(field.len, 0x00);
    layout::record(field, &v)
}

/// Deterministic filler for fields the kiosk does not read (certificate,
/// serials), so two cards differ as real ones would.
fn filler(seed: &str, len: usize) -> Vec<u8> {
    let mut x = seed.bytes().fold(0x9E37_79B9_7F4A_7C15u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)
    });
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn area_of(id: &str) -> &str {
    id.get(..6)
        .filter(|a| a.bytes().all(|c| c.is_ascii_digit()))
        .unwrap_or("000000")
}

impl SimCard {
    pub fn new(card: &HealthCard) -> SimCard {
        match card.kind {
            CardKind::Health => Self::health(card),
            CardKind::Insurance => Self::insurance(card),
        }
    }

    fn health(c: &HealthCard) -> SimCard {
        use health::*;
        let city = area_of(&c.card_number);
        let ef05 = vec![
            an(&KLB, "1"),
            an(&GFBB, "1.00"),
            an(&FKJGMC, &c.issuer),
            cn(&FKJGDM, Some(&format!("{city}0000000000000000"))),
            b(&FKJGZS, &filler(&c.issuer, FKJGZS.len)),
            cn(&FKSJ, c.issued.as_deref()),
            an(&KH, &c.card_number),
            an(&AQM, "000"),
            an(&XPXLH, &hex(&filler(&c.card_number, 5))),
            cn(&YYCSDM, Some(city)),
        ];
        let sex = [c.sex.code()];
        let ef06 = vec![
            an(&XM, c.name.as_deref().unwrap_or("")),
            layout::record(&XB, &sex),
            cn(&MZ, c.nation.as_deref()),
            cn(&CSRQ, c.birth_date.as_deref()),
            an(&SFZH, &c.id_number),
        ];
        let ef08 = vec![
            cn(&KYXQ, c.expiry.as_deref()),
            an(&BRDH1, ""),
            an(&BRDH2, ""),
            cn(&YLFYZFFS1, None),
            cn(&YLFYZFFS2, None),
            cn(&YLFYZFFS3, None),
        ];
        // No photo: a length prefix and a placeholder.
        let mut photo = vec![0x00, 0x3E];
        photo.extend(filler(&c.id_number, 0x3E));
        let ddf1 = Df {
            fid: Some(DDF1),
            name: None,
            efs: vec![
                Ef {
                    fid: EF05,
                    secured: false,
                    body: Body::Records(ef05),
                },
                Ef {
                    fid: EF06,
                    secured: true,
                    body: Body::Records(ef06),
                },
                Ef {
                    fid: EF07,
                    secured: true,
                    body: Body::Binary(photo),
                },
                Ef {
                    fid: EF08,
                    secured: true,
                    body: Body::Records(ef08),
                },
            ],
        };
        SimCard {
            kind: CardKind::Health,
            atr: atr(b"KIOSK-SIM-HC"),
            dfs: vec![ddf1],
            current_df: None,
            current_ef: None,
            secured_open: false,
        }
    }

    fn insurance(c: &HealthCard) -> SimCard {
        use insurance::*;
        let mut ksbm = layout::encode_cn(&Field { len: 3, ..KSBM }, area_of(&c.issuer))
            .unwrap_or_else(|_| vec![0; 3]);
        ksbm.extend(filler(&c.card_number, KSBM.len - 3));
        let ef05 = vec![
            b(&KSBM, &ksbm),
            an(&KLB, "1"),
            an(&GFBB, "3.00"),
            b(&CSHJGBH, &filler(&c.issuer, CSHJGBH.len)),
            cn(&FKRQ, c.issued.as_deref()),
            cn(&KYXQ, c.expiry.as_deref()),
            an(&KH, &c.card_number),
        ];
        let ef06 = vec![
            an(&SHBZHM, &c.id_number),
            an(&XM, c.name.as_deref().unwrap_or("")),
            an(&XB, &c.sex.code().to_string()),
            cn(&MZ, c.nation.as_deref()),
            cn(&CSD, Some(area_of(&c.id_number))),
            cn(&CSRQ, c.birth_date.as_deref()),
        ];
        let ssse = Df {
            fid: None,
            name: Some(SSSE),
            efs: vec![
                Ef {
                    fid: EF05,
                    secured: false,
                    body: Body::Records(ef05),
                },
                Ef {
                    fid: EF06,
                    secured: false,
                    body: Body::Records(ef06),
                },
            ],
        };
        SimCard {
            kind: CardKind::Insurance,
            atr: atr(b"KIOSK-SIM-SI"),
            dfs: vec![ssse],
            current_df: None,
            current_ef: None,
            secured_open: false,
        }
    }

    /// Simulator only: serve the PSAM-protected files (health card EF06,
    /// EF07, EF08) without authentication, as if a PSAM had authenticated
    /// the terminal, so demos can show the holder's name from the card.
    pub fn open_secured_files(mut self) -> SimCard {
        self.secured_open = true;
        self
    }

    pub fn kind(&self) -> CardKind {
        self.kind
    }

    pub fn atr(&self) -> &[u8] {
        &self.atr
    }

    /// Power-up or warm reset: the MF is selected again.
    pub fn reset(&mut self) {
        self.current_df = None;
        self.current_ef = None;
    }

    /// Power-off forgets the selection like a reset does.
    pub fn power_off(&mut self) {
        self.reset();
    }

    /// Answer one command APDU with a response APDU (data and status word).
    /// Any byte string gets an answer; none panics.
    pub fn process(&mut self, apdu: &[u8]) -> Vec<u8> {
        let cmd = match Command::parse(apdu) {
            Ok(c) => c,
            Err(_) => return Response::status(sw::WRONG_LENGTH).encode(),
        };
        let r = if cmd.cla() != 0x00 {
            Response::status(sw::CLA_NOT_SUPPORTED)
        } else {
            match cmd.ins() {
                ins::SELECT => self.select(&cmd),
                ins::READ_RECORD => self.read_record(&cmd),
                ins::READ_BINARY => self.read_binary(&cmd),
                // Nothing is ever left waiting for GET RESPONSE.
                ins::GET_RESPONSE => Response::status(sw::CONDITIONS_NOT_SATISFIED),
                _ => Response::status(sw::INS_NOT_SUPPORTED),
            }
        };
        r.encode()
    }

    fn ef(&self, df: Option<usize>, index: usize) -> Option<&Ef> {
        self.dfs.get(df?)?.efs.get(index)
    }

    fn select(&mut self, cmd: &Command) -> Response {
        let data = cmd.data();
        if !matches!(cmd.p2(), 0x00 | 0x04 | 0x0C) {
            return Response::status(sw::INCORRECT_P1P2);
        }
        if data.is_empty() {
            return Response::status(sw::WRONG_LENGTH);
        }
        let fci = match cmd.p1() {
            0x00 | 0x02 => {
                let Ok(fid) = <[u8; 2]>::try_from(data).map(u16::from_be_bytes) else {
                    return Response::status(sw::WRONG_LENGTH);
                };
                let df_hit = if cmd.p1() == 0x00 {
                    self.dfs.iter().position(|d| d.fid == Some(fid))
                } else {
                    None
                };
                if cmd.p1() == 0x00 && fid == MF {
                    self.current_df = None;
                    self.current_ef = None;
                    [0x83, 0x02, 0x3F, 0x00].to_vec()
                } else if let Some(i) = df_hit {
                    self.current_df = Some(i);
                    self.current_ef = None;
                    [0x83, 0x02, data[0], data[1]].to_vec()
                } else {
                    let hit = self
                        .current_df
                        .and_then(|d| self.dfs.get(d))
                        .and_then(|d| d.efs.iter().position(|e| e.fid == fid));
                    match hit {
                        Some(i) => {
                            self.current_ef = Some(i);
                            [0x83, 0x02, data[0], data[1]].to_vec()
                        }
                        None => return Response::status(sw::FILE_NOT_FOUND),
                    }
                }
            }
            0x04 => {
                if data.len() > 16 {
                    return Response::status(sw::WRONG_LENGTH);
                }
                match self.dfs.iter().position(|d| d.name == Some(data)) {
                    Some(i) => {
                        self.current_df = Some(i);
                        self.current_ef = None;
                        let mut f = vec![0x84, data.len() as u8];
                        f.extend_from_slice(data);
                        f
                    }
                    None => return Response::status(sw::FILE_NOT_FOUND),
                }
            }
            _ => return Response::status(sw::INCORRECT_P1P2),
        };
        match cmd.le() {
            Some(le) if cmd.p2() != 0x0C => {
                let mut t = vec![0x6F, fci.len() as u8];
                t.extend(fci);
                answer(t, le)
            }
            _ => Response::status(sw::OK),
        }
    }

    /// The EF a READ names: current EF (`sfi = 0`) or by short identifier
    /// in the current DF, which then becomes the current EF.
    fn target_ef(&mut self, sfi: u8) -> Result<&Ef, Response> {
        if sfi == 0 {
            let ef = self
                .current_ef
                .and_then(|i| self.ef(self.current_df, i))
                .ok_or(Response::status(sw::NO_CURRENT_EF))?;
            return Ok(ef);
        }
        let i = self
            .current_df
            .and_then(|d| self.dfs.get(d))
            .and_then(|d| d.efs.iter().position(|e| e.sfi() == sfi))
            .ok_or(Response::status(sw::FILE_NOT_FOUND))?;
        self.current_ef = Some(i);
        self.ef(self.current_df, i)
            .ok_or(Response::status(sw::FILE_NOT_FOUND))
    }

    fn read_record(&mut self, cmd: &Command) -> Response {
        if !cmd.data().is_empty() {
            return Response::status(sw::WRONG_LENGTH);
        }
        let Some(le) = cmd.le() else {
            return Response::status(sw::WRONG_LENGTH);
        };
        let sfi = cmd.p2() >> 3;
        if sfi == 0x1F {
            return Response::status(sw::INCORRECT_P1P2);
        }
        let open = self.secured_open;
        let ef = match self.target_ef(sfi) {
            Ok(ef) => ef,
            Err(r) => return r,
        };
        let Body::Records(records) = &ef.body else {
            return Response::status(sw::FILE_INCOMPATIBLE);
        };
        if ef.secured && !open {
            return Response::status(sw::SECURITY_NOT_SATISFIED);
        }
        let p1 = cmd.p1();
        let found = match cmd.p2() & 0x07 {
            // Record number P1 (00 would be the current record: none kept).
            0b100 => usize::from(p1).checked_sub(1).and_then(|i| records.get(i)),
            // First record whose identifier (tag) is P1.
            0b000 => records.iter().find(|r| r.first() == Some(&p1)),
            0b111 => return Response::status(sw::INCORRECT_P1P2),
            _ => return Response::status(sw::FUNCTION_NOT_SUPPORTED),
        };
        match found {
            Some(r) => answer(r.clone(), le),
            None => Response::status(sw::RECORD_NOT_FOUND),
        }
    }

    fn read_binary(&mut self, cmd: &Command) -> Response {
        if !cmd.data().is_empty() {
            return Response::status(sw::WRONG_LENGTH);
        }
        let Some(le) = cmd.le() else {
            return Response::status(sw::WRONG_LENGTH);
        };
        let (sfi, offset) = if cmd.p1() & 0x80 != 0 {
            if cmd.p1() & 0x60 != 0 {
                return Response::status(sw::INCORRECT_P1P2);
            }
            (cmd.p1() & 0x1F, usize::from(cmd.p2()))
        } else {
            (0, usize::from(cmd.p1()) << 8 | usize::from(cmd.p2()))
        };
        let open = self.secured_open;
        let ef = match self.target_ef(sfi) {
            Ok(ef) => ef,
            Err(r) => return r,
        };
        let Body::Binary(bytes) = &ef.body else {
            return Response::status(sw::FILE_INCOMPATIBLE);
        };
        if ef.secured && !open {
            return Response::status(sw::SECURITY_NOT_SATISFIED);
        }
        if offset >= bytes.len() {
            return Response::status(sw::WRONG_P1P2_OFFSET);
        }
        let rest = &bytes[offset..];
        if le == MAX_LE {
            // Le = 00: up to 256 bytes, whatever is there.
            return Response::ok(rest[..rest.len().min(MAX_LE)].to_vec());
        }
        if le > rest.len() {
            return wrong_le(rest.len());
        }
        Response::ok(rest[..le].to_vec())
    }
}

/// `data` if Le fits it exactly (or is `00`), else `6Cxx` with its length,
/// as a T=0 card does.
fn answer(data: Vec<u8>, le: usize) -> Response {
    if le == data.len() || (le == MAX_LE && data.len() <= MAX_LE) {
        Response::ok(data)
    } else {
        wrong_le(data.len())
    }
}

fn wrong_le(len: usize) -> Response {
    Response {
        data: Vec::new(),
        sw1: sw::SW1_WRONG_LE,
        // 256 is `00`; nothing here is longer.
        sw2: (len.min(MAX_LE) % 256) as u8,
    }
}

impl From<&HealthCard> for SimCard {
    fn from(c: &HealthCard) -> SimCard {
        SimCard::new(c)
    }
}

impl From<HealthCard> for SimCard {
    fn from(c: HealthCard) -> SimCard {
        SimCard::new(&c)
    }
}

impl CardTransport for SimCard {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, HealthCardError> {
        Ok(self.process(apdu))
    }
}

/// An in-process reader holding at most one [`SimCard`]: the demo's reader
/// when pcscd is not there. Cards go through the same read sequence as with
/// [`PcscReader`](super::PcscReader).
#[derive(Debug, Default)]
pub struct SimReader {
    slot: Mutex<Option<SimCard>>,
    changed: Condvar,
}

impl SimReader {
    pub fn new() -> SimReader {
        SimReader::default()
    }

    fn slot(&self) -> MutexGuard<'_, Option<SimCard>> {
        // A panic elsewhere while holding the lock leaves a valid Option.
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Put a card in the reader (replacing any card there), powered up.
    pub fn insert(&self, card: impl Into<SimCard>) {
        let mut card = card.into();
        card.reset();
        *self.slot() = Some(card);
        self.changed.notify_all();
    }

    pub fn remove(&self) {
        *self.slot() = None;
        self.changed.notify_all();
    }
}

impl HealthCardReader for SimReader {
    fn health(&self) -> Health {
        Health::Ok
    }

    fn read_card(&self, timeout: Duration) -> Result<Option<HealthCard>, HealthCardError> {
        let deadline = Instant::now() + timeout;
        let mut slot = self.slot();
        loop {
            if let Some(card) = slot.as_mut() {
                // A fresh session, as after connecting through PC/SC.
                card.reset();
                return read_sequence(card).map(Some);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            slot = self
                .changed
                .wait_timeout(slot, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{demo_cards, Sex};
    use super::*;
    use std::sync::Arc;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn health_card() -> SimCard {
        SimCard::new(&demo_cards()[0])
    }

    fn insurance_card() -> SimCard {
        SimCard::new(&demo_cards()[1])
    }

    fn sw_of(r: &[u8]) -> String {
        hex(&r[r.len() - 2..])
    }

    #[test]
    fn atr_is_well_formed() {
        let a = health_card().atr().to_vec();
        assert_eq!(a[0], 0x3B);
        assert_eq!(usize::from(a[1] & 0x0F), a.len() - 5, "historical bytes");
        assert_eq!(a[1..].iter().fold(0, |x, b| x ^ b), 0, "TCK");
        assert!(a.len() <= 33);
        assert_ne!(a, insurance_card().atr());
    }

    #[test]
    fn field_apdus_of_a_health_card() {
        let mut c = health_card();
        assert_eq!(sw_of(&c.process(&unhex("00A4000002DDF1"))), "9000");
        assert_eq!(sw_of(&c.process(&unhex("00A4000002EF05"))), "9000");
        // Card number by identifier 08 with the exact length, as field code.
        let r = c.process(&unhex("00B2080014"));
        assert_eq!(hex(&r), format!("0812{}9000", hex(b"330203198503152317")));
        // Wrong Le: the card says how long the record is.
        assert_eq!(hex(&c.process(&unhex("00B2080010"))), "6C14");
        // Le = 00 takes the record as it is.
        assert_eq!(c.process(&unhex("00B2080000")).len(), 22);
        // By record number: record 7 is the card number too.
        assert_eq!(c.process(&unhex("00B2070400"))[0], 0x08);
        // By short identifier from the DF: SFI 5, record 1 is the category.
        assert_eq!(hex(&c.process(&unhex("00B2012C00"))), "0101319000");
        // The holder file wants PSAM authentication.
        assert_eq!(sw_of(&c.process(&unhex("00A4000002EF06"))), "9000");
        assert_eq!(hex(&c.process(&unhex("00B20B0020"))), "6982");
        assert_eq!(hex(&c.process(&unhex("00B0000002"))), "6981");
    }

    #[test]
    fn status_words_for_bad_requests() {
        let mut c = health_card();
        let cases = [
            // No current EF yet.
            ("00B2010400", "6986"),
            ("00B0000002", "6986"),
            ("00A4000002EF05", "6A82"), // EF05 is in DDF1, not the MF
            ("00A40000023F00", "9000"),
            ("00A4000002ABCD", "6A82"),
            ("00A404000F7378312E73682EC9E7BBE1B1A3D5CF", "6A82"),
            ("00A4000003DDF100", "6700"), // FID of 3 bytes
            ("00A40000", "6700"),         // SELECT without data
            ("00A4080002DDF1", "6A86"),
            ("00A4001002DDF1", "6A86"),
            ("00A4000002DDF1", "9000"),
            ("00A4000002EF05", "9000"),
            ("00B20104", "6700"),       // READ RECORD without Le
            ("00B2010401AA00", "6700"), // READ RECORD with data
            ("00B2990400", "6A83"),
            ("00B2000400", "6A83"),
            ("00B2770000", "6A83"),
            ("00B2010200", "6A81"), // next occurrence: not supported
            ("00B2010700", "6A86"),
            ("00B201FC00", "6A86"), // SFI 31
            ("00B2013C00", "6981"), // SFI 7 names the transparent photo EF
            ("00CA000000", "6D00"),
            ("80B2010400", "6E00"),
            ("00C0000010", "6985"),
            ("00", "6700"),
            ("00A40000000002DDF1", "6700"), // extended length
        ];
        for (apdu, want) in cases {
            assert_eq!(sw_of(&c.process(&unhex(apdu))), want, "{apdu}");
        }
    }

    #[test]
    fn read_binary_offsets_once_secured_files_are_open() {
        let mut c = health_card().open_secured_files();
        c.process(&unhex("00A4000002DDF1"));
        assert_eq!(sw_of(&c.process(&unhex("00A4000002EF07"))), "9000");
        assert_eq!(hex(&c.process(&unhex("00B0000002"))), "003E9000");
        assert_eq!(c.process(&unhex("00B0000000")).len(), 64 + 2);
        // 64 bytes: 16 from offset 48.
        assert_eq!(c.process(&unhex("00B0003010")).len(), 16 + 2);
        assert_eq!(hex(&c.process(&unhex("00B0003020"))), "6C10");
        assert_eq!(hex(&c.process(&unhex("00B0004001"))), "6B00");
        assert_eq!(hex(&c.process(&unhex("00B07F0001"))), "6B00");
        // By SFI 7 with an offset.
        assert_eq!(c.process(&unhex("00B0873E02")).len(), 4);
        assert_eq!(hex(&c.process(&unhex("00B0A00001"))), "6A86");
        // READ RECORD on the transparent EF.
        assert_eq!(hex(&c.process(&unhex("00B2010400"))), "6981");
    }

    #[test]
    fn select_returns_fci_only_when_asked() {
        let mut c = insurance_card();
        let name = hex(insurance::SSSE);
        let r = c.process(&unhex(&format!("00A404000F{name}00")));
        assert_eq!(hex(&r), format!("6F11840F{name}9000"));
        let r = c.process(&unhex(&format!("00A404000F{name}")));
        assert_eq!(hex(&r), "9000");
        let r = c.process(&unhex(&format!("00A4040C0F{name}00")));
        assert_eq!(hex(&r), "9000");
    }

    #[test]
    fn insurance_card_apdus_from_field_code() {
        let mut c = insurance_card();
        let name = hex(insurance::SSSE);
        assert_eq!(
            sw_of(&c.process(&unhex(&format!("00A404000F{name}")))),
            "9000"
        );
        // Card number: SFI 5 record 7 (one field program's way) ...
        let r = c.process(&unhex("00B2072C0B"));
        assert_eq!(hex(&r), format!("0709{}9000", hex(b"B03251876")));
        // ... and identifier 07 in the selected EF05 (another's).
        c.process(&unhex("00A4020002EF05"));
        assert_eq!(c.process(&unhex("00B207000B")), r);
        // ID number: SFI 6 record 1, name: record 2, in GBK.
        let r = c.process(&unhex("00B2013400"));
        assert_eq!(&r[2..20], b"330205195207084021");
        let r = c.process(&unhex("00B2023400"));
        assert_eq!(r.len(), 34);
        assert_eq!(&r[2..8], &[0xC0, 0xEE, 0xD0, 0xE3, 0xD3, 0xA2], "李秀英");
        // Sex '2', birth date BCD.
        assert_eq!(hex(&c.process(&unhex("00B2033400"))), "0A01329000");
        assert_eq!(hex(&c.process(&unhex("00B2063400"))), "0D04195207089000");
    }

    #[test]
    fn reads_every_demo_card_as_a_kiosk_without_psam() {
        for card in demo_cards() {
            let mut sim = SimCard::new(&card);
            let got = read_sequence(&mut sim).unwrap();
            assert_eq!(got, card.as_read_without_psam(), "{card:?}");
        }
    }

    #[test]
    fn reads_everything_when_secured_files_are_open() {
        for card in demo_cards() {
            let mut sim = SimCard::new(&card).open_secured_files();
            assert_eq!(read_sequence(&mut sim).unwrap(), card);
        }
    }

    #[test]
    fn four_byte_gb18030_names_survive() {
        let mut card = demo_cards()[1].clone();
        card.name = Some("陈𠮷".into());
        assert_eq!(read_sequence(&mut SimCard::new(&card)).unwrap(), card);
    }

    #[test]
    fn locked_health_card_with_unusual_fields() {
        let mut card = demo_cards()[0].clone();
        card.issued = None;
        let mut sim = SimCard::new(&card);
        let got = read_sequence(&mut sim).unwrap();
        assert_eq!(got.issued, None, "unwritten date reads as absent");
        assert_eq!(got.sex, Sex::Male);
        assert_eq!(got.name, None);
    }

    #[test]
    fn a_card_with_a_bad_id_number_is_malformed_not_a_panic() {
        let mut card = demo_cards()[0].clone();
        card.card_number = "G1234567".into();
        let r = read_sequence(&mut SimCard::new(&card));
        assert!(matches!(r, Err(HealthCardError::Malformed(_))), "{r:?}");
    }

    /// xorshift64*: deterministic, no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    fn valid_sw(r: &[u8]) -> bool {
        let Some(&[sw1, sw2]) = r.last_chunk::<2>() else {
            return false;
        };
        let sw = u16::from_be_bytes([sw1, sw2]);
        sw == 0x9000 || matches!(sw1, 0x6C | 0x67 | 0x69 | 0x6A | 0x6B | 0x6D | 0x6E)
    }

    #[test]
    fn random_apdus_never_panic_and_always_get_a_status_word() {
        let mut rng = Rng(0x1234_5678_9ABC_DEF1);
        let seeds = [
            "00A4000002DDF1",
            "00A4000002EF05",
            "00A4000002EF07",
            "00B2080014",
            "00B2010400",
            "00B0000002",
            "00A404000F7378312E73682EC9E7BBE1B1A3D5CF",
        ];
        for kind in 0..3 {
            let mut card = match kind {
                0 => health_card(),
                1 => insurance_card(),
                _ => health_card().open_secured_files(),
            };
            for i in 0..40_000 {
                let apdu = if i % 2 == 0 {
                    // Pure noise of any length.
                    let n = rng.below(300);
                    rng.bytes(n)
                } else {
                    // A valid command with a few bytes flipped, cut or grown,
                    // so the deeper code paths see garbage too.
                    let mut a = unhex(seeds[rng.below(seeds.len())]);
                    for _ in 0..1 + rng.below(3) {
                        let at = rng.below(a.len());
                        a[at] = rng.next() as u8;
                    }
                    match rng.below(4) {
                        0 => a.truncate(rng.below(a.len() + 1)),
                        1 => {
                            let n = rng.below(4);
                            a.extend(rng.bytes(n));
                        }
                        _ => {}
                    }
                    a
                };
                let r = card.process(&apdu);
                assert!(valid_sw(&r), "{} -> {}", hex(&apdu), hex(&r));
                if r.len() > 2 {
                    assert_eq!(&r[r.len() - 2..], &[0x90, 0x00]);
                }
            }
        }
    }

    /// The reader side must survive any card: answers are random bytes.
    struct NoiseCard(Rng);
    impl CardTransport for NoiseCard {
        fn transmit(&mut self, _: &[u8]) -> Result<Vec<u8>, HealthCardError> {
            let n = self.0.below(40);
            let mut r = self.0.bytes(n);
            // Mostly plausible status words so the sequence goes deep.
            if self.0.below(3) > 0 && r.len() >= 2 {
                let k = r.len();
                let sws: [[u8; 2]; 5] =
                    [[0x90, 0], [0x61, 4], [0x6C, 9], [0x69, 0x82], [0x6A, 0x83]];
                r[k - 2..].copy_from_slice(&sws[self.0.below(5)]);
            }
            Ok(r)
        }
    }

    #[test]
    fn read_sequence_never_panics_on_random_cards() {
        let mut card = NoiseCard(Rng(0xDEAD_BEEF_CAFE_F00D));
        for _ in 0..20_000 {
            let _ = read_sequence(&mut card);
        }
        // And on a real card answering with random corruption.
        let mut rng = Rng(42);
        for _ in 0..5_000 {
            struct Corrupt<'a>(SimCard, &'a mut Rng);
            impl CardTransport for Corrupt<'_> {
                fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, HealthCardError> {
                    let mut r = self.0.process(apdu);
                    if self.1.below(4) == 0 {
                        let at = self.1.below(r.len());
                        r[at] = self.1.next() as u8;
                    }
                    Ok(r)
                }
            }
            let card = SimCard::new(&demo_cards()[rng.below(3)]);
            let _ = read_sequence(&mut Corrupt(card, &mut rng));
        }
    }

    #[test]
    fn sim_reader_waits_for_a_card() {
        let reader = Arc::new(SimReader::new());
        assert_eq!(reader.health(), Health::Ok);
        let t0 = Instant::now();
        assert_eq!(reader.read_card(Duration::from_millis(100)), Ok(None));
        assert!(t0.elapsed() >= Duration::from_millis(100));

        let r2 = Arc::clone(&reader);
        let inserter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            r2.insert(demo_cards()[1].clone());
        });
        let got = reader.read_card(Duration::from_secs(5)).unwrap();
        inserter.join().unwrap();
        assert_eq!(got, Some(demo_cards()[1].clone()));
        // The card stays until removed; a second read sees it again.
        assert!(reader.read_card(Duration::ZERO).unwrap().is_some());
        reader.remove();
        assert_eq!(reader.read_card(Duration::from_millis(10)), Ok(None));
        reader.insert(SimCard::new(&demo_cards()[0]).open_secured_files());
        assert_eq!(
            reader.read_card(Duration::ZERO).unwrap(),
            Some(demo_cards()[0].clone())
        );
    }
}

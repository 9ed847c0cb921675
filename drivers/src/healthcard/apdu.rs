//! ISO/IEC 7816-4 short APDUs: the command and response codec shared by the
//! reader's read sequence and the simulated card, plus the few commands the
//! health card layout needs. Extended lengths are not used by either card
//! family, so they are rejected rather than half-supported.

use std::fmt;

/// Largest Le a short APDU can ask for (`Le = 00` on the wire).
pub const MAX_LE: usize = 256;
/// Largest command data field of a short APDU.
pub const MAX_LC: usize = 255;

/// Instruction bytes used here.
pub mod ins {
    pub const SELECT: u8 = 0xA4;
    pub const READ_BINARY: u8 = 0xB0;
    pub const READ_RECORD: u8 = 0xB2;
    pub const GET_RESPONSE: u8 = 0xC0;
}

/// Status words (SW1 SW2 as one big-endian `u16`).
pub mod sw {
    pub const OK: u16 = 0x9000;
    /// SW1 `61`: SW2 more bytes wait for GET RESPONSE (T=0 cards).
    pub const SW1_BYTES_REMAINING: u8 = 0x61;
    /// SW1 `6C`: wrong Le, SW2 is the exact length to ask for.
    pub const SW1_WRONG_LE: u8 = 0x6C;
    pub const WRONG_LENGTH: u16 = 0x6700;
    pub const FILE_INCOMPATIBLE: u16 = 0x6981;
    pub const SECURITY_NOT_SATISFIED: u16 = 0x6982;
    pub const CONDITIONS_NOT_SATISFIED: u16 = 0x6985;
    pub const NO_CURRENT_EF: u16 = 0x6986;
    pub const FUNCTION_NOT_SUPPORTED: u16 = 0x6A81;
    pub const FILE_NOT_FOUND: u16 = 0x6A82;
    pub const RECORD_NOT_FOUND: u16 = 0x6A83;
    pub const INCORRECT_P1P2: u16 = 0x6A86;
    pub const WRONG_P1P2_OFFSET: u16 = 0x6B00;
    pub const INS_NOT_SUPPORTED: u16 = 0x6D00;
    pub const CLA_NOT_SUPPORTED: u16 = 0x6E00;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApduError {
    #[error("APDU of {0} bytes is shorter than its 4-byte header")]
    TooShort(usize),
    #[error("extended-length APDUs are not supported")]
    Extended,
    #[error("Lc says {lc} data bytes but the body has {body} bytes")]
    LengthMismatch { lc: usize, body: usize },
    #[error("{0} data bytes do not fit a short APDU (at most {MAX_LC})")]
    DataTooLong(usize),
    #[error("Le {0} is outside 1..={MAX_LE}")]
    BadLe(usize),
    #[error("response of {0} bytes has no status word")]
    NoStatusWord(usize),
}

/// A command APDU. Fields are private so every value encodes as a valid
/// short APDU.
#[derive(Clone, PartialEq, Eq)]
pub struct Command {
    cla: u8,
    ins: u8,
    p1: u8,
    p2: u8,
    data: Vec<u8>,
    le: Option<usize>,
}

impl Command {
    pub fn new(
        cla: u8,
        ins: u8,
        p1: u8,
        p2: u8,
        data: &[u8],
        le: Option<usize>,
    ) -> Result<Command, ApduError> {
        if data.len() > MAX_LC {
            return Err(ApduError::DataTooLong(data.len()));
        }
        if let Some(le) = le {
            if !(1..=MAX_LE).contains(&le) {
                return Err(ApduError::BadLe(le));
            }
        }
        Ok(Command {
            cla,
            ins,
            p1,
            p2,
            data: data.to_vec(),
            le,
        })
    }

    pub fn cla(&self) -> u8 {
        self.cla
    }
    pub fn ins(&self) -> u8 {
        self.ins
    }
    pub fn p1(&self) -> u8 {
        self.p1
    }
    pub fn p2(&self) -> u8 {
        self.p2
    }
    pub fn data(&self) -> &[u8] {
        &self.data
    }
    /// Expected response length; `Some(256)` is `Le = 00` on the wire.
    pub fn le(&self) -> Option<usize> {
        self.le
    }

    /// The same command asking for exactly `le` bytes (answer to `6Cxx`).
    pub fn with_le(&self, le: usize) -> Result<Command, ApduError> {
        Command::new(self.cla, self.ins, self.p1, self.p2, &self.data, Some(le))
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(6 + self.data.len());
        b.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        if !self.data.is_empty() {
            // new() bounds the length to 255.
            b.push(self.data.len() as u8);
            b.extend_from_slice(&self.data);
        }
        if let Some(le) = self.le {
            b.push(if le == MAX_LE { 0 } else { le as u8 });
        }
        b
    }

    /// Parse a short APDU (cases 1–4). Never panics.
    pub fn parse(b: &[u8]) -> Result<Command, ApduError> {
        let Some((header, body)) = b.split_first_chunk::<4>() else {
            return Err(ApduError::TooShort(b.len()));
        };
        let [cla, ins, p1, p2] = *header;
        let le_of = |byte: u8| if byte == 0 { MAX_LE } else { usize::from(byte) };
        let (data, le): (&[u8], Option<usize>) = match body {
            [] => (&[], None),
            [le] => (&[], Some(le_of(*le))),
            [0, ..] => return Err(ApduError::Extended),
            [lc, rest @ ..] => {
                let lc = usize::from(*lc);
                if rest.len() == lc {
                    (rest, None)
                } else if rest.len() == lc + 1 {
                    (&rest[..lc], Some(le_of(rest[lc])))
                } else {
                    return Err(ApduError::LengthMismatch {
                        lc,
                        body: rest.len(),
                    });
                }
            }
        };
        Command::new(cla, ins, p1, p2, data, le)
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.encode()))
    }
}

/// A response APDU: data and status word.
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    pub data: Vec<u8>,
    pub sw1: u8,
    pub sw2: u8,
}

impl Response {
    pub fn status(sw: u16) -> Response {
        let [sw1, sw2] = sw.to_be_bytes();
        Response {
            data: Vec::new(),
            sw1,
            sw2,
        }
    }

    pub fn ok(data: Vec<u8>) -> Response {
        Response {
            data,
            sw1: 0x90,
            sw2: 0x00,
        }
    }

    pub fn sw(&self) -> u16 {
        u16::from_be_bytes([self.sw1, self.sw2])
    }

    pub fn is_ok(&self) -> bool {
        self.sw() == sw::OK
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.data.len() + 2);
        b.extend_from_slice(&self.data);
        b.push(self.sw1);
        b.push(self.sw2);
        b
    }

    pub fn parse(b: &[u8]) -> Result<Response, ApduError> {
        match b {
            [data @ .., sw1, sw2] => Ok(Response {
                data: data.to_vec(),
                sw1: *sw1,
                sw2: *sw2,
            }),
            _ => Err(ApduError::NoStatusWord(b.len())),
        }
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Card data is personal: show only its size and the status word.
        write!(
            f,
            "Response({} bytes, {:02X}{:02X})",
            self.data.len(),
            self.sw1,
            self.sw2
        )
    }
}

/// `SELECT` by file identifier (MF, DF or EF: `P1 = 00`), no FCI wanted
/// beyond what the card volunteers.
pub fn select_fid(fid: u16) -> Command {
    Command {
        cla: 0x00,
        ins: ins::SELECT,
        p1: 0x00,
        p2: 0x00,
        data: fid.to_be_bytes().to_vec(),
        le: None,
    }
}

/// `SELECT` by DF name (`P1 = 04`), e.g. the social security application.
pub fn select_name(name: &[u8]) -> Result<Command, ApduError> {
    if name.is_empty() || name.len() > 16 {
        // ISO 7816-4 DF names are 1 to 16 bytes.
        return Err(ApduError::DataTooLong(name.len()));
    }
    Command::new(0x00, ins::SELECT, 0x04, 0x00, name, None)
}

/// `READ RECORD` of the first record of the current EF whose identifier
/// (its first byte, the TLV tag) is `tag` (`P2 = 00`).
pub fn read_record_by_tag(tag: u8, le: usize) -> Result<Command, ApduError> {
    Command::new(0x00, ins::READ_RECORD, tag, 0x00, &[], Some(le))
}

/// `READ RECORD` number `number` (1-based) of the current EF (`sfi = 0`) or
/// of the EF with that short identifier (`P2 = sfi << 3 | 4`).
pub fn read_record(number: u8, sfi: u8, le: usize) -> Result<Command, ApduError> {
    Command::new(
        0x00,
        ins::READ_RECORD,
        number,
        (sfi & 0x1F) << 3 | 0x04,
        &[],
        Some(le),
    )
}

/// `READ BINARY` of the current EF from `offset` (15 bits).
pub fn read_binary(offset: u16, le: usize) -> Result<Command, ApduError> {
    let [hi, lo] = offset.to_be_bytes();
    Command::new(0x00, ins::READ_BINARY, hi & 0x7F, lo, &[], Some(le))
}

/// `GET RESPONSE` after a `61xx`.
pub fn get_response(le: usize) -> Result<Command, ApduError> {
    Command::new(0x00, ins::GET_RESPONSE, 0x00, 0x00, &[], Some(le))
}

/// Upper-case hex without separators (logs, Debug).
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn builders_match_field_apdus() {
        // The byte strings reader code in the field sends.
        assert_eq!(hex(&select_fid(0xDDF1).encode()), "00A4000002DDF1");
        assert_eq!(hex(&select_fid(0xEF05).encode()), "00A4000002EF05");
        assert_eq!(
            hex(&select_name(b"sx1.sh.\xC9\xE7\xBB\xE1\xB1\xA3\xD5\xCF")
                .unwrap()
                .encode()),
            "00A404000F7378312E73682EC9E7BBE1B1A3D5CF"
        );
        assert_eq!(
            hex(&read_record_by_tag(0x08, 0x14).unwrap().encode()),
            "00B2080014"
        );
        assert_eq!(hex(&read_record(7, 5, 11).unwrap().encode()), "00B2072C0B");
        assert_eq!(hex(&read_record(1, 0, 256).unwrap().encode()), "00B2010400");
        assert_eq!(hex(&read_binary(0x0102, 2).unwrap().encode()), "00B0010202");
        assert_eq!(hex(&get_response(0x1E).unwrap().encode()), "00C000001E");
    }

    #[test]
    fn parses_all_four_cases() {
        let c1 = Command::parse(&unhex("00A40000")).unwrap();
        assert_eq!((c1.data(), c1.le()), (&[][..], None));
        let c2 = Command::parse(&unhex("00B2010400")).unwrap();
        assert_eq!((c2.p1(), c2.p2(), c2.le()), (1, 4, Some(256)));
        let c3 = Command::parse(&unhex("00A4000002DDF1")).unwrap();
        assert_eq!((c3.data(), c3.le()), (&[0xDD, 0xF1][..], None));
        let c4 = Command::parse(&unhex("00A4040002DDF11E")).unwrap();
        assert_eq!((c4.data(), c4.le()), (&[0xDD, 0xF1][..], Some(0x1E)));
        for c in [c1, c2, c3, c4] {
            assert_eq!(Command::parse(&c.encode()).unwrap(), c);
        }
    }

    #[test]
    fn rejects_malformed_commands() {
        assert_eq!(Command::parse(&[]), Err(ApduError::TooShort(0)));
        assert_eq!(Command::parse(&[0, 0xA4, 0]), Err(ApduError::TooShort(3)));
        assert_eq!(
            Command::parse(&unhex("00A40000000002DDF1")),
            Err(ApduError::Extended)
        );
        assert_eq!(
            Command::parse(&unhex("00A4000003DDF1")),
            Err(ApduError::LengthMismatch { lc: 3, body: 2 })
        );
        assert_eq!(
            Command::new(0, 0xB0, 0, 0, &[], Some(257)),
            Err(ApduError::BadLe(257))
        );
        assert_eq!(
            Command::new(0, 0xD6, 0, 0, &[0; 256], None),
            Err(ApduError::DataTooLong(256))
        );
        assert!(select_name(&[]).is_err());
        assert!(select_name(&[0x41; 17]).is_err());
    }

    #[test]
    fn responses_split_status_words() {
        let r = Response::parse(&[1, 2, 0x90, 0x00]).unwrap();
        assert!(r.is_ok());
        assert_eq!(r.data, vec![1, 2]);
        assert_eq!(
            Response::parse(&[0x6A, 0x82]).unwrap().sw(),
            sw::FILE_NOT_FOUND
        );
        assert_eq!(Response::parse(&[0x90]), Err(ApduError::NoStatusWord(1)));
        assert_eq!(Response::status(0x6C12).encode(), vec![0x6C, 0x12]);
        assert_eq!(
            format!("{:?}", Response::ok(vec![0x41; 3])),
            "Response(3 bytes, 9000)"
        );
    }
}

//! The 2nd-generation resident ID card reader's SAM serial protocol: frames,
//! status words and the base-information text layout (GA 467 readers).
//!
//! Frame: `AA AA AA 96 69`, length (2 bytes, big-endian: every byte after it
//! up to and including the checksum), body, checksum (XOR of every byte from
//! the length up to the byte before the checksum).
//! Request body: CMD, PARA, data. Response body: SW1 `00`, SW2 `00`, SW3, data.

use std::fmt;

pub const PREAMBLE: [u8; 5] = [0xAA, 0xAA, 0xAA, 0x96, 0x69];
/// Longest frame a reader sends (base info + fingerprint is about 2.3 KB).
pub const MAX_LEN: usize = 4096;

/// Commands (CMD, PARA).
pub mod cmd {
    pub const RESET_SAM: (u8, u8) = (0x10, 0xFF);
    pub const SAM_STATUS: (u8, u8) = (0x11, 0xFF);
    pub const SAM_ID: (u8, u8) = (0x12, 0xFF);
    pub const FIND_CARD: (u8, u8) = (0x20, 0x01);
    pub const SELECT_CARD: (u8, u8) = (0x20, 0x02);
    pub const READ_BASE: (u8, u8) = (0x30, 0x01);
    pub const READ_BASE_FP: (u8, u8) = (0x30, 0x10);
    pub const READ_NEW_ADDRESS: (u8, u8) = (0x30, 0x03);
}

/// SW3 status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    NoContent,
    CardFound,
    ChecksumError,
    LengthError,
    BadCommand,
    NotAllowed,
    CardAuthFailed,
    SamAuthFailed,
    VerifyError,
    UnknownCard,
    ReadFailed,
    SamSelfTestFailed,
    SamNotAuthorised,
    NoCard,
    SelectFailed,
    Other(u8),
}

impl Status {
    pub fn from_byte(b: u8) -> Status {
        match b {
            0x90 => Status::Ok,
            0x91 => Status::NoContent,
            0x9F => Status::CardFound,
            0x10 => Status::ChecksumError,
            0x11 => Status::LengthError,
            0x21 => Status::BadCommand,
            0x23 => Status::NotAllowed,
            0x31 => Status::CardAuthFailed,
            0x32 => Status::SamAuthFailed,
            0x33 => Status::VerifyError,
            0x40 => Status::UnknownCard,
            0x41 => Status::ReadFailed,
            0x60 => Status::SamSelfTestFailed,
            0x66 => Status::SamNotAuthorised,
            0x80 => Status::NoCard,
            0x81 => Status::SelectFailed,
            other => Status::Other(other),
        }
    }

    pub fn byte(self) -> u8 {
        match self {
            Status::Ok => 0x90,
            Status::NoContent => 0x91,
            Status::CardFound => 0x9F,
            Status::ChecksumError => 0x10,
            Status::LengthError => 0x11,
            Status::BadCommand => 0x21,
            Status::NotAllowed => 0x23,
            Status::CardAuthFailed => 0x31,
            Status::SamAuthFailed => 0x32,
            Status::VerifyError => 0x33,
            Status::UnknownCard => 0x40,
            Status::ReadFailed => 0x41,
            Status::SamSelfTestFailed => 0x60,
            Status::SamNotAuthorised => 0x66,
            Status::NoCard => 0x80,
            Status::SelectFailed => 0x81,
            Status::Other(b) => b,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame shorter than its header ({0} bytes)")]
    Short(usize),
    #[error("no AA AA AA 96 69 preamble")]
    Preamble,
    #[error("length field says {declared} bytes, {available} follow")]
    Length { declared: usize, available: usize },
    #[error("length {0} is outside 3..={MAX_LEN}")]
    BadLength(usize),
    #[error("checksum {found:02X}, computed {computed:02X}")]
    Checksum { found: u8, computed: u8 },
    #[error("response status words {0:02X} {1:02X} are not 00 00")]
    StatusWords(u8, u8),
}

fn xor(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |a, b| a ^ b)
}

/// Build a frame around `body`.
pub fn encode(body: &[u8]) -> Vec<u8> {
    let len = body.len() + 1;
    let mut f = Vec::with_capacity(PREAMBLE.len() + 2 + len);
    f.extend_from_slice(&PREAMBLE);
    f.extend_from_slice(&(len as u16).to_be_bytes());
    f.extend_from_slice(body);
    let sum = xor(&f[PREAMBLE.len()..]);
    f.push(sum);
    f
}

/// A request frame.
pub fn request((command, para): (u8, u8), data: &[u8]) -> Vec<u8> {
    let mut body = vec![command, para];
    body.extend_from_slice(data);
    encode(&body)
}

/// A response frame (as the reader, or its simulator, sends it).
pub fn response(status: Status, data: &[u8]) -> Vec<u8> {
    let mut body = vec![0x00, 0x00, status.byte()];
    body.extend_from_slice(data);
    encode(&body)
}

/// Find one complete frame at the start of `buf` (after skipping garbage up to
/// a preamble). `Ok(None)`: need more bytes. `Ok(Some((consumed, body)))`.
pub fn decode(buf: &[u8]) -> Result<Option<(usize, Vec<u8>)>, FrameError> {
    let Some(start) = buf.windows(PREAMBLE.len()).position(|w| w == PREAMBLE) else {
        // Keep waiting while the tail could still be the start of a preamble.
        let partial = (1..PREAMBLE.len()).any(|k| buf.ends_with(&PREAMBLE[..k]));
        return if buf.len() < PREAMBLE.len() || partial {
            Ok(None)
        } else {
            Err(FrameError::Preamble)
        };
    };
    let f = &buf[start..];
    if f.len() < PREAMBLE.len() + 2 {
        return Ok(None);
    }
    let len = u16::from_be_bytes([f[5], f[6]]) as usize;
    if !(1..=MAX_LEN).contains(&len) {
        return Err(FrameError::BadLength(len));
    }
    let total = PREAMBLE.len() + 2 + len;
    if f.len() < total {
        return Ok(None);
    }
    let computed = xor(&f[PREAMBLE.len()..total - 1]);
    let found = f[total - 1];
    if computed != found {
        return Err(FrameError::Checksum { found, computed });
    }
    Ok(Some((
        start + total,
        f[PREAMBLE.len() + 2..total - 1].to_vec(),
    )))
}

/// A whole frame, nothing before or after: for tests and single reads.
pub fn decode_exact(frame: &[u8]) -> Result<Vec<u8>, FrameError> {
    if frame.len() < PREAMBLE.len() + 3 {
        return Err(FrameError::Short(frame.len()));
    }
    if frame[..PREAMBLE.len()] != PREAMBLE {
        return Err(FrameError::Preamble);
    }
    let len = u16::from_be_bytes([frame[5], frame[6]]) as usize;
    let available = frame.len() - PREAMBLE.len() - 2;
    if len != available {
        return Err(FrameError::Length {
            declared: len,
            available,
        });
    }
    match decode(frame)? {
        Some((_, body)) => Ok(body),
        None => Err(FrameError::Short(frame.len())),
    }
}

/// Split a response body into its status and data.
pub fn parse_response(body: &[u8]) -> Result<(Status, &[u8]), FrameError> {
    if body.len() < 3 {
        return Err(FrameError::Short(body.len()));
    }
    if body[0] != 0 || body[1] != 0 {
        return Err(FrameError::StatusWords(body[0], body[1]));
    }
    Ok((Status::from_byte(body[2]), &body[3..]))
}

/// The text of a card's base information, decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct CardText {
    pub name: String,
    /// `0` unknown, `1` male, `2` female, `9` unstated.
    pub sex: char,
    /// `01`–`56`, `97` other, `98` foreign origin.
    pub nation: String,
    /// `YYYYMMDD`
    pub birth: String,
    pub address: String,
    pub id_number: String,
    pub issuer: String,
    pub valid_from: String,
    /// `YYYYMMDD` or `长期` (permanent).
    pub valid_to: String,
}

impl fmt::Debug for CardText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Personal data: the Debug form shows only masked values.
        let masked: String = self
            .id_number
            .chars()
            .enumerate()
            .map(|(i, c)| if (4..14).contains(&i) { '*' } else { c })
            .collect();
        f.debug_struct("CardText")
            .field("id_number", &masked)
            .field("valid_to", &self.valid_to)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("base information is {0} bytes, expected at least 4 + 256")]
    Short(usize),
    #[error("text length {0} is not 256")]
    TextLength(usize),
    #[error("photo length {declared} but {available} bytes follow the text")]
    PhotoLength { declared: usize, available: usize },
    #[error("field {0} is not valid UCS-2")]
    Encoding(&'static str),
    #[error("this is a {0}, not a resident ID card (other layout)")]
    OtherCard(&'static str),
}

/// Field widths in bytes (UCS-2LE, space padded).
const FIELDS: [(&str, usize); 10] = [
    ("name", 30),
    ("sex", 2),
    ("nation", 4),
    ("birth", 16),
    ("address", 70),
    ("id_number", 36),
    ("issuer", 30),
    ("valid_from", 16),
    ("valid_to", 16),
    ("reserved", 36),
];

fn ucs2(field: &'static str, b: &[u8]) -> Result<String, TextError> {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let s = String::from_utf16(&units).map_err(|_| TextError::Encoding(field))?;
    Ok(s.trim_end_matches([' ', '\0']).to_string())
}

/// Decode the data of a READ_BASE answer: text length, photo length, 256
/// bytes of text, the photo (WLT, kept opaque and returned as is).
pub fn parse_base_info(data: &[u8]) -> Result<(CardText, Vec<u8>), TextError> {
    if data.len() < 4 + 256 {
        return Err(TextError::Short(data.len()));
    }
    let text_len = u16::from_be_bytes([data[0], data[1]]) as usize;
    let photo_len = u16::from_be_bytes([data[2], data[3]]) as usize;
    if text_len != 256 {
        return Err(TextError::TextLength(text_len));
    }
    let text = &data[4..260];
    let available = data.len() - 260;
    if photo_len > available {
        return Err(TextError::PhotoLength {
            declared: photo_len,
            available,
        });
    }
    match (text[248], text[249]) {
        (b'I', 0) => return Err(TextError::OtherCard("foreign permanent resident card")),
        (b'J', 0) => {
            return Err(TextError::OtherCard(
                "Hong Kong/Macao/Taiwan residence permit",
            ))
        }
        _ => {}
    }
    let mut off = 0;
    let mut values = Vec::new();
    for (name, width) in FIELDS {
        values.push(ucs2(name, &text[off..off + width])?);
        off += width;
    }
    let card = CardText {
        name: values[0].clone(),
        sex: values[1].chars().next().unwrap_or('0'),
        nation: values[2].clone(),
        birth: values[3].clone(),
        address: values[4].clone(),
        id_number: values[5].clone(),
        issuer: values[6].clone(),
        valid_from: values[7].clone(),
        valid_to: values[8].clone(),
    };
    Ok((card, data[260..260 + photo_len].to_vec()))
}

/// Encode card text the way a card holds it (for the reader simulator).
pub fn encode_base_info(card: &CardText, photo: &[u8]) -> Vec<u8> {
    let sex = card.sex.to_string();
    let fields = [
        card.name.as_str(),
        sex.as_str(),
        card.nation.as_str(),
        card.birth.as_str(),
        card.address.as_str(),
        card.id_number.as_str(),
        card.issuer.as_str(),
        card.valid_from.as_str(),
        card.valid_to.as_str(),
        "",
    ];
    let mut text = Vec::with_capacity(256);
    for ((_, width), value) in FIELDS.iter().zip(fields) {
        let mut b: Vec<u8> = value.encode_utf16().flat_map(u16::to_le_bytes).collect();
        b.truncate(*width);
        while b.len() < *width {
            b.extend_from_slice(&[0x20, 0x00]);
        }
        text.extend_from_slice(&b);
    }
    let mut out = Vec::with_capacity(4 + 256 + photo.len());
    out.extend_from_slice(&256u16.to_be_bytes());
    out.extend_from_slice(&(photo.len() as u16).to_be_bytes());
    out.extend_from_slice(&text);
    out.extend_from_slice(photo);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_request_frames() {
        // Published frames (checksums computed, not copied).
        assert_eq!(
            request(cmd::FIND_CARD, &[]),
            [0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x03, 0x20, 0x01, 0x22]
        );
        assert_eq!(
            request(cmd::SELECT_CARD, &[]),
            [0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x03, 0x20, 0x02, 0x21]
        );
        assert_eq!(
            request(cmd::READ_BASE, &[]),
            [0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x03, 0x30, 0x01, 0x32]
        );
        assert_eq!(
            request(cmd::SAM_STATUS, &[]),
            [0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x03, 0x11, 0xFF, 0xED]
        );
    }

    #[test]
    fn decodes_across_garbage_and_partial_reads() {
        let f = response(Status::CardFound, &[0, 0, 0, 0, 0, 0, 0, 0]);
        let mut stream = vec![0x00, 0x13, 0x37];
        stream.extend_from_slice(&f);
        for cut in 0..stream.len() {
            let r = decode(&stream[..cut]);
            assert!(
                matches!(r, Ok(None) | Err(FrameError::Preamble)),
                "cut {cut}: {r:?}"
            );
        }
        let (used, body) = decode(&stream).unwrap().unwrap();
        assert_eq!(used, stream.len());
        assert_eq!(parse_response(&body).unwrap().0, Status::CardFound);
    }

    #[test]
    fn rejects_bad_frames_with_a_reason() {
        let mut f = request(cmd::FIND_CARD, &[]);
        let last = f.len() - 1;
        f[last] ^= 0xFF;
        assert!(matches!(decode_exact(&f), Err(FrameError::Checksum { .. })));
        assert_eq!(decode_exact(&[0xAA, 0xAA]), Err(FrameError::Short(2)));
        let mut g = request(cmd::FIND_CARD, &[]);
        g[0] = 0xAB;
        assert_eq!(decode_exact(&g), Err(FrameError::Preamble));
        let mut h = request(cmd::FIND_CARD, &[]);
        h.push(0);
        assert!(matches!(decode_exact(&h), Err(FrameError::Length { .. })));
        assert_eq!(
            decode(&[0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x00]),
            Err(FrameError::BadLength(0))
        );
        assert_eq!(
            parse_response(&[0x01, 0x00, 0x90]),
            Err(FrameError::StatusWords(1, 0))
        );
    }

    #[test]
    fn base_info_round_trips_with_chinese_text() {
        let card = CardText {
            name: "张小三".into(),
            sex: '1',
            nation: "01".into(),
            birth: "19900101".into(),
            address: "浙江省宁波市海曙区中山西路1号".into(),
            id_number: "330203199001011234".into(),
            issuer: "宁波市公安局海曙分局".into(),
            valid_from: "20150101".into(),
            valid_to: "长期".into(),
        };
        let photo = vec![0x57u8; 1024];
        let data = encode_base_info(&card, &photo);
        assert_eq!(data.len(), 4 + 256 + 1024);
        let (back, ph) = parse_base_info(&data).unwrap();
        assert_eq!(back, card);
        assert_eq!(ph, photo);
        assert!(!format!("{back:?}").contains("199001011234"));
        assert_eq!(parse_base_info(&data[..100]), Err(TextError::Short(100)));
        let mut foreign = data.clone();
        foreign[4 + 248] = b'I';
        foreign[4 + 249] = 0;
        assert!(matches!(
            parse_base_info(&foreign),
            Err(TextError::OtherCard(_))
        ));
    }
}

//! Where the two card families keep the holder's identity, and how each
//! field is coded. See `docs/health-card.md` for the sources.
//!
//! Both families store every data element as one record of a linear
//! record EF: `tag (1 byte) | length (1 byte) | value`, the tag doubling as
//! the ISO 7816-4 record identifier so `READ RECORD` with `P2 = 00` and
//! `P1 = tag` finds it whatever the record order.
//!
//! Codings (as the specifications name them):
//! - `an`: text, GB 2312 in the specifications; decoded as GB 18030 (a
//!   superset, so rare name characters survive), right-padded with `00`;
//! - `cn`: compressed numeric, BCD left-justified, right-padded with `F`;
//! - `b`: binary.

use super::HealthCardError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    An,
    Cn,
    B,
}

/// One data element: its tag, fixed length in bytes and coding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub tag: u8,
    pub len: usize,
    pub coding: Coding,
    pub name: &'static str,
}

const fn field(tag: u8, len: usize, coding: Coding, name: &'static str) -> Field {
    Field {
        tag,
        len,
        coding,
        name,
    }
}

/// 居民健康卡 (resident health card, 居民健康卡应用规范 V1.0): DF `DDF1`.
pub mod health {
    use super::{field, Coding::*, Field};

    pub const DDF1: u16 = 0xDDF1;
    /// 发卡机构基本数据文件: readable without authentication.
    pub const EF05: u16 = 0xEF05;
    /// 持卡人基本信息数据文件: reading needs the terminal authenticated with
    /// a health card PSAM (external authentication), otherwise `6982`.
    pub const EF06: u16 = 0xEF06;
    /// Photo (transparent EF), PSAM-protected like EF06.
    pub const EF07: u16 = 0xEF07;
    /// Expiry, phones, payment methods; PSAM-protected like EF06.
    pub const EF08: u16 = 0xEF08;

    pub const KLB: Field = field(0x01, 1, An, "card category (卡类别)");
    pub const GFBB: Field = field(0x02, 4, An, "specification version (规范版本)");
    pub const FKJGMC: Field = field(0x03, 30, An, "issuer name (发卡机构名称)");
    pub const FKJGDM: Field = field(0x04, 11, Cn, "issuer code (发卡机构代码)");
    pub const FKJGZS: Field = field(0x05, 180, B, "issuer certificate (发卡机构证书)");
    pub const FKSJ: Field = field(0x06, 4, Cn, "issue date (发卡时间)");
    pub const KH: Field = field(0x08, 18, An, "card number (卡号)");
    pub const AQM: Field = field(0x09, 3, An, "security code (安全码)");
    pub const XPXLH: Field = field(0x0A, 10, An, "chip serial (芯片序列号)");
    pub const YYCSDM: Field = field(0x39, 3, Cn, "city code (应用城市代码)");
    /// EF05 records in card order.
    pub const EF05_RECORDS: [Field; 10] = [
        KLB, GFBB, FKJGMC, FKJGDM, FKJGZS, FKSJ, KH, AQM, XPXLH, YYCSDM,
    ];

    pub const XM: Field = field(0x0B, 30, An, "name (姓名)");
    /// GB/T 2261.1 code as a binary byte (`01` male, `02` female).
    pub const XB: Field = field(0x0C, 1, B, "sex (性别)");
    pub const MZ: Field = field(0x0D, 1, Cn, "nation (民族)");
    pub const CSRQ: Field = field(0x0E, 4, Cn, "birth date (出生日期)");
    pub const SFZH: Field = field(0x0F, 18, An, "ID number (居民身份证号)");
    pub const EF06_RECORDS: [Field; 5] = [XM, XB, MZ, CSRQ, SFZH];

    pub const KYXQ: Field = field(0x07, 4, Cn, "expiry (卡有效期)");
    pub const BRDH1: Field = field(0x10, 20, An, "phone 1 (本人电话1)");
    pub const BRDH2: Field = field(0x11, 20, An, "phone 2 (本人电话2)");
    pub const YLFYZFFS1: Field = field(0x12, 1, Cn, "payment method 1");
    pub const YLFYZFFS2: Field = field(0x13, 1, Cn, "payment method 2");
    pub const YLFYZFFS3: Field = field(0x14, 1, Cn, "payment method 3");
    pub const EF08_RECORDS: [Field; 6] = [KYXQ, BRDH1, BRDH2, YLFYZFFS1, YLFYZFFS2, YLFYZFFS3];
}

/// 社会保障卡 (social security card): application `sx1.sh.社会保障`.
pub mod insurance {
    use super::{field, Coding::*, Field};

    /// The DF name `sx1.sh.社会保障` in GBK.
    pub const SSSE: &[u8] = b"sx1.sh.\xC9\xE7\xBB\xE1\xB1\xA3\xD5\xCF";
    /// 发卡机构数据文件.
    pub const EF05: u16 = 0xEF05;
    /// 持卡人基本信息文件.
    pub const EF06: u16 = 0xEF06;

    /// Card identification code; its first 3 bytes are the BCD code of the
    /// issuing area (统筹区编码), the rest is opaque here.
    pub const KSBM: Field = field(0x01, 16, B, "card identifier (卡的识别码)");
    pub const KLB: Field = field(0x02, 1, An, "card category (卡的类别)");
    pub const GFBB: Field = field(0x03, 4, An, "specification version (规范版本)");
    pub const CSHJGBH: Field = field(0x04, 12, B, "initialising body (初始化机构编号)");
    pub const FKRQ: Field = field(0x05, 4, Cn, "issue date (发卡日期)");
    pub const KYXQ: Field = field(0x06, 4, Cn, "expiry (卡有效期)");
    pub const KH: Field = field(0x07, 9, An, "card number (卡号)");
    pub const EF05_RECORDS: [Field; 7] = [KSBM, KLB, GFBB, CSHJGBH, FKRQ, KYXQ, KH];

    pub const SHBZHM: Field = field(0x08, 18, An, "social security number (社会保障号码)");
    pub const XM: Field = field(0x09, 30, An, "name (姓名)");
    /// GB/T 2261.1 code as an ASCII digit.
    pub const XB: Field = field(0x0A, 1, An, "sex (性别)");
    pub const MZ: Field = field(0x0B, 1, Cn, "nation (民族)");
    pub const CSD: Field = field(0x0C, 3, Cn, "birth place (出生地)");
    pub const CSRQ: Field = field(0x0D, 4, Cn, "birth date (出生日期)");
    pub const EF06_RECORDS: [Field; 6] = [SHBZHM, XM, XB, MZ, CSD, CSRQ];
}

fn malformed(field: &Field, what: impl std::fmt::Display) -> HealthCardError {
    HealthCardError::Malformed(format!("{}: {what}", field.name))
}

/// A record as the card stores it: tag, length, value.
pub fn record(field: &Field, value: &[u8]) -> Vec<u8> {
    let mut r = Vec::with_capacity(2 + value.len());
    r.push(field.tag);
    // Every layout field is at most 180 bytes.
    r.push(value.len().min(255) as u8);
    r.extend_from_slice(&value[..value.len().min(255)]);
    r
}

/// The value of a record read for `field`: checks the tag and that the
/// length byte fits the bytes received.
pub fn record_value<'a>(field: &Field, rec: &'a [u8]) -> Result<&'a [u8], HealthCardError> {
    let [tag, len, rest @ ..] = rec else {
        return Err(malformed(field, format!("record of {} bytes", rec.len())));
    };
    if *tag != field.tag {
        return Err(malformed(
            field,
            format!("record tag {tag:02X}, expected {:02X}", field.tag),
        ));
    }
    let len = usize::from(*len);
    if len > rest.len() {
        return Err(malformed(
            field,
            format!("length byte says {len}, {} bytes follow", rest.len()),
        ));
    }
    Ok(&rest[..len])
}

/// `an` text to its card form: GB 18030, cut at a character boundary to fit
/// `field.len`, right-padded with `00`.
pub fn encode_an(field: &Field, text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len);
    let mut buf = [0u8; 4];
    for ch in text.chars() {
        let (bytes, _, _) = encoding_rs::GB18030.encode(ch.encode_utf8(&mut buf));
        if out.len() + bytes.len() > field.len {
            break;
        }
        out.extend_from_slice(&bytes);
    }
    out.resize(field.len, 0x00);
    out
}

/// `an` card bytes to text: padding (`00`, `20`, `FF`) trimmed, strict
/// GB 18030 decoding (garbage is an error, not replacement characters).
pub fn decode_an(field: &Field, b: &[u8]) -> Result<String, HealthCardError> {
    let end = b
        .iter()
        .rposition(|&x| !matches!(x, 0x00 | 0x20 | 0xFF))
        .map_or(0, |i| i + 1);
    let text = encoding_rs::GB18030
        .decode_without_bom_handling_and_without_replacement(&b[..end])
        .ok_or_else(|| malformed(field, "not valid GB 18030 text"))?;
    if text.chars().any(char::is_control) {
        return Err(malformed(field, "control characters in text"));
    }
    Ok(text.trim().to_string())
}

/// Decimal digits to `cn`: BCD, left-justified, `F`-padded to `field.len`.
pub fn encode_cn(field: &Field, digits: &str) -> Result<Vec<u8>, HealthCardError> {
    if digits.len() > field.len * 2 {
        return Err(malformed(
            field,
            format!("{} digits do not fit", digits.len()),
        ));
    }
    let mut nibbles = Vec::with_capacity(field.len * 2);
    for c in digits.chars() {
        let d = c
            .to_digit(10)
            .ok_or_else(|| malformed(field, format!("{c:?} is not a digit")))?;
        nibbles.push(d as u8);
    }
    nibbles.resize(field.len * 2, 0x0F);
    Ok(nibbles.chunks(2).map(|p| p[0] << 4 | p[1]).collect())
}

/// `cn` to decimal digits: stops at the first `F` nibble; any other nibble
/// above 9 is an error.
pub fn decode_cn(field: &Field, b: &[u8]) -> Result<String, HealthCardError> {
    let mut s = String::with_capacity(b.len() * 2);
    for n in b.iter().flat_map(|x| [x >> 4, x & 0x0F]) {
        match n {
            0..=9 => s.push(char::from(b'0' + n)),
            0x0F => break,
            _ => return Err(malformed(field, format!("nibble {n:X} in BCD"))),
        }
    }
    Ok(s)
}

/// A `cn` date `YYYYMMDD`, plausibility-checked (month 01–12, day 01–31).
pub fn decode_date(field: &Field, b: &[u8]) -> Result<String, HealthCardError> {
    let d = decode_cn(field, b)?;
    if !is_date(&d) {
        return Err(malformed(field, format!("{d:?} is not a YYYYMMDD date")));
    }
    Ok(d)
}

/// `YYYYMMDD` with a plausible month and day.
pub fn is_date(d: &str) -> bool {
    if d.len() != 8 || !d.bytes().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let month: u32 = d[4..6].parse().unwrap_or(0);
    let day: u32 = d[6..8].parse().unwrap_or(0);
    (1..=12).contains(&month) && (1..=31).contains(&day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_round_trips_gb18030_including_four_byte_characters() {
        let f = health::XM;
        for name in ["张三", "李秀英", "陈䶮", "陈𠮷", "Zhang San", ""] {
            let b = encode_an(&f, name);
            assert_eq!(b.len(), 30);
            assert_eq!(decode_an(&f, &b).unwrap(), name);
        }
        // 张 is D5C5 in GBK; padding is 00.
        assert_eq!(&encode_an(&f, "张")[..3], &[0xD5, 0xC5, 0x00]);
        // 𠮷 (CJK extension B) takes four bytes in GB 18030.
        assert_eq!(
            encode_an(&f, "𠮷").iter().take_while(|&&b| b != 0).count(),
            4
        );
    }

    #[test]
    fn an_cuts_at_a_character_boundary() {
        let f = Field {
            len: 5,
            ..health::XM
        };
        // Three two-byte characters do not fit five bytes: keep two.
        let b = encode_an(&f, "张三丰");
        assert_eq!(decode_an(&f, &b).unwrap(), "张三");
    }

    #[test]
    fn an_rejects_garbage() {
        let f = health::XM;
        assert!(decode_an(&f, &[0xD5]).is_err(), "lone lead byte");
        assert!(decode_an(&f, &[0x41, 0x07, 0x42]).is_err(), "control char");
        assert_eq!(decode_an(&f, &[0x41, 0x20, 0xFF, 0x00]).unwrap(), "A");
    }

    #[test]
    fn cn_is_left_justified_and_f_padded() {
        let f = health::YYCSDM;
        assert_eq!(encode_cn(&f, "3302").unwrap(), vec![0x33, 0x02, 0xFF]);
        assert_eq!(decode_cn(&f, &[0x33, 0x02, 0xFF]).unwrap(), "3302");
        assert_eq!(encode_cn(&health::MZ, "01").unwrap(), vec![0x01]);
        assert!(encode_cn(&f, "1234567").is_err());
        assert!(encode_cn(&f, "12a").is_err());
        assert!(decode_cn(&f, &[0x3A]).is_err());
        assert_eq!(
            decode_date(&health::CSRQ, &[0x19, 0x85, 0x03, 0x15]).unwrap(),
            "19850315"
        );
        assert!(decode_date(&health::CSRQ, &[0x19, 0x85, 0x13, 0x15]).is_err());
        assert!(decode_date(&health::CSRQ, &[0x19, 0x85, 0xFF, 0xFF]).is_err());
    }

    #[test]
    fn records_carry_their_tag() {
        let r = record(&health::KH, b"330203198503152315");
        assert_eq!(&r[..2], &[0x08, 18]);
        assert_eq!(
            record_value(&health::KH, &r).unwrap(),
            b"330203198503152315"
        );
        assert!(record_value(&health::AQM, &r).is_err(), "wrong tag");
        assert!(record_value(&health::KH, &r[..10]).is_err(), "short");
        assert!(record_value(&health::KH, &[0x08]).is_err());
    }

    #[test]
    fn tags_are_unique_within_each_ef() {
        for set in [
            &health::EF05_RECORDS[..],
            &health::EF06_RECORDS[..],
            &health::EF08_RECORDS[..],
            &insurance::EF05_RECORDS[..],
            &insurance::EF06_RECORDS[..],
        ] {
            for (i, a) in set.iter().enumerate() {
                assert!(set[i + 1..].iter().all(|b| b.tag != a.tag), "{}", a.name);
            }
        }
        assert_eq!(insurance::SSSE.len(), 15);
    }
}

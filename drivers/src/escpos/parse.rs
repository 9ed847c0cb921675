//! Parse ESC/POS bytes back into what a person would see on the paper: the
//! printer simulator uses it, and tests read slips through it.
//!
//! Text is decoded from GB18030 (the Chinese mode entered with `FS &`; ASCII
//! is the same in both). Unknown commands are an error, never skipped
//! silently, so a driver bug shows up in tests.

use encoding_rs::GB18030;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Align {
    #[default]
    Left,
    Center,
    Right,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    pub bold: bool,
    /// Width and height multipliers (1..=8).
    pub size: (u8, u8),
    pub align: Align,
}

/// Something printed other than text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    Qr(String),
    Barcode { system: u8, data: String },
    Image { width_bytes: usize, height: usize },
    Cut,
}

/// A printed job as a sequence of lines and marks, in paper order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Receipt {
    pub items: Vec<Item>,
    /// `DLE EOT n` status requests seen (the printer answers them).
    pub status_requests: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Line(Line),
    Mark(Mark),
}

impl Receipt {
    pub fn lines(&self) -> impl Iterator<Item = &Line> {
        self.items.iter().filter_map(|i| match i {
            Item::Line(l) => Some(l),
            _ => None,
        })
    }
    pub fn text(&self) -> String {
        self.lines()
            .map(|l| l.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
    pub fn qr_codes(&self) -> Vec<&str> {
        self.items
            .iter()
            .filter_map(|i| match i {
                Item::Mark(Mark::Qr(s)) => Some(s.as_str()),
                _ => None,
            })
            .collect()
    }
    pub fn cuts(&self) -> usize {
        self.items
            .iter()
            .filter(|i| matches!(i, Item::Mark(Mark::Cut)))
            .count()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("command cut off at byte {0}")]
    Truncated(usize),
    #[error("unknown command {0:02X?} at byte {1}")]
    Unknown(Vec<u8>, usize),
    #[error("text at byte {0} is not valid GB18030")]
    Encoding(usize),
}

#[derive(Default)]
struct Style {
    bold: bool,
    size: (u8, u8),
    align: Align,
}

/// Parse a whole job. Incomplete trailing commands are an error.
pub fn parse(bytes: &[u8]) -> Result<Receipt, ParseError> {
    let mut r = Receipt::default();
    let mut style = Style {
        size: (1, 1),
        ..Style::default()
    };
    let mut text: Vec<u8> = Vec::new();
    let mut text_start = 0;
    let mut qr_data: Option<String> = None;
    let mut i = 0;
    let need = |i: usize, n: usize| {
        if i + n <= bytes.len() {
            Ok(())
        } else {
            Err(ParseError::Truncated(i))
        }
    };

    fn flush(
        r: &mut Receipt,
        text: &mut Vec<u8>,
        style: &Style,
        at: usize,
        force: bool,
    ) -> Result<(), ParseError> {
        if text.is_empty() && !force {
            return Ok(());
        }
        let (s, _, bad) = GB18030.decode(text);
        if bad {
            return Err(ParseError::Encoding(at));
        }
        r.items.push(Item::Line(Line {
            text: s.into_owned(),
            bold: style.bold,
            size: style.size,
            align: style.align,
        }));
        text.clear();
        Ok(())
    }

    while i < bytes.len() {
        let b = bytes[i];
        match b {
            0x0A => {
                flush(&mut r, &mut text, &style, text_start, true)?;
                i += 1;
                text_start = i;
            }
            0x0D => i += 1,
            0x1B => {
                need(i, 2)?;
                let c = bytes[i + 1];
                match c {
                    b'@' => {
                        flush(&mut r, &mut text, &style, text_start, false)?;
                        style = Style {
                            size: (1, 1),
                            ..Style::default()
                        };
                        i += 2;
                    }
                    b'!' => {
                        need(i, 3)?;
                        let n = bytes[i + 2];
                        style.bold = n & 0x08 != 0;
                        style.size = (
                            if n & 0x20 != 0 { 2 } else { 1 },
                            if n & 0x10 != 0 { 2 } else { 1 },
                        );
                        i += 3;
                    }
                    b'E' | b'G' => {
                        need(i, 3)?;
                        style.bold = bytes[i + 2] & 1 == 1;
                        i += 3;
                    }
                    b'a' => {
                        need(i, 3)?;
                        style.align = match bytes[i + 2] {
                            1 | b'1' => Align::Center,
                            2 | b'2' => Align::Right,
                            _ => Align::Left,
                        };
                        i += 3;
                    }
                    b'd' => {
                        need(i, 3)?;
                        flush(&mut r, &mut text, &style, text_start, false)?;
                        for _ in 0..bytes[i + 2] {
                            r.items.push(Item::Line(Line {
                                text: String::new(),
                                bold: false,
                                size: (1, 1),
                                align: Align::Left,
                            }));
                        }
                        i += 3;
                    }
                    b'-' | b'M' | b'3' | b'J' | b'R' | b't' | b'{' | b'V' => {
                        need(i, 3)?;
                        i += 3;
                    }
                    b'2' => i += 2,
                    _ => return Err(ParseError::Unknown(vec![b, c], i)),
                }
                text_start = i;
            }
            0x1C => {
                need(i, 2)?;
                match bytes[i + 1] {
                    b'&' | b'.' => i += 2,
                    b'!' | b'-' | b'W' => {
                        need(i, 3)?;
                        i += 3;
                    }
                    c => return Err(ParseError::Unknown(vec![b, c], i)),
                }
                text_start = i;
            }
            0x1D => {
                need(i, 2)?;
                let c = bytes[i + 1];
                match c {
                    b'!' => {
                        need(i, 3)?;
                        let n = bytes[i + 2];
                        style.size = (((n >> 4) & 0x07) + 1, (n & 0x07) + 1);
                        i += 3;
                    }
                    b'V' => {
                        need(i, 3)?;
                        flush(&mut r, &mut text, &style, text_start, false)?;
                        let m = bytes[i + 2];
                        i += if m == 65 || m == 66 || m == 97 || m == 98 {
                            4
                        } else {
                            3
                        };
                        need(i, 0)?;
                        r.items.push(Item::Mark(Mark::Cut));
                    }
                    b'B' | b'H' | b'f' | b'h' | b'w' | b'b' | b'r' => {
                        need(i, 3)?;
                        i += 3;
                    }
                    b'L' | b'W' => {
                        need(i, 4)?;
                        i += 4;
                    }
                    b'(' => {
                        need(i, 5)?;
                        let fnk = bytes[i + 2];
                        let len = u16::from_le_bytes([bytes[i + 3], bytes[i + 4]]) as usize;
                        need(i + 5, len)?;
                        let p = &bytes[i + 5..i + 5 + len];
                        if fnk == b'k' && p.len() >= 2 && p[0] == 49 {
                            match p[1] {
                                80 => {
                                    let data = p.get(3..).unwrap_or_default();
                                    qr_data = Some(String::from_utf8_lossy(data).into_owned());
                                }
                                81 => {
                                    flush(&mut r, &mut text, &style, text_start, false)?;
                                    if let Some(d) = qr_data.take() {
                                        r.items.push(Item::Mark(Mark::Qr(d)));
                                    }
                                }
                                _ => {}
                            }
                        }
                        i += 5 + len;
                    }
                    b'k' => {
                        need(i, 3)?;
                        flush(&mut r, &mut text, &style, text_start, false)?;
                        let m = bytes[i + 2];
                        if m <= 6 {
                            let start = i + 3;
                            let end = bytes[start..]
                                .iter()
                                .position(|&x| x == 0)
                                .ok_or(ParseError::Truncated(i))?
                                + start;
                            r.items.push(Item::Mark(Mark::Barcode {
                                system: m,
                                data: String::from_utf8_lossy(&bytes[start..end]).into_owned(),
                            }));
                            i = end + 1;
                        } else {
                            need(i, 4)?;
                            let n = bytes[i + 3] as usize;
                            need(i + 4, n)?;
                            let data = &bytes[i + 4..i + 4 + n];
                            // CODE128 data starts with a code-set selector `{B`.
                            let data = data.strip_prefix(b"{B").unwrap_or(data);
                            r.items.push(Item::Mark(Mark::Barcode {
                                system: m,
                                data: String::from_utf8_lossy(data).into_owned(),
                            }));
                            i += 4 + n;
                        }
                    }
                    b'v' => {
                        need(i, 8)?;
                        flush(&mut r, &mut text, &style, text_start, false)?;
                        let x = u16::from_le_bytes([bytes[i + 4], bytes[i + 5]]) as usize;
                        let y = u16::from_le_bytes([bytes[i + 6], bytes[i + 7]]) as usize;
                        need(i + 8, x * y)?;
                        r.items.push(Item::Mark(Mark::Image {
                            width_bytes: x,
                            height: y,
                        }));
                        i += 8 + x * y;
                    }
                    _ => return Err(ParseError::Unknown(vec![b, c], i)),
                }
                text_start = i;
            }
            0x10 => {
                need(i, 3)?;
                if bytes[i + 1] != 0x04 {
                    return Err(ParseError::Unknown(bytes[i..i + 2].to_vec(), i));
                }
                r.status_requests.push(bytes[i + 2]);
                i += 3;
                text_start = i;
            }
            0x00..=0x1F => return Err(ParseError::Unknown(vec![b], i)),
            _ => {
                if text.is_empty() {
                    text_start = i;
                }
                text.push(b);
                i += 1;
            }
        }
    }
    flush(&mut r, &mut text, &style, text_start, false)?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gb(s: &str) -> Vec<u8> {
        GB18030.encode(s).0.into_owned()
    }

    #[test]
    fn reads_chinese_text_styles_qr_and_cut() {
        let mut b = vec![
            0x1B, b'@', 0x1C, b'&', 0x1B, b'a', 1, 0x1D, b'!', 0x11, 0x1B, b'E', 1,
        ];
        b.extend(gb("宁波市第一人民医院"));
        b.push(b'\n');
        b.extend([0x1D, b'!', 0x00, 0x1B, b'E', 0, 0x1B, b'a', 0]);
        b.extend(gb("科室: 眼科  费用: ¥15.00"));
        b.push(b'\n');
        let data = b"https://h.example/v/1";
        let len = (data.len() + 3) as u16;
        b.extend([0x1D, b'(', b'k']);
        b.extend(len.to_le_bytes());
        b.extend([49, 80, 48]);
        b.extend(data);
        b.extend([0x1D, b'(', b'k', 3, 0, 49, 81, 48]);
        b.extend([0x1D, b'k', 73, 9, b'{', b'B']);
        b.extend(b"V000123");
        b.extend([0x10, 0x04, 1, 0x1B, b'd', 2, 0x1D, b'V', 66, 0]);
        let r = parse(&b).unwrap();
        let lines: Vec<&Line> = r.lines().collect();
        assert_eq!(lines[0].text, "宁波市第一人民医院");
        assert!(lines[0].bold);
        assert_eq!(lines[0].size, (2, 2));
        assert_eq!(lines[0].align, Align::Center);
        assert_eq!(lines[1].text, "科室: 眼科  费用: ¥15.00");
        assert!(!lines[1].bold);
        assert_eq!(r.qr_codes(), vec!["https://h.example/v/1"]);
        assert!(r.items.contains(&Item::Mark(Mark::Barcode {
            system: 73,
            data: "V000123".into()
        })));
        assert_eq!(r.status_requests, vec![1]);
        assert_eq!(r.cuts(), 1);
    }

    #[test]
    fn errors_instead_of_guessing() {
        assert_eq!(parse(&[0x1B]), Err(ParseError::Truncated(0)));
        assert_eq!(
            parse(&[b'a', 0x1D, b'(', b'k', 10, 0, 49]),
            Err(ParseError::Truncated(6))
        );
        assert!(matches!(
            parse(&[0x1B, 0x99]),
            Err(ParseError::Unknown(_, 0))
        ));
        assert!(matches!(parse(&[0x07]), Err(ParseError::Unknown(_, 0))));
        assert_eq!(parse(&[0x81, 0x0A]), Err(ParseError::Encoding(0)));
    }
}

//! A receipt as a list of styled lines, QR codes, barcodes and cuts, laid out
//! for a paper width in columns (80 mm: 48, 58 mm: 32), and its ESC/POS bytes.

use super::parse::Align;
use encoding_rs::GB18030;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    Text {
        text: String,
        bold: bool,
        double: bool,
        align: Align,
    },
    Qr(String),
    /// CODE128.
    Barcode(String),
    Feed(u8),
    Cut,
}

/// A receipt for a paper `columns` wide (in half-width characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doc {
    pub columns: usize,
    pub blocks: Vec<Block>,
}

/// Columns a string takes: CJK and other wide characters take two.
pub fn display_width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

fn char_width(c: char) -> usize {
    let u = c as u32;
    let wide = matches!(u,
        0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6 | 0x20000..=0x3FFFD);
    if wide {
        2
    } else {
        1
    }
}

/// Break `s` into lines of at most `width` columns (never splitting a character).
pub fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = char_width(c);
        if w + cw > width && !cur.is_empty() {
            lines.push(std::mem::take(&mut cur));
            w = 0;
        }
        cur.push(c);
        w += cw;
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    lines
}

impl Doc {
    pub fn new(columns: usize) -> Doc {
        Doc {
            columns,
            blocks: Vec::new(),
        }
    }

    fn push_text(&mut self, text: String, bold: bool, double: bool, align: Align) {
        self.blocks.push(Block::Text {
            text,
            bold,
            double,
            align,
        });
    }

    /// A title: bold and centred, double size when it fits on one line.
    pub fn title(&mut self, s: &str) -> &mut Self {
        self.big(s)
    }

    pub fn center(&mut self, s: &str) -> &mut Self {
        for l in wrap(s, self.columns) {
            self.push_text(l, false, false, Align::Center);
        }
        self
    }

    pub fn text(&mut self, s: &str) -> &mut Self {
        for l in wrap(s, self.columns) {
            self.push_text(l, false, false, Align::Left);
        }
        self
    }

    pub fn bold(&mut self, s: &str) -> &mut Self {
        for l in wrap(s, self.columns) {
            self.push_text(l, true, false, Align::Left);
        }
        self
    }

    /// Large and bold, for what matters most (queue number, room). Falls
    /// back to normal size rather than break a short name over two lines.
    pub fn big(&mut self, s: &str) -> &mut Self {
        let double = display_width(s) * 2 <= self.columns;
        let width = if double {
            self.columns / 2
        } else {
            self.columns
        };
        for l in wrap(s, width) {
            self.push_text(l, true, double, Align::Center);
        }
        self
    }

    /// `label ........ value` on one line; the label wraps if both do not fit.
    pub fn pair(&mut self, label: &str, value: &str) -> &mut Self {
        let (lw, vw) = (display_width(label), display_width(value));
        if lw + vw < self.columns {
            let pad = self.columns - lw - vw;
            self.push_text(
                format!("{label}{}{value}", " ".repeat(pad)),
                false,
                false,
                Align::Left,
            );
        } else {
            self.text(label);
            for l in wrap(value, self.columns) {
                self.push_text(l, false, false, Align::Right);
            }
        }
        self
    }

    pub fn rule(&mut self) -> &mut Self {
        self.push_text("-".repeat(self.columns), false, false, Align::Left);
        self
    }

    pub fn qr(&mut self, data: &str) -> &mut Self {
        self.blocks.push(Block::Qr(data.to_string()));
        self
    }

    pub fn barcode(&mut self, data: &str) -> &mut Self {
        self.blocks.push(Block::Barcode(data.to_string()));
        self
    }

    pub fn feed(&mut self, n: u8) -> &mut Self {
        self.blocks.push(Block::Feed(n));
        self
    }

    pub fn cut(&mut self) -> &mut Self {
        self.blocks.push(Block::Cut);
        self
    }

    /// The lines of text as they will read on paper (for previews and tests).
    pub fn plain_text(&self) -> String {
        let mut out = Vec::new();
        for b in &self.blocks {
            match b {
                Block::Text { text, .. } => out.push(text.clone()),
                Block::Qr(d) => out.push(format!("[QR {d}]")),
                Block::Barcode(d) => out.push(format!("[BARCODE {d}]")),
                Block::Feed(n) => out.extend((0..*n).map(|_| String::new())),
                Block::Cut => out.push("[CUT]".into()),
            }
        }
        out.join("\n")
    }

    /// ESC/POS bytes: initialise, Chinese mode (`FS &`), GB18030 text.
    pub fn to_escpos(&self) -> Vec<u8> {
        let mut b = vec![0x1B, b'@', 0x1C, b'&'];
        for block in &self.blocks {
            match block {
                Block::Text {
                    text,
                    bold,
                    double,
                    align,
                } => {
                    b.extend([0x1B, b'a', *align as u8]);
                    b.extend([0x1B, b'E', u8::from(*bold)]);
                    b.extend([0x1D, b'!', if *double { 0x11 } else { 0x00 }]);
                    b.extend_from_slice(&GB18030.encode(text).0);
                    b.push(b'\n');
                }
                Block::Qr(data) => {
                    b.extend([0x1B, b'a', 1]);
                    // Model 2, module size 6, error correction M, store, print.
                    b.extend([0x1D, b'(', b'k', 4, 0, 49, 65, 50, 0]);
                    b.extend([0x1D, b'(', b'k', 3, 0, 49, 67, 6]);
                    b.extend([0x1D, b'(', b'k', 3, 0, 49, 69, 49]);
                    let len = (data.len() + 3) as u16;
                    b.extend([0x1D, b'(', b'k']);
                    b.extend(len.to_le_bytes());
                    b.extend([49, 80, 48]);
                    b.extend_from_slice(data.as_bytes());
                    b.extend([0x1D, b'(', b'k', 3, 0, 49, 81, 48]);
                    b.push(b'\n');
                }
                Block::Barcode(data) => {
                    b.extend([0x1B, b'a', 1, 0x1D, b'h', 80, 0x1D, b'w', 2, 0x1D, b'H', 2]);
                    let payload = [b"{B".as_slice(), data.as_bytes()].concat();
                    b.extend([0x1D, b'k', 73, payload.len() as u8]);
                    b.extend(payload);
                    b.push(b'\n');
                }
                Block::Feed(n) => b.extend([0x1B, b'd', *n]),
                Block::Cut => b.extend([0x1B, b'd', 3, 0x1D, b'V', 66, 0]),
            }
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse;
    use super::*;

    #[test]
    fn widths_count_chinese_as_two() {
        assert_eq!(display_width("眼科 305"), 8);
        assert_eq!(display_width("¥15.00"), 6);
        assert_eq!(
            wrap("浙江省宁波市海曙区", 8),
            vec!["浙江省宁", "波市海曙", "区"]
        );
        assert_eq!(wrap("", 8), vec![""]);
    }

    #[test]
    fn pairs_fill_the_line_exactly() {
        for cols in [48, 32] {
            let mut d = Doc::new(cols);
            d.pair("费用 Fee", "¥15.00");
            let Block::Text { text, .. } = &d.blocks[0] else {
                panic!()
            };
            assert_eq!(display_width(text), cols);
        }
        let mut d = Doc::new(32);
        d.pair(
            "就诊地点 Location",
            "门诊楼3楼东区305诊室 Outpatient building",
        );
        assert!(d.blocks.len() > 2);
        for b in &d.blocks {
            let Block::Text { text, .. } = b else {
                panic!()
            };
            assert!(display_width(text) <= 32, "{text}");
        }
    }

    #[test]
    fn round_trips_through_the_parser() {
        let mut d = Doc::new(48);
        d.title("宁波市第一人民医院")
            .pair("科室", "眼科")
            .qr("V000123")
            .barcode("V000123")
            .cut();
        let r = parse(&d.to_escpos()).unwrap();
        let lines: Vec<String> = r
            .lines()
            .map(|l| l.text.clone())
            .filter(|t| !t.is_empty())
            .collect();
        assert_eq!(lines[0], "宁波市第一人民医院");
        assert!(lines[1].starts_with("科室") && lines[1].ends_with("眼科"));
        assert_eq!(r.qr_codes(), vec!["V000123"]);
        assert_eq!(r.cuts(), 1);
    }
}

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
    /// CODE39 (digits, upper-case letters, `-. $/+%`): visit and report numbers.
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

/// Text as the printer's GB font has it, and nothing else:
/// - control characters are dropped (tabs and line ends become spaces), so a
///   string from outside (a HIS field) can never carry printer commands;
/// - the yen/yuan sign U+00A5 is a 4-byte GB18030 sequence that GB2312/GBK
///   printer fonts lack: it prints as the full-width ￥ (GBK `A3 A4`);
/// - U+E5E5, the one code point GB18030 cannot encode, becomes `?`.
pub fn for_paper(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            '\t' | '\n' | '\r' => Some(' '),
            c if c.is_control() => None,
            '\u{A5}' => Some('\u{FFE5}'),
            '\u{E5E5}' => Some('?'),
            c => Some(c),
        })
        .collect()
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
        for l in wrap(&for_paper(s), self.columns) {
            self.push_text(l, false, false, Align::Center);
        }
        self
    }

    pub fn text(&mut self, s: &str) -> &mut Self {
        for l in wrap(&for_paper(s), self.columns) {
            self.push_text(l, false, false, Align::Left);
        }
        self
    }

    pub fn bold(&mut self, s: &str) -> &mut Self {
        for l in wrap(&for_paper(s), self.columns) {
            self.push_text(l, true, false, Align::Left);
        }
        self
    }

    /// Large and bold, for what matters most (queue number, room). Falls
    /// back to normal size rather than break a short name over two lines.
    pub fn big(&mut self, s: &str) -> &mut Self {
        let s = &for_paper(s);
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
        let (label, value) = (&for_paper(label), &for_paper(value));
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

    /// A CODE39 barcode; letters are upper-cased (CODE39 has no lower case).
    pub fn barcode(&mut self, data: &str) -> &mut Self {
        self.blocks.push(Block::Barcode(data.to_ascii_uppercase()));
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

    /// ESC/POS bytes, encoded by the `escpos` crate: initialise, Chinese
    /// mode (`FS &`, which the crate lacks, sent as custom bytes), GB18030
    /// text, QR (model 2, module 6, level M) and CODE39 barcodes, feed and cut.
    pub fn to_escpos(&self) -> Result<Vec<u8>, EncodeError> {
        use escpos::printer::Printer;
        use escpos::utils::*;
        let capture = Capture::default();
        let protocol = Protocol::new(Encoder::new(GB18030));
        let mut p = Printer::new(capture.clone(), protocol, None);
        p.init()?.custom(&[0x1C, b'&'])?;
        for block in &self.blocks {
            match block {
                Block::Text {
                    text,
                    bold,
                    double,
                    align,
                } => {
                    p.justify(justify(*align))?.bold(*bold)?;
                    if *double {
                        p.size(2, 2)?;
                    } else {
                        p.reset_size()?;
                    }
                    p.writeln(text)?;
                }
                Block::Qr(data) => {
                    let opt = QRCodeOption::new(QRCodeModel::Model2, 6, QRCodeCorrectionLevel::M);
                    p.justify(JustifyMode::CENTER)?
                        .qrcode_option(data, opt)?
                        .feed()?;
                }
                Block::Barcode(data) => {
                    let opt = BarcodeOption::new(
                        BarcodeWidth::M,
                        BarcodeHeight::M,
                        BarcodeFont::A,
                        BarcodePosition::Below,
                    );
                    p.justify(JustifyMode::CENTER)?
                        .code39_option(data, opt)?
                        .feed()?;
                }
                Block::Feed(n) => {
                    p.feeds(*n)?;
                }
                Block::Cut => {
                    p.feeds(3)?.cut()?;
                }
            }
        }
        p.print()?;
        let bytes = capture.0.borrow().clone();
        Ok(bytes)
    }
}

fn justify(a: Align) -> escpos::utils::JustifyMode {
    match a {
        Align::Left => escpos::utils::JustifyMode::LEFT,
        Align::Center => escpos::utils::JustifyMode::CENTER,
        Align::Right => escpos::utils::JustifyMode::RIGHT,
    }
}

/// A slip the encoder refused (a barcode with characters CODE39 lacks).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode the slip: {0}")]
pub struct EncodeError(pub String);

impl From<escpos::errors::PrinterError> for EncodeError {
    fn from(e: escpos::errors::PrinterError) -> Self {
        EncodeError(e.to_string())
    }
}

/// An `escpos` driver that keeps the bytes instead of sending them: the
/// transports (and their status) are ours, the encoding is the crate's.
#[derive(Clone, Default)]
struct Capture(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl escpos::driver::Driver for Capture {
    fn name(&self) -> String {
        "capture".into()
    }
    fn write(&self, data: &[u8]) -> escpos::errors::Result<()> {
        self.0.borrow_mut().extend_from_slice(data);
        Ok(())
    }
    fn read(&self, _buf: &mut [u8]) -> escpos::errors::Result<usize> {
        Ok(0)
    }
    fn flush(&self) -> escpos::errors::Result<()> {
        Ok(())
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
            assert!(d.plain_text().contains("￥15.00"));
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
        let r = parse(&d.to_escpos().unwrap()).unwrap();
        let lines: Vec<String> = r
            .lines()
            .map(|l| l.text.clone())
            .filter(|t| !t.is_empty())
            .collect();
        assert_eq!(lines[0], "宁波市第一人民医院");
        assert!(lines[1].starts_with("科室") && lines[1].ends_with("眼科"));
        assert_eq!(r.qr_codes(), vec!["V000123"]);
        assert_eq!(r.cuts(), 1);
        let bytes = d.to_escpos().unwrap();
        // Chinese mode is entered right after initialising.
        assert_eq!(&bytes[..4], &[0x1B, b'@', 0x1C, b'&']);
        assert!(r.items.iter().any(|i| matches!(
            i,
            crate::escpos::parse::Item::Mark(crate::escpos::parse::Mark::Barcode { data, .. })
                if data == "V000123"
        )));
        let mut bad = Doc::new(32);
        bad.barcode("病历");
        assert!(bad.to_escpos().is_err());
    }
}

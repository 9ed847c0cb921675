//! A minimal PDF 1.4 writer: pages of Helvetica text and ruled lines, with a
//! correct cross-reference table, enough for a printable report.

use std::fmt::Write as _;

/// A4 portrait, in points.
pub const PAGE_WIDTH: i32 = 595;
pub const PAGE_HEIGHT: i32 = 842;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Text {
        x: i32,
        y: i32,
        size: u32,
        bold: bool,
        text: String,
    },
    Line {
        x1: i32,
        y1: i32,
        x2: i32,
        y2: i32,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page(pub Vec<Op>);

impl Page {
    pub fn text(&mut self, x: i32, y: i32, size: u32, text: impl Into<String>) {
        self.0.push(Op::Text {
            x,
            y,
            size,
            bold: false,
            text: text.into(),
        });
    }

    pub fn bold(&mut self, x: i32, y: i32, size: u32, text: impl Into<String>) {
        self.0.push(Op::Text {
            x,
            y,
            size,
            bold: true,
            text: text.into(),
        });
    }

    pub fn rule(&mut self, y: i32) {
        self.0.push(Op::Line {
            x1: 50,
            y1: y,
            x2: PAGE_WIDTH - 50,
            y2: y,
        });
    }
}

/// Document information (all ASCII).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub title: String,
    pub author: String,
    /// PDF date, e.g. `D:20261123101500+08'00'`.
    pub created: String,
}

/// A PDF string literal: `(`, `)` and `\` escaped; anything outside
/// printable ASCII becomes `?` (the standard fonts have no CJK glyphs).
fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('(');
    for c in s.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push(')');
    out
}

fn content_stream(page: &Page) -> String {
    let mut s = String::new();
    for op in &page.0 {
        match op {
            Op::Text {
                x,
                y,
                size,
                bold,
                text,
            } => {
                let font = if *bold { "F2" } else { "F1" };
                let _ = writeln!(s, "BT /{font} {size} Tf {x} {y} Td {} Tj ET", literal(text));
            }
            Op::Line { x1, y1, x2, y2 } => {
                let _ = writeln!(s, "0.5 w {x1} {y1} m {x2} {y2} l S");
            }
        }
    }
    s
}

/// The whole file. Objects: 1 catalog, 2 page tree, 3-4 fonts, 5 info,
/// then a page and its content stream for each page.
pub fn render(pages: &[Page], info: &Info) -> Vec<u8> {
    let empty = [Page::default()];
    let pages = if pages.is_empty() { &empty[..] } else { pages };
    let mut objects: Vec<Vec<u8>> = Vec::new();
    let kids: Vec<String> = (0..pages.len())
        .map(|i| format!("{} 0 R", 6 + 2 * i))
        .collect();
    objects.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
    objects.push(
        format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            kids.join(" "),
            pages.len()
        )
        .into_bytes(),
    );
    for font in ["Helvetica", "Helvetica-Bold"] {
        objects.push(
            format!(
                "<< /Type /Font /Subtype /Type1 /BaseFont /{font} /Encoding /WinAnsiEncoding >>"
            )
            .into_bytes(),
        );
    }
    objects.push(
        format!(
            "<< /Title {} /Author {} /Producer (kiosk HIS simulator) /CreationDate {} >>",
            literal(&info.title),
            literal(&info.author),
            literal(&info.created)
        )
        .into_bytes(),
    );
    for (i, page) in pages.iter().enumerate() {
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] \
                 /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {} 0 R >>",
                7 + 2 * i
            )
            .into_bytes(),
        );
        let stream = content_stream(page);
        let mut obj = format!("<< /Length {} >>\nstream\n", stream.len()).into_bytes();
        obj.extend_from_slice(stream.as_bytes());
        obj.extend_from_slice(b"\nendstream");
        objects.push(obj);
    }

    let mut out: Vec<u8> = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref_at = out.len();
    let mut xref = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for off in offsets {
        let _ = writeln!(xref, "{off:010} 00000 n ");
    }
    let _ = writeln!(
        xref,
        "trailer\n<< /Size {} /Root 1 0 R /Info 5 0 R >>\nstartxref\n{xref_at}\n%%EOF",
        objects.len() + 1
    );
    out.extend_from_slice(xref.as_bytes());
    out
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// Check the cross-reference table against the bytes; returns the page count.
    pub fn check_structure(pdf: &[u8]) -> usize {
        assert!(pdf.starts_with(b"%PDF-1.4\n"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        // One char per byte, so string offsets are byte offsets.
        let text: String = pdf
            .iter()
            .map(|&b| if b.is_ascii() { b as char } else { '?' })
            .collect();
        let sx = text.rfind("startxref\n").expect("startxref");
        let xref_at: usize = text[sx + 10..]
            .lines()
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(&pdf[xref_at..xref_at + 5], b"xref\n");
        let mut lines = text[xref_at..].lines().skip(1);
        let header: Vec<usize> = lines
            .next()
            .unwrap()
            .split(' ')
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(header[0], 0);
        let n = header[1];
        // Each entry is exactly 20 bytes.
        let entries_start = xref_at + text[xref_at..].find("0000000000 65535 f \n").unwrap();
        let trailer = text[xref_at..].find("trailer").unwrap() + xref_at;
        assert_eq!(trailer - entries_start, 20 * n);
        for obj in 1..n {
            let e = &text[entries_start + 20 * obj..entries_start + 20 * obj + 20];
            let off: usize = e[..10].parse().unwrap();
            assert!(e.ends_with(" 00000 n \n"), "{e:?}");
            let want = format!("{obj} 0 obj\n");
            assert_eq!(&pdf[off..off + want.len()], want.as_bytes(), "object {obj}");
        }
        assert!(text.contains(&format!("/Size {n}")));
        // Stream lengths are right.
        let mut rest = &text[..];
        while let Some(i) = rest.find("/Length ") {
            let after = &rest[i + 8..];
            let len: usize = after[..after.find(' ').unwrap()].parse().unwrap();
            let s = after.find("stream\n").unwrap() + 7;
            assert_eq!(&after[s + len..s + len + 10], "\nendstream");
            rest = &after[s + len..];
        }
        text.matches("/Type /Page ").count()
    }

    #[test]
    fn writes_a_valid_cross_reference_table() {
        let mut p1 = Page::default();
        p1.bold(50, 800, 16, "Report (draft) \\ 1");
        p1.rule(790);
        p1.text(50, 770, 10, "血常规 WBC 5.6");
        let p2 = Page(vec![Op::Text {
            x: 50,
            y: 800,
            size: 10,
            bold: false,
            text: "page two".into(),
        }]);
        let info = Info {
            title: "T".into(),
            author: "A".into(),
            created: "D:20261123101500+08'00'".into(),
        };
        let pdf = render(&[p1, p2], &info);
        assert_eq!(check_structure(&pdf), 2);
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("(Report \\(draft\\) \\\\ 1) Tj"));
        assert!(text.contains("(??? WBC 5.6) Tj"));
        assert_eq!(check_structure(&render(&[], &info)), 1);
    }
}

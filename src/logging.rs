//! Logging with `tracing`, with a last line of defence for privacy: every log
//! line passes through [`redact`], which masks anything shaped like a
//! resident ID number or a mainland mobile number before it is written.
//! (Types such as `IdNumber` and `Phone` already print masked; this catches
//! a number that slipped through as a plain string, e.g. inside an error.)

use std::io::{self, Write};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Mask 18-character ID numbers (17 digits + digit/X) and 11-digit mobile
/// numbers standing alone in `s`.
pub fn redact(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            let mut j = i;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let mut end = j;
            if j - i == 17 && j < b.len() && (b[j] == b'X' || b[j] == b'x') {
                end = j + 1;
            }
            let standalone = end == b.len() || !b[end].is_ascii_alphanumeric();
            let n = end - i;
            let is_id = n == 18;
            let is_phone = n == 11 && b[i] == b'1' && (b'3'..=b'9').contains(&b[i + 1]);
            if standalone && (is_id || is_phone) {
                out.push_str(&s[last..i]);
                if is_id {
                    out.push_str(&crate::domain::mask_id_str(&s[i..end]));
                } else {
                    out.push_str(&s[i..i + 3]);
                    out.push_str("****");
                    out.push_str(&s[i + 7..end]);
                }
                last = end;
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    out.push_str(&s[last..]);
    out
}

/// An error and every source under it, `outer: inner: innermost` (what a
/// transport error really was, for the log and the technician).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// How many recent log lines the maintenance screen can show.
const RECENT_LINES: usize = 200;

static RECENT: std::sync::Mutex<std::collections::VecDeque<String>> =
    std::sync::Mutex::new(std::collections::VecDeque::new());

/// The last `n` log lines (already redacted, without colour codes), oldest
/// first: what the technician sees on the maintenance screen.
pub fn recent(n: usize) -> Vec<String> {
    let r = RECENT.lock().unwrap_or_else(|e| e.into_inner());
    r.iter().skip(r.len().saturating_sub(n)).cloned().collect()
}

fn keep(text: &str) {
    let mut r = RECENT.lock().unwrap_or_else(|e| e.into_inner());
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if r.len() == RECENT_LINES {
            r.pop_front();
        }
        r.push_back(strip_ansi(line));
    }
}

/// Drop terminal colour sequences (`ESC [ ... m`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A writer that redacts each formatted event before passing it on (and
/// keeps it for [`recent`]).
pub struct Redacting<W>(W);

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let clean = redact(&text);
        keep(&clean);
        self.0.write_all(clean.as_bytes())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[derive(Clone)]
pub struct RedactingMakeWriter<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for RedactingMakeWriter<M> {
    type Writer = Redacting<M::Writer>;
    fn make_writer(&'a self) -> Self::Writer {
        Redacting(self.0.make_writer())
    }
}

/// Install the global subscriber: `filter` unless `RUST_LOG` is set, to stderr.
pub fn init(filter: &str) {
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| EnvFilter::try_new(filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactingMakeWriter(io::stderr))
        // Colours only on a terminal: journald would store them as blobs.
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .with_target(true)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_ids_and_phones_but_not_other_numbers() {
        assert_eq!(
            redact("patient 11010519491231002X enrolled"),
            "patient 1101**********002X enrolled"
        );
        assert_eq!(redact("id=330203199001011234,"), "id=3302**********1234,");
        assert_eq!(redact("phone 13812345678."), "phone 138****5678.");
        assert_eq!(redact("13812345678"), "138****5678");
        // Not an ID or phone: amounts, trade numbers, longer digit runs, ids with letters.
        assert_eq!(redact("amount 12500 fen"), "amount 12500 fen");
        assert_eq!(
            redact("trade K01-20261123-000017"),
            "trade K01-20261123-000017"
        );
        assert_eq!(redact("1234567890123456789012"), "1234567890123456789012");
        assert_eq!(redact("P12345678901"), "P12345678901");
        assert_eq!(redact("12812345678"), "12812345678");
        assert_eq!(redact("张三 13912345678 李四"), "张三 139****5678 李四");
    }

    #[test]
    fn the_writer_redacts() {
        let mut out = Vec::new();
        Redacting(&mut out)
            .write_all(b"lookup 440524188001010014 ok\n")
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "lookup 4405**********0014 ok\n"
        );
        let kept = recent(1000);
        assert!(kept.iter().any(|l| l == "lookup 4405**********0014 ok"));
        assert!(kept.iter().all(|l| !l.contains("440524188001010014")));
        assert_eq!(strip_ansi("\u{1b}[2mtime\u{1b}[0m x"), "time x");
    }
}

//! The checks behind the fuzz targets, shared with the stable-Rust test
//! `drivers/tests/garbage.rs` (which includes this file as a module), so the
//! fuzzer and `cargo test` check exactly the same things.
//!
//! Each check takes arbitrary bytes and panics only on a finding: a panic
//! inside a parser, or a property that does not hold.

use kiosk_drivers::escpos::doc::{Block, Doc};
use kiosk_drivers::escpos::parse::parse;
use kiosk_drivers::idcard::frame::{self, FrameError, Status, MAX_LEN, PREAMBLE};
use kiosk_drivers::scanner::{classify, Framer, ScanError, Scanned};
use std::time::{Duration, Instant};

/// Small deterministic PRNG (xorshift64), for chunk sizes and time steps
/// drawn from the input, and for the garbage test's inputs.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng((seed ^ 0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

fn seed_of(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .take(8)
        .fold(bytes.len() as u64, |a, &b| a.rotate_left(8) ^ u64::from(b))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------
// ID card SAM frames
// ---------------------------------------------------------------------------

/// SAM serial frames: `data` is what the reader's serial line delivered.
///
/// - A reader loop over `frame::decode` (bytes arriving in chunks drawn from
///   the input) yields exactly the frames that one pass over all the bytes
///   yields; every frame it yields re-encodes to the bytes it came from and
///   `decode_exact` agrees with it.
/// - `parse_response` and `parse_base_info` on every decoded body and on the
///   raw bytes; decoded card text re-encodes to the same card and photo.
/// - `decode_exact(encode(x)) == x`, `response` → `parse_response` round trip.
///
/// `strict`: the reader discards everything on `Err(Preamble)`, trusting the
/// doc comment of `decode` ("keep waiting while the tail could still be the
/// start of a preamble"). Fails today: see docs/fuzzing.md.
pub fn sam_frame(data: &[u8], strict: bool) {
    let mut rng = Rng::new(seed_of(data));
    let chunked = read_frames(data, strict, || 1 + rng.below(24));
    let whole = read_frames(data, strict, || usize::MAX);
    assert_eq!(
        chunked, whole,
        "frames depend on how the bytes were split into reads"
    );

    if let Ok(body) = frame::decode_exact(data) {
        assert_eq!(
            frame::encode(&body),
            data,
            "decode_exact accepted extra bytes"
        );
        check_body(&body);
    }
    check_body(data);
    check_base_info(data);

    if data.len() < MAX_LEN {
        let f = frame::encode(data);
        assert_eq!(frame::decode_exact(&f).as_deref(), Ok(data));
        assert_eq!(frame::decode(&f), Ok(Some((f.len(), data.to_vec()))));
    }
    if let Some((&sw3, rest)) = data.split_first() {
        let status = Status::from_byte(sw3);
        assert_eq!(status.byte(), sw3);
        if rest.len() + 3 < MAX_LEN {
            let body = frame::decode_exact(&frame::response(status, rest)).expect("own frame");
            assert_eq!(frame::parse_response(&body), Ok((status, rest)));
        }
    }
}

/// What a reader does: append each read to a buffer and take every complete
/// frame out of it; after a bad frame, resynchronise one byte past its preamble.
fn read_frames(stream: &[u8], strict: bool, mut next_read: impl FnMut() -> usize) -> Vec<Vec<u8>> {
    let mut buf: Vec<u8> = Vec::new();
    let mut bodies = Vec::new();
    let mut pos = 0;
    while pos < stream.len() {
        let n = next_read().clamp(1, stream.len() - pos);
        buf.extend_from_slice(&stream[pos..pos + n]);
        pos += n;
        loop {
            match frame::decode(&buf) {
                Ok(Some((used, body))) => {
                    check_decoded(&buf, used, &body);
                    buf.drain(..used);
                    bodies.push(body);
                }
                Ok(None) => break,
                Err(FrameError::Preamble) => {
                    assert!(buf.len() >= PREAMBLE.len(), "Preamble error on {buf:02X?}");
                    assert_eq!(find(&buf, &PREAMBLE), None);
                    // No preamble anywhere: nothing before the last 4 bytes
                    // can still become one.
                    let keep = if strict { 0 } else { PREAMBLE.len() - 1 };
                    buf.drain(..buf.len() - keep);
                    break;
                }
                Err(e @ (FrameError::BadLength(_) | FrameError::Checksum { .. })) => {
                    let start = find(&buf, &PREAMBLE)
                        .unwrap_or_else(|| panic!("{e:?} without a preamble in {buf:02X?}"));
                    buf.drain(..=start);
                }
                Err(e) => panic!("decode returned {e:?}, which only decode_exact should"),
            }
        }
    }
    bodies
}

fn check_decoded(buf: &[u8], used: usize, body: &[u8]) {
    let frame_len = PREAMBLE.len() + 2 + body.len() + 1;
    assert!(
        used <= buf.len() && used >= frame_len,
        "consumed {used} of {}",
        buf.len()
    );
    let bytes = &buf[used - frame_len..used];
    assert_eq!(
        frame::encode(body),
        bytes,
        "decoded frame does not re-encode"
    );
    assert_eq!(frame::decode_exact(bytes).as_deref(), Ok(body));
    check_body(body);
}

fn check_body(body: &[u8]) {
    match frame::parse_response(body) {
        Ok((status, data)) => {
            assert_eq!(status.byte(), body[2]);
            assert_eq!(data, &body[3..]);
            check_base_info(data);
        }
        Err(FrameError::Short(n)) => assert!(n == body.len() && n < 3),
        Err(FrameError::StatusWords(a, b)) => assert_ne!((a, b), (0, 0)),
        Err(e) => panic!("parse_response returned {e:?}"),
    }
}

fn check_base_info(data: &[u8]) {
    if let Ok((card, photo)) = frame::parse_base_info(data) {
        let _ = format!("{card:?}");
        assert!(photo.len() <= data.len() - 260);
        // Decoded text is in the card's own layout again after encoding.
        let again = frame::encode_base_info(&card, &photo);
        assert_eq!(
            frame::parse_base_info(&again),
            Ok((card, photo)),
            "base info does not survive encode(parse(x))"
        );
    }
}

// ---------------------------------------------------------------------------
// Scanner line framing
// ---------------------------------------------------------------------------

/// Inter-byte timeout of the framers under test.
pub const SCAN_GAP: Duration = Duration::from_millis(10);

/// Scanner framing. Byte 0 picks the framer's maximum code length (1..=80),
/// bytes 0..3 seed the read sizes (1..=16) and time steps; the rest is the
/// serial stream.
///
/// - With time passing (sometimes beyond the inter-byte timeout, with
///   `check_stale` calls in between): every `Ok` code is non-empty printable
///   ASCII of at most the maximum length; every error is one the input
///   explains.
/// - With no time passing, the codes are exactly the complete lines that are
///   non-empty, printable and short enough, however the bytes are split.
/// - `classify` of every code and of the raw input as text: it classifies
///   the trimmed text, and classifying its own result again changes nothing.
pub fn scanner_framing(data: &[u8]) {
    let (head, stream) = data.split_at(data.len().min(3));
    let max_len = 1 + usize::from(head.first().copied().unwrap_or(0) % 80);
    let seed = head.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b));
    let t0 = Instant::now();

    // Timed: reads arrive with gaps, the caller polls check_stale.
    let mut rng = Rng::new(seed);
    let mut framer = Framer::new(max_len, SCAN_GAP);
    let mut out = Vec::new();
    let mut ms = 0u64;
    let mut pos = 0;
    while pos < stream.len() {
        let n = (1 + rng.below(16)).min(stream.len() - pos);
        ms += match rng.below(8) {
            0 => 11 + rng.below(20) as u64,
            1 => 10,
            _ => rng.below(4) as u64,
        };
        let now = t0 + Duration::from_millis(ms);
        if rng.below(4) == 0 {
            if let Some(e) = framer.check_stale(now) {
                out.push(Err(e));
                assert_eq!(framer.check_stale(now), None, "stale reported twice");
            }
        }
        out.extend(framer.push(&stream[pos..pos + n], now));
        pos += n;
    }
    out.extend(
        framer
            .check_stale(t0 + Duration::from_millis(ms + 1000))
            .map(Err),
    );
    for r in &out {
        check_scan_result(r, max_len);
    }
    for code in out.iter().flatten() {
        check_classify(code);
    }

    // Untimed: one push, and the same bytes in reads of drawn sizes.
    let mut one = Framer::new(max_len, SCAN_GAP);
    let whole = one.push(stream, t0);
    let mut rng = Rng::new(seed);
    let mut split = Framer::new(max_len, SCAN_GAP);
    let mut pieces = Vec::new();
    let mut pos = 0;
    while pos < stream.len() {
        let n = (1 + rng.below(16)).min(stream.len() - pos);
        pieces.extend(split.push(&stream[pos..pos + n], t0));
        pos += n;
    }
    assert_eq!(whole, pieces, "results depend on how the bytes were split");
    assert_eq!(one.check_stale(t0), None, "stale without time passing");
    let codes: Vec<&str> = whole.iter().flatten().map(String::as_str).collect();
    assert_eq!(codes, good_lines(stream, max_len), "codes lost or invented");
    for r in &whole {
        check_scan_result(r, max_len);
    }

    check_classify(&String::from_utf8_lossy(data));
}

/// The complete lines a scanner framer must yield as codes.
fn good_lines(stream: &[u8], max_len: usize) -> Vec<&str> {
    let mut lines: Vec<&[u8]> = stream.split(|&b| b == b'\r' || b == b'\n').collect();
    lines.pop(); // not terminated (yet)
    lines
        .into_iter()
        .filter(|l| {
            !l.is_empty() && l.len() <= max_len && l.iter().all(|b| (0x20..=0x7E).contains(b))
        })
        .map(|l| std::str::from_utf8(l).expect("printable ASCII"))
        .collect()
}

fn check_scan_result(r: &Result<String, ScanError>, max_len: usize) {
    match r {
        Ok(code) => assert!(
            !code.is_empty()
                && code.len() <= max_len
                && code.bytes().all(|b| (0x20..=0x7E).contains(&b)),
            "bad code {code:?} (max {max_len})"
        ),
        Err(ScanError::TooLong(n)) => assert_eq!(*n, max_len),
        Err(ScanError::NonPrintable(b)) => assert!(
            !(0x20..=0x7E).contains(b) && *b != b'\r' && *b != b'\n',
            "NonPrintable({b:#04X})"
        ),
        Err(ScanError::Stale(d)) => assert_eq!(*d, SCAN_GAP),
        Err(ScanError::Empty) => {}
    }
}

fn check_classify(s: &str) {
    let c = classify(s);
    let (Scanned::PaymentCode(inner)
    | Scanned::HealthQr(inner)
    | Scanned::InsuranceEvoucher(inner)
    | Scanned::ReportBarcode(inner)
    | Scanned::VisitNumber(inner)
    | Scanned::Unknown(inner)) = &c;
    assert_eq!(inner, s.trim());
    assert_eq!(
        classify(inner),
        c,
        "classify is not stable on its own output"
    );
}

// ---------------------------------------------------------------------------
// ESC/POS
// ---------------------------------------------------------------------------

/// ESC/POS jobs.
///
/// - `parse(data)` never panics; on `Ok`, `text()`, `qr_codes()`, `cuts()`
///   and `lines()` do not either, and sizes stay in 1..=8.
/// - `data` read as a script builds a `Doc` (titles, text, pairs, QR codes,
///   barcodes, feeds, cuts, with control characters removed from strings);
///   its `to_escpos()` parses back with the same text lines, QR codes and
///   number of cuts.
pub fn escpos_parse(data: &[u8]) {
    if let Ok(r) = parse(data) {
        let text = r.text();
        let qrs = r.qr_codes();
        let cuts = r.cuts();
        assert!(cuts <= data.len() / 3);
        assert!(qrs.len() <= data.len() / 8);
        assert!(text.len() <= data.len() * 4 + r.items.len());
        for l in r.lines() {
            assert!(
                (1..=8).contains(&l.size.0) && (1..=8).contains(&l.size.1),
                "size {:?}",
                l.size
            );
        }
    }
    doc_round_trip(data);
}

fn doc_round_trip(data: &[u8]) {
    let Some((&cols, mut rest)) = data.split_first() else {
        return;
    };
    let mut doc = Doc::new(8 + usize::from(cols % 57));
    let mut qrs = Vec::new();
    let mut cuts = 0;
    let mut blocks = 0;
    while let Some((&op, tail)) = rest.split_first() {
        // A slip is a dozen blocks; more only makes the check slower.
        blocks += 1;
        if blocks > 12 {
            break;
        }
        let (arg, tail) = tail.split_at(usize::from(op >> 3).min(tail.len()));
        rest = tail;
        let s: String = String::from_utf8_lossy(arg)
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        match op & 7 {
            0 => doc.title(&s),
            1 => doc.text(&s),
            2 => doc.bold(&s),
            3 => doc.center(&s),
            4 => {
                let mid = s
                    .char_indices()
                    .nth(s.chars().count() / 2)
                    .map_or(0, |(i, _)| i);
                doc.pair(&s[..mid], &s[mid..])
            }
            5 => {
                qrs.push(s.clone());
                doc.qr(&s)
            }
            // CODE39's characters only (Doc upper-cases), and never empty.
            6 => {
                let code39: String = s
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || " $%*+-./".contains(*c))
                    .collect();
                if code39.is_empty() {
                    continue;
                }
                doc.barcode(&code39)
            }
            _ if arg.is_empty() => {
                cuts += 1;
                doc.cut()
            }
            _ => doc.feed(arg[0]),
        };
    }
    let bytes = doc
        .to_escpos()
        .unwrap_or_else(|e| panic!("Doc refused its own content: {e}"));
    let r = parse(&bytes).unwrap_or_else(|e| panic!("a Doc's own bytes do not parse: {e}"));
    assert_eq!(r.qr_codes(), qrs);
    assert_eq!(r.cuts(), cuts);
    let want: Vec<&str> = doc
        .blocks
        .iter()
        .filter_map(|b| match b {
            Block::Text { text, .. } if !text.is_empty() => Some(text.as_str()),
            _ => None,
        })
        .collect();
    let got: Vec<&str> = r
        .lines()
        .map(|l| l.text.as_str())
        .filter(|t| !t.is_empty())
        .collect();
    assert_eq!(got, want, "text lines differ after to_escpos → parse");
}

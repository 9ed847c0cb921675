//! QR / barcode scanner on a serial line: framing and recognition.
//!
//! Scanners send each code followed by CR, LF or CR LF. The framer takes
//! bytes as they arrive and yields whole codes; it rejects codes that are too
//! long or contain non-printable bytes (line noise, a wrong baud rate) and
//! drops a partial code left hanging longer than the inter-byte timeout.

use crate::Health;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("code longer than {0} bytes")]
    TooLong(usize),
    #[error("non-printable byte 0x{0:02X} in a code (noise or wrong line settings)")]
    NonPrintable(u8),
    #[error("partial code dropped after {0:?} of silence")]
    Stale(Duration),
    #[error("empty code")]
    Empty,
}

/// Splits a byte stream into scanned codes.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    max_len: usize,
    inter_byte: Duration,
    last_byte: Option<Instant>,
    /// Skip bytes until the next line end (after an error inside a line).
    discarding: bool,
}

impl Framer {
    pub fn new(max_len: usize, inter_byte: Duration) -> Framer {
        Framer {
            buf: Vec::new(),
            max_len,
            inter_byte,
            last_byte: None,
            discarding: false,
        }
    }

    /// Feed bytes read at `now`; returns every complete code or error.
    pub fn push(&mut self, bytes: &[u8], now: Instant) -> Vec<Result<String, ScanError>> {
        let mut out = Vec::new();
        if let Some(e) = self.check_stale(now) {
            out.push(Err(e));
        }
        for &b in bytes {
            self.last_byte = Some(now);
            match b {
                b'\r' | b'\n' => {
                    if self.discarding {
                        self.discarding = false;
                    } else if !self.buf.is_empty() {
                        let code = String::from_utf8(std::mem::take(&mut self.buf));
                        // Printable ASCII only was accepted, so this is valid UTF-8.
                        out.push(code.map_err(|_| ScanError::NonPrintable(0)));
                    }
                    self.buf.clear();
                }
                _ if self.discarding => {}
                0x20..=0x7E => {
                    if self.buf.len() == self.max_len {
                        out.push(Err(ScanError::TooLong(self.max_len)));
                        self.buf.clear();
                        self.discarding = true;
                    } else {
                        self.buf.push(b);
                    }
                }
                other => {
                    out.push(Err(ScanError::NonPrintable(other)));
                    self.buf.clear();
                    self.discarding = true;
                }
            }
        }
        out
    }

    /// Call when no bytes arrived: drops a partial code after the timeout.
    pub fn check_stale(&mut self, now: Instant) -> Option<ScanError> {
        let last = self.last_byte?;
        if (!self.buf.is_empty() || self.discarding) && now.duration_since(last) > self.inter_byte {
            self.buf.clear();
            self.discarding = false;
            return Some(ScanError::Stale(self.inter_byte));
        }
        None
    }
}

/// What a scanned code is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scanned {
    /// A payment code shown on the patient's phone (WeChat, Alipay, UnionPay...).
    PaymentCode(String),
    /// 电子健康卡: 64 hex characters, `:`, a digit.
    HealthQr(String),
    /// 医保电子凭证: 28 characters starting `424` (or `opc`).
    InsuranceEvoucher(String),
    /// A report barcode printed on a lab/exam slip (`R` + digits by our HIS convention).
    ReportBarcode(String),
    /// A visit number printed on a registration slip (`V` + digits).
    VisitNumber(String),
    Unknown(String),
}

/// Recognise a scanned code by its shape.
pub fn classify(code: &str) -> Scanned {
    let c = code.trim();
    let digits = !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit());
    let prefix2: u32 = c.get(..2).and_then(|p| p.parse().ok()).unwrap_or(0);
    if digits {
        let n = c.len();
        let wechat = n == 18 && (10..=15).contains(&prefix2);
        let alipay = (16..=24).contains(&n) && (25..=30).contains(&prefix2);
        let unionpay = (16..=20).contains(&n) && prefix2 == 62;
        let wallet = n == 18 && prefix2 == 88;
        if wechat || alipay || unionpay || wallet {
            return Scanned::PaymentCode(c.to_string());
        }
    }
    if let Some((hex, d)) = c.split_once(':') {
        if hex.len() == 64
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
            && d.len() == 1
            && d.as_bytes()[0].is_ascii_digit()
        {
            return Scanned::HealthQr(c.to_string());
        }
    }
    if c.len() == 28
        && (c.starts_with("424") || c.starts_with("opc"))
        && c.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Scanned::InsuranceEvoucher(c.to_string());
    }
    let tail_digits =
        |p: char| c.starts_with(p) && c.len() > 1 && c[1..].bytes().all(|b| b.is_ascii_digit());
    if tail_digits('R') {
        return Scanned::ReportBarcode(c.to_string());
    }
    if tail_digits('V') {
        return Scanned::VisitNumber(c.to_string());
    }
    Scanned::Unknown(c.to_string())
}

/// A code scanner as the kiosk sees it.
pub trait CodeScanner: Send + Sync {
    fn describe(&self) -> String;
    /// The health last seen (no I/O).
    fn health(&self) -> Health;
    /// The next code scanned within `timeout` (`None`: nothing was scanned).
    /// Rejected lines come as errors so the screen can say "scan again".
    fn next_scan(&self, timeout: Duration) -> Option<Result<Scanned, ScanError>>;
    /// Forget codes scanned before the current screen started listening.
    fn drain(&self);
}

/// Driver `none`.
#[derive(Debug, Clone, Copy)]
pub struct NoScanner;

impl CodeScanner for NoScanner {
    fn describe(&self) -> String {
        "none".into()
    }
    fn health(&self) -> Health {
        Health::Fault("未配置扫码器 no scanner configured".into())
    }
    fn next_scan(&self, timeout: Duration) -> Option<Result<Scanned, ScanError>> {
        std::thread::sleep(timeout);
        None
    }
    fn drain(&self) {}
}

/// A scanner on a serial line (or a USB scanner in virtual COM mode).
///
/// A reader thread owns the port: it frames the bytes, sends each code to a
/// queue, and reopens the port every second while it is gone, so an
/// unplugged scanner comes back by itself.
pub struct SerialScanner {
    path: String,
    baud: u32,
    rx: Mutex<mpsc::Receiver<Result<Scanned, ScanError>>>,
    shared: Arc<ScannerShared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct ScannerShared {
    health: Mutex<Health>,
    stop: AtomicBool,
}

impl SerialScanner {
    /// Start reading `path`; `max_len` bounds a code, `inter_byte` drops a
    /// partial code after that much silence.
    pub fn start(path: impl Into<String>, baud: u32, max_len: usize, inter_byte: Duration) -> Self {
        let path = path.into();
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(ScannerShared {
            health: Mutex::new(Health::Fault(
                "扫码器尚未连接 scanner not yet connected".into(),
            )),
            stop: AtomicBool::new(false),
        });
        let (p, sh) = (path.clone(), shared.clone());
        let (first_tx, first_rx) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("scanner".into())
            .spawn(move || {
                let framer = Framer::new(max_len, inter_byte);
                scanner_loop(&p, baud, framer, tx, &sh, first_tx)
            })
            .ok();
        // Health is known once the first open was tried (moments, not seconds).
        let _ = first_rx.recv_timeout(Duration::from_secs(1));
        SerialScanner {
            path,
            baud,
            rx: Mutex::new(rx),
            shared,
            thread,
        }
    }
}

fn set_health(shared: &ScannerShared, h: Health) {
    *shared.health.lock().unwrap_or_else(|p| p.into_inner()) = h;
}

fn scanner_loop(
    path: &str,
    baud: u32,
    mut framer: Framer,
    tx: mpsc::Sender<Result<Scanned, ScanError>>,
    shared: &ScannerShared,
    first: mpsc::SyncSender<()>,
) {
    let mut chunk = [0u8; 256];
    while !shared.stop.load(Ordering::SeqCst) {
        let mut port = match serialport::new(path, baud)
            .timeout(Duration::from_millis(50))
            .open()
        {
            Ok(p) => p,
            Err(_) => {
                set_health(
                    shared,
                    Health::Fault("扫码器未连接 scanner not connected".into()),
                );
                let _ = first.try_send(());
                for _ in 0..20 {
                    if shared.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                continue;
            }
        };
        set_health(shared, Health::Ok);
        let _ = first.try_send(());
        while !shared.stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            let results = match port.read(&mut chunk) {
                Ok(0) => framer.check_stale(now).map(Err).into_iter().collect(),
                Ok(n) => framer.push(&chunk[..n], now),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    framer.check_stale(now).map(Err).into_iter().collect()
                }
                Err(_) => {
                    set_health(
                        shared,
                        Health::Fault("扫码器未连接 scanner not connected".into()),
                    );
                    break;
                }
            };
            for r in results {
                if tx.send(r.map(|c| classify(&c))).is_err() {
                    return;
                }
            }
        }
    }
}

impl CodeScanner for SerialScanner {
    fn describe(&self) -> String {
        format!("serial {} {} baud", self.path, self.baud)
    }

    fn health(&self) -> Health {
        self.shared
            .health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn next_scan(&self, timeout: Duration) -> Option<Result<Scanned, ScanError>> {
        self.rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .recv_timeout(timeout)
            .ok()
    }

    fn drain(&self) {
        let rx = self.rx.lock().unwrap_or_else(|p| p.into_inner());
        while rx.try_recv().is_ok() {}
    }
}

impl Drop for SerialScanner {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.thread.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framer() -> Framer {
        Framer::new(128, Duration::from_millis(100))
    }

    #[test]
    fn splits_on_any_line_end_and_across_reads() {
        let t = Instant::now();
        let mut f = framer();
        assert!(f.push(b"1345", t).is_empty());
        let got = f.push(b"67\r\nR0001\nV77\r", t);
        assert_eq!(
            got,
            vec![Ok("134567".into()), Ok("R0001".into()), Ok("V77".into())]
        );
        assert!(f.push(b"\n\n", t).is_empty(), "empty lines are not codes");
    }

    #[test]
    fn rejects_noise_and_overlong_codes_then_recovers() {
        let t = Instant::now();
        let mut f = Framer::new(8, Duration::from_millis(100));
        let got = f.push(b"12\x0034\r\nabc\r\n", t);
        assert_eq!(got, vec![Err(ScanError::NonPrintable(0)), Ok("abc".into())]);
        let got = f.push(b"123456789\r\nok\r\n", t);
        assert_eq!(got, vec![Err(ScanError::TooLong(8)), Ok("ok".into())]);
        let got = f.push(&[0xE4, 0xB8, 0xAD, b'\r'], t);
        assert_eq!(got, vec![Err(ScanError::NonPrintable(0xE4))]);
    }

    #[test]
    fn drops_a_partial_code_after_silence() {
        let t = Instant::now();
        let mut f = framer();
        f.push(b"13456", t);
        assert_eq!(f.check_stale(t + Duration::from_millis(50)), None);
        assert_eq!(
            f.check_stale(t + Duration::from_millis(150)),
            Some(ScanError::Stale(Duration::from_millis(100)))
        );
        let got = f.push(b"789\r", t + Duration::from_millis(200));
        assert_eq!(got, vec![Ok("789".into())]);
    }

    #[test]
    fn recognises_what_was_scanned() {
        assert_eq!(
            classify("134567890123456789"),
            Scanned::PaymentCode("134567890123456789".into())
        );
        assert_eq!(
            classify("2856789012345678"),
            Scanned::PaymentCode("2856789012345678".into())
        );
        assert_eq!(
            classify("6225880112345678901"),
            Scanned::PaymentCode("6225880112345678901".into())
        );
        assert_eq!(
            classify("884567890123456789"),
            Scanned::PaymentCode("884567890123456789".into())
        );
        assert!(
            matches!(classify("194567890123456789"), Scanned::Unknown(_)),
            "19 is no channel"
        );
        assert!(
            matches!(classify("13456789012345678"), Scanned::Unknown(_)),
            "17 digits"
        );
        let hq = format!("{}:1", "a1".repeat(32));
        assert_eq!(classify(&hq), Scanned::HealthQr(hq.clone()));
        let ev = format!("424{}", "7".repeat(25));
        assert_eq!(classify(&ev), Scanned::InsuranceEvoucher(ev.clone()));
        assert_eq!(
            classify("R20261123001"),
            Scanned::ReportBarcode("R20261123001".into())
        );
        assert_eq!(classify("V000123"), Scanned::VisitNumber("V000123".into()));
        assert!(matches!(classify("hello"), Scanned::Unknown(_)));
    }
}

//! A TCP ESC/POS receipt printer (port 9100 style) for the demo and tests.
//!
//! It takes the byte stream a kiosk sends, answers the status commands the
//! way a printer does (`DLE EOT n` at once, `GS r 1` only after the bytes
//! before it are printed), and cuts the stream into slips at each paper cut,
//! parsed back by [`crate::escpos::parse`] into text lines (GB18030 decoded),
//! QR payloads and barcodes, so a test or a person can read what came out.
//!
//! Paper is finite when asked: with [`PrinterSim::set_paper_lines`] the
//! roll runs out part-way through a slip; the slip comes out cut short
//! ([`SimSlip::complete`] false), the printer stops (paper end, `GS r` not
//! answered) and drops everything sent until [`PrinterSim::load_paper`].
//! The cover can be opened, and the printer can be unplugged (the listener
//! closes and refuses connections) and plugged back on the same port.

use crate::escpos::parse::{self, Item, Mark, Receipt};
use crate::printer::status::PrinterStatus;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Lines below which the printer reports "paper near end".
pub const NEAR_END_LINES: u32 = 60;

/// One slip as it came out of the simulated printer.
#[derive(Debug, Clone)]
pub struct SimSlip {
    pub receipt: Receipt,
    /// False when the paper ran out before the slip's end.
    pub complete: bool,
}

impl SimSlip {
    pub fn text(&self) -> String {
        self.receipt.text()
    }
}

#[derive(Debug, Default)]
struct State {
    /// `None`: an endless roll.
    paper_lines: Option<u32>,
    paper_end: bool,
    cover_open: bool,
    slips: Vec<SimSlip>,
    /// Bytes that could not be parsed as ESC/POS (kept for the test to see).
    garbage: Vec<String>,
    connections: u64,
}

impl State {
    fn status(&self) -> PrinterStatus {
        PrinterStatus {
            offline: false,
            cover_open: self.cover_open,
            paper_end: self.paper_end,
            paper_near_end: !self.paper_end && self.paper_lines.is_some_and(|l| l < NEAR_END_LINES),
            error: false,
        }
    }

    fn stopped(&self) -> bool {
        self.paper_end || self.cover_open
    }

    /// Print one job (bytes up to and including a cut, or a trailing part).
    fn print_job(&mut self, job: &[u8]) {
        if self.stopped() || job.is_empty() {
            return;
        }
        let receipt = match parse::parse(job) {
            Ok(r) => r,
            Err(e) => {
                self.garbage.push(e.to_string());
                return;
            }
        };
        let Some(left) = self.paper_lines else {
            self.slips.push(SimSlip {
                receipt,
                complete: true,
            });
            return;
        };
        let mut used = 0u32;
        let mut out = Receipt::default();
        let mut complete = true;
        for item in receipt.items {
            let cost = match &item {
                Item::Line(l) => u32::from(l.size.1.max(1)),
                Item::Mark(Mark::Qr(_)) => 10,
                Item::Mark(Mark::Barcode { .. }) => 4,
                Item::Mark(Mark::Image { height, .. }) => (*height as u32).div_ceil(24),
                Item::Mark(Mark::Cut) => 0,
            };
            if used + cost > left {
                complete = false;
                break;
            }
            used += cost;
            out.items.push(item);
        }
        out.status_requests = receipt.status_requests;
        if complete {
            self.paper_lines = Some(left - used);
        } else {
            self.paper_lines = Some(0);
            self.paper_end = true;
        }
        self.slips.push(SimSlip {
            receipt: out,
            complete,
        });
    }
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    stop: AtomicBool,
    plugged: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running simulated printer; stops when dropped.
pub struct PrinterSim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl PrinterSim {
    /// Listen on `addr` (`127.0.0.1:0` for any free port).
    pub fn start(addr: &str) -> std::io::Result<PrinterSim> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            plugged: AtomicBool::new(true),
        });
        let sim = PrinterSim {
            addr,
            shared,
            accept: Mutex::new(None),
        };
        sim.spawn_listener(listener)?;
        Ok(sim)
    }

    /// A serial printer: the kiosk opens the pseudo-terminal at `link`.
    pub fn start_serial(link: &std::path::Path) -> std::io::Result<PrinterSim> {
        let pty = super::pty::PtyEnd::open(link)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            plugged: AtomicBool::new(true),
        });
        let sh = shared.clone();
        let h = std::thread::Builder::new()
            .name("printer-sim-serial".into())
            .spawn(move || serve(pty, sh))?;
        Ok(PrinterSim {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            shared,
            accept: Mutex::new(Some(h)),
        })
    }

    fn spawn_listener(&self, listener: TcpListener) -> std::io::Result<()> {
        let shared = self.shared.clone();
        let h = std::thread::Builder::new()
            .name("printer-sim".into())
            .spawn(move || accept_loop(listener, shared))?;
        *self.accept.lock().unwrap_or_else(|p| p.into_inner()) = Some(h);
        Ok(())
    }

    /// `host:port` to configure the kiosk with.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Lines of paper left on the roll (`None`: endless).
    pub fn set_paper_lines(&self, lines: Option<u32>) {
        let mut s = self.shared.lock();
        s.paper_lines = lines;
        s.paper_end = lines == Some(0);
        self.shared.changed.notify_all();
    }

    /// A new roll: the paper end clears and held `GS r` answers go out.
    pub fn load_paper(&self, lines: Option<u32>) {
        self.set_paper_lines(lines);
    }

    pub fn set_cover_open(&self, open: bool) {
        self.shared.lock().cover_open = open;
        self.shared.changed.notify_all();
    }

    pub fn status(&self) -> PrinterStatus {
        self.shared.lock().status()
    }

    pub fn paper_lines(&self) -> Option<u32> {
        self.shared.lock().paper_lines
    }

    /// Pull the cable: connections drop and new ones are refused.
    pub fn unplug(&self) {
        self.shared.plugged.store(false, Ordering::SeqCst);
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.accept.lock().unwrap_or_else(|p| p.into_inner()).take() {
            // Wake the blocking accept so it sees the stop.
            if self.addr.port() != 0 {
                let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
            }
            let _ = h.join();
        }
    }

    /// Plug it back on the same port (TCP printers).
    pub fn replug(&self) -> std::io::Result<()> {
        if self.addr.port() == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "replug is for the TCP printer",
            ));
        }
        if self.shared.plugged.load(Ordering::SeqCst) {
            return Ok(());
        }
        // The old port can be in TIME_WAIT for a moment; retry briefly.
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(self.addr) {
                Ok(l) => break l,
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        self.shared.stop.store(false, Ordering::SeqCst);
        self.shared.plugged.store(true, Ordering::SeqCst);
        self.spawn_listener(listener)
    }

    /// Every slip printed so far.
    pub fn slips(&self) -> Vec<SimSlip> {
        self.shared.lock().slips.clone()
    }

    /// Take the slips printed so far (the tray is emptied).
    pub fn take_slips(&self) -> Vec<SimSlip> {
        std::mem::take(&mut self.shared.lock().slips)
    }

    /// Parse errors of jobs that were not ESC/POS the simulator knows.
    pub fn garbage(&self) -> Vec<String> {
        self.shared.lock().garbage.clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.lock().connections
    }

    /// Wait until at least `n` slips are in the tray.
    pub fn wait_slips(&self, n: usize, timeout: Duration) -> Vec<SimSlip> {
        let deadline = Instant::now() + timeout;
        let mut s = self.shared.lock();
        while s.slips.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            s = self
                .shared
                .changed
                .wait_timeout(s, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        s.slips.clone()
    }
}

impl Drop for PrinterSim {
    fn drop(&mut self) {
        self.unplug();
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns: Vec<JoinHandle<()>> = Vec::new();
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok(_) if shared.stop.load(Ordering::SeqCst) => break,
            Ok((stream, _)) => {
                shared.lock().connections += 1;
                let sh = shared.clone();
                if let Ok(h) = std::thread::Builder::new()
                    .name("printer-sim-conn".into())
                    .spawn(move || serve_tcp(stream, sh))
                {
                    conns.push(h);
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
        conns.retain(|h| !h.is_finished());
    }
    drop(listener);
    for h in conns {
        let _ = h.join();
    }
}

/// What the next bytes of the stream are.
enum Next {
    /// Need more bytes to decide.
    More,
    /// `DLE EOT n`: answer now.
    RealTime(u8, usize),
    /// `GS r n`: answer once everything before it is printed.
    InOrder(usize),
    /// A paper cut ending a job, `len` bytes long.
    Cut(usize),
    /// `len` bytes that belong to the job.
    Data(usize),
}

/// Split the stream at status commands and cuts without looking inside
/// QR payloads (`GS ( k` carries its length) or barcode data.
fn next(buf: &[u8]) -> Next {
    match buf {
        [] => Next::More,
        [0x10] | [0x1D] => Next::More,
        [0x10, 0x04] => Next::More,
        [0x10, 0x04, n, ..] => Next::RealTime(*n, 3),
        [0x1D, b'r'] => Next::More,
        [0x1D, b'r', _, ..] => Next::InOrder(3),
        [0x1D, b'V'] => Next::More,
        [0x1D, b'V', m, rest @ ..] => {
            if matches!(m, 65 | 66 | 97 | 98) {
                if rest.is_empty() {
                    Next::More
                } else {
                    Next::Cut(4)
                }
            } else {
                Next::Cut(3)
            }
        }
        [0x1D, b'(', rest @ ..] => {
            if rest.len() < 3 {
                return Next::More;
            }
            let len = u16::from_le_bytes([rest[1], rest[2]]) as usize;
            if buf.len() < 5 + len {
                Next::More
            } else {
                Next::Data(5 + len)
            }
        }
        [0x1D, b'k', rest @ ..] => match rest.first() {
            None => Next::More,
            Some(&m) if m <= 6 => match rest[1..].iter().position(|&b| b == 0) {
                Some(p) => Next::Data(3 + p + 1),
                None if buf.len() > 300 => Next::Data(buf.len()),
                None => Next::More,
            },
            Some(_) => match rest.get(1) {
                None => Next::More,
                Some(&n) if buf.len() >= 4 + n as usize => Next::Data(4 + n as usize),
                Some(_) => Next::More,
            },
        },
        [0x1D, _, ..] | [0x10, _, ..] => Next::Data(2),
        _ => {
            // Plain bytes up to the next command that matters here.
            let n = buf
                .iter()
                .position(|&b| b == 0x10 || b == 0x1D)
                .unwrap_or(buf.len());
            Next::Data(n.max(1))
        }
    }
}

fn serve_tcp(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    // One-byte status answers must not wait for Nagle.
    let _ = stream.set_nodelay(true);
    serve(stream, shared)
}

/// Serve one link (a TCP connection or a pseudo-terminal's master side);
/// reads must time out now and then so a stop is noticed.
fn serve(mut stream: impl Read + Write, shared: Arc<Shared>) {
    let mut inbox: Vec<u8> = Vec::new();
    let mut job: Vec<u8> = Vec::new();
    // `GS r` requests waiting for the printer to run again.
    let mut held: usize = 0;
    let mut chunk = [0u8; 4096];
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        // Answer held `GS r` once the printer runs again.
        if held > 0 {
            let s = shared.lock();
            if !s.stopped() {
                let b = s.status().gs_r_byte();
                drop(s);
                for _ in 0..held {
                    if stream.write_all(&[b]).is_err() {
                        return;
                    }
                }
                held = 0;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                shared.lock().print_job(&job);
                shared.changed.notify_all();
                return;
            }
            Ok(n) => inbox.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return,
        }
        let mut at = 0;
        loop {
            match next(&inbox[at..]) {
                Next::More => break,
                Next::RealTime(n, len) => {
                    let bytes = shared.lock().status().real_time_bytes();
                    let answer = match n {
                        1 => bytes[0],
                        2 => bytes[1],
                        4 => bytes[2],
                        _ => 0x12,
                    };
                    if stream.write_all(&[answer]).is_err() {
                        return;
                    }
                    at += len;
                }
                Next::InOrder(len) => {
                    // Whatever came before is printed first.
                    let mut s = shared.lock();
                    s.print_job(&std::mem::take(&mut job));
                    let stopped = s.stopped();
                    let b = s.status().gs_r_byte();
                    drop(s);
                    shared.changed.notify_all();
                    if stopped || held > 0 {
                        held += 1;
                    } else if stream.write_all(&[b]).is_err() {
                        return;
                    }
                    at += len;
                }
                Next::Cut(len) => {
                    job.extend_from_slice(&inbox[at..at + len]);
                    shared.lock().print_job(&std::mem::take(&mut job));
                    shared.changed.notify_all();
                    at += len;
                }
                Next::Data(len) => {
                    // A stopped printer drops what it is sent.
                    if !shared.lock().stopped() {
                        job.extend_from_slice(&inbox[at..at + len]);
                    }
                    at += len;
                }
            }
        }
        inbox.drain(..at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_splitter_skips_qr_payloads_and_waits_for_whole_commands() {
        // A QR whose payload holds bytes that look like commands.
        let mut qr = vec![0x1D, b'(', b'k', 8, 0, 49, 80, 48];
        qr.extend([0x10, 0x04, 0x1D, b'V', 0x41]);
        assert!(matches!(next(&qr), Next::Data(13)));
        assert!(matches!(next(&qr[..10]), Next::More));
        assert!(matches!(next(&[0x10, 0x04, 4]), Next::RealTime(4, 3)));
        assert!(matches!(next(&[0x1D, b'V', 65]), Next::More));
        assert!(matches!(next(&[0x1D, b'V', 65, 0]), Next::Cut(4)));
        assert!(matches!(next(&[0x1D, b'V', 0]), Next::Cut(3)));
        assert!(matches!(next(b"abc\x10"), Next::Data(3)));
    }
}

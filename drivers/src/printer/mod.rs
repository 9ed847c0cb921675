//! The thermal receipt printer: a [`Doc`] encoded to ESC/POS (by the
//! `escpos` crate, see [`Doc::to_escpos`]) and sent over one of the links a
//! kiosk printer has: the USB printer class device (`/dev/usb/lp0`), TCP port
//! 9100, or a serial line. A spool file stands in for a printer in the demo
//! and in tests that only read the bytes back.
//!
//! On two-way links (TCP, serial) every job is bracketed by status:
//! - before: `DLE EOT 1, 2, 4`; a printer that is out of paper, open, or in
//!   error gets nothing, and the caller learns why;
//! - after: `GS r 1`, answered only once the printer has processed the whole
//!   slip; when the answer does not come (the printer stopped mid-slip), a
//!   `DLE EOT` tells why and the job is reported failed, so the kiosk keeps
//!   the slip for a reprint.
//!
//! Every read and write has a timeout; nothing here blocks forever on a dead
//! printer.

pub mod status;

use crate::escpos::doc::{Doc, EncodeError};
use crate::Health;
use status::{BadStatus, PrinterStatus, DLE_EOT, GS_R_PAPER};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How the kiosk reaches the printer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// A USB printer class device node (one-way).
    UsbLp(PathBuf),
    /// A file that collects every slip (demo, tests; one-way).
    Spool(PathBuf),
    /// A network printer, `host:port` (port 9100 by convention).
    Tcp(String),
    /// A serial printer.
    Serial { path: String, baud: u32 },
}

impl Link {
    fn two_way(&self) -> bool {
        matches!(self, Link::Tcp(_) | Link::Serial { .. })
    }
}

impl std::fmt::Display for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Link::UsbLp(p) => write!(f, "usb-lp {}", p.display()),
            Link::Spool(p) => write!(f, "spool {}", p.display()),
            Link::Tcp(a) => write!(f, "tcp {a}"),
            Link::Serial { path, baud } => write!(f, "serial {path} {baud} baud"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PrinterError {
    #[error("no receipt printer is configured")]
    NotConfigured,
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("receipt printer {link}: {source}")]
    Io {
        link: String,
        source: std::io::Error,
    },
    #[error("receipt printer {link}: no answer to {what} within {timeout:?}")]
    Timeout {
        link: String,
        what: &'static str,
        timeout: Duration,
    },
    #[error("receipt printer {link}: {0}", .status.health())]
    NotReady { link: String, status: PrinterStatus },
    #[error("receipt printer {link} stopped in the middle of the slip: {0}", .status.health())]
    Stopped { link: String, status: PrinterStatus },
    #[error("receipt printer {link}: {source}")]
    Garbage { link: String, source: BadStatus },
}

/// A receipt printer as the kiosk sees it.
pub trait ReceiptPrinter: Send + Sync {
    /// Columns of the paper (48 for 80 mm, 32 for 58 mm).
    fn columns(&self) -> usize;
    /// Where the printer is, for the technician.
    fn describe(&self) -> String;
    /// The health last seen (cheap; no I/O).
    fn health(&self) -> Health;
    /// Ask the printer now; updates [`ReceiptPrinter::health`].
    fn check(&self) -> Health;
    /// Print the whole slip; `Ok` only when the printer took all of it.
    fn print(&self, doc: &Doc) -> Result<(), PrinterError>;
    /// The status (paper sensors, cover, error) the printer last reported
    /// (cheap; no I/O). `None` when it cannot tell (a one-way link) or has
    /// not answered since the last check.
    fn last_status(&self) -> Option<PrinterStatus> {
        None
    }
}

/// Driver `none`: every print fails, so the kiosk keeps slips for reprint.
#[derive(Debug, Clone, Copy)]
pub struct NoPrinter;

impl ReceiptPrinter for NoPrinter {
    fn columns(&self) -> usize {
        48
    }
    fn describe(&self) -> String {
        "none".into()
    }
    fn health(&self) -> Health {
        Health::Fault("未配置凭条打印机 no receipt printer configured".into())
    }
    fn check(&self) -> Health {
        self.health()
    }
    fn print(&self, _doc: &Doc) -> Result<(), PrinterError> {
        Err(PrinterError::NotConfigured)
    }
}

/// An ESC/POS printer on a [`Link`].
pub struct EscPosPrinter {
    link: Link,
    columns: usize,
    timeout: Duration,
    /// How long a slip may take to come out before the job is called failed.
    print_timeout: Duration,
    last: Mutex<Health>,
    /// The last status the printer answered (two-way links only).
    status: Mutex<Option<PrinterStatus>>,
}

/// Reads wait at most this long before the deadline is checked again.
const POLL: Duration = Duration::from_millis(100);

trait Duplex: Read + Write + Send {}
impl<T: Read + Write + Send> Duplex for T {}

impl EscPosPrinter {
    /// `timeout` bounds connecting and each status answer.
    pub fn new(link: Link, columns: usize, timeout: Duration) -> Self {
        EscPosPrinter {
            link,
            columns,
            timeout,
            print_timeout: timeout.max(Duration::from_secs(5)) * 2,
            last: Mutex::new(Health::Ok),
            status: Mutex::new(None),
        }
    }

    /// Allow this long for a slip to come out (default: twice the timeout, at least 10 s).
    pub fn with_print_timeout(mut self, t: Duration) -> Self {
        self.print_timeout = t;
        self
    }

    pub fn link(&self) -> &Link {
        &self.link
    }

    fn name(&self) -> String {
        self.link.to_string()
    }

    fn io(&self, source: std::io::Error) -> PrinterError {
        PrinterError::Io {
            link: self.name(),
            source,
        }
    }

    fn open(&self) -> Result<Box<dyn Duplex>, PrinterError> {
        match &self.link {
            Link::Tcp(addr) => {
                use std::net::ToSocketAddrs;
                let mut last = None;
                let addrs = addr.to_socket_addrs().map_err(|e| self.io(e))?;
                for a in addrs {
                    match std::net::TcpStream::connect_timeout(&a, self.timeout) {
                        Ok(s) => {
                            s.set_nodelay(true).map_err(|e| self.io(e))?;
                            s.set_write_timeout(Some(self.timeout))
                                .map_err(|e| self.io(e))?;
                            // Short reads; `read_answer` keeps the deadline.
                            s.set_read_timeout(Some(POLL)).map_err(|e| self.io(e))?;
                            return Ok(Box::new(s));
                        }
                        Err(e) => last = Some(e),
                    }
                }
                Err(self.io(last.unwrap_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::NotFound, "address resolves to nothing")
                })))
            }
            Link::Serial { path, baud } => {
                let port = serialport::new(path, *baud)
                    .timeout(POLL)
                    .open()
                    .map_err(|e| self.io(e.into()))?;
                Ok(Box::new(port))
            }
            Link::UsbLp(p) | Link::Spool(p) => {
                let f = std::fs::OpenOptions::new()
                    .append(true)
                    .create(matches!(self.link, Link::Spool(_)))
                    .open(p)
                    .map_err(|e| self.io(e))?;
                Ok(Box::new(OneWay(f)))
            }
        }
    }

    /// Read exactly `buf.len()` bytes within `timeout`.
    fn read_answer(
        &self,
        conn: &mut dyn Duplex,
        buf: &mut [u8],
        timeout: Duration,
        what: &'static str,
    ) -> Result<(), PrinterError> {
        let deadline = Instant::now() + timeout;
        let mut got = 0;
        while got < buf.len() {
            if Instant::now() >= deadline {
                return Err(PrinterError::Timeout {
                    link: self.name(),
                    what,
                    timeout,
                });
            }
            match conn.read(&mut buf[got..]) {
                Ok(0) => {
                    return Err(self.io(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the printer closed the connection",
                    )))
                }
                Ok(n) => got += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(self.io(e)),
            }
        }
        Ok(())
    }

    /// `DLE EOT 1, 2, 4` and their answers.
    fn query(&self, conn: &mut dyn Duplex) -> Result<PrinterStatus, PrinterError> {
        let mut req = Vec::with_capacity(9);
        for n in [1u8, 2, 4] {
            req.extend(DLE_EOT);
            req.push(n);
        }
        conn.write_all(&req).map_err(|e| self.io(e))?;
        conn.flush().map_err(|e| self.io(e))?;
        let mut ans = [0u8; 3];
        self.read_answer(conn, &mut ans, self.timeout, "DLE EOT (real-time status)")?;
        PrinterStatus::from_real_time(ans[0], ans[1], ans[2]).map_err(|source| {
            PrinterError::Garbage {
                link: self.name(),
                source,
            }
        })
    }

    fn remember(&self, h: Health) -> Health {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = h.clone();
        h
    }

    fn remember_status(&self, s: Option<PrinterStatus>) {
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = s;
    }

    /// The status an error carries, if the printer answered one.
    fn error_status(e: &PrinterError) -> Option<PrinterStatus> {
        match e {
            PrinterError::NotReady { status, .. } | PrinterError::Stopped { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    fn error_health(e: &PrinterError) -> Health {
        match e {
            PrinterError::NotReady { status, .. } | PrinterError::Stopped { status, .. } => {
                status.health()
            }
            PrinterError::Garbage { .. } => {
                Health::Fault("打印机应答异常 printer answers garbage".into())
            }
            PrinterError::Timeout { .. } => {
                Health::Fault("打印机无应答 printer not answering".into())
            }
            PrinterError::Encode(_) => Health::Ok,
            _ => Health::Fault("打印机未连接 printer not connected".into()),
        }
    }

    fn print_inner(&self, bytes: &[u8]) -> Result<PrinterStatus, PrinterError> {
        let mut conn = self.open()?;
        if !self.link.two_way() {
            conn.write_all(bytes).map_err(|e| self.io(e))?;
            conn.flush().map_err(|e| self.io(e))?;
            return Ok(PrinterStatus::default());
        }
        let before = self.query(conn.as_mut())?;
        if !before.ready() {
            return Err(PrinterError::NotReady {
                link: self.name(),
                status: before,
            });
        }
        conn.write_all(bytes).map_err(|e| self.io(e))?;
        conn.write_all(&GS_R_PAPER).map_err(|e| self.io(e))?;
        conn.flush().map_err(|e| self.io(e))?;
        let mut done = [0u8; 1];
        match self.read_answer(
            conn.as_mut(),
            &mut done,
            self.print_timeout,
            "GS r (end of slip)",
        ) {
            Ok(()) => {
                // Ask once more: the answer to GS r carries paper bits only.
                let after = self.query(conn.as_mut())?;
                if after.paper_end || done[0] & 0x0C != 0 {
                    return Err(PrinterError::Stopped {
                        link: self.name(),
                        status: after,
                    });
                }
                Ok(after)
            }
            Err(PrinterError::Timeout { .. }) => {
                // The printer stopped before the end of the slip: say why.
                let status = self.query(conn.as_mut())?;
                Err(PrinterError::Stopped {
                    link: self.name(),
                    status,
                })
            }
            Err(e) => Err(e),
        }
    }
}

/// A file opened for writing only; reading it yields nothing.
struct OneWay(std::fs::File);

impl Read for OneWay {
    fn read(&mut self, _buf: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "one-way link",
        ))
    }
}

impl Write for OneWay {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()?;
        self.0.sync_data()
    }
}

impl ReceiptPrinter for EscPosPrinter {
    fn columns(&self) -> usize {
        self.columns
    }

    fn describe(&self) -> String {
        format!("{} ({} columns)", self.link, self.columns)
    }

    fn health(&self) -> Health {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn check(&self) -> Health {
        let h = match &self.link {
            Link::UsbLp(p) => match std::fs::OpenOptions::new().append(true).open(p) {
                Ok(_) => Health::Ok,
                Err(_) => Health::Fault("打印机未连接 printer not connected".into()),
            },
            Link::Spool(_) => match self.open() {
                Ok(_) => Health::Ok,
                Err(_) => Health::Fault("凭条文件不可写 spool file not writable".into()),
            },
            _ => match self.open().and_then(|mut c| self.query(c.as_mut())) {
                Ok(s) => {
                    self.remember_status(Some(s));
                    s.health()
                }
                Err(e) => {
                    self.remember_status(Self::error_status(&e));
                    Self::error_health(&e)
                }
            },
        };
        self.remember(h)
    }

    fn print(&self, doc: &Doc) -> Result<(), PrinterError> {
        let bytes = doc.to_escpos()?;
        match self.print_inner(&bytes) {
            Ok(s) => {
                if self.link.two_way() {
                    self.remember_status(Some(s));
                }
                self.remember(s.health());
                Ok(())
            }
            Err(e) => {
                self.remember_status(Self::error_status(&e));
                self.remember(Self::error_health(&e));
                Err(e)
            }
        }
    }

    fn last_status(&self) -> Option<PrinterStatus> {
        *self.status.lock().unwrap_or_else(|p| p.into_inner())
    }
}

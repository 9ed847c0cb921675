//! The ID card reader on its serial line: find, select and read a card.
//!
//! The port is opened on first use and kept open; any I/O error drops it, so
//! a reader unplugged and plugged back (the port disappears and returns) is
//! picked up again by the next call without a restart.

use super::frame::{self, cmd, CardText, FrameError, Status, TextError};
use crate::Health;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum IdCardError {
    #[error("ID card reader {path} is not connected: {reason}")]
    NotConnected { path: String, reason: String },
    #[error("ID card reader {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("ID card reader {path}: no answer to {what} within {timeout:?}")]
    Timeout {
        path: String,
        what: &'static str,
        timeout: Duration,
    },
    #[error("ID card reader {path}: bad frame: {source}")]
    Frame { path: String, source: FrameError },
    #[error("ID card reader {path}: {what} failed with status {status:?}")]
    Status {
        path: String,
        what: &'static str,
        status: Status,
    },
    #[error("ID card: {0}")]
    Text(#[from] TextError),
}

impl IdCardError {
    /// What the patient reads.
    pub fn patient_message(&self) -> (&'static str, &'static str) {
        match self {
            IdCardError::Text(TextError::OtherCard(_)) => (
                "暂不支持此类证件，请使用居民身份证或到人工窗口办理。",
                "This kind of card is not supported here. Please use a resident ID card or go to a staffed window.",
            ),
            IdCardError::Status { .. } | IdCardError::Frame { .. } | IdCardError::Text(_) => (
                "读卡失败，请取出身份证后重新放置。",
                "The card could not be read. Please take it off and place it again.",
            ),
            _ => (
                "身份证读卡器暂不可用，请改用其他方式或到人工窗口办理。",
                "The ID card reader is unavailable. Please use another way or go to a staffed window.",
            ),
        }
    }
}

/// An ID card reader as the kiosk sees it.
pub trait IdCardReader: Send + Sync {
    fn describe(&self) -> String;
    /// The health last seen (no I/O).
    fn health(&self) -> Health;
    /// Ask the reader's SAM now; updates [`IdCardReader::health`].
    fn check(&self) -> Health;
    /// One poll: `Ok(None)` when no card is on the reader.
    fn read_card(&self) -> Result<Option<CardText>, IdCardError>;
}

/// Driver `none`.
#[derive(Debug, Clone, Copy)]
pub struct NoIdCardReader;

impl IdCardReader for NoIdCardReader {
    fn describe(&self) -> String {
        "none".into()
    }
    fn health(&self) -> Health {
        Health::Fault("未配置身份证读卡器 no ID card reader configured".into())
    }
    fn check(&self) -> Health {
        self.health()
    }
    fn read_card(&self) -> Result<Option<CardText>, IdCardError> {
        Err(IdCardError::NotConnected {
            path: "none".into(),
            reason: "not configured".into(),
        })
    }
}

/// A SAM reader on a serial port (115200 baud is the usual setting).
pub struct SerialIdReader {
    path: String,
    baud: u32,
    timeout: Duration,
    port: Mutex<Option<Box<dyn serialport::SerialPort>>>,
    last: Mutex<Health>,
}

impl SerialIdReader {
    pub fn new(path: impl Into<String>, baud: u32, timeout: Duration) -> Self {
        SerialIdReader {
            path: path.into(),
            baud,
            timeout,
            port: Mutex::new(None),
            last: Mutex::new(Health::Ok),
        }
    }

    fn remember(&self, h: Health) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = h;
    }

    /// Send one request and wait for its whole answer frame.
    fn transact(&self, command: (u8, u8), what: &'static str) -> Result<Vec<u8>, IdCardError> {
        let mut guard = self.port.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            let port = serialport::new(&self.path, self.baud)
                .timeout(Duration::from_millis(50))
                .open()
                .map_err(|e| IdCardError::NotConnected {
                    path: self.path.clone(),
                    reason: e.to_string(),
                })?;
            *guard = Some(port);
        }
        let port = guard.as_mut().expect("opened above");
        let result = exchange(port.as_mut(), command, self.timeout, what, &self.path);
        if matches!(
            result,
            Err(IdCardError::Io { .. }) | Err(IdCardError::Timeout { .. })
        ) {
            // Reopen next time: the reader may have been unplugged.
            *guard = None;
        }
        result
    }

    fn ok_status(&self, body: &[u8], what: &'static str) -> Result<(Status, Vec<u8>), IdCardError> {
        let (status, data) = frame::parse_response(body).map_err(|source| IdCardError::Frame {
            path: self.path.clone(),
            source,
        })?;
        Ok((status, data.to_vec())).and_then(|(s, d)| match s {
            Status::ChecksumError | Status::LengthError | Status::BadCommand => {
                Err(IdCardError::Status {
                    path: self.path.clone(),
                    what,
                    status: s,
                })
            }
            _ => Ok((s, d)),
        })
    }

    fn read_inner(&self) -> Result<Option<CardText>, IdCardError> {
        let body = self.transact(cmd::FIND_CARD, "find card")?;
        let (status, _) = self.ok_status(&body, "find card")?;
        match status {
            Status::CardFound | Status::Ok => {}
            Status::NoCard | Status::NoContent => return Ok(None),
            s => {
                return Err(IdCardError::Status {
                    path: self.path.clone(),
                    what: "find card",
                    status: s,
                })
            }
        }
        let body = self.transact(cmd::SELECT_CARD, "select card")?;
        match self.ok_status(&body, "select card")?.0 {
            Status::Ok => {}
            // Taken off between find and select.
            Status::NoCard | Status::SelectFailed => return Ok(None),
            s => {
                return Err(IdCardError::Status {
                    path: self.path.clone(),
                    what: "select card",
                    status: s,
                })
            }
        }
        let body = self.transact(cmd::READ_BASE, "read base information")?;
        let (status, data) = self.ok_status(&body, "read base information")?;
        if status != Status::Ok {
            return Err(IdCardError::Status {
                path: self.path.clone(),
                what: "read base information",
                status,
            });
        }
        let (card, _photo) = frame::parse_base_info(&data)?;
        Ok(Some(card))
    }
}

fn exchange(
    port: &mut dyn serialport::SerialPort,
    command: (u8, u8),
    timeout: Duration,
    what: &'static str,
    path: &str,
) -> Result<Vec<u8>, IdCardError> {
    let io = |source| IdCardError::Io {
        path: path.to_string(),
        source,
    };
    // Drop whatever a previous, abandoned exchange left on the line.
    let _ = port.clear(serialport::ClearBuffer::Input);
    port.write_all(&frame::request(command, &[])).map_err(io)?;
    port.flush().map_err(io)?;
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        match frame::decode(&buf) {
            Ok(Some((_, body))) => return Ok(body),
            Ok(None) => {}
            Err(source) => {
                return Err(IdCardError::Frame {
                    path: path.to_string(),
                    source,
                })
            }
        }
        if Instant::now() >= deadline {
            return Err(IdCardError::Timeout {
                path: path.to_string(),
                what,
                timeout,
            });
        }
        match port.read(&mut chunk) {
            Ok(0) => {}
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => return Err(io(e)),
        }
        if buf.len() > frame::MAX_LEN + 16 {
            return Err(IdCardError::Frame {
                path: path.to_string(),
                source: FrameError::BadLength(buf.len()),
            });
        }
    }
}

impl IdCardReader for SerialIdReader {
    fn describe(&self) -> String {
        format!("serial {} {} baud", self.path, self.baud)
    }

    fn health(&self) -> Health {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn check(&self) -> Health {
        let h = match self
            .transact(cmd::SAM_STATUS, "SAM status")
            .and_then(|b| self.ok_status(&b, "SAM status"))
        {
            Ok((Status::Ok, _)) => Health::Ok,
            Ok((s, _)) => Health::Fault(format!("SAM 模块异常 SAM status {s:?}")),
            Err(e) => health_of(&e),
        };
        self.remember(h.clone());
        h
    }

    fn read_card(&self) -> Result<Option<CardText>, IdCardError> {
        let r = self.read_inner();
        match &r {
            Ok(_) | Err(IdCardError::Text(_)) => self.remember(Health::Ok),
            Err(e) => self.remember(health_of(e)),
        }
        r
    }
}

fn health_of(e: &IdCardError) -> Health {
    match e {
        IdCardError::NotConnected { .. } | IdCardError::Io { .. } => {
            Health::Fault("读卡器未连接 reader not connected".into())
        }
        IdCardError::Timeout { .. } => Health::Fault("读卡器无应答 reader not answering".into()),
        IdCardError::Frame { .. } => {
            Health::Degraded("读卡器应答异常 reader answered garbage".into())
        }
        IdCardError::Status { .. } => Health::Degraded("读卡失败 read failed".into()),
        IdCardError::Text(_) => Health::Ok,
    }
}

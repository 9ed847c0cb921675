//! The A4 report printer: lab and exam reports arrive from the HIS as PDF and
//! are printed through CUPS ([`CupsPrinter`], which drives `lp`, `lpstat`,
//! `cancel` and `ipptool`). [`DirPrinter`] stands in for it in the demo and in
//! tests: every report becomes a file in a directory.
//!
//! A report is personal medical data. A job that is not printed now must not
//! come out later into the tray of the next patient, so callers cancel a job
//! that [`ReportPrinter::wait`] gives up on ([`ReportPrinter::cancel`]).

mod cmd;
mod cups;
mod dir;

pub use cups::CupsPrinter;
pub use dir::DirPrinter;

use crate::Health;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::thread;
use std::time::{Duration, Instant};

/// Every PDF starts with this (ISO 32000-1 §7.5.2).
pub const PDF_MAGIC: &[u8] = b"%PDF-";

/// How often [`ReportPrinter::wait`] asks for the job's state.
pub const POLL: Duration = Duration::from_millis(250);

/// A print job as its printer names it: the CUPS request id (`PDF-12`), or
/// `DIR-3` for the simulator. Kept whole so it can be journalled and shown.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    pub fn new(id: impl Into<String>) -> Self {
        JobId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The job number after the last `-` (queue names may contain `-`).
    pub fn number(&self) -> Option<u32> {
        let (_, n) = self.0.rsplit_once('-')?;
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        n.parse().ok()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a print job is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "reason", rename_all = "snake_case")]
pub enum JobState {
    /// Queued (or held) and not yet started.
    Pending,
    /// Being printed.
    Processing,
    /// The printer took all of it.
    Completed,
    /// Will not print as it stands (aborted, or stopped by a printer error).
    Failed(String),
    /// Cancelled by the kiosk or an operator.
    Cancelled,
}

impl JobState {
    /// The job will not change state by itself any more: [`ReportPrinter::wait`]
    /// returns on it.
    pub fn is_final(&self) -> bool {
        !matches!(self, JobState::Pending | JobState::Processing)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobState::Pending => f.write_str("pending"),
            JobState::Processing => f.write_str("processing"),
            JobState::Completed => f.write_str("completed"),
            JobState::Failed(r) => write!(f, "failed: {r}"),
            JobState::Cancelled => f.write_str("cancelled"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("the document is not a PDF (it starts with {head:?}, not \"%PDF-\")")]
    NotPdf { head: String },
    #[error("`{cmd}` not found: install the CUPS clients (cups-client, cups-bsd, cups-ipp-utils)")]
    CommandMissing { cmd: &'static str },
    #[error("the CUPS scheduler (cupsd) is not running or not reachable")]
    CupsUnreachable,
    #[error("CUPS has no print queue {0:?}")]
    QueueNotFound(String),
    #[error("print queue {queue:?} is not accepting jobs: {reason}")]
    QueueNotAccepting { queue: String, reason: String },
    #[error("no print job {0}")]
    JobNotFound(JobId),
    #[error("report printer fault: {0}")]
    PrinterFault(String),
    #[error("`{cmd}` failed: {stderr}")]
    CommandFailed { cmd: String, stderr: String },
    #[error("`{cmd}` printed something unexpected: {output:?}")]
    UnexpectedOutput { cmd: String, output: String },
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout { what: String, after: Duration },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// The A4 report printer as the kiosk sees it.
pub trait ReportPrinter: Send + Sync {
    /// Where the printer is, for the technician.
    fn describe(&self) -> String;

    /// Ask the printer now. `Fault` when a report cannot be printed at all.
    fn health(&self) -> Health;

    /// Queue one PDF document, A4, titled `title`; returns once the printer
    /// (or CUPS) has taken the whole document, not when paper comes out.
    fn print_pdf(&self, pdf: &[u8], title: &str) -> Result<JobId, ReportError>;

    /// The job's state now.
    fn job_state(&self, job: &JobId) -> Result<JobState, ReportError>;

    /// Make sure the job does not print (any more). A job that has already
    /// finished is left as it is and this returns `Ok`.
    fn cancel(&self, job: &JobId) -> Result<(), ReportError>;

    /// Poll [`ReportPrinter::job_state`] until the job is final
    /// ([`JobState::is_final`]) and return that state; after `timeout`,
    /// [`ReportError::Timeout`]. The job is left queued then: the caller
    /// decides whether to [`ReportPrinter::cancel`] it.
    fn wait(&self, job: &JobId, timeout: Duration) -> Result<JobState, ReportError> {
        let deadline = Instant::now() + timeout;
        loop {
            let state = self.job_state(job)?;
            if state.is_final() {
                return Ok(state);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ReportError::Timeout {
                    what: format!("print job {job} to finish (still {state})"),
                    after: timeout,
                });
            }
            thread::sleep(POLL.min(deadline - now));
        }
    }
}

/// Driver `none`: no A4 printer; reports cannot be printed here.
#[derive(Debug, Clone, Copy)]
pub struct NoReportPrinter;

impl ReportPrinter for NoReportPrinter {
    fn describe(&self) -> String {
        "none".into()
    }
    fn health(&self) -> Health {
        Health::Fault("未配置报告打印机 no report printer configured".into())
    }
    fn print_pdf(&self, _pdf: &[u8], _title: &str) -> Result<JobId, ReportError> {
        Err(ReportError::PrinterFault(
            "no report printer configured".into(),
        ))
    }
    fn job_state(&self, job: &JobId) -> Result<JobState, ReportError> {
        Err(ReportError::JobNotFound(job.clone()))
    }
    fn cancel(&self, _job: &JobId) -> Result<(), ReportError> {
        Ok(())
    }
}

/// Refuse anything that is not a PDF before it reaches the printer: CUPS would
/// otherwise guess its type and may print pages of binary garbage.
pub fn check_pdf(bytes: &[u8]) -> Result<(), ReportError> {
    if bytes.starts_with(PDF_MAGIC) {
        return Ok(());
    }
    let head: String = String::from_utf8_lossy(&bytes[..bytes.len().min(16)])
        .chars()
        .map(|c| if c.is_control() { '.' } else { c })
        .collect();
    Err(ReportError::NotPdf { head })
}

/// A title safe for a file name or a job name: no path separators, no
/// control characters, at most `max` characters; `report` when nothing is
/// left. Chinese titles stay readable.
pub(crate) fn clean_title(title: &str, max: usize) -> String {
    let cleaned: String = title
        .trim()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '(' | ')') {
                c
            } else {
                '_'
            }
        })
        .take(max)
        .collect();
    if cleaned.chars().all(|c| c == '_') {
        "report".to_string()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn only_pdf_bytes_pass() {
        assert!(check_pdf(b"%PDF-1.7\n...").is_ok());
        let err = check_pdf(b"<html>\n<body>oops</body>").unwrap_err();
        assert!(matches!(&err, ReportError::NotPdf { head } if head == "<html>.<body>oop"));
        assert!(err.to_string().contains("not a PDF"), "{err}");
        assert!(matches!(check_pdf(b""), Err(ReportError::NotPdf { .. })));
        assert!(matches!(
            check_pdf(b"%PDF"),
            Err(ReportError::NotPdf { .. })
        ));
        assert!(matches!(
            check_pdf(&[0xff, 0xfe, 0x00]),
            Err(ReportError::NotPdf { .. })
        ));
    }

    #[test]
    fn job_numbers_come_after_the_last_dash() {
        assert_eq!(JobId::new("PDF-12").number(), Some(12));
        assert_eq!(JobId::new("ward-3-printer-7").number(), Some(7));
        assert_eq!(JobId::new("PDF-").number(), None);
        assert_eq!(JobId::new("PDF-+1").number(), None);
        assert_eq!(JobId::new("12").number(), None);
        assert_eq!(JobId::new("PDF-99999999999").number(), None);
    }

    #[test]
    fn job_ids_and_states_serialise_for_the_journal() {
        let id = JobId::new("PDF-12");
        assert_eq!(id.to_string(), "PDF-12");
        assert!(JobState::Failed("jam".into()).is_final());
        assert!(JobState::Cancelled.is_final());
        assert!(!JobState::Processing.is_final());
        assert_eq!(JobState::Failed("jam".into()).to_string(), "failed: jam");
    }

    #[test]
    fn titles_are_cleaned() {
        assert_eq!(clean_title("血常规 报告", 60), "血常规_报告");
        assert_eq!(clean_title("../../etc/passwd", 60), "______etc_passwd");
        assert_eq!(clean_title(" \n\t", 60), "report");
        assert_eq!(clean_title("a/b\0c", 60), "a_b_c");
        assert_eq!(clean_title("abcdef", 3), "abc");
    }

    /// A printer whose job finishes after a given number of polls.
    struct Slow {
        polls: Mutex<u32>,
        finish_after: u32,
    }

    impl ReportPrinter for Slow {
        fn describe(&self) -> String {
            "slow".into()
        }
        fn health(&self) -> Health {
            Health::Ok
        }
        fn print_pdf(&self, _pdf: &[u8], _title: &str) -> Result<JobId, ReportError> {
            Ok(JobId::new("SLOW-1"))
        }
        fn job_state(&self, _job: &JobId) -> Result<JobState, ReportError> {
            let mut p = self.polls.lock().unwrap();
            *p += 1;
            Ok(if *p > self.finish_after {
                JobState::Completed
            } else {
                JobState::Processing
            })
        }
        fn cancel(&self, _job: &JobId) -> Result<(), ReportError> {
            Ok(())
        }
    }

    #[test]
    fn wait_polls_until_the_job_is_final() {
        let p = Slow {
            polls: Mutex::new(0),
            finish_after: 2,
        };
        let job = JobId::new("SLOW-1");
        assert_eq!(
            p.wait(&job, Duration::from_secs(5)).unwrap(),
            JobState::Completed
        );
        assert_eq!(*p.polls.lock().unwrap(), 3);
    }

    #[test]
    fn wait_gives_up_after_the_timeout() {
        let p = Slow {
            polls: Mutex::new(0),
            finish_after: u32::MAX,
        };
        let err = p
            .wait(&JobId::new("SLOW-1"), Duration::from_millis(300))
            .unwrap_err();
        assert!(matches!(err, ReportError::Timeout { .. }), "{err:?}");
        assert!(err.to_string().contains("still processing"), "{err}");
    }
}

//! The report printer through CUPS, driven by its command-line clients so the
//! kiosk needs no C library: `lp` (cups-client) prints, `lpstat` tells the
//! queue's health, `cancel` (cups-bsd) withdraws a job, and `ipptool`
//! (cups-ipp-utils) reads a job's state.
//!
//! Why `ipptool` for job state: `lpstat -W completed` lists completed,
//! cancelled and aborted jobs alike, and its `Alerts:` line is the job's
//! `job-state-reasons`, which CUPS leaves at `processing-to-stop-point` even
//! for a job that completed. Only the IPP `job-state` attribute
//! (Get-Job-Attributes) tells completed from cancelled from aborted, and from a
//! job stopped by a filter error. Without `ipptool` the state falls back to the
//! `lpstat` job lists, which cannot tell those apart (see
//! [`CupsPrinter::job_state`]).
//!
//! Every command runs in the C locale (its output is parsed) and is killed
//! when it overruns the printer's timeout.

use super::cmd::{self, Output};
use super::{check_pdf, JobId, JobState, ReportError, ReportPrinter};
use crate::Health;
use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// With this many unfinished jobs in the queue the printer is `Degraded`:
/// reports come out late, or the queue is stuck behind a bad job.
pub const PENDING_DEGRADED: usize = 5;

/// Where CUPS listens when `CUPS_SERVER` is not set (Debian's default).
const DEFAULT_SOCKET: &str = "/run/cups/cups.sock";

/// Printer-state-reasons that come and go with every job and mean nothing is
/// wrong.
const BENIGN_REASONS: &[&str] = &[
    "none",
    "cups-waiting-for-job-completed",
    "connecting-to-device",
];

/// The Get-Job-Attributes request `ipptool` sends; `$uri`, `$job_id` and
/// `$user` are filled in by `ipptool`.
const GET_JOB_TEST: &str = r#"{
  NAME "kiosk report job state"
  OPERATION Get-Job-Attributes
  GROUP operation-attributes-tag
  ATTR charset attributes-charset utf-8
  ATTR naturalLanguage attributes-natural-language en
  ATTR uri printer-uri $uri
  ATTR integer job-id $job_id
  ATTR name requesting-user-name $user
  ATTR keyword requested-attributes job-state,job-state-reasons,job-printer-state-message
  STATUS successful-ok
  DISPLAY job-state
  DISPLAY job-state-reasons
  DISPLAY job-printer-state-message
}
"#;

/// An A4 printer behind a CUPS queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CupsPrinter {
    /// The CUPS queue (destination) name, e.g. `PDF`.
    pub queue: String,
    /// Longest any one CUPS command may take before it is killed.
    pub timeout: Duration,
}

impl CupsPrinter {
    /// `queue` with a 10 s command timeout.
    pub fn new(queue: impl Into<String>) -> Self {
        CupsPrinter {
            queue: queue.into(),
            timeout: Duration::from_secs(10),
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `lpstat -r`: is cupsd answering?
    fn scheduler_running(&self, timeout: Duration) -> Result<bool, ReportError> {
        let out = cmd::run("lpstat", &["-r"], timeout)?;
        Ok(parse_scheduler(&out.stdout))
    }

    /// Turn a failed command into the error a caller can act on. The clients
    /// say "does not exist" both for a missing queue and when cupsd is down,
    /// so the scheduler is asked which it is.
    fn classify(&self, shown: String, out: &Output) -> ReportError {
        let msg = out.complaint();
        if msg.contains("not accepting jobs") {
            return ReportError::QueueNotAccepting {
                queue: self.queue.clone(),
                reason: msg,
            };
        }
        if msg.contains("Unable to connect") || msg.contains("Connection refused") {
            return ReportError::CupsUnreachable;
        }
        if msg.contains("does not exist")
            || msg.contains("Invalid destination")
            || msg.contains("Unknown destination")
        {
            return match self.scheduler_running(self.timeout) {
                Ok(true) => ReportError::QueueNotFound(self.queue.clone()),
                Ok(false) => ReportError::CupsUnreachable,
                Err(e) => e,
            };
        }
        ReportError::CommandFailed {
            cmd: shown,
            stderr: msg,
        }
    }

    /// Run an `lpstat` query about the queue; a failure is classified.
    fn lpstat(&self, args: &[&str], timeout: Duration) -> Result<String, ReportError> {
        let out = cmd::run("lpstat", args, timeout)?;
        if out.success() {
            Ok(out.stdout)
        } else {
            Err(self.classify(cmd::display("lpstat", args), &out))
        }
    }

    fn health_inner(&self) -> Result<Health, ReportError> {
        // One deadline for the whole check, so a slow cupsd costs `timeout`,
        // not four of them.
        let deadline = Instant::now() + self.timeout;
        let left = || deadline.saturating_duration_since(Instant::now());
        let q = self.queue.as_str();

        if !self.scheduler_running(left())? {
            return Err(ReportError::CupsUnreachable);
        }
        let printer = self.lpstat(&["-l", "-p", q], left())?;
        let printer = parse_printer(&printer, q).ok_or_else(|| ReportError::UnexpectedOutput {
            cmd: format!("lpstat -l -p {q}"),
            output: printer.clone(),
        })?;
        match printer.state {
            PrinterState::Disabled => {
                return Ok(Health::Fault(format!(
                    "报告打印机已停用 print queue {q} is disabled: {}",
                    printer.message.as_deref().unwrap_or("reason unknown")
                )))
            }
            PrinterState::Holding => {
                return Ok(Health::Fault(format!(
                    "报告打印机暂停出纸 print queue {q} is holding new jobs"
                )))
            }
            PrinterState::Idle | PrinterState::Printing => {}
        }
        let accepting = self.lpstat(&["-a", q], left())?;
        if let Some(Err(reason)) = parse_accepting(&accepting, q) {
            return Ok(Health::Fault(format!(
                "报告打印机拒收作业 print queue {q} is not accepting jobs: {reason}"
            )));
        }
        let (errors, warnings) = sort_reasons(&printer.alerts);
        if !errors.is_empty() {
            return Ok(Health::Fault(format!(
                "报告打印机故障 printer reports {}",
                errors.join(", ")
            )));
        }
        let jobs = self.lpstat(&["-W", "not-completed", "-o", q], left())?;
        let pending = job_lines(&jobs, q).len();
        if !warnings.is_empty() {
            return Ok(Health::Degraded(format!(
                "报告打印机警告 printer reports {}",
                warnings.join(", ")
            )));
        }
        if pending >= PENDING_DEGRADED {
            return Ok(Health::Degraded(format!(
                "报告打印排队过多 {pending} jobs waiting in print queue {q}"
            )));
        }
        Ok(Health::Ok)
    }

    /// Get-Job-Attributes through `ipptool`.
    fn ipp_job_state(&self, job: &JobId, number: u32) -> Result<JobState, ReportError> {
        let test = TempFile::create("job-state", "test", GET_JOB_TEST.as_bytes())?;
        let secs = self.timeout.as_secs().max(1).to_string();
        let job_id = format!("job_id={number}");
        let uri = printer_uri(&server(), &self.queue);
        let args: [&OsStr; 7] = [
            "-t".as_ref(),
            "-T".as_ref(),
            secs.as_ref(),
            "-d".as_ref(),
            job_id.as_ref(),
            uri.as_ref(),
            test.path().as_os_str(),
        ];
        let out = cmd::run("ipptool", &args, self.timeout)?;
        let answer = parse_ipptool(&out.stdout);
        if answer.status.as_deref() == Some("client-error-not-found") {
            return Err(ReportError::JobNotFound(job.clone()));
        }
        if !answer.passed {
            let msg = out.complaint();
            if msg.contains("Unable to connect") {
                return Err(ReportError::CupsUnreachable);
            }
            return Err(ReportError::CommandFailed {
                cmd: cmd::display("ipptool", &args),
                stderr: msg,
            });
        }
        answer
            .job_state()
            .ok_or_else(|| ReportError::UnexpectedOutput {
                cmd: cmd::display("ipptool", &args),
                output: out.stdout.clone(),
            })
    }

    /// The `lpstat` job lists: less precise (see the module docs).
    fn lpstat_job_state(&self, job: &JobId) -> Result<JobState, ReportError> {
        let q = self.queue.as_str();
        let open = self.lpstat(&["-W", "not-completed", "-o", q], self.timeout)?;
        if job_lines(&open, q).iter().any(|id| id == job) {
            let printer = self.lpstat(&["-p", q], self.timeout)?;
            let printing = parse_printer(&printer, q).and_then(|p| p.printing);
            return Ok(if printing.as_ref() == Some(job) {
                JobState::Processing
            } else {
                JobState::Pending
            });
        }
        let done = self.lpstat(&["-W", "completed", "-o", q], self.timeout)?;
        if job_lines(&done, q).iter().any(|id| id == job) {
            return Ok(JobState::Completed);
        }
        Err(ReportError::JobNotFound(job.clone()))
    }
}

impl ReportPrinter for CupsPrinter {
    fn describe(&self) -> String {
        format!("CUPS queue {}", self.queue)
    }

    /// `Fault` when cupsd is not reachable, the queue does not exist, is
    /// disabled, holds new jobs, rejects jobs, or reports an `-error` reason
    /// (or `offline-report`); `Degraded` on any other printer-state-reason
    /// (`-warning`, `paused`, …) or [`PENDING_DEGRADED`] unfinished jobs.
    fn health(&self) -> Health {
        match self.health_inner() {
            Ok(h) => h,
            Err(ReportError::CupsUnreachable) => {
                Health::Fault("CUPS 未运行 cupsd is not running or not reachable".into())
            }
            Err(ReportError::QueueNotFound(q)) => {
                Health::Fault(format!("报告打印机队列不存在 CUPS has no print queue {q}"))
            }
            Err(ReportError::CommandMissing { cmd }) => Health::Fault(format!(
                "未安装 CUPS 客户端 `{cmd}` not found (install cups-client)"
            )),
            Err(ReportError::Timeout { .. }) => Health::Fault(format!(
                "CUPS 无响应 cupsd did not answer within {:?}",
                self.timeout
            )),
            Err(e) => Health::Fault(format!("报告打印机状态未知 {e}")),
        }
    }

    /// `lp -d QUEUE -t TITLE -o media=A4 FILE` from a private temporary file,
    /// removed once `lp` has handed the document to cupsd.
    fn print_pdf(&self, pdf: &[u8], title: &str) -> Result<JobId, ReportError> {
        check_pdf(pdf)?;
        let file = TempFile::create("report", "pdf", pdf)?;
        let title = job_title(title);
        let args: [&OsStr; 7] = [
            "-d".as_ref(),
            self.queue.as_ref(),
            "-t".as_ref(),
            title.as_ref(),
            "-o".as_ref(),
            "media=A4".as_ref(),
            file.path().as_os_str(),
        ];
        let out = cmd::run("lp", &args, self.timeout);
        let shown = cmd::display("lp", &args);
        drop(file);
        let out = out?;
        if !out.success() {
            return Err(self.classify(shown, &out));
        }
        parse_request_id(&out.stdout).ok_or(ReportError::UnexpectedOutput {
            cmd: shown,
            output: out.stdout,
        })
    }

    /// From the IPP `job-state` (via `ipptool`): pending and held jobs are
    /// `Pending`; `processing-stopped` (a filter or printer error stopped the
    /// job, CUPS may retry it much later), `aborted`, and `completed` with
    /// `job-completed-with-errors` are `Failed` with CUPS' message.
    ///
    /// Without `ipptool`: a job in `lpstat -W not-completed` is `Processing`
    /// when `lpstat -p` says the printer is printing it, else `Pending`; a job
    /// in `lpstat -W completed` is `Completed`, even if it was in fact
    /// cancelled or aborted.
    fn job_state(&self, job: &JobId) -> Result<JobState, ReportError> {
        let number = job
            .number()
            .ok_or_else(|| ReportError::JobNotFound(job.clone()))?;
        match self.ipp_job_state(job, number) {
            Err(ReportError::CommandMissing { cmd: "ipptool" }) => self.lpstat_job_state(job),
            other => other,
        }
    }

    /// `cancel JOB`; a job that already finished is left alone.
    fn cancel(&self, job: &JobId) -> Result<(), ReportError> {
        let args = [job.as_str()];
        let out = cmd::run("cancel", &args, self.timeout)?;
        if out.success() {
            return Ok(());
        }
        let msg = out.complaint();
        if msg.contains("is already") {
            return Ok(());
        }
        if msg.contains("does not exist") {
            return Err(if self.scheduler_running(self.timeout)? {
                ReportError::JobNotFound(job.clone())
            } else {
                ReportError::CupsUnreachable
            });
        }
        Err(self.classify(cmd::display("cancel", &args), &out))
    }
}

/// The job title as CUPS gets it: no control characters, at most 200
/// characters (IPP names are limited to 255 bytes).
fn job_title(title: &str) -> String {
    let t: String = title
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    if t.is_empty() {
        "report".into()
    } else {
        t
    }
}

/// Where the CUPS clients find cupsd: `CUPS_SERVER`, else the local socket,
/// else localhost:631. (`client.conf` is not read: the kiosk's CUPS is local.)
fn server() -> String {
    match std::env::var("CUPS_SERVER") {
        Ok(s) if !s.trim().is_empty() => s.trim().to_string(),
        _ if Path::new(DEFAULT_SOCKET).exists() => DEFAULT_SOCKET.to_string(),
        _ => "localhost".to_string(),
    }
}

/// `ipp://` URI of `queue` on `server` (a host, `host:port` or a socket path).
fn printer_uri(server: &str, queue: &str) -> String {
    format!(
        "ipp://{}/printers/{}",
        percent_encode(server, server.starts_with('/')),
        percent_encode(queue, true)
    )
}

/// Percent-encode everything but unreserved characters (and `:` in a host).
fn percent_encode(s: &str, all: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (!all && b == b':') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `lp`: `request id is PDF-12 (1 file(s))`.
pub(crate) fn parse_request_id(stdout: &str) -> Option<JobId> {
    stdout.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("request id is ")?;
        let id = JobId::new(rest.split_whitespace().next()?);
        id.number().map(|_| id)
    })
}

/// `lpstat -r`: `scheduler is running` / `scheduler is not running`.
pub(crate) fn parse_scheduler(stdout: &str) -> bool {
    stdout.lines().any(|l| l.trim() == "scheduler is running")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PrinterState {
    Idle,
    Printing,
    Disabled,
    /// Enabled, but new jobs are held and will not print by themselves.
    Holding,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PrinterStatus {
    pub state: PrinterState,
    /// The job being printed (`now printing PDF-3`).
    pub printing: Option<JobId>,
    /// printer-state-message (why it is disabled, or the last filter error).
    pub message: Option<String>,
    /// printer-state-reasons (`-l` only).
    pub alerts: Vec<String>,
}

/// `lpstat [-l] -p QUEUE`:
///
/// ```text
/// (lines after the first start with a tab)
/// printer PDF is idle.  enabled since Mon Nov 23 11:07:04 2026
/// printer PDF now printing PDF-3.  enabled since …
/// printer PDF is holding new jobs.  enabled since …
/// printer PDF disabled since Mon Nov 23 11:08:21 2026 -
///     paper jam
///     Form mounted:
///     …
///     Alerts: paused
/// ```
pub(crate) fn parse_printer(stdout: &str, queue: &str) -> Option<PrinterStatus> {
    let mut lines = stdout.lines().skip_while(|l| {
        !l.strip_prefix("printer ")
            .and_then(|r| r.split_whitespace().next())
            .is_some_and(|name| name.eq_ignore_ascii_case(queue))
    });
    let header = lines.next()?;
    let (_, rest) = header.strip_prefix("printer ")?.split_once(' ')?;
    let rest = rest.trim_start();
    let (state, printing) = if rest.starts_with("is idle.") {
        (PrinterState::Idle, None)
    } else if rest.starts_with("is holding new jobs.") {
        (PrinterState::Holding, None)
    } else if rest.starts_with("disabled since") {
        (PrinterState::Disabled, None)
    } else if let Some(job) = rest.strip_prefix("now printing ") {
        let job = job.split_whitespace().next()?.trim_end_matches('.');
        (PrinterState::Printing, Some(JobId::new(job)))
    } else {
        return None;
    };

    let mut message = Vec::new();
    let mut alerts = Vec::new();
    let mut in_message = true;
    for line in lines {
        let Some(body) = line.strip_prefix('\t') else {
            break; // the next printer's header
        };
        if let Some(a) = body.strip_prefix("Alerts:") {
            alerts = a.split_whitespace().map(str::to_string).collect();
        }
        // `-l` output goes on with "Form mounted:" or "Description:".
        if body.starts_with("Form mounted:") || body.starts_with("Description:") {
            in_message = false;
        }
        if in_message && !body.starts_with('\t') {
            message.push(body.trim());
        }
    }
    let message = Some(message.join(" ")).filter(|m| !m.is_empty() && m != "reason unknown");
    Some(PrinterStatus {
        state,
        printing,
        message,
        alerts,
    })
}

/// `lpstat -a QUEUE`: `Some(Ok(()))` when accepting, `Some(Err(reason))`
/// when not, `None` when the queue is not in the output.
///
/// ```text
/// PDF accepting requests since Mon Nov 23 11:08:21 2026
/// PDF not accepting requests since Mon Nov 23 11:08:21 2026 -
///     maintenance
/// ```
pub(crate) fn parse_accepting(stdout: &str, queue: &str) -> Option<Result<(), String>> {
    let mut lines = stdout.lines();
    while let Some(line) = lines.next() {
        let mut words = line.split_whitespace();
        if !words.next().is_some_and(|w| w.eq_ignore_ascii_case(queue)) {
            continue;
        }
        match words.next() {
            Some("accepting") => return Some(Ok(())),
            Some("not") => {
                let reason = lines
                    .next()
                    .and_then(|l| l.strip_prefix('\t'))
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .unwrap_or("reason unknown");
                return Some(Err(reason.to_string()));
            }
            _ => continue,
        }
    }
    None
}

/// `lpstat -o QUEUE`: the job ids, one a line, first column:
///
/// ```text
/// PDF-2                   root              1024   Mon Nov 23 11:08:21 2026
/// ```
pub(crate) fn job_lines(stdout: &str, queue: &str) -> Vec<JobId> {
    stdout
        .lines()
        .filter_map(|line| {
            let first = line.split_whitespace().next()?;
            let (q, _) = first.rsplit_once('-')?;
            let id = JobId::new(first);
            (q.eq_ignore_ascii_case(queue) && id.number().is_some()).then_some(id)
        })
        .collect()
}

/// Split printer-state-reasons into (errors, warnings); informational
/// `-report` reasons and the benign ones of every job are dropped, except
/// `offline-report`, which means the device cannot be reached.
pub(crate) fn sort_reasons(alerts: &[String]) -> (Vec<String>, Vec<String>) {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for a in alerts {
        if a.ends_with("-error") || a == "offline-report" || a == "offline" {
            errors.push(a.clone());
        } else if !(a.ends_with("-report") || BENIGN_REASONS.contains(&a.as_str())) {
            warnings.push(a.clone());
        }
    }
    (errors, warnings)
}

/// What `ipptool -t` printed for one test.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct IppAnswer {
    pub passed: bool,
    /// `status-code` (only printed when the test failed).
    pub status: Option<String>,
    /// `name (type) = value` lines.
    pub attrs: Vec<(String, String)>,
}

impl IppAnswer {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// [`JobState`] from `job-state`, `job-state-reasons` and
    /// `job-printer-state-message`.
    pub fn job_state(&self) -> Option<JobState> {
        let reasons: Vec<&str> = self
            .attr("job-state-reasons")
            .map(|r| r.split(',').map(str::trim).collect())
            .unwrap_or_default();
        let why = |fallback: &str| {
            let message = self.attr("job-printer-state-message").unwrap_or("").trim();
            let useful: Vec<&str> = reasons
                .iter()
                .copied()
                .filter(|r| !matches!(*r, "none" | "processing-to-stop-point"))
                .collect();
            if !message.is_empty() {
                message.to_string()
            } else if !useful.is_empty() {
                useful.join(", ")
            } else {
                fallback.to_string()
            }
        };
        Some(match self.attr("job-state")? {
            "pending" | "pending-held" => JobState::Pending,
            "processing" => JobState::Processing,
            "processing-stopped" => JobState::Failed(why("job stopped")),
            "canceled" => JobState::Cancelled,
            "aborted" => JobState::Failed(why("job aborted")),
            "completed" if reasons.contains(&"job-completed-with-errors") => {
                JobState::Failed(why("job completed with errors"))
            }
            "completed" => JobState::Completed,
            _ => return None,
        })
    }
}

/// `ipptool -t`:
///
/// ```text
/// "/tmp/x.test":
///     kiosk report job state                                    [PASS]
///         job-state (enum) = completed
///         job-state-reasons (keyword) = processing-to-stop-point
/// ```
/// or, failed: `[FAIL]` and `status-code = client-error-not-found (Job #99
/// does not exist.)`.
pub(crate) fn parse_ipptool(stdout: &str) -> IppAnswer {
    let mut answer = IppAnswer::default();
    for line in stdout.lines().map(str::trim) {
        if line.ends_with("[PASS]") {
            answer.passed = true;
        } else if let Some(rest) = line.strip_prefix("status-code = ") {
            answer.status = rest.split_whitespace().next().map(str::to_string);
        } else if let Some((lhs, value)) = line.split_once(" =") {
            let Some((name, kind)) = lhs.split_once(" (") else {
                continue;
            };
            if kind.ends_with(')') && !name.contains(' ') {
                answer
                    .attrs
                    .push((name.to_string(), value.trim().to_string()));
            }
        }
    }
    answer
}

/// A private file in the temporary directory, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn create(stem: &str, ext: &str, bytes: &[u8]) -> Result<Self, ReportError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir();
        let io = |what: String, source| ReportError::Io { what, source };
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let path = dir.join(format!(
                "kiosk-{stem}-{}-{n}-{nanos}.{ext}",
                std::process::id()
            ));
            let opened = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path);
            match opened {
                Ok(mut f) => {
                    let file = TempFile(path);
                    f.write_all(bytes)
                        .map_err(|e| io(format!("writing {}", file.0.display()), e))?;
                    return Ok(file);
                }
                // Another process's leftover with the same name: next number.
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io(format!("creating {}", path.display()), e)),
            }
        }
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lp_request_ids_are_found_among_noise() {
        assert_eq!(
            parse_request_id("request id is PDF-12 (1 file(s))\n"),
            Some(JobId::new("PDF-12"))
        );
        assert_eq!(
            parse_request_id(
                "lp: warning - unknown option \"fit\"\nrequest id is Ward-3-A4-7 (1 file(s))\n"
            ),
            Some(JobId::new("Ward-3-A4-7"))
        );
        assert_eq!(
            parse_request_id("request id is PDF-4 (0 file(s))"),
            Some(JobId::new("PDF-4"))
        );
        for garbage in [
            "",
            "request id is",
            "request id is \n",
            "request id is PDF (1 file(s))",
            "request id is PDF- (1 file(s))",
            "request id is PDF-x1 (1 file(s))",
            "lp: Error - The printer or class does not exist.",
            "\u{fffd}\u{fffd}request id is PDF-1",
            "请求 ID 为 PDF-12（1 个文件）",
        ] {
            assert_eq!(parse_request_id(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn the_scheduler_line_is_exact() {
        assert!(parse_scheduler("scheduler is running\n"));
        assert!(!parse_scheduler("scheduler is not running\n"));
        assert!(!parse_scheduler(""));
        assert!(!parse_scheduler("lpstat: Bad file descriptor\n"));
    }

    const IDLE_LONG: &str = "printer PDF is idle.  enabled since Mon Nov 23 11:07:04 2026
\tForm mounted:
\tContent types: any
\tPrinter types: unknown
\tDescription: PDF
\tAlerts: none
\tLocation: 
\tConnection: direct
\tInterface: /etc/cups/ppd/PDF.ppd
\tOn fault: no alert
\tAfter fault: continue
\tUsers allowed:
\t\t(all)
\tForms allowed:
\t\t(none)
\tBanner required
\tCharset sets:
\t\t(none)
\tDefault pitch:
\tDefault page size:
\tDefault port settings:
";

    const DISABLED_LONG: &str = "printer PDF disabled since Mon Nov 23 11:08:21 2026 -
\tpaper jam
\tForm mounted:
\tContent types: any
\tPrinter types: unknown
\tDescription: PDF
\tAlerts: paused
\tLocation: 
";

    #[test]
    fn printer_lines_are_parsed() {
        let idle = parse_printer(IDLE_LONG, "PDF").unwrap();
        assert_eq!(idle.state, PrinterState::Idle);
        assert_eq!(idle.message, None);
        assert_eq!(idle.alerts, ["none"]);

        let off = parse_printer(DISABLED_LONG, "pdf").unwrap();
        assert_eq!(off.state, PrinterState::Disabled);
        assert_eq!(off.message.as_deref(), Some("paper jam"));
        assert_eq!(off.alerts, ["paused"]);

        let busy = parse_printer(
            "printer PDF now printing PDF-3.  enabled since Mon Nov 23 11:08:25 2026\n\
             \tloadFilename failed: /var/spool/cups/d00005-001: unable to find trailer\n",
            "PDF",
        )
        .unwrap();
        assert_eq!(busy.state, PrinterState::Printing);
        assert_eq!(busy.printing, Some(JobId::new("PDF-3")));
        assert!(busy.message.unwrap().starts_with("loadFilename failed"));

        let held = parse_printer(
            "printer PDF is holding new jobs.  enabled since Mon Nov 23 11:08:25 2026\n",
            "PDF",
        )
        .unwrap();
        assert_eq!(held.state, PrinterState::Holding);

        let unknown = parse_printer(
            "printer PDF disabled since Mon -\n\treason unknown\n",
            "PDF",
        );
        assert_eq!(unknown.unwrap().message, None);
    }

    #[test]
    fn printer_garbage_is_none() {
        for garbage in [
            "",
            "lpstat: Invalid destination name in list \"PDF\".",
            "printer PDFX is idle.  enabled since Mon",
            "printer PDF is on fire",
            "printer ",
            "printer PDF",
            "\u{0}\u{1}printer PDF is idle.",
        ] {
            assert_eq!(parse_printer(garbage, "PDF"), None, "{garbage:?}");
        }
        // Another printer first, ours second.
        let two =
            "printer A4 disabled since Mon -\n\tjam\nprinter PDF is idle.  enabled since Mon\n";
        assert_eq!(parse_printer(two, "PDF").unwrap().state, PrinterState::Idle);
    }

    #[test]
    fn accepting_lines_are_parsed() {
        assert_eq!(
            parse_accepting(
                "PDF accepting requests since Mon Nov 23 11:08:21 2026\n",
                "PDF"
            ),
            Some(Ok(()))
        );
        assert_eq!(
            parse_accepting(
                "PDF not accepting requests since Mon Nov 23 11:08:21 2026 -\n\tmaintenance\n",
                "PDF"
            ),
            Some(Err("maintenance".into()))
        );
        assert_eq!(
            parse_accepting("PDF not accepting requests since Mon -\n", "PDF"),
            Some(Err("reason unknown".into()))
        );
        assert_eq!(
            parse_accepting("A4 accepting requests since Mon\n", "PDF"),
            None
        );
        assert_eq!(parse_accepting("lpstat: error\n\u{7f}\n", "PDF"), None);
    }

    #[test]
    fn job_lists_are_parsed() {
        let out = "PDF-2                   root              1024   Mon Nov 23 11:08:21 2026
PDF-3                   root              1024   Mon Nov 23 11:08:21 2026
\tStatus: 
\tAlerts: job-canceled-by-user
\tqueued for PDF
A4-9                    root              1024   Mon Nov 23 11:08:21 2026
PDF-x                   garbage
PDF-
";
        assert_eq!(
            job_lines(out, "PDF"),
            [JobId::new("PDF-2"), JobId::new("PDF-3")]
        );
        assert!(job_lines("", "PDF").is_empty());
    }

    #[test]
    fn printer_reasons_are_sorted() {
        let r = |s: &[&str]| sort_reasons(&s.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(r(&["none"]), (vec![], vec![]));
        assert_eq!(
            r(&["media-empty-error", "toner-low-warning", "other-report"]),
            (
                vec!["media-empty-error".into()],
                vec!["toner-low-warning".into()]
            )
        );
        assert_eq!(r(&["paused"]), (vec![], vec!["paused".into()]));
        assert_eq!(
            r(&["offline-report"]),
            (vec!["offline-report".into()], vec![])
        );
        assert_eq!(
            r(&["cups-waiting-for-job-completed", "connecting-to-device"]),
            (vec![], vec![])
        );
    }

    fn state(out: &str) -> Option<JobState> {
        parse_ipptool(out).job_state()
    }

    #[test]
    fn ipptool_job_states_are_parsed() {
        let completed = "\"/tmp/kiosk-job-state.test\":
    kiosk report job state                                               [PASS]
        job-state (enum) = completed
        job-state-reasons (keyword) = processing-to-stop-point
        job-printer-state-message (textWithoutLanguage) = 
";
        let a = parse_ipptool(completed);
        assert!(a.passed);
        assert_eq!(a.attr("job-printer-state-message"), Some(""));
        assert_eq!(state(completed), Some(JobState::Completed));

        let stopped = "    kiosk report job state    [PASS]
        job-state (enum) = processing-stopped
        job-state-reasons (keyword) = job-completed-with-errors
        job-printer-state-message (textWithoutLanguage) = loadFilename failed: unable to find trailer dictionary
";
        assert_eq!(
            state(stopped),
            Some(JobState::Failed(
                "loadFilename failed: unable to find trailer dictionary".into()
            ))
        );
        assert_eq!(
            state("[PASS]\njob-state (enum) = canceled\njob-state-reasons (keyword) = job-canceled-by-user\n"),
            Some(JobState::Cancelled)
        );
        assert_eq!(
            state("[PASS]\njob-state (enum) = aborted\njob-state-reasons (1setOf keyword) = none,aborted-by-system\n"),
            Some(JobState::Failed("aborted-by-system".into()))
        );
        assert_eq!(
            state("[PASS]\njob-state (enum) = completed\njob-state-reasons (keyword) = job-completed-with-errors\n"),
            Some(JobState::Failed("job-completed-with-errors".into()))
        );
        assert_eq!(
            state("[PASS]\njob-state (enum) = pending-held\n"),
            Some(JobState::Pending)
        );
        assert_eq!(
            state("[PASS]\njob-state (enum) = processing\n"),
            Some(JobState::Processing)
        );
    }

    #[test]
    fn ipptool_failures_and_garbage() {
        let missing = "\"/tmp/x.test\":
    kiosk report job state                                               [FAIL]
        RECEIVED: 114 bytes in response
        status-code = client-error-not-found (Job #99 does not exist.)
        EXPECTED: STATUS successful-ok (got client-error-not-found)
        status-message=\"Job #99 does not exist.\"
";
        let a = parse_ipptool(missing);
        assert!(!a.passed);
        assert_eq!(a.status.as_deref(), Some("client-error-not-found"));
        assert_eq!(a.job_state(), None);

        for garbage in [
            "",
            "ipptool: Unable to connect to \"localhost\" on port 631 - Host is down",
            "job-state (enum) = on-fire",
            "job-state = completed",
            "= = =",
            " (",
        ] {
            assert_eq!(state(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn printer_uris_are_encoded() {
        assert_eq!(
            printer_uri("/run/cups/cups.sock", "PDF"),
            "ipp://%2Frun%2Fcups%2Fcups.sock/printers/PDF"
        );
        assert_eq!(
            printer_uri("localhost:631", "Ward A4"),
            "ipp://localhost:631/printers/Ward%20A4"
        );
    }

    #[test]
    fn job_titles_keep_their_words() {
        assert_eq!(job_title("  血常规 Report\n"), "血常规 Report");
        assert_eq!(job_title("a\u{7}b"), "ab");
        assert_eq!(job_title(""), "report");
        assert_eq!(job_title(&"x".repeat(500)).len(), 200);
    }

    #[test]
    fn temp_files_are_private_and_removed() {
        use std::os::unix::fs::PermissionsExt;
        let f = TempFile::create("t", "pdf", b"%PDF-1.4").unwrap();
        let path = f.path().to_path_buf();
        assert_eq!(std::fs::read(&path).unwrap(), b"%PDF-1.4");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        drop(f);
        assert!(!path.exists());
    }

    #[test]
    fn not_pdf_is_refused_before_any_command() {
        let p = CupsPrinter::new("kiosk-no-such-queue");
        assert!(matches!(
            p.print_pdf(b"PK\x03\x04", "x"),
            Err(ReportError::NotPdf { .. })
        ));
    }

    #[test]
    fn job_ids_without_a_number_are_not_found() {
        let p = CupsPrinter::new("PDF");
        assert!(matches!(
            p.job_state(&JobId::new("garbage")),
            Err(ReportError::JobNotFound(_))
        ));
    }
}

//! The report printer simulator: each report becomes `<seq>-<title>.pdf` in a
//! directory, and the job is completed at once. A simulated fault (a paper
//! jam) makes it unhealthy and refuse jobs, as the real printer would.

use super::{check_pdf, clean_title, JobId, JobState, ReportError, ReportPrinter};
use crate::Health;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Job ids of this simulator look like `DIR-7`.
const PREFIX: &str = "DIR";

/// A directory standing in for the A4 printer.
#[derive(Debug)]
pub struct DirPrinter {
    dir: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The last sequence number used (files from earlier runs included, so a
    /// restarted demo never overwrites a report).
    seq: u64,
    /// Jobs of this instance are `first..=seq`; older numbers are unknown.
    first: u64,
    fault: Option<String>,
}

impl DirPrinter {
    /// Use `dir`, creating it when missing.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, ReportError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|source| ReportError::Io {
            what: format!("creating report directory {}", dir.display()),
            source,
        })?;
        let seq = last_seq(&dir)?;
        Ok(DirPrinter {
            dir,
            state: Mutex::new(State {
                seq,
                first: seq + 1,
                fault: None,
            }),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Simulate a printer fault (`Some("paper jam")`) or clear it (`None`).
    pub fn set_fault(&self, fault: Option<String>) {
        self.lock().fault = fault;
    }

    /// The file a job of this printer was written to.
    pub fn path_of(&self, job: &JobId) -> Option<PathBuf> {
        let n = u64::from(self.own(job)?);
        let prefix = format!("{n:04}-");
        fs::read_dir(&self.dir)
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|f| f.to_str())
                    .is_some_and(|f| f.starts_with(&prefix) && f.ends_with(".pdf"))
            })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves the state usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The job's number when `job` names a job of this printer.
    fn own(&self, job: &JobId) -> Option<u32> {
        let (prefix, _) = job.as_str().rsplit_once('-')?;
        let n = job.number()?;
        let s = self.lock();
        (prefix == PREFIX && (s.first..=s.seq).contains(&u64::from(n))).then_some(n)
    }
}

/// The highest `<seq>-` prefix among the PDFs already in `dir`.
fn last_seq(dir: &Path) -> Result<u64, ReportError> {
    let entries = fs::read_dir(dir).map_err(|source| ReportError::Io {
        what: format!("reading report directory {}", dir.display()),
        source,
    })?;
    Ok(entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let (n, _) = name.split_once('-')?;
            n.parse::<u64>().ok()
        })
        .max()
        .unwrap_or(0))
}

impl ReportPrinter for DirPrinter {
    fn describe(&self) -> String {
        format!("report directory {}", self.dir.display())
    }

    fn health(&self) -> Health {
        if let Some(f) = &self.lock().fault {
            return Health::Fault(format!("报告打印机故障 {f}"));
        }
        match fs::metadata(&self.dir) {
            Ok(m) if m.is_dir() && !m.permissions().readonly() => Health::Ok,
            _ => Health::Fault(format!(
                "报告目录不可写 report directory {} not writable",
                self.dir.display()
            )),
        }
    }

    fn print_pdf(&self, pdf: &[u8], title: &str) -> Result<JobId, ReportError> {
        check_pdf(pdf)?;
        let mut s = self.lock();
        if let Some(f) = &s.fault {
            return Err(ReportError::PrinterFault(f.clone()));
        }
        let seq = s.seq + 1;
        let name = format!("{seq:04}-{}.pdf", clean_title(title, 60));
        let path = self.dir.join(&name);
        // Written aside and renamed, so whoever watches the directory never
        // sees half a report.
        let part = self.dir.join(format!(".{name}.part"));
        let io = |source| ReportError::Io {
            what: format!("writing {}", path.display()),
            source,
        };
        let written = fs::File::create(&part)
            .and_then(|mut f| f.write_all(pdf).and_then(|()| f.sync_all()))
            .and_then(|()| fs::rename(&part, &path));
        if let Err(e) = written {
            let _ = fs::remove_file(&part);
            return Err(io(e));
        }
        s.seq = seq;
        Ok(JobId::new(format!("{PREFIX}-{seq}")))
    }

    fn job_state(&self, job: &JobId) -> Result<JobState, ReportError> {
        self.own(job)
            .map(|_| JobState::Completed)
            .ok_or_else(|| ReportError::JobNotFound(job.clone()))
    }

    fn cancel(&self, job: &JobId) -> Result<(), ReportError> {
        // Jobs complete at once, so there is never anything left to stop.
        self.own(job)
            .map(|_| ())
            .ok_or_else(|| ReportError::JobNotFound(job.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const PDF: &[u8] = b"%PDF-1.4\n%%EOF\n";

    #[test]
    fn each_report_becomes_a_numbered_file() {
        let tmp = tempfile::tempdir().unwrap();
        let p = DirPrinter::new(tmp.path().join("reports")).unwrap();
        assert_eq!(p.health(), Health::Ok);

        let a = p.print_pdf(PDF, "血常规 CBC").unwrap();
        let b = p.print_pdf(PDF, "../x").unwrap();
        assert_eq!(a.as_str(), "DIR-1");
        assert_eq!(b.as_str(), "DIR-2");
        assert_eq!(p.job_state(&a).unwrap(), JobState::Completed);
        assert_eq!(
            p.wait(&b, Duration::from_secs(1)).unwrap(),
            JobState::Completed
        );

        let file = p.path_of(&a).unwrap();
        assert_eq!(file.file_name().unwrap(), "0001-血常规_CBC.pdf");
        assert_eq!(fs::read(&file).unwrap(), PDF);
        assert_eq!(p.path_of(&b).unwrap().file_name().unwrap(), "0002-___x.pdf");
        let names: Vec<_> = fs::read_dir(p.dir()).unwrap().collect();
        assert_eq!(names.len(), 2, "no .part files left behind");
    }

    #[test]
    fn a_restarted_simulator_does_not_overwrite_reports() {
        let tmp = tempfile::tempdir().unwrap();
        let first = DirPrinter::new(tmp.path()).unwrap();
        first.print_pdf(PDF, "a").unwrap();
        first.print_pdf(PDF, "b").unwrap();

        let second = DirPrinter::new(tmp.path()).unwrap();
        let c = second.print_pdf(PDF, "c").unwrap();
        assert_eq!(c.as_str(), "DIR-3");
        // Jobs of the earlier run are not this instance's to report on.
        assert!(matches!(
            second.job_state(&JobId::new("DIR-1")),
            Err(ReportError::JobNotFound(_))
        ));
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 3);
    }

    #[test]
    fn a_jam_faults_the_printer_until_cleared() {
        let tmp = tempfile::tempdir().unwrap();
        let p = DirPrinter::new(tmp.path()).unwrap();
        p.set_fault(Some("paper jam".into()));
        assert!(matches!(p.health(), Health::Fault(r) if r.contains("paper jam")));
        let err = p.print_pdf(PDF, "x").unwrap_err();
        assert!(matches!(&err, ReportError::PrinterFault(r) if r == "paper jam"));
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);

        p.set_fault(None);
        assert_eq!(p.health(), Health::Ok);
        assert_eq!(p.print_pdf(PDF, "x").unwrap().as_str(), "DIR-1");
    }

    #[test]
    fn bad_input_is_refused_without_a_file() {
        let tmp = tempfile::tempdir().unwrap();
        let p = DirPrinter::new(tmp.path()).unwrap();
        assert!(matches!(
            p.print_pdf(b"GIF89a", "x"),
            Err(ReportError::NotPdf { .. })
        ));
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
        for id in ["DIR-1", "PDF-1", "DIR-x", "", "DIR-"] {
            assert!(
                matches!(
                    p.job_state(&JobId::new(id)),
                    Err(ReportError::JobNotFound(_))
                ),
                "{id}"
            );
            assert!(p.cancel(&JobId::new(id)).is_err(), "{id}");
        }
    }

    #[test]
    fn a_vanished_directory_is_a_fault() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("r");
        let p = DirPrinter::new(&dir).unwrap();
        fs::remove_dir(&dir).unwrap();
        assert!(matches!(p.health(), Health::Fault(_)));
        assert!(matches!(p.print_pdf(PDF, "x"), Err(ReportError::Io { .. })));
    }
}

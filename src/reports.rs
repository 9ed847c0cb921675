//! Printing lab and exam reports on the A4 printer (R13).
//!
//! For each report, in order: fetch the PDF from HIS, hand it to the report
//! printer, wait until the printer has taken all of it, then tell HIS it was
//! printed (an idempotent write: the key names the report and which print
//! this is, so a retry after a lost answer never counts twice). A report is
//! marked printed only after its job completed, so a jam or a dead printer
//! never uses up one of the patient's prints; a job that does not finish in
//! time is cancelled so it cannot come out later for the next patient.

use crate::domain::Report;
use crate::his::{HisError, HisGateway, IdempotencyKey};
use chrono::NaiveDate;
use kiosk_drivers::report::{JobState, ReportError, ReportPrinter};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum PrintReportError {
    #[error("report {report_id}: HIS: {source}")]
    His {
        report_id: String,
        #[source]
        source: HisError,
    },
    #[error("report {report_id}: printer: {source}")]
    Printer {
        report_id: String,
        #[source]
        source: ReportError,
    },
    #[error("report {report_id}: the print job ended {state:?}")]
    Job { report_id: String, state: JobState },
    #[error(
        "report {report_id} may not be printed here (not ready, or printed {count} of {max} times)"
    )]
    NotAllowed {
        report_id: String,
        count: u32,
        max: u32,
    },
    #[error("report {report_id}: a bad idempotency key: {0}", report_id = .1)]
    Key(crate::his::BadIdempotencyKey, String),
}

impl PrintReportError {
    /// What the patient is told, in Chinese and English.
    pub fn patient_message(&self) -> (String, String) {
        match self {
            PrintReportError::His { source, .. } => {
                let (zh, en) = source.patient_message();
                (zh.to_string(), en.to_string())
            }
            PrintReportError::Printer { .. } | PrintReportError::Job { .. } => (
                "报告打印机出现故障，未打印的报告不计打印次数，请到人工窗口或稍后再试。".into(),
                "The report printer has a problem. Reports not printed are not counted; try later or ask at a staffed window.".into(),
            ),
            PrintReportError::NotAllowed { .. } => (
                "该报告未出具或已达自助打印次数上限，请到人工窗口。".into(),
                "This report is not ready or has reached the kiosk's print limit. Please ask at a staffed window.".into(),
            ),
            PrintReportError::Key(..) => (
                "系统错误，请到人工窗口。".into(),
                "A system error. Please ask at a staffed window.".into(),
            ),
        }
    }
}

/// What came out.
#[derive(Debug)]
pub struct PrintRun {
    /// HIS's record of each report printed, in order (print counts updated).
    pub printed: Vec<Report>,
    /// Why the run stopped early; the reports after it were not printed.
    pub failed: Option<PrintReportError>,
    /// A report printed whose count HIS did not take (logged for staff).
    pub unmarked: Vec<String>,
}

/// The key of the `n`th print of a report at this kiosk.
pub fn print_key(
    kiosk_id: &str,
    date: NaiveDate,
    report_id: &str,
    n: u32,
) -> Result<IdempotencyKey, crate::his::BadIdempotencyKey> {
    let id: String = report_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    IdempotencyKey::new(format!(
        "{kiosk_id}-{}-report-{id}-{n}",
        date.format("%Y%m%d")
    ))
}

/// Print `reports` one after another (see the module docs).
pub async fn print_reports(
    his: Arc<dyn HisGateway>,
    printer: Arc<dyn ReportPrinter>,
    kiosk_id: &str,
    date: NaiveDate,
    reports: &[Report],
    max_prints: u32,
    job_timeout: Duration,
) -> PrintRun {
    let mut run = PrintRun {
        printed: Vec::new(),
        failed: None,
        unmarked: Vec::new(),
    };
    for r in reports {
        match print_one(&his, &printer, kiosk_id, date, r, max_prints, job_timeout).await {
            Ok(Ok(marked)) => run.printed.push(marked),
            Ok(Err((printed, e))) => {
                // It came out, but HIS did not record it: the patient has
                // the paper; staff reconcile the count.
                tracing::error!(report_id = %r.report_id, error = %e, "report printed but not marked printed");
                run.unmarked.push(r.report_id.clone());
                run.printed.push(printed);
            }
            Err(e) => {
                tracing::warn!(report_id = %r.report_id, error = %e, "report not printed");
                run.failed = Some(e);
                break;
            }
        }
    }
    run
}

type Marked = Result<Report, (Report, HisError)>;

async fn print_one(
    his: &Arc<dyn HisGateway>,
    printer: &Arc<dyn ReportPrinter>,
    kiosk_id: &str,
    date: NaiveDate,
    r: &Report,
    max_prints: u32,
    job_timeout: Duration,
) -> Result<Marked, PrintReportError> {
    let id = r.report_id.clone();
    if !r.can_print(max_prints) {
        return Err(PrintReportError::NotAllowed {
            report_id: id,
            count: r.print_count,
            max: max_prints,
        });
    }
    let key = print_key(kiosk_id, date, &id, r.print_count + 1)
        .map_err(|e| PrintReportError::Key(e, id.clone()))?;
    let pdf = his
        .report_document(&id)
        .await
        .map_err(|source| PrintReportError::His {
            report_id: id.clone(),
            source,
        })?;
    let title = format!("{} {}", r.title_zh, r.report_id);
    let p = printer.clone();
    let rid = id.clone();
    // The printer calls block (lp, ipptool, polling): off the async workers.
    let state = tokio::task::spawn_blocking(move || -> Result<JobState, PrintReportError> {
        let perr = |source| PrintReportError::Printer {
            report_id: rid.clone(),
            source,
        };
        let job = p.print_pdf(&pdf, &title).map_err(perr)?;
        match p.wait(&job, job_timeout) {
            Ok(s) => {
                if !matches!(s, JobState::Completed) {
                    let _ = p.cancel(&job);
                }
                Ok(s)
            }
            Err(e) => {
                // Never let a late job print for the next patient.
                let _ = p.cancel(&job);
                Err(perr(e))
            }
        }
    })
    .await
    .unwrap_or_else(|join| Ok(JobState::Failed(format!("the print task stopped: {join}"))))?;
    if state != JobState::Completed {
        return Err(PrintReportError::Job {
            report_id: id,
            state,
        });
    }
    Ok(match his.mark_report_printed(&key, &id).await {
        Ok(marked) => Ok(marked),
        Err(e) => {
            let mut printed = r.clone();
            printed.print_count += 1;
            Err((printed, e))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_the_report_and_the_print() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(
            print_key("K01", d, "RPT-0042", 2).unwrap().as_str(),
            "K01-20261123-report-RPT-0042-2"
        );
        // Characters a key may not hold are replaced, not rejected.
        assert_eq!(
            print_key("K01", d, "R/1 2", 1).unwrap().as_str(),
            "K01-20261123-report-R_1_2-1"
        );
    }
}

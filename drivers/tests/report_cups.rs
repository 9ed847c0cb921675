//! The A4 report printer against a real CUPS, with the cups-pdf queue that
//! `scripts/svc/cups.sh` sets up (`KIOSK_CUPS_QUEUE`, default `PDF`).
//!
//! Without cupsd these tests say "skipped: …" and pass, so a developer
//! machine without CUPS can run `cargo test`; with `KIOSK_REQUIRE_CUPS=1`
//! (CI) a missing CUPS is a failure.
//!
//! The tests share one queue and one of them disables it, so they take turns.

use kiosk_drivers::report::{CupsPrinter, JobId, JobState, ReportError, ReportPrinter};
use kiosk_drivers::Health;
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

static QUEUE_IN_USE: Mutex<()> = Mutex::new(());

/// A finished job should be this quick on an idle cups-pdf queue; generous
/// for a loaded CI machine (ghostscript renders every page).
const JOB_TIMEOUT: Duration = Duration::from_secs(90);

fn queue() -> String {
    std::env::var("KIOSK_CUPS_QUEUE").unwrap_or_else(|_| "PDF".into())
}

fn required() -> bool {
    std::env::var("KIOSK_REQUIRE_CUPS").is_ok_and(|v| v == "1")
}

/// Give up on the test: fail under `KIOSK_REQUIRE_CUPS=1`, else say why.
fn skip(why: &str) {
    if required() {
        panic!("KIOSK_REQUIRE_CUPS=1 but {why}; run scripts/svc/cups.sh");
    }
    eprintln!("skipped: {why} (scripts/svc/cups.sh sets CUPS up; KIOSK_REQUIRE_CUPS=1 makes this a failure)");
}

fn sh(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| format!("`{program}` cannot run: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{program} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The queue for this test, or `None` (after [`skip`]) when CUPS is not there.
fn cups() -> Option<(MutexGuard<'static, ()>, CupsPrinter)> {
    let turn = QUEUE_IN_USE.lock().unwrap_or_else(|e| e.into_inner());
    let q = queue();
    let why = match sh("lpstat", &["-r"]) {
        Err(e) => Some(e),
        Ok(out) if out.trim() != "scheduler is running" => Some("cupsd not running".into()),
        Ok(_) => sh("lpstat", &["-p", &q])
            .err()
            .map(|_| format!("cupsd runs but has no queue {q}")),
    };
    if let Some(why) = why {
        skip(&why);
        return None;
    }
    Some((
        turn,
        CupsPrinter::new(q).with_timeout(Duration::from_secs(20)),
    ))
}

/// A one-page A4 PDF with `text` in Helvetica, built by hand with a correct
/// cross-reference table so ghostscript takes it without repairing it.
fn one_page_pdf(text: &str) -> Vec<u8> {
    let content = format!("BT /F1 36 Tf 72 720 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] \
         /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>"
            .to_string(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_string(),
        format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ),
    ];
    let mut pdf = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    let mut tail = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for off in offsets {
        tail.push_str(&format!("{off:010} 00000 n \n"));
    }
    tail.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    ));
    pdf.extend_from_slice(tail.as_bytes());
    pdf
}

/// Where cups-pdf puts this user's jobs: `KIOSK_CUPS_PDF_DIR` (from
/// scripts/svc/cups.sh), else the `Out` line of /etc/cups/cups-pdf.conf.
fn cups_pdf_dir() -> PathBuf {
    if let Ok(d) = std::env::var("KIOSK_CUPS_PDF_DIR") {
        return d.into();
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let user = sh("id", &["-un"]).unwrap_or_default().trim().to_string();
    let out = fs::read_to_string("/etc/cups/cups-pdf.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (key, value) = l.trim().split_once(char::is_whitespace)?;
            (key == "Out").then(|| value.trim().to_string())
        })
        .next_back()
        .unwrap_or_else(|| "/var/spool/cups-pdf/${USER}".into());
    out.replace("${HOME}", &home)
        .replace("${USER}", &user)
        .into()
}

fn pdfs_in(dir: &Path) -> HashSet<PathBuf> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "pdf"))
                .collect()
        })
        .unwrap_or_default()
}

/// Re-enables and re-accepts the queue even when the test fails half-way.
struct Restore(String);

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = sh("cupsenable", &[&self.0]);
        let _ = sh("cupsaccept", &[&self.0]);
    }
}

#[test]
fn a_report_comes_out_of_cups_pdf() {
    let Some((_turn, printer)) = cups() else {
        return;
    };
    let health = printer.health();
    assert!(health.is_usable(), "{health}");

    let dir = cups_pdf_dir();
    let before = pdfs_in(&dir);
    let job = printer
        .print_pdf(&one_page_pdf("Report"), "kiosk report test")
        .unwrap();
    assert!(
        job.as_str().starts_with(&format!("{}-", printer.queue)),
        "{job}"
    );
    assert_eq!(
        printer.wait(&job, JOB_TIMEOUT).unwrap(),
        JobState::Completed
    );
    assert_eq!(printer.job_state(&job).unwrap(), JobState::Completed);
    // Cancelling a finished job changes nothing and is not an error.
    printer.cancel(&job).unwrap();
    assert_eq!(printer.job_state(&job).unwrap(), JobState::Completed);

    // The backend writes the file before CUPS calls the job completed; allow
    // for a slow file system anyway.
    let deadline = Instant::now() + Duration::from_secs(10);
    let new: Vec<PathBuf> = loop {
        let new: Vec<_> = pdfs_in(&dir).difference(&before).cloned().collect();
        if !new.is_empty() || Instant::now() > deadline {
            break new;
        }
        thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(new.len(), 1, "expected one new PDF in {}", dir.display());
    let out = fs::read(&new[0]).unwrap();
    assert!(
        out.starts_with(b"%PDF-"),
        "{} is not a PDF",
        new[0].display()
    );
    // cups-pdf re-renders the document; its text must have survived.
    if let Ok(text) = sh("pdftotext", &[&new[0].to_string_lossy(), "-"]) {
        assert!(
            text.contains("Report"),
            "text of {}: {text:?}",
            new[0].display()
        );
    }
    let _ = fs::remove_file(&new[0]);
}

#[test]
fn a_missing_queue_is_queue_not_found() {
    let Some((_turn, printer)) = cups() else {
        return;
    };
    let missing = CupsPrinter::new("kiosk-no-such-queue");
    let err = missing
        .print_pdf(&one_page_pdf("Report"), "nowhere")
        .unwrap_err();
    assert!(
        matches!(&err, ReportError::QueueNotFound(q) if q == "kiosk-no-such-queue"),
        "{err:?}"
    );
    assert!(
        matches!(missing.health(), Health::Fault(r) if r.contains("no print queue")),
        "{:?}",
        missing.health()
    );
    assert!(matches!(
        printer.job_state(&JobId::new(format!("{}-999999", printer.queue))),
        Err(ReportError::JobNotFound(_))
    ));
}

#[test]
fn non_pdf_bytes_are_refused() {
    // Refused before CUPS is asked anything, so no CUPS is needed.
    let printer = CupsPrinter::new(queue());
    let err = printer
        .print_pdf(b"Report\n\x00\x01", "not a pdf")
        .unwrap_err();
    assert!(matches!(err, ReportError::NotPdf { .. }), "{err:?}");
}

#[test]
fn a_disabled_or_rejecting_queue_is_a_fault() {
    let Some((_turn, printer)) = cups() else {
        return;
    };
    let q = printer.queue.clone();
    let restore = Restore(q.clone());
    if let Err(e) = sh("cupsdisable", &["-r", "kiosk test: paper jam", &q]) {
        skip(&format!("cannot disable the queue ({e})"));
        return;
    }
    let health = printer.health();
    assert!(
        matches!(&health, Health::Fault(r) if r.contains("disabled") && r.contains("paper jam")),
        "{health:?}"
    );

    // The queue still takes jobs; they wait, and a cancelled one never prints.
    let job = printer
        .print_pdf(&one_page_pdf("Held"), "kiosk held test")
        .unwrap();
    assert_eq!(printer.job_state(&job).unwrap(), JobState::Pending);
    let err = printer.wait(&job, Duration::from_millis(600)).unwrap_err();
    assert!(matches!(err, ReportError::Timeout { .. }), "{err:?}");
    printer.cancel(&job).unwrap();
    assert_eq!(printer.job_state(&job).unwrap(), JobState::Cancelled);
    assert_eq!(
        printer.wait(&job, Duration::from_secs(5)).unwrap(),
        JobState::Cancelled
    );

    sh("cupsenable", &[&q]).unwrap();
    sh("cupsreject", &["-r", "kiosk test: maintenance", &q]).unwrap();
    let health = printer.health();
    assert!(
        matches!(&health, Health::Fault(r) if r.contains("not accepting") && r.contains("maintenance")),
        "{health:?}"
    );
    let err = printer
        .print_pdf(&one_page_pdf("Report"), "kiosk rejected test")
        .unwrap_err();
    assert!(
        matches!(err, ReportError::QueueNotAccepting { .. }),
        "{err:?}"
    );

    drop(restore);
    let health = printer.health();
    assert!(health.is_usable(), "after re-enabling: {health}");
}

#[test]
fn a_broken_pdf_fails_and_is_withdrawn() {
    let Some((_turn, printer)) = cups() else {
        return;
    };
    let dir = cups_pdf_dir();
    let before = pdfs_in(&dir);
    let job = printer
        .print_pdf(b"%PDF-1.4\nthis is not really a PDF\n", "kiosk broken test")
        .unwrap();
    let state = printer.wait(&job, JOB_TIMEOUT).unwrap();
    assert!(matches!(state, JobState::Failed(_)), "{state:?}");
    // CUPS would retry a stopped job later; the kiosk withdraws it.
    printer.cancel(&job).unwrap();
    assert_eq!(printer.job_state(&job).unwrap(), JobState::Cancelled);
    // cups-pdf may have written what it made of the bytes.
    for stray in pdfs_in(&dir).difference(&before) {
        let _ = fs::remove_file(stray);
    }
}

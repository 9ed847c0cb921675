//! `kiosk doctor`: every configured device with its health, and hands-on
//! tests a technician runs at the kiosk: print a test slip, print an A4 test
//! page, read a card, scan a code. It opens only the devices (no HIS, no
//! payment), so it works when everything else is down.
//!
//! With simulated devices the doctor plays the patient's part itself (it
//! places the sample card, scans a sample code), so the whole path is
//! exercised in the demo and in CI.

use crate::devices::{DeviceReport, Devices};
use kiosk_drivers::escpos::doc::Doc;
use kiosk_drivers::Health;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// What to test besides health.
#[derive(Debug, Clone, Default)]
pub struct DoctorOptions {
    pub print: bool,
    pub print_a4: bool,
    /// Wait this long for an ID or health card.
    pub read: Option<Duration>,
    /// Wait this long for a scan.
    pub scan: Option<Duration>,
    /// Hospital name for the test slip header.
    pub hospital: String,
    pub kiosk_id: String,
}

/// One hands-on test and how it went.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TestResult {
    pub test: &'static str,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DoctorReport {
    pub devices: Vec<DeviceReport>,
    pub tests: Vec<TestResult>,
}

impl DoctorReport {
    /// Devices in fault (a device configured as `none` is not counted) and
    /// failed tests.
    pub fn problems(&self) -> usize {
        self.devices
            .iter()
            .filter(|d| d.driver != "none" && !d.health.is_usable())
            .count()
            + self.tests.iter().filter(|t| !t.ok).count()
    }

    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<20} {:<10} {:<10} where",
            "device", "driver", "health"
        );
        for d in &self.devices {
            let (state, reason) = match &d.health {
                Health::Ok => ("ok", String::new()),
                Health::Degraded(r) => ("degraded", format!(" ({r})")),
                Health::Fault(r) => ("FAULT", format!(" ({r})")),
            };
            let _ = writeln!(
                s,
                "{:<20} {:<10} {:<10} {}{}",
                d.name, d.driver, state, d.describe, reason
            );
        }
        for t in &self.tests {
            let _ = writeln!(
                s,
                "test {:<15} {} {}",
                t.test,
                if t.ok { "ok  " } else { "FAIL" },
                t.detail
            );
        }
        let _ = writeln!(s, "{} problem(s)", self.problems());
        s
    }
}

/// A test slip: the header, the time, a QR and a barcode, both widths' rulers.
pub fn test_slip(columns: usize, hospital: &str, kiosk_id: &str) -> Doc {
    let now = crate::domain::to_cst(chrono::Utc::now())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let mut d = Doc::new(columns);
    d.title(hospital)
        .center("打印机测试页 Printer test page")
        .rule()
        .pair("自助机 Kiosk", kiosk_id)
        .pair("时间 Time", &now)
        .text("中文字体：门诊挂号缴费取报告")
        .bold("粗体 Bold")
        .big("大字 Large")
        .text(&"0123456789".repeat(columns / 10 + 1)[..columns])
        .qr(&format!("KIOSK-TEST-{kiosk_id}"))
        .barcode(&format!(
            "T{}",
            kiosk_id.trim_start_matches(|c: char| !c.is_ascii_digit())
        ))
        .rule()
        .cut();
    d
}

/// A one-page A4 test PDF (the HIS simulator's PDF writer, which embeds no
/// fonts: the page is Latin text).
fn test_pdf(kiosk_id: &str) -> Vec<u8> {
    use crate::his::sim::pdf::{render, Info, Page};
    let mut p = Page::default();
    p.bold(72, 760, 20, "Kiosk A4 printer test page");
    p.text(72, 730, 12, format!("Kiosk {kiosk_id}"));
    p.text(
        72,
        712,
        12,
        format!(
            "Printed {}",
            chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
        ),
    );
    p.rule(700);
    render(
        &[p],
        &Info {
            title: "Kiosk test page".into(),
            author: format!("kiosk {kiosk_id}"),
            created: chrono::Utc::now().format("D:%Y%m%d%H%M%SZ").to_string(),
        },
    )
}

/// Run the doctor: health of every device, then the tests asked for.
pub fn run(devices: &Devices, opts: &DoctorOptions) -> DoctorReport {
    let mut tests = Vec::new();
    let devices_report = devices.check_all();
    if opts.print {
        let doc = test_slip(devices.printer.columns(), &opts.hospital, &opts.kiosk_id);
        tests.push(match devices.printer.print(&doc) {
            Ok(()) => TestResult {
                test: "print",
                ok: true,
                detail: format!("test slip printed on {}", devices.printer.describe()),
            },
            Err(e) => TestResult {
                test: "print",
                ok: false,
                detail: e.to_string(),
            },
        });
        if let Some(sim) = &devices.sims.printer {
            if let Some(slip) = sim.wait_slips(1, Duration::from_secs(2)).last() {
                let first = slip
                    .text()
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("")
                    .to_string();
                tests.push(TestResult {
                    test: "print-readback",
                    ok: slip.complete && slip.receipt.qr_codes().len() == 1,
                    detail: format!(
                        "simulator decoded {:?}, QR {:?}",
                        first.trim(),
                        slip.receipt.qr_codes()
                    ),
                });
            }
        }
    }
    if opts.print_a4 {
        let pdf = test_pdf(&opts.kiosk_id);
        let r = devices
            .report_printer
            .print_pdf(&pdf, "kiosk-test-page")
            .and_then(|job| {
                let state = devices.report_printer.wait(&job, Duration::from_secs(60))?;
                Ok((job, state))
            });
        tests.push(match r {
            Ok((job, state)) => TestResult {
                test: "print-a4",
                ok: matches!(state, kiosk_drivers::report::JobState::Completed),
                detail: format!("job {job}: {state}"),
            },
            Err(e) => TestResult {
                test: "print-a4",
                ok: false,
                detail: e.to_string(),
            },
        });
    }
    if let Some(wait) = opts.read {
        tests.push(read_test(devices, wait));
    }
    if let Some(wait) = opts.scan {
        tests.push(scan_test(devices, wait));
    }
    DoctorReport {
        devices: devices_report,
        tests,
    }
}

fn read_test(devices: &Devices, wait: Duration) -> TestResult {
    if let Some(sim) = &devices.sims.id_reader {
        sim.insert(kiosk_drivers::sim::idcard::sample_card());
    }
    if let Some(sim) = &devices.sims.health_card {
        if let Some(card) = kiosk_drivers::healthcard::demo_cards().into_iter().next() {
            sim.insert(card);
        }
    }
    let deadline = Instant::now() + wait;
    let mut last_err = String::from("no card presented");
    while Instant::now() < deadline {
        match devices.id_reader.read_card() {
            Ok(Some(card)) => {
                return TestResult {
                    test: "read-id-card",
                    ok: true,
                    detail: format!("read {:?}", card),
                }
            }
            Ok(None) => {}
            Err(e) => last_err = e.to_string(),
        }
        match devices.health_reader.read_card(Duration::from_millis(200)) {
            Ok(Some(card)) => {
                return TestResult {
                    test: "read-health-card",
                    ok: true,
                    detail: format!("read {card:?}"),
                }
            }
            Ok(None) => {}
            Err(e) => last_err = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    TestResult {
        test: "read",
        ok: false,
        detail: last_err,
    }
}

fn scan_test(devices: &Devices, wait: Duration) -> TestResult {
    devices.scanner.drain();
    if let Some(sim) = &devices.sims.scanner {
        // Give the driver a moment to open the port before the code is sent.
        let deadline = Instant::now() + Duration::from_secs(3);
        while !devices.scanner.health().is_usable() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = sim.scan("V20261123000017");
    }
    match devices.scanner.next_scan(wait) {
        Some(Ok(code)) => TestResult {
            test: "scan",
            ok: true,
            detail: format!("{code:?}"),
        },
        Some(Err(e)) => TestResult {
            test: "scan",
            ok: false,
            detail: format!("rejected: {e}"),
        },
        None => TestResult {
            test: "scan",
            ok: false,
            detail: format!("nothing scanned within {wait:?}"),
        },
    }
}

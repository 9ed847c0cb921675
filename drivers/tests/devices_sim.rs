//! The drivers against the simulators over real links: TCP for the
//! printer, pseudo-terminals for the serial printer, the ID card reader and
//! the scanner. Faults (paper out mid-slip, cover open, unplug and replug,
//! line noise, silence) are checked from the driver's side.

use kiosk_drivers::escpos::doc::Doc;
use kiosk_drivers::idcard::reader::{IdCardError, IdCardReader, SerialIdReader};
use kiosk_drivers::printer::{EscPosPrinter, Link, PrinterError, ReceiptPrinter};
use kiosk_drivers::scanner::{CodeScanner, ScanError, Scanned, SerialScanner};
use kiosk_drivers::sim::idcard::{sample_card, IdReaderSim};
use kiosk_drivers::sim::printer::PrinterSim;
use kiosk_drivers::sim::scanner::ScannerSim;
use kiosk_drivers::Health;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn slip(cols: usize) -> Doc {
    let mut d = Doc::new(cols);
    d.title("宁波市第一人民医院")
        .center("挂号凭条 Registration slip")
        .rule()
        .pair("科室 Dept", "眼科 Ophthalmology")
        .pair("诊室 Room", "门诊楼3楼305")
        .pair("费用 Fee", "¥15.00")
        .qr("V20261123000017")
        .barcode("V20261123000017")
        .cut();
    d
}

fn tcp_printer(sim: &PrinterSim) -> EscPosPrinter {
    EscPosPrinter::new(
        Link::Tcp(sim.addr().to_string()),
        48,
        Duration::from_millis(500),
    )
    .with_print_timeout(Duration::from_millis(800))
}

#[test]
fn a_slip_printed_over_tcp_comes_back_readable_in_chinese_with_its_qr() {
    let sim = PrinterSim::start("127.0.0.1:0").unwrap();
    let p = tcp_printer(&sim);
    assert_eq!(p.check(), Health::Ok);
    p.print(&slip(48)).unwrap();
    let slips = sim.wait_slips(1, Duration::from_secs(2));
    assert_eq!(slips.len(), 1);
    let s = &slips[0];
    assert!(s.complete);
    let text = s.text();
    assert!(text.contains("宁波市第一人民医院"), "{text}");
    assert!(text.contains("门诊楼3楼305"), "{text}");
    assert_eq!(s.receipt.qr_codes(), vec!["V20261123000017"]);
    assert_eq!(s.receipt.cuts(), 1);
    assert!(sim.garbage().is_empty());
    assert_eq!(p.health(), Health::Ok);
}

#[test]
fn paper_running_out_mid_slip_fails_the_job_and_recovers_after_a_new_roll() {
    let sim = PrinterSim::start("127.0.0.1:0").unwrap();
    let p = tcp_printer(&sim);
    sim.set_paper_lines(Some(6));
    let err = p.print(&slip(48)).unwrap_err();
    assert!(
        matches!(&err, PrinterError::Stopped { status, .. } if status.paper_end),
        "{err}"
    );
    let cut_short = sim.wait_slips(1, Duration::from_secs(1));
    assert_eq!(cut_short.len(), 1);
    assert!(!cut_short[0].complete, "the slip came out cut short");
    assert!(matches!(p.health(), Health::Fault(r) if r.contains("paper out")));
    assert!(p.last_status().is_some_and(|s| s.paper_end));
    // While out of paper, nothing is sent and the reason is given.
    let err = p.print(&slip(48)).unwrap_err();
    assert!(matches!(err, PrinterError::NotReady { .. }), "{err}");
    assert_eq!(sim.slips().len(), 1);
    sim.load_paper(Some(500));
    assert_eq!(p.check(), Health::Ok);
    assert!(p
        .last_status()
        .is_some_and(|s| s.ready() && !s.paper_near_end));
    p.print(&slip(48)).unwrap();
    let after = sim.wait_slips(2, Duration::from_secs(1));
    assert!(after[1].complete);
    // A roll near its end still prints but warns.
    sim.load_paper(Some(50));
    p.print(&slip(48)).unwrap();
    assert!(matches!(p.health(), Health::Degraded(_)));
    assert!(p
        .last_status()
        .is_some_and(|s| s.paper_near_end && !s.paper_end));
}

#[test]
fn an_open_cover_refuses_the_job_before_any_byte_is_printed() {
    let sim = PrinterSim::start("127.0.0.1:0").unwrap();
    let p = tcp_printer(&sim);
    sim.set_cover_open(true);
    let err = p.print(&slip(32)).unwrap_err();
    assert!(
        matches!(&err, PrinterError::NotReady { status, .. } if status.cover_open),
        "{err}"
    );
    assert!(sim.slips().is_empty());
    assert!(matches!(p.check(), Health::Fault(r) if r.contains("cover open")));
    sim.set_cover_open(false);
    assert_eq!(p.check(), Health::Ok);
}

#[test]
fn an_unplugged_printer_is_a_fault_until_it_is_plugged_back() {
    let sim = PrinterSim::start("127.0.0.1:0").unwrap();
    let p = tcp_printer(&sim);
    assert_eq!(p.check(), Health::Ok);
    assert!(p.last_status().is_some());
    sim.unplug();
    assert!(matches!(p.check(), Health::Fault(_)));
    assert_eq!(p.last_status(), None, "an unplugged printer tells nothing");
    assert!(matches!(
        p.print(&slip(48)).unwrap_err(),
        PrinterError::Io { .. }
    ));
    sim.replug().unwrap();
    assert_eq!(p.check(), Health::Ok);
    p.print(&slip(48)).unwrap();
    assert_eq!(sim.wait_slips(1, Duration::from_secs(1)).len(), 1);
}

/// A TCP peer that is not a printer: it answers garbage, or nothing.
fn fake_peer(answer: Option<u8>) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            std::thread::spawn(move || {
                let mut b = [0u8; 1024];
                while let Ok(n) = s.read(&mut b) {
                    if n == 0 {
                        return;
                    }
                    if let Some(a) = answer {
                        let _ = s.write_all(&vec![a; n]);
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn garbage_or_silence_on_the_line_is_a_typed_error_in_bounded_time() {
    let p = EscPosPrinter::new(
        Link::Tcp(fake_peer(Some(0xFF))),
        48,
        Duration::from_millis(300),
    );
    assert!(matches!(
        p.print(&slip(48)).unwrap_err(),
        PrinterError::Garbage { .. }
    ));
    assert!(matches!(p.health(), Health::Fault(_)));
    let p = EscPosPrinter::new(Link::Tcp(fake_peer(None)), 48, Duration::from_millis(300));
    let t = Instant::now();
    assert!(matches!(
        p.print(&slip(48)).unwrap_err(),
        PrinterError::Timeout { .. }
    ));
    assert!(t.elapsed() < Duration::from_secs(5));
    // Nobody listening at all.
    let p = EscPosPrinter::new(
        Link::Tcp("127.0.0.1:1".into()),
        48,
        Duration::from_millis(300),
    );
    assert!(matches!(p.check(), Health::Fault(_)));
}

#[test]
fn a_serial_printer_on_a_pseudo_terminal_prints_and_reports_status() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("printer");
    let sim = PrinterSim::start_serial(&link).unwrap();
    let p = EscPosPrinter::new(
        Link::Serial {
            path: link.to_string_lossy().into_owned(),
            baud: 115_200,
        },
        32,
        Duration::from_millis(500),
    );
    assert_eq!(p.check(), Health::Ok);
    p.print(&slip(32)).unwrap();
    let slips = sim.wait_slips(1, Duration::from_secs(2));
    assert!(slips[0].text().contains("挂号凭条"));
    sim.set_paper_lines(Some(0));
    let h = p.check();
    assert!(
        matches!(&h, Health::Fault(r) if r.contains("paper out")),
        "{h}"
    );
}

#[test]
fn a_usb_lp_device_that_is_missing_is_a_fault() {
    let dir = tempfile::tempdir().unwrap();
    let p = EscPosPrinter::new(
        Link::UsbLp(dir.path().join("lp0")),
        48,
        Duration::from_millis(300),
    );
    assert!(matches!(p.check(), Health::Fault(_)));
    assert!(matches!(
        p.print(&slip(48)).unwrap_err(),
        PrinterError::Io { .. }
    ));
    // A node that exists (a plain file here) takes the bytes.
    std::fs::write(dir.path().join("lp0"), b"").unwrap();
    p.print(&slip(48)).unwrap();
    let bytes = std::fs::read(dir.path().join("lp0")).unwrap();
    let r = kiosk_drivers::escpos::parse::parse(&bytes).unwrap();
    assert!(r.text().contains("宁波市第一人民医院"));
}

fn id_reader(link: &std::path::Path) -> SerialIdReader {
    SerialIdReader::new(
        link.to_string_lossy().into_owned(),
        115_200,
        Duration::from_millis(500),
    )
}

#[test]
fn the_id_card_reader_reads_a_placed_card_and_nothing_when_none_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("idcard");
    let sim = IdReaderSim::start(&link).unwrap();
    let r = id_reader(&link);
    assert_eq!(r.check(), Health::Ok);
    assert!(r.read_card().unwrap().is_none());
    sim.insert(sample_card());
    let card = r.read_card().unwrap().expect("a card");
    assert_eq!(card, sample_card());
    assert_eq!(card.name, "张三");
    assert_eq!(card.valid_to, "长期");
    sim.remove();
    assert!(r.read_card().unwrap().is_none());
}

#[test]
fn noise_silence_and_unplugging_are_typed_errors_and_the_reader_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("idcard");
    let sim = IdReaderSim::start(&link).unwrap();
    sim.insert(sample_card());
    let r = id_reader(&link);
    // A frame with a broken checksum.
    let mut bad = kiosk_drivers::idcard::frame::response(
        kiosk_drivers::idcard::frame::Status::CardFound,
        &[0; 4],
    );
    *bad.last_mut().unwrap() ^= 0xFF;
    sim.inject_noise(bad);
    let e = r.read_card().unwrap_err();
    assert!(matches!(e, IdCardError::Frame { .. }), "{e}");
    assert!(r.read_card().unwrap().is_some(), "the next read works");
    sim.mute_once();
    let e = r.read_card().unwrap_err();
    assert!(matches!(e, IdCardError::Timeout { .. }), "{e}");
    assert!(matches!(r.health(), Health::Fault(_)));
    assert!(r.read_card().unwrap().is_some());
    sim.unplug();
    assert!(r.read_card().is_err());
    assert!(matches!(r.check(), Health::Fault(_)));
    sim.replug().unwrap();
    assert_eq!(r.check(), Health::Ok);
    assert!(r.read_card().unwrap().is_some());
}

fn next_code(s: &SerialScanner) -> Result<Scanned, ScanError> {
    s.next_scan(Duration::from_secs(3))
        .expect("a scan within 3 s")
}

fn wait_health(s: &SerialScanner, ok: bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.health().is_usable() != ok {
        assert!(Instant::now() < deadline, "health stayed {}", s.health());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_scanner_frames_and_recognises_codes_rejects_noise_and_survives_a_replug() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("scanner");
    let sim = ScannerSim::start(&link).unwrap();
    let s = SerialScanner::start(
        link.to_string_lossy().into_owned(),
        9600,
        512,
        Duration::from_millis(200),
    );
    wait_health(&s, true);
    sim.scan("134567890123456789").unwrap();
    assert_eq!(
        next_code(&s).unwrap(),
        Scanned::PaymentCode("134567890123456789".into())
    );
    sim.send_raw(b"R12\x07\xff34\r\n").unwrap();
    assert!(matches!(next_code(&s), Err(ScanError::NonPrintable(0x07))));
    sim.scan("V20261123000017").unwrap();
    assert_eq!(
        next_code(&s).unwrap(),
        Scanned::VisitNumber("V20261123000017".into())
    );
    sim.unplug();
    wait_health(&s, false);
    sim.replug().unwrap();
    wait_health(&s, true);
    sim.scan("R0001234").unwrap();
    assert_eq!(
        next_code(&s).unwrap(),
        Scanned::ReportBarcode("R0001234".into())
    );
}

//! Receipt printing costs. Not a test: it prints numbers.
//! `cargo bench -p kiosk-drivers --bench print` (results in docs/benchmarks.md).
//!
//! - layout: building a registration slip's [`Doc`] and encoding it to
//!   ESC/POS with the `escpos` crate (48 and 32 columns);
//! - print over TCP: from `print()` to its return against the simulator on
//!   loopback, i.e. status before, every byte sent, and the printer's `GS r`
//!   answer that it processed the last byte (connect included: the driver
//!   opens a connection per slip);
//! - status query alone (`check()`: connect + `DLE EOT 1, 2, 4`).

use kiosk_drivers::escpos::doc::Doc;
use kiosk_drivers::printer::{EscPosPrinter, Link, ReceiptPrinter};
use kiosk_drivers::sim::printer::PrinterSim;
use std::time::{Duration, Instant};

fn slip(cols: usize) -> Doc {
    let mut d = Doc::new(cols);
    d.title("宁波市第一人民医院")
        .center("挂号凭条 Registration slip")
        .rule()
        .pair("患者 Patient", "张*")
        .pair("证件 ID", "3302**********0011")
        .pair("科室 Department", "眼科 Ophthalmology")
        .pair("医生 Doctor", "李明 主任医师")
        .pair("日期 Date", "2026-11-23")
        .pair("时段 Time", "09:30-09:45")
        .pair("序号 Queue no.", "17")
        .pair(
            "地点 Location",
            "门诊楼3楼东区305诊室 Outpatient bldg 3F East 305",
        )
        .pair("费用 Fee", "¥15.00")
        .pair("支付 Paid by", "微信 WeChat Pay")
        .pair("交易号 Txn", "K01-20261123-000017")
        .rule()
        .qr("https://his.example/visit/V20261123000017")
        .barcode("V20261123000017")
        .text("请于09:30前到诊室外候诊，过号请到分诊台。")
        .text("Please wait outside the room before 09:30.")
        .cut();
    d
}

fn stats(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let p = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e3;
    let mean = v.iter().sum::<Duration>().as_secs_f64() * 1e3 / v.len() as f64;
    println!(
        "| {name} | {} | {:.3} | {:.3} | {:.3} |",
        v.len(),
        p(0.5),
        p(0.99),
        mean
    );
}

fn main() {
    println!("| operation | runs | p50 ms | p99 ms | mean ms |");
    println!("|---|---|---|---|---|");
    for cols in [48, 32] {
        let mut lat = Vec::new();
        let mut bytes = 0;
        for _ in 0..2000 {
            let t = Instant::now();
            let b = slip(cols).to_escpos().unwrap();
            lat.push(t.elapsed());
            bytes = b.len();
        }
        stats(
            &format!("layout + encode, {cols} columns ({bytes} bytes)"),
            lat,
        );
    }
    let sim = PrinterSim::start("127.0.0.1:0").unwrap();
    let p = EscPosPrinter::new(
        Link::Tcp(sim.addr().to_string()),
        48,
        Duration::from_secs(2),
    );
    let doc = slip(48);
    let mut lat = Vec::new();
    for _ in 0..500 {
        let t = Instant::now();
        p.print(&doc).unwrap();
        lat.push(t.elapsed());
    }
    assert_eq!(sim.take_slips().len(), 500);
    stats("print over TCP to the last byte (48 col)", lat);
    let mut lat = Vec::new();
    for _ in 0..500 {
        let t = Instant::now();
        p.check();
        lat.push(t.elapsed());
    }
    stats("status check (connect + DLE EOT x3)", lat);
}

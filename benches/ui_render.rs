//! The patient UI's costs with the software renderer at 1080x1920. Not a
//! test: it prints numbers. `cargo bench --bench ui_render`
//! (results in docs/benchmarks.md).
//!
//! - start to first frame: from `main` to the home screen's first rendered
//!   frame, including the embedded HIS and payment simulators and devices;
//! - a full repaint of the home screen and of the slot grid (16 slots);
//! - resident memory after a complete same-day registration (identify,
//!   department, doctor, slot, QR payment, result).

use kiosk::ui::screenshot::{demo_app, Headless, Tour};
use kiosk::ui::{Backend, Controller};
use slint::ComponentHandle;
use std::time::{Duration, Instant};

fn stats(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let p = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e3;
    let mean = v.iter().sum::<Duration>().as_secs_f64() * 1e3 / v.len() as f64;
    println!(
        "| {name} | {} | {:.1} | {:.1} | {:.1} |",
        v.len(),
        p(0.5),
        p(0.99),
        mean
    );
}

fn status_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn main() {
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (rt, app) = demo_app(dir.path(), &[]).unwrap();
    let h = Headless::install().unwrap();
    h.set_size(1080, 1920);
    let be = Backend::of(&app, rt.handle().clone());
    let c = Controller::new(app.cfg.clone(), be.clone()).unwrap();
    c.window.show().unwrap();
    let _ = h.render();
    let first = t0.elapsed();
    println!("| operation | runs | p50 ms | p99 ms | mean ms |");
    println!("|---|---|---|---|---|");
    stats(
        "start to first frame (simulators, devices, window)",
        vec![first],
    );
    let mut v = Vec::new();
    for _ in 0..40 {
        let t = Instant::now();
        let _ = h.render();
        v.push(t.elapsed());
    }
    stats("full repaint, home", v);
    let out = tempfile::tempdir().unwrap();
    let mut tour = Tour {
        headless: &h,
        c: c.clone(),
        be,
        out: out.path().to_path_buf(),
        prefix: String::new(),
        shots: Vec::new(),
    };
    // Up to the slot grid, then measure it.
    tour.to_slots(30).unwrap();
    let mut v = Vec::new();
    for _ in 0..40 {
        let t = Instant::now();
        let _ = h.render();
        v.push(t.elapsed());
    }
    stats("full repaint, slot grid", v);
    c.window.global::<kiosk::ui::Session>().invoke_home();
    tour.registration(31, true).unwrap();
    println!();
    println!(
        "resident memory after a full registration: VmRSS {} KiB, peak VmHWM {} KiB",
        status_kb("VmRSS:"),
        status_kb("VmHWM:")
    );
    rt.block_on(app.shutdown());
}

//! HIS simulator throughput and `HttpHis` client overhead on loopback.
//! Not a test: it prints numbers. `cargo bench --bench his_loopback`
//! (results and the machine they came from are in docs/benchmarks.md).
//!
//! Measures, against the simulator in-process on 127.0.0.1:
//! - slot queries (`listSlots`) one at a time and with 8 concurrent clients;
//! - hold + register (two keyed writes, SQLite transactions) per second;
//! - client overhead: `HttpHis::slots` versus a bare reqwest GET of the same
//!   URL with the same headers whose body is only read, not parsed.

use chrono::NaiveDate;
use kiosk::domain::CardKind;
use kiosk::his::sim::{self, SimConfig};
use kiosk::his::{wire, HisGateway, HttpHis, HttpHisConfig, IdempotencyKey};
use std::time::{Duration, Instant};

const TOKEN: &str = "bench";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn row(name: &str, n: usize, total: Duration, lat: &mut [Duration]) {
    lat.sort();
    println!(
        "| {name} | {n} | {:.0} | {:.3} | {:.3} | {:.3} |",
        n as f64 / total.as_secs_f64(),
        percentile(lat, 0.5).as_secs_f64() * 1e3,
        percentile(lat, 0.99).as_secs_f64() * 1e3,
        lat.iter().sum::<Duration>().as_secs_f64() * 1e3 / lat.len() as f64,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let cfg = SimConfig {
        token: TOKEN.into(),
        today: Some(today),
        db_path: dir.path().join("bench.db"),
        ..SimConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let handle = sim::spawn(cfg.clone(), listener).await.unwrap();
    let base = url::Url::parse(&format!("http://{}/", handle.addr)).unwrap();
    let client = |kiosk: &str| {
        HttpHis::new(HttpHisConfig::simple(
            base.clone(),
            TOKEN,
            &cfg.hospital_id,
            kiosk,
            Duration::from_secs(10),
        ))
        .unwrap()
    };
    let his = client("K01");

    // Every schedule of the next seven days, to spread queries over them.
    let mut schedules = Vec::new();
    for dept in his.departments().await.unwrap() {
        for d in 1..7 {
            for s in his
                .schedules(&dept.department_id, today + chrono::Duration::days(d))
                .await
                .unwrap()
            {
                schedules.push(s.schedule_id);
            }
        }
    }
    println!("| operation | requests | per second | p50 ms | p99 ms | mean ms |");
    println!("|---|---|---|---|---|---|");

    // Warm-up.
    for s in schedules.iter().take(50) {
        his.slots(s).await.unwrap();
    }

    let n = 2000;
    let mut lat = Vec::with_capacity(n);
    let t0 = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        his.slots(&schedules[i % schedules.len()]).await.unwrap();
        lat.push(t.elapsed());
    }
    row("listSlots, 1 client (HttpHis)", n, t0.elapsed(), &mut lat);

    // The same requests without the typed client: headers, send, read body.
    let raw = reqwest::Client::new();
    let mut lat = Vec::with_capacity(n);
    let t0 = Instant::now();
    for i in 0..n {
        let url = base
            .join(&format!(
                "v1/schedules/{}/slots",
                schedules[i % schedules.len()]
            ))
            .unwrap();
        let t = Instant::now();
        let r = raw
            .get(url)
            .bearer_auth(TOKEN)
            .header("X-Hospital-Id", &cfg.hospital_id)
            .header("X-Kiosk-Id", "K01")
            .send()
            .await
            .unwrap();
        let _ = r.bytes().await.unwrap();
        lat.push(t.elapsed());
    }
    row(
        "listSlots, 1 client (bare reqwest, no parsing)",
        n,
        t0.elapsed(),
        &mut lat,
    );

    let clients: Vec<HttpHis> = (0..8).map(|i| client(&format!("K{i:02}"))).collect();
    let per = 500;
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for (c, his) in clients.into_iter().enumerate() {
        let schedules = schedules.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per);
            for i in 0..per {
                let t = Instant::now();
                his.slots(&schedules[(i * 8 + c) % schedules.len()])
                    .await
                    .unwrap();
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    row(
        "listSlots, 8 concurrent clients",
        per * 8,
        t0.elapsed(),
        &mut lat,
    );

    // Hold + register on future slots, one patient per schedule.
    let patients: Vec<String> = sim::seeded_cards(&handle)
        .into_iter()
        .filter(|c| c.0 == CardKind::IdCard)
        .map(|c| c.2)
        .collect();
    let mut lat = Vec::new();
    let mut seq = 0u64;
    let t0 = Instant::now();
    'outer: for s in &schedules {
        for slot in his.slots(s).await.unwrap() {
            if slot.remaining == 0 {
                continue;
            }
            let pid = &patients[seq as usize % patients.len()];
            seq += 1;
            let t = Instant::now();
            let hk = IdempotencyKey::for_step("K01", today, seq, "hold").unwrap();
            let req = wire::HoldRequest {
                slot_id: slot.slot_id.clone(),
                patient_id: pid.clone(),
                referral: false,
            };
            let hold = match his.hold(&hk, &req).await {
                Ok(h) => h,
                Err(_) => continue, // this patient already holds a place in this schedule
            };
            let rk = IdempotencyKey::for_step("K01", today, seq, "post").unwrap();
            his.register(
                &rk,
                &wire::RegisterRequest {
                    hold_id: hold.hold_id,
                    patient_id: pid.clone(),
                    payment: None,
                },
            )
            .await
            .unwrap();
            lat.push(t.elapsed());
            if lat.len() == 300 {
                break 'outer;
            }
            break;
        }
    }
    let total = t0.elapsed();
    let n = lat.len();
    row("hold + register (2 keyed writes)", n, total, &mut lat);
    handle.shutdown().await;
}

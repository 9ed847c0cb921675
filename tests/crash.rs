//! Crash safety, proved with real processes: the `kiosk` binary (built with
//! the `failpoints` feature) runs one paid transaction (`kiosk drill`)
//! against the HIS and payment simulators over HTTP, is killed with SIGKILL
//! at a failpoint, and is restarted (`kiosk recover`, what start-up does).
//! Then, for every transaction in the journal:
//! - it is terminal;
//! - nobody is charged without a HIS posting or a refund: what the channel
//!   kept equals what HIS posted (NeedsStaff aside, which has a voucher);
//! - HIS has at most one posting per transaction, the channel one order;
//! - a cancellation that is done was cancelled at HIS once (a negative
//!   entry of its refund) and refunded once under `{original}X`; one that
//!   was let go did neither; a booking it cancelled kept nothing else back;
//! - `kiosk reconcile` for the day agrees (exit status 0).
//!
//! Every failpoint a transaction passes through (found by a clean run with a
//! trace) is killed at, for every transaction type, and for the failure
//! paths (HIS refusing, a declined code, a QR, a payer confirming late, a
//! refund the channel refuses). A cancellation case first books and pays
//! with a clean drill, then kills the cancelling drill.
//! `soak` (ignored; `scripts/soak.sh N`) kills at random instants instead.
#![cfg(feature = "failpoints")]

mod common;

use common::{today, Sim, PAY_FACTOR};
use kiosk::his::HisGateway;
use kiosk::pay::{OrderStatus, OutRefundNo, OutTradeNo, PaymentGateway, RefundStatus};
use kiosk::txn::{Journal, TxnKind, TxnState};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const KEY_HEX: &str = "6b696f736b2d63726173682d6861726e6573732d6b65792d3031";

/// A fresh hospital and payment platform for one kill cycle.
struct World {
    his: Sim,
    pay: kiosk::pay::sim::PaySimHandle,
    dir: PathBuf,
}

impl World {
    async fn start() -> World {
        let his = Sim::start().await;
        his.morning().await;
        let dir = his.dir.path().to_path_buf();
        std::fs::write(dir.join("pay.key"), KEY_HEX).unwrap();
        let cfg = kiosk::pay::sim::PaySimConfig {
            kiosk_keys: vec![(
                "K01".into(),
                kiosk::pay::KioskKey::from_hex(KEY_HEX).unwrap(),
            )],
            time_factor: PAY_FACTOR,
            today: Some(today()),
            db_path: dir.join("pay.db"),
            ..kiosk::pay::sim::PaySimConfig::default()
        };
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pay = kiosk::pay::sim::spawn(cfg, l).await.unwrap();
        World { his, pay, dir }
    }

    fn pay_base(&self) -> url::Url {
        url::Url::parse(&format!("http://{}/", self.pay.addr)).unwrap()
    }

    /// The kiosk's configuration, as hospital IT would give it: environment.
    fn kiosk(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kiosk"));
        c.args(args)
            .env_remove("KIOSK_CONFIG")
            .env("KIOSK_KIOSK__DATA_DIR", &self.dir)
            .env("KIOSK_HIS__MODE", "remote")
            .env("KIOSK_HIS__BASE_URL", self.his.base().as_str())
            .env("KIOSK_HIS__TOKEN", common::TOKEN)
            .env("KIOSK_HIS__BACKOFF_MS", "20")
            .env("KIOSK_PAY__MODE", "remote")
            .env("KIOSK_PAY__BASE_URL", self.pay_base().as_str())
            .env("KIOSK_PAY__KEY_FILE", self.dir.join("pay.key"))
            .env("KIOSK_PAY__BACKOFF_MS", "20")
            .env("KIOSK_TXN__POLL_INTERVAL_MS", "100")
            .env("KIOSK_TXN__USER_PAYING_TIMEOUT_SECS", "6")
            .env("KIOSK_TXN__QR_TIMEOUT_SECS", "10")
            .env("KIOSK_DEVICES__RECEIPT_PRINTER__DRIVER", "spool")
            .env("KIOSK_LOGGING__FILTER", "warn")
            .env_remove("KIOSK_FAILPOINT")
            .env_remove("KIOSK_FAILPOINT_TRACE");
        c
    }

    fn his_client(&self) -> kiosk::his::HttpHis {
        self.his.client("K01")
    }

    fn pay_client(&self) -> kiosk::pay::HttpPay {
        kiosk::pay::HttpPay::new(kiosk::pay::HttpPayConfig::simple(
            self.pay_base(),
            "K01",
            kiosk::pay::KioskKey::from_hex(KEY_HEX).unwrap(),
            Duration::from_secs(5),
        ))
        .unwrap()
    }
}

/// One transaction type and how it is paid.
#[derive(Debug, Clone, Copy)]
struct Case {
    kind: &'static str,
    /// Index of the seeded patient.
    patient: usize,
    pay: &'static str,
    /// Make HIS refuse this posting operation for good.
    refuse: Option<&'static str>,
    /// A transaction run cleanly first, in the same journal (`booking`: the
    /// paid booking a cancellation case cancels), paid with `code:0001`.
    setup: Option<&'static str>,
    /// Make the payment platform refuse this operation for good (409).
    pay_refuse: Option<&'static str>,
}

async fn card_of(w: &World, n: usize) -> String {
    let p = &kiosk::his::sim::seeded_patients(&w.his.handle)[n];
    p.cards
        .iter()
        .find(|(k, _)| *k == kiosk::domain::CardKind::IdCard)
        .map(|(_, c)| c.clone())
        .unwrap_or_else(|| p.id_number.clone())
}

async fn prepare(w: &World, case: Case) -> Vec<String> {
    let card = card_of(w, case.patient).await;
    let args = |kind: &str, pay: &str| -> Vec<String> {
        vec![
            "drill".into(),
            "--kind".into(),
            kind.into(),
            "--card-no".into(),
            card.clone(),
            "--pay".into(),
            pay.into(),
        ]
    };
    if let Some(kind) = case.setup {
        match drill(w, args(kind, "code:0001"), None, None, None).await {
            Run::Finished(s, out) => assert!(s.success(), "{case:?}: set-up failed:\n{out}"),
            Run::Killed => panic!("{case:?}: set-up killed"),
        }
    }
    if let Some(op) = case.pay_refuse {
        let r = w
            .his
            .http
            .post(w.pay_base().join("sim/faults").unwrap())
            .json(
                &serde_json::json!({"operation": op, "kind": "error", "status": 409,
                                       "code": "INVALID_STATE", "times": null}),
            )
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }
    if let Some(op) = case.refuse {
        w.his
            .fault(serde_json::json!({"operation": op, "kind": "reject",
                                       "code": "INVALID_STATE", "times": null}))
            .await;
    }
    args(case.kind, case.pay)
}

/// What the channel refunded under `refund_no` (0 if nothing).
async fn refunded_under(pay: &kiosk::pay::HttpPay, refund_no: &str, what: &str) -> i64 {
    match pay
        .query_refund(&OutRefundNo::new(refund_no).unwrap())
        .await
    {
        Ok(r) => {
            assert_eq!(r.status, RefundStatus::Success, "{what}: {refund_no}");
            r.amount_fen.fen()
        }
        Err(e) => {
            assert_eq!(
                e.code(),
                Some(kiosk::pay::ErrorCode::RefundNotFound),
                "{what}: {e}"
            );
            0
        }
    }
}

/// How a drill run ended.
enum Run {
    Finished(std::process::ExitStatus, String),
    Killed,
}

/// Run the drill; kill it with SIGKILL at `failpoint`, or after `after`.
async fn drill(
    w: &World,
    args: Vec<String>,
    failpoint: Option<&str>,
    after: Option<Duration>,
    trace: Option<&Path>,
) -> Run {
    let mut cmd = w.kiosk(&args.iter().map(String::as_str).collect::<Vec<_>>());
    if let Some(f) = failpoint {
        cmd.env("KIOSK_FAILPOINT", f);
    }
    if let Some(t) = trace {
        cmd.env("KIOSK_FAILPOINT_TRACE", t);
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("kiosk binary runs");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    tokio::task::spawn_blocking(move || {
        let err = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let out = std::thread::spawn(move || {
            let mut out = String::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("FAILPOINT ") {
                    let _ = tx.send(());
                }
                out.push_str(&line);
                out.push('\n');
            }
            out
        });
        // One owner of the child: it is killed only while it is known to run.
        let started = std::time::Instant::now();
        let mut killed = false;
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            let at_failpoint = rx.try_recv().is_ok();
            let timed = after.is_some_and(|d| started.elapsed() >= d);
            if at_failpoint || timed {
                // SIGKILL, at whatever instant this is.
                child.kill().expect("SIGKILL");
                killed = true;
                break child.wait().unwrap();
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the drill hangs"
            );
            std::thread::sleep(Duration::from_millis(2));
        };
        let out = out.join().unwrap_or_default();
        let err = err.join().unwrap_or_default();
        if killed {
            Run::Killed
        } else {
            Run::Finished(status, format!("{out}{err}"))
        }
    })
    .await
    .unwrap()
}

async fn kiosk_cmd(w: &World, args: &[&str]) -> (bool, String) {
    let mut cmd = w.kiosk(args);
    tokio::task::spawn_blocking(move || {
        let o = cmd.output().unwrap();
        (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    })
    .await
    .unwrap()
}

/// Restart, recover, and check every invariant. `what` names the cycle.
async fn recover_and_check(w: &World, what: &str) {
    let (ok, out) = kiosk_cmd(w, &["recover", "--wait-secs", "30"]).await;
    assert!(ok, "{what}: recovery left work open:\n{out}");
    let journal = Journal::open(&w.dir.join("journal.db"), "K01").unwrap();
    let txns = journal.on_date(today()).unwrap();
    let his = w.his_client();
    let pay = w.pay_client();
    let ledger = his.ledger(today()).await.unwrap();
    for t in &txns {
        assert!(
            t.state.is_terminal(),
            "{what}: {} is {}",
            t.key_base(),
            t.state
        );
        let postings: Vec<_> = ledger
            .entries
            .iter()
            .filter(|e| e.idempotency_key.starts_with(&format!("{}-", t.key_base())))
            .collect();
        assert!(
            postings.len() <= 1,
            "{what}: {} posted twice: {postings:?}",
            t.key_base()
        );
        let posted = postings.first().map(|e| e.amount_fen.fen()).unwrap_or(0);
        if t.kind == TxnKind::Cancellation {
            let refunded = match t.cancellation_refund_no() {
                Some(no) => refunded_under(&pay, &no, what).await,
                None => 0,
            };
            if let Some(original) = &t.refund_of {
                let o = pay
                    .query_order(&OutTradeNo::new(original.clone()).unwrap())
                    .await
                    .unwrap();
                assert_eq!(
                    o.refunded_fen.fen(),
                    refunded,
                    "{what}: {original} refunded other than by {}",
                    t.key_base()
                );
            }
            match t.state {
                TxnState::NeedsStaff => {}
                TxnState::Done => {
                    assert_eq!(refunded, t.amount.fen(), "{what}: {} refund", t.key_base());
                    assert_eq!(
                        posted,
                        -t.amount.fen(),
                        "{what}: {} not cancelled at HIS",
                        t.key_base()
                    );
                }
                _ => {
                    assert_eq!(refunded, 0, "{what}: {} let go but refunded", t.key_base());
                    assert_eq!(posted, 0, "{what}: {} let go but cancelled", t.key_base());
                }
            }
            continue;
        }
        // What a later cancellation returned of this order is that one's.
        let returned = refunded_under(&pay, &format!("{}X", t.out_trade_no()), what).await;
        let kept = returned
            + match pay
                .query_order(&OutTradeNo::new(t.out_trade_no()).unwrap())
                .await
            {
                Ok(o) => {
                    assert!(
                        !matches!(o.status, OrderStatus::NotPaid | OrderStatus::UserPaying),
                        "{what}: {} left an order open at the channel: {:?}",
                        t.key_base(),
                        o.status
                    );
                    if matches!(o.status, OrderStatus::Paid | OrderStatus::Refunded) {
                        o.amount_fen.fen() - o.refunded_fen.fen()
                    } else {
                        0
                    }
                }
                Err(e) => {
                    assert_eq!(
                        e.code(),
                        Some(kiosk::pay::ErrorCode::OrderNotFound),
                        "{what}: {e}"
                    );
                    0
                }
            };
        match t.state {
            TxnState::NeedsStaff => {}
            TxnState::Done => {
                assert_eq!(
                    kept,
                    t.amount.fen(),
                    "{what}: {} charged wrongly",
                    t.key_base()
                );
                assert_eq!(
                    posted,
                    t.amount.fen(),
                    "{what}: {} not posted",
                    t.key_base()
                );
            }
            _ => {
                assert_eq!(kept, 0, "{what}: {} undone but money kept", t.key_base());
                assert_eq!(posted, 0, "{what}: {} undone but posted", t.key_base());
            }
        }
    }
    // The day reconciles, through the real command.
    let r = w
        .his
        .http
        .post(w.pay_base().join("sim/clock").unwrap())
        .json(&serde_json::json!({ "advance_secs": 26 * 3600 }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let (ok, out) = kiosk_cmd(w, &["reconcile", "--date", &today().to_string()]).await;
    assert!(ok, "{what}: reconciliation:\n{out}");
}

/// The failpoints a clean run of `case` passes, in order of first hit.
async fn failpoints_of(case: Case) -> Vec<String> {
    let w = World::start().await;
    let args = prepare(&w, case).await;
    let trace = w.dir.join("trace");
    match drill(&w, args, None, None, Some(&trace)).await {
        Run::Finished(s, out) => assert!(s.success(), "{case:?}: clean run failed:\n{out}"),
        Run::Killed => panic!("{case:?}: killed without a failpoint"),
    }
    recover_and_check(&w, &format!("{case:?} clean")).await;
    let mut seen = Vec::new();
    for l in std::fs::read_to_string(&trace).unwrap().lines() {
        if !seen.iter().any(|s: &String| s == l) {
            seen.push(l.to_string());
        }
    }
    seen
}

async fn kill_at_every_failpoint(case: Case) {
    let points = failpoints_of(case).await;
    assert!(points.len() >= 5, "{case:?}: only {points:?}");
    for fp in &points {
        let w = World::start().await;
        let args = prepare(&w, case).await;
        match drill(&w, args, Some(fp), None, None).await {
            Run::Killed => {}
            Run::Finished(s, out) => panic!("{case:?}: {fp} not reached ({s}):\n{out}"),
        }
        w.his.clear_faults().await;
        recover_and_check(&w, &format!("{case:?} killed at {fp}")).await;
    }
    eprintln!(
        "{case:?}: killed and recovered at {} failpoints: {points:?}",
        points.len()
    );
}

macro_rules! crash_test {
    ($name:ident, $kind:literal, $patient:expr, $pay:literal, $refuse:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            kill_at_every_failpoint(Case {
                kind: $kind,
                patient: $patient,
                pay: $pay,
                refuse: $refuse,
                setup: None,
                pay_refuse: None,
            })
            .await;
        }
    };
}

/// A cancellation of `$patient`'s booking (after `$setup`, if any).
macro_rules! cancel_test {
    ($name:ident, $patient:expr, $setup:expr, $refuse:expr, $pay_refuse:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            kill_at_every_failpoint(Case {
                kind: "cancellation",
                patient: $patient,
                pay: "code:0001",
                refuse: $refuse,
                setup: $setup,
                pay_refuse: $pay_refuse,
            })
            .await;
        }
    };
}

crash_test!(
    registration_paid_by_code,
    "registration",
    3,
    "code:0001",
    None
);
crash_test!(booking_paid_by_code, "booking", 4, "code:0001", None);
crash_test!(check_in_with_fee, "check_in", 65, "code:0001", None);
crash_test!(settlement_paid_by_qr, "settlement", 0, "qr", None);
crash_test!(
    settlement_payer_confirms_late,
    "settlement",
    0,
    "code:0002",
    None
);
crash_test!(
    registration_refused_by_his_is_refunded,
    "registration",
    5,
    "code:0001",
    Some("createAppointment")
);
crash_test!(
    settlement_refused_by_his_is_refunded,
    "settlement",
    0,
    "code:0001",
    Some("settle")
);
crash_test!(booking_declined_code, "booking", 6, "code:0004", None);
cancel_test!(
    cancellation_of_a_booking_paid_here,
    4,
    Some("booking"),
    None,
    None
);
// Seeded patient 73: booked later this week, to pay at check-in.
cancel_test!(cancellation_with_nothing_to_refund, 73, None, None, None);
cancel_test!(
    cancellation_refused_by_his,
    4,
    Some("booking"),
    Some("cancelAppointment"),
    None
);
cancel_test!(
    cancellation_refund_refused_goes_to_staff,
    4,
    Some("booking"),
    None,
    Some("createRefund")
);

/// `SOAK_CYCLES=N` random kinds killed at random instants (`scripts/soak.sh`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: run through scripts/soak.sh"]
async fn soak() {
    let cycles: u64 = std::env::var("SOAK_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let mut seed: u64 = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("soak: {cycles} cycles, SOAK_SEED={seed}");
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let cases = [
        Case {
            kind: "registration",
            patient: 3,
            pay: "code:0001",
            refuse: None,
            setup: None,
            pay_refuse: None,
        },
        Case {
            kind: "booking",
            patient: 4,
            pay: "code:0002",
            refuse: None,
            setup: None,
            pay_refuse: None,
        },
        Case {
            kind: "check_in",
            patient: 66,
            pay: "code:0001",
            refuse: None,
            setup: None,
            pay_refuse: None,
        },
        Case {
            kind: "settlement",
            patient: 0,
            pay: "qr",
            refuse: None,
            setup: None,
            pay_refuse: None,
        },
        Case {
            kind: "registration",
            patient: 5,
            pay: "code:0001",
            refuse: Some("createAppointment"),
            setup: None,
            pay_refuse: None,
        },
        Case {
            kind: "booking",
            patient: 6,
            pay: "code:0004",
            refuse: None,
            setup: None,
            pay_refuse: None,
        },
        Case {
            kind: "cancellation",
            patient: 4,
            pay: "code:0001",
            refuse: None,
            setup: Some("booking"),
            pay_refuse: None,
        },
    ];
    let (mut killed, mut finished) = (0, 0);
    // Kill instants are drawn over how long a drill takes on this machine,
    // learnt from the runs that finish first.
    let mut span_ms: u64 = 400;
    for i in 0..cycles {
        let case = cases[(next() % cases.len() as u64) as usize];
        let after = Duration::from_millis(next() % span_ms.max(20));
        let w = World::start().await;
        let args = prepare(&w, case).await;
        let t0 = std::time::Instant::now();
        match drill(&w, args, None, Some(after), None).await {
            Run::Killed => killed += 1,
            Run::Finished(..) => {
                finished += 1;
                let took = t0.elapsed().as_millis() as u64;
                span_ms = (span_ms * 3 + took) / 4;
            }
        }
        w.his.clear_faults().await;
        recover_and_check(&w, &format!("soak cycle {i} {case:?} kill after {after:?}")).await;
    }
    println!("SOAK cycles={cycles} killed={killed} finished_before_kill={finished} violations=0");
}

//! Shared set-up for integration tests: a HIS simulator on a loopback port
//! (real HTTP, real SQLite in a temp dir) and `HttpHis` clients for it.
#![allow(dead_code)]

use chrono::NaiveDate;
use kiosk::his::sim::{self, SimConfig, SimHandle};
use kiosk::his::{HttpHis, HttpHisConfig, IdempotencyKey};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub const TOKEN: &str = "test-token";
pub const HOSPITAL: &str = "H0001";

pub fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

pub struct Sim {
    pub handle: SimHandle,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

impl Sim {
    pub async fn start() -> Sim {
        Sim::start_with(|_| {}).await
    }

    pub async fn start_with(f: impl FnOnce(&mut SimConfig)) -> Sim {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = SimConfig {
            hospital_id: HOSPITAL.into(),
            token: TOKEN.into(),
            seed: 7,
            today: Some(today()),
            slot_minutes: 15,
            hold_ttl_secs: 300,
            db_path: dir.path().join("his.db"),
            ..SimConfig::default()
        };
        f(&mut cfg);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let handle = sim::spawn(cfg, listener).await.unwrap();
        Sim {
            handle,
            dir,
            http: reqwest::Client::new(),
        }
    }

    pub fn base(&self) -> url::Url {
        url::Url::parse(&format!("http://{}/", self.handle.addr)).unwrap()
    }

    pub fn client(&self, kiosk: &str) -> HttpHis {
        self.client_with(kiosk, Duration::from_secs(5), 3)
    }

    pub fn client_with(&self, kiosk: &str, timeout: Duration, attempts: u32) -> HttpHis {
        let mut cfg = HttpHisConfig::simple(self.base(), TOKEN, HOSPITAL, kiosk, timeout);
        cfg.max_attempts = attempts;
        cfg.backoff = Duration::from_millis(20);
        HttpHis::new(cfg).unwrap()
    }

    /// Inject a fault through the simulator's control endpoint.
    pub async fn fault(&self, body: serde_json::Value) {
        let r = self
            .http
            .post(self.base().join("sim/faults").unwrap())
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "fault injection refused: {}",
            r.text().await.unwrap()
        );
    }

    pub async fn clear_faults(&self) {
        let r = self
            .http
            .delete(self.base().join("sim/faults").unwrap())
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    pub async fn advance(&self, secs: i64) {
        let r = self
            .http
            .post(self.base().join("sim/clock").unwrap())
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({ "advance_secs": secs }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    /// A raw request with the protocol's headers (for what the typed client cannot send).
    pub fn raw(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.base().join(path).unwrap())
            .bearer_auth(TOKEN)
            .header("X-Hospital-Id", HOSPITAL)
            .header("X-Kiosk-Id", "K99")
    }
}

static SEQ: AtomicU64 = AtomicU64::new(1);

/// A fresh idempotency key for one side effect.
pub fn key(step: &str) -> IdempotencyKey {
    IdempotencyKey::for_step("K01", today(), SEQ.fetch_add(1, Ordering::Relaxed), step).unwrap()
}

// ------------------------------------------------------------------ stack

/// The whole money path in one process: the HIS simulator and the payment
/// simulator on loopback, the real HTTP clients, a journal on disk, a spool
/// printer, and the transaction runner over them.
pub struct Stack {
    pub his: Sim,
    pub pay: kiosk::pay::sim::PaySimHandle,
    pub runner: kiosk::txn::Runner,
    pub his_client: std::sync::Arc<HttpHis>,
    pub pay_client: std::sync::Arc<kiosk::pay::HttpPay>,
    pub spool: std::path::PathBuf,
    pub journal: std::path::PathBuf,
}

/// Simulated seconds per real second on the payment side: 45 s take 2.25 s.
pub const PAY_FACTOR: f64 = 20.0;

impl Stack {
    pub async fn start() -> Stack {
        Stack::start_with(|_| {}).await
    }

    pub async fn start_with(f: impl FnOnce(&mut kiosk::txn::RunnerConfig)) -> Stack {
        use kiosk::pay::sim::PaySimConfig;
        let his = Sim::start().await;
        his.morning().await;
        let dir = his.dir.path().to_path_buf();
        let pay_cfg = PaySimConfig {
            time_factor: PAY_FACTOR,
            today: Some(today()),
            db_path: dir.join("pay.db"),
            ..PaySimConfig::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pay = kiosk::pay::sim::spawn(pay_cfg, listener).await.unwrap();
        let his_client = std::sync::Arc::new(his.client_with("K01", Duration::from_secs(2), 2));
        let pay_client = std::sync::Arc::new(
            kiosk::pay::HttpPay::new(kiosk::pay::HttpPayConfig::simple(
                url::Url::parse(&format!("http://{}/", pay.addr)).unwrap(),
                "K01",
                kiosk::pay::KioskKey::demo(),
                Duration::from_secs(2),
            ))
            .unwrap(),
        );
        let spool = dir.join("receipts.escpos");
        let journal = dir.join("journal.db");
        let mut rc = kiosk::txn::RunnerConfig {
            kiosk_id: "K01".into(),
            hospital_zh: "测试医院".into(),
            hospital_en: "Test Hospital".into(),
            service_phone: "0574-00000000".into(),
            business_date: None,
            poll_interval: Duration::from_millis(100),
            user_paying_timeout: Duration::from_secs(6),
            qr_timeout: Duration::from_secs(5),
            live_attempts: 2,
            reverse_deadline: Duration::from_secs(600),
        };
        f(&mut rc);
        let runner = kiosk::txn::Runner::new(
            kiosk::txn::Journal::open(&journal, "K01").unwrap(),
            his_client.clone(),
            pay_client.clone(),
            std::sync::Arc::new(kiosk::print::EscPosPrinter::new(
                kiosk::print::Link::Spool(spool.clone()),
                48,
                Duration::from_secs(2),
            )),
            rc,
        );
        Stack {
            his,
            pay,
            runner,
            his_client,
            pay_client,
            spool,
            journal,
        }
    }

    pub fn pay_base(&self) -> url::Url {
        url::Url::parse(&format!("http://{}/", self.pay.addr)).unwrap()
    }

    /// Inject a fault into the payment simulator.
    pub async fn pay_fault(&self, body: serde_json::Value) {
        let r = self
            .his
            .http
            .post(self.pay_base().join("sim/faults").unwrap())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    /// Move the payment platform to the next day 10:30, when the bill is ready.
    pub async fn pay_next_morning(&self) {
        let r = self
            .his
            .http
            .post(self.pay_base().join("sim/clock").unwrap())
            .json(&serde_json::json!({ "advance_secs": 26 * 3600 }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    /// The spooled slips, parsed back from their ESC/POS bytes.
    pub fn receipts(&self) -> kiosk_drivers::escpos::parse::Receipt {
        let bytes = std::fs::read(&self.spool).unwrap_or_default();
        kiosk_drivers::escpos::parse::parse(&bytes).unwrap()
    }

    /// A seeded patient by index, as the runner knows them.
    pub fn patient(&self, n: usize) -> (kiosk::txn::PatientRef, String) {
        let p = &sim::seeded_patients(&self.his.handle)[n];
        (
            kiosk::txn::PatientRef {
                patient_id: p.patient_id.clone(),
                name_masked: "张*".into(),
                id_masked: "3302**********0000".into(),
            },
            p.patient_id.clone(),
        )
    }

    /// Reconcile `today()` through the real clients.
    pub async fn reconcile(&self) -> kiosk::txn::reconcile::Summary {
        self.reconcile_with(&self.runner).await
    }

    /// Reconcile against another runner's journal (a test that swapped a part).
    pub async fn reconcile_with(
        &self,
        runner: &kiosk::txn::Runner,
    ) -> kiosk::txn::reconcile::Summary {
        use kiosk::his::HisGateway;
        use kiosk::pay::PaymentGateway;
        self.pay_next_morning().await;
        let journal = runner.with_journal(|j| j.on_date(today())).unwrap();
        let bill = self.pay_client.day_bill(today()).await.unwrap();
        let ledger = self.his_client.ledger(today()).await.unwrap();
        kiosk::txn::reconcile::reconcile(&journal, &bill.channel_rows(), &ledger.entries)
    }
}

impl Sim {
    /// Set the simulator's clock to 08:00 of its day, before the first session.
    pub async fn morning(&self) {
        let r: serde_json::Value = self
            .http
            .get(self.base().join("sim/clock").unwrap())
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let now = chrono::DateTime::parse_from_rfc3339(r["now"].as_str().unwrap()).unwrap();
        let eight = now
            .date_naive()
            .and_hms_opt(8, 0, 0)
            .unwrap()
            .and_local_timezone(*now.offset())
            .unwrap();
        self.advance((eight - now).num_seconds()).await;
    }
}

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

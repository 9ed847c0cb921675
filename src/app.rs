//! Wiring: from a [`Config`] to a running set of adapters (HIS client,
//! payment client, receipt printer, journal, transaction runner), starting
//! the embedded simulators first in demo mode. Embedded mode still talks HTTP
//! to the simulators: the real client paths always run. `kiosk run` adds the
//! status endpoint and the fleet heartbeat ([`App::start_status_endpoint`],
//! [`App::start_heartbeat`]).

use crate::config::{Config, ConfigError, HisMode, PayMode};
use crate::devices::{DeviceError, Devices};
use crate::heartbeat::{HeartbeatConfig, HeartbeatHandle};
use crate::his::{self, HisGateway, HttpHis, HttpHisConfig};
use crate::metrics::Metrics;
use crate::pay::{self, HttpPay, HttpPayConfig, PaymentGateway};
use crate::status::{StatusHandle, StatusSource};
use crate::txn::{Journal, Runner, RunnerConfig};
use chrono::NaiveDate;
use std::sync::Arc;
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("creating the data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{what} URL: {source}")]
    Url {
        what: &'static str,
        source: url::ParseError,
    },
    #[error("starting the embedded HIS simulator: {0}")]
    HisSim(#[from] his::sim::SimError),
    #[error("starting the embedded payment simulator: {0}")]
    PaySim(#[from] pay::sim::PaySimError),
    #[error("binding a loopback port for an embedded simulator: {0}")]
    Bind(std::io::Error),
    #[error("HIS client: {0}")]
    HisClient(#[from] his::HttpHisSetupError),
    #[error("payment client: {0}")]
    PayClient(#[from] pay::HttpPaySetupError),
    #[error("the HIS gateway does not answer: {0}")]
    HisDown(#[from] his::HisError),
    #[error("payment platform: {0}")]
    Pay(#[from] pay::PayError),
    #[error("opening the transaction journal: {0}")]
    Journal(#[from] crate::txn::JournalError),
    #[error(transparent)]
    Devices(#[from] DeviceError),
    #[error(transparent)]
    Status(#[from] crate::status::StatusError),
    #[error("fleet heartbeat: {0}")]
    Heartbeat(#[from] crate::heartbeat::HeartbeatError),
}

/// Everything a running kiosk (or a kiosk command) talks to.
pub struct App {
    pub cfg: Config,
    pub his: Arc<dyn HisGateway>,
    pub pay: Arc<dyn PaymentGateway>,
    pub devices: Arc<Devices>,
    pub runner: Runner,
    /// HIS and payment request durations, session time (`/metrics`).
    pub metrics: Arc<Metrics>,
    /// What the status endpoint and the heartbeat report.
    pub status: Arc<StatusSource>,
    /// HIS's business date at start-up.
    pub today: NaiveDate,
    pub his_sim: Option<his::sim::SimHandle>,
    pub pay_sim: Option<pay::sim::PaySimHandle>,
}

fn embedded_today(cfg: &Config) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(&cfg.his.embedded.today, "%Y-%m-%d").ok()
}

async fn loopback() -> Result<tokio::net::TcpListener, AppError> {
    tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(AppError::Bind)
}

impl App {
    pub async fn start(cfg: Config) -> Result<App, AppError> {
        std::fs::create_dir_all(&cfg.kiosk.data_dir).map_err(|source| AppError::DataDir {
            path: cfg.kiosk.data_dir.clone(),
            source,
        })?;
        let token = cfg.his_token()?;
        let (his_url, his_sim) = match cfg.his.mode {
            HisMode::Remote => (
                Url::parse(&cfg.his.base_url).map_err(|source| AppError::Url {
                    what: "his.base_url",
                    source,
                })?,
                None,
            ),
            HisMode::Embedded => {
                let sim_cfg = his::sim::SimConfig {
                    hospital_id: cfg.hospital.id.clone(),
                    hospital_name: cfg.hospital.name_zh.clone(),
                    token: token.clone(),
                    seed: cfg.his.embedded.seed,
                    today: embedded_today(&cfg),
                    start_time: chrono::NaiveTime::parse_from_str(
                        &cfg.his.embedded.start_time,
                        "%H:%M",
                    )
                    .ok(),
                    slot_minutes: cfg.booking.slot_minutes,
                    hold_ttl_secs: cfg.his.embedded.hold_ttl_secs,
                    db_path: cfg.data_path(&cfg.his.embedded.db),
                };
                let handle = his::sim::spawn(sim_cfg, loopback().await?).await?;
                tracing::info!(addr = %handle.addr, "embedded HIS simulator listening");
                (
                    Url::parse(&format!("http://{}/", handle.addr)).map_err(|source| {
                        AppError::Url {
                            what: "embedded HIS",
                            source,
                        }
                    })?,
                    Some(handle),
                )
            }
        };
        let key = cfg.pay_key()?;
        let (pay_url, pay_sim) = match cfg.pay.mode {
            PayMode::Remote => (
                Url::parse(&cfg.pay.base_url).map_err(|source| AppError::Url {
                    what: "pay.base_url",
                    source,
                })?,
                None,
            ),
            PayMode::Embedded => {
                let sim_cfg = pay::sim::PaySimConfig {
                    kiosk_keys: vec![(cfg.kiosk.id.clone(), key.clone())],
                    time_factor: cfg.pay.embedded.time_factor,
                    today: embedded_today(&cfg),
                    db_path: cfg.data_path(&cfg.pay.embedded.db),
                    ..pay::sim::PaySimConfig::default()
                };
                let handle = pay::sim::spawn(sim_cfg, loopback().await?).await?;
                tracing::info!(addr = %handle.addr, "embedded payment simulator listening");
                (
                    Url::parse(&format!("http://{}/", handle.addr)).map_err(|source| {
                        AppError::Url {
                            what: "embedded payment platform",
                            source,
                        }
                    })?,
                    Some(handle),
                )
            }
        };
        let metrics = Arc::new(Metrics::new());
        let his: Arc<dyn HisGateway> = Arc::new(
            HttpHis::new(HttpHisConfig::from_config(&cfg, his_url, token))?
                .with_metrics(metrics.clone()),
        );
        let pay: Arc<dyn PaymentGateway> = Arc::new(
            HttpPay::new(HttpPayConfig::from_config(&cfg, pay_url, key))?
                .with_metrics(metrics.clone()),
        );
        let ping = his.ping().await?;
        tracing::info!(hospital = %ping.hospital_name, today = %ping.today, "connected to HIS");
        let devices = Arc::new(Devices::open(&cfg)?);
        // Real health before the first patient: a printer that is out of
        // paper at start-up must already disable the paid services.
        let d = devices.clone();
        let reports = tokio::task::spawn_blocking(move || d.check_all())
            .await
            .unwrap_or_default();
        for r in &reports {
            tracing::info!(device = r.name, driver = %r.driver, at = %r.describe, health = %r.health, "device");
        }
        let printer = devices.printer.clone();
        let journal = Journal::open(&cfg.data_path(&cfg.txn.journal), &cfg.kiosk.id)?;
        let rc = RunnerConfig::from_config(&cfg);
        let runner = Runner::new(journal, his.clone(), pay.clone(), printer.clone(), rc);
        let status = Arc::new(StatusSource::new(
            &cfg,
            metrics.clone(),
            devices.clone(),
            his.clone(),
            runner.clone(),
        ));
        Ok(App {
            cfg,
            his,
            pay,
            devices,
            runner,
            metrics,
            status,
            today: ping.today,
            his_sim,
            pay_sim,
        })
    }

    /// Serve `/healthz`, `/readyz` and `/metrics` on `status.listen` (none
    /// when it is empty), on a task of its own. `kiosk run` starts it; the
    /// one-shot commands do not, so they never compete for the port.
    pub async fn start_status_endpoint(&self) -> Result<Option<StatusHandle>, AppError> {
        if self.cfg.status.listen.is_empty() {
            return Ok(None);
        }
        let token = self.cfg.status_token()?;
        Ok(Some(
            crate::status::serve(self.status.clone(), &self.cfg.status.listen, token).await?,
        ))
    }

    /// Start the fleet heartbeat (none when `fleet.heartbeat_url` is
    /// empty) on the current tokio runtime.
    pub fn start_heartbeat(&self) -> Result<Option<HeartbeatHandle>, AppError> {
        match HeartbeatConfig::from_config(&self.cfg)? {
            None => Ok(None),
            Some(c) => Ok(Some(crate::heartbeat::spawn(c, self.status.clone())?)),
        }
    }

    /// Three-way reconciliation of a business day: the journal, the
    /// channel's day bill and the HIS ledger.
    pub async fn reconcile(
        &self,
        date: NaiveDate,
    ) -> Result<crate::txn::reconcile::Summary, AppError> {
        let journal = self.runner.with_journal(|j| j.on_date(date))?;
        let bill = self.pay.day_bill(date).await?;
        let ledger = self.his.ledger(date).await?;
        Ok(crate::txn::reconcile::reconcile(
            &journal,
            &bill.channel_rows(),
            &ledger.entries,
        ))
    }

    /// Stop the embedded simulators.
    pub async fn shutdown(self) {
        if let Some(s) = self.his_sim {
            s.shutdown().await;
        }
        if let Some(s) = self.pay_sim {
            s.shutdown().await;
        }
    }
}

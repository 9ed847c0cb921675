//! The HIS simulator: the whole gateway protocol (`src/his/ops.rs`,
//! `src/his/wire.rs`) over real HTTP, backed by SQLite (WAL), seeded with a
//! realistic hospital, with an injectable clock and fault injection.
//!
//! - [`spawn`] serves on a bound listener in the background (tests bind
//!   `127.0.0.1:0`); [`run`] serves until Ctrl-C (`kiosk his-sim`).
//! - The store at `db_path` is created and seeded when empty and reused,
//!   not reseeded, when it has been seeded before. The seed is deterministic:
//!   the same `seed` and day give byte-identical reference data, slots,
//!   patients, bills, reports and report documents. New days enter the
//!   seven-day booking window as the clock moves.
//! - Known patients for tests and demos: [`seeded_cards`] (every card of
//!   every seeded patient, patient by patient, in the order id_card,
//!   health_card, insurance_card, hospital_card, qr_health_code,
//!   insurance_evoucher, as present) and [`seeded_patients`] (the same with
//!   names, full ID numbers, phones and insurance). The first patient has
//!   every kind of card, employee insurance and unpaid bills; patients from
//!   [`FIRST_BOOKED_PATIENT`] on have appointments already (some today), the
//!   ones before have none; [`QUEUE_PATIENT`] is checked in on the seed
//!   day's morning with others ahead in the queue. [`unknown_id_numbers`]
//!   are valid ID numbers no seed ever enrols.
//! - The consulting-room queue (`getQueue`): the doctor calls a session's
//!   checked-in patients in number order from the session's start, one slot
//!   length each, never before they checked in (`queue.rs`).
//! - Control endpoints (bearer token only): `POST/GET/DELETE /sim/faults`
//!   (answers `{"faults": [...]}`; a fault without `times` fires once,
//!   `"times": null` until cleared), `POST /sim/clock {"advance_secs"}`,
//!   `GET /sim/clock`.
//! - `capacity` of a slot or schedule counts all places; `remaining` the
//!   general ones left, `referral_remaining` the referral ones left. A wrong
//!   method on a known path is 405 with the `BAD_REQUEST` envelope.
//! - A slot whose start has passed shows no places left (`remaining` and
//!   `referral_remaining` 0), and holding it is refused (`INVALID_STATE`).

mod billing;
mod booking;
mod clock;
mod data;
mod document;
mod error;
mod faults;
mod http;
mod known;
mod patients;
pub mod pdf;
mod queue;
mod records;
mod rng;
pub mod seed;
mod service;
mod store;
#[cfg(test)]
mod tests;

pub use faults::{Fault, FaultKind};
pub use known::{seeded_cards, seeded_patients};
pub use seed::{SeedPatient, FIRST_BOOKED_PATIENT, QUEUE_PATIENT};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

pub const DEFAULT_HOSPITAL_NAME: &str = "宁波市第一人民医院（模拟）";
const DEFAULT_HOSPITAL_NAME_EN: &str = "Ningbo First People's Hospital (simulated)";

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub hospital_id: String,
    pub hospital_name: String,
    /// The bearer token the simulator accepts.
    pub token: String,
    pub seed: u64,
    /// `None`: the real date (CST). `Some(d)`: the clock starts on `d` at the
    /// real time of day.
    pub today: Option<chrono::NaiveDate>,
    /// `Some(t)`: the clock starts at time of day `t` (then runs in real
    /// time), so a demo started in the evening still shows a morning clinic.
    pub start_time: Option<chrono::NaiveTime>,
    /// Length of a timed slot (5 to 120 minutes).
    pub slot_minutes: u32,
    pub hold_ttl_secs: u32,
    /// The SQLite file; created and seeded if empty, reused if seeded.
    pub db_path: PathBuf,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            hospital_id: "H0001".into(),
            hospital_name: DEFAULT_HOSPITAL_NAME.into(),
            token: "demo".into(),
            seed: 1,
            today: None,
            start_time: None,
            slot_minutes: 15,
            hold_ttl_secs: 300,
            db_path: PathBuf::from("his-sim.db"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("HIS simulator I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("HIS simulator store: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("HIS simulator configuration: {0}")]
    Config(String),
}

/// A running simulator.
pub struct SimHandle {
    pub addr: SocketAddr,
    app: Arc<http::App>,
    shutdown: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

impl SimHandle {
    /// Stop serving (requests held open by faults are let go) and wait.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let mut server = self.server;
        if tokio::time::timeout(std::time::Duration::from_secs(5), &mut server)
            .await
            .is_err()
        {
            server.abort();
        }
    }
}

fn hospital_en(cfg: &SimConfig) -> String {
    if cfg.hospital_name == DEFAULT_HOSPITAL_NAME {
        DEFAULT_HOSPITAL_NAME_EN.into()
    } else if cfg.hospital_name.is_ascii() && !cfg.hospital_name.is_empty() {
        cfg.hospital_name.clone()
    } else {
        format!("Hospital {} (simulated HIS)", cfg.hospital_id)
    }
}

/// Open (and seed if empty) the store.
fn open_store(cfg: &SimConfig, clock: &clock::SimClock) -> Result<rusqlite::Connection, SimError> {
    if let Some(dir) = cfg.db_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut conn = store::open(&cfg.db_path)?;
    if !seed::is_seeded(&conn)? {
        let today = clock.now().date_naive();
        let started = std::time::Instant::now();
        let tx = conn.transaction()?;
        seed::seed(&tx, cfg.seed, today, cfg.slot_minutes)?;
        tx.commit()?;
        tracing::info!(seed = cfg.seed, %today, ms = started.elapsed().as_millis() as u64, "HIS simulator seeded");
    } else {
        tracing::info!(db = %cfg.db_path.display(), "HIS simulator reusing its store");
    }
    Ok(conn)
}

/// Serve the protocol on `listener` in the background.
pub async fn spawn(
    cfg: SimConfig,
    listener: tokio::net::TcpListener,
) -> Result<SimHandle, SimError> {
    if cfg.token.is_empty() || cfg.hospital_id.is_empty() {
        return Err(SimError::Config(
            "the token and hospital id must not be empty".into(),
        ));
    }
    let addr = listener.local_addr()?;
    let clock = clock::SimClock::new(cfg.today, cfg.start_time);
    let (conn, clock) = {
        let cfg = cfg.clone();
        tokio::task::spawn_blocking(move || open_store(&cfg, &clock).map(|c| (c, clock)))
            .await
            .map_err(|e| SimError::Config(format!("seeding panicked: {e}")))??
    };
    let shared = Arc::new(service::Shared {
        settings: service::Settings {
            hospital_id: cfg.hospital_id.clone(),
            hospital_name: cfg.hospital_name.clone(),
            hospital_en: hospital_en(&cfg),
            seed: cfg.seed,
            slot_minutes: cfg.slot_minutes,
            hold_ttl_secs: cfg.hold_ttl_secs,
        },
        db: Mutex::new(service::Db {
            conn,
            opened_for: None,
        }),
        clock,
    });
    let (tx, rx) = watch::channel(false);
    let app = Arc::new(http::App {
        shared,
        token: cfg.token.clone(),
        faults: Mutex::new(faults::FaultTable::default()),
        shutdown: rx.clone(),
    });
    let router = http::router(app.clone());
    let mut stop = rx;
    let server = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|v| *v).await;
        };
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "HIS simulator stopped");
        }
    });
    tracing::debug!(%addr, "HIS simulator serving");
    Ok(SimHandle {
        addr,
        app,
        shutdown: tx,
        server,
    })
}

/// Serve on `addr` until Ctrl-C.
pub async fn run(cfg: SimConfig, addr: SocketAddr) -> Result<(), SimError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| SimError::Bind { addr, source })?;
    let handle = spawn(cfg, listener).await?;
    tracing::info!(addr = %handle.addr, "HIS simulator listening; Ctrl-C stops it");
    tokio::signal::ctrl_c().await?;
    handle.shutdown().await;
    Ok(())
}

/// Valid ID numbers (GB 11643) that no seed enrols, for enrolment demos
/// and tests. A pure function of `seed`.
pub fn unknown_id_numbers(seed: u64) -> Vec<String> {
    seed::unknown_id_numbers(seed)
}

//! The fleet heartbeat (`[fleet]` in the config, docs/operations.md): every
//! `heartbeat_interval_secs` a status summary ([`crate::status::Snapshot`]:
//! versions, uptime, device health, HIS reachable, today's transaction
//! counts, paper; no personal data) is POSTed as JSON to `heartbeat_url`.
//!
//! Every heartbeat goes to an on-disk queue first ([`Outbox`], SQLite in
//! `heartbeat.db` under `kiosk.data_dir`) and leaves it only when the fleet
//! server took it (2xx) or refused it for good (a 4xx other than 408 and
//! 429: logged and dropped, since sending it again cannot help). While the
//! server does not answer, delivery is retried with doubling backoff (1 s
//! up to the interval) and heartbeats pile up in the queue, at most
//! `queue_max`; beyond that the oldest are dropped, with a warning. When the
//! server answers again the backlog goes out oldest first, each with its
//! `seq` (increasing, never reused), so the server can order them and drop
//! a duplicate (a heartbeat whose answer was lost is sent again).

use crate::config::{Config, ConfigError};
use crate::status::{Snapshot, StatusSource};
use rusqlite::{params, Connection, OptionalExtension};
use rusqlite_migration::{Migrations, M};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use url::Url;

/// Version of the heartbeat JSON.
pub const SCHEMA: u32 = 1;
/// First retry delay after a failed delivery; doubles up to the interval.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Each POST waits at most this long for the answer.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum HeartbeatError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("fleet.heartbeat_url: {0}")]
    Url(url::ParseError),
    #[error("heartbeat queue {path}: {source}")]
    Queue {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("heartbeat queue {path}: migration: {source}")]
    Migration {
        path: PathBuf,
        source: rusqlite_migration::Error,
    },
    #[error("fleet.ca_file: cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("fleet.ca_file: {path} is not a usable PEM CA bundle: {source}")]
    Pem {
        path: PathBuf,
        source: reqwest::Error,
    },
    #[error("heartbeat HTTP client: {0}")]
    Client(reqwest::Error),
}

/// Everything the heartbeat needs, usually from [`HeartbeatConfig::from_config`].
#[derive(Debug, Clone)]
pub struct HeartbeatConfig {
    pub url: Url,
    pub interval: Duration,
    pub token: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub queue_max: u32,
    /// The queue's SQLite file.
    pub db_path: PathBuf,
}

impl HeartbeatConfig {
    /// `None` when `fleet.heartbeat_url` is empty (no heartbeat).
    pub fn from_config(cfg: &Config) -> Result<Option<HeartbeatConfig>, HeartbeatError> {
        let f = &cfg.fleet;
        if f.heartbeat_url.is_empty() {
            return Ok(None);
        }
        Ok(Some(HeartbeatConfig {
            url: Url::parse(&f.heartbeat_url).map_err(HeartbeatError::Url)?,
            interval: Duration::from_secs(f.heartbeat_interval_secs.max(1)),
            token: cfg.fleet_token()?,
            ca_file: (!f.ca_file.is_empty()).then(|| PathBuf::from(&f.ca_file)),
            queue_max: f.queue_max.max(1),
            db_path: cfg.data_path("heartbeat.db"),
        }))
    }
}

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(
        // AUTOINCREMENT: a seq is never used twice, even after the newest
        // row was sent and deleted.
        "CREATE TABLE heartbeat (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            taken_at TEXT NOT NULL,
            body TEXT NOT NULL
        );",
    )])
}

/// A heartbeat waiting to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub seq: i64,
    /// The snapshot's JSON object.
    pub body: String,
}

/// The bounded on-disk queue of heartbeats not yet delivered.
pub struct Outbox {
    conn: Connection,
    path: PathBuf,
    max: u32,
}

impl Outbox {
    /// Open (creating) the queue at `path`, keeping at most `max` heartbeats.
    pub fn open(path: &Path, max: u32) -> Result<Outbox, HeartbeatError> {
        let q = |source| HeartbeatError::Queue {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(path).map_err(q)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(q)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(q)?;
        migrations()
            .to_latest(&mut conn)
            .map_err(|source| HeartbeatError::Migration {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Outbox {
            conn,
            path: path.to_path_buf(),
            max: max.max(1),
        })
    }

    fn err(&self, source: rusqlite::Error) -> HeartbeatError {
        HeartbeatError::Queue {
            path: self.path.clone(),
            source,
        }
    }

    /// Append a heartbeat; returns how many of the oldest were dropped to
    /// stay within the bound.
    pub fn push(&mut self, taken_at: &str, body: &str) -> Result<u64, HeartbeatError> {
        let tx = self.conn.transaction().map_err(|e| HeartbeatError::Queue {
            path: self.path.clone(),
            source: e,
        })?;
        let dropped = (|| {
            tx.execute(
                "INSERT INTO heartbeat (taken_at, body) VALUES (?1, ?2)",
                params![taken_at, body],
            )?;
            let dropped = tx.execute(
                "DELETE FROM heartbeat WHERE seq NOT IN
                     (SELECT seq FROM heartbeat ORDER BY seq DESC LIMIT ?1)",
                [self.max],
            )?;
            tx.commit()?;
            Ok(dropped as u64)
        })();
        dropped.map_err(|e| self.err(e))
    }

    /// The oldest heartbeat still to send.
    pub fn oldest(&self) -> Result<Option<Queued>, HeartbeatError> {
        self.conn
            .query_row(
                "SELECT seq, body FROM heartbeat ORDER BY seq LIMIT 1",
                [],
                |r| {
                    Ok(Queued {
                        seq: r.get(0)?,
                        body: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Delivered or dropped for good.
    pub fn remove(&mut self, seq: i64) -> Result<(), HeartbeatError> {
        self.conn
            .execute("DELETE FROM heartbeat WHERE seq = ?1", [seq])
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Heartbeats waiting.
    pub fn len(&self) -> Result<u64, HeartbeatError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM heartbeat", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    pub fn is_empty(&self) -> Result<bool, HeartbeatError> {
        Ok(self.len()? == 0)
    }
}

/// The JSON stored for one snapshot (without the fields added when sent).
pub fn stored_body(s: &Snapshot) -> String {
    let mut v = serde_json::to_value(s).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("schema".into(), SCHEMA.into());
    }
    v.to_string()
}

/// What goes on the wire: the stored snapshot with its `seq`, when it was
/// sent and how many more wait behind it.
fn wire_body(q: &Queued, backlog: u64) -> Result<String, serde_json::Error> {
    let mut v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&q.body)?;
    v.insert("seq".into(), q.seq.into());
    v.insert(
        "sent_at".into(),
        crate::domain::to_cst(chrono::Utc::now())
            .to_rfc3339()
            .into(),
    );
    v.insert("backlog".into(), backlog.into());
    serde_json::to_string(&v)
}

enum Sent {
    Delivered,
    /// Refused for good (a 4xx other than 408/429).
    Refused(String),
    /// Try again later.
    Retry(String),
}

struct Worker {
    cfg: HeartbeatConfig,
    http: reqwest::Client,
    source: Arc<StatusSource>,
    outbox: Arc<Mutex<Outbox>>,
}

/// The running heartbeat. Dropping it stops the heartbeat; what is queued
/// stays on disk for the next start.
pub struct HeartbeatHandle {
    outbox: Arc<Mutex<Outbox>>,
    task: tokio::task::JoinHandle<()>,
}

impl HeartbeatHandle {
    /// Heartbeats waiting on disk (blocking: a short SQLite read).
    pub fn backlog(&self) -> Result<u64, HeartbeatError> {
        lock(&self.outbox).len()
    }

    pub fn stop(self) {}
}

impl Drop for HeartbeatHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(o: &Mutex<Outbox>) -> std::sync::MutexGuard<'_, Outbox> {
    // A panic mid-statement leaves SQLite consistent: its transaction rolled back.
    o.lock().unwrap_or_else(|p| p.into_inner())
}

/// Start the heartbeat on the current tokio runtime.
pub fn spawn(
    cfg: HeartbeatConfig,
    source: Arc<StatusSource>,
) -> Result<HeartbeatHandle, HeartbeatError> {
    let outbox = Arc::new(Mutex::new(Outbox::open(&cfg.db_path, cfg.queue_max)?));
    let mut builder = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .use_rustls_tls()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("kiosk/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = &cfg.ca_file {
        let pem = std::fs::read(ca).map_err(|source| HeartbeatError::Read {
            path: ca.clone(),
            source,
        })?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| HeartbeatError::Pem {
                path: ca.clone(),
                source,
            })?;
        builder = builder.tls_built_in_root_certs(false);
        for c in certs {
            builder = builder.add_root_certificate(c);
        }
    }
    let http = builder.build().map_err(HeartbeatError::Client)?;
    tracing::info!(url = %cfg.url, every_secs = cfg.interval.as_secs(), "fleet heartbeat on");
    let worker = Worker {
        cfg,
        http,
        source,
        outbox: outbox.clone(),
    };
    let task = tokio::spawn(worker.run());
    Ok(HeartbeatHandle { outbox, task })
}

impl Worker {
    async fn with_outbox<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Outbox) -> Result<T, HeartbeatError> + Send + 'static,
    ) -> Result<T, String> {
        let outbox = self.outbox.clone();
        match tokio::task::spawn_blocking(move || f(&mut lock(&outbox))).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(e) => Err(format!("heartbeat queue task: {e}")),
        }
    }

    async fn run(self) {
        let first_backoff = FIRST_BACKOFF.min(self.cfg.interval);
        let mut backoff = first_backoff;
        let mut next_beat = Instant::now();
        let mut retry_at = next_beat;
        let mut offline = false;
        loop {
            if Instant::now() >= next_beat {
                self.beat().await;
                next_beat += self.cfg.interval;
                if next_beat <= Instant::now() {
                    // Asleep or stalled: no burst of catch-up heartbeats.
                    next_beat = Instant::now() + self.cfg.interval;
                }
            }
            if Instant::now() >= retry_at {
                match self.drain().await {
                    Ok(n) => {
                        if offline {
                            tracing::info!(
                                delivered = n,
                                "fleet server answers again; backlog delivered"
                            );
                        }
                        offline = false;
                        backoff = first_backoff;
                    }
                    Err(why) => {
                        if offline {
                            tracing::debug!(error = %why, "heartbeat still not delivered");
                        } else {
                            tracing::warn!(error = %why, "fleet server does not take heartbeats; keeping them on disk");
                        }
                        offline = true;
                        retry_at = Instant::now() + backoff;
                        backoff = (backoff * 2).min(self.cfg.interval.max(first_backoff));
                    }
                }
            }
            let wake = if offline {
                next_beat.min(retry_at)
            } else {
                next_beat
            };
            tokio::time::sleep_until(wake).await;
        }
    }

    /// Take a snapshot and queue it.
    async fn beat(&self) {
        let his = self.source.ping_his().await;
        let snap = self.source.snapshot(his).await;
        let body = stored_body(&snap);
        let taken_at = snap.taken_at.clone();
        match self.with_outbox(move |o| o.push(&taken_at, &body)).await {
            Ok(0) => {}
            Ok(dropped) => tracing::warn!(
                dropped,
                queue_max = self.cfg.queue_max,
                "heartbeat queue full: oldest heartbeats dropped"
            ),
            Err(e) => tracing::error!(error = %e, "cannot queue a heartbeat"),
        }
    }

    /// Send the queue oldest first until it is empty (the count delivered)
    /// or the fleet server does not take one (why).
    async fn drain(&self) -> Result<u64, String> {
        let mut delivered = 0;
        loop {
            let (next, waiting) = self.with_outbox(|o| Ok((o.oldest()?, o.len()?))).await?;
            let Some(q) = next else {
                return Ok(delivered);
            };
            let seq = q.seq;
            let sent = match wire_body(&q, waiting.saturating_sub(1)) {
                Ok(body) => self.post(body).await,
                Err(e) => Sent::Refused(format!("unreadable queued heartbeat: {e}")),
            };
            match sent {
                Sent::Delivered => delivered += 1,
                Sent::Refused(why) => {
                    tracing::error!(seq, error = %why, "heartbeat refused by the fleet server; dropped");
                }
                Sent::Retry(why) => return Err(why),
            }
            self.with_outbox(move |o| o.remove(seq)).await?;
        }
    }

    async fn post(&self, body: String) -> Sent {
        let mut req = self
            .http
            .post(self.cfg.url.clone())
            .timeout(POST_TIMEOUT)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(t) = &self.cfg.token {
            req = req.bearer_auth(t);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Sent::Retry(crate::logging::error_chain(&e)),
        };
        let status = resp.status();
        if status.is_success() {
            return Sent::Delivered;
        }
        let text = resp.text().await.unwrap_or_default();
        let snippet: String = text.chars().take(200).collect();
        let why = format!("HTTP {}: {}", status.as_u16(), snippet.trim());
        let code = status.as_u16();
        if status.is_client_error() && code != 408 && code != 429 {
            Sent::Refused(why)
        } else {
            Sent::Retry(why)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        migrations().validate().unwrap();
    }

    #[test]
    fn the_queue_keeps_the_newest_and_never_reuses_a_seq() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hb.db");
        let mut o = Outbox::open(&path, 3).unwrap();
        assert!(o.is_empty().unwrap());
        for i in 1..=3 {
            assert_eq!(
                o.push(&format!("t{i}"), &format!("{{\"n\":{i}}}")).unwrap(),
                0
            );
        }
        // A fourth and fifth push the two oldest out.
        assert_eq!(o.push("t4", "{\"n\":4}").unwrap(), 1);
        assert_eq!(o.push("t5", "{\"n\":5}").unwrap(), 1);
        assert_eq!(o.len().unwrap(), 3);
        let q = o.oldest().unwrap().unwrap();
        assert_eq!((q.seq, q.body.as_str()), (3, "{\"n\":3}"));
        // Sent in order; the newest sent and deleted, then reopened: the
        // next seq is still new.
        for seq in 3..=5 {
            assert_eq!(o.oldest().unwrap().unwrap().seq, seq);
            o.remove(seq).unwrap();
        }
        assert_eq!(o.oldest().unwrap(), None);
        drop(o);
        let mut o = Outbox::open(&path, 3).unwrap();
        o.push("t6", "{}").unwrap();
        assert_eq!(o.oldest().unwrap().unwrap().seq, 6);
    }

    #[test]
    fn the_wire_body_adds_seq_sent_at_and_backlog() {
        let q = Queued {
            seq: 42,
            body: "{\"kiosk_id\":\"K01\",\"schema\":1}".into(),
        };
        let v: serde_json::Value = serde_json::from_str(&wire_body(&q, 7).unwrap()).unwrap();
        assert_eq!(v["seq"], 42);
        assert_eq!(v["backlog"], 7);
        assert_eq!(v["kiosk_id"], "K01");
        assert!(v["sent_at"].as_str().unwrap().ends_with("+08:00"));
        assert!(wire_body(
            &Queued {
                seq: 1,
                body: "not json".into()
            },
            0
        )
        .is_err());
    }
}

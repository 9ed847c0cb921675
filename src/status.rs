//! The status endpoint for hospital IT and Prometheus (`[status]` in the
//! config, docs/operations.md), served by `kiosk run` on its own tokio task:
//!
//! - `GET /healthz`: 200 `ok` while the process runs;
//! - `GET /readyz`: 200 when every configured device is out of fault and HIS
//!   answers a ping within `status.his_timeout_ms`, else 503; the JSON body
//!   lists what is not ready;
//! - `GET /metrics`: the Prometheus text format ([`render_metrics`]).
//!
//! With a token configured, every request needs `Authorization: Bearer
//! <token>` (401 otherwise). Nothing here does device I/O: device health is
//! the cached [`Devices::report`], refreshed by the device monitor.
//!
//! [`StatusSource`] gathers the same facts for the fleet heartbeat
//! ([`crate::heartbeat`]), so both say the same thing. Nothing it gathers
//! is personal: counts, amounts, health, versions.

use crate::devices::Devices;
use crate::domain::PayChannel;
use crate::his::HisGateway;
use crate::metrics::{Exposition, Kind, Metrics};
use crate::txn::{JournalError, Runner};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use chrono::NaiveDate;
use kiosk_drivers::{DeviceKind, Health};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The software version, as `kiosk --version` prints it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `/metrics` reuses a HIS ping at most this old.
const METRICS_PING_MAX_AGE: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("status endpoint: cannot listen on {addr} (status.listen): {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// Whether HIS answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HisStatus {
    pub reachable: bool,
    /// Why not (for the technician; no patient data: it is a ping).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// HIS's business date, when it answered.
    #[serde(skip)]
    pub today: Option<NaiveDate>,
}

/// One configured device (driver other than `none`).
#[derive(Debug, Clone, Serialize)]
pub struct DeviceState {
    /// The config key: `receipt_printer`, `id_card_reader`...
    pub device: &'static str,
    pub kind: DeviceKind,
    pub driver: String,
    pub health: Health,
}

/// The receipt printer's paper sensors as it last reported them. There is
/// no estimate of the paper left yet: printers report "near end" and "out".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Paper {
    pub near_end: bool,
    pub out: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TxnCount {
    pub kind: String,
    pub state: String,
    pub count: u64,
}

/// Money kept by completed (`done`) transactions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AmountSum {
    pub kind: String,
    pub channel: String,
    pub fen: i64,
}

/// Everything the endpoint and the heartbeat report, taken at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub kiosk_id: String,
    pub hospital_id: String,
    pub version: String,
    /// [`crate::config::Config::fingerprint`].
    pub config_hash: String,
    /// When this was taken (RFC 3339, China Standard Time).
    pub taken_at: String,
    pub uptime_secs: u64,
    /// The business day the transaction figures are for.
    pub business_date: NaiveDate,
    pub his: HisStatus,
    pub devices: Vec<DeviceState>,
    /// Today's transactions by kind and state.
    pub transactions: Vec<TxnCount>,
    /// Today's completed transactions' amounts by kind and channel.
    pub completed_amount_fen: Vec<AmountSum>,
    /// Transactions waiting for staff (any day).
    pub needs_staff: u64,
    /// Completed transactions whose slip did not come out (any day).
    pub needs_reprint: u64,
    /// `None`: the printer link cannot tell, or no receipt printer.
    pub paper: Option<Paper>,
    /// Paper left on the roll, estimated from the slips printed since the
    /// technician recorded a new roll (`None` without a receipt printer).
    pub paper_estimate: Option<crate::paper::PaperEstimate>,
    /// The journal could not be read; the transaction figures are empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal_error: Option<String>,
}

#[derive(Default)]
struct HisSeen {
    last: Option<(Instant, HisStatus)>,
    /// The last business date HIS gave, for when it does not answer.
    today: Option<NaiveDate>,
}

/// What the status endpoint and the heartbeat read from.
pub struct StatusSource {
    pub kiosk_id: String,
    pub hospital_id: String,
    pub config_hash: String,
    pub metrics: Arc<Metrics>,
    devices: Arc<Devices>,
    his: Arc<dyn HisGateway>,
    runner: Runner,
    his_timeout: Duration,
    /// A receipt printer is configured (driver other than `none`).
    has_printer: bool,
    seen: Mutex<HisSeen>,
}

impl StatusSource {
    pub fn new(
        cfg: &crate::config::Config,
        metrics: Arc<Metrics>,
        devices: Arc<Devices>,
        his: Arc<dyn HisGateway>,
        runner: Runner,
    ) -> StatusSource {
        StatusSource {
            kiosk_id: cfg.kiosk.id.clone(),
            hospital_id: cfg.hospital.id.clone(),
            config_hash: cfg.fingerprint(),
            metrics,
            devices,
            his,
            runner,
            his_timeout: Duration::from_millis(cfg.status.his_timeout_ms),
            has_printer: cfg.devices.receipt_printer.driver != "none",
            seen: Mutex::new(HisSeen::default()),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HisSeen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ping HIS now, waiting at most `status.his_timeout_ms`.
    pub async fn ping_his(&self) -> HisStatus {
        let st = match tokio::time::timeout(self.his_timeout, self.his.ping()).await {
            Ok(Ok(p)) => HisStatus {
                reachable: true,
                error: None,
                today: Some(p.today),
            },
            Ok(Err(e)) => HisStatus {
                reachable: false,
                error: Some(crate::logging::redact(&e.to_string())),
                today: None,
            },
            Err(_) => HisStatus {
                reachable: false,
                error: Some(format!(
                    "HIS ping: no answer within {} ms",
                    self.his_timeout.as_millis()
                )),
                today: None,
            },
        };
        let mut seen = self.seen();
        if st.today.is_some() {
            seen.today = st.today;
        }
        seen.last = Some((Instant::now(), st.clone()));
        st
    }

    /// The last ping if it is at most `max_age` old, else a new one.
    pub async fn his_recent(&self, max_age: Duration) -> HisStatus {
        let last = self.seen().last.clone();
        match last {
            Some((at, st)) if at.elapsed() <= max_age => st,
            _ => self.ping_his().await,
        }
    }

    /// Every configured device as last seen (no I/O).
    pub fn devices(&self) -> Vec<DeviceState> {
        self.devices
            .report()
            .into_iter()
            .filter(|r| r.driver != "none")
            .map(|r| DeviceState {
                device: r.name,
                kind: r.kind,
                driver: r.driver,
                health: r.health,
            })
            .collect()
    }

    /// The receipt printer's paper sensors, if it has reported them.
    pub fn paper(&self) -> Option<Paper> {
        if !self.has_printer {
            return None;
        }
        self.devices.printer.last_status().map(|s| Paper {
            near_end: s.paper_near_end,
            out: s.paper_end,
        })
    }

    /// The business day: the runner's fixed date, else HIS's (from `his`, or
    /// the last it gave), else today in China Standard Time.
    fn business_date(&self, his: &HisStatus) -> NaiveDate {
        self.runner
            .config()
            .business_date
            .or(his.today)
            .or(self.seen().today)
            .unwrap_or_else(|| crate::domain::to_cst(chrono::Utc::now()).date_naive())
    }

    /// Everything, with `his` as the HIS status.
    pub async fn snapshot(&self, his: HisStatus) -> Snapshot {
        let date = self.business_date(&his);
        let runner = self.runner.clone();
        let day = tokio::task::spawn_blocking(move || {
            runner.with_journal(|j| -> Result<_, JournalError> {
                Ok((
                    j.on_date(date)?,
                    j.needing_staff()?.len(),
                    j.needing_reprint()?.len(),
                ))
            })
        })
        .await;
        let (transactions, completed_amount_fen, needs_staff, needs_reprint, journal_error) =
            match day {
                Ok(Ok((txns, staff, reprint))) => {
                    let (counts, amounts) = tally(&txns);
                    (counts, amounts, staff as u64, reprint as u64, None)
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "status: cannot read the journal");
                    (Vec::new(), Vec::new(), 0, 0, Some(e.to_string()))
                }
                Err(e) => (Vec::new(), Vec::new(), 0, 0, Some(e.to_string())),
            };
        Snapshot {
            kiosk_id: self.kiosk_id.clone(),
            hospital_id: self.hospital_id.clone(),
            version: VERSION.into(),
            config_hash: self.config_hash.clone(),
            taken_at: crate::domain::to_cst(chrono::Utc::now()).to_rfc3339(),
            uptime_secs: self.metrics.uptime().as_secs(),
            business_date: date,
            his,
            devices: self.devices(),
            transactions,
            completed_amount_fen,
            needs_staff,
            needs_reprint,
            paper: self.paper(),
            paper_estimate: self.has_printer.then(|| self.devices.paper.estimate()),
            journal_error,
        }
    }
}

fn channel_str(c: Option<PayChannel>) -> &'static str {
    match c {
        Some(PayChannel::Wechat) => "wechat",
        Some(PayChannel::Alipay) => "alipay",
        Some(PayChannel::Unionpay) => "unionpay",
        Some(PayChannel::Wallet) => "wallet",
        Some(PayChannel::None) | None => "none",
    }
}

/// Counts by (kind, state) and completed amounts by (kind, channel).
fn tally(txns: &[crate::txn::Txn]) -> (Vec<TxnCount>, Vec<AmountSum>) {
    let mut counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    let mut amounts: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for t in txns {
        *counts
            .entry((t.kind.as_str(), t.state.as_str()))
            .or_default() += 1;
        if t.state == crate::txn::TxnState::Done {
            let a = amounts
                .entry((t.kind.as_str(), channel_str(t.channel)))
                .or_default();
            *a = a.saturating_add(t.amount.fen());
        }
    }
    (
        counts
            .into_iter()
            .map(|((kind, state), count)| TxnCount {
                kind: kind.into(),
                state: state.into(),
                count,
            })
            .collect(),
        amounts
            .into_iter()
            .map(|((kind, channel), fen)| AmountSum {
                kind: kind.into(),
                channel: channel.into(),
                fen,
            })
            .collect(),
    )
}

fn health_value(h: &Health) -> f64 {
    match h {
        Health::Ok => 0.0,
        Health::Degraded(_) => 1.0,
        Health::Fault(_) => 2.0,
    }
}

fn bool_value(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// The `/metrics` text: the snapshot's figures and the registry's.
pub fn render_metrics(s: &Snapshot, metrics: &Metrics) -> String {
    let mut e = Exposition::new();
    e.family("kiosk_up", Kind::Gauge, "1 while the kiosk process runs.");
    e.sample("kiosk_up", &[], 1.0);
    e.family(
        "kiosk_build_info",
        Kind::Gauge,
        "The kiosk software version (always 1).",
    );
    e.sample("kiosk_build_info", &[("version", &s.version)], 1.0);
    e.family(
        "kiosk_config_info",
        Kind::Gauge,
        "SHA-256 of the effective configuration without its secrets (always 1).",
    );
    e.sample("kiosk_config_info", &[("hash", &s.config_hash)], 1.0);
    e.family(
        "kiosk_uptime_seconds",
        Kind::Gauge,
        "Seconds since the kiosk started.",
    );
    e.sample("kiosk_uptime_seconds", &[], s.uptime_secs as f64);
    e.family(
        "kiosk_his_reachable",
        Kind::Gauge,
        "1 when HIS answered its last ping (at most 30 s old), else 0.",
    );
    e.sample("kiosk_his_reachable", &[], bool_value(s.his.reachable));
    e.family(
        "kiosk_journal_readable",
        Kind::Gauge,
        "1 when the transaction journal could be read for this scrape, else 0.",
    );
    e.sample(
        "kiosk_journal_readable",
        &[],
        bool_value(s.journal_error.is_none()),
    );
    e.family(
        "kiosk_transactions",
        Kind::Gauge,
        "Transactions of the current business day by kind and state, from the journal (absent: none).",
    );
    for t in &s.transactions {
        e.sample(
            "kiosk_transactions",
            &[("kind", &t.kind), ("state", &t.state)],
            t.count as f64,
        );
    }
    e.family(
        "kiosk_transactions_needing_staff",
        Kind::Gauge,
        "Transactions in needs_staff, of any day, not yet marked resolved.",
    );
    e.sample(
        "kiosk_transactions_needing_staff",
        &[],
        s.needs_staff as f64,
    );
    e.family(
        "kiosk_slips_awaiting_reprint",
        Kind::Gauge,
        "Completed transactions whose slip did not come out, of any day, not yet reprinted.",
    );
    e.sample("kiosk_slips_awaiting_reprint", &[], s.needs_reprint as f64);
    e.family(
        "kiosk_amount_fen_total",
        Kind::Counter,
        "Amount kept by completed (done) transactions of the current business day, in fen, by kind and channel; starts again each business day.",
    );
    for a in &s.completed_amount_fen {
        e.sample(
            "kiosk_amount_fen_total",
            &[("kind", &a.kind), ("channel", &a.channel)],
            a.fen as f64,
        );
    }
    e.family(
        "kiosk_device_health",
        Kind::Gauge,
        "Health of each configured device: 0 ok, 1 degraded, 2 fault.",
    );
    for d in &s.devices {
        e.sample(
            "kiosk_device_health",
            &[("device", d.device)],
            health_value(&d.health),
        );
    }
    e.family(
        "kiosk_paper_near_end",
        Kind::Gauge,
        "1 when the receipt printer's sensor reports the roll near its end (absent: the printer cannot tell).",
    );
    if let Some(p) = s.paper {
        e.sample("kiosk_paper_near_end", &[], bool_value(p.near_end));
    }
    e.family(
        "kiosk_paper_out",
        Kind::Gauge,
        "1 when the receipt printer reports no paper (absent: the printer cannot tell).",
    );
    if let Some(p) = s.paper {
        e.sample("kiosk_paper_out", &[], bool_value(p.out));
    }
    e.family(
        "kiosk_paper_left_ratio",
        Kind::Gauge,
        "Share of the receipt roll left (0..1), estimated from the slips printed since the roll was recorded as new.",
    );
    if let Some(p) = &s.paper_estimate {
        e.sample("kiosk_paper_left_ratio", &[], p.left_ratio);
    }
    e.family(
        "kiosk_paper_printed_meters",
        Kind::Gauge,
        "Receipt paper printed since the roll was recorded as new, in metres (estimate).",
    );
    if let Some(p) = &s.paper_estimate {
        e.sample("kiosk_paper_printed_meters", &[], p.printed_m);
    }
    metrics.write(&mut e);
    e.finish()
}

/// Why the kiosk is not ready, for `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "what", rename_all = "snake_case")]
pub enum NotReady {
    Device {
        device: &'static str,
        kind: DeviceKind,
        reason: String,
    },
    His {
        error: String,
    },
}

/// `/readyz`'s verdict from device health and a HIS status.
pub fn readiness(devices: &[DeviceState], his: &HisStatus) -> Vec<NotReady> {
    let mut not = Vec::new();
    for d in devices {
        if let Health::Fault(reason) = &d.health {
            not.push(NotReady::Device {
                device: d.device,
                kind: d.kind,
                reason: reason.clone(),
            });
        }
    }
    if !his.reachable {
        not.push(NotReady::His {
            error: his
                .error
                .clone()
                .unwrap_or_else(|| "HIS does not answer".into()),
        });
    }
    not
}

/// A running status endpoint.
pub struct StatusHandle {
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl StatusHandle {
    /// Stop serving and wait (at most 5 s) for the server to end.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let mut task = self.task;
        if tokio::time::timeout(Duration::from_secs(5), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}

struct Server {
    source: Arc<StatusSource>,
    token: Option<String>,
}

/// Listen on `addr` and serve on a task of its own.
pub async fn serve(
    source: Arc<StatusSource>,
    addr: &str,
    token: Option<String>,
) -> Result<StatusHandle, StatusError> {
    let bind = |source| StatusError::Bind {
        addr: addr.to_string(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(bind)?;
    serve_on(source, listener, token).map_err(bind)
}

/// Serve on a bound listener, on a task of its own.
pub fn serve_on(
    source: Arc<StatusSource>,
    listener: tokio::net::TcpListener,
    token: Option<String>,
) -> Result<StatusHandle, std::io::Error> {
    let addr = listener.local_addr()?;
    let router = axum::Router::new()
        .fallback(handle)
        .with_state(Arc::new(Server { source, token }));
    let (tx, mut rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        let stop = async move {
            let _ = rx.wait_for(|v| *v).await;
        };
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %e, "status endpoint stopped");
        }
    });
    tracing::info!(%addr, "status endpoint listening");
    Ok(StatusHandle {
        addr,
        shutdown: tx,
        task,
    })
}

/// Compare without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .is_some_and(|given| same(given.as_bytes(), token.as_bytes()))
}

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

async fn handle(State(s): State<Arc<Server>>, req: Request) -> Response {
    if let Some(token) = &s.token {
        if !authorized(req.headers(), token) {
            let mut r = respond(StatusCode::UNAUTHORIZED, TEXT, "unauthorized\n");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"kiosk\""),
            );
            return r;
        }
    }
    let path = req.uri().path();
    if !matches!(path, "/healthz" | "/readyz" | "/metrics") {
        return respond(StatusCode::NOT_FOUND, TEXT, "not found\n");
    }
    if req.method() != Method::GET {
        let mut r = respond(StatusCode::METHOD_NOT_ALLOWED, TEXT, "GET only\n");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        return r;
    }
    match path {
        "/healthz" => respond(StatusCode::OK, TEXT, "ok\n"),
        "/readyz" => {
            let devices = s.source.devices();
            let his = s.source.ping_his().await;
            let not_ready = readiness(&devices, &his);
            let ready = not_ready.is_empty();
            let body = serde_json::json!({ "ready": ready, "not_ready": not_ready });
            respond(
                if ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                },
                JSON,
                body.to_string(),
            )
        }
        _ => {
            let his = s.source.his_recent(METRICS_PING_MAX_AGE).await;
            let snap = s.source.snapshot(his).await;
            respond(
                StatusCode::OK,
                crate::metrics::CONTENT_TYPE,
                render_metrics(&snap, &s.source.metrics),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_compared_exactly() {
        let mut h = HeaderMap::new();
        assert!(!authorized(&h, "t0k"));
        h.insert(header::AUTHORIZATION, "Bearer t0k".parse().unwrap());
        assert!(authorized(&h, "t0k"));
        h.insert(header::AUTHORIZATION, "bearer t0k".parse().unwrap());
        assert!(authorized(&h, "t0k"), "the scheme is case-insensitive");
        for wrong in ["Bearer t0", "Bearer t0kk", "Basic t0k", "t0k", "Bearer "] {
            h.insert(header::AUTHORIZATION, wrong.parse().unwrap());
            assert!(!authorized(&h, "t0k"), "{wrong}");
        }
    }

    #[test]
    fn readiness_names_every_fault_and_his() {
        let devices = vec![
            DeviceState {
                device: "receipt_printer",
                kind: DeviceKind::ReceiptPrinter,
                driver: "tcp".into(),
                health: Health::Fault("缺纸 paper out".into()),
            },
            DeviceState {
                device: "scanner",
                kind: DeviceKind::Scanner,
                driver: "serial".into(),
                health: Health::Degraded("slow".into()),
            },
        ];
        let up = HisStatus {
            reachable: true,
            error: None,
            today: None,
        };
        let not = readiness(&devices, &up);
        assert_eq!(not.len(), 1, "degraded is still ready");
        assert_eq!(
            serde_json::to_value(&not[0]).unwrap(),
            serde_json::json!({"what": "device", "device": "receipt_printer",
                "kind": "receipt_printer", "reason": "缺纸 paper out"})
        );
        let down = HisStatus {
            reachable: false,
            error: Some("HIS ping: no answer within 2000 ms".into()),
            today: None,
        };
        let not = readiness(&devices[1..], &down);
        assert_eq!(
            not,
            vec![NotReady::His {
                error: "HIS ping: no answer within 2000 ms".into()
            }]
        );
    }
}

//! `HttpHis`: the HIS gateway protocol over HTTP(S) with reqwest + rustls.
//!
//! Each operation has its own timeout. Reads and keyed writes are retried
//! with doubling backoff on transient failures; the same Idempotency-Key goes
//! with every attempt, so a retried write can never happen twice.

use super::error::{HisError, HisErrorKind};
use super::ops::Operation;
use super::wire::{self, header, ErrorBody};
use super::{BillFilter, HisGateway, IdempotencyKey, PriceQuery};
use crate::domain::*;
use crate::metrics::{Metrics, Upstream};
use async_trait::async_trait;
use chrono::NaiveDate;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Everything `HttpHis` needs, usually built from [`crate::config::Config`].
#[derive(Debug, Clone)]
pub struct HttpHisConfig {
    pub base_url: Url,
    pub token: String,
    pub hospital_id: String,
    pub kiosk_id: String,
    /// PEM CA bundle that replaces the system roots (pins the hospital's CA).
    pub ca_file: Option<PathBuf>,
    /// PEM file with the client certificate and its key (mutual TLS).
    pub client_identity_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub timeouts: Vec<(Operation, Duration)>,
    pub max_attempts: u32,
    pub backoff: Duration,
}

impl HttpHisConfig {
    pub fn from_config(cfg: &crate::config::Config, base_url: Url, token: String) -> Self {
        let file = |s: &str| (!s.is_empty()).then(|| PathBuf::from(s));
        HttpHisConfig {
            base_url,
            token,
            hospital_id: cfg.hospital.id.clone(),
            kiosk_id: cfg.kiosk.id.clone(),
            ca_file: file(&cfg.his.ca_file),
            client_identity_file: file(&cfg.his.client_identity_file),
            connect_timeout: Duration::from_millis(cfg.his.connect_timeout_ms),
            timeouts: Operation::ALL
                .iter()
                .map(|&op| (op, cfg.his_timeout(op)))
                .collect(),
            max_attempts: cfg.his.max_attempts.max(1),
            backoff: Duration::from_millis(cfg.his.backoff_ms),
        }
    }

    /// Plain settings for tests and tools: one timeout for every operation.
    pub fn simple(
        base_url: Url,
        token: &str,
        hospital_id: &str,
        kiosk_id: &str,
        timeout: Duration,
    ) -> Self {
        HttpHisConfig {
            base_url,
            token: token.into(),
            hospital_id: hospital_id.into(),
            kiosk_id: kiosk_id.into(),
            ca_file: None,
            client_identity_file: None,
            connect_timeout: Duration::from_secs(2),
            timeouts: Operation::ALL.iter().map(|&op| (op, timeout)).collect(),
            max_attempts: 3,
            backoff: Duration::from_millis(50),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HttpHisSetupError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a usable PEM {what}: {source}")]
    Pem {
        path: PathBuf,
        what: &'static str,
        source: reqwest::Error,
    },
    #[error("cannot build the HTTP client: {0}")]
    Client(reqwest::Error),
    #[error("base URL {0} cannot carry paths")]
    BaseUrl(Url),
}

pub struct HttpHis {
    http: reqwest::Client,
    cfg: HttpHisConfig,
    request_seq: AtomicU64,
    /// Where every request's duration goes (`kiosk_his_request_duration_seconds`).
    metrics: Option<Arc<Metrics>>,
}

enum Body<'a> {
    None,
    Json(&'a (dyn erased::Json + Sync)),
}

/// `serde::Serialize` is not object safe; this is the small part we need.
mod erased {
    pub trait Json {
        fn to_json(&self) -> Result<Vec<u8>, serde_json::Error>;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
            serde_json::to_vec(self)
        }
    }
}

struct Answer {
    status: StatusCode,
    bytes: Vec<u8>,
}

impl HttpHis {
    pub fn new(cfg: HttpHisConfig) -> Result<Self, HttpHisSetupError> {
        if cfg.base_url.cannot_be_a_base() {
            return Err(HttpHisSetupError::BaseUrl(cfg.base_url));
        }
        let read = |p: &PathBuf| {
            std::fs::read(p).map_err(|source| HttpHisSetupError::Read {
                path: p.clone(),
                source,
            })
        };
        let mut builder = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .use_rustls_tls()
            .https_only(false)
            .user_agent(concat!("kiosk/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &cfg.ca_file {
            let pem = read(ca)?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| {
                HttpHisSetupError::Pem {
                    path: ca.clone(),
                    what: "CA certificate bundle",
                    source,
                }
            })?;
            builder = builder.tls_built_in_root_certs(false);
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        if let Some(id) = &cfg.client_identity_file {
            let pem = read(id)?;
            let identity =
                reqwest::Identity::from_pem(&pem).map_err(|source| HttpHisSetupError::Pem {
                    path: id.clone(),
                    what: "client certificate and key",
                    source,
                })?;
            builder = builder.identity(identity);
        }
        let http = builder.build().map_err(HttpHisSetupError::Client)?;
        Ok(HttpHis {
            http,
            cfg,
            request_seq: AtomicU64::new(1),
            metrics: None,
        })
    }

    /// Record the duration of every request (each attempt) in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    fn timeout(&self, op: Operation) -> Duration {
        self.cfg
            .timeouts
            .iter()
            .find(|(o, _)| *o == op)
            .map(|(_, d)| *d)
            .unwrap_or(Duration::from_secs(10))
    }

    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.cfg.base_url.clone();
        {
            let mut path = url.path_segments_mut().expect("checked in new()");
            path.pop_if_empty();
            path.push("v1");
            path.extend(segments);
        }
        if !query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        url
    }

    /// One operation with its timeout and retry policy; returns the raw 2xx answer.
    async fn call(
        &self,
        op: Operation,
        url: Url,
        key: Option<&IdempotencyKey>,
        body: Body<'_>,
    ) -> Result<Answer, HisError> {
        let (method, _) = op.route();
        let method = Method::from_bytes(method.as_bytes()).expect("valid method");
        if op.is_write() && key.is_none() {
            return Err(HisError::new(
                op,
                HisErrorKind::InvalidRequest,
                "a write needs an Idempotency-Key",
            ));
        }
        let body_bytes = match body {
            Body::None => None,
            Body::Json(j) => Some(
                j.to_json()
                    .map_err(|e| HisError::new(op, HisErrorKind::InvalidRequest, e.to_string()))?,
            ),
        };
        let timeout = self.timeout(op);
        let mut backoff = self.cfg.backoff;
        let mut attempt = 1;
        loop {
            let request_id = format!(
                "{}-{}",
                self.cfg.kiosk_id,
                self.request_seq.fetch_add(1, Ordering::Relaxed)
            );
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .timeout(timeout)
                .bearer_auth(&self.cfg.token)
                .header(header::HOSPITAL_ID, &self.cfg.hospital_id)
                .header(header::KIOSK_ID, &self.cfg.kiosk_id)
                .header(header::REQUEST_ID, &request_id);
            if let Some(k) = key {
                req = req.header(header::IDEMPOTENCY_KEY, k.as_str());
            }
            if let Some(b) = &body_bytes {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(b.clone());
            }
            let started = std::time::Instant::now();
            let result = self.send(op, req, timeout).await;
            let elapsed = started.elapsed();
            if let Some(m) = &self.metrics {
                m.request(Upstream::His, op.id(), elapsed, result.is_ok());
            }
            let elapsed_ms = elapsed.as_millis() as u64;
            match result {
                Ok(answer) => {
                    tracing::debug!(op = op.id(), %request_id, attempt, elapsed_ms, status = answer.status.as_u16(), "HIS call");
                    return Ok(answer);
                }
                Err(e) if e.is_transient() && attempt < self.cfg.max_attempts => {
                    tracing::warn!(op = op.id(), %request_id, attempt, elapsed_ms, error = %e.detail, "HIS call failed, retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2);
                    attempt += 1;
                }
                Err(mut e) => {
                    tracing::warn!(op = op.id(), %request_id, attempt, elapsed_ms, error = %e.detail, "HIS call failed");
                    if attempt > 1 {
                        e.detail = format!("{} (after {attempt} attempts)", e.detail);
                    }
                    return Err(e);
                }
            }
        }
    }

    async fn send(
        &self,
        op: Operation,
        req: reqwest::RequestBuilder,
        timeout: Duration,
    ) -> Result<Answer, HisError> {
        let classify = |e: reqwest::Error| {
            let detail = crate::logging::error_chain(&e);
            let kind = if e.is_timeout() {
                HisErrorKind::Timeout
            } else if e.is_connect() {
                HisErrorKind::Unreachable
            } else {
                HisErrorKind::ConnectionLost
            };
            let detail = if kind == HisErrorKind::Timeout {
                format!("no answer within {} ms ({detail})", timeout.as_millis())
            } else {
                detail
            };
            HisError::new(op, kind, detail)
        };
        let resp = req.send().await.map_err(classify)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(classify)?.to_vec();
        if status.is_success() {
            return Ok(Answer { status, bytes });
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(env) => {
                let mut e = HisError::new(
                    op,
                    HisErrorKind::Rejected(env.code),
                    format!(
                        "HTTP {} {:?}: {}",
                        status.as_u16(),
                        env.code,
                        env.message_en
                    ),
                );
                e.gateway_message = Some((env.message_zh, env.message_en));
                Err(e)
            }
            Err(_) => Err(HisError::new(
                op,
                HisErrorKind::Protocol(status.as_u16()),
                format!(
                    "HTTP {} without the error envelope: {}",
                    status.as_u16(),
                    snippet(&bytes)
                ),
            )),
        }
    }

    async fn json<T: DeserializeOwned>(
        &self,
        op: Operation,
        url: Url,
        key: Option<&IdempotencyKey>,
        body: Body<'_>,
    ) -> Result<T, HisError> {
        // A malformed 2xx is retried like a lost answer: reads are safe to
        // repeat and keyed writes replay the stored result.
        let mut attempts_left = self.cfg.max_attempts;
        loop {
            let answer = self.call(op, url.clone(), key, clone_body(&body)).await?;
            match serde_json::from_slice::<T>(&answer.bytes) {
                Ok(v) => return Ok(v),
                Err(e) => {
                    attempts_left -= 1;
                    let err = HisError::new(
                        op,
                        HisErrorKind::Malformed,
                        format!(
                            "HTTP {} body does not match the protocol: {e}; body: {}",
                            answer.status.as_u16(),
                            snippet(&answer.bytes)
                        ),
                    );
                    if attempts_left == 0 {
                        return Err(err);
                    }
                    tracing::warn!(op = op.id(), error = %err.detail, "malformed HIS answer, retrying");
                    tokio::time::sleep(self.cfg.backoff).await;
                }
            }
        }
    }

    fn seg<'a>(&self, op: Operation, s: &'a str) -> Result<&'a str, HisError> {
        if s.is_empty() {
            Err(HisError::new(
                op,
                HisErrorKind::InvalidRequest,
                "empty path parameter",
            ))
        } else {
            Ok(s)
        }
    }
}

fn clone_body<'a>(b: &Body<'a>) -> Body<'a> {
    match b {
        Body::None => Body::None,
        Body::Json(j) => Body::Json(*j),
    }
}

fn snippet(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(&bytes[..bytes.len().min(120)]).into_owned();
    crate::logging::redact(&s)
}

fn json_body<T: Serialize + Sync>(v: &T) -> Body<'_> {
    Body::Json(v)
}

#[async_trait]
impl HisGateway for HttpHis {
    async fn ping(&self) -> Result<wire::Ping, HisError> {
        self.json(Operation::Ping, self.url(&["ping"], &[]), None, Body::None)
            .await
    }

    async fn lookup_patient(
        &self,
        card_kind: CardKind,
        card_no: &str,
    ) -> Result<Patient, HisError> {
        let req = wire::LookupPatientRequest {
            card_kind,
            card_no: card_no.to_string(),
        };
        self.json(
            Operation::LookupPatient,
            self.url(&["patients", "lookup"], &[]),
            None,
            json_body(&req),
        )
        .await
    }

    async fn enroll(
        &self,
        key: &IdempotencyKey,
        name: &str,
        id: &IdNumber,
        phone: &Phone,
    ) -> Result<Patient, HisError> {
        let req = wire::EnrollRequest {
            name: name.to_string(),
            id_number: id.expose().to_string(),
            phone: phone.expose().to_string(),
        };
        self.json(
            Operation::EnrollPatient,
            self.url(&["patients"], &[]),
            Some(key),
            json_body(&req),
        )
        .await
    }

    async fn departments(&self) -> Result<Vec<Department>, HisError> {
        let list: wire::DepartmentList = self
            .json(
                Operation::ListDepartments,
                self.url(&["departments"], &[]),
                None,
                Body::None,
            )
            .await?;
        Ok(list.departments)
    }

    async fn schedules(
        &self,
        department_id: &str,
        date: NaiveDate,
    ) -> Result<Vec<Schedule>, HisError> {
        let q = [
            ("department_id", department_id.to_string()),
            ("date", date.to_string()),
        ];
        let list: wire::ScheduleList = self
            .json(
                Operation::ListSchedules,
                self.url(&["schedules"], &q),
                None,
                Body::None,
            )
            .await?;
        Ok(list.schedules)
    }

    async fn slots(&self, schedule_id: &str) -> Result<Vec<Slot>, HisError> {
        let op = Operation::ListSlots;
        let list: wire::SlotList = self
            .json(
                op,
                self.url(&["schedules", self.seg(op, schedule_id)?, "slots"], &[]),
                None,
                Body::None,
            )
            .await?;
        Ok(list.slots)
    }

    async fn hold(&self, key: &IdempotencyKey, req: &wire::HoldRequest) -> Result<Hold, HisError> {
        self.json(
            Operation::CreateHold,
            self.url(&["holds"], &[]),
            Some(key),
            json_body(req),
        )
        .await
    }

    async fn get_hold(&self, hold_id: &str) -> Result<Hold, HisError> {
        let op = Operation::GetHold;
        self.json(
            op,
            self.url(&["holds", self.seg(op, hold_id)?], &[]),
            None,
            Body::None,
        )
        .await
    }

    async fn release_hold(&self, key: &IdempotencyKey, hold_id: &str) -> Result<Hold, HisError> {
        let op = Operation::ReleaseHold;
        self.json(
            op,
            self.url(&["holds", self.seg(op, hold_id)?, "release"], &[]),
            Some(key),
            Body::None,
        )
        .await
    }

    async fn register(
        &self,
        key: &IdempotencyKey,
        req: &wire::RegisterRequest,
    ) -> Result<Appointment, HisError> {
        self.json(
            Operation::CreateAppointment,
            self.url(&["appointments"], &[]),
            Some(key),
            json_body(req),
        )
        .await
    }

    async fn appointments(
        &self,
        patient_id: &str,
        date: Option<NaiveDate>,
    ) -> Result<Vec<Appointment>, HisError> {
        let op = Operation::ListAppointments;
        let q: Vec<(&str, String)> = date.map(|d| ("date", d.to_string())).into_iter().collect();
        let list: wire::AppointmentList = self
            .json(
                op,
                self.url(&["patients", self.seg(op, patient_id)?, "appointments"], &q),
                None,
                Body::None,
            )
            .await?;
        Ok(list.appointments)
    }

    async fn check_in(
        &self,
        key: &IdempotencyKey,
        appointment_id: &str,
        payment: Option<PaymentRef>,
    ) -> Result<Appointment, HisError> {
        let op = Operation::CheckIn;
        let req = wire::CheckInRequest { payment };
        let url = self.url(
            &["appointments", self.seg(op, appointment_id)?, "check-in"],
            &[],
        );
        self.json(op, url, Some(key), json_body(&req)).await
    }

    async fn cancel(
        &self,
        key: &IdempotencyKey,
        appointment_id: &str,
        reason: &str,
    ) -> Result<Appointment, HisError> {
        let op = Operation::CancelAppointment;
        let req = wire::CancelRequest {
            reason: reason.to_string(),
        };
        let url = self.url(
            &["appointments", self.seg(op, appointment_id)?, "cancel"],
            &[],
        );
        self.json(op, url, Some(key), json_body(&req)).await
    }

    async fn queue(&self, appointment_id: &str) -> Result<QueueStatus, HisError> {
        let op = Operation::GetQueue;
        let url = self.url(
            &["appointments", self.seg(op, appointment_id)?, "queue"],
            &[],
        );
        let q: QueueStatus = self.json(op, url, None, Body::None).await?;
        if q.appointment_id != appointment_id {
            return Err(HisError::new(
                op,
                HisErrorKind::Malformed,
                format!(
                    "asked for the queue of {appointment_id}, got {}",
                    q.appointment_id
                ),
            ));
        }
        Ok(q)
    }

    async fn bills(&self, patient_id: &str, filter: BillFilter) -> Result<Vec<Bill>, HisError> {
        let op = Operation::ListBills;
        let q = [("status", filter.as_str().to_string())];
        let list: wire::BillList = self
            .json(
                op,
                self.url(&["patients", self.seg(op, patient_id)?, "bills"], &q),
                None,
                Body::None,
            )
            .await?;
        Ok(list.bills)
    }

    async fn pre_settle(
        &self,
        key: &IdempotencyKey,
        req: &wire::PreSettleRequest,
    ) -> Result<PreSettlement, HisError> {
        let p: PreSettlement = self
            .json(
                Operation::PreSettle,
                self.url(&["pre-settlements"], &[]),
                Some(key),
                json_body(req),
            )
            .await?;
        if p.check_split() != Ok(true) {
            return Err(HisError::new(
                Operation::PreSettle,
                HisErrorKind::Malformed,
                format!(
                    "the split of {} does not add up to its total",
                    p.presettle_id
                ),
            ));
        }
        Ok(p)
    }

    async fn settle(
        &self,
        key: &IdempotencyKey,
        req: &wire::SettleRequest,
    ) -> Result<Settlement, HisError> {
        self.json(
            Operation::Settle,
            self.url(&["settlements"], &[]),
            Some(key),
            json_body(req),
        )
        .await
    }

    async fn reports(&self, patient_id: &str) -> Result<Vec<Report>, HisError> {
        let op = Operation::ListReports;
        let list: wire::ReportList = self
            .json(
                op,
                self.url(&["patients", self.seg(op, patient_id)?, "reports"], &[]),
                None,
                Body::None,
            )
            .await?;
        Ok(list.reports)
    }

    async fn report_document(&self, report_id: &str) -> Result<Vec<u8>, HisError> {
        let op = Operation::GetReportDocument;
        let answer = self
            .call(
                op,
                self.url(&["reports", self.seg(op, report_id)?, "document"], &[]),
                None,
                Body::None,
            )
            .await?;
        if !answer.bytes.starts_with(b"%PDF-") {
            return Err(HisError::new(
                op,
                HisErrorKind::Malformed,
                format!("not a PDF: {}", snippet(&answer.bytes)),
            ));
        }
        Ok(answer.bytes)
    }

    async fn mark_report_printed(
        &self,
        key: &IdempotencyKey,
        report_id: &str,
    ) -> Result<Report, HisError> {
        let op = Operation::MarkReportPrinted;
        self.json(
            op,
            self.url(&["reports", self.seg(op, report_id)?, "printed"], &[]),
            Some(key),
            Body::None,
        )
        .await
    }

    async fn prices(&self, query: &PriceQuery) -> Result<wire::PriceList, HisError> {
        let mut q: Vec<(&str, String)> = Vec::new();
        if let Some(s) = &query.q {
            q.push(("q", s.clone()));
        }
        if let Some(c) = query.category {
            let v = serde_json::to_value(c)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            q.push(("category", v));
        }
        if query.offset > 0 {
            q.push(("offset", query.offset.to_string()));
        }
        if let Some(l) = query.limit {
            q.push(("limit", l.to_string()));
        }
        self.json(
            Operation::ListPrices,
            self.url(&["prices"], &q),
            None,
            Body::None,
        )
        .await
    }

    async fn ledger(&self, date: NaiveDate) -> Result<wire::Ledger, HisError> {
        self.json(
            Operation::GetLedger,
            self.url(&["ledger"], &[("date", date.to_string())]),
            None,
            Body::None,
        )
        .await
    }

    async fn idempotency_record(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<wire::IdempotencyRecord>, HisError> {
        let op = Operation::GetIdempotencyRecord;
        match self
            .json(
                op,
                self.url(&["idempotency", key.as_str()], &[]),
                None,
                Body::None,
            )
            .await
        {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.code() == Some(wire::ErrorCode::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_escape_path_parameters_and_keep_a_base_path() {
        let cfg = HttpHisConfig::simple(
            Url::parse("https://gw.example/his/").unwrap(),
            "t",
            "H1",
            "K1",
            Duration::from_secs(1),
        );
        let his = HttpHis::new(cfg).unwrap();
        assert_eq!(
            his.url(&["holds", "a/b c"], &[]).as_str(),
            "https://gw.example/his/v1/holds/a%2Fb%20c"
        );
        assert_eq!(
            his.url(&["prices"], &[("q", "血 常规".into())]).as_str(),
            "https://gw.example/his/v1/prices?q=%E8%A1%80+%E5%B8%B8%E8%A7%84"
        );
    }

    #[test]
    fn a_missing_ca_file_is_a_setup_error() {
        let mut cfg = HttpHisConfig::simple(
            Url::parse("https://gw.example/").unwrap(),
            "t",
            "H1",
            "K1",
            Duration::from_secs(1),
        );
        cfg.ca_file = Some("/nonexistent/ca.pem".into());
        assert!(matches!(
            HttpHis::new(cfg),
            Err(HttpHisSetupError::Read { .. })
        ));
    }
}

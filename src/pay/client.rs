//! `HttpPay`: the hospital payment platform protocol over HTTP(S) with
//! reqwest + rustls, every request and reply signed ([`super::sign`]).
//!
//! Each operation has its own timeout. Transient failures are retried with
//! doubling backoff under the same out_trade_no / out_refund_no (the
//! platform answers a repeated write with the first one's order), each
//! attempt with a fresh timestamp and nonce. A reply that does not verify is
//! never believed: for a write it leaves the outcome unknown.

use super::bill;
use super::error::{PayError, PayErrorKind};
use super::ops::Operation;
use super::sign::{self, KioskKey};
use super::wire::{self, header, ErrorBody, ErrorCode};
use super::{
    DayBill, MicropayOutcome, MicropayRequest, OutRefundNo, OutTradeNo, PaymentGateway,
    QrOrderRequest, RefundRequest, ReverseOutcome,
};
use crate::domain::{Money, PayChannel};
use crate::metrics::{Metrics, Upstream};
use async_trait::async_trait;
use chrono::NaiveDate;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

#[derive(Debug, Clone)]
pub struct HttpPayConfig {
    pub base_url: Url,
    pub kiosk_id: String,
    pub key: KioskKey,
    /// PEM CA bundle that replaces the system roots (pins the platform's CA).
    pub ca_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub timeouts: Vec<(Operation, Duration)>,
    pub max_attempts: u32,
    pub backoff: Duration,
}

impl HttpPayConfig {
    /// The default timeout of an operation: a micropay waits longest (the
    /// channel may ask the payer for a password before answering).
    pub fn default_timeout(op: Operation) -> Duration {
        match op {
            Operation::Micropay => Duration::from_secs(15),
            Operation::DownloadBill => Duration::from_secs(30),
            _ => Duration::from_secs(10),
        }
    }

    /// Production defaults: per-operation timeouts, 3 attempts.
    pub fn new(base_url: Url, kiosk_id: &str, key: KioskKey) -> Self {
        HttpPayConfig {
            base_url,
            kiosk_id: kiosk_id.into(),
            key,
            ca_file: None,
            connect_timeout: Duration::from_secs(3),
            timeouts: Operation::ALL
                .iter()
                .map(|&op| (op, Self::default_timeout(op)))
                .collect(),
            max_attempts: 3,
            backoff: Duration::from_millis(200),
        }
    }

    /// From the `[pay]` section: timeouts per operation over the defaults,
    /// attempts, backoff and the pinned CA.
    pub fn from_config(cfg: &crate::config::Config, base_url: Url, key: KioskKey) -> Self {
        let p = &cfg.pay;
        let mut c = HttpPayConfig::new(base_url, &cfg.kiosk.id, key);
        c.connect_timeout = Duration::from_millis(p.connect_timeout_ms);
        c.max_attempts = p.max_attempts;
        c.backoff = Duration::from_millis(p.backoff_ms);
        c.ca_file = (!p.ca_file.is_empty()).then(|| PathBuf::from(&p.ca_file));
        for (op, t) in c.timeouts.iter_mut() {
            if let Some(ms) = p.timeouts.get(op.id()) {
                *t = Duration::from_millis(*ms);
            }
        }
        c
    }

    /// Plain settings for tests and tools: one timeout for every operation.
    pub fn simple(base_url: Url, kiosk_id: &str, key: KioskKey, timeout: Duration) -> Self {
        HttpPayConfig {
            connect_timeout: Duration::from_secs(2),
            timeouts: Operation::ALL.iter().map(|&op| (op, timeout)).collect(),
            backoff: Duration::from_millis(50),
            ..HttpPayConfig::new(base_url, kiosk_id, key)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HttpPaySetupError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a usable PEM CA bundle: {source}")]
    Pem {
        path: PathBuf,
        source: reqwest::Error,
    },
    #[error("cannot build the HTTP client: {0}")]
    Client(reqwest::Error),
    #[error("base URL {0} cannot carry paths")]
    BaseUrl(Url),
    #[error("kiosk id {0:?} cannot go in a header")]
    KioskId(String),
}

pub struct HttpPay {
    http: reqwest::Client,
    cfg: HttpPayConfig,
    /// Where every request's duration goes (`kiosk_pay_request_duration_seconds`).
    metrics: Option<Arc<Metrics>>,
}

struct Answer {
    status: StatusCode,
    bytes: Vec<u8>,
}

impl HttpPay {
    pub fn new(cfg: HttpPayConfig) -> Result<Self, HttpPaySetupError> {
        if cfg.base_url.cannot_be_a_base() {
            return Err(HttpPaySetupError::BaseUrl(cfg.base_url));
        }
        if cfg.kiosk_id.is_empty() || reqwest::header::HeaderValue::from_str(&cfg.kiosk_id).is_err()
        {
            return Err(HttpPaySetupError::KioskId(cfg.kiosk_id));
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .use_rustls_tls()
            .https_only(false)
            .user_agent(concat!("kiosk/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &cfg.ca_file {
            let pem = std::fs::read(ca).map_err(|source| HttpPaySetupError::Read {
                path: ca.clone(),
                source,
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| {
                HttpPaySetupError::Pem {
                    path: ca.clone(),
                    source,
                }
            })?;
            builder = builder.tls_built_in_root_certs(false);
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let http = builder.build().map_err(HttpPaySetupError::Client)?;
        Ok(HttpPay {
            http,
            cfg,
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
            .unwrap_or_else(|| HttpPayConfig::default_timeout(op))
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.cfg.base_url.clone();
        {
            let mut path = url.path_segments_mut().expect("checked in new()");
            path.pop_if_empty();
            path.push("v1");
            path.extend(segments);
        }
        url
    }

    /// One operation with its timeout and retry policy; `parse` turns the
    /// verified 2xx body into the answer (a failure is `Malformed`, retried).
    async fn call<T>(
        &self,
        op: Operation,
        url: Url,
        body: Option<Vec<u8>>,
        parse: impl Fn(&[u8]) -> Result<T, String> + Send + Sync,
    ) -> Result<T, PayError> {
        let timeout = self.timeout(op);
        let mut backoff = self.cfg.backoff;
        let mut attempt = 1;
        loop {
            let started = std::time::Instant::now();
            let result = match self.send(op, &url, body.as_deref(), timeout).await {
                Ok(a) => parse(&a.bytes).map_err(|e| {
                    PayError::new(
                        op,
                        PayErrorKind::Malformed,
                        format!(
                            "HTTP {} body does not match the protocol: {e}; body: {}",
                            a.status.as_u16(),
                            snippet(&a.bytes)
                        ),
                    )
                }),
                Err(e) => Err(e),
            };
            let elapsed = started.elapsed();
            if let Some(m) = &self.metrics {
                m.request(Upstream::Pay, op.id(), elapsed, result.is_ok());
            }
            let elapsed_ms = elapsed.as_millis() as u64;
            match result {
                Ok(v) => {
                    tracing::debug!(op = op.id(), attempt, elapsed_ms, "payment call");
                    return Ok(v);
                }
                Err(e) if e.is_transient() && attempt < self.cfg.max_attempts => {
                    tracing::warn!(op = op.id(), attempt, elapsed_ms, error = %e.detail, "payment call failed, retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2);
                    attempt += 1;
                }
                Err(mut e) => {
                    tracing::warn!(op = op.id(), attempt, elapsed_ms, error = %e.detail, "payment call failed");
                    if attempt > 1 {
                        e.detail = format!("{} (after {attempt} attempts)", e.detail);
                    }
                    return Err(e);
                }
            }
        }
    }

    /// One signed exchange; returns the verified 2xx answer.
    async fn send(
        &self,
        op: Operation,
        url: &Url,
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<Answer, PayError> {
        let (method, _) = op.route();
        let nonce = sign::new_nonce();
        let ts = chrono::Utc::now().timestamp();
        let path_and_query = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let body = body.unwrap_or_default();
        let signature = self.cfg.key.sign(&sign::request_message(
            method,
            &path_and_query,
            ts,
            &nonce,
            body,
        ));
        let mut req = self
            .http
            .request(
                Method::from_bytes(method.as_bytes()).expect("valid method"),
                url.clone(),
            )
            .timeout(timeout)
            .header(header::KIOSK_ID, &self.cfg.kiosk_id)
            .header(header::TIMESTAMP, ts.to_string())
            .header(header::NONCE, &nonce)
            .header(header::SIGNATURE, signature);
        if !body.is_empty() {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        let classify = |e: reqwest::Error| {
            let detail = crate::logging::error_chain(&e);
            if e.is_timeout() {
                PayError::new(
                    op,
                    PayErrorKind::Timeout,
                    format!("no answer within {} ms ({detail})", timeout.as_millis()),
                )
            } else if e.is_connect() {
                PayError::new(op, PayErrorKind::Unreachable, detail)
            } else {
                PayError::new(op, PayErrorKind::ConnectionLost, detail)
            }
        };
        let resp = req.send().await.map_err(classify)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.map_err(classify)?.to_vec();
        let verified = self.verify_reply(status, &headers, &bytes, &nonce);
        if status.is_success() {
            return match verified {
                Ok(()) => Ok(Answer { status, bytes }),
                Err(why) => Err(PayError::new(
                    op,
                    PayErrorKind::BadSignature,
                    format!("HTTP {} reply rejected: {why}", status.as_u16()),
                )),
            };
        }
        let envelope = serde_json::from_slice::<ErrorBody>(&bytes).ok();
        let err = match envelope {
            None => PayError::new(
                op,
                PayErrorKind::Protocol(status.as_u16()),
                format!(
                    "HTTP {} without the error envelope: {}",
                    status.as_u16(),
                    snippet(&bytes)
                ),
            ),
            // A 401 may come unsigned: the platform could not authenticate us.
            Some(env)
                if verified.is_ok()
                    || (status == StatusCode::UNAUTHORIZED
                        && env.code == ErrorCode::Unauthorized) =>
            {
                let mut e = PayError::new(
                    op,
                    PayErrorKind::Rejected(env.code),
                    format!(
                        "HTTP {} {}{}: {}",
                        status.as_u16(),
                        env.code.as_str(),
                        if verified.is_ok() { "" } else { " (unsigned)" },
                        env.message_en
                    ),
                );
                e.platform_message = Some((env.message_zh, env.message_en));
                e
            }
            Some(env) => PayError::new(
                op,
                PayErrorKind::BadSignature,
                format!(
                    "HTTP {} {} reply rejected: {}",
                    status.as_u16(),
                    env.code.as_str(),
                    verified.err().unwrap_or_default()
                ),
            ),
        };
        Err(err)
    }

    fn verify_reply(
        &self,
        status: StatusCode,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
        request_nonce: &str,
    ) -> Result<(), String> {
        let get = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| format!("unsigned (no {name})"))
        };
        let ts_s = get(header::TIMESTAMP)?;
        let nonce = get(header::NONCE)?;
        let sig = get(header::SIGNATURE)?;
        let ts = sign::parse_timestamp(ts_s).ok_or_else(|| format!("bad timestamp {ts_s:?}"))?;
        if nonce != request_nonce {
            return Err("it answers another request (nonce differs)".into());
        }
        let msg = sign::response_message(status.as_u16(), ts, nonce, body);
        if !self.cfg.key.verify(&msg, sig) {
            return Err("signature does not verify (tampered, or another key)".into());
        }
        let now = chrono::Utc::now().timestamp();
        if !sign::fresh(ts, now) {
            return Err(format!("stale: signed at {ts}, now {now}"));
        }
        Ok(())
    }

    fn check_new_order(
        op: Operation,
        order: &wire::Order,
        out_trade_no: &OutTradeNo,
        amount: Money,
    ) -> Result<(), PayError> {
        if order.out_trade_no != out_trade_no.as_str() || order.amount_fen != amount {
            return Err(PayError::new(
                op,
                PayErrorKind::Malformed,
                format!(
                    "asked for {out_trade_no} of {amount}, the answer is about {} of {}",
                    order.out_trade_no, order.amount_fen
                ),
            ));
        }
        Ok(())
    }
}

/// A signed answer about another order is not an answer to this request.
fn same_order(op: Operation, order: &wire::Order, asked: &OutTradeNo) -> Result<(), PayError> {
    if order.out_trade_no == asked.as_str() {
        Ok(())
    } else {
        Err(PayError::new(
            op,
            PayErrorKind::Malformed,
            format!(
                "asked about {asked}, the answer is about {}",
                order.out_trade_no
            ),
        ))
    }
}

fn json<T: DeserializeOwned>(b: &[u8]) -> Result<T, String> {
    serde_json::from_slice(b).map_err(|e| e.to_string())
}

fn invalid(op: Operation, detail: impl Into<String>) -> PayError {
    PayError::new(op, PayErrorKind::InvalidRequest, detail)
}

fn check_common(
    op: Operation,
    amount: Money,
    description: &str,
    notify_url: Option<&Url>,
) -> Result<(), PayError> {
    if amount <= Money::ZERO {
        return Err(invalid(op, format!("amount {amount} is not positive")));
    }
    let n = description.chars().count();
    if !(1..=127).contains(&n) || description.chars().any(char::is_control) {
        return Err(invalid(
            op,
            "a description is 1-127 characters without control characters",
        ));
    }
    if let Some(u) = notify_url {
        if !matches!(u.scheme(), "http" | "https") {
            return Err(invalid(op, format!("notify_url {u} is not http(s)")));
        }
    }
    Ok(())
}

/// The start of a body for an error detail, with personal data and payment
/// codes masked.
fn snippet(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(&bytes[..bytes.len().min(160)]).into_owned();
    super::code::mask_codes_in(&crate::logging::redact(&s))
}

#[async_trait]
impl PaymentGateway for HttpPay {
    async fn ping(&self) -> Result<wire::Ping, PayError> {
        self.call(Operation::Ping, self.url(&["ping"]), None, json)
            .await
    }

    async fn create_qr_order(&self, req: &QrOrderRequest) -> Result<wire::QrOrder, PayError> {
        let op = Operation::CreateQrOrder;
        check_common(op, req.amount, &req.description, req.notify_url.as_ref())?;
        if req.channel == PayChannel::None {
            return Err(invalid(op, "a QR order needs a payment channel"));
        }
        let body = serde_json::to_vec(&wire::CreateQrOrderRequest {
            out_trade_no: req.out_trade_no.to_string(),
            channel: req.channel,
            amount_fen: req.amount,
            description: req.description.clone(),
            notify_url: req.notify_url.as_ref().map(Url::to_string),
        })
        .map_err(|e| invalid(op, e.to_string()))?;
        let qr: wire::QrOrder = self
            .call(op, self.url(&["orders", "qr"]), Some(body), json)
            .await?;
        Self::check_new_order(op, &qr.order, &req.out_trade_no, req.amount)?;
        tracing::info!(out_trade_no = %req.out_trade_no, status = qr.order.status.as_str(), "QR order");
        Ok(qr)
    }

    async fn micropay(&self, req: &MicropayRequest) -> Result<MicropayOutcome, PayError> {
        let op = Operation::Micropay;
        check_common(op, req.amount, &req.description, req.notify_url.as_ref())?;
        let body = serde_json::to_vec(&wire::MicropayRequest {
            out_trade_no: req.out_trade_no.to_string(),
            auth_code: req.code.expose().to_string(),
            amount_fen: req.amount,
            description: req.description.clone(),
            notify_url: req.notify_url.as_ref().map(Url::to_string),
        })
        .map_err(|e| invalid(op, e.to_string()))?;
        let answer: wire::MicropayAnswer = self
            .call(op, self.url(&["orders", "micropay"]), Some(body), json)
            .await
            .map_err(|mut e| {
                e.detail = format!("{} [code {}]", e.detail, req.code);
                e
            })?;
        Self::check_new_order(op, &answer.order, &req.out_trade_no, req.amount)?;
        tracing::info!(out_trade_no = %req.out_trade_no, code = %req.code, result = ?answer.result, "micropay");
        Ok(match answer.result {
            wire::MicropayResult::Paid => MicropayOutcome::Paid(answer.order),
            wire::MicropayResult::UserPaying => MicropayOutcome::UserPaying(answer.order),
        })
    }

    async fn query_order(&self, out_trade_no: &OutTradeNo) -> Result<wire::Order, PayError> {
        let op = Operation::QueryOrder;
        let order: wire::Order = self
            .call(op, self.url(&["orders", out_trade_no.as_str()]), None, json)
            .await?;
        same_order(op, &order, out_trade_no)?;
        Ok(order)
    }

    async fn close_order(&self, out_trade_no: &OutTradeNo) -> Result<wire::Order, PayError> {
        let op = Operation::CloseOrder;
        let order: wire::Order = self
            .call(
                op,
                self.url(&["orders", out_trade_no.as_str(), "close"]),
                None,
                json,
            )
            .await?;
        same_order(op, &order, out_trade_no)?;
        Ok(order)
    }

    async fn reverse_order(&self, out_trade_no: &OutTradeNo) -> Result<ReverseOutcome, PayError> {
        let op = Operation::ReverseOrder;
        let answer: wire::ReverseAnswer = self
            .call(
                op,
                self.url(&["orders", out_trade_no.as_str(), "reverse"]),
                None,
                json,
            )
            .await?;
        same_order(op, &answer.order, out_trade_no)?;
        tracing::info!(%out_trade_no, action = ?answer.action, "reverse");
        Ok(match answer.action {
            wire::ReverseAction::Closed => ReverseOutcome::Closed(answer.order),
            wire::ReverseAction::Refunded => ReverseOutcome::Refunded(answer.order),
            wire::ReverseAction::Recall => ReverseOutcome::Recall(answer.order),
        })
    }

    async fn refund(&self, req: &RefundRequest) -> Result<wire::Refund, PayError> {
        let op = Operation::CreateRefund;
        if req.amount <= Money::ZERO {
            return Err(invalid(
                op,
                format!("refund {} is not positive", req.amount),
            ));
        }
        if req.reason.chars().count() > 80 {
            return Err(invalid(op, "a refund reason is at most 80 characters"));
        }
        let body = serde_json::to_vec(&wire::CreateRefundRequest {
            out_trade_no: req.out_trade_no.to_string(),
            out_refund_no: req.out_refund_no.to_string(),
            amount_fen: req.amount,
            reason: req.reason.clone(),
        })
        .map_err(|e| invalid(op, e.to_string()))?;
        let r: wire::Refund = self
            .call(op, self.url(&["refunds"]), Some(body), json)
            .await?;
        if r.out_refund_no != req.out_refund_no.as_str() || r.amount_fen != req.amount {
            return Err(PayError::new(
                op,
                PayErrorKind::Malformed,
                format!(
                    "asked for refund {} of {}, the answer is about {} of {}",
                    req.out_refund_no, req.amount, r.out_refund_no, r.amount_fen
                ),
            ));
        }
        tracing::info!(out_trade_no = %req.out_trade_no, out_refund_no = %req.out_refund_no, amount = %req.amount, "refund");
        Ok(r)
    }

    async fn query_refund(&self, out_refund_no: &OutRefundNo) -> Result<wire::Refund, PayError> {
        self.call(
            Operation::QueryRefund,
            self.url(&["refunds", out_refund_no.as_str()]),
            None,
            json,
        )
        .await
    }

    async fn day_bill(&self, date: NaiveDate) -> Result<DayBill, PayError> {
        let d = date.format("%Y-%m-%d").to_string();
        self.call(
            Operation::DownloadBill,
            self.url(&["bills", &d]),
            None,
            |b| {
                let text = std::str::from_utf8(b).map_err(|_| "not UTF-8".to_string())?;
                bill::parse(text, date).map_err(|e| e.to_string())
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_escape_path_parameters_and_keep_a_base_path() {
        let cfg = HttpPayConfig::simple(
            Url::parse("https://pay.example/gw/").unwrap(),
            "K01",
            KioskKey::demo(),
            Duration::from_secs(1),
        );
        let pay = HttpPay::new(cfg).unwrap();
        assert_eq!(
            pay.url(&["orders", "a b", "close"]).as_str(),
            "https://pay.example/gw/v1/orders/a%20b/close"
        );
        assert_eq!(
            HttpPayConfig::new(Url::parse("https://x/").unwrap(), "K01", KioskKey::demo())
                .timeouts
                .iter()
                .find(|(o, _)| *o == Operation::Micropay)
                .unwrap()
                .1,
            Duration::from_secs(15)
        );
    }

    #[test]
    fn requests_are_checked_before_sending() {
        assert!(check_common(Operation::Micropay, Money::ZERO, "x", None).is_err());
        assert!(check_common(Operation::Micropay, Money::from_fen(1), "", None).is_err());
        assert!(check_common(Operation::Micropay, Money::from_fen(1), "a\nb", None).is_err());
        let ftp = Url::parse("ftp://x/").unwrap();
        assert!(check_common(Operation::Micropay, Money::from_fen(1), "x", Some(&ftp)).is_err());
        assert!(check_common(Operation::Micropay, Money::from_fen(1), "挂号费", None).is_ok());
        assert!(matches!(
            HttpPay::new(HttpPayConfig::simple(
                Url::parse("https://x/").unwrap(),
                "K\n1",
                KioskKey::demo(),
                Duration::from_secs(1)
            )),
            Err(HttpPaySetupError::KioskId(_))
        ));
    }
}

//! The payment simulator: the hospital payment platform protocol over real
//! HTTP (axum), backed by SQLite, following the channels' published rules:
//!
//! - a micropay may answer `user_paying` and settle seconds later, or never
//!   (then the channel revokes it after 45 s); what a payment code does is
//!   chosen by its last four digits ([`CodeBehaviour`]);
//! - QR orders live 2 h; opening the QR's URL (`GET /qr/{token}`) pays it;
//! - reverse closes an unpaid order and refunds a paid one; a WeChat
//!   micropay younger than 15 s answers `recall`;
//! - a paid order with a `notify_url` is notified (signed), twice when its
//!   out_trade_no ends in an even digit, with retries while the receiver fails;
//! - the day bill is WeChat's CSV, available from 10:00 the next day.
//!
//! Every `/v1` request must be signed by a known kiosk (401 otherwise) and
//! every answer to an authenticated request is signed with that kiosk's key.
//! Business rules run on a simulated clock: `time_factor` makes it run faster
//! than real time, `POST /sim/clock` moves it forward. Signatures are
//! checked against the real clock. Faults are injected with `/sim/faults`.

mod faults;
mod store;

pub use faults::{Fault, FaultKind};

use super::bill::{self, BillRow, BillRowStatus, BillWriter};
use super::code::{channel_of_code, mask_code, mask_codes_in};
use super::ops::Operation;
use super::order::{self, OrderEvent, OrderFacts, Settle};
use super::sign::{self, KioskKey, NonceCache};
use super::wire::{self, header, ErrorBody, ErrorCode, OrderKind, OrderStatus};
use crate::domain::{cst, Instant, Money, PayChannel};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use chrono::{NaiveDate, TimeZone};
use faults::FaultTable;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use store::{OrderRow, RefundRow};
use tokio::sync::watch;
use url::Url;

/// What a payment code does in the simulator, chosen by its last four digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeBehaviour {
    /// `…0001` and every ending not listed below: paid at once.
    PaysAtOnce,
    /// `…0002`: `user_paying`, then paid 5 s later.
    UserPayingThenPays,
    /// `…0003`: `user_paying`, never confirmed: revoked after 45 s.
    UserPayingNeverPays,
    /// `…0004`: refused at once, `INSUFFICIENT_FUNDS`.
    InsufficientFunds,
    /// `…0005`: answers `SYSTEM_ERROR` (outcome unknown) but is in fact paid.
    SystemErrorButPaid,
    /// `…0006`: refused at once, `PAYMENT_CODE_EXPIRED`.
    CodeExpired,
    /// `…0007`: `user_paying`, then the payer cancels 5 s later (`failed`).
    UserPayingThenDeclines,
}

impl CodeBehaviour {
    pub fn of(code: &str) -> CodeBehaviour {
        let tail = &code[code.len().saturating_sub(4)..];
        match tail {
            "0002" => CodeBehaviour::UserPayingThenPays,
            "0003" => CodeBehaviour::UserPayingNeverPays,
            "0004" => CodeBehaviour::InsufficientFunds,
            "0005" => CodeBehaviour::SystemErrorButPaid,
            "0006" => CodeBehaviour::CodeExpired,
            "0007" => CodeBehaviour::UserPayingThenDeclines,
            _ => CodeBehaviour::PaysAtOnce,
        }
    }
}

/// An order's `order.paid` notification is delivered twice when its
/// out_trade_no ends in an even digit.
pub fn notified_twice(out_trade_no: &str) -> bool {
    out_trade_no
        .bytes()
        .last()
        .is_some_and(|b| b.is_ascii_digit() && (b - b'0') % 2 == 0)
}

/// Seconds (simulated) between delivery attempts while the receiver fails.
const NOTIFY_RETRY_SECS: [f64; 5] = [15.0, 15.0, 30.0, 180.0, 600.0];

#[derive(Debug, Clone)]
pub struct PaySimConfig {
    /// Kiosk id -> signing key. Default: the demo kiosk `K01` with
    /// [`sign::DEMO_KIOSK_KEY_HEX`].
    pub kiosk_keys: Vec<(String, KioskKey)>,
    /// How much faster than real time the simulated clock runs (10.0: the
    /// 45 s revoke rule takes 4.5 s). Must be positive.
    pub time_factor: f64,
    /// The business date; the clock then starts at 09:00 (+08:00) that day.
    /// Default: now.
    pub today: Option<NaiveDate>,
    /// SQLite database; created if new, reused if it exists.
    pub db_path: PathBuf,
    /// Base of the QR URLs (`{base}qr/{token}`); default `http://{listen address}/`.
    pub public_base_url: Option<Url>,
    pub platform_name: String,
    /// 商户号 and 公众账号ID written in the day bill.
    pub merchant_id: String,
    pub app_id: String,
    /// When set, `/sim/*` requires `Authorization: Bearer <token>`.
    pub control_token: Option<String>,
    pub qr_ttl_secs: i64,
    pub auto_revoke_secs: i64,
    /// How long a `user_paying` code takes to settle (…0002, …0007).
    pub user_paying_secs: i64,
}

impl Default for PaySimConfig {
    fn default() -> Self {
        PaySimConfig {
            kiosk_keys: vec![(sign::DEMO_KIOSK_ID.to_string(), KioskKey::demo())],
            time_factor: 1.0,
            today: None,
            db_path: PathBuf::from("pay-sim.db"),
            public_base_url: None,
            platform_name: "支付平台模拟器 (payment platform simulator)".into(),
            merchant_id: "1900000109".into(),
            app_id: "wx0000000000000000".into(),
            control_token: None,
            qr_ttl_secs: 2 * 3600,
            auto_revoke_secs: 45,
            user_paying_secs: 5,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PaySimError {
    #[error("payment simulator I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("payment simulator database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("payment simulator configuration: {0}")]
    Config(String),
}

pub struct PaySimHandle {
    pub addr: SocketAddr,
    /// Where the QR URLs point.
    pub base_url: Url,
    shutdown: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
    ticker: tokio::task::JoinHandle<()>,
}

impl PaySimHandle {
    /// Stop serving (in-flight hung requests are released) and wait.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.server.await;
        let _ = self.ticker.await;
    }
}

/// Start the simulator on `listener`.
pub async fn spawn(
    cfg: PaySimConfig,
    listener: tokio::net::TcpListener,
) -> Result<PaySimHandle, PaySimError> {
    if !(cfg.time_factor.is_finite() && cfg.time_factor > 0.0) {
        return Err(PaySimError::Config(format!(
            "time_factor must be positive, got {}",
            cfg.time_factor
        )));
    }
    if cfg.kiosk_keys.is_empty() {
        return Err(PaySimError::Config("no kiosk keys".into()));
    }
    let addr = listener.local_addr()?;
    let base_url = match &cfg.public_base_url {
        Some(u) => u.clone(),
        None => Url::parse(&format!("http://{addr}/"))
            .map_err(|e| PaySimError::Config(e.to_string()))?,
    };
    let conn = store::open(&cfg.db_path)?;
    let (tx, rx) = watch::channel(false);
    let start_ms = match cfg.today {
        Some(d) => cst()
            .from_local_datetime(&d.and_hms_opt(9, 0, 0).expect("valid time"))
            .single()
            .expect("fixed offset")
            .timestamp_millis(),
        None => chrono::Utc::now().timestamp_millis(),
    };
    let sim = Arc::new(Sim {
        keys: cfg.kiosk_keys.iter().cloned().collect(),
        db: Mutex::new(conn),
        clock: SimClock {
            start_real: std::time::Instant::now(),
            start_ms,
            factor: cfg.time_factor,
            offset_ms: AtomicI64::new(0),
        },
        faults: Mutex::new(FaultTable::default()),
        nonces: Mutex::new(NonceCache::default()),
        notifier: reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| PaySimError::Config(e.to_string()))?,
        bills: BillWriter {
            app_id: cfg.app_id.clone(),
            merchant_id: cfg.merchant_id.clone(),
        },
        base_url: base_url.clone(),
        shutdown: rx.clone(),
        cfg,
    });
    let app = Router::new()
        .route("/v1/{*rest}", any(v1))
        .route("/qr/{token}", get(qr_page))
        .route(
            "/sim/faults",
            get(faults_list).post(faults_add).delete(faults_clear),
        )
        .route("/sim/clock", get(clock_get).post(clock_advance))
        .with_state(sim.clone());
    let mut stop = rx.clone();
    let server = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|v| *v).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "payment simulator stopped");
        }
    });
    let ticker = tokio::spawn(tick(sim, rx));
    tracing::info!(%addr, "payment simulator listening");
    Ok(PaySimHandle {
        addr,
        base_url,
        shutdown: tx,
        server,
        ticker,
    })
}

/// Serve on `addr` until Ctrl-C.
pub async fn run(cfg: PaySimConfig, addr: SocketAddr) -> Result<(), PaySimError> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let handle = spawn(cfg, listener).await?;
    tracing::info!(addr = %handle.addr, qr_base = %handle.base_url, "payment simulator ready; Ctrl-C stops it");
    tokio::signal::ctrl_c().await?;
    handle.shutdown().await;
    Ok(())
}

struct SimClock {
    start_real: std::time::Instant,
    start_ms: i64,
    factor: f64,
    offset_ms: AtomicI64,
}

impl SimClock {
    fn now_ms(&self) -> i64 {
        let run = self.start_real.elapsed().as_secs_f64() * 1000.0 * self.factor;
        self.start_ms + run as i64 + self.offset_ms.load(Ordering::Relaxed)
    }
    fn advance(&self, secs: i64) {
        self.offset_ms
            .fetch_add(secs.saturating_mul(1000), Ordering::Relaxed);
    }
}

fn instant(ms: i64) -> Instant {
    cst()
        .timestamp_millis_opt(ms - ms.rem_euclid(1000))
        .single()
        .expect("in range")
}

fn day_start_ms(d: NaiveDate) -> i64 {
    cst()
        .from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
        .single()
        .expect("fixed offset")
        .timestamp_millis()
}

struct Sim {
    cfg: PaySimConfig,
    keys: HashMap<String, KioskKey>,
    db: Mutex<Connection>,
    clock: SimClock,
    faults: Mutex<FaultTable>,
    nonces: Mutex<NonceCache>,
    notifier: reqwest::Client,
    bills: BillWriter,
    base_url: Url,
    shutdown: watch::Receiver<bool>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why an operation did not succeed.
enum Fail {
    Api(ErrorCode, String),
    Db(rusqlite::Error),
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Fail::Db(e)
    }
}

fn api(code: ErrorCode, detail: impl Into<String>) -> Fail {
    Fail::Api(code, detail.into())
}

struct Reply {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
}

fn json_reply<T: Serialize>(v: &T) -> Reply {
    Reply {
        status: 200,
        content_type: "application/json",
        body: serde_json::to_vec(v).expect("serializable"),
    }
}

fn envelope(code: ErrorCode, detail: &str) -> ErrorBody {
    use ErrorCode::*;
    let zh = match code {
        BadRequest => "请求参数错误",
        PaymentCodeInvalid => "付款码无效",
        Unauthorized => "签名验证失败或终端未登记",
        InsufficientFunds => "余额不足",
        PaymentCodeExpired => "付款码已过期",
        PaymentDeclined => "支付被拒绝",
        OrderNotFound => "订单不存在",
        RefundNotFound => "退款单不存在",
        OutTradeNoUsed => "商户订单号重复",
        OutRefundNoUsed => "商户退款单号重复",
        OrderPaid => "订单已支付",
        OrderClosed => "订单已关闭",
        OrderNotPaid => "订单未支付",
        RefundExceedsAmount => "退款金额超过可退金额",
        InvalidState => "订单状态不允许此操作",
        BillNotReady => "对账单尚未生成",
        SystemError => "系统错误，请查询订单确认结果",
        Unavailable => "系统繁忙，请稍后再试",
    };
    ErrorBody {
        code,
        message_zh: zh.into(),
        message_en: mask_codes_in(detail),
        retryable: code.retryable(),
    }
}

/// A job for the notifier: POST `body` to `url`, `copies` times.
struct NotifyJob {
    url: String,
    kiosk_id: String,
    body: Vec<u8>,
    copies: u32,
}

fn request_hash<T: Serialize>(v: &T) -> String {
    hex::encode(Sha256::digest(serde_json::to_vec(v).expect("serializable")))
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Fail> {
    serde_json::from_slice(body).map_err(|e| api(ErrorCode::BadRequest, format!("body: {e}")))
}

fn check_number(what: &str, s: &str, max: usize) -> Result<(), Fail> {
    let ok = (1..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(api(
            ErrorCode::BadRequest,
            format!("{what} must be 1-{max} characters of A-Z a-z 0-9 _ -"),
        ))
    }
}

fn check_order_fields(
    amount: Money,
    description: &str,
    notify_url: Option<&str>,
) -> Result<(), Fail> {
    if amount <= Money::ZERO || amount > Money::from_fen(100_000_000) {
        return Err(api(
            ErrorCode::BadRequest,
            "amount_fen must be 1..=100000000",
        ));
    }
    let n = description.chars().count();
    if !(1..=127).contains(&n) || description.chars().any(char::is_control) {
        return Err(api(
            ErrorCode::BadRequest,
            "description must be 1-127 characters without control characters",
        ));
    }
    if let Some(u) = notify_url {
        match Url::parse(u) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => {
                return Err(api(
                    ErrorCode::BadRequest,
                    "notify_url must be an http(s) URL",
                ))
            }
        }
    }
    Ok(())
}

impl Sim {
    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    fn today(&self) -> NaiveDate {
        instant(self.now_ms()).date_naive()
    }

    /// The wire form of an order.
    fn order_wire(&self, o: &OrderRow) -> wire::Order {
        wire::Order {
            out_trade_no: o.out_trade_no.clone(),
            kind: o.kind,
            channel: o.channel,
            amount_fen: o.amount,
            description: o.description.clone(),
            status: o.status,
            transaction_id: o.transaction_id.clone(),
            paid_at: o.paid_at_ms.map(instant),
            refunded_fen: o.refunded,
            created_at: instant(o.created_at_ms),
            expires_at: instant(o.expires_at_ms),
            failure: o.failure,
            auth_code_masked: o.auth_code_masked.clone(),
        }
    }

    fn qr_wire(&self, o: &OrderRow) -> wire::QrOrder {
        let token = o.qr_token.as_deref().unwrap_or_default();
        wire::QrOrder {
            code_url: format!("{}qr/{token}", self.base_url),
            expires_at: instant(o.expires_at_ms),
            order: self.order_wire(o),
        }
    }

    fn new_id(&self, c: &Connection, prefix: &str, at_ms: i64) -> rusqlite::Result<String> {
        let seq = store::next_seq(c, prefix)?;
        Ok(format!(
            "{prefix}{}{seq:014}",
            instant(at_ms).format("%Y%m%d")
        ))
    }

    fn transaction_prefix(ch: PayChannel) -> &'static str {
        match ch {
            PayChannel::Wechat => "420000",
            PayChannel::Alipay => "220010",
            PayChannel::Unionpay => "620000",
            PayChannel::Wallet | PayChannel::None => "880000",
        }
    }

    /// Apply one state-machine event at `at_ms` and store the result.
    fn apply(
        &self,
        c: &Connection,
        o: &mut OrderRow,
        ev: OrderEvent,
        at_ms: i64,
        jobs: &mut Vec<NotifyJob>,
    ) -> Result<order::Next, Fail> {
        let facts = OrderFacts {
            kind: o.kind,
            channel: o.channel,
            status: o.status,
            amount: o.amount,
            refunded: o.refunded,
        };
        let next = order::step(&facts, ev).map_err(|code| {
            api(
                code,
                format!(
                    "{} not allowed on {} order {} (refunded {} of {})",
                    ev.describe(),
                    o.status.as_str(),
                    o.out_trade_no,
                    o.refunded,
                    o.amount
                ),
            )
        })?;
        o.status = next.status;
        o.refunded = next.refunded;
        if ev == OrderEvent::Decline {
            o.failure = Some(ErrorCode::PaymentDeclined);
        }
        if next.newly_paid {
            o.paid_at_ms = Some(at_ms);
            o.transaction_id = Some(self.new_id(c, Self::transaction_prefix(o.channel), at_ms)?);
            if let Some(url) = &o.notify_url {
                let n = wire::Notification {
                    notify_id: format!("N{}", o.transaction_id.as_deref().unwrap_or_default()),
                    event_type: wire::NotifyEvent::OrderPaid,
                    kiosk_id: o.kiosk_id.clone(),
                    out_trade_no: o.out_trade_no.clone(),
                    channel: o.channel,
                    amount_fen: o.amount,
                    transaction_id: o.transaction_id.clone().unwrap_or_default(),
                    paid_at: instant(at_ms),
                };
                jobs.push(NotifyJob {
                    url: url.clone(),
                    kiosk_id: o.kiosk_id.clone(),
                    body: serde_json::to_vec(&n).expect("serializable"),
                    copies: if notified_twice(&o.out_trade_no) {
                        2
                    } else {
                        1
                    },
                });
            }
        }
        if next.status != facts.status || next.refunded != facts.refunded || next.newly_paid {
            store::update_order(c, o)?;
            tracing::info!(
                out_trade_no = %o.out_trade_no,
                event = ?ev,
                from = facts.status.as_str(),
                to = o.status.as_str(),
                "order"
            );
        }
        Ok(next)
    }

    /// Let time act on waiting orders: confirmations, refusals, expiry.
    fn sweep(&self, c: &Connection, now: i64, jobs: &mut Vec<NotifyJob>) -> Result<(), Fail> {
        for mut o in store::pending_orders(c)? {
            if let Some(ev) = order::due_event(o.status, o.expires_at_ms, o.settle, now) {
                let at = match (ev, o.settle) {
                    (OrderEvent::Expire, _) | (_, None) => o.expires_at_ms,
                    (_, Some(s)) => s.at_ms,
                };
                self.apply(c, &mut o, ev, at, jobs)?;
            }
        }
        Ok(())
    }

    /// Run `f` in one SQLite transaction after a sweep. The transaction
    /// commits even when `f` refuses (a refused micropay is still an order);
    /// only a database error rolls it back.
    fn with_tx<T>(
        &self,
        f: impl FnOnce(&Connection, i64, &mut Vec<NotifyJob>) -> Result<T, Fail>,
    ) -> (Result<T, Fail>, Vec<NotifyJob>) {
        let mut jobs = Vec::new();
        let mut conn = lock(&self.db);
        let tx = match conn.transaction() {
            Ok(tx) => tx,
            Err(e) => return (Err(Fail::Db(e)), jobs),
        };
        let now = self.now_ms();
        let r = self
            .sweep(&tx, now, &mut jobs)
            .and_then(|_| f(&tx, now, &mut jobs));
        if let Err(Fail::Db(_)) = r {
            return (r, Vec::new());
        }
        match tx.commit() {
            Ok(()) => (r, jobs),
            Err(e) => (Err(Fail::Db(e)), Vec::new()),
        }
    }

    fn execute(
        &self,
        op: Operation,
        kiosk: &str,
        params: &[String],
        body: &[u8],
    ) -> (Result<Reply, Fail>, Vec<NotifyJob>) {
        let param = || params.first().map(String::as_str).unwrap_or_default();
        self.with_tx(|c, now, jobs| match op {
            Operation::Ping => Ok(json_reply(&wire::Ping {
                platform: self.cfg.platform_name.clone(),
                kiosk_id: kiosk.to_string(),
                now: instant(now),
                today: instant(now).date_naive(),
                protocol_version: wire::PROTOCOL_VERSION.into(),
            })),
            Operation::CreateQrOrder => self.create_qr(c, now, kiosk, body),
            Operation::Micropay => self.micropay(c, now, kiosk, body, jobs),
            Operation::QueryOrder => {
                let o = self.own_order(c, kiosk, param())?;
                Ok(json_reply(&self.order_wire(&o)))
            }
            Operation::CloseOrder => {
                let mut o = self.own_order(c, kiosk, param())?;
                self.apply(c, &mut o, OrderEvent::Close, now, jobs)?;
                Ok(json_reply(&self.order_wire(&o)))
            }
            Operation::ReverseOrder => self.reverse(c, now, kiosk, param(), jobs),
            Operation::CreateRefund => self.refund(c, now, kiosk, body, jobs),
            Operation::QueryRefund => {
                let r = store::get_refund(c, param())?
                    .filter(|r| r.kiosk_id == kiosk)
                    .ok_or_else(|| {
                        api(ErrorCode::RefundNotFound, format!("no refund {}", param()))
                    })?;
                let o = self.own_order(c, kiosk, &r.out_trade_no)?;
                Ok(json_reply(&self.refund_wire(&r, &o)))
            }
            Operation::DownloadBill => self.bill(c, now, kiosk, param()),
        })
    }

    fn own_order(&self, c: &Connection, kiosk: &str, out_trade_no: &str) -> Result<OrderRow, Fail> {
        store::get_order(c, out_trade_no)?
            .filter(|o| o.kiosk_id == kiosk)
            .ok_or_else(|| api(ErrorCode::OrderNotFound, format!("no order {out_trade_no}")))
    }

    /// An existing order under this number: the same request gets it back,
    /// anything else is refused.
    fn existing(
        &self,
        c: &Connection,
        kiosk: &str,
        out_trade_no: &str,
        hash: &str,
    ) -> Result<Option<OrderRow>, Fail> {
        match store::get_order(c, out_trade_no)? {
            None => Ok(None),
            Some(o) if o.kiosk_id == kiosk && o.request_hash == hash => Ok(Some(o)),
            Some(_) => Err(api(
                ErrorCode::OutTradeNoUsed,
                format!("out_trade_no {out_trade_no} was used for another order"),
            )),
        }
    }

    fn create_qr(&self, c: &Connection, now: i64, kiosk: &str, body: &[u8]) -> Result<Reply, Fail> {
        let req: wire::CreateQrOrderRequest = parse_body(body)?;
        check_number("out_trade_no", &req.out_trade_no, 32)?;
        check_order_fields(req.amount_fen, &req.description, req.notify_url.as_deref())?;
        if req.channel == PayChannel::None {
            return Err(api(
                ErrorCode::BadRequest,
                "channel none cannot take a payment",
            ));
        }
        let hash = request_hash(&("qr", &req));
        if let Some(o) = self.existing(c, kiosk, &req.out_trade_no, &hash)? {
            return Ok(json_reply(&self.qr_wire(&o)));
        }
        let o = OrderRow {
            out_trade_no: req.out_trade_no.clone(),
            kiosk_id: kiosk.to_string(),
            kind: OrderKind::Qr,
            channel: req.channel,
            amount: req.amount_fen,
            description: req.description.clone(),
            notify_url: req.notify_url.clone(),
            request_hash: hash,
            auth_code_masked: None,
            status: OrderStatus::NotPaid,
            failure: None,
            transaction_id: None,
            paid_at_ms: None,
            refunded: Money::ZERO,
            created_at_ms: now,
            expires_at_ms: now + self.cfg.qr_ttl_secs * 1000,
            settle: None,
            qr_token: Some(sign::new_nonce()),
        };
        store::insert_order(c, &o)?;
        tracing::info!(kiosk, out_trade_no = %o.out_trade_no, channel = ?o.channel, amount = %o.amount, "QR order created");
        Ok(json_reply(&self.qr_wire(&o)))
    }

    fn micropay_reply(&self, o: &OrderRow) -> Result<Reply, Fail> {
        let result = match o.status {
            OrderStatus::Paid => wire::MicropayResult::Paid,
            OrderStatus::UserPaying => wire::MicropayResult::UserPaying,
            OrderStatus::Failed => {
                let code = o.failure.unwrap_or(ErrorCode::PaymentDeclined);
                return Err(api(
                    code,
                    format!("order {} failed: {}", o.out_trade_no, code.as_str()),
                ));
            }
            s => {
                return Err(api(
                    ErrorCode::OrderClosed,
                    format!("order {} is {}; query it", o.out_trade_no, s.as_str()),
                ))
            }
        };
        Ok(json_reply(&wire::MicropayAnswer {
            result,
            order: self.order_wire(o),
        }))
    }

    fn micropay(
        &self,
        c: &Connection,
        now: i64,
        kiosk: &str,
        body: &[u8],
        jobs: &mut Vec<NotifyJob>,
    ) -> Result<Reply, Fail> {
        let req: wire::MicropayRequest = parse_body(body)?;
        check_number("out_trade_no", &req.out_trade_no, 32)?;
        check_order_fields(req.amount_fen, &req.description, req.notify_url.as_deref())?;
        let masked = mask_code(&req.auth_code);
        let channel = channel_of_code(&req.auth_code).map_err(|e| {
            api(
                ErrorCode::PaymentCodeInvalid,
                format!("payment code {masked}: {e}"),
            )
        })?;
        let hash = request_hash(&(
            "micropay",
            hex::encode(Sha256::digest(req.auth_code.as_bytes())),
            &req.out_trade_no,
            req.amount_fen,
            &req.description,
            &req.notify_url,
        ));
        if let Some(o) = self.existing(c, kiosk, &req.out_trade_no, &hash)? {
            return self.micropay_reply(&o);
        }
        let behaviour = CodeBehaviour::of(&req.auth_code);
        let user_paying = now + self.cfg.user_paying_secs * 1000;
        let (status, failure, settle) = match behaviour {
            CodeBehaviour::PaysAtOnce
            | CodeBehaviour::SystemErrorButPaid
            | CodeBehaviour::UserPayingNeverPays => (OrderStatus::UserPaying, None, None),
            CodeBehaviour::UserPayingThenPays => (
                OrderStatus::UserPaying,
                None,
                Some(Settle {
                    at_ms: user_paying,
                    event: OrderEvent::Pay,
                }),
            ),
            CodeBehaviour::UserPayingThenDeclines => (
                OrderStatus::UserPaying,
                None,
                Some(Settle {
                    at_ms: user_paying,
                    event: OrderEvent::Decline,
                }),
            ),
            CodeBehaviour::InsufficientFunds => (
                OrderStatus::Failed,
                Some(ErrorCode::InsufficientFunds),
                None,
            ),
            CodeBehaviour::CodeExpired => (
                OrderStatus::Failed,
                Some(ErrorCode::PaymentCodeExpired),
                None,
            ),
        };
        let mut o = OrderRow {
            out_trade_no: req.out_trade_no.clone(),
            kiosk_id: kiosk.to_string(),
            kind: OrderKind::Micropay,
            channel,
            amount: req.amount_fen,
            description: req.description.clone(),
            notify_url: req.notify_url.clone(),
            request_hash: hash,
            auth_code_masked: Some(masked.clone()),
            status,
            failure,
            transaction_id: None,
            paid_at_ms: None,
            refunded: Money::ZERO,
            created_at_ms: now,
            expires_at_ms: now + self.cfg.auto_revoke_secs * 1000,
            settle,
            qr_token: None,
        };
        store::insert_order(c, &o)?;
        tracing::info!(kiosk, out_trade_no = %o.out_trade_no, code = %masked, channel = ?channel, amount = %o.amount, behaviour = ?behaviour, "micropay");
        if matches!(
            behaviour,
            CodeBehaviour::PaysAtOnce | CodeBehaviour::SystemErrorButPaid
        ) {
            self.apply(c, &mut o, OrderEvent::Pay, now, jobs)?;
        }
        if behaviour == CodeBehaviour::SystemErrorButPaid {
            return Err(api(
                ErrorCode::SystemError,
                format!(
                    "channel system error on {}: the result is unknown, query the order",
                    o.out_trade_no
                ),
            ));
        }
        self.micropay_reply(&o)
    }

    fn reverse(
        &self,
        c: &Connection,
        now: i64,
        kiosk: &str,
        out_trade_no: &str,
        jobs: &mut Vec<NotifyJob>,
    ) -> Result<Reply, Fail> {
        let mut o = self.own_order(c, kiosk, out_trade_no)?;
        let age_secs = (now - o.created_at_ms) / 1000;
        let next = self.apply(c, &mut o, OrderEvent::Reverse { age_secs }, now, jobs)?;
        if next.returned > Money::ZERO {
            let r = RefundRow {
                refund_id: self.new_id(c, "500000", now)?,
                out_refund_no: None,
                out_trade_no: o.out_trade_no.clone(),
                kiosk_id: kiosk.to_string(),
                amount: next.returned,
                reason: "reverse".into(),
                request_hash: None,
                created_at_ms: now,
            };
            store::insert_refund(c, &r)?;
        }
        Ok(json_reply(&wire::ReverseAnswer {
            action: next.reverse.unwrap_or(wire::ReverseAction::Closed),
            order: self.order_wire(&o),
        }))
    }

    fn refund_wire(&self, r: &RefundRow, o: &OrderRow) -> wire::Refund {
        wire::Refund {
            out_refund_no: r.out_refund_no.clone().unwrap_or_default(),
            out_trade_no: r.out_trade_no.clone(),
            refund_id: r.refund_id.clone(),
            amount_fen: r.amount,
            reason: r.reason.clone(),
            status: wire::RefundStatus::Success,
            created_at: instant(r.created_at_ms),
            succeeded_at: Some(instant(r.created_at_ms)),
            order_status: o.status,
            order_refunded_fen: o.refunded,
        }
    }

    fn refund(
        &self,
        c: &Connection,
        now: i64,
        kiosk: &str,
        body: &[u8],
        jobs: &mut Vec<NotifyJob>,
    ) -> Result<Reply, Fail> {
        let req: wire::CreateRefundRequest = parse_body(body)?;
        check_number("out_trade_no", &req.out_trade_no, 32)?;
        check_number("out_refund_no", &req.out_refund_no, 64)?;
        if req.reason.chars().count() > 80 {
            return Err(api(
                ErrorCode::BadRequest,
                "reason is at most 80 characters",
            ));
        }
        let hash = request_hash(&req);
        if let Some(r) = store::get_refund(c, &req.out_refund_no)? {
            if r.kiosk_id != kiosk || r.request_hash.as_deref() != Some(hash.as_str()) {
                return Err(api(
                    ErrorCode::OutRefundNoUsed,
                    format!(
                        "out_refund_no {} was used for another refund",
                        req.out_refund_no
                    ),
                ));
            }
            let o = self.own_order(c, kiosk, &r.out_trade_no)?;
            return Ok(json_reply(&self.refund_wire(&r, &o)));
        }
        let mut o = self.own_order(c, kiosk, &req.out_trade_no)?;
        self.apply(c, &mut o, OrderEvent::Refund(req.amount_fen), now, jobs)?;
        let r = RefundRow {
            refund_id: self.new_id(c, "500000", now)?,
            out_refund_no: Some(req.out_refund_no.clone()),
            out_trade_no: o.out_trade_no.clone(),
            kiosk_id: kiosk.to_string(),
            amount: req.amount_fen,
            reason: req.reason.clone(),
            request_hash: Some(hash),
            created_at_ms: now,
        };
        store::insert_refund(c, &r)?;
        Ok(json_reply(&self.refund_wire(&r, &o)))
    }

    fn bill(&self, c: &Connection, now: i64, kiosk: &str, date: &str) -> Result<Reply, Fail> {
        let d = NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .ok()
            .filter(|_| date.len() == 10)
            .ok_or_else(|| api(ErrorCode::BadRequest, format!("{date:?} is not YYYY-MM-DD")))?;
        let next = d
            .succ_opt()
            .ok_or_else(|| api(ErrorCode::BadRequest, "date out of range"))?;
        let (from, to) = (day_start_ms(d), day_start_ms(next));
        if now < to + 10 * 3600 * 1000 {
            return Err(api(
                ErrorCode::BillNotReady,
                format!("the bill of {d} is ready from {next} 10:00"),
            ));
        }
        let mut rows: Vec<(i64, BillRow)> = Vec::new();
        for o in store::paid_between(c, kiosk, from, to)? {
            let at = o.paid_at_ms.unwrap_or(from);
            rows.push((
                at,
                BillRow {
                    trade_time: instant(at),
                    kiosk_id: Some(o.kiosk_id.clone()),
                    transaction_id: o.transaction_id.clone().unwrap_or_default(),
                    out_trade_no: o.out_trade_no.clone(),
                    trade_type: Some(bill::trade_type(o.kind).into()),
                    status: BillRowStatus::Success,
                    amount: o.amount,
                    refund_id: None,
                    out_refund_no: None,
                    refund: Money::ZERO,
                    refund_status: None,
                    description: Some(o.description.clone()),
                    channel: Some(o.channel),
                },
            ));
        }
        for r in store::refunds_between(c, kiosk, from, to)? {
            let o = self.own_order(c, kiosk, &r.out_trade_no)?;
            rows.push((
                r.created_at_ms,
                BillRow {
                    trade_time: instant(r.created_at_ms),
                    kiosk_id: Some(o.kiosk_id.clone()),
                    transaction_id: o.transaction_id.clone().unwrap_or_default(),
                    out_trade_no: o.out_trade_no.clone(),
                    trade_type: Some(bill::trade_type(o.kind).into()),
                    status: BillRowStatus::Refund,
                    amount: Money::ZERO,
                    refund_id: Some(r.refund_id.clone()),
                    out_refund_no: r.out_refund_no.clone(),
                    refund: r.amount,
                    refund_status: Some("SUCCESS".into()),
                    description: Some(o.description.clone()),
                    channel: Some(o.channel),
                },
            ));
        }
        rows.sort_by_key(|(t, _)| *t);
        let rows: Vec<BillRow> = rows.into_iter().map(|(_, r)| r).collect();
        Ok(Reply {
            status: 200,
            content_type: "text/csv; charset=utf-8",
            body: self.bills.write(&rows).into_bytes(),
        })
    }

    /// The payer's phone opened the QR's URL.
    fn pay_by_token(&self, token: &str) -> (Result<(OrderRow, bool), Fail>, Vec<NotifyJob>) {
        self.with_tx(|c, now, jobs| {
            let mut o = store::order_by_token(c, token)?
                .ok_or_else(|| api(ErrorCode::OrderNotFound, "no such QR"))?;
            match self.apply(c, &mut o, OrderEvent::Pay, now, jobs) {
                Ok(_) => Ok((o, true)),
                Err(Fail::Api(ErrorCode::OrderPaid, _)) => Ok((o, false)),
                Err(e) => Err(e),
            }
        })
    }

    /// Who signed this request; the reason when nobody acceptable did.
    fn authenticate(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(String, String), String> {
        let get = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| format!("missing {name}"))
        };
        let kiosk = get(header::KIOSK_ID)?;
        let key = self
            .keys
            .get(kiosk)
            .ok_or_else(|| format!("unknown kiosk {kiosk:?}"))?;
        let ts_s = get(header::TIMESTAMP)?;
        let nonce = get(header::NONCE)?;
        let sig = get(header::SIGNATURE)?;
        let ts = sign::parse_timestamp(ts_s).ok_or("X-Timestamp is not unix seconds")?;
        if !sign::valid_nonce(nonce) {
            return Err("X-Nonce must be 16-64 characters of A-Z a-z 0-9".into());
        }
        let msg = sign::request_message(method, path_and_query, ts, nonce, body);
        if !key.verify(&msg, sig) {
            return Err("signature does not verify".into());
        }
        let now = chrono::Utc::now().timestamp();
        if !sign::fresh(ts, now) {
            return Err(format!("stale timestamp {ts} (now {now})"));
        }
        if !lock(&self.nonces).check_and_insert(kiosk, nonce, now) {
            return Err("nonce already used (replay)".into());
        }
        Ok((kiosk.to_string(), nonce.to_string()))
    }

    /// Sign a reply for `kiosk`, echoing the request's nonce.
    fn signed(
        &self,
        kiosk: &str,
        nonce: &str,
        status: u16,
        content_type: &str,
        body: Vec<u8>,
    ) -> Response {
        self.respond(kiosk, nonce, status, content_type, body, Signing::Good)
    }

    fn respond(
        &self,
        kiosk: &str,
        nonce: &str,
        status: u16,
        content_type: &str,
        mut body: Vec<u8>,
        signing: Signing,
    ) -> Response {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_str(content_type).expect("valid content type"),
        );
        if signing != Signing::None {
            if let Some(key) = self.keys.get(kiosk) {
                let ts = chrono::Utc::now().timestamp();
                let sig = key.sign(&sign::response_message(status, ts, nonce, &body));
                headers.insert(header::TIMESTAMP, HeaderValue::from(ts));
                if let Ok(n) = HeaderValue::from_str(nonce) {
                    headers.insert(header::NONCE, n);
                }
                headers.insert(
                    header::SIGNATURE,
                    HeaderValue::from_str(&sig).expect("base64 is a valid header"),
                );
            }
        }
        if signing == Signing::Tampered {
            // The body changes after signing, as a man in the middle would.
            body.push(b' ');
        }
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, headers, body).into_response()
    }

    fn error_response(
        &self,
        kiosk: &str,
        nonce: &str,
        code: ErrorCode,
        detail: &str,
        status: Option<u16>,
    ) -> Response {
        let body = serde_json::to_vec(&envelope(code, detail)).expect("serializable");
        self.signed(
            kiosk,
            nonce,
            status.unwrap_or(code.http_status()),
            "application/json",
            body,
        )
    }

    /// Hold the request open until shutdown (or an hour): the client times out.
    async fn hang(&self) -> Response {
        let mut rx = self.shutdown.clone();
        let _ = tokio::time::timeout(Duration::from_secs(3600), rx.wait_for(|v| *v)).await;
        StatusCode::SERVICE_UNAVAILABLE.into_response()
    }

    /// Sleep this many simulated seconds; false if the simulator is stopping.
    async fn sleep_sim(&self, secs: f64) -> bool {
        let real = Duration::from_secs_f64((secs / self.cfg.time_factor).max(0.0));
        let mut rx = self.shutdown.clone();
        tokio::select! {
            _ = tokio::time::sleep(real) => true,
            _ = rx.wait_for(|v| *v) => false,
        }
    }

    fn dispatch_jobs(self: &Arc<Self>, jobs: Vec<NotifyJob>) {
        for job in jobs {
            let sim = self.clone();
            tokio::spawn(async move { sim.deliver(job).await });
        }
    }

    async fn deliver(&self, job: NotifyJob) {
        let Some(key) = self.keys.get(&job.kiosk_id) else {
            return;
        };
        for copy in 0..job.copies {
            if copy > 0 && !self.sleep_sim(1.0).await {
                return;
            }
            for attempt in 0..=NOTIFY_RETRY_SECS.len() {
                if attempt > 0 && !self.sleep_sim(NOTIFY_RETRY_SECS[attempt - 1]).await {
                    return;
                }
                let ts = chrono::Utc::now().timestamp();
                let nonce = sign::new_nonce();
                let sig = key.sign(&sign::notify_message(ts, &nonce, &job.body));
                let sent = self
                    .notifier
                    .post(&job.url)
                    .header(header::KIOSK_ID, &job.kiosk_id)
                    .header(header::TIMESTAMP, ts.to_string())
                    .header(header::NONCE, &nonce)
                    .header(header::SIGNATURE, sig)
                    .header(axum::http::header::CONTENT_TYPE, "application/json")
                    .body(job.body.clone())
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => break,
                    Ok(r) => {
                        tracing::warn!(url = %job.url, status = r.status().as_u16(), attempt, "notification refused")
                    }
                    Err(e) => {
                        tracing::warn!(url = %job.url, error = %e, attempt, "notification not delivered")
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signing {
    Good,
    Tampered,
    None,
}

async fn tick(sim: Arc<Sim>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = stop.wait_for(|v| *v) => return,
        }
        let (r, jobs) = sim.with_tx(|_, _, _| Ok(()));
        if let Err(Fail::Db(e)) = r {
            tracing::error!(error = %e, "payment simulator sweep failed");
        }
        sim.dispatch_jobs(jobs);
    }
}

fn unauthorized(reason: &str) -> Response {
    let body =
        serde_json::to_vec(&envelope(ErrorCode::Unauthorized, reason)).expect("serializable");
    (
        StatusCode::UNAUTHORIZED,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

async fn v1(
    State(sim): State<Arc<Sim>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| uri.path().to_string());
    let (kiosk, nonce) = match sim.authenticate(method.as_str(), &path_and_query, &headers, &body) {
        Ok(k) => k,
        Err(reason) => {
            tracing::warn!(path = uri.path(), %reason, "payment request refused");
            return unauthorized(&reason);
        }
    };
    let (op, params) = match Operation::match_path(method.as_str(), uri.path()) {
        Ok(x) => x,
        Err(other_method) => {
            let status = if other_method { 405 } else { 404 };
            return sim.error_response(
                &kiosk,
                &nonce,
                ErrorCode::BadRequest,
                &format!("no operation {method} {}", uri.path()),
                Some(status),
            );
        }
    };
    let fault = lock(&sim.faults).take(op.id());
    if let Some(f) = &fault {
        tracing::info!(op = op.id(), kind = ?f.kind, "injecting fault");
        match f.kind {
            FaultKind::Latency => tokio::time::sleep(Duration::from_millis(f.delay_ms)).await,
            FaultKind::Timeout => return sim.hang().await,
            FaultKind::Error => {
                return match f.error_code() {
                    Some(ErrorCode::Unauthorized) => unauthorized("injected"),
                    Some(code) => sim.error_response(
                        &kiosk,
                        &nonce,
                        code,
                        "injected fault",
                        Some(f.error_status()),
                    ),
                    None => (
                        StatusCode::from_u16(f.error_status()).unwrap_or(StatusCode::BAD_GATEWAY),
                        "<html><body>Bad Gateway</body></html>",
                    )
                        .into_response(),
                }
            }
            _ => {}
        }
    }
    let (result, jobs) = sim.execute(op, &kiosk, &params, &body);
    sim.dispatch_jobs(jobs);
    let (status, content_type, body) = match result {
        Ok(r) => (r.status, r.content_type, r.body),
        Err(Fail::Api(code, detail)) => (
            code.http_status(),
            "application/json",
            serde_json::to_vec(&envelope(code, &detail)).expect("serializable"),
        ),
        Err(Fail::Db(e)) => {
            tracing::error!(op = op.id(), error = %e, "payment simulator database error");
            (
                500,
                "application/json",
                serde_json::to_vec(&envelope(ErrorCode::SystemError, "database error"))
                    .expect("serializable"),
            )
        }
    };
    let signing = match fault.map(|f| f.kind) {
        Some(FaultKind::LostResponse) => return sim.hang().await,
        Some(FaultKind::Malformed) => {
            return sim.signed(
                &kiosk,
                &nonce,
                200,
                "application/json",
                b"{\"result\": \"pa".to_vec(),
            )
        }
        Some(FaultKind::BadSignature) => Signing::Tampered,
        Some(FaultKind::Unsigned) => Signing::None,
        _ => Signing::Good,
    };
    sim.respond(&kiosk, &nonce, status, content_type, body, signing)
}

fn html(status: StatusCode, title: &str, line_zh: &str, line_en: &str) -> Response {
    let page = format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head><body style=\"font-family:sans-serif;text-align:center;padding-top:3em\">\
         <h1>{line_zh}</h1><p>{line_en}</p><p style=\"color:#888\">支付平台模拟器 · payment simulator</p></body></html>"
    );
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn qr_page(State(sim): State<Arc<Sim>>, Path(token): Path<String>) -> Response {
    let (r, jobs) = sim.pay_by_token(&token);
    sim.dispatch_jobs(jobs);
    match r {
        Ok((o, fresh)) => {
            let what = escape(&o.description);
            if fresh {
                html(
                    StatusCode::OK,
                    "支付成功",
                    &format!("支付成功 {}", o.amount),
                    &format!("Paid {} for {what}", o.amount),
                )
            } else {
                html(
                    StatusCode::OK,
                    "已支付",
                    &format!("该订单已支付 {}", o.amount),
                    "This order is already paid.",
                )
            }
        }
        Err(Fail::Api(ErrorCode::OrderNotFound, _)) => html(
            StatusCode::NOT_FOUND,
            "二维码无效",
            "二维码无效",
            "This QR code is not known.",
        ),
        Err(Fail::Api(..)) => html(
            StatusCode::GONE,
            "二维码已失效",
            "二维码已失效，请在自助机上重新发起支付",
            "This QR code has expired or was closed. Please start again at the kiosk.",
        ),
        Err(Fail::Db(e)) => {
            tracing::error!(error = %e, "payment simulator database error");
            html(
                StatusCode::INTERNAL_SERVER_ERROR,
                "系统错误",
                "系统错误",
                "System error.",
            )
        }
    }
}

/// The refusal, when `/sim/*` needs a control token and this request lacks it.
fn control_denied(sim: &Sim, headers: &HeaderMap) -> Option<Response> {
    let token = sim.cfg.control_token.as_ref()?;
    let ok = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        == Some(token.as_str());
    (!ok).then(|| unauthorized("control endpoints need the control token"))
}

#[derive(Serialize)]
struct FaultList {
    faults: Vec<Fault>,
}

fn bad_request(detail: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(&envelope(ErrorCode::BadRequest, &detail)).expect("serializable"),
    )
        .into_response()
}

async fn faults_add(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = control_denied(&sim, &headers) {
        return r;
    }
    let f: Fault = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => return bad_request(format!("fault: {e}")),
    };
    if let Err(e) = f.validate() {
        return bad_request(e);
    }
    let mut t = lock(&sim.faults);
    t.add(f);
    axum::Json(FaultList { faults: t.list() }).into_response()
}

async fn faults_list(State(sim): State<Arc<Sim>>, headers: HeaderMap) -> Response {
    if let Some(r) = control_denied(&sim, &headers) {
        return r;
    }
    axum::Json(FaultList {
        faults: lock(&sim.faults).list(),
    })
    .into_response()
}

async fn faults_clear(State(sim): State<Arc<Sim>>, headers: HeaderMap) -> Response {
    if let Some(r) = control_denied(&sim, &headers) {
        return r;
    }
    lock(&sim.faults).clear();
    axum::Json(FaultList { faults: vec![] }).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    advance_secs: i64,
}

#[derive(Serialize)]
struct ClockState {
    now: Instant,
    today: NaiveDate,
    time_factor: f64,
}

fn clock_state(sim: &Sim) -> ClockState {
    ClockState {
        now: instant(sim.now_ms()),
        today: sim.today(),
        time_factor: sim.cfg.time_factor,
    }
}

async fn clock_get(State(sim): State<Arc<Sim>>, headers: HeaderMap) -> Response {
    if let Some(r) = control_denied(&sim, &headers) {
        return r;
    }
    axum::Json(clock_state(&sim)).into_response()
}

async fn clock_advance(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = control_denied(&sim, &headers) {
        return r;
    }
    let a: Advance = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => return bad_request(format!("clock: {e}")),
    };
    if !(0..=366 * 86400).contains(&a.advance_secs) {
        return bad_request(
            "advance_secs must be 0..=31622400 (the clock only moves forward)".into(),
        );
    }
    sim.clock.advance(a.advance_secs);
    // Let the rules catch up at once rather than at the next tick.
    let (_, jobs) = sim.with_tx(|_, _, _| Ok(()));
    sim.dispatch_jobs(jobs);
    axum::Json(clock_state(&sim)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_codes_choose_their_behaviour_by_the_last_four_digits() {
        assert_eq!(
            CodeBehaviour::of("134567890123450001"),
            CodeBehaviour::PaysAtOnce
        );
        assert_eq!(
            CodeBehaviour::of("134567890123459999"),
            CodeBehaviour::PaysAtOnce
        );
        assert_eq!(
            CodeBehaviour::of("284567890123450002"),
            CodeBehaviour::UserPayingThenPays
        );
        assert_eq!(
            CodeBehaviour::of("6234567890123450003"),
            CodeBehaviour::UserPayingNeverPays
        );
        assert_eq!(
            CodeBehaviour::of("884567890123450004"),
            CodeBehaviour::InsufficientFunds
        );
        assert_eq!(
            CodeBehaviour::of("134567890123450005"),
            CodeBehaviour::SystemErrorButPaid
        );
        assert_eq!(
            CodeBehaviour::of("134567890123450006"),
            CodeBehaviour::CodeExpired
        );
        assert_eq!(
            CodeBehaviour::of("134567890123450007"),
            CodeBehaviour::UserPayingThenDeclines
        );
        assert_eq!(CodeBehaviour::of("7"), CodeBehaviour::PaysAtOnce);
    }

    #[test]
    fn even_order_numbers_are_notified_twice() {
        assert!(notified_twice("K0120261123000002"));
        assert!(notified_twice("K0120261123000010"));
        assert!(!notified_twice("K0120261123000001"));
        assert!(!notified_twice("K01-x"));
    }

    #[test]
    fn instants_drop_milliseconds_in_cst() {
        let t = instant(1_795_400_000_999);
        assert_eq!(t.timestamp(), 1_795_400_000);
        assert_eq!(t.offset().local_minus_utc(), 8 * 3600);
    }
}

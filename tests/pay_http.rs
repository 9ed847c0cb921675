//! `HttpPay` against the payment simulator over real HTTP on loopback:
//! QR orders paid by opening their URL, micropays in every behaviour,
//! reverse and refund, idempotent creation, signatures both ways, the day
//! bill, notifications, and each injected fault mapped to its typed error.

use chrono::NaiveDate;
use kiosk::domain::{Money, PayChannel};
use kiosk::pay::sign::{self, KioskKey};
use kiosk::pay::sim::{self, PaySimConfig, PaySimHandle};
use kiosk::pay::wire::ReverseAction;
use kiosk::pay::{
    BadPaymentCode, BillRowStatus, ErrorCode, HttpPay, HttpPayConfig, MicropayOutcome,
    MicropayRequest, NotifyError, NotifyVerifier, Order, OrderKind, OrderStatus, OutRefundNo,
    OutTradeNo, PayErrorKind, PaymentCode, PaymentGateway, QrOrderRequest, RefundRequest,
    ReverseOutcome, Verified,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use url::Url;

/// Simulated seconds per real second in these tests: 45 s take 2.25 s.
const FACTOR: f64 = 20.0;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

fn k02_key() -> KioskKey {
    KioskKey::from_hex(&"02".repeat(32)).unwrap()
}

struct PaySim {
    handle: PaySimHandle,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl PaySim {
    async fn start() -> PaySim {
        PaySim::start_with(|_| {}).await
    }

    async fn start_with(f: impl FnOnce(&mut PaySimConfig)) -> PaySim {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = PaySimConfig {
            kiosk_keys: vec![("K01".into(), KioskKey::demo()), ("K02".into(), k02_key())],
            time_factor: FACTOR,
            today: Some(today()),
            db_path: dir.path().join("pay.db"),
            ..PaySimConfig::default()
        };
        f(&mut cfg);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let handle = sim::spawn(cfg, listener).await.unwrap();
        PaySim {
            handle,
            dir,
            http: reqwest::Client::new(),
        }
    }

    fn base(&self) -> Url {
        Url::parse(&format!("http://{}/", self.handle.addr)).unwrap()
    }

    fn client(&self) -> HttpPay {
        self.client_with("K01", KioskKey::demo(), Duration::from_secs(5), 3)
    }

    fn client_with(&self, kiosk: &str, key: KioskKey, timeout: Duration, attempts: u32) -> HttpPay {
        let mut cfg = HttpPayConfig::simple(self.base(), kiosk, key, timeout);
        cfg.max_attempts = attempts;
        cfg.backoff = Duration::from_millis(20);
        HttpPay::new(cfg).unwrap()
    }

    async fn fault(&self, body: serde_json::Value) {
        let r = self
            .http
            .post(self.base().join("sim/faults").unwrap())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "fault refused: {}",
            r.text().await.unwrap()
        );
    }

    async fn clear_faults(&self) {
        let r = self
            .http
            .delete(self.base().join("sim/faults").unwrap())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    async fn advance(&self, secs: i64) {
        let r = self
            .http
            .post(self.base().join("sim/clock").unwrap())
            .json(&serde_json::json!({ "advance_secs": secs }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    /// A request signed by hand as K01, for what the typed client never sends.
    fn signed_at(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        ts: i64,
        nonce: &str,
    ) -> reqwest::RequestBuilder {
        let sig = KioskKey::demo().sign(&sign::request_message(method, path, ts, nonce, body));
        self.http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                self.base().join(path.trim_start_matches('/')).unwrap(),
            )
            .header("X-Kiosk-Id", "K01")
            .header("X-Timestamp", ts.to_string())
            .header("X-Nonce", nonce)
            .header("X-Signature", sig)
            .header("Content-Type", "application/json")
            .body(body.to_vec())
    }

    fn signed(&self, method: &str, path: &str, body: &[u8]) -> reqwest::RequestBuilder {
        self.signed_at(
            method,
            path,
            body,
            chrono::Utc::now().timestamp(),
            &sign::new_nonce(),
        )
    }
}

static SEQ: AtomicU64 = AtomicU64::new(1);

/// A fresh order number; `even` chooses the last digit's parity (an even
/// one makes the simulator notify twice).
fn otn_with(kiosk: &str, even: bool) -> OutTradeNo {
    loop {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        if (n % 2 == 0) == even {
            return OutTradeNo::new(format!("{kiosk}20261123{n:06}")).unwrap();
        }
    }
}

fn otn() -> OutTradeNo {
    otn_with("K01", false)
}

fn yuan(fen: i64) -> Money {
    Money::from_fen(fen)
}

fn qr_req(no: &OutTradeNo, channel: PayChannel, fen: i64) -> QrOrderRequest {
    QrOrderRequest {
        out_trade_no: no.clone(),
        channel,
        amount: yuan(fen),
        description: "门诊缴费 outpatient bill".into(),
        notify_url: None,
    }
}

/// A payment code of `channel` whose last four digits choose the behaviour.
fn code(channel: PayChannel, tail: &str) -> PaymentCode {
    let head = match channel {
        PayChannel::Wechat => "13456789012345",
        PayChannel::Alipay => "28456789012345",
        PayChannel::Unionpay => "623456789012345",
        PayChannel::Wallet => "88456789012345",
        PayChannel::None => unreachable!(),
    };
    PaymentCode::parse(&format!("{head}{tail}")).unwrap()
}

fn micro_req(no: &OutTradeNo, code: PaymentCode, fen: i64) -> MicropayRequest {
    MicropayRequest {
        out_trade_no: no.clone(),
        code,
        amount: yuan(fen),
        description: "挂号费 registration fee".into(),
        notify_url: None,
    }
}

async fn poll_until(pay: &HttpPay, no: &OutTradeNo, want: OrderStatus, within: Duration) -> Order {
    let started = std::time::Instant::now();
    loop {
        let o = pay.query_order(no).await.unwrap();
        if o.status == want {
            return o;
        }
        assert!(
            started.elapsed() < within,
            "{no} still {:?} after {within:?}, wanted {want:?}",
            o.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What a phone does with the QR: open its URL.
async fn scan_qr(http: &reqwest::Client, code_url: &str) -> (u16, String) {
    let r = http.get(code_url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn a_qr_order_is_paid_by_opening_its_url() {
    let sim = PaySim::start().await;
    let pay = sim.client();
    let ping = pay.ping().await.unwrap();
    assert_eq!((ping.kiosk_id.as_str(), ping.today), ("K01", today()));

    let no = otn();
    let qr = pay
        .create_qr_order(&qr_req(&no, PayChannel::Wechat, 1250))
        .await
        .unwrap();
    assert!(
        qr.code_url
            .starts_with(&format!("http://{}/qr/", sim.handle.addr)),
        "{}",
        qr.code_url
    );
    assert_eq!(qr.order.status, OrderStatus::NotPaid);
    assert_eq!(qr.order.kind, OrderKind::Qr);
    assert_eq!(
        (qr.expires_at - qr.order.created_at).num_seconds(),
        7200,
        "QR orders live 2 h"
    );
    assert_eq!(
        pay.query_order(&no).await.unwrap().status,
        OrderStatus::NotPaid
    );

    let (status, page) = scan_qr(&sim.http, &qr.code_url).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("支付成功") && page.contains("¥12.50"),
        "{page}"
    );
    let paid = pay.query_order(&no).await.unwrap();
    assert_eq!(paid.status, OrderStatus::Paid);
    assert_eq!(paid.amount_fen, yuan(1250));
    assert!(paid
        .transaction_id
        .as_deref()
        .is_some_and(|t| t.len() == 28));
    assert!(paid.paid_at.is_some());
    // A second scan does not pay twice.
    let (status, page) = scan_qr(&sim.http, &qr.code_url).await;
    assert_eq!(status, 200);
    assert!(page.contains("已支付"), "{page}");
    assert_eq!(pay.query_order(&no).await.unwrap(), paid);
    // A paid QR order cannot be closed, only reversed or refunded.
    let e = pay.close_order(&no).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::OrderPaid));
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn an_unpaid_qr_order_is_closed_or_expires_after_two_hours() {
    let sim = PaySim::start().await;
    let pay = sim.client();
    let no = otn();
    let qr = pay
        .create_qr_order(&qr_req(&no, PayChannel::Alipay, 800))
        .await
        .unwrap();
    let closed = pay.close_order(&no).await.unwrap();
    assert_eq!(closed.status, OrderStatus::Closed);
    // Closing again is harmless; the QR no longer pays.
    assert_eq!(
        pay.close_order(&no).await.unwrap().status,
        OrderStatus::Closed
    );
    let (status, page) = scan_qr(&sim.http, &qr.code_url).await;
    assert_eq!(status, 410);
    assert!(page.contains("二维码已失效"), "{page}");
    assert_eq!(
        pay.query_order(&no).await.unwrap().status,
        OrderStatus::Closed
    );
    // Reverse of a closed order is a no-op close.
    assert!(matches!(
        pay.reverse_order(&no).await.unwrap(),
        ReverseOutcome::Closed(_)
    ));

    // Left alone, a QR order expires after 2 h.
    let no2 = otn();
    let qr2 = pay
        .create_qr_order(&qr_req(&no2, PayChannel::Unionpay, 800))
        .await
        .unwrap();
    sim.advance(7199).await;
    assert_eq!(
        pay.query_order(&no2).await.unwrap().status,
        OrderStatus::NotPaid
    );
    sim.advance(2).await;
    assert_eq!(
        pay.query_order(&no2).await.unwrap().status,
        OrderStatus::Closed
    );
    assert_eq!(scan_qr(&sim.http, &qr2.code_url).await.0, 410);
    // A micropay is undone by reverse, never closed.
    let no3 = otn();
    pay.micropay(&micro_req(&no3, code(PayChannel::Alipay, "0001"), 100))
        .await
        .unwrap();
    assert_eq!(
        pay.close_order(&no3).await.unwrap_err().code(),
        Some(ErrorCode::InvalidState)
    );
    let (status, _) = scan_qr(&sim.http, &format!("{}qr/nonexistent", sim.base())).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn micropay_pays_at_once_on_every_channel() {
    let sim = PaySim::start().await;
    let pay = sim.client();
    for ch in [
        PayChannel::Wechat,
        PayChannel::Alipay,
        PayChannel::Unionpay,
        PayChannel::Wallet,
    ] {
        let no = otn();
        let out = pay
            .micropay(&micro_req(&no, code(ch, "0001"), 2550))
            .await
            .unwrap();
        let MicropayOutcome::Paid(o) = out else {
            panic!("{ch:?}: {out:?}")
        };
        assert_eq!(
            (o.channel, o.status, o.kind),
            (ch, OrderStatus::Paid, OrderKind::Micropay)
        );
        // The platform keeps only the masked code.
        let masked = o.auth_code_masked.as_deref().unwrap();
        assert!(
            masked.ends_with("0001") && masked.contains("*****"),
            "{masked}"
        );
        assert_eq!(pay.query_order(&no).await.unwrap(), o);
    }
}

#[tokio::test]
async fn user_paying_settles_by_polling() {
    let sim = PaySim::start().await;
    let pay = sim.client();
    let no = otn();
    let out = pay
        .micropay(&micro_req(&no, code(PayChannel::Wechat, "0002"), 4000))
        .await
        .unwrap();
    assert!(matches!(out, MicropayOutcome::UserPaying(_)), "{out:?}");
    assert_eq!(out.order().status, OrderStatus::UserPaying);
    assert_eq!(
        (out.order().expires_at - out.order().created_at).num_seconds(),
        45
    );
    let paid = poll_until(&pay, &no, OrderStatus::Paid, Duration::from_secs(5)).await;
    let waited = paid.paid_at.unwrap() - paid.created_at;
    assert!(
        (5..=6).contains(&waited.num_seconds()),
        "paid after {waited}"
    );
    // Replaying the micropay now answers paid, with the same order.
    let again = pay
        .micropay(&micro_req(&no, code(PayChannel::Wechat, "0002"), 4000))
        .await
        .unwrap();
    assert_eq!(again, MicropayOutcome::Paid(paid));

    // …0007: the payer cancels on their phone.
    let no = otn();
    let out = pay
        .micropay(&micro_req(&no, code(PayChannel::Alipay, "0007"), 4000))
        .await
        .unwrap();
    assert!(matches!(out, MicropayOutcome::UserPaying(_)));
    let failed = poll_until(&pay, &no, OrderStatus::Failed, Duration::from_secs(5)).await;
    assert_eq!(failed.failure, Some(ErrorCode::PaymentDeclined));
    let e = pay
        .micropay(&micro_req(&no, code(PayChannel::Alipay, "0007"), 4000))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::PaymentDeclined));
}

#[tokio::test]
async fn an_unconfirmed_micropay_is_revoked_after_45_seconds() {
    let sim = PaySim::start().await;
    let pay = sim.client();
    let no = otn();
    let started = std::time::Instant::now();
    let out = pay
        .micropay(&micro_req(&no, code(PayChannel::Unionpay, "0003"), 990))
        .await
        .unwrap();
    assert!(matches!(out, MicropayOutcome::UserPaying(_)));
    let revoked = poll_until(&pay, &no, OrderStatus::Revoked, Duration::from_secs(8)).await;
    let real = started.elapsed().as_secs_f64();
    assert!(
        real >= 45.0 / FACTOR - 0.05,
        "revoked after only {real:.2} s real"
    );
    assert!(revoked.paid_at.is_none() && revoked.transaction_id.is_none());
    // Reversing it now changes nothing; replaying the micropay says it is over.
    assert!(matches!(
        pay.reverse_order(&no).await.unwrap(),
        ReverseOutcome::Closed(o) if o.status == OrderStatus::Revoked
    ));
    let e = pay
        .micropay(&micro_req(&no, code(PayChannel::Unionpay, "0003"), 990))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::OrderClosed));
}

#[tokio::test]
async fn the_kiosk_reverses_a_waiting_micropay_before_the_channel_does() {
    let sim = PaySim::start().await;
    let pay = sim.client();
    let no = otn();
    pay.micropay(&micro_req(&no, code(PayChannel::Alipay, "0003"), 990))
        .await
        .unwrap();
    let r = pay.reverse_order(&no).await.unwrap();
    assert!(
        matches!(&r, ReverseOutcome::Closed(o) if o.status == OrderStatus::Revoked),
        "{r:?}"
    );
}

#[tokio::test]
async fn reverse_of_a_paid_order_refunds_it_after_recall() {
    let sim = PaySim::start().await;
    let pay = sim.client();
    let no = otn();
    pay.micropay(&micro_req(&no, code(PayChannel::Wechat, "0001"), 3300))
        .await
        .unwrap();
    // WeChat: reverse no sooner than 15 s after the charge; until then, recall.
    let first = pay.reverse_order(&no).await.unwrap();
    assert!(
        matches!(&first, ReverseOutcome::Recall(o) if o.status == OrderStatus::Paid),
        "{first:?}"
    );
    let started = std::time::Instant::now();
    let refunded = loop {
        match pay.reverse_order(&no).await.unwrap() {
            ReverseOutcome::Recall(_) => {
                assert!(started.elapsed() < Duration::from_secs(3), "still recall");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            ReverseOutcome::Refunded(o) => break o,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(refunded.status, OrderStatus::Refunded);
    assert_eq!(refunded.refunded_fen, yuan(3300));
    // Reversing again is idempotent.
    assert!(matches!(
        pay.reverse_order(&no).await.unwrap(),
        ReverseOutcome::Refunded(o) if o.refunded_fen == yuan(3300)
    ));
    // Alipay has no 15 s rule: cancel refunds at once.
    let no = otn();
    pay.micropay(&micro_req(&no, code(PayChannel::Alipay, "0001"), 100))
        .await
        .unwrap();
    assert!(matches!(
        pay.reverse_order(&no).await.unwrap(),
        ReverseOutcome::Refunded(_)
    ));
}

#[tokio::test]
async fn refunds_are_partial_or_full_and_idempotent_by_their_number() {
    let sim = PaySim::start().await;
    let pay = sim.client();
    let no = otn();
    pay.micropay(&micro_req(&no, code(PayChannel::Alipay, "0001"), 5000))
        .await
        .unwrap();
    let r1 = RefundRequest {
        out_trade_no: no.clone(),
        out_refund_no: OutRefundNo::new(format!("{no}-R1")).unwrap(),
        amount: yuan(2000),
        reason: "检查取消".into(),
    };
    let a = pay.refund(&r1).await.unwrap();
    assert_eq!(a.order_status, OrderStatus::Paid);
    assert_eq!(a.order_refunded_fen, yuan(2000));
    assert_eq!(a.status, kiosk::pay::RefundStatus::Success);
    // The same refund again: the same refund, no more money.
    let again = pay.refund(&r1).await.unwrap();
    assert_eq!(again.refund_id, a.refund_id);
    assert_eq!(again.order_refunded_fen, yuan(2000));
    assert_eq!(
        pay.query_refund(&r1.out_refund_no).await.unwrap().refund_id,
        a.refund_id
    );
    // The same number for another amount is refused.
    let e = pay
        .refund(&RefundRequest {
            amount: yuan(2001),
            ..r1.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::OutRefundNoUsed));
    // More than what is left is refused.
    let r2 = RefundRequest {
        out_refund_no: OutRefundNo::new(format!("{no}-R2")).unwrap(),
        amount: yuan(3001),
        ..r1.clone()
    };
    assert_eq!(
        pay.refund(&r2).await.unwrap_err().code(),
        Some(ErrorCode::RefundExceedsAmount)
    );
    let full = pay
        .refund(&RefundRequest {
            amount: yuan(3000),
            ..r2.clone()
        })
        .await
        .unwrap();
    assert_eq!(full.order_status, OrderStatus::Refunded);
    assert_eq!(pay.query_order(&no).await.unwrap().refunded_fen, yuan(5000));
    // Nothing to refund on an unpaid order; unknown refunds are not found.
    let unpaid = otn();
    pay.create_qr_order(&qr_req(&unpaid, PayChannel::Wechat, 100))
        .await
        .unwrap();
    let e = pay
        .refund(&RefundRequest {
            out_trade_no: unpaid.clone(),
            out_refund_no: OutRefundNo::new("R-unpaid").unwrap(),
            amount: yuan(100),
            reason: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::OrderNotPaid));
    assert_eq!(
        pay.query_refund(&OutRefundNo::new("nope").unwrap())
            .await
            .unwrap_err()
            .code(),
        Some(ErrorCode::RefundNotFound)
    );
}

#[tokio::test]
async fn the_same_out_trade_no_is_the_same_order_and_never_another() {
    let sim = PaySim::start().await;
    let pay = sim.client();
    let no = otn();
    let req = qr_req(&no, PayChannel::Wechat, 1500);
    let a = pay.create_qr_order(&req).await.unwrap();
    let b = pay.create_qr_order(&req).await.unwrap();
    assert_eq!(a, b, "same order, same QR, same expiry");
    let e = pay
        .create_qr_order(&QrOrderRequest {
            amount: yuan(1501),
            ..req.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::OutTradeNoUsed));
    assert!(!e.is_transient() && !e.outcome_unknown());
    let e = pay
        .micropay(&micro_req(&no, code(PayChannel::Wechat, "0001"), 1500))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::OutTradeNoUsed));
    // Another kiosk cannot see or reuse it.
    let k02 = sim.client_with("K02", k02_key(), Duration::from_secs(2), 1);
    assert_eq!(
        k02.query_order(&no).await.unwrap_err().code(),
        Some(ErrorCode::OrderNotFound)
    );
    assert_eq!(
        k02.create_qr_order(&req).await.unwrap_err().code(),
        Some(ErrorCode::OutTradeNoUsed)
    );

    let m = otn();
    let first = pay
        .micropay(&micro_req(&m, code(PayChannel::Alipay, "0001"), 700))
        .await
        .unwrap();
    let second = pay
        .micropay(&micro_req(&m, code(PayChannel::Alipay, "0001"), 700))
        .await
        .unwrap();
    assert_eq!(first, second, "charged once");
    let e = pay
        .micropay(&micro_req(&m, code(PayChannel::Alipay, "0009"), 700))
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Some(ErrorCode::OutTradeNoUsed),
        "another payment code"
    );
}

#[tokio::test]
async fn refused_micropays_say_why_and_an_unknown_outcome_is_resolved_by_query() {
    let sim = PaySim::start().await;
    let once = sim.client_with("K01", KioskKey::demo(), Duration::from_secs(3), 1);

    let no = otn();
    let e = once
        .micropay(&micro_req(&no, code(PayChannel::Wechat, "0004"), 100_000))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::InsufficientFunds));
    assert!(!e.outcome_unknown() && !e.is_transient());
    assert!(e.patient_message().0.contains("余额不足"));
    assert!(
        !e.detail.contains("45678901234"),
        "code masked: {}",
        e.detail
    );
    let o = once.query_order(&no).await.unwrap();
    assert_eq!(
        (o.status, o.failure),
        (OrderStatus::Failed, Some(ErrorCode::InsufficientFunds))
    );

    let no = otn();
    let e = once
        .micropay(&micro_req(&no, code(PayChannel::Alipay, "0006"), 100))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::PaymentCodeExpired));
    assert!(e.patient_message().1.contains("expired"));

    // …0005: SYSTEM_ERROR, but the channel did charge. Ask, do not guess.
    let no = otn();
    let e = once
        .micropay(&micro_req(&no, code(PayChannel::Wechat, "0005"), 1800))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::SystemError));
    assert!(e.outcome_unknown());
    assert!(e.patient_message().0.contains("请勿重复付款"));
    assert_eq!(
        once.query_order(&no).await.unwrap().status,
        OrderStatus::Paid
    );
    // A retrying client resolves it by itself: the replay answers paid.
    let retrying = sim.client();
    let no = otn();
    let out = retrying
        .micropay(&micro_req(&no, code(PayChannel::Wechat, "0005"), 1800))
        .await
        .unwrap();
    assert!(matches!(out, MicropayOutcome::Paid(_)));
}

#[tokio::test]
async fn a_bad_payment_code_is_refused_before_any_request() {
    let sim = PaySim::start().await;
    let pay = sim.client();
    for (scanned, why) in [
        ("994567890123450001", BadPaymentCode::UnknownPrefix),
        ("330203199001011234", BadPaymentCode::UnknownPrefix),
        (
            "1345678901234",
            BadPaymentCode::WrongLength {
                channel: PayChannel::Wechat,
                len: 13,
            },
        ),
        ("https://example.com/x", BadPaymentCode::NotDigits),
        ("", BadPaymentCode::Empty),
    ] {
        let e = PaymentCode::parse(scanned).unwrap_err();
        assert_eq!(e.kind, PayErrorKind::BadPaymentCode(why), "{scanned}");
        assert!(!e.outcome_unknown());
        let (zh, en) = e.patient_message();
        assert!(zh.contains("付款码") && en.contains("payment code"));
    }
    // Nothing reached the platform: the order does not exist.
    assert_eq!(
        pay.query_order(&otn()).await.unwrap_err().code(),
        Some(ErrorCode::OrderNotFound)
    );
    // The platform checks too, for clients less careful than this one.
    let body = serde_json::json!({
        "out_trade_no": "K01X1", "auth_code": "994567890123450001",
        "amount_fen": 100, "description": "x", "notify_url": null
    })
    .to_string();
    let r = sim
        .signed("POST", "/v1/orders/micropay", body.as_bytes())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let env: serde_json::Value = r.json().await.unwrap();
    assert_eq!(env["code"], "PAYMENT_CODE_INVALID");
    assert!(
        !env["message_en"].as_str().unwrap().contains("4567890123"),
        "{env}"
    );
}

#[tokio::test]
async fn the_platform_refuses_what_a_known_kiosk_did_not_sign() {
    let sim = PaySim::start().await;
    // The right kiosk id with another key.
    let wrong = sim.client_with("K01", k02_key(), Duration::from_secs(2), 3);
    let e = wrong.ping().await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Unauthorized));
    assert!(
        e.detail.contains("HTTP 401") && !e.detail.contains("attempts"),
        "not retried: {}",
        e.detail
    );
    // An unverifiable 401 to a write cannot prove nothing happened.
    let e = wrong
        .micropay(&micro_req(&otn(), code(PayChannel::Wechat, "0001"), 100))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Unauthorized));
    // A kiosk the platform does not know.
    let stranger = sim.client_with("K99", KioskKey::demo(), Duration::from_secs(2), 1);
    assert_eq!(
        stranger.ping().await.unwrap_err().code(),
        Some(ErrorCode::Unauthorized)
    );

    let key = KioskKey::demo();
    let now = chrono::Utc::now().timestamp();
    // Unsigned.
    let r = sim
        .http
        .get(sim.base().join("v1/ping").unwrap())
        .header("X-Kiosk-Id", "K01")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("X-Signature").is_none());
    let env: serde_json::Value = r.json().await.unwrap();
    assert_eq!(env["code"], "UNAUTHORIZED");
    assert_eq!(env["retryable"], false);
    // Stale (more than 5 minutes old).
    let r = sim
        .signed_at("GET", "/v1/ping", b"", now - 301, &sign::new_nonce())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // The body changed after signing.
    let r = sim
        .signed_at("GET", "/v1/ping", b"", now, &sign::new_nonce())
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A replayed nonce: the first use passes, the second does not.
    let nonce = sign::new_nonce();
    let r = sim
        .signed_at("GET", "/v1/ping", b"", now, &nonce)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The reply is signed over its status, timestamp, our nonce and its body.
    let ts: i64 = r.headers()["X-Timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(r.headers()["X-Nonce"].to_str().unwrap(), nonce);
    let sig = r.headers()["X-Signature"].to_str().unwrap().to_string();
    let body = r.bytes().await.unwrap();
    assert!(key.verify(&sign::response_message(200, ts, &nonce, &body), &sig));
    let r = sim
        .signed_at("GET", "/v1/ping", b"", now, &nonce)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let env: serde_json::Value = r.json().await.unwrap();
    assert!(
        env["message_en"].as_str().unwrap().contains("replay"),
        "{env}"
    );
}

#[tokio::test]
async fn unsigned_and_tampered_replies_are_rejected() {
    let sim = PaySim::start().await;
    let once = sim.client_with("K01", KioskKey::demo(), Duration::from_secs(3), 1);
    let no = otn();
    once.create_qr_order(&qr_req(&no, PayChannel::Wechat, 100))
        .await
        .unwrap();

    sim.fault(serde_json::json!({"operation": "queryOrder", "kind": "unsigned"}))
        .await;
    let e = once.query_order(&no).await.unwrap_err();
    assert_eq!(e.kind, PayErrorKind::BadSignature);
    assert!(e.detail.contains("unsigned"), "{}", e.detail);
    assert!(!e.outcome_unknown(), "a read moves no money");

    sim.fault(serde_json::json!({"operation": "queryOrder", "kind": "bad_signature"}))
        .await;
    let e = once.query_order(&no).await.unwrap_err();
    assert_eq!(e.kind, PayErrorKind::BadSignature);
    assert!(e.detail.contains("does not verify"), "{}", e.detail);

    // A tampered answer to a charge: the money may have moved.
    let m = otn();
    sim.fault(serde_json::json!({"operation": "micropay", "kind": "bad_signature"}))
        .await;
    let e = once
        .micropay(&micro_req(&m, code(PayChannel::Wechat, "0001"), 600))
        .await
        .unwrap_err();
    assert_eq!(e.kind, PayErrorKind::BadSignature);
    assert!(e.outcome_unknown());
    assert_eq!(
        once.query_order(&m).await.unwrap().status,
        OrderStatus::Paid,
        "it had"
    );
    // A retrying client gets a good answer the second time.
    let retrying = sim.client();
    sim.fault(serde_json::json!({"operation": "queryOrder", "kind": "unsigned"}))
        .await;
    assert_eq!(
        retrying.query_order(&m).await.unwrap().status,
        OrderStatus::Paid
    );

    // An error envelope must be signed too (only a 401 may come unsigned).
    sim.fault(serde_json::json!({"operation": "closeOrder", "kind": "unsigned"}))
        .await;
    let e = once.close_order(&m).await.unwrap_err();
    assert_eq!(e.kind, PayErrorKind::BadSignature, "{}", e.detail);
    assert!(e.detail.contains("INVALID_STATE"), "{}", e.detail);
}

#[tokio::test]
async fn each_injected_fault_maps_to_its_typed_error() {
    let sim = PaySim::start().await;
    let once = sim.client_with("K01", KioskKey::demo(), Duration::from_millis(800), 1);
    let no = otn();
    once.create_qr_order(&qr_req(&no, PayChannel::Wechat, 100))
        .await
        .unwrap();

    // Latency under the timeout: fine. Over it: Timeout.
    sim.fault(serde_json::json!({"operation": "queryOrder", "kind": "latency", "delay_ms": 100}))
        .await;
    once.query_order(&no).await.unwrap();
    sim.fault(serde_json::json!({"operation": "queryOrder", "kind": "latency", "delay_ms": 1500}))
        .await;
    let e = once.query_order(&no).await.unwrap_err();
    assert_eq!(e.kind, PayErrorKind::Timeout);
    assert!(e.is_transient() && !e.outcome_unknown());

    // timeout: nothing done, no answer. Unknown to the kiosk, so it asks.
    let m = otn();
    sim.fault(serde_json::json!({"operation": "micropay", "kind": "timeout"}))
        .await;
    let e = once
        .micropay(&micro_req(&m, code(PayChannel::Wechat, "0001"), 500))
        .await
        .unwrap_err();
    assert_eq!(e.kind, PayErrorKind::Timeout);
    assert!(e.outcome_unknown());
    assert!(e.detail.contains("13************0001"), "{}", e.detail);
    assert_eq!(
        once.query_order(&m).await.unwrap_err().code(),
        Some(ErrorCode::OrderNotFound)
    );

    // lost_response: done, but the answer never comes. The query finds it paid.
    sim.fault(serde_json::json!({"operation": "micropay", "kind": "lost_response"}))
        .await;
    let e = once
        .micropay(&micro_req(&m, code(PayChannel::Wechat, "0001"), 500))
        .await
        .unwrap_err();
    assert_eq!(e.kind, PayErrorKind::Timeout);
    assert!(e.outcome_unknown());
    let paid = once.query_order(&m).await.unwrap();
    assert_eq!(paid.status, OrderStatus::Paid);
    // Replaying the same micropay answers the same order: charged once.
    let MicropayOutcome::Paid(again) = once
        .micropay(&micro_req(&m, code(PayChannel::Wechat, "0001"), 500))
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(again.transaction_id, paid.transaction_id);

    sim.fault(serde_json::json!({"operation": "queryOrder", "kind": "error", "status": 503}))
        .await;
    let e = once.query_order(&no).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Unavailable));
    assert!(e.is_transient());
    assert!(e.patient_message().0.contains("支付系统"));

    sim.fault(serde_json::json!({"operation": "createRefund", "kind": "error", "status": 500}))
        .await;
    let e = once
        .refund(&RefundRequest {
            out_trade_no: m.clone(),
            out_refund_no: OutRefundNo::new("RF1").unwrap(),
            amount: yuan(100),
            reason: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::SystemError));
    assert!(e.outcome_unknown(), "a 500 to a refund: query the refund");
    assert_eq!(
        once.query_refund(&OutRefundNo::new("RF1").unwrap())
            .await
            .unwrap_err()
            .code(),
        Some(ErrorCode::RefundNotFound)
    );

    sim.fault(serde_json::json!({"operation": "queryOrder", "kind": "error", "status": 402, "code": "PAYMENT_DECLINED"})).await;
    assert_eq!(
        once.query_order(&no).await.unwrap_err().code(),
        Some(ErrorCode::PaymentDeclined)
    );

    // A proxy's error page: no envelope, no signature.
    sim.fault(serde_json::json!({"operation": "queryOrder", "kind": "error", "status": 502}))
        .await;
    let e = once.query_order(&no).await.unwrap_err();
    assert_eq!(e.kind, PayErrorKind::Protocol(502));
    assert!(e.is_transient());

    sim.fault(serde_json::json!({"operation": "queryOrder", "kind": "malformed"}))
        .await;
    let e = once.query_order(&no).await.unwrap_err();
    assert_eq!(e.kind, PayErrorKind::Malformed);
    assert!(
        e.detail.contains("does not match the protocol"),
        "{}",
        e.detail
    );
    sim.fault(serde_json::json!({"operation": "reverseOrder", "kind": "malformed"}))
        .await;
    let e = once.reverse_order(&no).await.unwrap_err();
    assert_eq!(e.kind, PayErrorKind::Malformed);
    assert!(e.outcome_unknown(), "the reverse happened or not: query");
    assert_eq!(
        once.query_order(&no).await.unwrap().status,
        OrderStatus::Closed,
        "it did"
    );

    sim.fault(serde_json::json!({"operation": "downloadBill", "kind": "error", "status": 409, "code": "BILL_NOT_READY"})).await;
    assert_eq!(
        once.day_bill(today()).await.unwrap_err().code(),
        Some(ErrorCode::BillNotReady)
    );

    // With retries, transient faults are absorbed, under the same order number.
    let retrying = sim.client_with("K01", KioskKey::demo(), Duration::from_millis(800), 3);
    sim.fault(
        serde_json::json!({"operation": "queryOrder", "kind": "error", "status": 503, "times": 2}),
    )
    .await;
    retrying.query_order(&no).await.unwrap();
    let m2 = otn();
    sim.fault(serde_json::json!({"operation": "micropay", "kind": "lost_response"}))
        .await;
    let out = retrying
        .micropay(&micro_req(&m2, code(PayChannel::Alipay, "0001"), 500))
        .await
        .unwrap();
    assert!(matches!(out, MicropayOutcome::Paid(_)));

    // Faults can be listed and cleared at run time.
    sim.fault(serde_json::json!({"operation": "*", "kind": "error", "status": 503, "times": null}))
        .await;
    let listed: serde_json::Value = sim
        .http
        .get(sim.base().join("sim/faults").unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["faults"][0]["times"], serde_json::Value::Null);
    assert!(once.ping().await.is_err());
    assert!(once.ping().await.is_err());
    sim.clear_faults().await;
    once.ping().await.unwrap();
    // An unknown operation is refused.
    let r = sim
        .http
        .post(sim.base().join("sim/faults").unwrap())
        .json(&serde_json::json!({"operation": "payEverything", "kind": "timeout"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let dead = HttpPay::new(HttpPayConfig::simple(
        Url::parse("http://127.0.0.1:9/").unwrap(),
        "K01",
        KioskKey::demo(),
        Duration::from_millis(500),
    ))
    .unwrap();
    let e = dead
        .micropay(&micro_req(&otn(), code(PayChannel::Wechat, "0001"), 1))
        .await
        .unwrap_err();
    assert_eq!(e.kind, PayErrorKind::Unreachable);
    assert!(!e.outcome_unknown(), "never connected: nothing happened");
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn the_day_bill_lists_what_moved_under_the_original_numbers() {
    let sim = PaySim::start().await;
    let pay = sim.client();
    let k02 = sim.client_with("K02", k02_key(), Duration::from_secs(5), 3);

    // A: QR paid. B: micropay paid then reversed. C: paid, partly refunded.
    // D: QR never paid, closed. E: micropay never confirmed. F: another kiosk's.
    let a = otn();
    let qr = pay
        .create_qr_order(&qr_req(&a, PayChannel::Wechat, 1250))
        .await
        .unwrap();
    scan_qr(&sim.http, &qr.code_url).await;
    let b = otn();
    pay.micropay(&micro_req(&b, code(PayChannel::Alipay, "0001"), 2550))
        .await
        .unwrap();
    assert!(matches!(
        pay.reverse_order(&b).await.unwrap(),
        ReverseOutcome::Refunded(_)
    ));
    let c = otn();
    pay.micropay(&micro_req(&c, code(PayChannel::Unionpay, "0001"), 3000))
        .await
        .unwrap();
    pay.refund(&RefundRequest {
        out_trade_no: c.clone(),
        out_refund_no: OutRefundNo::new("C-R1").unwrap(),
        amount: yuan(1000),
        reason: "药品退回".into(),
    })
    .await
    .unwrap();
    let d = otn();
    pay.create_qr_order(&qr_req(&d, PayChannel::Alipay, 999))
        .await
        .unwrap();
    pay.close_order(&d).await.unwrap();
    let e = otn();
    pay.micropay(&micro_req(&e, code(PayChannel::Wechat, "0003"), 777))
        .await
        .unwrap();
    let f = otn_with("K02", false);
    k02.micropay(&micro_req(&f, code(PayChannel::Wallet, "0001"), 4242))
        .await
        .unwrap();

    // Not before 10:00 the next day.
    let once = sim.client_with("K01", KioskKey::demo(), Duration::from_secs(5), 1);
    let err = once.day_bill(today()).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::BillNotReady));
    sim.advance(25 * 3600).await;

    let bill = pay.day_bill(today()).await.unwrap();
    let summary: Vec<(String, BillRowStatus, i64, i64)> = bill
        .rows
        .iter()
        .map(|r| {
            (
                r.out_trade_no.clone(),
                r.status.clone(),
                r.amount.fen(),
                r.refund.fen(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (a.to_string(), BillRowStatus::Success, 1250, 0),
            (b.to_string(), BillRowStatus::Success, 2550, 0),
            (b.to_string(), BillRowStatus::Refund, 0, 2550),
            (c.to_string(), BillRowStatus::Success, 3000, 0),
            (c.to_string(), BillRowStatus::Refund, 0, 1000),
        ],
        "unpaid orders and other kiosks' are absent"
    );
    assert_eq!(bill.total_count, 5);
    assert_eq!(bill.settled_total, yuan(6800));
    assert_eq!(bill.refund_total, yuan(3550));
    assert_eq!(bill.rows[0].trade_type.as_deref(), Some("NATIVE"));
    assert_eq!(bill.rows[1].trade_type.as_deref(), Some("MICROPAY"));
    assert_eq!(bill.rows[1].channel, Some(PayChannel::Alipay));
    assert_eq!(bill.rows[4].out_refund_no.as_deref(), Some("C-R1"));
    assert_eq!(
        bill.rows[2].out_refund_no, None,
        "a reverse has no refund number of ours"
    );
    assert!(bill.rows[2].refund_id.is_some());
    // The refund row carries the original order's channel number.
    assert_eq!(bill.rows[1].transaction_id, bill.rows[2].transaction_id);
    assert_eq!(
        bill.rows[1].transaction_id,
        pay.query_order(&b).await.unwrap().transaction_id.unwrap()
    );
    // What reconciliation sees: net per order.
    let net = |no: &OutTradeNo| {
        Money::sum(
            bill.channel_rows()
                .iter()
                .filter(|r| r.out_trade_no == no.as_str())
                .map(|r| r.net()),
        )
        .unwrap()
    };
    assert_eq!(
        (net(&a), net(&b), net(&c)),
        (yuan(1250), Money::ZERO, yuan(2000))
    );

    // On the wire it is WeChat's CSV.
    let r = sim
        .signed("GET", "/v1/bills/2026-11-23", b"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = r.text().await.unwrap();
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("交易时间,公众账号ID,商户号,"));
    assert!(lines.next().unwrap().starts_with("`2026-11-23 09:"));
    assert!(csv.contains("\n总交易单数,应结订单总金额,退款总金额,"));
    assert!(csv.contains("`5,`68.00,`35.50,"), "{csv}");

    // The other kiosk sees only its own; an empty day is an empty bill.
    let kb = k02.day_bill(today()).await.unwrap();
    assert_eq!(kb.rows.len(), 1);
    assert_eq!(kb.rows[0].channel, Some(PayChannel::Wallet));
    let empty = pay
        .day_bill(NaiveDate::from_ymd_opt(2026, 11, 22).unwrap())
        .await
        .unwrap();
    assert!(empty.rows.is_empty());
}

/// What a notification receiver got: headers and body of each delivery.
type Deliveries = Arc<Mutex<Vec<(axum::http::HeaderMap, Vec<u8>)>>>;

/// A notification receiver on loopback: records every delivery and fails
/// the first `fail_first` of them with a 500.
async fn receiver(fail_first: usize) -> (Url, Deliveries) {
    use axum::routing::post;
    let got: Deliveries = Arc::default();
    let got2 = got.clone();
    let app = axum::Router::new().route(
        "/notify",
        post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let got = got2.clone();
                async move {
                    let n = {
                        let mut g = got.lock().unwrap();
                        g.push((headers, body.to_vec()));
                        g.len()
                    };
                    if n <= fail_first {
                        (axum::http::StatusCode::INTERNAL_SERVER_ERROR, Vec::new())
                    } else {
                        (axum::http::StatusCode::OK, NotifyVerifier::ack_body())
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (Url::parse(&format!("http://{addr}/notify")).unwrap(), got)
}

async fn wait_for_deliveries(got: &Deliveries, n: usize) {
    let started = std::time::Instant::now();
    while got.lock().unwrap().len() < n {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "only {} deliveries",
            got.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn notifications_are_signed_repeated_and_deduped() {
    let sim = PaySim::start().await;
    let pay = sim.client();
    let (url, got) = receiver(0).await;
    let verifier = NotifyVerifier::new("K01", KioskKey::demo());
    let now = || chrono::Utc::now().timestamp();

    // An even out_trade_no: delivered twice.
    let twice = otn_with("K01", true);
    let qr = pay
        .create_qr_order(&QrOrderRequest {
            notify_url: Some(url.clone()),
            ..qr_req(&twice, PayChannel::Wechat, 1999)
        })
        .await
        .unwrap();
    scan_qr(&sim.http, &qr.code_url).await;
    wait_for_deliveries(&got, 2).await;
    let deliveries = got.lock().unwrap().clone();
    let expected = |no: &str| (no == twice.as_str()).then_some(yuan(1999));
    let first = verifier
        .verify(&deliveries[0].0, &deliveries[0].1, now(), expected)
        .unwrap();
    let Verified::New(n) = &first else {
        panic!("{first:?}")
    };
    assert_eq!(
        (n.out_trade_no.as_str(), n.amount_fen, n.channel),
        (twice.as_str(), yuan(1999), PayChannel::Wechat)
    );
    assert_eq!(
        Some(&n.transaction_id),
        pay.query_order(&twice)
            .await
            .unwrap()
            .transaction_id
            .as_ref()
    );
    let second = verifier
        .verify(&deliveries[1].0, &deliveries[1].1, now(), expected)
        .unwrap();
    assert!(matches!(second, Verified::Duplicate(_)));
    assert_ne!(deliveries[0].0["X-Nonce"], deliveries[1].0["X-Nonce"]);
    // The amount is checked against the kiosk's own record.
    let fresh = NotifyVerifier::new("K01", KioskKey::demo());
    assert!(matches!(
        fresh.verify(&deliveries[0].0, &deliveries[0].1, now(), |_| Some(yuan(1))),
        Err(NotifyError::AmountMismatch { .. })
    ));
    // A tampered body does not verify.
    let mut forged = deliveries[0].1.clone();
    let pos = forged.windows(4).position(|w| w == b"1999").unwrap();
    forged[pos..pos + 4].copy_from_slice(b"9999");
    assert_eq!(
        fresh.verify(&deliveries[0].0, &forged, now(), |_| Some(yuan(9999))),
        Err(NotifyError::BadSignature)
    );

    // An odd one, paid by micropay after user_paying: delivered once.
    got.lock().unwrap().clear();
    let once = otn_with("K01", false);
    pay.micropay(&MicropayRequest {
        notify_url: Some(url.clone()),
        ..micro_req(&once, code(PayChannel::Alipay, "0002"), 300)
    })
    .await
    .unwrap();
    wait_for_deliveries(&got, 1).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(got.lock().unwrap().len(), 1);
    let d = got.lock().unwrap()[0].clone();
    assert!(matches!(
        verifier.verify(&d.0, &d.1, now(), |_| Some(yuan(300))).unwrap(),
        Verified::New(n) if n.out_trade_no == once.as_str()
    ));

    // A receiver that fails is tried again (15 s later, simulated).
    let (url2, got2) = receiver(1).await;
    let retried = otn_with("K01", false);
    pay.micropay(&MicropayRequest {
        notify_url: Some(url2),
        ..micro_req(&retried, code(PayChannel::Wechat, "0001"), 450)
    })
    .await
    .unwrap();
    wait_for_deliveries(&got2, 2).await;
    let d = got2.lock().unwrap().clone();
    assert_eq!(d[0].1, d[1].1, "the same event");
    let v = NotifyVerifier::new("K01", KioskKey::demo());
    assert!(matches!(
        v.verify(&d[1].0, &d[1].1, now(), |_| Some(yuan(450)))
            .unwrap(),
        Verified::New(_)
    ));
}

#[tokio::test]
async fn orders_survive_a_simulator_restart() {
    let sim = PaySim::start().await;
    let pay = sim.client();
    let no = otn();
    pay.micropay(&micro_req(&no, code(PayChannel::Wechat, "0001"), 1234))
        .await
        .unwrap();
    let before = pay.query_order(&no).await.unwrap();
    let PaySim { handle, dir, .. } = sim;
    handle.shutdown().await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let handle = sim::spawn(
        PaySimConfig {
            time_factor: FACTOR,
            today: Some(today()),
            db_path: dir.path().join("pay.db"),
            ..PaySimConfig::default()
        },
        listener,
    )
    .await
    .unwrap();
    let pay = HttpPay::new(HttpPayConfig::simple(
        Url::parse(&format!("http://{}/", handle.addr)).unwrap(),
        "K01",
        KioskKey::demo(),
        Duration::from_secs(5),
    ))
    .unwrap();
    assert_eq!(pay.query_order(&no).await.unwrap(), before);
    handle.shutdown().await;
}

#[tokio::test]
async fn on_the_wire_a_young_wechat_reverse_answers_recall() {
    let sim = PaySim::start().await;
    let pay = sim.client();
    let no = otn();
    pay.micropay(&micro_req(&no, code(PayChannel::Wechat, "0001"), 100))
        .await
        .unwrap();
    let r = sim
        .signed("POST", &format!("/v1/orders/{no}/reverse"), b"")
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        v["action"],
        serde_json::to_value(ReverseAction::Recall).unwrap()
    );
    assert_eq!(v["order"]["status"], "paid");
}

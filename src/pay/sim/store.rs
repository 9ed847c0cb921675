//! The payment simulator's SQLite store (WAL): orders, refunds, counters.
//! Times are simulated unix milliseconds.

use crate::domain::{Money, PayChannel};
use crate::pay::order::{OrderEvent, Settle};
use crate::pay::wire::{ErrorCode, OrderKind, OrderStatus};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS orders (
    out_trade_no     TEXT PRIMARY KEY,
    kiosk_id         TEXT NOT NULL,
    kind             TEXT NOT NULL,
    channel          TEXT NOT NULL,
    amount_fen       INTEGER NOT NULL,
    description      TEXT NOT NULL,
    notify_url       TEXT,
    request_hash     TEXT NOT NULL,
    auth_code_masked TEXT,
    status           TEXT NOT NULL,
    failure          TEXT,
    transaction_id   TEXT UNIQUE,
    paid_at_ms       INTEGER,
    refunded_fen     INTEGER NOT NULL DEFAULT 0,
    created_at_ms    INTEGER NOT NULL,
    expires_at_ms    INTEGER NOT NULL,
    settle_at_ms     INTEGER,
    settle_event     TEXT,
    qr_token         TEXT UNIQUE
);
CREATE INDEX IF NOT EXISTS orders_by_status ON orders(status);
CREATE INDEX IF NOT EXISTS orders_by_paid ON orders(kiosk_id, paid_at_ms);
CREATE TABLE IF NOT EXISTS refunds (
    refund_id     TEXT PRIMARY KEY,
    out_refund_no TEXT UNIQUE,
    out_trade_no  TEXT NOT NULL REFERENCES orders(out_trade_no),
    kiosk_id      TEXT NOT NULL,
    amount_fen    INTEGER NOT NULL,
    reason        TEXT NOT NULL,
    request_hash  TEXT,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS refunds_by_time ON refunds(kiosk_id, created_at_ms);
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
";

pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// An enum as its wire string.
pub fn enum_str<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn enum_parse<T: DeserializeOwned>(s: &str, col: usize) -> rusqlite::Result<T> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, Box::new(e))
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRow {
    pub out_trade_no: String,
    pub kiosk_id: String,
    pub kind: OrderKind,
    pub channel: PayChannel,
    pub amount: Money,
    pub description: String,
    pub notify_url: Option<String>,
    pub request_hash: String,
    pub auth_code_masked: Option<String>,
    pub status: OrderStatus,
    pub failure: Option<ErrorCode>,
    pub transaction_id: Option<String>,
    pub paid_at_ms: Option<i64>,
    pub refunded: Money,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub settle: Option<Settle>,
    pub qr_token: Option<String>,
}

const ORDER_COLS: &str = "out_trade_no, kiosk_id, kind, channel, amount_fen, description, \
    notify_url, request_hash, auth_code_masked, status, failure, transaction_id, paid_at_ms, \
    refunded_fen, created_at_ms, expires_at_ms, settle_at_ms, settle_event, qr_token";

fn order_from_row(r: &Row<'_>) -> rusqlite::Result<OrderRow> {
    let settle_at: Option<i64> = r.get(16)?;
    let settle_event: Option<String> = r.get(17)?;
    let settle = match (settle_at, settle_event.as_deref()) {
        (Some(at_ms), Some("pay")) => Some(Settle {
            at_ms,
            event: OrderEvent::Pay,
        }),
        (Some(at_ms), Some("decline")) => Some(Settle {
            at_ms,
            event: OrderEvent::Decline,
        }),
        _ => None,
    };
    let failure: Option<String> = r.get(10)?;
    Ok(OrderRow {
        out_trade_no: r.get(0)?,
        kiosk_id: r.get(1)?,
        kind: enum_parse(&r.get::<_, String>(2)?, 2)?,
        channel: enum_parse(&r.get::<_, String>(3)?, 3)?,
        amount: Money::from_fen(r.get(4)?),
        description: r.get(5)?,
        notify_url: r.get(6)?,
        request_hash: r.get(7)?,
        auth_code_masked: r.get(8)?,
        status: enum_parse(&r.get::<_, String>(9)?, 9)?,
        failure: failure.map(|f| enum_parse(&f, 10)).transpose()?,
        transaction_id: r.get(11)?,
        paid_at_ms: r.get(12)?,
        refunded: Money::from_fen(r.get(13)?),
        created_at_ms: r.get(14)?,
        expires_at_ms: r.get(15)?,
        settle,
        qr_token: r.get(18)?,
    })
}

pub fn insert_order(c: &Connection, o: &OrderRow) -> rusqlite::Result<()> {
    let (settle_at, settle_event) = match o.settle {
        Some(s) => (
            Some(s.at_ms),
            Some(if s.event == OrderEvent::Pay {
                "pay"
            } else {
                "decline"
            }),
        ),
        None => (None, None),
    };
    c.execute(
        &format!(
            "INSERT INTO orders ({ORDER_COLS}) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)"
        ),
        params![
            o.out_trade_no,
            o.kiosk_id,
            enum_str(&o.kind),
            enum_str(&o.channel),
            o.amount.fen(),
            o.description,
            o.notify_url,
            o.request_hash,
            o.auth_code_masked,
            enum_str(&o.status),
            o.failure.map(|f| enum_str(&f)),
            o.transaction_id,
            o.paid_at_ms,
            o.refunded.fen(),
            o.created_at_ms,
            o.expires_at_ms,
            settle_at,
            settle_event,
            o.qr_token,
        ],
    )?;
    Ok(())
}

/// Write back what the state machine changes.
pub fn update_order(c: &Connection, o: &OrderRow) -> rusqlite::Result<()> {
    c.execute(
        "UPDATE orders SET status = ?2, refunded_fen = ?3, paid_at_ms = ?4, transaction_id = ?5, \
         failure = ?6 WHERE out_trade_no = ?1",
        params![
            o.out_trade_no,
            enum_str(&o.status),
            o.refunded.fen(),
            o.paid_at_ms,
            o.transaction_id,
            o.failure.map(|f| enum_str(&f)),
        ],
    )?;
    Ok(())
}

pub fn get_order(c: &Connection, out_trade_no: &str) -> rusqlite::Result<Option<OrderRow>> {
    c.query_row(
        &format!("SELECT {ORDER_COLS} FROM orders WHERE out_trade_no = ?1"),
        [out_trade_no],
        order_from_row,
    )
    .optional()
}

pub fn order_by_token(c: &Connection, token: &str) -> rusqlite::Result<Option<OrderRow>> {
    c.query_row(
        &format!("SELECT {ORDER_COLS} FROM orders WHERE qr_token = ?1"),
        [token],
        order_from_row,
    )
    .optional()
}

pub fn pending_orders(c: &Connection) -> rusqlite::Result<Vec<OrderRow>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {ORDER_COLS} FROM orders WHERE status IN ('not_paid', 'user_paying')"
    ))?;
    let rows = st.query_map([], order_from_row)?;
    rows.collect()
}

/// A kiosk's orders paid in [from, to).
pub fn paid_between(
    c: &Connection,
    kiosk_id: &str,
    from_ms: i64,
    to_ms: i64,
) -> rusqlite::Result<Vec<OrderRow>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {ORDER_COLS} FROM orders WHERE kiosk_id = ?1 AND paid_at_ms >= ?2 AND paid_at_ms < ?3 \
         ORDER BY paid_at_ms, out_trade_no"
    ))?;
    let rows = st.query_map(params![kiosk_id, from_ms, to_ms], order_from_row)?;
    rows.collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRow {
    pub refund_id: String,
    /// None for the refund a reverse made.
    pub out_refund_no: Option<String>,
    pub out_trade_no: String,
    pub kiosk_id: String,
    pub amount: Money,
    pub reason: String,
    pub request_hash: Option<String>,
    pub created_at_ms: i64,
}

const REFUND_COLS: &str =
    "refund_id, out_refund_no, out_trade_no, kiosk_id, amount_fen, reason, request_hash, created_at_ms";

fn refund_from_row(r: &Row<'_>) -> rusqlite::Result<RefundRow> {
    Ok(RefundRow {
        refund_id: r.get(0)?,
        out_refund_no: r.get(1)?,
        out_trade_no: r.get(2)?,
        kiosk_id: r.get(3)?,
        amount: Money::from_fen(r.get(4)?),
        reason: r.get(5)?,
        request_hash: r.get(6)?,
        created_at_ms: r.get(7)?,
    })
}

pub fn insert_refund(c: &Connection, r: &RefundRow) -> rusqlite::Result<()> {
    c.execute(
        &format!("INSERT INTO refunds ({REFUND_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
        params![
            r.refund_id,
            r.out_refund_no,
            r.out_trade_no,
            r.kiosk_id,
            r.amount.fen(),
            r.reason,
            r.request_hash,
            r.created_at_ms
        ],
    )?;
    Ok(())
}

pub fn get_refund(c: &Connection, out_refund_no: &str) -> rusqlite::Result<Option<RefundRow>> {
    c.query_row(
        &format!("SELECT {REFUND_COLS} FROM refunds WHERE out_refund_no = ?1"),
        [out_refund_no],
        refund_from_row,
    )
    .optional()
}

/// A kiosk's refunds made in [from, to).
pub fn refunds_between(
    c: &Connection,
    kiosk_id: &str,
    from_ms: i64,
    to_ms: i64,
) -> rusqlite::Result<Vec<RefundRow>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {REFUND_COLS} FROM refunds WHERE kiosk_id = ?1 AND created_at_ms >= ?2 AND created_at_ms < ?3 \
         ORDER BY created_at_ms, refund_id"
    ))?;
    let rows = st.query_map(params![kiosk_id, from_ms, to_ms], refund_from_row)?;
    rows.collect()
}

pub fn next_seq(c: &Connection, name: &str) -> rusqlite::Result<i64> {
    c.query_row(
        "INSERT INTO counters (name, value) VALUES (?1, 1) \
         ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value",
        [name],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_round_trip_through_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let c = open(&dir.path().join("pay.db")).unwrap();
        let o = OrderRow {
            out_trade_no: "K0120261123000001".into(),
            kiosk_id: "K01".into(),
            kind: OrderKind::Micropay,
            channel: PayChannel::Wechat,
            amount: Money::from_fen(2550),
            description: "挂号费".into(),
            notify_url: None,
            request_hash: "h".into(),
            auth_code_masked: Some("13************0002".into()),
            status: OrderStatus::UserPaying,
            failure: Some(ErrorCode::InsufficientFunds),
            transaction_id: None,
            paid_at_ms: None,
            refunded: Money::ZERO,
            created_at_ms: 1,
            expires_at_ms: 45_001,
            settle: Some(Settle {
                at_ms: 5_001,
                event: OrderEvent::Pay,
            }),
            qr_token: None,
        };
        insert_order(&c, &o).unwrap();
        assert_eq!(get_order(&c, &o.out_trade_no).unwrap(), Some(o.clone()));
        assert_eq!(pending_orders(&c).unwrap().len(), 1);
        let mut paid = o.clone();
        paid.status = OrderStatus::Paid;
        paid.paid_at_ms = Some(5_001);
        paid.transaction_id = Some("42".into());
        paid.failure = None;
        update_order(&c, &paid).unwrap();
        assert_eq!(get_order(&c, &o.out_trade_no).unwrap(), Some(paid));
        assert!(pending_orders(&c).unwrap().is_empty());
        assert_eq!(paid_between(&c, "K01", 0, 10_000).unwrap().len(), 1);
        assert_eq!(paid_between(&c, "K02", 0, 10_000).unwrap().len(), 0);
        assert_eq!(next_seq(&c, "t").unwrap(), 1);
        assert_eq!(next_seq(&c, "t").unwrap(), 2);
    }
}

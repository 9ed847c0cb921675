//! The simulator's SQLite store (WAL): schema, id counters, and reading rows
//! back as the protocol's domain types. Instants are unix seconds; dates
//! `YYYY-MM-DD`; clock times `HH:MM`; enumerations their wire strings;
//! locations and payments JSON.

use super::clock::from_unix;
use super::error::{ApiError, ApiResult};
use crate::domain::*;
use crate::his::wire::{LedgerEntry, LedgerKind};
use crate::his::BillFilter;
use chrono::NaiveDate;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS departments (
    department_id TEXT PRIMARY KEY,
    seq           INTEGER NOT NULL,
    name_zh       TEXT NOT NULL,
    name_en       TEXT NOT NULL,
    location      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS doctors (
    doctor_id     TEXT PRIMARY KEY,
    department_id TEXT NOT NULL REFERENCES departments(department_id),
    seq           INTEGER NOT NULL,
    name          TEXT NOT NULL,
    title         TEXT NOT NULL,
    specialty_zh  TEXT NOT NULL,
    specialty_en  TEXT NOT NULL,
    fee_fen       INTEGER NOT NULL,
    location      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS schedules (
    schedule_id   TEXT PRIMARY KEY,
    department_id TEXT NOT NULL REFERENCES departments(department_id),
    doctor_id     TEXT NOT NULL REFERENCES doctors(doctor_id),
    date          TEXT NOT NULL,
    session       TEXT NOT NULL,
    start_hm      TEXT NOT NULL,
    end_hm        TEXT NOT NULL,
    fee_fen       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS schedules_by_day ON schedules(department_id, date);
CREATE TABLE IF NOT EXISTS slots (
    slot_id            TEXT PRIMARY KEY,
    schedule_id        TEXT NOT NULL REFERENCES schedules(schedule_id),
    date               TEXT NOT NULL,
    start_hm           TEXT NOT NULL,
    end_hm             TEXT NOT NULL,
    starts_at          INTEGER NOT NULL,
    capacity           INTEGER NOT NULL,
    referral_quota     INTEGER NOT NULL,
    remaining          INTEGER NOT NULL CHECK (remaining >= 0),
    referral_remaining INTEGER NOT NULL CHECK (referral_remaining >= 0)
);
CREATE INDEX IF NOT EXISTS slots_by_schedule ON slots(schedule_id, starts_at);
CREATE TABLE IF NOT EXISTS patients (
    patient_id  TEXT PRIMARY KEY,
    seq         INTEGER NOT NULL,
    name        TEXT NOT NULL,
    sex         TEXT NOT NULL,
    birth_date  TEXT NOT NULL,
    id_number   TEXT NOT NULL UNIQUE,
    phone       TEXT,
    insurance   TEXT NOT NULL,
    priority    INTEGER NOT NULL,
    balance_fen INTEGER NOT NULL,
    seeded      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cards (
    kind       TEXT NOT NULL,
    card_no    TEXT NOT NULL,
    patient_id TEXT NOT NULL REFERENCES patients(patient_id),
    PRIMARY KEY (kind, card_no)
);
CREATE INDEX IF NOT EXISTS cards_by_patient ON cards(patient_id);
CREATE TABLE IF NOT EXISTS holds (
    hold_id     TEXT PRIMARY KEY,
    slot_id     TEXT NOT NULL REFERENCES slots(slot_id),
    schedule_id TEXT NOT NULL,
    patient_id  TEXT NOT NULL REFERENCES patients(patient_id),
    status      TEXT NOT NULL,
    referral    INTEGER NOT NULL,
    fee_fen     INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS holds_live ON holds(status, expires_at);
CREATE INDEX IF NOT EXISTS holds_by_patient ON holds(patient_id, schedule_id);
CREATE TABLE IF NOT EXISTS appointments (
    appointment_id TEXT PRIMARY KEY,
    patient_id     TEXT NOT NULL REFERENCES patients(patient_id),
    schedule_id    TEXT NOT NULL REFERENCES schedules(schedule_id),
    slot_id        TEXT NOT NULL REFERENCES slots(slot_id),
    hold_id        TEXT,
    kind           TEXT NOT NULL,
    status         TEXT NOT NULL,
    referral       INTEGER NOT NULL,
    fee_fen        INTEGER NOT NULL,
    fee_paid       INTEGER NOT NULL,
    queue_number   INTEGER,
    payment        TEXT,
    refund_due_fen INTEGER NOT NULL,
    cancel_reason  TEXT,
    created_at     INTEGER NOT NULL,
    checked_in_at  INTEGER
);
CREATE INDEX IF NOT EXISTS appointments_by_patient ON appointments(patient_id);
CREATE INDEX IF NOT EXISTS appointments_by_schedule ON appointments(schedule_id);
CREATE TABLE IF NOT EXISTS bills (
    bill_id            TEXT PRIMARY KEY,
    patient_id         TEXT NOT NULL REFERENCES patients(patient_id),
    status             TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    department_name_zh TEXT NOT NULL,
    department_name_en TEXT NOT NULL,
    doctor_name        TEXT NOT NULL,
    total_fen          INTEGER NOT NULL,
    settlement_id      TEXT
);
CREATE INDEX IF NOT EXISTS bills_by_patient ON bills(patient_id);
CREATE TABLE IF NOT EXISTS bill_items (
    item_id         TEXT PRIMARY KEY,
    bill_id         TEXT NOT NULL REFERENCES bills(bill_id),
    seq             INTEGER NOT NULL,
    code            TEXT NOT NULL,
    name_zh         TEXT NOT NULL,
    name_en         TEXT NOT NULL,
    category        TEXT NOT NULL,
    spec            TEXT NOT NULL,
    unit            TEXT NOT NULL,
    quantity        INTEGER NOT NULL,
    unit_price_fen  INTEGER NOT NULL,
    amount_fen      INTEGER NOT NULL,
    insurance_class TEXT NOT NULL,
    location        TEXT
);
CREATE INDEX IF NOT EXISTS bill_items_by_bill ON bill_items(bill_id, seq);
CREATE TABLE IF NOT EXISTS presettlements (
    presettle_id  TEXT PRIMARY KEY,
    patient_id    TEXT NOT NULL,
    bill_ids      TEXT NOT NULL,
    total_fen     INTEGER NOT NULL,
    fund_fen      INTEGER NOT NULL,
    personal_fen  INTEGER NOT NULL,
    self_pay_fen  INTEGER NOT NULL,
    hospital_fen  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    status        TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS settlements (
    settlement_id TEXT PRIMARY KEY,
    presettle_id  TEXT NOT NULL UNIQUE,
    patient_id    TEXT NOT NULL,
    body          TEXT NOT NULL,
    settled_at    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS reports (
    report_id          TEXT PRIMARY KEY,
    patient_id         TEXT NOT NULL REFERENCES patients(patient_id),
    kind               TEXT NOT NULL,
    title_zh           TEXT NOT NULL,
    title_en           TEXT NOT NULL,
    department_name_zh TEXT NOT NULL,
    ordered_at         INTEGER NOT NULL,
    status             TEXT NOT NULL,
    ready_at           INTEGER,
    expected_at        INTEGER,
    pages              INTEGER NOT NULL,
    print_count        INTEGER NOT NULL,
    content            TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_by_patient ON reports(patient_id);
CREATE INDEX IF NOT EXISTS reports_pending ON reports(status, expected_at);
CREATE TABLE IF NOT EXISTS prices (
    code            TEXT PRIMARY KEY,
    seq             INTEGER NOT NULL,
    name_zh         TEXT NOT NULL,
    name_en         TEXT NOT NULL,
    pinyin_initials TEXT NOT NULL,
    category        TEXT NOT NULL,
    spec            TEXT NOT NULL,
    unit            TEXT NOT NULL,
    price_fen       INTEGER NOT NULL,
    insurance_class TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    kiosk_id        TEXT NOT NULL,
    date            TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    kind            TEXT NOT NULL,
    reference_id    TEXT NOT NULL,
    patient_id      TEXT NOT NULL,
    amount_fen      INTEGER NOT NULL,
    channel         TEXT NOT NULL,
    trade_no        TEXT,
    at              INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_by_day ON ledger(kiosk_id, date);
CREATE TABLE IF NOT EXISTS idempotency (
    kiosk_id    TEXT NOT NULL,
    key         TEXT NOT NULL,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    status      INTEGER NOT NULL,
    response    BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (kiosk_id, key)
);
";

/// Open (creating if needed) the store in WAL mode.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(SCHEMA)?;
    migrate(&conn)?;
    Ok(conn)
}

/// Bring a store made by an older simulator up to the schema.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let has_checked_in_at: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info('appointments')
                        WHERE name = 'checked_in_at')",
        [],
        |r| r.get(0),
    )?;
    if !has_checked_in_at {
        // Older rows fall back to created_at (see `queue`).
        conn.execute_batch("ALTER TABLE appointments ADD COLUMN checked_in_at INTEGER")?;
    }
    Ok(())
}

pub fn meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
}

pub fn set_meta(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// The next number of a named sequence (1, 2, ...).
pub fn next_seq(conn: &Connection, name: &str) -> rusqlite::Result<u64> {
    conn.query_row(
        "INSERT INTO counters (name, value) VALUES (?1, 1)
         ON CONFLICT(name) DO UPDATE SET value = value + 1
         RETURNING value",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .map(|v| v as u64)
}

/// `prefix` + the next number of its sequence, zero-padded to `width`.
pub fn next_id(conn: &Connection, prefix: &str, width: usize) -> rusqlite::Result<String> {
    let n = next_seq(conn, prefix)?;
    Ok(format!("{prefix}{n:0width$}"))
}

// ------------------------------------------------------------ conversions

/// An enum as its wire string.
pub fn enum_str<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn conversion(col: usize, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, Box::new(e))
}

/// A wire-string enum column.
pub fn get_enum<T: DeserializeOwned>(r: &Row, col: usize) -> rusqlite::Result<T> {
    let s: String = r.get(col)?;
    serde_json::from_value(serde_json::Value::String(s)).map_err(|e| conversion(col, e))
}

/// A JSON column.
pub fn get_json<T: DeserializeOwned>(r: &Row, col: usize) -> rusqlite::Result<T> {
    let s: String = r.get(col)?;
    serde_json::from_str(&s).map_err(|e| conversion(col, e))
}

pub fn get_opt_json<T: DeserializeOwned>(r: &Row, col: usize) -> rusqlite::Result<Option<T>> {
    match r.get::<_, Option<String>>(col)? {
        Some(s) => serde_json::from_str(&s)
            .map(Some)
            .map_err(|e| conversion(col, e)),
        None => Ok(None),
    }
}

pub fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

pub fn get_date(r: &Row, col: usize) -> rusqlite::Result<NaiveDate> {
    let s: String = r.get(col)?;
    NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|e| conversion(col, e))
}

pub fn get_clock(r: &Row, col: usize) -> rusqlite::Result<ClockTime> {
    let s: String = r.get(col)?;
    s.parse::<ClockTime>()
        .map_err(|e| conversion(col, std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
}

pub fn get_instant(r: &Row, col: usize) -> rusqlite::Result<Instant> {
    Ok(from_unix(r.get(col)?))
}

pub fn get_opt_instant(r: &Row, col: usize) -> rusqlite::Result<Option<Instant>> {
    Ok(r.get::<_, Option<i64>>(col)?.map(from_unix))
}

pub fn get_money(r: &Row, col: usize) -> rusqlite::Result<Money> {
    Ok(Money::from_fen(r.get(col)?))
}

pub fn get_u32(r: &Row, col: usize) -> rusqlite::Result<u32> {
    let v: i64 = r.get(col)?;
    u32::try_from(v).map_err(|e| conversion(col, e))
}

// ------------------------------------------------------------- patients

pub const PATIENT_COLS: &str =
    "patient_id, name, sex, birth_date, id_number, phone, insurance, priority";

pub fn patient_row(r: &Row) -> rusqlite::Result<Patient> {
    let id_number: String = r.get(4)?;
    let phone: Option<String> = r.get(5)?;
    Ok(Patient {
        patient_id: r.get(0)?,
        name: r.get(1)?,
        sex: get_enum(r, 2)?,
        birth_date: get_date(r, 3)?,
        id_number_masked: mask_id_str(&id_number),
        phone_masked: phone.map(|p| match Phone::parse(&p) {
            Ok(p) => p.masked(),
            Err(_) => mask_id_str(&p),
        }),
        insurance: get_enum(r, 6)?,
        priority: r.get(7)?,
    })
}

pub fn patient(conn: &Connection, patient_id: &str) -> rusqlite::Result<Option<Patient>> {
    conn.query_row(
        &format!("SELECT {PATIENT_COLS} FROM patients WHERE patient_id = ?1"),
        [patient_id],
        patient_row,
    )
    .optional()
}

/// The patient, or 404 NOT_FOUND.
pub fn require_patient(conn: &Connection, patient_id: &str) -> ApiResult<Patient> {
    patient(conn, patient_id)?.ok_or_else(|| ApiError::not_found("患者", "patient"))
}

// ---------------------------------------------------- departments, slots

pub fn department_row(r: &Row) -> rusqlite::Result<Department> {
    Ok(Department {
        department_id: r.get(0)?,
        name_zh: r.get(1)?,
        name_en: r.get(2)?,
        location: get_json(r, 3)?,
    })
}

pub fn departments(conn: &Connection) -> rusqlite::Result<Vec<Department>> {
    let mut st = conn.prepare_cached(
        "SELECT department_id, name_zh, name_en, location FROM departments ORDER BY seq",
    )?;
    let rows = st.query_map([], department_row)?;
    rows.collect()
}

pub fn department_exists(conn: &Connection, id: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM departments WHERE department_id = ?1)",
        [id],
        |r| r.get(0),
    )
}

/// A slot that has started offers no places any more, whatever its count.
const SCHEDULE_SELECT: &str = "
SELECT s.schedule_id, s.department_id, s.date, s.session, s.start_hm, s.end_hm, s.fee_fen,
       d.doctor_id, d.name, d.title, d.specialty_zh, d.specialty_en, d.location,
       COALESCE(SUM(sl.capacity), 0),
       COALESCE(SUM(CASE WHEN sl.starts_at > ?1 THEN sl.remaining ELSE 0 END), 0),
       COALESCE(SUM(sl.referral_quota), 0),
       COALESCE(SUM(CASE WHEN sl.starts_at > ?1 THEN sl.referral_remaining ELSE 0 END), 0)
FROM schedules s
JOIN doctors d ON d.doctor_id = s.doctor_id
LEFT JOIN slots sl ON sl.schedule_id = s.schedule_id
";

fn schedule_row(r: &Row) -> rusqlite::Result<Schedule> {
    let title: DoctorTitle = get_enum(r, 9)?;
    Ok(Schedule {
        schedule_id: r.get(0)?,
        department_id: r.get(1)?,
        date: get_date(r, 2)?,
        session: get_enum(r, 3)?,
        start: get_clock(r, 4)?,
        end: get_clock(r, 5)?,
        fee_fen: get_money(r, 6)?,
        doctor: Doctor {
            doctor_id: r.get(7)?,
            name: r.get(8)?,
            title,
            title_zh: title.zh().to_string(),
            specialty_zh: r.get(10)?,
            specialty_en: r.get(11)?,
        },
        location: get_json(r, 12)?,
        capacity: get_u32(r, 13)?,
        remaining: get_u32(r, 14)?,
        referral_quota: get_u32(r, 15)?,
        referral_remaining: get_u32(r, 16)?,
    })
}

pub fn schedules(
    conn: &Connection,
    department_id: &str,
    date: NaiveDate,
    now: i64,
) -> rusqlite::Result<Vec<Schedule>> {
    let mut st = conn.prepare_cached(&format!(
        "{SCHEDULE_SELECT} WHERE s.department_id = ?2 AND s.date = ?3
         GROUP BY s.schedule_id ORDER BY s.start_hm, d.seq"
    ))?;
    let rows = st.query_map(params![now, department_id, date.to_string()], schedule_row)?;
    rows.collect()
}

pub fn schedule_exists(conn: &Connection, id: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM schedules WHERE schedule_id = ?1)",
        [id],
        |r| r.get(0),
    )
}

fn slot_row(r: &Row) -> rusqlite::Result<Slot> {
    Ok(Slot {
        slot_id: r.get(0)?,
        schedule_id: r.get(1)?,
        date: get_date(r, 2)?,
        start: get_clock(r, 3)?,
        end: get_clock(r, 4)?,
        capacity: get_u32(r, 5)?,
        remaining: get_u32(r, 6)?,
        referral_remaining: get_u32(r, 7)?,
    })
}

const SLOT_SELECT: &str = "
SELECT slot_id, schedule_id, date, start_hm, end_hm, capacity,
       CASE WHEN starts_at > ?1 THEN remaining ELSE 0 END,
       CASE WHEN starts_at > ?1 THEN referral_remaining ELSE 0 END
FROM slots";

pub fn slots(conn: &Connection, schedule_id: &str, now: i64) -> rusqlite::Result<Vec<Slot>> {
    let mut st = conn.prepare_cached(&format!(
        "{SLOT_SELECT} WHERE schedule_id = ?2 ORDER BY starts_at, slot_id"
    ))?;
    let rows = st.query_map(params![now, schedule_id], slot_row)?;
    rows.collect()
}

/// A slot's day, start and fee, for holding a place in it.
#[derive(Debug, Clone)]
pub struct SlotState {
    pub slot_id: String,
    pub schedule_id: String,
    pub date: NaiveDate,
    pub starts_at: i64,
    pub fee_fen: Money,
}

pub fn slot_state(conn: &Connection, slot_id: &str) -> rusqlite::Result<Option<SlotState>> {
    conn.query_row(
        "SELECT sl.slot_id, sl.schedule_id, sl.date, sl.starts_at, s.fee_fen
         FROM slots sl JOIN schedules s ON s.schedule_id = sl.schedule_id
         WHERE sl.slot_id = ?1",
        [slot_id],
        |r| {
            Ok(SlotState {
                slot_id: r.get(0)?,
                schedule_id: r.get(1)?,
                date: get_date(r, 2)?,
                starts_at: r.get(3)?,
                fee_fen: get_money(r, 4)?,
            })
        },
    )
    .optional()
}

/// Take one place (`referral`: from the referral quota); false if none.
pub fn take_place(conn: &Connection, slot_id: &str, referral: bool) -> rusqlite::Result<bool> {
    let sql = if referral {
        "UPDATE slots SET referral_remaining = referral_remaining - 1
         WHERE slot_id = ?1 AND referral_remaining > 0"
    } else {
        "UPDATE slots SET remaining = remaining - 1 WHERE slot_id = ?1 AND remaining > 0"
    };
    Ok(conn.execute(sql, [slot_id])? == 1)
}

/// Give a place back to the pool it came from (never above the quota).
pub fn return_place(conn: &Connection, slot_id: &str, referral: bool) -> rusqlite::Result<()> {
    let sql = if referral {
        "UPDATE slots SET referral_remaining = MIN(referral_remaining + 1, referral_quota)
         WHERE slot_id = ?1"
    } else {
        "UPDATE slots SET remaining = MIN(remaining + 1, capacity - referral_quota)
         WHERE slot_id = ?1"
    };
    conn.execute(sql, [slot_id])?;
    Ok(())
}

// ------------------------------------------------------------------ holds

pub fn hold_row(r: &Row) -> rusqlite::Result<Hold> {
    Ok(Hold {
        hold_id: r.get(0)?,
        slot_id: r.get(1)?,
        patient_id: r.get(2)?,
        status: get_enum(r, 3)?,
        fee_fen: get_money(r, 4)?,
        expires_at: get_instant(r, 5)?,
    })
}

/// A hold and whether it took a referral place.
pub fn hold(conn: &Connection, hold_id: &str) -> rusqlite::Result<Option<(Hold, bool)>> {
    conn.query_row(
        "SELECT hold_id, slot_id, patient_id, status, fee_fen, expires_at, referral
         FROM holds WHERE hold_id = ?1",
        [hold_id],
        |r| Ok((hold_row(r)?, r.get(6)?)),
    )
    .optional()
}

// ----------------------------------------------------------- appointments

const APPOINTMENT_SELECT: &str = "
SELECT a.appointment_id, a.patient_id, a.kind, a.status, a.schedule_id, a.slot_id,
       s.department_id, dp.name_zh, dp.name_en, d.name, d.title,
       sl.date, sl.start_hm, sl.end_hm, a.fee_fen, a.fee_paid, a.queue_number,
       d.location, a.payment, a.refund_due_fen
FROM appointments a
JOIN slots sl ON sl.slot_id = a.slot_id
JOIN schedules s ON s.schedule_id = a.schedule_id
JOIN doctors d ON d.doctor_id = s.doctor_id
JOIN departments dp ON dp.department_id = s.department_id
";

fn appointment_row(r: &Row) -> rusqlite::Result<Appointment> {
    let title: DoctorTitle = get_enum(r, 10)?;
    Ok(Appointment {
        appointment_id: r.get(0)?,
        patient_id: r.get(1)?,
        kind: get_enum(r, 2)?,
        status: get_enum(r, 3)?,
        schedule_id: r.get(4)?,
        slot_id: r.get(5)?,
        department_id: r.get(6)?,
        department_name_zh: r.get(7)?,
        department_name_en: r.get(8)?,
        doctor_name: r.get(9)?,
        doctor_title_zh: title.zh().to_string(),
        date: get_date(r, 11)?,
        start: get_clock(r, 12)?,
        end: get_clock(r, 13)?,
        fee_fen: get_money(r, 14)?,
        fee_paid: r.get(15)?,
        queue_number: r.get::<_, Option<i64>>(16)?.map(|q| q as u32),
        location: get_json(r, 17)?,
        payment: get_opt_json(r, 18)?,
        refund_due_fen: get_money(r, 19)?,
    })
}

pub fn appointment(conn: &Connection, id: &str) -> rusqlite::Result<Option<Appointment>> {
    conn.query_row(
        &format!("{APPOINTMENT_SELECT} WHERE a.appointment_id = ?1"),
        [id],
        appointment_row,
    )
    .optional()
}

pub fn appointments_of(
    conn: &Connection,
    patient_id: &str,
    date: Option<NaiveDate>,
) -> rusqlite::Result<Vec<Appointment>> {
    let date = date.map(|d| d.to_string());
    let mut st = conn.prepare_cached(&format!(
        "{APPOINTMENT_SELECT} WHERE a.patient_id = ?1 AND (?2 IS NULL OR sl.date = ?2)
         ORDER BY sl.starts_at, a.appointment_id"
    ))?;
    let rows = st.query_map(params![patient_id, date], appointment_row)?;
    rows.collect()
}

// ------------------------------------------------------------------ bills

fn bill_items(conn: &Connection, bill_id: &str) -> rusqlite::Result<Vec<BillItem>> {
    let mut st = conn.prepare_cached(
        "SELECT item_id, code, name_zh, name_en, category, spec, unit, quantity,
                unit_price_fen, amount_fen, insurance_class, location
         FROM bill_items WHERE bill_id = ?1 ORDER BY seq",
    )?;
    let rows = st.query_map([bill_id], |r| {
        Ok(BillItem {
            item_id: r.get(0)?,
            code: r.get(1)?,
            name_zh: r.get(2)?,
            name_en: r.get(3)?,
            category: get_enum(r, 4)?,
            spec: r.get(5)?,
            unit: r.get(6)?,
            quantity: get_u32(r, 7)?,
            unit_price_fen: get_money(r, 8)?,
            amount_fen: get_money(r, 9)?,
            insurance_class: get_enum(r, 10)?,
            location: get_opt_json(r, 11)?,
        })
    })?;
    rows.collect()
}

fn bill_head(r: &Row) -> rusqlite::Result<Bill> {
    Ok(Bill {
        bill_id: r.get(0)?,
        patient_id: r.get(1)?,
        status: get_enum(r, 2)?,
        created_at: get_instant(r, 3)?,
        department_name_zh: r.get(4)?,
        department_name_en: r.get(5)?,
        doctor_name: r.get(6)?,
        total_fen: get_money(r, 7)?,
        items: Vec::new(),
    })
}

const BILL_SELECT: &str = "SELECT bill_id, patient_id, status, created_at, department_name_zh,
       department_name_en, doctor_name, total_fen FROM bills";

pub fn bill(conn: &Connection, bill_id: &str) -> rusqlite::Result<Option<Bill>> {
    let head = conn
        .query_row(
            &format!("{BILL_SELECT} WHERE bill_id = ?1"),
            [bill_id],
            bill_head,
        )
        .optional()?;
    match head {
        Some(mut b) => {
            b.items = bill_items(conn, &b.bill_id)?;
            Ok(Some(b))
        }
        None => Ok(None),
    }
}

pub fn bills_of(
    conn: &Connection,
    patient_id: &str,
    filter: BillFilter,
) -> rusqlite::Result<Vec<Bill>> {
    let status = match filter {
        BillFilter::All => None,
        f => Some(f.as_str()),
    };
    let mut st = conn.prepare_cached(&format!(
        "{BILL_SELECT} WHERE patient_id = ?1 AND (?2 IS NULL OR status = ?2)
         ORDER BY created_at, bill_id"
    ))?;
    let heads: Vec<Bill> = st
        .query_map(params![patient_id, status], bill_head)?
        .collect::<rusqlite::Result<_>>()?;
    heads
        .into_iter()
        .map(|mut b| {
            b.items = bill_items(conn, &b.bill_id)?;
            Ok(b)
        })
        .collect()
}

// ---------------------------------------------------------------- reports

const REPORT_SELECT: &str = "SELECT report_id, patient_id, kind, title_zh, title_en,
       department_name_zh, ordered_at, status, ready_at, expected_at, pages, print_count
FROM reports";

fn report_row(r: &Row) -> rusqlite::Result<Report> {
    Ok(Report {
        report_id: r.get(0)?,
        patient_id: r.get(1)?,
        kind: get_enum(r, 2)?,
        title_zh: r.get(3)?,
        title_en: r.get(4)?,
        department_name_zh: r.get(5)?,
        ordered_at: get_instant(r, 6)?,
        status: get_enum(r, 7)?,
        ready_at: get_opt_instant(r, 8)?,
        expected_at: get_opt_instant(r, 9)?,
        pages: get_u32(r, 10)?,
        print_count: get_u32(r, 11)?,
    })
}

pub fn report(conn: &Connection, report_id: &str) -> rusqlite::Result<Option<Report>> {
    conn.query_row(
        &format!("{REPORT_SELECT} WHERE report_id = ?1"),
        [report_id],
        report_row,
    )
    .optional()
}

pub fn reports_of(conn: &Connection, patient_id: &str) -> rusqlite::Result<Vec<Report>> {
    let mut st = conn.prepare_cached(&format!(
        "{REPORT_SELECT} WHERE patient_id = ?1 ORDER BY ordered_at DESC, report_id"
    ))?;
    let rows = st.query_map([patient_id], report_row)?;
    rows.collect()
}

// ----------------------------------------------------------------- ledger

pub struct NewLedgerEntry<'a> {
    pub kiosk_id: &'a str,
    pub key: &'a str,
    pub kind: LedgerKind,
    pub reference_id: &'a str,
    pub patient_id: &'a str,
    pub amount: Money,
    pub payment: &'a PaymentRef,
    pub at: Instant,
}

pub fn post_ledger(conn: &Connection, e: &NewLedgerEntry) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO ledger (kiosk_id, date, idempotency_key, kind, reference_id, patient_id,
                             amount_fen, channel, trade_no, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            e.kiosk_id,
            e.at.date_naive().to_string(),
            e.key,
            enum_str(&e.kind),
            e.reference_id,
            e.patient_id,
            e.amount.fen(),
            enum_str(&e.payment.channel),
            (!e.payment.trade_no.is_empty()).then_some(&e.payment.trade_no),
            e.at.timestamp(),
        ],
    )?;
    Ok(())
}

pub fn ledger(
    conn: &Connection,
    kiosk_id: &str,
    date: NaiveDate,
) -> rusqlite::Result<Vec<LedgerEntry>> {
    let mut st = conn.prepare_cached(
        "SELECT idempotency_key, kind, reference_id, patient_id, amount_fen, channel, trade_no, at
         FROM ledger WHERE kiosk_id = ?1 AND date = ?2 ORDER BY seq",
    )?;
    let rows = st.query_map(params![kiosk_id, date.to_string()], |r| {
        Ok(LedgerEntry {
            idempotency_key: r.get(0)?,
            kind: get_enum(r, 1)?,
            reference_id: r.get(2)?,
            patient_id: r.get(3)?,
            amount_fen: get_money(r, 4)?,
            channel: get_enum(r, 5)?,
            trade_no: r.get(6)?,
            at: get_instant(r, 7)?,
        })
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_from_an_older_simulator_gains_the_check_in_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TABLE appointments (appointment_id TEXT PRIMARY KEY, patient_id TEXT,
                                            schedule_id TEXT, created_at INTEGER NOT NULL);
                 INSERT INTO appointments VALUES ('AP000001', 'P000001', 'S1', 42);",
            )
            .unwrap();
        for _ in 0..2 {
            let conn = open(&path).unwrap();
            let at: Option<i64> = conn
                .query_row(
                    "SELECT checked_in_at FROM appointments WHERE appointment_id = 'AP000001'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(at, None);
        }
    }
}

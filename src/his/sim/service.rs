//! One protocol call, start to finish, under the store's lock: parse the
//! input, expire what has expired, replay or refuse a reused idempotency
//! key, run the operation in a savepoint, remember the answer of a write.

use super::clock::{unix, SimClock};
use super::error::{ApiError, ApiResult, Reply, JSON};
use super::{billing, booking, patients, queue, records, seed};
use crate::domain::*;
use crate::his::ops::Operation;
use crate::his::wire::*;
use crate::his::BillFilter;
use chrono::{Duration, NaiveDate};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::sync::Mutex;

/// What the operations need to know about this simulator.
#[derive(Debug, Clone)]
pub struct Settings {
    pub hospital_id: String,
    pub hospital_name: String,
    /// The hospital's name in ASCII, for PDF documents.
    pub hospital_en: String,
    pub seed: u64,
    pub slot_minutes: u32,
    pub hold_ttl_secs: u32,
}

/// The store and what has been checked of it.
pub struct Db {
    pub conn: Connection,
    /// The business day whose booking window has been opened.
    pub opened_for: Option<NaiveDate>,
}

pub struct Shared {
    pub settings: Settings,
    pub db: Mutex<Db>,
    pub clock: SimClock,
}

/// One request after routing and header checks.
#[derive(Debug, Clone)]
pub struct Call {
    pub op: Operation,
    pub method: String,
    pub path: String,
    /// The path template's parameters, in order, percent-decoded.
    pub params: Vec<String>,
    pub query: Option<String>,
    pub body: Vec<u8>,
    pub kiosk: String,
    pub key: Option<String>,
}

/// The context an operation runs in.
pub struct Ctx<'a> {
    pub now: Instant,
    pub kiosk: &'a str,
    /// The idempotency key of a write.
    pub key: &'a str,
    pub settings: &'a Settings,
}

impl Ctx<'_> {
    pub fn today(&self) -> NaiveDate {
        self.now.date_naive()
    }
    pub fn unix(&self) -> i64 {
        unix(self.now)
    }
}

/// A call's parsed input.
pub enum Input {
    None,
    Lookup(LookupPatientRequest),
    Enroll(EnrollRequest),
    Schedules {
        department_id: String,
        date: NaiveDate,
    },
    Hold(HoldRequest),
    Register(RegisterRequest),
    Appointments(Option<NaiveDate>),
    CheckIn(CheckInRequest),
    Cancel(CancelRequest),
    Bills(BillFilter),
    PreSettle(PreSettleRequest),
    Settle(SettleRequest),
    Prices(records::PriceSearch),
    Ledger(NaiveDate),
}

// ---------------------------------------------------------------- parsing

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decode (and, in a query, `+` as a space); `None` if not UTF-8 or
/// a bad escape.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hi = hex_value(*b.get(i + 1)?)?;
                let lo = hex_value(*b.get(i + 2)?)?;
                out.push(hi * 16 + lo);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn query_pairs(q: Option<&str>) -> ApiResult<Vec<(String, String)>> {
    let Some(q) = q else {
        return Ok(Vec::new());
    };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            match (percent_decode(k, true), percent_decode(v, true)) {
                (Some(k), Some(v)) => Ok((k, v)),
                _ => Err(ApiError::bad_request("the query string is not valid UTF-8")),
            }
        })
        .collect()
}

struct Query(Vec<(String, String)>);

impl Query {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &str) -> ApiResult<&str> {
        self.get(name)
            .ok_or_else(|| ApiError::bad_request(format!("query parameter {name} is required")))
    }

    fn date(&self, name: &str) -> ApiResult<Option<NaiveDate>> {
        self.get(name).map(|s| parse_date(name, s)).transpose()
    }

    fn number(&self, name: &str) -> ApiResult<Option<u32>> {
        self.get(name)
            .map(|s| {
                s.parse::<u32>().map_err(|_| {
                    ApiError::bad_request(format!("{name} must be a non-negative integer"))
                })
            })
            .transpose()
    }
}

pub fn parse_date(name: &str, s: &str) -> ApiResult<NaiveDate> {
    let ok = s.len() == 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-';
    ok.then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| ApiError::bad_request(format!("{name} must be a date YYYY-MM-DD")))
}

fn json<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("a JSON body is required"));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("body: {e}")))
}

/// Read the call's input: body, query. Malformed input is a 400 that is
/// not remembered under the idempotency key.
pub fn parse(call: &Call) -> ApiResult<Input> {
    use Operation::*;
    let q = Query(query_pairs(call.query.as_deref())?);
    let body = &call.body[..];
    Ok(match call.op {
        LookupPatient => Input::Lookup(json(body)?),
        EnrollPatient => Input::Enroll(json(body)?),
        ListSchedules => {
            let department_id = q.required("department_id")?.to_string();
            let date = parse_date("date", q.required("date")?)?;
            Input::Schedules {
                department_id,
                date,
            }
        }
        CreateHold => Input::Hold(json(body)?),
        CreateAppointment => Input::Register(json(body)?),
        ListAppointments => Input::Appointments(q.date("date")?),
        CheckIn => Input::CheckIn(json(body)?),
        CancelAppointment => Input::Cancel(json(body)?),
        ListBills => Input::Bills(match q.get("status") {
            None | Some("unpaid") => BillFilter::Unpaid,
            Some("paid") => BillFilter::Paid,
            Some("all") => BillFilter::All,
            Some(_) => return Err(ApiError::bad_request("status must be unpaid, paid or all")),
        }),
        PreSettle => Input::PreSettle(json(body)?),
        Settle => Input::Settle(json(body)?),
        ListPrices => {
            let category = match q.get("category") {
                None | Some("") => None,
                Some(c) => Some(
                    serde_json::from_value::<ItemCategory>(serde_json::Value::String(c.into()))
                        .map_err(|_| ApiError::bad_request(format!("unknown category {c:?}")))?,
                ),
            };
            Input::Prices(records::PriceSearch {
                q: q.get("q")
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from),
                category,
                offset: q.number("offset")?.unwrap_or(0),
                limit: q.number("limit")?.unwrap_or(50).min(200),
            })
        }
        GetLedger => Input::Ledger(parse_date("date", q.required("date")?)?),
        Ping | ListDepartments | ListSlots | GetHold | ReleaseHold | GetQueue | ListReports
        | GetReportDocument | MarkReportPrinted | GetIdempotencyRecord => Input::None,
    })
}

// ------------------------------------------------------------ validation

/// Whether a card number has its kind's format.
pub fn card_format_ok(kind: CardKind, no: &str) -> bool {
    let b = no.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    match kind {
        CardKind::IdCard | CardKind::HealthCard => {
            b.len() == 18 && digits(&b[..17]) && (b[17].is_ascii_digit() || b[17] == b'X')
        }
        // The card number (a letter and 8 digits), or the social security
        // number, which is the holder's ID number.
        CardKind::InsuranceCard => {
            (b.len() == 9 && b[0].is_ascii_uppercase() && digits(&b[1..]))
                || card_format_ok(CardKind::IdCard, no)
        }
        CardKind::HospitalCard => b.len() == 9 && b[0] == b'H' && digits(&b[1..]),
        CardKind::QrHealthCode => {
            b.len() == 66
                && b[..64].iter().all(u8::is_ascii_hexdigit)
                && b[64] == b':'
                && b[65].is_ascii_digit()
        }
        CardKind::InsuranceEvoucher => {
            b.len() == 28 && no.starts_with("424") && b.iter().all(u8::is_ascii_alphanumeric)
        }
    }
}

/// A payment reference the gateway can post.
pub fn check_payment(p: &PaymentRef) -> ApiResult<()> {
    let t = p.trade_no.trim();
    if t.is_empty() || t.len() > 64 {
        return Err(ApiError::bad_request(
            "payment.trade_no must be 1 to 64 characters",
        ));
    }
    if p.amount_fen.is_negative() {
        return Err(ApiError::bad_request(
            "payment.amount_fen must not be negative",
        ));
    }
    if p.channel == PayChannel::None && p.amount_fen != Money::ZERO {
        return Err(ApiError::bad_request(
            "payment channel none collects nothing (amount_fen 0)",
        ));
    }
    Ok(())
}

pub fn amount_mismatch(paid: Money, due: Money) -> ApiError {
    ApiError::new(
        ErrorCode::AmountMismatch,
        format!("支付金额{paid}与应付金额{due}不符"),
        format!("paid {paid} but {due} is due"),
    )
}

// ------------------------------------------------------------ housekeeping

/// Expire holds (giving their places back) and pre-settlements, let
/// pending reports become ready, and open the booking window's days.
fn housekeeping(
    conn: &Connection,
    db_opened: Option<NaiveDate>,
    s: &Settings,
    now: Instant,
) -> rusqlite::Result<()> {
    let t = unix(now);
    let expired: Vec<(String, String, bool)> = {
        let mut st = conn.prepare_cached(
            "SELECT hold_id, slot_id, referral FROM holds WHERE status = 'held' AND expires_at <= ?1",
        )?;
        let rows = st.query_map([t], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (hold_id, slot_id, referral) in expired {
        conn.execute(
            "UPDATE holds SET status = 'expired' WHERE hold_id = ?1",
            [&hold_id],
        )?;
        super::store::return_place(conn, &slot_id, referral)?;
        tracing::debug!(%hold_id, "hold expired");
    }
    conn.execute(
        "UPDATE presettlements SET status = 'expired' WHERE status = 'open' AND expires_at <= ?1",
        [t],
    )?;
    conn.execute(
        "UPDATE reports SET status = 'ready', ready_at = expected_at
         WHERE status = 'pending' AND expected_at <= ?1",
        [t],
    )?;
    let today = now.date_naive();
    if db_opened != Some(today) {
        for d in 0..seed::BOOKING_DAYS {
            seed::open_day(conn, s.seed, today + Duration::days(d), s.slot_minutes)?;
        }
    }
    Ok(())
}

// ------------------------------------------------------------ idempotency

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

struct Stored {
    method: String,
    path: String,
    hash: String,
    status: u16,
    response: Vec<u8>,
    created_at: i64,
}

fn stored(conn: &Connection, kiosk: &str, key: &str) -> rusqlite::Result<Option<Stored>> {
    conn.query_row(
        "SELECT method, path, body_sha256, status, response, created_at
         FROM idempotency WHERE kiosk_id = ?1 AND key = ?2",
        params![kiosk, key],
        |r| {
            Ok(Stored {
                method: r.get(0)?,
                path: r.get(1)?,
                hash: r.get(2)?,
                status: r.get(3)?,
                response: r.get(4)?,
                created_at: r.get(5)?,
            })
        },
    )
    .optional()
}

/// `GET /v1/idempotency/{key}`: what this kiosk's key did.
pub fn idempotency_record(conn: &Connection, ctx: &Ctx, key: &str) -> ApiResult<Reply> {
    let s = stored(conn, ctx.kiosk, key)?.ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            "未找到该幂等键的记录",
            "no request with this idempotency key",
        )
    })?;
    let record = IdempotencyRecord {
        idempotency_key: key.to_string(),
        method: s.method,
        path: s.path,
        status: s.status,
        body: serde_json::from_slice(&s.response).unwrap_or(serde_json::Value::Null),
        created_at: super::clock::from_unix(s.created_at),
    };
    Ok(Reply::ok(&record))
}

// --------------------------------------------------------------- execute

/// The answer to a call, and whether it is a replay of a stored answer.
pub fn execute(shared: &Shared, call: &Call) -> (Reply, bool) {
    let input = match parse(call) {
        Ok(i) => i,
        Err(e) => return (Reply::error(&e), false),
    };
    let mut db = shared.db.lock().unwrap_or_else(|e| e.into_inner());
    let now = shared.clock.now();
    let opened = db.opened_for;
    match run_locked(&mut db.conn, opened, shared, call, input, now) {
        Ok(answer) => {
            db.opened_for = Some(now.date_naive());
            answer
        }
        Err(e) => (Reply::error(&ApiError::from(e)), false),
    }
}

fn run_locked(
    conn: &mut Connection,
    opened: Option<NaiveDate>,
    shared: &Shared,
    call: &Call,
    input: Input,
    now: Instant,
) -> rusqlite::Result<(Reply, bool)> {
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    housekeeping(&tx, opened, &shared.settings, now)?;
    let write = call.op.is_write();
    let key = call.key.as_deref().unwrap_or("");
    let hash = sha256_hex(&call.body);
    if write {
        if let Some(s) = stored(&tx, &call.kiosk, key)? {
            tx.commit()?;
            if s.method == call.method && s.path == call.path && s.hash == hash {
                let reply = Reply {
                    status: s.status,
                    content_type: JSON,
                    body: s.response,
                };
                return Ok((reply, true));
            }
            let e = ApiError::new(
                ErrorCode::IdempotencyKeyReused,
                "该幂等键已用于另一个请求",
                "this Idempotency-Key was used for a different request",
            );
            return Ok((Reply::error(&e), false));
        }
    }
    let ctx = Ctx {
        now,
        kiosk: &call.kiosk,
        key,
        settings: &shared.settings,
    };
    let reply = {
        let sp = tx.savepoint()?;
        match dispatch(&sp, &ctx, call, input) {
            Ok(r) if r.status < 400 => {
                sp.commit()?;
                r
            }
            Ok(r) => r,
            Err(e) => Reply::error(&e),
        }
    };
    if write && reply.status < 500 {
        tx.execute(
            "INSERT INTO idempotency (kiosk_id, key, method, path, body_sha256, status, response,
                                      created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                call.kiosk,
                key,
                call.method,
                call.path,
                hash,
                reply.status,
                reply.body,
                unix(now)
            ],
        )?;
    }
    tx.commit()?;
    Ok((reply, false))
}

fn param(call: &Call, i: usize) -> &str {
    call.params.get(i).map_or("", String::as_str)
}

fn dispatch(conn: &Connection, ctx: &Ctx, call: &Call, input: Input) -> ApiResult<Reply> {
    use Operation as Op;
    let p0 = param(call, 0);
    match (call.op, input) {
        (Op::Ping, _) => Ok(Reply::ok(&Ping {
            hospital_id: ctx.settings.hospital_id.clone(),
            hospital_name: ctx.settings.hospital_name.clone(),
            now: ctx.now,
            today: ctx.today(),
            protocol_version: PROTOCOL_VERSION.into(),
        })),
        (Op::LookupPatient, Input::Lookup(r)) => patients::lookup(conn, ctx, &r),
        (Op::EnrollPatient, Input::Enroll(r)) => patients::enroll(conn, ctx, &r),
        (Op::ListDepartments, _) => booking::departments(conn),
        (
            Op::ListSchedules,
            Input::Schedules {
                department_id,
                date,
            },
        ) => booking::schedules(conn, ctx, &department_id, date),
        (Op::ListSlots, _) => booking::slots(conn, ctx, p0),
        (Op::CreateHold, Input::Hold(r)) => booking::create_hold(conn, ctx, &r),
        (Op::GetHold, _) => booking::get_hold(conn, p0),
        (Op::ReleaseHold, _) => booking::release_hold(conn, p0),
        (Op::CreateAppointment, Input::Register(r)) => booking::register(conn, ctx, &r),
        (Op::ListAppointments, Input::Appointments(date)) => booking::appointments(conn, p0, date),
        (Op::CheckIn, Input::CheckIn(r)) => booking::check_in(conn, ctx, p0, &r),
        (Op::CancelAppointment, Input::Cancel(r)) => booking::cancel(conn, ctx, p0, &r),
        (Op::GetQueue, _) => queue::queue(conn, ctx, p0),
        (Op::ListBills, Input::Bills(f)) => billing::bills(conn, p0, f),
        (Op::PreSettle, Input::PreSettle(r)) => billing::pre_settle(conn, ctx, &r),
        (Op::Settle, Input::Settle(r)) => billing::settle(conn, ctx, &r),
        (Op::ListReports, _) => records::reports(conn, p0),
        (Op::GetReportDocument, _) => records::document(conn, ctx, p0),
        (Op::MarkReportPrinted, _) => records::mark_printed(conn, p0),
        (Op::ListPrices, Input::Prices(s)) => records::prices(conn, &s),
        (Op::GetLedger, Input::Ledger(date)) => records::ledger(conn, ctx, date),
        (Op::GetIdempotencyRecord, _) => idempotency_record(conn, ctx, p0),
        (op, _) => Err(ApiError::internal(format!(
            "no input parsed for {}",
            op.id()
        ))),
    }
}

/// The protocol version the simulator speaks.
pub const PROTOCOL_VERSION: &str = "1.0";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(percent_decode("a%20b+c", true).as_deref(), Some("a b c"));
        assert_eq!(percent_decode("a+b", false).as_deref(), Some("a+b"));
        assert_eq!(percent_decode("%E8%A1%80", true).as_deref(), Some("血"));
        assert_eq!(percent_decode("%zz", true), None);
        assert_eq!(percent_decode("%e8", true), None);
    }

    #[test]
    fn dates_are_strict() {
        assert!(parse_date("d", "2026-11-23").is_ok());
        assert!(parse_date("d", "2026-13-01").is_err());
        assert!(parse_date("d", "2026-1-5").is_err());
        assert!(parse_date("d", "20261123").is_err());
    }

    #[test]
    fn card_formats() {
        assert!(card_format_ok(CardKind::IdCard, "11010519491231002X"));
        assert!(!card_format_ok(CardKind::IdCard, "11010519491231002x1"));
        assert!(card_format_ok(CardKind::HospitalCard, "H00012345"));
        assert!(!card_format_ok(CardKind::HospitalCard, "X00012345"));
        assert!(card_format_ok(CardKind::InsuranceCard, "A12345678"));
        assert!(card_format_ok(
            CardKind::InsuranceCard,
            "11010519491231002X"
        ));
        assert!(!card_format_ok(CardKind::InsuranceCard, "a12345678"));
        assert!(card_format_ok(
            CardKind::QrHealthCode,
            &format!("{}:1", "ab".repeat(32))
        ));
        assert!(!card_format_ok(CardKind::QrHealthCode, "ab:1"));
        assert!(card_format_ok(
            CardKind::InsuranceEvoucher,
            &format!("424{}", "1".repeat(25))
        ));
        assert!(!card_format_ok(
            CardKind::InsuranceEvoucher,
            &format!("425{}", "1".repeat(25))
        ));
    }
}

//! Departments, schedules and slots; holds (锁号); registration, booking,
//! check-in and cancellation.

use super::error::{ApiError, ApiResult, Reply};
use super::seed::BOOKING_DAYS;
use super::service::{amount_mismatch, check_payment, Ctx};
use super::store::{self, enum_str, to_json, NewLedgerEntry};
use crate::domain::*;
use crate::his::wire::*;
use chrono::{Duration, NaiveDate};
use rusqlite::{params, Connection};

pub fn departments(conn: &Connection) -> ApiResult<Reply> {
    Ok(Reply::ok(&DepartmentList {
        departments: store::departments(conn)?,
    }))
}

pub fn schedules(
    conn: &Connection,
    ctx: &Ctx,
    department_id: &str,
    date: NaiveDate,
) -> ApiResult<Reply> {
    if !store::department_exists(conn, department_id)? {
        return Err(ApiError::not_found("科室", "department"));
    }
    let today = ctx.today();
    let open = date >= today && date < today + Duration::days(BOOKING_DAYS);
    let schedules = if open {
        store::schedules(conn, department_id, date, ctx.unix())?
    } else {
        Vec::new()
    };
    Ok(Reply::ok(&ScheduleList { schedules }))
}

pub fn slots(conn: &Connection, ctx: &Ctx, schedule_id: &str) -> ApiResult<Reply> {
    if !store::schedule_exists(conn, schedule_id)? {
        return Err(ApiError::not_found("排班", "schedule"));
    }
    Ok(Reply::ok(&SlotList {
        slots: store::slots(conn, schedule_id, ctx.unix())?,
    }))
}

fn slot_full() -> ApiError {
    ApiError::new(
        ErrorCode::SlotFull,
        "该时段号源已满，请选择其他时段",
        "no place left in this slot",
    )
}

/// Whether the patient already holds a live place, or has an appointment
/// that is not cancelled, in this schedule.
fn has_place_in(conn: &Connection, patient_id: &str, schedule_id: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM holds WHERE patient_id = ?1 AND schedule_id = ?2
                          AND status = 'held')
             OR EXISTS (SELECT 1 FROM appointments WHERE patient_id = ?1 AND schedule_id = ?2
                          AND status != 'cancelled')",
        params![patient_id, schedule_id],
        |r| r.get(0),
    )
}

pub fn create_hold(conn: &Connection, ctx: &Ctx, req: &HoldRequest) -> ApiResult<Reply> {
    let slot = store::slot_state(conn, &req.slot_id)?
        .ok_or_else(|| ApiError::not_found("号源", "slot"))?;
    store::require_patient(conn, &req.patient_id)?;
    if slot.starts_at <= ctx.unix() {
        return Err(ApiError::invalid_state(
            "该时段已开始，不能再预约",
            "the slot has already started",
        ));
    }
    if has_place_in(conn, &req.patient_id, &slot.schedule_id)? {
        return Err(ApiError::invalid_state(
            "您在该医生本场次已有号源或预约",
            "the patient already holds a place or an appointment in this schedule",
        ));
    }
    // A referral takes a referral place first, then a general one.
    let referral = if req.referral && store::take_place(conn, &slot.slot_id, true)? {
        true
    } else if store::take_place(conn, &slot.slot_id, false)? {
        false
    } else {
        return Err(slot_full());
    };
    let hold_id = store::next_id(conn, "HD", 6)?;
    let expires_at = ctx.now + Duration::seconds(i64::from(ctx.settings.hold_ttl_secs));
    conn.execute(
        "INSERT INTO holds (hold_id, slot_id, schedule_id, patient_id, status, referral, fee_fen,
                            expires_at, created_at)
         VALUES (?1, ?2, ?3, ?4, 'held', ?5, ?6, ?7, ?8)",
        params![
            hold_id,
            slot.slot_id,
            slot.schedule_id,
            req.patient_id,
            referral,
            slot.fee_fen.fen(),
            expires_at.timestamp(),
            ctx.unix()
        ],
    )?;
    tracing::debug!(%hold_id, slot_id = %slot.slot_id, patient_id = %req.patient_id, referral, "slot held");
    Ok(Reply::created(&Hold {
        hold_id,
        slot_id: slot.slot_id,
        patient_id: req.patient_id.clone(),
        status: HoldStatus::Held,
        fee_fen: slot.fee_fen,
        expires_at,
    }))
}

fn require_hold(conn: &Connection, hold_id: &str) -> ApiResult<(Hold, bool)> {
    store::hold(conn, hold_id)?.ok_or_else(|| ApiError::not_found("锁号记录", "hold"))
}

pub fn get_hold(conn: &Connection, hold_id: &str) -> ApiResult<Reply> {
    Ok(Reply::ok(&require_hold(conn, hold_id)?.0))
}

pub fn release_hold(conn: &Connection, hold_id: &str) -> ApiResult<Reply> {
    let (mut hold, referral) = require_hold(conn, hold_id)?;
    match hold.status {
        HoldStatus::Held => {
            conn.execute(
                "UPDATE holds SET status = 'released' WHERE hold_id = ?1",
                [hold_id],
            )?;
            store::return_place(conn, &hold.slot_id, referral)?;
            hold.status = HoldStatus::Released;
            Ok(Reply::ok(&hold))
        }
        HoldStatus::Released | HoldStatus::Expired => Ok(Reply::ok(&hold)),
        HoldStatus::Used => Err(ApiError::invalid_state(
            "该号源已挂号，不能释放",
            "the hold was used for an appointment and cannot be released",
        )),
    }
}

fn next_queue_number(conn: &Connection, schedule_id: &str) -> rusqlite::Result<u32> {
    conn.query_row(
        "SELECT COALESCE(MAX(queue_number), 0) + 1 FROM appointments WHERE schedule_id = ?1",
        [schedule_id],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as u32)
}

pub fn require_appointment(conn: &Connection, id: &str) -> ApiResult<Appointment> {
    store::appointment(conn, id)?.ok_or_else(|| ApiError::not_found("预约", "appointment"))
}

pub fn register(conn: &Connection, ctx: &Ctx, req: &RegisterRequest) -> ApiResult<Reply> {
    let (hold, referral) = require_hold(conn, &req.hold_id)?;
    if hold.patient_id != req.patient_id {
        return Err(ApiError::invalid_state(
            "该锁号不属于此患者",
            "the hold belongs to another patient",
        ));
    }
    match hold.status {
        HoldStatus::Held if hold.is_live(ctx.now) => {}
        HoldStatus::Used => {
            return Err(ApiError::new(
                ErrorCode::HoldExpired,
                "该锁号已使用，请重新选择号源",
                "the hold has already been used",
            ))
        }
        _ => {
            return Err(ApiError::new(
                ErrorCode::HoldExpired,
                "锁号已超时或已释放，请重新选择号源",
                "the hold has expired or was released",
            ))
        }
    }
    let slot = store::slot_state(conn, &hold.slot_id)?
        .ok_or_else(|| ApiError::internal("a hold without its slot"))?;
    let today = ctx.today();
    if slot.date < today {
        return Err(ApiError::invalid_state(
            "该号源日期已过",
            "the slot's day has passed",
        ));
    }
    if let Some(p) = &req.payment {
        check_payment(p)?;
        if p.amount_fen != hold.fee_fen {
            return Err(amount_mismatch(p.amount_fen, hold.fee_fen));
        }
    }
    let registration = slot.date == today;
    if registration && req.payment.is_none() {
        return Err(ApiError::invalid_state(
            "当日挂号须先支付挂号费",
            "a same-day registration must be paid",
        ));
    }
    let (kind, status, queue) = if registration {
        (
            AppointmentKind::Registration,
            AppointmentStatus::CheckedIn,
            Some(next_queue_number(conn, &slot.schedule_id)?),
        )
    } else {
        (AppointmentKind::Booking, AppointmentStatus::Booked, None)
    };
    let appointment_id = store::next_id(conn, "AP", 6)?;
    conn.execute(
        "INSERT INTO appointments (appointment_id, patient_id, schedule_id, slot_id, hold_id, kind,
                                   status, referral, fee_fen, fee_paid, queue_number, payment,
                                   refund_due_fen, created_at, checked_in_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 0, ?13, ?14)",
        params![
            appointment_id,
            req.patient_id,
            slot.schedule_id,
            slot.slot_id,
            hold.hold_id,
            enum_str(&kind),
            enum_str(&status),
            referral,
            hold.fee_fen.fen(),
            req.payment.is_some(),
            queue,
            req.payment.as_ref().map(to_json),
            ctx.unix(),
            registration.then(|| ctx.unix()),
        ],
    )?;
    conn.execute(
        "UPDATE holds SET status = 'used' WHERE hold_id = ?1",
        [&hold.hold_id],
    )?;
    if let Some(p) = &req.payment {
        store::post_ledger(
            conn,
            &NewLedgerEntry {
                kiosk_id: ctx.kiosk,
                key: ctx.key,
                kind: if registration {
                    LedgerKind::Registration
                } else {
                    LedgerKind::Booking
                },
                reference_id: &appointment_id,
                patient_id: &req.patient_id,
                amount: p.amount_fen,
                payment: p,
                at: ctx.now,
            },
        )?;
    }
    tracing::info!(%appointment_id, patient_id = %req.patient_id, kind = ?kind, paid = req.payment.is_some(), "appointment made");
    Ok(Reply::created(&require_appointment(conn, &appointment_id)?))
}

pub fn appointments(
    conn: &Connection,
    patient_id: &str,
    date: Option<NaiveDate>,
) -> ApiResult<Reply> {
    store::require_patient(conn, patient_id)?;
    Ok(Reply::ok(&AppointmentList {
        appointments: store::appointments_of(conn, patient_id, date)?,
    }))
}

pub fn check_in(conn: &Connection, ctx: &Ctx, id: &str, req: &CheckInRequest) -> ApiResult<Reply> {
    let appt = require_appointment(conn, id)?;
    if appt.status != AppointmentStatus::Booked {
        return Err(ApiError::invalid_state(
            "该预约已签到或已取消",
            format!("the appointment is {}", enum_str(&appt.status)),
        ));
    }
    if appt.date != ctx.today() {
        return Err(ApiError::invalid_state(
            format!("请于就诊当日（{}）签到取号", appt.date),
            format!("check in on the day of the appointment ({})", appt.date),
        ));
    }
    let owed = appt.amount_owed();
    let payment = match &req.payment {
        Some(p) => {
            check_payment(p)?;
            if p.amount_fen != owed {
                return Err(amount_mismatch(p.amount_fen, owed));
            }
            (owed != Money::ZERO).then_some(p)
        }
        None if owed != Money::ZERO => {
            return Err(ApiError::invalid_state(
                format!("签到须先支付挂号费{owed}"),
                format!("the fee of {owed} must be paid to check in"),
            ))
        }
        None => None,
    };
    let queue = next_queue_number(conn, &appt.schedule_id)?;
    conn.execute(
        "UPDATE appointments SET status = 'checked_in', queue_number = ?2, fee_paid = 1,
                payment = COALESCE(?3, payment), checked_in_at = ?4
         WHERE appointment_id = ?1",
        params![id, queue, payment.map(to_json), ctx.unix()],
    )?;
    if let Some(p) = payment {
        store::post_ledger(
            conn,
            &NewLedgerEntry {
                kiosk_id: ctx.kiosk,
                key: ctx.key,
                kind: LedgerKind::CheckIn,
                reference_id: id,
                patient_id: &appt.patient_id,
                amount: p.amount_fen,
                payment: p,
                at: ctx.now,
            },
        )?;
    }
    tracing::info!(appointment_id = %id, patient_id = %appt.patient_id, queue, "checked in");
    Ok(Reply::ok(&require_appointment(conn, id)?))
}

pub fn cancel(conn: &Connection, ctx: &Ctx, id: &str, req: &CancelRequest) -> ApiResult<Reply> {
    if req.reason.chars().count() > 200 {
        return Err(ApiError::bad_request("reason is at most 200 characters"));
    }
    let appt = require_appointment(conn, id)?;
    if appt.status != AppointmentStatus::Booked {
        return Err(ApiError::invalid_state(
            "只能取消尚未签到的预约",
            format!(
                "only a booked appointment can be cancelled; this one is {}",
                enum_str(&appt.status)
            ),
        ));
    }
    let (starts_at, referral): (i64, bool) = conn.query_row(
        "SELECT sl.starts_at, a.referral FROM appointments a
         JOIN slots sl ON sl.slot_id = a.slot_id WHERE a.appointment_id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if starts_at <= ctx.unix() {
        return Err(ApiError::invalid_state(
            "就诊时段已开始，不能取消",
            "the appointment's slot has already started",
        ));
    }
    let refund = if appt.fee_paid {
        appt.fee_fen
    } else {
        Money::ZERO
    };
    conn.execute(
        "UPDATE appointments SET status = 'cancelled', refund_due_fen = ?2, cancel_reason = ?3
         WHERE appointment_id = ?1",
        params![id, refund.fen(), req.reason],
    )?;
    store::return_place(conn, &appt.slot_id, referral)?;
    if refund != Money::ZERO {
        let payment = appt.payment.clone().unwrap_or(PaymentRef {
            channel: PayChannel::None,
            trade_no: String::new(),
            amount_fen: refund,
            paid_at: ctx.now,
        });
        store::post_ledger(
            conn,
            &NewLedgerEntry {
                kiosk_id: ctx.kiosk,
                key: ctx.key,
                kind: LedgerKind::Cancel,
                reference_id: id,
                patient_id: &appt.patient_id,
                amount: Money::from_fen(-refund.fen()),
                payment: &payment,
                at: ctx.now,
            },
        )?;
    }
    tracing::info!(appointment_id = %id, patient_id = %appt.patient_id, refund = %refund, "appointment cancelled");
    Ok(Reply::ok(&require_appointment(conn, id)?))
}

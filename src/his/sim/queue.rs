//! The consulting-room queue (排队叫号, R8, R13): where a patient stands in
//! the queue of their appointment's session today.
//!
//! The simulated doctor calls the checked-in patients of a session in
//! queue-number order (numbers are given in check-in order), starting at
//! the session's start, and spends one slot length on each; nobody is
//! called before they checked in. So number `k` is called at
//! `max(session start, k's check-in, call of k-1 + slot length)`: a pure
//! function of the store and the simulator's clock.

use super::booking::require_appointment;
use super::clock::{at, unix};
use super::error::{ApiError, ApiResult, Reply};
use super::seed::slot_length;
use super::service::Ctx;
use super::store;
use crate::domain::*;
use chrono::Timelike;
use rusqlite::Connection;

/// When each checked-in patient is called, in queue order: the doctor starts
/// at `start`, spends `consult` seconds on each patient, and waits for a
/// patient who has not checked in yet. `checked_in` is in queue order.
pub fn call_times(start: i64, consult: i64, checked_in: &[i64]) -> Vec<i64> {
    let mut free = start;
    checked_in
        .iter()
        .map(|&arrived| {
            let called = free.max(arrived);
            free = called + consult;
            called
        })
        .collect()
}

/// Whole minutes from `now` to `then`, rounded up (0 if past).
fn minutes_until(now: i64, then: i64) -> u32 {
    u32::try_from(((then - now).max(0) + 59) / 60).unwrap_or(u32::MAX)
}

/// The session's checked-in patients in queue order: (number, checked in at).
/// A store from an older simulator has no check-in time: created_at stands in.
fn checked_in(conn: &Connection, schedule_id: &str) -> rusqlite::Result<Vec<(u32, i64)>> {
    let mut st = conn.prepare_cached(
        "SELECT queue_number, COALESCE(checked_in_at, created_at) FROM appointments
         WHERE schedule_id = ?1 AND status = 'checked_in' AND queue_number IS NOT NULL
         ORDER BY queue_number, appointment_id",
    )?;
    let rows = st.query_map([schedule_id], |r| Ok((store::get_u32(r, 0)?, r.get(1)?)))?;
    rows.collect()
}

/// `GET /v1/appointments/{appointment_id}/queue`.
pub fn queue(conn: &Connection, ctx: &Ctx, appointment_id: &str) -> ApiResult<Reply> {
    let appt = require_appointment(conn, appointment_id)?;
    if appt.status == AppointmentStatus::Cancelled {
        return Err(ApiError::invalid_state(
            "该预约已取消，没有排队信息",
            "the appointment is cancelled: it has no place in a queue",
        ));
    }
    if appt.date != ctx.today() {
        return Err(ApiError::invalid_state(
            format!("只能在就诊当日（{}）查询排队情况", appt.date),
            format!(
                "the queue can be shown only on the day of the appointment ({})",
                appt.date
            ),
        ));
    }
    let start: ClockTime = conn.query_row(
        "SELECT start_hm FROM schedules WHERE schedule_id = ?1",
        [&appt.schedule_id],
        |r| store::get_clock(r, 0),
    )?;
    let start = unix(at(appt.date, start.time().hour(), start.time().minute()));
    let consult = i64::from(slot_length(ctx.settings.slot_minutes)) * 60;
    let rows = checked_in(conn, &appt.schedule_id)?;
    let arrivals: Vec<i64> = rows.iter().map(|r| r.1).collect();
    let calls = call_times(start, consult, &arrivals);
    let now = ctx.unix();
    let queue: Vec<(u32, i64)> = rows.iter().map(|r| r.0).zip(calls).collect();
    let now_serving = queue
        .iter()
        .filter(|(_, called)| *called <= now)
        .map(|(n, _)| *n)
        .max();
    let waiting_before = |number: Option<u32>| {
        queue
            .iter()
            .filter(|(n, called)| *called > now && number.is_none_or(|k| *n < k))
            .count() as u32
    };
    let (state, ahead, estimated_wait_min) = match appt.status {
        AppointmentStatus::Booked => {
            // If checked in now: after everyone in the queue.
            let free = queue.last().map_or(start, |(_, called)| called + consult);
            let called = free.max(start).max(now);
            (
                QueueState::NotCheckedIn,
                waiting_before(None),
                Some(minutes_until(now, called)),
            )
        }
        AppointmentStatus::CheckedIn => {
            let number = appt.queue_number.ok_or_else(|| {
                ApiError::internal("a checked-in appointment without a queue number")
            })?;
            let called = queue
                .iter()
                .find(|(n, _)| *n == number)
                .map(|(_, called)| *called)
                .ok_or_else(|| ApiError::internal("a checked-in appointment not in its queue"))?;
            if called > now {
                (
                    QueueState::Waiting,
                    waiting_before(Some(number)),
                    Some(minutes_until(now, called)),
                )
            } else if now < called + consult {
                (QueueState::Called, 0, Some(0))
            } else {
                (QueueState::Seen, 0, None)
            }
        }
        AppointmentStatus::Cancelled => unreachable!("refused above"),
    };
    Ok(Reply::ok(&QueueStatus {
        appointment_id: appt.appointment_id,
        state,
        queue_number: appt.queue_number,
        now_serving,
        ahead,
        estimated_wait_min,
        location: appt.location,
        doctor_name: appt.doctor_name,
        department_name_zh: appt.department_name_zh,
        department_name_en: appt.department_name_en,
        as_of: ctx.now,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_doctor_calls_in_order_one_consultation_at_a_time() {
        let m = 60;
        // Session at 0, 15-minute consultations. #1 and #2 came early, #3
        // came while #2 was with the doctor, #4 came when the doctor was idle.
        let calls = call_times(0, 15 * m, &[-30 * m, -20 * m, 20 * m, 60 * m]);
        assert_eq!(calls, vec![0, 15 * m, 30 * m, 60 * m]);
        assert!(call_times(0, 15 * m, &[]).is_empty());
    }

    #[test]
    fn waits_round_up_to_whole_minutes() {
        assert_eq!(minutes_until(0, 0), 0);
        assert_eq!(minutes_until(0, 1), 1);
        assert_eq!(minutes_until(0, 60), 1);
        assert_eq!(minutes_until(0, 61), 2);
        assert_eq!(minutes_until(100, 0), 0);
    }
}

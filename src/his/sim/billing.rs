//! Outpatient bills, the insurance split at pre-settlement (预结算) and
//! settlement with where to go next (R7).

use super::clock::{at, from_unix};
use super::error::{ApiError, ApiResult, Reply};
use super::seed::place_of;
use super::service::{amount_mismatch, check_payment, Ctx};
use super::store::{self, to_json, NewLedgerEntry};
use crate::domain::*;
use crate::his::wire::*;
use crate::his::BillFilter;
use chrono::{Duration, Timelike};
use rusqlite::{params, Connection, OptionalExtension};

pub fn bills(conn: &Connection, patient_id: &str, filter: BillFilter) -> ApiResult<Reply> {
    store::require_patient(conn, patient_id)?;
    Ok(Reply::ok(&BillList {
        bills: store::bills_of(conn, patient_id, filter)?,
    }))
}

/// How a total is paid: total = fund + personal account + self pay + hospital share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    pub total: Money,
    pub fund: Money,
    pub personal: Money,
    pub self_pay: Money,
    pub hospital: Money,
}

/// The split of the bills' items. With insurance, the fund pays a share of
/// class A (employee 70%, resident 60%) and class B (50%, 40%) items,
/// rounded down to the fen; an employee's personal account pays what it can
/// of the rest; the patient pays the remainder.
pub fn split(
    bills: &[Bill],
    insurance: InsuranceType,
    balance: Money,
    use_insurance: bool,
) -> Result<Split, MoneyError> {
    let items = || bills.iter().flat_map(|b| b.items.iter());
    let total = Money::sum(items().map(|i| i.amount_fen))?;
    let class_total = |c: InsuranceClass| {
        Money::sum(
            items()
                .filter(|i| i.insurance_class == c)
                .map(|i| i.amount_fen),
        )
    };
    let (a_pct, b_pct) = match insurance {
        _ if !use_insurance => (0, 0),
        InsuranceType::Employee => (70, 50),
        InsuranceType::Resident => (60, 40),
        InsuranceType::None => (0, 0),
    };
    let share = |m: Money, pct: i64| -> Result<Money, MoneyError> {
        Ok(Money::from_fen(m.checked_mul(pct)?.fen().max(0) / 100))
    };
    let fund = share(class_total(InsuranceClass::A)?, a_pct)?
        .checked_add(share(class_total(InsuranceClass::B)?, b_pct)?)?;
    let rest = total.checked_sub(fund)?;
    let personal = if use_insurance && insurance == InsuranceType::Employee {
        rest.min(balance.max(Money::ZERO))
    } else {
        Money::ZERO
    };
    Ok(Split {
        total,
        fund,
        personal,
        self_pay: rest.checked_sub(personal)?,
        hospital: Money::ZERO,
    })
}

fn balance_of(conn: &Connection, patient_id: &str) -> rusqlite::Result<Money> {
    conn.query_row(
        "SELECT balance_fen FROM patients WHERE patient_id = ?1",
        [patient_id],
        |r| store::get_money(r, 0),
    )
}

/// The patient's unpaid bills by id: 404 if not theirs, 409 if paid.
fn unpaid_bills(conn: &Connection, patient_id: &str, ids: &[String]) -> ApiResult<Vec<Bill>> {
    ids.iter()
        .map(|id| {
            let bill = store::bill(conn, id)?
                .filter(|b| b.patient_id == patient_id)
                .ok_or_else(|| ApiError::not_found(&format!("账单{id}"), &format!("bill {id}")))?;
            if bill.status != BillStatus::Unpaid {
                return Err(ApiError::invalid_state(
                    format!("账单{id}已缴费"),
                    format!("bill {id} is already paid"),
                ));
            }
            Ok(bill)
        })
        .collect()
}

pub fn pre_settle(conn: &Connection, ctx: &Ctx, req: &PreSettleRequest) -> ApiResult<Reply> {
    if req.bill_ids.is_empty() || req.bill_ids.len() > 50 {
        return Err(ApiError::bad_request("bill_ids must list 1 to 50 bills"));
    }
    let mut seen = std::collections::HashSet::new();
    if !req.bill_ids.iter().all(|id| seen.insert(id)) {
        return Err(ApiError::bad_request("bill_ids lists a bill twice"));
    }
    let patient = store::require_patient(conn, &req.patient_id)?;
    let bills = unpaid_bills(conn, &req.patient_id, &req.bill_ids)?;
    let balance = balance_of(conn, &req.patient_id)?;
    let s = split(&bills, patient.insurance, balance, req.use_insurance)?;
    let presettle_id = store::next_id(conn, "PS", 6)?;
    let expires_at = ctx.now + Duration::minutes(15);
    conn.execute(
        "INSERT INTO presettlements (presettle_id, patient_id, bill_ids, total_fen, fund_fen,
                                     personal_fen, self_pay_fen, hospital_fen, expires_at,
                                     status, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'open', ?10)",
        params![
            presettle_id,
            req.patient_id,
            to_json(&req.bill_ids),
            s.total.fen(),
            s.fund.fen(),
            s.personal.fen(),
            s.self_pay.fen(),
            s.hospital.fen(),
            expires_at.timestamp(),
            ctx.unix(),
        ],
    )?;
    tracing::info!(%presettle_id, patient_id = %req.patient_id, total = %s.total, self_pay = %s.self_pay, "pre-settled");
    Ok(Reply::created(&PreSettlement {
        presettle_id,
        patient_id: req.patient_id.clone(),
        bill_ids: req.bill_ids.clone(),
        total_fen: s.total,
        fund_pay_fen: s.fund,
        personal_account_fen: s.personal,
        self_pay_fen: s.self_pay,
        hospital_share_fen: s.hospital,
        expires_at,
    }))
}

struct PreRow {
    pre: PreSettlement,
    status: String,
}

fn presettlement(conn: &Connection, id: &str) -> rusqlite::Result<Option<PreRow>> {
    conn.query_row(
        "SELECT presettle_id, patient_id, bill_ids, total_fen, fund_fen, personal_fen,
                self_pay_fen, hospital_fen, expires_at, status
         FROM presettlements WHERE presettle_id = ?1",
        [id],
        |r| {
            Ok(PreRow {
                pre: PreSettlement {
                    presettle_id: r.get(0)?,
                    patient_id: r.get(1)?,
                    bill_ids: store::get_json(r, 2)?,
                    total_fen: store::get_money(r, 3)?,
                    fund_pay_fen: store::get_money(r, 4)?,
                    personal_account_fen: store::get_money(r, 5)?,
                    self_pay_fen: store::get_money(r, 6)?,
                    hospital_share_fen: store::get_money(r, 7)?,
                    expires_at: from_unix(r.get(8)?),
                },
                status: r.get(9)?,
            })
        },
    )
    .optional()
}

pub fn settle(conn: &Connection, ctx: &Ctx, req: &SettleRequest) -> ApiResult<Reply> {
    check_payment(&req.payment)?;
    let PreRow { pre, status } = presettlement(conn, &req.presettle_id)?
        .ok_or_else(|| ApiError::not_found("预结算", "pre-settlement"))?;
    if pre.patient_id != req.patient_id {
        return Err(ApiError::invalid_state(
            "该预结算不属于此患者",
            "the pre-settlement belongs to another patient",
        ));
    }
    match status.as_str() {
        "open" if pre.expires_at > ctx.now => {}
        "used" => {
            return Err(ApiError::invalid_state(
                "该预结算已结算",
                "the pre-settlement has already been settled",
            ))
        }
        _ => {
            return Err(ApiError::invalid_state(
                "预结算已过期，请重新结算",
                "the pre-settlement has expired; pre-settle again",
            ))
        }
    }
    let bills = unpaid_bills(conn, &pre.patient_id, &pre.bill_ids).map_err(|e| {
        ApiError::invalid_state(
            format!("账单状态已变化：{}", e.zh),
            format!("the bills have changed: {}", e.en),
        )
    })?;
    if req.payment.amount_fen != pre.self_pay_fen {
        return Err(amount_mismatch(req.payment.amount_fen, pre.self_pay_fen));
    }
    if balance_of(conn, &pre.patient_id)? < pre.personal_account_fen {
        return Err(ApiError::invalid_state(
            "医保个人账户余额已变化，请重新结算",
            "the personal account balance has changed; pre-settle again",
        ));
    }
    let settlement_id = store::next_id(conn, "ST", 6)?;
    for id in &pre.bill_ids {
        conn.execute(
            "UPDATE bills SET status = 'paid', settlement_id = ?2 WHERE bill_id = ?1",
            params![id, settlement_id],
        )?;
    }
    conn.execute(
        "UPDATE patients SET balance_fen = balance_fen - ?2 WHERE patient_id = ?1",
        params![pre.patient_id, pre.personal_account_fen.fen()],
    )?;
    conn.execute(
        "UPDATE presettlements SET status = 'used' WHERE presettle_id = ?1",
        [&pre.presettle_id],
    )?;
    let settlement = Settlement {
        settlement_id: settlement_id.clone(),
        presettle_id: pre.presettle_id.clone(),
        patient_id: pre.patient_id.clone(),
        bill_ids: pre.bill_ids.clone(),
        total_fen: pre.total_fen,
        fund_pay_fen: pre.fund_pay_fen,
        personal_account_fen: pre.personal_account_fen,
        self_pay_fen: pre.self_pay_fen,
        hospital_share_fen: pre.hospital_share_fen,
        payment: req.payment.clone(),
        settled_at: ctx.now,
        next_steps: next_steps(&bills, ctx.now),
    };
    conn.execute(
        "INSERT INTO settlements (settlement_id, presettle_id, patient_id, body, settled_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            settlement_id,
            pre.presettle_id,
            pre.patient_id,
            to_json(&settlement),
            ctx.unix()
        ],
    )?;
    store::post_ledger(
        conn,
        &NewLedgerEntry {
            kiosk_id: ctx.kiosk,
            key: ctx.key,
            kind: LedgerKind::Settlement,
            reference_id: &settlement_id,
            patient_id: &pre.patient_id,
            amount: pre.self_pay_fen,
            payment: &req.payment,
            at: ctx.now,
        },
    )?;
    tracing::info!(%settlement_id, patient_id = %pre.patient_id, self_pay = %pre.self_pay_fen, "settled");
    Ok(Reply::created(&settlement))
}

/// When to come for an exam: the next half hour at least 30 minutes
/// ahead, within clinic hours (08:00-17:00).
fn exam_time(now: Instant) -> String {
    let mut t = now + Duration::minutes(30);
    let past = i64::from(t.minute() % 30) * 60 + i64::from(t.second());
    if past > 0 {
        t += Duration::seconds(30 * 60 - past);
    }
    let day = t.date_naive();
    let t = if t.hour() < 8 {
        at(day, 8, 30)
    } else if t.hour() >= 17 {
        at(day + Duration::days(1), 8, 30)
    } else {
        t
    };
    t.format("%Y-%m-%d %H:%M").to_string()
}

/// Where to go after paying: one step per place, in bill order.
pub fn next_steps(bills: &[Bill], now: Instant) -> Vec<NextStep> {
    let mut steps: Vec<(Location, Vec<&BillItem>)> = Vec::new();
    for item in bills.iter().flat_map(|b| b.items.iter()) {
        let Some(loc) = &item.location else { continue };
        match steps.iter_mut().find(|(l, _)| l == loc) {
            Some((_, items)) => items.push(item),
            None => steps.push((loc.clone(), vec![item])),
        }
    }
    steps
        .into_iter()
        .map(|(location, items)| {
            let place = place_of(&items[0].code);
            let ((verb_zh, verb_en), (note_zh, note_en)) = place.step();
            let names_zh: Vec<&str> = items.iter().map(|i| i.name_zh.as_str()).collect();
            let names_en: Vec<&str> = items.iter().map(|i| i.name_en.as_str()).collect();
            let mut precautions: Vec<Text> = Vec::new();
            for item in &items {
                let preps = super::data::price(&item.code).map_or(&[][..], |p| p.prep);
                for prep in preps {
                    let (zh, en) = prep.text();
                    if !precautions.iter().any(|t| t.zh == zh) {
                        precautions.push(Text {
                            zh: zh.into(),
                            en: en.into(),
                        });
                    }
                }
            }
            precautions.push(Text {
                zh: note_zh.into(),
                en: note_en.into(),
            });
            NextStep {
                what: Text {
                    zh: format!("{verb_zh}：{}", names_zh.join("、")),
                    en: format!("{verb_en}: {}", names_en.join(", ")),
                },
                time: place.is_timed().then(|| exam_time(now)),
                location,
                precautions,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(amount: i64, class: InsuranceClass, code: &str) -> BillItem {
        let p = super::super::data::price(code).unwrap();
        BillItem {
            item_id: code.into(),
            code: code.into(),
            name_zh: p.zh.into(),
            name_en: p.en.into(),
            category: p.category,
            spec: p.spec.into(),
            unit: p.unit.into(),
            quantity: 1,
            unit_price_fen: Money::from_fen(amount),
            amount_fen: Money::from_fen(amount),
            insurance_class: class,
            location: p.place.location(3),
        }
    }

    fn bill(items: Vec<BillItem>) -> Bill {
        Bill {
            bill_id: "B".into(),
            patient_id: "P".into(),
            status: BillStatus::Unpaid,
            created_at: at(chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(), 9, 0),
            department_name_zh: "内科".into(),
            department_name_en: "Internal Medicine".into(),
            doctor_name: "王建国".into(),
            total_fen: Money::sum(items.iter().map(|i| i.amount_fen)).unwrap(),
            items,
        }
    }

    #[test]
    fn the_split_always_adds_up() {
        let b = bill(vec![
            item(1999, InsuranceClass::A, "YP001"),
            item(3333, InsuranceClass::B, "JC006"),
            item(777, InsuranceClass::C, "JY016"),
        ]);
        let total = Money::from_fen(1999 + 3333 + 777);
        for insurance in [
            InsuranceType::Employee,
            InsuranceType::Resident,
            InsuranceType::None,
        ] {
            for balance in [0, 1, 500, 100_000] {
                for use_insurance in [true, false] {
                    let s = split(
                        std::slice::from_ref(&b),
                        insurance,
                        Money::from_fen(balance),
                        use_insurance,
                    )
                    .unwrap();
                    assert_eq!(s.total, total);
                    assert_eq!(
                        Money::sum([s.fund, s.personal, s.self_pay, s.hospital]).unwrap(),
                        total,
                        "{insurance:?} {balance} {use_insurance}"
                    );
                    assert!(!s.self_pay.is_negative() && !s.personal.is_negative());
                    if !use_insurance || insurance == InsuranceType::None {
                        assert_eq!(s.self_pay, total);
                    }
                }
            }
        }
        // Employee: 70% of 1999 = 1399.3 -> 1399; 50% of 3333 = 1666.5 -> 1666.
        let s = split(
            std::slice::from_ref(&b),
            InsuranceType::Employee,
            Money::from_fen(500),
            true,
        )
        .unwrap();
        assert_eq!(s.fund, Money::from_fen(1399 + 1666));
        assert_eq!(s.personal, Money::from_fen(500));
        assert_eq!(s.self_pay, Money::from_fen(6109 - 3065 - 500));
        // Resident: 60% and 40%, no personal account.
        let s = split(&[b], InsuranceType::Resident, Money::from_fen(500), true).unwrap();
        assert_eq!(s.fund, Money::from_fen(1199 + 1333));
        assert_eq!(s.personal, Money::ZERO);
    }

    #[test]
    fn settlement_says_where_to_go() {
        let now = at(
            chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            9,
            10,
        );
        let b = bill(vec![
            item(1250, InsuranceClass::A, "YP001"),
            item(1580, InsuranceClass::A, "YP002"),
            item(6000, InsuranceClass::A, "JY004"),
            item(18000, InsuranceClass::A, "JC001"),
            item(300, InsuranceClass::A, "CL001"),
        ]);
        let steps = next_steps(&[b], now);
        assert_eq!(steps.len(), 3, "{steps:#?}");
        assert!(steps[0].what.zh.contains("阿莫西林胶囊、布洛芬缓释胶囊"));
        assert!(steps[0].location.room.contains("3号窗口"));
        assert!(steps[1].precautions.iter().any(|p| p.zh.contains("空腹")));
        assert_eq!(steps[2].time.as_deref(), Some("2026-11-23 10:00"));
        assert_eq!(exam_time(at(now.date_naive(), 16, 45)), "2026-11-24 08:30");
        assert_eq!(exam_time(at(now.date_naive(), 6, 0)), "2026-11-23 08:30");
    }
}

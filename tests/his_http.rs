//! `HttpHis` against the HIS simulator over real HTTP on loopback: every
//! operation, idempotent replay and 409, hold expiry, the last-slot race,
//! and each injected fault mapped to the right typed error.

mod common;

use chrono::Duration as Days;
use common::*;
use kiosk::domain::*;
use kiosk::his::wire::{self, ErrorCode};
use kiosk::his::{BillFilter, HisErrorKind, HisGateway, HttpHis, PriceQuery};
use reqwest::Method;
use std::time::Duration;

fn pay(amount: Money, trade_no: &str) -> PaymentRef {
    PaymentRef {
        channel: PayChannel::Wechat,
        trade_no: trade_no.into(),
        amount_fen: amount,
        paid_at: chrono::DateTime::parse_from_rfc3339("2026-11-23T09:00:00+08:00").unwrap(),
    }
}

/// A seeded patient and a card that finds them.
fn known_card(sim: &Sim) -> (CardKind, String, String) {
    let cards = kiosk::his::sim::seeded_cards(&sim.handle);
    cards
        .into_iter()
        .find(|c| c.0 == CardKind::IdCard)
        .expect("seeded ID cards")
}

/// A schedule on `date` with a slot that has `min_remaining` general places.
async fn open_slot(his: &HttpHis, date: chrono::NaiveDate, min_remaining: u32) -> (Schedule, Slot) {
    for dept in his.departments().await.unwrap() {
        for sched in his.schedules(&dept.department_id, date).await.unwrap() {
            for slot in his.slots(&sched.schedule_id).await.unwrap() {
                let starts_later = date > today()
                    || slot.start.time() > chrono::NaiveTime::from_hms_opt(12, 0, 0).unwrap();
                if slot.remaining >= min_remaining && starts_later {
                    return (sched, slot);
                }
            }
        }
    }
    panic!("no slot with {min_remaining} places on {date}");
}

#[tokio::test]
async fn reference_data_is_a_realistic_hospital() {
    let sim = Sim::start().await;
    let his = sim.client("K01");
    let ping = his.ping().await.unwrap();
    assert_eq!(ping.hospital_id, HOSPITAL);
    assert_eq!(ping.today, today());

    let depts = his.departments().await.unwrap();
    assert!(depts.len() >= 12, "{} departments", depts.len());
    for name in ["内科", "外科", "儿科", "眼科", "口腔科"] {
        assert!(depts.iter().any(|d| d.name_zh == name), "no {name}");
    }
    let mut doctors = std::collections::HashSet::new();
    let mut sessions = 0;
    for d in 0..7 {
        let date = today() + Days::days(d);
        for dept in &depts {
            for s in his.schedules(&dept.department_id, date).await.unwrap() {
                assert_eq!(s.date, date);
                assert_eq!(s.department_id, dept.department_id);
                assert!(s.fee_fen > Money::ZERO);
                doctors.insert(s.doctor.doctor_id.clone());
                sessions += 1;
            }
        }
    }
    assert!(doctors.len() >= 40, "{} doctors", doctors.len());
    assert!(sessions >= 7 * 12 * 2, "{sessions} sessions in a week");
    // Nothing beyond the 7-day window.
    assert!(his
        .schedules(&depts[0].department_id, today() + Days::days(7))
        .await
        .unwrap()
        .is_empty());

    // Slots are cut at the configured length.
    let (sched, _) = open_slot(&his, today() + Days::days(1), 1).await;
    let slots = his.slots(&sched.schedule_id).await.unwrap();
    for s in &slots {
        assert_eq!((s.end.time() - s.start.time()).num_minutes(), 15, "{s:?}");
        assert!(s.start >= sched.start && s.end <= sched.end);
    }
}

#[tokio::test]
async fn slot_length_comes_from_config() {
    let sim = Sim::start_with(|c| c.slot_minutes = 30).await;
    let his = sim.client("K01");
    let (sched, _) = open_slot(&his, today() + Days::days(2), 1).await;
    for s in his.slots(&sched.schedule_id).await.unwrap() {
        assert_eq!((s.end.time() - s.start.time()).num_minutes(), 30);
    }
}

#[tokio::test]
async fn patients_are_found_by_every_card_and_unknown_ones_enrolled() {
    let sim = Sim::start().await;
    let his = sim.client("K01");
    let cards = kiosk::his::sim::seeded_cards(&sim.handle);
    for kind in [
        CardKind::IdCard,
        CardKind::HealthCard,
        CardKind::InsuranceCard,
        CardKind::HospitalCard,
        CardKind::QrHealthCode,
        CardKind::InsuranceEvoucher,
    ] {
        let (_, no, pid) = cards
            .iter()
            .find(|c| c.0 == kind)
            .unwrap_or_else(|| panic!("no seeded {kind:?}"));
        let p = his.lookup_patient(kind, no).await.unwrap();
        assert_eq!(&p.patient_id, pid);
        assert!(
            p.id_number_masked.contains("**********"),
            "HIS must mask: {}",
            p.id_number_masked
        );
    }

    let unknown = kiosk::his::sim::unknown_id_numbers(7);
    let id = IdNumber::parse(&unknown[0], today()).unwrap();
    let err = his
        .lookup_patient(CardKind::IdCard, id.expose())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::PatientNotFound));
    assert!(err.patient_message().0.contains("建档"));

    let phone = Phone::parse("13912345678").unwrap();
    let p = his
        .enroll(&key("enroll"), "李小梅", &id, &phone)
        .await
        .unwrap();
    assert_eq!(p.name, "李小梅");
    assert_eq!(p.id_number_masked, id.masked());
    assert_eq!(
        his.lookup_patient(CardKind::IdCard, id.expose())
            .await
            .unwrap()
            .patient_id,
        p.patient_id
    );
    assert_eq!(
        his.lookup_patient(CardKind::HealthCard, id.expose())
            .await
            .unwrap()
            .patient_id,
        p.patient_id
    );
    let again = his
        .enroll(&key("enroll"), "李小梅", &id, &phone)
        .await
        .unwrap_err();
    assert_eq!(again.code(), Some(ErrorCode::AlreadyEnrolled));

    // The gateway checks ID numbers itself too (a wrong check digit).
    let mut bad = unknown[1].clone();
    let last = if bad.ends_with('1') { '2' } else { '1' };
    bad.pop();
    bad.push(last);
    let r = sim
        .raw(Method::POST, "v1/patients")
        .header("Idempotency-Key", "bad-id-1")
        .json(&serde_json::json!({"name": "王五", "id_number": bad, "phone": "13912345678"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: wire::ErrorBody = r.json().await.unwrap();
    assert_eq!(body.code, ErrorCode::BadRequest);
}

#[tokio::test]
async fn same_day_registration_books_and_posts_to_the_ledger() {
    let sim = Sim::start().await;
    let his = sim.client("K01");
    let (_, card, pid) = known_card(&sim);
    let patient = his.lookup_patient(CardKind::IdCard, &card).await.unwrap();
    assert_eq!(patient.patient_id, pid);
    // The simulator keeps the real time of day: move it to tomorrow 07:30 so
    // the day's slots are all still open, whatever time the test runs.
    let day = morning_after(&sim, &his).await;
    let (sched, slot) = open_slot(&his, day, 1).await;

    let hold = his
        .hold(
            &key("hold"),
            &wire::HoldRequest {
                slot_id: slot.slot_id.clone(),
                patient_id: pid.clone(),
                referral: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(hold.status, HoldStatus::Held);
    assert_eq!(hold.fee_fen, sched.fee_fen);
    let after = his.slots(&sched.schedule_id).await.unwrap();
    assert_eq!(
        after
            .iter()
            .find(|s| s.slot_id == slot.slot_id)
            .unwrap()
            .remaining,
        slot.remaining - 1
    );

    // Paying the wrong amount is refused.
    let wrong = his
        .register(
            &key("post"),
            &wire::RegisterRequest {
                hold_id: hold.hold_id.clone(),
                patient_id: pid.clone(),
                payment: Some(pay(
                    hold.fee_fen.checked_add(Money::from_fen(1)).unwrap(),
                    "T-WRONG",
                )),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Some(ErrorCode::AmountMismatch));

    let k = key("post");
    let appt = his
        .register(
            &k,
            &wire::RegisterRequest {
                hold_id: hold.hold_id.clone(),
                patient_id: pid.clone(),
                payment: Some(pay(hold.fee_fen, "T-0001")),
            },
        )
        .await
        .unwrap();
    assert_eq!(appt.kind, AppointmentKind::Registration);
    assert_eq!(appt.status, AppointmentStatus::CheckedIn);
    assert!(appt.fee_paid);
    assert!(appt.queue_number.is_some());
    assert_eq!(appt.slot_id, slot.slot_id);
    assert_eq!(
        his.get_hold(&hold.hold_id).await.unwrap().status,
        HoldStatus::Used
    );
    let listed = his.appointments(&pid, Some(day)).await.unwrap();
    assert!(listed
        .iter()
        .any(|a| a.appointment_id == appt.appointment_id));

    let ledger = his.ledger(day).await.unwrap();
    assert_eq!(ledger.kiosk_id, "K01");
    let entry = ledger
        .entries
        .iter()
        .find(|e| e.idempotency_key == k.as_str())
        .expect("posted");
    assert_eq!(entry.amount_fen, hold.fee_fen);
    assert_eq!(entry.trade_no.as_deref(), Some("T-0001"));
    assert_eq!(
        ledger.total_fen,
        Money::sum(ledger.entries.iter().map(|e| e.amount_fen)).unwrap()
    );
    // Another kiosk's ledger does not show it.
    let other = sim.client("K02").ledger(day).await.unwrap();
    assert!(other
        .entries
        .iter()
        .all(|e| e.idempotency_key != k.as_str()));
}

#[tokio::test]
async fn booking_check_in_with_fee_and_cancel() {
    let sim = Sim::start().await;
    let his = sim.client("K01");
    let (_, _, pid) = known_card(&sim);
    let tomorrow = today() + Days::days(1);
    let (sched, slot) = open_slot(&his, tomorrow, 1).await;
    let hold = his
        .hold(
            &key("hold"),
            &wire::HoldRequest {
                slot_id: slot.slot_id.clone(),
                patient_id: pid.clone(),
                referral: false,
            },
        )
        .await
        .unwrap();
    let booked = his
        .register(
            &key("post"),
            &wire::RegisterRequest {
                hold_id: hold.hold_id,
                patient_id: pid.clone(),
                payment: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(booked.kind, AppointmentKind::Booking);
    assert_eq!(booked.status, AppointmentStatus::Booked);
    assert_eq!(booked.amount_owed(), sched.fee_fen);

    // Not today: no check-in.
    let early = his
        .check_in(
            &key("checkin"),
            &booked.appointment_id,
            Some(pay(sched.fee_fen, "T-1")),
        )
        .await
        .unwrap_err();
    assert_eq!(early.code(), Some(ErrorCode::InvalidState));

    // The next morning: check in, paying the fee owed.
    sim.advance(24 * 3600).await;
    let unpaid = his
        .check_in(&key("checkin"), &booked.appointment_id, None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            unpaid.code(),
            Some(ErrorCode::InvalidState | ErrorCode::AmountMismatch)
        ),
        "{unpaid:?}"
    );
    let checked = his
        .check_in(
            &key("checkin"),
            &booked.appointment_id,
            Some(pay(sched.fee_fen, "T-2")),
        )
        .await
        .unwrap();
    assert_eq!(checked.status, AppointmentStatus::CheckedIn);
    assert!(checked.fee_paid && checked.queue_number.is_some());
    let cancel_late = his
        .cancel(&key("cancel"), &checked.appointment_id, "changed my mind")
        .await
        .unwrap_err();
    assert_eq!(cancel_late.code(), Some(ErrorCode::InvalidState));

    // A paid booking cancelled before its day: the place returns, HIS owes the fee back.
    let day3 = today() + Days::days(3);
    let (sched3, slot3) = open_slot(&his, day3, 1).await;
    let hold = his
        .hold(
            &key("hold"),
            &wire::HoldRequest {
                slot_id: slot3.slot_id.clone(),
                patient_id: pid.clone(),
                referral: false,
            },
        )
        .await
        .unwrap();
    let booked = his
        .register(
            &key("post"),
            &wire::RegisterRequest {
                hold_id: hold.hold_id,
                patient_id: pid.clone(),
                payment: Some(pay(sched3.fee_fen, "T-3")),
            },
        )
        .await
        .unwrap();
    let cancelled = his
        .cancel(&key("cancel"), &booked.appointment_id, "改期")
        .await
        .unwrap();
    assert_eq!(cancelled.status, AppointmentStatus::Cancelled);
    assert_eq!(cancelled.refund_due_fen, sched3.fee_fen);
    let slots = his.slots(&sched3.schedule_id).await.unwrap();
    assert_eq!(
        slots
            .iter()
            .find(|s| s.slot_id == slot3.slot_id)
            .unwrap()
            .remaining,
        slot3.remaining
    );
}

#[tokio::test]
async fn settlement_splits_insurance_and_says_where_to_go() {
    let sim = Sim::start().await;
    let his = sim.client("K01");
    let cards = kiosk::his::sim::seeded_cards(&sim.handle);
    // An insured patient with unpaid bills.
    let mut found = None;
    for (kind, no, pid) in cards.iter().filter(|c| c.0 == CardKind::InsuranceCard) {
        let p = his.lookup_patient(*kind, no).await.unwrap();
        let bills = his.bills(pid, BillFilter::Unpaid).await.unwrap();
        if p.insurance != InsuranceType::None && !bills.is_empty() {
            found = Some((p, bills));
            break;
        }
    }
    let (patient, bills) = found.expect("an insured patient with unpaid bills");
    for b in &bills {
        assert!(b.is_consistent(), "bill {} does not add up", b.bill_id);
        assert_eq!(b.status, BillStatus::Unpaid);
    }
    let ids: Vec<String> = bills.iter().map(|b| b.bill_id.clone()).collect();
    let total = Money::sum(bills.iter().map(|b| b.total_fen)).unwrap();

    let pre = his
        .pre_settle(
            &key("presettle"),
            &wire::PreSettleRequest {
                patient_id: patient.patient_id.clone(),
                bill_ids: ids.clone(),
                use_insurance: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(pre.total_fen, total);
    assert_eq!(pre.check_split(), Ok(true));
    assert!(
        pre.fund_pay_fen > Money::ZERO,
        "insurance pays something: {pre:?}"
    );
    assert!(pre.self_pay_fen < total);

    let self_pay = his
        .pre_settle(
            &key("presettle"),
            &wire::PreSettleRequest {
                patient_id: patient.patient_id.clone(),
                bill_ids: ids.clone(),
                use_insurance: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(self_pay.self_pay_fen, total);

    let wrong = his
        .settle(
            &key("settle"),
            &wire::SettleRequest {
                presettle_id: pre.presettle_id.clone(),
                patient_id: patient.patient_id.clone(),
                payment: pay(total, "T-S0"),
            },
        )
        .await;
    if pre.self_pay_fen != total {
        assert_eq!(wrong.unwrap_err().code(), Some(ErrorCode::AmountMismatch));
    }
    let settled = his
        .settle(
            &key("settle"),
            &wire::SettleRequest {
                presettle_id: pre.presettle_id.clone(),
                patient_id: patient.patient_id.clone(),
                payment: pay(pre.self_pay_fen, "T-S1"),
            },
        )
        .await
        .unwrap();
    assert_eq!(settled.self_pay_fen, pre.self_pay_fen);
    assert_eq!(settled.bill_ids, ids);
    assert!(!settled.next_steps.is_empty(), "R7: where to go next");
    assert!(settled
        .next_steps
        .iter()
        .all(|s| !s.location.room.is_empty() && !s.what.zh.is_empty()));
    assert!(his
        .bills(&patient.patient_id, BillFilter::Unpaid)
        .await
        .unwrap()
        .is_empty());
    let paid = his
        .bills(&patient.patient_id, BillFilter::Paid)
        .await
        .unwrap();
    assert!(paid.len() >= ids.len());

    // The bills are paid now: the other pre-settlement cannot be used.
    let stale = his
        .settle(
            &key("settle"),
            &wire::SettleRequest {
                presettle_id: self_pay.presettle_id.clone(),
                patient_id: patient.patient_id.clone(),
                payment: pay(total, "T-S2"),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Some(ErrorCode::InvalidState));
}

#[tokio::test]
async fn reports_print_as_real_pdfs() {
    let sim = Sim::start().await;
    let his = sim.client("K01");
    let cards = kiosk::his::sim::seeded_cards(&sim.handle);
    let mut ready = None;
    let mut pending = None;
    for (_, _, pid) in cards.iter().filter(|c| c.0 == CardKind::IdCard) {
        for r in his.reports(pid).await.unwrap() {
            match r.status {
                ReportStatus::Ready if ready.is_none() => ready = Some(r),
                ReportStatus::Pending if pending.is_none() => pending = Some(r),
                _ => {}
            }
        }
    }
    let ready = ready.expect("a ready report");
    let pending = pending.expect("a pending report");
    assert!(pending.expected_at.is_some());
    let pdf = his.report_document(&ready.report_id).await.unwrap();
    assert!(pdf.starts_with(b"%PDF-1."));
    assert!(pdf.windows(5).any(|w| w == b"%%EOF"));
    assert!(pdf.windows(4).any(|w| w == b"xref"));
    let printed = his
        .mark_report_printed(&key("printed"), &ready.report_id)
        .await
        .unwrap();
    assert_eq!(printed.print_count, ready.print_count + 1);

    let e = his.report_document(&pending.report_id).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::InvalidState));
    let e = his
        .mark_report_printed(&key("printed"), &pending.report_id)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::InvalidState));
}

#[tokio::test]
async fn prices_are_searchable_by_name_and_pinyin_initials() {
    let sim = Sim::start().await;
    let his = sim.client("K01");
    let all = his
        .prices(&PriceQuery {
            limit: Some(200),
            ..PriceQuery::default()
        })
        .await
        .unwrap();
    assert!(all.total >= 80, "{} prices", all.total);
    let by_initials = his
        .prices(&PriceQuery {
            q: Some("xcg".into()),
            ..PriceQuery::default()
        })
        .await
        .unwrap();
    assert!(
        by_initials.items.iter().any(|i| i.name_zh == "血常规"),
        "{by_initials:?}"
    );
    let by_name = his
        .prices(&PriceQuery {
            q: Some("阿莫西林".into()),
            ..PriceQuery::default()
        })
        .await
        .unwrap();
    assert!(
        !by_name.items.is_empty() && by_name.items.iter().all(|i| i.name_zh.contains("阿莫西林"))
    );
    let drugs = his
        .prices(&PriceQuery {
            category: Some(ItemCategory::Drug),
            limit: Some(5),
            ..PriceQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(drugs.items.len(), 5);
    assert!(drugs.total > 5);
    assert!(drugs.items.iter().all(|i| i.category == ItemCategory::Drug));
    let page2 = his
        .prices(&PriceQuery {
            category: Some(ItemCategory::Drug),
            offset: 5,
            limit: Some(5),
            ..PriceQuery::default()
        })
        .await
        .unwrap();
    assert_ne!(page2.items[0].code, drugs.items[0].code);
}

#[tokio::test]
async fn replaying_a_write_returns_the_first_answer_and_a_changed_body_is_409() {
    let sim = Sim::start().await;
    let his = sim.client("K01");
    let (_, _, pid) = known_card(&sim);
    let (sched, slot) = open_slot(&his, today() + Days::days(2), 2).await;
    let k = key("hold");
    let req = wire::HoldRequest {
        slot_id: slot.slot_id.clone(),
        patient_id: pid.clone(),
        referral: false,
    };
    let first = his.hold(&k, &req).await.unwrap();
    let second = his.hold(&k, &req).await.unwrap();
    assert_eq!(first, second, "a replay returns the first result");
    let slots = his.slots(&sched.schedule_id).await.unwrap();
    assert_eq!(
        slots
            .iter()
            .find(|s| s.slot_id == slot.slot_id)
            .unwrap()
            .remaining,
        slot.remaining - 1,
        "held once"
    );

    let changed = wire::HoldRequest {
        referral: true,
        ..req.clone()
    };
    let e = his.hold(&k, &changed).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::IdempotencyKeyReused));
    assert!(!e.is_transient());

    let record = his
        .idempotency_record(&k)
        .await
        .unwrap()
        .expect("remembered");
    assert_eq!(record.status, 201);
    assert_eq!(record.path, "/v1/holds");
    let replayed: Hold = serde_json::from_value(record.body).unwrap();
    assert_eq!(replayed, first);
    assert!(his
        .idempotency_record(&key("never-used"))
        .await
        .unwrap()
        .is_none());

    // Keys are per kiosk: another kiosk's identical key is a different write.
    let other = sim.client("K02");
    let e = other.hold(&k, &req).await.unwrap_err();
    assert_eq!(
        e.code(),
        Some(ErrorCode::InvalidState),
        "same patient cannot hold twice in one schedule"
    );

    // The replay header is set on a raw replay.
    let raw = |body: serde_json::Value| {
        sim.raw(Method::POST, "v1/holds")
            .header("Idempotency-Key", "raw-replay-1")
            .json(&body)
            .send()
    };
    let r1 = raw(serde_json::json!({"slot_id": "nope", "patient_id": pid, "referral": false}))
        .await
        .unwrap();
    assert_eq!(r1.status(), 404);
    let r2 = raw(serde_json::json!({"slot_id": "nope", "patient_id": pid, "referral": false}))
        .await
        .unwrap();
    assert_eq!(r2.status(), 404);
    assert_eq!(
        r2.headers()
            .get("Idempotent-Replayed")
            .map(|v| v.to_str().unwrap()),
        Some("true")
    );
}

#[tokio::test]
async fn holds_expire_and_give_the_place_back() {
    let sim = Sim::start_with(|c| c.hold_ttl_secs = 120).await;
    let his = sim.client("K01");
    let (_, _, pid) = known_card(&sim);
    let (sched, slot) = open_slot(&his, today() + Days::days(1), 1).await;
    let hold = his
        .hold(
            &key("hold"),
            &wire::HoldRequest {
                slot_id: slot.slot_id.clone(),
                patient_id: pid.clone(),
                referral: false,
            },
        )
        .await
        .unwrap();
    let ttl = hold.expires_at.signed_duration_since(sim_now(&his).await);
    assert!(
        ttl.num_seconds() > 100 && ttl.num_seconds() <= 120,
        "ttl {ttl}"
    );
    sim.advance(121).await;
    assert_eq!(
        his.get_hold(&hold.hold_id).await.unwrap().status,
        HoldStatus::Expired
    );
    let e = his
        .register(
            &key("post"),
            &wire::RegisterRequest {
                hold_id: hold.hold_id.clone(),
                patient_id: pid,
                payment: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::HoldExpired));
    assert!(e.patient_message().1.contains("timed out"));
    let slots = his.slots(&sched.schedule_id).await.unwrap();
    assert_eq!(
        slots
            .iter()
            .find(|s| s.slot_id == slot.slot_id)
            .unwrap()
            .remaining,
        slot.remaining
    );

    // Released holds give the place back at once, and releasing twice is harmless.
    let (sched, slot) = open_slot(&his, today() + Days::days(4), 1).await;
    let (_, _, pid2) = kiosk::his::sim::seeded_cards(&sim.handle)
        .into_iter()
        .filter(|c| c.0 == CardKind::IdCard)
        .nth(1)
        .unwrap();
    let hold = his
        .hold(
            &key("hold"),
            &wire::HoldRequest {
                slot_id: slot.slot_id.clone(),
                patient_id: pid2,
                referral: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        his.release_hold(&key("release"), &hold.hold_id)
            .await
            .unwrap()
            .status,
        HoldStatus::Released
    );
    assert_eq!(
        his.release_hold(&key("release"), &hold.hold_id)
            .await
            .unwrap()
            .status,
        HoldStatus::Released
    );
    let slots = his.slots(&sched.schedule_id).await.unwrap();
    assert_eq!(
        slots
            .iter()
            .find(|s| s.slot_id == slot.slot_id)
            .unwrap()
            .remaining,
        slot.remaining
    );
}

/// Advance the simulator to 07:30 the next day; returns that date.
async fn morning_after(sim: &Sim, his: &HttpHis) -> chrono::NaiveDate {
    let now = sim_now(his).await;
    let next = now
        .date_naive()
        .succ_opt()
        .unwrap()
        .and_hms_opt(7, 30, 0)
        .unwrap();
    let secs = (next - now.naive_local()).num_seconds();
    sim.advance(secs).await;
    let ping = his.ping().await.unwrap();
    assert_eq!(ping.today, now.date_naive().succ_opt().unwrap());
    ping.today
}

async fn sim_now(his: &HttpHis) -> Instant {
    his.ping().await.unwrap().now
}

#[tokio::test]
async fn two_kiosks_racing_for_the_last_place_exactly_one_wins() {
    let sim = Sim::start().await;
    let k1 = sim.client("K01");
    let k2 = sim.client("K02");
    let ids: Vec<String> = kiosk::his::sim::seeded_cards(&sim.handle)
        .into_iter()
        .filter(|c| c.0 == CardKind::IdCard)
        .map(|c| c.2)
        .collect();
    for round in 0..5 {
        let (sched, slot) = open_slot(&k1, today() + Days::days(5), 1).await;
        // Fill the slot down to its last general place.
        for (i, pid) in ids
            .iter()
            .skip(10 + round * 10)
            .take(slot.remaining as usize - 1)
            .enumerate()
        {
            k1.hold(
                &key(&format!("fill{i}")),
                &wire::HoldRequest {
                    slot_id: slot.slot_id.clone(),
                    patient_id: pid.clone(),
                    referral: false,
                },
            )
            .await
            .unwrap();
        }
        let a = wire::HoldRequest {
            slot_id: slot.slot_id.clone(),
            patient_id: ids[round * 2].clone(),
            referral: false,
        };
        let b = wire::HoldRequest {
            slot_id: slot.slot_id.clone(),
            patient_id: ids[round * 2 + 1].clone(),
            referral: false,
        };
        let (ka, kb) = (key("race"), key("race"));
        let (ra, rb) = tokio::join!(k1.hold(&ka, &a), k2.hold(&kb, &b));
        let wins = [ra.is_ok(), rb.is_ok()].iter().filter(|w| **w).count();
        assert_eq!(wins, 1, "round {round}: {ra:?} / {rb:?}");
        let loser = ra.err().or(rb.err()).unwrap();
        assert_eq!(loser.code(), Some(ErrorCode::SlotFull));
        let slots = k1.slots(&sched.schedule_id).await.unwrap();
        assert_eq!(
            slots
                .iter()
                .find(|s| s.slot_id == slot.slot_id)
                .unwrap()
                .remaining,
            0
        );
    }
}

#[tokio::test]
async fn each_injected_fault_maps_to_its_typed_error() {
    let sim = Sim::start().await;
    let patient = sim.client_with("K01", Duration::from_millis(800), 1);

    // Latency under the timeout: fine. Over it: Timeout.
    sim.fault(serde_json::json!({"operation": "listDepartments", "kind": "latency", "delay_ms": 100, "times": 1})).await;
    patient.departments().await.unwrap();
    sim.fault(serde_json::json!({"operation": "listDepartments", "kind": "latency", "delay_ms": 1500, "times": 1})).await;
    let e = patient.departments().await.unwrap_err();
    assert_eq!(e.kind, HisErrorKind::Timeout);
    assert!(e.is_transient() && !e.outcome_unknown());

    sim.fault(serde_json::json!({"operation": "listDepartments", "kind": "timeout", "times": 1}))
        .await;
    assert_eq!(
        patient.departments().await.unwrap_err().kind,
        HisErrorKind::Timeout
    );

    sim.fault(serde_json::json!({"operation": "listDepartments", "kind": "error", "status": 503, "times": 1})).await;
    let e = patient.departments().await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Unavailable));
    assert!(e.is_transient());
    assert!(e.patient_message().0.contains("繁忙"));

    sim.fault(serde_json::json!({"operation": "listDepartments", "kind": "error", "status": 500, "times": 1})).await;
    assert_eq!(
        patient.departments().await.unwrap_err().code(),
        Some(ErrorCode::Internal)
    );

    sim.fault(serde_json::json!({"operation": "listDepartments", "kind": "malformed", "times": 1}))
        .await;
    let e = patient.departments().await.unwrap_err();
    assert_eq!(e.kind, HisErrorKind::Malformed);
    assert!(
        e.detail.contains("does not match the protocol"),
        "{}",
        e.detail
    );

    // With retries, a transient fault is absorbed.
    let retrying = sim.client_with("K01", Duration::from_millis(800), 3);
    sim.fault(serde_json::json!({"operation": "listDepartments", "kind": "error", "status": 503, "times": 2})).await;
    assert!(retrying.departments().await.unwrap().len() >= 12);
    sim.fault(serde_json::json!({"operation": "listDepartments", "kind": "malformed", "times": 1}))
        .await;
    assert!(retrying.departments().await.unwrap().len() >= 12);

    // Faults can be cleared at run time.
    sim.fault(serde_json::json!({"operation": "*", "kind": "error", "status": 503, "times": null}))
        .await;
    assert!(patient.ping().await.is_err());
    sim.clear_faults().await;
    patient.ping().await.unwrap();

    // Unreachable gateway.
    let dead = kiosk::his::HttpHis::new(kiosk::his::HttpHisConfig::simple(
        url::Url::parse("http://127.0.0.1:9/").unwrap(),
        TOKEN,
        HOSPITAL,
        "K01",
        Duration::from_millis(500),
    ))
    .unwrap();
    assert_eq!(
        dead.ping().await.unwrap_err().kind,
        HisErrorKind::Unreachable
    );
}

#[tokio::test]
async fn a_lost_answer_to_a_write_is_resolved_by_its_key_without_doing_it_twice() {
    let sim = Sim::start().await;
    let (_, _, pid) = known_card(&sim);
    let once = sim.client_with("K01", Duration::from_millis(700), 1);
    let (sched, slot) = open_slot(&once, today() + Days::days(3), 2).await;
    let k = key("hold");
    let req = wire::HoldRequest {
        slot_id: slot.slot_id.clone(),
        patient_id: pid.clone(),
        referral: false,
    };

    sim.fault(serde_json::json!({"operation": "createHold", "kind": "lost_response", "times": 1}))
        .await;
    let e = once.hold(&k, &req).await.unwrap_err();
    assert_eq!(e.kind, HisErrorKind::Timeout);
    assert!(e.outcome_unknown(), "HIS may have done it");
    // Ask, do not guess: HIS did it.
    let record = once
        .idempotency_record(&k)
        .await
        .unwrap()
        .expect("HIS did the write");
    let hold: Hold = serde_json::from_value(record.body).unwrap();
    // And replaying the same key returns the same hold, without a second place taken.
    assert_eq!(once.hold(&k, &req).await.unwrap(), hold);
    let slots = once.slots(&sched.schedule_id).await.unwrap();
    assert_eq!(
        slots
            .iter()
            .find(|s| s.slot_id == slot.slot_id)
            .unwrap()
            .remaining,
        slot.remaining - 1
    );

    // The retrying client resolves the same situation by itself.
    let retrying = sim.client_with("K01", Duration::from_millis(700), 3);
    let (_, _, pid2) = kiosk::his::sim::seeded_cards(&sim.handle)
        .into_iter()
        .filter(|c| c.0 == CardKind::IdCard)
        .nth(3)
        .unwrap();
    let req2 = wire::HoldRequest {
        slot_id: slot.slot_id.clone(),
        patient_id: pid2,
        referral: false,
    };
    sim.fault(serde_json::json!({"operation": "createHold", "kind": "lost_response", "times": 1}))
        .await;
    let k2 = key("hold");
    let h2 = retrying.hold(&k2, &req2).await.unwrap();
    assert_eq!(h2.slot_id, slot.slot_id);
    let slots = once.slots(&sched.schedule_id).await.unwrap();
    assert_eq!(
        slots
            .iter()
            .find(|s| s.slot_id == slot.slot_id)
            .unwrap()
            .remaining,
        slot.remaining - 2
    );
}

#[tokio::test]
async fn the_gateway_refuses_strangers_and_bad_requests_in_its_envelope() {
    let sim = Sim::start().await;
    let mut cfg = kiosk::his::HttpHisConfig::simple(
        sim.base(),
        "wrong",
        HOSPITAL,
        "K01",
        Duration::from_secs(2),
    );
    cfg.max_attempts = 3;
    let stranger = kiosk::his::HttpHis::new(cfg).unwrap();
    let e = stranger.ping().await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Unauthorized));
    assert!(!e.is_transient());
    assert!(
        e.detail.contains("401") && !e.detail.contains("attempts"),
        "not retried: {}",
        e.detail
    );

    let other_hospital = kiosk::his::HttpHis::new(kiosk::his::HttpHisConfig::simple(
        sim.base(),
        TOKEN,
        "H9999",
        "K01",
        Duration::from_secs(2),
    ))
    .unwrap();
    assert_eq!(
        other_hospital.ping().await.unwrap_err().code(),
        Some(ErrorCode::Forbidden)
    );

    let no_token = sim
        .http
        .get(sim.base().join("v1/ping").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);
    let body: wire::ErrorBody = no_token.json().await.unwrap();
    assert_eq!(body.code, ErrorCode::Unauthorized);
    assert!(!body.message_zh.is_empty() && !body.message_en.is_empty() && !body.retryable);

    let no_key = sim
        .raw(Method::POST, "v1/holds")
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), 400);
    let garbage = sim
        .raw(Method::POST, "v1/patients/lookup")
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
    assert_eq!(
        garbage.json::<wire::ErrorBody>().await.unwrap().code,
        ErrorCode::BadRequest
    );
    let unknown_field = sim
        .raw(Method::POST, "v1/patients/lookup")
        .json(&serde_json::json!({"card_kind": "id_card", "card_no": "x", "extra": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_field.status(), 400);
    let bad_date = sim
        .raw(Method::GET, "v1/ledger?date=2026-13-01")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_date.status(), 400);
    let nowhere = sim.raw(Method::GET, "v1/nowhere").send().await.unwrap();
    assert_eq!(nowhere.status(), 404);
    assert_eq!(
        nowhere.json::<wire::ErrorBody>().await.unwrap().code,
        ErrorCode::NotFound
    );
}

#[tokio::test]
async fn the_queue_of_todays_visit_over_http_with_its_errors_and_faults() {
    // 08:37 on the seed day: number 3 is with the doctor (08:30-08:45).
    let sim = Sim::start_with(|c| c.start_time = chrono::NaiveTime::from_hms_opt(8, 37, 0)).await;
    let his = sim.client("K01");
    let patients = kiosk::his::sim::seeded_patients(&sim.handle);
    let mine = &patients[kiosk::his::sim::QUEUE_PATIENT];
    let appt = his
        .appointments(&mine.patient_id, Some(today()))
        .await
        .unwrap()
        .remove(0);
    let q = his.queue(&appt.appointment_id).await.unwrap();
    assert_eq!(q.appointment_id, appt.appointment_id);
    assert_eq!(
        (q.state, q.queue_number, q.now_serving, q.ahead),
        (QueueState::Waiting, Some(8), Some(3), 4)
    );
    assert_eq!(q.estimated_wait_min, Some(68), "called at 09:45");
    assert_eq!(q.location, appt.location);
    assert_eq!(q.department_name_zh, appt.department_name_zh);
    assert_eq!(q.as_of.date_naive(), today());

    // Refusals keep their codes and the gateway's words.
    let e = his.queue("AP999999").await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::NotFound));
    assert!(!e.is_transient());
    // A path parameter is one escaped segment, never more path.
    let e = his.queue("AP000001/cancel").await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::NotFound));
    assert_eq!(
        his.queue("").await.unwrap_err().kind,
        HisErrorKind::InvalidRequest
    );
    let later = his
        .appointments(
            &patients[kiosk::his::sim::FIRST_BOOKED_PATIENT + 12].patient_id,
            None,
        )
        .await
        .unwrap()
        .remove(0);
    assert!(later.date > today());
    let e = his.queue(&later.appointment_id).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::InvalidState));
    let (zh, en) = e.gateway_message.clone().unwrap();
    assert!(zh.contains(&later.date.to_string()), "{zh}");
    assert!(en.contains("day of the appointment"), "{en}");

    // A garbled answer is Malformed; with retries it is absorbed.
    let once = sim.client_with("K01", Duration::from_secs(2), 1);
    sim.fault(serde_json::json!({"operation": "getQueue", "kind": "malformed", "times": 1}))
        .await;
    let e = once.queue(&appt.appointment_id).await.unwrap_err();
    assert_eq!(e.kind, HisErrorKind::Malformed);
    assert!(
        e.detail.contains("does not match the protocol"),
        "{}",
        e.detail
    );
    sim.fault(serde_json::json!({"operation": "getQueue", "kind": "malformed", "times": 2}))
        .await;
    assert_eq!(
        his.queue(&appt.appointment_id).await.unwrap().queue_number,
        Some(8)
    );
    // A silent gateway is a timeout, a busy one 503: both transient reads.
    let quick = sim.client_with("K01", Duration::from_millis(500), 1);
    sim.fault(serde_json::json!({"operation": "getQueue", "kind": "timeout", "times": 1}))
        .await;
    let e = quick.queue(&appt.appointment_id).await.unwrap_err();
    assert_eq!(e.kind, HisErrorKind::Timeout);
    assert!(e.is_transient() && !e.outcome_unknown());
    sim.fault(
        serde_json::json!({"operation": "getQueue", "kind": "error", "status": 503, "times": 1}),
    )
    .await;
    let e = once.queue(&appt.appointment_id).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Unavailable));
}

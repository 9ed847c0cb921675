//! Seeding the simulated hospital, deterministically from one number: the
//! same seed and day give the same departments, doctors, week of timed
//! slots, patients and cards, bills, reports and bookings.

use super::clock::at;
use super::data::{self, Place, DEPARTMENTS, PRICES};
use super::document::{self, Content};
use super::rng::Rng;
use super::store::{self, enum_str, to_json};
use crate::domain::*;
use chrono::{Datelike, Duration, NaiveDate, Weekday};
use rusqlite::{params, Connection};
use std::collections::HashSet;

/// How many patients the seed enrols.
pub const PATIENTS: usize = 86;
/// How many days of schedules are open for booking: today and the next six.
pub const BOOKING_DAYS: i64 = 7;
/// Patients from this index on have seeded appointments; the ones before
/// have none, so tests can hold any slot for them.
pub const FIRST_BOOKED_PATIENT: usize = 60;
/// The patient the demo shows a queue for: checked in on the seed day's
/// morning as number 8 of the session's queue (patients 70, 71 and 80-85 are
/// numbers 1 to 8, checked in from 07:00), in the same session as patient
/// 65's unpaid booking, so at 08:30 number 3 is with the doctor and four are
/// ahead of this patient.
pub const QUEUE_PATIENT: usize = 85;

/// Birth dates are drawn relative to this year (not to the clock), so the
/// patients, and the ID numbers that are not enrolled, depend on the seed only.
const REFERENCE_YEAR: i32 = 2025;

/// A seeded patient, with the full ID number and phone (tests and demos only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedPatient {
    pub patient_id: String,
    pub name: String,
    pub sex: Sex,
    pub birth_date: NaiveDate,
    pub id_number: String,
    pub phone: Option<String>,
    pub insurance: InsuranceType,
    pub priority: bool,
    /// Personal insurance account (employee insurance only).
    pub balance_fen: i64,
    pub cards: Vec<(CardKind, String)>,
}

fn id_number(region: &str, birth: NaiveDate, seq: u32) -> String {
    let first17 = format!("{region}{}{seq:03}", birth.format("%Y%m%d"));
    let check = IdNumber::check_digit(&first17).expect("17 digits");
    format!("{first17}{check}")
}

fn birth_date(rng: &mut Rng, min_age: i32, max_age: i32) -> NaiveDate {
    let year = REFERENCE_YEAR - rng.range(i64::from(min_age), i64::from(max_age)) as i32;
    let day = rng.range(0, 364);
    NaiveDate::from_ymd_opt(year, 1, 1).expect("valid") + Duration::days(day)
}

/// The seed's patients (a pure function of `seed`).
pub fn patients(seed: u64) -> Vec<SeedPatient> {
    let mut rng = Rng::derive(seed, &["patients"]);
    let mut ids = HashSet::new();
    let mut names = HashSet::new();
    let mut insurance_cards = HashSet::new();
    let mut out = Vec::with_capacity(PATIENTS);
    for i in 0..PATIENTS {
        let male = rng.chance(50);
        let (min_age, max_age) = match rng.below(100) {
            0..=14 => (1, 14),
            15..=34 => (15, 39),
            35..=69 => (40, 64),
            _ => (65, 90),
        };
        // Patient 0 is the demo patient: a working-age insured adult.
        let (min_age, max_age) = if i == 0 { (30, 55) } else { (min_age, max_age) };
        let (id, birth) = loop {
            let birth = birth_date(&mut rng, min_age, max_age);
            let region = *rng.pick(data::REGIONS);
            let seq = rng.below(450) as u32 * 2 + u32::from(male);
            let id = id_number(region, birth, seq);
            if ids.insert(id.clone()) {
                break (id, birth);
            }
        };
        let name = loop {
            let surname = *rng.pick(data::SURNAMES);
            let given = *rng.pick(if male {
                data::GIVEN_MALE
            } else {
                data::GIVEN_FEMALE
            });
            let name = format!("{surname}{given}");
            if names.insert(name.clone()) {
                break name;
            }
        };
        let age = REFERENCE_YEAR - birth.year();
        let phone = if i > 0 && age >= 75 && rng.chance(40) {
            None
        } else {
            Some(format!(
                "{}{}",
                rng.pick(data::PHONE_PREFIXES),
                rng.digits(8)
            ))
        };
        let insurance = if i == 0 {
            InsuranceType::Employee
        } else {
            let r = rng.below(100);
            match age {
                0..=17 if r < 85 => InsuranceType::Resident,
                0..=17 => InsuranceType::None,
                18..=70 if r < 55 => InsuranceType::Employee,
                18..=70 if r < 85 => InsuranceType::Resident,
                _ if r < 45 => InsuranceType::Employee,
                _ if r < 90 => InsuranceType::Resident,
                _ => InsuranceType::None,
            }
        };
        let balance_fen = match insurance {
            InsuranceType::Employee if i == 0 => 3000,
            InsuranceType::Employee if rng.chance(30) => rng.range(0, 5000),
            InsuranceType::Employee => rng.range(5000, 250_000),
            _ => 0,
        };
        let priority = (age >= 80 && rng.chance(50)) || rng.chance(6);
        let insured = insurance != InsuranceType::None;
        let mut cards = vec![
            (CardKind::IdCard, id.clone()),
            (CardKind::HealthCard, id.clone()),
        ];
        if insured {
            let no = loop {
                let no = format!("A{}", rng.digits(8));
                if insurance_cards.insert(no.clone()) {
                    break no;
                }
            };
            cards.push((CardKind::InsuranceCard, no));
        }
        if i == 0 || rng.chance(70) {
            let no = 100_000 + i as u64 * 97 + rng.below(97);
            cards.push((CardKind::HospitalCard, format!("H{no:08}")));
        }
        if i == 0 || rng.chance(60) {
            cards.push((CardKind::QrHealthCode, format!("{}:1", rng.hex(64))));
        }
        if insured && (i == 0 || rng.chance(60)) {
            cards.push((
                CardKind::InsuranceEvoucher,
                format!("424{}", rng.digits(25)),
            ));
        }
        out.push(SeedPatient {
            patient_id: format!("P{:06}", i + 1),
            name,
            sex: if male { Sex::Male } else { Sex::Female },
            birth_date: birth,
            id_number: id,
            phone,
            insurance,
            priority,
            balance_fen,
            cards,
        });
    }
    out
}

/// Valid ID numbers that the seed does not enrol (for demonstrating and
/// testing enrolment). Their sequence numbers (900-999) are ones the seed
/// never gives a patient, so they cannot collide.
pub fn unknown_id_numbers(seed: u64) -> Vec<String> {
    let mut rng = Rng::derive(seed, &["unknown-ids"]);
    let mut out: Vec<String> = Vec::new();
    while out.len() < 8 {
        let birth = birth_date(&mut rng, 18, 80);
        let region = *rng.pick(data::REGIONS);
        let seq = 900 + rng.below(100) as u32;
        let id = id_number(region, birth, seq);
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

// ------------------------------------------------------------- schedules

/// Session hours: morning 08:00-12:00, afternoon 13:30-17:00.
fn session_hours(s: Session) -> ((u32, u32), (u32, u32)) {
    match s {
        Session::Morning => ((8, 0), (12, 0)),
        Session::Afternoon => ((13, 30), (17, 0)),
    }
}

/// The slot length actually used: 5 to 120 minutes.
pub fn slot_length(slot_minutes: u32) -> u32 {
    slot_minutes.clamp(5, 120)
}

/// Open the schedules and slots of one day (if that day has none yet).
pub fn open_day(
    conn: &Connection,
    seed: u64,
    date: NaiveDate,
    slot_minutes: u32,
) -> rusqlite::Result<()> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM schedules WHERE date = ?1)",
        [date.to_string()],
        |r| r.get(0),
    )?;
    if exists {
        return Ok(());
    }
    let minutes = slot_length(slot_minutes);
    let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
    let day = date.to_string();
    let compact = date.format("%Y%m%d").to_string();
    let mut ins_schedule = conn.prepare_cached(
        "INSERT INTO schedules (schedule_id, department_id, doctor_id, date, session,
                                start_hm, end_hm, fee_fen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let mut ins_slot = conn.prepare_cached(
        "INSERT INTO slots (slot_id, schedule_id, date, start_hm, end_hm, starts_at, capacity,
                            referral_quota, remaining, referral_remaining)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for dept in &DEPARTMENTS {
        for session in [Session::Morning, Session::Afternoon] {
            let tag = match session {
                Session::Morning => "AM",
                Session::Afternoon => "PM",
            };
            let mut rng = Rng::derive(seed, &["day", &day, dept.code, tag]);
            let share = if weekend { 35 } else { 70 };
            let mut working: Vec<usize> = (0..dept.doctors.len())
                .filter(|_| rng.chance(share))
                .collect();
            if working.is_empty() {
                working.push(rng.below(dept.doctors.len() as u64) as usize);
            }
            let ((sh, sm), (eh, em)) = session_hours(session);
            let start = at(date, sh, sm);
            let end = at(date, eh, em);
            let count = (end - start).num_minutes() / i64::from(minutes);
            for i in working {
                let doc = &dept.doctors[i];
                let doctor_id = dept.doctor_id(i);
                let schedule_id = format!("S{compact}-{doctor_id}-{tag}");
                let popular = doc.title == DoctorTitle::Chief;
                ins_schedule.execute(params![
                    schedule_id,
                    dept.id(),
                    doctor_id,
                    day,
                    enum_str(&session),
                    format!("{sh:02}:{sm:02}"),
                    format!("{eh:02}:{em:02}"),
                    data::fee_fen(doc.title),
                ])?;
                for k in 0..count {
                    let s = start + Duration::minutes(k * i64::from(minutes));
                    let e = s + Duration::minutes(i64::from(minutes));
                    let capacity = rng.range(2, 4);
                    let referral = i64::from(capacity >= 3 && rng.chance(40));
                    let general = capacity - referral;
                    let full = rng.chance(if popular { 20 } else { 8 });
                    // Places already taken through other channels (phone, app, window).
                    let taken = if full {
                        general
                    } else {
                        rng.range(0, general - 1)
                    };
                    let referral_taken = if full && rng.chance(50) { referral } else { 0 };
                    ins_slot.execute(params![
                        format!("{schedule_id}-{:02}", k + 1),
                        schedule_id,
                        day,
                        s.format("%H:%M").to_string(),
                        e.format("%H:%M").to_string(),
                        s.timestamp(),
                        capacity,
                        referral,
                        general - taken,
                        referral - referral_taken,
                    ])?;
                }
            }
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ seed

/// Whether the store has been seeded already.
pub fn is_seeded(conn: &Connection) -> rusqlite::Result<bool> {
    Ok(store::meta(conn, "seeded")?.is_some())
}

/// Seed an empty store (call inside one transaction).
pub fn seed(
    conn: &Connection,
    seed: u64,
    today: NaiveDate,
    slot_minutes: u32,
) -> rusqlite::Result<()> {
    seed_reference(conn)?;
    for d in 0..BOOKING_DAYS {
        open_day(conn, seed, today + Duration::days(d), slot_minutes)?;
    }
    let patients = patients(seed);
    seed_patients(conn, &patients, today)?;
    seed_appointments(conn, seed, &patients, today)?;
    seed_bills(conn, seed, &patients, today)?;
    seed_reports(conn, seed, &patients, today)?;
    store::set_meta(conn, "seeded", &today.to_string())?;
    store::set_meta(conn, "seed", &seed.to_string())?;
    Ok(())
}

fn seed_reference(conn: &Connection) -> rusqlite::Result<()> {
    let mut ins_dept = conn.prepare_cached(
        "INSERT INTO departments (department_id, seq, name_zh, name_en, location)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut ins_doc = conn.prepare_cached(
        "INSERT INTO doctors (doctor_id, department_id, seq, name, title, specialty_zh,
                              specialty_en, fee_fen, location)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for (n, dept) in DEPARTMENTS.iter().enumerate() {
        ins_dept.execute(params![
            dept.id(),
            n as i64,
            dept.zh,
            dept.en,
            to_json(&dept.location())
        ])?;
        for (i, doc) in dept.doctors.iter().enumerate() {
            ins_doc.execute(params![
                dept.doctor_id(i),
                dept.id(),
                i as i64,
                doc.name,
                enum_str(&doc.title),
                doc.specialty_zh,
                doc.specialty_en,
                data::fee_fen(doc.title),
                to_json(&dept.room(i)),
            ])?;
        }
    }
    let mut ins_price = conn.prepare_cached(
        "INSERT INTO prices (code, seq, name_zh, name_en, pinyin_initials, category, spec, unit,
                             price_fen, insurance_class)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for (n, p) in PRICES.iter().enumerate() {
        ins_price.execute(params![
            p.code,
            n as i64,
            p.zh,
            p.en,
            p.py,
            enum_str(&p.category),
            p.spec,
            p.unit,
            p.fen,
            enum_str(&p.class),
        ])?;
    }
    Ok(())
}

/// Enrol one patient with their cards.
pub fn insert_patient(
    conn: &Connection,
    p: &SeedPatient,
    seeded: bool,
    created_at: i64,
) -> rusqlite::Result<()> {
    let seq: i64 = conn.query_row("SELECT COUNT(*) FROM patients", [], |r| r.get(0))?;
    conn.execute(
        "INSERT INTO patients (patient_id, seq, name, sex, birth_date, id_number, phone, insurance,
                               priority, balance_fen, seeded, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            p.patient_id,
            seq,
            p.name,
            enum_str(&p.sex),
            p.birth_date.to_string(),
            p.id_number,
            p.phone,
            enum_str(&p.insurance),
            p.priority,
            p.balance_fen,
            seeded,
            created_at,
        ],
    )?;
    let mut ins_card =
        conn.prepare_cached("INSERT INTO cards (kind, card_no, patient_id) VALUES (?1, ?2, ?3)")?;
    for (kind, no) in &p.cards {
        ins_card.execute(params![enum_str(kind), no, p.patient_id])?;
    }
    Ok(())
}

fn seed_patients(
    conn: &Connection,
    patients: &[SeedPatient],
    today: NaiveDate,
) -> rusqlite::Result<()> {
    let created = at(today - Duration::days(400), 9, 0).timestamp();
    for p in patients {
        insert_patient(conn, p, true, created)?;
    }
    // Later ids continue after the seeded ones.
    conn.execute(
        "INSERT INTO counters (name, value) VALUES ('P', ?1)
         ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        [patients.len() as i64],
    )?;
    Ok(())
}

/// Bookings made earlier through other channels, so check-in and cancel
/// can be shown today: paid and unpaid bookings today, same-day
/// registrations already checked in (a queue of eight in the session of the
/// first morning booking, checked in from 07:00 every five minutes in number
/// order), and bookings later in the week.
fn seed_appointments(
    conn: &Connection,
    seed: u64,
    patients: &[SeedPatient],
    today: NaiveDate,
) -> rusqlite::Result<()> {
    // The session the checked-in patients queue in: the first morning booking's.
    let mut queue_schedule: Option<String> = None;
    for (idx, p) in patients.iter().enumerate().skip(FIRST_BOOKED_PATIENT) {
        let n = idx - FIRST_BOOKED_PATIENT;
        let (day, session, checked_in, paid) = match n {
            0..=4 => (0, Session::Afternoon, false, true),
            5..=7 => (0, Session::Morning, false, false),
            8..=9 => (0, Session::Afternoon, false, false),
            10..=11 => (0, Session::Morning, true, true),
            12..=19 => ((n as i64 - 12) % 6 + 1, Session::Morning, false, n % 2 == 0),
            _ => (0, Session::Morning, true, true),
        };
        let mut rng = Rng::derive(seed, &["appointment", &p.patient_id]);
        let date = today + Duration::days(day);
        let dept = &DEPARTMENTS[(n * 5 + 1) % DEPARTMENTS.len()];
        let in_queue = if checked_in {
            queue_schedule.as_deref()
        } else {
            None
        };
        let candidates: Vec<(String, String, i64)> = {
            let mut st = conn.prepare_cached(
                "SELECT sl.slot_id, s.schedule_id, s.fee_fen FROM slots sl
                 JOIN schedules s ON s.schedule_id = sl.schedule_id
                 WHERE s.date = ?2 AND s.session = ?3 AND sl.remaining > 0
                   AND CASE WHEN ?4 IS NULL THEN s.department_id = ?1
                            ELSE s.schedule_id = ?4 END
                 ORDER BY sl.starts_at, sl.slot_id",
            )?;
            let rows = st.query_map(
                params![dept.id(), date.to_string(), enum_str(&session), in_queue],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        if candidates.is_empty() {
            continue;
        }
        // Late-session slots, so a demo at any hour still finds them ahead;
        // any slot of the session for those who queue in it.
        let from = if in_queue.is_some() {
            0
        } else {
            candidates.len() / 2
        };
        let (slot_id, schedule_id, fee) =
            &candidates[from + rng.below((candidates.len() - from) as u64) as usize];
        if n == 5 {
            queue_schedule = Some(schedule_id.clone());
        }
        store::take_place(conn, slot_id, false)?;
        let queue = if checked_in {
            let q: i64 = conn.query_row(
                "SELECT COALESCE(MAX(queue_number), 0) + 1 FROM appointments WHERE schedule_id = ?1",
                [schedule_id],
                |r| r.get(0),
            )?;
            Some(q)
        } else {
            None
        };
        // Checked in at the window in number order, from 07:00.
        let booked_at = match queue {
            Some(q) => at(today, 7, 0) + Duration::minutes(5 * (q - 1)),
            None => at(
                today - Duration::days(rng.range(1, 5)),
                20,
                rng.range(0, 59) as u32,
            ),
        };
        let appointment_id = store::next_id(conn, "AP", 6)?;
        let payment = paid.then(|| PaymentRef {
            channel: if rng.chance(50) {
                PayChannel::Wechat
            } else {
                PayChannel::Alipay
            },
            trade_no: format!("APP{}{:04}", booked_at.format("%Y%m%d"), idx),
            amount_fen: Money::from_fen(*fee),
            paid_at: booked_at,
        });
        let (kind, status) = if checked_in {
            (AppointmentKind::Registration, AppointmentStatus::CheckedIn)
        } else {
            (AppointmentKind::Booking, AppointmentStatus::Booked)
        };
        conn.execute(
            "INSERT INTO appointments (appointment_id, patient_id, schedule_id, slot_id, hold_id,
                                       kind, status, referral, fee_fen, fee_paid, queue_number,
                                       payment, refund_due_fen, created_at, checked_in_at)
             VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?6, 0, ?7, ?8, ?9, ?10, 0, ?11, ?12)",
            params![
                appointment_id,
                p.patient_id,
                schedule_id,
                slot_id,
                enum_str(&kind),
                enum_str(&status),
                fee,
                paid,
                queue,
                payment.as_ref().map(to_json),
                booked_at.timestamp(),
                queue.map(|_| booked_at.timestamp()),
            ],
        )?;
    }
    Ok(())
}

fn seed_bills(
    conn: &Connection,
    seed: u64,
    patients: &[SeedPatient],
    today: NaiveDate,
) -> rusqlite::Result<()> {
    for (idx, p) in patients.iter().enumerate() {
        let mut rng = Rng::derive(seed, &["bills", &p.patient_id]);
        let unpaid = if idx == 0 {
            2
        } else if rng.chance(55) {
            rng.range(1, 2)
        } else {
            0
        };
        let paid = i64::from(rng.chance(30));
        for b in 0..(unpaid + paid) {
            let status = if b < unpaid {
                BillStatus::Unpaid
            } else {
                BillStatus::Paid
            };
            let dept = if idx == 0 && b == 0 {
                &DEPARTMENTS[0]
            } else {
                rng.pick(&DEPARTMENTS)
            };
            let doctor = rng.pick(&dept.doctors);
            let days_ago = if status == BillStatus::Paid {
                rng.range(5, 30)
            } else {
                rng.range(0, 2)
            };
            let created = if days_ago == 0 {
                at(today, 7, rng.range(0, 59) as u32)
            } else {
                at(
                    today - Duration::days(days_ago),
                    rng.range(8, 16) as u32,
                    rng.range(0, 59) as u32,
                )
            };
            let window = 1 + rng.below(6) as u32;
            let mut codes: Vec<&str> = dept.orders.to_vec();
            let n = (rng.range(2, 4) as usize).min(codes.len());
            let mut chosen = Vec::with_capacity(n);
            for _ in 0..n {
                let i = rng.below(codes.len() as u64) as usize;
                chosen.push(codes.remove(i));
            }
            let bill_id = store::next_id(conn, "BL", 6)?;
            conn.execute(
                "INSERT INTO bills (bill_id, patient_id, status, created_at, department_name_zh,
                                    department_name_en, doctor_name, total_fen)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0)",
                params![
                    bill_id,
                    p.patient_id,
                    enum_str(&status),
                    created.timestamp(),
                    dept.zh,
                    dept.en,
                    doctor.name,
                ],
            )?;
            let mut total = 0i64;
            for (seq, code) in chosen.iter().enumerate() {
                let Some(item) = data::price(code) else {
                    continue;
                };
                let qty = if item.category == ItemCategory::Drug {
                    rng.range(1, 3)
                } else {
                    1
                };
                let amount = item.fen * qty;
                total += amount;
                let location = item.place.location(window);
                conn.execute(
                    "INSERT INTO bill_items (item_id, bill_id, seq, code, name_zh, name_en,
                         category, spec, unit, quantity, unit_price_fen, amount_fen,
                         insurance_class, location)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                    params![
                        format!("{bill_id}-{:02}", seq + 1),
                        bill_id,
                        seq as i64,
                        item.code,
                        item.zh,
                        item.en,
                        enum_str(&item.category),
                        item.spec,
                        item.unit,
                        qty,
                        item.fen,
                        amount,
                        enum_str(&item.class),
                        location.as_ref().map(to_json),
                    ],
                )?;
            }
            conn.execute(
                "UPDATE bills SET total_fen = ?2 WHERE bill_id = ?1",
                params![bill_id, total],
            )?;
        }
    }
    Ok(())
}

fn seed_reports(
    conn: &Connection,
    seed: u64,
    patients: &[SeedPatient],
    today: NaiveDate,
) -> rusqlite::Result<()> {
    for (idx, p) in patients.iter().enumerate() {
        let mut rng = Rng::derive(seed, &["reports", &p.patient_id]);
        // (lab?, pending?) for each report; the first patients have a fixed mix.
        let plan: Vec<(bool, bool)> = match idx {
            0 => vec![(true, false), (false, false)],
            1 => vec![(true, true), (true, false)],
            2 => vec![(false, true)],
            _ if rng.chance(70) => (0..rng.range(1, 3))
                .map(|_| (rng.chance(70), rng.chance(30)))
                .collect(),
            _ => Vec::new(),
        };
        for (lab, pending) in plan {
            let report_id = store::next_id(conn, "RP", 6)?;
            let (kind, title_zh, title_en, dept_zh, content) = if lab {
                let t = rng.pick(data::LAB_REPORTS);
                let content = Content::Lab {
                    department_en: "Clinical Laboratory".into(),
                    rows: document::lab_rows(t, &mut rng),
                };
                (ReportKind::Lab, t.zh, t.en, "检验科", content)
            } else {
                let t = rng.pick(data::EXAM_REPORTS);
                let (findings, impression) = if rng.chance(60) {
                    t.normal
                } else {
                    *rng.pick(t.abnormal)
                };
                let content = Content::Exam {
                    department_en: t.dept_en.into(),
                    findings: findings.into(),
                    impression: impression.into(),
                };
                (ReportKind::Exam, t.zh, t.en, t.dept_zh, content)
            };
            let (status, ordered, ready, expected) = if pending {
                let ordered = at(
                    today - Duration::days(rng.range(0, 1)),
                    7,
                    rng.range(0, 59) as u32,
                );
                let expected = at(
                    today + Duration::days(rng.range(2, 3)),
                    if rng.chance(50) { 10 } else { 16 },
                    0,
                );
                (ReportStatus::Pending, ordered, None, Some(expected))
            } else {
                let ordered = at(
                    today - Duration::days(rng.range(1, 12)),
                    rng.range(8, 10) as u32,
                    rng.range(0, 59) as u32,
                );
                let ready = ordered + Duration::minutes(rng.range(90, 480));
                (ReportStatus::Ready, ordered, Some(ready), None)
            };
            let print_count = i64::from(!pending && rng.chance(20));
            conn.execute(
                "INSERT INTO reports (report_id, patient_id, kind, title_zh, title_en,
                     department_name_zh, ordered_at, status, ready_at, expected_at, pages,
                     print_count, content)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    report_id,
                    p.patient_id,
                    enum_str(&kind),
                    title_zh,
                    title_en,
                    dept_zh,
                    ordered.timestamp(),
                    enum_str(&status),
                    ready.map(|t| t.timestamp()),
                    expected.map(|t| t.timestamp()),
                    document::page_count(&content),
                    print_count,
                    to_json(&content),
                ],
            )?;
        }
    }
    Ok(())
}

/// Where an item of the price list is carried out (for settlement steps).
pub fn place_of(code: &str) -> Place {
    data::price(code).map_or(Place::Nowhere, |p| p.place)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    #[test]
    fn every_seeded_id_number_is_valid_and_unique() {
        let ps = patients(7);
        assert_eq!(ps.len(), PATIENTS);
        let mut seen = HashSet::new();
        for p in &ps {
            let id = IdNumber::parse(&p.id_number, today()).expect(&p.patient_id);
            assert_eq!(id.birth_date(), p.birth_date);
            assert_eq!(id.is_male(), p.sex == Sex::Male);
            assert!(seen.insert(p.id_number.clone()));
            if let Some(phone) = &p.phone {
                Phone::parse(phone).unwrap();
            }
            for (kind, no) in &p.cards {
                assert!(
                    super::super::service::card_format_ok(*kind, no),
                    "{kind:?} {no}"
                );
            }
            if p.insurance == InsuranceType::Employee {
                assert!(p.balance_fen >= 0);
            } else {
                assert_eq!(p.balance_fen, 0);
            }
        }
        let unknown = unknown_id_numbers(7);
        assert!(unknown.len() >= 5);
        for u in &unknown {
            IdNumber::parse(u, today()).unwrap();
            assert!(!seen.contains(u), "{u} is enrolled");
        }
        // Every kind of card exists somewhere, and patient 0 has them all.
        for kind in [
            CardKind::IdCard,
            CardKind::HealthCard,
            CardKind::InsuranceCard,
            CardKind::HospitalCard,
            CardKind::QrHealthCode,
            CardKind::InsuranceEvoucher,
        ] {
            assert!(ps[0].cards.iter().any(|c| c.0 == kind), "{kind:?}");
        }
        assert!(ps.iter().any(|p| p.insurance == InsuranceType::None));
        assert!(ps.iter().any(|p| p.insurance == InsuranceType::Resident));
        assert!(ps.iter().any(|p| p.priority));
        assert!(ps.iter().any(|p| p.phone.is_none()));
        assert_eq!(patients(7), ps, "deterministic");
        assert_ne!(patients(8)[0].id_number, ps[0].id_number);
    }

    fn seeded() -> Connection {
        let conn = store::open(std::path::Path::new(":memory:")).unwrap();
        let t = std::time::Instant::now();
        seed(&conn, 7, today(), 15).unwrap();
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
        conn
    }

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn the_seed_meets_the_minimums() {
        let conn = seeded();
        assert!(count(&conn, "SELECT COUNT(*) FROM departments") >= 12);
        assert!(count(&conn, "SELECT COUNT(*) FROM doctors") >= 40);
        assert!(count(&conn, "SELECT COUNT(DISTINCT doctor_id) FROM schedules") >= 40);
        assert!(count(&conn, "SELECT COUNT(*) FROM patients") >= 50);
        assert!(count(&conn, "SELECT COUNT(*) FROM prices") >= 80);
        assert_eq!(
            count(&conn, "SELECT COUNT(DISTINCT date) FROM schedules"),
            7
        );
        assert!(count(&conn, "SELECT COUNT(*) FROM slots WHERE remaining = 0") > 0);
        assert!(count(&conn, "SELECT COUNT(*) FROM slots WHERE referral_quota > 0") > 0);
        assert!(count(&conn, "SELECT COUNT(*) FROM bills WHERE status = 'unpaid'") >= 30);
        assert!(count(&conn, "SELECT COUNT(*) FROM reports WHERE status = 'ready'") >= 20);
        assert!(
            count(
                &conn,
                "SELECT COUNT(*) FROM reports WHERE status = 'pending'"
            ) >= 5
        );
        assert!(
            count(
                &conn,
                "SELECT COUNT(*) FROM appointments a JOIN slots s ON s.slot_id = a.slot_id
                 WHERE s.date = '2026-11-23' AND a.status = 'booked'"
            ) >= 5
        );
        assert!(
            count(
                &conn,
                "SELECT COUNT(*) FROM appointments WHERE status = 'checked_in'"
            ) >= 1
        );
        // One session has a queue of eight checked in from 07:00, the last
        // the queue patient, beside patient 65's booking.
        let queue = |conn: &Connection| -> Vec<(String, i64, i64)> {
            let mut st = conn
                .prepare(&format!(
                    "SELECT a.patient_id, a.queue_number, a.checked_in_at FROM appointments a
                     WHERE a.status = 'checked_in' AND a.schedule_id =
                       (SELECT schedule_id FROM appointments WHERE patient_id = 'P{:06}')
                     ORDER BY a.queue_number",
                    QUEUE_PATIENT + 1
                ))
                .unwrap();
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        let q = queue(&conn);
        assert_eq!(q.len(), 8, "{q:?}");
        assert_eq!(q[7].0, format!("P{:06}", QUEUE_PATIENT + 1));
        for (i, (_, number, at_)) in q.iter().enumerate() {
            assert_eq!(*number, i as i64 + 1);
            assert_eq!(*at_, at(today(), 7, 5 * i as u32).timestamp());
        }
        assert_eq!(
            count(
                &conn,
                &format!(
                    "SELECT COUNT(*) FROM appointments a JOIN appointments b
                     ON a.schedule_id = b.schedule_id
                     WHERE a.patient_id = 'P{:06}' AND b.patient_id = 'P000066'",
                    QUEUE_PATIENT + 1
                )
            ),
            1
        );
        let demo = store::open(std::path::Path::new(":memory:")).unwrap();
        seed(&demo, 1, today(), 15).unwrap();
        assert_eq!(queue(&demo).len(), 8, "the demo's seed has the queue too");
        // Every department runs both sessions every day.
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM (SELECT DISTINCT department_id, date, session FROM schedules)"
            ),
            16 * 2 * 7
        );
        // Bills add up.
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM bills b WHERE total_fen !=
                 (SELECT SUM(amount_fen) FROM bill_items i WHERE i.bill_id = b.bill_id)"
            ),
            0
        );
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM slots WHERE remaining > capacity - referral_quota"
            ),
            0
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_hospital() {
        let dump = |conn: &Connection| -> Vec<String> {
            let mut out = Vec::new();
            for table in ["slots", "appointments", "bill_items", "reports", "cards"] {
                let mut st = conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
                let n = st.column_count();
                let rows = st
                    .query_map([], |r| {
                        let mut s = String::new();
                        for i in 0..n {
                            let v: rusqlite::types::Value = r.get(i)?;
                            s.push_str(&format!("{v:?}|"));
                        }
                        Ok(s)
                    })
                    .unwrap();
                out.extend(rows.map(Result::unwrap));
            }
            out
        };
        assert_eq!(dump(&seeded()), dump(&seeded()));
    }

    #[test]
    fn slots_are_cut_at_the_configured_length() {
        let conn = store::open(std::path::Path::new(":memory:")).unwrap();
        seed_reference(&conn).unwrap();
        open_day(&conn, 1, today(), 20).unwrap();
        let mut st = conn
            .prepare("SELECT start_hm, end_hm FROM slots WHERE schedule_id LIKE '%-PM' ")
            .unwrap();
        let rows: Vec<(String, String)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(!rows.is_empty());
        for (s, e) in rows {
            let s = chrono::NaiveTime::parse_from_str(&s, "%H:%M").unwrap();
            let e = chrono::NaiveTime::parse_from_str(&e, "%H:%M").unwrap();
            assert_eq!((e - s).num_minutes(), 20);
            assert!(e <= chrono::NaiveTime::from_hms_opt(17, 0, 0).unwrap());
        }
    }
}

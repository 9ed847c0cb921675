//! The simulator over real HTTP on loopback, with raw requests (the typed
//! client's tests are in `tests/his_http.rs`).

use super::*;
use crate::domain::*;
use crate::his::wire::{ErrorBody, ErrorCode, IdempotencyRecord};
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};
use std::time::Duration;

struct Sim {
    handle: SimHandle,
    _dir: tempfile::TempDir,
    http: reqwest::Client,
    base: String,
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&self.body));
        })
    }
    fn error(&self) -> ErrorBody {
        assert_eq!(
            self.headers["content-type"], "application/json",
            "status {}",
            self.status
        );
        serde_json::from_slice(&self.body).expect("the error envelope")
    }
}

fn today() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

async fn start(seed: u64) -> Sim {
    start_at(seed, None).await
}

/// `time`: the clock starts at that time of day (else the real one).
async fn start_at(seed: u64, time: Option<chrono::NaiveTime>) -> Sim {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SimConfig {
        seed,
        today: Some(today()),
        start_time: time,
        token: "t".into(),
        hold_ttl_secs: 60,
        db_path: dir.path().join("his.db"),
        ..SimConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let handle = spawn(cfg, listener).await.unwrap();
    let base = format!("http://{}", handle.addr);
    Sim {
        handle,
        _dir: dir,
        http: reqwest::Client::new(),
        base,
    }
}

impl Sim {
    fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth("t")
            .header("X-Hospital-Id", "H0001")
            .header("X-Kiosk-Id", "K01")
    }

    async fn send(&self, rb: RequestBuilder) -> Answer {
        let r = rb.send().await.unwrap();
        Answer {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.bytes().await.unwrap().to_vec(),
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(self.req(Method::GET, path)).await
    }

    async fn post(&self, path: &str, key: &str, body: Value) -> Answer {
        self.send(
            self.req(Method::POST, path)
                .header("Idempotency-Key", key)
                .json(&body),
        )
        .await
    }

    async fn advance(&self, secs: i64) {
        let a = self
            .send(
                self.http
                    .post(format!("{}/sim/clock", self.base))
                    .bearer_auth("t")
                    .json(&json!({ "advance_secs": secs })),
            )
            .await;
        assert_eq!(a.status, 200);
    }

    async fn fault(&self, f: Value) {
        let a = self
            .send(
                self.http
                    .post(format!("{}/sim/faults", self.base))
                    .bearer_auth("t")
                    .json(&f),
            )
            .await;
        assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
    }

    /// A slot tomorrow with at least one general place, and its schedule.
    async fn open_slot(&self, days: i64, pick: impl Fn(&Value) -> bool) -> (Value, Value) {
        let date = today() + chrono::Duration::days(days);
        for d in self.get("/v1/departments").await.json()["departments"]
            .as_array()
            .unwrap()
        {
            let id = d["department_id"].as_str().unwrap();
            let list = self
                .get(&format!("/v1/schedules?department_id={id}&date={date}"))
                .await
                .json();
            for s in list["schedules"].as_array().unwrap() {
                let sid = s["schedule_id"].as_str().unwrap();
                let slots = self.get(&format!("/v1/schedules/{sid}/slots")).await.json();
                for slot in slots["slots"].as_array().unwrap() {
                    if pick(slot) {
                        return (s.clone(), slot.clone());
                    }
                }
            }
        }
        panic!("no such slot");
    }

    async fn slot(&self, schedule_id: &str, slot_id: &str) -> Value {
        let slots = self
            .get(&format!("/v1/schedules/{schedule_id}/slots"))
            .await
            .json();
        slots["slots"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["slot_id"] == slot_id)
            .unwrap()
            .clone()
    }
}

#[tokio::test]
async fn the_same_seed_answers_byte_for_byte_the_same() {
    let (a, b, c) = (start(5).await, start(5).await, start(6).await);
    let tomorrow = today() + chrono::Duration::days(1);
    let paths = [
        "/v1/departments".to_string(),
        format!("/v1/schedules?department_id=D03&date={tomorrow}"),
        format!(
            "/v1/schedules/S{}-DR0301-AM/slots",
            tomorrow.format("%Y%m%d")
        ),
        "/v1/prices?limit=200".into(),
        "/v1/patients/P000001/bills?status=all".into(),
        "/v1/patients/P000001/reports".into(),
        "/v1/patients/P000070/appointments".into(),
        "/v1/reports/RP000001/document".into(),
    ];
    let mut differs = false;
    for p in &paths {
        let (x, y, z) = (a.get(p).await, b.get(p).await, c.get(p).await);
        assert!(x.status == 200 || x.status == 404, "{p}: {}", x.status);
        assert_eq!(x.body, y.body, "{p}");
        differs |= x.body != z.body;
    }
    assert!(differs, "another seed, another hospital");
    assert_eq!(seeded_cards(&a.handle), seeded_cards(&b.handle));
    let pdf = a.get("/v1/reports/RP000001/document").await;
    assert_eq!(pdf.headers["content-type"], "application/pdf");
    assert_eq!(pdf::tests::check_structure(&pdf.body), 1);
    for s in [a, b, c] {
        s.handle.shutdown().await;
    }
}

#[tokio::test]
async fn every_refusal_is_the_envelope() {
    let sim = start(1).await;
    let e = sim
        .send(
            sim.req(Method::GET, "/v1/nowhere")
                .header("X-Request-Id", "req-42"),
        )
        .await;
    assert_eq!(e.status, 404);
    assert_eq!(e.headers["x-request-id"], "req-42");
    assert_eq!(e.error().code, ErrorCode::NotFound);

    let e = sim.send(sim.req(Method::PUT, "/v1/holds")).await;
    assert_eq!(e.status, 405);
    assert_eq!(e.headers["allow"], "POST");
    assert_eq!(e.error().code, ErrorCode::BadRequest);

    let e = sim
        .send(
            sim.http
                .get(format!("{}/v1/ping", sim.base))
                .bearer_auth("x"),
        )
        .await;
    assert_eq!((e.status, e.error().code), (401, ErrorCode::Unauthorized));
    let e = sim
        .send(
            sim.http
                .get(format!("{}/v1/ping", sim.base))
                .bearer_auth("t")
                .header("X-Hospital-Id", "H0001"),
        )
        .await;
    assert_eq!((e.status, e.error().code), (400, ErrorCode::BadRequest));
    let e = sim
        .send(
            sim.http
                .get(format!("{}/v1/ping", sim.base))
                .bearer_auth("t")
                .header("X-Hospital-Id", "H0002")
                .header("X-Kiosk-Id", "K01"),
        )
        .await;
    assert_eq!((e.status, e.error().code), (403, ErrorCode::Forbidden));

    for (path, body) in [
        ("/v1/holds", "{\"slot_id\": 1}"),
        ("/v1/holds", "[]"),
        ("/v1/holds", ""),
        (
            "/v1/pre-settlements",
            "{\"patient_id\":\"P000001\",\"bill_ids\":[],\"use_insurance\":true}",
        ),
    ] {
        let e = sim
            .send(
                sim.req(Method::POST, path)
                    .header("Idempotency-Key", "k-1")
                    .body(body),
            )
            .await;
        assert_eq!(
            (e.status, e.error().code),
            (400, ErrorCode::BadRequest),
            "{body}"
        );
    }
    for q in [
        "/v1/ledger",
        "/v1/ledger?date=2026-02-30",
        "/v1/prices?limit=-1",
        "/v1/prices?category=x",
        "/v1/patients/P000001/bills?status=owed",
    ] {
        assert_eq!(sim.get(q).await.error().code, ErrorCode::BadRequest, "{q}");
    }
    let e = sim
        .post("/v1/holds/HD999999/release", "k-2", json!(null))
        .await;
    assert_eq!((e.status, e.error().code), (404, ErrorCode::NotFound));
    let e = sim.get("/v1/idempotency/never").await;
    assert_eq!((e.status, e.error().code), (404, ErrorCode::NotFound));
    let clock = sim
        .send(sim.http.get(format!("{}/sim/clock", sim.base)))
        .await;
    assert_eq!(clock.error().code, ErrorCode::Unauthorized);
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn referral_places_expiry_and_started_slots() {
    let sim = start(2).await;
    let pid = "P000001";
    let (sched, slot) = sim
        .open_slot(1, |s| {
            s["referral_remaining"].as_u64() > Some(0) && s["remaining"].as_u64() > Some(0)
        })
        .await;
    let (sid, slot_id) = (
        sched["schedule_id"].as_str().unwrap(),
        slot["slot_id"].as_str().unwrap(),
    );
    let h = sim
        .post(
            "/v1/holds",
            "h-1",
            json!({"slot_id": slot_id, "patient_id": pid, "referral": true}),
        )
        .await;
    assert_eq!(h.status, 201);
    let now = sim.slot(sid, slot_id).await;
    assert_eq!(
        now["referral_remaining"].as_u64().unwrap() + 1,
        slot["referral_remaining"].as_u64().unwrap()
    );
    assert_eq!(now["remaining"], slot["remaining"]);
    // The same patient cannot take a second place in the same schedule.
    let again = sim
        .post(
            "/v1/holds",
            "h-2",
            json!({"slot_id": slot_id, "patient_id": pid, "referral": false}),
        )
        .await;
    assert_eq!(again.error().code, ErrorCode::InvalidState);

    sim.advance(61).await;
    let hold: Hold = serde_json::from_slice(
        &sim.get(&format!(
            "/v1/holds/{}",
            h.json()["hold_id"].as_str().unwrap()
        ))
        .await
        .body,
    )
    .unwrap();
    assert_eq!(hold.status, HoldStatus::Expired);
    assert_eq!(sim.slot(sid, slot_id).await, slot, "the place is back");

    // Two days on, tomorrow's slots have started: no places shown, none held.
    sim.advance(2 * 86_400).await;
    let past = sim.slot(sid, slot_id).await;
    assert_eq!(
        (
            past["remaining"].as_u64(),
            past["referral_remaining"].as_u64()
        ),
        (Some(0), Some(0))
    );
    let late = sim
        .post(
            "/v1/holds",
            "h-3",
            json!({"slot_id": slot_id, "patient_id": "P000002", "referral": false}),
        )
        .await;
    assert_eq!(late.error().code, ErrorCode::InvalidState);
    // And the booking window moved with the clock.
    let far = today() + chrono::Duration::days(8);
    let list = sim
        .get(&format!("/v1/schedules?department_id=D01&date={far}"))
        .await
        .json();
    assert!(!list["schedules"].as_array().unwrap().is_empty());
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn a_full_slot_answer_is_remembered_under_its_key() {
    let sim = start(3).await;
    let (sched, slot) = sim
        .open_slot(2, |s| {
            s["remaining"].as_u64() == Some(1) && s["referral_remaining"].as_u64() == Some(0)
        })
        .await;
    let slot_id = slot["slot_id"].as_str().unwrap();
    let ok = sim
        .post(
            "/v1/holds",
            "f-1",
            json!({"slot_id": slot_id, "patient_id": "P000001", "referral": false}),
        )
        .await;
    assert_eq!(ok.status, 201);
    let body = json!({"slot_id": slot_id, "patient_id": "P000002", "referral": true});
    let full = sim.post("/v1/holds", "f-2", body.clone()).await;
    assert_eq!(full.error().code, ErrorCode::SlotFull);
    let replay = sim.post("/v1/holds", "f-2", body).await;
    assert_eq!(replay.body, full.body);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    let record: IdempotencyRecord =
        serde_json::from_slice(&sim.get("/v1/idempotency/f-2").await.body).unwrap();
    assert_eq!((record.status, record.method.as_str()), (409, "POST"));
    assert_eq!(record.body["code"], "SLOT_FULL");
    assert_eq!(
        sim.slot(sched["schedule_id"].as_str().unwrap(), slot_id)
            .await["remaining"],
        0
    );
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn reports_come_out_when_expected_and_enrolled_patients_are_found() {
    let sim = start(4).await;
    let reports = sim.get("/v1/patients/P000002/reports").await.json();
    let pending = reports["reports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["status"] == "pending")
        .unwrap()
        .clone();
    let id = pending["report_id"].as_str().unwrap();
    assert_eq!(
        sim.get(&format!("/v1/reports/{id}/document"))
            .await
            .error()
            .code,
        ErrorCode::InvalidState
    );
    sim.advance(4 * 86_400).await;
    let doc = sim.get(&format!("/v1/reports/{id}/document")).await;
    assert_eq!(doc.status, 200);
    assert!(doc.body.starts_with(b"%PDF-1.4"));
    let printed = sim
        .post(&format!("/v1/reports/{id}/printed"), "p-1", json!(null))
        .await
        .json();
    assert_eq!(
        (printed["status"].as_str(), printed["print_count"].as_u64()),
        (Some("ready"), Some(1))
    );

    let id_number = unknown_id_numbers(4)[2].clone();
    let enrolled = sim
        .post(
            "/v1/patients",
            "e-1",
            json!({"name": "欧阳小明", "id_number": id_number, "phone": "13900001111"}),
        )
        .await;
    assert_eq!(enrolled.status, 201);
    let p: Patient = serde_json::from_slice(&enrolled.body).unwrap();
    assert_eq!(p.phone_masked.as_deref(), Some("139****1111"));
    assert_eq!(p.insurance, InsuranceType::None);
    let found = sim
        .send(
            sim.req(Method::POST, "/v1/patients/lookup")
                .json(&json!({"card_kind": "health_card", "card_no": id_number.to_lowercase()})),
        )
        .await;
    assert_eq!(found.json()["patient_id"], p.patient_id.as_str());
    // An insured patient's social security number is their ID number.
    let first = &seeded_patients(&sim.handle)[0];
    assert_ne!(first.insurance, InsuranceType::None);
    let by_ssn = sim
        .send(
            sim.req(Method::POST, "/v1/patients/lookup")
                .json(&json!({"card_kind": "insurance_card", "card_no": first.id_number})),
        )
        .await;
    assert_eq!(by_ssn.json()["patient_id"], first.patient_id.as_str());
    assert!(first
        .cards
        .iter()
        .any(|c| c.0 == CardKind::InsuranceEvoucher));
    let bad_phone = sim
        .post(
            "/v1/patients",
            "e-2",
            json!({"name": "王五", "id_number": unknown_id_numbers(4)[3], "phone": "12345"}),
        )
        .await;
    assert_eq!(bad_phone.error().code, ErrorCode::BadRequest);
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn hung_requests_neither_block_others_nor_shutdown() {
    let sim = start(5).await;
    sim.fault(json!({"operation": "ping", "kind": "timeout", "times": null}))
        .await;
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let hung = quick
        .get(format!("{}/v1/ping", sim.base))
        .bearer_auth("t")
        .header("X-Hospital-Id", "H0001")
        .header("X-Kiosk-Id", "K01")
        .send()
        .await;
    assert!(hung.unwrap_err().is_timeout());
    assert_eq!(sim.get("/v1/departments").await.status, 200);

    // A lost answer: done, remembered, and replayed.
    let (_, slot) = sim
        .open_slot(3, |s| s["remaining"].as_u64() > Some(0))
        .await;
    sim.fault(json!({"operation": "createHold", "kind": "lost_response"}))
        .await;
    let body = json!({"slot_id": slot["slot_id"], "patient_id": "P000003", "referral": false});
    let lost = quick
        .post(format!("{}/v1/holds", sim.base))
        .bearer_auth("t")
        .header("X-Hospital-Id", "H0001")
        .header("X-Kiosk-Id", "K01")
        .header("Idempotency-Key", "lost-1")
        .json(&body)
        .send()
        .await;
    assert!(lost.unwrap_err().is_timeout());
    let record = sim.get("/v1/idempotency/lost-1").await.json();
    assert_eq!(record["status"], 201);
    let replay = sim.post("/v1/holds", "lost-1", body).await;
    assert_eq!(replay.json(), record["body"]);

    sim.fault(json!({"operation": "*", "kind": "malformed", "times": 1}))
        .await;
    let garbled = sim.get("/v1/departments").await;
    assert_eq!(garbled.status, 200);
    assert!(serde_json::from_slice::<Value>(&garbled.body).is_err());

    tokio::time::timeout(Duration::from_secs(8), sim.handle.shutdown())
        .await
        .expect("shutdown does not wait for hung requests");
}

/// The seeded appointment of the patient with this index (the first one).
async fn seeded_appointment(sim: &Sim, index: usize) -> Appointment {
    let pid = &seeded_patients(&sim.handle)[index].patient_id;
    let list = sim
        .get(&format!("/v1/patients/{pid}/appointments"))
        .await
        .json();
    serde_json::from_value(list["appointments"][0].clone()).unwrap()
}

async fn queue_of(sim: &Sim, appointment_id: &str) -> QueueStatus {
    let a = sim
        .get(&format!("/v1/appointments/{appointment_id}/queue"))
        .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    serde_json::from_slice(&a.body).unwrap()
}

#[tokio::test]
async fn the_queue_moves_with_the_clock() {
    // The demo's seed and start: the queue patient is number 8 of 8, checked
    // in from 07:00; the doctor starts at 08:00, 15 minutes a patient.
    let sim = start_at(1, chrono::NaiveTime::from_hms_opt(7, 30, 0)).await;
    let mine = seeded_appointment(&sim, QUEUE_PATIENT).await;
    assert_eq!(mine.status, AppointmentStatus::CheckedIn);
    assert_eq!(mine.queue_number, Some(8));
    let booked = seeded_appointment(&sim, 65).await;
    assert_eq!(booked.status, AppointmentStatus::Booked);
    assert_eq!(booked.schedule_id, mine.schedule_id, "the same session");
    let at = |q: &QueueStatus| q.as_of.format("%H:%M").to_string();

    // Before the session: nobody called yet.
    let q = queue_of(&sim, &mine.appointment_id).await;
    assert_eq!(at(&q), "07:30");
    assert_eq!(
        (q.state, q.queue_number, q.now_serving, q.ahead),
        (QueueState::Waiting, Some(8), None, 7)
    );
    assert_eq!(q.estimated_wait_min, Some(135), "called at 09:45");
    assert_eq!(q.location, mine.location);
    assert_eq!(
        (q.doctor_name.as_str(), q.department_name_en.as_str()),
        (mine.doctor_name.as_str(), mine.department_name_en.as_str())
    );
    let b = queue_of(&sim, &booked.appointment_id).await;
    assert_eq!(
        (b.state, b.queue_number, b.now_serving, b.ahead),
        (QueueState::NotCheckedIn, None, None, 8)
    );
    assert_eq!(b.estimated_wait_min, Some(150), "if checked in now: 10:00");

    // 08:37: number 3 is with the doctor (08:30-08:45), 4 to 7 wait.
    sim.advance(67 * 60).await;
    let q = queue_of(&sim, &mine.appointment_id).await;
    assert_eq!(at(&q), "08:37");
    assert_eq!(
        (q.state, q.now_serving, q.ahead, q.estimated_wait_min),
        (QueueState::Waiting, Some(3), 4, Some(68))
    );
    let b = queue_of(&sim, &booked.appointment_id).await;
    assert_eq!(
        (b.state, b.now_serving, b.ahead, b.estimated_wait_min),
        (QueueState::NotCheckedIn, Some(3), 5, Some(83))
    );

    // 09:50: called at 09:45.
    sim.advance(73 * 60).await;
    let q = queue_of(&sim, &mine.appointment_id).await;
    assert_eq!(
        (q.state, q.now_serving, q.ahead, q.estimated_wait_min),
        (QueueState::Called, Some(8), 0, Some(0))
    );

    // 10:20: seen; the room is idle, so a patient checking in now is called
    // at once, not back when the doctor became free (10:00).
    sim.advance(30 * 60).await;
    let q = queue_of(&sim, &mine.appointment_id).await;
    assert_eq!(
        (q.state, q.now_serving, q.ahead, q.estimated_wait_min),
        (QueueState::Seen, Some(8), 0, None)
    );
    let b = queue_of(&sim, &booked.appointment_id).await;
    assert_eq!(
        (b.state, b.ahead, b.estimated_wait_min),
        (QueueState::NotCheckedIn, 0, Some(0))
    );
    let paid = json!({"payment": {"channel": "wechat", "trade_no": "T-Q1",
        "amount_fen": booked.fee_fen, "paid_at": "2026-11-23T10:20:00+08:00"}});
    let checked = sim
        .post(
            &format!("/v1/appointments/{}/check-in", booked.appointment_id),
            "q-1",
            paid,
        )
        .await;
    assert_eq!(
        checked.status,
        200,
        "{}",
        String::from_utf8_lossy(&checked.body)
    );
    let b = queue_of(&sim, &booked.appointment_id).await;
    assert_eq!(
        (
            b.state,
            b.queue_number,
            b.now_serving,
            b.ahead,
            b.estimated_wait_min
        ),
        (QueueState::Called, Some(9), Some(9), 0, Some(0))
    );
    sim.advance(16 * 60).await;
    assert_eq!(
        queue_of(&sim, &booked.appointment_id).await.state,
        QueueState::Seen
    );

    // The next day the appointment is not today's any more.
    sim.advance(86_400).await;
    let e = sim
        .get(&format!("/v1/appointments/{}/queue", mine.appointment_id))
        .await
        .error();
    assert_eq!(e.code, ErrorCode::InvalidState);
    assert!(e.message_zh.contains("2026-11-23"), "{}", e.message_zh);
    assert!(
        e.message_en.contains("day of the appointment"),
        "{}",
        e.message_en
    );
    sim.handle.shutdown().await;
}

#[tokio::test]
async fn no_queue_for_unknown_cancelled_or_other_day_appointments() {
    let sim = start_at(7, chrono::NaiveTime::from_hms_opt(9, 0, 0)).await;
    let e = sim.get("/v1/appointments/AP999999/queue").await;
    assert_eq!((e.status, e.error().code), (404, ErrorCode::NotFound));

    // Patient 60: a paid booking this afternoon; its session has not started.
    let afternoon = seeded_appointment(&sim, FIRST_BOOKED_PATIENT).await;
    let q = queue_of(&sim, &afternoon.appointment_id).await;
    assert_eq!(
        (q.state, q.queue_number, q.now_serving, q.ahead),
        (QueueState::NotCheckedIn, None, None, 0)
    );
    let cancelled = sim
        .post(
            &format!("/v1/appointments/{}/cancel", afternoon.appointment_id),
            "c-1",
            json!({"reason": "改期"}),
        )
        .await;
    assert_eq!(cancelled.status, 200);
    let e = sim
        .get(&format!(
            "/v1/appointments/{}/queue",
            afternoon.appointment_id
        ))
        .await;
    assert_eq!((e.status, e.error().code), (409, ErrorCode::InvalidState));
    assert!(e.error().message_zh.contains("取消"));

    // Patient 72: a booking tomorrow.
    let later = seeded_appointment(&sim, FIRST_BOOKED_PATIENT + 12).await;
    assert_eq!(later.date, today() + chrono::Duration::days(1));
    let e = sim
        .get(&format!("/v1/appointments/{}/queue", later.appointment_id))
        .await;
    assert_eq!((e.status, e.error().code), (409, ErrorCode::InvalidState));
    sim.handle.shutdown().await;
}

//! The OpenAPI 3.0 document of the HIS gateway protocol, generated from the
//! very types the client and the simulator serialize (`schemars`), and the
//! operation table in `ops.rs`. `docs/his-gateway.openapi.yaml` is this
//! document (JSON, which is YAML); a test fails when the file is stale.

use super::ops::Operation;
use super::wire::*;
use crate::domain::*;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};

struct Op {
    op: Operation,
    summary: &'static str,
    tag: &'static str,
    path_params: &'static [&'static str],
    query: Vec<Value>,
    body: Option<Value>,
    ok: (u16, Value),
}

fn schema_ref<T: JsonSchema>(g: &mut SchemaGenerator) -> Value {
    g.subschema_for::<T>().to_value()
}

fn q(name: &str, required: bool, schema: Value, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": required, "schema": schema, "description": description})
}

fn operations(g: &mut SchemaGenerator) -> Vec<Op> {
    use Operation::*;
    let date = json!({"type": "string", "format": "date"});
    let mut v = Vec::new();
    let mut add = |op, summary, tag, path_params, query, body, ok| {
        v.push(Op {
            op,
            summary,
            tag,
            path_params,
            query,
            body,
            ok,
        })
    };
    add(
        Ping,
        "Gateway identity, clock and business date",
        "system",
        &[],
        vec![],
        None,
        (200, schema_ref::<super::wire::Ping>(g)),
    );
    add(
        LookupPatient,
        "Find a patient by a card or code",
        "patients",
        &[],
        vec![],
        Some(schema_ref::<LookupPatientRequest>(g)),
        (200, schema_ref::<Patient>(g)),
    );
    add(
        EnrollPatient,
        "Enroll a new patient (real name, ID number, phone)",
        "patients",
        &[],
        vec![],
        Some(schema_ref::<EnrollRequest>(g)),
        (201, schema_ref::<Patient>(g)),
    );
    add(
        ListDepartments,
        "Clinic departments with their locations",
        "schedules",
        &[],
        vec![],
        None,
        (200, schema_ref::<DepartmentList>(g)),
    );
    add(
        ListSchedules,
        "Doctors' sessions of a department on a date",
        "schedules",
        &[],
        vec![
            q(
                "department_id",
                true,
                json!({"type": "string", "minLength": 1}),
                "Department id",
            ),
            q("date", true, date.clone(), "Business date (YYYY-MM-DD)"),
        ],
        None,
        (200, schema_ref::<ScheduleList>(g)),
    );
    add(
        ListSlots,
        "Timed slots of a session",
        "schedules",
        &["schedule_id"],
        vec![],
        None,
        (200, schema_ref::<SlotList>(g)),
    );
    add(
        CreateHold,
        "Hold a slot while the patient pays",
        "holds",
        &[],
        vec![],
        Some(schema_ref::<HoldRequest>(g)),
        (201, schema_ref::<Hold>(g)),
    );
    add(
        GetHold,
        "A hold and its status",
        "holds",
        &["hold_id"],
        vec![],
        None,
        (200, schema_ref::<Hold>(g)),
    );
    add(
        ReleaseHold,
        "Release a hold",
        "holds",
        &["hold_id"],
        vec![],
        None,
        (200, schema_ref::<Hold>(g)),
    );
    add(
        CreateAppointment,
        "Register (same day) or book (later day) on a hold",
        "appointments",
        &[],
        vec![],
        Some(schema_ref::<RegisterRequest>(g)),
        (201, schema_ref::<Appointment>(g)),
    );
    add(
        ListAppointments,
        "A patient's appointments",
        "appointments",
        &["patient_id"],
        vec![q("date", false, date.clone(), "Only this date")],
        None,
        (200, schema_ref::<AppointmentList>(g)),
    );
    add(
        CheckIn,
        "Check in a booked appointment on its day, paying the fee if owed",
        "appointments",
        &["appointment_id"],
        vec![],
        Some(schema_ref::<CheckInRequest>(g)),
        (200, schema_ref::<Appointment>(g)),
    );
    add(
        CancelAppointment,
        "Cancel a booked appointment before its slot",
        "appointments",
        &["appointment_id"],
        vec![],
        Some(schema_ref::<CancelRequest>(g)),
        (200, schema_ref::<Appointment>(g)),
    );
    add(
        GetQueue,
        "The patient's place in today's queue of the appointment's session",
        "appointments",
        &["appointment_id"],
        vec![],
        None,
        (200, schema_ref::<QueueStatus>(g)),
    );
    add(
        ListBills,
        "A patient's outpatient bills with items",
        "billing",
        &["patient_id"],
        vec![q(
            "status",
            false,
            json!({"type": "string", "enum": ["unpaid", "paid", "all"], "default": "unpaid"}),
            "Which bills",
        )],
        None,
        (200, schema_ref::<BillList>(g)),
    );
    add(
        PreSettle,
        "Pre-settle bills: the insurance / self-pay split",
        "billing",
        &[],
        vec![],
        Some(schema_ref::<PreSettleRequest>(g)),
        (201, schema_ref::<PreSettlement>(g)),
    );
    add(
        Settle,
        "Settle a pre-settlement with the self-pay payment",
        "billing",
        &[],
        vec![],
        Some(schema_ref::<SettleRequest>(g)),
        (201, schema_ref::<Settlement>(g)),
    );
    add(
        ListReports,
        "A patient's lab and exam reports",
        "reports",
        &["patient_id"],
        vec![],
        None,
        (200, schema_ref::<ReportList>(g)),
    );
    add(
        GetReportDocument,
        "A ready report as PDF",
        "reports",
        &["report_id"],
        vec![],
        None,
        (200, json!(null)),
    );
    add(
        MarkReportPrinted,
        "Record that a report was printed",
        "reports",
        &["report_id"],
        vec![],
        None,
        (200, schema_ref::<Report>(g)),
    );
    add(
        ListPrices,
        "Search the price list by name, code or pinyin initials",
        "prices",
        &[],
        vec![
            q(
                "q",
                false,
                json!({"type": "string"}),
                "Name (Chinese or English), code prefix or pinyin initials",
            ),
            q(
                "category",
                false,
                schema_ref::<ItemCategory>(g),
                "Only this category",
            ),
            q(
                "offset",
                false,
                json!({"type": "integer", "minimum": 0, "default": 0}),
                "Skip this many matches",
            ),
            q(
                "limit",
                false,
                json!({"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
                "At most this many",
            ),
        ],
        None,
        (200, schema_ref::<PriceList>(g)),
    );
    add(
        GetLedger,
        "This kiosk's posted money movements of a day (reconciliation)",
        "ledger",
        &[],
        vec![q("date", true, date, "Business date")],
        None,
        (200, schema_ref::<Ledger>(g)),
    );
    add(
        GetIdempotencyRecord,
        "What the gateway remembers of a keyed write",
        "system",
        &["key"],
        vec![],
        None,
        (200, schema_ref::<IdempotencyRecord>(g)),
    );
    v
}

/// OpenAPI 3.0 wants `nullable` beside a plain schema, not beside `$ref`, and
/// every property present: serde writes every field, `None` as `null`.
fn fix(v: &mut Value) {
    match v {
        Value::Object(map) => {
            // `Option<Struct>`: anyOf [$ref, null] -> allOf [$ref] + nullable.
            let null_alt = |v: &Value| v.get("enum").is_some_and(|e| e == &json!([null]));
            if let Some(Value::Array(alts)) = map.get("anyOf") {
                if alts.len() == 2 && alts.iter().any(null_alt) {
                    let other = alts
                        .iter()
                        .find(|a| !null_alt(a))
                        .cloned()
                        .unwrap_or_default();
                    map.remove("anyOf");
                    map.insert("allOf".into(), json!([other]));
                    map.insert("nullable".into(), json!(true));
                }
            }
            if map.contains_key("$ref") && map.len() > 1 {
                let r = map.remove("$ref").unwrap_or_default();
                map.insert("allOf".into(), json!([{"$ref": r}]));
            }
            map.remove("$schema");
            if let Some(Value::Object(props)) = map.get("properties") {
                let keys: Vec<Value> = props.keys().map(|k| Value::String(k.clone())).collect();
                map.insert("required".into(), Value::Array(keys));
            }
            if map
                .get("format")
                .and_then(Value::as_str)
                .is_some_and(|f| f.starts_with("uint"))
            {
                map.remove("format");
            }
            for (_, child) in map.iter_mut() {
                fix(child);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(fix),
        _ => {}
    }
}

/// The whole document.
pub fn document() -> Value {
    let mut g = SchemaSettings::openapi3().into_generator();
    let ops = operations(&mut g);
    let error = schema_ref::<ErrorBody>(&mut g);
    let mut paths = Map::new();
    for o in &ops {
        let (method, path) = o.op.route();
        let mut params = vec![
            json!({"$ref": "#/components/parameters/HospitalId"}),
            json!({"$ref": "#/components/parameters/KioskId"}),
            json!({"$ref": "#/components/parameters/RequestId"}),
        ];
        if o.op.is_write() {
            params.push(json!({"$ref": "#/components/parameters/IdempotencyKey"}));
        }
        for p in o.path_params {
            params.push(json!({"name": p, "in": "path", "required": true, "schema": {"type": "string", "minLength": 1}}));
        }
        params.extend(o.query.iter().cloned());
        let ok_content = if o.op == Operation::GetReportDocument {
            json!({"application/pdf": {"schema": {"type": "string", "format": "binary"}}})
        } else {
            json!({"application/json": {"schema": o.ok.1}})
        };
        let mut responses = Map::new();
        let ok_desc = if o.ok.0 == 201 {
            "Created (a replay of the same key returns the first answer)"
        } else {
            "OK"
        };
        responses.insert(
            o.ok.0.to_string(),
            json!({"description": ok_desc, "content": ok_content}),
        );
        let mut errs = vec!["400", "401", "403", "404", "500", "503"];
        if o.op.is_write() || matches!(o.op, Operation::GetReportDocument | Operation::GetQueue) {
            errs.push("409");
        }
        errs.sort();
        for e in errs {
            responses.insert(
                e.into(),
                json!({"$ref": format!("#/components/responses/E{e}")}),
            );
        }
        let mut op = json!({
            "operationId": o.op.id(),
            "summary": o.summary,
            "tags": [o.tag],
            "parameters": params,
            "responses": responses,
        });
        if let Some(body) = &o.body {
            op["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": body}}});
        }
        let item = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        item[method.to_ascii_lowercase()] = op;
    }
    let err_resp = |d: &str| json!({"description": d, "content": {"application/json": {"schema": error.clone()}}});
    let mut schemas = Value::Object(g.take_definitions(true).into_iter().collect());
    fix(&mut schemas);
    let mut paths = Value::Object(paths);
    fix(&mut paths);
    let tags: Vec<Value> = [
        "system",
        "patients",
        "schedules",
        "holds",
        "appointments",
        "billing",
        "reports",
        "prices",
        "ledger",
    ]
    .iter()
    .map(|t| json!({ "name": t }))
    .collect();
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "HIS gateway protocol for self-service kiosks",
            "version": "1.0.0",
            "description": "One JSON-over-HTTPS protocol that a hospital's HIS gateway (前置机) implements for the outpatient self-service kiosks. See docs/his-gateway.md. Amounts are integer fen; dates YYYY-MM-DD; instants RFC 3339 with +08:00. Every field is always present; absent values are null. Generated from the kiosk's source (src/his/openapi.rs)."
        },
        "servers": [{"url": "http://127.0.0.1:8701", "description": "kiosk his-sim"}],
        "security": [{"bearer": []}],
        "tags": tags,
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "parameters": {
                "HospitalId": {"name": "X-Hospital-Id", "in": "header", "required": true, "description": "The hospital the kiosk belongs to", "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9_-]+$"}},
                "KioskId": {"name": "X-Kiosk-Id", "in": "header", "required": true, "description": "The calling kiosk", "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9_-]+$"}},
                "RequestId": {"name": "X-Request-Id", "in": "header", "required": false, "description": "Echoed back for tracing", "schema": {"type": "string", "maxLength": 128}},
                "IdempotencyKey": {"name": "Idempotency-Key", "in": "header", "required": true, "description": "One key per side effect, reused on every retry; a replay returns the first answer, a replay with another body is 409 IDEMPOTENCY_KEY_REUSED", "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"}}
            },
            "responses": {
                "E400": err_resp("Bad request: malformed body, invalid field, missing header"),
                "E401": err_resp("Missing or wrong bearer token"),
                "E403": err_resp("Unknown hospital or kiosk"),
                "E404": err_resp("No such resource (or patient)"),
                "E409": err_resp("Conflict: slot full, hold expired, invalid state, amount mismatch, key reused"),
                "E500": err_resp("Gateway or HIS failure (retryable)"),
                "E503": err_resp("HIS unavailable (retryable)")
            },
            "schemas": schemas
        }
    })
}

/// The document as committed in `docs/`.
pub fn document_text() -> String {
    let mut s = serde_json::to_string_pretty(&document()).expect("serializable");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_documented_once() {
        let doc = document();
        for op in Operation::ALL {
            let (method, path) = op.route();
            let o = &doc["paths"][path][method.to_ascii_lowercase()];
            assert_eq!(o["operationId"], op.id(), "{path}");
        }
    }

    #[test]
    fn the_committed_file_is_current() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/his-gateway.openapi.yaml");
        let text = document_text();
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "docs/his-gateway.openapi.yaml is stale: run UPDATE_OPENAPI=1 cargo test --lib openapi"
        );
    }
}

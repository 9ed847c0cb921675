//! Reading the seeded patients back, for tests and demos that need a
//! known card or patient.

use super::seed::SeedPatient;
use super::{store, SimHandle};
use crate::domain::{CardKind, InsuranceType, Sex};

fn with_conn<T>(
    handle: &SimHandle,
    f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let db = handle
        .app
        .shared
        .db
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    f(&db.conn)
}

const CARD_ORDER: &str = "CASE c.kind WHEN 'id_card' THEN 0 WHEN 'health_card' THEN 1
    WHEN 'insurance_card' THEN 2 WHEN 'hospital_card' THEN 3 WHEN 'qr_health_code' THEN 4
    ELSE 5 END";

/// Every card of every seeded patient: (kind, card number, patient id),
/// patient by patient in seed order. Empty if the store cannot be read.
pub fn seeded_cards(handle: &SimHandle) -> Vec<(CardKind, String, String)> {
    let read = |conn: &rusqlite::Connection| {
        let mut st = conn.prepare(&format!(
            "SELECT c.kind, c.card_no, c.patient_id FROM cards c
             JOIN patients p ON p.patient_id = c.patient_id
             WHERE p.seeded = 1 ORDER BY p.seq, {CARD_ORDER}"
        ))?;
        let rows = st.query_map([], |r| Ok((store::get_enum(r, 0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect()
    };
    with_conn(handle, read).unwrap_or_default()
}

/// The seeded patients with their full details and cards (tests and demos).
pub fn seeded_patients(handle: &SimHandle) -> Vec<SeedPatient> {
    let cards = seeded_cards(handle);
    let read = |conn: &rusqlite::Connection| {
        let mut st = conn.prepare(
            "SELECT patient_id, name, sex, birth_date, id_number, phone, insurance, priority,
                    balance_fen
             FROM patients WHERE seeded = 1 ORDER BY seq",
        )?;
        let rows = st.query_map([], |r| {
            let patient_id: String = r.get(0)?;
            Ok(SeedPatient {
                cards: cards
                    .iter()
                    .filter(|c| c.2 == patient_id)
                    .map(|c| (c.0, c.1.clone()))
                    .collect(),
                patient_id,
                name: r.get(1)?,
                sex: store::get_enum::<Sex>(r, 2)?,
                birth_date: store::get_date(r, 3)?,
                id_number: r.get(4)?,
                phone: r.get(5)?,
                insurance: store::get_enum::<InsuranceType>(r, 6)?,
                priority: r.get(7)?,
                balance_fen: r.get(8)?,
            })
        })?;
        rows.collect()
    };
    with_conn(handle, read).unwrap_or_default()
}

//! Finding patients by card, and enrolling new ones (建档).

use super::error::{ApiError, ApiResult, Reply};
use super::seed::{self, SeedPatient};
use super::service::{card_format_ok, Ctx};
use super::store::{self, enum_str, PATIENT_COLS};
use crate::domain::*;
use crate::his::wire::{EnrollRequest, ErrorCode, LookupPatientRequest};
use rusqlite::{Connection, OptionalExtension};

/// The card number as stored: ID numbers upper-case, QR codes lower-case.
fn normalize(kind: CardKind, no: &str) -> String {
    let no = no.trim();
    match kind {
        CardKind::QrHealthCode => no.to_ascii_lowercase(),
        _ => no.to_ascii_uppercase(),
    }
}

pub fn lookup(conn: &Connection, ctx: &Ctx, req: &LookupPatientRequest) -> ApiResult<Reply> {
    let no = normalize(req.card_kind, &req.card_no);
    if !card_format_ok(req.card_kind, &no) {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "卡号格式不正确",
            format!("not a valid {} number", enum_str(&req.card_kind)),
        ));
    }
    let by_id_number = no.len() == 18;
    if by_id_number {
        IdNumber::parse(&no, ctx.today()).map_err(|e| {
            ApiError::new(
                ErrorCode::BadRequest,
                "身份证号码无效",
                format!("invalid ID number: {e}"),
            )
        })?;
    }
    let found = if req.card_kind == CardKind::InsuranceCard && by_id_number {
        // A social security number is the ID number of an insured patient.
        conn.query_row(
            &format!(
                "SELECT {PATIENT_COLS} FROM patients WHERE id_number = ?1 AND insurance != 'none'"
            ),
            [no],
            store::patient_row,
        )
        .optional()?
    } else {
        conn.query_row(
            &format!(
                "SELECT {PATIENT_COLS} FROM patients WHERE patient_id =
                   (SELECT patient_id FROM cards WHERE kind = ?1 AND card_no = ?2)"
            ),
            [enum_str(&req.card_kind), no],
            store::patient_row,
        )
        .optional()?
    };
    match found {
        Some(p) => {
            tracing::debug!(patient_id = %p.patient_id, kind = ?req.card_kind, "patient found");
            Ok(Reply::ok(&p))
        }
        None => Err(ApiError::new(
            ErrorCode::PatientNotFound,
            "未找到该卡对应的患者，请先建档",
            "no patient holds this card; enroll first",
        )),
    }
}

pub fn enroll(conn: &Connection, ctx: &Ctx, req: &EnrollRequest) -> ApiResult<Reply> {
    let name = req.name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > 30 || name.chars().any(char::is_control) {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "姓名不正确",
            "name must be 1 to 30 characters",
        ));
    }
    let id = IdNumber::parse(&req.id_number, ctx.today()).map_err(|e| {
        ApiError::new(
            ErrorCode::BadRequest,
            "身份证号码无效",
            format!("invalid ID number: {e}"),
        )
    })?;
    let phone = Phone::parse(&req.phone).map_err(|e| {
        ApiError::new(
            ErrorCode::BadRequest,
            "手机号码无效",
            format!("invalid mobile number: {e}"),
        )
    })?;
    let existing: Option<String> = conn
        .query_row(
            "SELECT patient_id FROM patients WHERE id_number = ?1",
            [id.expose()],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(pid) = existing {
        tracing::info!(patient_id = %pid, id = %id.masked(), "enrolment refused: already enrolled");
        return Err(ApiError::new(
            ErrorCode::AlreadyEnrolled,
            "该身份证号已建档，请直接刷卡就诊",
            "a patient with this ID number is already enrolled",
        ));
    }
    let patient_id = store::next_id(conn, "P", 6)?;
    let card = 90_000_000 + store::next_seq(conn, "hospital_card")?;
    let p = SeedPatient {
        patient_id: patient_id.clone(),
        name: name.to_string(),
        sex: if id.is_male() { Sex::Male } else { Sex::Female },
        birth_date: id.birth_date(),
        id_number: id.expose().to_string(),
        phone: Some(phone.expose().to_string()),
        insurance: InsuranceType::None,
        priority: false,
        balance_fen: 0,
        cards: vec![
            (CardKind::IdCard, id.expose().to_string()),
            (CardKind::HealthCard, id.expose().to_string()),
            (CardKind::HospitalCard, format!("H{card:08}")),
        ],
    };
    seed::insert_patient(conn, &p, false, ctx.unix())?;
    tracing::info!(%patient_id, id = %id.masked(), phone = %phone.masked(), "patient enrolled");
    let created = store::require_patient(conn, &patient_id)?;
    Ok(Reply::created(&created))
}

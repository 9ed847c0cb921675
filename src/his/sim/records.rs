//! Reports and their documents, the price list (R9) and the kiosk ledger.

use super::document::{self, Content, Header};
use super::error::{ApiError, ApiResult, Reply, PDF};
use super::service::Ctx;
use super::store;
use crate::domain::*;
use crate::his::wire::*;
use chrono::NaiveDate;
use rusqlite::Connection;

pub fn reports(conn: &Connection, patient_id: &str) -> ApiResult<Reply> {
    store::require_patient(conn, patient_id)?;
    Ok(Reply::ok(&ReportList {
        reports: store::reports_of(conn, patient_id)?,
    }))
}

fn require_ready(conn: &Connection, report_id: &str) -> ApiResult<Report> {
    let report =
        store::report(conn, report_id)?.ok_or_else(|| ApiError::not_found("报告", "report"))?;
    if report.status != ReportStatus::Ready {
        let when = report
            .expected_at
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default();
        return Err(ApiError::invalid_state(
            format!("报告尚未出具，预计{when}可取"),
            format!("the report is not ready yet (expected {when})"),
        ));
    }
    Ok(report)
}

pub fn document(conn: &Connection, ctx: &Ctx, report_id: &str) -> ApiResult<Reply> {
    let report = require_ready(conn, report_id)?;
    let content: Content = conn.query_row(
        "SELECT content FROM reports WHERE report_id = ?1",
        [report_id],
        |r| store::get_json(r, 0),
    )?;
    let patient = store::require_patient(conn, &report.patient_id)?;
    let body = document::render(
        &Header {
            hospital_en: &ctx.settings.hospital_en,
            report: &report,
            patient: &patient,
            now: ctx.now,
        },
        &content,
    );
    Ok(Reply {
        status: 200,
        content_type: PDF,
        body,
    })
}

pub fn mark_printed(conn: &Connection, report_id: &str) -> ApiResult<Reply> {
    require_ready(conn, report_id)?;
    conn.execute(
        "UPDATE reports SET print_count = print_count + 1 WHERE report_id = ?1",
        [report_id],
    )?;
    let report = require_ready(conn, report_id)?;
    tracing::debug!(%report_id, patient_id = %report.patient_id, prints = report.print_count, "report printed");
    Ok(Reply::ok(&report))
}

/// A price-list query: `q` matches the Chinese name or the English name
/// (substring, case-insensitive), the code, or the pinyin initials (prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceSearch {
    pub q: Option<String>,
    pub category: Option<ItemCategory>,
    pub offset: u32,
    pub limit: u32,
}

fn matches(item: &PriceItem, q: &str) -> bool {
    let lower = q.to_lowercase();
    let upper = q.to_uppercase();
    item.name_zh.contains(q)
        || item.name_en.to_lowercase().contains(&lower)
        || item.code.to_uppercase().starts_with(&upper)
        || item.pinyin_initials.starts_with(&upper)
}

pub fn prices(conn: &Connection, s: &PriceSearch) -> ApiResult<Reply> {
    let mut st = conn.prepare_cached(
        "SELECT code, name_zh, name_en, pinyin_initials, category, spec, unit, price_fen,
                insurance_class
         FROM prices ORDER BY seq",
    )?;
    let all = st
        .query_map([], |r| {
            Ok(PriceItem {
                code: r.get(0)?,
                name_zh: r.get(1)?,
                name_en: r.get(2)?,
                pinyin_initials: r.get(3)?,
                category: store::get_enum(r, 4)?,
                spec: r.get(5)?,
                unit: r.get(6)?,
                price_fen: store::get_money(r, 7)?,
                insurance_class: store::get_enum(r, 8)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let hits: Vec<PriceItem> = all
        .into_iter()
        .filter(|i| s.category.is_none_or(|c| i.category == c))
        .filter(|i| s.q.as_deref().is_none_or(|q| matches(i, q)))
        .collect();
    let total = hits.len() as u32;
    let items = hits
        .into_iter()
        .skip(s.offset as usize)
        .take(s.limit as usize)
        .collect();
    Ok(Reply::ok(&PriceList { items, total }))
}

pub fn ledger(conn: &Connection, ctx: &Ctx, date: NaiveDate) -> ApiResult<Reply> {
    let entries = store::ledger(conn, ctx.kiosk, date)?;
    let total_fen = Money::sum(entries.iter().map(|e| e.amount_fen))?;
    Ok(Reply::ok(&Ledger {
        date,
        kiosk_id: ctx.kiosk.to_string(),
        entries,
        total_fen,
    }))
}

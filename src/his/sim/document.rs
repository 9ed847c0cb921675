//! Report documents: the results stored with a report, and their layout as
//! a PDF (ASCII only: the standard PDF fonts have no Chinese glyphs, so the
//! document carries English titles and the masked ID number, never a name).

use super::data::{LabTemplate, Measure};
use super::pdf::{self, Page};
use super::rng::Rng;
use crate::domain::{Instant, Patient, Report, ReportKind, Sex};
use serde::{Deserialize, Serialize};

/// Rows of a lab result table per page.
pub const ROWS_PER_PAGE: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Content {
    Lab {
        department_en: String,
        rows: Vec<LabRow>,
    },
    Exam {
        department_en: String,
        findings: String,
        impression: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabRow {
    pub code: String,
    pub name: String,
    pub value: String,
    pub unit: String,
    pub range: String,
    /// `H`, `L`, `*` (abnormal qualitative) or empty.
    pub flag: String,
}

/// `1234` with 2 decimals -> `12.34`.
fn scaled(v: i64, dec: u32) -> String {
    if dec == 0 {
        return v.to_string();
    }
    let p = 10i64.pow(dec);
    let sign = if v < 0 { "-" } else { "" };
    let v = v.abs();
    format!("{sign}{}.{:0width$}", v / p, v % p, width = dec as usize)
}

/// Results for one lab test: mostly in range, now and then high or low.
pub fn lab_rows(t: &LabTemplate, rng: &mut Rng) -> Vec<LabRow> {
    t.analytes
        .iter()
        .map(|a| {
            let (value, range, flag) = match a.measure {
                Measure::Quant { low, high, dec } => {
                    let lo = low.unwrap_or(0);
                    let hi = high.unwrap_or(lo + lo / 2 + 1);
                    let span = (hi - lo).max(1);
                    let (v, flag) = match rng.below(100) {
                        0..=5 if high.is_some() => (hi + 1 + rng.range(0, span / 3), "H"),
                        6..=9 if low.is_some() && lo > 0 => {
                            ((lo - 1 - rng.range(0, span / 4)).max(0), "L")
                        }
                        _ => {
                            let floor = if low.is_none() { hi / 2 } else { lo };
                            (rng.range(floor, hi), "")
                        }
                    };
                    let range = match (low, high) {
                        (Some(l), Some(h)) => format!("{}-{}", scaled(l, dec), scaled(h, dec)),
                        (None, Some(h)) => format!("<{}", scaled(h, dec)),
                        (Some(l), None) => format!(">{}", scaled(l, dec)),
                        (None, None) => String::new(),
                    };
                    (scaled(v, dec), range, flag)
                }
                Measure::Qual { normal, abnormal } => {
                    if rng.chance(10) {
                        (abnormal.to_string(), normal.to_string(), "*")
                    } else {
                        (normal.to_string(), normal.to_string(), "")
                    }
                }
            };
            LabRow {
                code: a.code.into(),
                name: a.name.into(),
                value,
                unit: a.unit.into(),
                range,
                flag: flag.into(),
            }
        })
        .collect()
}

pub fn page_count(c: &Content) -> u32 {
    match c {
        Content::Lab { rows, .. } => rows.len().div_ceil(ROWS_PER_PAGE).max(1) as u32,
        Content::Exam { .. } => 1,
    }
}

/// Break text into lines of at most `width` characters at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

fn stamp(t: Instant) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

/// Everything printed around the results.
pub struct Header<'a> {
    pub hospital_en: &'a str,
    pub report: &'a Report,
    pub patient: &'a Patient,
    /// The simulator's clock when the document is produced (for the age).
    pub now: Instant,
}

fn page_head(h: &Header, department_en: &str, page: usize, pages: usize) -> (Page, i32) {
    let r = h.report;
    let p = h.patient;
    let mut pg = Page::default();
    pg.bold(50, 790, 16, h.hospital_en);
    let kind = match r.kind {
        ReportKind::Lab => "Laboratory Report",
        ReportKind::Exam => "Examination Report",
    };
    pg.bold(50, 768, 13, format!("{kind}: {}", r.title_en));
    pg.rule(758);
    let sex = match p.sex {
        Sex::Male => "Male",
        Sex::Female => "Female",
        Sex::Unknown => "Unknown",
    };
    let age = h
        .now
        .date_naive()
        .years_since(p.birth_date)
        .map_or_else(String::new, |a| a.to_string());
    pg.text(50, 740, 10, format!("Report no.: {}", r.report_id));
    pg.text(300, 740, 10, format!("Patient ID: {}", p.patient_id));
    pg.text(50, 725, 10, format!("ID number: {}", p.id_number_masked));
    pg.text(300, 725, 10, format!("Sex: {sex}    Age: {age}"));
    pg.text(50, 710, 10, format!("Department: {department_en}"));
    pg.text(300, 710, 10, format!("Ordered: {}", stamp(r.ordered_at)));
    if let Some(t) = r.ready_at {
        pg.text(300, 695, 10, format!("Reported: {}", stamp(t)));
    }
    pg.rule(685);
    pg.text(
        50,
        60,
        8,
        "Simulated data from the HIS simulator; not for clinical use. Valid with the department's seal.",
    );
    pg.text(
        50,
        48,
        8,
        format!("{}    Page {page} of {pages}", r.report_id),
    );
    (pg, 665)
}

/// The report as PDF bytes, one PDF page per report page.
pub fn render(h: &Header, content: &Content) -> Vec<u8> {
    let mut pages = Vec::new();
    match content {
        Content::Lab {
            department_en,
            rows,
        } => {
            let chunks: Vec<&[LabRow]> = if rows.is_empty() {
                vec![&[]]
            } else {
                rows.chunks(ROWS_PER_PAGE).collect()
            };
            let n = chunks.len();
            for (i, chunk) in chunks.into_iter().enumerate() {
                let (mut pg, mut y) = page_head(h, department_en, i + 1, n);
                for (x, label) in [
                    (50, "Code"),
                    (110, "Test"),
                    (300, "Result"),
                    (360, "Flag"),
                    (400, "Unit"),
                    (480, "Reference"),
                ] {
                    pg.bold(x, y, 10, label);
                }
                y -= 18;
                for row in chunk {
                    pg.text(50, y, 10, &row.code);
                    pg.text(110, y, 10, &row.name);
                    pg.text(300, y, 10, &row.value);
                    pg.bold(360, y, 10, &row.flag);
                    pg.text(400, y, 10, &row.unit);
                    pg.text(480, y, 10, &row.range);
                    y -= 16;
                }
                pg.rule(y + 6);
                if i + 1 == n {
                    pg.text(
                        50,
                        y - 12,
                        9,
                        "H = above, L = below the reference range; * = abnormal.",
                    );
                }
                pages.push(pg);
            }
        }
        Content::Exam {
            department_en,
            findings,
            impression,
        } => {
            let (mut pg, mut y) = page_head(h, department_en, 1, 1);
            pg.bold(50, y, 11, "Findings");
            y -= 16;
            for line in wrap(findings, 95) {
                pg.text(50, y, 10, line);
                y -= 14;
            }
            y -= 10;
            pg.bold(50, y, 11, "Impression");
            y -= 16;
            for line in wrap(impression, 95) {
                pg.text(50, y, 10, line);
                y -= 14;
            }
            pages.push(pg);
        }
    }
    let info = pdf::Info {
        title: format!("{} {}", h.report.report_id, h.report.title_en),
        author: h.hospital_en.to_string(),
        created: h
            .report
            .ready_at
            .unwrap_or(h.now)
            .format("D:%Y%m%d%H%M%S+08'00'")
            .to_string(),
    };
    pdf::render(&pages, &info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{InsuranceType, ReportStatus};

    #[test]
    fn values_are_formatted_with_their_decimals() {
        assert_eq!(scaled(1234, 2), "12.34");
        assert_eq!(scaled(5, 2), "0.05");
        assert_eq!(scaled(95, 1), "9.5");
        assert_eq!(scaled(130, 0), "130");
        assert_eq!(wrap("a bb ccc dddd", 6), vec!["a bb", "ccc", "dddd"]);
    }

    #[test]
    fn a_long_panel_takes_two_pages() {
        let t = super::super::data::LAB_REPORTS
            .iter()
            .find(|t| t.analytes.len() > ROWS_PER_PAGE)
            .unwrap();
        let mut rng = Rng::new(3);
        let content = Content::Lab {
            department_en: "Clinical Laboratory".into(),
            rows: lab_rows(t, &mut rng),
        };
        assert_eq!(page_count(&content), 2);
        let when = chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00+08:00").unwrap();
        let report = Report {
            report_id: "RP000001".into(),
            patient_id: "P000001".into(),
            kind: ReportKind::Lab,
            title_zh: t.zh.into(),
            title_en: t.en.into(),
            department_name_zh: "检验科".into(),
            ordered_at: when,
            status: ReportStatus::Ready,
            ready_at: Some(when),
            expected_at: None,
            pages: 2,
            print_count: 0,
        };
        let patient = Patient {
            patient_id: "P000001".into(),
            name: "张三".into(),
            sex: Sex::Male,
            birth_date: chrono::NaiveDate::from_ymd_opt(1980, 5, 1).unwrap(),
            id_number_masked: "3302**********1234".into(),
            phone_masked: None,
            insurance: InsuranceType::None,
            priority: false,
        };
        let pdf = render(
            &Header {
                hospital_en: "Test Hospital",
                report: &report,
                patient: &patient,
                now: when,
            },
            &content,
        );
        assert_eq!(super::super::pdf::tests::check_structure(&pdf), 2);
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("3302**********1234"));
        assert!(text.contains("Comprehensive metabolic panel"));
    }
}

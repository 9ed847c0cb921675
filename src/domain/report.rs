//! Lab (检验) and exam (检查) reports.

use super::Instant;
use serde::{Deserialize, Serialize};

#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// 检验
    Lab,
    /// 检查
    Exam,
}

#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    Ready,
    Pending,
}

#[derive(schemars::JsonSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub report_id: String,
    pub patient_id: String,
    pub kind: ReportKind,
    pub title_zh: String,
    pub title_en: String,
    pub department_name_zh: String,
    pub ordered_at: Instant,
    pub status: ReportStatus,
    /// When it became ready (ready reports).
    pub ready_at: Option<Instant>,
    /// When it is expected (pending reports).
    pub expected_at: Option<Instant>,
    pub pages: u32,
    pub print_count: u32,
}

impl Report {
    /// Printable at the kiosk under a reprint limit from config.
    pub fn can_print(&self, max_prints: u32) -> bool {
        self.status == ReportStatus::Ready && self.print_count < max_prints
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_only_ready_reports_under_the_limit() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-23T08:00:00+08:00").unwrap();
        let r = Report {
            report_id: "R1".into(),
            patient_id: "P1".into(),
            kind: ReportKind::Lab,
            title_zh: "血常规".into(),
            title_en: "Complete blood count".into(),
            department_name_zh: "检验科".into(),
            ordered_at: t,
            status: ReportStatus::Ready,
            ready_at: Some(t),
            expected_at: None,
            pages: 1,
            print_count: 1,
        };
        assert!(r.can_print(2));
        assert!(!r.can_print(1));
        assert!(!Report {
            status: ReportStatus::Pending,
            print_count: 0,
            ..r
        }
        .can_print(2));
    }
}

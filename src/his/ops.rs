//! The operations of the HIS gateway protocol: one table shared by the
//! client (timeouts, retry policy), the simulator (fault injection) and the
//! docs. The `operation_id` is the OpenAPI `operationId`.

use serde::{Deserialize, Serialize};

#[derive(schemars::JsonSchema, Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Operation {
    Ping,
    LookupPatient,
    EnrollPatient,
    ListDepartments,
    ListSchedules,
    ListSlots,
    CreateHold,
    GetHold,
    ReleaseHold,
    CreateAppointment,
    ListAppointments,
    CheckIn,
    CancelAppointment,
    GetQueue,
    ListBills,
    PreSettle,
    Settle,
    ListReports,
    GetReportDocument,
    MarkReportPrinted,
    ListPrices,
    GetLedger,
    GetIdempotencyRecord,
}

impl Operation {
    pub const ALL: [Operation; 23] = [
        Operation::Ping,
        Operation::LookupPatient,
        Operation::EnrollPatient,
        Operation::ListDepartments,
        Operation::ListSchedules,
        Operation::ListSlots,
        Operation::CreateHold,
        Operation::GetHold,
        Operation::ReleaseHold,
        Operation::CreateAppointment,
        Operation::ListAppointments,
        Operation::CheckIn,
        Operation::CancelAppointment,
        Operation::GetQueue,
        Operation::ListBills,
        Operation::PreSettle,
        Operation::Settle,
        Operation::ListReports,
        Operation::GetReportDocument,
        Operation::MarkReportPrinted,
        Operation::ListPrices,
        Operation::GetLedger,
        Operation::GetIdempotencyRecord,
    ];

    /// (method, path template) under the base URL.
    pub fn route(self) -> (&'static str, &'static str) {
        use Operation::*;
        match self {
            Ping => ("GET", "/v1/ping"),
            LookupPatient => ("POST", "/v1/patients/lookup"),
            EnrollPatient => ("POST", "/v1/patients"),
            ListDepartments => ("GET", "/v1/departments"),
            ListSchedules => ("GET", "/v1/schedules"),
            ListSlots => ("GET", "/v1/schedules/{schedule_id}/slots"),
            CreateHold => ("POST", "/v1/holds"),
            GetHold => ("GET", "/v1/holds/{hold_id}"),
            ReleaseHold => ("POST", "/v1/holds/{hold_id}/release"),
            CreateAppointment => ("POST", "/v1/appointments"),
            ListAppointments => ("GET", "/v1/patients/{patient_id}/appointments"),
            CheckIn => ("POST", "/v1/appointments/{appointment_id}/check-in"),
            CancelAppointment => ("POST", "/v1/appointments/{appointment_id}/cancel"),
            GetQueue => ("GET", "/v1/appointments/{appointment_id}/queue"),
            ListBills => ("GET", "/v1/patients/{patient_id}/bills"),
            PreSettle => ("POST", "/v1/pre-settlements"),
            Settle => ("POST", "/v1/settlements"),
            ListReports => ("GET", "/v1/patients/{patient_id}/reports"),
            GetReportDocument => ("GET", "/v1/reports/{report_id}/document"),
            MarkReportPrinted => ("POST", "/v1/reports/{report_id}/printed"),
            ListPrices => ("GET", "/v1/prices"),
            GetLedger => ("GET", "/v1/ledger"),
            GetIdempotencyRecord => ("GET", "/v1/idempotency/{key}"),
        }
    }

    /// Writes carry an `Idempotency-Key` and may be retried only with it.
    pub fn is_write(self) -> bool {
        self.route().0 == "POST" && self != Operation::LookupPatient
    }

    /// The OpenAPI operationId, also the name used in config and fault injection.
    pub fn id(self) -> &'static str {
        use Operation::*;
        match self {
            Ping => "ping",
            LookupPatient => "lookupPatient",
            EnrollPatient => "enrollPatient",
            ListDepartments => "listDepartments",
            ListSchedules => "listSchedules",
            ListSlots => "listSlots",
            CreateHold => "createHold",
            GetHold => "getHold",
            ReleaseHold => "releaseHold",
            CreateAppointment => "createAppointment",
            ListAppointments => "listAppointments",
            CheckIn => "checkIn",
            CancelAppointment => "cancelAppointment",
            GetQueue => "getQueue",
            ListBills => "listBills",
            PreSettle => "preSettle",
            Settle => "settle",
            ListReports => "listReports",
            GetReportDocument => "getReportDocument",
            MarkReportPrinted => "markReportPrinted",
            ListPrices => "listPrices",
            GetLedger => "getLedger",
            GetIdempotencyRecord => "getIdempotencyRecord",
        }
    }

    pub fn from_id(id: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|op| op.id() == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_serde_agrees() {
        for op in Operation::ALL {
            assert_eq!(Operation::from_id(op.id()), Some(op));
            assert_eq!(
                serde_json::to_string(&op).unwrap(),
                format!("\"{}\"", op.id())
            );
        }
    }

    #[test]
    fn lookup_is_a_read_even_though_it_posts() {
        assert!(!Operation::LookupPatient.is_write());
        assert!(Operation::CreateHold.is_write());
        assert!(!Operation::ListSlots.is_write());
        assert!(!Operation::GetQueue.is_write());
    }
}

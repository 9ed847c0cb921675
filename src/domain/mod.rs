//! Plain domain types. No I/O here: no sockets, files, clocks or devices;
//! time comes in as an argument. Every type serializes exactly as the HIS
//! gateway protocol writes it (see `docs/his-gateway.openapi.yaml`).

mod billing;
mod id_number;
mod money;
mod person;
mod report;
mod schedule;
mod time;
mod visit;

pub use billing::*;
pub use id_number::{mask_id_str, IdNumber, IdNumberError};
pub use money::{Money, MoneyError};
pub use person::{mask_name, CardKind, InsuranceType, Patient, Phone, PhoneError, Sex};
pub use report::{Report, ReportKind, ReportStatus};
pub use schedule::*;
pub use time::{cst, to_cst, ClockTime, Instant};
pub use visit::{Appointment, AppointmentKind, AppointmentStatus, QueueState, QueueStatus};

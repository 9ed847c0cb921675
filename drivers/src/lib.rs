//! `kiosk-drivers`: device traits, real drivers and device simulators for the
//! hospital kiosk. Every device reports its [`Health`] so the kiosk can
//! disable the services that need a faulty device and tell the technician why.
//!
//! The drivers themselves (receipt printer, ID card reader, health card
//! reader, scanner, A4 printer) arrive with the devices work; this crate
//! already fixes the health vocabulary they share.

#![forbid(unsafe_code)]

pub mod escpos;
pub mod healthcard;
pub mod idcard;
pub mod printer;
pub mod report;
pub mod scanner;
pub mod sim;

use serde::{Deserialize, Serialize};
use std::fmt;

/// The devices a kiosk has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    ReceiptPrinter,
    IdCardReader,
    HealthCardReader,
    Scanner,
    ReportPrinter,
}

/// How a device is doing, with the reason when it is not fine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "reason", rename_all = "snake_case")]
pub enum Health {
    Ok,
    /// Works, but a technician should look (paper near end).
    Degraded(String),
    /// Does not work (paper out, cover open, unplugged).
    Fault(String),
}

impl Health {
    /// Services needing the device may run.
    pub fn is_usable(&self) -> bool {
        !matches!(self, Health::Fault(_))
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Health::Ok => f.write_str("ok"),
            Health::Degraded(r) => write!(f, "degraded: {r}"),
            Health::Fault(r) => write!(f, "fault: {r}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_fault_makes_a_device_unusable() {
        assert!(Health::Ok.is_usable());
        assert!(Health::Degraded("paper near end".into()).is_usable());
        assert!(!Health::Fault("paper out".into()).is_usable());
        assert_eq!(
            Health::Fault("cover open".into()).to_string(),
            "fault: cover open"
        );
    }
}

//! The receipt printer's real-time status (`DLE EOT n`) and the in-order
//! paper status (`GS r 1`), decoded into a [`PrinterStatus`].
//!
//! `DLE EOT` is answered the moment it arrives, even while the printer is
//! offline, so it tells why a printer stopped. `GS r 1` is answered only once
//! every byte before it has been processed, so its answer means "the slip
//! before me is out" (Epson ESC/POS Application Programming Guide, Transmit
//! status; most Chinese kiosk printers follow it).

use crate::Health;
use serde::Serialize;

/// `DLE EOT n`: 1 printer, 2 offline cause, 3 error cause, 4 paper roll sensor.
pub const DLE_EOT: [u8; 2] = [0x10, 0x04];
/// `GS r 1`: transmit paper sensor status, processed in order.
pub const GS_R_PAPER: [u8; 3] = [0x1D, b'r', 1];

/// What the printer reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PrinterStatus {
    pub offline: bool,
    pub cover_open: bool,
    pub paper_end: bool,
    pub paper_near_end: bool,
    /// Cutter jam, head overheat or another error the printer flags.
    pub error: bool,
}

/// A status byte whose fixed bits are wrong: line noise or not a printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("status byte 0x{byte:02X} for DLE EOT {n} is not a printer's answer")]
pub struct BadStatus {
    pub n: u8,
    pub byte: u8,
}

/// Real-time status bytes have bit 1 and bit 4 set, bits 0 and 7 clear.
fn fixed_bits_ok(b: u8) -> bool {
    b & 0x93 == 0x12
}

impl PrinterStatus {
    /// Decode the answers to `DLE EOT 1`, `2` and `4`.
    pub fn from_real_time(printer: u8, offline: u8, paper: u8) -> Result<Self, BadStatus> {
        for (n, byte) in [(1, printer), (2, offline), (4, paper)] {
            if !fixed_bits_ok(byte) {
                return Err(BadStatus { n, byte });
            }
        }
        Ok(PrinterStatus {
            offline: printer & 0x08 != 0,
            cover_open: offline & 0x04 != 0,
            paper_end: offline & 0x20 != 0 || paper & 0x60 != 0,
            paper_near_end: paper & 0x0C != 0,
            error: offline & 0x40 != 0,
        })
    }

    /// The bytes a printer in this state answers to `DLE EOT 1`, `2`, `4`
    /// (the simulator's side of [`PrinterStatus::from_real_time`]).
    pub fn real_time_bytes(&self) -> [u8; 3] {
        let stopped = self.offline || self.cover_open || self.paper_end || self.error;
        let printer = 0x12 | if stopped { 0x08 } else { 0 };
        let offline = 0x12
            | if self.cover_open { 0x04 } else { 0 }
            | if self.paper_end { 0x20 } else { 0 }
            | if self.error { 0x40 } else { 0 };
        let paper = 0x12
            | if self.paper_near_end { 0x0C } else { 0 }
            | if self.paper_end { 0x60 } else { 0 };
        [printer, offline, paper]
    }

    /// The answer to `GS r 1`: bits 0–1 near end, bits 2–3 paper end.
    pub fn gs_r_byte(&self) -> u8 {
        (if self.paper_near_end { 0x03 } else { 0 }) | (if self.paper_end { 0x0C } else { 0 })
    }

    /// The printer can print now.
    pub fn ready(&self) -> bool {
        !(self.offline || self.cover_open || self.paper_end || self.error)
    }

    /// Health as the kiosk and the technician see it (reasons in both languages).
    pub fn health(&self) -> Health {
        if self.paper_end {
            Health::Fault("缺纸 paper out".into())
        } else if self.cover_open {
            Health::Fault("纸仓盖打开 cover open".into())
        } else if self.error {
            Health::Fault("打印机错误（切刀或过热） printer error (cutter or overheat)".into())
        } else if self.offline {
            Health::Fault("打印机离线 printer offline".into())
        } else if self.paper_near_end {
            Health::Degraded("纸将用尽 paper near end".into())
        } else {
            Health::Ok
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips_through_its_status_bytes() {
        for bits in 0u8..32 {
            let s = PrinterStatus {
                offline: bits & 1 != 0,
                cover_open: bits & 2 != 0,
                paper_end: bits & 4 != 0,
                paper_near_end: bits & 8 != 0,
                error: bits & 16 != 0,
            };
            let [a, b, c] = s.real_time_bytes();
            let back = PrinterStatus::from_real_time(a, b, c).unwrap();
            // A stopped printer reports itself offline too.
            assert_eq!(back.offline, !s.ready());
            assert_eq!(
                (
                    back.cover_open,
                    back.paper_end,
                    back.paper_near_end,
                    back.error
                ),
                (s.cover_open, s.paper_end, s.paper_near_end, s.error)
            );
        }
    }

    #[test]
    fn noise_is_not_a_status_and_health_names_the_cause() {
        assert_eq!(
            PrinterStatus::from_real_time(0xFF, 0x12, 0x12),
            Err(BadStatus { n: 1, byte: 0xFF })
        );
        assert!(PrinterStatus::from_real_time(0x12, 0x12, 0x00).is_err());
        let out = PrinterStatus {
            paper_end: true,
            ..Default::default()
        };
        assert!(matches!(out.health(), Health::Fault(r) if r.contains("paper out")));
        let low = PrinterStatus {
            paper_near_end: true,
            ..Default::default()
        };
        assert!(matches!(low.health(), Health::Degraded(_)));
        assert_eq!(PrinterStatus::default().health(), Health::Ok);
    }
}

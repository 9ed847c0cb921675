//! The kiosk's devices, opened from `[devices]` in the config: the real
//! drivers, or in demo mode the simulators (a TCP ESC/POS printer, an ID card
//! reader and a scanner on pseudo-terminals, an in-process health card, a
//! report printer that files PDFs), reached through the same drivers.
//!
//! Health is cached in each driver and refreshed by [`Devices::check_all`]
//! (at start-up, by the monitor thread, by `kiosk doctor`) and by every
//! operation, so the UI and the transaction runner read it without I/O.

use crate::config::{Config, Device};
use kiosk_drivers::healthcard::{HealthCardReader, NoHealthCardReader, PcscReader, SimReader};
use kiosk_drivers::idcard::reader::{IdCardReader, NoIdCardReader, SerialIdReader};
use kiosk_drivers::printer::{EscPosPrinter, Link, NoPrinter, ReceiptPrinter};
use kiosk_drivers::report::{CupsPrinter, DirPrinter, NoReportPrinter, ReportPrinter};
use kiosk_drivers::scanner::{CodeScanner, NoScanner, SerialScanner};
use kiosk_drivers::sim::idcard::IdReaderSim;
use kiosk_drivers::sim::printer::PrinterSim;
use kiosk_drivers::sim::scanner::ScannerSim;
use kiosk_drivers::{DeviceKind, Health};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("starting the {device} simulator: {source}")]
    Sim {
        device: &'static str,
        source: std::io::Error,
    },
    #[error("devices.{device}: driver {driver:?} is not known for this device")]
    Driver {
        device: &'static str,
        driver: String,
    },
}

/// Longest code a scanner may send (payment codes are 18–24, health QR 66).
const SCAN_MAX_LEN: usize = 512;
/// A scanner sends a whole code in well under this.
const SCAN_INTER_BYTE: Duration = Duration::from_millis(300);

/// The simulators behind the demo's devices, for the demo panel and tests.
pub struct DeviceSims {
    pub printer: Option<PrinterSim>,
    pub id_reader: Option<IdReaderSim>,
    pub scanner: Option<ScannerSim>,
    pub health_card: Option<Arc<SimReader>>,
    pub report_printer: Option<Arc<DirPrinter>>,
}

/// One device's state, for the home screen, the technician and `kiosk doctor`.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceReport {
    pub kind: DeviceKind,
    /// The config key (`receipt_printer`...).
    pub name: &'static str,
    pub driver: String,
    /// Where it is (link, path, queue).
    pub describe: String,
    pub health: Health,
}

pub struct Devices {
    pub printer: Arc<dyn ReceiptPrinter>,
    /// Paper left on the receipt roll, estimated from the slips printed
    /// (`printer` counts on it).
    pub paper: Arc<crate::paper::PaperGauge>,
    pub id_reader: Arc<dyn IdCardReader>,
    pub health_reader: Arc<dyn HealthCardReader>,
    pub scanner: Arc<dyn CodeScanner>,
    pub report_printer: Arc<dyn ReportPrinter>,
    pub sims: DeviceSims,
    drivers: [String; 5],
    /// Last health of the two devices whose health query does I/O (PC/SC,
    /// CUPS), so [`Devices::report`] stays free of it.
    cached: std::sync::Mutex<(Health, Health)>,
}

fn timeout(d: &Device) -> Duration {
    Duration::from_millis(d.timeout_ms)
}

fn baud(d: &Device, usual: u32) -> u32 {
    if d.baud == 0 {
        usual
    } else {
        d.baud
    }
}

impl Devices {
    /// Open every configured device; simulators are started here.
    pub fn open(cfg: &Config) -> Result<Devices, DeviceError> {
        let dev = &cfg.devices;
        let sim_dir = cfg.data_path("dev");
        let sim = |device: &'static str| move |source| DeviceError::Sim { device, source };
        let mut sims = DeviceSims {
            printer: None,
            id_reader: None,
            scanner: None,
            health_card: None,
            report_printer: None,
        };

        let d = &dev.receipt_printer;
        let printer: Arc<dyn ReceiptPrinter> = match d.driver.as_str() {
            "none" => Arc::new(NoPrinter),
            "simulator" => {
                let s = PrinterSim::start("127.0.0.1:0").map_err(sim("receipt printer"))?;
                let p = EscPosPrinter::new(Link::Tcp(s.addr().to_string()), d.columns, timeout(d));
                sims.printer = Some(s);
                Arc::new(p)
            }
            "tcp" => Arc::new(EscPosPrinter::new(
                Link::Tcp(d.address.clone()),
                d.columns,
                timeout(d),
            )),
            "serial" => Arc::new(EscPosPrinter::new(
                Link::Serial {
                    path: d.address.clone(),
                    baud: baud(d, 115_200),
                },
                d.columns,
                timeout(d),
            )),
            "usb-lp" => Arc::new(EscPosPrinter::new(
                Link::UsbLp(d.address.clone().into()),
                d.columns,
                timeout(d),
            )),
            "spool" => Arc::new(EscPosPrinter::new(
                Link::Spool(cfg.data_path(if d.address.is_empty() {
                    "receipts.escpos"
                } else {
                    &d.address
                })),
                d.columns,
                timeout(d),
            )),
            other => return Err(unknown("receipt_printer", other)),
        };
        let paper = Arc::new(crate::paper::PaperGauge::open(
            cfg.data_path("paper.json"),
            d.roll_length_m,
        ));
        let printer: Arc<dyn ReceiptPrinter> = Arc::new(crate::paper::CountingPrinter {
            inner: printer,
            gauge: paper.clone(),
        });

        let d = &dev.id_card_reader;
        let id_reader: Arc<dyn IdCardReader> = match d.driver.as_str() {
            "none" => Arc::new(NoIdCardReader),
            "simulator" => {
                let link = sim_dir.join("idcard");
                let s = IdReaderSim::start(&link).map_err(sim("ID card reader"))?;
                sims.id_reader = Some(s);
                Arc::new(SerialIdReader::new(
                    link.to_string_lossy().into_owned(),
                    115_200,
                    timeout(d),
                ))
            }
            "serial" => Arc::new(SerialIdReader::new(
                d.address.clone(),
                baud(d, 115_200),
                timeout(d),
            )),
            other => return Err(unknown("id_card_reader", other)),
        };

        let d = &dev.scanner;
        let scanner: Arc<dyn CodeScanner> = match d.driver.as_str() {
            "none" => Arc::new(NoScanner),
            "simulator" => {
                let link = sim_dir.join("scanner");
                let s = ScannerSim::start(&link).map_err(sim("scanner"))?;
                sims.scanner = Some(s);
                Arc::new(SerialScanner::start(
                    link.to_string_lossy().into_owned(),
                    9600,
                    SCAN_MAX_LEN,
                    SCAN_INTER_BYTE,
                ))
            }
            "serial" => Arc::new(SerialScanner::start(
                d.address.clone(),
                baud(d, 9600),
                SCAN_MAX_LEN,
                SCAN_INTER_BYTE,
            )),
            other => return Err(unknown("scanner", other)),
        };

        let d = &dev.health_card_reader;
        let health_reader: Arc<dyn HealthCardReader> = match d.driver.as_str() {
            "none" => Arc::new(NoHealthCardReader),
            "simulator" => {
                let r = Arc::new(SimReader::new());
                sims.health_card = Some(r.clone());
                r
            }
            "pcsc" => Arc::new(PcscReader::new(
                Some(d.address.as_str()).filter(|a| !a.trim().is_empty()),
            )),
            other => return Err(unknown("health_card_reader", other)),
        };

        let d = &dev.report_printer;
        let report_printer: Arc<dyn ReportPrinter> = match d.driver.as_str() {
            "none" => Arc::new(NoReportPrinter),
            "simulator" => {
                let p = Arc::new(DirPrinter::new(cfg.data_path("reports-printed")).map_err(
                    |e| DeviceError::Sim {
                        device: "report printer",
                        source: std::io::Error::other(e.to_string()),
                    },
                )?);
                sims.report_printer = Some(p.clone());
                p
            }
            "cups" => Arc::new(CupsPrinter::new(d.address.clone()).with_timeout(timeout(d))),
            other => return Err(unknown("report_printer", other)),
        };

        let drivers = [
            dev.receipt_printer.driver.clone(),
            dev.id_card_reader.driver.clone(),
            dev.health_card_reader.driver.clone(),
            dev.scanner.driver.clone(),
            dev.report_printer.driver.clone(),
        ];
        Ok(Devices {
            printer,
            paper,
            id_reader,
            health_reader,
            scanner,
            report_printer,
            sims,
            drivers,
            cached: std::sync::Mutex::new((
                Health::Fault("尚未检查 not checked yet".into()),
                Health::Fault("尚未检查 not checked yet".into()),
            )),
        })
    }

    fn assemble(&self, f: impl Fn(usize) -> (String, Health)) -> Vec<DeviceReport> {
        const KINDS: [(DeviceKind, &str); 5] = [
            (DeviceKind::ReceiptPrinter, "receipt_printer"),
            (DeviceKind::IdCardReader, "id_card_reader"),
            (DeviceKind::HealthCardReader, "health_card_reader"),
            (DeviceKind::Scanner, "scanner"),
            (DeviceKind::ReportPrinter, "report_printer"),
        ];
        KINDS
            .iter()
            .enumerate()
            .map(|(i, (kind, name))| {
                let (describe, health) = f(i);
                DeviceReport {
                    kind: *kind,
                    name,
                    driver: self.drivers[i].clone(),
                    describe,
                    health,
                }
            })
            .collect()
    }

    /// Health as last seen (no I/O).
    pub fn report(&self) -> Vec<DeviceReport> {
        let cached = self
            .cached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        self.assemble(|i| match i {
            0 => (self.printer.describe(), self.printer.health()),
            1 => (self.id_reader.describe(), self.id_reader.health()),
            2 => (self.health_describe(), cached.0.clone()),
            3 => (self.scanner.describe(), self.scanner.health()),
            _ => (self.report_printer.describe(), cached.1.clone()),
        })
    }

    fn health_describe(&self) -> String {
        let d = &self.drivers[2];
        match d.as_str() {
            "pcsc" => "PC/SC (pcscd)".into(),
            "simulator" => "in-process card simulator".into(),
            other => other.into(),
        }
    }

    /// Ask every device now (blocking; bounded by each device's timeout).
    pub fn check_all(&self) -> Vec<DeviceReport> {
        let health_card = self.health_reader.health();
        let report_printer = self.report_printer.health();
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) =
            (health_card.clone(), report_printer.clone());
        self.assemble(|i| match i {
            0 => (self.printer.describe(), self.printer.check()),
            1 => (self.id_reader.describe(), self.id_reader.check()),
            2 => (self.health_describe(), health_card.clone()),
            3 => (self.scanner.describe(), self.scanner.health()),
            _ => (self.report_printer.describe(), report_printer.clone()),
        })
    }

    /// Re-check every device every `interval` on a thread of its own, so a
    /// device that fails or comes back is seen without a patient touching it.
    pub fn spawn_monitor(self: &Arc<Self>, interval: Duration) -> std::thread::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("device-monitor".into())
            .spawn(move || loop {
                std::thread::sleep(interval);
                let Some(d) = weak.upgrade() else { return };
                let before: Vec<Health> = d.report().into_iter().map(|r| r.health).collect();
                for (r, old) in d.check_all().into_iter().zip(before) {
                    if r.health != old {
                        tracing::warn!(device = r.name, from = %old, to = %r.health, "device health changed");
                    }
                }
            })
            .expect("spawning the device monitor thread")
    }
}

fn unknown(device: &'static str, driver: &str) -> DeviceError {
    DeviceError::Driver {
        device,
        driver: driver.to_string(),
    }
}

//! Where slips go: the [`SlipPrinter`] port the transaction runner prints
//! through. [`DevicePrinter`] writes the slip's ESC/POS bytes to a file: the
//! USB printer class device (`/dev/usb/lp0`) or a spool file (the demo).
//! The network and serial transports, real-time status and the printer
//! simulator are the devices work (`drivers/`).

use kiosk_drivers::escpos::doc::Doc;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum PrintError {
    #[error("no receipt printer is configured")]
    NotConfigured,
    #[error("receipt printer {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl PrintError {
    /// What the patient reads.
    pub fn patient_message(&self) -> (&'static str, &'static str) {
        (
            "凭条打印失败，业务已办理成功，可到人工窗口补打凭条。",
            "The slip could not be printed. Your transaction is complete; a staffed window can reprint the slip.",
        )
    }
}

/// A receipt printer, as the runner sees it.
pub trait SlipPrinter: Send + Sync {
    /// Columns of the paper (48 for 80 mm, 32 for 58 mm).
    fn columns(&self) -> usize;
    /// Print the whole slip; `Ok` only when every byte reached the printer.
    fn print(&self, doc: &Doc) -> Result<(), PrintError>;
}

/// ESC/POS bytes written to a device node or appended to a spool file.
#[derive(Debug, Clone)]
pub struct DevicePrinter {
    path: PathBuf,
    columns: usize,
    /// A spool file is created when missing; a device node must exist.
    create: bool,
}

impl DevicePrinter {
    /// A USB-lp device node such as `/dev/usb/lp0`.
    pub fn device(path: impl Into<PathBuf>, columns: usize) -> Self {
        DevicePrinter {
            path: path.into(),
            columns,
            create: false,
        }
    }

    /// A spool file that collects every slip (the demo, tests).
    pub fn spool(path: impl Into<PathBuf>, columns: usize) -> Self {
        DevicePrinter {
            path: path.into(),
            columns,
            create: true,
        }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl SlipPrinter for DevicePrinter {
    fn columns(&self) -> usize {
        self.columns
    }

    fn print(&self, doc: &Doc) -> Result<(), PrintError> {
        let io = |source| PrintError::Io {
            path: self.path.clone(),
            source,
        };
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(self.create)
            .open(&self.path)
            .map_err(io)?;
        f.write_all(&doc.to_escpos()).map_err(io)?;
        f.flush().map_err(io)?;
        if self.create {
            f.sync_data().map_err(io)?;
        }
        Ok(())
    }
}

/// Driver `none`: every print fails, so the runner marks slips for reprint.
#[derive(Debug, Clone, Copy)]
pub struct NoPrinter;

impl SlipPrinter for NoPrinter {
    fn columns(&self) -> usize {
        48
    }
    fn print(&self, _doc: &Doc) -> Result<(), PrintError> {
        Err(PrintError::NotConfigured)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spooled_slips_parse_back_and_a_missing_device_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = DevicePrinter::spool(dir.path().join("receipts.bin"), 48);
        let mut d = Doc::new(48);
        d.title("测试医院").text("挂号凭条 Registration").cut();
        p.print(&d).unwrap();
        p.print(&d).unwrap();
        let bytes = std::fs::read(p.path()).unwrap();
        let r = kiosk_drivers::escpos::parse::parse(&bytes).unwrap();
        assert_eq!(r.cuts(), 2);
        assert!(r.text().contains("挂号凭条"));
        let gone = DevicePrinter::device(dir.path().join("lp9"), 48);
        assert!(matches!(gone.print(&d), Err(PrintError::Io { .. })));
        assert!(NoPrinter.print(&d).is_err());
    }
}

//! Receipt paper left on the roll, estimated from what was printed.
//!
//! Printers only say "near end" (a few metres left) and "out". To plan paper
//! rounds, the kiosk adds up the length of every slip it printed since the
//! technician last recorded a new roll (maintenance screen: "Paper roll
//! replaced"), and compares it with the roll length from config
//! (`devices.receipt_printer.roll_length_m`). The count is kept in
//! `<data_dir>/paper.json`, written atomically after each slip, so it
//! survives restarts.

use kiosk_drivers::escpos::doc::{wrap, Block, Doc};
use kiosk_drivers::printer::status::PrinterStatus;
use kiosk_drivers::printer::{PrinterError, ReceiptPrinter};
use kiosk_drivers::Health;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// One text line at the ESC/POS default spacing (1/6 inch).
const LINE_MM: f64 = 4.23;
/// A QR code (module size 6 on a 203 dpi head) with its margins.
const QR_MM: f64 = 32.0;
const BARCODE_MM: f64 = 16.0;
/// The feed to the cutter before a cut.
const CUT_MM: f64 = 12.0;
/// Below this share of the roll the estimate warns.
pub const LOW_RATIO: f64 = 0.10;

/// How long `doc` comes out, in millimetres (an estimate: line spacing and
/// the cutter's feed vary a little between printers).
pub fn doc_length_mm(doc: &Doc) -> f64 {
    doc.blocks
        .iter()
        .map(|b| match b {
            Block::Text { text, double, .. } => {
                let width = if *double {
                    doc.columns / 2
                } else {
                    doc.columns
                }
                .max(1);
                let lines = wrap(text, width).len().max(1) as f64;
                lines * LINE_MM * if *double { 2.0 } else { 1.0 }
            }
            Block::Qr(_) => QR_MM,
            Block::Barcode(_) => BARCODE_MM,
            Block::Feed(n) => f64::from(*n) * LINE_MM,
            Block::Cut => CUT_MM,
        })
        .sum()
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    printed_mm: f64,
    slips: u64,
    /// When the roll was recorded as new (RFC 3339), if ever.
    replaced_at: Option<String>,
}

/// The estimate at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PaperEstimate {
    pub printed_m: f64,
    pub roll_m: f64,
    /// Share of the roll left, 0.0..=1.0.
    pub left_ratio: f64,
    pub low: bool,
    pub slips: u64,
    pub replaced_at: Option<String>,
}

pub struct PaperGauge {
    path: PathBuf,
    roll_mm: f64,
    state: Mutex<State>,
}

impl PaperGauge {
    /// The gauge kept in `path`, for rolls `roll_m` metres long. A missing
    /// or unreadable file starts from a full roll (and says so in the log).
    pub fn open(path: PathBuf, roll_m: u32) -> PaperGauge {
        let state = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "paper count unreadable: assuming a full roll");
                State::default()
            }),
            Err(_) => State::default(),
        };
        PaperGauge {
            path,
            roll_mm: f64::from(roll_m.max(1)) * 1000.0,
            state: Mutex::new(state),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn save(&self, s: &State) {
        let tmp = self.path.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&serde_json::to_vec(s).unwrap_or_default())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        if let Err(e) = write() {
            tracing::warn!(path = %self.path.display(), error = %e, "paper count not saved");
        }
    }

    /// A slip came out.
    pub fn printed(&self, doc: &Doc) {
        let mut s = self.lock();
        s.printed_mm += doc_length_mm(doc);
        s.slips += 1;
        self.save(&s);
    }

    /// A technician put in a new roll.
    pub fn replaced(&self, at: &str) {
        let mut s = self.lock();
        *s = State {
            printed_mm: 0.0,
            slips: 0,
            replaced_at: Some(at.to_string()),
        };
        self.save(&s);
    }

    pub fn estimate(&self) -> PaperEstimate {
        let s = self.lock();
        let left = ((self.roll_mm - s.printed_mm) / self.roll_mm).clamp(0.0, 1.0);
        PaperEstimate {
            printed_m: s.printed_mm / 1000.0,
            roll_m: self.roll_mm / 1000.0,
            left_ratio: left,
            low: left < LOW_RATIO,
            slips: s.slips,
            replaced_at: s.replaced_at.clone(),
        }
    }
}

/// A receipt printer that counts what it prints on the gauge.
pub struct CountingPrinter {
    pub inner: Arc<dyn ReceiptPrinter>,
    pub gauge: Arc<PaperGauge>,
}

impl ReceiptPrinter for CountingPrinter {
    fn columns(&self) -> usize {
        self.inner.columns()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn health(&self) -> Health {
        self.inner.health()
    }
    fn check(&self) -> Health {
        self.inner.check()
    }
    fn print(&self, doc: &Doc) -> Result<(), PrinterError> {
        let r = self.inner.print(doc);
        if r.is_ok() {
            self.gauge.printed(doc);
        }
        r
    }
    fn last_status(&self) -> Option<PrinterStatus> {
        self.inner.last_status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slip() -> Doc {
        let mut d = Doc::new(48);
        d.title("宁波市第一人民医院")
            .text("挂号凭条")
            .pair("科室", "内科")
            .qr("K01-20261123-000001")
            .feed(2)
            .cut();
        d
    }

    #[test]
    fn a_slip_has_a_plausible_length() {
        let mm = doc_length_mm(&slip());
        assert!((50.0..150.0).contains(&mm), "{mm} mm");
        // A 58 mm roll wraps more lines: longer.
        let mut narrow = slip();
        narrow.columns = 32;
        narrow.blocks.insert(
            0,
            Block::Text {
                text: "一".repeat(30),
                bold: false,
                double: false,
                align: kiosk_drivers::escpos::parse::Align::Left,
            },
        );
        assert!(doc_length_mm(&narrow) > mm);
    }

    #[test]
    fn the_count_survives_a_restart_and_resets_on_a_new_roll() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("paper.json");
        let g = PaperGauge::open(path.clone(), 1);
        assert_eq!(g.estimate().left_ratio, 1.0);
        for _ in 0..10 {
            g.printed(&slip());
        }
        let e = g.estimate();
        assert_eq!(e.slips, 10);
        assert!(
            e.left_ratio < 0.5 && e.low == (e.left_ratio < LOW_RATIO),
            "{e:?}"
        );
        drop(g);
        let g = PaperGauge::open(path.clone(), 1);
        assert_eq!(g.estimate().slips, 10);
        for _ in 0..10 {
            g.printed(&slip());
        }
        assert!(g.estimate().low, "a 1 m roll after 20 slips is low");
        assert_eq!(g.estimate().left_ratio, 0.0, "never below empty");
        g.replaced("2026-11-23T09:00:00+08:00");
        let e = g.estimate();
        assert_eq!((e.slips, e.left_ratio, e.low), (0, 1.0, false));
        // A corrupt file starts from a full roll instead of failing.
        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(PaperGauge::open(path, 80).estimate().left_ratio, 1.0);
    }
}

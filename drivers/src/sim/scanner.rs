//! A serial code scanner on a pseudo-terminal: [`ScannerSim::scan`] sends a
//! code followed by CR LF, as a scanner in serial mode does; raw bytes (line
//! noise) can be sent too, and the scanner can be unplugged and plugged back.

use super::pty::PtyEnd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub struct ScannerSim {
    link: PathBuf,
    pty: Mutex<Option<PtyEnd>>,
}

impl ScannerSim {
    pub fn start(link: &Path) -> std::io::Result<ScannerSim> {
        Ok(ScannerSim {
            link: link.to_path_buf(),
            pty: Mutex::new(Some(PtyEnd::open(link)?)),
        })
    }

    pub fn link(&self) -> &Path {
        &self.link
    }

    /// Scan a code (sent with CR LF).
    pub fn scan(&self, code: &str) -> std::io::Result<()> {
        self.send_raw(format!("{code}\r\n").as_bytes())
    }

    /// Send bytes as they are.
    pub fn send_raw(&self, bytes: &[u8]) -> std::io::Result<()> {
        match self.pty.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            Some(p) => p.write_all(bytes),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "scanner unplugged",
            )),
        }
    }

    pub fn unplug(&self) {
        self.pty.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    pub fn replug(&self) -> std::io::Result<()> {
        let mut g = self.pty.lock().unwrap_or_else(|p| p.into_inner());
        if g.is_none() {
            *g = Some(PtyEnd::open(&self.link)?);
        }
        Ok(())
    }
}

//! A pseudo-terminal pair standing in for a serial device: the simulator
//! holds the master side, the kiosk's driver opens the slave side by a
//! stable path (a symlink, like a udev rule's `/dev/idcard`).
//!
//! Unplugging closes the master and removes the link, so the driver's port
//! fails and a reopen finds nothing; plugging back makes a new pair behind the
//! same link, exactly as a USB-serial adapter coming back under a udev name.

use serialport::{SerialPort, TTYPort};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The simulator's end of a pseudo-terminal, reached by the driver at `link`.
pub struct PtyEnd {
    master: TTYPort,
    link: PathBuf,
}

impl PtyEnd {
    /// Make a pair and point `link` at its slave side.
    pub fn open(link: &Path) -> std::io::Result<PtyEnd> {
        let (mut master, slave) = TTYPort::pair().map_err(std::io::Error::from)?;
        let name = slave
            .name()
            .ok_or_else(|| std::io::Error::other("pseudo-terminal has no name"))?;
        // The driver opens the slave itself; a second holder would defeat its
        // exclusive lock.
        drop(slave);
        master
            .set_timeout(Duration::from_millis(50))
            .map_err(std::io::Error::from)?;
        if let Some(dir) = link.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let _ = std::fs::remove_file(link);
        std::os::unix::fs::symlink(&name, link)?;
        Ok(PtyEnd {
            master,
            link: link.to_path_buf(),
        })
    }

    pub fn link(&self) -> &Path {
        &self.link
    }

    /// Read what the driver sent; `Ok(0)` when nothing came within 50 ms or
    /// while no driver holds the port open.
    pub fn poll_read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.master.read(buf) {
            Ok(n) => Ok(n),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ) =>
            {
                Ok(0)
            }
            // EIO or a hang-up: the slave side is closed (no driver has the
            // port open right now); wait for one.
            Err(e) if e.raw_os_error() == Some(5) || e.kind() == std::io::ErrorKind::BrokenPipe => {
                std::thread::sleep(Duration::from_millis(20));
                Ok(0)
            }
            Err(e) => Err(e),
        }
    }

    /// Send bytes to the driver; with no driver holding the port they are
    /// lost, as on a real line with nobody listening.
    pub fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self
            .master
            .write_all(bytes)
            .and_then(|_| self.master.flush())
        {
            Err(e) if e.raw_os_error() == Some(5) || e.kind() == std::io::ErrorKind::BrokenPipe => {
                Ok(())
            }
            r => r,
        }
    }
}

impl Drop for PtyEnd {
    fn drop(&mut self) {
        // Only remove the link if it still points at this pair.
        let _ = std::fs::remove_file(&self.link);
    }
}

/// Read + Write over a [`PtyEnd`] for code written against streams.
impl Read for PtyEnd {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.poll_read(buf)? {
            0 => Err(std::io::ErrorKind::TimedOut.into()),
            n => Ok(n),
        }
    }
}

impl Write for PtyEnd {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf).map(|_| buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.master.flush()
    }
}

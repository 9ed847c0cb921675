//! A 2nd-generation ID card reader (SAM module) on a pseudo-terminal: it
//! answers the kiosk's request frames with the status words and card data a
//! real reader sends. A card can be placed and taken off, the next answer can
//! be replaced by line noise, and the reader can be unplugged and plugged
//! back under the same path.

use super::pty::PtyEnd;
use crate::idcard::frame::{self, cmd, CardText, Status};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Default)]
struct Shared {
    card: Mutex<Option<CardText>>,
    /// Bytes to send instead of the next answer.
    noise: Mutex<Option<Vec<u8>>>,
    /// Do not answer the next request at all.
    mute: AtomicBool,
    stop: AtomicBool,
    requests: AtomicU64,
}

/// A running simulated reader; stops and removes its link when dropped.
pub struct IdReaderSim {
    link: PathBuf,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl IdReaderSim {
    /// Start a reader whose port the driver opens at `link`.
    pub fn start(link: &Path) -> std::io::Result<IdReaderSim> {
        let sim = IdReaderSim {
            link: link.to_path_buf(),
            shared: Arc::new(Shared::default()),
            thread: Mutex::new(None),
        };
        sim.plug()?;
        Ok(sim)
    }

    fn plug(&self) -> std::io::Result<()> {
        let pty = PtyEnd::open(&self.link)?;
        self.shared.stop.store(false, Ordering::SeqCst);
        let shared = self.shared.clone();
        let h = std::thread::Builder::new()
            .name("idcard-sim".into())
            .spawn(move || serve(pty, shared))?;
        *self.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(h);
        Ok(())
    }

    pub fn link(&self) -> &Path {
        &self.link
    }

    /// Place a card on the reader.
    pub fn insert(&self, card: CardText) {
        *self.shared.card.lock().unwrap_or_else(|p| p.into_inner()) = Some(card);
    }

    /// Take the card off.
    pub fn remove(&self) {
        *self.shared.card.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Answer the next request with these bytes instead (line noise).
    pub fn inject_noise(&self, bytes: Vec<u8>) {
        *self.shared.noise.lock().unwrap_or_else(|p| p.into_inner()) = Some(bytes);
    }

    /// Leave the next request unanswered.
    pub fn mute_once(&self) {
        self.shared.mute.store(true, Ordering::SeqCst);
    }

    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Pull the cable: the port and its link disappear.
    pub fn unplug(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = h.join();
        }
    }

    /// Plug it back under the same link.
    pub fn replug(&self) -> std::io::Result<()> {
        if self
            .thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
        {
            return Ok(());
        }
        self.plug()
    }
}

impl Drop for IdReaderSim {
    fn drop(&mut self) {
        self.unplug();
    }
}

fn answer(shared: &Shared, body: &[u8]) -> Vec<u8> {
    let Some((&c, rest)) = body.split_first() else {
        return frame::response(Status::LengthError, &[]);
    };
    let p = rest.first().copied().unwrap_or(0);
    let card = shared
        .card
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    match (c, p) {
        x if x == cmd::RESET_SAM || x == cmd::SAM_STATUS => frame::response(Status::Ok, &[]),
        x if x == cmd::SAM_ID => frame::response(Status::Ok, &[0x05; 16]),
        x if x == cmd::FIND_CARD => match card {
            Some(_) => frame::response(Status::CardFound, &[0; 4]),
            None => frame::response(Status::NoCard, &[]),
        },
        x if x == cmd::SELECT_CARD => match card {
            Some(_) => frame::response(Status::Ok, &[0; 8]),
            None => frame::response(Status::SelectFailed, &[]),
        },
        x if x == cmd::READ_BASE => match card {
            // A real card carries a 1024-byte WLT photo.
            Some(card) => frame::response(Status::Ok, &frame::encode_base_info(&card, &[0; 1024])),
            None => frame::response(Status::ReadFailed, &[]),
        },
        _ => frame::response(Status::BadCommand, &[]),
    }
}

fn serve(mut pty: PtyEnd, shared: Arc<Shared>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    while !shared.stop.load(Ordering::SeqCst) {
        match pty.poll_read(&mut chunk) {
            Ok(0) => continue,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        }
        loop {
            match frame::decode(&buf) {
                Ok(None) => break,
                Ok(Some((used, body))) => {
                    buf.drain(..used);
                    shared.requests.fetch_add(1, Ordering::SeqCst);
                    if shared.mute.swap(false, Ordering::SeqCst) {
                        continue;
                    }
                    let noise = shared
                        .noise
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .take();
                    let out = noise.unwrap_or_else(|| answer(&shared, &body));
                    let _ = pty.write_all(&out);
                }
                Err(_) => {
                    // A reader answers a broken frame with a checksum error.
                    buf.clear();
                    let _ = pty.write_all(&frame::response(Status::ChecksumError, &[]));
                    break;
                }
            }
        }
    }
}

/// A sample card for tests (the ID number has a valid GB 11643 check digit).
pub fn sample_card() -> CardText {
    CardText {
        name: "张三".into(),
        sex: '1',
        nation: "01".into(),
        birth: "19520314".into(),
        address: "浙江省宁波市海曙区中山西路100号".into(),
        id_number: "330203195203140011".into(),
        issuer: "宁波市公安局海曙分局".into(),
        valid_from: "20150601".into(),
        valid_to: "长期".into(),
    }
}

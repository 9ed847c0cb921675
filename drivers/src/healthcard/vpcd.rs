//! A [`SimCard`] behind the vpcd virtual reader, so tests and the demo go
//! through the real PC/SC stack (pcscd, libpcsclite, the `pcsc` crate).
//!
//! vpcd is pcscd's driver for a virtual reader (Debian `vsmartcard-vpcd`).
//! With `DEVICENAME /dev/null:0x8C7B` in `/etc/reader.conf.d/vpcd` (the
//! packaged default) it is the TCP *server*: slot *n* ("Virtual PCD 00 0n")
//! listens on port 35963 + *n*, and the card side connects to it. A
//! connected card is an inserted card; closing the connection removes it.
//!
//! Wire format, both ways: a 2-byte big-endian length, then that many bytes.
//! From vpcd, a 1-byte message is a control: `00` power off, `01` power on,
//! `02` reset, `04` "send the ATR" (pcscd polls it to see the card is still
//! there); the card answers only `04`, with the ATR. Any longer message is a
//! command APDU, answered with the response APDU.

use super::sim::SimCard;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// vpcd's slot 0 ("Virtual PCD 00 00") in the packaged configuration.
pub const VPCD_DEFAULT_ADDR: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 35963));

const CTRL_OFF: u8 = 0x00;
const CTRL_ON: u8 = 0x01;
const CTRL_RESET: u8 = 0x02;
const CTRL_ATR: u8 = 0x04;

/// How long to wait before connecting again when vpcd is not listening.
const RETRY: Duration = Duration::from_millis(200);

#[derive(Default)]
struct Shared {
    card: Option<SimCard>,
    /// Bumped on every insert/remove, so a connection made for an old card
    /// is dropped.
    generation: u64,
    stop: bool,
    /// A clone of the live connection, to cut it from outside.
    stream: Option<TcpStream>,
    connected: bool,
}

struct Inner {
    state: Mutex<Shared>,
    changed: Condvar,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Handle to a virtual card served to vpcd from a background thread.
/// Dropping it removes the card and stops the thread.
pub struct VpcdCard {
    inner: Arc<Inner>,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

impl VpcdCard {
    /// Serve `card` to the vpcd slot at `addr` (see [`VPCD_DEFAULT_ADDR`]).
    /// Returns at once; the thread keeps trying to connect while vpcd is not
    /// listening (pcscd not started yet).
    pub fn spawn(addr: SocketAddr, card: impl Into<SimCard>) -> VpcdCard {
        let inner = Arc::new(Inner {
            state: Mutex::new(Shared {
                card: Some(card.into()),
                ..Shared::default()
            }),
            changed: Condvar::new(),
        });
        let worker = Arc::clone(&inner);
        let thread = std::thread::Builder::new()
            .name("vpcd-card".into())
            .spawn(move || run(&worker, addr))
            .ok();
        VpcdCard {
            inner,
            thread,
            addr,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Insert `card` (replacing any inserted one: the reader sees a removal
    /// and an insertion).
    pub fn insert(&self, card: impl Into<SimCard>) {
        let mut s = self.inner.lock();
        s.card = Some(card.into());
        s.generation += 1;
        cut(&mut s);
        self.inner.changed.notify_all();
    }

    /// Remove the card: the connection to vpcd is closed, so the reader
    /// shows no card at its next poll.
    pub fn remove(&self) {
        let mut s = self.inner.lock();
        s.card = None;
        s.generation += 1;
        cut(&mut s);
        self.inner.changed.notify_all();
    }

    /// Whether vpcd currently has the card (the TCP connection is up).
    pub fn is_connected(&self) -> bool {
        self.inner.lock().connected
    }

    /// Wait until [`is_connected`](Self::is_connected) or `timeout`.
    pub fn wait_connected(&self, timeout: Duration) -> bool {
        let s = self.inner.lock();
        let (s, _) = self
            .inner
            .changed
            .wait_timeout_while(s, timeout, |s| !s.connected)
            .unwrap_or_else(|p| p.into_inner());
        s.connected
    }
}

impl Drop for VpcdCard {
    fn drop(&mut self) {
        {
            let mut s = self.inner.lock();
            s.stop = true;
            s.card = None;
            cut(&mut s);
            self.inner.changed.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn cut(s: &mut Shared) {
    if let Some(stream) = s.stream.take() {
        let _ = stream.shutdown(Shutdown::Both);
    }
    s.connected = false;
}

fn run(inner: &Inner, addr: SocketAddr) {
    loop {
        let (card, generation) = {
            let s = inner.lock();
            let mut s = inner
                .changed
                .wait_while(s, |s| !s.stop && s.card.is_none())
                .unwrap_or_else(|p| p.into_inner());
            if s.stop {
                return;
            }
            match s.card.take() {
                Some(c) => (c, s.generation),
                None => continue,
            }
        };
        let mut card = card;
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .and_then(|st| st.try_clone().map(|clone| (st, clone)));
        let (stream, clone) = match stream {
            Ok(pair) => pair,
            Err(_) => {
                let s = inner.lock();
                let mut s = s;
                // Put the card back unless it was replaced meanwhile.
                if s.generation == generation && s.card.is_none() && !s.stop {
                    s.card = Some(card);
                }
                let _ = inner.changed.wait_timeout(s, RETRY);
                continue;
            }
        };
        {
            let mut s = inner.lock();
            if s.stop || s.generation != generation {
                let _ = stream.shutdown(Shutdown::Both);
                continue;
            }
            s.stream = Some(clone);
            s.connected = true;
            inner.changed.notify_all();
        }
        let _ = stream.set_nodelay(true);
        card.reset();
        let _ = serve(stream, &mut card);
        let mut s = inner.lock();
        s.connected = false;
        s.stream = None;
        inner.changed.notify_all();
        if s.generation == generation && !s.stop && s.card.is_none() {
            // vpcd hung up (pcscd stopped) but the card is still meant to
            // be in: connect again after a pause.
            s.card = Some(card);
            let _ = inner.changed.wait_timeout(s, RETRY);
        }
    }
}

/// Answer vpcd until it or we close the connection.
fn serve(mut stream: TcpStream, card: &mut SimCard) -> io::Result<()> {
    loop {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len)?;
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut msg)?;
        let reply = match msg.as_slice() {
            [] => continue,
            [CTRL_OFF] => {
                card.power_off();
                continue;
            }
            [CTRL_ON] | [CTRL_RESET] => {
                card.reset();
                continue;
            }
            [CTRL_ATR] => card.atr().to_vec(),
            // Unknown controls have no answer in the protocol.
            [_] => continue,
            apdu => card.process(apdu),
        };
        send(&mut stream, &reply)?;
    }
}

fn send(stream: &mut TcpStream, payload: &[u8]) -> io::Result<()> {
    let len = u16::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "message over 65535 bytes"))?;
    let mut frame = Vec::with_capacity(2 + payload.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(payload);
    stream.write_all(&frame)
}

#[cfg(test)]
mod tests {
    use super::super::{apdu::hex, demo_cards};
    use super::*;
    use std::net::TcpListener;

    /// Plays vpcd: listens, and speaks the protocol to the card.
    struct FakeVpcd {
        listener: TcpListener,
    }

    impl FakeVpcd {
        fn new() -> FakeVpcd {
            FakeVpcd {
                listener: TcpListener::bind("127.0.0.1:0").unwrap(),
            }
        }
        fn addr(&self) -> SocketAddr {
            self.listener.local_addr().unwrap()
        }
        fn accept(&self) -> TcpStream {
            let (s, _) = self.listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s
        }
    }

    fn ask(s: &mut TcpStream, msg: &[u8]) -> Vec<u8> {
        send(s, msg).unwrap();
        let mut len = [0u8; 2];
        s.read_exact(&mut len).unwrap();
        let mut r = vec![0u8; usize::from(u16::from_be_bytes(len))];
        s.read_exact(&mut r).unwrap();
        r
    }

    #[test]
    fn speaks_the_vpcd_protocol() {
        let vpcd = FakeVpcd::new();
        let card = VpcdCard::spawn(vpcd.addr(), demo_cards()[0].clone());
        let mut s = vpcd.accept();
        assert!(card.wait_connected(Duration::from_secs(5)));
        let sim = SimCard::new(&demo_cards()[0]);
        assert_eq!(ask(&mut s, &[CTRL_ATR]), sim.atr());
        // Power on has no answer; the next message is answered normally.
        send(&mut s, &[CTRL_ON]).unwrap();
        send(&mut s, &[CTRL_RESET]).unwrap();
        send(&mut s, &[0x77]).unwrap();
        assert_eq!(
            hex(&ask(&mut s, &[0x00, 0xA4, 0x00, 0x00, 0x02, 0xDD, 0xF1])),
            "9000"
        );
        assert_eq!(
            hex(&ask(&mut s, &[0x00, 0xA4, 0x00, 0x00, 0x02, 0xEF, 0x05])),
            "9000"
        );
        let r = ask(&mut s, &[0x00, 0xB2, 0x08, 0x00, 0x14]);
        assert_eq!(&r[2..20], b"330203198503152317");
        // Power off forgets the selection.
        send(&mut s, &[CTRL_OFF]).unwrap();
        assert_eq!(hex(&ask(&mut s, &[0x00, 0xB2, 0x08, 0x00, 0x14])), "6986");
        // Garbage APDUs get a status word, the connection stays.
        assert_eq!(hex(&ask(&mut s, &[0xFF, 0xFF])), "6700");
        assert_eq!(ask(&mut s, &[CTRL_ATR]), sim.atr());
    }

    #[test]
    fn remove_closes_and_insert_reconnects() {
        let vpcd = FakeVpcd::new();
        let card = VpcdCard::spawn(vpcd.addr(), demo_cards()[0].clone());
        let mut s = vpcd.accept();
        assert!(!ask(&mut s, &[CTRL_ATR]).is_empty());

        card.remove();
        let mut buf = [0u8; 1];
        assert_eq!(s.read(&mut buf).unwrap_or(0), 0, "connection closed");
        assert!(!card.is_connected());

        card.insert(demo_cards()[1].clone());
        let mut s = vpcd.accept();
        assert_eq!(
            ask(&mut s, &[CTRL_ATR]),
            SimCard::new(&demo_cards()[1]).atr()
        );

        // Swapping cards reconnects too.
        card.insert(demo_cards()[0].clone());
        assert_eq!(s.read(&mut buf).unwrap_or(0), 0);
        let mut s = vpcd.accept();
        assert_eq!(
            ask(&mut s, &[CTRL_ATR]),
            SimCard::new(&demo_cards()[0]).atr()
        );
        drop(card);
        assert_eq!(s.read(&mut buf).unwrap_or(0), 0, "drop removes the card");
    }

    #[test]
    fn waits_for_vpcd_and_reconnects_when_it_hangs_up() {
        // Nothing listens yet: reserve a port, then free it.
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let card = VpcdCard::spawn(addr, demo_cards()[0].clone());
        std::thread::sleep(Duration::from_millis(300));
        assert!(!card.is_connected());
        let listener = TcpListener::bind(addr).unwrap();
        let (s, _) = listener.accept().unwrap();
        assert!(card.wait_connected(Duration::from_secs(5)));
        // vpcd goes away (pcscd restarted): the card connects again.
        drop(s);
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert!(!ask(&mut s, &[CTRL_ATR]).is_empty());
    }

    #[test]
    fn drop_stops_a_card_that_never_connected() {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let card = VpcdCard::spawn(addr, demo_cards()[0].clone());
        std::thread::sleep(Duration::from_millis(50));
        let t0 = std::time::Instant::now();
        drop(card);
        assert!(t0.elapsed() < Duration::from_secs(3));
    }
}

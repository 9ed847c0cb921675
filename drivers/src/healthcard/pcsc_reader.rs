//! The real reader: any PC/SC reader pcscd knows (a kiosk's contact reader
//! or the vpcd virtual one), through the `pcsc` crate.
//!
//! Each call opens its own PC/SC context, so a pcscd restart between calls
//! needs no recovery, and a pcscd that is down is a typed error
//! ([`HealthCardError::NoService`]), never a panic.

use super::read::{read_sequence, CardTransport};
use super::{HealthCard, HealthCardError, HealthCardReader};
use crate::Health;
use pcsc::{Context, Disposition, Protocols, ReaderState, Scope, ShareMode, State};
use std::ffi::CString;
use std::time::{Duration, Instant};

/// A health card reader behind pcscd.
#[derive(Debug, Clone, Default)]
pub struct PcscReader {
    reader: Option<String>,
}

impl PcscReader {
    /// `reader`: a case-insensitive substring of the reader's name (as
    /// `pcsc_scan -r` lists it); `None` takes the first reader.
    pub fn new(reader: Option<&str>) -> PcscReader {
        PcscReader {
            reader: reader.map(str::to_string).filter(|r| !r.is_empty()),
        }
    }

    /// The names of the readers pcscd knows.
    pub fn reader_names() -> Result<Vec<String>, HealthCardError> {
        let ctx = context()?;
        names(&ctx).map(|n| n.iter().map(|c| c.to_string_lossy().into_owned()).collect())
    }

    fn find_reader(&self, ctx: &Context) -> Result<CString, HealthCardError> {
        let all = names(ctx)?;
        let wanted = self.reader.as_deref().map(str::to_lowercase);
        let hit = all.iter().find(|n| match &wanted {
            Some(w) => n.to_string_lossy().to_lowercase().contains(w.as_str()),
            None => true,
        });
        hit.cloned().ok_or_else(|| {
            let have: Vec<_> = all.iter().map(|n| n.to_string_lossy()).collect();
            HealthCardError::NoReader(match &self.reader {
                Some(r) => format!("none named like {r:?} (pcscd has {have:?})"),
                None => "pcscd has no reader".into(),
            })
        })
    }

    /// Connect to the card in `reader`, read it, reset it.
    fn read_present(&self, ctx: &Context, reader: &CString) -> Result<HealthCard, HealthCardError> {
        let mut card = ctx
            .connect(reader, ShareMode::Shared, Protocols::T0 | Protocols::T1)
            .map_err(|e| match map_err(e) {
                // Gone before we got to it: as if it had never been there.
                HealthCardError::CardRemoved => HealthCardError::NoCard,
                other => other,
            })?;
        let result = {
            // Other PC/SC clients may share the reader: no APDU of theirs
            // between our SELECT and READs.
            let tx = card.transaction().map_err(map_err)?;
            let r = read_sequence(&mut Link(&tx));
            let _ = tx.end(Disposition::LeaveCard);
            r
        };
        // The next session starts from the MF with no security state left.
        let _ = card.disconnect(Disposition::ResetCard);
        result
    }
}

/// `SCardTransmit` as a [`CardTransport`].
struct Link<'a>(&'a pcsc::Card);

impl CardTransport for Link<'_> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, HealthCardError> {
        let mut buf = [0u8; pcsc::MAX_BUFFER_SIZE];
        self.0
            .transmit(apdu, &mut buf)
            .map(<[u8]>::to_vec)
            .map_err(map_err)
    }
}

fn context() -> Result<Context, HealthCardError> {
    Context::establish(Scope::User).map_err(map_err)
}

fn names(ctx: &Context) -> Result<Vec<CString>, HealthCardError> {
    match ctx.list_readers_owned() {
        Ok(n) => Ok(n),
        Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
        Err(e) => Err(map_err(e)),
    }
}

fn map_err(e: pcsc::Error) -> HealthCardError {
    use pcsc::Error as E;
    match e {
        E::NoService | E::ServiceStopped | E::CommError => {
            HealthCardError::NoService(e.to_string())
        }
        E::NoReadersAvailable | E::UnknownReader | E::ReaderUnavailable | E::ReaderUnsupported => {
            HealthCardError::NoReader(e.to_string())
        }
        E::NoSmartcard => HealthCardError::NoCard,
        E::RemovedCard | E::ResetCard => HealthCardError::CardRemoved,
        E::Timeout => HealthCardError::Timeout,
        E::UnsupportedCard | E::UnknownCard | E::InvalidAtr => HealthCardError::UnsupportedCard,
        E::NotTransacted => HealthCardError::Transport(format!("transmission failed: {e}")),
        E::UnresponsiveCard | E::UnpoweredCard => {
            HealthCardError::Transport(format!("card does not respond: {e}"))
        }
        _ => HealthCardError::Transport(e.to_string()),
    }
}

impl HealthCardReader for PcscReader {
    fn health(&self) -> Health {
        let ctx = match context() {
            Ok(c) => c,
            Err(HealthCardError::NoService(_)) => return Health::Fault("pcscd not running".into()),
            Err(e) => return Health::Fault(e.to_string()),
        };
        match self.find_reader(&ctx) {
            Ok(_) => Health::Ok,
            Err(HealthCardError::NoReader(_)) => Health::Fault("reader not found".into()),
            Err(HealthCardError::NoService(_)) => Health::Fault("pcscd not running".into()),
            Err(e) => Health::Fault(e.to_string()),
        }
    }

    fn read_card(&self, timeout: Duration) -> Result<Option<HealthCard>, HealthCardError> {
        let deadline = Instant::now() + timeout;
        let ctx = context()?;
        let reader = self.find_reader(&ctx)?;
        let mut states = [ReaderState::new(reader.clone(), State::UNAWARE)];
        // UNAWARE: answers at once with the reader's state.
        match ctx.get_status_change(
            deadline.saturating_duration_since(Instant::now()),
            &mut states,
        ) {
            Ok(()) => {}
            Err(pcsc::Error::Timeout) => return Ok(None),
            Err(e) => return Err(map_err(e)),
        }
        loop {
            if gone(&states[0]) {
                return Err(HealthCardError::NoReader(format!(
                    "{} went away",
                    reader.to_string_lossy()
                )));
            }
            if card_in(&states[0]) {
                match self.read_present(&ctx, &reader) {
                    Ok(card) => return Ok(Some(card)),
                    Err(
                        e @ (HealthCardError::Transport(_)
                        | HealthCardError::CardRemoved
                        | HealthCardError::NoCard),
                    ) => {
                        // pcscd polls a reader about every 0.4 s: the card may
                        // have left before pcscd noticed. If the state moves,
                        // look again; if it stays, the failure was real.
                        let grace = Instant::now() + REMOVAL_GRACE;
                        if !wait_change(&ctx, &mut states, grace.min(deadline))? {
                            return Err(e);
                        }
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            if !wait_change(&ctx, &mut states, deadline)? {
                return Ok(None);
            }
        }
    }
}

/// How long a failed read waits for pcscd to report the card gone.
const REMOVAL_GRACE: Duration = Duration::from_millis(1500);

/// A usable card: present and answering its reset.
fn card_in(rs: &ReaderState) -> bool {
    let s = rs.event_state();
    s.contains(State::PRESENT) && !s.contains(State::MUTE)
}

fn gone(rs: &ReaderState) -> bool {
    rs.event_state()
        .intersects(State::UNKNOWN | State::UNAVAILABLE | State::IGNORE)
}

/// What matters of a reader's state: card in or not, reader there or not,
/// and the insertion / removal counter. Our own connects flip INUSE, which
/// must not count.
fn key(rs: &ReaderState) -> (bool, bool, u32) {
    (card_in(rs), gone(rs), rs.event_count())
}

/// Wait until the card state (see [`key`]) changes or `until`; `false`:
/// nothing changed in time.
fn wait_change(
    ctx: &Context,
    states: &mut [ReaderState; 1],
    until: Instant,
) -> Result<bool, HealthCardError> {
    let before = key(&states[0]);
    loop {
        states[0].sync_current_state();
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        match ctx.get_status_change(left, states) {
            Ok(()) if key(&states[0]) != before => return Ok(true),
            Ok(()) => {}
            Err(pcsc::Error::Timeout) => return Ok(false),
            Err(e) => return Err(map_err(e)),
        }
    }
}

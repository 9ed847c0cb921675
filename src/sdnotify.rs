//! The systemd notification protocol (`sd_notify(3)`), spoken directly: one
//! datagram of newline-separated `KEY=VALUE` lines to the Unix socket named
//! by `$NOTIFY_SOCKET` (a path, or an abstract-namespace name written with a
//! leading `@`). Outside systemd the variable is unset and every call here is
//! a no-op, so the kiosk runs the same from a terminal.
//!
//! `kiosk run` sends `READY=1` once the patient window is up, `WATCHDOG=1`
//! from the UI thread (a Slint timer in `ui::run`, so a hung UI stops the
//! pings and systemd restarts the kiosk after `WatchdogSec=`), and
//! `STOPPING=1` when it shuts down. The packaged unit (debian/kiosk.service)
//! starts the kiosk under the `cage` compositor, so the kiosk is a child of
//! the unit's main process: the unit says `NotifyAccess=all`, and
//! [`watchdog_interval`] accepts a `$WATCHDOG_PID` naming the parent.

use std::ffi::OsStr;
use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::OnceLock;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("NOTIFY_SOCKET {0:?} is neither an absolute path nor an @abstract name")]
    BadAddress(String),
    #[error("NOTIFY_SOCKET {addr:?}: {source}")]
    Io { addr: String, source: io::Error },
}

/// One assignment of a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Start-up is finished (`Type=notify` units become active).
    Ready,
    /// Keep-alive for `WatchdogSec=`.
    Watchdog,
    /// Shutdown has begun.
    Stopping,
    /// Free text shown by `systemctl status` (newlines become spaces).
    Status(String),
}

impl State {
    fn line(&self) -> String {
        match self {
            State::Ready => "READY=1".into(),
            State::Watchdog => "WATCHDOG=1".into(),
            State::Stopping => "STOPPING=1".into(),
            State::Status(s) => format!("STATUS={}", s.replace(['\n', '\r'], " ")),
        }
    }
}

/// The datagram for `states`: one `KEY=VALUE` line each, newline-terminated.
pub fn message(states: &[State]) -> String {
    states.iter().map(|s| s.line() + "\n").collect()
}

/// A connection to the service manager's notification socket.
#[derive(Debug)]
pub struct Notifier {
    addr: SocketAddr,
    name: String,
    sock: UnixDatagram,
}

impl Notifier {
    /// From the value of `$NOTIFY_SOCKET`; `None` when unset or empty.
    pub fn from_env_value(value: Option<&OsStr>) -> Result<Option<Notifier>, NotifyError> {
        match value.and_then(OsStr::to_str) {
            None | Some("") => Ok(None),
            Some(v) => Notifier::new(v).map(Some),
        }
    }

    /// `name` as `$NOTIFY_SOCKET` writes it: `/run/systemd/notify` or `@name`.
    pub fn new(name: &str) -> Result<Notifier, NotifyError> {
        let io_err = |source| NotifyError::Io {
            addr: name.to_string(),
            source,
        };
        let addr = if let Some(abs) = name.strip_prefix('@') {
            abstract_addr(abs.as_bytes()).map_err(io_err)?
        } else if name.starts_with('/') {
            SocketAddr::from_pathname(name).map_err(io_err)?
        } else {
            return Err(NotifyError::BadAddress(name.to_string()));
        };
        let sock = UnixDatagram::unbound().map_err(io_err)?;
        Ok(Notifier {
            addr,
            name: name.to_string(),
            sock,
        })
    }

    /// Send `states` in one datagram.
    pub fn notify(&self, states: &[State]) -> Result<(), NotifyError> {
        let msg = message(states);
        self.sock
            .send_to_addr(msg.as_bytes(), &self.addr)
            .map(|_| ())
            .map_err(|source| NotifyError::Io {
                addr: self.name.clone(),
                source,
            })
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_addr(name: &[u8]) -> io::Result<SocketAddr> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_addr(_name: &[u8]) -> io::Result<SocketAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract sockets exist only on Linux",
    ))
}

/// How often to send `WATCHDOG=1`, from `$WATCHDOG_USEC` and `$WATCHDOG_PID`
/// (their values passed in): a third of the timeout, at most 5 s, so a late
/// tick or two is not fatal. `None` when there is no watchdog, or it is meant for another
/// process. `WATCHDOG_PID` is accepted when it names this process or its
/// parent: systemd sets it to the unit's main process, which is `cage` when
/// the compositor starts the kiosk.
pub fn watchdog_interval(
    usec: Option<&str>,
    pid: Option<&str>,
    me: u32,
    parent: u32,
) -> Option<Duration> {
    if let Some(pid) = pid {
        let pid: u32 = pid.trim().parse().ok()?;
        if pid != me && pid != parent {
            return None;
        }
    }
    let usec: u64 = usec?.trim().parse().ok()?;
    if usec == 0 {
        return None;
    }
    Some(Duration::from_micros(usec / 3).clamp(Duration::from_millis(100), Duration::from_secs(5)))
}

fn global() -> Option<&'static Notifier> {
    static NOTIFIER: OnceLock<Option<Notifier>> = OnceLock::new();
    NOTIFIER
        .get_or_init(|| {
            match Notifier::from_env_value(std::env::var_os("NOTIFY_SOCKET").as_deref()) {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "systemd notifications off");
                    None
                }
            }
        })
        .as_ref()
}

/// Send `states` to systemd when run by it (`$NOTIFY_SOCKET`), else nothing.
/// A failure is logged, never fatal: the kiosk keeps serving patients.
pub fn notify(states: &[State]) {
    if let Some(n) = global() {
        if let Err(e) = n.notify(states) {
            tracing::warn!(error = %e, "systemd notification not sent");
        }
    }
}

/// `READY=1` with a status line.
pub fn ready(status: &str) {
    notify(&[State::Ready, State::Status(status.to_string())]);
}

/// `WATCHDOG=1`.
pub fn watchdog() {
    notify(&[State::Watchdog]);
}

/// `STOPPING=1` with a status line.
pub fn stopping(status: &str) {
    notify(&[State::Stopping, State::Status(status.to_string())]);
}

/// The watchdog ping interval for this process, from its environment
/// (`None` outside systemd or without `WatchdogSec=`).
pub fn watchdog_interval_from_env() -> Option<Duration> {
    global()?;
    let var = |k| std::env::var(k).ok();
    watchdog_interval(
        var("WATCHDOG_USEC").as_deref(),
        var("WATCHDOG_PID").as_deref(),
        std::process::id(),
        std::os::unix::process::parent_id(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    #[test]
    fn messages_are_newline_terminated_assignments() {
        assert_eq!(message(&[State::Ready]), "READY=1\n");
        assert_eq!(message(&[State::Watchdog]), "WATCHDOG=1\n");
        assert_eq!(
            message(&[State::Stopping, State::Status("bye\nnow".into())]),
            "STOPPING=1\nSTATUS=bye now\n"
        );
        assert_eq!(
            message(&[State::Ready, State::Status("K01 serving".into())]),
            "READY=1\nSTATUS=K01 serving\n"
        );
        assert_eq!(message(&[]), "");
    }

    #[test]
    fn no_socket_no_notifier() {
        assert!(Notifier::from_env_value(None).unwrap().is_none());
        assert!(Notifier::from_env_value(Some(OsStr::new("")))
            .unwrap()
            .is_none());
        assert!(matches!(
            Notifier::from_env_value(Some(OsStr::new("relative/notify"))),
            Err(NotifyError::BadAddress(_))
        ));
    }

    fn recv(sock: &UnixDatagram) -> String {
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn round_trip_through_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let value = OsString::from(&path);
        let n = Notifier::from_env_value(Some(&value)).unwrap().unwrap();
        n.notify(&[State::Ready, State::Status("up".into())])
            .unwrap();
        assert_eq!(recv(&server), "READY=1\nSTATUS=up\n");
        n.notify(&[State::Watchdog]).unwrap();
        assert_eq!(recv(&server), "WATCHDOG=1\n");
        n.notify(&[State::Stopping]).unwrap();
        assert_eq!(recv(&server), "STOPPING=1\n");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn round_trip_through_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("kiosk-sdnotify-test-{}", std::process::id());
        let server =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let value = OsString::from(format!("@{name}"));
        let n = Notifier::from_env_value(Some(&value)).unwrap().unwrap();
        n.notify(&[State::Watchdog]).unwrap();
        assert_eq!(recv(&server), "WATCHDOG=1\n");
    }

    #[test]
    fn a_missing_socket_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent");
        let n = Notifier::new(path.to_str().unwrap()).unwrap();
        let e = n.notify(&[State::Ready]).unwrap_err();
        assert!(e.to_string().contains("absent"), "{e}");
    }

    #[test]
    fn watchdog_interval_is_a_third_of_the_timeout_for_us_or_our_parent() {
        let s9 = Some("9000000");
        assert_eq!(
            watchdog_interval(s9, None, 10, 1),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            watchdog_interval(s9, Some("10"), 10, 1),
            Some(Duration::from_secs(3))
        );
        // cage is the unit's main process and our parent.
        assert_eq!(
            watchdog_interval(s9, Some("7"), 10, 7),
            Some(Duration::from_secs(3))
        );
        // WatchdogSec=30: every 5 s.
        assert_eq!(
            watchdog_interval(Some("30000000"), None, 10, 7),
            Some(Duration::from_secs(5))
        );
        let s30 = Some("30000000");
        assert_eq!(watchdog_interval(s30, Some("99"), 10, 7), None);
        assert_eq!(watchdog_interval(None, None, 10, 7), None);
        assert_eq!(watchdog_interval(Some("0"), None, 10, 7), None);
        assert_eq!(watchdog_interval(Some("soon"), None, 10, 7), None);
        assert_eq!(
            watchdog_interval(Some("30"), None, 10, 7),
            Some(Duration::from_millis(100))
        );
    }
}

//! Failpoints for the crash harness (`tests/crash.rs`, `scripts/soak.sh`).
//!
//! The runner calls [`hit`] right after every journal commit
//! (`journal:<state>`) and right after every call to HIS, the payment
//! platform or the printer returns (`call:<operation>`), before its result is
//! journalled: the two instants where a crash can separate a side effect from
//! its record.
//!
//! Only a build with the `failpoints` feature has them; without it [`hit`] is
//! empty and the production binary cannot be stopped this way. With the
//! feature:
//! - `KIOSK_FAILPOINT=<name>` stops the process at the first hit of `<name>`:
//!   it prints `FAILPOINT <name>` on stdout and waits to be killed (the
//!   harness sends SIGKILL: nothing after that instant runs, no destructor,
//!   no flush);
//! - `KIOSK_FAILPOINT_TRACE=<file>` appends every name hit to `<file>`, one
//!   per line, so the harness can list the failpoints a transaction passes.

#[cfg(feature = "failpoints")]
pub fn hit(name: &str) {
    use std::io::Write;
    if let Some(path) = std::env::var_os("KIOSK_FAILPOINT_TRACE") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{name}");
        }
    }
    if std::env::var("KIOSK_FAILPOINT").is_ok_and(|armed| armed == name) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "FAILPOINT {name}");
        let _ = out.flush();
        loop {
            // Waiting for SIGKILL: block this thread and everything it holds.
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

/// Without the `failpoints` feature: nothing.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_name: &str) {}

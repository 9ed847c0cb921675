//! Running the CUPS command-line tools with a deadline.
//!
//! A wedged `cupsd` makes `lp` and `lpstat` hang on their IPP request; the
//! kiosk must not hang with them, so every command is killed when it overruns.
//! Commands run in the C locale because their output is parsed.

use super::ReportError;
use std::ffi::OsStr;
use std::io::{ErrorKind, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Output kept from one stream; the tools print a few lines, anything beyond
/// this is noise that must not grow the kiosk's memory.
const MAX_OUTPUT: u64 = 256 * 1024;

/// What a finished command printed.
#[derive(Debug)]
pub(crate) struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// stderr, or stdout when stderr is empty (some tools report errors on
    /// stdout), trimmed for an error message.
    pub fn complaint(&self) -> String {
        let text = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        text.trim().to_string()
    }
}

/// `program args…` as a technician would type it, for error messages.
pub(crate) fn display<S: AsRef<OsStr>>(program: &str, args: &[S]) -> String {
    let mut s = program.to_string();
    for a in args {
        s.push(' ');
        s.push_str(&a.as_ref().to_string_lossy());
    }
    s
}

/// Run `program` with `args`, stdin closed, and wait at most `timeout`.
///
/// A program that is not installed is [`ReportError::CommandMissing`]; one
/// that overruns is killed and is [`ReportError::Timeout`]. A non-zero exit
/// is *not* an error here: callers read stderr to tell what went wrong.
pub(crate) fn run<S: AsRef<OsStr>>(
    program: &'static str,
    args: &[S],
    timeout: Duration,
) -> Result<Output, ReportError> {
    let shown = display(program, args);
    let mut child = Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .env("LANG", "C")
        .env_remove("LANGUAGE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => ReportError::CommandMissing { cmd: program },
            _ => ReportError::Io {
                what: format!("starting `{shown}`"),
                source: e,
            },
        })?;

    // Drain both pipes while waiting, so a chatty child never blocks on a
    // full pipe; the readers report through channels so that a grandchild
    // holding a pipe open cannot make us wait past the deadline either.
    let (out_tx, out_rx) = mpsc::channel();
    let (err_tx, err_rx) = mpsc::channel();
    if let Some(s) = child.stdout.take() {
        thread::spawn(move || out_tx.send(read_capped(s)));
    }
    if let Some(s) = child.stderr.take() {
        thread::spawn(move || err_tx.send(read_capped(s)));
    }

    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(2);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ReportError::Io {
                    what: format!("waiting for `{shown}`"),
                    source: e,
                });
            }
        }
        let now = Instant::now();
        if now >= deadline {
            // kill() fails only if the child already exited; wait() reaps it
            // either way so no zombie is left behind.
            let _ = child.kill();
            let _ = child.wait();
            return Err(ReportError::Timeout {
                what: format!("`{shown}`"),
                after: timeout,
            });
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    };

    let grace = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(200));
    let stdout = out_rx.recv_timeout(grace).unwrap_or_default();
    let stderr = err_rx.recv_timeout(grace).unwrap_or_default();
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

fn read_capped(stream: impl Read) -> String {
    let mut buf = Vec::new();
    let mut limited = stream.take(MAX_OUTPUT);
    let _ = limited.read_to_end(&mut buf);
    // Drain the rest so the child does not block on a full pipe.
    let mut rest = limited.into_inner();
    let _ = std::io::copy(&mut rest, &mut std::io::sink());
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_is_a_typed_error() {
        let err = run(
            "kiosk-no-such-program-lp",
            &["-d", "PDF"],
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                ReportError::CommandMissing {
                    cmd: "kiosk-no-such-program-lp"
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("not found"), "{err}");
    }

    #[test]
    fn an_overrunning_program_is_killed() {
        let started = Instant::now();
        let err = run("sleep", &["5"], Duration::from_millis(150)).unwrap_err();
        assert!(matches!(err, ReportError::Timeout { .. }), "{err:?}");
        assert!(err.to_string().contains("`sleep 5`"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn output_and_exit_status_are_kept() {
        let out = run(
            "sh",
            &["-c", "echo out; echo err >&2; exit 3"],
            Duration::from_secs(5),
        )
        .unwrap();
        assert!(!out.success());
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.complaint(), "err");
    }

    #[test]
    fn commands_run_in_the_c_locale() {
        let out = run("sh", &["-c", "echo $LC_ALL"], Duration::from_secs(5)).unwrap();
        assert_eq!(out.stdout.trim(), "C");
    }
}

//! Voice prompts (elderly mode): each step's prompt is spoken by espeak-ng
//! (or the configured program) on a worker thread, so the UI never waits
//! for it. A new prompt cuts the one still speaking: the patient hears the
//! screen they are on, not a queue of screens they have left.

use super::Lang;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The speaker. Cheap to clone; `say` never blocks.
#[derive(Clone, Default)]
pub struct Voice {
    tx: Option<mpsc::Sender<(Lang, String)>>,
    /// Every prompt asked for, in order (for the maintenance log and tests).
    said: Arc<Mutex<Vec<String>>>,
}

impl Voice {
    /// Silent: `say` only records.
    pub fn off() -> Voice {
        Voice::default()
    }

    /// Speak with `program` (`-v cmn|en <text>` are appended).
    pub fn start(program: &str) -> Voice {
        let (tx, rx) = mpsc::channel::<(Lang, String)>();
        let program = program.to_string();
        let spawned = std::thread::Builder::new()
            .name("ui-voice".into())
            .spawn(move || speaker(&program, rx));
        Voice {
            tx: spawned.is_ok().then_some(tx),
            said: Arc::default(),
        }
    }

    pub fn say(&self, lang: Lang, text: &str) {
        if text.is_empty() {
            return;
        }
        self.said
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(text.to_string());
        if let Some(tx) = &self.tx {
            let _ = tx.send((lang, text.to_string()));
        }
    }

    /// The prompts asked for so far.
    pub fn said(&self) -> Vec<String> {
        self.said.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn speaker(program: &str, rx: mpsc::Receiver<(Lang, String)>) {
    let mut current: Option<Child> = None;
    let mut missing = false;
    loop {
        let next = match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(m) => Some(m),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        // Reap a finished prompt.
        if let Some(c) = current.as_mut() {
            if !matches!(c.try_wait(), Ok(None)) {
                current = None;
            }
        }
        let Some((lang, text)) = next else { continue };
        // Only the newest prompt matters.
        let (lang, text) = rx.try_iter().last().unwrap_or((lang, text));
        if let Some(mut c) = current.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if missing {
            continue;
        }
        let voice = match lang {
            Lang::Zh => "cmn",
            Lang::En => "en",
        };
        match Command::new(program)
            .args(["-v", voice, &text])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => current = Some(c),
            Err(e) => {
                // Said once; the kiosk works silently without it.
                tracing::warn!(program, error = %e, "voice prompts are off: the speech program cannot run");
                missing = true;
            }
        }
    }
    if let Some(mut c) = current {
        let _ = c.kill();
        let _ = c.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_is_silent_and_never_blocks() {
        let v = Voice::start("/nonexistent/espeak-ng");
        for i in 0..100 {
            v.say(Lang::Zh, &format!("提示 {i}"));
        }
        assert_eq!(v.said().len(), 100);
        assert_eq!(v.said()[99], "提示 99");
    }

    #[test]
    fn the_program_gets_the_voice_and_the_text() {
        // A stand-in speaker that writes what it was asked to say.
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("said.txt");
        let script = dir.path().join("speak.sh");
        std::fs::write(
            &script,
            format!("#!/bin/sh\necho \"$@\" >> {}\n", out.display()),
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let v = Voice::start(script.to_str().unwrap());
        v.say(Lang::Zh, "请出示身份证");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = std::fs::read_to_string(&out).unwrap_or_default();
            if got.contains("-v cmn 请出示身份证") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the speaker never ran: {got:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

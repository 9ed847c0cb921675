//! Our drivers against the third-party emulator `emupos` (PyPI, pinned by
//! `scripts/svc/emupos.sh`, driven by `scripts/emupos_bridge.py`): a device
//! model we did not write, so the encoder, the status handling and the
//! scanner framing are checked against someone else's reading of ESC/POS.
//!
//! Needs Python 3.13 (for the emupos venv) and `socat` (for the scanner's
//! pty pair). Without them the tests print `skipped: ...` and pass, unless
//! `KIOSK_REQUIRE_EMUPOS=1` is set, which turns every missing piece into a
//! failure.

use kiosk_drivers::escpos::doc::Doc;
use kiosk_drivers::printer::{EscPosPrinter, Link, PrinterError, ReceiptPrinter};
use kiosk_drivers::scanner::{CodeScanner, Scanned, SerialScanner};
use kiosk_drivers::Health;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

// --- gating and the emupos venv ------------------------------------------------------------

fn required() -> bool {
    std::env::var("KIOSK_REQUIRE_EMUPOS").is_ok_and(|v| v == "1")
}

/// A missing piece: a failure under `KIOSK_REQUIRE_EMUPOS=1`, otherwise a skip.
fn missing(what: &str) -> Option<PathBuf> {
    if required() {
        panic!("KIOSK_REQUIRE_EMUPOS=1 but {what}");
    }
    eprintln!("skipped: {what} (set KIOSK_REQUIRE_EMUPOS=1 to make this a failure)");
    None
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("drivers/ has a parent")
        .to_path_buf()
}

fn bridge_script() -> PathBuf {
    repo_root().join("scripts/emupos_bridge.py")
}

/// The emupos venv's python (`scripts/svc/emupos.sh`, run once per test binary).
fn venv_python() -> Option<PathBuf> {
    static PY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let got = PY.get_or_init(|| {
        let script = repo_root().join("scripts/svc/emupos.sh");
        let out = Command::new("bash")
            .arg(&script)
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(format!(
                "{} failed ({}): {}",
                script.display(),
                out.status,
                stderr.trim()
            ));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let py = PathBuf::from(stdout.lines().last().unwrap_or("").trim());
        if !py.is_file() {
            return Err(format!(
                "{} printed {:?}, which is not the venv's python; stderr: {}",
                script.display(),
                stdout.trim(),
                stderr.trim()
            ));
        }
        Ok(py)
    });
    match got {
        Ok(py) => Some(py.clone()),
        Err(e) => missing(&format!("the emupos venv is not available: {e}")),
    }
}

fn socat() -> Option<PathBuf> {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join("socat");
        if p.is_file() {
            return Some(p);
        }
    }
    missing("socat is not installed (needed for the scanner's pty pair)")
}

// --- processes -----------------------------------------------------------------------------

/// A child process that is stopped (SIGTERM, then SIGKILL) when dropped,
/// so nothing outlives a failed assertion.
struct Proc {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command) -> Proc {
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stdin = child.stdin.take();
        Proc { name, child, stdin }
    }

    /// Wait for the process to exit by itself, at most `limit`.
    fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(s)) => return Some(s),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => return None,
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Closing stdin alone stops a bridge started with --stop-on-stdin-eof.
        drop(self.stdin.take());
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if self.wait_exit(Duration::from_secs(5)).is_none() {
            eprintln!("{} ignored SIGTERM; killing it", self.name);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The emupos printer, listening on TCP; receipts as JSON lines.
struct EmuPrinter {
    proc: Proc,
    tcp: String,
    /// `host:port` of emupos's control API.
    api: String,
    receipts: PathBuf,
    events: PathBuf,
    stderr: PathBuf,
}

impl EmuPrinter {
    fn start(py: &Path, dir: &Path) -> EmuPrinter {
        let receipts = dir.join("receipts.jsonl");
        let events = dir.join("events.jsonl");
        let stderr = dir.join("bridge.stderr");
        let mut proc = Proc::spawn(
            "emupos printer",
            Command::new(py)
                .arg(bridge_script())
                .args(["printer", "--port", "0", "--idle-timeout-ms", "300"])
                .args(["--reinterpret", "gb18030", "--stop-on-stdin-eof"])
                .arg("--out")
                .arg(&receipts)
                .arg("--events")
                .arg(&events)
                .arg("--receipts-dir")
                .arg(dir.join("receipts"))
                .current_dir(dir)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(std::fs::File::create(&stderr).expect("bridge stderr file")),
        );
        // The first stdout line says ready (or why not); read it with a deadline.
        let stdout = proc.child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for _ in lines {} // keep the pipe drained until the bridge exits
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Some(Ok(l))) => l,
            other => panic!(
                "emupos printer did not say ready within 30 s ({other:?}); stderr: {}",
                read_lossy(&stderr)
            ),
        };
        let ready = Json::parse(&line)
            .unwrap_or_else(|e| panic!("bridge's first line is not JSON ({e}): {line}"));
        assert_eq!(
            ready.get("event").and_then(Json::as_str),
            Some("ready"),
            "emupos printer did not start: {line}; stderr: {}",
            read_lossy(&stderr)
        );
        let tcp = ready.get("tcp").and_then(Json::as_str).expect("tcp");
        let api = ready.get("api").and_then(Json::as_str).expect("api");
        let api = api.strip_prefix("http://").unwrap_or(api).to_string();
        EmuPrinter {
            proc,
            tcp: tcp.to_string(),
            api,
            receipts,
            events,
            stderr,
        }
    }

    fn diagnostics(&self) -> String {
        format!(
            "emupos events: {}\nbridge stderr: {}",
            read_lossy(&self.events),
            read_lossy(&self.stderr)
        )
    }

    /// Complete receipt records written so far (only lines ending in `\n`).
    fn receipts(&self) -> Vec<Json> {
        let text = std::fs::read_to_string(&self.receipts).unwrap_or_default();
        let complete = match text.rfind('\n') {
            Some(i) => &text[..i],
            None => "",
        };
        complete
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| Json::parse(l).unwrap_or_else(|e| panic!("bad receipt line ({e}): {l}")))
            .filter(|r| r.get("kind").and_then(Json::as_str) == Some("receipt"))
            .collect()
    }

    /// Wait until there are at least `n` receipts.
    fn wait_receipts(&self, n: usize, limit: Duration) -> Vec<Json> {
        let deadline = Instant::now() + limit;
        loop {
            let got = self.receipts();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "emupos completed {} receipt(s) within {limit:?}, expected {n}\n{}",
                got.len(),
                self.diagnostics()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `PUT` (set) or `DELETE` (clear) a fault on emupos's printer `front`.
    fn fault(&self, method: &str, fault: &str) {
        let path = format!("/api/v1/devices/front/faults/{fault}");
        let (status, body) = http(&self.api, method, &path);
        assert!(
            (200..300).contains(&status),
            "{method} {path} answered {status}: {body}\n{}",
            self.diagnostics()
        );
    }

    fn printer(&self, columns: usize) -> EscPosPrinter {
        EscPosPrinter::new(Link::Tcp(self.tcp.clone()), columns, Duration::from_secs(2))
            .with_print_timeout(Duration::from_secs(10))
    }

    fn pid(&self) -> u32 {
        self.proc.child.id()
    }
}

fn read_lossy(p: &Path) -> String {
    std::fs::read(p)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| format!("<{}: {e}>", p.display()))
}

/// A bodiless HTTP/1.1 request; the status code and body of the answer.
fn http(addr: &str, method: &str, path: &str) -> (u16, String) {
    use std::net::{TcpStream, ToSocketAddrs};
    let sa = addr
        .to_socket_addrs()
        .unwrap_or_else(|e| panic!("control API address {addr}: {e}"))
        .next()
        .expect("control API address resolves");
    let mut s = TcpStream::connect_timeout(&sa, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("cannot reach emupos's control API at {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)
        .unwrap_or_else(|e| panic!("{method} {path}: reading the answer: {e}"));
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("{method} {path}: not an HTTP answer: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

// --- a small JSON reader (the crate has no JSON dependency) ----------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(BTreeMap<String, Json>),
}

impl Json {
    fn parse(s: &str) -> Result<Json, String> {
        let mut p = JsonParser {
            s: s.as_bytes(),
            i: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing bytes at {}", p.i));
        }
        Ok(v)
    }

    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(m) => m.get(key),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }

    fn as_array(&self) -> &[Json] {
        match self {
            Json::Arr(a) => a,
            _ => &[],
        }
    }

    /// `self[key]` as a list of strings (non-strings skipped).
    fn strings(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(Json::as_array)
            .unwrap_or_default()
            .iter()
            .filter_map(Json::as_str)
            .map(str::to_string)
            .collect()
    }
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &str) -> Result<(), String> {
        if self.s[self.i..].starts_with(lit.as_bytes()) {
            self.i += lit.len();
            Ok(())
        } else {
            Err(format!("expected {lit:?} at {}", self.i))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.s.get(self.i) {
            None => Err("unexpected end".into()),
            Some(b'n') => self.eat("null").map(|_| Json::Null),
            Some(b't') => self.eat("true").map(|_| Json::Bool(true)),
            Some(b'f') => self.eat("false").map(|_| Json::Bool(false)),
            Some(b'"') => self.string().map(Json::Str),
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(items));
                        }
                        _ => return Err(format!("expected , or ] at {}", self.i)),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut map = BTreeMap::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(map));
                }
                loop {
                    self.ws();
                    let k = self.string()?;
                    self.ws();
                    self.eat(":")?;
                    let v = self.value()?;
                    map.insert(k, v);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(map));
                        }
                        _ => return Err(format!("expected , or }} at {}", self.i)),
                    }
                }
            }
            Some(_) => {
                let start = self.i;
                while self.i < self.s.len() && b"+-0123456789.eE".contains(&self.s[self.i]) {
                    self.i += 1;
                }
                std::str::from_utf8(&self.s[start..self.i])
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .map(Json::Num)
                    .ok_or_else(|| format!("bad value at {start}"))
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let t = self
            .s
            .get(self.i..self.i + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| format!("bad \\u escape at {}", self.i))?;
        self.i += 4;
        Ok(t)
    }

    fn string(&mut self) -> Result<String, String> {
        self.eat("\"")?;
        let mut out = Vec::new();
        loop {
            let Some(&b) = self.s.get(self.i) else {
                return Err("unterminated string".into());
            };
            self.i += 1;
            match b {
                b'"' => return String::from_utf8(out).map_err(|e| e.to_string()),
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return Err("unterminated escape".into());
                    };
                    self.i += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi)
                                && self.s[self.i..].starts_with(b"\\u")
                            {
                                self.i += 2;
                                let lo = self.hex4()?;
                                0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF)
                            } else {
                                hi
                            };
                            char::from_u32(code).unwrap_or('\u{FFFD}')
                        }
                        other => return Err(format!("bad escape \\{}", other as char)),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                _ => out.push(b),
            }
        }
    }
}

// --- the tests -----------------------------------------------------------------------------

const HOSPITAL: &str = "宁波市第一人民医院";
const VISIT: &str = "V20261123000017";
const QR_PAYLOAD: &str = "https://his.example.cn/q?v=V20261123000017&d=0305";

/// A registration slip for 58 mm paper (32 columns).
fn registration_slip() -> Doc {
    let mut d = Doc::new(32);
    d.title(HOSPITAL)
        .center("挂号凭条 Registration slip")
        .rule()
        .pair("科室 Dept", "眼科 Ophthalmology")
        .pair("诊室 Room", "门诊楼3楼305")
        .pair("费用 Fee", "¥15.00")
        .big("12号")
        .text("请凭此条到诊室外候诊")
        .qr(QR_PAYLOAD)
        .barcode(VISIT)
        .cut();
    d
}

/// The Chinese/ASCII text lines of the slip as the Doc laid them out.
fn doc_lines(d: &Doc) -> Vec<String> {
    d.blocks
        .iter()
        .filter_map(|b| match b {
            kiosk_drivers::escpos::doc::Block::Text { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_slip_printed_through_our_driver_is_decoded_by_emupos() {
    let Some(py) = venv_python() else { return };
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let emu = EmuPrinter::start(&py, dir.path());
    let started = t0.elapsed();
    let p = emu.printer(32);
    assert_eq!(p.check(), Health::Ok, "{}", emu.diagnostics());
    let slip = registration_slip();
    p.print(&slip)
        .unwrap_or_else(|e| panic!("print failed: {e}\n{}", emu.diagnostics()));
    assert_eq!(p.health(), Health::Ok);

    let receipts = emu.wait_receipts(1, Duration::from_secs(10));
    let printed = t0.elapsed() - started;
    let r = &receipts[0];
    let show = format!("receipt: {r:?}\n{}", emu.diagnostics());
    assert_eq!(r.get("cut").and_then(Json::as_bool), Some(true), "{show}");
    assert_eq!(
        r.get("boundary").and_then(Json::as_str),
        Some("cut"),
        "{show}"
    );
    assert_eq!(r.strings("qr"), vec![QR_PAYLOAD.to_string()], "{show}");
    let barcodes = r.get("barcodes").map(Json::as_array).unwrap_or_default();
    assert_eq!(barcodes.len(), 1, "{show}");
    assert_eq!(
        barcodes[0].get("symbology").and_then(Json::as_str),
        Some("CODE39"),
        "{show}"
    );
    // We send the bare data (`GS k 4 V2026... NUL`); like an Epson printer,
    // emupos adds CODE39's start/stop `*` and prints them in the HRI.
    let bytes = slip.to_escpos().unwrap();
    let gs_k: Vec<u8> = [&[0x1D, b'k', 4][..], VISIT.as_bytes(), &[0]].concat();
    assert!(
        bytes.windows(gs_k.len()).any(|w| w == gs_k),
        "our encoder does not send GS k 4 {VISIT} NUL"
    );
    assert_eq!(
        barcodes[0].get("hri").and_then(Json::as_str),
        Some(format!("*{VISIT}*").as_str()),
        "{show}"
    );

    // emupos prints bytes >= 0x80 as PC437; the bridge turns each line back
    // into bytes and decodes GB18030. The text lines must come back exactly
    // as the Doc laid them out, in order (emupos's dump does not pad
    // justified lines); QR/barcode markers and feeds are left out.
    let decoded: Vec<String> = r
        .strings("lines_gb18030")
        .into_iter()
        .filter(|l| !l.is_empty() && !l.starts_with("[qr ") && !l.starts_with("[barcode "))
        .collect();
    assert_eq!(decoded, doc_lines(&slip), "{show}");
    for must in [
        HOSPITAL,
        "眼科 Ophthalmology",
        "门诊楼3楼305",
        "￥15.00",
        "12号",
    ] {
        assert!(
            decoded.iter().any(|l| l.contains(must)),
            "{must:?} missing from {decoded:#?}"
        );
    }
    let problems = r.get("problems").map(Json::as_array).unwrap_or_default();
    assert!(
        problems.is_empty(),
        "emupos flagged our bytes: {problems:#?}\n{show}"
    );

    // The status bytes after the cut (GS r 1, DLE EOT) and the closing of the
    // connection must not turn into a second, empty receipt.
    std::thread::sleep(Duration::from_millis(800));
    let all = emu.receipts();
    assert_eq!(
        all.len(),
        1,
        "extra receipts after the cut: {all:#?}\n{}",
        emu.diagnostics()
    );
    eprintln!(
        "emupos (pid {}) ready in {started:?}; slip printed and decoded in {printed:?}",
        emu.pid(),
    );
}

#[test]
fn emupos_faults_are_seen_by_our_status_query() {
    let Some(py) = venv_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let emu = EmuPrinter::start(&py, dir.path());
    let p = emu.printer(32);
    let mut short = Doc::new(32);
    short.text("测试 test").cut();
    assert_eq!(p.check(), Health::Ok, "{}", emu.diagnostics());

    emu.fault("PUT", "paper-out");
    let h = p.check();
    assert!(
        matches!(&h, Health::Fault(r) if r.contains("paper out")),
        "paper out reads as {h}\n{}",
        emu.diagnostics()
    );
    let err = p.print(&short).unwrap_err();
    assert!(
        matches!(&err, PrinterError::NotReady { status, .. } if status.paper_end),
        "{err:?}"
    );
    assert!(matches!(p.health(), Health::Fault(r) if r.contains("paper out")));
    emu.fault("DELETE", "paper-out");
    assert_eq!(p.check(), Health::Ok, "{}", emu.diagnostics());

    emu.fault("PUT", "cover-open");
    let h = p.check();
    assert!(
        matches!(&h, Health::Fault(r) if r.contains("cover open")),
        "cover open reads as {h}\n{}",
        emu.diagnostics()
    );
    let err = p.print(&short).unwrap_err();
    assert!(
        matches!(&err, PrinterError::NotReady { status, .. } if status.cover_open),
        "{err:?}"
    );
    emu.fault("DELETE", "cover-open");
    assert_eq!(p.check(), Health::Ok, "{}", emu.diagnostics());

    emu.fault("PUT", "paper-near-end");
    let h = p.check();
    assert!(
        matches!(&h, Health::Degraded(r) if r.contains("paper near end")),
        "paper near end reads as {h}\n{}",
        emu.diagnostics()
    );
    emu.fault("DELETE", "paper-near-end");
    assert_eq!(p.check(), Health::Ok, "{}", emu.diagnostics());

    // Nothing reached the paper while faulted; once cleared, a slip prints.
    assert!(emu.receipts().is_empty(), "{:#?}", emu.receipts());
    p.print(&short)
        .unwrap_or_else(|e| panic!("print after clearing faults: {e}\n{}", emu.diagnostics()));
    let got = emu.wait_receipts(1, Duration::from_secs(10));
    assert_eq!(got.len(), 1);
    assert!(got[0]
        .strings("lines_gb18030")
        .iter()
        .any(|l| l.trim() == "测试 test"));
}

#[test]
fn codes_scanned_by_emupos_reach_our_scanner_driver() {
    let Some(py) = venv_python() else { return };
    let Some(socat) = socat() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("scanA"), dir.path().join("scanB"));
    let socat_err = dir.path().join("socat.stderr");
    let _pair = Proc::spawn(
        "socat",
        Command::new(socat)
            .arg("-d")
            .arg("-d")
            .arg(format!("pty,raw,echo=0,link={}", a.display()))
            .arg(format!("pty,raw,echo=0,link={}", b.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&socat_err).unwrap()),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(a.exists() && b.exists()) {
        assert!(
            Instant::now() < deadline,
            "socat made no pty pair in 10 s: {}",
            read_lossy(&socat_err)
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let scanner = SerialScanner::start(
        b.to_string_lossy().into_owned(),
        9600,
        512,
        Duration::from_millis(200),
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while scanner.health() != Health::Ok {
        assert!(
            Instant::now() < deadline,
            "scanner did not open {}: {}",
            b.display(),
            scanner.health()
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let scan = |code: &str| {
        let t = Instant::now();
        let stderr = dir.path().join("scan.stderr");
        let mut proc = Proc::spawn(
            "emupos scan",
            Command::new(&py)
                .arg(bridge_script())
                .args(["scan", "--device"])
                .arg(&a)
                .args(["--code", code])
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&stderr).unwrap()),
        );
        let status = proc.wait_exit(Duration::from_secs(30));
        assert!(
            status.is_some_and(|s| s.success()),
            "emupos scan {code}: {status:?}; stderr: {}",
            read_lossy(&stderr)
        );
        let got = scanner
            .next_scan(Duration::from_secs(5))
            .unwrap_or_else(|| panic!("{code} scanned by emupos never reached our driver"));
        eprintln!("scanned {code} in {:?}", t.elapsed());
        got.unwrap_or_else(|e| panic!("{code}: our driver rejected emupos's scan: {e}"))
    };
    assert_eq!(
        scan("134567890123456789"),
        Scanned::PaymentCode("134567890123456789".into())
    );
    assert_eq!(scan("R0001234"), Scanned::ReportBarcode("R0001234".into()));
    // CR LF ends one code, not two: nothing else is queued.
    assert_eq!(scanner.next_scan(Duration::from_millis(300)), None);
}

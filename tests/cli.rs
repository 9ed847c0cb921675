//! The `kiosk` binary as a user runs it: --version, config check, his-sim,
//! and the demo kiosk starting its embedded simulator and reaching it over HTTP.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn kiosk() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kiosk"));
    c.env_remove("KIOSK_CONFIG").env_remove("RUST_LOG");
    c
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Send `req` until the freshly started server answers (30 s at most).
async fn first_answer(req: reqwest::RequestBuilder) -> reqwest::Response {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match req.try_clone().unwrap().send().await {
            Ok(r) => return r,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("the server did not start: {e}"),
        }
    }
}

#[test]
fn version() {
    let out = kiosk().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("kiosk "));
}

#[test]
fn config_check_lists_every_problem_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("kiosk.toml");
    std::fs::write(&good, "[kiosk]\nid = \"K05\"\n").unwrap();
    let out = kiosk()
        .args(["config", "check"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok"));

    let bad = dir.path().join("bad.toml");
    let mut f = std::fs::File::create(&bad).unwrap();
    writeln!(
        f,
        "[kiosk]\nid = \"K 05\"\nidd = 1\n[ui]\nidle_timeout_secs = 5"
    )
    .unwrap();
    let out = kiosk()
        .args(["config", "check"])
        .arg(&good)
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let bad_name = bad.display().to_string();
    for key in ["kiosk.id", "kiosk.idd", "ui.idle_timeout_secs"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&bad_name) && l.contains(&format!(": {key}: "))),
            "no line for {key} in:\n{text}"
        );
    }
    // The warning default (20 s) is no longer below the bad timeout: a fourth problem, blamed on the defaults.
    assert!(text.contains("4 problem(s)"), "{text}");
}

#[test]
fn a_bad_config_stops_the_kiosk_with_a_clear_message() {
    let out = kiosk()
        .env("KIOSK_HIS__MODE", "remote")
        .env("KIOSK_HIS__BASE_URL", "not a url")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("environment KIOSK_HIS__BASE_URL: his.base_url"),
        "{err}"
    );
}

fn wait_for_line(child: &mut Child, needle: &str, timeout: Duration) -> Vec<String> {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            let done = line.contains(needle);
            seen.push(line);
            if done {
                return seen;
            }
        }
    }
    panic!(
        "no {needle:?} within {timeout:?}; saw:\n{}",
        seen.join("\n")
    );
}

#[test]
fn the_demo_kiosk_reaches_its_embedded_simulator_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let child = kiosk()
        .env("KIOSK_KIOSK__DATA_DIR", dir.path())
        .env("KIOSK_HIS__EMBEDDED__TODAY", "2026-11-23")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Killed(child);
    let lines = wait_for_line(&mut child.0, "HIS ready", Duration::from_secs(60));
    let all = lines.join("\n");
    assert!(all.contains("embedded HIS simulator listening"), "{all}");
    assert!(all.contains("connected to HIS"), "{all}");
    assert!(dir.path().join("his-sim.db").exists());
}

#[test]
fn his_sim_serves_the_protocol_and_refuses_strangers() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = kiosk()
        .args([
            "his-sim",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--today",
            "2026-11-23",
            "--token",
            "s3cret",
            "--db",
        ])
        .arg(dir.path().join("sim.db"))
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let _child = Killed(child);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}/v1/ping");
        let resp = first_answer(http.get(&url)).await;
        assert_eq!(resp.status(), 401);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["code"], "UNAUTHORIZED");
        let ok = http
            .get(&url)
            .bearer_auth("s3cret")
            .header("X-Hospital-Id", "H0001")
            .header("X-Kiosk-Id", "K01")
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        let ping: serde_json::Value = ok.json().await.unwrap();
        assert_eq!(ping["today"], "2026-11-23");
    });
}

#[test]
fn pay_sim_serves_and_refuses_unsigned_requests() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = kiosk()
        .args([
            "pay-sim",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--today",
            "2026-11-23",
            "--db",
        ])
        .arg(dir.path().join("pay.db"))
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let _child = Killed(child);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}/v1/ping");
        let resp = first_answer(http.get(&url).header("X-Kiosk-Id", "K01")).await;
        assert_eq!(resp.status(), 401, "an unsigned request is refused");
        // The real client with the demo key is accepted.
        let base = url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let cfg = kiosk::pay::HttpPayConfig::simple(
            base,
            "K01",
            kiosk::pay::sign::KioskKey::demo(),
            Duration::from_secs(5),
        );
        let pay = kiosk::pay::HttpPay::new(cfg).unwrap();
        use kiosk::pay::PaymentGateway;
        pay.ping().await.unwrap();
    });
}

#[test]
fn doctor_lists_the_demo_devices_and_tests_each_through_its_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let out = kiosk()
        .args([
            "doctor",
            "--print",
            "--print-a4",
            "--read",
            "5",
            "--scan",
            "5",
        ])
        .env("KIOSK_KIOSK__DATA_DIR", dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for device in [
        "receipt_printer",
        "id_card_reader",
        "health_card_reader",
        "scanner",
        "report_printer",
    ] {
        assert!(text.contains(device), "{device} missing:\n{text}");
    }
    for test in [
        "print ",
        "print-readback",
        "print-a4",
        "read-id-card",
        "scan",
    ] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("test {test}")))
            .unwrap_or_else(|| panic!("no test {test}:\n{text}"));
        assert!(line.contains(" ok "), "{line}");
    }
    assert!(text.contains("宁波") || text.contains("医院"), "{text}");
    assert!(text.ends_with("0 problem(s)\n"), "{text}");
    // The A4 test page landed as a PDF.
    let pdfs: Vec<_> = std::fs::read_dir(dir.path().join("reports-printed"))
        .unwrap()
        .collect();
    assert_eq!(pdfs.len(), 1);
}

#[test]
fn doctor_reports_a_dead_printer_and_a_missing_reader_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let out = kiosk()
        .args(["doctor", "--print", "--json"])
        .env("KIOSK_KIOSK__DATA_DIR", dir.path())
        .env("KIOSK_DEVICES__RECEIPT_PRINTER__DRIVER", "\"tcp\"")
        .env(
            "KIOSK_DEVICES__RECEIPT_PRINTER__ADDRESS",
            format!("\"127.0.0.1:{}\"", free_port()),
        )
        .env("KIOSK_DEVICES__RECEIPT_PRINTER__TIMEOUT_MS", "300")
        .env("KIOSK_DEVICES__ID_CARD_READER__DRIVER", "\"serial\"")
        .env(
            "KIOSK_DEVICES__ID_CARD_READER__ADDRESS",
            format!("\"{}\"", dir.path().join("ttyUSB9").display()),
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let health = |name: &str| {
        v["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == name)
            .unwrap()["health"]
            .clone()
    };
    assert_eq!(health("receipt_printer")["state"], "fault", "{text}");
    assert_eq!(health("id_card_reader")["state"], "fault", "{text}");
    assert_eq!(health("scanner")["state"], "ok", "{text}");
    let print = &v["tests"][0];
    assert_eq!(print["test"], "print");
    assert_eq!(print["ok"], false);
}

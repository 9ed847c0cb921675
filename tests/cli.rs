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

#[test]
fn signed_configs_load_and_tampered_or_unsigned_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = kiosk()
        .args(["config", "keygen", "--out"])
        .arg(d.join("keys"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let key = d.join("keys/fleet-signing.key");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the signing key is private");
    }
    let trusted = d.join("trusted-keys");
    std::fs::copy(d.join("keys/fleet-signing.pub"), &trusted).unwrap();
    let hospital = d.join("hospital.toml");
    std::fs::write(
        &hospital,
        format!(
            "[kiosk]\ndata_dir = \"{}\"\n[ui]\nidle_timeout_secs = 90\n",
            d.join("data").display()
        ),
    )
    .unwrap();
    let check = |extra: &[&str]| {
        kiosk()
            .arg("--trusted-keys")
            .arg(&trusted)
            .args(["config", "check"])
            .arg(&hospital)
            .args(extra)
            .output()
            .unwrap()
    };
    // Unsigned: refused with the reason.
    let out = check(&[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(text.contains("not signed"), "{text}");
    // Signed: fine.
    let out = kiosk()
        .args(["config", "sign", "--key"])
        .arg(&key)
        .arg(&hospital)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = check(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Changed after signing: refused, and the kiosk will not start on it.
    let mut text = std::fs::read_to_string(&hospital).unwrap();
    text = text.replace("90", "900");
    std::fs::write(&hospital, text).unwrap();
    let out = check(&[]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("changed after signing"),
        "{out:?}"
    );
    let out = kiosk()
        .arg("--trusted-keys")
        .arg(&trusted)
        .arg("--config")
        .arg(&hospital)
        .arg("recover")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("changed after signing"),
        "{out:?}"
    );
}

#[test]
fn config_diff_shows_what_changes_and_hides_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.toml");
    let b = dir.path().join("b.toml");
    std::fs::write(
        &a,
        "[ui]\nidle_timeout_secs = 60\n[his]\ntoken = \"alpha-secret\"\n",
    )
    .unwrap();
    std::fs::write(
        &b,
        "[ui]\nidle_timeout_secs = 90\n[his]\ntoken = \"beta-secret\"\n[reports]\nmax_prints = 3\n",
    )
    .unwrap();
    let out = kiosk()
        .args(["config", "diff"])
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("~ ui.idle_timeout_secs: 60 -> 90"), "{text}");
    assert!(text.contains("~ reports.max_prints: 2 -> 3"), "{text}");
    assert!(text.contains("his.token"), "{text}");
    assert!(
        !text.contains("alpha-secret") && !text.contains("beta-secret"),
        "{text}"
    );
    let same = kiosk()
        .args(["config", "diff"])
        .arg(&a)
        .arg(&a)
        .output()
        .unwrap();
    assert!(same.status.success());
}

#[test]
fn config_show_masks_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("k.toml");
    std::fs::write(
        &f,
        "[his]\ntoken = \"gamma-secret\"\n[status]\ntoken = \"delta-secret\"\n",
    )
    .unwrap();
    let out = kiosk()
        .arg("--config")
        .arg(&f)
        .args(["config", "show"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("idle_timeout_secs"), "{text}");
    assert!(text.contains("<secret>"), "{text}");
    assert!(
        !text.contains("gamma-secret") && !text.contains("delta-secret"),
        "{text}"
    );
}

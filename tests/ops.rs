//! Operations over real HTTP: the status endpoint (`/healthz`, `/readyz`,
//! `/metrics`) and the fleet heartbeat of the demo kiosk's `App` (embedded
//! HIS and payment simulators, simulated devices), after real transactions
//! through the runner. The fleet server is a local axum server that records
//! what it is sent.

use kiosk::app::App;
use kiosk::txn::{Intent, Outcome, PatientRef, TxnState};
use kiosk::ui::screenshot::demo_app;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Kiosk {
    rt: tokio::runtime::Runtime,
    app: App,
    _dir: tempfile::TempDir,
}

fn kiosk(env: &[(&str, &str)]) -> Kiosk {
    let dir = tempfile::tempdir().unwrap();
    let mut vars = vec![("KIOSK_STATUS__LISTEN", "\"127.0.0.1:0\"")];
    vars.extend_from_slice(env);
    let (rt, app) = demo_app(dir.path(), &vars).unwrap();
    Kiosk { rt, app, _dir: dir }
}

/// A seeded patient as the runner knows them, and the full record.
fn patient(app: &App, n: usize) -> (PatientRef, kiosk::his::sim::seed::SeedPatient) {
    let p = kiosk::his::sim::seeded_patients(app.his_sim.as_ref().unwrap())[n].clone();
    (
        PatientRef {
            patient_id: p.patient_id.clone(),
            name_masked: kiosk::domain::mask_name(&p.name),
            id_masked: kiosk::domain::mask_id_str(&p.id_number),
        },
        p,
    )
}

/// A free slot today, `skip` free slots in (so two registrations differ).
async fn free_slot(app: &App, skip: usize) -> String {
    let mut seen = 0;
    for d in app.his.departments().await.unwrap() {
        for sc in app
            .his
            .schedules(&d.department_id, app.today)
            .await
            .unwrap()
        {
            for sl in app.his.slots(&sc.schedule_id).await.unwrap() {
                if sl.remaining > 1 && sl.start.to_string().as_str() > "09:00" {
                    if seen == skip {
                        return sl.slot_id;
                    }
                    seen += 1;
                }
            }
        }
    }
    panic!("no free slot today");
}

fn code(suffix: &str) -> String {
    format!("134567890123{suffix:0>6}")
}

/// One registration paid by a scanned code (done), one cancelled before
/// paying (released).
async fn transactions(app: &App) -> (SeedRecords, i64) {
    let (who, rec) = patient(app, 3);
    let slot = free_slot(app, 0).await;
    let p = app
        .runner
        .start(
            &who,
            Intent::Registration {
                slot_id: slot,
                referral: false,
            },
        )
        .await
        .unwrap();
    let o = app
        .runner
        .pay_with_code(p.txn.id, &code("0001"))
        .await
        .unwrap();
    let Outcome::Completed { txn, .. } = o else {
        panic!("{o:?}")
    };
    assert_eq!(txn.state, TxnState::Done);
    let (who2, rec2) = patient(app, 5);
    let slot = free_slot(app, 1).await;
    let p = app
        .runner
        .start(
            &who2,
            Intent::Registration {
                slot_id: slot,
                referral: false,
            },
        )
        .await
        .unwrap();
    app.runner.cancel(p.txn.id).await.unwrap();
    (vec![(who, rec), (who2, rec2)], txn.amount.fen())
}

type SeedRecords = Vec<(PatientRef, kiosk::his::sim::seed::SeedPatient)>;

// ------------------------------------------------------- exposition parser

#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parse the text format strictly enough to catch a malformed line or a
/// sample away from its family: returns the samples and each family's type.
fn parse_exposition(text: &str) -> (Vec<Sample>, BTreeMap<String, String>) {
    let mut types = BTreeMap::new();
    let mut helps = BTreeSet::new();
    let mut samples = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest.split_once(' ').expect("HELP text");
            helps.insert(name.to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, t) = rest.split_once(' ').expect("TYPE kind");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&t),
                "{line}"
            );
            assert!(helps.contains(name), "TYPE before HELP for {name}");
            assert!(
                types.insert(name.to_string(), t.to_string()).is_none(),
                "{name} declared twice"
            );
            current = name.to_string();
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "{line:?}");
        let mut chars = line.char_indices().peekable();
        let mut name = String::new();
        while let Some(&(_, c)) = chars.peek() {
            if c == '{' || c == ' ' {
                break;
            }
            name.push(c);
            chars.next();
        }
        let mut labels = BTreeMap::new();
        if chars.peek().map(|p| p.1) == Some('{') {
            chars.next();
            loop {
                let mut k = String::new();
                for (_, c) in chars.by_ref() {
                    if c == '=' {
                        break;
                    }
                    k.push(c);
                }
                assert_eq!(chars.next().map(|p| p.1), Some('"'), "{line}");
                let mut v = String::new();
                loop {
                    match chars.next().map(|p| p.1) {
                        Some('\\') => match chars.next().map(|p| p.1) {
                            Some('\\') => v.push('\\'),
                            Some('"') => v.push('"'),
                            Some('n') => v.push('\n'),
                            other => panic!("bad escape {other:?} in {line}"),
                        },
                        Some('"') => break,
                        Some(c) => v.push(c),
                        None => panic!("unterminated label value in {line}"),
                    }
                }
                labels.insert(k, v);
                match chars.next().map(|p| p.1) {
                    Some(',') => continue,
                    Some('}') => break,
                    other => panic!("{other:?} after a label in {line}"),
                }
            }
        }
        let (i, c) = chars.next().expect("a value");
        assert_eq!(c, ' ', "{line}");
        let v = &line[i + 1..];
        let value = match v {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("value {v:?} in {line}")),
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).map(String::as_str) == Some("histogram"))
            })
            .unwrap_or(&name);
        assert!(types.contains_key(family), "{name} has no TYPE line");
        assert_eq!(family, current, "{name} is not under its own TYPE line");
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    (samples, types)
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

// ------------------------------------------------------------ status

async fn get(
    http: &reqwest::Client,
    addr: std::net::SocketAddr,
    path: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let mut r = http.get(format!("http://{addr}{path}"));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

#[test]
fn metrics_match_the_journal_after_real_transactions() {
    let k = kiosk(&[]);
    let app = &k.app;
    k.rt.block_on(async {
        let status = app.start_status_endpoint().await.unwrap().unwrap();
        let (_, done_fen) = transactions(app).await;
        app.metrics.session_busy(Duration::from_millis(2500));
        app.metrics.session_idle(Duration::from_secs(40));
        let http = reqwest::Client::new();
        let r = get(&http, status.addr, "/metrics", None).await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["content-type"],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let text = r.text().await.unwrap();
        let (samples, types) = parse_exposition(&text);

        // Transactions: exactly what the journal holds for the business day.
        let date = app.runner.business_date().await;
        let journal = app.runner.with_journal(|j| j.on_date(date)).unwrap();
        assert_eq!(journal.len(), 2);
        let mut by_state: BTreeMap<(String, String), f64> = BTreeMap::new();
        let mut amounts: BTreeMap<(String, String), f64> = BTreeMap::new();
        for t in &journal {
            *by_state
                .entry((t.kind.as_str().into(), t.state.as_str().into()))
                .or_default() += 1.0;
            if t.state == TxnState::Done {
                let ch = serde_json::to_value(t.channel.unwrap()).unwrap();
                *amounts
                    .entry((t.kind.as_str().into(), ch.as_str().unwrap().into()))
                    .or_default() += t.amount.fen() as f64;
            }
        }
        let exported: BTreeMap<(String, String), f64> = samples
            .iter()
            .filter(|s| s.name == "kiosk_transactions")
            .map(|s| {
                (
                    (s.labels["kind"].clone(), s.labels["state"].clone()),
                    s.value,
                )
            })
            .collect();
        assert_eq!(exported, by_state, "{text}");
        assert_eq!(
            value(
                &samples,
                "kiosk_transactions",
                &[("kind", "registration"), ("state", "done")]
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &samples,
                "kiosk_transactions",
                &[("kind", "registration"), ("state", "released")]
            ),
            Some(1.0)
        );
        let exported: BTreeMap<(String, String), f64> = samples
            .iter()
            .filter(|s| s.name == "kiosk_amount_fen_total")
            .map(|s| {
                (
                    (s.labels["kind"].clone(), s.labels["channel"].clone()),
                    s.value,
                )
            })
            .collect();
        assert_eq!(exported, amounts);
        assert_eq!(
            value(
                &samples,
                "kiosk_amount_fen_total",
                &[("kind", "registration"), ("channel", "wechat")]
            ),
            Some(done_fen as f64)
        );
        assert!(done_fen > 0);
        assert_eq!(types["kiosk_amount_fen_total"], "counter");
        assert_eq!(types["kiosk_transactions"], "gauge");
        assert_eq!(
            value(&samples, "kiosk_transactions_needing_staff", &[]),
            Some(0.0)
        );
        assert_eq!(
            value(&samples, "kiosk_slips_awaiting_reprint", &[]),
            Some(0.0)
        );

        // The process, its version, HIS, devices and paper.
        assert_eq!(value(&samples, "kiosk_up", &[]), Some(1.0));
        assert_eq!(
            value(
                &samples,
                "kiosk_build_info",
                &[("version", env!("CARGO_PKG_VERSION"))]
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &samples,
                "kiosk_config_info",
                &[("hash", &app.cfg.fingerprint())]
            ),
            Some(1.0)
        );
        assert_eq!(value(&samples, "kiosk_his_reachable", &[]), Some(1.0));
        assert_eq!(value(&samples, "kiosk_journal_readable", &[]), Some(1.0));
        for d in [
            "receipt_printer",
            "id_card_reader",
            "health_card_reader",
            "scanner",
            "report_printer",
        ] {
            assert_eq!(
                value(&samples, "kiosk_device_health", &[("device", d)]),
                Some(0.0),
                "{d}"
            );
        }
        assert_eq!(value(&samples, "kiosk_paper_out", &[]), Some(0.0));
        assert_eq!(value(&samples, "kiosk_paper_near_end", &[]), Some(0.0));

        // Latency histograms: the calls the transactions made, cumulative buckets.
        for (family, op) in [
            ("kiosk_his_request_duration_seconds", "createHold"),
            ("kiosk_his_request_duration_seconds", "createAppointment"),
            ("kiosk_his_request_duration_seconds", "releaseHold"),
            ("kiosk_pay_request_duration_seconds", "micropay"),
        ] {
            assert_eq!(types[family], "histogram");
            let count = value(&samples, &format!("{family}_count"), &[("operation", op)])
                .unwrap_or_else(|| panic!("no {family} for {op}:\n{text}"));
            assert!(count >= 1.0, "{family} {op}");
            let buckets: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.name == format!("{family}_bucket") && s.labels["operation"] == op)
                .collect();
            assert_eq!(buckets.len(), 13, "12 bounds and +Inf");
            assert_eq!(buckets[0].labels["le"], "0.005");
            assert_eq!(buckets[11].labels["le"], "30");
            assert_eq!(buckets[12].labels["le"], "+Inf");
            assert!(buckets.windows(2).all(|w| w[0].value <= w[1].value));
            assert_eq!(buckets[12].value, count);
            let sum = value(&samples, &format!("{family}_sum"), &[("operation", op)]).unwrap();
            assert!(sum > 0.0 && sum < 30.0 * count, "{sum}");
        }
        // Idle and busy time as the UI reported it.
        assert_eq!(
            value(
                &samples,
                "kiosk_session_seconds_total",
                &[("state", "busy")]
            ),
            Some(2.5)
        );
        assert_eq!(
            value(
                &samples,
                "kiosk_session_seconds_total",
                &[("state", "idle")]
            ),
            Some(40.0)
        );

        // No personal data in the metrics.
        for (who, rec) in patient_pairs(app) {
            for secret in [&rec.name, &rec.id_number, &rec.patient_id, &who.id_masked] {
                assert!(!text.contains(secret.as_str()), "{secret} in /metrics");
            }
        }
        status.shutdown().await;
    });
}

fn patient_pairs(app: &App) -> SeedRecords {
    vec![patient(app, 3), patient(app, 5)]
}

/// GET `/readyz` until its status is `want` (20 s at most); the body.
async fn ready_until(
    http: &reqwest::Client,
    addr: std::net::SocketAddr,
    want: u16,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = get(http, addr, "/readyz", None).await;
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap();
        if status == want {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz stayed {status}, not {want}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn readyz_follows_the_receipt_printer_and_his() {
    let k = kiosk(&[("KIOSK_STATUS__HIS_TIMEOUT_MS", "3000")]);
    let app = &k.app;
    // What `kiosk run` does, faster: the device monitor refreshes the cached health.
    let _monitor = app.devices.spawn_monitor(Duration::from_millis(200));
    k.rt.block_on(async {
        let status = app.start_status_endpoint().await.unwrap().unwrap();
        let http = reqwest::Client::new();
        let r = get(&http, status.addr, "/healthz", None).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "ok\n");
        let body = ready_until(&http, status.addr, 200).await;
        assert_eq!(
            body,
            serde_json::json!({"ready": true, "not_ready": []})
        );

        // The printer runs out of paper: not ready, and says why.
        let printer = app.devices.sims.printer.as_ref().unwrap();
        printer.set_paper_lines(Some(0));
        let body = ready_until(&http, status.addr, 503).await;
        assert_eq!(body["ready"], false);
        let not = body["not_ready"].as_array().unwrap();
        assert_eq!(not.len(), 1, "{body}");
        assert_eq!(not[0]["what"], "device");
        assert_eq!(not[0]["device"], "receipt_printer");
        assert_eq!(not[0]["kind"], "receipt_printer");
        assert!(
            not[0]["reason"].as_str().unwrap().contains("paper out"),
            "{body}"
        );
        let (samples, _) = parse_exposition(
            &get(&http, status.addr, "/metrics", None)
                .await
                .text()
                .await
                .unwrap(),
        );
        assert_eq!(value(&samples, "kiosk_paper_out", &[]), Some(1.0));
        assert_eq!(
            value(
                &samples,
                "kiosk_device_health",
                &[("device", "receipt_printer")]
            ),
            Some(2.0)
        );

        // A new roll: ready again.
        printer.load_paper(None);
        ready_until(&http, status.addr, 200).await;

        // HIS stops answering its ping: not ready, with HIS's error.
        let his = app.his_sim.as_ref().unwrap().addr;
        let faults = format!("http://{his}/sim/faults");
        let r = http
            .post(&faults)
            .bearer_auth("demo")
            .json(&serde_json::json!({"operation": "ping", "kind": "error", "status": 503, "times": null}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        let body = ready_until(&http, status.addr, 503).await;
        let not = body["not_ready"].as_array().unwrap();
        assert_eq!(not.len(), 1, "{body}");
        assert_eq!(not[0]["what"], "his");
        assert!(
            not[0]["error"].as_str().unwrap().contains("503"),
            "{body}"
        );
        let r = http.delete(&faults).bearer_auth("demo").send().await.unwrap();
        assert!(r.status().is_success());
        ready_until(&http, status.addr, 200).await;
        status.shutdown().await;
    });
}

#[test]
fn every_request_needs_the_token_when_one_is_set() {
    let k = kiosk(&[("KIOSK_STATUS__TOKEN", "\"s3cret-Token\"")]);
    k.rt.block_on(async {
        let status = k.app.start_status_endpoint().await.unwrap().unwrap();
        let http = reqwest::Client::new();
        for path in ["/healthz", "/readyz", "/metrics", "/nowhere"] {
            for token in [None, Some("wrong"), Some("s3cret-token")] {
                let r = get(&http, status.addr, path, token).await;
                assert_eq!(r.status(), 401, "{path} with {token:?}");
                assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"kiosk\"");
            }
        }
        let r = get(&http, status.addr, "/healthz", Some("s3cret-Token")).await;
        assert_eq!(r.status(), 200);
        let r = get(&http, status.addr, "/metrics", Some("s3cret-Token")).await;
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("\nkiosk_up 1\n"));
        let r = get(&http, status.addr, "/nowhere", Some("s3cret-Token")).await;
        assert_eq!(r.status(), 404);
        let r = http
            .post(format!("http://{}/healthz", status.addr))
            .bearer_auth("s3cret-Token")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405);
        status.shutdown().await;
    });
}

// --------------------------------------------------------- heartbeat

/// A fleet server on loopback that records every POST (its raw body) and
/// answers with the scripted statuses, then 200.
#[derive(Clone, Default)]
struct Fleet {
    received: Arc<Mutex<Vec<(u16, String)>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
}

impl Fleet {
    /// Serve on `listener`, on the current runtime.
    fn serve(&self, listener: tokio::net::TcpListener) -> tokio::task::JoinHandle<()> {
        use axum::http::{HeaderMap, StatusCode};
        let me = self.clone();
        let router = axum::Router::new().route(
            "/v1/heartbeat",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let me = me.clone();
                async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    let status = if auth != "Bearer fleet-token" {
                        401
                    } else {
                        me.script.lock().unwrap().pop_front().unwrap_or(200)
                    };
                    me.received.lock().unwrap().push((status, body));
                    StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        })
    }

    fn received(&self) -> Vec<(u16, serde_json::Value, String)> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|(s, b)| (*s, serde_json::from_str(b).unwrap(), b.clone()))
            .collect()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn heartbeats_wait_on_disk_while_the_fleet_server_is_down_and_arrive_in_order() {
    let port = free_port();
    let url = format!("\"http://127.0.0.1:{port}/v1/heartbeat\"");
    let k = kiosk(&[
        ("KIOSK_FLEET__HEARTBEAT_URL", &url),
        ("KIOSK_FLEET__HEARTBEAT_INTERVAL_SECS", "1"),
        ("KIOSK_FLEET__TOKEN", "\"fleet-token\""),
    ]);
    let app = &k.app;
    let (people, _) = k.rt.block_on(transactions(app));
    let hb = {
        let _guard = k.rt.enter();
        app.start_heartbeat().unwrap().unwrap()
    };
    // Nobody listens on the port: heartbeats pile up on disk.
    wait_for("three queued heartbeats", Duration::from_secs(20), || {
        hb.backlog().unwrap() >= 3
    });
    let queued = hb.backlog().unwrap();
    assert!(app.cfg.data_path("heartbeat.db").exists());

    // The fleet server comes up on that port: the backlog goes out.
    let fleet = Fleet::default();
    let listener =
        k.rt.block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
            .unwrap();
    let _server = {
        let _guard = k.rt.enter();
        fleet.serve(listener)
    };
    wait_for("the backlog delivered", Duration::from_secs(20), || {
        fleet.received().len() as u64 > queued && hb.backlog().unwrap() == 0
    });
    drop(hb);

    let got = fleet.received();
    assert!(got.iter().all(|(s, _, _)| *s == 200), "all accepted");
    let seqs: Vec<i64> = got
        .iter()
        .map(|(_, v, _)| v["seq"].as_i64().unwrap())
        .collect();
    // In order, none lost (no gap from the first), none twice.
    let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
    assert_eq!(seqs, expected);
    let taken: Vec<&str> = got
        .iter()
        .map(|(_, v, _)| v["taken_at"].as_str().unwrap())
        .collect();
    assert!(taken.windows(2).all(|w| w[0] <= w[1]), "{taken:?}");
    // The first one out knew the others were waiting behind it.
    assert!(got[0].1["backlog"].as_u64().unwrap() >= queued - 1);

    let (_, hb0, _) = &got[0];
    assert_eq!(hb0["schema"], 1);
    assert_eq!(hb0["kiosk_id"], "K01");
    assert_eq!(hb0["hospital_id"], "H0001");
    assert_eq!(hb0["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(hb0["config_hash"], app.cfg.fingerprint());
    assert_eq!(hb0["his"]["reachable"], true);
    assert_eq!(hb0["needs_staff"], 0);
    assert_eq!(hb0["needs_reprint"], 0);
    assert_eq!(
        hb0["paper"],
        serde_json::json!({"near_end": false, "out": false})
    );
    assert!(hb0["uptime_secs"].as_u64().is_some());
    let devices = hb0["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 5);
    assert!(devices
        .iter()
        .all(|d| d["health"]["state"] == "ok" && d["driver"] == "simulator"));
    let txns = hb0["transactions"].as_array().unwrap();
    assert!(
        txns.contains(&serde_json::json!({"kind": "registration", "state": "done", "count": 1}))
    );
    assert!(txns
        .contains(&serde_json::json!({"kind": "registration", "state": "released", "count": 1})));

    // No personal data: not the patients' names, ID numbers (whole or
    // masked), phones or HIS patient ids.
    for (_, _, raw) in &got {
        for (who, rec) in &people {
            let mut secrets = vec![
                rec.name.clone(),
                rec.id_number.clone(),
                rec.patient_id.clone(),
                who.id_masked.clone(),
                who.name_masked.clone(),
            ];
            secrets.extend(rec.phone.clone());
            for s in secrets {
                assert!(!raw.contains(&s), "{s} in a heartbeat: {raw}");
            }
        }
    }
}

#[test]
fn a_refused_heartbeat_is_dropped_and_a_throttled_one_retried() {
    let fleet = Fleet::default();
    fleet.script.lock().unwrap().extend([400, 429]);
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = std_listener.local_addr().unwrap().port();
    std_listener.set_nonblocking(true).unwrap();
    let url = format!("\"http://127.0.0.1:{port}/v1/heartbeat\"");
    let k = kiosk(&[
        ("KIOSK_FLEET__HEARTBEAT_URL", &url),
        ("KIOSK_FLEET__HEARTBEAT_INTERVAL_SECS", "1"),
        ("KIOSK_FLEET__TOKEN", "\"fleet-token\""),
    ]);
    let _server = {
        let _guard = k.rt.enter();
        fleet.serve(tokio::net::TcpListener::from_std(std_listener).unwrap())
    };
    let hb = {
        let _guard = k.rt.enter();
        k.app.start_heartbeat().unwrap().unwrap()
    };
    wait_for("three accepted heartbeats", Duration::from_secs(20), || {
        fleet.received().iter().filter(|r| r.0 == 200).count() >= 3
    });
    drop(hb);
    let got: Vec<(u16, i64)> = fleet
        .received()
        .iter()
        .map(|(s, v, _)| (*s, v["seq"].as_i64().unwrap()))
        .collect();
    // seq 1 refused for good (400): sent once, dropped. seq 2 throttled
    // (429): sent again and taken. Then one each.
    assert_eq!(got[0], (400, 1), "{got:?}");
    assert_eq!(got[1], (429, 2), "{got:?}");
    assert_eq!(got[2], (200, 2), "{got:?}");
    assert_eq!(got.iter().filter(|g| g.1 == 1).count(), 1, "{got:?}");
    let later: Vec<i64> = got[2..].iter().map(|g| g.1).collect();
    let expected: Vec<i64> = (2..2 + later.len() as i64).collect();
    assert_eq!(later, expected, "{got:?}");
    assert!(got[2..].iter().all(|g| g.0 == 200));
}

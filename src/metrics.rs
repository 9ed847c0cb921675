//! The kiosk's own measurements, and the Prometheus text exposition format
//! (version 0.0.4) they are served in (`/metrics`, [`crate::status`]).
//!
//! [`Metrics`] is one small registry, created by [`crate::app::App::start`]
//! and shared in an `Arc`: the HIS and payment clients record the duration
//! of every HTTP request in it (one place each: `HttpHis::call`,
//! `HttpPay::call`), and the UI records how long the kiosk was idle or busy
//! ([`Metrics::session_idle`], [`Metrics::session_busy`]). Everything else on
//! `/metrics` (transactions, devices, paper) is read from where it already
//! lives when scraped.
//!
//! No lock is held across I/O; recording is a short mutex or an atomic add.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Upper bounds (seconds) of the request duration histograms: 5 ms to 30 s,
/// the span between a loopback answer and the longest configured timeout.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One operation's request durations.
#[derive(Debug, Clone, Default)]
struct Histogram {
    /// Observations per bucket (not cumulative); the last slot is `+Inf`.
    buckets: [u64; LATENCY_BUCKETS.len() + 1],
    sum: f64,
    count: u64,
    failed: u64,
}

impl Histogram {
    fn observe(&mut self, secs: f64, ok: bool) {
        let i = LATENCY_BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[i] += 1;
        self.sum += secs;
        self.count += 1;
        if !ok {
            self.failed += 1;
        }
    }
}

/// Which upstream a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    His,
    Pay,
}

impl Upstream {
    fn prefix(self) -> &'static str {
        match self {
            Upstream::His => "kiosk_his",
            Upstream::Pay => "kiosk_pay",
        }
    }
    fn what(self) -> &'static str {
        match self {
            Upstream::His => "HIS gateway",
            Upstream::Pay => "payment platform",
        }
    }
}

/// The registry. See the module documentation.
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    his: Mutex<BTreeMap<&'static str, Histogram>>,
    pay: Mutex<BTreeMap<&'static str, Histogram>>,
    idle_nanos: AtomicU64,
    busy_nanos: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {
            started: Instant::now(),
            his: Mutex::new(BTreeMap::new()),
            pay: Mutex::new(BTreeMap::new()),
            idle_nanos: AtomicU64::new(0),
            busy_nanos: AtomicU64::new(0),
        }
    }

    /// Time since the registry was created (the kiosk started).
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// One HTTP request to `upstream` for `operation` (its operationId) took
    /// `took`; `ok` is false for a transport error or a non-2xx answer.
    /// Every attempt counts, retries included.
    pub fn request(&self, upstream: Upstream, operation: &'static str, took: Duration, ok: bool) {
        let map = match upstream {
            Upstream::His => &self.his,
            Upstream::Pay => &self.pay,
        };
        map.lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(operation)
            .or_default()
            .observe(took.as_secs_f64(), ok);
    }

    /// For the UI: the kiosk was serving a patient for `d` (from the first
    /// touch or card to the return home). Adds to
    /// `kiosk_session_seconds_total{state="busy"}`.
    pub fn session_busy(&self, d: Duration) {
        add_nanos(&self.busy_nanos, d);
    }

    /// For the UI: the kiosk sat on the home screen with nobody using it
    /// for `d`. Adds to `kiosk_session_seconds_total{state="idle"}`.
    pub fn session_idle(&self, d: Duration) {
        add_nanos(&self.idle_nanos, d);
    }

    /// Seconds reported idle and busy so far.
    pub fn session_seconds(&self) -> (f64, f64) {
        let secs = |a: &AtomicU64| Duration::from_nanos(a.load(Ordering::Relaxed)).as_secs_f64();
        (secs(&self.idle_nanos), secs(&self.busy_nanos))
    }

    /// The request histograms, the failure counters and the session time.
    pub fn write(&self, out: &mut Exposition) {
        for up in [Upstream::His, Upstream::Pay] {
            let snapshot = match up {
                Upstream::His => &self.his,
                Upstream::Pay => &self.pay,
            }
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
            let name = format!("{}_request_duration_seconds", up.prefix());
            out.family(
                &name,
                Kind::Histogram,
                &format!(
                    "Duration of HTTP requests to the {} by operationId, every attempt.",
                    up.what()
                ),
            );
            for (op, h) in &snapshot {
                let mut cumulative = 0;
                for (i, n) in h.buckets.iter().enumerate() {
                    cumulative += n;
                    let le = LATENCY_BUCKETS
                        .get(i)
                        .map(|b| format_value(*b))
                        .unwrap_or_else(|| "+Inf".into());
                    out.sample(
                        &format!("{name}_bucket"),
                        &[("operation", op), ("le", &le)],
                        cumulative as f64,
                    );
                }
                out.sample(&format!("{name}_sum"), &[("operation", op)], h.sum);
                out.sample(
                    &format!("{name}_count"),
                    &[("operation", op)],
                    h.count as f64,
                );
            }
            let failed = format!("{}_request_failures_total", up.prefix());
            out.family(
                &failed,
                Kind::Counter,
                &format!(
                    "HTTP requests to the {} that failed (no answer or a non-2xx answer), by operationId.",
                    up.what()
                ),
            );
            for (op, h) in &snapshot {
                out.sample(&failed, &[("operation", op)], h.failed as f64);
            }
        }
        let (idle, busy) = self.session_seconds();
        out.family(
            "kiosk_session_seconds_total",
            Kind::Counter,
            "Seconds the kiosk was idle (home screen, nobody there) or busy (serving a patient), as reported by the UI.",
        );
        out.sample("kiosk_session_seconds_total", &[("state", "idle")], idle);
        out.sample("kiosk_session_seconds_total", &[("state", "busy")], busy);
    }
}

fn add_nanos(a: &AtomicU64, d: Duration) {
    let n = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    // Saturating: ~584 years of nanoseconds fit; never wrap to zero.
    let _ = a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        Some(v.saturating_add(n))
    });
}

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A text exposition being written: families (`# HELP`, `# TYPE`) followed
/// by their samples.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// Start a family. Its samples follow.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        debug_assert!(valid_name(name), "metric name {name:?}");
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
    }

    /// One sample; label values are escaped here.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        debug_assert!(valid_name(name), "metric name {name:?}");
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                debug_assert!(valid_name(k) && !k.contains(':'), "label name {k:?}");
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label_value(v));
            }
            self.out.push('}');
        }
        self.out.push(' ');
        self.out.push_str(&format_value(value));
        self.out.push('\n');
    }

    pub fn finish(self) -> String {
        self.out
    }
}

fn valid_name(s: &str) -> bool {
    let mut b = s.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

/// Label values: backslash, double quote and line feed are escaped.
pub fn escape_label_value(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// `# HELP` text: backslash and line feed are escaped.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Integers without a fraction, `+Inf`/`-Inf`/`NaN` as the format spells them.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 9.007_199_254_740_992e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_and_help_are_escaped() {
        let mut e = Exposition::new();
        e.family("kiosk_x", Kind::Gauge, "a \\ b\nc");
        e.sample("kiosk_x", &[("a", "q\"u\\o\nte"), ("b", "纸")], 1.5);
        e.sample("kiosk_x", &[], f64::INFINITY);
        assert_eq!(
            e.finish(),
            "# HELP kiosk_x a \\\\ b\\nc\n# TYPE kiosk_x gauge\n\
             kiosk_x{a=\"q\\\"u\\\\o\\nte\",b=\"纸\"} 1.5\nkiosk_x +Inf\n"
        );
    }

    #[test]
    fn values_are_written_as_the_format_wants() {
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(-2.0), "-2");
        assert_eq!(format_value(0.005), "0.005");
        assert_eq!(format_value(0.25), "0.25");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(f64::NAN), "NaN");
    }

    #[test]
    fn histograms_are_cumulative_with_sum_and_count() {
        let m = Metrics::new();
        m.request(Upstream::His, "ping", Duration::from_millis(3), true);
        m.request(Upstream::His, "ping", Duration::from_millis(200), true);
        m.request(Upstream::His, "ping", Duration::from_secs(40), false);
        m.request(Upstream::Pay, "micropay", Duration::from_millis(5), true);
        m.session_busy(Duration::from_millis(1500));
        m.session_idle(Duration::from_secs(60));
        m.session_idle(Duration::from_secs(30));
        let mut e = Exposition::new();
        m.write(&mut e);
        let text = e.finish();
        for line in [
            "kiosk_his_request_duration_seconds_bucket{operation=\"ping\",le=\"0.005\"} 1",
            "kiosk_his_request_duration_seconds_bucket{operation=\"ping\",le=\"0.1\"} 1",
            "kiosk_his_request_duration_seconds_bucket{operation=\"ping\",le=\"0.25\"} 2",
            "kiosk_his_request_duration_seconds_bucket{operation=\"ping\",le=\"30\"} 2",
            "kiosk_his_request_duration_seconds_bucket{operation=\"ping\",le=\"+Inf\"} 3",
            "kiosk_his_request_duration_seconds_count{operation=\"ping\"} 3",
            "kiosk_his_request_failures_total{operation=\"ping\"} 1",
            // 5 ms is inside the 5 ms bucket (le: less or equal).
            "kiosk_pay_request_duration_seconds_bucket{operation=\"micropay\",le=\"0.005\"} 1",
            "kiosk_pay_request_failures_total{operation=\"micropay\"} 0",
            "kiosk_session_seconds_total{state=\"idle\"} 90",
            "kiosk_session_seconds_total{state=\"busy\"} 1.5",
            "# TYPE kiosk_his_request_duration_seconds histogram",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        let sum: f64 = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("kiosk_his_request_duration_seconds_sum{operation=\"ping\"} ")
            })
            .unwrap()
            .parse()
            .unwrap();
        assert!((sum - 40.203).abs() < 1e-9, "{sum}");
    }
}

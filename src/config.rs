//! Configuration: TOML in layers, `config/default.toml` (built in) < hospital
//! profile < kiosk file < `KIOSK_<SECTION>__<KEY>` environment variables.
//!
//! Unknown keys are errors: the structs do not deny them themselves so that
//! `serde_ignored` can collect every unknown key at once; only [`load`] and
//! [`check_files`] build a `Config`. [`check_files`] reports every problem it can find
//! (syntax, unknown keys, wrong types, invalid values), each with the file
//! that set it, the key and the reason.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The built-in defaults: the demo kiosk.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub hospital: Hospital,
    pub kiosk: Kiosk,
    pub services: Services,
    pub his: His,
    pub pay: Pay,
    pub txn: TxnSettings,
    pub booking: Booking,
    pub ui: Ui,
    pub reports: Reports,
    pub maintenance: Maintenance,
    pub devices: Devices,
    pub logging: Logging,
    pub status: Status,
    pub fleet: Fleet,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Hospital {
    pub id: String,
    pub name_zh: String,
    pub name_en: String,
    pub logo: String,
    pub accent_color: String,
    pub service_phone: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Kiosk {
    pub id: String,
    pub location_zh: String,
    pub location_en: String,
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Services {
    pub register: bool,
    pub book: bool,
    pub check_in: bool,
    pub settle: bool,
    pub query: bool,
    pub reports: bool,
    pub enroll: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HisMode {
    Embedded,
    Remote,
}

#[derive(Debug, Clone, Deserialize)]
pub struct His {
    pub mode: HisMode,
    pub base_url: String,
    pub token: String,
    pub token_file: String,
    pub ca_file: String,
    pub client_identity_file: String,
    pub connect_timeout_ms: u64,
    pub read_timeout_ms: u64,
    pub write_timeout_ms: u64,
    pub max_attempts: u32,
    pub backoff_ms: u64,
    pub timeouts: BTreeMap<String, u64>,
    pub embedded: HisEmbedded,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HisEmbedded {
    pub seed: u64,
    pub db: String,
    pub today: String,
    /// Time of day the simulator's clock starts at ("08:30"); empty = real time.
    pub start_time: String,
    pub hold_ttl_secs: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayMode {
    Embedded,
    Remote,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Pay {
    pub mode: PayMode,
    pub base_url: String,
    /// The kiosk's signing key, hex; `key_file` wins when set.
    pub kiosk_key: String,
    pub key_file: String,
    pub ca_file: String,
    pub connect_timeout_ms: u64,
    pub max_attempts: u32,
    pub backoff_ms: u64,
    pub channels: Vec<String>,
    pub timeouts: BTreeMap<String, u64>,
    pub embedded: PayEmbedded,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PayEmbedded {
    pub db: String,
    pub time_factor: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TxnSettings {
    pub journal: String,
    pub poll_interval_ms: u64,
    pub user_paying_timeout_secs: u64,
    pub qr_timeout_secs: u64,
    pub live_attempts: u32,
    pub reverse_deadline_secs: u64,
    pub recovery_interval_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Booking {
    pub slot_minutes: u32,
    pub days_ahead: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Orientation {
    Portrait,
    Landscape,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Ui {
    pub idle_timeout_secs: u32,
    pub idle_warning_secs: u32,
    pub languages: Vec<String>,
    pub default_language: String,
    pub orientation: Orientation,
    pub elderly_mode_age: u32,
    pub voice: bool,
    pub voice_command: String,
    pub demo_panel: bool,
}

/// Technician access (src/maint.rs).
#[derive(Debug, Clone, Deserialize)]
pub struct Maintenance {
    /// Technician id -> argon2id hash of their PIN (`kiosk maint hash-pin`).
    pub technicians: BTreeMap<String, String>,
    pub max_failures: u32,
    pub lockout_secs: u64,
    pub idle_timeout_secs: u32,
    /// Out-of-service notices a technician can choose besides the built-in
    /// ones (`crate::maint::builtin_notices`): `{ id, zh, en }`.
    pub notices: Vec<crate::maint::Choice>,
}

impl Maintenance {
    pub fn policy(&self) -> crate::maint::Policy {
        crate::maint::Policy {
            pins: self.technicians.clone(),
            max_failures: self.max_failures,
            lockout: std::time::Duration::from_secs(self.lockout_secs),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Reports {
    pub max_prints: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Devices {
    pub receipt_printer: Device,
    pub id_card_reader: Device,
    pub health_card_reader: Device,
    pub scanner: Device,
    pub report_printer: Device,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Device {
    /// "simulator", "none", or one of the device's real drivers
    /// ([`Devices::drivers_for`]).
    pub driver: String,
    /// Where the device is: a device node, `host:port`, a PC/SC reader name
    /// or a CUPS queue, depending on the driver.
    pub address: String,
    /// Serial line speed; 0 = the device's usual (ID reader 115200,
    /// scanner 9600, printer 115200).
    #[serde(default)]
    pub baud: u32,
    /// Each device answer within this long, or it is a fault.
    #[serde(default = "default_device_timeout_ms")]
    pub timeout_ms: u64,
    /// Receipt paper width in half-width columns: 48 (80 mm) or 32 (58 mm).
    #[serde(default = "default_columns")]
    pub columns: usize,
    /// Receipt paper roll length in metres, for the paper-left estimate.
    #[serde(default = "default_roll_length_m")]
    pub roll_length_m: u32,
}

fn default_roll_length_m() -> u32 {
    80
}

fn default_device_timeout_ms() -> u64 {
    3000
}

fn default_columns() -> usize {
    48
}

#[derive(Debug, Clone, Deserialize)]
pub struct Logging {
    pub filter: String,
}

/// The status endpoint: `/healthz`, `/readyz`, `/metrics` (docs/operations.md).
#[derive(Debug, Clone, Deserialize)]
pub struct Status {
    /// `ip:port` to listen on; empty = no endpoint.
    pub listen: String,
    /// Bearer token every request must carry; empty = none needed.
    pub token: String,
    /// Read the token from this file instead (one line); wins over `token`.
    pub token_file: String,
    /// How long `/readyz` waits for HIS to answer a ping.
    pub his_timeout_ms: u64,
}

/// The fleet heartbeat (docs/operations.md).
#[derive(Debug, Clone, Deserialize)]
pub struct Fleet {
    /// Where the status summary is POSTed; empty = no heartbeat.
    pub heartbeat_url: String,
    pub heartbeat_interval_secs: u64,
    /// Bearer token for the fleet server; empty = none.
    pub token: String,
    /// Read the token from this file instead (one line); wins over `token`.
    pub token_file: String,
    /// PEM CA bundle for the fleet server's certificate; empty = system roots.
    pub ca_file: String,
    /// Heartbeats kept on disk while the fleet server does not answer; the
    /// oldest are dropped beyond this.
    pub queue_max: u32,
}

pub const LANGUAGES: &[&str] = &["zh_CN", "en"];

pub const PAY_CHANNELS: &[&str] = &["wechat", "alipay", "unionpay", "wallet"];

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Defaults,
    File(PathBuf),
    Env(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Defaults => f.write_str("<built-in defaults>"),
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Env(v) => write!(f, "environment {v}"),
        }
    }
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub source: Source,
    /// Dotted key, e.g. `his.base_url`; empty for a whole-file problem.
    pub key: String,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.source, self.reason)
        } else {
            write!(f, "{}: {}: {}", self.source, self.key, self.reason)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration:\n{}", .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
}

impl ConfigError {
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid(p) => p,
        }
    }
}

struct Layer {
    source: Source,
    table: toml::Table,
}

fn read_layer(path: &Path, problems: &mut Vec<Problem>) -> Option<Layer> {
    let source = Source::File(path.to_path_buf());
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            problems.push(Problem {
                source,
                key: String::new(),
                reason: format!("cannot read: {e}"),
            });
            return None;
        }
    };
    match text.parse::<toml::Table>() {
        Ok(table) => Some(Layer { source, table }),
        Err(e) => {
            let reason = format!("not valid TOML: {}", e.message());
            let reason = match e.span() {
                Some(span) => {
                    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                    format!("line {line}: {reason}")
                }
                None => reason,
            };
            problems.push(Problem {
                source,
                key: String::new(),
                reason,
            });
            None
        }
    }
}

fn defaults_layer() -> Layer {
    Layer {
        source: Source::Defaults,
        table: DEFAULT_TOML
            .parse()
            .expect("config/default.toml is valid TOML"),
    }
}

/// `KIOSK_HIS__BASE_URL=...` -> `his.base_url`. Values are read as TOML
/// (numbers, booleans, arrays) when they parse as such, else as strings.
fn env_layers(vars: impl IntoIterator<Item = (String, String)>) -> Vec<Layer> {
    let mut layers = Vec::new();
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix("KIOSK_") else {
            continue;
        };
        if !rest.contains("__") {
            continue; // KIOSK_CONFIG, KIOSK_LOG... are not config keys
        }
        let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
        let mut val = parse_env_value(&value);
        // `his.timeouts` keys are operationIds in camelCase; keep the case the user wrote.
        let mut path = path;
        if path.len() == 3 && path[0] == "his" && path[1] == "timeouts" {
            path[2] = rest.rsplit("__").next().unwrap_or_default().to_string();
        }
        for key in path.iter().rev() {
            let mut t = toml::Table::new();
            t.insert(key.clone(), val);
            val = toml::Value::Table(t);
        }
        if let toml::Value::Table(table) = val {
            layers.push(Layer {
                source: Source::Env(name),
                table,
            });
        }
    }
    layers
}

fn parse_env_value(s: &str) -> toml::Value {
    let doc = format!("v = {s}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(s.to_string())),
        Err(_) => toml::Value::String(s.to_string()),
    }
}

fn merge(into: &mut toml::Table, from: &toml::Table) {
    for (k, v) in from {
        match (into.get_mut(k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

fn lookup<'a>(table: &'a toml::Table, key: &str) -> Option<&'a toml::Value> {
    let mut parts = key.split('.');
    let mut cur = table.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_table()?.get(p)?;
    }
    Some(cur)
}

/// The layer that set `key` last (for blaming a value on its file).
fn blame(layers: &[Layer], key: &str) -> Source {
    layers
        .iter()
        .rev()
        .find(|l| lookup(&l.table, key).is_some())
        .map(|l| l.source.clone())
        .unwrap_or(Source::Defaults)
}

fn deserialize(layers: &[Layer], problems: &mut Vec<Problem>) -> Option<Config> {
    let mut merged = toml::Table::new();
    for l in layers {
        merge(&mut merged, &l.table);
    }
    // Unknown keys: every one of them, from any layer.
    let mut unknown = Vec::new();
    let value = toml::Value::Table(merged);
    let de = value.clone();
    let result: Result<Config, _> =
        serde_path_to_error::deserialize(serde_ignored::Deserializer::new(de, &mut |path| {
            unknown.push(path.to_string())
        }));
    for key in unknown {
        problems.push(Problem {
            source: blame(layers, &key),
            key,
            reason: "unknown key".into(),
        });
    }
    match result {
        Ok(cfg) => Some(cfg),
        Err(e) => {
            let key = e.path().to_string();
            let inner = e.into_inner().to_string();
            problems.push(Problem {
                source: blame(layers, &key),
                key,
                reason: inner.trim_end().to_string(),
            });
            None
        }
    }
}

impl Config {
    /// Values that parse but make no sense. Every problem, not just the first.
    fn validate(&self) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = Vec::new();
        let mut bad = |k: &str, r: String| p.push((k.to_string(), r));
        let ident = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !ident(&self.hospital.id) {
            bad(
                "hospital.id",
                "must be 1-64 letters, digits, '-' or '_'".into(),
            );
        }
        if !ident(&self.kiosk.id) {
            bad(
                "kiosk.id",
                "must be 1-64 letters, digits, '-' or '_'".into(),
            );
        }
        if self.hospital.name_zh.trim().is_empty() {
            bad("hospital.name_zh", "must not be empty".into());
        }
        if self.hospital.name_en.trim().is_empty() {
            bad("hospital.name_en", "must not be empty".into());
        }
        let c = &self.hospital.accent_color;
        if !(c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit())) {
            bad(
                "hospital.accent_color",
                format!("must be a colour like #0B7A75, not {c:?}"),
            );
        }
        let s = &self.services;
        if ![
            s.register, s.book, s.check_in, s.settle, s.query, s.reports, s.enroll,
        ]
        .contains(&true)
        {
            bad("services", "at least one service must be enabled".into());
        }
        match self.his.mode {
            HisMode::Remote => match url::Url::parse(&self.his.base_url) {
                Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {
                    if u.scheme() == "http" && !u.host_str().is_some_and(is_loopback_host) {
                        bad(
                            "his.base_url",
                            "must use https:// (plain http only to a loopback address)".into(),
                        );
                    }
                }
                Ok(u) => bad(
                    "his.base_url",
                    format!("scheme {:?} is not http(s)", u.scheme()),
                ),
                Err(e) => bad(
                    "his.base_url",
                    format!("required in remote mode, and a URL: {e}"),
                ),
            },
            HisMode::Embedded => {
                if !self.his.embedded.today.is_empty()
                    && chrono::NaiveDate::parse_from_str(&self.his.embedded.today, "%Y-%m-%d")
                        .is_err()
                {
                    bad("his.embedded.today", "must be YYYY-MM-DD or empty".into());
                }
                if !self.his.embedded.start_time.is_empty()
                    && chrono::NaiveTime::parse_from_str(&self.his.embedded.start_time, "%H:%M")
                        .is_err()
                {
                    bad("his.embedded.start_time", "must be HH:MM or empty".into());
                }
                if self.his.embedded.db.is_empty() {
                    bad("his.embedded.db", "must not be empty".into());
                }
                if self.his.embedded.hold_ttl_secs < 30 {
                    bad("his.embedded.hold_ttl_secs", "must be at least 30".into());
                }
            }
        }
        if self.his.token.is_empty() && self.his.token_file.is_empty() {
            bad("his.token", "a token or a token_file is required".into());
        }
        for (key, file) in [
            ("his.token_file", &self.his.token_file),
            ("his.ca_file", &self.his.ca_file),
            ("his.client_identity_file", &self.his.client_identity_file),
        ] {
            if !file.is_empty() && !Path::new(file).is_file() {
                bad(key, format!("file {file:?} does not exist"));
            }
        }
        for (key, ms) in [
            ("his.connect_timeout_ms", self.his.connect_timeout_ms),
            ("his.read_timeout_ms", self.his.read_timeout_ms),
            ("his.write_timeout_ms", self.his.write_timeout_ms),
        ] {
            if !(100..=120_000).contains(&ms) {
                bad(key, format!("{ms} ms is outside 100..=120000"));
            }
        }
        if !(1..=10).contains(&self.his.max_attempts) {
            bad("his.max_attempts", "must be 1..=10".into());
        }
        if self.his.backoff_ms > 10_000 {
            bad("his.backoff_ms", "must be at most 10000".into());
        }
        for (op, ms) in &self.his.timeouts {
            if crate::his::ops::Operation::from_id(op).is_none() {
                bad(
                    &format!("his.timeouts.{op}"),
                    "not an operationId of the HIS gateway protocol".into(),
                );
            } else if !(100..=120_000).contains(ms) {
                bad(
                    &format!("his.timeouts.{op}"),
                    format!("{ms} ms is outside 100..=120000"),
                );
            }
        }
        self.validate_pay(&mut bad);
        if ![5, 10, 15, 20, 30, 60].contains(&self.booking.slot_minutes) {
            bad(
                "booking.slot_minutes",
                "must be one of 5, 10, 15, 20, 30, 60".into(),
            );
        }
        if !(1..=30).contains(&self.booking.days_ahead) {
            bad("booking.days_ahead", "must be 1..=30".into());
        }
        if !(15..=600).contains(&self.ui.idle_timeout_secs) {
            bad("ui.idle_timeout_secs", "must be 15..=600".into());
        }
        if self.ui.idle_warning_secs >= self.ui.idle_timeout_secs {
            bad(
                "ui.idle_warning_secs",
                "must be less than ui.idle_timeout_secs".into(),
            );
        }
        if self.ui.languages.is_empty() {
            bad("ui.languages", "at least one language".into());
        }
        for l in &self.ui.languages {
            if !LANGUAGES.contains(&l.as_str()) {
                bad("ui.languages", format!("{l:?} is not one of {LANGUAGES:?}"));
            }
        }
        if !self.ui.languages.contains(&self.ui.default_language) {
            bad("ui.default_language", "must be one of ui.languages".into());
        }
        if self.reports.max_prints == 0 {
            bad("reports.max_prints", "must be at least 1".into());
        }
        for (id, phc) in &self.maintenance.technicians {
            if !crate::maint::is_argon2id(phc) {
                bad(
                    &format!("maintenance.technicians.{id}"),
                    "must be an argon2id hash made by `kiosk maint hash-pin`, never the PIN itself"
                        .into(),
                );
            }
        }
        if self.maintenance.max_failures == 0 {
            bad("maintenance.max_failures", "must be at least 1".into());
        }
        if self.maintenance.lockout_secs == 0 {
            bad("maintenance.lockout_secs", "must be at least 1".into());
        }
        let builtin: Vec<String> = crate::maint::builtin_notices()
            .into_iter()
            .map(|n| n.id)
            .collect();
        let mut seen = builtin.clone();
        for (i, n) in self.maintenance.notices.iter().enumerate() {
            let key = format!("maintenance.notices[{i}]");
            if !ident(&n.id) {
                bad(
                    &format!("{key}.id"),
                    "must be 1-64 letters, digits, '-' or '_'".into(),
                );
            } else if seen.contains(&n.id) {
                bad(
                    &format!("{key}.id"),
                    format!(
                        "{:?} is already taken (built-in notices: {})",
                        n.id,
                        builtin.join(", ")
                    ),
                );
            }
            seen.push(n.id.clone());
            for (lang, text) in [("zh", &n.zh), ("en", &n.en)] {
                let len = text.trim().chars().count();
                if len == 0 || len > 200 {
                    bad(
                        &format!("{key}.{lang}"),
                        "must be 1-200 characters: the whole notice patients read".into(),
                    );
                }
            }
        }
        for (name, d) in self.devices.iter() {
            let drivers = Devices::drivers_for(name);
            if !drivers.contains(&d.driver.as_str()) {
                bad(
                    &format!("devices.{name}.driver"),
                    format!("{:?} is not one of {drivers:?}", d.driver),
                );
                continue;
            }
            let needs_address =
                !matches!(d.driver.as_str(), "simulator" | "none" | "spool" | "pcsc");
            if needs_address && d.address.trim().is_empty() {
                bad(
                    &format!("devices.{name}.address"),
                    format!(
                        "driver {:?} needs an address (device node, host:port or queue)",
                        d.driver
                    ),
                );
            }
            if d.driver == "tcp" && !d.address.contains(':') {
                bad(
                    &format!("devices.{name}.address"),
                    format!("{:?} is not host:port (e.g. 192.168.1.50:9100)", d.address),
                );
            }
            if !(100..=60_000).contains(&d.timeout_ms) {
                bad(
                    &format!("devices.{name}.timeout_ms"),
                    "must be between 100 and 60000".into(),
                );
            }
            if name == "receipt_printer" && !matches!(d.columns, 32 | 48) {
                bad(
                    &format!("devices.{name}.columns"),
                    "must be 48 (80 mm paper) or 32 (58 mm paper)".into(),
                );
            }
            if d.baud != 0 && !(1200..=921_600).contains(&d.baud) {
                bad(
                    &format!("devices.{name}.baud"),
                    "must be 0 (the usual) or a serial speed between 1200 and 921600".into(),
                );
            }
        }
        self.validate_ops(&mut bad);
        if tracing_subscriber::EnvFilter::try_new(&self.logging.filter).is_err() {
            bad(
                "logging.filter",
                format!("{:?} is not a valid tracing filter", self.logging.filter),
            );
        }
        p
    }

    /// `[status]` and `[fleet]`.
    fn validate_ops(&self, bad: &mut impl FnMut(&str, String)) {
        let st = &self.status;
        if !st.listen.is_empty() {
            match st.listen.parse::<std::net::SocketAddr>() {
                Ok(addr) => {
                    if !addr.ip().is_loopback()
                        && st.token.is_empty()
                        && st.token_file.is_empty()
                    {
                        bad(
                            "status.listen",
                            format!(
                                "{addr} is reachable from other machines: set status.token or status.token_file"
                            ),
                        );
                    }
                }
                Err(e) => bad(
                    "status.listen",
                    format!(
                        "{:?} is not an IP address and port like 127.0.0.1:9900 (or empty for no endpoint): {e}",
                        st.listen
                    ),
                ),
            }
        }
        if !(100..=30_000).contains(&st.his_timeout_ms) {
            bad("status.his_timeout_ms", "must be 100..=30000".into());
        }
        let f = &self.fleet;
        if !f.heartbeat_url.is_empty() {
            match url::Url::parse(&f.heartbeat_url) {
                Ok(u) if u.scheme() == "https" => {}
                Ok(u) if u.scheme() == "http" && u.host_str().is_some_and(is_loopback_host) => {}
                Ok(_) => bad(
                    "fleet.heartbeat_url",
                    "must use https:// (plain http only to a loopback address)".into(),
                ),
                Err(e) => bad(
                    "fleet.heartbeat_url",
                    format!("{:?} is not a URL: {e}", f.heartbeat_url),
                ),
            }
        }
        if !(1..=86_400).contains(&f.heartbeat_interval_secs) {
            bad("fleet.heartbeat_interval_secs", "must be 1..=86400".into());
        }
        if !(1..=100_000).contains(&f.queue_max) {
            bad("fleet.queue_max", "must be 1..=100000".into());
        }
        for (key, file) in [
            ("status.token_file", &st.token_file),
            ("fleet.token_file", &f.token_file),
            ("fleet.ca_file", &f.ca_file),
        ] {
            if !file.is_empty() && !Path::new(file).is_file() {
                bad(key, format!("file {file:?} does not exist"));
            }
        }
    }

    fn validate_pay(&self, bad: &mut impl FnMut(&str, String)) {
        let p = &self.pay;
        if p.mode == PayMode::Remote {
            match url::Url::parse(&p.base_url) {
                Ok(u) if u.scheme() == "https" => {}
                Ok(u) if u.scheme() == "http" && u.host_str().is_some_and(is_loopback_host) => {}
                Ok(_) => bad(
                    "pay.base_url",
                    "must use https:// (plain http only to a loopback address)".into(),
                ),
                Err(e) => bad(
                    "pay.base_url",
                    format!("required in remote mode, and a URL: {e}"),
                ),
            }
            if p.key_file.is_empty() && p.kiosk_key.trim() == crate::pay::sign::DEMO_KIOSK_KEY_HEX {
                bad(
                    "pay.kiosk_key",
                    "the public demo key must not be used with a real payment platform; set key_file".into(),
                );
            }
        } else {
            if p.embedded.db.is_empty() {
                bad("pay.embedded.db", "must not be empty".into());
            }
            if !(p.embedded.time_factor.is_finite()
                && (0.1..=1000.0).contains(&p.embedded.time_factor))
            {
                bad("pay.embedded.time_factor", "must be 0.1..=1000".into());
            }
        }
        if p.key_file.is_empty() {
            if crate::pay::KioskKey::from_hex(&p.kiosk_key).is_err() {
                bad(
                    "pay.kiosk_key",
                    "must be at least 16 bytes of hex (or set key_file)".into(),
                );
            }
        } else if !Path::new(&p.key_file).is_file() {
            bad(
                "pay.key_file",
                format!("file {:?} does not exist", p.key_file),
            );
        }
        if !p.ca_file.is_empty() && !Path::new(&p.ca_file).is_file() {
            bad(
                "pay.ca_file",
                format!("file {:?} does not exist", p.ca_file),
            );
        }
        if !(100..=120_000).contains(&p.connect_timeout_ms) {
            bad("pay.connect_timeout_ms", "must be 100..=120000".into());
        }
        if !(1..=10).contains(&p.max_attempts) {
            bad("pay.max_attempts", "must be 1..=10".into());
        }
        if p.backoff_ms > 10_000 {
            bad("pay.backoff_ms", "must be at most 10000".into());
        }
        for c in &p.channels {
            if !PAY_CHANNELS.contains(&c.as_str()) {
                bad(
                    "pay.channels",
                    format!("{c:?} is not one of {PAY_CHANNELS:?}"),
                );
            }
        }
        for (op, ms) in &p.timeouts {
            if crate::pay::ops::Operation::from_id(op).is_none() {
                bad(
                    &format!("pay.timeouts.{op}"),
                    "not an operationId of the payment protocol".into(),
                );
            } else if !(100..=120_000).contains(ms) {
                bad(
                    &format!("pay.timeouts.{op}"),
                    format!("{ms} ms is outside 100..=120000"),
                );
            }
        }
        let t = &self.txn;
        if t.journal.is_empty() {
            bad("txn.journal", "must not be empty".into());
        }
        if !(50..=60_000).contains(&t.poll_interval_ms) {
            bad("txn.poll_interval_ms", "must be 50..=60000".into());
        }
        if !(1..=600).contains(&t.user_paying_timeout_secs) {
            bad("txn.user_paying_timeout_secs", "must be 1..=600".into());
        }
        if !(10..=900).contains(&t.qr_timeout_secs) {
            bad("txn.qr_timeout_secs", "must be 10..=900".into());
        }
        if !(1..=20).contains(&t.live_attempts) {
            bad("txn.live_attempts", "must be 1..=20".into());
        }
        if !(10..=7 * 86_400).contains(&t.reverse_deadline_secs) {
            bad("txn.reverse_deadline_secs", "must be 10..=604800".into());
        }
        if !(1..=3600).contains(&t.recovery_interval_secs) {
            bad("txn.recovery_interval_secs", "must be 1..=3600".into());
        }
    }

    /// The kiosk's payment signing key (from `pay.key_file` when set).
    pub fn pay_key(&self) -> Result<crate::pay::KioskKey, ConfigError> {
        let (text, source, key) = if self.pay.key_file.is_empty() {
            (
                self.pay.kiosk_key.clone(),
                Source::Defaults,
                "pay.kiosk_key",
            )
        } else {
            let path = PathBuf::from(&self.pay.key_file);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ConfigError::Invalid(vec![Problem {
                    source: Source::File(path.clone()),
                    key: "pay.key_file".into(),
                    reason: format!("cannot read: {e}"),
                }])
            })?;
            (text, Source::File(path), "pay.key_file")
        };
        crate::pay::KioskKey::from_hex(&text).map_err(|_| {
            ConfigError::Invalid(vec![Problem {
                source,
                key: key.into(),
                reason: "not a key: at least 16 bytes of hex".into(),
            }])
        })
    }

    /// The HIS bearer token (from `token_file` when set).
    pub fn his_token(&self) -> Result<String, ConfigError> {
        if self.his.token_file.is_empty() {
            return Ok(self.his.token.clone());
        }
        std::fs::read_to_string(&self.his.token_file)
            .map(|s| s.trim().to_string())
            .map_err(|e| {
                ConfigError::Invalid(vec![Problem {
                    source: Source::File(PathBuf::from(&self.his.token_file)),
                    key: "his.token_file".into(),
                    reason: format!("cannot read: {e}"),
                }])
            })
    }

    /// The status endpoint's bearer token (from `token_file` when set); `None`: no token needed.
    pub fn status_token(&self) -> Result<Option<String>, ConfigError> {
        read_token(
            &self.status.token,
            &self.status.token_file,
            "status.token_file",
        )
    }

    /// The fleet server's bearer token (from `token_file` when set); `None`: no token sent.
    pub fn fleet_token(&self) -> Result<Option<String>, ConfigError> {
        read_token(
            &self.fleet.token,
            &self.fleet.token_file,
            "fleet.token_file",
        )
    }

    /// SHA-256 (hex) of the effective configuration with its secrets left
    /// out (kiosk id and data directory included, so it is per kiosk): on
    /// one software version, a changed fingerprint means changed settings.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(
            format!("{:?}", self.redacted()).as_bytes(),
        ))
    }

    /// This configuration with its secrets (tokens, the payment key and the
    /// technicians' PIN hashes) replaced by a marker: what `config show`
    /// prints and the fingerprint hashes.
    pub fn redacted(&self) -> Config {
        let mut c = self.clone();
        for secret in [
            &mut c.his.token,
            &mut c.pay.kiosk_key,
            &mut c.status.token,
            &mut c.fleet.token,
        ]
        .into_iter()
        .chain(c.maintenance.technicians.values_mut())
        {
            if !secret.is_empty() {
                *secret = "<secret>".into();
            }
        }
        c
    }

    /// Timeout for one HIS operation: its own entry, else read or write.
    pub fn his_timeout(&self, op: crate::his::ops::Operation) -> Duration {
        let ms = self
            .his
            .timeouts
            .get(op.id())
            .copied()
            .unwrap_or(if op.is_write() {
                self.his.write_timeout_ms
            } else {
                self.his.read_timeout_ms
            });
        Duration::from_millis(ms)
    }

    /// A path under `kiosk.data_dir` (absolute paths are kept).
    pub fn data_path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.kiosk.data_dir.join(p)
        }
    }
}

/// A token given inline or in a file (the file wins); empty = none.
fn read_token(inline: &str, file: &str, key: &str) -> Result<Option<String>, ConfigError> {
    if file.is_empty() {
        let token = inline.trim();
        return Ok((!token.is_empty()).then(|| token.to_string()));
    }
    let problem = |reason: String| {
        ConfigError::Invalid(vec![Problem {
            source: Source::File(PathBuf::from(file)),
            key: key.into(),
            reason,
        }])
    };
    let token = std::fs::read_to_string(file)
        .map_err(|e| problem(format!("cannot read: {e}")))?
        .trim()
        .to_string();
    // An empty file must not quietly mean "no token".
    if token.is_empty() {
        return Err(problem("the file is empty".into()));
    }
    Ok(Some(token))
}

fn is_loopback_host(h: &str) -> bool {
    h == "localhost"
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
        || h == "[::1]"
}

impl Devices {
    /// The drivers each device takes.
    pub fn drivers_for(device: &str) -> &'static [&'static str] {
        match device {
            "receipt_printer" => &["simulator", "none", "tcp", "serial", "usb-lp", "spool"],
            "id_card_reader" | "scanner" => &["simulator", "none", "serial"],
            "health_card_reader" => &["simulator", "none", "pcsc"],
            "report_printer" => &["simulator", "none", "cups"],
            _ => &[],
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Device)> {
        [
            ("receipt_printer", &self.receipt_printer),
            ("id_card_reader", &self.id_card_reader),
            ("health_card_reader", &self.health_card_reader),
            ("scanner", &self.scanner),
            ("report_printer", &self.report_printer),
        ]
        .into_iter()
    }
}

fn load_layers(layers: Vec<Layer>, mut problems: Vec<Problem>) -> Result<Config, ConfigError> {
    let cfg = deserialize(&layers, &mut problems);
    if let Some(cfg) = &cfg {
        for (key, reason) in cfg.validate() {
            problems.push(Problem {
                source: blame(&layers, &key),
                key,
                reason,
            });
        }
    }
    match cfg {
        Some(cfg) if problems.is_empty() => Ok(cfg),
        _ => Err(ConfigError::Invalid(problems)),
    }
}

/// Load defaults < `files` (in order: hospital profile, then kiosk file) < environment.
pub fn load(
    files: &[PathBuf],
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    load_signed(files, env, None)
}

/// A file refused because its signature does not verify (when the kiosk
/// has trusted keys), as a problem of that file.
fn unsigned(f: &Path, trusted: Option<&crate::signing::TrustedKeys>) -> Option<Problem> {
    let e = trusted?.verify_file(f).err()?;
    Some(Problem {
        source: Source::File(f.to_path_buf()),
        key: String::new(),
        reason: e.to_string(),
    })
}

/// [`load`], refusing every file not signed by one of `trusted` (when given).
pub fn load_signed(
    files: &[PathBuf],
    env: impl IntoIterator<Item = (String, String)>,
    trusted: Option<&crate::signing::TrustedKeys>,
) -> Result<Config, ConfigError> {
    let mut problems = Vec::new();
    let mut layers = vec![defaults_layer()];
    for f in files {
        if let Some(p) = unsigned(f, trusted) {
            problems.push(p);
            continue;
        }
        layers.extend(read_layer(f, &mut problems));
    }
    layers.extend(env_layers(env));
    load_layers(layers, problems)
}

/// One difference between two effective configurations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Added {
        key: String,
        value: String,
    },
    Removed {
        key: String,
        value: String,
    },
    Changed {
        key: String,
        from: String,
        to: String,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Added { key, value } => write!(f, "+ {key} = {value}"),
            Change::Removed { key, value } => write!(f, "- {key} = {value}"),
            Change::Changed { key, from, to } => write!(f, "~ {key}: {from} -> {to}"),
        }
    }
}

/// Secrets never printed by `config diff`.
fn is_secret(key: &str) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key);
    last.contains("token")
        || last.contains("key") && !last.ends_with("_file")
        || last.contains("secret")
        || key.starts_with("maintenance.technicians.")
}

fn flatten(prefix: &str, t: &toml::Table, out: &mut std::collections::BTreeMap<String, String>) {
    for (k, v) in t {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(sub) => flatten(&key, sub, out),
            v => {
                let shown = if is_secret(&key) {
                    "(secret)".to_string()
                } else {
                    v.to_string()
                };
                out.insert(key, shown);
            }
        }
    }
}

fn effective(files: &[PathBuf], problems: &mut Vec<Problem>) -> toml::Table {
    let mut t = defaults_layer().table;
    for f in files {
        if let Some(l) = read_layer(f, problems) {
            merge(&mut t, &l.table);
        }
    }
    t
}

/// `kiosk config diff A B`: how the effective configuration (defaults <
/// files) of `a` differs from that of `b`, key by key; secrets are shown
/// only as changed, never their values.
pub fn diff(a: &[PathBuf], b: &[PathBuf]) -> Result<Vec<Change>, ConfigError> {
    let mut problems = Vec::new();
    let (ta, tb) = (effective(a, &mut problems), effective(b, &mut problems));
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems));
    }
    let (mut fa, mut fb) = (Default::default(), Default::default());
    flatten("", &ta, &mut fa);
    flatten("", &tb, &mut fb);
    let mut out = Vec::new();
    for (k, va) in &fa {
        match fb.get(k) {
            None => out.push(Change::Removed {
                key: k.clone(),
                value: va.clone(),
            }),
            Some(vb) if vb != va || (is_secret(k) && lookup(&ta, k) != lookup(&tb, k)) => {
                out.push(Change::Changed {
                    key: k.clone(),
                    from: va.clone(),
                    to: if is_secret(k) {
                        "(another secret)".into()
                    } else {
                        vb.clone()
                    },
                })
            }
            Some(_) => {}
        }
    }
    for (k, vb) in &fb {
        if !fa.contains_key(k) {
            out.push(Change::Added {
                key: k.clone(),
                value: vb.clone(),
            });
        }
    }
    Ok(out)
}

/// `kiosk config check FILE...`: every problem in each file (each checked
/// over the defaults on its own, then all together in the given order).
pub fn check_files(files: &[PathBuf]) -> Vec<Problem> {
    check_files_signed(files, None)
}

/// [`check_files`], also checking each file's signature against `trusted`.
pub fn check_files_signed(
    files: &[PathBuf],
    trusted: Option<&crate::signing::TrustedKeys>,
) -> Vec<Problem> {
    let mut all = Vec::new();
    for f in files {
        let mut problems = Vec::new();
        problems.extend(unsigned(f, trusted));
        if let Some(layer) = read_layer(f, &mut problems) {
            if let Err(e) = load_layers(vec![defaults_layer(), layer], Vec::new()) {
                problems.extend_from_slice(e.problems());
            }
        }
        all.extend(problems);
    }
    if files.len() > 1 && all.is_empty() {
        if let Err(e) = load(files, std::iter::empty()) {
            all.extend_from_slice(e.problems());
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn defaults_are_the_valid_demo_kiosk() {
        let cfg = load(&[], std::iter::empty()).unwrap();
        assert_eq!(cfg.his.mode, HisMode::Embedded);
        assert_eq!(cfg.ui.idle_timeout_secs, 60);
        assert_eq!(
            cfg.his_timeout(crate::his::ops::Operation::Settle),
            Duration::from_secs(20)
        );
        assert_eq!(
            cfg.his_timeout(crate::his::ops::Operation::CreateHold),
            Duration::from_secs(10)
        );
        assert_eq!(
            cfg.his_timeout(crate::his::ops::Operation::ListSlots),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn layers_override_in_order_and_env_wins() {
        let hospital =
            file("[hospital]\nid = \"H9\"\nname_zh = \"甲医院\"\n[ui]\nidle_timeout_secs = 90\n");
        let kiosk = file("[kiosk]\nid = \"K9\"\n[ui]\nidle_timeout_secs = 120\n");
        let env = vec![
            ("KIOSK_UI__IDLE_WARNING_SECS".to_string(), "30".to_string()),
            (
                "KIOSK_HIS__TIMEOUTS__listSlots".to_string(),
                "700".to_string(),
            ),
            ("KIOSK_CONFIG".to_string(), "ignored".to_string()),
            ("PATH".to_string(), "/bin".to_string()),
        ];
        let cfg = load(&[hospital.path().into(), kiosk.path().into()], env).unwrap();
        assert_eq!(cfg.hospital.id, "H9");
        assert_eq!(cfg.hospital.name_zh, "甲医院");
        assert_eq!(cfg.hospital.name_en, "Ningbo First Hospital");
        assert_eq!(cfg.kiosk.id, "K9");
        assert_eq!(cfg.ui.idle_timeout_secs, 120);
        assert_eq!(cfg.ui.idle_warning_secs, 30);
        assert_eq!(
            cfg.his_timeout(crate::his::ops::Operation::ListSlots),
            Duration::from_millis(700)
        );
    }

    #[test]
    fn diff_names_each_changed_key_and_hides_secrets() {
        let a = file("[ui]\nidle_timeout_secs = 90\n[his]\ntoken = \"one\"\n");
        let b = file(
            "[ui]\nidle_timeout_secs = 120\n[his]\ntoken = \"two\"\n[his.timeouts]\nsettle = 30000\n",
        );
        let changes = diff(&[a.path().into()], &[b.path().into()]).unwrap();
        let shown: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
        assert!(
            shown.contains(&"~ ui.idle_timeout_secs: 90 -> 120".to_string()),
            "{shown:?}"
        );
        assert!(
            shown.iter().any(|s| s.starts_with("~ his.token")),
            "{shown:?}"
        );
        assert!(
            shown
                .iter()
                .all(|s| !s.contains("one") && !s.contains("two")),
            "{shown:?}"
        );
        assert!(
            shown.iter().any(|s| s.contains("his.timeouts.settle")),
            "{shown:?}"
        );
        assert!(diff(&[a.path().into()], &[a.path().into()])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_tampered_file_is_refused_when_the_kiosk_trusts_keys() {
        let dir = tempfile::tempdir().unwrap();
        let (secret, public) = crate::signing::keygen().unwrap();
        std::fs::write(dir.path().join("k"), secret).unwrap();
        std::fs::write(dir.path().join("t"), public).unwrap();
        let trusted = crate::signing::TrustedKeys::load(&dir.path().join("t")).unwrap();
        let f = dir.path().join("hospital.toml");
        std::fs::write(&f, "[ui]\nidle_timeout_secs = 90\n").unwrap();
        crate::signing::sign_file(&dir.path().join("k"), &f).unwrap();
        let cfg =
            load_signed(std::slice::from_ref(&f), std::iter::empty(), Some(&trusted)).unwrap();
        assert_eq!(cfg.ui.idle_timeout_secs, 90);
        std::fs::write(&f, "[ui]\nidle_timeout_secs = 120\n").unwrap();
        let e =
            load_signed(std::slice::from_ref(&f), std::iter::empty(), Some(&trusted)).unwrap_err();
        assert!(e.to_string().contains("changed after signing"), "{e}");
        assert!(!check_files_signed(std::slice::from_ref(&f), Some(&trusted)).is_empty());
        // Without trusted keys (a demo kiosk) signatures are not required.
        assert!(load(std::slice::from_ref(&f), std::iter::empty()).is_ok());
    }

    #[test]
    fn a_technician_pin_in_clear_is_refused() {
        let good = crate::maint::hash_pin("24681357").unwrap();
        let f = file(&format!(
            "[maintenance.technicians]\ntech01 = \"24681357\"\ntech02 = \"{good}\"\n"
        ));
        let problems = check_files(&[f.path().into()]);
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["maintenance.technicians.tech01"], "{problems:#?}");
        assert!(problems[0].to_string().contains("argon2id"));
    }

    #[test]
    fn configured_notices_are_checked() {
        let f = file(
            "[maintenance]\nnotices = [\n\
             { id = \"back-at-two\", zh = \"本机下午两点恢复服务。\", en = \"Back at 2 pm.\" },\n\
             { id = \"paper\", zh = \"纸\", en = \"Paper\" },\n\
             { id = \"blank\", zh = \" \", en = \"Blank\" },\n\
             { id = \"back-at-two\", zh = \"又\", en = \"Again\" },\n]\n",
        );
        let problems = check_files(&[f.path().into()]);
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "maintenance.notices[1].id",
                "maintenance.notices[2].zh",
                "maintenance.notices[3].id"
            ],
            "{problems:#?}"
        );
        assert!(problems[0].to_string().contains("already taken"));
        let ok = file(
            "[maintenance]\nnotices = [{ id = \"back-at-two\", zh = \"本机下午两点恢复服务。\", en = \"Back at 2 pm.\" }]\n",
        );
        let cfg = load(&[ok.path().into()], std::iter::empty()).unwrap();
        let all = crate::maint::notices(&cfg.maintenance.notices);
        assert_eq!(all.len(), 5);
        assert_eq!(
            crate::maint::notice(&cfg.maintenance.notices, "back-at-two").en,
            "Back at 2 pm."
        );
        assert_eq!(
            crate::maint::notice(&cfg.maintenance.notices, "gone").id,
            crate::maint::DEFAULT_NOTICE,
            "a notice removed from config falls back to the general one"
        );
    }

    #[test]
    fn redacted_hides_tokens_keys_and_pin_hashes() {
        let mut c = load(&[], std::iter::empty::<(String, String)>()).unwrap();
        c.his.token = "his-token-1".into();
        c.pay.kiosk_key = "abcdef0123".into();
        c.status.token = "status-token-2".into();
        c.fleet.token = "fleet-token-3".into();
        c.maintenance.technicians.insert(
            "tech01".into(),
            "$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA".into(),
        );
        let shown = format!("{:?}", c.redacted());
        for s in [
            "his-token-1",
            "abcdef0123",
            "status-token-2",
            "fleet-token-3",
            "argon2id$",
        ] {
            assert!(!shown.contains(s), "{s} shown");
        }
        assert!(shown.contains("tech01"), "who is shown, not their hash");
    }

    #[test]
    fn every_problem_is_reported_with_file_and_key() {
        let bad = file(
            "[hospital]\naccent_color = \"green\"\ncolour = 1\n[his]\nmode = \"remote\"\nbase_url = \"ftp://x\"\nmax_attempts = 0\n\
             [his.timeouts]\nsettl = 100\n[ui]\nidle_timeout_secs = 30\nidle_warning_secs = 40\nlanguages = [\"fr\"]\n[extra]\nx = 1\n",
        );
        let problems = check_files(&[bad.path().into()]);
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        for k in [
            "extra",
            "hospital.colour",
            "hospital.accent_color",
            "his.base_url",
            "his.max_attempts",
            "his.timeouts.settl",
            "ui.idle_warning_secs",
            "ui.languages",
            "ui.default_language",
        ] {
            assert!(keys.contains(&k), "missing {k} in {problems:#?}");
        }
        // Blame goes to the file that set the key; the default language was
        // never touched by the file, so the defaults are named.
        for p in &problems {
            let expected = if p.key == "ui.default_language" {
                Source::Defaults
            } else {
                Source::File(bad.path().into())
            };
            assert_eq!(p.source, expected, "{p}");
        }
        let shown = problems[0].to_string();
        assert!(
            shown.starts_with(&bad.path().display().to_string()),
            "{shown}"
        );
    }

    #[test]
    fn wrong_types_and_syntax_are_reported_with_the_line() {
        let typed = file("[ui]\nidle_timeout_secs = \"sixty\"\n");
        let problems = check_files(&[typed.path().into()]);
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert_eq!(problems[0].key, "ui.idle_timeout_secs");
        assert!(problems[0].reason.contains("invalid type"), "{problems:#?}");

        let syntax = file("[ui]\nidle_timeout_secs = 60\n[his\n");
        let problems = check_files(&[syntax.path().into()]);
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].reason.starts_with("line 3: not valid TOML"),
            "{problems:#?}"
        );

        let problems = check_files(&[PathBuf::from("/nonexistent/kiosk.toml")]);
        assert!(problems[0].reason.starts_with("cannot read"));
    }

    #[test]
    fn environment_problems_name_the_variable() {
        let env = vec![("KIOSK_UI__IDLE_TIMEOUT_SECS".to_string(), "5".to_string())];
        let err = load(&[], env).unwrap_err();
        assert_eq!(
            err.problems()[0].source,
            Source::Env("KIOSK_UI__IDLE_TIMEOUT_SECS".into())
        );
        let env = vec![("KIOSK_UI__NOPE".to_string(), "5".to_string())];
        let err = load(&[], env).unwrap_err();
        assert_eq!(err.problems()[0].key, "ui.nope");
        assert_eq!(err.problems()[0].reason, "unknown key");
    }

    #[test]
    fn shipped_examples_are_valid_together() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/examples");
        // The example profile names files that exist only on a deployed kiosk.
        let problems = check_files(&[root.join("hospital-profile.toml"), root.join("kiosk.toml")]);
        assert!(
            problems.iter().all(|p| p.reason.contains("does not exist")),
            "{problems:#?}"
        );
        assert_eq!(problems.len(), 3, "{problems:#?}");
    }

    #[test]
    fn shipped_examples_are_a_production_kiosk() {
        // The package installs them as /etc/kiosk/hospital.toml and kiosk.toml.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/examples");
        let secret = file("one line\n");
        let path = format!("{:?}", secret.path().to_str().unwrap());
        let env = ["HIS__TOKEN_FILE", "HIS__CA_FILE", "PAY__KEY_FILE"]
            .map(|k| (format!("KIOSK_{k}"), path.clone()));
        let cfg = load(
            &[root.join("hospital-profile.toml"), root.join("kiosk.toml")],
            env,
        )
        .unwrap();
        assert_eq!(cfg.his.mode, HisMode::Remote);
        assert_eq!(cfg.pay.mode, PayMode::Remote);
        assert!(!cfg.ui.demo_panel);
        assert!(cfg.maintenance.technicians.is_empty());
        assert_eq!(cfg.kiosk.data_dir, Path::new("/var/lib/kiosk"));
        for (name, d) in cfg.devices.iter() {
            assert!(
                !matches!(d.driver.as_str(), "simulator" | "none"),
                "{name}: {d:?}"
            );
        }
    }

    #[test]
    fn status_and_fleet_settings_are_checked() {
        let env = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        let cfg = load(&[], Vec::new()).unwrap();
        assert_eq!(cfg.status.listen, "127.0.0.1:9900");
        assert_eq!(cfg.status_token().unwrap(), None);
        assert!(
            cfg.fleet.heartbeat_url.is_empty(),
            "no heartbeat by default"
        );
        let err = load(&[], env("KIOSK_STATUS__LISTEN", "\"localhost:99000\"")).unwrap_err();
        let p = &err.problems()[0];
        assert_eq!(p.key, "status.listen");
        assert_eq!(p.source, Source::Env("KIOSK_STATUS__LISTEN".into()));
        assert!(p.reason.contains("127.0.0.1:9900"), "{p}");
        // Beyond loopback only with a token.
        let err = load(&[], env("KIOSK_STATUS__LISTEN", "\"0.0.0.0:9900\"")).unwrap_err();
        assert_eq!(err.problems()[0].key, "status.listen");
        let cfg = load(
            &[],
            vec![
                ("KIOSK_STATUS__LISTEN".into(), "\"0.0.0.0:9900\"".into()),
                ("KIOSK_STATUS__TOKEN".into(), "\"s3cret\"".into()),
            ],
        )
        .unwrap();
        assert_eq!(cfg.status_token().unwrap().as_deref(), Some("s3cret"));
        assert!(
            load(&[], env("KIOSK_STATUS__LISTEN", "\"\"")).is_ok(),
            "empty = off"
        );
        let err = load(
            &[],
            env("KIOSK_FLEET__HEARTBEAT_URL", "\"http://fleet.example/hb\""),
        )
        .unwrap_err();
        assert_eq!(err.problems()[0].key, "fleet.heartbeat_url");
        assert!(load(
            &[],
            env("KIOSK_FLEET__HEARTBEAT_URL", "\"http://127.0.0.1:8800/hb\"")
        )
        .is_ok());
        let err = load(&[], env("KIOSK_FLEET__HEARTBEAT_INTERVAL_SECS", "0")).unwrap_err();
        assert_eq!(err.problems()[0].key, "fleet.heartbeat_interval_secs");
        // A token file that is empty is an error, not "no token".
        let empty = file("\n");
        let mut cfg = load(&[], Vec::new()).unwrap();
        cfg.status.token_file = empty.path().display().to_string();
        let err = cfg.status_token().unwrap_err();
        assert_eq!(err.problems()[0].key, "status.token_file");
        let full = file("abc\n");
        cfg.fleet.token_file = full.path().display().to_string();
        assert_eq!(cfg.fleet_token().unwrap().as_deref(), Some("abc"));
    }

    #[test]
    fn the_fingerprint_follows_settings_but_not_secrets() {
        let a = load(&[], Vec::new()).unwrap();
        let mut b = a.clone();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 64);
        b.his.token = "another".into();
        b.fleet.token = "x".into();
        let c = {
            let mut c = a.clone();
            c.fleet.token = "y".into();
            c
        };
        assert_eq!(b.fingerprint(), c.fingerprint(), "secrets do not show");
        b.ui.idle_timeout_secs = 90;
        assert_ne!(a.fingerprint(), b.fingerprint());
    }

    #[test]
    fn pay_settings_are_checked() {
        let env = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        let err = load(&[], env("KIOSK_PAY__MODE", "\"remote\"")).unwrap_err();
        let keys: Vec<_> = err.problems().iter().map(|p| p.key.as_str()).collect();
        // No URL, and the public demo key with a real platform.
        assert!(keys.contains(&"pay.base_url"), "{keys:?}");
        assert!(keys.contains(&"pay.kiosk_key"), "{keys:?}");
        let err = load(&[], env("KIOSK_PAY__CHANNELS", "[\"paypal\"]")).unwrap_err();
        assert_eq!(err.problems()[0].key, "pay.channels");
        let err = load(&[], env("KIOSK_TXN__POLL_INTERVAL_MS", "0")).unwrap_err();
        assert_eq!(err.problems()[0].key, "txn.poll_interval_ms");
        let err = load(&[], env("KIOSK_PAY__KIOSK_KEY", "\"abc\"")).unwrap_err();
        assert_eq!(err.problems()[0].key, "pay.kiosk_key");
        let cfg = load(&[], Vec::new()).unwrap();
        assert!(cfg.pay_key().is_ok(), "the demo key is valid in demo mode");
    }
}

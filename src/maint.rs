//! Technician access: PIN check, lockout and the audit log.
//!
//! PINs live in config only as argon2id hashes (PHC strings, made with
//! `kiosk maint hash-pin`), one per technician id. Every login, failure,
//! lockout and maintenance action is written to an audit table in
//! `<data_dir>/maintenance.db` (SQLite, synchronous=FULL), which also keeps
//! the failure count, so restarting the kiosk does not lift a lockout. The
//! audit log holds who, when and what; never patient data.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, SaltString};
use argon2::{Argon2, PasswordVerifier};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// A fixed text a technician picks on the kiosk (which has no keyboard):
/// an out-of-service notice patients see, or how a transaction waiting for
/// staff was resolved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub id: String,
    pub zh: String,
    pub en: String,
}

impl Choice {
    fn of(id: &str, zh: &str, en: &str) -> Choice {
        Choice {
            id: id.into(),
            zh: zh.into(),
            en: en.into(),
        }
    }

    /// Both languages, for records read by either (the journal's note).
    pub fn both(&self) -> String {
        format!("{}: {} / {}", self.id, self.zh, self.en)
    }
}

/// The notice shown when none was chosen (and for an id no longer known).
pub const DEFAULT_NOTICE: &str = "serviced";

/// The built-in out-of-service notices; `maintenance.notices` adds more.
pub fn builtin_notices() -> Vec<Choice> {
    vec![
        Choice::of(
            DEFAULT_NOTICE,
            "本机维护中，暂停服务。请使用其他自助机或到人工窗口办理。",
            "This kiosk is being serviced. Please use another kiosk or a staffed window.",
        ),
        Choice::of(
            "paper",
            "本机正在更换打印纸，暂停服务。请使用其他自助机或到人工窗口办理。",
            "This kiosk's printer paper is being replaced. Please use another kiosk or a staffed window.",
        ),
        Choice::of(
            "network",
            "本机暂时无法连接医院系统，暂停服务。请使用其他自助机或到人工窗口办理。",
            "This kiosk cannot reach the hospital system right now. Please use another kiosk or a staffed window.",
        ),
        Choice::of(
            "closed",
            "现在不是本机的服务时间。请到人工窗口办理。",
            "This kiosk is closed at this hour. Please go to a staffed window.",
        ),
    ]
}

/// Every notice a technician can choose: the built-in ones, then the
/// configured ones.
pub fn notices(configured: &[Choice]) -> Vec<Choice> {
    let mut all = builtin_notices();
    all.extend(configured.iter().cloned());
    all
}

/// The notice with id `id` (the general one when it is no longer known,
/// say after a config change).
pub fn notice(configured: &[Choice], id: &str) -> Choice {
    let all = notices(configured);
    all.iter()
        .find(|n| n.id == id)
        .or_else(|| all.iter().find(|n| n.id == DEFAULT_NOTICE))
        .cloned()
        .expect("the default notice is built in")
}

/// How a technician can record a `NeedsStaff` transaction as resolved.
pub fn resolutions() -> Vec<Choice> {
    vec![
        Choice::of(
            "refunded",
            "已在窗口人工退款",
            "Refunded to the patient at the window",
        ),
        Choice::of(
            "completed",
            "已在窗口为患者补办完成",
            "Completed for the patient at the window",
        ),
        Choice::of(
            "not-charged",
            "已核实患者未被扣款",
            "Checked: the patient was not charged",
        ),
        Choice::of(
            "finance",
            "患者未到场，已转财务处理",
            "The patient did not come; passed to the finance office",
        ),
    ]
}

#[derive(Debug, thiserror::Error)]
pub enum MaintError {
    #[error("the maintenance database {path}: {source}")]
    Db {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("maintenance database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("hashing the PIN: {0}")]
    Hash(String),
    #[error("a technician PIN is 6 to 12 digits")]
    PinFormat,
}

/// The answer to a PIN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// The technician whose PIN it is.
    Ok { technician: String },
    /// Wrong; `left` tries before the lockout.
    Wrong { left: u32 },
    /// Locked until then (no PIN is checked while locked).
    Locked { until: DateTime<Utc> },
    /// No technician PIN is configured: maintenance cannot be entered.
    NoPins,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub who: String,
    pub action: String,
    pub detail: String,
}

/// Policy from config.
#[derive(Debug, Clone)]
pub struct Policy {
    /// technician id -> argon2id PHC string
    pub pins: BTreeMap<String, String>,
    pub max_failures: u32,
    pub lockout: Duration,
}

pub struct Maintenance {
    db: Mutex<Connection>,
    policy: Policy,
}

/// An argon2id hash of `pin` with a fresh salt, as a PHC string for config.
pub fn hash_pin(pin: &str) -> Result<String, MaintError> {
    if !(6..=12).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MaintError::PinFormat);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(pin.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| MaintError::Hash(e.to_string()))
}

/// Whether `phc` is an argon2id PHC string (config checking).
pub fn is_argon2id(phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| h.algorithm.as_str() == "argon2id")
}

impl Maintenance {
    pub fn open(data_dir: &Path, policy: Policy) -> Result<Maintenance, MaintError> {
        let path = data_dir.join("maintenance.db");
        let db = Connection::open(&path).map_err(|source| MaintError::Db {
            path: path.display().to_string(),
            source,
        })?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS audit (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 at TEXT NOT NULL,
                 who TEXT NOT NULL,
                 action TEXT NOT NULL,
                 detail TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS setting (
                 key TEXT PRIMARY KEY,
                 value TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS lockout (
                 id INTEGER PRIMARY KEY CHECK (id = 1),
                 failures INTEGER NOT NULL,
                 locked_until TEXT
             );",
        )?;
        Ok(Maintenance {
            db: Mutex::new(db),
            policy,
        })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Write one audit record (and the log).
    pub fn audit(&self, who: &str, action: &str, detail: &str) -> Result<(), MaintError> {
        tracing::info!(target: "audit", who, action, detail, "maintenance");
        self.db().execute(
            "INSERT INTO audit (at, who, action, detail) VALUES (?1, ?2, ?3, ?4)",
            params![Utc::now().to_rfc3339(), who, action, detail],
        )?;
        Ok(())
    }

    /// The last `n` audit records, newest first.
    pub fn audit_log(&self, n: u32) -> Result<Vec<AuditEntry>, MaintError> {
        let db = self.db();
        let mut st =
            db.prepare("SELECT at, who, action, detail FROM audit ORDER BY seq DESC LIMIT ?1")?;
        let rows = st.query_map([n], |r| {
            let at: String = r.get(0)?;
            Ok(AuditEntry {
                at: DateTime::parse_from_rfc3339(&at)
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or_default(),
                who: r.get(1)?,
                action: r.get(2)?,
                detail: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn state(&self) -> Result<(u32, Option<DateTime<Utc>>), MaintError> {
        let row: Option<(u32, Option<String>)> = self
            .db()
            .query_row(
                "SELECT failures, locked_until FROM lockout WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(match row {
            None => (0, None),
            Some((f, until)) => (
                f,
                until
                    .and_then(|u| DateTime::parse_from_rfc3339(&u).ok())
                    .map(|t| t.with_timezone(&Utc)),
            ),
        })
    }

    fn set_state(&self, failures: u32, until: Option<DateTime<Utc>>) -> Result<(), MaintError> {
        self.db().execute(
            "INSERT INTO lockout (id, failures, locked_until) VALUES (1, ?1, ?2)
             ON CONFLICT(id) DO UPDATE SET failures = ?1, locked_until = ?2",
            params![failures, until.map(|u| u.to_rfc3339())],
        )?;
        Ok(())
    }

    /// The notice (its id) a technician put the kiosk out of service with,
    /// or `None` while it serves patients. Kept across restarts: a kiosk
    /// under repair stays closed to patients. ("1" is what versions before
    /// the choice of notices stored: the general maintenance notice.)
    pub fn out_of_service(&self) -> Option<String> {
        let v = self
            .db()
            .query_row(
                "SELECT value FROM setting WHERE key = 'out_of_service'",
                [],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .ok()
            .flatten()?;
        match v.as_str() {
            "" | "0" => None,
            "1" => Some(DEFAULT_NOTICE.to_string()),
            _ => Some(v),
        }
    }

    /// Out of service with notice `notice`, or back in service (`None`).
    pub fn set_out_of_service(&self, notice: Option<&str>) -> Result<(), MaintError> {
        self.db().execute(
            "INSERT INTO setting (key, value) VALUES ('out_of_service', ?1)
             ON CONFLICT(key) DO UPDATE SET value = ?1",
            [notice.unwrap_or("")],
        )?;
        Ok(())
    }

    /// Check a PIN typed on the maintenance keypad at `now`.
    pub fn login(&self, pin: &str, now: DateTime<Utc>) -> Result<Login, MaintError> {
        if self.policy.pins.is_empty() {
            self.audit("-", "login-refused", "no technician PIN configured")?;
            return Ok(Login::NoPins);
        }
        let (failures, until) = self.state()?;
        if let Some(until) = until.filter(|u| *u > now) {
            self.audit("-", "login-locked", &format!("locked until {until}"))?;
            return Ok(Login::Locked { until });
        }
        let argon = Argon2::default();
        let who = self.policy.pins.iter().find_map(|(id, phc)| {
            let hash = PasswordHash::new(phc).ok()?;
            argon
                .verify_password(pin.as_bytes(), &hash)
                .is_ok()
                .then(|| id.clone())
        });
        match who {
            Some(technician) => {
                self.set_state(0, None)?;
                self.audit(&technician, "login", "")?;
                Ok(Login::Ok { technician })
            }
            None => {
                // A lockout that has run out starts a fresh count.
                let failures = if until.is_some() { 1 } else { failures + 1 };
                if failures >= self.policy.max_failures {
                    let until = now
                        + chrono::Duration::from_std(self.policy.lockout)
                            .unwrap_or(chrono::Duration::minutes(5));
                    self.set_state(failures, Some(until))?;
                    self.audit(
                        "-",
                        "lockout",
                        &format!("{failures} wrong PINs; locked until {until}"),
                    )?;
                    Ok(Login::Locked { until })
                } else {
                    self.set_state(failures, None)?;
                    self.audit("-", "login-failed", &format!("wrong PIN ({failures})"))?;
                    Ok(Login::Wrong {
                        left: self.policy.max_failures - failures,
                    })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            pins: [("tech01".to_string(), hash_pin("246810").unwrap())].into(),
            max_failures: 5,
            lockout: Duration::from_secs(300),
        }
    }

    #[test]
    fn hashes_are_argon2id_and_pins_are_digits() {
        let h = hash_pin("135790").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(is_argon2id(&h));
        assert!(!is_argon2id("135790"));
        assert!(hash_pin("12ab56").is_err());
        assert!(hash_pin("123").is_err());
        // Two hashes of one PIN differ (salted).
        assert_ne!(h, hash_pin("135790").unwrap());
    }

    #[test]
    fn five_wrong_pins_lock_entry_even_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let m = Maintenance::open(dir.path(), policy()).unwrap();
        for left in (1..=4).rev() {
            assert_eq!(m.login("000000", now).unwrap(), Login::Wrong { left });
        }
        let Login::Locked { until } = m.login("000000", now).unwrap() else {
            panic!("the fifth wrong PIN locks")
        };
        assert_eq!((until - now).num_seconds(), 300);
        // The right PIN does not help while locked, nor does a restart.
        assert!(matches!(
            m.login("246810", now).unwrap(),
            Login::Locked { .. }
        ));
        drop(m);
        let m = Maintenance::open(dir.path(), policy()).unwrap();
        assert!(matches!(
            m.login("246810", now + chrono::Duration::seconds(299))
                .unwrap(),
            Login::Locked { .. }
        ));
        // After the lockout the right PIN works and the count starts again.
        let later = now + chrono::Duration::seconds(301);
        assert_eq!(
            m.login("246810", later).unwrap(),
            Login::Ok {
                technician: "tech01".into()
            }
        );
        assert_eq!(m.login("111111", later).unwrap(), Login::Wrong { left: 4 });
        // Everything is in the audit log, newest first, with no PIN in it.
        let log = m.audit_log(100).unwrap();
        let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions[0], "login-failed");
        assert_eq!(actions[1], "login");
        assert_eq!(log[1].who, "tech01");
        assert!(actions.contains(&"lockout"));
        assert_eq!(actions.iter().filter(|a| **a == "login-locked").count(), 2);
        assert!(log
            .iter()
            .all(|e| !e.detail.contains("246810") && !e.detail.contains("000000")));
    }

    #[test]
    fn out_of_service_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let m = Maintenance::open(dir.path(), policy()).unwrap();
        assert_eq!(m.out_of_service(), None);
        m.set_out_of_service(Some("paper")).unwrap();
        drop(m);
        let m = Maintenance::open(dir.path(), policy()).unwrap();
        assert_eq!(m.out_of_service().as_deref(), Some("paper"));
        m.set_out_of_service(None).unwrap();
        assert_eq!(m.out_of_service(), None);
        // What an earlier version stored reads as the general notice.
        m.db()
            .execute(
                "UPDATE setting SET value = '1' WHERE key = 'out_of_service'",
                [],
            )
            .unwrap();
        assert_eq!(m.out_of_service().as_deref(), Some(DEFAULT_NOTICE));
    }

    #[test]
    fn the_demo_hash_is_the_demo_pin() {
        let dir = tempfile::tempdir().unwrap();
        let m = Maintenance::open(
            dir.path(),
            Policy {
                pins: [(
                    "demo".to_string(),
                    crate::ui::DEMO_TECH_PIN_HASH.to_string(),
                )]
                .into(),
                ..policy()
            },
        )
        .unwrap();
        assert!(is_argon2id(crate::ui::DEMO_TECH_PIN_HASH));
        assert_eq!(
            m.login(crate::ui::DEMO_TECH_PIN, Utc::now()).unwrap(),
            Login::Ok {
                technician: "demo".into()
            }
        );
    }

    #[test]
    fn no_configured_pin_means_no_entry() {
        let dir = tempfile::tempdir().unwrap();
        let m = Maintenance::open(
            dir.path(),
            Policy {
                pins: BTreeMap::new(),
                ..policy()
            },
        )
        .unwrap();
        assert_eq!(m.login("246810", Utc::now()).unwrap(), Login::NoPins);
    }
}

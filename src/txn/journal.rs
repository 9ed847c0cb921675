//! The transaction journal: SQLite in WAL mode with `synchronous=FULL`, so a
//! committed transition survives a crash or a power cut.
//!
//! Every transition is a compare-and-set on the journalled state, checked by
//! the pure [`step`] function, and is committed before the side effect it
//! announces. Only the HIS patient id and a *masked* ID number are stored.

use super::state::{step, Event, TransitionError, TxnKind, TxnState};
use crate::domain::{Money, PayChannel};
use crate::his::{BadIdempotencyKey, IdempotencyKey};
use chrono::NaiveDate;
use rusqlite::{params, Connection, OptionalExtension};
use rusqlite_migration::{Migrations, M};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("journal migration: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("transaction {0} does not exist")]
    NotFound(i64),
    #[error("transaction {id} moved from {expected} to {found} meanwhile")]
    Conflict {
        id: i64,
        expected: TxnState,
        found: TxnState,
    },
    #[error("corrupt journal row {id}: {what}")]
    Corrupt { id: i64, what: String },
    #[error(transparent)]
    Key(#[from] BadIdempotencyKey),
    #[error("transaction {id} is {state}: only a transaction that needs staff can be marked resolved (once)")]
    NotResolvable { id: i64, state: TxnState },
}

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        // 1: the journal.
        M::up(
            "CREATE TABLE txn (
            id INTEGER PRIMARY KEY,
            kiosk_id TEXT NOT NULL,
            business_date TEXT NOT NULL,
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            state TEXT NOT NULL,
            patient_id TEXT NOT NULL,
            id_masked TEXT NOT NULL,
            amount_fen INTEGER NOT NULL,
            channel TEXT,
            slot_id TEXT,
            hold_id TEXT,
            target_id TEXT,
            his_reference TEXT,
            channel_trade_no TEXT,
            reprint_needed INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            details TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (kiosk_id, business_date, seq)
        );
        CREATE INDEX txn_open ON txn(state);
        CREATE INDEX txn_date ON txn(business_date);
        CREATE TABLE txn_event (
            id INTEGER PRIMARY KEY,
            txn_id INTEGER NOT NULL REFERENCES txn(id),
            from_state TEXT NOT NULL,
            event TEXT NOT NULL,
            to_state TEXT NOT NULL,
            note TEXT,
            at TEXT NOT NULL
        );
        CREATE TABLE seq (business_date TEXT PRIMARY KEY, next INTEGER NOT NULL);",
        ),
        // 2: what the runner needs to post and to reprint after a restart:
        // when the channel collected (the PaymentRef HIS gets) and HIS's answer.
        M::up(
            "ALTER TABLE txn ADD COLUMN paid_at TEXT;
             ALTER TABLE txn ADD COLUMN his_result TEXT;",
        ),
        // 3: cancellations: the kiosk order (out_trade_no) whose fee they
        // refund. Kinds and states are plain text (no CHECK), so the new kind
        // `cancellation` and state `refunding` need no change; old rows read
        // as before with this column NULL.
        M::up(
            "ALTER TABLE txn ADD COLUMN refund_of TEXT;
             CREATE INDEX txn_target ON txn(target_id);",
        ),
        // 4: a technician's resolution of a transaction that needed staff
        // (who, what they did, when); the transaction itself is unchanged.
        M::up(
            "CREATE TABLE staff_resolution (
                txn_id INTEGER PRIMARY KEY REFERENCES txn(id),
                who TEXT NOT NULL,
                note TEXT NOT NULL,
                at TEXT NOT NULL
            );",
        ),
    ])
}

/// One transaction as journalled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    pub id: i64,
    pub kiosk_id: String,
    pub business_date: NaiveDate,
    pub seq: u64,
    pub kind: TxnKind,
    pub state: TxnState,
    pub patient_id: String,
    pub id_masked: String,
    pub amount: Money,
    pub channel: Option<PayChannel>,
    /// The slot (registration, booking).
    pub slot_id: Option<String>,
    pub hold_id: Option<String>,
    /// The appointment (check-in) or pre-settlement (settlement) it posts to.
    pub target_id: Option<String>,
    /// What HIS answered: appointment or settlement id.
    pub his_reference: Option<String>,
    pub channel_trade_no: Option<String>,
    /// When the channel collected (RFC 3339), from the channel's answer.
    pub paid_at: Option<String>,
    /// HIS's answer to the posting (appointment or settlement JSON), for the slip and reprints.
    pub his_result: Option<String>,
    /// A cancellation: the kiosk order (out_trade_no of the earlier booking)
    /// its refund goes back to; `None` when there was nothing to refund.
    pub refund_of: Option<String>,
    pub reprint_needed: bool,
    pub last_error: Option<String>,
    /// JSON the slip needs (department, doctor, window...), no personal data beyond the masked.
    pub details: String,
    pub created_at: String,
    pub updated_at: String,
}

impl Txn {
    /// `K01-20261123-000017`: the base of every key of this transaction.
    pub fn key_base(&self) -> String {
        format!(
            "{}-{}-{:06}",
            self.kiosk_id,
            self.business_date.format("%Y%m%d"),
            self.seq
        )
    }

    /// The idempotency key of one step toward HIS, the same on every retry.
    pub fn his_key(&self, step: &str) -> Result<IdempotencyKey, BadIdempotencyKey> {
        IdempotencyKey::new(format!("{}-{step}", self.key_base()))
    }

    /// The order number toward the payment channel (out_trade_no): at most 32 characters.
    pub fn out_trade_no(&self) -> String {
        format!(
            "{}{}{:06}",
            self.kiosk_id,
            self.business_date.format("%Y%m%d"),
            self.seq
        )
    }

    /// A cancellation's refund number: `{original out_trade_no}X`. Named
    /// after the order it returns, not after the cancellation, so there is
    /// one cancellation refund per kiosk order, whatever happens.
    pub fn cancellation_refund_no(&self) -> Option<String> {
        self.refund_of.as_deref().map(cancellation_refund_no)
    }
}

/// The refund number of the cancellation of kiosk order `out_trade_no`.
pub fn cancellation_refund_no(out_trade_no: &str) -> String {
    format!("{out_trade_no}X")
}

/// What a new transaction starts with.
#[derive(Debug, Clone, Default)]
pub struct NewTxn {
    pub patient_id: String,
    pub id_masked: String,
    pub amount: Money,
    pub slot_id: Option<String>,
    pub target_id: Option<String>,
    pub details: String,
}

/// Fields a transition may fill in.
#[derive(Debug, Clone, Default)]
pub struct Update {
    pub hold_id: Option<String>,
    pub target_id: Option<String>,
    pub amount: Option<Money>,
    pub channel: Option<PayChannel>,
    pub his_reference: Option<String>,
    pub channel_trade_no: Option<String>,
    pub reprint_needed: Option<bool>,
    pub last_error: Option<String>,
    pub paid_at: Option<String>,
    pub his_result: Option<String>,
    pub refund_of: Option<String>,
    /// Replaces the details JSON.
    pub details: Option<String>,
    pub note: Option<String>,
}

pub struct Journal {
    conn: Connection,
    kiosk_id: String,
}

const COLUMNS: &str = "id, kiosk_id, business_date, seq, kind, state, patient_id, id_masked, amount_fen, channel, \
    slot_id, hold_id, target_id, his_reference, channel_trade_no, reprint_needed, last_error, details, created_at, updated_at, \
    paid_at, his_result, refund_of";

fn channel_str(c: PayChannel) -> &'static str {
    match c {
        PayChannel::Wechat => "wechat",
        PayChannel::Alipay => "alipay",
        PayChannel::Unionpay => "unionpay",
        PayChannel::Wallet => "wallet",
        PayChannel::None => "none",
    }
}

fn parse_channel(s: &str) -> Option<PayChannel> {
    [
        PayChannel::Wechat,
        PayChannel::Alipay,
        PayChannel::Unionpay,
        PayChannel::Wallet,
        PayChannel::None,
    ]
    .into_iter()
    .find(|c| channel_str(*c) == s)
}

fn event_name(e: Event) -> String {
    format!("{e:?}")
}

impl Journal {
    /// Open (creating and migrating) the journal at `path`.
    pub fn open(path: &Path, kiosk_id: &str) -> Result<Journal, JournalError> {
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrations().to_latest(&mut conn)?;
        Ok(Journal {
            conn,
            kiosk_id: kiosk_id.to_string(),
        })
    }

    /// Start a transaction: allocates its sequence number for the day.
    pub fn begin(
        &mut self,
        kind: TxnKind,
        date: NaiveDate,
        now: &str,
        new: NewTxn,
    ) -> Result<Txn, JournalError> {
        let tx = self.conn.transaction()?;
        let d = date.to_string();
        let seq: i64 = tx
            .query_row("SELECT next FROM seq WHERE business_date = ?1", [&d], |r| {
                r.get(0)
            })
            .optional()?
            .unwrap_or(1);
        tx.execute(
            "INSERT INTO seq (business_date, next) VALUES (?1, ?2)
             ON CONFLICT(business_date) DO UPDATE SET next = excluded.next",
            params![d, seq + 1],
        )?;
        tx.execute(
            "INSERT INTO txn (kiosk_id, business_date, seq, kind, state, patient_id, id_masked, amount_fen,
                              slot_id, target_id, details, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
            params![
                self.kiosk_id,
                d,
                seq,
                kind.as_str(),
                TxnState::Created.as_str(),
                new.patient_id,
                new.id_masked,
                new.amount.fen(),
                new.slot_id,
                new.target_id,
                if new.details.is_empty() { "{}".to_string() } else { new.details },
                now,
            ],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        self.get(id)
    }

    /// Apply `event` to transaction `id`, which must still be in `expected`.
    /// Committed (fsync'd) when this returns.
    pub fn transition(
        &mut self,
        id: i64,
        expected: TxnState,
        event: Event,
        now: &str,
        update: Update,
    ) -> Result<Txn, JournalError> {
        let tx = self.conn.transaction()?;
        let (kind, state): (String, String) = tx
            .query_row("SELECT kind, state FROM txn WHERE id = ?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?
            .ok_or(JournalError::NotFound(id))?;
        let kind = TxnKind::parse(&kind).ok_or_else(|| JournalError::Corrupt {
            id,
            what: format!("kind {kind}"),
        })?;
        let state = TxnState::parse(&state).ok_or_else(|| JournalError::Corrupt {
            id,
            what: format!("state {state}"),
        })?;
        if state != expected {
            return Err(JournalError::Conflict {
                id,
                expected,
                found: state,
            });
        }
        let next = step(kind, state, event)?;
        tx.execute(
            "UPDATE txn SET state = ?2, updated_at = ?3,
                hold_id = COALESCE(?4, hold_id),
                amount_fen = COALESCE(?5, amount_fen),
                channel = COALESCE(?6, channel),
                his_reference = COALESCE(?7, his_reference),
                channel_trade_no = COALESCE(?8, channel_trade_no),
                reprint_needed = COALESCE(?9, reprint_needed),
                last_error = COALESCE(?10, last_error),
                paid_at = COALESCE(?11, paid_at),
                his_result = COALESCE(?12, his_result),
                details = COALESCE(?13, details),
                target_id = COALESCE(?14, target_id),
                refund_of = COALESCE(?15, refund_of)
             WHERE id = ?1",
            params![
                id,
                next.as_str(),
                now,
                update.hold_id,
                update.amount.map(Money::fen),
                update.channel.map(channel_str),
                update.his_reference,
                update.channel_trade_no,
                update.reprint_needed,
                update.last_error,
                update.paid_at,
                update.his_result,
                update.details,
                update.target_id,
                update.refund_of,
            ],
        )?;
        tx.execute(
            "INSERT INTO txn_event (txn_id, from_state, event, to_state, note, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, state.as_str(), event_name(event), next.as_str(), update.note, now],
        )?;
        tx.commit()?;
        self.get(id)
    }

    /// A slip that had to be reprinted came out: clear the flag (no state change).
    pub fn mark_reprinted(&mut self, id: i64, now: &str) -> Result<(), JournalError> {
        let n = self.conn.execute(
            "UPDATE txn SET reprint_needed = 0, updated_at = ?2 WHERE id = ?1",
            params![id, now],
        )?;
        if n == 0 {
            return Err(JournalError::NotFound(id));
        }
        Ok(())
    }

    /// Record an error without changing state (a retryable failure).
    pub fn note_error(&mut self, id: i64, now: &str, error: &str) -> Result<(), JournalError> {
        let n = self.conn.execute(
            "UPDATE txn SET last_error = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, error, now],
        )?;
        if n == 0 {
            return Err(JournalError::NotFound(id));
        }
        Ok(())
    }

    pub fn get(&self, id: i64) -> Result<Txn, JournalError> {
        let sql = format!("SELECT {COLUMNS} FROM txn WHERE id = ?1");
        let row = self
            .conn
            .query_row(&sql, [id], raw_row)
            .optional()?
            .ok_or(JournalError::NotFound(id))?;
        decode(row)
    }

    /// Every transaction not yet in a terminal state, oldest first.
    pub fn unfinished(&self) -> Result<Vec<Txn>, JournalError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM txn WHERE state NOT IN ('done', 'released', 'reversed', 'needs_staff') ORDER BY id"
        );
        self.query(&sql, [])
    }

    /// Every transaction of a business day, in order.
    pub fn on_date(&self, date: NaiveDate) -> Result<Vec<Txn>, JournalError> {
        let sql = format!("SELECT {COLUMNS} FROM txn WHERE business_date = ?1 ORDER BY seq");
        self.query(&sql, [date.to_string()])
    }

    /// The transaction whose channel order is `out_trade_no`, if this
    /// kiosk's journal has it (`{kiosk_id}{yyyymmdd}{seq:06}`).
    pub fn by_out_trade_no(&self, out_trade_no: &str) -> Result<Option<Txn>, JournalError> {
        let Some(rest) = out_trade_no.strip_prefix(self.kiosk_id.as_str()) else {
            return Ok(None);
        };
        if rest.len() != 14 || !rest.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
        let Ok(date) = NaiveDate::parse_from_str(&rest[..8], "%Y%m%d") else {
            return Ok(None);
        };
        let seq: i64 = rest[8..].parse().unwrap_or(-1);
        let sql = format!(
            "SELECT {COLUMNS} FROM txn WHERE kiosk_id = ?1 AND business_date = ?2 AND seq = ?3"
        );
        Ok(self
            .query(&sql, params![self.kiosk_id, date.to_string(), seq])?
            .into_iter()
            .next())
    }

    /// Every transaction of `kind` on target `target_id` (an appointment), oldest first.
    pub fn with_target(&self, kind: TxnKind, target_id: &str) -> Result<Vec<Txn>, JournalError> {
        let sql =
            format!("SELECT {COLUMNS} FROM txn WHERE kind = ?1 AND target_id = ?2 ORDER BY id");
        self.query(&sql, params![kind.as_str(), target_id])
    }

    /// Completed transactions whose slip did not come out (paper out or a
    /// jam mid-slip), waiting for a reprint, oldest first.
    pub fn needing_reprint(&self) -> Result<Vec<Txn>, JournalError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM txn WHERE state = 'done' AND reprint_needed = 1 ORDER BY id"
        );
        self.query(&sql, [])
    }

    /// Transactions waiting for staff (not yet marked resolved).
    pub fn needing_staff(&self) -> Result<Vec<Txn>, JournalError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM txn WHERE state = 'needs_staff'
             AND id NOT IN (SELECT txn_id FROM staff_resolution) ORDER BY id"
        );
        self.query(&sql, [])
    }

    /// A technician resolved a `NeedsStaff` transaction (refunded at the
    /// window, completed by hand): who, what, when. Only once, and only for
    /// a transaction that needs staff.
    pub fn resolve(&self, id: i64, who: &str, note: &str, now: &str) -> Result<(), JournalError> {
        let t = self.get(id)?;
        if t.state != TxnState::NeedsStaff {
            return Err(JournalError::NotResolvable { id, state: t.state });
        }
        self.conn.execute(
            "INSERT INTO staff_resolution (txn_id, who, note, at) VALUES (?1, ?2, ?3, ?4)",
            params![id, who, note, now],
        )?;
        Ok(())
    }

    /// The resolution of a transaction, if a technician recorded one: (who, note, at).
    pub fn resolution(&self, id: i64) -> Result<Option<(String, String, String)>, JournalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT who, note, at FROM staff_resolution WHERE txn_id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?)
    }

    /// The event history of one transaction: (from, event, to, at).
    pub fn history(&self, id: i64) -> Result<Vec<(String, String, String, String)>, JournalError> {
        let mut stmt = self.conn.prepare(
            "SELECT from_state, event, to_state, at FROM txn_event WHERE txn_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// When the transaction last entered `state` (RFC 3339), from its history.
    pub fn entered_at(&self, id: i64, state: TxnState) -> Result<Option<String>, JournalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT at FROM txn_event WHERE txn_id = ?1 AND to_state = ?2 ORDER BY id DESC LIMIT 1",
                params![id, state.as_str()],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn query<P: rusqlite::Params>(&self, sql: &str, p: P) -> Result<Vec<Txn>, JournalError> {
        let mut stmt = self.conn.prepare(sql)?;
        let rows = stmt.query_map(p, raw_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(decode).collect()
    }
}

type RawRow = (
    i64,
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    i64,
    Option<String>,
    [Option<String>; 5],
    bool,
    Option<String>,
    String,
    String,
    String,
    [Option<String>; 3],
);

fn raw_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        [r.get(10)?, r.get(11)?, r.get(12)?, r.get(13)?, r.get(14)?],
        r.get(15)?,
        r.get(16)?,
        r.get(17)?,
        r.get(18)?,
        r.get(19)?,
        [r.get(20)?, r.get(21)?, r.get(22)?],
    ))
}

fn decode(r: RawRow) -> Result<Txn, JournalError> {
    let (
        id,
        kiosk_id,
        date,
        seq,
        kind,
        state,
        patient_id,
        id_masked,
        amount,
        channel,
        opt,
        reprint,
        last_error,
        details,
        created_at,
        updated_at,
        [paid_at, his_result, refund_of],
    ) = r;
    let corrupt = |what: String| JournalError::Corrupt { id, what };
    let [slot_id, hold_id, target_id, his_reference, channel_trade_no] = opt;
    Ok(Txn {
        id,
        kiosk_id,
        business_date: NaiveDate::parse_from_str(&date, "%Y-%m-%d")
            .map_err(|_| corrupt(format!("date {date}")))?,
        seq: u64::try_from(seq).map_err(|_| corrupt(format!("seq {seq}")))?,
        kind: TxnKind::parse(&kind).ok_or_else(|| corrupt(format!("kind {kind}")))?,
        state: TxnState::parse(&state).ok_or_else(|| corrupt(format!("state {state}")))?,
        patient_id,
        id_masked,
        amount: Money::from_fen(amount),
        channel: match channel {
            Some(c) => Some(parse_channel(&c).ok_or_else(|| corrupt(format!("channel {c}")))?),
            None => None,
        },
        slot_id,
        hold_id,
        target_id,
        his_reference,
        channel_trade_no,
        paid_at,
        his_result,
        refund_of,
        reprint_needed: reprint,
        last_error,
        details,
        created_at,
        updated_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-11-23T09:00:00+08:00";

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    fn new(amount: i64) -> NewTxn {
        NewTxn {
            patient_id: "P000017".into(),
            id_masked: "3302**********1234".into(),
            amount: Money::from_fen(amount),
            slot_id: Some("S1".into()),
            ..NewTxn::default()
        }
    }

    #[test]
    fn a_technician_resolves_a_needs_staff_transaction_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(&dir.path().join("journal.db"), "K01").unwrap();
        let t = j
            .begin(TxnKind::Registration, day(), NOW, new(1500))
            .unwrap();
        // Not needing staff: refused.
        assert!(matches!(
            j.resolve(t.id, "tech01", "x", NOW),
            Err(JournalError::NotResolvable { .. })
        ));
        j.conn
            .execute("UPDATE txn SET state = 'needs_staff' WHERE id = ?1", [t.id])
            .unwrap();
        assert_eq!(j.needing_staff().unwrap().len(), 1);
        j.resolve(t.id, "tech01", "refunded at window 3", NOW)
            .unwrap();
        assert!(j.needing_staff().unwrap().is_empty());
        assert_eq!(
            j.resolution(t.id).unwrap().unwrap().1,
            "refunded at window 3"
        );
        // Once only.
        assert!(j.resolve(t.id, "tech02", "again", NOW).is_err());
        let _ = &mut j;
    }

    #[test]
    fn migrations_are_valid() {
        migrations().validate().unwrap();
    }

    #[test]
    fn journals_transitions_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let id = {
            let mut j = Journal::open(&path, "K01").unwrap();
            let t = j
                .begin(TxnKind::Registration, day(), NOW, new(1500))
                .unwrap();
            assert_eq!(t.seq, 1);
            assert_eq!(t.key_base(), "K01-20261123-000001");
            assert_eq!(
                t.his_key("hold").unwrap().as_str(),
                "K01-20261123-000001-hold"
            );
            assert_eq!(t.out_trade_no(), "K0120261123000001");
            let t = j
                .transition(
                    t.id,
                    TxnState::Created,
                    Event::Held,
                    NOW,
                    Update {
                        hold_id: Some("HOLD9".into()),
                        ..Update::default()
                    },
                )
                .unwrap();
            assert_eq!(t.state, TxnState::SlotHeld);
            let t2 = j.begin(TxnKind::Settlement, day(), NOW, new(9900)).unwrap();
            assert_eq!(t2.seq, 2);
            t.id
        };
        let mut j = Journal::open(&path, "K01").unwrap();
        let t = j.get(id).unwrap();
        assert_eq!(t.state, TxnState::SlotHeld);
        assert_eq!(t.hold_id.as_deref(), Some("HOLD9"));
        assert_eq!(j.unfinished().unwrap().len(), 2);
        // A stale writer is refused: compare-and-set on the state.
        let e = j
            .transition(id, TxnState::Created, Event::Held, NOW, Update::default())
            .unwrap_err();
        assert!(matches!(e, JournalError::Conflict { .. }), "{e}");
        // An illegal event is refused by the state machine.
        let e = j
            .transition(
                id,
                TxnState::SlotHeld,
                Event::Posted,
                NOW,
                Update::default(),
            )
            .unwrap_err();
        assert!(matches!(e, JournalError::Transition(_)), "{e}");
        assert_eq!(j.history(id).unwrap().len(), 1);
        // The next day starts at sequence 1 again.
        let t3 = j
            .begin(TxnKind::CheckIn, day().succ_opt().unwrap(), NOW, new(0))
            .unwrap();
        assert_eq!(t3.seq, 1);
    }

    #[test]
    fn a_journal_of_the_previous_version_opens_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            // A journal as version 2 left it, with a finished booking.
            let mut conn = Connection::open(&path).unwrap();
            let ms = migrations();
            ms.to_version(&mut conn, 2).unwrap();
            conn.execute(
                "INSERT INTO txn (kiosk_id, business_date, seq, kind, state, patient_id, id_masked,
                                  amount_fen, channel, details, created_at, updated_at, his_reference)
                 VALUES ('K01', '2026-11-23', 7, 'booking', 'done', 'P1', '3302**********1234',
                         1500, 'wechat', '{}', ?1, ?1, 'AP000123')",
                [NOW],
            )
            .unwrap();
        }
        let mut j = Journal::open(&path, "K01").unwrap();
        let b = j.by_out_trade_no("K0120261123000007").unwrap().unwrap();
        assert_eq!(b.kind, TxnKind::Booking);
        assert_eq!(b.refund_of, None);
        assert_eq!(b.his_reference.as_deref(), Some("AP000123"));
        assert!(j.by_out_trade_no("K0120261123000008").unwrap().is_none());
        assert!(j.by_out_trade_no("K0220261123000007").unwrap().is_none());
        assert!(j.by_out_trade_no("K01x").unwrap().is_none());
        // The new kind and column work alongside.
        let c = j
            .begin(
                TxnKind::Cancellation,
                day(),
                NOW,
                NewTxn {
                    target_id: Some("AP000123".into()),
                    ..new(0)
                },
            )
            .unwrap();
        let c = j
            .transition(
                c.id,
                TxnState::Created,
                Event::Held,
                NOW,
                Update {
                    refund_of: Some(b.out_trade_no()),
                    amount: Some(Money::from_fen(1500)),
                    ..Update::default()
                },
            )
            .unwrap();
        assert_eq!(c.seq, 1, "the sequence table is per day and was empty");
        assert_eq!(
            c.cancellation_refund_no().as_deref(),
            Some("K0120261123000007X")
        );
        let found = j.with_target(TxnKind::Cancellation, "AP000123").unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id, c.id);
    }

    #[test]
    fn uses_wal_and_full_sync() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("j.db"), "K01").unwrap();
        let mode: String = j
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        let sync: i64 = j
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(sync, 2, "FULL");
    }
}

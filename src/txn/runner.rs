//! The transaction runner: same-day registration, booking, check-in with a
//! fee, and bill settlement, through prepare (hold) -> pay -> post to HIS ->
//! print, with the journal written *before* every side effect; and the
//! cancellation of a booked appointment, through check -> confirm -> cancel
//! at HIS -> refund the original kiosk order -> print.
//!
//! One loop ([`Runner::drive`]) moves a transaction from whatever state the
//! journal holds: the patient-facing calls use it live, and the recovery
//! worker ([`Runner::recover_all`]) uses it after a crash, where nobody is in
//! front of the kiosk any more ([`Mode::Recovery`]): unpaid payments are
//! stopped instead of awaited, and slips are marked for reprint instead of
//! printed. Every external write reuses the transaction's keys
//! (`K01-20261123-000017-post`, out_trade_no `K0120261123000017`), so redoing
//! a step after a crash can never do it twice; an ambiguous answer is
//! resolved by asking with the same key, never by guessing.

use super::failpoint::hit;
use super::journal::{cancellation_refund_no, Journal, JournalError, NewTxn, Txn, Update};
use super::state::{Event, TxnKind, TxnState};
use crate::domain::*;
use crate::his::wire::{HoldRequest, PreSettleRequest, RegisterRequest, SettleRequest};
use crate::his::{BillFilter, HisError, HisErrorKind, HisGateway, IdempotencyKey};
use crate::pay::{
    self, MicropayOutcome, MicropayRequest, OrderStatus, OutRefundNo, OutTradeNo, PayError,
    PayErrorKind, PaymentCode, PaymentGateway, QrOrder, QrOrderRequest, RefundRequest,
    ReverseOutcome,
};
use crate::print::{self, ReceiptPrinter};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How the runner behaves.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    pub kiosk_id: String,
    pub hospital_zh: String,
    pub hospital_en: String,
    pub service_phone: String,
    /// The business date of new transactions; `None`: today in China Standard Time.
    pub business_date: Option<NaiveDate>,
    /// How often a pending payment is queried.
    pub poll_interval: Duration,
    /// How long a "user paying" scanned-code payment is awaited before it is reversed.
    pub user_paying_timeout: Duration,
    /// How long a QR is shown before the order is closed.
    pub qr_timeout: Duration,
    /// Attempts of one step while the patient waits, before recovery takes over.
    pub live_attempts: u32,
    /// A refund that keeps failing this long after HIS refused the posting goes to staff.
    pub reverse_deadline: Duration,
}

impl RunnerConfig {
    pub fn from_config(cfg: &crate::config::Config) -> Self {
        let t = &cfg.txn;
        RunnerConfig {
            kiosk_id: cfg.kiosk.id.clone(),
            hospital_zh: cfg.hospital.name_zh.clone(),
            hospital_en: cfg.hospital.name_en.clone(),
            service_phone: cfg.hospital.service_phone.clone(),
            business_date: None,
            poll_interval: Duration::from_millis(t.poll_interval_ms),
            user_paying_timeout: Duration::from_secs(t.user_paying_timeout_secs),
            qr_timeout: Duration::from_secs(t.qr_timeout_secs),
            live_attempts: t.live_attempts,
            reverse_deadline: Duration::from_secs(t.reverse_deadline_secs),
        }
    }
}

/// What the patient asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Same-day registration on a slot.
    Registration { slot_id: String, referral: bool },
    /// A slot on a later day, paid now.
    Booking { slot_id: String, referral: bool },
    /// Check in a booked appointment, paying what is owed.
    CheckIn { appointment_id: String },
    /// Settle unpaid bills (the self-pay part of the pre-settlement).
    Settlement {
        bill_ids: Vec<String>,
        use_insurance: bool,
    },
    /// Cancel one of the patient's booked appointments; a fee this kiosk
    /// collected for it goes back to the original payment.
    Cancellation { appointment_id: String },
}

impl Intent {
    pub fn kind(&self) -> TxnKind {
        match self {
            Intent::Registration { .. } => TxnKind::Registration,
            Intent::Booking { .. } => TxnKind::Booking,
            Intent::CheckIn { .. } => TxnKind::CheckIn,
            Intent::Settlement { .. } => TxnKind::Settlement,
            Intent::Cancellation { .. } => TxnKind::Cancellation,
        }
    }
}

/// The patient, as far as the journal and the slips may know them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientRef {
    pub patient_id: String,
    pub name_masked: String,
    pub id_masked: String,
}

impl PatientRef {
    pub fn of(p: &Patient) -> PatientRef {
        PatientRef {
            patient_id: p.patient_id.clone(),
            name_masked: p.name_masked(),
            id_masked: p.id_number_masked.clone(),
        }
    }
}

/// How the patient pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayMethod {
    /// The patient scans the kiosk's QR.
    Qr,
    /// The kiosk scans the patient's payment code.
    Code,
    /// Nothing to pay (fee already paid, all covered by insurance).
    Nothing,
}

/// What the journal keeps beside the columns (JSON in `details`): what the
/// slips need. No full ID number, no payment code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Details {
    pub name_masked: String,
    #[serde(default)]
    pub referral: bool,
    #[serde(default)]
    pub bill_ids: Vec<String>,
    #[serde(default)]
    pub use_insurance: bool,
    /// Settlement: the bills as HIS listed them (for the receipt's items).
    #[serde(default)]
    pub bills: Vec<Bill>,
    #[serde(default)]
    pub presettlement: Option<PreSettlement>,
    /// Check-in and cancellation: the appointment as it was before.
    #[serde(default)]
    pub appointment: Option<Appointment>,
    #[serde(default)]
    pub method: Option<PayMethod>,
}

/// Ready to pay: what the patient sees before choosing how to pay. For a
/// cancellation: ready to confirm; `amount` is the refund (`txn.channel` the
/// channel it goes back to, `None` when nothing is refunded) and
/// `appointment` the appointment as HIS listed it.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub txn: Txn,
    pub amount: Money,
    pub hold: Option<Hold>,
    pub presettlement: Option<PreSettlement>,
    pub appointment: Option<Appointment>,
}

/// Where a transaction ended, as the patient is told.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// HIS has it. `printed`: the slip came out (else it is marked for reprint).
    Completed { txn: Txn, printed: bool },
    /// Nothing was kept: not paid, or paid and given back at once.
    NotPaid {
        txn: Txn,
        refunded: bool,
        reason: (String, String),
    },
    /// HIS refused after payment: the money went back.
    Refunded { txn: Txn, reason: (String, String) },
    /// Money taken that could be neither posted nor returned: a voucher for the staffed window.
    NeedsStaff { txn: Txn, voucher_printed: bool },
    /// Not finished while the patient waited; the recovery worker carries on.
    Pending { txn: Txn, reason: (String, String) },
}

impl Outcome {
    pub fn txn(&self) -> &Txn {
        match self {
            Outcome::Completed { txn, .. }
            | Outcome::NotPaid { txn, .. }
            | Outcome::Refunded { txn, .. }
            | Outcome::NeedsStaff { txn, .. }
            | Outcome::Pending { txn, .. } => txn,
        }
    }

    /// What the patient reads, (Chinese, English): whether it was done and,
    /// plainly, where the money is. For a completed cancellation the amount
    /// refunded is `txn.amount` (`Money::ZERO`: nothing to refund) and the
    /// channel it went back to `txn.channel`.
    pub fn patient_message(&self) -> (String, String) {
        let cancellation = self.txn().kind == TxnKind::Cancellation;
        match self {
            Outcome::Completed { txn, printed } => {
                let (zh, en) = if cancellation && txn.amount > Money::ZERO {
                    (
                        format!("预约已取消，{} 已原路退回。", txn.amount),
                        format!(
                            "Appointment cancelled; {} refunded to your original payment.",
                            txn.amount
                        ),
                    )
                } else if cancellation {
                    owned((
                        "预约已取消，无需退费。",
                        "Appointment cancelled; there was no fee to refund.",
                    ))
                } else if txn.amount > Money::ZERO {
                    (
                        format!("办理成功，已支付 {}。", txn.amount),
                        format!("Done. You paid {}.", txn.amount),
                    )
                } else {
                    owned(("办理成功。", "Done."))
                };
                if *printed {
                    (zh, en)
                } else {
                    let (pz, pe) = print::print_failed_message();
                    (format!("{zh}{pz}"), format!("{en} {pe}"))
                }
            }
            Outcome::NotPaid {
                reason, refunded, ..
            } => {
                let (tz, te) = if cancellation {
                    (
                        "预约保持不变，未发生退费。",
                        "Your appointment stays booked; no money moved.",
                    )
                } else if *refunded {
                    (
                        "已扣款项已全额退回。",
                        "The money taken has been returned in full.",
                    )
                } else {
                    ("未扣款。", "Nothing was charged.")
                };
                (format!("{}{tz}", reason.0), format!("{} {te}", reason.1))
            }
            Outcome::Refunded { reason, .. } => (
                format!("{}您支付的款项已原路全额退回。", reason.0),
                format!(
                    "{} What you paid has been refunded in full to the same account.",
                    reason.1
                ),
            ),
            Outcome::NeedsStaff {
                txn,
                voucher_printed,
            } => {
                let (vz, ve) = if *voucher_printed {
                    ("凭证".to_string(), "the voucher".to_string())
                } else {
                    (
                        format!("交易号 {}", txn.key_base()),
                        format!("transaction number {}", txn.key_base()),
                    )
                };
                if cancellation {
                    (
                        format!(
                            "预约已取消，但 {} 退款未能完成。您的钱款安全，请凭{vz}到人工窗口办理退款。",
                            txn.amount
                        ),
                        format!(
                            "Your appointment is cancelled, but the refund of {} did not go through. Your money is safe: take {ve} to a staffed window for the refund.",
                            txn.amount
                        ),
                    )
                } else {
                    (
                        format!(
                            "您已支付 {}，但医院系统未能办理，退款也未完成。您的钱款安全，请凭{vz}到人工窗口处理。",
                            txn.amount
                        ),
                        format!(
                            "You paid {}, but the hospital system could not complete it and the refund did not go through. Your money is safe: take {ve} to a staffed window.",
                            txn.amount
                        ),
                    )
                }
            }
            Outcome::Pending { reason, .. } => reason.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    His(#[from] HisError),
    #[error(transparent)]
    Pay(#[from] PayError),
    #[error("transaction {id} is {state}: {what} is not possible now")]
    WrongState {
        id: i64,
        state: TxnState,
        what: &'static str,
    },
    #[error("transaction {0} is being handled by another task")]
    Busy(i64),
    #[error("transaction {id}: {detail}")]
    Data { id: i64, detail: String },
    /// HIS said no before anything was paid (slot full, bill already paid...).
    #[error("transaction {id} refused: {en}")]
    Refused { id: i64, zh: String, en: String },
    /// Nothing was started: a device the service needs is in fault.
    #[error("service unavailable: {en}")]
    Unavailable { zh: String, en: String },
}

impl RunError {
    /// What the patient reads.
    pub fn patient_message(&self) -> (String, String) {
        match self {
            RunError::His(e) => owned(e.patient_message()),
            RunError::Pay(e) => owned(e.patient_message()),
            RunError::Refused { zh, en, .. } | RunError::Unavailable { zh, en } => {
                (zh.clone(), en.clone())
            }
            _ => owned((
                "自助机暂时无法办理，请到人工窗口办理。",
                "This kiosk cannot do this right now. Please go to a staffed window.",
            )),
        }
    }
}

/// Who is driving a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The patient is at the kiosk.
    Live,
    /// After a restart or in the background: nobody is waiting.
    Recovery,
}

/// What one recovery pass did.
#[derive(Debug, Clone, Default)]
pub struct RecoveryReport {
    pub examined: usize,
    /// (transaction, state it ended in).
    pub finished: Vec<(i64, TxnState)>,
    /// (transaction, state, last error): still open, tried again next pass.
    pub open: Vec<(i64, TxnState, Option<String>)>,
}

/// A patient's "stop waiting" button for a QR payment.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst)
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

enum Next {
    Go(Txn),
    Stop(Outcome),
}

#[derive(Clone)]
pub struct Runner {
    inner: Arc<Inner>,
}

struct Inner {
    journal: Mutex<Journal>,
    his: Arc<dyn HisGateway>,
    pay: Arc<dyn PaymentGateway>,
    printer: Arc<dyn ReceiptPrinter>,
    cfg: RunnerConfig,
    /// Transactions a task is driving right now (recovery leaves them alone).
    active: Mutex<HashSet<i64>>,
}

/// Marks a transaction as driven until dropped.
struct Claim<'a> {
    inner: &'a Inner,
    id: i64,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if let Ok(mut a) = self.inner.active.lock() {
            a.remove(&self.id);
        }
    }
}

fn now_rfc3339() -> String {
    to_cst(Utc::now()).to_rfc3339()
}

fn parse_instant(s: &str) -> Option<Instant> {
    DateTime::parse_from_rfc3339(s).ok()
}

const DEFAULT_FAIL: (&str, &str) = (
    "未能完成，未扣款。",
    "It could not be completed. You have not been charged.",
);

fn owned(m: (&str, &str)) -> (String, String) {
    (m.0.to_string(), m.1.to_string())
}

impl Runner {
    pub fn new(
        journal: Journal,
        his: Arc<dyn HisGateway>,
        pay: Arc<dyn PaymentGateway>,
        printer: Arc<dyn ReceiptPrinter>,
        cfg: RunnerConfig,
    ) -> Runner {
        Runner {
            inner: Arc::new(Inner {
                journal: Mutex::new(journal),
                his,
                pay,
                printer,
                cfg,
                active: Mutex::new(HashSet::new()),
            }),
        }
    }

    pub fn config(&self) -> &RunnerConfig {
        &self.inner.cfg
    }

    /// Read the journal (for screens, the CLI and tests).
    pub fn with_journal<T>(&self, f: impl FnOnce(&Journal) -> T) -> T {
        f(&self.inner.j())
    }

    /// The business date of a new transaction: the configured one, else
    /// HIS's (its ledger is kept by it), else today in China Standard Time.
    pub async fn business_date(&self) -> NaiveDate {
        if let Some(d) = self.inner.cfg.business_date {
            return d;
        }
        match self.inner.his.ping().await {
            Ok(p) => p.today,
            Err(_) => to_cst(Utc::now()).date_naive(),
        }
    }

    /// Journal a new transaction, then ask HIS what it costs (and hold the slot).
    pub async fn start(&self, patient: &PatientRef, intent: Intent) -> Result<Prepared, RunError> {
        // Every service here ends with a slip the patient needs (where to go,
        // proof of payment): while the receipt printer is in fault, none
        // starts, and no money is taken.
        if let kiosk_drivers::Health::Fault(reason) = self.inner.printer.health() {
            return Err(RunError::Unavailable {
                zh: format!("凭条打印机故障（{reason}），暂停缴费类业务，请到人工窗口办理。"),
                en: format!(
                    "The receipt printer is out of order ({reason}); paid services are paused. Please go to a staffed window."
                ),
            });
        }
        let kind = intent.kind();
        let mut details = Details {
            name_masked: patient.name_masked.clone(),
            ..Details::default()
        };
        let (slot_id, target_id) = match &intent {
            Intent::Registration { slot_id, referral } | Intent::Booking { slot_id, referral } => {
                details.referral = *referral;
                (Some(slot_id.clone()), None)
            }
            Intent::CheckIn { appointment_id } | Intent::Cancellation { appointment_id } => {
                (None, Some(appointment_id.clone()))
            }
            Intent::Settlement {
                bill_ids,
                use_insurance,
            } => {
                details.bill_ids = bill_ids.clone();
                details.use_insurance = *use_insurance;
                (None, None)
            }
        };
        let new = NewTxn {
            patient_id: patient.patient_id.clone(),
            id_masked: patient.id_masked.clone(),
            amount: Money::ZERO,
            slot_id,
            target_id,
            details: serde_json::to_string(&details).unwrap_or_default(),
        };
        let date = self.business_date().await;
        let t = self.inner.j().begin(kind, date, &now_rfc3339(), new)?;
        hit("journal:created");
        let _claim = self.inner.claim(t.id)?;
        match self.inner.prepare(t).await? {
            Next::Go(t) => {
                let d = details_of(&t);
                let hold = match (&t.hold_id, kind.holds_a_slot()) {
                    (Some(_), true) => self
                        .inner
                        .his
                        .get_hold(t.hold_id.as_deref().unwrap_or(""))
                        .await
                        .ok(),
                    _ => None,
                };
                Ok(Prepared {
                    amount: t.amount,
                    hold,
                    presettlement: d.presettlement,
                    appointment: d.appointment,
                    txn: t,
                })
            }
            Next::Stop(Outcome::NotPaid { txn, reason, .. }) => Err(RunError::Refused {
                id: txn.id,
                zh: reason.0,
                en: reason.1,
            }),
            Next::Stop(o) => Err(RunError::Data {
                id: o.txn().id,
                detail: "prepare ended unexpectedly".into(),
            }),
        }
    }

    /// The patient backs out before paying: release what was held.
    pub async fn cancel(&self, id: i64) -> Result<Outcome, RunError> {
        let _claim = self.inner.claim(id)?;
        let t = self.inner.get(id)?;
        match t.state {
            TxnState::Created | TxnState::SlotHeld => {
                let t = self.inner.tr(&t, Event::Cancelled, Update::default())?;
                self.inner.drive(t, Mode::Live).await
            }
            state => Err(RunError::WrongState {
                id,
                state,
                what: "cancelling",
            }),
        }
    }

    /// The patient confirms the cancellation `start` checked: cancel at HIS
    /// (key `…-cancel`), refund the fee to the original kiosk order (refund
    /// number `{original out_trade_no}X`), print the cancellation slip.
    /// `Outcome::Completed` when cancelled and nothing more is owed (refund
    /// in `txn.amount`, channel in `txn.channel`); `NotPaid` when HIS
    /// refused (nothing changed); `NeedsStaff` when cancelled but the refund
    /// failed (voucher); `Pending` when the refund is not yet confirmed
    /// (recovery carries on).
    pub async fn confirm_cancel(&self, id: i64) -> Result<Outcome, RunError> {
        let _claim = self.inner.claim(id)?;
        let t = self
            .inner
            .expect(id, TxnState::SlotHeld, "confirming a cancellation")?;
        if t.kind != TxnKind::Cancellation {
            return Err(RunError::WrongState {
                id,
                state: t.state,
                what: "confirming a cancellation (this is not one)",
            });
        }
        let t = self.inner.tr(
            &t,
            Event::PostStarted,
            Update {
                note: Some("confirmed by the patient".into()),
                ..Update::default()
            },
        )?;
        self.inner.drive(t, Mode::Live).await
    }

    /// Nothing to pay: go straight to HIS.
    pub async fn pay_nothing(&self, id: i64) -> Result<Outcome, RunError> {
        let _claim = self.inner.claim(id)?;
        let t = self.inner.expect(id, TxnState::SlotHeld, "paying")?;
        if t.amount != Money::ZERO {
            return Err(RunError::WrongState {
                id,
                state: t.state,
                what: "completing without paying",
            });
        }
        let t = self
            .inner
            .start_payment(&t, PayChannel::None, PayMethod::Nothing)?;
        let now = now_rfc3339();
        let t = self.inner.tr(
            &t,
            Event::PaymentConfirmed,
            Update {
                paid_at: Some(now),
                note: Some("nothing to pay".into()),
                ..Update::default()
            },
        )?;
        self.inner.drive(t, Mode::Live).await
    }

    /// The kiosk scanned the patient's payment code. A code of no channel is
    /// refused before anything is journalled or sent (scan again).
    pub async fn pay_with_code(&self, id: i64, scanned: &str) -> Result<Outcome, RunError> {
        let code = PaymentCode::parse(scanned)?;
        let _claim = self.inner.claim(id)?;
        let t = self.inner.expect(id, TxnState::SlotHeld, "paying")?;
        let t = self
            .inner
            .start_payment(&t, code.channel(), PayMethod::Code)?;
        let inner = &self.inner;
        let req = MicropayRequest {
            out_trade_no: inner.otn(&t)?,
            code,
            amount: t.amount,
            description: inner.description(t.kind),
            notify_url: None,
        };
        let answer = inner.pay.micropay(&req).await;
        hit("call:micropay");
        let t = match answer {
            Ok(MicropayOutcome::Paid(o)) => inner.confirm(&t, &o)?,
            Ok(MicropayOutcome::UserPaying(_)) => {
                match inner
                    .await_payment(&t, inner.cfg.user_paying_timeout, None)
                    .await?
                {
                    Next::Go(t) => t,
                    Next::Stop(o) => return Ok(o),
                }
            }
            Err(e) if e.outcome_unknown() => {
                inner.note(&t, &e.to_string());
                match inner
                    .await_payment(&t, inner.cfg.user_paying_timeout, None)
                    .await?
                {
                    Next::Go(t) => t,
                    Next::Stop(o) => return Ok(o),
                }
            }
            Err(e) => {
                // Definitely not collected (declined, no funds, expired code, not sent).
                let reason = owned(e.patient_message());
                inner.tr(
                    &t,
                    Event::PaymentFailed,
                    Update {
                        last_error: Some(e.to_string()),
                        ..Update::default()
                    },
                )?;
                let o = inner.drive(inner.get(id)?, Mode::Live).await?;
                return Ok(match o {
                    Outcome::NotPaid { txn, refunded, .. } => Outcome::NotPaid {
                        txn,
                        refunded,
                        reason,
                    },
                    o => o,
                });
            }
        };
        inner.drive(t, Mode::Live).await
    }

    /// Show a QR: journal the payment, create the order, return what to draw.
    pub async fn start_qr(&self, id: i64, channel: PayChannel) -> Result<QrOrder, RunError> {
        let _claim = self.inner.claim(id)?;
        let inner = &self.inner;
        let t = inner.get(id)?;
        let t = match t.state {
            TxnState::SlotHeld => inner.start_payment(&t, channel, PayMethod::Qr)?,
            // The screen asks again (redraw): the same order comes back.
            TxnState::PaymentPending if details_of(&t).method == Some(PayMethod::Qr) => t,
            state => {
                return Err(RunError::WrongState {
                    id,
                    state,
                    what: "showing a QR",
                })
            }
        };
        let req = QrOrderRequest {
            out_trade_no: inner.otn(&t)?,
            channel: t.channel.unwrap_or(channel),
            amount: t.amount,
            description: inner.description(t.kind),
            notify_url: None,
        };
        let answer = inner.pay.create_qr_order(&req).await;
        hit("call:createQrOrder");
        match answer {
            Ok(q) => Ok(q),
            Err(e) => {
                inner.note(&t, &e.to_string());
                if !e.outcome_unknown() {
                    // Not created: nothing can be paid on it; undo at once.
                    inner.tr(&t, Event::PaymentFailed, Update::default())?;
                    let _ = inner.drive(inner.get(id)?, Mode::Live).await;
                }
                Err(e.into())
            }
        }
    }

    /// Wait for the patient to pay the QR, until paid, `qr_timeout`, or `cancel`.
    pub async fn await_qr(&self, id: i64, cancel: &CancelFlag) -> Result<Outcome, RunError> {
        let _claim = self.inner.claim(id)?;
        let inner = &self.inner;
        let t = inner.expect(id, TxnState::PaymentPending, "waiting for the QR")?;
        match inner
            .await_payment(&t, inner.cfg.qr_timeout, Some(cancel))
            .await?
        {
            Next::Go(t) => inner.drive(t, Mode::Live).await,
            Next::Stop(o) => Ok(o),
        }
    }

    /// Carry on with a transaction from wherever the journal has it.
    pub async fn resume(&self, id: i64, mode: Mode) -> Result<Outcome, RunError> {
        let _claim = self.inner.claim(id)?;
        let t = self.inner.get(id)?;
        self.inner.drive(t, mode).await
    }

    /// One recovery pass: drive every unfinished transaction nobody is
    /// driving to a terminal state, as far as HIS and the channel answer.
    pub async fn recover_all(&self) -> Result<RecoveryReport, RunError> {
        let open = self.inner.j().unfinished()?;
        let mut report = RecoveryReport {
            examined: open.len(),
            ..RecoveryReport::default()
        };
        for t in open {
            let id = t.id;
            let Ok(_claim) = self.inner.claim(id) else {
                continue;
            };
            let result = self.inner.drive(t, Mode::Recovery).await;
            let now = self.inner.get(id)?;
            match result {
                Ok(_) if now.state.is_terminal() => report.finished.push((id, now.state)),
                Ok(_) => report.open.push((id, now.state, now.last_error.clone())),
                Err(e) => {
                    tracing::warn!(txn = id, error = %e, "recovery step failed");
                    report.open.push((id, now.state, Some(e.to_string())));
                }
            }
        }
        if !report.finished.is_empty() || !report.open.is_empty() {
            tracing::info!(
                examined = report.examined,
                finished = report.finished.len(),
                open = report.open.len(),
                "recovery pass"
            );
        }
        Ok(report)
    }

    /// Recovery at start-up and then every `every`, until the runtime stops.
    pub fn spawn_recovery_worker(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let runner = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = runner.recover_all().await {
                    tracing::error!(error = %e, "recovery pass failed");
                }
                tokio::time::sleep(every).await;
            }
        })
    }

    /// Print a transaction's slip again (technician or patient request).
    pub fn reprint(&self, id: i64) -> Result<(), RunError> {
        let t = self.inner.get(id)?;
        let doc = self.inner.slip(&t).ok_or(RunError::WrongState {
            id,
            state: t.state,
            what: "reprinting (no HIS answer to print)",
        })?;
        self.inner.printer.print(&doc).map_err(|e| RunError::Data {
            id,
            detail: e.to_string(),
        })?;
        self.inner.j().mark_reprinted(id, &now_rfc3339())?;
        Ok(())
    }
}

fn details_of(t: &Txn) -> Details {
    serde_json::from_str(&t.details).unwrap_or_default()
}

fn is_refusal(e: &HisError) -> bool {
    matches!(e.kind, HisErrorKind::Rejected(c) if !e.is_transient() && c != crate::his::wire::ErrorCode::IdempotencyKeyReused)
}

impl Inner {
    fn j(&self) -> MutexGuard<'_, Journal> {
        // A panic while holding the lock cannot leave a half-written row
        // (SQLite transactions), so the data behind a poisoned lock is fine.
        self.journal.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn claim(&self, id: i64) -> Result<Claim<'_>, RunError> {
        let mut a = self.active.lock().unwrap_or_else(|p| p.into_inner());
        if !a.insert(id) {
            return Err(RunError::Busy(id));
        }
        Ok(Claim { inner: self, id })
    }

    fn get(&self, id: i64) -> Result<Txn, RunError> {
        Ok(self.j().get(id)?)
    }

    fn expect(&self, id: i64, state: TxnState, what: &'static str) -> Result<Txn, RunError> {
        let t = self.get(id)?;
        if t.state != state {
            return Err(RunError::WrongState {
                id,
                state: t.state,
                what,
            });
        }
        Ok(t)
    }

    /// Journal `event` (committed and fsync'd), then pass the failpoint.
    fn tr(&self, t: &Txn, event: Event, update: Update) -> Result<Txn, RunError> {
        let next = self
            .j()
            .transition(t.id, t.state, event, &now_rfc3339(), update)?;
        tracing::info!(txn = %next.key_base(), from = %t.state, to = %next.state, ?event, "transition");
        hit(&format!("journal:{}", next.state));
        Ok(next)
    }

    fn note(&self, t: &Txn, error: &str) {
        tracing::warn!(txn = %t.key_base(), state = %t.state, error, "step failed");
        if let Err(e) = self.j().note_error(t.id, &now_rfc3339(), error) {
            tracing::error!(txn = t.id, error = %e, "cannot note the error");
        }
    }

    fn otn(&self, t: &Txn) -> Result<OutTradeNo, RunError> {
        OutTradeNo::new(t.out_trade_no()).map_err(|e| RunError::Data {
            id: t.id,
            detail: e.to_string(),
        })
    }

    fn key(&self, t: &Txn, step: &str) -> Result<IdempotencyKey, RunError> {
        Ok(t.his_key(step).map_err(JournalError::from)?)
    }

    fn description(&self, kind: TxnKind) -> String {
        let what = match kind {
            TxnKind::Registration => "挂号费",
            TxnKind::Booking => "预约挂号费",
            TxnKind::CheckIn => "诊查费",
            TxnKind::Settlement => "门诊缴费",
            TxnKind::Cancellation => "预约取消退费",
        };
        format!("{} {what}", self.cfg.hospital_zh)
    }

    fn start_payment(
        &self,
        t: &Txn,
        channel: PayChannel,
        method: PayMethod,
    ) -> Result<Txn, RunError> {
        let mut d = details_of(t);
        d.method = Some(method);
        self.tr(
            t,
            Event::PaymentStarted,
            Update {
                channel: Some(channel),
                details: serde_json::to_string(&d).ok(),
                ..Update::default()
            },
        )
    }

    fn confirm(&self, t: &Txn, o: &pay::wire::Order) -> Result<Txn, RunError> {
        if o.amount_fen != t.amount {
            // Posting will carry the journal's amount; HIS refuses a mismatch
            // and the payment is then returned.
            tracing::error!(txn = %t.key_base(), order = %o.amount_fen, journal = %t.amount, "collected amount differs");
        }
        self.tr(
            t,
            Event::PaymentConfirmed,
            Update {
                channel_trade_no: o.transaction_id.clone(),
                paid_at: Some(
                    o.paid_at
                        .map(|p| p.to_rfc3339())
                        .unwrap_or_else(now_rfc3339),
                ),
                ..Update::default()
            },
        )
    }

    /// The loop: one effect per state until the transaction stops.
    async fn drive(&self, mut t: Txn, mode: Mode) -> Result<Outcome, RunError> {
        for _ in 0..64 {
            let next = match t.state {
                TxnState::Created => match mode {
                    Mode::Live => self.prepare(t).await?,
                    Mode::Recovery => self.abandon_created(t).await?,
                },
                TxnState::SlotHeld => match mode {
                    Mode::Live => Next::Stop(Outcome::Pending {
                        reason: owned(if t.kind == TxnKind::Cancellation {
                            ("请确认是否取消预约。", "Please confirm the cancellation.")
                        } else {
                            ("请选择支付方式。", "Please choose how to pay.")
                        }),
                        txn: t,
                    }),
                    Mode::Recovery => Next::Go(self.tr(
                        &t,
                        Event::Cancelled,
                        Update {
                            note: Some("abandoned before paying (recovery)".into()),
                            ..Update::default()
                        },
                    )?),
                },
                TxnState::PaymentPending => self.resolve_payment(t, mode).await?,
                TxnState::Paid => Next::Go(self.tr(&t, Event::PostStarted, Update::default())?),
                TxnState::HisPosting => self.post(t, mode).await?,
                TxnState::HisPosted => self.print_slip(t, mode)?,
                TxnState::Printed => self.print_reminder(t, mode)?,
                TxnState::PaymentFailed => self.close_and_release(t, mode).await?,
                TxnState::Reversing => self.reverse(t, mode).await?,
                TxnState::Refunding => self.refund_original(t, mode).await?,
                TxnState::NeedsStaff | TxnState::Done | TxnState::Released | TxnState::Reversed => {
                    Next::Stop(self.outcome_of(t)?)
                }
            };
            match next {
                Next::Go(n) => t = n,
                Next::Stop(o) => return Ok(o),
            }
        }
        Err(RunError::Data {
            id: t.id,
            detail: format!("no progress from {}", t.state),
        })
    }

    fn outcome_of(&self, t: Txn) -> Result<Outcome, RunError> {
        let history = self.j().history(t.id)?;
        Ok(match t.state {
            TxnState::Done => Outcome::Completed {
                printed: !t.reprint_needed,
                txn: t,
            },
            TxnState::Released => {
                let refunded = history
                    .iter()
                    .any(|(_, ev, _, _)| ev == "PaymentReversed");
                Outcome::NotPaid {
                    refunded,
                    reason: owned(if t.kind == TxnKind::Cancellation {
                        ("未能取消预约。", "The appointment could not be cancelled.")
                    } else {
                        DEFAULT_FAIL
                    }),
                    txn: t,
                }
            }
            TxnState::Reversed => Outcome::Refunded {
                reason: owned((
                    "医院系统未能办理，已全额退款，请到人工窗口咨询。",
                    "The hospital could not complete it; your payment has been refunded in full. Please ask at a staffed window.",
                )),
                txn: t,
            },
            TxnState::NeedsStaff => Outcome::NeedsStaff {
                voucher_printed: history
                    .iter()
                    .any(|(_, ev, _, _)| ev == "VoucherHandled")
                    && !t.reprint_needed,
                txn: t,
            },
            TxnState::Refunding => Outcome::Pending {
                reason: (
                    format!(
                        "预约已取消，{} 退款正在处理，将原路退回。如有疑问请到人工窗口咨询。",
                        t.amount
                    ),
                    format!(
                        "Your appointment is cancelled; the refund of {} is on its way back to your original payment. Please ask at a staffed window if in doubt.",
                        t.amount
                    ),
                ),
                txn: t,
            },
            _ => Outcome::Pending {
                reason: owned((
                    "正在确认结果，您的钱款安全。如有疑问请到人工窗口咨询。",
                    "We are still confirming the result; your money is safe. Please ask at a staffed window if in doubt.",
                )),
                txn: t,
            },
        })
    }

    // ------------------------------------------------------------ prepare

    async fn prepare(&self, t: Txn) -> Result<Next, RunError> {
        let refused = |this: &Self, t: &Txn, e: &HisError| -> Result<Next, RunError> {
            let t = this.tr(
                t,
                Event::HoldRefused,
                Update {
                    last_error: Some(e.to_string()),
                    ..Update::default()
                },
            )?;
            Ok(Next::Stop(Outcome::NotPaid {
                txn: t,
                refunded: false,
                reason: owned(e.patient_message()),
            }))
        };
        let mut d = details_of(&t);
        let result: Result<Update, HisError> = match t.kind {
            TxnKind::Registration | TxnKind::Booking => {
                let req = HoldRequest {
                    slot_id: t.slot_id.clone().unwrap_or_default(),
                    patient_id: t.patient_id.clone(),
                    referral: d.referral,
                };
                let r = self.his.hold(&self.key(&t, "hold")?, &req).await;
                hit("call:createHold");
                r.map(|h| Update {
                    hold_id: Some(h.hold_id),
                    amount: Some(h.fee_fen),
                    ..Update::default()
                })
            }
            TxnKind::CheckIn => {
                let appt_id = t.target_id.clone().unwrap_or_default();
                let r = self.his.appointments(&t.patient_id, None).await;
                hit("call:listAppointments");
                match r {
                    Ok(list) => match list.into_iter().find(|a| a.appointment_id == appt_id) {
                        Some(a) if a.can_check_in(t.business_date) => {
                            let amount = a.amount_owed();
                            d.appointment = Some(a);
                            Ok(Update {
                                amount: Some(amount),
                                details: serde_json::to_string(&d).ok(),
                                ..Update::default()
                            })
                        }
                        _ => Err(HisError::new(
                            crate::his::ops::Operation::CheckIn,
                            HisErrorKind::Rejected(crate::his::wire::ErrorCode::InvalidState),
                            format!(
                                "appointment {appt_id} cannot be checked in on {}",
                                t.business_date
                            ),
                        )),
                    },
                    Err(e) => Err(e),
                }
            }
            TxnKind::Settlement => {
                let r = self.his.bills(&t.patient_id, BillFilter::Unpaid).await;
                hit("call:listBills");
                match r {
                    Ok(bills) => {
                        let chosen: Vec<Bill> = bills
                            .into_iter()
                            .filter(|b| d.bill_ids.contains(&b.bill_id))
                            .collect();
                        if chosen.len() != d.bill_ids.len() || chosen.is_empty() {
                            Err(HisError::new(
                                crate::his::ops::Operation::PreSettle,
                                HisErrorKind::Rejected(crate::his::wire::ErrorCode::InvalidState),
                                "a chosen bill is no longer unpaid",
                            ))
                        } else {
                            let req = PreSettleRequest {
                                patient_id: t.patient_id.clone(),
                                bill_ids: d.bill_ids.clone(),
                                use_insurance: d.use_insurance,
                            };
                            let r = self.his.pre_settle(&self.key(&t, "presettle")?, &req).await;
                            hit("call:preSettle");
                            match r {
                                Ok(p) if p.check_split() == Ok(true) => {
                                    d.bills = chosen;
                                    let u = Update {
                                        amount: Some(p.self_pay_fen),
                                        target_id: Some(p.presettle_id.clone()),
                                        ..Update::default()
                                    };
                                    d.presettlement = Some(p);
                                    Ok(Update {
                                        details: serde_json::to_string(&d).ok(),
                                        ..u
                                    })
                                }
                                Ok(p) => Err(HisError::new(
                                    crate::his::ops::Operation::PreSettle,
                                    HisErrorKind::Malformed,
                                    format!(
                                        "pre-settlement {} parts do not add up to its total",
                                        p.presettle_id
                                    ),
                                )),
                                Err(e) => Err(e),
                            }
                        }
                    }
                    Err(e) => Err(e),
                }
            }
            TxnKind::Cancellation => return self.prepare_cancellation(t).await,
        };
        match result {
            Ok(u) => Ok(Next::Go(self.tr(&t, Event::Held, u)?)),
            Err(e) if is_refusal(&e) => refused(self, &t, &e),
            Err(e) => {
                // Unknown: a hold may exist. Nothing is paid; recovery releases it.
                self.note(&t, &e.to_string());
                Ok(Next::Stop(Outcome::NotPaid {
                    txn: t,
                    refunded: false,
                    reason: owned(e.patient_message()),
                }))
            }
        }
    }

    /// Recovery of a transaction that never got to paying: release a hold
    /// HIS may have made under the hold key, then close it.
    async fn abandon_created(&self, t: Txn) -> Result<Next, RunError> {
        if t.kind.holds_a_slot() {
            let key = self.key(&t, "hold")?;
            let rec = self.his.idempotency_record(&key).await;
            hit("call:getIdempotencyRecord");
            match rec {
                Ok(Some(r)) if (200..300).contains(&r.status) => {
                    if let Ok(h) = serde_json::from_value::<Hold>(r.body) {
                        if let Err(e) = self.release_hold(&t, &h.hold_id).await {
                            self.note(&t, &e.to_string());
                            return Ok(Next::Stop(self.outcome_of(self.get(t.id)?)?));
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    self.note(&t, &e.to_string());
                    return Ok(Next::Stop(self.outcome_of(self.get(t.id)?)?));
                }
            }
        }
        Ok(Next::Go(self.tr(
            &t,
            Event::Cancelled,
            Update {
                note: Some("abandoned before paying (recovery)".into()),
                ..Update::default()
            },
        )?))
    }

    /// Created, for a cancellation: check the appointment at HIS and find
    /// the kiosk order its fee was paid with. Refused (nothing done
    /// anywhere) when it is not this patient's, not booked, already started,
    /// already being cancelled, or paid in a way this kiosk cannot refund.
    async fn prepare_cancellation(&self, t: Txn) -> Result<Next, RunError> {
        let appt_id = t.target_id.clone().unwrap_or_default();
        let listed = self.his.appointments(&t.patient_id, None).await;
        hit("call:listAppointments");
        let (list, now) = match listed {
            Ok(list) => match self.his.ping().await {
                Ok(p) => (list, p.now),
                Err(e) => return self.prepare_failed(t, &e),
            },
            Err(e) => return self.prepare_failed(t, &e),
        };
        let Some(a) = list
            .into_iter()
            .find(|a| a.appointment_id == appt_id && a.patient_id == t.patient_id)
        else {
            return self.refuse(
                &t,
                (
                    "未找到您名下的这个预约，请到人工窗口咨询。",
                    "This appointment was not found among your bookings. Please ask at a staffed window.",
                ),
                format!("appointment {appt_id} is not one of patient {}'s", t.patient_id),
            );
        };
        match a.status {
            AppointmentStatus::Booked => {}
            AppointmentStatus::CheckedIn => {
                return self.refuse(
                    &t,
                    (
                        "该预约已签到，不能在自助机取消，请到人工窗口办理。",
                        "This appointment is already checked in and cannot be cancelled at the kiosk. Please go to a staffed window.",
                    ),
                    format!("appointment {appt_id} is checked in"),
                )
            }
            AppointmentStatus::Cancelled => {
                return self.refuse(
                    &t,
                    ("该预约已经取消。", "This appointment has already been cancelled."),
                    format!("appointment {appt_id} is already cancelled"),
                )
            }
        }
        let started = now.date_naive() > a.date
            || (now.date_naive() == a.date && now.time() >= a.start.time());
        if started {
            return self.refuse(
                &t,
                (
                    "就诊时段已开始，不能再取消，请到人工窗口咨询。",
                    "The appointment time has already begun, so it can no longer be cancelled. Please ask at a staffed window.",
                ),
                format!("appointment {appt_id} started at {} {} (HIS time {now})", a.date, a.start),
            );
        }
        let busy = self
            .j()
            .with_target(TxnKind::Cancellation, &appt_id)?
            .into_iter()
            .any(|o| {
                o.id != t.id
                    && !matches!(
                        o.state,
                        TxnState::Created | TxnState::SlotHeld | TxnState::Released
                    )
            });
        if busy {
            return self.refuse(
                &t,
                (
                    "该预约正在办理取消，请勿重复操作。如有疑问请到人工窗口咨询。",
                    "This appointment is already being cancelled. Please ask at a staffed window if in doubt.",
                ),
                format!("another cancellation of {appt_id} is under way or done"),
            );
        }
        let mut u = Update::default();
        if a.fee_paid && a.fee_fen > Money::ZERO {
            // Only what this kiosk collected can go back from here: the
            // payment HIS holds must be a kiosk order of this journal, the
            // booking of this very appointment, completed.
            let original = match &a.payment {
                Some(p) if p.channel != PayChannel::None => {
                    self.j().by_out_trade_no(&p.trade_no)?
                }
                _ => None,
            };
            let original = original.filter(|o| {
                o.kind == TxnKind::Booking
                    && o.his_reference.as_deref() == Some(appt_id.as_str())
                    && matches!(
                        o.state,
                        TxnState::Done | TxnState::Printed | TxnState::HisPosted
                    )
                    && o.amount >= a.fee_fen
                    && o.channel.is_some_and(|c| c != PayChannel::None)
            });
            let Some(o) = original else {
                let how = a
                    .payment
                    .as_ref()
                    .map(|p| format!("{:?} {}", p.channel, p.trade_no))
                    .unwrap_or_else(|| "no payment reference".into());
                return self.refuse(
                    &t,
                    (
                        "该预约的费用不是在本自助机支付的，无法在此原路退费。请到人工窗口办理取消和退费。",
                        "The fee for this appointment was not paid at this kiosk, so it cannot be refunded here. Please go to a staffed window to cancel it and get your refund.",
                    ),
                    format!("appointment {appt_id} was paid by {how}, not a completed booking of this kiosk"),
                );
            };
            u.refund_of = Some(o.out_trade_no());
            u.channel = o.channel;
            u.amount = Some(a.fee_fen);
        } else {
            u.amount = Some(Money::ZERO);
        }
        let mut d = details_of(&t);
        d.appointment = Some(a);
        u.details = serde_json::to_string(&d).ok();
        Ok(Next::Go(self.tr(&t, Event::Held, u)?))
    }

    /// Refuse in `Created` before anything was done: journal it, tell the patient why.
    fn refuse(&self, t: &Txn, reason: (&str, &str), detail: String) -> Result<Next, RunError> {
        let t = self.tr(
            t,
            Event::HoldRefused,
            Update {
                last_error: Some(detail),
                note: Some(format!("{} / {}", reason.0, reason.1)),
                ..Update::default()
            },
        )?;
        Ok(Next::Stop(Outcome::NotPaid {
            txn: t,
            refunded: false,
            reason: owned(reason),
        }))
    }

    /// HIS did not answer a read while preparing: nothing was done; the
    /// transaction stays `Created` and recovery closes it.
    fn prepare_failed(&self, t: Txn, e: &HisError) -> Result<Next, RunError> {
        self.note(&t, &e.to_string());
        Ok(Next::Stop(Outcome::NotPaid {
            txn: t,
            refunded: false,
            reason: owned(e.patient_message()),
        }))
    }

    // ------------------------------------------------------------ payment

    /// Poll the order until paid, dead, `within` has passed or the patient cancels;
    /// then stop it (close or reverse) and journal what it came to.
    async fn await_payment(
        &self,
        t: &Txn,
        within: Duration,
        cancel: Option<&CancelFlag>,
    ) -> Result<Next, RunError> {
        let otn = self.otn(t)?;
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if cancel.is_some_and(CancelFlag::is_cancelled)
                || tokio::time::Instant::now() >= deadline
            {
                return self.stop_payment(t.clone(), Mode::Live).await;
            }
            let q = self.pay.query_order(&otn).await;
            hit("call:queryOrder");
            match q {
                Ok(o) if o.status == OrderStatus::Paid => {
                    return Ok(Next::Go(self.confirm(t, &o)?))
                }
                Ok(o) if o.status.is_dead() || o.status == OrderStatus::Refunded => {
                    let event = if o.status == OrderStatus::Refunded {
                        Event::PaymentReversed
                    } else {
                        Event::PaymentFailed
                    };
                    let reason = o
                        .failure
                        .map(|c| {
                            owned(
                                PayError::new(
                                    pay::ops::Operation::QueryOrder,
                                    PayErrorKind::Rejected(c),
                                    "",
                                )
                                .patient_message(),
                            )
                        })
                        .unwrap_or_else(|| owned(DEFAULT_FAIL));
                    let n = self.tr(t, event, Update::default())?;
                    return Ok(match self.drive_boxed(n, Mode::Live).await? {
                        Outcome::NotPaid { txn, refunded, .. } => Next::Stop(Outcome::NotPaid {
                            txn,
                            refunded,
                            reason,
                        }),
                        o => Next::Stop(o),
                    });
                }
                Ok(_) => {}
                Err(e) => self.note(t, &e.to_string()),
            }
            tokio::time::sleep(self.cfg.poll_interval).await;
        }
    }

    fn drive_boxed(
        &self,
        t: Txn,
        mode: Mode,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Outcome, RunError>> + Send + '_>>
    {
        Box::pin(self.drive(t, mode))
    }

    /// PaymentPending found in the journal: live, keep waiting for the
    /// patient; in recovery, find out and stop it.
    async fn resolve_payment(&self, t: Txn, mode: Mode) -> Result<Next, RunError> {
        match mode {
            Mode::Live => {
                let within = match details_of(&t).method {
                    Some(PayMethod::Qr) => self.cfg.qr_timeout,
                    _ => self.cfg.user_paying_timeout,
                };
                self.await_payment(&t, within, None).await
            }
            Mode::Recovery => self.stop_payment(t, mode).await,
        }
    }

    /// Nobody will pay this any more: if it was paid, carry on with the
    /// service; otherwise close (QR) or reverse (scanned code) it.
    async fn stop_payment(&self, t: Txn, mode: Mode) -> Result<Next, RunError> {
        let otn = self.otn(&t)?;
        let method = details_of(&t).method.unwrap_or(PayMethod::Code);
        for attempt in 0..self.attempts(mode).max(3) {
            if attempt > 0 {
                tokio::time::sleep(self.cfg.poll_interval).await;
            }
            let q = self.pay.query_order(&otn).await;
            hit("call:queryOrder");
            let order = match q {
                Ok(o) => o,
                Err(e) if e.code() == Some(pay::ErrorCode::OrderNotFound) => {
                    // The order was never created: nothing to stop.
                    return Ok(Next::Go(self.tr(
                        &t,
                        Event::PaymentFailed,
                        Update {
                            note: Some("no order at the channel".into()),
                            ..Update::default()
                        },
                    )?));
                }
                Err(e) => {
                    self.note(&t, &e.to_string());
                    continue;
                }
            };
            match order.status {
                OrderStatus::Paid => return Ok(Next::Go(self.confirm(&t, &order)?)),
                OrderStatus::Refunded => {
                    return Ok(Next::Go(self.tr(
                        &t,
                        Event::PaymentReversed,
                        Update::default(),
                    )?))
                }
                s if s.is_dead() => {
                    return Ok(Next::Go(self.tr(
                        &t,
                        Event::PaymentFailed,
                        Update::default(),
                    )?))
                }
                _ => {}
            }
            if method == PayMethod::Qr {
                let c = self.pay.close_order(&otn).await;
                hit("call:closeOrder");
                match c {
                    Ok(o) if o.status.is_dead() => {
                        return Ok(Next::Go(self.tr(
                            &t,
                            Event::PaymentFailed,
                            Update::default(),
                        )?))
                    }
                    // Paid at the last moment: the query above sees it next time round.
                    Ok(_) => {}
                    Err(e) => self.note(&t, &e.to_string()),
                }
            } else {
                let r = self.pay.reverse_order(&otn).await;
                hit("call:reverseOrder");
                match r {
                    Ok(ReverseOutcome::Closed(_)) => {
                        return Ok(Next::Go(self.tr(
                            &t,
                            Event::PaymentFailed,
                            Update::default(),
                        )?))
                    }
                    Ok(ReverseOutcome::Refunded(_)) => {
                        return Ok(Next::Go(self.tr(
                            &t,
                            Event::PaymentReversed,
                            Update {
                                note: Some("collected while being stopped; returned".into()),
                                ..Update::default()
                            },
                        )?))
                    }
                    Ok(ReverseOutcome::Recall(_)) => {}
                    Err(e) => self.note(&t, &e.to_string()),
                }
            }
        }
        Ok(Next::Stop(self.outcome_of(self.get(t.id)?)?))
    }

    fn attempts(&self, mode: Mode) -> u32 {
        match mode {
            Mode::Live => self.cfg.live_attempts.max(1),
            Mode::Recovery => 2,
        }
    }

    // ------------------------------------------------------------ posting

    fn payment_ref(&self, t: &Txn) -> Result<PaymentRef, RunError> {
        let paid_at = t
            .paid_at
            .as_deref()
            .and_then(parse_instant)
            .ok_or_else(|| RunError::Data {
                id: t.id,
                detail: "paid but no payment time journalled".into(),
            })?;
        Ok(PaymentRef {
            channel: t.channel.unwrap_or(PayChannel::None),
            trade_no: t.out_trade_no(),
            amount_fen: t.amount,
            paid_at,
        })
    }

    async fn post_once(&self, t: &Txn, key: &IdempotencyKey) -> Result<(String, String), HisError> {
        let payment = || {
            self.payment_ref(t).map_err(|e| {
                HisError::new(
                    crate::his::ops::Operation::CreateAppointment,
                    HisErrorKind::InvalidRequest,
                    e.to_string(),
                )
            })
        };
        let money = || -> Result<Option<PaymentRef>, HisError> {
            let p = payment()?;
            Ok((t.amount > Money::ZERO).then_some(p))
        };
        let r = match t.kind {
            TxnKind::Registration | TxnKind::Booking => {
                let money = money()?;
                let req = RegisterRequest {
                    hold_id: t.hold_id.clone().unwrap_or_default(),
                    patient_id: t.patient_id.clone(),
                    payment: money,
                };
                self.his.register(key, &req).await.map(|a| {
                    (
                        a.appointment_id.clone(),
                        serde_json::to_string(&a).unwrap_or_default(),
                    )
                })
            }
            TxnKind::CheckIn => {
                let money = money()?;
                self.his
                    .check_in(key, t.target_id.as_deref().unwrap_or_default(), money)
                    .await
                    .map(|a| {
                        (
                            a.appointment_id.clone(),
                            serde_json::to_string(&a).unwrap_or_default(),
                        )
                    })
            }
            TxnKind::Cancellation => self
                .his
                .cancel(
                    key,
                    t.target_id.as_deref().unwrap_or_default(),
                    "自助机取消预约 cancelled at a kiosk",
                )
                .await
                .map(|a| {
                    (
                        a.appointment_id.clone(),
                        serde_json::to_string(&a).unwrap_or_default(),
                    )
                }),
            TxnKind::Settlement => {
                let req = SettleRequest {
                    presettle_id: t.target_id.clone().unwrap_or_default(),
                    patient_id: t.patient_id.clone(),
                    payment: payment()?,
                };
                self.his.settle(key, &req).await.map(|s| {
                    (
                        s.settlement_id.clone(),
                        serde_json::to_string(&s).unwrap_or_default(),
                    )
                })
            }
        };
        hit("call:post");
        r
    }

    /// What HIS recorded under the post key: the answer, a refusal, or nothing.
    async fn recorded_post(
        &self,
        t: &Txn,
        key: &IdempotencyKey,
    ) -> Result<Option<Result<(String, String), HisError>>, HisError> {
        let rec = self.his.idempotency_record(key).await;
        hit("call:getIdempotencyRecord");
        let Some(rec) = rec? else { return Ok(None) };
        if (200..300).contains(&rec.status) {
            let parsed = match t.kind {
                TxnKind::Settlement => {
                    serde_json::from_value::<Settlement>(rec.body.clone()).map(|s| s.settlement_id)
                }
                _ => serde_json::from_value::<Appointment>(rec.body.clone())
                    .map(|a| a.appointment_id),
            };
            return match parsed {
                Ok(reference) => Ok(Some(Ok((reference, rec.body.to_string())))),
                Err(e) => Err(HisError::new(
                    crate::his::ops::Operation::GetIdempotencyRecord,
                    HisErrorKind::Malformed,
                    format!("recorded answer for {key} does not parse: {e}"),
                )),
            };
        }
        let code = rec
            .body
            .get("code")
            .cloned()
            .and_then(|c| serde_json::from_value::<crate::his::wire::ErrorCode>(c).ok());
        match code {
            Some(c) => Ok(Some(Err(HisError::new(
                crate::his::ops::Operation::GetIdempotencyRecord,
                HisErrorKind::Rejected(c),
                format!("HIS recorded {} for {key}", rec.status),
            )))),
            // A recorded server error: HIS did nothing; post again.
            None => Ok(None),
        }
    }

    async fn post(&self, t: Txn, mode: Mode) -> Result<Next, RunError> {
        let cancellation = t.kind == TxnKind::Cancellation;
        let key = self.key(&t, if cancellation { "cancel" } else { "post" })?;
        // After a crash, a timeout or a lost answer, ask before posting again.
        let mut ask_first = mode == Mode::Recovery || t.last_error.is_some();
        for attempt in 0..self.attempts(mode) {
            if attempt > 0 {
                tokio::time::sleep(self.cfg.poll_interval).await;
            }
            let answer = if ask_first {
                match self.recorded_post(&t, &key).await {
                    Ok(Some(a)) => a,
                    Ok(None) => self.post_once(&t, &key).await,
                    Err(e) => Err(e),
                }
            } else {
                self.post_once(&t, &key).await
            };
            match answer {
                Ok((reference, result)) => {
                    let mut u = Update {
                        his_reference: Some(reference),
                        ..Update::default()
                    };
                    if cancellation {
                        // What is refunded is what HIS says it owes back.
                        if let Ok(a) = serde_json::from_str::<Appointment>(&result) {
                            if a.refund_due_fen != t.amount {
                                tracing::warn!(txn = %t.key_base(), his = %a.refund_due_fen, journal = %t.amount, "HIS owes back another amount than the fee");
                                u.note = Some(format!(
                                    "HIS owes {} back; {} was expected",
                                    a.refund_due_fen, t.amount
                                ));
                            }
                            u.amount = Some(a.refund_due_fen);
                        }
                    }
                    u.his_result = Some(result);
                    return Ok(Next::Go(self.tr(&t, Event::Posted, u)?));
                }
                Err(e) if is_refusal(&e) => {
                    let t = self.tr(
                        &t,
                        Event::PostRefused,
                        Update {
                            last_error: Some(e.to_string()),
                            note: Some(format!(
                                "{} / {}",
                                e.patient_message().0,
                                e.patient_message().1
                            )),
                            ..Update::default()
                        },
                    )?;
                    if cancellation {
                        // Nothing was cancelled and nothing is owed: say why.
                        let reason = e
                            .gateway_message
                            .clone()
                            .unwrap_or_else(|| owned(e.patient_message()));
                        return Ok(Next::Stop(Outcome::NotPaid {
                            txn: t,
                            refunded: false,
                            reason,
                        }));
                    }
                    return Ok(Next::Go(t));
                }
                Err(e) => {
                    self.note(&t, &e.to_string());
                    ask_first = true;
                }
            }
        }
        Ok(Next::Stop(self.outcome_of(self.get(t.id)?)?))
    }

    // ------------------------------------------------------------ printing

    fn header(&self) -> print::Header {
        print::Header {
            hospital_zh: self.cfg.hospital_zh.clone(),
            hospital_en: self.cfg.hospital_en.clone(),
            kiosk_id: self.cfg.kiosk_id.clone(),
            printed_at: to_cst(Utc::now()).format("%Y-%m-%d %H:%M").to_string(),
            service_phone: self.cfg.service_phone.clone(),
        }
    }

    fn who(&self, t: &Txn) -> print::Who {
        print::Who {
            name_masked: details_of(t).name_masked,
            id_masked: t.id_masked.clone(),
        }
    }

    /// The transaction's slip, from HIS's journalled answer.
    fn slip(&self, t: &Txn) -> Option<kiosk_drivers::escpos::doc::Doc> {
        let result = t.his_result.as_deref()?;
        let cols = self.printer.columns();
        let (h, w, no) = (self.header(), self.who(t), t.key_base());
        match t.kind {
            TxnKind::Settlement => {
                let s: Settlement = serde_json::from_str(result).ok()?;
                Some(print::settlement_receipt(
                    cols,
                    &h,
                    &w,
                    &details_of(t).bills,
                    &s,
                    &no,
                ))
            }
            TxnKind::Cancellation => {
                let a: Appointment = serde_json::from_str(result).ok()?;
                let refund = print::CancelRefund {
                    amount: t.amount,
                    channel: t.channel,
                    refund_no: t.cancellation_refund_no(),
                };
                Some(print::cancellation_slip(cols, &h, &w, &a, &refund, &no))
            }
            _ => {
                let a: Appointment = serde_json::from_str(result).ok()?;
                Some(print::appointment_slip(cols, &h, &w, &a, &no))
            }
        }
    }

    /// The reminder slip (R7): settlement next steps, or the booked visit.
    fn reminder(&self, t: &Txn) -> Option<kiosk_drivers::escpos::doc::Doc> {
        let result = t.his_result.as_deref()?;
        let steps = match t.kind {
            TxnKind::Settlement => serde_json::from_str::<Settlement>(result).ok()?.next_steps,
            TxnKind::Booking => {
                let a: Appointment = serde_json::from_str(result).ok()?;
                vec![NextStep {
                    what: Text {
                        zh: format!("{} {} 就诊", a.department_name_zh, a.doctor_name),
                        en: format!("Visit {} ({})", a.department_name_en, a.doctor_name),
                    },
                    location: a.location.clone(),
                    time: Some(format!("{} {}-{}", a.date, a.start, a.end)),
                    precautions: vec![Text {
                        zh: "请于就诊当日到自助机签到。".into(),
                        en: "Check in at a kiosk on the day of your visit.".into(),
                    }],
                }]
            }
            _ => return None,
        };
        if steps.is_empty() {
            return None;
        }
        Some(print::reminder_slip(
            self.printer.columns(),
            &self.header(),
            &self.who(t),
            &steps,
            &t.key_base(),
        ))
    }

    fn print_doc(&self, doc: &kiosk_drivers::escpos::doc::Doc) -> Result<(), print::PrinterError> {
        let r = self.printer.print(doc);
        hit("call:print");
        r
    }

    fn print_slip(&self, t: Txn, mode: Mode) -> Result<Next, RunError> {
        if mode == Mode::Recovery {
            return Ok(Next::Go(self.tr(
                &t,
                Event::SlipFailed,
                Update {
                    reprint_needed: Some(true),
                    note: Some("not printed: the kiosk restarted before printing".into()),
                    ..Update::default()
                },
            )?));
        }
        let result = match self.slip(&t) {
            Some(doc) => self.print_doc(&doc).map_err(|e| e.to_string()),
            None => Err("HIS's answer cannot be laid out".to_string()),
        };
        Ok(Next::Go(match result {
            Ok(()) => self.tr(&t, Event::SlipPrinted, Update::default())?,
            Err(e) => self.tr(
                &t,
                Event::SlipFailed,
                Update {
                    reprint_needed: Some(true),
                    last_error: Some(e),
                    ..Update::default()
                },
            )?,
        }))
    }

    fn print_reminder(&self, t: Txn, mode: Mode) -> Result<Next, RunError> {
        let Some(doc) = self.reminder(&t) else {
            return Ok(Next::Go(self.tr(
                &t,
                Event::SlipPrinted,
                Update {
                    note: Some("no reminder for this service".into()),
                    ..Update::default()
                },
            )?));
        };
        if mode == Mode::Recovery {
            return Ok(Next::Go(self.tr(
                &t,
                Event::SlipFailed,
                Update {
                    reprint_needed: Some(true),
                    note: Some("reminder not printed: the kiosk restarted".into()),
                    ..Update::default()
                },
            )?));
        }
        Ok(Next::Go(match self.print_doc(&doc) {
            Ok(()) => self.tr(&t, Event::SlipPrinted, Update::default())?,
            Err(e) => self.tr(
                &t,
                Event::SlipFailed,
                Update {
                    reprint_needed: Some(true),
                    last_error: Some(e.to_string()),
                    ..Update::default()
                },
            )?,
        }))
    }

    // ------------------------------------------------------------ undoing

    async fn release_hold(&self, t: &Txn, hold_id: &str) -> Result<(), HisError> {
        let r = self
            .his
            .release_hold(
                &self.key(t, "release").map_err(|e| {
                    HisError::new(
                        crate::his::ops::Operation::ReleaseHold,
                        HisErrorKind::InvalidRequest,
                        e.to_string(),
                    )
                })?,
                hold_id,
            )
            .await;
        hit("call:releaseHold");
        match r {
            Ok(_) => Ok(()),
            // Already gone (expired, used, released): nothing held.
            Err(e) if is_refusal(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// PaymentFailed: make sure no order can still collect, give back what
    /// one did, release the hold.
    async fn close_and_release(&self, t: Txn, mode: Mode) -> Result<Next, RunError> {
        let mut refunded = false;
        let method = details_of(&t).method;
        if t.amount > Money::ZERO && matches!(method, Some(PayMethod::Qr | PayMethod::Code)) {
            match self.settle_order_to_nothing(&t, mode).await? {
                Some(r) => refunded = r,
                None => return Ok(Next::Stop(self.outcome_of(self.get(t.id)?)?)),
            }
        }
        if let Some(h) = &t.hold_id {
            if let Err(e) = self.release_hold(&t, h).await {
                self.note(&t, &e.to_string());
                return Ok(Next::Stop(self.outcome_of(self.get(t.id)?)?));
            }
        }
        let t = self.tr(
            &t,
            Event::ReleasedOk,
            Update {
                note: refunded.then(|| "refunded: collected after it was given up".into()),
                ..Update::default()
            },
        )?;
        let mut o = self.outcome_of(t)?;
        if let Outcome::NotPaid { refunded: r, .. } = &mut o {
            *r |= refunded;
        }
        Ok(Next::Stop(o))
    }

    /// Make sure the order of a failed payment keeps nothing: close an
    /// unpaid QR, reverse a pending scanned code, refund what was collected
    /// anyway. `Some(refunded)` when settled, `None` to try again later.
    async fn settle_order_to_nothing(&self, t: &Txn, mode: Mode) -> Result<Option<bool>, RunError> {
        let otn = self.otn(t)?;
        for attempt in 0..self.attempts(mode).max(3) {
            if attempt > 0 {
                tokio::time::sleep(self.cfg.poll_interval).await;
            }
            let q = self.pay.query_order(&otn).await;
            hit("call:queryOrder");
            let order = match q {
                Ok(o) => o,
                Err(e) if e.code() == Some(pay::ErrorCode::OrderNotFound) => {
                    return Ok(Some(false))
                }
                Err(e) => {
                    self.note(t, &e.to_string());
                    continue;
                }
            };
            match order.status {
                s if s.is_dead() => return Ok(Some(false)),
                OrderStatus::Refunded => return Ok(Some(true)),
                OrderStatus::Paid => {
                    if self.refund_in_full(t, "C").await?.is_ok() {
                        return Ok(Some(true));
                    }
                }
                OrderStatus::NotPaid => {
                    let c = self.pay.close_order(&otn).await;
                    hit("call:closeOrder");
                    if let Err(e) = c {
                        self.note(t, &e.to_string());
                    }
                }
                _ => {
                    let r = self.pay.reverse_order(&otn).await;
                    hit("call:reverseOrder");
                    match r {
                        Ok(ReverseOutcome::Closed(_)) => return Ok(Some(false)),
                        Ok(ReverseOutcome::Refunded(_)) => return Ok(Some(true)),
                        Ok(ReverseOutcome::Recall(_)) => {}
                        Err(e) => self.note(t, &e.to_string()),
                    }
                }
            }
        }
        Ok(None)
    }

    /// Refund the whole amount under `{out_trade_no}{suffix}`; an unknown
    /// outcome is resolved by querying the refund. `Ok(Err(refusal))` when
    /// the channel refuses for good, `Err` only for the journal.
    async fn refund_in_full(
        &self,
        t: &Txn,
        suffix: &str,
    ) -> Result<Result<(), Option<PayError>>, RunError> {
        let otn = t.out_trade_no();
        self.refund_order(
            t,
            &otn,
            &format!("{otn}{suffix}"),
            t.amount,
            "自助机退款 kiosk refund",
        )
        .await
    }

    /// Refund `amount` of order `out_trade_no` under `refund_no` (the same
    /// request every time, so the channel replays rather than refunds
    /// twice); an unknown outcome is resolved by querying the refund.
    async fn refund_order(
        &self,
        t: &Txn,
        out_trade_no: &str,
        refund_no: &str,
        amount: Money,
        reason: &str,
    ) -> Result<Result<(), Option<PayError>>, RunError> {
        let data = |e: pay::BadNumber| RunError::Data {
            id: t.id,
            detail: e.to_string(),
        };
        let refund_no = OutRefundNo::new(refund_no.to_string()).map_err(data)?;
        let req = RefundRequest {
            out_trade_no: OutTradeNo::new(out_trade_no.to_string()).map_err(data)?,
            out_refund_no: refund_no.clone(),
            amount,
            reason: reason.into(),
        };
        let mut r = self.pay.refund(&req).await;
        hit("call:refund");
        if matches!(&r, Err(e) if e.outcome_unknown()) {
            r = self.pay.query_refund(&refund_no).await;
            hit("call:queryRefund");
        }
        Ok(match r {
            Ok(rf) if rf.status == pay::RefundStatus::Success => Ok(()),
            Ok(_) => Err(None),
            Err(e)
                if !e.is_transient()
                    && !e.outcome_unknown()
                    && e.code() != Some(pay::ErrorCode::RefundNotFound) =>
            {
                Err(Some(e))
            }
            Err(e) => {
                self.note(t, &e.to_string());
                Err(None)
            }
        })
    }

    /// Reversing: HIS refused the posting; return the money, release the hold.
    async fn reverse(&self, t: Txn, mode: Mode) -> Result<Next, RunError> {
        if t.amount > Money::ZERO {
            let mut done = false;
            let mut refused: Option<PayError> = None;
            for attempt in 0..self.attempts(mode) {
                if attempt > 0 {
                    tokio::time::sleep(self.cfg.poll_interval).await;
                }
                match self.refund_in_full(&t, "R").await? {
                    Ok(()) => {
                        done = true;
                        break;
                    }
                    Err(Some(e)) => {
                        refused = Some(e);
                        break;
                    }
                    Err(None) => {}
                }
            }
            if !done {
                return self.refund_not_done(t, refused);
            }
        }
        if let Some(h) = &t.hold_id {
            if let Err(e) = self.release_hold(&t, h).await {
                // The refund is done; a hold HIS keeps expires by itself.
                tracing::warn!(txn = %t.key_base(), error = %e, "hold not released after the refund");
            }
        }
        Ok(Next::Go(self.tr(
            &t,
            Event::ReverseOk,
            Update::default(),
        )?))
    }

    /// A refund (Reversing, Refunding) that did not go through: the channel
    /// refused for good, or it is still unconfirmed `reverse_deadline` after
    /// the state was entered: staff, with a voucher. Otherwise stop here and
    /// let the next attempt (live or recovery) try again with the same number.
    fn refund_not_done(&self, t: Txn, refused: Option<PayError>) -> Result<Next, RunError> {
        let past_deadline = self
            .j()
            .entered_at(t.id, t.state)?
            .as_deref()
            .and_then(parse_instant)
            .is_some_and(|at| {
                Utc::now()
                    .signed_duration_since(at)
                    .to_std()
                    .unwrap_or_default()
                    > self.cfg.reverse_deadline
            });
        if refused.is_none() && !past_deadline {
            return Ok(Next::Stop(self.outcome_of(self.get(t.id)?)?));
        }
        let why = refused
            .map(|e| e.to_string())
            .unwrap_or_else(|| "refund not confirmed before the deadline".into());
        self.to_staff(&t, why)
    }

    /// The refund could not be done: `NeedsStaff`, with the voucher.
    fn to_staff(&self, t: &Txn, why: String) -> Result<Next, RunError> {
        let t = self.tr(
            t,
            Event::ReverseRefused,
            Update {
                last_error: Some(why.clone()),
                ..Update::default()
            },
        )?;
        Ok(Next::Stop(self.voucher(t, &why)?))
    }

    /// Refunding (a cancellation): HIS has cancelled the appointment; return
    /// what it owes back to the original kiosk order under
    /// `{original out_trade_no}X`, then the slip.
    async fn refund_original(&self, t: Txn, mode: Mode) -> Result<Next, RunError> {
        if t.amount <= Money::ZERO {
            return Ok(Next::Go(self.tr(
                &t,
                Event::ReverseOk,
                Update {
                    note: Some("nothing to refund".into()),
                    ..Update::default()
                },
            )?));
        }
        let Some(original) = t.refund_of.clone() else {
            // Unpaid when checked, paid some other way before HIS cancelled.
            let why = format!(
                "HIS owes {} back, but the fee was not paid at this kiosk",
                t.amount
            );
            return self.to_staff(&t, why);
        };
        let refund_no = cancellation_refund_no(&original);
        let mut refused: Option<PayError> = None;
        for attempt in 0..self.attempts(mode) {
            if attempt > 0 {
                tokio::time::sleep(self.cfg.poll_interval).await;
            }
            match self
                .refund_order(
                    &t,
                    &original,
                    &refund_no,
                    t.amount,
                    "预约取消退费 appointment cancelled",
                )
                .await?
            {
                Ok(()) => {
                    return Ok(Next::Go(self.tr(
                        &t,
                        Event::ReverseOk,
                        Update {
                            note: Some(format!(
                                "refunded {} of {original} as {refund_no}",
                                t.amount
                            )),
                            ..Update::default()
                        },
                    )?))
                }
                Err(Some(e)) => {
                    refused = Some(e);
                    break;
                }
                Err(None) => {}
            }
        }
        self.refund_not_done(t, refused)
    }

    /// NeedsStaff: print the voucher for the staffed window.
    fn voucher(&self, t: Txn, why: &str) -> Result<Outcome, RunError> {
        let why: String = why.chars().take(80).collect();
        let (out_trade_no, reason) = if t.kind == TxnKind::Cancellation {
            // The order staff refund: the kiosk's original, else the one HIS holds.
            let his_trade_no = t
                .his_result
                .as_deref()
                .and_then(|r| serde_json::from_str::<Appointment>(r).ok())
                .and_then(|a| a.payment)
                .map(|p| p.trade_no);
            (
                t.refund_of
                    .clone()
                    .or(his_trade_no)
                    .unwrap_or_else(|| t.out_trade_no()),
                format!(
                    "预约已取消，退款未完成 The appointment is cancelled but the refund did not go through ({why})"
                ),
            )
        } else {
            (
                t.out_trade_no(),
                format!(
                    "医院系统未能办理，退款未完成 HIS could not complete it and the refund did not go through ({why})"
                ),
            )
        };
        let v = print::Voucher {
            amount: t.amount,
            channel: t.channel,
            out_trade_no,
            reason,
        };
        let doc = print::needs_staff_voucher(
            self.printer.columns(),
            &self.header(),
            &self.who(&t),
            &v,
            &t.key_base(),
        );
        let printed = self.print_doc(&doc);
        let t = self.tr(
            &t,
            Event::VoucherHandled,
            Update {
                reprint_needed: Some(printed.is_err()),
                note: Some(match &printed {
                    Ok(()) => "voucher printed".into(),
                    Err(e) => format!("voucher not printed: {e}"),
                }),
                ..Update::default()
            },
        )?;
        Ok(Outcome::NeedsStaff {
            voucher_printed: printed.is_ok(),
            txn: t,
        })
    }
}

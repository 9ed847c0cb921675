//! `kiosk drill` (only with the `failpoints` feature): run one whole paid
//! transaction the way the UI will, against the configured HIS and payment
//! platform (simulators), so the crash harness can kill it at a failpoint.
//! It picks its data through the HIS protocol like a patient would: a free
//! slot, a booked appointment of today, the unpaid bills; for a
//! cancellation, the patient's latest booking this kiosk was paid for (else
//! their latest unpaid one), confirmed at once.

use crate::app::App;
use crate::domain::{AppointmentStatus, CardKind, PayChannel};
use crate::his::BillFilter;
use crate::txn::{CancelFlag, Intent, Outcome, PatientRef, TxnKind};
use chrono::Duration;

#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error(transparent)]
    His(#[from] crate::his::HisError),
    #[error(transparent)]
    Run(#[from] crate::txn::RunError),
    #[error("{0}")]
    NoData(String),
    #[error("paying the QR at {url}: {detail}")]
    Qr { url: String, detail: String },
}

/// How the drill pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrillPay {
    /// Scan a WeChat payment code ending in these four digits (see the
    /// payment simulator: 0001 pays, 0002 asks the payer, 0004 no funds...).
    Code(String),
    /// Show a QR and "scan" it: open its URL as the patient's phone would.
    Qr,
}

pub async fn run(
    app: &App,
    kind: TxnKind,
    card_kind: CardKind,
    card_no: &str,
    pay: &DrillPay,
) -> Result<Outcome, DrillError> {
    let his = &app.his;
    let patient = his.lookup_patient(card_kind, card_no).await?;
    let who = PatientRef::of(&patient);
    let ping = his.ping().await?;
    let today = ping.today;
    let intent = match kind {
        TxnKind::Registration | TxnKind::Booking => {
            let date = if kind == TxnKind::Registration {
                today
            } else {
                today + Duration::days(1)
            };
            let now = ping.now.time();
            let mut found = None;
            'outer: for d in his.departments().await? {
                for s in his.schedules(&d.department_id, date).await? {
                    for slot in his.slots(&s.schedule_id).await? {
                        if slot.remaining > 0 && (date > today || slot.start.time() > now) {
                            found = Some(slot.slot_id);
                            break 'outer;
                        }
                    }
                }
            }
            let slot_id =
                found.ok_or_else(|| DrillError::NoData(format!("no free slot on {date}")))?;
            if kind == TxnKind::Registration {
                Intent::Registration {
                    slot_id,
                    referral: false,
                }
            } else {
                Intent::Booking {
                    slot_id,
                    referral: false,
                }
            }
        }
        TxnKind::CheckIn => {
            let a = his
                .appointments(&patient.patient_id, Some(today))
                .await?
                .into_iter()
                .find(|a| a.can_check_in(today))
                .ok_or_else(|| DrillError::NoData("no appointment to check in today".into()))?;
            Intent::CheckIn {
                appointment_id: a.appointment_id,
            }
        }
        TxnKind::Cancellation => {
            let now = ping.now;
            let kiosk = app.runner.config().kiosk_id.clone();
            let mut ahead: Vec<_> = his
                .appointments(&patient.patient_id, None)
                .await?
                .into_iter()
                .filter(|a| {
                    a.status == AppointmentStatus::Booked
                        && (a.date > today || (a.date == today && a.start.time() > now.time()))
                })
                .collect();
            ahead.sort_by(|a, b| a.appointment_id.cmp(&b.appointment_id));
            let paid_here = |a: &crate::domain::Appointment| {
                a.payment
                    .as_ref()
                    .is_some_and(|p| p.trade_no.starts_with(&kiosk))
            };
            let a = ahead
                .iter()
                .rev()
                .find(|a| paid_here(a))
                .or_else(|| ahead.iter().rev().find(|a| !a.fee_paid))
                .ok_or_else(|| DrillError::NoData("no booking this kiosk can cancel".into()))?;
            let intent = Intent::Cancellation {
                appointment_id: a.appointment_id.clone(),
            };
            let prepared = app.runner.start(&who, intent).await?;
            return Ok(app.runner.confirm_cancel(prepared.txn.id).await?);
        }
        TxnKind::Settlement => {
            let bills = his.bills(&patient.patient_id, BillFilter::Unpaid).await?;
            if bills.is_empty() {
                return Err(DrillError::NoData("no unpaid bills".into()));
            }
            Intent::Settlement {
                bill_ids: bills.into_iter().map(|b| b.bill_id).collect(),
                use_insurance: false,
            }
        }
    };
    let runner = &app.runner;
    let prepared = runner.start(&who, intent).await?;
    let id = prepared.txn.id;
    if prepared.amount == crate::domain::Money::ZERO {
        return Ok(runner.pay_nothing(id).await?);
    }
    match pay {
        DrillPay::Code(suffix) => {
            let code = format!("13{:012}{suffix}", id.rem_euclid(1_000_000_000_000));
            Ok(runner.pay_with_code(id, &code).await?)
        }
        DrillPay::Qr => {
            let q = runner.start_qr(id, PayChannel::Wechat).await?;
            let url = q.code_url.clone();
            let qr_err = |detail: String| DrillError::Qr {
                url: url.clone(),
                detail,
            };
            let resp = reqwest::get(&url)
                .await
                .map_err(|e| qr_err(e.to_string()))?;
            if !resp.status().is_success() {
                return Err(qr_err(format!("status {}", resp.status())));
            }
            Ok(runner.await_qr(id, &CancelFlag::default()).await?)
        }
    }
}

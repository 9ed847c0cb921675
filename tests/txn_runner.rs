//! The transaction runner over the real money path: the HIS and payment
//! simulators on loopback, the real HTTP clients, the SQLite journal and a
//! spool printer whose ESC/POS bytes are parsed back. Every test ends by
//! reconciling the day's three ledgers.

mod common;

use common::{today, Stack};
use kiosk::domain::{Money, PayChannel};
use kiosk::his::{BillFilter, HisGateway};
use kiosk::pay::{OrderStatus, OutTradeNo, PaymentGateway};
use kiosk::txn::{CancelFlag, Intent, Outcome, RunError, TxnState};

/// A free slot for `patient` on `date`, starting after 08:00.
async fn free_slot(s: &Stack, date: chrono::NaiveDate) -> String {
    for d in s.his_client.departments().await.unwrap() {
        for sc in s
            .his_client
            .schedules(&d.department_id, date)
            .await
            .unwrap()
        {
            for sl in s.his_client.slots(&sc.schedule_id).await.unwrap() {
                if sl.remaining > 1 && sl.start.to_string().as_str() > "08:30" {
                    return sl.slot_id;
                }
            }
        }
    }
    panic!("no free slot on {date}");
}

/// Start a same-day registration on `slot` (held, ready to pay).
async fn register(s: &Stack, who: &kiosk::txn::PatientRef, slot: &str) -> kiosk::txn::Prepared {
    register_on(&s.runner, who, slot).await
}

async fn register_on(
    runner: &kiosk::txn::Runner,
    who: &kiosk::txn::PatientRef,
    slot: &str,
) -> kiosk::txn::Prepared {
    runner
        .start(
            who,
            Intent::Registration {
                slot_id: slot.to_string(),
                referral: false,
            },
        )
        .await
        .unwrap()
}

/// The stack's HIS and payment clients with another printer and a journal in `dir`.
fn runner_with_printer(
    s: &Stack,
    dir: &std::path::Path,
    printer: std::sync::Arc<dyn kiosk::print::ReceiptPrinter>,
) -> kiosk::txn::Runner {
    kiosk::txn::Runner::new(
        kiosk::txn::Journal::open(&dir.join("j.db"), "K01").unwrap(),
        s.his_client.clone(),
        s.pay_client.clone(),
        printer,
        s.runner.config().clone(),
    )
}

fn code(suffix: &str) -> String {
    format!("134567890123{suffix:0>6}")
}

async fn assert_clean(s: &Stack) {
    let sum = s.reconcile().await;
    assert_eq!(
        sum.unexplained(),
        0,
        "reconciliation: {}",
        sum.mismatches_csv()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_paid_by_code_is_posted_printed_and_reconciled() {
    let s = Stack::start().await;
    let (who, pid) = s.patient(3);
    let slot = free_slot(&s, today()).await;
    let p = register(&s, &who, &slot).await;
    assert_eq!(p.txn.state, TxnState::SlotHeld);
    assert!(p.amount > Money::ZERO, "the fee comes from HIS");
    assert!(p.hold.is_some());
    let o = s
        .runner
        .pay_with_code(p.txn.id, &code("0001"))
        .await
        .unwrap();
    let Outcome::Completed { txn, printed } = o else {
        panic!("{o:?}")
    };
    assert!(printed);
    assert_eq!(txn.state, TxnState::Done);
    assert_eq!(txn.channel, Some(PayChannel::Wechat));
    // HIS has the appointment, paid, under the journal's trade number.
    let appts = s
        .his_client
        .appointments(&pid, Some(today()))
        .await
        .unwrap();
    let a = appts
        .iter()
        .find(|a| Some(&a.appointment_id) == txn.his_reference.as_ref())
        .expect("appointment at HIS");
    assert!(a.fee_paid);
    assert_eq!(
        a.payment.as_ref().unwrap().trade_no,
        txn.out_trade_no(),
        "HIS got the kiosk's order number"
    );
    // The slip: hospital, masked name, room, fee, transaction number; cut once.
    let r = s.receipts();
    let text = r.text();
    assert!(text.contains("测试医院"), "{text}");
    assert!(text.contains("张*"), "{text}");
    assert!(text.contains(&a.location.room), "{text}");
    assert!(text.contains(&txn.key_base()), "{text}");
    assert!(
        text.contains(&kiosk_drivers::escpos::doc::for_paper(
            &a.fee_fen.to_string()
        )),
        "{text}"
    );
    assert_eq!(r.cuts(), 1, "registration prints no reminder");
    // The channel has the money.
    let order = s
        .pay_client
        .query_order(&OutTradeNo::new(txn.out_trade_no()).unwrap())
        .await
        .unwrap();
    assert_eq!(order.status, OrderStatus::Paid);
    assert_eq!(order.amount_fen, txn.amount);
    assert_clean(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settlement_paid_by_qr_prints_receipt_and_reminder() {
    let s = Stack::start().await;
    let (who, pid) = s.patient(0);
    let bills = s.his_client.bills(&pid, BillFilter::Unpaid).await.unwrap();
    assert!(!bills.is_empty());
    let p = s
        .runner
        .start(
            &who,
            Intent::Settlement {
                bill_ids: bills.iter().map(|b| b.bill_id.clone()).collect(),
                use_insurance: false,
            },
        )
        .await
        .unwrap();
    let ps = p.presettlement.clone().unwrap();
    assert_eq!(p.amount, ps.self_pay_fen);
    let q = s
        .runner
        .start_qr(p.txn.id, PayChannel::Alipay)
        .await
        .unwrap();
    // The patient's phone opens the QR.
    let r = reqwest::get(&q.code_url).await.unwrap();
    assert!(r.status().is_success());
    let o = s
        .runner
        .await_qr(p.txn.id, &CancelFlag::default())
        .await
        .unwrap();
    let Outcome::Completed { txn, printed } = o else {
        panic!("{o:?}")
    };
    assert!(printed);
    assert!(s
        .his_client
        .bills(&pid, BillFilter::Unpaid)
        .await
        .unwrap()
        .is_empty());
    let receipts = s.receipts();
    let text = receipts.text();
    assert!(text.contains("缴费凭条"), "{text}");
    assert!(text.contains(&bills[0].items[0].name_zh), "{text}");
    assert!(text.contains("就诊提醒"), "the reminder slip (R7): {text}");
    assert_eq!(receipts.cuts(), 2);
    assert_eq!(txn.channel, Some(PayChannel::Alipay));
    assert_clean(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_paying_code_is_awaited_and_check_in_completes() {
    let s = Stack::start().await;
    // Seeded patients 65-67 have an unpaid appointment this morning.
    let (who, pid) = s.patient(65);
    let appt = s
        .his_client
        .appointments(&pid, Some(today()))
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.can_check_in(today()))
        .unwrap();
    let p = s
        .runner
        .start(
            &who,
            Intent::CheckIn {
                appointment_id: appt.appointment_id.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(p.amount, appt.fee_fen);
    // …0002: the payer confirms on the phone a few (simulated) seconds later.
    let o = s
        .runner
        .pay_with_code(p.txn.id, &code("0002"))
        .await
        .unwrap();
    assert!(matches!(o, Outcome::Completed { .. }), "{o:?}");
    let after = s
        .his_client
        .appointments(&pid, Some(today()))
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.appointment_id == appt.appointment_id)
        .unwrap();
    assert!(after.fee_paid);
    assert!(after.queue_number.is_some());
    assert_clean(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn his_refusing_the_posting_refunds_the_patient_and_frees_the_slot() {
    let s = Stack::start().await;
    let (who, _) = s.patient(4);
    let date = today().succ_opt().unwrap();
    let slot = free_slot(&s, date).await;
    let p = s
        .runner
        .start(
            &who,
            Intent::Booking {
                slot_id: slot.clone(),
                referral: false,
            },
        )
        .await
        .unwrap();
    s.his
        .fault(
            serde_json::json!({"operation": "createAppointment", "kind": "reject",
                                   "code": "INVALID_STATE", "times": null}),
        )
        .await;
    let o = s
        .runner
        .pay_with_code(p.txn.id, &code("0001"))
        .await
        .unwrap();
    let Outcome::Refunded { txn, .. } = o else {
        panic!("{o:?}")
    };
    assert_eq!(txn.state, TxnState::Reversed);
    let order = s
        .pay_client
        .query_order(&OutTradeNo::new(txn.out_trade_no()).unwrap())
        .await
        .unwrap();
    assert_eq!(order.status, OrderStatus::Refunded);
    assert_eq!(order.refunded_fen, txn.amount);
    let hold = s
        .his_client
        .get_hold(txn.hold_id.as_deref().unwrap())
        .await
        .unwrap();
    assert_ne!(
        hold.status,
        kiosk::domain::HoldStatus::Held,
        "hold released"
    );
    s.his.clear_faults().await;
    assert_clean(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_settle_answer_is_resolved_by_its_key_not_posted_twice() {
    let s = Stack::start().await;
    let (who, pid) = s.patient(0);
    let bills = s.his_client.bills(&pid, BillFilter::Unpaid).await.unwrap();
    let p = s
        .runner
        .start(
            &who,
            Intent::Settlement {
                bill_ids: bills.iter().map(|b| b.bill_id.clone()).collect(),
                use_insurance: false,
            },
        )
        .await
        .unwrap();
    // HIS settles, then the answer is lost (every attempt of the client).
    s.his
        .fault(serde_json::json!({"operation": "settle", "kind": "lost_response", "times": 1}))
        .await;
    let o = s
        .runner
        .pay_with_code(p.txn.id, &code("0001"))
        .await
        .unwrap();
    assert!(matches!(o, Outcome::Completed { .. }), "{o:?}");
    let ledger = s.his_client.ledger(today()).await.unwrap();
    let posts = ledger
        .entries
        .iter()
        .filter(|e| e.idempotency_key.starts_with(&o.txn().key_base()))
        .count();
    assert_eq!(posts, 1, "one posting at HIS");
    assert_clean(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_payment_or_a_cancel_takes_nothing_and_releases_the_hold() {
    let s = Stack::start().await;
    let (who, _) = s.patient(5);
    let slot = free_slot(&s, today()).await;
    let before = remaining(&s, &slot).await;
    let p = register(&s, &who, &slot).await;
    assert_eq!(remaining(&s, &slot).await, before - 1);
    // …0004: insufficient funds.
    let o = s
        .runner
        .pay_with_code(p.txn.id, &code("0004"))
        .await
        .unwrap();
    let Outcome::NotPaid {
        refunded, reason, ..
    } = &o
    else {
        panic!("{o:?}")
    };
    assert!(!refunded);
    assert!(!reason.0.is_empty() && !reason.1.is_empty());
    assert_eq!(o.txn().state, TxnState::Released);
    assert_eq!(remaining(&s, &slot).await, before, "the place is back");

    // A QR the patient walks away from: the order is closed.
    let (who, _) = s.patient(6);
    let p = register(&s, &who, &slot).await;
    s.runner
        .start_qr(p.txn.id, PayChannel::Wechat)
        .await
        .unwrap();
    let cancel = CancelFlag::default();
    cancel.cancel();
    let o = s.runner.await_qr(p.txn.id, &cancel).await.unwrap();
    assert!(matches!(o, Outcome::NotPaid { .. }), "{o:?}");
    let order = s
        .pay_client
        .query_order(&OutTradeNo::new(o.txn().out_trade_no()).unwrap())
        .await
        .unwrap();
    assert_eq!(order.status, OrderStatus::Closed);
    // A code of no channel is refused before anything is sent.
    let (who, _) = s.patient(7);
    let p = register(&s, &who, &slot).await;
    let e = s
        .runner
        .pay_with_code(p.txn.id, "990000000000000001")
        .await
        .unwrap_err();
    assert!(matches!(e, RunError::Pay(_)), "{e}");
    assert_eq!(
        s.runner.with_journal(|j| j.get(p.txn.id)).unwrap().state,
        TxnState::SlotHeld,
        "the patient can scan again"
    );
    s.runner.cancel(p.txn.id).await.unwrap();
    assert_eq!(remaining(&s, &slot).await, before);
    assert_clean(&s).await;
}

async fn remaining(s: &Stack, slot: &str) -> u32 {
    for d in s.his_client.departments().await.unwrap() {
        for sc in s
            .his_client
            .schedules(&d.department_id, today())
            .await
            .unwrap()
        {
            for sl in s.his_client.slots(&sc.schedule_id).await.unwrap() {
                if sl.slot_id == slot {
                    return sl.remaining;
                }
            }
        }
    }
    panic!("slot {slot} gone")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_the_channel_refuses_goes_to_staff_with_a_voucher() {
    let s = Stack::start().await;
    let (who, _) = s.patient(8);
    let slot = free_slot(&s, today()).await;
    let p = register(&s, &who, &slot).await;
    s.his
        .fault(
            serde_json::json!({"operation": "createAppointment", "kind": "reject", "times": null}),
        )
        .await;
    s.pay_fault(
        serde_json::json!({"operation": "createRefund", "kind": "error", "status": 409,
                                    "code": "INVALID_STATE", "times": null}),
    )
    .await;
    let o = s
        .runner
        .pay_with_code(p.txn.id, &code("0001"))
        .await
        .unwrap();
    let Outcome::NeedsStaff {
        txn,
        voucher_printed,
    } = o
    else {
        panic!("{o:?}")
    };
    assert!(voucher_printed);
    assert_eq!(txn.state, TxnState::NeedsStaff);
    let text = s.receipts().text();
    assert!(text.contains("退费/补办凭证"), "{text}");
    assert!(text.contains(&txn.out_trade_no()), "{text}");
    assert!(
        text.contains(&kiosk_drivers::escpos::doc::for_paper(
            &txn.amount.to_string()
        )),
        "{text}"
    );
    s.his.clear_faults().await;
    let sum = s.reconcile().await;
    assert_eq!(sum.unexplained(), 0, "{}", sum.mismatches_csv());
    assert_eq!(sum.mismatches.len(), 1, "listed for staff follow-up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_printer_never_undoes_a_payment() {
    let s = Stack::start().await;
    // Swap in a printer whose device node does not exist.
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_with_printer(
        &s,
        dir.path(),
        std::sync::Arc::new(kiosk::print::EscPosPrinter::new(
            kiosk::print::Link::UsbLp(dir.path().join("lp0")),
            48,
            std::time::Duration::from_secs(1),
        )),
    );
    let (who, _) = s.patient(9);
    let slot = free_slot(&s, today()).await;
    let p = register_on(&runner, &who, &slot).await;
    let o = runner.pay_with_code(p.txn.id, &code("0001")).await.unwrap();
    let Outcome::Completed { txn, printed } = o else {
        panic!("{o:?}")
    };
    assert!(!printed);
    assert!(txn.reprint_needed);
    assert_eq!(txn.state, TxnState::Done);
    // Still no printer: the reprint fails too, and says so.
    assert!(runner.reprint(txn.id).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paper_out_mid_slip_keeps_a_reprint_and_pauses_paid_services_until_a_new_roll() {
    use kiosk::txn::RunError;
    use kiosk_drivers::printer::ReceiptPrinter;
    use kiosk_drivers::sim::printer::PrinterSim;
    let s = Stack::start().await;
    let sim = PrinterSim::start("127.0.0.1:0").unwrap();
    let printer = std::sync::Arc::new(
        kiosk::print::EscPosPrinter::new(
            kiosk::print::Link::Tcp(sim.addr().to_string()),
            48,
            std::time::Duration::from_millis(500),
        )
        .with_print_timeout(std::time::Duration::from_secs(1)),
    );
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_with_printer(&s, dir.path(), printer.clone());
    // A few lines of paper left: the slip runs out part-way.
    sim.set_paper_lines(Some(8));
    let (who, _) = s.patient(11);
    let slot = free_slot(&s, today()).await;
    let p = register_on(&runner, &who, &slot).await;
    let o = runner.pay_with_code(p.txn.id, &code("0001")).await.unwrap();
    let Outcome::Completed { txn, printed } = o else {
        panic!("{o:?}")
    };
    assert!(!printed, "the slip was cut short");
    assert!(txn.reprint_needed);
    assert_eq!(txn.state, TxnState::Done, "the registration stands");
    let waiting: Vec<i64> = runner
        .with_journal(|j| j.needing_reprint())
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(waiting, [txn.id], "listed for the technician's reprint");
    let slips = sim.slips();
    assert_eq!(slips.len(), 1);
    assert!(!slips[0].complete);
    // The printer is in fault: no paid service starts, nothing is journalled.
    let slot = free_slot(&s, today()).await;
    let e = runner
        .start(
            &who,
            Intent::Registration {
                slot_id: slot.clone(),
                referral: false,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(e, RunError::Unavailable { .. }), "{e}");
    assert!(e.patient_message().0.contains("打印机"));
    assert_eq!(
        runner.with_journal(|j| j.on_date(today())).unwrap().len(),
        1,
        "the refused start left no transaction behind"
    );
    // A new roll: the monitor's check clears the fault, the reprint comes out
    // whole, and services start again.
    sim.load_paper(None);
    assert!(printer.check().is_usable());
    runner.reprint(txn.id).unwrap();
    let slips = sim.wait_slips(2, std::time::Duration::from_secs(2));
    assert!(slips[1].complete);
    assert!(
        slips[1].text().contains(&txn.key_base()),
        "{}",
        slips[1].text()
    );
    let t = runner.with_journal(|j| j.get(txn.id)).unwrap();
    assert!(!t.reprint_needed, "a successful reprint clears the flag");
    assert!(runner
        .with_journal(|j| j.needing_reprint())
        .unwrap()
        .is_empty());
    let (other, _) = s.patient(12);
    let p = register_on(&runner, &other, &slot).await;
    runner.cancel(p.txn.id).await.unwrap();
    let sum = s.reconcile_with(&runner).await;
    assert_eq!(sum.unexplained(), 0, "{}", sum.mismatches_csv());
}

// ------------------------------------------------------------ cancellation

/// Book a slot tomorrow for `who` and pay it at the kiosk: the booking txn.
async fn book_and_pay(s: &Stack, who: &kiosk::txn::PatientRef) -> kiosk::txn::Txn {
    let slot = free_slot(s, today().succ_opt().unwrap()).await;
    let p = s
        .runner
        .start(
            who,
            Intent::Booking {
                slot_id: slot,
                referral: false,
            },
        )
        .await
        .unwrap();
    let o = s
        .runner
        .pay_with_code(p.txn.id, &code("0001"))
        .await
        .unwrap();
    let Outcome::Completed { txn, .. } = o else {
        panic!("{o:?}")
    };
    txn
}

async fn appointment(s: &Stack, pid: &str, id: &str) -> kiosk::domain::Appointment {
    s.his_client
        .appointments(pid, None)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.appointment_id == id)
        .expect("appointment at HIS")
}

fn cancel_intent(id: &str) -> Intent {
    Intent::Cancellation {
        appointment_id: id.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_paid_here_is_cancelled_refunded_to_its_order_and_reconciled() {
    use kiosk::domain::AppointmentStatus;
    use kiosk::pay::{OutRefundNo, RefundStatus};
    let s = Stack::start().await;
    let (who, pid) = s.patient(4);
    let booking = book_and_pay(&s, &who).await;
    let appt_id = booking.his_reference.clone().unwrap();
    let fee = booking.amount;
    assert!(fee > Money::ZERO);

    let p = s.runner.start(&who, cancel_intent(&appt_id)).await.unwrap();
    assert_eq!(
        p.txn.state,
        TxnState::SlotHeld,
        "waits for the patient to confirm"
    );
    assert_eq!(p.amount, fee, "the refund is the fee HIS says was paid");
    assert_eq!(p.txn.channel, Some(PayChannel::Wechat));
    assert_eq!(
        p.txn.refund_of.as_deref(),
        Some(booking.out_trade_no().as_str())
    );
    assert_eq!(p.appointment.as_ref().unwrap().appointment_id, appt_id);
    // Nothing has happened yet.
    assert_eq!(
        appointment(&s, &pid, &appt_id).await.status,
        AppointmentStatus::Booked
    );
    // A cancellation is never paid.
    assert!(s
        .runner
        .pay_with_code(p.txn.id, &code("0001"))
        .await
        .is_err());

    let o = s.runner.confirm_cancel(p.txn.id).await.unwrap();
    let Outcome::Completed { txn, printed } = &o else {
        panic!("{o:?}")
    };
    assert!(printed);
    assert_eq!(txn.state, TxnState::Done);
    assert_eq!(txn.amount, fee, "refunded");
    let (zh, en) = o.patient_message();
    assert_eq!(zh, format!("预约已取消，{fee} 已原路退回。"));
    assert_eq!(
        en,
        format!("Appointment cancelled; {fee} refunded to your original payment.")
    );
    // HIS: cancelled, owing the fee back.
    let a = appointment(&s, &pid, &appt_id).await;
    assert_eq!(a.status, AppointmentStatus::Cancelled);
    assert_eq!(a.refund_due_fen, fee);
    // The channel: the booking's own order refunded once, under …X.
    let order = s
        .pay_client
        .query_order(&OutTradeNo::new(booking.out_trade_no()).unwrap())
        .await
        .unwrap();
    assert_eq!(order.status, OrderStatus::Refunded);
    assert_eq!(order.refunded_fen, fee);
    let refund_no = format!("{}X", booking.out_trade_no());
    assert_eq!(
        txn.cancellation_refund_no().as_deref(),
        Some(refund_no.as_str())
    );
    let r = s
        .pay_client
        .query_refund(&OutRefundNo::new(refund_no.clone()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status, RefundStatus::Success);
    assert_eq!(r.amount_fen, fee);
    // The slip: what was cancelled and where the money went.
    let receipts = s.receipts();
    let text = receipts.text();
    for needle in [
        "预约取消凭条",
        "预约已取消",
        appt_id.as_str(),
        a.doctor_name.as_str(),
        refund_no.as_str(),
        "微信支付",
        "原路退回",
        txn.key_base().as_str(),
    ] {
        assert!(
            text.contains(&kiosk_drivers::escpos::doc::for_paper(needle)),
            "no {needle} in {text}"
        );
    }
    assert!(text.contains(&kiosk_drivers::escpos::doc::for_paper(&fee.to_string())));
    assert!(text.contains(&a.date.to_string()), "{text}");
    // Redoing it (recovery, a second cancellation) cannot refund twice.
    let again = s
        .runner
        .resume(txn.id, kiosk::txn::Mode::Recovery)
        .await
        .unwrap();
    assert_eq!(again.txn().state, TxnState::Done);
    let e = s
        .runner
        .start(&who, cancel_intent(&appt_id))
        .await
        .unwrap_err();
    assert!(matches!(e, RunError::Refused { .. }), "{e}");
    assert!(
        e.patient_message().0.contains("已经取消"),
        "{:?}",
        e.patient_message()
    );
    let order = s
        .pay_client
        .query_order(&OutTradeNo::new(booking.out_trade_no()).unwrap())
        .await
        .unwrap();
    assert_eq!(order.refunded_fen, fee, "refunded once");
    let ledger = s.his_client.ledger(today()).await.unwrap();
    let cancels: Vec<_> = ledger
        .entries
        .iter()
        .filter(|e| e.kind == kiosk::his::wire::LedgerKind::Cancel)
        .collect();
    assert_eq!(cancels.len(), 1, "{cancels:?}");
    assert_eq!(
        cancels[0].idempotency_key,
        format!("{}-cancel", txn.key_base())
    );
    assert_eq!(cancels[0].amount_fen.fen(), -fee.fen());
    let sum = s.reconcile().await;
    assert_eq!(sum.mismatches, vec![], "{}", sum.mismatches_csv());
    assert_eq!(sum.journal_total, Money::ZERO, "collected and returned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaid_booking_is_cancelled_with_nothing_to_refund() {
    use kiosk::domain::AppointmentStatus;
    let s = Stack::start().await;
    // Seeded patient 73 booked later this week by phone, to pay at check-in.
    let (who, pid) = s.patient(73);
    let a = s
        .his_client
        .appointments(&pid, None)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.status == AppointmentStatus::Booked && !a.fee_paid && a.date > today())
        .expect("an unpaid booking ahead");
    let p = s
        .runner
        .start(&who, cancel_intent(&a.appointment_id))
        .await
        .unwrap();
    assert_eq!(p.amount, Money::ZERO);
    assert_eq!(p.txn.channel, None);
    assert_eq!(p.txn.refund_of, None);
    // The patient backs out: nothing changes.
    let o = s.runner.cancel(p.txn.id).await.unwrap();
    assert!(matches!(o, Outcome::NotPaid { .. }), "{o:?}");
    assert_eq!(o.txn().state, TxnState::Released);
    assert!(o.patient_message().0.contains("预约保持不变"));
    assert_eq!(
        appointment(&s, &pid, &a.appointment_id).await.status,
        AppointmentStatus::Booked
    );
    // Then confirms.
    let p = s
        .runner
        .start(&who, cancel_intent(&a.appointment_id))
        .await
        .unwrap();
    assert!(
        s.runner.pay_nothing(p.txn.id).await.is_err(),
        "confirmed with confirm_cancel, never paid"
    );
    let o = s.runner.confirm_cancel(p.txn.id).await.unwrap();
    let Outcome::Completed { txn, printed } = &o else {
        panic!("{o:?}")
    };
    assert!(printed);
    assert_eq!(txn.amount, Money::ZERO);
    assert_eq!(
        o.patient_message(),
        (
            "预约已取消，无需退费。".to_string(),
            "Appointment cancelled; there was no fee to refund.".to_string()
        )
    );
    let after = appointment(&s, &pid, &a.appointment_id).await;
    assert_eq!(after.status, AppointmentStatus::Cancelled);
    assert_eq!(after.refund_due_fen, Money::ZERO);
    let text = s.receipts().text();
    assert!(
        text.contains("预约取消凭条") && text.contains("无需退费"),
        "{text}"
    );
    let sum = s.reconcile().await;
    assert_eq!(sum.mismatches, vec![], "{}", sum.mismatches_csv());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_is_refused_when_checked_in_started_paid_elsewhere_or_not_yours() {
    use kiosk::domain::AppointmentStatus;
    let s = Stack::start().await;
    let refused = |e: RunError, zh: &str, en: &str| {
        let RunError::Refused { id, .. } = &e else {
            panic!("{e}")
        };
        let m = e.patient_message();
        assert!(m.0.contains(zh), "{m:?}");
        assert!(m.1.contains(en), "{m:?}");
        *id
    };
    let first_of = |pid: String| {
        let c = s.his_client.clone();
        async move {
            c.appointments(&pid, None)
                .await
                .unwrap()
                .into_iter()
                .next()
                .unwrap()
        }
    };
    let mut ids = Vec::new();
    // Checked in (a same-day registration this morning).
    let (who, pid) = s.patient(70);
    let a = first_of(pid).await;
    assert_eq!(a.status, AppointmentStatus::CheckedIn);
    let e = s
        .runner
        .start(&who, cancel_intent(&a.appointment_id))
        .await
        .unwrap_err();
    ids.push(refused(e, "已签到", "checked in"));
    // Paid through the hospital's app: this kiosk cannot refund it.
    let (who, pid) = s.patient(60);
    let a = first_of(pid.clone()).await;
    assert!(a.fee_paid && a.status == AppointmentStatus::Booked);
    let e = s
        .runner
        .start(&who, cancel_intent(&a.appointment_id))
        .await
        .unwrap_err();
    ids.push(refused(e, "人工窗口", "not paid at this kiosk"));
    assert_eq!(
        appointment(&s, &pid, &a.appointment_id).await.status,
        AppointmentStatus::Booked,
        "not cancelled"
    );
    // Someone else's appointment.
    let (other, _) = s.patient(4);
    let e = s
        .runner
        .start(&other, cancel_intent(&a.appointment_id))
        .await
        .unwrap_err();
    ids.push(refused(e, "未找到", "not found"));
    // Started: seeded patient 65's unpaid booking this morning, at 12:30.
    let (who, pid) = s.patient(65);
    let a = first_of(pid).await;
    assert_eq!(a.status, AppointmentStatus::Booked);
    assert_eq!(a.date, today());
    s.his.advance(4 * 3600 + 1800).await;
    let e = s
        .runner
        .start(&who, cancel_intent(&a.appointment_id))
        .await
        .unwrap_err();
    ids.push(refused(e, "已开始", "begun"));
    for id in ids {
        let t = s.runner.with_journal(|j| j.get(id)).unwrap();
        assert_eq!(t.state, TxnState::Released);
        assert!(t.last_error.is_some());
    }
    let sum = s.reconcile().await;
    assert_eq!(sum.mismatches, vec![], "{}", sum.mismatches_csv());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancellation_refund_the_channel_refuses_goes_to_staff_with_a_voucher() {
    use kiosk::domain::AppointmentStatus;
    let s = Stack::start().await;
    let (who, pid) = s.patient(8);
    let booking = book_and_pay(&s, &who).await;
    let appt_id = booking.his_reference.clone().unwrap();
    s.pay_fault(
        serde_json::json!({"operation": "createRefund", "kind": "error", "status": 409,
                                    "code": "INVALID_STATE", "times": null}),
    )
    .await;
    let p = s.runner.start(&who, cancel_intent(&appt_id)).await.unwrap();
    let o = s.runner.confirm_cancel(p.txn.id).await.unwrap();
    let Outcome::NeedsStaff {
        txn,
        voucher_printed,
    } = &o
    else {
        panic!("{o:?}")
    };
    assert!(voucher_printed);
    assert_eq!(txn.state, TxnState::NeedsStaff);
    assert_eq!(
        appointment(&s, &pid, &appt_id).await.status,
        AppointmentStatus::Cancelled,
        "HIS cancelled it; the refund is what is left for staff"
    );
    let (zh, en) = o.patient_message();
    assert!(zh.contains("预约已取消") && zh.contains("人工窗口"), "{zh}");
    assert!(en.contains("did not go through"), "{en}");
    let text = s.receipts().text();
    assert!(text.contains("退费/补办凭证"), "{text}");
    assert!(
        text.contains(&booking.out_trade_no()),
        "the order staff refund: {text}"
    );
    assert!(text.contains(&kiosk_drivers::escpos::doc::for_paper(
        &booking.amount.to_string()
    )));
    let order = s
        .pay_client
        .query_order(&OutTradeNo::new(booking.out_trade_no()).unwrap())
        .await
        .unwrap();
    assert_eq!(order.refunded_fen, Money::ZERO);
    let sum = s.reconcile().await;
    assert_eq!(sum.unexplained(), 0, "{}", sum.mismatches_csv());
    assert_eq!(sum.mismatches.len(), 1, "listed for staff follow-up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ambiguous_his_cancel_is_resolved_by_its_key_not_done_twice() {
    let s = Stack::start().await;
    let (who, _) = s.patient(9);
    let booking = book_and_pay(&s, &who).await;
    let appt_id = booking.his_reference.clone().unwrap();
    let p = s.runner.start(&who, cancel_intent(&appt_id)).await.unwrap();
    // HIS cancels and the answer is lost; the client's retry under the
    // same key gets no answer either: the outcome is unknown to the runner.
    s.his
        .fault(serde_json::json!({"operation": "cancelAppointment", "kind": "lost_response", "times": 1}))
        .await;
    s.his
        .fault(serde_json::json!({"operation": "cancelAppointment", "kind": "timeout", "times": 1}))
        .await;
    let o = s.runner.confirm_cancel(p.txn.id).await.unwrap();
    let Outcome::Completed { txn, .. } = &o else {
        panic!("{o:?}")
    };
    assert!(
        txn.last_error
            .as_deref()
            .is_some_and(|e| e.contains("cancelAppointment")),
        "the lost answer was seen: {:?}",
        txn.last_error
    );
    assert_eq!(txn.amount, booking.amount);
    let ledger = s.his_client.ledger(today()).await.unwrap();
    let cancels = ledger
        .entries
        .iter()
        .filter(|e| e.idempotency_key.starts_with(&txn.key_base()))
        .count();
    assert_eq!(cancels, 1, "one cancel at HIS");
    let order = s
        .pay_client
        .query_order(&OutTradeNo::new(booking.out_trade_no()).unwrap())
        .await
        .unwrap();
    assert_eq!(order.refunded_fen, booking.amount);
    s.his.clear_faults().await;
    let sum = s.reconcile().await;
    assert_eq!(sum.mismatches, vec![], "{}", sum.mismatches_csv());
}

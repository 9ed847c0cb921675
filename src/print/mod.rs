//! Slips (凭条) laid out from HIS data for the receipt printer, 48 or 32
//! columns: registration / check-in slip, settlement receipt, reminder slip
//! (R7), cancellation slip, the NeedsStaff voucher and a report cover. Pure: data in, a
//! [`Doc`] out. Every number on a slip comes from HIS or the journal; names
//! and ID numbers are printed masked.

pub use kiosk_drivers::printer::{EscPosPrinter, Link, NoPrinter, PrinterError, ReceiptPrinter};

/// What the patient reads when a slip could not be printed.
pub fn print_failed_message() -> (&'static str, &'static str) {
    (
        "凭条打印失败，业务已办理成功，可到人工窗口补打凭条。",
        "The slip could not be printed. Your transaction is complete; a staffed window can reprint the slip.",
    )
}

use crate::domain::*;
use kiosk_drivers::escpos::doc::Doc;

/// What every slip carries at the top and bottom.
#[derive(Debug, Clone)]
pub struct Header {
    pub hospital_zh: String,
    pub hospital_en: String,
    pub kiosk_id: String,
    /// When it was printed, as it should read (`2026-11-23 09:12`).
    pub printed_at: String,
    pub service_phone: String,
}

/// Who the slip is for, already masked.
#[derive(Debug, Clone)]
pub struct Who {
    pub name_masked: String,
    pub id_masked: String,
}

impl Who {
    pub fn of(p: &Patient) -> Who {
        Who {
            name_masked: p.name_masked(),
            id_masked: p.id_number_masked.clone(),
        }
    }
}

fn channel_label(c: PayChannel) -> &'static str {
    match c {
        PayChannel::Wechat => "微信支付 WeChat Pay",
        PayChannel::Alipay => "支付宝 Alipay",
        PayChannel::Unionpay => "银联 UnionPay",
        PayChannel::Wallet => "健康卡钱包 Wallet",
        PayChannel::None => "无需支付 None",
    }
}

fn top(d: &mut Doc, h: &Header, title_zh: &str, title_en: &str) {
    d.title(&h.hospital_zh).center(&h.hospital_en).rule();
    d.big(title_zh).center(title_en).rule();
}

fn who(d: &mut Doc, w: &Who) {
    d.pair("姓名 Name", &w.name_masked)
        .pair("证件 ID", &w.id_masked);
}

fn bottom(d: &mut Doc, h: &Header, txn_no: &str) {
    d.rule()
        .pair("流水号 Txn", txn_no)
        .pair("自助机 Kiosk", &h.kiosk_id)
        .pair("打印时间 Printed", &h.printed_at)
        .text(&format!("咨询电话 Help: {}", h.service_phone))
        .text("请妥善保管此凭条 Please keep this slip.")
        .cut();
}

fn location_line(l: &Location) -> (String, String) {
    (l.description_zh.clone(), l.description_en.clone())
}

/// Department, doctor, date and time of a visit.
fn visit_lines(d: &mut Doc, a: &Appointment) {
    d.pair("科室 Dept", &a.department_name_zh)
        .pair("", &a.department_name_en)
        .pair(
            "医生 Doctor",
            &format!("{} {}", a.doctor_name, a.doctor_title_zh),
        )
        .pair("日期 Date", &a.date.to_string())
        .pair("时段 Time", &format!("{}-{}", a.start, a.end));
}

/// Registration or check-in slip: where to go, when, and the queue number.
pub fn appointment_slip(columns: usize, h: &Header, w: &Who, a: &Appointment, txn_no: &str) -> Doc {
    let mut d = Doc::new(columns);
    let (tz, te) = match (a.kind, a.status) {
        (AppointmentKind::Booking, AppointmentStatus::Booked) => ("预约凭条", "Booking slip"),
        (_, AppointmentStatus::CheckedIn) if a.kind == AppointmentKind::Booking => {
            ("签到凭条", "Check-in slip")
        }
        _ => ("挂号凭条", "Registration slip"),
    };
    top(&mut d, h, tz, te);
    who(&mut d, w);
    if let Some(q) = a.queue_number {
        d.big(&format!("{q} 号"))
            .center(&format!("Queue number {q}"));
    }
    visit_lines(&mut d, a);
    let (lz, le) = location_line(&a.location);
    d.bold(&format!("就诊地点: {lz}"))
        .text(&format!("Go to: {le}"));
    d.pair("费用 Fee", &a.fee_fen.to_string());
    match &a.payment {
        Some(p) => {
            d.pair("支付 Paid by", channel_label(p.channel));
        }
        None if !a.fee_paid => {
            d.pair("支付 Payment", "签到时支付 at check-in");
        }
        None => {}
    }
    if a.status == AppointmentStatus::Booked {
        d.text(&format!("请于 {} {} 前到自助机签到。", a.date, a.start))
            .text(&format!(
                "Check in at a kiosk before {} {}.",
                a.date, a.start
            ));
    }
    d.barcode(&a.appointment_id);
    bottom(&mut d, h, txn_no);
    d
}

/// What a cancellation slip states about the money, from the journal.
#[derive(Debug, Clone)]
pub struct CancelRefund {
    /// Refunded to the original payment (zero: nothing to refund).
    pub amount: Money,
    pub channel: Option<PayChannel>,
    /// The kiosk's refund number (`…X`).
    pub refund_no: Option<String>,
}

/// Cancellation slip: which appointment was cancelled (as HIS answered the
/// cancel) and what went back to which payment.
pub fn cancellation_slip(
    columns: usize,
    h: &Header,
    w: &Who,
    a: &Appointment,
    r: &CancelRefund,
    txn_no: &str,
) -> Doc {
    let mut d = Doc::new(columns);
    top(&mut d, h, "预约取消凭条", "Cancellation slip");
    who(&mut d, w);
    d.big("预约已取消").center("Appointment cancelled");
    d.pair("预约号 Appointment", &a.appointment_id);
    visit_lines(&mut d, a);
    d.rule();
    if r.amount > Money::ZERO {
        d.pair("退款金额 Refund", &r.amount.to_string()).pair(
            "退回 Refunded to",
            r.channel.map(channel_label).unwrap_or("-"),
        );
        if let Some(no) = &r.refund_no {
            d.pair("退款单号 Refund no.", no);
        }
        d.text("款项已原路退回，到账时间以支付渠道为准。").text(
            "Refunded to your original payment; when it arrives depends on your payment provider.",
        );
    } else {
        d.pair("退款 Refund", "无需退费 None due");
    }
    bottom(&mut d, h, txn_no);
    d
}

/// Settlement receipt: the items and the insurance / self-pay split.
pub fn settlement_receipt(
    columns: usize,
    h: &Header,
    w: &Who,
    bills: &[Bill],
    s: &Settlement,
    txn_no: &str,
) -> Doc {
    let mut d = Doc::new(columns);
    top(&mut d, h, "缴费凭条", "Payment receipt");
    who(&mut d, w);
    for b in bills.iter().filter(|b| s.bill_ids.contains(&b.bill_id)) {
        d.rule()
            .bold(&format!("{} {}", b.department_name_zh, b.doctor_name));
        for i in &b.items {
            d.text(&i.name_zh).pair(
                &format!("  {} x{}", i.spec, i.quantity),
                &i.amount_fen.to_string(),
            );
        }
    }
    d.rule()
        .pair("合计 Total", &s.total_fen.to_string())
        .pair("医保统筹 Insurance fund", &s.fund_pay_fen.to_string())
        .pair(
            "个人账户 Personal account",
            &s.personal_account_fen.to_string(),
        );
    if s.hospital_share_fen != Money::ZERO {
        d.pair("医院承担 Hospital", &s.hospital_share_fen.to_string());
    }
    d.big(&format!("自付 {}", s.self_pay_fen))
        .center(&format!("You paid {}", s.self_pay_fen))
        .pair("支付 Paid by", channel_label(s.payment.channel))
        .pair("结算号 Settlement", &s.settlement_id);
    bottom(&mut d, h, txn_no);
    d
}

/// Reminder slip (R7): where to go next, when, and what to mind, for
/// patients without a phone.
pub fn reminder_slip(columns: usize, h: &Header, w: &Who, steps: &[NextStep], txn_no: &str) -> Doc {
    let mut d = Doc::new(columns);
    top(&mut d, h, "就诊提醒", "What to do next");
    who(&mut d, w);
    for (n, s) in steps.iter().enumerate() {
        d.rule()
            .bold(&format!("{}. {}", n + 1, s.what.zh))
            .text(&format!("   {}", s.what.en));
        let (lz, le) = location_line(&s.location);
        d.bold(&format!("地点: {lz}")).text(&format!("Where: {le}"));
        if let Some(t) = &s.time {
            d.pair("时间 When", t);
        }
        for p in &s.precautions {
            d.text(&format!("* {}", p.zh)).text(&format!("  {}", p.en));
        }
    }
    bottom(&mut d, h, txn_no);
    d
}

/// What a NeedsStaff voucher states.
#[derive(Debug, Clone)]
pub struct Voucher {
    pub amount: Money,
    pub channel: Option<PayChannel>,
    pub out_trade_no: String,
    pub reason: String,
}

/// The voucher a patient takes to a staffed window when the kiosk took money
/// it could neither post nor return.
pub fn needs_staff_voucher(columns: usize, h: &Header, w: &Who, v: &Voucher, txn_no: &str) -> Doc {
    let Voucher {
        amount,
        channel,
        out_trade_no,
        reason,
    } = v;
    let (amount, channel) = (*amount, *channel);
    let mut d = Doc::new(columns);
    top(&mut d, h, "退费/补办凭证", "Voucher for the staffed window");
    who(&mut d, w);
    d.big(&format!("已付 {amount}"))
        .center(&format!("You paid {amount}"))
        .pair("支付 Paid by", channel.map(channel_label).unwrap_or("-"))
        .pair("订单号 Order", out_trade_no)
        .text(&format!("原因 Reason: {reason}"))
        .bold("您的钱款安全。请持本凭证到人工收费窗口办理，工作人员将为您完成业务或退款。")
        .text("Your money is safe. Take this voucher to a staffed cashier window; staff will complete the service or refund you.")
        .barcode(out_trade_no);
    bottom(&mut d, h, txn_no);
    d
}

/// Cover sheet printed on the receipt printer when reports go to the A4 printer.
pub fn report_cover(columns: usize, h: &Header, w: &Who, reports: &[Report], txn_no: &str) -> Doc {
    let mut d = Doc::new(columns);
    top(&mut d, h, "报告打印清单", "Reports printed");
    who(&mut d, w);
    for r in reports {
        d.bold(&r.title_zh).text(&format!("  {}", r.title_en)).pair(
            &format!("  {} 页 pages", r.pages),
            &format!("第{}次 print #{}", r.print_count + 1, r.print_count + 1),
        );
    }
    d.text("请到A4打印机出纸口取报告。")
        .text("Collect your reports from the A4 printer tray.");
    bottom(&mut d, h, txn_no);
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiosk_drivers::escpos::doc::{display_width, Block};
    use kiosk_drivers::escpos::parse::parse;

    fn header() -> Header {
        Header {
            hospital_zh: "宁波市第一人民医院".into(),
            hospital_en: "Ningbo First Hospital".into(),
            kiosk_id: "K01".into(),
            printed_at: "2026-11-23 09:12".into(),
            service_phone: "0574-87085588".into(),
        }
    }

    fn who() -> Who {
        Who {
            name_masked: "张*三".into(),
            id_masked: "3302**********1234".into(),
        }
    }

    fn loc() -> Location {
        Location {
            building: "门诊楼".into(),
            floor: 3,
            room: "305".into(),
            description_zh: "门诊楼3楼东区305诊室".into(),
            description_en: "Outpatient building, floor 3 east, room 305".into(),
        }
    }

    fn appt() -> Appointment {
        Appointment {
            appointment_id: "A20261123000017".into(),
            patient_id: "P000017".into(),
            kind: AppointmentKind::Registration,
            status: AppointmentStatus::CheckedIn,
            schedule_id: "C1".into(),
            slot_id: "S1".into(),
            department_id: "D05".into(),
            department_name_zh: "眼科".into(),
            department_name_en: "Ophthalmology".into(),
            doctor_name: "王明".into(),
            doctor_title_zh: "主治医师".into(),
            date: chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            start: ClockTime::new(9, 30).unwrap(),
            end: ClockTime::new(9, 45).unwrap(),
            fee_fen: Money::from_fen(1500),
            fee_paid: true,
            queue_number: Some(17),
            location: loc(),
            payment: Some(PaymentRef {
                channel: PayChannel::Wechat,
                trade_no: "K0120261123000017".into(),
                amount_fen: Money::from_fen(1500),
                paid_at: chrono::DateTime::parse_from_rfc3339("2026-11-23T09:12:00+08:00").unwrap(),
            }),
            refund_due_fen: Money::ZERO,
        }
    }

    fn fits(d: &Doc) {
        for b in &d.blocks {
            if let Block::Text { text, double, .. } = b {
                let w = display_width(text) * if *double { 2 } else { 1 };
                assert!(w <= d.columns, "{w} > {}: {text}", d.columns);
            }
        }
    }

    #[test]
    fn slips_printed_through_the_tcp_driver_come_back_readable_from_the_printer() {
        use kiosk_drivers::sim::printer::PrinterSim;
        let sim = PrinterSim::start("127.0.0.1:0").unwrap();
        for cols in [48, 32] {
            let p = EscPosPrinter::new(
                Link::Tcp(sim.addr().to_string()),
                cols,
                std::time::Duration::from_secs(2),
            );
            let slip = appointment_slip(cols, &header(), &who(), &appt(), "K01-20261123-000017");
            p.print(&slip).unwrap();
            let steps = vec![NextStep {
                what: Text {
                    zh: "到药房取药".into(),
                    en: "Collect medicine at the pharmacy".into(),
                },
                location: loc(),
                time: None,
                precautions: vec![],
            }];
            p.print(&reminder_slip(
                cols,
                &header(),
                &who(),
                &steps,
                "K01-20261123-000017",
            ))
            .unwrap();
        }
        let slips = sim.wait_slips(4, std::time::Duration::from_secs(3));
        assert_eq!(slips.len(), 4);
        for s in &slips {
            assert!(s.complete);
            let text = s.text();
            assert!(text.contains("宁波市第一人民医院"), "{text}");
            assert!(text.contains("门诊楼3楼东区305诊室"), "{text}");
        }
        assert!(slips[0].text().contains("挂号凭条") && slips[0].text().contains("￥15.00"));
        assert!(slips[1].text().contains("到药房取药"));
        assert!(sim.garbage().is_empty());
    }

    #[test]
    fn registration_slip_says_where_when_and_which_number() {
        for cols in [48, 32] {
            let d = appointment_slip(cols, &header(), &who(), &appt(), "K01-20261123-000017");
            fits(&d);
            let r = parse(&d.to_escpos().unwrap()).unwrap();
            let text = r.text();
            for needle in [
                "宁波市第一人民医院",
                "挂号凭条",
                "张*三",
                "3302**********1234",
                "17 号",
                "眼科",
                "王明",
                "09:30-09:45",
                "门诊楼3楼东区305诊室",
                "￥15.00",
                "微信支付",
            ] {
                assert!(
                    text.contains(needle),
                    "{cols} columns: no {needle} in\n{text}"
                );
            }
            assert!(!text.contains("330203199001011234"));
            assert_eq!(r.cuts(), 1);
        }
    }

    #[test]
    fn reminder_lists_each_step_with_place_and_precautions() {
        let steps = vec![
            NextStep {
                what: Text {
                    zh: "取药".into(),
                    en: "Collect your medicine".into(),
                },
                location: Location {
                    description_zh: "门诊楼1楼西药房3号窗口".into(),
                    description_en: "Western pharmacy window 3, floor 1".into(),
                    ..loc()
                },
                time: None,
                precautions: vec![],
            },
            NextStep {
                what: Text {
                    zh: "腹部彩超".into(),
                    en: "Abdominal ultrasound".into(),
                },
                location: Location {
                    description_zh: "医技楼2楼超声科".into(),
                    description_en: "Medical technology building floor 2, ultrasound".into(),
                    ..loc()
                },
                time: Some("今天 14:00 前 / today before 14:00".into()),
                precautions: vec![Text {
                    zh: "检查前空腹8小时".into(),
                    en: "Fast for 8 hours before the exam".into(),
                }],
            },
        ];
        let d = reminder_slip(32, &header(), &who(), &steps, "K01-20261123-000018");
        fits(&d);
        let text = parse(&d.to_escpos().unwrap()).unwrap().text();
        for needle in [
            "就诊提醒",
            "1. 取药",
            "西药房3号窗口",
            "2. 腹部彩超",
            "空腹8小时",
            "14:00",
        ] {
            assert!(text.contains(needle), "no {needle} in\n{text}");
        }
    }

    #[test]
    fn cancellation_slip_names_the_appointment_and_the_refund() {
        let mut a = appt();
        a.kind = AppointmentKind::Booking;
        a.status = AppointmentStatus::Cancelled;
        a.queue_number = None;
        a.refund_due_fen = Money::from_fen(1500);
        let refund = CancelRefund {
            amount: Money::from_fen(1500),
            channel: Some(PayChannel::Wechat),
            refund_no: Some("K0120261123000017X".into()),
        };
        for cols in [48, 32] {
            let d = cancellation_slip(cols, &header(), &who(), &a, &refund, "K01-20261123-000020");
            fits(&d);
            let r = parse(&d.to_escpos().unwrap()).unwrap();
            let text = r.text();
            for needle in [
                "预约取消凭条",
                "预约已取消",
                "A20261123000017",
                "眼科",
                "王明",
                "2026-11-23",
                "09:30-09:45",
                "￥15.00",
                "微信支付",
                "K0120261123000017X",
                "原路退回",
                "K01-20261123-000020",
            ] {
                assert!(
                    text.contains(needle),
                    "{cols} columns: no {needle} in\n{text}"
                );
            }
            assert_eq!(r.cuts(), 1);
        }
        let none = CancelRefund {
            amount: Money::ZERO,
            channel: None,
            refund_no: None,
        };
        let text = parse(
            &cancellation_slip(48, &header(), &who(), &a, &none, "K01-20261123-000021")
                .to_escpos()
                .unwrap(),
        )
        .unwrap()
        .text();
        assert!(text.contains("无需退费"), "{text}");
        assert!(!text.contains("原路退回"), "{text}");
    }

    #[test]
    fn voucher_tells_the_patient_their_money_is_safe() {
        let v = Voucher {
            amount: Money::from_fen(12850),
            channel: Some(PayChannel::Alipay),
            out_trade_no: "K0120261123000019".into(),
            reason: "HIS refused; refund failed".into(),
        };
        let d = needs_staff_voucher(48, &header(), &who(), &v, "K01-20261123-000019");
        fits(&d);
        let r = parse(&d.to_escpos().unwrap()).unwrap();
        let text = r.text();
        assert!(
            text.contains("已付 ￥128.50")
                && text.contains("钱款安全")
                && text.contains("K0120261123000019"),
            "{text}"
        );
    }
}

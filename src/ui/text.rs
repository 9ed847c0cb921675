//! Text the Rust side puts on screen, in both languages. Everything a
//! patient reads about money, time and place is formatted here from HIS
//! data (never invented); fixed UI labels live in the .slint files (@tr).

use super::{Choice, SlotData};
use crate::domain::{Appointment, Bill, IdNumberError, Schedule, Session, Slot};
use crate::txn::{Outcome, Prepared, TxnKind};
use chrono::{Datelike, NaiveDate, Timelike};

/// A text in Chinese and English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L(pub &'static str, pub &'static str);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn from_code(code: &str) -> Lang {
        if code.starts_with("en") {
            Lang::En
        } else {
            Lang::Zh
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh_CN",
            Lang::En => "en",
        }
    }
}

pub fn t(lang: Lang, l: L) -> &'static str {
    match lang {
        Lang::Zh => l.0,
        Lang::En => l.1,
    }
}

fn pick(lang: Lang, zh: &str, en: &str) -> String {
    match lang {
        Lang::Zh => zh.to_string(),
        Lang::En => en.to_string(),
    }
}

pub fn id_error_zh(e: &IdNumberError) -> String {
    match e {
        IdNumberError::Length(n) => format!("应为18位，现为{n}位"),
        IdNumberError::Character(p) => format!("第{p}位字符有误"),
        IdNumberError::Region(r) => format!("地区码{r}不存在"),
        IdNumberError::BirthDate(d) | IdNumberError::FutureBirthDate(d) => {
            format!("出生日期{d}有误")
        }
        IdNumberError::CheckDigit { .. } => "校验位不符".into(),
    }
}

pub fn weekday(lang: Lang, d: NaiveDate) -> String {
    let i = d.weekday().num_days_from_monday() as usize;
    match lang {
        Lang::Zh => ["周一", "周二", "周三", "周四", "周五", "周六", "周日"][i].into(),
        Lang::En => ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][i].into(),
    }
}

fn session(lang: Lang, s: Session) -> String {
    match (lang, s) {
        (Lang::Zh, Session::Morning) => "上午".into(),
        (Lang::Zh, Session::Afternoon) => "下午".into(),
        (Lang::En, Session::Morning) => "Morning".into(),
        (Lang::En, Session::Afternoon) => "Afternoon".into(),
    }
}

fn left(lang: Lang, n: u32) -> String {
    match lang {
        Lang::Zh => format!("余 {n}"),
        Lang::En => format!("{n} left"),
    }
}

pub fn doctor_detail(lang: Lang, s: &Schedule) -> String {
    let specialty = pick(lang, &s.doctor.specialty_zh, &s.doctor.specialty_en);
    let place = pick(lang, &s.location.description_zh, &s.location.description_en);
    format!(
        "{} · {} · {} {}-{} · {}",
        s.doctor.title_zh,
        specialty,
        session(lang, s.session),
        s.start,
        s.end,
        place
    )
}

pub fn doctor_choice(lang: Lang, s: &Schedule) -> Choice {
    Choice {
        id: s.schedule_id.clone().into(),
        title: format!("{}  {}", s.doctor.name, s.doctor.title_zh).into(),
        detail: format!(
            "{} · {} {}-{} · {}",
            pick(lang, &s.doctor.specialty_zh, &s.doctor.specialty_en),
            session(lang, s.session),
            s.start,
            s.end,
            if s.remaining == 0 {
                pick(lang, "已满", "Full")
            } else {
                left(lang, s.remaining)
            }
        )
        .into(),
        right: s.fee_fen.to_string().into(),
        enabled: s.remaining > 0,
        selected: false,
    }
}

/// `past`: the window has started already (today), so it is not offered.
pub fn slot_data(lang: Lang, s: &Slot, past: bool) -> SlotData {
    let enabled = s.remaining > 0 && !past;
    SlotData {
        id: s.slot_id.clone().into(),
        time: format!("{}–{}", s.start, s.end).into(),
        left: if past {
            pick(lang, "已过", "Passed")
        } else if s.remaining == 0 {
            pick(lang, "已满", "Full")
        } else {
            left(lang, s.remaining)
        }
        .into(),
        enabled,
        morning: s.start.time().hour() < 12,
    }
}

pub fn appointment_choice(lang: Lang, a: &Appointment) -> Choice {
    Choice {
        id: a.appointment_id.clone().into(),
        title: format!(
            "{} {} {}",
            pick(lang, &a.department_name_zh, &a.department_name_en),
            a.doctor_name,
            a.doctor_title_zh
        )
        .into(),
        detail: format!(
            "{} {}–{} · {}",
            a.date,
            a.start,
            a.end,
            pick(lang, &a.location.description_zh, &a.location.description_en)
        )
        .into(),
        right: if a.fee_paid {
            pick(lang, "已付费", "Paid")
        } else {
            a.fee_fen.to_string()
        }
        .into(),
        enabled: true,
        selected: false,
    }
}

pub fn bill_choice(lang: Lang, b: &Bill) -> Choice {
    let items: Vec<String> = b
        .items
        .iter()
        .take(3)
        .map(|i| pick(lang, &i.name_zh, &i.name_en))
        .collect();
    let more = if b.items.len() > 3 {
        pick(lang, " 等", " and more")
    } else {
        String::new()
    };
    Choice {
        id: b.bill_id.clone().into(),
        title: format!(
            "{} {}",
            pick(lang, &b.department_name_zh, &b.department_name_en),
            b.doctor_name
        )
        .into(),
        detail: format!("{}{more}", items.join("、")).into(),
        right: b.total_fen.to_string().into(),
        enabled: true,
        selected: false,
    }
}

/// What the payment is for, one line.
pub fn what(lang: Lang, p: &Prepared, context: Option<&str>) -> String {
    if let Some(a) = &p.appointment {
        return format!(
            "{} {} {} {}–{}",
            pick(lang, &a.department_name_zh, &a.department_name_en),
            a.doctor_name,
            a.date,
            a.start,
            a.end
        );
    }
    if let Some(c) = context {
        return c.to_string();
    }
    match p.txn.kind {
        TxnKind::Settlement => pick(lang, "门诊费用结算", "Outpatient bills"),
        TxnKind::CheckIn => pick(lang, "预约签到", "Check-in"),
        _ => pick(lang, "挂号费", "Registration fee"),
    }
}

/// How a transaction ended, as the patient is told: (ok, title, message, next step).
pub fn outcome(lang: Lang, o: &Outcome) -> (bool, L, String, String) {
    if o.txn().kind == TxnKind::Cancellation {
        // The runner words a cancellation itself: what happened to the
        // booking and to the money (refunded, nothing to refund, voucher).
        let (zh, en) = o.patient_message();
        let (ok, title, next) = match o {
            Outcome::Completed { .. } => (
                true,
                L("预约已取消", "Appointment cancelled"),
                String::new(),
            ),
            Outcome::NotPaid { .. } | Outcome::Refunded { .. } => {
                (false, L("未能取消", "Not cancelled"), String::new())
            }
            Outcome::NeedsStaff { txn, .. } => (
                false,
                L(
                    "请到人工窗口领取退款",
                    "Please collect your refund at a staffed window",
                ),
                txn.key_base(),
            ),
            Outcome::Pending { txn, .. } => {
                (false, L("正在处理", "Still processing"), txn.key_base())
            }
        };
        return (ok, title, pick(lang, &zh, &en), next);
    }
    match o {
        Outcome::Completed { txn, printed } => {
            let title = match txn.kind {
                TxnKind::Registration => L("挂号成功", "You are registered"),
                TxnKind::Booking => L("预约成功", "Appointment booked"),
                TxnKind::CheckIn => L("签到成功", "You are checked in"),
                TxnKind::Settlement => L("缴费成功", "Payment complete"),
                TxnKind::Cancellation => L("预约已取消", "Appointment cancelled"),
            };
            let paid = if txn.amount.fen() > 0 {
                match lang {
                    Lang::Zh => format!("已支付 {}。", txn.amount),
                    Lang::En => format!("You paid {}.", txn.amount),
                }
            } else {
                String::new()
            };
            let slip = if *printed {
                pick(lang, "请取走凭条。", "Please take your slip.")
            } else {
                pick(
                    lang,
                    "凭条未能打印，业务已办理成功，可到人工窗口补打。",
                    "The slip could not be printed. Your transaction is complete; a staffed window can reprint it.",
                )
            };
            let next = next_step(lang, txn);
            (true, title, format!("{paid}{slip}"), next)
        }
        Outcome::NotPaid { reason, refunded, .. } => {
            let money = if *refunded {
                pick(lang, "已扣款项已全额退回。", "The money taken has been returned in full.")
            } else {
                pick(lang, "未扣款。", "Nothing was charged.")
            };
            (
                false,
                L("未能办理", "Not done"),
                pick(lang, &reason.0, &reason.1),
                money,
            )
        }
        Outcome::Refunded { reason, .. } => (
            false,
            L("未能办理，已退款", "Not done, money returned"),
            pick(lang, &reason.0, &reason.1),
            pick(
                lang,
                "您支付的款项已原路全额退回，请留意到账通知。",
                "What you paid has been refunded in full to the same account.",
            ),
        ),
        Outcome::NeedsStaff { txn, voucher_printed } => (
            false,
            L("请到人工窗口", "Please go to a staffed window"),
            match lang {
                Lang::Zh => format!(
                    "您已支付 {}，但医院系统未能办理，退款也未完成。您的钱款安全，请凭{}到人工窗口处理。",
                    txn.amount,
                    if *voucher_printed { "凭证" } else { "交易号" }
                ),
                Lang::En => format!(
                    "You paid {}, but the hospital system could not complete it and the refund did not go through. Your money is safe: take {} to a staffed window.",
                    txn.amount,
                    if *voucher_printed { "the voucher" } else { "this transaction number" }
                ),
            },
            txn.key_base(),
        ),
        Outcome::Pending { reason, txn } => (
            false,
            L("正在处理", "Still processing"),
            pick(lang, &reason.0, &reason.1),
            match lang {
                Lang::Zh => format!("交易号 {}。如有疑问请到人工窗口。", txn.key_base()),
                Lang::En => format!("Transaction {}. Ask at a staffed window if in doubt.", txn.key_base()),
            },
        ),
    }
}

/// Where to go next, from HIS's answer (R7, R11).
fn next_step(lang: Lang, txn: &crate::txn::Txn) -> String {
    let Some(result) = txn.his_result.as_deref() else {
        return String::new();
    };
    if txn.kind == TxnKind::Settlement {
        if let Ok(s) = serde_json::from_str::<crate::domain::Settlement>(result) {
            return s
                .next_steps
                .iter()
                .map(|n| {
                    format!(
                        "{}：{}",
                        pick(lang, &n.what.zh, &n.what.en),
                        pick(lang, &n.location.description_zh, &n.location.description_en)
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
        }
        return String::new();
    }
    match serde_json::from_str::<Appointment>(result) {
        Ok(a) => {
            let place = pick(lang, &a.location.description_zh, &a.location.description_en);
            let queue = a
                .queue_number
                .map(|q| match lang {
                    Lang::Zh => format!("，{q}号"),
                    Lang::En => format!(", number {q}"),
                })
                .unwrap_or_default();
            match lang {
                Lang::Zh => format!("{} {}–{} 请到 {}{queue}", a.date, a.start, a.end, place),
                Lang::En => format!("{} {}–{}: go to {}{queue}", a.date, a.start, a.end, place),
            }
        }
        Err(_) => String::new(),
    }
}

/// The QR a phone scans to pay, as an image (black modules, 4-module quiet zone).
pub fn qr_image(data: &str) -> slint::Image {
    let Ok(code) = qrcode::QrCode::new(data.as_bytes()) else {
        return slint::Image::default();
    };
    let n = code.width();
    let quiet = 4;
    let scale = 8;
    let side = (n + 2 * quiet) * scale;
    let colors = code.to_colors();
    let mut buf = slint::SharedPixelBuffer::<slint::Rgb8Pixel>::new(side as u32, side as u32);
    let px = buf.make_mut_slice();
    for y in 0..side {
        for x in 0..side {
            let (mx, my) = (
                (x / scale) as isize - quiet as isize,
                (y / scale) as isize - quiet as isize,
            );
            let dark = mx >= 0
                && my >= 0
                && (mx as usize) < n
                && (my as usize) < n
                && colors[my as usize * n + mx as usize] == qrcode::Color::Dark;
            let v = if dark { 0 } else { 255 };
            px[y * side + x] = slint::Rgb8Pixel { r: v, g: v, b: v };
        }
    }
    slint::Image::from_rgb8(buf)
}

pub fn category(lang: Lang, c: crate::domain::ItemCategory) -> &'static str {
    use crate::domain::ItemCategory as C;
    t(
        lang,
        match c {
            C::Drug => L("药品", "Drug"),
            C::Lab => L("检验", "Lab test"),
            C::Exam => L("检查", "Exam"),
            C::Treatment => L("治疗", "Treatment"),
            C::Material => L("材料", "Material"),
            C::Registration => L("挂号", "Registration"),
        },
    )
}

/// The insurance catalogue class as patients know it (甲类 / 乙类 / 自费).
pub fn insurance_class(lang: Lang, c: crate::domain::InsuranceClass) -> &'static str {
    use crate::domain::InsuranceClass as I;
    t(
        lang,
        match c {
            I::A => L("医保甲类", "Insurance class A"),
            I::B => L("医保乙类", "Insurance class B"),
            I::C => L("自费", "Self-pay"),
        },
    )
}

/// A bill in the query list (paid or not), with its date.
pub fn bill_history_choice(lang: Lang, b: &Bill) -> Choice {
    let mut c = bill_choice(lang, b);
    let status = match b.status {
        crate::domain::BillStatus::Paid => pick(lang, "已缴费", "Paid"),
        _ => pick(lang, "待缴费", "Unpaid"),
    };
    c.detail = format!(
        "{} · {status} · {}",
        b.created_at.format("%Y-%m-%d %H:%M"),
        c.detail
    )
    .into();
    c
}

/// One line of a bill: name, spec, quantity × price, class; the amount.
pub fn bill_item_row(lang: Lang, i: &crate::domain::BillItem) -> Choice {
    Choice {
        id: i.item_id.clone().into(),
        title: pick(lang, &i.name_zh, &i.name_en).into(),
        detail: format!(
            "{}{} × {} · {} · {}",
            i.quantity,
            i.unit,
            i.unit_price_fen,
            if i.spec.is_empty() { "-" } else { &i.spec },
            insurance_class(lang, i.insurance_class)
        )
        .into(),
        right: i.amount_fen.to_string().into(),
        enabled: true,
        selected: false,
    }
}

/// One row of the price list (R9).
pub fn price_row(lang: Lang, p: &crate::domain::PriceItem) -> Choice {
    let name = match lang {
        Lang::Zh => p.name_zh.clone(),
        Lang::En => format!("{} ({})", p.name_en, p.name_zh),
    };
    Choice {
        id: p.code.clone().into(),
        title: name.into(),
        detail: format!(
            "{} · {}{} · {} · {}",
            category(lang, p.category),
            if p.spec.is_empty() {
                String::new()
            } else {
                format!("{} · ", p.spec)
            },
            p.unit,
            insurance_class(lang, p.insurance_class),
            p.code
        )
        .into(),
        right: format!("{}/{}", p.price_fen, p.unit).into(),
        enabled: true,
        selected: false,
    }
}

/// A report in the list: printable ones can be ticked.
pub fn report_choice(
    lang: Lang,
    r: &crate::domain::Report,
    max_prints: u32,
    selected: bool,
) -> Choice {
    use crate::domain::{ReportKind, ReportStatus};
    let kind = match r.kind {
        ReportKind::Lab => pick(lang, "检验", "Lab"),
        ReportKind::Exam => pick(lang, "检查", "Exam"),
    };
    let (detail, right) = match r.status {
        ReportStatus::Pending => (
            match (lang, r.expected_at) {
                (Lang::Zh, Some(t)) => format!("预计 {} 出报告", t.format("%m-%d %H:%M")),
                (Lang::En, Some(t)) => format!("Expected {}", t.format("%m-%d %H:%M")),
                (_, None) => pick(lang, "报告尚未出具", "Not ready yet"),
            },
            pick(lang, "未出报告", "Pending"),
        ),
        ReportStatus::Ready if r.print_count >= max_prints => (
            match lang {
                Lang::Zh => format!(
                    "已打印 {} 次，已达自助打印上限，如需补打请到人工窗口",
                    r.print_count
                ),
                Lang::En => format!(
                    "Printed {} times, the kiosk's limit. A staffed window can reprint it.",
                    r.print_count
                ),
            },
            pick(lang, "已打印", "Printed"),
        ),
        ReportStatus::Ready => (
            match (lang, r.ready_at) {
                (Lang::Zh, Some(t)) => format!(
                    "{} 出报告 · {} 页{}",
                    t.format("%m-%d %H:%M"),
                    r.pages,
                    if r.print_count > 0 {
                        format!(" · 已打印 {} 次", r.print_count)
                    } else {
                        String::new()
                    }
                ),
                (Lang::En, Some(t)) => format!(
                    "Ready {} · {} page(s){}",
                    t.format("%m-%d %H:%M"),
                    r.pages,
                    if r.print_count > 0 {
                        format!(" · printed {} time(s)", r.print_count)
                    } else {
                        String::new()
                    }
                ),
                (_, None) => String::new(),
            },
            if selected {
                pick(lang, "☑ 打印", "☑ Print")
            } else {
                pick(lang, "☐ 不打印", "☐ Skip")
            },
        ),
    };
    Choice {
        id: r.report_id.clone().into(),
        title: format!("{kind} · {}", pick(lang, &r.title_zh, &r.title_en)).into(),
        detail: format!("{} · {detail}", r.department_name_zh).into(),
        right: right.into(),
        enabled: r.can_print(max_prints),
        selected,
    }
}

/// The floor guide (R11): every building and floor that HIS's departments
/// are on, top floor first, with the destination's floor marked. Nothing
/// here is invented: floors without a department are not drawn.
pub fn floors(
    lang: Lang,
    depts: &[crate::domain::Department],
    dest: Option<&crate::domain::Location>,
) -> Vec<super::MapFloor> {
    use std::collections::BTreeMap;
    let mut by: BTreeMap<(String, std::cmp::Reverse<i32>), Vec<String>> = BTreeMap::new();
    for d in depts {
        let l = &d.location;
        by.entry((l.building.clone(), std::cmp::Reverse(l.floor)))
            .or_default()
            .push(format!("{} {}", pick(lang, &d.name_zh, &d.name_en), l.room));
    }
    if let Some(l) = dest {
        // A place no department is on (a pharmacy, a lab) still gets its floor.
        by.entry((l.building.clone(), std::cmp::Reverse(l.floor)))
            .or_insert_with(|| vec![pick(lang, &l.description_zh, &l.description_en)]);
    }
    let mut out = Vec::new();
    let mut last = None;
    for ((building, floor), names) in by {
        let first = last.as_ref() != Some(&building);
        last = Some(building.clone());
        let here = dest.is_some_and(|l| l.building == building && l.floor == floor.0);
        out.push(super::MapFloor {
            building: if first {
                building.clone().into()
            } else {
                "".into()
            },
            floor: if floor.0 < 0 {
                format!("B{}", -floor.0)
            } else {
                format!("{}F", floor.0)
            }
            .into(),
            names: names.join("  ·  ").into(),
            here,
        });
    }
    out
}

/// Where the patient goes after a transaction, from HIS's answer.
pub fn destination(txn: &crate::txn::Txn) -> Option<crate::domain::Location> {
    if !matches!(
        txn.kind,
        TxnKind::Registration | TxnKind::Booking | TxnKind::CheckIn | TxnKind::Settlement
    ) {
        return None; // a cancellation sends nobody anywhere
    }
    let result = txn.his_result.as_deref()?;
    if txn.kind == TxnKind::Settlement {
        let s = serde_json::from_str::<crate::domain::Settlement>(result).ok()?;
        return s.next_steps.first().map(|n| n.location.clone());
    }
    serde_json::from_str::<Appointment>(result)
        .ok()
        .map(|a| a.location)
}

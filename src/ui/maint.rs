//! The technician's maintenance screens, inside the kiosk UI.
//!
//! Entry: five taps on the header logo within three seconds on the home
//! screen, then a technician PIN (src/maint.rs: argon2id, lockout, audit).
//! The screens reuse the list, detail and result screens; every action is
//! audited (who, what; never patient data). Home or the idle timeout
//! (`maintenance.idle_timeout_secs`) logs the technician out.

use super::text::{t, L};
use super::{
    post, Choice, Controller, DetailAction, DetailPage, IdentifyPage, Lang, ListKind, Msg,
    ResultPage, Screen, Session,
};
use crate::maint::Login;
use crate::txn::{Mode, Txn, TxnState};
use kiosk_drivers::Health;
use slint::ComponentHandle;
use std::time::{Duration, Instant};

/// Taps on the logo that open the technician login, within this long.
const LOGO_TAPS: usize = 5;
const LOGO_WINDOW: Duration = Duration::from_secs(3);

/// The maintenance menu's entries.
const MENU: [(&str, L, L); 13] = [
    (
        "devices",
        L("设备状态", "Device health"),
        L("每台设备的状态和原因", "Each device's state and why"),
    ),
    (
        "print",
        L("测试打印凭条", "Test print a slip"),
        L("打印一张测试凭条", "Print a test slip"),
    ),
    (
        "print-a4",
        L("测试 A4 打印", "Test A4 print"),
        L("打印一页测试报告", "Print a test page"),
    ),
    (
        "read",
        L("测试读卡", "Test the card reader"),
        L("10 秒内放一张身份证", "Place an ID card within 10 s"),
    ),
    (
        "scan",
        L("测试扫码", "Test the scanner"),
        L("10 秒内扫一个码", "Scan a code within 10 s"),
    ),
    (
        "paper",
        L("已更换纸卷", "Paper roll replaced"),
        L(
            "记录换纸并重新检查打印机",
            "Record it and check the printer again",
        ),
    ),
    (
        "txns",
        L("待处理交易", "Transactions to handle"),
        L(
            "未完成或需人工处理的交易",
            "Unfinished, or waiting for staff",
        ),
    ),
    (
        "totals",
        L("今日汇总", "Today's totals"),
        L("按业务和支付渠道", "By service and payment channel"),
    ),
    (
        "reconcile",
        L("对账", "Reconcile today"),
        L(
            "本机流水、支付渠道、医院账目三方核对",
            "Journal, payment channel and HIS ledger",
        ),
    ),
    (
        "service",
        L("暂停 / 恢复服务", "Out of service / back"),
        L(
            "暂停时患者看到所选的提示",
            "Patients see the notice you choose",
        ),
    ),
    (
        "log",
        L("最近日志", "Recent log"),
        L("已隐去身份证号和手机号", "ID and phone numbers masked"),
    ),
    (
        "about",
        L("版本和配置", "Versions and config"),
        L(
            "软件版本、本机编号、数据位置",
            "Software version, kiosk id, data",
        ),
    ),
    (
        "restart",
        L("重启自助机软件", "Restart the kiosk software"),
        L(
            "退出后由 systemd 重新启动",
            "It exits and systemd starts it again",
        ),
    ),
];

impl Controller {
    /// One tap on the logo; five quick ones on the home screen open the login.
    pub(super) fn logo_tapped(&self) {
        if self.window.global::<Session>().get_screen() != Screen::Home {
            return;
        }
        let now = Instant::now();
        let open = {
            let mut taps = self.logo_taps.borrow_mut();
            taps.retain(|t| now.duration_since(*t) < LOGO_WINDOW);
            taps.push(now);
            if taps.len() >= LOGO_TAPS {
                taps.clear();
                true
            } else {
                false
            }
        };
        if open {
            self.ask_pin();
        }
    }

    fn ask_pin(&self) {
        let p = self.window.global::<IdentifyPage>();
        p.set_pin(true);
        p.set_phone(false);
        p.set_typed("".into());
        p.set_error("".into());
        p.set_complete(false);
        let n = self.cfg.maintenance.max_failures;
        p.set_hint(
            match self.l() {
                Lang::Zh => format!("仅限医院信息科技术人员。连续输错 {n} 次将锁定。"),
                Lang::En => format!("Hospital IT technicians only. {n} wrong PINs lock the login."),
            }
            .into(),
        );
        self.pin.borrow_mut().clear();
        self.window
            .global::<Session>()
            .set_service(self.tr(L("维护登录", "Technician login")));
        // `show` keeps the card readers off while the PIN pad is up.
        self.show(Screen::Identify);
    }

    /// A key on the PIN pad: digits are kept here, the screen shows dots.
    pub(super) fn pin_key(&self, k: &str) {
        let mut pin = self.pin.borrow_mut();
        match k {
            "⌫" => {
                pin.pop();
            }
            d if d.len() == 1 && d.as_bytes()[0].is_ascii_digit() && pin.len() < 12 => {
                pin.push_str(d)
            }
            _ => {}
        }
        let p = self.window.global::<IdentifyPage>();
        p.set_typed("●".repeat(pin.len()).into());
        p.set_complete(pin.len() >= 6);
        p.set_error("".into());
    }

    pub(super) fn submit_pin(&self) {
        let pin = std::mem::take(&mut *self.pin.borrow_mut());
        let p = self.window.global::<IdentifyPage>();
        p.set_typed("".into());
        p.set_complete(false);
        let Some(m) = self.be.maint.clone() else {
            p.set_error(self.tr(L("维护功能未启用。", "Maintenance is not set up.")));
            return;
        };
        // argon2 takes a moment: off the UI thread.
        self.be.rt.spawn_blocking(move || {
            let r = m.login(&pin, chrono::Utc::now());
            post(Msg::MaintLogin(r.map_err(|e| e.to_string())));
        });
    }

    pub(super) fn maint_login(&self, r: Result<Login, String>) {
        let p = self.window.global::<IdentifyPage>();
        let lang = self.l();
        match r {
            Ok(Login::Ok { technician }) => {
                *self.tech.borrow_mut() = Some(technician);
                p.set_pin(false);
                let s = self.window.global::<Session>();
                s.set_maint(true);
                self.touch();
                self.maint_menu();
            }
            Ok(Login::Wrong { left }) => p.set_error(
                match lang {
                    Lang::Zh => format!("密码错误，还可尝试 {left} 次。"),
                    Lang::En => format!("Wrong PIN. {left} tries left."),
                }
                .into(),
            ),
            Ok(Login::Locked { until }) => p.set_error(
                match lang {
                    Lang::Zh => format!(
                        "输错次数过多，已锁定至 {}。",
                        crate::domain::to_cst(until).format("%H:%M")
                    ),
                    Lang::En => format!(
                        "Too many wrong PINs: locked until {}.",
                        crate::domain::to_cst(until).format("%H:%M")
                    ),
                }
                .into(),
            ),
            Ok(Login::NoPins) => p.set_error(self.tr(L(
                "本机未配置技术员密码，无法进入维护。",
                "No technician PIN is configured on this kiosk.",
            ))),
            Err(e) => {
                tracing::error!(error = %e, "maintenance login");
                p.set_error(self.tr(L(
                    "维护数据库出错，请查看日志。",
                    "The maintenance database failed; see the log.",
                )));
            }
        }
    }

    /// Log the technician out (Home, idle): audited.
    pub(super) fn maint_logout(&self, why: &str) {
        let tech = self.tech.borrow_mut().take();
        self.window.global::<IdentifyPage>().set_pin(false);
        self.pin.borrow_mut().clear();
        if let Some(tech) = tech {
            self.window.global::<Session>().set_maint(false);
            self.audit(&tech, "logout", why);
        }
    }

    pub(super) fn in_maintenance(&self) -> bool {
        self.tech.borrow().is_some()
    }

    fn audit(&self, who: &str, action: &str, detail: &str) {
        if let Some(m) = &self.be.maint {
            if let Err(e) = m.audit(who, action, detail) {
                tracing::error!(error = %e, "audit record lost");
            }
        }
    }

    fn audit_action(&self, action: &str, detail: &str) {
        let who = self.tech.borrow().clone().unwrap_or_else(|| "-".into());
        self.audit(&who, action, detail);
    }

    /// The maintenance menu, as the root of what Back goes through: a menu
    /// reached again after an action does not send Back into that action.
    pub(super) fn maint_menu(&self) {
        {
            let mut f = self.flow.borrow_mut();
            if let Some(i) = f
                .history
                .iter()
                .position(|(s, k)| *s == Screen::List && *k == Some(ListKind::Maint))
            {
                f.history.truncate(i);
            }
        }
        self.render_maint_menu();
        self.show(Screen::List);
    }

    pub(super) fn render_maint_menu(&self) {
        let lang = self.l();
        let staff = self
            .be
            .runner
            .with_journal(|j| j.needing_staff().map(|v| v.len()).unwrap_or(0));
        let open = self.be.runner.with_journal(|j| {
            j.unfinished().map(|v| v.len()).unwrap_or(0)
                + j.needing_reprint().map(|v| v.len()).unwrap_or(0)
        });
        let items = MENU
            .iter()
            .map(|(id, title, detail)| Choice {
                id: (*id).into(),
                title: t(lang, *title).into(),
                detail: t(lang, *detail).into(),
                right: match *id {
                    "txns" if staff + open > 0 => (staff + open).to_string(),
                    "paper" => paper_left(lang, &self.be.devices.paper.estimate()),
                    "service" if self.out_of_service.borrow().is_some() => {
                        t(lang, L("已暂停", "Out of service")).to_string()
                    }
                    _ => "›".into(),
                }
                .into(),
                enabled: true,
                selected: false,
            })
            .collect();
        let who = self.tech.borrow().clone().unwrap_or_default();
        self.window.global::<Session>().set_service(
            match lang {
                Lang::Zh => format!("维护模式 · {who}"),
                Lang::En => format!("Maintenance · {who}"),
            }
            .into(),
        );
        self.set_list(
            ListKind::Maint,
            L("维护", "Maintenance"),
            t(
                lang,
                L(
                    "按首页退出维护。所有操作都会记录。",
                    "Home logs you out. Every action is recorded.",
                ),
            )
            .to_string(),
            items,
            L("", ""),
        );
        self.step(0);
    }

    /// The notices a technician can put the kiosk out of service with.
    pub(super) fn render_maint_notices(&self) {
        let lang = self.l();
        let items = choices(lang, crate::maint::notices(&self.cfg.maintenance.notices));
        self.set_list(
            ListKind::MaintNotices,
            L(
                "暂停服务：患者看到的提示",
                "Out of service: what patients see",
            ),
            t(
                lang,
                L(
                    "选择一条提示。所有业务将暂停，直到恢复服务。",
                    "Choose a notice. Every service stays off until you bring the kiosk back.",
                ),
            )
            .to_string(),
            items,
            L("", ""),
        );
    }

    /// Out of service with notice `id` (from the notices list).
    pub(super) fn maint_out_of_service(&self, id: &str) {
        if !self.in_maintenance() {
            return;
        }
        if !crate::maint::notices(&self.cfg.maintenance.notices)
            .iter()
            .any(|n| n.id == id)
        {
            return;
        }
        self.set_out_of_service(Some(id));
        self.maint_menu();
    }

    /// Put the kiosk out of service with a notice, or back (`None`): kept
    /// across restarts, audited, and shown on the home screen at once.
    fn set_out_of_service(&self, notice: Option<&str>) {
        *self.out_of_service.borrow_mut() = notice.map(str::to_string);
        if let Some(m) = &self.be.maint {
            if let Err(e) = m.set_out_of_service(notice) {
                tracing::error!(error = %e, "out-of-service not saved");
            }
        }
        match notice {
            Some(id) => self.audit_action("out-of-service", id),
            None => self.audit_action("back-in-service", ""),
        }
        self.refresh_tiles();
        self.refresh_notice();
    }

    /// How the transaction being resolved was handled, to choose from.
    pub(super) fn render_maint_resolutions(&self) {
        let lang = self.l();
        let id = self.flow.borrow().maint_resolving.unwrap_or_default();
        let items = choices(lang, crate::maint::resolutions());
        self.set_list(
            ListKind::MaintResolutions,
            L("如何处理的？", "How was it handled?"),
            match lang {
                Lang::Zh => format!("交易 #{id}：所选内容会和您的编号、时间一起记录。"),
                Lang::En => format!(
                    "Transaction #{id}: what you choose is recorded with your id and the time."
                ),
            },
            items,
            L("", ""),
        );
    }

    /// Record the transaction being resolved as handled the way `how` says.
    pub(super) fn maint_resolve(&self, how: &str) {
        if !self.in_maintenance() {
            return;
        }
        let Some(id) = self.flow.borrow().maint_resolving else {
            return;
        };
        let Some(how) = crate::maint::resolutions()
            .into_iter()
            .find(|r| r.id == how)
        else {
            return;
        };
        let who = self.tech.borrow().clone().unwrap_or_default();
        let now = chrono::Utc::now().to_rfc3339();
        let r = self
            .be
            .runner
            .with_journal(|j| j.resolve(id, &who, &how.both(), &now));
        self.audit_action("resolve", &format!("txn {id}: {}", how.id));
        self.flow.borrow_mut().maint_resolving = None;
        match r {
            Ok(()) => {
                self.flow.borrow_mut().maint_txns.retain(|t| t.id != id);
                self.maint_result(
                    true,
                    L("已标记解决", "Marked resolved"),
                    format!("#{id} · {}", in_lang(self.l(), how)),
                )
            }
            Err(e) => self.maint_result(false, L("未能标记", "Not marked"), e.to_string()),
        }
    }

    /// The transactions list again (Back from one of them).
    pub(super) fn render_maint_txns(&self) {
        let lang = self.l();
        let items = self
            .flow
            .borrow()
            .maint_txns
            .iter()
            .map(|t| txn_choice(lang, t))
            .collect();
        self.set_list(
            ListKind::MaintTxns,
            L("待处理交易", "Transactions to handle"),
            String::new(),
            items,
            L("没有待处理的交易。", "Nothing to handle."),
        );
    }

    /// The receipt roll's estimate, with a warning when it runs low.
    fn paper_row(&self) -> Choice {
        let e = self.be.devices.paper.estimate();
        let lang = self.l();
        Choice {
            id: "".into(),
            title: t(
                lang,
                L("凭条纸余量（估算）", "Receipt paper left (estimate)"),
            )
            .into(),
            detail: match lang {
                Lang::Zh => format!(
                    "已打印 {:.1} 米 / 每卷 {:.0} 米，{} 张凭条",
                    e.printed_m, e.roll_m, e.slips
                ),
                Lang::En => format!(
                    "{:.1} m of {:.0} m printed, {} slips",
                    e.printed_m, e.roll_m, e.slips
                ),
            }
            .into(),
            right: paper_left(lang, &e).into(),
            enabled: true,
            selected: false,
        }
    }

    fn maint_result(&self, ok: bool, title: L, message: String) {
        self.result(ok, title, message, String::new());
        self.window.global::<ResultPage>().set_offer_rating(false);
    }

    /// An entry of the maintenance menu.
    pub(super) fn maint_pick(&self, id: &str) {
        if !self.in_maintenance() {
            return;
        }
        let lang = self.l();
        match id {
            "devices" => {
                let rows = self
                    .be
                    .devices
                    .check_all()
                    .into_iter()
                    .map(|d| Choice {
                        id: "".into(),
                        title: format!("{} · {}", d.name, d.driver).into(),
                        detail: d.describe.clone().into(),
                        right: match &d.health {
                            Health::Ok => t(lang, L("正常", "OK")).to_string(),
                            Health::Degraded(r) => {
                                format!("{} {r}", t(lang, L("注意", "Degraded")))
                            }
                            Health::Fault(r) => format!("{} {r}", t(lang, L("故障", "Fault"))),
                        }
                        .into(),
                        enabled: true,
                        selected: false,
                    })
                    .collect();
                let mut rows: Vec<Choice> = rows;
                rows.push(self.paper_row());
                self.audit_action("devices", "");
                self.set_detail(
                    self.tr(L("设备状态", "Device health")).into(),
                    String::new(),
                    rows,
                );
                self.show(Screen::Detail);
            }
            "print" | "print-a4" | "read" | "scan" => {
                self.audit_action(&format!("test-{id}"), "");
                let opts = crate::doctor::DoctorOptions {
                    print: id == "print",
                    print_a4: id == "print-a4",
                    read: (id == "read").then_some(Duration::from_secs(10)),
                    scan: None,
                    hospital: self.cfg.hospital.name_zh.clone(),
                    kiosk_id: self.cfg.kiosk.id.clone(),
                };
                if id == "scan" {
                    // The UI's own scanner thread gets the code: wait here.
                    *self.scan_test.borrow_mut() = Some(Instant::now() + Duration::from_secs(10));
                    self.want_scan
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                    self.busy("请扫一个码（10 秒内）", "Scan a code within 10 s");
                    if let Some(sim) = &self.be.devices.sims.scanner {
                        // The demo plays the technician's part.
                        let _ = sim.scan("KIOSK-SCAN-TEST");
                    }
                    return;
                }
                self.busy("正在测试", "Testing");
                let devices = self.be.devices.clone();
                std::thread::spawn(move || {
                    let r = crate::doctor::run(&devices, &opts);
                    post(Msg::MaintTested(r.tests));
                });
            }
            "paper" => {
                self.be
                    .devices
                    .paper
                    .replaced(&crate::domain::to_cst(chrono::Utc::now()).to_rfc3339());
                let health = self.be.devices.printer.check();
                self.audit_action("paper-replaced", "");
                self.refresh_tiles();
                let message = match &health {
                    Health::Ok => t(
                        lang,
                        L(
                            "打印机正常，纸量计数已归零。",
                            "The printer is fine; the paper count starts again.",
                        ),
                    )
                    .to_string(),
                    Health::Degraded(r) | Health::Fault(r) => match lang {
                        Lang::Zh => format!("纸量计数已归零，但打印机仍报告：{r}"),
                        Lang::En => format!(
                            "The paper count starts again, but the printer still reports: {r}"
                        ),
                    },
                };
                self.maint_result(
                    health.is_usable(),
                    L("已记录换纸", "Paper change recorded"),
                    message,
                );
            }
            "txns" => {
                let list: Vec<Txn> = self.be.runner.with_journal(|j| {
                    let mut v = j.needing_staff().unwrap_or_default();
                    v.extend(j.needing_reprint().unwrap_or_default());
                    v.extend(j.unfinished().unwrap_or_default());
                    v
                });
                self.flow.borrow_mut().maint_txns = list;
                self.render_maint_txns();
                self.show(Screen::List);
            }
            "totals" => {
                let day = self.be.runner.with_journal(|j| j.on_date(self.be.today));
                let rows = match day {
                    Ok(txns) => totals(lang, &txns),
                    Err(e) => vec![self.row(L("错误", "Error"), e.to_string())],
                };
                self.audit_action("totals", "");
                self.set_detail(
                    self.tr(L("今日汇总", "Today's totals")).into(),
                    self.be.today.to_string(),
                    rows,
                );
                self.show(Screen::Detail);
            }
            "reconcile" => {
                self.audit_action("reconcile", &self.be.today.to_string());
                self.busy("正在对账", "Reconciling");
                let (runner, pay, his, date) = (
                    self.be.runner.clone(),
                    self.be.pay.clone(),
                    self.be.his.clone(),
                    self.be.today,
                );
                self.be.rt.spawn(async move {
                    let r = async {
                        let journal = runner
                            .with_journal(|j| j.on_date(date))
                            .map_err(|e| e.to_string())?;
                        let bill = pay.day_bill(date).await.map_err(|e| e.to_string())?;
                        let ledger = his.ledger(date).await.map_err(|e| e.to_string())?;
                        Ok(crate::txn::reconcile::reconcile(
                            &journal,
                            &bill.channel_rows(),
                            &ledger.entries,
                        ))
                    }
                    .await;
                    post(Msg::MaintReconciled(r));
                });
            }
            "service" => {
                if self.out_of_service.borrow().is_some() {
                    self.set_out_of_service(None);
                    self.maint_menu();
                } else {
                    self.render_maint_notices();
                    self.show(Screen::List);
                }
            }
            "log" => {
                let rows = crate::logging::recent(40)
                    .into_iter()
                    .rev()
                    .map(|l| Choice {
                        id: "".into(),
                        title: "".into(),
                        detail: l.into(),
                        right: "".into(),
                        enabled: true,
                        selected: false,
                    })
                    .collect();
                self.audit_action("log", "");
                self.set_detail(
                    self.tr(L("最近日志（最新在上）", "Recent log (newest first)"))
                        .into(),
                    String::new(),
                    rows,
                );
                self.show(Screen::Detail);
            }
            "restart" => {
                self.audit_action("restart", "");
                tracing::warn!("restart asked for on the maintenance screen");
                // `kiosk run` returns when the window's loop ends; systemd
                // (Restart=always) starts the kiosk again.
                let _ = slint::quit_event_loop();
            }
            "about" => {
                let rows = vec![
                    self.row(
                        L("软件版本", "Software"),
                        env!("CARGO_PKG_VERSION").to_string(),
                    ),
                    self.row(
                        L("医院", "Hospital"),
                        format!("{} ({})", self.cfg.hospital.name_zh, self.cfg.hospital.id),
                    ),
                    self.row(L("本机编号", "Kiosk"), self.cfg.kiosk.id.clone()),
                    self.row(
                        L("配置指纹", "Config fingerprint"),
                        self.cfg.fingerprint().chars().take(16).collect(),
                    ),
                    self.row(L("位置", "Location"), self.cfg.kiosk.location_zh.clone()),
                    self.row(
                        L("HIS", "HIS"),
                        match self.cfg.his.mode {
                            crate::config::HisMode::Embedded => {
                                t(lang, L("内置模拟（演示）", "embedded simulator (demo)"))
                                    .to_string()
                            }
                            crate::config::HisMode::Remote => self.cfg.his.base_url.clone(),
                        },
                    ),
                    self.row(
                        L("数据目录", "Data"),
                        self.cfg.kiosk.data_dir.display().to_string(),
                    ),
                    self.row(L("营业日", "Business date"), self.be.today.to_string()),
                ];
                self.audit_action("about", "");
                self.set_detail(
                    self.tr(L("版本和配置", "Versions and config")).into(),
                    String::new(),
                    rows,
                );
                self.show(Screen::Detail);
            }
            _ => {}
        }
    }

    /// One transaction in detail, with what a technician can do about it.
    pub(super) fn maint_txn(&self, id: i64) {
        let lang = self.l();
        let Some(t) = self
            .flow
            .borrow()
            .maint_txns
            .iter()
            .find(|t| t.id == id)
            .cloned()
        else {
            return;
        };
        let history = self
            .be
            .runner
            .with_journal(|j| j.history(id))
            .unwrap_or_default();
        let mut rows = vec![
            self.row(L("交易号", "Transaction"), t.key_base()),
            self.row(L("业务", "Service"), kind_label(lang, t.kind)),
            self.row(L("状态", "State"), t.state.to_string()),
            self.row(L("金额", "Amount"), t.amount.to_string()),
            self.row(L("证件", "ID"), t.id_masked.clone()),
            self.row(L("订单号", "Order"), t.out_trade_no()),
        ];
        if let Some(e) = &t.last_error {
            rows.push(self.row(L("最近错误", "Last error"), crate::logging::redact(e)));
        }
        for (from, event, to, at) in history {
            rows.push(Choice {
                id: "".into(),
                title: at.into(),
                detail: format!("{from} —{event}→ {to}").into(),
                right: "".into(),
                enabled: true,
                selected: false,
            });
        }
        self.set_detail(
            self.tr(L("交易详情", "Transaction")).into(),
            String::new(),
            rows,
        );
        let d = self.window.global::<DetailPage>();
        if t.state == TxnState::NeedsStaff {
            d.set_action(self.tr(L("标记已解决…", "Mark resolved…")));
            d.set_action2(self.tr(L("补打凭证", "Reprint voucher")));
            self.flow.borrow_mut().detail_action = Some(DetailAction::MaintResolve(id));
        } else if t.state == TxnState::Done && t.reprint_needed {
            d.set_action(self.tr(L("补打凭条", "Reprint the slip")));
            self.flow.borrow_mut().detail_action = Some(DetailAction::MaintReprint(id));
        } else {
            d.set_action(self.tr(L("重试恢复", "Retry recovery")));
            self.flow.borrow_mut().detail_action = Some(DetailAction::MaintRetry(id));
        }
        self.show(Screen::Detail);
    }

    pub(super) fn maint_detail_action(&self, action: DetailAction, second: bool) {
        match (action, second) {
            (DetailAction::MaintResolve(id), false) => {
                self.flow.borrow_mut().maint_resolving = Some(id);
                self.render_maint_resolutions();
                self.show(Screen::List);
            }
            (DetailAction::MaintResolve(id), true) => {
                self.audit_action("reprint-voucher", &format!("txn {id}"));
                match self.be.runner.reprint(id) {
                    Ok(()) => self.maint_result(
                        true,
                        L("凭证已补打", "Voucher reprinted"),
                        format!("#{id}"),
                    ),
                    Err(e) => {
                        self.maint_result(false, L("未能补打", "Not reprinted"), e.to_string())
                    }
                }
            }
            (DetailAction::MaintReprint(id), _) => {
                self.audit_action("reprint-slip", &format!("txn {id}"));
                match self.be.runner.reprint(id) {
                    Ok(()) => {
                        self.flow.borrow_mut().maint_txns.retain(|t| t.id != id);
                        self.maint_result(true, L("凭条已补打", "Slip reprinted"), format!("#{id}"))
                    }
                    Err(e) => {
                        self.maint_result(false, L("未能补打", "Not reprinted"), e.to_string())
                    }
                }
            }
            (DetailAction::MaintRetry(id), _) => {
                self.audit_action("retry-recovery", &format!("txn {id}"));
                self.busy("正在恢复交易", "Recovering");
                let runner = self.be.runner.clone();
                self.be.rt.spawn(async move {
                    let r = runner.resume(id, Mode::Recovery).await;
                    post(Msg::MaintRecovered(
                        r.map(|o| o.txn().state.to_string())
                            .map_err(|e| e.to_string()),
                    ));
                });
            }
            _ => {}
        }
    }

    pub(super) fn maint_tested(&self, tests: Vec<crate::doctor::TestResult>) {
        let ok = !tests.is_empty() && tests.iter().all(|t| t.ok);
        let message = tests
            .iter()
            .map(|t| {
                format!(
                    "{} {}: {}",
                    if t.ok { "✓" } else { "✗" },
                    t.test,
                    crate::logging::redact(&t.detail)
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        self.audit_action("test-result", if ok { "ok" } else { "failed" });
        self.maint_result(
            ok,
            if ok {
                L("测试通过", "Test passed")
            } else {
                L("测试失败", "Test failed")
            },
            message,
        );
    }

    /// A code arrived during the scan test (masked: it may be a payment code).
    pub(super) fn maint_scanned(&self, code: &kiosk_drivers::scanner::Scanned) -> bool {
        let Some(deadline) = *self.scan_test.borrow() else {
            return false;
        };
        *self.scan_test.borrow_mut() = None;
        let ok = Instant::now() <= deadline;
        self.audit_action("test-scan", if ok { "ok" } else { "late" });
        self.maint_result(
            ok,
            L("扫码正常", "Scanner works"),
            crate::logging::redact(&format!("{code:?}")),
        );
        true
    }

    /// The scan test's deadline passed with nothing scanned.
    pub(super) fn maint_tick(&self) {
        let expired = self.scan_test.borrow().is_some_and(|d| Instant::now() > d);
        if expired {
            *self.scan_test.borrow_mut() = None;
            self.audit_action("test-scan", "nothing scanned");
            self.maint_result(false, L("未扫到码", "Nothing scanned"), String::new());
        }
    }

    pub(super) fn maint_reconciled(&self, r: Result<crate::txn::reconcile::Summary, String>) {
        match r {
            Ok(s) => {
                let bad = s.unexplained();
                self.maint_result(
                    bad == 0,
                    if bad == 0 {
                        L("对账一致", "Reconciled")
                    } else {
                        L("对账有差异", "Differences found")
                    },
                    format!(
                        "{} / {} · {} {} · {} {} · {} {} · {}: {}",
                        s.completed,
                        s.transactions,
                        t(self.l(), L("本机", "journal")),
                        s.journal_total,
                        t(self.l(), L("渠道", "channel")),
                        s.channel_net,
                        t(self.l(), L("医院", "HIS")),
                        s.his_total,
                        t(self.l(), L("未解释差异", "unexplained")),
                        bad
                    ),
                );
            }
            Err(e) => self.maint_result(false, L("未能对账", "Could not reconcile"), e),
        }
    }

    pub(super) fn maint_recovered(&self, r: Result<String, String>) {
        match r {
            Ok(state) => self.maint_result(true, L("已恢复", "Recovered"), state),
            Err(e) => self.maint_result(false, L("恢复未完成", "Not recovered"), e),
        }
    }
}

/// A technician's choice's text in `lang`.
pub(super) fn in_lang(lang: Lang, c: crate::maint::Choice) -> String {
    match lang {
        Lang::Zh => c.zh,
        Lang::En => c.en,
    }
}

/// Fixed texts to choose from, as list rows (the id is what is picked).
fn choices(lang: Lang, list: Vec<crate::maint::Choice>) -> Vec<Choice> {
    list.into_iter()
        .map(|c| Choice {
            id: c.id.clone().into(),
            title: in_lang(lang, c).into(),
            detail: "".into(),
            right: "›".into(),
            enabled: true,
            selected: false,
        })
        .collect()
}

fn txn_choice(lang: Lang, t: &Txn) -> Choice {
    Choice {
        id: t.id.to_string().into(),
        title: format!("{} · {}", t.key_base(), kind_label(lang, t.kind)).into(),
        detail: if t.state == TxnState::Done && t.reprint_needed {
            format!(
                "{} · {} · {}",
                super::text::t(lang, L("凭条未打出", "slip not printed")),
                t.id_masked,
                t.updated_at
            )
        } else {
            format!("{} · {} · {}", t.state, t.id_masked, t.updated_at)
        }
        .into(),
        right: t.amount.to_string().into(),
        enabled: true,
        selected: false,
    }
}

/// Today's completed transactions by service and by channel.
fn totals(lang: Lang, txns: &[Txn]) -> Vec<Choice> {
    use std::collections::BTreeMap;
    let mut by_kind: BTreeMap<String, (usize, i64)> = BTreeMap::new();
    let mut by_channel: BTreeMap<String, (usize, i64)> = BTreeMap::new();
    for t in txns.iter().filter(|t| t.state == TxnState::Done) {
        // A cancellation's amount went back to the patient.
        let fen = if t.kind == crate::txn::TxnKind::Cancellation {
            -t.amount.fen()
        } else {
            t.amount.fen()
        };
        let e = by_kind.entry(kind_label(lang, t.kind)).or_default();
        e.0 += 1;
        e.1 += fen;
        let c = t
            .channel
            .map(|c| format!("{c:?}").to_lowercase())
            .unwrap_or_else(|| "none".into());
        let e = by_channel.entry(c).or_default();
        e.0 += 1;
        e.1 += fen;
    }
    let line = |label: String, (n, fen): (usize, i64)| Choice {
        id: "".into(),
        title: label.into(),
        detail: match lang {
            Lang::Zh => format!("{n} 笔"),
            Lang::En => format!("{n} done"),
        }
        .into(),
        right: crate::domain::Money::from_fen(fen).to_string().into(),
        enabled: true,
        selected: false,
    };
    let mut rows: Vec<Choice> = by_kind.into_iter().map(|(k, v)| line(k, v)).collect();
    rows.extend(
        by_channel
            .into_iter()
            .map(|(c, v)| line(format!("{} {c}", t(lang, L("渠道", "channel"))), v)),
    );
    let open = txns.iter().filter(|t| !t.state.is_terminal()).count();
    let staff = txns
        .iter()
        .filter(|t| t.state == TxnState::NeedsStaff)
        .count();
    rows.push(Choice {
        id: "".into(),
        title: t(lang, L("未完成 / 需人工", "Unfinished / needs staff")).into(),
        detail: "".into(),
        right: format!("{open} / {staff}").into(),
        enabled: true,
        selected: false,
    });
    rows
}

fn kind_label(lang: Lang, k: crate::txn::TxnKind) -> String {
    use crate::txn::TxnKind as K;
    t(
        lang,
        match k {
            K::Registration => L("当日挂号", "Registration"),
            K::Booking => L("预约挂号", "Booking"),
            K::CheckIn => L("预约签到", "Check-in"),
            K::Settlement => L("门诊缴费", "Settlement"),
            K::Cancellation => L("取消预约退费", "Cancellation refunds"),
        },
    )
    .to_string()
}

/// "63%", or "Low 7%" below the warning level.
fn paper_left(lang: Lang, e: &crate::paper::PaperEstimate) -> String {
    format!(
        "{}{:.0}%",
        if e.low {
            t(lang, L("纸将用完 ", "Low "))
        } else {
            ""
        },
        e.left_ratio * 100.0
    )
}

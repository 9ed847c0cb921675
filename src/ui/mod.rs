//! The patient UI: the Slint window (ui/app.slint) and the controller that
//! fills it from HIS data and drives transactions.
//!
//! Threading: the Slint event loop owns the window and the [`Controller`]
//! (UI thread only). HIS, payment and device work runs on tokio or device
//! threads; each result comes back as a [`Msg`] through
//! `slint::invoke_from_event_loop`, so no callback ever blocks the loop.

pub mod screenshot;
mod text;

use crate::app::App;
use crate::domain::{
    Appointment, Bill, CardKind, Department, IdNumber, Money, Patient, PayChannel, Schedule, Slot,
};
use crate::his::{BillFilter, HisError, HisGateway};
use crate::txn::{CancelFlag, Intent, Outcome, PatientRef, Prepared, RunError};
use chrono::{Datelike, NaiveDate};
use kiosk_drivers::Health;
use slint::{ComponentHandle, ModelRc, SharedString, VecModel};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
pub use text::Lang;
use text::{t, L};

/// The Rust API generated from ui/app.slint (lints are Slint's business).
#[allow(clippy::all, clippy::todo, clippy::unimplemented, unsafe_code)]
mod generated {
    slint::include_modules!();
}
pub use generated::*;

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("the window system: {0}")]
    Platform(#[from] slint::PlatformError),
    #[error("the UI event loop: {0}")]
    EventLoop(#[from] slint::EventLoopError),
}

/// The services on the home screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Register,
    Book,
    CheckIn,
    Settle,
}

impl Service {
    fn id(self) -> &'static str {
        match self {
            Service::Register => "register",
            Service::Book => "book",
            Service::CheckIn => "check_in",
            Service::Settle => "settle",
        }
    }
    fn from_id(id: &str) -> Option<Service> {
        [
            Service::Register,
            Service::Book,
            Service::CheckIn,
            Service::Settle,
        ]
        .into_iter()
        .find(|s| s.id() == id)
    }
    fn title(self) -> L {
        match self {
            Service::Register => L("当日挂号", "Register today"),
            Service::Book => L("预约挂号", "Book an appointment"),
            Service::CheckIn => L("预约取号", "Check in"),
            Service::Settle => L("门诊缴费", "Pay bills"),
        }
    }
    fn stripe(self) -> slint::Color {
        match self {
            Service::Register => slint::Color::from_rgb_u8(0x0b, 0x5c, 0xad),
            Service::Book => slint::Color::from_rgb_u8(0x1e, 0x8a, 0x5c),
            Service::CheckIn => slint::Color::from_rgb_u8(0x7b, 0x4f, 0xd6),
            Service::Settle => slint::Color::from_rgb_u8(0xe0, 0x8a, 0x2e),
        }
    }
    fn steps(self) -> i32 {
        match self {
            Service::Register | Service::Book => 4,
            Service::CheckIn | Service::Settle => 3,
        }
    }
}

/// What a list screen is showing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListKind {
    Departments,
    Doctors,
    Appointments,
    Bills,
}

/// Results of background work, applied on the UI thread.
#[allow(clippy::large_enum_variant)]
pub enum Msg {
    Identified(Result<Patient, HisError>, Option<u32>),
    CardError(L),
    Departments(Result<Vec<Department>, HisError>),
    Schedules(Result<Vec<Schedule>, HisError>),
    /// The slots, and HIS's time of day (slots that started are not offered).
    Slots(Result<(Vec<Slot>, chrono::NaiveTime), HisError>),
    Appointments(Result<Vec<Appointment>, HisError>),
    Bills(Result<Vec<Bill>, HisError>),
    Prepared(Box<Result<Prepared, RunError>>),
    Qr(Result<crate::pay::QrOrder, RunError>),
    Finished(Result<Outcome, RunError>),
    Scanned(kiosk_drivers::scanner::Scanned),
    DevicesChanged,
}

/// The patient's session: wiped on Home and on idle.
#[derive(Default)]
struct Flow {
    service: Option<Service>,
    patient: Option<Patient>,
    departments: Vec<Department>,
    department: Option<Department>,
    date: Option<NaiveDate>,
    schedules: Vec<Schedule>,
    schedule: Option<Schedule>,
    slots: Vec<Slot>,
    bills: Vec<Bill>,
    list: Option<ListKind>,
    prepared: Option<Prepared>,
    cancel: Option<CancelFlag>,
    qr_url: Option<String>,
    pay_deadline: Option<std::time::Instant>,
    history: Vec<Screen>,
}

/// Everything background work needs (all `Send + Sync`).
#[derive(Clone)]
pub struct Backend {
    pub his: Arc<dyn HisGateway>,
    pub runner: crate::txn::Runner,
    pub devices: Arc<crate::devices::Devices>,
    pub rt: tokio::runtime::Handle,
    pub today: NaiveDate,
    pub channels: Vec<PayChannel>,
    pub demo_seed: Option<u64>,
    /// HIS's clock minus ours, in seconds: the header shows HIS's time.
    pub clock_offset: Arc<std::sync::atomic::AtomicI64>,
}

impl Backend {
    pub fn of(app: &App, rt: tokio::runtime::Handle) -> Backend {
        let channels = app
            .cfg
            .pay
            .channels
            .iter()
            .filter_map(|c| serde_json::from_value(serde_json::Value::String(c.clone())).ok())
            .collect();
        let offset = rt
            .block_on(app.his.ping())
            .map(|p| (p.now.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds())
            .unwrap_or(0);
        Backend {
            clock_offset: Arc::new(std::sync::atomic::AtomicI64::new(offset)),
            his: app.his.clone(),
            runner: app.runner.clone(),
            devices: app.devices.clone(),
            rt,
            today: app.today,
            channels,
            demo_seed: (app.his_sim.is_some()).then_some(app.cfg.his.embedded.seed),
        }
    }
}

/// Post a message to the UI thread (from any thread).
fn post(msg: Msg) {
    let _ = slint::invoke_from_event_loop(move || {
        CONTROLLER.with(|c| {
            if let Some(c) = c.borrow().as_ref() {
                c.clone().apply(msg);
            }
        })
    });
}

thread_local! {
    static CONTROLLER: RefCell<Option<Rc<Controller>>> = const { RefCell::new(None) };
}

pub struct Controller {
    pub window: KioskWindow,
    be: Backend,
    cfg: crate::config::Config,
    flow: RefCell<Flow>,
    lang: RefCell<Lang>,
    idle_left: RefCell<i32>,
    /// Device threads poll cards only while someone may present one.
    want_card: Arc<AtomicBool>,
    want_scan: Arc<AtomicBool>,
    timers: RefCell<Vec<slint::Timer>>,
}

impl Controller {
    /// Build the window and its controller (no event loop, no threads yet).
    pub fn new(cfg: crate::config::Config, be: Backend) -> Result<Rc<Controller>, UiError> {
        let window = KioskWindow::new()?;
        let lang = Lang::from_code(&cfg.ui.default_language);
        let c = Rc::new(Controller {
            window,
            be,
            flow: RefCell::new(Flow::default()),
            lang: RefCell::new(lang),
            idle_left: RefCell::new(cfg.ui.idle_timeout_secs as i32),
            want_card: Arc::new(AtomicBool::new(true)),
            want_scan: Arc::new(AtomicBool::new(true)),
            timers: RefCell::new(Vec::new()),
            cfg,
        });
        CONTROLLER.with(|slot| *slot.borrow_mut() = Some(c.clone()));
        c.wire();
        c.set_language(lang);
        let s = c.window.global::<Session>();
        s.set_hospital(c.cfg.hospital.name_zh.clone().into());
        s.set_demo(c.cfg.ui.demo_panel && c.be.demo_seed.is_some());
        let landscape = matches!(c.cfg.ui.orientation, crate::config::Orientation::Landscape);
        c.window.set_landscape(landscape);
        c.window.global::<Theme>().set_landscape(landscape);
        c.tick_clock();
        c.go_home();
        Ok(c)
    }

    fn l(&self) -> Lang {
        *self.lang.borrow()
    }

    fn tr(&self, l: L) -> SharedString {
        t(self.l(), l).into()
    }

    fn set_language(&self, lang: Lang) {
        *self.lang.borrow_mut() = lang;
        let _ = slint::select_bundled_translation(match lang {
            Lang::Zh => "zh_CN",
            Lang::En => "",
        });
        self.window
            .global::<Session>()
            .set_language(lang.code().into());
        self.window.global::<Session>().set_hospital(
            match lang {
                Lang::Zh => &self.cfg.hospital.name_zh,
                Lang::En => &self.cfg.hospital.name_en,
            }
            .clone()
            .into(),
        );
        self.refresh_tiles();
        self.refresh_notice();
    }

    fn wire(self: &Rc<Self>) {
        let w = &self.window;
        let weak = Rc::downgrade(self);
        let with = move |f: fn(&Rc<Controller>)| {
            let weak = weak.clone();
            move || {
                if let Some(c) = weak.upgrade() {
                    c.touch();
                    f(&c);
                }
            }
        };
        let s = w.global::<Session>();
        s.on_home(with(|c| c.go_home()));
        s.on_back(with(|c| c.go_back()));
        s.on_touched(with(|_| {}));
        s.on_switch_language(with(|c| {
            c.set_language(match c.l() {
                Lang::Zh => Lang::En,
                Lang::En => Lang::Zh,
            })
        }));
        s.on_toggle_elderly(with(|c| {
            let th = c.window.global::<Theme>();
            th.set_elderly(!th.get_elderly());
        }));
        let weak = Rc::downgrade(self);
        s.on_demo_action(move |a| {
            if let Some(c) = weak.upgrade() {
                c.touch();
                c.demo(a.as_str());
            }
        });
        let weak = Rc::downgrade(self);
        w.global::<HomePage>().on_open(move |id| {
            if let Some(c) = weak.upgrade() {
                c.touch();
                if let Some(s) = Service::from_id(&id) {
                    c.open(s);
                }
            }
        });
        let weak = Rc::downgrade(self);
        w.global::<IdentifyPage>().on_key(move |k| {
            if let Some(c) = weak.upgrade() {
                c.touch();
                c.key(&k);
            }
        });
        w.global::<IdentifyPage>()
            .on_submit(with(|c| c.submit_typed()));
        let weak = Rc::downgrade(self);
        w.global::<ListPage>().on_pick(move |id| {
            if let Some(c) = weak.upgrade() {
                c.touch();
                c.pick(&id);
            }
        });
        let weak = Rc::downgrade(self);
        w.global::<ListPage>().on_pick_date(move |id| {
            if let Some(c) = weak.upgrade() {
                c.touch();
                c.pick_date(&id);
            }
        });
        let weak = Rc::downgrade(self);
        w.global::<SlotPage>().on_pick(move |id| {
            if let Some(c) = weak.upgrade() {
                c.touch();
                c.window.global::<SlotPage>().set_selected(id);
            }
        });
        w.global::<SlotPage>()
            .on_confirm(with(|c| c.confirm_slot()));
        w.global::<ConfirmPage>()
            .on_confirm(with(|c| c.confirm_pay()));
        let weak = Rc::downgrade(self);
        w.global::<PayPage>().on_choose(move |id| {
            if let Some(c) = weak.upgrade() {
                c.touch();
                c.choose_channel(&id);
            }
        });
        w.global::<PayPage>()
            .on_cancel(with(|c| c.cancel_payment()));
        let weak = Rc::downgrade(self);
        w.global::<ResultPage>().on_rate(move |n| {
            if let Some(c) = weak.upgrade() {
                c.touch();
                tracing::info!(rating = n, "satisfaction rating");
                c.window.global::<ResultPage>().set_rated(true);
            }
        });
        w.global::<ResultPage>().on_done(with(|c| c.go_home()));
    }

    /// Start the clock/idle timer and the device threads (the running kiosk).
    pub fn start_background(self: &Rc<Self>) {
        let timer = slint::Timer::default();
        let weak = Rc::downgrade(self);
        timer.start(
            slint::TimerMode::Repeated,
            Duration::from_secs(1),
            move || {
                if let Some(c) = weak.upgrade() {
                    c.tick();
                }
            },
        );
        self.timers.borrow_mut().push(timer);
        self.spawn_device_threads();
    }

    fn spawn_device_threads(&self) {
        // ID card reader: one poll every 500 ms while a card is wanted.
        let (dev, want) = (self.be.devices.clone(), self.want_card.clone());
        let his = self.be.his.clone();
        let rt = self.be.rt.clone();
        let elderly_age = self.cfg.ui.elderly_mode_age;
        let today = self.be.today;
        std::thread::Builder::new()
            .name("ui-cards".into())
            .spawn(move || {
                let mut last: Option<String> = None;
                loop {
                    std::thread::sleep(Duration::from_millis(400));
                    if !want.load(Ordering::SeqCst) {
                        last = None;
                        continue;
                    }
                    let found = match dev.id_reader.read_card() {
                        Ok(Some(card)) => {
                            Some((CardKind::IdCard, card.id_number.clone(), card.birth.clone()))
                        }
                        Ok(None) => match dev.health_reader.read_card(Duration::from_millis(100)) {
                            Ok(Some(h)) => Some((
                                match h.kind {
                                    kiosk_drivers::healthcard::CardKind::Health => {
                                        CardKind::HealthCard
                                    }
                                    kiosk_drivers::healthcard::CardKind::Insurance => {
                                        CardKind::InsuranceCard
                                    }
                                },
                                h.card_number.clone(),
                                h.birth_date.clone().unwrap_or_default(),
                            )),
                            _ => None,
                        },
                        Err(e) => {
                            if !matches!(
                                e,
                                kiosk_drivers::idcard::reader::IdCardError::NotConnected { .. }
                            ) {
                                let (zh, en) = e.patient_message();
                                post(Msg::CardError(L(zh, en)));
                            }
                            None
                        }
                    };
                    let Some((kind, number, birth)) = found else {
                        last = None;
                        continue;
                    };
                    if last.as_deref() == Some(number.as_str()) {
                        continue;
                    }
                    last = Some(number.clone());
                    let age = age_from(&birth, today);
                    let elderly = (elderly_age > 0 && age.is_some_and(|a| a >= elderly_age))
                        .then_some(age.unwrap_or(0));
                    let his = his.clone();
                    rt.spawn(async move {
                        let r = his.lookup_patient(kind, &number).await;
                        post(Msg::Identified(r, elderly));
                    });
                }
            })
            .ok();
        // Scanner: every code goes to the UI, which decides what it means here.
        let (dev, want) = (self.be.devices.clone(), self.want_scan.clone());
        std::thread::Builder::new()
            .name("ui-scanner".into())
            .spawn(move || loop {
                match dev.scanner.next_scan(Duration::from_millis(500)) {
                    Some(Ok(code)) if want.load(Ordering::SeqCst) => post(Msg::Scanned(code)),
                    Some(Err(e)) => tracing::warn!(error = %e, "scan rejected"),
                    _ => {}
                }
            })
            .ok();
        // Device health: refresh the home screen when it changes.
        let dev = self.be.devices.clone();
        std::thread::Builder::new()
            .name("ui-health".into())
            .spawn(move || {
                let mut before: Vec<Health> = Vec::new();
                loop {
                    let now: Vec<Health> = dev.report().into_iter().map(|r| r.health).collect();
                    if now != before {
                        before = now;
                        post(Msg::DevicesChanged);
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            })
            .ok();
    }

    /// HIS's clock (the demo simulator's may run at another time of day).
    fn his_now(&self) -> crate::domain::Instant {
        let off = self.be.clock_offset.load(Ordering::SeqCst);
        crate::domain::to_cst(chrono::Utc::now() + chrono::Duration::seconds(off))
    }

    fn touch(&self) {
        *self.idle_left.borrow_mut() = self.cfg.ui.idle_timeout_secs as i32;
        let s = self.window.global::<Session>();
        s.set_idle_visible(false);
        s.set_idle_left(self.cfg.ui.idle_timeout_secs as i32);
    }

    fn tick_clock(&self) {
        let now = self.his_now();
        let d = self.be.today;
        let wd = match self.l() {
            Lang::Zh => [
                "星期一",
                "星期二",
                "星期三",
                "星期四",
                "星期五",
                "星期六",
                "星期日",
            ][d.weekday().num_days_from_monday() as usize]
                .to_string(),
            Lang::En => d.weekday().to_string(),
        };
        let s = self.window.global::<Session>();
        s.set_date_text(format!("{} {wd}", d.format("%Y-%m-%d")).into());
        s.set_time_text(now.format("%H:%M").to_string().into());
    }

    /// Every second: the clock, the idle countdown, the payment countdown.
    pub fn tick(&self) {
        self.tick_clock();
        let s = self.window.global::<Session>();
        let screen = s.get_screen();
        let paying = matches!(screen, Screen::PayScan | Screen::PayQr | Screen::Processing);
        if let Some(deadline) = self.flow.borrow().pay_deadline {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            self.window
                .global::<PayPage>()
                .set_seconds_left(left.as_secs() as i32);
        }
        if screen == Screen::Home || paying {
            // Never time out a payment in progress; home has nothing to wipe.
            self.touch();
            return;
        }
        let left = {
            let mut l = self.idle_left.borrow_mut();
            *l -= 1;
            *l
        };
        s.set_idle_left(left.max(0));
        s.set_idle_visible(left <= self.cfg.ui.idle_warning_secs as i32);
        if left <= 0 {
            tracing::info!("idle timeout: session wiped");
            self.go_home();
        }
    }

    fn show(&self, screen: Screen) {
        let s = self.window.global::<Session>();
        let cur = s.get_screen();
        if cur != screen {
            let mut f = self.flow.borrow_mut();
            let transient = matches!(cur, Screen::Processing | Screen::Home);
            if !transient {
                f.history.push(cur);
            }
        }
        s.set_screen(screen);
        s.set_busy(false);
        s.set_can_go_back(!matches!(
            screen,
            Screen::PayScan | Screen::PayQr | Screen::Result
        ));
        self.want_card.store(
            matches!(screen, Screen::Home | Screen::Identify)
                && self.flow.borrow().patient.is_none(),
            Ordering::SeqCst,
        );
        self.want_scan.store(
            matches!(
                screen,
                Screen::Identify | Screen::PayScan | Screen::PayMethod | Screen::Home
            ),
            Ordering::SeqCst,
        );
    }

    fn busy(&self, zh: &'static str, en: &'static str) {
        let s = self.window.global::<Session>();
        s.set_busy_text(self.tr(L(zh, en)));
        s.set_busy(true);
        s.set_screen(Screen::Processing);
    }

    fn step(&self, n: i32) {
        let f = self.flow.borrow();
        let s = self.window.global::<Session>();
        s.set_steps(f.service.map(|x| x.steps()).unwrap_or(0));
        s.set_step(n);
    }

    /// Home: the session and everything personal is wiped from memory and screen.
    pub fn go_home(&self) {
        let (txn, cancel) = {
            let f = self.flow.borrow();
            (f.prepared.as_ref().map(|p| p.txn.id), f.cancel.clone())
        };
        if let Some(c) = cancel {
            c.cancel();
        }
        if let Some(id) = txn {
            // An unpaid hold is released; a payment in flight is the
            // recovery worker's (cancel refuses a paid transaction).
            let runner = self.be.runner.clone();
            self.be.rt.spawn(async move {
                let _ = runner.cancel(id).await;
            });
        }
        *self.flow.borrow_mut() = Flow::default();
        let w = &self.window;
        let s = w.global::<Session>();
        s.set_patient("".into());
        s.set_service("".into());
        s.set_steps(0);
        w.global::<IdentifyPage>().set_typed("".into());
        w.global::<IdentifyPage>().set_error("".into());
        w.global::<IdentifyPage>().set_complete(false);
        w.global::<ListPage>().set_items(ModelRc::default());
        w.global::<ListPage>().set_dates(ModelRc::default());
        w.global::<SlotPage>().set_slots(ModelRc::default());
        w.global::<SlotPage>().set_selected("".into());
        w.global::<ConfirmPage>().set_lines(ModelRc::default());
        w.global::<PayPage>().set_qr(slint::Image::default());
        w.global::<PayPage>().set_qr_url("".into());
        w.global::<PayPage>().set_error("".into());
        w.global::<ResultPage>().set_rated(false);
        if self.cfg.ui.elderly_mode_age > 0 {
            w.global::<Theme>().set_elderly(false);
        }
        self.refresh_tiles();
        self.touch();
        s.set_screen(Screen::Home);
        self.flow.borrow_mut().history.clear();
        self.want_card.store(true, Ordering::SeqCst);
        self.want_scan.store(true, Ordering::SeqCst);
    }

    fn go_back(&self) {
        let s = self.window.global::<Session>();
        let cur = s.get_screen();
        // Leaving confirmation or payment choice gives the slot back.
        if matches!(cur, Screen::Confirm | Screen::PayMethod) {
            let id = self.flow.borrow_mut().prepared.take().map(|p| p.txn.id);
            if let Some(id) = id {
                let runner = self.be.runner.clone();
                self.be.rt.spawn(async move {
                    let _ = runner.cancel(id).await;
                });
            }
        }
        let prev = self.flow.borrow_mut().history.pop();
        match prev {
            Some(Screen::Processing) | None => self.go_home(),
            Some(p) => {
                if p == Screen::List {
                    self.restore_list();
                }
                s.set_screen(p);
            }
        }
    }

    /// Why paid services are out (every service here ends with a slip, so
    /// all of them need the receipt printer), or `None`.
    fn blocked(&self) -> Option<String> {
        match self.be.devices.printer.health() {
            Health::Fault(r) => Some(match self.l() {
                Lang::Zh => format!("暂停服务：凭条打印机故障（{r}）"),
                Lang::En => format!("Out of service: receipt printer fault ({r})"),
            }),
            _ => None,
        }
    }

    pub fn refresh_tiles(&self) {
        let sv = &self.cfg.services;
        let mut tiles = Vec::new();
        for (s, on) in [
            (Service::Register, sv.register),
            (Service::Book, sv.book),
            (Service::CheckIn, sv.check_in),
            (Service::Settle, sv.settle),
        ] {
            if !on {
                continue;
            }
            let reason = self.blocked();
            tiles.push(TileData {
                id: s.id().into(),
                title: self.tr(s.title()),
                subtitle: match self.l() {
                    Lang::Zh => s.title().1.into(),
                    Lang::En => "".into(),
                },
                stripe: s.stripe(),
                enabled: reason.is_none(),
                reason: reason.unwrap_or_default().into(),
            });
        }
        self.window
            .global::<HomePage>()
            .set_tiles(ModelRc::new(VecModel::from(tiles)));
    }

    fn refresh_notice(&self) {
        self.window.global::<Session>().set_notice(self.tr(L(
            "本机仅支持微信、支付宝、银联及医保支付，不收现金。",
            "Cashless kiosk: WeChat Pay, Alipay, UnionPay and insurance only.",
        )));
    }

    fn open(&self, s: Service) {
        if let Some(reason) = self.blocked() {
            self.result(
                false,
                L("暂停服务", "Out of service"),
                reason,
                String::new(),
            );
            return;
        }
        self.flow.borrow_mut().service = Some(s);
        self.window
            .global::<Session>()
            .set_service(self.tr(s.title()));
        if self.flow.borrow().patient.is_none() {
            self.window.global::<IdentifyPage>().set_hint(self.tr(L(
                "请将身份证放在读卡区，或插入健康卡/医保卡，或扫描电子健康卡二维码。",
                "Place your ID card on the reader, insert a health or insurance card, or scan your e-health card QR code.",
            )));
            self.step(0);
            self.show(Screen::Identify);
        } else {
            self.begin_service();
        }
    }

    fn key(&self, k: &str) {
        let p = self.window.global::<IdentifyPage>();
        let mut typed = p.get_typed().to_string();
        match k {
            "⌫" => {
                typed.pop();
            }
            _ if typed.len() >= 18 => {}
            "X" if typed.len() != 17 => {}
            k => typed.push_str(k),
        }
        p.set_typed(typed.clone().into());
        let (complete, error) = if typed.len() < 18 {
            (false, String::new())
        } else {
            match IdNumber::parse(&typed, self.be.today) {
                Ok(_) => (true, String::new()),
                Err(e) => (
                    false,
                    match self.l() {
                        Lang::Zh => format!(
                            "身份证号码有误，请核对后重新输入（{}）",
                            text::id_error_zh(&e)
                        ),
                        Lang::En => format!("This ID number is not valid ({e}). Please check it."),
                    },
                ),
            }
        };
        p.set_complete(complete);
        p.set_error(error.into());
    }

    fn submit_typed(&self) {
        let typed = self.window.global::<IdentifyPage>().get_typed().to_string();
        if IdNumber::parse(&typed, self.be.today).is_err() {
            return;
        }
        self.busy("正在查询您的信息", "Looking up your record");
        let his = self.be.his.clone();
        self.be.rt.spawn(async move {
            let r = his.lookup_patient(CardKind::IdCard, &typed).await;
            post(Msg::Identified(r, None));
        });
    }

    fn begin_service(&self) {
        let Some(service) = self.flow.borrow().service else {
            self.go_home();
            return;
        };
        let his = self.be.his.clone();
        match service {
            Service::Register | Service::Book => {
                let date = if service == Service::Register {
                    self.be.today
                } else {
                    self.be.today + chrono::Duration::days(1)
                };
                self.flow.borrow_mut().date = Some(date);
                self.busy("正在加载科室", "Loading departments");
                self.be.rt.spawn(async move {
                    post(Msg::Departments(his.departments().await));
                });
            }
            Service::CheckIn => {
                let pid = self.patient_id();
                let today = self.be.today;
                self.busy("正在查询您的预约", "Looking up your appointments");
                self.be.rt.spawn(async move {
                    post(Msg::Appointments(his.appointments(&pid, Some(today)).await));
                });
            }
            Service::Settle => {
                let pid = self.patient_id();
                self.busy("正在查询待缴费用", "Looking up your bills");
                self.be.rt.spawn(async move {
                    post(Msg::Bills(his.bills(&pid, BillFilter::Unpaid).await));
                });
            }
        }
    }

    fn patient_id(&self) -> String {
        self.flow
            .borrow()
            .patient
            .as_ref()
            .map(|p| p.patient_id.clone())
            .unwrap_or_default()
    }

    fn his_failed(&self, e: &HisError) {
        let (zh, en) = e.patient_message();
        self.result(
            false,
            L("暂时无法办理", "Cannot continue right now"),
            t(self.l(), L(zh, en)).to_string(),
            String::new(),
        );
    }

    fn result(&self, ok: bool, title: L, message: String, next: String) {
        let r = self.window.global::<ResultPage>();
        r.set_ok(ok);
        r.set_title(self.tr(title));
        r.set_message(message.into());
        r.set_next(next.into());
        r.set_rated(false);
        self.flow.borrow_mut().pay_deadline = None;
        self.show(Screen::Result);
    }

    fn set_list(&self, kind: ListKind, title: L, subtitle: String, items: Vec<Choice>, empty: L) {
        self.flow.borrow_mut().list = Some(kind);
        let p = self.window.global::<ListPage>();
        p.set_title(self.tr(title));
        p.set_subtitle(subtitle.into());
        p.set_items(ModelRc::new(VecModel::from(items)));
        p.set_empty_text(self.tr(empty));
        p.set_dates(ModelRc::default());
    }

    fn restore_list(&self) {
        let kind = self.flow.borrow().list;
        match kind {
            Some(ListKind::Doctors) => {
                // Back from slots: the doctor list is still in the model.
                self.step(2);
            }
            Some(ListKind::Departments) => self.step(1),
            _ => {}
        }
    }

    fn show_departments(&self) {
        let (depts, service, date) = {
            let f = self.flow.borrow();
            (f.departments.clone(), f.service, f.date)
        };
        let lang = self.l();
        let items = depts
            .iter()
            .map(|d| Choice {
                id: d.department_id.clone().into(),
                title: match lang {
                    Lang::Zh => d.name_zh.clone(),
                    Lang::En => d.name_en.clone(),
                }
                .into(),
                detail: match lang {
                    Lang::Zh => d.location.description_zh.clone(),
                    Lang::En => d.location.description_en.clone(),
                }
                .into(),
                right: "".into(),
                enabled: true,
            })
            .collect();
        self.set_list(
            ListKind::Departments,
            L("请选择科室", "Choose a department"),
            String::new(),
            items,
            L("暂无可挂号科室", "No department is open"),
        );
        if service == Some(Service::Book) {
            let dates: Vec<Choice> = (1..=7)
                .map(|i| {
                    let d = self.be.today + chrono::Duration::days(i);
                    Choice {
                        id: d.to_string().into(),
                        title: d.format("%m-%d").to_string().into(),
                        detail: text::weekday(lang, d).into(),
                        right: "".into(),
                        enabled: true,
                    }
                })
                .collect();
            let p = self.window.global::<ListPage>();
            p.set_dates(ModelRc::new(VecModel::from(dates)));
            p.set_selected_date(date.map(|d| d.to_string()).unwrap_or_default().into());
        }
        self.step(1);
        self.show(Screen::List);
    }

    fn pick_date(&self, id: &str) {
        if let Ok(d) = id.parse::<NaiveDate>() {
            self.flow.borrow_mut().date = Some(d);
            self.window
                .global::<ListPage>()
                .set_selected_date(id.into());
        }
    }

    fn pick(&self, id: &str) {
        let kind = self.flow.borrow().list;
        let his = self.be.his.clone();
        match kind {
            Some(ListKind::Departments) => {
                let dept = self
                    .flow
                    .borrow()
                    .departments
                    .iter()
                    .find(|d| d.department_id == id)
                    .cloned();
                let Some(dept) = dept else { return };
                let date = self.flow.borrow().date.unwrap_or(self.be.today);
                self.flow.borrow_mut().department = Some(dept);
                let id = id.to_string();
                self.busy("正在查询医生排班", "Loading doctors");
                self.be.rt.spawn(async move {
                    post(Msg::Schedules(his.schedules(&id, date).await));
                });
            }
            Some(ListKind::Doctors) => {
                let s = self
                    .flow
                    .borrow()
                    .schedules
                    .iter()
                    .find(|s| s.schedule_id == id)
                    .cloned();
                let Some(s) = s else { return };
                self.flow.borrow_mut().schedule = Some(s);
                let id = id.to_string();
                self.busy("正在查询可选时段", "Loading times");
                self.be.rt.spawn(async move {
                    let r = match his.ping().await {
                        Ok(p) => his.slots(&id).await.map(|s| (s, p.now.time())),
                        Err(e) => Err(e),
                    };
                    post(Msg::Slots(r));
                });
            }
            Some(ListKind::Appointments) => {
                self.start(Intent::CheckIn {
                    appointment_id: id.to_string(),
                });
            }
            Some(ListKind::Bills) => {
                let (ids, insured) = {
                    let f = self.flow.borrow();
                    (
                        f.bills
                            .iter()
                            .map(|b| b.bill_id.clone())
                            .collect::<Vec<_>>(),
                        f.patient
                            .as_ref()
                            .is_some_and(|p| p.insurance != crate::domain::InsuranceType::None),
                    )
                };
                self.start(Intent::Settlement {
                    bill_ids: ids,
                    use_insurance: insured,
                });
            }
            None => {}
        }
    }

    fn confirm_slot(&self) {
        let slot = self.window.global::<SlotPage>().get_selected().to_string();
        if slot.is_empty() {
            return;
        }
        let intent = match self.flow.borrow().service {
            Some(Service::Book) => Intent::Booking {
                slot_id: slot,
                referral: false,
            },
            _ => Intent::Registration {
                slot_id: slot,
                referral: false,
            },
        };
        self.start(intent);
    }

    fn start(&self, intent: Intent) {
        let who = match self.flow.borrow().patient.as_ref() {
            Some(p) => PatientRef::of(p),
            None => return,
        };
        self.busy("正在为您办理", "Preparing");
        let runner = self.be.runner.clone();
        self.be.rt.spawn(async move {
            post(Msg::Prepared(Box::new(runner.start(&who, intent).await)));
        });
    }

    fn prepared(&self, p: Prepared) {
        let lang = self.l();
        let context = {
            let f = self.flow.borrow();
            let slot = self.window.global::<SlotPage>().get_selected();
            match (
                &f.department,
                &f.schedule,
                f.slots.iter().find(|s| s.slot_id == slot.as_str()),
            ) {
                (Some(d), Some(s), Some(sl)) => Some(format!(
                    "{} {} {} {}–{}",
                    match lang {
                        Lang::Zh => &d.name_zh,
                        Lang::En => &d.name_en,
                    },
                    s.doctor.name,
                    sl.date,
                    sl.start,
                    sl.end
                )),
                _ => None,
            }
        };
        let what = text::what(lang, &p, context.as_deref());
        let amount = p.amount;
        let service = self.flow.borrow().service;
        let id = p.txn.id;
        let mut lines = Vec::new();
        if let Some(ps) = &p.presettlement {
            for (label, m) in [
                (L("费用合计", "Total"), ps.total_fen),
                (L("医保统筹支付", "Insurance fund"), ps.fund_pay_fen),
                (
                    L("个人账户支付", "Personal account"),
                    ps.personal_account_fen,
                ),
            ] {
                lines.push(Choice {
                    id: "".into(),
                    title: self.tr(label),
                    detail: m.to_string().into(),
                    right: "".into(),
                    enabled: true,
                });
            }
        } else {
            lines.push(Choice {
                id: "".into(),
                title: self.tr(L("项目", "For")),
                detail: what.clone().into(),
                right: "".into(),
                enabled: true,
            });
        }
        let pay = self.window.global::<PayPage>();
        pay.set_what(what.into());
        pay.set_amount(amount.to_string().into());
        pay.set_error("".into());
        let channels: Vec<Choice> = [
            (
                "code",
                L("出示付款码", "Show your payment code"),
                L(
                    "微信、支付宝、云闪付付款码，对准扫码窗口",
                    "WeChat, Alipay or UnionPay payment code, under the scanner",
                ),
            ),
            (
                "qr",
                L("扫码支付", "Scan a QR code"),
                L(
                    "用手机扫描屏幕上的二维码",
                    "Scan the QR code on the screen with your phone",
                ),
            ),
        ]
        .into_iter()
        .map(|(id, title, detail)| Choice {
            id: id.into(),
            title: self.tr(title),
            detail: self.tr(detail),
            right: "".into(),
            enabled: true,
        })
        .collect();
        pay.set_channels(ModelRc::new(VecModel::from(channels)));
        self.flow.borrow_mut().prepared = Some(p);
        if amount == Money::ZERO {
            self.busy("正在办理", "Completing");
            let runner = self.be.runner.clone();
            self.be.rt.spawn(async move {
                post(Msg::Finished(runner.pay_nothing(id).await));
            });
            return;
        }
        match service {
            Some(Service::Settle) => {
                let c = self.window.global::<ConfirmPage>();
                c.set_title(self.tr(L("请核对费用", "Please check the amount")));
                c.set_lines(ModelRc::new(VecModel::from(lines)));
                c.set_amount(amount.to_string().into());
                c.set_action(self.tr(L("去支付 ›", "Pay ›")));
                self.step(2);
                self.show(Screen::Confirm);
            }
            _ => {
                self.step(service.map(|s| s.steps()).unwrap_or(0));
                self.show(Screen::PayMethod);
            }
        }
    }

    fn confirm_pay(&self) {
        self.step(3);
        self.show(Screen::PayMethod);
    }

    fn choose_channel(&self, id: &str) {
        let txn = match self.flow.borrow().prepared.as_ref() {
            Some(p) => p.txn.id,
            None => return,
        };
        let timeout = Duration::from_secs(self.be.runner.config().qr_timeout.as_secs().max(30));
        self.flow.borrow_mut().pay_deadline = Some(std::time::Instant::now() + timeout);
        self.window
            .global::<PayPage>()
            .set_seconds_left(timeout.as_secs() as i32);
        match id {
            "code" => {
                self.be.devices.scanner.drain();
                self.show(Screen::PayScan);
            }
            _ => {
                self.busy("正在生成支付二维码", "Preparing the QR code");
                let runner = self.be.runner.clone();
                let channel = self
                    .be
                    .channels
                    .first()
                    .copied()
                    .unwrap_or(PayChannel::Wechat);
                self.be.rt.spawn(async move {
                    post(Msg::Qr(runner.start_qr(txn, channel).await));
                });
            }
        }
    }

    fn cancel_payment(&self) {
        let (cancel, id, screen) = {
            let f = self.flow.borrow();
            (
                f.cancel.clone(),
                f.prepared.as_ref().map(|p| p.txn.id),
                self.window.global::<Session>().get_screen(),
            )
        };
        if let Some(c) = cancel {
            // The QR wait ends and the runner closes the order.
            c.cancel();
            self.busy("正在取消", "Cancelling");
            return;
        }
        if let (Some(id), Screen::PayScan) = (id, screen) {
            self.busy("正在取消", "Cancelling");
            let runner = self.be.runner.clone();
            self.be.rt.spawn(async move {
                post(Msg::Finished(runner.cancel(id).await));
            });
        }
    }

    fn finished(&self, o: Outcome) {
        let lang = self.l();
        self.flow.borrow_mut().prepared = None;
        self.flow.borrow_mut().cancel = None;
        let (ok, title, message, next) = text::outcome(lang, &o);
        self.result(ok, title, message, next);
        self.refresh_tiles();
    }

    /// `before_payment`: nothing can have been charged (HIS refused, the
    /// QR could not be made). Otherwise the outcome is the journal's to
    /// finish, and the patient is told how to follow up, not promised.
    fn run_failed(&self, e: RunError, before_payment: bool) {
        let lang = self.l();
        let txn = self
            .flow
            .borrow()
            .prepared
            .as_ref()
            .map(|p| p.txn.key_base());
        let (zh, en) = e.patient_message();
        let msg = match lang {
            Lang::Zh => zh,
            Lang::En => en,
        };
        self.flow.borrow_mut().prepared = None;
        let next = if before_payment {
            t(lang, L("未扣款。", "Nothing was charged.")).to_string()
        } else {
            match lang {
                Lang::Zh => format!(
                    "如已扣款，系统会自动完成办理或原路退回。如有疑问请凭交易号 {} 到人工窗口。",
                    txn.unwrap_or_default()
                ),
                Lang::En => format!(
                    "If money was taken, the kiosk completes the service or refunds it automatically. Ask at a staffed window with transaction {} if in doubt.",
                    txn.unwrap_or_default()
                ),
            }
        };
        self.result(false, L("未能办理", "Not done"), msg, next);
        self.refresh_tiles();
    }

    /// Apply a background result on the UI thread.
    pub fn apply(self: Rc<Self>, msg: Msg) {
        let lang = self.l();
        match msg {
            Msg::Identified(Ok(p), elderly) => {
                if elderly.is_some() {
                    self.window.global::<Theme>().set_elderly(true);
                }
                let label = format!("{} · {}", p.name_masked(), p.id_number_masked);
                self.window.global::<Session>().set_patient(label.into());
                self.flow.borrow_mut().patient = Some(p);
                if self.flow.borrow().service.is_some() {
                    self.begin_service();
                } else {
                    // A card presented on the home screen: choose a service.
                    self.touch();
                }
            }
            Msg::Identified(Err(e), _) => {
                if e.code() == Some(crate::his::wire::ErrorCode::PatientNotFound) {
                    self.result(
                        false,
                        L("未找到您的就诊档案", "No patient record found"),
                        t(lang, L(
                            "您还没有在本院建档。请到人工窗口建档办卡，或使用其他证件。",
                            "You are not registered at this hospital yet. Please register at a staffed window, or use another card.",
                        ))
                        .into(),
                        String::new(),
                    );
                } else {
                    self.his_failed(&e);
                }
            }
            Msg::CardError(l) => {
                if self.window.global::<Session>().get_screen() == Screen::Identify {
                    self.window.global::<IdentifyPage>().set_error(self.tr(l));
                }
            }
            Msg::Departments(Ok(d)) => {
                self.flow.borrow_mut().departments = d;
                self.show_departments();
            }
            Msg::Schedules(Ok(s)) => {
                let items: Vec<Choice> = s.iter().map(|s| text::doctor_choice(lang, s)).collect();
                self.flow.borrow_mut().schedules = s;
                let dept = self
                    .flow
                    .borrow()
                    .department
                    .as_ref()
                    .map(|d| match lang {
                        Lang::Zh => d.name_zh.clone(),
                        Lang::En => d.name_en.clone(),
                    })
                    .unwrap_or_default();
                self.set_list(
                    ListKind::Doctors,
                    L("请选择医生", "Choose a doctor"),
                    dept,
                    items,
                    L(
                        "该科室当天没有出诊医生，请选择其他科室或日期。",
                        "No doctor in this department that day. Choose another department or date.",
                    ),
                );
                self.step(2);
                self.show(Screen::List);
            }
            Msg::Slots(Ok((slots, now))) => {
                let s = self.flow.borrow().schedule.clone();
                let Some(s) = s else { return };
                let today = self.be.today;
                let items: Vec<SlotData> = slots
                    .iter()
                    .map(|sl| text::slot_data(lang, sl, sl.date == today && sl.start.time() <= now))
                    .collect();
                self.flow.borrow_mut().slots = slots;
                let p = self.window.global::<SlotPage>();
                p.set_doctor(s.doctor.name.clone().into());
                p.set_detail(text::doctor_detail(lang, &s).into());
                p.set_fee(s.fee_fen.to_string().into());
                p.set_selected("".into());
                p.set_slots(ModelRc::new(VecModel::from(items)));
                self.step(3);
                self.show(Screen::Slots);
            }
            Msg::Appointments(Ok(a)) => {
                let today = self.be.today;
                let items: Vec<Choice> = a
                    .iter()
                    .filter(|a| a.can_check_in(today))
                    .map(|a| text::appointment_choice(lang, a))
                    .collect();
                self.set_list(
                    ListKind::Appointments,
                    L("请选择要签到的预约", "Choose the appointment to check in"),
                    String::new(),
                    items,
                    L(
                        "您今天没有可签到的预约。",
                        "You have no appointment to check in today.",
                    ),
                );
                self.step(1);
                self.show(Screen::List);
            }
            Msg::Bills(Ok(b)) => {
                let items: Vec<Choice> = b.iter().map(|b| text::bill_choice(lang, b)).collect();
                let total = Money::sum(b.iter().map(|b| b.total_fen)).unwrap_or(Money::ZERO);
                self.flow.borrow_mut().bills = b;
                self.set_list(
                    ListKind::Bills,
                    L("待缴费用", "Bills to pay"),
                    match lang {
                        Lang::Zh => format!("合计 {total}，点任一项一并结算"),
                        Lang::En => format!("Total {total}. Tap any bill to settle them all."),
                    },
                    items,
                    L("您没有待缴费用。", "You have no unpaid bills."),
                );
                self.step(1);
                self.show(Screen::List);
            }
            Msg::Departments(Err(e))
            | Msg::Schedules(Err(e))
            | Msg::Slots(Err(e))
            | Msg::Appointments(Err(e))
            | Msg::Bills(Err(e)) => self.his_failed(&e),
            Msg::Prepared(r) => match *r {
                Ok(p) => self.prepared(p),
                Err(e) => self.run_failed(e, true),
            },
            Msg::Qr(Err(e)) => self.run_failed(e, true),
            Msg::Finished(Err(e)) => self.run_failed(e, false),
            Msg::Qr(Ok(q)) => {
                let pay = self.window.global::<PayPage>();
                pay.set_qr(text::qr_image(&q.code_url));
                pay.set_qr_url(q.code_url.clone().into());
                let flag = CancelFlag::default();
                {
                    let mut f = self.flow.borrow_mut();
                    f.qr_url = Some(q.code_url.clone());
                    f.cancel = Some(flag.clone());
                }
                let id = self.flow.borrow().prepared.as_ref().map(|p| p.txn.id);
                self.show(Screen::PayQr);
                if let Some(id) = id {
                    let runner = self.be.runner.clone();
                    self.be.rt.spawn(async move {
                        post(Msg::Finished(runner.await_qr(id, &flag).await));
                    });
                }
            }
            Msg::Finished(Ok(o)) => self.finished(o),
            Msg::Scanned(code) => self.scanned(code),
            Msg::DevicesChanged => {
                if self.window.global::<Session>().get_screen() == Screen::Home {
                    self.refresh_tiles();
                }
            }
        }
    }

    fn scanned(&self, code: kiosk_drivers::scanner::Scanned) {
        use kiosk_drivers::scanner::Scanned as S;
        let screen = self.window.global::<Session>().get_screen();
        match (screen, code) {
            // A payment code shown on the choice screen pays at once: no tap.
            (Screen::PayScan | Screen::PayMethod, S::PaymentCode(c)) => {
                let id = self.flow.borrow().prepared.as_ref().map(|p| p.txn.id);
                let Some(id) = id else { return };
                self.busy(
                    "正在支付，请在手机上确认",
                    "Paying. Confirm on your phone if asked.",
                );
                let runner = self.be.runner.clone();
                self.be.rt.spawn(async move {
                    post(Msg::Finished(runner.pay_with_code(id, &c).await));
                });
            }
            (Screen::Identify | Screen::Home, S::HealthQr(c)) => {
                let his = self.be.his.clone();
                self.be.rt.spawn(async move {
                    post(Msg::Identified(
                        his.lookup_patient(CardKind::QrHealthCode, &c).await,
                        None,
                    ));
                });
            }
            (Screen::PayScan, _) => {
                self.window.global::<PayPage>().set_error(self.tr(L(
                    "这不是付款码，请打开微信/支付宝/云闪付的付款码。",
                    "That is not a payment code. Open the payment code in WeChat, Alipay or UnionPay.",
                )));
            }
            _ => {}
        }
    }

    /// The demo panel: play the patient's and the technician's part.
    fn demo(&self, action: &str) {
        let Some(seed) = self.be.demo_seed else {
            return;
        };
        let sims = &self.be.devices.sims;
        let patients = crate::his::sim::seed::patients(seed);
        let card = |i: usize| {
            patients
                .get(i)
                .map(|p| kiosk_drivers::idcard::frame::CardText {
                    name: p.name.clone(),
                    sex: if p.sex == crate::domain::Sex::Female {
                        '2'
                    } else {
                        '1'
                    },
                    nation: "01".into(),
                    birth: p.birth_date.format("%Y%m%d").to_string(),
                    address: "浙江省宁波市海曙区".into(),
                    id_number: p.id_number.clone(),
                    issuer: "宁波市公安局".into(),
                    valid_from: "20200101".into(),
                    valid_to: "长期".into(),
                })
        };
        match action {
            "card-new" | "card-bills" | "card-appt" => {
                let i = match action {
                    "card-new" => 3,
                    "card-bills" => 0,
                    _ => 65,
                };
                if let (Some(sim), Some(c)) = (&sims.id_reader, card(i)) {
                    sim.insert(c);
                    // Taken off after a moment, as a patient does.
                    let devices = self.be.devices.clone();
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_secs(3));
                        if let Some(sim) = &devices.sims.id_reader {
                            sim.remove();
                        }
                    });
                }
            }
            "scan-pay" => {
                if let Some(sim) = &sims.scanner {
                    let n = chrono::Utc::now()
                        .timestamp_micros()
                        .rem_euclid(10_i64.pow(16));
                    let _ = sim.scan(&format!("13{n:016}"));
                }
            }
            "pay-qr" => {
                let url = self.flow.borrow().qr_url.clone();
                if let Some(url) = url {
                    self.be.rt.spawn(async move {
                        if let Err(e) = reqwest::get(&url).await {
                            tracing::warn!(error = %e, "demo: paying the QR failed");
                        }
                    });
                }
            }
            "paper" => {
                if let Some(sim) = &sims.printer {
                    if sim.status().paper_end {
                        sim.load_paper(None);
                    } else {
                        sim.set_paper_lines(Some(0));
                    }
                    let _ = self.be.devices.printer.check();
                    self.refresh_tiles();
                }
            }
            _ => {}
        }
    }
}

fn age_from(birth: &str, today: NaiveDate) -> Option<u32> {
    let b = NaiveDate::parse_from_str(birth, "%Y%m%d")
        .or_else(|_| NaiveDate::parse_from_str(birth, "%Y-%m-%d"))
        .ok()?;
    today.years_since(b)
}

/// Run the kiosk UI until the window closes.
pub fn run(app: &App, rt: tokio::runtime::Handle) -> Result<(), UiError> {
    let c = Controller::new(app.cfg.clone(), Backend::of(app, rt))?;
    c.start_background();
    c.window.run()?;
    CONTROLLER.with(|slot| slot.borrow_mut().take());
    Ok(())
}

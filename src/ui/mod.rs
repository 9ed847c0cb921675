//! The patient UI: the Slint window (ui/app.slint) and the controller that
//! fills it from HIS data and drives transactions.
//!
//! Threading: the Slint event loop owns the window and the [`Controller`]
//! (UI thread only). HIS, payment and device work runs on tokio or device
//! threads; each result comes back as a [`Msg`] through
//! `slint::invoke_from_event_loop`, so no callback ever blocks the loop.

mod maint;
pub mod screenshot;
mod text;
mod voice;

use crate::app::App;
use crate::domain::{
    Appointment, AppointmentStatus, Bill, BillStatus, CardKind, Department, IdNumber, Location,
    Money, Patient, PayChannel, Phone, Report, Schedule, Slot,
};
use crate::his::{BillFilter, HisError, HisGateway};
use crate::txn::{CancelFlag, Intent, Outcome, PatientRef, Prepared, RunError, TxnKind};
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
pub use voice::Voice;

/// How long an A4 report job may take to be taken by the printer.
const REPORT_JOB_TIMEOUT: Duration = Duration::from_secs(120);
/// The technician PIN of demo mode (embedded simulators, no technician
/// configured): five taps on the logo, then this.
pub const DEMO_TECH_PIN: &str = "24681357";
/// Its argon2id hash, made once (`kiosk maint hash-pin`) rather than at
/// every start.
pub const DEMO_TECH_PIN_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$nqmEto1gXDCW4vsDU0UiDg$6vaOGwKbt5qig/o9bKQ8vxVabsbmGe52VsgFcfO9p78";
/// Price list rows shown for one search.
const PRICE_ROWS: u32 = 50;

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

/// The services: the home screen's tiles and the query menu's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Register,
    Book,
    CheckIn,
    Settle,
    /// A menu of the queries below.
    Query,
    Reports,
    Cancel,
    Enroll,
    /// Itemized bills, paid and unpaid.
    Bills,
    /// Queue position for today's visit.
    Queue,
    /// The price list (R9): needs no card.
    Prices,
    /// The floor guide (R11): needs no card.
    Guide,
}

/// A device a service cannot do without.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    ReceiptPrinter,
    ReportPrinter,
}

impl Service {
    const ALL: [Service; 12] = [
        Service::Register,
        Service::Book,
        Service::CheckIn,
        Service::Settle,
        Service::Query,
        Service::Reports,
        Service::Cancel,
        Service::Enroll,
        Service::Bills,
        Service::Queue,
        Service::Prices,
        Service::Guide,
    ];
    fn id(self) -> &'static str {
        match self {
            Service::Register => "register",
            Service::Book => "book",
            Service::CheckIn => "check_in",
            Service::Settle => "settle",
            Service::Query => "query",
            Service::Reports => "reports",
            Service::Cancel => "cancel",
            Service::Enroll => "enroll",
            Service::Bills => "bills",
            Service::Queue => "queue",
            Service::Prices => "prices",
            Service::Guide => "guide",
        }
    }
    fn from_id(id: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.id() == id)
    }
    fn title(self) -> L {
        match self {
            Service::Register => L("当日挂号", "Register today"),
            Service::Book => L("预约挂号", "Book an appointment"),
            Service::CheckIn => L("预约取号", "Check in"),
            Service::Settle => L("门诊缴费", "Pay bills"),
            Service::Query => L("查询服务", "Queries"),
            Service::Reports => L("报告打印", "Print reports"),
            Service::Cancel => L("取消预约", "Cancel a booking"),
            Service::Enroll => L("建档办卡", "New patient record"),
            Service::Bills => L("费用明细", "Itemized bills"),
            Service::Queue => L("排队查询", "Queue position"),
            Service::Prices => L("价格查询", "Price list"),
            Service::Guide => L("科室分布", "Floor guide"),
        }
    }
    /// One line under the title in the query menu.
    fn blurb(self) -> L {
        match self {
            Service::Bills => L(
                "已缴和待缴费用的每一项",
                "Every item of your paid and unpaid bills",
            ),
            Service::Queue => L(
                "今天就诊还要等多久",
                "How many people are ahead of you today",
            ),
            Service::Prices => L(
                "药品和诊疗项目价格，可用拼音首字母查",
                "Drug and service prices, searchable by pinyin initials",
            ),
            Service::Guide => L("各楼层科室位置", "Which department is on which floor"),
            _ => L("", ""),
        }
    }
    fn stripe(self) -> slint::Color {
        let (r, g, b) = match self {
            Service::Register => (0x0b, 0x5c, 0xad),
            Service::Book => (0x1e, 0x8a, 0x5c),
            Service::CheckIn => (0x7b, 0x4f, 0xd6),
            Service::Settle => (0xe0, 0x8a, 0x2e),
            Service::Query | Service::Bills | Service::Queue | Service::Prices => {
                (0x2a, 0x9d, 0x8f)
            }
            Service::Reports => (0x45, 0x7b, 0x9d),
            Service::Cancel => (0x9b, 0x5d, 0x5d),
            Service::Enroll | Service::Guide => (0x6c, 0x75, 0x7d),
        };
        slint::Color::from_rgb_u8(r, g, b)
    }
    fn steps(self) -> i32 {
        match self {
            Service::Register | Service::Book => 4,
            Service::CheckIn | Service::Settle => 3,
            _ => 0,
        }
    }
    /// Identify the patient first.
    fn needs_patient(self) -> bool {
        !matches!(self, Service::Query | Service::Prices | Service::Guide)
    }
    /// Every paid service and the cancellation end with a slip.
    fn needs(self) -> Option<Needs> {
        match self {
            Service::Register
            | Service::Book
            | Service::CheckIn
            | Service::Settle
            | Service::Cancel => Some(Needs::ReceiptPrinter),
            Service::Reports => Some(Needs::ReportPrinter),
            _ => None,
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
    QueryMenu,
    BillHistory,
    Maint,
    MaintTxns,
    /// The out-of-service notices to choose from.
    MaintNotices,
    /// How a `NeedsStaff` transaction was resolved.
    MaintResolutions,
    Queue,
    Reports,
    Cancellable,
}

/// Results of background work, applied on the UI thread.
#[allow(clippy::large_enum_variant)]
pub enum Msg {
    /// A lookup's answer; the age when elderly mode should switch on; the
    /// name and number read from an ID card (what enrolment needs).
    Identified(Result<Patient, HisError>, Option<u32>, Option<CardHolder>),
    Enrolled(Result<Patient, HisError>),
    CardError(L),
    Departments(Result<Vec<Department>, HisError>),
    Schedules(Result<Vec<Schedule>, HisError>),
    /// The slots, and HIS's time of day (slots that started are not offered).
    Slots(Result<(Vec<Slot>, chrono::NaiveTime), HisError>),
    Appointments(Result<Vec<Appointment>, HisError>),
    Bills(Result<Vec<Bill>, HisError>),
    Queue(Result<crate::domain::QueueStatus, HisError>),
    /// The search it answers, and the page of the price list.
    Prices(String, Result<crate::his::wire::PriceList, HisError>),
    Reports(Result<Vec<Report>, HisError>),
    ReportsPrinted(crate::reports::PrintRun),
    /// The departments for the floor guide.
    Map(Result<Vec<Department>, HisError>),
    Prepared(Box<Result<Prepared, RunError>>),
    MaintLogin(Result<crate::maint::Login, String>),
    MaintTested(Vec<crate::doctor::TestResult>),
    MaintReconciled(Result<crate::txn::reconcile::Summary, String>),
    MaintRecovered(Result<String, String>),
    Qr(Result<crate::pay::QrOrder, RunError>),
    Finished(Result<Outcome, RunError>),
    Scanned(kiosk_drivers::scanner::Scanned),
    DevicesChanged,
}

/// Who an ID card says the holder is (real-name enrolment, R1).
#[derive(Clone)]
pub struct CardHolder {
    pub name: String,
    pub id_number: String,
}

/// What the detail screen's button does.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DetailAction {
    /// Go and pay the unpaid bills.
    PayBills,
    /// Cancel this booked appointment.
    CancelBooking(String),
    /// Maintenance: mark a NeedsStaff transaction resolved (second button:
    /// reprint its voucher).
    MaintResolve(i64),
    /// Maintenance: drive an unfinished transaction again.
    MaintRetry(i64),
    /// Maintenance: print the slip of a completed transaction whose slip
    /// did not come out.
    MaintReprint(i64),
}

/// The patient's session: wiped on Home and on idle.
#[derive(Default)]
struct Flow {
    card_holder: Option<CardHolder>,
    /// Kept for the enrolment's retries, so HIS enrols once.
    enroll_key: Option<String>,
    appointments: Vec<Appointment>,
    reports: Vec<Report>,
    chosen_reports: std::collections::BTreeSet<String>,
    price_query: String,
    detail_action: Option<DetailAction>,
    /// The transactions on the maintenance list.
    maint_txns: Vec<crate::txn::Txn>,
    /// The `NeedsStaff` transaction whose resolution is being chosen.
    maint_resolving: Option<i64>,
    /// Where the patient goes next (the floor guide marks it).
    destination: Option<Location>,
    service: Option<Service>,
    patient: Option<Patient>,
    departments: Vec<Department>,
    department: Option<Department>,
    date: Option<NaiveDate>,
    schedules: Vec<Schedule>,
    schedule: Option<Schedule>,
    slots: Vec<Slot>,
    bills: Vec<Bill>,
    /// The list the list screen is filled with (set before it shows).
    list: Option<ListKind>,
    /// The list on screen when the list screen last showed: what Back
    /// returns to, even once `list` was replaced by the next list.
    shown_list: Option<ListKind>,
    prepared: Option<Prepared>,
    cancel: Option<CancelFlag>,
    qr_url: Option<String>,
    pay_deadline: Option<std::time::Instant>,
    /// Where Back goes: each screen left, with the list it showed.
    history: Vec<(Screen, Option<ListKind>)>,
}

/// Everything background work needs (all `Send + Sync`).
#[derive(Clone)]
pub struct Backend {
    pub his: Arc<dyn HisGateway>,
    pub pay: Arc<dyn crate::pay::PaymentGateway>,
    /// Session busy/idle time for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Technician access; `None` when its database cannot be opened.
    pub maint: Option<Arc<crate::maint::Maintenance>>,
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
        let mut policy = app.cfg.maintenance.policy();
        if app.his_sim.is_some() && policy.pins.is_empty() {
            // Demo mode only (embedded simulators): a known PIN so a
            // newcomer can try the maintenance screens. A real kiosk has
            // no technician until IT configures one.
            tracing::warn!("demo mode: technician \"demo\" has PIN {DEMO_TECH_PIN}");
            policy.pins.insert("demo".into(), DEMO_TECH_PIN_HASH.into());
        }
        let maint = crate::maint::Maintenance::open(&app.cfg.kiosk.data_dir, policy)
            .map_err(|e| tracing::error!(error = %e, "maintenance is unavailable"))
            .ok()
            .map(Arc::new);
        Backend {
            clock_offset: Arc::new(std::sync::atomic::AtomicI64::new(offset)),
            his: app.his.clone(),
            pay: app.pay.clone(),
            metrics: app.metrics.clone(),
            maint,
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
    voice: Voice,
    /// The hidden gesture's recent taps.
    logo_taps: RefCell<Vec<std::time::Instant>>,
    /// The technician PIN being typed (never on screen).
    pin: RefCell<String>,
    /// The technician logged in, if any.
    tech: RefCell<Option<String>>,
    /// Set by a technician: every service is off with this notice (its id).
    out_of_service: RefCell<Option<String>>,
    /// The scanner test's deadline while it waits for a code.
    scan_test: RefCell<Option<std::time::Instant>>,
    /// When the current session left the home screen (busy time), and
    /// when the kiosk last went back to it (idle time).
    busy_since: RefCell<Option<std::time::Instant>>,
    idle_since: RefCell<std::time::Instant>,
}

impl Controller {
    /// Build the window and its controller (no event loop, no threads yet).
    pub fn new(cfg: crate::config::Config, be: Backend) -> Result<Rc<Controller>, UiError> {
        let out_of_service = be.maint.as_ref().and_then(|m| m.out_of_service());
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
            logo_taps: RefCell::new(Vec::new()),
            pin: RefCell::new(String::new()),
            tech: RefCell::new(None),
            out_of_service: RefCell::new(out_of_service),
            scan_test: RefCell::new(None),
            busy_since: RefCell::new(None),
            idle_since: RefCell::new(std::time::Instant::now()),
            voice: if cfg.ui.voice {
                Voice::start(&cfg.ui.voice_command)
            } else {
                Voice::off()
            },
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
        w.global::<ResultPage>().on_done(with(|c| {
            if c.in_maintenance() {
                c.maint_menu();
            } else {
                c.go_home();
            }
        }));
        s.on_logo_tapped(with(|c| c.logo_tapped()));
        w.global::<DetailPage>().on_act2(with(|c| {
            let a = c.flow.borrow().detail_action.clone();
            if let Some(a) = a {
                c.maint_detail_action(a, true);
            }
        }));
        w.global::<ResultPage>().on_show_map(with(|c| c.show_map()));
        w.global::<ListPage>().on_act(with(|c| c.list_action()));
        w.global::<DetailPage>().on_act(with(|c| c.detail_action()));
        w.global::<DetailPage>().on_show_map(with(|c| c.show_map()));
        let weak = Rc::downgrade(self);
        w.global::<PricePage>().on_key(move |k| {
            if let Some(c) = weak.upgrade() {
                c.touch();
                c.price_key(&k);
            }
        });
    }

    /// The prompts spoken so far (elderly mode with voice on).
    pub fn voice(&self) -> &Voice {
        &self.voice
    }

    /// Speak the screen's prompt, in elderly mode when voice is on.
    fn speak(&self, screen: Screen) {
        if !self.cfg.ui.voice || !self.window.global::<Theme>().get_elderly() {
            return;
        }
        let w = &self.window;
        let fixed = |l: L| t(self.l(), l).to_string();
        let text = match screen {
            Screen::Home => fixed(L(
                "请选择服务，或出示身份证",
                "Choose a service, or present your ID card",
            )),
            Screen::Identify if w.global::<IdentifyPage>().get_phone() => {
                fixed(L("请输入您的手机号码", "Please type your mobile number"))
            }
            Screen::Identify => fixed(L(
                "请出示身份证、医保卡，或输入身份证号码",
                "Present your ID or insurance card, or type your ID number",
            )),
            Screen::List => w.global::<ListPage>().get_title().to_string(),
            Screen::Slots => fixed(L("请选择就诊时间", "Please choose a time")),
            Screen::Confirm => fixed(L(
                "请核对费用，确认后支付",
                "Please check the amount, then pay",
            )),
            Screen::PayMethod => format!(
                "{}{}",
                fixed(L("请选择支付方式，应付", "Choose how to pay. You pay ")),
                w.global::<PayPage>().get_amount()
            ),
            Screen::PayScan => fixed(L(
                "请出示付款码，对准扫码窗口",
                "Hold your payment code under the scanner",
            )),
            Screen::PayQr => fixed(L(
                "请用手机扫描屏幕上的二维码",
                "Scan the QR code on the screen with your phone",
            )),
            Screen::Processing => w.global::<Session>().get_busy_text().to_string(),
            Screen::Result => {
                let r = w.global::<ResultPage>();
                format!("{}。{}", r.get_title(), r.get_message())
            }
            Screen::Detail => {
                let d = w.global::<DetailPage>();
                format!(
                    "{}。{}{}",
                    d.get_title(),
                    d.get_big_label(),
                    d.get_big_value()
                )
            }
            Screen::Prices => fixed(L(
                "请输入拼音首字母查询价格",
                "Type pinyin initials to search prices",
            )),
            Screen::Map => w.global::<MapPage>().get_destination().to_string(),
        };
        self.voice.say(self.l(), &text);
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
                        Ok(Some(card)) => Some((
                            CardKind::IdCard,
                            card.id_number.clone(),
                            card.birth.clone(),
                            Some(CardHolder {
                                name: card.name.trim().to_string(),
                                id_number: card.id_number.clone(),
                            }),
                        )),
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
                                None,
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
                    let Some((kind, number, birth, holder)) = found else {
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
                        post(Msg::Identified(r, elderly, holder));
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
        let secs = if self.in_maintenance() {
            self.cfg.maintenance.idle_timeout_secs
        } else {
            self.cfg.ui.idle_timeout_secs
        } as i32;
        *self.idle_left.borrow_mut() = secs;
        let s = self.window.global::<Session>();
        s.set_idle_visible(false);
        s.set_idle_left(secs);
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
        self.maint_tick();
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
            self.maint_logout("idle");
            self.go_home();
        }
    }

    fn show(&self, screen: Screen) {
        let s = self.window.global::<Session>();
        let cur = s.get_screen();
        if cur != screen || cur == Screen::List {
            self.remember(cur);
        }
        self.mark_busy(screen);
        s.set_screen(screen);
        self.note_shown(screen);
        s.set_busy(false);
        s.set_can_go_back(!matches!(
            screen,
            Screen::PayScan | Screen::PayQr | Screen::Result
        ));
        self.speak(screen);
        self.want_card.store(
            matches!(screen, Screen::Home | Screen::Identify)
                && self.flow.borrow().patient.is_none()
                && !self.in_maintenance()
                && self.out_of_service.borrow().is_none()
                && !self.window.global::<IdentifyPage>().get_pin(),
            Ordering::SeqCst,
        );
        self.want_scan.store(
            matches!(
                screen,
                Screen::Identify | Screen::PayScan | Screen::PayMethod | Screen::Home
            ) && !(screen == Screen::Home && self.out_of_service.borrow().is_some()),
            Ordering::SeqCst,
        );
    }

    /// A session starts when the kiosk leaves the home screen: idle time ends.
    fn mark_busy(&self, screen: Screen) {
        if screen == Screen::Home || self.busy_since.borrow().is_some() {
            return;
        }
        let now = std::time::Instant::now();
        self.be
            .metrics
            .session_idle(now.duration_since(*self.idle_since.borrow()));
        *self.busy_since.borrow_mut() = Some(now);
    }

    /// Note the screen being left, for Back (waits and home are not kept).
    /// Record which list is on screen once the list screen shows.
    fn note_shown(&self, screen: Screen) {
        if screen == Screen::List {
            let mut f = self.flow.borrow_mut();
            f.shown_list = f.list;
        }
    }

    fn remember(&self, cur: Screen) {
        let mut f = self.flow.borrow_mut();
        if matches!(cur, Screen::Processing | Screen::Home) {
            return;
        }
        let entry = (cur, (cur == Screen::List).then_some(f.shown_list).flatten());
        if f.history.last() != Some(&entry) {
            f.history.push(entry);
        }
    }

    /// Waiting for a lookup (nothing paid, nothing changed): the patient may
    /// cancel the wait; its late answer is then dropped.
    fn lookup(&self, zh: &'static str, en: &'static str) {
        self.busy(zh, en);
        let s = self.window.global::<Session>();
        s.set_busy_cancellable(true);
        s.set_can_go_back(true);
    }

    fn busy(&self, zh: &'static str, en: &'static str) {
        let s = self.window.global::<Session>();
        s.set_busy_cancellable(false);
        // Back during a transaction step would leave it behind the screen.
        s.set_can_go_back(false);
        self.remember(s.get_screen());
        s.set_busy_text(self.tr(L(zh, en)));
        s.set_busy(true);
        self.mark_busy(Screen::Processing);
        s.set_screen(Screen::Processing);
        self.speak(Screen::Processing);
    }

    fn step(&self, n: i32) {
        let f = self.flow.borrow();
        let s = self.window.global::<Session>();
        s.set_steps(f.service.map(|x| x.steps()).unwrap_or(0));
        s.set_step(n);
    }

    /// Home: the session and everything personal is wiped from memory and screen.
    pub fn go_home(&self) {
        self.maint_logout("home");
        if let Some(t) = self.busy_since.borrow_mut().take() {
            self.be.metrics.session_busy(t.elapsed());
            *self.idle_since.borrow_mut() = std::time::Instant::now();
        }
        *self.scan_test.borrow_mut() = None;
        self.window.global::<ResultPage>().set_offer_rating(true);
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
        w.global::<IdentifyPage>().set_phone(false);
        w.global::<IdentifyPage>().set_typed("".into());
        w.global::<IdentifyPage>().set_error("".into());
        w.global::<IdentifyPage>().set_complete(false);
        w.global::<ListPage>().set_items(ModelRc::default());
        w.global::<ListPage>().set_dates(ModelRc::default());
        w.global::<ListPage>().set_action("".into());
        w.global::<DetailPage>().set_rows(ModelRc::default());
        w.global::<DetailPage>().set_title("".into());
        w.global::<DetailPage>().set_subtitle("".into());
        w.global::<DetailPage>().set_big_value("".into());
        w.global::<PricePage>().set_items(ModelRc::default());
        w.global::<PricePage>().set_query("".into());
        w.global::<MapPage>().set_floors(ModelRc::default());
        w.global::<MapPage>().set_destination("".into());
        w.global::<ResultPage>().set_has_map(false);
        w.global::<ResultPage>().set_message("".into());
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
        // Out of service, a card or a code on the home screen starts nothing.
        let open = self.out_of_service.borrow().is_none();
        self.want_card.store(open, Ordering::SeqCst);
        self.want_scan.store(open, Ordering::SeqCst);
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
        // The screen itself may be on top (a list replaced by the next list).
        let prev = loop {
            let top = self.flow.borrow_mut().history.pop();
            match top {
                Some((p, k))
                    if p == cur && (p != Screen::List || k == self.flow.borrow().shown_list) =>
                {
                    continue
                }
                // Once identified, the card screen has nothing left to do.
                Some((Screen::Identify, _)) if self.flow.borrow().patient.is_some() => continue,
                other => break other,
            }
        };
        match prev {
            Some((Screen::Processing, _)) | None => self.go_home(),
            Some((p, kind)) => {
                if let (Screen::List, Some(kind)) = (p, kind) {
                    self.render_list(kind);
                }
                s.set_screen(p);
                self.note_shown(p);
                s.set_can_go_back(true);
                self.speak(p);
            }
        }
    }

    /// Why `service` is out of service now (a device it needs is in
    /// fault), or `None`.
    fn blocked(&self, service: Service) -> Option<String> {
        if self.out_of_service.borrow().is_some() {
            // The whole notice is in the banner below the tiles.
            return Some(self.tr(L("暂停服务", "Out of service")).to_string());
        }
        let (health, zh, en) = match service.needs()? {
            Needs::ReceiptPrinter => (
                self.be.devices.printer.health(),
                "凭条打印机",
                "receipt printer",
            ),
            Needs::ReportPrinter => (
                self.be.devices.report_printer.health(),
                "报告打印机",
                "report printer",
            ),
        };
        match health {
            Health::Fault(r) => Some(match self.l() {
                Lang::Zh => format!("暂停服务：{zh}故障（{r}）"),
                Lang::En => format!("Out of service: {en} fault ({r})"),
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
            (Service::Query, sv.query),
            (Service::Reports, sv.reports),
            (Service::Cancel, sv.book),
            (Service::Enroll, sv.enroll),
        ] {
            if !on {
                continue;
            }
            let reason = self.blocked(s);
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
        let home = self.window.global::<HomePage>();
        home.set_tiles(ModelRc::new(VecModel::from(tiles)));
        home.set_closed(self.out_of_service.borrow().is_some());
    }

    /// The notice patients read while a technician has the kiosk out of
    /// service, in the current language.
    fn out_of_service_notice(&self) -> Option<String> {
        let id = self.out_of_service.borrow().clone()?;
        Some(maint::in_lang(
            self.l(),
            crate::maint::notice(&self.cfg.maintenance.notices, &id),
        ))
    }

    /// The banner under the tiles: the out-of-service notice, else what
    /// the kiosk takes.
    fn refresh_notice(&self) {
        let text = self.out_of_service_notice().unwrap_or_else(|| {
            self.tr(L(
                "本机仅支持微信、支付宝、银联及医保支付，不收现金。",
                "Cashless kiosk: WeChat Pay, Alipay, UnionPay and insurance only.",
            ))
            .to_string()
        });
        self.window.global::<Session>().set_notice(text.into());
    }

    fn open(&self, s: Service) {
        if let Some(reason) = self.blocked(s) {
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
        if s.needs_patient() && self.flow.borrow().patient.is_none() {
            self.window.global::<IdentifyPage>().set_hint(self.tr(if s == Service::Enroll {
                L(
                    "实名建档请将本人身份证放在读卡区。",
                    "To open a record in your real name, place your own ID card on the reader.",
                )
            } else {
                L(
                    "请将身份证放在读卡区，或插入健康卡/医保卡，或扫描电子健康卡二维码。",
                    "Place your ID card on the reader, insert a health or insurance card, or scan your e-health card QR code.",
                )
            }));
            self.step(0);
            self.show(Screen::Identify);
        } else {
            self.begin_service();
        }
    }

    fn key(&self, k: &str) {
        if self.window.global::<IdentifyPage>().get_pin() {
            self.pin_key(k);
            return;
        }
        if self.window.global::<IdentifyPage>().get_phone() {
            self.phone_key(k);
            return;
        }
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

    /// The mobile number keypad (enrolment): digits only, checked at 11.
    fn phone_key(&self, k: &str) {
        let p = self.window.global::<IdentifyPage>();
        let mut typed = p.get_typed().to_string();
        match k {
            "⌫" => {
                typed.pop();
            }
            d if d.len() == 1 && d.as_bytes()[0].is_ascii_digit() && typed.len() < 11 => {
                typed.push_str(d)
            }
            _ => {}
        }
        p.set_typed(typed.clone().into());
        let (complete, error) = if typed.len() < 11 {
            (false, String::new())
        } else {
            match Phone::parse(&typed) {
                Ok(_) => (true, String::new()),
                Err(_) => (
                    false,
                    t(
                        self.l(),
                        L(
                            "手机号码有误，应为 1 开头的 11 位号码，请核对。",
                            "That is not a mobile number: 11 digits starting with 1. Please check it.",
                        ),
                    )
                    .to_string(),
                ),
            }
        };
        p.set_complete(complete);
        p.set_error(error.into());
    }

    /// Ask for the mobile number to enrol the card holder (R1).
    fn ask_phone(&self) {
        if let Some(h) = self.flow.borrow().card_holder.as_ref() {
            // Whose record this will be, masked as everywhere on screen.
            self.window.global::<Session>().set_patient(
                format!(
                    "{} · {}",
                    crate::domain::mask_name(&h.name),
                    crate::domain::mask_id_str(&h.id_number)
                )
                .into(),
            );
        }
        let p = self.window.global::<IdentifyPage>();
        p.set_phone(true);
        p.set_typed("".into());
        p.set_error("".into());
        p.set_complete(false);
        p.set_hint(self.tr(L(
            "您在本院还没有就诊档案。输入本人手机号码即可建档，用于接收就诊提醒。",
            "You have no record at this hospital yet. Type your mobile number to open one; it is used for visit reminders.",
        )));
        self.window
            .global::<Session>()
            .set_service(self.tr(Service::Enroll.title()));
        self.step(0);
        self.show(Screen::Identify);
    }

    fn enroll(&self) {
        let typed = self.window.global::<IdentifyPage>().get_typed().to_string();
        let (Ok(phone), Some(holder)) =
            (Phone::parse(&typed), self.flow.borrow().card_holder.clone())
        else {
            return;
        };
        let Ok(id) = IdNumber::parse(&holder.id_number, self.be.today) else {
            return;
        };
        let key = {
            let mut f = self.flow.borrow_mut();
            f.enroll_key
                .get_or_insert_with(|| {
                    format!(
                        "{}-{}-enroll-{}",
                        self.cfg.kiosk.id,
                        self.be.today.format("%Y%m%d"),
                        chrono::Utc::now().timestamp_millis()
                    )
                })
                .clone()
        };
        let Ok(key) = crate::his::IdempotencyKey::new(key) else {
            return;
        };
        self.busy("正在为您建档", "Opening your record");
        let his = self.be.his.clone();
        self.be.rt.spawn(async move {
            post(Msg::Enrolled(
                his.enroll(&key, &holder.name, &id, &phone).await,
            ));
        });
    }

    fn submit_typed(&self) {
        if self.window.global::<IdentifyPage>().get_pin() {
            self.submit_pin();
            return;
        }
        if self.window.global::<IdentifyPage>().get_phone() {
            self.enroll();
            return;
        }
        let typed = self.window.global::<IdentifyPage>().get_typed().to_string();
        if IdNumber::parse(&typed, self.be.today).is_err() {
            return;
        }
        self.lookup("正在查询您的信息", "Looking up your record");
        let his = self.be.his.clone();
        self.be.rt.spawn(async move {
            let r = his.lookup_patient(CardKind::IdCard, &typed).await;
            post(Msg::Identified(r, None, None));
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
                self.lookup("正在加载科室", "Loading departments");
                self.be.rt.spawn(async move {
                    post(Msg::Departments(his.departments().await));
                });
            }
            Service::CheckIn => {
                let pid = self.patient_id();
                let today = self.be.today;
                self.lookup("正在查询您的预约", "Looking up your appointments");
                self.be.rt.spawn(async move {
                    post(Msg::Appointments(his.appointments(&pid, Some(today)).await));
                });
            }
            Service::Settle => {
                let pid = self.patient_id();
                self.lookup("正在查询待缴费用", "Looking up your bills");
                self.be.rt.spawn(async move {
                    post(Msg::Bills(his.bills(&pid, BillFilter::Unpaid).await));
                });
            }
            Service::Bills => {
                let pid = self.patient_id();
                self.lookup("正在查询费用明细", "Looking up your bills");
                self.be.rt.spawn(async move {
                    post(Msg::Bills(his.bills(&pid, BillFilter::All).await));
                });
            }
            Service::Queue | Service::Cancel => {
                let pid = self.patient_id();
                let date = (service == Service::Queue).then_some(self.be.today);
                self.lookup("正在查询您的预约", "Looking up your appointments");
                self.be.rt.spawn(async move {
                    post(Msg::Appointments(his.appointments(&pid, date).await));
                });
            }
            Service::Reports => {
                let pid = self.patient_id();
                self.lookup("正在查询您的报告", "Looking up your reports");
                self.be.rt.spawn(async move {
                    post(Msg::Reports(his.reports(&pid).await));
                });
            }
            Service::Enroll => {
                // The card holder already has a record.
                let pid = self.patient_id();
                self.result(
                    true,
                    L("您已建档", "You already have a record"),
                    match self.l() {
                        Lang::Zh => format!("您的就诊号是 {pid}，可以直接挂号、缴费。"),
                        Lang::En => format!(
                            "Your patient number is {pid}. You can register and pay right away."
                        ),
                    },
                    String::new(),
                );
            }
            Service::Query => {
                self.render_list(ListKind::QueryMenu);
                self.show(Screen::List);
            }
            Service::Prices => {
                self.flow.borrow_mut().price_query.clear();
                self.window.global::<PricePage>().set_query("".into());
                self.fetch_prices();
                self.show(Screen::Prices);
            }
            Service::Guide => {
                self.flow.borrow_mut().destination = None;
                self.show_map();
            }
        }
    }

    fn fetch_prices(&self) {
        let q = self.flow.borrow().price_query.clone();
        let his = self.be.his.clone();
        self.be.rt.spawn(async move {
            let query = crate::his::PriceQuery {
                q: (!q.is_empty()).then(|| q.clone()),
                limit: Some(PRICE_ROWS),
                ..Default::default()
            };
            post(Msg::Prices(q, his.prices(&query).await));
        });
    }

    fn price_key(&self, k: &str) {
        {
            let mut f = self.flow.borrow_mut();
            match k {
                "⌫" => {
                    f.price_query.pop();
                }
                "clear" => f.price_query.clear(),
                l if l.len() == 1 && l.as_bytes()[0].is_ascii_uppercase() => {
                    if f.price_query.len() < 12 {
                        f.price_query.push_str(l)
                    }
                }
                _ => return,
            }
        }
        let q = self.flow.borrow().price_query.clone();
        self.window.global::<PricePage>().set_query(q.into());
        self.fetch_prices();
    }

    /// The floor guide, with the destination (if any) marked.
    fn show_map(&self) {
        self.lookup("正在加载科室分布", "Loading the floor guide");
        let his = self.be.his.clone();
        self.be.rt.spawn(async move {
            post(Msg::Map(his.departments().await));
        });
    }

    /// The list's button: print the ticked reports.
    fn list_action(&self) {
        if self.flow.borrow().list != Some(ListKind::Reports) {
            return;
        }
        let chosen: Vec<Report> = {
            let f = self.flow.borrow();
            f.reports
                .iter()
                .filter(|r| f.chosen_reports.contains(&r.report_id))
                .cloned()
                .collect()
        };
        if chosen.is_empty() {
            return;
        }
        self.busy("正在打印报告，请稍候", "Printing your reports");
        let (his, printer) = (self.be.his.clone(), self.be.devices.report_printer.clone());
        let kiosk = self.cfg.kiosk.id.clone();
        let (date, max) = (self.be.today, self.cfg.reports.max_prints);
        self.be.rt.spawn(async move {
            let run = crate::reports::print_reports(
                his,
                printer,
                &kiosk,
                date,
                &chosen,
                max,
                REPORT_JOB_TIMEOUT,
            )
            .await;
            post(Msg::ReportsPrinted(run));
        });
    }

    fn render_reports(&self) {
        let lang = self.l();
        let max = self.cfg.reports.max_prints;
        let (items, n): (Vec<Choice>, usize) = {
            let f = self.flow.borrow();
            (
                f.reports
                    .iter()
                    .map(|r| {
                        text::report_choice(lang, r, max, f.chosen_reports.contains(&r.report_id))
                    })
                    .collect(),
                f.chosen_reports.len(),
            )
        };
        self.set_list(
            ListKind::Reports,
            L("您的检验检查报告", "Your lab and exam reports"),
            t(
                lang,
                L(
                    "勾选要打印的报告，用 A4 纸打印。",
                    "Tick the reports to print on A4 paper.",
                ),
            )
            .to_string(),
            items,
            L("您没有检验检查报告。", "You have no lab or exam reports."),
        );
        let p = self.window.global::<ListPage>();
        p.set_action(
            match lang {
                Lang::Zh => format!("打印所选报告（{n} 份）"),
                Lang::En => format!("Print {n} report(s)"),
            }
            .into(),
        );
        p.set_action_enabled(n > 0);
    }

    fn detail_action(&self) {
        let action = self.flow.borrow().detail_action.clone();
        match action {
            Some(DetailAction::PayBills) => {
                self.flow.borrow_mut().service = Some(Service::Settle);
                self.window
                    .global::<Session>()
                    .set_service(self.tr(Service::Settle.title()));
                self.begin_service();
            }
            Some(DetailAction::CancelBooking(id)) => {
                self.start(Intent::Cancellation { appointment_id: id });
            }
            Some(
                a @ (DetailAction::MaintResolve(_)
                | DetailAction::MaintRetry(_)
                | DetailAction::MaintReprint(_)),
            ) => self.maint_detail_action(a, false),
            None => {}
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
        p.set_action("".into());
    }

    /// Fill the list screen for `kind` from the session's data (also what
    /// Back uses to bring an earlier list back).
    fn render_list(&self, kind: ListKind) {
        let lang = self.l();
        match kind {
            ListKind::Departments => self.render_departments(),
            ListKind::Doctors => {
                let (items, dept) = {
                    let f = self.flow.borrow();
                    (
                        f.schedules
                            .iter()
                            .map(|s| text::doctor_choice(lang, s))
                            .collect::<Vec<_>>(),
                        f.department
                            .as_ref()
                            .map(|d| match lang {
                                Lang::Zh => d.name_zh.clone(),
                                Lang::En => d.name_en.clone(),
                            })
                            .unwrap_or_default(),
                    )
                };
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
            }
            ListKind::Appointments | ListKind::Queue | ListKind::Cancellable => {
                let items: Vec<Choice> = self
                    .flow
                    .borrow()
                    .appointments
                    .iter()
                    .map(|a| text::appointment_choice(lang, a))
                    .collect();
                let (title, empty) = match kind {
                    ListKind::Appointments => (
                        L("请选择要签到的预约", "Choose the appointment to check in"),
                        L(
                            "您今天没有可签到的预约。",
                            "You have no appointment to check in today.",
                        ),
                    ),
                    ListKind::Queue => (
                        L("请选择就诊", "Choose the visit"),
                        L(
                            "您今天没有挂号或预约。",
                            "You have no registration or appointment today.",
                        ),
                    ),
                    _ => (
                        L("请选择要取消的预约", "Choose the booking to cancel"),
                        L(
                            "您没有可以取消的预约。",
                            "You have no booking that can be cancelled.",
                        ),
                    ),
                };
                self.set_list(kind, title, String::new(), items, empty);
                self.step(if kind == ListKind::Appointments { 1 } else { 0 });
            }
            ListKind::Bills => {
                let (items, total) = {
                    let f = self.flow.borrow();
                    (
                        f.bills
                            .iter()
                            .map(|b| text::bill_choice(lang, b))
                            .collect::<Vec<_>>(),
                        Money::sum(f.bills.iter().map(|b| b.total_fen)).unwrap_or(Money::ZERO),
                    )
                };
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
            }
            ListKind::BillHistory => {
                let items: Vec<Choice> = self
                    .flow
                    .borrow()
                    .bills
                    .iter()
                    .map(|b| text::bill_history_choice(lang, b))
                    .collect();
                self.set_list(
                    ListKind::BillHistory,
                    L("费用明细", "Itemized bills"),
                    t(
                        lang,
                        L(
                            "点一张账单查看每一项费用。",
                            "Tap a bill to see every item.",
                        ),
                    )
                    .to_string(),
                    items,
                    L("您没有门诊费用记录。", "You have no outpatient bills."),
                );
                self.step(0);
            }
            ListKind::QueryMenu => {
                let items = [
                    Service::Bills,
                    Service::Queue,
                    Service::Prices,
                    Service::Guide,
                ]
                .into_iter()
                .map(|s| Choice {
                    id: s.id().into(),
                    title: t(lang, s.title()).into(),
                    detail: t(lang, s.blurb()).into(),
                    right: "›".into(),
                    enabled: true,
                    selected: false,
                })
                .collect();
                self.set_list(
                    ListKind::QueryMenu,
                    L("请选择查询项目", "What would you like to look up?"),
                    String::new(),
                    items,
                    L("", ""),
                );
                self.step(0);
            }
            ListKind::Reports => {
                self.render_reports();
                self.step(0);
            }
            ListKind::Maint => self.render_maint_menu(),
            ListKind::MaintTxns => self.render_maint_txns(),
            ListKind::MaintNotices => self.render_maint_notices(),
            ListKind::MaintResolutions => self.render_maint_resolutions(),
        }
    }

    fn render_departments(&self) {
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
                selected: false,
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
                        selected: false,
                    }
                })
                .collect();
            let p = self.window.global::<ListPage>();
            p.set_dates(ModelRc::new(VecModel::from(dates)));
            p.set_selected_date(date.map(|d| d.to_string()).unwrap_or_default().into());
        }
        self.step(1);
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
                self.lookup("正在查询医生排班", "Loading doctors");
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
                self.lookup("正在查询可选时段", "Loading times");
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
            Some(ListKind::QueryMenu) => {
                if let Some(s) = Service::from_id(id) {
                    self.open(s);
                }
            }
            Some(ListKind::Maint) => self.maint_pick(id),
            Some(ListKind::MaintNotices) => self.maint_out_of_service(id),
            Some(ListKind::MaintResolutions) => self.maint_resolve(id),
            Some(ListKind::MaintTxns) => {
                if let Ok(n) = id.parse() {
                    self.maint_txn(n);
                }
            }
            Some(ListKind::BillHistory) => {
                let bill = self
                    .flow
                    .borrow()
                    .bills
                    .iter()
                    .find(|b| b.bill_id == id)
                    .cloned();
                if let Some(b) = bill {
                    self.show_bill(&b);
                }
            }
            Some(ListKind::Queue) => {
                let id = id.to_string();
                self.lookup("正在查询排队情况", "Looking up the queue");
                self.be.rt.spawn(async move {
                    post(Msg::Queue(his.queue(&id).await));
                });
            }
            Some(ListKind::Reports) => {
                let max = self.cfg.reports.max_prints;
                let printable = self
                    .flow
                    .borrow()
                    .reports
                    .iter()
                    .any(|r| r.report_id == id && r.can_print(max));
                if printable {
                    let mut f = self.flow.borrow_mut();
                    if !f.chosen_reports.remove(id) {
                        f.chosen_reports.insert(id.to_string());
                    }
                }
                self.render_list(ListKind::Reports);
            }
            Some(ListKind::Cancellable) => {
                let a = self
                    .flow
                    .borrow()
                    .appointments
                    .iter()
                    .find(|a| a.appointment_id == id)
                    .cloned();
                if let Some(a) = a {
                    self.show_cancellation(&a);
                }
            }
            None => {}
        }
    }

    fn set_detail(&self, title: String, subtitle: String, rows: Vec<Choice>) {
        let d = self.window.global::<DetailPage>();
        d.set_title(title.into());
        d.set_subtitle(subtitle.into());
        d.set_rows(ModelRc::new(VecModel::from(rows)));
        d.set_big_label("".into());
        d.set_big_value("".into());
        d.set_total_label("".into());
        d.set_total("".into());
        d.set_note("".into());
        d.set_action("".into());
        d.set_danger(false);
        d.set_has_map(false);
        self.flow.borrow_mut().detail_action = None;
    }

    fn row(&self, title: L, value: String) -> Choice {
        Choice {
            id: "".into(),
            title: self.tr(title),
            detail: "".into(),
            right: value.into(),
            enabled: true,
            selected: false,
        }
    }

    /// One bill, item by item (R9: what each thing cost).
    fn show_bill(&self, b: &Bill) {
        let lang = self.l();
        let rows = b
            .items
            .iter()
            .map(|i| text::bill_item_row(lang, i))
            .collect();
        self.set_detail(
            format!(
                "{} {}",
                match lang {
                    Lang::Zh => &b.department_name_zh,
                    Lang::En => &b.department_name_en,
                },
                b.doctor_name
            ),
            format!(
                "{} · {}",
                b.created_at.format("%Y-%m-%d %H:%M"),
                t(
                    lang,
                    if b.status == BillStatus::Paid {
                        L("已缴费", "Paid")
                    } else {
                        L("待缴费", "Unpaid")
                    }
                )
            ),
            rows,
        );
        let d = self.window.global::<DetailPage>();
        d.set_total_label(self.tr(L("合计", "Total")));
        d.set_total(b.total_fen.to_string().into());
        if !b.is_consistent() {
            // HIS's items do not add up: say so rather than hide it.
            d.set_note(self.tr(L(
                "明细与合计不一致，请到人工窗口核对。",
                "The items do not add up to the total; please ask at a staffed window.",
            )));
        }
        if b.status == BillStatus::Unpaid
            && self.cfg.services.settle
            && self.blocked(Service::Settle).is_none()
        {
            d.set_action(self.tr(L("去缴费 ›", "Pay now ›")));
            self.flow.borrow_mut().detail_action = Some(DetailAction::PayBills);
        }
        self.show(Screen::Detail);
    }

    /// What cancelling this booking means, before the patient confirms.
    fn show_cancellation(&self, a: &Appointment) {
        let lang = self.l();
        let rows = vec![
            self.row(
                L("科室医生", "Doctor"),
                format!(
                    "{} {} {}",
                    match lang {
                        Lang::Zh => &a.department_name_zh,
                        Lang::En => &a.department_name_en,
                    },
                    a.doctor_name,
                    a.doctor_title_zh
                ),
            ),
            self.row(
                L("就诊时间", "Time"),
                format!("{} {}–{}", a.date, a.start, a.end),
            ),
            self.row(
                L("挂号费", "Fee"),
                if a.fee_paid {
                    match lang {
                        Lang::Zh => format!("{} 已支付", a.fee_fen),
                        Lang::En => format!("{} paid", a.fee_fen),
                    }
                } else {
                    match lang {
                        Lang::Zh => format!("{} 未支付", a.fee_fen),
                        Lang::En => format!("{} not paid", a.fee_fen),
                    }
                },
            ),
        ];
        self.set_detail(
            self.tr(L("取消这个预约？", "Cancel this booking?"))
                .to_string(),
            String::new(),
            rows,
        );
        let d = self.window.global::<DetailPage>();
        d.set_note(self.tr(if a.fee_paid {
            L(
                "取消后号源释放给其他患者，已付挂号费原路退回。取消后不能恢复。",
                "The place goes back to other patients and the fee you paid is refunded to the same account. This cannot be undone.",
            )
        } else {
            L(
                "取消后号源释放给其他患者，不能恢复。",
                "The place goes back to other patients. This cannot be undone.",
            )
        }));
        d.set_action(self.tr(L("确认取消预约", "Yes, cancel it")));
        d.set_danger(true);
        self.flow.borrow_mut().detail_action =
            Some(DetailAction::CancelBooking(a.appointment_id.clone()));
        self.show(Screen::Detail);
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
        if p.txn.kind == TxnKind::Cancellation {
            // The patient confirmed on the detail screen: cancel and refund.
            let id = p.txn.id;
            self.flow.borrow_mut().prepared = Some(p);
            self.busy("正在取消预约并退费", "Cancelling and refunding");
            let runner = self.be.runner.clone();
            self.be.rt.spawn(async move {
                post(Msg::Finished(runner.confirm_cancel(id).await));
            });
            return;
        }
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
                    selected: false,
                });
            }
        } else {
            lines.push(Choice {
                id: "".into(),
                title: self.tr(L("项目", "For")),
                detail: what.clone().into(),
                right: "".into(),
                enabled: true,
                selected: false,
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
            selected: false,
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
        let dest = match &o {
            Outcome::Completed { txn, .. } => text::destination(txn),
            _ => None,
        };
        self.result(ok, title, message, next);
        self.window
            .global::<ResultPage>()
            .set_has_map(dest.is_some());
        self.flow.borrow_mut().destination = dest;
        self.refresh_tiles();
    }

    fn show_queue(&self, q: crate::domain::QueueStatus) {
        use crate::domain::QueueState;
        let lang = self.l();
        let mut rows = vec![self.row(
            L("科室医生", "Doctor"),
            format!(
                "{} {}",
                match lang {
                    Lang::Zh => &q.department_name_zh,
                    Lang::En => &q.department_name_en,
                },
                q.doctor_name
            ),
        )];
        if let Some(n) = q.queue_number {
            rows.push(self.row(L("您的号码", "Your number"), n.to_string()));
        }
        rows.push(
            self.row(
                L("当前叫号", "Now serving"),
                q.now_serving
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| t(lang, L("尚未开诊", "Not started")).to_string()),
            ),
        );
        if let Some(m) = q.estimated_wait_min {
            rows.push(self.row(
                L("预计等待", "Estimated wait"),
                match lang {
                    Lang::Zh => format!("约 {m} 分钟"),
                    Lang::En => format!("about {m} min"),
                },
            ));
        }
        rows.push(self.row(
            L("就诊地点", "Where"),
            match lang {
                Lang::Zh => q.location.description_zh.clone(),
                Lang::En => q.location.description_en.clone(),
            },
        ));
        self.set_detail(
            self.tr(L("排队查询", "Queue position")).to_string(),
            match lang {
                Lang::Zh => format!("截至 {}", q.as_of.format("%H:%M")),
                Lang::En => format!("As of {}", q.as_of.format("%H:%M")),
            },
            rows,
        );
        let d = self.window.global::<DetailPage>();
        let (label, value, note) = match q.state {
            QueueState::NotCheckedIn => (
                L("您还没有签到", "You have not checked in"),
                t(lang, L("未签到", "Not in")).to_string(),
                L(
                    "请先在“预约取号”签到，签到后才会排队叫号。",
                    "Check in first (Check in on the home screen); you join the queue when you do.",
                ),
            ),
            QueueState::Waiting => (
                L("您前面还有", "People ahead of you"),
                q.ahead.to_string(),
                L(
                    "请在诊区候诊，留意叫号屏和广播。",
                    "Please wait in the clinic area and watch the calling screen.",
                ),
            ),
            QueueState::Called => (
                L("已叫到您的号", "Your number has been called"),
                t(lang, L("请就诊", "Go in")).to_string(),
                L(
                    "请立即到诊室就诊。",
                    "Please go to the consulting room now.",
                ),
            ),
            QueueState::Seen => (
                L("本次就诊", "This visit"),
                t(lang, L("已就诊", "Seen")).to_string(),
                L(
                    "如有检查、取药，请按医生的安排办理。",
                    "For exams or medicine, follow the doctor's instructions.",
                ),
            ),
        };
        d.set_big_label(self.tr(label));
        d.set_big_value(value.into());
        d.set_note(self.tr(note));
        d.set_has_map(true);
        self.flow.borrow_mut().destination = Some(q.location.clone());
        self.show(Screen::Detail);
    }

    fn reports_printed(&self, run: crate::reports::PrintRun) {
        let lang = self.l();
        let n = run.printed.len();
        let total = self.flow.borrow().chosen_reports.len();
        let (ok, title, message) = match &run.failed {
            None => (
                true,
                L("报告已打印", "Reports printed"),
                match lang {
                    Lang::Zh => format!("已打印 {n} 份报告，请在报告出口取走。"),
                    Lang::En => {
                        format!("{n} report(s) printed. Please take them from the A4 tray.")
                    }
                },
            ),
            Some(e) => {
                let (zh, en) = e.patient_message();
                (
                    false,
                    L("报告未能全部打印", "Not every report was printed"),
                    match lang {
                        Lang::Zh => format!("已打印 {n} 份，共 {total} 份。{zh}"),
                        Lang::En => format!("{n} of {total} printed. {en}"),
                    },
                )
            }
        };
        self.result(ok, title, message, String::new());
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
        let cancelling = self.flow.borrow().service == Some(Service::Cancel);
        let next = if before_payment && cancelling {
            t(lang, L("预约保持不变。", "Your booking stays as it was.")).to_string()
        } else if before_payment {
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
        let waiting = self.window.global::<Session>().get_screen() == Screen::Processing;
        if !waiting
            && matches!(
                msg,
                Msg::Departments(_)
                    | Msg::Schedules(_)
                    | Msg::Slots(_)
                    | Msg::Appointments(_)
                    | Msg::Bills(_)
                    | Msg::Queue(_)
                    | Msg::Reports(_)
                    | Msg::Map(_)
            )
        {
            // The patient cancelled that wait (or went home): too late now.
            return;
        }
        match msg {
            Msg::Enrolled(Ok(p)) => {
                let label = format!("{} · {}", p.name_masked(), p.id_number_masked);
                self.window.global::<Session>().set_patient(label.into());
                let pid = p.patient_id.clone();
                self.flow.borrow_mut().patient = Some(p);
                self.flow.borrow_mut().card_holder = None;
                self.window.global::<IdentifyPage>().set_phone(false);
                let service = self.flow.borrow().service;
                match service {
                    Some(Service::Enroll) | None => self.result(
                        true,
                        L("建档成功", "Your record is open"),
                        match lang {
                            Lang::Zh => format!(
                                "您的就诊号是 {pid}。今后凭身份证即可挂号、缴费、打印报告。"
                            ),
                            Lang::En => format!(
                                "Your patient number is {pid}. From now on your ID card is all you need to register, pay and print reports."
                            ),
                        },
                        String::new(),
                    ),
                    Some(s) => {
                        self.window.global::<Session>().set_service(self.tr(s.title()));
                        self.begin_service();
                    }
                }
            }
            Msg::Enrolled(Err(e)) => self.his_failed(&e),
            Msg::Identified(Ok(p), elderly, _) => {
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
            Msg::Identified(Err(e), elderly, holder) => {
                let not_found = e.code() == Some(crate::his::wire::ErrorCode::PatientNotFound);
                if not_found && holder.is_some() && self.cfg.services.enroll {
                    // A new patient with their ID card: enrol here (R1).
                    if elderly.is_some() {
                        self.window.global::<Theme>().set_elderly(true);
                    }
                    self.flow.borrow_mut().card_holder = holder;
                    self.ask_phone();
                } else if not_found && self.cfg.services.enroll {
                    self.result(
                        false,
                        L("未找到您的就诊档案", "No patient record found"),
                        t(lang, L(
                            "建档需要本人身份证。请回到首页，把身份证放在读卡区，按提示输入手机号码即可建档。",
                            "Opening a record needs your own ID card. Go back to the home screen, place the card on the reader, and type your mobile number when asked.",
                        ))
                        .into(),
                        String::new(),
                    );
                } else if not_found {
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
                self.render_list(ListKind::Departments);
                self.show(Screen::List);
            }
            Msg::Schedules(Ok(s)) => {
                self.flow.borrow_mut().schedules = s;
                self.render_list(ListKind::Doctors);
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
            Msg::Appointments(Ok(a)) if self.flow.borrow().service == Some(Service::Queue) => {
                let a: Vec<Appointment> = a
                    .into_iter()
                    .filter(|a| {
                        a.date == self.be.today
                            && matches!(
                                a.status,
                                AppointmentStatus::Booked | AppointmentStatus::CheckedIn
                            )
                    })
                    .collect();
                let only = (a.len() == 1).then(|| a[0].appointment_id.clone());
                self.flow.borrow_mut().appointments = a;
                self.render_list(ListKind::Queue);
                if let Some(id) = only {
                    // One visit today: straight to its queue.
                    self.pick(&id);
                    return;
                }
                self.show(Screen::List);
            }
            Msg::Appointments(Ok(a)) if self.flow.borrow().service == Some(Service::Cancel) => {
                let today = self.be.today;
                self.flow.borrow_mut().appointments = a
                    .into_iter()
                    .filter(|a| a.status == AppointmentStatus::Booked && a.date >= today)
                    .collect();
                self.render_list(ListKind::Cancellable);
                self.show(Screen::List);
            }
            Msg::Appointments(Ok(a)) => {
                let today = self.be.today;
                self.flow.borrow_mut().appointments =
                    a.into_iter().filter(|a| a.can_check_in(today)).collect();
                self.render_list(ListKind::Appointments);
                self.show(Screen::List);
            }
            Msg::Bills(Ok(b)) => {
                let kind = if self.flow.borrow().service == Some(Service::Bills) {
                    ListKind::BillHistory
                } else {
                    ListKind::Bills
                };
                self.flow.borrow_mut().bills = b;
                self.render_list(kind);
                self.show(Screen::List);
            }
            Msg::Queue(Ok(q)) => self.show_queue(q),
            Msg::Queue(Err(e)) => self.his_failed(&e),
            Msg::Prices(q, Ok(list)) => {
                if q != self.flow.borrow().price_query {
                    return; // an older search answered late
                }
                let items: Vec<Choice> = list
                    .items
                    .iter()
                    .map(|p| text::price_row(lang, p))
                    .collect();
                let shown = items.len() as u32;
                let p = self.window.global::<PricePage>();
                p.set_summary(
                    match lang {
                        Lang::Zh if list.total > shown => {
                            format!("共 {} 项，显示前 {shown} 项", list.total)
                        }
                        Lang::Zh => format!("共 {} 项", list.total),
                        Lang::En if list.total > shown => {
                            format!("{} found, first {shown} shown", list.total)
                        }
                        Lang::En => format!("{} found", list.total),
                    }
                    .into(),
                );
                p.set_items(ModelRc::new(VecModel::from(items)));
            }
            Msg::Reports(Ok(r)) => {
                let max = self.cfg.reports.max_prints;
                {
                    let mut f = self.flow.borrow_mut();
                    // Everything printable is ticked: usually one tap prints.
                    f.chosen_reports = r
                        .iter()
                        .filter(|r| r.can_print(max))
                        .map(|r| r.report_id.clone())
                        .collect();
                    f.reports = r;
                }
                self.render_list(ListKind::Reports);
                self.show(Screen::List);
            }
            Msg::ReportsPrinted(run) => self.reports_printed(run),
            Msg::MaintLogin(r) => self.maint_login(r),
            Msg::MaintTested(t) => self.maint_tested(t),
            Msg::MaintReconciled(r) => self.maint_reconciled(r),
            Msg::MaintRecovered(r) => self.maint_recovered(r),
            Msg::Map(Ok(depts)) => {
                let dest = self.flow.borrow().destination.clone();
                let m = self.window.global::<MapPage>();
                m.set_title(self.tr(L("科室分布", "Floor guide")));
                m.set_destination(
                    dest.as_ref()
                        .map(|l| match lang {
                            Lang::Zh => format!("请到：{}", l.description_zh),
                            Lang::En => format!("Go to: {}", l.description_en),
                        })
                        .unwrap_or_default()
                        .into(),
                );
                m.set_floors(ModelRc::new(VecModel::from(text::floors(
                    lang,
                    &depts,
                    dest.as_ref(),
                ))));
                self.show(Screen::Map);
            }
            Msg::Prices(_, Err(e))
            | Msg::Reports(Err(e))
            | Msg::Map(Err(e))
            | Msg::Departments(Err(e))
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
        if self.maint_scanned(&code) {
            return;
        }
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
            "card-new" | "card-bills" | "card-appt" | "card-queue" | "card-unknown" => {
                let c = match action {
                    "card-new" => card(3),
                    "card-bills" => card(0),
                    "card-appt" => card(65),
                    "card-queue" => card(crate::his::sim::QUEUE_PATIENT),
                    // A valid ID number HIS has never seen: enrolment.
                    _ => crate::his::sim::seed::unknown_id_numbers(seed)
                        .first()
                        .and_then(|id| {
                            let birth = id.get(6..14)?.to_string();
                            Some(kiosk_drivers::idcard::frame::CardText {
                                name: "林晓雯".into(),
                                sex: '2',
                                nation: "01".into(),
                                birth,
                                address: "浙江省宁波市鄞州区".into(),
                                id_number: id.clone(),
                                issuer: "宁波市公安局鄞州分局".into(),
                                valid_from: "20210301".into(),
                                valid_to: "20410301".into(),
                            })
                        }),
                };
                if let (Some(sim), Some(c)) = (&sims.id_reader, c) {
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
    let _watchdog = systemd_watchdog();
    let status = format!("kiosk {} serving", app.cfg.kiosk.id);
    // Fires from the running event loop, once the window has been shown.
    slint::Timer::single_shot(Duration::ZERO, move || crate::sdnotify::ready(&status));
    c.window.run()?;
    CONTROLLER.with(|slot| slot.borrow_mut().take());
    Ok(())
}

/// Under systemd with `WatchdogSec=`: `WATCHDOG=1` from this, the UI thread,
/// so a UI that hangs stops the pings and systemd restarts the kiosk.
fn systemd_watchdog() -> Option<slint::Timer> {
    let every = crate::sdnotify::watchdog_interval_from_env()?;
    let timer = slint::Timer::default();
    timer.start(slint::TimerMode::Repeated, every, crate::sdnotify::watchdog);
    Some(timer)
}

//! Headless rendering: a Slint platform with a software-rendered window and a
//! hand-pumped event queue, used by `kiosk screenshot` (every screen to PNG)
//! and by the headless UI tests. Background work still runs for real (HIS
//! and payment over HTTP, devices); its results are applied when pumped.

use super::{Backend, Controller, Msg, Screen, UiError};
use crate::domain::CardKind;
use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType};
use slint::platform::{EventLoopProxy, Platform, WindowAdapter};
use slint::{ComponentHandle, PhysicalSize, Rgb8Pixel};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Job = Box<dyn FnOnce() + Send>;

#[derive(Clone, Default)]
struct Queue(Arc<Mutex<VecDeque<Job>>>);

impl EventLoopProxy for Queue {
    fn quit_event_loop(&self) -> Result<(), slint::EventLoopError> {
        Ok(())
    }
    fn invoke_from_event_loop(&self, event: Job) -> Result<(), slint::EventLoopError> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(event);
        Ok(())
    }
}

struct HeadlessPlatform {
    window: Rc<MinimalSoftwareWindow>,
    queue: Queue,
    start: Instant,
}

impl Platform for HeadlessPlatform {
    fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, slint::PlatformError> {
        Ok(self.window.clone())
    }
    fn new_event_loop_proxy(&self) -> Option<Box<dyn EventLoopProxy>> {
        Some(Box::new(self.queue.clone()))
    }
    fn duration_since_start(&self) -> Duration {
        self.start.elapsed()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ShotError {
    #[error(transparent)]
    Ui(#[from] UiError),
    #[error("a headless platform is already installed in this process")]
    Platform,
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("encoding {path}: {detail}")]
    Png { path: PathBuf, detail: String },
    #[error("the {step} screen did not appear within {secs} s (still on {screen:?})")]
    Stuck {
        step: String,
        secs: u64,
        screen: Screen,
    },
    #[error("{0}")]
    Data(String),
}

/// The headless window and its event queue (one per process and thread).
pub struct Headless {
    window: Rc<MinimalSoftwareWindow>,
    queue: Queue,
}

impl Headless {
    pub fn install() -> Result<Headless, ShotError> {
        let window = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
        let queue = Queue::default();
        slint::platform::set_platform(Box::new(HeadlessPlatform {
            window: window.clone(),
            queue: queue.clone(),
            start: Instant::now(),
        }))
        .map_err(|_| ShotError::Platform)?;
        Ok(Headless { window, queue })
    }

    pub fn set_size(&self, w: u32, h: u32) {
        self.window.set_size(PhysicalSize::new(w, h));
    }

    /// Run what background work posted; returns how many jobs ran.
    pub fn pump(&self) -> usize {
        let mut n = 0;
        loop {
            let job = self
                .queue
                .0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop_front();
            match job {
                Some(j) => {
                    j();
                    n += 1;
                }
                None => break,
            }
        }
        slint::platform::update_timers_and_animations();
        n
    }

    /// Pump until `done` holds, at most `timeout`.
    pub fn wait(&self, timeout: Duration, done: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            self.pump();
            if done() {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Render the window as it is now.
    pub fn render(&self) -> (u32, u32, Vec<Rgb8Pixel>) {
        self.pump();
        let size = self.window.size();
        let (w, h) = (size.width, size.height);
        let mut buf = vec![Rgb8Pixel::new(0, 0, 0); (w * h) as usize];
        self.window.request_redraw();
        self.window.draw_if_needed(|r| {
            r.render(&mut buf, w as usize);
        });
        (w, h, buf)
    }

    pub fn save_png(&self, path: &Path) -> Result<(), ShotError> {
        let (w, h, buf) = self.render();
        let file = std::fs::File::create(path).map_err(|source| ShotError::Write {
            path: path.to_path_buf(),
            source,
        })?;
        let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let png_err = |e: png::EncodingError| ShotError::Png {
            path: path.to_path_buf(),
            detail: e.to_string(),
        };
        let mut writer = enc.write_header().map_err(png_err)?;
        let bytes: Vec<u8> = buf.iter().flat_map(|p| [p.r, p.g, p.b]).collect();
        writer.write_image_data(&bytes).map_err(png_err)?;
        Ok(())
    }
}

/// A tour of every screen, driven through the same callbacks a patient
/// taps, with real HIS data from the demo simulators.
pub struct Tour<'a> {
    pub headless: &'a Headless,
    pub c: Rc<Controller>,
    pub be: Backend,
    pub out: PathBuf,
    pub prefix: String,
    pub shots: Vec<PathBuf>,
}

impl Tour<'_> {
    fn screen(&self) -> Screen {
        self.c.window.global::<super::Session>().get_screen()
    }

    pub fn wait_for(&self, step: &str, want: Screen) -> Result<(), ShotError> {
        let c = self.c.clone();
        if self.headless.wait(Duration::from_secs(20), move || {
            c.window.global::<super::Session>().get_screen() == want
        }) {
            Ok(())
        } else {
            Err(ShotError::Stuck {
                step: step.into(),
                secs: 20,
                screen: self.screen(),
            })
        }
    }

    /// Wait until the list screen shows the list `kind`.
    fn wait_for_list(&self, step: &str, kind: super::ListKind) -> Result<(), ShotError> {
        let c = self.c.clone();
        if self.headless.wait(Duration::from_secs(20), move || {
            c.flow.borrow().list == Some(kind)
                && c.window.global::<super::Session>().get_screen() == Screen::List
        }) {
            Ok(())
        } else {
            Err(ShotError::Stuck {
                step: step.into(),
                secs: 20,
                screen: self.screen(),
            })
        }
    }

    pub fn shot(&mut self, name: &str) -> Result<(), ShotError> {
        let path = self.out.join(format!("{}{name}.png", self.prefix));
        self.headless.save_png(&path)?;
        self.shots.push(path);
        Ok(())
    }

    /// Identify a seeded patient as if their ID card was read.
    pub fn identify(&self, seed_index: usize) -> Result<(), ShotError> {
        let seed = self
            .be
            .demo_seed
            .ok_or_else(|| ShotError::Data("screenshots need the embedded HIS simulator".into()))?;
        let p = crate::his::sim::seed::patients(seed)
            .into_iter()
            .nth(seed_index)
            .ok_or_else(|| ShotError::Data(format!("no seeded patient {seed_index}")))?;
        let r = self
            .be
            .rt
            .block_on(self.be.his.lookup_patient(CardKind::IdCard, &p.id_number));
        self.c.clone().apply(Msg::Identified(r, None, None));
        Ok(())
    }

    fn first_enabled(items: &slint::ModelRc<super::Choice>) -> Option<String> {
        use slint::Model;
        items.iter().find(|c| c.enabled).map(|c| c.id.to_string())
    }

    /// Same-day registration up to the QR, then paid by "phone".
    /// Same-day registration from the home tile up to a chosen slot: the
    /// identify screen (with an invalid ID typed), then the patient's card,
    /// department, doctor, and the first free slot.
    pub fn to_slots(&mut self, patient: usize) -> Result<(), ShotError> {
        let c = self.c.clone();
        let w = &c.window;
        w.global::<super::HomePage>().invoke_open("register".into());
        self.wait_for("identify", Screen::Identify)?;
        self.shot("identify")?;
        for k in "3302031952031400".chars() {
            w.global::<super::IdentifyPage>()
                .invoke_key(k.to_string().into());
        }
        for k in ["1", "9"] {
            w.global::<super::IdentifyPage>().invoke_key(k.into());
        }
        self.shot("identify-invalid")?;
        self.identify(patient)?;
        self.wait_for("departments", Screen::List)?;
        self.shot("departments")?;
        let dept = Self::first_enabled(&w.global::<super::ListPage>().get_items())
            .ok_or_else(|| ShotError::Data("no department".into()))?;
        w.global::<super::ListPage>().invoke_pick(dept.into());
        self.wait_for_list("doctors", super::ListKind::Doctors)?;
        self.shot("doctors")?;
        let doc = Self::first_enabled(&w.global::<super::ListPage>().get_items())
            .ok_or_else(|| ShotError::Data("no doctor with places left".into()))?;
        w.global::<super::ListPage>().invoke_pick(doc.into());
        self.wait_for("slots", Screen::Slots)?;
        let slot = {
            use slint::Model;
            w.global::<super::SlotPage>()
                .get_slots()
                .iter()
                .find(|s| s.enabled)
                .map(|s| s.id.to_string())
        }
        .ok_or_else(|| ShotError::Data("no free slot".into()))?;
        w.global::<super::SlotPage>().invoke_pick(slot.into());
        self.shot("slots")?;
        Ok(())
    }

    /// Same-day registration to the end: paid by "phone" through the QR, or cancelled.
    pub fn registration(&mut self, patient: usize, pay: bool) -> Result<(), ShotError> {
        self.to_slots(patient)?;
        let c = self.c.clone();
        let w = &c.window;
        w.global::<super::SlotPage>().invoke_confirm();
        self.wait_for("payment choice", Screen::PayMethod)?;
        self.shot("pay-method")?;
        w.global::<super::PayPage>().invoke_choose("qr".into());
        self.wait_for("QR", Screen::PayQr)?;
        self.shot("pay-qr")?;
        if pay {
            let url = w.global::<super::PayPage>().get_qr_url().to_string();
            self.be
                .rt
                .block_on(async { reqwest::get(&url).await.map(|_| ()) })
                .map_err(|e| ShotError::Data(format!("paying the QR: {e}")))?;
        } else {
            w.global::<super::PayPage>().invoke_cancel();
        }
        self.wait_for("result", Screen::Result)?;
        self.shot(if pay { "result" } else { "result-cancelled" })?;
        if pay && w.global::<super::ResultPage>().get_has_map() {
            w.global::<super::ResultPage>().invoke_show_map();
            self.wait_for("map", Screen::Map)?;
            self.shot("map")?;
        }
        w.global::<super::Session>().invoke_home();
        Ok(())
    }

    /// Settlement of a seeded patient's unpaid bills, paid by a scanned code.
    pub fn settlement(&mut self) -> Result<(), ShotError> {
        let c = self.c.clone();
        let w = &c.window;
        let seed = self.be.demo_seed.unwrap_or(1);
        let with_bills = crate::his::sim::seed::patients(seed)
            .iter()
            .position(|p| {
                self.be
                    .rt
                    .block_on(
                        self.be
                            .his
                            .bills(&p.patient_id, crate::his::BillFilter::Unpaid),
                    )
                    .is_ok_and(|b| !b.is_empty())
            })
            .ok_or_else(|| ShotError::Data("no seeded patient has unpaid bills".into()))?;
        self.identify(with_bills)?;
        w.global::<super::HomePage>().invoke_open("settle".into());
        self.wait_for("bills", Screen::List)?;
        self.shot("bills")?;
        let bill = Self::first_enabled(&w.global::<super::ListPage>().get_items())
            .ok_or_else(|| ShotError::Data("no bill".into()))?;
        w.global::<super::ListPage>().invoke_pick(bill.into());
        self.wait_for("confirm", Screen::Confirm)?;
        self.shot("confirm")?;
        w.global::<super::ConfirmPage>().invoke_confirm();
        self.wait_for("payment choice", Screen::PayMethod)?;
        w.global::<super::PayPage>().invoke_choose("code".into());
        self.wait_for("scan", Screen::PayScan)?;
        self.shot("pay-scan")?;
        let n = chrono::Utc::now()
            .timestamp_micros()
            .rem_euclid(10_i64.pow(16));
        self.c
            .clone()
            .apply(Msg::Scanned(kiosk_drivers::scanner::Scanned::PaymentCode(
                format!("13{n:016}"),
            )));
        self.wait_for("result", Screen::Result)?;
        self.shot("result-settlement")?;
        w.global::<super::ResultPage>().invoke_done();
        Ok(())
    }

    /// The first seeded patient for whom `f` holds.
    pub fn seeded_where(
        &self,
        what: &str,
        f: impl Fn(&crate::his::sim::seed::SeedPatient) -> bool,
    ) -> Result<usize, ShotError> {
        let seed = self.be.demo_seed.unwrap_or(1);
        crate::his::sim::seed::patients(seed)
            .iter()
            .position(f)
            .ok_or_else(|| ShotError::Data(format!("no seeded patient {what}")))
    }

    /// Enrolment of an ID card HIS has never seen: a wrong number, then a
    /// right one. Returns the new patient's id.
    pub fn enrol(&mut self, n: usize) -> Result<String, ShotError> {
        let c = self.c.clone();
        let w = &c.window;
        let seed = self.be.demo_seed.unwrap_or(1);
        let id = crate::his::sim::seed::unknown_id_numbers(seed)
            .get(n)
            .cloned()
            .ok_or_else(|| ShotError::Data(format!("no unknown ID number {n}")))?;
        w.global::<super::HomePage>().invoke_open("enroll".into());
        self.wait_for("identify", Screen::Identify)?;
        let r = self
            .be
            .rt
            .block_on(self.be.his.lookup_patient(CardKind::IdCard, &id));
        self.c.clone().apply(Msg::Identified(
            r,
            None,
            Some(super::CardHolder {
                name: "林晓雯".into(),
                id_number: id,
            }),
        ));
        self.wait_for("phone", Screen::Identify)?;
        let key = |k: &str| w.global::<super::IdentifyPage>().invoke_key(k.into());
        for k in "12012345678".chars() {
            key(&k.to_string());
        }
        self.shot("enrol-phone-invalid")?;
        for _ in 0..11 {
            key("⌫");
        }
        for k in "13905741234".chars() {
            key(&k.to_string());
        }
        self.shot("enrol-phone")?;
        w.global::<super::IdentifyPage>().invoke_submit();
        self.wait_for("enrolled", Screen::Result)?;
        self.shot("enrol-result")?;
        let pid = self
            .c
            .flow
            .borrow()
            .patient
            .as_ref()
            .map(|p| p.patient_id.clone())
            .ok_or_else(|| ShotError::Data("enrolled, but no patient in the session".into()))?;
        w.global::<super::ResultPage>().invoke_done();
        Ok(pid)
    }

    /// The query menu: itemized bills (a bill's items), the price list
    /// searched by pinyin initials, and the floor guide.
    pub fn queries(&mut self, patient: usize) -> Result<(), ShotError> {
        let c = self.c.clone();
        let w = &c.window;
        w.global::<super::HomePage>().invoke_open("query".into());
        self.wait_for("query menu", Screen::List)?;
        self.shot("query-menu")?;
        w.global::<super::ListPage>().invoke_pick("prices".into());
        self.wait_for("prices", Screen::Prices)?;
        for k in ["X", "C", "G"] {
            w.global::<super::PricePage>().invoke_key(k.into());
        }
        let c2 = self.c.clone();
        self.headless.wait(Duration::from_secs(20), move || {
            use slint::Model;
            c2.window
                .global::<super::PricePage>()
                .get_items()
                .row_count()
                > 0
                && c2.flow.borrow().price_query == "XCG"
        });
        self.shot("prices")?;
        w.global::<super::Session>().invoke_back();
        self.wait_for("query menu", Screen::List)?;
        w.global::<super::ListPage>().invoke_pick("guide".into());
        self.wait_for("floor guide", Screen::Map)?;
        self.shot("guide")?;
        w.global::<super::Session>().invoke_back();
        self.wait_for("query menu", Screen::List)?;
        w.global::<super::ListPage>().invoke_pick("bills".into());
        self.wait_for("identify", Screen::Identify)?;
        self.identify(patient)?;
        self.wait_for_list("bill history", super::ListKind::BillHistory)?;
        self.shot("bill-history")?;
        let bill = Self::first_enabled(&w.global::<super::ListPage>().get_items())
            .ok_or_else(|| ShotError::Data("no bill".into()))?;
        w.global::<super::ListPage>().invoke_pick(bill.into());
        self.wait_for("bill items", Screen::Detail)?;
        self.shot("bill-items")?;
        w.global::<super::Session>().invoke_home();
        Ok(())
    }

    /// Book tomorrow's first free slot for a seeded patient, paid by a
    /// scanned code, then cancel it from the Cancel tile: the refund goes
    /// back to the code's account. Returns the appointment id, on the
    /// result screen.
    pub fn book_and_cancel(&mut self, patient: usize) -> Result<String, ShotError> {
        let c = self.c.clone();
        let w = &c.window;
        self.identify(patient)?;
        w.global::<super::HomePage>().invoke_open("book".into());
        self.wait_for("departments", Screen::List)?;
        // Departments in order until one has a doctor with places tomorrow.
        let depts: Vec<String> = {
            use slint::Model;
            w.global::<super::ListPage>()
                .get_items()
                .iter()
                .map(|c| c.id.to_string())
                .collect()
        };
        let mut found = false;
        for d in depts {
            w.global::<super::ListPage>().invoke_pick(d.into());
            self.wait_for_list("doctors", super::ListKind::Doctors)?;
            if let Some(doc) = Self::first_enabled(&w.global::<super::ListPage>().get_items()) {
                w.global::<super::ListPage>().invoke_pick(doc.into());
                found = true;
                break;
            }
            w.global::<super::Session>().invoke_back();
        }
        if !found {
            return Err(ShotError::Data("no doctor with places tomorrow".into()));
        }
        self.wait_for("slots", Screen::Slots)?;
        let slot = {
            use slint::Model;
            w.global::<super::SlotPage>()
                .get_slots()
                .iter()
                .find(|s| s.enabled)
                .map(|s| s.id.to_string())
        }
        .ok_or_else(|| ShotError::Data("no free slot tomorrow".into()))?;
        w.global::<super::SlotPage>().invoke_pick(slot.into());
        w.global::<super::SlotPage>().invoke_confirm();
        self.wait_for("payment choice", Screen::PayMethod)?;
        let n = chrono::Utc::now()
            .timestamp_micros()
            .rem_euclid(10_i64.pow(16));
        self.c
            .clone()
            .apply(Msg::Scanned(kiosk_drivers::scanner::Scanned::PaymentCode(
                format!("13{n:016}"),
            )));
        self.wait_for("booked", Screen::Result)?;
        if !w.global::<super::ResultPage>().get_ok() {
            return Err(ShotError::Data(format!(
                "booking failed: {}",
                w.global::<super::ResultPage>().get_message()
            )));
        }
        w.global::<super::HomePage>().invoke_open("cancel".into());
        self.wait_for("bookings", Screen::List)?;
        self.shot("cancel-list")?;
        let appt = Self::first_enabled(&w.global::<super::ListPage>().get_items())
            .ok_or_else(|| ShotError::Data("the booking is not in the cancel list".into()))?;
        w.global::<super::ListPage>()
            .invoke_pick(appt.clone().into());
        self.wait_for("cancel detail", Screen::Detail)?;
        self.shot("cancel")?;
        w.global::<super::DetailPage>().invoke_act();
        self.wait_for("cancelled", Screen::Result)?;
        self.shot("cancel-result")?;
        Ok(appt)
    }

    /// The maintenance screens: the PIN pad, the menu, device health, the
    /// transactions to handle, today's totals (demo technician PIN).
    pub fn maintenance(&mut self) -> Result<(), ShotError> {
        let c = self.c.clone();
        let w = &c.window;
        self.maint_login(true)?;
        self.shot("maint-menu")?;
        for (id, shot) in [("devices", "maint-devices"), ("totals", "maint-totals")] {
            w.global::<super::ListPage>().invoke_pick(id.into());
            self.wait_for(shot, Screen::Detail)?;
            self.shot(shot)?;
            w.global::<super::Session>().invoke_back();
            self.wait_for("maintenance menu", Screen::List)?;
        }
        w.global::<super::ListPage>().invoke_pick("txns".into());
        self.wait_for("transactions", Screen::List)?;
        self.shot("maint-txns")?;
        w.global::<super::Session>().invoke_back();
        self.wait_for_list("maintenance menu", super::ListKind::Maint)?;
        // Out of service: the notices, then what patients see.
        w.global::<super::ListPage>().invoke_pick("service".into());
        self.wait_for_list("notices", super::ListKind::MaintNotices)?;
        self.shot("maint-notices")?;
        w.global::<super::ListPage>().invoke_pick("paper".into());
        self.wait_for_list("maintenance menu", super::ListKind::Maint)?;
        w.global::<super::Session>().invoke_home();
        self.wait_for("home", Screen::Home)?;
        self.shot("home-out-of-service")?;
        self.maint_login(false)?;
        w.global::<super::ListPage>().invoke_pick("service".into());
        w.global::<super::Session>().invoke_home();
        Ok(())
    }

    /// Five taps on the logo and the demo technician PIN.
    fn maint_login(&mut self, shot: bool) -> Result<(), ShotError> {
        let c = self.c.clone();
        let w = &c.window;
        for _ in 0..5 {
            w.global::<super::Session>().invoke_logo_tapped();
        }
        self.wait_for("technician login", Screen::Identify)?;
        for d in super::DEMO_TECH_PIN.chars() {
            w.global::<super::IdentifyPage>()
                .invoke_key(d.to_string().into());
        }
        if shot {
            self.shot("maint-pin")?;
        }
        w.global::<super::IdentifyPage>().invoke_submit();
        let c2 = self.c.clone();
        if !self.headless.wait(Duration::from_secs(20), move || {
            c2.window.global::<super::Session>().get_maint()
        }) {
            return Err(ShotError::Data(format!(
                "maintenance login: {}",
                w.global::<super::IdentifyPage>().get_error()
            )));
        }
        self.wait_for_list("maintenance menu", super::ListKind::Maint)
    }

    /// The queue position of the seeded patient waiting today.
    pub fn queue(&mut self) -> Result<(), ShotError> {
        let c = self.c.clone();
        let w = &c.window;
        self.identify(crate::his::sim::QUEUE_PATIENT)?;
        w.global::<super::HomePage>().invoke_open("query".into());
        self.wait_for("query menu", Screen::List)?;
        w.global::<super::ListPage>().invoke_pick("queue".into());
        self.wait_for("queue", Screen::Detail)?;
        self.shot("queue")?;
        w.global::<super::Session>().invoke_home();
        Ok(())
    }

    /// Report printing for a patient with ready reports: the list, then
    /// every printable one printed on the A4 printer.
    pub fn reports(&mut self, patient: usize) -> Result<(), ShotError> {
        let c = self.c.clone();
        let w = &c.window;
        self.identify(patient)?;
        w.global::<super::HomePage>().invoke_open("reports".into());
        self.wait_for("reports", Screen::List)?;
        self.shot("reports")?;
        w.global::<super::ListPage>().invoke_act();
        self.wait_for("reports printed", Screen::Result)?;
        self.shot("reports-printed")?;
        w.global::<super::ResultPage>().invoke_done();
        Ok(())
    }

    /// Check-in list of patient 65 (an appointment today).
    pub fn check_in(&mut self) -> Result<(), ShotError> {
        let c = self.c.clone();
        let w = &c.window;
        self.identify(65)?;
        w.global::<super::HomePage>().invoke_open("check_in".into());
        self.wait_for("appointments", Screen::List)?;
        self.shot("appointments")?;
        w.global::<super::Session>().invoke_home();
        Ok(())
    }
}

/// The demo kiosk (embedded simulators, simulated devices) on its own tokio
/// runtime, with its data under `data_dir` and config overrides from
/// `KIOSK_<SECTION>__<KEY>` pairs: for tests and benchmarks.
pub fn demo_app(
    data_dir: &Path,
    env: &[(&str, &str)],
) -> Result<(tokio::runtime::Runtime, crate::app::App), ShotError> {
    let mut vars = vec![(
        "KIOSK_KIOSK__DATA_DIR".to_string(),
        format!("\"{}\"", data_dir.display()),
    )];
    vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let cfg = crate::config::load(&[], vars).map_err(|e| ShotError::Data(e.to_string()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| ShotError::Data(format!("starting tokio: {e}")))?;
    let app = rt
        .block_on(crate::app::App::start(cfg))
        .map_err(|e| ShotError::Data(e.to_string()))?;
    Ok((rt, app))
}

/// `kiosk screenshot --out DIR`: every screen, both languages, elderly mode,
/// portrait and landscape.
/// `cfg` made safe for the tour: the hospital's look and settings kept, but
/// HIS, payment and every device on the embedded simulators, with the data
/// under `data_dir` (the tour books, pays and prints as patients would).
pub fn tour_config(mut cfg: crate::config::Config, data_dir: &Path) -> crate::config::Config {
    cfg.kiosk.data_dir = data_dir.to_path_buf();
    cfg.his.mode = crate::config::HisMode::Embedded;
    cfg.pay.mode = crate::config::PayMode::Embedded;
    let d = &mut cfg.devices;
    for dev in [
        &mut d.receipt_printer,
        &mut d.id_card_reader,
        &mut d.health_card_reader,
        &mut d.scanner,
        &mut d.report_printer,
    ] {
        dev.driver = "simulator".into();
    }
    cfg
}

pub fn run(
    app: &crate::app::App,
    rt: tokio::runtime::Handle,
    out: &Path,
) -> Result<Vec<PathBuf>, ShotError> {
    std::fs::create_dir_all(out).map_err(|source| ShotError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    let headless = Headless::install()?;
    let mut all = Vec::new();
    let variants: [(&str, super::Lang, bool, bool); 4] = [
        ("zh-", super::Lang::Zh, false, false),
        ("en-", super::Lang::En, false, false),
        ("zh-elderly-", super::Lang::Zh, true, false),
        ("zh-landscape-", super::Lang::Zh, false, true),
    ];
    for (variant, (prefix, lang, elderly, landscape)) in variants.into_iter().enumerate() {
        let mut cfg = app.cfg.clone();
        cfg.ui.default_language = lang.code().into();
        if elderly {
            // Stay in elderly mode between flows (home resets the automatic one).
            cfg.ui.elderly_mode_age = 0;
        }
        cfg.ui.orientation = if landscape {
            crate::config::Orientation::Landscape
        } else {
            crate::config::Orientation::Portrait
        };
        let be = Backend::of(app, rt.clone());
        let c = Controller::new(cfg, be.clone())?;
        if landscape {
            headless.set_size(1920, 1080);
        } else {
            headless.set_size(1080, 1920);
        }
        c.window.show().map_err(UiError::from)?;
        c.window.global::<super::Theme>().set_elderly(elderly);
        let mut tour = Tour {
            headless: &headless,
            c: c.clone(),
            be,
            out: out.to_path_buf(),
            prefix: prefix.into(),
            shots: Vec::new(),
        };
        // A different seeded patient for each registration: HIS allows one
        // place per patient and session.
        let first = 3
            + 2 * all.len() / 100
            + match prefix {
                "zh-" => 0,
                "en-" => 2,
                "zh-elderly-" => 4,
                _ => 6,
            };
        tour.shot("home")?;
        tour.registration(first, true)?;
        if !elderly && !landscape {
            tour.settlement()?;
            tour.check_in()?;
            tour.registration(first + 1, false)?;
        }
        if !landscape {
            let rt = tour.be.rt.clone();
            let his = tour.be.his.clone();
            let with_reports = tour.seeded_where("with a ready report", |p| {
                rt.block_on(his.reports(&p.patient_id)).is_ok_and(|r| {
                    r.iter().any(|r| {
                        r.status == crate::domain::ReportStatus::Ready && r.print_count == 0
                    })
                })
            })?;
            tour.queries(0)?;
            tour.queue()?;
            tour.book_and_cancel(30 + variant)?;
            c.window.global::<super::Session>().invoke_home();
            if variant == 0 {
                tour.maintenance()?;
            }
            tour.reports(with_reports)?;
            tour.enrol(variant)?;
        }
        c.window.hide().map_err(UiError::from)?;
        all.extend(tour.shots);
    }
    Ok(all)
}

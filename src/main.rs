//! `kiosk`: parse the command line, load config, wire the adapters, run.
//! `anyhow` lives here only; the library returns typed errors.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use kiosk::app::App;
use kiosk::config::{self, Config};
use kiosk::his;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "kiosk",
    version,
    about = "Hospital outpatient self-service kiosk"
)]
struct Cli {
    /// Configuration files layered over the built-in defaults, in order
    /// (hospital profile, then kiosk file). Also KIOSK_CONFIG (colon-separated).
    #[arg(
        short,
        long = "config",
        global = true,
        env = "KIOSK_CONFIG",
        value_delimiter = ':'
    )]
    config: Vec<PathBuf>,
    /// Public keys (one base64 ed25519 key per line) that config files must
    /// be signed with; default /etc/kiosk/trusted-keys when it exists. With
    /// no trusted keys (a demo or development kiosk) signatures are not needed.
    #[arg(long, global = true, env = "KIOSK_TRUSTED_KEYS")]
    trusted_keys: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Where the trusted keys are, if the kiosk has any.
const DEFAULT_TRUSTED_KEYS: &str = "/etc/kiosk/trusted-keys";

fn trusted_keys(given: &Option<PathBuf>) -> Result<Option<kiosk::signing::TrustedKeys>> {
    let path = match given {
        Some(p) => p.clone(),
        None if std::path::Path::new(DEFAULT_TRUSTED_KEYS).exists() => {
            PathBuf::from(DEFAULT_TRUSTED_KEYS)
        }
        None => return Ok(None),
    };
    Ok(Some(kiosk::signing::TrustedKeys::load(&path)?))
}

#[derive(Subcommand)]
enum Command {
    /// Run the kiosk (the default).
    Run,
    /// Serve the HIS simulator: the whole gateway protocol over HTTP.
    HisSim(HisSimArgs),
    /// Serve the payment platform simulator (WeChat/Alipay/UnionPay/wallet rules).
    PaySim(PaySimArgs),
    /// Drive every unfinished transaction to a terminal state (what the
    /// kiosk also does at start-up and periodically), then list what is open.
    Recover(RecoverArgs),
    /// Three-way reconciliation of a business day: journal, channel bill, HIS
    /// ledger. Exit status 1 when a mismatch is unexplained.
    Reconcile(ReconcileArgs),
    /// Render every screen to PNG through the software renderer (both
    /// languages, elderly mode, portrait and landscape), with the demo data:
    /// always on the embedded simulators, in a temporary data directory.
    Screenshot {
        /// Directory for the PNG files.
        #[arg(long)]
        out: PathBuf,
    },
    /// Every configured device with its health; optionally test-print,
    /// test-read and test-scan. Exit status 1 when a device is in fault or a
    /// test failed.
    Doctor(DoctorArgs),
    /// Run one paid transaction against the configured simulators (crash harness).
    #[cfg(feature = "failpoints")]
    #[command(hide = true)]
    Drill(DrillArgs),
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Technician access tools.
    Maint {
        #[command(subcommand)]
        command: MaintCommand,
    },
}

#[derive(Subcommand)]
enum MaintCommand {
    /// Read a technician PIN (6-12 digits) on stdin and print its argon2id
    /// hash for `[maintenance.technicians]`.
    HashPin,
    /// Print the last audit records (who, when, what).
    Audit {
        #[arg(long, default_value_t = 50)]
        last: u32,
    },
}

#[derive(clap::Args)]
struct HisSimArgs {
    /// Address to listen on, e.g. 127.0.0.1:8701 (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8701")]
    listen: SocketAddr,
    /// SQLite database; created and seeded if new, reused if it exists.
    #[arg(long)]
    db: PathBuf,
    /// Seed of the generated hospital (same seed, same hospital).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Business date (YYYY-MM-DD); default today in China Standard Time.
    #[arg(long)]
    today: Option<chrono::NaiveDate>,
    /// Bearer token the simulator accepts.
    #[arg(long, default_value = "demo")]
    token: String,
    /// Hospital id the simulator answers for.
    #[arg(long, default_value = "H0001")]
    hospital_id: String,
    /// Length of a timed slot in minutes.
    #[arg(long, default_value_t = 15)]
    slot_minutes: u32,
    /// Seconds a hold lives.
    #[arg(long, default_value_t = 300)]
    hold_ttl_secs: u32,
}

#[derive(clap::Args)]
struct PaySimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8702")]
    listen: SocketAddr,
    /// SQLite database; created if new, reused if it exists.
    #[arg(long)]
    db: PathBuf,
    /// Business date (YYYY-MM-DD); the clock starts at 09:00 that day.
    #[arg(long)]
    today: Option<chrono::NaiveDate>,
    /// Run the channel rules faster (10: the 45 s revoke takes 4.5 s).
    #[arg(long, default_value_t = 1.0)]
    time_factor: f64,
    /// A kiosk and its signing key, KIOSK_ID=HEXKEY (repeatable); default the demo kiosk K01.
    #[arg(long = "kiosk-key", value_parser = kiosk::pay::sign::parse_kiosk_key_arg)]
    kiosk_keys: Vec<(String, kiosk::pay::sign::KioskKey)>,
    /// Require this bearer token on the /sim control endpoints.
    #[arg(long)]
    control_token: Option<String>,
}

#[derive(clap::Args)]
struct RecoverArgs {
    /// Keep making passes until everything is terminal or this many seconds passed.
    #[arg(long, default_value_t = 60)]
    wait_secs: u64,
}

#[derive(clap::Args)]
struct DoctorArgs {
    /// Print a test slip on the receipt printer.
    #[arg(long)]
    print: bool,
    /// Print an A4 test page on the report printer.
    #[arg(long)]
    print_a4: bool,
    /// Wait up to SECS for an ID or health card and read it.
    #[arg(long, value_name = "SECS")]
    read: Option<u64>,
    /// Wait up to SECS for a scanned code.
    #[arg(long, value_name = "SECS")]
    scan: Option<u64>,
    /// JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ReconcileArgs {
    /// The business day (YYYY-MM-DD).
    #[arg(long)]
    date: chrono::NaiveDate,
    /// Write every mismatch here as CSV (default: reconcile-DATE.csv in the data directory).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[cfg(feature = "failpoints")]
#[derive(clap::Args)]
struct DrillArgs {
    /// registration, booking, check_in, settlement or cancellation.
    #[arg(long)]
    kind: String,
    /// The patient's card kind (id_card, health_card, ...).
    #[arg(long, default_value = "id_card")]
    card_kind: String,
    #[arg(long)]
    card_no: String,
    /// "qr", or "code:NNNN" (the payment code's last four digits).
    #[arg(long, default_value = "code:0001")]
    pay: String,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check configuration files: prints every problem (file, key, reason).
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the effective configuration, secrets masked.
    Show,
    /// Compare two configurations key by key (each one file, or layers
    /// joined with ':', over the defaults). Exit status 1 when they differ.
    Diff { a: String, b: String },
    /// Make an ed25519 signing key pair for config files: DIR/fleet-signing.key
    /// (secret, keep it off the kiosks) and DIR/fleet-signing.pub (for each
    /// kiosk's trusted-keys file).
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign config files: writes FILE.sig beside each.
    Sign {
        #[arg(long)]
        key: PathBuf,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kiosk: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command.unwrap_or(Command::Run) {
        Command::Config {
            command: ConfigCommand::Check { files },
        } => Ok(config_check(
            &files,
            trusted_keys(&cli.trusted_keys)?.as_ref(),
        )),
        Command::Config {
            command: ConfigCommand::Diff { a, b },
        } => {
            let split = |s: &str| s.split(':').map(PathBuf::from).collect::<Vec<_>>();
            let changes = config::diff(&split(&a), &split(&b))?;
            for c in &changes {
                println!("{c}");
            }
            println!("{} difference(s)", changes.len());
            Ok(if changes.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Config {
            command: ConfigCommand::Keygen { out },
        } => {
            let (secret, public) = kiosk::signing::keygen()?;
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let key = out.join("fleet-signing.key");
            if key.exists() {
                bail!("{} exists: not overwriting a signing key", key.display());
            }
            write_secret(&key, &secret)?;
            std::fs::write(out.join("fleet-signing.pub"), format!("{public}\n"))?;
            println!("secret key: {} (keep it off the kiosks)", key.display());
            println!("public key: {public}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Config {
            command: ConfigCommand::Sign { key, files },
        } => {
            for f in &files {
                let sig = kiosk::signing::sign_file(&key, f)?;
                println!("signed {} -> {}", f.display(), sig.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Config {
            command: ConfigCommand::Show,
        } => {
            let cfg = load_config(&cli.config, &cli.trusted_keys)?;
            println!("{:#?}", cfg.redacted());
            Ok(ExitCode::SUCCESS)
        }
        Command::HisSim(args) => {
            kiosk::logging::init("info");
            let cfg = his::sim::SimConfig {
                hospital_id: args.hospital_id,
                token: args.token,
                seed: args.seed,
                today: args.today,
                start_time: None,
                slot_minutes: args.slot_minutes,
                hold_ttl_secs: args.hold_ttl_secs,
                db_path: args.db,
                ..his::sim::SimConfig::default()
            };
            tokio_runtime()?
                .block_on(his::sim::run(cfg, args.listen))
                .context("HIS simulator")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::PaySim(args) => {
            kiosk::logging::init("info");
            let mut cfg = kiosk::pay::sim::PaySimConfig {
                time_factor: args.time_factor,
                today: args.today,
                db_path: args.db,
                control_token: args.control_token,
                ..kiosk::pay::sim::PaySimConfig::default()
            };
            if !args.kiosk_keys.is_empty() {
                cfg.kiosk_keys = args.kiosk_keys;
            }
            tokio_runtime()?
                .block_on(kiosk::pay::sim::run(cfg, args.listen))
                .context("payment simulator")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run => {
            let cfg = load_config(&cli.config, &cli.trusted_keys)?;
            kiosk::logging::init(&cfg.logging.filter);
            run_kiosk(cfg)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Recover(args) => {
            let cfg = load_config(&cli.config, &cli.trusted_keys)?;
            kiosk::logging::init(&cfg.logging.filter);
            tokio_runtime()?.block_on(recover(cfg, args))
        }
        Command::Reconcile(args) => {
            let cfg = load_config(&cli.config, &cli.trusted_keys)?;
            kiosk::logging::init(&cfg.logging.filter);
            tokio_runtime()?.block_on(reconcile(cfg, args))
        }
        Command::Screenshot { out } => {
            let cfg = load_config(&cli.config, &cli.trusted_keys)?;
            kiosk::logging::init("warn");
            // The tour plays patients through every service: it runs on the
            // embedded simulators in a data directory of its own, never on a
            // kiosk's journal, HIS or printers (and so can run again).
            let data =
                std::env::temp_dir().join(format!("kiosk-screenshot-{}", std::process::id()));
            let cfg = kiosk::ui::screenshot::tour_config(cfg, &data);
            let rt = tokio_runtime()?;
            let app = rt.block_on(App::start(cfg))?;
            let shots = kiosk::ui::screenshot::run(&app, rt.handle().clone(), &out);
            rt.block_on(app.shutdown());
            let _ = std::fs::remove_dir_all(&data);
            let shots = shots?;
            for s in &shots {
                println!("{}", s.display());
            }
            println!("{} screenshots in {}", shots.len(), out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Maint {
            command: MaintCommand::HashPin,
        } => {
            let mut pin = String::new();
            std::io::stdin()
                .read_line(&mut pin)
                .context("reading the PIN on stdin")?;
            println!("{}", kiosk::maint::hash_pin(pin.trim())?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Maint {
            command: MaintCommand::Audit { last },
        } => {
            let cfg = load_config(&cli.config, &cli.trusted_keys)?;
            let m = kiosk::maint::Maintenance::open(&cfg.kiosk.data_dir, cfg.maintenance.policy())?;
            for e in m.audit_log(last)? {
                println!(
                    "{}  {:<10} {:<14} {}",
                    e.at.to_rfc3339(),
                    e.who,
                    e.action,
                    e.detail
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor(args) => {
            let cfg = load_config(&cli.config, &cli.trusted_keys)?;
            kiosk::logging::init("warn");
            doctor(cfg, args)
        }
        #[cfg(feature = "failpoints")]
        Command::Drill(args) => {
            let cfg = load_config(&cli.config, &cli.trusted_keys)?;
            kiosk::logging::init(&cfg.logging.filter);
            tokio_runtime()?.block_on(drill(cfg, args))
        }
    }
}

/// Write a secret readable by its owner only.
fn write_secret(path: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(f, "{text}")?;
    Ok(())
}

fn config_check(files: &[PathBuf], trusted: Option<&kiosk::signing::TrustedKeys>) -> ExitCode {
    let problems = config::check_files_signed(files, trusted);
    if problems.is_empty() {
        println!("ok: {} file(s), no problems", files.len());
        return ExitCode::SUCCESS;
    }
    for p in &problems {
        println!("{p}");
    }
    println!("{} problem(s)", problems.len());
    ExitCode::FAILURE
}

fn load_config(files: &[PathBuf], trusted: &Option<PathBuf>) -> Result<Config> {
    let trusted = trusted_keys(trusted)?;
    Ok(config::load_signed(
        files,
        std::env::vars(),
        trusted.as_ref(),
    )?)
}

fn tokio_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting tokio")
}

/// The kiosk: services on tokio, the UI on the main thread until its window closes.
fn run_kiosk(cfg: Config) -> Result<()> {
    let rt = tokio_runtime()?;
    let app = rt.block_on(App::start(cfg))?;
    let departments = rt.block_on(app.his.departments())?;
    tracing::info!(departments = departments.len(), "HIS ready");
    if departments.is_empty() {
        bail!("HIS lists no departments");
    }
    let every = Duration::from_secs(app.cfg.txn.recovery_interval_secs);
    let worker = {
        let _guard = rt.enter();
        app.runner.spawn_recovery_worker(every)
    };
    // Devices are re-checked in the background so a fault (paper out, an
    // unplugged reader) disables what needs them, and a fix re-enables it.
    let _monitor = app.devices.spawn_monitor(Duration::from_secs(10));
    // Monitoring must not keep patients from the kiosk: a port in use is
    // logged (and shows as a failed scrape), not fatal.
    let status = rt
        .block_on(app.start_status_endpoint())
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "status endpoint not started");
            None
        });
    let heartbeat = {
        let _guard = rt.enter();
        app.start_heartbeat().unwrap_or_else(|e| {
            tracing::error!(error = %e, "fleet heartbeat not started");
            None
        })
    };
    rt.spawn(stop_on_signal());
    kiosk::ui::run(&app, rt.handle().clone()).context("the patient UI")?;
    kiosk::sdnotify::stopping("shutting down");
    worker.abort();
    drop(heartbeat);
    if let Some(s) = status {
        rt.block_on(s.shutdown());
    }
    rt.block_on(app.shutdown());
    Ok(())
}

/// SIGTERM (systemd stopping the kiosk) or SIGINT: tell systemd, close the
/// window; `run_kiosk` then shuts down in order. A second signal exits at once.
async fn stop_on_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "no signal handler: a signal ends the kiosk at once");
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("stopping on signal");
    kiosk::sdnotify::stopping("stopping on signal");
    if let Err(e) = slint::quit_event_loop() {
        tracing::warn!(error = %e, "closing the window");
    }
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::warn!("second signal: exiting now");
    std::process::exit(1);
}

async fn recover(cfg: Config, args: RecoverArgs) -> Result<ExitCode> {
    let app = App::start(cfg).await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(args.wait_secs);
    let mut report = app.runner.recover_all().await?;
    let mut finished = report.finished.clone();
    while !report.open.is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(app.cfg.txn.poll_interval_ms.max(200))).await;
        report = app.runner.recover_all().await?;
        finished.extend(report.finished.iter().cloned());
    }
    for (id, state) in &finished {
        println!("finished {id} {state}");
    }
    for (id, state, err) in &report.open {
        println!("open {id} {state} {}", err.as_deref().unwrap_or(""));
    }
    let staff = app.runner.with_journal(|j| j.needing_staff())?;
    for t in &staff {
        println!(
            "needs_staff {} {} {}",
            t.key_base(),
            t.amount,
            t.last_error.as_deref().unwrap_or("")
        );
    }
    println!(
        "{} finished, {} open, {} waiting for staff",
        finished.len(),
        report.open.len(),
        staff.len()
    );
    let open = report.open.len();
    app.shutdown().await;
    Ok(if open == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn doctor(cfg: Config, args: DoctorArgs) -> Result<ExitCode> {
    std::fs::create_dir_all(&cfg.kiosk.data_dir)
        .with_context(|| format!("creating {}", cfg.kiosk.data_dir.display()))?;
    let devices = kiosk::devices::Devices::open(&cfg)?;
    let opts = kiosk::doctor::DoctorOptions {
        print: args.print,
        print_a4: args.print_a4,
        read: args.read.map(Duration::from_secs),
        scan: args.scan.map(Duration::from_secs),
        hospital: cfg.hospital.name_zh.clone(),
        kiosk_id: cfg.kiosk.id.clone(),
    };
    let report = kiosk::doctor::run(&devices, &opts);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(if report.problems() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn reconcile(cfg: Config, args: ReconcileArgs) -> Result<ExitCode> {
    let out = args
        .out
        .unwrap_or_else(|| cfg.data_path(&format!("reconcile-{}.csv", args.date)));
    let app = App::start(cfg).await?;
    let sum = app
        .reconcile(args.date)
        .await
        .with_context(|| format!("reconciling {}", args.date))?;
    std::fs::write(&out, sum.mismatches_csv())
        .with_context(|| format!("writing {}", out.display()))?;
    println!(
        "{}: {} transactions, {} completed; journal {} / channel net {} / HIS {}",
        args.date,
        sum.transactions,
        sum.completed,
        sum.journal_total,
        sum.channel_net,
        sum.his_total
    );
    for m in &sum.mismatches {
        println!(
            "{} {} {} {}",
            m.kind.as_str(),
            m.out_trade_no,
            m.journal_state.map(|s| s.as_str()).unwrap_or("-"),
            m.detail
        );
    }
    let unexplained = sum.unexplained();
    println!(
        "{} mismatch(es), {} unexplained; CSV: {}",
        sum.mismatches.len(),
        unexplained,
        out.display()
    );
    app.shutdown().await;
    Ok(if unexplained == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(feature = "failpoints")]
async fn drill(cfg: Config, args: DrillArgs) -> Result<ExitCode> {
    use kiosk::drill::DrillPay;
    let kind = kiosk::txn::TxnKind::parse(&args.kind)
        .with_context(|| format!("unknown kind {:?}", args.kind))?;
    let card_kind: kiosk::domain::CardKind =
        serde_json::from_value(serde_json::Value::String(args.card_kind.clone()))
            .with_context(|| format!("unknown card kind {:?}", args.card_kind))?;
    let pay = match args.pay.as_str() {
        "qr" => DrillPay::Qr,
        p => match p.strip_prefix("code:") {
            Some(s) if s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) => {
                DrillPay::Code(s.to_string())
            }
            _ => bail!("--pay is qr or code:NNNN, not {p:?}"),
        },
    };
    let app = App::start(cfg).await?;
    let outcome = kiosk::drill::run(&app, kind, card_kind, &args.card_no, &pay).await?;
    let t = outcome.txn();
    println!("OUTCOME {} {} {}", t.key_base(), t.state, t.amount);
    app.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

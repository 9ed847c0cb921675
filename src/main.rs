//! `kiosk`: parse the command line, load config, wire the adapters, run.
//! `anyhow` lives here only; the library returns typed errors.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use kiosk::config::{self, Config, HisMode};
use kiosk::his::{self, HisGateway, HttpHis, HttpHisConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

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
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the kiosk (the default).
    Run,
    /// Serve the HIS simulator: the whole gateway protocol over HTTP.
    HisSim(HisSimArgs),
    /// Serve the payment platform simulator (WeChat/Alipay/UnionPay/wallet rules).
    PaySim(PaySimArgs),
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
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

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check configuration files: prints every problem (file, key, reason).
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the effective configuration's main values.
    Show,
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
        } => Ok(config_check(&files)),
        Command::Config {
            command: ConfigCommand::Show,
        } => {
            let cfg = load_config(&cli.config)?;
            println!("{cfg:#?}");
            Ok(ExitCode::SUCCESS)
        }
        Command::HisSim(args) => {
            kiosk::logging::init("info");
            let cfg = his::sim::SimConfig {
                hospital_id: args.hospital_id,
                token: args.token,
                seed: args.seed,
                today: args.today,
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
            let cfg = load_config(&cli.config)?;
            kiosk::logging::init(&cfg.logging.filter);
            tokio_runtime()?.block_on(run_kiosk(cfg))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn config_check(files: &[PathBuf]) -> ExitCode {
    let problems = config::check_files(files);
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

fn load_config(files: &[PathBuf]) -> Result<Config> {
    Ok(config::load(files, std::env::vars())?)
}

fn tokio_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting tokio")
}

async fn run_kiosk(cfg: Config) -> Result<()> {
    std::fs::create_dir_all(&cfg.kiosk.data_dir)
        .with_context(|| format!("creating data directory {}", cfg.kiosk.data_dir.display()))?;
    let token = cfg.his_token()?;
    // Embedded mode still talks HTTP to the simulator: the real client path always runs.
    let (base_url, sim) = match cfg.his.mode {
        HisMode::Remote => (url::Url::parse(&cfg.his.base_url)?, None),
        HisMode::Embedded => {
            let sim_cfg = his::sim::SimConfig {
                hospital_id: cfg.hospital.id.clone(),
                hospital_name: cfg.hospital.name_zh.clone(),
                token: token.clone(),
                seed: cfg.his.embedded.seed,
                today: (!cfg.his.embedded.today.is_empty())
                    .then(|| chrono::NaiveDate::parse_from_str(&cfg.his.embedded.today, "%Y-%m-%d"))
                    .transpose()?,
                slot_minutes: cfg.booking.slot_minutes,
                hold_ttl_secs: cfg.his.embedded.hold_ttl_secs,
                db_path: cfg.data_path(&cfg.his.embedded.db),
            };
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let handle = his::sim::spawn(sim_cfg, listener)
                .await
                .context("starting the embedded HIS simulator")?;
            tracing::info!(addr = %handle.addr, "embedded HIS simulator listening");
            (
                url::Url::parse(&format!("http://{}/", handle.addr))?,
                Some(handle),
            )
        }
    };
    let his = HttpHis::new(HttpHisConfig::from_config(&cfg, base_url, token))?;
    let ping = his
        .ping()
        .await
        .context("the HIS gateway does not answer")?;
    tracing::info!(hospital = %ping.hospital_name, today = %ping.today, "connected to HIS");
    let departments = his.departments().await?;
    tracing::info!(departments = departments.len(), "HIS ready");
    if departments.is_empty() {
        bail!("HIS lists no departments");
    }
    tracing::info!("the patient UI arrives with the UI issue; serving until Ctrl-C");
    tokio::signal::ctrl_c().await?;
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    Ok(())
}

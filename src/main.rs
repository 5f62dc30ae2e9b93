//! The `fluxprint-gateway` command line: parse arguments, set up logging, load the config,
//! and hand over to `fluxprint_gateway::run`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fluxprint_gateway::cloud::tls;
use fluxprint_gateway::config::{self, Config};
use fluxprint_gateway::platform::{logging, memory, ports, signals};
use fluxprint_gateway::web;
use tokio_util::sync::CancellationToken;

mod enroll;

/// Exit code for a config that cannot be used (also for a bad command line, as clap does).
pub(crate) const EXIT_CONFIG: u8 = 2;

/// The package version, plus `FLUXPRINT_VERSION_SUFFIX` when the build set it. Read only in
/// this binary crate, so a build with another suffix recompiles this crate alone (the
/// update tests build their "new version" that way in seconds).
fn version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        let suffix = option_env!("FLUXPRINT_VERSION_SUFFIX").unwrap_or_default();
        format!("{}{suffix}", env!("CARGO_PKG_VERSION"))
    })
}

#[derive(Parser)]
#[command(
    name = "fluxprint-gateway",
    version = version(),
    about = "FluxPrint printer gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway daemon.
    Run {
        /// The config file.
        #[arg(long, default_value = "/etc/fluxprint/gateway.toml")]
        config: PathBuf,
    },
    /// Check a config file: exit 0 when it is usable, 2 with one line per problem when not.
    CheckConfig {
        /// The config file.
        file: PathBuf,
    },
    /// List serial ports with their USB ids.
    Ports,
    /// Try the gateway: one simulated printer, no cloud, a temporary state directory.
    Demo,
    /// Enroll this gateway by claim: make its key here, get its certificate from the cloud
    /// with the batch's claim certificate, store both in <state_dir>/cloud/ and connect with
    /// them once. Running it again when enrolled changes nothing; after an interruption it
    /// goes on where it stopped.
    Enroll {
        /// The config file (broker URL and CA from [cloud]).
        #[arg(long, default_value = "/etc/fluxprint/gateway.toml")]
        config: PathBuf,
        /// The claim certificate (PEM).
        #[arg(long)]
        claim_cert: PathBuf,
        /// The claim certificate's private key (PEM).
        #[arg(long)]
        claim_key: PathBuf,
        /// How long to wait for the cloud's answer.
        #[arg(long, default_value_t = 30)]
        timeout_s: u64,
    },
    /// Print the LAN API key (web.api_key, or the one generated into the state directory,
    /// generating it now if the gateway has not started yet).
    ApiKey {
        /// The config file.
        #[arg(long, default_value = "/etc/fluxprint/gateway.toml")]
        config: PathBuf,
    },
    /// Install a staged remote update and roll it back if it does not get healthy (run by
    /// fluxprint-gateway-update.service as root, not by the daemon's user).
    ApplyUpdate {
        /// The config file ([gateway] state_dir and [update]).
        #[arg(long, default_value = "/etc/fluxprint/gateway.toml")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    memory::limit_arenas();
    tls::install_crypto_provider();
    fluxprint_gateway::update::set_version(version());
    let cli = Cli::parse();
    // The daemon only: a short command's memory does not matter.
    let restart_failed = match cli.command {
        Command::Run { .. } => memory::without_thread_caches(),
        _ => None,
    };
    match cli.command {
        Command::ApplyUpdate { config } => apply_update(&config),
        Command::Run { config } => run(&config, restart_failed),
        Command::Demo => demo(),
        Command::ApiKey { config } => api_key(&config),
        Command::Enroll {
            config,
            claim_cert,
            claim_key,
            timeout_s,
        } => enroll::run(&config, claim_cert, claim_key, timeout_s),
        Command::CheckConfig { file } => match load(&file) {
            Ok(config) => {
                let cloud = if config.cloud.enabled {
                    "enabled"
                } else {
                    "disabled"
                };
                println!("ok: {} printer(s), cloud {cloud}", config.printers.len());
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Ports => match ports::list() {
            Ok(found) => {
                print!("{}", ports::render(&found));
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
    }
}

pub(crate) fn load(path: &Path) -> Result<Config, ExitCode> {
    config::load(path).map_err(|errors| {
        for error in errors.iter() {
            eprintln!("error: {error}");
        }
        ExitCode::from(EXIT_CONFIG)
    })
}

fn run(path: &Path, restart_failed: Option<String>) -> ExitCode {
    let config = match load(path) {
        Ok(config) => config,
        Err(code) => return code,
    };
    if let Err(e) = logging::init(&config.gateway.log_level) {
        eprintln!("error: {e}");
        return ExitCode::from(EXIT_CONFIG);
    }
    if let Some(problem) = restart_failed {
        tracing::warn!("{problem}; running with them (more memory after many jobs)");
    }
    until_signal(|shutdown| {
        tokio::spawn(memory::give_back_freed(shutdown.clone()));
        fluxprint_gateway::run(config, shutdown)
    })
}

fn apply_update(path: &Path) -> ExitCode {
    let config = match load(path) {
        Ok(config) => config,
        Err(code) => return code,
    };
    if let Err(e) = logging::init(&config.gateway.log_level) {
        eprintln!("error: {e}");
        return ExitCode::from(EXIT_CONFIG);
    }
    let state_dir = &config.gateway.state_dir;
    match fluxprint_gateway::update::apply::run(state_dir, &config.update) {
        Ok(Some(outcome)) => {
            println!("{} {}", outcome.stage, outcome.version);
            ExitCode::SUCCESS
        }
        Ok(None) => {
            println!("no update requested");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn api_key(path: &Path) -> ExitCode {
    let config = match load(path) {
        Ok(config) => config,
        Err(code) => return code,
    };
    match web::load_or_generate_api_key(&config.gateway.state_dir, config.web.api_key.as_ref()) {
        Ok(key) => {
            println!("{}", key.expose());
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn demo() -> ExitCode {
    if let Err(e) = logging::init("warn") {
        eprintln!("error: {e}");
        return ExitCode::from(EXIT_CONFIG);
    }
    until_signal(fluxprint_gateway::demo::run)
}

/// Threads in the runtime's blocking pool (tokio's default is 512). It runs file I/O
/// (`tokio::fs`: uploads' and downloads' writes, slicer files), whole-file analyses and safety
/// checks of job files, `fsync` of directories, and the store thread's join at shutdown; none
/// of these waits for another blocking task, so a full pool only queues work, it cannot
/// deadlock. glibc keeps an exited thread's stack and heap cache for the next one, so the
/// memory follows the most threads ever alive at once: unbounded, 100 cloud jobs grew it by
/// 1 MiB (issue #14). Eight still lets a few long analyses run while file I/O goes on.
const BLOCKING_THREADS: usize = 8;

/// Runs `daemon` on a small runtime until it returns; SIGTERM and SIGINT ask it to stop.
fn until_signal<F, Fut>(daemon: F) -> ExitCode
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    // Two workers: the serial and database work runs on threads of its own.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(BLOCKING_THREADS)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&e),
    };
    let result = runtime.block_on(async {
        let shutdown = CancellationToken::new();
        signals::cancel_on_signals(shutdown.clone())?;
        daemon(shutdown).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e.as_ref()),
    }
}

/// One line with the whole cause chain; no backtrace.
pub(crate) fn fail(e: &(dyn std::error::Error + 'static)) -> ExitCode {
    let mut line = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    eprintln!("error: {line}");
    ExitCode::FAILURE
}

//! chargebrain: a load manager for EV charging with the cFos `/cnf` API.

mod api;
mod app;
mod check;
mod logging;
mod mqtt;
mod ocpp;
mod service;
mod settings;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::settings::{Settings, SettingsError, DEFAULT_SETTINGS};

/// Shown after the options by `--help`.
const AFTER_HELP: &str = "\
Without a command, chargebrain runs the daemon until SIGTERM or Ctrl-C.

Environment overrides: any single-valued key of the settings file, as
CHARGEBRAIN__SECTION__KEY=VALUE (lists and [[devices]] only in the file;
[load] and [site] seed the first start only). For example:
  CHARGEBRAIN__HTTP__LISTEN=0.0.0.0:8080          where the API and admin page listen
  CHARGEBRAIN__HTTP__PUBLIC_READ=false            status only with the admin password
  CHARGEBRAIN__STORAGE__DIR=/var/lib/chargebrain  where state.json is kept
  CHARGEBRAIN__LOG__LEVEL=debug                   error, warn, info, debug, trace
  CHARGEBRAIN__LOG__FORMAT=json                   text or json, on stderr
  CHARGEBRAIN__MODBUS__TIMEOUT_MS=1000            longest time of one Modbus request
  CHARGEBRAIN__SIMULATION__ENABLED=false          the built-in simulated plant
  CHARGEBRAIN__LOAD__MAX_TOTAL_CURRENT=32000      the building's limit per phase, mA
  CHARGEBRAIN__MQTT__URL=mqtt://192.168.1.10:1883 the MQTT broker (cFos topics, Home Assistant)
Every key and its meaning: README.md, \"Configuration\".

Set by systemd (Type=notify): NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID
  (readiness, the status line and the watchdog; see \"Installing as a service\").";

#[derive(Debug, Parser)]
#[command(version, about, after_help = AFTER_HELP, disable_help_subcommand = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Settings file (default: ./settings.toml, else the built-in default).
    #[arg(long, value_name = "PATH", global = true)]
    config: Option<PathBuf>,
    /// The same as the check-config command.
    #[arg(long)]
    check_config: bool,
    /// The same as the print-default-config command.
    #[arg(long)]
    print_default_config: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check the settings and the state file they point to, report every
    /// problem, and exit 0 (usable) or 2 (not).
    CheckConfig,
    /// Print the built-in default settings (the simulated plant) and exit.
    PrintDefaultConfig,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.print_default_config || matches!(cli.command, Some(Command::PrintDefaultConfig)) {
        print!("{DEFAULT_SETTINGS}");
        return ExitCode::SUCCESS;
    }
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(SettingsError::Invalid(problems)) => {
            for problem in problems {
                eprintln!("chargebrain: invalid settings: {problem}");
            }
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("chargebrain: invalid settings: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.check_config || matches!(cli.command, Some(Command::CheckConfig)) {
        let source = check::settings_source(cli.config.as_deref());
        let mut overrides: Vec<String> = std::env::vars()
            .map(|(key, _)| key)
            .filter(|key| key.starts_with("CHARGEBRAIN__"))
            .collect();
        overrides.sort();
        let (out, err, ok) = check::report(&settings, &source, &overrides);
        for line in out {
            println!("{line}");
        }
        for line in err {
            eprintln!("chargebrain: {line}");
        }
        return if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        };
    }
    let (log, guard) = match logging::init(&settings.log) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("chargebrain: cannot start logging: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = actix::System::new().block_on(async {
        let result = app::run(settings, log.clone()).await;
        if result.is_err() {
            // Actors spawned before the error start now, inside the runtime:
            // actix starts an unstarted actor as it is dropped, and without
            // a runtime its timers panic.
            actix::clock::sleep(std::time::Duration::from_millis(20)).await;
        }
        result
    });
    let code = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            slog::crit!(log, "{e}");
            ExitCode::from(e.exit_code())
        }
    };
    drop(log);
    drop(guard);
    code
}

//! chargebrain: a load manager for EV charging with the cFos `/cnf` API.

mod api;
mod app;
mod check;
mod logging;
mod settings;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::settings::{Settings, SettingsError, DEFAULT_SETTINGS};

#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Settings file (default: ./settings.toml, else the built-in default).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Check the settings and the state file they point to, report every
    /// problem, and exit 0 (usable) or 2 (not).
    #[arg(long)]
    check_config: bool,
    /// Print the built-in default settings and exit.
    #[arg(long)]
    print_default_config: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.print_default_config {
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
    if cli.check_config {
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

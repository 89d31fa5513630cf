//! chargebrain: a load manager for EV charging with the cFos `/cnf` API.

mod api;
mod app;
mod logging;
mod settings;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::settings::{Settings, DEFAULT_SETTINGS};

#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Settings file (default: ./settings.toml, else the built-in default).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Load and check the settings, then exit 0 (valid) or 2 (invalid).
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
        Err(e) => {
            eprintln!("chargebrain: invalid settings: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.check_config {
        let source = match &cli.config {
            Some(path) => path.display().to_string(),
            None if std::path::Path::new("settings.toml").exists() => "./settings.toml".to_string(),
            None => "the built-in default".to_string(),
        };
        println!("settings ok: {source} (with CHARGEBRAIN__* overrides)");
        return ExitCode::SUCCESS;
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

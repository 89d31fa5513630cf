//! slog setup: text or JSON on stderr, with the `log` records of libraries
//! (actix-web, tokio-modbus) bridged in, and diagnostic logging that can be
//! switched on for five minutes (`cmd=set_diag_logging`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use slog::{o, Drain, Level, Logger};
use slog_async::AsyncGuard;

use crate::settings::{LogFormat, LogLevel, LogSettings};

/// Diagnostic logging stops by itself after this long.
const DIAG_SECS: u64 = 5 * 60;

/// Unix second until which debug records pass whatever the level (0 = off).
static DIAG_UNTIL: AtomicU64 = AtomicU64::new(0);

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Turns diagnostic logging on (for five minutes) or off.
pub fn set_diagnostics(enable: bool) {
    let until = if enable { unix_now() + DIAG_SECS } else { 0 };
    DIAG_UNTIL.store(until, Ordering::Relaxed);
}

fn diagnostics_on() -> bool {
    unix_now() < DIAG_UNTIL.load(Ordering::Relaxed)
}

/// Passes records at the configured level, and debug records too while
/// diagnostic logging is on.
struct DiagFilter<D> {
    drain: D,
    level: Level,
}

impl<D: Drain<Ok = (), Err = slog::Never>> Drain for DiagFilter<D> {
    type Ok = ();
    type Err = slog::Never;

    fn log(
        &self,
        record: &slog::Record<'_>,
        values: &slog::OwnedKVList,
    ) -> Result<(), slog::Never> {
        let wanted = record.level().is_at_least(self.level)
            || (record.level().is_at_least(Level::Debug) && diagnostics_on());
        if wanted {
            self.drain.log(record, values)?;
        }
        Ok(())
    }
}

/// Keeps logging alive; dropping it flushes what is queued.
pub struct LogGuard {
    _async: AsyncGuard,
    _scope: slog_scope::GlobalLoggerGuard,
}

pub fn init(settings: &LogSettings) -> Result<(Logger, LogGuard), log::SetLoggerError> {
    let level = match settings.level {
        LogLevel::Error => Level::Error,
        LogLevel::Warn => Level::Warning,
        LogLevel::Info => Level::Info,
        LogLevel::Debug => Level::Debug,
        LogLevel::Trace => Level::Trace,
    };
    let drain: Box<dyn Drain<Ok = (), Err = slog::Never> + Send> = match settings.format {
        LogFormat::Text => {
            let decorator = slog_term::PlainDecorator::new(std::io::stderr());
            Box::new(slog_term::FullFormat::new(decorator).build().fuse())
        }
        LogFormat::Json => Box::new(
            slog_json::Json::new(std::io::stderr())
                .add_default_keys()
                .build()
                .fuse(),
        ),
    };
    // Block rather than drop records when the queue is full: a lost
    // "fuse limit exceeded" line is worse than a slower log call. The
    // queue is allocated whole at start (about 104 bytes a record): 4096
    // records held 426 kB of the idle daemon's memory, 1024 hold 107 kB;
    // a longer burst waits for the writer, as a full queue always did.
    let (drain, guard) = slog_async::Async::new(drain)
        .chan_size(1024)
        .overflow_strategy(slog_async::OverflowStrategy::Block)
        .build_with_guard();
    // Filtered before the queue: a record nobody reads costs no copy and
    // no wait for the writer (the cycle's per-device debug lines are 10 000
    // records with 10 000 devices).
    let drain = DiagFilter {
        drain: drain.fuse(),
        level,
    };
    let log = Logger::root(drain.fuse(), o!());
    let scope = slog_scope::set_global_logger(log.clone());
    // Library records reach the filter at debug at least, so diagnostic
    // logging can show them; at trace, the libraries' trace records too.
    let bridged = if level == Level::Trace {
        log::Level::Trace
    } else {
        log::Level::Debug
    };
    slog_stdlog::init_with_level(bridged)?;
    Ok((
        log,
        LogGuard {
            _async: guard,
            _scope: scope,
        },
    ))
}

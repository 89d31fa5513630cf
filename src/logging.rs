//! slog setup: text or JSON on stderr, with the `log` records of libraries
//! (actix-web, tokio-modbus) bridged in.

use slog::{o, Drain, Level, Logger};
use slog_async::AsyncGuard;

use crate::settings::{LogFormat, LogLevel, LogSettings};

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
    let drain = drain.filter_level(level).fuse();
    // Block rather than drop records when the queue is full: a lost
    // "fuse limit exceeded" line is worse than a slower log call.
    let (drain, guard) = slog_async::Async::new(drain)
        .chan_size(4096)
        .overflow_strategy(slog_async::OverflowStrategy::Block)
        .build_with_guard();
    let log = Logger::root(drain.fuse(), o!());
    let scope = slog_scope::set_global_logger(log.clone());
    let bridged = match level {
        Level::Critical | Level::Error => log::Level::Error,
        Level::Warning => log::Level::Warn,
        Level::Info => log::Level::Info,
        Level::Debug => log::Level::Debug,
        Level::Trace => log::Level::Trace,
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

//! Where the supervisor's time comes from: the system, or a clock that a
//! simulation moves forward (a whole day of charging in seconds).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use jiff::civil::DateTime;
use jiff::{Span, Zoned};

use crate::rules::charging::{Calendar, LocalTime};

/// The supervisor's clock.
#[derive(Debug, Clone)]
pub enum Clock {
    /// Monotonic ms since start, the system's local time and time zone.
    System(Instant),
    /// Moved forward by hand; the supervisor then cycles only when told
    /// (`CycleNow`).
    Manual(ManualClock),
}

impl Clock {
    pub fn system() -> Self {
        Clock::System(Instant::now())
    }

    /// ms since the clock started.
    pub fn now_ms(&self) -> u64 {
        match self {
            Clock::System(start) => u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
            Clock::Manual(manual) => manual.elapsed_ms(),
        }
    }

    /// Local time for the charging rules and formulas.
    pub fn local_time(&self, now_ms: u64) -> LocalTime {
        match self {
            Clock::System(_) => {
                let zoned = Zoned::now();
                let dst = zoned
                    .time_zone()
                    .to_offset_info(zoned.timestamp())
                    .dst()
                    .is_dst();
                local_time(zoned.datetime(), now_ms, dst)
            }
            Clock::Manual(manual) => local_time(manual.datetime(), now_ms, false),
        }
    }

    /// Unix milliseconds, for the history.
    pub fn unix_ms(&self) -> i64 {
        match self {
            Clock::System(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            Clock::Manual(manual) => manual
                .datetime()
                .to_zoned(jiff::tz::TimeZone::UTC)
                .map_or(0, |z| z.timestamp().as_millisecond()),
        }
    }

    /// Unix seconds, for the charging log.
    pub fn unix_secs(&self) -> u64 {
        match self {
            Clock::System(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            Clock::Manual(manual) => manual
                .datetime()
                .to_zoned(jiff::tz::TimeZone::UTC)
                .map_or(0, |z| u64::try_from(z.timestamp().as_second()).unwrap_or(0)),
        }
    }
}

/// A clock in local civil time (no time zone, no daylight saving) that
/// moves only when `advance` is called. Clones share the time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<(DateTime, u64)>>);

impl ManualClock {
    /// Starts at `start`, with 0 ms elapsed.
    pub fn starting_at(start: DateTime) -> Self {
        ManualClock(Arc::new(Mutex::new((start, 0))))
    }

    pub fn advance(&self, ms: u64) {
        let mut time = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        time.1 = time.1.saturating_add(ms);
    }

    pub fn elapsed_ms(&self) -> u64 {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).1
    }

    /// The local date and time now.
    pub fn datetime(&self) -> DateTime {
        let (start, elapsed) = *self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let ms = i64::try_from(elapsed).unwrap_or(i64::MAX);
        start
            .checked_add(Span::new().milliseconds(ms))
            .unwrap_or(DateTime::MAX)
    }
}

fn local_time(now: DateTime, now_ms: u64, dst: bool) -> LocalTime {
    let minute_of_day =
        u32::from(now.hour().unsigned_abs()) * 60 + u32::from(now.minute().unsigned_abs());
    LocalTime {
        weekday: u8::try_from(now.weekday().to_monday_zero_offset()).unwrap_or(0),
        minute_of_day,
        secs: now_ms / 1000,
        calendar: Calendar {
            year: now.year(),
            month: u8::try_from(now.month()).unwrap_or(1),
            day: u8::try_from(now.day()).unwrap_or(1),
            yearday: u16::try_from(now.day_of_year()).unwrap_or(1),
            second: u8::try_from(now.second()).unwrap_or(0),
            dst,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_gives_the_local_time_it_was_moved_to() {
        let manual = ManualClock::starting_at(jiff::civil::date(2026, 6, 21).at(23, 59, 0, 0));
        let clock = Clock::Manual(manual.clone());
        manual.advance(61_000);
        let now = clock.now_ms();
        assert_eq!(now, 61_000);
        let local = clock.local_time(now);
        // 2026-06-22 00:00:01, a Monday.
        assert_eq!((local.weekday, local.minute_of_day, local.secs), (0, 0, 61));
        assert_eq!(
            (
                local.calendar.month,
                local.calendar.day,
                local.calendar.second
            ),
            (6, 22, 1)
        );
        assert_eq!(clock.unix_secs(), 1_782_086_401);
        assert_eq!(clock.unix_ms(), 1_782_086_401_000);
    }
}

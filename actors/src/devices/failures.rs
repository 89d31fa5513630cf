//! A failing device in the log without a flood: its failure once, then a
//! reminder with the count at growing intervals (1, 2, 4, … minutes, at
//! most hourly), and its recovery once. A dead device polled every second
//! writes a handful of lines a day instead of 86 400. Pure.

use std::time::{Duration, Instant};

/// The first reminder comes this long after the failure…
const FIRST_REMINDER: Duration = Duration::from_secs(60);
/// …and each next one twice as late, up to this.
const LONGEST_INTERVAL: Duration = Duration::from_secs(3600);

/// What to log after an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// It failed, after working (or since start).
    Failed,
    /// Still failing: failed exchanges so far and for how long.
    StillFailing { failures: u64, secs: u64 },
    /// It works again after this many failed exchanges over this long.
    Recovered { failures: u64, secs: u64 },
}

/// Remembers whether a device is failing, since when and how often.
#[derive(Debug, Clone, Default)]
pub struct FailureLog {
    /// While failing: since when, failures so far, when to remind next and
    /// the interval after that.
    failing: Option<Failing>,
}

#[derive(Debug, Clone)]
struct Failing {
    since: Instant,
    failures: u64,
    remind_at: Instant,
    interval: Duration,
}

impl FailureLog {
    /// An exchange failed at `now`: what to log, if anything.
    pub fn failed(&mut self, now: Instant) -> Option<Notice> {
        let Some(f) = self.failing.as_mut() else {
            self.failing = Some(Failing {
                since: now,
                failures: 1,
                remind_at: now + FIRST_REMINDER,
                interval: FIRST_REMINDER,
            });
            return Some(Notice::Failed);
        };
        f.failures += 1;
        if now < f.remind_at {
            return None;
        }
        f.interval = (f.interval * 2).min(LONGEST_INTERVAL);
        f.remind_at = now + f.interval;
        Some(Notice::StillFailing {
            failures: f.failures,
            secs: now.saturating_duration_since(f.since).as_secs(),
        })
    }

    /// An exchange succeeded at `now`: what to log, if anything.
    pub fn succeeded(&mut self, now: Instant) -> Option<Notice> {
        let f = self.failing.take()?;
        Some(Notice::Recovered {
            failures: f.failures,
            secs: now.saturating_duration_since(f.since).as_secs(),
        })
    }
}

/// A duration in words for the log: `45 s`, `3 min 20 s`, `2 h 5 min`.
pub fn duration_words(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

/// Logs what `notice` says about a device (whose logger names it) that
/// failed with `error`.
pub fn log_notice(
    log: &slog::Logger,
    notice: Option<Notice>,
    error: Option<&dyn std::fmt::Display>,
) {
    let error = error.map(ToString::to_string).unwrap_or_default();
    match notice {
        None => {}
        Some(Notice::Failed) => slog::warn!(log, "device does not answer"; "error" => error),
        Some(Notice::StillFailing { failures, secs }) => {
            slog::warn!(log, "device still does not answer";
            "failed" => failures, "for" => duration_words(secs), "error" => error)
        }
        Some(Notice::Recovered { failures, secs }) => slog::info!(log, "device answers again";
            "failed" => failures, "for" => duration_words(secs)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_of_failures_every_second_is_a_handful_of_lines() {
        let start = Instant::now();
        let mut log = FailureLog::default();
        let mut notices = Vec::new();
        for s in 0..86_400 {
            let at = start + Duration::from_secs(s);
            if let Some(n) = log.failed(at) {
                notices.push((s, n));
            }
        }
        let end = start + Duration::from_secs(86_400);
        notices.push((86_400, log.succeeded(end).expect("the recovery is logged")));
        assert_eq!(notices[0], (0, Notice::Failed));
        // Reminders after 1, 3, 7, 15, 31 minutes, then at most hourly.
        let reminders: Vec<u64> = notices
            .iter()
            .filter(|(_, n)| matches!(n, Notice::StillFailing { .. }))
            .map(|(s, _)| *s)
            .collect();
        assert_eq!(&reminders[..5], [60, 180, 420, 900, 1860]);
        assert!(reminders.windows(2).all(|w| w[1] - w[0] <= 3600));
        assert!(notices.len() < 40, "{} lines in a day", notices.len());
        assert_eq!(
            notices[1].1,
            Notice::StillFailing {
                failures: 61,
                secs: 60
            }
        );
        assert_eq!(
            notices.last().map(|(_, n)| n.clone()),
            Some(Notice::Recovered {
                failures: 86_400,
                secs: 86_400
            })
        );
        assert_eq!(duration_words(86_400), "24 h 0 min");
        assert_eq!(duration_words(200), "3 min 20 s");
        // Working again: nothing more until the next failure.
        assert_eq!(log.succeeded(end), None);
        assert_eq!(log.failed(end), Some(Notice::Failed));
    }
}

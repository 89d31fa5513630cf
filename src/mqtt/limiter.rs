//! Rate-limited logging of what comes in wrong: a broker can deliver
//! thousands of bad messages a second, and the log says each kind once,
//! then how many more came, at most once a period.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How often one kind of problem is logged at most.
pub const PERIOD: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct Limiter {
    kinds: HashMap<&'static str, Kind>,
}

#[derive(Debug)]
struct Kind {
    logged_at: Instant,
    /// Seen since it was last logged, not logged.
    held: u64,
}

impl Limiter {
    /// A problem of `kind` seen `now`: `Some(n)` to log it now, with the
    /// `n` of its kind held back since the last line; `None` to stay quiet.
    pub fn note(&mut self, kind: &'static str, now: Instant) -> Option<u64> {
        match self.kinds.get_mut(kind) {
            Some(k) if now.duration_since(k.logged_at) < PERIOD => {
                k.held += 1;
                None
            }
            Some(k) => {
                let held = k.held;
                k.held = 0;
                k.logged_at = now;
                Some(held)
            }
            None => {
                self.kinds.insert(
                    kind,
                    Kind {
                        logged_at: now,
                        held: 0,
                    },
                );
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_one_line_then_a_count_per_period() {
        let mut limiter = Limiter::default();
        let start = Instant::now();
        assert_eq!(limiter.note("not json", start), Some(0));
        for i in 0..10_000 {
            assert_eq!(
                limiter.note("not json", start + Duration::from_micros(i)),
                None
            );
        }
        // Another kind is said at once.
        assert_eq!(limiter.note("unknown device", start), Some(0));
        assert_eq!(limiter.note("not json", start + PERIOD), Some(10_000));
        assert_eq!(limiter.note("not json", start + PERIOD), None);
    }
}

//! Waking a car that does not start: a car plugged in (state B) that draws
//! nothing while its wallbox offers it current for [`WAKE_AFTER_MS`] is
//! woken once per session, by switching the charge pilot off for a moment
//! (a Power Brain's 8086, as evcc does); then it is given time to start.
//! Pure code; time is passed in (ms).

/// How long a car may be offered current without drawing before it is
/// woken, ms.
pub const WAKE_AFTER_MS: u64 = 30_000;

/// What one wallbox remembers of the car plugged in now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Wake {
    /// Offered current without drawing since.
    idle_since: Option<u64>,
    /// Woken at (once per session).
    pub woken_at: Option<u64>,
}

impl Wake {
    /// One cycle: `plugged` (a session runs), `idle` (the car is present but
    /// does not draw while the wallbox offers it at least its minimum).
    /// Answers whether to wake it now.
    pub fn step(&mut self, plugged: bool, idle: bool, now: u64) -> bool {
        if !plugged {
            *self = Wake::default();
            return false;
        }
        if self.woken_at.is_some() || !idle {
            self.idle_since = None;
            return false;
        }
        let since = *self.idle_since.get_or_insert(now);
        if now.saturating_sub(since) < WAKE_AFTER_MS {
            return false;
        }
        self.woken_at = Some(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_car_idle_while_offered_is_woken_once_per_session() {
        let mut w = Wake::default();
        assert!(!w.step(true, true, 0));
        assert!(!w.step(true, true, WAKE_AFTER_MS - 1));
        assert!(w.step(true, true, WAKE_AFTER_MS));
        // Once: it stays idle, it is not woken again.
        assert!(!w.step(true, true, 10 * WAKE_AFTER_MS));
        // A new session may be woken again.
        assert!(!w.step(false, false, 11 * WAKE_AFTER_MS));
        assert!(!w.step(true, true, 12 * WAKE_AFTER_MS));
        assert!(w.step(true, true, 13 * WAKE_AFTER_MS));
    }

    #[test]
    fn drawing_or_not_being_offered_restarts_the_wait() {
        let mut w = Wake::default();
        assert!(!w.step(true, true, 0));
        assert!(!w.step(true, false, WAKE_AFTER_MS / 2));
        assert!(!w.step(true, true, WAKE_AFTER_MS));
        assert!(!w.step(true, true, WAKE_AFTER_MS * 3 / 2));
        assert!(w.step(true, true, WAKE_AFTER_MS * 2));
    }
}

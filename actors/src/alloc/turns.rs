//! Pauses and turns: who goes first within a priority, and how long a car
//! that lost its place must wait. Pure code; time is passed in (ms on a
//! monotonic clock).
//!
//! Within a priority, cars are ranked:
//! 1. charging cars that started less than one slice ago (`pause_min_time`):
//!    a car that just got its turn keeps it for at least that long;
//! 2. waiting cars whose pause is over, longest waiting first;
//! 3. the other charging cars, first plugged in first.
//!
//! When current is short, the cars at the end of that order are paused
//! (for at least `pause_min_time`); when their pause ends they rank above
//! cars that have charged a full slice, which are paused in turn: round
//! robin, instead of the same car starving. With enough current the order
//! does not matter: everybody charges.

/// Where one car stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Plugged in, waiting for current since `since`; may not start before `until`.
    Waiting { since: u64, until: u64 },
    /// Charging (has a target above 0) since `since`.
    Charging { since: u64 },
}

/// The turn state of one plugged-in car.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnState {
    pub plugged_at: u64,
    pub turn: Turn,
}

const CLASS_SHIFT: u32 = 56;

impl TurnState {
    /// A car plugged in at `now`: waiting, free to start at once.
    pub fn plugged(now: u64) -> Self {
        TurnState {
            plugged_at: now,
            turn: Turn::Waiting {
                since: now,
                until: now,
            },
        }
    }

    /// Whether the car is in a pause that has not ended yet.
    pub fn pausing(&self, now: u64) -> bool {
        matches!(self.turn, Turn::Waiting { until, .. } if now < until)
    }

    /// Seconds left of a pause that has not ended yet.
    pub fn pause_left_secs(&self, now: u64) -> Option<u64> {
        match self.turn {
            Turn::Waiting { until, .. } if now < until => Some((until - now).div_ceil(1000)),
            _ => None,
        }
    }

    /// Seconds the current pause has lasted (0 while charging).
    pub fn pause_secs(&self, now: u64) -> u64 {
        match self.turn {
            Turn::Waiting { since, .. } => now.saturating_sub(since) / 1000,
            Turn::Charging { .. } => 0,
        }
    }

    /// The car's rank within its priority (lower goes first).
    pub fn rank(&self, now: u64, slice_ms: u64) -> u64 {
        let mask = (1u64 << CLASS_SHIFT) - 1;
        let (class, at) = match self.turn {
            Turn::Charging { since } if now.saturating_sub(since) < slice_ms => {
                (0, self.plugged_at)
            }
            Turn::Waiting { since, .. } => (1, since),
            Turn::Charging { .. } => (2, self.plugged_at),
        };
        (class << CLASS_SHIFT) | (at & mask)
    }

    /// Records the outcome of an allocation at `now`: `got_ma` > 0 means
    /// charging; 0 starts a pause of `pause_ms` (or keeps the running one).
    pub fn settle(&mut self, got_ma: i64, now: u64, pause_ms: u64) {
        self.turn = match (self.turn, got_ma > 0) {
            (Turn::Charging { since }, true) => Turn::Charging { since },
            (Turn::Waiting { .. }, true) => Turn::Charging { since: now },
            (Turn::Charging { .. }, false) => Turn::Waiting {
                since: now,
                until: now + pause_ms,
            },
            (waiting @ Turn::Waiting { .. }, false) => waiting,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLICE: u64 = 300_000;

    #[test]
    fn first_come_first_served_among_charging_cars() {
        let mut a = TurnState::plugged(0);
        let mut b = TurnState::plugged(10);
        a.settle(6000, 0, SLICE);
        b.settle(6000, 10, SLICE);
        let now = 1_000_000;
        assert!(a.rank(now, SLICE) < b.rank(now, SLICE));
    }

    #[test]
    fn a_waiting_car_whose_pause_ended_goes_before_a_car_that_charged_a_slice() {
        let mut a = TurnState::plugged(0);
        let mut b = TurnState::plugged(10);
        a.settle(6000, 0, SLICE);
        b.settle(6000, 0, SLICE);
        b.settle(0, 10, SLICE);
        assert!(b.pausing(20));
        let now = 10 + SLICE;
        assert!(!b.pausing(now));
        assert!(b.rank(now, SLICE) < a.rank(now, SLICE));
        // B gets its turn; A is paused.
        b.settle(6000, now, SLICE);
        a.settle(0, now, SLICE);
        assert!(a.pausing(now + 1));
        // While B's slice runs, B keeps its place even when A's pause ends.
        assert!(b.rank(now + SLICE - 1, SLICE) < a.rank(now + SLICE - 1, SLICE));
        // After it, A goes first again.
        assert!(a.rank(now + SLICE, SLICE) < b.rank(now + SLICE, SLICE));
    }

    #[test]
    fn pause_time_counts_from_the_start_of_waiting() {
        let mut a = TurnState::plugged(0);
        a.settle(6000, 0, SLICE);
        a.settle(0, 5_000, SLICE);
        assert_eq!(a.pause_secs(65_000), 60);
        assert_eq!(
            a.turn,
            Turn::Waiting {
                since: 5_000,
                until: 5_000 + SLICE
            }
        );
        a.settle(0, 10_000, SLICE);
        assert_eq!(
            a.turn,
            Turn::Waiting {
                since: 5_000,
                until: 5_000 + SLICE
            },
            "a running pause is not restarted"
        );
    }
}

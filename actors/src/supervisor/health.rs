//! Whether the cycle runs: kept by the supervisor after every cycle, read
//! without asking it (it may be the one that hangs) by `/healthz`,
//! `/readyz`, `/metrics` and the systemd watchdog.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A cycle that has not run for this many periods counts as stalled.
pub const STALLED_AFTER_PERIODS: u32 = 3;

#[derive(Debug)]
pub struct CycleHealth {
    origin: Instant,
    /// ms after `origin` when the last cycle finished; 0 = none yet.
    last_ms: AtomicU64,
    cycles: AtomicU64,
    /// The configured period (`cycle_time_ms`).
    period_ms: AtomicU64,
    /// ms between the last two cycle starts.
    measured_ms: AtomicU64,
    devices: AtomicU64,
    charging: AtomicU64,
}

impl Default for CycleHealth {
    fn default() -> Self {
        CycleHealth::new(1000)
    }
}

impl CycleHealth {
    pub fn new(period_ms: u64) -> Self {
        CycleHealth {
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
            cycles: AtomicU64::new(0),
            period_ms: AtomicU64::new(period_ms),
            measured_ms: AtomicU64::new(0),
            devices: AtomicU64::new(0),
            charging: AtomicU64::new(0),
        }
    }

    /// ms from `origin` to `now`, at least 1 (0 means "never").
    fn ms_at(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.origin).as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// A cycle has finished.
    pub fn cycle_done(&self, period_ms: u64, measured_ms: u64, devices: usize, charging: usize) {
        self.cycle_done_at(Instant::now(), period_ms, measured_ms, devices, charging);
    }

    fn cycle_done_at(
        &self,
        now: Instant,
        period_ms: u64,
        measured_ms: u64,
        devices: usize,
        charging: usize,
    ) {
        self.period_ms.store(period_ms, Ordering::Relaxed);
        self.measured_ms.store(measured_ms, Ordering::Relaxed);
        self.devices.store(devices as u64, Ordering::Relaxed);
        self.charging.store(charging as u64, Ordering::Relaxed);
        self.last_ms.store(self.ms_at(now), Ordering::Relaxed);
        self.cycles.fetch_add(1, Ordering::Relaxed);
    }

    /// The configured period changed.
    pub fn set_period(&self, period_ms: u64) {
        self.period_ms.store(period_ms, Ordering::Relaxed);
    }

    /// Cycles finished since start.
    pub fn cycles(&self) -> u64 {
        self.cycles.load(Ordering::Relaxed)
    }

    pub fn period(&self) -> Duration {
        Duration::from_millis(self.period_ms.load(Ordering::Relaxed))
    }

    /// Since the last cycle finished, or since start if none has.
    pub fn since_last_cycle(&self) -> Duration {
        self.since_last_cycle_at(Instant::now())
    }

    fn since_last_cycle_at(&self, now: Instant) -> Duration {
        let last = self.last_ms.load(Ordering::Relaxed);
        Duration::from_millis(self.ms_at(now).saturating_sub(last))
    }

    /// Whether a cycle finished within the last three periods.
    pub fn alive(&self) -> bool {
        self.alive_at(Instant::now())
    }

    fn alive_at(&self, now: Instant) -> bool {
        self.since_last_cycle_at(now) <= self.period() * STALLED_AFTER_PERIODS
    }

    /// What systemd shows as the service's status.
    pub fn status_line(&self) -> String {
        self.status_line_at(Instant::now())
    }

    fn status_line_at(&self, now: Instant) -> String {
        if self.cycles() == 0 && self.alive_at(now) {
            return "starting: the first cycle reads the devices".to_string();
        }
        if !self.alive_at(now) {
            return format!(
                "cycle stalled: none for {} s",
                self.since_last_cycle_at(now).as_secs()
            );
        }
        let measured = match self.measured_ms.load(Ordering::Relaxed) {
            0 => self.period_ms.load(Ordering::Relaxed),
            ms => ms,
        };
        let devices = self.devices.load(Ordering::Relaxed);
        format!(
            "cycle {measured} ms, {devices} device{}, {} charging",
            if devices == 1 { "" } else { "s" },
            self.charging.load(Ordering::Relaxed)
        )
    }

    /// The last measured period, ms (0 before the second cycle).
    pub fn measured_ms(&self) -> u64 {
        self.measured_ms.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_is_alive_for_three_periods() {
        let health = CycleHealth::new(1000);
        let start = health.origin;
        let at = |ms: u64| start + Duration::from_millis(ms);
        assert!(
            health.alive_at(at(3000)),
            "a fresh start counts from the start"
        );
        assert!(health.status_line_at(at(10)).starts_with("starting"));
        assert!(!health.alive_at(at(3001)));
        health.cycle_done_at(at(5000), 1000, 1010, 5, 2);
        assert_eq!(health.cycles(), 1);
        assert_eq!(
            health.status_line_at(at(5500)),
            "cycle 1010 ms, 5 devices, 2 charging"
        );
        assert!(health.alive_at(at(8000)));
        assert!(!health.alive_at(at(8001)));
        assert_eq!(
            health.status_line_at(at(9000)),
            "cycle stalled: none for 4 s"
        );
        health.cycle_done_at(at(9000), 2000, 4000, 1, 0);
        assert!(
            health.alive_at(at(15_000)),
            "three periods of the new length"
        );
        assert_eq!(
            health.status_line_at(at(9000)),
            "cycle 4000 ms, 1 device, 0 charging"
        );
    }
}

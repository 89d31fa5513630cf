//! What the cycle and the device actors count for `/metrics`. One set per
//! daemon, made with the plant and shared (the metrics are atomics) with
//! the supervisor and the HTTP layer, which registers them.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::transport::DeviceError;

/// A device, by its dev_id.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeviceLabel {
    pub dev_id: String,
}

/// A failed Modbus request: the device and what went wrong.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModbusErrorLabels {
    pub dev_id: String,
    pub error: &'static str,
}

/// A step of the cycle (see `CycleSteps`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabel {
    pub step: &'static str,
}

type NewHistogram = fn() -> Histogram;

/// How long each step of the cycle took, by step: `poll` (waiting for the
/// devices' answers), `record` (checking and recording them), `budget`
/// (meters to the site's budget), `limits` (cars, phases, each wallbox's
/// limits), `allocation`, `views` (commands and what the API shows),
/// `snapshot` (statuses joined, commands sent, the snapshot published),
/// `history`. Every decision counts its steps (also one after a push or a
/// change); `poll`, `record` and `history` only the timer's cycles.
#[derive(Debug)]
pub struct CycleSteps(Family<StepLabel, Histogram, NewHistogram>);

impl Default for CycleSteps {
    fn default() -> Self {
        CycleSteps(Family::new_with_constructor(step_histogram))
    }
}

impl CycleSteps {
    pub fn observe(&self, step: &'static str, took: Duration) {
        self.0
            .get_or_create(&StepLabel { step })
            .observe(took.as_secs_f64());
    }
}

/// Buckets for a cycle: it waits up to three quarters of a period (up to a
/// minute) for the devices.
fn cycle_histogram() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    ])
}

/// Buckets for the pure decision: 10 µs to about 0.3 s.
fn decision_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1e-5, 4.0, 8))
}

/// Buckets for a step of the cycle: 10 µs to about 2.6 s (the poll
/// waits up to three quarters of a period).
fn step_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1e-5, 4.0, 10))
}

/// Buckets for one Modbus request: 1 ms to about 4 s, then the timeout's range.
fn modbus_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 13).chain([10.0, 30.0, 60.0]))
}

#[derive(Debug)]
pub struct Metrics {
    /// From a cycle's start until its decision is made.
    pub cycle_duration: Histogram,
    /// A cycle due while the last one was still running (it is skipped).
    pub cycle_overruns: Counter,
    /// How long the pure decision (rules, budget, allocation) took.
    pub decision_duration: Histogram,
    /// Each step of the cycle.
    pub cycle_steps: CycleSteps,
    /// A wallbox's car was paused (counted when a pause begins).
    pub wallbox_pauses: Family<DeviceLabel, Counter>,
    /// One Modbus request, from being issued to its answer (including any
    /// wait for a bus shared with other devices); answered ones only.
    pub modbus_duration: Family<DeviceLabel, Histogram, NewHistogram>,
    /// Modbus requests that failed, by kind.
    pub modbus_errors: Family<ModbusErrorLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            cycle_duration: cycle_histogram(),
            cycle_overruns: Counter::default(),
            decision_duration: decision_histogram(),
            cycle_steps: CycleSteps::default(),
            wallbox_pauses: Family::default(),
            modbus_duration: Family::new_with_constructor(modbus_histogram),
            modbus_errors: Family::default(),
        }
    }
}

impl Metrics {
    /// Adds these metrics to `registry` (they stay shared: the registry
    /// reads the values live).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "chargebrain_cycle_duration_seconds",
            "Time from a cycle's start until its decision (it waits at most three quarters of a period for the devices)",
            self.cycle_duration.clone(),
        );
        registry.register(
            "chargebrain_cycle_overruns",
            "Cycles that were due while the previous one was still running, and were skipped",
            self.cycle_overruns.clone(),
        );
        registry.register(
            "chargebrain_decision_duration_seconds",
            "Time the decision took: charging rules, site budget and allocation (every decision, also those after a push or a change)",
            self.decision_duration.clone(),
        );
        registry.register(
            "chargebrain_cycle_step_duration_seconds",
            "Time each step of the cycle took: poll (waiting for the devices), record (checking their readings), budget, limits, allocation, views, snapshot, history",
            self.cycle_steps.0.clone(),
        );
        registry.register(
            "chargebrain_wallbox_pauses",
            "Pauses begun: a car at this wallbox stopped by load management, a rule or an override",
            self.wallbox_pauses.clone(),
        );
        registry.register(
            "chargebrain_modbus_request_duration_seconds",
            "Modbus requests answered by a device, from being issued (including any wait for a shared bus) to the answer",
            self.modbus_duration.clone(),
        );
        registry.register(
            "chargebrain_modbus_request_errors",
            "Modbus requests that failed, by kind: timeout, connect, transport, exception, protocol, stopped",
            self.modbus_errors.clone(),
        );
    }

    /// Notes one Modbus request of `dev_id`: how long it took if the device
    /// answered (a Modbus exception is an answer too), else what failed.
    pub fn modbus_request(&self, dev_id: &str, took: Duration, outcome: Result<(), &DeviceError>) {
        let device = || DeviceLabel {
            dev_id: dev_id.to_string(),
        };
        let error = match outcome {
            Ok(()) => None,
            Err(DeviceError::Exception(_)) => Some("exception"),
            Err(DeviceError::Timeout(_)) => Some("timeout"),
            Err(DeviceError::Connect { .. }) => Some("connect"),
            Err(DeviceError::Transport(_)) => Some("transport"),
            Err(DeviceError::Protocol(_)) => Some("protocol"),
            Err(DeviceError::Stopped) => Some("stopped"),
            // Not raised by a Modbus request.
            Err(DeviceError::Implausible(_) | DeviceError::Stale(_)) => Some("other"),
        };
        if matches!(outcome, Ok(()) | Err(DeviceError::Exception(_))) {
            self.modbus_duration
                .get_or_create(&device())
                .observe(took.as_secs_f64());
        }
        if let Some(error) = error {
            self.modbus_errors
                .get_or_create(&ModbusErrorLabels {
                    dev_id: dev_id.to_string(),
                    error,
                })
                .inc();
        }
    }

    /// Drops the series of a device that was deleted.
    pub fn forget_device(&self, dev_id: &str) {
        let device = DeviceLabel {
            dev_id: dev_id.to_string(),
        };
        self.modbus_duration.remove(&device);
        self.wallbox_pauses.remove(&device);
        for error in [
            "exception",
            "timeout",
            "connect",
            "transport",
            "protocol",
            "stopped",
            "other",
        ] {
            self.modbus_errors.remove(&ModbusErrorLabels {
                dev_id: dev_id.to_string(),
                error,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Exception;

    fn text(metrics: &Metrics) -> String {
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry).unwrap();
        out
    }

    #[test]
    fn answered_requests_are_timed_and_failed_ones_counted_by_kind() {
        let m = Metrics::default();
        m.modbus_request("E1", Duration::from_millis(3), Ok(()));
        m.modbus_request(
            "E1",
            Duration::from_millis(5),
            Err(&DeviceError::Exception(Exception(2))),
        );
        m.modbus_request(
            "M1",
            Duration::from_secs(1),
            Err(&DeviceError::Timeout(1000)),
        );
        let out = text(&m);
        assert!(
            out.contains("chargebrain_modbus_request_duration_seconds_count{dev_id=\"E1\"} 2"),
            "{out}"
        );
        assert!(!out.contains("chargebrain_modbus_request_duration_seconds_count{dev_id=\"M1\"}"));
        assert!(out.contains(
            "chargebrain_modbus_request_errors_total{dev_id=\"E1\",error=\"exception\"} 1"
        ));
        assert!(out.contains(
            "chargebrain_modbus_request_errors_total{dev_id=\"M1\",error=\"timeout\"} 1"
        ));

        m.forget_device("M1");
        let out = text(&m);
        assert!(!out.contains("dev_id=\"M1\""), "{out}");
        assert!(out.contains("dev_id=\"E1\""));
    }
}

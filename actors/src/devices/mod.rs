//! Device actors: one per configured meter or wallbox. A device owns its
//! communication state and reaches its Modbus session through the bus
//! actor of its endpoint.

mod actor;
pub(crate) mod failures;
pub mod http_input;
mod http_json;
mod messages;

use std::time::Instant;

pub use actor::Device;
pub use http_input::{EvsePush, HttpInput, MeterPush, Push};
pub use http_json::HttpJsonMeter;
pub use messages::{
    Apply, DeviceStatus, GetStatus, Poll, PollAndStatus, Polled, ReadRegisters, Refused, Shutdown,
    UpdateSettings, WriteRegisters,
};

use crate::transport::DeviceError;

/// Communication health of one device, as `get_dev_info` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComStatus {
    /// The last exchange failed to reach the device.
    pub com_err: bool,
    /// Failed exchanges since start.
    pub com_errors: u64,
    /// Text of the last failure, empty if none.
    pub last_error: String,
    pub last_error_at: Option<Instant>,
    /// When the device started: `com_err_secs` counts from here until a
    /// first error.
    pub started: Option<Instant>,
}

impl ComStatus {
    /// The status of a device starting at `now`.
    pub fn starting(now: Instant) -> Self {
        ComStatus {
            started: Some(now),
            ..ComStatus::default()
        }
    }

    /// Notes the outcome of one exchange asked for through the API. A
    /// Modbus exception is an answer: the device is reachable, the request
    /// was wrong.
    pub fn record(&mut self, outcome: Result<(), &DeviceError>, now: Instant) {
        match outcome {
            Ok(()) | Err(DeviceError::Exception(_)) => self.com_err = false,
            Err(err) => self.failed(err, now),
        }
    }

    /// Notes the outcome of a poll: it reads only registers the device
    /// has, so every error counts, an exception too (a gateway whose
    /// target does not answer says so with exception 11).
    pub fn record_poll(&mut self, outcome: Result<(), &DeviceError>, now: Instant) {
        match outcome {
            Ok(()) => self.com_err = false,
            Err(err) => self.failed(err, now),
        }
    }

    /// Notes a failed reading.
    pub fn failed(&mut self, err: &DeviceError, now: Instant) {
        self.com_err = true;
        self.com_errors += 1;
        self.last_error = err.to_string();
        self.last_error_at = Some(now);
    }

    /// A polled device's `model`: its own once known, else `starting`, or
    /// `failed to connect` after a failed exchange.
    pub fn model_or_state(&self, model: Option<&String>) -> String {
        match model {
            Some(model) => model.clone(),
            None if self.com_err => "failed to connect".into(),
            None => "starting".into(),
        }
    }

    /// Seconds since the last communication error; without one, since the
    /// device started (as cFos reports it).
    pub fn com_err_secs(&self, now: Instant) -> u64 {
        self.last_error_at
            .or(self.started)
            .map_or(0, |at| now.saturating_duration_since(at).as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Exception;

    #[test]
    fn com_err_secs_counts_from_the_last_error_or_the_start() {
        let start = Instant::now();
        let mut com = ComStatus::starting(start);
        let later = |s| start + std::time::Duration::from_secs(s);
        assert_eq!(com.com_err_secs(later(30)), 30);
        com.record(Err(&DeviceError::Timeout(1000)), later(40));
        assert_eq!(com.com_err_secs(later(45)), 5);
        com.record(Ok(()), later(50));
        assert_eq!(
            com.com_err_secs(later(100)),
            60,
            "the error is still the last one"
        );
    }

    #[test]
    fn exceptions_do_not_count_as_communication_errors() {
        let now = Instant::now();
        let mut com = ComStatus::default();
        com.record(Err(&DeviceError::Timeout(1000)), now);
        assert!(com.com_err);
        assert_eq!(com.com_errors, 1);
        assert_eq!(com.last_error, "no answer within 1000 ms");
        com.record(Err(&DeviceError::Exception(Exception(2))), now);
        assert!(!com.com_err);
        assert_eq!(com.com_errors, 1);
        com.record(Ok(()), now);
        assert!(!com.com_err);
        assert_eq!(
            com.last_error, "no answer within 1000 ms",
            "the last error stays visible"
        );
    }

    #[test]
    fn a_poll_answered_with_an_exception_is_a_failed_reading() {
        let now = Instant::now();
        let mut com = ComStatus::default();
        com.record_poll(Err(&DeviceError::Exception(Exception(11))), now);
        assert!(com.com_err);
        assert_eq!(com.com_errors, 1);
        assert_eq!(
            com.last_error,
            "modbus exception: gateway target device failed to respond (code 11)"
        );
    }
}

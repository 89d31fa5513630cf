//! "HTTP input" devices (`meter_ajax`, `evse_ajax`): nobody polls them; an
//! outside program (Node-RED, ioBroker, curl) pushes their values. The actor
//! keeps the last values, merges partial pushes (a missing field keeps its
//! last value), and answers a poll with them while they are fresh.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use slog::{o, Logger};

use super::failures::{log_notice, FailureLog};
use super::messages::{
    Apply, DeviceStatus, GetStatus, Poll, PollAndStatus, Polled, Refused, Shutdown, UpdateSettings,
};
use super::ComStatus;
use crate::config::DeviceSettings;
use crate::drivers::{EvseReading, EvseState, FailSafe, MeterReading, Reading, NOMINAL_V};
use crate::transport::DeviceError;

/// A meter push; `None` keeps the last value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeterPush {
    pub model: Option<String>,
    pub import_wh: Option<i64>,
    pub export_wh: Option<i64>,
    pub voltage_v: Option<[i64; 3]>,
    pub current_ma: Option<[i64; 3]>,
    pub power_w: Option<i64>,
    pub is_va: Option<bool>,
}

/// A wallbox push; `None` keeps the last value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvsePush {
    /// 1 waiting (A), 2 vehicle present (B), 3 charging (C), 4 with ventilation (D), 5 error.
    pub state: Option<u8>,
    /// The wallbox's own limit (cable, hardware), mA.
    pub max_charging_current: Option<i64>,
    pub current_ma: Option<[i64; 3]>,
    pub total_energy_wh: Option<i64>,
    pub model: Option<String>,
    pub rfid: Option<String>,
}

/// Pushed values: a meter's or a wallbox's.
#[derive(Debug, Clone, PartialEq, Eq, Message)]
#[rtype(result = "Result<(), DeviceError>")]
pub enum Push {
    Meter(MeterPush),
    Evse(EvsePush),
}

/// What an HTTP device has been told and has pushed so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pushed {
    pub meter: MeterReading,
    pub evse_state: Option<EvseState>,
    pub evse_max_ma: i64,
    pub evse_has_meter: bool,
    pub model: Option<String>,
    pub rfid: String,
    pub is_va: bool,
    /// The last command: current (mA) and enable.
    pub command: Option<(i64, bool)>,
}

impl Pushed {
    /// Merges a push (pure). Fields that were not pushed keep their value.
    pub fn merge(&mut self, push: Push) {
        match push {
            Push::Meter(m) => {
                if let Some(v) = m.import_wh {
                    self.meter.import_wh = v;
                }
                if let Some(v) = m.export_wh {
                    self.meter.export_wh = v;
                }
                if let Some(v) = m.voltage_v {
                    self.meter.voltage_v = v;
                }
                if let Some(v) = m.current_ma {
                    self.meter.current_ma = v;
                    self.meter.per_phase = true;
                }
                if let Some(v) = m.power_w {
                    self.meter.power_w = v;
                }
                if let Some(v) = m.is_va {
                    self.is_va = v;
                }
                if m.model.is_some() {
                    self.model = m.model;
                }
            }
            Push::Evse(e) => {
                if let Some(s) = e.state {
                    self.evse_state = Some(evse_state(s));
                }
                if let Some(v) = e.max_charging_current {
                    self.evse_max_ma = v;
                }
                if let Some(v) = e.current_ma {
                    self.meter.current_ma = v;
                    self.meter.voltage_v = [NOMINAL_V; 3];
                    self.meter.power_w = v.iter().sum::<i64>() * NOMINAL_V / 1000;
                    self.meter.per_phase = true;
                    self.evse_has_meter = true;
                }
                if let Some(v) = e.total_energy_wh {
                    self.meter.import_wh = v;
                    self.evse_has_meter = true;
                }
                if e.model.is_some() {
                    self.model = e.model;
                }
                if let Some(rfid) = e.rfid {
                    self.rfid = rfid;
                }
            }
        }
    }

    /// The reading the cycle uses.
    pub fn reading(&self, is_evse: bool) -> Option<Reading> {
        if !is_evse {
            return Some(Reading::Meter(self.meter.clone()));
        }
        let (offered_ma, charging_enabled) = self.command.unwrap_or((0, false));
        Some(Reading::Evse(EvseReading {
            state: self.evse_state?,
            charging_enabled,
            offered_ma,
            cable_ma: self.evse_max_ma,
            meter: self.evse_has_meter.then(|| self.meter.clone()),
            fail_safe: FailSafe::default(),
            rfid: self.rfid.clone(),
            inputs: 0,
            relay: None,
            transaction_start_wh: None,
        }))
    }
}

/// The state numbers of `set_ajax_evse` (1–5, as `get_dev_info` reports them).
fn evse_state(code: u8) -> EvseState {
    match code {
        1 => EvseState::Waiting,
        2 => EvseState::Present,
        3 => EvseState::Charging,
        4 => EvseState::Ventilation,
        _ => EvseState::Error,
    }
}

/// One HTTP-input device.
pub struct HttpInput {
    settings: Arc<DeviceSettings>,
    pushed: Pushed,
    last_push: Option<Instant>,
    started: Instant,
    com: ComStatus,
    failures: FailureLog,
    log: Logger,
}

impl HttpInput {
    pub fn new(settings: Arc<DeviceSettings>, log: &Logger) -> Self {
        let log = log.new(o!("device" => settings.dev_id.clone()));
        HttpInput {
            settings,
            pushed: Pushed::default(),
            last_push: None,
            started: Instant::now(),
            com: ComStatus::starting(Instant::now()),
            failures: FailureLog::default(),
            log,
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.settings.timeout_s)
    }

    /// Not pushed within `timeout_s` (counting from start when never pushed).
    fn stale(&self, now: Instant) -> Option<DeviceError> {
        let since = self.last_push.unwrap_or(self.started);
        (now.saturating_duration_since(since) > self.timeout())
            .then(|| DeviceError::Stale(self.settings.timeout_s))
    }
}

impl Actor for HttpInput {
    type Context = Context<Self>;
}

impl Handler<Push> for HttpInput {
    type Result = Result<(), DeviceError>;

    fn handle(&mut self, push: Push, _: &mut Self::Context) -> Self::Result {
        let now = Instant::now();
        self.pushed.merge(push);
        self.last_push = Some(now);
        self.com.record(Ok(()), now);
        log_notice(&self.log, self.failures.succeeded(now), None);
        Ok(())
    }
}

impl Handler<Poll> for HttpInput {
    type Result = Result<Reading, DeviceError>;

    fn handle(&mut self, _: Poll, _: &mut Self::Context) -> Self::Result {
        let now = Instant::now();
        if let Some(stale) = self.stale(now) {
            if !self.com.com_err {
                self.com.record(Err(&stale), now);
            }
            log_notice(&self.log, self.failures.failed(now), Some(&stale));
            return Err(stale);
        }
        self.pushed
            .reading(self.settings.dev_type.is_evse())
            .ok_or(DeviceError::Stale(self.settings.timeout_s))
    }
}

impl Handler<Apply> for HttpInput {
    type Result = Result<(), DeviceError>;

    fn handle(&mut self, apply: Apply, _: &mut Self::Context) -> Self::Result {
        self.pushed.command = Some((apply.current_ma, apply.enable));
        Ok(())
    }
}

impl Handler<Refused> for HttpInput {
    type Result = ();

    fn handle(&mut self, Refused(why): Refused, _: &mut Self::Context) {
        self.com.failed(&why, Instant::now());
    }
}

impl Handler<GetStatus> for HttpInput {
    type Result = MessageResult<GetStatus>;

    fn handle(&mut self, _: GetStatus, _: &mut Self::Context) -> Self::Result {
        // As of the last poll, so it agrees with what the cycle decided on.
        MessageResult(DeviceStatus {
            com: self.com.clone(),
            model: self
                .pushed
                .model
                .clone()
                .unwrap_or_else(|| self.settings.dev_type.model()),
            is_va: self.pushed.is_va,
            written_ma: self
                .pushed
                .command
                .map(|(ma, enable)| if enable { ma } else { 0 }),
        })
    }
}

impl Handler<PollAndStatus> for HttpInput {
    type Result = MessageResult<PollAndStatus>;

    fn handle(&mut self, _: PollAndStatus, ctx: &mut Self::Context) -> Self::Result {
        let reading = Handler::<Poll>::handle(self, Poll, ctx);
        let MessageResult(status) = Handler::<GetStatus>::handle(self, GetStatus, ctx);
        MessageResult(Polled { reading, status })
    }
}

impl Handler<UpdateSettings> for HttpInput {
    type Result = ();

    fn handle(&mut self, UpdateSettings(settings): UpdateSettings, _: &mut Self::Context) {
        self.settings = settings;
    }
}

impl Handler<Shutdown> for HttpInput {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_push_keeps_the_other_values() {
        let mut p = Pushed::default();
        p.merge(Push::Meter(MeterPush {
            import_wh: Some(12_345),
            voltage_v: Some([231, 232, 233]),
            current_ma: Some([10_001, 10_002, 10_003]),
            ..MeterPush::default()
        }));
        p.merge(Push::Meter(MeterPush {
            current_ma: Some([1, 2, 3]),
            ..MeterPush::default()
        }));
        let Some(Reading::Meter(m)) = p.reading(false) else {
            panic!("no meter reading");
        };
        assert_eq!(
            (m.import_wh, m.voltage_v, m.current_ma),
            (12_345, [231, 232, 233], [1, 2, 3])
        );
    }

    #[test]
    fn a_wallbox_needs_a_state_before_it_counts() {
        let mut p = Pushed::default();
        assert_eq!(p.reading(true), None);
        p.merge(Push::Evse(EvsePush {
            state: Some(3),
            current_ma: Some([16_000, 0, 0]),
            max_charging_current: Some(20_000),
            ..EvsePush::default()
        }));
        p.command = Some((16_000, true));
        let Some(Reading::Evse(e)) = p.reading(true) else {
            panic!("no wallbox reading");
        };
        assert_eq!(
            (e.state, e.cable_ma, e.offered_ma),
            (EvseState::Charging, 20_000, 16_000)
        );
        assert_eq!(e.meter.map(|m| m.current_ma), Some([16_000, 0, 0]));
    }
}

//! An OCPP 1.6J wallbox of the simulated plant. Two halves meet here:
//! - `OcppBox`, the wallbox in the plant: what its charging profiles allow
//!   (written by its charge point) and what its car draws (written by the
//!   plant's step);
//! - `SimChargePoint`, the charge point's side of the protocol: it answers
//!   the central system's calls, keeps the charging profiles it is sent
//!   (the highest stack level in force wins, a profile with a duration
//!   lapses by itself), and says what to report (status, meter values).
//!
//! Pure: the WebSocket that carries the frames is the binary's
//! (`src/ocpp/simulated.rs`), so the daemon's own OCPP server is what the
//! simulated charge points talk to.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::ocpp::frame::ErrorCode;

/// What a charge point without any profile in force offers, mA.
pub const HARDWARE_MAX_MA: i64 = 32_000;

/// A car draws nothing below this offer, mA (IEC 61851's minimum).
const MIN_OFFER_MA: i64 = 6000;

/// The wallbox in the plant, shared by the plant and its charge point.
#[derive(Debug, Clone, Default)]
pub struct OcppBox {
    /// What the charge point's profiles allow now, mA; `None` = no profile
    /// in force (it offers `HARDWARE_MAX_MA`).
    pub allowed_ma: Option<i64>,
    /// Whether a car is plugged in.
    pub plugged: bool,
    /// What the car draws on the wallbox's L1, L2, L3, mA.
    pub current_ma: [i64; 3],
    /// The wallbox's energy counter, Wh.
    pub energy_wh: i64,
}

impl OcppBox {
    /// What the wallbox offers its car now, mA: 0 below the minimum.
    pub fn offer_ma(&self) -> i64 {
        let allowed = self.allowed_ma.unwrap_or(HARDWARE_MAX_MA);
        if allowed >= MIN_OFFER_MA {
            allowed
        } else {
            0
        }
    }
}

/// An `OcppBox` both sides hold.
#[derive(Debug, Clone, Default)]
pub struct SharedOcppBox(Arc<Mutex<OcppBox>>);

impl SharedOcppBox {
    pub fn lock(&self) -> MutexGuard<'_, OcppBox> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A charging profile as the charge point keeps it.
#[derive(Debug, Clone, PartialEq)]
struct Profile {
    id: i64,
    stack_level: i64,
    limit_ma: i64,
    /// When it lapses; `None` = never.
    until: Option<Instant>,
}

/// The charge point's side of the protocol.
#[derive(Debug)]
pub struct SimChargePoint {
    /// Profiles of the connector (all purposes alike: the central system
    /// sends `TxDefaultProfile`s).
    profiles: Vec<Profile>,
    /// `MeterValueSampleInterval`, as the central system set it.
    sample_interval: Duration,
    /// The status last reported, and when meter values were last sent.
    reported: Option<&'static str>,
    metered_at: Option<Instant>,
    /// The currents last sent in MeterValues.
    metered_ma: [i64; 3],
    /// Messages asked for by TriggerMessage, sent at the next tick.
    triggered: Vec<&'static str>,
}

/// A call for the central system: action and payload.
pub type Call = (&'static str, Value);

/// The connector the simulated charge points manage.
const CONNECTOR: i64 = 1;

impl Default for SimChargePoint {
    fn default() -> Self {
        SimChargePoint {
            profiles: Vec::new(),
            sample_interval: Duration::from_secs(10),
            reported: None,
            metered_at: None,
            metered_ma: [0; 3],
            triggered: Vec::new(),
        }
    }
}

impl SimChargePoint {
    /// The first call on a new connection. Everything is reported anew after
    /// it; profiles survive a reconnection, as in a real charge point.
    pub fn boot(&mut self) -> Call {
        self.reported = None;
        self.metered_at = None;
        (
            "BootNotification",
            json!({"chargePointVendor": "chargebrain", "chargePointModel": "simulated OCPP wallbox"}),
        )
    }

    /// The limit the profiles in force set at `now`, mA: the highest stack
    /// level wins; lapsed profiles are dropped.
    pub fn allowed_ma(&mut self, now: Instant) -> Option<i64> {
        self.profiles.retain(|p| p.until.is_none_or(|t| now < t));
        self.profiles
            .iter()
            .max_by_key(|p| p.stack_level)
            .map(|p| p.limit_ma)
    }

    /// The answer to a call of the central system: a result payload, or a
    /// CallError's code and description.
    pub fn answer(
        &mut self,
        action: &str,
        payload: &Value,
        now: Instant,
    ) -> Result<Value, (ErrorCode, String)> {
        let accepted = json!({"status": "Accepted"});
        match action {
            "SetChargingProfile" => {
                let profile =
                    profile_of(payload, now).map_err(|why| (ErrorCode::FormationViolation, why))?;
                self.profiles.retain(|p| p.id != profile.id);
                self.profiles.push(profile);
                Ok(accepted)
            }
            "ClearChargingProfile" => {
                let before = self.profiles.len();
                match payload.get("id").and_then(Value::as_i64) {
                    Some(id) => self.profiles.retain(|p| p.id != id),
                    None => self.profiles.clear(),
                }
                let status = if self.profiles.len() < before {
                    "Accepted"
                } else {
                    "Unknown"
                };
                Ok(json!({ "status": status }))
            }
            "ChangeConfiguration" => {
                let key = payload.get("key").and_then(Value::as_str).unwrap_or("");
                let value = payload.get("value").and_then(Value::as_str).unwrap_or("");
                if key == "MeterValueSampleInterval" {
                    let secs = value.parse::<u64>().map_err(|_| {
                        (
                            ErrorCode::FormationViolation,
                            format!("{value} is no number of seconds"),
                        )
                    })?;
                    self.sample_interval = Duration::from_secs(secs.clamp(1, 3600));
                }
                Ok(accepted)
            }
            "GetConfiguration" => Ok(json!({"configurationKey": [
                {"key": "ChargeProfileMaxStackLevel", "readonly": true, "value": "8"},
                {"key": "ChargingScheduleAllowedChargingRateUnit", "readonly": true, "value": "Current"},
                {"key": "MeterValueSampleInterval", "readonly": false,
                 "value": self.sample_interval.as_secs().to_string()},
            ]})),
            "TriggerMessage" => {
                let wanted = payload.get("requestedMessage").and_then(Value::as_str);
                let message = match wanted {
                    Some("StatusNotification") => "StatusNotification",
                    Some("MeterValues") => "MeterValues",
                    Some("BootNotification") => "BootNotification",
                    Some("Heartbeat") => "Heartbeat",
                    _ => return Ok(json!({"status": "NotImplemented"})),
                };
                self.triggered.push(message);
                Ok(accepted)
            }
            "ChangeAvailability" | "Reset" | "RemoteStartTransaction" | "RemoteStopTransaction" => {
                Ok(accepted)
            }
            other => Err((
                ErrorCode::NotImplemented,
                format!("{other} is not implemented"),
            )),
        }
    }

    /// What to report at `now`, given the wallbox: a StatusNotification when
    /// the status changed, MeterValues every sample interval and when a
    /// current changed by an ampere or more (as wallboxes that report on
    /// change do), and what TriggerMessage asked for.
    pub fn tick(&mut self, wallbox: &OcppBox, now: Instant) -> Vec<Call> {
        let mut calls = Vec::new();
        let status = status_of(wallbox);
        let triggered = std::mem::take(&mut self.triggered);
        if self.reported != Some(status) || triggered.contains(&"StatusNotification") {
            self.reported = Some(status);
            calls.push(status_notification(status));
        }
        let due = self
            .metered_at
            .is_none_or(|at| now.saturating_duration_since(at) >= self.sample_interval);
        let changed = (0..3).any(|p| (wallbox.current_ma[p] - self.metered_ma[p]).abs() >= 1000);
        if due || changed || triggered.contains(&"MeterValues") {
            self.metered_at = Some(now);
            self.metered_ma = wallbox.current_ma;
            calls.push(meter_values(wallbox));
        }
        if triggered.contains(&"Heartbeat") {
            calls.push(("Heartbeat", json!({})));
        }
        if triggered.contains(&"BootNotification") {
            calls.push(self.boot());
        }
        calls
    }
}

/// The connector's status: OCPP's words for the wallbox and its car.
fn status_of(wallbox: &OcppBox) -> &'static str {
    if !wallbox.plugged {
        "Available"
    } else if wallbox.current_ma.iter().any(|&ma| ma > 0) {
        "Charging"
    } else if wallbox.offer_ma() > 0 {
        // Offered current, the car not (yet) drawing.
        "SuspendedEV"
    } else {
        "SuspendedEVSE"
    }
}

fn status_notification(status: &str) -> Call {
    (
        "StatusNotification",
        json!({"connectorId": CONNECTOR, "errorCode": "NoError", "status": status}),
    )
}

/// Amperes, volts, watts and watt-hours as OCPP's decimal strings.
fn meter_values(wallbox: &OcppBox) -> Call {
    const VOLTS: i64 = 230;
    let mut sampled = Vec::new();
    for (p, ma) in wallbox.current_ma.iter().enumerate() {
        let phase = format!("L{}", p + 1);
        sampled.push(json!({"value": format!("{:.1}", *ma as f64 / 1000.0),
            "measurand": "Current.Import", "phase": phase, "unit": "A"}));
        sampled.push(json!({"value": VOLTS.to_string(), "measurand": "Voltage",
            "phase": format!("{phase}-N"), "unit": "V"}));
    }
    let power_w: i64 = wallbox.current_ma.iter().map(|ma| ma * VOLTS / 1000).sum();
    sampled.push(
        json!({"value": power_w.to_string(), "measurand": "Power.Active.Import", "unit": "W"}),
    );
    sampled.push(json!({"value": wallbox.energy_wh.to_string(),
        "measurand": "Energy.Active.Import.Register", "unit": "Wh"}));
    (
        "MeterValues",
        json!({"connectorId": CONNECTOR, "meterValue": [{
            "timestamp": jiff::Timestamp::now().to_string(),
            "sampledValue": sampled,
        }]}),
    )
}

/// A SetChargingProfile payload as the charge point keeps it: its first
/// period's limit in amperes (the central system sends one period).
fn profile_of(payload: &Value, now: Instant) -> Result<Profile, String> {
    let profile = &payload["csChargingProfiles"];
    let schedule = &profile["chargingSchedule"];
    if schedule["chargingRateUnit"] != "A" {
        return Err("only schedules in A are kept".into());
    }
    let id = profile["chargingProfileId"]
        .as_i64()
        .ok_or("no chargingProfileId")?;
    let stack_level = profile["stackLevel"].as_i64().ok_or("no stackLevel")?;
    let amps = schedule["chargingSchedulePeriod"][0]["limit"]
        .as_f64()
        .filter(|a| a.is_finite() && (0.0..=1000.0).contains(a))
        .ok_or("no limit of 0 to 1000 A in the first period")?;
    let until = schedule["duration"]
        .as_u64()
        .map(|secs| now + Duration::from_secs(secs));
    #[allow(clippy::cast_possible_truncation)]
    let limit_ma = (amps * 1000.0).round() as i64;
    Ok(Profile {
        id,
        stack_level,
        limit_ma,
        until,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocpp::profiles::{fail_safe_profile, live_profile, Limit, LIVE_SECS};

    const NOW: &str = "2025-01-01T00:00:00Z";

    #[test]
    fn the_live_profile_wins_then_lapses_to_the_fail_safe() {
        let t0 = Instant::now();
        let mut cp = SimChargePoint::default();
        assert_eq!(cp.allowed_ma(t0), None, "no profile: the hardware's own");
        let safe = fail_safe_profile(1, 8000, NOW);
        assert!(cp.answer("SetChargingProfile", &safe, t0).is_ok());
        let live = live_profile(
            1,
            Limit {
                ma: 12_000,
                phases: Some(3),
            },
            NOW,
        );
        assert!(cp.answer("SetChargingProfile", &live, t0).is_ok());
        assert_eq!(cp.allowed_ma(t0), Some(12_000));
        // Renewed in place, not stacked.
        let lower = live_profile(
            1,
            Limit {
                ma: 0,
                phases: None,
            },
            NOW,
        );
        assert!(cp.answer("SetChargingProfile", &lower, t0).is_ok());
        assert_eq!(cp.allowed_ma(t0), Some(0));
        // Not renewed: it lapses, and the fail-safe holds.
        let later = t0 + Duration::from_secs(LIVE_SECS);
        assert_eq!(cp.allowed_ma(later), Some(8000));
        assert_eq!(
            cp.answer("ClearChargingProfile", &json!({}), later),
            Ok(json!({"status": "Accepted"}))
        );
        assert_eq!(cp.allowed_ma(later), None);
    }

    #[test]
    fn status_and_meter_values_follow_the_wallbox() {
        let t0 = Instant::now();
        let mut cp = SimChargePoint::default();
        assert_eq!(cp.boot().0, "BootNotification");
        let mut wallbox = OcppBox::default();
        let actions = |calls: Vec<Call>| calls.into_iter().map(|c| c.0).collect::<Vec<_>>();
        assert_eq!(
            actions(cp.tick(&wallbox, t0)),
            ["StatusNotification", "MeterValues"]
        );
        assert!(cp.tick(&wallbox, t0).is_empty(), "nothing new");
        wallbox.plugged = true;
        wallbox.current_ma = [10_000, 0, 0];
        let calls = cp.tick(&wallbox, t0 + Duration::from_secs(1));
        assert_eq!(calls[0].1["status"], "Charging");
        assert_eq!(calls.len(), 2, "a changed current is reported at once");
        wallbox.current_ma = [10_500, 0, 0];
        let calls = cp.tick(&wallbox, t0 + Duration::from_secs(1));
        assert!(calls.is_empty(), "half an ampere waits for the interval");
        let set = json!({"key": "MeterValueSampleInterval", "value": "1"});
        assert!(cp.answer("ChangeConfiguration", &set, t0).is_ok());
        let calls = cp.tick(&wallbox, t0 + Duration::from_secs(2));
        let sampled = &calls[0].1["meterValue"][0]["sampledValue"];
        assert_eq!(sampled[0]["value"], "10.5");
        assert_eq!(sampled[0]["phase"], "L1");
        // A charge point that may offer nothing suspends its car.
        wallbox.current_ma = [0; 3];
        wallbox.allowed_ma = Some(0);
        let calls = cp.tick(&wallbox, t0 + Duration::from_secs(2));
        assert_eq!(calls[0].1["status"], "SuspendedEVSE");
        assert_eq!(
            cp.answer("UnlockConnector", &json!({"connectorId": 1}), t0)
                .map_err(|e| e.0),
            Err(ErrorCode::NotImplemented)
        );
    }
}

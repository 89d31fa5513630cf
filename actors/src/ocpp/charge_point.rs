//! What a charge point has told chargebrain about the connector of one
//! wallbox, and the reading the cycle gets from it. Pure.

use super::messages::{MeterValues, SampledValue, StatusNotification, StopTransaction};
use crate::drivers::{EvseReading, EvseState, FailSafe, MeterReading, NOMINAL_V};

/// The API's `state` (1–6) for an OCPP 1.6 connector status; `None` for a
/// status that is not one of OCPP 1.6's.
pub fn state_of(status: &str) -> Option<EvseState> {
    Some(match status {
        "Available" => EvseState::Waiting,
        // A car is plugged in and not (or not yet, or no longer) charging.
        "Preparing" | "SuspendedEV" | "SuspendedEVSE" | "Finishing" | "Reserved" => {
            EvseState::Present
        }
        "Charging" => EvseState::Charging,
        // Out of service: nothing can charge there.
        "Faulted" | "Unavailable" => EvseState::Error,
        _ => return None,
    })
}

/// The connector's state as the charge point reported it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connector {
    /// The last StatusNotification's state; `None` until one arrived.
    pub state: Option<EvseState>,
    /// Its status and error code as sent, for the log and `lb_reason`.
    pub status: String,
    /// The meter, once MeterValues arrived.
    pub meter: Option<MeterReading>,
    /// The card of the car at the connector (Authorize, StartTransaction),
    /// reported to the cycle only while a car is plugged in.
    pub id_tag: Option<String>,
    /// The open transaction, if any.
    pub transaction: Option<i64>,
    /// The meter at the start of the transaction of the car plugged in
    /// (StartTransaction's `meterStart`), Wh: where its session's energy
    /// counts from, whenever the meter values come.
    pub meter_start_wh: Option<i64>,
    /// The lowest current the charge point was told since its last meter
    /// values, set when a command lowered it (mA): those values are older
    /// than the cut, so the cycle counts at most this.
    pub lowered_to: Option<i64>,
}

/// The largest magnitude accepted from a sampled value (A, V, W, Wh after
/// unit conversion): a value beyond it is no measurement.
const MAX_SAMPLE: f64 = 1e12;

impl Connector {
    /// A StatusNotification for this connector. An unknown status is an
    /// error and changes nothing.
    pub fn status(&mut self, s: &StatusNotification) -> Result<(), String> {
        let state = state_of(&s.status).ok_or_else(|| format!("unknown status {:?}", s.status))?;
        self.state = Some(state);
        self.status = if s.error_code == "NoError" {
            s.status.clone()
        } else {
            format!("{} ({})", s.status, s.error_code)
        };
        if !state.vehicle_present() {
            // The car left: its card and transaction are over.
            self.id_tag = None;
            self.meter_start_wh = None;
        }
        Ok(())
    }

    /// MeterValues for this connector: each value it carries replaces the
    /// last one; what it does not carry stays. Values that are no numbers,
    /// or of a unit or phase chargebrain does not know, are left out and
    /// named in the answer.
    pub fn meter_values(&mut self, m: &MeterValues) -> Vec<String> {
        let mut meter = self.meter.clone().unwrap_or_else(|| MeterReading {
            voltage_v: [NOMINAL_V; 3],
            ..MeterReading::default()
        });
        let mut skipped = Vec::new();
        let mut power_seen = false;
        let mut current_seen = false;
        for sample in m.meter_value.iter().flat_map(|v| &v.sampled_value) {
            match apply_sample(&mut meter, sample) {
                Ok(Some(Measurand::Power)) => power_seen = true,
                Ok(Some(Measurand::Current)) => current_seen = true,
                Ok(_) => {}
                Err(why) => skipped.push(why),
            }
        }
        if current_seen && !power_seen {
            meter.power_w = (0..3)
                .map(|p| meter.current_ma[p].saturating_mul(meter.voltage_v[p]) / 1000)
                .sum();
        }
        self.meter = Some(meter);
        self.lowered_to = None;
        skipped
    }

    /// A StopTransaction. For the open transaction, its `meterStop` may be
    /// newer than the last meter values (they come every few seconds, the
    /// stop at once), so the session's energy counts to it. A value below
    /// the last reading is ignored: an energy register never runs back (and
    /// the cycle's plausibility check still bounds a jump by the power).
    pub fn stopped(&mut self, s: &StopTransaction) {
        if self.transaction != Some(s.transaction_id) {
            return;
        }
        self.transaction = None;
        if let Some(meter) = self.meter.as_mut() {
            if s.meter_stop > meter.import_wh && (s.meter_stop as f64) < MAX_SAMPLE {
                meter.import_wh = s.meter_stop;
            }
        }
    }

    /// A new current for the car (0 when charging is disabled). Meter values
    /// come every few seconds: one taken before a cut still shows the higher
    /// draw, and counting it would make the house look smaller than it is
    /// and hand the cut to other cars before it happened. So, until the next
    /// meter values, the draw counted is at most the lowest current told
    /// since; a car slower to follow makes the house look larger, which is
    /// the safe side.
    pub fn commanded(&mut self, before_ma: i64, now_ma: i64) {
        if now_ma < before_ma {
            self.lowered_to = Some(self.lowered_to.map_or(now_ma, |l| l.min(now_ma)));
        }
    }

    /// The reading the cycle uses; an error until the first StatusNotification.
    pub fn reading(
        &self,
        command: (i64, bool),
        fail_safe: FailSafe,
    ) -> Result<EvseReading, String> {
        let state = self
            .state
            .ok_or("no StatusNotification from the charge point yet")?;
        let (offered_ma, charging_enabled) = command;
        Ok(EvseReading {
            state,
            charging_enabled,
            offered_ma,
            cable_ma: 0,
            meter: self.meter.clone().map(|m| capped(m, self.lowered_to)),
            fail_safe,
            rfid: self
                .id_tag
                .clone()
                .filter(|_| state.vehicle_present())
                .unwrap_or_default(),
            inputs: 0,
            relay: None,
            transaction_start_wh: self.meter_start_wh.filter(|_| state.vehicle_present()),
        })
    }
}

/// The meter with each phase's current at most `cap` and its power scaled
/// down with them.
fn capped(mut m: MeterReading, cap: Option<i64>) -> MeterReading {
    let Some(cap) = cap else { return m };
    let cap = cap.max(0);
    let before: i64 = m.current_ma.iter().map(|c| c.max(&0)).sum();
    for c in &mut m.current_ma {
        *c = (*c).min(cap);
    }
    let after: i64 = m.current_ma.iter().map(|c| c.max(&0)).sum();
    if before > 0 && after < before {
        m.power_w = i64::try_from(i128::from(m.power_w) * i128::from(after) / i128::from(before))
            .unwrap_or(m.power_w);
    }
    m
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Measurand {
    Current,
    Power,
    Other,
}

/// Puts one sampled value into `meter`.
fn apply_sample(meter: &mut MeterReading, s: &SampledValue) -> Result<Option<Measurand>, String> {
    let measurand = s
        .measurand
        .as_deref()
        .unwrap_or("Energy.Active.Import.Register");
    if s.format.as_deref() == Some("SignedData") {
        return Err(format!("{measurand}: signed data is not read"));
    }
    let value: f64 = s
        .value
        .trim()
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && v.abs() <= MAX_SAMPLE)
        .ok_or_else(|| format!("{measurand}: {:?} is not a number", s.value))?;
    let unit = s.unit.as_deref();
    let phase = match s.phase.as_deref() {
        None => None,
        Some("L1" | "L1-N") => Some(0),
        Some("L2" | "L2-N") => Some(1),
        Some("L3" | "L3-N") => Some(2),
        // Line-to-line voltages, neutral current: not used.
        Some(_) => return Ok(None),
    };
    let scaled = |factor: f64| (value * factor).round() as i64;
    match (measurand, unit) {
        ("Current.Import", None | Some("A")) => {
            let Some(p) = phase else {
                return Err("Current.Import without a phase is not used".into());
            };
            meter.current_ma[p] = scaled(1000.0);
            meter.per_phase = true;
            Ok(Some(Measurand::Current))
        }
        ("Voltage", None | Some("V")) => {
            if let Some(p) = phase {
                meter.voltage_v[p] = scaled(1.0);
            }
            Ok(Some(Measurand::Other))
        }
        ("Power.Active.Import", None | Some("W") | Some("kW")) => {
            if phase.is_some() {
                // Per-phase power: the total comes in its own sample.
                return Ok(None);
            }
            meter.power_w = scaled(if unit == Some("kW") { 1000.0 } else { 1.0 });
            Ok(Some(Measurand::Power))
        }
        ("Energy.Active.Import.Register", None | Some("Wh") | Some("kWh")) => {
            if phase.is_none() {
                meter.import_wh = scaled(if unit == Some("kWh") { 1000.0 } else { 1.0 });
            }
            Ok(Some(Measurand::Other))
        }
        (
            "Current.Import" | "Voltage" | "Power.Active.Import" | "Energy.Active.Import.Register",
            Some(unit),
        ) => Err(format!("{measurand} in {unit} is not read")),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meter_values(samples: serde_json::Value) -> MeterValues {
        serde_json::from_value(json!({
            "connectorId": 1,
            "meterValue": [{"timestamp": "2025-01-01T00:00:00Z", "sampledValue": samples}]
        }))
        .unwrap()
    }

    fn status(s: &str) -> StatusNotification {
        serde_json::from_value(json!({"connectorId": 1, "errorCode": "NoError", "status": s}))
            .unwrap()
    }

    #[test]
    fn every_status_of_ocpp_1_6_has_a_state() {
        let states: Vec<u8> = [
            "Available",
            "Preparing",
            "Charging",
            "SuspendedEV",
            "SuspendedEVSE",
            "Finishing",
            "Reserved",
            "Unavailable",
            "Faulted",
        ]
        .iter()
        .map(|s| state_of(s).map_or(0, EvseState::code))
        .collect();
        assert_eq!(states, [1, 2, 3, 2, 2, 2, 2, 5, 5]);
        assert_eq!(state_of("Sleeping"), None);
    }

    #[test]
    fn per_phase_currents_voltages_power_and_energy_are_read() {
        let mut c = Connector::default();
        let skipped = c.meter_values(&meter_values(json!([
            {"value": "15.96", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
            {"value": "16.04", "measurand": "Current.Import", "phase": "L2", "unit": "A"},
            {"value": "0", "measurand": "Current.Import", "phase": "L3", "unit": "A"},
            {"value": "231", "measurand": "Voltage", "phase": "L1-N", "unit": "V"},
            {"value": "7.4", "measurand": "Power.Active.Import", "unit": "kW"},
            {"value": "12.5", "unit": "kWh"},
        ])));
        assert!(skipped.is_empty(), "{skipped:?}");
        let m = c.meter.clone().unwrap();
        assert_eq!(m.current_ma, [15_960, 16_040, 0]);
        assert_eq!(m.voltage_v, [231, 230, 230]);
        assert_eq!((m.power_w, m.import_wh, m.per_phase), (7_400, 12_500, true));
        // A later message with currents only keeps the energy.
        c.meter_values(&meter_values(json!([
            {"value": "10", "measurand": "Current.Import", "phase": "L1"},
        ])));
        let m = c.meter.unwrap();
        assert_eq!((m.current_ma[0], m.import_wh), (10_000, 12_500));
        assert_eq!(m.power_w, (10_000 * 231 + 16_040 * 230) / 1000);
    }

    #[test]
    fn the_stop_of_the_open_transaction_carries_the_meter_to_its_meter_stop() {
        let stop = |tx: i64, wh: i64| -> StopTransaction {
            serde_json::from_value(json!({
                "meterStop": wh, "timestamp": "2025-01-01T00:00:00Z", "transactionId": tx
            }))
            .unwrap()
        };
        let mut c = Connector {
            transaction: Some(7),
            ..Connector::default()
        };
        c.meter_values(&meter_values(json!([{"value": "1090", "unit": "Wh"}])));
        // Another transaction's stop changes nothing.
        c.stopped(&stop(6, 1200));
        assert_eq!(
            (c.transaction, c.meter.as_ref().unwrap().import_wh),
            (Some(7), 1090)
        );
        // The open one's: closed, and the meter at its meterStop.
        c.stopped(&stop(7, 1100));
        assert_eq!(
            (c.transaction, c.meter.as_ref().unwrap().import_wh),
            (None, 1100)
        );
        // A meterStop below the last reading does not run the meter back.
        c.transaction = Some(8);
        c.stopped(&stop(8, 900));
        assert_eq!((c.transaction, c.meter.unwrap().import_wh), (None, 1100));
    }

    #[test]
    fn values_that_are_no_measurement_are_left_out() {
        let mut c = Connector::default();
        let skipped = c.meter_values(&meter_values(json!([
            {"value": "NaN", "measurand": "Current.Import", "phase": "L1"},
            {"value": "1e300", "measurand": "Current.Import", "phase": "L2"},
            {"value": "abc"},
            {"value": "5", "measurand": "Current.Import", "phase": "L3", "unit": "mA"},
            {"value": "5", "measurand": "Current.Import"},
        ])));
        assert_eq!(skipped.len(), 5, "{skipped:?}");
        assert_eq!(c.meter.unwrap().current_ma, [0, 0, 0]);
    }

    #[test]
    fn meter_values_older_than_a_cut_count_at_most_the_cut() {
        let mut c = Connector::default();
        c.status(&status("Charging")).unwrap();
        c.meter_values(&meter_values(json!([
            {"value": "16", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
            {"value": "16", "measurand": "Current.Import", "phase": "L2", "unit": "A"},
            {"value": "7360", "measurand": "Power.Active.Import", "unit": "W"}
        ])));
        let counted = |c: &Connector| {
            c.reading((0, true), FailSafe::default())
                .unwrap()
                .meter
                .unwrap()
        };
        // Re-asserting or raising the current hides nothing.
        c.commanded(16_000, 16_000);
        c.commanded(16_000, 20_000);
        assert_eq!(counted(&c).current_ma, [16_000, 16_000, 0]);
        // A cut to 10 A, then 12 A: the old values count at most 10 A.
        c.commanded(20_000, 10_000);
        c.commanded(10_000, 12_000);
        let m = counted(&c);
        assert_eq!((m.current_ma, m.power_w), ([10_000, 10_000, 0], 4600));
        // New meter values are the car's own again, above the cut too.
        c.meter_values(&meter_values(json!([
            {"value": "13", "measurand": "Current.Import", "phase": "L1", "unit": "A"}
        ])));
        assert_eq!(counted(&c).current_ma, [13_000, 16_000, 0]);
    }

    #[test]
    fn the_meter_start_counts_while_its_car_is_plugged_in() {
        let mut c = Connector::default();
        c.status(&status("Preparing")).unwrap();
        let start = |c: &Connector| {
            c.reading((0, false), FailSafe::default())
                .unwrap()
                .transaction_start_wh
        };
        assert_eq!(start(&c), None, "no transaction yet");
        c.meter_start_wh = Some(1000);
        c.status(&status("Charging")).unwrap();
        assert_eq!(start(&c), Some(1000), "before any meter values");
        c.status(&status("Finishing")).unwrap();
        assert_eq!(start(&c), Some(1000));
        c.status(&status("Available")).unwrap();
        assert_eq!((start(&c), c.meter_start_wh), (None, None), "the car left");
    }

    #[test]
    fn the_card_counts_while_a_car_is_plugged_in() {
        let mut c = Connector::default();
        assert!(c.reading((0, false), FailSafe::default()).is_err());
        c.id_tag = Some("04AB".into());
        c.status(&status("Available")).unwrap();
        assert_eq!(c.id_tag, None, "no car: the card is forgotten");
        c.id_tag = Some("04AB".into());
        c.status(&status("Preparing")).unwrap();
        let r = c.reading((16_000, true), FailSafe::default()).unwrap();
        assert_eq!((r.state, r.rfid.as_str()), (EvseState::Present, "04AB"));
        assert!(c.status(&status("Sleeping")).is_err());
        assert_eq!(c.state, Some(EvseState::Present), "unchanged");
    }
}

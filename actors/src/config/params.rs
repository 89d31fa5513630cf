//! Site parameters of load management (`[load]` in settings, `params` in
//! the API). Currents in mA per phase.

use serde::{Deserialize, Serialize};

use super::{CurrentLimit, DisablePolicy};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SiteParams {
    /// The installed limit per phase (main fuse), mA, or a formula giving
    /// it every cycle (e.g. a limit the grid operator sets through an input).
    pub max_total_current: CurrentLimit,
    /// Headroom kept free, subtracted from `max_total_current`, mA.
    pub reserve_current: i64,
    /// Cap for all wallboxes together per phase (their feeder); 0 = none.
    pub max_total_evse_current: i64,
    /// false = observation: read, compute and report, write nothing.
    pub lb_enabled: bool,
    /// What a disabled wallbox gets: 0 disabled, 1 its minimum, -1 no limit.
    pub disable_policy: DisablePolicy,
    /// How often the cycle runs, ms.
    pub cycle_time_ms: u64,
    /// Largest difference between the most and least loaded phase, mA; 0 = off.
    pub max_imbalance: i64,
    /// Count all loads in the imbalance, not only the wallboxes.
    pub imbalance_add: bool,
    /// A paused car waits at least this long, s; also the length of a turn.
    pub min_pause_time_s: u64,
    /// A site meter silent for longer than this puts every car on its minimum, s.
    pub meter_timeout_s: u64,
    /// A wallbox silent for longer than this counts at its fail-safe current, s.
    pub evse_fault_after_s: u64,
    /// Nominal voltage for power figures, V.
    pub voltage: i64,
    /// A site meter's reading beyond this multiple of `max_total_current`
    /// (either way, on any phase) cannot be true and is refused.
    pub meter_plausible_factor: i64,
    /// The electricity price level for price rules (-6 very cheap … -2
    /// very expensive); none = unknown.
    pub price_level: Option<i64>,
    /// §14a EnWG: a formula; while it is above 0 the grid operator dims the
    /// site (e.g. `E1.input1`, a control box on a Power Brain's S0 input,
    /// or `CM.dimming`); empty = only `cmd=set_grid_dimming`.
    pub grid_dimming_formula: String,
}

impl Default for SiteParams {
    fn default() -> Self {
        SiteParams {
            max_total_current: CurrentLimit::Fixed(32_000),
            reserve_current: 0,
            max_total_evse_current: 0,
            lb_enabled: true,
            disable_policy: DisablePolicy::Stop,
            cycle_time_ms: 1000,
            max_imbalance: 20_000,
            imbalance_add: false,
            min_pause_time_s: 300,
            meter_timeout_s: 10,
            evse_fault_after_s: 180,
            voltage: 230,
            meter_plausible_factor: 4,
            price_level: None,
            grid_dimming_formula: String::new(),
        }
    }
}

/// The lowest site limit, mA: below it a value is surely meant in A.
pub const MIN_TOTAL_MA: i64 = 1000;

impl SiteParams {
    /// Checks ranges; the error names the key.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        self.problems().into_iter().next().map_or(Ok(()), Err)
    }

    /// Every value out of range, each with its key.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let max = CurrentLimit::MAX_MA;
        match &self.max_total_current {
            CurrentLimit::Fixed(ma) if (1..MIN_TOTAL_MA).contains(ma) => {
                out.push((
                    "max_total_current",
                    format!(
                        "{ma} mA is not {MIN_TOTAL_MA} to {max} ({ma} is mA; did you mean {}?)",
                        ma.saturating_mul(1000)
                    ),
                ));
            }
            CurrentLimit::Fixed(ma) if !(MIN_TOTAL_MA..=max).contains(ma) => {
                out.push((
                    "max_total_current",
                    format!("{ma} mA is not {MIN_TOTAL_MA} to {max}"),
                ));
            }
            CurrentLimit::Formula(text) => {
                if let Err(e) = crate::rules::formula::parse(text) {
                    out.push(("max_total_current", format!("formula: {e}")));
                }
            }
            CurrentLimit::Fixed(_) => {}
        }
        let non_negative = [
            ("reserve_current", self.reserve_current),
            ("max_total_evse_current", self.max_total_evse_current),
            ("max_imbalance", self.max_imbalance),
        ];
        for (key, value) in non_negative {
            if !(0..=max).contains(&value) {
                out.push((key, format!("{value} mA is not 0 to {max}")));
            }
        }
        if !(100..=60_000).contains(&self.cycle_time_ms) {
            out.push((
                "cycle_time_ms",
                format!("{} is not 100 to 60000", self.cycle_time_ms),
            ));
        }
        if !(1..=3600).contains(&self.meter_timeout_s) {
            out.push((
                "meter_timeout_s",
                format!("{} is not 1 to 3600", self.meter_timeout_s),
            ));
        }
        if !(1..=100).contains(&self.meter_plausible_factor) {
            out.push((
                "meter_plausible_factor",
                format!("{} is not 1 to 100", self.meter_plausible_factor),
            ));
        }
        if !self.grid_dimming_formula.trim().is_empty() {
            if let Err(e) = crate::rules::formula::parse(&self.grid_dimming_formula) {
                out.push(("grid_dimming_formula", format!("formula: {e}")));
            }
        }
        if !(100..=400).contains(&self.voltage) {
            out.push(("voltage", format!("{} V is not 100 to 400", self.voltage)));
        }
        for (key, secs) in [
            ("min_pause_time", self.min_pause_time_s),
            ("evse_fault_after_s", self.evse_fault_after_s),
        ] {
            if secs > 86_400 {
                out.push((key, format!("{secs} s is more than a day")));
            }
        }
        out
    }
}

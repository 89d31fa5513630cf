//! Plausibility windows: what a reading can be, given its device and the
//! site. A reading outside them cannot be true (a broken meter, a wrong
//! register map, a hostile device) and counts as a failed reading: it
//! never reaches the budget, where it could free current. Pure code.

use crate::drivers::{MeterReading, Reading};

/// Highest voltage a phase can show (line to neutral), V.
pub const MAX_VOLTAGE_V: i64 = 300;

/// The most an AC wallbox can offer, mA (IEC 61851's PWM ends at 80 A):
/// what a wallbox reports offering widens its window up to this, no further.
pub const MAX_WALLBOX_MA: i64 = 80_000;

/// A wallbox may draw this much more than its maximum, or 10 % of it if
/// that is more, mA: cars overshoot briefly, meters round.
const WALLBOX_MARGIN_MA: i64 = 2000;

/// Energy counters may step back (rounding of float registers) or forward
/// beyond what the power allows by this much, Wh.
const ENERGY_SLACK_WH: i64 = 100;

/// What a device's readings can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Lowest and highest current on any phase, mA.
    pub min_ma: i64,
    pub max_ma: i64,
    /// Largest power either way, W.
    pub max_power_w: i64,
    /// Why the current is bounded so, for the error message.
    pub why: &'static str,
}

impl Window {
    /// A wallbox whose maximum (setting, or what it was last given or
    /// reports offering) is `max_ma`.
    pub fn wallbox(max_ma: i64) -> Self {
        let max_ma = max_ma.clamp(0, i64::from(u32::MAX));
        let margin = (max_ma / 10).max(WALLBOX_MARGIN_MA);
        Window::new(
            -margin,
            max_ma + margin,
            "the wallbox's maximum plus a margin",
        )
    }

    /// A site meter, which cannot carry more than `factor` × `limit_ma`
    /// (`meter_plausible_factor` × `max_total_current`) either way.
    pub fn meter(limit_ma: i64, factor: i64) -> Self {
        let bound = limit_ma
            .clamp(0, i64::from(u32::MAX))
            .saturating_mul(factor.clamp(1, 1000));
        Window::new(-bound, bound, "meter_plausible_factor × max_total_current")
    }

    fn new(min_ma: i64, max_ma: i64, why: &'static str) -> Self {
        let largest = min_ma.saturating_abs().max(max_ma.saturating_abs());
        Window {
            min_ma,
            max_ma,
            max_power_w: largest.saturating_mul(3 * MAX_VOLTAGE_V) / 1000,
            why,
        }
    }
}

const PHASES: [&str; 3] = ["L1", "L2", "L3"];

/// Checks `reading` against `window` and against the device's previous
/// reading (`previous`, taken at `previous_at` ms; `now` in ms): an error
/// names the value and why it cannot be.
pub fn check(
    reading: &Reading,
    window: &Window,
    previous: Option<(&Reading, u64)>,
    now: u64,
) -> Result<(), String> {
    let Some(meter) = meter_of(reading) else {
        return Ok(());
    };
    for (p, ma) in meter.current_ma.iter().enumerate() {
        if !(window.min_ma..=window.max_ma).contains(ma) {
            return Err(format!(
                "current {}: {ma} mA is outside {} to {} mA ({})",
                PHASES[p], window.min_ma, window.max_ma, window.why
            ));
        }
    }
    if meter.power_w.saturating_abs() > window.max_power_w {
        return Err(format!(
            "power: {} W is beyond {} W either way ({})",
            meter.power_w, window.max_power_w, window.why
        ));
    }
    for (p, v) in meter.voltage_v.iter().enumerate() {
        if !(0..=MAX_VOLTAGE_V).contains(v) {
            return Err(format!(
                "voltage {}: {v} V is outside 0 to {MAX_VOLTAGE_V} V",
                PHASES[p]
            ));
        }
    }
    let before = previous.and_then(|(r, at)| Some((meter_of(r)?, at)));
    let energies = [
        (
            "import energy",
            meter.import_wh,
            before.map(|(m, _)| m.import_wh),
        ),
        (
            "export energy",
            meter.export_wh,
            before.map(|(m, _)| m.export_wh),
        ),
    ];
    for (what, wh, last) in energies {
        if wh < 0 {
            return Err(format!("{what}: {wh} Wh is negative"));
        }
        // A counter of 0 is one that was not read yet (an HTTP input before
        // its first push, a meter just started): anything may follow it.
        let (Some(last), Some((_, at))) = (last.filter(|l| *l != 0), before) else {
            continue;
        };
        let step = i128::from(wh) - i128::from(last);
        if step < -i128::from(ENERGY_SLACK_WH) {
            return Err(format!("{what}: {wh} Wh ran backwards from {last} Wh"));
        }
        let ms = i128::from(now.saturating_sub(at));
        let possible =
            i128::from(window.max_power_w) * ms / 3_600_000 + i128::from(ENERGY_SLACK_WH);
        if step > possible {
            return Err(format!(
                "{what}: {wh} Wh jumped {step} Wh from {last} Wh in {ms} ms, more than {} W could supply",
                window.max_power_w
            ));
        }
    }
    Ok(())
}

fn meter_of(reading: &Reading) -> Option<&MeterReading> {
    match reading {
        Reading::Meter(m) => Some(m),
        Reading::Evse(e) => e.meter.as_ref(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::{EvseReading, EvseState, FailSafe};

    fn meter(current_ma: [i64; 3], power_w: i64, import_wh: i64) -> Reading {
        Reading::Meter(MeterReading {
            current_ma,
            voltage_v: [230; 3],
            power_w,
            import_wh,
            export_wh: 0,
            per_phase: true,
            storage: None,
        })
    }

    fn wallbox(current_ma: [i64; 3]) -> Reading {
        Reading::Evse(EvseReading {
            state: EvseState::Charging,
            charging_enabled: true,
            offered_ma: 16_000,
            cable_ma: 32_000,
            meter: match meter(current_ma, 0, 0) {
                Reading::Meter(m) => Some(m),
                Reading::Evse(_) => None,
            },
            fail_safe: FailSafe::default(),
            rfid: String::new(),
            inputs: 0,
            relay: None,
            transaction_start_wh: None,
        })
    }

    #[test]
    fn a_wallbox_draws_at_most_its_maximum_plus_a_margin() {
        let w = Window::wallbox(16_000);
        assert_eq!((w.min_ma, w.max_ma), (-2000, 18_000));
        assert_eq!(check(&wallbox([17_500, 0, -500]), &w, None, 0), Ok(()));
        let huge = (1i64 << 31) * 100;
        assert_eq!(
            check(&wallbox([huge, 0, 0]), &w, None, 0),
            Err(format!("current L1: {huge} mA is outside -2000 to 18000 mA (the wallbox's maximum plus a margin)"))
        );
        assert!(check(&wallbox([0, 0, -3000]), &w, None, 0)
            .is_err_and(|e| e.starts_with("current L3: -3000 mA")));
        assert_eq!(Window::wallbox(32_000).max_ma, 35_200, "10 % above 20 A");
    }

    #[test]
    fn a_site_meter_stays_within_a_multiple_of_the_site_limit() {
        let w = Window::meter(32_000, 4);
        assert_eq!((w.min_ma, w.max_ma), (-128_000, 128_000));
        assert_eq!(
            check(&meter([-100_000, 5000, 0], 0, 0), &w, None, 0),
            Ok(())
        );
        assert!(
            check(&meter([-1_000_000, 0, 0], 0, 0), &w, None, 0).is_err_and(
                |e| e.starts_with("current L1: -1000000 mA is outside -128000 to 128000 mA")
            )
        );
        // 128 A × 3 × 300 V = 115.2 kW either way, and not a watt more.
        assert_eq!(w.max_power_w, 115_200);
        assert_eq!(check(&meter([0; 3], -115_200, 0), &w, None, 0), Ok(()));
        assert!(check(&meter([0; 3], 115_201, 0), &w, None, 0).is_err());
        assert!(
            check(&meter([0; 3], 1_000_000_000_000_000_000, 0), &w, None, 0)
                .is_err_and(|e| e.starts_with("power: 1000000000000000000 W is beyond"))
        );
        let mut bad_voltage = meter([0; 3], 0, 0);
        if let Reading::Meter(m) = &mut bad_voltage {
            m.voltage_v[1] = 400;
        }
        assert_eq!(
            check(&bad_voltage, &w, None, 0),
            Err("voltage L2: 400 V is outside 0 to 300 V".into())
        );
    }

    #[test]
    fn energy_counters_neither_run_backwards_nor_outrun_the_power() {
        let w = Window::meter(32_000, 4);
        let before = meter([0; 3], 0, 50_000);
        // 128 A × 3 × 300 V = 115.2 kW for one hour: 115.2 kWh at most.
        let hour = 3_600_000;
        assert_eq!(
            check(&meter([0; 3], 0, 165_000), &w, Some((&before, 0)), hour),
            Ok(())
        );
        assert!(
            check(&meter([0; 3], 0, 166_000), &w, Some((&before, 0)), hour)
                .is_err_and(|e| e.starts_with("import energy: 166000 Wh jumped 116000 Wh"))
        );
        // Exactly at the bound (115.2 kWh and the 100 Wh of slack): accepted.
        assert_eq!(
            check(&meter([0; 3], 0, 165_300), &w, Some((&before, 0)), hour),
            Ok(())
        );
        assert!(check(&meter([0; 3], 0, 165_301), &w, Some((&before, 0)), hour).is_err());
        // Two hours: twice as much.
        assert_eq!(
            check(&meter([0; 3], 0, 280_000), &w, Some((&before, 0)), 2 * hour),
            Ok(())
        );
        assert_eq!(
            check(&meter([0; 3], 0, 49_950), &w, Some((&before, 0)), 1000),
            Ok(()),
            "rounding"
        );
        assert_eq!(
            check(&meter([0; 3], 0, 49_900), &w, Some((&before, 0)), 1000),
            Ok(()),
            "rounding: at most 100 Wh back"
        );
        assert!(
            check(&meter([0; 3], 0, 49_899), &w, Some((&before, 0)), 1000)
                .is_err_and(|e| e.contains("ran backwards"))
        );
        assert_eq!(
            check(&meter([0; 3], 0, 40_000), &w, Some((&before, 0)), 1000),
            Err("import energy: 40000 Wh ran backwards from 50000 Wh".into())
        );
        assert!(check(
            &meter([0; 3], 0, i64::MAX),
            &w,
            Some((&meter([0; 3], 0, i64::MIN), 0)),
            u64::MAX
        )
        .is_err());
        assert!(check(&meter([0; 3], 0, -1), &w, None, 0).is_err());
        let unread = meter([0; 3], 0, 0);
        assert_eq!(
            check(&meter([0; 3], 0, 12_345_678), &w, Some((&unread, 0)), 100),
            Ok(()),
            "after a counter not read yet"
        );
    }
}

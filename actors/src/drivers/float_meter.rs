//! Meters whose values are IEEE-754 float32 registers (two each, high word
//! first), described by where their values are: the Eastron and Orno
//! meters, and any other meter of that kind. One decoder serves them all.

use super::NOMINAL_V;
use super::{float_to_int, signed_like, Answers, DecodeError, MeterReading, Read, Reading};

/// Where a float meter keeps its values.
#[derive(Debug)]
pub struct FloatMeter {
    /// Voltage, current and power per phase; `None` for a meter with totals
    /// only, whose power is spread evenly over three phases at `NOMINAL_V`
    /// (I = P / (3 × 230 V), signed like the power, `per_phase` false).
    pub phases: Option<FloatPhases>,
    /// Total active power, signed (− = export).
    pub total_power: u16,
    /// W per unit of the power registers (1 for W, 1000 for kW).
    pub power_scale: f64,
    /// Imported and exported energy, kWh.
    pub import_kwh: u16,
    pub export_kwh: u16,
}

/// Where a float meter keeps one value per phase, L1, L2, L3.
#[derive(Debug)]
pub struct FloatPhases {
    /// V, line to neutral.
    pub voltage: [u16; 3],
    /// A, unsigned: each phase current takes the sign of its phase power,
    /// so an exporting phase has a negative current.
    pub current: [u16; 3],
    /// Active power, signed.
    pub power: [u16; 3],
}

const VOLTAGE: [&str; 3] = ["voltage L1", "voltage L2", "voltage L3"];
const CURRENT: [&str; 3] = ["current L1", "current L2", "current L3"];
const POWER: [&str; 3] = ["power L1", "power L2", "power L3"];

impl FloatMeter {
    /// The reading from the answers to `reads`. A NaN, an infinity or a
    /// value out of range is an error naming the value.
    pub fn decode(&self, reads: &[Read], blocks: &[Vec<u16>]) -> Result<Reading, DecodeError> {
        let at = Answers::new(reads, blocks)?;
        let energy = |addr: u16, what: &str| float_to_int(at.f32(addr)?, 1000.0, what);
        let reading = match &self.phases {
            Some(phases) => {
                let (current_ma, voltage_v) = self.phases(&at, phases)?;
                let import_wh = energy(self.import_kwh, "import energy")?;
                let export_wh = energy(self.export_kwh, "export energy")?;
                let power = at.f32(self.total_power)?;
                MeterReading {
                    current_ma,
                    voltage_v,
                    power_w: float_to_int(power, self.power_scale, "power")?,
                    import_wh,
                    export_wh,
                    per_phase: true,
                    storage: None,
                }
            }
            None => {
                let power = at.f32(self.total_power)?;
                let power_w = float_to_int(power, self.power_scale, "power")?;
                // mA per phase = W * 1000 / (3 * 230 V).
                #[allow(clippy::cast_precision_loss)]
                let to_ma = self.power_scale * 1000.0 / (3 * NOMINAL_V) as f64;
                let per_phase_ma = float_to_int(power, to_ma, "current")?;
                MeterReading {
                    current_ma: [per_phase_ma; 3],
                    voltage_v: [NOMINAL_V; 3],
                    power_w,
                    import_wh: energy(self.import_kwh, "import energy")?,
                    export_wh: energy(self.export_kwh, "export energy")?,
                    per_phase: false,
                    storage: None,
                }
            }
        };
        Ok(Reading::Meter(reading))
    }

    /// Currents in mA, signed by the phase power (export negative), and
    /// voltages in V.
    fn phases(
        &self,
        at: &Answers<'_>,
        regs: &FloatPhases,
    ) -> Result<([i64; 3], [i64; 3]), DecodeError> {
        let (mut current_ma, mut voltage_v) = ([0; 3], [0; 3]);
        for i in 0..3 {
            let power = at.f32(regs.power[i])?;
            // Validates the power, whose sign the current takes.
            float_to_int(power, self.power_scale, POWER[i])?;
            let current = signed_like(at.f32(regs.current[i])?, power);
            current_ma[i] = float_to_int(current, 1000.0, CURRENT[i])?;
            voltage_v[i] = float_to_int(at.f32(regs.voltage[i])?, 1.0, VOLTAGE[i])?;
        }
        Ok((current_ma, voltage_v))
    }
}

/// What every float meter driver must do, for each of them: the idle meter
/// reads as idle, an exporting phase has a negative current, the total
/// power is the meter's own, a NaN, infinite or huge value is refused
/// naming the value, and short answers are errors, not panics.
#[cfg(test)]
mod tests {
    use super::super::testing::{meter_of, refuses_invalid_floats, refuses_short_answers};
    use super::super::{meter_orno_we516, meter_sdm630, meter_sdm72dm, DeviceType};
    use super::*;
    use crate::sim::meters::{self, set_f32};
    use crate::sim::RegisterBank;

    /// Sets a simulated float meter (`sim::meters`).
    type SetMeter = fn(&mut RegisterBank, [f32; 3], [f32; 3], [f32; 3], f32, f32);

    /// One float meter driver under test, with its simulated bank.
    struct Case {
        key: &'static str,
        /// An idle meter (230 V, 0 A, no energy).
        idle: fn() -> RegisterBank,
        /// Sets voltages, unsigned currents, phase powers (W) and energies
        /// (kWh) as the meter reports them; `None` for a meter with totals only.
        set: Option<SetMeter>,
        /// The total power register and its unit (1 W or 1000 W).
        total_power: (u16, f32),
        /// A wild value (NaN, infinite, out of range) at a register, and
        /// what the decoder's refusal names.
        wild: &'static [(u16, f32, &'static str)],
    }

    const CASES: &[Case] = &[
        Case {
            key: "meter_sdm630",
            idle: meters::sdm630,
            set: Some(meters::set_sdm630),
            total_power: (0x0034, 1.0),
            wild: &[
                (0x0002, f32::NAN, "voltage L2"),
                (0x0006, f32::INFINITY, "current L1"),
                (0x0010, f32::NAN, "power L3"),
                (0x0034, f32::NEG_INFINITY, "power"),
                (0x0048, f32::MAX, "import energy"),
                (0x004a, f32::NAN, "export energy"),
            ],
        },
        Case {
            key: "meter_orno_we516",
            idle: meters::orno_we516,
            set: Some(meters::set_orno_we516),
            total_power: (0x001c, 1000.0),
            wild: &[
                (0x0010, f32::NAN, "voltage L2"),
                (0x0016, f32::INFINITY, "current L1"),
                (0x0022, f32::NAN, "power L3"),
                (0x001c, f32::NEG_INFINITY, "power"),
                (0x001c, 1e16, "power"),
                (0x0108, f32::MAX, "import energy"),
                (0x0110, f32::NAN, "export energy"),
            ],
        },
        Case {
            key: "meter_sdm72dm",
            idle: meters::sdm72dm,
            set: None,
            total_power: (0x0034, 1.0),
            wild: &[
                (0x0034, f32::NAN, "power"),
                (0x0034, f32::INFINITY, "power"),
                (0x0048, f32::MAX, "import energy"),
                (0x004a, f32::NAN, "export energy"),
            ],
        },
    ];

    fn modbus(key: &str) -> &'static super::super::registry::Modbus {
        DeviceType::find(key)
            .and_then(DeviceType::modbus)
            .unwrap_or_else(|| panic!("{key} is a Modbus driver"))
    }

    fn reading(case: &Case, bank: &RegisterBank) -> MeterReading {
        let m = modbus(case.key);
        meter_of(bank, m.reads, |blocks| m.decode(blocks))
    }

    #[test]
    fn the_cases_are_the_float_meter_drivers() {
        let mut keys: Vec<&str> = DeviceType::all()
            .filter(|t| {
                t.modbus().is_some_and(|m| {
                    matches!(m.decode, super::super::registry::Decode::FloatMeter(_))
                })
            })
            .map(DeviceType::key)
            .collect();
        keys.sort_unstable();
        let mut cases: Vec<&str> = CASES.iter().map(|c| c.key).collect();
        cases.sort_unstable();
        assert_eq!(keys, cases);
        // The modules' own rows are the registry's.
        for driver in [
            &meter_sdm630::DRIVER,
            &meter_orno_we516::DRIVER,
            &meter_sdm72dm::DRIVER,
        ] {
            assert!(CASES.iter().any(|c| c.key == driver.key));
        }
    }

    #[test]
    fn decodes_the_idle_meter() {
        for case in CASES {
            let per_phase = case.set.is_some();
            assert_eq!(
                reading(case, &(case.idle)()),
                MeterReading {
                    current_ma: [0; 3],
                    voltage_v: [230; 3],
                    power_w: 0,
                    import_wh: 0,
                    export_wh: 0,
                    per_phase,
                    storage: None,
                },
                "{}",
                case.key
            );
        }
    }

    #[test]
    fn decodes_a_meter_with_one_exporting_phase() {
        for case in CASES {
            let Some(set) = case.set else { continue };
            let mut bank = (case.idle)();
            set(
                &mut bank,
                [231.5, 229.4, 230.6],
                [10.2, 10.0, 0.0],
                [2361.3, -2300.0, 0.0],
                12_345.678,
                987.654,
            );
            let m = reading(case, &bank);
            assert_eq!(
                m.voltage_v,
                [232, 229, 231],
                "{}: rounded to nearest",
                case.key
            );
            assert_eq!(
                m.current_ma,
                [10_200, -10_000, 0],
                "{}: signed by phase power",
                case.key
            );
            assert_eq!(m.power_w, 61, "{}: 2361.3 - 2300.0", case.key);
            assert_eq!(
                (m.import_wh, m.export_wh),
                (12_345_678, 987_654),
                "{}",
                case.key
            );
            assert!(m.per_phase);
        }
    }

    #[test]
    fn total_power_is_the_meters_own_and_may_be_export() {
        for case in CASES {
            let mut bank = (case.idle)();
            let (addr, unit) = case.total_power;
            set_f32(&mut bank, addr, -4_600.4 / unit);
            assert_eq!(reading(case, &bank).power_w, -4_600, "{}", case.key);
        }
    }

    #[test]
    fn nan_infinite_and_huge_values_are_invalid() {
        for case in CASES {
            let m = modbus(case.key);
            refuses_invalid_floats(case.idle, m.reads, |blocks| m.decode(blocks), case.wild);
        }
    }

    #[test]
    fn short_or_missing_blocks_are_errors_not_panics() {
        for case in CASES {
            let m = modbus(case.key);
            refuses_short_answers(m.reads, |blocks| m.decode(blocks));
        }
    }

    #[test]
    fn float_conversion_rounds_and_checks_the_i64_range() {
        assert_eq!(float_to_int(2.5, 1.0, "x"), Ok(3));
        assert_eq!(float_to_int(-2.5, 1.0, "x"), Ok(-3));
        assert_eq!(float_to_int(-0.0004, 1000.0, "x"), Ok(0));
        // -2^63 fits, 2^63 does not.
        assert_eq!(float_to_int(-(2f32.powi(63)), 1.0, "x"), Ok(i64::MIN));
        assert!(float_to_int(2f32.powi(63), 1.0, "x").is_err());
        assert_eq!(signed_like(3.0, -0.1), -3.0);
        assert_eq!(signed_like(-3.0, 0.0), 3.0);
    }
}

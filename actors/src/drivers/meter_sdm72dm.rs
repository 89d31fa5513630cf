//! Eastron SDM72D-M V1 (`meter_sdm72dm`).
//!
//! INPUT registers (FC04), IEEE-754 float32, two registers each,
//! big-endian, high word first.
//!
//! | addr | raw type | unit | meaning |
//! |---|---|---|---|
//! | 0x0034 | f32 | W | total system power, signed (- = export) |
//! | 0x0048 | f32 | kWh | total import active energy |
//! | 0x004A | f32 | kWh | total export active energy |
//!
//! The meter has no voltages or phase currents: the reading reports the
//! nominal 230 V and the total power spread evenly over three phases,
//! I = P / (3 × 230 V), signed like the power, with `per_phase` false.
//!
//! One read of 0x0034..0x004C (12 values, within the meter's limit of 30
//! per request); the pairs between the three values are not used.

use super::{check_blocks, float_energy_wh, float_in, float_to_int};
use super::{DecodeError, MeterReading, Read, Reading};

/// Total power to export energy: 0x0034..0x004C.
pub const TOTAL_BLOCK: Read = Read::input(0x0034, 0x0018);

pub const READS: &[Read] = &[TOTAL_BLOCK];

const REG_TOTAL_POWER: u16 = 0x0034;
const REG_IMPORT: u16 = 0x0048;
const REG_EXPORT: u16 = 0x004a;

/// The voltage assumed on each phase, V.
const NOMINAL_V: i64 = 230;

pub fn decode(blocks: &[Vec<u16>]) -> Result<Reading, DecodeError> {
    check_blocks(READS, blocks)?;
    let totals = &blocks[0];
    let power = float_in(totals, TOTAL_BLOCK, REG_TOTAL_POWER);
    let power_w = float_to_int(power, 1.0, "power")?;
    // mA per phase = W * 1000 / (3 * 230 V).
    let per_phase_ma = float_to_int(power, 1000.0 / (3 * NOMINAL_V) as f64, "current")?;
    let (import_wh, export_wh) = float_energy_wh(totals, TOTAL_BLOCK, REG_IMPORT, REG_EXPORT)?;
    Ok(Reading::Meter(MeterReading {
        current_ma: [per_phase_ma; 3],
        voltage_v: [NOMINAL_V; 3],
        power_w,
        import_wh,
        export_wh,
        per_phase: false,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::meters::{self, set_sdm72dm};
    use crate::sim::RegisterBank;

    fn meter(bank: &RegisterBank) -> MeterReading {
        crate::drivers::testing::meter_of(bank, READS, decode)
    }

    use crate::drivers::testing::{answers_with, meter_from};

    #[test]
    fn decodes_what_a_real_sdm72_showed() {
        // Eastron, "SDM72D-M user manual" (input registers 30053, 30073,
        // 30075 = 0x0034 total system power, 0x0048/0x004A import/export
        // kWh). A real SDM72 read by nmakel/sdm_modbus (pull request 6,
        // 2021-07-25): "Total system power: 6452.00W, Total Import KWh:
        // 4485.62kWh, Total Export KWh: 28.77kWh"; the words are those
        // floats (6452.0 = 45c9a000, 4485.62 = 458c2cf6, 28.77 = 41e628f6).
        let blocks = answers_with(
            READS,
            &[
                (0x0034, &[0x45c9, 0xa000]),
                (0x0048, &[0x458c, 0x2cf6]),
                (0x004a, &[0x41e6, 0x28f6]),
            ],
        );
        let m = meter_from(&blocks, decode);
        assert_eq!(m.power_w, 6452);
        assert_eq!((m.import_wh, m.export_wh), (4_485_620, 28_770));
        assert_eq!(m.current_ma, [9351; 3], "6452 W / (3 × 230 V)");
        assert!(!m.per_phase);
    }

    #[test]
    fn decodes_the_idle_meter() {
        assert_eq!(
            meter(&meters::sdm72dm()),
            MeterReading {
                current_ma: [0; 3],
                voltage_v: [230; 3],
                power_w: 0,
                import_wh: 0,
                export_wh: 0,
                per_phase: false,
            }
        );
    }

    #[test]
    fn spreads_the_power_over_three_phases_at_230_v() {
        let mut bank = meters::sdm72dm();
        set_sdm72dm(&mut bank, 6_900.4, 12_345.678, 0.5);
        let m = meter(&bank);
        assert_eq!(m.power_w, 6_900);
        assert_eq!(m.current_ma, [10_001; 3], "6900.4 W / 690 V = 10.0006 A");
        assert_eq!(m.voltage_v, [230; 3]);
        assert_eq!((m.import_wh, m.export_wh), (12_345_678, 500));
        assert!(!m.per_phase);

        set_sdm72dm(&mut bank, -2_300.0, 12_345.678, 987.654);
        let m = meter(&bank);
        assert_eq!(m.power_w, -2_300);
        assert_eq!(m.current_ma, [-3_333; 3], "export: negative currents");
        assert_eq!(m.export_wh, 987_654);
    }

    #[test]
    fn nan_infinite_and_huge_values_are_invalid() {
        crate::drivers::testing::refuses_invalid_floats(
            meters::sdm72dm,
            READS,
            decode,
            &[
                (0x0034, f32::NAN, "power"),
                (0x0034, f32::INFINITY, "power"),
                (0x0048, f32::MAX, "import energy"),
                (0x004a, f32::NAN, "export energy"),
            ],
        );
    }

    #[test]
    fn short_or_missing_blocks_are_errors_not_panics() {
        crate::drivers::testing::refuses_short_answers(READS, decode);
    }
}

//! Orno OR-WE-516 (`meter_orno_we516`).
//!
//! HOLDING registers (FC03), IEEE-754 float32, two registers each,
//! big-endian, high word first. Powers are in **kW**.
//!
//! | addr | raw type | unit | meaning |
//! |---|---|---|---|
//! | 0x000E/10/12 | f32 | V | voltage L1/L2/L3 |
//! | 0x0016/18/1A | f32 | A | current L1/L2/L3, unsigned |
//! | 0x001C | f32 | kW | active power total, signed (- = export) |
//! | 0x001E/20/22 | f32 | kW | active power L1/L2/L3, signed |
//! | 0x0108 | f32 | kWh | forward (import) active energy total |
//! | 0x0110 | f32 | kWh | reverse (export) active energy total |
//!
//! Each phase current gets the sign of that phase's active power, so an
//! exporting phase has a negative current.

use super::{
    check_blocks, float_energy_wh, float_in, float_phases, float_to_int, FloatPhaseRegisters,
};
use super::{DecodeError, MeterReading, Read, Reading};

/// Voltages, frequency, currents and active powers: 0x000E..0x0024.
pub const MEASURE_BLOCK: Read = Read::holding(0x000e, 0x0016);
/// Forward and reverse active energy: 0x0108..0x0112.
pub const ENERGY_BLOCK: Read = Read::holding(0x0108, 0x000a);

pub const READS: &[Read] = &[MEASURE_BLOCK, ENERGY_BLOCK];

const REG_VOLTAGE: [u16; 3] = [0x000e, 0x0010, 0x0012];
const REG_CURRENT: [u16; 3] = [0x0016, 0x0018, 0x001a];
const REG_TOTAL_POWER: u16 = 0x001c;
const REG_POWER: [u16; 3] = [0x001e, 0x0020, 0x0022];
const REG_IMPORT: u16 = 0x0108;
const REG_EXPORT: u16 = 0x0110;

pub fn decode(blocks: &[Vec<u16>]) -> Result<Reading, DecodeError> {
    check_blocks(READS, blocks)?;
    let (measure, energy) = (&blocks[0], &blocks[1]);
    let regs = FloatPhaseRegisters {
        voltage: REG_VOLTAGE,
        current: REG_CURRENT,
        power: REG_POWER,
        power_scale: 1000.0,
    };
    let (current_ma, voltage_v) = float_phases(measure, MEASURE_BLOCK, &regs)?;
    let (import_wh, export_wh) = float_energy_wh(energy, ENERGY_BLOCK, REG_IMPORT, REG_EXPORT)?;
    let power_kw = float_in(measure, MEASURE_BLOCK, REG_TOTAL_POWER);
    Ok(Reading::Meter(MeterReading {
        current_ma,
        voltage_v,
        power_w: float_to_int(power_kw, 1000.0, "power")?,
        import_wh,
        export_wh,
        per_phase: true,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::meters::{self, set_f32, set_orno_we516};
    use crate::sim::RegisterBank;

    fn meter(bank: &RegisterBank) -> MeterReading {
        crate::drivers::testing::meter_of(bank, READS, decode)
    }

    use crate::drivers::testing::{answers_with, meter_from};

    // Register addresses: ORNO, "OR-WE-516 register list"
    // (files.orno.pl/support/Others/ORNO/ORWE516_5902560322415/OR-WE-516_rejestry.pdf):
    // holding registers, float32: 0x000E/10/12 voltages, 0x0014 frequency,
    // 0x0016/18/1A currents, 0x001C total and 0x001E/20/22 phase active
    // power (kW), 0x0108 forward and 0x0110 reverse active energy (kWh).

    #[test]
    fn decodes_the_words_of_a_real_we_516() {
        // A WE-516/517 with only L3 connected, read by mbmd (volkszaehler/mbmd
        // pull request 129, 2020-06-02): 0x000E and 0x0010 answered 0,
        // 0x0012 `43 71 00 00` = 241 V, 0x0014 (frequency, between the
        // voltages and the currents) `42 48 1e b8` = 50.03 Hz, the currents
        // and powers 0. A decoder one register pair off would show 50 V.
        let blocks = answers_with(
            READS,
            &[(0x0012, &[0x4371, 0x0000]), (0x0014, &[0x4248, 0x1eb8])],
        );
        let m = meter_from(&blocks, decode);
        assert_eq!(m.voltage_v, [0, 0, 241]);
        assert_eq!((m.current_ma, m.power_w), ([0; 3], 0));
        // The same meter's energy registers (0x0130 and 0x0132, tariff 1)
        // answered `3c 23 d7 0a` = 0.01 kWh: that float at the import and
        // export addresses of the register list.
        let blocks = answers_with(
            READS,
            &[(0x0108, &[0x3c23, 0xd70a]), (0x0110, &[0x3c23, 0xd70a])],
        );
        let m = meter_from(&blocks, decode);
        assert_eq!((m.import_wh, m.export_wh), (10, 10));
    }

    #[test]
    fn reads_are_holding_registers() {
        assert!(READS
            .iter()
            .all(|r| r.table == super::super::Table::Holding));
    }

    #[test]
    fn decodes_the_idle_meter() {
        assert_eq!(
            meter(&meters::orno_we516()),
            MeterReading {
                current_ma: [0; 3],
                voltage_v: [230; 3],
                power_w: 0,
                import_wh: 0,
                export_wh: 0,
                per_phase: true,
            }
        );
    }

    #[test]
    fn decodes_kilowatts_and_signs_the_currents() {
        let mut bank = meters::orno_we516();
        set_orno_we516(
            &mut bank,
            [231.5, 229.4, 230.6],
            [10.2, 10.0, 0.0],
            [2_361.3, -2_300.0, 0.0],
            12_345.678,
            987.654,
        );
        let m = meter(&bank);
        assert_eq!(m.voltage_v, [232, 229, 231], "rounded to nearest");
        assert_eq!(m.current_ma, [10_200, -10_000, 0], "signed by phase power");
        assert_eq!(m.power_w, 61, "(2.3613 - 2.3) kW");
        assert_eq!(m.import_wh, 12_345_678);
        assert_eq!(m.export_wh, 987_654);
        assert!(m.per_phase);
    }

    #[test]
    fn total_power_is_the_meters_own_and_may_be_export() {
        let mut bank = meters::orno_we516();
        set_f32(&mut bank, 0x001c, -4.6004);
        assert_eq!(meter(&bank).power_w, -4_600);
    }

    #[test]
    fn nan_infinite_and_huge_values_are_invalid() {
        crate::drivers::testing::refuses_invalid_floats(
            meters::orno_we516,
            READS,
            decode,
            &[
                (0x0010, f32::NAN, "voltage L2"),
                (0x0016, f32::INFINITY, "current L1"),
                (0x0022, f32::NAN, "power L3"),
                (0x001c, f32::NEG_INFINITY, "power"),
                (0x001c, 1e16, "power"),
                (0x0108, f32::MAX, "import energy"),
                (0x0110, f32::NAN, "export energy"),
            ],
        );
    }

    #[test]
    fn short_or_missing_blocks_are_errors_not_panics() {
        crate::drivers::testing::refuses_short_answers(READS, decode);
    }
}

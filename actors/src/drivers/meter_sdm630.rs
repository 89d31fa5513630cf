//! Eastron SDM630, SDM630MCT and SDM72D-M V2 (`meter_sdm630`).
//!
//! INPUT registers (FC04), IEEE-754 float32, two registers each,
//! big-endian, high word first.
//!
//! | addr | raw type | unit | meaning |
//! |---|---|---|---|
//! | 0x0000/02/04 | f32 | V | voltage L1/L2/L3 (line to neutral) |
//! | 0x0006/08/0A | f32 | A | current L1/L2/L3, unsigned |
//! | 0x000C/0E/10 | f32 | W | active power L1/L2/L3, signed (- = export) |
//! | 0x0034 | f32 | W | total system power, signed (- = export) |
//! | 0x0048 | f32 | kWh | total import active energy |
//! | 0x004A | f32 | kWh | total export active energy |
//!
//! The meter reports currents unsigned: each phase current gets the sign of
//! that phase's active power, so an exporting phase has a negative current.
//!
//! Two reads per poll rather than one read of 0x0000..0x004C (76 registers,
//! 38 values): the SDM630 accepts at most 40 values per request, but the
//! SDM72D-M manual limits a request to 30 and answers an exception beyond.

use super::{
    check_blocks, float_energy_wh, float_in, float_phases, float_to_int, FloatPhaseRegisters,
};
use super::{DecodeError, MeterReading, Read, Reading};

/// Voltages, currents and powers of the phases: 0x0000..0x0012.
pub const PHASE_BLOCK: Read = Read::input(0x0000, 0x0012);
/// Total power and the energies: 0x0034..0x004C.
pub const TOTAL_BLOCK: Read = Read::input(0x0034, 0x0018);

pub const READS: &[Read] = &[PHASE_BLOCK, TOTAL_BLOCK];

const REG_VOLTAGE: [u16; 3] = [0x0000, 0x0002, 0x0004];
const REG_CURRENT: [u16; 3] = [0x0006, 0x0008, 0x000a];
const REG_POWER: [u16; 3] = [0x000c, 0x000e, 0x0010];
const REG_TOTAL_POWER: u16 = 0x0034;
const REG_IMPORT: u16 = 0x0048;
const REG_EXPORT: u16 = 0x004a;

pub fn decode(blocks: &[Vec<u16>]) -> Result<Reading, DecodeError> {
    check_blocks(READS, blocks)?;
    let (phases, totals) = (&blocks[0], &blocks[1]);
    let regs = FloatPhaseRegisters {
        voltage: REG_VOLTAGE,
        current: REG_CURRENT,
        power: REG_POWER,
        power_scale: 1.0,
    };
    let (current_ma, voltage_v) = float_phases(phases, PHASE_BLOCK, &regs)?;
    let (import_wh, export_wh) = float_energy_wh(totals, TOTAL_BLOCK, REG_IMPORT, REG_EXPORT)?;
    Ok(Reading::Meter(MeterReading {
        current_ma,
        voltage_v,
        power_w: float_to_int(float_in(totals, TOTAL_BLOCK, REG_TOTAL_POWER), 1.0, "power")?,
        import_wh,
        export_wh,
        per_phase: true,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::meters::{self, set_f32, set_sdm630};
    use crate::sim::RegisterBank;

    fn meter(bank: &RegisterBank) -> MeterReading {
        crate::drivers::testing::meter_of(bank, READS, decode)
    }

    use crate::drivers::testing::{answers_with, meter_from};

    // Register addresses: Eastron, "SDM630 Modbus Protocol": input registers
    // 30001/30003/30005 (0x0000..) phase voltages, 30007.. (0x0006..) phase
    // currents, 30013.. (0x000C..) phase powers, 30053 (0x0034) total system
    // power, 30073/30075 (0x0048/0x004A) import/export kWh.

    #[test]
    fn decodes_the_words_of_a_real_sdm630() {
        // A real SDM630 read by mbmd over an RS-485 gateway (volkszaehler/mbmd
        // issue 63, 2020-01-02): `01 04 00 00 00 02` answered `43 67 af 55`,
        // which mbmd showed as "VoltageL1: 231.68"; `01 04 00 08 00 02`
        // (current L2) answered `40 88 fa 31`.
        let blocks = answers_with(
            READS,
            &[(0x0000, &[0x4367, 0xaf55]), (0x0008, &[0x4088, 0xfa31])],
        );
        let m = meter_from(&blocks, decode);
        assert_eq!(m.voltage_v, [232, 0, 0], "231.68 V rounds to 232 V");
        assert_eq!(m.current_ma, [0, 4281, 0], "4.2805 A on L2");
    }

    #[test]
    fn decodes_the_words_of_a_real_eastron_phase() {
        // An Eastron meter's first phase as Tasmota logged it (arendst/Tasmota
        // issue 17671, 2023-01-10): FC04 0x0000 `43 67 5d f6` = 231.367 V,
        // 0x0006 `3e 8a 31 1e` = 0.2699 A, 0x000C `42 79 78 22` = 62.367 W.
        let blocks = answers_with(
            READS,
            &[
                (0x0000, &[0x4367, 0x5df6]),
                (0x0006, &[0x3e8a, 0x311e]),
                (0x000c, &[0x4279, 0x7822]),
            ],
        );
        let m = meter_from(&blocks, decode);
        assert_eq!((m.voltage_v[0], m.current_ma[0]), (231, 270));
        // The same current with the phase exporting (power negated, sign bit set).
        let blocks = answers_with(
            READS,
            &[(0x0006, &[0x3e8a, 0x311e]), (0x000c, &[0xc279, 0x7822])],
        );
        assert_eq!(meter_from(&blocks, decode).current_ma[0], -270);
    }

    #[test]
    fn decodes_the_import_energy_words_of_a_real_eastron_meter() {
        // Register 0x0048 (import kWh, the same address in Eastron's SDM230
        // and SDM630 protocols) of a real SDM230 logged on the bus of a Solax
        // inverter (syssi/esphome-solax-x1-mini issue 20, 2022-05-04):
        // `01 04 00 48 00 02` answered `46 2a 75 21` = 10909.28 kWh.
        let blocks = answers_with(READS, &[(0x0048, &[0x462a, 0x7521])]);
        let m = meter_from(&blocks, decode);
        assert_eq!((m.import_wh, m.export_wh), (10_909_282, 0));
    }

    #[test]
    fn reads_stay_within_the_eastron_request_limit() {
        for r in READS {
            assert_eq!(r.table, super::super::Table::Input);
            assert!(r.count <= 60, "at most 30 float values per request");
        }
    }

    #[test]
    fn decodes_the_idle_meter() {
        let m = meter(&meters::sdm630());
        assert_eq!(
            m,
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
    fn decodes_a_meter_with_one_exporting_phase() {
        let mut bank = meters::sdm630();
        set_sdm630(
            &mut bank,
            [231.5, 229.4, 230.6],
            [10.2, 10.0, 0.0],
            [2361.3, -2300.0, 0.0],
            12_345.678,
            987.654,
        );
        let m = meter(&bank);
        assert_eq!(m.voltage_v, [232, 229, 231], "rounded to nearest");
        assert_eq!(m.current_ma, [10_200, -10_000, 0], "signed by phase power");
        assert_eq!(m.power_w, 61, "2361.3 - 2300.0");
        assert_eq!(m.import_wh, 12_345_678);
        assert_eq!(m.export_wh, 987_654);
        assert!(m.per_phase);
    }

    #[test]
    fn total_power_is_the_meters_own_and_may_be_export() {
        let mut bank = meters::sdm630();
        set_f32(&mut bank, 0x0034, -4_600.4);
        assert_eq!(meter(&bank).power_w, -4_600);
    }

    #[test]
    fn nan_infinite_and_huge_values_are_invalid() {
        crate::drivers::testing::refuses_invalid_floats(
            meters::sdm630,
            READS,
            decode,
            &[
                (0x0002, f32::NAN, "voltage L2"),
                (0x0006, f32::INFINITY, "current L1"),
                (0x0010, f32::NAN, "power L3"),
                (0x0034, f32::NEG_INFINITY, "power"),
                (0x0048, f32::MAX, "import energy"),
                (0x004a, f32::NAN, "export energy"),
            ],
        );
    }

    #[test]
    fn float_conversion_rounds_and_checks_the_i64_range() {
        use crate::drivers::{float_to_int, signed_like};
        assert_eq!(float_to_int(2.5, 1.0, "x"), Ok(3));
        assert_eq!(float_to_int(-2.5, 1.0, "x"), Ok(-3));
        assert_eq!(float_to_int(-0.0004, 1000.0, "x"), Ok(0));
        // -2^63 fits, 2^63 does not.
        assert_eq!(float_to_int(-(2f32.powi(63)), 1.0, "x"), Ok(i64::MIN));
        assert!(float_to_int(2f32.powi(63), 1.0, "x").is_err());
        assert_eq!(signed_like(3.0, -0.1), -3.0);
        assert_eq!(signed_like(-3.0, 0.0), 3.0);
    }

    #[test]
    fn short_or_missing_blocks_are_errors_not_panics() {
        crate::drivers::testing::refuses_short_answers(READS, decode);
    }
}

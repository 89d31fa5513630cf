//! Eastron SDM72D-M V1 (`meter_sdm72dm`): a float meter with totals only,
//! described by data (`float_meter.rs` decodes it).
//!
//! INPUT registers (FC04), IEEE-754 float32, two registers each, high word
//! first. The meter has no voltages or phase currents: the reading reports
//! the nominal 230 V and the total power spread evenly over three phases,
//! I = P / (3 × 230 V), signed like the power, with `per_phase` false.
//!
//! One read of 0x0034..0x004C (12 values, within the meter's limit of 30
//! per request); the pairs between the three values are not used.

use super::float_meter::FloatMeter;
use super::map::{reg, Access::Read as R, Register, RegisterMap};
use super::registry::{Decode, Driver, Kind, Link, Modbus};
use super::Read;
use crate::codec::RegType::I32;

pub static DRIVER: Driver = Driver {
    key: "meter_sdm72dm",
    name: "Eastron SDM72DM V1",
    kind: Kind::Meter,
    maker: "Eastron",
    device: "SDM72DM V1",
    link: Link::Modbus(Modbus {
        map: &MAP,
        reads: READS,
        decode: Decode::FloatMeter(&VALUES),
        identify: None,
        control: None,
        secret: &[],
    }),
};

/// Total power to export energy: 0x0034..0x004C.
pub const TOTAL_BLOCK: Read = Read::input(0x0034, 0x0018);

pub const READS: &[Read] = &[TOTAL_BLOCK];

static VALUES: FloatMeter = FloatMeter {
    phases: None,
    total_power: TOTAL_POWER.addr,
    power_scale: 1.0,
    import_kwh: IMPORT.addr,
    export_kwh: EXPORT.addr,
};

const TOTAL_POWER: Register = reg("total_power", 0x0034, I32, R, "float32 W, signed (- = export)");
const IMPORT: Register = reg("import_energy", 0x0048, I32, R, "float32 kWh");
const EXPORT: Register = reg("export_energy", 0x004a, I32, R, "float32 kWh");

/// INPUT registers (FC04): total power and the two energies; the pairs
/// between them are listed as reserved (reading 0) so that one read covers
/// 0x0034..0x004C. Source: Eastron, "SDM72D-M user manual" (input registers
/// 30053, 30073, 30075).
pub static MAP: RegisterMap = RegisterMap {
    registers: &[
        TOTAL_POWER,
        reg("reserved", 0x0036, I32, R, "reads 0"),
        reg("reserved", 0x0038, I32, R, "reads 0"),
        reg("reserved", 0x003a, I32, R, "reads 0"),
        reg("reserved", 0x003c, I32, R, "reads 0"),
        reg("reserved", 0x003e, I32, R, "reads 0"),
        reg("reserved", 0x0040, I32, R, "reads 0"),
        reg("reserved", 0x0042, I32, R, "reads 0"),
        reg("reserved", 0x0044, I32, R, "reads 0"),
        reg("reserved", 0x0046, I32, R, "reads 0"),
        IMPORT,
        EXPORT,
    ],
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::testing::{answers_with, meter_from};
    use crate::drivers::{DecodeError, MeterReading, Reading};
    use crate::sim::meters::{self, set_sdm72dm};
    use crate::sim::RegisterBank;

    fn decode(blocks: &[Vec<u16>]) -> Result<Reading, DecodeError> {
        VALUES.decode(READS, blocks)
    }

    fn meter(bank: &RegisterBank) -> MeterReading {
        crate::drivers::testing::meter_of(bank, READS, decode)
    }

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
}

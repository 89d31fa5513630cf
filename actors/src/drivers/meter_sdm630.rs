//! Eastron SDM630, SDM630MCT and SDM72D-M V2 (`meter_sdm630`): a float
//! meter, described by data (`float_meter.rs` decodes it).
//!
//! INPUT registers (FC04), IEEE-754 float32, two registers each, high word
//! first. The meter reports currents unsigned: each phase current gets the
//! sign of that phase's active power, so an exporting phase has a negative
//! current.
//!
//! Two reads per poll rather than one read of 0x0000..0x004C (76 registers,
//! 38 values): the SDM630 accepts at most 40 values per request, but the
//! SDM72D-M manual limits a request to 30 and answers an exception beyond.

use super::float_meter::{FloatMeter, FloatPhases};
use super::map::{reg, Access::Read as R, Register, RegisterMap};
use super::registry::{Decode, Driver, Kind, Link, Modbus};
use super::Read;
use crate::codec::RegType::I32;

pub static DRIVER: Driver = Driver {
    key: "meter_sdm630",
    name: "Eastron SDM630 / SDM630MCT / SDM72DM-V2",
    kind: Kind::Meter,
    maker: "Eastron",
    device: "SDM630 / SDM630MCT / SDM72DM-V2",
    link: Link::Modbus(Modbus {
        map: &MAP,
        reads: READS,
        decode: Decode::FloatMeter(&VALUES),
        identify: None,
        control: None,
        secret: &[],
    }),
};

/// Voltages, currents and powers of the phases: 0x0000..0x0012.
pub const PHASE_BLOCK: Read = Read::input(0x0000, 0x0012);
/// Total power and the energies: 0x0034..0x004C.
pub const TOTAL_BLOCK: Read = Read::input(0x0034, 0x0018);

pub const READS: &[Read] = &[PHASE_BLOCK, TOTAL_BLOCK];

static VALUES: FloatMeter = FloatMeter {
    phases: Some(FloatPhases {
        voltage: [VOLTAGE[0].addr, VOLTAGE[1].addr, VOLTAGE[2].addr],
        current: [CURRENT[0].addr, CURRENT[1].addr, CURRENT[2].addr],
        power: [POWER[0].addr, POWER[1].addr, POWER[2].addr],
    }),
    total_power: TOTAL_POWER.addr,
    power_scale: 1.0,
    import_kwh: IMPORT.addr,
    export_kwh: EXPORT.addr,
};

const VOLTAGE: [Register; 3] = [
    reg("voltage_l1", 0x0000, I32, R, "float32 V"),
    reg("voltage_l2", 0x0002, I32, R, "float32 V"),
    reg("voltage_l3", 0x0004, I32, R, "float32 V"),
];
const CURRENT: [Register; 3] = [
    reg("current_l1", 0x0006, I32, R, "float32 A, unsigned"),
    reg("current_l2", 0x0008, I32, R, "float32 A, unsigned"),
    reg("current_l3", 0x000a, I32, R, "float32 A, unsigned"),
];
const POWER: [Register; 3] = [
    reg("power_l1", 0x000c, I32, R, "float32 W, signed"),
    reg("power_l2", 0x000e, I32, R, "float32 W, signed"),
    reg("power_l3", 0x0010, I32, R, "float32 W, signed"),
];
const TOTAL_POWER: Register = reg("total_power", 0x0034, I32, R, "float32 W, signed (- = export)");
const IMPORT: Register = reg("import_energy", 0x0048, I32, R, "float32 kWh");
const EXPORT: Register = reg("export_energy", 0x004a, I32, R, "float32 kWh");

/// INPUT registers (FC04). Their 32-bit values are listed as `d` (high word
/// first), so that `read=all` keys them with their width (`0d`) and reads
/// them as `read=0d` does: a float32 as the signed integer of its bits (the
/// unit says "float32"). The reserved pairs read as 0; they are listed so
/// that a read spanning them is answered. Source: Eastron, "SDM630 Modbus
/// Protocol" (input registers 30001.. are 0x0000..).
pub static MAP: RegisterMap = RegisterMap {
    registers: &[
        VOLTAGE[0],
        VOLTAGE[1],
        VOLTAGE[2],
        CURRENT[0],
        CURRENT[1],
        CURRENT[2],
        POWER[0],
        POWER[1],
        POWER[2],
        reg("apparent_power_l1", 0x0012, I32, R, "float32 VA"),
        reg("apparent_power_l2", 0x0014, I32, R, "float32 VA"),
        reg("apparent_power_l3", 0x0016, I32, R, "float32 VA"),
        reg("reactive_power_l1", 0x0018, I32, R, "float32 var"),
        reg("reactive_power_l2", 0x001a, I32, R, "float32 var"),
        reg("reactive_power_l3", 0x001c, I32, R, "float32 var"),
        reg("power_factor_l1", 0x001e, I32, R, "float32"),
        reg("power_factor_l2", 0x0020, I32, R, "float32"),
        reg("power_factor_l3", 0x0022, I32, R, "float32"),
        reg("phase_angle_l1", 0x0024, I32, R, "float32 degrees"),
        reg("phase_angle_l2", 0x0026, I32, R, "float32 degrees"),
        reg("phase_angle_l3", 0x0028, I32, R, "float32 degrees"),
        reg("average_voltage", 0x002a, I32, R, "float32 V"),
        reg("reserved", 0x002c, I32, R, "reads 0"),
        reg("average_current", 0x002e, I32, R, "float32 A"),
        reg("sum_of_currents", 0x0030, I32, R, "float32 A"),
        reg("reserved", 0x0032, I32, R, "reads 0"),
        TOTAL_POWER,
        reg("reserved", 0x0036, I32, R, "reads 0"),
        reg("total_apparent_power", 0x0038, I32, R, "float32 VA"),
        reg("reserved", 0x003a, I32, R, "reads 0"),
        reg("total_reactive_power", 0x003c, I32, R, "float32 var"),
        reg("total_power_factor", 0x003e, I32, R, "float32"),
        reg("reserved", 0x0040, I32, R, "reads 0"),
        reg("total_phase_angle", 0x0042, I32, R, "float32 degrees"),
        reg("reserved", 0x0044, I32, R, "reads 0"),
        reg("frequency", 0x0046, I32, R, "float32 Hz"),
        IMPORT,
        EXPORT,
        reg("import_reactive_energy", 0x004c, I32, R, "float32 kvarh"),
        reg("export_reactive_energy", 0x004e, I32, R, "float32 kvarh"),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::testing::{answers_with, meter_from};
    use crate::drivers::{DecodeError, Reading};

    fn decode(blocks: &[Vec<u16>]) -> Result<Reading, DecodeError> {
        VALUES.decode(READS, blocks)
    }

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
}

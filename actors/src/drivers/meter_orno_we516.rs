//! Orno OR-WE-516 (`meter_orno_we516`): a float meter, described by data
//! (`float_meter.rs` decodes it).
//!
//! HOLDING registers (FC03), IEEE-754 float32, two registers each, high
//! word first. Powers are in **kW**. Each phase current gets the sign of
//! that phase's active power, so an exporting phase has a negative current.

use super::float_meter::{FloatMeter, FloatPhases};
use super::map::{reg, Access::Read as R, Register, RegisterMap};
use super::registry::{Decode, Driver, Kind, Link, Modbus};
use super::Read;
use crate::codec::RegType::{I32, U16};

pub static DRIVER: Driver = Driver {
    key: "meter_orno_we516",
    name: "Orno OR-WE-516",
    kind: Kind::Meter,
    maker: "Orno",
    device: "OR-WE-516",
    link: Link::Modbus(Modbus {
        map: &MAP,
        reads: READS,
        decode: Decode::FloatMeter(&VALUES),
        identify: None,
        control: None,
        secret: &[],
    }),
};

/// Voltages, frequency, currents and active powers: 0x000E..0x0024.
pub const MEASURE_BLOCK: Read = Read::holding(0x000e, 0x0016);
/// Forward and reverse active energy: 0x0108..0x0112.
pub const ENERGY_BLOCK: Read = Read::holding(0x0108, 0x000a);

pub const READS: &[Read] = &[MEASURE_BLOCK, ENERGY_BLOCK];

static VALUES: FloatMeter = FloatMeter {
    phases: Some(FloatPhases {
        voltage: [VOLTAGE[0].addr, VOLTAGE[1].addr, VOLTAGE[2].addr],
        current: [CURRENT[0].addr, CURRENT[1].addr, CURRENT[2].addr],
        power: [POWER[0].addr, POWER[1].addr, POWER[2].addr],
    }),
    total_power: TOTAL_POWER.addr,
    power_scale: 1000.0,
    import_kwh: IMPORT.addr,
    export_kwh: EXPORT.addr,
};

const VOLTAGE: [Register; 3] = [
    reg("voltage_l1", 0x000e, I32, R, "float32 V"),
    reg("voltage_l2", 0x0010, I32, R, "float32 V"),
    reg("voltage_l3", 0x0012, I32, R, "float32 V"),
];
const CURRENT: [Register; 3] = [
    reg("current_l1", 0x0016, I32, R, "float32 A, unsigned"),
    reg("current_l2", 0x0018, I32, R, "float32 A, unsigned"),
    reg("current_l3", 0x001a, I32, R, "float32 A, unsigned"),
];
const TOTAL_POWER: Register = reg("total_power", 0x001c, I32, R, "float32 kW, signed");
const POWER: [Register; 3] = [
    reg("power_l1", 0x001e, I32, R, "float32 kW, signed"),
    reg("power_l2", 0x0020, I32, R, "float32 kW, signed"),
    reg("power_l3", 0x0022, I32, R, "float32 kW, signed"),
];
const IMPORT: Register = reg("import_energy", 0x0108, I32, R, "float32 kWh");
const EXPORT: Register = reg("export_energy", 0x0110, I32, R, "float32 kWh");

/// HOLDING registers (FC03), 32-bit values listed as `d` (see
/// `meter_sdm630.rs`). Source: ORNO, "OR-WE-516 register list" (via
/// ya-modbus).
pub static MAP: RegisterMap = RegisterMap {
    registers: &[
        reg("serial_no", 0x0000, U16, R, ""),
        reg("slave_id", 0x0002, U16, R, ""),
        reg("baud_rate", 0x0003, U16, R, ""),
        reg("software_version", 0x0004, I32, R, ""),
        reg("hardware_version", 0x0006, I32, R, ""),
        VOLTAGE[0],
        VOLTAGE[1],
        VOLTAGE[2],
        reg("frequency", 0x0014, I32, R, "float32 Hz"),
        CURRENT[0],
        CURRENT[1],
        CURRENT[2],
        TOTAL_POWER,
        POWER[0],
        POWER[1],
        POWER[2],
        reg("total_reactive_power", 0x0024, I32, R, "float32 kvar"),
        reg("reactive_power_l1", 0x0026, I32, R, "float32 kvar"),
        reg("reactive_power_l2", 0x0028, I32, R, "float32 kvar"),
        reg("reactive_power_l3", 0x002a, I32, R, "float32 kvar"),
        reg("total_apparent_power", 0x002c, I32, R, "float32 kVA"),
        reg("apparent_power_l1", 0x002e, I32, R, "float32 kVA"),
        reg("apparent_power_l2", 0x0030, I32, R, "float32 kVA"),
        reg("apparent_power_l3", 0x0032, I32, R, "float32 kVA"),
        reg("total_power_factor", 0x0034, I32, R, "float32"),
        reg("power_factor_l1", 0x0036, I32, R, "float32"),
        reg("power_factor_l2", 0x0038, I32, R, "float32"),
        reg("power_factor_l3", 0x003a, I32, R, "float32"),
        reg("total_energy", 0x0100, I32, R, "float32 kWh"),
        reg("energy_l1", 0x0102, I32, R, "float32 kWh"),
        reg("energy_l2", 0x0104, I32, R, "float32 kWh"),
        reg("energy_l3", 0x0106, I32, R, "float32 kWh"),
        IMPORT,
        reg("import_energy_l1", 0x010a, I32, R, "float32 kWh"),
        reg("import_energy_l2", 0x010c, I32, R, "float32 kWh"),
        reg("import_energy_l3", 0x010e, I32, R, "float32 kWh"),
        EXPORT,
        reg("export_energy_l1", 0x0112, I32, R, "float32 kWh"),
        reg("export_energy_l2", 0x0114, I32, R, "float32 kWh"),
        reg("export_energy_l3", 0x0116, I32, R, "float32 kWh"),
        reg("total_reactive_energy", 0x0118, I32, R, "float32 kvarh"),
        reg("reactive_energy_l1", 0x011a, I32, R, "float32 kvarh"),
        reg("reactive_energy_l2", 0x011c, I32, R, "float32 kvarh"),
        reg("reactive_energy_l3", 0x011e, I32, R, "float32 kvarh"),
        reg("import_reactive_energy", 0x0120, I32, R, "float32 kvarh"),
        reg("import_reactive_energy_l1", 0x0122, I32, R, "float32 kvarh"),
        reg("import_reactive_energy_l2", 0x0124, I32, R, "float32 kvarh"),
        reg("import_reactive_energy_l3", 0x0126, I32, R, "float32 kvarh"),
        reg("export_reactive_energy", 0x0128, I32, R, "float32 kvarh"),
        reg("export_reactive_energy_l1", 0x012a, I32, R, "float32 kvarh"),
        reg("export_reactive_energy_l2", 0x012c, I32, R, "float32 kvarh"),
        reg("export_reactive_energy_l3", 0x012e, I32, R, "float32 kvarh"),
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
}

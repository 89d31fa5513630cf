//! S0 meter input of a cFos Power Brain (`meter_powerbrain`), units 2 and
//! 3 (ports 4702/4703). An S0 meter counts pulses; the box computes power
//! and currents from them and its configured voltages.

use super::map::{concat, reg, Access, Register, RegisterMap};
use super::powerbrain::{self, CURRENT, ENERGY, METER_FLAGS, POWER, SHARED};
use super::registry::{Decode, Driver, Kind, Link, Modbus};
use super::{Answers, DecodeError, MeterReading, Read, Reading};
use crate::codec::RegType::{I32, I64, U16};
use Access::{Read as R, ReadWrite as RW, Write as W};

pub static DRIVER: Driver = Driver {
    key: "meter_powerbrain",
    name: "cFos Power Brain S0 Meter",
    kind: Kind::Meter,
    maker: "cFos",
    device: "Power Brain",
    link: Link::Modbus(Modbus {
        map: &MAP,
        reads: READS,
        decode: Decode::Code(decode),
        identify: Some(powerbrain::IDENTIFY),
        control: None,
        secret: &[],
    }),
};

/// The nominal voltage of each phase, V (what the box computes with).
const VOLTAGE: [u16; 3] = [8045, 8046, 8047];

pub const READS: &[Read] = &[Read::holding(8045, 3), Read::holding(8057, 13)];

pub fn decode(blocks: &[Vec<u16>]) -> Result<Reading, DecodeError> {
    let at = Answers::new(READS, blocks)?;
    let block = powerbrain::meter_block(&at)?;
    let mut voltage_v = [0; 3];
    for (v, addr) in voltage_v.iter_mut().zip(VOLTAGE) {
        *v = i64::from(at.u16(addr)?);
    }
    Ok(Reading::Meter(MeterReading {
        current_ma: block.current_ma,
        voltage_v,
        // An S0 meter only counts pulses: a negative power means "none seen yet".
        power_w: block.power_w.max(0),
        import_wh: block.import_wh,
        export_wh: 0,
        per_phase: block.per_phase,
    storage: None,
}))
}

const OWN: [Register; 18] = [
    reg("input", 8041, U16, R, "reserved"),
    reg("pulsesperkwh", 8042, I32, RW, "pulses/kWh"),
    reg("phases", 8044, U16, RW, "bit0 L1, bit1 L2, bit2 L3"),
    reg("voltage_l1", VOLTAGE[0], U16, RW, "V"),
    reg("voltage_l2", VOLTAGE[1], U16, RW, "V"),
    reg("voltage_l3", VOLTAGE[2], U16, RW, "V"),
    reg("pulses", 8050, I64, RW, "pulses"),
    reg("timeperpulse", 8054, I32, R, "ms"),
    reg("level", 8056, U16, R, "0 current flows, 1 none"),
    reg("meter_flags", METER_FLAGS, U16, R, "bit0 per-phase values"),
    reg("energy", ENERGY, I64, RW, "Wh"),
    reg("power", POWER, I32, R, "W"),
    reg("current_l1", CURRENT[0], I32, R, "0.1 A"),
    reg("current_l2", CURRENT[1], I32, R, "0.1 A"),
    reg("current_l3", CURRENT[2], I32, R, "0.1 A"),
    reg("reset_pulses", 8070, U16, W, "write 1"),
    reg("reset_energy", 8071, U16, W, "write 1"),
    reg("count_restart", 8120, I32, RW, "restarts"),
];

static REGISTERS: [Register; 27] = concat(SHARED, OWN);

/// The registers of an S0 meter of a Power Brain.
pub static MAP: RegisterMap = RegisterMap {
    registers: &REGISTERS,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::powerbrain;

    use crate::drivers::testing::{answers_with, meter_from};

    #[test]
    fn meter_keys_are_those_of_the_read_all_example() {
        let keys: Vec<String> = MAP.registers.iter().map(Register::key).collect();
        assert_eq!(
            keys.join(","),
            "8000d,8002,8003,8004,8006,8007,8008s,8016s,8040,8041,8042d,8044,8045,8046,8047,\
             8050q,8054d,8056,8057,8058q,8062d,8064d,8066d,8068d,8070,8071,8120d"
        );
    }

    #[test]
    fn decodes_the_makers_example_of_an_idle_s0_meter() {
        // cFos's documented answer to `cmd=modbus&device=meter2&read=all`
        // (cfos-emobility.de, "cFos Power Brain Modbus registers", the HTTP
        // API example): "8044":1, "8045":230, "8046":230, "8047":230,
        // "8057":0, "8058q":0, "8062d":-1, "8064d":0, "8066d":0, "8068d":0.
        let blocks = answers_with(
            READS,
            &[
                (8045, &[230, 230, 230]),
                (8057, &[0]),
                (8058, &[0, 0, 0, 0]),
                (8062, &[0xffff, 0xffff]),
                (8064, &[0, 0, 0, 0, 0, 0]),
            ],
        );
        let m = meter_from(&blocks, decode);
        assert_eq!(
            m,
            MeterReading {
                current_ma: [0; 3],
                voltage_v: [230; 3],
                power_w: 0,
                import_wh: 0,
                export_wh: 0,
                per_phase: false,
            storage: None,
},
            "-1 W means no pulse yet"
        );
    }

    #[test]
    fn decodes_the_types_of_the_makers_register_table() {
        // The register table: 8057 bit0 = per-phase values, 8058 energy as
        // a 64-bit Wh count, 8062 power as signed 32-bit W, 8064/8066/8068
        // currents as signed 32-bit 0.1 A; high word first (the documented
        // "8000d":-821755904 is 0xcf05, 0x0000).
        let blocks = answers_with(
            READS,
            &[
                (8045, &[231, 229, 230]),
                (8057, &[1]),
                (8058, &[0, 0, 0x00bc, 0x614e]),
                (8062, &[0, 0x08fc]),
                (8064, &[0, 100, 0, 32, 0xffff, 0xfffb]),
            ],
        );
        let m = meter_from(&blocks, decode);
        assert_eq!(m.voltage_v, [231, 229, 230]);
        assert_eq!(m.import_wh, 12_345_678);
        assert_eq!(m.power_w, 2300);
        assert_eq!(m.current_ma, [10_000, 3200, -500]);
        assert!(m.per_phase);
    }

    #[test]
    fn decodes_the_simulated_s0_meter() {
        let mut bank = powerbrain::s0_meter(1);
        let m = crate::drivers::testing::meter_of(&bank, READS, decode);
        assert_eq!(m.power_w, 0, "-1 (no pulse yet) reads as 0 W");
        assert_eq!(m.voltage_v, [230, 230, 230]);
        bank.set_int(8062, 2300);
        bank.set_int(8064, 100);
        bank.set_int(8058, 5000);
        let m = crate::drivers::testing::meter_of(&bank, READS, decode);
        assert_eq!(
            (m.power_w, m.current_ma, m.import_wh),
            (2300, [10_000, 0, 0], 5000)
        );
    }
}

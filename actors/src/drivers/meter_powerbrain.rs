//! S0 meter input of a cFos Power Brain (`meter_powerbrain`), units 2 and 3.
//!
//! | addr | type | unit | meaning |
//! |---|---|---|---|
//! | 8045–8047 | u16 | V | nominal voltage L1–L3 |
//! | 8057 | u16 | bit0 | per-phase values |
//! | 8058 | i64 | Wh | energy |
//! | 8062 | i32 | W | power, computed from pulses; -1 = no pulse yet |
//! | 8064/66/68 | i32 | 0.1 A | current L1/L2/L3, computed |

use super::{
    check_blocks, deciamps_to_ma, i32_at, i64_at, DecodeError, MeterReading, Read, Reading,
};

pub const READS: &[Read] = &[Read::holding(8045, 3), Read::holding(8057, 13)];

pub fn decode(blocks: &[Vec<u16>]) -> Result<Reading, DecodeError> {
    check_blocks(READS, blocks)?;
    let (voltages, m) = (&blocks[0], &blocks[1]);
    // An S0 meter only counts pulses: a negative power means "none seen yet".
    let power_w = i32_at(m, 5).max(0);
    Ok(Reading::Meter(MeterReading {
        current_ma: [7, 9, 11].map(|at| deciamps_to_ma(i32_at(m, at))),
        voltage_v: [0, 1, 2].map(|i| i64::from(voltages[i])),
        power_w,
        import_wh: i64_at(m, 1),
        export_wh: 0,
        per_phase: m[0] & 1 != 0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::powerbrain;

    use crate::drivers::testing::{answers_with, meter_from};

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

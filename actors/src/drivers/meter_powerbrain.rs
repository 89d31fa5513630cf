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

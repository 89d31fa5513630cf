//! cFos Power Brain wallbox (`evse_powerbrain`), unit 1 on port 4701.
//!
//! | addr | type | unit | meaning |
//! |---|---|---|---|
//! | 8057 | u16 | bit0 | attached meter has per-phase values |
//! | 8058 | i64 | Wh | attached meter: energy |
//! | 8062 | i32 | W | attached meter: power (signed) |
//! | 8064/66/68 | i32 | 0.1 A | attached meter: current L1/L2/L3 |
//! | 8083 | i32 | s | fail-safe duration (flash: write rarely) |
//! | 8085 | u16 | 0.1 A | fail-safe current (flash: write rarely) |
//! | 8090 | u16 | 0.1 A | cable capacity (0 = no cable) |
//! | 8092 | u16 | | CP state 0 A, 1 B, 2 C, 3 D, other error |
//! | 8093 | u16 | 0.1 A | charging current limit (volatile: safe to write often) |
//! | 8094 | u16 | 0/1 | charging enable (volatile: safe to write often) |
//! | 8096 | str15 | | last RFID seen (hex text) |
//! | 8112 | u16 | 0/1 | a meter is attached |
//! | 8113 | u16 | bits | bit0/bit1: S0 input 1/2 is on |

use super::{check_blocks, deciamps_to_ma, i32_at, i64_at, ma_to_deciamps};
use super::{DecodeError, EvseReading, EvseState, FailSafe, MeterReading, Read, Reading};
use crate::codec::decode_str;

pub const METER_BLOCK: Read = Read::holding(8057, 13);
pub const FAIL_SAFE_BLOCK: Read = Read::holding(8083, 3);
pub const CONTROL_BLOCK: Read = Read::holding(8090, 6);
/// `has_meter` and `s0_inputs`.
pub const HAS_METER: Read = Read::holding(8112, 2);
pub const LAST_RFID: Read = Read::holding(8096, 15);

pub const READS: &[Read] = &[
    METER_BLOCK,
    FAIL_SAFE_BLOCK,
    CONTROL_BLOCK,
    HAS_METER,
    LAST_RFID,
];

pub const REG_CURRENT_LIMIT: u16 = 8093;
pub const REG_CHARGING_ENABLE: u16 = 8094;
pub const REG_FAIL_SAFE_DURATION: u16 = 8083;
pub const REG_FAIL_SAFE_CURRENT: u16 = 8085;

/// The nominal voltage reported for the attached meter, which has no
/// voltage registers.
const NOMINAL_V: i64 = 230;

pub fn decode(blocks: &[Vec<u16>]) -> Result<Reading, DecodeError> {
    check_blocks(READS, blocks)?;
    let (meter, fail_safe, control, has_meter, rfid) =
        (&blocks[0], &blocks[1], &blocks[2], &blocks[3], &blocks[4]);
    let state = match control[2] {
        0 => EvseState::Waiting,
        1 => EvseState::Present,
        2 => EvseState::Charging,
        3 => EvseState::Ventilation,
        _ => EvseState::Error,
    };
    let meter = (has_meter[0] != 0).then(|| MeterReading {
        current_ma: [7, 9, 11].map(|at| deciamps_to_ma(i32_at(meter, at))),
        voltage_v: [NOMINAL_V; 3],
        power_w: i32_at(meter, 5),
        import_wh: i64_at(meter, 1),
        export_wh: 0,
        per_phase: meter[0] & 1 != 0,
    });
    Ok(Reading::Evse(EvseReading {
        state,
        charging_enabled: control[4] != 0,
        offered_ma: deciamps_to_ma(i64::from(control[3])),
        cable_ma: deciamps_to_ma(i64::from(control[0])),
        meter,
        fail_safe: FailSafe {
            duration_s: i32_at(fail_safe, 0),
            current_ma: deciamps_to_ma(i64::from(fail_safe[2])),
        },
        rfid: decode_str(rfid).trim().to_string(),
        inputs: (has_meter[1] & 0b11) as u8,
    }))
}

/// The words that set the current limit and the enable flag. Below 6 A the
/// box cannot signal a current, so 0 mA means "disabled" with the limit
/// left at its lowest legal value.
pub fn control_words(current_ma: i64, enable: bool) -> [(u16, u16); 2] {
    let deciamps = ma_to_deciamps(current_ma).clamp(60, 630);
    [
        (REG_CURRENT_LIMIT, u16::try_from(deciamps).unwrap_or(60)),
        (REG_CHARGING_ENABLE, u16::from(enable && current_ma > 0)),
    ]
}

/// What the box holds in the registers `control_words` sets, as read by a
/// poll: someone else may have written them since.
pub fn control_words_read(reading: &EvseReading) -> [(u16, u16); 2] {
    let deciamps = ma_to_deciamps(reading.offered_ma).clamp(0, i64::from(u16::MAX));
    [
        (REG_CURRENT_LIMIT, u16::try_from(deciamps).unwrap_or(0)),
        (REG_CHARGING_ENABLE, u16::from(reading.charging_enabled)),
    ]
}

/// The words that configure the box's own fail-safe.
pub fn fail_safe_words(fail_safe: FailSafe) -> [(u16, Vec<u16>); 2] {
    let duration = u32::try_from(fail_safe.duration_s.clamp(0, i64::from(u32::MAX))).unwrap_or(0);
    let current = u16::try_from(ma_to_deciamps(fail_safe.current_ma).clamp(0, 630)).unwrap_or(0);
    [
        (
            REG_FAIL_SAFE_DURATION,
            vec![(duration >> 16) as u16, duration as u16],
        ),
        (REG_FAIL_SAFE_CURRENT, vec![current]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::powerbrain;

    fn blocks_of(bank: &crate::sim::RegisterBank) -> Vec<Vec<u16>> {
        crate::drivers::testing::blocks_of(bank, READS)
    }

    #[test]
    fn decodes_the_simulated_wallbox() {
        let mut bank = powerbrain::evse();
        bank.set_int(8092, 2);
        bank.set_int(8064, 160);
        bank.set_int(8066, -5);
        bank.set_int(8062, 3680);
        bank.set_int(8058, 12_345_678_901);
        // S0 input 2 on; bit8 (phase switching allowed) is not an input.
        bank.set_int(8113, 0b1_0000_0010);
        let Ok(Reading::Evse(r)) = decode(&blocks_of(&bank)) else {
            panic!("not an EVSE reading");
        };
        assert_eq!(r.state, EvseState::Charging);
        assert_eq!(r.inputs, 0b10);
        assert!(r.charging_enabled);
        assert_eq!(r.offered_ma, 16_000);
        assert_eq!(r.cable_ma, 32_000);
        assert_eq!(
            r.fail_safe,
            FailSafe {
                duration_s: 300,
                current_ma: 6000
            }
        );
        let m = r.meter.expect("attached meter");
        assert_eq!(m.current_ma, [16_000, -500, 0]);
        assert_eq!(m.power_w, 3680);
        assert_eq!(m.import_wh, 12_345_678_901);
        assert!(m.per_phase);
    }

    #[test]
    fn states_and_missing_meter() {
        for (raw, state) in [
            (0, EvseState::Waiting),
            (1, EvseState::Present),
            (3, EvseState::Ventilation),
            (4, EvseState::Error),
            (9, EvseState::Error),
        ] {
            let mut bank = powerbrain::evse();
            bank.set_int(8092, raw);
            bank.set_words(8112, &[0]);
            let Ok(Reading::Evse(r)) = decode(&blocks_of(&bank)) else {
                panic!("not an EVSE reading");
            };
            assert_eq!(r.state, state);
            assert_eq!(r.meter, None);
        }
    }

    #[test]
    fn an_attached_meter_without_phase_values_says_so() {
        // 8057 bit0 clear: the attached meter has no per-phase currents.
        let mut bank = powerbrain::evse();
        bank.set_words(8057, &[0b10]);
        let Ok(Reading::Evse(r)) = decode(&blocks_of(&bank)) else {
            panic!("not an EVSE reading");
        };
        assert!(!r.meter.expect("attached meter").per_phase);
    }

    #[test]
    fn short_answers_are_errors_not_panics() {
        assert!(decode(&[]).is_err());
        assert!(decode(&[vec![0; 13], vec![0; 3], vec![0; 2], vec![0], vec![0; 15]]).is_err());
        assert!(decode(&[vec![0; 13], vec![0; 3], vec![0; 6], vec![0], vec![0; 15]]).is_err());
    }

    #[test]
    fn control_words_use_tenths_of_amps() {
        assert_eq!(control_words(16_000, true), [(8093, 160), (8094, 1)]);
        assert_eq!(control_words(6_050, true), [(8093, 60), (8094, 1)]);
        assert_eq!(control_words(0, true), [(8093, 60), (8094, 0)]);
        assert_eq!(control_words(100_000, true), [(8093, 630), (8094, 1)]);
        assert_eq!(control_words(10_000, false), [(8093, 100), (8094, 0)]);
    }
}

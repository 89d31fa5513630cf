//! cFos Power Brain wallbox (`evse_powerbrain`), unit 1 on port 4701.
//! Decoded by code: the charge pilot state, the attached meter, the cable,
//! the fail-safe, the last card and the S0 inputs; told its current through
//! the volatile limit and enable registers, and its fail-safe (in flash)
//! once, when it differs from the settings.

use super::map::{concat, reg, Access, Register, RegisterMap};
use super::powerbrain::{self, CURRENT, ENERGY, METER_FLAGS, POWER, SHARED};
use super::registry::{Control, Decode, Driver, Kind, Link, Modbus};
use super::{deciamps_to_ma, ma_to_deciamps, Answers, NOMINAL_V};
use super::{DecodeError, EvseReading, EvseState, FailSafe, MeterReading, Read, Reading, Relay};
use crate::codec::decode_str;
use crate::codec::RegType::{Str, I32, I64, U16};
use Access::{Read as R, ReadWrite as RW};

pub static DRIVER: Driver = Driver {
    key: "evse_powerbrain",
    name: "cFos Power Brain Wallbox",
    kind: Kind::Wallbox,
    maker: "cFos",
    device: "Power Brain",
    link: Link::Modbus(Modbus {
        map: &MAP,
        reads: READS,
        decode: Decode::Code(decode),
        identify: Some(powerbrain::IDENTIFY),
        control: Some(&Control {
            words: |current_ma, enable| control_words(current_ma, enable).to_vec(),
            read_back: |reading| control_words_read(reading).to_vec(),
            written_ma,
            fail_safe: Some(|fail_safe| fail_safe_words(fail_safe).to_vec()),
            phases: Some(|one_phase| vec![relay_word(one_phase)]),
            wake: Some(|| vec![wake_word()]),
        }),
        // The last card read is a credential.
        secret: &[LAST_RFID],
    }),
};

// The registers this driver reads or writes.
const FAIL_SAFE_DURATION: Register = reg("fail_safe_duration", 8083, I32, RW, "s");
const FAIL_SAFE_CURRENT: Register = reg("fail_safe_current", 8085, U16, RW, "0.1 A");
const CABLE_CURRENT: Register = reg("cable_current", 8090, U16, R, "0.1 A");
/// 0 A, 1 B, 2 C, 3 D, other: error.
const CHARGE_PILOT_STATE: Register = reg("charge_pilot_state", 8092, U16, R, "0 A .. 5 F");
/// Volatile: safe to write every cycle.
pub const CURRENT_LIMIT: Register = reg("charging_cur_limit", 8093, U16, RW, "0.1 A");
pub const CHARGING_ENABLE: Register = reg("charging_enable", 8094, U16, RW, "0/1");
const LAST_CARD: Register = reg("last_rfid", 8096, Str(15), R, "hex text");
/// Whether a meter is attached (its block is valid only then).
const HAS_METER: Register = reg("has_meter", 8112, U16, R, "0/1");
/// bit0/bit1: S0 input 1/2 is on; bit8: switching 1/3 phases while a
/// car is plugged in is allowed.
const S0_INPUTS: Register = reg("s0_inputs", 8113, U16, R, "bit field");
/// Write: charge pilot off for N seconds (wakes a sleeping car); read:
/// seconds left.
const DISCONNECT_CP: Register = reg("disconnect_cp", 8086, U16, RW, "s");
/// 0 = three-phase contactor, 1 = one-phase contactor.
const RELAY_SELECT: Register = reg("relay_select", 8087, U16, RW, "0 three-phase, 1 one-phase");
/// 8113 bit 8.
const PHASE_SWITCH_ALLOWED: u16 = 1 << 8;
/// How long the charge pilot goes off to wake a car, s (as evcc does).
const WAKE_CP_OFF_S: u16 = 5;

pub const METER_BLOCK: Read = Read::holding(METER_FLAGS, 13);
pub const FAIL_SAFE_BLOCK: Read = Read::holding(FAIL_SAFE_DURATION.addr, 3);
pub const CONTROL_BLOCK: Read = Read::holding(CABLE_CURRENT.addr, 6);
/// `has_meter` and `s0_inputs`.
pub const HAS_METER_BLOCK: Read = Read::holding(HAS_METER.addr, 2);
pub const LAST_RFID: Read = Read::holding(LAST_CARD.addr, 15);
/// `disconnect_cp` and `relay_select`.
pub const RELAY_BLOCK: Read = Read::holding(DISCONNECT_CP.addr, 2);

pub const READS: &[Read] = &[
    METER_BLOCK,
    FAIL_SAFE_BLOCK,
    CONTROL_BLOCK,
    HAS_METER_BLOCK,
    LAST_RFID,
    RELAY_BLOCK,
];

pub fn decode(blocks: &[Vec<u16>]) -> Result<Reading, DecodeError> {
    let at = Answers::new(READS, blocks)?;
    let state = match at.u16(CHARGE_PILOT_STATE.addr)? {
        0 => EvseState::Waiting,
        1 => EvseState::Present,
        2 => EvseState::Charging,
        3 => EvseState::Ventilation,
        _ => EvseState::Error,
    };
    let meter = if at.u16(HAS_METER.addr)? != 0 {
        let block = powerbrain::meter_block(&at)?;
        Some(MeterReading {
            current_ma: block.current_ma,
            // The attached meter has no voltage registers.
            voltage_v: [NOMINAL_V; 3],
            power_w: block.power_w,
            import_wh: block.import_wh,
            export_wh: 0,
            per_phase: block.per_phase,
        storage: None,
})
    } else {
        None
    };
    let deciamps = |addr| at.u16(addr).map(|v| deciamps_to_ma(i64::from(v)));
    Ok(Reading::Evse(EvseReading {
        state,
        charging_enabled: at.u16(CHARGING_ENABLE.addr)? != 0,
        offered_ma: deciamps(CURRENT_LIMIT.addr)?,
        cable_ma: deciamps(CABLE_CURRENT.addr)?,
        meter,
        fail_safe: FailSafe {
            duration_s: at.i32(FAIL_SAFE_DURATION.addr)?,
            current_ma: deciamps(FAIL_SAFE_CURRENT.addr)?,
        },
        rfid: decode_str(at.words(LAST_RFID.addr, LAST_RFID.count)?)
            .trim()
            .to_string(),
        inputs: (at.u16(S0_INPUTS.addr)? & 0b11) as u8,
        relay: Some(Relay {
            one_phase: at.u16(RELAY_SELECT.addr)? == 1,
            switch_allowed: at.u16(S0_INPUTS.addr)? & PHASE_SWITCH_ALLOWED != 0,
            cp_off_s: at.u16(DISCONNECT_CP.addr)?,
        }),
        transaction_start_wh: None,
    }))
}

/// The word that sets the 1p/3p relay.
pub fn relay_word(one_phase: bool) -> (u16, u16) {
    (RELAY_SELECT.addr, u16::from(one_phase))
}

/// The word that switches the charge pilot off for a moment, which wakes
/// a car that fell asleep.
pub fn wake_word() -> (u16, u16) {
    (DISCONNECT_CP.addr, WAKE_CP_OFF_S)
}

/// The words that set the current limit and the enable flag. Below 6 A the
/// box cannot signal a current, so 0 mA means "disabled" with the limit
/// left at its lowest legal value.
pub fn control_words(current_ma: i64, enable: bool) -> [(u16, u16); 2] {
    let deciamps = ma_to_deciamps(current_ma).clamp(60, 630);
    [
        (CURRENT_LIMIT.addr, u16::try_from(deciamps).unwrap_or(60)),
        (CHARGING_ENABLE.addr, u16::from(enable && current_ma > 0)),
    ]
}

/// What the box holds in the registers `control_words` sets, as read by a
/// poll: someone else may have written them since.
pub fn control_words_read(reading: &EvseReading) -> [(u16, u16); 2] {
    let deciamps = ma_to_deciamps(reading.offered_ma).clamp(0, i64::from(u16::MAX));
    [
        (CURRENT_LIMIT.addr, u16::try_from(deciamps).unwrap_or(0)),
        (CHARGING_ENABLE.addr, u16::from(reading.charging_enabled)),
    ]
}

/// The current in force from what was last written to the limit and the
/// enable flag: 0 while disabled; unknown until both were written.
fn written_ma(written: &dyn Fn(u16) -> Option<u16>) -> Option<i64> {
    match (written(CURRENT_LIMIT.addr), written(CHARGING_ENABLE.addr)) {
        (Some(deciamps), Some(1)) => Some(deciamps_to_ma(i64::from(deciamps))),
        (Some(_), Some(_)) => Some(0),
        _ => None,
    }
}

/// The words that configure the box's own fail-safe.
pub fn fail_safe_words(fail_safe: FailSafe) -> [(u16, Vec<u16>); 2] {
    let duration = u32::try_from(fail_safe.duration_s.clamp(0, i64::from(u32::MAX))).unwrap_or(0);
    let current = u16::try_from(ma_to_deciamps(fail_safe.current_ma).clamp(0, 630)).unwrap_or(0);
    [
        (
            FAIL_SAFE_DURATION.addr,
            vec![(duration >> 16) as u16, duration as u16],
        ),
        (FAIL_SAFE_CURRENT.addr, vec![current]),
    ]
}

const OWN: [Register; 30] = [
    // The EVSE page does not list 8044–8047 and 8050, but the HTTP API's own
    // examples write them on `device=evse`, and those examples are the contract.
    reg("phases", 8044, U16, RW, "bit0 L1, bit1 L2, bit2 L3"),
    reg("voltage_l1", 8045, U16, RW, "V"),
    reg("voltage_l2", 8046, U16, RW, "V"),
    reg("voltage_l3", 8047, U16, RW, "V"),
    reg("pulses", 8050, I64, RW, "pulses"),
    // The attached ("pinned") meter, valid when has_meter (8112) is 1.
    reg("meter_flags", METER_FLAGS, U16, R, "bit0 per-phase values"),
    reg("energy", ENERGY, I64, R, "Wh"),
    reg("power", POWER, I32, R, "W"),
    reg("current_l1", CURRENT[0], I32, R, "0.1 A"),
    reg("current_l2", CURRENT[1], I32, R, "0.1 A"),
    reg("current_l3", CURRENT[2], I32, R, "0.1 A"),
    // Flash-backed: write rarely.
    reg("def_fixed_current", 8080, U16, RW, "0.1 A"),
    reg("def_charg_cur_limit", 8081, U16, RW, "0.1 A"),
    reg("def_charging_enable", 8082, U16, RW, "0/1"),
    FAIL_SAFE_DURATION,
    FAIL_SAFE_CURRENT,
    // Volatile: safe to write every cycle.
    DISCONNECT_CP,
    RELAY_SELECT,
    reg("relay2", 8088, U16, RW, "0/1"),
    CABLE_CURRENT,
    reg("fixed_current", 8091, U16, RW, "0.1 A"),
    CHARGE_PILOT_STATE,
    CURRENT_LIMIT,
    CHARGING_ENABLE,
    reg("charging_current", 8095, U16, R, "0.1 A"),
    LAST_CARD,
    reg("detected_rfids", 8111, U16, R, "count"),
    HAS_METER,
    S0_INPUTS,
    reg("count_restart", 8120, I32, RW, "restarts"),
];

static REGISTERS: [Register; 39] = concat(SHARED, OWN);

/// The registers of a Power Brain's wallbox.
pub static MAP: RegisterMap = RegisterMap {
    registers: &REGISTERS,
};

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
        let relay = r.relay.expect("a relay");
        assert!(relay.switch_allowed && !relay.one_phase);
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
        assert!(decode(&[
            vec![0; 13],
            vec![0; 3],
            vec![0; 6],
            vec![0; 2],
            vec![0; 15],
            vec![0]
        ])
        .is_err());
    }

    #[test]
    fn control_words_use_tenths_of_amps() {
        assert_eq!(control_words(16_000, true), [(8093, 160), (8094, 1)]);
        assert_eq!(control_words(6_050, true), [(8093, 60), (8094, 1)]);
        assert_eq!(control_words(0, true), [(8093, 60), (8094, 0)]);
        assert_eq!(control_words(100_000, true), [(8093, 630), (8094, 1)]);
        assert_eq!(control_words(10_000, false), [(8093, 100), (8094, 0)]);
    }

    #[test]
    fn the_relay_and_the_wake_up_are_one_word_each() {
        assert_eq!(relay_word(true), (8087, 1));
        assert_eq!(relay_word(false), (8087, 0));
        assert_eq!(wake_word(), (8086, 5));
        let mut bank = powerbrain::evse();
        bank.set_int(8087, 1);
        bank.set_int(8086, 3);
        let Ok(Reading::Evse(r)) = decode(&blocks_of(&bank)) else {
            panic!("not an EVSE reading");
        };
        let relay = r.relay.expect("a relay");
        // The simulated Power Brain allows switching (8113 bit 8).
        assert!(relay.one_phase && relay.switch_allowed);
        assert_eq!(relay.cp_off_s, 3);
    }
}

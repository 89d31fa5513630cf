//! The register contents of a simulated cFos Power Brain: the values of the
//! HTTP API documentation's examples (serial `fcf5-c46d-310c`, name
//! `cFos Power Brain`, …), so every documented answer can be reproduced.

use std::ops::RangeInclusive;

use super::bank::RegisterBank;
use crate::drivers::{evse_powerbrain, meter_powerbrain};

/// Unit ids and port offsets of the three devices of one Power Brain.
pub const EVSE_UNIT: u8 = 1;
pub const METER1_UNIT: u8 = 2;
pub const METER2_UNIT: u8 = 3;

/// The register block of every Power Brain device: the register page
/// lists 8000–8121. The box answers a read anywhere in it, words it does
/// not use included, as 0: its documented answers read reserved words
/// (`padding_1` 8007, `input` 8041) and write-only ones (8070, 8071) as 0,
/// and its EVSE takes writes to 8044–8050, which only the meter page lists.
/// So a poll is one read over the whole block, as the read planner asks
/// first.
pub const REGISTER_BLOCK: RangeInclusive<u16> = 8000..=8121;

fn identity(bank: &mut RegisterBank) {
    bank.set_words(8000, &[0xcf05, 0x0000]);
    bank.set_int(8002, 1);
    bank.set_int(8003, 0x101);
    bank.set_words(8004, &[0x0100, 0x0000]);
    bank.set_int(8006, 0x100);
    bank.set_str(8008, "fcf5-c46d-310c");
    bank.set_str(8016, "cFos Power Brain");
}

/// An S0 meter (`which` = 1 or 2) with nothing counted yet.
pub fn s0_meter(which: u8) -> RegisterBank {
    let mut bank = RegisterBank::new(&meter_powerbrain::MAP).answering_all_of(REGISTER_BLOCK);
    identity(&mut bank);
    // The documented `read=all` of meter 2 shows 41 in 8040.
    bank.set_int(8040, 39 + i64::from(which));
    bank.set_int(8041, 1);
    bank.set_int(8042, 1000);
    bank.set_int(8044, 1);
    for a in 8045..=8047 {
        bank.set_int(a, 230);
    }
    // No pulse seen yet: the power is unknown, which the device reports as -1.
    bank.set_int(8062, -1);
    bank
}

/// The EVSE: no car, 16 A limit, charging enabled, an attached meter, a
/// 32 A cable, and the factory fail-safe (300 s, 6 A).
pub fn evse() -> RegisterBank {
    let mut bank = RegisterBank::new(&evse_powerbrain::MAP).answering_all_of(REGISTER_BLOCK);
    identity(&mut bank);
    bank.set_int(8040, i64::from(EVSE_UNIT));
    bank.set_int(8044, 7);
    for a in 8045..=8047 {
        bank.set_int(a, 230);
    }
    bank.set_int(8057, 1);
    bank.set_int(8081, 160);
    bank.set_int(8082, 1);
    bank.set_int(8083, 300);
    bank.set_int(8085, 60);
    bank.set_int(8090, 320);
    bank.set_int(8092, 0);
    bank.set_int(8093, 160);
    bank.set_int(8094, 1);
    bank.set_int(8112, 1);
    // Switching 1/3 phases with a car plugged in is allowed.
    bank.set_int(8113, 1 << 8);
    bank
}

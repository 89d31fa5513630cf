//! What the cFos Power Brain's wallbox (`evse_powerbrain.rs`) and S0 meters
//! (`meter_powerbrain.rs`) share: the identity registers 8000–8040, which
//! give the `model`, and the layout of the meter block at 8057–8069 (an S0
//! meter's own, or the meter attached to the wallbox).
//!
//! Source: the cFos Power Brain Modbus register page (shared registers
//! 8000–8040, S0 meters 8041–8071, EVSE 8057–8120).

use super::map::{reg, Access, Register};
use super::registry::Identify;
use super::{deciamps_to_ma, Answers, DecodeError, Read};
use crate::codec::decode_str;
use crate::codec::RegType::{Str, I32, U16, U32};

/// The identity block, read once when the device starts.
pub const IDENTITY_BLOCK: Read = Read::holding(8000, 32);

/// How a Power Brain device says what it is.
pub const IDENTIFY: Identify = Identify {
    block: IDENTITY_BLOCK,
    model: model_from_identity,
};

/// Registers 8000–8040, common to the S0 meters and the EVSE.
pub const SHARED: [Register; 9] = [
    reg(
        "vendor_id",
        8000,
        I32,
        Access::Read,
        "0xcf05 in the high word",
    ),
    reg("product_id", 8002, U16, Access::Read, ""),
    reg("device_id", 8003, U16, Access::Read, ""),
    // 8004 is two words (major.minor); the page also names 8005
    // `product_build`, which overlaps it, so `read=all` skips 8005.
    reg("product_version", 8004, U32, Access::Read, "major.minor"),
    reg("mapping_version", 8006, U16, Access::Read, "major.minor"),
    reg("padding_1", 8007, U16, Access::Read, ""),
    reg("serial_no", 8008, Str(8), Access::Read, "text"),
    reg("name", 8016, Str(16), Access::Read, "text"),
    reg("slave_id", 8040, U16, Access::ReadWrite, ""),
];

/// The meter block: bit0 of the flags says the currents are real
/// per-phase values.
pub const METER_FLAGS: u16 = 8057;
/// Energy, i64 Wh.
pub const ENERGY: u16 = 8058;
/// Power, i32 W (signed).
pub const POWER: u16 = 8062;
/// Current L1, L2, L3, i32 0.1 A.
pub const CURRENT: [u16; 3] = [8064, 8066, 8068];

/// What the meter block holds, in daemon units (voltages aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeterBlock {
    pub current_ma: [i64; 3],
    pub power_w: i64,
    pub import_wh: i64,
    pub per_phase: bool,
}

/// The meter block of a poll's answers.
pub fn meter_block(at: &Answers<'_>) -> Result<MeterBlock, DecodeError> {
    let mut current_ma = [0; 3];
    for (ma, addr) in current_ma.iter_mut().zip(CURRENT) {
        *ma = deciamps_to_ma(at.i32(addr)?);
    }
    Ok(MeterBlock {
        current_ma,
        power_w: at.i32(POWER)?,
        import_wh: at.i64(ENERGY)?,
        per_phase: at.u16(METER_FLAGS)? & 1 != 0,
    })
}

/// `manufacturer,device,device version,firmware version,serial` from the
/// identity block, e.g. `cFos,Power Brain,1.1,1.0,fcf5-c46d-310c` (the
/// box names itself "cFos Power Brain"; its vendor id 0xcf05 is cFos).
/// Returns `None` when the block is not a Power Brain's.
pub fn model_from_identity(words: &[u16]) -> Option<String> {
    if words.len() < usize::from(IDENTITY_BLOCK.count) || words[0] != 0xcf05 {
        return None;
    }
    let major_minor = |w: u16| format!("{}.{}", w >> 8, w & 0xff);
    let device_version = major_minor(words[3]);
    let product_version = major_minor(words[4]);
    let serial = decode_str(&words[8..16]);
    let name = decode_str(&words[16..32]);
    let device = name.strip_prefix("cFos ").unwrap_or(&name);
    Some(super::model_text(
        "cFos",
        device,
        &device_version,
        &product_version,
        &serial,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::powerbrain;

    #[test]
    fn model_of_the_simulated_power_brain() {
        let words = powerbrain::s0_meter(1)
            .read(IDENTITY_BLOCK.addr, IDENTITY_BLOCK.count)
            .unwrap();
        assert_eq!(
            model_from_identity(&words).as_deref(),
            Some("cFos,Power Brain,1.1,1.0,fcf5-c46d-310c")
        );
        assert_eq!(model_from_identity(&[0; 32]), None);
        assert_eq!(model_from_identity(&[0xcf05]), None);
    }
}

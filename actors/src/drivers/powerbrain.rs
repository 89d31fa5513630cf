//! cFos Power Brain identity: what the `model` field shows.
//! Registers 8000–8031 (shared by the EVSE and the S0 meters) in one read.

use crate::codec::decode_str;

/// First register and length of the identity block.
pub const IDENTITY_BLOCK: (u16, u16) = (8000, 32);

/// `manufacturer,device,device version,firmware version,serial` from the
/// identity block, e.g. `cFos,Power Brain,1.1,1.0,fcf5-c46d-310c` (the
/// box names itself "cFos Power Brain"; its vendor id 0xcf05 is cFos).
/// Returns `None` when the block is not a Power Brain's.
pub fn model_from_identity(words: &[u16]) -> Option<String> {
    if words.len() < usize::from(IDENTITY_BLOCK.1) || words[0] != 0xcf05 {
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
            .read(IDENTITY_BLOCK.0, IDENTITY_BLOCK.1)
            .unwrap();
        assert_eq!(
            model_from_identity(&words).as_deref(),
            Some("cFos,Power Brain,1.1,1.0,fcf5-c46d-310c")
        );
        assert_eq!(model_from_identity(&[0; 32]), None);
        assert_eq!(model_from_identity(&[0xcf05]), None);
    }
}

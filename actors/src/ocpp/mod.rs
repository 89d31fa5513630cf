//! OCPP 1.6J: chargebrain as the central system of OCPP charge points.
//! Each configured `evse_ocpp` wallbox has a device actor (`wallbox.rs`)
//! to which its charge point's WebSocket connection is attached; the
//! binary's server (`src/ocpp.rs`) does the upgrade. The frames, the
//! messages, the connector's state and the charging profiles are pure code.

pub mod charge_point;
pub mod frame;
pub mod messages;
pub mod profiles;
pub mod wallbox;

pub use wallbox::{
    Alive, Attach, Detached, Inbound, OcppWallbox, RemoteStart, RemoteStop, ResetChargePoint,
};

/// The WebSocket subprotocol of OCPP 1.6J.
pub const SUBPROTOCOL: &str = "ocpp1.6";

/// Whether `id` can be a charge point id: 1 to 48 characters (OCPP's
/// identity string), letters, digits and `-_.:`, so it is one path segment
/// of the URL as written.
pub fn valid_charge_point_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 48
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// An `evse_ocpp` device's address: a charge point id that no other OCPP
/// wallbox has (one connection per charge point, and chargebrain manages
/// one connector of each).
pub fn check_address(
    devices: &[std::sync::Arc<crate::config::DeviceSettings>],
    index: usize,
    d: &crate::config::DeviceSettings,
) -> Result<(), String> {
    let id = d.address.trim();
    if !valid_charge_point_id(id) {
        return Err(format!(
            "'{id}' is no charge point id (1 to 48 letters, digits, '-', '_', '.', ':')"
        ));
    }
    if let Some(other) = devices
        .iter()
        .take(index)
        .find(|o| o.dev_type.is_ocpp() && o.address.trim() == id)
    {
        return Err(format!(
            "charge point {id} is wallbox {} already (one connector per charge point)",
            other.dev_id
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charge_point_ids_are_one_path_segment() {
        assert!(valid_charge_point_id("CP-1_a.b:2"));
        for bad in ["", "a/b", "a b", "ä", &"x".repeat(49)] {
            assert!(!valid_charge_point_id(bad), "{bad}");
        }
    }
}

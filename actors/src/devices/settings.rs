//! How a device is declared in settings (and, later, through the API).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::DeviceType;

/// One `[[devices]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSettings {
    /// Unique id: `E<n>` for EVSEs, `M<n>` for meters.
    pub dev_id: String,
    /// Device type key, e.g. `evse_powerbrain`.
    pub dev_type: DeviceType,
    /// Name shown to people.
    #[serde(default)]
    pub name: String,
    /// Another name for `cmd=modbus&device=`, e.g. `evse` or `meter1`.
    #[serde(default)]
    pub alias: Option<String>,
    /// `host:port` (Modbus TCP), a serial line `/dev/ttyUSB0,9600,8,n,1`
    /// (Modbus RTU), or `evse`/`meter1`/`meter2` for the local Power Brain.
    pub address: String,
    /// Modbus unit (slave) id, 1 to 247.
    #[serde(default = "default_unit_id")]
    pub id: u8,
    /// A disabled device is kept but not controlled.
    #[serde(default = "enabled_by_default")]
    pub device_enabled: bool,
}

fn default_unit_id() -> u8 {
    1
}

fn enabled_by_default() -> bool {
    true
}

/// A device declaration that cannot be used, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("devices[{index}].{field}: {reason}")]
pub struct DeviceSettingsError {
    pub index: usize,
    pub field: &'static str,
    pub reason: String,
}

/// Checks every declaration and that dev_ids and aliases are unique.
pub fn validate_devices(devices: &[DeviceSettings]) -> Result<(), DeviceSettingsError> {
    let mut names = HashSet::new();
    for (index, d) in devices.iter().enumerate() {
        let fail = |field, reason: String| DeviceSettingsError {
            index,
            field,
            reason,
        };
        let prefix = if d.dev_type.is_evse() { 'E' } else { 'M' };
        let rest = d.dev_id.strip_prefix(prefix).unwrap_or_default();
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
            return Err(fail(
                "dev_id",
                format!(
                    "'{}' must be {prefix} followed by a number for a {}",
                    d.dev_id,
                    d.dev_type.key()
                ),
            ));
        }
        if !(1..=247).contains(&d.id) {
            return Err(fail("id", format!("unit id {} is not 1 to 247", d.id)));
        }
        if d.address.trim().is_empty() {
            return Err(fail("address", "is empty".into()));
        }
        for name in std::iter::once(&d.dev_id).chain(d.alias.as_ref()) {
            if !names.insert(name.to_ascii_lowercase()) {
                let field = if *name == d.dev_id { "dev_id" } else { "alias" };
                return Err(fail(field, format!("'{name}' is used by another device")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evse(dev_id: &str) -> DeviceSettings {
        DeviceSettings {
            dev_id: dev_id.into(),
            dev_type: DeviceType::EvsePowerbrain,
            name: String::new(),
            alias: None,
            address: "evse".into(),
            id: 1,
            device_enabled: true,
        }
    }

    #[test]
    fn checks_prefix_unit_and_uniqueness() {
        assert_eq!(validate_devices(&[evse("E1"), evse("E2")]), Ok(()));
        assert_eq!(
            validate_devices(&[evse("M1")]).map_err(|e| e.field),
            Err("dev_id")
        );
        assert_eq!(
            validate_devices(&[evse("E")]).map_err(|e| e.field),
            Err("dev_id")
        );
        assert_eq!(
            validate_devices(&[evse("E1"), evse("e1")]).map_err(|e| e.index),
            Err(1)
        );
        let mut aliased = evse("E2");
        aliased.alias = Some("E1".into());
        assert_eq!(
            validate_devices(&[evse("E1"), aliased]).map_err(|e| e.field),
            Err("alias")
        );
        let mut broadcast = evse("E1");
        broadcast.id = 0;
        assert_eq!(
            validate_devices(&[broadcast]).map_err(|e| e.field),
            Err("id")
        );
    }
}

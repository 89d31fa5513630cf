//! The device types chargebrain knows, and what each one is.

use serde::{Deserialize, Serialize};

use crate::drivers::{evse_powerbrain, meter_powerbrain, DecodeError, Read, Reading};
use crate::registers::{RegisterMap, POWER_BRAIN_EVSE, POWER_BRAIN_METER};

/// A device type key as used by the API (`dev_type`) and settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceType {
    /// The EVSE (wallbox) of a cFos Power Brain.
    EvsePowerbrain,
    /// An S0 meter input of a cFos Power Brain.
    MeterPowerbrain,
}

impl DeviceType {
    pub const ALL: [DeviceType; 2] = [DeviceType::EvsePowerbrain, DeviceType::MeterPowerbrain];

    /// The API key, e.g. `evse_powerbrain`.
    pub fn key(self) -> &'static str {
        match self {
            DeviceType::EvsePowerbrain => "evse_powerbrain",
            DeviceType::MeterPowerbrain => "meter_powerbrain",
        }
    }

    /// The name shown to people.
    pub fn display_name(self) -> &'static str {
        match self {
            DeviceType::EvsePowerbrain => "cFos Power Brain Wallbox",
            DeviceType::MeterPowerbrain => "cFos Power Brain S0 Meter",
        }
    }

    pub fn is_evse(self) -> bool {
        matches!(self, DeviceType::EvsePowerbrain)
    }

    /// The registers `cmd=modbus&read=all` lists, and against which writes
    /// are checked.
    pub fn register_map(self) -> &'static RegisterMap {
        match self {
            DeviceType::EvsePowerbrain => &POWER_BRAIN_EVSE,
            DeviceType::MeterPowerbrain => &POWER_BRAIN_METER,
        }
    }

    /// The Modbus reads of one poll.
    pub fn reads(self) -> &'static [Read] {
        match self {
            DeviceType::EvsePowerbrain => evse_powerbrain::READS,
            DeviceType::MeterPowerbrain => meter_powerbrain::READS,
        }
    }

    /// Turns the answers to `reads()` into a reading.
    pub fn decode(self, blocks: &[Vec<u16>]) -> Result<Reading, DecodeError> {
        match self {
            DeviceType::EvsePowerbrain => evse_powerbrain::decode(blocks),
            DeviceType::MeterPowerbrain => meter_powerbrain::decode(blocks),
        }
    }
}

//! The device types chargebrain knows, and what each one is.

use serde::{Deserialize, Serialize};

use crate::drivers::{
    evse_powerbrain, meter_orno_we516, meter_powerbrain, meter_sdm630, meter_sdm72dm, DecodeError,
    Read, Reading,
};
use crate::registers::{
    RegisterMap, EASTRON_SDM630, EASTRON_SDM72DM_V1, ORNO_WE516, POWER_BRAIN_EVSE,
    POWER_BRAIN_METER,
};

/// A device type key as used by the API (`dev_type`) and settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceType {
    /// The EVSE (wallbox) of a cFos Power Brain.
    EvsePowerbrain,
    /// An S0 meter input of a cFos Power Brain.
    MeterPowerbrain,
    /// Eastron SDM630, SDM630MCT or SDM72D-M V2 (input registers, float32).
    MeterSdm630,
    /// Eastron SDM72D-M V1: total power and energies only.
    MeterSdm72dm,
    /// Orno OR-WE-516 (holding registers, float32, kW).
    MeterOrnoWe516,
    /// A group of wallboxes with its own per-phase limit; no hardware.
    EvseGroup,
    /// A meter whose values are pushed over HTTP (`set_ajax_meter`).
    MeterAjax,
    /// A wallbox whose values are pushed over HTTP (`set_ajax_evse`).
    EvseAjax,
}

impl DeviceType {
    pub const ALL: [DeviceType; 8] = [
        DeviceType::EvsePowerbrain,
        DeviceType::MeterPowerbrain,
        DeviceType::MeterSdm630,
        DeviceType::MeterSdm72dm,
        DeviceType::MeterOrnoWe516,
        DeviceType::EvseGroup,
        DeviceType::MeterAjax,
        DeviceType::EvseAjax,
    ];

    /// The API key, e.g. `evse_powerbrain`.
    pub fn key(self) -> &'static str {
        match self {
            DeviceType::EvsePowerbrain => "evse_powerbrain",
            DeviceType::MeterPowerbrain => "meter_powerbrain",
            DeviceType::MeterSdm630 => "meter_sdm630",
            DeviceType::MeterSdm72dm => "meter_sdm72dm",
            DeviceType::MeterOrnoWe516 => "meter_orno_we516",
            DeviceType::EvseGroup => "evse_group",
            DeviceType::MeterAjax => "meter_ajax",
            DeviceType::EvseAjax => "evse_ajax",
        }
    }

    /// The key with its article, for messages: `an evse_powerbrain`,
    /// `a meter_sdm630`.
    pub fn with_article(self) -> String {
        let key = self.key();
        let article = if key.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        format!("{article} {key}")
    }

    /// The name shown to people.
    pub fn display_name(self) -> &'static str {
        match self {
            DeviceType::EvsePowerbrain => "cFos Power Brain Wallbox",
            DeviceType::MeterPowerbrain => "cFos Power Brain S0 Meter",
            DeviceType::MeterSdm630 => "Eastron SDM630 / SDM630MCT / SDM72DM-V2",
            DeviceType::MeterSdm72dm => "Eastron SDM72DM V1",
            DeviceType::MeterOrnoWe516 => "Orno OR-WE-516",
            DeviceType::EvseGroup => "EVSE group",
            DeviceType::MeterAjax | DeviceType::EvseAjax => "HTTP input",
        }
    }

    /// The `model` of a device of this type that does not identify itself
    /// (`manufacturer,device,,,`); a Power Brain reads its own.
    pub fn model(self) -> String {
        let (maker, device) = match self {
            DeviceType::EvsePowerbrain | DeviceType::MeterPowerbrain => ("cFos", "Power Brain"),
            DeviceType::MeterSdm630 => ("Eastron", "SDM630 / SDM630MCT / SDM72DM-V2"),
            DeviceType::MeterSdm72dm => ("Eastron", "SDM72DM V1"),
            DeviceType::MeterOrnoWe516 => ("Orno", "OR-WE-516"),
            DeviceType::EvseGroup => ("", "EVSE group"),
            DeviceType::MeterAjax | DeviceType::EvseAjax => ("", "HTTP input"),
        };
        crate::drivers::model_text(maker, device, "", "", "")
    }

    pub fn is_evse(self) -> bool {
        match self {
            DeviceType::EvsePowerbrain | DeviceType::EvseGroup | DeviceType::EvseAjax => true,
            DeviceType::MeterPowerbrain
            | DeviceType::MeterSdm630
            | DeviceType::MeterSdm72dm
            | DeviceType::MeterOrnoWe516
            | DeviceType::MeterAjax => false,
        }
    }

    /// The registers `cmd=modbus&read=all` lists, and against which writes
    /// are checked. For the Eastron meters these are input registers.
    pub fn register_map(self) -> &'static RegisterMap {
        match self {
            DeviceType::EvsePowerbrain => &POWER_BRAIN_EVSE,
            DeviceType::MeterPowerbrain => &POWER_BRAIN_METER,
            DeviceType::MeterSdm630 => &EASTRON_SDM630,
            DeviceType::MeterSdm72dm => &EASTRON_SDM72DM_V1,
            DeviceType::MeterOrnoWe516 => &ORNO_WE516,
            DeviceType::EvseGroup | DeviceType::MeterAjax | DeviceType::EvseAjax => &NO_REGISTERS,
        }
    }

    /// The Modbus reads of one poll.
    pub fn reads(self) -> &'static [Read] {
        match self {
            DeviceType::EvsePowerbrain => evse_powerbrain::READS,
            DeviceType::MeterPowerbrain => meter_powerbrain::READS,
            DeviceType::MeterSdm630 => meter_sdm630::READS,
            DeviceType::MeterSdm72dm => meter_sdm72dm::READS,
            DeviceType::MeterOrnoWe516 => meter_orno_we516::READS,
            DeviceType::EvseGroup | DeviceType::MeterAjax | DeviceType::EvseAjax => &[],
        }
    }

    /// Turns the answers to `reads()` into a reading.
    pub fn decode(self, blocks: &[Vec<u16>]) -> Result<Reading, DecodeError> {
        match self {
            DeviceType::EvsePowerbrain => evse_powerbrain::decode(blocks),
            DeviceType::MeterPowerbrain => meter_powerbrain::decode(blocks),
            DeviceType::MeterSdm630 => meter_sdm630::decode(blocks),
            DeviceType::MeterSdm72dm => meter_sdm72dm::decode(blocks),
            DeviceType::MeterOrnoWe516 => meter_orno_we516::decode(blocks),
            DeviceType::EvseGroup | DeviceType::MeterAjax | DeviceType::EvseAjax => Err(
                DecodeError::Invalid(format!("{} device has no registers", self.with_article())),
            ),
        }
    }

    /// A cFos Power Brain device (it has the identity registers 8000–8031).
    pub fn is_powerbrain(self) -> bool {
        matches!(
            self,
            DeviceType::EvsePowerbrain | DeviceType::MeterPowerbrain
        )
    }

    /// Reached over Modbus (needs an address).
    pub fn is_modbus(self) -> bool {
        !matches!(
            self,
            DeviceType::EvseGroup | DeviceType::MeterAjax | DeviceType::EvseAjax
        )
    }

    /// Its values are pushed over HTTP.
    pub fn is_http_input(self) -> bool {
        matches!(self, DeviceType::MeterAjax | DeviceType::EvseAjax)
    }
}

static NO_REGISTERS: RegisterMap = RegisterMap { registers: &[] };

/// Device types of the cFos API document that chargebrain has no driver
/// for yet, with their names there.
pub const NOT_SUPPORTED_YET: &[(&str, &str)] = &[
    ("evse_mennekes_modbus", "Heidelberg Energy Control"),
    ("meter_kostal_powermeter", "Kostal Powermeter"),
    ("meter_elenker_meter", "ModbusMeter 5A"),
];

impl std::str::FromStr for DeviceType {
    type Err = String;

    /// A type key; a type of the cFos API chargebrain lacks says so.
    fn from_str(key: &str) -> Result<Self, String> {
        if let Some(t) = DeviceType::ALL.iter().find(|t| t.key() == key) {
            return Ok(*t);
        }
        if let Some((_, name)) = NOT_SUPPORTED_YET.iter().find(|(k, _)| *k == key) {
            return Err(format!("{key} ({name}) is not supported yet"));
        }
        let known: Vec<&str> = DeviceType::ALL.iter().map(|t| t.key()).collect();
        Err(format!(
            "unknown type {key:?}; known types: {}",
            known.join(", ")
        ))
    }
}

impl<'de> Deserialize<'de> for DeviceType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let key = String::deserialize(d)?;
        key.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registers::MAX_READ_COUNT;

    #[test]
    fn serde_keys_are_the_api_keys() {
        let unknown = serde_json::from_value::<DeviceType>("meter_sdm360".into())
            .expect_err("no such type")
            .to_string();
        assert!(
            unknown.starts_with(
                "unknown type \"meter_sdm360\"; known types: evse_powerbrain, meter_powerbrain,"
            ),
            "{unknown}"
        );
        for t in DeviceType::ALL {
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::Value::from(t.key())
            );
            let back: DeviceType = serde_json::from_value(t.key().into()).unwrap();
            assert_eq!(back, t);
        }
    }

    #[test]
    fn read_all_keys_carry_the_width_of_every_wide_register() {
        for t in DeviceType::ALL {
            for r in t.register_map().registers {
                // The Power Brain's 8004 is listed without one, as cFos does.
                let seed_exception = t.is_powerbrain() && r.addr == 8004;
                if r.ty.width() > 1 && !seed_exception {
                    assert!(!r.ty.suffix().is_empty(), "{t:?} {}", r.key());
                }
            }
        }
    }

    #[test]
    fn models_have_five_fields_without_commas_inside() {
        for t in DeviceType::ALL {
            assert_eq!(t.model().split(',').count(), 5, "{t:?}: {}", t.model());
        }
        assert_eq!(
            DeviceType::MeterSdm630.model(),
            "Eastron,SDM630 / SDM630MCT / SDM72DM-V2,,,"
        );
    }

    #[test]
    fn types_of_the_api_document_without_a_driver_say_so() {
        let err = serde_json::from_value::<DeviceType>("evse_mennekes_modbus".into())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "evse_mennekes_modbus (Heidelberg Energy Control) is not supported yet"
        );
        let err = serde_json::from_value::<DeviceType>("toaster".into())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("unknown type \"toaster\"; known types: evse_powerbrain"));
    }

    #[test]
    fn messages_name_a_type_with_its_article() {
        assert_eq!(
            DeviceType::EvsePowerbrain.with_article(),
            "an evse_powerbrain"
        );
        assert_eq!(DeviceType::MeterAjax.with_article(), "a meter_ajax");
    }

    #[test]
    fn every_read_lies_inside_the_register_map() {
        for t in DeviceType::ALL {
            let map = t.register_map();
            for r in t.reads() {
                assert!(r.count > 0 && r.count <= MAX_READ_COUNT, "{t:?} {r:?}");
                for a in r.addr..r.addr + r.count {
                    assert!(map.covering(a).is_some(), "{t:?}: {a:#x} not in map");
                }
            }
        }
    }

    #[test]
    fn all_zero_answers_decode_to_the_right_kind_of_reading() {
        for t in DeviceType::ALL.into_iter().filter(|t| t.is_modbus()) {
            let blocks: Vec<Vec<u16>> = t
                .reads()
                .iter()
                .map(|r| vec![0; usize::from(r.count)])
                .collect();
            match t.decode(&blocks) {
                Ok(Reading::Evse(_)) => assert!(t.is_evse(), "{t:?}"),
                Ok(Reading::Meter(_)) => assert!(!t.is_evse(), "{t:?}"),
                Err(e) => panic!("{t:?}: {e}"),
            }
        }
    }
}

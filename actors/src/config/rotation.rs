//! A wallbox's `phase_rotation` setting: 0, 120 or 240 as cFos has it, or
//! `"auto"`, the rotation the cycle learns from the grid meter
//! (`crate::wiring`). Read from a number or the string, written back as
//! the same.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::codes::Rotation;

/// How a wallbox's L1/L2/L3 sit on the building's phases, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseRotation {
    /// As the installer says.
    Fixed(Rotation),
    /// As measured, once the measurement is confident; until then the car
    /// may be on any phase.
    Auto,
}

/// Without the key: 0°, as cFos has it.
impl Default for PhaseRotation {
    fn default() -> Self {
        PhaseRotation::Fixed(Rotation::Deg0)
    }
}

impl PhaseRotation {
    /// The configured rotation; `None` for `auto`.
    pub fn fixed(self) -> Option<Rotation> {
        match self {
            PhaseRotation::Fixed(r) => Some(r),
            PhaseRotation::Auto => None,
        }
    }
}

impl From<Rotation> for PhaseRotation {
    fn from(r: Rotation) -> Self {
        PhaseRotation::Fixed(r)
    }
}

impl std::fmt::Display for PhaseRotation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PhaseRotation::Fixed(r) => write!(f, "{}", r.degrees()),
            PhaseRotation::Auto => f.write_str("auto"),
        }
    }
}

impl Serialize for PhaseRotation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PhaseRotation::Fixed(r) => s.serialize_i64(r.degrees()),
            PhaseRotation::Auto => s.serialize_str("auto"),
        }
    }
}

impl<'de> Deserialize<'de> for PhaseRotation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = PhaseRotation;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("0, 120, 240 or \"auto\"")
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<PhaseRotation, E> {
                Rotation::from_degrees(v)
                    .map(PhaseRotation::Fixed)
                    .ok_or_else(|| E::custom(format!("{v} is not 0, 120, 240 or \"auto\"")))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<PhaseRotation, E> {
                let v = i64::try_from(v)
                    .map_err(|_| E::custom(format!("{v} is not 0, 120, 240 or \"auto\"")))?;
                self.visit_i64(v)
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PhaseRotation, E> {
                if v.eq_ignore_ascii_case("auto") {
                    Ok(PhaseRotation::Auto)
                } else {
                    Err(E::custom(format!("{v:?} is not 0, 120, 240 or \"auto\"")))
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// What was learnt about a wallbox's rotation, kept in the state file so
/// that a restart does not start from nothing (see `crate::wiring`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearntRotation {
    /// The probability of 0°, 120° and 240°, in millionths.
    pub ppm: [u32; 3],
    /// Cycles whose change was evidence about it.
    pub steps: u32,
}

impl LearntRotation {
    /// The most a probability can be, in millionths.
    pub const ONE: u32 = 1_000_000;

    /// Whether the file's values can be probabilities.
    pub fn is_valid(&self) -> bool {
        self.ppm.iter().all(|p| *p <= Self::ONE) && self.ppm.iter().any(|p| *p > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_auto_are_read_and_written_back_as_given() {
        let read =
            |json: &str| serde_json::from_str::<PhaseRotation>(json).map_err(|e| e.to_string());
        assert_eq!(read("120"), Ok(PhaseRotation::Fixed(Rotation::Deg120)));
        assert_eq!(read("\"auto\""), Ok(PhaseRotation::Auto));
        assert_eq!(read("\"AUTO\""), Ok(PhaseRotation::Auto));
        assert!(read("90").is_err_and(|e| e.contains("90 is not 0, 120, 240")));
        assert!(read("\"120\"").is_err());
        assert!(read("-120").is_err());
        assert!(read("1.5").is_err());
        for r in [
            PhaseRotation::Auto,
            PhaseRotation::Fixed(Rotation::Deg0),
            PhaseRotation::Fixed(Rotation::Deg240),
        ] {
            let text = serde_json::to_string(&r).unwrap_or_default();
            assert_eq!(read(&text), Ok(r));
        }
        #[derive(Deserialize)]
        struct Device {
            phase_rotation: PhaseRotation,
        }
        let toml: Result<Device, _> = toml::from_str("phase_rotation = \"auto\"");
        assert!(toml.is_ok_and(|d| d.phase_rotation == PhaseRotation::Auto));
        let toml: Result<Device, _> = toml::from_str("phase_rotation = 240");
        assert!(toml.is_ok_and(|d| d.phase_rotation == PhaseRotation::Fixed(Rotation::Deg240)));
    }
}

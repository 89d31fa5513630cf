//! Settings the cFos API writes as numbers that mean one of a few things:
//! a meter's `role` (0 to 6) and the site's `disable_policy` (-1, 0, 1)
//! (a wallbox's `phase_rotation` is in `rotation.rs`: it may be "auto"). They become enums as they
//! are read, so a value that means nothing is refused there, naming it, and
//! the cycle never parses them again; they are written back as the numbers.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::alloc::budget::MeterRole;
pub use crate::alloc::Rotation;

/// What a disabled wallbox gets (`disable_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DisablePolicy {
    /// 0: nothing; charging is disabled.
    #[default]
    Stop,
    /// 1: its minimum current.
    Minimum,
    /// -1: no limit (its own maximum).
    NoLimit,
}

impl DisablePolicy {
    pub fn code(self) -> i64 {
        match self {
            DisablePolicy::Stop => 0,
            DisablePolicy::Minimum => 1,
            DisablePolicy::NoLimit => -1,
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            0 => Some(DisablePolicy::Stop),
            1 => Some(DisablePolicy::Minimum),
            -1 => Some(DisablePolicy::NoLimit),
            _ => None,
        }
    }
}

/// A whole number of any JSON or TOML integer type.
fn integer<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    struct Integer;
    impl serde::de::Visitor<'_> for Integer {
        type Value = i64;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a whole number")
        }

        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }

        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::custom(format!("{v} is too large")))
        }
    }
    d.deserialize_i64(Integer)
}

impl Serialize for DisablePolicy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.code())
    }
}

impl<'de> Deserialize<'de> for DisablePolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = integer(d)?;
        DisablePolicy::from_code(code)
            .ok_or_else(|| serde::de::Error::custom(format!("{code} is not -1, 0 or 1")))
    }
}

/// A meter's `role` as its number.
pub mod role {
    use super::{integer, Deserializer, MeterRole, Serializer};

    pub fn serialize<S: Serializer>(role: &MeterRole, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(role.code())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<MeterRole, D::Error> {
        let code = integer(d)?;
        MeterRole::from_code(code)
            .ok_or_else(|| serde::de::Error::custom(format!("{code} is not a meter role 0 to 6")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_that_mean_nothing_are_refused_naming_them() {
        let policy =
            |json: &str| serde_json::from_str::<DisablePolicy>(json).map_err(|e| e.to_string());
        assert_eq!(policy("-1"), Ok(DisablePolicy::NoLimit));
        assert_eq!(policy("1"), Ok(DisablePolicy::Minimum));
        assert!(policy("5").is_err_and(|e| e.contains("5 is not -1, 0 or 1")));
        assert!(policy("\"1\"").is_err());
        for p in [
            DisablePolicy::Stop,
            DisablePolicy::Minimum,
            DisablePolicy::NoLimit,
        ] {
            assert_eq!(serde_json::to_string(&p).ok(), Some(p.code().to_string()));
        }
    }
}

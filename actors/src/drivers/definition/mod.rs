//! Devices defined as data: a TOML file per device model names its
//! registers, their types and scales, and for a wallbox how it is told its
//! current. Each file becomes a registry row at start, a device type like a
//! built-in one (`meter_<name>`, `evse_<name>`): the same device actor
//! polls it, with the same timeouts, bus sharing and `read=all`.
//!
//! - `format.rs`: the file as written;
//! - `check.rs`: the checks, each error naming the file and the field;
//! - `decode.rs`: the reading from a poll's answers, and the words a
//!   wallbox is written;
//! - `library.rs`: the definitions shipped in the binary, those of the
//!   settings' directory, and the rows they become.

mod check;
mod decode;
#[cfg(test)]
mod float_meters;
pub mod format;
mod library;

use std::fmt;

pub use check::parse;
pub(crate) use check::{check_identity, Problem};
pub(crate) use decode::{in_range, signed_ma};
pub use library::{builtin, install, installed, load_dir, shipped, Loaded, BUILTIN};

use super::{Read, Table};
use format::{Byte, KindName, ValueType, WordOrder};

/// A definition that was checked: every value where it is and how it
/// scales, and the reads of one poll.
#[derive(Debug, Clone)]
pub struct Definition {
    /// The API key: `meter_<name>` or `evse_<name>`.
    pub key: String,
    /// The file it came from (for messages).
    pub file: String,
    pub kind: KindName,
    pub title: String,
    pub maker: String,
    pub device: String,
    pub source: String,
    pub readings: Readings,
    pub wallbox: Option<Wallbox>,
    /// Every register, sorted, for `read=all`.
    pub registers: Vec<NamedRegister>,
    pub reads: Vec<Read>,
    /// The most registers the device answers in one read (`max_read`).
    pub max_read: u16,
}

/// One value of a checked definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// The field it came from, e.g. `readings.current[2]`.
    pub field: String,
    pub table: Table,
    pub addr: u16,
    pub ty: ValueType,
    pub order: WordOrder,
    /// Negated when the device counts the other way round.
    pub scale: f64,
    /// The one byte of a u16 the value is, if it is not the whole word.
    pub byte: Option<Byte>,
}

#[derive(Debug, Clone, Default)]
pub struct Readings {
    pub power: Option<Value>,
    pub export_power: Option<Value>,
    pub current: Vec<Value>,
    pub voltage: Vec<Value>,
    pub phase_power: Vec<Value>,
    pub current_unsigned: bool,
    pub import_energy: Option<Value>,
    pub export_energy: Option<Value>,
    pub state: Option<Value>,
    pub cable_current: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct Wallbox {
    /// Raw state value and the API state (1–5).
    pub states: Vec<(i64, u8)>,
    pub current_limit: Value,
    pub min_ma: i64,
    pub max_ma: i64,
    pub enable: Option<(u16, u16, u16)>,
    pub fail_safe_duration: Option<Value>,
    pub fail_safe_current: Option<Value>,
    /// How often the limit is written at least.
    pub rewrite_every: Option<std::time::Duration>,
}

/// A register of the definition, for the map.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedRegister {
    pub name: String,
    pub table: Table,
    pub addr: u16,
    pub width: u16,
    pub writable: bool,
    pub unit: String,
}

/// A definition that cannot be used: its file, the field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DefinitionError {
    pub file: String,
    /// The field's path, e.g. `readings.power.scale`; empty for the file
    /// as a whole.
    pub field: String,
    pub message: String,
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "definition {}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "definition {}: {}: {}",
                self.file, self.field, self.message
            )
        }
    }
}

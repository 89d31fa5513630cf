//! The definition file as written (TOML), before it is checked: every
//! field by the name a user writes. `check.rs` turns it into a
//! [`Definition`](super::Definition) or an error naming the field.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// The type's key without its prefix: `heidelberg` is `evse_heidelberg`.
    pub name: String,
    pub kind: KindName,
    /// The name shown to people (`dev_meta`).
    pub title: String,
    pub maker: String,
    pub device: String,
    /// The maker's document (and its version) the registers were taken from.
    pub source: String,
    /// The function code of readings that name none: 3 (holding) or 4 (input).
    #[serde(default = "default_function")]
    pub function: u8,
    /// Word order of values wider than one register, unless a value says.
    #[serde(default)]
    pub word_order: WordOrder,
    /// The most registers one read may ask for (some meters take fewer
    /// than Modbus allows).
    #[serde(default = "default_max_read")]
    pub max_read: u16,
    pub readings: Readings,
    pub wallbox: Option<Wallbox>,
    /// Further registers of the device, listed by `read=all` (and read
    /// with their neighbours so that one request covers them).
    #[serde(default, rename = "register")]
    pub registers: Vec<Extra>,
}

fn default_function() -> u8 {
    3
}

fn default_max_read() -> u16 {
    60
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum KindName {
    Meter,
    Wallbox,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WordOrder {
    #[default]
    HighFirst,
    LowFirst,
}

/// The value types a register (or run of registers) holds.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
}

impl ValueType {
    /// Registers the value takes.
    pub fn width(self) -> u16 {
        match self {
            ValueType::U16 | ValueType::I16 => 1,
            ValueType::U32 | ValueType::I32 | ValueType::F32 => 2,
            ValueType::U64 | ValueType::I64 | ValueType::F64 => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ValueType::U16 => "u16",
            ValueType::I16 => "i16",
            ValueType::U32 => "u32",
            ValueType::I32 => "i32",
            ValueType::U64 => "u64",
            ValueType::I64 => "i64",
            ValueType::F32 => "f32",
            ValueType::F64 => "f64",
        }
    }
}

/// What the device measures, each where it is and how it scales to the
/// reading's unit: W for power, A for currents, V for voltages, kWh for
/// energy; the state is the raw value `wallbox.states` maps.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Readings {
    /// Total active power, signed: negative = export. A wallbox that
    /// gives only `phase_power` has their sum.
    pub power: Option<Value>,
    /// The power fed to the grid, for a meter that reports drawn and fed
    /// power in two unsigned registers: the power is `power - export_power`.
    pub export_power: Option<Value>,
    /// Per phase, L1 (L2, L3): one entry for a single-phase device.
    pub current: Option<Vec<Value>>,
    pub voltage: Option<Vec<Value>>,
    /// Per-phase power: when given, each phase current takes its sign
    /// (for meters that report currents unsigned).
    pub phase_power: Option<Vec<Value>>,
    /// The currents are unsigned: without `phase_power` they take the
    /// sign of the total power.
    #[serde(default)]
    pub current_unsigned: bool,
    pub import_energy: Option<Value>,
    pub export_energy: Option<Value>,
    /// A wallbox's state register (raw, mapped by `wallbox.states`).
    pub state: Option<Value>,
    /// A wallbox's cable capacity, A.
    pub cable_current: Option<Value>,
}

/// One value: where it is and how it scales.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Value {
    /// 3 (holding) or 4 (input); the file's `function` when absent.
    pub function: Option<u8>,
    pub addr: u16,
    #[serde(rename = "type")]
    pub ty: ValueType,
    /// Registers the value takes, if the maker's table says: checked
    /// against the type.
    pub words: Option<u16>,
    pub word_order: Option<WordOrder>,
    /// The reading's unit per raw unit (0.1 for a current in 0.1 A).
    #[serde(default = "one")]
    pub scale: f64,
    /// The device counts the other way round (negates the value).
    #[serde(default)]
    pub invert: bool,
    /// One byte of a u16 register, for a device that packs two values
    /// into one register (a state in its low byte, say).
    pub byte: Option<Byte>,
}

/// Which byte of a register a value is.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Byte {
    High,
    Low,
}

fn one() -> f64 {
    1.0
}

/// How a wallbox is told its current and what its state means.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wallbox {
    /// The state register's raw values and the API state each is (1 no
    /// vehicle, 2 vehicle present, 3 charging, 4 with ventilation,
    /// 5 error); a value not listed is an error (5).
    pub states: BTreeMap<String, u8>,
    /// The current limit: written, and read back. A holding register of
    /// one word, or an f32 of two (written in one request); scale is A per
    /// raw unit.
    pub current_limit: Value,
    /// The least and the most current the wallbox takes, A.
    pub min_current: f64,
    pub max_current: f64,
    /// A register that enables charging; without one, the limit is
    /// written as 0 to stop.
    pub enable: Option<Enable>,
    /// The wallbox's own fail-safe: after `fail_safe_duration` (scale: s
    /// per raw unit) without Modbus it allows `fail_safe_current` (A).
    pub fail_safe_duration: Option<Value>,
    pub fail_safe_current: Option<Value>,
    /// The wallbox forgets a limit that is not written again within its
    /// own validity time: the limit is then written at least this often, s.
    pub rewrite_every_s: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enable {
    pub addr: u16,
    pub on: u16,
    pub off: u16,
}

/// A register listed for `read=all` only.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extra {
    pub name: String,
    pub function: Option<u8>,
    pub addr: u16,
    #[serde(rename = "type")]
    pub ty: ValueType,
    #[serde(default)]
    pub unit: String,
}

//! The driver registry: one row per device type chargebrain knows, and the
//! `DeviceType` a device's settings name (`dev_type`), which is a handle on
//! its row. Everything else asks the row: the API's key and name, whether
//! it is a wallbox, a meter or a group, how the device is reached, and for
//! a Modbus device its register map, its reads, how its answers decode and
//! how a wallbox is told its current. A poll's reads are the registers a
//! driver needs; the row plans the requests that fetch them (`plan.rs`).
//!
//! Adding a driver: a file in `drivers/` that declares its `DRIVER` row, and
//! its module's name in the `drivers!` list of `drivers/mod.rs`, which puts
//! the row in [`REGISTRY`]. A row is plain data and function pointers, so
//! one can also be built at run time (say, from a definition file) and
//! leaked into a `&'static Driver`.

use std::fmt;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use super::http_json::JsonMeter;
use super::map::{RegisterMap, MAX_READ_COUNT};
use super::plan::{Merge, ReadPlan};
use super::{DecodeError, EvseReading, FailSafe, Read, Reading, REGISTRY};

/// Device types of the cFos API document that chargebrain has no driver
/// for yet, with their names there (no register table of the maker could
/// be found for it; README "Supported devices").
pub const NOT_SUPPORTED_YET: &[(&str, &str)] = &[("meter_elenker_meter", "ModbusMeter 5A")];

/// Earlier keys of a type, still accepted in settings: (old key, its key
/// now). The device is listed and saved under the key now.
pub const RENAMED: &[(&str, &str)] = &[("meter_sunspec_inverter", "inverter_sunspec")];

/// One row of the registry: a device type.
#[derive(Debug)]
pub struct Driver {
    /// The API key (`dev_type`), e.g. `evse_powerbrain`. Wallboxes and
    /// groups start with `evse_`, meters with `meter_`.
    pub key: &'static str,
    /// The name shown to people (`dev_meta`, `desc` when none is given).
    pub name: &'static str,
    pub kind: Kind,
    /// Maker and device of the `model` a device reports that does not
    /// identify itself.
    pub maker: &'static str,
    pub device: &'static str,
    pub link: Link,
}

/// What a device is to load management.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A wallbox: it is told a current.
    Wallbox,
    /// A meter: it is read.
    Meter,
    /// A group of wallboxes with its own limit; no hardware.
    Group,
}

/// How the daemon reaches a device.
#[derive(Debug)]
pub enum Link {
    /// Polled over Modbus (TCP or RTU): needs an address.
    Modbus(Modbus),
    /// Its values are pushed over HTTP (`set_ajax_meter`, `set_ajax_evse`).
    HttpInput,
    /// Asked over HTTP every cycle, its answer read as JSON: needs an
    /// address (a host or a base URL).
    HttpJson(&'static JsonMeter),
    /// An OCPP 1.6J charge point that connects to the daemon; `address` is
    /// its charge point id, `id` the connector.
    Ocpp,
    /// Nothing to reach.
    None,
}

/// A Modbus device: what it has, what a poll reads and how the answers
/// decode, and for a wallbox how it is told its current.
#[derive(Debug)]
pub struct Modbus {
    /// Every register of the device: `cmd=modbus&read=all` lists them and
    /// writes are checked against them.
    pub map: &'static RegisterMap,
    /// The reads of one poll.
    pub reads: &'static [Read],
    /// Turns the answers to `reads` into a reading.
    pub decode: Decode,
    /// Reads the device's own identity (its `model`), if it has one.
    pub identify: Option<Identify>,
    /// A wallbox's controls; `None` for a meter.
    pub control: Option<&'static dyn WallboxControl>,
    /// Registers whose value is a credential (a card read): only the admin
    /// may read them through `cmd=modbus`.
    pub secret: &'static [Read],
}

/// How a poll's answers become a reading.
#[derive(Debug, Clone, Copy)]
pub enum Decode {
    /// By code of the driver.
    Code(fn(&[Vec<u16>]) -> Result<Reading, DecodeError>),
    /// By a row built at run time (a device definition).
    Data(&'static dyn DecodeData),
    /// By a layout found at run time (the device actor asks `Discover`
    /// before it polls); `reads` are only where the search starts.
    Discovered(&'static dyn Discover),
}

/// A device whose registers are found at run time (a SunSpec model
/// chain): the reads that find them, one after the other, then a layout
/// that gives every poll's reads and decodes their answers.
pub trait Discover: fmt::Debug + Send + Sync {
    /// The next read, given the answers to the reads so far (in order), or
    /// the layout once they tell it.
    fn next(&self, answers: &[(Read, Vec<u16>)]) -> Result<Step, DecodeError>;
}

/// A step of finding a device's registers.
#[derive(Debug)]
pub enum Step {
    /// Read this; `what` says what it is, for a message if the device
    /// refuses it. A `refusable` read's refusal (a Modbus exception) is
    /// answered as no words: the search looks elsewhere.
    Read {
        read: Read,
        what: String,
        refusable: bool,
    },
    /// Found: poll with this.
    Found(std::sync::Arc<dyn Layout>),
}

/// Where a discovered device's values are.
pub trait Layout: fmt::Debug + Send + Sync {
    /// The reads of one poll.
    fn reads(&self) -> &[Read];
    /// The reading from the answers to `reads`.
    fn decode(&self, blocks: &[Vec<u16>]) -> Result<Reading, DecodeError>;
    /// The device's `model`, as it names itself.
    fn model(&self) -> String;
}

/// A decoder that is data, not a function: a row built at run time.
pub trait DecodeData: fmt::Debug + Send + Sync {
    fn decode(&self, reads: &[Read], blocks: &[Vec<u16>]) -> Result<Reading, DecodeError>;

    /// The most registers the device answers in one read.
    fn max_read(&self) -> u16 {
        MAX_READ_COUNT
    }
}

/// A device that says what it is: one block read, and its `model` from it.
#[derive(Debug, Clone, Copy)]
pub struct Identify {
    pub block: Read,
    /// `None` when the block is not what the driver expects.
    pub model: fn(&[u16]) -> Option<String>,
}

/// Words to write from a register on.
pub type Write = (u16, Vec<u16>);

/// The words that set a 1p/3p relay (`true`: one phase).
pub type RelayWords = fn(one_phase: bool) -> Vec<(u16, u16)>;

/// The words that wake a car.
pub type WakeWords = fn() -> Vec<(u16, u16)>;

/// How a Modbus wallbox is told its current.
#[derive(Debug, Clone, Copy)]
pub struct Control {
    /// The registers, with their words, that set a current (mA) and the
    /// enable flag. Written when they change, and now and then again.
    pub words: fn(current_ma: i64, enable: bool) -> Vec<(u16, u16)>,
    /// What the wallbox holds in those registers, from a poll's reading:
    /// someone else may have written them since.
    pub read_back: fn(&EvseReading) -> Vec<(u16, u16)>,
    /// The current (mA) in force from the words last written to those
    /// registers (`written` gives one register's); `None` until known.
    pub written_ma: fn(written: &dyn Fn(u16) -> Option<u16>) -> Option<i64>,
    /// The writes that set the wallbox's own fail-safe, if it has one
    /// (kept in flash: written once, when it differs from the settings).
    pub fail_safe: Option<fn(FailSafe) -> Vec<Write>>,
    /// The words that set the 1p/3p relay (`true`: one phase), if the
    /// wallbox has one.
    pub phases: Option<RelayWords>,
    /// The words that wake a sleeping car (the charge pilot off for a
    /// moment), if the wallbox can.
    pub wake: Option<WakeWords>,
}

/// How a Modbus wallbox is told its current: by a driver's functions
/// ([`Control`]) or by a row built at run time.
pub trait WallboxControl: fmt::Debug + Send + Sync {
    /// See [`Control::words`].
    fn words(&self, current_ma: i64, enable: bool) -> Vec<(u16, u16)>;
    /// See [`Control::read_back`].
    fn read_back(&self, reading: &EvseReading) -> Vec<(u16, u16)>;
    /// See [`Control::written_ma`].
    fn written_ma(&self, written: &dyn Fn(u16) -> Option<u16>) -> Option<i64>;
    /// The registers (first, count) of one value wider than a register
    /// among those `words` sets (an f32 limit): written in one request,
    /// never half.
    fn written_together(&self) -> Option<(u16, u16)> {
        None
    }
    /// How often the current is written at least, for a wallbox that
    /// forgets it otherwise (the device actor's own interval when none).
    fn rewrite_every(&self) -> Option<std::time::Duration> {
        None
    }
    /// Whether the wallbox has a fail-safe of its own.
    fn has_fail_safe(&self) -> bool;
    /// See [`Control::fail_safe`]; nothing without one.
    fn fail_safe_words(&self, fail_safe: FailSafe) -> Vec<Write>;
    /// See [`Control::phases`]; `None` for a wallbox without a relay.
    fn phase_words(&self, _one_phase: bool) -> Option<Vec<(u16, u16)>> {
        None
    }
    /// See [`Control::wake`]; `None` for a wallbox that cannot.
    fn wake_words(&self) -> Option<Vec<(u16, u16)>> {
        None
    }
}

impl WallboxControl for Control {
    fn words(&self, current_ma: i64, enable: bool) -> Vec<(u16, u16)> {
        (self.words)(current_ma, enable)
    }

    fn read_back(&self, reading: &EvseReading) -> Vec<(u16, u16)> {
        (self.read_back)(reading)
    }

    fn written_ma(&self, written: &dyn Fn(u16) -> Option<u16>) -> Option<i64> {
        (self.written_ma)(written)
    }

    fn has_fail_safe(&self) -> bool {
        self.fail_safe.is_some()
    }

    fn fail_safe_words(&self, fail_safe: FailSafe) -> Vec<Write> {
        self.fail_safe.map(|f| f(fail_safe)).unwrap_or_default()
    }

    fn phase_words(&self, one_phase: bool) -> Option<Vec<(u16, u16)>> {
        self.phases.map(|f| f(one_phase))
    }

    fn wake_words(&self) -> Option<Vec<(u16, u16)>> {
        self.wake.map(|f| f())
    }
}

impl Driver {
    /// The Modbus side of the row, for a Modbus device.
    pub fn modbus(&self) -> Option<&Modbus> {
        match &self.link {
            Link::Modbus(modbus) => Some(modbus),
            Link::HttpInput | Link::HttpJson(_) | Link::Ocpp | Link::None => None,
        }
    }
}

impl Modbus {
    /// The most registers the device answers in one read.
    pub fn max_read(&self) -> u16 {
        match self.decode {
            Decode::Data(data) => data.max_read(),
            Decode::Code(_) | Decode::Discovered(_) => MAX_READ_COUNT,
        }
    }

    /// The requests of one poll, merged as far as `merge` allows; no
    /// driver lists its requests itself.
    pub fn plan(&self, merge: Merge) -> ReadPlan {
        ReadPlan::new(self.reads, merge, self.max_read(), self.map)
    }

    /// Decodes the answers to `reads`.
    pub fn decode(&self, blocks: &[Vec<u16>]) -> Result<Reading, DecodeError> {
        match self.decode {
            Decode::Code(decode) => decode(blocks),
            Decode::Data(data) => data.decode(self.reads, blocks),
            Decode::Discovered(_) => Err(DecodeError::Invalid(
                "its registers are found when it is polled".into(),
            )),
        }
    }
}

/// A device type key as used by the API (`dev_type`) and settings: a
/// handle on its row of the registry.
#[derive(Clone, Copy)]
pub struct DeviceType(&'static Driver);

impl DeviceType {
    /// Every known type: the registry's, then the device definitions'.
    pub fn all() -> impl Iterator<Item = DeviceType> {
        REGISTRY
            .iter()
            .chain(super::definition::installed())
            .map(|d| DeviceType(d))
    }

    /// The type of `key`, if it is known.
    pub fn find(key: &str) -> Option<DeviceType> {
        Self::all().find(|t| t.key() == key)
    }

    /// Whether this is the type of `driver`'s row.
    pub fn is(self, driver: &Driver) -> bool {
        self.key() == driver.key
    }

    /// The type's row.
    pub fn driver(self) -> &'static Driver {
        self.0
    }

    /// The API key, e.g. `evse_powerbrain`.
    pub fn key(self) -> &'static str {
        self.0.key
    }

    /// The name shown to people.
    pub fn display_name(self) -> &'static str {
        self.0.name
    }

    pub fn kind(self) -> Kind {
        self.0.kind
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

    /// The `model` of a device of this type that does not identify itself
    /// (`manufacturer,device,,,`).
    pub fn model(self) -> String {
        super::model_text(self.0.maker, self.0.device, "", "", "")
    }

    /// A wallbox or a group: what cFos calls an EVSE (`is_evse`).
    pub fn is_evse(self) -> bool {
        matches!(self.0.kind, Kind::Wallbox | Kind::Group)
    }

    /// A wallbox (not a group).
    pub fn is_wallbox(self) -> bool {
        self.0.kind == Kind::Wallbox
    }

    pub fn is_group(self) -> bool {
        self.0.kind == Kind::Group
    }

    /// Reached over Modbus (needs an address).
    pub fn is_modbus(self) -> bool {
        self.modbus().is_some()
    }

    /// Its values are pushed over HTTP.
    pub fn is_http_input(self) -> bool {
        matches!(self.0.link, Link::HttpInput)
    }

    /// An OCPP charge point (its address is the charge point id).
    pub fn is_ocpp(self) -> bool {
        matches!(self.0.link, Link::Ocpp)
    }

    /// The Modbus side of the row, for a Modbus device.
    pub fn modbus(self) -> Option<&'static Modbus> {
        self.0.modbus()
    }

    /// How an HTTP-JSON meter is asked and read.
    pub fn http_json(self) -> Option<&'static JsonMeter> {
        match self.0.link {
            Link::HttpJson(meter) => Some(meter),
            Link::Modbus(_) | Link::HttpInput | Link::Ocpp | Link::None => None,
        }
    }

    /// Whether this wallbox type has a 1p/3p relay the daemon can set.
    pub fn can_switch_phases(self) -> bool {
        self.modbus()
            .and_then(|m| m.control)
            .is_some_and(|c| c.phase_words(false).is_some())
    }

    /// Whether this wallbox type can wake a sleeping car.
    pub fn can_wake(self) -> bool {
        self.modbus()
            .and_then(|m| m.control)
            .is_some_and(|c| c.wake_words().is_some())
    }

    /// Whether a device of this type needs an address: it is reached
    /// over Modbus or asked over HTTP.
    pub fn needs_address(self) -> bool {
        self.is_modbus() || self.http_json().is_some()
    }

    /// The registers `cmd=modbus&read=all` lists, and against which writes
    /// are checked; none for a device without Modbus.
    pub fn register_map(self) -> &'static RegisterMap {
        static NO_REGISTERS: RegisterMap = RegisterMap { registers: &[] };
        self.modbus().map_or(&NO_REGISTERS, |m| m.map)
    }
}

impl From<&'static Driver> for DeviceType {
    fn from(driver: &'static Driver) -> Self {
        DeviceType(driver)
    }
}

impl PartialEq for DeviceType {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for DeviceType {}

impl Hash for DeviceType {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl fmt::Debug for DeviceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl std::str::FromStr for DeviceType {
    type Err = String;

    /// A type key; a type of the cFos API chargebrain lacks says so.
    fn from_str(key: &str) -> Result<Self, String> {
        if let Some(t) = DeviceType::find(key) {
            return Ok(t);
        }
        if let Some(t) = RENAMED
            .iter()
            .find(|(old, _)| *old == key)
            .and_then(|(_, now)| DeviceType::find(now))
        {
            return Ok(t);
        }
        if let Some((_, name)) = NOT_SUPPORTED_YET.iter().find(|(k, _)| *k == key) {
            return Err(format!("{key} ({name}) is not supported yet"));
        }
        let known: Vec<&str> = DeviceType::all().map(DeviceType::key).collect();
        Err(format!(
            "unknown type {key:?}; known types: {}",
            known.join(", ")
        ))
    }
}

impl Serialize for DeviceType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.key())
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
        for t in DeviceType::all() {
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::Value::from(t.key())
            );
            let back: DeviceType = serde_json::from_value(t.key().into()).unwrap();
            assert_eq!(back, t);
        }
    }

    #[test]
    fn a_renamed_key_is_read_as_the_key_now_and_not_listed() {
        for (old, now) in RENAMED {
            let t: DeviceType = old.parse().expect("an old key is accepted");
            assert_eq!(t.key(), *now);
            assert_eq!(serde_json::to_value(t).unwrap(), serde_json::json!(now));
            assert!(DeviceType::find(old).is_none(), "{old} is listed");
        }
    }

    #[test]
    fn keys_are_unique_and_say_the_kind() {
        let mut keys: Vec<&str> = DeviceType::all().map(DeviceType::key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), DeviceType::all().count(), "a key twice");
        // cFos clients tell wallboxes from meters by the key (`dev_meta`
        // has keys and names only): wallboxes and groups start with
        // `evse_`, meters with `meter_`, or `inverter_` for an inverter
        // read as a meter.
        for t in DeviceType::all() {
            if t.is_evse() {
                assert!(t.key().starts_with("evse_"), "{t:?}");
            } else {
                assert!(
                    t.key().starts_with("meter_") || t.key().starts_with("inverter_"),
                    "{t:?}"
                );
            }
            assert_eq!(t.is_group(), t.key() == "evse_group", "{t:?}");
        }
    }

    #[test]
    fn read_all_keys_carry_the_width_of_every_wide_register() {
        for t in DeviceType::all() {
            for r in t.register_map().registers {
                // The Power Brain's 8004 is listed without one, as cFos does.
                let seed_exception = t.key().contains("powerbrain") && r.addr == 8004;
                if r.ty.width() > 1 && !seed_exception {
                    assert!(!r.ty.suffix().is_empty(), "{t:?} {}", r.key());
                }
            }
        }
    }

    #[test]
    fn maps_are_sorted_and_do_not_overlap() {
        for t in DeviceType::all() {
            for pair in t.register_map().registers.windows(2) {
                assert!(
                    u32::from(pair[0].addr) + u32::from(pair[0].ty.width())
                        <= u32::from(pair[1].addr),
                    "{t:?}: {} overlaps {}",
                    pair[0].name,
                    pair[1].name
                );
            }
        }
    }

    #[test]
    fn models_have_five_fields_without_commas_inside() {
        for t in DeviceType::all() {
            assert_eq!(t.model().split(',').count(), 5, "{t:?}: {}", t.model());
        }
        assert_eq!(
            DeviceType::find("meter_sdm630").map(DeviceType::model),
            Some("Eastron,SDM630 / SDM630MCT / SDM72DM-V2,,,".into())
        );
    }

    #[test]
    fn types_of_the_api_document_without_a_driver_say_so() {
        let err = serde_json::from_value::<DeviceType>("meter_elenker_meter".into())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "meter_elenker_meter (ModbusMeter 5A) is not supported yet"
        );
        let err = serde_json::from_value::<DeviceType>("toaster".into())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("unknown type \"toaster\"; known types: evse_powerbrain"));
    }

    #[test]
    fn messages_name_a_type_with_its_article() {
        let named = |key| DeviceType::find(key).map(DeviceType::with_article);
        assert_eq!(named("evse_powerbrain"), Some("an evse_powerbrain".into()));
        assert_eq!(named("meter_ajax"), Some("a meter_ajax".into()));
    }

    #[test]
    fn every_read_lies_inside_the_register_map() {
        for t in DeviceType::all() {
            let Some(modbus) = t.modbus() else { continue };
            let reads = modbus
                .reads
                .iter()
                .chain(modbus.secret)
                .chain(modbus.identify.as_ref().map(|i| &i.block));
            for r in reads {
                assert!(r.count > 0 && r.count <= MAX_READ_COUNT, "{t:?} {r:?}");
                for a in r.addr..r.addr + r.count {
                    assert!(modbus.map.covering(a).is_some(), "{t:?}: {a:#x} not in map");
                }
            }
        }
    }

    #[test]
    fn all_zero_answers_decode_to_the_right_kind_of_reading() {
        for t in DeviceType::all() {
            let Some(modbus) = t.modbus() else { continue };
            if matches!(modbus.decode, Decode::Discovered(_)) {
                continue;
            }
            let blocks: Vec<Vec<u16>> = modbus
                .reads
                .iter()
                .map(|r| vec![0; usize::from(r.count)])
                .collect();
            match modbus.decode(&blocks) {
                Ok(Reading::Evse(_)) => assert!(t.is_wallbox(), "{t:?}"),
                Ok(Reading::Meter(_)) => assert_eq!(t.kind(), Kind::Meter, "{t:?}"),
                Err(e) => panic!("{t:?}: {e}"),
            }
        }
    }

    #[test]
    fn wallboxes_and_only_wallboxes_take_a_current() {
        for t in DeviceType::all() {
            let controlled = match t.driver().link {
                Link::Modbus(ref m) => m.control.is_some(),
                // An HTTP wallbox takes its current in the answer to its push.
                Link::HttpInput => t.is_wallbox(),
                // An OCPP wallbox takes its current as charging profiles.
                Link::Ocpp => t.is_wallbox(),
                Link::HttpJson(_) | Link::None => false,
            };
            assert_eq!(controlled, t.is_wallbox(), "{t:?}");
        }
    }
}

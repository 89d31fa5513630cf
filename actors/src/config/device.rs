//! How a device is declared in settings (and, later, through the API).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::codes::{role, MeterRole};
use super::rotation::PhaseRotation;
use super::DeviceType;
use crate::phases::Switching;
use crate::transport::Endpoint;

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
    /// A description; empty shows the device type's name.
    #[serde(default)]
    pub desc: String,
    /// The number shown beside it (cFos's `number`); none shows its place
    /// in the device list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u32>,
    /// Another name for `cmd=modbus&device=`, e.g. `evse` or `meter1`.
    #[serde(default)]
    pub alias: Option<String>,
    /// `host:port` (Modbus TCP), a serial line `/dev/ttyUSB0,9600,8,n,1`
    /// (Modbus RTU), or `evse`/`meter1`/`meter2` for the local Power Brain;
    /// none for groups and HTTP-input devices.
    #[serde(default)]
    pub address: String,
    /// Modbus unit (slave) id, 1 to 247.
    #[serde(default = "default_unit_id")]
    pub id: u8,
    /// A disabled device is kept but not controlled.
    #[serde(default = "enabled_by_default", deserialize_with = "bool_or_bit")]
    pub device_enabled: bool,

    // ---- wallboxes ----
    /// Text shown while a car is plugged in.
    #[serde(default)]
    pub label: String,
    /// mA; cars cannot charge below 6 A.
    #[serde(default = "default_min_charging_cur")]
    pub min_charging_cur: i64,
    /// mA per phase: the wallbox's limit (for an `evse_group`: the group's),
    /// or a formula giving it every cycle (`"16000 - M1.current"`).
    #[serde(default = "default_max_charging_cur")]
    pub max_charging_cur: CurrentLimit,
    /// Higher is served first.
    #[serde(default = "default_prio")]
    pub prio: i64,
    /// 0, 120 or 240: how the wallbox's L1/L2/L3 sit on the building's
    /// phases; or "auto", as measured from the grid meter.
    #[serde(default)]
    pub phase_rotation: PhaseRotation,
    /// 0 = determine from the wallbox meter; else bit0 L1, bit1 L2, bit2 L3.
    #[serde(default)]
    pub used_phases: u8,
    /// The dev_id of a meter that measures this wallbox (cFos's `attach`):
    /// its currents, power and energy are the wallbox's; empty = none.
    #[serde(default)]
    pub attach: String,
    /// The `evse_group` this device belongs to (its number); 0 = none.
    #[serde(default)]
    pub group: u32,
    /// The wallbox's own fallback if the daemon stops talking to it:
    /// after this many seconds it allows `fail_safe_current` (mA, 0 = stop).
    #[serde(default = "default_fail_safe_duration")]
    pub fail_safe_duration_s: i64,
    #[serde(default = "default_min_charging_cur")]
    pub fail_safe_current: i64,
    /// 1p/3p switching: `off`, `auto`, `1p` or `3p` (a wallbox with a
    /// relay the daemon can set, e.g. a Power Brain).
    #[serde(default)]
    pub phase_switching: Switching,
    /// How long a car is paused while the relay switches, s.
    #[serde(default = "default_phase_switch_pause")]
    pub phase_switch_pause_s: u64,
    /// The least time between two automatic switches, s.
    #[serde(default = "default_phase_switch_min_interval")]
    pub phase_switch_min_interval_s: u64,
    /// A car that does not start when offered current is woken once per
    /// session (the charge pilot off for a moment).
    #[serde(default = "enabled_by_default", deserialize_with = "bool_or_bit")]
    pub wake_up: bool,

    // ---- HTTP-input devices ----
    /// Values not pushed for this long count as a communication error, s.
    #[serde(default = "default_push_timeout")]
    pub timeout_s: u64,

    // ---- OCPP charge points ----
    /// Security profile 1: the password the charge point gives (HTTP basic
    /// auth, user = its charge point id) when it connects; empty = none.
    /// Never shown by the API.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,

    // ---- meters ----
    /// 0 display, 1 consumption, 2 production, 3 grid, 4 EV consumption,
    /// 5 storage (home), 6 storage (all).
    #[serde(default = "display_role", with = "role")]
    pub role: MeterRole,
    /// Invert currents and power (a meter mounted the other way round).
    #[serde(default)]
    pub invert: bool,

    /// The wallbox's charging rules (admin only).
    #[serde(default)]
    pub charging_rules: Vec<crate::rules::charging::Rule>,
}

fn default_unit_id() -> u8 {
    1
}

fn enabled_by_default() -> bool {
    true
}

fn default_min_charging_cur() -> i64 {
    6000
}

/// `true`/`false`, or 1/0 as `get_dev_info` reports it (cFos style), so
/// what a client read can be posted back.
fn bool_or_bit<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct Flag;
    impl serde::de::Visitor<'_> for Flag {
        type Value = bool;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("true, false, 1 or 0")
        }

        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }

        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<bool, E> {
            match v {
                0 => Ok(false),
                1 => Ok(true),
                other => Err(E::custom(format!("{other} is not true, false, 1 or 0"))),
            }
        }

        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<bool, E> {
            u64::try_from(v)
                .map_err(|_| E::custom(format!("{v} is not true, false, 1 or 0")))
                .and_then(|v| self.visit_u64(v))
        }
    }
    d.deserialize_any(Flag)
}

fn default_max_charging_cur() -> CurrentLimit {
    CurrentLimit::Fixed(16_000)
}

/// A current limit in mA, or a formula evaluated every cycle (cfos.md §3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum CurrentLimit {
    Fixed(i64),
    Formula(String),
}

/// Reads a whole number of mA or a formula text, with an error that says
/// so (rather than serde's "did not match any variant").
impl<'de> Deserialize<'de> for CurrentLimit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Limit;
        const EXPECTED: &str = "a whole number of mA (at most 1000000) or a formula";
        impl serde::de::Visitor<'_> for Limit {
            type Value = CurrentLimit;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(EXPECTED)
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<CurrentLimit, E> {
                Ok(CurrentLimit::Fixed(v))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<CurrentLimit, E> {
                i64::try_from(v)
                    .map(CurrentLimit::Fixed)
                    .map_err(|_| E::custom(format!("{v} is not {EXPECTED}")))
            }

            #[allow(clippy::cast_possible_truncation)]
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<CurrentLimit, E> {
                // 16000.0 is a whole number; 16000.5 and 1e30 are not.
                if v.fract() == 0.0 && v.abs() <= 1e15 {
                    Ok(CurrentLimit::Fixed(v as i64))
                } else {
                    Err(E::custom(format!("{v} is not {EXPECTED}")))
                }
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<CurrentLimit, E> {
                // "16000" is a number, checked as one (and so is an
                // environment override, which comes as text).
                Ok(match v.trim().parse::<i64>() {
                    Ok(ma) => CurrentLimit::Fixed(ma),
                    Err(_) => CurrentLimit::Formula(v.to_string()),
                })
            }
        }
        d.deserialize_any(Limit)
    }
}

impl CurrentLimit {
    /// Limits above this are refused (mA).
    pub const MAX_MA: i64 = 1_000_000;

    /// The formula's value made a limit: whole mA from 0 to 1000 A. A value
    /// that is not a number or above 1000 A is a formula gone wrong (`2^1000`),
    /// and a limit that guards a fuse must not become no limit: 0.
    #[allow(clippy::cast_possible_truncation)]
    pub fn from_formula_value(value: f64) -> i64 {
        #[allow(clippy::cast_precision_loss)]
        if !value.is_finite() || value > Self::MAX_MA as f64 {
            return 0;
        }
        (value as i64).max(0)
    }
}

impl From<i64> for CurrentLimit {
    fn from(ma: i64) -> Self {
        CurrentLimit::Fixed(ma)
    }
}

fn display_role() -> MeterRole {
    MeterRole::Display
}

fn default_prio() -> i64 {
    1
}

fn default_push_timeout() -> u64 {
    60
}

fn default_fail_safe_duration() -> i64 {
    60
}

fn default_phase_switch_pause() -> u64 {
    120
}

fn default_phase_switch_min_interval() -> u64 {
    600
}

/// A device declaration that cannot be used, naming the field at fault.
/// Shown as `devices[N].field`, N counting the `[[devices]]` entries from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("devices[{}].{field}: {reason}", index + 1)]
pub struct DeviceSettingsError {
    pub index: usize,
    pub field: &'static str,
    pub reason: String,
}

/// Checks every declaration, that dev_ids and aliases are unique, and that
/// groups exist and do not contain themselves.
pub fn validate_devices(devices: &[Arc<DeviceSettings>]) -> Result<(), DeviceSettingsError> {
    device_problems(devices)
        .into_iter()
        .next()
        .map_or(Ok(()), Err)
}

/// Every problem `validate_devices` looks for, in order.
pub fn device_problems(devices: &[Arc<DeviceSettings>]) -> Vec<DeviceSettingsError> {
    let mut out = Vec::new();
    let mut names = HashSet::new();
    // A serial line's path: its settings as the first device gave them.
    let mut lines: HashMap<String, (String, &str)> = HashMap::new();
    let groups: std::collections::HashMap<u32, u32> = devices
        .iter()
        .filter(|d| d.dev_type.is_group())
        .filter_map(|d| d.group_number().map(|n| (n, d.group)))
        .collect();
    for (index, d) in devices.iter().enumerate() {
        let mut fail = |field, reason: String| {
            out.push(DeviceSettingsError {
                index,
                field,
                reason,
            });
        };
        if let Err((field, reason)) = validate_numbers(d) {
            fail(field, reason);
        }
        if d.group != 0 && !groups.contains_key(&d.group) {
            fail("group", format!("there is no evse_group E{}", d.group));
        }
        if d.dev_type.is_group() {
            let mut seen = HashSet::new();
            let mut at = d.group_number().unwrap_or(0);
            while at != 0 {
                if !seen.insert(at) {
                    fail("group", format!("group E{at} would contain itself"));
                    break;
                }
                at = groups.get(&at).copied().unwrap_or(0);
            }
        }
        let prefix = if d.dev_type.is_evse() { 'E' } else { 'M' };
        let rest = d.dev_id.strip_prefix(prefix).unwrap_or_default();
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
            fail(
                "dev_id",
                format!(
                    "'{}' must be {prefix} followed by a number for the type {}",
                    d.dev_id,
                    d.dev_type.key()
                ),
            );
        }
        if !(1..=247).contains(&d.id) {
            fail("id", format!("unit id {} is not 1 to 247", d.id));
        }
        if d.dev_type.needs_address() && d.address.trim().is_empty() {
            fail("address", "is empty".into());
        }
        if d.dev_type.is_ocpp() {
            if let Err(reason) = crate::ocpp::check_address(devices, index, d) {
                fail("address", reason);
            }
        }
        if let (true, Ok(Endpoint::Serial(line))) =
            (d.dev_type.is_modbus(), Endpoint::parse(&d.address))
        {
            let written = Endpoint::Serial(line.clone()).to_string();
            match lines.get(&line.path) {
                Some((first, other)) if *first != written => fail(
                    "address",
                    format!(
                        "{written}: {other} uses the line as {first}; \
                         the devices of one serial line share its speed and framing"
                    ),
                ),
                Some(_) => {}
                None => {
                    lines.insert(line.path, (written, d.dev_id.as_str()));
                }
            }
        }

        if !d.attach.is_empty() {
            if let Err(reason) = check_attach(devices, index, d) {
                fail("attach", reason);
            }
        }
        for name in std::iter::once(&d.dev_id).chain(d.alias.as_ref()) {
            if !names.insert(name.to_ascii_lowercase()) {
                let field = if *name == d.dev_id { "dev_id" } else { "alias" };
                fail(field, format!("'{name}' is used by another device"));
            }
        }
    }
    out
}

/// The rules for devices being added or changed, on top of
/// `validate_devices` (configurations saved before them still load): a
/// dev_id number from 1 without leading zeros (E0 means "no group", and
/// E07 would be a second name for group 7), and one wallbox per Modbus
/// endpoint and unit (two would fight over its current; a meter may be
/// read twice). `endpoint_of` gives a device's endpoint in one spelling.
pub fn validate_changed(
    devices: &[Arc<DeviceSettings>],
    changed: &[String],
    endpoint_of: &dyn Fn(&DeviceSettings) -> Result<Option<String>, String>,
) -> Result<(), DeviceSettingsError> {
    changed_problems(devices, changed, endpoint_of)
        .into_iter()
        .next()
        .map_or(Ok(()), Err)
}

/// Every problem `validate_changed` looks for, in the devices' order; each
/// device's endpoint is worked out once (a site may have thousands).
pub fn changed_problems(
    devices: &[Arc<DeviceSettings>],
    changed: &[String],
    endpoint_of: &dyn Fn(&DeviceSettings) -> Result<Option<String>, String>,
) -> Vec<DeviceSettingsError> {
    let wallbox_at = |d: &DeviceSettings| -> Result<Option<(String, u8)>, String> {
        if !d.dev_type.is_evse() {
            return Ok(None);
        }
        Ok(endpoint_of(d)?.map(|e| (e, d.id)))
    };
    let changed: HashSet<&str> = changed.iter().map(String::as_str).collect();
    // Which wallboxes are at each endpoint and unit, in the devices' order.
    let mut wallboxes: HashMap<(String, u8), Vec<usize>> = HashMap::new();
    for (index, d) in devices.iter().enumerate() {
        if let Ok(Some(here)) = wallbox_at(d) {
            wallboxes.entry(here).or_default().push(index);
        }
    }
    let mut out = Vec::new();
    for (index, d) in devices.iter().enumerate() {
        if !changed.contains(d.dev_id.as_str()) {
            continue;
        }
        let fail = |field, reason: String| DeviceSettingsError {
            index,
            field,
            reason,
        };
        if d.dev_id.get(1..).is_some_and(|n| n.starts_with('0')) {
            out.push(fail(
                "dev_id",
                format!(
                    "'{}': the number starts at 1, without leading zeros",
                    d.dev_id
                ),
            ));
            continue;
        }
        let here = match wallbox_at(d) {
            Ok(Some(here)) => here,
            Ok(None) => continue,
            Err(e) => {
                out.push(fail("address", e));
                continue;
            }
        };
        let other = wallboxes.get(&here).and_then(|at| {
            at.iter()
                .map(|&o| &devices[o])
                .find(|o| o.dev_id != d.dev_id)
        });
        if let Some(other) = other {
            out.push(fail(
                "address",
                format!(
                    "{} unit {} is wallbox {} already",
                    d.address.trim(),
                    d.id,
                    other.dev_id
                ),
            ));
        }
    }
    out
}

/// An `attach` names a meter that exists and measures no other wallbox.
fn check_attach(
    devices: &[Arc<DeviceSettings>],
    index: usize,
    d: &DeviceSettings,
) -> Result<(), String> {
    if !d.dev_type.is_wallbox() {
        return Err(format!(
            "only a wallbox has an attached meter, not a {}",
            d.dev_type.key()
        ));
    }
    let meter = devices
        .iter()
        .find(|m| m.dev_id.eq_ignore_ascii_case(&d.attach))
        .ok_or_else(|| format!("there is no meter {}", d.attach))?;
    if meter.dev_type.is_evse() {
        return Err(format!("{} is not a meter", meter.dev_id));
    }
    if let Some(other) = devices
        .iter()
        .take(index)
        .find(|o| o.attach.eq_ignore_ascii_case(&d.attach))
    {
        return Err(format!(
            "{} is attached to {} already",
            meter.dev_id, other.dev_id
        ));
    }
    Ok(())
}

impl DeviceSettings {
    /// The meter attached to this wallbox, if any.
    pub fn attached(&self) -> Option<&str> {
        (!self.attach.is_empty()).then_some(self.attach.as_str())
    }

    /// For an `evse_group`: its number, from its dev_id (E5 is group 5).
    pub fn group_number(&self) -> Option<u32> {
        self.dev_id.get(1..).and_then(|n| n.parse().ok())
    }
}

fn validate_numbers(d: &DeviceSettings) -> Result<(), (&'static str, String)> {
    if d.dev_type.is_evse() {
        if d.min_charging_cur < 6000 {
            return Err((
                "min_charging_cur",
                format!("{} mA is below 6000 mA", d.min_charging_cur),
            ));
        }
        if let CurrentLimit::Fixed(max) = d.max_charging_cur {
            if max < d.min_charging_cur {
                return Err((
                    "max_charging_cur",
                    format!(
                        "{max} mA is below min_charging_cur {} mA",
                        d.min_charging_cur
                    ),
                ));
            }
        }
    }
    match &d.max_charging_cur {
        CurrentLimit::Fixed(max) if d.dev_type.is_group() && *max < 0 => {
            return Err(("max_charging_cur", "must not be negative".into()));
        }
        CurrentLimit::Fixed(max) if *max > CurrentLimit::MAX_MA => {
            return Err(("max_charging_cur", format!("{max} mA is above 1000 A")));
        }
        CurrentLimit::Formula(text) => {
            crate::rules::formula::parse(text)
                .map_err(|e| ("max_charging_cur", format!("formula: {e}")))?;
        }
        CurrentLimit::Fixed(_) => {}
    }
    if d.used_phases > 7 {
        return Err((
            "used_phases",
            format!("{} is not a phase mask 0 to 7", d.used_phases),
        ));
    }
    crate::rules::charging::RuleSet::new(&d.charging_rules).map_err(|e| ("charging_rules", e))?;
    if !(1..=86_400).contains(&d.timeout_s) {
        return Err(("timeout_s", format!("{} is not 1 to 86400 s", d.timeout_s)));
    }
    if d.desc.chars().count() > 200 || d.desc.chars().any(char::is_control) {
        return Err((
            "desc",
            "must be printable text of at most 200 characters".into(),
        ));
    }
    if d.number.is_some_and(|n| !(1..=9999).contains(&n)) {
        return Err(("number", "is not 1 to 9999".into()));
    }
    if d.phase_switching != Switching::Off && !d.dev_type.can_switch_phases() {
        return Err((
            "phase_switching",
            format!(
                "{} has no 1p/3p relay the daemon can set; use off",
                d.dev_type.key()
            ),
        ));
    }
    if !(5..=600).contains(&d.phase_switch_pause_s) {
        return Err((
            "phase_switch_pause_s",
            format!("{} is not 5 to 600 s", d.phase_switch_pause_s),
        ));
    }
    if !(60..=86_400).contains(&d.phase_switch_min_interval_s)
        || d.phase_switch_min_interval_s < d.phase_switch_pause_s
    {
        return Err((
            "phase_switch_min_interval_s",
            format!(
                "{} is not 60 to 86400 s and at least phase_switch_pause_s",
                d.phase_switch_min_interval_s
            ),
        ));
    }
    if !(0..=65_535).contains(&d.fail_safe_duration_s) {
        return Err((
            "fail_safe_duration_s",
            format!("{} is not 0 to 65535 s", d.fail_safe_duration_s),
        ));
    }
    if d.fail_safe_current != 0 && !(6000..=63_000).contains(&d.fail_safe_current) {
        return Err((
            "fail_safe_current",
            format!("{} mA is not 0 or 6000 to 63000", d.fail_safe_current),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arcs<const N: usize>(devices: [DeviceSettings; N]) -> Vec<Arc<DeviceSettings>> {
        devices.into_iter().map(Arc::new).collect()
    }

    fn evse(dev_id: &str) -> DeviceSettings {
        let toml =
            format!("dev_id = \"{dev_id}\"\ndev_type = \"evse_powerbrain\"\naddress = \"evse\"\n");
        toml::from_str(&toml).unwrap()
    }

    #[test]
    fn the_devices_of_one_serial_line_share_its_settings() {
        let on = |dev_id: &str, address: &str| {
            let mut d = evse(dev_id);
            d.address = address.into();
            d
        };
        let line = "/dev/ttyUSB0,38400,8,e,1,ascii";
        assert_eq!(
            validate_devices(&arcs([
                on("E1", line),
                on("E2", &line.replace("ascii", "ASCII"))
            ])),
            Ok(())
        );
        let e = validate_devices(&arcs([
            on("E1", line),
            on("E2", "/dev/ttyUSB0,38400,8,e,1"),
        ]))
        .expect_err("RTU beside ASCII");
        assert_eq!((e.index, e.field), (1, "address"));
        assert_eq!(
            e.reason,
            "/dev/ttyUSB0,38400,8,e,1: E1 uses the line as /dev/ttyUSB0,38400,8,e,1,ascii; \
             the devices of one serial line share its speed and framing"
        );
        assert_eq!(
            validate_devices(&arcs([on("E1", line), on("E2", "/dev/ttyUSB1,9600")])),
            Ok(())
        );
    }

    #[test]
    fn checks_prefix_unit_and_uniqueness() {
        let mut second = evse("E2");
        second.address = "evse2".into();
        assert_eq!(validate_devices(&arcs([evse("E1"), second])), Ok(()));
        let text = |d: &DeviceSettings| Ok(Some(d.address.clone()));
        assert_eq!(
            validate_changed(&arcs([evse("E1"), evse("E2")]), &["E2".into()], &text)
                .map_err(|e| (e.field, e.reason)),
            Err(("address", "evse unit 1 is wallbox E1 already".into())),
            "two wallboxes on one unit"
        );
        assert_eq!(
            validate_changed(&arcs([evse("E1"), evse("E2")]), &[], &text),
            Ok(()),
            "what was saved before still loads"
        );
        assert_eq!(
            validate_changed(&arcs([evse("E07")]), &["E07".into()], &text).map_err(|e| e.field),
            Err("dev_id")
        );
        assert_eq!(
            validate_devices(&arcs([evse("M1")])).map_err(|e| e.field),
            Err("dev_id")
        );
        assert_eq!(
            validate_devices(&arcs([evse("E")])).map_err(|e| e.field),
            Err("dev_id")
        );
        assert_eq!(
            validate_devices(&arcs([evse("E1"), evse("e1")])).map_err(|e| e.index),
            Err(1)
        );
        let mut aliased = evse("E2");
        aliased.address = "evse2".into();
        aliased.alias = Some("E1".into());
        assert_eq!(
            validate_devices(&arcs([evse("E1"), aliased])).map_err(|e| e.field),
            Err("alias")
        );
        let mut broadcast = evse("E1");
        broadcast.id = 0;
        assert_eq!(
            validate_devices(&arcs([broadcast])).map_err(|e| e.field),
            Err("id")
        );
    }

    #[test]
    fn phase_switching_settings_are_checked_with_clear_errors() {
        let check = |extra: &str| {
            let toml = format!(
                "dev_id = \"E1\"\ndev_type = \"evse_powerbrain\"\naddress = \"evse\"\n{extra}"
            );
            let d: DeviceSettings = toml::from_str(&toml).map_err(|e| e.to_string())?;
            validate_devices(&arcs([d])).map_err(|e| e.to_string())
        };
        assert_eq!(check(""), Ok(()));
        let d = evse("E1");
        assert_eq!(
            (
                d.phase_switching,
                d.phase_switch_pause_s,
                d.phase_switch_min_interval_s,
                d.wake_up
            ),
            (Switching::Off, 120, 600, true)
        );
        assert_eq!(
            check("phase_switching = \"auto\"\nphase_switch_pause_s = 30"),
            Ok(())
        );
        assert!(check("phase_switching = \"2p\"").is_err_and(|e| e.contains("phase_switching")));
        assert_eq!(
            check("phase_switch_pause_s = 1"),
            Err("devices[1].phase_switch_pause_s: 1 is not 5 to 600 s".into())
        );
        assert!(check("phase_switch_min_interval_s = 30")
            .is_err_and(|e| e.contains("phase_switch_min_interval_s")));
        let ajax = "dev_id = \"E1\"\ndev_type = \"evse_ajax\"\nphase_switching = \"1p\"\n";
        let d: DeviceSettings = toml::from_str(ajax).unwrap();
        assert_eq!(
            validate_devices(&arcs([d])).map_err(|e| e.to_string()),
            Err("devices[1].phase_switching: evse_ajax has no 1p/3p relay the daemon can set; use off".into())
        );
    }

    #[test]
    fn limits_read_numbers_as_numbers_and_wild_formula_values_as_0() {
        let read =
            |json: &str| serde_json::from_str::<CurrentLimit>(json).map_err(|e| e.to_string());
        assert_eq!(read("16000"), Ok(CurrentLimit::Fixed(16_000)));
        assert_eq!(read("\" 16000 \""), Ok(CurrentLimit::Fixed(16_000)));
        assert_eq!(read("16000.0"), Ok(CurrentLimit::Fixed(16_000)));
        assert_eq!(
            read("\"20000 - M1.current\""),
            Ok(CurrentLimit::Formula("20000 - M1.current".into()))
        );
        assert!(read("16000.5").is_err_and(|e| e.contains("whole number of mA")));
        assert_eq!(CurrentLimit::from_formula_value(12_345.9), 12_345);
        assert_eq!(CurrentLimit::from_formula_value(-5.0), 0);
        for wild in [f64::NAN, f64::INFINITY, 2f64.powi(1000), 1_000_001.0] {
            assert_eq!(CurrentLimit::from_formula_value(wild), 0, "{wild}");
        }
    }
}

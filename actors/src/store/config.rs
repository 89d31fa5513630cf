//! How `set_params` and `del_device` change the state. Pure code: a change
//! either applies whole and validates, or is refused naming the field, and
//! the state is untouched.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use super::State;
use crate::devices::{validate_changed, validate_devices, DeviceSettings};
use crate::supervisor::SiteParams;

/// Keys of `get_params`/`get_dev_info` that are reports, not settings: a
/// client that posts back what it read is not refused for them.
const READ_ONLY_PARAMS: &[&str] = &[
    "cons_evse_power",
    "avail_evse_power",
    "cycle_time_measured",
    "max_evses",
    "shareware_mode",
    "version",
    "time",
    "vsn",
    "ocpp_gateway_license_cnt",
    "ocpp_gateway_licenses_used",
    "overdraft",
    "consumed_evse_power",
    "remaining_evse_power",
    "available_current",
    "house_current",
    "evse_current",
    "meter_stale",
    "dev_meta",
    "meta",
    "overdraft_cur",
    "auth_cnt",
    // The MQTT connection's state.
    "mqtt",
];

/// Keys that name a setting another way (older firmware's W figures,
/// `loadmgr_disabled`, `cycle_time`). `get_params` reports both; a client
/// may change either. The one that differs from the setting in force
/// decides; if both changed they must agree.
const ALIASES: &[(&str, &str, Alias)] = &[
    ("cycle_time", "cycle_time_ms", Alias::Same),
    ("loadmgr_disabled", "lb_enabled", Alias::Not),
    ("max_total_power", "max_total_current", Alias::Watts),
    ("power_reserve", "reserve_current", Alias::Watts),
    (
        "max_total_evse_power",
        "max_total_evse_current",
        Alias::Watts,
    ),
];

#[derive(Debug, Clone, Copy)]
enum Alias {
    /// The same value.
    Same,
    /// The opposite flag.
    Not,
    /// W at the nominal voltage over three phases, for mA per phase.
    Watts,
}

/// Per-phase mA as W at `volts` over three phases (as `get_params` reports them).
fn watts(ma: i64, volts: i64) -> i64 {
    ma * volts * 3 / 1000
}

impl Alias {
    /// The setting's value for the alias's `value`, checked.
    fn setting(self, alias: &str, value: &Value, volts: i64) -> Result<Value, String> {
        match self {
            Alias::Same => Ok(value.clone()),
            Alias::Not => value
                .as_bool()
                .map(|b| Value::Bool(!b))
                .ok_or_else(|| format!("{alias}: expected true or false")),
            Alias::Watts => {
                let w = value
                    .as_f64()
                    .filter(|w| w.is_finite() && (0.0..=1e10).contains(w))
                    .ok_or_else(|| format!("{alias}: expected a number of W"))?;
                #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
                let ma = (w * 1000.0 / (3.0 * volts as f64)).round() as i64;
                Ok(Value::from(ma))
            }
        }
    }

    /// Whether the alias's `value` says the same as the setting's `setting`.
    /// A formula's W figure is its value of the moment: it agrees.
    fn agrees(self, value: &Value, setting: &Value, volts: i64) -> bool {
        match self {
            Alias::Same => value == setting,
            Alias::Not => value.as_bool().map(|b| !b) == setting.as_bool(),
            #[allow(clippy::cast_precision_loss)]
            Alias::Watts => {
                setting.is_string()
                    || matches!((value.as_f64(), setting.as_i64()),
                        (Some(w), Some(ma)) if (watts(ma, volts) as f64 - w).abs() < 1.0)
            }
        }
    }
}

/// The settings the alias keys of `body` change, as (setting, value);
/// an alias changed beside its setting changed otherwise is an error
/// naming both.
fn aliased(
    body: &Map<String, Value>,
    current: &SiteParams,
) -> Result<Vec<(String, Value)>, String> {
    let now = as_object(current);
    let volts_now = current.voltage;
    let volts = body
        .get("voltage")
        .and_then(Value::as_i64)
        .filter(|v| (100..=400).contains(v))
        .unwrap_or(volts_now);
    let mut out = Vec::new();
    for (alias, setting, kind) in ALIASES {
        let Some(value) = body.get(*alias) else {
            continue;
        };
        let in_force = now.get(*setting).unwrap_or(&Value::Null);
        // Unchanged from what get_params reported: the setting decides.
        if kind.agrees(value, in_force, volts_now) {
            continue;
        }
        let wanted = kind.setting(alias, value, volts)?;
        match body.get(*setting) {
            Some(given) if given != in_force && !kind.agrees(value, given, volts) => {
                return Err(format!(
                    "{alias} and {setting} both changed and disagree; give one of them"
                ));
            }
            Some(given) if given != in_force => {}
            _ => out.push(((*setting).to_string(), wanted)),
        }
    }
    Ok(out)
}

const READ_ONLY_DEVICE: &[&str] = &[
    "com_err",
    "com_err_secs",
    "com_errors",
    "last_error",
    "model",
    "is_evse",
    "state",
    "charging_enabled",
    "cur_charging_power",
    "total_energy",
    "current_l1",
    "current_l2",
    "current_l3",
    "voltage_l1",
    "voltage_l2",
    "voltage_l3",
    "phases",
    "paused",
    "pause_time",
    "pause_min_time",
    "last_set_charging_cur",
    "lb_current",
    "lb_reason",
    "needs_auth",
    "user",
    "user_name",
    "overrides",
    "ov_cur",
    "rule_id",
    "rule_current",
    "is_va",
    "import",
    "export",
    "power_w",
    "power",
];

/// Device keys of cFos firmware this version does not act on. A device
/// posted back as firmware reports it is not refused for them: they are
/// ignored, and the daemon logs a warning naming them.
pub const IGNORED_DEVICE: &[&str] = &[
    "battery_save_threshold",
    "enable_snooze",
    "enable_wakeup",
    "fixed_rfid",
    "ocpp_gateway_client_id",
    "soft_meter",
    "users",
    // Reports of firmware 1.6 to 1.14 that chargebrain does not have.
    "status",
    "lreason",
    "evse",
    "ocpp",
    "is_mock",
    "max_power",
    "ucnt",
];

/// The ignored keys a `set_params` body carries, as `E1.fixed_rfid`, for
/// the warning.
pub fn ignored_keys(body: &Map<String, Value>) -> Vec<String> {
    let Some(Value::Array(devices)) = body.get("devices") else {
        return Vec::new();
    };
    devices
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|d| {
            let dev_id = d.get("dev_id").and_then(Value::as_str).unwrap_or("?");
            IGNORED_DEVICE
                .iter()
                .filter(|k| d.contains_key(**k))
                .map(move |k| format!("{dev_id}.{k}"))
        })
        .collect()
}

/// Every formula of the state that names what cannot exist: where the
/// formula is and which name.
pub fn formula_problems(state: &State) -> Vec<String> {
    let vars: Vec<&str> = state.cm_vars.keys().map(String::as_str).collect();
    problems(&state.params, &state.devices, &state.users, &vars)
}

/// Every formula (site limit, wallbox limits, wallbox and user rules,
/// rule inputs) that names what cannot exist with these devices and
/// charging-manager variables: where the formula is and which name.
fn problems(
    params: &SiteParams,
    devices: &[DeviceSettings],
    users: &[crate::users::User],
    cm_vars: &[&str],
) -> Vec<String> {
    use crate::devices::CurrentLimit;
    use crate::rules::{formula, names};
    let dev_ids: Vec<&str> = devices.iter().map(|d| d.dev_id.as_str()).collect();
    let mut problems = Vec::new();
    let mut check = |where_: String, text: &str, limit: bool| {
        // A formula that does not parse is refused elsewhere, by its parser.
        if let Ok(expr) = formula::parse(text) {
            let checked = names::check(&expr, &dev_ids, cm_vars).and_then(|()| {
                if limit {
                    names::check_limit(&expr)
                } else {
                    Ok(())
                }
            });
            if let Err(e) = checked {
                problems.push(format!("{where_}: {e}"));
            }
        }
    };
    if let CurrentLimit::Formula(text) = &params.max_total_current {
        check("max_total_current".into(), text, true);
    }
    let rule_sets = devices
        .iter()
        .map(|d| (d.dev_id.clone(), &d.charging_rules))
        .chain(
            users
                .iter()
                .map(|u| (format!("user {}", u.id), &u.charging_rules)),
        );
    for d in devices {
        if let CurrentLimit::Formula(text) = &d.max_charging_cur {
            check(format!("{}.max_charging_cur", d.dev_id), text, false);
        }
    }
    for (owner, rules) in rule_sets {
        for (i, rule) in rules.iter().enumerate() {
            if let Some(text) = &rule.expr {
                check(
                    format!("{owner}.charging_rules: rule {i}: expr"),
                    text,
                    false,
                );
            }
            if let Some(text) = &rule.input {
                check(
                    format!("{owner}.charging_rules: rule {i}: input"),
                    text,
                    false,
                );
            }
        }
    }
    problems
}

/// The first formula problem, if any (for settings read at start, before
/// any charging-manager variable is set).
pub fn check_formula_names(
    params: &SiteParams,
    devices: &[DeviceSettings],
    users: &[crate::users::User],
) -> Result<(), String> {
    problems(params, devices, users, &[])
        .into_iter()
        .next()
        .map_or(Ok(()), Err)
}

/// Every formula problem of settings read at start (no users or
/// charging-manager variables there yet).
pub fn settings_formula_problems(params: &SiteParams, devices: &[DeviceSettings]) -> Vec<String> {
    problems(params, devices, &[], &[])
}

/// Refuses a change that makes a formula name what cannot exist. Problems
/// the configuration already had (a state file from before these checks)
/// do not block other changes; the daemon warns of them at start.
pub fn no_new_formula_problems(before: &State, after: &State) -> Result<(), String> {
    let old = formula_problems(before);
    formula_problems(after)
        .into_iter()
        .find(|p| !old.contains(p))
        .map_or(Ok(()), Err)
}

/// Most charging-manager variables kept.
pub const MAX_CM_VARS: usize = 100;

/// Sets (or, with `None`, removes) the charging-manager variable `name`,
/// which formulas read as `CM.<name>`. Names are letters, digits and `_`,
/// not starting with a digit or `_` (`CM._…` are the built-in values), and
/// any case (formulas ignore case). Removing a variable a formula reads is
/// refused.
pub fn set_cm_var(
    state: &mut State,
    name: &str,
    value: Option<serde_json::Number>,
) -> Result<(), String> {
    let valid = name.len() <= 32
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "name: '{name}' must be 1 to 32 letters, digits or _, starting with a letter"
        ));
    }
    let mut next = state.clone();
    // One variable per name in any case: the new spelling replaces the old.
    next.cm_vars.retain(|k, _| !k.eq_ignore_ascii_case(name));
    match value {
        Some(v) => {
            next.cm_vars.insert(name.to_string(), v);
            if next.cm_vars.len() > MAX_CM_VARS {
                return Err(format!("at most {MAX_CM_VARS} variables"));
            }
        }
        None if next.cm_vars.len() == state.cm_vars.len() => {
            return Err(format!("name: there is no variable {name}"));
        }
        None => no_new_formula_problems(state, &next)
            .map_err(|e| format!("{name} is still read by a formula: {e}"))?,
    }
    *state = next;
    Ok(())
}

/// A device error as the API names things: by dev_id, not by the device's
/// place in the whole list.
fn named(devices: &[DeviceSettings], e: &crate::devices::DeviceSettingsError) -> String {
    match devices.get(e.index) {
        Some(d) => format!("{}.{}: {}", d.dev_id, e.field, e.reason),
        None => e.to_string(),
    }
}

/// The API's name for a parameter, where it differs from the setting's.
fn param_key(api: &str) -> &str {
    match api {
        "min_pause_time" => "min_pause_time_s",
        other => other,
    }
}

/// `current` with `changes` laid over it; an error names the field.
fn overlay<T: Serialize + DeserializeOwned>(
    current: Map<String, Value>,
    changes: impl IntoIterator<Item = (String, Value)>,
    what: &str,
) -> Result<T, String> {
    let mut merged = current;
    merged.extend(changes);
    serde_path_to_error::deserialize(Value::Object(merged)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        match inner.split_once(", expected") {
            _ if path == "." || path.is_empty() => format!("{what}: {inner}"),
            Some((head, _)) if head.starts_with("unknown field") => format!("{what}: {head}"),
            _ => format!("{what}.{path}: {inner}"),
        }
    })
}

fn as_object<T: Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// Applies a `set_params` body: parameters as top-level keys, and/or
/// `"devices": [device, …]` (an existing dev_id is changed, a new one
/// created). `endpoint_of` gives a device's Modbus endpoint in one
/// spelling, or an error for an address that does not parse.
pub fn set_params(
    state: &mut State,
    body: &Map<String, Value>,
    endpoint_of: &dyn Fn(&DeviceSettings) -> Result<Option<String>, String>,
) -> Result<(), String> {
    let mut next = state.clone();
    let mut params = Vec::new();
    for (key, value) in body {
        match key.as_str() {
            "devices" => {}
            "title" | "desc" => {
                let text = value
                    .as_str()
                    .ok_or_else(|| format!("{key}: expected text"))?;
                if text.chars().count() > super::MAX_TEXT_CHARS {
                    return Err(format!(
                        "{key}: longer than {} characters",
                        super::MAX_TEXT_CHARS
                    ));
                }
                if key == "title" {
                    next.title = text.to_string();
                } else {
                    next.desc = text.to_string();
                }
            }
            k if READ_ONLY_PARAMS.contains(&k) => {}
            k if ALIASES.iter().any(|(alias, _, _)| *alias == k) => {}
            k => params.push((param_key(k).to_string(), value.clone())),
        }
    }
    params.extend(aliased(body, &next.params)?);
    next.params = overlay::<SiteParams>(as_object(&next.params), params, "params")?;
    next.params
        .validate()
        .map_err(|(key, reason)| format!("{key}: {reason}"))?;

    let devices = match body.get("devices") {
        None => Vec::new(),
        Some(Value::Array(items)) if items.len() <= 100 => items.clone(),
        Some(_) => return Err("devices: expected a list of at most 100 device objects".into()),
    };
    let mut listed = std::collections::HashSet::new();
    for item in devices {
        let Value::Object(fields) = item else {
            return Err("devices: each entry must be a device object".into());
        };
        let dev_id = fields
            .get("dev_id")
            .and_then(Value::as_str)
            .ok_or("devices: every device needs a dev_id")?
            .to_string();
        if !listed.insert(dev_id.clone()) {
            return Err(format!("devices: {dev_id} is listed twice"));
        }
        let changes = fields.into_iter().filter(|(k, _)| {
            !READ_ONLY_DEVICE.contains(&k.as_str()) && !IGNORED_DEVICE.contains(&k.as_str())
        });
        let existing = next.devices.iter().position(|d| d.dev_id == dev_id);
        let base = existing
            .map(|i| as_object(&next.devices[i]))
            .unwrap_or_default();
        let mut device: DeviceSettings = overlay(base, changes, &dev_id)?;
        // A device that is no Modbus device (any more) has no address: a
        // meter turned into an HTTP input does not keep its old one.
        if !device.dev_type.is_modbus() {
            device.address.clear();
        }
        endpoint_of(&device).map_err(|e| format!("{dev_id}.address: {e}"))?;
        match existing {
            Some(i) => next.devices[i] = device,
            None => next.devices.push(device),
        }
    }
    validate_devices(&next.devices).map_err(|e| named(&next.devices, &e))?;
    let changed: Vec<String> = listed.into_iter().collect();
    validate_changed(&next.devices, &changed, endpoint_of).map_err(|e| named(&next.devices, &e))?;
    no_new_formula_problems(state, &next)?;
    *state = next;
    Ok(())
}

/// Removes a device; refused if it is unknown or a group that has members.
pub fn delete_device(state: &mut State, dev_id: &str) -> Result<(), String> {
    let index = state
        .devices
        .iter()
        .position(|d| d.dev_id.eq_ignore_ascii_case(dev_id))
        .ok_or_else(|| format!("unknown device: {dev_id}"))?;
    let mut next = state.devices.clone();
    let removed = next.remove(index);
    if let Some(member) = removed
        .group_number()
        .filter(|_| removed.dev_type == crate::devices::DeviceType::EvseGroup)
        .and_then(|n| next.iter().find(|d| d.group == n))
    {
        return Err(format!(
            "{} still has members: {}",
            removed.dev_id, member.dev_id
        ));
    }
    if let Some(wallbox) = next
        .iter()
        .find(|d| d.attach.eq_ignore_ascii_case(&removed.dev_id))
    {
        return Err(format!(
            "{} is attached to {}: clear its attach first",
            removed.dev_id, wallbox.dev_id
        ));
    }
    validate_devices(&next).map_err(|e| named(&next, &e))?;
    let after = State {
        devices: next,
        ..state.clone()
    };
    no_new_formula_problems(state, &after)
        .map_err(|e| format!("{} is still named by a formula: {e}", removed.dev_id))?;
    *state = after;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::CurrentLimit;
    use crate::store::{License, STATE_VERSION};

    fn state() -> State {
        State {
            version: STATE_VERSION,
            title: "t".into(),
            desc: String::new(),
            params: SiteParams::default(),
            devices: vec![toml::from_str(
                "dev_id = \"E1\"\ndev_type = \"evse_powerbrain\"\naddress = \"evse\"\n",
            )
            .unwrap()],
            admin_hash: None,
            license: License::default(),
            users: Vec::new(),
            open_transactions: Vec::new(),
            soft_meters: std::collections::BTreeMap::new(),
            serialno: String::new(),
            cm_vars: std::collections::BTreeMap::new(),
        }
    }

    fn apply(body: Value) -> Result<State, String> {
        let mut s = state();
        let Value::Object(map) = body else {
            panic!("not an object")
        };
        set_params(&mut s, &map, &|d| Ok(Some(d.address.clone()))).map(|()| s)
    }

    #[test]
    fn params_change_by_their_api_names_and_reports_are_ignored() {
        let s = apply(serde_json::json!({"max_total_current": 31000, "min_pause_time": 60, "title": "Home", "cycle_time": 999})).unwrap();
        assert_eq!(
            (
                s.params.max_total_current,
                s.params.min_pause_time_s,
                s.title.as_str()
            ),
            (31000.into(), 60, "Home")
        );
    }

    #[test]
    fn a_device_is_changed_in_part_or_created() {
        let s = apply(serde_json::json!({"devices": [{"dev_id": "E1", "max_charging_cur": 20000, "lb_reason": "x"}]})).unwrap();
        assert_eq!(s.devices[0].max_charging_cur, 20000.into());
        assert_eq!(
            s.devices[0].address, "evse",
            "fields not sent keep their value"
        );
        // A formula may name a device added in the same request.
        let s = apply(serde_json::json!({"devices": [
            {"dev_id": "M3", "dev_type": "meter_sdm630", "address": "10.0.0.3:502"},
            {"dev_id": "E1", "max_charging_cur": "min(16000, 29000 - M3.current)"}
        ]}))
        .unwrap();
        assert_eq!(
            s.devices[0].max_charging_cur,
            CurrentLimit::Formula("min(16000, 29000 - M3.current)".into())
        );
        let s = apply(serde_json::json!({"devices": [{"dev_id": "M2", "dev_type": "meter_sdm630", "address": "10.0.0.2:502", "role": 3}]})).unwrap();
        assert_eq!(s.devices.len(), 2);
    }

    #[test]
    fn a_device_that_becomes_an_http_input_drops_its_address() {
        let mut s = apply(serde_json::json!({"devices": [{"dev_id": "M2", "dev_type": "meter_sdm630", "address": "10.0.0.2:502"}]})).unwrap();
        let mut body = Map::new();
        body.insert(
            "devices".into(),
            serde_json::json!([{"dev_id": "M2", "dev_type": "meter_ajax"}]),
        );
        set_params(&mut s, &body, &|d| Ok(Some(d.address.clone()))).unwrap();
        assert_eq!(s.devices[1].dev_type, crate::devices::DeviceType::MeterAjax);
        assert_eq!(s.devices[1].address, "");
    }

    #[test]
    fn errors_name_the_field_and_change_nothing() {
        let cases = [
            (
                serde_json::json!({"max_total_current": "a lot"}),
                "max_total_current: formula: at 3",
            ),
            (
                serde_json::json!({"max_total_current": [32000]}),
                "params.max_total_current",
            ),
            (
                serde_json::json!({"max_total_current": -1}),
                "max_total_current",
            ),
            (
                serde_json::json!({"nonsense": 1}),
                "unknown field `nonsense`",
            ),
            (serde_json::json!({"title": 5}), "title"),
            (serde_json::json!({"devices": {"dev_id": "E1"}}), "devices"),
            (
                serde_json::json!({"devices": [{"max_charging_cur": 1}]}),
                "dev_id",
            ),
            (
                serde_json::json!({"devices": [{"dev_id": "E1", "min_charging_cur": 5000}]}),
                "min_charging_cur",
            ),
            (
                serde_json::json!({"devices": [{"dev_id": "E1", "max_charging_cur": "16000 -"}]}),
                "max_charging_cur: formula: at 8",
            ),
            (
                serde_json::json!({"devices": [{"dev_id": "E1", "max_charging_cur": [16000]}]}),
                "max_charging_cur",
            ),
            (
                serde_json::json!({"devices": [{"dev_id": "E1", "prio": "high"}]}),
                "E1.prio",
            ),
            (
                serde_json::json!({"devices": [{"dev_id": "E1", "colour": "red"}]}),
                "E1: unknown field `colour`",
            ),
            (
                serde_json::json!({"devices": [{"dev_id": "X7", "dev_type": "evse_powerbrain", "address": "evse"}]}),
                "dev_id",
            ),
            (
                serde_json::json!({"devices": [{"dev_id": "E9", "dev_type": "toaster"}]}),
                "E9.dev_type",
            ),
            (
                serde_json::json!({"devices": [
                    {"dev_id": "M4", "dev_type": "meter_ajax"},
                    {"dev_id": "M4", "dev_type": "meter_ajax", "role": 1}
                ]}),
                "M4 is listed twice",
            ),
            (
                serde_json::json!({"devices": [{"dev_id": "E0", "dev_type": "evse_group"}]}),
                "E0.dev_id: 'E0': the number starts at 1",
            ),
            (
                serde_json::json!({"devices": [{"dev_id": "E07", "dev_type": "evse_group"}]}),
                "without leading zeros",
            ),
            (
                serde_json::json!({"devices": [{"dev_id": "E3", "dev_type": "evse_powerbrain", "address": "evse", "id": 1}]}),
                "E3.address: evse unit 1 is wallbox E1 already",
            ),
            (
                serde_json::json!({"devices": [{"dev_id": "E1", "max_charging_cur": "5000"}]}),
                "E1.max_charging_cur",
            ),
            (
                serde_json::json!({"max_total_current": "-5000"}),
                "max_total_current: -5000 mA is not 1000 to 1000000",
            ),
            (
                serde_json::json!({"max_total_current": 16}),
                "max_total_current: 16 mA is not 1000 to 1000000 (16 is mA; did you mean 16000?)",
            ),
            (
                serde_json::json!({"max_total_current": 10_000_000}),
                "max_total_current: 10000000 mA is not 1000 to 1000000",
            ),
            (
                serde_json::json!({"evse_fault_after_s": 86401}),
                "evse_fault_after_s: 86401 s is more than a day",
            ),
            (
                serde_json::json!({"max_total_current": 1e30}),
                "is not a whole number of mA (at most 1000000) or a formula",
            ),
            (
                serde_json::json!({"devices": [{"dev_id": "E1", "max_charging_cur": 16000.5}]}),
                "E1.max_charging_cur: 16000.5 is not a whole number of mA",
            ),
            (
                serde_json::json!({"max_total_current": "32000 - M9.current"}),
                "max_total_current: unknown name m9.current: no device M9",
            ),
            (
                serde_json::json!({"devices": [{"dev_id": "E1", "max_charging_cur": "max_current"}]}),
                "E1.max_charging_cur: unknown name max_current",
            ),
            (
                serde_json::json!({"devices": [{"dev_id": "E1", "charging_rules": [{"input": "M2.input1", "current": 6000}]}]}),
                "E1.charging_rules: rule 0: input: unknown name m2.input1",
            ),
            (
                serde_json::json!({"devices": [{"dev_id": "E3", "dev_type": "meter_kostal_powermeter"}]}),
                "E3.dev_type: meter_kostal_powermeter (Kostal Powermeter) is not supported yet",
            ),
            (
                serde_json::json!({"devices": [{"dev_id": "E1", "attach": "M9"}]}),
                "E1.attach: there is no meter M9",
            ),
            (
                serde_json::json!({"devices": [{"dev_id": "E1", "number": 0}]}),
                "E1.number: is not 1 to 9999",
            ),
            (
                serde_json::json!({"max_total_power": 1000, "max_total_current": 30000}),
                "max_total_power and max_total_current both changed and disagree",
            ),
            (
                serde_json::json!({"cycle_time": 2000, "cycle_time_ms": 3000}),
                "cycle_time and cycle_time_ms both changed and disagree",
            ),
            (
                serde_json::json!({"loadmgr_disabled": "yes"}),
                "loadmgr_disabled: expected true or false",
            ),
            (
                serde_json::json!({"max_total_power": -5}),
                "max_total_power: expected a number of W",
            ),
            (
                serde_json::json!({"max_total_power": 2e10}),
                "max_total_power: expected a number of W",
            ),
        ];
        for (body, says) in cases {
            let Value::Object(map) = body.clone() else {
                panic!("not an object")
            };
            let mut s = state();
            let before = s.clone();
            let err = set_params(&mut s, &map, &|d| Ok(Some(d.address.clone())))
                .expect_err(&body.to_string());
            assert!(err.contains(says), "{body}: {err:?} should say {says:?}");
            assert_eq!(s, before, "{body}: refused, yet the state changed");
        }
    }

    #[test]
    fn reports_posted_back_are_ignored_and_the_limits_hold_to_the_unit() {
        // What get_params reports beside the settings is accepted and ignored.
        let s = apply(serde_json::json!({"avail_evse_power": 7, "overdraft": 1, "title": "x"}))
            .unwrap();
        assert_eq!((s.title.as_str(), s.params.clone()), ("x", state().params));
        // A title of 200 characters, not 201.
        let long = |n: usize| serde_json::json!({ "title": "é".repeat(n) });
        assert!(apply(long(crate::store::MAX_TEXT_CHARS)).is_ok());
        let err = apply(long(crate::store::MAX_TEXT_CHARS + 1)).expect_err("too long");
        assert!(err.starts_with("title: longer than 200"), "{err}");
        // 100 devices in one request, not 101.
        let meters = |n: usize| {
            let list: Vec<Value> = (1..=n)
                .map(|i| serde_json::json!({"dev_id": format!("M{i}"), "dev_type": "meter_ajax"}))
                .collect();
            serde_json::json!({ "devices": list })
        };
        assert!(apply(meters(100)).is_ok());
        let err = apply(meters(101)).expect_err("too many");
        assert!(err.contains("at most 100 device objects"), "{err}");
        // A new device without a type: the error names the device, not a path.
        let err = apply(serde_json::json!({"devices": [{"dev_id": "M9"}]})).expect_err("no type");
        assert_eq!(err, "M9: missing field `dev_type`");
    }

    #[test]
    fn at_most_a_hundred_cm_variables() {
        let mut s = state();
        for i in 0..MAX_CM_VARS {
            set_cm_var(&mut s, &format!("v{i}"), Some(1.into())).expect("within the limit");
        }
        let before = s.clone();
        let err = set_cm_var(&mut s, "one_more", Some(1.into())).expect_err("over the limit");
        assert_eq!(err, "at most 100 variables");
        assert_eq!(s, before);
        // Setting one that exists again is no new variable.
        set_cm_var(&mut s, "V7", Some(2.into())).expect("replaces v7");
        assert_eq!(s.cm_vars.len(), MAX_CM_VARS);
    }

    #[test]
    fn the_settings_file_is_checked_for_names_that_cannot_exist() {
        let s = state();
        assert_eq!(check_formula_names(&s.params, &s.devices, &[]), Ok(()));
        let mut params = s.params.clone();
        params.max_total_current = CurrentLimit::Formula("32000 - M9.current".into());
        let err = check_formula_names(&params, &s.devices, &[]).expect_err("no device M9");
        assert!(err.contains("m9.current"), "{err}");
    }

    #[test]
    fn keys_of_older_firmware_set_their_setting_or_agree_with_it() {
        let s = apply(serde_json::json!({"max_total_power": 11040})).unwrap();
        assert_eq!(s.params.max_total_current, 16000.into(), "11040 W at 230 V");
        let s = apply(serde_json::json!({"cycle_time": 3000, "loadmgr_disabled": true})).unwrap();
        assert_eq!((s.params.cycle_time_ms, s.params.lb_enabled), (3000, false));
        // As get_params reports them: both, agreeing; nothing changes.
        let reported = serde_json::json!({
            "max_total_current": 32000, "max_total_power": 22080, "reserve_current": 0,
            "power_reserve": 0, "cycle_time": 1000, "cycle_time_ms": 1000,
            "loadmgr_disabled": false, "lb_enabled": true
        });
        assert_eq!(
            apply(reported.clone()).unwrap().params,
            SiteParams::default()
        );
        // One of the two edited: that one decides.
        let mut edited = reported.clone();
        edited["max_total_current"] = 25000.into();
        edited["loadmgr_disabled"] = true.into();
        let s = apply(edited).unwrap();
        assert_eq!(
            (s.params.max_total_current, s.params.lb_enabled),
            (25000.into(), false)
        );
        let mut edited = reported;
        edited["max_total_power"] = 11040.into();
        assert_eq!(
            apply(edited).unwrap().params.max_total_current,
            16000.into()
        );
        // Beside a formula the W figure is its value now.
        let s = apply(
            serde_json::json!({"max_total_current": "min(32000, 40000)", "max_total_power": 5}),
        )
        .unwrap();
        assert_eq!(
            s.params.max_total_current,
            CurrentLimit::Formula("min(32000, 40000)".into())
        );
    }

    #[test]
    fn firmware_device_keys_are_ignored_and_named() {
        let body = serde_json::json!({"devices": [{"dev_id": "E1", "users": ["1170223812"], "fixed_rfid": "", "enable_wakeup": true, "name": "Carport"}]});
        let s = apply(body.clone()).unwrap();
        assert_eq!(s.devices[0].name, "Carport");
        assert_eq!(
            ignored_keys(body.as_object().unwrap()),
            ["E1.enable_wakeup", "E1.fixed_rfid", "E1.users"]
        );
    }

    #[test]
    fn an_attached_meter_is_kept_until_detached() {
        let s = apply(serde_json::json!({"devices": [
            {"dev_id": "M1", "dev_type": "meter_powerbrain", "address": "meter1", "id": 2},
            {"dev_id": "E1", "attach": "M1", "desc": "Carport left", "number": 2}
        ]}))
        .unwrap();
        assert_eq!(s.devices[0].attached(), Some("M1"));
        assert_eq!(
            (s.devices[0].desc.as_str(), s.devices[0].number),
            ("Carport left", Some(2))
        );
        let mut s = s;
        assert_eq!(
            delete_device(&mut s, "M1"),
            Err("M1 is attached to E1: clear its attach first".into())
        );
        let mut map = Map::new();
        map.insert(
            "devices".into(),
            serde_json::json!([{"dev_id": "E1", "attach": ""}]),
        );
        set_params(&mut s, &map, &|d| Ok(Some(d.address.clone()))).unwrap();
        delete_device(&mut s, "M1").unwrap();
    }

    #[test]
    fn variables_are_set_read_by_formulas_and_kept_while_read() {
        let mut s = state();
        let num = |v: i64| Some(serde_json::Number::from(v));
        let limit = serde_json::json!({"max_total_current": "CM.gridLimit * 1000"});
        let mut map = Map::new();
        map.extend(limit.as_object().cloned().unwrap());
        let endpoint = |d: &DeviceSettings| Ok(Some(d.address.clone()));
        let unknown = set_params(&mut s, &map, &endpoint).expect_err("no such variable yet");
        assert!(
            unknown.contains("unknown name cm.gridlimit: no variable gridlimit is set"),
            "{unknown}"
        );
        set_cm_var(&mut s, "gridLimit", num(20)).unwrap();
        set_params(&mut s, &map, &endpoint).unwrap();
        // Another spelling is the same variable.
        set_cm_var(&mut s, "GRIDLIMIT", num(25)).unwrap();
        assert_eq!(s.cm_vars.len(), 1);
        assert_eq!(
            set_cm_var(&mut s, "gridlimit", None),
            Err("gridlimit is still read by a formula: max_total_current: unknown name cm.gridlimit: no variable gridlimit is set (set_cm_vars&name=gridlimit&val=…); CM also has _price_level, _max_total_current, _max_total_evse_current, _num_charging, _surplus, _org_surplus".into())
        );
        for bad in ["", "_price_level", "1x", "a-b", &"x".repeat(33)] {
            assert!(set_cm_var(&mut s, bad, num(1)).is_err(), "{bad:?}");
        }
        assert!(set_cm_var(&mut s, "other", None).is_err(), "not set");
    }

    #[test]
    fn a_problem_saved_before_the_checks_does_not_block_other_changes() {
        let mut s = state();
        s.devices[0].max_charging_cur = CurrentLimit::Formula("16000 - M9.current".into());
        let mut map = Map::new();
        map.insert("title".into(), "Garage".into());
        let endpoint = |d: &DeviceSettings| Ok(Some(d.address.clone()));
        set_params(&mut s, &map, &endpoint).expect("an unrelated change");
        assert_eq!(s.title, "Garage");
        let mut bad = Map::new();
        bad.insert("max_total_current".into(), "32000 - M8.current".into());
        let refused = set_params(&mut s, &bad, &endpoint).expect_err("a new problem");
        assert!(
            refused.starts_with("max_total_current: unknown name m8.current"),
            "{refused}"
        );
    }

    #[test]
    fn deleting_checks_the_device_and_group_members() {
        let mut s = state();
        assert!(delete_device(&mut s, "E7").is_err());
        let mut group: DeviceSettings =
            toml::from_str("dev_id = \"E5\"\ndev_type = \"evse_group\"\n").unwrap();
        group.max_charging_cur = 20000.into();
        s.devices.push(group);
        s.devices[0].group = 5;
        assert_eq!(
            delete_device(&mut s, "E5"),
            Err("E5 still has members: E1".into())
        );
        // A device a formula reads stays until the formula no longer does.
        s.params.max_total_current = CurrentLimit::Formula("32000 - E1.current".into());
        let refused = delete_device(&mut s, "e1").expect_err("E1 is read by the site limit");
        assert!(
            refused.starts_with("E1 is still named by a formula: max_total_current"),
            "{refused}"
        );
        assert_eq!(s.devices.len(), 2, "nothing changed");
        s.params.max_total_current = 32_000.into();
        delete_device(&mut s, "e1").unwrap();
        delete_device(&mut s, "E5").unwrap();
        assert!(s.devices.is_empty());
    }
}

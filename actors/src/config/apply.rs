//! How a change of the configuration applies: `set_params`, `del_device`,
//! `set_user`, `set_cm_vars`, the license and the admin password. Pure
//! code: a change either applies whole and validates, or is refused naming
//! the field, and the state is untouched.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use super::cfos::{
    aliased, is_alias, param_key, IGNORED_DEVICE, READ_ONLY_DEVICE, READ_ONLY_PARAMS,
};
use super::formulas::no_new_formula_problems;
use super::{as_object, validate_changed, validate_devices, DeviceSettings, SiteParams, State};

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
fn named(devices: &[Arc<DeviceSettings>], e: &super::DeviceSettingsError) -> String {
    match devices.get(e.index) {
        Some(d) => format!("{}.{}: {}", d.dev_id, e.field, e.reason),
        None => e.to_string(),
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
            k if is_alias(k) => {}
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
        // A device that is no Modbus, HTTP-JSON or OCPP device (any more) has
        // no address: a meter turned into an HTTP input does not keep its old one.
        if !device.dev_type.needs_address() && !device.dev_type.is_ocpp() {
            device.address.clear();
        }
        endpoint_of(&device).map_err(|e| format!("{dev_id}.address: {e}"))?;
        match existing {
            Some(i) => next.devices[i] = Arc::new(device),
            None => next.devices.push(Arc::new(device)),
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
        .filter(|_| removed.dev_type.is_group())
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
    use crate::config::ignored_keys;
    use crate::config::CurrentLimit;

    fn state() -> State {
        State {
            devices: vec![toml::from_str(
                "dev_id = \"E1\"\ndev_type = \"evse_powerbrain\"\naddress = \"evse\"\n",
            )
            .unwrap()],
            ..State::new("t")
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
        assert_eq!(s.devices[1].dev_type.key(), "meter_ajax");
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
                serde_json::json!({"devices": [{"dev_id": "E3", "dev_type": "meter_elenker_meter"}]}),
                "E3.dev_type: meter_elenker_meter (ModbusMeter 5A) is not supported yet",
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
        assert!(apply(long(crate::config::MAX_TEXT_CHARS)).is_ok());
        let err = apply(long(crate::config::MAX_TEXT_CHARS + 1)).expect_err("too long");
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
        let check = crate::config::check_formula_names;
        assert_eq!(check(&s.params, &s.devices, &[]), Ok(()));
        let mut params = s.params.clone();
        params.max_total_current = CurrentLimit::Formula("32000 - M9.current".into());
        let err = check(&params, &s.devices, &[]).expect_err("no device M9");
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
        Arc::make_mut(&mut s.devices[0]).max_charging_cur =
            CurrentLimit::Formula("16000 - M9.current".into());
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
        s.devices.push(Arc::new(group));
        Arc::make_mut(&mut s.devices[0]).group = 5;
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
